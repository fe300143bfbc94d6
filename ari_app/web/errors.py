"""Errors that only the HTTP edge raises (the body, not the domain, is wrong)."""

from __future__ import annotations

from ..errors import CallbackError


class MalformedJson(CallbackError):
    error_id = "malformed-json"
    http_status = 400


class UnsupportedMediaType(CallbackError):
    error_id = "unsupported-media-type"
    http_status = 415


class BodyTooLarge(CallbackError):
    error_id = "body-too-large"
    http_status = 413
