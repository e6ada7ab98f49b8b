"""The dunning pass: decide which messages are due as of an instant and create their
touchpoints, then hand them to delivery.

The pass loops over customer time zones and campaign steps, never over invoices. For
each zone it computes the local date in Python and runs one set-based query per step,
so its cost grows with the touchpoints due, not with the invoices on file.

Rules, per invoice:

- Campaign: an invoice with an InvoiceEnrollment stays on that version. Any other
  invoice gets the published version of the top-priority active campaign whose
  audience matches it. Its enrollment is created with its first touchpoint. Invoices
  pinned to a version of an inactive campaign get nothing.
- First message (no touchpoint yet for a step of its version): among the steps with a
  tier at most the campaign's entry tier whose date (due date + offset) has come, the
  one with the largest offset. Steps sharing that offset on other channels come too.
- Later messages: the next step in (offset, id) order after the last one handled, in
  any status, once its date has come and the previous dunning message for the invoice
  is at least `min_days_between_messages` days older than the pass's instant.

The unique (invoice, step) constraint on TouchpointInvoice is what stops a second
message: when two passes race, the loser's links are dropped by ON CONFLICT DO NOTHING
and its touchpoints left without a link are deleted in the same transaction.
"""

import datetime
import logging
import time
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field
from itertools import groupby

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from campaigns.models import (
    Campaign,
    CampaignStep,
    CampaignVersion,
    Channel,
    DunningRun,
    InvoiceEnrollment,
    ToneTier,
    Touchpoint,
    TouchpointEvent,
    TouchpointInvoice,
)
from customers.models import ChannelStatus, Invoice
from customers.selectors import dunnable_invoices

logger = logging.getLogger(__name__)

# SMS steps are recorded as suppressed touchpoints, so the decision shows in the
# customer's history and the step counts as handled.
SMS_NOT_SET_UP = "SMS delivery is not set up yet."
NO_EMAIL = "The customer has no email address."
EMAIL_BOUNCED = "The customer's email address bounced."
EMAIL_OPTED_OUT = "The customer opted out of email."

DELIVERY_MODES = ("inline", "enqueue", "none")


@dataclass(frozen=True)
class PlannedTouchpoint:
    """One touchpoint the pass creates, or would create in a dry run."""

    customer_id: int
    customer_name: str
    invoice_id: int
    invoice_number: str
    campaign_name: str
    step_id: int
    tier: int
    channel: str
    template_key: str
    status: str
    reason: str

    @property
    def tier_label(self) -> str:
        return str(ToneTier(self.tier).label)


@dataclass
class PassResult:
    as_of: datetime.datetime
    dry_run: bool
    trigger: str
    run_id: int | None = None
    zones: int = 0
    created_by_tier: Counter = field(default_factory=Counter)
    suppressed_by_reason: Counter = field(default_factory=Counter)
    # Touchpoints dropped because a concurrent pass created the same (invoice, step).
    duplicates_dropped: int = 0
    # Every touchpoint of a dry run; empty for a real pass, which can be large.
    planned: list[PlannedTouchpoint] = field(default_factory=list)
    duration_ms: int = 0
    delivery: object | None = None  # campaigns.delivery.DeliveryResult when delivered inline

    @property
    def created(self) -> int:
        return sum(self.created_by_tier.values()) + sum(self.suppressed_by_reason.values())

    def counts(self) -> dict:
        return {
            "zones": self.zones,
            "created": self.created,
            "queued_by_tier": {str(ToneTier(tier).label): n for tier, n in sorted(self.created_by_tier.items())},
            "suppressed_by_reason": dict(self.suppressed_by_reason),
            "duplicates_dropped": self.duplicates_dropped,
        }


@dataclass
class _VersionPlan:
    version: CampaignVersion
    campaign: Campaign
    steps: list[CampaignStep]
    # Only set for a published version: which unenrolled invoices it takes.
    new_invoices_q: Q | None


def _audience_q(campaign: Campaign) -> Q:
    condition = Q()
    if campaign.audience_source_id:
        condition &= Q(source_id=campaign.audience_source_id)
    if campaign.audience_customer_kind:
        condition &= Q(customer__kind=campaign.audience_customer_kind)
    if campaign.audience_segment:
        condition &= Q(customer__segment=campaign.audience_segment)
    if campaign.audience_currency:
        condition &= Q(currency=campaign.audience_currency)
    return condition


