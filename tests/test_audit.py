"""Change history: edits made in the admin are recorded with the acting user, shown on
the History page, and cannot be written back through simple-history's version page.

The tests use the project's admin site when the model is registered there, and a small
site of DunningModelAdmin classes otherwise, so they run before and after the per-app
admin modules exist.
"""

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import pytest
from django import forms
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import path, reverse
from django.utils.html import escape

from campaigns.models import MessageTemplate
from customers.models import Customer
from dunning_site import roles
from dunning_site.admin_base import BULK_IMPORT_HISTORY_NOTE, DunningModelAdmin
from tests.factories import CustomerFactory, MessageTemplateFactory, SourceFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.test_audit")]

fallback_site = admin.AdminSite(name="audit_admin")
fallback_site.register(Customer, DunningModelAdmin)
fallback_site.register(MessageTemplate, DunningModelAdmin)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("audit-admin/", fallback_site.urls),
]


def admin_url(model, view: str, *args) -> str:
    """Return the URL of a view of the project's admin, or of the fallback site when the
    project's admin does not register the model yet."""
    site_name = "admin" if admin.site.is_registered(model) else "audit_admin"
    opts = model._meta
    return reverse(f"{site_name}:{opts.app_label}_{opts.model_name}_{view}", args=args)


def admin_form_data(response) -> dict:
    """Return the data of the main form and every inline formset on an admin add or
    change page, as a browser would submit it unchanged."""
    page_forms = [response.context["adminform"].form]
    for inline in response.context.get("inline_admin_formsets", []):
        page_forms.append(inline.formset.management_form)
        page_forms.extend(inline.formset.forms)

    data = {}
    for form in page_forms:
        for bound_field in form:
            data.update(bound_field_data(bound_field))
    return data


def bound_field_data(bound_field) -> dict:
    widget = bound_field.field.widget
    value = bound_field.value()
    name = bound_field.html_name

    if isinstance(widget, forms.CheckboxInput):
        return {name: "on"} if value else {}
    if isinstance(widget, forms.NullBooleanSelect):
        return {name: {True: "true", False: "false"}.get(value, "unknown")}
    if value is None:
        return {}
    if isinstance(widget, forms.MultiWidget):
        parts = value if isinstance(value, (list, tuple)) else widget.decompress(value)
        return {
            f"{name}{suffix}": subwidget.format_value(part) or ""
            for suffix, subwidget, part in zip(widget.widgets_names, widget.widgets, parts)
        }
    if isinstance(value, (list, tuple)) and isinstance(widget, forms.SelectMultiple):
        return {name: [str(item) for item in value]}
    prepared = bound_field.field.prepare_value(value)
    return {name: "" if prepared is None else str(prepared)}



def form_errors(response):
    """Return the change form's errors of a response that showed the form again."""
    if response.context is None or "adminform" not in response.context:
        return None
    return response.context["adminform"].form.errors


def staff_user(username: str, group_name: str | None = None, **fields):
    user = UserFactory(username=username, **fields)
    if group_name:
        user.groups.add(Group.objects.get(name=group_name))
    return user


def test_customer_email_change_records_user(client):
    customer = CustomerFactory(email="old@customer.example")
    user = staff_user("root", is_superuser=True)
    client.force_login(user)
    url = admin_url(Customer, "change", customer.pk)
    data = admin_form_data(client.get(url))
    data["email"] = "new@customer.example"

    response = client.post(url, data)

    assert response.status_code == 302, form_errors(response)
    latest = customer.history.latest()
    assert latest.history_type == "~"
    assert latest.email == "new@customer.example"
    assert latest.history_user == user


def test_customer_consent_change_records_old_and_new_value(client):
    customer = CustomerFactory(marketing_consent=False)
    user = staff_user("root", is_superuser=True)
    client.force_login(user)
    url = admin_url(Customer, "change", customer.pk)
    data = admin_form_data(client.get(url))
    data["marketing_consent"] = "true"

    client.post(url, data)

    newest, previous = customer.history.order_by("-history_date", "-history_id")[:2]
    changes = {change.field: (change.old, change.new) for change in newest.diff_against(previous).changes}
    assert changes["marketing_consent"] == (False, True)
    assert newest.history_user == user


