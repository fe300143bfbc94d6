"""MP3 (or any audio ffmpeg reads) → the formats Asterisk plays natively.

One ffmpeg run decodes the source once and resamples it twice (ffmpeg filters before it
decimates; pydub's ``set_frame_rate`` does not): 16 kHz and 8 kHz, signed 16-bit mono, raw.
pydub then trims leading and trailing silence and sets the loudness, and we write
``NAME.wav`` (8 kHz, Asterisk's ``wav``) and ``NAME.wav16`` (16 kHz WAV container, Asterisk's
``wav16``; a 16 kHz file named ``.wav`` fails to play). Blocking: callers run it in a thread.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import subprocess
import tempfile
import threading
import warnings
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydub import AudioSegment

from .errors import AudioError, AudioToolMissing, CorruptAudio, EmptyAudio, NotAudio, TooLong
from .manifest import FORMATS, ManifestEntry, atomic_write_bytes, check_name, load_manifest, update_manifest

Progress = Callable[[str], None]

RATES: dict[str, int] = {"wav": 8000, "wav16": 16000}
TARGET_DBFS = -18.0  # whole-file RMS after trimming
PEAK_CEILING_DBFS = -1.0  # the gain never pushes a peak above this: no clipping
SILENT_DBFS = -60.0  # a file whose loudest sample is below this has nothing to say
KEEP_SILENCE_MS = 80  # left at each end so the first syllable is not clipped
_TRUNCATION_SLACK = 0.25  # seconds of decoded-vs-declared difference we tolerate


@dataclass(frozen=True, slots=True)
class _Decoded:
    pcm: dict[str, bytes]  # format name → raw s16le mono at RATES[format]
    declared: float | None  # duration the container claims, when it is not a guess
    decoded: float  # seconds actually decoded


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def import_sound(
    src: Path,
    name: str,
    sounds_dir: Path,
    *,
    max_seconds: float = 120.0,
    progress: Progress | None = None,
) -> ManifestEntry:
    """Convert ``src`` into ``sounds_dir/NAME.wav`` and ``NAME.wav16`` and record it in the manifest.

    Importing the same bytes under the same name again does nothing and returns the recorded entry.
    Raises an ``AudioError`` subclass for a file that is not audio, empty or silent, too long or corrupt.
    """
    check_name(name)
    say: Progress = progress or (lambda _line: None)
    src = Path(src)
    try:
        size = src.stat().st_size
        if not src.is_file():
            raise NotAudio(f"{src} is not a file", source=src.name)
    except FileNotFoundError:
        raise AudioError(f"{src}: no such file", source=src.name) from None
    if size == 0:
        raise EmptyAudio(f"{src.name} is empty (0 bytes): nothing to import", source=src.name)

    checksum = sha256_file(src)
    known = load_manifest(sounds_dir).get(name)
    if known and known.checksum == checksum and all(p.is_file() for p in known.files(sounds_dir)):
        say(f"{name}: unchanged ({src.name}), nothing to do")
        return known

    say(f"{name}: converting {src.name}")
    with tempfile.TemporaryDirectory(prefix="callback-audio-") as tmp:
        decoded = _decode(src, Path(tmp), max_seconds=max_seconds, say=say, name=name)
    _check_decoded(src, decoded, max_seconds)

    audio_segment = _pydub()["AudioSegment"]
    segments = {
        fmt: audio_segment(data=pcm, sample_width=2, frame_rate=RATES[fmt], channels=1)
        for fmt, pcm in decoded.pcm.items()
    }
    ref = segments["wav16"]
    if len(ref) == 0 or ref.max_dBFS < SILENT_DBFS:
        raise EmptyAudio(f"{src.name} contains only silence: nothing to play", source=src.name)

    start_ms, end_ms = _speech_bounds(ref)
    segments = {fmt: seg[start_ms:end_ms] for fmt, seg in segments.items()}
    gain = _gain_db(segments["wav16"], list(segments.values()))
    segments = {fmt: seg.apply_gain(gain) for fmt, seg in segments.items()}

    sounds_dir.mkdir(parents=True, exist_ok=True)
    for fmt in FORMATS:
        atomic_write_bytes(sounds_dir / f"{name}.{fmt}", _wav_bytes(segments[fmt]))
    entry = ManifestEntry(
        name=name,
        checksum=checksum,
        duration=round(len(segments["wav16"]) / 1000.0, 3),
        formats=FORMATS,
        source=src.name,
    )
    update_manifest(sounds_dir, entry)
    say(
        f"{name}: {entry.duration:.1f} s (trimmed {start_ms / 1000:.1f} s at the start, "
        f"{(len(ref) - end_ms) / 1000:.1f} s at the end; gain {gain:+.1f} dB), wrote "
        + ", ".join(f"{name}.{fmt}" for fmt in FORMATS)
    )
    return entry


def _pydub() -> dict[str, Any]:
    """pydub, imported only where audio is converted. Its import warns "Couldn't find ffmpeg" when ffmpeg is
    missing, though we only hand it decoded samples: ``_ffmpeg`` has already said what to install."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Couldn't find ffmpeg", category=RuntimeWarning)
        from pydub import AudioSegment
        from pydub.silence import detect_leading_silence
    return {"AudioSegment": AudioSegment, "detect_leading_silence": detect_leading_silence}


def _ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise AudioToolMissing(
            "ffmpeg is not installed (Debian: apt-get install ffmpeg); it decodes the audio"
        )
    return exe


