"""Agents log what they did (a call, a note) as manual touchpoints; nothing is sent."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from campaigns.models import Touchpoint, TouchpointEvent
from campaigns.services import touchpoint_log_manual
from dunning_site import roles
from tests.factories import CustomerFactory, InvoiceFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client(client):
    agent = UserFactory(username="agent-ann")
    agent.groups.add(Group.objects.get(name=roles.AGENT))
    client.force_login(agent)
    client.user = agent
    return client


def test_service_logs_call_with_invoices():
    customer = CustomerFactory(name="Harbour Tiles Ltd")
    invoice = InvoiceFactory(customer=customer, number="INV-7")

    touchpoint = touchpoint_log_manual(customer=customer, action="call", note="Promised to pay Friday", invoices=[invoice])

    assert touchpoint.kind == Touchpoint.Kind.MANUAL
    assert touchpoint.status == Touchpoint.Status.LOGGED
    assert touchpoint.action == Touchpoint.ManualAction.CALL
    assert list(touchpoint.invoice_links.values_list("invoice__number", flat=True)) == ["INV-7"]
    assert touchpoint.events.get().kind == TouchpointEvent.Kind.NOTE


def test_service_rejects_other_customers_invoice():
    customer = CustomerFactory()
    stranger_invoice = InvoiceFactory(number="INV-OTHER")

    with pytest.raises(ValueError, match="INV-OTHER belong to another customer"):
        touchpoint_log_manual(customer=customer, action="note", note="x", invoices=[stranger_invoice])

    assert not Touchpoint.objects.exists()


def test_agent_logs_call_in_admin(agent_client):
    customer = CustomerFactory(name="Harbour Tiles Ltd")
    InvoiceFactory(customer=customer, number="INV-7")

    response = agent_client.post(
        reverse("admin:campaigns_touchpoint_add"),
        {"customer": customer.pk, "action": "call", "note": "Spoke to accounts payable", "invoice_numbers": "INV-7"},
    )

    assert response.status_code == 302
    touchpoint = Touchpoint.objects.get()
    assert touchpoint.created_by == agent_client.user
    assert touchpoint.note == "Spoke to accounts payable"
    assert touchpoint.invoice_links.get().invoice.number == "INV-7"


def test_admin_names_unknown_invoice(agent_client):
    customer = CustomerFactory(name="Harbour Tiles Ltd")

    response = agent_client.post(
        reverse("admin:campaigns_touchpoint_add"),
        {"customer": customer.pk, "action": "note", "note": "Left a voicemail", "invoice_numbers": "INV-404"},
    )

    assert response.status_code == 200
    assert "Harbour Tiles Ltd has no invoice numbered INV-404" in response.content.decode()
    assert not Touchpoint.objects.exists()


def test_manual_touchpoint_is_read_only_after(agent_client):
    touchpoint = touchpoint_log_manual(customer=CustomerFactory(), action="note", note="Original")

    agent_client.post(reverse("admin:campaigns_touchpoint_change", args=[touchpoint.pk]), {"note": "Rewritten"})

    touchpoint.refresh_from_db()
    assert touchpoint.note == "Original"


def test_manual_touchpoint_not_delivered():
    from campaigns.delivery import deliver_due

    touchpoint = touchpoint_log_manual(customer=CustomerFactory(), action="call", note="Called")

    deliver_due()

    touchpoint.refresh_from_db()
    assert touchpoint.status == Touchpoint.Status.LOGGED
    assert touchpoint.sent_at is None
