"""The faster import steps give the same outcome as the slower ones they replace: parsed
cells kept per file, an XLSX workbook opened once when it has no formulas, merges and
formulas found in a chunked scan, CSV rows read from a stream, and COPY for new rows."""

import openpyxl
import pytest

from customers.imports import readers
from customers.imports.services import import_file
from customers.models import Customer, ImportRecord, Invoice
from tests.import_helpers import TEMPLATE_INVOICE_HEADER, invoice_row, write_csv, write_xlsx

pytestmark = pytest.mark.django_db


def test_repeated_invalid_cell_reported_per_row(tmp_path):
    rows = [
        invoice_row(invoice_number=f"INV-{number}", time_zone="Mars/Olympus", payment_link=f"https://pay.example/INV-{number}")
        for number in (1, 2, 3)
    ]
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, rows)

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == [
        f'row {row}, column "time_zone", value "Mars/Olympus": not a time zone; use an IANA name such as Europe/Paris, or leave it blank'
        for row in (2, 3, 4)
    ]
    assert Invoice.objects.count() == 0


def test_same_phone_read_in_each_country(tmp_path):
    rows = [
        invoice_row(customer_id="C-GB", country="GB", phone="020 7946 0958", invoice_number="INV-1"),
        invoice_row(customer_id="C-FR", country="FR", phone="01 42 68 53 00", invoice_number="INV-2"),
        invoice_row(customer_id="C-GB2", country="GB", phone="01 42 68 53 00", invoice_number="INV-3"),
    ]
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, rows)

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    # The French number is not a valid British one, so the same digits give an error for C-GB2.
    assert record.status == ImportRecord.Status.REFUSED
    assert len(record.errors) == 1
    assert record.errors[0].startswith('row 4, column "phone", value "01 42 68 53 00": not a valid phone number')


def test_same_cell_in_two_files_parsed_per_file(tmp_path):
    first = write_csv(tmp_path / "first.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(issue_date="03/04/2026", due_date="20/04/2026")])
    second = write_csv(tmp_path / "second.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(issue_date="03/04/2026", due_date="2026-05-01")])

    applied = import_file(first, kind="invoices", source_name="Spreadsheet")
    refused = import_file(second, kind="invoices", source_name="Other")

    # The first file proves day-first order. The second has no such proof, so its date is ambiguous.
    assert applied.status == ImportRecord.Status.APPLIED, applied.errors
    assert Invoice.objects.get(source__name="Spreadsheet").issue_date.isoformat() == "2026-04-03"
    assert refused.status == ImportRecord.Status.REFUSED
    assert refused.errors[0].startswith('row 2, column "issue_date", value "03/04/2026": ambiguous date')


def count_workbook_loads(monkeypatch) -> list:
    loads = []
    load_workbook = openpyxl.load_workbook

    def counting_load_workbook(*args, **kwargs):
        loads.append(kwargs.get("data_only"))
        return load_workbook(*args, **kwargs)

    monkeypatch.setattr(openpyxl, "load_workbook", counting_load_workbook)
    return loads


def test_xlsx_without_formulas_opened_once(tmp_path, monkeypatch):
    loads = count_workbook_loads(monkeypatch)
    path = write_xlsx(tmp_path / "invoices.xlsx", TEMPLATE_INVOICE_HEADER, [invoice_row()])

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert loads == [True]
    assert Customer.objects.get().external_id == "C-1"


def test_xlsx_with_formula_opened_twice(tmp_path, monkeypatch):
    loads = count_workbook_loads(monkeypatch)
    path = write_xlsx(tmp_path / "invoices.xlsx", TEMPLATE_INVOICE_HEADER, [invoice_row(amount_due="=N2-O2")])

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert loads == [True, False]
    assert record.status == ImportRecord.Status.REFUSED
    assert "the formula in cell P2 has no saved result" in record.errors[0]


@pytest.mark.parametrize("chunk_size", [readers.SHEET_SCAN_CHUNK, 300, 64])
def test_merges_found_across_scan_chunks(tmp_path, monkeypatch, chunk_size):
    monkeypatch.setattr(readers, "SHEET_SCAN_CHUNK", chunk_size)
    rows = [invoice_row(invoice_number=f"INV-{number}", payment_link="") for number in range(1, 30)]
    path = tmp_path / "merged.xlsx"
    write_xlsx(path, TEMPLATE_INVOICE_HEADER, rows)
    workbook = openpyxl.load_workbook(path)
    workbook.active.merge_cells("S5:S6")
    workbook.active.merge_cells("R20:S20")
    workbook.save(path)

    table = readers.read_table(path)

    found = sorted((merged.first_row, merged.last_row, merged.reference) for merged in table.merged)
    assert found == [(5, 6, "S5:S6"), (20, 20, "R20:S20")]


def stored_rows(source_name: str) -> list[tuple]:
    invoices = Invoice.objects.filter(source__name=source_name).order_by("number")
    return [
        (
            invoice.number,
            invoice.customer.external_id,
            invoice.customer.name,
            invoice.customer.phone,
            invoice.customer.effective_time_zone,
            invoice.customer.tags,
            invoice.issue_date,
            invoice.due_date,
            invoice.currency,
            invoice.amount,
            invoice.amount_paid,
            invoice.amount_due,
            invoice.ledger_status,
            invoice.payment_link,
            invoice.version,
        )
        for invoice in invoices.select_related("customer")
    ]


@pytest.mark.postgres
def test_copy_insert_matches_bulk_create(tmp_path, monkeypatch):
    from customers.imports import bulk

    rows = [
        invoice_row(
            customer_id=f"C-{number % 7}",
            customer_name=f"Customer {number % 7}",
            phone="+44 20 7946 0958" if number % 7 == 1 else "",
            time_zone="Europe/Madrid" if number % 7 == 2 else "",
            invoice_number=f"INV-{number}",
            issue_date="" if number % 5 == 0 else "2026-11-01",
            amount="1234.50",
            amount_paid="34.50",
            amount_due="1200.00",
            payment_link=f"https://pay.example/INV-{number}",
        )
        for number in range(1, 41)
    ]
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, rows)

    monkeypatch.setattr(bulk, "COPY_MIN_ROWS", 10**9)
    with_bulk_create = import_file(path, kind="invoices", source_name="Bulk")
    monkeypatch.setattr(bulk, "COPY_MIN_ROWS", 1)
    with_copy = import_file(path, kind="invoices", source_name="Copy")
    again = import_file(path, kind="invoices", source_name="Copy")

    assert with_bulk_create.status == ImportRecord.Status.APPLIED, with_bulk_create.errors
    assert with_copy.status == ImportRecord.Status.APPLIED, with_copy.errors
    assert with_copy.counts["invoices"]["created"] == 40
    assert with_copy.counts["customers"]["created"] == 7
    assert stored_rows("Copy") == stored_rows("Bulk")
    assert len(stored_rows("Copy")) == 40
    assert Invoice.objects.filter(source__name="Copy", created_at__isnull=True).count() == 0
    assert again.status == ImportRecord.Status.UNCHANGED


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a,b\r\n1,2\r\n",
        "".join(f"line {number}\n" for number in range(100)),
        "x" * 70_000 + "\r\n" + "y;z\r\n" * 40,
        ("t" * 5_000 + "\n") * 29 + "a;b",
    ],
)
def test_first_lines_match_splitlines(text):
    assert readers.first_lines(text, 30) == text.splitlines()[:30]


