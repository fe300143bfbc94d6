"""Reading request bodies strictly: a JSON object validated by a pydantic model, or a form.

Every problem with a field becomes one entry of ``details.fields``: ``{"field": {"code", "message"}}``.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from ..domain.phone import PhoneError
from ..domain.validation import error_message
from ..errors import ValidationFailed
from .errors import BodyTooLarge, MalformedJson, UnsupportedMediaType

M = TypeVar("M", bound=BaseModel)


async def read_body(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BodyTooLarge("the request body is too large") from None


async def read_json_object(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json" and not request.content_type.endswith("+json"):
        raise UnsupportedMediaType("send the body as application/json")
    raw = await read_body(request)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise MalformedJson(f"the body is not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    except UnicodeDecodeError:
        raise MalformedJson("the body is not valid JSON (it is not UTF-8 text)") from None
    except RecursionError:
        raise MalformedJson("the body is not valid JSON (nested too deeply)") from None
    if not isinstance(value, dict):
        raise ValidationFailed(
            "the body must be a JSON object",
            fields={"body": {"code": "object_type", "message": "the body must be a JSON object"}},
        )
    return value


def field_errors(exc: ValidationError) -> dict[str, dict[str, str]]:
    """One ``{"code", "message"}`` per field: pydantic's error type as the code (our phone codes for a
    number), our words as the message (``validation.error_message``)."""
    fields: dict[str, dict[str, str]] = {}
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "body"
        code = err["type"]
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, PhoneError):
            code = cause.code
        elif code == "value_error" and isinstance(cause, ValueError):
            code = getattr(cause, "code", "invalid")
        fields.setdefault(name, {"code": code, "message": error_message(err)})
    return fields


def validate(model: type[M], data: dict[str, Any], context: dict[str, Any] | None = None) -> M:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        fields = field_errors(exc)
        raise ValidationFailed(f"invalid fields: {', '.join(sorted(fields))}", fields=fields) from None


async def read_model(request: web.Request, model: type[M], context: dict[str, Any] | None = None) -> M:
    return validate(model, await read_json_object(request), context)
