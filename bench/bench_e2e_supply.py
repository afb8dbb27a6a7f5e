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
the peak resident memory. The goals (issue 10): at least 10,000 records per
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
import gc
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
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
    records: int, seed: int, folder: Path, profile: Path | None, *, tune_gc: bool = True
) -> dict[str, Any]:
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
    began = time.perf_counter()
    with directory.supply_client(school) as client:
        if profiler is not None:
            profiler.enable()
        for chunk in clock.timed(operations(seed, records)):
            result = client.supply(chunk)
            ok = len(result.accepted)
            accepted += ok
            rejected += len(chunk) - ok
            for outcome in result.rejected:
                code = outcome.code or "?"
                rejections[code] = rejections.get(code, 0) + 1
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
        "file_bytes": _file_bytes(folder),
    }


# --- the floor -----------------------------------------------------------------------

FLOOR_SCHEMA = """
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


def run_floor(records: int, seed: int, folder: Path) -> dict[str, Any]:
    db = open_floor(folder / "floor.db")
    clock = Clock()
    began = time.perf_counter()
    written = floor_batches(clock.timed(operations(seed, records)), db)
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
    if args.child == "real":
        figures = run_real(args.records, args.seed, folder, args.profile, tune_gc=tuned)
    else:
        if tuned:  # what ReferenceDirectory(tune_gc=True) does, for a fair floor
            gc.collect()
            gc.freeze()
            gc.set_threshold(50_000, *gc.get_threshold()[1:])
        figures = run_floor(args.records, args.seed, folder)
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
        ]
        if part == "real" and args.profile is not None:
            command += ["--profile", str(args.profile)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            raise SystemExit(f"{part} failed:\n{done.stderr}")
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
    parser.add_argument("--child", choices=("real", "floor"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args)

    print_machine()
    print(f"records:  {args.records:,} synthetic children (seed {args.seed}), {BATCH_SIZE} a batch")
    print(f"gc:       {args.gc}")
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
