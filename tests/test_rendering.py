import datetime
from decimal import Decimal

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import pytest

from campaigns import rendering
from campaigns.rendering import TEMPLATE_VARIABLES, build_context, render_html, render_message, render_text, validate_template_source
from tests.factories import CustomerFactory, InvoiceFactory, MessageTemplateFactory, PaymentFactory

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 3, 20)
NBSP = "\u00a0"
NARROW_NBSP = "\u202f"


def plain(text):
    """Replace the non-breaking spaces Babel puts in numbers and dates with spaces."""
    return text.replace(NBSP, " ").replace(NARROW_NBSP, " ")


@pytest.fixture
def invoice():
    customer = CustomerFactory(name="O'Brien & Sons", locale="en-GB")
    return InvoiceFactory(
        customer=customer,
        number="INV-1001",
        due_date=datetime.date(2026, 3, 10),
        currency="GBP",
        amount=Decimal("1234.50"),
        payment_link="https://pay.example/INV-1001?a=1&b=2",
    )


# Context


def test_context_has_exactly_the_documented_variables(invoice):
    context = build_context(customer=invoice.customer, invoice=invoice, today=TODAY)

    assert set(context) == set(TEMPLATE_VARIABLES)


def test_context_holds_only_plain_values(invoice):
    payment = PaymentFactory(invoice=invoice, amount=Decimal("10.00"), paid_on=TODAY)

    context = build_context(customer=invoice.customer, invoice=invoice, payment=payment, today=TODAY)

    assert all(type(value) in (str, int) for value in context.values())


def test_context_formats_for_english_customer(invoice):
    context = build_context(customer=invoice.customer, invoice=invoice, today=TODAY)

    assert context["customer_name"] == "O'Brien & Sons"
    assert context["invoice_number"] == "INV-1001"
    assert context["amount_due"] == "£1,234.50"
    assert context["due_date"] == "10 March 2026"
    assert context["days_overdue"] == 10
    assert context["days_until_due"] == 0
    assert context["payment_link"] == "https://pay.example/INV-1001?a=1&b=2"
    assert context["payment_amount"] == ""


def test_context_prefers_display_number(invoice):
    invoice.number = "in_1QAbcDEFghiJKL02"
    invoice.display_number = "8F1A2B3C-0002"

    context = build_context(customer=invoice.customer, invoice=invoice, today=TODAY)

    assert context["invoice_number"] == "8F1A2B3C-0002"


def test_context_formats_for_french_customer():
    customer = CustomerFactory(locale="fr-FR")
    invoice = InvoiceFactory(customer=customer, due_date=datetime.date(2026, 3, 23), currency="EUR", amount=Decimal("1234.50"))

    context = build_context(customer=customer, invoice=invoice, today=TODAY)

    assert plain(context["amount_due"]) == "1 234,50 €"
    assert context["due_date"] == "23 mars 2026"
    assert context["days_until_due"] == 3
    assert context["days_overdue"] == 0


def test_context_falls_back_to_default_locale(settings):
    settings.DUNNING_DEFAULT_LOCALE = "de-DE"
    customer = CustomerFactory(locale="")
    invoice = InvoiceFactory(customer=customer, currency="EUR", amount=Decimal("99.00"))

    context = build_context(customer=customer, invoice=invoice, today=TODAY)

    assert plain(context["amount_due"]) == "99,00 €"


def test_context_unknown_locale_falls_back(settings):
    settings.DUNNING_DEFAULT_LOCALE = "en-GB"
    customer = CustomerFactory(locale="xx-YY")

    assert rendering.babel_locale(customer.locale).language == "en"


def test_context_for_payment(invoice, settings):
    settings.DUNNING_BUSINESS_NAME = "Northwind Supplies"
    payment = PaymentFactory(invoice=invoice, amount=Decimal("200.00"), paid_on=datetime.date(2026, 3, 18))

    context = build_context(customer=invoice.customer, invoice=invoice, payment=payment, today=TODAY)

    assert context["payment_amount"] == "£200.00"
    assert context["payment_date"] == "18 March 2026"
    assert context["business_name"] == "Northwind Supplies"


