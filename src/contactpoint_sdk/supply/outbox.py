"""The outbox: a durable queue of supply operations for automatic updates (SUP-6).

A case-management system calls :meth:`Outbox.enqueue` wherever it commits a
change of its own; a drain loop or a periodic job calls :meth:`Outbox.drain`
to send what is waiting, in order, in batches. The queue is one SQLite file
(standard library, WAL journal, ``synchronous=FULL``), so:

* :meth:`~Outbox.enqueue` returns only once the operation is on disk, and it
  checks the operation first (consent, SENS-2/SENS-3; the wire codec), so an
  operation the directory would refuse for those reasons is never written;
* the process may be killed at any instant, during any call, and nothing is
  lost and nothing is applied twice.

How a drain survives being killed — three steps, each its own transaction:

1. **Form.** Take the oldest waiting operations (at most ``max_batch``, never
   two with the same ``ref``), create a batch row with a fresh batch ID and the
   supplier's next sequence number (a counter in the same file), and assign
   the operations to it. Commit. Only one batch is open at a time, and no new
   one is formed while one is open.
2. **Send.** Build the :class:`~contactpoint_sdk.models.operations.SupplyBatch`
   from the stored rows — the same batch ID, sequence number, creation time,
   agreement and operations every time it is rebuilt — and send it.
3. **Record.** Record the receipt: accepted operations are done (and deleted:
   the outbox keeps no child data it no longer needs); rejected ones are
   *parked* with the directory's code, rule and message; the batch is closed.

Killed before 1 commits: the operations are still waiting. Killed between 1
and 3: the open batch is sent again, first, unchanged; if the directory had
already applied it, it answers with the first receipt and changes nothing (it
deduplicates by batch ID). Operations enqueued meanwhile wait for later
batches, in order. Sequence numbers therefore rise strictly in the order the
batches are first sent, and a batch the directory has seen keeps its number.

Several drainers on one file (threads, or processes) are safe, not useful:
they send the same open batch, the directory deduplicates it, and the second
receipt finds the batch already recorded.

When the send fails, the drain stops (its :class:`DrainReport` says why):

* **Transient** — :class:`~contactpoint_sdk.errors.TransportFailure`,
  :class:`~contactpoint_sdk.errors.RateLimited`,
  :class:`~contactpoint_sdk.errors.ServerError`, or an answer the
  client could not trust (:class:`~contactpoint_sdk.errors.ResponseInvalid`):
  the batch stays open and is resent, unchanged, by the next drain.
* **Refused whole** — :class:`~contactpoint_sdk.errors.BadRequest`
  (400), :class:`~contactpoint_sdk.errors.Unauthorized` (401),
  :class:`~contactpoint_sdk.errors.Forbidden` (403),
  :class:`~contactpoint_sdk.errors.PayloadTooLarge` (413): sending the
  same batch again cannot succeed, so its operations are parked with the
  directory's reason instead of blocking the queue forever, and the drain stops
  (a refusal for a key, accreditation or agreement fault would refuse every
  batch: stopping parks one batch per drain, not the whole backlog). Fix the
  cause, then :meth:`~Outbox.requeue_parked`.
* **Out of sequence** — :class:`~contactpoint_sdk.errors.Conflict`
  (409): the directory has seen a higher sequence number for this supplier
  than this outbox holds (a restored backup, another system under the same
  supplier ID). The batch stays open and the queue is blocked until
  :meth:`~Outbox.resequence` is called with the directory's last number.
* Any other exception (a key that will not load, a bug) propagates; the batch
  stays open.

Logs carry refs, counts, batch IDs and codes only, never child data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import attrs

from contactpoint_sdk._client import ClosesOnExit
from contactpoint_sdk.clock import Clock
from contactpoint_sdk.errors import (
    ApiError,
    BadRequest,
    ConfigurationError,
    Conflict,
    ContactPointError,
    Forbidden,
    PayloadTooLarge,
    RateLimited,
    ReceiptInvalid,
    ResponseInvalid,
    ServerError,
    TransportFailure,
    Unauthorized,
    ValidationError,
)
from contactpoint_sdk.models.codec import WireCodec
from contactpoint_sdk.models.operations import (
    MAX_OPERATIONS_PER_BATCH,
    OPERATION_TAGS,
    AnyOperation,
    OperationOutcome,
    OutcomeStatus,
    SupplyBatch,
    SupplyReceipt,
)
from contactpoint_sdk.supply.batch import check_operation

__all__ = [
    "AsyncBatchSender",
    "BatchSender",
    "DrainReport",
    "Outbox",
    "ParkedOperation",
]

logger = logging.getLogger(__name__)

#: The schema this module writes (``PRAGMA user_version``).
SCHEMA_VERSION = 1

#: Milliseconds a writer waits for another connection's transaction to finish.
_BUSY_TIMEOUT_MS = 30_000

#: Errors after which the same batch is sent again by the next drain.
_TRANSIENT: tuple[type[ContactPointError], ...] = (
    TransportFailure,
    RateLimited,
    ServerError,
    ResponseInvalid,
)
#: Whole-batch refusals: sending the same batch again cannot succeed.
_REFUSED: tuple[type[ApiError], ...] = (BadRequest, Unauthorized, Forbidden, PayloadTooLarge)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox_batches (
    batch_id TEXT PRIMARY KEY,
    sequence INTEGER NOT NULL UNIQUE,
    supplier_id TEXT NOT NULL,
    agreement_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    conflicted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS outbox_operations (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    queue_order INTEGER NOT NULL UNIQUE,
    ref TEXT NOT NULL,
    op TEXT NOT NULL,
    body TEXT NOT NULL,
    enqueued_at TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('waiting', 'sending', 'parked')),
    batch_id TEXT REFERENCES outbox_batches (batch_id),
    code TEXT,
    rule TEXT,
    message TEXT,
    parked_at TEXT
);
CREATE INDEX IF NOT EXISTS outbox_operations_queue
    ON outbox_operations (state, queue_order);
CREATE INDEX IF NOT EXISTS outbox_operations_batch
    ON outbox_operations (batch_id);
"""


