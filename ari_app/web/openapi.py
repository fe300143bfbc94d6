"""The OpenAPI 3.1 document of the JSON API: request bodies from the pydantic models, answers by hand.

Keep it in step with ``api.py``, ``intake.py`` and ``api_reads.py``: it is checked by property tests.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..domain.statuses import RequestStatus
from . import dnc_api
from .keys import SERVICES
from .schemas import CallbackRequestIn, CloseIn, LabelIn


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


_STR = {"type": "string"}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_TIME = {"type": "string", "format": "date-time"}
_N_STR, _N_INT, _N_TIME = _nullable(_STR), _nullable(_INT), _nullable(_TIME)
_N_NUM = _nullable({"type": "number"})


def _obj(props: dict[str, Any], *, extra: bool = False) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": sorted(props), "additionalProperties": extra}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_REQUEST = {
    "id": _INT,
    "contact_id": _INT,
    "status": {"type": "string", "enum": list(RequestStatus)},
    "reason": _STR,
    "source": _STR,
    "page_url": _N_STR,
    "created_at": _TIME,
    "closed_at": _N_TIME,
    "close_reason": _N_STR,
    "lead_attempts_used": _INT,
    "preferred_at": _N_TIME,  # the time the lead chose; null: as soon as possible
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "properties": {"error": _STR, "message": _STR, "details": {"type": "object"}},
        "required": ["error", "message"],
    },
    "CallbackRequestIn": CallbackRequestIn.model_json_schema(ref_template="#/components/schemas/{model}"),
    "CloseIn": CloseIn.model_json_schema(ref_template="#/components/schemas/{model}"),
    "LabelIn": LabelIn.model_json_schema(ref_template="#/components/schemas/{model}"),
    "IntakeResult": _obj(
        {"id": _INT, "contact_id": _INT, "status": _STR, "planned_at": _N_TIME, "merged": _BOOL}
    ),
    "Leg": _obj(
        {
            "role": _STR,
            "channel_id": _STR,
            "endpoint": _STR,
            "state": _STR,
            "dial_status": _N_STR,
            "cause": _N_INT,
            "cause_txt": _N_STR,
            "amd_status": _N_STR,
            "amd_cause": _N_STR,
            "amd_seconds": _N_NUM,
            "greeting_end_seconds": _N_NUM,
            "drop_early": _nullable(_BOOL),
            "answered_at": _N_TIME,
            "bridged_at": _N_TIME,
            "ended_at": _N_TIME,
        }
    ),
    "Attempt": _obj(
        {
            "id": _INT,
            "request_id": _INT,
            "number": _INT,
            "lead_attempt": _INT,
            "final": _BOOL,
            "kind": _STR,
            "status": _STR,
            "due_at": _TIME,
            "started_at": _N_TIME,
            "ended_at": _N_TIME,
            "outcome": _N_STR,
            "outcome_detail": _N_STR,
            "talk_seconds": _nullable({"type": "number"}),
            "admin_name": _N_STR,
            "evidence": {"type": "object"},
            "lead_label": _nullable({"type": "string", "enum": ["person", "machine"]}),
            "lead_label_by": _N_STR,
            "lead_label_at": _N_TIME,
            "legs": {"type": "array", "items": _ref("Leg")},
        }
    ),
    "CallbackRequest": _obj(_REQUEST),
    "CallbackRequestListItem": _obj(
        {**_REQUEST, "first_name": _STR, "last_name": _STR, "phone": _STR, "next_attempt_at": _N_TIME}
    ),
    "CallbackRequestList": _obj(
        {
            "items": {"type": "array", "items": _ref("CallbackRequestListItem")},
            "total": _INT,
            "limit": _INT,
            "offset": _INT,
        }
    ),
    "CallbackRequestDetail": _obj(
        {
            **_REQUEST,
            "contact": _obj(
                {"id": _INT, "phone": _STR, "first_name": _STR, "last_name": _STR, "pipeline_stage": _N_STR}
            ),
            "next_attempt_at": _N_TIME,
            "attempts": {"type": "array", "items": _ref("Attempt")},
        }
    ),
    "Contact": _obj(
        {
            "id": _INT,
            "phone": _STR,
            "first_name": _STR,
            "last_name": _STR,
            "tags": {"type": "array", "items": _STR},
            "pipeline_stage": _N_STR,
            "sms_opted_out": _BOOL,
            "number_invalid": _BOOL,
            "notes": {
                "type": "array",
                "items": _obj({"kind": _STR, "text": _STR, "request_id": _N_INT, "created_at": _TIME}),
            },
            "requests": {"type": "array", "items": _ref("CallbackRequest")},
            "attempts": {"type": "array", "items": _ref("Attempt")},
            "sms": {
                "type": "array",
                "items": _obj(
                    {
                        "id": _INT,
                        "kind": _STR,
                        "body": _STR,
                        "status": _STR,
                        "error": _N_STR,
                        "tries": _INT,
                        "created_at": _TIME,
                        "sent_at": _N_TIME,
                        "delivered_at": _N_TIME,
                    }
                ),
            },
            "consents": {
                "type": "array",
                "items": _obj(
                    {
                        "id": _INT,
                        "request_id": _INT,
                        "text": _STR,
                        "ip": _N_STR,
                        "user_agent": _N_STR,
                        "page_url": _N_STR,
                        "source": _STR,
                        "given_at": _TIME,
                    }
                ),
            },
            "events": {
                "type": "array",
                "items": _obj({"id": _INT, "type": _STR, "data": {"type": "object"}, "created_at": _TIME}),
            },
        }
    ),
    "Share": _obj({"count": _INT, "base": _INT, "percent": _N_NUM}),
    "AmdRouteAccuracy": _obj(
        {
            "route": _STR,
            "answered": _INT,
            "labelled": _INT,
            "people": _INT,
            "machines": _INT,
            "correct": _ref("Share"),
            "person_as_machine": _ref("Share"),
            "machine_as_person": _ref("Share"),
            "decide_median": _N_NUM,
            "decide_p90": _N_NUM,
            "decided": _INT,
            "drops": _INT,
            "drops_early": _ref("Share"),
        }
    ),
    "AmdReport": _obj(
        {
            "from": {"type": "string", "format": "date"},
            "to": {"type": "string", "format": "date"},
            "min_labels": _INT,
            "routes": {"type": "array", "items": _ref("AmdRouteAccuracy")},
            "total": {"anyOf": [_ref("AmdRouteAccuracy"), {"type": "null"}]},
        }
    ),
    "Health": {
        "type": "object",
        "properties": {"status": _STR, "checks": {"type": "object", "additionalProperties": _BOOL}},
        "required": ["status"],
    },
}


SCHEMAS.update(dnc_api.OPENAPI_SCHEMAS)


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _errors(*statuses: int) -> dict[str, Any]:
    reasons = {
        400: "malformed JSON",
        401: "no or invalid bearer token",
        404: "not found",
        409: "conflict (state or Idempotency-Key)",
        413: "body too large",
        415: "body is not application/json",
        422: "invalid fields; details.fields names each (a refused preferred_at: details.next_allowed_at)",
        429: "rate limited; see Retry-After",
    }
    return {str(s): _json("Error", reasons[s]) for s in (401, *statuses)}


_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
_BODY_ERRORS = (400, 413, 415, 422)


def _operation(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": responses, **extra}


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}


def build_openapi(server_url: str = "") -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/api/v1/callback-requests": {
            "post": _operation(
                "Request a callback",
                {
                    "201": _json("IntakeResult", "created; the first call is planned"),
                    "200": _json("IntakeResult", "merged into the open request of this number"),
                    **_errors(*_BODY_ERRORS, 409, 429),
                },
                requestBody=_body("CallbackRequestIn"),
                parameters=[
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                    }
                ],
            ),
            "get": _operation(
                "List callback requests, newest first",
                {"200": _json("CallbackRequestList", "a page of requests"), **_errors(422)},
                parameters=[
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": list(RequestStatus)},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                    },
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                ],
            ),
        },
        "/api/v1/callback-requests/{id}": {
            "get": _operation(
                "One callback request with its attempts",
                {"200": _json("CallbackRequestDetail", "the request"), **_errors(404)},
                parameters=[_ID],
            )
        },
        "/api/v1/callback-requests/{id}/close": {
            "post": _operation(
                "Close a request by hand: complete or cancel",
                {"200": _json("CallbackRequestDetail", "closed"), **_errors(*_BODY_ERRORS, 404, 409)},
                parameters=[_ID],
                requestBody=_body("CloseIn"),
            )
        },
        "/api/v1/contacts/{id}": {
            "get": _operation(
                "A contact's timeline",
                {"200": _json("Contact", "the contact"), **_errors(404)},
                parameters=[_ID],
            )
        },
        "/api/v1/contacts/{id}/opt-out": {
            "post": _operation(
                "Opt a contact out of SMS (and cancel open callbacks unless configured otherwise)",
                {"200": _json("Contact", "opted out"), **_errors(404)},
                parameters=[_ID],
            )
        },
        "/api/v1/attempts/{id}/label": {
            "post": _operation(
                "Say what answered a finished attempt: a person or a machine (replaces an earlier label)",
                {
                    "200": _json("Attempt", "labelled"),
                    **_errors(*_BODY_ERRORS, 404, 409),
                },
                parameters=[_ID],
                requestBody=_body("LabelIn"),
            )
        },
        "/api/v1/reports/amd": {
            "get": _operation(
                "How often AMD was right, from the admins' labels, per carrier route; no percent on fewer"
                " than min_labels",
                {"200": _json("AmdReport", "the report"), **_errors(422)},
                parameters=[
                    {
                        "name": name,
                        "in": "query",
                        "description": "a day (business time zone), included; default: the last 30 days",
                        "schema": {"type": "string", "format": "date"},
                    }
                    for name in ("from", "to")
                ],
            )
        },
        "/api/v1/contacts.csv": {
            "get": _operation(
                "Every contact as CSV; cells that a spreadsheet would run as a formula start with '",
                {
                    "200": {
                        "description": "CSV with a header line",
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    },
                    **_errors(),
                },
            )
        },
        "/api/v1/dnc": {
            "get": _operation(
                "The do-not-call list, newest first",
                {"200": _json("DncList", "a page of entries"), **_errors(422)},
                parameters=[
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                    },
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                ],
            ),
            "post": _operation(
                "Put a number on the do-not-call list (checked before every call and SMS)",
                {
                    "201": _json("DncEntry", "listed"),
                    "200": _json("DncEntry", "was listed already"),
                    **_errors(*_BODY_ERRORS),
                },
                requestBody=_body("DncIn"),
            ),
        },
        "/api/v1/dnc/{phone}": {
            "delete": _operation(
                "Take a number off the do-not-call list",
                {"204": {"description": "removed"}, **_errors(404, 422)},
                parameters=[
                    {
                        "name": "phone",
                        "in": "path",
                        "required": True,
                        "description": "E.164, the + as %2B or as is",
                        "schema": {"type": "string", "pattern": "^\\+?[0-9]{1,20}$"},
                    }
                ],
            )
        },
        "/api/v1/dnc/import": {
            "post": _operation(
                "Import numbers from CSV (phone[,reason], optional header); each bad row is reported",
                {"200": _json("DncImportReport", "what was added"), **_errors(413, 415, 422)},
                requestBody={"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}},
            )
        },
        "/healthz": {
            "get": _operation("Liveness", {"200": _json("Health", "alive")}, security=[]),
        },
        "/readyz": {
            "get": _operation(
                "Readiness",
                {"200": _json("Health", "ready"), "503": _json("Health", "not ready")},
                security=[],
            ),
        },
    }
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "callback", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(build_openapi(request.app[SERVICES].settings.web.public_url.rstrip("/")))
