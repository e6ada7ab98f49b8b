"""Admin for the ledger (sources, customers, invoices, payments) and the collections state
that agents keep beside it (disputes, pauses, promises to pay).

Ledger fields are read-only here because imports write them. Agents record payments
through `customers.services.payment_record`, the same path imports use.
"""

from customers import admin_imports  # noqa: F401

import datetime
from collections import defaultdict

from django import forms
from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import DateField, Func, IntegerField, QuerySet, Sum, Value
from django.db.models.functions import Cast
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from campaigns.models import Touchpoint
from customers.exports import CustomerResource, ExportAdminMixin, InvoiceResource
from customers.models import (
    Contact,
    Customer,
    CustomerCredit,
    Dispute,
    Invoice,
    Pause,
    Payment,
    PaymentCard,
    PromiseToPay,
    Source,
)
from customers.money import CurrencyError, quantum
from customers.services import payment_record
from customers.timezones import effective_time_zone, is_valid_zone
from dunning_site.admin_base import DunningModelAdmin, ReadOnlyAdmin

# The customer page leaves out older touchpoints. Its "all touchpoints" link lists every one.
RECENT_TOUCHPOINT_DAYS = 90

INVOICE_LEDGER_FIELDS = (
    "source",
    "customer",
    "number",
    "display_number",
    "issue_date",
    "due_date",
    "currency",
    "amount",
    "amount_paid",
    "amount_due",
    "ledger_status",
    "payment_link",
    "description",
    "version",
    "created_at",
    "updated_at",
)


class DaysSince(Func):
    """Whole days from a date column to a given day: positive when the column is earlier.

    PostgreSQL subtracts two dates to an integer; SQLite needs julianday().
    """

    output_field = IntegerField()
    arg_joiner = " - "
    template = "(%(expressions)s)"

    def __init__(self, day, expression, **extra):
        super().__init__(Cast(Value(day), DateField()), expression, **extra)

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler,
            connection,
            template="CAST(julianday(%(expressions)s) AS INTEGER)",
            arg_joiner=") - julianday(",
            **extra_context,
        )


# Unfiltered lists of tables with more rows than this show PostgreSQL's estimate.
ESTIMATED_COUNT_MIN_ROWS = 100_000


class EstimatedCountPaginator(Paginator):
    """Counts an unfiltered list of a big table from PostgreSQL's row estimate.

    COUNT(*) reads the whole table on every page view. pg_class.reltuples is refreshed
    by VACUUM and ANALYZE, so the total shown drifts from the exact count in between.
    Filtered and searched lists, and every list on SQLite, are counted exactly.
    """

    @cached_property
    def count(self):
        queryset = self.object_list
        if isinstance(queryset, QuerySet) and not queryset.query.where:
            estimate = estimated_row_count(queryset)
            if estimate is not None and estimate >= ESTIMATED_COUNT_MIN_ROWS:
                return estimate
        return super().count


def estimated_row_count(queryset: QuerySet) -> int | None:
    """Return PostgreSQL's estimate of the rows in the queryset's table, or None elsewhere
    and for a table never analysed."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [queryset.model._meta.db_table])
        row = cursor.fetchone()
    # PostgreSQL 14 and later store -1 until the table's first VACUUM or ANALYZE.
    if row is None or row[0] < 0:
        return None
    return row[0]


def format_money(amount, currency) -> str:
    """Format an amount with its currency's decimal places, for example "1,234.50 GBP"."""
    # SQLite returns sums without trailing zeros ("1234.5").
    try:
        amount = amount.quantize(quantum(currency))
    except CurrencyError:
        pass
    return f"{amount:,} {currency}"


def admin_change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


# --- Sources ------------------------------------------------------------------------


@admin.register(Source)
class SourceAdmin(DunningModelAdmin):
    list_display = ("name", "kind", "max_data_age_days", "last_imported_at")
    list_filter = ("kind",)
    search_fields = ("^name",)
    readonly_fields = ("last_imported_at", "created_at")


