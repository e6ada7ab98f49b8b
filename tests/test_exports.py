"""Exports of customers, invoices and touchpoints (CSV, XLSX): formula escaping, numbers
kept as numbers, permissions, and a round trip through our import template."""

import csv
import datetime
import io
from decimal import Decimal

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import openpyxl
import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse
from import_export.formats.base_formats import CSV, XLSX

from campaigns.models import Touchpoint, TouchpointInvoice
from customers.exports import (
    FORMULA_PREFIXES,
    CustomerResource,
    ExportAdminMixin,
    InvoiceResource,
    TouchpointResource,
    escape_formula,
)
from customers.imports import services
from customers.models import Customer, Invoice
from dunning_site import roles
from tests.factories import CustomerFactory, InvoiceFactory, SourceFactory, UserFactory

pytestmark = pytest.mark.django_db


def export_rows(resource_class, file_format=CSV) -> list[dict]:
    # The admin requests native values (numbers, dates) for binary formats, as here.
    dataset = resource_class().export(force_native_type=file_format is XLSX)
    if file_format is CSV:
        return list(csv.DictReader(io.StringIO(CSV().export_data(dataset))))
    workbook = openpyxl.load_workbook(io.BytesIO(XLSX().export_data(dataset)))
    rows = list(workbook.active.iter_rows(values_only=True))
    return [dict(zip(rows[0], row)) for row in rows[1:]]


@pytest.mark.parametrize("prefix", FORMULA_PREFIXES)
def test_escape_formula_quotes_each_prefix(prefix):
    assert escape_formula(f"{prefix}SUM(A1:A9)") == f"'{prefix}SUM(A1:A9)"


@pytest.mark.parametrize("value", ["Harbour Tiles", "", "a=b", " =1", "'=1+1"])
def test_escape_formula_keeps_other_text(value):
    assert escape_formula(value) == value


@pytest.mark.parametrize("value", [Decimal("-12.50"), -3, 4.5, None, datetime.date(2026, 1, 2)])
def test_escape_formula_keeps_non_text(value):
    assert escape_formula(value) == value


@pytest.mark.parametrize("prefix", FORMULA_PREFIXES)
def test_invoice_csv_escapes_each_prefix(prefix):
    source = SourceFactory(name="Spreadsheet")
    customer = CustomerFactory(source=source, name=f"{prefix}cmd|' /C calc'!A0")
    InvoiceFactory(customer=customer, number="INV-1", description=f"{prefix}HYPERLINK(\"http://evil.example\")")

    row = export_rows(InvoiceResource)[0]

    assert row["customer_name"] == f"'{prefix}cmd|' /C calc'!A0"
    assert row["description"] == f"'{prefix}HYPERLINK(\"http://evil.example\")"


def test_invoice_csv_keeps_negative_amount():
    source = SourceFactory(name="Spreadsheet")
    customer = CustomerFactory(source=source)
    # A credit: the ledger's total is negative and nothing is due.
    InvoiceFactory(customer=customer, number="-1", amount=Decimal("-12.50"), amount_paid=Decimal("0.00"), amount_due=Decimal("0.00"))

    row = export_rows(InvoiceResource)[0]

    assert row["amount"] == "-12.50"
    assert row["amount_due"] == "0.00"
    # The invoice number is text, so it is escaped like any other text.
    assert row["invoice_number"] == "'-1"


def test_invoice_xlsx_keeps_numbers_and_escapes_text():
    source = SourceFactory(name="Spreadsheet")
    customer = CustomerFactory(source=source, name="=1+1")
    InvoiceFactory(customer=customer, number="INV-9", amount=Decimal("-12.50"), amount_paid=Decimal("0.00"), amount_due=Decimal("0.00"), due_date=datetime.date(2026, 12, 1))

    row = export_rows(InvoiceResource, XLSX)[0]

    assert row["customer_name"] == "'=1+1"
    assert row["amount"] == -12.5
    assert isinstance(row["amount"], float | int)
    assert row["due_date"] == datetime.datetime(2026, 12, 1)


def test_xlsx_writes_no_formula_cells():
    source = SourceFactory(name="Spreadsheet")
    CustomerFactory(source=source, name="=HYPERLINK(\"http://evil.example\",\"click\")", phone="+447700900123")

    workbook = openpyxl.load_workbook(io.BytesIO(XLSX().export_data(CustomerResource().export(force_native_type=True))))
    cells = [cell for row in workbook.active.iter_rows() for cell in row]

    assert [cell.coordinate for cell in cells if cell.data_type == "f"] == []
    assert "'+447700900123" in [cell.value for cell in cells]


def test_customer_export_escapes_phone_and_keeps_ids():
    source = SourceFactory(name="Spreadsheet")
    customer = CustomerFactory(source=source, external_id="C-7", name="@Acme", phone="+447700900123")

    row = export_rows(CustomerResource)[0]

    assert row["id"] == str(customer.pk)
    assert row["external_id"] == "C-7"
    assert row["name"] == "'@Acme"
    assert row["phone"] == "'+447700900123"
    assert row["source"] == "Spreadsheet"


def test_touchpoint_export_escapes_subject():
    source = SourceFactory(name="Spreadsheet")
    customer = CustomerFactory(source=source, external_id="C-1")
    invoice = InvoiceFactory(customer=customer, number="INV-1")
    touchpoint = Touchpoint.objects.create(
        customer=customer,
        kind=Touchpoint.Kind.DUNNING,
        status=Touchpoint.Status.SENT,
        recipient="pat@customer.example",
        subject="-2 days left",
        status_reason="\tsent",
    )
    TouchpointInvoice.objects.create(touchpoint=touchpoint, invoice=invoice, amount_due=invoice.amount_due)

    row = export_rows(TouchpointResource)[0]

    assert row["subject"] == "'-2 days left"
    assert row["status_reason"] == "'\tsent"
    assert row["invoices"] == "INV-1"
    assert row["customer_id"] == "C-1"
    assert row["attempts"] == "0"


