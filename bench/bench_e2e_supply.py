"""End-to-end supply into a file-backed directory, and the floor, in one run (issue 10).

Run: ``.venv/bin/python bench/bench_e2e_supply.py [--records 20000]``
(``--records 100000``, ``--records 1000000`` for the issue's sizes).

Prints the machine, then two figures for the same synthetic records (the
same seed), each measured in its own subprocess so that each peak memory
(``ru_maxrss``) is its own:

``real``
    the public path: a :class:`ReferenceDirectory` kept in a SQLite file
    (WAL, with its durable audit log beside it), one registered supplier, and
    a :class:`SupplyClient` on the in-process transport. The records are
    generated lazily (never more than one batch in memory), made into
    ``SuppliedChild`` operations and supplied 500 at a time: checked, batched,
    encoded, sealed, posted, opened, decoded, checked again, matched,
    committed, with a receipt back for every batch and every record accepted.

``floor``
    the least any path could do with the same records: generated and made
    into operations the same way, put in 500-operation batches (no consent
    check), encoded (:func:`encode_batch`), sealed (:func:`seal`), opened
    (:class:`EnvelopeOpener`), decoded (:func:`decode_batch`) and written with
    ``executemany``, one transaction a batch, into a plain SQLite file table
    with the row shape of the directory's ``children`` table (its primary key
    and nothing else; the same pragmas). No rules, no matching, no audit, no
    HTTP.

For each it prints the time and records per second including the
generation of the records (which both pay the same) and without it, and
the peak resident memory. The generator runs in a process of its own by
default (``--generator process``: batches come through a pipe, pickled, at
most a few ahead), so the peak memory is the directory's and the supplier's
alone, as in a deployment, where the directory never runs the generator;
"generating" is then the time spent waiting for and unpickling batches.
``--generator inline`` runs it in the measured process, as before phase 4.

``--collect-every N`` (real path) runs a full ``gc.collect()`` after every
``N`` batches: each batch leaves reference cycles (joserfc's
``CompactEncryption``/``Recipient``, httpx's ``Request``/``Response``)
holding its token, payload and response, which otherwise wait, promoted to
the oldest generation, for a rare full collection (docs/performance.md,
phase 4).

``--rss-log FILE`` appends, every ``--rss-every`` seconds (default 30), the
measured process's records supplied so far, ``VmRSS`` and ``VmHWM``.
``--trace-from A --trace-to B`` (real path) starts ``tracemalloc`` at ``A``
records and, at ``B``, prints to stderr the 25 largest growths by file and
line and by traceback (directory-side growth only with the default
``--generator process``). The goals (issue 10): at least 10,000 records per
second end to end, within 3 times the floor, peak memory under 512 MB at
1,000,000 records.

``--profile FILE`` writes cProfiles of the real path: ``FILE`` the
supplier's side (the main thread), ``FILE.server`` the directory's
``ingest`` (which the in-process app runs on another thread); read them
with ``python -m pstats``. ``--only real|floor`` runs one of them.
"""

from __future__ import annotations

import argparse
import cProfile
import ctypes
import ctypes.util
import gc
import json
import multiprocessing
import os
import pickle
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import print_machine

from contactpoint_sdk.clock import FixedClock
from contactpoint_sdk.models import WireCodec
from contactpoint_sdk.models.codec import json_bytes
from contactpoint_sdk.models.operations import SuppliedChild, SupplyBatch
from contactpoint_sdk.reference_server import ReferenceDirectory
from contactpoint_sdk.reference_server.matching import name_key
from contactpoint_sdk.reference_server.store import CHILDREN_TABLE
from contactpoint_sdk.supply.batch import DecodedBatch, decode_batch, encode_batch
from contactpoint_sdk.supply.envelope import EnvelopeOpener, seal
from contactpoint_sdk.supply.keys import EncryptionKey, PublicKeySet, SigningKey
from contactpoint_sdk.synthetic import Population

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TODAY = START.date()
BATCH_SIZE = 500
END_TO_END_TARGET = 10_000  # records a second
FLOOR_RATIO_TARGET = 3.0
MEMORY_TARGET_MB = 512


