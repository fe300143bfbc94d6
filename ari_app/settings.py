"""Typed, validated settings: one TOML file plus ``CALLBACK_<SECTION>_<KEY>`` environment overrides.

With no file, the defaults are those of ``callback demo`` (SQLite, built-in simulator, console SMS).
Section names have no underscores: ``CALLBACK_ARI_URL`` is section ``ari``, key ``url``;
``CALLBACK_TEST_*`` is reserved for tests and ignored here.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_core import ErrorDetails

from .domain.amd import PARAMETER_NAMES, AmdParams
from .domain.validation import error_message
from .errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class AriSettings(_Section):
    url: str = "http://127.0.0.1:8088"  # the server's base URL; the client adds /ari
    user: str = "callback"
    password: SecretStr = SecretStr("callback")
    app: str = "callback-app"  # Stasis application name; one per worker
    timeout: float = 10.0  # seconds for one REST request (wall time)
    max_connections: int = 50
    log_file: str | None = None  # every received event as one JSON line
    trunk_template: str = "PJSIP/{number}@trunk"
    amd_context: str = "callback-amd"
    amd_extension: str = "s"
    # Part of every channel, bridge and playback id (cb-{installation}-{attempt}-…), so installations sharing
    # one PBX never ask for each other's ids. Empty: generated once and stored in the database.
    installation_id: str = Field(default="", pattern=r"^[a-z0-9]{0,16}$")


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///./callback.db"
    # PostgreSQL only (SQLite uses one connection). Connections kept open per process, and how many more it
    # may open for a burst (closed again after use): PostgreSQL's max_connections (100 by default) must hold
    # every process's sum, e.g. 4 workers and 1 server at 10 + 5 each use at most 75.
    pool_size: int = Field(default=10, ge=1)
    max_overflow: int = Field(default=5, ge=0)


class WebSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""  # how Asterisk and browsers reach us; empty: http://host:port
    max_body_bytes: int = 64 * 1024
    cors_origins: list[str] = Field(default_factory=list)
    frame_ancestors: list[str] = Field(default_factory=lambda: ["'self'"])  # who may embed the form page
    metrics_public: bool = False  # false: /metrics on loopback or with the API token only
    # Optional CAPTCHA on the public intake: the token the widget gives the browser is checked server-side.
    captcha_provider: Literal["none", "turnstile", "hcaptcha"] = "none"
    captcha_secret: SecretStr = SecretStr("")
    captcha_verify_url: str = ""  # empty: the provider's own siteverify URL
    captcha_timeout: float = 5.0  # seconds (wall time) for the provider's answer


class BusinessSettings(_Section):
    name: str = "Example Co"
    timezone: str = "America/New_York"
    region: str = "US"  # default region for parsing numbers, and the allowed country by default
    allowed_regions: list[str] = Field(default_factory=lambda: ["US"])
    caller_id_number: str = "+12125550100"
    caller_id_name: str = "Callback"
    callback_number: str = "+1 212 555 0100"  # said in the voicemail drop and SMS
    consent_text: str = (
        "I agree to receive a phone call and text messages about my request at the number above. "
        "Reply STOP to opt out."
    )
    privacy_url: str = ""  # linked next to the consent text on the form; empty: no link


class WindowSettings(_Section):
    start: time
    end: time


class CalendarSettings(_Section):
    """Opening windows in the business time zone. Empty ``weekdays``/``weekend`` means always open."""

    always_open: bool = True
    weekdays: list[WindowSettings] = Field(default_factory=list)  # Mon-Fri
    weekend: list[WindowSettings] = Field(default_factory=list)  # Sat-Sun; empty: closed
    holidays: list[str] = Field(default_factory=list)  # ISO dates
    first_call_delay: float = 60.0  # seconds after the request when inside a window


class QuietHoursSettings(_Section):
    """Lead-local hours in which a call or SMS is allowed."""

    start: time = time(8, 0)
    end: time = time(21, 0)
    # Stricter windows by region or subdivision, e.g. {"US-FL" = {start = "08:00", end = "20:00"}}
    regions: dict[str, WindowSettings] = Field(default_factory=dict)


class AdminSettings(_Section):
    name: str
    endpoint: str  # e.g. PJSIP/admin
    priority: int = 0


class CallsSettings(_Section):
    max_attempts: int = 2
    retry_delay: float = 30 * 60.0  # seconds after a miss
    admin_retry_delay: float = 5 * 60.0  # after admin_unavailable
    system_retry_delay: float = 2 * 60.0  # first backoff after system_error
    min_talk_seconds: float = 15.0
    admin_ring_timeout: int = 30
    lead_ring_timeout: int = 30
    final_lead_ring_timeout: int = 45  # long enough for the carrier's voicemail to answer
    whisper: bool = True
    accept_key: str = "1"
    drop_key: str = "9"
    accept_timeout: float = 8.0  # seconds to wait for the accept key after the whisper, per prompt
    amd: Literal["never", "final", "every"] = "final"
    amd_notsure: Literal["human", "machine"] = "human"
    # Silence (ms) after which a greeting counts as over: a 2 s pause inside a greeting is still the greeting
    # (with 1200 the drop started over the rest of it on a real Asterisk).
    talk_detect_ms: int = 2500
    greeting_timeout: float = 60.0  # give up waiting for the beep after this
    admin_selection: Literal["round_robin", "priority"] = "round_robin"
    max_concurrent: int = 20  # calls at once on the trunk, all workers together (PostgreSQL counts them)
    lease_seconds: float = 120.0  # a claim's lease; a dead worker's calls are taken over after this
    lease_wall_floor: float = 30.0  # never shorter than this in wall time, however fast the clock runs
    calls_per_second: float = 5.0  # new calls per second on the trunk, all workers together; 0: unpaced
    sounds: Literal["copy", "http"] = "copy"
    sounds_prefix: str = "callback"  # sound:callback/NAME when copied into Asterisk's sounds dir


class AmdRouteSettings(_Section):
    """One carrier route's AMD parameters; a key left out keeps the [amd] value."""

    initial_silence: int | None = Field(default=None, ge=0)
    greeting: int | None = Field(default=None, ge=0)
    after_greeting_silence: int | None = Field(default=None, ge=0)
    total_analysis_time: int | None = Field(default=None, ge=0)
    min_word_length: int | None = Field(default=None, ge=0)
    between_words_silence: int | None = Field(default=None, ge=0)
    maximum_number_of_words: int | None = Field(default=None, ge=0)
    silence_threshold: int | None = Field(default=None, ge=1, le=32767)
    maximum_word_length: int | None = Field(default=None, ge=0)


