"""The staged import, which stores its plan as ImportEntry rows.

Covered here: template files planned a chunk at a time, the restart once D/M/Y dates
turn up, CSV files re-read from disk with their encoding checked in 1 MB chunks, and the
check for an incomplete stored plan. Also INSERT ... SELECT of new rows on PostgreSQL,
link validation, and the admin pages that stream the stored plan."""

import codecs
import csv
import datetime
import io
import re
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.validators import URLValidator
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

import customers.admin_imports  # noqa: F401  (registers ImportRecordAdmin)
from customers.imports import parsing, pipeline, plan_store, services, set_apply
from customers.imports.errors import CellError
from customers.models import Customer, ImportEntry, ImportRecord, Invoice, Source
from dunning_site import roles
from tests.factories import UserFactory
from tests.import_helpers import TEMPLATE_INVOICE_HEADER, csv_text, invoice_row, write_csv

pytestmark = pytest.mark.django_db

LEDGER_TABLES = ("customers_customer", "customers_invoice", "customers_payment")
MEGABYTE = 1 << 20


def numbered_rows(count: int, *, customers: int = 3, **overrides) -> list[dict]:
    """Return `count` template rows INV-1..INV-count. Row n belongs to customer C-(n % customers + 1)."""
    rows = []
    for number in range(1, count + 1):
        customer = number % customers + 1
        fields = {
            "customer_id": f"C-{customer}",
            "customer_name": f"Customer {customer}",
            "invoice_number": f"INV-{number}",
            "payment_link": f"https://pay.example/INV-{number}",
            **overrides,
        }
        rows.append(invoice_row(**fields))
    return rows


def sheet_row(number: int) -> int:
    """Return the spreadsheet row of invoice INV-number in a file from `numbered_rows`."""
    return number + 1


@pytest.fixture
def small_chunks(monkeypatch):
    """Plan template files 3 rows at a time and write entries 2 at a time, and count the
    planning calls, so that a 10-row file spans several chunks and database writes."""
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 3)
    monkeypatch.setattr(plan_store, "WRITE_BATCH", 2)
    calls = {"plan": 0, "inserted": 0}
    real_plan_entries = services.plan_entries
    real_insert_entries = plan_store.insert_entries

    def counting_plan_entries(validation, source, kind):
        calls["plan"] += 1
        return real_plan_entries(validation, source, kind)

    def counting_insert_entries(rows):
        calls["inserted"] += len(rows)
        return real_insert_entries(rows)

    monkeypatch.setattr(services, "plan_entries", counting_plan_entries)
    monkeypatch.setattr(plan_store, "insert_entries", counting_insert_entries)
    return calls


def ledger_writes(queries) -> list[str]:
    return [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].split()[0] in ("INSERT", "UPDATE", "DELETE") and any(table in query["sql"] for table in LEDGER_TABLES)
    ]


def entry_keys(record: ImportRecord) -> list[tuple[str, str]]:
    return list(record.entries.order_by("position").values_list("entity", "key"))


# Template files planned a chunk at a time -------------------------------------------------


def test_chunked_file_imports_each_row_once(tmp_path, small_chunks):
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, numbered_rows(10))

    record = services.import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    # 3 full chunks of 3 rows, then the last row.
    assert small_chunks["plan"] == 4
    assert record.row_count == 10
    assert record.counts["customers"] == {"created": 3, "updated": 0, "unchanged": 0}
    assert record.counts["invoices"] == {"created": 10, "updated": 0, "unchanged": 0, "skipped": 0}
    assert sorted(Customer.objects.values_list("external_id", flat=True)) == ["C-1", "C-2", "C-3"]
    owners = dict(Invoice.objects.values_list("number", "customer__external_id"))
    assert owners == {f"INV-{number}": f"C-{number % 3 + 1}" for number in range(1, 11)}
    keys = entry_keys(record)
    assert len(keys) == len(set(keys)) == 13
    assert record.plan_summary["entries"] == 13


def test_chunked_duplicate_invoice_names_both_rows(tmp_path, small_chunks):
    rows = numbered_rows(10)
    # INV-2 is in the first chunk, and its copy replaces INV-8 in the third.
    rows[7]["invoice_number"] = "INV-2"
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, rows)

    record = services.import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == [
        f'row {sheet_row(8)}, column "invoice_number", value "INV-2": '
        f"the same invoice is also in row {sheet_row(2)}; keep one row per invoice"
    ]
    assert record.counts["refused_rows"] == 1
    assert Customer.objects.count() == 0
    assert Invoice.objects.count() == 0