# Round trip: export invoices, import the file through our template layout --------------


def exported_csv_file(tmp_path):
    path = tmp_path / "invoices-export.csv"
    path.write_text(CSV().export_data(InvoiceResource().export()), encoding="utf-8")
    return path


INVOICE_FIELDS = ("issue_date", "due_date", "currency", "amount", "amount_paid", "amount_due", "ledger_status", "payment_link", "description")
CUSTOMER_FIELDS = ("name", "email", "phone", "country", "kind", "segment", "locale", "time_zone")


def assert_same_ledger(original_source, copy_source):
    for invoice in Invoice.objects.filter(source=original_source).select_related("customer"):
        copy = Invoice.objects.select_related("customer").get(source=copy_source, number=invoice.number)
        for name in INVOICE_FIELDS:
            assert getattr(copy, name) == getattr(invoice, name), f"{invoice.number} {name}"
        for name in CUSTOMER_FIELDS:
            assert getattr(copy.customer, name) == getattr(invoice.customer, name), f"{invoice.number} customer {name}"
        assert copy.customer.external_id == invoice.customer.external_id


def test_invoice_export_imports_back(tmp_path):
    source = SourceFactory(name="Ledger A")
    first = CustomerFactory(source=source, external_id="C-1", name="Harbour Tiles Ltd", email="ap@harbour.example", country="GB", locale="en-GB")
    second = CustomerFactory(source=source, external_id="C-2", name="Müller & Söhne GmbH", email="buchhaltung@mueller.example", country="DE")
    InvoiceFactory(customer=first, number="INV-1", amount=Decimal("100.00"), amount_paid=Decimal("40.00"), amount_due=Decimal("60.00"), description="Tiles, grey")
    InvoiceFactory(customer=second, number="INV-2", amount=Decimal("1234.56"), amount_due=Decimal("1234.56"), payment_link="https://pay.example/INV-2")

    record = services.import_file(exported_csv_file(tmp_path), kind="invoices", source_name="Ledger B", layout="template")

    assert record.errors == []
    assert record.status == "applied"
    assert_same_ledger(source, record.source)


def test_escaped_export_imports_back(tmp_path):
    source = SourceFactory(name="Ledger A")
    customer = CustomerFactory(source=source, external_id="C-1", name="=Acme", phone="+447911123456", country="GB")
    InvoiceFactory(customer=customer, number="INV-1", description="-10% discount", amount=Decimal("10.00"), amount_due=Decimal("10.00"))

    record = services.import_file(exported_csv_file(tmp_path), kind="invoices", source_name="Ledger B", layout="template")

    assert record.errors == []
    assert_same_ledger(source, record.source)


def test_escaped_xlsx_export_imports_back(tmp_path):
    source = SourceFactory(name="Ledger A")
    customer = CustomerFactory(source=source, external_id="C-1", name="@Acme", phone="+447911123456", country="GB")
    InvoiceFactory(customer=customer, number="INV-1", description="=SUM(A1)", amount=Decimal("10.00"), amount_due=Decimal("10.00"))
    path = tmp_path / "invoices-export.xlsx"
    path.write_bytes(XLSX().export_data(InvoiceResource().export(force_native_type=True)))

    record = services.import_file(path, kind="invoices", source_name="Ledger B", layout="template")

    assert record.errors == []
    assert_same_ledger(source, record.source)


# Admin export pages ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "resource"),
    [(Customer, CustomerResource), (Invoice, InvoiceResource), (Touchpoint, TouchpointResource)],
)
def test_admins_offer_export(model, resource):
    model_admin = admin.site._registry[model]

    assert isinstance(model_admin, ExportAdminMixin)
    assert resource in model_admin.resource_classes
    assert [format_class.__name__ for format_class in model_admin.get_export_formats()] == ["CSV", "XLSX"]


def role_client(client, group_name):
    user = UserFactory()
    user.groups.add(Group.objects.get(name=group_name))
    client.force_login(user)
    return client


@pytest.mark.parametrize("url_name", ["customers_customer_export", "customers_invoice_export", "campaigns_touchpoint_export"])
def test_export_page_for_data_staff_only(client, url_name):
    data_staff = role_client(client, roles.DATA_STAFF)
    assert data_staff.get(reverse(f"admin:{url_name}")).status_code == 200

    for group_name in (roles.MANAGER, roles.AGENT):
        other = role_client(client, group_name)
        assert other.get(reverse(f"admin:{url_name}")).status_code == 403


def test_admin_invoice_export_escapes(client):
    source = SourceFactory(name="Spreadsheet")
    customer = CustomerFactory(source=source, name="+cmd")
    InvoiceFactory(customer=customer, number="INV-1", amount=Decimal("-5.00"), amount_paid=Decimal("0.00"), amount_due=Decimal("0.00"))
    role_client(client, roles.DATA_STAFF)
    fields = {f"invoiceresource_{name}": "on" for name in InvoiceResource._meta.fields}

    response = client.post(reverse("admin:customers_invoice_export"), {"format": "0", "resource": "0", **fields})

    assert response.status_code == 200
    content = b"".join(response.streaming_content) if response.streaming else response.content
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0]["customer_name"] == "'+cmd"
    assert rows[0]["amount"] == "-5.00"
