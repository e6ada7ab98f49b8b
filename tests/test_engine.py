import datetime
from decimal import Decimal

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.engine import EMAIL_BOUNCED, EMAIL_OPTED_OUT, NO_EMAIL, SMS_NOT_SET_UP, run_pass
from campaigns.models import (
    CampaignVersion,
    Channel,
    DunningRun,
    InvoiceEnrollment,
    ToneTier,
    Touchpoint,
    TouchpointEvent,
    TouchpointInvoice,
)
from customers.models import ChannelStatus, CustomerCredit, Dispute, Invoice, Pause, PromiseToPay
from customers.selectors import dunnable_invoices, non_dunnable_reason
from tests.factories import CustomerFactory, InvoiceFactory, SourceFactory, published_campaign

pytestmark = pytest.mark.django_db

# Midday in London; the local date is 2026-03-10 for Europe/London customers.
AS_OF = datetime.datetime(2026, 3, 10, 12, 0, tzinfo=datetime.UTC)
TODAY = datetime.date(2026, 3, 10)


def days(n):
    return datetime.timedelta(days=n)


def run(as_of=AS_OF, **kwargs):
    return run_pass(as_of=as_of, delivery="none", **kwargs)


def links_for(invoice):
    return list(
        TouchpointInvoice.objects.filter(invoice=invoice).select_related("step", "touchpoint").order_by("touchpoint__id")
    )


def tiers_for(invoice):
    return [link.step.tier for link in links_for(invoice)]


@pytest.fixture
def campaign():
    return published_campaign(entry_tier=ToneTier.FRIENDLY, min_days_between_messages=5)


@pytest.fixture
def source():
    # A maximum data age of 60 days keeps the source fresh for the later passes of a test.
    return SourceFactory(last_imported_at=AS_OF - days(1), max_data_age_days=60)


@pytest.fixture
def customer(source):
    return CustomerFactory(source=source)


def overdue_invoice(customer, days_overdue, **fields):
    return InvoiceFactory(customer=customer, due_date=TODAY - days(days_overdue), **fields)


# Step choice


def test_first_message_long_overdue_is_friendly(campaign, customer):
    invoice = overdue_invoice(customer, 30)

    run()

    assert tiers_for(invoice) == [ToneTier.FRIENDLY]


def test_first_message_due_soon_is_courtesy(campaign, customer):
    invoice = overdue_invoice(customer, -2)

    run()

    assert tiers_for(invoice) == [ToneTier.COURTESY]


def test_first_message_not_yet_due_is_nothing(campaign, customer):
    invoice = overdue_invoice(customer, -5)

    run()

    assert tiers_for(invoice) == []


def test_first_message_capped_at_courtesy_entry_tier(customer):
    published_campaign(entry_tier=ToneTier.COURTESY)
    invoice = overdue_invoice(customer, 30)

    run()

    assert tiers_for(invoice) == [ToneTier.COURTESY]


def test_escalation_one_step_at_a_time(campaign, customer):
    invoice = overdue_invoice(customer, 30)

    run()
    run(as_of=AS_OF + days(3))
    assert tiers_for(invoice) == [ToneTier.FRIENDLY], "a later step waits for the minimum spacing"

    run(as_of=AS_OF + days(5))
    assert tiers_for(invoice) == [ToneTier.FRIENDLY, ToneTier.FIRM]

    run(as_of=AS_OF + days(10))
    assert tiers_for(invoice) == [ToneTier.FRIENDLY, ToneTier.FIRM, ToneTier.FINAL]

    run(as_of=AS_OF + days(40))
    assert len(links_for(invoice)) == 3, "nothing follows the last step"


def test_next_step_waits_for_its_date(campaign, customer):
    invoice = overdue_invoice(customer, 0)

    run()
    run(as_of=AS_OF + days(6))
    assert tiers_for(invoice) == [ToneTier.FRIENDLY], "firm is due 7 days after the due date"

    run(as_of=AS_OF + days(7))
    assert tiers_for(invoice) == [ToneTier.FRIENDLY, ToneTier.FIRM]


