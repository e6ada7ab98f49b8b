"""Delivery: claim due touchpoints, check they are still wanted, render, send through
anymail, and record the outcome.

Exactly-once rules:

1. A worker claims touchpoints under a lease (status CLAIMED), with
   `select_for_update(skip_locked=True)` on PostgreSQL and an UPDATE conditional on
   the old status everywhere, so two workers never hold the same touchpoint.
2. Status SENDING, with the rendered message, is committed before the ESP call. A
   touchpoint found in SENDING with an expired lease is never sent again: its worker
   stopped during the ESP call, so it moves to NEEDS_REVIEW for a person to check.
3. A CLAIMED touchpoint whose lease expired is claimed again. The move to SENDING
   requires that the claim is still this worker's, so when two workers have held the
   same claim one after the other, only the later one can send it.
"""

import datetime
import logging
import os
import socket
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field

import requests
from anymail.exceptions import (
    AnymailAPIError,
    AnymailError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
    AnymailRequestsAPIError,
)
from anymail.message import AnymailMessage
from django.conf import settings
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import Q
from django.template import TemplateSyntaxError
from django.utils import timezone

from campaigns import rendering
from campaigns.engine import EMAIL_BOUNCED, EMAIL_OPTED_OUT, NO_EMAIL, SMS_NOT_SET_UP
from campaigns.models import Channel, MessageTemplate, ToneTier, Touchpoint, TouchpointEvent
from campaigns.services import touchpoint_transition
from customers.models import ChannelStatus
from customers.selectors import dunnable_invoices, non_dunnable_reason

logger = logging.getLogger(__name__)

# Transient ESP errors are retried this many times in all, then the touchpoint fails.
MAX_ATTEMPTS = 5
# Waits before retries 1, 2, 3 and 4: 2, 4, 8 and 16 minutes.
RETRY_BASE_DELAY = datetime.timedelta(minutes=2)
# Rejected ESP credentials are retried at this interval, without an attempt limit,
# so that messages go out once someone fixes the key.
CREDENTIALS_RETRY_DELAY = datetime.timedelta(hours=1)
RETRYABLE_STATUS_CODES = {408, 429}
CREDENTIALS_STATUS_CODES = {401, 403}

# Outcome of a touchpoint that another worker took over, or that was cancelled, after
# this worker claimed it.
SKIPPED = "skipped"

TAG_BY_KIND = {
    Touchpoint.Kind.DUNNING: "dunning",
    Touchpoint.Kind.THANK_YOU: "thank-you",
    Touchpoint.Kind.CARD_NOTICE: "card-notice",
}


@dataclass
class DeliveryResult:
    worker: str
    claimed: int = 0
    by_status: Counter = field(default_factory=Counter)

    @property
    def sent(self) -> int:
        return self.by_status[Touchpoint.Status.SENT]

    @property
    def failed(self) -> int:
        return self.by_status[Touchpoint.Status.FAILED]

    def counts(self) -> dict:
        return {"claimed": self.claimed, **{str(status): n for status, n in sorted(self.by_status.items())}}


