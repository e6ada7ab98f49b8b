"""Row builders: turn parsed rows of each layout into invoice, credit, customer and card rows.

Our template and Stripe's invoices export have one row per invoice and their builders
live in `pipeline`. Xero exports one row per line item, and QuickBooks' A/R Aging Detail
report mixes invoices, credit memos and unapplied payments with its own report rows.
"""

from customers.imports import parsing, pipeline
from customers.imports.errors import CellError
from customers.imports.pipeline import CardRow, CreditRow, InvoiceRow, ParsedRow, Validation
from customers.models import CustomerCredit, Invoice

# Invoice fields every line of one Xero invoice repeats; lines that disagree are refused.
XERO_INVOICE_FIELDS = (
    "customer_name",
    "email",
    "country",
    "reference",
    "issue_date",
    "due_date",
    "total",
    "amount_paid",
    "amount_due",
    "currency",
    "type",
    "status",
)
QUICKBOOKS_INVOICE = "invoice"
QUICKBOOKS_CREDIT_MEMO = "credit memo"
QUICKBOOKS_PAYMENT = "payment"


# Xero ----------------------------------------------------------------------------------


def build_xero_rows(parsed_rows: list[ParsedRow], validation: Validation) -> None:
    """Combine the line-item rows of each Xero invoice or credit note into one row.

    Built a chunk at a time, an invoice's lines wait in `validation.pending_lines` until
    its last row in the file (`validation.last_row_of_key`) has been read, wherever its
    lines are. The last call, `validation.final_build`, builds what is still waiting: an
    invoice whose last row was refused.
    """
    pending = validation.pending_lines
    for parsed in parsed_rows:
        pending.setdefault(parsed.values["invoice_number"], []).append(parsed)

    last_rows = validation.last_row_of_key
    if validation.final_build or last_rows is None:
        complete = list(pending)
    else:
        complete = [key for key, lines in pending.items() if lines[-1].number >= last_rows.get(key, 0)]
    lines_by_key = {key: pending.pop(key) for key in complete}
    if last_rows is not None:
        # A built invoice no longer waits for rows, so the map shrinks as the file is read.
        for key in complete:
            last_rows.pop(key, None)

    for key, lines in lines_by_key.items():
        refused_lines = validation.refused_keys.get(key)
        if refused_lines:
            validation.blocked.append(
                {
                    "entity": "blocked",
                    "row": lines[0].number,
                    "key": key,
                    "note": f'invoice "{key}" has a refused line in {rows_text(refused_lines)}, '
                    f"so its line in {rows_text([line.number for line in lines])} cannot be applied alone",
                }
            )
            continue
        if not xero_lines_agree(key, lines, validation):
            continue
        built = xero_document(lines, validation)
        if built is not None:
            pipeline.add_invoice_row(built, lines[0].number, lines[0].raw, validation)


def xero_lines_agree(key: str, lines: list[ParsedRow], validation: Validation) -> bool:
    first = lines[0]
    for line in lines[1:]:
        for name in XERO_INVOICE_FIELDS:
            if first.values.get(name) != line.values.get(name):
                column = validation.layout.column(name)
                validation.add_error(
                    line.number,
                    column.header,
                    line.raw.get(name, ""),
                    CellError(
                        f'row {first.number} of invoice "{key}" gives "{pipeline.to_json(first.values.get(name)) or ""}"',
                        "export the invoice again; every line of an invoice repeats the same invoice fields",
                    ),
                )
                validation.refuse_key(key, line.number)
                return False
    return True


