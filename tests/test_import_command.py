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
