"""Money rules: two decimal places, whole numbers for zero-decimal currencies, and a clear
refusal for three-decimal currencies, which this product does not support yet."""

from decimal import Decimal

from babel.numbers import UnknownCurrencyError, get_currency_precision, list_currencies


class CurrencyError(ValueError):
    pass


def currency_places(code: str) -> int:
    """Return how many decimal places a currency's amounts have (JPY 0, EUR 2).

    Raises CurrencyError for an unknown code and for three-decimal currencies.
    """
    normalized = (code or "").strip().upper()
    if normalized not in list_currencies():
        raise CurrencyError(f"unknown currency code {code!r}; use an ISO 4217 code such as EUR or USD")
    try:
        places = get_currency_precision(normalized)
    except UnknownCurrencyError:  # pragma: no cover - list_currencies checked it
        raise CurrencyError(f"unknown currency code {code!r}") from None
    if places > 2:
        raise CurrencyError(
            f"{normalized} has {places} decimal places, which is not supported yet; "
            "record these invoices in another currency or leave them out"
        )
    return places


def quantum(code: str) -> Decimal:
    return Decimal(1).scaleb(-currency_places(code))
