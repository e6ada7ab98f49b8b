#!/usr/bin/env python3
"""Set up the demo on SQLite and serve it: `make demo` runs this.

Steps: migrate and create the cache table. Sync roles, then create or reset the
superuser "admin", and one demo user per staff role when roles exist, with a new random
password. Create the default campaign and the 15-minute schedule, load the demo ledger
and run a first dunning pass. Then start `runserver`, a `qcluster` for the default queue
and one for the imports queue side by side, until Ctrl-C or SIGTERM stops them all.

The demo always uses SQLite under DUNNING_VAR_DIR (default var/) and the .eml outbox,
and ignores DATABASE_URL and DUNNING_ESP, so it cannot touch a real database or email a
real customer. The password is printed once and stored nowhere but as Django's hash.
"""

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, str(REPO / "manage.py")]
# Seconds each server gets to stop after SIGTERM before it is killed.
STOP_TIMEOUT = 20
# Variables that would point the demo at a real database, ESP or login policy.
# Q_CLUSTER_NAME picks the queue a qcluster serves, so the demo sets it per process.
IGNORED_VARIABLES = (
    "DATABASE_URL",
    "DUNNING_ESP",
    "DUNNING_ESP_API_KEY",
    "DUNNING_REQUIRE_2FA",
    "DJANGO_SETTINGS_MODULE",
    "Q_CLUSTER_NAME",
)

# Runs inside `manage.py shell`. Reads the password from the environment so that it
# never appears in a process list. Role users are created only when dunning_site.roles
# defines the role, and each gets the role's group.
SETUP_USERS = """
import os
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

password = os.environ["DEMO_PASSWORD"]
users = [("admin", None)]
try:
    from dunning_site import roles
except ImportError:
    roles = None
for username, role_name in (("agent", "AGENT"), ("manager", "MANAGER"), ("datastaff", "DATA_STAFF")):
    group_name = getattr(roles, role_name, None)
    if group_name and Group.objects.filter(name=group_name).exists():
        users.append((username, group_name))

User = get_user_model()
for username, group_name in users:
    user, _created = User.objects.get_or_create(username=username, defaults={"email": f"{username}@demo.example"})
    user.is_staff = True
    user.is_active = True
    user.is_superuser = group_name is None
    user.set_password(password)
    user.save()
    if group_name:
        user.groups.set([Group.objects.get(name=group_name)])
    try:
        from axes.utils import reset
    except ImportError:
        pass
    else:
        reset(username=username)
    print(f"DEMO_USER {username} {group_name or 'superuser'}")
"""


def demo_environment() -> dict:
    env = {name: value for name, value in os.environ.items() if name not in IGNORED_VARIABLES}
    env["DJANGO_DEBUG"] = "true"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_manage(env: dict, *args: str, capture: bool = False, label: str = "") -> str:
    print(f"==> manage.py {label or ' '.join(args)}", flush=True)
    completed = subprocess.run(
        [*MANAGE, *args], cwd=REPO, env=env, text=True, stdout=subprocess.PIPE if capture else None
    )
    if completed.returncode != 0:
        sys.exit(f"manage.py {label or ' '.join(args)} failed with exit code {completed.returncode}; see the output above.")
    return completed.stdout or ""


def available_commands(env: dict) -> set[str]:
    code = "from django.core.management import get_commands; print(' '.join(get_commands()))"
    output = run_manage(env, "shell", "-c", code, capture=True, label="shell (list the available commands)")
    return set(output.split())


def var_dir(env: dict) -> Path:
    return Path(env.get("DUNNING_VAR_DIR") or REPO / "var")


def sqlite_path(env: dict) -> Path:
    return var_dir(env) / "dunning.sqlite3"


def outbox_path(env: dict) -> Path:
    return Path(env.get("DUNNING_OUTBOX_DIR") or var_dir(env) / "outbox")


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        candidate = path.with_name(path.name + suffix)
        if candidate.exists():
            candidate.unlink()
            print(f"Removed {candidate}")


def set_up(env: dict, *, fresh: bool) -> tuple[str, list[tuple[str, str]]]:
    """Prepare the database and demo data, and return the password and (user, role) pairs."""
    database = sqlite_path(env)
    if fresh:
        remove_database(database)
    database.parent.mkdir(parents=True, exist_ok=True)

    run_manage(env, "migrate", "--noinput")
    run_manage(env, "createcachetable")
    commands = available_commands(env)
    if "sync_roles" in commands:
        run_manage(env, "sync_roles")

    password = secrets.token_urlsafe(12)
    output = run_manage(
        {**env, "DEMO_PASSWORD": password}, "shell", "-c", SETUP_USERS, capture=True, label="shell (create or reset the demo users)"
    )
    # Each line is "DEMO_USER <username> <role or superuser>", and role names contain spaces.
    users = [tuple(line.split(maxsplit=2)[1:]) for line in output.splitlines() if line.startswith("DEMO_USER ")]

    run_manage(env, "ensure_default_campaign")
    if "ensure_schedules" in commands:
        run_manage(env, "ensure_schedules")
    run_manage(env, "load_demo")
    if "run_dunning" in commands:
        run_manage(env, "run_dunning")
    return password, users


