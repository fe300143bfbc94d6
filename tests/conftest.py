"""Fixtures shared by every test folder: databases (SQLite and PostgreSQL) come from dbfixtures."""

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from dbfixtures import db_sessionmaker, db_url, migrated_db_url  # noqa: E402,F401
