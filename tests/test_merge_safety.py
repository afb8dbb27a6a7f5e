"""Merging safely: evidence, two decisions, the shield's authority, snapshots.

Security review findings H1 (a management team took over another
authority's shielded child by merging it into one of its own records) and M5
(merge snapshots kept child data beyond RET-7 and SAR-2). Rules: SUP-7,
SHLD-3, SAR-1, SAR-2, RET-7.
"""

from __future__ import annotations

from datetime import date, timedelta

import attrs
import pytest

from contactpoint_sdk.errors import NotPermitted, PolicyRefusal
from contactpoint_sdk.models import ShieldGround
from contactpoint_sdk.models.enums import ShieldReviewParty
from contactpoint_sdk.models.identifiers import DirectoryId
from contactpoint_sdk.models.operations import SuppliedChild
from contactpoint_sdk.models.record import PersonName
from contactpoint_sdk.models.views import ShieldedChildView
from contactpoint_sdk.policy.settings import PolicySettings
from contactpoint_sdk.policy.viewer import SubjectAccessRequester, Viewer
from contactpoint_sdk.reference_server import (
    DataQualityKind,
    DirectoryService,
    MemoryAuditLog,
    MergeReceipt,
    ShieldRequestInput,
    ShieldReviewInput,
)
from contactpoint_sdk.reference_server.audit import AuditEvent
from contactpoint_sdk.reference_server.linkage_merge import MergeRequestStatus, PendingMerge
from contactpoint_sdk.reference_server.management import MERGE_REQUESTED
from contactpoint_sdk.reference_server.store import SqliteStore
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
    school,
    team,
    viewer,
)


def _actions(directory: DirectoryService, action: str) -> list[AuditEvent]:
    audit = directory.audit
    assert isinstance(audit, MemoryAuditLog)
    return [e for e in audit.events() if e.action == action]


def _second_member(la: str = LA) -> Viewer:
    return attrs.evolve(team(la), user_id=f"team-{la}-b")


def _gp_copy(child: SuppliedChild, la: str, serial: int = 5) -> SuppliedChild:
    """The same child as a GP first recorded her: other numbers, another home."""
    return attrs.evolve(
        pupil("patient-1", upn=make_upn(serial, la=la), nhs=make_nhs(serial), street="4 Far Road"),
        name=child.name,
        involvements=(involvement("G-1"),),
    )


def _duplicates(directory: DirectoryService, gp_la: str = LA) -> tuple[DirectoryId, DirectoryId]:
    """Amelia twice (the NHS numbers differ): a possible duplicate on the queue."""
    Source(directory).send(pupil())
    Source(directory, "gp-b82001", local_authority=gp_la).send(_gp_copy(pupil(), gp_la))
    school_id = only_record_id(directory, pupil())
    gp_id = only_record_id(directory, pupil(upn=make_upn(5, la=gp_la), nhs=make_nhs(5)))
    assert school_id != gp_id
    return school_id, gp_id


def _snapshot_of(directory: DirectoryService, merge_id: str) -> str:
    store = directory.store
    assert isinstance(store, SqliteStore)
    row = store.connection.execute(
        "SELECT snapshot FROM linkage_merges WHERE merge_id = ?", (merge_id,)
    ).fetchone()
    assert row is not None
    return str(row[0])


def _shield(directory: DirectoryService, directory_id: DirectoryId, la: str) -> None:
    directory.request_shield(
        directory_id,
        ShieldRequestInput(ground=ShieldGround.RISK_OF_HARM_TO_ADULT, requested_by="sw"),
        team(la),
    )


# --- H1: the review's proof, refused ------------------------------------------------------


