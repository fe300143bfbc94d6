"""The HTTP edge: public form, JSON API, provider hooks, health. Build it with ``create_web_app``."""

from .app import create_web_app
from .auth import add_api_token
from .openapi import build_openapi
from .public import public_reason

__all__ = ["add_api_token", "build_openapi", "create_web_app", "public_reason"]
