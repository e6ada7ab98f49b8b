"""Production settings, the content security policy, login throttling, two-factor login
and keeping personal data out of logs and ESP tags."""

import base64
import datetime
import hashlib
import html
import json
import logging
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Group
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from dunning_site import roles
from dunning_site.client_address import client_ip_address
from tests.factories import UserFactory

PROJECT_DIR = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"
LOGIN_URL = "/admin/login/"


# --- Production settings, checked in a fresh process --------------------------------


def production_environment(tmp_path, **overrides) -> dict:
    """Return an environment like a production deployment's, without test settings."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "DUNNING_", "DATABASE_URL", "Q_CLUSTER_", "ANYMAIL_"))
    }
    environment.update(
        {
            "DJANGO_SETTINGS_MODULE": "dunning_site.settings",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "dunning.example.com",
            "DJANGO_CSRF_TRUSTED_ORIGINS": "https://dunning.example.com",
            "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
            "DJANGO_SECURE_HSTS_PRELOAD": "true",
            "DUNNING_VAR_DIR": str(tmp_path),
        }
    )
    environment.update(overrides)
    return environment


def run_manage(environment, *arguments) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=PROJECT_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


SETTINGS_SCRIPT = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "SESSION_COOKIE_SECURE": s.SESSION_COOKIE_SECURE,
    "CSRF_COOKIE_SECURE": s.CSRF_COOKIE_SECURE,
    "SESSION_COOKIE_HTTPONLY": s.SESSION_COOKIE_HTTPONLY,
    "CSRF_COOKIE_HTTPONLY": s.CSRF_COOKIE_HTTPONLY,
    "SECURE_HSTS_SECONDS": s.SECURE_HSTS_SECONDS,
    "SECURE_SSL_REDIRECT": s.SECURE_SSL_REDIRECT,
    "SECURE_PROXY_SSL_HEADER": s.SECURE_PROXY_SSL_HEADER,
    "ALLOWED_HOSTS": s.ALLOWED_HOSTS,
    "CSRF_TRUSTED_ORIGINS": s.CSRF_TRUSTED_ORIGINS,
    "AXES_FAILURE_LIMIT": s.AXES_FAILURE_LIMIT,
    "AXES_COOLOFF_MINUTES": s.AXES_COOLOFF_TIME.total_seconds() / 60,
    "DUNNING_PROXY_COUNT": s.DUNNING_PROXY_COUNT,
    "DUNNING_REQUIRE_2FA": s.DUNNING_REQUIRE_2FA,
}))
"""


def read_settings(environment) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", SETTINGS_SCRIPT],
        cwd=PROJECT_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_check_deploy_is_clean_in_production(tmp_path):
    completed = run_manage(production_environment(tmp_path), "check", "--deploy", "--fail-level", "WARNING")

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "System check identified no issues" in completed.stdout


def test_check_deploy_flags_debug(tmp_path):
    completed = run_manage(
        production_environment(tmp_path, DJANGO_DEBUG="true"), "check", "--deploy", "--fail-level", "WARNING"
    )

    assert completed.returncode != 0
    assert "security.W018" in completed.stdout + completed.stderr


def test_production_requires_secret_key(tmp_path):
    environment = production_environment(tmp_path)
    del environment["DJANGO_SECRET_KEY"]

    completed = run_manage(environment, "check")

    assert completed.returncode != 0
    assert "DJANGO_SECRET_KEY is missing" in completed.stderr


def test_production_defaults_are_strict(tmp_path):
    values = read_settings(production_environment(tmp_path))

    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SESSION_COOKIE_HTTPONLY"] is True
    assert values["CSRF_COOKIE_HTTPONLY"] is True
    assert values["SECURE_HSTS_SECONDS"] == 31536000
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_PROXY_SSL_HEADER"] is None
    assert values["ALLOWED_HOSTS"] == ["dunning.example.com"]
    assert values["CSRF_TRUSTED_ORIGINS"] == ["https://dunning.example.com"]
    assert values["DUNNING_PROXY_COUNT"] == 0
    assert values["DUNNING_REQUIRE_2FA"] is False


def test_debug_turns_off_hsts_and_secure_cookies(tmp_path):
    values = read_settings(production_environment(tmp_path, DJANGO_DEBUG="true"))

    assert values["SECURE_HSTS_SECONDS"] == 0
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["SECURE_SSL_REDIRECT"] is False


