"""``callback check``: is this installation able to make calls? Every finding comes with a fix.

It reads the configuration exactly as ``serve`` does (the TOML file and ``CALLBACK_*`` overrides; with no
file, the defaults of ``callback demo``), then checks, each with a bounded timeout: the configuration itself,
the database, ARI (reachable, credentials, Asterisk version), the modules we need, the admin and trunk
endpoints, that our Stasis application registers, that the prompts are where Asterisk will look for them,
and that the SMS gateway answers. With ``--templates`` it also renders each SMS kind with sample values and
shows its encoding (GSM-7 or UCS-2) and segment count.

A result is ``ok``, ``warn`` (works, with a caveat), ``fail`` or ``skip`` (could not be checked because an
earlier check failed). A failure either blocks calls (exit status 1) or not (the SMS gateway: calls go on,
texts don't; exit status 3 when that is all).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Awaitable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
from sqlalchemy.engine import make_url

from ..ari.client import AriClient
from ..ari.connection import EventConnection, redact
from ..ari.errors import AriError, AriNotFound, AriUnauthorized, AriUnreachable
from ..audio.manifest import effective_sounds_dir, load_manifest
from ..audio.media import sound_uri
from ..audio.prompts import PROMPTS
from ..calls.ids import belongs_to, has_our_shape, parse_leg_id
from ..domain.names import RULE
from ..domain.statuses import LEASED_ATTEMPT_STATUSES
from ..errors import CallbackError, ConfigError
from ..http.basic_auth import basic_auth
from ..settings import ENV_PREFIX, Settings, load_settings
from ..sms.templates import MessageKind, encoding_info, is_gsm7, render

Status = Literal["ok", "warn", "fail", "skip"]

MIN_ASTERISK_MAJOR = 20
DEFAULT_TIMEOUT = 5.0  # wall seconds for each check that waits for the world

# Modules every installation needs: ARI and its resources, Stasis, the event socket, PJSIP, the mixing
# bridge, and app_stasis (the AMD context hands the lead leg back with Stasis()).
BASE_MODULES: tuple[str, ...] = (
    "res_ari",
    "res_ari_applications",
    "res_ari_asterisk",
    "res_ari_bridges",
    "res_ari_channels",
    "res_ari_endpoints",
    "res_ari_events",
    "res_ari_playbacks",
    "res_stasis",
    "res_stasis_answer",
    "res_stasis_playback",
    "res_http_websocket",
    "app_stasis",
    "chan_pjsip",
    "bridge_softmix",
)
AMD_MODULES: tuple[str, ...] = ("app_amd", "func_talkdetect")
HTTP_SOUNDS_MODULES: tuple[str, ...] = ("res_http_media_cache",)
SOUNDS_LOOKUP_MODULE = "res_ari_sounds"  # only needed to let `check` see the sounds


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    message: str
    fix: str = ""
    blocks_calls: bool = True  # a "fail" that stops calls (everything but the SMS gateway)


@dataclass
class CheckReport:
    source: str  # which configuration was read
    env_keys: list[str] = field(default_factory=list)  # CALLBACK_* names applied (never their values)
    results: list[CheckResult] = field(default_factory=list)

    def get(self, name: str) -> CheckResult:
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(name)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "fail"]

    @property
    def blocks_calls(self) -> bool:
        return any(r.blocks_calls for r in self.failures)

    @property
    def exit_code(self) -> int:
        if self.blocks_calls:
            return 1
        return 3 if self.failures else 0

    def render(self) -> str:
        marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "skip": "skip"}
        width = max((len(r.name) for r in self.results), default=8)
        lines = [f"callback check: {self.source}"]
        if self.env_keys:
            lines.append(f"  environment overrides: {', '.join(self.env_keys)}")
        for r in self.results:
            lines.append(f"  {marks[r.status]}  {r.name.ljust(width)}  {r.message}")
            if r.fix and r.status in ("warn", "fail"):
                for i, fix_line in enumerate(r.fix.splitlines()):
                    lines.append(f"        {' ' * width}  {'fix: ' if i == 0 else '     '}{fix_line}")
        blocking = [r.name for r in self.failures if r.blocks_calls]
        other = [r.name for r in self.failures if not r.blocks_calls]
        if blocking:
            lines.append(f"result: calls are blocked by: {', '.join(blocking)}")
        elif other:
            lines.append(f"result: calls can be made; not working: {', '.join(other)}")
        else:
            warnings = sum(r.status == "warn" for r in self.results)
            lines.append("result: ready" + (f" ({warnings} warning(s))" if warnings else ""))
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "env_keys": self.env_keys,
            "exit_code": self.exit_code,
            "results": [asdict(r) for r in self.results],
        }


# ---------------------------------------------------------------------------------------- helpers


def _major(version: str) -> int | None:
    m = re.match(r"\s*(?:certified/)?(\d+)\.", version)
    return int(m.group(1)) if m else None


def endpoint_resource(dial_string: str) -> tuple[str, str] | None:
    """(technology, endpoint) that a dial string goes through, or None when ARI can't look it up.

    ``PJSIP/admin`` → (PJSIP, admin); ``PJSIP/{number}@trunk`` → (PJSIP, trunk);
    ``PJSIP/trunk/sip:{number}@host`` → (PJSIP, trunk); ``Local/…`` → None.
    """
    tech, sep, rest = dial_string.partition("/")
    if not sep or not rest or tech.upper() != "PJSIP":
        return None
    head, slash, _uri = rest.partition("/")
    if slash:
        return "PJSIP", head
    user, at, host = rest.partition("@")
    return "PJSIP", (host if at else user)


def _safe(text: object) -> str:
    """An error's text without credentials (URLs with api_key or user:password@)."""
    cleaned = redact(str(text))
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", cleaned)


