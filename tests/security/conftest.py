"""The security suite runs against the same real web app as tests/web: its fixtures are loaded from there
(one definition of "a served app over a migrated database"), plus helpers for attacks."""

import sys
from pathlib import Path

_WEB = str(Path(__file__).resolve().parents[1] / "web")
if _WEB not in sys.path:
    sys.path.insert(0, _WEB)

# Fixtures (pytest finds them as attributes of this conftest) and helpers for the tests here.
from webkit import (  # noqa: E402,F401
    API_TOKEN,
    INBOUND_SECRET,
    LEAD,
    START,
    auth,
    client,
    count_rows,
    intake_body,
    make_services,
    make_settings,
    services,
    settings,
    start_client,
    wakes,
)
