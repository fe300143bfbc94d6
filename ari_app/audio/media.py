"""How Asterisk gets our sounds: copied into its sounds directory, or fetched from us over HTTP.

Copy (the default): ``install_into_asterisk`` puts ``NAME.wav`` and ``NAME.wav16`` under
``<asterisk sounds>/callback/`` and we play ``sound:callback/NAME``; Asterisk picks the rendition
that suits the channel's codec.

HTTP: we play ``sound:http://HOST/media/v1/<expires>/<hmac>/<filler>/NAME.wav`` and our web server
answers it after ``verify_media_path`` (Asterisk sends no credentials, so the URL is the key).
What Asterisk 22 does with such a URL, read from its source (res_http_media_cache.c,
media_cache.c, file.c) and its issue tracker:

* The format comes from the response's Content-Type first, then from the extension at the end of
  the URL's *path* (query strings are ignored). ``audio/wav`` and ``audio/x-wav`` mean ``wav``
  (8 kHz), so a 16 kHz file must be served as ``audio/x-wav;codec=pcm;bit=16;rate=16000``
  (format_wav's own MIME type for ``wav16``) or with a Content-Type Asterisk does not know, and a
  path ending in ``.wav16``. ``media_content_type`` gives the exact strings; both routes lead to
  ``.wav16``, which is a registered extension, so ``.wav16`` works through the cache on paper
  (not measured here: no Asterisk on this machine). ``.wav`` (8 kHz) is the default: every
  channel can play it.
* #444: file.c sizes the buffer for the cached file's local path from the URL's length
  (``strlen(lang) + strlen(url) + 4``); the path is ``<astcachedir>/bucket-XXXXXX`` (33 characters
  with the default ``/var/cache/asterisk``). A shorter URL truncates the path and the file "does
  not exist in any format". Our URLs are padded to at least ``MIN_URL_LENGTH`` characters.
* #172: ``&`` separates files in Playback(), and ARI's ``media`` parameter takes a comma-separated
  list: our URLs carry only ``[A-Za-z0-9:/._-]`` (and the configured host), no query string.
* #1689 (20.x): concurrent refreshes of one cached URL race. ``media_headers`` sends
  ``Cache-Control: max-age`` up to the URL's expiry, and expiries are rounded up to
  ``EXPIRY_STEP`` so one URL is reused (and cached, not refetched) for a while.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from ..errors import ConfigError
from .errors import MediaLinkInvalid
from .manifest import FORMATS, NAME_RE, check_name

SoundMode = Literal["copy", "http"]

MIN_URL_LENGTH = 200  # > len("<astcachedir>/bucket-XXXXXX") for any astcachedir up to ~180 characters
EXPIRY_STEP = 300  # seconds; expiries are rounded up to this so URLs repeat and Asterisk's cache hits
MIN_SECRET_BYTES = 16
_MAX_FILLER = 400
_VERSION = "v1"
_CONTENT_TYPES = {
    # format_wav.c's MIME types; with these, Content-Type alone already picks the right format.
    "wav": "audio/x-wav;codec=pcm;bit=16;rate=8000",
    "wav16": "audio/x-wav;codec=pcm;bit=16;rate=16000",
}
_PUBLIC_URL_RE = re.compile(r"https?://[A-Za-z0-9.\-]+(?::\d{1,5})?(?:/[A-Za-z0-9._~\-]+)*/?")
_PREFIX_RE = re.compile(r"[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*")
_MEDIA_PATH_RE = re.compile(
    rf"/media/{_VERSION}/(?P<expires>\d{{1,12}})/(?P<sig>[0-9a-f]{{64}})/0{{1,{_MAX_FILLER}}}/"
    rf"(?P<name>{NAME_RE.pattern})\.(?P<fmt>wav16|wav)\Z"
)


def sound_uri(
    name: str,
    *,
    mode: SoundMode,
    prefix: str = "callback",
    public_url: str = "",
    secret: bytes = b"",
    now: datetime | None = None,
    ttl: float = 3600.0,
    fmt: str = "wav",
) -> str:
    """The ``media`` value for ARI's play: ``sound:callback/NAME`` or a signed ``sound:http…`` URL.

    ``now`` is the app clock's time; the web server must verify with the same clock.
    """
    check_name(name)
    if mode == "copy":
        if not _PREFIX_RE.fullmatch(prefix):
            raise ConfigError(f"calls.sounds_prefix {prefix!r}: use letters, digits, '_', '-' and '/'")
        return f"sound:{prefix}/{name}"
    if mode != "http":
        raise ConfigError(f"calls.sounds must be 'copy' or 'http', not {mode!r}")
    if fmt not in FORMATS:
        raise ConfigError(f"unknown sound format {fmt!r}: use one of {', '.join(FORMATS)}")
    base = _check_public_url(public_url)
    _check_secret(secret)
    now_s = _epoch(now)
    expires = math.ceil((now_s + max(ttl, 1.0)) / EXPIRY_STEP) * EXPIRY_STEP
    sig = _signature(secret, expires, name, fmt)
    head = f"{base}/media/{_VERSION}/{expires}/{sig}/"
    tail = f"/{name}.{fmt}"
    filler = "0" * min(_MAX_FILLER, max(1, MIN_URL_LENGTH - len(head) - len(tail)))
    return f"sound:{head}{filler}{tail}"


def verify_media_path(path: str, secret: bytes, now: datetime | None = None) -> tuple[str, str]:
    """(name, format) for a ``/media/…`` request path with a valid, unexpired signature.

    The path may carry a prefix before ``/media/`` (a reverse proxy's mount point).
    Raises ``MediaLinkInvalid`` (403) otherwise; the message never echoes the signature.
    """
    if not secret:
        raise MediaLinkInvalid("media links are disabled: sounds.url_secret is not set")
    m = _MEDIA_PATH_RE.search(path)
    if m is None:
        raise MediaLinkInvalid("not a media link")
    expires, name, fmt = int(m["expires"]), m["name"], m["fmt"]
    good = _signature(secret, expires, name, fmt)
    if not hmac.compare_digest(good, m["sig"]):
        raise MediaLinkInvalid("bad media link signature")
    if _epoch(now) > expires:
        raise MediaLinkInvalid("media link expired", expired_at=expires)
    return name, fmt


def media_content_type(fmt: str) -> str:
    """The Content-Type that makes Asterisk's media cache treat the body as ``fmt``."""
    return _CONTENT_TYPES[fmt]


def media_headers(fmt: str, path: str, now: datetime | None = None) -> dict[str, str]:
    """Response headers for a verified media path: exact Content-Type, cacheable until the link expires."""
    m = _MEDIA_PATH_RE.search(path)
    max_age = max(0, int(m["expires"]) - int(_epoch(now))) if m else 0
    return {"Content-Type": _CONTENT_TYPES[fmt], "Cache-Control": f"private, max-age={max_age}"}


def install_into_asterisk(
    sounds_dir: Path, asterisk_sounds_dir: Path, prefix: str = "callback"
) -> list[Path]:
    """Copy every ``NAME.wav``/``NAME.wav16`` into ``<asterisk_sounds_dir>/<prefix>/``.

    Each file is replaced atomically (a channel playing it sees the old or the new one) and only
    when its bytes differ. Returns the files written.
    """
    if not _PREFIX_RE.fullmatch(prefix):
        raise ConfigError(f"calls.sounds_prefix {prefix!r}: use letters, digits, '_', '-' and '/'")
    target_dir = Path(asterisk_sounds_dir) / prefix
    target_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for src in sorted(Path(sounds_dir).iterdir()):
        stem, _, ext = src.name.rpartition(".")
        if ext not in FORMATS or not NAME_RE.fullmatch(stem) or not src.is_file():
            continue
        dest = target_dir / src.name
        data = src.read_bytes()
        if dest.is_file() and dest.stat().st_size == len(data) and dest.read_bytes() == data:
            continue
        fd, tmp = tempfile.mkstemp(dir=target_dir, prefix=f".{src.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(dest)
    return written


def _signature(secret: bytes, expires: int, name: str, fmt: str) -> str:
    msg = f"{_VERSION}/{expires}/{name}.{fmt}".encode("ascii")
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()


def _check_public_url(public_url: str) -> str:
    if not _PUBLIC_URL_RE.fullmatch(public_url):
        raise ConfigError(
            f"web.public_url {public_url!r} cannot carry media links: use http(s)://host[:port][/path] "
            "with no query, '&', ',' or '%' (Asterisk splits URLs on '&' and ARI on ',')"
        )
    return public_url.rstrip("/")


def _check_secret(secret: bytes) -> None:
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"sounds.url_secret must be set (at least {MIN_SECRET_BYTES} bytes) to serve sounds over HTTP"
        )


def _epoch(now: datetime | None) -> float:
    return (now or datetime.now(UTC)).timestamp()
