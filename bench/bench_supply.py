"""Records per second for building and sealing synthetic supplies, and opening them.

Usage::

    python bench/bench_supply.py             # 100,000 records (issue 4, item 7)
    python bench/bench_supply.py 20000

Prints the machine (date, platform, CPU model and count, Python version),
then, on one core, the time and records per second of each stage:

supplier side ("built and sealed"; goal >= 50,000 records/s)

1. ``build``: a :class:`SuppliedChild` operation from each synthetic record
   (the model's constructors, so every check runs);
2. ``batch``: :class:`BatchBuilder` (500 operations a batch), which also
   runs the consent rules on each operation (SENS-2, SENS-3);
3. ``encode``: :func:`encode_batch`, the wire codec then compact JSON;
4. ``seal``: :func:`supply.envelope.seal`, signed with a generated
   :class:`SigningKey`, encrypted to a generated :class:`EncryptionKey`;

directory side ("opened")

5. ``open``: :class:`EnvelopeOpener` decrypts and verifies each envelope;
6. ``decode``: :func:`decode_batch`, JSON then the strict wire codec.

The synthetic records are generated first, untimed (``bench_synthetic.py``
times that), and frozen out of the garbage collector's view; then they are
supplied and sealed a batch at a time, as a supplier streams them, keeping
only the envelopes; then each envelope is opened and decoded in turn.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from _machine import print_machine

from contactpoint_sdk.clock import FixedClock
from contactpoint_sdk.models import ChildRecord, WireCodec
from contactpoint_sdk.models.operations import SuppliedChild, SupplyBatch
from contactpoint_sdk.supply.batch import BatchBuilder, decode_batch, encode_batch
from contactpoint_sdk.supply.envelope import EnvelopeOpener, seal
from contactpoint_sdk.supply.keys import EncryptionKey, PublicKeySet, SigningKey
from contactpoint_sdk.synthetic import Population

TODAY = date(2026, 3, 1)
NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
SEALED_TARGET = 50_000
BATCH_SIZE = 500

R = TypeVar("R")


def supplied(i: int, record: ChildRecord) -> SuppliedChild:
    """The source's view of a record: everything but the directory's own fields."""
    return SuppliedChild(
        ref=f"row-{i:07d}",
        name=record.name,
        gender=record.gender,
        date_of_birth=record.date_of_birth,
        address=record.address,
        identifiers=record.identifiers,
        parents=record.parents,
        involvements=record.involvements,
    )


def supply_rows(first: int, records: list[ChildRecord]) -> list[SuppliedChild]:
    return [supplied(first + i, record) for i, record in enumerate(records)]


class Stages:
    """Adds up the time of named stages; prints each with records per second."""

    def __init__(self) -> None:
        self.records = 0
        self.seconds: dict[str, float] = {}

    def run(self, name: str, stage: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """``stage(*args, **kwargs)``, its time added to ``name``'s."""
        started = time.perf_counter()
        result = stage(*args, **kwargs)
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
        return result

    def rate(self, names: Sequence[str]) -> float:
        return self.records / sum(self.seconds[name] for name in names)

    def report(self, title: str, names: Sequence[str]) -> None:
        print(title)
        for name in names:
            seconds = self.seconds[name]
            print(f"  {name:8} {seconds:7.2f} s  {self.records / seconds:10,.0f} records/s")
        total = sum(self.seconds[name] for name in names)
        print(f"  {'total':8} {total:7.2f} s  {self.records / total:10,.0f} records/s")


SUPPLIER = ("build", "batch", "encode", "seal")
DIRECTORY = ("open", "decode")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=100_000, help="records to supply")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--gc-paused",
        action="store_true",
        help="switch the garbage collector off while the stages run, to show its share",
    )
    args = parser.parse_args(argv)

    print_machine()
    records = list(Population(args.seed, today=TODAY).children(args.n))
    # The records are the supplier's source data, which a real supplier reads
    # from its database rather than holding as Python objects: freeze them out
    # of the garbage collector's view, so that it does not walk them (and the
    # generator's caches) again and again while the stages run.
    gc.collect()
    gc.freeze()
    if args.gc_paused:
        gc.disable()
    clock = FixedClock(NOW)
    codec = WireCodec(clock=clock)
    supplier, directory = SigningKey.generate(), EncryptionKey.generate()
    builder = BatchBuilder(
        supplier_id="bench-supplier",
        agreement_id="bench-agreement",
        clock=clock,
        max_operations=BATCH_SIZE,
    )
    opener = EnvelopeOpener(
        decryption_keys={directory.kid: directory},
        supplier_keys=PublicKeySet([supplier.public_key()]),
        clock=clock,
    )

    sealing: dict[str, Any] = {
        "signing_key": supplier,
        "recipient": directory.public_key(),
        "now": NOW,
    }

    # A batch at a time, as a supplier streams them: only the envelopes are kept.
    stages = Stages()
    tokens: list[str] = []
    payload_bytes = 0
    while stages.records < args.n:
        rows = records[stages.records : stages.records + BATCH_SIZE]
        operations = stages.run("build", supply_rows, stages.records, rows)
        batches: list[SupplyBatch] = stages.run("batch", list, builder.build(operations))
        (batch,) = batches
        payload = stages.run("encode", encode_batch, batch, codec)
        token = stages.run("seal", seal, payload, **sealing)
        tokens.append(token)
        stages.records += len(rows)
        payload_bytes += len(payload)

    refused = 0
    for token in tokens:
        opened = stages.run("open", opener.open, token)
        decoded = stages.run("decode", decode_batch, opened.payload, codec, today=TODAY)
        refused += sum(1 for op in decoded.operations if op.problems)
    if refused:  # pragma: no cover - a sanity check
        raise SystemExit(f"round trip failed: {refused} operations refused")

    print(
        f"records:  {stages.records:,} in {len(tokens):,} batches of up to {BATCH_SIZE}; "
        f"{payload_bytes / stages.records:,.0f} bytes of JSON a record"
    )
    print(f"gc:       {'paused' if args.gc_paused else 'on'} while the stages ran")
    stages.report("supplier: built and sealed", SUPPLIER)
    stages.report("directory: opened", DIRECTORY)
    for what, names in (("sealed", ("seal",)), ("built and sealed", SUPPLIER)):
        rate = stages.rate(names)
        verdict = "meets" if rate >= SEALED_TARGET else "MISSES"
        print(f"goal:     {verdict} {SEALED_TARGET:,} records/s {what} ({rate:,.0f}/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
