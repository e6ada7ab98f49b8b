"""The admin as agents and managers use it: pages render on demo-like data, untrusted
text stays escaped, payments go through the payment service, and sent history is
read-only."""

import datetime
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.defaults import ensure_default_campaign
from campaigns.models import (
    CampaignVersion,
    DunningRun,
    MessageTemplate,
    Touchpoint,
    TouchpointEvent,
    TouchpointInvoice,
    ToneTier,
)
from customers.models import (
    CustomerCredit,
    Dispute,
    Invoice,
    Pause,
    Payment,
    PaymentCard,
    PromiseToPay,
)
from tests.factories import CustomerFactory, InvoiceFactory, PaymentFactory, SourceFactory, UserFactory

pytestmark = pytest.mark.django_db

XSS_NAME = "<script>alert(1)</script>"
XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def days_ago(days: int) -> datetime.date:
    return timezone.localdate() - datetime.timedelta(days=days)


@pytest.fixture
def superuser():
    return UserFactory(username="root", is_superuser=True)


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def ledger():
    """A small demo-like ledger: one hostile customer name, several currencies, each
    kind of collections state, a sent message with hostile HTML, and a dunning run."""
    campaign = ensure_default_campaign()
    step = campaign.versions.get().steps.get(offset_days=0)
    source = SourceFactory(name="Demo ledger")
    hostile = CustomerFactory(source=source, name=XSS_NAME, email="hostile@customer.example")
    other = CustomerFactory(source=source, name="Aoife Byrne", email="aoife@customer.example", country="IE", locale="en-IE")

    overdue = InvoiceFactory(customer=hostile, number="INV-OVERDUE", due_date=days_ago(12), amount=Decimal("1234.50"))
    euro = InvoiceFactory(customer=hostile, number="INV-EURO", due_date=days_ago(40), currency="EUR", amount=Decimal("80.00"))
    future = InvoiceFactory(customer=hostile, number="INV-FUTURE", due_date=days_ago(-5), amount=Decimal("10.00"))
    InvoiceFactory(customer=other, number="INV-OLD", due_date=days_ago(90), amount=Decimal("55.00"))
    InvoiceFactory(customer=hostile, number="INV-VOID", due_date=days_ago(100), amount=Decimal("500.00"), ledger_status=Invoice.LedgerStatus.VOID)
    InvoiceFactory(customer=hostile, number="INV-PAID", due_date=days_ago(3), amount_paid=Decimal("120.00"), ledger_status=Invoice.LedgerStatus.PAID)

    payment = PaymentFactory(invoice=future, amount=Decimal("5.00"), reference=XSS_NAME)
    Dispute.objects.create(invoice=overdue, reason=f"Customer wrote {XSS_NAME}")
    Pause.objects.create(customer=hostile, invoice=euro, until=days_ago(-10), reason=f"Paused: {XSS_NAME}")
    PromiseToPay.objects.create(invoice=overdue, promised_on=days_ago(-3), note=f"Promised {XSS_NAME}")
    CustomerCredit.objects.create(customer=hostile, amount=Decimal("3.00"), currency="GBP", origin=CustomerCredit.Origin.OVERPAYMENT, reference=XSS_NAME)
    PaymentCard.objects.create(customer=hostile, external_id="card_1", brand="visa", last4="4242", exp_month=1, exp_year=2027)

    run = DunningRun.objects.create(as_of=timezone.now(), counts={"created": 1, "suppressed": 0})
    touchpoint = Touchpoint.objects.create(
        customer=hostile,
        kind=Touchpoint.Kind.DUNNING,
        status=Touchpoint.Status.SENT,
        tier=ToneTier.FRIENDLY,
        template_key="friendly-note",
        dunning_run=run,
        recipient=hostile.email,
        subject=f"Invoice INV-OVERDUE for {XSS_NAME}",
        body_text=f"Hello {XSS_NAME}",
        body_html=f"<p>Hello {XSS_NAME}</p><img src=x onerror=alert(2)>",
        claimed_by="worker-1:123",
        sent_at=timezone.now(),
        esp_message_id="msg-1",
    )
    TouchpointInvoice.objects.create(touchpoint=touchpoint, invoice=overdue, step=step, amount_due=overdue.amount_due)
    TouchpointEvent.objects.create(touchpoint=touchpoint, kind=TouchpointEvent.Kind.STATUS, to_status="sent", message=f"Sent to {XSS_NAME}", worker="worker-1:123")
    return {
        "campaign": campaign,
        "source": source,
        "hostile": hostile,
        "other": other,
        "overdue": overdue,
        "euro": euro,
        "future": future,
        "payment": payment,
        "touchpoint": touchpoint,
        "run": run,
    }


