"""App configs of the project package: role sync after migrate, and the admin site."""

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class DunningSiteConfig(AppConfig):
    name = "dunning_site"
    verbose_name = _("Roles and security")
    default = True

    def ready(self):
        from dunning_site.roles import sync_roles_after_migrate

        # Sent once per migrate for this app. INSTALLED_APPS lists this app last, so every
        # other app's permissions exist by the time the roles are synced.
        post_migrate.connect(sync_roles_after_migrate, sender=self, dispatch_uid="dunning_site.sync_roles")


class DunningAdminConfig(admin_apps.AdminConfig):
    """Django's admin app with the project's site as `admin.site`, so every
    `admin.site.register` and `@admin.register` call uses it."""

    default = False
    default_site = "dunning_site.admin_site.DunningAdminSite"
