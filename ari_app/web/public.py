"""The one place that says which handlers need no bearer token (ARCHITECTURE: "Who may call which route").

A handler decorated with ``@public`` is open to anyone, or verified by other means (a provider signature, a
shared secret, a signed URL): the decorator takes the reason so the list reads as a policy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar

from aiohttp import web

Why = Literal[
    "form", "health", "provider-verified", "signed-url", "static", "embed", "login", "loopback-or-token"
]
_ATTR = "__callback_public__"

H = TypeVar("H", bound=Callable[..., object])


def public(why: Why) -> Callable[[H], H]:
    def mark(handler: H) -> H:
        setattr(handler, _ATTR, why)
        return handler

    return mark


def public_reason(route: web.AbstractRoute) -> Why | None:
    """Why this route needs no token, or None when it does."""
    reason: Why | None = getattr(route.handler, _ATTR, None)
    return reason
