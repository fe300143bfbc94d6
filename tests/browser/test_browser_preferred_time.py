"""The lead picks a time in real Chromium, by keyboard, in a browser whose zone (Tokyo) is not the business's
(New York): the times are shown in Tokyo time, narrowed to the New Jersey number's quiet hours once it is
typed; the confirmation, the board and the contact page show the chosen time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from browserkit import Stack, admin_login, screenshot
from playwright.async_api import Browser, expect
from sqlalchemy import select

from ari_app.store.models import Attempt, CallbackRequest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Wednesday 4 March 2026, 14:00 in New York = Thursday 04:00 in Tokyo: allowed for a New Jersey number,
# never offered under Tokyo's own quiet hours (so seeing it means the number's rules were applied).
CHOSEN = "2026-03-04T19:00:00+00:00"
MAX_KEYS = 200


async def test_a_lead_in_tokyo_picks_a_time_by_keyboard_and_everyone_sees_it(
    stack: Stack, browser: Browser
) -> None:
    context = await browser.new_context(
        viewport={"width": 1280, "height": 860}, timezone_id="Asia/Tokyo", service_workers="block"
    )
    try:
        page = await context.new_page()
        page.set_default_timeout(20_000)
        await page.goto(f"{stack.web}/")
        when = page.get_by_label("When should we call?")
        # The page came in New York time; the script asks again in the browser's zone.
        await expect(when).to_have_attribute("data-zone", "Asia/Tokyo")
        await expect(page.locator("#preferred_at-zone")).to_have_text("Times are in Tokyo time (JST).")
        await expect(when.locator(f"option[value='{CHOSEN}']")).to_have_count(0)  # 04:00 in Tokyo

        await page.get_by_label("First name", exact=True).fill("Yuki")
        await page.get_by_label("Last name", exact=True).fill("Tanaka")
        await page.get_by_label("Phone", exact=True).fill("(201) 555-0188")
        await page.get_by_label("Reason", exact=True).fill("A quote for the bathroom.")
        await page.get_by_label("Reason", exact=True).focus()
        await page.keyboard.press("Tab")  # leaving the number asks for its own hours
        await expect(when).to_be_focused()
        await expect(when.locator(f"option[value='{CHOSEN}']")).to_have_text("Thu 5 Mar, 4:00 AM")
        await expect(when).to_have_value("")  # as soon as possible until the lead picks
        for _ in range(MAX_KEYS):
            if await when.input_value() == CHOSEN:
                break
            await page.keyboard.press("ArrowDown")
        await expect(when).to_have_value(CHOSEN)
        await page.keyboard.press("Tab")
        await page.keyboard.press("Space")
        await expect(page.get_by_role("checkbox")).to_be_checked()
        await screenshot(page, "form-time-chosen")
        await page.keyboard.press("Tab")
        await page.keyboard.press("Tab")
        await page.keyboard.press("Enter")

        await expect(page.get_by_role("status")).to_have_text(
            "We'll call you on Thu 5 Mar at 4:00 AM Tokyo time (JST), the time you chose."
        )
        services = stack.runtime.services
        assert services is not None
        async with services.sessions() as session:
            request = await session.scalar(select(CallbackRequest))
            attempt = await session.scalar(select(Attempt))
        assert request is not None and attempt is not None
        assert request.preferred_at == datetime.fromisoformat(CHOSEN).astimezone(UTC)
        assert request.preferred_tz == "Asia/Tokyo" and attempt.due_at == request.preferred_at

        await admin_login(stack, page)
        shown = "Wed 4 Mar, 14:00 EST (lead: Thu 5 Mar, 04:00 JST)"
        await expect(page.locator("[data-preferred]")).to_have_text(shown)
        await page.get_by_role("link", name="Yuki Tanaka").click()
        await expect(page.get_by_text(shown)).to_have_count(1)
        await screenshot(page, "contact-time-chosen")
    finally:
        await context.close()
