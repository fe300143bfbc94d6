"""``callback amd tune``: replay labelled clips through Asterisk's AMD() with candidate parameter sets, rank
them on the labels, and (only with ``--write``) put the best set into the config file (docs/amd.md)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import tomlkit

from ..calls.amd_replay import (
    AmdReplayer,
    Clip,
    Replay,
    check_wav,
    clips_from_folder,
    install_clips,
    remove_clips,
)
from ..clock import RealClock
from ..domain.amd import PARAMETER_NAMES, AmdParams, Label, Verdict, route_of, verdict_of
from ..domain.amd_tuning import Candidate, Score, candidate_sets, rank
from ..errors import CallbackError
from ..settings import Settings, load_settings
from ..store import make_engine, make_sessionmaker
from ..store.amd_clips import ClipStore

# Seconds one replay takes on a real Asterisk, for the cost said before a run: the Local channel's set-up,
# AMD's decision (up to total_analysis_time, 5 s by default) and the hang-up. Measured on the peer: 2-6 s.
SECONDS_PER_REPLAY = 6.0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("amd", help="answering-machine detection: tune AMD()'s parameters")
    sub = parser.add_subparsers(dest="amd_command", required=True, metavar="COMMAND")
    tune = sub.add_parser(
        "tune",
        help="replay labelled clips through the real AMD() with candidate parameter sets and rank them",
    )
    source = tune.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--clips",
        type=Path,
        help="folder of 8 kHz 16-bit mono .wav files named person… / machine… (or in person/, machine/)",
    )
    source.add_argument(
        "--from-db",
        action="store_true",
        help="the clips kept with labelled attempts ([amd] record_clips), from the database",
    )
    tune.add_argument("--config", help="TOML config file (the one --write changes)")
    tune.add_argument("--route", help="carrier route to tune (default: the one of ari.trunk_template)")
    tune.add_argument(
        "--asterisk-dir",
        type=Path,
        help="Asterisk's sounds directory: the clips are copied there for the run (sounds.asterisk_dir)",
    )
    tune.add_argument("--top", type=int, default=3, help="how many of the best sets to print (default 3)")
    tune.add_argument("--concurrency", type=int, default=4, help="replays at once (default 4)")
    tune.add_argument(
        "--max-replays",
        type=int,
        default=2000,
        help="refuse a run of more replays than this (candidates × clips; default 2000)",
    )
    tune.add_argument("--max-candidates", type=int, default=0, help="try only the first N sets (0: all)")
    tune.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for one verdict")
    tune.add_argument("--write", action="store_true", help="write the best set into --config")
    tune.set_defaults(func=_tune)


def _tune(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
        return asyncio.run(tune(settings, args))
    except CallbackError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


async def tune(settings: Settings, args: argparse.Namespace) -> int:
    if args.write and not args.config:
        raise CallbackError("--write needs --config: the file the best set is written to")
    if args.concurrency < 1 or args.top < 1:
        raise CallbackError("--concurrency and --top must be at least 1")
    clips = clips_from_folder(args.clips) if args.clips else await clips_from_database(settings)
    route = args.route or route_of(settings.ari.trunk_template)
    current = settings.amd.params_for(route)
    sets = candidate_sets(current)
    if args.max_candidates > 0:
        sets = sets[: args.max_candidates]
    replays = len(sets) * len(clips)
    people = sum(1 for c in clips if c.label is Label.PERSON)
    minutes = replays * SECONDS_PER_REPLAY / args.concurrency / 60
    print(
        f"{len(clips)} clips ({people} people, {len(clips) - people} machines) × {len(sets)} parameter sets"
        f" = {replays} replays, {args.concurrency} at once: about {minutes:.0f} min"
        f" (≈{SECONDS_PER_REPLAY:.0f} s each); route {route!r}"
    )
    if replays > args.max_replays:
        raise CallbackError(
            f"{replays} replays is more than --max-replays {args.max_replays}: raise it, or try fewer sets"
            " (--max-candidates) or fewer clips"
        )
    sounds_dir = args.asterisk_dir or (
        Path(settings.sounds.asterisk_dir) if settings.sounds.asterisk_dir else None
    )
    if sounds_dir is None:
        raise CallbackError("where are Asterisk's sounds? give --asterisk-dir or set sounds.asterisk_dir")
    folder, clip_dir = install_clips(clips, sounds_dir)
    try:
        async with AmdReplayer(
            settings.ari.url,
            settings.ari.user,
            settings.ari.password.get_secret_value(),
            clip_dir=clip_dir,
            amd_context=settings.ari.amd_context,
            amd_extension=settings.ari.amd_extension,
            concurrency=args.concurrency,
            timeout=args.timeout,
        ) as replayer:
            results = await replayer.replay_all(sets, [c.key for c in clips], progress=_progress)
    finally:
        remove_clips(folder)
    print(file=sys.stderr)
    notsure = settings.calls.amd_notsure
    candidates = [
        Candidate(name="current" if i == 0 else f"set {i}", params=p, verdicts=_verdicts(results[i], notsure))
        for i, p in enumerate(sets)
    ]
    labels = {c.key: c.label for c in clips}
    ranked = rank(candidates, labels, settings.amd.person_weight)
    by_name = {c.name: c for c in candidates}
    shown = ranked[: args.top]
    if all(s.name != "current" for s in shown):
        shown.append(next(s for s in ranked if s.name == "current"))
    for s in shown:
        print()
        print(report(s, by_name[s.name], clips, results[sets.index(s.params)], current, ranked.index(s) + 1))
    best = ranked[0]
    print()
    if best.name == "current":
        print("The current set is as good as any tried: nothing to change.")
        return 0
    if not args.write:
        print(f"Best: {best.name}. Run again with --write to put it into {args.config or 'the config file'}.")
        return 0
    section = write_params(Path(args.config), best.params, route, settings)
    load_settings(args.config)  # the file still reads
    print(f"Wrote {best.name} into [{section}] of {args.config}: used from the next call on.")
    return 0


async def clips_from_database(settings: Settings) -> list[Clip]:
    """The kept clips of labelled attempts (``[amd] clips_dir``), each checked as a folder's would be."""
    engine = make_engine(settings.database.url)
    try:
        store = ClipStore(
            make_sessionmaker(engine), Path(settings.amd.clips_dir), settings.amd.clip_retention_days
        )
        await store.purge(RealClock().now())  # never replay a clip kept past its retention
        stored = await store.labelled()
    finally:
        await engine.dispose()
    if not stored:
        raise CallbackError(
            f"no labelled attempt has a clip in {settings.amd.clips_dir} (turn on [amd] record_clips,"
            " and label answered calls on the contact page)"
        )
    for c in stored:
        check_wav(c.path)
    return [Clip(f"attempt-{c.attempt_id}", c.label, c.path) for c in stored]


