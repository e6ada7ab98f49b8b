"""Background imports: files above BACKGROUND_ROW_LIMIT data rows are previewed and applied
in django-q2 tasks, so the admin request returns at once and closing the browser stops
nothing.

The upload stores the file on the ImportRecord (`file`, under MEDIA_ROOT), sets it QUEUED
and enqueues `run_preview` after the transaction commits. Confirming such a record
enqueues `run_confirm`. Each task writes its progress on the record (`progress_done`,
`progress_total`, `progress_at`) at most every PROGRESS_INTERVAL_SECONDS, which the admin's
progress page and status URL read. A task that raises sets the record FAILED with the
exception message and writes nothing else.

Tasks run on the "imports" queue when the settings define it in
`Q_CLUSTER["ALT_CLUSTERS"]`, else on the default queue. Their parameter names avoid the
keyword arguments that `async_task` keeps for itself (hook, group, save, sync, cached,
timeout, ...), which would never reach the task.
"""

import io
import logging
import threading
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection, connections, transaction
from django.utils import timezone
from django_q.tasks import async_task

from customers.imports import services
from customers.models import ImportRecord

logger = logging.getLogger(__name__)

IMPORT_QUEUE = "imports"
# Files with more data rows than this run in a task, and smaller ones are previewed and
# applied in the admin request.
BACKGROUND_ROW_LIMIT = 2000
PROGRESS_INTERVAL_SECONDS = 2.0
PROGRESS_CACHE_PREFIX = "import-progress:"
PROGRESS_CACHE_SECONDS = 6 * 60 * 60
PUBLISH_WAIT_SECONDS = 2.0
IN_PROGRESS_STATUSES = (ImportRecord.Status.QUEUED, ImportRecord.Status.RUNNING)

def import_queue() -> str | None:
    """Return the django-q2 queue for import tasks: "imports" when a cluster is configured
    for it in Q_CLUSTER["ALT_CLUSTERS"], else None (the default queue)."""
    alternatives = getattr(settings, "Q_CLUSTER", {}).get("ALT_CLUSTERS") or {}
    return IMPORT_QUEUE if IMPORT_QUEUE in alternatives else None


def count_data_rows(data: bytes) -> int:
    """Estimate the data rows of a CSV or XLSX file without parsing its cells.

    CSV: the non-blank lines after the header, so a quoted cell that spans lines counts
    once per line. XLSX: the first sheet's stored dimension, which can include styled
    empty rows. Both can only overestimate, which sends a file to the background path
    that could have run in the request.
    """
    if data.startswith(b"PK\x03\x04"):
        return count_xlsx_rows(data)
    lines = [line for line in data.splitlines() if line.strip(b" \t,;\xef\xbb\xbf")]
    return max(len(lines) - 1, 0)


def count_xlsx_rows(data: bytes) -> int:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    except Exception:  # noqa: BLE001  (openpyxl raises many types for a damaged file)
        # The preview reports the damaged file; it is small enough to fail fast in the request.
        return 0
    try:
        sheet = workbook.worksheets[0]
        max_row = sheet.max_row
        if max_row is None:
            # No stored dimension: count the rows.
            max_row = sum(1 for _ in sheet.iter_rows(values_only=True))
        return max(max_row - 1, 0)
    finally:
        workbook.close()


def runs_in_background(data: bytes) -> bool:
    """Return True when a file has more than BACKGROUND_ROW_LIMIT data rows."""
    return count_data_rows(data) > BACKGROUND_ROW_LIMIT


def is_in_progress(record: ImportRecord) -> bool:
    return record.status in IN_PROGRESS_STATUSES


