"""Xero, QuickBooks, payments, customers and cards files built and planned a few rows
at a time. The sample files give the same result with any chunk size, and an invoice's
lines are combined wherever they are in the file. Credits are matched to stored ones in
every chunk, and the checks across rows still cover the whole file."""

import csv
import datetime
import io
from decimal import Decimal
from pathlib import Path

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import pytest

from customers.imports import pipeline
from customers.imports.services import import_file
from customers.models import Customer, CustomerCredit, ImportRecord, Invoice, Payment
from tests import test_import_quickbooks, test_import_xero
from tests.factories import CustomerFactory, InvoiceFactory, SourceFactory
from tests.import_helpers import PAYMENT_HEADER, write_csv

FILES = Path(__file__).parent / "files"

pytestmark = pytest.mark.django_db


def write_xero(path, rows_order=None, change=None):
    header, rows = test_import_xero.sample_rows()
    if rows_order is not None:
        rows = [rows[index] for index in rows_order]
    if change is not None:
        change(header, rows)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([header, *rows])
    path.write_bytes(buffer.getvalue().encode("cp1252"))
    return path


@pytest.mark.parametrize("chunk_rows", [1, 2, 3])
def test_xero_sample_in_chunks(monkeypatch, chunk_rows):
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", chunk_rows)

    record = import_file(FILES / "xero_invoices.csv", kind="invoices", source_name="Xero", layout="xero")

    test_import_xero.check_sample_imported(record)
    assert record.entries.filter(entity="invoice", key="INV-0041").count() == 1


def test_xero_lines_apart_combined(tmp_path, monkeypatch):
    """The second line of INV-0041 moved to the end of the file, two chunks later."""
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 1)
    _header, rows = test_import_xero.sample_rows()
    order = [0, *range(2, len(rows)), 1]

    record = import_file(write_xero(tmp_path / "apart.csv", order), kind="invoices", source_name="Xero", layout="xero")

    test_import_xero.check_sample_imported(record)
    survey = Invoice.objects.get(number="INV-0041")
    assert survey.amount == Decimal("1440.00")


def test_xero_refused_last_line_blocks_invoice(tmp_path, monkeypatch):
    """A refused line at the end still blocks the valid line of its invoice, chunks earlier."""
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 1)
    _header, rows = test_import_xero.sample_rows()
    order = [0, *range(2, len(rows)), 1]

    def break_moved_line(header, rows):
        rows[-1][test_import_xero.column(header, "*DueDate")] = "31/02/2026"

    path = write_xero(tmp_path / "refused.csv", order, break_moved_line)
    record = import_file(path, kind="invoices", source_name="Xero", layout="xero")

    assert record.status == ImportRecord.Status.REFUSED
    last_row = len(rows) + 1
    assert any(error.startswith(f"row {last_row},") for error in record.errors), record.errors
    blocked = [entry for entry in record.plan if entry["entity"] == "blocked"]
    assert [entry["key"] for entry in blocked] == ["INV-0041"]
    assert not Invoice.objects.exists()


def test_xero_second_import_in_chunks_unchanged(monkeypatch):
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 1)
    import_file(FILES / "xero_invoices.csv", kind="invoices", source_name="Xero", layout="xero")

    record = import_file(FILES / "xero_invoices.csv", kind="invoices", source_name="Xero", layout="xero")

    assert record.status == ImportRecord.Status.UNCHANGED, record.errors
    assert record.counts["credits"] == {"created": 0, "updated": 0, "unchanged": 1}
    assert CustomerCredit.objects.count() == 1


@pytest.mark.parametrize("chunk_rows", [1, 2])
def test_quickbooks_sample_in_chunks(monkeypatch, chunk_rows):
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", chunk_rows)

    record = import_file(FILES / "quickbooks_ar_aging.csv", kind="invoices", source_name="QuickBooks")

    test_import_quickbooks.check_sample_imported(record)


