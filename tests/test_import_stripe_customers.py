"""Stripe's customers and payment methods exports: customers with their contact data and
consents, then their cards."""

from pathlib import Path

import factory.random  # noqa: F401  (tests/factories.py uses factory.random without importing it)
import pytest

from customers.imports.services import import_file
from customers.models import Customer, ImportRecord, PaymentCard, Source
from tests.import_helpers import write_csv

FILES = Path(__file__).parent / "files"

pytestmark = pytest.mark.django_db


def import_customers():
    return import_file(FILES / "stripe_customers.csv", kind="customers", source_name="Stripe")


def test_stripe_customers_created():
    record = import_customers()

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert record.layout == "stripe-customers"
    assert record.counts["customers"] == {"created": 3, "updated": 0, "unchanged": 0}
    assert Source.objects.get(name="Stripe").kind == Source.Kind.STRIPE

    northgate = Customer.objects.get(external_id="cus_QAbc001")
    assert northgate.name == "Northgate Studio"
    assert northgate.email == "billing@northgate.example"
    assert northgate.phone == "+442079460958"
    assert northgate.country == "GB"
    assert northgate.locale == "en-GB"
    assert northgate.sms_consent is True
    assert northgate.sms_consent_source == "Stripe customers export"
    assert northgate.effective_time_zone == "Europe/London"

    atelier = Customer.objects.get(external_id="cus_QAbc002")
    assert atelier.name == "Atelier Lumière"
    assert atelier.locale == "fr-FR"
    assert atelier.phone == "+33612345678"
    assert atelier.sms_consent is None

    kites = Customer.objects.get(external_id="cus_QAbc003")
    assert kites.name == "ops@kiwi-kites.example"  # no name in Stripe, so the email is used
    assert kites.sms_consent is False
    # New Zealand has two zones (Auckland, Chatham), so the business zone applies.
    assert kites.effective_time_zone == "Europe/London"


def test_stripe_customers_second_import_unchanged():
    import_customers()
    stamps = dict(Customer.objects.values_list("external_id", "updated_at"))

    record = import_customers()

    assert record.status == ImportRecord.Status.UNCHANGED, record.errors
    assert record.counts["customers"] == {"created": 0, "updated": 0, "unchanged": 3}
    assert dict(Customer.objects.values_list("external_id", "updated_at")) == stamps


def test_stripe_customers_update_contact(tmp_path):
    import_customers()
    text = (FILES / "stripe_customers.csv").read_text().replace("billing@northgate.example", "ap@northgate.example")
    path = tmp_path / "customers.csv"
    path.write_text(text)

    record = import_file(path, kind="customers", source_name="Stripe")

    assert record.counts["customers"] == {"created": 0, "updated": 1, "unchanged": 2}
    assert Customer.objects.get(external_id="cus_QAbc001").email == "ap@northgate.example"


def test_stripe_customers_file_as_invoices_refused():
    record = import_file(FILES / "stripe_customers.csv", kind="invoices", source_name="Stripe")

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == [
        "the header row is that of the Stripe customers export, which contains customers, not invoices; import it as customers"
    ]


def test_stripe_cards_imported():
    import_customers()

    record = import_file(FILES / "stripe_cards.csv", kind="cards", source_name="Stripe")

    assert record.status == ImportRecord.Status.APPLIED, record.errors
    assert record.layout == "stripe-cards"
    assert record.counts["cards"] == {"created": 2, "updated": 0, "unchanged": 0}
    visa = PaymentCard.objects.get(external_id="pm_1QCard001")
    assert visa.customer.external_id == "cus_QAbc001"
    assert (visa.brand, visa.last4, visa.exp_month, visa.exp_year) == ("Visa", "4242", 12, 2026)
    master = PaymentCard.objects.get(external_id="card_1QCard002")
    assert (master.last4, master.exp_month, master.exp_year) == ("0044", 1, 2027)

    again = import_file(FILES / "stripe_cards.csv", kind="cards", source_name="Stripe")

    assert again.status == ImportRecord.Status.UNCHANGED
    assert again.counts["cards"] == {"created": 0, "updated": 0, "unchanged": 2}
    assert PaymentCard.objects.count() == 2


def test_stripe_card_renewal_updates_expiry(tmp_path):
    import_customers()
    import_file(FILES / "stripe_cards.csv", kind="cards", source_name="Stripe")
    path = tmp_path / "cards.csv"
    path.write_text((FILES / "stripe_cards.csv").read_text().replace("Visa,4242,12,2026", "Visa,4242,12,2029"))

    record = import_file(path, kind="cards", source_name="Stripe")

    assert record.counts["cards"] == {"created": 0, "updated": 1, "unchanged": 1}
    assert PaymentCard.objects.get(external_id="pm_1QCard001").exp_year == 2029


def test_stripe_cards_unknown_customer_refused(tmp_path):
    header = ["id", "Customer", "Card Brand", "Card Last4", "Card Exp Month", "Card Exp Year"]
    path = write_csv(tmp_path / "cards.csv", header, [["pm_1", "cus_missing", "Visa", "4242", "13", "2027"], ["pm_2", "cus_missing", "Visa", "4242", "1", "2027"]])
    import_customers()

    record = import_file(path, kind="cards", source_name="Stripe")

    assert record.status == ImportRecord.Status.REFUSED
    assert record.errors == [
        'row 2, column "Card Exp Month", value "13": not a month; enter a month from 1 to 12',
        'row 3, column "Customer", value "cus_missing": no customer with this id in source "Stripe"; import the customers export first',
    ]
    assert PaymentCard.objects.count() == 0