def xero_document(lines: list[ParsedRow], validation: Validation):
    """Return the InvoiceRow or CreditRow for one Xero invoice, or None when it is skipped."""
    first = lines[0]
    values = first.values
    key = values["invoice_number"]
    status = values["status"]
    kind = values["type"]
    if kind == pipeline.XERO_OTHER:
        validation.skipped.append(skip_entry(first, key, "a purchase document (bill), not a sales invoice"))
        return None
    if status == pipeline.XERO_SKIPPED:
        validation.skipped.append(skip_entry(first, key, "Xero draft or unapproved invoice; only approved invoices are imported"))
        return None

    customer = {"external_id": values["customer_name"], "name": values["customer_name"]}
    for name in ("email", "country"):
        if values.get(name):
            customer[name] = values[name]

    if kind == pipeline.XERO_CREDIT_NOTE:
        return xero_credit(first, customer, validation)

    if not pipeline.check_not_negative(first, validation.layout, validation, ("total", "amount_paid", "amount_due")):
        validation.refuse_key(key, first.number)
        return None
    descriptions = [line.values.get("description", "") for line in lines if line.values.get("description")]
    description = values.get("reference") or "; ".join(descriptions)
    ledger_status = status
    if ledger_status == Invoice.LedgerStatus.OPEN and values["amount_due"] == 0:
        ledger_status = Invoice.LedgerStatus.PAID
    invoice = {
        "number": key,
        "issue_date": values["issue_date"],
        "due_date": values["due_date"],
        "currency": values["currency"],
        "amount": values["total"],
        "amount_due": values["amount_due"],
        "ledger_status": ledger_status,
        "description": description[:500],  # Invoice.description max_length
    }
    if values.get("amount_paid") is not None:
        invoice["amount_paid"] = values["amount_paid"]
    return InvoiceRow(number=first.number, key=key, customer=customer, invoice=invoice)


def xero_credit(first: ParsedRow, customer: dict, validation: Validation) -> CreditRow | None:
    """Return the credit left on a credit note: its amount due, the part not allocated to
    invoices. Xero exports credit note amounts as positive or negative numbers."""
    values = first.values
    key = values["invoice_number"]
    if values["status"] == Invoice.LedgerStatus.VOID:
        validation.skipped.append(skip_entry(first, key, "voided credit note"))
        return None
    remaining = values["amount_due"] if values.get("amount_due") is not None else values["total"]
    remaining = abs(remaining)
    if remaining == 0:
        validation.skipped.append(skip_entry(first, key, "credit note fully allocated to invoices; no credit left"))
        return None
    return CreditRow(
        number=first.number,
        key=key,
        customer=customer,
        amount=remaining,
        currency=values["currency"],
        origin=CustomerCredit.Origin.CREDIT_NOTE,
    )


def rows_text(numbers: list[int]) -> str:
    """Return "row 3" or "rows 3, 5"."""
    if len(numbers) == 1:
        return f"row {numbers[0]}"
    return "rows " + ", ".join(str(number) for number in numbers)


def skip_entry(parsed: ParsedRow, key: str, note: str) -> dict:
    return {"entity": "invoice", "row": parsed.number, "key": key, "action": "skip", "note": note}


# QuickBooks ----------------------------------------------------------------------------


def is_quickbooks_report_row(sheet_row, match) -> bool:
    """Report rows have no transaction type: bucket titles ("Current", "1 - 30 days past
    due"), "Total for ..." rows, the TOTAL row and the run-time footer."""
    position = match.positions["transaction_type"]
    cells = sheet_row.cells
    transaction_type = cells[position] if position < len(cells) else None
    if not parsing.is_blank(transaction_type):
        return False
    first_cell = cells[0] if cells else None
    customer_position = match.positions["customer_name"]
    customer = cells[customer_position] if customer_position < len(cells) else None
    return not parsing.is_blank(first_cell) or parsing.is_blank(customer)


def build_quickbooks_rows(parsed_rows: list[ParsedRow], validation: Validation) -> None:
    pipeline.build_invoice_rows(parsed_rows, validation, quickbooks_row)


