"""Parsing rules of the import: encodings, delimiters, headers, amounts, dates, identifiers,
row numbers and XLSX cells. Each test imports a whole file so the rule is checked where
staff meet it, through the message they read."""

import datetime
import time
from decimal import Decimal

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import openpyxl
import pytest

from customers.imports import parsing
from customers.imports.errors import CellError
from customers.imports.services import import_confirm, import_file, import_preview
from customers.models import Customer, ImportRecord, Invoice
from tests.import_helpers import TEMPLATE_INVOICE_HEADER, csv_text, invoice_row, write_csv, write_xlsx

pytestmark = pytest.mark.django_db


def import_rows(tmp_path, rows, *, header=TEMPLATE_INVOICE_HEADER, **kwargs):
    path = write_csv(tmp_path / "invoices.csv", header, rows, **kwargs)
    return import_file(path, kind="invoices", source_name="Spreadsheet")


# Encodings and delimiters ------------------------------------------------------------------


def test_utf8_with_bom(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + csv_text(TEMPLATE_INVOICE_HEADER, [invoice_row(customer_name="Zoë Ltd")]).encode())

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert Customer.objects.get().name == "Zoë Ltd"


def test_windows_1252_fallback_without_mojibake(tmp_path):
    record = import_rows(tmp_path, [invoice_row(customer_name="Émilie Café – 5€")], encoding="cp1252")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert Customer.objects.get().name == "Émilie Café – 5€"


def test_utf16_unicode_text_export_detected(tmp_path):
    """Excel's "Unicode Text" save: UTF-16 with a byte order mark, tab-separated."""
    path = write_csv(
        tmp_path / "unicode-text.txt",
        TEMPLATE_INVOICE_HEADER,
        [invoice_row(customer_name="Zoë Ltd – 5€")],
        delimiter="\t",
        encoding="utf-16",
    )

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert record.counts["detected"]["encoding"] == "utf-16"
    assert Customer.objects.get().name == "Zoë Ltd – 5€"


def test_undecodable_bytes_rejected(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(csv_text(TEMPLATE_INVOICE_HEADER, [invoice_row()]).encode() + b"\x81\x8d\xff\n")

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.REFUSED
    assert "neither UTF-8 nor Windows-1252" in record.errors[0]


def test_semicolon_delimiter_with_decimal_comma(tmp_path):
    record = import_rows(tmp_path, [invoice_row(amount="1.234,50", amount_due="1234,50", amount_paid="0")], delimiter=";")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    invoice = Invoice.objects.get()
    assert invoice.amount == Decimal("1234.50")
    assert invoice.amount_due == Decimal("1234.50")


def test_tab_delimiter(tmp_path):
    record = import_rows(tmp_path, [invoice_row(description="a, b; c")], delimiter="\t")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert Invoice.objects.get().description == "a, b; c"


def test_headers_ignore_case_spacing_and_star(tmp_path):
    header = ["*Customer ID", "Customer Name", "*Invoice Number", " DUE DATE ", "Currency", "*amount", "Amount_Due"]
    rows = [["0042", "Acme", "INV-9", "2026-12-01", "gbp", "10", "10"]]

    record = import_rows(tmp_path, rows, header=header)

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert record.layout == "template-invoices"
    invoice = Invoice.objects.get()
    assert invoice.number == "INV-9"
    assert invoice.customer.external_id == "0042"
    assert invoice.currency == "GBP"


# Amounts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("£1,250.00", Decimal("1250.00")),
        ("(1,234.50)", Decimal("-1234.50")),
        ("-12.5", Decimal("-12.50")),
        ("12.50-", Decimal("-12.50")),
        ("1.234,50", Decimal("1234.50")),
        ("12,50", Decimal("12.50")),
        ("1 234,50", Decimal("1234.50")),
        ("EUR 99", Decimal("99.00")),
        ("€ 1.234.567", Decimal("1234567.00")),
        ("12.500", Decimal("12.50")),
    ],
)
def test_amount_text_parsed_exactly(text, expected):
    currency = "EUR" if "EUR" in text else ""
    assert parsing.parse_amount(text, places=2, currency=currency) == expected