def _required_modules(s: Settings) -> list[str]:
    mods = list(BASE_MODULES)
    if s.calls.amd != "never":
        mods += AMD_MODULES
    if s.calls.sounds == "http":
        mods += HTTP_SOUNDS_MODULES
    return mods


def _fix_modules(names: list[str]) -> str:
    loads = " ".join(f"{n}.so" for n in names)
    return (
        f"load them: `asterisk -rx 'module load <name>.so'` for each of {loads}, and make it last in\n"
        "modules.conf (`load = <name>.so`, no `noload` line for it; see asterisk_conf/modules.conf).\n"
        "Not built? Rebuild Asterisk with them enabled in menuselect (FreePBX: they ship with it)."
    )


# ----------------------------------------------------------------------------------- the checks


def validate_settings(s: Settings) -> list[str]:
    """What ``load_settings`` can't see on its own: keys that are valid alone but can't work together."""
    problems: list[str] = []
    scheme = urlsplit(s.ari.url).scheme
    if scheme not in ("http", "https"):
        problems.append(f"ari.url {s.ari.url!r}: use http://HOST:PORT (the server's base URL, without /ari)")
    elif s.ari.url.rstrip("/").endswith("/ari"):
        problems.append(f"ari.url {s.ari.url!r}: leave /ari off, the client adds it")
    if "{number}" not in s.ari.trunk_template:
        problems.append(f"ari.trunk_template {s.ari.trunk_template!r}: must contain {{number}}")
    if not s.admins:
        problems.append("admins: at least one admin is needed (name and endpoint, e.g. PJSIP/admin)")
    for i, admin in enumerate(s.admins):
        if "/" not in admin.endpoint:
            problems.append(f"admins[{i}].endpoint {admin.endpoint!r}: use TECH/RESOURCE, e.g. PJSIP/admin")
    sms = s.sms
    if sms.gateway in ("kannel", "webhook") and not sms.url:
        problems.append(f"sms.url: required for the {sms.gateway} gateway")
    if sms.gateway == "kannel" and not (sms.user and sms.password.get_secret_value()):
        problems.append("sms.user and sms.password: required for Kannel (its sendsms-user)")
    if sms.gateway == "twilio" and not (sms.user and sms.password.get_secret_value()):
        problems.append("sms.user (account SID) and sms.password (auth token): required for Twilio")
    if sms.gateway != "console" and not sms.sender:
        problems.append(f"sms.sender: required for the {sms.gateway} gateway (the number texts come from)")
    if s.calls.sounds == "http":
        try:
            sound_uri(
                "press-1",
                mode="http",
                public_url=s.web.public_url,
                secret=s.sounds.url_secret.get_secret_value().encode(),
            )
        except ConfigError as exc:
            problems.append(exc.message)
    return problems