def quickbooks_row(parsed: ParsedRow, validation: Validation):
    values = parsed.values
    layout = validation.layout
    transaction_type = values["transaction_type"].strip().lower()
    key = values.get("invoice_number", "")
    customer = {"external_id": values["customer_name"], "name": values["customer_name"]}
    currency = values.get("currency") or validation.context.default_currency
    try:
        amount = parsing.check_currency_amount(values["amount"], currency)
        amount_due = parsing.check_currency_amount(values["amount_due"], currency)
    except CellError as error:
        validation.add_error(parsed.number, layout.column("amount").header, parsed.raw["amount"], error)
        return None

    if transaction_type == QUICKBOOKS_INVOICE:
        if not key:
            validation.add_error(parsed.number, layout.column("invoice_number").header, "", CellError("missing value", "fill in Num"))
            return None
        if not pipeline.check_not_negative(parsed, layout, validation, ("amount", "amount_due")):
            return None
        invoice = {
            "number": key,
            "issue_date": values["issue_date"],
            "due_date": values["due_date"] or values["issue_date"],
            "currency": currency,
            "amount": amount,
            "amount_due": amount_due,
            "ledger_status": Invoice.LedgerStatus.OPEN if amount_due > 0 else Invoice.LedgerStatus.PAID,
            "description": values.get("description", ""),
        }
        # NOTE: the report has no amount paid. A balance that drops between two reports
        # may be a payment or a credit memo, so it is recorded as a balance change only.
        return InvoiceRow(number=parsed.number, key=key, customer=customer, invoice=invoice)

    if transaction_type in (QUICKBOOKS_CREDIT_MEMO, QUICKBOOKS_PAYMENT):
        if amount_due == 0:
            validation.skipped.append(skip_entry(parsed, key, f"{values['transaction_type']} with no open balance"))
            return None
        if transaction_type == QUICKBOOKS_CREDIT_MEMO:
            origin, reference, review = CustomerCredit.Origin.CREDIT_NOTE, key, False
        else:
            # An unapplied payment: money received that no invoice took.
            origin = CustomerCredit.Origin.OVERPAYMENT
            reference = f"Payment {key or values['issue_date'].isoformat()}"
            review = True
        if not reference:
            validation.add_error(parsed.number, layout.column("invoice_number").header, "", CellError("missing value", "fill in Num"))
            return None
        return CreditRow(
            number=parsed.number,
            key=reference,
            customer=customer,
            amount=abs(amount_due),
            currency=currency,
            origin=origin,
            needs_review=review,
        )

    validation.skipped.append(skip_entry(parsed, key, f'transaction type "{values["transaction_type"]}" is not imported'))
    return None


# Customers and cards -------------------------------------------------------------------

CUSTOMER_FILE_FIELDS = {
    "customer_id": "external_id",
    "customer_name": "name",
    "email": "email",
    "phone": "phone",
    "country": "country",
    "customer_type": "kind",
    "segment": "segment",
    "locale": "locale",
    "time_zone": "time_zone",
}


def build_customer_rows(parsed_rows: list[ParsedRow], validation: Validation) -> None:
    """Build one customer per row. A consent column sets the consent only where its cell is filled."""
    source_label = validation.layout.title
    for parsed in parsed_rows:
        values = parsed.values
        key = values["customer_id"]
        if not validation.claim_key(key, parsed.number, "customer"):
            continue
        customer = {model: values[name] for name, model in CUSTOMER_FILE_FIELDS.items() if name in values}
        customer["name"] = values.get("customer_name") or values.get("email") or key
        if "kind" in customer and not customer["kind"]:
            customer["kind"] = "business"
        for consent in ("sms_consent", "marketing_consent"):
            if values.get(consent) is not None:
                customer[consent] = values[consent]
                customer[f"{consent}_source"] = source_label
        validation.rows.append(InvoiceRow(number=parsed.number, key=key, customer=customer, invoice={}))


def build_card_rows(parsed_rows: list[ParsedRow], validation: Validation) -> None:
    for parsed in parsed_rows:
        values = parsed.values
        key = values["card_id"]
        if not validation.claim_key(key, parsed.number, "card"):
            continue
        card = {"brand": values["brand"], "last4": values["last4"], "exp_month": values["exp_month"], "exp_year": values["exp_year"]}
        validation.rows.append(CardRow(number=parsed.number, key=key, customer_key=values["customer_id"], card=card))


ROW_BUILDERS = {
    "template": lambda rows, validation: pipeline.build_invoice_rows(rows, validation, pipeline.template_invoice_from_row),
    "stripe": lambda rows, validation: pipeline.build_invoice_rows(rows, validation, pipeline.stripe_invoice_from_row),
    "payments": pipeline.build_payment_rows,
    "xero": build_xero_rows,
    "quickbooks": build_quickbooks_rows,
    "customers": build_customer_rows,
    "cards": build_card_rows,
}
REPORT_ROW_FILTERS = {"quickbooks": is_quickbooks_report_row}
