"""Replaying labelled clips through the real ``AMD()`` with candidate parameter sets (``callback amd tune``).

Each replay originates ``Local/clip-<name>@<tune context>`` into the AMD context the calls use
(``[callback-amd]``) with the candidate's nine parameters as channel variables, exactly as a lead's leg
carries them. The Local channel's ``;2`` half runs the tune context: it answers and plays the clip (the far
end), then silence. The ``;1`` half runs ``AMD()``, hears the clip, and comes back into our Stasis
application with ``amd,<AMDSTATUS>,<AMDCAUSE>``; we read the verdict from StasisStart's args and hang up.
The clip's folder reaches the ``;2`` half as ``AMD_CLIP_DIR``, set with two underscores so it is inherited
(measured on Asterisk 22.10.1).

Clips must be 8 kHz, 16-bit, mono ``.wav`` (what Asterisk's ``format_wav`` plays) in a folder under
Asterisk's sounds directory; :func:`install_clips` copies them there.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..ari.client import AriClient
from ..ari.connection import EventConnection
from ..ari.errors import AriError, AriUnauthorized, AriUnreachable
from ..ari.events import ChannelDestroyed, Event, StasisStart
from ..domain.amd import AmdParams, Label
from ..errors import CallbackError

TUNE_CONTEXT = "callback-amd-tune"
CLIP_PREFIX = "clip-"
_SAFE = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Clip:
    key: str  # unique, dialplan-safe: [a-z0-9-]
    label: Label
    path: Path


@dataclass(frozen=True)
class Replay:
    status: str | None  # AMDSTATUS (MACHINE, HUMAN, NOTSURE, HANGUP); None: no verdict (failed, timed out)
    cause: str | None


def clip_key(name: str) -> str:
    key = _SAFE.sub("-", name.lower()).strip("-")
    return key or "clip"


def check_wav(path: Path) -> None:
    """Asterisk's ``format_wav`` plays 8 kHz 16-bit mono only: anything else is a clear error."""
    try:
        with wave.open(str(path), "rb") as w:
            rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
    except (wave.Error, EOFError, OSError) as exc:
        raise CallbackError(f"{path}: not a readable .wav file ({exc})") from None
    if (rate, width, channels) != (8000, 2, 1):
        raise CallbackError(
            f"{path}: {rate} Hz, {8 * width}-bit, {channels} channel(s); Asterisk plays 8 kHz 16-bit mono"
            f" .wav (convert: sox '{path.name}' -r 8000 -b 16 -c 1 out.wav)"
        )


def clips_from_folder(folder: Path) -> list[Clip]:
    """The ``.wav`` files of a folder, labelled by name: ``person…`` / ``machine…`` (``person-17.wav``,
    ``machine_greeting.wav``), or by a ``person/`` or ``machine/`` subfolder. Any other file is an error
    naming it (nothing is replayed unlabelled)."""
    if not folder.is_dir():
        raise CallbackError(f"{folder}: no such folder")
    clips: list[Clip] = []
    seen: set[str] = set()
    unlabelled: list[str] = []
    for path in sorted(folder.rglob("*.wav")):
        rel = path.relative_to(folder)
        label = _label_of(rel)
        if label is None:
            unlabelled.append(str(rel))
            continue
        check_wav(path)
        key = clip_key(str(rel.with_suffix("")))
        while key in seen:
            key += "-x"
        seen.add(key)
        clips.append(Clip(key, label, path))
    if unlabelled:
        raise CallbackError(
            f"{folder}: no label in the name of {', '.join(unlabelled[:5])}"
            f"{' …' if len(unlabelled) > 5 else ''} (name each file person… or machine…, or put it in a"
            " person/ or machine/ folder)"
        )
    if not clips:
        raise CallbackError(f"{folder}: no .wav files")
    return clips


def _label_of(rel: Path) -> Label | None:
    for part in (*rel.parts[:-1], rel.stem):
        lowered = part.lower()
        for label in Label:
            if lowered.startswith(label.value):
                return label
    return None


def install_clips(clips: Sequence[Clip], sounds_dir: Path) -> tuple[Path, str]:
    """Copy the clips into a fresh folder of Asterisk's sounds directory; returns the folder and its name
    as Playback() takes it (relative to the sounds directory). Remove it with :func:`remove_clips`."""
    if not sounds_dir.is_dir():
        raise CallbackError(f"{sounds_dir}: Asterisk's sounds directory does not exist (sounds.asterisk_dir)")
    name = f"callback-amd-tune-{secrets.token_hex(4)}"
    folder = sounds_dir / name
    folder.mkdir()
    for clip in clips:
        shutil.copyfile(clip.path, folder / f"{CLIP_PREFIX}{clip.key}.wav")
    return folder, name


