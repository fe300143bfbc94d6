"""Labelling a call and reading AMD's report in real Chromium, keyboard only, while the simulator plays the
call: the final attempt reaches a voicemail box, the admin says what answered, the report counts it."""

from __future__ import annotations

from typing import Any

import pytest
from browserkit import Stack, Watched, admin_login, screenshot
from playwright.async_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def stack_overrides() -> dict[str, dict[str, Any]]:
    # The first attempt is the final one: AMD runs and a machine gets the voicemail drop.
    return {"calls": {"max_attempts": 1}, "business": {"name": "Acme Plumbing"}}


async def test_the_admin_labels_a_call_by_keyboard_and_the_report_counts_it(
    stack: Stack, watched: Watched
) -> None:
    phone = "+12025550177"
    await stack.scenario([{"match": phone, "behaviour": "machine", "greeting": 4.0, "beep": 1.0}])
    await stack.submit(phone, "Grace", "Hopper", "Boiler service")
    page = await watched.page()
    await admin_login(stack, page)

    card = page.locator('[data-stage="incomplete"] .card', has_text="Grace Hopper")
    await expect(card.locator("[data-outcome]")).to_have_text("Voicemail left", timeout=30_000)
    # One tap on the board, by keyboard: focus the button and press Enter.
    person = card.get_by_role("button", name="A person")
    await person.focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_contain_text("Label saved")
    card = page.locator('[data-stage="incomplete"] .card', has_text="Grace Hopper")
    await expect(card.get_by_role("button", name="A person")).to_have_attribute("aria-pressed", "true")

    # The contact page says what AMD said, and a second label replaces the first.
    await card.get_by_role("link", name="Grace Hopper").click()
    attempt = page.locator(".kind-attempt").first
    await expect(attempt).to_contain_text("AMD said")
    await expect(attempt).to_contain_text("a machine (a long greeting: 1500 ms, limit 1500 ms)")
    await expect(attempt).to_contain_text("started after the beep")
    machine = attempt.get_by_role("button", name="A machine")
    await machine.focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_contain_text("Label saved")
    attempt = page.locator(".kind-attempt").first
    await expect(attempt.get_by_role("button", name="A machine")).to_have_attribute("aria-pressed", "true")
    await expect(attempt).to_contain_text("A machine, said by")
    await expect(page.locator(".kind-note", has_text="(was labelled person)")).to_be_visible()
    await screenshot(page, "contact-amd-label", full_page=False)

    await page.get_by_role("link", name="Report").click()
    table = page.locator("[data-amd-report]")
    await expect(table).to_be_visible()
    row = table.locator('tr[data-route="trunk"]')
    await expect(row.locator("[data-labelled]")).to_contain_text("1 (people: 0, machines: 1)")
    await expect(row.locator('[data-share="correct"]')).to_contain_text("1 of 1")
    await expect(row.locator('[data-share="correct"]')).to_contain_text("too few for a percentage")
    # The period is chosen with the keyboard too: a day with no calls shows none.
    await page.get_by_label("From").fill("2026-02-01")
    await page.get_by_label("To").fill("2026-02-02")
    await page.get_by_label("To").press("Enter")
    await expect(page.locator("[data-amd-empty]")).to_be_visible()
    await page.get_by_role("link", name="Report").click()
    await expect(table).to_be_visible()
    await screenshot(page, "report-amd")
    assert watched.foreign_requests() == []
