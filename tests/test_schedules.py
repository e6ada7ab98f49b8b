import datetime
from io import StringIO

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from campaigns import tasks
from campaigns.models import DunningRun, Touchpoint
from campaigns.schedules import DUNNING_PASS_SCHEDULE, ensure_schedules
from tests.factories import CustomerFactory, InvoiceFactory, MessageTemplateFactory, SourceFactory, published_campaign

pytestmark = pytest.mark.django_db


def test_creates_fifteen_minute_schedule():
    schedule, created = ensure_schedules()

    assert created
    assert schedule.name == "dunning pass"
    assert schedule.func == "campaigns.tasks.run_dunning_pass"
    assert schedule.schedule_type == Schedule.MINUTES
    assert schedule.minutes == 15
    assert schedule.repeats == -1


def test_second_call_changes_nothing():
    first, _ = ensure_schedules()

    second, created = ensure_schedules()

    assert not created
    assert second.pk == first.pk
    assert second.next_run == first.next_run
    assert Schedule.objects.filter(name=DUNNING_PASS_SCHEDULE).count() == 1


def test_repairs_edited_schedule_and_copies():
    first, _ = ensure_schedules()
    Schedule.objects.filter(pk=first.pk).update(minutes=60, func="campaigns.tasks.other")
    Schedule.objects.create(name=DUNNING_PASS_SCHEDULE, func="campaigns.tasks.run_dunning_pass", schedule_type=Schedule.HOURLY)

    schedule, created = ensure_schedules()

    assert not created
    assert schedule.pk == first.pk
    assert schedule.minutes == 15
    assert schedule.func == "campaigns.tasks.run_dunning_pass"
    assert Schedule.objects.filter(name=DUNNING_PASS_SCHEDULE).count() == 1


def test_command_reports_schedule():
    out = StringIO()

    call_command("ensure_schedules", stdout=out)
    call_command("ensure_schedules", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0].startswith('Created schedule "dunning pass": campaigns.tasks.run_dunning_pass every 15 minutes')
    assert lines[1].startswith('Updated schedule "dunning pass"')


def test_scheduled_pass_uses_real_clock(anymail_backend, django_capture_on_commit_callbacks):
    """A slot missed three days ago runs as of now, then delivers what it created."""
    from django_q.scheduler import scheduler

    published_campaign()
    MessageTemplateFactory(key="friendly-note", subject="Invoice {{ invoice_number }}", body_text="Please pay.")
    source = SourceFactory(last_imported_at=timezone.now(), max_data_age_days=7)
    invoice = InvoiceFactory(customer=CustomerFactory(source=source), due_date=timezone.localdate())
    schedule, _ = ensure_schedules()
    missed = timezone.now() - datetime.timedelta(days=3)
    Schedule.objects.filter(pk=schedule.pk).update(next_run=missed)
    before = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        scheduler()

    run = DunningRun.objects.get()
    assert run.trigger == "schedule"
    assert run.as_of >= before
    touchpoint = Touchpoint.objects.get(invoice_links__invoice=invoice)
    assert touchpoint.status == Touchpoint.Status.SENT
    assert len(anymail_backend) == 1


def test_task_returns_counts():
    counts = tasks.run_dunning_pass()

    assert counts["created"] == 0
    assert DunningRun.objects.get().trigger == "schedule"
