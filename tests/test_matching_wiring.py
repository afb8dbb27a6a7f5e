"""The probabilistic matcher wired into the directory core (issue 7): the
default for a SQLite directory, seeding and the lifecycle keeping its index,
parents reaching the matcher, merge and unmerge through the core, retired
identifiers, and RET-5 destruction of merged records."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import attrs
import pytest

from contactpoint_sdk.errors import NotPermitted, PolicyRefusal, RecordNotFound
from contactpoint_sdk.models import CarerRelationship, ShieldGround
from contactpoint_sdk.models.identifiers import DirectoryId, SchoolReference
from contactpoint_sdk.models.operations import OutcomeStatus, SuppliedChild
from contactpoint_sdk.models.record import ParentCarer, PersonName, SourceIdentifiers
from contactpoint_sdk.models.views import ChildView, FullRecordView, ShieldedChildView
from contactpoint_sdk.policy.viewer import Purpose, Role
from contactpoint_sdk.reference_server import (
    DataQualityKind,
    DirectoryService,
    MergeReceipt,
    MerkleAuditLog,
    ProbabilisticMatcher,
    ShieldRequestInput,
    StrongIdentifierMatcher,
)
from contactpoint_sdk.reference_server.audit import AuditEvent, MemoryAuditLog
from contactpoint_sdk.reference_server.ingest import HELD_CODE
from contactpoint_sdk.reference_server.linkage_merge import MERGED, PendingMerge
from contactpoint_sdk.reference_server.store import SqliteStore
from contactpoint_sdk.supply.keys import EncryptionKey, KeyRing
from tests.test_server_core_support import (
    LA,
    OTHER_LA,
    Source,
    clock_of,
    involvement,
    make_nhs,
    make_upn,
    new_directory,
    only_record_id,
    pupil,
    team,
    viewer,
)


def _events(directory: DirectoryService, action: str) -> list[AuditEvent]:
    audit = directory.audit
    assert isinstance(audit, MemoryAuditLog)
    return [e for e in audit.events() if e.action == action]


def _gp_copy(
    child: SuppliedChild, serial: int = 5, street: str = "4 Elsewhere Road"
) -> SuppliedChild:
    """The same child as a GP first recorded her: other numbers, another home."""
    return attrs.evolve(
        pupil("patient-1", upn=make_upn(serial, la=OTHER_LA), nhs=make_nhs(serial), street=street),
        name=child.name,
        involvements=(involvement("G-1"),),
    )


def _merged(
    directory: DirectoryService,
    survivor: DirectoryId,
    absorbed: DirectoryId,
    asks: str = LA,
    approves: str = OTHER_LA,
) -> MergeReceipt:
    """A merge across two authorities: one team asks, the other approves (SUP-7)."""
    pending = directory.merge_records(survivor, absorbed, team(asks))
    assert isinstance(pending, PendingMerge)
    assert pending.approving_authority == approves
    return directory.management.approve_merge(pending.request_id, team(approves))


def _two_records(directory: DirectoryService) -> tuple[DirectoryId, DirectoryId]:
    """Amelia twice: the school's record and the GP's (NHS numbers differ,
    so the matcher makes a new record flagged as a possible duplicate)."""
    Source(directory).send(pupil())
    Source(directory, "gp-b82001", local_authority=OTHER_LA).send(_gp_copy(pupil()))
    assert directory.counts()["live"] == 2
    school_id = only_record_id(directory, pupil())
    gp_id = only_record_id(directory, pupil(upn=make_upn(5, la=OTHER_LA), nhs=make_nhs(5)))
    return school_id, gp_id


# --- the default -------------------------------------------------------------------


def test_sup_7_a_sqlite_directory_matches_probabilistically_by_default() -> None:
    directory = new_directory()
    assert isinstance(directory.matcher, ProbabilisticMatcher)
    assert directory.linkage is not None
    assert directory.merger is not None
    Source(directory).send(pupil())
    assert directory.linkage.counts()["profiles"] == 1
    # A matcher given is kept, and nothing is attached for it.
    ring = KeyRing.for_encryption()
    ring.add(EncryptionKey.generate())
    given = DirectoryService(
        store=SqliteStore(),
        clock=directory.clock,
        encryption_keys=ring,
        matcher=StrongIdentifierMatcher(),
    )
    assert isinstance(given.matcher, StrongIdentifierMatcher)
    assert given.linkage is None
    directory.close()
    given.close()


def test_sup_7_a_gp_supply_with_a_typo_and_no_shared_number_joins_the_schools_record() -> None:
    directory = new_directory()
    Source(directory).send(pupil())
    gp = Source(directory, "gp-b82001", local_authority=OTHER_LA)
    typo = attrs.evolve(
        pupil("patient-1"),
        name=PersonName(given_name="Amelia", family_name="Hartly"),
        identifiers=SourceIdentifiers(
            school_references=(SchoolReference(establishment="8019999", reference="G70"),)
        ),
    )
    receipt = gp.send(typo)
    assert receipt.outcomes[0].status is OutcomeStatus.ACCEPTED
    assert directory.counts()["live"] == 1  # one child, one record


# --- seeding keeps the index ---------------------------------------------------------


def _index_tables(store: SqliteStore) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    db = store.connection
    profiles = db.execute(
        "SELECT directory_id, profile FROM linkage_profiles ORDER BY 1"
    ).fetchall()
    keys = db.execute("SELECT key, directory_id FROM linkage_keys ORDER BY 1, 2").fetchall()
    return [tuple(r) for r in profiles], [tuple(r) for r in keys]


def test_sup_7_seeded_records_are_indexed_as_the_triggers_would_index_them() -> None:
    directory = new_directory()
    assert directory.seed_population(300, seed=5) == 300
    linkage, store = directory.linkage, directory.store
    assert linkage is not None
    assert isinstance(store, SqliteStore)
    assert linkage.counts()["profiles"] == 300
    seeded = _index_tables(store)
    linkage.rebuild()  # from the rows, as the triggers compute profiles
    assert _index_tables(store) == seeded
    # The triggers are back after seeding: a supply is indexed at once.
    Source(directory).send(pupil())
    assert linkage.counts()["profiles"] == 301
    directory.close()


def test_sup_7_a_seeded_child_supplied_by_name_alone_joins_its_record() -> None:
    directory = new_directory()
    directory.seed_population(200, seed=9)
    store = directory.store
    assert isinstance(store, SqliteStore)
    record = next(
        r
        for r in (
            directory.record(d)
            for (d,) in store.connection.execute(
                "SELECT directory_id FROM children WHERE shielded = 0 ORDER BY directory_id"
            ).fetchall()
        )
        if r.parents
    )
    supply = SuppliedChild(
        ref="gp-row",
        name=record.name,
        gender=record.gender,
        date_of_birth=record.date_of_birth,
        address=record.address,
        identifiers=SourceIdentifiers(
            school_references=(SchoolReference(establishment="8019999", reference="S1"),)
        ),
        parents=record.parents,
    )
    gp = Source(directory, "gp-b82001", local_authority=OTHER_LA)
    assert gp.send(supply).outcomes[0].status is OutcomeStatus.ACCEPTED
    assert directory.counts()["live"] == 200
    found = directory.find_by_identifier(supply.identifiers)
    assert found == record.directory_id
    directory.close()


# --- parents reach the matcher --------------------------------------------------------


def _with_mother(child: SuppliedChild) -> SuppliedChild:
    mother = ParentCarer(
        name=PersonName(given_name="Rosalind", family_name="Hartley"),
        relationship=CarerRelationship.MOTHER,
        parental_responsibility=True,
    )
    return attrs.evolve(child, parents=(mother,))


def _renamed_and_moved(child: SuppliedChild) -> SuppliedChild:
    """The child under another family name (no former name given) at a home
    in another postcode district, under the GP's own reference."""
    return attrs.evolve(
        pupil("patient-1", postcode="LS6 2AB", street="12 Far Street"),
        name=PersonName(given_name="Amelia", family_name="Mortimer"),
        identifiers=SourceIdentifiers(
            school_references=(SchoolReference(establishment="8019999", reference="G9"),)
        ),
        parents=child.parents,
    )


