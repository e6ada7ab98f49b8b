"""The import pipeline: validate the rows, plan the changes against the database, apply
the plan in one transaction.

1. `validate` parses every cell and checks rows against each other (duplicate keys,
   customers whose details differ between rows). It reads nothing from the database.
   Most layouts are built a chunk of rows at a time (CHUNKED_BUILDERS), and each chunk
   is planned before the next is read, so memory does not grow with the file's rows.
2. `plan_invoices` / `plan_payments` compare the rows with the stored customers and
   invoices and return JSON-ready entries, one per customer, invoice or payment, with
   the version of each stored row it targets. The import services store them as
   ImportEntry rows (`plan_store`).
3. `apply_plan` locks the targeted rows, checks that their versions are still those of
   the plan (else raises StalePlanError and writes nothing), and writes the entries: on
   PostgreSQL the new rows with INSERT ... SELECT (`set_apply`), the rest in Python.

Stored values in plan entries are JSON: Decimal as text, dates as ISO 8601 text.
"""

import datetime
import functools
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import CharField, F, OuterRef, Q, Subquery
from django.db.models.functions import Cast
from django.utils import timezone

from customers import services as customer_services
from customers.imports import bulk, parsing, set_apply
from customers.imports.errors import CellError, row_message
from customers.imports.layouts import DATE_ORDER_DETECT, DAY_FIRST, MONTH_FIRST, HeaderMatch, Layout
from customers.imports.readers import EXCEL_1900_EPOCH, Table
from customers.models import Customer, Invoice, Payment, Source
from customers.timezones import effective_time_zone

# Keys looked up per query; SQLite allows at most 999 variables in older builds.
LOOKUP_CHUNK = 500
# Keys looked up per query on PostgreSQL, where they go in one array parameter.
ARRAY_LOOKUP_CHUNK = 10_000

CUSTOMER_TYPES = {"business": Customer.Kind.BUSINESS, "consumer": Customer.Kind.CONSUMER}
INVOICE_STATUSES = {
    "open": Invoice.LedgerStatus.OPEN,
    "paid": Invoice.LedgerStatus.PAID,
    "void": Invoice.LedgerStatus.VOID,
    "written_off": Invoice.LedgerStatus.WRITTEN_OFF,
}
STRIPE_DRAFT = "draft"
STRIPE_STATUSES = {
    "draft": STRIPE_DRAFT,
    "open": Invoice.LedgerStatus.OPEN,
    "paid": Invoice.LedgerStatus.PAID,
    "void": Invoice.LedgerStatus.VOID,
    "uncollectible": Invoice.LedgerStatus.WRITTEN_OFF,
}

# Parsed field -> model field, for the customer part of an invoice row.
CUSTOMER_FIELDS = {
    "customer_id": "external_id",
    "customer_name": "name",
    "email": "email",
    "phone": "phone",
    "country": "country",
    "customer_type": "kind",
    "segment": "segment",
    "locale": "locale",
    "time_zone": "time_zone",
}
AMOUNT_FIELDS = ("amount", "amount_paid", "amount_due", "amount_remaining", "total", "subtotal")


class StalePlanError(Exception):
    """A row that the plan targets changed after the plan was made."""


@dataclass
class ParsedRow:
    number: int
    values: dict  # field -> parsed value, for the columns the file has
    raw: dict  # field -> cell as read, for messages


@dataclass
class InvoiceRow:
    number: int
    key: str
    customer: dict  # model field -> value
    invoice: dict  # model field -> value


@dataclass
class PaymentRow:
    number: int
    invoice_number: str
    amount: Decimal
    paid_on: datetime.date
    reference: str
    method: str
    currency: str
    raw: dict


@dataclass
class CreditRow:
    """A credit the customer holds: a credit note, or money received but not applied."""

    number: int
    key: str  # the credit's reference in the source, unique per customer and origin
    customer: dict
    amount: Decimal
    currency: str
    origin: str  # CustomerCredit.Origin
    needs_review: bool = False


@dataclass
class CardRow:
    number: int
    key: str  # the card's id in the source
    customer_key: str
    card: dict  # model field -> value


@dataclass
class ParseContext:
    """File-wide settings the cell parsers need."""

    date_order: str = DATE_ORDER_DETECT
    epoch: str = EXCEL_1900_EPOCH
    # Currency of rows that have none (a QuickBooks report in the company's home currency).
    default_currency: str = ""
    # Set when D/M/Y dates were found but none proved their order.
    date_order_unproven: bool = False


@dataclass
class Validation:
    layout: Layout
    row_count: int
    context: ParseContext = field(default_factory=ParseContext)
    rows: list = field(default_factory=list)  # InvoiceRow, CreditRow, CardRow or PaymentRow
    skipped: list[dict] = field(default_factory=list)
    errors: list[tuple[int, int, str]] = field(default_factory=list)  # (row, column position, message)
    warnings: list[str] = field(default_factory=list)
    # Key cell of every row that has one, refused rows included: a snapshot closes only
    # invoices missing from the file, never those whose row was refused. Collected only
    # when `keep_file_keys` is set, because other imports do not need them.
    file_keys: set[str] = field(default_factory=set)
    keep_file_keys: bool = True
    # Key -> numbers of refused rows with that key, for rows that depend on them.
    refused_keys: dict[str, list[int]] = field(default_factory=dict)
    # Entries for valid rows that cannot be applied without a refused row.
    blocked: list[dict] = field(default_factory=list)
    progress: Callable[[int, int], None] | None = None
    # Key of the file's rows (invoice, customer or card) -> first row, of the rows kept.
    first_row_of_key: dict[str, int] = field(default_factory=dict)
    # Customer key -> (first row, field names, values). The names tuple is shared by the
    # customers of a file, which keeps the map small in a file with many customers.
    customer_seen: dict[str, tuple[int, tuple, tuple]] = field(default_factory=dict)
    customer_field_names: dict[tuple, tuple] = field(default_factory=dict)
    # (invoice number, payment reference) -> first row, in a payments file.
    first_row_of_reference: dict[tuple[str, str], int] = field(default_factory=dict)
    # Inferred payments that an earlier chunk of a payments file already upgrades.
    upgraded_payment_ids: set[int] = field(default_factory=set)
    # Customers already planned, when the rows are planned a chunk at a time.
    planned_customers: set[str] = field(default_factory=set)
    # For GROUPED_BUILDERS built in chunks: the last row of each key in the file, the
    # lines kept until then, and whether the builder is called for the last time.
    last_row_of_key: dict[str, int] | None = None
    pending_lines: dict[str, list] = field(default_factory=dict)
    final_build: bool = True

    def tick(self, index: int) -> None:
        """Report planning progress every PROGRESS_EVERY rows."""
        if self.progress is not None and index % PROGRESS_EVERY == 0:
            self.progress(min(index, self.row_count), self.row_count)

    def add_error(self, row: int, column: str, value, error: CellError) -> None:
        position = next((index for index, item in enumerate(self.layout.columns) if item.header == column), 0)
        self.errors.append((row, position, row_message(row, column, value, error.reason, error.fix)))

    def claim_key(self, key: str, row: int, noun: str) -> bool:
        """Record `key` as first seen in `row` and return True. If an earlier row has the
        key, add an error naming that row, refuse this one and return False."""
        first_row = self.first_row_of_key.get(key)
        if first_row is None:
            self.first_row_of_key[key] = row
            return True
        key_column = self.layout.column(self.layout.key_field)
        self.add_error(row, key_column.header, key, CellError(f"the same {noun} is also in row {first_row}", f"keep one row per {noun}"))
        self.refuse_key(key, row)
        return False

    def refuse_key(self, key: str, row: int) -> None:
        if key:
            self.refused_keys.setdefault(key, []).append(row)

    def messages(self) -> list[str]:
        return [message for _, _, message in sorted(self.errors, key=lambda error: (error[0], error[1]))]


