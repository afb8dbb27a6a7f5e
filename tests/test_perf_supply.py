"""The end-to-end supply benchmark measures what it says (issue 10).

* the floor (encode, seal, open, decode, bulk insert, no rules) and the real
  path (a file-backed ReferenceDirectory through SupplyClient) store the same
  children;
* the benchmark's source streams: memory does not grow with the records.

Behaviour only: nothing here is timed.
"""

from __future__ import annotations

import importlib
import json
import sys
import tracemalloc
from pathlib import Path
from typing import Any

from contactpoint_sdk.models import WireCodec
from contactpoint_sdk.models.operations import SuppliedChild
from contactpoint_sdk.reference_server.matching import name_key

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

# bench/ is scripts, not a package: imported by name (typed Any).
e2e: Any = importlib.import_module("bench_e2e_supply")


def _key(op: SuppliedChild) -> tuple[Any, ...]:
    return (
        op.date_of_birth.isoformat(),
        name_key(op.name.given_name),
        name_key(op.name.family_name),
        None if op.address.postcode is None else str(op.address.postcode),
        op.gender.value,
    )


def test_floor_and_real_path_store_the_same_children(tmp_path: Path) -> None:
    n = 60
    supplied = [op for chunk in e2e.operations(11, n) for op in chunk]
    assert len(supplied) == n

    floor_db = e2e.open_floor(tmp_path / "floor.db")
    assert e2e.floor_batches(e2e.operations(11, n), floor_db) == n
    rows = floor_db.execute(
        "SELECT date_of_birth, given_key, family_key, postcode, gender, record FROM children"
    ).fetchall()
    floor_db.close()
    codec = WireCodec()
    stored = [codec.decode_operation(json.loads(row[5]), today=e2e.TODAY) for row in rows]
    assert sorted(stored, key=lambda op: op.ref) == supplied
    assert sorted(tuple(row[:5]) for row in rows) == sorted(_key(op) for op in supplied)

    figures = e2e.run_real(n, 11, tmp_path, profile=None)
    assert figures["records"] == n
    assert figures["accepted"] == figures["live"]
    assert figures["accepted"] + figures["rejected"] == n
    real = e2e.sqlite3.connect(tmp_path / "directory.db")
    real_rows = real.execute(
        "SELECT date_of_birth, given_key, family_key, postcode, gender FROM children "
        "WHERE state = 'live'"
    ).fetchall()
    real.close()
    # Every child the directory took is one the floor stored, column for column.
    assert len(real_rows) == figures["accepted"]
    assert set(map(tuple, real_rows)) <= {_key(op) for op in supplied}


def test_the_generator_in_a_process_of_its_own_gives_the_same_batches() -> None:
    """``--generator process`` (the default since phase 4) must supply exactly
    the records the in-process generator makes, batch for batch."""
    n = e2e.BATCH_SIZE + 37
    inline = list(e2e.generated(5, n, "inline"))
    apart = list(e2e.generated(5, n, "process"))
    assert [len(chunk) for chunk in apart] == [e2e.BATCH_SIZE, 37]
    assert apart == inline == list(e2e.operations(5, n))


def test_the_real_path_with_a_full_collection_a_batch(tmp_path: Path) -> None:
    figures = e2e.run_real(60, 13, tmp_path, profile=None, generator="inline", collect_every=1)
    assert figures["records"] == 60
    assert figures["accepted"] == figures["live"]
    assert figures["collecting"] > 0


def _peak_bytes(n: int) -> int:
    tracemalloc.start()
    try:
        count = sum(len(chunk) for chunk in e2e.operations(3, n))
        assert count == n
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_source_streams_a_batch_at_a_time() -> None:
    small, large = _peak_bytes(1_000), _peak_bytes(4_000)
    # Four times the records, not four times the memory: one batch is held,
    # and the generator's caches are bounded by its areas, not by the count.
    assert large < small * 1.6, (small, large)


def test_decode_batch_raw_operations_are_the_payloads_own_after_decoding() -> None:
    """Issue 10: ingest reads each operation's raw JSON from decode_batch (the
    payload is parsed once); decoding valid synthetic operations leaves it
    exactly what an independent parse of the payload reads."""
    from contactpoint_sdk.models.operations import SupplyBatch
    from contactpoint_sdk.supply.batch import decode_batch, encode_batch

    (chunk,) = list(e2e.operations(5, 40))
    codec = WireCodec(clock=e2e.FixedClock(e2e.START))
    batch = SupplyBatch(
        supplier_id="s",
        agreement_id="a",
        batch_id="b",
        sequence=1,
        created_at=e2e.START,
        operations=tuple(chunk),
    )
    payload = encode_batch(batch, codec)
    decoded = decode_batch(payload, codec, today=e2e.TODAY)
    assert all(d.operation is not None for d in decoded.operations)
    assert [d.raw for d in decoded.operations] == json.loads(payload)["operations"]
