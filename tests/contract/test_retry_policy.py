"""The one retry policy, against a tiny raw HTTP peer that misbehaves on purpose.

Reads are retried; anything that changes state is sent once, and a lost answer says so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from ari_app.ari import AriClient, AriOutcomeUnknown, AriServerError, AriUnreachable

Behaviour = Callable[[web.Request, int], Awaitable[web.StreamResponse]]


class Peer:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.behaviour: Behaviour | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.method, request.path))
        assert self.behaviour is not None
        return await self.behaviour(request, len(self.seen))


@pytest.fixture
async def flaky() -> AsyncIterator[Peer]:
    peer = Peer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", peer.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    peer.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        yield peer
    finally:
        await runner.cleanup()


async def _drop_first(request: web.Request, n: int) -> web.StreamResponse:
    if n == 1:
        assert request.transport is not None
        request.transport.abort()  # the answer is lost
        return web.Response(status=204)
    return web.json_response({"id": "c1", "name": "PJSIP/trunk-1", "state": "Up", "system": {}})


async def _unavailable_first(request: web.Request, n: int) -> web.StreamResponse:
    if n == 1:
        return web.json_response({"message": "Service Unavailable"}, status=503)
    return web.json_response({"id": "c1", "name": "PJSIP/trunk-1", "state": "Up"})


async def _always_drop(request: web.Request, n: int) -> web.StreamResponse:
    assert request.transport is not None
    request.transport.abort()
    return web.Response(status=204)


async def _pong(request: web.Request, n: int) -> web.StreamResponse:
    return web.json_response({"ping": "pong"})


async def test_reads_are_retried_after_a_lost_answer_or_a_503(flaky: Peer) -> None:
    async with AriClient(flaky.url, "u", "p", timeout=5) as ari:
        flaky.behaviour = _drop_first
        assert (await ari.get_channel("c1")).state == "Up"
        assert flaky.seen == [("GET", "/ari/channels/c1")] * 2
        flaky.seen.clear()
        flaky.behaviour = _unavailable_first
        assert (await ari.get_channel("c1")).id == "c1"
        assert len(flaky.seen) == 2


async def test_state_changes_are_sent_once_and_a_lost_answer_is_unknown(flaky: Peer) -> None:
    flaky.behaviour = _pong
    async with AriClient(flaky.url, "u", "p", timeout=5) as ari:
        await ari.ping()  # a kept-alive connection for the next request to reuse
        flaky.seen.clear()
        flaky.behaviour = _always_drop
        with pytest.raises(AriOutcomeUnknown) as err:
            await ari.originate("PJSIP/x@trunk", channel_id="c1", app="a")
        assert err.value.operation == "originate"
        with pytest.raises(AriOutcomeUnknown):
            await ari.dial("c1", timeout=10)
    assert flaky.seen == [("POST", "/ari/channels"), ("POST", "/ari/channels/c1/dial")]


async def test_a_server_error_on_a_state_change_is_not_retried(flaky: Peer) -> None:
    flaky.behaviour = _unavailable_first
    async with AriClient(flaky.url, "u", "p", timeout=5) as ari:
        with pytest.raises(AriServerError) as err:
            await ari.create_channel("PJSIP/x@trunk", channel_id="c1", app="a")
    assert err.value.status == 503 and not err.value.allocation_failed
    assert flaky.seen == [("POST", "/ari/channels/create")]


async def test_reads_give_up_as_unreachable_after_their_retries(flaky: Peer) -> None:
    flaky.behaviour = _always_drop
    async with AriClient(flaky.url, "u", "p", timeout=5, read_retries=2) as ari:
        with pytest.raises(AriUnreachable):
            await ari.list_channels()
    # Our 1 + 2 tries; aiohttp may add its own one immediate re-send per try for GET (see client.py).
    assert len(flaky.seen) >= 3 and {m for m, _ in flaky.seen} == {"GET"}