def test_amount_result_is_decimal_not_float():
    amount = parsing.parse_amount("0.10", places=2)
    assert isinstance(amount, Decimal)
    assert amount + parsing.parse_amount("0.20", places=2) == Decimal("0.30")


@pytest.mark.parametrize("text", ["12.3.4", "abc", "1,2,3", "12 EUR 5", ""])
def test_amount_text_not_a_number(text):
    with pytest.raises(CellError):
        parsing.parse_amount(text, places=2)


def test_amount_with_too_many_decimals_rejected_not_rounded(tmp_path):
    record = import_rows(tmp_path, [invoice_row(amount="100.005", amount_due="100.00")])

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == [
        'row 2, column "amount", value "100.005": 3 decimal places, but GBP amounts have at most 2; '
        "correct the amount in the file; amounts are never rounded on import"
    ]
    assert Invoice.objects.count() == 0


def test_zero_decimal_currency_rejects_fractions(tmp_path):
    record = import_rows(tmp_path, [invoice_row(currency="JPY", amount="1200.5", amount_due="1200")])

    assert record.errors == [
        'row 2, column "amount", value "1200.5": 1 decimal places, but JPY amounts have at most 0; '
        "correct the amount in the file; amounts are never rounded on import"
    ]


def test_three_decimal_currency_rejected_with_money_message(tmp_path):
    record = import_rows(tmp_path, [invoice_row(currency="KWD")])

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == [
        'row 2, column "currency", value "KWD": KWD has 3 decimal places, which is not supported yet; '
        "record these invoices in another currency or leave them out"
    ]


def test_unknown_currency_rejected(tmp_path):
    record = import_rows(tmp_path, [invoice_row(currency="XYZ")])

    assert record.errors[0].startswith('row 2, column "currency", value "XYZ": unknown currency code')


# Dates ------------------------------------------------------------------------------------


def test_day_first_proven_by_another_row(tmp_path):
    rows = [invoice_row(due_date="03/04/2026"), invoice_row(invoice_number="INV-2", due_date="25/12/2026")]

    record = import_rows(tmp_path, rows)

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert Invoice.objects.get(number="INV-1").due_date == datetime.date(2026, 4, 3)
    assert Invoice.objects.get(number="INV-2").due_date == datetime.date(2026, 12, 25)


def test_ambiguous_dates_without_proof_rejected_naming_each(tmp_path):
    rows = [
        invoice_row(due_date="2026-12-01", issue_date="05/05/2026"),
        invoice_row(invoice_number="INV-2", due_date="03/04/2026"),
        invoice_row(invoice_number="INV-3", due_date="04/03/2026"),
    ]

    record = import_rows(tmp_path, rows)

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == [
        'row 3, column "due_date", value "03/04/2026": ambiguous date, because no date in this file has a day '
        "above 12 to prove the DD/MM/YYYY order; use YYYY-MM-DD, or choose the date order (day first or month "
        "first) for this import",
        'row 4, column "due_date", value "04/03/2026": ambiguous date, because no date in this file has a day '
        "above 12 to prove the DD/MM/YYYY order; use YYYY-MM-DD, or choose the date order (day first or month "
        "first) for this import",
    ]
    assert record.counts["refused_rows"] == 2
    assert record.counts["detected"]["date_order"] == "unknown (ambiguous dates)"
    assert Invoice.objects.count() == 0


def test_impossible_date_message(tmp_path):
    rows = [invoice_row(invoice_number=f"INV-{n}", due_date="15/11/2026") for n in range(1, 6)]
    rows.insert(2, None)
    rows[-1]["due_date"] = "31/02/2026"

    record = import_rows(tmp_path, rows)

    assert record.errors == ['row 7, column "due_date", value "31/02/2026": not a date; use YYYY-MM-DD or DD/MM/YYYY']


