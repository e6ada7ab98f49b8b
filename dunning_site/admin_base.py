"""The base class every model admin of this project derives from.

Cross-cutting admin behaviour (change history, role checks) is added here once, so the
per-app admin modules stay declarative.

Change history: for a model with `history = HistoricalRecords()`, the admin's History
button shows django-simple-history's list of versions with the user who made each change.
For other models the admin behaves as Django's `ModelAdmin`, so one base class serves both.
"""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

# Models whose rows spreadsheet imports create and update in bulk, which writes no history.
BULK_IMPORTED_MODELS = {"customers.customer", "customers.contact", "customers.source"}

BULK_IMPORT_HISTORY_NOTE = _(
    "This list shows changes made in the admin, each with the user who made it. "
    "Spreadsheet imports write rows in bulk and add no entry here: "
    "the import records list each import's changes and who ran it."
)


def model_has_history(model) -> bool:
    """Return True when the model declares django-simple-history's HistoricalRecords."""
    return hasattr(model._meta, "simple_history_manager_attribute")


class DunningModelAdmin(SimpleHistoryAdmin):
    show_full_result_count = False

    def __init__(self, model, admin_site):
        super().__init__(model, admin_site)
        self.has_history = model_has_history(model)
        if not self.has_history:
            # Django's own history templates, which list the admin's LogEntry rows.
            if self.object_history_template == SimpleHistoryAdmin.object_history_template:
                self.object_history_template = None
        elif self.object_history_template == SimpleHistoryAdmin.object_history_template:
            self.object_history_template = "dunning_site/object_history.html"

    def get_urls(self):
        if self.has_history:
            return super().get_urls()
        return admin.ModelAdmin.get_urls(self)

    def history_view(self, request, object_id, extra_context=None):
        if not self.has_history:
            return admin.ModelAdmin.history_view(self, request, object_id, extra_context)
        context = {"history_note": self.get_history_note(request)}
        context.update(extra_context or {})
        return super().history_view(request, object_id, context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        # django-simple-history saves a POSTed historical version after checking only the
        # view permission, even with reverting disabled. Reverting is off in this project,
        # so every POST here is rejected and the page stays read-only.
        if request.method == "POST":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

    def get_history_note(self, request):
        """Return the text shown above the change history, or None for no note."""
        if self.opts.label_lower in BULK_IMPORTED_MODELS:
            return BULK_IMPORT_HISTORY_NOTE
        return None


class ReadOnlyAdmin(DunningModelAdmin):
    """An admin for records that only their own code writes: staff may view them, nothing more."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
