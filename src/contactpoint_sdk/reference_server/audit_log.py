"""The directory's tamper-evident audit log: a Merkle tree over SQLite (ACC-5).

:class:`MerkleAuditLog` implements :class:`~.audit.AuditSink`: every event
the directory records becomes one entry, appended and never changed. Each
entry is the canonical JSON (sorted keys, no whitespace, UTF-8) of::

    {"event": {...the event's fields...}, "index": 17, "v": 1}

``event`` holds the :class:`~.audit.AuditEvent`'s fields as identifiers and
codes (a user ID, the user acted for under mediated access (ACC-6), an action,
a directory ID, a reason or outcome code, a rule ID, a request ID, the time),
never child or parent data: only strings, integers, booleans, UTC times and
lists of strings are accepted. ``index`` is the entry's own position, so an
entry moved elsewhere in the file says where it belongs.

The entries are the leaves of an RFC 9162 Merkle tree (:mod:`.merkle`). The
log signs **tree heads** (:class:`SignedTreeHead`: log ID, size, root hash,
time, key ID; Ed25519 over their canonical JSON) and proves **inclusion** of
an entry and **consistency** of a later tree with an earlier one.
:meth:`MerkleAuditLog.verify` (and :func:`verify_log_file`, behind
``contactpoint audit verify``) re-reads every entry, re-hashes it and proves
the log whole against a saved head: any entry changed, removed, inserted or
reordered, or a head whose signature does not verify, is reported as a
:class:`Discrepancy`.

Tables (their own, so they can share a database file): ``audit_log_meta``
(format, version, log ID), ``audit_log_entries`` (``idx``, the canonical
``entry`` bytes, and its ``leaf_hash``, a cache the verifier never trusts)
and ``audit_log_heads`` (every head signed). Triggers refuse ``UPDATE`` and
``DELETE`` on entries and heads: a slip through SQL is refused, while a
deliberate edit of the file is what :meth:`~MerkleAuditLog.verify` catches.

See ``docs/audit.md`` for what this proves and what it cannot.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any, Final

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from contactpoint_sdk.clock import Clock, SystemClock
from contactpoint_sdk.errors import (
    AuditLogDamaged,
    ConfigurationError,
    KeyMaterialError,
    ValidationError,
)
from contactpoint_sdk.reference_server.audit import AuditEvent
from contactpoint_sdk.reference_server.merkle import (
    HASH_SIZE,
    MerkleTree,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from contactpoint_sdk.supply.keys import PublicKey, PublicKeySet, SigningKey

__all__ = [
    "ENTRY_VERSION",
    "HEAD_FORMAT",
    "LOG_FORMAT",
    "AuditLogEntry",
    "ConsistencyProof",
    "Discrepancy",
    "DiscrepancyKind",
    "InclusionProof",
    "MerkleAuditLog",
    "SignedTreeHead",
    "VerificationReport",
    "encode_entry",
    "verify_log_file",
]

#: ``audit_log_meta.format`` of a database holding this log.
LOG_FORMAT: Final = "contactpoint-audit-log"
_LOG_VERSION: Final = "1"
#: ``v`` of every entry.
ENTRY_VERSION: Final = 1
#: ``format`` of a signed tree head.
HEAD_FORMAT: Final = "contactpoint-audit-tree-head"
_HEAD_VERSION: Final = 1
_SIGNATURE_SIZE: Final = 64
#: At most this many discrepancies are listed in one report (the rest counted).
_MAX_LISTED: Final = 100
#: A string field of an event may be at most this long: identifiers and codes,
#: not free text.
_MAX_STRING: Final = 512
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_TIMESTAMP: Final = "%Y-%m-%dT%H:%M:%S.%fZ"
_ACC5: Final = "ACC-5"

_SCHEMA_STATEMENTS: Final = (
    """CREATE TABLE IF NOT EXISTS audit_log_meta (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS audit_log_entries (
        idx INTEGER PRIMARY KEY CHECK (idx >= 0),
        entry BLOB NOT NULL,
        leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32)
    )""",
    """CREATE TABLE IF NOT EXISTS audit_log_heads (
        id INTEGER PRIMARY KEY,
        tree_size INTEGER NOT NULL,
        head TEXT NOT NULL
    )""",
    *(
        f"""CREATE TRIGGER IF NOT EXISTS {table}_append_only_{verb.lower()}
        BEFORE {verb} ON {table}
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only (ACC-5)'); END"""
        for table in ("audit_log_entries", "audit_log_heads")
        for verb in ("UPDATE", "DELETE")
    ),
)


# --- Canonical encoding ---------------------------------------------------------


