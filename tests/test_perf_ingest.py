"""Ingest shortcuts of issue 10, phase 3: the same directory, less work.

* the linkage index builds a written record's profile from the data the
  record's JSON was made from (``SqliteLinkageIndex.offer``) instead of
  parsing the text again: the profiles and keys are exactly those a rebuild
  from the stored text gives;
* a batch's new directory identifiers are drawn and checked unused in one
  query: one already held is never given again.

Behaviour only: nothing here is timed.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contactpoint_sdk.models.identifiers import DirectoryId
from contactpoint_sdk.reference_server import ReferenceDirectory, linkage_index

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

# bench/ is scripts, not a package: imported by name (typed Any).
e2e: Any = importlib.import_module("bench_e2e_supply")


def _supply(directory: ReferenceDirectory, seed: int, n: int) -> int:
    school = directory.register_supplier(f"perf-supplier-{seed}", "Perf Supplier")
    accepted = 0
    with directory.supply_client(school) as client:
        for chunk in e2e.operations(seed, n):
            accepted += len(client.supply(chunk).accepted)
    return accepted


def _index_tables(directory: ReferenceDirectory) -> tuple[list[Any], list[Any]]:
    db = directory.service.store.connection  # type: ignore[attr-defined]
    profiles = db.execute(
        "SELECT directory_id, profile FROM linkage_profiles ORDER BY 1"
    ).fetchall()
    keys = db.execute("SELECT key, directory_id FROM linkage_keys ORDER BY 1, 2").fetchall()
    return [tuple(r) for r in profiles], [tuple(r) for r in keys]


def test_profiles_from_offered_data_are_those_parsed_from_the_stored_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[str] = []
    real_parse = vars(linkage_index)["json_text_value"]

    def counting(text: str) -> Any:
        parsed.append(text)
        return real_parse(text)

    monkeypatch.setattr(linkage_index, "json_text_value", counting)
    directory = ReferenceDirectory(path=tmp_path / "directory.db", start=e2e.START)
    try:
        accepted = _supply(directory, 7, 300)
        assert accepted > 250
        assert parsed == []  # every new record's profile came from its data
        offered = _index_tables(directory)
        assert len(offered[0]) == directory.service.counts()["live"]
        linkage = directory.service.linkage
        assert linkage is not None
        assert linkage.rebuild() == len(offered[0])  # from the stored text, parsed
        assert len(parsed) == len(offered[0])
        assert _index_tables(directory) == offered
    finally:
        directory.close()


def test_an_offer_for_other_text_is_not_used(tmp_path: Path) -> None:
    directory = ReferenceDirectory(path=tmp_path / "directory.db", start=e2e.START)
    try:
        _supply(directory, 8, 40)
        linkage = directory.service.linkage
        assert linkage is not None
        store = directory.service.store
        row = store.connection.execute(  # type: ignore[attr-defined]
            "SELECT directory_id, record FROM children LIMIT 1"
        ).fetchone()
        before = _index_tables(directory)
        # A stale offer (other data) for this record: the text differs, so unused.
        linkage.offer(row[0], row[1] + " ", {"date_of_birth": "2001-01-01"})
        assert linkage.rebuild() == len(before[0])
        assert _index_tables(directory) == before
    finally:
        directory.close()


def test_a_batch_never_gives_a_new_child_an_identifier_already_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = ReferenceDirectory(path=tmp_path / "directory.db", start=e2e.START)
    try:
        _supply(directory, 9, 20)
        db = directory.service.store.connection  # type: ignore[attr-defined]
        held = [DirectoryId(r[0]) for r in db.execute("SELECT directory_id FROM children")]
        fresh = DirectoryId.new

        def draws() -> Iterator[DirectoryId]:
            yield from held[:5]  # each of these is taken already
            while True:
                yield fresh()

        drawn = draws()
        monkeypatch.setattr(DirectoryId, "new", classmethod(lambda cls, rng=None: next(drawn)))
        before = {str(d) for d in held}
        accepted = _supply(directory, 10, 30)
        after = [r[0] for r in db.execute("SELECT directory_id FROM children")]
        assert accepted > 20
        assert len(after) == len(set(after)) == len(before) + accepted
    finally:
        directory.close()
