"""The demo gateway: writes each message to the log (and a stream), and keeps them for the demo summary."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TextIO

from .gateway import SendResult, TokenBucket
from .templates import encoding_info

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConsoleMessage:
    to: str
    body: str
    idempotency_key: str
    dlr_url: str | None
    encoding: str
    segments: int


class ConsoleGateway:
    name = "console"

    def __init__(
        self, *, sender: str = "", rate_per_second: float = 0.0, stream: TextIO | None = None
    ) -> None:
        self.confirms_opt_out = True
        self.sender = sender
        self.sent: list[ConsoleMessage] = []
        self._stream = stream
        self._bucket = TokenBucket(rate_per_second)
        self._keys: set[str] = set()

    async def send(
        self, to: str, body: str, *, idempotency_key: str, dlr_url: str | None = None
    ) -> SendResult:
        await self._bucket.acquire()
        result = SendResult(provider_message_id=f"console-{idempotency_key}", status="sent")
        # The same outbox row sent twice (a retry after a crash) shows once, as a real provider with
        # idempotent sends would.
        if idempotency_key in self._keys:
            return result
        self._keys.add(idempotency_key)
        encoding, segments = encoding_info(body)
        message = ConsoleMessage(to, body, idempotency_key, dlr_url, encoding, segments)
        self.sent.append(message)
        log.info("SMS to %s (%s, %d segment(s)): %s", to, encoding, segments, body)
        if self._stream is not None:
            print(f"[sms] to {to}: {body}", file=self._stream, flush=True)
        return result

    async def close(self) -> None:
        return None
