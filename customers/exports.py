"""django-import-export resources for exporting customers, invoices and touchpoints as CSV
or XLSX from the admin.

Text cells that begin with `=`, `+`, `-`, `@`, a tab or a carriage return are exported with
a leading single quote, so a spreadsheet program shows them as text instead of running
them as a formula. django-import-export's IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT is not
enough: in version 4.4 it only strips a leading `=`. Numbers and dates are exported as
they are, so a negative amount stays a number.

The invoice export uses the column names of our import template (template-invoices), so
an exported file can be imported again.
"""

from decimal import Decimal

from import_export import fields, resources, widgets
from import_export.admin import ExportMixin
from import_export.formats.base_formats import CSV, XLSX

from campaigns.models import Touchpoint
from customers.imports.layouts import TEMPLATE_INVOICES
from customers.models import Customer, Invoice

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
EXPORT_FORMATS = [CSV, XLSX]
DATE_FORMAT = "%Y-%m-%d"


def escape_formula(value):
    """Prefix a single quote to a text value that a spreadsheet would read as a formula.

    Other values, numbers included, are returned unchanged.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class AmountWidget(widgets.Widget):
    """A Decimal amount: plain digits with a dot in CSV ("-12.50"), a number in XLSX."""

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        if kwargs.get("force_native_type"):
            return value
        return str(value)

    def clean(self, value, row=None, **kwargs):
        return None if value in (None, "") else Decimal(str(value))


class FormulaEscapingResource(resources.ModelResource):
    """A resource whose text cells are escaped with `escape_formula` on export.

    A cell is escaped only when the model's own value is text, so an amount rendered as
    "-12.50" in a CSV stays unescaped.
    """

    def export_field(self, field, instance, **kwargs):
        value = super().export_field(field, instance, **kwargs)
        if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and self.is_text_field(field, instance):
            return escape_formula(value)
        return value

    def is_text_field(self, field, instance) -> bool:
        if isinstance(field.widget, AmountWidget | widgets.NumberWidget | widgets.DateWidget | widgets.DateTimeWidget):
            return False
        if not field.attribute:
            # A dehydrated value: the resource decides its type.
            return True
        try:
            raw = field.get_value(instance)
        except Exception:  # noqa: BLE001  (a missing related row renders as an empty cell)
            return True
        return not isinstance(raw, int | float | Decimal)


def text_field(attribute: str, column_name: str) -> fields.Field:
    return fields.Field(attribute=attribute, column_name=column_name, readonly=True)


def amount_field(attribute: str, column_name: str) -> fields.Field:
    return fields.Field(attribute=attribute, column_name=column_name, widget=AmountWidget(), readonly=True)


def date_field(attribute: str, column_name: str) -> fields.Field:
    return fields.Field(attribute=attribute, column_name=column_name, widget=widgets.DateWidget(DATE_FORMAT), readonly=True)


class CustomerResource(FormulaEscapingResource):
    source = text_field("source__name", "source")
    assigned_agent = text_field("assigned_agent__username", "assigned_agent")

    class Meta:
        model = Customer
        fields = (
            "id",
            "source",
            "external_id",
            "name",
            "email",
            "phone",
            "country",
            "kind",
            "segment",
            "tags",
            "locale",
            "time_zone",
            "effective_time_zone",
            "assigned_agent",
            "sms_consent",
            "marketing_consent",
            "email_status",
            "sms_status",
            "created_at",
            "updated_at",
        )
        export_order = fields

    def get_queryset(self):
        return super().get_queryset().select_related("source", "assigned_agent")


class InvoiceResource(FormulaEscapingResource):
    """Invoices in the columns of our import template, plus the source name."""

    source = text_field("source__name", "source")
    customer_id = text_field("customer__external_id", "customer_id")
    customer_name = text_field("customer__name", "customer_name")
    email = text_field("customer__email", "email")
    phone = text_field("customer__phone", "phone")
    country = text_field("customer__country", "country")
    customer_type = text_field("customer__kind", "customer_type")
    segment = text_field("customer__segment", "segment")
    locale = text_field("customer__locale", "locale")
    time_zone = text_field("customer__time_zone", "time_zone")
    invoice_number = text_field("number", "invoice_number")
    issue_date = date_field("issue_date", "issue_date")
    due_date = date_field("due_date", "due_date")
    currency = text_field("currency", "currency")
    amount = amount_field("amount", "amount")
    amount_paid = amount_field("amount_paid", "amount_paid")
    amount_due = amount_field("amount_due", "amount_due")
    status = text_field("ledger_status", "status")
    payment_link = text_field("payment_link", "payment_link")
    description = text_field("description", "description")

    class Meta:
        model = Invoice
        # Our invoices template's columns, so that an export imports back as it is.
        fields = ("source", *(column.header for column in TEMPLATE_INVOICES.columns))
        export_order = fields

    def get_queryset(self):
        return super().get_queryset().select_related("source", "customer")


class TouchpointResource(FormulaEscapingResource):
    customer_source = text_field("customer__source__name", "customer_source")
    customer_id = text_field("customer__external_id", "customer_id")
    customer_name = text_field("customer__name", "customer_name")
    invoices = fields.Field(column_name="invoices", readonly=True)

    class Meta:
        model = Touchpoint
        fields = (
            "id",
            "customer_source",
            "customer_id",
            "customer_name",
            "invoices",
            "kind",
            "channel",
            "status",
            "status_reason",
            "tier",
            "template_key",
            "due_at",
            "sent_at",
            "recipient",
            "subject",
            "language",
            "attempts",
        )
        export_order = fields

    def get_queryset(self):
        return super().get_queryset().select_related("customer__source").prefetch_related("invoice_links__invoice")

    def dehydrate_invoices(self, touchpoint):
        return " ".join(link.invoice.number for link in touchpoint.invoice_links.all())


class ExportAdminMixin(ExportMixin):
    """Adds the Export button (CSV and XLSX) to a model admin; set `resource_classes`.

    Only users with the model's `export_<model>` permission see it.
    """

    export_formats = EXPORT_FORMATS
