"""The admin's permission matrix, checked against the committed table docs/role-matrix.csv.

For every model admin registered on the project's admin site, the test logs in as each
role (superuser, collections manager, collections agent, data staff, and staff with no
role), performs the real requests and records what each one can do:

- the changelist, add, change, delete and history pages (GET),
- every action that any role is offered (offered or not; POSTed with one selected row,
  inside a savepoint that is rolled back),
- every URL the admin class adds beyond Django's own (GET, or an empty POST when GET
  is not allowed).

Outcomes: `allow`, `deny` (403, or an action not offered), `edit` and `view` (the change
page, writable or read-only), `hidden` (the object is not found for that user). When the
admin and the table differ, the failure message lists the exact CSV lines to add, change
or remove. Set ROLE_MATRIX_OUTPUT=/some/file.csv to also write the observed table there.
"""

import csv
import datetime
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.db import transaction
from django.test import Client
from django.urls import NoReverseMatch, URLPattern, reverse
from django.utils import timezone

from campaigns.models import (
    DunningRun,
    InvoiceEnrollment,
    Touchpoint,
    TouchpointEvent,
    TouchpointInvoice,
)
from customers.models import (
    Contact,
    CustomerCredit,
    Dispute,
    ImportRecord,
    Pause,
    PaymentCard,
    PromiseToPay,
    SavedLayout,
)
from dunning_site import roles
from tests.factories import (
    CampaignStepFactory,
    CustomerFactory,
    InvoiceFactory,
    MessageTemplateFactory,
    PaymentFactory,
    SourceFactory,
    UserFactory,
)

MATRIX_PATH = Path(__file__).resolve().parent.parent / "docs" / "role-matrix.csv"
ROLE_COLUMNS = ("superuser", "manager", "agent", "data_staff", "no_role")
ROLE_GROUPS = {"manager": roles.MANAGER, "agent": roles.AGENT, "data_staff": roles.DATA_STAFF}
STANDARD_VIEWS = ("changelist", "add", "change", "delete", "history")
NO_ACTION_MESSAGE = "No action selected."


@dataclass(frozen=True)
class Check:
    """One row of the matrix: a page, an action or a custom URL of one model admin."""

    model_label: str
    kind: str
    name: str = ""

    @property
    def key(self) -> str:
        return " ".join(part for part in (self.model_label, self.kind, self.name) if part)


def read_matrix(path: Path = MATRIX_PATH) -> dict[str, dict[str, str]]:
    """Return {check key: {role column: expected outcome}} from the committed CSV."""
    with path.open(newline="") as csv_file:
        rows = [row for row in csv.reader(csv_file) if row and not row[0].startswith("#")]
    header, body = rows[0], rows[1:]
    assert tuple(header) == ("check", *ROLE_COLUMNS), f"{path} must start with the header: check,{','.join(ROLE_COLUMNS)}"
    return {row[0]: dict(zip(ROLE_COLUMNS, row[1:])) for row in body}


def csv_line(key: str, outcomes: dict[str, str]) -> str:
    return ",".join([key, *(outcomes[column] for column in ROLE_COLUMNS)])


# --- The objects each admin page is opened on ---------------------------------------


