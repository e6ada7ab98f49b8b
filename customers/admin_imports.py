"""Admin for spreadsheet imports: the list of imports, the upload -> preview -> confirm
workflow that calls `customers.imports.services`, and saved column layouts.

Files above `jobs.BACKGROUND_ROW_LIMIT` data rows are previewed and applied in django-q2
tasks (`customers.imports.jobs`): the request returns at once to a progress page that
reloads itself, and a status URL returns the same progress as JSON.

Uploading and confirming need the `customers.add_importrecord` permission (403 without
it). Confirming "the valid rows only, holding back the refused ones" is for collections
managers and superusers. Only the confirm POSTs write to the ledger; every GET is
read-only. File content is untrusted, so templates show it with autoescaping only (no
`safe`), and downloads escape cells that a spreadsheet would run as formulas.
"""

import csv
import datetime
import hashlib
import io
import json
import os
import re
import tempfile
from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from customers.exports import escape_formula
from customers.imports import entities, jobs, plan_store, services
from customers.imports.errors import ImportFileError
from customers.imports.layouts import LAYOUTS
from customers.models import ImportRecord, Invoice, SavedLayout, Source
from dunning_site.admin_base import DunningModelAdmin

IMPORT_PERMISSION = "customers.add_importrecord"
# Larger files take longer to upload than a web request should; import them with the
# import_spreadsheet management command.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
UPLOAD_SUFFIXES = (".csv", ".txt", ".xlsx")
PREVIEW_ROWS_PER_GROUP = 100
# Characters of the CSV download sent at a time.
DOWNLOAD_CHUNK = 1 << 16
SAVED_LAYOUT_PREFIX = "saved:"
# Record fields that can hold one entry per row; the progress views polled every 2 s skip them.
LARGE_FIELDS = ("plan_summary", "changes", "warnings")

HISTORICAL_CHOICES = [
    ("auto", _("Only if this is the source's first import")),
    ("yes", _("Yes: record payments without thank-you messages")),
    ("no", _("No: thank customers for recent payments")),
]
HISTORICAL_VALUES = {"auto": None, "yes": True, "no": False}
ENCODING_CHOICES = [
    ("", _("Detect (UTF-8, else Windows-1252)")),
    ("utf-8", "UTF-8"),
    ("windows-1252", "Windows-1252"),
    ("iso-8859-1", "ISO-8859-1 (Latin-1)"),
]
DELIMITER_CHOICES = [("", _("Detect from the header row")), (",", _("Comma")), (";", _("Semicolon")), ("\t", _("Tab"))]
ENTITY_TITLES = {
    "customer": _("Customers"),
    "invoice": _("Invoices"),
    "close": _("Invoices"),
    "payment": _("Payments"),
    "credit": _("Credits"),
    "card": _("Cards"),
}
BLOCKED_TITLE = _("Valid rows held back because they need a refused row")
ACTION_TITLES = {
    "create": _("created"),
    "update": _("updated"),
    "unchanged": _("unchanged"),
    "skip": _("skipped"),
    "record": _("recorded"),
    "upgrade": _("upgraded"),
    "close": _("closing"),
}
DOWNLOAD_COLUMNS = ["change", "entity", "row", "key", "details", "message"]
ROW_IN_MESSAGE = re.compile(r"^row (\d+)\b")


