"""Ledger data (sources, customers, invoices, payments, credits, cards) and the
collections state that staff keep beside it (disputes, pauses, promises to pay).

Ledger fields are written only by imports and stored as the source gives them. The
collections state lives in its own rows, which imports never touch.
"""

import orjson
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

MONEY = {"max_digits": 14, "decimal_places": 2}


class Source(models.Model):
    """A ledger the data comes from: a Xero organisation, a Stripe account, "manual"."""

    class Kind(models.TextChoices):
        TEMPLATE = "template", _("Our spreadsheet template")
        STRIPE = "stripe", _("Stripe")
        XERO = "xero", _("Xero")
        QUICKBOOKS = "quickbooks", _("QuickBooks Online")
        MANUAL = "manual", _("Manual entry")

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.TEMPLATE)
    max_data_age_days = models.PositiveIntegerField(
        _("maximum data age (days)"),
        default=7,
        help_text=_("Automated dunning of this source's invoices stops when its last import is older."),
    )
    last_imported_at = models.DateTimeField(_("last imported at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = _("source")

    def __str__(self):
        return self.name


class ChannelStatus(models.TextChoices):
    VALID = "valid", _("Valid")
    BOUNCED = "bounced", _("Bounced")
    OPTED_OUT = "opted_out", _("Opted out")


class Customer(models.Model):
    class Kind(models.TextChoices):
        CONSUMER = "consumer", _("Consumer")
        BUSINESS = "business", _("Business")

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="customers")
    external_id = models.CharField(_("external id"), max_length=100)
    name = models.CharField(_("name"), max_length=200)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone (E.164)"), max_length=20, blank=True)
    country = models.CharField(_("country (ISO 3166)"), max_length=2, blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.BUSINESS)
    segment = models.CharField(_("segment"), max_length=50, blank=True)
    tags = models.JSONField(_("tags"), default=list, blank=True)
    locale = models.CharField(_("locale"), max_length=20, blank=True, help_text=_("For example en-GB or fr-FR."))
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True, help_text=_("As the source gives it; may be empty."))
    effective_time_zone = models.CharField(
        _("effective time zone"),
        max_length=64,
        help_text=_("The customer's zone, else one inferred from phone or country, else the business zone."),
    )
    assigned_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    sms_consent = models.BooleanField(_("SMS consent"), null=True, blank=True)
    sms_consent_at = models.DateTimeField(_("SMS consent date"), null=True, blank=True)
    sms_consent_source = models.CharField(_("SMS consent source"), max_length=100, blank=True)
    marketing_consent = models.BooleanField(_("marketing consent"), null=True, blank=True)
    marketing_consent_at = models.DateTimeField(_("marketing consent date"), null=True, blank=True)
    marketing_consent_source = models.CharField(_("marketing consent source"), max_length=100, blank=True)

    email_status = models.CharField(_("email status"), max_length=10, choices=ChannelStatus.choices, default=ChannelStatus.VALID)
    sms_status = models.CharField(_("SMS status"), max_length=10, choices=ChannelStatus.choices, default=ChannelStatus.VALID)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = _("customer")
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="customer_unique_in_source"),
        ]
        indexes = [models.Index(fields=["effective_time_zone"])]

    def __str__(self):
        return self.name


