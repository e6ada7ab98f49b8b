"""Read CSV and XLSX files into rows numbered as a spreadsheet program shows them.

Cells keep the type the file gives. CSV cells are text, and XLSX cells are text, int,
float, datetime or bool. Parsing into domain values happens in `parsing`, so that every rule applies to both
formats.

The reader does not decide which row is the header: `Table.records` contains every
non-blank row, and the layout detection picks the header row (row 1 for most layouts,
a later row for reports with title rows, such as QuickBooks' A/R Aging Detail).
"""

import codecs
import contextlib
import csv
import gc
import io
import itertools
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from customers.imports.errors import ImportFileError

CSV_DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
XLSX_SIGNATURE = b"PK\x03\x04"
EXCEL_1900_EPOCH = "1900"
EXCEL_1904_EPOCH = "1904"
# Our exports put a single quote before text that a spreadsheet would run as a formula
# (customers.exports.escape_formula). Reading strips it again, so an export imports back
# unchanged. A value that really starts with a quote and one of these characters loses
# the quote.
ESCAPED_FORMULA_PREFIXES = ("'=", "'+", "'-", "'@", "'\t", "'\r")
# A <mergeCell ref="A1:C1"/> element of a worksheet's XML, with or without a namespace prefix.
MERGE_CELL = re.compile(rb'<(?:\w+:)?mergeCell\s+ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"')
# A <f> (formula) element of a worksheet's XML, with or without a namespace prefix.
FORMULA_ELEMENT = re.compile(rb"<(?:\w+:)?f[\s>/]")
# A <row> element of a worksheet's XML, with or without a namespace prefix.
ROW_ELEMENT = re.compile(rb"<(?:\w+:)?row[\s>/]")
# The worksheet's XML is scanned in chunks of this many bytes, so that it is never held whole.
SHEET_SCAN_CHUNK = 1 << 20
# Bytes kept from the previous chunk, longer than any element the scan looks for.
SHEET_SCAN_OVERLAP = 256


def unescape_formula(cell):
    if isinstance(cell, str) and cell.startswith(ESCAPED_FORMULA_PREFIXES):
        return cell[1:]
    return cell


@dataclass
class SheetRow:
    """One non-blank row: its spreadsheet row number and its cells by header position."""

    number: int
    cells: list
    # Cells whose formula has no cached result, by header position: "C7" style references.
    uncached_formulas: dict[int, str] = field(default_factory=dict)


@dataclass
class MergedRange:
    reference: str  # "A3:C3"
    first_row: int
    last_row: int


@dataclass
class Table:
    headers: list[str]
    # CsvRecords or XlsxRecords, which read the file again at each iteration.
    rows: "list[SheetRow] | StreamedRecords"
    file_format: str  # "csv" or "xlsx"
    encoding: str = ""
    delimiter: str = ""
    # Every non-blank row, the header included; `headers` and `rows` split it at `header_row`.
    records: "list[SheetRow] | StreamedRecords" = field(default_factory=list)
    header_row: int = 1
    # The workbook's date system: Excel for Mac before 2011 counted serial numbers from 1904.
    epoch: str = EXCEL_1900_EPOCH
    merged: list[MergedRange] = field(default_factory=list)

    def split_at(self, index: int) -> "Table":
        """Return the table with `records[index]` as the header row and the rows below it as data."""
        header = self.records[index]
        headers = ["" if value is None else str(value).strip() for value in header.cells]
        while headers and not headers[-1]:
            headers.pop()
        self.headers = headers
        self.rows = self.records[index + 1 :]
        self.header_row = header.number
        return self


