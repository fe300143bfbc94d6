"""``sound:http…``: fetch the file the way Asterisk's HTTP media cache does, and tell how long it plays.

Like Asterisk, the format comes from the answer's Content-Type (then the URL's extension), and a file whose
rate doesn't match that format fails to play (a 16 kHz file served as plain ``wav`` is refused by format_wav).
"""

from __future__ import annotations

import io
import wave

import aiohttp

_FETCH_TIMEOUT = aiohttp.ClientTimeout(total=5.0)
_WAV16_TYPES = ("audio/x-wav;codec=pcm;bit=16;rate=16000",)
_WAV_TYPES = ("audio/wav", "audio/x-wav", "audio/wave")


def _format(content_type: str, url: str) -> str | None:
    ctype = content_type.replace(" ", "").lower()
    if ctype in _WAV16_TYPES:
        return "wav16"
    if ctype.split(";", 1)[0] in _WAV_TYPES:
        return "wav"
    path = url.split("?", 1)[0]
    for ext in ("wav16", "wav"):
        if path.endswith(f".{ext}"):
            return ext
    return None


async def remote_seconds(session: aiohttp.ClientSession, url: str) -> float | None:
    """The file's length in seconds, or None when Asterisk could not play it (HTTP error, bad format)."""
    try:
        async with session.get(url, timeout=_FETCH_TIMEOUT) as resp:
            if resp.status != 200:
                return None
            fmt = _format(resp.headers.get("Content-Type", ""), url)
            body = await resp.read()
    except (aiohttp.ClientError, TimeoutError):
        return None
    if fmt is None:
        return None
    rate: int
    frames: int
    try:
        with wave.open(io.BytesIO(body)) as w:
            rate = w.getframerate()
            frames = w.getnframes()
    except (wave.Error, EOFError):
        return None
    if rate != (16000 if fmt == "wav16" else 8000):
        return None  # "Unexpected frequency mismatch" in Asterisk: PlaybackFinished failed
    return frames / rate