class Contact(models.Model):
    """A further person at a customer who receives dunning messages besides the main address."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(_("name"), max_length=200, blank=True)
    role = models.CharField(_("role"), max_length=100, blank=True)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone (E.164)"), max_length=20, blank=True)
    receives_dunning = models.BooleanField(_("receives dunning messages"), default=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("contact")

    def __str__(self):
        return self.name or self.email or self.phone


class Invoice(models.Model):
    class LedgerStatus(models.TextChoices):
        OPEN = "open", _("Open")
        PAID = "paid", _("Paid")
        VOID = "void", _("Void")
        WRITTEN_OFF = "written_off", _("Written off")
        CLOSED = "closed", _("Closed (left a full snapshot)")

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="invoices")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    number = models.CharField(_("number"), max_length=100)
    issue_date = models.DateField(_("issue date"), null=True, blank=True)
    due_date = models.DateField(_("due date"))
    currency = models.CharField(_("currency"), max_length=3)
    amount = models.DecimalField(_("amount"), **MONEY)
    amount_paid = models.DecimalField(_("amount paid"), default=0, **MONEY)
    amount_due = models.DecimalField(_("amount due"), **MONEY)
    ledger_status = models.CharField(
        _("ledger status"), max_length=12, choices=LedgerStatus.choices, default=LedgerStatus.OPEN
    )
    display_number = models.CharField(
        _("number shown to the customer"),
        max_length=100,
        blank=True,
        help_text=_("When the source's key is not what the customer sees (Stripe's in_... id against its invoice number)."),
    )
    payment_link = models.URLField(_("payment link"), max_length=500, blank=True)
    description = models.CharField(_("description"), max_length=500, blank=True)
    # Bumped by every import that changes the row, so a stored preview can tell that the
    # invoice changed between preview and confirm.
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_date", "number"]
        verbose_name = _("invoice")
        constraints = [
            models.UniqueConstraint(fields=["source", "number"], name="invoice_unique_in_source"),
            models.CheckConstraint(condition=Q(amount_due__gte=0), name="invoice_amount_due_not_negative"),
        ]
        indexes = [
            models.Index(fields=["ledger_status", "due_date"]),
            models.Index(fields=["customer", "ledger_status"]),
        ]

    def __str__(self):
        return self.number

    def days_overdue_on(self, day):
        return (day - self.due_date).days


class Payment(models.Model):
    class Origin(models.TextChoices):
        PAYMENTS_FILE = "payments_file", _("Payments file")
        INVOICE_FILE = "invoice_file", _("Inferred from an invoice file")
        AGENT = "agent", _("Entered by an agent")

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(_("amount"), **MONEY)
    currency = models.CharField(_("currency"), max_length=3)
    paid_on = models.DateField(_("paid on"))
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    method = models.CharField(_("method"), max_length=50, blank=True)
    origin = models.CharField(_("origin"), max_length=20, choices=Origin.choices)
    is_historical = models.BooleanField(
        _("historical"), default=False, help_text=_("Recorded silently: no thank-you is sent.")
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    import_record = models.ForeignKey(
        "customers.ImportRecord", on_delete=models.SET_NULL, null=True, blank=True, related_name="payments"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-paid_on", "-id"]
        verbose_name = _("payment")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.UniqueConstraint(
                fields=["invoice", "reference"],
                condition=~Q(reference=""),
                name="payment_reference_unique_per_invoice",
            ),
        ]

    def __str__(self):
        return f"{self.amount} {self.currency} on {self.invoice}"


class CustomerCredit(models.Model):
    """Money the customer has with us: a credit note or the excess of an overpayment."""

    class Origin(models.TextChoices):
        CREDIT_NOTE = "credit_note", _("Credit note")
        OVERPAYMENT = "overpayment", _("Overpayment")

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="credits")
    amount = models.DecimalField(_("amount"), **MONEY)
    currency = models.CharField(_("currency"), max_length=3)
    origin = models.CharField(_("origin"), max_length=20, choices=Origin.choices)
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    needs_review = models.BooleanField(_("needs review"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("customer credit")
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="credit_amount_positive")]


class PaymentCard(models.Model):
    """A card on file, for warning the customer before it expires."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="cards")
    external_id = models.CharField(_("external id"), max_length=100)
    brand = models.CharField(_("brand"), max_length=30)
    last4 = models.CharField(_("last four digits"), max_length=4)
    exp_month = models.PositiveSmallIntegerField(_("expiry month"))
    exp_year = models.PositiveSmallIntegerField(_("expiry year"))
    is_default = models.BooleanField(_("default card"), default=False)

    class Meta:
        verbose_name = _("payment card")
        constraints = [
            models.UniqueConstraint(fields=["customer", "external_id"], name="card_unique_per_customer"),
            models.CheckConstraint(condition=Q(exp_month__gte=1, exp_month__lte=12), name="card_exp_month_valid"),
        ]

    def __str__(self):
        return f"{self.brand} •••• {self.last4} ({self.exp_month:02d}/{self.exp_year})"


