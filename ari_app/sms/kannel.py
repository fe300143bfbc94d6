"""Kannel: send through smsbox's HTTP ``sendsms``; parse its delivery reports and its ``sms-service`` calls.

Kannel has no idempotent send: the outbox idempotency key travels in the dlr-url so that reports find their
row, and a send whose answer was lost may go out twice if retried (``SmsTemporaryError.maybe_sent``).

Kannel substitutes ``%x`` escapes in dlr-url and get-url, so anything we put in those URLs ourselves
(idempotency keys, the shared secret) must be URL-safe text without ``%``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from urllib.parse import unquote_to_bytes, urlsplit

import aiohttp

from ..errors import ValidationFailed
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
from .provider_http import ProviderHttp, is_permanent
from .templates import is_gsm7

# Characters that survive a URL unencoded and contain no Kannel escape.
_URL_SAFE = re.compile(r"[A-Za-z0-9._~:-]{1,200}")

# Kannel's dlr types (the %d escape). With dlr-mask=31 a delivered message reports 8 (SMSC ack), then 1.
DLR_TYPES: dict[int, DeliveryStatus] = {
    1: "delivered",  # delivered to the phone
    2: "failed",  # delivery failure
    4: "queued",  # buffered by the SMSC (phone off, …)
    8: "sent",  # accepted by the SMSC
    16: "failed",  # rejected by the SMSC
}
DLR_MASK = 31


def _check_url_safe(what: str, value: str) -> None:
    if not _URL_SAFE.fullmatch(value):
        raise ValueError(f"{what} must be 1-200 characters of A-Z a-z 0-9 . _ ~ : - for Kannel")


def dlr_signature(secret: str, idempotency_key: str) -> str:
    """What proves a delivery report came from the dlr-url we gave Kannel (not a forger who guessed a key)."""
    return hmac.new(secret.encode(), b"kannel-dlr:" + idempotency_key.encode(), hashlib.sha256).hexdigest()


def kannel_dlr_url(dlr_url: str, idempotency_key: str, secret: str = "") -> str:
    """Our delivery-report endpoint with the key, its signature, and Kannel's escapes for type and reply."""
    _check_url_safe("idempotency_key", idempotency_key)
    if "%" in dlr_url:
        raise ValueError("dlr_url must not contain '%': Kannel would read it as an escape")
    params = f"key={idempotency_key}"
    if secret:
        params += f"&sig={dlr_signature(secret, idempotency_key)}"
    separator = "&" if urlsplit(dlr_url).query else "?"
    return f"{dlr_url}{separator}{params}&type=%d&reply=%A"


def kannel_sms_service_url(inbound_url: str, secret: str) -> str:
    """The ``get-url`` for Kannel's ``sms-service`` that calls our inbound endpoint (set ``max-messages = 0``
    in that group, or Kannel texts our HTTP answer back to the phone)."""
    _check_url_safe("the inbound secret", secret)
    if "%" in inbound_url:
        raise ValueError("inbound_url must not contain '%': Kannel would read it as an escape")
    separator = "&" if urlsplit(inbound_url).query else "?"
    return f"{inbound_url}{separator}secret={secret}&from=%p&to=%P&text=%a&coding=%c&charset=%C"


