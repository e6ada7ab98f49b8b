"""Admin for campaigns, message templates, touchpoints and dunning runs.

Touchpoints and runs are history and stay read-only. Published campaign versions are
read-only too, because invoices are pinned to them: staff copy a version to a draft,
edit the draft's steps and publish it with the "publish" action.
"""

import datetime
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.template import TemplateSyntaxError
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from campaigns.campaign_services import (
    CampaignVersionError,
    campaign_version_copy_to_draft,
    campaign_version_publish,
)
from campaigns.models import (
    Campaign,
    CampaignStep,
    CampaignVersion,
    DunningRun,
    MessageTemplate,
    Touchpoint,
    TouchpointEvent,
    TouchpointInvoice,
)
from campaigns.services import touchpoint_log_manual
from customers.admin import EstimatedCountPaginator
from customers.exports import ExportAdminMixin, TouchpointResource
from customers.models import Customer, Invoice, Payment
from dunning_site.admin_base import DunningModelAdmin, ReadOnlyAdmin


class ReadOnlyInline(admin.TabularInline):
    """A read-only inline. Permission to view or change the parent is enough to see it."""

    extra = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        opts = self.parent_model._meta
        return request.user.has_perm(f"{opts.app_label}.view_{opts.model_name}") or request.user.has_perm(
            f"{opts.app_label}.change_{opts.model_name}"
        )


# --- Campaigns ----------------------------------------------------------------------


class CampaignVersionInline(ReadOnlyInline):
    model = CampaignVersion
    fields = ("number", "status", "published_at", "created_at")
    show_change_link = True


