"""The customer's effective time zone: their own, else one inferred from the phone number
or the country when it is unambiguous, else the business zone (settings.TIME_ZONE).

"Unambiguous" means every candidate zone keeps the same UTC offsets through the year,
so Germany (Berlin, Busingen) resolves while Spain (Madrid, Canary) and the US do not.
"""

import datetime
import functools
import zoneinfo

import phonenumbers
from babel.core import get_global
from django.conf import settings
from phonenumbers import timezone as phone_timezone

PHONE_UNKNOWN_ZONE = "Etc/Unknown"


@functools.lru_cache(maxsize=1024)
def is_valid_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def zones_for_phone(phone: str) -> list[str]:
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return []
    return [zone for zone in phone_timezone.time_zones_for_number(number) if zone != PHONE_UNKNOWN_ZONE]


def zones_for_country(country: str) -> list[str]:
    return list(get_global("territory_zones").get((country or "").strip().upper(), []))


def _offsets_through_year(zone_name: str, year: int) -> tuple:
    zone = zoneinfo.ZoneInfo(zone_name)
    return tuple(
        datetime.datetime(year, month, 15, 12, tzinfo=datetime.UTC).astimezone(zone).utcoffset()
        for month in (1, 4, 7, 10)
    )


def single_zone(candidates: list[str]) -> str | None:
    """Return the first candidate if all of them keep the same clock, else None."""
    valid = [zone for zone in candidates if is_valid_zone(zone)]
    if not valid:
        return None
    year = datetime.date.today().year
    reference = _offsets_through_year(valid[0], year)
    if all(_offsets_through_year(zone, year) == reference for zone in valid[1:]):
        return valid[0]
    return None


def effective_time_zone(*, time_zone: str = "", phone: str = "", country: str = "") -> str:
    if time_zone and is_valid_zone(time_zone):
        return time_zone
    for candidates in (zones_for_phone(phone) if phone else [], zones_for_country(country)):
        zone = single_zone(candidates)
        if zone:
            return zone
    return settings.TIME_ZONE