def test_chunked_customer_conflict_names_first_row(tmp_path, small_chunks):
    rows = numbered_rows(10)
    # C-2 is first on row 2 (INV-1). INV-10, in the last chunk, gives it another name.
    rows[9]["customer_name"] = "Customer Two Ltd"
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, rows)

    record = services.import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == [
        f'row {sheet_row(10)}, column "customer_name", value "Customer Two Ltd": '
        f'row {sheet_row(1)} gives customer "C-2" the value "Customer 2"; give every row of a customer the same details'
    ]
    assert Customer.objects.count() == 0
    assert Invoice.objects.count() == 0


# Date order proven after the first pass ----------------------------------------------------


def test_late_day_first_date_restarts_plan(tmp_path, small_chunks, monkeypatch):
    rows = numbered_rows(13, issue_date="")
    # Rows INV-1..INV-9 (three chunks) have ISO dates, so the first pass plans and writes
    # them before it meets the first D/M/Y date.
    for row in rows[9:12]:
        row["due_date"] = "03/04/2026"
    rows[12]["due_date"] = "25/12/2026"
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, rows)
    passes = []
    real_validate = pipeline.validate

    def recording_validate(*args, **kwargs):
        passes.append(kwargs.get("prove_date_order", True))
        return real_validate(*args, **kwargs)

    monkeypatch.setattr(pipeline, "validate", recording_validate)

    record = services.import_preview(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.PREVIEWED, record.errors
    assert passes == [False, True]
    # The first pass wrote entries for its 9 rows and their 3 customers before it stopped.
    assert small_chunks["inserted"] > 16
    assert record.counts["detected"]["date_order"] == "day_first"
    assert record.counts["customers"]["created"] == 3
    assert record.counts["invoices"]["created"] == 13
    assert record.entries.count() == record.counts["customers"]["created"] + record.counts["invoices"]["created"]
    assert record.plan_summary["entries"] == 16
    keys = entry_keys(record)
    assert len(set(keys)) == len(keys)

    services.import_confirm(record)

    due_dates = dict(Invoice.objects.values_list("number", "due_date"))
    assert due_dates["INV-1"] == datetime.date(2026, 12, 1)
    assert due_dates["INV-10"] == datetime.date(2026, 4, 3)
    assert due_dates["INV-13"] == datetime.date(2026, 12, 25)
    assert Invoice.objects.count() == 13


def test_ambiguous_dates_refused_at_first(tmp_path, small_chunks):
    rows = numbered_rows(10)
    rows[6]["due_date"] = "03/04/2026"
    rows[8]["issue_date"] = "05/06/2026"
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, rows)

    record = services.import_preview(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.REFUSED
    assert len(record.errors) == 2
    assert record.errors[0].startswith(
        f'row {sheet_row(7)}, column "due_date", value "03/04/2026": ambiguous date, because no date in this file '
        "has a day above 12"
    )
    assert record.errors[1].startswith(f'row {sheet_row(9)}, column "issue_date", value "05/06/2026": ambiguous date')
    # The plan keeps the 8 valid rows (3 customers) once each, for a manager's hold-back.
    assert record.entries.count() == 11
    assert record.plan_summary["entries"] == 11
    invoice_keys = sorted(record.entries.filter(entity="invoice").values_list("key", flat=True))
    assert invoice_keys == sorted(f"INV-{number}" for number in (1, 2, 3, 4, 5, 6, 8, 10))


def test_ambiguous_dates_list_every_row(tmp_path):
    rows = numbered_rows(10)
    rows[6]["due_date"] = "03/04/2026"
    rows[8]["issue_date"] = "05/06/2026"
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, rows)

    record = services.import_preview(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.REFUSED
    assert record.counts["refused_rows"] == 2
    assert any(message.startswith(f"row {sheet_row(9)}, ") for message in record.errors)


# Malformed CSV -------------------------------------------------------------------------------


def test_malformed_line_mid_file_stores_nothing(tmp_path, small_chunks):
    text = csv_text(TEMPLATE_INVOICE_HEADER, numbered_rows(12))
    lines = text.split("\r\n")
    # Line 10 (INV-9) gets a description longer than csv's field limit of 131,072 characters.
    lines[9] = lines[9] + "x" * 140_000
    path = tmp_path / "invoices.csv"
    path.write_text("\r\n".join(lines), encoding="utf-8")

    record = services.import_preview(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == [
        "the CSV file is malformed near line 10: field larger than field limit (131072); export it again"
    ]
    # Chunks before line 10 were planned and written, then removed.
    assert small_chunks["inserted"] > 0
    assert ImportEntry.objects.count() == 0
    assert Customer.objects.count() == 0
    assert Invoice.objects.count() == 0


def test_unterminated_quote_is_refused(tmp_path):
    text = csv_text(TEMPLATE_INVOICE_HEADER, numbered_rows(10))
    lines = text.split("\r\n")
    # Line 9 (INV-8) opens a quote in its last cell (description) and never closes it.
    assert lines[8].endswith(",")
    lines[8] = lines[8] + '"Late fee'
    path = tmp_path / "invoices.csv"
    path.write_text("\r\n".join(lines), encoding="utf-8")

    record = services.import_file(path, kind="invoices", source_name="Spreadsheet")

    stored = sorted(Invoice.objects.values_list("number", flat=True))
    assert record.status == ImportRecord.Status.REFUSED, f"applied {len(stored)} of 10 invoices: {stored}"
    assert record.errors == [
        "the CSV file is malformed near line 9: a quoted cell that starts there is never closed; "
        'close its quote (") or export the file again'
    ]
    assert stored == []


def test_unterminated_quote_names_its_line(tmp_path):
    text = csv_text(TEMPLATE_INVOICE_HEADER, numbered_rows(1500))
    lines = text.split("\r\n")
    # Line 5 (INV-4) opens a quote that never closes. The open cell passes csv's field
    # limit of 131,072 characters several hundred lines later.
    lines[4] = lines[4] + '"Late fee'
    path = tmp_path / "invoices.csv"
    path.write_text("\r\n".join(lines), encoding="utf-8")

    record = services.import_preview(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors[0].startswith("the CSV file is malformed near line 5:")


# Encoding checked in 1 MB chunks ----------------------------------------------------------


def row_text(row: dict) -> str:
    """Return one template row as a CSV line with its line break."""
    return csv_text(TEMPLATE_INVOICE_HEADER, [row]).split("\r\n", 1)[1]


def padded_csv(rows: list[dict], last_row: bytes, *, marker: bytes, offset: int) -> bytes:
    """Return ASCII CSV bytes for `rows`, whitespace-only lines, then `last_row`, so that
    `marker` (first found in `last_row`) starts at byte `offset`. The reader skips the
    whitespace-only lines as blank rows."""
    head = csv_text(TEMPLATE_INVOICE_HEADER, rows).encode("ascii")
    gap = offset - len(head) - last_row.index(marker)
    full_lines, rest = divmod(gap - 2, 1002)
    padding = (b" " * 1000 + b"\r\n") * full_lines + b" " * rest + b"\r\n"
    data = head + padding + last_row
    assert data.index(marker) == offset
    return data


def test_cp1252_byte_past_first_megabyte(tmp_path):
    rows = numbered_rows(3)
    last = invoice_row(customer_id="C-9", customer_name="Caf\u00e9 Lumiere", invoice_number="INV-9")
    data = padded_csv(rows[:2], row_text(last).encode("cp1252"), marker=b"\xe9", offset=MEGABYTE + 100)
    path = tmp_path / "invoices.csv"
    path.write_bytes(data)

    record = services.import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert record.counts["detected"]["encoding"] == "windows-1252"
    assert record.row_count == 3
    assert Customer.objects.get(external_id="C-9").name == "Caf\u00e9 Lumiere"


def test_utf8_character_across_chunk_boundary(tmp_path):
    rows = numbered_rows(3)
    last = invoice_row(customer_id="C-9", customer_name="Caf\u00e9", invoice_number="INV-9")
    # The two bytes of "é" sit on each side of the 1 MB chunk boundary.
    data = padded_csv(rows[:2], row_text(last).encode("utf-8"), marker="\u00e9".encode(), offset=MEGABYTE - 1)
    path = tmp_path / "invoices.csv"
    path.write_bytes(data)

    record = services.import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert record.counts["detected"]["encoding"] == "utf-8"
    assert Customer.objects.get(external_id="C-9").name == "Caf\u00e9"


def test_undefined_cp1252_byte_offset_named(tmp_path):
    rows = numbered_rows(3)
    last = row_text(invoice_row(customer_name="Cust\x81mer", invoice_number="INV-9")).encode("latin-1")
    offset = MEGABYTE + 5000
    data = padded_csv(rows[:2], last, marker=b"\x81", offset=offset)
    path = tmp_path / "invoices.csv"
    path.write_bytes(data)

    record = services.import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == [
        f"the file is neither UTF-8 nor Windows-1252 text (byte 0x81 at offset {offset}); "
        "save it as CSV (UTF-8) and import it again"
    ]
    assert ImportEntry.objects.count() == 0
    assert Customer.objects.count() == 0


def test_invalid_utf8_across_chunk_boundary(tmp_path):
    rows = numbered_rows(3)
    # "Caf\xc3(" in the chosen encoding: 0xc3 starts a two-byte character and "(" cannot end it.
    last = row_text(invoice_row(customer_name="Caf\u00c3(", invoice_number="INV-9")).encode("latin-1")
    data = padded_csv(rows[:2], last, marker=b"\xc3", offset=MEGABYTE - 1)
    path = tmp_path / "invoices.csv"
    path.write_bytes(data)

    record = services.import_preview(path, kind="invoices", source_name="Spreadsheet", encoding="utf-8")

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == [
        f"the file is not valid utf-8 text (byte 0xc3 at offset {MEGABYTE - 1}); "
        "choose another encoding or let the import detect it"
    ]


def utf8_bom_file_with_latin1_byte(tmp_path) -> tuple[Path, int]:
    """Write a UTF-8 file with a byte order mark whose "é" was saved as the single byte
    0xe9, and return its path and the offset of that byte."""
    text = csv_text(TEMPLATE_INVOICE_HEADER, [invoice_row(customer_name="Caf\u00e9")])
    data = codecs.BOM_UTF8 + text.encode("latin-1")
    path = tmp_path / "invoices.csv"
    path.write_bytes(data)
    return path, data.index(b"\xe9")


def test_utf8_bom_invalid_byte_offset(tmp_path):
    path, offset = utf8_bom_file_with_latin1_byte(tmp_path)

    record = services.import_preview(path, kind="invoices", source_name="Spreadsheet", encoding="utf-8")

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == [
        f"the file is not valid utf-8 text (byte 0xe9 at offset {offset}); "
        "choose another encoding or let the import detect it"
    ]


def test_utf8_bom_invalid_byte_named(tmp_path):
    path, offset = utf8_bom_file_with_latin1_byte(tmp_path)

    record = services.import_preview(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.REFUSED
    assert f"byte 0xe9 at offset {offset}" in record.errors[0]


# Confirm checks that the stored plan is complete ----------------------------------------------


def test_confirm_rejects_incomplete_plan(tmp_path):
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, numbered_rows(5))
    record = services.import_preview(path, kind="invoices", source_name="Spreadsheet")
    assert record.status == ImportRecord.Status.PREVIEWED, record.errors
    assert record.entries.count() == 8
    # Two invoice entries go missing after the preview, as if deleted by hand.
    lost = record.entries.filter(entity="invoice").order_by("-position").values_list("pk", flat=True)[:2]
    ImportEntry.objects.filter(pk__in=list(lost)).delete()

    with pytest.raises(services.ImportStateError, match="upload the file again for a new preview"):
        services.import_confirm(record)

    record.refresh_from_db()
    assert record.status == ImportRecord.Status.PREVIEWED
    assert Customer.objects.count() == 0
    assert Invoice.objects.count() == 0
    assert Source.objects.get(name="Spreadsheet").last_imported_at is None


# New rows written with INSERT ... SELECT on PostgreSQL ---------------------------------------

CUSTOMER_COMPARED = (
    "external_id", "name", "email", "phone", "country", "kind", "segment", "tags", "locale", "time_zone",
    "effective_time_zone", "assigned_agent_id", "sms_consent", "sms_consent_at", "sms_consent_source",
    "marketing_consent", "marketing_consent_at", "marketing_consent_source", "email_status", "sms_status",
)
INVOICE_COMPARED = (
    "number", "issue_date", "due_date", "currency", "amount", "amount_paid", "amount_due", "ledger_status",
    "display_number", "payment_link", "description", "version",
)


def stored_values(source_name: str) -> tuple[dict, dict]:
    """Return the compared fields of a source's customers and invoices, by key."""
    customers = {
        customer["external_id"]: customer
        for customer in Customer.objects.filter(source__name=source_name).values(*CUSTOMER_COMPARED)
    }
    invoices = {
        invoice["number"]: invoice
        for invoice in Invoice.objects.filter(source__name=source_name).values(*INVOICE_COMPARED, "customer__external_id")
    }
    return customers, invoices


def assert_every_field_covered():
    """Fail when a model gains a field that the comparison below leaves out."""
    skipped = {"id", "source_id", "created_at", "updated_at"}
    customer_fields = {field.attname for field in Customer._meta.concrete_fields} - skipped
    invoice_fields = {field.attname for field in Invoice._meta.concrete_fields} - skipped - {"customer_id"}
    assert customer_fields == set(CUSTOMER_COMPARED)
    assert invoice_fields == set(INVOICE_COMPARED)


MINIMAL_HEADER = ["customer_id", "customer_name", "invoice_number", "due_date", "currency", "amount", "amount_due"]


@pytest.mark.postgres
def test_set_apply_matches_python_path(tmp_path, monkeypatch):
    assert_every_field_covered()
    rows = [
        invoice_row(
            customer_id="C-FR", customer_name="Atelier Lumiere", email="", phone="", country="FR", customer_type="",
            segment="", locale="", time_zone="", invoice_number="INV-1", issue_date="", amount="1234.5",
            amount_paid="", amount_due="1234.50", status="", payment_link="", description="",
        ),
        invoice_row(
            customer_id="C-NY", customer_name="Hudson Supply", phone="+44 20 7946 0958", country="GB",
            customer_type="consumer", segment="retail", time_zone="America/New_York", invoice_number="INV-2",
            amount="80.00", amount_paid="30.00", amount_due="50.00", status="open", description="Tiles",
        ),
    ]
    full = write_csv(tmp_path / "full.csv", TEMPLATE_INVOICE_HEADER, rows)
    minimal = write_csv(tmp_path / "minimal.csv", MINIMAL_HEADER, [rows[0]])
    inserted = []
    real_insert_created = set_apply.insert_created

    def recording_insert_created(record, model, entity, **kwargs):
        count = real_insert_created(record, model, entity, **kwargs)
        inserted.append((entity, count))
        return count

    monkeypatch.setattr(set_apply, "insert_created", recording_insert_created)
    for path in (full, minimal):
        assert services.import_file(path, kind="invoices", source_name=f"Set {path.stem}").status == ImportRecord.Status.APPLIED
    assert inserted == [("customer", 2), ("invoice", 2), ("customer", 1), ("invoice", 1)]
    monkeypatch.setattr(set_apply, "is_supported", lambda: False)
    for path in (full, minimal):
        assert services.import_file(path, kind="invoices", source_name=f"Python {path.stem}").status == ImportRecord.Status.APPLIED
    assert len(inserted) == 4

    assert stored_values("Set full") == stored_values("Python full")
    assert stored_values("Set minimal") == stored_values("Python minimal")
    assert stored_values("Set full") != stored_values("Set minimal")

    customers, invoices = stored_values("Set full")
    assert customers["C-FR"] == {
        "external_id": "C-FR", "name": "Atelier Lumiere", "email": "", "phone": "", "country": "FR",
        "kind": "business", "segment": "", "tags": [], "locale": "", "time_zone": "",
        "effective_time_zone": "Europe/Paris", "assigned_agent_id": None, "sms_consent": None,
        "sms_consent_at": None, "sms_consent_source": "", "marketing_consent": None, "marketing_consent_at": None,
        "marketing_consent_source": "", "email_status": "valid", "sms_status": "valid",
    }
    assert customers["C-NY"]["phone"] == "+442079460958"
    assert customers["C-NY"]["kind"] == "consumer"
    assert customers["C-NY"]["effective_time_zone"] == "America/New_York"
    assert invoices["INV-1"] == {
        "number": "INV-1", "issue_date": None, "due_date": datetime.date(2026, 12, 1), "currency": "GBP",
        "amount": Decimal("1234.50"), "amount_paid": Decimal("0.00"), "amount_due": Decimal("1234.50"),
        "ledger_status": "open", "display_number": "", "payment_link": "", "description": "", "version": 1,
        "customer__external_id": "C-FR",
    }
    for name in ("amount", "amount_paid", "amount_due"):
        assert invoices["INV-1"][name].as_tuple().exponent == -2
    assert invoices["INV-2"]["issue_date"] == datetime.date(2026, 11, 1)
    assert invoices["INV-2"]["amount_paid"] == Decimal("30.00")
    assert invoices["INV-2"]["description"] == "Tiles"

    minimal_customers, minimal_invoices = stored_values("Set minimal")
    assert minimal_customers["C-FR"]["kind"] == "business"
    assert minimal_customers["C-FR"]["effective_time_zone"] == "Europe/London"
    assert minimal_invoices["INV-1"]["amount_paid"] == Decimal("0.00")
    assert minimal_invoices["INV-1"]["ledger_status"] == "open"


STRIPE_HEADER = [
    "id", "Number", "Customer", "Customer Name", "Customer Email", "Currency", "Amount Due", "Amount Paid",
    "Amount Remaining", "Total", "Status", "Date (UTC)", "Due Date (UTC)", "Hosted Invoice URL", "Description",
]
STRIPE_ROWS = [
    [
        "in_001", "8F1A-0001", "cus_001", "Northgate Studio", "billing@northgate.example", "gbp", "480.00", "0.00",
        "480.00", "480.00", "open", "2026-11-01 09:15", "2026-12-01 23:30", "https://invoice.stripe.com/i/acct_1/test_001",
        "Studio plan",
    ],
    ["in_002", "", "cus_002", "", "compta@atelier.example", "eur", "120.00", "", "", "", "open", "2026-10-01 09:15", "", "", ""],
    ["in_003", "", "cus_001", "Northgate Studio", "billing@northgate.example", "gbp", "50.00", "", "", "", "draft", "", "", "", ""],
]


@pytest.mark.postgres
def test_set_apply_matches_python_path_for_stripe(tmp_path, monkeypatch):
    path = write_csv(tmp_path / "stripe.csv", STRIPE_HEADER, STRIPE_ROWS)

    with_set_apply = services.import_file(path, kind="invoices", source_name="Set stripe")
    monkeypatch.setattr(set_apply, "is_supported", lambda: False)
    with_python = services.import_file(path, kind="invoices", source_name="Python stripe")

    assert with_set_apply.status == ImportRecord.Status.APPLIED, with_set_apply.errors
    assert with_python.status == ImportRecord.Status.APPLIED, with_python.errors
    assert with_set_apply.counts["invoices"] == {"created": 2, "updated": 0, "unchanged": 0, "skipped": 1}
    assert stored_values("Set stripe") == stored_values("Python stripe")
    customers, invoices = stored_values("Set stripe")
    assert customers["cus_002"]["name"] == "compta@atelier.example"
    assert invoices["in_001"]["display_number"] == "8F1A-0001"
    assert invoices["in_002"]["display_number"] == ""
    assert invoices["in_002"]["due_date"] == datetime.date(2026, 10, 1)
    assert invoices["in_002"]["amount_paid"] == Decimal("0.00")
    assert invoices["in_002"]["currency"] == "EUR"


@pytest.mark.postgres
def test_set_apply_missing_customer_fails(tmp_path):
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, numbered_rows(4))
    record = services.import_preview(path, kind="invoices", source_name="Spreadsheet")
    assert record.status == ImportRecord.Status.PREVIEWED, record.errors
    entry = record.entries.get(entity="invoice", key="INV-3")
    data = orjson.loads(entry.data)
    data["customer_key"] = "C-404"
    data["fields"]["customer"] = [None, "C-404"]
    entry.data = orjson.dumps(data).decode()
    entry.save(update_fields=["data"])

    with pytest.raises(set_apply.SetApplyError, match="wrote 3 of the plan's 4 new invoices"):
        services.import_confirm(record)

    record.refresh_from_db()
    assert record.status == ImportRecord.Status.FAILED
    assert record.errors[0].startswith("the import failed and wrote nothing:")
    assert Customer.objects.count() == 0
    assert Invoice.objects.count() == 0


# Links: parse_url agrees with Django's URLValidator -----------------------------------------

LONG_LABEL = "a" * 63
# 4 labels of 63, 3 dots and ".com": 259 characters, more than the 253 that URLValidator allows.
HOST_259 = ".".join([LONG_LABEL] * 4) + ".com"
# 3 labels of 63, one of 57, 4 dots and "com": 253 characters.
HOST_253 = ".".join([LONG_LABEL] * 3 + ["b" * 57]) + ".com"

LINKS = [
    "https://pay.example/INV-1",
    "http://user:secret@pay.example/INV-1",
    "http://user@pay.example/",
    "http://user:@pay.example/",
    "http://@pay.example/",
    "http://user:pa/ss@pay.example/",
    "http://pay.example:8080/INV-1",
    "http://pay.example:99999/",
    "http://pay.example:123456/",
    "http://pay.example:/INV-1",
    "http://[::1]:8080/INV-1",
    "http://[2001:db8::1]",
    "http://user:secret@[2001:db8::1]:443/x",
    "http://[::1",
    "http://[zz::1]/",
    "http://b\u00fccher.example/stra\u00dfe",
    "http://\u4f8b\u3048.\u30c6\u30b9\u30c8/",
    "http://xn--bcher-kva.example/",
    "http://pay.example?invoice=1",
    "http://pay.example#top",
    "http://pay.example?",
    "http://pay.example/#",
    "http://pay.example/a b",
    "http://pay.example/?q=a b",
    "http://pay.example/a\tb",
    "http://pay example/",
    "http://pay.example./INV-1",
    "http://pay.example../",
    "http://",
    "https://",
    "https://-bad-.com",
    "http://bad-.example/",
    "http://pay_desk.example/",
    "HTTPS://PAY.EXAMPLE/INV-1",
    "Http://Pay.Example",
    "ftp://pay.example/",
    "pay.example/INV-1",
    "http://localhost/",
    "http://127.0.0.1/",
    "http://256.1.1.1/",
    "http://pay.example\\INV-1",
    "http://pay.example//double",
    "http://pay.example?next=http://other.example/",
    f"http://{HOST_253}/",
    f"http://{HOST_259}/",
    f"http://{HOST_259}?q=1",
    f"http://user:secret@{HOST_259}/",
]


def django_accepts(link: str) -> bool:
    try:
        URLValidator(schemes=["https", "http"])(link)
    except ValidationError:
        return False
    return True


def parse_url_accepts(link: str) -> bool:
    try:
        parsing.parse_url(link)
    except CellError:
        return False
    return True


@pytest.mark.parametrize("link", LINKS)
def test_parse_url_agrees_with_django(link):
    assert parse_url_accepts(link) == django_accepts(link)


def test_link_table_has_both_outcomes():
    accepted = [link for link in LINKS if django_accepts(link)]
    assert len(accepted) > 15
    assert len(LINKS) - len(accepted) > 15
    assert django_accepts(f"http://{HOST_253}/")
    assert not django_accepts(f"http://{HOST_259}/")


@pytest.mark.parametrize("link", ["http://user:pa?ss@pay.example/INV-1", "http://user:pa#ss@pay.example/"])
def test_parse_url_password_with_query_mark(link):
    assert django_accepts(link)
    assert parse_url_accepts(link)


# Admin preview and download of a large plan ----------------------------------------------------


@pytest.fixture
def data_staff():
    user = UserFactory()
    user.groups.add(Group.objects.get(name=roles.DATA_STAFF))
    return user


def table_row_counts(content: str) -> list[int]:
    """Return the number of rows in each change table of the preview page."""
    bodies = re.findall(r'<table class="import-changes">.*?<tbody>(.*?)</tbody>', content, flags=re.S)
    return [body.count("<tr>") for body in bodies]


def test_admin_preview_of_2500_rows(tmp_path, client, data_staff, monkeypatch):
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 1000)
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, numbered_rows(2500, customers=150))
    record = services.import_preview(path, kind="invoices", source_name="Spreadsheet", user=data_staff)
    assert record.status == ImportRecord.Status.PREVIEWED, record.errors
    client.force_login(data_staff)

    content = client.get(reverse("admin:customers_importrecord_preview", args=[record.pk])).content.decode()

    assert "<li>Customers: 150 created, 0 updated, 0 unchanged</li>" in content
    assert "<li>Invoices: 2500 created, 0 updated, 0 unchanged, 0 skipped</li>" in content
    assert "Customers: created (150) &mdash; first 100 shown" in content
    assert "Invoices: created (2500) &mdash; first 100 shown" in content
    assert table_row_counts(content) == [100, 100]
    assert "<td>INV-100</td>" in content
    assert "<td>INV-101</td>" not in content

    response = client.get(reverse("admin:customers_importrecord_download_csv", args=[record.pk]))

    assert response.status_code == 200
    assert response.streaming
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    invoices = [row for row in rows if row["entity"] == "invoice"]
    assert len(rows) == 2650
    assert sorted(row["key"] for row in invoices) == sorted(f"INV-{number}" for number in range(1, 2501))
    assert {row["change"] for row in rows} == {"created"}
    assert sorted(int(row["row"]) for row in invoices) == list(range(2, 2502))


