"""The base class every model admin of this project derives from.

Cross-cutting admin behaviour (change history, role checks) is added here once, so the
per-app admin modules stay declarative.
"""

from django.contrib import admin


class DunningModelAdmin(admin.ModelAdmin):
    show_full_result_count = False
