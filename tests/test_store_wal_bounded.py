"""The WAL of a file store stays bounded under a writer that never pauses
(issue 10): the background thread's PASSIVE checkpoints never catch up with
such a writer, so the writer restarts the WAL itself past a limit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from contactpoint_sdk.reference_server import store as store_module
from contactpoint_sdk.reference_server.store import SqliteStore


def test_the_wal_stays_bounded_while_the_writer_never_pauses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "_CHECKPOINT_CHANGES", 20)
    monkeypatch.setattr(store_module, "_WAL_RESTART_FRAMES", 256)
    path = tmp_path / "directory.db"
    store = SqliteStore(str(path))
    try:
        db = store.connection
        with store.transaction():
            db.execute("CREATE TABLE blobs (n INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        written = 0
        largest = 0
        for batch in range(400):
            with store.transaction():
                for i in range(20):
                    db.execute(
                        "INSERT OR REPLACE INTO blobs (n, data) VALUES (?, ?)",
                        (batch * 20 + i, os.urandom(4000)),
                    )
            written += 20 * 4000
            largest = max(largest, os.path.getsize(f"{path}-wal"))
        # 32 MB written; the WAL never held more than a few times the limit
        # (256 frames of 4 KB: 1 MB), where it once grew with every batch.
        assert written > 30_000_000
        assert largest < 8_000_000
    finally:
        store.close()
