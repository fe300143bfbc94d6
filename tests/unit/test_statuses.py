"""The statuses are stored in rows and answered in the API: their strings must never change."""

from __future__ import annotations

import json

from ari_app.domain.statuses import (
    CLOSABLE_REQUEST_STATUSES,
    CLOSED_REQUEST_STATUSES,
    LEASED_ATTEMPT_STATUSES,
    OPEN_REQUEST_STATUSES,
    UNFINISHED_ATTEMPT_STATUSES,
    AttemptStatus,
    LegStatus,
    RequestStatus,
    SmsStatus,
    WebhookStatus,
)


def test_the_stored_strings_are_the_ones_existing_rows_hold() -> None:
    assert list(RequestStatus) == ["pending", "calling", "completed", "incomplete", "cancelled"]
    assert list(AttemptStatus) == ["scheduled", "claimed", "running", "done", "cancelled"]
    assert list(LegStatus) == ["intent", "requested", "dial_unknown", "ringing", "up", "bridged", "ended"]
    assert list(SmsStatus) == ["queued", "sending", "sent", "delivered", "failed", "cancelled"]
    assert list(WebhookStatus) == ["pending", "delivered", "failed"]


def test_a_status_is_written_to_json_as_its_plain_string() -> None:
    assert json.dumps({"status": RequestStatus.PENDING}) == '{"status": "pending"}'
    assert f"{AttemptStatus.RUNNING}" == "running"


def test_a_request_is_open_or_closed_and_an_incomplete_one_can_still_be_closed() -> None:
    assert OPEN_REQUEST_STATUSES | CLOSED_REQUEST_STATUSES == set(RequestStatus)
    assert not OPEN_REQUEST_STATUSES & CLOSED_REQUEST_STATUSES
    assert CLOSABLE_REQUEST_STATUSES - OPEN_REQUEST_STATUSES == {RequestStatus.INCOMPLETE}


def test_an_unfinished_attempt_is_scheduled_or_held_by_a_lease() -> None:
    assert UNFINISHED_ATTEMPT_STATUSES == {"scheduled", "claimed", "running"}
    assert LEASED_ATTEMPT_STATUSES == {"claimed", "running"}