def test_h1_a_team_cannot_merge_another_authoritys_shielded_child_into_its_own_record() -> None:
    directory = new_directory()
    victim = pupil(
        "v-1", given="Zara", family="Quinn", born=date(2014, 7, 9),
        upn=make_upn(9, la=OTHER_LA), nhs=make_nhs(9), street="12 Refuge Lane",
        postcode="BS7 8QR",
        involvements=(involvement("V-1", organisation=school("654321", "Refuge Side Primary")),),
    )  # fmt: skip
    Source(directory, "school-8022000", local_authority=OTHER_LA).send(victim)
    victim_id = only_record_id(directory, victim)
    _shield(directory, victim_id, OTHER_LA)
    clock_of(directory).set(clock_of(directory).now() + timedelta(days=1))
    mine = pupil("m-1", given="Amelia", family="Hartley", born=date(2014, 7, 9),
                 upn=make_upn(3), nhs=make_nhs(3))  # fmt: skip
    Source(directory, "school-8012000").send(mine)
    mine_id = only_record_id(directory, mine)

    with pytest.raises(PolicyRefusal) as refused:
        directory.merge_records(mine_id, victim_id, team(LA))
    assert (refused.value.code, refused.value.rule) == ("insufficient_match_evidence", "SUP-7")
    with pytest.raises(PolicyRefusal):  # the other way round too
        directory.merge_records(victim_id, mine_id, team(LA))
    assert directory.counts()["live"] == 2
    assert directory.merged_into(victim_id) is None
    # 801 gained nothing: no subject access, no shield review, still shielded.
    with pytest.raises(NotPermitted):
        directory.subject_access_export(victim_id, SubjectAccessRequester.CHILD, team(LA))
    review = ShieldReviewInput(
        reviewed_on=clock_of(directory).today(), reviewed_by="801-team",
        views_considered=(next(iter(ShieldReviewParty)),), maintained=False,
    )  # fmt: skip
    with pytest.raises(NotPermitted):
        directory.review_shield(victim_id, review, team(LA))
    assert isinstance(directory.view(victim_id, viewer()), ShieldedChildView)
    assert [e.rule for e in _actions(directory, "records_merge_refused")] == [
        "SUP-7",
        "SUP-7",
    ]


def test_sup_7_a_weak_pair_with_no_queue_item_is_refused_for_want_of_evidence() -> None:
    directory = new_directory()
    Source(directory).send(pupil())
    other = pupil("o-1", family="Quinn", born=date(2016, 1, 2), upn=make_upn(2), nhs=make_nhs(2),
                  street="7 Other Street", postcode="LS9 9ZZ")  # fmt: skip
    Source(directory, "school-2").send(other)
    a, b = only_record_id(directory, pupil()), only_record_id(directory, other)
    assert not [
        i for i in directory.data_quality_queue(LA) if {a, b} <= {i.directory_id, *i.candidates}
    ]
    with pytest.raises(PolicyRefusal) as refused:
        directory.merge_records(a, b, team(LA))
    assert (refused.value.code, refused.value.rule) == ("insufficient_match_evidence", "SUP-7")
    assert directory.counts()["live"] == 2


def test_sup_7_a_possible_duplicate_on_the_queue_is_evidence_and_the_merge_closes_it() -> None:
    directory = new_directory()
    school_id, gp_id = _duplicates(directory)
    [item] = directory.data_quality_queue(LA)
    assert (item.kind, item.directory_id, item.candidates) == (
        DataQualityKind.POSSIBLE_DUPLICATE,
        gp_id,
        (school_id,),
    )
    receipt = directory.merge_records(school_id, gp_id, team(LA))  # one authority, unshielded
    assert isinstance(receipt, MergeReceipt)
    assert directory.counts()["live"] == 1
    assert directory.data_quality_queue(LA) == []  # the item that prompted it is closed
    [closed] = _actions(directory, "data_quality_resolved")
    assert (closed.code, closed.refs[0]) == ("merged", item.item_id)


# --- H1: two decisions --------------------------------------------------------------------