def test_zero_spacing_still_one_step_per_pass(customer):
    published_campaign(min_days_between_messages=0)
    invoice = overdue_invoice(customer, 30)

    run()
    assert tiers_for(invoice) == [ToneTier.FRIENDLY]

    run(as_of=AS_OF + datetime.timedelta(minutes=15))
    assert tiers_for(invoice) == [ToneTier.FRIENDLY, ToneTier.FIRM]


def test_suppressed_step_is_not_retried(campaign, customer):
    invoice = overdue_invoice(customer, 30)
    run()
    Touchpoint.objects.update(status=Touchpoint.Status.CANCELLED)

    run(as_of=AS_OF + days(1))

    assert tiers_for(invoice) == [ToneTier.FRIENDLY]


# Campaign choice


def test_pinned_version_survives_new_publication(campaign, customer):
    invoice = overdue_invoice(customer, 30)
    run()
    CampaignVersion.objects.filter(pk=campaign.pk).update(status=CampaignVersion.Status.RETIRED)
    published_campaign(
        campaign=campaign.campaign,
        number=2,
        steps=((0, ToneTier.FRIENDLY, "friendly-v2"), (7, ToneTier.FIRM, "firm-v2")),
    )
    newcomer = overdue_invoice(customer, 30)

    run(as_of=AS_OF + days(5))

    assert [link.touchpoint.template_key for link in links_for(invoice)] == ["friendly-note", "firm-reminder"]
    assert [link.touchpoint.template_key for link in links_for(newcomer)] == ["friendly-v2"]
    assert InvoiceEnrollment.objects.get(invoice=invoice).version == campaign
    assert InvoiceEnrollment.objects.get(invoice=newcomer).version.number == 2


def test_top_priority_matching_campaign_wins(customer):
    euro = published_campaign(priority=1, audience_currency="EUR", steps=((0, ToneTier.FRIENDLY, "euro-note"),))
    anything = published_campaign(priority=2, steps=((0, ToneTier.FRIENDLY, "any-note"),))
    in_pounds = overdue_invoice(customer, 1, currency="GBP")
    in_euros = overdue_invoice(customer, 1, currency="EUR")

    run()

    assert InvoiceEnrollment.objects.get(invoice=in_euros).version == euro
    assert InvoiceEnrollment.objects.get(invoice=in_pounds).version == anything
    assert [link.touchpoint.template_key for link in links_for(in_euros)] == ["euro-note"]


def test_audience_segment_and_kind(source):
    consumers = published_campaign(
        priority=1, audience_customer_kind="consumer", audience_segment="retail", steps=((0, ToneTier.FRIENDLY, "retail"),)
    )
    fallback = published_campaign(priority=5, steps=((0, ToneTier.FRIENDLY, "general"),))
    retail = overdue_invoice(CustomerFactory(source=source, kind="consumer", segment="retail"), 1)
    business = overdue_invoice(CustomerFactory(source=source, kind="business", segment="retail"), 1)

    run()

    assert InvoiceEnrollment.objects.get(invoice=retail).version == consumers
    assert InvoiceEnrollment.objects.get(invoice=business).version == fallback


def test_top_campaign_keeps_invoice_until_due(customer):
    published_campaign(priority=1, steps=((10, ToneTier.FRIENDLY, "late-start"),))
    published_campaign(priority=2, steps=((0, ToneTier.FRIENDLY, "early-start"),))
    invoice = overdue_invoice(customer, 1)

    run()

    assert links_for(invoice) == [], "the top campaign's first step is not due yet"
    assert not InvoiceEnrollment.objects.filter(invoice=invoice).exists()


def test_inactive_campaign_sends_nothing(campaign, customer):
    campaign.campaign.is_active = False
    campaign.campaign.save()
    invoice = overdue_invoice(customer, 3)

    run()

    assert links_for(invoice) == []


def test_enrollment_created_with_first_touchpoint(campaign, customer):
    invoice = overdue_invoice(customer, 3)

    run()

    enrollment = InvoiceEnrollment.objects.get(invoice=invoice)
    assert enrollment.version == campaign
    assert enrollment.enrolled_at == AS_OF


# Not dunnable


