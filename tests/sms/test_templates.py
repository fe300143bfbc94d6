"""Message texts: defaults, operator overrides, the sandbox, and what a text costs in segments."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ari_app.errors import ConfigError, ValidationFailed
from ari_app.sms.templates import MessageKind, encoding_info, render

CONTEXT = {"first_name": "Ann", "business": "Example Co", "when": "tomorrow at 10:00"}


def test_missed_call_default_text() -> None:
    assert render("missed_call", CONTEXT) == (
        "Sorry we missed you, Ann. Example Co will call again tomorrow at 10:00. Reply STOP to opt out."
    )


def test_missed_call_without_a_first_name_reads_naturally() -> None:
    text = render(MessageKind.missed_call, {**CONTEXT, "first_name": ""})
    assert text.startswith("Sorry we missed you. Example Co")


@pytest.mark.parametrize("kind", list(MessageKind))
def test_every_default_renders_as_one_gsm7_segment(kind: MessageKind) -> None:
    text = render(kind, {**CONTEXT, "callback_number": "+1 555 0100"})
    assert "{{" not in text
    assert encoding_info(text) == ("GSM-7", 1)


@pytest.mark.parametrize(
    "kind",
    [MessageKind.missed_call, MessageKind.final_miss, MessageKind.help, MessageKind.preferred_time_moved],
)
def test_messages_that_start_a_conversation_say_how_to_opt_out(kind: MessageKind) -> None:
    assert "Reply STOP" in render(kind, CONTEXT)


@pytest.mark.parametrize(
    "name", ["{{ 7*7 }}", "{% for x in range(3) %}x{% endfor %}", "{{ ''.__class__.__mro__ }}"]
)
def test_template_syntax_in_a_name_is_neither_run_nor_texted(name: str) -> None:
    text = render("confirmation", {**CONTEXT, "first_name": name})
    assert text == "Thanks, it was good to talk to you. - Example Co"


# What each default text says when the name typed on the form is not a name: no name, and no gap where it was.
WITHOUT_A_NAME = {
    MessageKind.missed_call: "Sorry we missed you. Example Co will call again tomorrow at 10:00. "
    "Reply STOP to opt out.",
    MessageKind.final_miss: "Sorry we missed you. Call Example Co back at +1 555 0100 when it suits you. "
    "Reply STOP to opt out.",
    MessageKind.confirmation: "Thanks, it was good to talk to you. - Example Co",
    MessageKind.preferred_time_moved: "Example Co: sorry, we can't call at the time you chose. "
    "We will call you tomorrow at 10:00 instead. Reply STOP to opt out.",
}


@pytest.mark.parametrize("kind", list(WITHOUT_A_NAME))
@pytest.mark.parametrize(
    "name", ['Ada" <sip:evil@10.0.0.1>', "Visit http://x.co", "bit.ly/abc", "a@b.com", "Call 5551234"]
)
def test_a_name_that_is_not_a_name_is_left_out_and_the_text_reads_naturally(
    kind: MessageKind, name: str
) -> None:
    context = {**CONTEXT, "first_name": name, "callback_number": "+1 555 0100"}
    assert render(kind, context) == WITHOUT_A_NAME[kind]


@pytest.mark.parametrize("name", ["Zoë", "O'Neil", "Nguyễn", "李", "José María"])
def test_a_real_name_is_texted(name: str) -> None:
    assert render("confirmation", {**CONTEXT, "first_name": name}).startswith(f"Thanks {name}, it was")


def test_an_operator_template_gets_the_same_rule_for_both_names() -> None:
    overrides = {"confirmation": "Hi{% if first_name %} {{ first_name }} {{ last_name }}{% endif %}!"}
    context = {**CONTEXT, "first_name": "Ada", "last_name": "see evil.com"}
    assert render("confirmation", context, overrides=overrides) == "Hi Ada !"
    assert render("confirmation", {**context, "first_name": "a@b.com"}, overrides=overrides) == "Hi!"


def test_a_template_that_texts_the_reason_is_refused() -> None:
    overrides = {"missed_call": "About {{ reason }}: we will call {{ when }}."}
    with pytest.raises(ConfigError, match="missed_call.*reason.*never texted"):
        render("missed_call", {**CONTEXT, "reason": "Roof"}, overrides=overrides)


def test_a_template_that_only_tests_the_reason_is_refused_too() -> None:
    overrides = {"confirmation": "{% if reason %}x{% endif %}Thanks"}
    with pytest.raises(ConfigError, match="reason"):
        render("confirmation", {**CONTEXT, "reason": "Visit bit.ly/x"}, overrides=overrides)


def test_operator_override_is_used() -> None:
    text = render("confirmation", CONTEXT, overrides={"confirmation": "Cheers {{ first_name }}!"})
    assert text == "Cheers Ann!"


def test_override_cannot_reach_python_internals() -> None:
    evil = "{{ first_name.__class__.__mro__[1].__subclasses__() }}"
    with pytest.raises(ValidationFailed):
        render("confirmation", CONTEXT, overrides={"confirmation": evil})


def test_broken_override_is_a_config_error_naming_the_kind() -> None:
    with pytest.raises(ConfigError, match="confirmation"):
        render("confirmation", CONTEXT, overrides={"confirmation": "Hi {{ first_name"})


def test_missing_variable_is_reported() -> None:
    with pytest.raises(ValidationFailed, match="missed_call"):
        render("missed_call", {"first_name": "Ann", "business": "Example Co"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ("GSM-7", 1)),
        ("a" * 160, ("GSM-7", 1)),
        ("a" * 161, ("GSM-7", 2)),
        ("a" * 306, ("GSM-7", 2)),
        ("a" * 307, ("GSM-7", 3)),
        ("€" * 80, ("GSM-7", 1)),  # extension characters cost two septets
        ("€" * 81, ("GSM-7", 2)),
        ("a" * 152 + "€", ("GSM-7", 1)),
        ("é" * 160, ("GSM-7", 1)),  # é is in the basic table
        ("a" * 69 + "—", ("UCS-2", 1)),
        ("a" * 70 + "—", ("UCS-2", 2)),
        ("😀" * 35, ("UCS-2", 1)),  # a surrogate pair costs two units
        ("😀" * 36, ("UCS-2", 2)),
        ("ê" * 134, ("UCS-2", 2)),
        ("ê" * 135, ("UCS-2", 3)),
    ],
)
def test_encoding_and_segments(text: str, expected: tuple[str, int]) -> None:
    assert encoding_info(text) == expected


def test_escape_pairs_are_not_split_across_segments() -> None:
    # 306 septets would fit two 153-septet parts, but the escape pair cannot straddle the boundary.
    assert encoding_info("a" * 152 + "€" + "a" * 151) == ("GSM-7", 2)
    assert encoding_info("a" * 152 + "€" + "a" * 152) == ("GSM-7", 3)


@given(st.text(max_size=400))
def test_segments_grow_with_length(text: str) -> None:
    encoding, segments = encoding_info(text)
    assert segments >= 1
    assert encoding_info(text + text)[1] >= segments
