"""The import_spreadsheet management command."""

from io import StringIO
from pathlib import Path

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from customers.models import ImportRecord, Invoice, Source
from tests.import_helpers import TEMPLATE_INVOICE_HEADER, invoice_row, write_csv

FILES = Path(__file__).parent / "files"

pytestmark = pytest.mark.django_db


def run(*args):
    stdout, stderr = StringIO(), StringIO()
    call_command("import_spreadsheet", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def test_command_imports_and_prints_counts():
    stdout, stderr = run("invoices", str(FILES / "template_invoices.csv"))

    assert "Layout: template-invoices" in stdout
    assert "Source: Spreadsheet" in stdout
    assert "Customers: 3 created, 0 updated, 0 unchanged" in stdout
    assert "Invoices: 4 created, 0 updated, 0 unchanged, 0 skipped" in stdout
    assert stderr == ""
    assert Invoice.objects.count() == 4


def test_command_names_stripe_source_and_reports_skipped_drafts():
    stdout, _ = run("invoices", str(FILES / "stripe_invoices.csv"))

    assert "Layout: stripe-invoices" in stdout
    assert Source.objects.get().name == "Stripe"
    assert "Skipped row 4 (in_1QAbcDEFghiJKL03): Stripe draft invoice" in stdout


def test_command_fails_with_every_error_line(tmp_path):
    rows = [invoice_row(due_date="soon"), invoice_row(invoice_number="INV-2", amount="lots")]
    path = write_csv(tmp_path / "bad.csv", TEMPLATE_INVOICE_HEADER, rows)
    stderr = StringIO()

    with pytest.raises(CommandError, match="2 error"):
        call_command("import_spreadsheet", "invoices", str(path), "--source", "Books", stdout=StringIO(), stderr=stderr)

    lines = stderr.getvalue().splitlines()
    assert 'row 2, column "due_date", value "soon": not a date; use YYYY-MM-DD or DD/MM/YYYY' in lines
    assert any(line.startswith('row 3, column "amount", value "lots"') for line in lines)
    assert Invoice.objects.count() == 0
    assert ImportRecord.objects.get().status == ImportRecord.Status.REFUSED


def test_command_dry_run_writes_nothing():
    stdout, _ = run("invoices", str(FILES / "template_invoices.csv"), "--dry-run")

    assert "Dry run" in stdout
    assert Invoice.objects.count() == 0


def test_command_historical_flags(tmp_path):
    path = write_csv(tmp_path / "a.csv", TEMPLATE_INVOICE_HEADER, [invoice_row()])

    run("invoices", str(path), "--not-historical")

    assert ImportRecord.objects.get().is_historical is False


def test_command_missing_file():
    with pytest.raises(CommandError, match="cannot read"):
        run("invoices", "/nonexistent/file.csv")


def test_command_layout_for_wrong_kind_rejected():
    with pytest.raises(CommandError):
        run("payments", str(FILES / "template_invoices.csv"), "--layout", "stripe-invoices")
    assert Invoice.objects.count() == 0


def test_command_prints_detected_settings():
    stdout, _ = run("invoices", str(FILES / "xero_invoices.csv"))

    assert "Layout: xero-invoices" in stdout
    assert "Detected: CSV, encoding windows-1252, delimiter comma, date order day-first, header in row 1" in stdout
    assert "Source: Xero" in stdout
    assert "Credits: 1 created, 0 updated, 0 unchanged" in stdout
    assert "Skipped row 7 (INV-0044): Xero draft or unapproved invoice" in stdout


def test_command_quickbooks_snapshot_needs_confirm_closing(tmp_path):
    run("invoices", str(FILES / "quickbooks_ar_aging.csv"), "--currency", "USD")
    shorter = tmp_path / "report.csv"
    shorter.write_text("".join(line for line in (FILES / "quickbooks_ar_aging.csv").read_text().splitlines(keepends=True) if '"998"' not in line))

    with pytest.raises(CommandError, match=r"1 of the source's 4 open invoices \(25%\).*add --confirm-closing"):
        run("invoices", str(shorter))
    assert Invoice.objects.filter(ledger_status=Invoice.LedgerStatus.CLOSED).count() == 0

    stdout, _ = run("invoices", str(shorter), "--confirm-closing")

    assert "Detected: CSV, encoding utf-8, delimiter comma, date order month-first, header in row 5" in stdout
    assert "Snapshot: yes" in stdout
    assert "Closed 998: not in the file" in stdout
    assert Invoice.objects.get(number="998").ledger_status == Invoice.LedgerStatus.CLOSED


def test_command_date_order_and_delimiter_options(tmp_path):
    path = write_csv(tmp_path / "a.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(issue_date="03/04/2026", due_date="04/05/2026")], delimiter=";")

    stdout, _ = run("invoices", str(path), "--date-order", "month-first", "--delimiter", ";", "--encoding", "utf-8")

    assert "date order month-first" in stdout
    assert "delimiter semicolon" in stdout
    assert Invoice.objects.get().due_date.isoformat() == "2026-04-05"
