"""Payments files: each row is recorded against an invoice of the source through
payment_record, all at once or not at all."""

import datetime
from decimal import Decimal
from pathlib import Path

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import pytest

from campaigns.models import Touchpoint
from customers.imports.services import import_file
from customers.models import CustomerCredit, ImportRecord, Invoice, Payment
from tests.factories import CustomerFactory, InvoiceFactory, SourceFactory
from tests.import_helpers import PAYMENT_HEADER, write_csv, write_xlsx

FILES = Path(__file__).parent / "files"

pytestmark = pytest.mark.django_db


@pytest.fixture
def source():
    return SourceFactory(name="Spreadsheet")


@pytest.fixture
def invoice(source):
    customer = CustomerFactory(source=source)
    return InvoiceFactory(customer=customer, source=source, number="INV-1", amount=Decimal("100.00"), currency="GBP")


def import_payments(tmp_path, rows, **kwargs):
    path = write_csv(tmp_path / "payments.csv", PAYMENT_HEADER, rows)
    return import_file(path, kind="payments", source_name="Spreadsheet", **kwargs)


def test_payment_rows_recorded_against_invoices(tmp_path, invoice):
    today = datetime.date.today().isoformat()
    rows = [["INV-1", "40.00", today, "BACS-1", "bank transfer", "GBP"], ["INV-1", "£60", today, "BACS-2", "", ""]]

    record = import_payments(tmp_path, rows, historical=False)

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert record.layout == "template-payments"
    assert record.counts["payments"] == {"recorded": 2, "skipped": 0}
    payments = list(Payment.objects.order_by("reference"))
    assert [payment.amount for payment in payments] == [Decimal("40.00"), Decimal("60.00")]
    assert payments[0].origin == Payment.Origin.PAYMENTS_FILE
    assert payments[0].method == "bank transfer"
    assert payments[0].import_record == record
    invoice.refresh_from_db()
    assert invoice.amount_due == Decimal("0.00")
    assert invoice.amount_paid == Decimal("100.00")
    assert invoice.ledger_status == Invoice.LedgerStatus.PAID
    assert Touchpoint.objects.filter(kind=Touchpoint.Kind.THANK_YOU).count() == 2


