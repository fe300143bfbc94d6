"""classify_reply: opt-out keywords and plain stop requests are honoured, stop words in sentences are not."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ari_app.sms.replies import HELP_KEYWORDS, START_KEYWORDS, STOP_KEYWORDS, ReplyKind, classify_reply

STOP_TEXTS = [
    "STOP", "stop", "Stop.", " STOP ", "STOP!!!", "StopAll", "stop all", "UNSUBSCRIBE", "Cancel", "END",
    "quit", "REVOKE", "OPTOUT", "opt out", "Opt-Out", "ＳＴＯＰ", "Stop 🛑", "\"stop\"", "STOP STOP",
    "stop texting me", "Stop texting me!", "stop sending me messages", "Please stop.", "stop please",
    "Stop it now", "please remove me", "Remove me from your list", "take me off your list",
    "unsubscribe me", "Unsubscribe me now please", "opt me out", "don't text me", "Don’t text me again",
    "do not text me", "No more texts", "leave me alone", "wrong number", "Stop, thank you", "ok stop",
    "stop messaging me thanks",
]  # fmt: skip

NOT_STOP_TEXTS = [
    "I can't stop by today",
    "call me at the end of the day",
    "stop by tomorrow?",
    "cancel my appointment",
    "Please don't cancel",
    "Is this the end?",
    "What time will you call?",
    "Don't stop calling, I really need to talk",
    "yes",
    "ok thanks",
    "Stopping by the shop later",
    "unstoppable",
    "",
    "   ",
    "🛑",
]


@pytest.mark.parametrize("text", STOP_TEXTS)
def test_stop_requests_are_honoured(text: str) -> None:
    assert classify_reply(text) is ReplyKind.stop


@pytest.mark.parametrize("text", NOT_STOP_TEXTS)
def test_stop_words_inside_other_sentences_are_not_an_opt_out(text: str) -> None:
    assert classify_reply(text) is not ReplyKind.stop


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("START", ReplyKind.start),
        ("unstop", ReplyKind.start),
        ("Start.", ReplyKind.start),
        ("start time?", ReplyKind.other),
        ("YES", ReplyKind.other),  # not a resubscription: see the module's rule
        ("HELP", ReplyKind.help),
        ("help!", ReplyKind.help),
        ("Info", ReplyKind.help),
        ("help me move my callback", ReplyKind.other),
        ("Can you call me at 5?", ReplyKind.other),
    ],
)
def test_start_help_and_other(text: str, kind: ReplyKind) -> None:
    assert classify_reply(text) is kind


_PUNCT = st.text(alphabet=" \t.!?,;:\"'()-*", max_size=4)
_KEYWORDS = {
    **{word: ReplyKind.stop for word in STOP_KEYWORDS},
    **{word: ReplyKind.start for word in START_KEYWORDS},
    **{word: ReplyKind.help for word in HELP_KEYWORDS},
}


@given(
    keyword=st.sampled_from(sorted(_KEYWORDS)),
    before=_PUNCT,
    after=_PUNCT,
    upper=st.lists(st.booleans(), min_size=12, max_size=12),
)
def test_keywords_in_any_case_with_surrounding_punctuation(
    keyword: str, before: str, after: str, upper: list[bool]
) -> None:
    cased = "".join(ch.upper() if up else ch for ch, up in zip(keyword, upper, strict=False))
    cased += keyword[len(upper) :]
    assert classify_reply(before + cased + after) is _KEYWORDS[keyword]


@given(st.text(max_size=200))
def test_any_text_classifies_without_error(text: str) -> None:
    assert classify_reply(text) in set(ReplyKind)


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=80))
def test_classification_ignores_case(text: str) -> None:
    assert classify_reply(text.upper()) is classify_reply(text.lower())


CANCEL_TEXTS = [
    "no longer needed", "No longer needed, thanks", "All sorted, thanks!", "all sorted", "sorted",
    "it's sorted now", "problem solved", "cancel my callback", "Please cancel my call", "cancel the request",
    "don't call me", "Dont call me back", "no need to call", "no need", "I don't need it anymore",
    "never mind", "Nevermind", "Not interested", "no thanks", "I'm all set thanks",
]  # fmt: skip


@pytest.mark.parametrize("text", CANCEL_TEXTS)
def test_no_longer_needed_cancels_the_request_without_opting_out(text: str) -> None:
    assert classify_reply(text) is ReplyKind.cancel_request


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("CANCEL", ReplyKind.stop),  # a bare CANCEL keeps its carrier meaning: opt out
        ("cancel please", ReplyKind.stop),
        ("wrong number", ReplyKind.stop),
        ("STOP", ReplyKind.stop),
        ("HELP", ReplyKind.help),
        ("all good", ReplyKind.other),  # might just as well mean "fine, call me then"
        ("cancel my appointment", ReplyKind.other),
        ("Please don't cancel", ReplyKind.other),
        ("tomorrow at 3", ReplyKind.other),
    ],
)
def test_opt_out_words_and_help_win_over_cancelling(text: str, kind: ReplyKind) -> None:
    assert classify_reply(text) is kind
