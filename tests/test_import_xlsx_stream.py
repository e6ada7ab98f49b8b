"""XLSX rows are read from the file again at each pass (XlsxRecords), as CSV rows are,
instead of being kept in a list. Each pass gives the same rows and closes the archive when
it ends or is abandoned, and an import gives the same result as the same rows in CSV."""

import os
import zipfile
from pathlib import Path

import openpyxl
import pytest

from bench.dataset import DatasetConfig, write_template_csv, write_template_xlsx
from customers.imports import readers
from customers.imports.errors import ImportFileError
from customers.imports.services import import_file
from customers.models import Customer, ImportRecord, Invoice
from tests.import_helpers import TEMPLATE_INVOICE_HEADER, invoice_row, write_xlsx

pytestmark = pytest.mark.django_db


def row_tuples(rows) -> list[tuple]:
    return [(row.number, row.cells, row.uncached_formulas) for row in rows]


def numbered_rows(count: int, **overrides) -> list[dict]:
    return [
        invoice_row(invoice_number=f"INV-{number}", payment_link=f"https://pay.example/INV-{number}", **overrides)
        for number in range(1, count + 1)
    ]


def open_file_descriptors(path: Path) -> list[str]:
    """Return this process's file descriptors that point to `path` (Linux /proc only)."""
    descriptors = []
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # the descriptor that listed the folder is already closed
            continue
        if target == str(path):
            descriptors.append(name)
    return descriptors


def record_archives(monkeypatch) -> list[zipfile.ZipFile]:
    """Record each archive that a pass over XlsxRecords opens. Holding them keeps
    ZipFile.__del__ from closing them, so a closed one was closed by the pass."""
    archives = []
    open_archive = readers.open_archive

    def recording_open_archive(source):
        archive = open_archive(source)
        archives.append(archive)
        return archive

    monkeypatch.setattr(readers, "open_archive", recording_open_archive)
    return archives


def is_closed(archive: zipfile.ZipFile) -> bool:
    return archive.fp is None


# Passes ------------------------------------------------------------------------------------


def test_rows_same_on_each_pass(tmp_path):
    rows = numbered_rows(30)
    rows[10:10] = [None, None]
    path = write_xlsx(tmp_path / "invoices.xlsx", TEMPLATE_INVOICE_HEADER, rows)

    table = readers.read_table(path)
    first = row_tuples(table.rows)
    second = row_tuples(table.rows)

    assert isinstance(table.rows, readers.XlsxRecords)
    assert first == second
    assert len(first) == 30
    assert table.rows.length == 30
    assert len(table.rows) == 30
    # Two blank rows sit after the tenth data row, so its successor is row 14.
    assert [number for number, _cells, _uncached in first[9:11]] == [11, 14]
    assert first[0][1][TEMPLATE_INVOICE_HEADER.index("invoice_number")] == "INV-1"


def test_rows_indexes_and_slices(tmp_path):
    path = write_xlsx(tmp_path / "invoices.xlsx", TEMPLATE_INVOICE_HEADER, numbered_rows(12))

    table = readers.read_table(path)
    rest = table.rows[5:]
    number = TEMPLATE_INVOICE_HEADER.index("invoice_number")

    assert table.headers == TEMPLATE_INVOICE_HEADER
    assert table.rows[0].cells[number] == "INV-1"
    assert [row.cells[number] for row in table.rows[2:4]] == ["INV-3", "INV-4"]
    assert isinstance(rest, readers.XlsxRecords)
    assert [row.cells[number] for row in rest] == [f"INV-{n}" for n in range(6, 13)]
    assert len(rest) == 7
    assert bool(table.rows[12:]) is False
    with pytest.raises(IndexError):
        table.rows[12]
    with pytest.raises(IndexError):
        table.rows[-1]


def test_rows_with_formulas_same_on_each_pass(tmp_path):
    rows = numbered_rows(20)
    rows[4]["amount_due"] = "=N6-O6"
    path = write_xlsx(tmp_path / "formula.xlsx", TEMPLATE_INVOICE_HEADER, rows)

    table = readers.read_table(path)
    first = row_tuples(table.rows)
    second = row_tuples(table.rows)

    assert table.rows.formulas_sheet is not None
    assert first == second
    assert len(first) == 20
    assert first[4][0] == 6
    assert first[4][2] == {TEMPLATE_INVOICE_HEADER.index("amount_due"): "P6"}
    assert all(not uncached for _number, _cells, uncached in first[:4] + first[5:])