def layout_choices(kind: str | None = None) -> list[tuple[str, str]]:
    """Return the layout choices of the upload form: detect, the built-in layouts, saved layouts."""
    choices = [("", _("Detect from the header row"))]
    choices += [(layout.name, layout.title) for layout in LAYOUTS.values() if kind is None or layout.kind == kind]
    saved = SavedLayout.objects.order_by("name")
    choices += [(f"{SAVED_LAYOUT_PREFIX}{layout.pk}", _("Saved: %(name)s") % {"name": layout.name}) for layout in saved]
    return choices


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(label=_("File contains"))
    source_name = forms.CharField(
        label=_("Source"),
        max_length=100,
        help_text=_("The ledger the file comes from, such as Stripe or Spreadsheet; a new name creates the source."),
    )
    file = forms.FileField(label=_("CSV or XLSX file"))
    layout = forms.ChoiceField(label=_("Layout"), required=False)
    historical = forms.ChoiceField(label=_("Historical payments"), choices=HISTORICAL_CHOICES, initial="auto")
    is_snapshot = forms.BooleanField(
        label=_("This file holds every open invoice"),
        required=False,
        help_text=_("Open invoices of the source that are missing from the file are closed when the import is applied."),
    )
    encoding = forms.ChoiceField(label=_("Encoding"), choices=ENCODING_CHOICES, required=False)
    delimiter = forms.ChoiceField(label=_("Delimiter (CSV)"), choices=DELIMITER_CHOICES, required=False)
    date_order = forms.ChoiceField(label=_("Date order"), choices=SavedLayout.DateOrder.choices, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(kind.value, kind.label) for kind in map(ImportRecord.Kind, services.IMPORT_KINDS)]
        self.fields["layout"].choices = layout_choices()
        self.fields["source_name"].widget.attrs["list"] = "source-names"

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(UPLOAD_SUFFIXES):
            raise forms.ValidationError(_("Upload a .csv or .xlsx file; save other formats as one of these first."))
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(limit)d MB; import it with the import_spreadsheet command instead.")
                % {"limit": MAX_UPLOAD_BYTES // (1024 * 1024)}
            )
        return upload

    def clean(self):
        cleaned = super().clean()
        layout = cleaned.get("layout") or ""
        kind = cleaned.get("kind")
        cleaned["saved_layout"] = None
        if layout.startswith(SAVED_LAYOUT_PREFIX):
            saved = SavedLayout.objects.filter(pk=layout.removeprefix(SAVED_LAYOUT_PREFIX)).first()
            if saved is None:
                self.add_error("layout", _("This saved layout no longer exists; choose another one."))
            elif kind and saved.kind != kind:
                self.add_error("layout", _("This saved layout does not contain %(kind)s.") % {"kind": kind})
            cleaned["saved_layout"] = saved
            cleaned["layout"] = ""
        elif layout and kind and LAYOUTS[layout].kind != kind:
            self.add_error("layout", _("This layout does not contain %(kind)s.") % {"kind": kind})
        return cleaned


