"""The other processes of ``bench_lookup_under_supply.py`` (issue 10).

Run by ``multiprocessing`` (spawn): :func:`seed_main` fills the directory
file with synthetic children and exits; :func:`supply_main` opens the file
as the directory that supplies (``ReferenceDirectory(path=...)``: it owns
the schema, the keys, the matcher's index and its own audit log), registers
a supplier, and streams new synthetic children into it through the
in-process ``SupplyClient`` between the benchmark's ``go`` and ``stop``.
Each reports its own peak resident memory.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_lookup import SETTINGS, START

from contactpoint_sdk.clock import MovableClock
from contactpoint_sdk.reference_server.audit import MemoryAuditLog
from contactpoint_sdk.reference_server.directory import ReferenceDirectory
from contactpoint_sdk.reference_server.service import DirectoryService


def peak_rss_mb() -> float:
    """This process's peak resident memory (Linux: ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed_main(conn: Connection, path: str, records: int, seed: int) -> None:
    """Bring the file at ``path`` to ``records`` live children (seeded as
    ``bench_lookup.py`` seeds: ``seed_population``, audit in memory); sends
    ``(added, seconds, peak RSS MB)``."""
    service = DirectoryService.in_memory(
        clock=MovableClock(START), path=path, settings=SETTINGS, audit=MemoryAuditLog()
    )
    try:
        have = service.counts()["live"]
        began = time.perf_counter()
        added = service.seed_population(records - have, seed + have) if have < records else 0
        conn.send((added, time.perf_counter() - began, peak_rss_mb()))
    finally:
        service.close()


def supply_main(conn: Connection, path: str, seed: int, batches: int) -> None:
    """The supply process (module notes). Protocol on ``conn``: sends
    ``("ready", pid, live records)``; waits for ``"go"`` (anything else ends
    it); sends ``("supplying",)`` after its first batch; supplies until it
    receives ``"stop"`` (checked between batches) or ``batches`` batches are
    done (0: no limit); sends ``("done", records, seconds, CPU seconds, peak
    RSS MB)``."""
    from bench_e2e_supply import operations  # noqa: PLC0415 - Faker: only here

    directory = ReferenceDirectory(path=path, start=START, settings=SETTINGS, tune_gc=True)
    try:
        supplier = directory.register_supplier(f"bench-supplier-{seed}", "Bench Supplier")
        conn.send(("ready", os.getpid(), directory.service.counts()["live"]))
        if conn.recv() != "go":
            return
        supplied = done = 0
        began, cpu = time.perf_counter(), time.process_time()
        with directory.supply_client(supplier) as client:
            for chunk in operations(seed, 10**8, today=directory.clock.today()):
                if conn.poll():
                    break  # "stop"
                client.supply(chunk)
                supplied += len(chunk)
                done += 1
                if done == 1:
                    conn.send(("supplying",))
                if done == batches:
                    break
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
        conn.send(("done", supplied, seconds, cpu, peak_rss_mb()))
    finally:
        directory.close()
