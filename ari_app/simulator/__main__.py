"""python -m ari_app.simulator --host H --port P --ari-user U --ari-password W [--scenario F] [--speed N]"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from .server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ari_app.simulator", description="ARI simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8088)
    parser.add_argument("--ari-user", default="callback")
    parser.add_argument("--ari-password", default="callback")
    parser.add_argument("--scenario", default=None, help="scenario TOML file (see docs/simulator.md)")
    parser.add_argument("--speed", type=float, default=1.0, help="callee timings run this many times faster")
    parser.add_argument(
        "--sounds-dir", default=None, help="callback sounds dir: its manifest gives prompt lengths"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve(
                args.host,
                args.port,
                args.ari_user,
                args.ari_password,
                args.scenario,
                args.speed,
                args.sounds_dir,
            )
        )


if __name__ == "__main__":
    main()