# Closing the archive -----------------------------------------------------------------------


@pytest.mark.parametrize("with_formula", [False, True], ids=["values", "values-and-formulas"])
def test_abandoned_pass_closes_archive(tmp_path, monkeypatch, with_formula):
    rows = numbered_rows(50)
    if with_formula:
        rows[0]["amount_due"] = "=N2-O2"
    path = write_xlsx(tmp_path / "invoices.xlsx", TEMPLATE_INVOICE_HEADER, rows)
    table = readers.read_table(path)
    archives = record_archives(monkeypatch)

    rows_iterator = iter(table.rows)
    next(rows_iterator)
    open_during_pass = open_file_descriptors(path)
    rows_iterator.close()

    expected = 2 if with_formula else 1
    assert len(archives) == expected
    assert len(open_during_pass) == expected
    assert all(is_closed(archive) for archive in archives)
    assert open_file_descriptors(path) == []
    assert table.rows.length is None


def test_loop_left_early_closes_archive(tmp_path, monkeypatch):
    path = write_xlsx(tmp_path / "invoices.xlsx", TEMPLATE_INVOICE_HEADER, numbered_rows(50))
    table = readers.read_table(path)
    archives = record_archives(monkeypatch)

    for row in table.rows:
        if row.number == 10:
            break

    # CPython finalizes the abandoned generator as soon as the loop drops it.
    assert len(archives) == 1
    assert is_closed(archives[0])
    assert open_file_descriptors(path) == []


def test_full_pass_closes_archive(tmp_path, monkeypatch):
    path = write_xlsx(tmp_path / "invoices.xlsx", TEMPLATE_INVOICE_HEADER, numbered_rows(50))
    table = readers.read_table(path)
    archives = record_archives(monkeypatch)

    assert len(table.rows) == 50
    assert len(archives) == 1
    assert is_closed(archives[0])
    assert open_file_descriptors(path) == []


def test_read_table_leaves_no_file_open(tmp_path):
    rows = numbered_rows(5)
    rows[0]["amount_due"] = "=N2-O2"
    path = write_xlsx(tmp_path / "invoices.xlsx", TEMPLATE_INVOICE_HEADER, rows)

    table = readers.read_table(path)

    assert table.rows.formulas_sheet is not None
    assert open_file_descriptors(path) == []


# Estimated length --------------------------------------------------------------------------


def test_estimated_length_from_dimension(tmp_path):
    rows = numbered_rows(40)
    rows[20:20] = [None] * 3
    path = write_xlsx(tmp_path / "invoices.xlsx", TEMPLATE_INVOICE_HEADER, rows)

    table = readers.read_table(path)

    # openpyxl's normal mode stores the dimension A1:S44: the header, 40 rows, 3 blank rows.
    assert table.rows.values_sheet.max_row == 44
    assert table.rows.estimated_length() == 43
    assert len(table.rows) == 40
    assert table.rows.estimated_length() == 40


def test_estimated_length_without_dimension(tmp_path):
    path = tmp_path / "invoices.xlsx"
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(TEMPLATE_INVOICE_HEADER)
    for row in numbered_rows(25):
        sheet.append([row[name] for name in TEMPLATE_INVOICE_HEADER])
    workbook.save(path)

    table = readers.read_table(path)

    assert table.rows.values_sheet.max_row is None
    assert table.rows.estimated_length() == 25
    assert table.rows[10:].estimated_length() == 15
    assert table.rows.length is None


# Formulas ----------------------------------------------------------------------------------


def test_uncached_formula_far_down_rejected(tmp_path):
    rows = numbered_rows(300)
    rows[249]["amount_due"] = "=N251-O251"
    path = write_xlsx(tmp_path / "formula.xlsx", TEMPLATE_INVOICE_HEADER, rows)

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == [
        'row 251, column "amount_due", value "": the formula in cell P251 has no saved result; '
        "open the file in Excel or LibreOffice, save it and import it again"
    ]
    assert Invoice.objects.count() == 0


