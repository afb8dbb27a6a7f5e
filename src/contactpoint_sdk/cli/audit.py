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
import json
import os
import sqlite3
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from contactpoint_sdk.cli._options import (
    EXIT_CODES,
    PASSPHRASE_ENV,
    add_key_ring_argument,
    add_passphrase_argument,
    read_passphrase,
)
from contactpoint_sdk.errors import ConfigurationError
from contactpoint_sdk.reference_server.audit_log import MerkleAuditLog, verify_log_file
from contactpoint_sdk.supply.keys import KeyRing, SigningKey

__all__ = ["add_audit_arguments", "run_audit"]

#: Discrepancies printed after the first, at most.
_LISTED = 20


def add_audit_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``audit`` subcommands: ``verify`` and ``head``."""
    actions = parser.add_subparsers(dest="audit_action", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify",
        help="prove the audit log whole against a saved signed tree head",
        description="Re-read and re-hash every entry of the audit log (the file opened "
        "read-only) and prove it whole against a signed tree head saved earlier (ACC-5).",
        epilog="Exit codes: 0 the log is whole; 1 a discrepancy (the first described, then "
        "the others) or a signature that does not verify; 2 bad usage; 130 interrupted.",
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
    head = actions.add_parser(
        "head",
        help="sign the log's current tree head and print it",
        description="Sign the audit log's current tree head with the key ring's current key, "
        "keep it in the log and print it (or write it with --out): the head an auditor "
        "saves and later verifies against.",
        epilog=f"The passphrase is read from ${PASSPHRASE_ENV} (or --passphrase-env). {EXIT_CODES}",
    )
    head.add_argument("database", type=Path, help="the SQLite file holding the audit log")
    add_key_ring_argument(head, text="the directory's signing key ring")
    add_passphrase_argument(head)
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


def _head(database: Path, ring_path: Path, variable: str, out: Path | None) -> int:
    _require_audit_log(database)
    ring = KeyRing.from_encrypted_json(
        _read(ring_path, "the key ring"), read_passphrase(variable), key_type=SigningKey
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
