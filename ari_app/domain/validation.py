"""Our words for pydantic's validation errors, in one table.

The API (``web/body.py``: one message per field) and the settings (``settings.py``: a message that names the
key) both say what is wrong with a value through ``error_message``. Pydantic's own texts ("Input should be
True", "Extra inputs are not permitted") never reach a person; its error *types* stay the stable codes the
API answers in ``details.fields.*.code``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic_core import ErrorDetails

# Error type → message; ``{name}`` is filled from the error's context. ``{object}`` and ``{field}`` are what
# a nested value and a name are called where they were written: "a JSON object" and "field" in the API,
# "a table" and "key" in TOML.
MESSAGES: Mapping[str, str] = {
    "missing": "this {field} is required",
    "extra_forbidden": "unknown {field}",
    "string_type": "must be text",
    "string_too_short": "must be at least {min_length} characters long",
    "string_too_long": "must be at most {max_length} characters long",
    "string_pattern_mismatch": "has the wrong format",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "greater_than": "must be more than {gt}",
    "greater_than_equal": "must be {ge} or more",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be {le} or less",
    "literal_error": "must be {expected}",
    "enum": "must be {expected}",
    "list_type": "must be a list",
    "too_short": "must have at least {min_length} items",
    "too_long": "must have at most {max_length} items",
    "dict_type": "must be {object}",
    "model_type": "must be {object}",
    "model_attributes_type": "must be {object}",
    "time_type": "must be a time such as 08:30",
    "time_parsing": "must be a time such as 08:30",
    "date_type": "must be a date such as 2026-12-24",
    "date_parsing": "must be a date such as 2026-12-24",
    "date_from_datetime_parsing": "must be a date such as 2026-12-24",
    "url_parsing": "must be a URL",
    "url_type": "must be a URL",
    "none_required": "must be empty",
    "json_invalid": "is not valid JSON",
}
FALLBACK = "is not valid"


def _expected(raw: object) -> str:
    """pydantic writes Python literals (``True``, ``'x' or 'y'``); people reading JSON or TOML expect
    ``true`` and double quotes."""
    text = str(raw)
    return text.replace("True", "true").replace("False", "false").replace("'", '"')


def error_message(
    error: ErrorDetails, *, object_word: str = "a JSON object", field_word: str = "field"
) -> str:
    """Our message for one pydantic error. A ``ValueError`` raised by our own validators speaks for itself."""
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    kind = error["type"]
    if kind == "value_error":
        cause = ctx.get("error")
        message = getattr(cause, "message", None) or (str(cause) if cause is not None else "")
        return message or FALLBACK
    template = MESSAGES.get(kind)
    if template is None:
        return FALLBACK
    values = {key: str(value) for key, value in ctx.items()}
    values["expected"] = _expected(ctx.get("expected", ""))
    values["object"], values["field"] = object_word, field_word
    try:
        return template.format(**values)
    except (KeyError, IndexError):  # a pydantic release that renamed a context key: still our words
        return FALLBACK