def _canonical(value: object) -> bytes:
    """Sorted keys, no whitespace, UTF-8; no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _format_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return moment.astimezone(UTC).strftime(_TIMESTAMP)


def _parse_time(text: object, what: str) -> datetime:
    if not isinstance(text, str):
        raise _head_invalid(f"{what} must be a string")
    try:
        moment = datetime.strptime(text, _TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise _head_invalid(f"{what} must be a UTC time like 2025-01-31T09:00:00.000000Z") from None
    return moment


def _encode_value(name: str, value: object) -> object:
    """An event field as JSON: identifiers, codes, numbers and times only."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, Enum):
        return _encode_value(name, value.value)
    if isinstance(value, str):
        if len(value) > _MAX_STRING or _CONTROL.search(value):
            raise ValueError(
                f"audit field {name!r} must be an identifier or code (at most"
                f" {_MAX_STRING} characters, no control characters)"
            )
        return value
    if isinstance(value, datetime):
        return _format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | list | frozenset):
        items = sorted(value) if isinstance(value, frozenset) else value
        return [_encode_value(name, item) for item in items]
    raise TypeError(
        f"audit field {name!r} holds a {type(value).__name__}: an audit event carries"
        " identifiers and codes only (ACC-5)"
    )


def _event_fields(event: AuditEvent) -> dict[str, object]:
    """Every field of the event, by name; ``None`` and empty fields left out.

    Read from the attrs fields of the event's class, so a field added to
    :class:`~.audit.AuditEvent` is logged without a change here.
    """
    fields: dict[str, object] = {}
    for field in attrs.fields(type(event)):
        value = _encode_value(field.name, getattr(event, field.name))
        if value is None or value == []:
            continue
        fields[field.name] = value
    return fields


def encode_entry(event: AuditEvent, index: int) -> bytes:
    """The canonical bytes of entry ``index`` holding ``event``: the leaf data."""
    return _canonical({"event": _event_fields(event), "index": index, "v": ENTRY_VERSION})


