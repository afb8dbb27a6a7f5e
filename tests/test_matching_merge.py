"""Merging two records of one child, undoing it, and the audit of both (issue 7)."""

from __future__ import annotations

import attrs
import pytest

from contactpoint_sdk.errors import PolicyRefusal, RecordNotFound
from contactpoint_sdk.models import ShieldGround
from contactpoint_sdk.models.identifiers import DirectoryId
from contactpoint_sdk.models.views import ShieldedChildView
from contactpoint_sdk.reference_server import DirectoryService, ShieldRequestInput
from contactpoint_sdk.reference_server.linkage_index import SqliteLinkageIndex
from contactpoint_sdk.reference_server.linkage_merge import MERGED, RecordMerger
from contactpoint_sdk.reference_server.store import SqliteStore
from tests.test_matching_directory import _directory
from tests.test_server_core_support import (
    OTHER_LA,
    Source,
    involvement,
    make_nhs,
    make_upn,
    only_record_id,
    pupil,
    team,
    viewer,
)


def _two_records_of_one_child() -> tuple[
    DirectoryService, SqliteLinkageIndex, RecordMerger, DirectoryId, DirectoryId
]:
    """The school knows Amelia by UPN 1 / NHS 1; a GP supplied her under a
    new NHS number with a new home, and the team held both apart."""
    directory, index = _directory()
    Source(directory).send(pupil())
    gp = Source(directory, "gp-b82001", local_authority=OTHER_LA)
    gp.send(
        pupil(
            "patient-1",
            upn=make_upn(5, la=OTHER_LA),
            nhs=make_nhs(5),
            street="4 Elsewhere Road",
            involvements=(involvement("G-1"),),
        )
    )
    assert directory.counts()["live"] == 2
    merger = directory.merger
    assert merger is not None  # a SQLite directory keeps its merges
    school_id = only_record_id(directory, pupil())
    gp_id = only_record_id(directory, pupil(upn=make_upn(5, la=OTHER_LA), nhs=make_nhs(5)))
    return directory, index, merger, school_id, gp_id


def test_a_merge_makes_one_record_and_is_audited() -> None:
    directory, index, merger, school_id, gp_id = _two_records_of_one_child()
    now, today = directory.clock.now(), directory.clock.today()
    receipt, events = merger.merge(school_id, gp_id, by="team-801", now=now, today=today)
    assert directory.counts()["live"] == 1
    merged = directory.record(school_id)
    assert merged.address.lines == ("4 Elsewhere Road",)  # the newest supply
    assert {str(i.nhs_number) for i in (merged.identifiers,)} == {str(make_nhs(5))}
    assert any(i.reference.endswith(":G-1") for i in merged.involvements)
    # The retired identifier leads to the survivor (SUP-7).
    assert directory.record(gp_id).directory_id == school_id
    assert directory.merged_into(gp_id) == school_id
    # The GP's numbers now find the survivor; the retired record is out of every index.
    assert only_record_id(directory, pupil(upn=make_upn(5, la=OTHER_LA), nhs=make_nhs(5))) == (
        school_id
    )
    store = directory.store
    assert isinstance(store, SqliteStore)
    row = store.get_child(str(gp_id))
    assert row is not None
    assert row.state == MERGED
    assert index.counts()["profiles"] == 1
    assert merger.merged_into(gp_id) == school_id
    assert merger.merged_into(school_id) is None
    [event] = events
    assert (event.action, event.actor, event.directory_id, event.rule) == (
        "records_merged",
        "team-801",
        str(school_id),
        "SUP-7",
    )
    assert event.refs == (str(gp_id), receipt.merge_id)
    assert "Amelia" not in repr(event)  # identifiers and codes only (ACC-5)


def test_an_unmerge_restores_both_records_and_is_audited() -> None:
    directory, index, merger, school_id, gp_id = _two_records_of_one_child()
    before_school = directory.record(school_id)
    before_gp = directory.record(gp_id)
    clock = directory.clock
    receipt, _ = merger.merge(school_id, gp_id, by="team-801", now=clock.now(), today=clock.today())
    undone, events = merger.unmerge(
        receipt.merge_id, by="team-802", now=clock.now(), today=clock.today()
    )
    assert (undone.undone_by, undone.merged_by) == ("team-802", "team-801")
    assert directory.counts()["live"] == 2
    assert directory.record(school_id) == before_school
    assert directory.record(gp_id) == before_gp
    assert only_record_id(directory, pupil()) == school_id
    assert merger.merged_into(gp_id) is None
    assert index.counts()["profiles"] == 2
    [event] = events
    assert (event.action, event.refs) == ("records_unmerged", (str(gp_id), receipt.merge_id))
    with pytest.raises(RecordNotFound):  # once only
        merger.unmerge(receipt.merge_id, by="team-802", now=clock.now(), today=clock.today())
    assert [m.merge_id for m in merger.merges_of(school_id)] == [receipt.merge_id]


def test_shld_7_the_shield_follows_the_child_into_the_survivor() -> None:
    directory, _, merger, school_id, gp_id = _two_records_of_one_child()
    directory.request_shield(
        gp_id,
        ShieldRequestInput(ground=ShieldGround.RISK_OF_HARM_TO_CHILD, requested_by="t"),
        team(OTHER_LA),
    )
    clock = directory.clock
    merger.merge(school_id, gp_id, by="team-801", now=clock.now(), today=clock.today())
    assert isinstance(directory.view(school_id, viewer()), ShieldedChildView)


def test_shld_5_adoption_records_are_never_merged() -> None:
    directory, _, merger, school_id, gp_id = _two_records_of_one_child()
    directory.request_shield(
        gp_id,
        ShieldRequestInput(ground=ShieldGround.ADOPTION_IDENTITY_LINK, requested_by="t"),
        team(OTHER_LA),
    )
    clock = directory.clock
    with pytest.raises(PolicyRefusal) as refused:
        merger.merge(school_id, gp_id, by="team-801", now=clock.now(), today=clock.today())
    assert (refused.value.code, refused.value.rule) == ("adoption_records_never_linked", "SHLD-5")
    assert directory.counts()["live"] == 2


def test_twins_are_never_merged_even_by_hand() -> None:
    directory, _ = _directory()
    Source(directory).send(pupil("a"), pupil("b", given="Bella", upn=make_upn(2), nhs=make_nhs(2)))
    store = directory.store
    assert isinstance(store, SqliteStore)
    merger = RecordMerger(store, directory.keeper)
    amelia = only_record_id(directory, pupil())
    bella = only_record_id(directory, pupil(upn=make_upn(2), nhs=make_nhs(2)))
    clock = directory.clock
    with pytest.raises(PolicyRefusal) as refused:
        merger.merge(amelia, bella, by="team-801", now=clock.now(), today=clock.today())
    assert (refused.value.code, refused.value.rule) == ("looks_like_twin", "SUP-7")
    with pytest.raises(PolicyRefusal):
        merger.merge(amelia, amelia, by="team-801", now=clock.now(), today=clock.today())
    assert attrs.has(type(directory.record(amelia)))