def test_quickbooks_credits_in_chunks_matched_on_reimport(monkeypatch):
    """A credit whose customer was planned in an earlier chunk is still found as stored."""
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 1)
    import_file(FILES / "quickbooks_ar_aging.csv", kind="invoices", source_name="QuickBooks")
    credits_before = CustomerCredit.objects.count()

    record = import_file(FILES / "quickbooks_ar_aging.csv", kind="invoices", source_name="QuickBooks")

    assert record.status == ImportRecord.Status.UNCHANGED, record.errors
    assert record.counts["credits"] == {"created": 0, "updated": 0, "unchanged": 2}
    assert CustomerCredit.objects.count() == credits_before
    assert Customer.objects.filter(external_id="Bill's Windsurf Shop").count() == 1


# Payments files ---------------------------------------------------------------------------


@pytest.fixture
def invoice():
    source = SourceFactory(name="Spreadsheet")
    return InvoiceFactory(customer=CustomerFactory(source=source), source=source, number="INV-1", amount=Decimal("100.00"), currency="GBP")


def import_payments(tmp_path, rows, name="payments.csv"):
    path = write_csv(tmp_path / name, PAYMENT_HEADER, rows)
    return import_file(path, kind="payments", source_name="Spreadsheet")


def test_payment_reference_twice_in_chunks_names_both_rows(tmp_path, monkeypatch, invoice):
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 1)
    rows = [
        ["INV-1", "10.00", "2026-11-20", "R-1", "", ""],
        ["INV-1", "10.00", "2026-11-21", "R-2", "", ""],
        ["INV-1", "10.00", "2026-11-22", "R-1", "", ""],
    ]

    record = import_payments(tmp_path, rows)

    assert record.errors == [
        'row 4, column "reference", value "R-1": the same payment reference for this invoice is also in row 2; '
        "keep one row per payment"
    ]


def test_inferred_payments_upgraded_once_across_chunks(tmp_path, monkeypatch, invoice):
    """Two payments of the same amount in different chunks upgrade two inferred payments."""
    first, second = (
        Payment.objects.create(
            invoice=invoice, customer=invoice.customer, amount=Decimal("30.00"), paid_on=datetime.date(2026, 11, day), origin=Payment.Origin.INVOICE_FILE
        )
        for day in (1, 2)
    )
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 1)
    rows = [["INV-1", "30.00", "2026-11-20", "BACS-1", "", ""], ["INV-1", "30.00", "2026-11-21", "BACS-2", "", ""]]

    record = import_payments(tmp_path, rows)

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert record.counts["payments"] == {"recorded": 0, "skipped": 0, "upgraded": 2}
    assert dict(Payment.objects.values_list("pk", "reference")) == {first.pk: "BACS-1", second.pk: "BACS-2"}


# Customers and cards files ------------------------------------------------------------------


def test_customers_file_in_chunks(monkeypatch):
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 1)

    record = import_file(FILES / "stripe_customers.csv", kind="customers", source_name="Stripe")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert record.counts["customers"] == {"created": 3, "updated": 0, "unchanged": 0}
    assert Customer.objects.get(external_id="cus_QAbc001").phone == "+442079460958"


def test_customer_twice_in_chunks_names_both_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 1)
    lines = (FILES / "stripe_customers.csv").read_text().splitlines()
    path = tmp_path / "customers.csv"
    path.write_text("\n".join([*lines, lines[1]]) + "\n")

    record = import_file(path, kind="customers", source_name="Stripe")

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == [
        f'row {len(lines) + 1}, column "id", value "cus_QAbc001": the same customer is also in row 2; keep one row per customer'
    ]
    assert not Customer.objects.exists()


def test_card_twice_in_chunks_names_both_rows(tmp_path, monkeypatch):
    import_file(FILES / "stripe_customers.csv", kind="customers", source_name="Stripe")
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 1)
    lines = (FILES / "stripe_cards.csv").read_text().splitlines()
    path = tmp_path / "cards.csv"
    path.write_text("\n".join([*lines, lines[1]]) + "\n")

    record = import_file(path, kind="cards", source_name="Stripe")

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == [
        f'row {len(lines) + 1}, column "id", value "pm_1QCard001": the same card is also in row 2; keep one row per card'
    ]
