"""Regenerate demo/invoices_template.csv and demo/payments_template.csv.

The committed CSV files are the demo data. This script documents how they were made
and rebuilds them the same way, from a fixed seed. Dates are offsets in days from the day
`load_demo` runs, so the demo is current whenever it is loaded.

Run from the repository root: python demo/generate_templates.py
Needs Faker, which the dev extra installs with factory-boy.
"""

import csv
import random
import re
import unicodedata
from decimal import Decimal
from pathlib import Path

from faker import Faker

SEED = 20261204
DEMO_DIR = Path(__file__).resolve().parent

INVOICE_COLUMNS = [
    "customer_id", "customer_name", "email", "phone", "country", "customer_type", "segment", "locale",
    "time_zone", "invoice_number", "issue_date_offset", "due_date_offset", "currency", "amount",
    "amount_paid", "amount_due", "status", "payment_link", "description", "demo_setup",
]
PAYMENT_COLUMNS = ["invoice_number", "amount", "paid_on_offset", "reference", "method", "currency"]

# country -> (Faker locale, customer locale, currency, time zone column, phone maker).
# US customers get an explicit zone because the country alone spans several.
# Phone numbers come from the ranges regulators reserve for fiction, so none is real:
# Ofcom's 020 7946 0xxx, ARCEP's 01 99 00 xx xx, the Bundesnetzagentur's 030 23125 xxx
# and the North American 555-01xx. Irish and Dutch customers get no phone.
COUNTRIES = {
    "GB": ("en_GB", "en-GB", "GBP", "", lambda r: f"+44207946{r.randint(0, 999):04d}"),
    "IE": ("en_IE", "en-IE", "EUR", "", None),
    "FR": ("fr_FR", "fr-FR", "EUR", "", lambda r: f"+33199{r.randint(0, 9999):06d}"),
    "DE": ("de_DE", "de-DE", "EUR", "", lambda r: f"+493023125{r.randint(0, 999):03d}"),
    "NL": ("nl_NL", "nl-NL", "EUR", "", None),
    "US": ("en_US", "en-US", "USD", "America/*", lambda r: f"+1{r.choice(['212', '312', '415', '617'])}55501{r.randint(0, 99):02d}"),
}
US_TIME_ZONES = ["America/New_York", "America/Chicago", "America/Los_Angeles"]
# Appended to a generated business name that is a bare surname.
LEGAL_SUFFIXES = {"GB": "Ltd", "IE": "Ltd", "FR": "SARL", "DE": "GmbH", "NL": "B.V.", "US": "Inc."}
COUNTRY_WEIGHTS = {"GB": 34, "IE": 10, "FR": 18, "DE": 16, "NL": 10, "US": 12}
SEGMENTS = {"business": ["retail", "hospitality", "construction", "wholesale", "agency"], "consumer": ["subscriber", "member"]}
DESCRIPTIONS = [
    "Office supplies, monthly order",
    "Catering equipment rental",
    "Annual maintenance contract",
    "Printer cartridges and paper",
    "Cleaning products, quarterly delivery",
    "Workshop tools and consumables",
    "Subscription, premium plan",
    "Furniture delivery and assembly",
]

# (share of invoices, due-date offsets to draw from, ledger status, demo setup).
# Offsets are days from the load day in the business time zone, negative when overdue.
# CENTRE_OFFSETS adds three invoices per dunning tier at the middle of its range for
# European customers, so every tier is due on the first pass at any hour of the day.
SCENARIOS = [
    ("courtesy", 0.08, range(1, 4), "open", ""),
    ("friendly", 0.12, range(-6, 1), "open", ""),
    ("firm", 0.08, range(-20, -7), "open", "history:friendly"),
    ("final", 0.06, range(-40, -21), "open", "history:friendly,firm"),
    ("overdue_first_contact", 0.06, range(-60, -8), "open", ""),
    ("future", 0.33, range(4, 46), "open", ""),
    ("paid", 0.15, range(-60, 10), "paid", ""),
    ("collections_state", 0.04, range(-30, -2), "open", "*"),
    ("void", 0.02, range(-45, 0), "void", ""),
    ("written_off", 0.01, range(-120, -90), "written_off", ""),
]
CENTRE_OFFSETS = {"courtesy": 2, "friendly": -3, "firm": -12, "final": -28}


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def money(rng: random.Random, low: int, high: int) -> Decimal:
    return (Decimal(rng.randint(low * 100, high * 100)) / 100).quantize(Decimal("0.01"))


def make_customers(rng: random.Random, count: int) -> list[dict]:
    fakers = {country: Faker(locale) for country, (locale, *_rest) in COUNTRIES.items()}
    for faker in fakers.values():
        faker.seed_instance(rng.randint(0, 10**9))
    countries = rng.choices(list(COUNTRY_WEIGHTS), weights=list(COUNTRY_WEIGHTS.values()), k=count)
    customers, used_names = [], set()
    for number, country in enumerate(countries, start=1):
        _locale, customer_locale, currency, time_zone, phone_maker = COUNTRIES[country]
        faker = fakers[country]
        kind = "business" if rng.random() < 0.65 else "consumer"
        name = faker.company() if kind == "business" else faker.name()
        while name in used_names:
            name = faker.company() if kind == "business" else faker.name()
        used_names.add(name)
        if kind == "business" and " " not in name:
            name = f"{name} {LEGAL_SUFFIXES[country]}"
        if kind == "business":
            email = f"accounts@{slug(name)[:40]}.example"
        else:
            email = f"{slug(name)[:40].replace('-', '.')}@mail.example"
        customers.append(
            {
                "customer_id": f"C{number:04d}",
                "customer_name": name,
                "email": email,
                "phone": phone_maker(rng) if phone_maker and rng.random() < 0.7 else "",
                "country": country,
                "customer_type": kind,
                "segment": rng.choice(SEGMENTS[kind]),
                "locale": customer_locale,
                "time_zone": rng.choice(US_TIME_ZONES) if time_zone == "America/*" else time_zone,
                "currency": currency,
            }
        )
    # Two customers without an email address show suppressed touchpoints and their reason.
    for customer in customers[7:9]:
        customer["email"] = ""
    # One customer whose name needs escaping in every admin page and message.
    customers[10]["customer_name"] = "O'Brien & Daughters <Ltd>"
    return customers


