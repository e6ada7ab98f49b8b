"""The admin import workflow around the preview: progress page and JSON, downloads of
every change, the manager-only hold-back confirmation, the snapshot's closing list, the
upload options and the saved layout page."""

import csv
import io
import re

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import openpyxl
import pytest
from django.contrib.auth.models import Group, Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

import customers.admin_imports  # noqa: F401  (registers ImportRecordAdmin)
from customers.imports import services
from customers.models import ImportRecord, Invoice, SavedLayout
from dunning_site import roles
from tests.factories import CustomerFactory, InvoiceFactory, SourceFactory, UserFactory
from tests.import_helpers import TEMPLATE_INVOICE_HEADER, csv_text, invoice_row

pytestmark = pytest.mark.django_db

IMPORT_URL = "admin:customers_importrecord_import"


def role_user(group_name=None, *codenames, **fields):
    user = UserFactory(**fields)
    if group_name:
        user.groups.add(Group.objects.get(name=group_name))
    if codenames:
        user.user_permissions.add(*Permission.objects.filter(content_type__app_label="customers", codename__in=codenames))
    return user


@pytest.fixture
def data_staff():
    return role_user(roles.DATA_STAFF)


@pytest.fixture
def manager():
    return role_user(roles.MANAGER)


@pytest.fixture
def agent():
    return role_user(roles.AGENT)


def make_record(**fields) -> ImportRecord:
    defaults = {
        "source": fields.pop("source", None) or SourceFactory(name="Spreadsheet"),
        "kind": ImportRecord.Kind.INVOICES,
        "layout": "template-invoices",
        "status": ImportRecord.Status.PREVIEWED,
        "file_name": "invoices.csv",
        "file_sha256": "0" * 64,
    }
    defaults.update(fields)
    return ImportRecord.objects.create(**defaults)


def invoice_entry(number: int, action: str = "create", **extra) -> dict:
    entry = {
        "entity": "invoice",
        "row": number + 1,
        "key": f"INV-{number}",
        "customer_key": "C-1",
        "action": action,
        "id": None,
        "version": None,
        "payment": None,
        "fields": {"amount_due": [None, "100.00"]},
    }
    entry.update(extra)
    return entry


def upload_file(rows, name="invoices.csv"):
    return SimpleUploadedFile(name, csv_text(TEMPLATE_INVOICE_HEADER, rows).encode(), content_type="text/csv")


# Progress page and status JSON -----------------------------------------------------------


def test_status_json_reports_progress(client, data_staff):
    at = timezone.now()
    record = make_record(status=ImportRecord.Status.RUNNING, row_count=5000, progress_done=1200, progress_total=5000, progress_at=at)
    client.force_login(data_staff)

    response = client.get(reverse("admin:customers_importrecord_status", args=[record.pk]))

    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "running"
    assert data["finished"] is False
    assert data["rows_done"] == 1200
    assert data["rows_total"] == 5000
    assert data["percent"] == 24
    assert data["updated_at"] == at.isoformat()
    assert data["errors"] == []


def test_status_json_gives_failure_reason(client, data_staff):
    record = make_record(status=ImportRecord.Status.FAILED, errors=["the background import failed and wrote nothing: boom"])
    client.force_login(data_staff)

    data = client.get(reverse("admin:customers_importrecord_status", args=[record.pk])).json()

    assert data["finished"] is True
    assert data["status"] == "failed"
    assert data["errors"] == ["the background import failed and wrote nothing: boom"]


def test_status_json_needs_view_permission(client):
    record = make_record(status=ImportRecord.Status.RUNNING)
    client.force_login(role_user())

    response = client.get(reverse("admin:customers_importrecord_status", args=[record.pk]))

    assert response.status_code == 403