CHANGELISTS = [
    "customers_source",
    "customers_customer",
    "customers_invoice",
    "customers_payment",
    "customers_dispute",
    "customers_pause",
    "customers_promisetopay",
    "customers_customercredit",
    "customers_paymentcard",
    "campaigns_campaign",
    "campaigns_campaignversion",
    "campaigns_messagetemplate",
    "campaigns_touchpoint",
    "campaigns_dunningrun",
]


def change_pages(ledger):
    version = ledger["campaign"].versions.get()
    return [
        ("customers_source", ledger["source"].pk),
        ("customers_customer", ledger["hostile"].pk),
        ("customers_invoice", ledger["overdue"].pk),
        ("customers_invoice", ledger["euro"].pk),
        ("customers_payment", ledger["payment"].pk),
        ("customers_dispute", Dispute.objects.get().pk),
        ("customers_pause", Pause.objects.get().pk),
        ("customers_promisetopay", PromiseToPay.objects.get().pk),
        ("customers_customercredit", CustomerCredit.objects.get().pk),
        ("customers_paymentcard", PaymentCard.objects.get().pk),
        ("campaigns_campaign", ledger["campaign"].pk),
        ("campaigns_campaignversion", version.pk),
        ("campaigns_messagetemplate", MessageTemplate.objects.get(key="friendly-note", language="en").pk),
        ("campaigns_touchpoint", ledger["touchpoint"].pk),
        ("campaigns_dunningrun", ledger["run"].pk),
    ]


@pytest.mark.parametrize("name", CHANGELISTS)
def test_changelist_renders(admin_client, ledger, name):
    response = admin_client.get(reverse(f"admin:{name}_changelist"))

    assert response.status_code == 200


def test_change_pages_render(admin_client, ledger):
    for name, pk in change_pages(ledger):
        response = admin_client.get(reverse(f"admin:{name}_change", args=[pk]))
        assert response.status_code == 200, name


def test_view_only_staff_open_pages(client, ledger):
    viewer = UserFactory(username="viewer")
    viewer.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    client.force_login(viewer)

    for name in CHANGELISTS:
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200, name
    for name, pk in change_pages(ledger):
        assert client.get(reverse(f"admin:{name}_change", args=[pk])).status_code == 200, name


def test_hostile_name_escaped_everywhere(admin_client, ledger):
    urls = [reverse(f"admin:{name}_changelist") for name in CHANGELISTS]
    urls += [reverse(f"admin:{name}_change", args=[pk]) for name, pk in change_pages(ledger)]
    urls.append(reverse("admin:customers_customer_changelist") + "?q=%3Cscript")

    for url in urls:
        content = admin_client.get(url).content.decode()
        assert XSS_NAME not in content, url
        assert "<img src=x onerror" not in content, url


def test_hostile_name_shown_escaped(admin_client, ledger):
    for name, pk in [("customers_customer", ledger["hostile"].pk), ("campaigns_touchpoint", ledger["touchpoint"].pk)]:
        content = admin_client.get(reverse(f"admin:{name}_change", args=[pk])).content.decode()
        assert XSS_ESCAPED in content, name


def test_touchpoint_html_in_sandboxed_iframe(admin_client, ledger):
    content = admin_client.get(reverse("admin:campaigns_touchpoint_change", args=[ledger["touchpoint"].pk])).content.decode()

    iframes = re.findall(r"<iframe[^>]*>", content)
    assert len(iframes) == 1
    assert 'sandbox=""' in iframes[0]
    # The stored HTML is escaped once for the attribute. The browser unescapes it into
    # the frame, whose empty sandbox attribute blocks scripts and same-origin access.
    assert 'srcdoc="&lt;p&gt;Hello &lt;script&gt;alert(1)' in iframes[0]
    assert "allow-" not in iframes[0]