def is_blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def read_table(path, *, file_name: str | None = None, encoding: str | None = None, delimiter: str | None = None) -> Table:
    """Read a CSV or XLSX file; the format comes from the content, not the file name.

    `encoding` and `delimiter` override the detection for CSV files. The rows of both
    formats are read from the path again at each pass, so the file's bytes and rows are
    never all in memory. An XLSX table keeps the workbook's shared strings.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        signature = handle.read(len(XLSX_SIGNATURE))
    if signature == XLSX_SIGNATURE:
        return read_xlsx(path)
    name = (file_name or str(path)).lower()
    if name.endswith((".xls", ".ods", ".numbers")):
        raise ImportFileError(f"{Path(name).name} is not a CSV or XLSX file; save it as CSV (UTF-8) or Excel Workbook (.xlsx)")
    return read_csv(path, encoding=encoding, delimiter=delimiter)


# Bytes decoded at a time while the encoding is checked.
DECODE_CHUNK = 1 << 20


def byte_chunks(source: "bytes | Path"):
    if isinstance(source, Path):
        with open(source, "rb") as handle:
            while chunk := handle.read(DECODE_CHUNK):
                yield chunk
    else:
        for start in range(0, len(source), DECODE_CHUNK):
            yield source[start : start + DECODE_CHUNK]


class DecodeFailure(Exception):
    def __init__(self, offset: int, byte: int):
        super().__init__(offset, byte)
        self.offset = offset
        self.byte = byte


def decode_head(source: "bytes | Path", codec: str) -> tuple[str, bool]:
    """Decode the whole source with `codec`, one chunk at a time, keeping only the text of
    the first chunk. Returns (that text, whether any character is not whitespace), and
    raises DecodeFailure with the offset and value of the first invalid byte."""
    # utf-8-sig reports error positions after its byte order mark, so the mark is
    # skipped here and counted in the offsets.
    strip_bom = codec == "utf-8-sig"
    decoder = codecs.getincrementaldecoder("utf-8" if strip_bom else codec)(errors="strict")
    head = None
    has_text = False
    consumed = 0

    # An empty final chunk makes the decoder report bytes left incomplete at the end.
    pieces = itertools.chain(((chunk, False) for chunk in byte_chunks(source)), [(b"", True)])
    for chunk, final in pieces:
        if strip_bom:
            strip_bom = False
            if chunk.startswith(codecs.BOM_UTF8):
                chunk = chunk[len(codecs.BOM_UTF8) :]
                consumed = len(codecs.BOM_UTF8)
        pending = decoder.getstate()[0]
        try:
            text = decoder.decode(chunk, final=final)
        except UnicodeDecodeError as error:
            raise DecodeFailure(consumed - len(pending) + error.start, error.object[error.start]) from None

        consumed += len(chunk)
        if head is None:
            head = text
        has_text = has_text or bool(text.strip())
    return head, has_text


def detect_encoding(source: "bytes | Path", encoding: str | None = None) -> tuple[str, str, bool]:
    """Decode as UTF-16 when the file starts with its byte order mark, else as UTF-8 (with
    or without BOM), else as Windows-1252. Returns (encoding, the text of the first
    chunk, whether the file has any text that is not whitespace).

    Windows-1252 leaves five byte values undefined, so bytes that are neither valid UTF-8
    nor Windows-1252 raise ImportFileError instead of producing mojibake. A given
    `encoding` is used as it is, and bytes it cannot decode raise ImportFileError.
    """
    if encoding:
        try:
            name = codecs.lookup(encoding).name
        except LookupError:
            raise ImportFileError(f'unknown encoding "{encoding}"; use utf-8 or windows-1252') from None
        try:
            head, has_text = decode_head(source, "utf-8-sig" if name == "utf-8" else name)
        except DecodeFailure as failure:
            raise ImportFileError(
                f"the file is not valid {encoding} text (byte 0x{failure.byte:02x} at offset {failure.offset}); "
                "choose another encoding or let the import detect it"
            ) from None
        return "windows-1252" if name == "cp1252" else name, head, has_text
    start = next(byte_chunks(source), b"")
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Excel's "Unicode Text" export: UTF-16 with a byte order mark, tab-separated.
        try:
            head, has_text = decode_head(source, "utf-16")
        except DecodeFailure as failure:
            raise ImportFileError(
                f"the file starts as UTF-16 text but byte offset {failure.offset} is not; save it again as CSV (UTF-8)"
            ) from None
        return "utf-16", head, has_text
    try:
        head, has_text = decode_head(source, "utf-8-sig")
        return "utf-8", head, has_text
    except DecodeFailure as failure:
        if start.startswith(codecs.BOM_UTF8):
            # The byte order mark marks the file as UTF-8, so reading it as Windows-1252
            # would give mojibake.
            raise ImportFileError(
                f"the file starts as UTF-8 text but byte 0x{failure.byte:02x} at offset {failure.offset} is not; "
                "save it again as CSV (UTF-8)"
            ) from None
    try:
        head, has_text = decode_head(source, "cp1252")
    except DecodeFailure as failure:
        raise ImportFileError(
            f"the file is neither UTF-8 nor Windows-1252 text (byte 0x{failure.byte:02x} at offset "
            f"{failure.offset}); save it as CSV (UTF-8) and import it again"
        ) from None
    return "windows-1252", head, has_text


def sniff_delimiter(lines: list[str]) -> str:
    """Pick the delimiter that occurs most often in one line, outside quotes.

    The lines are tried in order, so a report whose first lines are titles without
    delimiters is read from its first line that has some.
    """
    for line in lines:
        counts = dict.fromkeys(CSV_DELIMITERS, 0)
        in_quotes = False
        for char in line:
            if char == '"':
                in_quotes = not in_quotes
            elif not in_quotes and char in counts:
                counts[char] += 1
        best = max(CSV_DELIMITERS, key=lambda delimiter: counts[delimiter])
        if counts[best]:
            return best
    return ","


def first_lines(text: str, count: int) -> list[str]:
    """Return `text.splitlines()[:count]` without splitting the whole text."""
    size = 1 << 16
    while True:
        head = text[:size]
        lines = head.splitlines()
        # More than `count` lines means the first `count` ones end before the cut.
        if len(lines) > count or len(head) == len(text):
            return lines[:count]
        size *= 4


def read_csv(source: "bytes | Path", *, encoding: str | None = None, delimiter: str | None = None) -> Table:
    """Read a CSV file from its path, or from its bytes."""
    encoding_used, head, has_text = detect_encoding(source, encoding)
    if not has_text:
        raise ImportFileError("the file is empty; export the sheet with its header row")
    if delimiter is None:
        delimiter = sniff_delimiter(first_lines(head, 30))
    elif len(delimiter) != 1:
        raise ImportFileError(f'the delimiter "{delimiter}" is not one character; use , or ; or a tab')
    del head
    codec = {"utf-8": "utf-8-sig", "windows-1252": "cp1252"}.get(encoding_used, encoding_used)
    records = CsvRecords(source, codec, delimiter)
    if not records:
        raise ImportFileError("the file is empty; export the sheet with its header row")

    table = Table(headers=[], rows=[], file_format="csv", encoding=encoding_used, delimiter=delimiter, records=records)
    return table.split_at(0)


class StreamedRecords:
    """The non-blank records of a file from the `skip`-th on, as SheetRows.

    Each iteration reads the file (or its bytes) again, as a stream, so the rows of a
    large file are never all in memory at once. The first full iteration counts the
    length. Subclasses yield every non-blank record from `read_records`, return a copy
    with another `skip` from `skipped`, and estimate the length for progress reports.
    NOTE: a file changed on disk between two passes gives the second pass its new rows.
    The import services read files that the admin stored or that the CLI was given.
    """

    def __init__(self, skip: int = 0):
        self.skip = skip
        self.length: int | None = None

    def read_records(self):
        raise NotImplementedError

    def skipped(self, skip: int) -> "StreamedRecords":
        raise NotImplementedError

    def estimated_length(self) -> int:
        raise NotImplementedError

    def __iter__(self):
        present = 0
        # closing() ends the inner generator, and so closes the file, when this iteration
        # ends or is abandoned, without relying on reference counting to finalize it.
        with contextlib.closing(self.read_records()) as records:
            for row in records:
                present += 1
                if present > self.skip:
                    yield row
        self.length = max(present - self.skip, 0)

    def __len__(self) -> int:
        if self.length is None:
            for _row in self:
                pass
        return self.length

    def __bool__(self) -> bool:
        return next(iter(self), None) is not None

    def __getitem__(self, item):
        if isinstance(item, slice):
            start = item.start or 0
            if item.stop is None and item.step is None and start >= 0:
                rest = self.skipped(self.skip + start)
                if self.length is not None:
                    rest.length = max(self.length - start, 0)
                return rest
            return list(itertools.islice(self, start, item.stop, item.step))
        if item < 0:
            raise IndexError(f"{type(self).__name__} does not support negative indexes")
        row = next(itertools.islice(self, item, None), None)
        if row is None:
            raise IndexError(item)
        return row


class CsvRecords(StreamedRecords):
    """The non-blank records of a CSV file. A malformed record raises ImportFileError
    when the iteration reaches it."""

    def __init__(self, data: "bytes | Path", codec: str, delimiter: str, skip: int = 0):
        super().__init__(skip)
        self.data = data
        self.codec = codec
        self.delimiter = delimiter

    def read_records(self):
        # csv.reader returns one record per row, with [] for a blank line and a multi-line
        # quoted cell inside a single record, so the record index is the spreadsheet row.
        binary = open(self.data, "rb") if isinstance(self.data, Path) else io.BytesIO(self.data)
        stream = io.TextIOWrapper(binary, encoding=self.codec, newline="")
        # strict: a quote that never closes, or text after a closing quote, is an error.
        # Without it, csv reads an unclosed quote to the end of the file as one cell.
        reader = csv.reader(stream, delimiter=self.delimiter, strict=True)
        start_line = 1  # where the record being read starts
        try:
            for number, record in enumerate(reader, start=1):
                start_line = reader.line_num + 1
                # CSV cells are text, so a row is blank when its joined cells are whitespace.
                if not "".join(record).strip():
                    continue
                cells = [
                    cell[1:] if cell[:1] == "'" and cell.startswith(ESCAPED_FORMULA_PREFIXES) else cell for cell in record
                ]
                yield SheetRow(number=number, cells=cells)
        except csv.Error as error:
            raise ImportFileError(csv_error_message(error, start_line)) from None
        finally:
            stream.close()

    def skipped(self, skip: int) -> "CsvRecords":
        return CsvRecords(self.data, self.codec, self.delimiter, skip=skip)

    def estimated_length(self) -> int:
        """Return the exact length once counted, else the number of line breaks, which
        counts blank rows and the lines inside multi-line cells too."""
        if self.length is not None:
            return self.length
        if isinstance(self.data, Path):
            with open(self.data, "rb") as handle:
                lines = 0
                ends_with_newline = False
                while chunk := handle.read(1 << 20):
                    lines += chunk.count(b"\n")
                    ends_with_newline = chunk.endswith(b"\n")
        else:
            lines, ends_with_newline = self.data.count(b"\n"), self.data.endswith(b"\n")
        return max(lines + (not ends_with_newline) - self.skip, 0)


def csv_error_message(error: csv.Error, line: int) -> str:
    """Describe a csv.Error in the record that starts on `line`."""
    reason = str(error)
    if reason == "unexpected end of data":
        return (
            f'the CSV file is malformed near line {line}: a quoted cell that starts there is never closed; '
            'close its quote (") or export the file again'
        )
    if reason.endswith("expected after '\"'"):
        return (
            f"the CSV file is malformed near line {line}: a quoted cell has text after its closing quote; "
            'put the whole cell in quotes and double each quote inside it (""), or export the file again'
        )
    return f"the CSV file is malformed near line {line}: {reason}; export it again"


class XlsxRecords(StreamedRecords):
    """The non-blank records of an XLSX file's first worksheet.

    `values_sheet` and `formulas_sheet` are the first worksheets of the workbooks that
    `read_xlsx` loaded once and closed again. They keep the shared strings, date formats
    and epoch that parsing needs. Each iteration opens the archive again and parses the
    worksheet's XML, a second time beside the first with `formulas_sheet` when the sheet
    has formulas.
    """

    def __init__(self, source: "bytes | Path", values_sheet, formulas_sheet=None, skip: int = 0):
        super().__init__(skip)
        self.source = source
        self.values_sheet = values_sheet
        self.formulas_sheet = formulas_sheet
        # The <row> elements of the worksheet's XML, counted when it has no dimension.
        self.row_elements: int | None = None

    def read_records(self):
        with contextlib.ExitStack() as stack:
            values = present_rows(self.values_sheet, stack.enter_context(open_sheet_xml(self.source, self.values_sheet)))
            formulas = None
            if self.formulas_sheet is not None:
                formulas_xml = stack.enter_context(open_sheet_xml(self.source, self.formulas_sheet))
                formulas = present_rows(self.formulas_sheet, formulas_xml)
            yield from xlsx_records(values, formulas)

    def skipped(self, skip: int) -> "XlsxRecords":
        rest = XlsxRecords(self.source, self.values_sheet, self.formulas_sheet, skip=skip)
        rest.row_elements = self.row_elements
        return rest

    def estimated_length(self) -> int:
        """Return the exact length once counted, else the last row of the worksheet's
        stored dimension, or without one (openpyxl 3.1.5's write-only mode stores none)
        the number of <row> elements in its XML. Both estimates count blank rows too."""
        if self.length is not None:
            return self.length
        rows = self.values_sheet.max_row
        if rows is None:
            if self.row_elements is None:
                self.row_elements = count_row_elements(self.source, self.values_sheet)
            rows = self.row_elements
        return max(rows - self.skip, 0)


def read_xlsx(source: "bytes | Path") -> Table:
    """Read the first worksheet of an XLSX file, from its path or its bytes, with openpyxl
    in read-only mode.

    The values come from the cached formula results (data_only). When the sheet has
    formulas, the workbook is loaded a second time with formulas, to name a formula cell
    that has no cached result (a file written by a program that does not calculate
    formulas). Each workbook is loaded once, and the rows are XlsxRecords, which parse
    the worksheet again at each pass.
    """
    if not isinstance(source, bytes):
        source = Path(source)
    values_book = load_read_only_workbook(source, data_only=True)
    values_sheet = values_book.worksheets[0]
    merged, has_formulas = scan_sheet_xml(source, values_sheet)
    formulas_sheet = None
    if has_formulas:
        formulas_sheet = load_read_only_workbook(source, data_only=False).worksheets[0]
    epoch = EXCEL_1904_EPOCH if values_book.epoch.year == 1904 else EXCEL_1900_EPOCH
    # Loading a sheet without a <dimension> element parses all of it to look for one,
    # and openpyxl's parser leaves that tree in reference cycles. The import services
    # pause the cyclic garbage collector, so the tree would stay until the import ends.
    gc.collect()

    records = XlsxRecords(source, values_sheet, formulas_sheet)
    if not records:
        raise ImportFileError("the first worksheet is empty; put the header row in row 1 of the first sheet")
    table = Table(headers=[], rows=[], file_format="xlsx", records=records, epoch=epoch, merged=merged)
    return table.split_at(0)


def load_read_only_workbook(source: "bytes | Path", *, data_only: bool):
    """Load a workbook with openpyxl in read-only mode and close its archive again.

    The workbook keeps what parsing its worksheets needs (shared strings, date formats,
    epoch, each worksheet's XML path and dimension), so a pass over the rows only opens
    the archive. openpyxl 3.1.5 rejects a path whose name does not end in .xlsx, .xlsm,
    .xltx or .xltm, so it gets a file object, and the content alone decides the format.
    """
    import openpyxl

    with open(source, "rb") if isinstance(source, Path) else io.BytesIO(source) as handle:
        try:
            book = openpyxl.load_workbook(handle, read_only=True, data_only=data_only)
        except Exception as error:  # openpyxl raises many types for a damaged archive
            raise ImportFileError(f"the XLSX file cannot be opened ({error}); save it again from Excel as .xlsx") from None
        book.close()
    return book


def open_archive(source: "bytes | Path") -> zipfile.ZipFile:
    return zipfile.ZipFile(source if isinstance(source, Path) else io.BytesIO(source))


@contextlib.contextmanager
def open_sheet_xml(source: "bytes | Path", sheet):
    """Open the XML of a worksheet that `load_read_only_workbook` loaded, as a binary stream.

    Raises ImportFileError when the file can no longer be opened, for example because it
    was replaced or removed after `read_xlsx` loaded it.
    """
    try:
        archive = open_archive(source)
    except (OSError, zipfile.BadZipFile) as error:
        raise ImportFileError(f"the XLSX file cannot be opened ({error}); save it again from Excel as .xlsx") from None
    with archive:
        try:
            xml = archive.open(sheet._worksheet_path.lstrip("/"))
        except KeyError as error:
            raise ImportFileError(f"the XLSX file cannot be opened ({error}); save it again from Excel as .xlsx") from None
        with xml:
            yield xml


def xlsx_records(values_rows, formulas_rows=None):
    """Yield the sheet's non-blank rows from the `present_rows` of its values sheet and,
    when the sheet has formulas, of its formulas sheet. Without `formulas_rows`, no cell
    is reported as an uncached formula."""
    from openpyxl.utils import get_column_letter

    if formulas_rows is None:
        for number, values in values_rows:
            if all(is_blank(value) for value in values):
                continue
            while values and values[-1] is None:
                values.pop()
            yield SheetRow(number=number, cells=[unescape_formula(value) for value in values])
        return

    for (number, values), (_number, formula_types) in zip(values_rows, formulas_rows, strict=False):
        uncached = {
            position: f"{get_column_letter(position + 1)}{number}"
            for position, value in enumerate(values)
            if value is None and formula_types.get(position) == "f"
        }
        if all(is_blank(value) for value in values) and not uncached:
            continue
        while values and values[-1] is None:
            values.pop()
        yield SheetRow(number=number, cells=[unescape_formula(value) for value in values], uncached_formulas=uncached)


def present_rows(sheet, xml):
    """Yield (row number, cell values by position) for the rows that the worksheet XML
    stream `xml` contains, parsed with the shared strings and date formats of `sheet`.

    For a sheet of the formulas book the second item maps positions to data types
    instead, so a formula cell ("f") without a cached value can be named.

    openpyxl's public `iter_rows` fills every gap with empty rows: one styled cell in row
    1,048,576 below ten rows of data costs a million empty rows and about a second. Its
    sheet parser yields only the rows present.
    NOTE: `WorkSheetParser` is internal to openpyxl (checked with 3.1.5).
    """
    from openpyxl.worksheet._reader import WorkSheetParser

    book = sheet.parent
    parser = WorkSheetParser(
        xml,
        sheet._shared_strings,
        data_only=book.data_only,
        epoch=book.epoch,
        date_formats=book._date_formats,
        timedelta_formats=book._timedelta_formats,
    )
    for number, cells in parse_rows(parser, xml):
        if book.data_only:
            width = max((cell["column"] for cell in cells), default=0)
            values = [None] * width
            for cell in cells:
                values[cell["column"] - 1] = cell["value"]
            yield number, values
        else:
            yield number, {cell["column"] - 1: cell["data_type"] for cell in cells}


def parse_rows(parser, xml):
    """Yield (row number, cells) for each <row> of the worksheet XML, as
    `WorkSheetParser.parse` does for rows.

    That method empties each row element but leaves it in the parsed tree until the pass
    ends, so its memory grows with the sheet. This loop removes each row from <sheetData>
    once it is parsed, and drops the row attributes the parser keeps.
    """
    from openpyxl.worksheet._reader import ROW_TAG
    from openpyxl.xml.constants import SHEET_MAIN_NS
    from openpyxl.xml.functions import iterparse

    sheet_data_tag = f"{{{SHEET_MAIN_NS}}}sheetData"
    sheet_data = None
    for event, element in iterparse(xml, events=("start", "end")):
        if event == "start":
            if element.tag == sheet_data_tag:
                sheet_data = element
            continue
        if element.tag != ROW_TAG:
            continue
        row = parser.parse_row(element)
        parser.row_dimensions.clear()
        if sheet_data is not None:
            sheet_data.remove(element)
        yield row


def scan_sheet_xml(source: "bytes | Path", sheet) -> tuple[list[MergedRange], bool]:
    """Return the merged cell ranges of `sheet` and whether it has any formula, read from
    its XML's <mergeCells> and <f> elements.

    openpyxl's read-only worksheets do not expose merges, and loading the workbook in
    normal mode costs memory in proportion to the sheet, so the XML is read from the
    archive instead, in chunks, at the cost of one pass over it.
    """
    path = getattr(sheet, "_worksheet_path", None)
    if not path:  # pragma: no cover - openpyxl 3.1 read-only sheets always have one
        return [], True
    ranges = []
    has_formulas = False
    tail = b""
    with open_archive(source) as archive, archive.open(path.lstrip("/")) as xml:
        while chunk := xml.read(SHEET_SCAN_CHUNK):
            text = tail + chunk
            if not has_formulas and FORMULA_ELEMENT.search(text):
                has_formulas = True
            for match in MERGE_CELL.finditer(text):
                # A match that ends inside the overlap was found in the previous chunk.
                if match.end() > len(tail):
                    ranges.append(merged_range(match))
            tail = text[-SHEET_SCAN_OVERLAP:]
    return ranges, has_formulas


def count_row_elements(source: "bytes | Path", sheet) -> int:
    """Count the <row> elements of the worksheet's XML, scanned in chunks as
    `scan_sheet_xml` does. It only decompresses and searches the XML, so it is much
    faster than parsing the rows with openpyxl."""
    count = 0
    tail = b""
    with open_sheet_xml(source, sheet) as xml:
        while chunk := xml.read(SHEET_SCAN_CHUNK):
            text = tail + chunk
            # A match that ends inside the overlap was counted in the previous chunk.
            count += sum(1 for match in ROW_ELEMENT.finditer(text) if match.end() > len(tail))
            tail = text[-SHEET_SCAN_OVERLAP:]
    return count


def merged_range(match) -> MergedRange:
    first_column, first_row, last_column, last_row = (group.decode() if group else None for group in match.groups())
    reference = f"{first_column}{first_row}" + (f":{last_column}{last_row}" if last_column else "")
    return MergedRange(reference=reference, first_row=int(first_row), last_row=int(last_row or first_row))


def describe_delimiter(delimiter: str) -> str:
    return DELIMITER_NAMES.get(delimiter, repr(delimiter))
