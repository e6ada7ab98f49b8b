"""The file layouts an import understands, and how a layout is chosen from the header row.

A header matches a column ignoring case, spaces, underscores and a leading `*` (some
templates mark required columns with it), so "Customer ID", "customer_id" and
"*customer id" are the same column.
"""

from dataclasses import dataclass

from customers.imports.errors import ImportFileError
from customers.models import ImportRecord, Source


@dataclass(frozen=True)
class Column:
    header: str  # as documented in docs/import-template.md
    field: str  # key of the parsed value
    kind: str  # parser: identifier, text, amount, date, timestamp, currency, ...
    required: bool = False
    aliases: tuple[str, ...] = ()
    max_length: int | None = None


@dataclass(frozen=True)
class Layout:
    name: str
    kind: str  # ImportRecord.Kind
    source_kind: str  # Source.Kind given to a source this layout creates
    title: str
    columns: tuple[Column, ...]
    key_field: str  # the field that identifies a row's invoice; unique within a file

    def column(self, field: str) -> Column:
        return next(column for column in self.columns if column.field == field)


def normalise_header(header: str) -> str:
    text = (header or "").strip().lstrip("*").strip().lower()
    return "".join(char for char in text if not char.isspace() and char != "_")


TEMPLATE_INVOICES = Layout(
    name="template-invoices",
    kind=ImportRecord.Kind.INVOICES,
    source_kind=Source.Kind.TEMPLATE,
    title="Our template, invoices",
    key_field="invoice_number",
    columns=(
        Column("customer_id", "customer_id", "identifier", required=True, max_length=100),
        Column("customer_name", "customer_name", "text", required=True, max_length=200),
        Column("email", "email", "email"),
        Column("phone", "phone", "phone"),
        Column("country", "country", "country"),
        Column("customer_type", "customer_type", "customer_type"),
        Column("segment", "segment", "text", max_length=50),
        Column("locale", "locale", "text", max_length=20),
        Column("time_zone", "time_zone", "time_zone"),
        Column("invoice_number", "invoice_number", "identifier", required=True, max_length=100),
        Column("issue_date", "issue_date", "date"),
        Column("due_date", "due_date", "date", required=True),
        Column("currency", "currency", "currency", required=True),
        Column("amount", "amount", "amount", required=True),
        Column("amount_paid", "amount_paid", "amount"),
        Column("amount_due", "amount_due", "amount", required=True),
        Column("status", "status", "invoice_status"),
        Column("payment_link", "payment_link", "url"),
        Column("description", "description", "text", max_length=500),
    ),
)

TEMPLATE_PAYMENTS = Layout(
    name="template-payments",
    kind=ImportRecord.Kind.PAYMENTS,
    source_kind=Source.Kind.TEMPLATE,
    title="Our template, payments",
    key_field="invoice_number",
    columns=(
        Column("invoice_number", "invoice_number", "identifier", required=True, max_length=100),
        Column("amount", "amount", "amount", required=True),
        Column("paid_on", "paid_on", "date", required=True),
        Column("reference", "reference", "text", max_length=100),
        Column("method", "method", "text", max_length=50),
        Column("currency", "currency", "currency"),
    ),
)

