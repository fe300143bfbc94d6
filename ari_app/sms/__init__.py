"""The SMS edge: gateways (console, Kannel, Twilio, JSON webhook), inbound replies, message templates."""

from .gateway import (
    DeliveryReport,
    InboundAuthError,
    InboundSms,
    SendResult,
    SmsError,
    SmsGateway,
    SmsPermanentError,
    SmsTemporaryError,
    make_gateway,
)
from .replies import ReplyKind, classify_reply
from .templates import MessageKind, encoding_info, render

__all__ = [
    "DeliveryReport",
    "InboundAuthError",
    "InboundSms",
    "MessageKind",
    "ReplyKind",
    "SendResult",
    "SmsError",
    "SmsGateway",
    "SmsPermanentError",
    "SmsTemporaryError",
    "classify_reply",
    "encoding_info",
    "make_gateway",
    "render",
]