# Errors ------------------------------------------------------------------------------------


def test_damaged_xlsx_rejected(tmp_path):
    path = tmp_path / "damaged.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"not a zip archive" * 20)

    with pytest.raises(ImportFileError) as raised:
        readers.read_table(path)

    assert str(raised.value).startswith("the XLSX file cannot be opened (")
    assert str(raised.value).endswith("); save it again from Excel as .xlsx")


def test_xlsx_removed_between_passes_rejected(tmp_path):
    path = write_xlsx(tmp_path / "invoices.xlsx", TEMPLATE_INVOICE_HEADER, numbered_rows(3))
    table = readers.read_table(path)
    path.unlink()

    with pytest.raises(ImportFileError) as raised:
        list(table.rows)

    assert str(raised.value).startswith("the XLSX file cannot be opened (")
    assert str(path) in str(raised.value)


def test_xlsx_read_from_bytes(tmp_path):
    path = write_xlsx(tmp_path / "invoices.xlsx", TEMPLATE_INVOICE_HEADER, numbered_rows(4))

    from_bytes = readers.read_xlsx(path.read_bytes())
    from_path = readers.read_xlsx(path)

    assert row_tuples(from_bytes.rows) == row_tuples(from_path.rows)
    assert len(from_bytes.rows) == 4


def test_xlsx_without_extension_imports(tmp_path):
    # Stored uploads need not keep the .xlsx name: the content decides the format.
    path = write_xlsx(tmp_path / "invoices.xlsx", TEMPLATE_INVOICE_HEADER, numbered_rows(3))
    stored = path.rename(tmp_path / "upload-7f3a")

    record = import_file(stored, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert Invoice.objects.count() == 3


# Same result as CSV ------------------------------------------------------------------------


def stored_customers(source_name: str) -> list[tuple]:
    customers = Customer.objects.filter(source__name=source_name).order_by("external_id")
    return [
        (
            customer.external_id,
            customer.name,
            customer.email,
            customer.phone,
            customer.country,
            customer.kind,
            customer.segment,
            customer.locale,
            customer.time_zone,
            customer.effective_time_zone,
        )
        for customer in customers
    ]


def stored_invoices(source_name: str) -> list[tuple]:
    invoices = Invoice.objects.filter(source__name=source_name).order_by("number").select_related("customer")
    return [
        (
            invoice.number,
            invoice.customer.external_id,
            invoice.issue_date,
            invoice.due_date,
            invoice.currency,
            invoice.amount,
            invoice.amount_paid,
            invoice.amount_due,
            invoice.ledger_status,
            invoice.payment_link,
            invoice.description,
        )
        for invoice in invoices
    ]


def test_xlsx_import_matches_csv(tmp_path):
    # The benchmark dataset writes the same rows as CSV text and as typed XLSX cells
    # (dates and amounts), in openpyxl's write-only mode, which stores no dimension.
    config = DatasetConfig(invoices=300, customers=40)
    csv_path, xlsx_path = tmp_path / "invoices.csv", tmp_path / "invoices.xlsx"
    write_template_csv(config, csv_path)
    write_template_xlsx(config, xlsx_path)

    from_csv = import_file(csv_path, kind="invoices", source_name="From CSV")
    from_xlsx = import_file(xlsx_path, kind="invoices", source_name="From XLSX")

    assert from_csv.status == ImportRecord.Status.APPLIED, from_csv.errors
    assert from_xlsx.status == ImportRecord.Status.APPLIED, from_xlsx.errors
    assert from_xlsx.row_count == from_csv.row_count == 300
    for name in ("rows", "customers", "invoices"):
        assert from_xlsx.counts[name] == from_csv.counts[name]
    assert len(stored_customers("From XLSX")) == 40
    assert stored_customers("From XLSX") == stored_customers("From CSV")
    assert len(stored_invoices("From XLSX")) == 300
    assert stored_invoices("From XLSX") == stored_invoices("From CSV")
