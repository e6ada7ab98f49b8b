"""Measure the import pipeline against the fastest ways to load the same rows, in one run.

Run from the project root, with DATABASE_URL naming a PostgreSQL database whose name
contains "bench" (default postgres://postgres@127.0.0.1:5432/dunning_bench):

    python bench/import_baselines.py --rows 100000 --customers 20000
    python bench/import_baselines.py --quick          # 5,000 rows, under a minute

The script creates the database when it is missing and migrates it. It writes the
reference dataset (bench/dataset.py) as the invoices template in CSV and XLSX, plus
Xero's export shape. Then it runs each measurement in its own subprocess, so that
memory peaks do not mix, after emptying the customers, campaigns and offers tables:

- COPY into a staging table, then INSERT ... SELECT into customers and invoices. This is
  the floor that CSV figures are divided by.
- Django bulk_create of the same rows, customers first.
- django-import-export 4.4 tuned (CachedInstanceLoader, CachedForeignKeyWidget,
  use_bulk, skip_diff, batch_size) on all rows.
- django-import-export with its defaults (one query per row and lookup) on a 5,000-row
  sample (1,000 with --quick) with the same customers-per-invoice ratio. Its time for
  all rows is extrapolated from that rate.
- openpyxl read-only iteration of the XLSX file, the floor for XLSX figures.
- The project's pipeline, customers.imports.services.import_file, as a preview
  (dry_run=True) and applied, on CSV, plus a preview of the XLSX file and of the Xero
  file. These are skipped with a note when the function does not exist yet.

The table shows seconds, rows per second, the ratio to the floor, and the subprocess's
peak resident memory (ru_maxrss). That peak includes Python, Django and the project as
loaded before the measurement starts, about 75 MB on the machine in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from bench.dataset import DatasetConfig, write_template_csv, write_template_xlsx, write_xero_csv  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/dunning_bench"
SAMPLE_ROWS = 5000
QUICK_ROWS = 5000
QUICK_CUSTOMERS = 1000
# The default import-export mode is slow (about 300 rows a second on the machine in
# docs/benchmarks.md), so --quick samples fewer rows.
QUICK_SAMPLE_ROWS = 1000


@dataclass(frozen=True)
class Measurement:
    name: str
    label: str
    # Input file key: "csv", "xlsx", "xero" or "sample" (the --sample-rows CSV).
    input: str
    # The floor this measurement is divided by: "copy" or "openpyxl".
    baseline: str
    function: str  # Name of the function in bench/import_measurements.py.
    # Whether the measurement stores the invoices. The run checks the invoice count after it.
    writes: bool = True


MEASUREMENTS = (
    Measurement("copy", "COPY + INSERT ... SELECT (floor)", "csv", "copy", "measure_copy"),
    Measurement("bulk_create", "Django bulk_create", "csv", "copy", "measure_bulk_create"),
    Measurement("ie_tuned", "import-export tuned", "csv", "copy", "measure_import_export_tuned"),
    Measurement(
        "ie_default", "import-export defaults, on a sample", "sample", "copy", "measure_import_export_default"
    ),
    Measurement(
        "pipeline_preview", "pipeline preview, CSV", "csv", "copy", "measure_pipeline_preview", writes=False
    ),
    Measurement("pipeline_apply", "pipeline apply, CSV", "csv", "copy", "measure_pipeline_apply"),
    Measurement(
        "pipeline_xero_preview",
        "pipeline preview, Xero CSV",
        "xero",
        "copy",
        "measure_pipeline_xero_preview",
        writes=False,
    ),
    Measurement("openpyxl", "openpyxl read-only (XLSX floor)", "xlsx", "openpyxl", "measure_openpyxl", writes=False),
    Measurement(
        "pipeline_xlsx_preview", "pipeline preview, XLSX", "xlsx", "openpyxl", "measure_pipeline_preview", writes=False
    ),
)
MEASUREMENTS_BY_NAME = {measurement.name: measurement for measurement in MEASUREMENTS}


@dataclass
class Result:
    name: str
    label: str
    baseline: str
    rows: int = 0
    seconds: float | None = None
    # For a sample measurement: the seconds projected for all rows at the sample's rate.
    projected_seconds: float | None = None
    peak_rss_mb: float | None = None
    startup_rss_mb: float | None = None
    tracemalloc_peak_mb: float | None = None
    rows_in_database: dict | None = None
    failure: str = ""
    skipped: str = ""
    details: dict | None = None

    @property
    def comparable_seconds(self) -> float | None:
        return self.projected_seconds if self.projected_seconds is not None else self.seconds


# --- child process: one measurement ---------------------------------------------------------

def max_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(measurement: Measurement, input_path: Path, use_tracemalloc: bool) -> dict:
    """Set Django up, reset the tables, time one measurement and return its figures."""
    import django

    django.setup()
    from bench import import_measurements
    from django.db import connection

    source, _xero_source = import_measurements.reset_tables()
    function = getattr(import_measurements, measurement.function)
    startup_rss = max_rss_mb()

    if use_tracemalloc:
        import tracemalloc

        tracemalloc.start()
    started = time.perf_counter()
    outcome = function(input_path, source)
    seconds = time.perf_counter() - started
    tracemalloc_peak = None
    if use_tracemalloc:
        tracemalloc_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()

    figures = {
        "rows": outcome.rows,
        "seconds": seconds,
        "peak_rss_mb": max_rss_mb(),
        "startup_rss_mb": startup_rss,
        "tracemalloc_peak_mb": tracemalloc_peak,
        "rows_in_database": import_measurements.count_rows(),
        "failure": outcome.failure,
        "skipped": outcome.skipped,
        "details": outcome.details,
    }
    connection.close()
    return figures


# --- parent process: data, database, subprocesses, report -----------------------------------

def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def ensure_database(url: str) -> None:
    """Create the benchmark database on its server when it does not exist."""
    import psycopg

    name = database_name(url)
    maintenance_url = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(maintenance_url, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}", file=sys.stderr)


def postgres_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as connection:
        return connection.execute("SHOW server_version").fetchone()[0]


def machine_description() -> dict:
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(memory_gib, 1),
        "python": platform.python_version(),
    }


def source_revision() -> str:
    """Return the checked-out commit, marked "+ uncommitted changes" when the tree differs from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit} + uncommitted changes" if status else commit