def make_invoices(rng: random.Random, customers: list[dict], count: int) -> list[dict]:
    invoices = []
    scenario_names = [name for name, *_rest in SCENARIOS]
    weights = [share for _name, share, *_rest in SCENARIOS]
    drawn = rng.choices(range(len(SCENARIOS)), weights=weights, k=count)
    european = [c for c in customers if c["country"] != "US" and c["email"]]
    forced = [(scenario_names.index(name), customer) for name in CENTRE_OFFSETS for customer in rng.sample(european, 3)]
    # The customers without email, and the one whose name needs escaping, get a
    # friendly note due on the first pass.
    forced += [(scenario_names.index("friendly"), customer) for customer in customers[7:11]]
    state_kinds = ["dispute", "pause", "promise"]

    plan = [(index, None) for index in drawn] + forced
    for position, (scenario_index, forced_customer) in enumerate(plan):
        number = 1001 + position
        name, _share, offsets, status, setup = SCENARIOS[scenario_index]
        # Every customer gets at least one invoice, so every customer is imported.
        if forced_customer is not None:
            customer = forced_customer
        elif position < len(customers):
            customer = customers[position]
        else:
            customer = rng.choice(customers)
        if forced_customer is not None:
            due_offset = CENTRE_OFFSETS[name]
        else:
            due_offset = rng.choice(offsets)
        currency = customer["currency"]
        if customer["country"] == "GB" and customer["customer_type"] == "business" and rng.random() < 0.1:
            currency = rng.choice(["EUR", "USD"])
        amount = money(rng, 40, 4800) if customer["customer_type"] == "business" else money(rng, 15, 600)
        amount_paid = Decimal("0.00")
        if status == "paid":
            amount_paid = amount
        elif status == "open" and rng.random() < 0.1:
            amount_paid = (amount * Decimal("0.4")).quantize(Decimal("0.01"))
        amount_due = Decimal("0.00") if status in ("paid", "void", "written_off") else amount - amount_paid
        if setup == "*":
            setup = state_kinds[number % len(state_kinds)]
        invoice_number = f"INV-{number}"
        invoices.append(
            {
                **{key: customer[key] for key in INVOICE_COLUMNS if key in customer},
                "invoice_number": invoice_number,
                "issue_date_offset": due_offset - rng.choice([14, 30, 30, 30, 60]),
                "due_date_offset": due_offset,
                "currency": currency,
                "amount": f"{amount:.2f}",
                "amount_paid": f"{amount_paid:.2f}",
                "amount_due": f"{amount_due:.2f}",
                "status": status,
                "payment_link": f"https://pay.northwind.example/i/{invoice_number.lower()}" if status == "open" else "",
                "description": rng.choice(DESCRIPTIONS),
                "demo_setup": setup,
                "forced": forced_customer is not None,
            }
        )
    # One invoice below the minimum balance, which dunning leaves alone.
    small = next(
        row for row in invoices
        if row["status"] == "open" and row["demo_setup"] == "" and not row["forced"] and int(row["due_date_offset"]) < 0
    )
    small["amount"], small["amount_paid"], small["amount_due"] = "120.00", "119.50", "0.50"
    return invoices


def make_payments(rng: random.Random, invoices: list[dict]) -> list[dict]:
    """Payments that arrived in the last few days against open, untouched invoices."""
    candidates = [
        row for row in invoices
        if row["status"] == "open" and row["demo_setup"] == "" and not row["forced"] and Decimal(row["amount_due"]) > 1
        and -30 <= int(row["due_date_offset"]) <= 10
    ]
    payments = []
    for row in rng.sample(candidates, 14):
        amount_due = Decimal(row["amount_due"])
        amount = amount_due if rng.random() < 0.7 else (amount_due / 2).quantize(Decimal("0.01"))
        payments.append(
            {
                "invoice_number": row["invoice_number"],
                "amount": f"{amount:.2f}",
                "paid_on_offset": -rng.randint(0, 3),
                "reference": f"BANK-{rng.randint(100000, 999999)}",
                "method": rng.choice(["bank transfer", "card", "direct debit"]),
                "currency": row["currency"],
            }
        )
    return payments


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    rng = random.Random(SEED)
    customers = make_customers(rng, 300)
    invoices = make_invoices(rng, customers, 420)
    payments = make_payments(rng, invoices)
    write_csv(DEMO_DIR / "invoices_template.csv", INVOICE_COLUMNS, invoices)
    write_csv(DEMO_DIR / "payments_template.csv", PAYMENT_COLUMNS, payments)
    print(f"{len(customers)} customers, {len(invoices)} invoices, {len(payments)} payments written to {DEMO_DIR}")


if __name__ == "__main__":
    main()
