"""Self-service enrolment of an authenticator app (TOTP) for staff.

A logged-in staff member opens /admin/two-factor/, scans the QR code with an
authenticator app and enters the code it shows, which confirms the device. From then on
their login requires a code whenever DUNNING_REQUIRE_2FA is on. Removing a
device is for superusers, in the admin's TOTP device pages.
"""

import base64

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.qr import write_qrcode_image

DEVICE_NAME = "Authenticator app"


class ConfirmDeviceForm(forms.Form):
    code = forms.CharField(
        label=_("Code from the app"),
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


def pending_device(user) -> TOTPDevice:
    """Return the user's unconfirmed device for enrolment, creating it when missing."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def enrol_view(request, admin_site):
    """Show the QR code of a new device and confirm it with a code from the app."""
    context = {**admin_site.each_context(request), "title": _("Two-factor login")}
    if TOTPDevice.objects.filter(user=request.user, confirmed=True).exists():
        context["enrolled"] = True
        return TemplateResponse(request, "dunning_site/two_factor_enrol.html", context)

    device = pending_device(request.user)
    form = ConfirmDeviceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["code"].strip()):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            # The session counts as verified, as after a login with a code.
            otp_login(request, device)
            messages.success(request, _("Two-factor login is set up. Your next login asks for a code."))
            return redirect(f"{admin_site.name}:index")
        form.add_error("code", _("This code is invalid or expired. Enter the code the app shows now."))

    context.update(
        {
            "enrolled": False,
            "form": form,
            # The same secret as in the QR code, in base32, for apps that take it typed in.
            "secret": base64.b32encode(device.bin_key).decode(),
        }
    )
    return TemplateResponse(request, "dunning_site/two_factor_enrol.html", context)


def enrol_qrcode_view(request):
    """Return the QR code (SVG) of the requesting user's unconfirmed device."""
    device = pending_device(request.user)
    response = HttpResponse(content_type="image/svg+xml")
    response["Cache-Control"] = "no-store"
    write_qrcode_image(device.config_url, response)
    return response