def child_environment(database_url: str) -> dict:
    environment = dict(os.environ)
    environment["DATABASE_URL"] = database_url
    environment["DJANGO_SETTINGS_MODULE"] = "dunning_site.settings"
    # DEBUG must stay off: with it on, Django keeps every query in memory.
    environment["DJANGO_DEBUG"] = "false"
    environment.setdefault("DJANGO_SECRET_KEY", "benchmark-only-secret-key")
    environment.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    return environment


def migrate(environment: dict) -> None:
    subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "manage.py"), "migrate", "--verbosity", "0"],
        cwd=PROJECT_ROOT,
        env=environment,
        check=True,
    )


def write_inputs(config: DatasetConfig, sample_config: DatasetConfig, directory: Path, measurements) -> dict[str, Path]:
    """Write the input files the chosen measurements need and return them by key."""
    needed = {measurement.input for measurement in measurements}
    writers = {
        "csv": (write_template_csv, config, "invoices.csv"),
        "sample": (write_template_csv, sample_config, "invoices-sample.csv"),
        "xlsx": (write_template_xlsx, config, "invoices.xlsx"),
        "xero": (write_xero_csv, config, "xero-invoices.csv"),
    }
    paths = {}
    for key, (writer, file_config, file_name) in writers.items():
        if key not in needed:
            continue
        path = directory / file_name
        started = time.perf_counter()
        rows = writer(file_config, path)
        print(
            f"wrote {path.name}: {rows:,} rows, {path.stat().st_size / 2**20:.1f} MB "
            f"in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        paths[key] = path
    return paths


def run_measurement(
    measurement: Measurement, input_path: Path, environment: dict, arguments: argparse.Namespace
) -> Result:
    """Run one measurement `arguments.repeat` times, each in a new subprocess.

    The result keeps the fastest run's seconds and the highest peak memory of all runs.
    """
    result = Result(name=measurement.name, label=measurement.label, baseline=measurement.baseline)
    command = [sys.executable, str(Path(__file__).resolve()), "--child", measurement.name, "--input", str(input_path)]
    if arguments.tracemalloc:
        command.append("--tracemalloc")
    for _attempt in range(arguments.repeat):
        try:
            completed = subprocess.run(
                command, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=arguments.timeout
            )
        except subprocess.TimeoutExpired:
            result.failure = f"timed out after {arguments.timeout} s; raise --timeout or use fewer --rows"
            return result
        if completed.returncode != 0:
            last_lines = "\n".join(completed.stderr.strip().splitlines()[-5:])
            result.failure = f"exited with status {completed.returncode}: {last_lines}"
            return result
        figures = json.loads(completed.stdout.strip().splitlines()[-1])
        if figures["skipped"] or figures["failure"]:
            result.skipped, result.failure = figures["skipped"], figures["failure"]
            result.details = figures["details"]
            return result
        stored_invoices = figures["rows_in_database"]["invoices"]
        expected_invoices = figures["rows"] if measurement.writes else 0
        if stored_invoices != expected_invoices:
            result.failure = f"{stored_invoices:,} invoices in the database afterwards, expected {expected_invoices:,}"
            return result
        result.rows = figures["rows"]
        result.rows_in_database = figures["rows_in_database"]
        result.details = figures["details"]
        result.startup_rss_mb = figures["startup_rss_mb"]
        if result.seconds is None or figures["seconds"] < result.seconds:
            result.seconds = figures["seconds"]
        result.peak_rss_mb = max(result.peak_rss_mb or 0, figures["peak_rss_mb"])
        if figures["tracemalloc_peak_mb"] is not None:
            result.tracemalloc_peak_mb = max(result.tracemalloc_peak_mb or 0, figures["tracemalloc_peak_mb"])
    return result


def format_table(results: list[Result], total_rows: int, show_tracemalloc: bool) -> str:
    floors = {result.name: result.comparable_seconds for result in results if result.name in ("copy", "openpyxl")}
    headers = ["measurement", "seconds", "rows/s", "ratio", "vs", "peak RSS MB"]
    if show_tracemalloc:
        headers.append("tracemalloc MB")
    lines = []
    notes = []
    for result in results:
        if result.skipped or result.failure:
            reason = f"skipped: {result.skipped}" if result.skipped else f"FAILED: {result.failure}"
            notes.append(f"{result.label}: {reason}")
            lines.append([result.label, "-", "-", "-", "-", "-"] + (["-"] if show_tracemalloc else []))
            continue
        seconds = result.comparable_seconds
        floor = floors.get(result.baseline)
        ratio = f"{seconds / floor:.2f}x" if floor else "-"
        rows_per_second = result.rows / result.seconds if result.seconds else 0
        seconds_text = f"{seconds:.2f}"
        if result.projected_seconds is not None:
            seconds_text += " (projected)"
            notes.append(
                f"{result.label}: measured {result.seconds:.2f} s on {result.rows:,} rows, "
                f"projected to {total_rows:,} rows at that rate"
            )
        line = [
            result.label,
            seconds_text,
            f"{rows_per_second:,.0f}",
            ratio,
            "openpyxl" if result.baseline == "openpyxl" else "COPY",
            f"{result.peak_rss_mb:.0f}",
        ]
        if show_tracemalloc:
            line.append(f"{result.tracemalloc_peak_mb:.0f}" if result.tracemalloc_peak_mb is not None else "-")
        lines.append(line)

    widths = [max(len(str(row[index])) for row in [headers, *lines]) for index in range(len(headers))]
    rendered = [" | ".join(cell.ljust(width) for cell, width in zip(headers, widths))]
    rendered.append("-+-".join("-" * width for width in widths))
    for line in lines:
        cells = [line[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(line[1:], widths[1:])]
        rendered.append(" | ".join(cells))
    if notes:
        rendered.append("")
        rendered.extend(f"- {note}" for note in notes)
    return "\n".join(rendered)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="invoice rows in the dataset (default 100,000)")
    parser.add_argument("--customers", type=int, default=20_000, help="customers in the dataset (default 20,000)")
    parser.add_argument(
        "--quick", action="store_true", help=f"use {QUICK_ROWS:,} rows and {QUICK_CUSTOMERS:,} customers"
    )

    parser.add_argument("--seed", type=int, default=DatasetConfig.seed, help="dataset seed")
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated measurements to run (default all): {', '.join(MEASUREMENTS_BY_NAME)}. "
        "Ratios need copy or openpyxl in the same run.",
    )
    parser.add_argument(
        "--sample-rows",
        type=int,
        default=SAMPLE_ROWS,
        help=f"rows for import-export's default mode, projected to --rows (default {SAMPLE_ROWS:,}, "
        f"{QUICK_SAMPLE_ROWS:,} with --quick)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement; the fastest counts (default 1)")
    parser.add_argument(
        "--timeout", type=int, default=900, help="seconds before one measurement is stopped (default 900)"
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="also report the Python heap peak from tracemalloc (this slows Python code, so times rise)",
    )

    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--workdir", type=Path, help="folder for the generated files (default a new temporary folder)")
    parser.add_argument("--keep-files", action="store_true", help="keep the generated files after the run")
    parser.add_argument("--json", type=Path, help="also write the results and the machine description to this file")
    # Internal: run one measurement and print its figures as JSON.
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)

    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.rows, arguments.customers = QUICK_ROWS, QUICK_CUSTOMERS
        arguments.sample_rows = min(arguments.sample_rows, QUICK_SAMPLE_ROWS)
    if arguments.sample_rows < 1:
        parser.error(f"--sample-rows {arguments.sample_rows} is invalid; use 1 or more")
    if arguments.repeat < 1:
        parser.error(f"--repeat {arguments.repeat} is invalid; use 1 or more")
    unknown = [name for name in filter(None, arguments.only.split(",")) if name not in MEASUREMENTS_BY_NAME]
    if unknown:
        parser.error(f"unknown measurement {', '.join(unknown)}; choose from {', '.join(MEASUREMENTS_BY_NAME)}")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.child:
        figures = run_child(MEASUREMENTS_BY_NAME[arguments.child], arguments.input, arguments.tracemalloc)
        print(json.dumps(figures))
        return 0

    name = database_name(arguments.database_url)
    if not arguments.database_url.startswith(("postgres://", "postgresql://")) or "bench" not in name:
        print(
            f"error: {arguments.database_url!r} is not a PostgreSQL database whose name contains 'bench'. "
            "The benchmark empties the customers, campaigns and offers tables, so point --database-url "
            f"or DATABASE_URL at a benchmark database such as {DEFAULT_DATABASE_URL}.",
            file=sys.stderr,
        )
        return 2
    selected = [MEASUREMENTS_BY_NAME[name] for name in filter(None, arguments.only.split(","))] or list(MEASUREMENTS)

    config = DatasetConfig(invoices=arguments.rows, customers=arguments.customers, seed=arguments.seed)
    sample_rows = min(arguments.sample_rows, arguments.rows)
    sample_customers = max(1, round(sample_rows * arguments.customers / max(arguments.rows, 1)))
    sample_config = DatasetConfig(invoices=sample_rows, customers=sample_customers, seed=arguments.seed)

    ensure_database(arguments.database_url)
    environment = child_environment(arguments.database_url)
    migrate(environment)

    directory = arguments.workdir or Path(tempfile.mkdtemp(prefix="dunning-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    machine = machine_description()
    machine["postgresql"] = postgres_version(arguments.database_url)
    machine["revision"] = source_revision()
    try:
        paths = write_inputs(config, sample_config, directory, selected)
        results = []
        for measurement in selected:
            print(f"running {measurement.name} ...", file=sys.stderr)
            result = run_measurement(measurement, paths[measurement.input], environment, arguments)
            if measurement.input == "sample" and result.seconds and 0 < result.rows < arguments.rows:
                result.projected_seconds = result.seconds * arguments.rows / result.rows
            results.append(result)
    finally:
        if not arguments.keep_files and arguments.workdir is None:
            shutil.rmtree(directory, ignore_errors=True)

    print(
        f"\n{arguments.rows:,} invoice rows, {arguments.customers:,} customers, seed {arguments.seed}; "
        f"{machine['cpus']} CPUs ({machine['cpu_model']}), {machine['memory_gib']} GiB, "
        f"PostgreSQL {machine['postgresql']}, Python {machine['python']}, code at {machine['revision']}\n"
    )
    print(format_table(results, arguments.rows, arguments.tracemalloc))
    if arguments.json:
        payload = {
            "rows": arguments.rows,
            "customers": arguments.customers,
            "seed": arguments.seed,
            "machine": machine,
            "results": [asdict(result) for result in results],
        }
        arguments.json.write_text(json.dumps(payload, indent=2, default=str))
    return 1 if any(result.failure for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
