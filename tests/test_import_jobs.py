"""Background imports: files above 2,000 data rows are previewed and applied in django-q2
tasks with progress on the record. Tests run django-q2 in sync mode, so a task runs
inline when the request's transaction commits."""

import inspect
import io
import threading

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import openpyxl
import pytest
from django.contrib.auth.models import Group, Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

import customers.admin_imports  # noqa: F401  (registers ImportRecordAdmin)
from customers.imports import jobs, pipeline, services
from customers.models import Customer, ImportRecord, Invoice
from dunning_site import roles
from tests.factories import UserFactory
from tests.import_helpers import TEMPLATE_INVOICE_HEADER, csv_text, invoice_row

pytestmark = pytest.mark.django_db

IMPORT_URL = "admin:customers_importrecord_import"
# Names django-q2's async_task keeps for itself; a task parameter with one of them would
# never receive its value.
ASYNC_TASK_RESERVED = {
    "hook", "group", "save", "sync", "cached", "ack_failure", "chain", "broker", "cluster",
    "timeout", "task_name", "q_options", "iter_count", "iter_cached",
}


def invoice_rows(count: int) -> list[dict]:
    return [
        invoice_row(
            customer_id=f"C-{number % 50}",
            customer_name=f"Customer {number % 50}",
            email=f"accounts{number % 50}@customer.example",
            invoice_number=f"INV-{number}",
            payment_link=f"https://pay.example/INV-{number}",
        )
        for number in range(1, count + 1)
    ]


def csv_upload(rows, name="invoices.csv"):
    return SimpleUploadedFile(name, csv_text(TEMPLATE_INVOICE_HEADER, rows).encode(), content_type="text/csv")


@pytest.fixture
def importer(db):
    user = UserFactory()
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="customers", codename__in=["add_importrecord", "view_importrecord"])
    )
    return user


