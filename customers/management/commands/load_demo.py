"""Load the demo ledger: a few hundred fictional customers and invoices, some payments,
and a little earlier history, all dated relative to today.

The committed templates under demo/ give dates as offsets in days. This command turns
them into a dated spreadsheet and imports it through the same path as staff imports
(`customers.imports.services.import_file`), so the demo exercises the real pipeline.
"""

import csv
import datetime
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from campaigns.defaults import ensure_default_campaign
from campaigns.models import (
    CampaignVersion,
    Channel,
    InvoiceEnrollment,
    Touchpoint,
    TouchpointEvent,
    TouchpointInvoice,
)
from customers.models import Dispute, ImportRecord, Invoice, Pause, PromiseToPay

DEMO_SOURCE_NAME = "Demo ledger"
DEMO_DIR = Path(settings.BASE_DIR) / "demo"
INVOICES_TEMPLATE = DEMO_DIR / "invoices_template.csv"
PAYMENTS_TEMPLATE = DEMO_DIR / "payments_template.csv"

# The import columns of our invoices template, in order.
INVOICE_COLUMNS = [
    "customer_id", "customer_name", "email", "phone", "country", "customer_type", "segment", "locale",
    "time_zone", "invoice_number", "issue_date", "due_date", "currency", "amount", "amount_paid",
    "amount_due", "status", "payment_link", "description",
]
PAYMENT_COLUMNS = ["invoice_number", "amount", "paid_on", "reference", "method", "currency"]

DEMO_HISTORY_NOTE = (
    "Demo history: recorded by load_demo to stand for a message sent before the demo data "
    "was loaded. Nothing was sent."
)
# (template key of the step, days after the due date the earlier message went out).
# The two are seven days apart. The template puts history only on invoices at least 8
# days overdue, so the last earlier message is at least 7 days old and the default
# campaign's 5-day minimum gap lets the next step go out on the first pass.
HISTORY_STEPS = {"friendly": ("friendly-note", 1), "firm": ("firm-reminder", 8)}


@dataclass
class DemoSummary:
    invoices_import: str = "already loaded"
    payments_import: str = "already loaded"
    history_touchpoints: int = 0
    collections_rows: int = 0