def _load_version_plans() -> list[_VersionPlan]:
    """Load the published versions of active campaigns, in priority order, and the other
    versions of active campaigns that still have invoices pinned to them."""
    published = list(
        CampaignVersion.objects.filter(status=CampaignVersion.Status.PUBLISHED, campaign__is_active=True)
        .select_related("campaign")
        .order_by("campaign__priority", "campaign__name")
    )
    pinned_elsewhere = list(
        CampaignVersion.objects.filter(campaign__is_active=True)
        .exclude(status=CampaignVersion.Status.PUBLISHED)
        .filter(Exists(InvoiceEnrollment.objects.filter(version_id=OuterRef("pk"))))
        .select_related("campaign")
        .order_by("campaign__priority", "campaign__name", "number")
    )
    versions = published + pinned_elsewhere
    steps = CampaignStep.objects.filter(version__in=versions).order_by("version_id", "offset_days", "id")
    steps_by_version = {version_id: list(group) for version_id, group in groupby(steps, key=lambda step: step.version_id)}

    plans = []
    higher_audiences: list[Q] = []
    for version in published:
        audience = _audience_q(version.campaign)
        # An empty Q is an audience matching everything: the campaigns after it take no
        # new invoices. (Q() | x is x in Django, so it cannot simply be OR'ed in.)
        if any(not higher for higher in higher_audiences):
            new_invoices_q = None
        else:
            new_invoices_q = Q(enrollment__isnull=True) & audience
            for higher in higher_audiences:
                new_invoices_q &= ~higher
        higher_audiences.append(audience)
        plans.append(_VersionPlan(version, version.campaign, steps_by_version.get(version.pk, []), new_invoices_q))
    for version in pinned_elsewhere:
        plans.append(_VersionPlan(version, version.campaign, steps_by_version.get(version.pk, []), None))
    return plans


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        logger.warning("Unknown customer time zone %r; using the business zone %s", name, settings.TIME_ZONE)
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def _customer_zones() -> list[str]:
    return list(
        Invoice.objects.filter(ledger_status=Invoice.LedgerStatus.OPEN, amount_due__gte=settings.DUNNING_MIN_BALANCE)
        .order_by("customer__effective_time_zone")
        .values_list("customer__effective_time_zone", flat=True)
        .distinct()
    )


def _last_step_subquery(version_id: int) -> Subquery:
    """Select the invoice's last handled step of `version_id`, in (offset, id) order."""
    return Subquery(
        TouchpointInvoice.objects.filter(invoice_id=OuterRef("pk"), step__version_id=version_id)
        .order_by("-step__offset_days", "-step_id")
        .values("step_id")[:1]
    )


def _last_message_at_subquery() -> Subquery:
    """Select when the invoice's last dunning message was due: the instant of the pass that
    created it. Passes run for a past or a future instant (`run_dunning --at`) then space
    messages by those instants, where the creation time would be the real clock's."""
    return Subquery(
        TouchpointInvoice.objects.filter(invoice_id=OuterRef("pk"), touchpoint__kind=Touchpoint.Kind.DUNNING)
        .order_by("-touchpoint__due_at")
        .values("touchpoint__due_at")[:1]
    )


ROW_FIELDS = (
    "id",
    "number",
    "amount_due",
    "customer_id",
    "customer__name",
    "customer__email",
    "customer__email_status",
    "enrollment__id",
)


def _due_groups(plan: _VersionPlan, candidates: QuerySet, *, local_date: datetime.date, as_of: datetime.datetime):
    """Yield (steps, query) pairs: the invoices of `candidates` for which `steps` are due.

    Later steps come first, from the last step back, and first messages last, so that
    no invoice gets two steps in one pass even when the minimum spacing is zero days.
    """
    steps = plan.steps
    if not steps:
        return
    with_history = candidates.annotate(last_step_id=_last_step_subquery(plan.version.pk))

    spacing = datetime.timedelta(days=plan.campaign.min_days_between_messages)
    for position in range(len(steps) - 1, 0, -1):
        step = steps[position]
        yield [step], (
            with_history.filter(
                last_step_id=steps[position - 1].pk,
                due_date__lte=local_date - datetime.timedelta(days=step.offset_days),
            )
            .annotate(last_message_at=_last_message_at_subquery())
            .filter(Q(last_message_at__isnull=True) | Q(last_message_at__lte=as_of - spacing, last_message_at__lt=as_of))
        )

    # First messages: each entry offset takes the invoices whose due date has reached it
    # but not the next larger entry offset, so the largest due offset wins.
    entry_steps = [step for step in steps if step.tier <= plan.campaign.entry_tier]
    entry_offsets = sorted({step.offset_days for step in entry_steps})
    first = with_history.filter(last_step_id__isnull=True)
    for index, offset in enumerate(entry_offsets):
        in_range = first.filter(due_date__lte=local_date - datetime.timedelta(days=offset))
        if index + 1 < len(entry_offsets):
            in_range = in_range.filter(due_date__gt=local_date - datetime.timedelta(days=entry_offsets[index + 1]))
        yield [step for step in entry_steps if step.offset_days == offset], in_range


