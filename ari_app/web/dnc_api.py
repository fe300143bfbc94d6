"""``/api/v1/dnc``: the internal do-not-call list over the JSON API (bearer token).

The import takes a CSV body (``text/csv``), larger than other bodies but still bounded; each bad row is
reported with its line and nothing about the good rows depends on the bad ones.
"""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import AfterValidator, Field

from ..domain.phone import PhoneError
from ..domain.text import clean_line
from ..errors import NotFound, ValidationFailed
from ..store import dnc
from .api import MAX_LIMIT
from .api import _query_int as query_int
from .auth import AUTH_NAME
from .body import read_model
from .errors import BodyTooLarge, UnsupportedMediaType
from .keys import SERVICES
from .schemas import _Strict

IMPORT_MAX_BYTES = 1024 * 1024
_CSV_TYPES = ("text/csv", "text/plain", "application/csv")


class DncIn(_Strict):
    phone: Annotated[str, Field(max_length=64, description="As typed; stored in E.164")]
    reason: Annotated[str, Field(max_length=dnc.REASON_MAX), AfterValidator(clean_line)] = ""


def _phone(raw: str, request: web.Request, field: str = "phone") -> str:
    region = request.app[SERVICES].settings.business.region
    try:
        return dnc.dnc_phone(raw, default_region=region)
    except PhoneError as exc:
        raise ValidationFailed(
            f"invalid {field}", fields={field: {"code": exc.code, "message": exc.message}}
        ) from None


def _who(request: web.Request) -> str:
    who: str = request.get(AUTH_NAME, "api")
    return who


async def list_dnc(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", 50, 1, MAX_LIMIT)
    offset = query_int(request, "offset", 0, 0, 10**9)
    async with request.app[SERVICES].sessions() as session:
        entries, total = await dnc.list_entries(session, limit=limit, offset=offset)
    return web.json_response(
        {"items": [e.to_json() for e in entries], "total": total, "limit": limit, "offset": offset}
    )


async def add_dnc(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await read_model(request, DncIn)
    phone = _phone(body.phone, request)
    async with services.sessions() as session:
        added = await dnc.add_number(
            session, phone, reason=body.reason or None, source=_who(request), now=services.clock.now()
        )
        await session.commit()
        entry = await dnc.get_entry(session, phone)
    assert entry is not None
    return web.json_response(entry.to_json(), status=201 if added else 200)


async def remove_dnc(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    phone = _phone(request.match_info["phone"], request)
    async with services.sessions() as session:
        removed = await dnc.remove_number(session, phone)
        await session.commit()
    if not removed:
        raise NotFound("this number is not on the do-not-call list", phone=phone)
    return web.Response(status=204)


async def _read_csv(request: web.Request) -> str:
    if request.content_type not in _CSV_TYPES:
        raise UnsupportedMediaType("send the file as text/csv")
    # The app-wide body limit is small (form posts); a list of numbers may be larger, but not unbounded.
    bigger = request.clone(client_max_size=IMPORT_MAX_BYTES)
    try:
        raw = await bigger.read()
    except web.HTTPRequestEntityTooLarge:
        raise BodyTooLarge(f"the file is larger than {IMPORT_MAX_BYTES} bytes") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed(
            "the file is not UTF-8 text", fields={"body": {"code": "encoding", "message": "use UTF-8"}}
        ) from None


async def import_dnc(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    text = await _read_csv(request)
    rows, errors = dnc.parse_csv(text, default_region=services.settings.business.region)
    async with services.sessions() as session:
        report = await dnc.import_rows(
            session, rows, errors, source=f"import:{_who(request)}", now=services.clock.now()
        )
        await session.commit()
    return web.json_response(report.to_json())


_ENTRY = {
    "type": "object",
    "properties": {
        "phone": {"type": "string"},
        "reason": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "source": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "created_at": {"type": "string", "format": "date-time"},
    },
    "required": ["phone", "reason", "source", "created_at"],
    "additionalProperties": False,
}
_INT = {"type": "integer"}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "DncIn": DncIn.model_json_schema(ref_template="#/components/schemas/{model}"),
    "DncEntry": _ENTRY,
    "DncList": {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/DncEntry"}},
            "total": _INT,
            "limit": _INT,
            "offset": _INT,
        },
        "required": ["items", "total", "limit", "offset"],
        "additionalProperties": False,
    },
    "DncImportReport": {
        "type": "object",
        "properties": {
            "added": _INT,
            "already": _INT,
            "error_count": _INT,
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"line": _INT, "value": {"type": "string"}, "code": {"type": "string"},
                                   "message": {"type": "string"}},
                    "required": ["line", "value", "code", "message"],
                },
            },
        },
        "required": ["added", "already", "error_count", "errors"],
        "additionalProperties": False,
    },
}  # fmt: skip
