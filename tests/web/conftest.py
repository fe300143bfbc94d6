"""This folder's fixtures live in ``webkit``: a module name of its own, so
``from webkit import …`` never finds another folder's conftest."""

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from webkit import (  # noqa: E402,F401
    auth,
    client,
    make_services,
    services,
    settings,
    wakes,
)
