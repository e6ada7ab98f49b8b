"""Plans and writes for credits, payment cards and snapshot closings.

Entries follow the shape of `pipeline`'s: JSON-ready dictionaries with the row, the key,
the action and the changed fields as [old, new] pairs.
"""

import logging
from decimal import Decimal

from django.db.models import F

from customers.imports.errors import CellError
from customers.imports.pipeline import CardRow, CreditRow, Validation, chunks, diff_fields, load_by_key, to_json
from customers.models import Customer, CustomerCredit, Invoice, PaymentCard, Source

logger = logging.getLogger(__name__)

# Staff confirm a second time when a snapshot would close more than this share of the
# source's open invoices: a file cut short or filtered looks like a mass settlement.
CLOSING_CONFIRM_FRACTION = Decimal("0.2")


# Credits --------------------------------------------------------------------------------


def plan_credits(rows: list[CreditRow], source: Source, customers: dict[str, Customer]) -> list[dict]:
    """Compare credit rows with the stored credits of the same customer, origin and reference."""
    stored = {}
    customer_ids = [customer.pk for customer in customers.values()]
    for chunk in chunks(customer_ids):
        for credit in CustomerCredit.objects.filter(customer_id__in=chunk).select_related("customer"):
            stored[(credit.customer.external_id, credit.origin, credit.reference)] = credit

    entries = []
    for row in rows:
        customer_key = row.customer["external_id"]
        values = {"amount": row.amount, "currency": row.currency}
        entry = {"entity": "credit", "row": row.number, "key": row.key, "customer_key": customer_key, "origin": row.origin}
        existing = stored.get((customer_key, row.origin, row.key))
        if existing is None:
            fields = {name: [None, to_json(value)] for name, value in values.items()}
            fields["needs_review"] = [None, row.needs_review]
            entries.append({**entry, "action": "create", "id": None, "fields": fields})
            continue
        changed = diff_fields(existing, values)
        entries.append({**entry, "action": "update" if changed else "unchanged", "id": existing.pk, "fields": changed})
    return entries


def apply_credits(entries: list[dict], customer_ids: dict[str, int]) -> None:
    # NOTE: credits have no version column, so a credit edited between preview and
    # confirm is overwritten rather than reported as stale.
    new_credits = []
    for entry in entries:
        values = {name: new for name, (_old, new) in entry["fields"].items()}
        if "amount" in values:
            values["amount"] = Decimal(values["amount"])
        if entry["action"] == "create":
            new_credits.append(
                CustomerCredit(
                    customer_id=customer_ids[entry["customer_key"]],
                    origin=entry["origin"],
                    reference=entry["key"],
                    **values,
                )
            )
        elif entry["action"] == "update":
            CustomerCredit.objects.filter(pk=entry["id"]).update(**values)
    CustomerCredit.objects.bulk_create(new_credits)


# Cards ----------------------------------------------------------------------------------


def plan_cards(validation: Validation, source: Source) -> list[dict]:
    """Match card rows to the customers of `source`; unknown customers are errors."""
    layout = validation.layout
    rows: list[CardRow] = validation.rows
    customers = load_by_key(Customer.objects.filter(source=source), "external_id", [row.customer_key for row in rows])
    stored = {}
    for chunk in chunks([customer.pk for customer in customers.values()]):
        for card in PaymentCard.objects.filter(customer_id__in=chunk).select_related("customer"):
            stored[(card.customer.external_id, card.external_id)] = card

    entries = []
    for index, row in enumerate(rows, start=1):
        validation.tick(index)
        customer = customers.get(row.customer_key)
        if customer is None:
            column = layout.column("customer_id")
            validation.add_error(
                row.number,
                column.header,
                row.customer_key,
                CellError(f'no customer with this id in source "{source.name}"', "import the customers export first"),
            )
            continue
        entry = {"entity": "card", "row": row.number, "key": row.key, "customer_key": row.customer_key, "customer_id": customer.pk}
        existing = stored.get((row.customer_key, row.key))
        if existing is None:
            fields = {name: [None, value] for name, value in row.card.items()}
            entries.append({**entry, "action": "create", "id": None, "fields": fields})
            continue
        changed = diff_fields(existing, row.card)
        entries.append({**entry, "action": "update" if changed else "unchanged", "id": existing.pk, "fields": changed})
    return entries


def apply_cards(entries: list[dict]) -> None:
    new_cards = []
    for entry in entries:
        values = {name: new for name, (_old, new) in entry["fields"].items()}
        if entry["action"] == "create":
            new_cards.append(PaymentCard(customer_id=entry["customer_id"], external_id=entry["key"], **values))
        elif entry["action"] == "update":
            PaymentCard.objects.filter(pk=entry["id"]).update(**values)
    PaymentCard.objects.bulk_create(new_cards)


# Snapshot closings ----------------------------------------------------------------------


def plan_closings(source: Source, file_keys: set[str]) -> tuple[list[dict], int]:
    """Plan closing the open invoices of `source` that the snapshot file does not list.

    Returns the entries and the number of open invoices the source has now."""
    open_invoices = Invoice.objects.filter(source=source, ledger_status=Invoice.LedgerStatus.OPEN)
    entries = []
    open_count = 0
    for invoice_id, number, version, amount_due, currency in open_invoices.values_list(
        "pk", "number", "version", "amount_due", "currency"
    ).order_by("number"):
        open_count += 1
        if number in file_keys:
            continue
        entries.append(
            {
                "entity": "close",
                "row": None,
                "key": number,
                "action": "close",
                "id": invoice_id,
                "version": version,
                "fields": {
                    "ledger_status": [Invoice.LedgerStatus.OPEN, Invoice.LedgerStatus.CLOSED],
                    "amount_due": [to_json(amount_due), "0.00"],
                },
                "note": f"not in the file, which holds every open invoice: settled, {amount_due} {currency} closed",
            }
        )
    return entries, open_count


def closing_needs_confirmation(closing: int, open_count: int) -> bool:
    return open_count > 0 and Decimal(closing) > CLOSING_CONFIRM_FRACTION * open_count


def closing_summary(closing: int, open_count: int) -> str:
    share = round(100 * closing / open_count) if open_count else 0
    return f"{closing} of the source's {open_count} open invoices ({share}%) are not in the file and would be closed"


def apply_closings(entries: list[dict], record, user=None) -> None:
    """Close the invoices as settled and cancel their pending messages with the reason.

    Closing is a balance change, not a payment, so no thank-you is queued."""
    from campaigns import services as touchpoint_services

    ids = [entry["id"] for entry in entries]
    if not ids:
        return
    for chunk in chunks(ids):
        Invoice.objects.filter(pk__in=chunk).update(
            ledger_status=Invoice.LedgerStatus.CLOSED, amount_due=Decimal("0"), version=F("version") + 1
        )
    reason_tail = f"left the full snapshot {record.file_name} imported on {record.created_at:%Y-%m-%d}"
    for invoice in Invoice.objects.filter(pk__in=ids):
        touchpoint_services.touchpoints_cancel_pending_for_invoice(
            invoice=invoice, reason=f"Invoice {invoice.number} {reason_tail}, so it was closed as settled.", actor=user
        )
    logger.info("Import %s closed %d invoices of source %s", record.pk, len(ids), record.source_id)