class AmdSettings(_Section):
    """AMD()'s parameters, sent per call as channel variables (docs/amd.md); defaults are Asterisk's."""

    initial_silence: int = Field(default=2500, ge=0)
    greeting: int = Field(default=1500, ge=0)
    after_greeting_silence: int = Field(default=800, ge=0)
    total_analysis_time: int = Field(default=5000, ge=0)
    min_word_length: int = Field(default=100, ge=0)
    between_words_silence: int = Field(default=50, ge=0)
    maximum_number_of_words: int = Field(default=2, ge=0)
    silence_threshold: int = Field(default=256, ge=1, le=32767)
    maximum_word_length: int = Field(default=5000, ge=0)
    # Per carrier route (the part after @ in the trunk's dial string, e.g. "trunk"): its own values.
    routes: dict[str, AmdRouteSettings] = Field(default_factory=dict)
    # Tuning: a person taken for a machine costs this many machines taken for a person.
    person_weight: float = Field(default=5.0, gt=0)
    # Clips for `callback amd tune`: on answered final attempts record the first clip_seconds of what the
    # lead's side sends (a snoop channel, while AMD runs), keep it in clips_dir for clip_retention_days.
    # Off by default; when on, the form's consent text says so.
    record_clips: bool = False
    clip_seconds: int = Field(default=10, ge=1, le=60)
    clips_dir: str = "./amd-clips"
    clip_retention_days: int = Field(default=30, ge=1)

    def params_for(self, route: str) -> AmdParams:
        base = AmdParams(**{name: getattr(self, name) for name in PARAMETER_NAMES})
        extra = self.routes.get(route)
        return base if extra is None else base.with_overrides(extra.model_dump())


