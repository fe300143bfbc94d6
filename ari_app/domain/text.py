"""Text a person typed (a form, an SMS), cleaned of control characters before we store it.

Text is stored as plain text and escaped where it is shown; we never strip or rewrite HTML here.
"""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"[ \t]+")


def _drop_controls(text: str, *, keep_newlines: bool) -> str:
    if text.isascii() and text.isprintable():
        return text  # the common case, and nothing to drop: printable ASCII holds no control character
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    kept = []
    for ch in text:
        if ch == "\n" and keep_newlines:
            kept.append(ch)
        elif ch in "\t\n":
            kept.append(" ")
        elif unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn"):
            kept.append(ch)
    return "".join(kept)


def clean_line(text: str) -> str:
    """One line of text: control and format characters removed, runs of spaces folded, trimmed."""
    return _SPACES.sub(" ", _drop_controls(text, keep_newlines=False)).strip()


def clean_text(text: str) -> str:
    """Several lines allowed; other control characters removed."""
    lines = [_SPACES.sub(" ", line).strip() for line in _drop_controls(text, keep_newlines=True).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
