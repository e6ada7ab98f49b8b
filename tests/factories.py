"""factory-boy factories shared by every test module.

Parents are passed explicitly where many children share one (a SubFactory would create a
new source per invoice), and every datetime is aware.
"""

import datetime
from decimal import Decimal

import factory
import factory.random
from django.contrib.auth import get_user_model
from django.utils import timezone

from campaigns.models import Campaign, CampaignStep, CampaignVersion, Channel, MessageTemplate, ToneTier
from customers.models import Customer, Invoice, Payment, Source

factory.random.reseed_random(20261204)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@staff.example")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")

    @factory.post_generation
    def save_password(user, create, extracted, **kwargs):
        if create:
            user.save()


class SourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Source
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Ledger {n}")
    kind = Source.Kind.TEMPLATE
    max_data_age_days = 7
    last_imported_at = factory.LazyFunction(timezone.now)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    source = factory.SubFactory(SourceFactory)
    external_id = factory.Sequence(lambda n: f"CUST-{n:05d}")
    name = factory.Faker("company", locale="en_GB")
    email = factory.Sequence(lambda n: f"accounts{n}@customer.example")
    phone = ""
    country = "GB"
    locale = "en-GB"
    effective_time_zone = "Europe/London"
    kind = Customer.Kind.BUSINESS


class InvoiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invoice

    customer = factory.SubFactory(CustomerFactory)
    source = factory.LazyAttribute(lambda invoice: invoice.customer.source)
    number = factory.Sequence(lambda n: f"INV-{n:05d}")
    issue_date = factory.LazyAttribute(lambda invoice: invoice.due_date - datetime.timedelta(days=30))
    due_date = factory.LazyFunction(lambda: timezone.localdate() + datetime.timedelta(days=10))
    currency = "GBP"
    amount = Decimal("120.00")
    amount_paid = Decimal("0.00")
    amount_due = factory.LazyAttribute(lambda invoice: invoice.amount - invoice.amount_paid)
    ledger_status = Invoice.LedgerStatus.OPEN
    payment_link = factory.LazyAttribute(lambda invoice: f"https://pay.example/{invoice.number}")


class PaymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Payment

    invoice = factory.SubFactory(InvoiceFactory)
    customer = factory.LazyAttribute(lambda payment: payment.invoice.customer)
    amount = factory.LazyAttribute(lambda payment: payment.invoice.amount_due)
    currency = factory.LazyAttribute(lambda payment: payment.invoice.currency)
    paid_on = factory.LazyFunction(timezone.localdate)
    origin = Payment.Origin.AGENT


class MessageTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MessageTemplate
        django_get_or_create = ("key", "channel", "language")

    key = "friendly"
    channel = Channel.EMAIL
    language = "en"
    subject = "Invoice {{ invoice_number }} for {{ customer_name }}"
    body_text = "Dear {{ customer_name }}, {{ amount_due }} is due on {{ due_date }}."
    body_html = "<p>Dear {{ customer_name }}, {{ amount_due }} is due on {{ due_date }}.</p>"


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    entry_tier = ToneTier.FRIENDLY
    min_days_between_messages = 5


class CampaignVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CampaignVersion

    campaign = factory.SubFactory(CampaignFactory)
    number = 1
    status = CampaignVersion.Status.PUBLISHED
    published_at = factory.LazyFunction(timezone.now)


class CampaignStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CampaignStep

    version = factory.SubFactory(CampaignVersionFactory)
    offset_days = 0
    tier = ToneTier.FRIENDLY
    channel = Channel.EMAIL
    template_key = "friendly"


DEFAULT_STEPS = (
    (-3, ToneTier.COURTESY, "courtesy-reminder"),
    (0, ToneTier.FRIENDLY, "friendly-note"),
    (7, ToneTier.FIRM, "firm-reminder"),
    (21, ToneTier.FINAL, "final-notice"),
)


def published_campaign(*, steps=DEFAULT_STEPS, number=1, campaign=None, **campaign_fields) -> CampaignVersion:
    """Create a campaign (unless given) with a published version containing `steps`, each an
    (offset_days, tier, template_key) tuple or (offset_days, tier, template_key, channel)."""
    campaign = campaign or CampaignFactory(**campaign_fields)
    version = CampaignVersionFactory(campaign=campaign, number=number)
    for offset_days, tier, template_key, *channel in steps:
        CampaignStepFactory(
            version=version,
            offset_days=offset_days,
            tier=tier,
            template_key=template_key,
            channel=channel[0] if channel else Channel.EMAIL,
        )
    return version
