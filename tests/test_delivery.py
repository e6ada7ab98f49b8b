import datetime
import logging
import uuid
from decimal import Decimal

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import pytest
import requests
from anymail.backends.test import EmailBackend as AnymailTestBackend
from anymail.exceptions import AnymailRequestsAPIError
from anymail.message import AnymailRecipientStatus
from django.core import mail
from django.utils import timezone

from campaigns.delivery import MAX_ATTEMPTS, RETRY_BASE_DELAY, claim_batch, deliver_due, deliver_one
from campaigns.models import Channel, ToneTier, Touchpoint, TouchpointEvent, TouchpointInvoice
from customers.models import ChannelStatus, Dispute, Invoice
from tests.factories import (
    CampaignStepFactory,
    CustomerFactory,
    InvoiceFactory,
    MessageTemplateFactory,
    SourceFactory,
)

pytestmark = pytest.mark.django_db

WORKER = "host-a:101"


class ScriptedBackend(AnymailTestBackend):
    """anymail's test backend, made to raise or refuse as a test sets `outcome`."""

    outcome = None  # an exception to raise, "refused", or None to send

    def post_to_esp(self, payload, message):
        if ScriptedBackend.outcome is None:
            return super().post_to_esp(payload, message)
        mail.outbox.append(message)
        message.anymail_test_params = payload.get_params()
        if ScriptedBackend.outcome == "refused":
            rejected = AnymailRecipientStatus(message_id=None, status="rejected")
            return {"recipient_status": {email: rejected for email in payload.recipient_emails}}
        raise ScriptedBackend.outcome


def network_error(requests_class):
    """An error shaped as anymail raises it: both AnymailRequestsAPIError and `requests_class`."""
    error_class = type("AnymailRequestsAPIError", (AnymailRequestsAPIError, requests_class), {})
    return error_class("Error posting to https://esp.example/send:")


def http_error(status_code):
    response = requests.Response()
    response.status_code = status_code
    response.reason = "Error"
    response._content = b'{"message": "refused by the test"}'
    return AnymailRequestsAPIError(f"ESP API response {status_code}", response=response)


@pytest.fixture
def scripted(settings):
    settings.EMAIL_BACKEND = "tests.test_delivery.ScriptedBackend"
    mail.outbox = []
    ScriptedBackend.outcome = None
    yield ScriptedBackend
    ScriptedBackend.outcome = None


@pytest.fixture
def templates():
    MessageTemplateFactory(
        key="friendly-note",
        language="en",
        subject="Invoice {{ invoice_number }} for {{ customer_name }}",
        body_text="Dear {{ customer_name }}, {{ amount_due }} was due on {{ due_date }}.",
        body_html="<p>Dear {{ customer_name }}, {{ amount_due }} was due on {{ due_date }}.</p>",
    )
    MessageTemplateFactory(
        key="friendly-note",
        language="fr",
        subject="Facture {{ invoice_number }}",
        body_text="Bonjour {{ customer_name }}, {{ amount_due }}.",
        body_html="",
    )
    MessageTemplateFactory(
        key="thank-you",
        language="en",
        subject="Thank you, {{ customer_name }}",
        body_text="We received {{ payment_amount }} on {{ payment_date }}.",
        body_html="<p>We received {{ payment_amount }}.</p>",
    )


@pytest.fixture
def customer():
    source = SourceFactory(last_imported_at=timezone.now(), max_data_age_days=7)
    return CustomerFactory(source=source, name="O'Brien & Sons", email="ap@obrien.example", phone="+441632960001")


def queued_touchpoint(customer, *, template_key="friendly-note", tier=ToneTier.FRIENDLY, invoice=None, **fields):
    invoice = invoice or InvoiceFactory(customer=customer, due_date=timezone.localdate() - datetime.timedelta(days=3))
    step = CampaignStepFactory(template_key=template_key, tier=tier)
    touchpoint = Touchpoint.objects.create(
        customer=customer,
        kind=Touchpoint.Kind.DUNNING,
        channel=Channel.EMAIL,
        tier=tier,
        template_key=template_key,
        due_at=fields.pop("due_at", timezone.now() - datetime.timedelta(minutes=1)),
        **fields,
    )
    TouchpointInvoice.objects.create(touchpoint=touchpoint, invoice=invoice, step=step, amount_due=invoice.amount_due)
    return touchpoint


def reload(touchpoint):
    touchpoint.refresh_from_db()
    return touchpoint


# Sending


