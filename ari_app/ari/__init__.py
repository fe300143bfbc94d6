"""The ARI adapter: REST client, typed events, the event WebSocket and routing by channel.

The orchestrator is the only code that uses this package; everything it needs is re-exported here.
"""

from .client import AriClient
from .connection import ConnectionStats, EventConnection
from .dispatch import EventRouter, Subscription, SubscriptionClosed
from .errors import (
    AriBadRequest,
    AriConflict,
    AriError,
    AriNotFound,
    AriOutcomeUnknown,
    AriPreconditionFailed,
    AriServerError,
    AriUnauthorized,
    AriUnprocessable,
    AriUnreachable,
)
from .events import Event, MalformedEvent, UnknownEvent, parse_event
from .models import Bridge, CallerId, Channel, DialplanCEP, Endpoint, Playback

__all__ = [
    "AriBadRequest",
    "AriClient",
    "AriConflict",
    "AriError",
    "AriNotFound",
    "AriOutcomeUnknown",
    "AriPreconditionFailed",
    "AriServerError",
    "AriUnauthorized",
    "AriUnprocessable",
    "AriUnreachable",
    "Bridge",
    "CallerId",
    "Channel",
    "ConnectionStats",
    "DialplanCEP",
    "Endpoint",
    "Event",
    "EventConnection",
    "EventRouter",
    "MalformedEvent",
    "Playback",
    "Subscription",
    "SubscriptionClosed",
    "UnknownEvent",
    "parse_event",
]