def test_touchpoint_page_shows_links_and_events(admin_client, ledger):
    content = admin_client.get(reverse("admin:campaigns_touchpoint_change", args=[ledger["touchpoint"].pk])).content.decode()

    assert reverse("admin:customers_invoice_change", args=[ledger["overdue"].pk]) in content
    assert "worker-1:123" in content
    assert f"Sent to {XSS_ESCAPED}" in content


def test_touchpoint_add_only_logs_manual_action(admin_client, ledger):
    content = admin_client.get(reverse("admin:campaigns_touchpoint_add")).content.decode()

    assert 'name="action"' in content
    assert 'name="note"' in content
    assert 'name="status"' not in content
    assert 'name="subject"' not in content


def test_touchpoint_add_needs_add_permission(client, ledger):
    viewer = UserFactory(username="viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_touchpoint"))
    client.force_login(viewer)

    response = client.get(reverse("admin:campaigns_touchpoint_add"))

    assert response.status_code == 403


def test_touchpoint_admin_blocks_change(admin_client, ledger):
    touchpoint = ledger["touchpoint"]
    url = reverse("admin:campaigns_touchpoint_change", args=[touchpoint.pk])

    response = admin_client.post(url, {"status": "cancelled", "subject": "rewritten"})

    touchpoint.refresh_from_db()
    assert response.status_code == 403
    assert touchpoint.status == Touchpoint.Status.SENT
    assert touchpoint.subject.startswith("Invoice INV-OVERDUE")


def test_touchpoint_admin_blocks_delete(admin_client, ledger):
    touchpoint = ledger["touchpoint"]

    page = admin_client.get(reverse("admin:campaigns_touchpoint_delete", args=[touchpoint.pk]))
    action = admin_client.post(
        reverse("admin:campaigns_touchpoint_changelist"),
        {"action": "delete_selected", "_selected_action": [touchpoint.pk], "post": "yes"},
    )

    assert page.status_code == 403
    assert Touchpoint.objects.filter(pk=touchpoint.pk).exists()
    assert action.status_code in (200, 302)


def test_touchpoint_changelist_offers_no_delete(admin_client, ledger):
    content = admin_client.get(reverse("admin:campaigns_touchpoint_changelist")).content.decode()

    assert "delete_selected" not in content


def test_agent_sees_touchpoint_inlines(client, ledger):
    agent = UserFactory(username="agent")
    agent.user_permissions.add(Permission.objects.get(codename="view_touchpoint"))
    client.force_login(agent)

    content = client.get(reverse("admin:campaigns_touchpoint_change", args=[ledger["touchpoint"].pk])).content.decode()

    assert "worker-1:123" in content
    assert "INV-OVERDUE" in content


def test_customer_open_balance_per_currency(admin_client, ledger):
    content = admin_client.get(reverse("admin:customers_customer_changelist")).content.decode()

    # INV-OVERDUE and INV-FUTURE are open in GBP; INV-VOID's balance is not open.
    assert "1,244.50 GBP" in content
    assert "80.00 EUR" in content
    assert "55.00 GBP" in content
    assert "1,744.50" not in content


def test_customer_search_prefix_and_exact(admin_client, ledger):
    url = reverse("admin:customers_customer_changelist")

    by_prefix = admin_client.get(url, {"q": "Aoife"}).content.decode()
    by_email = admin_client.get(url, {"q": "aoife@customer.example"}).content.decode()
    by_substring = admin_client.get(url, {"q": "Byrne"}).content.decode()

    assert "Aoife Byrne" in by_prefix
    assert "Aoife Byrne" in by_email
    assert "Aoife Byrne" not in by_substring


def test_customer_links_filter_records(admin_client, ledger):
    customer = ledger["other"]
    Touchpoint.objects.create(customer=customer, kind=Touchpoint.Kind.DUNNING, subject="For Aoife only")
    page = admin_client.get(reverse("admin:customers_customer_change", args=[customer.pk])).content.decode()
    link = f"{reverse('admin:campaigns_touchpoint_changelist')}?customer__id__exact={customer.pk}"

    listed = admin_client.get(link)

    assert link in page
    assert listed.status_code == 200
    assert list(listed.context["cl"].result_list) == list(customer.touchpoints.all())


