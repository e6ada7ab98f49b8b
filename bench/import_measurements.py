"""The import measurements that bench/import_baselines.py runs, one per subprocess.

Each function imports one input file into the source named SOURCE_NAME, which
`reset_tables` has just emptied, and returns an `Outcome`. They need Django set up
against PostgreSQL, and they write to the database, so they belong in a benchmark
database only.
"""

from __future__ import annotations

import csv
import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import tablib
from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from import_export import fields, resources, widgets
from import_export.instance_loaders import CachedInstanceLoader

from customers.models import Customer, Invoice, Source

SOURCE_NAME = "bench"
XERO_SOURCE_NAME = "bench-xero"
# Apps whose tables the benchmark empties before each measurement.
RESET_APP_LABELS = ("customers", "campaigns", "offers")
BULK_BATCH_SIZE = 2000


@dataclass
class Outcome:
    """Result of one measurement: the rows read, and the reason it failed or was skipped."""

    rows: int
    failure: str = ""
    skipped: str = ""
    details: dict = field(default_factory=dict)


def reset_tables() -> tuple[Source, Source]:
    """Empty every table of RESET_APP_LABELS and create the two benchmark sources."""
    existing = set(connection.introspection.table_names())
    tables = []
    for label in RESET_APP_LABELS:
        if label in apps.app_configs:
            tables.extend(model._meta.db_table for model in apps.get_app_config(label).get_models())
    # A model whose migration does not exist yet has no table to empty.
    tables = [table for table in tables if table in existing]
    with connection.cursor() as cursor:
        quoted = ", ".join(connection.ops.quote_name(table) for table in tables)
        cursor.execute(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
    template_source = Source.objects.create(name=SOURCE_NAME, kind=Source.Kind.TEMPLATE)
    xero_source = Source.objects.create(name=XERO_SOURCE_NAME, kind=Source.Kind.XERO)
    return template_source, xero_source


def count_rows() -> dict[str, int]:
    return {"customers": Customer.objects.count(), "invoices": Invoice.objects.count()}


# --- PostgreSQL COPY, then INSERT ... SELECT: the floor ------------------------------------

STAGING_COLUMNS = (
    "customer_id", "customer_name", "email", "phone", "country", "customer_type", "segment",
    "locale", "time_zone", "invoice_number", "issue_date", "due_date", "currency", "amount",
    "amount_paid", "amount_due", "status", "payment_link", "description",
)


def _insert_select_columns(model, supplied: dict[str, tuple[str, list]]) -> tuple[list[str], list[str], list]:
    """Return the column names, SELECT expressions and parameters to insert `model` rows.

    `supplied` maps a column to its SQL expression and parameters. Every other column
    gets now() for auto_now fields, else the value bulk_create would store: the field's
    default, "" for a text field that is not nullable, or NULL. Building the list from
    the model keeps the floor in step when fields are added.
    """
    columns, expressions, parameters = [], [], []
    for model_field in model._meta.concrete_fields:
        column = model_field.column
        if column in supplied:
            expression, expression_parameters = supplied[column]
        elif model_field.primary_key:
            continue
        elif getattr(model_field, "auto_now", False) or getattr(model_field, "auto_now_add", False):
            expression, expression_parameters = "now()", []
        elif model_field.has_db_default() or (model_field.null and not model_field.has_default()):
            continue
        elif model_field.has_default() or model_field.empty_strings_allowed:
            # get_default() returns "" for a text field without a default, as bulk_create stores.
            default = model_field.get_db_prep_save(model_field.get_default(), connection)
            expression, expression_parameters = "%s", [default]
        else:
            raise RuntimeError(
                f"{model.__name__}.{model_field.name} is NOT NULL and has no default; "
                "add its column to the COPY floor's column map in bench/import_measurements.py"
            )
        columns.append(connection.ops.quote_name(column))
        expressions.append(expression)
        parameters.extend(expression_parameters)
    return columns, expressions, parameters


def measure_copy(csv_path: Path, source: Source) -> Outcome:
    """COPY the CSV into a temporary staging table, then INSERT ... SELECT customers and invoices.

    Casting the text columns in SQL is the only validation, so this is the floor that
    any importer has to pay.
    """
    staging_definition = ", ".join(f"{column} text" for column in STAGING_COLUMNS)
    customer_columns = {
        "source_id": ("%s", [source.pk]),
        "external_id": ("s.customer_id", []),
        "name": ("s.customer_name", []),
        "email": ("s.email", []),
        "phone": ("s.phone", []),
        "country": ("s.country", []),
        "kind": ("s.customer_type", []),
        "segment": ("s.segment", []),
        "locale": ("s.locale", []),
        "time_zone": ("s.time_zone", []),
        "effective_time_zone": ("COALESCE(NULLIF(s.time_zone, ''), %s)", [settings.TIME_ZONE]),
    }
    invoice_columns = {
        "source_id": ("%s", [source.pk]),
        "customer_id": ("c.id", []),
        "number": ("s.invoice_number", []),
        "issue_date": ("NULLIF(s.issue_date, '')::date", []),
        "due_date": ("s.due_date::date", []),
        "currency": ("s.currency", []),
        "amount": ("s.amount::numeric", []),
        "amount_paid": ("COALESCE(NULLIF(s.amount_paid, ''), '0')::numeric", []),
        "amount_due": ("s.amount_due::numeric", []),
        "ledger_status": ("s.status", []),
        "payment_link": ("s.payment_link", []),
        "description": ("s.description", []),
    }

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE bench_staging ({staging_definition}) ON COMMIT DROP")
        # Django's CursorWrapper has no copy(); its `cursor` attribute is the psycopg 3 cursor.
        with cursor.cursor.copy("COPY bench_staging FROM STDIN (FORMAT csv, HEADER true)") as copy:
            with open(csv_path, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    copy.write(chunk)

        columns, expressions, parameters = _insert_select_columns(Customer, customer_columns)
        cursor.execute(
            f"INSERT INTO {Customer._meta.db_table} ({', '.join(columns)}) "
            f"SELECT {', '.join(expressions)} FROM "
            "(SELECT DISTINCT ON (customer_id) * FROM bench_staging ORDER BY customer_id) AS s",
            parameters,
        )
        columns, expressions, parameters = _insert_select_columns(Invoice, invoice_columns)
        cursor.execute(
            f"INSERT INTO {Invoice._meta.db_table} ({', '.join(columns)}) "
            f"SELECT {', '.join(expressions)} FROM bench_staging AS s "
            f"JOIN {Customer._meta.db_table} AS c ON c.source_id = %s AND c.external_id = s.customer_id",
            [*parameters, source.pk],
        )
        cursor.execute("SELECT count(*) FROM bench_staging")
        (rows,) = cursor.fetchone()
    return Outcome(rows=rows)


# --- Django bulk_create ---------------------------------------------------------------------

def _read_template_rows(csv_path: Path):
    with open(csv_path, newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)


def _optional_date(text: str) -> datetime.date | None:
    return datetime.date.fromisoformat(text) if text else None


def measure_bulk_create(csv_path: Path, source: Source) -> Outcome:
    """Read the CSV twice: bulk_create the customers, then the invoices in batches."""
    rows = 0
    with transaction.atomic():
        customers = {}
        for record in _read_template_rows(csv_path):
            rows += 1
            if record["customer_id"] in customers:
                continue
            customers[record["customer_id"]] = Customer(
                source=source,
                external_id=record["customer_id"],
                name=record["customer_name"],
                email=record["email"],
                phone=record["phone"],
                country=record["country"],
                kind=record["customer_type"],
                segment=record["segment"],
                locale=record["locale"],
                time_zone=record["time_zone"],
                effective_time_zone=record["time_zone"] or settings.TIME_ZONE,
            )
        Customer.objects.bulk_create(customers.values(), batch_size=BULK_BATCH_SIZE)
        customer_ids = {customer.external_id: customer.pk for customer in customers.values()}
        del customers

        batch = []
        for record in _read_template_rows(csv_path):
            batch.append(
                Invoice(
                    source=source,
                    customer_id=customer_ids[record["customer_id"]],
                    number=record["invoice_number"],
                    issue_date=_optional_date(record["issue_date"]),
                    due_date=datetime.date.fromisoformat(record["due_date"]),
                    currency=record["currency"],
                    amount=Decimal(record["amount"]),
                    amount_paid=Decimal(record["amount_paid"] or "0"),
                    amount_due=Decimal(record["amount_due"]),
                    ledger_status=record["status"],
                    payment_link=record["payment_link"],
                    description=record["description"],
                )
            )
            if len(batch) == BULK_BATCH_SIZE:
                Invoice.objects.bulk_create(batch)
                batch = []
        Invoice.objects.bulk_create(batch)
    return Outcome(rows=rows)


# --- django-import-export 4.4 ---------------------------------------------------------------

class SourceForeignKeyWidget(widgets.ForeignKeyWidget):
    """Look customers up by external id within the benchmark source only."""

    def get_queryset(self, value, row, *args, **kwargs):
        return Customer.objects.filter(source__name=SOURCE_NAME)


class CachedSourceForeignKeyWidget(widgets.CachedForeignKeyWidget):
    def get_queryset(self, value, row, *args, **kwargs):
        return Customer.objects.filter(source__name=SOURCE_NAME)


class BenchCustomerResource(resources.ModelResource):
    """Customers from the template's customer columns, with import-export's defaults."""

    external_id = fields.Field(attribute="external_id", column_name="customer_id")
    name = fields.Field(attribute="name", column_name="customer_name")
    kind = fields.Field(attribute="kind", column_name="customer_type")

    class Meta:
        model = Customer
        fields = ("external_id", "name", "email", "phone", "country", "kind", "segment", "locale", "time_zone")
        import_id_fields = ("external_id",)

    def __init__(self, source: Source):
        super().__init__()
        self.source = source

    def get_queryset(self):
        return Customer.objects.filter(source=self.source)

    def before_save_instance(self, instance, row, **kwargs):
        instance.source = self.source
        instance.effective_time_zone = instance.time_zone or settings.TIME_ZONE


class BenchInvoiceResource(resources.ModelResource):
    """Invoices from the template, with import-export's defaults (one query per lookup)."""

    customer = fields.Field(
        attribute="customer", column_name="customer_id", widget=SourceForeignKeyWidget(Customer, field="external_id")
    )
    number = fields.Field(attribute="number", column_name="invoice_number")
    issue_date = fields.Field(attribute="issue_date", column_name="issue_date", widget=widgets.DateWidget("%Y-%m-%d"))
    due_date = fields.Field(attribute="due_date", column_name="due_date", widget=widgets.DateWidget("%Y-%m-%d"))
    ledger_status = fields.Field(attribute="ledger_status", column_name="status")

    class Meta:
        model = Invoice
        fields = (
            "customer", "number", "issue_date", "due_date", "currency", "amount", "amount_paid",
            "amount_due", "ledger_status", "payment_link", "description",
        )
        import_id_fields = ("number",)

    def __init__(self, source: Source):
        super().__init__()
        self.source = source

    def get_queryset(self):
        return Invoice.objects.filter(source=self.source)

    def before_save_instance(self, instance, row, **kwargs):
        instance.source = self.source


TUNED_OPTIONS = {
    "instance_loader_class": CachedInstanceLoader,
    "use_bulk": True,
    "skip_diff": True,
    "batch_size": BULK_BATCH_SIZE,
}


class TunedCustomerResource(BenchCustomerResource):
    """The customer resource with the bulk settings import-export documents for large files."""

    class Meta(BenchCustomerResource.Meta):
        instance_loader_class = TUNED_OPTIONS["instance_loader_class"]
        use_bulk = TUNED_OPTIONS["use_bulk"]
        skip_diff = TUNED_OPTIONS["skip_diff"]
        batch_size = TUNED_OPTIONS["batch_size"]

    def after_import(self, dataset, result, **kwargs):
        # The default resets the id sequence to max(id), which is wrong under concurrent
        # inserts and unnecessary here because ids come from the sequence.
        pass


class TunedInvoiceResource(BenchInvoiceResource):
    customer = fields.Field(
        attribute="customer",
        column_name="customer_id",
        widget=CachedSourceForeignKeyWidget(Customer, field="external_id"),
    )

    class Meta(BenchInvoiceResource.Meta):
        instance_loader_class = TUNED_OPTIONS["instance_loader_class"]
        use_bulk = TUNED_OPTIONS["use_bulk"]
        skip_diff = TUNED_OPTIONS["skip_diff"]
        batch_size = TUNED_OPTIONS["batch_size"]

    def after_import(self, dataset, result, **kwargs):
        pass


def _customer_dataset(invoices: tablib.Dataset) -> tablib.Dataset:
    """Return the first row of each customer, because a file repeats them per invoice."""
    customer_headers = list(BenchCustomerResource.Meta.fields)
    customer_headers[customer_headers.index("external_id")] = "customer_id"
    customer_headers[customer_headers.index("name")] = "customer_name"
    customer_headers[customer_headers.index("kind")] = "customer_type"
    positions = [invoices.headers.index(header) for header in customer_headers]
    customers = tablib.Dataset(headers=customer_headers)
    seen = set()
    for row in invoices:
        if row[positions[0]] in seen:
            continue
        seen.add(row[positions[0]])
        customers.append([row[position] for position in positions])
    return customers


def _first_error(result) -> str:
    for row_number, errors in result.row_errors()[:1]:
        return f"row {row_number}: {errors[0].error!r}"
    for invalid in result.invalid_rows[:1]:
        return f"row {invalid.number}: {invalid.error_dict}"
    return "import-export reported errors"


def _import_export(csv_path: Path, source: Source, customer_class, invoice_class) -> Outcome:
    with open(csv_path, encoding="utf-8") as handle:
        invoices = tablib.Dataset().load(handle.read(), format="csv")
    customers = _customer_dataset(invoices)
    for resource, dataset in ((customer_class(source), customers), (invoice_class(source), invoices)):
        result = resource.import_data(dataset, dry_run=False, raise_errors=False)
        if result.has_errors() or result.has_validation_errors():
            return Outcome(rows=len(invoices), failure=_first_error(result))
    return Outcome(rows=len(invoices), details={"customers": len(customers)})


def measure_import_export_tuned(csv_path: Path, source: Source) -> Outcome:
    return _import_export(csv_path, source, TunedCustomerResource, TunedInvoiceResource)


def measure_import_export_default(csv_path: Path, source: Source) -> Outcome:
    return _import_export(csv_path, source, BenchCustomerResource, BenchInvoiceResource)


# --- openpyxl read-only: the XLSX floor -----------------------------------------------------

def measure_openpyxl(xlsx_path: Path, source: Source) -> Outcome:
    """Iterate every cell value of the sheet in openpyxl's read-only mode, storing nothing."""
    from openpyxl import load_workbook

    workbook = load_workbook(xlsx_path, read_only=True, data_only=True)
    rows = -1  # The header row is not a data row.
    for _values in workbook.active.iter_rows(values_only=True):
        rows += 1
    workbook.close()
    return Outcome(rows=rows)


# --- the project's import pipeline ----------------------------------------------------------

def pipeline_import_file():
    """Return customers.imports.services.import_file, or None when it does not exist yet."""
    try:
        from customers.imports import services
    except ImportError:
        return None
    return getattr(services, "import_file", None)


def _pipeline(path: Path, *, dry_run: bool, source_name: str = SOURCE_NAME, layout: str | None = None) -> Outcome:
    import_file = pipeline_import_file()
    if import_file is None:
        return Outcome(rows=0, skipped="customers.imports.services.import_file does not exist yet")
    record = import_file(
        str(path), kind="invoices", source_name=source_name, layout=layout, dry_run=dry_run, file_name=path.name
    )
    details = {"status": record.status, "counts": record.counts}
    expected_status = "previewed" if dry_run else "applied"
    if record.status != expected_status:
        first_errors = record.errors[:2] if isinstance(record.errors, list) else record.errors
        return Outcome(
            rows=record.row_count,
            failure=f"status {record.status!r}, expected {expected_status!r}; errors: {first_errors}",
            details=details,
        )
    return Outcome(rows=record.row_count, details=details)


def measure_pipeline_preview(path: Path, source: Source) -> Outcome:
    return _pipeline(path, dry_run=True)


def measure_pipeline_apply(path: Path, source: Source) -> Outcome:
    return _pipeline(path, dry_run=False)


def measure_pipeline_xero_preview(path: Path, source: Source) -> Outcome:
    if pipeline_import_file() is None:
        return Outcome(rows=0, skipped="customers.imports.services.import_file does not exist yet")
    try:
        from customers.imports.errors import ImportFileError
        from customers.imports.layouts import resolve_layout_name
    except ImportError as error:
        return Outcome(rows=0, skipped=f"the pipeline's layout module is missing: {error}")
    try:
        resolve_layout_name("xero", "invoices")
    except ImportFileError as error:
        return Outcome(rows=0, skipped=f"no Xero invoice layout yet: {error}")
    return _pipeline(path, dry_run=True, source_name=XERO_SOURCE_NAME, layout="xero")