def test_sup_7_across_authorities_the_other_team_approves_and_may_decline() -> None:
    directory = new_directory()
    school_id, gp_id = _duplicates(directory, gp_la=OTHER_LA)
    pending = directory.merge_records(school_id, gp_id, team(LA))
    assert isinstance(pending, PendingMerge)
    assert (pending.approving_authority, pending.reasons) == (OTHER_LA, ("different_authorities",))
    assert directory.counts()["live"] == 2  # nothing happens yet
    queued = {i.item_id: i for i in directory.data_quality_queue(OTHER_LA)}
    assert queued[pending.request_id].detail_code == MERGE_REQUESTED
    with pytest.raises(NotPermitted) as own:
        directory.management.approve_merge(pending.request_id, team(LA))
    assert (own.value.code, own.value.rule) == ("management_team_only", "SUP-7")
    # Declined: the approving team resolves the item; it can no longer be approved.
    directory.resolve_data_quality(pending.request_id, by=team(OTHER_LA))
    with pytest.raises(PolicyRefusal) as closed:
        directory.management.approve_merge(pending.request_id, team(OTHER_LA))
    assert (closed.value.code, closed.value.rule) == ("merge_request_closed", "SUP-7")
    merger = directory.merger
    assert merger is not None
    declined = merger.request(pending.request_id)
    assert declined is not None
    assert declined.status is MergeRequestStatus.DECLINED
    # Asked again and approved: merged, and both queue items closed.
    again = directory.merge_records(school_id, gp_id, team(LA))
    assert isinstance(again, PendingMerge)
    receipt = directory.management.approve_merge(again.request_id, team(OTHER_LA))
    assert receipt.merged_by == f"team-{OTHER_LA}"
    assert directory.counts()["live"] == 1
    assert directory.data_quality_queue(OTHER_LA) == []
    approved = merger.request(again.request_id)
    assert approved is not None
    assert (approved.status, approved.merge_id) == (MergeRequestStatus.APPROVED, receipt.merge_id)
    for action in ("merge_requested", "merge_approved", "records_merged"):
        for event in _actions(directory, action):
            assert "Amelia" not in repr(event)


def test_sup_7_a_shielded_pair_of_one_authority_needs_a_second_member_of_its_team() -> None:
    directory = new_directory()
    school_id, gp_id = _duplicates(directory)
    _shield(directory, gp_id, LA)
    pending = directory.merge_records(school_id, gp_id, team(LA))
    assert isinstance(pending, PendingMerge)
    assert (pending.approving_authority, pending.reasons) == (LA, ("shielded",))
    with pytest.raises(NotPermitted) as same:
        directory.management.approve_merge(pending.request_id, team(LA))
    assert (same.value.code, same.value.rule) == ("second_decision_needed", "SUP-7")
    receipt = directory.management.approve_merge(pending.request_id, _second_member())
    assert receipt.merged_by == f"team-{LA}-b"
    assert isinstance(directory.view(school_id, viewer()), ShieldedChildView)


def test_shld_3_sar_1_a_merged_shield_stays_with_the_shielded_records_authority() -> None:
    directory = new_directory()
    school_id, gp_id = _duplicates(directory, gp_la=OTHER_LA)
    _shield(directory, gp_id, OTHER_LA)  # 802's record is shielded
    # 801's school supplies again: the survivor's newest supply is 801's.
    clock_of(directory).set(clock_of(directory).now() + timedelta(days=1))
    Source(directory, "school-2").send(pupil(street="1 New Street"))
    assert only_record_id(directory, pupil()) == school_id
    pending = directory.merge_records(school_id, gp_id, team(LA))
    assert isinstance(pending, PendingMerge)
    assert set(pending.reasons) == {"different_authorities", "shielded"}
    directory.management.approve_merge(pending.request_id, team(OTHER_LA))
    assert directory.record(school_id).local_authority == LA  # the newest supply's
    # ... but the shield's authority keeps shield review and subject access.
    with pytest.raises(NotPermitted) as sar:
        directory.subject_access_export(school_id, SubjectAccessRequester.CHILD, team(LA))
    assert sar.value.rule == "SAR-1"
    with pytest.raises(NotPermitted):
        directory.correct(school_id, by=team(LA), name=PersonName(given_name="A", family_name="B"))
    review = ShieldReviewInput(
        reviewed_on=clock_of(directory).today(), reviewed_by="x",
        views_considered=(next(iter(ShieldReviewParty)),), maintained=True,
    )  # fmt: skip
    with pytest.raises(NotPermitted) as lift:
        directory.review_shield(school_id, review, team(LA))
    assert lift.value.rule == "SHLD-3"
    directory.subject_access_export(school_id, SubjectAccessRequester.CHILD, team(OTHER_LA))
    directory.review_shield(school_id, review, team(OTHER_LA))
    # Overdue reviews are listed for the shield's authority, not the merging one.
    clock_of(directory).set(clock_of(directory).now() + timedelta(days=400))
    assert [o.directory_id for o in directory.overdue_shield_reviews(OTHER_LA)] == [school_id]
    assert directory.overdue_shield_reviews(LA) == []


# --- M5: snapshots ------------------------------------------------------------------------


