"""A directory killed (SIGKILL) in the middle of ingest loses nothing committed
and keeps nothing half-applied; the resent batch is applied once (SUP-5)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from contactpoint_sdk.models.operations import OutcomeStatus
from tests.test_server_core_support import START, Source, make_nhs, make_upn, new_directory, pupil

BATCH = 500  # the protocol's largest batch: one transaction

# Runs in a child process: opens the file directory and ingests the token,
# stopping (to be killed) once half the batch has been written inside the
# open transaction.
_WORKER = """
import sys, time
from datetime import datetime
from contactpoint_sdk.clock import MovableClock
from contactpoint_sdk.reference_server import DirectoryService
from contactpoint_sdk.reference_server.ingest import Ingestor

path, token_file, at, stop_after = sys.argv[1:5]
directory = DirectoryService.in_memory(
    clock=MovableClock(datetime.fromisoformat(at)), path=path
)
# A tiny page cache: uncommitted pages spill into the WAL before the kill, so
# recovery must skip frames of a transaction that never committed.
directory.store._db.execute("PRAGMA cache_size = 16")
original = Ingestor.apply
applied = 0

def apply(self, *args, **kwargs):
    global applied
    outcome = original(self, *args, **kwargs)
    applied += 1
    if applied == int(stop_after):
        print("MIDWAY", flush=True)
        time.sleep(120)
    return outcome

Ingestor.apply = apply
with open(token_file) as f:
    directory.ingest(f.read())
print("DONE", flush=True)
"""


def _children() -> list[object]:
    # Born on different days at different postcodes, as a school's roll is:
    # 500 children named alike, born the same day at one address, would each
    # be compared with every other by the name-based matcher (SUP-7).
    return [
        pupil(
            f"r-{i}",
            given="Kid",
            family=f"Fam{chr(65 + i % 26)}{chr(65 + i // 26 % 26)}",
            born=date(2015, 4, 1) - timedelta(days=i),
            postcode=f"BS{1 + i % 16} {1 + i // 16 % 9}{'ABDEFGHJ'[i % 8]}{'LNPQRSTU'[i // 8 % 8]}",
            upn=make_upn(i + 1),
            nhs=make_nhs(i + 1),
        )
        for i in range(BATCH)
    ]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_sup_5_sigkill_mid_ingest_leaves_no_half_applied_batch_and_a_resend_applies_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "directory.db"
    directory = new_directory(db)
    school = Source(directory)
    token = school.seal(school.batch(*_children()))  # type: ignore[arg-type]
    directory.close()
    token_file = tmp_path / "batch.jwe"
    token_file.write_text(token)

    worker = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", _WORKER, str(db), str(token_file), START.isoformat(), "250"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "MIDWAY"
        wal = db.parent / (db.name + "-wal")
        assert wal.stat().st_size > 100_000  # uncommitted pages reached the WAL
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:  # pragma: no cover - only if the test failed early
            worker.kill()
            worker.wait()
    assert worker.returncode == -signal.SIGKILL

    reopened = new_directory(db)
    assert reopened.counts() == {"live": 0, "archived": 0, "destroyed": 0}  # none of it
    assert reopened.supplier(school.supplier_id).last_sequence == 0
    first = reopened.ingest(token)  # the supplier resends after the crash
    assert [o.status for o in first.outcomes] == [OutcomeStatus.ACCEPTED] * BATCH
    assert reopened.counts()["live"] == BATCH
    assert reopened.ingest(token) == first  # and again: applied once
    assert reopened.counts()["live"] == BATCH
    assert reopened.supplier(school.supplier_id).last_sequence == 1
