"""The embeddable form in real Chromium: on another site, by keyboard alone, on a phone screen."""

from __future__ import annotations

from typing import Any

import pytest
from browserkit import Stack, Watched, screenshot
from playwright.async_api import expect
from sqlalchemy import select

from ari_app.store.models import CallbackRequest, Consent, Contact

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def _stored(stack: Stack, phone: str) -> tuple[CallbackRequest, Consent]:
    services = stack.runtime.services
    assert services is not None
    async with services.sessions() as session:
        row = (
            await session.execute(
                select(CallbackRequest, Consent)
                .join(Contact, Contact.id == CallbackRequest.contact_id)
                .join(Consent, Consent.request_id == CallbackRequest.id)
                .where(Contact.phone == phone)
            )
        ).one()
    return row[0], row[1]


async def test_the_form_embedded_in_another_site_is_submitted(
    stack: Stack, host_site: dict[str, str], watched: Watched
) -> None:
    host_site["embed_src"] = f"{stack.web}/embed.js"
    page = await watched.page()
    await page.goto(host_site["url"])
    form = page.frame_locator("iframe[title='Request a callback']")
    await form.get_by_label("First name", exact=True).fill("Grace")
    await form.get_by_label("Last name", exact=True).fill("Hopper")
    await form.get_by_label("Phone", exact=True).fill("(202) 555-0142")
    await form.get_by_label("Reason", exact=True).fill("The kitchen tap drips all night.")
    when = form.get_by_label("When should we call?")
    await expect(when).to_have_value("")  # as soon as possible unless the lead picks a time
    await expect(when.locator("optgroup")).to_have_count(3)  # the next three days with times
    consent = form.get_by_role("checkbox")
    await expect(consent).not_to_be_checked()
    await consent.check()
    await screenshot(page, "embed-filled")
    await form.get_by_role("button", name="Call me back").click()

    await expect(form.get_by_role("status")).to_contain_text("We'll call you today at")
    await screenshot(page, "embed-confirmation")
    request, consent_row = await _stored(stack, "+12025550142")
    assert request.source == "form" and request.page_url == host_site["url"]
    assert consent_row.page_url == host_site["url"] and "STOP" in consent_row.text
    assert watched.foreign_requests() == []


async def test_errors_are_announced_and_the_form_is_sent_by_keyboard_alone(
    stack: Stack, watched: Watched
) -> None:
    page = await watched.page()
    await page.goto(f"{stack.web}/")
    # Submit the empty form with the keyboard: every error is shown next to its field, and announced.
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("First name", exact=True)).to_be_focused()
    for _ in range(6):  # last name, phone, reason, when to call, consent, privacy link
        await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Call me back")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("alert")).to_have_text("Please correct the fields marked below.")
    for field in ("First name", "Last name", "Phone", "Reason"):
        await expect(page.get_by_label(field, exact=True)).to_have_attribute("aria-invalid", "true")
    await expect(
        page.get_by_label("First name", exact=True)
    ).to_be_focused()  # taken to the first field to fix
    await screenshot(page, "form-errors")

    await page.keyboard.type("Alan")
    await page.keyboard.press("Tab")
    await page.keyboard.type("Turing")
    await page.keyboard.press("Tab")
    await page.keyboard.type("202 555 0177")
    await page.keyboard.press("Tab")
    await page.keyboard.type("Boiler makes a noise.")
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("When should we call?")).to_be_focused()  # as soon as possible: left
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("checkbox")).to_be_focused()
    await page.keyboard.press("Space")
    await expect(page.get_by_role("checkbox")).to_be_checked()
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")

    await expect(page.get_by_role("status")).to_contain_text("We'll call you")
    request, _ = await _stored(stack, "+12025550177")
    assert request.reason == "Boiler makes a noise."
    assert watched.foreign_requests() == []


async def test_the_form_fits_a_phone_screen(stack: Stack, browser: Any) -> None:
    context = await browser.new_context(
        viewport={"width": 375, "height": 740}, device_scale_factor=1, is_mobile=True, has_touch=True
    )
    try:
        page = await context.new_page()
        await page.goto(f"{stack.web}/")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375  # no sideways scrolling
        box = await page.get_by_role("button", name="Call me back").bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] >= 40  # easy to tap
        await screenshot(page, "form-phone")
    finally:
        await context.close()
