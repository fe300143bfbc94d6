"""Twilio-compatible Messages API: send, status callbacks, inbound webhooks with ``X-Twilio-Signature``.

Twilio answers STOP/HELP itself at the network level, so we don't send an opt-out confirmation here.
Signature (Twilio's documented scheme): HMAC-SHA1, keyed with the auth token, over the full URL Twilio
called followed by every POST parameter sorted by name as name+value, base64-encoded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp

from ..errors import ValidationFailed
from ..http.basic_auth import basic_auth_value as basic_auth
from .gateway import (
    DEFAULT_TIMEOUT,
    DeliveryReport,
    DeliveryStatus,
    InboundAuthError,
    InboundSms,
    SendResult,
    SmsPermanentError,
    SmsTemporaryError,
    TokenBucket,
)
from .provider_http import ProviderHttp, is_permanent, json_object

SIGNATURE_HEADER = "X-Twilio-Signature"
# Twilio error codes worth a name; the lead may treat an unsubscribed recipient as an opt-out.
INVALID_TO_NUMBER = 21211
UNSUBSCRIBED_RECIPIENT = 21610

_STATUSES: dict[str, DeliveryStatus] = {
    "delivered": "delivered",
    "read": "delivered",
    "sent": "sent",
    "failed": "failed",
    "undelivered": "failed",
    "canceled": "failed",
}

FormParams = Mapping[str, str] | Iterable[tuple[str, str]]


def _pairs(params: FormParams) -> list[tuple[str, str]]:
    return list(params.items()) if isinstance(params, Mapping) else list(params)


def twilio_signature(auth_token: str, url: str, params: FormParams) -> str:
    data = url + "".join(name + value for name, value in sorted(_pairs(params)))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify_twilio_signature(auth_token: str, url: str, params: FormParams, signature: str | None) -> bool:
    """``url`` is the URL exactly as Twilio called it (the public one, not the one behind a proxy)."""
    if not auth_token or not signature:
        return False
    return hmac.compare_digest(twilio_signature(auth_token, url, params).encode(), signature.encode())


def _verified(auth_token: str, url: str, params: FormParams, signature: str | None) -> dict[str, str]:
    if not verify_twilio_signature(auth_token, url, params, signature):
        raise InboundAuthError("Twilio signature does not match")
    return dict(_pairs(params))


def parse_twilio_inbound(
    params: FormParams, *, url: str, signature: str | None, auth_token: str
) -> InboundSms:
    form = _verified(auth_token, url, params, signature)
    if not form.get("From"):
        raise ValidationFailed("inbound SMS without a sender")
    return InboundSms(from_phone=form["From"], to=form.get("To", ""), text=form.get("Body", ""))


def parse_twilio_status(
    params: FormParams, *, url: str, signature: str | None, auth_token: str
) -> DeliveryReport:
    """A status callback; the idempotency key is the ``key`` we put into its StatusCallback URL."""
    form = _verified(auth_token, url, params, signature)
    key = dict(parse_qsl(urlsplit(url).query)).get("key", "")
    if not key:
        raise ValidationFailed("status callback without a key")
    raw = form.get("MessageStatus") or form.get("SmsStatus") or ""
    if not raw:
        raise ValidationFailed("status callback without MessageStatus")
    status = _STATUSES.get(raw, "queued")
    reason = ""
    if status == "failed":
        code = form.get("ErrorCode", "")
        reason = " ".join(p for p in (code and f"Twilio {code}", form.get("ErrorMessage", "")) if p) or raw
    return DeliveryReport(idempotency_key=key, status=status, reason=reason)


def status_callback_url(dlr_url: str, idempotency_key: str) -> str:
    separator = "&" if urlsplit(dlr_url).query else "?"
    return f"{dlr_url}{separator}{urlencode({'key': idempotency_key})}"


class TwilioGateway:
    name = "twilio"

    def __init__(
        self,
        *,
        url: str,
        account_sid: str,
        auth_token: str,
        sender: str,
        rate_per_second: float = 1.0,
        session: aiohttp.ClientSession | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.confirms_opt_out = False
        self.messages_url = f"{url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._headers = {"Authorization": basic_auth(account_sid, auth_token)}
        self._sender = sender
        self._http = ProviderHttp(session, timeout)
        self._bucket = TokenBucket(rate_per_second)

    async def send(
        self, to: str, body: str, *, idempotency_key: str, dlr_url: str | None = None
    ) -> SendResult:
        # A Messaging Service SID (MG…) picks the sender from its pool.
        sender_field = "MessagingServiceSid" if self._sender.startswith("MG") else "From"
        form = {"To": to, sender_field: self._sender, "Body": body}
        if dlr_url:
            form["StatusCallback"] = status_callback_url(dlr_url, idempotency_key)
        await self._bucket.acquire()
        answer = await self._http.request("POST", self.messages_url, data=form, headers=self._headers)
        payload = json_object(answer.text)
        if 200 <= answer.status < 300:
            sid = payload.get("sid")
            return SendResult(
                provider_message_id=str(sid) if sid else None,
                status="sent" if payload.get("status") == "sent" else "queued",
            )
        code = payload.get("code")
        message = str(payload.get("message") or answer.text.strip() or f"HTTP {answer.status}")[:300]
        reason = f"Twilio {code}: {message}" if code else f"Twilio: {message}"
        if is_permanent(answer.status):
            raise SmsPermanentError(reason, http_status=answer.status, provider_code=code)
        raise SmsTemporaryError(reason, http_status=answer.status, provider_code=code)

    async def close(self) -> None:
        await self._http.close()
