"""The sounds directory's manifest: which prompts exist, from which bytes, how long, in which formats.

``manifest.json`` is rewritten whole and atomically (temporary file + rename); writers serialise
on a lock of the directory so two imports into one directory never lose each other's entry.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .errors import BadSoundName

MANIFEST_NAME = "manifest.json"
NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
# Asterisk's format names, which are also the file extensions it looks for.
FORMATS: tuple[str, ...] = ("wav", "wav16")


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    name: str
    checksum: str  # "sha256:<hex>" of the imported source bytes
    duration: float  # seconds, after trimming
    formats: tuple[str, ...]  # extensions written next to the manifest, e.g. ("wav", "wav16")
    source: str  # the imported file's name (no directory)

    def files(self, sounds_dir: Path) -> list[Path]:
        return [sounds_dir / f"{self.name}.{fmt}" for fmt in self.formats]


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise BadSoundName(
            f"bad sound name {name!r}: use 1-64 characters, lower-case letters, digits and '-', "
            "starting with a letter or digit (e.g. voicemail-drop)",
            name=name,
        )
    return name


def load_manifest(sounds_dir: Path) -> dict[str, ManifestEntry]:
    """The entries of ``sounds_dir/manifest.json``; empty when there is none yet."""
    path = sounds_dir / MANIFEST_NAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        entries = {
            name: ManifestEntry(
                name=name,
                checksum=str(item["checksum"]),
                duration=float(item["duration"]),
                formats=tuple(item["formats"]),
                source=str(item.get("source", "")),
            )
            for name, item in raw.get("sounds", {}).items()
        }
    except FileNotFoundError:
        return {}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path} is damaged ({exc}); re-import the sounds or restore the file") from None
    return entries


def save_manifest(sounds_dir: Path, entries: dict[str, ManifestEntry]) -> None:
    body: dict[str, Any] = {
        "version": 1,
        "sounds": {
            name: {k: v for k, v in asdict(e).items() if k != "name"} for name, e in sorted(entries.items())
        },
    }
    text = json.dumps(body, indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(sounds_dir / MANIFEST_NAME, text.encode("utf-8"))


def update_manifest(sounds_dir: Path, entry: ManifestEntry) -> None:
    """Add or replace one entry, under the directory's lock."""
    with manifest_lock(sounds_dir):
        entries = load_manifest(sounds_dir)
        entries[entry.name] = entry
        save_manifest(sounds_dir, entries)


@contextmanager
def manifest_lock(sounds_dir: Path) -> Iterator[None]:
    """An exclusive lock on the directory itself (Linux flock works on directories): no lock file to ship."""
    sounds_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(sounds_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a reader sees the old file or the new one, never half of it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; Asterisk runs as another user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sound_durations(sounds_dir: Path, prefix: str = "callback") -> dict[str, float]:
    """Each imported sound's length keyed as Asterisk names it once copied: ``PREFIX/NAME``."""
    return {f"{prefix}/{name}": entry.duration for name, entry in load_manifest(sounds_dir).items()}


# The default prompts ship inside the package, so an installed callback has them wherever it runs.
SHIPPED_SOUNDS = Path(__file__).resolve().parent / "sounds"


def effective_sounds_dir(configured: str | Path) -> Path:
    """Where prompts are read from: ``sounds.dir`` once it holds a manifest, else the shipped defaults.

    Writers (`callback sounds import` / `defaults`) write to ``sounds.dir``; see ``seed_sounds_dir``.
    """
    path = Path(configured or "./sounds")
    return path if (path / MANIFEST_NAME).is_file() else SHIPPED_SOUNDS


def seed_sounds_dir(sounds_dir: Path) -> bool:
    """Start an empty sounds directory from the shipped prompts, so replacing one keeps the others.

    True when it copied them; a directory that already has a manifest is left alone."""
    if (sounds_dir / MANIFEST_NAME).is_file() or sounds_dir.resolve() == SHIPPED_SOUNDS:
        return False
    with manifest_lock(sounds_dir):
        if (sounds_dir / MANIFEST_NAME).is_file():
            return False
        entries = load_manifest(SHIPPED_SOUNDS)
        for entry in entries.values():
            for src in entry.files(SHIPPED_SOUNDS):
                atomic_write_bytes(sounds_dir / src.name, src.read_bytes())
        save_manifest(sounds_dir, entries)
    return True