@pytest.fixture
def importer_client(client, importer, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    client.force_login(importer)
    return client


@pytest.fixture
def progress_calls(monkeypatch):
    """Record every progress write, with no throttling so each report is written."""
    monkeypatch.setattr(jobs, "PROGRESS_INTERVAL_SECONDS", 0)
    calls = []
    original = jobs.ProgressReporter.__call__

    def spy(self, done, total):
        calls.append((self.record_id, done, total))
        return original(self, done, total)

    monkeypatch.setattr(jobs.ProgressReporter, "__call__", spy)
    return calls


def post_upload(client, rows, **fields):
    data = {"kind": "invoices", "source_name": "Spreadsheet", "layout": "", "historical": "auto", "file": csv_upload(rows)}
    data.update(fields)
    return client.post(reverse(IMPORT_URL), data)


def test_large_upload_runs_preview_task(importer_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post_upload(importer_client, invoice_rows(2001))

    record = ImportRecord.objects.get()
    assert len(callbacks) == 1
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:customers_importrecord_progress", args=[record.pk])
    assert record.status == ImportRecord.Status.PREVIEWED
    assert record.row_count == 2001
    assert record.task_id
    assert record.file.name.startswith("imports/")
    assert record.progress_total == 2001
    assert record.progress_done == 2001
    assert record.progress_at is not None
    assert Invoice.objects.count() == 0
    assert ImportRecord.objects.count() == 1
    assert record.entries.filter(entity="invoice").count() == 2001


def test_preview_task_fills_queued_record(importer_client, monkeypatch, django_capture_on_commit_callbacks):
    """The import list shows one record while the preview runs, not a second one."""
    seen = []
    original = services.plan_file

    def plan_and_look(record, *args, **kwargs):
        seen.append((ImportRecord.objects.count(), record.pk, bool(record.file)))
        return original(record, *args, **kwargs)

    monkeypatch.setattr(services, "plan_file", plan_and_look)
    with django_capture_on_commit_callbacks(execute=True):
        post_upload(importer_client, invoice_rows(2001))

    record = ImportRecord.objects.get()
    assert seen == [(1, record.pk, True)]
    assert record.status == ImportRecord.Status.PREVIEWED


def test_large_confirm_runs_task(importer_client, importer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post_upload(importer_client, invoice_rows(2001))
    record = ImportRecord.objects.get()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = importer_client.post(reverse("admin:customers_importrecord_confirm", args=[record.pk]))

    record.refresh_from_db()
    assert len(callbacks) == 1
    assert response["Location"] == reverse("admin:customers_importrecord_progress", args=[record.pk])
    assert record.status == ImportRecord.Status.APPLIED
    assert Invoice.objects.count() == 2001
    assert Customer.objects.count() == 50
    assert record.progress_done == record.progress_total == 2001
    assert record.confirmed_by == importer


def test_preview_task_reports_progress(importer_client, progress_calls, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post_upload(importer_client, invoice_rows(2001))

    record = ImportRecord.objects.get()
    reports = [(done, total) for record_id, done, total in progress_calls if record_id == record.pk]
    assert len(reports) > 1, "import_preview reported progress fewer than twice for 2,001 rows"
    assert reports[-1] == (2001, 2001)


def test_confirm_task_reports_progress(importer_client, progress_calls, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post_upload(importer_client, invoice_rows(2001))
    record = ImportRecord.objects.get()
    progress_calls.clear()

    with django_capture_on_commit_callbacks(execute=True):
        importer_client.post(reverse("admin:customers_importrecord_confirm", args=[record.pk]))

    reports = [(done, total) for record_id, done, total in progress_calls if record_id == record.pk]
    assert len(reports) > 1, "import_confirm reported progress fewer than twice for 2,001 rows"
    assert reports[-1][0] == reports[-1][1]


def test_upload_of_2000_rows_stays_in_request(importer_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post_upload(importer_client, invoice_rows(2000))

    record = ImportRecord.objects.get()
    assert callbacks == []
    assert response["Location"] == reverse("admin:customers_importrecord_preview", args=[record.pk])
    assert record.status == ImportRecord.Status.PREVIEWED
    assert record.task_id == ""
    assert not record.file


def test_failed_preview_task_records_reason(importer_client, monkeypatch, django_capture_on_commit_callbacks):
    def broken_preview(*args, **kwargs):
        raise RuntimeError("the disk holding MEDIA_ROOT is full")

    monkeypatch.setattr(services, "import_preview", broken_preview)

    with django_capture_on_commit_callbacks(execute=True):
        post_upload(importer_client, invoice_rows(2001))

    record = ImportRecord.objects.get()
    assert record.status == ImportRecord.Status.FAILED
    assert len(record.errors) == 1
    assert "the disk holding MEDIA_ROOT is full" in record.errors[0]
    assert "failed" in record.errors[0]
    assert Invoice.objects.count() == 0
    assert Customer.objects.count() == 0


def test_failed_confirm_task_writes_nothing(importer_client, monkeypatch, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post_upload(importer_client, invoice_rows(2001))
    record = ImportRecord.objects.get()
    assert record.status == ImportRecord.Status.PREVIEWED
    original_apply = pipeline.apply_plan

    def apply_then_fail(*args, **kwargs):
        original_apply(*args, **kwargs)
        raise RuntimeError("connection to the database was lost")

    monkeypatch.setattr(pipeline, "apply_plan", apply_then_fail)

    with django_capture_on_commit_callbacks(execute=True):
        importer_client.post(reverse("admin:customers_importrecord_confirm", args=[record.pk]))

    record.refresh_from_db()
    assert record.status == ImportRecord.Status.FAILED
    assert record.errors
    assert "connection to the database was lost" in " ".join(record.errors)
    assert Invoice.objects.count() == 0
    assert Customer.objects.count() == 0


def test_second_confirm_of_queued_import_rejected(importer_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post_upload(importer_client, invoice_rows(2001))
    record = ImportRecord.objects.get()
    confirm_url = reverse("admin:customers_importrecord_confirm", args=[record.pk])

    # The first confirmation is queued but its task has not run yet.
    with django_capture_on_commit_callbacks(execute=False) as first:
        importer_client.post(confirm_url)
    with django_capture_on_commit_callbacks(execute=False) as second:
        response = importer_client.post(confirm_url, follow=True)

    record.refresh_from_db()
    assert len(first) == 1
    assert second == []
    assert record.status == ImportRecord.Status.QUEUED
    assert "only a previewed import can be applied" in response.content.decode()


def test_task_ignores_record_not_queued(importer, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    record = ImportRecord.objects.create(
        source=services.get_or_create_source("Spreadsheet", layout_hint=None, kind="invoices"),
        kind="invoices",
        layout="template-invoices",
        status=ImportRecord.Status.APPLIED,
        file_name="invoices.csv",
        file_sha256="0" * 64,
    )

    assert jobs.run_preview(record.pk) == "skipped"
    assert jobs.run_confirm(record.pk, importer.pk, False, False) == "skipped"
    record.refresh_from_db()
    assert record.status == ImportRecord.Status.APPLIED


@pytest.mark.parametrize("task", [jobs.run_preview, jobs.run_confirm])
def test_task_parameters_avoid_reserved_names(task):
    names = set(inspect.signature(task).parameters)

    assert names & ASYNC_TASK_RESERVED == set()


def test_progress_writes_throttled(importer, tmp_path):
    record = ImportRecord.objects.create(
        source=services.get_or_create_source("Spreadsheet", layout_hint=None, kind="invoices"),
        kind="invoices",
        status=ImportRecord.Status.RUNNING,
        file_name="invoices.csv",
        file_sha256="0" * 64,
    )
    now = [100.0]
    reporter = jobs.ProgressReporter(record.pk, interval=2.0, clock=lambda: now[0])

    reporter(0, 5000)
    now[0] += 1.9
    reporter(1000, 5000)
    record.refresh_from_db()
    assert reporter.writes == 1
    assert record.progress_done == 0
    assert record.progress_total == 5000

    now[0] += 0.2
    reporter(2000, 5000)
    record.refresh_from_db()
    assert reporter.writes == 2
    assert record.progress_done == 2000

    now[0] += 0.1
    reporter(5000, 5000)
    record.refresh_from_db()
    assert reporter.writes == 3
    assert record.progress_done == 5000


def test_import_queue_falls_back_to_default(settings):
    settings.Q_CLUSTER = {"name": "dunning", "orm": "default"}

    assert jobs.import_queue() is None


def test_import_queue_uses_imports_cluster(settings):
    settings.Q_CLUSTER = {"name": "dunning", "orm": "default", "ALT_CLUSTERS": {"imports": {"timeout": 1800}}}

    assert jobs.import_queue() == "imports"


def test_count_data_rows_csv():
    text = "\ufeffcustomer_id,invoice_number\r\nC-1,INV-1\r\n\r\n,\r\nC-2,INV-2\r\n"

    assert jobs.count_data_rows(text.encode()) == 2


def test_count_data_rows_xlsx():
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["customer_id", "invoice_number"])
    for number in range(2001):
        sheet.append([f"C-{number}", f"INV-{number}"])
    buffer = io.BytesIO()
    workbook.save(buffer)

    assert jobs.count_data_rows(buffer.getvalue()) == 2001
    assert jobs.runs_in_background(buffer.getvalue())


def test_large_hold_back_runs_task(client, importer_client, django_capture_on_commit_callbacks):
    rows = invoice_rows(2001)
    rows[10]["due_date"] = "not a date"
    with django_capture_on_commit_callbacks(execute=True):
        post_upload(importer_client, rows)
    record = ImportRecord.objects.get()
    assert record.status == ImportRecord.Status.REFUSED
    manager = UserFactory()
    manager.groups.add(Group.objects.get(name=roles.MANAGER))
    client.force_login(manager)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(reverse("admin:customers_importrecord_confirm_valid_rows", args=[record.pk]))

    record.refresh_from_db()
    assert len(callbacks) == 1
    assert response["Location"] == reverse("admin:customers_importrecord_progress", args=[record.pk])
    assert record.status == ImportRecord.Status.APPLIED
    assert record.hold_back_refused is True
    assert record.confirmed_by == manager
    assert Invoice.objects.count() == 2000
    assert not Invoice.objects.filter(number="INV-11").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_confirm_task_shows_running(importer_client, monkeypatch):
    # Without a test transaction, on_commit callbacks run at once, so the tasks run inline.
    post_upload(importer_client, invoice_rows(2001))
    record = ImportRecord.objects.get()
    assert record.status == ImportRecord.Status.PREVIEWED
    seen = []
    original_confirm = services.import_confirm

    def read_status_elsewhere():
        # Another connection, as the progress page in another request would use.
        seen.append(ImportRecord.objects.values_list("status", flat=True).get(pk=record.pk))
        connection.close()

    def confirm_and_look(*args, **kwargs):
        reader = threading.Thread(target=read_status_elsewhere)
        reader.start()
        reader.join()
        return original_confirm(*args, **kwargs)

    monkeypatch.setattr(services, "import_confirm", confirm_and_look)

    importer_client.post(reverse("admin:customers_importrecord_confirm", args=[record.pk]))

    record.refresh_from_db()
    assert record.status == ImportRecord.Status.APPLIED
    assert seen == [ImportRecord.Status.RUNNING]


def test_rejected_confirm_task_keeps_status(importer, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    record = ImportRecord.objects.create(
        source=services.get_or_create_source("Spreadsheet", layout_hint=None, kind="invoices"),
        kind="invoices",
        layout="template-invoices",
        status=ImportRecord.Status.QUEUED,
        file_name="invoices.csv",
        file_sha256="0" * 64,
        plan=[{"entity": "blocked", "row": 5, "key": "INV-7", "note": 'invoice "INV-7" has a refused line in row 6'}],
        errors=['row 6, column "Quantity", value "x": not a number; fix it'],
    )
    manager = UserFactory()
    manager.groups.add(Group.objects.get(name=roles.MANAGER))

    result = jobs.run_confirm(record.pk, manager.pk, True, False, confirm_from=ImportRecord.Status.REFUSED)

    record.refresh_from_db()
    assert result == "rejected"
    assert record.status == ImportRecord.Status.REFUSED
    assert len(record.warnings) == 1
    assert record.warnings[0].startswith("the import was not applied: ")
    assert 'invoice "INV-7" has a refused line in row 6' in record.warnings[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_confirm_progress_visible_while_applying(importer_client, monkeypatch):
    post_upload(importer_client, invoice_rows(2001))
    record = ImportRecord.objects.get()
    monkeypatch.setattr(jobs, "PROGRESS_INTERVAL_SECONDS", 0)
    seen = []
    original_apply = pipeline.apply_plan

    def read_status_elsewhere():
        # Another connection, as the progress page in another request would use.
        running = ImportRecord.objects.defer("plan_summary", "changes").get(pk=record.pk)
        seen.append(customers.admin_imports.progress_data(running))
        connection.close()

    def apply_and_look(*args, progress=None, **kwargs):
        def progress_and_look(done, total):
            progress(done, total)
            reader = threading.Thread(target=read_status_elsewhere)
            reader.start()
            reader.join()

        return original_apply(*args, progress=progress_and_look, **kwargs)

    monkeypatch.setattr(pipeline, "apply_plan", apply_and_look)

    importer_client.post(reverse("admin:customers_importrecord_confirm", args=[record.pk]))

    record.refresh_from_db()
    assert record.status == ImportRecord.Status.APPLIED
    assert len(seen) > 1
    assert all(status["status"] == "running" for status in seen)
    assert [status["rows_done"] for status in seen] == sorted(status["rows_done"] for status in seen)
    assert seen[-1]["rows_done"] > 0
    assert seen[-1]["rows_total"] == 2001
