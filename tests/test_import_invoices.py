"""Invoice imports: our template and the Stripe export, in CSV and XLSX, applied all at
once or not at all, idempotent, with payments inferred from a rising amount paid."""

import datetime
from decimal import Decimal
from pathlib import Path

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import Touchpoint
from customers.imports import plan_store
from customers.imports.services import import_confirm, import_file, import_preview
from customers.models import Customer, ImportRecord, Invoice, Payment, Source
from tests.factories import UserFactory
from tests.import_helpers import TEMPLATE_INVOICE_HEADER, invoice_row, write_csv, write_xlsx

FILES = Path(__file__).parent / "files"
STRIPE_HEADER = [
    "id", "Number", "Customer", "Customer Name", "Customer Email", "Currency", "Amount Due", "Amount Paid",
    "Amount Remaining", "Total", "Subtotal", "Status", "Date (UTC)", "Due Date (UTC)", "Created (UTC)",
    "Hosted Invoice URL", "Description",
]

pytestmark = pytest.mark.django_db


def ledger_row_count():
    return Customer.objects.count() + Invoice.objects.count() + Payment.objects.count()


def test_template_csv_creates_customers_and_invoices():
    record = import_file(FILES / "template_invoices.csv", kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.APPLIED
    assert record.layout == "template-invoices"
    assert record.errors == []
    assert record.counts["customers"] == {"created": 3, "updated": 0, "unchanged": 0}
    assert record.counts["invoices"]["created"] == 4
    source = Source.objects.get(name="Spreadsheet")
    assert source.kind == Source.Kind.TEMPLATE
    assert source.last_imported_at is not None

    harbour = Customer.objects.get(source=source, external_id="00417")
    assert harbour.name == "Harbour Tiles Ltd"
    assert harbour.phone == "+442079460958"
    assert harbour.kind == Customer.Kind.BUSINESS
    assert harbour.effective_time_zone == "Europe/London"
    emilie = Customer.objects.get(source=source, external_id="C-22")
    assert emilie.name == "Émilie Laurent"
    assert emilie.kind == Customer.Kind.CONSUMER
    assert emilie.effective_time_zone == "Europe/Paris"
    assert Customer.objects.get(external_id="C-35").effective_time_zone == "Asia/Tokyo"

    first = Invoice.objects.get(source=source, number="INV-1001")
    assert first.customer == harbour
    assert first.amount == Decimal("1250.00")
    assert first.amount_due == Decimal("1250.00")
    assert first.due_date == datetime.date(2026, 10, 31)
    assert first.issue_date == datetime.date(2026, 10, 1)
    assert first.payment_link == "https://pay.example/INV-1001"
    assert first.ledger_status == Invoice.LedgerStatus.OPEN
    # amount_due 0 with no status means paid.
    assert Invoice.objects.get(number="INV-1003").ledger_status == Invoice.LedgerStatus.PAID
    yen = Invoice.objects.get(number="INV-1004")
    assert yen.amount == Decimal("12000")
    assert yen.description == "Two lines\nof description"


def test_template_xlsx_creates_invoices(tmp_path):
    rows = [
        invoice_row(customer_id=417, invoice_number=1001.0, due_date=datetime.datetime(2026, 12, 1), amount=1250.5, amount_due=1250.5, amount_paid=0),
        invoice_row(customer_id="00417", invoice_number="INV-2", due_date=46000, amount="99.99", amount_due="99.99"),
    ]
    path = write_xlsx(tmp_path / "invoices.xlsx", TEMPLATE_INVOICE_HEADER, rows)

    record = import_file(path, kind="invoices", source_name="Workbook")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    numeric = Invoice.objects.get(number="1001")
    assert numeric.customer.external_id == "417"
    assert numeric.due_date == datetime.date(2026, 12, 1)
    assert numeric.amount == Decimal("1250.50")
    serial = Invoice.objects.get(number="INV-2")
    assert serial.customer.external_id == "00417"
    assert serial.due_date == datetime.date(2025, 12, 9)  # Excel serial 46000


def test_stripe_csv_maps_export_columns():
    record = import_file(FILES / "stripe_invoices.csv", kind="invoices", source_name="Stripe")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert record.layout == "stripe-invoices"
    assert Source.objects.get(name="Stripe").kind == Source.Kind.STRIPE
    assert record.counts["invoices"] == {"created": 3, "updated": 0, "unchanged": 0, "skipped": 1}
    skipped = [entry for entry in record.changes if entry["action"] == "skip"]
    assert skipped[0]["key"] == "in_1QAbcDEFghiJKL03"
    assert "draft" in skipped[0]["note"]
    assert not Invoice.objects.filter(number="in_1QAbcDEFghiJKL03").exists()

    open_invoice = Invoice.objects.get(number="in_1QAbcDEFghiJKL01")
    assert open_invoice.customer.external_id == "cus_QAbc001"
    assert open_invoice.customer.name == "Northgate Studio"
    assert open_invoice.customer.email == "billing@northgate.example"
    assert open_invoice.currency == "GBP"
    assert open_invoice.amount == Decimal("480.00")
    assert open_invoice.amount_due == Decimal("480.00")
    assert open_invoice.due_date == datetime.date(2026, 12, 1)
    assert open_invoice.issue_date == datetime.date(2026, 11, 1)
    assert open_invoice.payment_link == "https://invoice.stripe.com/i/acct_1/test_001"
    assert open_invoice.description == "Studio plan"

    paid = Invoice.objects.get(number="in_1QAbcDEFghiJKL02")
    assert paid.ledger_status == Invoice.LedgerStatus.PAID
    assert paid.amount_paid == Decimal("120.00")
    assert paid.display_number == "8F1A2B3C-0002"
    assert paid.description == ""
    uncollectible = Invoice.objects.get(number="in_1QAbcDEFghiJKL04")
    assert uncollectible.ledger_status == Invoice.LedgerStatus.WRITTEN_OFF
    # A customer without a name is named by their email.
    assert uncollectible.customer.name == "ops@riverside.example"


def test_stripe_utc_timestamp_becomes_business_date(tmp_path, settings):
    settings.TIME_ZONE = "Europe/London"
    row = ["in_A", "N-1", "cus_A", "Ada", "ada@example.com", "eur", "10.00", "0.00", "10.00", "10.00", "10.00",
           "open", "2026-06-30 22:00", "2026-07-01 23:30", "2026-06-30 21:00", "", ""]
    path = write_csv(tmp_path / "stripe.csv", STRIPE_HEADER, [row])

    record = import_file(path, kind="invoices", source_name="Stripe")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    invoice = Invoice.objects.get(number="in_A")
    # 23:30 UTC on 1 July is 00:30 on 2 July in London (BST).
    assert invoice.due_date == datetime.date(2026, 7, 2)
    assert invoice.issue_date == datetime.date(2026, 6, 30)


def test_stripe_xlsx_imports(tmp_path):
    rows = [
        ["in_X1", "N-1", "cus_X", "Xena", "x@example.com", "usd", 25.5, 0, 25.5, 25.5, 25.5, "open",
         datetime.datetime(2026, 11, 1, 9, 0), datetime.datetime(2026, 12, 1, 9, 0), datetime.datetime(2026, 11, 1, 8, 0),
         "https://invoice.stripe.com/i/x1", None],
    ]
    path = write_xlsx(tmp_path / "stripe.xlsx", STRIPE_HEADER, rows)

    record = import_file(path, kind="invoices", source_name="Stripe")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    invoice = Invoice.objects.get(number="in_X1")
    assert invoice.amount_due == Decimal("25.50")
    assert invoice.currency == "USD"
    assert invoice.due_date == datetime.date(2026, 12, 1)


def test_stripe_amount_due_minus_paid_without_remaining(tmp_path):
    header = ["id", "Customer", "Currency", "Amount Due", "Amount Paid", "Status", "Due Date (UTC)"]
    path = write_csv(tmp_path / "stripe.csv", header, [["in_B", "cus_B", "gbp", "50.00", "20.00", "open", "2026-12-01 10:00"]])

    record = import_file(path, kind="invoices", source_name="Stripe")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    invoice = Invoice.objects.get(number="in_B")
    assert invoice.amount_due == Decimal("30.00")
    assert invoice.amount == Decimal("50.00")


def test_one_bad_row_writes_nothing(tmp_path):
    rows = [invoice_row(invoice_number=f"INV-{n}") for n in range(1, 6)]
    rows[3]["due_date"] = "2026-02-31"
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, rows)

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == ['row 5, column "due_date", value "2026-02-31": not a date; use YYYY-MM-DD or DD/MM/YYYY']
    assert ledger_row_count() == 0
    assert ImportRecord.objects.filter(pk=record.pk).exists()
    assert Source.objects.get(name="Spreadsheet").last_imported_at is None