def customer_post(customer, **overrides):
    data = {
        "name": customer.name,
        "kind": customer.kind,
        "email": customer.email,
        "email_status": customer.email_status,
        "sms_status": customer.sms_status,
        "country": customer.country,
        "locale": customer.locale,
        "time_zone": customer.time_zone,
        "phone": customer.phone,
        "tags": "[]",
        **inline_management("contacts"),
        **inline_management("pauses"),
        **inline_management("invoices"),
        **inline_management("touchpoints"),
    }
    data.update(overrides)
    return data


def test_customer_edit_updates_effective_zone(admin_client, ledger):
    customer = ledger["other"]
    url = reverse("admin:customers_customer_change", args=[customer.pk])

    response = admin_client.post(url, customer_post(customer, country="FR"))

    customer.refresh_from_db()
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    assert customer.country == "FR"
    assert customer.effective_time_zone == "Europe/Paris"


def test_customer_edit_rejects_bad_zone(admin_client, ledger):
    customer = ledger["other"]
    url = reverse("admin:customers_customer_change", args=[customer.pk])

    response = admin_client.post(url, customer_post(customer, time_zone="Europe/Atlantis"))

    customer.refresh_from_db()
    assert response.status_code == 200
    assert "not an IANA time zone" in " ".join(response.context["adminform"].form.errors["time_zone"])
    assert customer.time_zone == ""


def test_customer_page_shows_collections_state(admin_client, ledger):
    content = admin_client.get(reverse("admin:customers_customer_change", args=[ledger["hostile"].pk])).content.decode()

    assert f"Customer wrote {XSS_ESCAPED}" in content
    assert f"Paused: {XSS_ESCAPED}" in content
    assert f"Promised {XSS_ESCAPED}" in content
    assert "INV-OVERDUE" in content


@pytest.mark.parametrize(
    ("bucket", "expected", "unexpected"),
    [
        ("not_due", {"INV-FUTURE"}, {"INV-OVERDUE", "INV-EURO", "INV-OLD"}),
        ("8_30", {"INV-OVERDUE"}, {"INV-FUTURE", "INV-EURO", "INV-OLD"}),
        ("31_60", {"INV-EURO"}, {"INV-FUTURE", "INV-OVERDUE", "INV-OLD"}),
        ("over_60", {"INV-OLD"}, {"INV-FUTURE", "INV-OVERDUE", "INV-EURO"}),
        ("1_7", {"INV-PAID"}, {"INV-FUTURE", "INV-OVERDUE", "INV-EURO", "INV-OLD"}),
    ],
)
def test_invoice_days_overdue_filter(admin_client, ledger, bucket, expected, unexpected):
    content = admin_client.get(reverse("admin:customers_invoice_changelist"), {"overdue": bucket}).content.decode()

    for number in expected:
        assert f">{number}<" in content
    for number in unexpected:
        assert f">{number}<" not in content


def test_invoice_days_overdue_column_and_sort(admin_client, ledger):
    url = reverse("admin:customers_invoice_changelist")
    column = admin_client.get(url).context["cl"].list_display.index("days_overdue")

    descending = admin_client.get(url, {"o": f"-{column}", "ledger_status__exact": "open"}).content.decode()
    ascending = admin_client.get(url, {"o": f"{column}", "ledger_status__exact": "open"}).content.decode()

    order_desc = re.findall(r">(INV-[A-Z]+)<", descending)
    order_asc = re.findall(r">(INV-[A-Z]+)<", ascending)
    assert order_desc == ["INV-OLD", "INV-EURO", "INV-OVERDUE", "INV-FUTURE"]
    assert order_asc == list(reversed(order_desc))
    assert ">12<" in descending
    assert "due in 5 days" in descending


def test_invoice_ledger_fields_read_only(admin_client, ledger):
    invoice = ledger["overdue"]
    url = reverse("admin:customers_invoice_change", args=[invoice.pk])
    page = admin_client.get(url).content.decode()

    admin_client.post(url, {"amount_due": "0.00", "ledger_status": "paid"})

    invoice.refresh_from_db()
    assert 'name="amount_due"' not in page
    assert invoice.amount_due == Decimal("1234.50")
    assert invoice.ledger_status == Invoice.LedgerStatus.OPEN
    assert admin_client.get(reverse("admin:customers_invoice_add")).status_code == 403


