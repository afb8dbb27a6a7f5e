"""Search-and-open latency while supply runs alongside (issue 10).

Run: ``.venv/bin/python bench/bench_lookup_under_supply.py [--records 20000] [--db PATH]``
(``--records 1000000 --db /tmp/lookup.db`` for the issue's size: seeding a
million children takes minutes, and the file is reused on the next run).

Prints the machine, then the latency (p50, p99, max) of search-and-open
through the directory's HTTP app on the in-process transport, as
``bench_lookup.py`` measures it (same user, same limits raised, same
targets), first with the directory idle, then while a supplier streams new
synthetic children into the same directory (``SupplyClient``, in-process,
500 a batch, on another thread) for as long as the look-ups last; the supply
rate reached meanwhile; and the peak resident memory of the whole process.

The directory is a SQLite file (in a temporary directory unless ``--db`` is
given), as a directory runs: look-ups read on connections of their own
(WAL). ``--memory`` measures an in-memory store instead, whose one
connection makes every read wait for a supply batch's transaction (phase 2's
figures were taken that way, by mistake: see ``docs/performance.md``).

One process serves both, as the reference directory does: look-ups and
supply share the interpreter, so a look-up waits for the supply thread's
turn (Python's switch interval, 5 ms by default) and for SQLite's writer.
The goal (issue 10): p99 at most 5 ms at 1,000,000 records.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import print_machine
from bench_e2e_supply import operations
from bench_lookup import _directory, _percentile, _row, _targets, _timed, _user

from contactpoint_sdk.reference_server.app import create_app
from contactpoint_sdk.reference_server.directory import IN_PROCESS_URL
from contactpoint_sdk.reference_server.service import DirectoryService, SupplyAgreement
from contactpoint_sdk.reference_server.transport import InProcessTransport
from contactpoint_sdk.supply.client import SupplyClient
from contactpoint_sdk.supply.keys import SigningKey


class Supplier(threading.Thread):
    """Streams synthetic children into ``service`` until stopped."""

    def __init__(self, service: DirectoryService, app: Any, seed: int) -> None:
        super().__init__(daemon=True)
        key = SigningKey.generate()
        supplier_id = f"bench-supplier-{seed}"
        service.register_supplier(
            supplier_id,
            "Bench Supplier",
            signing_keys=[key.public_key()],
            agreements=[SupplyAgreement(agreement_id=f"{supplier_id}-agreement")],
        )
        self.client = SupplyClient(
            base_url=IN_PROCESS_URL,
            supplier_id=supplier_id,
            agreement_id=f"{supplier_id}-agreement",
            signing_key=key,
            clock=service.clock,
            transport=InProcessTransport(app),
        )
        self.seed = seed
        self.stop = threading.Event()
        self.supplied = 0
        self.seconds = 0.0

    def run(self) -> None:
        began = time.perf_counter()
        with self.client:
            for chunk in operations(self.seed, 10**8, today=self.client_today()):
                if self.stop.is_set():
                    break
                self.client.supply(chunk)
                self.supplied += len(chunk)
        self.seconds = time.perf_counter() - began

    def client_today(self) -> Any:
        return self.client._clock.today()


def _look_ups(
    service: DirectoryService, targets: list[tuple[str, str, str]], warmup: int
) -> list[float]:
    token = _user(service)
    headers = {"Authorization": f"Bearer {token}"}
    both: list[float] = []
    with httpx.Client(
        base_url="https://directory.test", transport=InProcessTransport(create_app(service))
    ) as http:
        for n, (directory_id, family, born) in enumerate(targets):
            criteria = {"family_name": family, "date_of_birth": born}
            t_search, found = _timed(http, "/v1/search", criteria, headers)
            if found.status_code != 200:
                continue  # refine_search: more than 5 share the name and date
            t_open, opened = _timed(
                http, f"/v1/records/{directory_id}/open", {"reason": "assessment"}, headers
            )
            if opened.status_code != 200:
                raise SystemExit(f"open refused: {opened.status_code}")
            if n >= warmup:
                both.append(t_search + t_open)
    return both


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=1_000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", type=Path, help="keep the seeded directory in this SQLite file")
    parser.add_argument(
        "--gc",
        choices=("tuned", "default"),
        default="tuned",
        help="tuned: after seeding, gc.freeze() and a young-generation threshold of 50,000, "
        "as ReferenceDirectory(tune_gc=True) does (default); default: the collector as is",
    )
    parser.add_argument(
        "--switch-ms",
        type=float,
        help="sys.setswitchinterval in milliseconds (default: Python's 5 ms)",
    )
    parser.add_argument(
        "--memory",
        action="store_true",
        help="an in-memory store (one connection: every read waits for the writer)",
    )
    args = parser.parse_args()
    if args.db is None and not args.memory:
        # A file store, as a directory runs: reads on their own connections (WAL).
        scratch = tempfile.TemporaryDirectory(prefix="bench-lookup-")
        args.db = Path(scratch.name) / "lookup.db"
    print_machine()
    if args.switch_ms is not None:
        sys.setswitchinterval(args.switch_ms / 1000)
    print(f"switch:   sys.getswitchinterval() = {sys.getswitchinterval() * 1000:g} ms")
    print(f"gc:       {args.gc}; store: {'memory' if args.db is None else 'SQLite file (WAL)'}")
    service, seeding = _directory(args.records, args.db, args.seed)
    try:
        live = service.counts()["live"]
        print(f"{live:,} live records (seeded in {seeding:.1f} s)")
        need = args.samples + args.warmup
        targets = _targets(service, 2 * need, args.seed)
        if args.gc == "tuned":
            gc.collect()
            gc.freeze()
            gc.set_threshold(50_000, *gc.get_threshold()[1:])
        idle = _look_ups(service, targets[:need], args.warmup)
        print(_row("idle", idle))
        app = create_app(service)
        supplier = Supplier(service, app, seed=args.seed + 10**6)
        supplier.start()
        time.sleep(1.0)  # let supply get going
        busy = _look_ups(service, targets[need:], args.warmup)
        supplier.stop.set()
        supplier.join()
        print(_row("under supply", busy))
        print(
            f"  supply alongside: {supplier.supplied:,} records in {supplier.seconds:.1f} s"
            f" ({supplier.supplied / supplier.seconds:,.0f}/s)"
        )
        p99 = _percentile(busy, 0.99) * 1000
        verdict = "meets" if p99 <= 5.0 else "MISSES"
        print(f"goal:     {verdict} p99 <= 5 ms under supply ({p99:.2f} ms at {live:,} records)")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS: {peak:,.0f} MB (seeding, look-ups and supply, one process)")
    finally:
        service.close()


if __name__ == "__main__":
    main()
