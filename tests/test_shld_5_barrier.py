"""SHLD-5 holds after the shield is lifted: the adoption link barrier.

Security review finding M6: only an adoption shield still in place kept pre-
and post-adoption records apart. Once a review lifted it, a merge and the
matcher could link them. A record that has ever been shielded on an adoption
ground now keeps an adoption link barrier in the store for good: merges are
refused, supplies are never linked to it nor suggested, the barrier survives
a reload, a later shield on another ground and an unmerge, and goes only
with the record (RET-5).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import attrs
import pytest

from contactpoint_sdk.errors import PolicyRefusal
from contactpoint_sdk.models import ShieldGround
from contactpoint_sdk.models.enums import ShieldReviewParty
from contactpoint_sdk.models.identifiers import DirectoryId, SchoolReference
from contactpoint_sdk.models.operations import OutcomeStatus, ShieldRequested, SuppliedChild
from contactpoint_sdk.models.record import SourceIdentifiers
from contactpoint_sdk.reference_server import (
    DirectoryService,
    MergeReceipt,
    ShieldRequestInput,
    ShieldReviewInput,
)
from contactpoint_sdk.reference_server.linkage_policy import is_adoption_shielded
from contactpoint_sdk.reference_server.linkage_profile import profile_from_record, query_profile
from contactpoint_sdk.reference_server.matching import ProbabilisticMatcher
from contactpoint_sdk.reference_server.store import SqliteStore
from tests.test_server_core_support import (
    LA,
    OTHER_LA,
    Source,
    clock_of,
    involvement,
    key_of,
    make_nhs,
    make_upn,
    new_directory,
    only_record_id,
    pupil,
    team,
)

ADOPTION_GROUNDS = (ShieldGround.ADOPTION_IDENTITY_LINK, ShieldGround.RISK_TO_ADOPTION_PLACEMENT)


def _store(directory: DirectoryService) -> SqliteStore:
    store = directory.store
    assert isinstance(store, SqliteStore)
    return store


def _gp_copy(child: SuppliedChild, la: str = OTHER_LA, serial: int = 5) -> SuppliedChild:
    """The same child as a GP first recorded her: other numbers, another home."""
    return attrs.evolve(
        pupil("patient-1", upn=make_upn(serial, la=la), nhs=make_nhs(serial), street="4 Far Road"),
        name=child.name,
        involvements=(involvement("G-1"),),
    )


def _resembling(child: SuppliedChild, serial: int = 70) -> SuppliedChild:
    """The child as another source supplies her: no identifier the directory
    knows, the same name, date of birth and home."""
    return attrs.evolve(
        child,
        ref="patient-9",
        identifiers=SourceIdentifiers(
            school_references=(SchoolReference(establishment="8019999", reference=f"G{serial}"),)
        ),
    )


def _two_records(directory: DirectoryService) -> tuple[DirectoryId, DirectoryId]:
    Source(directory).send(pupil())
    Source(directory, "gp-b82001", local_authority=OTHER_LA).send(_gp_copy(pupil()))
    assert directory.counts()["live"] == 2
    school_id = only_record_id(directory, pupil())
    gp_id = only_record_id(directory, pupil(upn=make_upn(5, la=OTHER_LA), nhs=make_nhs(5)))
    return school_id, gp_id


def _shield(
    directory: DirectoryService, directory_id: DirectoryId, la: str, ground: ShieldGround
) -> None:
    directory.request_shield(
        directory_id, ShieldRequestInput(ground=ground, requested_by="sw-1"), team(la)
    )


def _lift(directory: DirectoryService, directory_id: DirectoryId, la: str) -> None:
    """A review that does not maintain the shield; it is lifted from the next day."""
    clock = clock_of(directory)
    review = ShieldReviewInput(
        reviewed_on=clock.today(),
        reviewed_by=f"team-{la}",
        views_considered=(next(iter(ShieldReviewParty)),),
        maintained=False,
    )
    directory.review_shield(directory_id, review, team(la))
    clock.set(clock.now() + timedelta(days=2))
    record = directory.record(directory_id)
    assert record.shield is not None  # kept, lifted
    row = directory.store.get_child(str(directory_id))
    assert row is not None
    assert not row.shielded


def _refused_merge(directory: DirectoryService, a: DirectoryId, b: DirectoryId, la: str) -> None:
    with pytest.raises(PolicyRefusal) as refused:
        directory.merge_records(a, b, team(la))
    assert (refused.value.code, refused.value.rule) == ("adoption_records_never_linked", "SHLD-5")


@pytest.mark.parametrize("ground", ADOPTION_GROUNDS)
def test_shld_5_a_merge_after_the_adoption_shield_is_lifted_is_refused(
    ground: ShieldGround,
) -> None:
    directory = new_directory()
    school_id, gp_id = _two_records(directory)
    _shield(directory, gp_id, OTHER_LA, ground)
    _lift(directory, gp_id, OTHER_LA)
    _refused_merge(directory, school_id, gp_id, LA)
    _refused_merge(directory, gp_id, school_id, OTHER_LA)
    assert directory.counts()["live"] == 2
    assert directory.merged_into(gp_id) is None
    assert _store(directory).adoption_barrier(str(gp_id)) == ground.value


def test_shld_5_a_lifted_shield_on_another_ground_does_not_bar_a_merge() -> None:
    """The control: only adoption grounds set the barrier."""
    directory = new_directory()
    school_id, gp_id = _two_records(directory)
    _shield(directory, gp_id, OTHER_LA, ShieldGround.RISK_OF_HARM_TO_ADULT)
    _lift(directory, gp_id, OTHER_LA)
    assert _store(directory).adoption_barrier(str(gp_id)) is None
    receipt = directory.merge_records(school_id, gp_id, team(LA))
    assert receipt is not None  # done, or queued for the other authority


@pytest.mark.parametrize("ground", ADOPTION_GROUNDS)
def test_shld_5_a_supply_resembling_a_lifted_adoption_record_is_never_linked_or_suggested(
    ground: ShieldGround,
) -> None:
    directory = new_directory()
    Source(directory).send(pupil())
    record_id = only_record_id(directory, pupil())
    _shield(directory, record_id, LA, ground)
    _lift(directory, record_id, LA)

    matcher = directory.matcher
    assert isinstance(matcher, ProbabilisticMatcher)
    child = pupil()
    query = query_profile(
        child.identifiers, child.date_of_birth, child.name, gender=child.gender,
        address=child.address, parents=child.parents,
    )  # fmt: skip
    assert [s.profile.directory_id for s in matcher.score(query)] == []

    receipt = Source(directory, "gp-b82001", local_authority=OTHER_LA).send(_resembling(child))
    assert receipt.outcomes[0].status is OutcomeStatus.ACCEPTED
    assert directory.counts()["live"] == 2  # a record of its own, never linked
    assert directory.data_quality_queue(LA) == []  # never suggested
    assert directory.data_quality_queue(OTHER_LA) == []


def test_shld_5_control_a_lifted_non_adoption_shield_leaves_the_record_a_candidate() -> None:
    directory = new_directory()
    Source(directory).send(pupil())
    record_id = only_record_id(directory, pupil())
    _shield(directory, record_id, LA, ShieldGround.RISK_OF_HARM_TO_ADULT)
    _lift(directory, record_id, LA)
    Source(directory, "gp-b82001", local_authority=OTHER_LA).send(_resembling(pupil()))
    linked = directory.counts()["live"] == 1
    suggested = bool(directory.data_quality_queue(LA) or directory.data_quality_queue(OTHER_LA))
    assert linked or suggested


def test_shld_5_the_barrier_survives_a_reload_of_a_file_backed_directory(tmp_path: Path) -> None:
    path = tmp_path / "directory.db"
    directory = new_directory(path)
    school_id, gp_id = _two_records(directory)
    _shield(directory, gp_id, OTHER_LA, ShieldGround.ADOPTION_IDENTITY_LINK)
    _lift(directory, gp_id, OTHER_LA)
    moved_to = clock_of(directory).now()
    directory.close()

    reopened = new_directory(path)
    clock_of(reopened).set(moved_to)
    assert _store(reopened).adoption_barrier(str(gp_id)) == "adoption_identity_link"
    _refused_merge(reopened, school_id, gp_id, LA)
    linkage = reopened.linkage
    assert linkage is not None
    matcher = reopened.matcher
    assert isinstance(matcher, ProbabilisticMatcher)
    child = pupil()
    query = query_profile(child.identifiers, child.date_of_birth, child.name)
    found = {s.profile.directory_id for s in matcher.score(query)}
    assert str(gp_id) not in found
    assert str(school_id) in found
    reopened.close()


def test_shld_5_a_later_shield_on_another_ground_keeps_the_barrier() -> None:
    directory = new_directory()
    school_id, gp_id = _two_records(directory)
    _shield(directory, gp_id, OTHER_LA, ShieldGround.ADOPTION_IDENTITY_LINK)
    _lift(directory, gp_id, OTHER_LA)
    _shield(directory, gp_id, OTHER_LA, ShieldGround.RISK_OF_HARM_TO_ADULT)
    _lift(directory, gp_id, OTHER_LA)
    _refused_merge(directory, school_id, gp_id, LA)
    row = directory.store.get_child(str(gp_id))
    assert row is not None
    assert row.shield_ground == "adoption_identity_link"


def test_shld_5_a_supplied_adoption_shield_sets_the_barrier_too() -> None:
    directory = new_directory()
    school = Source(directory)
    school.send(pupil())
    record_id = only_record_id(directory, pupil())
    school.send(
        ShieldRequested(
            ref="shield-1",
            child=key_of(pupil()),
            ground=ShieldGround.RISK_TO_ADOPTION_PLACEMENT,
            requested_by="dsl-1",
            requested_at=clock_of(directory).now(),
        )
    )
    assert _store(directory).adoption_barrier(str(record_id)) == "risk_to_adoption_placement"
    _lift(directory, record_id, LA)
    assert _store(directory).adoption_barrier(str(record_id)) == "risk_to_adoption_placement"


def test_shld_5_an_unmerge_gives_both_records_the_barrier_set_while_they_were_one() -> None:
    directory = new_directory()
    school_id, gp_id = _two_records(directory)
    receipt = directory.merge_records(school_id, gp_id, team(LA))
    if not isinstance(receipt, MergeReceipt):  # across authorities: the other team approves
        receipt = directory.approve_merge(receipt.request_id, team(OTHER_LA))
    _shield(directory, school_id, LA, ShieldGround.ADOPTION_IDENTITY_LINK)
    directory.unmerge_records(receipt.merge_id, team(LA))
    store = _store(directory)
    assert store.adoption_barrier(str(school_id)) == "adoption_identity_link"
    assert store.adoption_barrier(str(gp_id)) == "adoption_identity_link"
    _refused_merge(directory, school_id, gp_id, LA)


def test_ret_5_the_barrier_is_destroyed_with_the_record() -> None:
    directory = new_directory()
    Source(directory).send(pupil())
    record_id = only_record_id(directory, pupil())
    _shield(directory, record_id, LA, ShieldGround.ADOPTION_IDENTITY_LINK)
    store = _store(directory)
    assert store.adoption_barrier(str(record_id)) is not None
    store.destroy(str(record_id))
    assert store.adoption_barrier(str(record_id)) is None
    assert store.connection.execute("SELECT COUNT(*) FROM adoption_barriers").fetchone()[0] == 0


def test_shld_5_the_profile_of_a_record_with_a_lifted_adoption_shield_is_barred() -> None:
    directory = new_directory()
    Source(directory).send(pupil())
    record_id = only_record_id(directory, pupil())
    _shield(directory, record_id, LA, ShieldGround.ADOPTION_IDENTITY_LINK)
    _lift(directory, record_id, LA)
    profile = profile_from_record(directory.record(record_id))
    assert not profile.shielded
    assert is_adoption_shielded(profile)