def test_two_digit_year_rejected():
    with pytest.raises(CellError, match="two-digit year"):
        parsing.parse_date("25/12/26", day_first=True)


def test_xlsx_date_cells_and_serials(tmp_path):
    rows = [
        invoice_row(invoice_number="INV-1", due_date=datetime.datetime(2026, 12, 1), issue_date=datetime.date(2026, 11, 1)),
        invoice_row(invoice_number="INV-2", due_date=46357, issue_date=None),
    ]
    path = write_xlsx(tmp_path / "dates.xlsx", TEMPLATE_INVOICE_HEADER, rows)

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert Invoice.objects.get(number="INV-1").due_date == datetime.date(2026, 12, 1)
    assert Invoice.objects.get(number="INV-1").issue_date == datetime.date(2026, 11, 1)
    assert Invoice.objects.get(number="INV-2").due_date == datetime.date(2026, 12, 1)
    assert Invoice.objects.get(number="INV-2").issue_date is None


def test_excel_serial_in_csv_text():
    assert parsing.parse_date("46357", day_first=True) == datetime.date(2026, 12, 1)


# Identifiers ------------------------------------------------------------------------------


def test_identifiers_keep_leading_zeros(tmp_path):
    record = import_rows(tmp_path, [invoice_row(customer_id="000123", invoice_number="0099")])

    assert record.status == ImportRecord.Status.APPLIED
    invoice = Invoice.objects.get()
    assert invoice.number == "0099"
    assert invoice.customer.external_id == "000123"


def test_xlsx_numeric_identifier_becomes_text(tmp_path):
    path = write_xlsx(tmp_path / "ids.xlsx", TEMPLATE_INVOICE_HEADER, [invoice_row(customer_id=1001.0, invoice_number=77)])

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert Invoice.objects.get().number == "77"
    assert Customer.objects.get().external_id == "1001"


def test_scientific_notation_identifier_rejected(tmp_path):
    record = import_rows(tmp_path, [invoice_row(customer_id="1.23E+05")])

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == [
        'row 2, column "customer_id", value "1.23E+05": an id in scientific notation, so the spreadsheet has '
        "already lost its last digits; format the column as Text and type the ids again"
    ]


# Row numbers ------------------------------------------------------------------------------


def test_row_numbers_match_spreadsheet(tmp_path):
    rows = [
        invoice_row(invoice_number="INV-1", description="first line\nsecond line\nthird line"),
        None,
        invoice_row(invoice_number="INV-2"),
        [],
        invoice_row(invoice_number="INV-3", amount="ten"),
    ]

    record = import_rows(tmp_path, rows)

    # Header 1, INV-1 2 (three physical lines), blank 3, INV-2 4, blank 5, INV-3 6.
    assert record.errors == ['row 6, column "amount", value "ten": not an amount; enter a number such as 1234.50, without letters']
    assert record.row_count == 3


def test_xlsx_row_numbers_count_blank_rows(tmp_path):
    rows = [invoice_row(), None, None, invoice_row(invoice_number="INV-2", due_date="soon")]
    path = write_xlsx(tmp_path / "rows.xlsx", TEMPLATE_INVOICE_HEADER, rows)

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.errors == ['row 5, column "due_date", value "soon": not a date; use YYYY-MM-DD or DD/MM/YYYY']


def test_row_of_empty_cells_skipped(tmp_path):
    rows = [invoice_row(), ["", "", ""], invoice_row(invoice_number="INV-2")]

    record = import_rows(tmp_path, rows)

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert record.row_count == 2


# XLSX formulas ----------------------------------------------------------------------------


