"""This folder's fixtures live in ``audiokit``: a module name of its own, so
``from audiokit import …`` never finds another folder's conftest."""

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import pytest  # noqa: E402
from audiokit import (  # noqa: E402,F401
    MISSING_TOOLS,
    media_dir,
    speech_mp3,
    tone_mp3,
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not MISSING_TOOLS:
        return
    why = f"{' and '.join(MISSING_TOOLS)} not installed (Debian: apt-get install {' '.join(MISSING_TOOLS)})"
    for item in items:
        if Path(str(item.fspath)).is_relative_to(_HERE):
            item.add_marker(pytest.mark.skip(reason=why))
