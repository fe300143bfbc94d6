"""The tables. Names and columns are a contract with lifecycle, orchestrator, web and sms: add, don't rename.

Every timestamp is written by the app from its clock (no server-side ``now()``), so ``created_at`` and
friends have no defaults: forgetting one fails loudly at insert.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ari_app.domain.statuses import OPEN_REQUEST_STATUSES, AttemptStatus, RequestStatus
from ari_app.store.types import UTCDateTime

# Stable constraint names, so later migrations (batch mode on SQLite) can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# An open request: at most one per contact. In the enum's order, so the index reads the same every time.
_OPEN_SQL = "status IN ({})".format(", ".join(f"'{s}'" for s in RequestStatus if s in OPEN_REQUEST_STATUSES))
# An admin is on a call while an attempt with their name runs (see ``uq_attempts_admin_one_call``).
_ADMIN_BUSY_SQL = f"status = '{AttemptStatus.RUNNING}'"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone: Mapped[str] = mapped_column(String(32), unique=True)  # E.164
    first_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    last_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    pipeline_stage: Mapped[str | None] = mapped_column(String(200))
    sms_opted_out: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    sms_opted_out_at: Mapped[datetime | None]
    number_invalid: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ContactTag(Base):
    __tablename__ = "contact_tags"
    __table_args__ = (Index(None, "tag"),)

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(200), primary_key=True)
    added_at: Mapped[datetime]


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("callback_requests.id"))
    kind: Mapped[str] = mapped_column(String(20))  # system | admin | merge | sms_reply | tag | label
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class CallbackRequest(Base):
    __tablename__ = "callback_requests"
    __table_args__ = (
        # One open request per contact, enforced by the database on both engines.
        Index(
            "uq_callback_requests_open_per_contact",
            "contact_id",
            unique=True,
            sqlite_where=text(_OPEN_SQL),
            postgresql_where=text(_OPEN_SQL),
        ),
        Index(None, "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    status: Mapped[str] = mapped_column(String(20))  # RequestStatus
    source: Mapped[str] = mapped_column(String(20))  # form | api
    page_url: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    close_reason: Mapped[str | None] = mapped_column(Text)
    lead_attempts_used: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    system_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The time the lead chose on the form or through the API (None: as soon as possible), and the zone
    # the form showed it in (None: the number's).
    preferred_at: Mapped[datetime | None]
    preferred_tz: Mapped[str | None] = mapped_column(String(64))


class Consent(Base):
    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("callback_requests.id"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    page_url: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20))
    given_at: Mapped[datetime]


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_fingerprint: Mapped[str] = mapped_column(String(128))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class Attempt(Base):
    __tablename__ = "attempts"
    __table_args__ = (
        UniqueConstraint("request_id", "number"),
        Index("ix_attempts_claim", "status", "due_at"),
        # One call per admin at a time across all workers: starting a second running attempt for an admin
        # fails in the database, whichever worker tries it.
        Index(
            "uq_attempts_admin_one_call",
            "admin_name",
            unique=True,
            sqlite_where=text(_ADMIN_BUSY_SQL),
            postgresql_where=text(_ADMIN_BUSY_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("callback_requests.id"))
    number: Mapped[int] = mapped_column(Integer)  # 1-based, counts admin/system retries too
    lead_attempt: Mapped[int] = mapped_column(Integer)  # which lead attempt this is: 1, 2, ...
    final: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    kind: Mapped[str] = mapped_column(String(20))  # lead | admin_retry | system_retry
    status: Mapped[str] = mapped_column(String(20))  # AttemptStatus
    due_at: Mapped[datetime]
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # why this attempt was allowed
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None]
    ari_server: Mapped[str | None] = mapped_column(String(200))
    ari_app: Mapped[str | None] = mapped_column(String(200))
    admin_name: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(40))
    outcome_detail: Mapped[str | None] = mapped_column(Text)
    talk_seconds: Mapped[float | None] = mapped_column(Float)
    # What the lead's side was, as an admin said after the call (or by pressing the drop key): person |
    # machine, who said it and when. A later label replaces it; each is on the contact's timeline.
    lead_label: Mapped[str | None] = mapped_column(String(10))
    lead_label_by: Mapped[str | None] = mapped_column(String(200))
    lead_label_at: Mapped[datetime | None]
    lead_clip: Mapped[str | None] = mapped_column(String(200))  # file in [amd] clips_dir (docs/amd.md)
    lead_clip_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Leg(Base):
    __tablename__ = "legs"
    __table_args__ = (UniqueConstraint("attempt_id", "role", "try_no"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"))
    role: Mapped[str] = mapped_column(String(10))  # admin | lead
    try_no: Mapped[int] = mapped_column(Integer)
    channel_id: Mapped[str] = mapped_column(String(100), unique=True)  # cb-{attempt_id}-{role}-{try_no}
    endpoint: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(20))  # LegStatus
    dial_status: Mapped[str | None] = mapped_column(String(40))
    cause: Mapped[int | None] = mapped_column(Integer)
    cause_txt: Mapped[str | None] = mapped_column(String(200))
    amd_status: Mapped[str | None] = mapped_column(String(40))
    amd_cause: Mapped[str | None] = mapped_column(String(200))  # with its numbers: LONGGREETING-1500-1500
    # AMD on this leg (docs/amd.md): the parameters it was given, the seconds from its start to its verdict
    # (on the PBX's clock), when talk detection heard the greeting and its beep end (seconds after the
    # answer), and whether the voicemail drop started before that (None: no drop).
    amd_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    amd_seconds: Mapped[float | None] = mapped_column(Float)
    greeting_end_seconds: Mapped[float | None] = mapped_column(Float)
    drop_early: Mapped[bool | None] = mapped_column(Boolean)
    answered_at: Mapped[datetime | None]
    bridged_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class LegEvent(Base):
    __tablename__ = "leg_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    leg_id: Mapped[int] = mapped_column(ForeignKey("legs.id"), index=True)
    type: Mapped[str] = mapped_column(String(60))
    data: Mapped[dict[str, Any]]  # the raw ARI event
    received_at: Mapped[datetime]


class SmsOutbox(Base):
    __tablename__ = "sms_outbox"
    __table_args__ = (Index("ix_sms_outbox_due", "status", "next_try_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("callback_requests.id"))
    kind: Mapped[str] = mapped_column(String(30))  # missed_call | final_miss | confirmation | ...
    to_phone: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(20))  # SmsStatus
    tries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_try_at: Mapped[datetime | None]
    provider_message_id: Mapped[str | None] = mapped_column(String(200), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]


class ContactEvent(Base):
    """Append-only log per contact (timeline, webhooks)."""

    __tablename__ = "contact_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    type: Mapped[str] = mapped_column(String(60))  # request.created, tag.changed, attempt.outcome, ...
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "url"),
        Index("ix_webhook_deliveries_due", "status", "next_try_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("contact_events.id"))
    url: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))  # WebhookStatus
    tries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_try_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Dnc(Base):
    """Internal do-not-call list: blocks every call and SMS to the number."""

    __tablename__ = "dnc"

    phone: Mapped[str] = mapped_column(String(32), primary_key=True)
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime]


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(200), unique=True)
    password_hash: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime]


class AdminSession(Base):
    """A dashboard login. Only the token's sha256 is stored: a copy of the table is no use as a cookie."""

    __tablename__ = "admin_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie's token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]


class TrunkPace(Base):
    """The trunk's new-call pacing, shared by every worker (PostgreSQL; SQLite runs one worker, which paces
    in memory). ``last_slot`` is the latest start slot handed out, in seconds on the database server's own
    clock: a wall-clock gap between calls, the same for workers on hosts whose clocks differ."""

    __tablename__ = "trunk_pace"

    trunk: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_slot: Mapped[float] = mapped_column(Float)


class Installation(Base):
    """One row: this installation's id, part of every channel, bridge and playback id it asks Asterisk for
    (``calls/ids.py``). Generated on first start unless ``ari.installation_id`` is configured."""

    __tablename__ = "installation"

    key: Mapped[int] = mapped_column(Integer, primary_key=True)
    installation_id: Mapped[str] = mapped_column(String(16))