async def check_database(s: Settings, limit: float) -> CheckResult:
    from ..store.migrate import current_revision, head_revision

    try:
        url = make_url(s.database.url)
    except Exception as exc:  # sqlalchemy raises ArgumentError and ValueError variants
        return CheckResult(
            "database",
            "fail",
            f"database.url is not a database URL ({type(exc).__name__})",
            "use e.g. postgresql+asyncpg://USER:PASSWORD@HOST/DB or sqlite+aiosqlite:///./callback.db",
        )
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite":
        path = url.database or ""
        if path in ("", ":memory:"):
            return CheckResult(
                "database",
                "warn",
                "in-memory SQLite: nothing survives a restart",
                "set database.url to a file or PostgreSQL",
            )
        if not await asyncio.to_thread(Path(path).exists):
            return CheckResult(
                "database",
                "warn",
                f"{shown}: no database file yet",
                "`callback db upgrade` creates it (serve and demo also do at start)",
            )
    try:
        async with asyncio.timeout(limit):
            current = await current_revision(s.database.url)
    except Exception as exc:  # any driver error: connection refused, bad password, unknown database
        return CheckResult(
            "database",
            "fail",
            f"{shown}: cannot connect ({type(exc).__name__}: {_safe(exc)[:200]})",
            "is the database running and reachable? check host, port, user, password and "
            "database name in database.url (CALLBACK_DATABASE_URL)",
        )
    head = head_revision()
    if current != head:
        state = "never migrated" if current is None else f"at revision {current}, latest is {head}"
        return CheckResult(
            "database", "warn", f"{shown}: {state}", "`callback db upgrade` (serve also upgrades at start)"
        )
    return CheckResult("database", "ok", f"{shown}: reachable, schema up to date")


async def check_ari(ari: AriClient, s: Settings) -> tuple[CheckResult, CheckResult | None]:
    """(ARI reachable with our credentials, Asterisk version); the second is None when the first failed."""
    where = s.ari.url
    try:
        info = await ari.asterisk_info()
    except AriUnauthorized:
        return CheckResult(
            "ari",
            "fail",
            f"{where}: ARI refused user {s.ari.user!r} (HTTP 401)",
            "ari.user/ari.password must match a `type = user` section of Asterisk's ari.conf\n"
            "(FreePBX: Settings → Asterisk REST Interface Users)",
        ), None
    except AriUnreachable as exc:
        return CheckResult(
            "ari",
            "fail",
            f"{where}: no answer ({_safe(exc.message)})",
            "is Asterisk running? http.conf needs enabled = yes and the bindaddr/bindport in\n"
            "ari.url; ari.conf needs enabled = yes; a firewall may be in the way",
        ), None
    except AriNotFound:
        return CheckResult(
            "ari",
            "fail",
            f"{where}: HTTP answers but there is no ARI (404 on /ari/asterisk/info)",
            "load res_ari.so and res_ari_asterisk.so; ari.url is the HTTP server's base URL without /ari",
        ), None
    except AriError as exc:
        return CheckResult(
            "ari",
            "fail",
            f"{where}: {_safe(exc.message)}",
            "see Asterisk's log (messages.log) for the reason",
        ), None
    version = str(info.get("system", {}).get("version", ""))
    ok = CheckResult("ari", "ok", f"{where}: connected as {s.ari.user!r}")
    major = _major(version)
    if major is None:
        return ok, CheckResult(
            "asterisk-version",
            "warn",
            f"Asterisk {version or '(no version)'}: cannot tell the release",
            "callback is tested with Asterisk 20 and 22 LTS",
        )
    if major < MIN_ASTERISK_MAJOR:
        return ok, CheckResult(
            "asterisk-version",
            "warn",
            f"Asterisk {version} is older than {MIN_ASTERISK_MAJOR}",
            "upgrade to Asterisk 20 or 22 LTS; older releases are not tested and lack ARI features we use",
        )
    return ok, CheckResult("asterisk-version", "ok", f"Asterisk {version}")


