"""One HTTP request to an SMS provider, with a timeout, and network failures translated into our errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from .gateway import DEFAULT_TIMEOUT, SmsTemporaryError


@dataclass(frozen=True, slots=True)
class ProviderAnswer:
    status: int
    text: str


class ProviderHttp:
    """Uses the given session, or opens its own on first use (and closes only that one)."""

    def __init__(self, session: aiohttp.ClientSession | None, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._session = session
        self._owned = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> ProviderAnswer:
        try:
            async with self._client().request(
                method, url, params=params, data=data, headers=headers, timeout=self._timeout
            ) as response:
                return ProviderAnswer(response.status, await response.text(errors="replace"))
        except aiohttp.ClientConnectorError as exc:
            # Nothing reached the provider: safe to retry.
            raise SmsTemporaryError(f"cannot connect to the SMS gateway: {exc.os_error}") from exc
        except TimeoutError as exc:
            raise SmsTemporaryError("the SMS gateway did not answer in time", maybe_sent=True) from exc
        except aiohttp.ClientError as exc:
            raise SmsTemporaryError(
                f"SMS gateway connection failed: {type(exc).__name__}", maybe_sent=True
            ) from exc

    async def close(self) -> None:
        if self._owned and self._session is not None:
            await self._session.close()
        self._session = None


# 4xx answers that mean "not now" rather than "never": request timeout, too early, too many requests.
RETRYABLE_4XX = frozenset({408, 425, 429})


def is_permanent(status: int) -> bool:
    """A provider's answer that no retry will change (the rest of 4xx); 5xx and the above are temporary."""
    return 400 <= status < 500 and status not in RETRYABLE_4XX


def json_object(text: str) -> dict[str, object]:
    """A provider's JSON answer as a dict; anything else (HTML error pages, lists, garbage) as empty."""
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