def test_sup_7_the_parents_of_a_supply_reach_the_matcher() -> None:
    directory = new_directory()
    school_child = _with_mother(pupil())
    Source(directory).send(school_child)
    gp = Source(directory, "gp-b82001", local_authority=OTHER_LA)
    # Only the mother's name links them: held for the authority, never a new record.
    receipt = gp.send(_renamed_and_moved(school_child))
    assert receipt.outcomes[0].code == HELD_CODE
    assert directory.counts()["live"] == 1
    [item] = directory.data_quality_queue(LA)
    assert item.candidates == (only_record_id(directory, pupil()),)
    # Without the parents nothing finds the record: a new one is made.
    other = Source(directory, "gp-c99001", local_authority=OTHER_LA)
    receipt = other.send(attrs.evolve(_renamed_and_moved(school_child), parents=()))
    assert receipt.outcomes[0].status is OutcomeStatus.ACCEPTED
    assert directory.counts()["live"] == 2


# --- merge and unmerge through the core --------------------------------------------------


def test_sup_7_the_management_team_merges_and_unmerges_through_the_core_audited() -> None:
    directory = new_directory()
    school_id, gp_id = _two_records(directory)
    before = directory.record(gp_id)
    receipt = _merged(directory, school_id, gp_id)
    assert (receipt.survivor, receipt.absorbed, receipt.merged_by) == (
        school_id,
        gp_id,
        f"team-{OTHER_LA}",
    )
    [asked] = _events(directory, "merge_requested")
    [approved] = _events(directory, "merge_approved")
    assert (asked.actor, approved.actor) == (f"team-{LA}", f"team-{OTHER_LA}")
    assert approved.refs[2] == receipt.merge_id
    assert directory.counts()["live"] == 1
    # The retired identifier leads to the survivor, and says so.
    assert directory.merged_into(gp_id) == school_id
    assert directory.record(gp_id).directory_id == school_id
    shown = directory.view(gp_id, viewer())
    assert isinstance(shown, ChildView)
    assert shown.directory_id == school_id
    [viewed] = _events(directory, "record_viewed")
    assert viewed.directory_id == str(school_id)
    assert viewed.refs == (f"merged_from:{gp_id}",)
    [merged] = _events(directory, "records_merged")
    assert merged.refs == (str(gp_id), receipt.merge_id)

    undone = directory.unmerge_records(receipt.merge_id, team(LA))
    assert undone.undone_by == f"team-{LA}"
    assert directory.counts()["live"] == 2
    assert directory.merged_into(gp_id) is None
    assert directory.record(gp_id) == before
    [unmerged] = _events(directory, "records_unmerged")
    assert unmerged.actor == f"team-{LA}"
    for event in _events(directory, "records_merged") + _events(directory, "records_unmerged"):
        assert "Amelia" not in repr(event)  # identifiers only (ACC-5)
        assert "Hartley" not in repr(event)
    with pytest.raises(RecordNotFound) as again:
        directory.unmerge_records(receipt.merge_id, team(LA))
    assert again.value.code == "merge_not_found"


