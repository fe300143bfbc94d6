"""The name rule: what of a name typed on the public form a text message may repeat.

Attacks are the strings someone would type to make our business number text a stranger a link, a number to
call, an address or a sentence; real names come from several scripts and must go through unchanged.
"""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ari_app.domain.names import NAME_IN_TEXT_MAX, NAME_IN_TEXT_WORDS, name_for_text

ATTACKS = [
    'Ada" <sip:evil@10.0.0.1>',
    "Visit http://x.co",
    "http://x.co",
    "bit.ly/abc",
    "bit.ly",
    "Visit x.co now",
    "evil.com",
    "www.evil.com",
    "a@b.com",
    "Ada@evil",
    "<b>hi</b>",
    "<script>",
    "Call 5551234",
    "Ada 2",
    "Ada\u0662",  # an Arabic-Indic digit
    "Ada\u2463",  # circled digit four
    "x" * 200,
    "Ada Lovelace Byron King Noel",  # five words
    "Ada\u200b",  # zero-width space
    "A\u200bda",
    "Ada\u200d",  # zero-width joiner
    "\u202eAda",  # right-to-left override
    "Ada\u2066x\u2069",  # isolates
    "Ada\ufeff",  # byte-order mark
    "Ada\u00adLovelace",  # soft hyphen
    "Ada\nVisit our site",
    "Ada\r\nBob",
    "Ada\tBob",
    "Ada\u00a0Bob",  # no-break space
    "\u3164",  # Hangul filler: a "letter" that shows nothing
    "Ada\ufe0f",  # variation selector
    "\u0301Ada",  # a mark with no letter under it
    "Za\u0301\u0301\u0301\u0301\u0301lgo",  # more marks than any script needs
    "Ada!",
    "Ada?",
    "Ada & Bob",
    "Ada, call us",
    "Ada: win",
    "{{ business }}",
    "$(reboot)",
    "Ada--Bob",
    "-Ada",
    "Ada-",
    "'Ada",
    "Ada..",
    ".",
    "'",
    "-",
    "",
    "   ",
    "Ｖｉｓｉｔ ｅｖｉｌ．ｃｏｍ",  # fullwidth letters with a fullwidth full stop
    "evil\u3002com",  # ideographic full stop
    "Ada\U0001f600",  # an emoji
]

REAL_NAMES = [
    "Ada",
    "Zoë",
    "Ångström",
    "O'Neil",
    "Nguyễn",
    "李",
    "李小龍",
    "Jean-Luc",
    "St. John",
    "José María",
    "J.R.",
    "Mary-Kate",
    "Björk",
    "Łukasz",
    "Şükrü",
    "Мария",
    "Ἀλέξανδρος",
    "محمد",
    "יעל",
    "देवनागरी",
    "สมชาย",
    "김민준",
    "さくら",
    "Kalani ʻIolani",  # the ʻokina is a letter
    "Maria de los Angeles",
    "x" * NAME_IN_TEXT_MAX,
]


@pytest.mark.parametrize("name", ATTACKS)
def test_an_attack_is_left_out_of_the_text(name: str) -> None:
    assert name_for_text(name) is None


@pytest.mark.parametrize("name", REAL_NAMES)
def test_a_real_name_goes_into_the_text_as_typed(name: str) -> None:
    assert name_for_text(name) == name


def test_the_curly_apostrophe_is_texted_straight_so_the_text_stays_gsm7() -> None:
    assert name_for_text("O’Brien") == "O'Brien"


def test_a_name_typed_decomposed_is_texted_composed() -> None:
    decomposed = "Nguye\u0302\u0303n"
    assert name_for_text(decomposed) == "Nguyễn"


def test_spaces_around_and_between_words_are_tidied() -> None:
    assert name_for_text("  José   María ") == "José María"


def test_one_character_past_the_limit_is_left_out() -> None:
    assert name_for_text("x" * (NAME_IN_TEXT_MAX + 1)) is None


# -- properties ---------------------------------------------------------------------------------------------

_INVISIBLE_LETTERS = "\u115f\u1160\u3164\uffa0"
# Letters as hypothesis finds them, in every script, except the few that show nothing.
letters = st.characters(categories=["Lu", "Ll", "Lt", "Lo"], exclude_characters=_INVISIBLE_LETTERS)
words = st.text(letters, min_size=1, max_size=8)
separators = st.sampled_from([" ", "-", "'", "\u2019", ". "])


@st.composite
def names(draw: st.DrawFn) -> str:
    parts = draw(st.lists(words, min_size=1, max_size=NAME_IN_TEXT_WORDS))
    name = parts[0]
    spaces = 0
    for part in parts[1:]:
        sep = draw(separators)
        if " " in sep:
            if spaces == NAME_IN_TEXT_WORDS - 1:
                sep = "-"
            else:
                spaces += 1
        name += sep + part
    return name


def _composed(name: str) -> str:
    return unicodedata.normalize("NFC", name)


@given(names())
def test_any_name_made_of_letters_and_name_punctuation_is_texted(name: str) -> None:
    assume(len(_composed(name)) <= NAME_IN_TEXT_MAX)
    assert name_for_text(name) == _composed(name).replace("\u2019", "'")


# Digits of every script (hypothesis's `\d` and Nd both reach far beyond 0-9), letter-like numerals, and
# characters a name never has: symbols, other punctuation, controls, format and other spaces.
_NEVER_IN_A_NAME = [
    "Nd",
    "Nl",
    "No",
    "Sm",
    "Sc",
    "Sk",
    "So",
    "Pc",
    "Ps",
    "Pe",
    "Pi",
    "Pf",
    "Cc",
    "Cf",
    "Zl",
    "Zp",
]
foreign = st.characters(categories=_NEVER_IN_A_NAME) | st.sampled_from(
    '/:@<>"&%#?!,;=+_~|\\\n\r\t\u00a0\u2009\u3000'
)


@given(names(), foreign, st.integers(min_value=0))
def test_one_character_a_name_never_has_keeps_the_whole_name_out(name: str, ch: str, at: int) -> None:
    at %= len(name) + 1
    assume(ch not in "\u2019")  # the curly apostrophe (Pf) is name punctuation
    assert name_for_text(name[:at] + ch + name[at:]) is None


_LINK_LIKE = re.compile(r"\.\w\w|://|@|www\.", re.IGNORECASE)


@given(st.text(max_size=60))
def test_whatever_is_typed_a_text_never_gets_a_digit_link_or_markup(typed: str) -> None:
    texted = name_for_text(typed)
    if texted is None:
        return
    assert 0 < len(texted) <= NAME_IN_TEXT_MAX
    assert len(texted.split(" ")) <= NAME_IN_TEXT_WORDS
    assert not any(unicodedata.category(ch)[0] in "NCSZ" and ch != " " for ch in texted)
    assert not any(ch in '<>&"/:@' for ch in texted)
    assert _LINK_LIKE.search(texted) is None
    assert texted == texted.strip()
