"""Cell parsers shared by every layout. Each returns a domain value or raises CellError
with the reason and the fix; the pipeline adds the row and the column.

Amounts are parsed from text into Decimal and never pass through float, except for XLSX
number cells, which openpyxl already returns as float. Those are read at Excel's own
precision of 15 significant digits.
"""

import datetime
import functools
import re
import unicodedata
import zoneinfo
from decimal import Decimal, InvalidOperation

import phonenumbers
from babel import Locale
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email

from customers.imports.errors import CellError
from customers.money import CurrencyError, currency_places

# Invoice and payment amounts are DecimalField(max_digits=14, decimal_places=2).
MAX_AMOUNT = Decimal("999999999999.99")
# Excel keeps 15 significant digits, so a number cell of 16 or more digits has lost some.
EXCEL_SIGNIFICANT_DIGITS = 15
EXCEL_EXACT_INTEGER_LIMIT = 10**EXCEL_SIGNIFICANT_DIGITS
# Excel's largest date serial is 9999-12-31.
MAX_EXCEL_SERIAL = 2958465

SCIENTIFIC_NOTATION = re.compile(r"^[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+$")
ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
PARTS_DATE = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2,4})$")
SERIAL_TEXT = re.compile(r"^\d{1,7}(?:\.0+)?$")
GROUPED_COMMA = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
GROUPED_DOT = re.compile(r"^\d{1,3}(?:\.\d{3})+(?:,\d+)?$")
GROUPED_DOT_ONLY = re.compile(r"^\d{1,3}(?:\.\d{3}){2,}$")
PLAIN_POINT = re.compile(r"^(?:\d+(?:\.\d*)?|\.\d+)$")
PLAIN_COMMA = re.compile(r"^\d+,\d+$")
TIMESTAMP_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d")
# A date with a time and, optionally, its zone: "2026-11-30 23:30:00+01:00",
# "2026-11-30T23:30Z", "2026-11-30 23:30 America/New_York", "2026-11-30 23:30 GMT-08:00".
TIMESTAMP = re.compile(
    r"^(?P<date>\d{4}-\d{1,2}-\d{1,2})[T ](?P<time>\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*"
    r"(?P<zone>Z|UTC|GMT|(?:UTC|GMT)?[+-]\d{2}:?\d{2}|[A-Za-z]+(?:/[A-Za-z0-9_+-]+)+)?$"
)
OFFSET = re.compile(r"^(?:UTC|GMT)?([+-])(\d{2}):?(\d{2})$")
# Dates with the month's English name: "31 Dec 2026", "31-Dec-2026", "Dec 31, 2026", "December 31 2026".
DAY_MONTH_NAME = re.compile(r"^(\d{1,2})[ \-]([A-Za-z]{3,9})\.?[ \-,]+(\d{4})$")
MONTH_NAME_DAY = re.compile(r"^([A-Za-z]{3,9})\.? (\d{1,2}),? (\d{4})$")
MONTHS = {
    name: number
    for number, names in enumerate(
        [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
         ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
         ("dec", "december")],
        start=1,
    )
    for name in names
}
EXCEL_1904_EPOCH = "1904"

DATE_FIX = "use YYYY-MM-DD or DD/MM/YYYY"
URL_VALIDATOR = URLValidator(schemes=["https", "http"])


@functools.lru_cache(maxsize=None)
def cached_currency_places(code: str) -> int:
    """Return `currency_places(code)`, computed once per code. Invalid codes raise every time."""
    return currency_places(code)