def to_json(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


# 1. Validation ---------------------------------------------------------------------------


class DateOrderNeeded(Exception):
    """A D/M/Y date turned up in a pass that skipped proving the file's date order."""


def validate(
    table: Table,
    match: HeaderMatch,
    *,
    context: ParseContext | None = None,
    progress=None,
    on_rows=None,
    prove_date_order: bool = True,
    keep_file_keys: bool = True,
) -> Validation:
    """Parse and check every row of `table`; the valid rows end up in `validation.rows`.

    With `on_rows`, the rows of a layout in CHUNKED_BUILDERS (all of them today) are
    built CHUNK_ROWS at a time. `on_rows(validation)` is called after each chunk to plan
    `validation.rows` and empty it, and other layouts call it once, at the end. Checks
    across rows (a key twice, a customer's details) still cover the whole file, because
    their maps live on the validation.

    Proving the date order takes a pass over every row before parsing. Without
    `prove_date_order`, that pass is skipped, and the first D/M/Y text date of a file
    whose order is not chosen raises DateOrderNeeded. The caller then discards what it
    planned and validates again with the proof. Most files have ISO dates or date cells and need
    no proof, and a file with D/M/Y dates usually has one in its first rows, so little
    work is thrown away.
    """
    layout = match.layout
    context = context or ParseContext()
    validation = Validation(layout=layout, row_count=0, context=context, progress=progress, keep_file_keys=keep_file_keys)
    report = progress or (lambda done, total: None)
    check_merged_cells(table, match, validation)
    if prove_date_order:
        ambiguous_cells = check_date_order(table, match, validation)
    else:
        ambiguous_cells = set()
    # A CSV file is counted as it is read; until then progress reports use an estimate.
    rows = table.rows
    total = validation.row_count = len(rows) if isinstance(rows, list) else rows.estimated_length()
    # `accounting` imports this module, so it is imported here rather than at the top.
    from customers.imports import accounting

    skip_row = accounting.REPORT_ROW_FILTERS.get(layout.builder)
    build = accounting.ROW_BUILDERS[layout.builder]
    chunk_rows = CHUNK_ROWS if on_rows is not None and layout.builder in CHUNKED_BUILDERS else 0
    if chunk_rows:
        # Planning a chunk must not report its own row numbers: the rows read do.
        validation.progress = None
        if layout.builder in GROUPED_BUILDERS:
            validation.last_row_of_key = last_row_of_keys(rows, match, skip_row, context)
            validation.final_build = False

    reader = RowReader(match, context, guard_date_order=not prove_date_order)
    parsed_rows = []
    report(0, total)
    index = 0
    for index, sheet_row in enumerate(rows, start=1):
        if index % PROGRESS_EVERY == 0:
            report(min(index, total), total)
        if skip_row is not None and skip_row(sheet_row, match):
            continue
        parsed = parse_row(sheet_row, match, validation, ambiguous_cells, reader)
        if parsed is None:
            continue
        parsed_rows.append(parsed)
        if chunk_rows and len(parsed_rows) >= chunk_rows:
            build(parsed_rows, validation)
            parsed_rows = []
            on_rows(validation)
    total = validation.row_count = index
    report(total, total)

    validation.final_build = True
    build(parsed_rows, validation)
    if on_rows is not None:
        on_rows(validation)
    return validation


def check_merged_cells(table: Table, match: HeaderMatch, validation: Validation) -> None:
    """Reject merged cells in the header row or below it: a merged cell keeps its value in
    its first cell only, so the other rows it covers would import as blank.

    Title rows above the header may be merged (QuickBooks merges its report title)."""
    for merged in table.merged:
        if merged.last_row < table.header_row:
            continue
        validation.errors.append(
            (
                merged.first_row,
                0,
                f"row {merged.first_row}: cells {merged.reference} are merged; "
                "unmerge them (Home > Merge & Center) and fill in every cell, then import the file again",
            )
        )


def check_date_order(table: Table, match: HeaderMatch, validation: Validation) -> set[tuple[int, str]]:
    """Apply the one-order-per-file rule to D/M/Y text dates; return the ambiguous cells.

    A first part above 12 anywhere proves day-first order, and then every D/M/Y date is
    read as DD/MM/YYYY. Without that proof, a date such as 03/04/2026 could be either
    order: each such cell is rejected, which rejects the file.
    """
    if validation.context.date_order in (DAY_FIRST, MONTH_FIRST):
        return set()
    date_columns = [
        (column, match.positions[column.field])
        for column in match.layout.columns
        if column.kind == "date" and column.field in match.positions
    ]
    if not date_columns:
        return set()
    proven_day_first = False
    ambiguous = []
    for sheet_row in table.rows:
        cells = sheet_row.cells
        for column, position in date_columns:
            value = cells[position] if position < len(cells) else None
            parts = parsing.date_parts(value)
            if not parts:
                continue
            first, second = parts
            if first > 12:
                proven_day_first = True
            elif not proven_day_first and second <= 12 and first != second:
                ambiguous.append((sheet_row.number, column, value))

    if proven_day_first:
        validation.context.date_order = DAY_FIRST
        return set()
    # Every ambiguous cell gets its error, so a manager who applies the valid rows is
    # shown each row held back. The first ambiguous cell is the first message.
    for number, column, value in ambiguous:
        validation.add_error(
            number,
            column.header,
            value,
            CellError(
                "ambiguous date, because no date in this file has a day above 12 to prove the DD/MM/YYYY order",
                "use YYYY-MM-DD, or choose the date order (day first or month first) for this import",
            ),
        )
    if ambiguous:
        validation.context.date_order_unproven = True
    return {(number, column.field) for number, column, _ in ambiguous}


def parse_row(sheet_row, match: HeaderMatch, validation: Validation, ambiguous_cells, reader=None) -> ParsedRow | None:
    """Parse one row's cells; return None, with the errors on `validation`, if any is invalid.

    `reader` is `RowReader(match, validation.context)`, made once per file by the caller."""
    layout = match.layout
    values: dict = {}
    raw: dict = {}
    failed = False

    for position, reference in sheet_row.uncached_formulas.items():
        column = next((item for item in layout.columns if match.positions.get(item.field) == position), None)
        if column is not None:
            validation.add_error(
                sheet_row.number,
                column.header,
                "",
                CellError(
                    f"the formula in cell {reference} has no saved result",
                    "open the file in Excel or LibreOffice, save it and import it again",
                ),
            )
            failed = True

    cells = sheet_row.cells
    width = len(cells)
    number = sheet_row.number
    uncached = sheet_row.uncached_formulas
    context = validation.context
    if reader is None:
        reader = RowReader(match, context)

    # A customer's cells repeat on each of its rows: when they equal those of an earlier
    # valid row, that row's parsed values are reused.
    columns = reader.columns
    customer_key = None
    if reader.customer_positions and not uncached:
        customer_cells = [cells[position] if position < width else None for position in reader.customer_positions]
        customer_key = reader.customer_key(customer_cells)
        known = reader.customers.get(customer_key)
        if known is not None:
            raw.update(zip(reader.customer_fields, customer_cells))
            values.update(zip(reader.customer_fields, known))
            columns = reader.other_columns
            customer_key = None

    for column, name, position, parse in columns:
        value = cells[position] if position < width else None
        raw[name] = value
        if (ambiguous_cells and (number, name) in ambiguous_cells) or (uncached and position in uncached):
            failed = True
            continue
        if value is None or (value.__class__ is str and not value.strip()):
            if column.required:
                validation.add_error(number, column.header, value, CellError("missing value", f"fill in {column.header}"))
                failed = True
            else:
                values[name] = blank_value(column.kind)
            continue
        try:
            values[name] = parse(column, value, values, context)
        except CellError as error:
            validation.add_error(number, column.header, value, error)
            failed = True
    if customer_key is not None and not failed:
        reader.remember_customer(customer_key, values)

    currency = values.get("currency")
    if currency:
        places = parsing.cached_currency_places(currency)
        for name in AMOUNT_FIELDS:
            amount = values.get(name)
            if amount is None:
                continue
            exponent = amount.as_tuple().exponent
            if exponent == -places:
                # Already written with the currency's decimals, such as 12.50 for EUR.
                continue
            try:
                parsing.check_places(amount, places, currency)
            except CellError as error:
                validation.add_error(sheet_row.number, layout.column(name).header, raw[name], error)
                failed = True
                continue
            values[name] = amount.quantize(Decimal(1).scaleb(-places))

    key = raw_key(sheet_row, match)
    if validation.keep_file_keys:
        validation.file_keys.add(key)
    if failed:
        validation.refuse_key(key, sheet_row.number)
        return None
    return ParsedRow(number=sheet_row.number, values=values, raw=raw)


def last_row_of_keys(rows, match: HeaderMatch, skip_row, context: ParseContext) -> dict[str, int]:
    """Return the number of the last row of each key, parsed as `parse_row` parses it."""
    column = match.layout.column(match.layout.key_field)
    position = match.positions[column.field]
    parse = CELL_PARSERS[column.kind]
    last_rows = {}
    for sheet_row in rows:
        if skip_row is not None and skip_row(sheet_row, match):
            continue
        cells = sheet_row.cells
        value = cells[position] if position < len(cells) else None
        try:
            key = parse(column, value, {}, context)
        except CellError:
            continue  # parse_row refuses a row with an invalid key, so no line waits for it.
        last_rows[key] = sheet_row.number
    return last_rows


def raw_key(sheet_row, match: HeaderMatch) -> str:
    """Return the row's key cell as text (invoice number, customer or card id), or ""."""
    position = match.positions.get(match.layout.key_field)
    if position is None or position >= len(sheet_row.cells):
        return ""
    try:
        return parsing.parse_text(sheet_row.cells[position])
    except parsing.CellError:
        return ""


@functools.cache
def parse_order(layout: Layout) -> tuple:
    """Return the layout's columns with phone columns last, because a phone number without
    a +prefix is read in the customer's country."""
    return tuple(sorted(layout.columns, key=lambda column: column.kind == "phone"))


def blank_value(kind: str):
    if kind in ("amount", "date", "timestamp", "consent"):
        return None
    return ""


# Column kind -> parser of one non-blank cell. Amounts are checked against the row's
# currency later, and D/M/Y dates reach the parser only once the file proved that order.
CELL_PARSERS = {
    "text": lambda column, value, row, context: parsing.parse_text(value, max_length=column.max_length),
    "identifier": lambda column, value, row, context: parsing.parse_identifier(value, max_length=column.max_length or 100),
    "amount": lambda column, value, row, context: parsing.parse_amount(value, places=None),
    "date": lambda column, value, row, context: parsing.parse_date(
        value, day_first=context.date_order != MONTH_FIRST, month_first=context.date_order == MONTH_FIRST, epoch=context.epoch
    ),
    "timestamp": lambda column, value, row, context: parsing.parse_timestamp(value, epoch=context.epoch),
    "currency": lambda column, value, row, context: parsing.parse_currency(value),
    "email": lambda column, value, row, context: parsing.parse_email(value),
    "country": lambda column, value, row, context: parsing.parse_country(value),
    "country_name": lambda column, value, row, context: parsing.parse_country_name(value),
    "phone": lambda column, value, row, context: parsing.parse_phone(value, region=row.get("country", "")),
    "time_zone": lambda column, value, row, context: parsing.parse_time_zone(value),
    "url": lambda column, value, row, context: parsing.parse_url(value),
    "customer_type": lambda column, value, row, context: parsing.parse_choice(value, CUSTOMER_TYPES, default=Customer.Kind.BUSINESS),
    "invoice_status": lambda column, value, row, context: parsing.parse_choice(value, INVOICE_STATUSES, default=Invoice.LedgerStatus.OPEN),
    "stripe_status": lambda column, value, row, context: parsing.parse_choice(value, STRIPE_STATUSES, default=""),
    "xero_type": lambda column, value, row, context: parsing.parse_choice(value, XERO_TYPES, default=""),
    "xero_status": lambda column, value, row, context: parsing.parse_choice(value, XERO_STATUSES, default=""),
    "consent": lambda column, value, row, context: parsing.parse_consent(value),
    "last4": lambda column, value, row, context: parsing.parse_last4(value),
    "month": lambda column, value, row, context: parsing.parse_month(value),
    "year": lambda column, value, row, context: parsing.parse_year(value),
    "stripe_locales": lambda column, value, row, context: parsing.parse_stripe_locales(value),
}


# Rows are reported to the progress callback at least this often.
PROGRESS_EVERY = 1000
# Builders whose rows can be built and planned a chunk at a time: one row per invoice
# or credit, checked against earlier rows through maps on the validation. Xero's builder
# keeps an invoice's lines until its last line (`Validation.last_row_of_key`).
CHUNKED_BUILDERS = frozenset({"template", "stripe", "quickbooks", "xero", "payments", "customers", "cards"})
# Builders that combine the rows of one key, and so need the last row of each key.
GROUPED_BUILDERS = frozenset({"xero"})
CHUNK_ROWS = 5000

XERO_INVOICE = "invoice"
XERO_CREDIT_NOTE = "credit_note"
XERO_OTHER = "other"
XERO_TYPES = {
    "sales_invoice": XERO_INVOICE,
    "accrec": XERO_INVOICE,
    "invoice": XERO_INVOICE,
    "sales_credit_note": XERO_CREDIT_NOTE,
    "accreccredit": XERO_CREDIT_NOTE,
    "credit_note": XERO_CREDIT_NOTE,
    "bill": XERO_OTHER,
    "accpay": XERO_OTHER,
    "purchase_bill": XERO_OTHER,
    "accpaycredit": XERO_OTHER,
    "purchase_credit_note": XERO_OTHER,
}
XERO_SKIPPED = "skipped"
XERO_STATUSES = {
    "authorised": Invoice.LedgerStatus.OPEN,
    "awaiting_payment": Invoice.LedgerStatus.OPEN,
    "paid": Invoice.LedgerStatus.PAID,
    "voided": Invoice.LedgerStatus.VOID,
    "void": Invoice.LedgerStatus.VOID,
    "draft": XERO_SKIPPED,
    "submitted": XERO_SKIPPED,
    "awaiting_approval": XERO_SKIPPED,
    "deleted": XERO_SKIPPED,
}


# Most cells of a large invoice file repeat: a customer's details are on each of its
# invoice rows, and dates fall on a few hundred days. Each parser is a pure function of
# the cell, the column, the row's country (for phones) and the file's date order and
# epoch, which are settled before the rows are parsed, so each column keeps its results
# (`cached_parser`). Amounts, links and the row's key (the invoice number) rarely repeat
# and are not kept.
PARSED_CELLS_MAX = 100_000
PARSED_CELLS_SKIPPED_KINDS = frozenset({"amount", "url"})
# Joins a row's customer cells into one key: the ASCII unit separator, which text cells
# almost never contain.
CUSTOMER_CELL_SEPARATOR = "\x1f"
# Kinds of customer columns whose cells repeat across customers, so their parsed cells are kept.
FEW_VALUES_KINDS = frozenset({"country", "country_name", "customer_type", "time_zone", "stripe_locales"})


class RowReader:
    """The column plan `parse_row` follows for one file. `columns` lists the layout's
    columns that the file has, in parse order, each as (column, field, position,
    parser), and a parser takes (column, value, row so far, context).

    Make it once the file's date order is settled, because the parsers of repeating
    columns keep their results for the rest of the file. It also keeps the parsed
    customer columns (CUSTOMER_FIELDS other than the row's key) of valid rows, by their
    cells, at most PARSED_CELLS_MAX of them.
    """

    def __init__(self, match: HeaderMatch, context: ParseContext, *, guard_date_order: bool = False):
        layout = match.layout
        # Without a proven or chosen order, a D/M/Y date stops the pass (DateOrderNeeded).
        guard_dates = guard_date_order and context.date_order not in (DAY_FIRST, MONTH_FIRST)
        self.columns = []
        for column in parse_order(layout):
            if column.field not in match.positions:
                continue
            if column.field == layout.key_field or column.kind in PARSED_CELLS_SKIPPED_KINDS:
                parse = CELL_PARSERS[column.kind]
            elif column.kind == "date" and guard_dates:
                parse = cached_parser(column.kind, parser=parse_date_unless_dmy)
            elif self.is_customer_column(column, layout) and column.kind not in FEW_VALUES_KINDS:
                # Names, emails and phones differ per customer, and the customer cache
                # below covers a customer's repeated rows.
                parse = CELL_PARSERS[column.kind]
            else:
                parse = cached_parser(column.kind)
            self.columns.append((column, column.field, match.positions[column.field], parse))

        customer_columns = [item for item in self.columns if self.is_customer_column(item[0], layout)]
        self.other_columns = [item for item in self.columns if item not in customer_columns]
        self.customer_fields = tuple(item[1] for item in customer_columns)
        # The cache pays off where a customer has several rows: not in a customers file,
        # whose key is the customer, nor with fewer than two customer columns.
        repeats = layout.key_field not in CUSTOMER_FIELDS and len(customer_columns) > 1
        self.customer_positions = tuple(item[2] for item in customer_columns) if repeats else ()
        # Customer cells (customer_key) -> parsed values, in `customer_fields` order.
        self.customers: dict = {}

    @staticmethod
    def is_customer_column(column, layout: Layout) -> bool:
        return column.field in CUSTOMER_FIELDS and column.field != layout.key_field

    @staticmethod
    def customer_key(cells: list):
        """Return the customer cells as one string when they are text or empty, which
        takes less memory than a tuple of them, else as a tuple. An empty XLSX cell (None)
        joins as "", because both parse as blank."""
        texts = ["" if cell is None else cell for cell in cells]
        if all(cell.__class__ is str for cell in texts):
            joined = CUSTOMER_CELL_SEPARATOR.join(texts)
            # A cell with the separator in it could make two rows look alike.
            if joined.count(CUSTOMER_CELL_SEPARATOR) == len(cells) - 1:
                return joined
        return tuple(cells)

    def remember_customer(self, key, values: dict) -> None:
        if len(self.customers) >= PARSED_CELLS_MAX:
            self.customers.clear()
        self.customers[key] = tuple([values[name] for name in self.customer_fields])


def parse_date_unless_dmy(column, value, parsed_so_far: dict, context: ParseContext):
    if parsing.date_parts(value):
        raise DateOrderNeeded(value)
    return CELL_PARSERS["date"](column, value, parsed_so_far, context)


def cached_parser(kind: str, parser=None):
    """Return `parser` (by default CELL_PARSERS[kind]) with its results (or CellError)
    kept per cell, for one column of one file. The cell's type is part of the key because
    True == 1 == 1.0 in Python, and a phone's key has the row's country, which reads
    numbers without +."""
    parser = parser or CELL_PARSERS[kind]
    results: dict = {}

    def parse(column, value, parsed_so_far: dict, context: ParseContext):
        key = (value.__class__, value, parsed_so_far.get("country", "")) if kind == "phone" else (value.__class__, value)
        cached = results.get(key)
        if cached is None:
            try:
                cached = (True, parser(column, value, parsed_so_far, context))
            except CellError as error:
                cached = (False, (error.reason, error.fix))
            if len(results) >= PARSED_CELLS_MAX:
                results.clear()
            results[key] = cached
        if cached[0]:
            return cached[1]
        raise CellError(*cached[1])

    return parse


def check_not_negative(row: ParsedRow, layout: Layout, validation: Validation, names) -> bool:
    valid = True
    for name in names:
        amount = row.values.get(name)
        if amount is not None and amount < 0:
            validation.add_error(
                row.number,
                layout.column(name).header,
                row.raw[name],
                CellError("negative amount", "enter credit notes and refunds separately, not as negative invoice amounts"),
            )
            valid = False
    return valid


def template_invoice_from_row(row: ParsedRow, validation: Validation) -> InvoiceRow | None:
    values = row.values
    if not check_not_negative(row, validation.layout, validation, ("amount", "amount_paid", "amount_due")):
        return None

    customer = {CUSTOMER_FIELDS[name]: values[name] for name in CUSTOMER_FIELDS if name in values}
    if "kind" in customer and not customer["kind"]:
        customer["kind"] = Customer.Kind.BUSINESS

    invoice = {
        "number": values["invoice_number"],
        "due_date": values["due_date"],
        "currency": values["currency"],
        "amount": values["amount"],
        "amount_due": values["amount_due"],
    }
    if "issue_date" in values:
        invoice["issue_date"] = values["issue_date"]
    # A blank amount paid leaves the stored one as it is: it is unknown, not zero.
    if values.get("amount_paid") is not None:
        invoice["amount_paid"] = values["amount_paid"]
    for name in ("payment_link", "description"):
        if name in values:
            invoice[name] = values[name]
    status = values.get("status") or Invoice.LedgerStatus.OPEN
    if status == Invoice.LedgerStatus.OPEN and values["amount_due"] == 0:
        status = Invoice.LedgerStatus.PAID
    invoice["ledger_status"] = status
    return InvoiceRow(number=row.number, key=values["invoice_number"], customer=customer, invoice=invoice)


def stripe_invoice_from_row(row: ParsedRow, validation: Validation) -> InvoiceRow | None:
    """Map a Stripe export row. The invoice `id` (in_...) is the stored invoice number
    because it identifies the invoice from its creation, while `Number` can be blank in
    an export (drafts have none)."""
    values = row.values
    layout = validation.layout
    status = values["status"]
    if status == STRIPE_DRAFT:
        validation.skipped.append(
            {"entity": "invoice", "row": row.number, "key": values["id"], "action": "skip", "note": "Stripe draft invoice; drafts are not imported"}
        )
        return None
    if not check_not_negative(row, layout, validation, ("amount_due", "amount_paid", "amount_remaining", "total")):
        return None

    issue_date = values.get("date") or values.get("created")
    due_date = values.get("due_date") or issue_date
    if due_date is None:
        column = layout.column("due_date")
        validation.add_error(
            row.number,
            column.header,
            row.raw.get("due_date", ""),
            CellError("missing due date", 'export the "Due Date (UTC)" or "Date (UTC)" column with the invoices'),
        )
        return None

    amount_paid = values.get("amount_paid")
    if values.get("amount_remaining") is not None:
        amount_due = values["amount_remaining"]
    elif amount_paid is not None:
        amount_due = max(values["amount_due"] - amount_paid, Decimal(0))
    else:
        amount_due = values["amount_due"]
    if status == Invoice.LedgerStatus.OPEN and amount_due == 0:
        status = Invoice.LedgerStatus.PAID

    invoice = {
        "number": values["id"],
        # The number on the invoice the customer received; messages show it.
        "display_number": values.get("number", ""),
        "issue_date": issue_date,
        "due_date": due_date,
        "currency": values["currency"],
        "amount": values["total"] if values.get("total") is not None else values["amount_due"],
        "amount_due": amount_due,
        "ledger_status": status,
        "description": values.get("description", ""),
    }
    if amount_paid is not None:
        invoice["amount_paid"] = amount_paid
    if "payment_link" in values:
        invoice["payment_link"] = values["payment_link"]

    customer = {
        "external_id": values["customer_id"],
        "name": values.get("customer_name") or values.get("email") or values["customer_id"],
    }
    for name in ("email", "phone", "country"):
        if name in values:
            customer[name] = values[name]
    return InvoiceRow(number=row.number, key=values["id"], customer=customer, invoice=invoice)


def build_invoice_rows(parsed_rows, validation: Validation, row_builder) -> None:
    """Turn parsed rows into invoice and credit rows, checking that invoice keys are
    unique and that every row of a customer gives the same details."""
    for parsed in parsed_rows:
        errors_before = len(validation.errors)
        built = row_builder(parsed, validation)
        if built is None:
            if len(validation.errors) > errors_before:
                validation.refuse_key(parsed.values.get(validation.layout.key_field, ""), parsed.number)
            continue
        add_invoice_row(built, parsed.number, parsed.raw, validation)


def add_invoice_row(built, number: int, raw: dict, validation: Validation) -> bool:
    """Check one built row against the rows before it and keep it; return False if refused."""
    layout = validation.layout
    customer_seen = validation.customer_seen
    customer_columns = {model_field: name for name, model_field in CUSTOMER_FIELDS.items()}

    # A builder that groups rows by key (Xero) makes one row per key, so only the others
    # need the map of keys seen.
    if isinstance(built, InvoiceRow) and validation.last_row_of_key is None:
        if not validation.claim_key(built.key, number, "invoice"):
            return False

    customer_key = built.customer["external_id"]
    if customer_key in customer_seen:
        first_number, first_names, first_values = customer_seen[customer_key]
        first_details = dict(zip(first_names, first_values))
        conflict = next((name for name, value in built.customer.items() if first_details.get(name, value) != value), None)
        if conflict:
            column = layout.column(customer_columns.get(conflict, conflict))
            validation.add_error(
                number,
                column.header,
                raw.get(column.field, ""),
                CellError(
                    f'row {first_number} gives customer "{customer_key}" the value "{first_details[conflict]}"',
                    "give every row of a customer the same details",
                ),
            )
            validation.refuse_key(built.key, number)
            return False
    else:
        names = tuple(built.customer)
        names = validation.customer_field_names.setdefault(names, names)
        customer_seen[customer_key] = (number, names, tuple(built.customer.values()))
    validation.rows.append(built)
    return True


def build_payment_rows(parsed_rows, validation: Validation) -> None:
    layout = validation.layout
    first_row_of_reference = validation.first_row_of_reference
    for parsed in parsed_rows:
        values = parsed.values
        if values["amount"] <= 0:
            validation.add_error(
                parsed.number,
                layout.column("amount").header,
                parsed.raw["amount"],
                CellError("a payment must be more than zero", "record refunds separately"),
            )
            continue
        reference = values.get("reference", "")
        if reference:
            key = (values["invoice_number"], reference)
            if key in first_row_of_reference:
                validation.add_error(
                    parsed.number,
                    layout.column("reference").header,
                    reference,
                    CellError(
                        f"the same payment reference for this invoice is also in row {first_row_of_reference[key]}",
                        "keep one row per payment",
                    ),
                )
                continue
            first_row_of_reference[key] = parsed.number
        validation.rows.append(
            PaymentRow(
                number=parsed.number,
                invoice_number=values["invoice_number"],
                amount=values["amount"],
                paid_on=values["paid_on"],
                reference=reference,
                method=values.get("method", ""),
                currency=values.get("currency", ""),
                raw=parsed.raw,
            )
        )


# 2. Plan ------------------------------------------------------------------------------


def chunks(items: list, size: int = LOOKUP_CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def batches(items: Iterable, size: int):
    """Yield lists of `size` items from any iterable (itertools.batched needs Python 3.12)."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def load_by_key(queryset, key_field: str, keys) -> dict:
    """Return the instances of `queryset` whose text field `key_field` is one of `keys`, by key."""
    found = {}
    keys = sorted(set(keys))
    if connection.vendor == "postgresql":
        lookup, size = f"{key_field}__in_array", ARRAY_LOOKUP_CHUNK
    else:
        lookup, size = f"{key_field}__in", LOOKUP_CHUNK
    for chunk in chunks(keys, size):
        for instance in queryset.filter(**{lookup: chunk}):
            found[getattr(instance, key_field)] = instance
    return found


def load_ids_by_key(queryset, key_field: str, keys) -> dict:
    """Return the primary keys of the rows of `queryset` whose `key_field` is one of `keys`, by key."""
    found = {}
    lookup = f"{key_field}__in_array" if connection.vendor == "postgresql" else f"{key_field}__in"
    size = ARRAY_LOOKUP_CHUNK if connection.vendor == "postgresql" else LOOKUP_CHUNK
    for chunk in chunks(sorted(set(keys)), size):
        found.update(queryset.filter(**{lookup: chunk}).values_list(key_field, "pk"))
    return found


def diff_fields(instance, new_values: dict) -> dict:
    changed = {}
    for name, new in new_values.items():
        old = getattr(instance, name)
        if old != new:
            changed[name] = [to_json(old), to_json(new)]
    return changed


def customer_version(customer: Customer) -> str:
    return customer.updated_at.isoformat()


def plan_invoices(validation: Validation, source: Source) -> list[dict]:
    """Compare invoice rows with the stored customers and invoices of `source`."""
    from customers.imports import entities

    rows = validation.rows
    invoice_rows = [row for row in rows if isinstance(row, InvoiceRow)]
    credit_rows = [row for row in rows if isinstance(row, CreditRow)]
    # Customers planned by an earlier chunk of the file are not looked up again, except
    # those of credits, which are matched to the customer's stored credits.
    customer_keys = {row.customer["external_id"] for row in rows} - validation.planned_customers
    customer_keys |= {row.customer["external_id"] for row in credit_rows}
    customers = load_by_key(Customer.objects.filter(source=source), "external_id", customer_keys)
    invoices = load_by_key(Invoice.objects.filter(source=source).select_related("customer"), "number", [row.key for row in invoice_rows])

    entries: list[dict] = []
    planned_customers = validation.planned_customers
    for row in rows:
        key = row.customer["external_id"]
        if key in planned_customers:
            continue
        planned_customers.add(key)
        entries.append(plan_customer(row, customers.get(key)))

    for index, row in enumerate(invoice_rows, start=1):
        validation.tick(index)
        entries.append(plan_invoice(row, invoices.get(row.key)))
    entries.extend(entities.plan_credits(credit_rows, source, customers))
    entries.extend(validation.skipped)
    return entries


def plan_customers(validation: Validation, source: Source) -> list[dict]:
    """Compare the rows of a customers file with the stored customers of `source`."""
    rows = validation.rows
    customers = load_by_key(Customer.objects.filter(source=source), "external_id", [row.key for row in rows])
    entries = []
    for index, row in enumerate(rows, start=1):
        validation.tick(index)
        entries.append(plan_customer(row, customers.get(row.key)))
    return entries


def plan_customer(row: InvoiceRow, existing: Customer | None) -> dict:
    details = dict(row.customer)
    entry = {"entity": "customer", "row": row.number, "key": details["external_id"]}
    if existing is None:
        merged = {"phone": "", "country": "", "time_zone": "", **details}
        details["effective_time_zone"] = effective_time_zone(
            time_zone=merged["time_zone"], phone=merged["phone"], country=merged["country"]
        )
        return {**entry, "action": "create", "id": None, "version": None, "fields": {name: [None, to_json(value)] for name, value in details.items()}}

    merged = {name: details.get(name, getattr(existing, name)) for name in ("time_zone", "phone", "country")}
    details["effective_time_zone"] = effective_time_zone(**merged)
    changed = diff_fields(existing, details)
    action = "update" if changed else "unchanged"
    return {**entry, "action": action, "id": existing.pk, "version": customer_version(existing), "fields": changed}


def plan_invoice(row: InvoiceRow, existing: Invoice | None) -> dict:
    values = dict(row.invoice)
    customer_key = row.customer["external_id"]
    entry = {"entity": "invoice", "row": row.number, "key": row.key, "customer_key": customer_key, "payment": None}
    if existing is None:
        fields = {name: [None, to_json(value)] for name, value in values.items()}
        fields["customer"] = [None, customer_key]
        return {**entry, "action": "create", "id": None, "version": None, "fields": fields}

    changed = diff_fields(existing, values)
    if existing.customer.external_id != customer_key:
        changed["customer"] = [existing.customer.external_id, customer_key]
    # A rising amount paid is a payment. A balance that drops without it (a credit note,
    # a write-off) is only a balance change.
    new_paid = values.get("amount_paid")
    if new_paid is not None and new_paid > existing.amount_paid:
        entry["payment"] = to_json(new_paid - existing.amount_paid)
    action = "update" if changed else "unchanged"
    return {**entry, "action": action, "id": existing.pk, "version": existing.version, "fields": changed}


def plan_payments(validation: Validation, source: Source) -> list[dict]:
    """Match payment rows to the invoices of `source`; errors go to `validation`."""
    layout = validation.layout
    rows: list[PaymentRow] = validation.rows
    invoices = load_by_key(Invoice.objects.filter(source=source), "number", [row.invoice_number for row in rows])
    recorded = {}
    references = [row.reference for row in rows if row.reference]
    for chunk in chunks(sorted(set(references))):
        for payment in Payment.objects.filter(invoice__source=source, reference__in=chunk).select_related("invoice"):
            recorded[(payment.invoice.number, payment.reference)] = payment
    # Payments an invoice file inferred from a rising amount paid, which a payments file
    # later describes in full: (invoice id, amount) -> payments, oldest first.
    inferred: dict[tuple[int, Decimal], list[Payment]] = {}
    for chunk in chunks([invoice.pk for invoice in invoices.values()]):
        for payment in Payment.objects.filter(invoice_id__in=chunk, origin=Payment.Origin.INVOICE_FILE, reference="").order_by("pk"):
            if payment.pk not in validation.upgraded_payment_ids:
                inferred.setdefault((payment.invoice_id, payment.amount), []).append(payment)

    entries = []
    for index, row in enumerate(rows, start=1):
        validation.tick(index)
        invoice = invoices.get(row.invoice_number)
        if invoice is None:
            validation.add_error(
                row.number,
                layout.column("invoice_number").header,
                row.invoice_number,
                CellError(f'no invoice with this number in source "{source.name}"', "import the invoice first or correct the number"),
            )
            continue
        if row.currency and row.currency != invoice.currency:
            validation.add_error(
                row.number,
                layout.column("currency").header,
                row.raw["currency"],
                CellError(f"invoice {invoice.number} is in {invoice.currency}", "correct the currency or the invoice number"),
            )
            continue
        try:
            amount = parsing.check_currency_amount(row.amount, invoice.currency)
        except CellError as error:
            validation.add_error(row.number, layout.column("amount").header, row.raw["amount"], error)
            continue

        entry = {
            "entity": "payment",
            "row": row.number,
            "key": invoice.number,
            "id": invoice.pk,
            "version": invoice.version,
            "fields": {
                "amount": [None, to_json(amount)],
                "paid_on": [None, to_json(row.paid_on)],
                "reference": [None, row.reference],
                "method": [None, row.method],
            },
        }
        if invoice.issue_date and row.paid_on < invoice.issue_date:
            validation.warnings.append(
                f"row {row.number}: the payment is dated {row.paid_on.isoformat()}, before invoice {invoice.number} "
                f"was issued on {invoice.issue_date.isoformat()}; it was imported, check the date"
            )
        earlier = recorded.get((invoice.number, row.reference)) if row.reference else None
        upgradable = inferred.get((invoice.pk, amount))
        if earlier is not None:
            entry.update(action="skip", note=f"reference {row.reference} was already recorded for this invoice on {earlier.paid_on.isoformat()}")
        elif upgradable:
            payment = upgradable.pop(0)
            validation.upgraded_payment_ids.add(payment.pk)
            entry.update(
                action="upgrade",
                payment_id=payment.pk,
                note=f"completes the payment of {payment.amount} inferred from an invoice file on {payment.created_at:%Y-%m-%d}",
            )
        else:
            entry["action"] = "record"
        entries.append(entry)
    return entries


# 3. Apply -----------------------------------------------------------------------------


def in_bulk(queryset, ids: list) -> dict:
    found = {}
    for chunk in chunks(ids):
        found.update(queryset.in_bulk(chunk))
    return found


def python_value(model, name: str, value):
    if value is None:
        return None
    return model._meta.get_field(name).to_python(value)


# Invoice entries applied per batch: one lookup of stored rows and one insert each.
APPLY_CHUNK = 5000


def check_versions(record) -> None:
    """Lock the rows the plan targets and raise StalePlanError if any changed since.

    Invoices are checked in SQL against the version each entry stored. A customer's
    version is its modification time in Python's ISO format, so customers are compared
    here, a chunk at a time, from the entries' `version` column.
    """
    from customers.models import ImportEntry

    source = record.source
    entries = ImportEntry.objects.filter(record=record)
    targeted = entries.filter(entity__in=("invoice", "payment", "close"), target_id__isnull=False).exclude(action="skip")
    if connection.features.has_select_for_update:
        # Evaluated in the database: the ids do not come back to Python.
        with connection.cursor() as cursor:
            locked = Invoice.objects.select_for_update().filter(pk__in=targeted.values("target_id")).values("pk")
            sql, params = locked.query.sql_with_params()
            cursor.execute(f"SELECT count(*) FROM ({sql}) AS locked", params)
    changed_invoice = (
        targeted.annotate(current=Cast(Subquery(Invoice.objects.filter(pk=OuterRef("target_id")).values("version")), CharField()))
        .filter(Q(current__isnull=True) | ~Q(current=F("version")))
        .order_by("position")
        .values_list("key", "row")
        .first()
    )
    if changed_invoice is not None:
        raise_stale("invoice", *changed_invoice)

    stored_customers = (
        entries.filter(entity="customer", target_id__isnull=False)
        .order_by("position")
        .values_list("target_id", "version", "key", "row")
        .iterator(chunk_size=APPLY_CHUNK)
    )
    for chunk in batches(stored_customers, APPLY_CHUNK):
        current = {}
        for customer in Customer.objects.select_for_update().filter(pk__in=[target_id for target_id, *_ in chunk]):
            current[customer.pk] = customer_version(customer)
        for target_id, version, key, row in chunk:
            if current.get(target_id) != version:
                raise_stale("customer", key, row)

    for entity, model, key_field in (("customer", Customer, "external_id"), ("invoice", Invoice, "number")):
        new_rows = entries.filter(entity=entity, action="create")
        stored_keys = model.objects.filter(source=source, **{f"{key_field}__in": new_rows.values("key")}).values(key_field)
        created_meanwhile = new_rows.filter(key__in=stored_keys).order_by("position").values_list("key", "row").first()
        if created_meanwhile is not None:
            raise_stale(entity, *created_meanwhile)


def raise_stale(entity: str, key: str, row) -> None:
    raise StalePlanError(f'{entity} "{key}" (row {row}) changed after the preview; upload the file again for a fresh preview')


def apply_plan(record, *, user=None, progress=None) -> None:
    """Write the stored plan of `record` in one transaction, after checking versions.

    Entries are read from the database by kind, and invoices a chunk at a time."""
    from customers.imports import entities
    from customers.imports.plan_store import stored_entries

    source = record.source
    total = record.row_count
    report = progress or (lambda done, total: None)

    with transaction.atomic():
        report(0, total)
        check_versions(record)
        if set_apply.is_supported():
            # New rows go in with INSERT ... SELECT; Python reads and applies the updates only.
            set_apply.insert_customers(record)
            customer_ids = apply_customers(list(record.plan_entries(entity="customer", action="update")), source)
            report(total // 4, total)
            set_apply.insert_invoices(record)
            invoice_entries = record.plan_entries(entity="invoice", action="update")
        else:
            customer_ids = apply_customers(list(stored_entries(record, "customer")), source)
            report(total // 4, total)
            invoice_entries = stored_entries(record, "invoice")
        payments_due = apply_invoices(invoice_entries, source, customer_ids, report=report, total=total)
        report(total // 2, total)
        credit_entries = list(stored_entries(record, "credit"))
        if credit_entries:
            missing = {entry["customer_key"] for entry in credit_entries} - set(customer_ids)
            customer_ids.update(load_ids_by_key(Customer.objects.filter(source=source), "external_id", missing))
            entities.apply_credits(credit_entries, customer_ids)
        entities.apply_cards(list(stored_entries(record, "card")))
        entities.apply_closings(list(stored_entries(record, "close")), record, user)
        report(3 * total // 4, total)

        today = timezone.localdate()
        for invoice, amount in payments_due:
            customer_services.payment_record(
                invoice=invoice,
                amount=amount,
                paid_on=today,
                origin=Payment.Origin.INVOICE_FILE,
                is_historical=record.is_historical,
                apply_to_ledger=False,
                user=user,
                import_record=record,
            )
        apply_payments(stored_entries(record, "payment"), record, user, report=report, total=total)

        source.last_imported_at = timezone.now()
        source.save(update_fields=["last_imported_at"])
        report(total, total)


def apply_customers(entries: list[dict], source: Source) -> dict[str, int]:
    """Create and update customers; return customer ids by external id for every entry."""
    ids = {entry["key"]: entry["id"] for entry in entries if entry["id"]}
    stored = in_bulk(Customer.objects.all(), [entry["id"] for entry in entries if entry["action"] == "update"])
    new_customers = []
    for entry in entries:
        values = {name: python_value(Customer, name, new) for name, (_old, new) in entry["fields"].items()}
        if entry["action"] == "create":
            new_customers.append(Customer(source=source, **values))
        elif entry["action"] == "update":
            customer = stored[entry["id"]]
            for name, value in values.items():
                setattr(customer, name, value)
            customer.save(update_fields=[*values, "updated_at"])
    bulk.insert_rows(Customer, new_customers)
    if all(customer.pk is not None for customer in new_customers):
        ids.update((customer.external_id, customer.pk) for customer in new_customers)
    else:
        # COPY returns no keys.
        new_keys = [customer.external_id for customer in new_customers]
        for chunk in chunks(new_keys):
            ids.update(Customer.objects.filter(source=source, external_id__in=chunk).values_list("external_id", "pk"))
    return ids


def apply_invoices(
    entries: Iterable[dict], source: Source, customer_ids: dict[str, int], *, report=None, total: int = 0
) -> list[tuple[Invoice, Decimal]]:
    """Create and update invoices, APPLY_CHUNK entries at a time; return the (invoice,
    amount) payments to record. `customer_ids` maps customer keys to ids; keys it lacks
    are looked up and added."""
    payments_due = []
    index = 0
    for chunk in batches(entries, APPLY_CHUNK):
        new_invoices = []
        moved_to = {entry["fields"]["customer"][1] for entry in chunk if "customer" in entry.get("fields", ())}
        if moved_to - customer_ids.keys():
            customers = Customer.objects.filter(source=source)
            customer_ids.update(load_ids_by_key(customers, "external_id", moved_to - customer_ids.keys()))
        stored = in_bulk(Invoice.objects.all(), [entry["id"] for entry in chunk if entry.get("id") and entry["action"] != "skip"])
        for entry in chunk:
            index += 1
            if report is not None and index % PROGRESS_EVERY == 0:
                report(min(total, total // 4 + index // 4), total)
            if entry["action"] == "skip":
                continue
            fields = dict(entry["fields"])
            customer_change = fields.pop("customer", None)
            values = {name: python_value(Invoice, name, new) for name, (_old, new) in fields.items()}
            if customer_change is not None:
                values["customer_id"] = customer_ids[customer_change[1]]

            if entry["action"] == "create":
                new_invoices.append(Invoice(source=source, **values))
                continue
            invoice = stored[entry["id"]]
            if entry["action"] == "update":
                for name, value in values.items():
                    setattr(invoice, name, value)
                invoice.version += 1
                invoice.save(update_fields=[*values, "version", "updated_at"])
            if entry.get("payment"):
                payments_due.append((invoice, Decimal(entry["payment"])))
        bulk.insert_rows(Invoice, new_invoices)
    return payments_due


def apply_payments(entries: Iterable[dict], record, user, *, report=None, total: int = 0) -> None:
    for index, entry in enumerate(entries, start=1):
        if report is not None and index % PROGRESS_EVERY == 0:
            report(min(total, 3 * total // 4 + index // 4), total)
        fields = {name: new for name, (_old, new) in entry["fields"].items()}
        if entry["action"] == "upgrade":
            upgrade_inferred_payment(entry["payment_id"], fields)
            continue
        if entry["action"] != "record":
            continue
        customer_services.payment_record(
            invoice=Invoice.objects.get(pk=entry["id"]),
            amount=Decimal(fields["amount"]),
            paid_on=datetime.date.fromisoformat(fields["paid_on"]),
            origin=Payment.Origin.PAYMENTS_FILE,
            reference=fields["reference"],
            method=fields["method"],
            is_historical=record.is_historical,
            apply_to_ledger=True,
            user=user,
            import_record=record,
        )



def upgrade_inferred_payment(payment_id: int, fields: dict) -> None:
    """Give a payment inferred from an invoice file the details a payments file has.

    The invoice file already wrote the balance and the inferred payment already had its
    thank-you (or was historical), so neither the ledger nor the customer hears of it again."""
    Payment.objects.filter(pk=payment_id, origin=Payment.Origin.INVOICE_FILE).update(
        origin=Payment.Origin.PAYMENTS_FILE,
        reference=fields["reference"],
        method=fields["method"],
        paid_on=datetime.date.fromisoformat(fields["paid_on"]),
    )
