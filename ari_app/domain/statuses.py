"""The statuses stored in the database, as types: a typo is a type error, not a row no query ever finds.

The values are the strings in the tables and in the API's JSON (a ``StrEnum`` member *is* its string), so
the schema, the migrations and the OpenAPI document are unchanged. The named sets say what a group of
statuses means where code used to repeat the tuple.
"""

from __future__ import annotations

from enum import StrEnum


class RequestStatus(StrEnum):
    """A callback request (``callback_requests.status``)."""

    PENDING = "pending"  # waiting for its next attempt
    CALLING = "calling"  # an attempt is on the phone
    COMPLETED = "completed"
    INCOMPLETE = "incomplete"  # no more attempts planned; can be requeued by hand
    CANCELLED = "cancelled"


# Open: at most one per contact (a partial unique index), and what a new request from the contact merges into.
OPEN_REQUEST_STATUSES = frozenset({RequestStatus.PENDING, RequestStatus.CALLING})
# What cancel and complete-by-hand may close.
CLOSABLE_REQUEST_STATUSES = OPEN_REQUEST_STATUSES | {RequestStatus.INCOMPLETE}
CLOSED_REQUEST_STATUSES = frozenset(RequestStatus) - OPEN_REQUEST_STATUSES


class AttemptStatus(StrEnum):
    """One call attempt (``attempts.status``)."""

    SCHEDULED = "scheduled"
    CLAIMED = "claimed"  # a worker holds its lease and is about to start it
    RUNNING = "running"  # on the phone
    DONE = "done"
    CANCELLED = "cancelled"


# Held by a worker's lease: taken over by another worker when the lease lapses.
LEASED_ATTEMPT_STATUSES = frozenset({AttemptStatus.CLAIMED, AttemptStatus.RUNNING})
# Not yet on the phone: may still be cancelled.
UNSTARTED_ATTEMPT_STATUSES = frozenset({AttemptStatus.SCHEDULED, AttemptStatus.CLAIMED})
# Still to happen or happening: the request's next or current call.
UNFINISHED_ATTEMPT_STATUSES = UNSTARTED_ATTEMPT_STATUSES | LEASED_ATTEMPT_STATUSES


class LegStatus(StrEnum):
    """One channel of an attempt (``legs.state``), as the leg journal records it."""

    INTENT = "intent"  # written before the channel is requested
    REQUESTED = "requested"  # Asterisk answered the request
    DIAL_UNKNOWN = "dial_unknown"  # the request was sent and its answer lost
    RINGING = "ringing"
    UP = "up"
    BRIDGED = "bridged"
    ENDED = "ended"


ANSWERED_LEG_STATES = frozenset({LegStatus.UP, LegStatus.BRIDGED})


class SmsStatus(StrEnum):
    """One message of the SMS outbox (``sms_outbox.status``)."""

    QUEUED = "queued"
    SENDING = "sending"  # committed before the gateway is called; never sent twice
    SENT = "sent"  # handed to the gateway
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


# Not yet handed to a gateway.
UNSENT_SMS_STATUSES = frozenset({SmsStatus.QUEUED, SmsStatus.SENDING})
# Handed to a gateway, and not known to have failed.
SENT_SMS_STATUSES = frozenset({SmsStatus.SENT, SmsStatus.DELIVERED})


class WebhookStatus(StrEnum):
    """One webhook delivery (``webhook_deliveries.status``)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