def _decode_entry(data: bytes) -> dict[str, Any] | str:
    """The entry as a dict, or why it is not a well-formed canonical entry."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "is not valid JSON"
    if not isinstance(value, dict):
        return "is not a JSON object"
    if set(value) != {"event", "index", "v"} or value.get("v") != ENTRY_VERSION:
        return f"is not an entry of version {ENTRY_VERSION}"
    index = value["index"]
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        return "has no valid index"
    if not isinstance(value["event"], dict):
        return "has no event"
    try:
        canonical = _canonical(value)
    except ValueError:
        return "is not canonical JSON"
    if canonical != data:
        return "is not in canonical form"
    return value


# --- Values ---------------------------------------------------------------------


def _head_invalid(message: str) -> ValidationError:
    return ValidationError.single(
        f"signed tree head: {message}", code="tree_head_invalid", rule=_ACC5
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _ed25519_public(key: PublicKey) -> Ed25519PublicKey:
    raw = key.jose_key.public_key
    if key.curve != "Ed25519" or not isinstance(raw, Ed25519PublicKey):
        raise KeyMaterialError("tree heads are verified with an Ed25519 public key")
    return raw


def _ed25519_private(key: SigningKey) -> Ed25519PrivateKey:
    raw = key.jose_key.private_key
    if not isinstance(raw, Ed25519PrivateKey):  # pragma: no cover - SigningKey is Ed25519
        raise KeyMaterialError("tree heads are signed with an Ed25519 key")
    return raw


@attrs.frozen(kw_only=True)
class SignedTreeHead:
    """The log's signed statement "my first ``tree_size`` entries hash to
    ``root_hash``", made at ``timestamp`` with the key ``key_id``.

    The signature is Ed25519 over :meth:`signed_bytes`: the canonical JSON of
    every other member, ``format`` and ``version`` included. Publish or hand
    over :meth:`to_json`; an auditor keeps it and later proves the log against it.
    """

    log_id: str
    tree_size: int
    root_hash: bytes
    timestamp: datetime
    key_id: str
    signature: bytes

    def _payload(self) -> dict[str, object]:
        return {
            "format": HEAD_FORMAT,
            "version": _HEAD_VERSION,
            "log_id": self.log_id,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp": _format_time(self.timestamp),
            "kid": self.key_id,
        }

    def signed_bytes(self) -> bytes:
        """The bytes the signature covers."""
        return _canonical(self._payload())

    @classmethod
    def sign(
        cls,
        *,
        log_id: str,
        tree_size: int,
        root_hash: bytes,
        timestamp: datetime,
        key: SigningKey,
    ) -> SignedTreeHead:
        """A head signed with ``key`` (Ed25519)."""
        if len(root_hash) != HASH_SIZE or tree_size < 0:
            raise ValueError("a tree head needs a size and a 32-byte root hash")
        moment = datetime.strptime(_format_time(timestamp), _TIMESTAMP).replace(tzinfo=UTC)
        unsigned = cls(
            log_id=log_id,
            tree_size=tree_size,
            root_hash=root_hash,
            timestamp=moment,
            key_id=key.kid,
            signature=b"",
        )
        signature = _ed25519_private(key).sign(unsigned.signed_bytes())
        return attrs.evolve(unsigned, signature=signature)

    def verify_signature(self, key: PublicKey) -> bool:
        """Whether the signature verifies under ``key`` (which must carry the
        head's ``key_id``)."""
        if key.kid != self.key_id:
            return False
        try:
            _ed25519_public(key).verify(self.signature, self.signed_bytes())
        except InvalidSignature:
            return False
        return True

    def to_dict(self) -> dict[str, object]:
        """The head as JSON members: hex root, base64url signature."""
        return {**self._payload(), "signature": _b64(self.signature)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SignedTreeHead:
        """Load a head written by :meth:`to_dict`; strict.

        :raises ValidationError: ``tree_head_invalid`` (ACC-5), saying what is wrong.
        """
        if not isinstance(data, Mapping):
            raise _head_invalid("must be a JSON object")
        expected = {*cls._member_names(), "signature"}
        if set(data) != expected:
            missing = sorted(expected - set(data))
            extra = sorted(set(data) - expected)
            raise _head_invalid(f"members missing {missing}, unexpected {extra}")
        if data["format"] != HEAD_FORMAT or data["version"] != _HEAD_VERSION:
            raise _head_invalid(f"not a {HEAD_FORMAT} of version {_HEAD_VERSION}")
        size = data["tree_size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise _head_invalid("tree_size must be a non-negative integer")
        for name in ("log_id", "kid", "root_hash", "signature"):
            if not isinstance(data[name], str) or not data[name]:
                raise _head_invalid(f"{name} must be a non-empty string")
        if not re.fullmatch(r"[0-9a-f]{64}", data["root_hash"]):
            raise _head_invalid("root_hash must be 64 lower-case hex digits")
        try:
            signature = _unb64(data["signature"])
        except (ValueError, binascii.Error):
            raise _head_invalid("signature must be base64url") from None
        if len(signature) != _SIGNATURE_SIZE:
            raise _head_invalid(f"signature must be {_SIGNATURE_SIZE} bytes")
        return cls(
            log_id=data["log_id"],
            tree_size=size,
            root_hash=bytes.fromhex(data["root_hash"]),
            timestamp=_parse_time(data["timestamp"], "timestamp"),
            key_id=data["kid"],
            signature=signature,
        )

    @staticmethod
    def _member_names() -> tuple[str, ...]:
        return ("format", "version", "log_id", "tree_size", "root_hash", "timestamp", "kid")

    @classmethod
    def from_json(cls, text: str | bytes) -> SignedTreeHead:
        """Load a head from :meth:`to_json` text.

        :raises ValidationError: ``tree_head_invalid`` (ACC-5).
        """
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError):
            raise _head_invalid("is not valid JSON") from None
        return cls.from_dict(data)


@attrs.frozen(kw_only=True)
class InclusionProof:
    """Entry ``index`` is leaf ``leaf_hash`` of the tree of ``tree_size``
    entries: ``path`` is its RFC 9162 audit path, leaf upwards."""

    index: int
    tree_size: int
    leaf_hash: bytes
    path: tuple[bytes, ...]

    def verify(self, root_hash: bytes) -> bool:
        """Whether the proof leads to ``root_hash`` (RFC 9162 §2.1.3.2)."""
        return verify_inclusion(self.leaf_hash, self.index, self.tree_size, self.path, root_hash)

    def to_dict(self) -> dict[str, object]:
        return {
            "index": self.index,
            "tree_size": self.tree_size,
            "leaf_hash": self.leaf_hash.hex(),
            "path": [node.hex() for node in self.path],
        }


@attrs.frozen(kw_only=True)
class ConsistencyProof:
    """The tree of ``new_size`` entries extends the tree of ``old_size``:
    ``path`` is the RFC 9162 consistency proof."""

    old_size: int
    new_size: int
    path: tuple[bytes, ...]

    def verify(self, old_root: bytes, new_root: bytes) -> bool:
        """Whether the proof links the two roots (RFC 9162 §2.1.4.2)."""
        return verify_consistency(self.old_size, self.new_size, old_root, new_root, self.path)

    def to_dict(self) -> dict[str, object]:
        return {
            "old_size": self.old_size,
            "new_size": self.new_size,
            "path": [node.hex() for node in self.path],
        }


@attrs.frozen(kw_only=True)
class AuditLogEntry:
    """One entry as stored: its position, canonical bytes, leaf hash and event fields."""

    index: int
    data: bytes
    leaf_hash: bytes
    event: Mapping[str, Any]


class DiscrepancyKind(StrEnum):
    """What a verification found wrong."""

    #: The head's signature does not verify under the auditor's key.
    SIGNATURE_INVALID = "signature_invalid"
    #: The head is for another log, or names another key.
    HEAD_MISMATCH = "head_mismatch"
    #: An entry's bytes are not what was appended.
    ENTRY_CHANGED = "entry_changed"
    #: Entries are missing (deleted, or the log cut short).
    ENTRY_REMOVED = "entry_removed"
    #: An entry that was never appended sits among the entries.
    ENTRY_INSERTED = "entry_inserted"
    #: Entries are out of their order.
    ENTRY_REORDERED = "entry_reordered"
    #: The entries do not hash to a signed root (the proof of tampering, and
    #: the only sign of a careful rewrite that kept every entry well-formed).
    ROOT_MISMATCH = "root_mismatch"
    #: A head stored in the log does not verify.
    STORED_HEAD_INVALID = "stored_head_invalid"
    #: The file holds no audit log.
    NOT_AN_AUDIT_LOG = "not_an_audit_log"


@attrs.frozen(kw_only=True)
class Discrepancy:
    """One thing found wrong; ``index`` is the first entry it concerns, if any."""

    kind: DiscrepancyKind
    message: str
    index: int | None = None

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.message}"


@attrs.frozen(kw_only=True)
class VerificationReport:
    """What :meth:`MerkleAuditLog.verify` found.

    ``ok`` is true only if the head's signature verifies and the log's first
    ``head.tree_size`` entries, re-read and re-hashed, give the head's root,
    every entry is well-formed and in its place, and every head stored in the
    log under the same key verifies and matches.
    """

    head: SignedTreeHead
    #: Entries found in the log (may exceed the head's size: the log grew).
    log_size: int
    signature_valid: bool
    #: The root of the first ``head.tree_size`` entries as found (``None`` if
    #: the log holds fewer).
    computed_root: bytes | None
    #: The root of every entry found.
    current_root: bytes
    #: Heads stored in the log that were checked (same log, same key).
    stored_heads_checked: int
    discrepancies: tuple[Discrepancy, ...]
    #: How many discrepancies were found (only the first 100 are listed).
    discrepancy_count: int

    @property
    def ok(self) -> bool:
        return not self.discrepancies

    @property
    def first(self) -> Discrepancy | None:
        """The first discrepancy, or ``None`` when the log is whole."""
        return self.discrepancies[0] if self.discrepancies else None

    def summary(self) -> str:
        """One line: whole, or the first discrepancy."""
        head = self.head
        if self.ok:
            return (
                f"the log is whole: its first {head.tree_size} entries hash to the root"
                f" signed at {_format_time(head.timestamp)} by key {head.key_id}"
                f" ({self.log_size} entries in all)"
            )
        more = self.discrepancy_count - 1
        tail = f" (and {more} more)" if more else ""
        return f"the log is NOT whole: {self.first}{tail}"

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "head": self.head.to_dict(),
            "log_size": self.log_size,
            "signature_valid": self.signature_valid,
            "computed_root": None if self.computed_root is None else self.computed_root.hex(),
            "current_root": self.current_root.hex(),
            "stored_heads_checked": self.stored_heads_checked,
            "discrepancy_count": self.discrepancy_count,
            "discrepancies": [
                {"kind": d.kind.value, "index": d.index, "message": d.message}
                for d in self.discrepancies
            ],
        }


