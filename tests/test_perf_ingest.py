"""Ingest shortcuts of issue 10, phase 3: the same directory, less work.

* the linkage index builds a written record's profile from the data the
  record's JSON was made from (``SqliteLinkageIndex.offer``) instead of
  parsing the text again: the profiles and keys are exactly those a rebuild
  from the stored text gives;
* a batch's new directory identifiers are drawn and checked unused in one
  query: one already held is never given again;
* a batch's writes are held in a ``StagedStore`` and written a few
  statements a table: every read answers as the store would after the same
  writes (rows in the same order), a failed operation leaves nothing, and
  the tables (the linkage index's included) end as direct writes leave
  them; a new record's index entry is its supply's profile, the very one
  the index makes from the stored record.

Behaviour only: nothing here is timed (``tests/test_perf_ingest_equivalence.py``
holds the whole-ingest, byte-for-byte check).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from contactpoint_sdk.clock import MovableClock
from contactpoint_sdk.models.codec import WireCodec
from contactpoint_sdk.models.identifiers import DirectoryId
from contactpoint_sdk.models.operations import SuppliedChild
from contactpoint_sdk.models.record import ChildRecord, LocalAuthorityCarer
from contactpoint_sdk.policy import DEFAULT_POLICY
from contactpoint_sdk.reference_server import ReferenceDirectory, linkage_index
from contactpoint_sdk.reference_server.linkage_blocking import record_keys
from contactpoint_sdk.reference_server.linkage_index import SqliteLinkageIndex
from contactpoint_sdk.reference_server.linkage_profile import (
    dumps_profile,
    profile_from_record_json,
    query_profile,
)
from contactpoint_sdk.reference_server.records import RecordKeeper
from contactpoint_sdk.reference_server.store import (
    ChildRow,
    ContributionRow,
    InvolvementRow,
    SqliteStore,
    StagedStore,
)
from contactpoint_sdk.synthetic import Population
from tests.test_server_core_support import make_upn

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


# --- issue 10, phase 5: a batch's writes held and written at once ---------------------


def test_sup_7_a_new_record_s_index_entry_is_its_supply_s_profile() -> None:
    """A new record made from one supplied child is indexed with the profile
    the matcher made of that supply (StagedStore.mark_new): exactly the
    profile, stored text and keys the index makes from the stored record."""
    clock = MovableClock(e2e.START)
    codec = WireCodec(clock)
    keeper = RecordKeeper(SqliteStore(), codec, DEFAULT_POLICY)
    population = Population(17, today=e2e.TODAY, sensitive_rate=5.0)
    children = list(population.children(400))
    children += [population.with_name_change(c) for c in children[:40]]
    children += [population.with_move(c) for c in children[:40]]
    carer = LocalAuthorityCarer(la_code="801", name="Bristol City Council")
    checked = 0
    for i, record in enumerate(children):
        ids = record.identifiers
        if ids.upn is not None and i % 3 == 0:  # former UPNs, the current one among them
            ids = attrs.evolve(ids, former_upns=(ids.upn, _FORMER, _FORMER))
        supplied = SuppliedChild(
            ref=f"r{i}",
            name=record.name,
            gender=record.gender,
            date_of_birth=record.date_of_birth,
            address=record.address,
            identifiers=ids,
            parents=(*record.parents, carer) if i % 5 == 0 else record.parents,
            involvements=record.involvements,
        )
        child = keeper.new(DirectoryId.from_int(i + 1))
        child.set_contribution("s", supplied, "801", clock.now())
        for inv in supplied.involvements:
            child.put_involvement("s", "s1", inv)
        stored = child.compose()
        data = codec.converter.unstructure(stored, unstructure_as=ChildRecord)
        made = profile_from_record_json(data, shielded=False, shield_ground=None)
        query = query_profile(
            supplied.identifiers,
            supplied.date_of_birth,
            supplied.name,
            gender=supplied.gender,
            address=supplied.address,
            parents=supplied.parents,
        )
        assert query._replace(directory_id=made.directory_id) == made
        assert dumps_profile(query) == dumps_profile(made)
        assert record_keys(query) == record_keys(made)
        checked += 1
    assert checked == len(children)


_FORMER = make_upn(999)


def _row(directory_id: str, *, born: str, given: str, family: str, **extra: Any) -> ChildRow:
    record = json.dumps(
        {
            "directory_id": directory_id,
            "name": {"given_name": given, "family_name": family},
            "gender": "F",
            "date_of_birth": born,
        }
    )
    fields: dict[str, Any] = {
        "directory_id": directory_id,
        "state": "live",
        "local_authority": "801",
        "date_of_birth": born,
        "given_key": given.lower(),
        "family_key": family.lower(),
        "shielded": False,
        "shield_ground": None,
        "archive_due_on": None,
        "contact_due_on": None,
        "gp_until": None,
        "education_until": None,
        "archived_on": None,
        "destroy_due_on": None,
        "record": record,
        "directory_state": "{}",
        "updated_at": "2026-03-02T10:00:00+00:00",
    }
    fields.update(extra)
    return ChildRow(**fields)


_IDS = [str(DirectoryId.from_int(i + 1)) for i in range(3)]
_DAYS = ["2015-04-01", "2015-04-02"]
_GROUNDS = [None, "risk_of_harm_to_child", "adoption_identity_link"]

_write = st.one_of(
    st.tuples(
        st.just("child"),
        st.sampled_from(_IDS),
        st.sampled_from(_DAYS),
        st.sampled_from(["Amy", "Bea"]),
        st.sampled_from(["Hart", "Lowe"]),
        st.sampled_from(_GROUNDS),
        st.sampled_from(["live", "live", "archived"]),
    ),
    st.tuples(
        st.just("ids"),
        st.sampled_from(_IDS),
        st.sampled_from(["s1", "s2"]),
        st.lists(st.sampled_from([("upn", "U1"), ("upn", "U2"), ("nhs", "N1")]), max_size=3),
    ),
    st.tuples(
        st.just("inv"),
        st.sampled_from(_IDS),
        st.sampled_from(["s1", "s2"]),
        st.sampled_from(["A", "B"]),
        st.booleans(),
    ),
    st.tuples(st.just("contribution"), st.sampled_from(_IDS), st.sampled_from(["s1", "s2"])),
    st.tuples(st.just("fail")),
    st.tuples(st.just("flush")),
)


def _apply(store: Any, write: tuple[Any, ...], n: int) -> None:
    kind = write[0]
    if kind == "child":
        _, key, born, given, family, ground, state = write
        store.put_child(
            _row(
                key,
                born=born,
                given=given,
                family=family,
                shielded=ground is not None,
                shield_ground=ground,
                state=state,
            )
        )
    elif kind == "ids":
        _, key, supplier, keys = write
        store.replace_identifiers(key, supplier, keys)
    elif kind == "inv":
        _, key, supplier, reference, keep = write
        if keep:
            store.put_involvement(
                InvolvementRow(
                    directory_id=key,
                    supplier_id=supplier,
                    reference=reference,
                    directory_reference=f"{supplier}:{reference}",
                    involvement=f'{{"n":{n}}}',
                )
            )
        else:
            store.delete_involvement(key, supplier, reference)
    elif kind == "contribution":
        _, key, supplier = write
        store.put_contribution(
            ContributionRow(
                directory_id=key,
                supplier_id=supplier,
                version=n,
                received_at="2026-03-02T10:00:00+00:00",
                local_authority="801",
                child=f'{{"n":{n}}}',
            )
        )


def _answers(store: Any) -> list[Any]:
    out: list[Any] = []
    for key in _IDS:
        out += [
            store.get_child(key),
            store.child_exists(key),
            store.adoption_barrier(key),
            store.get_contributions(key),
            store.get_involvements(key),
            store.candidate(key),
        ]
    for kind, value in (("upn", "U1"), ("upn", "U2"), ("nhs", "N1")):
        out.append(store.find_identifier(kind, value))
    for day in _DAYS:
        born = date.fromisoformat(day)
        out.append(store.shielded_born_on(born))
        for given_key, family_key in (("amy", "hart"), ("bea", "lowe")):
            out.append(store.live_named_born_on(born, given_key, family_key))
    return out


def _tables(store: SqliteStore) -> dict[str, list[Any]]:
    names = (
        "children",
        "contributions",
        "involvements",
        "identifiers",
        "adoption_barriers",
        "linkage_profiles",
        "linkage_keys",
    )
    with store.lock:
        return {
            n: sorted(tuple(r) for r in store.connection.execute(f"SELECT * FROM {n}"))  # noqa: S608
            for n in names
        }


@settings(max_examples=150, deadline=None)
@example(  # a new record's identifiers, written, then replaced
    before=[],
    batch=[("ids", _IDS[0], "s1", [("upn", "U1")]), ("flush",), ("ids", _IDS[0], "s1", [])],
)
@example(  # a new record's involvement, written, then deleted
    before=[],
    batch=[("inv", _IDS[0], "s1", "A", True), ("flush",), ("inv", _IDS[0], "s1", "A", False)],
)
@example(  # a stored record written twice, around a write of another born that day
    before=[
        ("child", _IDS[0], _DAYS[0], "Amy", "Hart", "risk_of_harm_to_child", "live"),
        ("child", _IDS[1], _DAYS[0], "Bea", "Hart", "risk_of_harm_to_child", "live"),
    ],
    batch=[
        ("child", _IDS[0], _DAYS[0], "Amy", "Hart", "risk_of_harm_to_child", "live"),
        ("flush",),
        ("child", _IDS[1], _DAYS[0], "Bea", "Hart", "risk_of_harm_to_child", "live"),
        ("child", _IDS[2], _DAYS[0], "Amy", "Hart", "adoption_identity_link", "live"),
        ("child", _IDS[0], _DAYS[0], "Amy", "Hart", None, "live"),
    ],
)
@given(
    before=st.lists(_write.filter(lambda w: w[0] not in ("fail", "flush")), max_size=12),
    batch=st.lists(_write, max_size=30),
)
def test_a_staged_batch_reads_and_writes_as_the_store_would(
    before: list[tuple[Any, ...]], batch: list[tuple[Any, ...]]
) -> None:
    """Writes held by a StagedStore (some written mid-way, some rolled back
    with an operation that fails after writing) answer every read as the
    store answers after the same writes, rows in the same order; written,
    they leave the same tables (the linkage index included, as its
    triggers leave it)."""
    staged_db, direct_db = SqliteStore(), SqliteStore()
    for db in (staged_db, direct_db):
        SqliteLinkageIndex.attach(db)
        for n, write in enumerate(before):
            _apply(db, write, n)
    with staged_db.transaction(), direct_db.transaction(), StagedStore(staged_db) as staged:
        staged.prefetch([("upn", "U1"), ("nhs", "N1")], [date.fromisoformat(_DAYS[0])])
        for key in set(_IDS) - {w[1] for w in before}:
            staged.mark_new(key)  # no row of it is stored: a new record's identifier
        for n, write in enumerate(batch, start=len(before)):
            if write[0] == "flush":
                staged.flush()
                continue
            for target in (staged, direct_db):
                with contextlib.suppress(_Failed), target.savepoint():
                    if write[0] == "fail":  # writes, then fails: nothing of it stays
                        _apply(target, ("child", _IDS[0], _DAYS[0], "Amy", "Hart", None, "live"), n)
                        _apply(target, ("ids", _IDS[0], "s1", [("upn", "U1")]), n)
                        _apply(target, ("inv", _IDS[1], "s2", "A", False), n)
                        raise _Failed
                    _apply(target, write, n)
            assert _answers(staged) == _answers(direct_db)
        staged.flush()
    assert _tables(staged_db) == _tables(direct_db)
    assert _answers(staged_db) == _answers(direct_db)  # rows in the same order


class _Failed(Exception):
    pass