def test_template_change_by_manager_records_user(client):
    template = MessageTemplateFactory(subject="Invoice {{ invoice_number }}")
    manager = staff_user("manager", roles.MANAGER)
    client.force_login(manager)
    url = admin_url(MessageTemplate, "change", template.pk)
    data = admin_form_data(client.get(url))
    data["subject"] = "Reminder: invoice {{ invoice_number }}"

    response = client.post(url, data)

    assert response.status_code == 302, form_errors(response)
    latest = template.history.latest()
    assert latest.subject == "Reminder: invoice {{ invoice_number }}"
    assert latest.history_user == manager


def test_history_page_lists_user_and_import_note(client):
    customer = CustomerFactory()
    user = staff_user("root", is_superuser=True, first_name="Ada", last_name="Root")
    customer.email = "changed@customer.example"
    customer._history_user = user
    customer.save()
    client.force_login(user)

    response = client.get(admin_url(Customer, "history", customer.pk))

    assert response.status_code == 200
    page = response.content.decode()
    assert "root" in page or "Ada Root" in page
    assert escape(str(BULK_IMPORT_HISTORY_NOTE)) in page


def test_template_history_page_has_no_import_note(client):
    template = MessageTemplateFactory()
    client.force_login(staff_user("root", is_superuser=True))

    response = client.get(admin_url(MessageTemplate, "history", template.pk))

    assert response.status_code == 200
    assert escape(str(BULK_IMPORT_HISTORY_NOTE)) not in response.content.decode()


def test_agent_sees_customer_history(client):
    customer = CustomerFactory()
    client.force_login(staff_user("agent", roles.AGENT))

    response = client.get(admin_url(Customer, "history", customer.pk))

    assert response.status_code == 200


def test_staff_without_role_cannot_see_customer_history(client):
    customer = CustomerFactory()
    client.force_login(staff_user("nobody"))

    response = client.get(admin_url(Customer, "history", customer.pk))

    assert response.status_code == 403


@pytest.mark.parametrize("group_name", [None, roles.AGENT])
def test_history_version_page_rejects_post(client, group_name):
    customer = CustomerFactory(email="kept@customer.example")
    version = customer.history.latest()
    user = staff_user("poster", group_name, is_superuser=group_name is None)
    client.force_login(user)
    url = admin_url(Customer, "simple_history", customer.pk, version.history_id)

    response = client.post(url, {"email": "taken@attacker.example", "name": "Changed"})

    assert response.status_code == 403
    customer.refresh_from_db()
    assert customer.email == "kept@customer.example"


def test_history_version_page_is_readable(client):
    customer = CustomerFactory()
    version = customer.history.latest()
    client.force_login(staff_user("agent", roles.AGENT))

    response = client.get(admin_url(Customer, "simple_history", customer.pk, version.history_id))

    assert response.status_code == 200


def test_bulk_create_writes_no_history():
    # Imports write customers in bulk; their ImportRecord is the trail, not per-row history.
    source = SourceFactory()
    Customer.objects.bulk_create(
        [Customer(source=source, external_id="BULK-1", name="Bulk Ltd", effective_time_zone="UTC")]
    )

    assert Customer.history.filter(external_id="BULK-1").count() == 0


def test_model_without_history_keeps_django_history_page(client):
    from customers.models import Invoice
    from tests.factories import InvoiceFactory

    invoice = InvoiceFactory()
    site = admin.AdminSite(name="plain")
    model_admin = DunningModelAdmin(Invoice, site)
    client.force_login(staff_user("root", is_superuser=True))

    assert model_admin.has_history is False
    assert model_admin.object_history_template is None
    url_names = {pattern.name for pattern in model_admin.get_urls()}
    assert "customers_invoice_simple_history" not in url_names
    assert invoice.pk
