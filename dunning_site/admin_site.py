"""The project's admin site: Django's admin with an optional two-factor login.

When DUNNING_REQUIRE_2FA is on, managers, superusers and any staff member with a
confirmed device must log in with a one-time code. Until they do, the admin treats them
as logged out. When the setting is off, nobody is asked for a code.
"""

from functools import partial

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm

from dunning_site.roles import is_manager

OTP_LOGIN_TEMPLATE = "otp/admin111/login.html"


def user_requires_two_factor(user) -> bool:
    """Return True when this user must pass a one-time code to use the admin."""
    if not settings.DUNNING_REQUIRE_2FA or not user.is_authenticated:
        return False
    if is_manager(user):
        return True
    # Staff who enrolled a device use it, or anyone with their password could skip it.
    return any(devices_for_user(user, confirmed=True))


class DunningAdminAuthenticationForm(OTPAdminAuthenticationForm):
    """The admin login form. It checks the one-time code only for users who need one,
    or when a code was entered."""

    def clean(self):
        self.cleaned_data = AdminAuthenticationForm.clean(self)
        user = self.get_user()
        code_given = self.cleaned_data.get("otp_token") or self.cleaned_data.get("otp_challenge")
        if user is not None and (code_given or user_requires_two_factor(user)):
            self.clean_otp(user)
        return self.cleaned_data


DunningAdminAuthenticationForm.otp_error_messages = {
    **OTPAdminAuthenticationForm.otp_error_messages,
    "token_required": _(
        "Your account needs a one-time code: choose your device and enter the code it shows."
    ),
}


class DunningAdminSite(admin.AdminSite):
    site_header = _("Dunning back office")
    site_title = _("Dunning back office")
    index_title = _("Collections")
    login_form = DunningAdminAuthenticationForm

    @property
    def login_template(self):
        # django-otp's template adds the device and code fields to the login page.
        return OTP_LOGIN_TEMPLATE if settings.DUNNING_REQUIRE_2FA else None

    def get_urls(self):
        from dunning_site import two_factor

        urls = [
            path(
                "two-factor/",
                self.admin_view(partial(two_factor.enrol_view, admin_site=self)),
                name="two_factor_enrol",
            ),
            path("two-factor/qrcode/", self.admin_view(two_factor.enrol_qrcode_view), name="two_factor_qrcode"),
        ]
        return urls + super().get_urls()

    def has_permission(self, request):
        if not super().has_permission(request):
            return False
        if not user_requires_two_factor(request.user):
            return True
        is_verified = getattr(request.user, "is_verified", None)
        return bool(is_verified and is_verified())