# --- The log ----------------------------------------------------------------------


def _damaged(message: str) -> AuditLogDamaged:
    return AuditLogDamaged(f"the audit log is damaged: {message}; run `contactpoint audit verify`")


def _read_meta(db: sqlite3.Connection) -> dict[str, str]:
    rows = db.execute("SELECT name, value FROM audit_log_meta").fetchall()
    return {str(name): str(value) for name, value in rows}


def _has_log_tables(db: sqlite3.Connection) -> bool:
    names = {
        row[0]
        for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    }
    return {"audit_log_meta", "audit_log_entries", "audit_log_heads"} <= names


class MerkleAuditLog:
    """An append-only, tamper-evident audit log on SQLite (ACC-5). Thread safe.

    :param database: a path (opened in WAL mode; ``":memory:"`` for a
        throw-away log) or an open ``sqlite3`` connection. A connection is
        used as it is and must not be in the middle of someone else's
        transaction when the log writes: give the log its own connection.
    :param clock: the time for tree heads (default: the system clock).
    :param durable: for a path, ``synchronous=FULL`` (default: an append
        that returned survives a power cut) or ``NORMAL`` (faster; survives a
        crash of the process, may lose the last appends on a power cut).

    Opening an existing log reloads the tree from the stored leaf hashes
    (O(n) time); it trusts them, as a server must to start quickly. Only the
    tree's upper levels stay in memory (250 KB a million entries, see
    :class:`~.merkle.MerkleTree`); a proof reads the leaf hashes it needs
    below them back from the file. Entries
    appended through another connection to the same file are picked up
    before each read and each append.
    :meth:`verify` trusts nothing stored.

    :raises ContactPointError: ``audit_log_damaged`` if the stored entries
        are not numbered 0, 1, 2, ...; the log refuses to append to them.
    """

    def __init__(
        self,
        database: sqlite3.Connection | str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        durable: bool = True,
    ) -> None:
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._lock = threading.RLock()
        if isinstance(database, sqlite3.Connection):
            self._db = database
            self._owns = False
        else:
            self._db = sqlite3.connect(
                os.fspath(database), isolation_level=None, check_same_thread=False
            )
            self._owns = True
            if os.fspath(database) != ":memory:":
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
        # Only the upper levels of the tree stay in memory; proofs read the
        # leaf hashes they need below those back from the file (merkle.py).
        self._tree = MerkleTree(leaves=self._stored_leaf_hashes)
        try:
            self._log_id = self._initialise()
        except BaseException:
            if self._owns:
                self._db.close()
            raise

    @classmethod
    def in_memory(cls, *, clock: Clock | None = None) -> MerkleAuditLog:
        """A throw-away log in an in-memory database (tests, demos)."""
        return cls(":memory:", clock=clock)

    # --- setup ---------------------------------------------------------------------

    def _initialise(self) -> str:
        with self._lock, _WriteTransaction(self._db):
            for statement in _SCHEMA_STATEMENTS:
                self._db.execute(statement)
            meta = _read_meta(self._db)
            if not meta:
                if self._db.execute("SELECT 1 FROM audit_log_entries LIMIT 1").fetchone():
                    raise _damaged("it holds entries but no log ID")
                log_id = uuid.uuid4().hex
                self._db.executemany(
                    "INSERT INTO audit_log_meta (name, value) VALUES (?, ?)",
                    [("format", LOG_FORMAT), ("version", _LOG_VERSION), ("log_id", log_id)],
                )
            elif meta.get("format") != LOG_FORMAT or meta.get("version") != _LOG_VERSION:
                raise ConfigurationError(
                    f"the database holds audit_log tables that are not a {LOG_FORMAT}"
                    f" of version {_LOG_VERSION}"
                )
            else:
                log_id = meta.get("log_id", "")
                if not log_id:
                    raise _damaged("it has no log ID")
            self._sync()
        return log_id

    def _sync(self) -> None:
        """Load entries appended since the tree was last brought up to date
        (by another connection to the same file, or at open)."""
        tree = self._tree
        rows = self._db.execute(
            "SELECT idx, leaf_hash FROM audit_log_entries WHERE idx >= ? ORDER BY idx",
            (len(tree),),
        )
        for idx, value in rows:
            if idx != len(tree):
                raise _damaged(f"entry {len(tree)} is missing")
            if not isinstance(value, bytes) or len(value) != HASH_SIZE:
                raise _damaged(f"entry {idx} has no valid leaf hash")
            tree.append_hash(value)

    def _stored_leaf_hashes(self, start: int, end: int) -> bytes:
        """The stored leaf hashes of entries ``start`` to ``end - 1``, joined
        (for the tree's nodes it no longer keeps in memory; under the lock)."""
        rows = self._db.execute(
            "SELECT idx, leaf_hash FROM audit_log_entries WHERE idx >= ? AND idx < ? ORDER BY idx",
            (start, end),
        ).fetchall()
        for offset, (idx, value) in enumerate(rows):
            if idx != start + offset:
                raise _damaged(f"entry {start + offset} is missing")
            if not isinstance(value, bytes) or len(value) != HASH_SIZE:
                raise _damaged(f"entry {idx} has no valid leaf hash")
        if len(rows) != end - start:
            raise _damaged(f"entry {start + len(rows)} is missing")
        return b"".join(value for _, value in rows)

    # --- writing ---------------------------------------------------------------------

    def record(self, event: AuditEvent) -> None:
        """Append ``event`` (the :class:`~.audit.AuditSink` protocol)."""
        self.append(event)

    def append(self, event: AuditEvent) -> int:
        """Append ``event`` as the next entry, durably; returns its index.

        :raises ValueError, TypeError: the event holds something that is not
            an identifier, a code, a number or a time; nothing is appended.
        """
        return self.append_many([event])[0]

    def append_many(self, events: Iterable[AuditEvent]) -> list[int]:
        """Append several events in one transaction (all or none); returns
        their indexes."""
        batch = list(events)
        if not batch:
            return []
        with self._lock:
            with _WriteTransaction(self._db):
                self._sync()
                start = len(self._tree)
                rows: list[tuple[int, bytes, bytes]] = []
                for offset, event in enumerate(batch):
                    data = encode_entry(event, start + offset)
                    rows.append((start + offset, data, leaf_hash(data)))
                self._db.executemany(
                    "INSERT INTO audit_log_entries (idx, entry, leaf_hash) VALUES (?, ?, ?)",
                    rows,
                )
            for _, _, value in rows:
                self._tree.append_hash(value)
            return [index for index, _, _ in rows]

    def tree_head(self, signing_key: SigningKey, *, store: bool = True) -> SignedTreeHead:
        """Sign the current tree head with ``signing_key`` (Ed25519).

        :param store: also keep it in the log's ``audit_log_heads`` table, so a
            later verification can use it to say *where* tampering happened.
        """
        with self._lock:
            if store:
                with _WriteTransaction(self._db):
                    self._sync()
                    head = self._sign(signing_key)
                    self._db.execute(
                        "INSERT INTO audit_log_heads (tree_size, head) VALUES (?, ?)",
                        (head.tree_size, head.to_json()),
                    )
            else:
                self._sync()
                head = self._sign(signing_key)
            return head

    def _sign(self, signing_key: SigningKey) -> SignedTreeHead:
        return SignedTreeHead.sign(
            log_id=self._log_id,
            tree_size=len(self._tree),
            root_hash=self._tree.root(),
            timestamp=self._clock.now(),
            key=signing_key,
        )

    # --- reading -----------------------------------------------------------------

    @property
    def log_id(self) -> str:
        """This log's random ID, fixed at creation and signed into every head."""
        return self._log_id

    def __len__(self) -> int:
        with self._lock:
            self._sync()
            return len(self._tree)

    @property
    def size(self) -> int:
        """The number of entries."""
        return len(self)

    def root(self, size: int | None = None) -> bytes:
        """The root hash of the first ``size`` entries (default: all)."""
        with self._lock:
            self._sync()
            return self._tree.root(size)

    def entry(self, index: int) -> AuditLogEntry:
        """Entry ``index`` as stored.

        :raises IndexError: no such entry.
        """
        with self._lock:
            row = self._db.execute(
                "SELECT idx, entry, leaf_hash FROM audit_log_entries WHERE idx = ?", (index,)
            ).fetchone()
        if row is None:
            raise IndexError(f"no audit entry {index}")
        return _entry_from_row(row)

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[AuditLogEntry]:
        """Entries ``start`` to ``stop - 1`` (default: to the end), in order."""
        with self._lock:
            end = len(self._tree) if stop is None else stop
            rows = self._db.execute(
                "SELECT idx, entry, leaf_hash FROM audit_log_entries"
                " WHERE idx >= ? AND idx < ? ORDER BY idx",
                (start, end),
            ).fetchall()
        for row in rows:
            yield _entry_from_row(row)

    def tree_heads(self) -> tuple[SignedTreeHead, ...]:
        """Every head stored by :meth:`tree_head`, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT head FROM audit_log_heads ORDER BY id").fetchall()
        return tuple(SignedTreeHead.from_json(text) for (text,) in rows)

    def inclusion_proof(self, index: int, size: int | None = None) -> InclusionProof:
        """The proof that entry ``index`` is in the tree of the first ``size``
        entries (default: all), to check against that tree's signed root."""
        with self._lock:
            self._sync()
            tree_size = len(self._tree) if size is None else size
            path = self._tree.inclusion_proof(index, tree_size)
            return InclusionProof(
                index=index,
                tree_size=tree_size,
                leaf_hash=self._tree.leaf_hash(index),
                path=tuple(path),
            )

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        """The proof that the tree of ``new_size`` entries (default: all)
        extends the tree of ``old_size``: nothing before ``old_size`` changed."""
        with self._lock:
            self._sync()
            size = len(self._tree) if new_size is None else new_size
            path = self._tree.consistency_proof(old_size, size)
            return ConsistencyProof(old_size=old_size, new_size=size, path=tuple(path))

    # --- verification -------------------------------------------------------------

    def verify(self, saved_head: SignedTreeHead, public_key: PublicKey) -> VerificationReport:
        """Re-read and re-hash every stored entry and prove the log whole
        against ``saved_head`` under ``public_key``. Trusts nothing stored:
        not the leaf hashes, not the in-memory tree. Appends wait meanwhile."""
        with self._lock:
            return _verify(self._db, saved_head, public_key)

    def close(self) -> None:
        """Close the connection, if the log opened it."""
        with self._lock:
            if self._owns:
                self._db.close()

    def __enter__(self) -> MerkleAuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MerkleAuditLog(log_id={self._log_id!r}, size={len(self)})"


