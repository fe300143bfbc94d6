"""Phone numbers: what a lead may type, what we store, what we dial, where the lead is."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType as T

from ari_app.domain.phone import (
    PhoneError,
    dial_digits,
    normalise_phone,
    region_of,
    subdivision_of,
    timezones_of,
)
from ari_app.errors import ValidationFailed

US = {"default_region": "US", "allowed_regions": ["US"]}
E164 = re.compile(r"\+[1-9][0-9]{1,14}")


def example(region: str, kind: int) -> str:
    number = phonenumbers.example_number_for_type(region, kind)
    assert number is not None, (region, kind)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def national(e164: str) -> str:
    return phonenumbers.format_number(phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.NATIONAL)


def code_of(raw: str, **kw: object) -> str:
    args = {**US, **kw}
    with pytest.raises(PhoneError) as info:
        normalise_phone(raw, **args)  # type: ignore[arg-type]
    return info.value.code


US_FIXED = example("US", T.FIXED_LINE)  # +12015550123, New Jersey


@pytest.mark.parametrize("kind", [T.FIXED_LINE, T.MOBILE, T.FIXED_LINE_OR_MOBILE])
def test_us_example_numbers_are_accepted_in_every_usual_spelling(kind: int) -> None:
    e164 = example("US", kind)
    digits = e164[2:]
    spellings = [
        e164,
        national(e164),
        f"1 {digits[:3]} {digits[3:6]} {digits[6:]}",
        f"({digits[:3]}) {digits[3:6]}-{digits[6:]}",
        f"{digits[:3]}.{digits[3:6]}.{digits[6:]}",
        f"  +1 {digits}  ",
    ]
    for raw in spellings:
        assert normalise_phone(raw, **US) == e164, raw


@pytest.mark.parametrize(
    ("region", "kind"),
    [("GB", T.MOBILE), ("GB", T.FIXED_LINE), ("FR", T.VOIP), ("DE", T.MOBILE), ("CA", T.FIXED_LINE)],
)
def test_other_regions_are_accepted_when_allowed(region: str, kind: int) -> None:
    e164 = example(region, kind)
    assert normalise_phone(national(e164), default_region=region, allowed_regions=[region.lower()]) == e164


@pytest.mark.parametrize(
    "raw",
    [
        "1234&Local/evil",
        "+1 (555) 010-0000,,1",
        f"{US_FIXED}\n",
        f"{US_FIXED}\nChannel: Local/evil",
        f"{US_FIXED}/1",
        f"{US_FIXED},1",
        f"{US_FIXED};x",
        f"{US_FIXED}#",
        f"{US_FIXED}*",
        f"{US_FIXED} x12",
        f"{US_FIXED} ext. 12",
        "1-800-FLOWERS",
        "PJSIP/admin",
        "\t" + US_FIXED,
        US_FIXED[:5] + "+" + US_FIXED[5:],
        f"({US_FIXED})",
    ],
)
def test_injection_and_decorated_strings_are_refused(raw: str) -> None:
    assert code_of(raw) == "invalid_chars"


@pytest.mark.parametrize(
    "raw",
    [
        "٢٠١٥٥٥٠١٢٣",  # Arabic-Indic: phonenumbers would accept these
        "۲۰۱۵۵۵۰۱۲۳",  # Extended Arabic-Indic
        "२०१५५५०१२३",  # Devanagari
        "２０１５５５０１２３",  # fullwidth
        "+1 201 555 012３",
        "＋12015550123",
        "+1 201 555 0123\u200b",  # zero-width space
        "+1\u00a0201 555 0123",  # no-break space
    ],
)
def test_non_ascii_digits_and_characters_are_refused_before_parsing(raw: str) -> None:
    assert code_of(raw) == "non_ascii"


@given(st.text(alphabet=st.characters(categories=["Nd"]), min_size=1, max_size=20))
def test_any_decimal_digit_string_normalises_only_to_ascii_or_is_refused(raw: str) -> None:
    try:
        e164 = normalise_phone(raw, **US)
    except PhoneError as err:
        assert err.code in {"non_ascii", "invalid", "short_code", "too_long", "not_dialable", "premium_rate"}
        if not raw.isascii():
            assert err.code == "non_ascii"
    else:
        assert raw.isascii()
        assert E164.fullmatch(e164)


@given(st.text(max_size=30))
def test_whatever_comes_in_only_e164_comes_out(raw: str) -> None:
    try:
        e164 = normalise_phone(raw, default_region="US", allowed_regions=["US", "CA", "GB"])
    except PhoneError:
        return
    assert E164.fullmatch(e164)
    assert dial_digits(e164) == e164
    assert normalise_phone(e164, default_region="GB", allowed_regions=["US", "CA", "GB"]) == e164


@pytest.mark.parametrize("raw", ["", " ", "   ", "\n"])
def test_empty_input_is_refused_as_empty(raw: str) -> None:
    assert code_of(raw) == "empty"


def test_overlong_input_is_refused() -> None:
    assert code_of("1" * 41) == "too_long"
    assert code_of("+1 201 555 0123 4567 8901") == "too_long"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("()", "invalid"),
        ("+", "invalid"),
        ("+1 555 010 0000", "invalid"),  # 555 is not an area code
        ("+15550100", "invalid"),  # the settings' default caller id is not a valid number either
        ("+999 1234567", "invalid"),
        ("123456", "invalid"),
    ],
)
def test_invalid_numbers_are_refused(raw: str, code: str) -> None:
    assert code_of(raw) == code


def test_fictional_555_01xx_lines_are_valid_to_phonenumbers() -> None:
    # 555-0100..0199 are reserved for fiction in NANP, yet valid to phonenumbers: fine for the demo.
    assert normalise_phone("+1 212 555 0100", **US) == "+12125550100"


def test_premium_rate_is_refused() -> None:
    assert example("US", T.PREMIUM_RATE).startswith("+1900")
    assert code_of(example("US", T.PREMIUM_RATE)) == "premium_rate"
    assert code_of("+1 900 555 0100") == "premium_rate"
    gb = example("GB", T.PREMIUM_RATE)
    assert code_of(gb, default_region="GB", allowed_regions=["GB"]) == "premium_rate"


def test_shared_cost_is_refused() -> None:
    fr = example("FR", T.SHARED_COST)
    assert code_of(fr, default_region="FR", allowed_regions=["FR"]) == "shared_cost"


def test_uan_is_refused_as_a_short_code() -> None:
    gb = example("GB", T.UAN)
    assert code_of(gb, default_region="GB", allowed_regions=["GB"]) == "short_code"


@pytest.mark.parametrize(
    ("region", "kind"),
    [
        ("US", T.TOLL_FREE),
        ("US", T.PERSONAL_NUMBER),
        ("GB", T.PAGER),
        ("DE", T.VOICEMAIL),
        ("GB", T.TOLL_FREE),
    ],
)
def test_numbers_that_are_not_a_persons_phone_are_refused(region: str, kind: int) -> None:
    assert code_of(example(region, kind), default_region=region, allowed_regions=[region]) == "not_dialable"


@pytest.mark.parametrize(("raw", "region"), [("911", "US"), ("611", "US"), ("112", "GB"), ("999", "GB")])
def test_short_codes_are_refused(raw: str, region: str) -> None:
    assert code_of(raw, default_region=region, allowed_regions=[region]) == "short_code"


@pytest.mark.parametrize("region", ["JM", "BS", "CA", "PR"])
def test_other_plus_one_regions_are_refused_when_only_us_is_allowed(region: str) -> None:
    number = example(region, T.FIXED_LINE)
    assert number.startswith("+1")
    assert code_of(number) == "region_not_allowed"


def test_jamaica_876_is_refused_when_only_us_is_allowed() -> None:
    assert code_of("+1 876 523 0123") == "region_not_allowed"
    assert (
        normalise_phone("+1 876 523 0123", default_region="US", allowed_regions=["US", "JM"])
        == "+18765230123"
    )


def test_another_country_is_refused() -> None:
    assert code_of(example("GB", T.MOBILE)) == "region_not_allowed"


def test_phone_error_is_a_value_error_and_a_422_with_a_stable_code() -> None:
    with pytest.raises(PhoneError) as info:
        normalise_phone("1234&Local/evil", **US)
    err = info.value
    assert isinstance(err, ValueError)
    assert isinstance(err, ValidationFailed)
    assert err.http_status == 422
    assert err.to_json()["details"] == {"code": "invalid_chars"}
    assert "&" not in str(err)


@pytest.mark.parametrize(
    "bad",
    [
        "12015550123",
        "+1 2015550123",
        "+12015550123\n",
        "+1201555012３",
        "+1201555,0123",
        "+0123",
        "+",
        "",
        "+1234567890123456",
    ],
)
def test_dial_digits_lets_only_plus_and_ascii_digits_through(bad: str) -> None:
    with pytest.raises(PhoneError):
        dial_digits(bad)


def test_dial_digits_returns_e164_unchanged() -> None:
    assert dial_digits(US_FIXED) == US_FIXED


@pytest.mark.parametrize(
    ("e164", "region"),
    [(US_FIXED, "US"), ("+18765230123", "JM"), (example("BS", T.FIXED_LINE), "BS"), ("+14162345678", "CA")],
)
def test_region_of_is_the_region_not_the_calling_code(e164: str, region: str) -> None:
    assert region_of(e164) == region


@pytest.mark.parametrize(
    ("e164", "zones"),
    [
        (US_FIXED, ("America/New_York",)),
        ("+12132345678", ("America/Los_Angeles",)),
        ("+19285550100", ("America/Phoenix",)),
        ("+19072345678", ("America/Adak", "America/Anchorage")),  # Alaska's one area code spans two zones
        (example("JM", T.MOBILE), ("America/Jamaica",)),  # not every zone of +1
        (example("BS", T.MOBILE), ("America/Nassau",)),
        (example("FR", T.VOIP), ("Europe/Paris",)),
    ],
)
def test_timezones_of(e164: str, zones: tuple[str, ...]) -> None:
    assert timezones_of(e164) == zones


def test_a_non_geographic_canadian_number_gets_canadas_zones_only() -> None:
    zones = timezones_of(example("CA", T.VOIP))
    assert "America/Toronto" in zones and "America/Vancouver" in zones
    assert not {"Pacific/Guam", "America/Jamaica", "America/New_York"} & set(zones)


EXAMPLES = [
    example(region, kind)
    for region in ("US", "CA", "GB", "FR", "DE", "JM", "BS", "AU", "IN")
    for kind in (T.FIXED_LINE, T.MOBILE, T.VOIP)
    if phonenumbers.example_number_for_type(region, kind) is not None
]


@pytest.mark.parametrize("e164", EXAMPLES)
def test_timezones_are_never_empty_and_real(e164: str) -> None:
    zones = timezones_of(e164)
    assert zones
    assert "Etc/Unknown" not in zones
    assert len(zones) < 10


@pytest.mark.parametrize(
    ("e164", "subdivision"),
    [
        ("+13052345678", "US-FL"),  # "Miami, FL"
        ("+18502345678", "US-FL"),  # "Florida"
        (US_FIXED, "US-NJ"),
        ("+12125550100", "US-NY"),
        ("+12025550123", "US-DC"),
        ("+19285550100", "US-AZ"),
        ("+14162345678", "CA-ON"),
        ("+16042345678", "CA-BC"),
        ("+18765230123", None),
        (example("GB", T.FIXED_LINE), None),
    ],
)
def test_subdivision_of(e164: str, subdivision: str | None) -> None:
    assert subdivision_of(e164) == subdivision