# A second import of the same file ------------------------------------------------------------


def test_second_chunked_import_writes_nothing(tmp_path, small_chunks):
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, numbered_rows(6))
    first = services.import_file(path, kind="invoices", source_name="Spreadsheet")
    assert first.status == ImportRecord.Status.APPLIED, first.errors
    invoice_stamps = dict(Invoice.objects.values_list("number", "updated_at"))
    customer_stamps = dict(Customer.objects.values_list("external_id", "updated_at"))
    small_chunks["plan"] = 0

    preview = services.import_preview(path, kind="invoices", source_name="Spreadsheet")

    # Two full chunks of 3 rows, then the empty rest.
    assert small_chunks["plan"] == 3
    assert preview.status == ImportRecord.Status.PREVIEWED, preview.errors
    assert preview.counts["customers"] == {"created": 0, "updated": 0, "unchanged": 3}
    assert preview.counts["invoices"] == {"created": 0, "updated": 0, "unchanged": 6, "skipped": 0}
    assert preview.entries.count() == 9
    assert set(preview.entries.values_list("action", flat=True)) == {"unchanged"}

    with CaptureQueriesContext(connection) as queries:
        record = services.import_confirm(preview)

    assert record.status == ImportRecord.Status.UNCHANGED
    assert ledger_writes(queries) == []
    assert dict(Invoice.objects.values_list("number", "updated_at")) == invoice_stamps
    assert dict(Customer.objects.values_list("external_id", "updated_at")) == customer_stamps
    assert set(Invoice.objects.values_list("version", flat=True)) == {1}




