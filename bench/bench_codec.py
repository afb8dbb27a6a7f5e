"""How fast the one wire codec encodes and decodes synthetic child records.

Usage::

    python bench/bench_codec.py               # 20,000 records, best of 3
    python bench/bench_codec.py 50000 --repeat 5

Prints the machine (date, platform, CPU model and count, Python version),
then records per second on one core for:

* ``encode``: ``WireCodec.encode(record)``, model to JSON-ready dict;
* ``decode``: ``WireCodec.decode(data, ChildRecord)``, JSON-ready dict to a
  fully validated model;
* ``json round trip``: encode, ``json.dumps``, ``json.loads``, decode: what a
  record costs between a model and JSON text and back;

and for the supply (issue 10), the same records as ``SuppliedChild`` operations:

* ``decode SuppliedChild``: ``WireCodec.decode_operation`` of each operation
  as read from JSON text (fresh strings, as the directory reads them);
* ``unstructure SuppliedChild``: ``converter.unstructure(op,
  unstructure_as=AnyOperation)``, model to JSON-ready dict;
* ``unstructure ChildRecord``: ``converter.unstructure(record,
  unstructure_as=ChildRecord)``, as the directory stores a record;
* ``encode_batch`` and ``decode_batch``: 500-operation batches, model to
  payload bytes and payload bytes to decoded operations, per operation.

These run with the collector tuned as the directory tunes it (what is alive
frozen, a youngest generation of 50,000), so they measure the codec rather
than full collections scanning the bench's own lists. ``--cprofile`` prints
where the time of ``decode SuppliedChild`` goes.

Targets (issue 4): encode >= 50,000 records/s, decode >= 15,000 records/s.
The records come from the seeded synthetic population, so runs compare.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from _machine import print_machine

from contactpoint_sdk.models import ChildRecord, WireCodec
from contactpoint_sdk.models.operations import AnyOperation, SuppliedChild, SupplyBatch
from contactpoint_sdk.supply.batch import decode_batch, encode_batch
from contactpoint_sdk.synthetic import Population

TODAY = date(2026, 3, 1)
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ENCODE_TARGET = 50_000
DECODE_TARGET = 15_000


def best_rate(run: Callable[[], object], n: int, repeat: int) -> float:
    """Records per second of ``run`` (which handles ``n`` records), best of ``repeat``."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return n / best


def report(name: str, per_second: float, target: int | None = None) -> None:
    line = f"{name:27} {per_second:10,.0f} records/s ({1e6 / per_second:6.1f} us/record)"
    if target is not None:
        verdict = "meets" if per_second >= target else "MISSES"
        line += f"  {verdict} the {target:,}/s target"
    print(line)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=20_000, help="records per pass")
    parser.add_argument("--repeat", type=int, default=3, help="passes; the best one counts")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--cprofile", action="store_true", help="profile decode SuppliedChild")
    args = parser.parse_args(argv)

    print_machine()
    codec = WireCodec()
    records = list(Population(args.seed, today=TODAY).children(args.n))
    wire: list[Any] = [codec.encode(r) for r in records]
    texts = [json.dumps(w, separators=(",", ":"), ensure_ascii=False) for w in wire]
    for record, data in zip(records[:500], wire, strict=False):
        if codec.decode(data, ChildRecord, today=TODAY) != record:  # pragma: no cover
            raise SystemExit("round trip failed")
    size = sum(len(t.encode()) for t in texts) / len(texts)
    print(f"records:  {args.n:,} synthetic ChildRecords, {size:,.0f} bytes of JSON each")

    encode = codec.encode
    decode = codec.decode
    dumps, loads = json.dumps, json.loads

    def encode_all() -> None:
        for record in records:
            encode(record)

    def decode_all() -> None:
        for data in wire:
            decode(data, ChildRecord, today=TODAY)

    def round_trip_all() -> None:
        for record in records:
            text = dumps(encode(record), separators=(",", ":"), ensure_ascii=False)
            decode(loads(text), ChildRecord, today=TODAY)

    def dumps_all() -> None:
        for data in wire:
            dumps(data, separators=(",", ":"), ensure_ascii=False)

    def loads_all() -> None:
        for text in texts:
            loads(text)

    report("encode", best_rate(encode_all, args.n, args.repeat), ENCODE_TARGET)
    report("decode", best_rate(decode_all, args.n, args.repeat), DECODE_TARGET)
    report("json round trip", best_rate(round_trip_all, args.n, args.repeat))
    report("  json.dumps only", best_rate(dumps_all, args.n, args.repeat))
    report("  json.loads only", best_rate(loads_all, args.n, args.repeat))
    supply(codec, records, args)
    return 0


def supply(codec: WireCodec, records: list[ChildRecord], args: argparse.Namespace) -> None:
    """The supply's figures: SuppliedChild operations, one by one and in batches."""
    operations = [
        SuppliedChild(
            ref=f"row-{i:07d}",
            name=r.name,
            gender=r.gender,
            date_of_birth=r.date_of_birth,
            address=r.address,
            identifiers=r.identifiers,
            parents=r.parents,
            involvements=r.involvements,
        )
        for i, r in enumerate(records)
    ]
    # as the directory reads them: parsed from JSON text, every string a fresh one
    wire = [json.loads(json.dumps(codec.encode(op))) for op in operations]
    for operation, data in zip(operations[:500], wire, strict=False):
        if codec.decode_operation(data, today=TODAY) != operation:  # pragma: no cover
            raise SystemExit("round trip failed")
    batches = [
        SupplyBatch(
            supplier_id="s-1",
            agreement_id="a-1",
            batch_id=f"b-{start}",
            sequence=1 + start // 500,
            created_at=NOW,
            operations=tuple(operations[start : start + 500]),
        )
        for start in range(0, len(operations), 500)
    ]
    payloads = [encode_batch(batch, codec) for batch in batches]
    decode_operation, unstructure = codec.decode_operation, codec.converter.unstructure

    def decode_ops() -> None:
        for data in wire:
            decode_operation(data, today=TODAY)

    def unstructure_ops() -> None:
        for operation in operations:
            unstructure(operation, unstructure_as=AnyOperation)

    def unstructure_records() -> None:
        for record in records:
            unstructure(record, unstructure_as=ChildRecord)

    def encode_batches() -> None:
        for batch in batches:
            encode_batch(batch, codec)

    def decode_batches() -> None:
        for payload in payloads:
            decode_batch(payload, codec, today=TODAY)

    # The collector as the directory runs it (ReferenceDirectory(tune_gc=True)):
    # what is alive now is frozen and the youngest generation is large, so the
    # figures are the codec's, not full collections scanning these lists.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, *gc.get_threshold()[1:])
    print(f"supply:   the same records as {len(operations):,} SuppliedChild operations")
    print("gc:       tuned as the directory's (frozen, threshold 50,000)")
    report("decode SuppliedChild", best_rate(decode_ops, args.n, args.repeat))
    report("unstructure SuppliedChild", best_rate(unstructure_ops, args.n, args.repeat))
    report("unstructure ChildRecord", best_rate(unstructure_records, args.n, args.repeat))
    report("encode_batch", best_rate(encode_batches, args.n, args.repeat))
    report("decode_batch", best_rate(decode_batches, args.n, args.repeat))
    if args.cprofile:
        profile = cProfile.Profile()
        profile.runcall(decode_ops)
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    raise SystemExit(main())