def test_progress_page_refreshes_without_script(client, data_staff):
    record = make_record(status=ImportRecord.Status.QUEUED, row_count=3000, progress_done=0, progress_total=3000)
    client.force_login(data_staff)

    preview = client.get(reverse("admin:customers_importrecord_preview", args=[record.pk]))
    page = client.get(reverse("admin:customers_importrecord_progress", args=[record.pk]))

    content = page.content.decode()
    assert preview.status_code == 302
    assert preview["Location"] == reverse("admin:customers_importrecord_progress", args=[record.pk])
    assert page.status_code == 200
    assert '<meta http-equiv="refresh" content="2">' in content
    assert 'max="3000"' in content
    assert "0 of 3000 rows" in content
    # The CSP allows no inline script.
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", content) is None


def test_progress_page_of_finished_import_redirects(client, data_staff):
    record = make_record(status=ImportRecord.Status.PREVIEWED)
    client.force_login(data_staff)

    response = client.get(reverse("admin:customers_importrecord_progress", args=[record.pk]))

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:customers_importrecord_preview", args=[record.pk])


# Preview lists and downloads -------------------------------------------------------------


def test_preview_shows_first_100_per_group(client, data_staff):
    plan = [invoice_entry(number) for number in range(1, 151)] + [invoice_entry(number, "unchanged", fields={}) for number in range(151, 154)]
    record = make_record(plan=plan, row_count=153)
    client.force_login(data_staff)

    content = client.get(reverse("admin:customers_importrecord_preview", args=[record.pk])).content.decode()

    assert "Invoices: created (150) &mdash; first 100 shown" in content
    assert "Invoices: unchanged (3)" in content
    assert ">INV-100<" in content
    assert ">INV-101<" not in content
    assert ">INV-153<" in content


