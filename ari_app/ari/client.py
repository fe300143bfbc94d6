"""The ARI REST client: hand-written, typed methods for the operations we use.

One aiohttp session (basic auth, a connection limit, a timeout on every request). The retry policy
lives in ``_request`` and nowhere else:

* Reads (GET) are retried with capped backoff on connection errors, timeouts and 502/503/504.
* Everything else is sent at most once by us. If it failed before its headers were written, it
  surely never reached Asterisk: ``AriUnreachable``. If it was written and the answer was lost
  (timeout, ``ServerDisconnectedError``, reset): ``AriOutcomeUnknown``; the owner resolves it from
  events and channel state. Re-sending an originate/create/dial could ring a phone twice: Asterisk's 409
  for a duplicate channel id only holds while the first channel is still alive.

aiohttp itself re-sends a request once when the connection fails under it (ClientOSError,
ServerDisconnectedError), but only for the methods RFC 9110 calls idempotent
(``aiohttp.client.IDEMPOTENT_METHODS``: GET, HEAD, OPTIONS, TRACE, PUT, DELETE, aiohttp 3.9+), and
it has no public switch to turn that off (aio-libs/aiohttp#10790). No operation here that can ring
a phone is one of those: originate, create, dial, continue, move, play... are POSTs, which aiohttp
never re-sends (the contract suite checks that a dropped dial reaches the peer exactly once). So a
read may reach Asterisk up to twice per try of ours, and a DELETE (hangup, ring stop, destroy
bridge, stop playback, unsubscribe) may be re-sent once: idempotent in effect, the worst case is a
404 for something that did happen.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace, TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import aiohttp

from ..http.basic_auth import basic_auth
from .errors import (
    AriError,
    AriOutcomeUnknown,
    AriUnreachable,
    error_for_status,
)
from .models import Bridge, CallerId, Channel, Endpoint, Playback

log = logging.getLogger(__name__)
T = TypeVar("T")

_RETRYABLE_READ_STATUS = frozenset({502, 503, 504})
_BACKOFF_FIRST = 0.1
_BACKOFF_MAX = 1.0


@dataclass
class _SendState:
    """Per request: did aiohttp write our request headers to the socket?"""

    sent: bool = False


async def _on_headers_sent(
    session: aiohttp.ClientSession,
    ctx: SimpleNamespace,
    params: aiohttp.TraceRequestHeadersSentParams,
) -> None:
    state = ctx.trace_request_ctx
    if isinstance(state, _SendState):
        state.sent = True


def _seg(value: str) -> str:
    """One path segment: ids are ours, but never let one change the path."""
    return quote(value, safe="")


def _join(values: str | Sequence[str]) -> str:
    """ARI takes lists in a query parameter as one comma-separated value."""
    return values if isinstance(values, str) else ",".join(values)


def _caller_id(caller_id: CallerId | str | None) -> str | None:
    if caller_id is None:
        return None
    if isinstance(caller_id, str):
        return caller_id
    if caller_id.name:
        return f'"{caller_id.name}" <{caller_id.number}>'
    return caller_id.number


class AriClient:
    """``async with AriClient("http://127.0.0.1:8088", user, password) as ari: ...``

    ``base_url`` is the server; the client adds ``/ari``. ``timeout`` is wall time per request.
    """

    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        *,
        timeout: float = 10.0,
        max_connections: int = 50,
        read_retries: int = 2,
    ) -> None:
        self._api = base_url.rstrip("/") + "/ari"
        self._headers = basic_auth(user, password)  # never logged
        self._timeout = timeout
        self._max_connections = max_connections
        self._read_retries = max(0, read_retries)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            trace = aiohttp.TraceConfig()
            trace.on_request_headers_sent.append(_on_headers_sent)
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                trace_configs=[trace],
                raise_for_status=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- the one place that sends requests ------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        binary: bool = False,
    ) -> Any:
        session = self._open()
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        is_read = method == "GET"
        attempts = 1 + (self._read_retries if is_read else 0)
        last: BaseException | None = None
        for attempt in range(attempts):
            if attempt:
                delay = min(_BACKOFF_MAX, _BACKOFF_FIRST * 2 ** (attempt - 1))
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
            state = _SendState()
            try:
                async with session.request(
                    method,
                    self._api + path,
                    params=query,
                    json=body,
                    trace_request_ctx=state,
                    allow_redirects=False,  # our Authorization header goes to Asterisk only
                ) as resp:
                    raw = await resp.read()
                    status = resp.status
                    ctype = resp.content_type
            except (aiohttp.ClientError, TimeoutError) as exc:
                last = exc
                log.debug("ARI %s %s: %s (sent=%s)", method, operation, type(exc).__name__, state.sent)
                if is_read:
                    continue
                if state.sent:
                    raise AriOutcomeUnknown(
                        f"ARI {operation}: sent, answer lost ({type(exc).__name__}); not re-sent",
                        status=None,
                        ari_message="",
                        operation=operation,
                    ) from exc
                raise AriUnreachable(
                    f"ARI {operation}: could not connect ({type(exc).__name__})",
                    status=None,
                    ari_message="",
                    operation=operation,
                ) from exc
            if binary and status < 300:
                return raw
            decoded = self._decode(raw, ctype)
            if status < 300:
                return decoded
            if is_read and status in _RETRYABLE_READ_STATUS and attempt + 1 < attempts:
                log.debug("ARI %s %s: HTTP %s, retrying", method, operation, status)
                continue
            err = error_for_status(status, decoded, operation)
            log.debug("ARI %s %s: HTTP %s %s", method, operation, status, err.ari_message)
            raise err
        raise AriUnreachable(
            f"ARI {operation}: no answer after {attempts} tries ({type(last).__name__})",
            status=None,
            ari_message="",
            operation=operation,
        ) from last

    @staticmethod
    def _decode(raw: bytes, ctype: str) -> Any:
        if not raw:
            return None
        text = raw.decode("utf-8", errors="replace")
        if ctype == "application/json" or text[:1] in "{[":
            try:
                return json.loads(text)
            except ValueError:
                return text
        return text

    @staticmethod
    def _expect(value: Any, kind: type[T], operation: str) -> T:
        if not isinstance(value, kind):
            raise AriError(
                f"ARI {operation}: unexpected answer ({type(value).__name__})",
                status=200,
                ari_message="",
                operation=operation,
            )
        return value

    def _parse(self, parse: Callable[[Any], T], value: Any, operation: str) -> T:
        try:
            return parse(value)
        except (ValueError, TypeError, AttributeError) as exc:
            raise AriError(
                f"ARI {operation}: unreadable answer ({exc})",
                status=200,
                ari_message="",
                operation=operation,
            ) from exc

    # -- asterisk -------------------------------------------------------------------------------

    async def asterisk_info(self) -> dict[str, Any]:
        return self._expect(await self._request("GET", "/asterisk/info", "asterisk_info"), dict, "info")

    async def ping(self) -> dict[str, Any]:
        return self._expect(await self._request("GET", "/asterisk/ping", "ping"), dict, "ping")

    async def list_modules(self) -> list[dict[str, Any]]:
        return self._expect(await self._request("GET", "/asterisk/modules", "list_modules"), list, "modules")

    async def get_module(self, name: str) -> dict[str, Any]:
        result = await self._request("GET", f"/asterisk/modules/{_seg(name)}", "get_module")
        return self._expect(result, dict, "get_module")

    # -- channels -------------------------------------------------------------------------------

    async def originate(
        self,
        endpoint: str,
        *,
        channel_id: str,
        app: str,
        app_args: str = "",
        caller_id: CallerId | str | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - Asterisk's ring timeout, not ours
        variables: Mapping[str, str] | None = None,
        other_channel_id: str | None = None,
    ) -> Channel:
        """Dial ``endpoint`` into Stasis ``app`` (StasisStart arrives when it answers). Sent once."""
        params = {
            "endpoint": endpoint,
            "app": app,
            "appArgs": app_args or None,
            "channelId": channel_id,
            "callerId": _caller_id(caller_id),
            "timeout": timeout,
            "otherChannelId": other_channel_id,
        }
        body = {"variables": dict(variables)} if variables else None
        result = await self._request("POST", "/channels", "originate", params=params, body=body)
        return self._parse(Channel.from_json, result, "originate")

    async def originate_to_dialplan(
        self,
        endpoint: str,
        *,
        channel_id: str,
        context: str,
        extension: str,
        priority: int = 1,
        caller_id: CallerId | str | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - Asterisk's ring timeout, not ours
        variables: Mapping[str, str] | None = None,
    ) -> Channel:
        params = {
            "endpoint": endpoint,
            "context": context,
            "extension": extension,
            "priority": priority,
            "channelId": channel_id,
            "callerId": _caller_id(caller_id),
            "timeout": timeout,
        }
        body = {"variables": dict(variables)} if variables else None
        result = await self._request("POST", "/channels", "originate", params=params, body=body)
        return self._parse(Channel.from_json, result, "originate")

    async def create_channel(
        self,
        endpoint: str,
        *,
        channel_id: str,
        app: str,
        app_args: str = "",
        variables: Mapping[str, str] | None = None,
        other_channel_id: str | None = None,
    ) -> Channel:
        """Create a channel without dialling it (StasisStart at once, state Down). No caller-ID
        parameter exists: set CALLERID(...) and CONNECTEDLINE(...,i) in ``variables``."""
        params = {
            "endpoint": endpoint,
            "app": app,
            "appArgs": app_args or None,
            "channelId": channel_id,
            "otherChannelId": other_channel_id,
        }
        body = {"variables": dict(variables)} if variables else None
        result = await self._request("POST", "/channels/create", "create", params=params, body=body)
        return self._parse(Channel.from_json, result, "create")

    async def dial(
        self,
        channel_id: str,
        *,
        timeout: int,  # noqa: ASYNC109 - Asterisk's ring timeout, not ours
        caller: str | None = None,
    ) -> None:
        """Ring a created channel. ``timeout`` is required: Asterisk's default 0 rings forever."""
        if timeout <= 0:
            raise ValueError("dial timeout must be positive (0 rings forever)")
        params = {"timeout": timeout, "caller": caller}
        await self._request("POST", f"/channels/{_seg(channel_id)}/dial", "dial", params=params)

    async def get_channel(self, channel_id: str) -> Channel:
        result = await self._request("GET", f"/channels/{_seg(channel_id)}", "get_channel")
        return self._parse(Channel.from_json, result, "get_channel")

    async def list_channels(self) -> list[Channel]:
        result = self._expect(await self._request("GET", "/channels", "list_channels"), list, "channels")
        return [self._parse(Channel.from_json, c, "list_channels") for c in result]

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        params = {"reason": reason}
        await self._request("DELETE", f"/channels/{_seg(channel_id)}", "hangup", params=params)

    async def answer(self, channel_id: str) -> None:
        await self._request("POST", f"/channels/{_seg(channel_id)}/answer", "answer")

    async def ring(self, channel_id: str) -> None:
        await self._request("POST", f"/channels/{_seg(channel_id)}/ring", "ring")

    async def ring_stop(self, channel_id: str) -> None:
        await self._request("DELETE", f"/channels/{_seg(channel_id)}/ring", "ring_stop")

    async def play(
        self,
        channel_id: str,
        media: str | Sequence[str],
        *,
        playback_id: str | None = None,
        lang: str | None = None,
    ) -> Playback:
        params = {"media": _join(media), "playbackId": playback_id, "lang": lang}
        result = await self._request("POST", f"/channels/{_seg(channel_id)}/play", "play", params=params)
        return self._parse(Playback.from_json, result, "play")

    async def continue_in_dialplan(
        self,
        channel_id: str,
        *,
        context: str,
        extension: str,
        priority: int = 1,
        label: str | None = None,
    ) -> None:
        params = {"context": context, "extension": extension, "priority": priority, "label": label}
        await self._request("POST", f"/channels/{_seg(channel_id)}/continue", "continue", params=params)

    async def continue_next(self, channel_id: str) -> None:
        """Leave the application for the dialplan's next priority (as ``Stasis()`` returns, SUCCESS)."""
        await self._request("POST", f"/channels/{_seg(channel_id)}/continue", "continue")

    async def record(
        self,
        channel_id: str,
        name: str,
        *,
        fmt: str = "wav",
        max_duration: int = 0,
        max_silence: int = 0,
        beep: bool = False,
        terminate_on: str = "none",
        if_exists: str = "fail",
    ) -> dict[str, Any]:
        """Record what the channel's caller says (a LiveRecording; RecordingStarted/Finished follow). Sent
        once: a lost answer is resolved from the events."""
        params = {
            "name": name,
            "format": fmt,
            "maxDurationSeconds": max_duration,
            "maxSilenceSeconds": max_silence,
            "beep": "true" if beep else "false",
            "terminateOn": terminate_on,
            "ifExists": if_exists,
        }
        result = await self._request("POST", f"/channels/{_seg(channel_id)}/record", "record", params=params)
        return self._expect(result, dict, "record")

    async def stop_recording(self, name: str) -> None:
        await self._request("POST", f"/recordings/live/{_seg(name)}/stop", "stop_recording")

    async def get_stored_recording(self, name: str) -> dict[str, Any]:
        result = await self._request("GET", f"/recordings/stored/{_seg(name)}", "get_stored_recording")
        return self._expect(result, dict, "get_stored_recording")

    async def stored_recording_file(self, name: str) -> bytes:
        """The recording's bytes, as Asterisk wrote them (``GET /recordings/stored/{name}/file``)."""
        result = await self._request(
            "GET", f"/recordings/stored/{_seg(name)}/file", "stored_recording_file", binary=True
        )
        return self._expect(result, bytes, "stored_recording_file")

    async def delete_stored_recording(self, name: str) -> None:
        await self._request("DELETE", f"/recordings/stored/{_seg(name)}", "delete_stored_recording")

    async def move(self, channel_id: str, app: str, app_args: str = "") -> None:
        params = {"app": app, "appArgs": app_args or None}
        await self._request("POST", f"/channels/{_seg(channel_id)}/move", "move", params=params)

    async def snoop(self, channel_id: str, *, snoop_id: str, app: str, spy: str = "in") -> Channel:
        """A Snoop channel in ``app`` that hears ``channel_id`` (``spy=in``: what the far end sends); it stays
        in the application while the snooped channel runs dialplan (AMD), unlike a recording of the channel
        itself, which holds it in the application until it ends (measured on 22.10.1)."""
        params = {"spy": spy, "app": app, "snoopId": snoop_id}
        result = await self._request("POST", f"/channels/{_seg(channel_id)}/snoop", "snoop", params=params)
        return self._parse(Channel.from_json, result, "snoop")

    async def live_recording(self, name: str) -> dict[str, Any]:
        result = await self._request("GET", f"/recordings/live/{_seg(name)}", "live_recording")
        return self._expect(result, dict, "live_recording")

    async def get_variable(self, channel_id: str, name: str) -> str:
        result = await self._request(
            "GET", f"/channels/{_seg(channel_id)}/variable", "get_variable", params={"variable": name}
        )
        value = self._expect(result, dict, "get_variable").get("value")
        return "" if value is None else str(value)

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        params = {"variable": name, "value": value}
        await self._request("POST", f"/channels/{_seg(channel_id)}/variable", "set_variable", params=params)

    async def send_dtmf(self, channel_id: str, dtmf: str, *, between: int = 100, duration: int = 100) -> None:
        params = {"dtmf": dtmf, "between": between, "duration": duration}
        await self._request("POST", f"/channels/{_seg(channel_id)}/dtmf", "send_dtmf", params=params)

    # -- bridges --------------------------------------------------------------------------------

    async def create_bridge(
        self, *, bridge_type: str = "mixing", bridge_id: str | None = None, name: str | None = None
    ) -> Bridge:
        params = {"type": bridge_type, "bridgeId": bridge_id, "name": name}
        result = await self._request("POST", "/bridges", "create_bridge", params=params)
        return self._parse(Bridge.from_json, result, "create_bridge")

    async def get_bridge(self, bridge_id: str) -> Bridge:
        result = await self._request("GET", f"/bridges/{_seg(bridge_id)}", "get_bridge")
        return self._parse(Bridge.from_json, result, "get_bridge")

    async def add_channel(self, bridge_id: str, channel_ids: str | Sequence[str]) -> None:
        params = {"channel": _join(channel_ids)}
        await self._request("POST", f"/bridges/{_seg(bridge_id)}/addChannel", "add_channel", params=params)

    async def remove_channel(self, bridge_id: str, channel_ids: str | Sequence[str]) -> None:
        params = {"channel": _join(channel_ids)}
        await self._request(
            "POST", f"/bridges/{_seg(bridge_id)}/removeChannel", "remove_channel", params=params
        )

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self._request("DELETE", f"/bridges/{_seg(bridge_id)}", "destroy_bridge")

    async def play_on_bridge(
        self, bridge_id: str, media: str | Sequence[str], *, playback_id: str | None = None
    ) -> Playback:
        params = {"media": _join(media), "playbackId": playback_id}
        path = f"/bridges/{_seg(bridge_id)}/play"
        result = await self._request("POST", path, "play_on_bridge", params=params)
        return self._parse(Playback.from_json, result, "play_on_bridge")

    # -- playbacks ------------------------------------------------------------------------------

    async def get_playback(self, playback_id: str) -> Playback:
        result = await self._request("GET", f"/playbacks/{_seg(playback_id)}", "get_playback")
        return self._parse(Playback.from_json, result, "get_playback")

    async def stop_playback(self, playback_id: str) -> None:
        await self._request("DELETE", f"/playbacks/{_seg(playback_id)}", "stop_playback")

    # -- sounds ---------------------------------------------------------------------------------

    async def get_sound(self, sound_id: str) -> dict[str, Any]:
        """``sound_id`` as played without ``sound:`` (``callback/press-1``); 404 when Asterisk has none."""
        result = await self._request("GET", f"/sounds/{_seg(sound_id)}", "get_sound")
        return self._expect(result, dict, "get_sound")

    # -- endpoints ------------------------------------------------------------------------------

    async def list_endpoints(self) -> list[Endpoint]:
        result = self._expect(await self._request("GET", "/endpoints", "list_endpoints"), list, "endpoints")
        return [self._parse(Endpoint.from_json, e, "list_endpoints") for e in result]

    async def get_endpoint(self, technology: str, resource: str) -> Endpoint:
        result = await self._request("GET", f"/endpoints/{_seg(technology)}/{_seg(resource)}", "get_endpoint")
        return self._parse(Endpoint.from_json, result, "get_endpoint")

    # -- applications ---------------------------------------------------------------------------

    async def get_application(self, app: str) -> dict[str, Any]:
        result = await self._request("GET", f"/applications/{_seg(app)}", "get_application")
        return self._expect(result, dict, "get_application")

    async def filter_events(
        self, app: str, *, allowed: Sequence[str] | None = None, disallowed: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """Which event types Asterisk sends ``app`` (``PUT /applications/{app}/eventFilter``). A list left
        None is not changed, unless both are: then both are cleared (Asterisk's rule for an empty body). An
        empty allowed list allows every type; a disallowed type is dropped even if allowed. Asterisk drops
        a filtered event before it is written to the socket. 404: no socket has registered ``app`` yet."""
        filter_: dict[str, list[dict[str, str]]] = {}
        if allowed is not None:
            filter_["allowed"] = [{"type": kind} for kind in allowed]
        if disallowed is not None:
            filter_["disallowed"] = [{"type": kind} for kind in disallowed]
        result = await self._request(
            "PUT", f"/applications/{_seg(app)}/eventFilter", "filter_events", body=filter_
        )
        return result if isinstance(result, dict) else {}

    async def subscribe(self, app: str, event_source: str | Sequence[str]) -> dict[str, Any]:
        """``event_source``: "channel:ID", "bridge:ID", "endpoint:TECH/RES", "deviceState:NAME"."""
        params = {"eventSource": _join(event_source)}
        path = f"/applications/{_seg(app)}/subscription"
        result = await self._request("POST", path, "subscribe", params=params)
        return result if isinstance(result, dict) else {}

    async def unsubscribe(self, app: str, event_source: str | Sequence[str]) -> dict[str, Any]:
        params = {"eventSource": _join(event_source)}
        result = await self._request(
            "DELETE", f"/applications/{_seg(app)}/subscription", "unsubscribe", params=params
        )
        return result if isinstance(result, dict) else {}
