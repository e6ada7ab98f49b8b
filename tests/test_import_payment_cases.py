"""Payment semantics through payments files (partial, over, early, unknown, repeated,
completing a payment inferred from an invoice file) and applying the valid rows of a
refused file while holding back the refused ones."""

import datetime
from decimal import Decimal
from pathlib import Path

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import pytest
from django.contrib.auth.models import Group

from campaigns.models import Touchpoint
from customers.imports.services import ImportPermissionError, ImportStateError, import_confirm, import_file, import_preview
from customers.models import CustomerCredit, ImportRecord, Invoice, Payment
from dunning_site import roles
from tests.factories import UserFactory
from tests.import_helpers import PAYMENT_HEADER, TEMPLATE_INVOICE_HEADER, invoice_row, write_csv

FILES = Path(__file__).parent / "files"
TODAY = datetime.date.today().isoformat()

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(tmp_path):
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(issue_date="2026-11-01")])
    import_file(path, kind="invoices", source_name="Spreadsheet")
    return Invoice.objects.get(number="INV-1")


def import_payments(tmp_path, rows, name="payments.csv", **kwargs):
    path = write_csv(tmp_path / name, PAYMENT_HEADER, rows)
    return import_file(path, kind="payments", source_name="Spreadsheet", historical=False, **kwargs)


def test_partial_payment_reduces_balance(tmp_path, invoice):
    record = import_payments(tmp_path, [["INV-1", "30.00", TODAY, "BACS-1", "", ""]])

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    invoice.refresh_from_db()
    assert invoice.amount_due == Decimal("70.00")
    assert invoice.amount_paid == Decimal("30.00")
    assert invoice.ledger_status == Invoice.LedgerStatus.OPEN
    assert CustomerCredit.objects.count() == 0


def test_overpayment_keeps_flagged_credit(tmp_path, invoice):
    record = import_payments(tmp_path, [["INV-1", "130.00", TODAY, "BACS-2", "", "GBP"]])

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    invoice.refresh_from_db()
    assert invoice.amount_due == Decimal("0.00")
    assert invoice.ledger_status == Invoice.LedgerStatus.PAID
    credit = CustomerCredit.objects.get()
    assert credit.amount == Decimal("30.00")
    assert credit.origin == CustomerCredit.Origin.OVERPAYMENT
    assert credit.needs_review is True
    assert credit.customer == invoice.customer


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (["INV-404", "10.00", TODAY, "", "", ""], 'row 2, column "invoice_number", value "INV-404": no invoice with this number'),
        (["INV-1", "10.00", TODAY, "", "", "EUR"], 'row 2, column "currency", value "EUR": invoice INV-1 is in GBP'),
        (["INV-1", "-10.00", TODAY, "", "", ""], 'row 2, column "amount", value "-10.00": a payment must be more than zero'),
    ],
)
def test_payment_row_refused(tmp_path, invoice, row, message):
    record = import_payments(tmp_path, [row])

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors[0].startswith(message)
    assert Payment.objects.count() == 0


def test_known_reference_skipped(tmp_path, invoice):
    import_payments(tmp_path, [["INV-1", "30.00", TODAY, "BACS-1", "", ""]])

    record = import_payments(tmp_path, [["INV-1", "30.00", TODAY, "BACS-1", "", ""]], name="again.csv")

    assert record.status == ImportRecord.Status.UNCHANGED
    assert record.counts["payments"] == {"recorded": 0, "skipped": 1}
    assert Payment.objects.count() == 1


def test_payment_before_issue_date_warns(tmp_path, invoice):
    record = import_payments(tmp_path, [["INV-1", "30.00", "2026-10-30", "BACS-1", "", ""]])

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert record.warnings == [
        "row 2: the payment is dated 2026-10-30, before invoice INV-1 was issued on 2026-11-01; it was imported, check the date"
    ]
    assert Payment.objects.get().paid_on == datetime.date(2026, 10, 30)