class BatchSender(Protocol):
    """Anything that sends one batch and returns the directory's receipt:
    :class:`~contactpoint_sdk.supply.client.SupplyClient` does."""

    def send_batch(self, batch: SupplyBatch) -> SupplyReceipt:
        """Send ``batch``; raise the typed errors of
        :mod:`contactpoint_sdk.errors` on failure."""
        ...


class AsyncBatchSender(Protocol):
    """The async form of :class:`BatchSender` (``AsyncSupplyClient``)."""

    async def send_batch(self, batch: SupplyBatch) -> SupplyReceipt:
        """Send ``batch``; raise the typed errors of
        :mod:`contactpoint_sdk.errors` on failure."""
        ...


@attrs.frozen(kw_only=True)
class ParkedOperation:
    """An operation the directory would not take, set aside with its reason.

    ``position`` is what :meth:`Outbox.enqueue` returned for it; ``ref`` the
    supplier's reference; ``operation`` its wire tag (``"child_supplied"``).
    ``code``, ``rule`` and ``message`` are the directory's (per operation, or
    for the whole batch it was in); they never quote child data.
    """

    position: int
    ref: str
    operation: str
    code: str
    rule: str | None
    message: str | None
    enqueued_at: datetime
    parked_at: datetime


@attrs.frozen(kw_only=True)
class DrainReport:
    """What one :meth:`Outbox.drain` did.

    :ivar batches: batches whose receipt was recorded.
    :ivar accepted: operations the directory took.
    :ivar rejected: operations the directory rejected one by one, now parked.
    :ivar refused: operations parked because their whole batch was refused.
    :ivar backlog: operations still waiting (parked ones not counted).
    :ivar stopped_by: the error that stopped the drain, if one did (see the
        module docs for which errors leave the batch to be resent).
    """

    batches: int
    accepted: int
    rejected: int
    refused: int
    backlog: int
    stopped_by: ContactPointError | None = None

    @property
    def finished(self) -> bool:
        """Nothing is left waiting and nothing stopped the drain."""
        return self.backlog == 0 and self.stopped_by is None


