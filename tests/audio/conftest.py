"""This folder's fixtures live in ``audiokit``: a module name of its own, so
``from audiokit import …`` never finds another folder's conftest."""

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from audiokit import (  # noqa: E402,F401
    media_dir,
    speech_mp3,
    tone_mp3,
)
