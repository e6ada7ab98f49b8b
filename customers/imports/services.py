"""Entry points for importing a spreadsheet into a source: in one step (`import_file`), or
in two steps for the admin (`import_preview`, then `import_confirm`).

Every call saves an ImportRecord, also when the file is rejected. A rejected file writes
nothing to the ledger tables; an applied plan is written in one transaction.
"""

import contextlib
import gc
import hashlib
import logging
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from customers.imports import entities, parsing, pipeline, plan_store
from customers.imports.errors import ImportFileError
from customers.imports.layouts import DATE_ORDERS, LAYOUT_SHORT_NAMES, LAYOUTS, detect_layout
from customers.imports.readers import describe_delimiter, read_table
from customers.imports.saved_layouts import layout_fields, layout_from_saved, saved_layout_save  # noqa: F401  (public API)
from customers.models import ImportRecord, Source
from dunning_site import roles

logger = logging.getLogger(__name__)

IMPORT_KINDS = (ImportRecord.Kind.INVOICES, ImportRecord.Kind.PAYMENTS, ImportRecord.Kind.CUSTOMERS, ImportRecord.Kind.CARDS)
# Currency of a report without a currency column when the source has no invoices yet:
# QuickBooks Online's A/R Aging Detail shows amounts in the company's home currency.
REPORT_DEFAULT_CURRENCY = "USD"
DEFAULT_SOURCE_NAMES = {
    "stripe-invoices": "Stripe",
    "stripe-customers": "Stripe",
    "stripe-cards": "Stripe",
    "xero-invoices": "Xero",
    "quickbooks-ar-aging": "QuickBooks",
}
DEFAULT_SOURCE_NAME = "Spreadsheet"


# Display order of `counts`. PostgreSQL's jsonb does not keep the order of object keys.
COUNT_ENTITIES = ("customers", "invoices", "credits", "cards", "payments")
COUNT_ACTIONS = ("created", "updated", "unchanged", "skipped", "closed", "recorded", "upgraded")


class ImportStateError(ValueError):
    """The import record is not in a state that allows the requested step."""


class ImportPermissionError(ImportStateError):
    """The user may not apply an import this way (valid rows only needs a manager)."""


class ClosingNotConfirmedError(ImportStateError):
    """A snapshot would close more than a fifth of the source's open invoices, and the
    closing was not confirmed."""


