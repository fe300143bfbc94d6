"""Fixtures for this folder: the whole stack of the end-to-end tests (``tests/e2e/e2ekit.py``), reused for
metrics and logs."""

import sys
from pathlib import Path

_E2E = str(Path(__file__).resolve().parents[1] / "e2e")
if _E2E not in sys.path:
    sys.path.insert(0, _E2E)

from e2ekit import stack, stack_overrides  # noqa: E402,F401