def read_csv_download(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_download_lists_every_row(client, data_staff):
    errors = [
        'row 7, column "due_date", value "31/02/2026": not a date; use YYYY-MM-DD',
        'row 9, column "amount", value "=1+2": not an amount; write a number such as 1234.50',
    ]
    warnings = ['row 12, column "paid_on", value "2026-01-01": the payment is dated before the invoice; check the date']
    plan = [invoice_entry(number) for number in range(1, 151)]
    record = make_record(status=ImportRecord.Status.REFUSED, plan=plan, errors=errors, warnings=warnings)
    client.force_login(data_staff)

    response = client.get(reverse("admin:customers_importrecord_download_csv", args=[record.pk]))

    rows = read_csv_download(response)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    assert len([row for row in rows if row["change"] == "created"]) == 150
    refused = [row for row in rows if row["change"] == "refused"]
    assert [row["row"] for row in refused] == ["7", "9"]
    assert refused[0]["message"] == errors[0]
    # The message is the one the command line prints. It starts with "row", so it gets no quote.
    assert refused[1]["message"] == errors[1]
    warning_rows = [row for row in rows if row["change"] == "warning"]
    assert [row["message"] for row in warning_rows] == warnings


def test_csv_download_escapes_formulas(client, data_staff):
    plan = [invoice_entry(1, key="=HYPERLINK(\"http://evil.example\")", note="@SUM(A1)")]
    record = make_record(plan=plan)
    client.force_login(data_staff)

    rows = read_csv_download(client.get(reverse("admin:customers_importrecord_download_csv", args=[record.pk])))

    assert rows[0]["key"] == "'=HYPERLINK(\"http://evil.example\")"
    assert rows[0]["message"] == "'@SUM(A1)"


def test_xlsx_download_lists_every_row(client, data_staff):
    plan = [invoice_entry(number) for number in range(1, 151)] + [invoice_entry(151, key="+44 cell")]
    record = make_record(plan=plan, errors=['row 3, column "amount", value "x": not an amount; fix it'], status=ImportRecord.Status.REFUSED)
    client.force_login(data_staff)

    response = client.get(reverse("admin:customers_importrecord_download_xlsx", args=[record.pk]))

    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == ["change", "entity", "row", "key", "details", "message"]
    assert len([row for row in rows[1:] if row[0] == "created"]) == 151
    assert rows[151][3] == "'+44 cell"
    assert rows[152][0] == "refused"
    assert rows[152][2] == 3
    assert rows[152][5] == 'row 3, column "amount", value "x": not an amount; fix it'


def test_download_needs_view_permission(client):
    record = make_record()
    client.force_login(role_user())

    for name in ("download_csv", "download_xlsx"):
        response = client.get(reverse(f"admin:customers_importrecord_{name}", args=[record.pk]))
        assert response.status_code == 403


def test_download_from_real_preview_matches_errors(client, data_staff):
    client.force_login(data_staff)
    rows = [invoice_row(), invoice_row(invoice_number="INV-2", due_date="not a date"), invoice_row(invoice_number="INV-3", amount_due="abc")]
    client.post(
        reverse(IMPORT_URL),
        {"kind": "invoices", "source_name": "Spreadsheet", "layout": "", "historical": "auto", "file": upload_file(rows)},
    )
    record = ImportRecord.objects.get()

    downloaded = read_csv_download(client.get(reverse("admin:customers_importrecord_download_csv", args=[record.pk])))

    assert record.status == ImportRecord.Status.REFUSED
    assert [row["message"] for row in downloaded if row["change"] == "refused"] == record.errors
    assert [row["row"] for row in downloaded if row["change"] == "refused"] == ["3", "4"]


# Hold back the refused rows: managers only -----------------------------------------------


def refused_with_valid_rows() -> ImportRecord:
    return make_record(
        status=ImportRecord.Status.REFUSED,
        plan=[invoice_entry(1), invoice_entry(2)],
        errors=['row 4, column "due_date", value "x": not a date; use YYYY-MM-DD'],
        row_count=3,
    )


@pytest.mark.parametrize("user_fixture", ["manager", "superuser"])
def test_manager_sees_hold_back_button(client, request, user_fixture):
    user = request.getfixturevalue("manager") if user_fixture == "manager" else role_user(is_superuser=True)
    record = refused_with_valid_rows()
    client.force_login(user)

    content = client.get(reverse("admin:customers_importrecord_preview", args=[record.pk])).content.decode()

    assert "Import the valid rows, hold back the refused ones" in content


@pytest.mark.parametrize("user_fixture", ["data_staff", "agent"])
def test_others_do_not_see_hold_back(client, request, user_fixture):
    record = refused_with_valid_rows()
    client.force_login(request.getfixturevalue(user_fixture))

    content = client.get(reverse("admin:customers_importrecord_preview", args=[record.pk])).content.decode()

    assert "hold back the refused ones" not in content


@pytest.mark.parametrize("user_fixture", ["data_staff", "agent"])
def test_hold_back_post_by_others_forbidden(client, request, monkeypatch, user_fixture):
    calls = []
    monkeypatch.setattr(services, "import_confirm", lambda *args, **kwargs: calls.append(kwargs))
    record = refused_with_valid_rows()
    client.force_login(request.getfixturevalue(user_fixture))

    response = client.post(reverse("admin:customers_importrecord_confirm_valid_rows", args=[record.pk]))

    assert response.status_code == 403
    assert calls == []
    record.refresh_from_db()
    assert record.status == ImportRecord.Status.REFUSED


def test_hold_back_post_by_manager_confirms(client, manager, monkeypatch):
    calls = []

    def fake_confirm(record, user=None, **kwargs):
        calls.append((user, kwargs))
        ImportRecord.objects.filter(pk=record.pk).update(status=ImportRecord.Status.APPLIED, hold_back_refused=True)
        record.refresh_from_db()
        return record

    monkeypatch.setattr(services, "import_confirm", fake_confirm)
    record = refused_with_valid_rows()
    client.force_login(manager)

    response = client.post(reverse("admin:customers_importrecord_confirm_valid_rows", args=[record.pk]))

    assert response.status_code == 302
    assert calls == [(manager, {"hold_back_refused": True, "confirm_closing": False})]
    record.refresh_from_db()
    assert record.confirmed_by == manager


def test_plain_confirm_needs_import_permission(client, manager):
    record = make_record()
    client.force_login(manager)

    response = client.post(reverse("admin:customers_importrecord_confirm", args=[record.pk]))

    assert response.status_code == 403


# Snapshots: invoices that would close ----------------------------------------------------


def snapshot_record(open_invoices: int, closing: int) -> ImportRecord:
    source = SourceFactory(name="QuickBooks")
    customer = CustomerFactory(source=source)
    invoices = [InvoiceFactory(customer=customer, number=f"QB-{number}") for number in range(open_invoices)]
    plan = [
        {"entity": "close", "action": "close", "row": None, "key": invoice.number, "id": invoice.pk, "version": invoice.version, "fields": {"ledger_status": ["open", "closed"]}}
        for invoice in invoices[:closing]
    ]
    counts = {"rows": open_invoices - closing, "snapshot": {"open": open_invoices, "closing": closing}}
    return make_record(source=source, plan=plan, is_snapshot=True, counts=counts)


def test_snapshot_preview_lists_closing_invoices(client, data_staff):
    record = snapshot_record(open_invoices=10, closing=3)
    client.force_login(data_staff)

    content = client.get(reverse("admin:customers_importrecord_preview", args=[record.pk])).content.decode()

    assert Invoice.objects.filter(ledger_status=Invoice.LedgerStatus.OPEN).count() == 10
    assert "3 open invoices would close (30% of the source's 10 open invoices)" in content
    assert "Invoices: closing (3)" in content
    assert ">QB-0<" in content
    assert 'name="confirm_closing"' in content


def test_snapshot_of_a_fifth_needs_one_confirmation(client, data_staff):
    record = snapshot_record(open_invoices=10, closing=2)
    client.force_login(data_staff)

    content = client.get(reverse("admin:customers_importrecord_preview", args=[record.pk])).content.decode()

    assert "2 open invoices would close" in content
    assert 'name="confirm_closing"' not in content


def test_closing_confirm_needs_second_tick(client, data_staff, monkeypatch):
    calls = []

    def fake_confirm(record, user=None, **kwargs):
        calls.append(kwargs)
        return record

    monkeypatch.setattr(services, "import_confirm", fake_confirm)
    record = snapshot_record(open_invoices=10, closing=3)
    client.force_login(data_staff)
    confirm_url = reverse("admin:customers_importrecord_confirm", args=[record.pk])

    refused = client.post(confirm_url, follow=True)
    assert calls == []
    assert "3 of the source&#x27;s 10 open invoices (30%) would close" in refused.content.decode()

    client.post(confirm_url, {"confirm_closing": "1"})
    assert calls == [{"hold_back_refused": False, "confirm_closing": True}]


# Upload options ----------------------------------------------------------------------------


def test_upload_passes_options_to_preview(client, data_staff, monkeypatch):
    saved = SavedLayout.objects.create(name="Sage export", kind="invoices", mapping={"customer_id": "Account"})
    calls = []
    real_preview = services.import_preview

    def spy(path, **kwargs):
        calls.append(kwargs)
        return real_preview(path, kind=kwargs["kind"], source_name=kwargs["source_name"])

    monkeypatch.setattr(services, "import_preview", spy)
    client.force_login(data_staff)

    response = client.post(
        reverse(IMPORT_URL),
        {
            "kind": "invoices",
            "source_name": "Sage",
            "layout": f"saved:{saved.pk}",
            "historical": "yes",
            "is_snapshot": "on",
            "encoding": "windows-1252",
            "delimiter": ";",
            "date_order": "day_first",
            "file": upload_file([invoice_row()]),
        },
    )

    assert response.status_code == 302
    assert len(calls) == 1
    options = calls[0]
    assert options["layout"] is None
    assert options["saved_layout"] == saved
    assert options["historical"] is True
    assert options["is_snapshot"] is True
    assert options["encoding"] == "windows-1252"
    assert options["delimiter"] == ";"
    assert options["date_order"] == "day_first"
    assert options["user"] == data_staff


def test_upload_rejects_saved_layout_of_other_kind(client, data_staff):
    saved = SavedLayout.objects.create(name="Bank payments", kind="payments", mapping={})
    client.force_login(data_staff)

    response = client.post(
        reverse(IMPORT_URL),
        {"kind": "invoices", "source_name": "Bank", "layout": f"saved:{saved.pk}", "historical": "auto", "file": upload_file([invoice_row()])},
    )

    assert response.status_code == 200
    assert "This saved layout does not contain invoices." in response.content.decode()
    assert ImportRecord.objects.count() == 0


def test_agent_cannot_open_upload_form(client, agent):
    client.force_login(agent)

    assert client.get(reverse(IMPORT_URL)).status_code == 403


# Saved layouts -----------------------------------------------------------------------------


def test_saved_layout_page_maps_sample_headers(client, data_staff):
    if not hasattr(services, "saved_layout_save"):
        pytest.skip("customers.imports.services.saved_layout_save does not exist yet")
    client.force_login(data_staff)
    add_url = reverse("admin:customers_savedlayout_add")
    sample = SimpleUploadedFile(
        "sage.csv", b"Account,Company,Ref,Due,Cur,Gross,Outstanding\r\nA1,Acme,S-1,2026-12-01,GBP,10.00,10.00\r\n"
    )

    step_two = client.post(add_url, {"step": "start", "name": "Sage export", "kind": "invoices", "date_order": "", "sample": sample})

    content = step_two.content.decode()
    assert step_two.status_code == 200
    assert '<option value="Outstanding">Outstanding</option>' in content
    assert 'name="map_customer_id"' in content

    mapping = {
        "map_customer_id": "Account",
        "map_customer_name": "Company",
        "map_invoice_number": "Ref",
        "map_due_date": "Due",
        "map_currency": "Cur",
        "map_amount": "Gross",
        "map_amount_due": "Outstanding",
    }
    headers = '["Account", "Company", "Ref", "Due", "Cur", "Gross", "Outstanding"]'
    saved = client.post(
        add_url, {"step": "mapping", "name": "Sage export", "kind": "invoices", "date_order": "day_first", "headers": headers, **mapping}
    )

    assert saved.status_code == 302
    layout = SavedLayout.objects.get(name="Sage export")
    assert layout.kind == "invoices"
    assert layout.date_order == "day_first"
    assert layout.mapping["amount_due"] == "Outstanding"
    assert layout.mapping["customer_id"] == "Account"
    assert layout.created_by == data_staff


def test_saved_layout_requires_required_fields(client, data_staff):
    client.force_login(data_staff)
    headers = '["Account", "Company"]'

    response = client.post(
        reverse("admin:customers_savedlayout_add"),
        {"step": "mapping", "name": "Half a layout", "kind": "invoices", "headers": headers, "map_customer_id": "Account"},
    )

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert SavedLayout.objects.count() == 0


def test_saved_layout_page_forbidden_to_agents(client, agent):
    client.force_login(agent)

    assert client.get(reverse("admin:customers_savedlayout_add")).status_code == 403


# End to end with the real import services -------------------------------------------------


def test_manager_applies_valid_rows_only(client, data_staff, manager):
    rows = [invoice_row(), invoice_row(invoice_number="INV-2"), invoice_row(invoice_number="INV-3", due_date="31/31/2026")]
    client.force_login(data_staff)
    client.post(
        reverse(IMPORT_URL),
        {"kind": "invoices", "source_name": "Spreadsheet", "layout": "", "historical": "auto", "file": upload_file(rows)},
    )
    record = ImportRecord.objects.get()
    assert record.status == ImportRecord.Status.REFUSED
    client.force_login(manager)

    page = client.get(reverse("admin:customers_importrecord_preview", args=[record.pk])).content.decode()
    response = client.post(reverse("admin:customers_importrecord_confirm_valid_rows", args=[record.pk]), follow=True)

    record.refresh_from_db()
    assert "Import the valid rows, hold back the refused ones" in page
    assert response.status_code == 200
    assert record.status == ImportRecord.Status.APPLIED
    assert record.hold_back_refused is True
    assert record.confirmed_by == manager
    assert sorted(Invoice.objects.values_list("number", flat=True)) == ["INV-1", "INV-2"]
    assert record.errors
    assert "row 4" in record.errors[0]


def test_hold_back_hidden_when_rows_blocked(client, manager):
    record = make_record(
        status=ImportRecord.Status.REFUSED,
        plan=[invoice_entry(1), {"entity": "blocked", "row": 5, "key": "INV-7", "note": 'invoice "INV-7" has a refused line in row 6'}],
        errors=['row 6, column "Quantity", value "x": not a number; fix it'],
    )
    client.force_login(manager)

    content = client.get(reverse("admin:customers_importrecord_preview", args=[record.pk])).content.decode()

    assert "hold back the refused ones" not in content
    assert "invoice &quot;INV-7&quot; has a refused line in row 6" in content


def test_snapshot_closing_end_to_end(client, data_staff):
    client.force_login(data_staff)
    first = [invoice_row(invoice_number=f"INV-{number}", payment_link="") for number in range(1, 11)]
    client.post(reverse(IMPORT_URL), {"kind": "invoices", "source_name": "Spreadsheet", "layout": "", "historical": "auto", "file": upload_file(first)})
    client.post(reverse("admin:customers_importrecord_confirm", args=[ImportRecord.objects.get().pk]))
    assert Invoice.objects.filter(ledger_status=Invoice.LedgerStatus.OPEN).count() == 10

    client.post(
        reverse(IMPORT_URL),
        {"kind": "invoices", "source_name": "Spreadsheet", "layout": "", "historical": "auto", "is_snapshot": "on", "file": upload_file(first[:7])},
    )
    snapshot = ImportRecord.objects.order_by("-pk").first()
    confirm_url = reverse("admin:customers_importrecord_confirm", args=[snapshot.pk])
    page = client.get(reverse("admin:customers_importrecord_preview", args=[snapshot.pk])).content.decode()

    assert snapshot.is_snapshot is True
    assert "3 open invoices would close (30% of the source's 10 open invoices)" in page
    assert ">INV-10<" in page

    client.post(confirm_url)
    snapshot.refresh_from_db()
    assert snapshot.status == ImportRecord.Status.PREVIEWED
    assert Invoice.objects.filter(ledger_status=Invoice.LedgerStatus.OPEN).count() == 10

    client.post(confirm_url, {"confirm_closing": "1"})
    snapshot.refresh_from_db()
    assert snapshot.status == ImportRecord.Status.APPLIED
    assert sorted(Invoice.objects.exclude(ledger_status=Invoice.LedgerStatus.OPEN).values_list("number", flat=True)) == ["INV-10", "INV-8", "INV-9"]


def test_preview_shows_detected_settings(client, data_staff):
    client.force_login(data_staff)
    text = csv_text(TEMPLATE_INVOICE_HEADER, [invoice_row(due_date="31/12/2026")], delimiter=";")
    upload = SimpleUploadedFile("invoices.csv", text.encode("cp1252"), content_type="text/csv")
    client.post(reverse(IMPORT_URL), {"kind": "invoices", "source_name": "Spreadsheet", "layout": "", "historical": "auto", "file": upload})
    record = ImportRecord.objects.get()

    content = client.get(reverse("admin:customers_importrecord_preview", args=[record.pk])).content.decode()

    detected = re.search(r'<td id="import-detected">([^<]*)</td>', content)
    assert detected is not None
    assert detected.group(1).startswith("CSV")
    assert "day_first" in detected.group(1)
