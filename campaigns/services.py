"""Writes to touchpoints: creating them, moving them between statuses, and recording why.

Every status change goes through `touchpoint_transition`, which appends a
TouchpointEvent, so a touchpoint's history records who or what changed it and when.
"""

import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from campaigns.models import Channel, Touchpoint, TouchpointEvent, TouchpointInvoice

logger = logging.getLogger(__name__)

# Statuses in which a touchpoint has not reached the ESP and may still be cancelled.
PENDING_STATUSES = (Touchpoint.Status.QUEUED, Touchpoint.Status.RETRY_WAIT, Touchpoint.Status.CLAIMED)


def touchpoint_transition(
    touchpoint: Touchpoint,
    *,
    to_status: str,
    reason: str = "",
    worker: str = "",
    actor=None,
    **fields,
) -> Touchpoint:
    """Move a touchpoint to `to_status`, save the given fields with it, and log an event."""
    from_status = touchpoint.status
    touchpoint.status = to_status
    if reason:
        touchpoint.status_reason = reason
    for name, value in fields.items():
        setattr(touchpoint, name, value)
    touchpoint.save()
    TouchpointEvent.objects.create(
        touchpoint=touchpoint,
        kind=TouchpointEvent.Kind.STATUS,
        from_status=from_status,
        to_status=to_status,
        message=reason,
        worker=worker,
        actor=actor,
    )
    return touchpoint


def touchpoints_cancel_pending_for_invoice(*, invoice, reason: str, actor=None) -> int:
    """Cancel the unsent dunning touchpoints that cover `invoice`; return how many."""
    # FOR UPDATE cannot be combined with DISTINCT on PostgreSQL, hence the subquery.
    covering = TouchpointInvoice.objects.filter(invoice=invoice).values("touchpoint_id")
    pending: QuerySet[Touchpoint] = Touchpoint.objects.select_for_update().filter(
        pk__in=covering,
        kind=Touchpoint.Kind.DUNNING,
        status__in=PENDING_STATUSES,
    )
    cancelled = 0
    with transaction.atomic():
        for touchpoint in pending:
            touchpoint_transition(touchpoint, to_status=Touchpoint.Status.CANCELLED, reason=reason, actor=actor)
            cancelled += 1
    return cancelled


def thank_you_queue(*, payment) -> Touchpoint | None:
    """Queue the thank-you for `payment`, once: a second call returns None.

    The one-to-one link from touchpoint to payment makes a second thank-you impossible
    even when two processes record the same payment at once.
    """
    invoice = payment.invoice
    try:
        with transaction.atomic():
            touchpoint = Touchpoint.objects.create(
                customer=payment.customer,
                kind=Touchpoint.Kind.THANK_YOU,
                channel=Channel.EMAIL,
                template_key="thank-you",
                payment=payment,
                due_at=timezone.now(),
            )
            TouchpointInvoice.objects.create(touchpoint=touchpoint, invoice=invoice, amount_due=invoice.amount_due)
            TouchpointEvent.objects.create(
                touchpoint=touchpoint,
                kind=TouchpointEvent.Kind.STATUS,
                to_status=touchpoint.status,
                message=f"Thank-you for the payment of {payment.amount} {payment.currency} dated {payment.paid_on}.",
                actor=payment.recorded_by,
            )
    except IntegrityError:
        logger.info("Thank-you for payment %s already exists; not queued again", payment.pk)
        return None
    return touchpoint


def thank_you_is_due(payment, *, today=None) -> bool:
    """Return whether `payment` earns a thank-you: it is recent and not historical."""
    if payment.is_historical:
        return False
    today = today or timezone.localdate()
    age_days = (today - payment.paid_on).days
    return 0 <= age_days <= settings.DUNNING_THANK_YOU_MAX_AGE_DAYS


@transaction.atomic
def touchpoint_log_manual(*, customer, action: str, note: str, invoices=(), user=None) -> Touchpoint:
    """Record what an agent did (a call, a note, a letter) as a touchpoint of the customer,
    linked to the invoices it was about. Nothing is sent."""
    if action not in Touchpoint.ManualAction.values:
        raise ValueError(f"unknown manual action {action!r}; use one of {', '.join(Touchpoint.ManualAction.values)}")
    foreign = [invoice.number for invoice in invoices if invoice.customer_id != customer.pk]
    if foreign:
        raise ValueError(f"invoices {', '.join(foreign)} belong to another customer")

    touchpoint = Touchpoint.objects.create(
        customer=customer,
        kind=Touchpoint.Kind.MANUAL,
        channel="",
        action=action,
        status=Touchpoint.Status.LOGGED,
        note=note,
        created_by=user,
    )
    TouchpointInvoice.objects.bulk_create(
        [TouchpointInvoice(touchpoint=touchpoint, invoice=invoice, amount_due=invoice.amount_due) for invoice in invoices]
    )
    TouchpointEvent.objects.create(
        touchpoint=touchpoint,
        kind=TouchpointEvent.Kind.NOTE,
        to_status=touchpoint.status,
        message=f"{touchpoint.get_action_display()} logged by {user.get_username() if user else 'the system'}.",
        actor=user,
    )
    return touchpoint