def build_world(superuser) -> None:
    """Create one row of every model that the admin registers, with realistic links."""
    from django_q.models import OrmQ, Schedule, Task
    from django_q.signing import SignedPackage

    now = timezone.now()
    source = SourceFactory(name="Matrix ledger")
    customer = CustomerFactory(source=source, name="Matrix Customer Ltd", phone="+447700900123")
    Contact.objects.create(customer=customer, name="Pat Payables", email="pat@customer.example")
    invoice = InvoiceFactory(customer=customer, due_date=timezone.localdate() - datetime.timedelta(days=20))
    PaymentFactory(invoice=invoice, amount="10.00")
    CustomerCredit.objects.create(customer=customer, amount="5.00", currency="GBP", origin=CustomerCredit.Origin.CREDIT_NOTE)
    PaymentCard.objects.create(customer=customer, external_id="card_1", brand="Visa", last4="4242", exp_month=12, exp_year=2030)
    Dispute.objects.create(invoice=invoice, reason="Goods not received")
    Pause.objects.create(customer=customer, invoice=invoice, until=timezone.localdate() + datetime.timedelta(days=7), reason="Holiday")
    PromiseToPay.objects.create(invoice=invoice, promised_on=timezone.localdate() + datetime.timedelta(days=3))
    ImportRecord.objects.create(
        source=source,
        kind=ImportRecord.Kind.INVOICES,
        layout="template",
        status=ImportRecord.Status.APPLIED,
        file_name="invoices.csv",
        file_sha256="0" * 64,
    )
    SavedLayout.objects.create(name="Matrix layout", kind="invoices", mapping={"customer_id": "Account"})

    step = CampaignStepFactory()
    MessageTemplateFactory()
    InvoiceEnrollment.objects.create(invoice=invoice, version=step.version)
    run = DunningRun.objects.create(as_of=now, finished_at=now, duration_ms=5)
    touchpoint = Touchpoint.objects.create(
        customer=customer,
        kind=Touchpoint.Kind.DUNNING,
        status=Touchpoint.Status.SENT,
        tier=step.tier,
        template_key=step.template_key,
        dunning_run=run,
        recipient=customer.email,
        subject="Invoice reminder",
        sent_at=now,
    )
    TouchpointInvoice.objects.create(touchpoint=touchpoint, invoice=invoice, step=step, amount_due=invoice.amount_due)
    TouchpointEvent.objects.create(touchpoint=touchpoint, kind=TouchpointEvent.Kind.STATUS, to_status="sent")

    Schedule.objects.create(name="matrix schedule", func="django.utils.timezone.now", schedule_type=Schedule.ONCE)
    for success in (True, False):
        Task.objects.create(
            id=uuid.uuid4().hex,
            name=f"matrix task {success}",
            func="django.utils.timezone.now",
            started=now,
            stopped=now,
            success=success,
        )
    payload = SignedPackage.dumps({"id": uuid.uuid4().hex, "name": "queued", "func": "django.utils.timezone.now", "args": (), "kwargs": {}})
    OrmQ.objects.create(key="default", payload=payload, lock=now)

    optional_rows = [
        ("axes", "AccessAttempt", {"username": "someone", "ip_address": "127.0.0.1", "user_agent": "test", "path_info": "/admin/login/", "failures_since_start": 1, "get_data": "", "post_data": ""}),
        ("axes", "AccessLog", {"username": "someone", "ip_address": "127.0.0.1", "user_agent": "test", "path_info": "/admin/login/"}),
        ("axes", "AccessFailureLog", {"username": "someone", "ip_address": "127.0.0.1", "user_agent": "test", "path_info": "/admin/login/", "locked_out": False}),
        ("otp_totp", "TOTPDevice", {"user": superuser, "name": "phone", "confirmed": True}),
        ("otp_static", "StaticDevice", {"user": superuser, "name": "recovery codes", "confirmed": True}),
    ]
    for app_label, model_name, fields in optional_rows:
        try:
            model = apps.get_model(app_label, model_name)
        except LookupError:
            continue
        model.objects.create(**fields)


# --- Observing one admin as one user ------------------------------------------------


def url_arguments(pattern: URLPattern, obj) -> tuple[list, dict] | None:
    """Return reverse() arguments that point a custom URL at `obj`, or None when the URL
    takes a parameter this test does not know how to fill."""
    values_by_name = {"object_id": obj.pk, "pk": obj.pk, "id": obj.pk}
    history_manager = getattr(type(obj), "history", None)
    if history_manager is not None and hasattr(obj._meta, "simple_history_manager_attribute"):
        values_by_name["version_id"] = obj.history.latest().history_id

    route = str(pattern.pattern)
    names = re.findall(r"<(?:\w+:)?(\w+)>", route)
    if names:
        if any(name not in values_by_name for name in names):
            return None
        return [], {name: values_by_name[name] for name in names}

    regex = pattern.pattern.regex
    if regex.groupindex:
        if any(name not in values_by_name for name in regex.groupindex):
            return None
        return [], {name: values_by_name[name] for name in regex.groupindex}
    positional = [obj.pk, values_by_name.get("version_id")][: regex.groups]
    if None in positional:
        return None
    return positional, {}


def custom_patterns(model_admin) -> list[URLPattern]:
    opts = model_admin.model._meta
    standard = {f"{opts.app_label}_{opts.model_name}_{view}" for view in STANDARD_VIEWS}
    patterns = []
    for pattern in model_admin.get_urls():
        if not isinstance(pattern, URLPattern):
            continue
        if pattern.name in standard:
            continue
        if pattern.name is None and str(pattern.pattern) == "<path:object_id>/":
            # Django's redirect from the old change URL.
            continue
        patterns.append(pattern)
    return patterns