def _progress(done: int, total: int) -> None:
    print(f"\r{done}/{total} replays", end="", file=sys.stderr, flush=True)


def _verdicts(results: Mapping[str, Replay], notsure: str) -> dict[str, Verdict]:
    out: dict[str, Verdict] = {}
    for key, r in results.items():
        v = verdict_of(r.status, notsure)
        if v is not None:
            out[key] = v
    return out


def report(
    score: Score,
    candidate: Candidate,
    clips: Sequence[Clip],
    results: Mapping[str, Replay],
    current: AmdParams,
    place: int,
) -> str:
    """One set: its place, cost, what differs from the current set, and its confusion table."""
    changed = [
        f"{n}={getattr(score.params, n)}"
        for n in PARAMETER_NAMES
        if getattr(score.params, n) != getattr(current, n)
    ]
    head = f"#{place} {score.name}: cost {score.cost:g}"
    head += f" ({', '.join(changed)})" if changed else " (the current parameters)"
    rows = []
    for label in Label:
        mine = [c for c in clips if c.label is label]
        person = sum(1 for c in mine if candidate.verdicts.get(c.key) is Verdict.PERSON)
        machine = sum(1 for c in mine if candidate.verdicts.get(c.key) is Verdict.MACHINE)
        rows.append(f"  {label.value:<10}{person:>12}{machine:>10}{len(mine) - person - machine:>13}")
    causes: dict[str, int] = {}
    for c in clips:
        r = results.get(c.key)
        cause = (r.cause or r.status or "none") if r else "none"
        reason = cause.split("-", 1)[0]
        causes[reason] = causes.get(reason, 0) + 1
    why = ", ".join(f"{k} {v}" for k, v in sorted(causes.items()))
    return "\n".join(
        [
            head,
            f"  {'labelled':<10}{'AMD: person':>12}{'machine':>10}{'no verdict':>13}",
            *rows,
            f"  people taken for machines {score.person_as_machine} of {score.people},"
            f" machines taken for people {score.machine_as_person} of {score.machines}; causes: {why}",
        ]
    )


def write_params(path: Path, params: AmdParams, route: str, settings: Settings) -> str:
    """Put ``params`` into the TOML file, keeping its comments: into ``[amd.routes.<route>]`` when the file
    already has that route's table (only the values that differ from [amd]'s), else into ``[amd]``.
    Returns the section written."""
    try:
        doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CallbackError(f"{path}: {exc.strerror}") from None
    amd = doc.get("amd")
    if amd is None:
        amd = tomlkit.table()
        doc["amd"] = amd
    if route in settings.amd.routes:
        base = AmdParams(**{n: getattr(settings.amd, n) for n in PARAMETER_NAMES})
        routes = amd.get("routes")
        if routes is None:
            routes = tomlkit.table(is_super_table=True)
            amd["routes"] = routes
        table = routes.get(route)
        if table is None:
            table = tomlkit.table()
            routes[route] = table
        for n in PARAMETER_NAMES:
            value = getattr(params, n)
            if value != getattr(base, n):
                table[n] = value
            elif n in table:
                del table[n]
        section = f"amd.routes.{route}"
    else:
        for n in PARAMETER_NAMES:
            amd[n] = getattr(params, n)
        section = "amd"
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    return section