def is_blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_text(value, *, max_length: int | None = None) -> str:
    """Return the cell as stripped text; XLSX whole numbers lose their ".0"."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    elif isinstance(value, datetime.datetime):
        text = value.date().isoformat() if value.time() == datetime.time() else value.isoformat(sep=" ")
    else:
        text = str(value).strip()
    if max_length is not None and len(text) > max_length:
        raise CellError(f"longer than {max_length} characters", "shorten it")
    return text


def parse_identifier(value, *, max_length: int = 100) -> str:
    """Return an id as text, keeping leading zeros; XLSX 1001.0 becomes "1001".

    An id in scientific notation (1.23E+05) is rejected: the spreadsheet has already
    replaced its last digits with zeros, so no parser can restore it.
    """
    if isinstance(value, bool) or isinstance(value, (datetime.date, datetime.datetime)):
        raise CellError("not an identifier", "format the column as Text and type the id again")
    if isinstance(value, float) and not value.is_integer():
        raise CellError("a decimal number, not an identifier", "format the column as Text and type the id again")
    if isinstance(value, (int, float)) and abs(value) >= EXCEL_EXACT_INTEGER_LIMIT:
        raise CellError(
            "an id too long for a number cell, so the spreadsheet has already lost its last digits",
            "format the column as Text and type the ids again",
        )
    text = parse_text(value, max_length=max_length)
    if SCIENTIFIC_NOTATION.match(text):
        raise CellError(
            "an id in scientific notation, so the spreadsheet has already lost its last digits",
            "format the column as Text and type the ids again",
        )
    return text


def parse_currency(value) -> str:
    code = parse_text(value).upper()
    if not code:
        raise CellError("missing currency", "enter an ISO 4217 code such as EUR or USD")
    try:
        cached_currency_places(code)
    except CurrencyError as error:
        message = str(error)
        reason, _, fix = message.partition("; ")
        raise CellError(reason, fix or "enter an ISO 4217 code such as EUR or USD") from None
    return code


def parse_amount(value, *, places: int | None, currency: str = "") -> Decimal:
    """Parse an amount into Decimal with exactly `places` decimals, never rounding.

    Accepts currency symbols, the currency code, thousands separators (1,234.50 and
    1.234,50), a decimal comma (12,50), a leading or trailing minus and accounting
    negatives in brackets, (1,234.50). With `places` None the decimals are not checked
    (the caller checks them once the currency is known).
    """
    amount = _amount_from_cell(value, currency)
    if abs(amount) > MAX_AMOUNT:
        raise CellError("too large for an amount", f"amounts must be below {MAX_AMOUNT + Decimal('0.01')}")
    if places is not None:
        check_places(amount, places, currency)
        amount = amount.quantize(Decimal(1).scaleb(-places))
    return amount


def check_places(amount: Decimal, places: int, currency: str = "") -> None:
    exponent = amount.normalize().as_tuple().exponent
    decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if decimals > places:
        where = f"{currency} amounts have" if currency else "amounts have"
        raise CellError(
            f"{decimals} decimal places, but {where} at most {places}",
            "correct the amount in the file; amounts are never rounded on import",
        )


def _amount_from_cell(value, currency: str) -> Decimal:
    if isinstance(value, bool) or isinstance(value, (datetime.date, datetime.datetime)):
        raise CellError("not an amount", "enter a number such as 1234.50")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # A binary float such as 0.30000000000000004 (from =0.1+0.2) is read at Excel's
        # own precision, which is the value Excel displays. Decimals beyond the currency's
        # are still rejected afterwards.
        return Decimal(format(value, f".{EXCEL_SIGNIFICANT_DIGITS}g"))

    text = str(value).strip()
    # Most cells are plain numbers such as 1234.50, which the steps below leave as they are.
    if PLAIN_POINT.match(text):
        return Decimal(text)
    negative = False
    if text.startswith("(") and text.endswith(")"):
        negative = True
        text = text[1:-1].strip()
    # Drop currency symbols (Unicode category Sc: $ € £ ¥ ...), the currency code and
    # spaces, non-breaking spaces and apostrophes used as thousands separators.
    text = "".join(char for char in text if unicodedata.category(char) != "Sc")
    if currency:
        text = re.sub(rf"(?i)\b{re.escape(currency)}\b", "", text)
    text = re.sub(r"[\s\u00a0\u202f'’]", "", text)
    if text.startswith(("-", "+")):
        negative = negative or text[0] == "-"
        text = text[1:]
    elif text.endswith("-"):
        negative = True
        text = text[:-1]

    number = _normalise_separators(text)
    if number is None:
        raise CellError("not an amount", "enter a number such as 1234.50, without letters")
    try:
        amount = Decimal(number)
    except InvalidOperation:
        raise CellError("not an amount", "enter a number such as 1234.50") from None
    return -amount if negative else amount


def _normalise_separators(text: str) -> str | None:
    """Return `text` with a "." decimal point and no grouping, or None if it is not a number."""
    if PLAIN_POINT.match(text):
        return text
    if GROUPED_COMMA.match(text):
        return text.replace(",", "")
    if GROUPED_DOT.match(text) and ("," in text or GROUPED_DOT_ONLY.match(text)):
        return text.replace(".", "").replace(",", ".")
    if PLAIN_COMMA.match(text):
        return text.replace(",", ".")
    return None


def check_currency_amount(amount: Decimal, currency: str) -> Decimal:
    """Check the decimals of an amount parsed without a currency and quantize it."""
    places = cached_currency_places(currency)
    check_places(amount, places, currency)
    return amount.quantize(Decimal(1).scaleb(-places))


# Dates ------------------------------------------------------------------------------


def date_parts(value) -> tuple[int, int] | None:
    """Return (first, second) for a D/M/Y style text date, else None."""
    if not isinstance(value, str):
        return None
    match = PARTS_DATE.match(value.strip())
    if not match:
        return None
    return int(match.group(1)), int(match.group(2))


def parse_date(value, *, day_first: bool = True, month_first: bool = False, epoch: str = "1900") -> datetime.date:
    """Parse a date cell into a date.

    Accepts ISO dates, D/M/Y dates in the file's proven or chosen order, dates with the
    month's name, timestamps (their local date in the business time zone), XLSX date
    cells and Excel serial numbers in the workbook's date system (`epoch`)."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, bool):
        raise CellError("not a date", DATE_FIX)
    if isinstance(value, (int, float)):
        return _from_excel_serial(value, epoch)

    text = str(value).strip()
    match = ISO_DATE.match(text)
    if match:
        return _make_date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    if SERIAL_TEXT.match(text):
        return _from_excel_serial(float(text), epoch)
    match = PARTS_DATE.match(text)
    if match:
        first, second, year_text = int(match.group(1)), int(match.group(2)), match.group(3)
        if len(year_text) != 4:
            raise CellError("a date with a two-digit year", "write the year with four digits, as in 31/01/2026 or 2026-01-31")
        if month_first:
            return _make_date(int(year_text), first, second, fix="use YYYY-MM-DD or MM/DD/YYYY")
        if not day_first:
            raise CellError("an ambiguous date", DATE_FIX)  # pragma: no cover - the pipeline rejects these first
        return _make_date(int(year_text), second, first)
    named = _date_with_month_name(text)
    if named is not None:
        return named
    if TIMESTAMP.match(text):
        return parse_timestamp(text)
    raise CellError("not a date", DATE_FIX)


