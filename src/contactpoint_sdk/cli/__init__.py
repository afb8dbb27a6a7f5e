"""The ``contactpoint`` command line.

Commands: ``demo`` (the main job), ``serve`` (the reference directory over
HTTPS on loopback), ``keys`` (key rings), ``supply`` (a school's roll from a
Common Transfer File), ``audit`` (sign tree heads, prove the audit log whole). Each command lives in
its own module and adds its own options.

Exit codes, the same for every command: 0 success; 1 the command ran and
failed (a refusal, a fault it found); 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from contactpoint_sdk import __version__
from contactpoint_sdk.cli.audit import add_audit_arguments
from contactpoint_sdk.cli.demo import add_demo_arguments
from contactpoint_sdk.cli.keys import add_keys_arguments
from contactpoint_sdk.cli.supply import add_supply_arguments
from contactpoint_sdk.errors import ContactPointError
from contactpoint_sdk.reference_server.serve import add_serve_arguments, run_serve

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(
        prog="contactpoint",
        description="Integration kit for the national children's contact directory.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_demo_arguments(
        commands.add_parser(
            "demo", help="run the demo on the embedded default (in-process directory, SQLite)"
        )
    )
    serve = commands.add_parser(
        "serve", help="run the reference directory over HTTPS on loopback (prints its URL)"
    )
    add_serve_arguments(serve)
    serve.set_defaults(handler=run_serve)
    add_keys_arguments(commands.add_parser("keys", help="make, list, publish and rotate key rings"))
    add_supply_arguments(
        commands.add_parser(
            "supply", help="supply a school's roll from a Common Transfer File (SUP-2)"
        )
    )
    add_audit_arguments(
        commands.add_parser("audit", help="sign tree heads and prove the audit log whole (ACC-5)")
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except ContactPointError as exc:
        print(f"contactpoint: {exc} [{exc.code}]", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