def default_worker_id() -> str:
    """Name this process as the admin shows it under "worker": host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _claimable_q(now: datetime.datetime) -> Q:
    return (
        Q(status=Touchpoint.Status.QUEUED, due_at__lte=now)
        | Q(status=Touchpoint.Status.RETRY_WAIT, next_attempt_at__lte=now)
        | Q(status=Touchpoint.Status.CLAIMED, lease_expires_at__lte=now)
    )


def _expire_stalled_sends(*, now: datetime.datetime, worker: str) -> int:
    """Move touchpoints left in SENDING past their lease to NEEDS_REVIEW; return how many."""
    with transaction.atomic():
        stalled = list(
            Touchpoint.objects.select_for_update(skip_locked=True, of=("self",)).filter(
                status=Touchpoint.Status.SENDING, lease_expires_at__lte=now
            )
        )
        for touchpoint in stalled:
            logger.warning("Touchpoint %s stayed in sending past its lease; moved to needs review", touchpoint.pk)
            touchpoint_transition(
                touchpoint,
                to_status=Touchpoint.Status.NEEDS_REVIEW,
                reason=(
                    f"Worker {touchpoint.claimed_by or 'unknown'} stopped during the ESP call; "
                    "check the ESP before resending."
                ),
                worker=worker,
            )
    return len(stalled)


def claim_batch(*, now: datetime.datetime, worker: str, size: int, exclude=()) -> list[int]:
    """Claim up to `size` due touchpoints for `worker`, other than the ids in `exclude`,
    and return their ids.

    Rows locked by another worker are skipped. The UPDATE repeats the claimable
    condition, so a row another worker claimed in the meantime is left alone on SQLite
    too, where SELECT ... FOR UPDATE does nothing.
    """
    lease_until = now + datetime.timedelta(seconds=settings.DUNNING_DELIVERY_LEASE_SECONDS)
    with transaction.atomic():
        candidates = list(
            Touchpoint.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(_claimable_q(now))
            .exclude(pk__in=exclude)
            .order_by("due_at", "id")
            .values_list("id", "status")[:size]
        )
        if not candidates:
            return []
        ids = [touchpoint_id for touchpoint_id, _status in candidates]
        Touchpoint.objects.filter(pk__in=ids).filter(_claimable_q(now)).update(
            status=Touchpoint.Status.CLAIMED,
            claimed_by=worker,
            lease_expires_at=lease_until,
            updated_at=now,
        )
        claimed = set(
            Touchpoint.objects.filter(
                pk__in=ids, status=Touchpoint.Status.CLAIMED, claimed_by=worker, lease_expires_at=lease_until
            ).values_list("id", flat=True)
        )
        TouchpointEvent.objects.bulk_create(
            [
                TouchpointEvent(
                    touchpoint_id=touchpoint_id,
                    kind=TouchpointEvent.Kind.STATUS,
                    at=now,
                    from_status=old_status,
                    to_status=Touchpoint.Status.CLAIMED,
                    message=f"Claimed until {lease_until.isoformat()}.",
                    worker=worker,
                )
                for touchpoint_id, old_status in candidates
                if touchpoint_id in claimed
            ]
        )
    return [touchpoint_id for touchpoint_id in ids if touchpoint_id in claimed]


def deliver_due(
    *,
    now: datetime.datetime | None = None,
    worker: str | None = None,
    limit: int | None = None,
) -> DeliveryResult:
    """Send every touchpoint that is due, in batches of settings.DUNNING_DELIVERY_BATCH_SIZE.

    `now` fixes the clock (default: the real clock, read again for each batch);
    `limit` caps how many touchpoints this call claims. Each touchpoint is handled at
    most once per call, so one that is due again at once (a retry whose wait ends
    before a fixed `now`) waits for the next call instead of looping.
    """
    worker = worker or default_worker_id()
    result = DeliveryResult(worker=worker)
    moved = _expire_stalled_sends(now=now or timezone.now(), worker=worker)
    if moved:
        result.by_status[Touchpoint.Status.NEEDS_REVIEW] += moved

    connection = get_connection()
    handled: set[int] = set()
    while limit is None or result.claimed < limit:
        size = settings.DUNNING_DELIVERY_BATCH_SIZE
        if limit is not None:
            size = min(size, limit - result.claimed)
        batch_now = now or timezone.now()
        ids = claim_batch(now=batch_now, worker=worker, size=size, exclude=handled)
        if not ids:
            break
        handled.update(ids)
        result.claimed += len(ids)
        for touchpoint in Touchpoint.objects.filter(pk__in=ids).select_related("customer", "payment").order_by("due_at", "id"):
            outcome = deliver_one(touchpoint, worker=worker, connection=connection, now=batch_now)
            result.by_status[outcome] += 1

    if result.claimed:
        logger.info("Worker %s delivered touchpoints: %s", worker, result.counts())
    return result


def _local_date(customer, now: datetime.datetime) -> datetime.date:
    try:
        zone = zoneinfo.ZoneInfo(customer.effective_time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    return now.astimezone(zone).date()


def preflight_reason(touchpoint: Touchpoint, *, now: datetime.datetime) -> tuple[str, str] | None:
    """Return (status, reason) when `touchpoint` must not be sent any more, else None."""
    customer = touchpoint.customer
    if touchpoint.channel == Channel.SMS:
        return Touchpoint.Status.SUPPRESSED, SMS_NOT_SET_UP
    if not customer.email:
        return Touchpoint.Status.SUPPRESSED, NO_EMAIL
    if customer.email_status == ChannelStatus.BOUNCED:
        return Touchpoint.Status.SUPPRESSED, EMAIL_BOUNCED
    if customer.email_status == ChannelStatus.OPTED_OUT:
        return Touchpoint.Status.SUPPRESSED, EMAIL_OPTED_OUT

    if touchpoint.kind != Touchpoint.Kind.DUNNING:
        return None
    local_date = _local_date(customer, now)
    invoice_ids = list(touchpoint.invoice_links.values_list("invoice_id", flat=True))
    still_dunnable = set(
        dunnable_invoices(local_date=local_date, now=now).filter(pk__in=invoice_ids).values_list("pk", flat=True)
    )
    for link in touchpoint.invoice_links.select_related("invoice__source").order_by("invoice_id"):
        if link.invoice_id in still_dunnable:
            continue
        reason = non_dunnable_reason(link.invoice, local_date=local_date, now=now)
        return Touchpoint.Status.CANCELLED, reason or f"Invoice {link.invoice.number} is no longer dunnable."
    if not invoice_ids:
        return Touchpoint.Status.CANCELLED, "The touchpoint covers no invoice."
    return None


def message_language(customer) -> list[str]:
    """Return the template languages to try for `customer`, best first: the customer's
    locale, the language of settings.DUNNING_DEFAULT_LOCALE, then English."""
    languages = []
    for locale in (customer.locale, settings.DUNNING_DEFAULT_LOCALE, "en"):
        language = (locale or "").replace("_", "-").split("-")[0].lower()
        if language and language not in languages:
            languages.append(language)
    return languages


def _find_template(touchpoint: Touchpoint, languages: list[str]) -> MessageTemplate | None:
    templates = {
        template.language: template
        for template in MessageTemplate.objects.filter(
            key=touchpoint.template_key, channel=touchpoint.channel, language__in=languages
        )
    }
    for language in languages:
        if language in templates:
            return templates[language]
    return None


def _context_for(touchpoint: Touchpoint, *, now: datetime.datetime) -> dict:
    link = touchpoint.invoice_links.select_related("invoice").order_by("invoice_id").first()
    return rendering.build_context(
        customer=touchpoint.customer,
        invoice=link.invoice if link else None,
        payment=touchpoint.payment,
        today=_local_date(touchpoint.customer, now),
    )


def _tags(touchpoint: Touchpoint) -> list[str]:
    tags = [TAG_BY_KIND.get(touchpoint.kind, str(touchpoint.kind))]
    if touchpoint.tier:
        tags.append(f"tier-{ToneTier(touchpoint.tier).name.lower()}")
    return tags


def _start_sending(touchpoint: Touchpoint, *, worker: str, now: datetime.datetime, **fields) -> Touchpoint | None:
    """Commit SENDING with the rendered message if the claim is still this worker's.

    Returns the locked, updated row, or None when the claim was taken over or cancelled."""
    with transaction.atomic():
        current = (
            Touchpoint.objects.select_for_update(of=("self",))
            .filter(pk=touchpoint.pk, status=Touchpoint.Status.CLAIMED, claimed_by=worker)
            .select_related("customer", "payment")
            .first()
        )
        if current is None:
            return None
        # The ESP call gets a full lease from the moment it starts, not from the batch's
        # start, so a slow batch does not send a live call to review.
        lease_until = max(now, timezone.now()) + datetime.timedelta(seconds=settings.DUNNING_DELIVERY_LEASE_SECONDS)
        return touchpoint_transition(
            current,
            to_status=Touchpoint.Status.SENDING,
            worker=worker,
            attempts=current.attempts + 1,
            sending_started_at=now,
            lease_expires_at=lease_until,
            **fields,
        )


def deliver_one(touchpoint: Touchpoint, *, worker: str, connection, now: datetime.datetime) -> str:
    """Pre-flight, render, send and record one claimed touchpoint; return its new status."""
    stop = preflight_reason(touchpoint, now=now)
    if stop is not None:
        status, reason = stop
        touchpoint_transition(touchpoint, to_status=status, reason=reason, worker=worker)
        return status

    languages = message_language(touchpoint.customer)
    template = _find_template(touchpoint, languages)
    if template is None:
        reason = (
            f'No {touchpoint.channel} template with key "{touchpoint.template_key}" in language '
            f"{' or '.join(languages)}; add one under message templates."
        )
        logger.error("Touchpoint %s failed: template %s missing", touchpoint.pk, touchpoint.template_key)
        touchpoint_transition(touchpoint, to_status=Touchpoint.Status.FAILED, reason=reason, worker=worker)
        return Touchpoint.Status.FAILED
    try:
        rendered = rendering.render_message(template, _context_for(touchpoint, now=now))
    except TemplateSyntaxError as error:
        logger.error("Touchpoint %s failed: template %s (%s) is invalid", touchpoint.pk, template.key, template.language)
        touchpoint_transition(
            touchpoint,
            to_status=Touchpoint.Status.FAILED,
            reason=f'Template "{template.key}" ({template.language}) is invalid: {error}',
            worker=worker,
        )
        return Touchpoint.Status.FAILED

    recipient = touchpoint.customer.email
    sending = _start_sending(
        touchpoint,
        worker=worker,
        now=now,
        recipient=recipient,
        language=template.language,
        subject=rendered.subject,
        body_text=rendered.body_text,
        body_html=rendered.body_html,
    )
    if sending is None:
        logger.info("Touchpoint %s is no longer claimed by worker %s; skipped", touchpoint.pk, worker)
        return SKIPPED
    return _send(sending, rendered, worker=worker, connection=connection, now=now)


def copied_contacts(touchpoint: Touchpoint) -> list[str]:
    """Return the addresses of the customer's other contacts who receive dunning messages.

    They are copied (cc) rather than sent a message each, because they are colleagues at
    the same customer. The touchpoint's recipient stays the customer's main address.
    """
    addresses = []
    for email in touchpoint.customer.contacts.filter(receives_dunning=True).exclude(email="").values_list("email", flat=True):
        if email.lower() != touchpoint.recipient.lower() and email.lower() not in {known.lower() for known in addresses}:
            addresses.append(email)
    return addresses


def _send(touchpoint: Touchpoint, rendered: rendering.RenderedMessage, *, worker: str, connection, now) -> str:
    cc = copied_contacts(touchpoint)
    message = AnymailMessage(
        subject=rendered.subject,
        body=rendered.body_text,
        from_email=settings.DUNNING_FROM_EMAIL,
        to=[touchpoint.recipient],
        cc=cc,
        tags=_tags(touchpoint),
        metadata={"touchpoint_id": str(touchpoint.pk)},
        connection=connection,
    )
    if rendered.body_html:
        message.attach_alternative(rendered.body_html, "text/html")

    try:
        message.send()
    except Exception as error:  # every outcome must be recorded on the touchpoint
        return _record_error(touchpoint, error, worker=worker, now=now)

    recipients = message.anymail_status.recipients or {}
    recipient_status = recipients.get(touchpoint.recipient)
    if recipient_status is None and len(recipients) == 1:
        recipient_status = next(iter(recipients.values()))
    message_id = recipient_status.message_id if recipient_status else message.anymail_status.message_id
    touchpoint_transition(
        touchpoint,
        to_status=Touchpoint.Status.SENT,
        reason=f"Copied to {', '.join(cc)}." if cc else "",
        worker=worker,
        sent_at=timezone.now(),
        esp_name=getattr(connection, "esp_name", type(connection).__name__),
        esp_message_id="" if message_id is None else str(message_id),
        delivery_status=Touchpoint.DeliveryStatus.SENT,
        lease_expires_at=None,
    )
    return Touchpoint.Status.SENT


def _retry_delay(attempts: int) -> datetime.timedelta:
    return RETRY_BASE_DELAY * (2 ** max(attempts - 1, 0))


def _record_error(touchpoint: Touchpoint, error: Exception, *, worker: str, now: datetime.datetime) -> str:
    """Classify an error from the ESP call and record the touchpoint's new status.

    Logs carry the touchpoint id, error class and HTTP status only: anymail's messages
    can contain the recipient's address.
    """
    status_code = getattr(error, "status_code", None)
    kind = type(error).__name__
    detail = str(error)[:500]
    # Retries count from the later of the batch's clock and the real one.
    now = max(now, timezone.now())

    if isinstance(error, (AnymailRecipientsRefused, AnymailInvalidAddress)):
        status, reason = Touchpoint.Status.FAILED, f"The ESP refused the recipient address: {detail}"
    elif isinstance(error, requests.ConnectTimeout):
        status, reason = Touchpoint.Status.RETRY_WAIT, "Connecting to the ESP timed out; the message was not sent."
    elif isinstance(error, requests.Timeout):
        status, reason = (
            Touchpoint.Status.NEEDS_REVIEW,
            "The ESP did not answer in time, so the message may or may not have been sent; "
            "check the ESP before resending.",
        )
    elif isinstance(error, requests.ConnectionError):
        status, reason = Touchpoint.Status.RETRY_WAIT, f"Could not connect to the ESP: {detail}"
    elif status_code in CREDENTIALS_STATUS_CODES:
        status, reason = (
            Touchpoint.Status.RETRY_WAIT,
            f"The ESP rejected the credentials (HTTP {status_code}); check DUNNING_ESP_API_KEY. "
            f"Retrying every {int(CREDENTIALS_RETRY_DELAY.total_seconds() // 60)} minutes.",
        )
    elif status_code in RETRYABLE_STATUS_CODES or (status_code is not None and status_code >= 500):
        status, reason = Touchpoint.Status.RETRY_WAIT, f"The ESP answered HTTP {status_code}: {detail}"
    elif status_code is not None and 400 <= status_code < 500:
        status, reason = Touchpoint.Status.FAILED, f"The ESP rejected the message (HTTP {status_code}): {detail}"
    elif isinstance(error, AnymailError) and not isinstance(error, AnymailAPIError):
        # Raised while building the request (unsupported feature, serialization): not sent.
        status, reason = Touchpoint.Status.FAILED, f"The message could not be built for the ESP: {detail}"
    else:
        status, reason = (
            Touchpoint.Status.NEEDS_REVIEW,
            f"The ESP call ended with an unexpected error ({kind}: {detail}), so the message may "
            "or may not have been sent; check the ESP before resending.",
        )

    fields = {"lease_expires_at": None}
    if status == Touchpoint.Status.RETRY_WAIT:
        if status_code in CREDENTIALS_STATUS_CODES:
            fields["next_attempt_at"] = now + CREDENTIALS_RETRY_DELAY
        elif touchpoint.attempts >= MAX_ATTEMPTS:
            status = Touchpoint.Status.FAILED
            reason = f"{reason} Gave up after {touchpoint.attempts} attempts."
        else:
            fields["next_attempt_at"] = now + _retry_delay(touchpoint.attempts)

    logger.warning(
        "Touchpoint %s: ESP call failed with %s (HTTP %s) on attempt %s; now %s",
        touchpoint.pk,
        kind,
        status_code,
        touchpoint.attempts,
        status,
    )
    touchpoint_transition(touchpoint, to_status=status, reason=reason, worker=worker, **fields)
    return status