def _entry_from_row(row: Sequence[Any]) -> AuditLogEntry:
    idx, data, value = row
    decoded = _decode_entry(data) if isinstance(data, bytes) else "is not stored as bytes"
    if isinstance(decoded, str):
        raise _damaged(f"entry {idx} {decoded}")
    return AuditLogEntry(index=idx, data=data, leaf_hash=value, event=decoded["event"])


class _WriteTransaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on an exception."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        if self._db.in_transaction:
            raise ConfigurationError(
                "the audit log's connection is inside another transaction:"
                " give the audit log its own connection"
            )
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None:
            self._db.commit()
        else:
            self._db.rollback()


# --- Verification -----------------------------------------------------------------

_GROUP: Final[Mapping[DiscrepancyKind, int]] = {
    DiscrepancyKind.NOT_AN_AUDIT_LOG: 0,
    DiscrepancyKind.HEAD_MISMATCH: 0,
    DiscrepancyKind.SIGNATURE_INVALID: 0,
    DiscrepancyKind.ENTRY_CHANGED: 1,
    DiscrepancyKind.ENTRY_REMOVED: 1,
    DiscrepancyKind.ENTRY_INSERTED: 1,
    DiscrepancyKind.ENTRY_REORDERED: 1,
    DiscrepancyKind.ROOT_MISMATCH: 2,
    DiscrepancyKind.STORED_HEAD_INVALID: 3,
}