def dated_rows(template: Path, today: datetime.date) -> list[dict]:
    """Read a template and turn every `<name>_offset` column into a `<name>` date column."""
    rows = []
    with template.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            for column in [name for name in row if name.endswith("_offset")]:
                offset = row.pop(column)
                row[column.removesuffix("_offset")] = (today + datetime.timedelta(days=int(offset))).isoformat()
            rows.append(row)
    return rows


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def at_local_morning(day: datetime.date) -> datetime.datetime:
    """Return 10:00 on `day` in the business time zone, as an aware datetime."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(10, 0)))


class Command(BaseCommand):
    help = (
        "Load the fictional demo ledger (source \"Demo ledger\") through the spreadsheet import, "
        "with dates relative to today, plus earlier demo history so that the first dunning pass "
        "sends every tone tier. Running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-without-debug",
            action="store_true",
            help="Load the demo even though DJANGO_DEBUG is off. The data is fictional; keep it out of production databases.",
        )

    def handle(self, *args, allow_without_debug=False, verbosity=1, **options):
        if not settings.DEBUG and not allow_without_debug:
            raise CommandError(
                "load_demo adds fictional customers and invoices, so it runs only with DJANGO_DEBUG=true; "
                "pass --allow-without-debug to load them anyway."
            )
        from customers.imports.services import import_file

        today = timezone.localdate()
        campaign = ensure_default_campaign()
        summary = DemoSummary()
        invoice_rows = dated_rows(INVOICES_TEMPLATE, today)
        output_dir = Path(settings.VAR_DIR) / "demo"

        if not self._already_applied(ImportRecord.Kind.INVOICES):
            path = output_dir / f"demo-invoices-{today.isoformat()}.csv"
            write_csv(path, INVOICE_COLUMNS, invoice_rows)
            record = import_file(path, kind=ImportRecord.Kind.INVOICES, source_name=DEMO_SOURCE_NAME, file_name=path.name)
            self._check(record, path)
            summary.invoices_import = self._describe(record)

        if not self._already_applied(ImportRecord.Kind.PAYMENTS):
            path = output_dir / f"demo-payments-{today.isoformat()}.csv"
            write_csv(path, PAYMENT_COLUMNS, dated_rows(PAYMENTS_TEMPLATE, today))
            # Not historical: these payments are recent, so each one earns a thank-you.
            record = import_file(
                path, kind=ImportRecord.Kind.PAYMENTS, source_name=DEMO_SOURCE_NAME, historical=False, file_name=path.name
            )
            self._check(record, path)
            summary.payments_import = self._describe(record)

        version = campaign.versions.get(status=CampaignVersion.Status.PUBLISHED)
        with transaction.atomic():
            summary.history_touchpoints = self._add_demo_history(invoice_rows, version)
            summary.collections_rows = self._add_collections_state(invoice_rows, today)

        self.stdout.write(
            f'Demo ledger "{DEMO_SOURCE_NAME}" (dates relative to {today.isoformat()}):\n'
            f"  invoices file: {summary.invoices_import}\n"
            f"  payments file: {summary.payments_import}\n"
            f"  demo history touchpoints added: {summary.history_touchpoints}\n"
            f"  disputes, pauses and promises added: {summary.collections_rows}"
        )
        loaded_on = self._first_load_day()
        if loaded_on and loaded_on != today:
            self.stdout.write(
                self.style.WARNING(
                    f"The demo ledger was first loaded on {loaded_on.isoformat()}, so its due dates are relative "
                    "to that day and its data may be older than the source's maximum data age. For a demo dated "
                    "from today, run `DEMO_FRESH=1 make demo`, which deletes the demo database first."
                )
            )

    def _already_applied(self, kind: str) -> bool:
        return ImportRecord.objects.filter(
            source__name=DEMO_SOURCE_NAME,
            kind=kind,
            status__in=[ImportRecord.Status.APPLIED, ImportRecord.Status.UNCHANGED],
        ).exists()

    def _first_load_day(self) -> datetime.date | None:
        first = (
            ImportRecord.objects.filter(source__name=DEMO_SOURCE_NAME, status=ImportRecord.Status.APPLIED)
            .order_by("created_at")
            .first()
        )
        return timezone.localdate(first.created_at) if first else None

    def _check(self, record: ImportRecord, path: Path) -> None:
        if record.status in (ImportRecord.Status.APPLIED, ImportRecord.Status.UNCHANGED):
            return
        errors = "\n".join(f"  {error}" for error in (record.errors or [])[:20])
        raise CommandError(f"Importing the demo file {path} ended with status {record.status!r}:\n{errors}")

    def _describe(self, record: ImportRecord) -> str:
        """Summarise an import, for example "Applied; customers: 300 created, 0 updated"."""
        parts = [record.get_status_display()]
        for name, value in (record.counts or {}).items():
            if isinstance(value, dict):
                parts.append(f"{name}: " + ", ".join(f"{count} {outcome}" for outcome, count in value.items()))
            else:
                parts.append(f"{name}: {value}")
        return "; ".join(parts)

    def _demo_invoices(self, invoice_rows: list[dict], prefix: str) -> dict[str, tuple[Invoice, str]]:
        """Map invoice number -> (invoice, setup value) for the rows whose demo_setup starts with `prefix`."""
        setups = {row["invoice_number"]: row["demo_setup"] for row in invoice_rows if row["demo_setup"].startswith(prefix)}
        invoices = Invoice.objects.filter(source__name=DEMO_SOURCE_NAME, number__in=setups).select_related("customer")
        return {invoice.number: (invoice, setups[invoice.number]) for invoice in invoices}

    def _add_demo_history(self, invoice_rows: list[dict], version: CampaignVersion) -> int:
        """Record earlier sent messages for the invoices marked `history:...` in the template.

        The dunning pass escalates one step at a time after an invoice's first message,
        which is never harsher than friendly. These rows stand for the friendly (and firm)
        messages of earlier weeks, so the first pass of the demo sends firm reminders and
        final notices too. Each is marked as demo history in its reason and its event.
        """
        steps = {step.template_key: step for step in version.steps.all()}
        added = 0
        for invoice, setup in self._demo_invoices(invoice_rows, "history:").values():
            if invoice.ledger_status != Invoice.LedgerStatus.OPEN or not invoice.customer.email:
                continue
            InvoiceEnrollment.objects.get_or_create(
                invoice=invoice,
                defaults={"version": version, "enrolled_at": at_local_morning(invoice.due_date + datetime.timedelta(days=1))},
            )
            for tier_name in setup.removeprefix("history:").split(","):
                template_key, days_after_due = HISTORY_STEPS[tier_name]
                step = steps[template_key]
                if TouchpointInvoice.objects.filter(invoice=invoice, step=step).exists():
                    continue
                self._add_sent_touchpoint(invoice, step, at_local_morning(invoice.due_date + datetime.timedelta(days=days_after_due)))
                added += 1
        return added

    def _add_sent_touchpoint(self, invoice: Invoice, step, sent_at: datetime.datetime) -> None:
        customer = invoice.customer
        touchpoint = Touchpoint.objects.create(
            customer=customer,
            kind=Touchpoint.Kind.DUNNING,
            channel=Channel.EMAIL,
            status=Touchpoint.Status.SENT,
            status_reason=DEMO_HISTORY_NOTE,
            tier=step.tier,
            template_key=step.template_key,
            due_at=sent_at,
            sent_at=sent_at,
            recipient=customer.email,
            subject=f"(Demo history) {step.get_tier_display()} for invoice {invoice.number}",
            body_text=DEMO_HISTORY_NOTE,
            esp_name="demo history",
            delivery_status=Touchpoint.DeliveryStatus.SENT,
        )
        TouchpointInvoice.objects.create(touchpoint=touchpoint, invoice=invoice, step=step, amount_due=invoice.amount_due)
        TouchpointEvent.objects.create(
            touchpoint=touchpoint,
            kind=TouchpointEvent.Kind.STATUS,
            at=sent_at,
            to_status=Touchpoint.Status.SENT,
            message=DEMO_HISTORY_NOTE,
        )
        # created_at is set on insert; the pass measures the gap between messages from it.
        Touchpoint.objects.filter(pk=touchpoint.pk).update(created_at=sent_at, updated_at=sent_at)

    def _add_collections_state(self, invoice_rows: list[dict], today: datetime.date) -> int:
        """Add one demo dispute, pause or promise to each invoice the template marks for it."""
        added = 0
        for kind in ("dispute", "pause", "promise"):
            for invoice, _setup in self._demo_invoices(invoice_rows, kind).values():
                if kind == "dispute" and not invoice.disputes.exists():
                    Dispute.objects.create(
                        invoice=invoice,
                        reason="Demo: the customer says part of the delivery arrived damaged and asks for a credit note.",
                    )
                elif kind == "pause" and not invoice.pauses.exists():
                    Pause.objects.create(
                        customer=invoice.customer,
                        invoice=invoice,
                        until=today + datetime.timedelta(days=14),
                        reason="Demo: the customer's finance contact is away; we agreed to wait two weeks.",
                    )
                elif kind == "promise" and not invoice.promises.exists():
                    PromiseToPay.objects.create(
                        invoice=invoice,
                        promised_on=today + datetime.timedelta(days=5),
                        amount=invoice.amount_due,
                        note="Demo: promised on the phone to pay the full amount by bank transfer.",
                    )
                else:
                    continue
                added += 1
        return added
