"""What the JSON API accepts: strict types, no unknown fields, text cleaned of control characters.

Text is stored as plain text and escaped where it is shown; we never strip or rewrite HTML here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo

from ..domain.phone import normalise_phone
from ..domain.text import clean_line, clean_text

NAME_MAX = 100
REASON_MAX = 1000
NOTE_MAX = 1000
URL_MAX = 2000
CONSENT_TEXT_MAX = 2000
TIME_MAX = 64


def _required_line(text: str) -> str:
    cleaned = clean_line(text)
    if not cleaned:
        raise ValueError("this field must not be empty")
    return cleaned


def _required_text(text: str) -> str:
    cleaned = clean_text(text)
    if not cleaned:
        raise ValueError("this field must not be empty")
    return cleaned


def _phone(raw: str, info: ValidationInfo) -> str:
    ctx: dict[str, Any] = info.context or {}
    return normalise_phone(
        raw, default_region=ctx.get("region", "US"), allowed_regions=ctx.get("allowed_regions", ["US"])
    )


def _optional_line(text: str | None) -> str | None:
    return clean_line(text) or None if text is not None else None


def _optional_text(text: str | None) -> str | None:
    return clean_text(text) or None if text is not None else None


class TimeError(ValueError):
    """A time we can't read; ``code`` names the problem for the API (``details.fields``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


_TIME_FORMAT = "an ISO 8601 date and time with a UTC offset, e.g. 2026-03-10T15:00:00-04:00"


def parse_time(raw: object) -> datetime | None:
    """ISO 8601 with a UTC offset (``2026-03-10T15:00:00-04:00``, ``…Z``) → an aware UTC datetime. A time
    without an offset is refused: we would have to guess whose clock it is."""
    if raw is None or isinstance(raw, datetime):
        return raw if raw is None or raw.tzinfo is not None else _no_offset()
    if not isinstance(raw, str) or len(raw) > TIME_MAX:
        raise TimeError("not_a_time", _TIME_FORMAT)
    try:
        at = datetime.fromisoformat(raw.strip().upper())
    except ValueError:
        raise TimeError("not_a_time", _TIME_FORMAT) from None
    if at.tzinfo is None or at.utcoffset() is None:
        return _no_offset()
    try:
        return at.astimezone(UTC)
    except OverflowError:  # year 1 with a positive offset: before the first instant a datetime can hold
        raise TimeError("not_a_time", _TIME_FORMAT) from None


def _no_offset() -> datetime:
    raise TimeError("no_offset", "add the UTC offset (e.g. -04:00 or Z): whose clock is this time on?")


Name = Annotated[str, Field(max_length=NAME_MAX), AfterValidator(_required_line)]
Reason = Annotated[str, Field(max_length=REASON_MAX), AfterValidator(_required_text)]
Phone = Annotated[str, Field(max_length=64), AfterValidator(_phone)]
PreferredAt = Annotated[datetime | None, BeforeValidator(parse_time)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class CallbackRequestIn(_Strict):
    """A callback request; validate with ``context={"region": …, "allowed_regions": […]}``."""

    first_name: Name
    last_name: Name
    phone: Phone = Field(description="As typed; stored in E.164")
    reason: Reason
    consent: Literal[True] = Field(description="Must be JSON true: the person agreed to be called and texted")
    consent_text: Annotated[
        str | None, Field(max_length=CONSENT_TEXT_MAX), AfterValidator(_optional_text)
    ] = Field(default=None, description="The consent text shown to the person; default: the configured one")
    page_url: Annotated[str | None, Field(max_length=URL_MAX), AfterValidator(_optional_line)] = None
    preferred_at: PreferredAt = Field(
        default=None,
        description="When the person wants the call: ISO 8601 with a UTC offset. It must be in the future "
        "and allowed by the business calendar and the lead's quiet hours, else 422 with "
        "details.next_allowed_at. Leave out (or null) for as soon as possible.",
    )
    as_soon_as_possible: bool | None = Field(
        default=None,
        description="true (the default when preferred_at is left out): the first call at the first allowed "
        "time. Don't combine true with preferred_at.",
    )


class CloseIn(_Strict):
    action: Literal["complete", "cancel"]
    note: Annotated[str, Field(max_length=NOTE_MAX), AfterValidator(clean_text)] = ""


class LabelIn(_Strict):
    label: Literal["person", "machine"]


class FormIn(BaseModel):
    """The HTML form: strings from the browser; the checkbox is present or absent."""

    model_config = ConfigDict(extra="ignore")

    first_name: Name
    last_name: Name
    phone: Phone
    reason: Reason
    consent: Literal[True]
    page_url: Annotated[str | None, Field(max_length=URL_MAX), AfterValidator(_optional_line)] = None
    preferred_at: PreferredAt = None  # the select's value; "" (as soon as possible) is read as None
