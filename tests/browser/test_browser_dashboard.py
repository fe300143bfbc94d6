"""The dashboard in real Chromium while the simulator plays the calls."""

from __future__ import annotations

import pytest
from browserkit import Stack, Watched, admin_login, screenshot
from playwright.async_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

XSS = "<img src=x onerror=alert(1)>"


async def test_the_admin_watches_a_card_move_from_pending_to_complete(stack: Stack, watched: Watched) -> None:
    phone = "+12025550123"
    # The lead answers after 5 s and talks for 5 minutes (about 3 s of wall time at the stack's speed).
    await stack.scenario([{"match": phone, "behaviour": "answer", "answer_after": 5.0, "talk": 300.0}])
    page = await watched.page()
    await admin_login(stack, page)
    await expect(page.locator("[data-live-status]")).to_have_text("Live")

    await stack.submit(phone, "Ada", "Lovelace", "Quote for a new roof")
    pending = page.locator('[data-stage="pending"] .card', has_text="Ada Lovelace")
    await expect(pending).to_be_visible()  # arrived without a reload
    await expect(pending).to_contain_text("+1 202 ••• 0123")
    await expect(pending.locator("[data-live-state]")).to_have_text("On the call")
    await screenshot(page, "board-live-call")

    done = page.locator('[data-stage="complete"] .card', has_text="Ada Lovelace")
    await expect(done).to_be_visible(timeout=30_000)
    await expect(done.locator("[data-outcome]")).to_have_text("Connected")
    await expect(page.locator('[data-stage="pending"] .card')).to_have_count(0)
    await screenshot(page, "board")

    await done.get_by_role("link", name="Ada Lovelace").click()
    await expect(page.get_by_role("heading", name="Ada Lovelace")).to_be_visible()
    await expect(page.locator(".kind-attempt").first).to_contain_text("Connected")
    await expect(page.locator(".kind-consent")).to_contain_text("Consent given")
    await screenshot(page, "contact", full_page=False)
    evidence = page.locator(".kind-attempt details").first
    await evidence.locator("summary").click()
    await expect(evidence).to_contain_text("at_dial.allowed")

    await page.get_by_role("link", name="Report").click()
    await expect(page.get_by_role("img", name="Requests per day")).to_be_visible()
    await screenshot(page, "report")
    assert watched.foreign_requests() == []


async def test_a_name_made_of_html_is_shown_as_text(stack: Stack, watched: Watched) -> None:
    phone = "+12025550188"
    await stack.scenario([{"match": phone, "behaviour": "busy"}])
    contact_request = await stack.submit(phone, XSS, "<b>Bold</b>", f"{XSS} call me")
    page = await watched.page()
    await admin_login(stack, page)
    card = page.locator(".card", has_text=XSS)
    await expect(card.get_by_role("link", name=XSS)).to_be_visible()
    await expect(card).to_contain_text("<b>Bold</b>")
    assert await page.locator("main img").count() == 0
    await card.get_by_role("link", name=XSS).click()
    await expect(page.get_by_role("heading", name=f"{XSS} <b>Bold</b>")).to_be_visible()
    await expect(page.get_by_text(f"{XSS} call me").first).to_be_visible()
    assert await page.locator("main img, main b").count() == 0
    assert watched.dialogs == []  # no alert() ran
    assert contact_request > 0
