"""Full snapshots: an open invoice of the source missing from the next file was settled.
Confirm closes it without a payment or thank-you, cancels its pending messages, and asks
for a second confirmation when more than a fifth of the source's open invoices would close."""

from decimal import Decimal
from pathlib import Path

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import pytest

from campaigns.models import Touchpoint, TouchpointInvoice
from customers.imports.services import ClosingNotConfirmedError, import_confirm, import_file, import_preview
from customers.models import ImportRecord, Invoice, Payment
from tests.import_helpers import TEMPLATE_INVOICE_HEADER, invoice_row, write_csv

FILES = Path(__file__).parent / "files"

pytestmark = pytest.mark.django_db


def report_without(tmp_path, *numbers):
    lines = (FILES / "quickbooks_ar_aging.csv").read_text().splitlines(keepends=True)
    remaining = [line for line in lines if not any(f'"Invoice","{number}"' in line for number in numbers)]
    path = tmp_path / "next.csv"
    path.write_text("".join(remaining))
    return path


def pending_touchpoint(invoice):
    touchpoint = Touchpoint.objects.create(customer=invoice.customer, kind=Touchpoint.Kind.DUNNING, template_key="friendly")
    TouchpointInvoice.objects.create(touchpoint=touchpoint, invoice=invoice, amount_due=invoice.amount_due)
    return touchpoint


def test_missing_invoice_listed_and_closed(tmp_path):
    import_file(FILES / "quickbooks_ar_aging.csv", kind="invoices", source_name="QuickBooks")
    touchpoint = pending_touchpoint(Invoice.objects.get(number="998"))

    preview = import_preview(report_without(tmp_path, "998"), kind="invoices", source_name="QuickBooks")

    assert preview.status == ImportRecord.Status.PREVIEWED, preview.errors
    assert [entry["key"] for entry in preview.changes if entry["action"] == "close"] == ["998"]
    assert preview.counts["invoices"]["closed"] == 1
    assert preview.warnings == ["1 of the source's 4 open invoices (25%) are not in the file and would be closed"]
    assert Invoice.objects.get(number="998").ledger_status == Invoice.LedgerStatus.OPEN

    with pytest.raises(ClosingNotConfirmedError, match=r"1 of the source's 4 open invoices \(25%\).*more than a fifth"):
        import_confirm(preview)
    assert ImportRecord.objects.get(pk=preview.pk).status == ImportRecord.Status.PREVIEWED

    record = import_confirm(preview, confirm_closing=True)

    assert record.status == ImportRecord.Status.APPLIED
    closed = Invoice.objects.get(number="998")
    assert closed.ledger_status == Invoice.LedgerStatus.CLOSED
    assert closed.amount_due == Decimal("0.00")
    assert Payment.objects.count() == 0
    assert not Touchpoint.objects.filter(kind=Touchpoint.Kind.THANK_YOU).exists()
    touchpoint.refresh_from_db()
    assert touchpoint.status == Touchpoint.Status.CANCELLED
    assert "Invoice 998 left the full snapshot next.csv" in touchpoint.status_reason
    assert Invoice.objects.filter(ledger_status=Invoice.LedgerStatus.OPEN).count() == 3


def test_fifth_closes_without_second_confirmation(tmp_path):
    extra_line = '"","11/20/2026","Invoice","1004","Amy\'s Bird Sanctuary","12/20/2026","10.00","10.00"\r\n'
    lines = (FILES / "quickbooks_ar_aging.csv").read_text().splitlines(keepends=True)
    lines.insert(7, extra_line)
    five = tmp_path / "five.csv"
    five.write_text("".join(lines))
    import_file(five, kind="invoices", source_name="QuickBooks")
    four = tmp_path / "four.csv"
    four.write_text("".join(line for line in lines if '"Invoice","998"' not in line))

    record = import_file(four, kind="invoices", source_name="QuickBooks")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert record.counts["snapshot"] == {"open": 5, "closing": 1}
    closed = Invoice.objects.filter(ledger_status=Invoice.LedgerStatus.CLOSED)
    assert list(closed.values_list("number", flat=True)) == ["998"]


def test_snapshot_of_same_file_closes_nothing():
    import_file(FILES / "quickbooks_ar_aging.csv", kind="invoices", source_name="QuickBooks")

    record = import_file(FILES / "quickbooks_ar_aging.csv", kind="invoices", source_name="QuickBooks")

    assert record.status == ImportRecord.Status.UNCHANGED
    assert record.counts["snapshot"] == {"open": 4, "closing": 0}
    assert not Invoice.objects.filter(ledger_status=Invoice.LedgerStatus.CLOSED).exists()


def test_template_snapshot_only_when_ticked(tmp_path):
    first = write_csv(tmp_path / "a.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(), invoice_row(invoice_number="INV-2")])
    import_file(first, kind="invoices", source_name="Spreadsheet")
    second = write_csv(tmp_path / "b.csv", TEMPLATE_INVOICE_HEADER, [invoice_row()])

    plain = import_preview(second, kind="invoices", source_name="Spreadsheet")
    snapshot = import_preview(second, kind="invoices", source_name="Spreadsheet", is_snapshot=True)

    assert not plain.is_snapshot
    assert [entry for entry in plain.plan if entry["entity"] == "close"] == []
    assert snapshot.is_snapshot
    with pytest.raises(ClosingNotConfirmedError):
        import_confirm(snapshot)
    import_confirm(snapshot, confirm_closing=True)
    assert Invoice.objects.get(number="INV-2").ledger_status == Invoice.LedgerStatus.CLOSED
    assert Invoice.objects.get(number="INV-1").ledger_status == Invoice.LedgerStatus.OPEN


def test_refused_row_not_closed(tmp_path):
    first = write_csv(tmp_path / "a.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(), invoice_row(invoice_number="INV-2")])
    import_file(first, kind="invoices", source_name="Spreadsheet")
    second = write_csv(
        tmp_path / "b.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(), invoice_row(invoice_number="INV-2", amount="ten")]
    )

    record = import_preview(second, kind="invoices", source_name="Spreadsheet", is_snapshot=True)

    assert record.status == ImportRecord.Status.REFUSED
    assert [entry for entry in record.plan if entry["entity"] == "close"] == []
