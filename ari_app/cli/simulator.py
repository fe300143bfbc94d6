"""``callback simulator``: the ARI simulator on its own, a PBX stand-in speaking Asterisk's ARI."""

from __future__ import annotations

import argparse

from .run import run


def _cmd_simulator(args: argparse.Namespace) -> int:
    from ..audio.manifest import effective_sounds_dir
    from ..simulator.server import serve

    # The prompts callback would play, so simulated playbacks last as long as the real files.
    sounds_dir = str(args.sounds_dir or effective_sounds_dir("./sounds"))

    async def main() -> int:
        await serve(
            args.host, args.port, args.ari_user, args.ari_password, args.scenario, args.speed, sounds_dir
        )
        return 0

    return run(main())


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = subparsers.add_parser("simulator", help="the ARI simulator: a PBX stand-in speaking Asterisk's ARI")
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sim.add_argument("--port", type=int, default=8088, help="HTTP port, like Asterisk's (default 8088)")
    sim.add_argument("--ari-user", default="callback", help="ARI user callback logs in as (default callback)")
    sim.add_argument("--ari-password", default="callback", help="its password (default callback)")
    sim.add_argument(
        "--scenario", help="scenario TOML: how each number answers (default: all answer; docs/simulator.md)"
    )
    sim.add_argument("--speed", type=float, default=1.0, help="run callee timings N times faster (default 1)")
    sim.add_argument(
        "--sounds-dir",
        default=None,
        help="sounds dir whose manifest gives prompt lengths (default ./sounds, else the shipped prompts)",
    )
    sim.set_defaults(func=_cmd_simulator)