def test_payments_file_upgrades_inferred_payment(tmp_path, invoice):
    rising = write_csv(tmp_path / "rising.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(amount_paid="60.00", amount_due="40.00")])
    import_file(rising, kind="invoices", source_name="Spreadsheet", historical=False)
    inferred = Payment.objects.get()
    assert inferred.origin == Payment.Origin.INVOICE_FILE
    assert Touchpoint.objects.filter(kind=Touchpoint.Kind.THANK_YOU).count() == 1

    record = import_payments(tmp_path, [["INV-1", "60.00", TODAY, "BACS-9", "bank transfer", ""]])

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert record.counts["payments"] == {"recorded": 0, "skipped": 0, "upgraded": 1}
    payment = Payment.objects.get()
    assert payment.pk == inferred.pk
    assert payment.origin == Payment.Origin.PAYMENTS_FILE
    assert payment.reference == "BACS-9"
    assert payment.method == "bank transfer"
    assert payment.paid_on.isoformat() == TODAY
    invoice.refresh_from_db()
    assert invoice.amount_due == Decimal("40.00")
    assert Touchpoint.objects.filter(kind=Touchpoint.Kind.THANK_YOU).count() == 1

    again = import_payments(tmp_path, [["INV-1", "60.00", TODAY, "BACS-9", "bank transfer", ""]], name="again.csv")

    assert again.status == ImportRecord.Status.UNCHANGED
    assert Payment.objects.count() == 1


def test_other_amount_not_upgraded(tmp_path, invoice):
    rising = write_csv(tmp_path / "rising.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(amount_paid="60.00", amount_due="40.00")])
    import_file(rising, kind="invoices", source_name="Spreadsheet", historical=False)

    record = import_payments(tmp_path, [["INV-1", "40.00", TODAY, "BACS-10", "", ""]])

    assert record.counts["payments"] == {"recorded": 1, "skipped": 0}
    assert sorted(Payment.objects.values_list("origin", flat=True)) == [Payment.Origin.INVOICE_FILE, Payment.Origin.PAYMENTS_FILE]


# Applying the valid rows of a refused file --------------------------------------------


@pytest.fixture
def manager():
    user = UserFactory()
    user.groups.add(Group.objects.get(name=roles.MANAGER))
    return user


def refused_template_file(tmp_path):
    rows = [invoice_row(), invoice_row(invoice_number="INV-2", customer_id="C-2", customer_name="Other Ltd", amount="ten")]
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, rows)
    return import_preview(path, kind="invoices", source_name="Spreadsheet")


def test_manager_applies_valid_rows(tmp_path, manager):
    record = refused_template_file(tmp_path)
    assert record.status == ImportRecord.Status.REFUSED

    applied = import_confirm(record, manager, hold_back_refused=True)

    assert applied.status == ImportRecord.Status.APPLIED
    assert applied.hold_back_refused is True
    assert applied.confirmed_by == manager
    assert applied.counts["refused_rows"] == 1
    assert applied.counts["invoices"]["created"] == 1
    assert applied.errors == record.errors
    assert list(Invoice.objects.values_list("number", flat=True)) == ["INV-1"]


def test_hold_back_needs_manager(tmp_path):
    record = refused_template_file(tmp_path)

    with pytest.raises(ImportPermissionError, match="only a collections manager or a superuser"):
        import_confirm(record, UserFactory(), hold_back_refused=True)
    assert Invoice.objects.count() == 0
    with pytest.raises(ImportStateError, match="only a previewed import can be applied"):
        import_confirm(record, UserFactory())


def test_superuser_may_hold_back(tmp_path):
    record = refused_template_file(tmp_path)

    applied = import_confirm(record, UserFactory(is_superuser=True), hold_back_refused=True)

    assert applied.status == ImportRecord.Status.APPLIED


def test_xero_line_of_refused_invoice_blocks(tmp_path, manager):
    lines = (FILES / "xero_invoices.csv").read_bytes().decode("cp1252").splitlines(keepends=True)
    lines[2] = lines[2].replace(",1440.00,240.00,0.00,1440.00,", ",1440.00,240.00,0.00,lots,")
    path = tmp_path / "xero.csv"
    path.write_bytes("".join(lines).encode("cp1252"))
    record = import_preview(path, kind="invoices", source_name="Xero")
    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors[0].startswith('row 3, column "InvoiceAmountDue", value "lots": not an amount')

    with pytest.raises(ImportStateError, match='invoice "INV-0041" has a refused line in row 3, so its line in row 2 cannot be applied alone'):
        import_confirm(record, manager, hold_back_refused=True)
    assert Invoice.objects.count() == 0