def operations(seed: int, n: int, today: date = TODAY) -> Iterator[list[SuppliedChild]]:
    """``n`` synthetic children as ``SuppliedChild`` operations, a batch at a
    time, generated lazily: only the batch being yielded is held."""
    chunk: list[SuppliedChild] = []
    for i, record in enumerate(Population(seed, today=today).children(n)):
        chunk.append(
            SuppliedChild(
                ref=f"row-{i:07d}",
                name=record.name,
                gender=record.gender,
                date_of_birth=record.date_of_birth,
                address=record.address,
                identifiers=record.identifiers,
                parents=record.parents,
                involvements=record.involvements,
            )
        )
        if len(chunk) == BATCH_SIZE:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _produce(seed: int, n: int, sender: Any) -> None:
    """The generator's process: each batch of :func:`operations`, pickled, down
    the pipe ``sender``; then ``None``."""
    for chunk in operations(seed, n):
        sender.send_bytes(pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL))
    sender.send_bytes(pickle.dumps(None))
    sender.close()


def generated(seed: int, n: int, where: str) -> Iterator[list[SuppliedChild]]:
    """The batches of :func:`operations`, made in this process (``inline``) or
    in a process of its own (``process``: the same batches, in the same order,
    at most a pipe's buffer ahead)."""
    if where == "inline":
        yield from operations(seed, n)
        return
    context = multiprocessing.get_context("spawn")  # never fork a process with threads
    receiver, sender = context.Pipe(duplex=False)
    producer = context.Process(target=_produce, args=(seed, n, sender), daemon=True)
    producer.start()
    sender.close()
    try:
        while True:
            chunk: list[SuppliedChild] | None = pickle.loads(receiver.recv_bytes())  # noqa: S301
            if chunk is None:
                break
            yield chunk
    finally:
        receiver.close()
        producer.join(timeout=10)
        if producer.is_alive():
            producer.terminate()


class Progress:
    """Records supplied so far, for the memory sampler and the tracer."""

    def __init__(self) -> None:
        self.records = 0


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _sqlite_memory() -> tuple[float, float]:
    """SQLite's own heap in this process, now and at its highest, in MB (from
    the library the ``sqlite3`` module uses; zeros if it cannot be asked)."""
    try:
        library = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
        used = library.sqlite3_memory_used
        highest = library.sqlite3_memory_highwater
    except (OSError, AttributeError):
        return 0.0, 0.0
    used.restype = highest.restype = ctypes.c_int64
    highest.argtypes = [ctypes.c_int]
    return used() / 2**20, highest(0) / 2**20


def sample_rss(path: Path, every: float, progress: Progress, stop: threading.Event) -> None:
    """Append ``seconds records VmRSS VmHWM`` and SQLite's heap (now and its
    highest), in MB, to ``path`` every ``every`` seconds until ``stop`` is set
    (and once more then)."""
    began = time.perf_counter()
    while True:
        stopped = stop.wait(every)
        sqlite_now, sqlite_high = _sqlite_memory()
        line = (
            f"{time.perf_counter() - began:8.0f} s {progress.records:9d} records "
            f"rss {_status_kb('VmRSS') / 1024:7.1f} MB hwm {_status_kb('VmHWM') / 1024:7.1f} MB "
            f"sqlite {sqlite_now:6.1f} MB (highest {sqlite_high:6.1f})\n"
        )
        with path.open("a", encoding="ascii") as out:
            out.write(line)
        if stopped:
            return


class Tracer:
    """``tracemalloc`` from ``start`` records to ``end``: the growth between."""

    def __init__(self, start: int | None, end: int | None, frames: int = 12) -> None:
        self.start, self.end, self.frames = start, end, frames
        self.before: tracemalloc.Snapshot | None = None
        self.done = start is None or end is None

    def at(self, records: int) -> None:
        if self.done or self.start is None or self.end is None:
            return
        if self.before is None and records >= self.start:
            gc.collect()
            tracemalloc.start(self.frames)
            self.before = tracemalloc.take_snapshot()
            print(f"tracemalloc: started at {records:,} records", file=sys.stderr, flush=True)
        elif self.before is not None and records >= self.end:
            self.done = True
            gc.collect()
            after = tracemalloc.take_snapshot()
            tracemalloc.stop()
            ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
            before, after = self.before.filter_traces(ignore), after.filter_traces(ignore)
            out = sys.stderr
            print(f"tracemalloc: growth from {self.start:,} to {records:,} records", file=out)
            lines = after.compare_to(before, "lineno")
            total = sum(d.size_diff for d in lines)
            print(f"  total {total / 2**20:+.1f} MB in {len(lines)} lines", file=out)
            for diff in lines[:25]:
                print(f"  {diff}", file=out)
            print("tracemalloc: by traceback", file=out)
            for diff in after.compare_to(before, "traceback")[:12]:
                print(f"  {diff.size_diff / 2**20:+.2f} MB {diff.count_diff:+d} blocks", file=out)
                for frame in diff.traceback.format()[-2 * self.frames :]:
                    print(f"      {frame}", file=out)
            out.flush()