def wait_for_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.3)
    return False


def stop(processes: dict[str, subprocess.Popen]) -> None:
    """Send SIGTERM to each server, wait, and kill the process groups that hang.

    A qcluster is a sentinel with worker children. The sentinel alone gets SIGTERM,
    because it stops its workers itself. With django-q2 1.11, signalling the workers too
    left the sentinel waiting until it was killed. Its whole group is killed when it hangs,
    so that no worker is left running on the database.
    """
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for name, process in processes.items():
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop within {STOP_TIMEOUT} s; killing it.", flush=True)
            signal_group(process, signal.SIGKILL)
            process.wait()
        # Workers that outlive their sentinel are killed with the group.
        signal_group(process, signal.SIGKILL)


def signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


def start(command: list[str], env: dict) -> subprocess.Popen:
    # Each server gets its own session, so a Ctrl-C in the terminal reaches only this
    # script, which then stops every server once, in order, through stop().
    return subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True)


class StopRequested(Exception):
    pass


def raise_stop(signum, frame):
    raise StopRequested


def serve(env: dict, *, port: int, password: str, users: list[tuple[str, str]]) -> int:
    processes = {}
    signal.signal(signal.SIGTERM, raise_stop)
    try:
        processes["web server"] = start([*MANAGE, "runserver", f"127.0.0.1:{port}", "--noreload"], env)
        processes["task cluster"] = start([*MANAGE, "qcluster"], env)
        # Large spreadsheet imports run on the "imports" queue, which Q_CLUSTER["ALT_CLUSTERS"] configures.
        processes["imports cluster"] = start([*MANAGE, "qcluster"], {**env, "Q_CLUSTER_NAME": "imports"})
        if not wait_for_port(port, timeout=30):
            print(f"The web server did not start listening on 127.0.0.1:{port} within 30 s.", flush=True)
            return 1

        print_welcome(port, password, users, outbox=outbox_path(env), serving=True)
        while True:
            for name, process in processes.items():
                if process.poll() is not None:
                    print(f"The {name} exited with code {process.returncode}; stopping the demo.", flush=True)
                    return 1
            time.sleep(0.5)
    except (KeyboardInterrupt, StopRequested):
        return 0
    finally:
        # The servers run in their own sessions, so neither Ctrl-C nor a SIGTERM to this
        # script reaches them: stop() forwards one SIGTERM to each.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        stop(processes)
        print("Stopped the web server and the task clusters.", flush=True)


def print_welcome(port: int, password: str, users: list[tuple[str, str]], *, outbox: Path, serving: bool) -> None:
    rule = "=" * 64
    lines = [
        rule,
        "The dunning back office demo is running." if serving else "The demo database is ready (servers not started).",
        f"  Admin:    http://127.0.0.1:{port}/admin/",
        "  Username: admin",
        f"  Password: {password}",
    ]
    staff = [f"{username} ({role})" for username, role in users if username != "admin"]
    if staff:
        lines.append(f"  Staff users with the same password: {', '.join(staff)}")
    lines += [
        f"  Emails are written as .eml files to {outbox}, and nothing is sent.",
        "  The password changes every time the demo starts.",
        "  Stop with Ctrl-C." if serving else "  Serve it with: python bin/demo.py",
        rule,
    ]
    print("\n".join(lines), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="Port of the web server on 127.0.0.1 (default 8000).")
    parser.add_argument("--no-serve", action="store_true", help="Set up the database and demo data, print the login, and exit.")
    parser.add_argument(
        "--fresh",
        action="store_true",
        default=os.environ.get("DEMO_FRESH", "") in ("1", "true", "yes"),
        help="Delete the demo SQLite database first, so the demo data is dated from today (also DEMO_FRESH=1).",
    )
    options = parser.parse_args()

    ignored = [name for name in IGNORED_VARIABLES if os.environ.get(name)]
    if ignored:
        print(f"The demo ignores {', '.join(ignored)}: it always uses SQLite and the .eml outbox.", flush=True)
    env = demo_environment()

    try:
        password, users = set_up(env, fresh=options.fresh)
    except KeyboardInterrupt:
        print("Setup interrupted; run the demo again to finish it.", flush=True)
        return 130
    if options.no_serve:
        print_welcome(options.port, password, users, outbox=outbox_path(env), serving=False)
        return 0
    return serve(env, port=options.port, password=password, users=users)


if __name__ == "__main__":
    sys.exit(main())
