"""The outbox: durable, ordered, exactly-once automatic updates (SUP-6).

Unit tests drive :class:`Outbox` against an in-memory directory that
deduplicates by batch ID as the real one does; integration tests go through
the real :class:`SupplyClient` (sealed envelopes, retries) into the on-disk
fake directory of ``tests/_outbox_worker.py``; the crash test SIGKILLs a
worker process at random instants, many times, and checks the directory's
books afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO

import attrs
import pytest

from contactpoint_sdk.clock import MovableClock
from contactpoint_sdk.errors import (
    ApiError,
    BadRequest,
    ConfigurationError,
    Conflict,
    ContactPointError,
    Forbidden,
    PayloadTooLarge,
    PolicyRefusal,
    RateLimited,
    ReceiptInvalid,
    ServerError,
    TransportFailure,
    Unauthorized,
)
from contactpoint_sdk.models.identifiers import NhsNumber
from contactpoint_sdk.models.operations import (
    AnyOperation,
    ChildKey,
    InvolvementStarted,
    OperationOutcome,
    OutcomeStatus,
    SupplyBatch,
    SupplyReceipt,
)
from contactpoint_sdk.models.record import SourceIdentifiers
from contactpoint_sdk.supply.client import AsyncSupplyClient
from contactpoint_sdk.supply.outbox import DrainReport, Outbox
from tests import _builders as b
from tests._outbox_worker import (
    AGREEMENT_ID,
    DIRECTORY_URL,
    SUPPLIER_ID,
    make_operation,
    open_directory,
    open_outbox,
    read_keys,
    ref_of,
    rejected_by_directory,
    supply_client,
    write_keys,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WORKER = Path(__file__).with_name("_outbox_worker.py")


# --- An in-memory directory --------------------------------------------------------


class MemoryDirectory:
    """Takes batches as the directory does: a batch ID it knows gets its first
    receipt; a new batch must carry a higher sequence number. ``errors`` are
    raised, one per send, before anything else happens."""

    def __init__(self, *, reject: frozenset[str] = frozenset()) -> None:
        self.reject = reject
        self.sent: list[SupplyBatch] = []
        self.applied: list[str] = []
        self.receipts: dict[str, SupplyReceipt] = {}
        self.last_sequence = 0
        self.errors: list[BaseException] = []
        self.drop_outcomes: frozenset[str] = frozenset()

    def send_batch(self, batch: SupplyBatch) -> SupplyReceipt:
        self.sent.append(batch)
        if self.errors:
            raise self.errors.pop(0)
        if batch.batch_id in self.receipts:
            return self.receipts[batch.batch_id]
        if batch.sequence <= self.last_sequence:
            raise Conflict("out of order", status=409, code="sequence_out_of_order")
        outcomes = []
        for op in batch.operations:
            if op.ref in self.drop_outcomes:
                continue
            if op.ref in self.reject:
                outcomes.append(
                    OperationOutcome(
                        ref=op.ref,
                        status=OutcomeStatus.REJECTED,
                        code="child_not_found",
                        rule="SUP-8",
                        message="no record matches the child key",
                    )
                )
            else:
                self.applied.append(op.ref)
                outcomes.append(OperationOutcome(ref=op.ref, status=OutcomeStatus.ACCEPTED))
        receipt = SupplyReceipt(
            batch_id=batch.batch_id,
            sequence=batch.sequence,
            received_at=T0,
            outcomes=tuple(outcomes),
        )
        self.receipts[batch.batch_id] = receipt
        self.last_sequence = batch.sequence
        return receipt


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(T0)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.sqlite"


@pytest.fixture
def outbox(path: Path, clock: MovableClock) -> Iterator[Outbox]:
    with Outbox(
        path, supplier_id=SUPPLIER_ID, agreement_id=AGREEMENT_ID, clock=clock, max_batch=3
    ) as box:
        yield box


def ops(start: int, stop: int) -> list[AnyOperation]:
    return [make_operation(i) for i in range(start, stop)]


def refs(start: int, stop: int) -> list[str]:
    return [ref_of(i) for i in range(start, stop)]


def sent_refs(batch: SupplyBatch) -> list[str]:
    return [op.ref for op in batch.operations]


def sensitive_without_consent() -> InvolvementStarted:
    return InvolvementStarted(
        ref="inv-start-1",
        child=ChildKey(
            identifiers=SourceIdentifiers(nhs_number=NhsNumber("9434765919")),
            date_of_birth=date(2012, 5, 4),
        ),
        involvement=b.involvement(consent=None),
    )


def row_count(path: Path) -> int:
    with sqlite3.connect(path) as raw:
        return int(raw.execute("SELECT COUNT(*) FROM outbox_operations").fetchone()[0])


# --- Order and batching ----------------------------------------------------------------


def test_sup_6_enqueue_returns_rising_positions_and_drain_sends_in_order(
    outbox: Outbox,
) -> None:
    positions = [outbox.enqueue(op) for op in ops(0, 7)]
    assert positions == [1, 2, 3, 4, 5, 6, 7]
    assert outbox.last_position() == 7
    assert outbox.backlog() == 7

    directory = MemoryDirectory()
    report = outbox.drain(directory)

    assert [sent_refs(batch) for batch in directory.sent] == [
        refs(0, 3),
        refs(3, 6),
        refs(6, 7),
    ]
    assert [batch.sequence for batch in directory.sent] == [1, 2, 3]
    assert len({batch.batch_id for batch in directory.sent}) == 3
    assert {(b.supplier_id, b.agreement_id) for b in directory.sent} == {
        (SUPPLIER_ID, AGREEMENT_ID)
    }
    assert directory.applied == refs(0, 7)
    assert report == DrainReport(batches=3, accepted=7, rejected=0, refused=0, backlog=0)
    assert report.finished
    assert outbox.backlog() == 0
    assert row_count(outbox_path(outbox)) == 0  # delivered operations are not kept


def outbox_path(outbox: Outbox) -> Path:
    return Path(outbox._path)


def test_sup_6_sequence_numbers_continue_across_restarts(path: Path, clock: MovableClock) -> None:
    directory = MemoryDirectory()
    for round_ in range(3):
        with Outbox(
            path, supplier_id=SUPPLIER_ID, agreement_id=AGREEMENT_ID, clock=clock, max_batch=2
        ) as box:
            box.enqueue_many(ops(round_ * 3, round_ * 3 + 3))
            box.drain(directory)
    assert [batch.sequence for batch in directory.sent] == [1, 2, 3, 4, 5, 6]
    assert directory.applied == refs(0, 9)


def test_sup_6_max_batches_limits_one_drain(outbox: Outbox) -> None:
    outbox.enqueue_many(ops(0, 7))
    directory = MemoryDirectory()
    report = outbox.drain(directory, max_batches=1)
    assert (report.batches, report.accepted, report.backlog) == (1, 3, 4)
    assert not report.finished
    assert outbox.drain(directory).backlog == 0
    assert directory.applied == refs(0, 7)


def test_sup_6_a_batch_never_carries_one_ref_twice(outbox: Outbox) -> None:
    # The same source row changed twice: two operations with one ref, sent in
    # order, in two batches (a receipt must map back to one row).
    first, second = make_operation(0), attrs.evolve(make_operation(4), ref=ref_of(0))
    outbox.enqueue_many([first, make_operation(1), second, make_operation(2)])
    directory = MemoryDirectory()
    outbox.drain(directory)
    assert [sent_refs(batch) for batch in directory.sent] == [
        [ref_of(0), ref_of(1)],
        [ref_of(0), ref_of(2)],
    ]
    assert directory.sent[0].operations[0] == first
    assert directory.sent[1].operations[0] == second


def test_sup_6_enqueue_many_is_all_or_nothing(outbox: Outbox, path: Path) -> None:
    with pytest.raises(PolicyRefusal):
        outbox.enqueue_many([make_operation(0), sensitive_without_consent()])
    assert outbox.backlog() == 0
    assert row_count(path) == 0
    assert outbox.enqueue_many([]) == []


def test_sup_6_enqueue_refuses_what_is_not_an_operation(outbox: Outbox) -> None:
    with pytest.raises(TypeError):
        outbox.enqueue(b.record())  # type: ignore[arg-type]


# --- Consent is refused before anything is written (SENS-2) ------------------------------


def test_sens_2_sensitive_involvement_without_consent_is_refused_at_enqueue(
    outbox: Outbox, path: Path
) -> None:
    with pytest.raises(PolicyRefusal) as refused:
        outbox.enqueue(sensitive_without_consent())
    assert refused.value.rule == "SENS-2"
    assert outbox.backlog() == 0
    assert outbox.last_position() == 0
    assert row_count(path) == 0


def test_sens_2_consented_sensitive_involvement_is_enqueued(outbox: Outbox) -> None:
    op = attrs.evolve(sensitive_without_consent(), involvement=b.involvement(consent=b.consent()))
    assert outbox.enqueue(op) == 1
    directory = MemoryDirectory()
    outbox.drain(directory)
    assert directory.sent[0].operations == (op,)


# --- Rejections are parked and do not block -----------------------------------------------


def test_sup_6_rejected_operations_are_parked_and_do_not_block_the_queue(
    outbox: Outbox, clock: MovableClock
) -> None:
    outbox.enqueue_many(ops(0, 8))
    directory = MemoryDirectory(reject=frozenset({ref_of(1), ref_of(6)}))
    clock.advance(timedelta(minutes=1))

    report = outbox.drain(directory)

    assert directory.applied == [r for r in refs(0, 8) if r not in {ref_of(1), ref_of(6)}]
    assert (report.accepted, report.rejected, report.backlog) == (6, 2, 0)
    assert report.finished
    parked = outbox.parked()
    assert [(p.position, p.ref, p.code, p.rule) for p in parked] == [
        (2, ref_of(1), "child_not_found", "SUP-8"),
        (7, ref_of(6), "child_not_found", "SUP-8"),
    ]
    assert parked[0].operation == "child_left_setting"
    assert parked[0].message == "no record matches the child key"
    assert parked[0].enqueued_at == T0
    assert parked[0].parked_at == T0 + timedelta(minutes=1)
    assert outbox.backlog() == 0  # parked operations are not backlog


def test_sup_6_requeued_parked_operations_go_to_the_end_of_the_queue(outbox: Outbox) -> None:
    outbox.enqueue_many(ops(0, 4))
    directory = MemoryDirectory(reject=frozenset({ref_of(1)}))
    outbox.drain(directory)
    outbox.enqueue_many(ops(4, 6))

    directory.reject = frozenset()  # the directory's data was put right
    assert outbox.requeue_parked([ref_of(1), "no-such-ref"]) == 1
    assert outbox.parked() == []
    assert outbox.backlog() == 3
    outbox.drain(directory)

    assert directory.applied == [ref_of(0), ref_of(2), ref_of(3), ref_of(4), ref_of(5), ref_of(1)]
    assert outbox.requeue_parked([]) == 0


def test_sup_6_discarded_parked_operations_are_gone(outbox: Outbox, path: Path) -> None:
    outbox.enqueue_many(ops(0, 3))
    outbox.drain(MemoryDirectory(reject=frozenset({ref_of(0), ref_of(2)})))
    assert outbox.discard_parked([ref_of(2)]) == 1
    assert [p.ref for p in outbox.parked()] == [ref_of(0)]
    assert row_count(path) == 1
    assert outbox.discard_parked([]) == 0


def test_sup_1_an_operation_the_receipt_does_not_answer_is_parked(outbox: Outbox) -> None:
    outbox.enqueue_many(ops(0, 3))
    directory = MemoryDirectory()
    directory.drop_outcomes = frozenset({ref_of(1)})
    report = outbox.drain(directory)
    assert report.rejected == 1
    assert [(p.ref, p.code) for p in outbox.parked()] == [(ref_of(1), "outcome_missing")]


def test_sup_6_a_stored_operation_that_no_longer_decodes_is_parked(
    outbox: Outbox, path: Path
) -> None:
    outbox.enqueue_many(ops(0, 3))
    with sqlite3.connect(path) as raw:  # as if written by an SDK with another wire format
        raw.execute(
            "UPDATE outbox_operations SET body = ? WHERE ref = ?",
            ('{"op": "retired_kind"}', ref_of(1)),
        )
    directory = MemoryDirectory()
    report = outbox.drain(directory)
    assert report.finished
    assert directory.applied == [ref_of(0), ref_of(2)]
    assert [(p.ref, p.code) for p in outbox.parked()] == [(ref_of(1), "outbox_undecodable")]


# --- Backlog and age ---------------------------------------------------------------------


def test_sup_6_backlog_and_oldest_age(outbox: Outbox, clock: MovableClock) -> None:
    assert outbox.backlog() == 0
    assert outbox.oldest_age(clock.now()) is None

    outbox.enqueue(make_operation(0))
    clock.advance(timedelta(minutes=5))
    outbox.enqueue_many(ops(1, 5))
    clock.advance(timedelta(minutes=2))

    assert outbox.backlog() == 5
    assert outbox.oldest_age(clock.now()) == timedelta(minutes=7)
    assert outbox.oldest_age(T0 - timedelta(hours=1)) == timedelta(0)  # never negative

    directory = MemoryDirectory(reject=frozenset({ref_of(0)}))
    outbox.drain(directory, max_batches=1)  # op 0 parked, 1 and 2 delivered
    assert outbox.backlog() == 2
    assert outbox.oldest_age(clock.now()) == timedelta(minutes=2)

    outbox.drain(directory)
    assert outbox.backlog() == 0
    assert outbox.oldest_age(clock.now()) is None  # a parked operation is not waiting


# --- Failures ----------------------------------------------------------------------------


TRANSIENT = [
    TransportFailure("no answer", attempts=5),
    RateLimited("slow down", status=429, retry_after=3.0),
    ServerError("unavailable", status=503),
    ReceiptInvalid("not a receipt", status=200),
]


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: type(e).__name__)
def test_sup_6_transient_failure_keeps_the_batch_and_resends_it_unchanged(
    path: Path, clock: MovableClock, error: ContactPointError
) -> None:
    directory = MemoryDirectory()
    with Outbox(
        path, supplier_id=SUPPLIER_ID, agreement_id=AGREEMENT_ID, clock=clock, max_batch=3
    ) as box:
        box.enqueue_many(ops(0, 5))
        directory.errors = [error]
        report = box.drain(directory)
        assert report.stopped_by is error
        assert (report.batches, report.backlog) == (0, 5)
        assert not report.finished
        box.enqueue_many(ops(5, 6))  # after the batch was formed: a later batch

    clock.advance(timedelta(hours=1))
    # A restart with another batch size and agreement: the open batch is the same batch.
    with Outbox(
        path, supplier_id=SUPPLIER_ID, agreement_id="agreement-8", clock=clock, max_batch=1
    ) as box:
        report = box.drain(directory)

    first, resent, *rest = directory.sent
    assert resent == first  # same batch ID, sequence, created_at, agreement and operations
    assert first.created_at == T0
    assert [sent_refs(batch) for batch in rest] == [[ref_of(3)], [ref_of(4)], [ref_of(5)]]
    assert [batch.sequence for batch in directory.sent] == [1, 1, 2, 3, 4]
    assert {batch.agreement_id for batch in rest} == {"agreement-8"}
    assert directory.applied == refs(0, 6)
    assert report.finished


def test_sup_6_a_batch_the_directory_already_took_is_answered_once(outbox: Outbox) -> None:
    # The directory applied the batch but the answer was lost: the resend is
    # answered with the first receipt and applies nothing again.
    outbox.enqueue_many(ops(0, 3))
    directory = MemoryDirectory()
    receipt = directory.send_batch(outbox._next_batch() or pytest.fail("no batch"))
    report = outbox.drain(directory)
    assert directory.sent[-1].batch_id == receipt.batch_id
    assert directory.applied == refs(0, 3)
    assert (report.batches, report.accepted) == (1, 3)


def test_sup_6_an_unexpected_error_propagates_and_keeps_the_batch(outbox: Outbox) -> None:
    outbox.enqueue_many(ops(0, 2))
    directory = MemoryDirectory()
    directory.errors = [RuntimeError("a bug in the sender")]
    with pytest.raises(RuntimeError):
        outbox.drain(directory)
    assert outbox.backlog() == 2
    outbox.drain(directory)
    assert directory.sent[0] == directory.sent[1]
    assert directory.applied == refs(0, 2)


REFUSALS = [
    BadRequest("malformed", status=400, code="validation_failed"),
    Unauthorized("bad signature", status=401, code="envelope_unknown_key", rule="SUP-5"),
    Forbidden("not accredited", status=403, code="supplier_not_accredited", rule="SUP-3"),
    PayloadTooLarge("too large", status=413),
]


@pytest.mark.parametrize("error", REFUSALS, ids=lambda e: type(e).__name__)
def test_sup_6_a_batch_refused_whole_is_parked_not_retried_forever(
    outbox: Outbox, error: ApiError
) -> None:
    outbox.enqueue_many(ops(0, 5))
    directory = MemoryDirectory()
    directory.errors = [error]

    report = outbox.drain(directory)

    assert report.stopped_by is error  # the drain stops: the cause may refuse every batch
    assert (report.refused, report.backlog) == (3, 2)
    parked = outbox.parked()
    assert [p.ref for p in parked] == refs(0, 3)
    assert {(p.code, p.rule, p.message) for p in parked} == {
        (error.code, error.rule, error.message)
    }

    report = outbox.drain(directory)  # the queue moves on: a new batch, a new sequence
    assert report.finished
    assert [batch.sequence for batch in directory.sent] == [1, 2]
    assert directory.applied == refs(3, 5)

    assert outbox.requeue_parked(p.ref for p in parked) == 3  # after the cause is fixed
    outbox.drain(directory)
    assert directory.applied == refs(3, 5) + refs(0, 3)


def test_sup_6_an_unknown_api_error_keeps_the_batch(outbox: Outbox) -> None:
    outbox.enqueue_many(ops(0, 2))
    directory = MemoryDirectory()
    directory.errors = [ApiError("not found", status=404)]
    report = outbox.drain(directory)
    assert isinstance(report.stopped_by, ApiError)
    assert outbox.parked() == []
    assert outbox.drain(directory).finished
    assert directory.sent[0] == directory.sent[1]


def test_sup_6_out_of_sequence_blocks_until_resequenced(outbox: Outbox) -> None:
    outbox.enqueue_many(ops(0, 5))
    directory = MemoryDirectory()
    directory.last_sequence = 41  # e.g. the outbox file was restored from a backup

    report = outbox.drain(directory)
    assert isinstance(report.stopped_by, Conflict)
    assert outbox.backlog() == 5
    assert outbox.parked() == []
    outbox.drain(directory)
    assert directory.sent[0] == directory.sent[1]  # kept, not parked, not renumbered

    outbox.resequence(after=41)
    report = outbox.drain(directory)

    assert report.finished
    refused, _, renumbered, following = directory.sent
    assert renumbered.sequence == 42
    assert renumbered.batch_id != refused.batch_id
    assert renumbered.operations == refused.operations
    assert following.sequence == 43
    assert directory.applied == refs(0, 5)


def test_sup_6_resequence_refuses_to_renumber_a_batch_that_may_have_been_applied(
    outbox: Outbox,
) -> None:
    outbox.enqueue_many(ops(0, 2))
    directory = MemoryDirectory()
    directory.errors = [ServerError("unavailable", status=503)]
    outbox.drain(directory)
    with pytest.raises(ConfigurationError):
        outbox.resequence(after=10)
    with pytest.raises(ValueError, match="negative"):
        outbox.resequence(after=-1)
    outbox.drain(directory)
    outbox.resequence(after=10)  # nothing open: numbering simply jumps
    outbox.enqueue(make_operation(2))
    outbox.drain(directory)
    assert [batch.sequence for batch in directory.sent] == [1, 1, 11]


def test_sup_1_a_receipt_for_another_batch_is_not_recorded(outbox: Outbox) -> None:
    outbox.enqueue_many(ops(0, 2))

    class Confused(MemoryDirectory):
        def send_batch(self, batch: SupplyBatch) -> SupplyReceipt:
            receipt = super().send_batch(batch)
            return attrs.evolve(receipt, batch_id="someone-else")

    report = outbox.drain(Confused())
    assert isinstance(report.stopped_by, ReceiptInvalid)
    assert outbox.backlog() == 2
    assert outbox.parked() == []


# --- The file ------------------------------------------------------------------------------


def test_sup_6_outbox_is_durable_before_enqueue_returns(outbox: Outbox, path: Path) -> None:
    db = outbox._db
    assert db is not None
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    outbox.enqueue(make_operation(0))
    assert row_count(path) == 1  # another connection sees it at once
    if os.name == "posix":
        assert path.stat().st_mode & 0o077 == 0  # the owner's only: it holds child data


def test_sup_6_an_outbox_belongs_to_one_supplier(path: Path, clock: MovableClock) -> None:
    Outbox(path, supplier_id=SUPPLIER_ID, agreement_id=AGREEMENT_ID, clock=clock).close()
    with pytest.raises(ConfigurationError) as wrong:
        Outbox(path, supplier_id="other-supplier", agreement_id=AGREEMENT_ID, clock=clock)
    assert wrong.value.code == "outbox_supplier_mismatch"


def test_sup_6_a_file_from_a_newer_sdk_is_not_touched(path: Path, clock: MovableClock) -> None:
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA user_version = 99")
    with pytest.raises(ConfigurationError) as newer:
        Outbox(path, supplier_id=SUPPLIER_ID, agreement_id=AGREEMENT_ID, clock=clock)
    assert newer.value.code == "outbox_schema_newer"


def test_sup_6_closed_outbox_refuses_work(path: Path, clock: MovableClock) -> None:
    box = Outbox(path, supplier_id=SUPPLIER_ID, agreement_id=AGREEMENT_ID, clock=clock)
    box.close()
    box.close()
    with pytest.raises(ConfigurationError):
        box.enqueue(make_operation(0))
    with pytest.raises(ValueError, match="max_batch"):
        Outbox(path, supplier_id=SUPPLIER_ID, agreement_id=AGREEMENT_ID, clock=clock, max_batch=0)


def test_sup_6_a_bad_agreement_id_forms_no_batch(path: Path, clock: MovableClock) -> None:
    with Outbox(path, supplier_id=SUPPLIER_ID, agreement_id="bad id!", clock=clock) as box:
        box.enqueue(make_operation(0))
        with pytest.raises(ContactPointError):
            box.drain(MemoryDirectory())
    with Outbox(path, supplier_id=SUPPLIER_ID, agreement_id=AGREEMENT_ID, clock=clock) as box:
        directory = MemoryDirectory()
        box.drain(directory)
        assert directory.sent[0].sequence == 1  # nothing was consumed by the failure


def test_sup_1_logs_never_carry_child_data(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="contactpoint_sdk")
    outbox.enqueue_many(ops(0, 5))
    directory = MemoryDirectory(reject=frozenset({ref_of(0)}))
    directory.errors = [ServerError("unavailable", status=503)]
    outbox.drain(directory)
    outbox.drain(directory)
    text = caplog.text
    assert "parked" in text
    assert ref_of(0) in text
    for child_data in ("Taylor", "High Street", "LS1 4AP", "9434765919", "2012-05-04"):
        assert child_data not in text


def test_sup_6_concurrent_drainers_deliver_each_operation_once(
    path: Path, clock: MovableClock
) -> None:
    with Outbox(
        path, supplier_id=SUPPLIER_ID, agreement_id=AGREEMENT_ID, clock=clock, max_batch=2
    ) as box:
        box.enqueue_many(ops(0, 40))
    directory = MemoryDirectory()
    lock = threading.Lock()

    class Slow:
        def send_batch(self, batch: SupplyBatch) -> SupplyReceipt:
            time.sleep(0.001)
            with lock:
                return directory.send_batch(batch)

    def drain() -> None:
        with Outbox(
            path, supplier_id=SUPPLIER_ID, agreement_id=AGREEMENT_ID, clock=clock, max_batch=2
        ) as mine:
            mine.drain(Slow())

    threads = [threading.Thread(target=drain) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert directory.applied == refs(0, 40)
    with Outbox(path, supplier_id=SUPPLIER_ID, agreement_id=AGREEMENT_ID, clock=clock) as box:
        assert box.backlog() == 0


async def test_sup_6_drain_async_with_an_async_sender(outbox: Outbox) -> None:
    outbox.enqueue_many(ops(0, 5))
    directory = MemoryDirectory(reject=frozenset({ref_of(2)}))
    directory.errors = [ServerError("unavailable", status=503)]

    class AsyncSender:
        async def send_batch(self, batch: SupplyBatch) -> SupplyReceipt:
            await asyncio.sleep(0)
            return directory.send_batch(batch)

    report = await outbox.drain_async(AsyncSender())
    assert isinstance(report.stopped_by, ServerError)
    report = await outbox.drain_async(AsyncSender(), max_batches=1)
    assert (report.batches, report.backlog) == (1, 2)
    report = await outbox.drain_async(AsyncSender())
    assert report.finished
    assert directory.applied == [r for r in refs(0, 5) if r != ref_of(2)]
    assert [p.ref for p in outbox.parked()] == [ref_of(2)]

    directory.errors = [RuntimeError("bug")]
    outbox.enqueue(make_operation(5))
    with pytest.raises(RuntimeError):
        await outbox.drain_async(AsyncSender())
    assert outbox.backlog() == 1


# --- Through the real SupplyClient ------------------------------------------------------


class Scripted(random.Random):
    """Fault draws from a script: each ``random()`` is the next value (then 1.0)."""

    def __init__(self, values: list[float]) -> None:
        super().__init__(0)
        self.values = values

    def random(self) -> float:
        return self.values.pop(0) if self.values else 1.0


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    write_keys(tmp_path)
    return tmp_path


def test_sup_6_outbox_through_the_supply_client_sealed_and_deduplicated(workdir: Path) -> None:
    # Each request draws for a 503 before applying, then (for a new batch) for
    # dropping the connection after applying. Batch 1: applied, connection
    # dropped; the client's two retries get 503s; the drain stops with the
    # batch open although the directory took it.
    faults = Scripted([1.0, 0.0, 0.0, 0.0])
    directory = open_directory(workdir, faults=faults, fault_rate=0.5)
    try:
        with open_outbox(workdir, max_batch=4) as box, supply_client(workdir, directory) as client:
            box.enqueue_many(ops(0, 10))
            report = box.drain(client)
            assert isinstance(report.stopped_by, ServerError)
            assert report.backlog == 10
            assert [ref for ref, _, _ in directory.applied()] == refs(0, 4)

        # A new process: the open batch goes first, answered with its first receipt.
        with open_outbox(workdir, max_batch=4) as box, supply_client(workdir, directory) as client:
            report = box.drain(client)
            assert report.finished
            assert directory.resends() == 1

            applied = directory.applied()
            expected = [r for r in refs(0, 10) if not rejected_by_directory(r)]
            assert [ref for ref, _, _ in applied] == expected
            assert directory.batch_sequences() == [1, 2, 3]
            assert [p.ref for p in box.parked()] == [ref_of(7)]
            assert box.parked()[0].rule == "SUP-8"
            assert directory.violations() == 0
    finally:
        directory.close()


async def test_sup_6_outbox_drains_through_the_async_supply_client(workdir: Path) -> None:
    signing, encryption = read_keys(workdir)
    directory = open_directory(workdir)
    try:
        async with AsyncSupplyClient(
            base_url=DIRECTORY_URL,
            supplier_id=SUPPLIER_ID,
            agreement_id=AGREEMENT_ID,
            signing_key=signing,
            directory_key=encryption.public_key(),
            transport=directory.transport(),
        ) as client:
            with open_outbox(workdir, max_batch=3) as box:
                box.enqueue_many(ops(0, 8))
                report = await box.drain_async(client)
        assert report == DrainReport(batches=3, accepted=7, rejected=1, refused=0, backlog=0)
        assert [ref for ref, _, _ in directory.applied()] == [
            r for r in refs(0, 8) if not rejected_by_directory(r)
        ]
    finally:
        directory.close()


# --- Killed at any instant -------------------------------------------------------------------

KILL_ROUNDS = 25
OPERATIONS = 400
#: Markers the worker prints; a targeted round kills just after one of them.
TARGETS = ("enq", "formed", "apply", "applied")


class _Worker:
    """A worker process and the marker lines it has printed so far."""

    def __init__(self, workdir: Path, *, seed: int, stderr: IO[bytes]) -> None:
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [
                sys.executable,
                str(WORKER),
                str(workdir),
                "--count",
                str(OPERATIONS),
                "--seed",
                str(seed),
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._seen:
                self.lines.append(line.strip())
                self._seen.notify_all()
        with self._seen:
            self._seen.notify_all()

    def wait_for(self, marker: str, *, times: int = 1, timeout: float = 10.0) -> bool:
        """Until ``marker`` has been printed ``times`` times (False if the worker ended)."""
        deadline = time.monotonic() + timeout
        with self._seen:
            while True:
                if sum(1 for line in self.lines if line.split()[0] == marker) >= times:
                    return True
                if not self._reader.is_alive() or time.monotonic() > deadline:
                    return False
                self._seen.wait(0.05)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._reader.join(timeout=10)

    def finish(self, timeout: float) -> int | None:
        """The exit code, or None (and the worker killed) if it ran past ``timeout``."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        self._reader.join(timeout=10)
        return code


