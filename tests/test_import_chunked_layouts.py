"""Xero and QuickBooks files built and planned a few rows at a time: the sample files
give the same result with any chunk size, an invoice's lines are combined wherever they
are in the file, and credits are matched to stored ones in every chunk."""

import csv
import io
from decimal import Decimal
from pathlib import Path

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import pytest

from customers.imports import pipeline
from customers.imports.services import import_file
from customers.models import Customer, CustomerCredit, ImportRecord, Invoice
from tests import test_import_quickbooks, test_import_xero

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