def make_not_dunnable(case, invoice):
    if case == "paid":
        Invoice.objects.filter(pk=invoice.pk).update(ledger_status=Invoice.LedgerStatus.PAID)
    elif case == "below minimum":
        Invoice.objects.filter(pk=invoice.pk).update(amount_due=Decimal("0.99"))
    elif case == "disputed":
        Dispute.objects.create(invoice=invoice, reason="Goods damaged")
    elif case == "invoice paused":
        Pause.objects.create(customer=invoice.customer, invoice=invoice, until=TODAY, reason="Agent call")
    elif case == "customer paused":
        Pause.objects.create(customer=invoice.customer, until=TODAY + days(3), reason="Hardship")
    elif case == "promise":
        PromiseToPay.objects.create(invoice=invoice, promised_on=TODAY)
    elif case == "stale source":
        type(invoice.source).objects.filter(pk=invoice.source_id).update(last_imported_at=AS_OF - days(61))
    elif case == "never imported":
        type(invoice.source).objects.filter(pk=invoice.source_id).update(last_imported_at=None)
    elif case == "credit covers":
        CustomerCredit.objects.create(customer=invoice.customer, amount=Decimal("100.00"), currency="GBP", origin="credit_note")
        CustomerCredit.objects.create(customer=invoice.customer, amount=Decimal("20.00"), currency="GBP", origin="overpayment")
    else:
        raise AssertionError(case)


NOT_DUNNABLE_CASES = [
    ("paid", "Invoice {number} is paid in the ledger."),
    ("below minimum", "Invoice {number} has 0.99 GBP due, below the minimum balance of 1.00."),
    ("disputed", "Invoice {number} is disputed."),
    ("invoice paused", "Invoice {number} is paused until 2026-03-10."),
    ("customer paused", "The customer of invoice {number} is paused until 2026-03-13."),
    ("promise", "Invoice {number} has a promise to pay on 2026-03-10."),
    ("stale source", "last imported on 2026-01-08, more than 60 days ago."),
    ("never imported", "which has never been imported."),
    ("credit covers", "covered by the customer's credits of 120.00 GBP"),
]


@pytest.mark.parametrize("case,expected", NOT_DUNNABLE_CASES, ids=[case for case, _ in NOT_DUNNABLE_CASES])
def test_not_dunnable_gets_nothing(campaign, customer, case, expected):
    invoice = overdue_invoice(customer, 3, amount=Decimal("120.00"))
    make_not_dunnable(case, invoice)
    invoice.refresh_from_db()

    run()

    assert links_for(invoice) == []
    assert not dunnable_invoices(local_date=TODAY, now=AS_OF).filter(pk=invoice.pk).exists()
    reason = non_dunnable_reason(invoice, local_date=TODAY, now=AS_OF)
    assert reason is not None
    assert expected.format(number=invoice.number) in reason


@pytest.mark.parametrize(
    "case",
    ["resolved dispute", "pause ended", "promise passed", "credit too small", "credit other currency"],
)
def test_still_dunnable_cases(campaign, customer, case):
    invoice = overdue_invoice(customer, 3, amount=Decimal("120.00"))
    if case == "resolved dispute":
        Dispute.objects.create(invoice=invoice, reason="Query", resolved_at=AS_OF - days(1))
    elif case == "pause ended":
        Pause.objects.create(customer=customer, invoice=invoice, until=TODAY - days(1), reason="Call")
    elif case == "promise passed":
        PromiseToPay.objects.create(invoice=invoice, promised_on=TODAY - days(1))
    elif case == "credit too small":
        CustomerCredit.objects.create(customer=customer, amount=Decimal("119.99"), currency="GBP", origin="credit_note")
    elif case == "credit other currency":
        CustomerCredit.objects.create(customer=customer, amount=Decimal("500.00"), currency="EUR", origin="credit_note")

    run()

    assert tiers_for(invoice) == [ToneTier.FRIENDLY]
    assert non_dunnable_reason(invoice, local_date=TODAY, now=AS_OF) is None


def test_pause_on_other_invoice_does_not_apply(campaign, customer):
    invoice = overdue_invoice(customer, 3)
    other = overdue_invoice(customer, 3)
    Pause.objects.create(customer=customer, invoice=other, until=TODAY + days(5), reason="Call")

    run()

    assert tiers_for(invoice) == [ToneTier.FRIENDLY]
    assert tiers_for(other) == []