def test_sends_and_records_message_id(scripted, templates, customer):
    touchpoint = queued_touchpoint(customer)

    result = deliver_due(worker=WORKER)

    touchpoint = reload(touchpoint)
    assert result.sent == 1
    assert touchpoint.status == Touchpoint.Status.SENT
    assert touchpoint.esp_message_id == "0", "anymail's test backend numbers messages from 0"
    assert touchpoint.esp_name == "Test"
    assert touchpoint.sent_at is not None
    assert touchpoint.claimed_by == WORKER
    assert touchpoint.recipient == "ap@obrien.example"
    assert touchpoint.language == "en"
    assert touchpoint.attempts == 1
    assert touchpoint.delivery_status == Touchpoint.DeliveryStatus.SENT


def test_contacts_receiving_dunning_are_copied(scripted, templates, customer):
    from customers.models import Contact

    Contact.objects.create(customer=customer, name="Pat Payables", email="pat@obrien.example")
    Contact.objects.create(customer=customer, name="Sam Sales", email="sam@obrien.example", receives_dunning=False)
    Contact.objects.create(customer=customer, name="Main inbox again", email="AP@obrien.example")
    touchpoint = queued_touchpoint(customer)

    deliver_due(worker=WORKER)

    touchpoint = reload(touchpoint)
    sent = mail.outbox[0]
    assert sent.to == ["ap@obrien.example"]
    assert sent.cc == ["pat@obrien.example"]
    assert touchpoint.recipient == "ap@obrien.example"
    assert touchpoint.status_reason == "Copied to pat@obrien.example."


def test_status_history_is_recorded(scripted, templates, customer):
    touchpoint = queued_touchpoint(customer)

    deliver_due(worker=WORKER)

    events = list(TouchpointEvent.objects.filter(touchpoint=touchpoint).values_list("from_status", "to_status", "worker"))
    assert events == [
        ("queued", "claimed", WORKER),
        ("claimed", "sending", WORKER),
        ("sending", "sent", WORKER),
    ]


def test_html_escaped_subject_and_text_not(scripted, templates, customer):
    touchpoint = queued_touchpoint(customer)

    deliver_due(worker=WORKER)

    [message] = mail.outbox
    assert message.subject.startswith("Invoice INV-")
    assert message.subject.endswith(" for O'Brien & Sons")
    assert message.body.startswith("Dear O'Brien & Sons, £120.00 was due on ")
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert "Dear O&#x27;Brien &amp; Sons" in html
    touchpoint = reload(touchpoint)
    assert touchpoint.subject == message.subject
    assert touchpoint.body_text == message.body
    assert touchpoint.body_html == html


def test_tags_and_metadata_carry_no_personal_data(scripted, templates, customer):
    touchpoint = queued_touchpoint(customer, tier=ToneTier.FIRM)

    deliver_due(worker=WORKER)

    params = mail.outbox[0].anymail_test_params
    assert params["tags"] == ["dunning", "tier-firm"]
    assert params["metadata"] == {"touchpoint_id": str(touchpoint.pk)}
    sent_labels = repr(params["tags"]) + repr(params["metadata"])
    for personal in (customer.name, customer.email, customer.phone, "O'Brien"):
        assert personal not in sent_labels


def test_from_address_is_setting(scripted, templates, customer, settings):
    settings.DUNNING_FROM_EMAIL = "Accounts <accounts@northwind.example>"
    queued_touchpoint(customer)

    deliver_due(worker=WORKER)

    assert mail.outbox[0].from_email == "Accounts <accounts@northwind.example>"
    assert mail.outbox[0].to == ["ap@obrien.example"]


def test_outbox_backend_records_uuid(outbox_dir, templates, customer):
    touchpoint = queued_touchpoint(customer)

    deliver_due(worker=WORKER)

    touchpoint = reload(touchpoint)
    assert touchpoint.status == Touchpoint.Status.SENT
    assert uuid.UUID(touchpoint.esp_message_id)
    assert touchpoint.esp_name == "Outbox"
    assert (outbox_dir / f"{touchpoint.esp_message_id}.eml").exists()


def test_default_worker_names_host_and_process(scripted, templates, customer):
    import os
    import socket

    touchpoint = queued_touchpoint(customer)

    deliver_due()

    assert reload(touchpoint).claimed_by == f"{socket.gethostname()}:{os.getpid()}"


# Language


def test_french_customer_gets_french_template(scripted, templates, customer):
    customer.locale = "fr-FR"
    customer.save()
    touchpoint = queued_touchpoint(customer)

    deliver_due(worker=WORKER)

    touchpoint = reload(touchpoint)
    assert touchpoint.language == "fr"
    assert touchpoint.subject.startswith("Facture INV-")
    assert touchpoint.body_html == ""
    assert mail.outbox[0].alternatives == []


