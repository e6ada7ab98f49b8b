"""Saved layouts: staff map our fields to the headers of a file layout the product does
not know, save the mapping by name, and import later files of that shape with it."""

import datetime
from decimal import Decimal

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import pytest
from django.core.exceptions import ValidationError

from customers.imports.services import import_confirm, import_preview, layout_fields, saved_layout_save
from customers.models import Customer, ImportRecord, Invoice, PaymentCard, SavedLayout
from tests.factories import UserFactory
from tests.import_helpers import write_csv

pytestmark = pytest.mark.django_db

SAGE_HEADER = ["A/C", "Account Name", "Inv No", "Inv Date", "Due", "Gross", "Outstanding", "Cur"]
SAGE_MAPPING = {
    "customer_id": "A/C",
    "customer_name": "Account Name",
    "invoice_number": "Inv No",
    "issue_date": "Inv Date",
    "due_date": "Due",
    "amount": "Gross",
    "amount_due": "Outstanding",
    "currency": "Cur",
}


def test_layout_fields_lists_required_flags():
    fields = {item["field"]: item for item in layout_fields("invoices")}

    assert fields["invoice_number"]["required"] is True
    assert fields["due_date"]["required"] is True
    assert fields["email"]["required"] is False
    assert [item["field"] for item in layout_fields("cards")] == ["card_id", "customer_id", "brand", "last4", "exp_month", "exp_year"]


def test_saved_layout_save_creates_then_updates():
    user = UserFactory()

    first = saved_layout_save(name="Sage 50", kind="invoices", mapping=SAGE_MAPPING, date_order="month_first", user=user)
    second = saved_layout_save(
        name="Sage 50", kind="invoices", mapping={**SAGE_MAPPING, "email": " Email "}, date_order="day_first", user=user
    )

    assert first.pk == second.pk
    assert SavedLayout.objects.count() == 1
    second.refresh_from_db()
    assert second.mapping["email"] == "Email"
    assert second.date_order == "day_first"
    assert second.created_by == user


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({**SAGE_MAPPING, "due_date": ""}, "map the required fields due_date to a column of the file"),
        ({**SAGE_MAPPING, "colour": "Colour"}, '"colour" is not one of our invoices fields'),
        ({**SAGE_MAPPING, "amount": "Gross", "amount_paid": "gross"}, 'the column "gross" is mapped to both amount and amount_paid'),
    ],
)
def test_saved_layout_invalid_mapping(mapping, message):
    with pytest.raises(ValidationError, match=message):
        saved_layout_save(name="Sage 50", kind="invoices", mapping=mapping, date_order="", user=None)
    assert SavedLayout.objects.count() == 0


def test_import_with_saved_layout(tmp_path):
    saved = saved_layout_save(name="Sage 50", kind="invoices", mapping=SAGE_MAPPING, date_order="month_first", user=None)
    rows = [["ACME01", "Acme Ltd", "5001", "03/04/2026", "05/04/2026", "1,200.00", "200.00", "USD"]]
    path = write_csv(tmp_path / "aged debtors.csv", SAGE_HEADER, rows)

    record = import_preview(path, kind="invoices", source_name="Sage", saved_layout=saved)

    assert record.status == ImportRecord.Status.PREVIEWED, record.errors
    assert record.layout == "saved:Sage 50"
    assert record.saved_layout == saved
    import_confirm(record)
    invoice = Invoice.objects.get(number="5001")
    assert invoice.customer.name == "Acme Ltd"
    assert invoice.issue_date == datetime.date(2026, 3, 4)
    assert invoice.due_date == datetime.date(2026, 5, 4)
    assert invoice.amount == Decimal("1200.00")
    assert invoice.amount_due == Decimal("200.00")


def test_saved_layout_missing_header_refused(tmp_path):
    saved = saved_layout_save(name="Sage 50", kind="invoices", mapping=SAGE_MAPPING, date_order="", user=None)
    path = write_csv(tmp_path / "debtors.csv", [name for name in SAGE_HEADER if name != "Due"], [["ACME01"]])

    record = import_preview(path, kind="invoices", source_name="Sage", saved_layout=saved)

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == [
        'missing required column "Due" for layout "saved:Sage 50" (Saved layout "Sage 50"); add it to the header row in row 1'
    ]


def test_saved_customers_layout_idempotent(tmp_path):
    mapping = {"customer_id": "Account", "customer_name": "Company", "email": "E-mail", "sms_consent": "Texts OK"}
    saved = saved_layout_save(name="CRM", kind="customers", mapping=mapping, date_order="", user=None)
    path = write_csv(tmp_path / "crm.csv", ["Account", "Company", "E-mail", "Texts OK"], [["A-1", "Acme Ltd", "ap@acme.example", "no"]])

    first = import_confirm(import_preview(path, kind="customers", source_name="CRM", saved_layout=saved))
    second = import_confirm(import_preview(path, kind="customers", source_name="CRM", saved_layout=saved))

    assert first.status == ImportRecord.Status.APPLIED, first.errors
    customer = Customer.objects.get(external_id="A-1")
    assert (customer.name, customer.email, customer.sms_consent) == ("Acme Ltd", "ap@acme.example", False)
    assert customer.sms_consent_source == 'Saved layout "CRM"'
    assert second.status == ImportRecord.Status.UNCHANGED
    assert second.counts["customers"] == {"created": 0, "updated": 0, "unchanged": 1}


def test_template_cards_layout(tmp_path):
    customers = write_csv(tmp_path / "c.csv", ["customer_id", "customer_name"], [["C-1", "Acme Ltd"]])
    import_confirm(import_preview(customers, kind="customers", source_name="Spreadsheet"))
    header = ["card_id", "customer_id", "brand", "last4", "exp_month", "exp_year"]
    cards = write_csv(tmp_path / "cards.csv", header, [["card-9", "C-1", "Amex", "0005", "7", "28"]])

    record = import_confirm(import_preview(cards, kind="cards", source_name="Spreadsheet"))

    assert record.layout == "template-cards"
    card = PaymentCard.objects.get()
    assert (card.customer.external_id, card.brand, card.last4, card.exp_month, card.exp_year) == ("C-1", "Amex", "0005", 7, 2028)


def test_saved_layout_of_other_kind_refused(tmp_path):
    saved = saved_layout_save(name="Sage 50", kind="invoices", mapping=SAGE_MAPPING, date_order="", user=None)
    path = write_csv(tmp_path / "debtors.csv", SAGE_HEADER, [["ACME01"]])

    record = import_preview(path, kind="payments", source_name="Sage", saved_layout=saved)

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == ['the saved layout "Sage 50" reads invoices files, not payments; choose a saved layout of this kind']