async def check_modules(ari: AriClient, s: Settings) -> tuple[CheckResult, set[str]]:
    try:
        loaded = {str(m.get("name", "")).removesuffix(".so") for m in await ari.list_modules()}
    except AriError as exc:
        return CheckResult(
            "modules", "fail", f"cannot list modules: {_safe(exc.message)}", "load res_ari_asterisk.so"
        ), set()
    missing = [name for name in _required_modules(s) if name not in loaded]
    if missing:
        return CheckResult(
            "modules", "fail", f"not loaded: {', '.join(missing)}", _fix_modules(missing)
        ), loaded
    extra = (
        "" if SOUNDS_LOOKUP_MODULE in loaded else f" ({SOUNDS_LOOKUP_MODULE} is not: sounds can't be checked)"
    )
    return CheckResult("modules", "ok", f"{len(_required_modules(s))} required modules loaded{extra}"), loaded


async def check_admins(ari: AriClient, s: Settings) -> CheckResult:
    missing: list[str] = []
    offline: list[str] = []
    online: list[str] = []
    unchecked: list[str] = []
    for admin in s.admins:
        target = endpoint_resource(admin.endpoint)
        if target is None:
            unchecked.append(admin.endpoint)
            continue
        try:
            endpoint = await ari.get_endpoint(*target)
        except AriNotFound:
            missing.append(f"{admin.name} ({admin.endpoint})")
            continue
        (offline if endpoint.state == "offline" else online).append(f"{admin.name} ({admin.endpoint})")
    if missing:
        return CheckResult(
            "admin-endpoints",
            "fail",
            f"no such endpoint: {', '.join(missing)}",
            "define each admin's endpoint in pjsip.conf (see asterisk_conf/pjsip.conf, "
            "[admin]) or fix admins[].endpoint\n(FreePBX: the extension number, e.g. PJSIP/201)",
        )
    note = f"; not checked: {', '.join(unchecked)}" if unchecked else ""
    if offline:
        status: Status = "fail" if not online and not unchecked else "warn"
        return CheckResult(
            "admin-endpoints",
            status,
            f"no phone registered for: {', '.join(offline)}{note}",
            "register the admin's softphone or desk phone (calls to an admin whose phone is "
            "not registered end admin_unavailable)",
        )
    return CheckResult("admin-endpoints", "ok", f"registered: {', '.join(online) or 'none'}{note}")


async def check_trunk(ari: AriClient, s: Settings) -> CheckResult:
    template = s.ari.trunk_template
    target = endpoint_resource(template)
    if target is None:
        return CheckResult("trunk", "ok", f"{template}: not a PJSIP endpoint, not checked")
    try:
        endpoint = await ari.get_endpoint(*target)
    except AriNotFound:
        return CheckResult(
            "trunk",
            "fail",
            f"{template}: PJSIP endpoint {target[1]!r} does not exist "
            "(every lead dial would end 'Allocation failed')",
            "define the trunk: copy asterisk_conf/pjsip_trunk.conf.example to pjsip_trunk.conf next to "
            "pjsip.conf,\nfill in the carrier and `module reload res_pjsip.so`; or fix ari.trunk_template\n"
            "(FreePBX: the trunk's name, e.g. PJSIP/{number}@mycarrier)",
        )
    since_reload: float | None = None
    if endpoint.state != "online":
        since_reload = await _seconds_since_reload(ari)
    return trunk_result(template, target[1], endpoint.state, since_reload)


# The shipped trunk qualifies every 60 s (asterisk_conf/pjsip_trunk.conf.example): until its first answer
# after a start or reload, ARI says "unknown" or "offline" although nothing is wrong yet.
QUALIFY_GRACE_SECONDS = 90.0


