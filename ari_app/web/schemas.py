"""What the JSON API accepts: strict types, no unknown fields, text cleaned of control characters.

Text is stored as plain text and escaped where it is shown; we never strip or rewrite HTML here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo

from ..domain.phone import normalise_phone
from ..domain.text import clean_line, clean_text

NAME_MAX = 100
REASON_MAX = 1000
NOTE_MAX = 1000
URL_MAX = 2000
CONSENT_TEXT_MAX = 2000


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


Name = Annotated[str, Field(max_length=NAME_MAX), AfterValidator(_required_line)]
Reason = Annotated[str, Field(max_length=REASON_MAX), AfterValidator(_required_text)]
Phone = Annotated[str, Field(max_length=64), AfterValidator(_phone)]


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
