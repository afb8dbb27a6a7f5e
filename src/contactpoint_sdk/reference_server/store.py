"""The directory's storage: one :class:`Store` interface, SQLite by default.

:class:`Store` is the only way the directory core reaches its data, so a
server database can sit behind the same interface later. It deals in rows of
JSON text and indexed columns; the core turns them into models with the wire
codec. :class:`SqliteStore` is the embedded default: the standard library's
``sqlite3``, one connection guarded by a re-entrant lock (usable from any
thread), the schema created on open.

Durability and atomicity
------------------------
- A file database runs in WAL mode with ``synchronous=NORMAL``: a commit is
  atomic, and a process killed at any moment (SIGKILL included) reopens with
  every committed transaction and nothing of an uncommitted one. (After a
  power cut, the last commits may be lost, never half-applied.)
- :meth:`Store.transaction` wraps a unit of work (``BEGIN IMMEDIATE`` ...
  ``COMMIT``, or ``ROLLBACK`` on an exception). It nests: an inner
  ``transaction()`` joins the outer one. :meth:`Store.savepoint` marks a
  sub-unit that can fail alone (one supply operation inside a batch).
- The WAL is checkpointed (copied into the database file) on a thread of
  the store's own, with a connection of its own, after about every 32,000
  rows written (some 32 MB of WAL: a few supply batches), rather than by the
  commit that fills it: a checkpoint and its fsync no longer hold up the
  writer (issue 10), and the thread runs while the writer works. Its
  checkpoints are ``PASSIVE`` (they copy what no reader still needs and never
  wait); durability is the same. :meth:`Store.purge` waits for one under way.
  Past ``_WAL_RESTART_FRAMES`` frames (a writer that never pauses, which a
  ``PASSIVE`` checkpoint never catches up with) the writer restarts the WAL
  itself between transactions (``RESTART``), so the WAL stays bounded.

Destruction that really destroys (RET-5)
----------------------------------------
``PRAGMA secure_delete=ON`` makes SQLite overwrite deleted content with
zeros, in tables, indexes and freed pages. :meth:`Store.purge` then
checkpoints the WAL into the database file and truncates the WAL
(``wal_checkpoint(TRUNCATE)``), so no old page image survives in either file.
The directory calls it after every destruction. ``ANALYZE`` is never run, so
no index sample (``sqlite_stat4``) keeps key values.

Tables
------
``meta`` (key/value), ``suppliers`` and ``supplier_keys`` (the registry),
``batches`` (each batch's first receipt), ``children`` (one row per record:
the composed record as codec JSON, the directory-held state as codec JSON,
and indexed columns: state, local authority, date of birth, folded names,
shield, lifecycle dates, REC-7 dates), ``contributions`` (each supplier's
latest supplied child), ``involvements`` (each supplier's involvements,
under the supplier's own reference and the directory's namespaced one),
``archived_contacts`` (RET-7), ``identifiers`` (the identifier index: kind,
value -> directory ID, by supplier; former UPNs included), four management
queues (``data_quality``, ``source_queries``, ``broker_requests``,
``trawling_alerts``), ``held_operations`` (supply held for the
data-quality queue) and ``adoption_barriers`` (below).

The adoption link barrier (SHLD-5)
----------------------------------
Pre- and post-adoption records of a child are never linked, and a shield
can be lifted on review. So a record that has *ever* carried a shield on an
adoption ground (``adoption_identity_link``, ``risk_to_adoption_placement``)
keeps a row in ``adoption_barriers`` (directory ID, ground) for good: set by
:meth:`Store.put_child` whenever it writes a row whose shield in place has
such a ground (a shield requested through the API, or supplied), never
cleared when the shield is lifted or reviewed, and deleted only with the
record (:meth:`Store.destroy`, RET-5). While a record has a barrier, its
``children.shield_ground`` column holds the barrier's ground whatever the
shield's state, so everything that reads the column (the matcher's
candidate summaries, the linkage index's profiles) treats it as
adoption-shielded: never a candidate, never merged, never suggested.

Search (ACC-4)
--------------
:meth:`Store.search_children` finds live records for a look-up search by
indexed columns only: the identifier index, the folded names, the date of
birth, and the ``postcode`` and ``gender`` columns (added to a database made
before them, and filled from the stored records, when it is opened). Each
accepted kind of search has an index that answers it without a scan:
``children_dob`` (date of birth, family, given name), ``children_names``
(family, given name, date of birth: a year of birth) and
``children_postcode`` (postcode, family, given name).

The users and sessions of look-up (:mod:`.users`) keep their own tables in
the same database, through :attr:`SqliteStore.connection` and
:attr:`SqliteStore.lock`.

Reads while a batch is written (issue 10)
-----------------------------------------
A file store reads through connections of its own (read-only, pooled) when
the calling thread does not hold the store's lock: a look-up's search and
open need not wait for a supply batch's transaction (WAL lets readers run
during a write), and see exactly what is committed, as they would have
after waiting. A thread that holds the lock (inside a transaction or a
savepoint, or holding :attr:`SqliteStore.lock`) reads through the writer's
connection, so it sees its own uncommitted rows. Writes always take the
lock and the one writer connection.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, runtime_checkable

import attrs

from contactpoint_sdk.errors import ConfigurationError
from contactpoint_sdk.models.enums import ShieldGround
from contactpoint_sdk.models.identifiers import DirectoryId
from contactpoint_sdk.reference_server.matching import CandidateIndex, CandidateSummary

if TYPE_CHECKING:
    from contactpoint_sdk.reference_server.linkage_index import SqliteLinkageIndex, StagedProfile
    from contactpoint_sdk.reference_server.linkage_profile import ChildProfile

__all__ = [
    "ArchivedContactRow",
    "ChildQuery",
    "ChildRow",
    "ContributionRow",
    "HeldOperationRow",
    "InvolvementRow",
    "QueueName",
    "QueueRow",
    "RecordStore",
    "SqliteStore",
    "StagedStore",
    "Store",
    "SupplierRow",
]

#: The management queues a store keeps.
QueueName = Literal["data_quality", "source_queries", "broker_requests", "trawling_alerts"]
_QUEUES: frozenset[str] = frozenset(
    {"data_quality", "source_queries", "broker_requests", "trawling_alerts"}
)

LIVE = "live"
ARCHIVED = "archived"

#: Rows changed between checkpoints of a file store's WAL (on a thread of
#: its own: module notes), about 32 MB of WAL at a supply's rate of pages a row.
_CHECKPOINT_CHANGES = 32_000

#: WAL frames past which the writer itself restarts the WAL
#: (``wal_checkpoint(RESTART)`` between its transactions): a ``PASSIVE``
#: checkpoint beside a writer that never stops never catches up with it, and
#: the WAL would grow without bound (it reached 54 GB in a 1,000,000-record
#: supply). 65,536 frames: 256 MB of 4 KB pages.
_WAL_RESTART_FRAMES = 65_536

#: How many idle read connections a file store keeps for the next reads.
_IDLE_READERS = 8


@attrs.frozen(kw_only=True)
class SupplierRow:
    """An accredited supplier as stored. ``agreements`` is JSON text;
    ``keys`` pairs each registered ``kid`` with its public JWK (JSON text)."""

    supplier_id: str
    name: str
    namespace: str
    local_authority: str | None
    accredited: bool
    agreements: str
    keys: tuple[tuple[str, str], ...]
    last_sequence: int
    registered_at: str


@attrs.frozen(kw_only=True)
class ChildRow:
    """One record. ``record`` and ``directory_state`` are codec JSON text; the
    other columns are indexed copies (dates as ISO text)."""

    directory_id: str
    state: str  # "live", "archived", or "merged" (absorbed by another record)
    local_authority: str | None
    date_of_birth: str
    given_key: str
    family_key: str
    shielded: bool
    shield_ground: str | None
    archive_due_on: str | None
    contact_due_on: str | None
    gp_until: str | None
    education_until: str | None
    archived_on: str | None
    destroy_due_on: str | None
    record: str
    directory_state: str
    updated_at: str
    postcode: str | None = None
    gender: str | None = None


@attrs.frozen(kw_only=True)
class ContributionRow:
    """A supplier's latest supplied child (codec JSON of a ``SuppliedChild``
    with no involvements). ``version`` rises with every contribution to the
    record, so the newest is the greatest."""

    directory_id: str
    supplier_id: str
    version: int
    received_at: str
    local_authority: str | None
    child: str


@attrs.frozen(kw_only=True)
class InvolvementRow:
    """A supplier's involvement: its own ``reference``, the directory's
    namespaced ``directory_reference``, and the involvement as codec JSON
    (carrying the supplier's own reference)."""

    directory_id: str
    supplier_id: str
    reference: str
    directory_reference: str
    involvement: str


@attrs.frozen(kw_only=True)
class ArchivedContactRow:
    """An involvement whose contact details were archived (RET-7)."""

    directory_id: str
    supplier_id: str
    reference: str
    involvement: str
    archived_on: str
    destroy_due_on: str


@attrs.frozen(kw_only=True)
class QueueRow:
    """One item of a management queue; ``body`` is the item as JSON text.
    ``detail`` is the directory's own note on it, never shown outside the
    management team (for a broker request: the service's directory reference)."""

    item_id: str
    local_authority: str | None
    directory_id: str | None
    supplier_id: str | None
    status: str
    raised_at: str
    body: str
    detail: str | None = None


@attrs.frozen(kw_only=True)
class HeldOperationRow:
    """A supply operation held for the data-quality queue (SHLD-7, SUP-7)."""

    item_id: str
    supplier_id: str
    agreement_id: str
    operation: str


@attrs.frozen(kw_only=True)
class ChildQuery:
    """A look-up search in indexed terms (ACC-4): every condition given must
    hold. Names are folded keys (``matching.name_key``); dates ISO text;
    ``born_from`` and ``born_to`` bound the date of birth inclusively (a year
    of birth); ``postcode`` is canonical (``"BS1 4DJ"``); ``gender`` its wire
    code; ``directory_ids`` the only records that may match (from the
    identifier index), ``None`` for any."""

    directory_ids: tuple[str, ...] | None = None
    family_key: str | None = None
    given_key: str | None = None
    date_of_birth: str | None = None
    born_from: str | None = None
    born_to: str | None = None
    postcode: str | None = None
    gender: str | None = None


@runtime_checkable
class Store(CandidateIndex, Protocol):
    """Everything the directory core stores, behind one interface."""

    # --- units of work ---------------------------------------------------
    def transaction(self) -> AbstractContextManager[None]:
        """A unit of work: all of it or none of it. Nests (joins the outer)."""
        ...

    def savepoint(self) -> AbstractContextManager[None]:
        """Inside a transaction: a part that rolls back alone on an exception."""
        ...

    def close(self) -> None: ...

    # --- meta ------------------------------------------------------------
    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    # --- supplier registry (SUP-3, SUP-4) ---------------------------------
    def put_supplier(self, row: SupplierRow) -> None:
        """Insert or replace a supplier and its keys."""
        ...

    def get_supplier(self, supplier_id: str) -> SupplierRow | None: ...

    def supplier_of_key(self, kid: str) -> tuple[str, str] | None:
        """``(supplier_id, public JWK JSON)`` for a registered signing key."""
        ...

    def set_last_sequence(self, supplier_id: str, sequence: int) -> None: ...

    # --- receipts (SUP-5) --------------------------------------------------
    def get_receipt(self, supplier_id: str, batch_id: str) -> str | None: ...

    def put_receipt(
        self, supplier_id: str, batch_id: str, sequence: int, received_at: str, receipt: str
    ) -> None: ...

    # --- records ---------------------------------------------------------
    def get_child(self, directory_id: str) -> ChildRow | None: ...

    def child_exists(self, directory_id: str) -> bool: ...

    def put_child(self, row: ChildRow) -> None:
        """Insert or replace a record row. A row whose shield in place has an
        adoption ground sets the record's adoption link barrier; a record
        with a barrier keeps its ground in ``shield_ground`` (SHLD-5)."""
        ...

    def adoption_barrier(self, directory_id: str) -> str | None:
        """The ground of the record's adoption link barrier (SHLD-5), if any."""
        ...

    def set_adoption_barrier(self, directory_id: str, ground: str) -> None:
        """Give a record an adoption link barrier (kept if it has one)."""
        ...

    def get_contributions(self, directory_id: str) -> list[ContributionRow]: ...

    def put_contribution(self, row: ContributionRow) -> None: ...

    def delete_contribution(self, directory_id: str, supplier_id: str) -> None:
        """Delete one supplier's contribution to a record (an unmerge, SUP-7)."""
        ...

    def get_involvements(self, directory_id: str) -> list[InvolvementRow]: ...

    def put_involvement(self, row: InvolvementRow) -> None: ...

    def delete_involvement(self, directory_id: str, supplier_id: str, reference: str) -> None: ...

    def put_archived_contact(self, row: ArchivedContactRow) -> None: ...

    def replace_identifiers(
        self, directory_id: str, supplier_id: str, keys: Iterable[tuple[str, str]]
    ) -> None:
        """Replace the identifier index entries one supplier gave for a record."""
        ...

    def children_where(
        self,
        *,
        local_authority: str,
        live: bool = True,
        shielded: bool | None = None,
    ) -> list[ChildRow]: ...

    def universal_service_gaps(
        self, local_authority: str, today: str, school_age_from: str, school_age_to: str
    ) -> list[tuple[str, bool, bool]]:
        """``(directory_id, no_gp, no_education_setting)`` for the live records
        of an authority missing a current GP, or (born between the two dates)
        a current education setting (REC-7)."""
        ...

    # --- lifecycle (RET) -------------------------------------------------
    def due_for_archive(self, today: str) -> list[str]: ...

    def due_for_contact_archive(self, today: str) -> list[str]: ...

    def due_for_destruction(self, today: str) -> list[str]: ...

    def destroy_archived_contacts(self, today: str) -> int:
        """Delete archived contact details due for destruction; how many."""
        ...

    def destroy(self, directory_id: str) -> None:
        """Delete every row about a record: record, contributions,
        involvements, archived contacts, identifiers, adoption link barrier,
        held operations and queue items naming it."""
        ...

    def purge(self) -> None:
        """Make deletions unrecoverable from the files (WAL checkpoint, truncate)."""
        ...

    def counts(self) -> dict[str, int]:
        """``live`` and ``archived`` record counts."""
        ...

    # --- management queues -------------------------------------------------
    def put_queue_item(self, queue: QueueName, row: QueueRow) -> None: ...

    def get_queue_item(self, queue: QueueName, item_id: str) -> QueueRow | None: ...

    def list_queue(
        self,
        queue: QueueName,
        *,
        local_authority: str | None = None,
        supplier_id: str | None = None,
        statuses: Sequence[str] | None = None,
    ) -> list[QueueRow]: ...

    def put_held_operation(self, row: HeldOperationRow) -> None: ...

    def get_held_operation(self, item_id: str) -> HeldOperationRow | None: ...

    def delete_held_operation(self, item_id: str) -> None: ...

    # --- bulk and control ---------------------------------------------------
    def bulk_insert(
        self,
        children: Sequence[ChildRow],
        contributions: Sequence[ContributionRow],
        involvements: Sequence[InvolvementRow],
        identifiers: Sequence[tuple[str, str, str, str]],
    ) -> None:
        """Insert many new records at once (seeding)."""
        ...

    def existing_ids(self, directory_ids: Sequence[str]) -> set[str]: ...

    def reset(self, *, keep_suppliers: bool) -> None:
        """Empty every table but ``meta`` (and the registry, if kept)."""
        ...

    # --- look-up search (ACC-4) ------------------------------------------------
    def search_children(self, query: ChildQuery, limit: int) -> list[ChildRow]:
        """At most ``limit`` live records matching every condition of
        ``query``, in directory-identifier order (stable)."""
        ...


@runtime_checkable
class RecordStore(CandidateIndex, Protocol):
    """What applying one supply operation reads and writes: a :class:`Store`,
    or a batch's :class:`StagedStore` (which holds the writes until the end
    of the batch)."""

    def savepoint(self) -> AbstractContextManager[None]: ...

    def get_child(self, directory_id: str) -> ChildRow | None: ...

    def child_exists(self, directory_id: str) -> bool: ...

    def put_child(self, row: ChildRow) -> None: ...

    def adoption_barrier(self, directory_id: str) -> str | None: ...

    def get_contributions(self, directory_id: str) -> list[ContributionRow]: ...

    def put_contribution(self, row: ContributionRow) -> None: ...

    def get_involvements(self, directory_id: str) -> list[InvolvementRow]: ...

    def put_involvement(self, row: InvolvementRow) -> None: ...

    def delete_involvement(self, directory_id: str, supplier_id: str, reference: str) -> None: ...

    def replace_identifiers(
        self, directory_id: str, supplier_id: str, keys: Iterable[tuple[str, str]]
    ) -> None: ...

    def put_queue_item(self, queue: QueueName, row: QueueRow) -> None: ...

    def put_held_operation(self, row: HeldOperationRow) -> None: ...


#: The children table's definition: one row a record, with the columns the
#: jobs and the search read (also the shape ``bench/bench_e2e_supply.py``'s
#: floor writes, so the floor cannot drift from the real table).
CHILDREN_TABLE = """
CREATE TABLE IF NOT EXISTS children (
    directory_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    local_authority TEXT,
    date_of_birth TEXT NOT NULL,
    given_key TEXT NOT NULL,
    family_key TEXT NOT NULL,
    shielded INTEGER NOT NULL,
    shield_ground TEXT,
    archive_due_on TEXT,
    contact_due_on TEXT,
    gp_until TEXT,
    education_until TEXT,
    archived_on TEXT,
    destroy_due_on TEXT,
    record TEXT NOT NULL,
    directory_state TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    postcode TEXT,
    gender TEXT
)
"""

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS suppliers (
    supplier_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    namespace TEXT NOT NULL UNIQUE,
    local_authority TEXT,
    accredited INTEGER NOT NULL,
    agreements TEXT NOT NULL,
    last_sequence INTEGER NOT NULL DEFAULT 0,
    registered_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS supplier_keys (
    kid TEXT PRIMARY KEY,
    supplier_id TEXT NOT NULL,
    jwk TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS supplier_keys_supplier ON supplier_keys (supplier_id);
CREATE TABLE IF NOT EXISTS batches (
    supplier_id TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    receipt TEXT NOT NULL,
    PRIMARY KEY (supplier_id, batch_id)
);
"""
    + CHILDREN_TABLE
    + """;
CREATE INDEX IF NOT EXISTS children_archive ON children (state, archive_due_on);
CREATE INDEX IF NOT EXISTS children_destroy ON children (state, destroy_due_on);
CREATE INDEX IF NOT EXISTS children_contact ON children (contact_due_on)
    WHERE contact_due_on IS NOT NULL;
CREATE INDEX IF NOT EXISTS children_la ON children (local_authority, state, shielded);
CREATE INDEX IF NOT EXISTS children_dob ON children (date_of_birth, family_key, given_key);
CREATE INDEX IF NOT EXISTS children_shielded ON children (date_of_birth) WHERE shielded = 1;
CREATE TABLE IF NOT EXISTS contributions (
    directory_id TEXT NOT NULL,
    supplier_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    local_authority TEXT,
    child TEXT NOT NULL,
    PRIMARY KEY (directory_id, supplier_id)
);
CREATE TABLE IF NOT EXISTS involvements (
    directory_id TEXT NOT NULL,
    supplier_id TEXT NOT NULL,
    reference TEXT NOT NULL,
    directory_reference TEXT NOT NULL,
    involvement TEXT NOT NULL,
    PRIMARY KEY (directory_id, supplier_id, reference)
);
CREATE TABLE IF NOT EXISTS archived_contacts (
    id INTEGER PRIMARY KEY,
    directory_id TEXT NOT NULL,
    supplier_id TEXT NOT NULL,
    reference TEXT NOT NULL,
    involvement TEXT NOT NULL,
    archived_on TEXT NOT NULL,
    destroy_due_on TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS archived_contacts_child ON archived_contacts (directory_id);
CREATE INDEX IF NOT EXISTS archived_contacts_due ON archived_contacts (destroy_due_on);
CREATE TABLE IF NOT EXISTS identifiers (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    directory_id TEXT NOT NULL,
    supplier_id TEXT NOT NULL,
    PRIMARY KEY (kind, value, directory_id, supplier_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS identifiers_child ON identifiers (directory_id, supplier_id);
CREATE TABLE IF NOT EXISTS held_operations (
    item_id TEXT PRIMARY KEY,
    supplier_id TEXT NOT NULL,
    agreement_id TEXT NOT NULL,
    operation TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS adoption_barriers (
    directory_id TEXT PRIMARY KEY,
    ground TEXT NOT NULL
) WITHOUT ROWID;
"""
)

#: Shield grounds (wire values) that set the adoption link barrier (SHLD-5).
ADOPTION_BARRIER_GROUNDS: Final[frozenset[str]] = frozenset(
    {ShieldGround.ADOPTION_IDENTITY_LINK.value, ShieldGround.RISK_TO_ADOPTION_PLACEMENT.value}
)
# Set once: barriers for records whose adoption shield was lifted before the
# table existed (their stored record still names the lifted shield's ground).
_BARRIER_BACKFILLED = "adoption_barriers_backfilled"
_BACKFILL_BARRIERS = (
    "INSERT OR IGNORE INTO adoption_barriers (directory_id, ground) "
    "SELECT directory_id, json_extract(record, '$.shield.ground') FROM children "
    "WHERE json_extract(record, '$.shield.ground') IN ({})"
)

# Look-up search (ACC-4): run after the columns are known to exist.
_SEARCH_SCHEMA = """
CREATE INDEX IF NOT EXISTS children_names ON children (family_key, given_key, date_of_birth);
CREATE INDEX IF NOT EXISTS children_postcode ON children (postcode, family_key, given_key)
    WHERE postcode IS NOT NULL;
"""
# Columns added after the first release, and how to fill them from the record.
_ADDED_COLUMNS = (
    ("postcode", "json_extract(record, '$.address.postcode')"),
    ("gender", "json_extract(record, '$.gender')"),
)

_QUEUE_SCHEMA = """
CREATE TABLE IF NOT EXISTS {name} (
    item_id TEXT PRIMARY KEY,
    local_authority TEXT,
    directory_id TEXT,
    supplier_id TEXT,
    status TEXT NOT NULL,
    raised_at TEXT NOT NULL,
    body TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS {name}_la ON {name} (local_authority, status);
CREATE INDEX IF NOT EXISTS {name}_supplier ON {name} (supplier_id);
CREATE INDEX IF NOT EXISTS {name}_child ON {name} (directory_id);
"""

_PUT_CHILD = (
    "INSERT OR REPLACE INTO children (directory_id, state, local_authority, date_of_birth, "
    "given_key, family_key, shielded, shield_ground, archive_due_on, contact_due_on, gp_until, "
    "education_until, archived_on, destroy_due_on, record, directory_state, updated_at, "
    "postcode, gender) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_CHILD = _PUT_CHILD.replace("INSERT OR REPLACE", "INSERT", 1)
_PUT_CONTRIBUTION = (
    "INSERT OR REPLACE INTO contributions "
    "(directory_id, supplier_id, version, received_at, local_authority, child) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_PUT_INVOLVEMENT = (
    "INSERT OR REPLACE INTO involvements "
    "(directory_id, supplier_id, reference, directory_reference, involvement) "
    "VALUES (?, ?, ?, ?, ?)"
)
_PUT_IDENTIFIER = (
    "INSERT OR IGNORE INTO identifiers (kind, value, directory_id, supplier_id) VALUES (?, ?, ?, ?)"
)
_DATA_TABLES = (
    "batches",
    "children",
    "contributions",
    "involvements",
    "archived_contacts",
    "identifiers",
    "held_operations",
    "adoption_barriers",
    *sorted(_QUEUES),
)


def _contribution_params(row: ContributionRow) -> tuple[Any, ...]:
    """``row`` as the parameters of ``_PUT_CONTRIBUTION``."""
    return (
        row.directory_id,
        row.supplier_id,
        row.version,
        row.received_at,
        row.local_authority,
        row.child,
    )


def _child_params(row: ChildRow) -> tuple[object, ...]:
    return (
        row.directory_id,
        row.state,
        row.local_authority,
        row.date_of_birth,
        row.given_key,
        row.family_key,
        int(row.shielded),
        row.shield_ground,
        row.archive_due_on,
        row.contact_due_on,
        row.gp_until,
        row.education_until,
        row.archived_on,
        row.destroy_due_on,
        row.record,
        row.directory_state,
        row.updated_at,
        row.postcode,
        row.gender,
    )


def _child_row(r: sqlite3.Row) -> ChildRow:
    return ChildRow(
        directory_id=r["directory_id"],
        state=r["state"],
        local_authority=r["local_authority"],
        date_of_birth=r["date_of_birth"],
        given_key=r["given_key"],
        family_key=r["family_key"],
        shielded=bool(r["shielded"]),
        shield_ground=r["shield_ground"],
        archive_due_on=r["archive_due_on"],
        contact_due_on=r["contact_due_on"],
        gp_until=r["gp_until"],
        education_until=r["education_until"],
        archived_on=r["archived_on"],
        destroy_due_on=r["destroy_due_on"],
        record=r["record"],
        directory_state=r["directory_state"],
        updated_at=r["updated_at"],
        postcode=r["postcode"],
        gender=r["gender"],
    )


def _queue_row(r: sqlite3.Row) -> QueueRow:
    return QueueRow(
        item_id=r["item_id"],
        local_authority=r["local_authority"],
        directory_id=r["directory_id"],
        supplier_id=r["supplier_id"],
        status=r["status"],
        raised_at=r["raised_at"],
        body=r["body"],
        detail=r["detail"],
    )


def _queue(name: str) -> str:
    if name not in _QUEUES:
        raise ValueError(f"no queue named {name!r}")
    return name


class _Checkpointer:
    """Checkpoints a file store's WAL on a thread of its own, when woken
    (module notes): the writer's commits never wait for a checkpoint."""

    def __init__(self, path: str) -> None:
        self._path = path
        #: Held while checkpointing (:meth:`SqliteStore.purge` takes it too).
        self.lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._failed = False
        self._thread: threading.Thread | None = None
        #: Frames in the WAL at the last checkpoint (its ``log`` figure).
        self.wal_frames = 0

    def wake(self) -> bool:
        """Ask for a checkpoint; ``False`` if the thread cannot run one (the
        caller then checkpoints itself)."""
        if self._failed or self._stopping:
            return False
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="contactpoint-wal-checkpoint", daemon=True
            )
            self._thread.start()
        self._wake.set()
        return True

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            self._failed = True
            return
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    return
                with self.lock:
                    # PASSIVE: copies what no reader still needs, never
                    # waits for the writer or the readers.
                    try:
                        row = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                        self.wal_frames = int(row[1]) if row is not None else 0
                    except sqlite3.Error:
                        self._failed = True
                        return
        finally:
            db.close()

    def close(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()


class SqliteStore:
    """The embedded store: SQLite through the standard library.

    ``path`` is a file (opened in WAL mode) or ``":memory:"``. One connection
    serves every thread, guarded by a re-entrant lock; a transaction holds
    the lock from ``BEGIN`` to ``COMMIT``.
    """

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        self.is_file = self.path != ":memory:" and not self.path.startswith("file::memory:")
        self._lock = threading.RLock()
        self._depth = 0
        self._savepoints = 0
        self._extra_tables: list[str] = []
        #: Idle read connections (file stores only); see the module notes.
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        #: The linkage index kept in this database, if one is attached
        #: (:meth:`.linkage_index.SqliteLinkageIndex.attach`): a batch's
        #: :class:`StagedStore` keeps it up to date itself.
        self.linkage: SqliteLinkageIndex | None = None
        self._checkpointer: _Checkpointer | None = None
        self._changes_checkpointed = 0
        try:
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, cached_statements=256
            )
        except sqlite3.Error as error:
            raise ConfigurationError(f"cannot open the directory database: {error}") from None
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA secure_delete = ON")
        self._db.execute("PRAGMA temp_store = MEMORY")
        self._db.execute("PRAGMA cache_size = -65536")
        if self.is_file:
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise ConfigurationError("the directory database cannot use WAL mode")
            self._db.execute("PRAGMA synchronous = NORMAL")
            # The WAL is checkpointed on a thread of its own, not by the
            # commit that fills it (module notes).
            self._db.execute("PRAGMA wal_autocheckpoint = 0")
            self._checkpointer = _Checkpointer(self.path)
        with self.transaction():
            # executescript would COMMIT mid-way: run the statements one by one.
            for statement in _statements(_SCHEMA):
                self._db.execute(statement)
            for name in sorted(_QUEUES):
                for statement in _statements(_QUEUE_SCHEMA.format(name=name)):
                    self._db.execute(statement)
            self._add_columns()
            for statement in _statements(_SEARCH_SCHEMA):
                self._db.execute(statement)
            self._backfill_barriers()

    def _backfill_barriers(self) -> None:
        """Once per database: barriers for adoption shields lifted before the
        ``adoption_barriers`` table existed (SHLD-5)."""
        done = self._db.execute("SELECT 1 FROM meta WHERE key = ?", (_BARRIER_BACKFILLED,))
        if done.fetchone() is not None:
            return
        grounds = sorted(ADOPTION_BARRIER_GROUNDS)
        self._db.execute(_BACKFILL_BARRIERS.format(", ".join("?" * len(grounds))), grounds)
        self._db.execute(
            "UPDATE children SET shield_ground = (SELECT ground FROM adoption_barriers b "
            "WHERE b.directory_id = children.directory_id) "
            "WHERE directory_id IN (SELECT directory_id FROM adoption_barriers)"
        )
        self._db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, '1')", (_BARRIER_BACKFILLED,)
        )

    def _add_columns(self) -> None:
        """Bring a database made before the search columns up to date."""
        present = {r["name"] for r in self._db.execute("PRAGMA table_info(children)")}
        for column, source in _ADDED_COLUMNS:
            if column not in present:
                self._db.execute(f"ALTER TABLE children ADD COLUMN {column} TEXT")
                self._db.execute(f"UPDATE children SET {column} = {source}")  # noqa: S608 - fixed

    @property
    def connection(self) -> sqlite3.Connection:
        """The store's one ``sqlite3`` connection (autocommit mode), for parts
        of the directory that keep their own tables in its database (the
        look-up users). Use it only while holding :attr:`lock`."""
        return self._db

    @property
    def lock(self) -> threading.RLock:
        """The re-entrant lock that guards :attr:`connection`."""
        return self._lock

    # --- units of work ---------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._depth = 0
                self._db.execute("ROLLBACK")
                raise
            self._depth = 0
            self._db.execute("COMMIT")
            self._committed()

    def _committed(self) -> None:
        # After a commit: ask for a checkpoint once enough has changed.
        checkpointer = self._checkpointer
        if checkpointer is None:
            return
        changes = self._db.total_changes
        if changes - self._changes_checkpointed >= _CHECKPOINT_CHANGES:
            self._changes_checkpointed = changes
            if not checkpointer.wake():
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        if checkpointer.wal_frames >= _WAL_RESTART_FRAMES:
            # The thread's PASSIVE checkpoints never catch up with a writer
            # that never stops: restart the WAL from here, between
            # transactions (it waits for readers of older snapshots).
            with checkpointer.lock:
                busy = self._db.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()[0]
            if not busy:
                checkpointer.wal_frames = 0

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        with self._lock:
            if not self._depth:
                raise RuntimeError("a savepoint needs an open transaction")
            self._savepoints += 1
            name = f"sp{self._savepoints}"
            self._db.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                self._db.execute(f"ROLLBACK TO {name}")
                self._db.execute(f"RELEASE {name}")
                raise
            finally:
                self._savepoints -= 1
            self._db.execute(f"RELEASE {name}")

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        with self._lock:
            self._db.close()
            with self._readers_lock:
                self._closed = True
                readers, self._readers = self._readers, []
            for reader in readers:
                reader.close()

    # --- reads: the writer's connection, or a reader (module notes) ------------

    def _owns_lock(self) -> bool:
        owned: bool = self._lock._is_owned()  # type: ignore[attr-defined]
        return owned

    def _reader(self) -> sqlite3.Connection | None:
        """An idle read connection, or ``None`` when the read must go to the
        writer's connection (a memory store, or a thread holding the lock)."""
        if not self.is_file or self._owns_lock():
            return None
        with self._readers_lock:
            if self._closed:
                return None
            if self._readers:
                return self._readers.pop()
        try:
            reader = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, cached_statements=64
            )
        except sqlite3.Error:
            return None
        reader.row_factory = sqlite3.Row
        reader.execute("PRAGMA query_only = ON")
        reader.execute("PRAGMA cache_size = -8192")
        reader.execute("PRAGMA temp_store = MEMORY")
        return reader

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection | None]:
        """A read-only connection for a few reads that must not wait for the
        writer (WAL: it sees what is committed), or ``None`` when the caller
        must read on :attr:`connection` under :attr:`lock` instead (a memory
        store, or this thread holds the lock and must see its own rows)."""
        reader = self._reader()
        if reader is None:
            yield None
            return
        try:
            yield reader
        finally:
            self._release(reader)

    def _release(self, reader: sqlite3.Connection) -> None:
        with self._readers_lock:
            if not self._closed and len(self._readers) < _IDLE_READERS:
                self._readers.append(reader)
                return
        reader.close()

    def _all(
        self, sql: str, params: Sequence[object] | Mapping[str, object] = ()
    ) -> list[sqlite3.Row]:
        reader = self._reader()
        if reader is None:
            with self._lock:
                return self._db.execute(sql, params).fetchall()
        try:
            return reader.execute(sql, params).fetchall()
        finally:
            self._release(reader)

    def _one(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Row | None:
        reader = self._reader()
        if reader is None:
            with self._lock:
                row: sqlite3.Row | None = self._db.execute(sql, params).fetchone()
                return row
        try:
            cursor = reader.execute(sql, params)
            found: sqlite3.Row | None = cursor.fetchone()
            cursor.close()  # ends the read transaction at once
            return found
        finally:
            self._release(reader)

    def _run(self, sql: str, params: Sequence[object] = ()) -> int:
        with self._lock:
            return self._db.execute(sql, params).rowcount

    # --- meta ------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        self._run("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # --- suppliers ---------------------------------------------------------

    def put_supplier(self, row: SupplierRow) -> None:
        with self.transaction():
            self._run(
                "INSERT OR REPLACE INTO suppliers (supplier_id, name, namespace, local_authority, "
                "accredited, agreements, last_sequence, registered_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.supplier_id,
                    row.name,
                    row.namespace,
                    row.local_authority,
                    int(row.accredited),
                    row.agreements,
                    row.last_sequence,
                    row.registered_at,
                ),
            )
            self._run("DELETE FROM supplier_keys WHERE supplier_id = ?", (row.supplier_id,))
            with self._lock:
                self._db.executemany(
                    "INSERT INTO supplier_keys (kid, supplier_id, jwk) VALUES (?, ?, ?)",
                    [(kid, row.supplier_id, jwk) for kid, jwk in row.keys],
                )

    def get_supplier(self, supplier_id: str) -> SupplierRow | None:
        r = self._one("SELECT * FROM suppliers WHERE supplier_id = ?", (supplier_id,))
        if r is None:
            return None
        keys = self._all(
            "SELECT kid, jwk FROM supplier_keys WHERE supplier_id = ? ORDER BY rowid",
            (supplier_id,),
        )
        return SupplierRow(
            supplier_id=r["supplier_id"],
            name=r["name"],
            namespace=r["namespace"],
            local_authority=r["local_authority"],
            accredited=bool(r["accredited"]),
            agreements=r["agreements"],
            keys=tuple((k["kid"], k["jwk"]) for k in keys),
            last_sequence=r["last_sequence"],
            registered_at=r["registered_at"],
        )

    def supplier_of_key(self, kid: str) -> tuple[str, str] | None:
        r = self._one("SELECT supplier_id, jwk FROM supplier_keys WHERE kid = ?", (kid,))
        return None if r is None else (r["supplier_id"], r["jwk"])

    def set_last_sequence(self, supplier_id: str, sequence: int) -> None:
        self._run(
            "UPDATE suppliers SET last_sequence = ? WHERE supplier_id = ?", (sequence, supplier_id)
        )

    # --- receipts ------------------------------------------------------------

    def get_receipt(self, supplier_id: str, batch_id: str) -> str | None:
        r = self._one(
            "SELECT receipt FROM batches WHERE supplier_id = ? AND batch_id = ?",
            (supplier_id, batch_id),
        )
        return None if r is None else str(r["receipt"])

    def put_receipt(
        self, supplier_id: str, batch_id: str, sequence: int, received_at: str, receipt: str
    ) -> None:
        self._run(
            "INSERT INTO batches (supplier_id, batch_id, sequence, received_at, receipt) "
            "VALUES (?, ?, ?, ?, ?)",
            (supplier_id, batch_id, sequence, received_at, receipt),
        )

    # --- records -------------------------------------------------------------

    def get_child(self, directory_id: str) -> ChildRow | None:
        r = self._one("SELECT * FROM children WHERE directory_id = ?", (directory_id,))
        return None if r is None else _child_row(r)

    def child_exists(self, directory_id: str) -> bool:
        return (
            self._one("SELECT 1 FROM children WHERE directory_id = ?", (directory_id,)) is not None
        )

    def put_child(self, row: ChildRow) -> None:
        with self._lock:
            if row.shield_ground in ADOPTION_BARRIER_GROUNDS:
                self._db.execute(
                    "INSERT OR IGNORE INTO adoption_barriers (directory_id, ground) VALUES (?, ?)",
                    (row.directory_id, row.shield_ground),
                )
            else:
                barrier = self._db.execute(
                    "SELECT ground FROM adoption_barriers WHERE directory_id = ?",
                    (row.directory_id,),
                ).fetchone()
                if barrier is not None:
                    row = attrs.evolve(row, shield_ground=barrier[0])
            self._db.execute(_PUT_CHILD, _child_params(row))

    def adoption_barrier(self, directory_id: str) -> str | None:
        r = self._one(
            "SELECT ground FROM adoption_barriers WHERE directory_id = ?", (directory_id,)
        )
        return None if r is None else str(r["ground"])

    def set_adoption_barrier(self, directory_id: str, ground: str) -> None:
        if ground not in ADOPTION_BARRIER_GROUNDS:
            raise ValueError("an adoption link barrier has an adoption ground")
        with self.transaction():
            if self.adoption_barrier(directory_id) is not None:
                return
            self._run(
                "INSERT INTO adoption_barriers (directory_id, ground) VALUES (?, ?)",
                (directory_id, ground),
            )
            self._run(
                "UPDATE children SET shield_ground = ? WHERE directory_id = ?",
                (ground, directory_id),
            )

    def get_contributions(self, directory_id: str) -> list[ContributionRow]:
        return [
            ContributionRow(
                directory_id=r["directory_id"],
                supplier_id=r["supplier_id"],
                version=r["version"],
                received_at=r["received_at"],
                local_authority=r["local_authority"],
                child=r["child"],
            )
            for r in self._all(
                "SELECT * FROM contributions WHERE directory_id = ? ORDER BY version",
                (directory_id,),
            )
        ]

    def put_contribution(self, row: ContributionRow) -> None:
        self._run(_PUT_CONTRIBUTION, _contribution_params(row))

    def delete_contribution(self, directory_id: str, supplier_id: str) -> None:
        self._run(
            "DELETE FROM contributions WHERE directory_id = ? AND supplier_id = ?",
            (directory_id, supplier_id),
        )

    def get_involvements(self, directory_id: str) -> list[InvolvementRow]:
        return [
            InvolvementRow(
                directory_id=r["directory_id"],
                supplier_id=r["supplier_id"],
                reference=r["reference"],
                directory_reference=r["directory_reference"],
                involvement=r["involvement"],
            )
            for r in self._all(
                "SELECT * FROM involvements WHERE directory_id = ? ORDER BY directory_reference",
                (directory_id,),
            )
        ]

    def put_involvement(self, row: InvolvementRow) -> None:
        self._run(
            _PUT_INVOLVEMENT,
            (
                row.directory_id,
                row.supplier_id,
                row.reference,
                row.directory_reference,
                row.involvement,
            ),
        )

    def delete_involvement(self, directory_id: str, supplier_id: str, reference: str) -> None:
        self._run(
            "DELETE FROM involvements WHERE directory_id = ? AND supplier_id = ? AND reference = ?",
            (directory_id, supplier_id, reference),
        )

    def put_archived_contact(self, row: ArchivedContactRow) -> None:
        self._run(
            "INSERT INTO archived_contacts (directory_id, supplier_id, reference, involvement, "
            "archived_on, destroy_due_on) VALUES (?, ?, ?, ?, ?, ?)",
            (
                row.directory_id,
                row.supplier_id,
                row.reference,
                row.involvement,
                row.archived_on,
                row.destroy_due_on,
            ),
        )

    def replace_identifiers(
        self, directory_id: str, supplier_id: str, keys: Iterable[tuple[str, str]]
    ) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM identifiers WHERE directory_id = ? AND supplier_id = ?",
                (directory_id, supplier_id),
            )
            self._db.executemany(
                _PUT_IDENTIFIER, [(k, v, directory_id, supplier_id) for k, v in keys]
            )

    def children_where(
        self,
        *,
        local_authority: str,
        live: bool = True,
        shielded: bool | None = None,
    ) -> list[ChildRow]:
        sql = "SELECT * FROM children WHERE local_authority = ? AND state = ?"
        params: list[object] = [local_authority, LIVE if live else ARCHIVED]
        if shielded is not None:
            sql += " AND shielded = ?"
            params.append(int(shielded))
        return [_child_row(r) for r in self._all(sql + " ORDER BY directory_id", params)]

    def universal_service_gaps(
        self, local_authority: str, today: str, school_age_from: str, school_age_to: str
    ) -> list[tuple[str, bool, bool]]:
        rows = self._all(
            "SELECT directory_id, "
            "  (gp_until IS NULL OR gp_until < :today) AS no_gp, "
            "  (date_of_birth > :older AND date_of_birth <= :younger "
            "   AND (education_until IS NULL OR education_until < :today)) AS no_edu "
            "FROM children WHERE local_authority = :la AND state = 'live' "
            "AND (no_gp OR no_edu) ORDER BY directory_id",
            {
                "today": today,
                "older": school_age_to,
                "younger": school_age_from,
                "la": local_authority,
            },
        )
        return [(r["directory_id"], bool(r["no_gp"]), bool(r["no_edu"])) for r in rows]

    # --- matching index ------------------------------------------------------

    def find_identifier(self, kind: str, value: str) -> list[str]:
        return [
            r["directory_id"]
            for r in self._all(
                "SELECT DISTINCT directory_id FROM identifiers WHERE kind = ? AND value = ?",
                (kind, value),
            )
        ]

    def _summary(self, r: sqlite3.Row) -> CandidateSummary:
        keys = self._all(
            "SELECT DISTINCT kind, value FROM identifiers WHERE directory_id = ?",
            (r["directory_id"],),
        )
        ground = r["shield_ground"]
        return CandidateSummary(
            directory_id=DirectoryId(r["directory_id"]),
            date_of_birth=date.fromisoformat(r["date_of_birth"]),
            live=r["state"] == LIVE,
            shielded=bool(r["shielded"]),
            shield_ground=None if ground is None else ShieldGround(ground),
            given_key=r["given_key"],
            family_key=r["family_key"],
            identifiers=frozenset((k["kind"], k["value"]) for k in keys),
        )

    _SUMMARY = (
        "SELECT directory_id, state, date_of_birth, shielded, shield_ground, given_key, "
        "family_key FROM children WHERE "
    )

    def identifier_owners(self, kind: str, value: str) -> list[tuple[str, str]]:
        """``(directory_id, supplier_id)`` of every identifier index entry for
        this key, in directory-identifier order."""
        return [
            (r["directory_id"], r["supplier_id"])
            for r in self._all(
                "SELECT directory_id, supplier_id FROM identifiers WHERE kind = ? AND value = ?",
                (kind, value),
            )
        ]

    def identifier_owners_many(
        self, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], list[tuple[str, str]]]:
        """:meth:`identifier_owners` of many keys at once (every key given
        has an entry, empty if no record holds it)."""
        found: dict[tuple[str, str], list[tuple[str, str]]] = {k: [] for k in keys}
        by_kind: dict[str, list[str]] = {}
        for kind, value in found:
            by_kind.setdefault(kind, []).append(value)
        for kind, values in sorted(by_kind.items()):
            for start in range(0, len(values), 500):
                chunk = values[start : start + 500]
                rows = self._all(
                    "SELECT value, directory_id, supplier_id FROM identifiers "  # noqa: S608
                    f"WHERE kind = ? AND value IN ({', '.join('?' * len(chunk))})",
                    [kind, *chunk],
                )
                for r in rows:
                    found[(kind, r["value"])].append((r["directory_id"], r["supplier_id"]))
        for owners in found.values():
            owners.sort()
        return found

    def shielded_born_on_many(self, dates: Iterable[date]) -> dict[date, list[CandidateSummary]]:
        """:meth:`shielded_born_on` of many dates at once, each in the same order."""
        found: dict[date, list[CandidateSummary]] = {d: [] for d in dates}
        days = sorted(d.isoformat() for d in found)
        for start in range(0, len(days), 500):
            chunk = days[start : start + 500]
            rows = self._all(
                self._SUMMARY
                + f"date_of_birth IN ({', '.join('?' * len(chunk))}) AND shielded = 1 "
                "AND state != 'merged' ORDER BY date_of_birth, rowid",
                chunk,
            )
            for r in rows:
                found[date.fromisoformat(r["date_of_birth"])].append(self._summary(r))
        return found

    def identifiers_of(self, directory_id: str) -> list[tuple[str, str, str]]:
        """``(kind, value, supplier_id)`` of every identifier index entry of a record."""
        return [
            (r["kind"], r["value"], r["supplier_id"])
            for r in self._all(
                "SELECT kind, value, supplier_id FROM identifiers WHERE directory_id = ?",
                (directory_id,),
            )
        ]

    def candidate(self, directory_id: str) -> CandidateSummary | None:
        r = self._one(
            self._SUMMARY + "directory_id = ?",
            (directory_id,),
        )
        return None if r is None else self._summary(r)

    def shielded_born_on(self, date_of_birth: date) -> list[CandidateSummary]:
        rows = self._all(
            # A merged-away record is not a candidate: its survivor holds the shield.
            self._SUMMARY + "date_of_birth = ? AND shielded = 1 AND state != 'merged'",
            (date_of_birth.isoformat(),),
        )
        return [self._summary(r) for r in rows]

    def live_named_born_on(
        self, date_of_birth: date, given_key: str, family_key: str
    ) -> list[CandidateSummary]:
        rows = self._all(
            self._SUMMARY
            + "date_of_birth = ? AND family_key = ? AND given_key = ? AND state = 'live'",
            (date_of_birth.isoformat(), family_key, given_key),
        )
        return [self._summary(r) for r in rows]

    # --- lifecycle -------------------------------------------------------------

    def due_for_archive(self, today: str) -> list[str]:
        return [
            r["directory_id"]
            for r in self._all(
                "SELECT directory_id FROM children WHERE state = 'live' "
                "AND archive_due_on <= ? ORDER BY directory_id",
                (today,),
            )
        ]

    def due_for_contact_archive(self, today: str) -> list[str]:
        return [
            r["directory_id"]
            for r in self._all(
                "SELECT directory_id FROM children WHERE contact_due_on <= ? "
                "AND state = 'live' ORDER BY directory_id",
                (today,),
            )
        ]

    def due_for_destruction(self, today: str) -> list[str]:
        return [
            r["directory_id"]
            for r in self._all(
                "SELECT directory_id FROM children WHERE state = 'archived' "
                "AND destroy_due_on <= ? ORDER BY directory_id",
                (today,),
            )
        ]

    def destroy_archived_contacts(self, today: str) -> int:
        return self._run("DELETE FROM archived_contacts WHERE destroy_due_on <= ?", (today,))

    def destroy(self, directory_id: str) -> None:
        with self.transaction():
            for table in (
                "children",
                "contributions",
                "involvements",
                "archived_contacts",
                "adoption_barriers",
            ):
                self._run(f"DELETE FROM {table} WHERE directory_id = ?", (directory_id,))  # noqa: S608
            self._run("DELETE FROM identifiers WHERE directory_id = ?", (directory_id,))
            held = [
                r["item_id"]
                for r in self._all(
                    "SELECT item_id FROM data_quality WHERE directory_id = ?", (directory_id,)
                )
            ]
            for item_id in held:
                self._run("DELETE FROM held_operations WHERE item_id = ?", (item_id,))
            for queue in sorted(_QUEUES):
                self._run(f"DELETE FROM {queue} WHERE directory_id = ?", (directory_id,))  # noqa: S608

    def purge(self) -> None:
        with self._lock:
            if self._depth:
                raise RuntimeError("purge runs outside a transaction")
            if self.is_file:
                checkpointer = self._checkpointer
                guard = checkpointer.lock if checkpointer is not None else threading.Lock()
                with guard:  # not while the checkpointer's thread checkpoints
                    busy = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                if busy:
                    raise ConfigurationError("the WAL could not be checkpointed")

    def counts(self) -> dict[str, int]:
        rows = self._all("SELECT state, COUNT(*) AS n FROM children GROUP BY state")
        found = {r["state"]: int(r["n"]) for r in rows}
        return {"live": found.get(LIVE, 0), "archived": found.get(ARCHIVED, 0)}

    # --- queues ------------------------------------------------------------------

    def put_queue_item(self, queue: QueueName, row: QueueRow) -> None:
        self._run(
            f"INSERT OR REPLACE INTO {_queue(queue)} "  # noqa: S608
            "(item_id, local_authority, directory_id, supplier_id, status, raised_at, body, "
            "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.item_id,
                row.local_authority,
                row.directory_id,
                row.supplier_id,
                row.status,
                row.raised_at,
                row.body,
                row.detail,
            ),
        )

    def get_queue_item(self, queue: QueueName, item_id: str) -> QueueRow | None:
        r = self._one(f"SELECT * FROM {_queue(queue)} WHERE item_id = ?", (item_id,))  # noqa: S608
        return None if r is None else _queue_row(r)

    def list_queue(
        self,
        queue: QueueName,
        *,
        local_authority: str | None = None,
        supplier_id: str | None = None,
        statuses: Sequence[str] | None = None,
    ) -> list[QueueRow]:
        sql = f"SELECT * FROM {_queue(queue)} WHERE 1 = 1"  # noqa: S608
        params: list[object] = []
        if local_authority is not None:
            sql += " AND local_authority = ?"
            params.append(local_authority)
        if supplier_id is not None:
            sql += " AND supplier_id = ?"
            params.append(supplier_id)
        if statuses is not None:
            sql += f" AND status IN ({', '.join('?' * len(statuses))})"
            params.extend(statuses)
        return [_queue_row(r) for r in self._all(sql + " ORDER BY raised_at, item_id", params)]

    def put_held_operation(self, row: HeldOperationRow) -> None:
        self._run(
            "INSERT OR REPLACE INTO held_operations (item_id, supplier_id, agreement_id, "
            "operation) VALUES (?, ?, ?, ?)",
            (row.item_id, row.supplier_id, row.agreement_id, row.operation),
        )

    def get_held_operation(self, item_id: str) -> HeldOperationRow | None:
        r = self._one("SELECT * FROM held_operations WHERE item_id = ?", (item_id,))
        if r is None:
            return None
        return HeldOperationRow(
            item_id=r["item_id"],
            supplier_id=r["supplier_id"],
            agreement_id=r["agreement_id"],
            operation=r["operation"],
        )

    def delete_held_operation(self, item_id: str) -> None:
        self._run("DELETE FROM held_operations WHERE item_id = ?", (item_id,))

    # --- bulk and control ------------------------------------------------------------

    def bulk_insert(
        self,
        children: Sequence[ChildRow],
        contributions: Sequence[ContributionRow],
        involvements: Sequence[InvolvementRow],
        identifiers: Sequence[tuple[str, str, str, str]],
    ) -> None:
        with self.transaction(), self._lock:
            db = self._db
            db.executemany(_INSERT_CHILD, [_child_params(c) for c in children])
            db.executemany(
                "INSERT OR IGNORE INTO adoption_barriers (directory_id, ground) VALUES (?, ?)",
                [
                    (c.directory_id, c.shield_ground)
                    for c in children
                    if c.shield_ground in ADOPTION_BARRIER_GROUNDS
                ],
            )
            db.executemany(
                _PUT_CONTRIBUTION,
                [_contribution_params(c) for c in contributions],
            )
            db.executemany(
                _PUT_INVOLVEMENT,
                [
                    (
                        i.directory_id,
                        i.supplier_id,
                        i.reference,
                        i.directory_reference,
                        i.involvement,
                    )
                    for i in involvements
                ],
            )
            db.executemany(_PUT_IDENTIFIER, identifiers)

    def search_children(self, query: ChildQuery, limit: int) -> list[ChildRow]:
        conditions = ["state = 'live'"]
        params: list[object] = []
        if query.directory_ids is not None:
            if not query.directory_ids:
                return []
            conditions.append(f"directory_id IN ({', '.join('?' * len(query.directory_ids))})")
            params.extend(query.directory_ids)
        for column, value, operator in (
            ("family_key", query.family_key, "="),
            ("given_key", query.given_key, "="),
            ("date_of_birth", query.date_of_birth, "="),
            ("date_of_birth", query.born_from, ">="),
            ("date_of_birth", query.born_to, "<="),
            ("postcode", query.postcode, "="),
            ("gender", query.gender, "="),
        ):
            if value is not None:
                conditions.append(f"{column} {operator} ?")
                params.append(value)
        params.append(limit)
        # ``directory_id || ''`` orders without tempting the planner to walk
        # the primary key in order instead of using the selective index.
        sql = (
            "SELECT * FROM children WHERE "  # noqa: S608 - fixed column names
            + " AND ".join(conditions)
            + " ORDER BY directory_id || '' LIMIT ?"
        )
        return [_child_row(r) for r in self._all(sql, params)]

    def existing_ids(self, directory_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(directory_ids), 500):
            chunk = directory_ids[start : start + 500]
            rows = self._all(
                f"SELECT directory_id FROM children WHERE directory_id IN "  # noqa: S608
                f"({', '.join('?' * len(chunk))})",
                chunk,
            )
            found.update(r["directory_id"] for r in rows)
        return found

    def add_data_table(self, name: str) -> None:
        """Name a table another part of the directory keeps in this database
        (merges, :mod:`.linkage_merge`) for :meth:`reset` to empty with the
        rest. ``name`` must be a plain identifier."""
        if not name.isidentifier():
            raise ValueError("a table name is a plain identifier")
        with self._lock:
            if name not in self._extra_tables:
                self._extra_tables.append(name)

    def reset(self, *, keep_suppliers: bool) -> None:
        with self.transaction():
            for table in (*_DATA_TABLES, *self._extra_tables):
                self._run(f"DELETE FROM {table}")  # noqa: S608
            if keep_suppliers:
                self._run("UPDATE suppliers SET last_sequence = 0")
            else:
                self._run("DELETE FROM supplier_keys")
                self._run("DELETE FROM suppliers")
        self.purge()