# --- Customers ----------------------------------------------------------------------


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0
    fields = ("name", "role", "email", "phone", "receives_dunning")


class CustomerPauseInlineForm(forms.ModelForm):
    def clean(self):
        cleaned = super().clean()
        invoice = cleaned.get("invoice")
        if invoice is not None and invoice.customer_id != self.instance.customer_id:
            self.add_error("invoice", _("Invoice %(invoice)s belongs to another customer.") % {"invoice": invoice.number})
        return cleaned


class CustomerPauseInline(admin.TabularInline):
    model = Pause
    form = CustomerPauseInlineForm
    fk_name = "customer"
    extra = 0
    verbose_name = _("pause")
    verbose_name_plural = _("pauses (all of this customer's invoices, or one invoice)")
    fields = ("invoice", "until", "reason", "created_by", "created_at")
    readonly_fields = ("created_by", "created_at")
    raw_id_fields = ("invoice",)


class OpenInvoiceInline(admin.TabularInline):
    """The customer's open invoices, read-only: imports write the ledger."""

    model = Invoice
    fk_name = "customer"
    verbose_name = _("open invoice")
    verbose_name_plural = _("open invoices")
    fields = ("number", "due_date", "currency", "amount", "amount_due", "ledger_status")
    readonly_fields = fields
    show_change_link = True
    can_delete = False
    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).filter(ledger_status=Invoice.LedgerStatus.OPEN)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RecentTouchpointInline(admin.TabularInline):
    """The customer's touchpoints of the last RECENT_TOUCHPOINT_DAYS days, read-only."""

    model = Touchpoint
    fk_name = "customer"
    verbose_name = _("recent touchpoint")
    verbose_name_plural = format_lazy(_("recent touchpoints (last {days} days)"), days=RECENT_TOUCHPOINT_DAYS)
    fields = ("created_at", "kind", "tier", "channel", "status", "delivery_status", "sent_at", "subject")
    readonly_fields = fields
    show_change_link = True
    can_delete = False
    extra = 0

    def get_queryset(self, request):
        since = timezone.now() - datetime.timedelta(days=RECENT_TOUCHPOINT_DAYS)
        return super().get_queryset(request).filter(created_at__gte=since).order_by("-created_at")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CustomerForm(forms.ModelForm):
    class Meta:
        model = Customer
        fields = "__all__"

    def clean_time_zone(self):
        time_zone = self.cleaned_data.get("time_zone", "").strip()
        if time_zone and not is_valid_zone(time_zone):
            raise forms.ValidationError(
                _("%(zone)s is not an IANA time zone; use a name such as Europe/Paris, or leave it blank.")
                % {"zone": time_zone}
            )
        return time_zone


class CustomerChangeList(ChangeList):
    """Adds each listed customer's open balance per currency with one query per page."""

    def get_results(self, request):
        super().get_results(request)
        customers = list(self.result_list)
        balances = defaultdict(list)
        rows = (
            Invoice.objects.filter(customer__in=customers, ledger_status=Invoice.LedgerStatus.OPEN)
            .values("customer_id", "currency")
            .annotate(total=Sum("amount_due"))
            .order_by("customer_id", "currency")
        )
        for row in rows:
            balances[row["customer_id"]].append((row["currency"], row["total"]))
        for customer in customers:
            customer.open_balances = balances.get(customer.pk, [])


