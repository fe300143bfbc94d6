"""Text a person typed is cleaned of control and format characters and nothing else."""

from __future__ import annotations

import pytest

from ari_app.domain.text import clean_line, clean_text


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("Ada Lovelace", "Ada Lovelace"),  # printable ASCII: as typed
        ("<b>Ada</b> & co", "<b>Ada</b> & co"),  # HTML is escaped where shown, never rewritten here
        ("  Ada \t  Lovelace  ", "Ada Lovelace"),
        ("Ada\x00\x07Lovelace", "AdaLovelace"),
        ("Ada\r\nLovelace", "Ada Lovelace"),
        ("Zoë\u200b Ł\u202eukasz", "Zoë Łukasz"),  # zero-width space and a bidi override dropped
        ("李\u00a0小龙", "李\u00a0小龙"),
    ],
)
def test_one_line_keeps_what_was_typed_but_control_and_format_characters(typed: str, kept: str) -> None:
    assert clean_line(typed) == kept


def test_several_lines_keep_their_breaks_and_lose_control_characters() -> None:
    assert clean_text("first\r\nsecond\x00\n\n\n\nthird\u200b") == "first\nsecond\n\nthird"
