"""The file layouts an import understands, and how a layout is chosen from the header row.

A header matches a column ignoring case, spaces, underscores and a leading `*` (Xero
marks required columns with it), so "Customer ID", "customer_id" and "*customer id" are
the same column. The layout is chosen from the set of headers alone, never from the
file name.
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


# Date orders of D/M/Y text dates. DETECT needs a day above 12 somewhere in the file.
DATE_ORDER_DETECT = ""
DAY_FIRST = "day_first"
MONTH_FIRST = "month_first"
DATE_ORDERS = (DATE_ORDER_DETECT, DAY_FIRST, MONTH_FIRST)


@dataclass(frozen=True)
class Layout:
    name: str
    kind: str  # ImportRecord.Kind
    source_kind: str  # Source.Kind given to a source this layout creates
    title: str
    columns: tuple[Column, ...]
    key_field: str  # the field that identifies a row's invoice (or customer, or card)
    # Row builder in `pipeline.ROW_BUILDERS` that turns parsed rows into ledger rows.
    builder: str = "template"
    date_order: str = DATE_ORDER_DETECT
    # The file lists every open invoice of its source, so one missing from it was settled.
    is_snapshot: bool = False
    # The header row may follow title rows (reports); otherwise it is the first row.
    header_search: bool = False

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
    builder="payments",
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
    builder="stripe",
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

TEMPLATE_CUSTOMERS = Layout(
    name="template-customers",
    kind=ImportRecord.Kind.CUSTOMERS,
    source_kind=Source.Kind.TEMPLATE,
    title="Our template, customers",
    key_field="customer_id",
    builder="customers",
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
        Column("sms_consent", "sms_consent", "consent"),
        Column("marketing_consent", "marketing_consent", "consent"),
    ),
)

TEMPLATE_CARDS = Layout(
    name="template-cards",
    kind=ImportRecord.Kind.CARDS,
    source_kind=Source.Kind.TEMPLATE,
    title="Our template, payment cards",
    key_field="card_id",
    builder="cards",
    columns=(
        Column("card_id", "card_id", "identifier", required=True, max_length=100),
        Column("customer_id", "customer_id", "identifier", required=True, max_length=100),
        Column("brand", "brand", "text", required=True, max_length=30),
        Column("last4", "last4", "last4", required=True),
        Column("exp_month", "exp_month", "month", required=True),
        Column("exp_year", "exp_year", "year", required=True),
    ),
)

# Xero's invoice export (Business > Invoices > Export): one row per line item, with the
# invoice's own fields repeated on every line. Credit notes come in the same file.
XERO_INVOICES = Layout(
    name="xero-invoices",
    kind=ImportRecord.Kind.INVOICES,
    source_kind=Source.Kind.XERO,
    title="Xero invoices export",
    key_field="invoice_number",
    builder="xero",
    date_order=DAY_FIRST,
    columns=(
        Column("ContactName", "customer_name", "text", required=True, max_length=200),
        Column("EmailAddress", "email", "email"),
        Column("POCountry", "country", "country_name"),
        Column("InvoiceNumber", "invoice_number", "identifier", required=True, max_length=100),
        Column("Reference", "reference", "text", max_length=255),
        Column("InvoiceDate", "issue_date", "date", required=True),
        Column("DueDate", "due_date", "date", required=True),
        Column("Total", "total", "amount", required=True),
        Column("InvoiceAmountPaid", "amount_paid", "amount"),
        Column("InvoiceAmountDue", "amount_due", "amount", required=True),
        Column("Currency", "currency", "currency", required=True),
        Column("Type", "type", "xero_type", required=True),
        Column("Status", "status", "xero_status", required=True),
        Column("Description", "description", "text", max_length=4000),
    ),
)

# QuickBooks Online's A/R Aging Detail report, exported as CSV or XLSX: title rows, then
# the header, then bucket rows ("Current", "1 - 30 days past due", ...), the open items,
# "Total for ..." rows, a TOTAL row and a footer with the run time. It lists open items
# only, so it contains every open invoice of the company.
QUICKBOOKS_AR_AGING = Layout(
    name="quickbooks-ar-aging",
    kind=ImportRecord.Kind.INVOICES,
    source_kind=Source.Kind.QUICKBOOKS,
    title="QuickBooks Online A/R Aging Detail report",
    key_field="invoice_number",
    builder="quickbooks",
    date_order=MONTH_FIRST,
    is_snapshot=True,
    header_search=True,
    columns=(
        Column("Date", "issue_date", "date", required=True),
        Column("Transaction Type", "transaction_type", "text", required=True, max_length=50),
        # Num and Due Date are blank on unapplied payments; invoice rows without them are refused.
        Column("Num", "invoice_number", "identifier", aliases=("No.", "Number"), max_length=100),
        Column("Customer", "customer_name", "text", required=True, aliases=("Customer full name", "Name"), max_length=200),
        Column("Due Date", "due_date", "date"),
        Column("Amount", "amount", "amount", required=True),
        Column("Open Balance", "amount_due", "amount", required=True),
        Column("Currency", "currency", "currency"),
        Column("Memo/Description", "description", "text", aliases=("Memo",), max_length=500),
    ),
)

# Stripe's Dashboard export of customers (Customers > Export).
STRIPE_CUSTOMERS = Layout(
    name="stripe-customers",
    kind=ImportRecord.Kind.CUSTOMERS,
    source_kind=Source.Kind.STRIPE,
    title="Stripe customers export",
    key_field="customer_id",
    builder="customers",
    columns=(
        Column("id", "customer_id", "identifier", required=True, max_length=100),
        Column("Name", "customer_name", "text", max_length=200),
        Column("Email", "email", "email"),
        Column("Phone", "phone", "phone"),
        Column("Description", "description", "text", max_length=500),
        Column("Created (UTC)", "created", "timestamp"),
        Column("Address Country", "country", "country", aliases=("Address Country Code", "Country")),
        Column("Preferred Locales", "locale", "stripe_locales"),
        Column("Tax Exempt", "tax_exempt", "text", max_length=20),
        Column("SMS Consent", "sms_consent", "consent", aliases=("sms_consent (metadata)",)),
        Column("Marketing Consent", "marketing_consent", "consent", aliases=("marketing_consent (metadata)",)),
    ),
)

# Stripe's Dashboard export of payment methods (cards), one row per card.
STRIPE_CARDS = Layout(
    name="stripe-cards",
    kind=ImportRecord.Kind.CARDS,
    source_kind=Source.Kind.STRIPE,
    title="Stripe payment methods export",
    key_field="card_id",
    builder="cards",
    columns=(
        Column("id", "card_id", "identifier", required=True, aliases=("Payment Method ID", "Card ID"), max_length=100),
        Column("Customer", "customer_id", "identifier", required=True, aliases=("Customer ID",), max_length=100),
        Column("Card Brand", "brand", "text", required=True, aliases=("Brand",), max_length=30),
        Column("Card Last4", "last4", "last4", required=True, aliases=("Card Last 4", "Last4")),
        Column("Card Exp Month", "exp_month", "month", required=True, aliases=("Exp Month",)),
        Column("Card Exp Year", "exp_year", "year", required=True, aliases=("Exp Year",)),
    ),
)

LAYOUTS = {
    layout.name: layout
    for layout in (
        TEMPLATE_INVOICES,
        TEMPLATE_PAYMENTS,
        TEMPLATE_CUSTOMERS,
        TEMPLATE_CARDS,
        STRIPE_INVOICES,
        STRIPE_CUSTOMERS,
        STRIPE_CARDS,
        XERO_INVOICES,
        QUICKBOOKS_AR_AGING,
    )
}
# The layout a saved mapping renames, per import kind: a mapping names our template's fields.
BASE_LAYOUTS = {
    ImportRecord.Kind.INVOICES: TEMPLATE_INVOICES,
    ImportRecord.Kind.PAYMENTS: TEMPLATE_PAYMENTS,
    ImportRecord.Kind.CUSTOMERS: TEMPLATE_CUSTOMERS,
    ImportRecord.Kind.CARDS: TEMPLATE_CARDS,
}
# Short names accepted on the command line; "template" picks the layout of the import kind.
LAYOUT_SHORT_NAMES = {
    "template": {"invoices": "template-invoices", "payments": "template-payments", "customers": "template-customers", "cards": "template-cards"},
    "stripe": {"invoices": "stripe-invoices", "customers": "stripe-customers", "cards": "stripe-cards"},
    "xero": {"invoices": "xero-invoices"},
    "quickbooks": {"invoices": "quickbooks-ar-aging"},
}
# Title rows a report may have above its header row.
HEADER_SEARCH_ROWS = 20


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


def detect_layout(table, *, kind: str, layout_name: str | None = None, layout: Layout | None = None) -> HeaderMatch:
    """Choose the layout from the header row, or check the named (or given) one, and
    split `table` at its header row.

    Raises ImportFileError naming every missing required column when no layout of this
    kind has all of its required columns, and naming the right kind when the file is a
    known layout of another kind.
    """
    if layout is not None:
        candidates = [layout]
    elif layout_name:
        candidates = [resolve_layout_name(layout_name, kind)]
    else:
        candidates = [item for item in LAYOUTS.values() if item.kind == kind]
    if not candidates:
        raise ImportFileError(f"no layout reads {kind} files yet")

    first = list(table.headers)
    match = best_match(candidates, first)
    if match is None and any(item.header_search for item in candidates):
        searchable = [item for item in candidates if item.header_search]
        for index, record in enumerate(table.records[1:HEADER_SEARCH_ROWS], start=1):
            headers = ["" if value is None else str(value).strip() for value in record.cells]
            match = best_match(searchable, headers)
            if match is not None:
                table.split_at(index)
                break
    if match is not None:
        check_duplicate_headers(table.headers)
        return match

    if layout is None and not layout_name:
        # Our templates share their customer columns, so only the exports of other
        # programs identify the kind of file.
        others = [item for item in LAYOUTS.values() if item.kind != kind and item.source_kind != Source.Kind.TEMPLATE]
        other = best_match(others, first)
        if other is not None:
            raise ImportFileError(
                f'the header row is that of the {other.layout.title}, which contains {other.layout.kind}, not {kind}; '
                f"import it as {other.layout.kind}"
            )
    check_duplicate_headers(first)
    closest = max((match_headers(item, first) for item in candidates), key=lambda item: len(item.positions))
    names = ", ".join(f'"{column.header}"' for column in closest.missing)
    if len(closest.missing) > 1:
        missing, fix = f"missing required columns {names}", "add them to the header row in row 1"
    else:
        missing, fix = f"missing required column {names}", "add it to the header row in row 1"
    raise ImportFileError(f'{missing} for layout "{closest.layout.name}" ({closest.layout.title}); {fix}')


def best_match(layouts, headers: list[str]) -> HeaderMatch | None:
    """Return the complete match that recognises the most columns, or None."""
    complete = [match for match in (match_headers(layout, headers) for layout in layouts) if not match.missing]
    if not complete:
        return None
    return max(complete, key=lambda match: len(match.positions))
