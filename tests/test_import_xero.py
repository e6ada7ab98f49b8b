"""Xero's invoice export: line items combined into invoices, credit notes as customer
credits, drafts skipped, day-first dates, Windows-1252 text, in CSV and XLSX."""

import csv
import io
from decimal import Decimal
from pathlib import Path

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import pytest

from customers.imports.services import import_file, import_preview
from customers.models import Customer, CustomerCredit, ImportRecord, Invoice, Payment
from tests.import_helpers import write_xlsx

FILES = Path(__file__).parent / "files"

pytestmark = pytest.mark.django_db


def sample_rows() -> tuple[list[str], list[list[str]]]:
    text = (FILES / "xero_invoices.csv").read_bytes().decode("cp1252")
    records = list(csv.reader(io.StringIO(text)))
    return records[0], records[1:]


def write_sample_csv(path, change=None):
    header, rows = sample_rows()
    if change:
        change(header, rows)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([header, *rows])
    path.write_bytes(buffer.getvalue().encode("cp1252"))
    return path


def column(header, name):
    return header.index(name)


def check_sample_imported(record):
    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert record.layout == "xero-invoices"
    assert record.counts["invoices"] == {"created": 4, "updated": 0, "unchanged": 0, "skipped": 1}
    assert record.counts["credits"] == {"created": 1, "updated": 0, "unchanged": 0}

    mueller = Customer.objects.get(external_id="Müller Bau GmbH")
    assert mueller.name == "Müller Bau GmbH"
    assert mueller.email == "buchhaltung@mueller-bau.example"
    assert mueller.country == "DE"
    assert Customer.objects.get(external_id="Société Générale Services").country == "FR"

    survey = Invoice.objects.get(number="INV-0041")
    assert survey.customer == mueller
    assert survey.amount == Decimal("1440.00")
    assert survey.amount_due == Decimal("1440.00")
    assert survey.currency == "EUR"
    assert survey.issue_date.isoformat() == "2026-10-14"
    assert survey.due_date.isoformat() == "2026-11-13"
    assert survey.ledger_status == Invoice.LedgerStatus.OPEN
    assert survey.description == "PO-7781"

    paid = Invoice.objects.get(number="INV-0042")
    assert paid.ledger_status == Invoice.LedgerStatus.PAID
    assert paid.amount_paid == Decimal("600.00")
    assert paid.description == "Consulting, fee in €"
    partly = Invoice.objects.get(number="INV-0043")
    assert partly.amount_due == Decimal("260.00")
    assert partly.amount_paid == Decimal("100.00")
    assert Invoice.objects.get(number="INV-0039").ledger_status == Invoice.LedgerStatus.VOID
    assert not Invoice.objects.filter(number__in=["INV-0044", "CN-0007"]).exists()

    credit = CustomerCredit.objects.get()
    assert credit.customer.name == "Harbour Tiles Ltd"
    assert credit.origin == CustomerCredit.Origin.CREDIT_NOTE
    assert credit.reference == "CN-0007"
    assert credit.amount == Decimal("120.00")
    assert credit.currency == "GBP"


def test_xero_csv_sample_imports():
    record = import_file(FILES / "xero_invoices.csv", kind="invoices", source_name="Xero")

    check_sample_imported(record)
    assert record.counts["detected"]["encoding"] == "windows-1252"
    assert record.counts["detected"]["date_order"] == "day_first"
    skipped = [entry for entry in record.changes if entry["action"] == "skip"]
    assert [(entry["row"], entry["key"]) for entry in skipped] == [(7, "INV-0044")]
    assert "draft" in skipped[0]["note"]


def test_xero_xlsx_sample_imports(tmp_path):
    header, rows = sample_rows()
    path = write_xlsx(tmp_path / "Export.xlsx", header, rows)

    record = import_file(path, kind="invoices", source_name="Xero")

    check_sample_imported(record)