def _initial_status(row: dict, step: CampaignStep) -> tuple[str, str]:
    if step.channel == Channel.SMS:
        return Touchpoint.Status.SUPPRESSED, SMS_NOT_SET_UP
    if not row["customer__email"]:
        return Touchpoint.Status.SUPPRESSED, NO_EMAIL
    if row["customer__email_status"] == ChannelStatus.BOUNCED:
        return Touchpoint.Status.SUPPRESSED, EMAIL_BOUNCED
    if row["customer__email_status"] == ChannelStatus.OPTED_OUT:
        return Touchpoint.Status.SUPPRESSED, EMAIL_OPTED_OUT
    return Touchpoint.Status.QUEUED, ""


def _plan(rows: list[dict], step: CampaignStep, campaign: Campaign) -> list[PlannedTouchpoint]:
    planned = []
    for row in rows:
        status, reason = _initial_status(row, step)
        planned.append(
            PlannedTouchpoint(
                customer_id=row["customer_id"],
                customer_name=row["customer__name"],
                invoice_id=row["id"],
                invoice_number=row["number"],
                campaign_name=campaign.name,
                step_id=step.pk,
                tier=step.tier,
                channel=step.channel,
                template_key=step.template_key,
                status=status,
                reason=reason,
            )
        )
    return planned


def _create(rows: list[dict], step: CampaignStep, version: CampaignVersion, *, as_of, run: DunningRun) -> tuple[list, int]:
    """Create one touchpoint and its invoice link per row for `step`, in one transaction.

    Returns the planned touchpoints that survived and how many were dropped because the
    (invoice, step) link already existed.
    """
    planned = _plan(rows, step, version.campaign)
    with transaction.atomic():
        unenrolled = [row["id"] for row in rows if row["enrollment__id"] is None]
        if unenrolled:
            InvoiceEnrollment.objects.bulk_create(
                [InvoiceEnrollment(invoice_id=invoice_id, version=version, enrolled_at=as_of) for invoice_id in unenrolled],
                ignore_conflicts=True,
            )

        touchpoints = [
            Touchpoint(
                customer_id=item.customer_id,
                kind=Touchpoint.Kind.DUNNING,
                channel=step.channel,
                status=item.status,
                status_reason=item.reason,
                tier=step.tier,
                template_key=step.template_key,
                due_at=as_of,
                dunning_run=run,
            )
            for item in planned
        ]
        # NOTE: the links below need the touchpoints' new ids, which bulk_create sets on
        # PostgreSQL and on SQLite 3.35 or later only.
        Touchpoint.objects.bulk_create(touchpoints)
        TouchpointInvoice.objects.bulk_create(
            [
                TouchpointInvoice(touchpoint=touchpoint, invoice_id=row["id"], step=step, amount_due=row["amount_due"])
                for touchpoint, row in zip(touchpoints, rows)
            ],
            ignore_conflicts=True,
        )

        # A link that hit the unique (invoice, step) constraint was not inserted: its
        # touchpoint belongs to a message another pass already created, so drop it.
        created_ids = [touchpoint.pk for touchpoint in touchpoints]
        orphan_ids = set(
            Touchpoint.objects.filter(pk__in=created_ids)
            .filter(~Exists(TouchpointInvoice.objects.filter(touchpoint_id=OuterRef("pk"))))
            .values_list("pk", flat=True)
        )
        if orphan_ids:
            Touchpoint.objects.filter(pk__in=orphan_ids).delete()

        surviving = [(touchpoint, item) for touchpoint, item in zip(touchpoints, planned) if touchpoint.pk not in orphan_ids]
        message = f"Created by the dunning pass as of {as_of.isoformat()} for {step} of {version}."
        TouchpointEvent.objects.bulk_create(
            [
                TouchpointEvent(
                    touchpoint=touchpoint,
                    kind=TouchpointEvent.Kind.STATUS,
                    at=as_of,
                    to_status=touchpoint.status,
                    message=item.reason or message,
                )
                for touchpoint, item in surviving
            ]
        )
    return [item for _touchpoint, item in surviving], len(orphan_ids)