def test_second_import_writes_nothing(tmp_path):
    path = FILES / "template_invoices.csv"
    import_file(path, kind="invoices", source_name="Spreadsheet")
    stamps = dict(Invoice.objects.values_list("number", "updated_at"))
    customer_stamps = dict(Customer.objects.values_list("external_id", "updated_at"))

    with CaptureQueriesContext(connection) as queries:
        record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.UNCHANGED
    assert record.counts["invoices"] == {"created": 0, "updated": 0, "unchanged": 4, "skipped": 0}
    assert record.counts["customers"] == {"created": 0, "updated": 0, "unchanged": 3}
    ledger_tables = ("customers_customer", "customers_invoice", "customers_payment")
    writes = [
        query["sql"] for query in queries.captured_queries
        if query["sql"].split()[0] in ("INSERT", "UPDATE", "DELETE") and any(table in query["sql"] for table in ledger_tables)
    ]
    assert writes == []
    assert dict(Invoice.objects.values_list("number", "updated_at")) == stamps
    assert dict(Customer.objects.values_list("external_id", "updated_at")) == customer_stamps
    assert set(Invoice.objects.values_list("version", flat=True)) == {1}


def test_changed_invoice_bumps_version(tmp_path):
    path = write_csv(tmp_path / "a.csv", TEMPLATE_INVOICE_HEADER, [invoice_row()])
    import_file(path, kind="invoices", source_name="Spreadsheet")
    path = write_csv(tmp_path / "b.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(due_date="2026-12-15")])

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.APPLIED
    invoice = Invoice.objects.get(number="INV-1")
    assert invoice.version == 2
    assert invoice.due_date == datetime.date(2026, 12, 15)
    change = next(entry for entry in record.changes if entry["entity"] == "invoice")
    assert change["fields"] == {"due_date": ["2026-12-01", "2026-12-15"]}


def test_rising_amount_paid_records_payment_and_thank_you(tmp_path, anymail_backend, django_capture_on_commit_callbacks):
    first = write_csv(tmp_path / "a.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(amount_paid="0.00", amount_due="100.00")])
    import_file(first, kind="invoices", source_name="Spreadsheet", historical=True)
    second = write_csv(tmp_path / "b.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(amount_paid="40.00", amount_due="60.00")])

    with django_capture_on_commit_callbacks(execute=False):
        record = import_file(second, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.APPLIED
    assert record.is_historical is False
    assert record.counts["payments"] == {"recorded": 1}
    payment = Payment.objects.get()
    assert payment.amount == Decimal("40.00")
    assert payment.origin == Payment.Origin.INVOICE_FILE
    assert payment.paid_on == timezone.localdate()
    assert payment.import_record == record
    assert payment.is_historical is False
    invoice = Invoice.objects.get(number="INV-1")
    # The ledger values come from the file; the payment does not change them again.
    assert invoice.amount_due == Decimal("60.00")
    assert invoice.amount_paid == Decimal("40.00")
    thank_you = Touchpoint.objects.get(kind=Touchpoint.Kind.THANK_YOU)
    assert thank_you.payment == payment


def test_first_import_is_historical(tmp_path):
    first = write_csv(tmp_path / "a.csv", TEMPLATE_INVOICE_HEADER, [invoice_row()])
    record = import_file(first, kind="invoices", source_name="Spreadsheet")
    assert record.is_historical is True

    second = write_csv(tmp_path / "b.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(amount_paid="100.00", amount_due="0.00")])
    record = import_file(second, kind="invoices", source_name="Spreadsheet", historical=True)

    payment = Payment.objects.get()
    assert payment.is_historical is True
    assert not Touchpoint.objects.filter(kind=Touchpoint.Kind.THANK_YOU).exists()
    assert Invoice.objects.get().ledger_status == Invoice.LedgerStatus.PAID


def test_balance_drop_without_payment_records_none(tmp_path):
    first = write_csv(tmp_path / "a.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(amount_paid="0.00", amount_due="100.00")])
    import_file(first, kind="invoices", source_name="Spreadsheet")
    credit_note = write_csv(tmp_path / "b.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(amount_paid="0.00", amount_due="70.00")])

    record = import_file(credit_note, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.APPLIED
    assert record.counts["payments"] == {"recorded": 0}
    assert Payment.objects.count() == 0
    assert Invoice.objects.get().amount_due == Decimal("70.00")


def test_blank_amount_paid_keeps_stored_value(tmp_path):
    first = write_csv(tmp_path / "a.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(amount_paid="30.00", amount_due="70.00")])
    import_file(first, kind="invoices", source_name="Spreadsheet")
    second = write_csv(tmp_path / "b.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(amount_paid="", amount_due="70.00")])

    record = import_file(second, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.UNCHANGED
    assert Invoice.objects.get().amount_paid == Decimal("30.00")


def test_missing_required_column_names_column_and_layout(tmp_path):
    header = [name for name in TEMPLATE_INVOICE_HEADER if name != "due_date"]
    path = write_csv(tmp_path / "invoices.csv", header, [invoice_row()])

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.REFUSED
    assert len(record.errors) == 1
    assert '"due_date"' in record.errors[0]
    assert '"template-invoices"' in record.errors[0]
    assert ledger_row_count() == 0


def test_duplicate_invoice_names_both_rows(tmp_path):
    rows = [invoice_row(), None, invoice_row(invoice_number="INV-2"), invoice_row()]
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, rows)

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == [
        'row 5, column "invoice_number", value "INV-1": the same invoice is also in row 2; keep one row per invoice'
    ]


def test_customer_details_differing_between_rows_rejected(tmp_path):
    rows = [invoice_row(), invoice_row(invoice_number="INV-2", email="other@harbourtiles.example")]
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, rows)

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors[0].startswith('row 3, column "email", value "other@harbourtiles.example": row 2 gives customer "C-1"')


def test_negative_amount_due_rejected(tmp_path):
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(amount_due="(20.00)")])

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.errors == [
        'row 2, column "amount_due", value "(20.00)": negative amount; '
        "enter credit notes and refunds separately, not as negative invoice amounts"
    ]


def test_same_number_in_two_sources_never_collides(tmp_path):
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, [invoice_row()])
    import_file(path, kind="invoices", source_name="Xero")
    import_file(path, kind="invoices", source_name="Manual")

    assert Invoice.objects.filter(number="INV-1").count() == 2


def test_dry_run_writes_nothing(tmp_path):
    record = import_file(FILES / "template_invoices.csv", kind="invoices", source_name="Spreadsheet", dry_run=True)

    assert record.status == ImportRecord.Status.PREVIEWED
    assert record.counts["invoices"]["created"] == 4
    assert ledger_row_count() == 0


def test_confirm_applies_stored_plan(tmp_path):
    user = UserFactory()
    path = write_csv(tmp_path / "invoices.csv", TEMPLATE_INVOICE_HEADER, [invoice_row()])
    record = import_preview(path, kind="invoices", source_name="Spreadsheet", user=user)
    # The file may change or vanish after the preview: confirmation uses the stored plan.
    path.unlink()

    record = import_confirm(record, user)

    assert record.status == ImportRecord.Status.APPLIED
    assert record.applied_at is not None
    assert Invoice.objects.get().amount_due == Decimal("100.00")


def test_confirm_is_stale_when_invoice_changed(tmp_path):
    first = write_csv(tmp_path / "a.csv", TEMPLATE_INVOICE_HEADER, [invoice_row()])
    import_file(first, kind="invoices", source_name="Spreadsheet")
    second = write_csv(tmp_path / "b.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(amount_due="80.00", amount_paid="20.00")])
    record = import_preview(second, kind="invoices", source_name="Spreadsheet")
    Invoice.objects.filter(number="INV-1").update(amount_due=Decimal("55.00"), version=2)

    record = import_confirm(record)

    assert record.status == ImportRecord.Status.STALE
    assert 'invoice "INV-1" (row 2) changed after the preview' in record.errors[0]
    invoice = Invoice.objects.get(number="INV-1")
    assert invoice.amount_due == Decimal("55.00")
    assert Payment.objects.count() == 0


def test_confirm_is_stale_when_new_invoice_appeared(tmp_path):
    path = write_csv(tmp_path / "a.csv", TEMPLATE_INVOICE_HEADER, [invoice_row()])
    record = import_preview(path, kind="invoices", source_name="Spreadsheet")
    import_file(path, kind="invoices", source_name="Spreadsheet")

    record = import_confirm(record)

    assert record.status == ImportRecord.Status.STALE
    assert Invoice.objects.count() == 1


def test_confirm_twice_is_rejected(tmp_path):
    from customers.imports.services import ImportStateError

    path = write_csv(tmp_path / "a.csv", TEMPLATE_INVOICE_HEADER, [invoice_row()])
    record = import_preview(path, kind="invoices", source_name="Spreadsheet")
    import_confirm(record)

    with pytest.raises(ImportStateError):
        import_confirm(record)
    assert Invoice.objects.count() == 1


def test_changed_customer_details_update_customer(tmp_path):
    first = write_csv(tmp_path / "a.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(country="GB")])
    import_file(first, kind="invoices", source_name="Spreadsheet")
    before = Customer.objects.get()
    second = write_csv(tmp_path / "b.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(country="FR", email="compta@harbour.example")])

    record = import_file(second, kind="invoices", source_name="Spreadsheet")

    assert record.counts["customers"] == {"created": 0, "updated": 1, "unchanged": 0}
    assert record.counts["invoices"]["unchanged"] == 1
    customer = Customer.objects.get()
    assert customer.email == "compta@harbour.example"
    assert customer.effective_time_zone == "Europe/Paris"
    assert customer.updated_at > before.updated_at
    assert Invoice.objects.get().version == 1


def test_column_left_out_keeps_stored_field(tmp_path):
    first = write_csv(tmp_path / "a.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(segment="trade")])
    import_file(first, kind="invoices", source_name="Spreadsheet")
    header = [name for name in TEMPLATE_INVOICE_HEADER if name not in ("segment", "payment_link")]
    second = write_csv(tmp_path / "b.csv", header, [invoice_row()])

    record = import_file(second, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.UNCHANGED
    assert Customer.objects.get().segment == "trade"
    assert Invoice.objects.get().payment_link == "https://pay.example/INV-1"


def test_failure_during_apply_writes_nothing(tmp_path, monkeypatch):
    from customers.imports import pipeline

    first = write_csv(tmp_path / "a.csv", TEMPLATE_INVOICE_HEADER, [invoice_row(amount_paid="0.00")])
    import_file(first, kind="invoices", source_name="Spreadsheet")
    second = write_csv(
        tmp_path / "b.csv",
        TEMPLATE_INVOICE_HEADER,
        [invoice_row(amount_paid="50.00", amount_due="50.00"), invoice_row(invoice_number="INV-2")],
    )

    def broken_payment_record(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(pipeline.customer_services, "payment_record", broken_payment_record)
    with pytest.raises(RuntimeError):
        import_file(second, kind="invoices", source_name="Spreadsheet")

    record = ImportRecord.objects.order_by("-pk").first()
    assert record.status == ImportRecord.Status.FAILED
    assert "database went away" in record.errors[0]
    assert Invoice.objects.get(number="INV-1").amount_due == Decimal("100.00")
    assert not Invoice.objects.filter(number="INV-2").exists()


def test_explicit_layout_checked_against_header(tmp_path):
    path = write_csv(tmp_path / "a.csv", TEMPLATE_INVOICE_HEADER, [invoice_row()])

    record = import_file(path, kind="invoices", source_name="Stripe", layout="stripe")

    assert record.status == ImportRecord.Status.REFUSED
    # customer_id, amount_due and status are spellings of Stripe's "Customer ID", "Amount Due" and "Status".
    assert record.errors == [
        'missing required column "id" for layout "stripe-invoices" (Stripe invoices export); add it to the header row in row 1'
    ]


def test_duplicate_header_rejected(tmp_path):
    header = [*TEMPLATE_INVOICE_HEADER, "Due Date"]
    path = write_csv(tmp_path / "a.csv", header, [invoice_row()])

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors[0].startswith('column "Due Date" appears twice in the header row (columns 12 and 20)')


def test_applied_changes_are_capped(tmp_path, monkeypatch):
    from customers.imports import services

    monkeypatch.setattr(plan_store, "CHANGES_LIMIT", 3)
    rows = [invoice_row(invoice_number=f"INV-{n}") for n in range(1, 6)]
    path = write_csv(tmp_path / "a.csv", TEMPLATE_INVOICE_HEADER, rows)

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.APPLIED
    assert len(record.changes) == 3
    assert record.counts["changes_not_stored"] == 3
    assert record.counts["invoices"]["created"] == 5
    assert Invoice.objects.count() == 5


def test_header_only_file_rejected(tmp_path):
    path = write_csv(tmp_path / "empty.csv", TEMPLATE_INVOICE_HEADER, [None, None])

    record = import_file(path, kind="invoices", source_name="Spreadsheet")

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == ["the file has no data rows below the header; export the rows too"]
    assert Source.objects.get(name="Spreadsheet").last_imported_at is None
