"""Request values read as Asterisk reads them: numbers, comma-separated arguments, caller ids."""

from __future__ import annotations

import re

from .errors import AriError


def parse_caller_id(text: str | None) -> dict[str, str] | None:
    """`Name <number>` or a bare number."""
    if not text:
        return None
    m = re.fullmatch(r'\s*"?([^"<]*?)"?\s*<([^>]*)>\s*', text)
    if m:
        return {"name": m.group(1).strip(), "number": m.group(2).strip()}
    return {"name": "", "number": text.strip()}


def number_param(text: str | None, default: float) -> float:
    if text is None or text == "":
        return default
    try:
        return float(text)
    except ValueError:
        raise AriError.message(400, f"Invalid number: {text}") from None


def split_args(text: str) -> list[str]:
    return [a for a in text.split(",")] if text else []
