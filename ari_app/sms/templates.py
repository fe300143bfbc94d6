"""SMS texts per message kind, rendered with Jinja2's sandbox, and what a text costs in segments.

Template sources come from configuration (operators); context values (names, business) are data and are
never parsed as template syntax. The sandbox stops a template from reaching Python internals.

Names come from the public form, typed by anyone for any number: `render` passes them through
`domain.names.name_for_text`, so a text repeats a name only when it is one, and otherwise says no name at all;
templates test ``{% if first_name %}`` to read naturally both ways. The reason typed on the form is never
texted: a template that uses it is refused (docs/decisions/0002-names-in-texts.md).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal

from jinja2 import StrictUndefined, TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment

from ..domain.names import name_for_text
from ..errors import ConfigError, ValidationFailed


class MessageKind(StrEnum):
    missed_call = "missed_call"
    final_miss = "final_miss"
    confirmation = "confirmation"
    opt_out_confirmation = "opt_out_confirmation"
    help = "help"
    preferred_time_moved = "preferred_time_moved"
    reschedule_confirmation = "reschedule_confirmation"  # the lead texted a time: the call moved there
    cancel_confirmation = "cancel_confirmation"  # the lead texted "no longer needed"
    reply_help = "reply_help"  # a reply we could not read: what works


# Plain ASCII punctuation on purpose: one character outside GSM-7 (an em dash, curly quotes) turns the whole
# message into UCS-2 and halves its length per segment.
DEFAULT_TEMPLATES: dict[MessageKind, str] = {
    MessageKind.missed_call: (
        "Sorry we missed you{% if first_name %}, {{ first_name }}{% endif %}. "
        "{{ business }} will call again {{ when }}. Reply STOP to opt out."
    ),
    MessageKind.final_miss: (
        "Sorry we missed you{% if first_name %}, {{ first_name }}{% endif %}. "
        "{% if callback_number %}Call {{ business }} back at {{ callback_number }} when it suits you."
        "{% else %}{{ business }} tried to reach you.{% endif %} Reply STOP to opt out."
    ),
    MessageKind.confirmation: (
        "Thanks{% if first_name %} {{ first_name }}{% endif %}, it was good to talk to you. - {{ business }}"
    ),
    MessageKind.opt_out_confirmation: (
        "{{ business }}: you are unsubscribed and will get no more texts from us. Reply START to resubscribe."
    ),
    MessageKind.help: (
        "{{ business }}: texts about your callback request."
        "{% if callback_number %} Call {{ callback_number }} for help.{% endif %} Reply STOP to opt out."
    ),
    # The time the lead chose is no longer possible when it comes (calendar changed, a holiday added).
    MessageKind.preferred_time_moved: (
        "{{ business }}: sorry{% if first_name %} {{ first_name }}{% endif %}, we can't call at the time you "
        "chose. We will call you {{ when }} instead. Reply STOP to opt out."
    ),
    MessageKind.reschedule_confirmation: (
        "{{ business }}: OK{% if first_name %} {{ first_name }}{% endif %}, we will call you {{ when }}"
        "{% if zone %} ({{ zone }}){% endif %}. Reply with another time to change it."
    ),
    MessageKind.cancel_confirmation: (
        "{{ business }}: OK, your callback is cancelled and we will not call. Reply with a time if you "
        "change your mind."
    ),
    MessageKind.reply_help: (
        '{{ business }}: to move your call, reply with a time: "tomorrow at 3pm", "after 5", "Friday '
        'morning". "No longer needed" cancels it. STOP opts out.'
    ),
}

# Variables a template may test with {% if %} (StrictUndefined refuses to test a missing one).
_OPTIONAL: dict[str, str] = {"first_name": "", "callback_number": "", "zone": ""}
# Values typed on the form that a text may repeat only as names, and the ones it never repeats.
NAME_FIELDS = ("first_name", "last_name")
NEVER_TEXTED = frozenset({"reason"})
_SPACES = re.compile(r"[ \t]+")
_env = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=False)


@functools.lru_cache(maxsize=64)
def _compile(kind: str, source: str) -> Any:
    try:
        used = meta.find_undeclared_variables(_env.parse(source))
        template = _env.from_string(source)
    except TemplateError as exc:
        raise ConfigError(f"sms template {kind!r} does not compile: {exc}", kind=kind) from exc
    refused = sorted(used & NEVER_TEXTED)
    if refused:
        raise ConfigError(
            f"sms template {kind!r} uses {', '.join(refused)}: what a stranger typed on the form is never "
            "texted to the number they typed",
            kind=kind,
        )
    return template


def safe_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """``context`` as a text may use it: names only when they pass the name rule, never the reason."""
    safe = {k: v for k, v in context.items() if k not in NEVER_TEXTED}
    for key in NAME_FIELDS:
        if key in safe:
            safe[key] = name_for_text(str(safe[key] or "")) or ""
    return safe


def render(
    kind: MessageKind | str, context: Mapping[str, Any], overrides: dict[str, str] | None = None
) -> str:
    """The text of one message. ``overrides`` maps a kind's name to an operator's template source.

    A broken or unsafe template (one that uses the reason) is a ConfigError; a variable the template needs
    but ``context`` lacks is ValidationFailed (both name the kind). Names in ``context`` go through the name
    rule (`safe_context`).
    """
    kind = MessageKind(kind)
    source = (overrides or {}).get(kind.value) or DEFAULT_TEMPLATES[kind]
    template = _compile(kind.value, source)
    try:
        text = template.render(**{**_OPTIONAL, **safe_context(context)})
    except TemplateError as exc:
        # UndefinedError and SecurityError both land here.
        raise ValidationFailed(f"sms template {kind.value!r} failed: {exc}", kind=kind.value) from exc
    # Conditional blocks leave doubled spaces; newlines an operator wrote are kept.
    return _SPACES.sub(" ", str(text)).strip()


# GSM 03.38 basic character set (one septet each) and the extension table (escape + one septet).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("\f^{}\\[~]|€")

Encoding = Literal["GSM-7", "UCS-2"]


def is_gsm7(text: str) -> bool:
    return all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in text)


def _segments(costs: list[int], single: int, multi: int) -> int:
    if sum(costs) <= single:
        return 1
    # Pack greedily: an escape pair or a surrogate pair is never split across two segments.
    segments, used = 1, 0
    for cost in costs:
        if used + cost > multi:
            segments += 1
            used = 0
        used += cost
    return segments


def encoding_info(text: str) -> tuple[Encoding, int]:
    """The encoding a phone network uses for ``text`` and how many SMS segments it takes.

    GSM-7: 160 septets in one message, 153 per part when concatenated; extension characters cost 2.
    UCS-2: 70 UTF-16 units, 67 per part; characters outside the BMP (emoji) cost 2. An empty text is one SMS.
    """
    if is_gsm7(text):
        return "GSM-7", _segments([2 if ch in _GSM_EXTENDED else 1 for ch in text], 160, 153)
    return "UCS-2", _segments([2 if ord(ch) > 0xFFFF else 1 for ch in text], 70, 67)


def segment_count(text: str) -> int:
    return encoding_info(text)[1]


__all__ = [
    "DEFAULT_TEMPLATES",
    "MessageKind",
    "encoding_info",
    "is_gsm7",
    "render",
    "safe_context",
    "segment_count",
]