class ProgressReporter:
    """The `progress(done, total)` callable given to the import services for one record.

    Writes the numbers on the record on the first call, on the call that reaches the
    total, and otherwise at most once every `interval` seconds, so the cost is one UPDATE
    per interval whatever the row count. `writes` counts the UPDATEs made.

    Inside `import_confirm` the UPDATE is part of the import's transaction, which also
    locks the record row, so other requests see it only at commit. With
    `publish_outside_transaction`, the reporter also stores the numbers in the cache
    (`published_progress`) through a second database connection, on PostgreSQL only:
    on SQLite a second connection would wait for the import's write lock.
    """

    def __init__(
        self,
        record_id: int,
        *,
        interval: float | None = None,
        clock=time.monotonic,
        publish_outside_transaction: bool = False,
    ):
        self.record_id = record_id
        self.interval = PROGRESS_INTERVAL_SECONDS if interval is None else interval
        self.clock = clock
        self.publish_outside_transaction = publish_outside_transaction
        self.last_write: float | None = None
        self.writes = 0

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        finished = total and done >= total
        if self.last_write is not None and now - self.last_write < self.interval and not finished:
            return
        self.last_write = now
        self.writes += 1
        done = min(done, total) if total else done
        at = timezone.now()
        ImportRecord.objects.filter(pk=self.record_id).update(progress_done=done, progress_total=total, progress_at=at)
        # NOTE: on SQLite the apply phase shows no progress until it commits.
        if self.publish_outside_transaction and connection.vendor == "postgresql":
            publish_progress(self.record_id, done, total, at)


def progress_cache_key(record_id: int) -> str:
    return f"{PROGRESS_CACHE_PREFIX}{record_id}"


def publish_progress(record_id: int, done: int, total: int, at) -> None:
    """Store progress in the cache from a second connection, outside the caller's transaction.

    Waits at most PUBLISH_WAIT_SECONDS, so a slow cache never holds up the import.
    """

    def store():
        try:
            cache.set(progress_cache_key(record_id), {"done": done, "total": total, "at": at}, PROGRESS_CACHE_SECONDS)
        except Exception:  # noqa: BLE001  (progress is informative; the import must go on)
            logger.warning("Failed to publish the progress of import %s to the cache", record_id, exc_info=True)
        finally:
            connections.close_all()

    writer = threading.Thread(target=store, name=f"import-{record_id}-progress", daemon=True)
    writer.start()
    writer.join(PUBLISH_WAIT_SECONDS)


def published_progress(record_id: int) -> dict | None:
    """Return the progress a running confirmation published outside its transaction, if any."""
    try:
        return cache.get(progress_cache_key(record_id))
    except Exception:  # noqa: BLE001  (the record's own fields are the fallback)
        logger.warning("Failed to read the progress of import %s from the cache", record_id, exc_info=True)
        return None


def enqueue_preview(record: ImportRecord, *, encoding: str = "", delimiter: str = "", date_order: str = "") -> None:
    """Queue `run_preview` for a QUEUED record once the current transaction commits."""

    def enqueue():
        task_id = async_task(
            "customers.imports.jobs.run_preview",
            record.pk,
            encoding=encoding,
            delimiter=delimiter,
            date_order=date_order,
            cluster=import_queue(),
            task_name=f"import {record.pk} preview",
        )
        ImportRecord.objects.filter(pk=record.pk).update(task_id=task_id or "")

    transaction.on_commit(enqueue)


def enqueue_confirm(record: ImportRecord, *, user, hold_back_refused: bool = False, confirm_closing: bool = False) -> None:
    """Set a previewed record QUEUED and queue `run_confirm` once the transaction commits.

    Raises services.ImportStateError when the record is not waiting for confirmation
    (a second click, or another user confirmed it first).
    """
    allowed = [ImportRecord.Status.PREVIEWED]
    if hold_back_refused:
        allowed.append(ImportRecord.Status.REFUSED)
    with transaction.atomic():
        locked = ImportRecord.objects.select_for_update().get(pk=record.pk)
        if locked.status not in allowed:
            raise services.ImportStateError(
                f"import {locked.pk} is {locked.get_status_display().lower()}; only a previewed import can be applied"
            )
        # run_confirm restores this status inside the import's transaction, for import_confirm to check.
        confirm_from = locked.status
        locked.status = ImportRecord.Status.QUEUED
        locked.progress_done = 0
        locked.progress_total = locked.row_count
        locked.progress_at = timezone.now()
        locked.save(update_fields=["status", "progress_done", "progress_total", "progress_at"])

    def enqueue():
        task_id = async_task(
            "customers.imports.jobs.run_confirm",
            record.pk,
            user.pk if user else None,
            hold_back_refused,
            confirm_closing,
            confirm_from=confirm_from,
            cluster=import_queue(),
            task_name=f"import {record.pk} confirm",
        )
        ImportRecord.objects.filter(pk=record.pk).update(task_id=task_id or "")

    transaction.on_commit(enqueue)


