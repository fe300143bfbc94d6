"""Helpers and fixtures for the browser tests (re-exported by conftest.py; a module name of its own, so
``from browserkit import …`` never finds another folder's conftest).

Real headless Chromium (Debian's, never a downloaded one) against the whole stack of tests/e2e: the ARI
simulator plays the calls, the app runs web + worker on a virtual clock. A second server on another port
is "the customer's site" that embeds the form.

Screenshots go to ``test-artifacts/``; with ``CALLBACK_UPDATE_SCREENSHOTS=1`` they are also copied to
``docs/screenshots/`` (the current ones, committed on purpose).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Page, Request, async_playwright

_E2E = Path(__file__).resolve().parents[1] / "e2e"
if str(_E2E) not in sys.path:
    sys.path.insert(0, str(_E2E))

from e2ekit import REPO, Stack, stack  # noqa: E402

from ari_app.web.dashboard_auth import add_user  # noqa: E402

__all__ = ["Stack", "stack"]

CHROMIUM = "/usr/bin/chromium"
# Keep Chromium off the network it would otherwise call home to (FIELD-NOTES: Browser).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = REPO / "test-artifacts"
DOCS_SHOTS = REPO / "docs" / "screenshots"
ADMIN = "ops"
ADMIN_PASSWORD = "a long test password"
UI_TIMEOUT_MS = 20_000  # bounds every wait on the page (wall time)


@pytest.fixture
async def host_site() -> AsyncIterator[dict[str, str]]:
    """Another origin (its own port) with a page that embeds the form; the stack's URL is filled in later."""
    state: dict[str, str] = {"embed_src": ""}

    async def page(request: web.Request) -> web.Response:
        html = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Acme Plumbing</title>
<style>body{{font-family:Georgia,serif;margin:0;background:#fbf7f0;color:#2b2118}}
header{{background:#7a3e12;color:#fff;padding:1rem 2rem}}
main{{display:flex;flex-wrap:wrap;gap:2rem;padding:2rem}}
article{{flex:1 1 18rem}} #callback{{flex:1 1 20rem}}</style></head>
<body><header><h1>Acme Plumbing</h1></header><main><article><h2>Leaking tap?</h2>
<p>Leave your number and one of our plumbers calls you back.</p></article>
<div id="callback"></div></main>
<script src="{state["embed_src"]}" data-target="#callback" async></script></body></html>"""
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state["origin"] = f"http://127.0.0.1:{port}"
    state["url"] = f"http://127.0.0.1:{port}/"
    try:
        yield state
    finally:
        await runner.cleanup()


@pytest.fixture
def stack_overrides(host_site: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {
        "web": {"cors_origins": [host_site["origin"]], "frame_ancestors": ["'self'", host_site["origin"]]},
        "business": {"name": "Acme Plumbing", "privacy_url": "/privacy"},
        "calendar": {"first_call_delay": 60.0},
    }


@pytest.fixture
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)", pytrace=False)
    return CHROMIUM


@pytest.fixture
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


class Watched:
    """A browser context that refuses (and records) every request leaving loopback."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.requested: list[str] = []
        self.dialogs: list[str] = []

    def _seen(self, request: Request) -> None:
        self.requested.append(request.url)

    async def page(self) -> Page:
        page = await self.context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        page.on("request", self._seen)

        async def dialog(d: Any) -> None:
            self.dialogs.append(d.message)
            await d.dismiss()

        page.on("dialog", dialog)
        return page

    def foreign_requests(self) -> list[str]:
        return [u for u in self.requested if urlsplit(u).hostname not in ("127.0.0.1", None)]


@pytest.fixture
async def watched(browser: Browser) -> AsyncIterator[Watched]:
    context = await browser.new_context(viewport={"width": 1280, "height": 860}, service_workers="block")

    async def only_loopback(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            await route.abort()

    await context.route("**/*", only_loopback)
    try:
        yield Watched(context)
    finally:
        await context.close()


async def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    if os.environ.get("CALLBACK_UPDATE_SCREENSHOTS") == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SHOTS / path.name)
    return path


async def admin_login(stack: Stack, page: Page) -> None:
    services = stack.runtime.services
    assert services is not None
    await add_user(services.sessions, ADMIN, ADMIN_PASSWORD)
    await page.goto(f"{stack.web}/admin/")
    await page.get_by_label("Username").fill(ADMIN)
    await page.get_by_label("Password").fill(ADMIN_PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("heading", name="Pipeline").wait_for()