class _Findings:
    """Discrepancies found, de-duplicated by kind and index."""

    def __init__(self) -> None:
        self._items: dict[tuple[DiscrepancyKind, int | None], Discrepancy] = {}

    def add(self, kind: DiscrepancyKind, message: str, index: int | None = None) -> None:
        self._items.setdefault((kind, index), Discrepancy(kind=kind, message=message, index=index))

    def sorted(self) -> list[Discrepancy]:
        return sorted(
            self._items.values(),
            key=lambda d: (_GROUP[d.kind], -1 if d.index is None else d.index),
        )


def _verify(db: sqlite3.Connection, head: SignedTreeHead, key: PublicKey) -> VerificationReport:
    found = _Findings()
    tree = MerkleTree()
    signature_valid = False
    checked = 0
    computed: bytes | None = None
    try:
        if key.kid != head.key_id:
            found.add(
                DiscrepancyKind.HEAD_MISMATCH,
                f"the head was signed with key {head.key_id!r}, the key given is {key.kid!r}",
            )
        else:
            signature_valid = head.verify_signature(key)
            if not signature_valid:
                found.add(
                    DiscrepancyKind.SIGNATURE_INVALID,
                    f"the head's signature does not verify under key {key.kid!r}:"
                    " the head was altered or not signed by this key",
                )
        if not _has_log_tables(db):
            found.add(DiscrepancyKind.NOT_AN_AUDIT_LOG, "the database holds no audit log")
        else:
            meta = _read_meta(db)
            if meta.get("format") != LOG_FORMAT or meta.get("version") != _LOG_VERSION:
                found.add(DiscrepancyKind.NOT_AN_AUDIT_LOG, f"the database is not a {LOG_FORMAT}")
            log_id = meta.get("log_id")
            if head.log_id != log_id:
                found.add(
                    DiscrepancyKind.HEAD_MISMATCH,
                    f"the head is for log {head.log_id!r}; this file holds log {log_id!r}",
                )
            _check_entries(db, tree, found)
            size = len(tree)
            if size < head.tree_size:
                found.add(
                    DiscrepancyKind.ENTRY_REMOVED,
                    f"the log holds {size} entries but the head covers {head.tree_size}:"
                    f" {_count(head.tree_size - size)} missing",
                    size,
                )
            else:
                computed = tree.root(head.tree_size)
            checked = _check_heads(db, tree, head=head, key=key, log_id=log_id, found=found)
    except sqlite3.DatabaseError as error:
        found.add(
            DiscrepancyKind.NOT_AN_AUDIT_LOG, f"the database cannot be read: {error}", len(tree)
        )
    listed = found.sorted()
    return VerificationReport(
        head=head,
        log_size=len(tree),
        signature_valid=signature_valid,
        computed_root=computed,
        current_root=tree.root(),
        stored_heads_checked=checked,
        discrepancies=tuple(listed[:_MAX_LISTED]),
        discrepancy_count=len(listed),
    )


