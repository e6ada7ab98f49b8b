"""The demo: load_demo's data and idempotence, the first pass sending every tier, and
bin/demo.py setting up and serving a fresh SQLite database."""

import csv
import datetime
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from campaigns.models import CampaignVersion, InvoiceEnrollment, Touchpoint, TouchpointInvoice, ToneTier
from customers.models import Customer, Dispute, ImportRecord, Invoice, Pause, Payment, PromiseToPay, Source

REPO = Path(__file__).resolve().parent.parent
DEMO_TEMPLATE = REPO / "demo" / "invoices_template.csv"


@pytest.fixture
def demo_var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


@pytest.fixture
def loaded(db, demo_var_dir):
    pytest.importorskip("customers.imports.services")
    call_command("load_demo", "--allow-without-debug")
    return demo_var_dir


def table_counts() -> dict:
    models = [Source, Customer, Invoice, Payment, ImportRecord, Touchpoint, TouchpointInvoice, InvoiceEnrollment, Dispute, Pause, PromiseToPay]
    return {model.__name__: model.objects.count() for model in models}


def template_rows() -> list[dict]:
    with DEMO_TEMPLATE.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_load_demo_requires_debug(db, demo_var_dir):
    with pytest.raises(CommandError, match="DJANGO_DEBUG=true"):
        call_command("load_demo")

    assert not Source.objects.exists()


def test_load_demo_imports_through_pipeline(loaded):
    records = ImportRecord.objects.filter(source__name="Demo ledger").order_by("created_at")

    assert [record.kind for record in records] == ["invoices", "payments"]
    assert [record.status for record in records] == [ImportRecord.Status.APPLIED] * 2
    assert records[1].is_historical is False
    assert (loaded / "demo" / f"demo-invoices-{timezone.localdate().isoformat()}.csv").exists()


def test_load_demo_ledger_variety(loaded):
    customers = Customer.objects.filter(source__name="Demo ledger")
    invoices = Invoice.objects.filter(source__name="Demo ledger")

    assert customers.count() == len({row["customer_id"] for row in template_rows()}) >= 200
    assert invoices.count() == len(template_rows()) >= 300
    assert set(invoices.values_list("currency", flat=True)) == {"GBP", "EUR", "USD"}
    assert {"en-GB", "fr-FR", "de-DE", "nl-NL", "en-US"} <= set(customers.values_list("locale", flat=True))
    assert set(customers.values_list("kind", flat=True)) == {Customer.Kind.CONSUMER, Customer.Kind.BUSINESS}
    assert customers.filter(email="").count() == 2


def test_load_demo_dates_relative_to_today(loaded):
    today = timezone.localdate()
    row = template_rows()[0]

    invoice = Invoice.objects.get(source__name="Demo ledger", number=row["invoice_number"])

    assert invoice.due_date == today + datetime.timedelta(days=int(row["due_date_offset"]))


def test_load_demo_history_is_marked(loaded):
    history = Touchpoint.objects.filter(esp_name="demo history")
    published = CampaignVersion.objects.get(campaign__name="Standard reminders", status=CampaignVersion.Status.PUBLISHED)
    oldest_allowed = timezone.now() - datetime.timedelta(days=5)

    assert history.count() > 0
    assert set(history.values_list("tier", flat=True)) == {ToneTier.FRIENDLY, ToneTier.FIRM}
    assert all(touchpoint.status_reason.startswith("Demo history") for touchpoint in history)
    assert all(touchpoint.created_at <= oldest_allowed for touchpoint in history)
    assert all(touchpoint.status == Touchpoint.Status.SENT for touchpoint in history)
    links = TouchpointInvoice.objects.filter(touchpoint__in=history)
    assert set(links.values_list("step__version", flat=True)) == {published.pk}
    assert InvoiceEnrollment.objects.filter(invoice__in=links.values("invoice")).count() == links.values("invoice").distinct().count()


def test_load_demo_collections_state(loaded):
    assert Dispute.objects.filter(reason__startswith="Demo:").exists()
    assert Pause.objects.filter(reason__startswith="Demo:").exists()
    assert PromiseToPay.objects.filter(note__startswith="Demo:").exists()


def test_load_demo_payments_thank_you(loaded):
    payments = Payment.objects.filter(invoice__source__name="Demo ledger")

    assert payments.count() > 0
    assert Touchpoint.objects.filter(kind=Touchpoint.Kind.THANK_YOU).count() == payments.count()


def test_load_demo_twice_changes_nothing(loaded, capsys):
    before = table_counts()
    latest_change = max(Invoice.objects.values_list("updated_at", flat=True))

    call_command("load_demo", "--allow-without-debug")

    assert table_counts() == before
    assert max(Invoice.objects.values_list("updated_at", flat=True)) == latest_change
    assert "already loaded" in capsys.readouterr().out