@admin.register(Campaign)
class CampaignAdmin(DunningModelAdmin):
    list_display = ("name", "is_active", "priority", "entry_tier", "min_days_between_messages", "published_version", "audience")
    list_filter = ("is_active",)
    search_fields = ("^name",)
    inlines = (CampaignVersionInline,)
    fieldsets = (
        (None, {"fields": ("name", "description", "is_active", "priority")}),
        (_("Contact rules"), {"fields": ("entry_tier", "min_days_between_messages")}),
        (
            _("Audience (blank matches every invoice)"),
            {"fields": ("audience_source", "audience_customer_kind", "audience_segment", "audience_currency")},
        ),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("audience_source").prefetch_related("versions")

    @admin.display(description=_("published version"))
    def published_version(self, campaign):
        published = [v for v in campaign.versions.all() if v.status == CampaignVersion.Status.PUBLISHED]
        if not published:
            return _("none")
        return format_html('<a href="{}">v{}</a>', reverse("admin:campaigns_campaignversion_change", args=[published[0].pk]), published[0].number)

    @admin.display(description=_("audience"))
    def audience(self, campaign):
        parts = [
            str(campaign.audience_source or ""),
            campaign.audience_customer_kind,
            campaign.audience_segment,
            campaign.audience_currency,
        ]
        return " · ".join(part for part in parts if part) or _("every invoice")


class CampaignStepForm(forms.ModelForm):
    class Meta:
        model = CampaignStep
        fields = ("offset_days", "tier", "channel", "template_key")

    def clean(self):
        cleaned = super().clean()
        key = cleaned.get("template_key")
        channel = cleaned.get("channel")
        if key and channel and not MessageTemplate.objects.filter(key=key, channel=channel).exists():
            self.add_error(
                "template_key",
                _("No message template has the key %(key)s for the %(channel)s channel; create the template first.")
                % {"key": key, "channel": channel},
            )
        return cleaned


class CampaignStepInline(admin.TabularInline):
    """Steps are editable only while their version is a draft."""

    model = CampaignStep
    form = CampaignStepForm
    extra = 0
    fields = ("offset_days", "tier", "channel", "template_key")

    def _is_draft(self, obj):
        return obj is None or obj.status == CampaignVersion.Status.DRAFT

    def has_add_permission(self, request, obj=None):
        return self._is_draft(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._is_draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._is_draft(obj) and super().has_delete_permission(request, obj)


@admin.register(CampaignVersion)
class CampaignVersionAdmin(DunningModelAdmin):
    list_display = ("__str__", "campaign", "number", "status", "published_at", "step_count")
    list_filter = ("status", "campaign")
    list_select_related = ("campaign",)
    inlines = (CampaignStepInline,)
    actions = ("publish_versions", "copy_to_draft")
    fields = ("campaign", "number", "status", "published_at", "created_at")
    readonly_fields = ("number", "status", "published_at", "created_at")

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return ("campaign", *self.readonly_fields)
        return self.readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("steps")

    @admin.display(description=_("steps"))
    def step_count(self, version):
        return len(version.steps.all())

    def save_model(self, request, obj, form, change):
        if not change:
            last = CampaignVersion.objects.filter(campaign=obj.campaign).order_by("-number").first()
            obj.number = (last.number if last else 0) + 1
            obj.status = CampaignVersion.Status.DRAFT
        super().save_model(request, obj, form, change)

    @admin.action(description=_("Publish the selected drafts and retire the versions they replace"), permissions=["change"])
    def publish_versions(self, request, queryset):
        published = 0
        for version in queryset.select_related("campaign"):
            try:
                campaign_version_publish(version=version)
            except CampaignVersionError as error:
                self.message_user(request, str(error), messages.ERROR)
            else:
                published += 1
        if published:
            self.message_user(
                request,
                ngettext("Published %(count)d version.", "Published %(count)d versions.", published) % {"count": published},
                messages.SUCCESS,
            )

    @admin.action(description=_("Copy the selected versions to new drafts"), permissions=["add"])
    def copy_to_draft(self, request, queryset):
        for version in queryset.select_related("campaign"):
            draft = campaign_version_copy_to_draft(version=version)
            self.message_user(
                request,
                format_html(
                    '{} <a href="{}">{}</a>',
                    _("Created draft"),
                    reverse("admin:campaigns_campaignversion_change", args=[draft.pk]),
                    str(draft),
                ),
                messages.SUCCESS,
            )


# --- Message templates ---------------------------------------------------------------


class MessageTemplateForm(forms.ModelForm):
    TEMPLATE_FIELDS = ("subject", "body_text", "body_html")

    class Meta:
        model = MessageTemplate
        fields = ("key", "channel", "language", "subject", "body_text", "body_html")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        languages = list(settings.DUNNING_MESSAGE_LANGUAGES)
        current = self.instance.language if self.instance.pk else None
        if current and current not in languages:
            languages.append(current)
        self.fields["language"] = forms.ChoiceField(
            label=_("language"),
            choices=[(code, code) for code in languages],
            help_text=_("Customers whose locale has no template in their language get the default locale's."),
        )

    def clean(self):
        from campaigns.rendering import validate_template_source

        cleaned = super().clean()
        for name in self.TEMPLATE_FIELDS:
            source = cleaned.get(name)
            if not source:
                continue
            for error in validate_template_source(source):
                self.add_error(name, error)
        return cleaned


# Days from the due date to the sample "today" of a preview, per template key.
PREVIEW_DUE_OFFSETS = {"courtesy-reminder": -3, "friendly-note": 0, "firm-reminder": 9, "final-notice": 23, "thank-you": 2}
PREVIEW_CURRENCIES = {
    "en": ("en-GB", "GBP"),
    "fr": ("fr-FR", "EUR"),
    "de": ("de-DE", "EUR"),
    "es": ("es-ES", "EUR"),
    "nl": ("nl-NL", "EUR"),
}


def preview_context(template: MessageTemplate) -> dict:
    """Build a rendering context for fictional data in the template's language."""
    from campaigns.rendering import build_context

    locale, currency = PREVIEW_CURRENCIES.get(template.language, (template.language, "EUR"))
    today = timezone.localdate()
    due_date = today - datetime.timedelta(days=PREVIEW_DUE_OFFSETS.get(template.key, 10))
    customer = Customer(name="Aoife O'Brien & Sons", locale=locale)
    invoice = Invoice(number="INV-1042", currency=currency, amount_due=Decimal("1234.50"), due_date=due_date,
                      payment_link="https://pay.example/inv-1042")
    payment = Payment(amount=Decimal("1234.50"), currency=currency, paid_on=today)
    return build_context(customer=customer, invoice=invoice, payment=payment, today=today)


@admin.register(MessageTemplate)
class MessageTemplateAdmin(DunningModelAdmin):
    form = MessageTemplateForm
    list_display = ("key", "channel", "language", "subject", "updated_at")
    list_filter = ("channel", "language")
    search_fields = ("^key", "subject")
    readonly_fields = ("updated_at", "preview")

    def get_fields(self, request, obj=None):
        fields = ["key", "channel", "language", "subject", "body_text", "body_html", "updated_at"]
        if obj is not None:
            fields.append("preview")
        return fields

    @admin.display(description=_("preview with sample data"))
    def preview(self, template):
        from campaigns.rendering import render_message

        # Saved templates passed validation, but rows written outside the admin did not.
        try:
            message = render_message(template, preview_context(template))
        except TemplateSyntaxError as error:
            return format_html("<p>{}: {}</p>", _("The saved template cannot be rendered"), error)
        sample = {
            "recipient": "aoife@customer.example",
            "language": template.language,
            "subject": message.subject,
            "body_text": message.body_text,
            "body_html": message.body_html,
        }
        return render_to_string("admin/campaigns/touchpoint/message_as_sent.html", {"touchpoint": sample})


# --- Touchpoints ----------------------------------------------------------------------


class TouchpointInvoiceInline(ReadOnlyInline):
    model = TouchpointInvoice
    verbose_name_plural = _("invoices covered")
    fields = ("invoice", "step", "amount_due")


class TouchpointEventInline(ReadOnlyInline):
    model = TouchpointEvent
    verbose_name_plural = _("events")
    fields = ("at", "kind", "from_status", "to_status", "message", "worker", "actor")


class ManualTouchpointForm(forms.ModelForm):
    """Log what an agent did: a call, a note, a letter. Invoices are named by number."""

    invoice_numbers = forms.CharField(
        label=_("invoices"),
        required=False,
        help_text=_("Numbers of the customer's invoices this was about, separated by commas."),
    )

    class Meta:
        model = Touchpoint
        fields = ("customer", "action", "note")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].required = True
        self.fields["note"].required = True

    def clean(self):
        cleaned = super().clean()
        customer = cleaned.get("customer")
        numbers = [number.strip() for number in (cleaned.get("invoice_numbers") or "").split(",") if number.strip()]
        if customer is None or not numbers:
            cleaned["invoices"] = []
            return cleaned
        invoices = {invoice.number: invoice for invoice in Invoice.objects.filter(customer=customer, number__in=numbers)}
        unknown = [number for number in numbers if number not in invoices]
        if unknown:
            self.add_error(
                "invoice_numbers",
                _("%(customer)s has no invoice numbered %(numbers)s; check the numbers on the customer's page.")
                % {"customer": customer, "numbers": ", ".join(unknown)},
            )
        cleaned["invoices"] = [invoices[number] for number in numbers if number in invoices]
        return cleaned


@admin.register(Touchpoint)
class TouchpointAdmin(ExportAdminMixin, ReadOnlyAdmin):
    """Sent history: staff with the view permission see it, and the admin changes none of it.

    Staff with the add permission (agents, managers) may log a manual touchpoint, which
    records an action and sends nothing.
    """

    resource_classes = [TouchpointResource]

    paginator = EstimatedCountPaginator
    list_display = ("created_at", "customer", "kind", "action", "tier", "channel", "status", "delivery_status", "sent_at", "claimed_by")
    list_select_related = ("customer",)
    list_filter = ("status", "kind", "channel", "delivery_status", "tier")
    search_fields = ("^customer__name", "=recipient", "=esp_message_id")
    search_help_text = _("Customer name starting with the text, or the exact recipient address or ESP message id.")
    show_facets = admin.ShowFacets.NEVER
    inlines = (TouchpointInvoiceInline, TouchpointEventInline)
    fieldsets = (
        (None, {"fields": ("customer", "kind", "action", "status", "status_reason", "tier", "channel", "template_key", "note")}),
        (_("Message as sent"), {"fields": ("message_as_sent",)}),
        (
            _("Delivery"),
            {
                "fields": (
                    "due_at",
                    "attempts",
                    "next_attempt_at",
                    "claimed_by",
                    "lease_expires_at",
                    "sending_started_at",
                    "sent_at",
                    "esp_name",
                    "esp_message_id",
                    "delivery_status",
                )
            },
        ),
        (_("Origin"), {"fields": ("dunning_run", "payment", "card", "card_lead_days", "created_by", "created_at", "updated_at")}),
    )

    add_form = ManualTouchpointForm
    add_fieldsets = ((None, {"fields": ("customer", "action", "note", "invoice_numbers")}),)
    autocomplete_fields = ("customer",)

    def has_add_permission(self, request):
        return request.user.has_perm("campaigns.add_touchpoint")

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
            kwargs["fields"] = None
        return super().get_form(request, obj, **kwargs)

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return [field for _title, options in self.fieldsets for field in options["fields"]]

    def save_model(self, request, obj, form, change):
        logged = touchpoint_log_manual(
            customer=form.cleaned_data["customer"],
            action=form.cleaned_data["action"],
            note=form.cleaned_data["note"],
            invoices=form.cleaned_data["invoices"],
            user=request.user,
        )
        # The admin goes on with `obj` (its log entry and redirect), so give it the row's values.
        for field in Touchpoint._meta.concrete_fields:
            setattr(obj, field.attname, getattr(logged, field.attname))
        obj._state.adding = False

    @admin.display(description=_("message"))
    def message_as_sent(self, touchpoint):
        return render_to_string("admin/campaigns/touchpoint/message_as_sent.html", {"touchpoint": touchpoint})


# --- Dunning runs ---------------------------------------------------------------------


@admin.register(DunningRun)
class DunningRunAdmin(ReadOnlyAdmin):
    """Each dunning pass, for monitoring: when it ran, how long it took, what it created."""

    list_display = ("as_of", "started_at", "duration_ms", "dry_run", "trigger", "counts_summary", "touchpoints_link")
    list_filter = ("dry_run", "trigger")
    show_facets = admin.ShowFacets.NEVER
    fields = ("as_of", "started_at", "finished_at", "duration_ms", "dry_run", "trigger", "counts", "touchpoints_link")

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    @admin.display(description=_("counts"))
    def counts_summary(self, run):
        counts = run.counts or {}
        if not isinstance(counts, dict):
            return str(counts)
        return ", ".join(f"{name}: {value}" for name, value in counts.items()) or "—"

    @admin.display(description=_("touchpoints"))
    def touchpoints_link(self, run):
        return format_html(
            '<a href="{}?{}">{}</a>',
            reverse("admin:campaigns_touchpoint_changelist"),
            urlencode({"dunning_run__id__exact": run.pk}),
            _("touchpoints of this pass"),
        )