def _span(start: int, stop: int) -> str:
    """``entry 4 is`` or ``entries 4 to 9 are``."""
    if stop - start == 1:
        return f"entry {start} is"
    return f"entries {start} to {stop - 1} are"


def _count(missing: int) -> str:
    """``1 entry is`` or ``3 entries are``."""
    return "1 entry is" if missing == 1 else f"{missing} entries are"


def _check_entries(db: sqlite3.Connection, tree: MerkleTree, found: _Findings) -> None:
    """Re-hash every entry into ``tree``; note every entry out of place or changed."""
    claims: list[int | None] = []
    previous = -1
    rows = db.execute("SELECT idx, entry, leaf_hash FROM audit_log_entries ORDER BY idx")
    for position, (idx, data, stored) in enumerate(rows):
        if isinstance(idx, int) and idx > previous + 1:
            found.add(
                DiscrepancyKind.ENTRY_REMOVED,
                f"{_span(previous + 1, idx)} missing"
                f" (the entry numbers jump from {previous} to {idx})",
                position,
            )
        previous = idx if isinstance(idx, int) else previous + 1
        raw = data if isinstance(data, bytes) else str(data).encode("utf-8")
        value = leaf_hash(raw)
        tree.append_hash(value)
        if stored != value:
            found.add(
                DiscrepancyKind.ENTRY_CHANGED,
                f"entry {position} does not match the leaf hash recorded with it:"
                " its content was changed",
                position,
            )
        decoded = _decode_entry(data) if isinstance(data, bytes) else "is not stored as bytes"
        if isinstance(decoded, str):
            found.add(DiscrepancyKind.ENTRY_CHANGED, f"entry {position} {decoded}", position)
            claims.append(None)
        else:
            claims.append(decoded["index"])
    _check_positions(claims, found)


def _check_positions(claims: list[int | None], found: _Findings) -> None:
    """Each entry names its own index; describe the first entry out of place."""
    where: dict[int, list[int]] = {}
    for position, claim in enumerate(claims):
        if claim is not None:
            where.setdefault(claim, []).append(position)
    for position, claim in enumerate(claims):
        if claim is None or claim == position:
            continue
        twins = where[claim]
        if len(twins) > 1 or claim >= len(claims):
            found.add(
                DiscrepancyKind.ENTRY_INSERTED,
                f"an entry was inserted: positions {', '.join(map(str, twins))} all claim"
                f" to be entry {claim}"
                if len(twins) > 1
                else f"an entry was inserted: position {position} claims to be entry {claim}"
                f" of a log of {len(claims)}",
                min(twins),
            )
        elif position in where:
            found.add(
                DiscrepancyKind.ENTRY_REORDERED,
                f"entries are out of order: position {position} holds entry {claim},"
                f" and entry {position} is at position {where[position][0]}",
                position,
            )
        else:
            found.add(
                DiscrepancyKind.ENTRY_REMOVED,
                f"entry {position} is missing: position {position} holds entry {claim}"
                " (the later entries were moved up)",
                position,
            )
        return