def inline_management(prefix: str, total: int = 0, initial: int = 0) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def test_agent_adds_dispute_on_invoice_page(client, ledger):
    invoice = ledger["future"]
    agent = UserFactory(username="agent")
    agent.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_invoice", "add_dispute", "view_dispute", "view_payment", "view_pause", "view_promisetopay"])
    )
    client.force_login(agent)
    data = {
        **inline_management("disputes", total=1),
        "disputes-0-reason": "Goods never arrived",
        "disputes-0-opened_at_0": timezone.localdate().isoformat(),
        "disputes-0-opened_at_1": "10:00:00",
        **inline_management("pauses"),
        **inline_management("promises"),
        **inline_management("payments", total=1, initial=1),
        "payments-0-id": str(ledger["payment"].pk),
        "payments-0-invoice": str(invoice.pk),
    }

    response = client.post(reverse("admin:customers_invoice_change", args=[invoice.pk]), data)

    assert response.status_code == 302, response.content.decode()[:2000]
    dispute = invoice.disputes.get()
    assert dispute.reason == "Goods never arrived"
    assert dispute.opened_by == agent


def test_staff_without_permissions_cannot_save_invoice(client, ledger):
    viewer = UserFactory(username="viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_invoice"))
    client.force_login(viewer)

    response = client.post(reverse("admin:customers_invoice_change", args=[ledger["overdue"].pk]), {})

    assert response.status_code == 403


def payment_post(invoice, **overrides):
    data = {
        "invoice": str(invoice.pk),
        "amount": "1234.50",
        "paid_on": timezone.localdate().isoformat(),
        "reference": "BANK-1",
        "method": "bank transfer",
    }
    data.update(overrides)
    return data


def test_invoice_page_links_payment_form(admin_client, ledger):
    invoice = ledger["overdue"]

    page = admin_client.get(reverse("admin:customers_invoice_change", args=[invoice.pk])).content.decode()
    form = admin_client.get(reverse("admin:customers_payment_add"), {"invoice": invoice.pk})

    assert f"{reverse('admin:customers_payment_add')}?invoice={invoice.pk}" in page
    assert form.status_code == 200
    assert form.context["adminform"].form.initial["amount"] == Decimal("1234.50")


@pytest.mark.parametrize("name", ["customers_customer", "customers_invoice", "customers_payment", "campaigns_touchpoint"])
def test_changelist_queries_do_not_grow(admin_client, ledger, django_assert_max_num_queries, name):
    url = reverse(f"admin:{name}_changelist")
    with CaptureQueriesContext(connection) as few_rows:
        admin_client.get(url)
    for number in range(30):
        customer = CustomerFactory(source=ledger["source"])
        invoice = InvoiceFactory(customer=customer, due_date=days_ago(number))
        PaymentFactory(invoice=invoice, amount=Decimal("1.00"))
        Touchpoint.objects.create(customer=customer, kind=Touchpoint.Kind.DUNNING, tier=ToneTier.FIRM)

    with django_assert_max_num_queries(len(few_rows)):
        response = admin_client.get(url)

    assert response.status_code == 200


def test_admin_payment_uses_payment_service(admin_client, superuser, ledger):
    invoice = ledger["overdue"]

    response = admin_client.post(reverse("admin:customers_payment_add"), payment_post(invoice))

    assert response.status_code == 302
    payment = Payment.objects.get(reference="BANK-1")
    invoice.refresh_from_db()
    assert payment.origin == Payment.Origin.AGENT
    assert payment.recorded_by == superuser
    assert payment.currency == "GBP"
    assert payment.customer == invoice.customer
    assert invoice.amount_due == Decimal("0.00")
    assert invoice.ledger_status == Invoice.LedgerStatus.PAID


def test_admin_payment_queues_thank_you(admin_client, ledger):
    invoice = ledger["overdue"]

    admin_client.post(reverse("admin:customers_payment_add"), payment_post(invoice, amount="100.00"))

    payment = Payment.objects.get(reference="BANK-1")
    thank_you = Touchpoint.objects.get(payment=payment)
    assert thank_you.kind == Touchpoint.Kind.THANK_YOU
    assert thank_you.template_key == "thank-you"
    assert thank_you.customer == invoice.customer
    assert thank_you.invoice_links.get().invoice == invoice


