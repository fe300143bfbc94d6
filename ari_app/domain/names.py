"""Which part of a name typed on the public form may go into a text message.

Anyone can type someone else's number on the form, so whatever a text repeats from the form is written by a
stranger and sent from the business's number (the classic abuse of text-back forms: phishing, and a blocked
10DLC campaign). A text therefore repeats a name only if it looks like a name: letters of any script with
their accents, single spaces, hyphens and apostrophes between letters, dots after a word or between initials,
at most NAME_IN_TEXT_MAX characters and NAME_IN_TEXT_WORDS words. Digits, links, e-mail addresses, markup,
control and invisible characters all fail, and a name that fails is left out whole — never trimmed into
shape, since what is left of a hostile string is still the attacker's choice. The reason typed on the form is
never texted (docs/decisions/0002-names-in-texts.md).
"""

from __future__ import annotations

import re
import unicodedata

NAME_IN_TEXT_MAX = 30
NAME_IN_TEXT_WORDS = 4
MARKS_PER_LETTER = 3  # Vietnamese needs two on one letter even decomposed; more is "zalgo" noise

RULE = (
    f"letters of any script (accents included), spaces, hyphens, apostrophes (' or \u2019) and dots; "
    f"at most {NAME_IN_TEXT_MAX} characters and {NAME_IN_TEXT_WORDS} words; "
    "no digits, links, e-mail addresses, markup or invisible characters"
)

# Characters Unicode calls letters or combining marks that show nothing: a name made of them would look
# empty, or hide a gap inside a word.
_INVISIBLE = frozenset(
    [0x115F, 0x1160, 0x3164, 0xFFA0, 0x034F, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180F]
    + list(range(0xFE00, 0xFE10))  # variation selectors
    + list(range(0xE0100, 0xE01F0))  # variation selectors supplement
)
_APOSTROPHES = "'\u2019"

# The name is checked as a "shape": a = letter, m = combining mark, and the allowed punctuation as itself.
_LETTER = f"am{{0,{MARKS_PER_LETTER}}}"
_PART = f"(?:{_LETTER})+"
# A dot ends a word ("St.") or separates initials ("J.R."): never a dot followed by two letters or more,
# which is what a link looks like ("bit.ly", "x.co") to the phone that makes it clickable.
_WORD = rf"{_PART}(?:[-']{_PART})*\.?"
_INITIALS = rf"(?:{_LETTER}\.){{2,}}"
_TOKEN = f"(?:{_INITIALS}|{_WORD})"
_SHAPE = re.compile(rf"{_TOKEN}(?: {_TOKEN}){{0,{NAME_IN_TEXT_WORDS - 1}}}")
_SPACES = re.compile(" +")


def _shape(ch: str) -> str | None:
    if ord(ch) in _INVISIBLE:
        return None
    category = unicodedata.category(ch)
    if category.startswith("L"):
        return "a"
    if category in ("Mn", "Mc"):
        return "m"
    if ch in _APOSTROPHES:
        return "'"
    if ch in " -.":
        return ch
    return None


def name_for_text(name: str) -> str | None:
    """The name as a text may say it, or None when it must be left out.

    The result is NFC-normalised, with runs of spaces folded and the curly apostrophe made straight (one
    character outside GSM-7 would make the whole text cost twice as much).
    """
    text = _SPACES.sub(" ", unicodedata.normalize("NFC", name)).strip(" ")
    if not text or len(text) > NAME_IN_TEXT_MAX:
        return None
    shape = []
    for ch in text:
        kind = _shape(ch)
        if kind is None:
            return None
        shape.append(kind)
    if _SHAPE.fullmatch("".join(shape)) is None:
        return None
    return text.replace("\u2019", "'")


__all__ = ["NAME_IN_TEXT_MAX", "NAME_IN_TEXT_WORDS", "RULE", "name_for_text"]
