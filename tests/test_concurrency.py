"""Exactly-once under concurrency, on PostgreSQL: two dunning commands racing in separate
processes, row locks skipped by a second worker, and the unique (invoice, step)
constraint shown to be what stops a second message."""

import datetime
import email
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import pytest
from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone

from campaigns.delivery import claim_batch
from campaigns.engine import _create, run_pass
from campaigns.models import DunningRun, ToneTier, Touchpoint, TouchpointInvoice
from customers.models import Invoice
from tests.factories import CustomerFactory, InvoiceFactory, MessageTemplateFactory, SourceFactory, published_campaign

REPOSITORY = Path(settings.BASE_DIR)
ZONES = ("Europe/London", "Pacific/Auckland", "America/Los_Angeles", "Europe/Paris")

# Django is set up before the barrier, so both processes start the pass together.
RACER = textwrap.dedent(
    """
    import os, sys, time
    import django
    django.setup()
    from django.core.management import execute_from_command_line
    barrier = sys.argv[1]
    deadline = time.monotonic() + 30
    while not os.path.exists(barrier):
        if time.monotonic() > deadline:
            sys.exit("the barrier file never appeared")
        time.sleep(0.002)
    execute_from_command_line(["manage.py", "run_dunning", "--at", sys.argv[2]])
    """
)


def make_due_invoices(count):
    """Create `count` invoices that each have one email message due now."""
    published_campaign()
    for key in ("courtesy-reminder", "friendly-note"):
        MessageTemplateFactory(key=key, subject="Invoice {{ invoice_number }}", body_text="{{ amount_due }} is due.")
    source = SourceFactory(last_imported_at=timezone.now(), max_data_age_days=7)
    customers = [CustomerFactory(source=source, effective_time_zone=zone) for zone in ZONES]
    today = timezone.localdate()
    return [
        InvoiceFactory(customer=customers[index % len(customers)], due_date=today - datetime.timedelta(days=index % 20))
        for index in range(count)
    ]


def outbox_touchpoint_ids(outbox: Path) -> list[str]:
    ids = []
    for path in sorted(outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes())
        ids.append(message["X-Metadata-touchpoint_id"])
    return ids


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_racing_commands_send_each_message_once(tmp_path):
    invoices = make_due_invoices(60)
    outbox = tmp_path / "outbox"
    barrier = tmp_path / "go"
    environment = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "DJANGO_SETTINGS_MODULE": "dunning_site.settings",
        "DJANGO_DEBUG": "true",
        "DUNNING_OUTBOX_DIR": str(outbox),
        "DJANGO_LOG_LEVEL": "WARNING",
    }
    environment.pop("DUNNING_ESP", None)
    at = timezone.now().isoformat()

    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(barrier), at],
            cwd=REPOSITORY,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    time.sleep(1.5)  # let both finish django.setup() and wait at the barrier
    barrier.touch()
    outputs = [racer.communicate(timeout=60) for racer in racers]

    for racer, (stdout, stderr) in zip(racers, outputs):
        assert racer.returncode == 0, stderr
    assert TouchpointInvoice.objects.count() == len(invoices), "one touchpoint per invoice"
    assert Touchpoint.objects.count() == len(invoices), "the losing pass's touchpoints were deleted"
    sent = outbox_touchpoint_ids(outbox)
    assert len(sent) == len(invoices)
    assert len(set(sent)) == len(sent), "no touchpoint was sent twice"
    assert set(Touchpoint.objects.values_list("status", flat=True)) == {Touchpoint.Status.SENT}
    assert set(sent) == {str(pk) for pk in Touchpoint.objects.values_list("pk", flat=True)}
    runs = list(DunningRun.objects.values_list("counts", flat=True))
    assert len(runs) == 2
    assert sum(run["delivery"].get("sent", 0) for run in runs) == len(invoices)


def rows_and_step(invoices):
    """What a pass reads before creating the first messages: the rows and their step."""
    from campaigns.engine import ROW_FIELDS
    from campaigns.models import CampaignStep

    rows = list(Invoice.objects.filter(pk__in=[invoice.pk for invoice in invoices]).order_by("id").values(*ROW_FIELDS))
    step = CampaignStep.objects.get(tier=ToneTier.FRIENDLY)
    return rows, step


@pytest.mark.django_db(transaction=True)
def test_constraint_drops_the_losing_pass_rows():
    """Two passes that read the same rows before either committed: the second one's
    links hit the unique constraint and its touchpoints are deleted. Runs on SQLite too."""
    invoices = make_due_invoices(5)
    rows, step = rows_and_step(invoices)
    as_of = timezone.now()
    first_run = run_pass(as_of=as_of, dry_run=True)  # reads only; both passes see the same rows
    assert first_run.created == 5

    run = DunningRun.objects.create(as_of=as_of)
    kept_first, dropped_first = _create(rows, step, step.version, as_of=as_of, run=run)
    kept_second, dropped_second = _create(rows, step, step.version, as_of=as_of, run=run)

    assert (len(kept_first), dropped_first) == (5, 0)
    assert (len(kept_second), dropped_second) == (0, 5)
    assert Touchpoint.objects.count() == 5


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_without_constraint_duplicates_appear():
    """The same two inserts with the unique constraint removed: code alone does not stop
    the second message, which shows the constraint is what does."""
    invoices = make_due_invoices(5)
    rows, step = rows_and_step(invoices)
    as_of = timezone.now()
    [constraint] = [c for c in TouchpointInvoice._meta.constraints if c.name == "touchpoint_invoice_step_once"]
    run = DunningRun.objects.create(as_of=as_of)
    with connection.schema_editor() as editor:
        editor.remove_constraint(TouchpointInvoice, constraint)
    try:
        _create(rows, step, step.version, as_of=as_of, run=run)
        kept_second, dropped_second = _create(rows, step, step.version, as_of=as_of, run=run)
        duplicated = TouchpointInvoice.objects.filter(step=step).count()
    finally:
        TouchpointInvoice.objects.all().delete()
        Touchpoint.objects.all().delete()
        with connection.schema_editor() as editor:
            editor.add_constraint(TouchpointInvoice, constraint)

    assert dropped_second == 0
    assert len(kept_second) == 5
    assert duplicated == 10, "every invoice got the same step twice"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_claim_skips_rows_locked_by_another_worker():
    invoices = make_due_invoices(3)
    run_pass(delivery="none")
    first, *others = list(Touchpoint.objects.order_by("due_at", "id").values_list("pk", flat=True))
    locked = threading.Event()
    release = threading.Event()

    def other_worker():
        try:
            with transaction.atomic():
                list(Touchpoint.objects.select_for_update().filter(pk=first))
                locked.set()
                release.wait(timeout=10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert locked.wait(timeout=10)
        claimed = claim_batch(now=timezone.now(), worker="host-a:1", size=10)
    finally:
        release.set()
        thread.join(timeout=10)

    assert len(invoices) == 3
    assert claimed == others, "the row locked by the other worker is skipped, not waited for"
    assert Touchpoint.objects.get(pk=first).status == Touchpoint.Status.QUEUED