def test_admin_payment_logs_addition(admin_client, ledger):
    from django.contrib.admin.models import ADDITION, LogEntry

    admin_client.post(reverse("admin:customers_payment_add"), payment_post(ledger["overdue"]))

    payment = Payment.objects.get(reference="BANK-1")
    entry = LogEntry.objects.get(action_flag=ADDITION)
    assert entry.object_id == str(payment.pk)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"amount": "0"}, "amount", "must be positive"),
        ({"amount": "-5.00"}, "amount", "must be positive"),
        ({"paid_on": (timezone.localdate() + datetime.timedelta(days=2)).isoformat()}, "paid_on", "is in the future"),
        ({"reference": XSS_NAME}, "reference", "already recorded"),
    ],
)
def test_admin_payment_form_errors(admin_client, ledger, overrides, field, message):
    before = Payment.objects.count()
    invoice = ledger["future"]  # already has a payment with the hostile reference

    response = admin_client.post(reverse("admin:customers_payment_add"), payment_post(invoice, **overrides))

    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors[field])
    assert Payment.objects.count() == before
    assert not Touchpoint.objects.filter(kind=Touchpoint.Kind.THANK_YOU).exists()


def test_payments_read_only_after_recording(admin_client, ledger):
    payment = ledger["payment"]
    url = reverse("admin:customers_payment_change", args=[payment.pk])

    page = admin_client.get(url).content.decode()
    response = admin_client.post(url, {"amount": "999.00"})

    payment.refresh_from_db()
    assert 'name="amount"' not in page
    assert response.status_code == 403
    assert payment.amount == Decimal("5.00")
    assert admin_client.get(reverse("admin:customers_payment_delete", args=[payment.pk])).status_code == 403


def test_publish_action_publishes_draft(admin_client, ledger):
    version_1 = ledger["campaign"].versions.get()
    admin_client.post(
        reverse("admin:campaigns_campaignversion_changelist"),
        {"action": "copy_to_draft", "_selected_action": [version_1.pk]},
    )
    draft = ledger["campaign"].versions.get(status=CampaignVersion.Status.DRAFT)

    admin_client.post(
        reverse("admin:campaigns_campaignversion_changelist"),
        {"action": "publish_versions", "_selected_action": [draft.pk]},
    )

    draft.refresh_from_db()
    version_1.refresh_from_db()
    assert draft.status == CampaignVersion.Status.PUBLISHED
    assert version_1.status == CampaignVersion.Status.RETIRED


def test_publish_action_reports_error(admin_client, ledger):
    version_1 = ledger["campaign"].versions.get()

    response = admin_client.post(
        reverse("admin:campaigns_campaignversion_changelist"),
        {"action": "publish_versions", "_selected_action": [version_1.pk]},
        follow=True,
    )

    messages = [str(message) for message in response.context["messages"]]
    version_1.refresh_from_db()
    assert version_1.status == CampaignVersion.Status.PUBLISHED
    assert any("not a draft" in message for message in messages)


def test_published_steps_not_editable(admin_client, ledger):
    version = ledger["campaign"].versions.get()

    content = admin_client.get(reverse("admin:campaigns_campaignversion_change", args=[version.pk])).content.decode()

    assert 'name="steps-0-offset_days"' not in content
    assert "friendly-note" in content


def test_template_page_shows_preview(admin_client, ledger):
    pytest.importorskip("campaigns.rendering")
    template = MessageTemplate.objects.get(key="friendly-note", language="fr")

    content = admin_client.get(reverse("admin:campaigns_messagetemplate_change", args=[template.pk])).content.decode()

    assert "Aoife O&#x27;Brien &amp; Sons, la facture INV-1042 arrive à échéance aujourd&#x27;hui" in content
    # French formatting from Babel: a decimal comma and the euro sign after the amount.
    assert re.search(r"234,50\s€", content)
    assert 'sandbox=""' in content