def test_sup_7_only_either_records_management_team_may_merge_and_the_refusal_is_audited() -> None:
    directory = new_directory()
    school_id, gp_id = _two_records(directory)
    for who in (viewer(), team("803")):
        with pytest.raises(NotPermitted) as refused:
            directory.merge_records(school_id, gp_id, who)
        assert (refused.value.code, refused.value.rule) == ("management_team_only", "SUP-7")
    assert directory.counts()["live"] == 2
    refusals = _events(directory, "records_merge_refused")
    assert [e.rule for e in refusals] == ["SUP-7", "SUP-7"]
    receipt = _merged(directory, school_id, gp_id, OTHER_LA, LA)  # the GP's authority asks
    with pytest.raises(NotPermitted):
        directory.unmerge_records(receipt.merge_id, viewer())
    assert directory.counts()["live"] == 1
    directory.unmerge_records(receipt.merge_id, team(LA))  # the school's authority
    assert directory.counts()["live"] == 2


def test_shld_5_a_merge_across_an_adoption_shield_is_refused_with_its_rule() -> None:
    directory = new_directory()
    school_id, gp_id = _two_records(directory)
    directory.request_shield(
        gp_id,
        ShieldRequestInput(ground=ShieldGround.ADOPTION_IDENTITY_LINK, requested_by="t"),
        team(OTHER_LA),
    )
    with pytest.raises(PolicyRefusal) as refused:
        directory.merge_records(school_id, gp_id, team(LA))
    assert (refused.value.code, refused.value.rule) == ("adoption_records_never_linked", "SHLD-5")
    assert directory.counts()["live"] == 2
    assert directory.merged_into(gp_id) is None
    [refusal] = _events(directory, "records_merge_refused")
    assert refusal.rule == "SHLD-5"


def test_shld_7_a_merged_shield_stays_on_the_survivor_and_the_retired_record_is_no_candidate() -> (
    None
):
    directory = new_directory()
    school_id, gp_id = _two_records(directory)
    directory.request_shield(
        gp_id,
        ShieldRequestInput(ground=ShieldGround.RISK_OF_HARM_TO_CHILD, requested_by="t"),
        team(OTHER_LA),
    )
    _merged(directory, school_id, gp_id)
    assert isinstance(directory.view(gp_id, viewer()), ShieldedChildView)
    # A later supply by name is held under the survivor's shield; the
    # retired record is not offered to the team as a candidate.
    stranger = Source(directory, "school-2")
    receipt = stranger.send(pupil("x", given="Amelia", upn=make_upn(77), nhs=make_nhs(77)))
    assert receipt.outcomes[0].code == HELD_CODE
    items = [i for la in (LA, OTHER_LA) for i in directory.data_quality_queue(la) if i.held]
    [held] = items
    assert held.kind is DataQualityKind.SHIELD_MATCH_UNCERTAIN
    assert gp_id not in held.candidates
    assert school_id in held.candidates