def test_formula_without_cached_value_rejected(tmp_path):
    path = write_xlsx(tmp_path / "formula.xlsx", TEMPLATE_INVOICE_HEADER, [invoice_row(amount_due="=N2-O2")])

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == [
        'row 2, column "amount_due", value "": the formula in cell P2 has no saved result; '
        "open the file in Excel or LibreOffice, save it and import it again"
    ]


def test_formula_with_cached_value_uses_it(tmp_path):
    path = write_xlsx(tmp_path / "formula.xlsx", TEMPLATE_INVOICE_HEADER, [invoice_row(amount_due="=N2-O2")])
    # openpyxl cannot calculate; write the cached result the way Excel stores it.
    import zipfile

    with zipfile.ZipFile(path) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    sheet = contents["xl/worksheets/sheet1.xml"].decode()
    assert "<f>N2-O2</f><v></v>" in sheet or "<f>N2-O2</f><v />" in sheet
    sheet = sheet.replace("<f>N2-O2</f><v></v>", "<f>N2-O2</f><v>100</v>").replace("<f>N2-O2</f><v />", "<f>N2-O2</f><v>100</v>")
    contents["xl/worksheets/sheet1.xml"] = sheet.encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert Invoice.objects.get().amount_due == Decimal("100.00")


# Customer details -------------------------------------------------------------------------


def test_phone_normalised_with_country_as_region(tmp_path):
    record = import_rows(tmp_path, [invoice_row(phone="01 40 20 50 50", country="FR")])

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    customer = Customer.objects.get()
    assert customer.phone == "+33140205050"
    assert customer.effective_time_zone == "Europe/Paris"


def test_unparseable_phone_rejected(tmp_path):
    record = import_rows(tmp_path, [invoice_row(phone="call reception")])

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors[0].startswith('row 2, column "phone", value "call reception": not a phone number;')


def test_time_zone_from_phone(tmp_path):
    # Spain has two clocks (Madrid, Canary Islands); a Madrid landline settles it.
    record = import_rows(tmp_path, [invoice_row(country="ES", phone="+34 912 345 678")])

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert Customer.objects.get().effective_time_zone == "Europe/Madrid"


def test_invalid_customer_type_lists_accepted_values(tmp_path):
    record = import_rows(tmp_path, [invoice_row(customer_type="charity")])

    assert record.errors == ['row 2, column "customer_type", value "charity": not an accepted value; use one of: business, consumer']


def test_blank_required_cell_rejected(tmp_path):
    record = import_rows(tmp_path, [invoice_row(customer_name="  ")])

    assert record.errors == ['row 2, column "customer_name", value "  ": missing value; fill in customer_name']


def test_workbook_reader_opens_first_sheet_only(tmp_path):
    workbook = openpyxl.Workbook()
    workbook.active.append(TEMPLATE_INVOICE_HEADER)
    workbook.active.append([invoice_row().get(name) for name in TEMPLATE_INVOICE_HEADER])
    other = workbook.create_sheet("Notes")
    other.append(["not", "a", "header"])
    path = tmp_path / "two-sheets.xlsx"
    workbook.save(path)

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert Invoice.objects.count() == 1


def test_xlsx_float_amount_read_at_excel_precision(tmp_path):
    rows = [invoice_row(amount=0.1 + 0.2, amount_due=0.1 + 0.2, amount_paid=0)]
    path = write_xlsx(tmp_path / "floats.xlsx", TEMPLATE_INVOICE_HEADER, rows)

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert Invoice.objects.get().amount == Decimal("0.30")


def test_xlsx_float_amount_with_extra_decimals_rejected(tmp_path):
    path = write_xlsx(tmp_path / "floats.xlsx", TEMPLATE_INVOICE_HEADER, [invoice_row(amount=100.005, amount_due=100)])

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors[0].startswith('row 2, column "amount", value "100.005": 3 decimal places')