class Dispute(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="disputes")
    reason = models.TextField(_("reason"))
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolution = models.TextField(_("resolution"), blank=True)

    class Meta:
        verbose_name = _("dispute")


class Pause(models.Model):
    """No automated dunning for an invoice, or all of a customer's invoices, until a date."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="pauses")
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, null=True, blank=True, related_name="pauses")
    until = models.DateField(_("paused until"), help_text=_("Dunning resumes the day after."))
    reason = models.TextField(_("reason"))
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("pause")


class PromiseToPay(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="promises")
    promised_on = models.DateField(_("promised payment date"))
    amount = models.DecimalField(_("amount"), null=True, blank=True, **MONEY)
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("promise to pay")
        verbose_name_plural = _("promises to pay")


class ImportRecord(models.Model):
    """One spreadsheet import: who, when, what file, what it changed or why it was refused."""

    class Kind(models.TextChoices):
        INVOICES = "invoices", _("Invoices")
        PAYMENTS = "payments", _("Payments")
        CUSTOMERS = "customers", _("Customers")
        CARDS = "cards", _("Payment cards")

    class Status(models.TextChoices):
        PREVIEWED = "previewed", _("Previewed, waiting for confirmation")
        REFUSED = "refused", _("Refused (rows with errors)")
        APPLIED = "applied", _("Applied")
        UNCHANGED = "unchanged", _("Nothing to change")
        STALE = "stale", _("Stale (data changed since the preview)")
        FAILED = "failed", _("Failed")
        QUEUED = "queued", _("Queued for a background worker")
        RUNNING = "running", _("Running")

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="imports")
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    layout = models.CharField(_("layout"), max_length=50)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices)
    file_name = models.CharField(_("file name"), max_length=255)
    file_sha256 = models.CharField(_("file SHA-256"), max_length=64)
    is_historical = models.BooleanField(_("historical"), default=False, help_text=_("Payments send no thank-you."))
    row_count = models.PositiveIntegerField(_("rows"), default=0)
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    errors = models.JSONField(_("errors"), default=list, blank=True)
    changes = models.JSONField(_("changes"), default=list, blank=True)
    warnings = models.JSONField(_("warnings"), default=list, blank=True)
    # Counts, capped changes and whether anything changes, over the whole stored plan
    # (ImportEntry rows), so that confirm need not read the plan twice.
    plan_summary = models.JSONField(_("plan summary"), default=dict, blank=True)
    is_snapshot = models.BooleanField(
        _("holds every open invoice"),
        default=False,
        help_text=_("Open invoices of the source missing from the file are closed when this import is applied."),
    )
    hold_back_refused = models.BooleanField(
        _("valid rows only"),
        default=False,
        help_text=_("A manager confirmed importing the valid rows and holding back the refused ones."),
    )
    saved_layout = models.ForeignKey(
        "customers.SavedLayout", on_delete=models.SET_NULL, null=True, blank=True, related_name="imports"
    )
    file = models.FileField(_("uploaded file"), upload_to="imports/%Y/%m/", blank=True)
    task_id = models.CharField(_("background task"), max_length=64, blank=True)
    progress_done = models.PositiveIntegerField(_("rows done"), default=0)
    progress_total = models.PositiveIntegerField(_("rows in total"), default=0)
    progress_at = models.DateTimeField(_("progress updated at"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("import")

    def __str__(self):
        return f"{self.file_name} ({self.get_status_display()})"

    def __init__(self, *args, **kwargs):
        self._unsaved_plan = None
        super().__init__(*args, **kwargs)

    @property
    def plan(self) -> list[dict]:
        """The stored plan as a list of entries, in the order the preview wrote them.

        This reads every entry. The import services stream them with `plan_entries`
        instead."""
        if self._unsaved_plan is not None:
            return list(self._unsaved_plan)
        if self.pk is None:
            return []
        return list(self.plan_entries())

    @plan.setter
    def plan(self, entries) -> None:
        # Written by save(), because the entries need the record's primary key.
        self._unsaved_plan = list(entries)

    def plan_entries(self, **filters):
        """Yield the stored plan's entries in order, decoded, reading a few thousand at a time."""
        rows = self.entries.filter(**filters).order_by("position").values_list("data", flat=True)
        for data in rows.iterator(chunk_size=ImportEntry.READ_CHUNK):
            yield orjson.loads(data)

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        if self._unsaved_plan is not None:
            entries, self._unsaved_plan = self._unsaved_plan, None
            self.entries.all().delete()
            ImportEntry.objects.bulk_create(ImportEntry.from_entry(self, position, entry) for position, entry in enumerate(entries))


