"""Generate the reference dataset that every benchmark under bench/ uses.

The same parameters and seed give the same rows, byte for byte in CSV. Rows are generated
one at a time and written as they are made, so memory stays constant at any size.

Parameters (CLI flag, default):

- ``--invoices`` (1,000,000): invoice rows, numbered INV-0000001 upwards.
- ``--customers`` (200,000): customers, C0000001 upwards. When there are at least as many
  invoices as customers, every customer gets one invoice and the rest are spread with a
  skew, so low-numbered customers have many invoices.
- ``--zones`` (40): how many of the 40 real IANA time zones in ``ZONES`` to use, taken
  from the top of the list. Earlier zones get more customers. The list includes zones with
  half-hour and 45-minute offsets, zones without daylight saving time, and two zones in
  one country that are an hour apart (Madrid and the Canaries).
- ``--currencies`` (GBP,EUR,USD,JPY,AUD): a customer invoices in its country's currency
  when that currency is in the list, else in one picked from the list. JPY has no minor
  unit, so its amounts are whole numbers.
- ``--prior-touchpoint-fraction`` (0.3): the share of open, overdue invoices with a
  balance that already received a dunning message. It is not written to the files. It is
  exposed as ``InvoiceRow.has_prior_touchpoint`` for benchmarks that seed touchpoints.
- ``--due-spread-days`` (180) and ``--due-ahead-days`` (30): due dates are spread evenly
  from ``as_of - due_spread_days`` to ``as_of + due_ahead_days``.
- ``--as-of`` (2026-01-15): the day the dataset describes. It is fixed rather than today,
  so that a run tomorrow produces the same files.
- ``--seed`` (20261204).

Output formats (``--format``):

- ``csv``: our invoices template, one row per invoice, ISO dates, columns
  ``TEMPLATE_COLUMNS``.
- ``xlsx``: the same rows as an XLSX sheet (openpyxl write-only mode), with dates and
  amounts as typed cells, as a spreadsheet program saves them.
- ``xero``: Xero's invoice export shape, columns ``XERO_COLUMNS``. There is one row per
  line item with the invoice header fields repeated, and dates are day first (31/01/2026).

Example: ``python bench/dataset.py --invoices 100000 --customers 20000 --format csv
--output /tmp/invoices.csv``.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import random
import sys
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import phonenumbers

DEFAULT_SEED = 20261204
DEFAULT_AS_OF = datetime.date(2026, 1, 15)
ALL_CURRENCIES = ("GBP", "EUR", "USD", "JPY", "AUD")
# Decimal places per currency (ISO 4217). JPY has no minor unit.
CURRENCY_PLACES = {"GBP": 2, "EUR": 2, "USD": 2, "JPY": 0, "AUD": 2}

TEMPLATE_COLUMNS = (
    "customer_id",
    "customer_name",
    "email",
    "phone",
    "country",
    "customer_type",
    "segment",
    "locale",
    "time_zone",
    "invoice_number",
    "issue_date",
    "due_date",
    "currency",
    "amount",
    "amount_paid",
    "amount_due",
    "status",
    "payment_link",
    "description",
)

XERO_COLUMNS = (
    "ContactName",
    "EmailAddress",
    "InvoiceNumber",
    "InvoiceDate",
    "DueDate",
    "Total",
    "InvoiceAmountPaid",
    "InvoiceAmountDue",
    "Currency",
    "Type",
    "Status",
    "Description",
    "Quantity",
    "UnitAmount",
    "LineAmount",
)
XERO_DATE_FORMAT = "%d/%m/%Y"
# Xero has no written-off status: a write-off shows as a voided invoice in its export.
XERO_STATUS = {"open": "AUTHORISED", "paid": "PAID", "void": "VOIDED", "written_off": "VOIDED"}

# (IANA zone, ISO 3166 country, locale, home currency or None when it is not one of the five).
ZONES = (
    ("Europe/London", "GB", "en-GB", "GBP"),
    ("America/New_York", "US", "en-US", "USD"),
    ("Europe/Paris", "FR", "fr-FR", "EUR"),
    ("Europe/Berlin", "DE", "de-DE", "EUR"),
    ("Australia/Sydney", "AU", "en-AU", "AUD"),
    ("America/Chicago", "US", "en-US", "USD"),
    ("Asia/Tokyo", "JP", "ja-JP", "JPY"),
    ("America/Los_Angeles", "US", "en-US", "USD"),
    ("Europe/Dublin", "IE", "en-IE", "EUR"),
    ("Europe/Madrid", "ES", "es-ES", "EUR"),
    ("Europe/Amsterdam", "NL", "nl-NL", "EUR"),
    ("America/Toronto", "CA", "en-CA", None),
    ("Europe/Rome", "IT", "it-IT", "EUR"),
    ("America/Denver", "US", "en-US", "USD"),
    ("Europe/Brussels", "BE", "fr-BE", "EUR"),
    ("Asia/Singapore", "SG", "en-SG", None),
    ("Australia/Perth", "AU", "en-AU", "AUD"),
    ("Pacific/Auckland", "NZ", "en-NZ", None),
    ("Asia/Kolkata", "IN", "en-IN", None),
    ("America/Phoenix", "US", "en-US", "USD"),
    ("Europe/Zurich", "CH", "de-CH", None),
    ("Europe/Vienna", "AT", "de-AT", "EUR"),
    ("Europe/Stockholm", "SE", "sv-SE", None),
    ("Europe/Lisbon", "PT", "pt-PT", "EUR"),
    ("America/Vancouver", "CA", "en-CA", None),
    ("Asia/Hong_Kong", "HK", "zh-HK", None),
    ("Asia/Dubai", "AE", "ar-AE", None),
    ("Europe/Warsaw", "PL", "pl-PL", None),
    ("Australia/Adelaide", "AU", "en-AU", "AUD"),
    ("America/Mexico_City", "MX", "es-MX", None),
    ("America/Sao_Paulo", "BR", "pt-BR", None),
    ("Europe/Helsinki", "FI", "fi-FI", "EUR"),
    ("Europe/Oslo", "NO", "nb-NO", None),
    ("Europe/Prague", "CZ", "cs-CZ", None),
    ("Atlantic/Canary", "ES", "es-ES", "EUR"),
    ("Europe/Istanbul", "TR", "tr-TR", None),
    ("America/Argentina/Buenos_Aires", "AR", "es-AR", None),
    ("Asia/Kathmandu", "NP", "ne-NP", None),
    ("America/Anchorage", "US", "en-US", "USD"),
    ("Pacific/Honolulu", "US", "en-US", "USD"),
)

COMPANY_WORDS = (
    "Harbour", "Northgate", "Willow", "Summit", "Riverside", "Oakfield", "Bluebell", "Granite",
    "Meridian", "Lantern", "Copper", "Highland", "Juniper", "Beacon", "Foxglove", "Ashford",
)
COMPANY_TRADES = (
    "Logistics", "Bakery", "Plumbing", "Consulting", "Dental", "Print", "Garden Supplies",
    "Engineering", "Catering", "Architects", "Electrical", "Motors",
)
COMPANY_SUFFIXES = ("Ltd", "LLC", "GmbH", "SARL", "BV", "Pty Ltd", "Inc")
FIRST_NAMES = ("Amelia", "Noah", "Sofia", "Liam", "Chloé", "Mateo", "Yuki", "Aarav", "Freya", "Jonas", "Zoë", "Kenji")
LAST_NAMES = ("Smith", "García", "Müller", "Dubois", "Tanaka", "Rossi", "O'Brien", "Novak", "Kowalski", "Silva", "Nguyen")
SEGMENTS = ("smb", "mid-market", "enterprise", "retail", "wholesale", "public-sector")
DESCRIPTIONS = (
    "Monthly subscription",
    "Consulting services",
    "Equipment rental",
    "Maintenance contract",
    "Spare parts",
    "Training day",
    "Freight and handling",
    "Software licence",
)
PAYMENT_TERMS_DAYS = (7, 14, 30, 30, 30, 45, 60)
QUANTITIES = (1, 1, 1, 2, 3, 4, 5, 10, 12)


@dataclass(frozen=True)
class DatasetConfig:
    """Parameters of the reference dataset; the module docstring describes each one."""

    invoices: int = 1_000_000
    customers: int = 200_000
    zones: int = len(ZONES)
    currencies: tuple[str, ...] = ALL_CURRENCIES
    prior_touchpoint_fraction: float = 0.3
    due_spread_days: int = 180
    due_ahead_days: int = 30
    as_of: datetime.date = DEFAULT_AS_OF
    seed: int = DEFAULT_SEED

    def __post_init__(self):
        if self.invoices < 0:
            raise ValueError(f"invoices={self.invoices} is negative; use 0 or more")
        if self.customers < 1:
            raise ValueError(f"customers={self.customers} must be at least 1")
        if not 1 <= self.zones <= len(ZONES):
            raise ValueError(f"zones={self.zones} must be between 1 and {len(ZONES)}")
        unknown = [code for code in self.currencies if code not in CURRENCY_PLACES]
        if unknown or not self.currencies:
            raise ValueError(f"currencies={self.currencies!r} must be a non-empty subset of {ALL_CURRENCIES}")
        if not 0.0 <= self.prior_touchpoint_fraction <= 1.0:
            raise ValueError(f"prior_touchpoint_fraction={self.prior_touchpoint_fraction} must be between 0 and 1")
        if self.due_spread_days < 0 or self.due_ahead_days < 0:
            raise ValueError("due_spread_days and due_ahead_days must be 0 or more")


@dataclass(frozen=True, slots=True)
class CustomerRow:
    index: int
    external_id: str
    name: str
    email: str
    phone: str
    country: str
    kind: str
    segment: str
    locale: str
    time_zone: str
    currency: str


@dataclass(frozen=True, slots=True)
class InvoiceRow:
    customer: CustomerRow
    number: str
    issue_date: datetime.date
    due_date: datetime.date
    currency: str
    amount: Decimal
    amount_paid: Decimal
    amount_due: Decimal
    status: str
    payment_link: str
    description: str
    # Line items for the Xero shape as (quantity, unit amount, line amount) tuples. The
    # line amounts add up to `amount`.
    lines: tuple[tuple[int, Decimal, Decimal], ...] = field(default=())
    has_prior_touchpoint: bool = False


def _phone_prefixes() -> dict[str, str]:
    """Map each country to the E.164 example mobile number without its last four digits.

    Appending four digits keeps the number valid for phonenumbers in every country of ZONES.
    NOTE: this was checked on a sample of suffixes and on the rows the tests generate, not on
    all 10,000 suffixes.
    """
    prefixes = {}
    for _zone, country, _locale, _currency in ZONES:
        example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
        prefixes[country] = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)[:-4]
    return prefixes


# (cumulative share, ledger status, share of the amount paid), where a paid share of None
# means partly paid.
OVERDUE_STATUSES = (
    (0.64, "open", 0.0),
    (0.74, "open", None),
    (0.92, "paid", 1.0),
    (0.96, "void", 0.0),
    (1.00, "written_off", 0.0),
)
NOT_YET_DUE_STATUSES = (
    (0.90, "open", 0.0),
    (0.95, "open", None),
    (1.00, "paid", 1.0),
)


def _pick_status(draw: float, *, overdue: bool) -> tuple[str, float | None]:
    for cumulative_share, status, paid_share in OVERDUE_STATUSES if overdue else NOT_YET_DUE_STATUSES:
        if draw < cumulative_share:
            return status, paid_share
    return "open", 0.0


class DatasetGenerator:
    """Generate customers and invoices for one configuration.

    Customer i is derived from its own seeded random generator, so it comes out the same
    wherever its invoices appear. Invoices come from one generator read in order.
    """

    def __init__(self, config: DatasetConfig):
        self.config = config
        self.zones = ZONES[: config.zones]
        for zone_name, *_rest in self.zones:
            zoneinfo.ZoneInfo(zone_name)  # Raises ZoneInfoNotFoundError for a missing tzdata entry.
        # Zone k gets a weight of 1 / (k + 1) ** 0.7, so London has about 13 times the
        # customers of the 40th zone.
        self.zone_weights = [1 / (rank + 1) ** 0.7 for rank in range(len(self.zones))]
        self.phone_prefixes = _phone_prefixes()

    def customer(self, index: int) -> CustomerRow:
        """Return the customer at 0-based `index`. Its external id is 1-based."""
        if not 0 <= index < self.config.customers:
            raise IndexError(f"customer index {index} is outside 0..{self.config.customers - 1}")
        rng = random.Random(self.config.seed * 1_000_003 + index)
        zone_name, country, locale, home_currency = rng.choices(self.zones, weights=self.zone_weights)[0]
        number = index + 1
        external_id = f"C{number:07d}"

        is_business = rng.random() < 0.8
        if is_business:
            # The number keeps names unique, as Xero requires of contact names.
            name = (
                f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_TRADES)} "
                f"{rng.choice(COMPANY_SUFFIXES)} {number}"
            )
            segment = rng.choice(SEGMENTS)
        else:
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)} {number}"
            segment = "consumer"

        email = f"accounts.{external_id.lower()}@example.com"
        phone = f"{self.phone_prefixes[country]}{rng.randrange(10_000):04d}"
        if home_currency in self.config.currencies:
            currency = home_currency
        else:
            currency = rng.choice(self.config.currencies)

        return CustomerRow(
            index=index,
            external_id=external_id,
            name=name,
            email=email,
            phone=phone,
            country=country,
            kind="business" if is_business else "consumer",
            segment=segment,
            locale=locale,
            time_zone=zone_name,
            currency=currency,
        )

    def _customer_index_for(self, invoice_index: int, rng: random.Random) -> int:
        customers = self.config.customers
        if invoice_index < customers:
            return invoice_index
        # Cubing a uniform number skews toward low indexes: the first 10% of customers
        # get about 46% of the remaining invoices.
        return min(int(customers * rng.random() ** 3), customers - 1)

    def invoices(self) -> Iterator[InvoiceRow]:
        """Yield the invoices in order, each with its customer."""
        config = self.config
        rng = random.Random(config.seed)
        for invoice_index in range(config.invoices):
            customer = self.customer(self._customer_index_for(invoice_index, rng))
            yield self._invoice(invoice_index, customer, rng)

    def _invoice(self, invoice_index: int, customer: CustomerRow, rng: random.Random) -> InvoiceRow:
        config = self.config
        currency = customer.currency
        places = CURRENCY_PLACES[currency]
        number = f"INV-{invoice_index + 1:07d}"

        due_date = config.as_of + datetime.timedelta(days=rng.randint(-config.due_spread_days, config.due_ahead_days))
        issue_date = due_date - datetime.timedelta(days=rng.choice(PAYMENT_TERMS_DAYS))

        # Whole yen from 1,000 to 2,000,000; other currencies 10.00 to 25,000.00.
        if places == 0:
            minor_amount = rng.randint(1_000, 2_000_000)
        else:
            minor_amount = rng.randint(1_000, 2_500_000)
        lines = self._line_items(minor_amount, places, rng)

        overdue = due_date < config.as_of
        status, paid_share = _pick_status(rng.random(), overdue=overdue)
        if paid_share is None:
            minor_paid = max(1, min(minor_amount - 1, int(minor_amount * rng.uniform(0.1, 0.9))))
        else:
            minor_paid = int(minor_amount * paid_share)
        minor_due = 0 if status in ("void", "written_off") else minor_amount - minor_paid

        has_prior_touchpoint = (
            overdue and status == "open" and minor_due > 0 and rng.random() < config.prior_touchpoint_fraction
        )
        month = issue_date.strftime("%B %Y")
        return InvoiceRow(
            customer=customer,
            number=number,
            issue_date=issue_date,
            due_date=due_date,
            currency=currency,
            amount=Decimal(minor_amount).scaleb(-places),
            amount_paid=Decimal(minor_paid).scaleb(-places),
            amount_due=Decimal(minor_due).scaleb(-places),
            status=status,
            payment_link=f"https://pay.example.com/{number}",
            description=f"{rng.choice(DESCRIPTIONS)}, {month}",
            lines=lines,
            has_prior_touchpoint=has_prior_touchpoint,
        )

    @staticmethod
    def _line_items(minor_amount: int, places: int, rng: random.Random) -> tuple[tuple[int, Decimal, Decimal], ...]:
        """Split an amount in minor units into 1 to 3 lines whose line amounts add up to it."""
        count = min(rng.choice((1, 1, 2, 3)), minor_amount)
        cuts = sorted(rng.sample(range(1, minor_amount), count - 1)) if count > 1 else []
        bounds = [0, *cuts, minor_amount]
        lines = []
        for start, end in zip(bounds, bounds[1:]):
            minor_line = end - start
            quantity = rng.choice(QUANTITIES)
            if minor_line % quantity:
                quantity = 1
            lines.append(
                (quantity, Decimal(minor_line // quantity).scaleb(-places), Decimal(minor_line).scaleb(-places))
            )
        return tuple(lines)


def template_record(row: InvoiceRow) -> list[str]:
    """Return one CSV row of the invoices template, in TEMPLATE_COLUMNS order."""
    customer = row.customer
    return [
        customer.external_id,
        customer.name,
        customer.email,
        customer.phone,
        customer.country,
        customer.kind,
        customer.segment,
        customer.locale,
        customer.time_zone,
        row.number,
        row.issue_date.isoformat(),
        row.due_date.isoformat(),
        row.currency,
        str(row.amount),
        str(row.amount_paid),
        str(row.amount_due),
        row.status,
        row.payment_link,
        row.description,
    ]


def xero_records(row: InvoiceRow) -> Iterator[list[str]]:
    """Yield the Xero export rows of one invoice, one per line item, in XERO_COLUMNS order."""
    header = [
        row.customer.name,
        row.customer.email,
        row.number,
        row.issue_date.strftime(XERO_DATE_FORMAT),
        row.due_date.strftime(XERO_DATE_FORMAT),
        str(row.amount),
        str(row.amount_paid),
        str(row.amount_due),
        row.currency,
        "ACCREC",
        XERO_STATUS[row.status],
    ]
    for line_number, (quantity, unit_amount, line_amount) in enumerate(row.lines, start=1):
        description = row.description if len(row.lines) == 1 else f"{row.description} (part {line_number})"
        yield [*header, description, str(quantity), str(unit_amount), str(line_amount)]


def write_template_csv(config: DatasetConfig, path: Path | str) -> int:
    """Write the invoices template as UTF-8 CSV and return the number of data rows."""
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(TEMPLATE_COLUMNS)
        for row in DatasetGenerator(config).invoices():
            writer.writerow(template_record(row))
            count += 1
    return count


def write_template_xlsx(config: DatasetConfig, path: Path | str) -> int:
    """Write the invoices template as an XLSX sheet and return the number of data rows.

    Dates are date cells and amounts numeric cells. Identifiers and phone numbers stay text.
    openpyxl's write-only mode streams rows to a temporary file, so memory stays flat.
    """
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Invoices")
    sheet.append(TEMPLATE_COLUMNS)
    count = 0
    for row in DatasetGenerator(config).invoices():
        customer = row.customer
        sheet.append(
            [
                customer.external_id,
                customer.name,
                customer.email,
                customer.phone,
                customer.country,
                customer.kind,
                customer.segment,
                customer.locale,
                customer.time_zone,
                row.number,
                row.issue_date,
                row.due_date,
                row.currency,
                row.amount,
                row.amount_paid,
                row.amount_due,
                row.status,
                row.payment_link,
                row.description,
            ]
        )
        count += 1
    workbook.save(path)
    return count


def write_xero_csv(config: DatasetConfig, path: Path | str) -> int:
    """Write Xero's invoice export shape as UTF-8 CSV and return the number of data rows.

    There are more rows than invoices because each line item has its own row.
    """
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(XERO_COLUMNS)
        for row in DatasetGenerator(config).invoices():
            for record in xero_records(row):
                writer.writerow(record)
                count += 1
    return count


WRITERS = {"csv": write_template_csv, "xlsx": write_template_xlsx, "xero": write_xero_csv}


def add_config_arguments(parser: argparse.ArgumentParser, *, invoices: int, customers: int) -> None:
    """Add the dataset parameters as CLI flags (shared with the benchmark scripts)."""
    parser.add_argument("--invoices", type=int, default=invoices, help=f"invoice rows (default {invoices:,})")
    parser.add_argument("--customers", type=int, default=customers, help=f"customers (default {customers:,})")
    parser.add_argument(
        "--zones", type=int, default=len(ZONES), help=f"IANA time zones to use, 1 to {len(ZONES)} (default {len(ZONES)})"
    )
    parser.add_argument(
        "--currencies",
        default=",".join(ALL_CURRENCIES),
        help=f"comma-separated subset of {','.join(ALL_CURRENCIES)} (default all five)",
    )
    parser.add_argument(
        "--prior-touchpoint-fraction",
        type=float,
        default=0.3,
        help="share of open overdue invoices that already got a message, 0 to 1 (default 0.3)",
    )
    parser.add_argument(
        "--due-spread-days", type=int, default=180, help="due dates start this many days before --as-of (default 180)"
    )
    parser.add_argument(
        "--due-ahead-days", type=int, default=30, help="due dates end this many days after --as-of (default 30)"
    )
    parser.add_argument(
        "--as-of",
        type=datetime.date.fromisoformat,
        default=DEFAULT_AS_OF,
        help=f"the day the dataset describes, YYYY-MM-DD (default {DEFAULT_AS_OF.isoformat()})",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")


def config_from_arguments(arguments: argparse.Namespace) -> DatasetConfig:
    return DatasetConfig(
        invoices=arguments.invoices,
        customers=arguments.customers,
        zones=arguments.zones,
        currencies=tuple(code.strip().upper() for code in arguments.currencies.split(",") if code.strip()),
        prior_touchpoint_fraction=arguments.prior_touchpoint_fraction,
        due_spread_days=arguments.due_spread_days,
        due_ahead_days=arguments.due_ahead_days,
        as_of=arguments.as_of,
        seed=arguments.seed,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the benchmark reference dataset.")
    add_config_arguments(parser, invoices=1_000_000, customers=200_000)
    parser.add_argument("--format", choices=sorted(WRITERS), default="csv", help="output format (default csv)")
    parser.add_argument("--output", type=Path, required=True, help="file to write")
    arguments = parser.parse_args(argv)
    try:
        config = config_from_arguments(arguments)
    except ValueError as error:
        parser.error(str(error))
    count = WRITERS[arguments.format](config, arguments.output)
    print(f"wrote {count:,} rows to {arguments.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
