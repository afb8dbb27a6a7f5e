"""``contactpoint keys``: make, list, publish and rotate key rings (SUP-5).

A key ring file holds a supplier's Ed25519 signing keys or a directory's X25519
encryption keys, private parts encrypted under a passphrase. The passphrase
comes from an environment variable (``--passphrase-env``, default
``CONTACTPOINT_KEY_PASSPHRASE``) or, at a terminal, a prompt; never from the
command line, where other users could read it.

Files are written whole or not at all (a temporary file renamed into place),
readable by their owner only.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from contactpoint_sdk.errors import ConfigurationError, KeyMaterialError
from contactpoint_sdk.supply.keys import EncryptionKey, KeyRing, SigningKey

__all__ = ["add_keys_arguments", "run_keys"]

PASSPHRASE_ENV = "CONTACTPOINT_KEY_PASSPHRASE"  # noqa: S105 - a variable name, not a secret
_KINDS: dict[str, type[SigningKey] | type[EncryptionKey]] = {
    "signing": SigningKey,
    "encryption": EncryptionKey,
}


def add_keys_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``keys`` subcommands."""
    actions = parser.add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    new = actions.add_parser("new", help="create a key ring with one new key")
    new.add_argument("file", type=Path, help="the key ring file to create")
    new.add_argument(
        "--kind",
        choices=sorted(_KINDS),
        default="signing",
        help="signing (a supplier's Ed25519 keys, default) or encryption (a directory's X25519)",
    )
    _passphrase_argument(new)
    listing = actions.add_parser("list", help="list the keys in a ring (no passphrase needed)")
    listing.add_argument("file", type=Path)
    public = actions.add_parser(
        "public", help="print the public keys (JWKS) to register with the directory"
    )
    public.add_argument("file", type=Path)
    _passphrase_argument(public)
    rotate = actions.add_parser(
        "rotate", help="add a new current key; the old ones stay valid for the overlap"
    )
    rotate.add_argument("file", type=Path)
    rotate.add_argument(
        "--overlap-days",
        type=int,
        default=14,
        help="days the previous keys stay valid after rotation (default 14)",
    )
    _passphrase_argument(rotate)
    parser.set_defaults(handler=run_keys)


def _passphrase_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--passphrase-env",
        default=PASSPHRASE_ENV,
        metavar="VAR",
        help=f"environment variable holding the passphrase (default {PASSPHRASE_ENV})",
    )


def run_keys(args: argparse.Namespace) -> int:
    """Run one ``keys`` action; returns the exit code."""
    now = datetime.now(UTC)
    action: str = args.keys_action
    if action == "new":
        return _new(args.file, args.kind, _passphrase(args.passphrase_env, confirm=True), now)
    if action == "list":
        return _list(args.file, now)
    ring = _load(args.file, _passphrase(args.passphrase_env, confirm=False))
    if action == "public":
        sys.stdout.write(json.dumps(ring.public_key_set(now).to_jwks(), indent=2) + "\n")
        return 0
    if args.overlap_days < 0:
        raise ConfigurationError("--overlap-days cannot be negative")
    new_key = ring.rotate(now, timedelta(days=args.overlap_days))
    _write(args.file, ring.to_encrypted_json(_passphrase(args.passphrase_env, confirm=False)))
    print(f"rotated: new current key {new_key.kid}; previous keys valid {args.overlap_days} days")
    return 0


def _passphrase(variable: str, *, confirm: bool) -> str:
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


def _new(path: Path, kind: str, passphrase: str, now: datetime) -> int:
    if path.exists():
        raise ConfigurationError(f"{path} exists; keys are never overwritten (use rotate)")
    key_type = _KINDS[kind]
    ring: KeyRing[Any] = KeyRing(key_type)
    key = key_type.generate()
    ring.add(key, not_before=now)
    _write(path, ring.to_encrypted_json(passphrase))
    print(f"created {path}: {kind} key {key.kid}")
    return 0


def _kind_of(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"{path} does not exist") from None
    except (OSError, ValueError):
        raise KeyMaterialError(f"{path} is not a key ring file") from None
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in _KINDS:
        raise KeyMaterialError(f"{path} is not a key ring file")
    return str(kind), data


def _load(path: Path, passphrase: str) -> KeyRing[Any]:
    kind, _ = _kind_of(path)
    return KeyRing.from_encrypted_json(
        path.read_text(encoding="utf-8"), passphrase, key_type=_KINDS[kind]
    )


def _list(path: Path, now: datetime) -> int:
    kind, data = _kind_of(path)
    print(f"{path}: {kind} keys")
    for entry in data.get("keys", []):
        not_after = entry.get("not_after")
        expired = not_after is not None and datetime.fromisoformat(not_after) <= now
        state = "expired" if expired else "valid"
        print(f"  {entry.get('kid')}  from {entry.get('not_before')}  until {not_after}  {state}")
    return 0


def _write(path: Path, text: str) -> None:
    """Write whole or not at all, owner-readable only."""
    directory = path.resolve().parent
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
