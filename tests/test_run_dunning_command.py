import datetime
from io import StringIO

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone

from campaigns.models import DunningRun, ToneTier, Touchpoint, TouchpointInvoice
from tests.factories import CustomerFactory, InvoiceFactory, MessageTemplateFactory, SourceFactory, published_campaign

pytestmark = pytest.mark.django_db

AT = "2026-03-10T12:00:00+00:00"
TODAY = datetime.date(2026, 3, 10)


def run_command(*args):
    out = StringIO()
    call_command("run_dunning", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def data():
    published_campaign()
    MessageTemplateFactory(key="friendly-note", subject="Invoice {{ invoice_number }}", body_text="Please pay.")
    MessageTemplateFactory(key="courtesy-reminder", subject="Soon: {{ invoice_number }}", body_text="Due soon.")
    source = SourceFactory(last_imported_at=timezone.now(), max_data_age_days=400)
    customer = CustomerFactory(source=source, name="Brennan Hardware")
    return {
        "friendly": InvoiceFactory(customer=customer, number="INV-F1", due_date=TODAY - datetime.timedelta(days=30)),
        "courtesy": InvoiceFactory(customer=customer, number="INV-C1", due_date=TODAY + datetime.timedelta(days=2)),
        "no email": InvoiceFactory(
            customer=CustomerFactory(source=source, name="Quiet Ltd", email=""),
            number="INV-Q1",
            due_date=TODAY - datetime.timedelta(days=1),
        ),
    }


def test_summary_lists_tiers_and_sends(data, anymail_backend):
    output = run_command("--at", AT)

    assert "Created 2 message(s) to send:" in output
    assert "  Courtesy reminder: 1" in output
    assert "  Friendly: 1" in output
    assert "Created 1 suppressed touchpoint(s):" in output
    assert "  1 × The customer has no email address." in output
    assert "Sent 2, failed 0." in output
    assert len(anymail_backend) == 2
    assert DunningRun.objects.get().trigger == "command"


def test_summary_reports_failures(data, anymail_backend):
    from campaigns.models import MessageTemplate

    MessageTemplate.objects.filter(key="courtesy-reminder").delete()

    output = run_command("--at", AT)

    assert "Sent 1, failed 1." in output
    failed = Touchpoint.objects.get(status=Touchpoint.Status.FAILED)
    assert '"courtesy-reminder"' in failed.status_reason


def test_dry_run_lists_messages_writes_nothing(data, anymail_backend):
    output = run_command("--at", AT, "--dry-run")

    assert "nothing was written" in output
    assert "Brennan Hardware | invoice INV-F1 | Friendly | email template friendly-note" in output
    assert "Brennan Hardware | invoice INV-C1 | Courtesy reminder | email template courtesy-reminder" in output
    assert "Quiet Ltd | invoice INV-Q1 | Friendly | email template friendly-note | suppressed:" in output
    assert "Would create 2 message(s) to send:" in output
    assert Touchpoint.objects.count() == 0
    assert DunningRun.objects.count() == 0
    assert anymail_backend == []


def test_date_option_sets_local_date(data, anymail_backend):
    run_command("--date", "2026-03-07")

    tiers = dict(TouchpointInvoice.objects.values_list("invoice__number", "step__tier"))
    # On 7 March INV-C1 is due in 5 days, too early for the courtesy reminder at -3 days,
    # and INV-Q1 is due in 2 days.
    assert tiers == {"INV-F1": ToneTier.FRIENDLY, "INV-Q1": ToneTier.COURTESY}


def test_naive_instant_read_in_business_zone(data, anymail_backend, settings):
    settings.TIME_ZONE = "Pacific/Auckland"

    run_command("--at", "2026-03-10T09:00", "--dry-run")
    run_command("--at", "2026-03-10T09:00")

    run = DunningRun.objects.get()
    assert run.as_of == datetime.datetime(2026, 3, 9, 20, 0, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--at", "yesterday"], "--at 'yesterday' is not an ISO 8601 instant; use a form such as 2026-03-01T09:00:00+00:00."),
        (["--at", "2026-13-01T00:00:00Z"], "--at '2026-13-01T00:00:00Z' is not an ISO 8601 instant"),
        (["--date", "10/03/2026"], "--date '10/03/2026' is not a date in the form YYYY-MM-DD, such as 2026-03-01."),
        (["--date", "2026-02-30"], "--date '2026-02-30' is not a date in the form YYYY-MM-DD"),
    ],
)
def test_bad_value_names_value_and_format(args, message):
    with pytest.raises(CommandError) as raised:
        run_command(*args)

    assert message in str(raised.value)
    assert Touchpoint.objects.count() == 0


def test_at_and_date_are_exclusive():
    with pytest.raises(CommandError, match="not allowed with argument"):
        run_command("--at", AT, "--date", "2026-03-10")


def test_second_run_same_instant_sends_nothing(data, anymail_backend):
    run_command("--at", AT)
    mail.outbox.clear()

    output = run_command("--at", AT)

    assert "Created 0 message(s) to send:" in output
    assert anymail_backend == []
