"""A fake directory that keeps its own books on disk, and a worker process that
feeds an outbox and drains it into that directory — to be killed (SUP-6).

:class:`FakeDirectory` is a supply endpoint behind ``httpx.MockTransport``: it
opens the envelope (the SDK's own opener), decodes the batch strictly, and in
ONE SQLite transaction either answers a batch ID it knows with its first
receipt, or refuses a new batch whose sequence is not above the last one
applied (409, recorded as a violation), or applies the batch's operations and
stores its receipt. Faults can be injected: a 503 before applying, or the
connection dropped after applying (the receipt is lost, the batch was taken).

Run as a script, the worker opens the outbox and the directory in ``workdir``,
then until every one of ``--count`` operations is enqueued and delivered:
enqueues a few (continuing from the outbox's last position, so a restart
neither skips nor repeats one), or drains one batch through the real
:class:`~contactpoint_sdk.supply.client.SupplyClient`. It prints a marker line
at every boundary, so a parent that SIGKILLs it knows where the kill landed:

``ready``, ``resume <next index>``, ``enq <i>`` / ``enq-ok <i>`` around each
enqueue, ``formed <seq>`` once a batch is committed and handed to the client,
``apply <seq>`` / ``applied <seq>`` around the directory's transaction,
``settled`` when a drain step returned, ``done`` at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from contactpoint_sdk.clock import Clock, SystemClock
from contactpoint_sdk.errors import Conflict, ContactPointError
from contactpoint_sdk.models.codec import WireCodec
from contactpoint_sdk.models.contact import Postcode
from contactpoint_sdk.models.enums import Gender
from contactpoint_sdk.models.identifiers import NhsNumber
from contactpoint_sdk.models.operations import (
    AnyOperation,
    ChildKey,
    ChildLeftSetting,
    InvolvementChanged,
    InvolvementEnded,
    OperationOutcome,
    OutcomeStatus,
    SuppliedChild,
    SupplyBatch,
    SupplyReceipt,
)
from contactpoint_sdk.models.record import Address, PersonName, SourceIdentifiers
from contactpoint_sdk.supply.batch import decode_batch
from contactpoint_sdk.supply.client import SUPPLY_PATH, SupplyClient
from contactpoint_sdk.supply.envelope import EnvelopeOpener
from contactpoint_sdk.supply.keys import EncryptionKey, PublicKeySet, SigningKey
from contactpoint_sdk.supply.outbox import BatchSender, Outbox
from contactpoint_sdk.supply.retry import RetryPolicy

SUPPLIER_ID = "cms-vendor-1"
AGREEMENT_ID = "agreement-7"
DIRECTORY_URL = "https://directory.test/"
_BORN = date(2012, 5, 4)

Emit = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def ref_of(i: int) -> str:
    return f"op-{i:05d}"


def index_of(ref: str) -> int:
    return int(ref.removeprefix("op-"))


def rejected_by_directory(ref: str) -> bool:
    """The fake directory rejects these operations one by one (SUP-8)."""
    return index_of(ref) % 13 == 7 if ref.startswith("op-") else False


def make_operation(i: int) -> AnyOperation:
    """Operation ``i`` of the stream, of one of four kinds; its ref is ``op-<i>``."""
    child = ChildKey(
        identifiers=SourceIdentifiers(nhs_number=NhsNumber("9434765919")), date_of_birth=_BORN
    )
    ref = ref_of(i)
    kind = i % 4
    if kind == 0:
        return SuppliedChild(
            ref=ref,
            name=PersonName(given_name="Sam", family_name=f"Taylor{'x' * (i % 5)}"),
            gender=Gender.NOT_KNOWN,
            date_of_birth=_BORN,
            address=Address(
                lines=(f"{i} High Street",), town="Leeds", postcode=Postcode("LS1 4AP")
            ),
            identifiers=SourceIdentifiers(nhs_number=NhsNumber("9434765919")),
        )
    if kind == 1:
        return ChildLeftSetting(ref=ref, child=child, left_on=date(2025, 7, 1 + i % 28))
    if kind == 2:
        return InvolvementChanged(
            ref=ref, child=child, involvement_reference=f"INV-{i}", lead_professional=True
        )
    return InvolvementEnded(
        ref=ref, child=child, involvement_reference=f"INV-{i}", ended_on=date(2025, 8, 1)
    )


def _problem(status: int, code: str, detail: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={
            "type": "about:blank",
            "title": code,
            "status": status,
            "detail": detail,
            "code": code,
        },
        headers={"Content-Type": "application/problem+json", "Retry-After": "0"},
    )


class FakeDirectory:
    """The supply endpoint of a directory, with its books in its own SQLite file.

    ``fault_rate``: the chance of a 503 before applying, and (separately) of the
    connection dropping after applying; ``faults`` draws them.
    """

    def __init__(
        self,
        path: Path,
        *,
        decryption_key: EncryptionKey,
        supplier_keys: PublicKeySet,
        clock: Clock,
        faults: random.Random | None = None,
        fault_rate: float = 0.0,
        emit: Emit = _quiet,
        pause: float = 0.0,
    ) -> None:
        self._opener = EnvelopeOpener(
            decryption_keys={decryption_key.kid: decryption_key},
            supplier_keys=supplier_keys,
            clock=clock,
        )
        self._clock = clock
        self._codec = WireCodec(clock)
        self._faults = faults or random.Random(0)
        self._fault_rate = fault_rate
        self._emit = emit
        self._pause = pause
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS batches (
                batch_id TEXT PRIMARY KEY, sequence INTEGER NOT NULL, receipt TEXT NOT NULL,
                pid INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS applied (
                n INTEGER PRIMARY KEY AUTOINCREMENT, ref TEXT NOT NULL,
                batch_id TEXT NOT NULL, sequence INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS rejected (
                n INTEGER PRIMARY KEY AUTOINCREMENT, ref TEXT NOT NULL, batch_id TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS violations (
                n INTEGER PRIMARY KEY AUTOINCREMENT, batch_id TEXT NOT NULL,
                sequence INTEGER NOT NULL, last INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS resends (
                n INTEGER PRIMARY KEY AUTOINCREMENT, batch_id TEXT NOT NULL,
                after_restart INTEGER NOT NULL);
            """
        )

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def close(self) -> None:
        self._db.close()

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.method != "POST" or request.url.path != SUPPLY_PATH:
            return _problem(404, "not_found", "no such route")
        opened = self._opener.open(request.content.decode("ascii"))
        batch = decode_batch(opened.payload, self._codec)
        header = batch.header
        if self._faults.random() < self._fault_rate:
            return _problem(503, "unavailable", "try later")
        self._emit(f"apply {header.sequence}")
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            known = db.execute(
                "SELECT receipt, pid FROM batches WHERE batch_id = ?", (header.batch_id,)
            ).fetchone()
            if known is not None:
                db.execute(
                    "INSERT INTO resends (batch_id, after_restart) VALUES (?, ?)",
                    (header.batch_id, int(known[1] != os.getpid())),
                )
                db.execute("COMMIT")
                return self._receipt_response(known[0])
            last = db.execute("SELECT COALESCE(MAX(sequence), 0) FROM batches").fetchone()[0]
            if header.sequence <= last:
                db.execute(
                    "INSERT INTO violations (batch_id, sequence, last) VALUES (?, ?, ?)",
                    (header.batch_id, header.sequence, last),
                )
                db.execute("COMMIT")
                return _problem(409, "sequence_out_of_order", "sequence not above the last")
            outcomes = []
            for item in batch.operations:
                assert item.ref is not None
                assert item.operation is not None, item.problems
                if rejected_by_directory(item.ref):
                    db.execute(
                        "INSERT INTO rejected (ref, batch_id) VALUES (?, ?)",
                        (item.ref, header.batch_id),
                    )
                    outcomes.append(
                        OperationOutcome(
                            ref=item.ref,
                            status=OutcomeStatus.REJECTED,
                            code="child_not_found",
                            rule="SUP-8",
                            message="no record matches the child key",
                        )
                    )
                else:
                    db.execute(
                        "INSERT INTO applied (ref, batch_id, sequence) VALUES (?, ?, ?)",
                        (item.ref, header.batch_id, header.sequence),
                    )
                    outcomes.append(OperationOutcome(ref=item.ref, status=OutcomeStatus.ACCEPTED))
            receipt = SupplyReceipt(
                batch_id=header.batch_id,
                sequence=header.sequence,
                received_at=self._clock.now(),
                outcomes=tuple(outcomes),
            )
            body = json.dumps(self._codec.encode(receipt))
            db.execute(
                "INSERT INTO batches (batch_id, sequence, receipt, pid) VALUES (?, ?, ?, ?)",
                (header.batch_id, header.sequence, body, os.getpid()),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._emit(f"applied {header.sequence}")
        if self._pause:
            time.sleep(self._pause)  # the answer is on its way back
        if self._faults.random() < self._fault_rate:
            raise httpx.ReadError("connection reset after the batch was applied", request=request)
        return self._receipt_response(body)

    @staticmethod
    def _receipt_response(body: str) -> httpx.Response:
        return httpx.Response(
            200, content=body.encode(), headers={"Content-Type": "application/json"}
        )

    # --- The books, for assertions ------------------------------------------------

    def applied(self) -> list[tuple[str, str, int]]:
        """(ref, batch_id, sequence) of every operation applied, in order."""
        return list(self._db.execute("SELECT ref, batch_id, sequence FROM applied ORDER BY n"))

    def rejected(self) -> list[str]:
        return [ref for (ref,) in self._db.execute("SELECT ref FROM rejected ORDER BY n")]

    def batch_sequences(self) -> list[int]:
        """Sequence numbers of the batches applied, in the order they were applied."""
        return [s for (s,) in self._db.execute("SELECT sequence FROM batches ORDER BY rowid")]

    def violations(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM violations").fetchone()[0])

    def resends(self, *, after_restart: bool = False) -> int:
        """Batches sent again and answered with their first receipt (only those
        first sent by a process that has since died, if ``after_restart``)."""
        (count,) = self._db.execute(
            "SELECT COUNT(*) FROM resends WHERE after_restart >= ?", (int(after_restart),)
        ).fetchone()
        return int(count)


def write_keys(workdir: Path) -> None:
    """The supplier's signing key and the directory's encryption key, as JWK files."""
    (workdir / "supplier.jwk").write_text(json.dumps(SigningKey.generate().private_jwk()))
    (workdir / "directory.jwk").write_text(json.dumps(EncryptionKey.generate().private_jwk()))


def read_keys(workdir: Path) -> tuple[SigningKey, EncryptionKey]:
    signing = SigningKey.from_jwk(json.loads((workdir / "supplier.jwk").read_text()))
    encryption = EncryptionKey.from_jwk(json.loads((workdir / "directory.jwk").read_text()))
    return signing, encryption


def open_directory(workdir: Path, **options: Any) -> FakeDirectory:
    signing, encryption = read_keys(workdir)
    return FakeDirectory(
        workdir / "directory.sqlite",
        decryption_key=encryption,
        supplier_keys=PublicKeySet([signing.public_key()]),
        clock=SystemClock(),
        **options,
    )


def open_outbox(workdir: Path, *, max_batch: int = 500) -> Outbox:
    return Outbox(
        workdir / "outbox.sqlite",
        supplier_id=SUPPLIER_ID,
        agreement_id=AGREEMENT_ID,
        clock=SystemClock(),
        max_batch=max_batch,
    )


def supply_client(workdir: Path, directory: FakeDirectory) -> SupplyClient:
    signing, encryption = read_keys(workdir)
    return SupplyClient(
        base_url=DIRECTORY_URL,
        supplier_id=SUPPLIER_ID,
        agreement_id=AGREEMENT_ID,
        signing_key=signing,
        directory_key=encryption.public_key(),
        retry=RetryPolicy(max_attempts=3, initial_wait=0.0, jitter=0.0, max_wait=0.0),
        transport=directory.transport(),
    )


class _Announcing:
    """Says when the outbox hands over a batch it has formed and committed."""

    def __init__(self, sender: BatchSender, emit: Emit, pause: float) -> None:
        self._sender = sender
        self._emit = emit
        self._pause = pause

    def send_batch(self, batch: SupplyBatch) -> SupplyReceipt:
        self._emit(f"formed {batch.sequence}")
        if self._pause:
            time.sleep(self._pause)  # the request is on its way
        return self._sender.send_batch(batch)


def _emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run(workdir: Path, *, count: int, seed: int, fault_rate: float) -> None:
    rng = random.Random(seed)
    directory = open_directory(
        workdir, faults=random.Random(seed + 1), fault_rate=fault_rate, emit=_emit, pause=0.003
    )
    # The batch size changes between runs: an open batch is still rebuilt as formed.
    with (
        open_outbox(workdir, max_batch=rng.choice([1, 2, 3, 5, 8])) as outbox,
        supply_client(workdir, directory) as client,
    ):
        sender = _Announcing(client, _emit, pause=0.001)
        following = outbox.last_position()  # positions are 1, 2, 3...: the next index
        _emit("ready")
        _emit(f"resume {following}")
        while True:
            if following < count and rng.random() < 0.5:
                many = rng.randint(1, 4)
                chunk = range(following, min(count, following + many))
                if rng.random() < 0.5:
                    for i in chunk:
                        _emit(f"enq {i}")
                        outbox.enqueue(make_operation(i))
                        _emit(f"enq-ok {i}")
                else:
                    _emit(f"enq {chunk[0]}")
                    outbox.enqueue_many(make_operation(i) for i in chunk)
                    _emit(f"enq-ok {chunk[-1]}")
                following = chunk[-1] + 1
            else:
                report = outbox.drain(sender, max_batches=1)
                _emit("settled")
                if isinstance(report.stopped_by, Conflict):  # a bug: never wait for it
                    raise report.stopped_by
                if following >= count and report.finished:
                    break
            time.sleep(rng.uniform(0, 0.002))
    directory.close()
    _emit("done")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fault-rate", type=float, default=0.05)
    args = parser.parse_args(argv)
    try:
        run(args.workdir, count=args.count, seed=args.seed, fault_rate=args.fault_rate)
    except ContactPointError as error:  # pragma: no cover - shown to the parent test
        print(f"error {type(error).__name__}: {error}", file=sys.stderr)
        _emit(f"error {error.code}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