class ImportEntry(models.Model):
    """One entry of an import's stored plan: a customer, invoice, payment, credit, card or
    closing that confirm will create, update or leave, with the version of the stored row
    it targets. The preview writes the entries and confirm applies exactly them.

    `data` is the whole entry as JSON text. Text, not jsonb, because PostgreSQL would
    parse every entry on write, and most entries are read back once. The other columns
    copy the parts of the entry that queries filter on.

    Once the plan is applied, the entries of rows it left unchanged are deleted: they
    are only counted. The others stay as the import's record of its per-row changes.
    """

    READ_CHUNK = 5000
    # The fields copied from a plan entry, in the order `columns_of` returns them.
    ENTRY_FIELDS = ("entity", "action", "row", "key", "target_id", "version", "data")

    # The index below starts with the record, so the foreign key needs none of its own.
    record = models.ForeignKey(ImportRecord, on_delete=models.CASCADE, related_name="entries", db_index=False)
    position = models.PositiveIntegerField()
    entity = models.CharField(max_length=16)
    action = models.CharField(max_length=16, blank=True)
    row = models.PositiveIntegerField(null=True)
    key = models.CharField(max_length=255, blank=True)
    target_id = models.BigIntegerField(null=True)
    # The target row's version when the preview read it, as text: "" for a new row.
    version = models.CharField(max_length=64, blank=True)
    data = models.TextField()

    class Meta:
        indexes = [models.Index(fields=["record", "entity", "position"], name="import_entry_entity_idx")]

    def __str__(self):
        return f"{self.entity} {self.key} ({self.action})"

    @staticmethod
    def columns_of(entry: dict) -> tuple:
        """Return the ENTRY_FIELDS values for a plan entry."""
        version = entry.get("version")
        return (
            entry["entity"],
            entry.get("action", ""),
            entry.get("row"),
            str(entry.get("key") or "")[:255],
            entry.get("id"),
            "" if version is None else str(version),
            orjson.dumps(entry).decode(),
        )

    @classmethod
    def from_entry(cls, record, position: int, entry: dict) -> "ImportEntry":
        return cls(record=record, position=position, **dict(zip(cls.ENTRY_FIELDS, cls.columns_of(entry))))


class SavedLayout(models.Model):
    """A column mapping staff made once for a file layout the product does not know,
    saved under a name and reused for later files of that shape."""

    class DateOrder(models.TextChoices):
        DETECT = "", _("Detect from the file")
        DAY_FIRST = "day_first", _("Day first (31/01/2026)")
        MONTH_FIRST = "month_first", _("Month first (01/31/2026)")

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=12, choices=ImportRecord.Kind.choices)
    # Our column name -> the header in their file.
    mapping = models.JSONField(_("column mapping"), default=dict)
    date_order = models.CharField(_("date order"), max_length=12, choices=DateOrder.choices, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("saved layout")

    def __str__(self):
        return self.name