class SmsSettings(_Section):
    gateway: Literal["console", "kannel", "twilio", "webhook"] = "console"
    send_after_final_miss: bool = False
    cancel_calls_on_stop: bool = True
    dnc_on_stop: bool = False  # a STOP also puts the number on the internal do-not-call list
    confirm_opt_out: bool | None = None  # None: per gateway (on for Kannel, off for hosted APIs)
    url: str = ""
    user: str = ""
    password: SecretStr = SecretStr("")
    sender: str = ""
    inbound_secret: SecretStr = SecretStr("")
    rate_per_second: float = 5.0


class TagSettings(_Section):
    pending: str = "Request to Callback Pending"
    incomplete: str = "Request to Callback Incomplete"
    complete: str = "Request to Callback Complete"


class StageSettings(_Section):
    pending: str = "Callback requested"
    incomplete: str = "Callback missed"
    complete: str = "Connected"
    cancelled: str = "Callback cancelled"
    cancelled_by_lead: str = "Cancelled by lead"  # the lead texted that the callback is no longer needed


class WebhookSettings(_Section):
    urls: list[str] = Field(default_factory=list)
    secret: SecretStr = SecretStr("")


class ApiSettings(_Section):
    token: SecretStr | None = None  # CALLBACK_API_TOKEN


class SoundsSettings(_Section):
    dir: str = "./sounds"
    max_seconds: float = 120.0
    asterisk_dir: str = ""  # Asterisk's sounds directory, for the copy delivery
    url_secret: SecretStr = SecretStr("")


class ReturnsSettings(_Section):
    """A lead calling the business number back (``domain/return_calls.py``, ``calls/inbound.py``)."""

    enabled: bool = True  # false: every call to the business number goes back to the dialplan
    recent_days: float = Field(default=14.0, ge=0)  # closed this recently: still a return call
    unknown: Literal["ring", "continue"] = "continue"  # others: admins, plain whisper; or the dialplan
    message_max_seconds: int = Field(default=120, ge=5)  # the longest message a caller may leave
    recordings_dir: str = "./recordings"  # where callback keeps the messages it fetched from Asterisk
    retention_days: float = Field(default=90.0, gt=0)  # messages older than this are deleted
    thank_you_quiet_hours: float = 24.0  # no thank-you SMS if one went to the number this recently


class SchedulerSettings(_Section):
    # Wall seconds between two looks at the store by the worker, the SMS sender and the webhook sender when
    # nothing woke them: wake-ups and the timer to the next due row do the work, this only catches what
    # nobody announced (a lost NOTIFY, a row written by another program). Idle cost: bench/idle.py.
    safety_poll: float = Field(default=10.0, ge=5.0)
    # PostgreSQL, several workers: wall seconds each worker waits per rank before claiming an attempt another
    # process announced, so the first worker's claim is heard before the next looks (scheduler/announced.py).
    claim_slot: float = Field(default=0.05, gt=0.0, le=5.0)


class LimitsSettings(_Section):
    per_number_per_day: int = 3
    per_ip_per_minute: int = 10


