"""This folder's fixtures live in ``e2ekit``: a module name of its own, so
``from e2ekit import …`` never finds another folder's conftest."""

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from e2ekit import (  # noqa: E402,F401
    stack,
    stack_overrides,
)
