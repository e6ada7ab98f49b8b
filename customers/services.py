"""Writes to the ledger and the collections state that the admin, imports, tasks and
commands share."""

from decimal import Decimal

from django.db import transaction
from django.db.models import F

from customers.models import CustomerCredit, Invoice, Payment


class PaymentError(ValueError):
    pass


@transaction.atomic
def payment_record(
    *,
    invoice: Invoice,
    amount: Decimal,
    paid_on,
    origin: str,
    reference: str = "",
    method: str = "",
    is_historical: bool = False,
    apply_to_ledger: bool = True,
    user=None,
    import_record=None,
) -> Payment:
    """Record money received against an invoice, stop its pending messages when it is
    settled, and queue a thank-you when the payment is recent.

    `apply_to_ledger` is False when the caller (an invoice import) has already written
    the new balance from the source. Otherwise the balance drops by the amount, and any
    excess over the amount due becomes a customer credit flagged for review.
    """
    from campaigns import services as touchpoint_services
    from campaigns.tasks import request_delivery

    if amount <= 0:
        raise PaymentError(f"payment amount {amount} must be positive; record refunds separately")

    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    payment = Payment.objects.create(
        invoice=invoice,
        customer_id=invoice.customer_id,
        amount=amount,
        currency=invoice.currency,
        paid_on=paid_on,
        reference=reference,
        method=method,
        origin=origin,
        is_historical=is_historical,
        recorded_by=user,
        import_record=import_record,
    )

    if apply_to_ledger:
        excess = max(amount - invoice.amount_due, Decimal("0"))
        new_amount_due = max(invoice.amount_due - amount, Decimal("0"))
        Invoice.objects.filter(pk=invoice.pk).update(
            amount_paid=F("amount_paid") + amount,
            amount_due=new_amount_due,
            ledger_status=Invoice.LedgerStatus.PAID if new_amount_due == 0 else invoice.ledger_status,
            version=F("version") + 1,
        )
        if excess > 0:
            CustomerCredit.objects.create(
                customer_id=invoice.customer_id,
                amount=excess,
                currency=invoice.currency,
                origin=CustomerCredit.Origin.OVERPAYMENT,
                reference=reference or f"Overpayment of {invoice.number}",
                needs_review=True,
            )
        invoice.refresh_from_db()

    if invoice.amount_due == 0 or invoice.ledger_status != Invoice.LedgerStatus.OPEN:
        touchpoint_services.touchpoints_cancel_pending_for_invoice(
            invoice=invoice,
            reason=f"Invoice {invoice.number} was settled by a payment dated {paid_on}.",
            actor=user,
        )

    if touchpoint_services.thank_you_is_due(payment):
        touchpoint_services.thank_you_queue(payment=payment)
        request_delivery()

    return payment