@admin.register(ImportRecord)
class ImportRecordAdmin(DunningModelAdmin):
    list_display = ("created_at", "created_by", "source", "file_name", "layout", "kind", "status", "counts_summary")
    list_display_links = ("created_at", "file_name")
    list_filter = ("status", "kind")
    list_select_related = ("source", "created_by")
    search_fields = ("file_name",)
    ordering = ("-created_at",)
    change_list_template = "admin/customers/importrecord/change_list.html"

    # Import records are written only by the import services.
    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("counts"))
    def counts_summary(self, record):
        return counts_text(record.counts)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        custom = [
            path("import/", view(self.import_view), name="%s_%s_import" % info),
            path("<int:object_id>/preview/", view(self.preview_view), name="%s_%s_preview" % info),
            path("<int:object_id>/progress/", view(self.progress_view), name="%s_%s_progress" % info),
            path("<int:object_id>/status/", view(self.status_view), name="%s_%s_status" % info),
            path("<int:object_id>/download.csv", view(self.download_csv_view), name="%s_%s_download_csv" % info),
            path("<int:object_id>/download.xlsx", view(self.download_xlsx_view), name="%s_%s_download_xlsx" % info),
            path("<int:object_id>/confirm/", view(require_POST(self.confirm_view)), name="%s_%s_confirm" % info),
            path(
                "<int:object_id>/confirm-valid-rows/",
                view(require_POST(self.confirm_valid_rows_view)),
                name="%s_%s_confirm_valid_rows" % info,
            ),
        ]
        return custom + super().get_urls()

    def add_view(self, request, form_url="", extra_context=None):
        return redirect("admin:customers_importrecord_import")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return redirect("admin:customers_importrecord_preview", object_id=object_id)

    def check_import_permission(self, request):
        if not request.user.has_perm(IMPORT_PERMISSION):
            raise PermissionDenied

    def check_view_permission(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied

    # Upload -------------------------------------------------------------------------

    def import_view(self, request):
        self.check_import_permission(request)
        if request.method == "POST":
            form = ImportUploadForm(request.POST, request.FILES)
            if form.is_valid():
                data = read_upload(form.cleaned_data["file"])
                if jobs.runs_in_background(data):
                    record = queue_upload(request.user, form.cleaned_data, data)
                    return redirect("admin:customers_importrecord_progress", object_id=record.pk)
                record = preview_upload(request.user, form.cleaned_data, data)
                return redirect("admin:customers_importrecord_preview", object_id=record.pk)
        else:
            form = ImportUploadForm(initial={"source_name": services.DEFAULT_SOURCE_NAME})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Import a spreadsheet"),
            "form": form,
            "source_names": Source.objects.values_list("name", flat=True),
            "max_upload_mb": MAX_UPLOAD_BYTES // (1024 * 1024),
            "background_row_limit": jobs.BACKGROUND_ROW_LIMIT,
            "can_save_layout": request.user.has_perm(IMPORT_PERMISSION),
        }
        return TemplateResponse(request, "admin/customers/importrecord/import_form.html", context)

    # Progress -----------------------------------------------------------------------

    def progress_view(self, request, object_id):
        self.check_view_permission(request)
        record = get_object_or_404(ImportRecord.objects.select_related("source").defer(*LARGE_FIELDS), pk=object_id)
        if not jobs.is_in_progress(record):
            return redirect("admin:customers_importrecord_preview", object_id=record.pk)
        progress = progress_data(record)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Importing %(file)s") % {"file": record.file_name},
            "record": record,
            "progress": progress,
            "progress_at": datetime.datetime.fromisoformat(progress["updated_at"]) if progress["updated_at"] else None,
            "refresh_seconds": 2,
        }
        return TemplateResponse(request, "admin/customers/importrecord/import_progress.html", context)

    def status_view(self, request, object_id):
        self.check_view_permission(request)
        record = get_object_or_404(ImportRecord.objects.defer(*LARGE_FIELDS), pk=object_id)
        return JsonResponse(progress_data(record))

    # Preview and downloads ----------------------------------------------------------

    def preview_view(self, request, object_id):
        self.check_view_permission(request)
        record = get_object_or_404(ImportRecord.objects.select_related("source", "created_by", "saved_layout"), pk=object_id)
        if jobs.is_in_progress(record):
            return redirect("admin:customers_importrecord_progress", object_id=record.pk)
        layout = LAYOUTS.get(record.layout)
        closing = closing_summary(record)
        blocked_notes = [entry.get("note", "") for entry in plan_entries(record, "blocked")]
        can_import = request.user.has_perm(IMPORT_PERMISSION)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Import of %(file)s") % {"file": record.file_name},
            "record": record,
            "layout_title": layout.title if layout else "",
            "count_rows": services.ordered_counts(record.counts),
            "change_groups": change_groups(plan_entries(record)),
            "errors_shown": record.errors[:PREVIEW_ROWS_PER_GROUP],
            "warnings_shown": record.warnings[:PREVIEW_ROWS_PER_GROUP],
            "closing": closing,
            "can_confirm": record.status == ImportRecord.Status.PREVIEWED and can_import,
            "blocked_notes": blocked_notes,
            "detected": (record.counts or {}).get("detected") or {},
            "can_hold_back": can_hold_back(record, has_blocked=bool(blocked_notes)) and services.user_is_manager(request.user),
            "preview_limit": PREVIEW_ROWS_PER_GROUP,
        }
        return TemplateResponse(request, "admin/customers/importrecord/import_preview.html", context)

    def download_csv_view(self, request, object_id):
        self.check_view_permission(request)
        record = get_object_or_404(ImportRecord, pk=object_id)
        response = StreamingHttpResponse(csv_download_chunks(record), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{download_name(record)}.csv"'
        return response

    def download_xlsx_view(self, request, object_id):
        import openpyxl

        self.check_view_permission(request)
        record = get_object_or_404(ImportRecord, pk=object_id)
        workbook = openpyxl.Workbook(write_only=True)
        sheet = workbook.create_sheet("changes")
        sheet.append(DOWNLOAD_COLUMNS)
        for row in download_rows(record):
            sheet.append([escape_formula(value) for value in row])
        buffer = io.BytesIO()
        workbook.save(buffer)
        response = HttpResponse(
            buffer.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        response["Content-Disposition"] = f'attachment; filename="{download_name(record)}.xlsx"'
        return response

    # Confirm ------------------------------------------------------------------------

    def confirm_view(self, request, object_id):
        self.check_import_permission(request)
        return self.confirm(request, object_id, hold_back_refused=False)

    def confirm_valid_rows_view(self, request, object_id):
        if not services.user_is_manager(request.user):
            raise PermissionDenied
        return self.confirm(request, object_id, hold_back_refused=True)

    def confirm(self, request, object_id, *, hold_back_refused: bool):
        record = get_object_or_404(ImportRecord.objects.select_related("source"), pk=object_id)
        confirm_closing = request.POST.get("confirm_closing") == "1"
        preview_url = reverse("admin:customers_importrecord_preview", args=[record.pk])

        closing = closing_summary(record)
        if closing["needs_second_confirmation"] and not confirm_closing:
            self.message_user(
                request,
                _(
                    "Not applied: %(count)d of the source's %(open)d open invoices (%(percent)s%%) would close. "
                    "Tick the second confirmation to close them."
                )
                % {"count": closing["count"], "open": closing["open"], "percent": closing["percent"]},
                messages.ERROR,
            )
            return redirect(preview_url)

        try:
            if record.row_count > jobs.BACKGROUND_ROW_LIMIT:
                jobs.enqueue_confirm(
                    record, user=request.user, hold_back_refused=hold_back_refused, confirm_closing=confirm_closing
                )
                return redirect("admin:customers_importrecord_progress", object_id=record.pk)
            record = services.import_confirm(
                record, request.user, hold_back_refused=hold_back_refused, confirm_closing=confirm_closing
            )
        except services.ImportStateError as error:
            self.message_user(request, str(error), messages.ERROR)
            return redirect(preview_url)

        if record.confirmed_by_id is None:
            ImportRecord.objects.filter(pk=record.pk).update(confirmed_by=request.user)
        self.report_result(request, record)
        return redirect(preview_url)

    def report_result(self, request, record):
        if record.status == ImportRecord.Status.APPLIED:
            self.message_user(request, _("Applied: %(counts)s.") % {"counts": counts_text(record.counts)}, messages.SUCCESS)
        elif record.status == ImportRecord.Status.UNCHANGED:
            self.message_user(request, _("Nothing to change: the file matches the stored data."), messages.INFO)
        else:
            self.message_user(
                request,
                _("Not applied (%(status)s): %(errors)s")
                % {"status": record.get_status_display(), "errors": " ".join(record.errors)},
                messages.ERROR,
            )


# Upload helpers ------------------------------------------------------------------------


def read_upload(upload) -> bytes:
    upload.seek(0)
    return b"".join(upload.chunks())


def preview_upload(user, data: dict, content: bytes) -> ImportRecord:
    """Preview a small upload in the request, from a temporary copy of the file."""
    upload = data["file"]
    suffix = Path(upload.name).suffix.lower()
    handle, temporary_path = tempfile.mkstemp(suffix=suffix, prefix="import-")
    try:
        with os.fdopen(handle, "wb") as destination:
            destination.write(content)
        return services.import_preview(
            temporary_path,
            kind=data["kind"],
            source_name=data["source_name"],
            layout=data["layout"] or None,
            user=user,
            historical=HISTORICAL_VALUES[data["historical"]],
            file_name=Path(upload.name).name[:255],
            is_snapshot=data["is_snapshot"],
            saved_layout=data["saved_layout"],
            encoding=data["encoding"] or None,
            delimiter=data["delimiter"] or None,
            date_order=data["date_order"] or None,
        )
    finally:
        os.unlink(temporary_path)


def queue_upload(user, data: dict, content: bytes) -> ImportRecord:
    """Store a large upload on a QUEUED record and queue its preview task."""
    file_name = Path(data["file"].name).name[:255]
    source_name = data["source_name"].strip()
    layout = data["layout"] or ""
    source = services.get_or_create_source(source_name, layout_hint=layout or None, kind=data["kind"])
    row_estimate = jobs.count_data_rows(content)
    record = ImportRecord(
        source=source,
        kind=data["kind"],
        layout=layout,
        status=ImportRecord.Status.QUEUED,
        file_name=file_name,
        file_sha256=hashlib.sha256(content).hexdigest(),
        is_historical=services.resolve_historical(source, HISTORICAL_VALUES[data["historical"]]),
        is_snapshot=data["is_snapshot"],
        saved_layout=data["saved_layout"],
        row_count=row_estimate,
        progress_total=row_estimate,
        progress_at=timezone.now(),
        created_by=user,
    )
    # Storage may shorten or rename the file; file_name keeps the name staff uploaded.
    record.file.save(Path(file_name).name[-100:], ContentFile(content), save=False)
    record.save()
    jobs.enqueue_preview(
        record, encoding=data["encoding"] or "", delimiter=data["delimiter"] or "", date_order=data["date_order"] or ""
    )
    return record


# Progress, preview and download helpers --------------------------------------------------


def progress_data(record: ImportRecord) -> dict:
    """Return the progress of an import as the status URL's JSON object.

    While a confirmation runs, its progress comes from the cache when that is newer
    than the record's, because the record's own fields change only at commit.
    """
    done, total, at = record.progress_done, record.progress_total or record.row_count, record.progress_at
    finished = not jobs.is_in_progress(record)
    published = None if finished else jobs.published_progress(record.pk)
    if published and (at is None or published["at"] > at):
        done, total, at = published["done"], published["total"], published["at"]
    if total:
        done = min(done, total)
        percent = round(100 * done / total)
    else:
        percent = 100 if finished else 0
    return {
        "id": record.pk,
        "status": record.status,
        "status_display": str(record.get_status_display()),
        "finished": finished,
        "rows_done": done,
        "rows_total": total,
        "percent": percent,
        "updated_at": at.isoformat() if at else None,
        "errors": record.errors if record.status == ImportRecord.Status.FAILED else [],
        "preview_url": reverse("admin:customers_importrecord_preview", args=[record.pk]),
    }


def plan_entries(record: ImportRecord, *entities: str):
    """Yield the stored plan of a preview, a few thousand entries at a time, or else the
    stored changes of the record. With `entities`, yield only the entries of those."""
    if record.entries.exists():
        yield from plan_store.stored_entries(record, *entities)
    else:
        yield from (entry for entry in record.changes or [] if not entities or entry.get("entity") in entities)


def closing_summary(record: ImportRecord) -> dict:
    """Count the invoices a snapshot import would close, and whether that needs a second confirmation.

    The open count is the one the preview stored, which `import_confirm` checks too.
    """
    if record.entries.exists():
        closing = record.entries.filter(entity="close").count()
    else:
        closing = sum(1 for entry in record.changes or [] if entry.get("entity") == "close")
    open_count = ((record.counts or {}).get("snapshot") or {}).get("open", 0)
    return {
        "count": closing,
        "open": open_count,
        "percent": round(100 * closing / open_count) if open_count else 0,
        "needs_second_confirmation": entities.closing_needs_confirmation(closing, open_count),
    }


def can_hold_back(record: ImportRecord, *, has_blocked: bool) -> bool:
    """Return True when a refused preview has valid rows that can be applied without the refused ones."""
    if record.status != ImportRecord.Status.REFUSED or not record.errors or has_blocked:
        return False
    return record.entries.exists()


def counts_text(counts: dict) -> str:
    parts = []
    for entity, values in services.ordered_counts(counts):
        details = ", ".join(f"{count} {action}" for action, count in values if count)
        if details:
            parts.append(f"{entity}: {details}")
    return "; ".join(parts) or "-"


def change_fields(entry: dict) -> list[tuple[str, object, object]]:
    return [
        (name, "" if old is None else old, "" if new is None else new)
        for name, (old, new) in (entry.get("fields") or {}).items()
    ]


def change_groups(entries) -> list[dict]:
    """Group plan entries by entity and action, keeping the first rows of each group."""
    groups: dict[tuple[str, str], dict] = {}
    for entry in entries:
        key = (entry.get("entity", ""), entry.get("action", ""))
        if key[0] == "blocked":
            title = BLOCKED_TITLE
        else:
            title = f"{ENTITY_TITLES.get(key[0], key[0])}: {ACTION_TITLES.get(key[1], key[1])}"
        group = groups.setdefault(
            key,
            {
                "title": title,
                "action": key[1],
                "rows": [],
                "total": 0,
            },
        )
        group["total"] += 1
        if len(group["rows"]) < PREVIEW_ROWS_PER_GROUP:
            group["rows"].append(
                {
                    "row": entry.get("row"),
                    "key": entry.get("key"),
                    "fields": change_fields(entry),
                    "payment": entry.get("payment"),
                    "note": entry.get("note", ""),
                }
            )
    return list(groups.values())


def download_rows(record: ImportRecord):
    """Yield every change, refused row and warning of an import as download cells.

    Refused rows and warnings carry the same messages as the import_spreadsheet command.
    """
    for entry in plan_entries(record):
        details = "; ".join(f"{name}: {old} -> {new}" if old != "" else f"{name}: {new}" for name, old, new in change_fields(entry))
        if entry.get("payment"):
            details = "; ".join(filter(None, [details, f"payment of {entry['payment']} recorded"]))
        action = "blocked" if entry.get("entity") == "blocked" else entry.get("action", "")
        yield [
            str(ACTION_TITLES.get(action, action)),
            entry.get("entity", ""),
            entry.get("row", ""),
            entry.get("key", ""),
            details,
            entry.get("note", ""),
        ]
    for kind, messages_list in (("refused", record.errors), ("warning", record.warnings)):
        for message in messages_list or []:
            match = ROW_IN_MESSAGE.match(str(message))
            yield [kind, "", int(match.group(1)) if match else "", "", "", str(message)]


def csv_download_chunks(record: ImportRecord):
    """Yield the CSV download of an import in pieces of about DOWNLOAD_CHUNK characters,
    so that a large plan is never one string in memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    # A BOM lets Excel open the UTF-8 file with the right characters.
    buffer.write("\ufeff")
    writer.writerow(DOWNLOAD_COLUMNS)
    for row in download_rows(record):
        writer.writerow([escape_formula(value) for value in row])
        if buffer.tell() >= DOWNLOAD_CHUNK:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def download_name(record: ImportRecord) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(record.file_name).stem).strip("-") or "import"
    return f"import-{record.pk}-{stem}"[:100]


# Saved layouts -----------------------------------------------------------------------------


def mapping_columns(kind: str) -> list[tuple[str, str, bool]]:
    """Return (field, header, required) for each of our fields that a saved layout of `kind` maps."""
    try:
        fields = services.layout_fields(kind)
    except ValidationError:
        return []
    return [(field["field"], field["header"], field["required"]) for field in fields]


class SavedLayoutStartForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, help_text=_("For example: Sage invoices export."))
    kind = forms.ChoiceField(label=_("File contains"))
    date_order = forms.ChoiceField(label=_("Date order"), choices=SavedLayout.DateOrder.choices, required=False)
    sample = forms.FileField(
        label=_("Sample file (optional)"),
        required=False,
        help_text=_("A CSV or XLSX file of this layout: its header row fills the choices of the next step."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        kinds = [ImportRecord.Kind(kind) for kind in services.IMPORT_KINDS if mapping_columns(kind)]
        self.fields["kind"].choices = [(kind.value, kind.label) for kind in kinds]

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if SavedLayout.objects.filter(name=name).exists():
            raise forms.ValidationError(_("A saved layout with this name exists; choose another name."))
        return name

    def clean(self):
        cleaned = super().clean()
        sample = cleaned.get("sample")
        cleaned["headers"] = []
        if sample:
            if sample.size > MAX_UPLOAD_BYTES:
                self.add_error("sample", _("The sample is larger than %(limit)d MB; keep the header row and a few rows.") % {"limit": MAX_UPLOAD_BYTES // (1024 * 1024)})
                return cleaned
            try:
                cleaned["headers"] = sample_headers(sample)
            except ImportFileError as error:
                self.add_error("sample", str(error))
        return cleaned


def sample_headers(upload) -> list[str]:
    from customers.imports.readers import read_table

    suffix = Path(upload.name).suffix.lower()
    handle, temporary_path = tempfile.mkstemp(suffix=suffix, prefix="layout-sample-")
    try:
        with os.fdopen(handle, "wb") as destination:
            destination.write(read_upload(upload))
        headers = read_table(temporary_path, file_name=upload.name).headers
    finally:
        os.unlink(temporary_path)
    return [header for header in headers if header]


class SavedLayoutMappingForm(forms.Form):
    """Step 2: for each of our fields, the header of the file's column that contains it."""

    name = forms.CharField(widget=forms.HiddenInput, max_length=100)
    kind = forms.CharField(widget=forms.HiddenInput)
    date_order = forms.CharField(widget=forms.HiddenInput, required=False)
    headers = forms.JSONField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, kind: str, headers: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.columns = mapping_columns(kind)
        for field, header, required in self.columns:
            label = f"{header} *" if required else header
            if headers:
                choices = [("", _("(not in the file)"))] + [(name, name) for name in headers]
                self.fields[f"map_{field}"] = forms.ChoiceField(label=label, choices=choices, required=required)
            else:
                self.fields[f"map_{field}"] = forms.CharField(label=label, max_length=200, required=required)

    def mapping(self) -> dict[str, str]:
        mapping = {}
        for field, _header, _required in self.columns:
            value = (self.cleaned_data.get(f"map_{field}") or "").strip()
            if value:
                mapping[field] = value
        return mapping

    def clean(self):
        cleaned = super().clean()
        used: dict[str, str] = {}
        for field, header, _required in self.columns:
            value = (cleaned.get(f"map_{field}") or "").strip()
            if value and value in used:
                self.add_error(f"map_{field}", _('"%(header)s" is already mapped to %(field)s.') % {"header": value, "field": used[value]})
            elif value:
                used[value] = header
        return cleaned


@admin.register(SavedLayout)
class SavedLayoutAdmin(DunningModelAdmin):
    """Column mappings for file layouts the product does not know. Staff who may import
    create them here; changing or deleting one needs the model's own permissions."""

    list_display = ("name", "kind", "date_order", "created_by", "updated_at")
    list_select_related = ("created_by",)
    search_fields = ("name",)
    readonly_fields = ("created_by", "created_at", "updated_at")

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or request.user.has_perm(IMPORT_PERMISSION)

    def has_add_permission(self, request):
        return request.user.has_perm(IMPORT_PERMISSION)

    def has_module_permission(self, request):
        return super().has_module_permission(request) or request.user.has_perm(IMPORT_PERMISSION)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        step = request.POST.get("step") if request.method == "POST" else None
        mapping_form = None
        start_form = SavedLayoutStartForm()
        if step == "start":
            start_form = SavedLayoutStartForm(request.POST, request.FILES)
            if start_form.is_valid():
                data = start_form.cleaned_data
                mapping_form = SavedLayoutMappingForm(
                    initial={
                        "name": data["name"],
                        "kind": data["kind"],
                        "date_order": data["date_order"],
                        "headers": data["headers"],
                    },
                    kind=data["kind"],
                    headers=data["headers"],
                )
        elif step == "mapping":
            kind = request.POST.get("kind", "")
            headers = parse_headers(request.POST.get("headers"))
            mapping_form = SavedLayoutMappingForm(request.POST, kind=kind, headers=headers)
            if kind not in services.IMPORT_KINDS or not mapping_form.columns:
                raise PermissionDenied
            if mapping_form.is_valid():
                data = mapping_form.cleaned_data
                try:
                    layout = services.saved_layout_save(
                        name=data["name"].strip(),
                        kind=kind,
                        mapping=mapping_form.mapping(),
                        date_order=data["date_order"] or "",
                        user=request.user,
                    )
                except ValidationError as error:
                    for message in error.messages:
                        mapping_form.add_error(None, message)
                else:
                    self.message_user(request, _("Saved the layout %(name)s.") % {"name": layout.name}, messages.SUCCESS)
                    return redirect("admin:customers_savedlayout_changelist")

        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Add a saved layout"),
            "start_form": start_form,
            "mapping_form": mapping_form,
        }
        return TemplateResponse(request, "admin/customers/importrecord/saved_layout_form.html", context)


def parse_headers(value) -> list[str]:
    try:
        headers = json.loads(value or "[]")
    except ValueError:
        return []
    return [str(header) for header in headers if isinstance(header, str | int | float)] if isinstance(headers, list) else []