def _decode(src: Path, tmp: Path, *, max_seconds: float, say: Progress, name: str) -> _Decoded:
    outs = {fmt: tmp / f"{fmt}.raw" for fmt in RATES}
    cap = max_seconds + 1.0  # never decode much more than we could accept
    cmd = [_ffmpeg(), "-hide_banner", "-nostdin", "-nostats", "-progress", "pipe:1", "-stats_period", "0.5"]
    # "file:" stops ffmpeg from reading a name like "concat:…" or "http://…" as a protocol.
    cmd += ["-t", f"{cap:.3f}", "-i", f"file:{src.resolve()}"]
    for fmt, path in outs.items():
        cmd += ["-map", "0:a:0", "-ac", "1", "-ar", str(RATES[fmt]), "-c:a", "pcm_s16le", "-f", "s16le"]
        cmd += ["-y", str(path)]
    stderr_path = tmp / "ffmpeg.log"
    with open(stderr_path, "wb") as err_fh:
        with subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err_fh) as proc:
            # A wall-time guard: a hung decoder must not hold the caller's thread forever.
            watchdog = threading.Timer(30.0 + 2.0 * cap, proc.kill)
            watchdog.start()
            try:
                assert proc.stdout is not None
                for raw_line in proc.stdout:
                    line = raw_line.decode("ascii", "replace").strip()
                    if line.startswith("out_time_us="):
                        us = line.partition("=")[2]
                        if us.isdigit() and int(us) >= 1_000_000:
                            say(f"{name}: decoded {int(us) / 1e6:.1f} s")
                rc = proc.wait()
            finally:
                watchdog.cancel()
    log = stderr_path.read_text("utf-8", "replace")
    input_part = re.split(r"^(?:Stream mapping:|Output #0)", log, maxsplit=1, flags=re.M)[0]
    has_audio = re.search(r"Stream #0:\d+.*: Audio:", input_part) is not None
    if rc != 0 or not all(p.exists() for p in outs.values()):
        if not has_audio:
            raise NotAudio(
                f"{src.name} is not an audio file: ffmpeg found no audio in it (expected MP3, WAV, …)",
                source=src.name,
                ffmpeg=_last_line(log),
            )
        raise CorruptAudio(
            f"{src.name} could not be decoded (damaged or incomplete file)",
            source=src.name,
            ffmpeg=_last_line(log),
        )
    if "Error while decoding" in log:
        raise CorruptAudio(
            f"{src.name} is damaged: the decoder reported errors ({_first_error(log)}); "
            "export it again from the original",
            source=src.name,
        )
    pcm = {fmt: path.read_bytes() for fmt, path in outs.items()}
    declared = _declared_duration(input_part)
    return _Decoded(pcm=pcm, declared=declared, decoded=len(pcm["wav16"]) / (2 * RATES["wav16"]))


def _check_decoded(src: Path, d: _Decoded, max_seconds: float) -> None:
    if d.decoded == 0:
        raise EmptyAudio(f"{src.name} holds no audio samples: nothing to play", source=src.name)
    length = max(d.decoded, d.declared or 0.0)
    if length > max_seconds + 0.05:
        # Decoding stops a second past the limit, so without a declared length we only know a lower bound.
        about = "at least " if d.declared is None else ""
        raise TooLong(
            f"{src.name} is {about}{length:.1f} s long; the limit is {max_seconds:g} s "
            "(sounds.max_seconds): shorten it or raise the limit",
            limit=max_seconds,
            source=src.name,
        )
    if d.declared is not None and d.decoded < d.declared - max(_TRUNCATION_SLACK, 0.03 * d.declared):
        raise CorruptAudio(
            f"{src.name} is truncated: its header says {d.declared:.1f} s but only {d.decoded:.1f} s "
            "could be decoded (an incomplete upload or copy?)",
            source=src.name,
        )


def _declared_duration(input_log: str) -> float | None:
    """The container's own duration, unless ffmpeg says it only estimated it from the bitrate."""
    if "Estimating duration from bitrate" in input_log:
        return None
    m = re.search(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", input_log)
    if m is None:
        return None
    h, mi, s = m.groups()
    total = int(h) * 3600 + int(mi) * 60 + float(s)
    start = re.search(r"start: (-?\d+(?:\.\d+)?)", input_log)
    if start:  # an encoder delay counted in the duration is not audio we will get back
        total -= max(0.0, float(start.group(1)))
    return total


def _speech_bounds(seg: AudioSegment) -> tuple[int, int]:
    """Milliseconds [start, end) to keep: silence at both ends cut, a little left around the sound."""
    # Relative to the loudest sample so quiet recordings keep their soft starts.
    threshold = min(-35.0, max(-70.0, seg.max_dBFS - 45.0))
    detect_leading_silence = _pydub()["detect_leading_silence"]
    lead = detect_leading_silence(seg, silence_threshold=threshold, chunk_size=10)
    trail = detect_leading_silence(seg.reverse(), silence_threshold=threshold, chunk_size=10)
    start = max(0, lead - KEEP_SILENCE_MS)
    end = min(len(seg), len(seg) - trail + KEEP_SILENCE_MS)
    return start, max(end, start + 1)


def _gain_db(ref: AudioSegment, segments: list[AudioSegment]) -> float:
    """Gain that brings ``ref``'s RMS to TARGET_DBFS without a peak in any rendition passing the ceiling."""
    wanted: float = TARGET_DBFS - ref.dBFS  # pydub is untyped
    headroom: float = min(PEAK_CEILING_DBFS - s.max_dBFS for s in segments)
    return min(wanted, headroom)


def _wav_bytes(seg: AudioSegment) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(seg.frame_rate)
        w.writeframes(seg.raw_data)
    return buf.getvalue()


def _last_line(log: str) -> str:
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def _first_error(log: str) -> str:
    for ln in log.splitlines():
        if "Error while decoding" in ln or "Header missing" in ln or "invalid" in ln.lower():
            return ln.strip()
    return _last_line(log)