@admin.register(Customer)
class CustomerAdmin(ExportAdminMixin, DunningModelAdmin):
    resource_classes = [CustomerResource]
    form = CustomerForm
    paginator = EstimatedCountPaginator
    list_display = ("name", "source", "external_id", "email", "country", "open_balance", "assigned_agent")
    list_select_related = ("source", "assigned_agent")
    list_filter = ("source", "kind", "email_status")
    # Prefix and exact matches only, because a substring search (icontains) scans the table.
    search_fields = ("^name", "=email", "=external_id")
    search_help_text = _("Name starting with the text, or the exact email address or external id.")
    show_facets = admin.ShowFacets.NEVER
    raw_id_fields = ("assigned_agent",)
    readonly_fields = ("effective_time_zone", "collections_state", "all_records", "created_at", "updated_at")
    inlines = (ContactInline, CustomerPauseInline, OpenInvoiceInline, RecentTouchpointInline)
    fieldsets = (
        (None, {"fields": ("source", "external_id", "name", "kind", "segment", "tags", "assigned_agent")}),
        (
            _("Contact"),
            {"fields": ("email", "email_status", "phone", "sms_status", "country", "locale", "time_zone", "effective_time_zone")},
        ),
        (
            _("Consents"),
            {
                "fields": (
                    ("sms_consent", "sms_consent_at", "sms_consent_source"),
                    ("marketing_consent", "marketing_consent_at", "marketing_consent_source"),
                )
            },
        ),
        (_("Collections"), {"fields": ("collections_state", "all_records")}),
        (_("Record"), {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )

    def get_changelist(self, request, **kwargs):
        return CustomerChangeList

    def save_model(self, request, obj, form, change):
        # The dunning pass groups customers by this zone, so keep it in step with the
        # fields it is inferred from, as imports do.
        obj.effective_time_zone = effective_time_zone(time_zone=obj.time_zone, phone=obj.phone, country=obj.country)
        super().save_model(request, obj, form, change)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            # The source and external id are the key imports match on.
            readonly += ["source", "external_id"]
        return readonly

    @admin.display(description=_("open balance"))
    def open_balance(self, customer):
        balances = getattr(customer, "open_balances", None)
        if balances is None:
            return "—"
        return " · ".join(format_money(total, currency) for currency, total in balances) or "—"

    @admin.display(description=_("collections state"))
    def collections_state(self, customer):
        if customer.pk is None:
            return "—"
        today = timezone.localdate()
        context = {
            "disputes": Dispute.objects.filter(invoice__customer=customer, resolved_at__isnull=True).select_related("invoice"),
            "pauses": Pause.objects.filter(customer=customer, until__gte=today).select_related("invoice"),
            "promises": PromiseToPay.objects.filter(invoice__customer=customer, promised_on__gte=today).select_related("invoice"),
        }
        return render_to_string("admin/customers/customer/collections_state.html", context)

    @admin.display(description=_("all records"))
    def all_records(self, customer):
        if customer.pk is None:
            return "—"
        filter_query = urlencode({"customer__id__exact": customer.pk})
        return format_html(
            '<a href="{}?{}">{}</a> · <a href="{}?{}">{}</a> · <a href="{}?{}">{}</a>',
            reverse("admin:customers_invoice_changelist"),
            filter_query,
            _("all invoices"),
            reverse("admin:customers_payment_changelist"),
            filter_query,
            _("all payments"),
            reverse("admin:campaigns_touchpoint_changelist"),
            filter_query,
            _("all touchpoints"),
        )

    def save_formset(self, request, form, formset, change):
        set_creator_on_new_rows(request, formset)


def set_creator_on_new_rows(request, formset):
    """Save a collections-state formset, recording the acting user on new rows."""
    instances = formset.save(commit=False)
    for instance in instances:
        if instance.pk is None:
            if isinstance(instance, Dispute):
                instance.opened_by = request.user
            elif hasattr(instance, "created_by_id"):
                instance.created_by = request.user
            if isinstance(instance, Pause) and instance.invoice_id and not instance.customer_id:
                instance.customer_id = instance.invoice.customer_id
        instance.save()
    for instance in formset.deleted_objects:
        instance.delete()
    formset.save_m2m()


# --- Invoices -----------------------------------------------------------------------


class DaysOverdueFilter(admin.SimpleListFilter):
    title = _("days overdue")
    parameter_name = "overdue"

    # value -> (label, (minimum, maximum) days overdue), where None means no bound.
    BUCKETS = {
        "not_due": (_("Not yet due"), (None, -1)),
        "today": (_("Due today"), (0, 0)),
        "1_7": (_("1–7 days"), (1, 7)),
        "8_30": (_("8–30 days"), (8, 30)),
        "31_60": (_("31–60 days"), (31, 60)),
        "over_60": (_("Over 60 days"), (61, None)),
    }

    def lookups(self, request, model_admin):
        return [(value, label) for value, (label, _bounds) in self.BUCKETS.items()]

    def queryset(self, request, queryset):
        if self.value() not in self.BUCKETS:
            return queryset
        minimum_days, maximum_days = self.BUCKETS[self.value()][1]
        today = timezone.localdate()
        # Filter on due_date, which is indexed, rather than on the annotation.
        if minimum_days is not None:
            queryset = queryset.filter(due_date__lte=today - datetime.timedelta(days=minimum_days))
        if maximum_days is not None:
            queryset = queryset.filter(due_date__gte=today - datetime.timedelta(days=maximum_days))
        return queryset


class PaymentInline(admin.TabularInline):
    model = Payment
    fk_name = "invoice"
    fields = ("paid_on", "amount", "currency", "origin", "reference", "method", "is_historical", "recorded_by")
    readonly_fields = fields
    show_change_link = True
    can_delete = False
    extra = 0

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class DisputeInline(admin.StackedInline):
    model = Dispute
    extra = 0
    fields = ("reason", "opened_at", "opened_by", "resolved_at", "resolution")
    readonly_fields = ("opened_by",)


class InvoicePauseInline(admin.TabularInline):
    model = Pause
    fk_name = "invoice"
    extra = 0
    fields = ("until", "reason", "created_by", "created_at")
    readonly_fields = ("created_by", "created_at")


class PromiseInline(admin.TabularInline):
    model = PromiseToPay
    extra = 0
    fields = ("promised_on", "amount", "note", "created_by", "created_at")
    readonly_fields = ("created_by", "created_at")


COLLECTIONS_STATE_PERMISSIONS = (
    "customers.add_dispute",
    "customers.change_dispute",
    "customers.add_pause",
    "customers.change_pause",
    "customers.add_promisetopay",
    "customers.change_promisetopay",
)


@admin.register(Invoice)
class InvoiceAdmin(ExportAdminMixin, DunningModelAdmin):
    resource_classes = [InvoiceResource]
    paginator = EstimatedCountPaginator
    list_display = ("number", "customer", "due_date", "days_overdue", "amount_due_with_currency", "ledger_status")
    list_select_related = ("customer",)
    list_filter = ("ledger_status", DaysOverdueFilter, "source")
    search_fields = ("=number", "=display_number", "^customer__name", "=customer__external_id")
    search_help_text = _("Exact invoice number, customer name starting with the text, or exact customer id.")
    show_facets = admin.ShowFacets.NEVER
    raw_id_fields = ("customer",)
    fields = INVOICE_LEDGER_FIELDS
    inlines = (PaymentInline, DisputeInline, InvoicePauseInline, PromiseInline)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(days_overdue=DaysSince(timezone.localdate(), "due_date"))

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        if obj is not None and request.user.has_perm("customers.add_payment"):
            fields.insert(fields.index("ledger_status") + 1, "record_payment")
        return fields

    def get_readonly_fields(self, request, obj=None):
        return (*INVOICE_LEDGER_FIELDS, "record_payment")

    def has_add_permission(self, request):
        # Invoices come from imports, which own every ledger field.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # Every ledger field is read-only, so saving an invoice page only saves its
        # disputes, pauses and promises. Staff who may add or change those may save it.
        if super().has_change_permission(request, obj):
            return True
        return any(request.user.has_perm(permission) for permission in COLLECTIONS_STATE_PERMISSIONS)

    @admin.display(description=_("days overdue"), ordering="days_overdue")
    def days_overdue(self, invoice):
        days = invoice.days_overdue
        if days > 0:
            return days
        if days == 0:
            return _("due today")
        return _("due in %(days)d days") % {"days": -days}

    @admin.display(description=_("amount due"), ordering="amount_due")
    def amount_due_with_currency(self, invoice):
        return format_money(invoice.amount_due, invoice.currency)

    @admin.display(description=_("payment"))
    def record_payment(self, invoice):
        return format_html(
            '<a href="{}?{}">{}</a>',
            reverse("admin:customers_payment_add"),
            urlencode({"invoice": invoice.pk}),
            _("Record a payment for this invoice"),
        )

    def save_formset(self, request, form, formset, change):
        set_creator_on_new_rows(request, formset)


# --- Payments -----------------------------------------------------------------------


class PaymentAddForm(forms.ModelForm):
    class Meta:
        model = Payment
        fields = ("invoice", "amount", "paid_on", "reference", "method")
        help_texts = {"amount": _("In the invoice's currency.")}

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount is not None and amount <= 0:
            raise forms.ValidationError(
                _("The amount must be positive; record refunds in the ledger, not as a payment.")
            )
        return amount

    def clean_paid_on(self):
        paid_on = self.cleaned_data["paid_on"]
        today = timezone.localdate()
        if paid_on and paid_on > today:
            raise forms.ValidationError(
                _("%(date)s is in the future; enter the date the money arrived (today is %(today)s).")
                % {"date": paid_on, "today": today}
            )
        return paid_on

    def clean(self):
        cleaned = super().clean()
        invoice = cleaned.get("invoice")
        reference = cleaned.get("reference")
        if invoice and reference and Payment.objects.filter(invoice=invoice, reference=reference).exists():
            self.add_error(
                "reference",
                _("A payment with reference %(reference)s is already recorded for invoice %(invoice)s.")
                % {"reference": reference, "invoice": invoice.number},
            )
        return cleaned


@admin.register(Payment)
class PaymentAdmin(DunningModelAdmin):
    paginator = EstimatedCountPaginator
    list_display = ("paid_on", "invoice", "customer", "amount_with_currency", "origin", "reference", "is_historical", "recorded_by")
    list_select_related = ("invoice", "customer", "recorded_by")
    list_filter = ("origin", "is_historical")
    search_fields = ("=reference", "=invoice__number", "^customer__name")
    show_facets = admin.ShowFacets.NEVER
    raw_id_fields = ("invoice",)
    readonly_fields = ("thank_you_link",)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        # The invoice page links here with ?invoice=<id>: offer its amount due.
        invoice_id = str(initial.get("invoice", ""))
        if invoice_id.isdigit():
            invoice = Invoice.objects.filter(pk=invoice_id).first()
            if invoice is not None:
                initial.setdefault("amount", invoice.amount_due)
        initial.setdefault("paid_on", timezone.localdate())
        return initial

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = PaymentAddForm
            kwargs["fields"] = PaymentAddForm.Meta.fields
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return PaymentAddForm.Meta.fields
        return (
            "invoice", "customer", "amount", "currency", "paid_on", "reference", "method", "origin",
            "is_historical", "recorded_by", "import_record", "created_at", "thank_you_link",
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return self.get_fields(request, obj)

    def has_change_permission(self, request, obj=None):
        # A recorded payment has moved a balance and maybe thanked the customer: it is history.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("amount"), ordering="amount")
    def amount_with_currency(self, payment):
        return format_money(payment.amount, payment.currency)

    @admin.display(description=_("thank-you"))
    def thank_you_link(self, payment):
        touchpoint = Touchpoint.objects.filter(payment=payment).first()
        if touchpoint is None:
            return _("none (historical, older than the thank-you window, or not recorded yet)")
        return format_html('<a href="{}">{}</a>', admin_change_url(touchpoint), touchpoint)

    def save_model(self, request, obj, form, change):
        if change:
            raise PermissionDenied
        data = form.cleaned_data
        # PaymentAddForm checks each condition that makes payment_record raise
        # PaymentError, so the agent gets form errors before anything is written.
        payment = payment_record(
            invoice=data["invoice"],
            amount=data["amount"],
            paid_on=data["paid_on"],
            origin=Payment.Origin.AGENT,
            reference=data["reference"],
            method=data["method"],
            user=request.user,
        )
        # The admin logs and redirects using `obj`, so give it the recorded row.
        for field in Payment._meta.concrete_fields:
            setattr(obj, field.attname, getattr(payment, field.attname))
        obj._state.adding = False
        obj._state.db = payment._state.db


# --- Collections state --------------------------------------------------------------


class PauseForm(forms.ModelForm):
    class Meta:
        model = Pause
        fields = ("customer", "invoice", "until", "reason")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The field is missing when the page is read-only for this user.
        if "customer" in self.fields:
            self.fields["customer"].required = False
            self.fields["customer"].help_text = _("Filled in from the invoice when left blank.")

    def clean(self):
        cleaned = super().clean()
        customer = cleaned.get("customer")
        invoice = cleaned.get("invoice")
        if invoice is not None:
            if customer is None:
                cleaned["customer"] = invoice.customer
            elif customer.pk != invoice.customer_id:
                self.add_error(
                    "invoice",
                    _("Invoice %(invoice)s belongs to %(owner)s, not %(customer)s.")
                    % {"invoice": invoice.number, "owner": invoice.customer, "customer": customer},
                )
        elif customer is None:
            self.add_error("customer", _("Choose a customer, an invoice, or both."))
        return cleaned


class CollectionsStateAdmin(DunningModelAdmin):
    """Shared list settings for disputes, pauses and promises, which record who added them."""

    show_facets = admin.ShowFacets.NEVER
    creator_field = "created_by"

    def get_readonly_fields(self, request, obj=None):
        return (self.creator_field,)

    def save_model(self, request, obj, form, change):
        if not change:
            setattr(obj, self.creator_field, request.user)
        super().save_model(request, obj, form, change)


@admin.register(Dispute)
class DisputeAdmin(CollectionsStateAdmin):
    list_display = ("invoice", "opened_at", "opened_by", "resolved_at")
    list_select_related = ("invoice", "opened_by")
    list_filter = (("resolved_at", admin.EmptyFieldListFilter),)
    search_fields = ("=invoice__number", "^invoice__customer__name")
    raw_id_fields = ("invoice",)
    creator_field = "opened_by"


@admin.register(Pause)
class PauseAdmin(CollectionsStateAdmin):
    form = PauseForm
    list_display = ("customer", "invoice", "until", "created_by", "created_at")
    list_select_related = ("customer", "invoice", "created_by")
    search_fields = ("^customer__name", "=invoice__number")
    raw_id_fields = ("customer", "invoice")


@admin.register(PromiseToPay)
class PromiseToPayAdmin(CollectionsStateAdmin):
    list_display = ("invoice", "promised_on", "amount", "created_by", "created_at")
    list_select_related = ("invoice", "created_by")
    search_fields = ("=invoice__number", "^invoice__customer__name")
    raw_id_fields = ("invoice",)


# --- Credits and cards (read-only: imports and payments create them) ----------------


@admin.register(CustomerCredit)
class CustomerCreditAdmin(ReadOnlyAdmin):
    list_display = ("customer", "amount", "currency", "origin", "reference", "needs_review", "created_at")
    list_select_related = ("customer",)
    list_filter = ("origin", "needs_review")
    search_fields = ("^customer__name", "=reference")
    show_facets = admin.ShowFacets.NEVER


@admin.register(PaymentCard)
class PaymentCardAdmin(ReadOnlyAdmin):
    list_display = ("customer", "brand", "last4", "exp_month", "exp_year", "is_default")
    list_select_related = ("customer",)
    search_fields = ("^customer__name",)
    show_facets = admin.ShowFacets.NEVER