def _date_with_month_name(text: str) -> datetime.date | None:
    match = DAY_MONTH_NAME.match(text)
    if match:
        day, month_name, year = match.groups()
    else:
        match = MONTH_NAME_DAY.match(text)
        if not match:
            return None
        month_name, day, year = match.groups()
    month = MONTHS.get(month_name.lower())
    if month is None:
        raise CellError("not a date", DATE_FIX)
    return _make_date(int(year), month, int(day))


def _make_date(year: int, month: int, day: int, *, fix: str = DATE_FIX) -> datetime.date:
    try:
        return datetime.date(year, month, day)
    except ValueError:
        raise CellError("not a date", fix) from None


def _from_excel_serial(number: float, epoch: str = "1900") -> datetime.date:
    from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel

    if not 1 <= number <= MAX_EXCEL_SERIAL or not float(number).is_integer():
        raise CellError("not a date", DATE_FIX)
    calendar = CALENDAR_MAC_1904 if epoch == EXCEL_1904_EPOCH else CALENDAR_WINDOWS_1900
    return from_excel(number, epoch=calendar).date()


def parse_timestamp(value, *, epoch: str = "1900") -> datetime.date:
    """Parse a timestamp and return its date in the business time zone.

    A timestamp without a zone is in UTC (Stripe's "(UTC)" columns). An offset such as
    +01:00 or a named zone such as America/New_York is applied first.
    """
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, datetime.date):
        return value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel

        if not 1 <= value <= MAX_EXCEL_SERIAL:
            raise CellError("not a timestamp", "use YYYY-MM-DD HH:MM in UTC")
        moment = from_excel(value, epoch=CALENDAR_MAC_1904 if epoch == EXCEL_1904_EPOCH else CALENDAR_WINDOWS_1900)
    else:
        moment = _timestamp_from_text(str(value).strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(zoneinfo.ZoneInfo(settings.TIME_ZONE)).date()


def _timestamp_from_text(text: str) -> datetime.datetime:
    for pattern in TIMESTAMP_FORMATS:
        try:
            return datetime.datetime.strptime(text, pattern)
        except ValueError:
            continue
    match = TIMESTAMP.match(text)
    if not match:
        raise CellError("not a timestamp", "use YYYY-MM-DD HH:MM in UTC, or add the offset, as in 2026-11-30 18:00+01:00")
    try:
        moment = datetime.datetime.fromisoformat(f"{match.group('date')}T{match.group('time')}")
    except ValueError:
        raise CellError("not a timestamp", "use YYYY-MM-DD HH:MM") from None
    zone = match.group("zone") or "UTC"
    if zone in ("Z", "UTC", "GMT"):
        return moment.replace(tzinfo=datetime.UTC)
    offset = OFFSET.match(zone)
    if offset:
        sign, hours, minutes = offset.groups()
        delta = datetime.timedelta(hours=int(hours), minutes=int(minutes))
        return moment.replace(tzinfo=datetime.timezone(-delta if sign == "-" else delta))
    try:
        return moment.replace(tzinfo=zoneinfo.ZoneInfo(zone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CellError(f'unknown time zone "{zone}"', "use an offset such as +01:00 or an IANA name such as Europe/Paris") from None


def parse_utc_timestamp(value) -> datetime.date:
    """Parse a timestamp given in UTC (or with its zone) and return its date in the business time zone."""
    return parse_timestamp(value)


# Customer details ---------------------------------------------------------------------


def parse_choice(value, choices: dict[str, str], *, default: str) -> str:
    """Map a cell to one of `choices` (accepted spelling -> stored value), or the default when blank."""
    text = parse_text(value).lower().replace("-", "_").replace(" ", "_")
    if not text:
        return default
    if text not in choices:
        accepted = ", ".join(sorted({key for key in choices}))
        raise CellError("not an accepted value", f"use one of: {accepted}")
    return choices[text]


def parse_email(value) -> str:
    text = parse_text(value, max_length=254)  # Customer.email is an EmailField of 254 characters
    if not text:
        return ""
    try:
        validate_email(text)
    except ValidationError:
        raise CellError("not an email address", "enter one address such as accounts@example.com") from None
    return text


def parse_country(value) -> str:
    code = parse_text(value).upper()
    if not code:
        return ""
    if len(code) != 2 or code not in Locale("en").territories:
        raise CellError("not a country code", "use a two-letter ISO 3166 code such as GB or FR")
    return code


def parse_phone(value, *, region: str = "") -> str:
    """Return the phone number in E.164, read in the customer's country when it has no +prefix."""
    text = parse_text(value)
    if not text:
        return ""
    try:
        number = phonenumbers.parse(text, region or None)
    except phonenumbers.NumberParseException:
        raise CellError(
            "not a phone number",
            "write it with the country code, such as +44 20 7946 0958, or fill in the country column",
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise CellError("not a valid phone number", "check the digits and the country code")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_time_zone(value) -> str:
    text = parse_text(value)
    if not text:
        return ""
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CellError("not a time zone", "use an IANA name such as Europe/Paris, or leave it blank") from None
    return text


def parse_url(value, *, max_length: int = 500) -> str:
    """Return the link if Django's URLValidator accepts it.

    The validator's pattern is the scheme and host part followed by an optional path of
    non-space characters that starts with /, ? or #. So the scheme and host part is
    validated once per file and value (links of one payment provider share it), and the
    rest is matched against that path pattern.
    """
    text = parse_text(value, max_length=max_length)
    if not text:
        return ""
    if "@" in text:
        # A user name or password may hold / ? or #, so the split below could cut it.
        try:
            URL_VALIDATOR(text)
        except ValidationError:
            raise CellError("not a web address", "enter a full https:// link") from None
        return text
    scheme_end = text.find("://")
    path_start = URL_PATH_START.search(text, scheme_end + 3) if scheme_end >= 0 else None
    prefix, path = (text[: path_start.start()], text[path_start.start() :]) if path_start else (text, "")
    if not is_valid_url_prefix(prefix) or (path and not URL_PATH.fullmatch(path)):
        raise CellError("not a web address", "enter a full https:// link")
    return text


URL_PATH_START = re.compile(r"[/?#]")
URL_PATH = re.compile(r"[/?#]\S*")


@functools.lru_cache(maxsize=1024)
def is_valid_url_prefix(prefix: str) -> bool:
    try:
        URL_VALIDATOR(prefix)
    except ValidationError:
        return False
    return True


def parse_country_name(value) -> str:
    """Return the ISO 3166 code of a country given by code or English name, or "" when
    the name is unknown: accounting systems store the country as free text."""
    text = parse_text(value)
    if not text:
        return ""
    if len(text) == 2 and text.upper() in Locale("en").territories:
        return text.upper()
    return country_codes_by_name().get(text.casefold(), "")


@functools.cache
def country_codes_by_name() -> dict[str, str]:
    names = {name.casefold(): code for code, name in Locale("en").territories.items() if len(code) == 2}
    names.update({"uk": "GB", "united states of america": "US", "usa": "US", "england": "GB", "scotland": "GB", "wales": "GB"})
    return names


CONSENT_VALUES = {"yes": True, "y": True, "true": True, "1": True, "no": False, "n": False, "false": False, "0": False}


def parse_consent(value) -> bool | None:
    """Return True, False, or None for a blank cell (consent not asked)."""
    if isinstance(value, bool):
        return value
    text = parse_text(value).lower()
    if not text:
        return None
    if text not in CONSENT_VALUES:
        raise CellError("not a yes or no value", "use yes or no, or leave it blank when consent was not asked")
    return CONSENT_VALUES[text]


def parse_last4(value) -> str:
    text = parse_text(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        text = text.zfill(4)  # a number cell drops the leading zeros of 0042
    if not re.fullmatch(r"\d{4}", text):
        raise CellError("not the last four digits of a card", "enter four digits, such as 4242")
    return text


def parse_month(value) -> int:
    text = parse_text(value)
    if not re.fullmatch(r"\d{1,2}", text) or not 1 <= int(text) <= 12:
        raise CellError("not a month", "enter a month from 1 to 12")
    return int(text)


def parse_year(value) -> int:
    text = parse_text(value)
    if re.fullmatch(r"\d{2}", text):
        return 2000 + int(text)
    if not re.fullmatch(r"\d{4}", text) or not 2000 <= int(text) <= 2100:
        raise CellError("not a year", "enter a four-digit year such as 2028")
    return int(text)


def parse_stripe_locales(value) -> str:
    """Return the first of Stripe's preferred locales ("fr-FR, en" gives "fr-FR")."""
    text = parse_text(value).strip("[]").replace('"', "")
    first = text.split(",")[0].strip()
    if len(first) > 20:  # Customer.locale max_length
        raise CellError("not a locale", "use a language tag such as fr-FR")
    return first
