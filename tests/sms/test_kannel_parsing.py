"""Kannel's dlr-url and get-url: what we build, and what we accept back (without the daemons)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from ari_app.errors import ValidationFailed
from ari_app.sms.gateway import InboundAuthError
from ari_app.sms.kannel import (
    dlr_signature,
    kannel_dlr_url,
    kannel_sms_service_url,
    parse_kannel_dlr,
    parse_kannel_inbound,
)

SECRET = "s3cret-Token_x"


def test_dlr_url_carries_key_signature_and_kannel_escapes() -> None:
    url = kannel_dlr_url("http://cb.example/sms/dlr", "ob-1", SECRET)
    assert url == f"http://cb.example/sms/dlr?key=ob-1&sig={dlr_signature(SECRET, 'ob-1')}&type=%d&reply=%A"


@pytest.mark.parametrize("key", ["", "has space", "percent%41", "a&b=c", "x" * 201])
def test_dlr_url_refuses_keys_kannel_would_mangle(key: str) -> None:
    with pytest.raises(ValueError, match="idempotency_key"):
        kannel_dlr_url("http://cb.example/sms/dlr", key)


@pytest.mark.parametrize(
    ("dlr_type", "status", "reason"),
    [
        ("1", "delivered", ""),
        ("2", "failed", "NACK/0x0000000b/Invalid Destination Address"),
        ("4", "queued", ""),
        ("8", "sent", ""),
        ("16", "failed", "NACK/0x0000000b/Invalid Destination Address"),
    ],
)
def test_dlr_types(dlr_type: str, status: str, reason: str) -> None:
    reply = quote("NACK/0x0000000b/Invalid Destination Address") if status == "failed" else "ACK%2F"
    query = f"key=ob-1&sig={dlr_signature(SECRET, 'ob-1')}&type={dlr_type}&reply={reply}"
    report = parse_kannel_dlr(query, SECRET)
    assert (report.idempotency_key, report.status, report.reason) == ("ob-1", status, reason)


def test_dlr_rejected_without_reply_still_has_a_reason() -> None:
    report = parse_kannel_dlr({"key": "ob-1", "type": "16", "reply": ""})
    assert report.reason == "rejected by the SMSC"


def test_dlr_with_a_forged_signature_is_refused() -> None:
    with pytest.raises(InboundAuthError):
        parse_kannel_dlr(f"key=ob-2&sig={dlr_signature(SECRET, 'ob-1')}&type=1", SECRET)
    with pytest.raises(InboundAuthError):
        parse_kannel_dlr("key=ob-2&type=1", SECRET)


@pytest.mark.parametrize("query", ["type=1", "key=ob-1&type=3", "key=ob-1&type=x", "key=ob-1"])
def test_malformed_dlr_is_a_validation_error(query: str) -> None:
    with pytest.raises(ValidationFailed):
        parse_kannel_dlr(query)


def test_sms_service_url_asks_for_sender_receiver_text_and_charset() -> None:
    assert kannel_sms_service_url("http://cb.example/sms/inbound", SECRET) == (
        f"http://cb.example/sms/inbound?secret={SECRET}&from=%p&to=%P&text=%a&coding=%c&charset=%C"
    )
    with pytest.raises(ValueError, match="secret"):
        kannel_sms_service_url("http://cb.example/sms/inbound", "has%escape")


def test_inbound_with_a_wrong_or_missing_secret_is_refused() -> None:
    query = "secret=nope&from=%2B15551234567&to=%2B15550100&text=STOP&coding=0&charset=UTF-8"
    with pytest.raises(InboundAuthError):
        parse_kannel_inbound(query, SECRET)
    with pytest.raises(InboundAuthError):
        parse_kannel_inbound(query.replace("secret=nope&", ""), SECRET)
    with pytest.raises(InboundAuthError, match="no inbound secret"):
        parse_kannel_inbound("secret=&from=%2B1&text=STOP", "")


def test_inbound_utf8_and_ucs2_texts() -> None:
    plain = f"secret={SECRET}&from=%2B15551234567&to=%2B15550100&text=Caf%C3%A9+ok&coding=0&charset=UTF-8"
    assert parse_kannel_inbound(plain, SECRET).text == "Café ok"
    ucs2 = quote("Zoë 😀".encode("utf-16-be"))
    query = f"secret={SECRET}&from=%2B15551234567&to=%2B15550100&text={ucs2}&coding=2&charset=UTF-16BE"
    assert parse_kannel_inbound(query, SECRET).text == "Zoë 😀"