def test_load_demo_warns_when_dates_are_old(loaded, capsys):
    ImportRecord.objects.update(created_at=timezone.now() - datetime.timedelta(days=3))
    capsys.readouterr()

    call_command("load_demo", "--allow-without-debug")

    output = capsys.readouterr().out
    assert "first loaded on" in output
    assert "DEMO_FRESH=1 make demo" in output


@pytest.mark.parametrize("local_time", [datetime.time(0, 5), datetime.time(7, 30), datetime.time(12, 0), datetime.time(23, 55)])
def test_first_pass_sends_every_tier(loaded, local_time):
    engine = pytest.importorskip("campaigns.engine")
    as_of = timezone.make_aware(datetime.datetime.combine(timezone.localdate(), local_time))

    result = engine.run_pass(as_of=as_of, dry_run=True)

    queued = {item.tier for item in result.planned if item.status == Touchpoint.Status.QUEUED}
    assert queued == {ToneTier.COURTESY, ToneTier.FRIENDLY, ToneTier.FIRM, ToneTier.FINAL}


def test_first_pass_suppresses_missing_email(loaded):
    engine = pytest.importorskip("campaigns.engine")

    result = engine.run_pass(dry_run=True)

    suppressed = [item for item in result.planned if item.status == Touchpoint.Status.SUPPRESSED]
    assert len(suppressed) >= 2
    assert all(item.reason for item in suppressed)


# --- bin/demo.py ----------------------------------------------------------------------


def demo_environment(tmp_path: Path) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DUNNING_", "DATABASE_URL", "Q_CLUSTER"))}
    env["DUNNING_VAR_DIR"] = str(tmp_path / "var")
    env["DUNNING_OUTBOX_DIR"] = str(tmp_path / "outbox")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_demo_script(tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "bin/demo.py", "--no-serve"],
        cwd=REPO,
        env=demo_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One `bin/demo.py --no-serve` run in a fresh folder, shared by the tests below."""
    pytest.importorskip("customers.imports.services")
    pytest.importorskip("campaigns.engine")
    tmp_path = tmp_path_factory.mktemp("demo")
    return tmp_path, run_demo_script(tmp_path)


def test_demo_script_sets_up(demo_run):
    tmp_path, completed = demo_run

    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert (tmp_path / "var" / "dunning.sqlite3").exists()
    assert re.search(r"Password: \S{12,}", completed.stdout)
    assert "Username: admin" in completed.stdout
    if importlib.util.find_spec("dunning_site.roles") is not None:
        assert "agent (collections agent), manager (collections manager), datastaff (data staff)" in completed.stdout
    assert f"Emails are written as .eml files to {tmp_path / 'outbox'}" in completed.stdout
    # run_dunning delivered the first pass's messages to the file outbox.
    assert len(list((tmp_path / "outbox").glob("*.eml"))) > 50


def test_demo_script_new_password_each_run(demo_run):
    tmp_path, first = demo_run
    password = re.search(r"Password: (\S+)", first.stdout).group(1)

    second = run_demo_script(tmp_path)

    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert re.search(r"Password: (\S+)", second.stdout).group(1) != password
    # Only Django's password hash is stored: the plain password is in no file, the
    # SQLite database and its write-ahead log included.
    for path in (tmp_path / "var").rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path


def leftover_servers(marker: str) -> list[str]:
    """List the command lines of live processes whose environment contains `marker`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker.encode() in environ and ("qcluster" in cmdline or "runserver" in cmdline):
            found.append(f"{proc.name}: {cmdline}")
    return found


@pytest.mark.parametrize(
    "stop_signal",
    [signal.SIGTERM, signal.SIGINT],
    ids=["sigterm-to-script", "ctrl-c-to-process-group"],
)
def test_demo_script_serves_and_stops(tmp_path, stop_signal):
    pytest.importorskip("customers.imports.services")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "bin/demo.py", "--port", str(port)],
        cwd=REPO,
        env=demo_environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            output.append(line)
            if "Stop with Ctrl-C" in line:
                break
        login = urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=10)
        assert login.status == 200

        if stop_signal == signal.SIGINT:
            # A terminal's Ctrl-C signals the whole foreground process group.
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=60)
        output.append(process.stdout.read())
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    text = "".join(output)
    assert returncode == 0, text[-3000:]
    assert f"http://127.0.0.1:{port}/admin/" in text
    assert "Stopped the web server and the task clusters." in text
    assert "did not stop within" not in text
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert leftover_servers(str(tmp_path)) == []
