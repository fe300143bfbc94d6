"""What can go wrong talking to ARI, as data.

Every failed request becomes exactly one of these, translated once in ``client.py``. The split that
matters most for calls is between ``AriUnreachable`` (the request never left: retrying is safe) and
``AriOutcomeUnknown`` (a state-changing request left but its answer was lost: never re-send it, the
owner resolves it from events and ``GET /channels/{id}``).
"""

from __future__ import annotations

from typing import Any

from ..errors import CallbackError


class AriError(CallbackError):
    """Asterisk answered with an error, or could not be asked.

    ``status`` is the HTTP status (None when there was no answer), ``ari_message`` Asterisk's own text
    (from ``{"message": ...}`` or ``{"error": ...}``), ``operation`` what we tried ("originate", ...).
    """

    error_id = "ari-error"
    http_status = 502

    def __init__(self, message: str, *, status: int | None, ari_message: str, operation: str) -> None:
        super().__init__(message, status=status, ari_message=ari_message, operation=operation)
        self.status = status
        self.ari_message = ari_message
        self.operation = operation


class AriBadRequest(AriError):
    error_id = "ari-bad-request"


class AriUnauthorized(AriError):
    error_id = "ari-unauthorized"


class AriNotFound(AriError):
    error_id = "ari-not-found"


class AriConflict(AriError):
    """409: e.g. a channel id that is still alive (only while it is alive: a reused id dials again)."""

    error_id = "ari-conflict"


class AriPreconditionFailed(AriError):
    """412: e.g. the channel is not in a state that allows the operation (not in Stasis, not answered)."""

    error_id = "ari-precondition-failed"


class AriUnprocessable(AriError):
    """422: e.g. an endpoint or application that doesn't exist in a body/field."""

    error_id = "ari-unprocessable"


class AriServerError(AriError):
    """5xx. ``allocation_failed``: Asterisk could not create the channel.

    That is an endpoint with no registered contact (an admin offline) *or* an endpoint/technology that
    doesn't exist (a bad trunk template): ``GET /endpoints/{tech}/{resource}`` tells them apart.
    """

    error_id = "ari-server-error"

    def __init__(self, message: str, *, status: int | None, ari_message: str, operation: str) -> None:
        super().__init__(message, status=status, ari_message=ari_message, operation=operation)
        self.allocation_failed = ari_message.strip().lower() == "allocation failed"


class AriUnreachable(AriError):
    """No answer and nothing changed: the connection failed before the request was sent, or a read
    (GET) got no answer after its retries. Retrying anything is safe."""

    error_id = "ari-unreachable"
    http_status = 503


class AriOutcomeUnknown(AriError):
    """A request that can ring a phone or change call state was sent, and its answer was lost
    (timeout, dropped connection). It is never re-sent; resolve it from events and channel state."""

    error_id = "ari-outcome-unknown"
    http_status = 504


_BY_STATUS: dict[int, type[AriError]] = {
    400: AriBadRequest,
    401: AriUnauthorized,
    403: AriUnauthorized,
    404: AriNotFound,
    409: AriConflict,
    412: AriPreconditionFailed,
    422: AriUnprocessable,
}


def error_for_status(status: int, body: Any, operation: str) -> AriError:
    """The typed error for an HTTP error answer; ``body`` is the parsed JSON (or text) Asterisk sent."""
    ari_message = ""
    if isinstance(body, dict):
        # Most errors say {"message": ...}; "Allocation failed" comes as {"error": ...} (measured, 22.10.1).
        ari_message = str(body.get("message") or body.get("error") or "")
    elif isinstance(body, str):
        ari_message = body.strip()[:200]
    cls: type[AriError]
    if status >= 500:
        cls = AriServerError
    else:
        cls = _BY_STATUS.get(status, AriError)
    text = f"ARI {operation} failed: HTTP {status}" + (f" {ari_message}" if ari_message else "")
    return cls(text, status=status, ari_message=ari_message, operation=operation)
