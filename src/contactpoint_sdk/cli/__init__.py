"""The ``contactpoint`` command line.

Commands: ``demo`` (the main job), ``serve`` (the reference directory over
HTTPS on loopback), ``keys`` (key rings), ``supply`` (a school's roll from a
Common Transfer File), ``accredit`` (run an accreditation plan, verify its
signed result), ``audit`` (sign tree heads, prove the audit log whole).
Each command lives in its own module and adds its own options; options that
mean the same thing are spelt the same everywhere (:mod:`._options`).

Exit codes, the same for every command: 0 success; 1 the command ran and
failed (a refusal, a fault it found: a ``ContactPointError`` is printed as one
line on stderr, never a traceback); 2 bad usage; 130 interrupted (Ctrl+C).

Also runs as ``python -m contactpoint_sdk.cli``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from contactpoint_sdk import __version__
from contactpoint_sdk.cli._options import (
    EXIT_CODES,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    PASSPHRASE_ENV,
)
from contactpoint_sdk.cli.accredit import add_accredit_arguments
from contactpoint_sdk.cli.audit import add_audit_arguments
from contactpoint_sdk.cli.demo import add_demo_arguments
from contactpoint_sdk.cli.keys import add_keys_arguments
from contactpoint_sdk.cli.supply import add_supply_arguments
from contactpoint_sdk.errors import ContactPointError
from contactpoint_sdk.reference_server.serve import add_serve_arguments, run_serve

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: every command, with its help, description and
    epilog (the exit codes)."""
    parser = argparse.ArgumentParser(
        prog="contactpoint",
        description="Integration kit for the national children's contact directory.",
        epilog=f"Run 'contactpoint COMMAND --help' for a command's options. {EXIT_CODES}",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_demo_arguments(
        commands.add_parser(
            "demo",
            help="run the demo on the embedded default (in-process directory, SQLite)",
            description="Start the reference directory in-process, supply a synthetic local "
            "authority's children from a school system and a GP system, and show matching, "
            "consent, shielding and the record lifecycle at work. Synthetic data only.",
            epilog=EXIT_CODES,
        )
    )
    serve = commands.add_parser(
        "serve",
        help="run the reference directory over HTTPS on loopback (prints its URL)",
        description="Serve the reference directory over HTTPS on a loopback address until "
        "Ctrl+C or SIGTERM. Prints CONTACTPOINT_DIRECTORY_URL and CONTACTPOINT_CA_FILE "
        "(a CA generated for this run) for clients; can register a supplier first.",
        epilog="Exit codes: 0 stopped cleanly (Ctrl+C or SIGTERM); 1 could not start "
        "(the port taken, a key ring that does not open); 2 bad usage.",
    )
    add_serve_arguments(serve)
    serve.set_defaults(handler=run_serve)
    add_keys_arguments(
        commands.add_parser(
            "keys",
            help="make, list, publish and rotate key rings",
            description="Make, list, publish and rotate key rings: a supplier's Ed25519 "
            "signing keys or a directory's X25519 encryption keys, the private parts "
            "encrypted under a passphrase (SUP-5).",
            epilog=f"The passphrase is read from ${PASSPHRASE_ENV} (or --passphrase-env), "
            f"never from the command line. {EXIT_CODES}",
        )
    )
    add_supply_arguments(
        commands.add_parser(
            "supply",
            help="supply a school's roll from a Common Transfer File (SUP-2)",
            description="Supply the directory from a school MIS's export: only what changed "
            "since the last run, signed and encrypted, one way (SUP-1, SUP-2, SUP-5).",
            epilog=EXIT_CODES,
        )
    )
    add_accredit_arguments(
        commands.add_parser(
            "accredit",
            help="run an accreditation plan; verify or diff its signed result (SUP-3)",
            description="Accreditation for certification testers (SUP-3): run the supplier "
            "or look-up plan against a vendor's system, verify a signed result, compare a run "
            "with a known-good one.",
            epilog=EXIT_CODES,
        )
    )
    add_audit_arguments(
        commands.add_parser(
            "audit",
            help="sign tree heads and prove the audit log whole (ACC-5)",
            description="Sign the audit log's tree head, and prove the log whole against a "
            "head saved earlier (ACC-5).",
            epilog=EXIT_CODES,
        )
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (module notes). Bad usage
    exits through :class:`SystemExit` with code 2, as argparse does."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except ContactPointError as exc:
        message = " ".join(str(exc).split())
        print(f"contactpoint: {message} [{exc.code}]", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("contactpoint: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