def _landed(lines: list[str]) -> str:
    """Where a kill landed, from the last boundary the worker passed."""
    last = lines[-1].split()[0] if lines else "start"
    return {
        "enq": "during an enqueue",
        "formed": "batch formed and committed, not yet at the directory",
        "apply": "inside the directory's transaction",
        "applied": "directory applied it, outbox had not recorded the receipt",
        "done": "after the end",
    }.get(last, "between steps (forming, recording, idle)")


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sup_6_outbox_killed_at_random_instants_delivers_each_operation_once_in_order(
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("OUTBOX_CRASH_SEED", random.randrange(2**31)))
    rng = random.Random(seed)
    note = f"(reproduce with OUTBOX_CRASH_SEED={seed})"
    write_keys(tmp_path)
    landed: Counter[str] = Counter()
    acknowledged = -1  # the highest index whose enqueue returned in a killed run
    with (tmp_path / "worker.log").open("wb") as log:
        for round_ in range(KILL_ROUNDS):
            worker = _Worker(tmp_path, seed=rng.randrange(2**31), stderr=log)
            try:
                assert worker.wait_for("ready"), f"worker did not start {note}"
                if round_ % 2 == 0:  # aimed just past one of the risky boundaries
                    target = TARGETS[(round_ // 2) % len(TARGETS)]
                    worker.wait_for(target, times=rng.randint(1, 3), timeout=2.0)
                    time.sleep(rng.uniform(0, 0.001))
                else:  # anywhere at all
                    time.sleep(rng.uniform(0, 0.15))
            finally:
                worker.kill()
            lines = worker.lines
            resume = int(next(line for line in lines if line.startswith("resume")).split()[1])
            # Nothing whose enqueue returned was lost: the restart resumes after it.
            assert resume > acknowledged, f"{lines[:3]} {note}"
            for line in lines:
                if line.startswith("enq-ok"):
                    acknowledged = max(acknowledged, int(line.split()[1]))
            assert not any(line.startswith("error") for line in lines), f"{lines[-3:]} {note}"
            landed[_landed(lines)] += 1
            if "done" in lines:
                break

        final = _Worker(tmp_path, seed=rng.randrange(2**31), stderr=log)
        assert final.finish(timeout=30) == 0, f"{final.lines[-5:]} {note}"
        assert final.lines[-1] == "done"

    directory = open_directory(tmp_path)
    try:
        applied = directory.applied()
        expected = [ref_of(i) for i in range(OPERATIONS) if not rejected_by_directory(ref_of(i))]
        # Every operation applied exactly once, in enqueue order.
        assert [ref for ref, _, _ in applied] == expected, note
        # Every rejection happened once, and left the operation parked, not blocking.
        rejected = [ref_of(i) for i in range(OPERATIONS) if rejected_by_directory(ref_of(i))]
        assert directory.rejected() == rejected, note
        # No new batch ever came with a sequence number at or below the last one.
        assert directory.violations() == 0, note
        sequences = directory.batch_sequences()
        assert sequences == sorted(set(sequences)), note
        with open_outbox(tmp_path) as box:
            assert box.backlog() == 0
            assert [p.ref for p in box.parked()] == rejected
            assert box.last_position() == OPERATIONS
        resent_after_restart = directory.resends(after_restart=True)
    finally:
        directory.close()

    summary = ", ".join(f"{count} {where}" for where, count in sorted(landed.items()))
    print(
        f"\n{sum(landed.values())} kills: {summary}; "
        f"{resent_after_restart} batches resent after a restart and deduplicated {note}"
    )