def remove_clips(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


class AmdReplayer:
    """Replays clips through AMD on a real Asterisk (or the simulator): ``async with AmdReplayer(...) as r``,
    then ``await r.replay(params, clip_key)``; at most ``concurrency`` replays at once."""

    def __init__(
        self,
        url: str,
        user: str,
        password: str,
        *,
        clip_dir: str,
        amd_context: str = "callback-amd",
        amd_extension: str = "s",
        tune_context: str = TUNE_CONTEXT,
        concurrency: int = 4,
        timeout: float = 30.0,
        app: str | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._url, self._user, self._password = url, user, password
        self.app = app or f"callback-amd-tune-{secrets.token_hex(3)}"
        self._clip_dir = clip_dir
        self._amd_context, self._amd_extension = amd_context, amd_extension
        self._tune_context = tune_context
        self._timeout = timeout
        self._slots = asyncio.Semaphore(concurrency)
        self._waiting: dict[str, asyncio.Future[Replay]] = {}
        self._ari = AriClient(url, user, password)
        self._events = EventConnection(url, user, password, self.app, on_event=self._on_event)

    async def __aenter__(self) -> AmdReplayer:
        await self._ari.__aenter__()
        try:
            await self._events.__aenter__()
            await self._events.wait_connected(10.0)
        except BaseException:
            await self._events.close()
            await self._ari.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._events.close()
        await self._ari.close()

    def _on_event(self, event: Event) -> None:
        if isinstance(event, StasisStart):
            future = self._waiting.get(event.channel.id)
            if future is not None and not future.done():
                args = event.args
                if len(args) >= 2 and args[0] == "amd":
                    future.set_result(Replay(args[1] or None, args[2] if len(args) > 2 and args[2] else None))
                else:
                    future.set_result(Replay(None, None))
        elif isinstance(event, ChannelDestroyed):
            future = self._waiting.get(event.channel.id)
            if future is not None and not future.done():
                future.set_result(Replay(None, None))

    async def replay(self, params: AmdParams | None, clip: str) -> Replay:
        """What AMD says of clip ``clip`` (its key) with ``params`` (None: the nine variables empty, so
        AMD keeps amd.conf's values); no verdict when the replay failed."""
        async with self._slots:
            channel_id = f"amdtune-{secrets.token_hex(6)}"
            future: asyncio.Future[Replay] = asyncio.get_running_loop().create_future()
            self._waiting[channel_id] = future
            variables: dict[str, str] = {
                **(params or AmdParams()).channel_variables(),
                "CALLBACK_APP": self.app,
                "__AMD_CLIP_DIR": self._clip_dir,
            }
            if params is None:
                variables |= {name: "" for name in AmdParams().channel_variables()}
            try:
                try:
                    await self._ari.originate_to_dialplan(
                        f"Local/{CLIP_PREFIX}{clip}@{self._tune_context}",
                        channel_id=channel_id,
                        context=self._amd_context,
                        extension=self._amd_extension,
                        variables=variables,
                    )
                except (AriUnreachable, AriUnauthorized):
                    raise  # no replay can work: say so, don't score a set on nothing
                except AriError:
                    return Replay(None, None)
                try:
                    return await asyncio.wait_for(future, self._timeout)
                except TimeoutError:
                    return Replay(None, None)
            finally:
                self._waiting.pop(channel_id, None)
                try:
                    await self._ari.hangup(channel_id)
                except AriError:
                    pass  # already gone

    async def replay_all(
        self,
        candidates: Sequence[AmdParams],
        clips: Sequence[str],
        progress: Callable[[int, int], None] | None = None,
    ) -> list[dict[str, Replay]]:
        """Every candidate on every clip: one dict per candidate, clip key → what AMD said."""
        total = len(candidates) * len(clips)
        done = 0
        results: list[dict[str, Replay]] = [{} for _ in candidates]

        async def one(i: int, clip: str) -> None:
            nonlocal done
            results[i][clip] = await self.replay(candidates[i], clip)
            done += 1
            if progress is not None:
                progress(done, total)

        async with asyncio.TaskGroup() as group:
            for i in range(len(candidates)):
                for clip in clips:
                    group.create_task(one(i, clip))
        return results