def _record(result: PassResult, items: list[PlannedTouchpoint]) -> None:
    for item in items:
        if item.status == Touchpoint.Status.SUPPRESSED:
            result.suppressed_by_reason[item.reason] += 1
        else:
            result.created_by_tier[item.tier] += 1


def run_pass(
    *,
    as_of: datetime.datetime | None = None,
    local_date: datetime.date | None = None,
    dry_run: bool = False,
    trigger: str = "command",
    delivery: str | None = None,
) -> PassResult:
    """Create the touchpoints due as of `as_of` (an aware instant, default now), then
    deliver them.

    `local_date` replaces every customer's local date (the command's --date). A dry run
    writes nothing, not even the DunningRun row, and lists what it would create in
    `PassResult.planned`.

    `delivery` is "inline" (call deliver_due now), "enqueue" (ask the cluster once
    committed) or "none". By default a scheduled pass enqueues and any other trigger
    delivers inline. A dry run never delivers.
    """
    started = time.monotonic()
    as_of = as_of or timezone.now()
    if timezone.is_naive(as_of):
        raise ValueError(f"as_of={as_of.isoformat()} has no time zone; pass an aware datetime")
    if delivery is None:
        delivery = "enqueue" if trigger == "schedule" else "inline"
    if delivery not in DELIVERY_MODES:
        raise ValueError(f"delivery={delivery!r} is not one of {', '.join(DELIVERY_MODES)}")

    result = PassResult(as_of=as_of, dry_run=dry_run, trigger=trigger)
    run = None
    if not dry_run:
        run = DunningRun.objects.create(as_of=as_of, dry_run=False, trigger=trigger)
        result.run_id = run.pk

    plans = _load_version_plans()
    zones = _customer_zones()
    result.zones = len(zones)
    for zone_name in zones:
        zone_date = local_date or as_of.astimezone(_zone(zone_name)).date()
        in_zone = dunnable_invoices(local_date=zone_date, now=as_of).filter(customer__effective_time_zone=zone_name)
        for plan in plans:
            version_q = Q(enrollment__version_id=plan.version.pk)
            if plan.new_invoices_q is not None:
                version_q |= plan.new_invoices_q
            candidates = in_zone.filter(version_q)
            for steps, query in _due_groups(plan, candidates, local_date=zone_date, as_of=as_of):
                rows = list(query.order_by("id").values(*ROW_FIELDS))
                if not rows:
                    continue
                for step in steps:
                    if dry_run:
                        items = _plan(rows, step, plan.campaign)
                        result.planned.extend(items)
                    else:
                        items, dropped = _create(rows, step, plan.version, as_of=as_of, run=run)
                        result.duplicates_dropped += dropped
                    _record(result, items)

    result.duration_ms = int((time.monotonic() - started) * 1000)
    if run is not None:
        run.finished_at = timezone.now()
        run.duration_ms = result.duration_ms
        run.counts = result.counts()
        run.save(update_fields=["finished_at", "duration_ms", "counts"])
    logger.info(
        "Dunning pass as of %s (%s): %d touchpoints created, %d dropped as duplicates, %d ms%s",
        as_of.isoformat(),
        trigger,
        result.created,
        result.duplicates_dropped,
        result.duration_ms,
        " (dry run)" if dry_run else "",
    )

    if not dry_run:
        _deliver(result, delivery, run)
    return result


def _deliver(result: PassResult, delivery: str, run: DunningRun) -> None:
    if delivery == "inline":
        from campaigns.delivery import deliver_due

        result.delivery = deliver_due()
        run.counts = {**result.counts(), "delivery": result.delivery.counts()}
        run.save(update_fields=["counts"])
    elif delivery == "enqueue":
        from campaigns.tasks import request_delivery

        request_delivery()
