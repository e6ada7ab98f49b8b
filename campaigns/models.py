"""Campaigns (versioned sets of tone-tiered steps), message templates, and touchpoints:
the record of every interaction with a customer and every decision not to send."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class ToneTier(models.IntegerChoices):
    """The firmness of a message. The numbers order the tiers, so "at most friendly" is `<=`."""

    COURTESY = 10, _("Courtesy reminder")
    FRIENDLY = 20, _("Friendly")
    FIRM = 30, _("Firm")
    FINAL = 40, _("Final notice")


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")


class Campaign(models.Model):
    """A set of steps for the invoices of an audience. Audience fields left blank match everything."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    priority = models.PositiveIntegerField(
        _("priority"), default=100, help_text=_("When several campaigns match an invoice, the lowest number wins.")
    )
    entry_tier = models.PositiveSmallIntegerField(
        _("entry tier"),
        choices=ToneTier.choices,
        default=ToneTier.FRIENDLY,
        help_text=_("The first message an invoice ever gets is never harsher than this."),
    )
    min_days_between_messages = models.PositiveSmallIntegerField(
        _("minimum days between messages"),
        default=5,
        help_text=_("A later step waits until this many days have passed since the previous message."),
    )
    audience_source = models.ForeignKey(
        "customers.Source", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("source")
    )
    audience_customer_kind = models.CharField(_("customer kind"), max_length=10, blank=True)
    audience_segment = models.CharField(_("segment"), max_length=50, blank=True)
    audience_currency = models.CharField(_("currency"), max_length=3, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["priority", "name"]
        verbose_name = _("campaign")

    def __str__(self):
        return self.name


class CampaignVersion(models.Model):
    """A snapshot of a campaign's steps. Staff edit a draft and publish it; an invoice stays
    on the version that sent its first message."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        RETIRED = "retired", _("Retired")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["campaign", "-number"]
        verbose_name = _("campaign version")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "number"], name="campaign_version_number_unique"),
            models.UniqueConstraint(
                fields=["campaign"],
                condition=Q(status="published"),
                name="campaign_one_published_version",
            ),
        ]

    def __str__(self):
        return f"{self.campaign} v{self.number}"


class CampaignStep(models.Model):
    version = models.ForeignKey(CampaignVersion, on_delete=models.CASCADE, related_name="steps")
    offset_days = models.IntegerField(
        _("offset (days from due date)"), help_text=_("Negative for a reminder before the due date.")
    )
    tier = models.PositiveSmallIntegerField(_("tone tier"), choices=ToneTier.choices)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    template_key = models.SlugField(
        _("template"), max_length=64, help_text=_("The key of the message templates to render, one per language.")
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["version", "offset_days"]
        verbose_name = _("campaign step")
        constraints = [
            models.UniqueConstraint(fields=["version", "offset_days", "channel"], name="step_unique_offset_channel"),
        ]

    def __str__(self):
        return f"{self.get_tier_display()} at {self.offset_days:+d} days ({self.get_channel_display()})"


class MessageTemplate(models.Model):
    """The wording of one message for one channel in one language.

    Subject and text are rendered with autoescape off and the HTML body with it on, from
    the plain dictionary that `campaigns.rendering` builds.
    """

    key = models.SlugField(_("key"), max_length=64)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    language = models.CharField(_("language"), max_length=10, help_text=_("A language code such as en or fr."))
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body_text = models.TextField(_("text body"))
    body_html = models.TextField(_("HTML body"), blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["key", "channel", "language"]
        verbose_name = _("message template")
        constraints = [
            models.UniqueConstraint(fields=["key", "channel", "language"], name="template_unique_key_channel_language"),
        ]

    def __str__(self):
        return f"{self.key} ({self.channel}, {self.language})"


class InvoiceEnrollment(models.Model):
    """Pins an invoice to the campaign version that sent its first message."""

    invoice = models.OneToOneField("customers.Invoice", on_delete=models.CASCADE, related_name="enrollment")
    version = models.ForeignKey(CampaignVersion, on_delete=models.PROTECT, related_name="enrollments")
    enrolled_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("invoice enrollment")


class DunningRun(models.Model):
    """One dunning pass, kept for monitoring; never consulted to skip work."""

    as_of = models.DateTimeField(_("as of"))
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    dry_run = models.BooleanField(_("dry run"), default=False)
    trigger = models.CharField(_("trigger"), max_length=30, default="command")
    counts = models.JSONField(_("counts"), default=dict, blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("dunning run")

    def __str__(self):
        return f"Pass as of {self.as_of:%Y-%m-%d %H:%M}"


class Touchpoint(models.Model):
    """One interaction with a customer: a message, a decision not to send, or an agent's action.

    Deferring, suppressing or cancelling changes this row's status and appends an event;
    it never adds a touchpoint, so repeated passes add nothing.
    """

    class Kind(models.TextChoices):
        DUNNING = "dunning", _("Dunning message")
        THANK_YOU = "thank_you", _("Thank-you")
        CARD_NOTICE = "card_notice", _("Card expiry notice")
        MANUAL = "manual", _("Agent action")

    class ManualAction(models.TextChoices):
        """The action an agent logged, for touchpoints of kind MANUAL."""

        CALL = "call", _("Phone call")
        NOTE = "note", _("Note")
        LETTER = "letter", _("Letter")
        MEETING = "meeting", _("Meeting")
        EMAIL_BY_HAND = "email", _("Email sent by hand")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        CLAIMED = "claimed", _("Claimed by a worker")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        RETRY_WAIT = "retry_wait", _("Waiting to retry")
        FAILED = "failed", _("Failed")
        NEEDS_REVIEW = "needs_review", _("Needs review")
        CANCELLED = "cancelled", _("Cancelled")
        SUPPRESSED = "suppressed", _("Suppressed (not sent)")
        LOGGED = "logged", _("Logged")

    class DeliveryStatus(models.TextChoices):
        """The strongest delivery event seen: complained > bounced > delivered > sent."""

        NONE = "", _("None yet")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        BOUNCED = "bounced", _("Bounced")
        COMPLAINED = "complained", _("Complained")

    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="touchpoints")
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.EMAIL, blank=True)
    action = models.CharField(_("action"), max_length=10, choices=ManualAction.choices, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.QUEUED)
    status_reason = models.TextField(_("reason"), blank=True)
    tier = models.PositiveSmallIntegerField(_("tone tier"), choices=ToneTier.choices, null=True, blank=True)
    template_key = models.SlugField(_("template"), max_length=64, blank=True)
    payment = models.OneToOneField(
        "customers.Payment", on_delete=models.PROTECT, null=True, blank=True, related_name="thank_you"
    )
    card = models.ForeignKey("customers.PaymentCard", on_delete=models.PROTECT, null=True, blank=True, related_name="notices")
    card_lead_days = models.PositiveSmallIntegerField(null=True, blank=True)
    dunning_run = models.ForeignKey(DunningRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="touchpoints")

    due_at = models.DateTimeField(_("send from"), default=timezone.now)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    claimed_by = models.CharField(_("worker"), max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(_("lease expires at"), null=True, blank=True)
    sending_started_at = models.DateTimeField(_("sending started at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    language = models.CharField(_("language"), max_length=10, blank=True)
    recipient = models.CharField(_("recipient"), max_length=254, blank=True)
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    body_text = models.TextField(_("text as sent"), blank=True)
    body_html = models.TextField(_("HTML as sent"), blank=True)
    esp_name = models.CharField(_("ESP"), max_length=30, blank=True)
    esp_message_id = models.CharField(_("ESP message id"), max_length=200, blank=True, db_index=True)
    delivery_status = models.CharField(
        _("delivery status"), max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.NONE, blank=True
    )

    note = models.TextField(_("note"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("touchpoint")
        constraints = [
            models.UniqueConstraint(
                fields=["card", "card_lead_days"],
                condition=Q(kind="card_notice"),
                name="card_notice_unique_per_lead_time",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "due_at"]),
            models.Index(fields=["customer", "-created_at"]),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} to {self.customer} ({self.get_status_display()})"


class TouchpointInvoice(models.Model):
    """Links a touchpoint to an invoice it covers and the step it carries out for that invoice.

    The unique (invoice, step) constraint is the "never twice" rule: no second message for
    the same invoice and step, whatever the code does.
    """

    touchpoint = models.ForeignKey(Touchpoint, on_delete=models.CASCADE, related_name="invoice_links")
    invoice = models.ForeignKey("customers.Invoice", on_delete=models.PROTECT, related_name="touchpoint_links")
    step = models.ForeignKey(CampaignStep, on_delete=models.PROTECT, null=True, blank=True, related_name="touchpoint_links")
    amount_due = models.DecimalField(_("amount due when created"), max_digits=14, decimal_places=2, null=True, blank=True)

    class Meta:
        verbose_name = _("touchpoint invoice")
        constraints = [
            models.UniqueConstraint(fields=["invoice", "step"], name="touchpoint_invoice_step_once"),
        ]

    def __str__(self):
        return f"{self.invoice} ({self.step})" if self.step_id else str(self.invoice)


class TouchpointEvent(models.Model):
    """An append-only line in a touchpoint's history: a status change or a delivery event."""

    class Kind(models.TextChoices):
        STATUS = "status", _("Status change")
        DELIVERED = "delivered", _("Delivered")
        OPENED = "opened", _("Opened")
        CLICKED = "clicked", _("Clicked")
        BOUNCED = "bounced", _("Bounced")
        COMPLAINED = "complained", _("Complained")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
        NOTE = "note", _("Note")

    touchpoint = models.ForeignKey(Touchpoint, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    at = models.DateTimeField(_("at"), default=timezone.now)
    from_status = models.CharField(_("from"), max_length=12, blank=True)
    to_status = models.CharField(_("to"), max_length=12, blank=True)
    message = models.TextField(_("message"), blank=True)
    worker = models.CharField(_("worker"), max_length=100, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # Webhook events are stored once: by the ESP's event id, else a hash of their fields.
    fingerprint = models.CharField(max_length=64, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("touchpoint event")

    def __str__(self):
        return f"{self.get_kind_display()} at {self.at:%Y-%m-%d %H:%M}"