def test_environment_sets_proxy_and_throttling(tmp_path):
    values = read_settings(
        production_environment(
            tmp_path,
            DJANGO_SECURE_PROXY_SSL_HEADER="true",
            DJANGO_SECURE_SSL_REDIRECT="false",
            DJANGO_SECURE_HSTS_SECONDS="600",
            DUNNING_PROXY_COUNT="1",
            DUNNING_LOGIN_FAILURE_LIMIT="3",
            DUNNING_LOGIN_COOLOFF_MINUTES="15",
            DUNNING_REQUIRE_2FA="true",
        )
    )

    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 600
    assert values["DUNNING_PROXY_COUNT"] == 1
    assert values["AXES_FAILURE_LIMIT"] == 3
    assert values["AXES_COOLOFF_MINUTES"] == 15
    assert values["DUNNING_REQUIRE_2FA"] is True


def test_invalid_boolean_stops_startup(tmp_path):
    completed = run_manage(production_environment(tmp_path, DUNNING_REQUIRE_2FA="sometimes"), "check")

    assert completed.returncode != 0
    assert "DUNNING_REQUIRE_2FA='sometimes' is not a boolean" in completed.stderr


# --- Content security policy ---------------------------------------------------------


def policy_directives(response) -> dict[str, list[str]]:
    directives = {}
    for directive in response.headers["Content-Security-Policy"].split(";"):
        name, *sources = directive.split()
        directives[name] = sources
    return directives


@pytest.mark.django_db
def test_admin_login_page_sends_content_security_policy(client):
    directives = policy_directives(client.get(LOGIN_URL))

    assert directives["default-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["img-src"] == ["'self'"]
    assert "'self'" in directives["script-src"]
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/admin/", "/admin/customers/customer/", "/admin/customers/customer/add/", LOGIN_URL])
def test_admin_pages_have_no_inline_script(client, url):
    if url != LOGIN_URL:
        client.force_login(UserFactory(username="root", is_superuser=True))

    response = client.get(url)

    assert response.status_code == 200
    scripts = re.findall(r"<script\b([^>]*)>", response.content.decode())
    inline = [attributes for attributes in scripts if "src=" not in attributes and "application/json" not in attributes]
    assert inline == [], f"{url} has inline scripts that the policy blocks: {inline}"


@pytest.mark.django_db
@pytest.mark.urls("tests.test_roles")
def test_import_export_inline_handlers_are_allowed_by_hash(client):
    # The export page of django-import-export has inline event handlers, and each must
    # match a hash in script-src or the browser ignores it. tests/test_roles.py serves an
    # import-export admin for invoices on its own site.
    client.force_login(UserFactory(username="root", is_superuser=True))

    response = client.get("/import-export-admin/customers/invoice/export/")

    handlers = re.findall(r'\son[a-z]+="([^"]*)"', response.content.decode())
    script_sources = policy_directives(response)["script-src"]
    assert handlers, "the export page has no inline handler any more; drop its hash from settings"
    for handler in handlers:
        digest = base64.b64encode(hashlib.sha256(html.unescape(handler).encode()).digest()).decode()
        assert f"'sha256-{digest}'" in script_sources, f"inline handler {handler!r} is blocked"


# --- Login throttling ----------------------------------------------------------------


def admin_login(client, username, password, **extra):
    return client.post(LOGIN_URL, {"username": username, "password": password, "next": "/admin/"}, **extra)


def is_logged_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.django_db
def test_bad_logins_lock_out_the_account(client, settings):
    UserFactory(username="agent")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = admin_login(client, "agent", "wrong password")
        assert response.status_code == 200

    locking = admin_login(client, "agent", "wrong password")
    after_lockout = admin_login(client, "agent", PASSWORD)

    assert locking.status_code == 429
    assert after_lockout.status_code == 429
    assert not is_logged_in(client)


@pytest.mark.django_db
def test_lockout_spares_other_users_at_the_same_address(client, settings):
    UserFactory(username="agent")
    UserFactory(username="colleague")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        admin_login(client, "agent", "wrong password")

    response = admin_login(client, "colleague", PASSWORD)

    assert response.status_code == 302
    assert is_logged_in(client)


@pytest.mark.django_db
def test_successful_login_resets_failure_count(client, settings):
    UserFactory(username="agent")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        admin_login(client, "agent", "wrong password")
    admin_login(client, "agent", PASSWORD)
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        admin_login(client, "agent", "wrong password")

    response = admin_login(client, "agent", PASSWORD)

    assert response.status_code == 302
    assert is_logged_in(client)


@pytest.mark.django_db
def test_test_client_login_still_works(client):
    UserFactory(username="agent")

    assert client.login(username="agent", password=PASSWORD) is True


@pytest.mark.django_db
def test_lockout_behind_proxy_uses_forwarded_address(client, settings):
    settings.DUNNING_PROXY_COUNT = 1
    UserFactory(username="agent")
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for _ in range(settings.AXES_FAILURE_LIMIT):
        admin_login(client, "agent", "wrong password", HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy)

    other_client = admin_login(client, "agent", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.9", **proxy)

    assert AccessAttempt.objects.get().ip_address == "198.51.100.7"
    assert other_client.status_code == 302


@pytest.mark.parametrize(
    ("proxy_count", "forwarded_for", "expected"),
    [
        (0, "198.51.100.7", "10.0.0.2"),
        (1, "198.51.100.7", "198.51.100.7"),
        # The client forged the left entry; the proxy appended the real address.
        (1, "1.2.3.4, 198.51.100.7", "198.51.100.7"),
        (2, "1.2.3.4, 198.51.100.7, 10.0.0.9", "198.51.100.7"),
        # Fewer entries than proxies: misconfigured, so fall back to the socket address.
        (2, "198.51.100.7", "10.0.0.2"),
        (1, "not-an-address", "10.0.0.2"),
    ],
)
def test_client_ip_address_counts_proxies_from_the_right(rf, settings, proxy_count, forwarded_for, expected):
    settings.DUNNING_PROXY_COUNT = proxy_count
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded_for)

    assert client_ip_address(request) == expected


# --- Two-factor login ----------------------------------------------------------------


def staff(username, group_name=None, **fields):
    user = UserFactory(username=username, **fields)
    if group_name:
        user.groups.add(Group.objects.get(name=group_name))
    return user


def current_code(device: TOTPDevice) -> str:
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift)
    return f"{code:0{device.digits}d}"


