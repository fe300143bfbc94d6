"""The event WebSocket: reconnect and re-adopt, takeover, junk frames, a PBX that isn't there yet."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from aiohttp import web

from ari_app.ari import (
    AriClient,
    AriOutcomeUnknown,
    AriUnreachable,
    Channel,
    EventConnection,
    EventRouter,
)
from ari_app.ari.events import (
    ApplicationReplaced,
    ChannelDestroyed,
    Event,
    StasisStart,
    UnknownEvent,
)

from .conftest import Events, Peer
from .helpers import TcpProxy, eventually, free_port, wait_for_event


async def test_socket_drop_reconnects_and_live_channels_are_readable(
    ari: AriClient, peer: Peer, app_name: str, channel_id: str, hangup_later: list[str]
) -> None:
    router = EventRouter()
    sub = router.subscription()
    sub.add_channel(channel_id)
    hangup_later.append(channel_id)
    adopted: list[list[Channel]] = []
    reconnected = asyncio.Event()

    async def on_connect() -> None:
        # What a worker does after every (re)connect: re-read the channels the application still has.
        app = await ari.get_application(app_name)
        adopted.append([await ari.get_channel(cid) for cid in app["channel_ids"]])
        if len(adopted) == 2:
            reconnected.set()

    host, port = peer.host_port
    async with (
        TcpProxy(host, port) as proxy,
        EventConnection(
            f"http://127.0.0.1:{proxy.port}",
            peer.user,
            peer.password,
            app_name,
            on_event=router.dispatch,
            on_connect=on_connect,
            backoff_initial=0.05,
            backoff_max=0.2,
        ) as conn,
    ):
        await conn.wait_connected(5)
        await ari.originate(peer.endpoint("sim-answer"), channel_id=channel_id, app=app_name, timeout=20)
        await wait_for_event(sub, StasisStart)

        proxy.cut()  # the network between us and Asterisk drops; the call goes on
        async with asyncio.timeout(10):
            await reconnected.wait()
        assert conn.connected and conn.state == "connected"
        assert conn.stats.reconnects == 1
        assert [(c.id, c.state) for c in adopted[-1]] == [(channel_id, "Up")]

        await ari.hangup(channel_id)  # and its events reach us on the new socket
        destroyed = await wait_for_event(sub, ChannelDestroyed)
        assert destroyed.cause == 16


async def test_second_socket_takes_over_and_the_first_stays_down(
    ari: AriClient, events: Events, peer: Peer, app_name: str, channel_id: str, hangup_later: list[str]
) -> None:
    first_unrouted: list[Event] = []
    events.router.set_fallback(first_unrouted.append)
    second = EventRouter()
    sub = second.subscription()
    sub.add_channel(channel_id)
    hangup_later.append(channel_id)
    async with EventConnection(
        peer.base_url, peer.user, peer.password, app_name, on_event=second.dispatch, backoff_initial=0.01
    ) as takeover:
        await takeover.wait_connected(5)
        await eventually(lambda: events.conn.state == "replaced", what="first socket replaced")
        assert any(isinstance(e, ApplicationReplaced) for e in first_unrouted)
        assert not events.conn.connected

        # The new socket owns the application: a new call's events go there, none to the old one.
        await ari.originate(peer.endpoint("sim-answer"), channel_id=channel_id, app=app_name, timeout=20)
        await wait_for_event(sub, StasisStart)
        assert takeover.connected
        assert events.conn.state == "replaced"
        assert events.conn.stats.reconnects == 0  # no fight over the name


FRAMES = [
    '{"type": "StasisStart", "application": "junk-app", "timestamp": "2026-11-26T06:59:34.103+0000",'
    ' "args": ["a"], "channel": {"id": "ch-1", "name": "PJSIP/trunk-1", "state": "Down"}}',
    "this is not json",
    '{"no": "type"}',
    '{"type": "StasisStart", "application": "junk-app", "args": []}',
    '{"type": "SomethingNew", "application": "junk-app", "channel": {"id": "ch-1"}}',
    "[1, 2, 3]",
    '{"type": "ChannelDestroyed", "application": "junk-app", "cause": 16, "cause_txt": "Normal Clearing",'
    ' "channel": {"id": "ch-1", "name": "PJSIP/trunk-1", "state": "Up"}}',
]


async def test_malformed_frames_are_counted_logged_and_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A raw WebSocket peer sends junk between good events: the good ones arrive in order, the junk is
    counted, every frame is in the log file as received, and the credentials are in no log line."""
    requests: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        requests.append(dict(request.query))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        for frame in FRAMES:
            await ws.send_str(frame)
        async for _ in ws:  # hold the socket open until the client closes it
            pass
        return ws

    server_app = web.Application()
    server_app.router.add_get("/ari/events", handler)
    runner = web.AppRunner(server_app, access_log=None)  # the peer's log isn't ours to check
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    password = "s3cret-Pa55"
    log_file = tmp_path / "events.jsonl"
    router = EventRouter()
    sub = router.subscription()
    sub.add_channel("ch-1")
    caplog.set_level(logging.DEBUG)
    try:
        async with EventConnection(
            f"http://127.0.0.1:{port}",
            "callback",
            password,
            "junk-app",
            on_event=router.dispatch,
            log_file=str(log_file),
        ) as conn:
            await conn.wait_connected(5)
            got = [await sub.next(5) for _ in range(3)]
            assert [e.type for e in got] == ["StasisStart", "SomethingNew", "ChannelDestroyed"]
            assert isinstance(got[1], UnknownEvent) and got[1].raw["type"] == "SomethingNew"
            assert conn.stats.events == 3
            assert conn.stats.unknown_events == 1
            assert conn.stats.malformed == 4
    finally:
        await runner.cleanup()
    assert requests == [{"app": "junk-app", "api_key": f"callback:{password}"}]
    assert log_file.read_text(encoding="utf-8").splitlines() == FRAMES
    assert password not in caplog.text
    assert "malformed" in caplog.text