def test_missing_language_falls_back_to_default_locale(scripted, templates, customer, settings):
    settings.DUNNING_DEFAULT_LOCALE = "fr-FR"
    customer.locale = "nl-NL"
    customer.save()
    touchpoint = queued_touchpoint(customer)

    deliver_due(worker=WORKER)

    assert reload(touchpoint).language == "fr"


def test_missing_language_falls_back_to_english(scripted, templates, customer, settings):
    settings.DUNNING_DEFAULT_LOCALE = "de-DE"
    customer.locale = "nl-NL"
    customer.save()
    touchpoint = queued_touchpoint(customer)

    deliver_due(worker=WORKER)

    assert reload(touchpoint).language == "en"


def test_missing_template_fails_with_key_and_language(scripted, templates, customer, settings):
    settings.DUNNING_DEFAULT_LOCALE = "en-GB"
    customer.locale = "de-DE"
    customer.save()
    touchpoint = queued_touchpoint(customer, template_key="final-notice", tier=ToneTier.FINAL)

    result = deliver_due(worker=WORKER)

    touchpoint = reload(touchpoint)
    assert result.failed == 1
    assert touchpoint.status == Touchpoint.Status.FAILED
    assert '"final-notice"' in touchpoint.status_reason
    assert "de or en" in touchpoint.status_reason
    assert mail.outbox == []


# Errors


ERROR_CASES = [
    ("refused", "refused", Touchpoint.Status.FAILED, "refused the recipient"),
    ("read timeout", network_error(requests.ReadTimeout), Touchpoint.Status.NEEDS_REVIEW, "may or may not have been sent"),
    ("connect timeout", network_error(requests.ConnectTimeout), Touchpoint.Status.RETRY_WAIT, "timed out"),
    ("connection error", network_error(requests.ConnectionError), Touchpoint.Status.RETRY_WAIT, "Could not connect"),
    ("408", http_error(408), Touchpoint.Status.RETRY_WAIT, "HTTP 408"),
    ("429", http_error(429), Touchpoint.Status.RETRY_WAIT, "HTTP 429"),
    ("500", http_error(500), Touchpoint.Status.RETRY_WAIT, "HTTP 500"),
    ("503", http_error(503), Touchpoint.Status.RETRY_WAIT, "HTTP 503"),
    ("400", http_error(400), Touchpoint.Status.FAILED, "rejected the message (HTTP 400)"),
    ("422", http_error(422), Touchpoint.Status.FAILED, "rejected the message (HTTP 422)"),
    ("401", http_error(401), Touchpoint.Status.RETRY_WAIT, "rejected the credentials (HTTP 401)"),
    ("403", http_error(403), Touchpoint.Status.RETRY_WAIT, "rejected the credentials (HTTP 403)"),
    ("unexpected", RuntimeError("socket closed"), Touchpoint.Status.NEEDS_REVIEW, "unexpected error (RuntimeError"),
]


@pytest.mark.parametrize("case,outcome,status,reason", ERROR_CASES, ids=[case[0] for case in ERROR_CASES])
def test_esp_error_outcome(scripted, templates, customer, case, outcome, status, reason):
    scripted.outcome = outcome
    touchpoint = queued_touchpoint(customer)

    deliver_due(worker=WORKER)

    touchpoint = reload(touchpoint)
    assert touchpoint.status == status
    assert reason in touchpoint.status_reason
    assert touchpoint.lease_expires_at is None
    assert touchpoint.esp_message_id == ""
    if status == Touchpoint.Status.RETRY_WAIT:
        assert touchpoint.next_attempt_at > timezone.now()
    assert len(mail.outbox) == 1, "one ESP call, no retry inside the same run"


def test_invalid_address_fails(scripted, templates, customer):
    customer.email = "ap@@obrien.example"
    customer.save()
    touchpoint = queued_touchpoint(customer)

    deliver_due(worker=WORKER)

    touchpoint = reload(touchpoint)
    assert touchpoint.status == Touchpoint.Status.FAILED
    assert "refused the recipient address" in touchpoint.status_reason


def test_backoff_doubles(scripted, templates, customer):
    scripted.outcome = http_error(503)
    first = queued_touchpoint(customer)
    third = queued_touchpoint(customer, attempts=2)
    before = timezone.now()

    deliver_due(worker=WORKER)

    assert before + RETRY_BASE_DELAY <= reload(first).next_attempt_at <= timezone.now() + RETRY_BASE_DELAY
    assert before + 4 * RETRY_BASE_DELAY <= reload(third).next_attempt_at <= timezone.now() + 4 * RETRY_BASE_DELAY