_MISSING: Final[Any] = object()


def _summary_of(row: ChildRow, identifiers: frozenset[tuple[str, str]]) -> CandidateSummary:
    ground = row.shield_ground
    return CandidateSummary(
        directory_id=DirectoryId(row.directory_id),
        date_of_birth=date.fromisoformat(row.date_of_birth),
        live=row.state == LIVE,
        shielded=row.shielded,
        shield_ground=None if ground is None else ShieldGround(ground),
        given_key=row.given_key,
        family_key=row.family_key,
        identifiers=identifiers,
    )


def _add(index: dict[str, str | list[str]], key: str, value: str) -> None:
    """Add ``value`` under ``key`` (a string alone, a list once there are more)."""
    found = index.get(key)
    if found is None:
        index[key] = value
    elif isinstance(found, str):
        if found != value:
            index[key] = [found, value]
    elif value not in found:
        found.append(value)


def _each(index: Mapping[str, str | list[str]], key: str) -> Sequence[str]:
    """The values under ``key`` (:func:`_add`)."""
    found = index.get(key)
    if found is None:
        return ()
    return (found,) if isinstance(found, str) else found


class StagedStore:
    """A supply batch's writes, held in memory and written a few operations'
    worth at a time, a few ``executemany`` a table (issue 10).

    Inside one store transaction, an ingest applies the operations of a
    batch to this store instead of the :class:`SqliteStore` under it. Each
    read answers exactly as the store would if every write so far had gone
    straight to it: the rows held (records, contributions, involvements, the
    identifier index, adoption barriers) over the stored ones and, for the
    matcher, the linkage index's profiles and keys of the records held
    (:attr:`profiles`, :attr:`by_key`, read by
    :meth:`~.linkage_index.SqliteLinkageIndex.candidates`). Where the store's
    order of rows depends on when they were written (records born on one
    day, in the order of their last write), so does this one's: a row
    written goes after every stored one.

    :meth:`prefetch` reads at once what the next operations will look up (the
    identifier index entries of their children, the shielded records born on
    their birthdays): the store does not change until the next :meth:`flush`.
    :meth:`savepoint` rolls back in memory (a journal of the changes), so a
    rejected operation leaves nothing, as an SQLite savepoint did.
    :meth:`flush` writes what is held, between operations: each record's last
    row (in the order of the last writes), its barrier, contributions,
    involvements (and deletions), identifier index entries, queue items and
    held operations; and, with the triggers paused, the linkage index's
    profiles and keys of the records written, made once per write from the
    data in hand (the very values the triggers would have written). It then
    holds nothing (nor anything read ahead): later reads go to the store,
    which now has it all. A batch whose transaction rolls back leaves nothing.
    """

    def __init__(self, base: SqliteStore) -> None:
        self._base = base
        self._linkage = base.linkage
        self._seq = 0
        self._journal: list[tuple[dict[Any, Any], Any, Any]] = []
        self._depth = 0
        self._clear()

    def _clear(self) -> None:
        # What is held is kept in few objects the garbage collector tracks
        # (strings and numbers rather than tuples, where they will do): a
        # batch's decoded operations already fill most of a young generation.
        #: Records known not to be stored (a new record's fresh identifier).
        self._new: set[str] = set()
        self._children: dict[str, ChildRow] = {}
        #: When each record was last written (rows are listed in that order).
        self._seqs: dict[str, int] = {}
        # Reverse indexes of what is held, only ever added to (no journal):
        # each entry is checked against the held row or keys when read.
        self._born: dict[str, str | list[str]] = {}
        self._owners: dict[str, str | list[str]] = {}
        self._barriers: dict[str, str] = {}
        self._contributions: dict[str, dict[str, ContributionRow]] = {}
        self._involvements: dict[str, dict[tuple[str, str], InvolvementRow | None]] = {}
        self._identifiers: dict[str, dict[str, tuple[tuple[str, str], ...]]] = {}
        self._queues: dict[tuple[str, str], QueueRow] = {}
        self._held: dict[str, HeldOperationRow] = {}
        self._hints: dict[str, ChildProfile] = {}
        #: The linkage profiles of the records held (``None``: none, the
        #: record is not live or its profile could not be made).
        self.profiles: dict[str, StagedProfile | None] = {}
        #: Blocking key -> the record, or records, held that are, or were,
        #: indexed under it (only added to; read against :attr:`profiles`).
        self.by_key: dict[str, str | list[str]] = {}
        # The store's answers to look-ups read ahead (prefetch).
        self._stored_owners: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self._stored_shielded: dict[date, list[CandidateSummary]] = {}

    # --- the batch ---------------------------------------------------------------

    def __enter__(self) -> StagedStore:
        if self._linkage is not None:
            self._linkage.overlay = self
        return self

    def __exit__(self, *exc: object) -> None:
        if self._linkage is not None and self._linkage.overlay is self:
            self._linkage.overlay = None

    def prefetch(self, identifiers: Iterable[tuple[str, str]], born: Iterable[date]) -> None:
        """Read at once what the next operations will ask the store (until
        the next :meth:`flush`): the records holding these identifier keys,
        and the shielded records born on these days."""
        self._stored_owners.update(self._base.identifier_owners_many(identifiers))
        self._stored_shielded.update(self._base.shielded_born_on_many(born))

    def mark_new(self, directory_id: str, profile: ChildProfile | None = None) -> None:
        """``directory_id`` is no stored record's (checked by the caller).
        ``profile``: the new record's linkage profile but for its identifier,
        where the caller knows it (the matcher's profile of the supplied
        child the record is made from: the very profile the index would make
        from the record), used when its row is written instead of making it
        again."""
        self._new.add(directory_id)
        if profile is not None:
            self._hints[directory_id] = profile

    # --- the journal ---------------------------------------------------------------

    def _set(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        if self._depth:
            self._journal.append((table, key, table.get(key, _MISSING)))
        table[key] = value

    def _inner(self, table: dict[str, dict[Any, Any]], key: str) -> dict[Any, Any]:
        inner = table.get(key)
        if inner is None:
            inner = {}
            self._set(table, key, inner)
        return inner

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        mark = len(self._journal)
        self._depth += 1
        try:
            yield
        except BaseException:
            journal = self._journal
            while len(journal) > mark:
                table, key, old = journal.pop()
                if old is _MISSING:
                    table.pop(key, None)
                else:
                    table[key] = old
            raise
        finally:
            self._depth -= 1
            if not self._depth:
                self._journal.clear()

    # --- reads -------------------------------------------------------------------------

    def get_child(self, directory_id: str) -> ChildRow | None:
        staged = self._children.get(directory_id)
        if staged is not None:
            return staged
        if directory_id in self._new:
            return None
        return self._base.get_child(directory_id)

    def child_exists(self, directory_id: str) -> bool:
        if directory_id in self._children:
            return True
        return directory_id not in self._new and self._base.child_exists(directory_id)

    def adoption_barrier(self, directory_id: str) -> str | None:
        staged = self._barriers.get(directory_id)
        if staged is not None or directory_id in self._new:
            return staged
        return self._base.adoption_barrier(directory_id)

    def get_contributions(self, directory_id: str) -> list[ContributionRow]:
        rows = [] if directory_id in self._new else self._base.get_contributions(directory_id)
        staged = self._contributions.get(directory_id)
        if staged:
            rows = [r for r in rows if r.supplier_id not in staged]
            rows.extend(staged.values())
            rows.sort(key=lambda r: r.version)
        return rows

    def get_involvements(self, directory_id: str) -> list[InvolvementRow]:
        rows = [] if directory_id in self._new else self._base.get_involvements(directory_id)
        staged = self._involvements.get(directory_id)
        if staged:
            rows = [r for r in rows if (r.supplier_id, r.reference) not in staged]
            rows.extend(r for r in staged.values() if r is not None)
            rows.sort(key=lambda r: r.directory_reference)
        return rows

    def find_identifier(self, kind: str, value: str) -> list[str]:
        replaced = self._identifiers
        key = (kind, value)
        stored = self._stored_owners.get(key)
        if stored is None:
            stored = self._base.identifier_owners(kind, value)
        found = {d for d, s in stored if s not in replaced.get(d, ())}
        for d in _each(self._owners, f"{kind}\x1f{value}"):
            if any(key in given for given in replaced.get(d, {}).values()):
                found.add(d)
        return sorted(found)

    def _identifier_keys(self, directory_id: str) -> frozenset[tuple[str, str]]:
        staged = self._identifiers.get(directory_id, {})
        keys: set[tuple[str, str]] = set()
        if directory_id not in self._new:
            keys.update(
                (k, v) for k, v, s in self._base.identifiers_of(directory_id) if s not in staged
            )
        for given in staged.values():
            keys.update(given)
        return frozenset(keys)

    def candidate(self, directory_id: str) -> CandidateSummary | None:
        staged = self._children.get(directory_id)
        if staged is None and directory_id not in self._identifiers:
            return None if directory_id in self._new else self._base.candidate(directory_id)
        row = staged if staged is not None else self._base.get_child(directory_id)
        return None if row is None else _summary_of(row, self._identifier_keys(directory_id))

    def _born_on(
        self, date_of_birth: date, stored: list[CandidateSummary], keep: Any
    ) -> list[CandidateSummary]:
        # Stored records first, in the store's order, then those held in the
        # order of their last write: a written row goes to the end of the
        # table (a new rowid), as it would have.
        out: list[CandidateSummary] = []
        for found in stored:
            key = str(found.directory_id)
            if key in self._children:
                continue
            if key in self._identifiers:
                again = self.candidate(key)
                if again is not None:
                    out.append(again)
                continue
            out.append(found)
        born = date_of_birth.isoformat()
        children, seqs = self._children, self._seqs
        written = sorted(
            (d for d in _each(self._born, born) if d in children), key=seqs.__getitem__
        )
        for row in (children[d] for d in written):
            if row.date_of_birth == born and keep(row):
                out.append(_summary_of(row, self._identifier_keys(row.directory_id)))
        return out

    def shielded_born_on(self, date_of_birth: date) -> list[CandidateSummary]:
        stored = self._stored_shielded.get(date_of_birth)
        return self._born_on(
            date_of_birth,
            self._base.shielded_born_on(date_of_birth) if stored is None else stored,
            lambda row: row.shielded and row.state != "merged",
        )

    def live_named_born_on(
        self, date_of_birth: date, given_key: str, family_key: str
    ) -> list[CandidateSummary]:
        return self._born_on(
            date_of_birth,
            self._base.live_named_born_on(date_of_birth, given_key, family_key),
            lambda row: (
                row.state == LIVE and row.family_key == family_key and row.given_key == given_key
            ),
        )

    # --- writes ---------------------------------------------------------------------------

    def put_child(self, row: ChildRow) -> None:
        key = row.directory_id
        if row.shield_ground in ADOPTION_BARRIER_GROUNDS:
            if self.adoption_barrier(key) is None:
                self._set(self._barriers, key, row.shield_ground)
        else:
            barrier = self.adoption_barrier(key)
            if barrier is not None:
                row = attrs.evolve(row, shield_ground=barrier)
        _add(self._born, row.date_of_birth, key)
        self._seq += 1
        self._set(self._children, key, row)
        self._set(self._seqs, key, self._seq)
        linkage = self._linkage
        if linkage is None:
            return
        hint = self._hints.pop(key, None)
        if row.state != LIVE:
            entry = None
        elif hint is not None and not row.shielded and row.shield_ground is None:
            entry = linkage.entry_of(key, hint)
        else:
            entry = linkage.staged_entry(key, row.record, row.shielded, row.shield_ground)
        if entry is not None:
            by_key = self.by_key
            for k in entry.keys:
                _add(by_key, k, key)
        self._set(self.profiles, key, entry)

    def put_contribution(self, row: ContributionRow) -> None:
        self._set(self._inner(self._contributions, row.directory_id), row.supplier_id, row)

    def put_involvement(self, row: InvolvementRow) -> None:
        inner = self._inner(self._involvements, row.directory_id)
        self._set(inner, (row.supplier_id, row.reference), row)

    def delete_involvement(self, directory_id: str, supplier_id: str, reference: str) -> None:
        self._set(self._inner(self._involvements, directory_id), (supplier_id, reference), None)

    def replace_identifiers(
        self, directory_id: str, supplier_id: str, keys: Iterable[tuple[str, str]]
    ) -> None:
        given = tuple(dict.fromkeys(keys))
        inner = self._inner(self._identifiers, directory_id)
        for kind, value in given:
            _add(self._owners, f"{kind}\x1f{value}", directory_id)
        self._set(inner, supplier_id, given)

    def put_queue_item(self, queue: QueueName, row: QueueRow) -> None:
        self._set(self._queues, (_queue(queue), row.item_id), row)

    def put_held_operation(self, row: HeldOperationRow) -> None:
        self._set(self._held, row.item_id, row)

    # --- writing ---------------------------------------------------------------------------

    def flush(self) -> None:
        """Write what is held (inside the caller's transaction, between
        operations), then hold nothing: later reads go to the store."""
        if self._depth:
            raise RuntimeError("a staged batch is written between operations")
        base, new = self._base, self._new
        with base.lock:
            if not base._depth:  # the same module's store
                raise RuntimeError("a staged batch is written inside a transaction")
            db = base.connection
            seqs, children = self._seqs, self._children
            rows = [_child_params(children[d]) for d in sorted(children, key=seqs.__getitem__)]
            linkage = self._linkage
            if linkage is None:
                db.executemany(_PUT_CHILD, rows)
            else:
                with linkage.paused():
                    db.executemany(_PUT_CHILD, rows)
            db.executemany(
                "INSERT OR IGNORE INTO adoption_barriers (directory_id, ground) VALUES (?, ?)",
                list(self._barriers.items()),
            )
            db.executemany(
                _PUT_CONTRIBUTION,
                [
                    _contribution_params(c)
                    for inner in self._contributions.values()
                    for c in inner.values()
                ],
            )
            gone: list[tuple[str, str, str]] = []
            kept: list[tuple[str, str, str, str, str]] = []
            for directory_id, involvements in self._involvements.items():
                for (supplier_id, reference), i in involvements.items():
                    if i is not None:
                        kept.append(
                            (
                                i.directory_id,
                                i.supplier_id,
                                i.reference,
                                i.directory_reference,
                                i.involvement,
                            )
                        )
                    elif directory_id not in new:
                        gone.append((directory_id, supplier_id, reference))
            db.executemany(
                "DELETE FROM involvements WHERE directory_id = ? AND supplier_id = ? "
                "AND reference = ?",
                gone,
            )
            db.executemany(_PUT_INVOLVEMENT, kept)
            db.executemany(
                "DELETE FROM identifiers WHERE directory_id = ? AND supplier_id = ?",
                [
                    (directory_id, supplier_id)
                    for directory_id, given in self._identifiers.items()
                    if directory_id not in new
                    for supplier_id in given
                ],
            )
            db.executemany(
                _PUT_IDENTIFIER,
                [
                    (kind, value, directory_id, supplier_id)
                    for directory_id, given in self._identifiers.items()
                    for supplier_id, keys in given.items()
                    for kind, value in keys
                ],
            )
            queues: dict[str, list[tuple[object, ...]]] = {}
            for (queue, _), q in self._queues.items():
                queues.setdefault(queue, []).append(
                    (
                        q.item_id,
                        q.local_authority,
                        q.directory_id,
                        q.supplier_id,
                        q.status,
                        q.raised_at,
                        q.body,
                        q.detail,
                    )
                )
            for queue, queued in queues.items():
                db.executemany(
                    f"INSERT OR REPLACE INTO {_queue(queue)} "  # noqa: S608
                    "(item_id, local_authority, directory_id, supplier_id, status, raised_at, "
                    "body, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    queued,
                )
            db.executemany(
                "INSERT OR REPLACE INTO held_operations (item_id, supplier_id, agreement_id, "
                "operation) VALUES (?, ?, ?, ?)",
                [
                    (h.item_id, h.supplier_id, h.agreement_id, h.operation)
                    for h in self._held.values()
                ],
            )
            if linkage is not None:
                linkage.write_staged(self.profiles, new)
        self._clear()


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
