"""Reading request bodies strictly: a JSON object validated by a pydantic model, or a form.

Every problem with a field becomes one entry of ``details.fields``: ``{"field": {"code", "message"}}``.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from ..domain.phone import PhoneError
from ..errors import ValidationFailed
from .errors import BodyTooLarge, MalformedJson, UnsupportedMediaType

M = TypeVar("M", bound=BaseModel)

_MESSAGES = {
    "missing": "this field is required",
    "extra_forbidden": "unknown field",
}


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
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise MalformedJson(f"the body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValidationFailed(
            "the body must be a JSON object",
            fields={"body": {"code": "object_type", "message": "the body must be a JSON object"}},
        )
    return value


def field_errors(exc: ValidationError) -> dict[str, dict[str, str]]:
    fields: dict[str, dict[str, str]] = {}
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "body"
        code, message = err["type"], err["msg"]
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, PhoneError):
            code, message = cause.code, cause.message
        elif code == "value_error" and isinstance(cause, ValueError):
            code, message = getattr(cause, "code", "invalid"), str(cause)
        else:
            message = _MESSAGES.get(code, message)
        fields.setdefault(name, {"code": code, "message": message})
    return fields


def validate(model: type[M], data: dict[str, Any], context: dict[str, Any] | None = None) -> M:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        fields = field_errors(exc)
        raise ValidationFailed(f"invalid fields: {', '.join(sorted(fields))}", fields=fields) from None


async def read_model(request: web.Request, model: type[M], context: dict[str, Any] | None = None) -> M:
    return validate(model, await read_json_object(request), context)