def test_text_after_closing_quote_is_refused(tmp_path):
    text = csv_text(TEMPLATE_INVOICE_HEADER, numbered_rows(4))
    lines = text.split("\r\n")
    # Line 3 (INV-2) ends with a quoted cell followed by more text: "Late" fee
    assert lines[2].endswith(",")
    lines[2] = lines[2] + '"Late" fee'
    path = tmp_path / "invoices.csv"
    path.write_text("\r\n".join(lines), encoding="utf-8")

    record = services.import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == [
        "the CSV file is malformed near line 3: a quoted cell has text after its closing quote; "
        'put the whole cell in quotes and double each quote inside it (""), or export the file again'
    ]
    assert not Invoice.objects.exists()


def test_interrupted_preview_marks_record_failed(tmp_path, monkeypatch):
    """Ctrl-C in the import command leaves a failed record without entries, not a running one."""
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 2)
    planned_chunks = []
    original = services.plan_entries

    def plan_then_stop(validation, source, kind):
        planned_chunks.append(len(validation.rows))
        if len(planned_chunks) == 2:
            raise KeyboardInterrupt
        return original(validation, source, kind)

    monkeypatch.setattr(services, "plan_entries", plan_then_stop)
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, numbered_rows(6))

    with pytest.raises(KeyboardInterrupt):
        services.import_preview(path, kind="invoices", source_name="Spreadsheet")

    record = ImportRecord.objects.get()
    assert record.status == ImportRecord.Status.FAILED
    assert record.errors == ["the preview was stopped before it finished and stored nothing; import the file again"]
    assert not ImportEntry.objects.exists()
    assert not Invoice.objects.exists()


