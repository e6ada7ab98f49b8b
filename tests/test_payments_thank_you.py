import datetime
from decimal import Decimal

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import pytest
from django.core import mail
from django.db import IntegrityError
from django.utils import timezone

from campaigns.delivery import deliver_due
from campaigns.engine import run_pass
from campaigns.models import Touchpoint
from campaigns.services import thank_you_queue
from customers.models import Invoice, Payment
from customers.services import payment_record
from tests.factories import CustomerFactory, InvoiceFactory, MessageTemplateFactory, SourceFactory, published_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def templates():
    MessageTemplateFactory(key="friendly-note", subject="Invoice {{ invoice_number }}", body_text="Please pay {{ amount_due }}.")
    MessageTemplateFactory(
        key="thank-you",
        subject="Thank you, {{ customer_name }}",
        body_text="We received {{ payment_amount }} on {{ payment_date }} for invoice {{ invoice_number }}.",
        body_html="<p>We received {{ payment_amount }}.</p>",
    )


@pytest.fixture
def invoice():
    published_campaign()
    source = SourceFactory(last_imported_at=timezone.now(), max_data_age_days=7)
    customer = CustomerFactory(source=source, name="O'Brien & Sons", email="ap@obrien.example")
    return InvoiceFactory(
        customer=customer,
        due_date=timezone.localdate() - datetime.timedelta(days=2),
        amount=Decimal("250.00"),
    )


def dunning_touchpoints(invoice):
    return Touchpoint.objects.filter(kind=Touchpoint.Kind.DUNNING, invoice_links__invoice=invoice)


def thank_yous(invoice):
    return Touchpoint.objects.filter(kind=Touchpoint.Kind.THANK_YOU, invoice_links__invoice=invoice)


def record(invoice, amount, paid_on=None, **kwargs):
    return payment_record(
        invoice=invoice,
        amount=Decimal(amount),
        paid_on=paid_on or timezone.localdate(),
        origin=Payment.Origin.AGENT,
        **kwargs,
    )


def test_settling_payment_thanks_once(
    invoice, templates, anymail_backend, django_capture_on_commit_callbacks
):
    run_pass(delivery="none")
    [queued] = dunning_touchpoints(invoice)
    assert queued.status == Touchpoint.Status.QUEUED

    with django_capture_on_commit_callbacks(execute=True):
        record(invoice, "250.00")

    queued.refresh_from_db()
    assert queued.status == Touchpoint.Status.CANCELLED
    assert f"Invoice {invoice.number} was settled by a payment" in queued.status_reason
    [thank_you] = thank_yous(invoice)
    assert thank_you.status == Touchpoint.Status.SENT, "the delivery task ran when the payment committed"
    assert thank_you.template_key == "thank-you"
    [message] = anymail_backend
    assert message.subject == "Thank you, O'Brien & Sons"
    assert "We received £250.00 on " in message.body
    assert message.anymail_test_params["tags"] == ["thank-you"]


def test_partial_payment_keeps_dunning(invoice, templates, anymail_backend):
    run_pass(delivery="none")

    record(invoice, "100.00")

    assert dunning_touchpoints(invoice).get().status == Touchpoint.Status.QUEUED
    assert thank_yous(invoice).count() == 1


def test_paid_invoice_gets_no_more_dunning(invoice, templates, anymail_backend):
    record(invoice, "250.00")

    result = run_pass(delivery="none")

    assert result.created == 0
    assert not dunning_touchpoints(invoice).exists()


def test_old_payment_sends_no_thank_you(invoice, templates, anymail_backend, settings):
    settings.DUNNING_THANK_YOU_MAX_AGE_DAYS = 7
    paid_on = timezone.localdate() - datetime.timedelta(days=8)

    record(invoice, "250.00", paid_on=paid_on)
    deliver_due()

    assert not thank_yous(invoice).exists()
    assert anymail_backend == []


def test_payment_at_max_age_is_thanked(invoice, templates, anymail_backend, settings):
    settings.DUNNING_THANK_YOU_MAX_AGE_DAYS = 7
    paid_on = timezone.localdate() - datetime.timedelta(days=7)

    record(invoice, "250.00", paid_on=paid_on)

    assert thank_yous(invoice).count() == 1


def test_historical_payment_sends_no_thank_you(invoice, templates, anymail_backend):
    record(invoice, "250.00", is_historical=True)
    deliver_due()

    assert not thank_yous(invoice).exists()
    assert anymail_backend == []


def test_thank_you_queued_once_per_payment(invoice, templates, anymail_backend):
    payment = record(invoice, "250.00")

    again = thank_you_queue(payment=payment)
    deliver_due()
    deliver_due()

    assert again is None
    assert thank_yous(invoice).count() == 1
    assert len(anymail_backend) == 1


def test_same_payment_recorded_twice_thanks_once(invoice, templates, anymail_backend):
    record(invoice, "250.00", reference="BACS-7781")

    with pytest.raises(IntegrityError):
        record(invoice, "250.00", reference="BACS-7781")
    deliver_due()

    assert Payment.objects.filter(invoice=invoice).count() == 1
    assert thank_yous(invoice).count() == 1
    assert len(anymail_backend) == 1
    assert Invoice.objects.get(pk=invoice.pk).amount_due == Decimal("0.00")


def test_thank_you_skipped_without_email(invoice, templates, anymail_backend):
    invoice.customer.email = ""
    invoice.customer.save()
    record(invoice, "250.00")

    deliver_due()

    thank_you = thank_yous(invoice).get()
    assert thank_you.status == Touchpoint.Status.SUPPRESSED
    assert thank_you.status_reason == "The customer has no email address."
    assert anymail_backend == []
