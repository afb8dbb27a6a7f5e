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
  record costs between a model and JSON text and back.

Targets (issue 4): encode >= 50,000 records/s, decode >= 15,000 records/s.
The records come from the seeded synthetic population, so runs compare.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from _machine import print_machine

from contactpoint_sdk.models import ChildRecord, WireCodec
from contactpoint_sdk.synthetic import Population

TODAY = date(2026, 3, 1)
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
    line = f"{name:17} {per_second:10,.0f} records/s ({1e6 / per_second:6.1f} us/record)"
    if target is not None:
        verdict = "meets" if per_second >= target else "MISSES"
        line += f"  {verdict} the {target:,}/s target"
    print(line)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=20_000, help="records per pass")
    parser.add_argument("--repeat", type=int, default=3, help="passes; the best one counts")
    parser.add_argument("--seed", type=int, default=2026)
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