# --- the lifecycle (RET-5) ------------------------------------------------------------


def _on(directory: DirectoryService, day: date) -> None:
    clock_of(directory).set(datetime(day.year, day.month, day.day, 9, tzinfo=UTC))


def _files(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def test_ret_5_a_merged_record_is_never_archived_alone_and_is_destroyed_with_its_survivor(
    tmp_path: Path,
) -> None:
    db = tmp_path / "directory.db"
    directory = new_directory(db)
    Source(directory).send(pupil())
    gp = Source(directory, "gp-b82001", local_authority=OTHER_LA)
    gp.send(_gp_copy(pupil(), street="9 Zanzibarine Mews"))
    Source(directory, "school-2").send(
        pupil("k", given="Persephone", family="Underwood", upn=make_upn(2), nhs=make_nhs(2),
              born=date(2019, 5, 5))
    )  # fmt: skip
    school_id = only_record_id(directory, pupil())
    gp_id = only_record_id(directory, pupil(upn=make_upn(5, la=OTHER_LA), nhs=make_nhs(5)))
    receipt = _merged(directory, school_id, gp_id)
    assert b"Zanzibarine" in _files(db)  # the checks below would prove nothing otherwise

    _on(directory, date(2033, 4, 2))  # the day after the 18th birthday
    report = directory.run_jobs()
    assert report.archived == (school_id,)  # the survivor only
    store = directory.store
    assert isinstance(store, SqliteStore)
    row = store.get_child(str(gp_id))
    assert row is not None
    assert row.state == MERGED  # never archived on its own
    assert directory.read_archive(
        gp_id, viewer(Role.ARCHIVE_REVIEWER, purpose=Purpose.ARCHIVE_REVIEW),
        reason="serious_case_review",
    ).record.directory_id == school_id  # fmt: skip
    assert isinstance(
        directory.read_archive(
            school_id,
            viewer(Role.ARCHIVE_REVIEWER, purpose=Purpose.ARCHIVE_REVIEW),
            reason="serious_case_review",
        ),
        FullRecordView,
    )

    _on(directory, date(2039, 3, 31))
    assert directory.run_jobs().destroyed == ()
    _on(directory, date(2039, 4, 1))  # six years after it left (RET-5)
    report = directory.run_jobs()
    assert set(report.destroyed) == {school_id, gp_id}
    assert store.get_child(str(gp_id)) is None
    assert directory.merged_into(gp_id) is None
    audit = directory.audit
    assert isinstance(audit, MerkleAuditLog)
    destroyed = [e.event for e in audit.entries() if e.event["action"] == "record_destroyed"]
    assert {(e["directory_id"], e.get("code")) for e in destroyed} == {
        (str(school_id), None),
        (str(gp_id), "merged_record"),
    }
    assert store.connection.execute("SELECT COUNT(*) FROM linkage_merges").fetchone()[0] == 0
    with pytest.raises(RecordNotFound):
        directory.unmerge_records(receipt.merge_id, team(LA))
    contents = _files(db)
    for value in (
        b"Zanzibarine",
        b"zanzibarine",
        b"Amelia",
        b"amelia",
        str(make_nhs(5)).encode(),
        str(make_nhs(1)).encode(),
    ):
        assert value not in contents, value
    assert b"Underwood" in contents  # the rest of the directory is still there
    directory.close()


def test_sup_7_reset_empties_the_merges_and_the_linkage_index() -> None:
    directory = new_directory()
    school_id, gp_id = _two_records(directory)
    _merged(directory, school_id, gp_id)
    store = directory.store
    assert isinstance(store, SqliteStore)
    assert store.connection.execute("SELECT COUNT(*) FROM linkage_merges").fetchone()[0] == 1
    directory.reset()
    assert store.connection.execute("SELECT COUNT(*) FROM linkage_merges").fetchone()[0] == 0
    assert directory.linkage is not None
    assert directory.linkage.counts() == {"profiles": 0, "keys": 0}
    assert directory.merged_into(gp_id) is None
    directory.close()