def short_url_name(model_admin, pattern: URLPattern) -> str:
    opts = model_admin.model._meta
    return (pattern.name or str(pattern.pattern)).removeprefix(f"{opts.app_label}_{opts.model_name}_")


def page_outcome(response, *, change_page: bool = False) -> str:
    """Classify a GET response that followed its redirects.

    A page that redirects to another admin page gets the outcome of that page, so an add
    page that sends users to a custom import form is as open as that form. A redirect to
    the admin index is how Django reports that the object does not exist.
    """
    status = response.status_code
    final_path = response.request["PATH_INFO"]
    if status == 403 or final_path == reverse("admin:login"):
        return "deny"
    if status == 404 or (response.redirect_chain and final_path == reverse("admin:index")):
        return "hidden"
    if status >= 400:
        return f"error-{status}"
    if change_page:
        context = response.context_data or {}
        if "has_change_permission" not in context:
            # The admin shows another read-only page in place of the change form.
            return "view"
        return "edit" if context["has_change_permission"] else "view"
    return "allow"


def action_refused(response, messages: list[str]) -> bool:
    """Return True when a POSTed action did not run: rejected with 403, rejected by the
    action form as not offered, or never dispatched because the user has no actions
    (the changelist is shown again)."""
    if response.status_code == 403 or NO_ACTION_MESSAGE in messages:
        return True
    return response.status_code == 200 and "cl" in (response.context_data or {})


def observe_admin(client, model_admin, obj) -> tuple[dict[Check, str], list[str]]:
    """Open every page, action and custom URL of one admin with the logged-in client.

    Returns the outcomes and a list of problems that stop a check from running.
    """
    opts = model_admin.model._meta
    label = opts.label_lower
    info = f"admin:{opts.app_label}_{opts.model_name}"
    outcomes: dict[Check, str] = {}
    problems: list[str] = []

    changelist_url = reverse(f"{info}_changelist")
    response = client.get(changelist_url, follow=True)
    outcomes[Check(label, "changelist")] = page_outcome(response)
    offered_actions = set()
    if response.status_code == 200 and response.context_data.get("action_form") is not None:
        offered_actions = {name for name, _ in response.context_data["action_form"].fields["action"].choices if name}

    outcomes[Check(label, "add")] = page_outcome(client.get(reverse(f"{info}_add"), follow=True))
    change_response = client.get(reverse(f"{info}_change", args=[obj.pk]), follow=True)
    outcomes[Check(label, "change")] = page_outcome(change_response, change_page=True)
    outcomes[Check(label, "delete")] = page_outcome(client.get(reverse(f"{info}_delete", args=[obj.pk]), follow=True))
    outcomes[Check(label, "history")] = page_outcome(client.get(reverse(f"{info}_history", args=[obj.pk]), follow=True))

    for action_name in all_action_names(model_admin):
        data = {"action": action_name, "_selected_action": [obj.pk], "index": 0, "select_across": 0}
        with transaction.atomic():
            response = client.post(changelist_url, data)
            messages = [str(message) for message in get_messages(response.wsgi_request)]
            transaction.set_rollback(True)
        check = Check(label, "action", action_name)
        if action_name not in offered_actions:
            outcomes[check] = "deny" if action_refused(response, messages) else "ran-while-not-offered"
        elif response.status_code == 403:
            outcomes[check] = "deny"
        elif response.status_code >= 400:
            outcomes[check] = f"error-{response.status_code}"
        else:
            outcomes[check] = "allow"

    for pattern in custom_patterns(model_admin):
        name = short_url_name(model_admin, pattern)
        check = Check(label, "url", name)
        arguments = url_arguments(pattern, obj)
        if pattern.name is None or arguments is None:
            problems.append(
                f"{check.key}: cannot build this URL ({pattern.pattern}); give it a name and "
                "teach url_arguments() in tests/test_role_matrix.py its parameters"
            )
            continue
        args, kwargs = arguments
        try:
            url = reverse(f"admin:{pattern.name}", args=args, kwargs=kwargs)
        except NoReverseMatch as error:
            problems.append(f"{check.key}: reverse() failed: {error}")
            continue
        with transaction.atomic():
            response = client.get(url, follow=True)
            if response.status_code == 405:
                response = client.post(url, {}, follow=True)
            transaction.set_rollback(True)
        outcomes[check] = page_outcome(response)
    return outcomes, problems


def all_action_names(model_admin) -> list[str]:
    """Return every action the admin class declares, offered to anyone or not."""
    names = set()
    for func, name, _ in model_admin._get_base_actions():
        names.add(name)
    return sorted(names)


