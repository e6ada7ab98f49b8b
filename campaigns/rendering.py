"""Message rendering: the one function that builds a template's context, the fixed set
of variables it contains, and the check that staff templates use nothing else.

Templates are Django template source stored in MessageTemplate rows. They see a plain
dictionary, never model instances, because Django templates call any no-argument
method found by attribute lookup. The HTML body is rendered with autoescape on; the
subject, the text body and SMS with it off, so "O'Brien & Sons" stays as typed.

Variables (all strings unless noted):

- customer_name: the customer's name.
- invoice_number: the number printed on the customer's invoice. This is the display
  number when the source has one (Stripe's invoice number), else the source's key.
- amount_due: the amount due with its currency, formatted for the customer's locale.
- due_date: the due date, formatted for the customer's locale.
- days_overdue: whole days past the due date, 0 when not yet due (an integer).
- days_until_due: whole days until the due date, 0 when due or overdue (an integer).
- payment_link: the invoice's payment link, or "".
- business_name: settings.DUNNING_BUSINESS_NAME.
- payment_amount: the payment's amount with its currency (thank-yous), else "".
- payment_date: the payment's date, formatted for the locale (thank-yous), else "".

Tags: only `if`, `elif`, `else` and `endif`. Filters: see ALLOWED_FILTERS.
"""

import datetime
from dataclasses import dataclass

from babel.core import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency
from django.conf import settings
from django.template import Context, Engine, TemplateSyntaxError
from django.template.base import FilterExpression, Lexer, Parser, TokenType

TEMPLATE_VARIABLES = (
    "customer_name",
    "invoice_number",
    "amount_due",
    "due_date",
    "days_overdue",
    "days_until_due",
    "payment_link",
    "business_name",
    "payment_amount",
    "payment_date",
)
ALLOWED_TAGS = ("if", "elif", "else", "endif")
# Filters that only change letter case or supply a fallback; `safe` and friends would
# let template text switch off HTML escaping.
ALLOWED_FILTERS = ("default", "upper", "lower", "capfirst", "title")
# Words inside an {% if %} condition that are operators, not variables.
IF_OPERATORS = {"and", "or", "not", "in", "is", "==", "!=", "<", ">", "<=", ">="}

_html_engine = Engine(autoescape=True)
_text_engine = Engine(autoescape=False)


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    body_text: str
    body_html: str


def babel_locale(locale_code: str) -> Locale:
    """Return the Babel locale for a code such as "fr-FR", falling back to
    settings.DUNNING_DEFAULT_LOCALE and then to English."""
    for code in (locale_code, settings.DUNNING_DEFAULT_LOCALE, "en"):
        if not code:
            continue
        try:
            return Locale.parse(code.replace("-", "_"))
        except (UnknownLocaleError, ValueError):
            continue
    return Locale("en")


def build_context(*, customer, invoice=None, payment=None, today: datetime.date) -> dict:
    """Build the plain dictionary every message template is rendered with.

    `today` is the customer's local date, which days_overdue and days_until_due count
    from. Amounts and dates are formatted for the customer's locale.
    """
    locale = babel_locale(customer.locale)
    context = {name: "" for name in TEMPLATE_VARIABLES}
    context.update(
        customer_name=customer.name,
        business_name=settings.DUNNING_BUSINESS_NAME,
        days_overdue=0,
        days_until_due=0,
    )
    if invoice is not None:
        days_late = (today - invoice.due_date).days
        context.update(
            invoice_number=invoice.display_number or invoice.number,
            amount_due=format_currency(invoice.amount_due, invoice.currency, locale=locale),
            due_date=format_date(invoice.due_date, format="long", locale=locale),
            days_overdue=max(days_late, 0),
            days_until_due=max(-days_late, 0),
            payment_link=invoice.payment_link,
        )
    if payment is not None:
        context.update(
            payment_amount=format_currency(payment.amount, payment.currency, locale=locale),
            payment_date=format_date(payment.paid_on, format="long", locale=locale),
        )
    return context


def render_text(source: str, context: dict) -> str:
    """Render subject, text body or SMS source with autoescape off."""
    return _text_engine.from_string(source).render(Context(context, autoescape=False))


def render_html(source: str, context: dict) -> str:
    """Render an HTML body with autoescape on."""
    return _html_engine.from_string(source).render(Context(context, autoescape=True))


def render_message(template, context: dict) -> RenderedMessage:
    """Render a MessageTemplate's subject, text body and HTML body with `context`."""
    return RenderedMessage(
        subject=" ".join(render_text(template.subject, context).split()),
        body_text=render_text(template.body_text, context),
        body_html=render_html(template.body_html, context) if template.body_html else "",
    )


def _check_expression(expression: str, parser: Parser) -> list[str]:
    try:
        compiled = FilterExpression(expression, parser)
    except TemplateSyntaxError as error:
        return [f"The template is invalid: {error}"]

    errors = []
    variables = [compiled.var] + [arg for filter_func, args in compiled.filters for is_variable, arg in args if is_variable]
    for variable in variables:
        lookups = getattr(variable, "lookups", None)
        if lookups is None:
            continue  # a literal such as "text" or 3
        name = ".".join(lookups)
        if len(lookups) > 1 or lookups[0] not in TEMPLATE_VARIABLES:
            errors.append(f'Unknown variable "{name}"; use one of: {", ".join(TEMPLATE_VARIABLES)}.')
    for filter_func, _args in compiled.filters:
        filter_name = getattr(filter_func, "_filter_name", filter_func.__name__)
        if filter_name not in ALLOWED_FILTERS:
            errors.append(f'The filter "{filter_name}" is not allowed; use one of: {", ".join(ALLOWED_FILTERS)}.')
    return errors


def validate_template_source(text: str) -> list[str]:
    """Return the problems that stop `text` from being a message template, or [] if none.

    A template may use only the variables in TEMPLATE_VARIABLES, the tags in
    ALLOWED_TAGS and the filters in ALLOWED_FILTERS, and must compile.
    """
    if not text:
        return []
    errors: list[str] = []
    parser = Parser([], builtins=_text_engine.template_builtins)

    for token in Lexer(text).tokenize():
        if token.token_type == TokenType.VAR:
            errors.extend(_check_expression(token.contents, parser))
        elif token.token_type == TokenType.BLOCK:
            bits = token.split_contents()
            tag = bits[0] if bits else ""
            if tag not in ALLOWED_TAGS:
                errors.append(f'The tag "{tag}" is not allowed; use only {", ".join(ALLOWED_TAGS)}.')
                continue
            for bit in bits[1:]:
                if bit not in IF_OPERATORS:
                    errors.extend(_check_expression(bit, parser))

    if not errors:
        try:
            _text_engine.from_string(text)
        except TemplateSyntaxError as error:
            errors.append(f"The template is invalid: {error}")
    return list(dict.fromkeys(errors))
