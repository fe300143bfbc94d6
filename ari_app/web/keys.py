"""Typed application state: what handlers find on ``request.app``."""

from __future__ import annotations

from aiohttp import web
from jinja2 import Environment

from ..services import Services
from .ratelimit import WindowLimiter

SERVICES = web.AppKey("services", Services)
TEMPLATES = web.AppKey("templates", Environment)
IP_LIMITER = web.AppKey("ip_limiter", WindowLimiter)
