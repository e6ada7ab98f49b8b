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


def parse_date(value, *, day_first: bool) -> datetime.date:
    """Parse an ISO date, a DD/MM/YYYY date (when the file proved day-first order), an
    XLSX date cell or an Excel serial number."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, bool):
        raise CellError("not a date", DATE_FIX)
    if isinstance(value, (int, float)):
        return _from_excel_serial(value)

    text = str(value).strip()
    match = ISO_DATE.match(text)
    if match:
        return _make_date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    if SERIAL_TEXT.match(text):
        return _from_excel_serial(float(text))
    match = PARTS_DATE.match(text)
    if match:
        first, second, year_text = int(match.group(1)), int(match.group(2)), match.group(3)
        if len(year_text) != 4:
            raise CellError("a date with a two-digit year", "write the year with four digits, as in 31/01/2026 or 2026-01-31")
        if not day_first:
            raise CellError("an ambiguous date", DATE_FIX)  # pragma: no cover - the pipeline rejects these first
        return _make_date(int(year_text), second, first)
    raise CellError("not a date", DATE_FIX)


def _make_date(year: int, month: int, day: int) -> datetime.date:
    try:
        return datetime.date(year, month, day)
    except ValueError:
        raise CellError("not a date", DATE_FIX) from None


def _from_excel_serial(number: float) -> datetime.date:
    from openpyxl.utils.datetime import from_excel

    if not 1 <= number <= MAX_EXCEL_SERIAL or not float(number).is_integer():
        raise CellError("not a date", DATE_FIX)
    return from_excel(number).date()


def parse_utc_timestamp(value) -> datetime.date:
    """Parse a timestamp given in UTC and return its date in the business time zone."""
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, datetime.date):
        return value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        from openpyxl.utils.datetime import from_excel

        if not 1 <= value <= MAX_EXCEL_SERIAL:
            raise CellError("not a timestamp", "use YYYY-MM-DD HH:MM in UTC")
        moment = from_excel(value)
    else:
        text = str(value).strip()
        for pattern in TIMESTAMP_FORMATS:
            try:
                moment = datetime.datetime.strptime(text, pattern)
                break
            except ValueError:
                continue
        else:
            raise CellError("not a timestamp", "use YYYY-MM-DD HH:MM in UTC, as Stripe exports it")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(zoneinfo.ZoneInfo(settings.TIME_ZONE)).date()


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
    text = parse_text(value, max_length=max_length)
    if not text:
        return ""
    try:
        URL_VALIDATOR(text)
    except ValidationError:
        raise CellError("not a web address", "enter a full https:// link") from None
    return text
