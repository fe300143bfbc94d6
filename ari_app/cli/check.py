"""``callback check``: the report of ``ops/check.py``, as text or JSON, and its exit status."""

from __future__ import annotations

import argparse
import asyncio
import json

from ..ops.check import DEFAULT_TIMEOUT, run_checks


def _cmd_check(args: argparse.Namespace) -> int:
    report = asyncio.run(run_checks(args.config, limit=args.timeout, templates=args.templates))
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.render())
    return report.exit_code


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = subparsers.add_parser(
        "check",
        help="check the configuration, Asterisk (ARI, modules, endpoints, sounds) and the SMS gateway",
        description="Exit status: 0 ready (warnings allowed), 1 something blocks calls, "
        "3 only the SMS gateway fails.",
    )
    check.add_argument("--config", help="TOML config file (default: the demo defaults); CALLBACK_* apply")
    check.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per check (default 5)")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument(
        "--templates",
        action="store_true",
        help="also render each SMS text with sample values: its encoding (GSM-7 or UCS-2) and segments",
    )
    check.set_defaults(func=_cmd_check)
