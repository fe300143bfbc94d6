"""HTTP basic auth as a header (aiohttp deprecates its BasicAuth helper from 3.13 on)."""

from __future__ import annotations

import base64


def basic_auth_value(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def basic_auth(user: str, password: str) -> dict[str, str]:
    """``{"Authorization": "Basic …"}`` for a request's headers. Never log the result."""
    return {"Authorization": basic_auth_value(user, password)}
