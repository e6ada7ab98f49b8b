"""Reads of the ledger and the collections state: which invoices automated dunning may
act on, and why the others are left alone.

`dunnable_invoices` is the set-based rule used by the dunning pass and by delivery's
pre-flight check. `non_dunnable_reason` applies the same rule to one invoice and returns
the reason in words, for suppression and cancellation messages. Keep the two in step.
"""

import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import DecimalField, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from customers.models import CustomerCredit, Dispute, Invoice, Pause, PromiseToPay, Source


def fresh_sources_q(*, now: datetime.datetime, prefix: str = "source__") -> Q:
    """Build a filter for rows whose source was imported within its maximum data age.

    A source never imported is stale. One small query reads the distinct maximum ages, so
    the result is a plain OR of date comparisons that works on PostgreSQL and SQLite.
    """
    ages = Source.objects.order_by().values_list("max_data_age_days", flat=True).distinct()
    condition = Q(pk__in=[])
    for age in ages:
        condition |= Q(
            **{
                f"{prefix}max_data_age_days": age,
                f"{prefix}last_imported_at__gte": now - datetime.timedelta(days=age),
            }
        )
    return condition


def _credit_total_subquery() -> Coalesce:
    credits = (
        CustomerCredit.objects.filter(customer_id=OuterRef("customer_id"), currency=OuterRef("currency"))
        .order_by()
        .values("customer_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    money = DecimalField(max_digits=14, decimal_places=2)
    return Coalesce(Subquery(credits, output_field=money), Value(Decimal("0"), output_field=money), output_field=money)


def dunnable_invoices(*, local_date: datetime.date, now: datetime.datetime) -> QuerySet[Invoice]:
    """Return the invoices automated dunning may act on for customers whose local date is
    `local_date`, as of the instant `now`.

    An invoice is dunnable when all of these hold:

    - its ledger status is open and its amount due is at least settings.DUNNING_MIN_BALANCE;
    - it has no unresolved dispute;
    - no pause of the invoice or of its customer lasts until `local_date` or later;
    - no promise to pay falls on `local_date` or later;
    - its source was imported within the source's maximum data age;
    - the customer's credits in the invoice's currency add up to less than the amount due.
    """
    unresolved_disputes = Dispute.objects.filter(invoice_id=OuterRef("pk"), resolved_at__isnull=True)
    pauses = Pause.objects.filter(
        Q(invoice_id=OuterRef("pk")) | Q(invoice__isnull=True, customer_id=OuterRef("customer_id")),
        until__gte=local_date,
    )
    promises = PromiseToPay.objects.filter(invoice_id=OuterRef("pk"), promised_on__gte=local_date)

    return (
        Invoice.objects.filter(
            ledger_status=Invoice.LedgerStatus.OPEN,
            amount_due__gte=settings.DUNNING_MIN_BALANCE,
        )
        .filter(fresh_sources_q(now=now))
        .filter(~Exists(unresolved_disputes), ~Exists(pauses), ~Exists(promises))
        .alias(credit_total=_credit_total_subquery())
        .filter(credit_total__lt=F("amount_due"))
    )


def non_dunnable_reason(invoice: Invoice, *, local_date: datetime.date, now: datetime.datetime) -> str | None:
    """Return why automated dunning must leave `invoice` alone, in words, or None when it
    is dunnable. Checks the same conditions as `dunnable_invoices`, in the same order."""
    number = invoice.number
    if invoice.ledger_status != Invoice.LedgerStatus.OPEN:
        return f"Invoice {number} is {invoice.get_ledger_status_display().lower()} in the ledger."
    if invoice.amount_due < settings.DUNNING_MIN_BALANCE:
        return (
            f"Invoice {number} has {invoice.amount_due} {invoice.currency} due, "
            f"below the minimum balance of {settings.DUNNING_MIN_BALANCE}."
        )
    if Dispute.objects.filter(invoice=invoice, resolved_at__isnull=True).exists():
        return f"Invoice {number} is disputed."

    pause = (
        Pause.objects.filter(Q(invoice=invoice) | Q(invoice__isnull=True, customer_id=invoice.customer_id), until__gte=local_date)
        .order_by("-until")
        .first()
    )
    if pause is not None:
        scope = "Invoice" if pause.invoice_id else "The customer of invoice"
        return f"{scope} {number} is paused until {pause.until.isoformat()}."

    promise = PromiseToPay.objects.filter(invoice=invoice, promised_on__gte=local_date).order_by("-promised_on").first()
    if promise is not None:
        return f"Invoice {number} has a promise to pay on {promise.promised_on.isoformat()}."

    source = invoice.source
    if source.last_imported_at is None:
        return f"Invoice {number} comes from source {source.name}, which has never been imported."
    if source.last_imported_at < now - datetime.timedelta(days=source.max_data_age_days):
        return (
            f"Invoice {number} comes from source {source.name}, last imported on "
            f"{source.last_imported_at:%Y-%m-%d}, more than {source.max_data_age_days} days ago."
        )

    credit = CustomerCredit.objects.filter(customer_id=invoice.customer_id, currency=invoice.currency).aggregate(
        total=Sum("amount")
    )["total"] or Decimal("0")
    credit = credit.quantize(Decimal("0.01"))  # SQLite returns sums without trailing zeros
    if credit >= invoice.amount_due:
        return (
            f"Invoice {number} is covered by the customer's credits of {credit} {invoice.currency}, "
            f"which apply to the {invoice.amount_due} {invoice.currency} due."
        )
    return None
