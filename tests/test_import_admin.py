"""The admin import workflow: upload -> preview -> confirm, permissions and escaping."""

from decimal import Decimal

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

import customers.admin_imports  # noqa: F401  (registers ImportRecordAdmin even before customers/admin.py imports it)
from customers.models import ImportRecord, Invoice
from tests.factories import UserFactory
from tests.import_helpers import TEMPLATE_INVOICE_HEADER, csv_text, invoice_row

pytestmark = pytest.mark.django_db

IMPORT_URL = "admin:customers_importrecord_import"


def staff_user(*codenames):
    user = UserFactory()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="customers", codename__in=codenames))
    return user


@pytest.fixture
def importer_client(client):
    client.force_login(staff_user("add_importrecord", "view_importrecord"))
    return client


def upload(rows, name="invoices.csv"):
    return SimpleUploadedFile(name, csv_text(TEMPLATE_INVOICE_HEADER, rows).encode(), content_type="text/csv")


def post_upload(client, rows, **fields):
    data = {"kind": "invoices", "source_name": "Spreadsheet", "layout": "", "historical": "auto", "file": upload(rows)}
    data.update(fields)
    return client.post(reverse(IMPORT_URL), data)


def test_upload_preview_confirm_flow(importer_client):
    form_page = importer_client.get(reverse(IMPORT_URL))
    assert form_page.status_code == 200

    response = post_upload(importer_client, [invoice_row(), invoice_row(invoice_number="INV-2")])

    record = ImportRecord.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:customers_importrecord_preview", args=[record.pk])
    assert record.status == ImportRecord.Status.PREVIEWED
    assert Invoice.objects.count() == 0

    preview = importer_client.get(response["Location"])
    content = preview.content.decode()
    assert "template-invoices" in content
    assert "Invoices: created (2)" in content
    assert "Confirm and apply" in content
    assert Invoice.objects.count() == 0

    confirmed = importer_client.post(reverse("admin:customers_importrecord_confirm", args=[record.pk]), follow=True)

    assert confirmed.status_code == 200
    record.refresh_from_db()
    assert record.status == ImportRecord.Status.APPLIED
    assert Invoice.objects.count() == 2
    assert "Applied:" in confirmed.content.decode()


def test_confirm_by_get_changes_nothing(importer_client):
    post_upload(importer_client, [invoice_row()])
    record = ImportRecord.objects.get()

    response = importer_client.get(reverse("admin:customers_importrecord_confirm", args=[record.pk]))

    assert response.status_code == 405
    record.refresh_from_db()
    assert record.status == ImportRecord.Status.PREVIEWED
    assert Invoice.objects.count() == 0


def test_preview_shows_errors(importer_client):
    post_upload(importer_client, [invoice_row(due_date="31/02/2026")])
    record = ImportRecord.objects.get()

    preview = importer_client.get(reverse("admin:customers_importrecord_preview", args=[record.pk]))

    content = preview.content.decode()
    assert record.status == ImportRecord.Status.REFUSED
    assert "row 2, column &quot;due_date&quot;, value &quot;31/02/2026&quot;: not a date; use YYYY-MM-DD or DD/MM/YYYY" in content
    assert "Confirm and apply" not in content


def test_preview_escapes_file_content(importer_client):
    hostile = "<script>alert(1)</script>"
    post_upload(importer_client, [invoice_row(customer_name=hostile, description="<b>bold</b>")])
    record = ImportRecord.objects.get()

    preview = importer_client.get(reverse("admin:customers_importrecord_preview", args=[record.pk]))

    content = preview.content.decode()
    assert hostile not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "<b>bold</b>" not in content


def test_error_messages_escaped(importer_client):
    post_upload(importer_client, [invoice_row(amount="<img src=x onerror=alert(1)>")])
    record = ImportRecord.objects.get()

    preview = importer_client.get(reverse("admin:customers_importrecord_preview", args=[record.pk]))

    assert "<img src=x" not in preview.content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in preview.content.decode()


def test_staff_without_add_permission_forbidden(client):
    client.force_login(staff_user("view_importrecord"))

    assert client.get(reverse(IMPORT_URL)).status_code == 403
    assert post_upload(client, [invoice_row()]).status_code == 403
    assert ImportRecord.objects.count() == 0


def test_confirm_without_add_permission_forbidden(client, importer_client, tmp_path):
    post_upload(importer_client, [invoice_row()])
    record = ImportRecord.objects.get()
    client.force_login(staff_user("view_importrecord"))

    response = client.post(reverse("admin:customers_importrecord_confirm", args=[record.pk]))

    assert response.status_code == 403
    record.refresh_from_db()
    assert record.status == ImportRecord.Status.PREVIEWED
    assert Invoice.objects.count() == 0


def test_changelist_lists_imports_with_button(importer_client):
    post_upload(importer_client, [invoice_row()])

    response = importer_client.get(reverse("admin:customers_importrecord_changelist"))

    content = response.content.decode()
    assert response.status_code == 200
    assert "Import a spreadsheet" in content
    assert "invoices.csv" in content
    assert "Spreadsheet" in content


def test_stale_confirm_shows_message(importer_client):
    post_upload(importer_client, [invoice_row()])
    record = ImportRecord.objects.get()
    post_upload(importer_client, [invoice_row()])
    second = ImportRecord.objects.exclude(pk=record.pk).get()
    importer_client.post(reverse("admin:customers_importrecord_confirm", args=[second.pk]))

    response = importer_client.post(reverse("admin:customers_importrecord_confirm", args=[record.pk]), follow=True)

    record.refresh_from_db()
    assert record.status == ImportRecord.Status.STALE
    assert "changed after the preview" in response.content.decode()
    assert Invoice.objects.get().amount_due == Decimal("100.00")


def test_upload_rejects_other_file_types(importer_client):
    response = importer_client.post(
        reverse(IMPORT_URL),
        {"kind": "invoices", "source_name": "S", "layout": "", "historical": "auto", "file": SimpleUploadedFile("a.pdf", b"%PDF")},
    )

    assert response.status_code == 200
    assert "Upload a .csv or .xlsx file" in response.content.decode()
    assert ImportRecord.objects.count() == 0