def _check_heads(
    db: sqlite3.Connection,
    tree: MerkleTree,
    *,
    head: SignedTreeHead,
    key: PublicKey,
    log_id: str | None,
    found: _Findings,
) -> int:
    """Check the saved head's root and every head stored in the log under the
    same key; use the stored heads to say where a root stops matching.
    Returns how many stored heads were checked."""
    size = len(tree)
    good: list[int] = [0]
    bad: list[SignedTreeHead] = []
    if head.tree_size <= size and tree.root(head.tree_size) != head.root_hash:
        bad.append(head)
    checked = 0
    for row_id, text in db.execute("SELECT id, head FROM audit_log_heads ORDER BY id"):
        try:
            stored = SignedTreeHead.from_json(text)
        except ValidationError as error:
            found.add(
                DiscrepancyKind.STORED_HEAD_INVALID,
                f"stored head {row_id} cannot be read: {error.message}",
            )
            continue
        if stored.log_id != log_id or stored.key_id != key.kid:
            continue  # another log's head, or another key's: nothing to check it with
        checked += 1
        if not stored.verify_signature(key):
            found.add(
                DiscrepancyKind.STORED_HEAD_INVALID,
                f"stored head {row_id} (size {stored.tree_size}) has a signature that does"
                " not verify: it was altered",
            )
        elif stored.tree_size > size:
            found.add(
                DiscrepancyKind.ENTRY_REMOVED,
                f"a head signed at {_format_time(stored.timestamp)} covers"
                f" {stored.tree_size} entries but the log holds {size}:"
                f" {_count(stored.tree_size - size)} missing",
                size,
            )
        elif tree.root(stored.tree_size) != stored.root_hash:
            if stored.signed_bytes() != head.signed_bytes():
                bad.append(stored)
        else:
            good.append(stored.tree_size)
    if bad:
        # The smallest head that does not match, and the largest below it that
        # does, bound where the log was changed.
        first = min(bad, key=lambda h: h.tree_size)
        lower = max(s for s in good if s < first.tree_size)
        which = "the saved head" if first is head else "a head stored in the log"
        found.add(
            DiscrepancyKind.ROOT_MISMATCH,
            f"the first {first.tree_size} entries do not hash to the root signed at"
            f" {_format_time(first.timestamp)} ({which}): an entry among {lower} to"
            f" {first.tree_size - 1} was changed, inserted, removed or reordered",
            lower,
        )
    return checked


def _load_public_key(material: object, kid: str) -> PublicKey:
    """A public key from a :class:`PublicKey`, a JWK, a JWKS (the key named
    ``kid``, else its only or first key) or their JSON text."""
    if isinstance(material, PublicKey):
        return material
    if isinstance(material, str | bytes):
        try:
            material = json.loads(material)
        except (ValueError, UnicodeDecodeError):
            raise KeyMaterialError("the public key is not JSON (a JWK or a JWKS)") from None
    if isinstance(material, Mapping) and "keys" in material:
        material = PublicKeySet.from_jwks(material, curve="Ed25519")
    if isinstance(material, PublicKeySet):
        if not len(material):
            raise KeyMaterialError("the JWKS holds no key")
        return material.get(kid) if kid in material else next(iter(material))
    if isinstance(material, Mapping):
        key = PublicKey.from_jwk(material)
        _ed25519_public(key)
        return key
    raise KeyMaterialError("expected a public JWK, a JWKS or a PublicKey")


def _load_head(material: object) -> SignedTreeHead:
    if isinstance(material, SignedTreeHead):
        return material
    if isinstance(material, str | bytes):
        return SignedTreeHead.from_json(material)
    if isinstance(material, Mapping):
        return SignedTreeHead.from_dict(material)
    raise _head_invalid("expected a signed tree head (JSON text or object)")


def verify_log_file(
    path: str | os.PathLike[str],
    saved_head_json: str | bytes | Mapping[str, Any] | SignedTreeHead,
    public_key_jwk: str | bytes | Mapping[str, Any] | PublicKey | PublicKeySet,
) -> VerificationReport:
    """Prove the audit log in the SQLite file ``path`` whole against a saved
    head, opening the file read-only (``contactpoint audit verify``).

    :param saved_head_json: the head, as :meth:`SignedTreeHead.to_json` text
        or its parsed object.
    :param public_key_jwk: the directory's Ed25519 public key as a JWK, or a
        JWKS holding it (the key named by the head's ``kid`` is used).
    :raises ValidationError: the head is not a well-formed tree head.
    :raises KeyMaterialError: the key is not an Ed25519 public key.
    :raises ConfigurationError: there is no such file.
    """
    head = _load_head(saved_head_json)
    key = _load_public_key(public_key_jwk, head.key_id)
    file = Path(path)
    if not file.is_file():
        raise ConfigurationError(f"{file} does not exist")
    try:
        db = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as error:  # pragma: no cover - is_file checked it
        raise ConfigurationError(f"{file} cannot be opened: {error}") from None
    try:
        return _verify(db, head, key)
    finally:
        db.close()
