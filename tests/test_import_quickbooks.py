"""QuickBooks Online's A/R Aging Detail report: title rows, bucket and total rows, a
footer, month-first dates, grouped amounts and negative credit memos, in CSV and XLSX."""

import csv
import datetime
import io
from decimal import Decimal
from pathlib import Path

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import openpyxl
import pytest

from customers.imports.services import import_confirm, import_file, import_preview
from customers.models import Customer, CustomerCredit, ImportRecord, Invoice, Source

FILES = Path(__file__).parent / "files"

pytestmark = pytest.mark.django_db


def check_sample_imported(record, currency="USD"):
    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert record.layout == "quickbooks-ar-aging"
    assert record.is_snapshot
    assert record.counts["invoices"]["created"] == 4
    assert record.counts["credits"] == {"created": 2, "updated": 0, "unchanged": 0}
    assert Source.objects.get(name="QuickBooks").kind == Source.Kind.QUICKBOOKS

    amy = Customer.objects.get(external_id="Amy's Bird Sanctuary")
    assert sorted(amy.invoices.values_list("number", flat=True)) == ["1001", "998"]
    windsurf = Invoice.objects.get(number="1002")
    assert windsurf.customer.name == "Bill's Windsurf Shop"
    assert windsurf.issue_date == datetime.date(2026, 10, 20)
    assert windsurf.due_date == datetime.date(2026, 11, 19)
    assert windsurf.amount == Decimal("2000.00")
    assert windsurf.amount_due == Decimal("750.00")
    assert windsurf.currency == currency
    # 09/02/2026 is the 2nd of September in a month-first report.
    cars = Invoice.objects.get(number="1003")
    assert cars.issue_date == datetime.date(2026, 9, 2)
    assert cars.customer.name == "Cool Cars, Inc."
    assert Invoice.objects.get(number="1001").amount_due == Decimal("1234.50")

    memo = CustomerCredit.objects.get(origin=CustomerCredit.Origin.CREDIT_NOTE)
    assert (memo.customer.name, memo.reference, memo.amount) == ("Bill's Windsurf Shop", "CM-5", Decimal("85.00"))
    unapplied = CustomerCredit.objects.get(origin=CustomerCredit.Origin.OVERPAYMENT)
    assert (unapplied.customer.name, unapplied.amount, unapplied.needs_review) == ("Cool Cars, Inc.", Decimal("50.00"), True)


def test_quickbooks_csv_sample_imports():
    record = import_file(FILES / "quickbooks_ar_aging.csv", kind="invoices", source_name="QuickBooks")

    check_sample_imported(record)
    assert record.counts["detected"]["header_row"] == 5
    assert record.counts["detected"]["date_order"] == "month_first"
    assert record.warnings == [
        "the file has no Currency column, so its amounts were read as USD; choose the currency of the report if it is another one"
    ]


def test_quickbooks_currency_chosen():
    record = import_confirm(import_preview(FILES / "quickbooks_ar_aging.csv", kind="invoices", source_name="QuickBooks", currency="CAD"))

    check_sample_imported(record, currency="CAD")
    assert record.warnings == []


def quickbooks_workbook(path):
    """Write the sample report as QuickBooks writes its Excel export: typed cells and a merged title."""
    text = (FILES / "quickbooks_ar_aging.csv").read_text()
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for number, record in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = []
        for position, value in enumerate(record):
            if number > 5 and position in (1, 5) and value:
                month, day, year = value.split("/")
                cells.append(datetime.datetime(int(year), int(month), int(day)))
            elif number > 5 and position in (6, 7) and value and not value.startswith("$"):
                cells.append(float(value.replace(",", "")))
            else:
                cells.append(value or None)
        sheet.append(cells)
    sheet.merge_cells("A1:H1")
    sheet.merge_cells("A2:H2")
    workbook.save(path)
    return path


def test_quickbooks_xlsx_sample_imports(tmp_path):
    record = import_file(quickbooks_workbook(tmp_path / "AR Aging Detail.xlsx"), kind="invoices", source_name="QuickBooks")

    check_sample_imported(record)


def test_quickbooks_second_import_unchanged():
    import_file(FILES / "quickbooks_ar_aging.csv", kind="invoices", source_name="QuickBooks")
    counts_before = (Customer.objects.count(), Invoice.objects.count(), CustomerCredit.objects.count())
    versions = dict(Invoice.objects.values_list("number", "version"))

    record = import_file(FILES / "quickbooks_ar_aging.csv", kind="invoices", source_name="QuickBooks")

    assert record.status == ImportRecord.Status.UNCHANGED, record.errors
    assert record.counts["invoices"]["unchanged"] == 4
    assert record.counts["credits"] == {"created": 0, "updated": 0, "unchanged": 2}
    assert record.warnings == []  # the source's invoices now give the currency
    assert (Customer.objects.count(), Invoice.objects.count(), CustomerCredit.objects.count()) == counts_before
    assert dict(Invoice.objects.values_list("number", "version")) == versions


def test_quickbooks_invoice_without_number_refused(tmp_path):
    text = (FILES / "quickbooks_ar_aging.csv").read_text().replace('"Invoice","1003"', '"Invoice",""')
    path = tmp_path / "report.csv"
    path.write_text(text)

    record = import_file(path, kind="invoices", source_name="QuickBooks")

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == ['row 14, column "Num", value "": missing value; fill in Num']