# Suppression decisions


@pytest.mark.parametrize(
    "fields,reason",
    [
        ({"email": ""}, NO_EMAIL),
        ({"email_status": ChannelStatus.BOUNCED}, EMAIL_BOUNCED),
        ({"email_status": ChannelStatus.OPTED_OUT}, EMAIL_OPTED_OUT),
    ],
    ids=["no email", "bounced", "opted out"],
)
def test_unusable_email_is_suppressed(campaign, source, fields, reason):
    invoice = overdue_invoice(CustomerFactory(source=source, **fields), 3)

    result = run()

    [link] = links_for(invoice)
    assert link.touchpoint.status == Touchpoint.Status.SUPPRESSED
    assert link.touchpoint.status_reason == reason
    assert result.suppressed_by_reason == {reason: 1}
    assert TouchpointEvent.objects.get(touchpoint=link.touchpoint).message == reason


def test_sms_step_is_suppressed(customer):
    published_campaign(steps=((0, ToneTier.FRIENDLY, "friendly-note"), (0, ToneTier.FRIENDLY, "friendly-sms", Channel.SMS)))
    invoice = overdue_invoice(customer, 2)

    run()

    touchpoints = {link.touchpoint.channel: link.touchpoint for link in links_for(invoice)}
    assert touchpoints[Channel.EMAIL].status == Touchpoint.Status.QUEUED
    assert touchpoints[Channel.SMS].status == Touchpoint.Status.SUPPRESSED
    assert touchpoints[Channel.SMS].status_reason == SMS_NOT_SET_UP


# Time zones and instants


def test_auckland_is_a_day_ahead_of_los_angeles(campaign, source):
    # 2026-03-10 11:30 UTC is 2026-03-11 00:30 in Auckland and 2026-03-10 04:30 in Los Angeles.
    as_of = datetime.datetime(2026, 3, 10, 11, 30, tzinfo=datetime.UTC)
    due = datetime.date(2026, 3, 11)
    auckland = InvoiceFactory(customer=CustomerFactory(source=source, effective_time_zone="Pacific/Auckland"), due_date=due)
    los_angeles = InvoiceFactory(
        customer=CustomerFactory(source=source, effective_time_zone="America/Los_Angeles"), due_date=due
    )

    result = run(as_of=as_of)

    assert tiers_for(auckland) == [ToneTier.FRIENDLY], "due today in Auckland"
    assert tiers_for(los_angeles) == [ToneTier.COURTESY], "due tomorrow in Los Angeles"
    assert result.zones == 2


def test_local_date_override_applies_to_everyone(campaign, source):
    due = datetime.date(2026, 3, 11)
    auckland = InvoiceFactory(customer=CustomerFactory(source=source, effective_time_zone="Pacific/Auckland"), due_date=due)
    london = InvoiceFactory(customer=CustomerFactory(source=source), due_date=due)

    run(local_date=datetime.date(2026, 3, 10))

    assert tiers_for(auckland) == [ToneTier.COURTESY]
    assert tiers_for(london) == [ToneTier.COURTESY]


def test_second_pass_same_instant_creates_nothing(campaign, customer):
    for overdue in (-2, 0, 10, 30):
        overdue_invoice(customer, overdue)
    first = run()
    counts = (Touchpoint.objects.count(), TouchpointInvoice.objects.count(), InvoiceEnrollment.objects.count())

    second = run()

    assert first.created == 4
    assert second.created == 0
    assert (Touchpoint.objects.count(), TouchpointInvoice.objects.count(), InvoiceEnrollment.objects.count()) == counts


def test_repeated_future_passes_do_not_escalate(campaign, customer):
    """Passes run again and again for one future instant send one message, not a
    friendly note, a firm reminder and a final notice at once."""
    from django.utils import timezone

    future = timezone.now() + days(6)
    customer.source.last_imported_at = timezone.now()
    customer.source.save()
    invoice = InvoiceFactory(customer=customer, source=customer.source, due_date=timezone.localdate() - days(30))

    results = [run(as_of=future) for _ in range(3)]

    assert [result.created for result in results] == [1, 0, 0]
    assert tiers_for(invoice) == [ToneTier.FRIENDLY]


