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
import json
import os
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from contactpoint_sdk.cli._options import (
    EXIT_CODES,
    PASSPHRASE_ENV,
    add_passphrase_argument,
    read_passphrase,
)
from contactpoint_sdk.errors import ConfigurationError, KeyMaterialError
from contactpoint_sdk.supply.keys import EncryptionKey, KeyRing, SigningKey

__all__ = ["PASSPHRASE_ENV", "add_keys_arguments", "read_passphrase", "run_keys"]

#: Said under each ``keys`` action's help.
EPILOG = f"The passphrase is read from ${PASSPHRASE_ENV} (or --passphrase-env). {EXIT_CODES}"
_KINDS: dict[str, type[SigningKey] | type[EncryptionKey]] = {
    "signing": SigningKey,
    "encryption": EncryptionKey,
}


def add_keys_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``keys`` subcommands: ``new``, ``list``, ``public``, ``rotate``."""
    actions = parser.add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    new = _action(
        actions,
        "new",
        "create a key ring with one new key",
        "Create a key ring file holding one new key, its private part encrypted "
        "under the passphrase. An existing file is never overwritten (use rotate).",
        file="the key ring file to create",
    )
    new.add_argument(
        "--kind",
        choices=sorted(_KINDS),
        default="signing",
        help="signing (a supplier's Ed25519 keys, default) or encryption (a directory's X25519)",
    )
    add_passphrase_argument(new)
    _action(
        actions,
        "list",
        "list the keys in a ring (no passphrase needed)",
        "List a key ring's keys: ID, validity, and whether each is still valid. "
        "Reads only the ring's readable listing: no passphrase needed.",
    )
    public = _action(
        actions,
        "public",
        "print the public keys (JWKS) to register with the directory",
        "Print the ring's public keys that are not expired, as a JWKS: what the "
        "directory's operator registers for a supplier (SUP-3, SUP-5).",
    )
    add_passphrase_argument(public)
    rotate = _action(
        actions,
        "rotate",
        "add a new current key; the old ones stay valid for the overlap",
        "Add a new current key to the ring; the previous keys stay valid for "
        "--overlap-days, so envelopes signed just before rotation still verify.",
    )
    rotate.add_argument(
        "--overlap-days",
        type=int,
        default=14,
        help="days the previous keys stay valid after rotation (default 14)",
    )
    add_passphrase_argument(rotate)
    parser.set_defaults(handler=run_keys)


def _action(
    actions: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    description: str,
    *,
    file: str = "the key ring file",
) -> argparse.ArgumentParser:
    """A ``keys`` action: its help, the passphrase epilog, and its ring ``file``."""
    action = actions.add_parser(name, help=summary, description=description, epilog=EPILOG)
    action.add_argument("file", type=Path, help=file)
    return action


def run_keys(args: argparse.Namespace) -> int:
    """Run one ``keys`` action; returns the exit code."""
    # Whole seconds: a key valid "from now" is then valid at once for a
    # directory whose clock reads whole seconds (the reference directory's).
    now = datetime.now(UTC).replace(microsecond=0)
    action: str = args.keys_action
    if action == "new":
        return _new(args.file, args.kind, read_passphrase(args.passphrase_env, confirm=True), now)
    if action == "list":
        return _list(args.file, now)
    ring = _load(args.file, read_passphrase(args.passphrase_env, confirm=False))
    if action == "public":
        sys.stdout.write(json.dumps(ring.public_key_set(now).to_jwks(), indent=2) + "\n")
        return 0
    if args.overlap_days < 0:
        raise ConfigurationError("--overlap-days cannot be negative")
    new_key = ring.rotate(now, timedelta(days=args.overlap_days))
    _write(args.file, ring.to_encrypted_json(read_passphrase(args.passphrase_env, confirm=False)))
    print(f"rotated: new current key {new_key.kid}; previous keys valid {args.overlap_days} days")
    return 0


def _new(path: Path, kind: str, passphrase: str, now: datetime) -> int:
    if path.exists():
        raise ConfigurationError(f"{path} exists; keys are never overwritten (use rotate)")
    key_type = _KINDS[kind]
    ring: KeyRing[Any] = KeyRing(key_type)
    key = key_type.generate()
    ring.add(key, not_before=now)
    try:
        _write(path, ring.to_encrypted_json(passphrase), exclusive=True)
    except FileExistsError:  # made by someone else since the check above
        raise ConfigurationError(
            f"{path} exists; keys are never overwritten (use rotate)"
        ) from None
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


def _write(path: Path, text: str, *, exclusive: bool = False) -> None:
    """Write whole or not at all, owner-readable only.

    ``exclusive``: never over an existing file, however close the race: the
    finished temporary file is hard-linked to ``path`` (which fails if it
    exists, atomically) and then unlinked.

    :raises FileExistsError: ``exclusive`` and ``path`` exists.
    """
    directory = path.resolve().parent
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o600)
        if exclusive:
            os.link(temp, path)
        else:
            os.replace(temp, path)
    finally:
        Path(temp).unlink(missing_ok=True)