def test_gives_up_after_max_attempts(scripted, templates, customer):
    scripted.outcome = http_error(503)
    touchpoint = queued_touchpoint(customer, attempts=MAX_ATTEMPTS - 1)

    deliver_due(worker=WORKER)

    touchpoint = reload(touchpoint)
    assert touchpoint.status == Touchpoint.Status.FAILED
    assert touchpoint.attempts == MAX_ATTEMPTS
    assert f"Gave up after {MAX_ATTEMPTS} attempts" in touchpoint.status_reason


def test_credentials_error_keeps_retrying(scripted, templates, customer):
    scripted.outcome = http_error(401)
    touchpoint = queued_touchpoint(customer, attempts=MAX_ATTEMPTS + 3)

    deliver_due(worker=WORKER)

    assert reload(touchpoint).status == Touchpoint.Status.RETRY_WAIT


def test_retry_wait_sent_when_due(scripted, templates, customer):
    scripted.outcome = http_error(503)
    touchpoint = queued_touchpoint(customer)
    deliver_due(worker=WORKER)
    scripted.outcome = None

    early = deliver_due(worker=WORKER)
    later = deliver_due(worker=WORKER, now=reload(touchpoint).next_attempt_at)

    assert early.claimed == 0
    assert later.sent == 1
    touchpoint = reload(touchpoint)
    assert touchpoint.status == Touchpoint.Status.SENT
    assert touchpoint.attempts == 2


def test_each_touchpoint_once_per_call(scripted, templates, customer):
    scripted.outcome = http_error(401)
    touchpoint = queued_touchpoint(customer)

    result = deliver_due(worker=WORKER, now=timezone.now() + datetime.timedelta(hours=2))

    assert result.claimed == 1
    assert reload(touchpoint).status == Touchpoint.Status.RETRY_WAIT
    assert len(mail.outbox) == 1


def test_error_logs_have_no_personal_data(scripted, templates, customer, caplog):
    customer.email = "ap@@obrien.example"
    customer.save()
    queued_touchpoint(customer)
    second = CustomerFactory(source=customer.source, name="Jane Roe Ltd", email="jane@roe.example")
    queued_touchpoint(second)
    scripted.outcome = network_error(requests.ReadTimeout)

    with caplog.at_level(logging.DEBUG, logger="campaigns"):
        deliver_due(worker=WORKER)

    assert caplog.records, "each caught error is logged"
    for personal in ("obrien.example", "O'Brien", "Jane Roe", "jane@roe.example", customer.phone):
        assert personal not in caplog.text


def test_error_log_names_touchpoint(scripted, templates, customer, caplog):
    scripted.outcome = http_error(503)
    touchpoint = queued_touchpoint(customer)

    with caplog.at_level(logging.WARNING, logger="campaigns.delivery"):
        deliver_due(worker=WORKER)

    assert f"Touchpoint {touchpoint.pk}" in caplog.text
    assert "HTTP 503" in caplog.text


# Claims and leases


def test_future_touchpoint_not_claimed(scripted, templates, customer):
    touchpoint = queued_touchpoint(customer, due_at=timezone.now() + datetime.timedelta(hours=1))

    result = deliver_due(worker=WORKER)

    assert result.claimed == 0
    assert reload(touchpoint).status == Touchpoint.Status.QUEUED


def test_expired_claim_is_claimed_again(scripted, templates, customer):
    touchpoint = queued_touchpoint(
        customer,
        status=Touchpoint.Status.CLAIMED,
        claimed_by="host-b:202",
        lease_expires_at=timezone.now() - datetime.timedelta(seconds=1),
    )

    deliver_due(worker=WORKER)

    touchpoint = reload(touchpoint)
    assert touchpoint.status == Touchpoint.Status.SENT
    assert touchpoint.claimed_by == WORKER
    assert len(mail.outbox) == 1


def test_live_claim_left_alone(scripted, templates, customer):
    touchpoint = queued_touchpoint(
        customer,
        status=Touchpoint.Status.CLAIMED,
        claimed_by="host-b:202",
        lease_expires_at=timezone.now() + datetime.timedelta(minutes=4),
    )

    result = deliver_due(worker=WORKER)

    assert result.claimed == 0
    assert reload(touchpoint).claimed_by == "host-b:202"