class Clock:
    """Adds up the time spent generating, so it can be shown apart."""

    def __init__(self) -> None:
        self.generating = 0.0

    def timed(self, source: Iterator[list[SuppliedChild]]) -> Iterator[list[SuppliedChild]]:
        while True:
            began = time.perf_counter()
            chunk = next(source, None)
            self.generating += time.perf_counter() - began
            if chunk is None:
                return
            yield chunk


# --- the real path -------------------------------------------------------------------


def run_real(
    records: int,
    seed: int,
    folder: Path,
    profile: Path | None,
    *,
    tune_gc: bool = True,
    generator: str = "process",
    progress: Progress | None = None,
    tracer: Tracer | None = None,
    collect_every: int = 0,
) -> dict[str, Any]:
    progress = progress if progress is not None else Progress()
    tracer = tracer if tracer is not None else Tracer(None, None)
    source = generated(seed, records, generator)  # started before any thread is
    directory = ReferenceDirectory(path=folder / "directory.db", start=START, tune_gc=tune_gc)
    school = directory.register_supplier("bench-supplier", "Bench Supplier")
    clock = Clock()
    accepted = rejected = 0
    profiler = cProfile.Profile() if profile is not None else None
    server = cProfile.Profile() if profile is not None else None
    if server is not None:
        # The app runs each request on its own thread: profile the ingest there.
        ingest = directory.service.ingest

        def profiled(token: str) -> Any:
            server.enable()
            try:
                return ingest(token)
            finally:
                server.disable()

        directory.service.ingest = profiled  # type: ignore[method-assign]
    rejections: dict[str, int] = {}
    batches = 0
    collecting = 0.0
    began = time.perf_counter()
    with directory.supply_client(school) as client:
        if profiler is not None:
            profiler.enable()
        for chunk in clock.timed(source):
            result = client.supply(chunk)
            ok = len(result.accepted)
            accepted += ok
            rejected += len(chunk) - ok
            for outcome in result.rejected:
                code = outcome.code or "?"
                rejections[code] = rejections.get(code, 0) + 1
            del result  # nothing of a batch's outcome is kept but the counts
            batches += 1
            if collect_every and batches % collect_every == 0:
                # A batch leaves reference cycles holding its token, payload
                # and response (joserfc's CompactEncryption and Recipient,
                # httpx's Request and Response): promoted to the oldest
                # generation while the batch runs, they wait for a full
                # collection, which the tuned thresholds make rare.
                began_collecting = time.perf_counter()
                gc.collect()
                collecting += time.perf_counter() - began_collecting
            progress.records = accepted + rejected
            tracer.at(progress.records)
        if profiler is not None:
            profiler.disable()
    seconds = time.perf_counter() - began
    live = directory.service.counts()["live"]
    directory.close()
    if profiler is not None and server is not None and profile is not None:
        profiler.dump_stats(profile)
        server.dump_stats(f"{profile}.server")
    return {
        "rejections": rejections,
        "records": accepted + rejected,
        "accepted": accepted,
        "rejected": rejected,
        "live": live,
        "seconds": seconds,
        "generating": clock.generating,
        "collecting": collecting,
        "file_bytes": _file_bytes(folder),
    }


# --- the floor -----------------------------------------------------------------------