# --- Fixtures and tests -------------------------------------------------------------


@pytest.fixture
def role_users(db):
    users = {"superuser": UserFactory(username="matrix-superuser", is_superuser=True)}
    for column, group_name in ROLE_GROUPS.items():
        user = UserFactory(username=f"matrix-{column}")
        user.groups.add(Group.objects.get(name=group_name))
        users[column] = user
    users["no_role"] = UserFactory(username="matrix-no-role")
    return users


@pytest.fixture
def observed_matrix(role_users, settings):
    """Observe every registered model admin as every role; returns (outcomes by key, problems)."""
    settings.DUNNING_REQUIRE_2FA = False
    # A page that raises is recorded as error-500 and reported, so one broken page does
    # not hide the rest of the matrix.
    client = Client(raise_request_exception=False)
    build_world(role_users["superuser"])

    observed: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    registry = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label_lower)
    for column in ROLE_COLUMNS:
        client.force_login(role_users[column])
        for model, model_admin in registry:
            obj = model._default_manager.order_by("pk").first()
            if obj is None:
                message = (
                    f"{model._meta.label_lower}: no row to open its pages on; add one to "
                    "build_world() in tests/test_role_matrix.py"
                )
                if message not in problems:
                    problems.append(message)
                continue
            outcomes, admin_problems = observe_admin(client, model_admin, obj)
            for problem in admin_problems:
                if problem not in problems:
                    problems.append(problem)
            for check, outcome in outcomes.items():
                observed.setdefault(check.key, {})[column] = outcome
                if outcome.startswith("error"):
                    problems.append(f"{check.key}: the request as {column} failed with {outcome}")
        client.logout()

    output_path = os.environ.get("ROLE_MATRIX_OUTPUT")
    if output_path:
        with open(output_path, "w") as output:
            output.write("check," + ",".join(ROLE_COLUMNS) + "\n")
            for key in sorted(observed):
                output.write(csv_line(key, observed[key]) + "\n")
    return observed, problems


@pytest.mark.django_db
def test_admin_permissions_match_role_matrix(observed_matrix):
    observed, problems = observed_matrix
    expected = read_matrix()

    missing = sorted(key for key in observed if key not in expected)
    stale = sorted(key for key in expected if key not in observed)
    differing = sorted(key for key in observed if key in expected and observed[key] != expected[key])

    report = []
    if problems:
        report.append("These checks could not run:")
        report.extend(f"  {problem}" for problem in problems)
    if missing:
        report.append(
            f"These pages, actions or URLs are missing from {MATRIX_PATH.name}. Check each "
            "observed value, then add the lines:"
        )
        report.extend(csv_line(key, observed[key]) for key in missing)
    if differing:
        report.append(f"These lines of {MATRIX_PATH.name} differ from what the admin allows:")
        for key in differing:
            details = ", ".join(
                f"{column} expected {expected[key][column]} observed {observed[key][column]}"
                for column in ROLE_COLUMNS
                if expected[key][column] != observed[key][column]
            )
            report.append(f"  {key}: {details}")
        report.append("If the admin is right, replace them with:")
        report.extend(csv_line(key, observed[key]) for key in differing)
    if stale:
        report.append(f"These lines of {MATRIX_PATH.name} name pages or actions that no longer exist; remove them:")
        report.extend(csv_line(key, expected[key]) for key in stale)
    if report:
        pytest.fail("\n".join(report), pytrace=False)


def test_matrix_denies_everything_to_staff_without_role():
    allowed = sorted(key for key, outcomes in read_matrix().items() if outcomes["no_role"] != "deny")

    assert allowed == [], f"staff with no role must be denied every page and action: {allowed}"


def test_matrix_keeps_users_and_task_queue_for_superusers():
    superuser_only_prefixes = ("auth.", "django_q.", "axes.", "otp_totp.", "otp_static.")
    leaks = sorted(
        f"{key} ({column})"
        for key, outcomes in read_matrix().items()
        if key.startswith(superuser_only_prefixes)
        for column in ROLE_COLUMNS
        if column != "superuser" and outcomes[column] != "deny"
    )

    assert leaks == [], f"only superusers may open these: {leaks}"


def test_matrix_uses_known_outcomes():
    known = {"allow", "deny", "edit", "view", "hidden"}
    unknown = sorted(
        f"{key} {column}={outcome}"
        for key, outcomes in read_matrix().items()
        for column, outcome in outcomes.items()
        if outcome not in known
    )

    assert unknown == [], f"outcomes must be one of {sorted(known)}: {unknown}"