def trunk_result(template: str, resource: str, state: str, since_reload: float | None) -> CheckResult:
    """What the trunk endpoint's ARI ``state`` means, given how long ago Asterisk (re)loaded its
    configuration (``None``: unknown)."""
    if state == "online":
        return CheckResult("trunk", "ok", f"{template}: endpoint {resource!r} is online")
    fresh = since_reload is not None and 0 <= since_reload < QUALIFY_GRACE_SECONDS
    if state == "unknown" or (state == "offline" and fresh):
        return CheckResult(
            "trunk",
            "warn",
            f"{template}: endpoint {resource!r} is not qualified yet (pjsip qualify {resource})",
            f"Asterisk asks the carrier every qualify_frequency seconds after a start or reload; run "
            f"`pjsip qualify {resource}`\nor `callback check` again in a minute",
        )
    if state == "offline":
        return CheckResult(
            "trunk",
            "warn",
            f"{template}: endpoint {resource!r} is offline",
            "check the trunk's registration and qualify (`pjsip show registrations`, "
            f"`pjsip show endpoint {resource}`)",
        )
    return CheckResult("trunk", "ok", f"{template}: endpoint {resource!r} is {state}")


async def _seconds_since_reload(ari: AriClient) -> float | None:
    """Seconds since Asterisk last loaded its configuration, both instants on Asterisk's own clock."""
    try:
        info, ping = await ari.asterisk_info(), await ari.ping()
        reloaded = datetime.fromisoformat(str(info["status"]["last_reload_time"]))
        now = datetime.fromisoformat(str(ping["timestamp"]))
    except (AriError, KeyError, TypeError, ValueError):
        return None
    return (now - reloaded).total_seconds()


async def _installation_facts(s: Settings, attempt_ids: set[int]) -> tuple[str, set[int]]:
    """The stored installation id ("" before the first start) and which of ``attempt_ids`` are running."""
    from sqlalchemy import select

    from ..store.engine import engine_for, make_sessionmaker
    from ..store.models import Attempt, Installation

    engine = engine_for(s.database)
    try:
        sessions = make_sessionmaker(engine)
        async with sessions() as session:
            row = await session.get(Installation, 1)
            running = set(
                await session.scalars(
                    select(Attempt.id).where(
                        Attempt.id.in_(attempt_ids), Attempt.status.in_(LEASED_ATTEMPT_STATUSES)
                    )
                )
            )
        return (row.installation_id if row else ""), running
    finally:
        await engine.dispose()


async def check_shared_pbx(ari: AriClient, s: Settings) -> CheckResult:
    """Call ids on the PBX: another installation asking for ids of ours would have its calls refused and,
    before ids had an installation part, had its calls hung up by ours (seen on a real Asterisk)."""
    shaped = [c.id for c in await ari.list_channels() if has_our_shape(c.id)]
    legs = [leg for cid in shaped if (leg := parse_leg_id(cid)) is not None]
    try:
        # One read: the stored id, and which of the attempts named on the PBX (any installation's) run here.
        stored, running = await _installation_facts(s, {leg.attempt_id for leg in legs})
    except Exception as exc:  # the database check reports why
        return CheckResult("shared-pbx", "skip", f"database not readable ({type(exc).__name__})")
    installation = s.ari.installation_id or stored
    if not installation:
        return CheckResult("shared-pbx", "ok", "no installation id yet: one is generated at the first start")
    mine = [leg for leg in legs if leg.installation == installation]
    strangers = sorted({leg.attempt_id for leg in mine} - running)
    others = sorted({cid for cid in shaped if not belongs_to(cid, installation)})
    if strangers:
        return CheckResult(
            "shared-pbx",
            "warn",
            f"live channels use this installation's id {installation!r} for attempts it is not running "
            f"({', '.join(map(str, strangers[:5]))}): another installation on this PBX has the same id",
            "set a different ari.installation_id on one of them (a copy of a database carries its id)",
        )
    note = f"; live calls of other applications with ids of our shape: {len(others)}" if others else ""
    return CheckResult("shared-pbx", "ok", f"installation id {installation!r} is ours alone{note}")