def test_xero_second_import_unchanged():
    import_file(FILES / "xero_invoices.csv", kind="invoices", source_name="Xero")
    counts_before = (Customer.objects.count(), Invoice.objects.count(), CustomerCredit.objects.count(), Payment.objects.count())
    versions = dict(Invoice.objects.values_list("number", "version"))

    record = import_file(FILES / "xero_invoices.csv", kind="invoices", source_name="Xero")

    assert record.status == ImportRecord.Status.UNCHANGED, record.errors
    assert record.counts["invoices"] == {"created": 0, "updated": 0, "unchanged": 4, "skipped": 1}
    assert record.counts["credits"] == {"created": 0, "updated": 0, "unchanged": 1}
    assert record.counts["customers"] == {"created": 0, "updated": 0, "unchanged": 3}
    assert (Customer.objects.count(), Invoice.objects.count(), CustomerCredit.objects.count(), Payment.objects.count()) == counts_before
    assert dict(Invoice.objects.values_list("number", "version")) == versions


def test_xero_lines_disagreeing_refused(tmp_path):
    def change(header, rows):
        rows[1][column(header, "*DueDate")] = "20/11/2026"

    record = import_file(write_sample_csv(tmp_path / "x.csv", change), kind="invoices", source_name="Xero")

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == [
        'row 3, column "DueDate", value "20/11/2026": row 2 of invoice "INV-0041" gives "2026-11-13"; '
        "export the invoice again; every line of an invoice repeats the same invoice fields"
    ]
    assert Invoice.objects.count() == 0


def test_xero_star_headers_optional(tmp_path):
    def change(header, rows):
        header[:] = [name.lstrip("*") for name in header]

    record = import_file(write_sample_csv(tmp_path / "x.csv", change), kind="invoices", source_name="Xero")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert record.layout == "xero-invoices"


def test_xero_api_type_and_status_codes(tmp_path):
    def change(header, rows):
        for row in rows:
            row[column(header, "Type")] = "ACCRECCREDIT" if row[column(header, "*InvoiceNumber")].startswith("CN") else "ACCREC"
            row[column(header, "Status")] = {"Awaiting Payment": "AUTHORISED", "Paid": "PAID", "Draft": "DRAFT", "Voided": "VOIDED"}[
                row[column(header, "Status")]
            ]

    record = import_file(write_sample_csv(tmp_path / "x.csv", change), kind="invoices", source_name="Xero")

    check_sample_imported(record)


def test_xero_month_first_override(tmp_path):
    def change(header, rows):
        for row in rows:
            for name in ("*InvoiceDate", "*DueDate"):
                day, month, year = row[column(header, name)].split("/")
                row[column(header, name)] = f"{month}/{day}/{year}"

    path = write_sample_csv(tmp_path / "x.csv", change)
    refused = import_preview(path, kind="invoices", source_name="Xero")
    record = import_preview(path, kind="invoices", source_name="Xero", date_order="month-first")

    assert refused.status == ImportRecord.Status.REFUSED
    assert record.status == ImportRecord.Status.PREVIEWED, record.errors
    assert record.counts["detected"]["date_order"] == "month_first"
    created = {entry["key"]: entry["fields"] for entry in record.plan if entry["entity"] == "invoice" and entry["action"] == "create"}
    assert created["INV-0041"]["issue_date"] == [None, "2026-10-14"]
    assert created["INV-0041"]["due_date"] == [None, "2026-11-13"]


def test_xero_amount_paid_rise_records_payment(tmp_path):
    import_file(FILES / "xero_invoices.csv", kind="invoices", source_name="Xero")

    def change(header, rows):
        for row in rows:
            if row[column(header, "*InvoiceNumber")] == "INV-0043":
                row[column(header, "InvoiceAmountPaid")] = "360.00"
                row[column(header, "InvoiceAmountDue")] = "0.00"
                row[column(header, "Status")] = "Paid"

    record = import_file(write_sample_csv(tmp_path / "x.csv", change), kind="invoices", source_name="Xero")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    payment = Payment.objects.get()
    assert payment.amount == Decimal("260.00")
    assert payment.origin == Payment.Origin.INVOICE_FILE
    assert Invoice.objects.get(number="INV-0043").ledger_status == Invoice.LedgerStatus.PAID