async def test_asterisk_down_at_start(peer: Peer, app_name: str) -> None:
    """Nothing listens: REST says unreachable (nothing was sent), the socket keeps retrying without
    crashing, and connects once Asterisk is there."""
    port = free_port()
    down = f"http://127.0.0.1:{port}"
    async with AriClient(down, peer.user, peer.password, timeout=2, read_retries=1) as ari:
        with pytest.raises(AriUnreachable):
            await ari.asterisk_info()
        with pytest.raises(AriUnreachable) as err:
            await ari.originate(peer.endpoint("sim-answer"), channel_id="ct-down", app=app_name)
        assert not isinstance(err.value, AriOutcomeUnknown)
        assert err.value.status is None

    connects = 0

    async def on_connect() -> None:
        nonlocal connects
        connects += 1

    async with EventConnection(
        down,
        peer.user,
        peer.password,
        app_name,
        on_event=lambda e: None,
        on_connect=on_connect,
        backoff_initial=0.02,
        backoff_max=0.1,
    ) as conn:
        await eventually(lambda: conn.stats.connect_failures >= 3, what="retries")
        assert not conn.connected
        assert conn.state in {"connecting", "backoff"}
        host, upstream = peer.host_port
        async with TcpProxy(host, upstream, port=port):  # "Asterisk" comes up on that port
            await conn.wait_connected(10)
            await eventually(lambda: connects == 1, what="on_connect")
            assert conn.stats.reconnects == 0


async def test_log_file_lines_are_frames_as_received(
    tmp_path: Path, ari: AriClient, peer: Peer, app_name: str, channel_id: str, hangup_later: list[str]
) -> None:
    log_file = tmp_path / "events.jsonl"
    router = EventRouter()
    sub = router.subscription()
    sub.add_channel(channel_id)
    hangup_later.append(channel_id)
    async with EventConnection(
        peer.base_url, peer.user, peer.password, app_name, on_event=router.dispatch, log_file=str(log_file)
    ) as conn:
        await conn.wait_connected(5)
        await ari.originate(peer.endpoint("sim-answer"), channel_id=channel_id, app=app_name, timeout=20)
        await wait_for_event(sub, StasisStart)
        await ari.hangup(channel_id)
        await wait_for_event(sub, ChannelDestroyed)
        received = conn.stats.events
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert len(lines) == received
    types = [json.loads(line)["type"] for line in lines]
    assert "StasisStart" in types and "ChannelDestroyed" in types


async def test_the_events_socket_takes_no_compression_even_when_offered(peer: Peer, app_name: str) -> None:
    """Asterisk's WebSocket server accepts no extension: a client offering permessage-deflate (as the
    websockets library does by default) gets plain frames. Our client doesn't offer it either."""
    from urllib.parse import quote

    from websockets.asyncio.client import connect

    scheme, rest = peer.base_url.split("://", 1)
    key = f"{quote(peer.user, safe='')}:{quote(peer.password, safe='')}"
    url = f"{'wss' if scheme == 'https' else 'ws'}://{rest}/ari/events?app={app_name}&api_key={key}"
    async with connect(url, proxy=None) as ws:  # the library's default offer
        assert "permessage-deflate" in (ws.request.headers.get("Sec-WebSocket-Extensions") or "")
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
    seen: list[str | None] = []
    conn = EventConnection(peer.base_url, peer.user, peer.password, app_name, on_event=lambda _e: None)
    async with conn:
        await conn.wait_connected(5)
        assert conn._ws is not None
        seen.append(conn._ws.request.headers.get("Sec-WebSocket-Extensions"))
    assert seen == [None]
