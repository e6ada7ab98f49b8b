"""Superuser-only admin pages: users, groups, the django-q2 task queue, login throttling
records and two-factor devices.

A django-q2 schedule names any importable function to run, and a user or group change
can grant any permission. So no role may see or change these pages, only superusers. The
admin classes registered by Django and the packages are kept, with every permission
check narrowed to superusers. This module is imported last (dunning_site is the last
installed app), after those packages registered their classes.
"""

from axes.handlers.proxy import AxesProxyHandler
from django.apps import apps
from django.contrib import admin
from django.utils.translation import gettext_lazy as _


def is_superuser(request) -> bool:
    return request.user.is_active and request.user.is_superuser


class SuperuserOnlyAdminMixin:
    def has_module_permission(self, request):
        return is_superuser(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return is_superuser(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args, **kwargs):
        return is_superuser(request) and super().has_add_permission(request, *args, **kwargs)

    def has_change_permission(self, request, obj=None):
        return is_superuser(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return is_superuser(request) and super().has_delete_permission(request, obj)


SUPERUSER_ONLY_MODELS = (
    "auth.user",
    "auth.group",
    "django_q.schedule",
    "django_q.success",
    "django_q.failure",
    "django_q.ormq",
    "axes.accessattempt",
    "axes.accesslog",
    "axes.accessfailurelog",
    "otp_totp.totpdevice",
    "otp_static.staticdevice",
)


class AccessAttemptActionsMixin:
    """Makes django-axes' "Clean up expired attempts" action work from the admin.

    django-axes 8.3 reads the request's attempt time there, which only its login handler
    sets, so the action raised AttributeError.
    """

    @admin.action(description=_("Clean up expired attempts"))
    def cleanup_expired_attempts(self, request, queryset):
        AxesProxyHandler.update_request(request)
        return super().cleanup_expired_attempts(request, queryset)


# Extra mixins for some of the re-registered admin classes.
EXTRA_MIXINS = {"axes.accessattempt": (AccessAttemptActionsMixin,)}


def superuser_only_register(site: admin.AdminSite, model_label: str) -> None:
    """Re-register a model's admin class on `site` with superuser-only permission checks.

    Does nothing for a model that is not installed or not registered.
    """
    try:
        model = apps.get_model(model_label)
    except LookupError:
        return
    model_admin = site._registry.get(model)
    if model_admin is None or isinstance(model_admin, SuperuserOnlyAdminMixin):
        return
    admin_class = type(model_admin)
    bases = (SuperuserOnlyAdminMixin, *EXTRA_MIXINS.get(model_label, ()), admin_class)
    site.unregister(model)
    site.register(model, type(f"SuperuserOnly{admin_class.__name__}", bases, {}))


for label in SUPERUSER_ONLY_MODELS:
    superuser_only_register(admin.site, label)