def test_sample_payments_file(invoice, source):
    InvoiceFactory(customer=invoice.customer, source=source, number="INV-1001", amount=Decimal("1250.00"), currency="GBP")
    InvoiceFactory(customer=invoice.customer, source=source, number="INV-1002", amount=Decimal("300.00"), currency="GBP")

    record = import_file(FILES / "template_payments.csv", kind="payments", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert Invoice.objects.get(number="INV-1002").amount_due == Decimal("100.00")
    assert Payment.objects.get(reference="BACS-881").paid_on == datetime.date(2026, 11, 20)


def test_known_reference_skipped_and_reported(tmp_path, invoice):
    rows = [["INV-1", "40.00", "2026-11-20", "BACS-1", "", ""]]
    import_payments(tmp_path, rows)

    record = import_payments(tmp_path, rows)

    assert record.status == ImportRecord.Status.UNCHANGED
    assert record.errors == []
    assert record.counts["payments"] == {"recorded": 0, "skipped": 1}
    assert "BACS-1 was already recorded" in record.changes[0]["note"]
    assert Payment.objects.count() == 1


def test_unknown_invoice_rejected(tmp_path, invoice):
    rows = [["INV-1", "40.00", "2026-11-20", "A", "", ""], ["INV-404", "10.00", "2026-11-20", "B", "", ""]]

    record = import_payments(tmp_path, rows)

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == [
        'row 3, column "invoice_number", value "INV-404": no invoice with this number in source "Spreadsheet"; '
        "import the invoice first or correct the number"
    ]
    assert Payment.objects.count() == 0


def test_currency_mismatch_rejected(tmp_path, invoice):
    record = import_payments(tmp_path, [["INV-1", "40.00", "2026-11-20", "A", "", "eur"]])

    assert record.errors == [
        'row 2, column "currency", value "eur": invoice INV-1 is in GBP; correct the currency or the invoice number'
    ]
    assert Payment.objects.count() == 0


@pytest.mark.parametrize("amount", ["0", "-5.00", "(5.00)"])
def test_zero_or_negative_payment_rejected(tmp_path, invoice, amount):
    record = import_payments(tmp_path, [["INV-1", amount, "2026-11-20", "A", "", ""]])

    assert record.errors == [
        f'row 2, column "amount", value "{amount}": a payment must be more than zero; record refunds separately'
    ]


def test_decimals_checked_against_invoice_currency(tmp_path, source):
    customer = CustomerFactory(source=source)
    InvoiceFactory(customer=customer, source=source, number="JP-1", currency="JPY", amount=Decimal("5000"))

    record = import_payments(tmp_path, [["JP-1", "100.50", "2026-11-20", "A", "", ""]])

    assert record.status == ImportRecord.Status.REFUSED
    assert "JPY amounts have at most 0" in record.errors[0]


def test_same_reference_twice_in_file_names_both_rows(tmp_path, invoice):
    rows = [["INV-1", "10.00", "2026-11-20", "R-1", "", ""], ["INV-1", "10.00", "2026-11-21", "R-1", "", ""]]

    record = import_payments(tmp_path, rows)

    assert record.errors == [
        'row 3, column "reference", value "R-1": the same payment reference for this invoice is also in row 2; '
        "keep one row per payment"
    ]


def test_overpayment_becomes_credit(tmp_path, invoice):
    record = import_payments(tmp_path, [["INV-1", "130.00", "2026-11-20", "A", "", ""]])

    assert record.status == ImportRecord.Status.APPLIED
    credit = CustomerCredit.objects.get()
    assert credit.amount == Decimal("30.00")
    assert credit.origin == CustomerCredit.Origin.OVERPAYMENT


def test_historical_payments_send_no_thank_you(tmp_path, invoice):
    record = import_payments(tmp_path, [["INV-1", "40.00", datetime.date.today().isoformat(), "A", "", ""]], historical=True)

    assert record.is_historical is True
    assert Payment.objects.get().is_historical is True
    assert not Touchpoint.objects.filter(kind=Touchpoint.Kind.THANK_YOU).exists()


def test_payments_xlsx(tmp_path, invoice):
    path = write_xlsx(tmp_path / "payments.xlsx", PAYMENT_HEADER, [["INV-1", 25.5, datetime.datetime(2026, 11, 20), "X", None, None]])

    record = import_file(path, kind="payments", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    payment = Payment.objects.get()
    assert payment.amount == Decimal("25.50")
    assert payment.paid_on == datetime.date(2026, 11, 20)


def test_payments_only_for_own_source(tmp_path, invoice):
    other = SourceFactory(name="Other")
    InvoiceFactory(customer=CustomerFactory(source=other), source=other, number="INV-OTHER")

    record = import_payments(tmp_path, [["INV-OTHER", "10.00", "2026-11-20", "A", "", ""]])

    assert record.status == ImportRecord.Status.REFUSED
    assert Payment.objects.count() == 0


def test_every_error_reported_at_once(tmp_path, invoice):
    rows = [["INV-1", "10.00", "soon", "A", "", ""], ["INV-404", "10.00", "2026-11-20", "B", "", ""]]

    record = import_payments(tmp_path, rows)

    assert record.errors == [
        'row 2, column "paid_on", value "soon": not a date; use YYYY-MM-DD or DD/MM/YYYY',
        'row 3, column "invoice_number", value "INV-404": no invoice with this number in source "Spreadsheet"; '
        "import the invoice first or correct the number",
    ]
    assert record.counts["payments"] == {"recorded": 0, "skipped": 0}