def test_expired_sending_moves_to_review(scripted, templates, customer):
    touchpoint = queued_touchpoint(
        customer,
        status=Touchpoint.Status.SENDING,
        claimed_by="host-b:202",
        lease_expires_at=timezone.now() - datetime.timedelta(seconds=1),
        attempts=1,
    )

    result = deliver_due(worker=WORKER)

    touchpoint = reload(touchpoint)
    assert touchpoint.status == Touchpoint.Status.NEEDS_REVIEW
    assert touchpoint.status_reason == "Worker host-b:202 stopped during the ESP call; check the ESP before resending."
    assert result.by_status[Touchpoint.Status.NEEDS_REVIEW] == 1
    assert mail.outbox == [], "a message that may have gone out is never sent again"


def test_live_sending_left_alone(scripted, templates, customer):
    touchpoint = queued_touchpoint(
        customer,
        status=Touchpoint.Status.SENDING,
        claimed_by="host-b:202",
        lease_expires_at=timezone.now() + datetime.timedelta(minutes=4),
    )

    deliver_due(worker=WORKER)

    assert reload(touchpoint).status == Touchpoint.Status.SENDING
    assert mail.outbox == []


def test_taken_over_claim_is_not_sent(scripted, templates, customer):
    touchpoint = queued_touchpoint(customer)
    now = timezone.now()
    assert claim_batch(now=now, worker=WORKER, size=10) == [touchpoint.pk]
    later = now + datetime.timedelta(hours=1)
    assert claim_batch(now=later, worker="host-b:202", size=10) == [touchpoint.pk]
    from django.core.mail import get_connection

    outcome = deliver_one(reload(touchpoint), worker=WORKER, connection=get_connection(), now=later)

    assert outcome == "skipped"
    assert reload(touchpoint).status == Touchpoint.Status.CLAIMED
    assert mail.outbox == []


def test_batches_until_none_due(scripted, templates, customer, settings):
    settings.DUNNING_DELIVERY_BATCH_SIZE = 2
    touchpoints = [queued_touchpoint(customer) for _ in range(5)]

    result = deliver_due(worker=WORKER)

    assert result.claimed == 5
    assert result.sent == 5
    assert {reload(touchpoint).status for touchpoint in touchpoints} == {Touchpoint.Status.SENT}


def test_limit_caps_claims(scripted, templates, customer, settings):
    settings.DUNNING_DELIVERY_BATCH_SIZE = 2
    for _ in range(5):
        queued_touchpoint(customer)

    result = deliver_due(worker=WORKER, limit=3)

    assert result.claimed == 3
    assert Touchpoint.objects.filter(status=Touchpoint.Status.QUEUED).count() == 2


# Pre-flight


def test_paid_invoice_cancelled_at_send_time(scripted, templates, customer):
    touchpoint = queued_touchpoint(customer)
    invoice = touchpoint.invoice_links.get().invoice
    Invoice.objects.filter(pk=invoice.pk).update(ledger_status=Invoice.LedgerStatus.PAID, amount_due=Decimal("0"))

    deliver_due(worker=WORKER)

    touchpoint = reload(touchpoint)
    assert touchpoint.status == Touchpoint.Status.CANCELLED
    assert touchpoint.status_reason == f"Invoice {invoice.number} is paid in the ledger."
    assert mail.outbox == []


def test_disputed_invoice_cancelled_at_send_time(scripted, templates, customer):
    touchpoint = queued_touchpoint(customer)
    invoice = touchpoint.invoice_links.get().invoice
    Dispute.objects.create(invoice=invoice, reason="Wrong quantity")

    deliver_due(worker=WORKER)

    touchpoint = reload(touchpoint)
    assert touchpoint.status == Touchpoint.Status.CANCELLED
    assert touchpoint.status_reason == f"Invoice {invoice.number} is disputed."


@pytest.mark.parametrize(
    "fields,reason",
    [
        ({"email": ""}, "The customer has no email address."),
        ({"email_status": ChannelStatus.OPTED_OUT}, "The customer opted out of email."),
        ({"email_status": ChannelStatus.BOUNCED}, "The customer's email address bounced."),
    ],
    ids=["no email", "opted out", "bounced"],
)
def test_unusable_email_suppressed_at_send_time(scripted, templates, customer, fields, reason):
    touchpoint = queued_touchpoint(customer)
    for name, value in fields.items():
        setattr(customer, name, value)
    customer.save()

    deliver_due(worker=WORKER)

    touchpoint = reload(touchpoint)
    assert touchpoint.status == Touchpoint.Status.SUPPRESSED
    assert touchpoint.status_reason == reason
    assert mail.outbox == []
