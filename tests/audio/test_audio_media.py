"""Delivery to Asterisk: sound URIs, signed media links (as Asterisk would fetch them), the copy route."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web
from audiokit import MakeMp3, read_wav

from ari_app.audio.convert import import_sound
from ari_app.audio.errors import MediaLinkInvalid
from ari_app.audio.media import (
    MIN_URL_LENGTH,
    install_into_asterisk,
    media_headers,
    sound_uri,
    verify_media_path,
)
from ari_app.errors import ConfigError

SECRET = b"a-test-secret-of-32-bytes-length"
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
DEFAULT_CACHE_FILE = "/var/cache/asterisk/bucket-XXXXXX"  # astcachedir + mkstemp name, extension stripped


def _http(name: str = "voicemail-drop", public_url: str = "http://pbx", **kw: object) -> str:
    return sound_uri(name, mode="http", public_url=public_url, secret=SECRET, now=NOW, **kw)  # type: ignore[arg-type]


def test_copy_mode_plays_from_the_callback_sounds_folder() -> None:
    assert sound_uri("voicemail-drop", mode="copy") == "sound:callback/voicemail-drop"
    assert sound_uri("connecting", mode="copy", prefix="acme/cb") == "sound:acme/cb/connecting"


def test_signed_link_round_trip() -> None:
    uri = _http()
    assert uri.startswith("sound:http://pbx/media/")
    path = urlsplit(uri.removeprefix("sound:")).path
    assert verify_media_path(path, SECRET, NOW + timedelta(minutes=59)) == ("voicemail-drop", "wav")


def test_the_url_path_ends_in_the_extension_asterisk_plays() -> None:
    assert urlsplit(_http().removeprefix("sound:")).path.endswith("/voicemail-drop.wav")
    assert urlsplit(_http(fmt="wav16").removeprefix("sound:")).path.endswith("/voicemail-drop.wav16")


@pytest.mark.parametrize(
    "public_url", ["http://a", "http://10.0.0.5:8080", "https://callback.example.com/app"]
)
def test_link_dodges_asterisk_444_and_172(public_url: str) -> None:
    url = _http("goodbye", public_url=public_url).removeprefix("sound:")
    # #444: file.c gives the local cache path a buffer of len(url) + len(lang) + 4 bytes.
    assert len(url) + 3 >= len(DEFAULT_CACHE_FILE)
    assert len(url) + 3 >= len("/" + "x" * 150 + "/bucket-XXXXXX")  # even a long astcachedir
    assert len(url) >= MIN_URL_LENGTH
    # #172: Playback() splits on '&'; ARI's media parameter is a comma-separated list.
    assert url.split("&") == [url] and url.split(",") == [url]
    assert re.fullmatch(r"[A-Za-z0-9:/._-]+", url)
    assert "?" not in url and "#" not in url


def test_a_public_url_that_asterisk_would_split_is_refused() -> None:
    for bad in ["http://pbx/?a=1&b=2", "http://pbx/x,y", "ftp://pbx", "pbx:8080", ""]:
        with pytest.raises(ConfigError, match="web.public_url"):
            _http(public_url=bad)


def test_http_links_need_a_real_secret() -> None:
    with pytest.raises(ConfigError, match="sounds.url_secret"):
        sound_uri("goodbye", mode="http", public_url="http://pbx", secret=b"short", now=NOW)
    with pytest.raises(MediaLinkInvalid, match="disabled"):
        verify_media_path("/media/v1/1/" + "0" * 64 + "/0/goodbye.wav", b"", NOW)


def test_tampered_links_are_refused() -> None:
    path = urlsplit(_http().removeprefix("sound:")).path
    sig = re.search(r"/([0-9a-f]{64})/", path)
    assert sig is not None
    flipped = sig[1][:-1] + ("0" if sig[1][-1] != "0" else "1")
    expires = re.search(r"/v1/(\d+)/", path)
    assert expires is not None
    tampered = [
        path.replace("voicemail-drop", "admin-whisper"),
        path.replace(".wav", ".wav16"),
        path.replace(sig[1], flipped),
        path.replace(f"/{expires[1]}/", f"/{int(expires[1]) + 86400}/"),
        path + "x",
        "/media/../manifest.json",
    ]
    for bad in tampered:
        with pytest.raises(MediaLinkInvalid):
            verify_media_path(bad, SECRET, NOW)
    with pytest.raises(MediaLinkInvalid):
        verify_media_path(path, b"another-secret-of-enough-length!", NOW)


def test_links_expire() -> None:
    path = urlsplit(_http(ttl=600).removeprefix("sound:")).path
    assert verify_media_path(path, SECRET, NOW + timedelta(seconds=600)) == ("voicemail-drop", "wav")
    with pytest.raises(MediaLinkInvalid, match="expired"):
        verify_media_path(path, SECRET, NOW + timedelta(seconds=600 + 301))


def test_links_repeat_within_a_few_minutes_so_asterisk_can_cache_them() -> None:
    def at(seconds: int) -> str:
        return sound_uri(
            "goodbye",
            mode="http",
            public_url="http://pbx",
            secret=SECRET,
            now=NOW + timedelta(seconds=seconds),
        )

    assert at(1) == at(200) == at(300)  # expiries are rounded up to 5-minute steps
    assert at(301) != at(300)


async def test_asterisk_style_fetch_of_a_signed_link(tone_mp3: MakeMp3, tmp_path: Path) -> None:
    """A minimal /media route (verify_media_path + media_headers), fetched as the media cache would."""
    import_sound(tone_mp3(1.0), "voicemail-drop", tmp_path)

    async def media(request: web.Request) -> web.StreamResponse:
        try:
            name, fmt = verify_media_path(request.path, SECRET, NOW)
        except MediaLinkInvalid as exc:
            raise web.HTTPForbidden(text=exc.message) from None
        return web.Response(
            body=(tmp_path / f"{name}.{fmt}").read_bytes(), headers=media_headers(fmt, request.path, NOW)
        )

    app = web.Application()
    app.router.add_get("/media/{tail:.*}", media)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        base = f"http://127.0.0.1:{port}"
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            for fmt, rate in (("wav", 8000), ("wav16", 16000)):
                url = sound_uri(
                    "voicemail-drop", mode="http", public_url=base, secret=SECRET, now=NOW, fmt=fmt
                ).removeprefix("sound:")
                async with http.get(url) as resp:
                    assert resp.status == 200
                    body = await resp.read()
                    # What Asterisk maps to a format (format_wav.c's MIME types):
                    assert resp.headers["Content-Type"] == f"audio/x-wav;codec=pcm;bit=16;rate={rate}"
                    assert "max-age=" in resp.headers["Cache-Control"]
                assert body == (tmp_path / f"voicemail-drop.{fmt}").read_bytes()
            async with http.get(url.replace("voicemail-drop", "goodbye")) as resp:
                assert resp.status == 403
    finally:
        await runner.cleanup()


def test_install_copies_into_the_callback_folder_and_only_what_changed(
    tone_mp3: MakeMp3, tmp_path: Path
) -> None:
    sounds, asterisk = tmp_path / "sounds", tmp_path / "asterisk-sounds"
    import_sound(tone_mp3(1.0), "connecting", sounds)
    import_sound(tone_mp3(2.0), "goodbye", sounds)

    written = install_into_asterisk(sounds, asterisk)
    folder = asterisk / "callback"
    assert sorted(p.name for p in written) == [
        "connecting.wav",
        "connecting.wav16",
        "goodbye.wav",
        "goodbye.wav16",
    ]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        p.name for p in written
    )  # no temp files, no manifest
    assert read_wav(folder / "goodbye.wav16")[0].framerate == 16000
    assert (folder / "goodbye.wav").stat().st_mode & 0o644 == 0o644  # readable by the asterisk user
    unchanged = (folder / "connecting.wav").stat().st_mtime_ns

    assert install_into_asterisk(sounds, asterisk) == []

    import_sound(tone_mp3(3.0), "goodbye", sounds)
    assert sorted(p.name for p in install_into_asterisk(sounds, asterisk)) == ["goodbye.wav", "goodbye.wav16"]
    assert (folder / "connecting.wav").stat().st_mtime_ns == unchanged
