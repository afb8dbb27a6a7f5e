"""Where the probabilistic matcher finds its candidates.

A :class:`CandidateSource` answers one question: which records share a
blocking key (:mod:`.linkage_blocking`) with this supply, as comparison
profiles (:mod:`.linkage_profile`). Two sources:

- :class:`MemoryLinkageIndex`: a dictionary, filled by the caller (tests,
  benchmarks, a directory that is not SQLite);
- :class:`SqliteLinkageIndex`: two tables on the directory's own SQLite
  connection, kept up to date by the database itself.

The SQLite index
----------------
:meth:`SqliteLinkageIndex.attach` adds to the store's database:

- ``linkage_profiles (directory_id PRIMARY KEY, profile)``: each **live**
  record's profile as compact JSON (archived records are not candidates:
  the identifier index still finds them, and the core refuses a supply for
  one);
- ``linkage_keys (key, directory_id)``: its blocking keys (``WITHOUT
  ROWID``, primary key ``(key, directory_id)``, and an index on
  ``directory_id``);
- ``linkage_meta``: the profile version the tables were built with;

and, on this connection only, three ``TEMP`` triggers on ``children``
(after insert, update, delete) that call three Python functions registered
on the connection to recompute a record's profile and keys from the row's
``record`` JSON, ``state``, ``shielded`` and ``shield_ground`` columns. The
profile function is given the stored profile too: when a save leaves it as
it was (a new involvement, a lifecycle date), no key is rewritten. Measured
cost per record written: about 50 µs when the profile is unchanged (25 µs of
Python, half of it reading the record JSON, and 25 µs of SQL), 100–150 µs
for a new record (its eleven or so keys).
Every write of a record, whichever code makes it (supply, management,
lifecycle jobs, seeding, destruction, reset), therefore updates the index in
the same transaction and savepoint, and rolls back with it. The triggers
are ``TEMP`` so the database file never holds a trigger that needs a Python
function: a process that opens the file without attaching writes records
as before, and the next :meth:`~SqliteLinkageIndex.attach` notices (the live
record count, or the profile version, disagrees) and rebuilds the tables.

A record whose profile cannot be built (a stored record the reader does not
understand) is left out of the index, counted in
:attr:`SqliteLinkageIndex.failures`, and never fails the write: the strong
matcher and its shield guard still see it.

A supply batch (issue 10) does without the triggers: its writes are held
by a :class:`~.store.StagedStore`, which makes each written record's
profile and keys once (:meth:`SqliteLinkageIndex.staged_entry`; for a new
record, the matcher's profile of the supplied child, which is the record's:
:meth:`~SqliteLinkageIndex.entry_of`) and, while the batch runs, shows them
to :meth:`~SqliteLinkageIndex.candidates` (:attr:`~SqliteLinkageIndex.overlay`);
it writes the records with the triggers paused and the index's rows itself
(:meth:`~SqliteLinkageIndex.write_staged`), leaving the tables exactly as
the triggers would have. :meth:`~SqliteLinkageIndex.attach` tells the store
(``SqliteStore.linkage``) which index to keep so.

A candidate look-up is one indexed query: the keys' postings (``IN`` over
the primary key), joined to the profiles, then one ``json.loads`` per
candidate.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Protocol, runtime_checkable

from contactpoint_sdk.models.codec import json_text_value
from contactpoint_sdk.models.record import ChildRecord
from contactpoint_sdk.reference_server.linkage_blocking import BlockIndex, record_keys
from contactpoint_sdk.reference_server.linkage_profile import (
    PROFILE_VERSION,
    ChildProfile,
    dumps_profile,
    loads_profile,
    profile_from_record,
    profile_from_record_json,
)

if TYPE_CHECKING:
    from contactpoint_sdk.reference_server.store import SqliteStore

__all__ = [
    "CandidateSource",
    "LinkageOverlay",
    "MemoryLinkageIndex",
    "SqliteLinkageIndex",
    "StagedProfile",
]

#: The most candidates one look-up returns (a guard; real blocks are far smaller).
MAX_CANDIDATES: Final = 500


@runtime_checkable
class CandidateSource(Protocol):
    """Records sharing a blocking key with a supply, as profiles."""

    def candidates(self, keys: Sequence[str]) -> list[ChildProfile]:
        """Live records indexed under any of ``keys`` (each once)."""
        ...


class StagedProfile(NamedTuple):
    """A record's index entry as written in a batch not yet stored: its
    profile's stored text (:func:`~.linkage_profile.dumps_profile`) and its
    blocking keys (:func:`~.linkage_blocking.record_keys`)."""

    text: str
    keys: tuple[str, ...]


class LinkageOverlay(Protocol):
    """A batch's records written but not yet stored (a
    :class:`~.store.StagedStore`), as the index sees them."""

    @property
    def profiles(self) -> Mapping[str, StagedProfile | None]:
        """Each record written: its profile, or ``None`` (not indexed)."""
        ...

    @property
    def by_key(self) -> Mapping[str, str | list[str]]:
        """Blocking key -> the record (or list of records) written that are,
        or were, indexed under it (a superset: each is checked against its
        profile's keys)."""
        ...


class MemoryLinkageIndex:
    """A candidate source in memory: :meth:`put` profiles, :meth:`remove` them."""

    def __init__(self) -> None:
        self._profiles: dict[str, ChildProfile] = {}
        self._keys: dict[str, list[str]] = {}
        self._index: BlockIndex[str] = BlockIndex()

    def put(self, profile: ChildProfile) -> None:
        """Index ``profile`` (replacing the record's previous one)."""
        directory_id = profile.directory_id
        if not directory_id:
            raise ValueError("an indexed profile needs a directory identifier")
        self.remove(directory_id)
        keys = record_keys(profile)
        self._profiles[directory_id] = profile
        self._keys[directory_id] = keys
        self._index.add(directory_id, keys)

    def put_record(self, record: ChildRecord) -> None:
        """Index a record."""
        self.put(profile_from_record(record))

    def remove(self, directory_id: str) -> None:
        keys = self._keys.pop(directory_id, None)
        if keys is not None:
            self._index.remove(directory_id, keys)
            del self._profiles[directory_id]

    def candidates(self, keys: Sequence[str]) -> list[ChildProfile]:
        found = self._index.candidates(keys)[:MAX_CANDIDATES]
        return [self._profiles[d] for d in found]

    def __len__(self) -> int:
        return len(self._profiles)

    def __iter__(self) -> Iterator[ChildProfile]:
        return iter(list(self._profiles.values()))


_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS linkage_profiles ("
    " directory_id TEXT PRIMARY KEY, profile TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS linkage_keys ("
    " key TEXT NOT NULL, directory_id TEXT NOT NULL,"
    " PRIMARY KEY (key, directory_id)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS linkage_keys_child ON linkage_keys (directory_id)",
    "CREATE TABLE IF NOT EXISTS linkage_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)

# After a record row is written: recompute its profile (the function is
# given the stored one, so an unchanged profile rewrites no keys), drop it if
# the record is not live or could not be read, and rewrite the keys only when
# the profile changed. Each function runs once per row.
_REFRESH: Final = """
    INSERT OR REPLACE INTO linkage_profiles (directory_id, profile)
        SELECT NEW.directory_id, cp_linkage_profile(
            NEW.directory_id, NEW.record, NEW.shielded, NEW.shield_ground,
            (SELECT profile FROM linkage_profiles WHERE directory_id = NEW.directory_id)
        ) WHERE NEW.state = 'live';
    DELETE FROM linkage_profiles
        WHERE directory_id = NEW.directory_id AND (NEW.state != 'live' OR profile = '');
    DELETE FROM linkage_keys WHERE directory_id =
        (SELECT NEW.directory_id WHERE cp_linkage_rekey(NEW.directory_id, NEW.state));
    INSERT OR IGNORE INTO linkage_keys (key, directory_id)
        SELECT j.value, NEW.directory_id
        FROM json_each(cp_linkage_keys(NEW.directory_id, NEW.state)) AS j;
"""

_FORGET_OLD: Final = """
    DELETE FROM linkage_keys
        WHERE directory_id = OLD.directory_id AND OLD.directory_id != NEW.directory_id;
    DELETE FROM linkage_profiles
        WHERE directory_id = OLD.directory_id AND OLD.directory_id != NEW.directory_id;
"""

# Fixed texts only: no value is ever put into these statements.
_TRIGGERS: Final = (
    f"CREATE TEMP TRIGGER IF NOT EXISTS cp_linkage_insert AFTER INSERT ON children "
    f"BEGIN {_REFRESH} END",
    f"CREATE TEMP TRIGGER IF NOT EXISTS cp_linkage_update AFTER UPDATE ON children "
    f"BEGIN {_FORGET_OLD} {_REFRESH} END",
    "CREATE TEMP TRIGGER IF NOT EXISTS cp_linkage_delete AFTER DELETE ON children BEGIN"
    " DELETE FROM linkage_keys WHERE directory_id = OLD.directory_id;"
    " DELETE FROM linkage_profiles WHERE directory_id = OLD.directory_id;"
    " END",
)
_TRIGGER_NAMES: Final = ("cp_linkage_insert", "cp_linkage_update", "cp_linkage_delete")

_LIVE = "live"
_REBUILD_CHUNK = 2000
#: How many decoded candidate profiles a look-up keeps for the next (a few MB).
_DECODED_CACHE = 8192
_UNCHANGED = "="


class SqliteLinkageIndex:
    """The linkage index inside a :class:`~contactpoint_sdk.reference_server.store.SqliteStore`
    (module notes). Make it with :meth:`attach`."""

    def __init__(
        self,
        db: sqlite3.Connection,
        lock: threading.RLock,
        transaction: Any,
    ) -> None:
        self._db = db
        self._lock = lock
        self._transaction = transaction
        self._store: SqliteStore | None = None
        #: A batch being applied (:class:`~.store.StagedStore`): its records
        #: as the store will hold them once written; read by :meth:`candidates`.
        self.overlay: LinkageOverlay | None = None
        self._pending: dict[str, str] = {}
        self._decoded: dict[str, tuple[str, ChildProfile]] = {}
        #: The record last offered (:meth:`offer`): directory ID, text, data.
        self._offered: tuple[str, str, Any] | None = None
        #: Records whose profile could not be built (left out of the index).
        self.failures = 0

    # --- attaching -------------------------------------------------------------

    @classmethod
    def attach(cls, store: SqliteStore, *, rebuild: bool | None = None) -> SqliteLinkageIndex:
        """Add the index to ``store``'s database and keep it up to date there.

        Creates the tables if missing, registers the functions and the
        ``TEMP`` triggers on the store's connection, and rebuilds the tables
        from ``children`` when ``rebuild`` is true, or (``None``) when they
        disagree with it (another profile version, or another number of live
        records). Call once per store, before any supply.
        """
        index = cls(store.connection, store.lock, store.transaction)
        index._install()
        if rebuild or (rebuild is None and index._stale()):
            index.rebuild()
        index._store = store
        store.linkage = index  # a staged batch keeps the index itself (write_staged)
        return index

    def _install(self) -> None:
        with self._lock:
            db = self._db
            db.create_function("cp_linkage_profile", 5, self._profile_function)
            db.create_function("cp_linkage_rekey", 2, self._rekey_function)
            db.create_function("cp_linkage_keys", 2, self._keys_function)
            with self._tx():
                for statement in _SCHEMA:
                    db.execute(statement)
                for statement in _TRIGGERS:
                    db.execute(statement)

    def detach(self) -> None:
        """Drop this connection's triggers (the tables stay, and go stale)."""
        with self._lock:
            for name in _TRIGGER_NAMES:
                self._db.execute(f"DROP TRIGGER IF EXISTS temp.{name}")
            if self._store is not None and self._store.linkage is self:
                self._store.linkage = None

    def _tx(self) -> AbstractContextManager[None]:
        context: AbstractContextManager[None] = self._transaction()
        return context

    def _stale(self) -> bool:
        with self._lock:
            version = self._db.execute(
                "SELECT value FROM linkage_meta WHERE key = 'profile_version'"
            ).fetchone()
            live = self._db.execute(
                "SELECT COUNT(*) FROM children WHERE state = ?", (_LIVE,)
            ).fetchone()[0]
            indexed = self._db.execute("SELECT COUNT(*) FROM linkage_profiles").fetchone()[0]
        return version is None or version[0] != PROFILE_VERSION or live != indexed + self.failures

    def rebuild(self) -> int:
        """Recompute every live record's profile and keys; returns how many
        records are indexed."""
        count = 0
        self.failures = 0
        with self._tx(), self._lock:
            db = self._db
            db.execute("DELETE FROM linkage_keys")
            db.execute("DELETE FROM linkage_profiles")
            cursor = db.execute(
                "SELECT directory_id, record, shielded, shield_ground FROM children "
                "WHERE state = ?",
                (_LIVE,),
            )
            while True:
                rows = cursor.fetchmany(_REBUILD_CHUNK)
                if not rows:
                    break
                profiles: list[tuple[str, str]] = []
                keys: list[tuple[str, str]] = []
                for directory_id, record, shielded, ground in rows:
                    profile = self._build(directory_id, record, shielded, ground)
                    if profile is None:
                        continue
                    profiles.append((directory_id, dumps_profile(profile)))
                    keys.extend((k, directory_id) for k in record_keys(profile))
                db.executemany(
                    "INSERT INTO linkage_profiles (directory_id, profile) VALUES (?, ?)", profiles
                )
                db.executemany(
                    "INSERT OR IGNORE INTO linkage_keys (key, directory_id) VALUES (?, ?)", keys
                )
                count += len(profiles)
            db.execute(
                "INSERT OR REPLACE INTO linkage_meta (key, value) VALUES ('profile_version', ?)",
                (PROFILE_VERSION,),
            )
        return count

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Inside the caller's store transaction: this connection's triggers
        are off, and the caller indexes what it writes itself
        (:meth:`index_records`): a bulk load (seeding) that already holds
        its records as models. The triggers are back on afterwards, and a
        rolled-back transaction rolls both back with everything else."""
        with self._lock:
            for name in _TRIGGER_NAMES:
                self._db.execute(f"DROP TRIGGER IF EXISTS temp.{name}")
            try:
                yield
            finally:
                for statement in _TRIGGERS:
                    self._db.execute(statement)

    def index_records(self, records: Iterable[ChildRecord]) -> int:
        """Index new live records directly, as the triggers would have from
        their rows (:meth:`paused`); returns how many. Their profiles are the
        ones :meth:`rebuild` would compute (``profile_from_record``; the
        shield as stored: in place, with its ground)."""
        profiles: list[tuple[str, str]] = []
        keys: list[tuple[str, str]] = []
        for record in records:
            profile = profile_from_record(record)
            directory_id = profile.directory_id
            profiles.append((directory_id, dumps_profile(profile)))
            keys.extend((k, directory_id) for k in record_keys(profile))
        with self._tx(), self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO linkage_profiles (directory_id, profile) VALUES (?, ?)",
                profiles,
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO linkage_keys (key, directory_id) VALUES (?, ?)", keys
            )
        return len(profiles)

    def index_profiles(self, profiles: Iterable[ChildProfile]) -> int:
        """Index profiles directly, with no record behind them (to measure the
        look-up at a chosen density: ``bench/bench_matching.py``). They stay
        until the next :meth:`rebuild`. Returns how many."""
        count = 0
        with self._tx(), self._lock:
            for profile in profiles:
                key = profile.directory_id
                self._db.execute(
                    "INSERT OR REPLACE INTO linkage_profiles (directory_id, profile) VALUES (?, ?)",
                    (key, dumps_profile(profile)),
                )
                self._db.executemany(
                    "INSERT OR IGNORE INTO linkage_keys (key, directory_id) VALUES (?, ?)",
                    [(k, key) for k in record_keys(profile)],
                )
                count += 1
        return count

    # --- a staged batch (issue 10) ----------------------------------------------------

    def staged_entry(
        self, directory_id: str, record: str, shielded: object, ground: object
    ) -> StagedProfile | None:
        """The profile and keys the triggers would write for a live record row
        (``None``: its profile cannot be made, and it is left out, counted in
        :attr:`failures`). The record's JSON data is taken from :meth:`offer`
        when it is the same text."""
        profile = self._build(directory_id, record, shielded, ground)
        if profile is None:
            return None
        return self.entry_of(directory_id, profile)

    def entry_of(self, directory_id: str, profile: ChildProfile) -> StagedProfile:
        """The index entry of the record ``directory_id`` whose profile is
        known but for its identifier (``profile``'s is not read: neither the
        stored text nor the keys hold it). The record's offered data, if
        any, is dropped: it is not needed."""
        offered = self._offered
        if offered is not None and offered[0] == directory_id:
            self._offered = None
        return StagedProfile(dumps_profile(profile), tuple(record_keys(profile)))

    def write_staged(
        self, staged: Mapping[str, StagedProfile | None], new: Collection[str]
    ) -> None:
        """Store the index entries of a batch's records (with the triggers
        paused, inside the batch's transaction): the tables end as the
        triggers would have left them after each write. ``new`` records had
        no row before the batch."""
        with self._lock:
            db = self._db
            old = [d for d in staged if d not in new]
            stored: dict[str, str] = {}
            for start in range(0, len(old), 500):
                chunk = old[start : start + 500]
                stored.update(
                    db.execute(
                        "SELECT directory_id, profile FROM linkage_profiles "  # noqa: S608
                        f"WHERE directory_id IN ({', '.join('?' * len(chunk))})",
                        chunk,
                    ).fetchall()
                )
            put: list[tuple[str, str]] = []
            dropped: list[tuple[str]] = []
            rekeyed: list[tuple[str]] = []
            keys: list[tuple[str, str]] = []
            for directory_id, entry in staged.items():
                if entry is None:
                    if directory_id not in new:
                        dropped.append((directory_id,))
                    continue
                if stored.get(directory_id) == entry.text:
                    continue  # unchanged: no key is rewritten
                put.append((directory_id, entry.text))
                if directory_id not in new:
                    rekeyed.append((directory_id,))
                keys.extend((k, directory_id) for k in entry.keys)
            db.executemany("DELETE FROM linkage_profiles WHERE directory_id = ?", dropped)
            db.executemany("DELETE FROM linkage_keys WHERE directory_id = ?", dropped + rekeyed)
            db.executemany(
                "INSERT OR REPLACE INTO linkage_profiles (directory_id, profile) VALUES (?, ?)",
                put,
            )
            db.executemany(
                "INSERT OR IGNORE INTO linkage_keys (key, directory_id) VALUES (?, ?)", keys
            )

    # --- the trigger functions ------------------------------------------------------

    def offer(self, directory_id: str, text: str, data: Any) -> None:
        """The record about to be written: its JSON ``text`` and the JSON
        ``data`` it was made from. When the trigger is then given the very
        same text for the same record, the profile is built from ``data``
        instead of parsing the text again (the same value: ``text`` is
        ``json_text(data)``). One record is kept; any other text is parsed."""
        self._offered = (directory_id, text, data)

    def _build(
        self, directory_id: str, record: str, shielded: object, ground: object
    ) -> ChildProfile | None:
        try:
            offered = self._offered
            if offered is not None and offered[0] == directory_id and offered[1] == record:
                data = offered[2]
                self._offered = None
            else:
                data = json_text_value(record)
            return profile_from_record_json(
                {**data, "directory_id": directory_id},
                shielded=bool(shielded),
                shield_ground=ground if isinstance(ground, str) else None,
            )
        except Exception:
            self.failures += 1
            return None

    def _profile_function(
        self, directory_id: str, record: str, shielded: object, ground: object, stored: object
    ) -> str:
        # Called for live rows only. A record it cannot read gives "", which
        # the trigger deletes at once (NULL would fail the record's write:
        # the outer INSERT OR REPLACE's conflict rule overrides the trigger's).
        profile = self._build(directory_id, record, shielded, ground)
        if profile is None:
            self._pending[directory_id] = "[]"
            return ""
        text = dumps_profile(profile)
        if text == stored:
            self._pending[directory_id] = _UNCHANGED
        else:
            self._pending[directory_id] = json.dumps(record_keys(profile))
        return text

    def _rekey_function(self, directory_id: str, state: str) -> int:
        # Whether the record's keys must be rewritten: not if it is live and
        # its profile did not change.
        if state != _LIVE:
            self._pending.pop(directory_id, None)
            return 1
        return 0 if self._pending.get(directory_id) == _UNCHANGED else 1

    def _keys_function(self, directory_id: str, state: str) -> str:
        # The keys the profile function just computed for this record, if
        # they are to be written.
        keys = self._pending.pop(directory_id, "[]")
        return "[]" if state != _LIVE or keys == _UNCHANGED else keys

    # --- look-ups ---------------------------------------------------------------------

    def candidates(self, keys: Sequence[str]) -> list[ChildProfile]:
        if not keys:
            return []
        marks = ",".join("?" * len(keys))
        sql = (
            "SELECT directory_id, profile FROM linkage_profiles WHERE directory_id IN "  # noqa: S608 - placeholders only
            f"(SELECT directory_id FROM linkage_keys WHERE key IN ({marks})) LIMIT ?"
        )
        with self._lock:
            overlay = self.overlay
            # With a batch being applied, as many more as it has written, so
            # that those it replaces leave the store's first MAX_CANDIDATES.
            limit = MAX_CANDIDATES if overlay is None else MAX_CANDIDATES + len(overlay.profiles)
            cursor = self._db.cursor()
            cursor.row_factory = None  # plain tuples: faster than the store's rows
            rows = cursor.execute(sql, (*keys, limit)).fetchall()
            if overlay is None:
                return [self._parsed(directory_id, text) for directory_id, text in rows]
            # A batch being applied: its records as they will be stored.
            staged = overlay.profiles
            by_key = overlay.by_key
            found = {d: text for d, text in rows if d not in staged}
            for key in keys:
                under = by_key.get(key)
                if under is None:
                    continue
                for directory_id in (under,) if isinstance(under, str) else under:
                    entry = staged.get(directory_id)
                    if entry is not None and key in entry.keys:
                        found[directory_id] = entry.text
        chosen = list(found)
        if len(chosen) > MAX_CANDIDATES:
            # The store's look-up walks the profiles in identifier order.
            chosen = sorted(chosen)[:MAX_CANDIDATES]
        return [self._parsed(d, found[d]) for d in chosen]

    def _parsed(self, directory_id: str, text: str) -> ChildProfile:
        # Decoded profiles, by record, reused while the stored text is the
        # same: the records of a busy block are candidates of supply after
        # supply. Keyed on the text itself, so a write (or a rollback) that
        # changes it is never served stale.
        cached = self._decoded.get(directory_id)
        if cached is not None and cached[0] == text:
            return cached[1]
        profile = loads_profile(directory_id, text)
        if len(self._decoded) >= _DECODED_CACHE:
            self._decoded.clear()
        self._decoded[directory_id] = (text, profile)
        return profile

    def counts(self) -> dict[str, int]:
        """``profiles`` and ``keys`` held."""
        with self._lock:
            profiles = self._db.execute("SELECT COUNT(*) FROM linkage_profiles").fetchone()[0]
            keys = self._db.execute("SELECT COUNT(*) FROM linkage_keys").fetchone()[0]
        return {"profiles": int(profiles), "keys": int(keys)}
