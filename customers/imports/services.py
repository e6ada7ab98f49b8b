"""Entry points for importing a spreadsheet into a source: in one step (`import_file`), or
in two steps for the admin (`import_preview`, then `import_confirm`).

Every call saves an ImportRecord, also when the file is rejected. A rejected file writes
nothing to the ledger tables; an applied plan is written in one transaction.
"""

import hashlib
import logging
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from customers.imports import pipeline
from customers.imports.errors import ImportFileError
from customers.imports.layouts import LAYOUT_SHORT_NAMES, LAYOUTS, detect_layout
from customers.imports.readers import read_table
from customers.models import ImportRecord, Source

logger = logging.getLogger(__name__)

IMPORT_KINDS = (ImportRecord.Kind.INVOICES, ImportRecord.Kind.PAYMENTS)
# An applied import keeps at most this many change entries, and no unchanged rows.
# `counts` still covers every row.
CHANGES_LIMIT = 1000
DEFAULT_SOURCE_NAMES = {"stripe-invoices": "Stripe"}
DEFAULT_SOURCE_NAME = "Spreadsheet"


# Display order of `counts`. PostgreSQL's jsonb does not keep the order of object keys.
COUNT_ENTITIES = ("customers", "invoices", "payments")
COUNT_ACTIONS = ("created", "updated", "unchanged", "skipped", "recorded")


class ImportStateError(ValueError):
    """The import record is not in a state that allows the requested step."""


def ordered_counts(counts: dict) -> list[tuple[str, list[tuple[str, int]]]]:
    """Return the per-entity counts of an import record as (entity, [(action, count)]) in display order."""
    rows = []
    for entity in COUNT_ENTITIES:
        values = (counts or {}).get(entity)
        if isinstance(values, dict):
            rows.append((entity, [(action, values[action]) for action in COUNT_ACTIONS if action in values]))
    return rows


def default_source_name(layout_name: str) -> str:
    """Return the source name used when the caller gives none: "Stripe" or "Spreadsheet"."""
    return DEFAULT_SOURCE_NAMES.get(layout_name, DEFAULT_SOURCE_NAME)


def detect_file_layout(path, *, kind: str, layout: str | None = None, file_name: str | None = None) -> str:
    """Return the name of the layout that reads the file; raise ImportFileError if none does."""
    table = read_table(path, file_name=file_name)
    return detect_layout(table.headers, kind=kind, layout_name=layout).layout.name


def import_file(
    path,
    *,
    kind: str,
    source_name: str,
    layout: str | None = None,
    user=None,
    dry_run: bool = False,
    historical: bool | None = None,
    file_name: str | None = None,
) -> ImportRecord:
    """Validate and apply a file; with `dry_run`, stop after the preview.

    Returns the saved record: REFUSED with `errors` when any row is rejected, PREVIEWED
    for a dry run, else APPLIED, or UNCHANGED when the file matches the stored data.
    `historical` None means True for the source's first applied import (its payments
    send no thank-you), else False.
    """
    record = import_preview(
        path, kind=kind, source_name=source_name, layout=layout, user=user, historical=historical, file_name=file_name
    )
    if dry_run or record.status != ImportRecord.Status.PREVIEWED:
        return record
    return import_confirm(record, user)


