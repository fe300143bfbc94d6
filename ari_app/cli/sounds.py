"""``callback sounds …``: import, list, install into Asterisk, regenerate the default prompts."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from ..audio.manifest import SHIPPED_SOUNDS, effective_sounds_dir, load_manifest, seed_sounds_dir
from ..audio.media import install_into_asterisk
from ..audio.prompts import PROMPTS
from ..errors import CallbackError
from ..settings import Settings, load_settings

Handler = Callable[[argparse.Namespace], int]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sounds = subparsers.add_parser("sounds", help="manage prompts and the voicemail drop")
    sub = sounds.add_subparsers(dest="sounds_command", required=True, metavar="COMMAND")

    imp = sub.add_parser("import", help="convert an MP3 (or any audio) into a prompt")
    imp.add_argument("file", type=Path, help="the audio file, e.g. drop.mp3")
    imp.add_argument("--as", dest="name", required=True, help="prompt name, e.g. voicemail-drop")
    _sounds_dir_option(imp)
    imp.add_argument(
        "--max-seconds", type=float, default=None, help="refuse longer files (sounds.max_seconds)"
    )
    imp.set_defaults(func=_guarded(_cmd_import))

    lst = sub.add_parser("list", help="show the prompts in the sounds directory")
    _sounds_dir_option(lst)
    lst.set_defaults(func=_guarded(_cmd_list))

    ins = sub.add_parser("install", help="copy the prompts into Asterisk's sounds directory")
    ins.add_argument(
        "--asterisk-dir", type=Path, default=None, help="Asterisk's sounds dir (sounds.asterisk_dir)"
    )
    ins.add_argument("--prefix", default=None, help="sub-directory, played as sound:PREFIX/NAME")
    _sounds_dir_option(ins)
    ins.set_defaults(func=_guarded(_cmd_install))

    dfl = sub.add_parser("defaults", help="regenerate the default prompts with espeak-ng")
    dfl.add_argument("--business", default=None, help="name said in the voicemail drop (business.name)")
    dfl.add_argument("--number", default=None, help="call-back number said (business.callback_number)")
    dfl.add_argument("--only", action="append", choices=sorted(PROMPTS), help="just this prompt (repeatable)")
    _sounds_dir_option(dfl)
    dfl.set_defaults(func=_guarded(_cmd_defaults))


def _sounds_dir_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sounds-dir",
        type=Path,
        default=None,
        help="default: sounds.dir (./sounds); read from the shipped prompts while it has none",
    )
    p.add_argument("--config", help="TOML config file (sounds.*, business.*, calls.sounds_prefix)")


def _guarded(handler: Handler) -> Handler:
    """The edge: our errors become one clear line on stderr and exit code 1."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except CallbackError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1

    return run


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None))


def _sounds_dir(args: argparse.Namespace, settings: Settings) -> Path:
    """Where a command writes: ``--sounds-dir``, else ``sounds.dir``."""
    return Path(args.sounds_dir) if args.sounds_dir is not None else Path(settings.sounds.dir or "./sounds")


def _read_dir(args: argparse.Namespace, settings: Settings) -> Path:
    """Where a command reads: ``--sounds-dir`` as given, else what a running callback plays from."""
    return Path(args.sounds_dir) if args.sounds_dir is not None else effective_sounds_dir(settings.sounds.dir)


def _writable_dir(args: argparse.Namespace, settings: Settings) -> Path:
    """The directory to write into, started from the shipped prompts so that replacing one keeps the rest."""
    target = _sounds_dir(args, settings)
    if seed_sounds_dir(target):
        _progress(f"{target}: started from the shipped prompts")
    return target


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _cmd_import(args: argparse.Namespace) -> int:
    settings = _settings(args)
    from ..audio.convert import import_sound  # pydub and ffmpeg only for the commands that convert audio

    limit = args.max_seconds if args.max_seconds is not None else settings.sounds.max_seconds
    entry = import_sound(
        args.file, args.name, _writable_dir(args, settings), max_seconds=limit, progress=_progress
    )
    print(f"{entry.name}: {entry.duration:.1f} s, formats {', '.join(entry.formats)}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    sounds_dir = _read_dir(args, _settings(args))
    entries = load_manifest(sounds_dir)
    if not entries:
        print(f"no sounds in {sounds_dir}")
        return 0
    shipped = (
        " (the shipped prompts; `callback sounds import` starts sounds.dir)"
        if sounds_dir == SHIPPED_SOUNDS
        else ""
    )
    print(f"{sounds_dir}{shipped}:")
    for e in entries.values():
        missing = [p.name for p in e.files(sounds_dir) if not p.is_file()]
        note = f"  MISSING {', '.join(missing)}" if missing else ""
        print(
            f"{e.name:<24} {e.duration:6.1f} s  {','.join(e.formats):<10} {e.checksum[:19]}  {e.source}{note}"
        )
    return 0


def _cmd_install(args: argparse.Namespace) -> int:
    settings = _settings(args)
    target = args.asterisk_dir or (
        Path(settings.sounds.asterisk_dir) if settings.sounds.asterisk_dir else None
    )
    if target is None:
        print("error: give --asterisk-dir or set sounds.asterisk_dir", file=sys.stderr)
        return 2
    prefix = args.prefix or settings.calls.sounds_prefix
    written = install_into_asterisk(_read_dir(args, settings), target, prefix=prefix)
    print(f"{len(written)} file(s) copied into {Path(target) / prefix}")
    return 0


def _cmd_defaults(args: argparse.Namespace) -> int:
    from ..audio.prompts import generate_defaults

    settings = _settings(args)
    entries = generate_defaults(
        _writable_dir(args, settings),
        business=args.business or settings.business.name,
        number=args.number or settings.business.callback_number,
        names=args.only,
        progress=_progress,
    )
    for e in entries:
        print(f"{e.name}: {e.duration:.1f} s")
    return 0