def admin_login_with_code(client, user, device, code):
    return client.post(
        LOGIN_URL,
        {
            "username": user.username,
            "password": PASSWORD,
            "otp_device": device.persistent_id,
            "otp_token": code,
            "next": "/admin/",
        },
    )


@pytest.fixture
def two_factor_on(settings):
    settings.DUNNING_REQUIRE_2FA = True


@pytest.mark.django_db
def test_manager_without_device_is_refused(client, two_factor_on):
    staff("manager", roles.MANAGER)

    response = admin_login(client, "manager", PASSWORD)

    assert response.status_code == 200
    assert not is_logged_in(client)
    assert "one-time code" in response.content.decode()


@pytest.mark.django_db
def test_superuser_without_device_is_refused(client, two_factor_on):
    staff("root", is_superuser=True)

    admin_login(client, "root", PASSWORD)

    assert not is_logged_in(client)


@pytest.mark.django_db
def test_manager_with_verified_device_is_let_in(client, two_factor_on):
    manager = staff("manager", roles.MANAGER)
    device = TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)

    response = admin_login_with_code(client, manager, device, current_code(device))

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_manager_with_wrong_code_is_refused(client, two_factor_on):
    manager = staff("manager", roles.MANAGER)
    device = TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)
    wrong = f"{(int(current_code(device)) + 1) % 10**device.digits:0{device.digits}d}"

    admin_login_with_code(client, manager, device, wrong)

    assert not is_logged_in(client)


@pytest.mark.django_db
def test_manager_session_without_code_is_sent_to_login(client, two_factor_on):
    client.force_login(staff("manager", roles.MANAGER))

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response.headers["Location"].startswith(LOGIN_URL)


@pytest.mark.django_db
def test_agent_without_device_logs_in_with_password(client, two_factor_on):
    staff("agent", roles.AGENT)

    response = admin_login(client, "agent", PASSWORD)

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_agent_with_device_must_use_it(client, two_factor_on):
    agent = staff("agent", roles.AGENT)
    TOTPDevice.objects.create(user=agent, name="phone", confirmed=True)

    admin_login(client, "agent", PASSWORD)

    assert not is_logged_in(client)


@pytest.mark.django_db
def test_two_factor_off_lets_manager_in_with_password(client, settings):
    settings.DUNNING_REQUIRE_2FA = False
    staff("manager", roles.MANAGER)

    response = admin_login(client, "manager", PASSWORD)

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_login_page_asks_for_code_only_when_on(client, settings):
    settings.DUNNING_REQUIRE_2FA = False
    off = client.get(LOGIN_URL).content.decode()
    settings.DUNNING_REQUIRE_2FA = True
    on = client.get(LOGIN_URL).content.decode()

    assert 'name="otp_token"' not in off
    assert 'name="otp_token"' in on


ENROL_URL = "/admin/two-factor/"


