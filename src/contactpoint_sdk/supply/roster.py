"""What a school last supplied, kept locally and encrypted at rest (SUP-6, SUP-1).

Supply is one way (SUP-1): the directory never tells a source what it holds.
So to send only what changed, a supplier remembers what the directory
*accepted* from it. :class:`Roster` is that memory, per school (LAESTAB),
per pupil (UPN): the date of birth (to name a leaver, a
:class:`~contactpoint_sdk.models.operations.ChildKey`), the school
involvement's start date (kept stable across runs), and a SHA-256 digest of
the supplied record. :func:`diff` compares it with the current file:

- **joiners**: on roll now, not in the roster → a ``SuppliedChild``;
- **changes**: in both, digest differs → a ``SuppliedChild`` (the current
  record as the source holds it);
- **leavers**: in the roster, not on roll now → a ``ChildLeftSetting``.

The roster is changed **only for operations the directory accepted**
(:meth:`Roster.apply_accepted`): a rejected joiner stays out, a rejected
change keeps the old digest, a rejected leaver stays in, so each is sent
again next run, never lost.

**The file** (:class:`RosterFile`) is one per supplier, holding every school it
supplies and the supplier's last batch sequence number (SUP-5: sequence numbers
rise strictly per supplier). It is encrypted with AES-256-GCM (pyca
``cryptography``) under a key derived by scrypt from the passphrase that
protects the supplier's key ring, with a random salt kept in the file and a
fresh random nonce on every write; the header is authenticated as associated
data. So the roster opens only with the key ring's passphrase, and its bytes
carry no UPN, name or date. Writes are atomic (a temporary file, flushed and
fsynced, renamed into place; owner-readable only): a crash leaves the old
roster or the new one, never half of one.

**Stale files** (SUP-8). The roster also keeps, per school, the
``Header/DateTime`` of the newest file the directory accepted from
(:meth:`Roster.record_file`); :meth:`Roster.check_not_older` refuses a file
dated earlier with :class:`~contactpoint_sdk.supply.ctf.CtfStale`, so an old
export never undoes the school's later corrections. A file with the *same*
``DateTime`` is allowed: it is the same export run again (to send what was
rejected last time), and the diff sends only what the directory has not yet
accepted.

**A roster older than the directory** (SUP-8, :class:`RosterStale`). Every
batch sequence number is written to the roster before it is used
(:class:`RosterSequence`), so a roster that is current has handed out every
number the directory accepted from this supplier. When the directory answers
a batch ``sequence_out_of_order``, it has accepted a number this roster never
handed out: the roster is an older copy (a backup restored, a file copied
back) and does not know what was accepted since, so the leavers since then
cannot be computed, and a change undone since (A to B to A) looks unchanged.
The batch was refused whole, so nothing in it was acted on; the run stops
there, the roster is marked stale (:attr:`Roster.stale_since`) and every later
run refuses at once, until an operator recovers it (``docs/ctf.md``,
"Recovering a stale roster").

Layout, format 2 (written): ``CPROSTR2`` (8 bytes), the scrypt cost as
log2(N), r and p (one byte each), salt (16), nonce (12), then the AES-GCM
ciphertext of the JSON roster; the associated data is everything before the
nonce (magic, cost and salt), so the cost cannot be lowered unnoticed.
Format 1 (still read, rewritten as format 2 on the next save): ``CPROSTR1``,
salt, nonce, ciphertext, with N = 2**15, r = 8, p = 1 implied; associated
data magic and salt.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import struct
import tempfile
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from contactpoint_sdk.errors import ConfigurationError, ContactPointError
from contactpoint_sdk.models.codec import WireCodec, default_codec
from contactpoint_sdk.models.operations import SuppliedChild
from contactpoint_sdk.supply.ctf import CtfStale

__all__ = [
    "ROSTER_MAGIC",
    "ROSTER_MAGIC_V1",
    "Roster",
    "RosterDiff",
    "RosterEntry",
    "RosterFile",
    "RosterSequence",
    "RosterStale",
    "RosterUnreadable",
    "diff",
    "supplied_digest",
]

#: The first bytes of a roster file as written (format 2: the scrypt cost in the header).
ROSTER_MAGIC: Final = b"CPROSTR2"
#: The first bytes of a format 1 roster file (fixed cost N = 2**15): still read.
ROSTER_MAGIC_V1: Final = b"CPROSTR1"
_SALT_BYTES: Final = 16
_NONCE_BYTES: Final = 12
#: scrypt cost written in format 2: N = 2**17, r = 8, p = 1 (128 MiB, about half
#: a second, once per run: the derived key is kept for the run's writes).
_SCRYPT_LOG2_N: Final = 17
_SCRYPT_R: Final = 8
_SCRYPT_P: Final = 1
#: The cost format 1 implied.
_V1_COST: Final = (15, 8, 1)
#: The costs a format 2 header may name: below, too weak to trust; above, a
#: changed file could make opening it exhaust memory (the header is checked
#: before the tag can be, since the key depends on it).
_LOG2_N_RANGE: Final = range(15, 21)
_R_RANGE: Final = range(1, 17)
_P_RANGE: Final = range(1, 5)
_FORMAT: Final = "contactpoint-roster/1"


class RosterUnreadable(ContactPointError):
    """The roster file is not a roster, was changed, or the passphrase does
    not open it (``roster_unreadable``). Nothing was sent. Remove the file to
    start afresh: the next run then supplies every pupil again (the directory
    matches them to the records it has, SUP-7)."""

    code = "roster_unreadable"


class RosterStale(ContactPointError):
    """The roster is older than what the directory accepted from this
    supplier (``roster_stale``, SUP-8): the directory refused a batch whose
    sequence number this roster handed out, having accepted a higher one
    (module notes). Leavers since then cannot be computed, so the run stopped
    before any operation was acted on. Recover with a full-roll
    reconciliation (``--rebuild-roster``, ``docs/ctf.md``).

    :ivar directory_last: the directory's last accepted sequence number, where
        it said (``None`` over HTTP, where the refusal carries only its code).
    """

    code = "roster_stale"
    rule = "SUP-8"

    def __init__(self, message: str, *, directory_last: int | None = None) -> None:
        super().__init__(message)
        self.directory_last = directory_last


@attrs.frozen(kw_only=True)
class RosterEntry:
    """One pupil as last accepted by the directory."""

    upn: str
    date_of_birth: date
    started_on: date
    digest: str


@attrs.frozen(kw_only=True)
class RosterDiff:
    """What changed between a roster and the current roll, by UPN, sorted."""

    joiners: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()
    leavers: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()

    @property
    def to_send(self) -> int:
        """How many operations the diff sends: joiners, changes and leavers."""
        return len(self.joiners) + len(self.changes) + len(self.leavers)


def diff(
    previous: Mapping[str, RosterEntry],
    current: Mapping[str, RosterEntry],
    *,
    present: Iterable[str] = (),
    leavers: bool = True,
) -> RosterDiff:
    """Joiners, changes and leavers from ``previous`` to ``current`` (both by UPN).

    ``present`` are UPNs on roll but not sendable this run (a pupil whose
    other fields have problems): neither joiners nor leavers. ``leavers=False``
    (a partial file) reports none.
    """
    on_roll = set(current) | set(present)
    joiners = sorted(u for u in current if u not in previous)
    changes = sorted(
        u for u in current if u in previous and previous[u].digest != current[u].digest
    )
    unchanged = sorted(
        u for u in current if u in previous and previous[u].digest == current[u].digest
    )
    gone = sorted(u for u in previous if u not in on_roll) if leavers else []
    return RosterDiff(
        joiners=tuple(joiners),
        changes=tuple(changes),
        leavers=tuple(gone),
        unchanged=tuple(unchanged),
    )


def supplied_digest(child: SuppliedChild, codec: WireCodec = default_codec) -> str:
    """SHA-256 of the child's wire form without its ``ref``: equal exactly when
    the directory would be sent the same record."""
    data = codec.encode(attrs.evolve(child, ref="x"))
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@attrs.define
class Roster:
    """A supplier's rosters, one per school (LAESTAB), and its last sequence."""

    supplier_id: str
    schools: dict[str, dict[str, RosterEntry]] = attrs.Factory(dict)
    last_sequence: int = 0
    #: Per school (LAESTAB): the ``Header/DateTime`` of the newest file the
    #: directory accepted from (module notes, "Stale files").
    files: dict[str, datetime] = attrs.Factory(dict)
    #: When a run found the roster older than the directory (:class:`RosterStale`);
    #: ``None`` while it is not known to be stale.
    stale_since: datetime | None = None

    def check_not_stale(self) -> None:
        """Refuse to use a roster found stale (:class:`RosterStale`).

        :raises RosterStale: :attr:`stale_since` is set.
        """
        if self.stale_since is None:
            return
        raise RosterStale(
            "the roster is older than what the directory accepted from this supplier "
            f"(found on {self.stale_since.isoformat(timespec='seconds')}): leavers since then "
            "cannot be computed, so nothing is sent; recover with a full-roll reconciliation "
            "(--rebuild-roster, docs/ctf.md)"
        )

    def mark_stale(self, now: datetime) -> None:
        """Note that the roster was found older than the directory (module notes)."""
        if self.stale_since is None:
            self.stale_since = now

    def school(self, laestab: str) -> dict[str, RosterEntry]:
        """The school's roster (empty if it has never supplied)."""
        return self.schools.get(laestab, {})

    def last_file(self, laestab: str) -> datetime | None:
        """The ``DateTime`` of the newest file accepted for the school, if any."""
        return self.files.get(laestab)

    def check_not_older(self, laestab: str, created_at: datetime | None) -> None:
        """Refuse a file for the school older than the last one accepted (SUP-8).

        A file dated the same as the last is allowed (the same export, run
        again). With no file accepted yet, any file is allowed.

        :raises CtfStale: ``created_at`` is earlier than :meth:`last_file`, or
            is ``None`` (no ``Header/DateTime``) once a dated file was accepted.
        """
        last = self.last_file(laestab)
        if last is None:
            return
        shown = last.isoformat()
        if created_at is None:
            raise CtfStale(
                f"{CtfStale.path} is missing, so the file cannot be shown to be newer than the "
                f"last one accepted for school {laestab} ({shown}): refused whole, nothing is "
                "sent; export the roll again, or use --allow-older to send it deliberately"
            )
        if _comparable(created_at) < _comparable(last):
            raise CtfStale(
                f"{CtfStale.path} {created_at.isoformat()} is older than the last file accepted "
                f"for school {laestab} ({shown}): refused whole, nothing is sent; supply the "
                "newest export, or use --allow-older to send this one deliberately"
            )

    def record_file(self, laestab: str, created_at: datetime | None) -> None:
        """Note that the directory accepted from a file dated ``created_at``;
        the mark only moves forward (an older file sent with ``--allow-older``
        leaves it)."""
        if created_at is None:
            return
        last = self.last_file(laestab)
        if last is None or _comparable(created_at) > _comparable(last):
            self.files[laestab] = created_at

    def apply_accepted(
        self,
        laestab: str,
        *,
        supplied: Iterable[RosterEntry] = (),
        left: Iterable[str] = (),
    ) -> None:
        """Record what the directory accepted: ``supplied`` joiners and changes
        (added or replaced), ``left`` leavers (removed). Nothing else changes."""
        roster = self.schools.setdefault(laestab, {})
        accepted_upns: set[str] = set()
        for entry in supplied:
            roster[entry.upn] = entry
            accepted_upns.add(entry.upn)
        for upn in left:
            if upn not in accepted_upns:
                roster.pop(upn, None)
        if not roster:
            self.schools.pop(laestab, None)

    # --- plain form (inside the encryption only) ---------------------------------

    def to_json(self) -> bytes:
        """The roster as JSON bytes: what :class:`RosterFile` encrypts."""
        data = {
            "format": _FORMAT,
            "supplier_id": self.supplier_id,
            "last_sequence": self.last_sequence,
            "files": {school: moment.isoformat() for school, moment in sorted(self.files.items())},
            "stale_since": None if self.stale_since is None else self.stale_since.isoformat(),
            "schools": {
                school: {
                    upn: [e.date_of_birth.isoformat(), e.started_on.isoformat(), e.digest]
                    for upn, e in sorted(entries.items())
                }
                for school, entries in sorted(self.schools.items())
            },
        }
        return json.dumps(data, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> Roster:
        """The roster from :meth:`to_json`'s bytes.

        :raises RosterUnreadable: they are not a roster.
        """
        try:
            data: Any = json.loads(raw)
            if not isinstance(data, dict) or data.get("format") != _FORMAT:
                raise ValueError("format")
            schools: dict[str, dict[str, RosterEntry]] = {}
            for school, entries in data["schools"].items():
                schools[str(school)] = {
                    str(upn): RosterEntry(
                        upn=str(upn),
                        date_of_birth=date.fromisoformat(born),
                        started_on=date.fromisoformat(started),
                        digest=str(digest),
                    )
                    for upn, (born, started, digest) in entries.items()
                }
            files = {  # absent from rosters written before the stale check
                str(school): datetime.fromisoformat(str(moment))
                for school, moment in data.get("files", {}).items()
            }
            stale = data.get("stale_since")  # absent from rosters before the stale mark
            return cls(
                supplier_id=str(data["supplier_id"]),
                schools=schools,
                last_sequence=int(data["last_sequence"]),
                files=files,
                stale_since=None if stale is None else datetime.fromisoformat(str(stale)),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise RosterUnreadable("the roster's contents are not a roster") from None


def _comparable(moment: datetime) -> datetime:
    """``DateTime`` without a zone (as CTF writes it) compared as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class RosterFile:
    """The encrypted roster file of one supplier (module notes).

    :param path: where the roster lives (created on the first :meth:`save`).
    :param passphrase: the key ring's passphrase; the roster's key is derived
        from it (scrypt, the salt in the file).
    """

    def __init__(self, path: str | os.PathLike[str], passphrase: str) -> None:
        if not passphrase:
            raise ConfigurationError("an empty passphrase protects nothing")
        self.path = Path(path)
        self._passphrase = passphrase.encode("utf-8")
        self._salt: bytes | None = None
        self._cost: tuple[int, int, int] | None = None
        self._key: bytes | None = None

    def _derive(self, salt: bytes, cost: tuple[int, int, int]) -> bytes:
        if self._key is None or self._salt != salt or self._cost != cost:
            log2_n, r, p = cost
            kdf = Scrypt(salt=salt, length=32, n=2**log2_n, r=r, p=p)
            self._key = kdf.derive(self._passphrase)
            self._salt = salt
            self._cost = cost
        return self._key

    def exists(self) -> bool:
        """Whether the roster file exists yet."""
        return self.path.exists()

    def load(self, supplier_id: str, *, first_sequence_after: int = 0) -> Roster:
        """The roster in the file, or an empty one if there is no file yet,
        whose batch sequence numbers start above ``first_sequence_after``.

        :raises RosterUnreadable: not a roster file, changed, or the wrong
            passphrase; or a roster of another supplier.
        """
        try:
            blob = self.path.read_bytes()
        except FileNotFoundError:
            return Roster(supplier_id=supplier_id, last_sequence=first_sequence_after)
        except OSError as error:
            raise RosterUnreadable(
                f"the roster file could not be read ({type(error).__name__})"
            ) from None
        if blob.startswith(ROSTER_MAGIC):
            head = len(ROSTER_MAGIC) + 3
            if len(blob) < head:
                raise RosterUnreadable(f"{self.path} is not a roster file")
            cost: tuple[int, int, int] = struct.unpack(">BBB", blob[len(ROSTER_MAGIC) : head])
            log2_n, r, p = cost
            if log2_n not in _LOG2_N_RANGE or r not in _R_RANGE or p not in _P_RANGE:
                raise RosterUnreadable(f"{self.path} names a key derivation cost out of range")
        elif blob.startswith(ROSTER_MAGIC_V1):
            head = len(ROSTER_MAGIC_V1)
            cost = _V1_COST
        else:
            raise RosterUnreadable(f"{self.path} is not a roster file")
        if len(blob) < head + _SALT_BYTES + _NONCE_BYTES + 16:
            raise RosterUnreadable(f"{self.path} is not a roster file")
        salt = blob[head : head + _SALT_BYTES]
        associated = blob[: head + _SALT_BYTES]
        nonce = blob[head + _SALT_BYTES : head + _SALT_BYTES + _NONCE_BYTES]
        sealed = blob[head + _SALT_BYTES + _NONCE_BYTES :]
        try:
            raw = AESGCM(self._derive(salt, cost)).decrypt(nonce, sealed, associated)
        except InvalidTag:
            raise RosterUnreadable(
                f"{self.path} does not open with this passphrase, or was changed"
            ) from None
        roster = Roster.from_json(raw)
        if roster.supplier_id != supplier_id:
            raise RosterUnreadable(
                f"{self.path} is the roster of another supplier: give this supplier its own"
            )
        return roster

    def save(self, roster: Roster) -> None:
        """Encrypt and write ``roster`` whole or not at all, as format 2
        (module notes): a format 1 roster is rewritten with a new salt at the
        format 2 cost."""
        cost = (_SCRYPT_LOG2_N, _SCRYPT_R, _SCRYPT_P)
        salt = self._salt if self._salt is not None and self._cost == cost else None
        salt = salt or secrets.token_bytes(_SALT_BYTES)
        key = self._derive(salt, cost)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        associated = ROSTER_MAGIC + struct.pack(">BBB", *cost) + salt
        sealed = AESGCM(key).encrypt(nonce, roster.to_json(), associated)
        directory = self.path.resolve().parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(associated + nonce + sealed)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, 0o600)
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable: fsync the directory itself, so a
    power cut after :meth:`RosterFile.save` returns cannot bring back the old
    roster (whose sequence numbers the directory may have seen since)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(directory, flags)
    except OSError:  # a platform where directories cannot be opened (Windows)
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class RosterSequence:
    """Batch sequence numbers kept in the roster file (SUP-5).

    Each number is written to the file *before* it is used, so a run killed
    after sending a batch never hands out that number again, and the directory
    never sees a sequence number go backwards from this supplier.
    """

    def __init__(self, file: RosterFile, roster: Roster) -> None:
        self._file = file
        self._roster = roster

    def next_sequence(self) -> int:
        """The next batch sequence number, saved to the file before it is returned."""
        self._roster.last_sequence += 1
        self._file.save(self._roster)
        return self._roster.last_sequence
