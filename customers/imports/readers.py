"""Read CSV and XLSX files into rows numbered as a spreadsheet program shows them.

Cells keep the type the file gives. CSV cells are text, and XLSX cells are text, int,
float, datetime or bool. Parsing into domain values happens in `parsing`, so that every rule applies to both
formats.
"""

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from customers.imports.errors import ImportFileError

CSV_DELIMITERS = (",", ";", "\t")
XLSX_SIGNATURE = b"PK\x03\x04"


@dataclass
class SheetRow:
    """One non-blank data row: its spreadsheet row number and its cells by header position."""

    number: int
    cells: list
    # Cells whose formula has no cached result, by header position: "C7" style references.
    uncached_formulas: dict[int, str] = field(default_factory=dict)


@dataclass
class Table:
    headers: list[str]
    rows: list[SheetRow]
    file_format: str  # "csv" or "xlsx"
    encoding: str = ""
    delimiter: str = ""


def is_blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def read_table(path, *, file_name: str | None = None) -> Table:
    """Read a CSV or XLSX file; the format comes from the content, not the file name."""
    data = Path(path).read_bytes()
    if data.startswith(XLSX_SIGNATURE):
        return read_xlsx(data)
    name = (file_name or str(path)).lower()
    if name.endswith((".xls", ".ods", ".numbers")):
        raise ImportFileError(f"{Path(name).name} is not a CSV or XLSX file; save it as CSV (UTF-8) or Excel Workbook (.xlsx)")
    return read_csv(data)


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode as UTF-8 (with or without BOM), else as Windows-1252, and return (text, encoding).

    Windows-1252 leaves five byte values undefined, so bytes that are neither valid UTF-8
    nor Windows-1252 raise ImportFileError instead of producing mojibake.
    """
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError as error:
        raise ImportFileError(
            f"the file is neither UTF-8 nor Windows-1252 text (byte 0x{data[error.start]:02x} at offset "
            f"{error.start}); save it as CSV (UTF-8) and import it again"
        ) from None


def sniff_delimiter(header_line: str) -> str:
    """Pick the delimiter that occurs most often in the header line, outside quotes."""
    counts = dict.fromkeys(CSV_DELIMITERS, 0)
    in_quotes = False
    for char in header_line:
        if char == '"':
            in_quotes = not in_quotes
        elif not in_quotes and char in counts:
            counts[char] += 1
    best = max(CSV_DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def read_csv(data: bytes) -> Table:
    text, encoding = decode_text(data)
    if not text.strip():
        raise ImportFileError("the file is empty; export the sheet with its header row")
    first_line = text.splitlines()[0] if text.splitlines() else ""
    delimiter = sniff_delimiter(first_line)

    # csv.reader returns one record per row, with [] for a blank line and a multi-line
    # quoted cell inside a single record, so the record index is the spreadsheet row.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        records = list(reader)
    except csv.Error as error:
        raise ImportFileError(f"the CSV file is malformed near line {reader.line_num}: {error}; export it again") from None

    headers = [cell.strip() for cell in records[0]]
    rows = []
    for number, record in enumerate(records[1:], start=2):
        if all(is_blank(cell) for cell in record):
            continue
        rows.append(SheetRow(number=number, cells=record))
    return Table(headers=headers, rows=rows, file_format="csv", encoding=encoding, delimiter=delimiter)


def read_xlsx(data: bytes) -> Table:
    """Read the first worksheet with openpyxl in read-only mode.

    The workbook is opened twice: once with cached formula results (data_only) for the
    values, and once with formulas, to name a formula cell that has no cached result
    (a file written by a program that does not calculate formulas).
    """
    import openpyxl
    from openpyxl.utils import get_column_letter

    try:
        values_book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        formulas_book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as error:  # openpyxl raises many types for a damaged archive
        raise ImportFileError(f"the XLSX file cannot be opened ({error}); save it again from Excel as .xlsx") from None

    try:
        values_sheet = values_book.worksheets[0]
        formulas_sheet = formulas_book.worksheets[0]
        headers: list[str] | None = None
        rows = []
        number = 0
        for value_cells, formula_cells in zip(values_sheet.iter_rows(), formulas_sheet.iter_rows(), strict=False):
            # read-only sheets yield EmptyCell placeholders without a row number for gaps.
            numbered = next((cell.row for cell in value_cells if getattr(cell, "row", None)), None)
            number = numbered or number + 1
            values = [cell.value for cell in value_cells]
            if headers is None:
                # The first row is the header row, as in a CSV file.
                headers = ["" if value is None else str(value).strip() for value in values]
                continue
            uncached = {
                position: f"{get_column_letter(position + 1)}{number}"
                for position, (value, formula_cell) in enumerate(zip(values, formula_cells, strict=False))
                if value is None and getattr(formula_cell, "data_type", None) == "f"
            }
            if all(is_blank(value) for value in values) and not uncached:
                continue
            rows.append(SheetRow(number=number, cells=values, uncached_formulas=uncached))
    finally:
        values_book.close()
        formulas_book.close()

    if headers is None:
        raise ImportFileError("the first worksheet is empty; put the header row in row 1 of the first sheet")
    while headers and not headers[-1]:
        headers.pop()
    return Table(headers=headers, rows=rows, file_format="xlsx")
