"""The SMS gateway interface, its typed errors and results, and the factory that picks one from settings.

A gateway sends one message and says whether the provider took it. What happens next (delivery reports,
replies) comes back over HTTP and is parsed by the gateway's module into `DeliveryReport` / `InboundSms`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from ..errors import CallbackError, Forbidden

if TYPE_CHECKING:
    import aiohttp

    from ..settings import SmsSettings

SendStatus = Literal["queued", "sent"]
DeliveryStatus = Literal["delivered", "failed", "sent", "queued"]

# Wall-time limit for one request to a provider.
DEFAULT_TIMEOUT = 10.0


class SmsError(CallbackError):
    """A message could not be handed to the gateway."""

    error_id = "sms-error"
    http_status = 502

    def __init__(self, reason: str, **details: object) -> None:
        super().__init__(reason or self.error_id, **details)
        self.reason = reason or self.error_id


class SmsTemporaryError(SmsError):
    """Retry later: timeout, 5xx, 429, connection refused.

    ``maybe_sent`` is True when the request may have reached the provider (the answer was lost): a retry
    can then deliver the message twice, because Kannel and Twilio have no idempotent send.
    """

    error_id = "sms-temporary"

    def __init__(self, reason: str, *, maybe_sent: bool = False, **details: object) -> None:
        super().__init__(reason, **details)
        self.maybe_sent = maybe_sent


class SmsPermanentError(SmsError):
    """Never retried: 4xx, invalid number, blocked or unsubscribed recipient, bad credentials."""

    error_id = "sms-permanent"


class InboundAuthError(Forbidden):
    """An inbound message or delivery report whose secret or signature does not check out."""

    error_id = "sms-inbound-forbidden"


@dataclass(frozen=True, slots=True)
class SendResult:
    provider_message_id: str | None
    status: SendStatus


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    idempotency_key: str
    status: DeliveryStatus
    reason: str = ""


@dataclass(frozen=True, slots=True)
class InboundSms:
    from_phone: str
    to: str
    text: str


class SmsGateway(Protocol):
    name: str
    # Whether WE send the STOP confirmation. Hosted APIs answer STOP at the network level themselves.
    confirms_opt_out: bool

    async def send(
        self, to: str, body: str, *, idempotency_key: str, dlr_url: str | None = None
    ) -> SendResult: ...

    async def close(self) -> None: ...


class TokenBucket:
    """Paces sends to ``rate`` per second, allowing bursts of ``burst``. A rate of 0 or less: no limit."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self._tokens = self.burst
        self._monotonic = monotonic
        self._sleep = sleep
        self._last = monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        if self.rate <= 0:
            return
        # The lock makes waiters queue in order instead of all waking for one token.
        async with self._lock:
            while True:
                now = self._monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                await self._sleep((1.0 - self._tokens) / self.rate)


def make_gateway(settings: SmsSettings, session: aiohttp.ClientSession | None = None) -> SmsGateway:
    """Build the configured gateway. With no ``session`` the gateway opens (and closes) its own."""
    from .console import ConsoleGateway
    from .kannel import KannelGateway
    from .twilio import TwilioGateway
    from .webhook import WebhookGateway

    gateway: SmsGateway
    if settings.gateway == "console":
        gateway = ConsoleGateway(sender=settings.sender, rate_per_second=settings.rate_per_second)
    elif settings.gateway == "kannel":
        gateway = KannelGateway(
            url=settings.url,
            user=settings.user,
            password=settings.password.get_secret_value(),
            sender=settings.sender,
            dlr_secret=settings.inbound_secret.get_secret_value(),
            rate_per_second=settings.rate_per_second,
            session=session,
        )
    elif settings.gateway == "twilio":
        gateway = TwilioGateway(
            url=settings.url or "https://api.twilio.com",
            account_sid=settings.user,
            auth_token=settings.password.get_secret_value(),
            sender=settings.sender,
            rate_per_second=settings.rate_per_second,
            session=session,
        )
    else:
        gateway = WebhookGateway(
            url=settings.url,
            secret=settings.password.get_secret_value(),
            sender=settings.sender,
            rate_per_second=settings.rate_per_second,
            session=session,
        )
    if settings.confirm_opt_out is not None:
        gateway.confirms_opt_out = settings.confirm_opt_out
    return gateway