def test_dry_run_writes_nothing(campaign, customer):
    invoice = overdue_invoice(customer, 30)
    overdue_invoice(CustomerFactory(source=customer.source, email=""), 3)

    result = run(dry_run=True)

    assert Touchpoint.objects.count() == 0
    assert TouchpointInvoice.objects.count() == 0
    assert TouchpointEvent.objects.count() == 0
    assert InvoiceEnrollment.objects.count() == 0
    assert DunningRun.objects.count() == 0
    assert result.run_id is None
    planned = {item.invoice_number: item for item in result.planned}
    assert planned[invoice.number].tier == ToneTier.FRIENDLY
    assert planned[invoice.number].template_key == "friendly-note"
    assert planned[invoice.number].customer_name == customer.name
    assert result.suppressed_by_reason == {NO_EMAIL: 1}


def test_dry_run_matches_real_pass(campaign, customer):
    for overdue in (-2, 0, 10, 30):
        overdue_invoice(customer, overdue)

    dry = run(dry_run=True)
    real = run()

    assert dry.created_by_tier == real.created_by_tier
    assert dry.created == real.created == 4


def test_run_row_records_counts(campaign, customer):
    overdue_invoice(customer, 30)
    overdue_invoice(customer, -1)

    result = run(trigger="test")

    row = DunningRun.objects.get(pk=result.run_id)
    assert row.as_of == AS_OF
    assert row.trigger == "test"
    assert row.finished_at is not None
    assert row.duration_ms is not None
    assert row.counts["created"] == 2
    assert row.counts["queued_by_tier"] == {"Courtesy reminder": 1, "Friendly": 1}


def test_touchpoint_fields(campaign, customer):
    invoice = overdue_invoice(customer, 30)

    result = run()

    [link] = links_for(invoice)
    touchpoint = link.touchpoint
    assert touchpoint.kind == Touchpoint.Kind.DUNNING
    assert touchpoint.status == Touchpoint.Status.QUEUED
    assert touchpoint.due_at == AS_OF
    assert touchpoint.dunning_run_id == result.run_id
    assert touchpoint.customer == customer
    assert link.amount_due == invoice.amount_due
    assert link.step.version == campaign


def test_naive_as_of_rejected():
    with pytest.raises(ValueError, match="has no time zone"):
        run_pass(as_of=datetime.datetime(2026, 3, 10, 12, 0), delivery="none")


# Cost


def make_due_invoices(count, source):
    customers = [CustomerFactory(source=source, effective_time_zone=zone) for zone in ("Europe/London", "Europe/Paris")]
    for index in range(count):
        overdue_invoice(customers[index % 2], (-2, 0, 10, 30)[index % 4])


def test_query_count_ignores_invoices_not_due(campaign, source, django_assert_num_queries):
    make_due_invoices(20, source)
    with CaptureQueriesContext(connection) as small:
        run()
    Touchpoint.objects.all().delete()
    InvoiceEnrollment.objects.all().delete()
    customer = CustomerFactory(source=source)
    for _ in range(180):
        overdue_invoice(customer, -20)

    with django_assert_num_queries(len(small)):
        run()


def test_query_count_bounded_tenfold_invoices(campaign, source, django_assert_max_num_queries):
    make_due_invoices(20, source)
    with CaptureQueriesContext(connection) as small:
        run()
    first_pass = len(small)
    TouchpointEvent.objects.all().delete()
    TouchpointInvoice.objects.all().delete()
    Touchpoint.objects.all().delete()
    InvoiceEnrollment.objects.all().delete()
    make_due_invoices(180, source)

    # PostgreSQL inserts 200 rows per statement; SQLite's 999-parameter limit splits
    # a touchpoint insert into statements of about 30 rows, so allow those batches.
    extra_batches = 0 if connection.vendor == "postgresql" else 16
    with django_assert_max_num_queries(first_pass + extra_batches):
        result = run()
    assert result.created == 200