#: The store's own children table, so the floor writes the real row shape.
FLOOR_SCHEMA = CHILDREN_TABLE
FLOOR_INSERT = (
    "INSERT INTO children VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def open_floor(path: Path) -> sqlite3.Connection:
    """The floor's SQLite file, with the directory store's pragmas."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA secure_delete = ON")
    db.execute("PRAGMA temp_store = MEMORY")
    db.execute("PRAGMA cache_size = -65536")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute(FLOOR_SCHEMA)
    return db


def floor_rows(decoded: DecodedBatch, codec: WireCodec, now: str) -> list[tuple[Any, ...]]:
    """The ``children`` rows of a decoded batch, with no rules: a new key, the
    operation as its record, the searched columns."""
    rows: list[tuple[Any, ...]] = []
    for item in decoded.operations:
        op = item.operation
        if not isinstance(op, SuppliedChild):
            raise SystemExit(f"floor: operation {item.index} did not decode: {item.problems}")
        postcode = op.address.postcode
        rows.append(
            (
                uuid.uuid4().hex,
                "live",
                None,
                op.date_of_birth.isoformat(),
                name_key(op.name.given_name),
                name_key(op.name.family_name),
                0,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                json_bytes(codec.encode(op)).decode(),
                "{}",
                now,
                None if postcode is None else str(postcode),
                op.gender.value,
            )
        )
    return rows


def floor_batches(
    source: Iterator[list[SuppliedChild]], db: sqlite3.Connection, *, now: datetime = START
) -> int:
    """Encode, seal, open, decode and insert each batch of ``source``; returns
    how many rows were written."""
    codec = WireCodec(clock=FixedClock(now))
    supplier, directory = SigningKey.generate(), EncryptionKey.generate()
    opener = EnvelopeOpener(
        decryption_keys={directory.kid: directory},
        supplier_keys=PublicKeySet([supplier.public_key()]),
        clock=FixedClock(now),
    )
    recipient = directory.public_key()
    stamp = now.isoformat()
    written = 0
    for sequence, chunk in enumerate(source, start=1):
        batch = SupplyBatch(
            supplier_id="bench-supplier",
            agreement_id="bench-agreement",
            batch_id=uuid.uuid4().hex,
            sequence=sequence,
            created_at=now,
            operations=tuple(chunk),
        )
        token = seal(encode_batch(batch, codec), signing_key=supplier, recipient=recipient, now=now)
        opened = opener.open(token, now=now)
        rows = floor_rows(decode_batch(opened.payload, codec, today=now.date()), codec, stamp)
        db.execute("BEGIN")
        db.executemany(FLOOR_INSERT, rows)
        db.execute("COMMIT")
        written += len(rows)
    return written


def run_floor(records: int, seed: int, folder: Path, generator: str = "process") -> dict[str, Any]:
    source = generated(seed, records, generator)
    db = open_floor(folder / "floor.db")
    clock = Clock()
    began = time.perf_counter()
    written = floor_batches(clock.timed(source), db)
    seconds = time.perf_counter() - began
    db.close()
    return {
        "records": written,
        "accepted": written,
        "rejected": 0,
        "live": written,
        "seconds": seconds,
        "generating": clock.generating,
        "file_bytes": _file_bytes(folder),
    }


# --- the parent ----------------------------------------------------------------------


def _file_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _child(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    tuned = args.gc == "tuned"
    progress = Progress()
    stop = threading.Event()
    sampler = None
    if args.rss_log is not None:
        sampler = threading.Thread(
            target=sample_rss,
            args=(Path(args.rss_log), args.rss_every, progress, stop),
            daemon=True,
        )
        with Path(args.rss_log).open("a", encoding="ascii") as out:
            out.write(f"# {args.child} pid {os.getpid()} {args.records} records\n")
        sampler.start()
    if args.child == "real":
        figures = run_real(
            args.records,
            args.seed,
            folder,
            args.profile,
            tune_gc=tuned,
            generator=args.generator,
            progress=progress,
            tracer=Tracer(args.trace_from, args.trace_to),
            collect_every=args.collect_every,
        )
    else:
        if tuned:  # what ReferenceDirectory(tune_gc=True) does, for a fair floor
            gc.collect()
            gc.freeze()
            gc.set_threshold(50_000, *gc.get_threshold()[1:])
        figures = run_floor(args.records, args.seed, folder, args.generator)
    progress.records = figures["records"]
    stop.set()
    if sampler is not None:
        sampler.join()
    figures["peak_mb"] = _peak_mb()
    used = resource.getrusage(resource.RUSAGE_SELF)
    figures["cpu_seconds"] = used.ru_utime + used.ru_stime  # every thread of the process
    print(json.dumps(figures))
    return 0


def _measure(part: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-e2e-{part}-", dir=args.tmp) as folder:
        command = [
            sys.executable,
            __file__,
            "--child",
            part,
            "--records",
            str(args.records),
            "--seed",
            str(args.seed),
            "--folder",
            folder,
            "--gc",
            args.gc,
            "--generator",
            args.generator,
            "--collect-every",
            str(args.collect_every),
        ]
        if args.rss_log is not None:
            command += ["--rss-log", args.rss_log, "--rss-every", str(args.rss_every)]
        if part == "real" and args.trace_from is not None and args.trace_to is not None:
            command += ["--trace-from", str(args.trace_from), "--trace-to", str(args.trace_to)]
        if part == "real" and args.profile is not None:
            command += ["--profile", str(args.profile)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            raise SystemExit(f"{part} failed:\n{done.stderr}")
        if done.stderr:
            sys.stderr.write(done.stderr)
        figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return figures


def _line(part: str, f: dict[str, Any]) -> str:
    n = f["records"]
    rest = f["seconds"] - f["generating"]
    return (
        f"  {part:<6} {f['seconds']:8.1f} s {n / f['seconds']:9,.0f}/s   "
        f"{rest:8.1f} s {n / rest:9,.0f}/s   {f['generating']:6.1f} s   "
        f"{f['peak_mb']:7.0f} MB   {f['file_bytes'] / n:6,.0f} B"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--only", choices=("real", "floor"))
    parser.add_argument("--profile", type=Path, help="write a cProfile of the real path here")
    parser.add_argument(
        "--gc",
        choices=("tuned", "default"),
        default="tuned",
        help="the collector: tuned as ReferenceDirectory(tune_gc=True) (both paths), or as is",
    )
    parser.add_argument("--tmp", help="where the SQLite files go (default: the system's)")
    parser.add_argument(
        "--generator",
        choices=("process", "inline"),
        default="process",
        help="run the synthetic generator in a process of its own (default) or the measured one",
    )
    parser.add_argument(
        "--collect-every",
        type=int,
        default=0,
        help="real path: a full gc.collect() after every N batches (default 0: never)",
    )
    parser.add_argument("--rss-log", help="append the measured process's memory to this file")
    parser.add_argument("--rss-every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--trace-from", type=int, help="start tracemalloc at this many records")
    parser.add_argument("--trace-to", type=int, help="print tracemalloc's growth at this many")
    parser.add_argument("--child", choices=("real", "floor"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args)

    print_machine()
    print(f"records:  {args.records:,} synthetic children (seed {args.seed}), {BATCH_SIZE} a batch")
    print(f"gc:       {args.gc}")
    print(f"generator: {args.generator}")
    if args.collect_every:
        print(f"collect:  a full collection every {args.collect_every} batch(es), real path")
    parts = [args.only] if args.only else ["floor", "real"]
    figures = {part: _measure(part, args) for part in parts}
    print(
        "  path   with generation            without generation    generating"
        "   peak RSS   on disk a record"
    )
    for part in parts:
        print(_line(part, figures[part]))
    for part in parts:
        # CPU time moves less than wall time on a shared machine: the
        # fairer figure for a before-and-after comparison.
        f = figures[part]
        print(
            f"  {part:<6} CPU {f['cpu_seconds']:8.1f} s: "
            f"{f['records'] / f['cpu_seconds']:,.0f} records a CPU-second"
        )
    real = figures.get("real")
    if real is not None:
        if real.get("collecting"):
            print(f"  real   {real['collecting']:.1f} s in full collections")
        if real["rejected"]:
            # The matcher holds a supply it cannot tell apart from a record it
            # has (the synthetic population has twins and look-alikes): a
            # real outcome, counted, not a failure of the run.
            print(f"real:     {real['rejected']:,} not accepted: {real['rejections']}")
        if real["accepted"] != real["live"]:
            raise SystemExit(f"real path: {real['accepted']} accepted, {real['live']} live")
        rate = real["records"] / real["seconds"]
        verdict = "meets" if rate >= END_TO_END_TARGET else "MISSES"
        print(f"goal:     {verdict} {END_TO_END_TARGET:,} records/s end to end ({rate:,.0f}/s)")
        peak = real["peak_mb"]
        verdict = "meets" if peak < MEMORY_TARGET_MB else "MISSES"
        print(f"goal:     {verdict} peak memory < {MEMORY_TARGET_MB} MB ({peak:,.0f} MB)")
    floor = figures.get("floor")
    if real is not None and floor is not None:
        ratio = floor["records"] / floor["seconds"] / (real["records"] / real["seconds"])
        bare = (floor["records"] / (floor["seconds"] - floor["generating"])) / (
            real["records"] / (real["seconds"] - real["generating"])
        )
        verdict = "meets" if ratio <= FLOOR_RATIO_TARGET else "MISSES"
        print(
            f"goal:     {verdict} within {FLOOR_RATIO_TARGET:g}x of the floor "
            f"({ratio:.1f}x with generation, {bare:.1f}x without)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
