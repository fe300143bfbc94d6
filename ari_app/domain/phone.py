"""Phone numbers: what a lead may type, what we store (E.164), what we dial, where the lead is.

Everything here is pure: phonenumbers' metadata is in-process data. The one exception is the region -> time
zones fallback, read once from the tz database's ``zone.tab`` (static reference data shipped with tzdata).
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Collection
from importlib import resources
from pathlib import Path

import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberType, geocoder, shortnumberinfo
from phonenumbers import timezone as pn_timezone
from phonenumbers.tzdata import TIMEZONE_DATA

from ..errors import ValidationFailed

# The characters a person types around a number. Everything else (letters, `&`, `/`, `,`, `;`, `#`, `*`,
# newlines, `x` extensions, pauses) is refused outright: a number ends up in a dial string, so we never try to
# "clean" a suspicious input into something dialable.
_ALLOWED_CHARS = frozenset("0123456789 +-.()")
_MAX_RAW_CHARS = 40
_MAX_E164_DIGITS = 15  # ITU-T E.164

# VOIP is allowed on purpose: in France 09 numbers are ordinary home lines from ISPs' boxes, in the UK 056 is
# used by households too, and NANP does not tell VOIP apart at all. Toll-free, UAN, personal, pager and
# voicemail numbers are not a person's phone (and can't take an SMS or be placed in a time zone).
DIALABLE_TYPES = frozenset(
    {
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
        PhoneNumberType.VOIP,
    }
)

_E164 = re.compile(r"\+[1-9][0-9]{1,14}")  # ASCII only: [0-9], not \d

PHONE_ERROR_CODES = frozenset(
    {
        "empty",
        "non_ascii",
        "invalid_chars",
        "invalid",
        "region_not_allowed",
        "premium_rate",
        "shared_cost",
        "short_code",
        "not_dialable",
        "too_long",
    }
)


class PhoneError(ValidationFailed, ValueError):
    """A number we refuse. ``code`` is stable (for the API and the form); the message is for a person.

    A ``ValueError`` so that pydantic validators turn it into a validation error; a ``ValidationFailed``
    so the web edge answers 422 without a translation table.
    """

    error_id = "invalid-phone"

    def __init__(self, code: str, message: str) -> None:
        if code not in PHONE_ERROR_CODES:
            raise AssertionError(f"unknown phone error code {code!r}")
        super().__init__(message, code=code)
        self.code = code


def _refuse_characters(raw: str) -> None:
    for index, ch in enumerate(raw):
        if ch in _ALLOWED_CHARS:
            if ch == "+" and raw[:index].strip(" "):
                raise PhoneError("invalid_chars", "A '+' may only come first in a phone number.")
            continue
        if not ch.isascii():
            # Arabic-Indic and other digits are accepted by phonenumbers; we refuse them rather than guess.
            raise PhoneError("non_ascii", "Please type the phone number with the digits 0-9 only.")
        raise PhoneError(
            "invalid_chars",
            "A phone number may contain only digits, spaces, '+', '-', '.', '(' and ')'.",
        )


def _parse(raw: str, default_region: str) -> PhoneNumber:
    try:
        return phonenumbers.parse(raw, default_region.upper())
    except phonenumbers.NumberParseException:
        raise PhoneError("invalid", "This is not a valid phone number.") from None


def normalise_phone(raw: str, *, default_region: str, allowed_regions: Collection[str]) -> str:
    """Check a typed number and return it as E.164 (``+12015550123``), or raise ``PhoneError``."""
    if not raw or not raw.strip(" \t\r\n"):
        raise PhoneError("empty", "Please enter a phone number.")
    if len(raw) > _MAX_RAW_CHARS:
        raise PhoneError("too_long", "This phone number is too long.")
    _refuse_characters(raw)
    digits = sum(ch.isdigit() for ch in raw)
    if digits == 0:
        raise PhoneError("invalid", "This is not a valid phone number.")
    if digits > _MAX_E164_DIGITS + 2:  # room for a national trunk prefix such as 0 or 1
        raise PhoneError("too_long", "This phone number is too long.")

    number = _parse(raw.strip(" "), default_region)
    if number.extension:
        raise PhoneError("invalid_chars", "Extensions are not supported.")
    if not phonenumbers.is_valid_number(number):
        # A short code only means something in the region it is dialled from: ours.
        if shortnumberinfo.is_valid_short_number_for_region(number, default_region.upper()):
            raise PhoneError("short_code", "Short codes and service numbers can't be called back.")
        raise PhoneError("invalid", "This is not a valid phone number.")

    region = phonenumbers.region_code_for_number(number)
    # The region, not the calling code: +1 is also Jamaica, the Bahamas, Canada and twenty more.
    allowed = {r.upper() for r in allowed_regions}
    if region is None or region.upper() not in allowed:
        raise PhoneError("region_not_allowed", "We can't call numbers in this country.")

    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.PREMIUM_RATE:
        raise PhoneError("premium_rate", "Premium-rate numbers can't be called back.")
    if kind == PhoneNumberType.SHARED_COST:
        raise PhoneError("shared_cost", "Shared-cost numbers can't be called back.")
    if kind == PhoneNumberType.UAN:
        raise PhoneError("short_code", "Company access numbers can't be called back.")
    if kind not in DIALABLE_TYPES:
        raise PhoneError("not_dialable", "Please give a landline or mobile number.")

    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if len(e164) - 1 > _MAX_E164_DIGITS:
        raise PhoneError("too_long", "This phone number is too long.")
    return dial_digits(e164)


def dial_digits(e164: str) -> str:
    """The only way a number enters a dial string: ``+`` and ASCII digits, nothing else, or ``PhoneError``."""
    if not isinstance(e164, str) or _E164.fullmatch(e164) is None:
        raise PhoneError("invalid", "Not an E.164 number.")
    return e164


@functools.lru_cache(maxsize=1024)
def _parse_e164(e164: str) -> PhoneNumber:
    # Cached (a stored number is asked its region, zones and subdivision one after another, ~40 us a parse);
    # the PhoneNumber is shared between callers: read it, never change it.
    dial_digits(e164)
    return _parse(e164, "ZZ")


def region_of(e164: str) -> str:
    """ISO 3166 region of a stored number, e.g. ``US`` or ``JM`` (never the calling code)."""
    region = phonenumbers.region_code_for_number(_parse_e164(e164))
    if region is None or region == "ZZ":
        raise PhoneError("invalid", "This number belongs to no region.")
    return region


def _zone_tab_lines() -> list[str]:
    for base in zoneinfo.TZPATH:
        path = Path(base) / "zone.tab"
        if path.is_file():
            return path.read_text(encoding="utf-8").splitlines()
    try:  # the PyPI tzdata package, where there is no system database
        return (
            resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8").splitlines()
        )
    except (ModuleNotFoundError, FileNotFoundError):
        return []


@functools.cache
def _zones_by_region() -> dict[str, tuple[str, ...]]:
    zones: dict[str, list[str]] = {}
    for line in _zone_tab_lines():
        if not line or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) >= 3:
            zones.setdefault(fields[0].upper(), []).append(fields[2])
    return {region: tuple(sorted(names)) for region, names in zones.items()}


def zones_of_region(region: str) -> tuple[str, ...]:
    """All tz database zones of a region (from zone.tab); empty when unknown."""
    return _zones_by_region().get(region.upper(), ())


def timezones_of(e164: str) -> tuple[str, ...]:
    """The lead's possible time zones, never empty.

    By longest number prefix (area code), whatever the number type: phonenumbers' own
    ``time_zones_for_number`` gives a mobile in Jamaica every zone of +1, from Guam to Newfoundland. When
    only the calling code matched, keep the zones of the number's region.
    """
    number = _parse_e164(e164)
    region = region_of(e164)
    found = tuple(pn_timezone.time_zones_for_geographical_number(number))
    found = tuple(z for z in found if z != pn_timezone.UNKNOWN_TIMEZONE)
    code = number.country_code or 0
    country_level = tuple(TIMEZONE_DATA.get(str(code), ()))
    shared_code = len(phonenumbers.region_codes_for_country_code(code)) > 1
    if found and (found != country_level or not shared_code):
        return found
    region_zones = zones_of_region(region)
    if region_zones:
        narrowed = tuple(z for z in found if z in region_zones)
        return narrowed or region_zones
    return found or ("UTC",)


# Area-code descriptions from phonenumbers' geocoder. NANP entries are "City, ST" (postal code) or the bare
# state/province name; regions shared by several provinces stay unknown (None).
_US_STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA", "Colorado": "CO",
    "Connecticut": "CT", "Delaware": "DE", "Florida": "FL", "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID",
    "Illinois": "IL", "Indiana": "IN", "Iowa": "IA", "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA",
    "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN",
    "Mississippi": "MS", "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV",
    "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY", "North Carolina": "NC",
    "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR", "Pennsylvania": "PA",
    "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD", "Tennessee": "TN", "Texas": "TX",
    "Utah": "UT", "Vermont": "VT", "Virginia": "VA", "Washington": "WA", "Washington State": "WA",
    "Washington D.C.": "DC", "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",
}  # fmt: skip
_CA_PROVINCES = {
    "Alberta": "AB", "British Columbia": "BC", "British Colombia": "BC", "Manitoba": "MB",
    "New Brunswick": "NB", "Newfoundland and Labrador": "NL", "Nova Scotia": "NS", "Ontario": "ON",
    "Prince Edward Island": "PE", "Quebec": "QC", "Saskatchewan": "SK", "Yukon": "YT", "Watson Lake": "YT",
    "Northwest Territories": "NT", "Nunavut": "NU",
}  # fmt: skip
_SUBDIVISIONS = {"US": _US_STATES, "CA": _CA_PROVINCES}
_POSTAL_SUFFIX = re.compile(r", ([A-Z]{2})$")


def subdivision_of(e164: str) -> str | None:
    """ISO 3166-2 style subdivision (``US-FL``, ``CA-ON``) from the area code, for US and Canadian numbers.

    From phonenumbers' geocoder rather than our own area-code table: it is maintained with every release (new
    overlays appear each year), and the area code is what state calling rules presume anyway (a ported mobile
    keeps its original area code, so this is where the number is from, not where the person is).
    """
    region = region_of(e164)
    names = _SUBDIVISIONS.get(region)
    if names is None:
        return None
    description = geocoder.description_for_valid_number(_parse_e164(e164), "en")
    match = _POSTAL_SUFFIX.search(description)
    if match and match.group(1) in names.values():
        return f"{region}-{match.group(1)}"
    code = names.get(description.strip())
    return f"{region}-{code}" if code else None