@pytest.mark.django_db
def test_enrolment_page_shows_key_of_new_device(client):
    agent = staff("agent", roles.AGENT)
    client.force_login(agent)

    response = client.get(ENROL_URL)

    device = TOTPDevice.objects.get(user=agent)
    assert response.status_code == 200
    assert device.confirmed is False
    assert base64.b32encode(device.bin_key).decode() in response.content.decode()


@pytest.mark.django_db
def test_enrolment_qrcode_is_svg_of_own_device(client):
    client.force_login(staff("agent", roles.AGENT))

    response = client.get(ENROL_URL + "qrcode/")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/svg+xml"
    assert b"<svg" in response.content


@pytest.mark.django_db
def test_enrolment_rejects_wrong_code(client):
    agent = staff("agent", roles.AGENT)
    client.force_login(agent)
    client.get(ENROL_URL)
    device = TOTPDevice.objects.get(user=agent)
    wrong = f"{(int(current_code(device)) + 1) % 10**device.digits:0{device.digits}d}"

    response = client.post(ENROL_URL, {"code": wrong})

    device.refresh_from_db()
    assert response.status_code == 200
    assert device.confirmed is False
    assert "invalid or expired" in response.content.decode()


@pytest.mark.django_db
def test_enrolment_confirms_device_with_right_code(client, settings):
    agent = staff("agent", roles.AGENT)
    client.force_login(agent)
    client.get(ENROL_URL)
    device = TOTPDevice.objects.get(user=agent)

    response = client.post(ENROL_URL, {"code": current_code(device)})

    device.refresh_from_db()
    assert response.status_code == 302
    assert device.confirmed is True
    settings.DUNNING_REQUIRE_2FA = True
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_enrolled_agent_needs_code_at_next_login(client, two_factor_on):
    agent = staff("agent", roles.AGENT)
    client.force_login(agent)
    client.get(ENROL_URL)
    device = TOTPDevice.objects.get(user=agent)
    client.post(ENROL_URL, {"code": current_code(device)})
    client.logout()

    admin_login(client, "agent", PASSWORD)

    assert not is_logged_in(client)


@pytest.mark.django_db
def test_enrolment_page_adds_no_second_device(client):
    agent = staff("agent", roles.AGENT)
    TOTPDevice.objects.create(user=agent, name="phone", confirmed=True)
    client.force_login(agent)

    response = client.get(ENROL_URL)

    assert "confirmed authenticator app" in response.content.decode()
    assert TOTPDevice.objects.filter(user=agent).count() == 1


@pytest.mark.django_db
def test_enrolment_needs_staff_login(client):
    response = client.get(ENROL_URL)

    assert response.status_code == 302
    assert response.headers["Location"].startswith(LOGIN_URL)


# --- Personal data in logs and ESP tags ----------------------------------------------


@pytest.mark.django_db
def test_delivery_hides_personal_data(anymail_backend, caplog):
    """The ESP tags and metadata and the logs carry no customer name, email or phone."""
    delivery = pytest.importorskip("campaigns.delivery", reason="campaigns.delivery is not written yet")
    from campaigns.models import Touchpoint, TouchpointInvoice
    from tests.factories import CampaignStepFactory, CustomerFactory, InvoiceFactory, MessageTemplateFactory

    name = "Ophelia Quartermaine-Voss"
    email = "ophelia.quartermaine@customer.example"
    phone = "+447700900456"
    customer = CustomerFactory(name=name, email=email, phone=phone)
    invoice = InvoiceFactory(customer=customer, due_date=timezone.localdate() - datetime.timedelta(days=10))
    step = CampaignStepFactory(offset_days=7)
    MessageTemplateFactory()
    now = timezone.now()
    touchpoint = Touchpoint.objects.create(
        customer=customer,
        kind=Touchpoint.Kind.DUNNING,
        tier=step.tier,
        template_key=step.template_key,
        due_at=now - datetime.timedelta(minutes=5),
    )
    TouchpointInvoice.objects.create(touchpoint=touchpoint, invoice=invoice, step=step, amount_due=invoice.amount_due)

    with caplog.at_level(logging.DEBUG):
        delivery.deliver_due(now=now)

    touchpoint.refresh_from_db()
    assert len(anymail_backend) == 1, f"nothing was sent; touchpoint is {touchpoint.status}: {touchpoint.status_reason}"
    message = anymail_backend[0]
    esp_fields = json.dumps(
        {"tags": message.anymail_test_params.get("tags"), "metadata": message.anymail_test_params.get("metadata")}
    )
    for personal in (name, email, phone, "Ophelia", "quartermaine"):
        assert personal.lower() not in esp_fields.lower(), f"{personal!r} is in the ESP tags or metadata: {esp_fields}"
        assert personal.lower() not in caplog.text.lower(), f"{personal!r} is in the logs"
