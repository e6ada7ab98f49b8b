"""The stored plan of an import: ImportEntry rows that the preview writes as it plans,
and a summary on the record (counts, the first changes) that confirm reuses.

The preview writes entries in batches while it reads the file, so neither the file's
rows nor the whole plan are in memory at once. Confirm reads them back the same way.
"""

import datetime
import logging
from collections.abc import Iterable, Iterator

from django.db import connection
from django.utils import timezone

from customers.models import ImportEntry, ImportRecord

logger = logging.getLogger(__name__)

# Entries buffered before one write to the database.
WRITE_BATCH = 5000
# An import keeps at most this many change entries on its record, and no unchanged rows.
# The counts still cover every row, and the entries keep the whole plan.
CHANGES_LIMIT = 1000
CHANGING_ACTIONS = frozenset({"create", "update", "record", "upgrade", "close"})
ACTION_NAMES = {"create": "created", "update": "updated", "unchanged": "unchanged", "skip": "skipped", "close": "closed"}
ENTITY_BUCKETS = {"customer": "customers", "invoice": "invoices", "close": "invoices", "credit": "credits", "card": "cards"}
PAYMENT_ACTION_NAMES = {"record": "recorded", "upgrade": "upgraded"}


def empty_counts(kind: str) -> dict:
    if kind == ImportRecord.Kind.PAYMENTS:
        return {"payments": {"recorded": 0, "skipped": 0}}
    if kind == ImportRecord.Kind.CUSTOMERS:
        return {"customers": {"created": 0, "updated": 0, "unchanged": 0}}
    if kind == ImportRecord.Kind.CARDS:
        return {"cards": {"created": 0, "updated": 0, "unchanged": 0}}
    return {
        "customers": {"created": 0, "updated": 0, "unchanged": 0},
        "invoices": {"created": 0, "updated": 0, "unchanged": 0, "skipped": 0},
        "payments": {"recorded": 0},
    }


def add_to_counts(counts: dict, entry: dict, kind: str) -> None:
    """Count one entry in `counts`, which `empty_counts(kind)` started."""
    if entry["entity"] == "blocked":
        return
    if kind == ImportRecord.Kind.PAYMENTS:
        name = PAYMENT_ACTION_NAMES.get(entry["action"], "skipped")
        counts["payments"][name] = counts["payments"].get(name, 0) + 1
        return
    bucket_name = ENTITY_BUCKETS.get(entry["entity"])
    if bucket_name is None:
        return
    bucket = counts.setdefault(bucket_name, {"created": 0, "updated": 0, "unchanged": 0})
    action = ACTION_NAMES[entry["action"]]
    bucket[action] = bucket.get(action, 0) + 1
    if entry.get("payment"):
        counts["payments"]["recorded"] += 1


def changes_something(entry: dict) -> bool:
    return entry["entity"] != "blocked" and (entry["action"] in CHANGING_ACTIONS or bool(entry.get("payment")))


class PlanSummary:
    """Counts, the first CHANGES_LIMIT changes and whether anything changes, over a plan's
    entries. Blocked entries (valid rows held back with a refused one) count nowhere."""

    def __init__(self, kind: str):
        self.kind = kind
        self.counts = empty_counts(kind)
        self.changes: list[dict] = []
        self.changes_omitted = 0
        self.changes_anything = False

    def add(self, entry: dict) -> None:
        if entry["entity"] == "blocked":
            return
        add_to_counts(self.counts, entry, self.kind)
        if entry["action"] != "unchanged" or entry.get("payment"):
            if len(self.changes) < CHANGES_LIMIT:
                self.changes.append(entry)
            else:
                self.changes_omitted += 1
        if not self.changes_anything and changes_something(entry):
            self.changes_anything = True

    def as_json(self) -> dict:
        return {
            "counts": self.counts,
            "changes": self.changes,
            "changes_omitted": self.changes_omitted,
            "changes_anything": self.changes_anything,
        }


def summarise(entries: Iterable[dict], kind: str) -> dict:
    summary = PlanSummary(kind)
    for entry in entries:
        summary.add(entry)
    return summary.as_json()


class PlanWriter:
    """Append entries to the stored plan of a saved record, in batches, and summarise them."""

    def __init__(self, record: ImportRecord):
        self.record = record
        self.position = 0
        self.buffer: list[tuple] = []  # ENTRY_COLUMNS values
        self.summary = PlanSummary(record.kind)

    def write(self, entries: Iterable[dict]) -> None:
        record_id = self.record.pk
        for entry in entries:
            self.summary.add(entry)
            self.buffer.append((record_id, self.position, *ImportEntry.columns_of(entry)))
            self.position += 1
            if len(self.buffer) >= WRITE_BATCH:
                self.flush()

    def flush(self) -> None:
        if self.buffer:
            insert_entries(self.buffer)
            self.buffer = []


ENTRY_COLUMNS = ("record_id", "position", *ImportEntry.ENTRY_FIELDS)


def insert_entries(rows: list[tuple]) -> None:
    """Insert ENTRY_COLUMNS rows with COPY on PostgreSQL, else with bulk_create."""
    if connection.vendor != "postgresql":
        ImportEntry.objects.bulk_create(ImportEntry(**dict(zip(ENTRY_COLUMNS, row))) for row in rows)
        return
    table = connection.ops.quote_name(ImportEntry._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(column) for column in ENTRY_COLUMNS)
    with connection.cursor() as cursor:
        # Django's CursorWrapper has no copy(), so COPY runs on its `cursor`, the psycopg 3 cursor.
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def stored_entries(record: ImportRecord, *entities: str) -> Iterator[dict]:
    """Yield the record's stored entries of `entities` (all when none are given), in plan order."""
    if entities:
        return record.plan_entries(entity__in=entities)
    return record.plan_entries()


def read_summary(record: ImportRecord) -> dict:
    """Return the record's plan summary, computing it from the entries for a record
    stored without one."""
    if record.plan_summary:
        return record.plan_summary
    return summarise(stored_entries(record), record.kind)


def delete_plan(record: ImportRecord) -> int:
    """Delete the stored entries of a record whose plan can no longer be applied."""
    deleted, _ = ImportEntry.objects.filter(record_id=record.pk).delete()
    return deleted


# Statuses whose stored plan can still be applied.
PENDING_STATUSES = (ImportRecord.Status.PREVIEWED, ImportRecord.Status.REFUSED)


def expire_old_plans(max_age: datetime.timedelta, *, now: datetime.datetime | None = None) -> tuple[int, int]:
    """Expire the previews older than `max_age` and delete the plans that can no longer
    be applied. Returns (records expired, entries deleted).

    A previewed or refused import older than `max_age` becomes STALE, asking for a new
    upload. Stale and failed imports lose their entries. Applied imports keep theirs,
    which are their per-row changes.
    """
    cutoff = (now or timezone.now()) - max_age
    old_previews = ImportRecord.objects.filter(status__in=PENDING_STATUSES, created_at__lt=cutoff)
    expired = old_previews.update(
        status=ImportRecord.Status.STALE,
        errors=[f"the preview expired after {max_age.days} days without being confirmed; upload the file again"],
    )
    dead = ImportRecord.objects.filter(status__in=(ImportRecord.Status.STALE, ImportRecord.Status.FAILED))
    deleted, _ = ImportEntry.objects.filter(record__in=dead).delete()
    logger.info("Expired %d import previews and deleted %d plan entries", expired, deleted)
    return expired, deleted