# Rendering


def test_html_is_escaped_text_is_not(invoice):
    context = build_context(customer=invoice.customer, invoice=invoice, today=TODAY)

    assert render_text("Dear {{ customer_name }}", context) == "Dear O'Brien & Sons"
    assert render_html("<p>Dear {{ customer_name }}</p>", context) == "<p>Dear O&#x27;Brien &amp; Sons</p>"
    assert render_html('<a href="{{ payment_link }}">', context) == '<a href="https://pay.example/INV-1001?a=1&amp;b=2">'


def test_render_message_uses_all_three_parts(invoice):
    template = MessageTemplateFactory(
        key="friendly-note",
        subject="Invoice {{ invoice_number }}\n for {{ customer_name }}",
        body_text="{{ customer_name }} owes {{ amount_due }}{% if days_overdue %}, {{ days_overdue }} days late{% endif %}.",
        body_html="<b>{{ customer_name }}</b>",
    )
    context = build_context(customer=invoice.customer, invoice=invoice, today=TODAY)

    message = render_message(template, context)

    assert message.subject == "Invoice INV-1001 for O'Brien & Sons"
    assert message.body_text == "O'Brien & Sons owes £1,234.50, 10 days late."
    assert message.body_html == "<b>O&#x27;Brien &amp; Sons</b>"


def test_html_injection_in_name_is_escaped():
    customer = CustomerFactory(name="<script>alert(1)</script>")

    html = render_html("{{ customer_name }}", build_context(customer=customer, today=TODAY))

    assert "<script>" not in html
    assert "&lt;script&gt;" in html


# Validation


@pytest.mark.parametrize(
    "source",
    [
        "Hello {{ customer_name }}, {{ amount_due }} was due on {{ due_date }}.",
        "{% if days_overdue > 30 and not payment_link %}late{% elif days_until_due %}soon{% else %}now{% endif %}",
        "{{ customer_name|upper }} {{ payment_link|default:'no link' }} {# a comment #}",
        "",
    ],
)
def test_validate_accepts(source):
    assert validate_template_source(source) == []


@pytest.mark.parametrize(
    "source,expected",
    [
        ("{{ customer }}", 'Unknown variable "customer"'),
        ("{{ customer_name.upper }}", 'Unknown variable "customer_name.upper"'),
        ("{{ invoice.customer.email }}", 'Unknown variable "invoice.customer.email"'),
        ("{% for line in lines %}{% endfor %}", 'The tag "for" is not allowed'),
        ("{% load static %}", 'The tag "load" is not allowed'),
        ("{% include 'x.html' %}", 'The tag "include" is not allowed'),
        ("{{ customer_name|safe }}", 'The filter "safe" is not allowed'),
        ("{% autoescape off %}{{ customer_name }}{% endautoescape %}", 'The tag "autoescape" is not allowed'),
        ("{{ customer_name|default:secret_key }}", 'Unknown variable "secret_key"'),
        ("{% if settings.SECRET_KEY %}x{% endif %}", 'Unknown variable "settings.SECRET_KEY"'),
        ("{% if days_overdue %}unclosed", "The template is invalid"),
        ("{{ customer_name|no_such_filter }}", "The template is invalid"),
    ],
)
def test_validate_rejects(source, expected):
    errors = validate_template_source(source)

    assert any(expected in error for error in errors), errors


def test_validate_lists_every_problem():
    errors = validate_template_source("{{ a }} {{ b }} {% for x in y %}{% endfor %}")

    assert len(errors) == 4


def test_default_templates_pass_validation():
    from campaigns.defaults import DEFAULT_TEMPLATES

    for key, languages in DEFAULT_TEMPLATES.items():
        for language, parts in languages.items():
            for part in parts:
                assert validate_template_source(part) == [], (key, language)
