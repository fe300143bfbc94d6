"""One error hierarchy: each error has a stable id, an HTTP status and details.

Foreign exceptions are translated into these once, at the edge that caught them.
"""

from __future__ import annotations

from typing import Any


class CallbackError(Exception):
    error_id = "internal-error"
    http_status = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.error_id, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class ConfigError(CallbackError):
    """A configuration key is missing or invalid; the message names the key."""

    error_id = "invalid-config"


class ValidationFailed(CallbackError):
    error_id = "validation-failed"
    http_status = 422


class NotFound(CallbackError):
    error_id = "not-found"
    http_status = 404


class Conflict(CallbackError):
    error_id = "conflict"
    http_status = 409


class Unauthorized(CallbackError):
    error_id = "unauthorized"
    http_status = 401


class Forbidden(CallbackError):
    error_id = "forbidden"
    http_status = 403


class RateLimited(CallbackError):
    error_id = "rate-limited"
    http_status = 429
