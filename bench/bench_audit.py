"""Time the tamper-evident audit log (ACC-5) at 100,000 and 1,000,000 entries.

Run: ``.venv/bin/python bench/bench_audit.py [--sizes 100000 1000000] [--dir DIR]``.

Prints the machine, then:

- appends per second, one event per transaction: durable (``synchronous=FULL``,
  an fsync per append), ``NORMAL`` (WAL, no fsync per commit) and in memory;
- for each size: the rate of a bulk build (``append_many`` in batches of
  10,000), then the time to reopen the log (reload the tree from the stored
  leaf hashes), sign a tree head, make and check an inclusion proof and a
  consistency proof (mean of 1,000 random ones), and verify the whole log
  (re-read and re-hash every entry) against a saved head.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from contactpoint_sdk.clock import FixedClock
from contactpoint_sdk.reference_server.audit import AuditEvent
from contactpoint_sdk.reference_server.audit_log import (
    ConsistencyProof,
    InclusionProof,
    MerkleAuditLog,
    VerificationReport,
    verify_log_file,
)
from contactpoint_sdk.supply.keys import SigningKey

T = TypeVar("T")
T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
BATCH = 10_000
PROOFS = 1_000
ACTIONS = ("search", "record_viewed", "record_view_refused", "sign_in", "shield_requested")


def event(i: int) -> AuditEvent:
    """A realistic look-up event: identifiers and codes only."""
    return AuditEvent(
        at=T0 + timedelta(milliseconds=i),
        action=ACTIONS[i % len(ACTIONS)],
        actor=f"U{i % 40_000:07d}",
        directory_id=f"CP{(i * 7919) % 11_000_000:09d}",
        code="ok" if i % 11 else "not_eligible",
        rule="ACC-3",
        refs=(f"req-{i:012x}",),
    )


def events(start: int, stop: int) -> Iterator[AuditEvent]:
    return (event(i) for i in range(start, stop))


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs,"
        f" Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def require(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"bench_audit: {message}")


def mean_time(action: Callable[[T], object], items: Sequence[T]) -> float:
    """Mean seconds of ``action(item)`` over ``items``."""
    times = []
    for item in items:
        start = time.perf_counter()
        action(item)
        times.append(time.perf_counter() - start)
    return statistics.mean(times)


def append_rate(log: MerkleAuditLog, seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        log.append(event(count))
        count += 1
    return count / elapsed


def single_appends(directory: Path, seconds: float) -> None:
    print(f"single appends (one event per transaction, {seconds:g} s each):")
    for label, durable in (("durable, synchronous=FULL", True), ("synchronous=NORMAL", False)):
        path = directory / f"single-{durable}.db"
        with MerkleAuditLog(path, durable=durable) as log:
            print(f"  file, {label:28s} {append_rate(log, seconds):>10,.0f} appends/s")
        path.unlink()
    with MerkleAuditLog.in_memory() as log:
        print(f"  {'in memory':34s} {append_rate(log, seconds):>10,.0f} appends/s")


def at_size(directory: Path, size: int, key: SigningKey, rng: random.Random) -> None:
    path = directory / f"audit-{size}.db"
    clock = FixedClock(T0)
    print(f"\n{size:,} entries ({path.name}):")
    with MerkleAuditLog(path, clock=clock) as log:
        start = time.perf_counter()
        for offset in range(0, size, BATCH):
            log.append_many(events(offset, min(offset + BATCH, size)))
        build = time.perf_counter() - start
    print(f"  bulk build (batches of {BATCH:,}): {build:8.2f} s  {size / build:>10,.0f} appends/s")
    print(f"  database file: {path.stat().st_size / 1e6:,.0f} MB")

    holder: list[MerkleAuditLog] = []
    reopen = timed(lambda: holder.append(MerkleAuditLog(path, clock=clock)))
    log = holder[0]
    print(f"  reopen (reload {size:,} leaf hashes):  {reopen:8.2f} s")
    head = log.tree_head(key, store=False)
    sign = statistics.mean(timed(lambda: log.tree_head(key, store=False)) for _ in range(100))
    print(f"  sign a tree head:                    {sign * 1e3:8.3f} ms")

    indexes = [rng.randrange(size) for _ in range(PROOFS)]
    made: list[InclusionProof] = [log.inclusion_proof(i, size) for i in indexes]
    make = mean_time(lambda i: log.inclusion_proof(i, size), indexes)
    check = mean_time(lambda p: p.verify(head.root_hash), made)
    require(all(p.verify(head.root_hash) for p in made), "an inclusion proof failed")
    print(f"  inclusion proof:   make {make * 1e6:7.1f} µs, verify {check * 1e6:6.1f} µs")

    olds = [rng.randrange(1, size) for _ in range(PROOFS)]
    roots = {old: log.root(old) for old in olds}
    proofs: list[ConsistencyProof] = [log.consistency_proof(old, size) for old in olds]
    make = mean_time(lambda old: log.consistency_proof(old, size), olds)
    check = mean_time(lambda p: p.verify(roots[p.old_size], head.root_hash), proofs)
    require(
        all(p.verify(roots[p.old_size], head.root_hash) for p in proofs),
        "a consistency proof failed",
    )
    print(f"  consistency proof: make {make * 1e6:7.1f} µs, verify {check * 1e6:6.1f} µs")
    log.close()

    reports: list[VerificationReport] = []
    took = timed(lambda: reports.append(verify_log_file(path, head, key.public_key())))
    require(reports[0].ok, reports[0].summary())
    print(f"  verify the whole log (re-read, re-hash): {took:6.2f} s  {size / took:,.0f} entries/s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak memory of the process so far:  {peak:8,.0f} MB")
    path.unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seconds", type=float, default=2.0, help="per single-append run")
    parser.add_argument("--dir", type=Path, help="where to put the databases (default: a temp dir)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    key = SigningKey.generate("bench-audit")
    rng = random.Random(6962)
    with tempfile.TemporaryDirectory(dir=args.dir) as temp:
        directory = Path(temp)
        single_appends(directory, args.seconds)
        for size in args.sizes:
            at_size(directory, size, key, rng)


if __name__ == "__main__":
    main()
