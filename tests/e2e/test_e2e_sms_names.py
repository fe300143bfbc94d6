"""A name typed on the public form, end to end: form → schedule → worker → ARI simulator → the texts the
gateway was actually asked to send. A "name" that is a link or an address goes into no text; a real name
does, as typed."""

from __future__ import annotations

import pytest
from e2ekit import Stack
from sqlalchemy import select

from ari_app.store.models import CallbackRequest, Contact

pytestmark = pytest.mark.e2e

ATTACK_NAME = 'Ada" <sip:evil@10.0.0.1>'
ATTACK_REASON = "Your parcel is waiting: http://x.co/parcel"


async def submit_form(stack: Stack, phone: str, first: str, reason: str) -> int:
    form = {"first_name": first, "last_name": "Lovelace", "phone": phone, "reason": reason, "consent": "yes"}
    async with stack.http.post(f"{stack.web}/request", data=form) as resp:
        page = await resp.text()
        assert resp.status == 200, page
    services = stack.runtime.services
    assert services is not None
    async with services.sessions() as session:
        request_id = await session.scalar(
            select(CallbackRequest.id).join(Contact).where(Contact.phone == phone)
        )
    assert request_id is not None
    return int(request_id)


def texts_to(stack: Stack, phone: str) -> list[str]:
    assert stack.sms is not None
    return [m.body for m in stack.sms.sent if m.to == phone]


async def test_the_texts_use_a_real_name_and_never_a_link_typed_as_one(stack: Stack) -> None:
    attacked, zoe = "+12025550141", "+12025550142"
    await stack.scenario(
        [
            {"match": attacked, "sequence": [{"behaviour": "noanswer"}, {"behaviour": "answer", "talk": 30}]},
            {"match": zoe, "behaviour": "answer", "answer_after": 2.0, "talk": 30.0},
        ]
    )
    attacked_id = await submit_form(stack, attacked, ATTACK_NAME, ATTACK_REASON)
    zoe_id = await submit_form(stack, zoe, "Zoë", "New gutters")

    assert await stack.wait_request(attacked_id) == "completed"
    assert await stack.wait_request(zoe_id) == "completed"
    business = stack.settings.business.name

    missed, thanks = texts_to(stack, attacked)
    assert missed.startswith(f"Sorry we missed you. {business} will call again ")
    assert thanks == f"Thanks, it was good to talk to you. - {business}"
    for text in (missed, thanks):
        for fragment in ("Ada", "sip:", "evil", "10.0.0.1", "<", '"', "x.co", "parcel"):
            assert fragment not in text
    # The name is kept as typed for the people who run the business.
    contact = await stack.contact((await stack.state(attacked_id))["contact_id"])
    assert contact["first_name"] == ATTACK_NAME

    assert texts_to(stack, zoe) == [f"Thanks Zoë, it was good to talk to you. - {business}"]
