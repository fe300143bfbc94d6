"""A generic JSON webhook gateway, for providers (or glue code) that take a signed JSON POST.

Request: ``POST url`` with ``{"to", "from", "body", "idempotency_key", "dlr_url"}`` and the headers
``Idempotency-Key`` and ``X-Callback-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "t.body")>``.
Answer: any 2xx, optionally ``{"id": "...", "status": "queued" | "sent"}``; 4xx is permanent (reason from
``error``/``message``), 408/429/5xx temporary. Inbound messages and delivery reports coming back use the
same signature scheme (with the inbound secret), so one verifier serves both directions.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import aiohttp

from ..errors import ValidationFailed
from .gateway import (
    DEFAULT_TIMEOUT,
    DeliveryReport,
    InboundAuthError,
    InboundSms,
    SendResult,
    SmsPermanentError,
    SmsTemporaryError,
    TokenBucket,
)
from .provider_http import ProviderHttp, is_permanent, json_object

SIGNATURE_HEADER = "X-Callback-Signature"
# How old a signed request may be (wall time) before it is a replay.
SIGNATURE_TOLERANCE = 300.0
_DELIVERY_STATUSES = ("delivered", "failed", "sent", "queued")


def sign_webhook(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify_webhook_signature(
    secret: str, body: bytes, header: str | None, *, now: float | None = None
) -> bool:
    if not secret or not header:
        return False
    fields = dict(part.strip().partition("=")[::2] for part in header.split(","))
    try:
        t = int(fields.get("t", ""))
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - t) > SIGNATURE_TOLERANCE:
        return False
    expected = sign_webhook(secret, body, t).partition("v1=")[2]
    return hmac.compare_digest(fields.get("v1", "").encode(), expected.encode())


def _verified_json(secret: str, body: bytes, signature: str | None, now: float | None) -> dict[str, object]:
    if not verify_webhook_signature(secret, body, signature, now=now):
        raise InboundAuthError("webhook signature does not match or is too old")
    try:
        value = json.loads(body)
    except ValueError:
        raise ValidationFailed("webhook body is not JSON") from None
    if not isinstance(value, dict):
        raise ValidationFailed("webhook body is not a JSON object")
    return value


def parse_webhook_inbound(
    body: bytes, signature: str | None, secret: str, *, now: float | None = None
) -> InboundSms:
    """An inbound SMS posted as ``{"from", "to", "text"}``."""
    data = _verified_json(secret, body, signature, now)
    from_phone = str(data.get("from") or "")
    if not from_phone:
        raise ValidationFailed("inbound SMS without a sender")
    return InboundSms(from_phone=from_phone, to=str(data.get("to") or ""), text=str(data.get("text") or ""))


def parse_webhook_dlr(
    body: bytes, signature: str | None, secret: str, *, now: float | None = None
) -> DeliveryReport:
    """A delivery report posted as ``{"idempotency_key", "status", "reason"}``."""
    data = _verified_json(secret, body, signature, now)
    key = str(data.get("idempotency_key") or "")
    status = data.get("status")
    if not key or status not in _DELIVERY_STATUSES:
        raise ValidationFailed("delivery report needs idempotency_key and a known status")
    return DeliveryReport(idempotency_key=key, status=status, reason=str(data.get("reason") or ""))  # type: ignore[arg-type]


class WebhookGateway:
    name = "webhook"

    def __init__(
        self,
        *,
        url: str,
        secret: str,
        sender: str = "",
        rate_per_second: float = 5.0,
        session: aiohttp.ClientSession | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        confirms_opt_out: bool = True,
    ) -> None:
        if not url:
            raise ValueError("the webhook gateway needs sms.url")
        self.confirms_opt_out = confirms_opt_out
        self.url = url
        self._secret = secret
        self._sender = sender
        self._http = ProviderHttp(session, timeout)
        self._bucket = TokenBucket(rate_per_second)

    async def send(
        self, to: str, body: str, *, idempotency_key: str, dlr_url: str | None = None
    ) -> SendResult:
        payload = json.dumps(
            {
                "to": to,
                "from": self._sender,
                "body": body,
                "idempotency_key": idempotency_key,
                "dlr_url": dlr_url,
            },
            ensure_ascii=False,
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key,
            SIGNATURE_HEADER: sign_webhook(self._secret, payload),
        }
        await self._bucket.acquire()
        answer = await self._http.request("POST", self.url, data=payload, headers=headers)
        data = json_object(answer.text)
        if 200 <= answer.status < 300:
            provider_id = data.get("id")
            return SendResult(
                provider_message_id=str(provider_id) if provider_id else None,
                status="sent" if data.get("status") == "sent" else "queued",
            )
        reason = str(data.get("error") or data.get("message") or answer.text.strip() or "")[:300]
        reason = f"webhook gateway answered {answer.status}" + (f": {reason}" if reason else "")
        if is_permanent(answer.status):
            raise SmsPermanentError(reason, http_status=answer.status)
        raise SmsTemporaryError(reason, http_status=answer.status)

    async def close(self) -> None:
        await self._http.close()