async def check_application(s: Settings, ari: AriClient, limit: float) -> CheckResult:
    app = s.ari.app
    with contextlib.suppress(AriNotFound):
        await ari.get_application(app)
        # Connecting now would take the application over from the worker that holds it.
        return CheckResult("application", "ok", f"{app!r} is registered (a worker is connected)")
    conn = EventConnection(
        s.ari.url,
        s.ari.user,
        s.ari.password.get_secret_value(),
        app,
        on_event=lambda _e: None,
        open_timeout=limit,
        ping_interval=None,
    )
    async with conn:
        try:
            await conn.wait_connected(limit)
            await ari.get_application(app)
        except (TimeoutError, AriError):
            return CheckResult(
                "application",
                "fail",
                f"{app!r} could not register over the events WebSocket",
                "load res_ari_events.so and res_http_websocket.so; a proxy in front of Asterisk "
                "must pass WebSocket upgrades for /ari/events",
            )
    return CheckResult("application", "ok", f"{app!r} registers (connected and left again)")


async def check_sounds(s: Settings, ari: AriClient | None, loaded: set[str], limit: float) -> CheckResult:
    names = sorted(PROMPTS)
    manifest = await asyncio.to_thread(load_manifest, effective_sounds_dir(s.sounds.dir))
    local_missing = [n for n in names if n not in manifest]
    local_note = (
        f"; not imported here ({s.sounds.dir}): {', '.join(local_missing)}, so their lengths are guessed"
        if local_missing
        else ""
    )
    local_fix = "`callback sounds defaults` (or `callback sounds import FILE.mp3 --as NAME`)"
    if s.calls.sounds == "copy":
        if ari is None:
            return CheckResult("sounds", "skip", "ARI is not reachable")
        if SOUNDS_LOOKUP_MODULE not in loaded:
            return CheckResult(
                "sounds",
                "warn",
                f"cannot see Asterisk's sounds without {SOUNDS_LOOKUP_MODULE}",
                f"load {SOUNDS_LOOKUP_MODULE}.so to let `callback check` verify them",
            )
        absent: list[str] = []
        for name in names:
            sound_id = f"{s.calls.sounds_prefix}/{name}"
            try:
                await ari.get_sound(sound_id)
            except AriNotFound:
                absent.append(f"sound:{sound_id}")
        if absent:
            return CheckResult(
                "sounds",
                "fail",
                f"Asterisk has no {', '.join(absent)}",
                "copy them into Asterisk's sounds directory: `callback sounds install "
                "--asterisk-dir /var/lib/asterisk/sounds/en`\n(sounds.asterisk_dir; "
                f"{local_fix} first if this machine has none)",
            )
        status: Status = "warn" if local_missing else "ok"
        return CheckResult(
            "sounds",
            status,
            f"Asterisk has all {len(names)} prompts under sound:{s.calls.sounds_prefix}/{local_note}",
            local_fix if local_missing else "",
        )
    # HTTP: Asterisk fetches signed URLs from our web server.
    if local_missing:
        return CheckResult(
            "sounds",
            "fail",
            f"not imported in {s.sounds.dir}: {', '.join(local_missing)} "
            "(the web server has nothing to serve)",
            local_fix,
        )
    uri = sound_uri(
        names[0],
        mode="http",
        public_url=s.web.public_url,
        secret=s.sounds.url_secret.get_secret_value().encode(),
    )
    url = uri.removeprefix("sound:")
    try:
        async with asyncio.timeout(limit), aiohttp.ClientSession() as http, http.get(url) as resp:
            status_code = resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return CheckResult(
            "sounds",
            "warn",
            f"{s.web.public_url}: our web server does not answer ({type(exc).__name__})",
            "start `callback serve`, then check again; Asterisk must reach web.public_url too",
        )
    if status_code != 200:
        return CheckResult(
            "sounds",
            "fail",
            f"{s.web.public_url}/media/… answered HTTP {status_code}",
            "web.public_url must reach this service's web server (no path rewriting)",
        )
    return CheckResult("sounds", "ok", f"served from {s.web.public_url}/media/ (Asterisk must reach it too)")