# Stripe's Dashboard export of invoices (Invoices > Export), one row per invoice, amounts in
# major units, timestamps in UTC with "(UTC)" in the header.
# NOTE: these headers follow Stripe's invoice object fields as the Dashboard labels them;
# they were not checked against a real export file. Aliases cover the spellings seen.
STRIPE_INVOICES = Layout(
    name="stripe-invoices",
    kind=ImportRecord.Kind.INVOICES,
    source_kind=Source.Kind.STRIPE,
    title="Stripe invoices export",
    key_field="id",
    columns=(
        Column("id", "id", "identifier", required=True, aliases=("Invoice ID",), max_length=100),
        Column("Number", "number", "text", aliases=("Invoice Number",), max_length=100),
        Column("Customer", "customer_id", "identifier", required=True, aliases=("Customer ID",), max_length=100),
        Column("Customer Name", "customer_name", "text", max_length=200),
        Column("Customer Email", "email", "email"),
        Column("Customer Phone", "phone", "phone"),
        Column("Customer Address Country", "country", "country", aliases=("Customer Country",)),
        Column("Currency", "currency", "currency", required=True),
        Column("Amount Due", "amount_due", "amount", required=True),
        Column("Amount Paid", "amount_paid", "amount"),
        Column("Amount Remaining", "amount_remaining", "amount"),
        Column("Total", "total", "amount"),
        Column("Subtotal", "subtotal", "amount"),
        Column("Status", "status", "stripe_status", required=True),
        Column("Date (UTC)", "date", "timestamp", aliases=("Finalized At (UTC)",)),
        Column("Due Date (UTC)", "due_date", "timestamp"),
        Column("Created (UTC)", "created", "timestamp"),
        Column("Hosted Invoice URL", "payment_link", "url"),
        Column("Description", "description", "text", max_length=500),
    ),
)

LAYOUTS = {layout.name: layout for layout in (TEMPLATE_INVOICES, TEMPLATE_PAYMENTS, STRIPE_INVOICES)}
# Short names accepted on the command line; "template" picks the layout of the import kind.
LAYOUT_SHORT_NAMES = {"template": {"invoices": "template-invoices", "payments": "template-payments"}, "stripe": {"invoices": "stripe-invoices"}}


@dataclass
class HeaderMatch:
    layout: Layout
    positions: dict[str, int]  # field -> header position
    missing: list[Column]


def match_headers(layout: Layout, headers: list[str]) -> HeaderMatch:
    field_by_header = {}
    for column in layout.columns:
        for spelling in (column.header, *column.aliases):
            field_by_header[normalise_header(spelling)] = column.field
    positions: dict[str, int] = {}
    for position, header in enumerate(headers):
        field = field_by_header.get(normalise_header(header))
        if field and field not in positions:
            positions[field] = position
    missing = [column for column in layout.columns if column.required and column.field not in positions]
    return HeaderMatch(layout=layout, positions=positions, missing=missing)


def check_duplicate_headers(headers: list[str]) -> None:
    seen: dict[str, int] = {}
    for position, header in enumerate(headers):
        key = normalise_header(header)
        if not key:
            continue
        if key in seen:
            raise ImportFileError(
                f'column "{header}" appears twice in the header row (columns {seen[key] + 1} and {position + 1}); '
                "delete or rename one of them"
            )
        seen[key] = position


def resolve_layout_name(name: str, kind: str) -> Layout:
    full_name = LAYOUT_SHORT_NAMES.get(name, {}).get(kind, name)
    layout = LAYOUTS.get(full_name)
    if layout is None or layout.kind != kind:
        accepted = ", ".join(sorted(item.name for item in LAYOUTS.values() if item.kind == kind))
        raise ImportFileError(f'unknown layout "{name}" for {kind}; use one of: {accepted}')
    return layout


def detect_layout(headers: list[str], *, kind: str, layout_name: str | None = None) -> HeaderMatch:
    """Choose the layout from the header row, or check the named one.

    Raises ImportFileError naming every missing required column when no layout of this
    kind has all of its required columns.
    """
    check_duplicate_headers(headers)
    if layout_name:
        candidates = [resolve_layout_name(layout_name, kind)]
    else:
        candidates = [layout for layout in LAYOUTS.values() if layout.kind == kind]
    if not candidates:
        raise ImportFileError(f"no layout reads {kind} files yet")

    matches = [match_headers(layout, headers) for layout in candidates]
    complete = [match for match in matches if not match.missing]
    if complete:
        return max(complete, key=lambda match: len(match.positions))

    closest = max(matches, key=lambda match: len(match.positions))
    names = ", ".join(f'"{column.header}"' for column in closest.missing)
    if len(closest.missing) > 1:
        missing, fix = f"missing required columns {names}", "add them to the header row in row 1"
    else:
        missing, fix = f"missing required column {names}", "add it to the header row in row 1"
    raise ImportFileError(f'{missing} for layout "{closest.layout.name}" ({closest.layout.title}); {fix}')