class Settings(_Section):
    ari: AriSettings = Field(default_factory=AriSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    business: BusinessSettings = Field(default_factory=BusinessSettings)
    calendar: CalendarSettings = Field(default_factory=CalendarSettings)
    quiethours: QuietHoursSettings = Field(default_factory=QuietHoursSettings)
    admins: list[AdminSettings] = Field(
        default_factory=lambda: [AdminSettings(name="Admin", endpoint="PJSIP/admin")]
    )
    calls: CallsSettings = Field(default_factory=CallsSettings)
    amd: AmdSettings = Field(default_factory=AmdSettings)
    sms: SmsSettings = Field(default_factory=SmsSettings)
    tags: TagSettings = Field(default_factory=TagSettings)
    stages: StageSettings = Field(default_factory=StageSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    sounds: SoundsSettings = Field(default_factory=SoundsSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    returns: ReturnsSettings = Field(default_factory=ReturnsSettings)

    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)

    @field_validator("admins")
    @classmethod
    def _admins_unique(cls, admins: list[AdminSettings]) -> list[AdminSettings]:
        names = [a.name for a in admins]
        if len(set(names)) != len(names):
            raise ValueError("admin names must be unique")
        return admins


ENV_PREFIX = "CALLBACK_"
_RESERVED_SECTIONS = {"test"}


def _env_value(raw: str) -> Any:
    """Environment values are strings; lists and tables may be given as JSON."""
    stripped = raw.strip()
    if stripped[:1] in "[{":
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return raw
    return raw


def env_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("_")
        if not key or section in _RESERVED_SECTIONS:
            continue
        if section not in Settings.model_fields:
            raise ConfigError(f"unknown section [{section}] (from {name})", key=name)
        out.setdefault(section, {})[key] = _env_value(raw)
    return out


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _table(parts: tuple[int | str, ...]) -> str:
    """Where a key sits, as written in TOML: ``[calls]``, ``[[admins]] #2``, ``[quiethours.regions.FL]``."""
    if parts and isinstance(parts[-1], int):
        return f"[[{'.'.join(str(p) for p in parts[:-1])}]] #{parts[-1] + 1}"
    return f"[{'.'.join(str(p) for p in parts)}]"


def describe_error(error: ErrorDetails, from_env: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """One settings problem, naming the key: "unknown key 'foo' in [calls]", "[calls] amd: must be …".
    A key that came from the environment also names its variable."""
    loc = tuple(error["loc"])
    if not loc:
        return f"the configuration {error_message(error, object_word='a table')}"
    *parents, key = loc
    name = str(key)
    if isinstance(key, int):  # an item of a list of values: name the list
        name = f"{parents.pop() if parents else 'list'}, item {key + 1}"
    table = _table(tuple(parents)) if parents else ""
    if error["type"] == "extra_forbidden":
        text = f"unknown key {name!r} in {table}" if table else f"unknown section [{name}]"
    else:
        what = error_message(error, object_word="a table", field_word="key")
        text = f"{table + ' ' if table else ''}{name}: {what}"
    section, field = loc[0], loc[1] if len(loc) > 1 else None
    if (
        from_env
        and isinstance(section, str)
        and isinstance(field, str)
        and field in from_env.get(section, {})
    ):
        text += f" (from {ENV_PREFIX}{section.upper()}_{field.upper()})"
    return text


def load_settings(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read the TOML file (if any), apply environment and explicit overrides, validate."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {p}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    from_env = env_overrides(os.environ if environ is None else environ)
    data = _merge(data, from_env)
    if overrides:
        data = _merge(data, overrides)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(describe_error(e, from_env) for e in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from None


def consent_text(settings: Settings) -> str:
    """The consent text the form shows (and the API records by default): ``business.consent_text``, plus a
    sentence on the recording when ``[amd] record_clips`` is on."""
    text = settings.business.consent_text
    if settings.amd.record_clips:
        days = settings.amd.clip_retention_days
        text = (
            f"{text.rstrip()} The first {settings.amd.clip_seconds} seconds of what my side of the call sends"
            f" may be recorded to check the answering-machine detection, and kept for {days} days at most."
        )
    return text