async def check_sms(s: Settings, limit: float) -> CheckResult:
    sms = s.sms
    if sms.gateway == "console":
        return CheckResult("sms-gateway", "ok", "console: texts are printed, not sent", blocks_calls=False)
    url = sms.url or "https://api.twilio.com"
    request: dict[str, Any] = {}
    if sms.gateway == "kannel":
        # No `to`: Kannel checks the credentials, then answers 400 for the missing receiver; nothing is sent.
        request["params"] = {"username": sms.user, "password": sms.password.get_secret_value()}
    elif sms.gateway == "twilio":
        url = f"{url.rstrip('/')}/2010-04-01/Accounts/{sms.user}.json"
        request["headers"] = basic_auth(sms.user, sms.password.get_secret_value())
    where = urlsplit(url)._replace(query="").geturl()
    try:
        async with (
            asyncio.timeout(limit),
            aiohttp.ClientSession() as http,
            http.get(url, allow_redirects=False, **request) as resp,
        ):
            status_code = resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return CheckResult(
            "sms-gateway",
            "fail",
            f"{sms.gateway} at {where}: no answer ({type(exc).__name__})",
            "is the gateway running and sms.url right? (Kannel: the smsbox sendsms port, "
            "e.g. http://127.0.0.1:13013/cgi-bin/sendsms)",
            blocks_calls=False,
        )
    if status_code in (401, 403):
        return CheckResult(
            "sms-gateway",
            "fail",
            f"{sms.gateway} at {where}: credentials refused (HTTP {status_code})",
            "sms.user/sms.password must match the gateway (Kannel: a sendsms-user group)",
            blocks_calls=False,
        )
    return CheckResult(
        "sms-gateway", "ok", f"{sms.gateway} at {where}: answers (HTTP {status_code})", blocks_calls=False
    )


# Sample values for ``--templates``: a typical first name and a `when` as the missed-call text says it.
TEMPLATE_SAMPLE = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "when": "tomorrow at 9:00 AM",
    "zone": "EST",
}
# A "name" that fails the name rule: each text is also shown as it goes out when the form was abused.
UNSAFE_SAMPLE_NAME = "Visit bit.ly/win"
# What a text left without its name looks like when the template does not test {% if first_name %}.
_GAP = re.compile(r"\s[,.!?]|^[,.!?]|[,.!?] ?[,.!?]")


def check_templates(s: Settings, overrides: dict[str, str] | None = None) -> list[CheckResult]:
    """The name rule, then each SMS kind rendered with sample values: its encoding and segment count, and the
    text as it goes out when the name typed on the form fails the rule.

    UCS-2 (70 characters per SMS instead of 160), more than one segment (each billed as an SMS), or a text
    that reads oddly without a name is a warning; a template that does not render fails (texts of that kind
    can't be sent; calls go on). ``overrides``: template sources by kind, as `render` takes them.
    """
    context = {
        **TEMPLATE_SAMPLE,
        "business": s.business.name,
        "callback_number": s.business.callback_number,
    }
    results = [
        CheckResult(
            "sms-names",
            "ok",
            f"a text repeats a name typed on the form only if it is {RULE}; otherwise it uses no name. "
            "The reason typed on the form is never texted",
            blocks_calls=False,
        )
    ]
    for kind in MessageKind:
        name = f"sms-template:{kind.value}"
        try:
            text = render(kind, context, overrides)
            nameless = render(kind, {**context, "first_name": UNSAFE_SAMPLE_NAME}, overrides)
        except CallbackError as exc:
            results.append(
                CheckResult(name, "fail", _safe(exc.message), "fix the template", blocks_calls=False)
            )
            continue
        encoding, segments = encoding_info(text)
        sample = json.dumps(text, ensure_ascii=False)
        message = f"{encoding}, {segments} segment{'s' if segments > 1 else ''}, {len(text)} chars: {sample}"
        fixes = []
        if nameless != text:
            shown = json.dumps(nameless, ensure_ascii=False)
            message += f"; with the name {json.dumps(UNSAFE_SAMPLE_NAME)}: {shown}"
            if len(_GAP.findall(nameless)) > len(_GAP.findall(text)):
                fixes.append(
                    "the text reads oddly without a name: put the name and what goes around it inside "
                    "{% if first_name %}...{% endif %}"
                )
        if encoding == "UCS-2":
            odd = "".join(dict.fromkeys(ch for ch in text if not is_gsm7(ch)))
            fixes.append(
                f"{odd!r} is outside GSM-7, so the whole text is UCS-2 (70 characters per SMS, not 160):\n"
                "use plain ASCII (- for a dash, straight quotes); the business name counts too"
            )
        if segments > 1:
            fixes.append(
                f"{segments} segments are billed as {segments} SMS: shorten the template or business.name"
            )
        status: Status = "warn" if fixes else "ok"
        results.append(CheckResult(name, status, message, "\n".join(fixes), blocks_calls=False))
    return results