@attrs.define
class _Tally:
    batches: int = 0
    accepted: int = 0
    rejected: int = 0
    refused: int = 0
    stopped_by: ContactPointError | None = None


def _utc_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("the outbox needs aware datetimes")
    return moment.astimezone(UTC).isoformat()


class Outbox(ClosesOnExit):
    """A durable, ordered queue of one supplier's operations (SUP-6).

    ``path`` is the SQLite file (created if missing, readable by its owner
    only); it holds child data until the directory has taken it, so keep it
    on an encrypted volume. ``supplier_id`` is fixed for the life of the file,
    because the sequence counter inside it is that supplier's.
    ``agreement_id`` (SUP-4) goes into each batch as it is formed.
    ``max_batch`` is the most operations per batch (at most
    :data:`~contactpoint_sdk.models.operations.MAX_OPERATIONS_PER_BATCH`).

    One instance may be shared by threads; each method is atomic. Use it as a
    context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        supplier_id: str,
        agreement_id: str,
        clock: Clock,
        max_batch: int = MAX_OPERATIONS_PER_BATCH,
        codec: WireCodec | None = None,
    ) -> None:
        if not 1 <= max_batch <= MAX_OPERATIONS_PER_BATCH:
            raise ValueError(f"max_batch is 1 to {MAX_OPERATIONS_PER_BATCH}")
        self.supplier_id = supplier_id
        self.agreement_id = agreement_id
        self.max_batch = max_batch
        self._clock = clock
        self._codec = codec or WireCodec(clock)
        self._lock = threading.RLock()
        self._drain_lock = threading.Lock()
        self._path = os.fspath(path)
        self._create_private(self._path)
        self._db: sqlite3.Connection | None = sqlite3.connect(
            self._path,
            isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE ... COMMIT
            check_same_thread=False,  # guarded by self._lock
            timeout=_BUSY_TIMEOUT_MS / 1000,
        )
        try:
            self._setup(self._db)
        except BaseException:
            self._db.close()
            self._db = None
            raise

    # --- Life cycle ---------------------------------------------------------

    @staticmethod
    def _create_private(path: str) -> None:
        """Create the file readable by its owner only; SQLite gives its -wal
        and -shm files the same permissions."""
        if path == ":memory:":
            return
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))

    def _setup(self, db: sqlite3.Connection) -> None:
        db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            logger.warning("outbox: journal_mode is %s, not wal; still durable, slower", mode)
        # FULL: every commit is fsynced before it returns (WAL's NORMAL is not
        # durable across power loss). enqueue() promises the operation is on disk.
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA foreign_keys = ON")
        with self._transaction() as tx:
            version = tx.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ConfigurationError(
                    f"the outbox file has schema {version}; this SDK writes {SCHEMA_VERSION}",
                    code="outbox_schema_newer",
                )
            if version < SCHEMA_VERSION:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        tx.execute(statement)
                tx.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            row = tx.execute("SELECT value FROM outbox_meta WHERE key = 'supplier_id'").fetchone()
            if row is None:
                tx.execute(
                    "INSERT INTO outbox_meta (key, value) VALUES ('supplier_id', ?), "
                    "('last_sequence', '0')",
                    (self.supplier_id,),
                )
            elif row[0] != self.supplier_id:
                raise ConfigurationError(
                    f"this outbox belongs to supplier {row[0]!r}, not {self.supplier_id!r}: "
                    "its sequence numbers are that supplier's",
                    code="outbox_supplier_mismatch",
                )

    def close(self) -> None:
        """Close the file. Safe to call twice; anything enqueued is already on disk."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (BEGIN IMMEDIATE) so two
        connections never both read then write the same rows."""
        with self._lock:
            if self._db is None:
                raise ConfigurationError("the outbox is closed", code="outbox_closed")
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def _read(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            if self._db is None:
                raise ConfigurationError("the outbox is closed", code="outbox_closed")
            return list(self._db.execute(sql, params).fetchall())

    # --- Enqueue --------------------------------------------------------------

    def enqueue(self, operation: AnyOperation) -> int:
        """Check ``operation``, store it, and return its position once it is on disk.

        Raises :class:`~contactpoint_sdk.errors.PolicyRefusal` (SENS-2, SENS-3)
        for a sensitive involvement without valid consent or override, or
        :class:`~contactpoint_sdk.errors.ValidationError` for an operation the
        wire codec would not carry; in either case nothing is written.
        Positions rise by one per operation enqueued.
        """
        return self.enqueue_many([operation])[0]

    def enqueue_many(self, operations: Iterable[AnyOperation]) -> list[int]:
        """Check every operation, then store them all in one transaction, in order.

        All or nothing: if one is refused, none is written.
        """
        today = self._clock.today()
        prepared = [self._prepare(operation, today) for operation in operations]
        if not prepared:
            return []
        enqueued_at = _utc_text(self._clock.now())
        positions: list[int] = []
        with self._transaction() as tx:
            for ref, tag, body in prepared:
                cursor = tx.execute(
                    "INSERT INTO outbox_operations "
                    "(queue_order, ref, op, body, enqueued_at, state) VALUES "
                    "((SELECT COALESCE(MAX(queue_order), 0) + 1 FROM outbox_operations), "
                    "?, ?, ?, ?, 'waiting')",
                    (ref, tag, body, enqueued_at),
                )
                positions.append(int(cursor.lastrowid or 0))
        logger.debug(
            "outbox: enqueued %d operation(s), last position %d", len(positions), positions[-1]
        )
        return positions

    def _prepare(self, operation: AnyOperation, today: date) -> tuple[str, str, str]:
        tag = OPERATION_TAGS.get(type(operation))
        if tag is None:
            raise TypeError(f"not a supply operation: {type(operation).__name__}")
        check_operation(operation, today)
        body = json.dumps(self._codec.encode(operation), separators=(",", ":"), ensure_ascii=False)
        # What is stored must come back as the same operation, or the directory
        # would receive something other than what the caller enqueued.
        if self._decode(body) != operation:
            raise ValidationError.single(
                "the operation does not survive the wire codec unchanged",
                code="operation_not_round_trip",
                path="",
            )
        return operation.ref, tag, body

    def _decode(self, body: str) -> AnyOperation:
        return self._codec.decode(json.loads(body), AnyOperation)  # type: ignore[arg-type]

    # --- Observing ---------------------------------------------------------------

    def backlog(self) -> int:
        """Operations waiting to be delivered (in an open batch or not yet
        batched); parked operations are not counted."""
        (count,) = self._read(
            "SELECT COUNT(*) FROM outbox_operations WHERE state IN ('waiting', 'sending')"
        )[0]
        return int(count)

    def oldest_age(self, now: datetime) -> timedelta | None:
        """How long the oldest waiting operation has waited, at ``now``;
        ``None`` when nothing waits."""
        (oldest,) = self._read(
            "SELECT MIN(enqueued_at) FROM outbox_operations WHERE state IN ('waiting', 'sending')"
        )[0]
        if oldest is None:
            return None
        return max(timedelta(0), now - datetime.fromisoformat(oldest))

    def last_position(self) -> int:
        """The position the most recent enqueue returned (0 before the first).

        A restarted integration compares it with its own records to find
        changes it committed but had not yet enqueued when it stopped.
        """
        rows = self._read("SELECT seq FROM sqlite_sequence WHERE name = 'outbox_operations'")
        return int(rows[0][0]) if rows else 0

    def parked(self) -> list[ParkedOperation]:
        """Operations the directory would not take, oldest first."""
        rows = self._read(
            "SELECT position, ref, op, code, rule, message, enqueued_at, parked_at "
            "FROM outbox_operations WHERE state = 'parked' ORDER BY queue_order"
        )
        return [
            ParkedOperation(
                position=position,
                ref=ref,
                operation=op,
                code=code,
                rule=rule,
                message=message,
                enqueued_at=datetime.fromisoformat(enqueued_at),
                parked_at=datetime.fromisoformat(parked_at),
            )
            for position, ref, op, code, rule, message, enqueued_at, parked_at in rows
        ]

    # --- Parked operations ------------------------------------------------------------

    def requeue_parked(self, refs: Iterable[str]) -> int:
        """Put the parked operations with these refs back in the queue, at its
        end, in the order they were first enqueued; return how many.

        The operation is sent again exactly as it was enqueued. If its data
        was wrong, enqueue a corrected operation and :meth:`discard_parked`
        this one instead; likewise if newer operations about the same child
        have been delivered since (an old full record would overwrite them).
        """
        wanted = sorted(set(refs))
        if not wanted:
            return 0
        marks = ",".join("?" * len(wanted))
        with self._transaction() as tx:
            rows = tx.execute(
                f"SELECT position FROM outbox_operations "  # noqa: S608 - placeholders only
                f"WHERE state = 'parked' AND ref IN ({marks}) ORDER BY queue_order",
                wanted,
            ).fetchall()
            for (position,) in rows:
                tx.execute(
                    "UPDATE outbox_operations SET state = 'waiting', "
                    "queue_order = (SELECT MAX(queue_order) + 1 FROM outbox_operations), "
                    "code = NULL, rule = NULL, message = NULL, parked_at = NULL "
                    "WHERE position = ?",
                    (position,),
                )
        logger.info("outbox: requeued %d parked operation(s)", len(rows))
        return len(rows)

    def discard_parked(self, refs: Iterable[str]) -> int:
        """Delete the parked operations with these refs; return how many."""
        wanted = sorted(set(refs))
        if not wanted:
            return 0
        marks = ",".join("?" * len(wanted))
        with self._transaction() as tx:
            cursor = tx.execute(
                f"DELETE FROM outbox_operations "  # noqa: S608 - placeholders only
                f"WHERE state = 'parked' AND ref IN ({marks})",
                wanted,
            )
        logger.info("outbox: discarded %d parked operation(s)", cursor.rowcount)
        return cursor.rowcount

    # --- Sequence recovery ----------------------------------------------------------

    def resequence(self, after: int) -> None:
        """After a :class:`~contactpoint_sdk.errors.Conflict`
        (``sequence_out_of_order``): number batches from above ``after``, the
        last sequence number the directory has seen from this supplier.

        The refused batch is given a fresh batch ID and a new number. That is
        safe only because a 409 means the directory did not take it (it
        answers a batch ID it knows with its first receipt, never 409), so it
        is allowed only when no batch is open or the open one was refused so.
        """
        if after < 0:
            raise ValueError("sequence numbers are not negative")
        with self._transaction() as tx:
            last = self._last_sequence(tx)
            floor = max(last, after)
            row = tx.execute(
                "SELECT batch_id, conflicted FROM outbox_batches ORDER BY sequence LIMIT 1"
            ).fetchone()
            if row is not None:
                old_id, conflicted = row
                if not conflicted:
                    raise ConfigurationError(
                        "the open batch was not refused as out of sequence; "
                        "resequencing it could apply it twice",
                        code="outbox_resequence_refused",
                    )
                new_id = uuid.uuid4().hex
                floor += 1
                tx.execute(
                    "INSERT INTO outbox_batches "
                    "(batch_id, sequence, supplier_id, agreement_id, created_at) "
                    "SELECT ?, ?, supplier_id, agreement_id, ? FROM outbox_batches "
                    "WHERE batch_id = ?",
                    (new_id, floor, _utc_text(self._clock.now()), old_id),
                )
                tx.execute(
                    "UPDATE outbox_operations SET batch_id = ? WHERE batch_id = ?",
                    (new_id, old_id),
                )
                tx.execute("DELETE FROM outbox_batches WHERE batch_id = ?", (old_id,))
                logger.warning(
                    "outbox: batch %s refused as out of sequence is now batch %s, sequence %d",
                    old_id,
                    new_id,
                    floor,
                )
            tx.execute(
                "UPDATE outbox_meta SET value = ? WHERE key = 'last_sequence'", (str(floor),)
            )

    @staticmethod
    def _last_sequence(tx: sqlite3.Connection) -> int:
        (value,) = tx.execute(
            "SELECT value FROM outbox_meta WHERE key = 'last_sequence'"
        ).fetchone()
        return int(value)

    # --- Draining --------------------------------------------------------------------

    def drain(self, sender: BatchSender, *, max_batches: int | None = None) -> DrainReport:
        """Send waiting operations in order, in batches, until none wait, a
        send fails, or ``max_batches`` batches have been settled.

        An open batch left by an earlier drain (or a killed process) is sent
        first, unchanged. See the module docs for what each failure does.
        """
        tally = _Tally()
        with self._drain_lock:
            while max_batches is None or tally.batches < max_batches:
                batch = self._next_batch()
                if batch is None:
                    break
                try:
                    receipt = sender.send_batch(batch)
                except ContactPointError as error:
                    if not self._settle_error(batch, error, tally):
                        raise
                    break
                if not self._settle_receipt(batch, receipt, tally):
                    break
        return self._report(tally)

    async def drain_async(
        self, sender: AsyncBatchSender, *, max_batches: int | None = None
    ) -> DrainReport:
        """:meth:`drain` with an async sender; the file work runs in a worker thread."""
        tally = _Tally()
        while max_batches is None or tally.batches < max_batches:
            batch = await asyncio.to_thread(self._next_batch)
            if batch is None:
                break
            try:
                receipt = await sender.send_batch(batch)
            except ContactPointError as error:
                if not await asyncio.to_thread(self._settle_error, batch, error, tally):
                    raise
                break
            if not await asyncio.to_thread(self._settle_receipt, batch, receipt, tally):
                break
        return await asyncio.to_thread(self._report, tally)

    def _report(self, tally: _Tally) -> DrainReport:
        return DrainReport(
            batches=tally.batches,
            accepted=tally.accepted,
            rejected=tally.rejected,
            refused=tally.refused,
            backlog=self.backlog(),
            stopped_by=tally.stopped_by,
        )

    def _next_batch(self) -> SupplyBatch | None:
        """Step 1: the open batch, rebuilt; else a new one formed and committed."""
        with self._transaction() as tx:
            row = tx.execute(
                "SELECT batch_id, sequence, supplier_id, agreement_id, created_at "
                "FROM outbox_batches ORDER BY sequence LIMIT 1"
            ).fetchone()
            if row is not None:
                batch_id, sequence, supplier_id, agreement_id, created_at = row
                operations = tuple(
                    self._decode(body)
                    for (body,) in tx.execute(
                        "SELECT body FROM outbox_operations WHERE batch_id = ? "
                        "ORDER BY queue_order",
                        (batch_id,),
                    )
                )
                logger.info("outbox: resending open batch %s (sequence %d)", batch_id, sequence)
                return SupplyBatch(
                    supplier_id=supplier_id,
                    agreement_id=agreement_id,
                    batch_id=batch_id,
                    sequence=sequence,
                    created_at=datetime.fromisoformat(created_at),
                    operations=operations,
                )
            return self._form_batch(tx)

    def _form_batch(self, tx: sqlite3.Connection) -> SupplyBatch | None:
        while True:
            rows = tx.execute(
                "SELECT position, ref, body FROM outbox_operations WHERE state = 'waiting' "
                "ORDER BY queue_order LIMIT ?",
                (self.max_batch,),
            ).fetchall()
            if not rows:
                return None
            chosen: list[tuple[int, AnyOperation]] = []
            refs: set[str] = set()
            undecodable: list[tuple[int, str, str]] = []
            for position, ref, body in rows:
                if ref in refs:
                    break  # a batch's refs are unique; the later one waits its turn
                try:
                    operation = self._decode(body)
                except ValidationError as problem:
                    # Stored by an SDK whose wire format differs: set aside, do not block.
                    undecodable.append((position, ref, problem.code))
                    continue
                chosen.append((position, operation))
                refs.add(ref)
            now = _utc_text(self._clock.now())
            for position, ref, why in undecodable:
                logger.error("outbox: operation %s no longer decodes (%s); parked", ref, why)
                self._park(
                    tx,
                    position,
                    code="outbox_undecodable",
                    rule=None,
                    message=f"the stored operation no longer decodes ({why})",
                    now=now,
                )
            if chosen:
                break
        sequence = self._last_sequence(tx) + 1
        # Checked before anything is written: a bad supplier or agreement ID
        # rolls the whole transaction back and is raised to the caller.
        batch = SupplyBatch(
            supplier_id=self.supplier_id,
            agreement_id=self.agreement_id,
            batch_id=uuid.uuid4().hex,
            sequence=sequence,
            created_at=self._clock.now().astimezone(UTC),
            operations=tuple(operation for _, operation in chosen),
        )
        tx.execute(
            "INSERT INTO outbox_batches "
            "(batch_id, sequence, supplier_id, agreement_id, created_at) VALUES (?, ?, ?, ?, ?)",
            (
                batch.batch_id,
                batch.sequence,
                batch.supplier_id,
                batch.agreement_id,
                batch.created_at.isoformat(),
            ),
        )
        tx.executemany(
            "UPDATE outbox_operations SET state = 'sending', batch_id = ? WHERE position = ?",
            [(batch.batch_id, position) for position, _ in chosen],
        )
        tx.execute("UPDATE outbox_meta SET value = ? WHERE key = 'last_sequence'", (str(sequence),))
        logger.info(
            "outbox: formed batch %s (sequence %d) of %d operation(s)",
            batch.batch_id,
            batch.sequence,
            len(batch.operations),
        )
        return batch

    def _settle_receipt(self, batch: SupplyBatch, receipt: SupplyReceipt, tally: _Tally) -> bool:
        """Step 3: record the receipt in one transaction. False if it is not
        this batch's receipt (then nothing is recorded and the drain stops)."""
        if receipt.batch_id != batch.batch_id or receipt.sequence != batch.sequence:
            error = ReceiptInvalid(
                f"a receipt for batch {receipt.batch_id} (sequence {receipt.sequence}) "
                f"came back for batch {batch.batch_id} (sequence {batch.sequence})",
                status=200,
                code="receipt_for_another_batch",
            )
            logger.error("outbox: %s; the batch stays open", error)
            tally.stopped_by = error
            return False
        outcomes: dict[str, OperationOutcome] = {o.ref: o for o in receipt.outcomes}
        now = _utc_text(self._clock.now())
        accepted = rejected = 0
        with self._transaction() as tx:
            if not self._still_open(tx, batch.batch_id):
                logger.info("outbox: batch %s was already recorded", batch.batch_id)
                tally.batches += 1
                return True
            rows = tx.execute(
                "SELECT position, ref FROM outbox_operations WHERE batch_id = ?",
                (batch.batch_id,),
            ).fetchall()
            for position, ref in rows:
                outcome = outcomes.pop(ref, None)
                if outcome is not None and outcome.status is OutcomeStatus.ACCEPTED:
                    tx.execute("DELETE FROM outbox_operations WHERE position = ?", (position,))
                    accepted += 1
                    continue
                code: str = "outcome_missing"
                rule: str | None = None
                message: str | None = "the receipt did not say what became of this operation"
                if outcome is not None:
                    code = outcome.code or "rejected"
                    rule, message = outcome.rule, outcome.message
                self._park(tx, position, code=code, rule=rule, message=message, now=now)
                logger.warning("outbox: %s rejected and parked: %s (%s)", ref, code, rule)
                rejected += 1
            tx.execute("DELETE FROM outbox_batches WHERE batch_id = ?", (batch.batch_id,))
        if outcomes:
            logger.warning(
                "outbox: receipt for batch %s named %d ref(s) not in the batch",
                batch.batch_id,
                len(outcomes),
            )
        logger.info(
            "outbox: batch %s (sequence %d) settled: %d accepted, %d parked",
            batch.batch_id,
            batch.sequence,
            accepted,
            rejected,
        )
        tally.batches += 1
        tally.accepted += accepted
        tally.rejected += rejected
        return True

    def _settle_error(self, batch: SupplyBatch, error: ContactPointError, tally: _Tally) -> bool:
        """A failed send: keep the batch (transient, conflict, unknown answer)
        or park it (refused whole). False if the error is not the directory's
        or the network's: the caller re-raises it."""
        if isinstance(error, _REFUSED):
            tally.refused += self._park_batch(batch, error)
        elif isinstance(error, (ApiError, *_TRANSIENT)):
            conflicted = isinstance(error, Conflict)
            with self._transaction() as tx:
                tx.execute(
                    "UPDATE outbox_batches SET attempts = attempts + 1, last_error = ?, "
                    "conflicted = ? WHERE batch_id = ?",
                    (error.code, int(conflicted), batch.batch_id),
                )
            log = logger.error if conflicted else logger.warning
            log(
                "outbox: batch %s (sequence %d) not delivered (%s); kept for the next drain",
                batch.batch_id,
                batch.sequence,
                error.code,
            )
        else:
            return False
        tally.stopped_by = error
        return True

    def _park_batch(self, batch: SupplyBatch, error: ApiError) -> int:
        now = _utc_text(self._clock.now())
        with self._transaction() as tx:
            if not self._still_open(tx, batch.batch_id):
                return 0
            positions = [
                position
                for (position,) in tx.execute(
                    "SELECT position FROM outbox_operations WHERE batch_id = ?",
                    (batch.batch_id,),
                )
            ]
            for position in positions:
                self._park(
                    tx, position, code=error.code, rule=error.rule, message=error.message, now=now
                )
            tx.execute("DELETE FROM outbox_batches WHERE batch_id = ?", (batch.batch_id,))
        logger.error(
            "outbox: batch %s (sequence %d) refused whole (%s, %s): %d operation(s) parked",
            batch.batch_id,
            batch.sequence,
            error.code,
            error.rule,
            len(positions),
        )
        return len(positions)

    @staticmethod
    def _park(
        tx: sqlite3.Connection,
        position: int,
        *,
        code: str,
        rule: str | None,
        message: str | None,
        now: str,
    ) -> None:
        tx.execute(
            "UPDATE outbox_operations SET state = 'parked', batch_id = NULL, code = ?, "
            "rule = ?, message = ?, parked_at = ? WHERE position = ?",
            (code, rule, message, now, position),
        )

    @staticmethod
    def _still_open(tx: sqlite3.Connection, batch_id: str) -> bool:
        row = tx.execute("SELECT 1 FROM outbox_batches WHERE batch_id = ?", (batch_id,)).fetchone()
        return row is not None
