import sys
from pathlib import Path

# tests/ holds the shared fixtures module; make it importable even without tests/conftest.py.
_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from dbfixtures import db_sessionmaker, db_url, migrated_db_url  # noqa: E402

__all__ = ["db_sessionmaker", "db_url", "migrated_db_url"]