# ----------------------------------------------------------------------------------- the run


async def run_checks(
    config: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    limit: float = DEFAULT_TIMEOUT,
    templates: bool = False,
) -> CheckReport:
    """Every check, in order; later checks are skipped when what they need failed. With ``templates``,
    each SMS kind's sample text follows (see `check_templates`)."""
    import os

    env = os.environ if environ is None else environ
    report = CheckReport(
        source=f"config file {config}" if config else "no config file: the defaults of `callback demo`",
        env_keys=sorted(
            k for k in env if k.startswith(ENV_PREFIX) and not k.startswith(ENV_PREFIX + "TEST_")
        ),
    )
    add = report.results.append
    try:
        settings = load_settings(config, environ=env)
    except ConfigError as exc:
        add(CheckResult("config", "fail", exc.message, "fix the key it names (file or CALLBACK_* variable)"))
        for name in ("database", "ari", "sms-gateway"):
            add(CheckResult(name, "skip", "the configuration is not valid"))
        return report
    problems = validate_settings(settings)
    if problems:
        add(CheckResult("config", "fail", "; ".join(problems), "fix the keys named"))
    else:
        add(CheckResult("config", "ok", "settings are valid"))

    add(await _bounded("database", check_database(settings, limit), limit))

    async with AriClient(
        settings.ari.url,
        settings.ari.user,
        settings.ari.password.get_secret_value(),
        timeout=limit,
        read_retries=0,
    ) as ari:
        ari_result, version = await _bounded_pair("ari", check_ari(ari, settings), limit)
        add(ari_result)
        if version is None:
            for name in (
                "asterisk-version",
                "modules",
                "admin-endpoints",
                "trunk",
                "shared-pbx",
                "application",
                "sounds",
            ):
                add(CheckResult(name, "skip", "ARI is not reachable"))
        else:
            add(version)
            modules, loaded = await check_modules(ari, settings)
            add(modules)
            add(await _bounded("admin-endpoints", check_admins(ari, settings), limit))
            add(await _bounded("trunk", check_trunk(ari, settings), limit))
            add(await _bounded("shared-pbx", check_shared_pbx(ari, settings), limit))
            add(await _bounded("application", check_application(settings, ari, limit), limit * 2))
            add(await _bounded("sounds", check_sounds(settings, ari, loaded, limit), limit * 2))
    add(await _bounded("sms-gateway", check_sms(settings, limit), limit, blocks_calls=False))
    if templates:
        report.results.extend(check_templates(settings))
    return report


async def _bounded(
    name: str, check: Awaitable[CheckResult], limit: float, *, blocks_calls: bool = True
) -> CheckResult:
    """One check, never longer than a bound; an unexpected error becomes a failed result with its reason."""
    try:
        async with asyncio.timeout(limit + 1.0):
            return await check
    except TimeoutError:
        return CheckResult(
            name,
            "fail",
            f"no answer within {limit:.0f} s",
            "see the checks above",
            blocks_calls=blocks_calls,
        )
    except CallbackError as exc:
        return CheckResult(name, "fail", _safe(exc.message), blocks_calls=blocks_calls)


async def _bounded_pair(
    name: str, check: Awaitable[tuple[CheckResult, CheckResult | None]], limit: float
) -> tuple[CheckResult, CheckResult | None]:
    try:
        async with asyncio.timeout(limit * 3 + 1.0):
            return await check
    except TimeoutError:
        return CheckResult(
            name,
            "fail",
            f"no answer within {limit:.0f} s",
            "is Asterisk overloaded, or is ari.url pointing at something else?",
        ), None