class KannelGateway:
    name = "kannel"

    def __init__(
        self,
        *,
        url: str,
        user: str,
        password: str,
        sender: str,
        dlr_secret: str = "",
        rate_per_second: float = 5.0,
        session: aiohttp.ClientSession | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.confirms_opt_out = True  # a raw SMSC behind Kannel does not answer STOP (measured)
        path = urlsplit(url).path
        self.sendsms_url = url if path.endswith("/sendsms") else url.rstrip("/") + "/cgi-bin/sendsms"
        self._user = user
        self._password = password
        self._sender = sender
        self._dlr_secret = dlr_secret
        self._http = ProviderHttp(session, timeout)
        self._bucket = TokenBucket(rate_per_second)

    async def send(
        self, to: str, body: str, *, idempotency_key: str, dlr_url: str | None = None
    ) -> SendResult:
        params = {
            "username": self._user,
            "password": self._password,
            "to": to,
            "text": body,
            "charset": "UTF-8",
            # 0: GSM-7, 2: UCS-2. Kannel converts from UTF-8 to either.
            "coding": "0" if is_gsm7(body) else "2",
        }
        if self._sender:
            params["from"] = self._sender
        if dlr_url:
            params["dlr-mask"] = str(DLR_MASK)
            try:
                params["dlr-url"] = kannel_dlr_url(dlr_url, idempotency_key, self._dlr_secret)
            except ValueError as exc:  # a key or URL Kannel would mangle: this message can never be sent
                raise SmsPermanentError(f"cannot build a delivery-report URL for Kannel: {exc}") from None
        await self._bucket.acquire()
        # GET: smsbox's POST wants the text as the body with X-Kannel headers, not a form.
        answer = await self._http.request("GET", self.sendsms_url, params=params)
        return _read_sendsms_answer(answer.status, answer.text)

    async def close(self) -> None:
        await self._http.close()


def _read_sendsms_answer(status: int, text: str) -> SendResult:
    reason = " ".join(text.split())[:300] or f"HTTP {status}"
    if 200 <= status < 300:
        # "0: Accepted for delivery" (to bearerbox), "3: Queued for later delivery", or "Sent."
        return SendResult(provider_message_id=None, status="sent" if reason.startswith("Sent") else "queued")
    if is_permanent(status):
        # Bad credentials ("Authorization failed for sendsms"), a missing or refused number, …
        raise SmsPermanentError(f"Kannel refused the message: {reason}", http_status=status)
    raise SmsTemporaryError(f"Kannel could not take the message: {reason}", http_status=status)


def _query_pairs(query: str | Mapping[str, str]) -> dict[str, bytes]:
    if not isinstance(query, str):
        return {key: str(value).encode() for key, value in query.items()}
    pairs: dict[str, bytes] = {}
    for part in query.lstrip("?").split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        name = unquote_to_bytes(key.replace("+", " ")).decode("utf-8", "replace")
        pairs.setdefault(name, unquote_to_bytes(value.replace("+", " ")))
    return pairs


def _text(pairs: dict[str, bytes], name: str) -> str:
    return pairs.get(name, b"").decode("utf-8", "replace").strip()


def parse_kannel_dlr(query: str | Mapping[str, str], secret: str | None = None) -> DeliveryReport:
    """A delivery report Kannel sent to our dlr-url. With ``secret``, the report must carry its signature."""
    pairs = _query_pairs(query)
    key = _text(pairs, "key")
    if not _URL_SAFE.fullmatch(key):
        raise ValidationFailed("delivery report without a valid key")
    if secret:
        expected = dlr_signature(secret, key).encode()
        if not hmac.compare_digest(pairs.get("sig", b""), expected):
            raise InboundAuthError("delivery report signature does not match")
    raw_type = _text(pairs, "type")
    try:
        status = DLR_TYPES[int(raw_type)]
    except (ValueError, KeyError):
        raise ValidationFailed(f"unknown Kannel dlr type {raw_type!r}") from None
    reply = _text(pairs, "reply")
    reason = ""
    if status == "failed":
        reason = reply or ("rejected by the SMSC" if raw_type == "16" else "delivery failed")
    return DeliveryReport(idempotency_key=key, status=status, reason=reason)


def parse_kannel_inbound(query: str | Mapping[str, str], secret: str) -> InboundSms:
    """A message a phone sent us, as Kannel's sms-service get-url delivers it (see `kannel_sms_service_url`).

    Pass the raw query string (aiohttp: ``request.rel_url.raw_query_string``; ``query_string`` is already
    decoded): a UCS-2 text arrives as percent-encoded UTF-16 bytes with ``charset=UTF-16BE``, which a
    decoded string or mapping has lost.
    """
    pairs = _query_pairs(query)
    if not secret:
        raise InboundAuthError("inbound SMS refused: no inbound secret is configured")
    if not hmac.compare_digest(pairs.get("secret", b""), secret.encode()):
        raise InboundAuthError("inbound SMS secret does not match")
    from_phone = _text(pairs, "from")
    if not from_phone:
        raise ValidationFailed("inbound SMS without a sender")
    charset = _text(pairs, "charset") or ("UTF-16BE" if _text(pairs, "coding") == "2" else "UTF-8")
    try:
        text = pairs.get("text", b"").decode(charset, "replace")
    except LookupError:
        raise ValidationFailed(f"inbound SMS in an unknown charset {charset!r}") from None
    return InboundSms(from_phone=from_phone, to=_text(pairs, "to"), text=text)


__all__ = [
    "DLR_MASK",
    "DLR_TYPES",
    "KannelGateway",
    "dlr_signature",
    "kannel_dlr_url",
    "kannel_sms_service_url",
    "parse_kannel_dlr",
    "parse_kannel_inbound",
]