def import_preview(
    path,
    *,
    kind: str,
    source_name: str,
    layout: str | None = None,
    user=None,
    historical: bool | None = None,
    file_name: str | None = None,
    progress=None,
    is_snapshot: bool = False,
    saved_layout=None,
    encoding: str | None = None,
    delimiter: str | None = None,
    date_order: str | None = None,
) -> ImportRecord:
    """Validate a file and store its plan, with each target row's version, on a PREVIEWED
    record (or a REFUSED one with the errors). Writes nothing to the ledger tables."""
    if kind not in IMPORT_KINDS:
        raise ValueError(f"unknown import kind {kind!r}; use invoices or payments")
    source_name = (source_name or "").strip()
    if not source_name:
        raise ValueError("source_name is empty; name the source the file comes from")

    data = Path(path).read_bytes()
    record = ImportRecord(
        kind=kind,
        layout=layout or "",
        file_name=(file_name or Path(path).name)[:255],  # ImportRecord.file_name max_length
        file_sha256=hashlib.sha256(data).hexdigest(),
        created_by=user,
    )

    try:
        table = read_table(path, file_name=record.file_name)
        match = detect_layout(table.headers, kind=kind, layout_name=layout)
        # An empty export is more likely a mistake than a ledger with nothing in it, and
        # applying it would mark the source's data as fresh.
        if not table.rows:
            raise ImportFileError("the file has no data rows below the header; export the rows too")
    except ImportFileError as error:
        record.source = get_or_create_source(source_name, layout_hint=layout, kind=kind)
        record.is_historical = resolve_historical(record.source, historical)
        record.status = ImportRecord.Status.REFUSED
        record.errors = [str(error)]
        record.save()
        logger.info("Import of %s into %s rejected: %s", record.file_name, source_name, error)
        return record

    record.layout = match.layout.name
    record.source = get_or_create_source(source_name, layout_hint=match.layout.name, kind=kind)
    record.is_historical = resolve_historical(record.source, historical)
    record.row_count = len(table.rows)

    validation = pipeline.validate(table, match)
    entries: list[dict] = []
    if kind == ImportRecord.Kind.PAYMENTS:
        # Matching rows to invoices finds more errors (unknown invoice, other currency), so
        # it runs on the valid rows even when others failed, to report every error at once.
        entries = pipeline.plan_payments(validation, record.source)
    elif not validation.errors:
        entries = pipeline.plan_invoices(validation, record.source)

    if validation.errors:
        entries = []
    record.counts = {"rows": record.row_count, **pipeline.count_entries(entries, kind)}
    if validation.errors:
        record.status = ImportRecord.Status.REFUSED
        record.errors = validation.messages()
        logger.info("Import of %s into %s rejected with %d errors", record.file_name, source_name, len(record.errors))
    else:
        record.status = ImportRecord.Status.PREVIEWED
        # The whole plan is kept until confirmation, which applies exactly these entries.
        record.plan = entries
        record.changes, _omitted = cap_changes(entries)
    record.save()
    return record


def import_confirm(
    record: ImportRecord,
    user=None,
    *,
    progress=None,
    hold_back_refused: bool = False,
    confirm_closing: bool = False,
) -> ImportRecord:
    """Apply the plan stored by `import_preview`, exactly, in one transaction.

    Sets STALE and writes nothing if a row the plan targets changed since the preview.
    Raises ImportStateError unless the record is PREVIEWED (a second confirmation of the
    same record is rejected, not applied twice).
    """
    try:
        with transaction.atomic():
            record = ImportRecord.objects.select_for_update().select_related("source").get(pk=record.pk)
            if record.status != ImportRecord.Status.PREVIEWED:
                raise ImportStateError(
                    f"import {record.pk} is {record.get_status_display().lower()}; only a previewed import can be applied"
                )
            entries = record.plan or record.changes
            pipeline.apply_plan(record, entries, user=user)

            changed = pipeline.plan_changes_anything(entries)
            record.status = ImportRecord.Status.APPLIED if changed else ImportRecord.Status.UNCHANGED
            record.applied_at = timezone.now()
            record.changes, omitted = cap_changes(entries)
            if omitted:
                record.counts = {**record.counts, "changes_not_stored": omitted}
            record.save(update_fields=["status", "applied_at", "changes", "counts"])
    except pipeline.StalePlanError as error:
        ImportRecord.objects.filter(pk=record.pk).update(status=ImportRecord.Status.STALE, errors=[str(error)])
        logger.info("Import %s is stale: %s", record.pk, error)
    except ImportStateError:
        raise
    except Exception as error:
        ImportRecord.objects.filter(pk=record.pk).update(
            status=ImportRecord.Status.FAILED,
            errors=[f"the import failed and wrote nothing: {error}; report this with the file"],
        )
        logger.exception("Import %s failed", record.pk)
        raise
    record.refresh_from_db()
    logger.info("Import %s of %s: %s %s", record.pk, record.file_name, record.status, record.counts)
    return record


def cap_changes(entries: list[dict]) -> tuple[list[dict], int]:
    """Keep the entries that changed something, at most CHANGES_LIMIT; return them and how many were left out."""
    changed_entries = [entry for entry in entries if entry["action"] != "unchanged" or entry.get("payment")]
    return changed_entries[:CHANGES_LIMIT], max(len(changed_entries) - CHANGES_LIMIT, 0)


def get_or_create_source(name: str, *, layout_hint: str | None, kind: str) -> Source:
    full_name = LAYOUT_SHORT_NAMES.get(layout_hint or "", {}).get(kind, layout_hint or "")
    source_kind = LAYOUTS[full_name].source_kind if full_name in LAYOUTS else Source.Kind.TEMPLATE
    source, _ = Source.objects.get_or_create(name=name, defaults={"kind": source_kind})
    return source


def resolve_historical(source: Source, historical: bool | None) -> bool:
    if historical is not None:
        return historical
    applied = (ImportRecord.Status.APPLIED, ImportRecord.Status.UNCHANGED)
    return not source.imports.filter(status__in=applied).exists()
