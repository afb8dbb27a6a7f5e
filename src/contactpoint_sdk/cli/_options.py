"""Options shared by the ``contactpoint`` commands, spelt the same everywhere.

- ``--key-ring FILE``: a key ring file made by ``contactpoint keys new``;
- ``--passphrase-env VAR``: the environment variable holding that ring's
  passphrase (default ``CONTACTPOINT_KEY_PASSPHRASE``). A passphrase is never
  an option's value: other users of the machine could read it in the process
  list. At a terminal, with the variable unset, it is asked for;
- ``--supplier-id ID``, ``--agreement-id ID``: a supplier as accredited, and
  the operational agreement it supplies under;
- ``--directory URL`` and ``--ca-cert PEM``: where the directory is, and the
  private CA to trust for it (``contactpoint serve`` prints its own as
  ``CONTACTPOINT_CA_FILE``).

Exit codes, the same for every command: :data:`EXIT_OK` (0),
:data:`EXIT_FAILED` (1: the command ran and failed, a refusal or a fault it
found), :data:`EXIT_USAGE` (2: bad usage), :data:`EXIT_INTERRUPTED` (130:
stopped with Ctrl+C).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Final

from contactpoint_sdk.errors import ConfigurationError

__all__ = [
    "EXIT_CODES",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "PASSPHRASE_ENV",
    "add_agreement_argument",
    "add_ca_cert_argument",
    "add_directory_argument",
    "add_key_ring_argument",
    "add_passphrase_argument",
    "add_supplier_argument",
    "read_passphrase",
]

#: The environment variable a key ring's passphrase is read from by default.
PASSPHRASE_ENV: Final = "CONTACTPOINT_KEY_PASSPHRASE"  # noqa: S105 - a variable name
#: Success.
EXIT_OK: Final = 0
#: The command ran and failed: a refusal, a rejection, a fault it found.
EXIT_FAILED: Final = 1
#: Bad usage: an unknown option, a missing argument, a file that is not there.
EXIT_USAGE: Final = 2
#: Stopped by the user (Ctrl+C): 128 + SIGINT, as shells report it.
EXIT_INTERRUPTED: Final = 130
#: The exit codes, as each command's help ends.
EXIT_CODES: Final = (
    "Exit codes: 0 success; 1 the command ran and failed (a refusal, a fault it found); "
    "2 bad usage; 130 interrupted (Ctrl+C)."
)


def add_passphrase_argument(parser: argparse._ActionsContainer, *, what: str = "key ring") -> None:
    """Add ``--passphrase-env VAR`` (default :data:`PASSPHRASE_ENV`)."""
    parser.add_argument(
        "--passphrase-env",
        default=PASSPHRASE_ENV,
        metavar="VAR",
        help=f"environment variable holding the {what}'s passphrase (default {PASSPHRASE_ENV}; "
        "at a terminal, asked for when unset)",
    )


def add_key_ring_argument(
    parser: argparse._ActionsContainer, *, required: bool = True, text: str
) -> None:
    """Add ``--key-ring FILE`` (a ``contactpoint keys new`` ring)."""
    parser.add_argument("--key-ring", type=Path, required=required, metavar="FILE", help=text)


def add_supplier_argument(
    parser: argparse._ActionsContainer, *, required: bool = True, text: str
) -> None:
    """Add ``--supplier-id ID``."""
    parser.add_argument("--supplier-id", required=required, metavar="ID", help=text)


def add_agreement_argument(
    parser: argparse._ActionsContainer, *, required: bool = True, text: str
) -> None:
    """Add ``--agreement-id ID``."""
    parser.add_argument("--agreement-id", required=required, metavar="ID", help=text)


def add_directory_argument(
    parser: argparse._ActionsContainer,
) -> None:
    """Add ``--directory URL``."""
    parser.add_argument(
        "--directory",
        metavar="URL",
        help="the directory's base URL (https://; contactpoint serve prints "
        "CONTACTPOINT_DIRECTORY_URL)",
    )


def add_ca_cert_argument(parser: argparse._ActionsContainer) -> None:
    """Add ``--ca-cert PEM``."""
    parser.add_argument(
        "--ca-cert",
        type=Path,
        metavar="PEM",
        help="trust this CA for --directory (e.g. contactpoint serve's CONTACTPOINT_CA_FILE)",
    )


def read_passphrase(variable: str, *, confirm: bool = False) -> str:
    """The passphrase from the environment variable ``variable``, else asked
    for at a terminal (twice with ``confirm``).

    :raises ConfigurationError: the variable is unset and there is no terminal
        to ask at; the two entries differ; the passphrase is empty.
    """
    value = os.environ.get(variable)
    if value:
        return value
    if not sys.stdin.isatty():
        raise ConfigurationError(
            f"no passphrase: set {variable} (or run at a terminal to be asked)"
        )
    first = getpass.getpass("key ring passphrase: ")
    if confirm and getpass.getpass("again: ") != first:
        raise ConfigurationError("the passphrases do not match")
    if not first:
        raise ConfigurationError("an empty passphrase protects nothing")
    return first
