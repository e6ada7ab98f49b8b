"""Admin for spreadsheet imports: the list of imports, and the upload -> preview -> confirm
workflow that calls `customers.imports.services`.

Uploading and confirming need the `customers.add_importrecord` permission (403 without
it). Only the confirm POST writes to the ledger; every GET is read-only. File content is
untrusted, so templates show it with autoescaping only (no `safe`).
"""

import os
import tempfile
from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from customers.imports import services
from customers.imports.layouts import LAYOUTS
from customers.models import ImportRecord, Source
from dunning_site.admin_base import DunningModelAdmin

IMPORT_PERMISSION = "customers.add_importrecord"
# Larger files take longer than a web request should; import them with the
# import_spreadsheet management command.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
UPLOAD_SUFFIXES = (".csv", ".txt", ".xlsx")
PREVIEW_ROWS_PER_GROUP = 100

HISTORICAL_CHOICES = [
    ("auto", _("Only if this is the source's first import")),
    ("yes", _("Yes: record payments without thank-you messages")),
    ("no", _("No: thank customers for recent payments")),
]
HISTORICAL_VALUES = {"auto": None, "yes": True, "no": False}
ENTITY_TITLES = {"customer": _("Customers"), "invoice": _("Invoices"), "payment": _("Payments")}
ACTION_TITLES = {
    "create": _("created"),
    "update": _("updated"),
    "unchanged": _("unchanged"),
    "skip": _("skipped"),
    "record": _("recorded"),
}


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(label=_("File contains"), choices=[(kind.value, kind.label) for kind in services.IMPORT_KINDS])
    source_name = forms.CharField(
        label=_("Source"),
        max_length=100,
        help_text=_("The ledger the file comes from, such as Stripe or Spreadsheet; a new name creates the source."),
    )
    layout = forms.ChoiceField(
        label=_("Layout"),
        required=False,
        choices=[("", _("Detect from the header row"))] + [(layout.name, layout.title) for layout in LAYOUTS.values()],
    )
    historical = forms.ChoiceField(label=_("Historical payments"), choices=HISTORICAL_CHOICES, initial="auto")
    file = forms.FileField(label=_("CSV or XLSX file"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
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
        layout = cleaned.get("layout")
        kind = cleaned.get("kind")
        if layout and kind and LAYOUTS[layout].kind != kind:
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
        custom = [
            path("import/", self.admin_site.admin_view(self.import_view), name="%s_%s_import" % info),
            path("<int:object_id>/preview/", self.admin_site.admin_view(self.preview_view), name="%s_%s_preview" % info),
            path(
                "<int:object_id>/confirm/",
                self.admin_site.admin_view(require_POST(self.confirm_view)),
                name="%s_%s_confirm" % info,
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

    def import_view(self, request):
        self.check_import_permission(request)
        if request.method == "POST":
            form = ImportUploadForm(request.POST, request.FILES)
            if form.is_valid():
                record = self.preview_upload(request, form.cleaned_data)
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
        }
        return TemplateResponse(request, "admin/customers/importrecord/import_form.html", context)

    def preview_upload(self, request, data) -> ImportRecord:
        upload = data["file"]
        suffix = Path(upload.name).suffix.lower()
        handle, temporary_path = tempfile.mkstemp(suffix=suffix, prefix="import-")
        try:
            with os.fdopen(handle, "wb") as destination:
                for chunk in upload.chunks():
                    destination.write(chunk)
            return services.import_preview(
                temporary_path,
                kind=data["kind"],
                source_name=data["source_name"],
                layout=data["layout"] or None,
                user=request.user,
                historical=HISTORICAL_VALUES[data["historical"]],
                file_name=Path(upload.name).name[:255],
            )
        finally:
            os.unlink(temporary_path)

    def preview_view(self, request, object_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        record = get_object_or_404(ImportRecord.objects.select_related("source", "created_by"), pk=object_id)
        layout = LAYOUTS.get(record.layout)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Import of %(file)s") % {"file": record.file_name},
            "record": record,
            "layout_title": layout.title if layout else "",
            "count_rows": services.ordered_counts(record.counts),
            "change_groups": change_groups(record.changes),
            "can_confirm": record.status == ImportRecord.Status.PREVIEWED and request.user.has_perm(IMPORT_PERMISSION),
            "preview_limit": PREVIEW_ROWS_PER_GROUP,
        }
        return TemplateResponse(request, "admin/customers/importrecord/import_preview.html", context)

    def confirm_view(self, request, object_id):
        self.check_import_permission(request)
        record = get_object_or_404(ImportRecord, pk=object_id)
        try:
            record = services.import_confirm(record, request.user)
        except services.ImportStateError as error:
            self.message_user(request, str(error), messages.ERROR)
            return redirect("admin:customers_importrecord_preview", object_id=object_id)

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
        return redirect("admin:customers_importrecord_preview", object_id=object_id)


def counts_text(counts: dict) -> str:
    parts = []
    for entity, values in services.ordered_counts(counts):
        details = ", ".join(f"{count} {action}" for action, count in values if count)
        if details:
            parts.append(f"{entity}: {details}")
    return "; ".join(parts) or "-"


def change_groups(changes: list[dict]) -> list[dict]:
    """Group change entries by entity and action, keeping the first rows of each group."""
    groups: dict[tuple[str, str], dict] = {}
    for entry in changes:
        if entry.get("action") == "unchanged" and not entry.get("payment"):
            continue
        key = (entry.get("entity", ""), entry.get("action", ""))
        group = groups.setdefault(
            key,
            {
                "title": f"{ENTITY_TITLES.get(key[0], key[0])}: {ACTION_TITLES.get(key[1], key[1])}",
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
                    "fields": [
                        (name, "" if old is None else old, "" if new is None else new)
                        for name, (old, new) in (entry.get("fields") or {}).items()
                    ],
                    "payment": entry.get("payment"),
                    "note": entry.get("note", ""),
                }
            )
    return list(groups.values())
