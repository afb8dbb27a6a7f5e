"""``contactpoint audit``: sign tree heads and prove the audit log whole (ACC-5).

``contactpoint audit verify DB --head HEAD.json --key KEY.jwk`` re-reads every
entry of the audit log in the SQLite file ``DB`` (opened read-only), re-hashes
it, and proves the log whole against a signed tree head saved earlier. The key
is the directory's Ed25519 public key, as a JWK or a JWKS. Exit 0 when the log
is whole; 1 with the first discrepancy (an entry changed, removed, inserted or
reordered, a signature that does not verify) described, then the others.

``contactpoint audit head DB --key-ring RING`` signs the log's current tree
head with the ring's current key, keeps it in the log and prints it (or writes
it with ``--out``): the head an auditor saves and later verifies against.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sqlite3
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from contactpoint_sdk.errors import ConfigurationError
from contactpoint_sdk.reference_server.audit_log import MerkleAuditLog, verify_log_file
from contactpoint_sdk.supply.keys import KeyRing, SigningKey

__all__ = ["add_audit_arguments", "run_audit"]

PASSPHRASE_ENV = "CONTACTPOINT_KEY_PASSPHRASE"  # noqa: S105 - a variable name, not a secret
#: Discrepancies printed after the first, at most.
_LISTED = 20


def add_audit_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``audit`` subcommands."""
    actions = parser.add_subparsers(dest="audit_action", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify", help="prove the audit log whole against a saved signed tree head"
    )
    verify.add_argument("database", type=Path, help="the SQLite file holding the audit log")
    verify.add_argument(
        "--head", type=Path, required=True, help="the signed tree head saved earlier (JSON)"
    )
    verify.add_argument(
        "--key",
        type=Path,
        required=True,
        help="the directory's Ed25519 public key: a JWK or a JWKS file",
    )
    verify.add_argument("--json", action="store_true", help="print the whole report as JSON")
    head = actions.add_parser("head", help="sign the log's current tree head and print it")
    head.add_argument("database", type=Path, help="the SQLite file holding the audit log")
    head.add_argument(
        "--key-ring", type=Path, required=True, help="the directory's signing key ring"
    )
    head.add_argument(
        "--passphrase-env",
        default=PASSPHRASE_ENV,
        metavar="VAR",
        help=f"environment variable holding the passphrase (default {PASSPHRASE_ENV})",
    )
    head.add_argument("--out", type=Path, help="write the head to this file, not stdout")
    parser.set_defaults(handler=run_audit)


def run_audit(args: argparse.Namespace) -> int:
    """Run one ``audit`` action; returns the exit code."""
    if args.audit_action == "verify":
        return _verify(args.database, args.head, args.key, as_json=args.json)
    return _head(args.database, args.key_ring, args.passphrase_env, args.out)


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"{what} {path} cannot be read: {error}") from None


def _verify(database: Path, head_path: Path, key_path: Path, *, as_json: bool) -> int:
    head = _read(head_path, "the head file")
    key = _read(key_path, "the key file")
    report = verify_log_file(database, head, key)
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
        return 0 if report.ok else 1
    print(f"{database}: {report.summary()}")
    if report.ok:
        return 0
    for discrepancy in report.discrepancies[1 : _LISTED + 1]:
        print(f"  also: {discrepancy}")
    hidden = report.discrepancy_count - 1 - min(_LISTED, len(report.discrepancies) - 1)
    if hidden > 0:
        print(f"  ... and {hidden} more (use --json for the report)")
    return 1


def _passphrase(variable: str) -> str:
    value = os.environ.get(variable)
    if value:
        return value
    if not sys.stdin.isatty():
        raise ConfigurationError(
            f"no passphrase: set {variable} (or run at a terminal to be asked)"
        )
    entered = getpass.getpass("key ring passphrase: ")
    if not entered:
        raise ConfigurationError("an empty passphrase protects nothing")
    return entered


def _head(database: Path, ring_path: Path, variable: str, out: Path | None) -> int:
    _require_audit_log(database)
    ring = KeyRing.from_encrypted_json(
        _read(ring_path, "the key ring"), _passphrase(variable), key_type=SigningKey
    )
    key = ring.current(datetime.now(UTC))
    with MerkleAuditLog(database) as log:
        head = log.tree_head(key)
    text = head.to_json()
    if out is None:
        sys.stdout.write(text)
    else:
        _write(out, text)
        print(f"signed tree head of {head.tree_size} entries written to {out}")
    return 0


def _require_audit_log(database: Path) -> None:
    """Refuse to sign (and so create a log in) a file that holds no audit log."""
    if not database.is_file():
        raise ConfigurationError(f"{database} does not exist")
    try:
        db = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
        try:
            found = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_log_entries'"
            ).fetchone()
        finally:
            db.close()
    except sqlite3.Error as error:
        raise ConfigurationError(f"{database} is not an SQLite database: {error}") from None
    if found is None:
        raise ConfigurationError(f"{database} holds no audit log")


def _write(path: Path, text: str) -> None:
    """Write whole or not at all."""
    fd, temp = tempfile.mkstemp(dir=path.resolve().parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