def test_template_preview_reports_broken_source(admin_client, ledger):
    pytest.importorskip("campaigns.rendering")
    template = MessageTemplate.objects.get(key="friendly-note", language="en")
    MessageTemplate.objects.filter(pk=template.pk).update(body_text="{% if %}")

    response = admin_client.get(reverse("admin:campaigns_messagetemplate_change", args=[template.pk]))

    assert response.status_code == 200
    assert "cannot be rendered" in response.content.decode()


def step_post(version, offset_days, template_key):
    return {
        "campaign": str(version.campaign_id),
        **inline_management("steps", total=1),
        "steps-0-offset_days": str(offset_days),
        "steps-0-tier": str(ToneTier.FIRM),
        "steps-0-channel": "email",
        "steps-0-template_key": template_key,
    }


def test_draft_step_needs_existing_template(admin_client, ledger):
    draft = CampaignVersion.objects.create(campaign=ledger["campaign"], number=2)
    url = reverse("admin:campaigns_campaignversion_change", args=[draft.pk])

    rejected = admin_client.post(url, step_post(draft, 14, "no-such-template"))
    accepted = admin_client.post(url, step_post(draft, 14, "firm-reminder"))

    assert rejected.status_code == 200
    assert "No message template has the key no-such-template" in rejected.content.decode()
    assert accepted.status_code == 302
    assert list(draft.steps.values_list("offset_days", "template_key")) == [(14, "firm-reminder")]


def template_post(**overrides):
    data = {
        "key": "second-reminder",
        "channel": "email",
        "language": "es",
        "subject": "Hola {{ customer_name }}",
        "body_text": "Factura {{ invoice_number }}: {{ amount_due }}",
        "body_html": "<p>Factura {{ invoice_number }}</p>",
    }
    data.update(overrides)
    return data


def test_template_form_accepts_allowed_variables(admin_client, ledger):
    pytest.importorskip("campaigns.rendering")

    response = admin_client.post(reverse("admin:campaigns_messagetemplate_add"), template_post())

    assert response.status_code == 302
    assert MessageTemplate.objects.filter(key="second-reminder", language="es").exists()


@pytest.mark.parametrize(
    ("field", "source"),
    [
        ("subject", "Hola {{ customer.email }}"),
        ("body_text", "{{ secret_key }}"),
        ("body_html", "{% load static %}<p>{{ invoice_number }}</p>"),
        ("body_html", "<p>{{ customer_name|safe }}</p>"),
    ],
)
def test_template_form_rejects_unknown_source(admin_client, ledger, field, source):
    pytest.importorskip("campaigns.rendering")

    response = admin_client.post(reverse("admin:campaigns_messagetemplate_add"), template_post(**{field: source}))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field]
    assert not MessageTemplate.objects.filter(key="second-reminder").exists()


def test_dunning_run_list_links_touchpoints(admin_client, ledger):
    content = admin_client.get(reverse("admin:campaigns_dunningrun_changelist")).content.decode()
    touchpoints = admin_client.get(
        reverse("admin:campaigns_touchpoint_changelist"), {"dunning_run__id__exact": ledger["run"].pk}
    )

    assert "created: 1" in content
    assert f"dunning_run__id__exact={ledger['run'].pk}" in content
    assert touchpoints.status_code == 200
    assert "worker-1:123" in touchpoints.content.decode()


@pytest.mark.postgres
def test_big_table_count_uses_estimate(admin_client, ledger, monkeypatch):
    import customers.admin

    monkeypatch.setattr(customers.admin, "ESTIMATED_COUNT_MIN_ROWS", 1)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_invoice")
    url = reverse("admin:customers_invoice_changelist")

    with CaptureQueriesContext(connection) as unfiltered:
        admin_client.get(url)
    with CaptureQueriesContext(connection) as filtered:
        admin_client.get(url, {"ledger_status__exact": "open"})

    def counts_invoices(queries):
        return [query["sql"] for query in queries if "COUNT(*)" in query["sql"] and "customers_invoice" in query["sql"]]

    assert counts_invoices(unfiltered.captured_queries) == []
    assert any("reltuples" in query["sql"] for query in unfiltered.captured_queries)
    assert len(counts_invoices(filtered.captured_queries)) == 1


def test_small_table_counted_exactly(admin_client, ledger):
    response = admin_client.get(reverse("admin:customers_invoice_changelist"))

    assert response.context["cl"].result_count == Invoice.objects.count()