def test_m5_an_unmerge_deletes_the_snapshot() -> None:
    directory = new_directory()
    school_id, gp_id = _duplicates(directory)
    receipt = directory.merge_records(school_id, gp_id, team(LA))
    assert isinstance(receipt, MergeReceipt)
    assert "Amelia" in _snapshot_of(directory, receipt.merge_id)
    directory.unmerge_records(receipt.merge_id, team(LA))
    assert _snapshot_of(directory, receipt.merge_id) == ""
    merger = directory.merger
    assert merger is not None
    [kept] = merger.merges_of(school_id)
    assert (kept.merge_id, kept.survivor, kept.absorbed, kept.merged_by) == (
        receipt.merge_id,
        school_id,
        gp_id,
        f"team-{LA}",
    )
    assert kept.undone_by == f"team-{LA}"


def test_m5_ret_7_the_job_drops_expired_snapshots_and_an_unmerge_is_then_refused() -> None:
    directory = new_directory()
    school_id, gp_id = _duplicates(directory)
    receipt = directory.merge_records(school_id, gp_id, team(LA))
    assert isinstance(receipt, MergeReceipt)
    days = PolicySettings().merge_undo_days
    assert days == 90
    clock = clock_of(directory)
    clock.set(receipt.merged_at + timedelta(days=days - 1))
    directory.run_jobs()
    assert _snapshot_of(directory, receipt.merge_id) != ""  # still within the window
    clock.set(receipt.merged_at + timedelta(days=days, seconds=1))
    directory.run_jobs()
    assert _snapshot_of(directory, receipt.merge_id) == ""
    [expired] = _actions(directory, "merge_snapshot_expired")
    assert expired.refs == (receipt.merge_id,)
    with pytest.raises(PolicyRefusal) as refused:
        directory.unmerge_records(receipt.merge_id, team(LA))
    assert (refused.value.code, refused.value.rule) == ("merge_undo_expired", "SUP-7")
    assert directory.counts()["live"] == 1


def test_m5_an_unmerge_after_expiry_is_refused_without_the_job_and_drops_the_snapshot() -> None:
    directory = new_directory()
    school_id, gp_id = _duplicates(directory)
    receipt = directory.merge_records(school_id, gp_id, team(LA))
    assert isinstance(receipt, MergeReceipt)
    clock_of(directory).set(receipt.merged_at + timedelta(days=91))
    with pytest.raises(PolicyRefusal) as refused:
        directory.unmerge_records(receipt.merge_id, team(LA))
    assert refused.value.code == "merge_undo_expired"
    assert _snapshot_of(directory, receipt.merge_id) == ""


def test_m5_sar_2_the_snapshot_keeps_no_correction_and_an_unmerge_keeps_the_newest() -> None:
    directory = new_directory()
    school_id, gp_id = _duplicates(directory)
    directory.correct(
        school_id, by=team(LA), name=PersonName(given_name="Amelia", family_name="Oldcorrection")
    )
    receipt = directory.merge_records(school_id, gp_id, team(LA))
    assert isinstance(receipt, MergeReceipt)
    assert "Oldcorrection" not in _snapshot_of(directory, receipt.merge_id)
    directory.correct(
        school_id, by=team(LA), name=PersonName(given_name="Amelia", family_name="Newcorrection")
    )
    directory.unmerge_records(receipt.merge_id, team(LA))
    assert directory.record(school_id).name.family_name == "Newcorrection"


def test_m5_sar_1_subject_access_reports_that_a_snapshot_exists_never_its_content() -> None:
    directory = new_directory()
    school_id, gp_id = _duplicates(directory)
    receipt = directory.merge_records(school_id, gp_id, team(LA))
    assert isinstance(receipt, MergeReceipt)
    [note] = directory.management.merge_snapshots(school_id, team(LA))
    assert (note.merge_id, note.directory_id) == (receipt.merge_id, school_id)
    assert note.undo_until == receipt.merged_at + timedelta(days=90)
    assert "Amelia" not in repr(note)
    with pytest.raises(NotPermitted) as other:
        directory.management.merge_snapshots(school_id, team(OTHER_LA))
    assert other.value.rule == "SAR-1"
    directory.unmerge_records(receipt.merge_id, team(LA))
    assert directory.management.merge_snapshots(school_id, team(LA)) == []