def test_interrupted_confirm_cannot_be_applied_later(tmp_path, monkeypatch):
    """Ctrl-C while the import command applies leaves a failed record, not a previewed one."""
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, numbered_rows(6))
    record = services.import_preview(path, kind="invoices", source_name="Spreadsheet")

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "apply_plan", stop)
    with pytest.raises(KeyboardInterrupt):
        services.import_confirm(record)

    record.refresh_from_db()
    assert record.status == ImportRecord.Status.FAILED
    assert record.errors == ["the import was stopped before it finished and wrote nothing; import the file again"]
    assert not record.entries.exists()
    with pytest.raises(services.ImportStateError):
        services.import_confirm(record)
    assert not Invoice.objects.exists()


def test_stale_plan_entries_deleted(tmp_path):
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, numbered_rows(6))
    record = services.import_preview(path, kind="invoices", source_name="Spreadsheet")
    services.import_file(path, kind="invoices", source_name="Spreadsheet")

    stale = services.import_confirm(record)

    assert stale.status == ImportRecord.Status.STALE
    assert not stale.entries.exists()


def test_old_previews_expire(tmp_path):
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, numbered_rows(6))
    old = services.import_preview(path, kind="invoices", source_name="Old")
    applied = services.import_file(path, kind="invoices", source_name="Applied")
    recent = services.import_preview(path, kind="invoices", source_name="Recent")
    long_ago = timezone.now() - datetime.timedelta(days=31)
    ImportRecord.objects.filter(pk__in=[old.pk, applied.pk]).update(created_at=long_ago)
    applied_entries = applied.entries.count()

    out = io.StringIO()
    call_command("expire_import_plans", "--days", "30", stdout=out)

    old.refresh_from_db()
    assert old.status == ImportRecord.Status.STALE
    assert old.errors == ["the preview expired after 30 days without being confirmed; upload the file again"]
    assert not old.entries.exists()
    assert applied_entries > 0
    assert applied.entries.count() == applied_entries
    recent.refresh_from_db()
    assert recent.status == ImportRecord.Status.PREVIEWED
    assert recent.entries.count() == recent.plan_summary["entries"]
    assert out.getvalue().startswith("Expired 1 previews older than 30 days; deleted ")