def test_windows_1252_csv_read_as_stream(tmp_path):
    long_description = "Réparation " * 7_000  # about 77,000 characters, past the first scan of 65,536
    row = invoice_row(amount="100,00", amount_paid="0,00", amount_due="100,00", description=long_description.strip())
    text = ";".join(TEMPLATE_INVOICE_HEADER) + "\r\n" + ";".join(row.values()) + "\r\n"
    path = tmp_path / "invoices.csv"
    path.write_bytes(text.encode("cp1252"))

    table = readers.read_table(path)

    assert table.encoding == "windows-1252"
    assert table.delimiter == ";"
    assert len(table.rows) == 1
    assert table.rows[0].cells[TEMPLATE_INVOICE_HEADER.index("description")] == long_description.strip()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("338.60", "338.60"),
        ("0", "0"),
        (".5", "0.5"),
        ("12.", "12"),
        ("007.10", "7.10"),
        (" 5 ", "5"),
        ("1.234", "1.234"),
        ("1,234.50", "1234.50"),
        ("(12.50)", "-12.50"),
    ],
)
def test_plain_and_formatted_amounts_parsed(text, expected):
    from decimal import Decimal

    from customers.imports import parsing

    amount = parsing.parse_amount(text, places=None)

    assert amount == Decimal(expected)
    assert amount.as_tuple().exponent == Decimal(expected).as_tuple().exponent


def test_gc_paused_during_import_only(tmp_path, monkeypatch):
    import gc

    from customers.imports import pipeline

    states = []
    validate = pipeline.validate

    def recording_validate(*args, **kwargs):
        states.append(gc.isenabled())
        return validate(*args, **kwargs)

    monkeypatch.setattr(pipeline, "validate", recording_validate)
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, [invoice_row()])

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert states == [False]
    assert gc.isenabled()


def test_gc_restored_after_failed_import(tmp_path, monkeypatch):
    import gc

    from customers.imports import pipeline

    def failing_apply_plan(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pipeline, "apply_plan", failing_apply_plan)
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, [invoice_row()])

    with pytest.raises(RuntimeError, match="disk full"):
        import_file(path, kind="invoices", source_name="Spreadsheet")

    assert gc.isenabled()
    assert Invoice.objects.count() == 0
