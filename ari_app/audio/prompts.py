"""The default prompts, and how we make them ourselves so a fresh install can speak.

Reproducible recipe (what ``callback sounds defaults`` runs for each prompt, with Debian 12's
espeak-ng 1.51 and ffmpeg 5.1)::

    espeak-ng -v en-us -s 160 -w NAME.tts.wav "TEXT"
    ffmpeg -nostdin -v error -i NAME.tts.wav -ac 1 -c:a libmp3lame -b:a 48k \\
        -map_metadata -1 -fflags +bitexact -flags:a +bitexact NAME.mp3
    callback sounds import NAME.mp3 --as NAME

The MP3 step is not needed for the sound itself; it exercises the same import path a user's MP3
takes. The voicemail drop names the business and a call-back number (US rules expect both in a
prerecorded message), so regenerate after setting ``business.name`` and
``business.callback_number``: ``callback sounds defaults``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from .convert import Progress, import_sound
from .errors import AudioToolMissing
from .manifest import ManifestEntry

VOICE = "en-us"
WORDS_PER_MINUTE = 160
MP3_BITRATE = "48k"
_TOOL_TIMEOUT = 60.0  # seconds of wall time for one espeak-ng or ffmpeg run

PROMPTS: dict[str, str] = {
    "admin-whisper": "You have a callback request. The caller's number is",
    "press-1": "Press 1 to connect, or hang up to skip.",
    "connecting": "Connecting you now.",
    "lead-machine-admin": "An answering machine picked up. Leaving the voicemail message. You can hang up.",
    "voicemail-drop": (
        "Hi, this is {business} returning your call request. Sorry we missed you. "
        "Please call us back at {number}. Thank you."
    ),
    "goodbye": "Thank you. Goodbye.",
    # A lead calling the business back (``calls/inbound.py``).
    "return-call-whisper": "A lead is returning your call. Their number is",
    "inbound-call-whisper": "A call to the business number, from",
    "return-call-welcome": "Thank you for calling back. Please hold while we connect you.",
    "return-call-message": (
        "Sorry, nobody can take your call right now. Please leave a message after the tone, "
        "and we will call you back."
    ),
    # The lead's number in the whisper, one sound file a digit: Asterisk can't stop a ``digits:`` item
    # (recording 15: only the current digit is cut, the rest plays on), but a stop during a sound item ends
    # the whole playlist at once.
    **{
        f"digit-{d}": word
        for d, word in enumerate(
            ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
        )
    },
}


def speakable_number(number: str) -> str:
    """'+1 555 0100' → '1, 5 5 5, 0 1 0 0': digit by digit, pausing between the groups as written."""
    groups = [g for g in re.split(r"\D+", number) if g]
    return ", ".join(" ".join(g) for g in groups)


def prompt_texts(business: str, number: str) -> dict[str, str]:
    return {
        name: text.format(business=business, number=speakable_number(number))
        for name, text in PROMPTS.items()
    }


def synthesize_mp3(text: str, dest: Path) -> None:
    """Speak ``text`` with espeak-ng into an MP3 at ``dest`` (same bytes for the same text and tools)."""
    espeak, ffmpeg = shutil.which("espeak-ng"), shutil.which("ffmpeg")
    if espeak is None or ffmpeg is None:
        raise AudioToolMissing(
            "generating the default prompts needs espeak-ng and ffmpeg "
            "(Debian: apt-get install espeak-ng ffmpeg)"
        )
    tts_wav = dest.with_suffix(".tts.wav")
    subprocess.run(
        [espeak, "-v", VOICE, "-s", str(WORDS_PER_MINUTE), "-w", str(tts_wav), "--", text],
        check=True,
        capture_output=True,
        timeout=_TOOL_TIMEOUT,
    )
    subprocess.run(
        [ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(tts_wav), "-ac", "1", "-c:a", "libmp3lame"]
        + ["-b:a", MP3_BITRATE, "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact"]
        + [str(dest)],
        check=True,
        capture_output=True,
        timeout=_TOOL_TIMEOUT,
    )
    tts_wav.unlink(missing_ok=True)


def generate_defaults(
    sounds_dir: Path,
    *,
    business: str,
    number: str,
    names: list[str] | None = None,
    progress: Progress | None = None,
) -> list[ManifestEntry]:
    """Synthesize and import every default prompt (or ``names``) into ``sounds_dir``."""
    texts = prompt_texts(business, number)
    entries: list[ManifestEntry] = []
    with tempfile.TemporaryDirectory(prefix="callback-prompts-") as tmp:
        for name in names or list(texts):
            mp3 = Path(tmp) / f"{name}.mp3"
            synthesize_mp3(texts[name], mp3)
            entries.append(import_sound(mp3, name, sounds_dir, progress=progress))
    return entries