def test_xlsx_long_numeric_identifier_rejected(tmp_path):
    path = write_xlsx(tmp_path / "ids.xlsx", TEMPLATE_INVOICE_HEADER, [invoice_row(invoice_number=1234567890123456789)])

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.REFUSED
    assert "too long for a number cell" in record.errors[0]


# Chosen encoding, delimiter and date order ---------------------------------------------------


def test_windows_1252_names_and_euro(tmp_path):
    rows = [
        invoice_row(customer_id="M-1", customer_name="Müller", description="Société Générale, 5 €"),
        invoice_row(customer_id="S-1", customer_name="Société Générale", invoice_number="INV-2", description="€"),
    ]

    detected = import_rows(tmp_path, rows, encoding="cp1252")

    assert detected.status == ImportRecord.Status.APPLIED, detected.errors
    assert detected.counts["detected"]["encoding"] == "windows-1252"
    assert Customer.objects.get(external_id="M-1").name == "Müller"
    assert Customer.objects.get(external_id="S-1").name == "Société Générale"
    assert Invoice.objects.get(number="INV-1").description == "Société Générale, 5 €"
    assert Invoice.objects.get(number="INV-2").description == "€"


def test_chosen_encoding_used(tmp_path):
    path = write_csv(tmp_path / "a.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(customer_name="Müller")], encoding="cp1252")

    chosen = import_preview(path, kind="invoices", source_name="Spreadsheet", encoding="windows-1252")
    wrong = import_preview(path, kind="invoices", source_name="Spreadsheet", encoding="utf-8")

    assert chosen.status == ImportRecord.Status.PREVIEWED, chosen.errors
    assert chosen.plan[0]["fields"]["name"] == [None, "Müller"]
    assert wrong.status == ImportRecord.Status.REFUSED
    assert wrong.errors[0].startswith("the file is not valid utf-8 text (byte 0xfc at offset")


def test_chosen_delimiter_used(tmp_path):
    path = write_csv(tmp_path / "a.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(description="a;b;c;d;e")], delimiter="|")

    record = import_preview(path, kind="invoices", source_name="Spreadsheet", delimiter="|")

    assert record.status == ImportRecord.Status.PREVIEWED, record.errors
    assert record.counts["detected"]["delimiter"] == "pipe"


def test_chosen_day_first_needs_no_proof(tmp_path):
    path = write_csv(tmp_path / "a.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(issue_date="03/04/2026", due_date="05/04/2026")])

    record = import_preview(path, kind="invoices", source_name="Spreadsheet", date_order="day-first")

    assert record.status == ImportRecord.Status.PREVIEWED, record.errors
    invoice = next(entry for entry in record.plan if entry["entity"] == "invoice")
    assert invoice["fields"]["issue_date"] == [None, "2026-04-03"]
    assert invoice["fields"]["due_date"] == [None, "2026-04-05"]


def test_month_first_rejects_day_above_twelve(tmp_path):
    path = write_csv(tmp_path / "a.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(due_date="31/01/2026")])

    record = import_preview(path, kind="invoices", source_name="Spreadsheet", date_order="month_first")

    assert record.errors == ['row 2, column "due_date", value "31/01/2026": not a date; use YYYY-MM-DD or MM/DD/YYYY']


# Timestamps, Excel's 1904 date system, merged cells, styled empty rows -----------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-30 23:30", datetime.date(2026, 11, 30)),  # UTC, London is UTC in winter
        ("2026-11-30 23:30:00-05:00", datetime.date(2026, 12, 1)),
        ("2026-11-30T23:30:00+01:00", datetime.date(2026, 11, 30)),
        ("2026-12-01 00:30 Europe/Paris", datetime.date(2026, 11, 30)),
        ("2026-11-30 20:00 America/Los_Angeles", datetime.date(2026, 12, 1)),
        ("2026-11-30T23:30Z", datetime.date(2026, 11, 30)),
        ("2026-07-31 23:30", datetime.date(2026, 8, 1)),  # London is UTC+1 in summer
    ],
)
def test_timestamp_local_date(text, expected):
    assert parsing.parse_timestamp(text) == expected


def test_date_column_accepts_zoned_timestamp():
    assert parsing.parse_date("2026-11-30 20:00 America/Los_Angeles") == datetime.date(2026, 12, 1)


def test_unknown_zone_rejected():
    with pytest.raises(CellError, match='unknown time zone "Mars/Olympus"'):
        parsing.parse_timestamp("2026-11-30 20:00 Mars/Olympus")


@pytest.mark.parametrize(("text", "expected"), [("31 Dec 2026", "2026-12-31"), ("Dec 31, 2026", "2026-12-31"), ("1-Feb-2027", "2027-02-01")])
def test_dates_with_month_names(text, expected):
    assert parsing.parse_date(text).isoformat() == expected


def test_xlsx_1904_serial_numbers(tmp_path):
    workbook = openpyxl.Workbook()
    workbook.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    sheet = workbook.active
    sheet.append(TEMPLATE_INVOICE_HEADER)
    row = invoice_row(issue_date=None, due_date=None)
    sheet.append([row[name] for name in TEMPLATE_INVOICE_HEADER])
    # Serial 45000 is 2027-03-16 in the 1904 system and 2023-03-15 in the 1900 system.
    sheet.cell(row=2, column=TEMPLATE_INVOICE_HEADER.index("due_date") + 1, value=45000)
    path = tmp_path / "mac.xlsx"
    workbook.save(path)

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert Invoice.objects.get().due_date == datetime.date(2027, 3, 16)


def test_merged_cells_rejected_naming_cells(tmp_path):
    path = write_xlsx(tmp_path / "merged.xlsx", TEMPLATE_INVOICE_HEADER, [invoice_row(), invoice_row(invoice_number="INV-2")])
    workbook = openpyxl.load_workbook(path)
    workbook.active.merge_cells("A2:A3")
    workbook.save(path)

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors[0] == (
        "row 2: cells A2:A3 are merged; unmerge them (Home > Merge & Center) and fill in every cell, then import the file again"
    )
    assert Invoice.objects.count() == 0


def test_styled_empty_tail_is_fast(tmp_path):
    path = write_xlsx(tmp_path / "tail.xlsx", TEMPLATE_INVOICE_HEADER, [invoice_row(invoice_number=f"INV-{n}") for n in range(10)])
    workbook = openpyxl.load_workbook(path)
    workbook.active.cell(row=1048576, column=1).fill = openpyxl.styles.PatternFill("solid", fgColor="FFFF00")
    workbook.save(path)

    started = time.perf_counter()
    record = import_preview(path, kind="invoices", source_name="Spreadsheet")
    elapsed = time.perf_counter() - started

    assert record.status == ImportRecord.Status.PREVIEWED, record.errors
    assert record.row_count == 10
    # Reading a million gap rows takes about a second; ten rows take milliseconds.
    assert elapsed < 0.5


# Progress --------------------------------------------------------------------------------


def test_progress_reported_every_thousand_rows(tmp_path):
    rows = [invoice_row(invoice_number=f"INV-{n}") for n in range(2500)]
    path = write_csv(tmp_path / "big.csv", TEMPLATE_INVOICE_HEADER, rows)
    calls = []

    record = import_preview(path, kind="invoices", source_name="Spreadsheet", progress=lambda done, total: calls.append((done, total)))
    import_confirm(record, progress=lambda done, total: calls.append((done, total)))

    assert {total for _done, total in calls} == {2500}
    assert (1000, 2500) in calls
    assert (2000, 2500) in calls
    assert calls[-1] == (2500, 2500)
    # No stretch of more than 1,000 rows goes unreported within a phase.
    done_values = [done for done, _total in calls]
    assert all(later - earlier <= 1000 for earlier, later in zip(done_values, done_values[1:]) if later >= earlier)