def run_preview(record_id: int, encoding: str = "", delimiter: str = "", date_order: str = "") -> str:
    """Task: validate the stored file of a QUEUED record and store the preview on it.
    Returns the final status."""
    record = claim(record_id)
    if record is None:
        return "skipped"

    try:
        reporter = ProgressReporter(record_id)
        services.import_preview(
            record.file.path,
            kind=record.kind,
            source_name=record.source.name,
            layout=record.layout or None,
            user=record.created_by,
            historical=record.is_historical,
            file_name=record.file_name,
            progress=reporter,
            is_snapshot=record.is_snapshot,
            saved_layout=record.saved_layout,
            encoding=encoding or None,
            delimiter=delimiter or None,
            date_order=date_order or None,
            into=record,
        )
        record.progress_done = record.progress_total = record.row_count
        record.progress_at = timezone.now()
        record.save(update_fields=["progress_done", "progress_total", "progress_at"])
    except Exception as error:
        record_failure(record_id, "preview", error)
        return ImportRecord.Status.FAILED

    logger.info("Background preview of import %s (%s): %s", record_id, record.file_name, record.status)
    return record.status


def run_confirm(
    record_id: int,
    user_id: int | None,
    hold_back_refused: bool = False,
    confirm_closing: bool = False,
    confirm_from: str = ImportRecord.Status.PREVIEWED,
) -> str:
    """Task: apply the stored plan of a record that `enqueue_confirm` set QUEUED.

    The record is RUNNING for other connections until the import commits or fails.
    `import_confirm` accepts only the status the record had when staff confirmed it
    (`confirm_from`: PREVIEWED, or REFUSED for a hold-back), so that status is restored
    inside the import's own transaction and never committed unless the import rejects
    the record. Returns the final status.
    """
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    record = claim(record_id)
    if record is None:
        return "skipped"

    try:
        with transaction.atomic():
            ImportRecord.objects.filter(pk=record_id).update(status=confirm_from)
            try:
                record = services.import_confirm(
                    record,
                    user,
                    progress=ProgressReporter(record_id, publish_outside_transaction=True),
                    hold_back_refused=hold_back_refused,
                    confirm_closing=confirm_closing,
                )
            except services.ImportStateError as error:
                # The record goes back to the status staff confirmed it from, with the reason.
                logger.warning("Import %s was not applied by the background task: %s", record_id, error)
                ImportRecord.objects.filter(pk=record_id).update(
                    warnings=[*record.warnings, f"the import was not applied: {error}"], progress_at=timezone.now()
                )
                return "rejected"
    except Exception as error:
        record_failure(record_id, "import", error)
        return ImportRecord.Status.FAILED

    ImportRecord.objects.filter(pk=record_id).update(
        progress_done=record.row_count, progress_total=record.row_count, progress_at=timezone.now()
    )
    logger.info("Background import %s (%s): %s", record_id, record.file_name, record.status)
    return record.status


def claim(record_id: int) -> ImportRecord | None:
    """Move a QUEUED record to RUNNING; return it, or None if another run took it."""
    updated = ImportRecord.objects.filter(pk=record_id, status=ImportRecord.Status.QUEUED).update(
        status=ImportRecord.Status.RUNNING, progress_done=0, progress_at=timezone.now()
    )
    if not updated:
        logger.warning("Import %s is not queued; the task did nothing", record_id)
        return None
    return ImportRecord.objects.select_related("source", "created_by", "saved_layout").get(pk=record_id)


def record_failure(record_id: int, step: str, error: Exception) -> None:
    """Set the record FAILED with the reason in words, keeping a message import_confirm wrote."""
    logger.exception("Background %s of import %s failed", step, record_id)
    record = ImportRecord.objects.filter(pk=record_id).first()
    if record is None:
        return
    if record.status == ImportRecord.Status.FAILED and record.errors:
        return
    detail = str(error) or type(error).__name__
    ImportRecord.objects.filter(pk=record_id).update(
        status=ImportRecord.Status.FAILED,
        errors=[f"the background {step} failed and wrote nothing: {detail}; report this with the file"],
        progress_at=timezone.now(),
    )
