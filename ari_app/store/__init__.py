"""The database: tables, engine, migrations and claims. SQLite embedded, PostgreSQL for many workers."""

from ari_app.store.claims import claim_due_attempts, mark_running, release, renew_lease
from ari_app.store.engine import make_engine, make_sessionmaker
from ari_app.store.migrate import current_revision, head_revision, upgrade
from ari_app.store.models import (
    ApiToken,
    Attempt,
    Base,
    CallbackRequest,
    Consent,
    Contact,
    ContactEvent,
    ContactTag,
    Dnc,
    IdempotencyKey,
    Leg,
    LegEvent,
    Note,
    SmsOutbox,
    User,
    WebhookDelivery,
)
from ari_app.store.types import UTCDateTime

__all__ = [
    "ApiToken",
    "Attempt",
    "Base",
    "CallbackRequest",
    "Consent",
    "Contact",
    "ContactEvent",
    "ContactTag",
    "Dnc",
    "IdempotencyKey",
    "Leg",
    "LegEvent",
    "Note",
    "SmsOutbox",
    "UTCDateTime",
    "User",
    "WebhookDelivery",
    "claim_due_attempts",
    "current_revision",
    "head_revision",
    "make_engine",
    "make_sessionmaker",
    "mark_running",
    "release",
    "renew_lease",
    "upgrade",
]