@contextlib.contextmanager
def cyclic_gc_paused():
    """Pause Python's cyclic garbage collector, and restore its state on exit.

    An import keeps several container objects per row until it ends, and every collection
    walks all of them. On the machine in docs/benchmarks.md, bench/import_baselines.py
    measured a 100,000-row preview at 15.5 s with the collector running and 11.7 s
    without. The collector is process-wide, so another thread's import may turn it back
    on early, which only costs time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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


def detect_file_layout(
    path, *, kind: str, layout: str | None = None, file_name: str | None = None, encoding=None, delimiter=None
) -> str:
    """Return the name of the layout that reads the file; raise ImportFileError if none does."""
    table = read_table(path, file_name=file_name, encoding=encoding, delimiter=delimiter)
    return detect_layout(table, kind=kind, layout_name=layout).layout.name


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
    confirm_closing: bool = False,
    **preview_options,
) -> ImportRecord:
    """Validate and apply a file; with `dry_run`, stop after the preview.

    Returns the saved record: REFUSED with `errors` when any row is rejected, PREVIEWED
    for a dry run, else APPLIED, or UNCHANGED when the file matches the stored data.
    `historical` None means True for the source's first applied import (its payments
    send no thank-you), else False. `preview_options` are those of `import_preview`
    (is_snapshot, saved_layout, encoding, delimiter, date_order, currency, progress).
    """
    record = import_preview(
        path,
        kind=kind,
        source_name=source_name,
        layout=layout,
        user=user,
        historical=historical,
        file_name=file_name,
        **preview_options,
    )
    if dry_run or record.status != ImportRecord.Status.PREVIEWED:
        return record
    return import_confirm(record, user, progress=preview_options.get("progress"), confirm_closing=confirm_closing)


@cyclic_gc_paused()
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
    currency: str | None = None,
    into: ImportRecord | None = None,
) -> ImportRecord:
    """Validate a file and store its plan, with each target row's version, on a PREVIEWED
    record (or a REFUSED one with the errors). Writes nothing to the ledger tables.

    `progress(done, total)` is called at least every 1,000 rows while parsing and
    planning. `is_snapshot` marks a file that contains every open invoice of the source (the
    QuickBooks A/R Aging Detail layout always does). `saved_layout` reads the file with a
    SavedLayout's mapping. `encoding`, `delimiter` and `date_order` ("day_first" or
    "month_first") override the detection. `currency` is used for rows of a file
    without a currency column. A REFUSED record still stores the plan of its valid rows
    as its entries, for a manager to apply with
    `import_confirm(..., hold_back_refused=True)`. `into` is a saved record to fill, as
    the background task's, instead of a new one; its file and progress fields are kept.
    """
    if kind not in IMPORT_KINDS:
        raise ValueError(f"unknown import kind {kind!r}; use one of: {', '.join(IMPORT_KINDS)}")
    source_name = (source_name or "").strip()
    if not source_name:
        raise ValueError("source_name is empty; name the source the file comes from")
    date_order = normalise_date_order(date_order)

    with open(path, "rb") as handle:
        file_sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
    record = into if into is not None else ImportRecord()
    fresh_fields = {
        "kind": kind,
        "layout": layout or "",
        "file_name": (file_name or Path(path).name)[:255],  # ImportRecord.file_name max_length
        "file_sha256": file_sha256,
        "created_by": user,
        "saved_layout": saved_layout,
        "counts": {},
        "errors": [],
        "warnings": [],
        "changes": [],
        "plan_summary": {},
    }
    for name, value in fresh_fields.items():
        setattr(record, name, value)

    try:
        table = read_table(path, file_name=record.file_name, encoding=encoding, delimiter=delimiter)
        layout_object = None
        if saved_layout is not None:
            if saved_layout.kind != kind:
                raise ImportFileError(
                    f'the saved layout "{saved_layout.name}" reads {saved_layout.kind} files, not {kind}; '
                    "choose a saved layout of this kind"
                )
            layout_object = layout_from_saved(saved_layout)
        match = detect_layout(table, kind=kind, layout_name=layout, layout=layout_object)
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
    record.is_snapshot = bool(is_snapshot or match.layout.is_snapshot) and kind == ImportRecord.Kind.INVOICES

    context = pipeline.ParseContext(date_order=date_order or match.layout.date_order, epoch=table.epoch)
    warnings: list[str] = []
    if match.layout.builder == "quickbooks" and "currency" not in match.positions:
        context.default_currency = report_currency(record.source, currency, warnings)

    # The record is saved before planning because the plan's entries refer to it.
    record.status = ImportRecord.Status.RUNNING
    record.save()
    try:
        validation, writer, snapshot = plan_file(record, table, match, context, progress)
    except ImportFileError as error:
        record.entries.all().delete()
        record.status = ImportRecord.Status.REFUSED
        record.errors = [str(error)]
        record.save()
        logger.info("Import of %s into %s rejected: %s", record.file_name, source_name, error)
        return record
    except BaseException as error:
        # Also on Ctrl-C in the import command, so the record does not stay "running".
        # NOTE: a process killed outright leaves the record running with part of its plan.
        record.entries.all().delete()
        if isinstance(error, KeyboardInterrupt):
            message = "the preview was stopped before it finished and stored nothing; import the file again"
        else:
            message = f"the preview failed and stored nothing ({type(error).__name__}: {error}); report this with the file"
        ImportRecord.objects.filter(pk=record.pk).update(status=ImportRecord.Status.FAILED, errors=[message])
        raise

    if snapshot is not None:
        open_count, closing = snapshot
        record.counts = {"snapshot": {"open": open_count, "closing": closing}}
        if closing:
            warnings.append(entities.closing_summary(closing, open_count))
    if progress is not None:
        progress(record.row_count, record.row_count)

    summary = {**writer.summary.as_json(), "entries": writer.position}
    refused_rows = len({row for row, _position, _message in validation.errors})
    record.counts = {
        "rows": record.row_count,
        **record.counts,
        **(plan_store.empty_counts(kind) if validation.errors else summary["counts"]),
        "detected": detected_settings(table, context),
    }
    record.warnings = warnings + validation.warnings
    record.plan_summary = summary
    if validation.errors:
        record.status = ImportRecord.Status.REFUSED
        record.errors = validation.messages()
        record.counts["refused_rows"] = refused_rows
        logger.info("Import of %s into %s rejected with %d errors", record.file_name, source_name, len(record.errors))
    else:
        record.status = ImportRecord.Status.PREVIEWED
        record.changes = summary["changes"]
    record.save()
    return record


def plan_file(record: ImportRecord, table, match, context, progress):
    """Validate the file's rows and store the plan of the valid ones as the record's
    entries, a chunk at a time where the layout allows.

    Returns the validation, the writer (with the plan's summary) and, for a snapshot, the
    source's open invoices and how many of them the plan closes, else None.
    """
    source = record.source
    kind = record.kind
    writer = plan_store.PlanWriter(record)

    def plan_rows(validation) -> None:
        writer.write(plan_entries(validation, source, kind))
        validation.rows.clear()
        validation.skipped.clear()

    try:
        validation = pipeline.validate(
            table,
            match,
            context=context,
            progress=progress,
            on_rows=plan_rows,
            prove_date_order=False,
            keep_file_keys=record.is_snapshot,
        )
    except pipeline.DateOrderNeeded:
        # The file has D/M/Y dates: plan it again after a pass that proves their order.
        record.entries.all().delete()
        writer = plan_store.PlanWriter(record)
        validation = pipeline.validate(
            table, match, context=context, progress=progress, on_rows=plan_rows, keep_file_keys=record.is_snapshot
        )
    record.row_count = validation.row_count
    snapshot = None
    if record.is_snapshot:
        closings, open_count = entities.plan_closings(source, validation.file_keys)
        writer.write(closings)
        snapshot = (open_count, len(closings))
    # Valid rows that need a refused one; a manager cannot apply the file without them.
    writer.write(validation.blocked)
    writer.flush()
    return validation, writer, snapshot


def plan_entries(validation, source: Source, kind: str) -> list[dict]:
    """Plan the valid rows. Matching payments and cards to stored rows finds more errors
    (unknown invoice, other currency), which go to `validation`."""
    if kind == ImportRecord.Kind.PAYMENTS:
        return pipeline.plan_payments(validation, source)
    if kind == ImportRecord.Kind.CARDS:
        return entities.plan_cards(validation, source)
    if kind == ImportRecord.Kind.CUSTOMERS:
        return pipeline.plan_customers(validation, source)
    return pipeline.plan_invoices(validation, source)


def report_currency(source: Source, currency: str | None, warnings: list[str]) -> str:
    """Return the currency of a report without a currency column: the one given, else
    the only currency of the source's invoices, else USD with a warning."""
    if currency:
        return parsing.parse_currency(currency)
    currencies = list(source.invoices.order_by().values_list("currency", flat=True).distinct()[:2])
    if len(currencies) == 1:
        return currencies[0]
    warnings.append(
        f"the file has no Currency column, so its amounts were read as {REPORT_DEFAULT_CURRENCY}; "
        "choose the currency of the report if it is another one"
    )
    return REPORT_DEFAULT_CURRENCY


def normalise_date_order(date_order: str | None) -> str:
    """Accept "day_first", "day-first", "month_first", "month-first", "" or None."""
    value = (date_order or "").strip().lower().replace("-", "_")
    if value not in DATE_ORDERS:
        raise ValueError(f"unknown date order {date_order!r}; use day_first or month_first")
    return value


def detected_settings(table, context) -> dict:
    return {
        "format": table.file_format,
        "encoding": table.encoding,
        "delimiter": describe_delimiter(table.delimiter) if table.delimiter else "",
        "date_order": "unknown (ambiguous dates)" if context.date_order_unproven else context.date_order or "not needed",
        "header_row": table.header_row,
    }


def user_is_manager(user) -> bool:
    """Managers (the collections manager role) and superusers may apply a file's valid rows only."""
    return roles.is_manager(user)


@cyclic_gc_paused()
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
    Raises ImportStateError unless the record is PREVIEWED, so a second confirmation of
    the same record is rejected, not applied twice. With `hold_back_refused`, a manager
    may also apply a REFUSED record: its valid rows are applied and the refused ones held
    back, unless a valid row needs a refused one. A snapshot that would close more than a
    fifth of the source's open invoices raises ClosingNotConfirmedError unless
    `confirm_closing` is set.
    """
    try:
        with transaction.atomic():
            record = ImportRecord.objects.select_for_update().select_related("source").get(pk=record.pk)
            if not record.entries.exists() and record.changes:
                # A record stored before plans had entries of their own keeps its plan in `changes`.
                record.plan = record.changes
                record.save(update_fields=[])
            check_confirmable(record, user, hold_back_refused=hold_back_refused, confirm_closing=confirm_closing)
            check_plan_complete(record)
            pipeline.apply_plan(record, user=user, progress=progress)

            summary = plan_store.read_summary(record)
            record.status = ImportRecord.Status.APPLIED if summary["changes_anything"] else ImportRecord.Status.UNCHANGED
            record.applied_at = timezone.now()
            record.confirmed_by = user
            record.changes = summary["changes"]
            if hold_back_refused:
                record.hold_back_refused = True
                record.counts = {**record.counts, **summary["counts"]}
            if summary["changes_omitted"]:
                record.counts = {**record.counts, "changes_not_stored": summary["changes_omitted"]}
            record.save(update_fields=["status", "applied_at", "changes", "counts", "confirmed_by", "hold_back_refused"])
            # Rows the import left as they were are only counted, so their entries are dropped.
            record.entries.filter(action="unchanged").delete()
    except pipeline.StalePlanError as error:
        ImportRecord.objects.filter(pk=record.pk).update(status=ImportRecord.Status.STALE, errors=[str(error)])
        # A stale plan can never be applied, so its entries are deleted.
        plan_store.delete_plan(record)
        logger.info("Import %s is stale: %s", record.pk, error)
    except ImportStateError:
        raise
    except KeyboardInterrupt:
        # The import command stopped by Ctrl-C: staff meant to abandon this plan.
        ImportRecord.objects.filter(pk=record.pk).update(
            status=ImportRecord.Status.FAILED,
            errors=["the import was stopped before it finished and wrote nothing; import the file again"],
        )
        plan_store.delete_plan(record)
        logger.info("Import %s was stopped before it finished", record.pk)
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


def check_plan_complete(record: ImportRecord) -> None:
    """Raise ImportStateError when the record has another number of stored entries than
    its preview wrote, for example after entries were deleted by hand."""
    expected = (record.plan_summary or {}).get("entries")
    if expected is not None and record.entries.count() != expected:
        raise ImportStateError(
            f"the stored plan of import {record.pk} is incomplete; upload the file again for a new preview"
        )


def check_confirmable(record: ImportRecord, user, *, hold_back_refused: bool, confirm_closing: bool) -> None:
    """Raise ImportStateError (or a subclass) unless `record` may be applied now."""
    status_name = record.get_status_display().lower()
    if hold_back_refused:
        if record.status not in (ImportRecord.Status.PREVIEWED, ImportRecord.Status.REFUSED):
            raise ImportStateError(f"import {record.pk} is {status_name}; only a previewed or refused import can be applied")
        if not user_is_manager(user):
            raise ImportPermissionError(
                "only a collections manager or a superuser may apply the valid rows and hold back the refused ones"
            )
        blocked = [entry["note"] for entry in plan_store.stored_entries(record, "blocked")]
        if blocked:
            raise ImportStateError(
                "the valid rows cannot be applied without rejected ones: " + "; ".join(blocked) + "; correct the file and import it again"
            )
        if not record.entries.exclude(entity="blocked").exists() and record.status == ImportRecord.Status.REFUSED:
            raise ImportStateError(f"import {record.pk} has no valid rows to apply; correct the file and import it again")
    elif record.status != ImportRecord.Status.PREVIEWED:
        raise ImportStateError(f"import {record.pk} is {status_name}; only a previewed import can be applied")

    closing = record.entries.filter(entity="close").count()
    open_count = (record.counts.get("snapshot") or {}).get("open", 0)
    if not confirm_closing and entities.closing_needs_confirmation(closing, open_count):
        raise ClosingNotConfirmedError(
            f"{entities.closing_summary(closing, open_count)}, more than a fifth; "
            "check that the file is complete and confirm the closing to apply it"
        )


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
