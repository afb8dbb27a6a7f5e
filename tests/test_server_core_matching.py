"""Matching a supply to a record: one child, one record (SUP-7), and a shield
that follows the child (SHLD-7), with nothing revealed to the source."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pytest

from contactpoint_sdk.errors import NotPermitted, PolicyRefusal
from contactpoint_sdk.models import Gender, ShieldGround, SourceIdentifiers
from contactpoint_sdk.models.operations import InvolvementStarted, OutcomeStatus
from contactpoint_sdk.models.record import Address, LocalAuthorityCarer, ParentCarer, PersonName
from contactpoint_sdk.models.views import FullRecordView, ShieldedChildView
from contactpoint_sdk.reference_server import (
    DataQualityKind,
    DirectoryService,
    MatchOutcome,
    MatchResult,
    ShieldRequestInput,
    StrongIdentifierMatcher,
)
from contactpoint_sdk.reference_server.ingest import HELD_CODE
from contactpoint_sdk.reference_server.matching import CandidateIndex
from contactpoint_sdk.reference_server.store import SqliteStore
from contactpoint_sdk.supply.keys import EncryptionKey, KeyRing
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
    receipt_text,
    team,
    viewer,
)


def _shielded(directory: DirectoryService, ground: ShieldGround = ShieldGround.OTHER) -> Source:
    """A school-supplied child (UPN 1, NHS 1), shielded by the management team."""
    school = Source(directory)
    school.send(pupil())
    directory.request_shield(
        only_record_id(directory, pupil()),
        ShieldRequestInput(ground=ground, requested_by="team-801"),
        team(),
    )
    return school


def test_shld_7_a_shield_follows_the_child_into_another_sources_supply() -> None:
    directory = new_directory()
    _shielded(directory)
    gp = Source(directory, "gp-b82001", local_authority=OTHER_LA)
    receipt = gp.send(
        pupil(
            "patient-1",
            upn=None,
            nhs=make_nhs(1),
            street="4 Elsewhere Road",
            involvements=(involvement("G-1", started_on=date(2016, 1, 1)),),
        )
    )
    assert receipt.outcomes[0].status is OutcomeStatus.ACCEPTED
    assert directory.counts()["live"] == 1  # no unshielded duplicate
    shown = directory.view(only_record_id(directory, pupil()), viewer(la=OTHER_LA))
    assert isinstance(shown, ShieldedChildView)
    assert "Elsewhere" not in repr(shown)


def test_shld_7_an_uncertain_match_to_a_shielded_record_creates_nothing_and_is_queued() -> None:
    directory = new_directory()
    _shielded(directory)
    shielded_id = only_record_id(directory, pupil())
    gp = Source(directory, "gp-b82001", local_authority=OTHER_LA)
    # Same NHS number, another date of birth: the directory cannot be sure.
    receipt = gp.send(pupil("patient-1", upn=None, nhs=make_nhs(1), born=date(2015, 1, 4)))

    outcome = receipt.outcomes[0]
    assert (outcome.status, outcome.code, outcome.rule) == (
        OutcomeStatus.REJECTED,
        HELD_CODE,
        "SUP-7",
    )
    assert "shield" not in receipt_text(directory, receipt).lower()  # never revealed
    assert directory.counts()["live"] == 1
    [item] = directory.data_quality_queue(LA)  # the shielded record's authority
    assert item.kind is DataQualityKind.SHIELD_MATCH_UNCERTAIN
    assert (item.directory_id, item.candidates, item.held) == (shielded_id, (shielded_id,), True)
    assert (item.supplier_id, item.source_ref, item.detail_code) == (
        "gp-b82001",
        "patient-1",
        "date_of_birth_differs",
    )


def test_shld_7_same_name_and_birth_date_with_new_identifiers_is_held() -> None:
    directory = new_directory()
    _shielded(directory)
    other = Source(directory, "school-2", local_authority=OTHER_LA)
    receipt = other.send(pupil("r-1", upn=make_upn(50, la=OTHER_LA), nhs=make_nhs(50)))
    assert receipt.outcomes[0].code == HELD_CODE
    assert directory.counts()["live"] == 1
    [item] = directory.data_quality_queue(LA)
    assert item.detail_code == "shielded_record_may_match"


def test_shld_5_an_adoption_shield_is_never_suggested_as_a_match_by_name() -> None:
    directory = new_directory()
    _shielded(directory, ShieldGround.ADOPTION_IDENTITY_LINK)
    other = Source(directory, "school-2", local_authority=OTHER_LA)
    receipt = other.send(pupil("r-1", upn=make_upn(50, la=OTHER_LA), nhs=make_nhs(50)))
    assert receipt.outcomes[0].status is OutcomeStatus.ACCEPTED
    assert directory.counts()["live"] == 2
    assert directory.data_quality_queue(LA) == []
    assert directory.data_quality_queue(OTHER_LA) == []


def test_sup_7_identifiers_naming_two_records_are_held_not_merged() -> None:
    directory = new_directory()
    school = Source(directory)
    school.send(pupil("a", upn=make_upn(1), nhs=make_nhs(1)))
    school.send(pupil("b", given="Bella", upn=make_upn(2), nhs=make_nhs(2)))
    receipt = school.send(pupil("c", upn=make_upn(1), nhs=make_nhs(2)))
    assert receipt.outcomes[0].code == HELD_CODE
    assert directory.counts()["live"] == 2
    [item] = directory.data_quality_queue(LA)
    assert item.kind is DataQualityKind.POSSIBLE_DUPLICATE
    assert item.detail_code == "identifiers_disagree"
    assert len(item.candidates) == 2


def test_sup_7_a_conflicting_nhs_number_on_a_matched_upn_is_held() -> None:
    directory = new_directory()
    school = Source(directory)
    school.send(pupil())
    receipt = school.send(pupil("b", upn=make_upn(1), nhs=make_nhs(9)))
    assert receipt.outcomes[0].code == HELD_CODE
    [item] = directory.data_quality_queue(LA)
    assert item.detail_code == "identifiers_conflict"


def test_sup_7_same_name_and_birth_date_unshielded_makes_a_record_and_flags_a_duplicate() -> None:
    directory = new_directory()
    school = Source(directory)
    school.send(pupil())
    receipt = school.send(pupil("b", upn=make_upn(2), nhs=make_nhs(2)))
    assert receipt.outcomes[0].status is OutcomeStatus.ACCEPTED
    assert directory.counts()["live"] == 2
    [item] = directory.data_quality_queue(LA)
    assert (item.kind, item.held) == (DataQualityKind.POSSIBLE_DUPLICATE, False)
    assert item.candidates == (only_record_id(directory, pupil()),)


def test_sup_7_twins_are_not_flagged() -> None:
    directory = new_directory()
    school = Source(directory)
    school.send(
        pupil("a"),
        pupil("b", given="Bella", upn=make_upn(2), nhs=make_nhs(2)),
    )
    assert directory.counts()["live"] == 2
    assert directory.data_quality_queue(LA) == []


def test_sup_7_a_former_upn_still_matches() -> None:
    directory = new_directory()
    first = Source(directory)
    first.send(pupil(upn=make_upn(1), nhs=None))
    second = Source(directory, "school-2")
    receipt = second.send(pupil("x", upn=make_upn(2), nhs=None, former_upns=(make_upn(1),)))
    assert receipt.outcomes[0].status is OutcomeStatus.ACCEPTED
    assert directory.counts()["live"] == 1
    record = directory.record(only_record_id(directory, pupil(upn=make_upn(2), nhs=None)))
    assert record.identifiers.upn == make_upn(2)
    assert record.identifiers.former_upns == (make_upn(1),)


def test_shld_7_the_management_team_decides_a_held_supply() -> None:
    directory = new_directory()
    school = _shielded(directory)
    shielded_id = only_record_id(directory, pupil())
    school.send(pupil("b", given="Bella", family="Bell", upn=make_upn(2), nhs=make_nhs(2)))
    bella = only_record_id(directory, pupil(upn=make_upn(2), nhs=make_nhs(2)))
    gp = Source(directory, "gp-b82001", local_authority=OTHER_LA)
    gp.send(pupil("patient-1", upn=None, nhs=make_nhs(1), born=date(2015, 1, 4)))
    [item] = directory.data_quality_queue(LA)

    with pytest.raises(NotPermitted) as caught:
        directory.resolve_held_supply(item.item_id, by=team(OTHER_LA), directory_id=shielded_id)
    assert caught.value.rule == "SHLD-7"
    with pytest.raises(PolicyRefusal) as wrong:
        directory.resolve_held_supply(item.item_id, by=team(), directory_id=bella)
    assert wrong.value.code == "not_a_candidate"

    outcome = directory.resolve_held_supply(item.item_id, by=team(), directory_id=shielded_id)
    assert outcome.status is OutcomeStatus.ACCEPTED
    assert directory.counts()["live"] == 2
    assert isinstance(directory.view(shielded_id, viewer()), ShieldedChildView)
    with pytest.raises(PolicyRefusal) as again:
        directory.resolve_held_supply(item.item_id, by=team())
    assert again.value.code == "item_not_held"
    assert directory.data_quality_queue(LA) == []


def test_shld_7_a_held_supply_applied_to_its_candidate_stays_shielded() -> None:
    directory = new_directory()
    _shielded(directory)
    shielded_id = only_record_id(directory, pupil())
    gp = Source(directory, "gp-b82001", local_authority=OTHER_LA)
    # Held for another date of birth on the same NHS number.
    gp.send(
        InvolvementStarted(
            ref="p-1",
            child=key_of(pupil(upn=None, nhs=make_nhs(1), born=date(2015, 1, 4))),
            involvement=involvement("G-1", started_on=date(2016, 1, 1)),
        )
    )
    [item] = directory.data_quality_queue(LA)
    outcome = directory.resolve_held_supply(item.item_id, by=team(), directory_id=shielded_id)
    assert outcome.status is OutcomeStatus.ACCEPTED
    assert directory.counts()["live"] == 1
    assert any(i.reference == "s2:G-1" for i in directory.record(shielded_id).involvements)
    assert isinstance(directory.view(shielded_id, viewer()), ShieldedChildView)


def test_a_match_to_an_archived_record_is_refused_and_raised_with_the_authority() -> None:
    directory = new_directory()
    school = Source(directory)
    child = pupil(born=date(2008, 3, 10))
    school.send(child)
    clock = clock_of(directory)
    clock.set(clock.now().replace(year=2026, month=3, day=11))
    directory.run_jobs()
    receipt = school.send(pupil(born=date(2008, 3, 10), street="2 Other Street"))
    assert receipt.outcomes[0].code == "record_archived"
    [item] = directory.data_quality_queue(LA)
    assert (item.kind, item.detail_code) == (DataQualityKind.REJECTED_SUPPLY, "record_archived")


class _CarelessMatcher:
    """A matcher that always says NEW, naming whatever shielded record it saw."""

    def match(
        self,
        identifiers: SourceIdentifiers,
        date_of_birth: date,
        *,
        index: CandidateIndex,
        name: PersonName | None = None,
        gender: Gender | None = None,
        address: Address | None = None,
        parents: Sequence[ParentCarer | LocalAuthorityCarer] = (),
    ) -> MatchResult:
        seen = index.shielded_born_on(date_of_birth)
        return MatchResult(
            outcome=MatchOutcome.NEW,
            code="careless",
            candidates=tuple(s.directory_id for s in seen),
        )


def test_shld_7_the_core_holds_a_new_record_whose_candidate_is_shielded_whatever_the_matcher() -> (
    None
):
    ring = KeyRing.for_encryption()
    ring.add(EncryptionKey.generate())
    base = new_directory()
    directory = DirectoryService(
        store=SqliteStore(), clock=base.clock, encryption_keys=ring, matcher=_CarelessMatcher()
    )
    _shielded(directory)
    other = Source(directory, "school-2")
    receipt = other.send(pupil("x", upn=make_upn(77), nhs=make_nhs(77), given="Zoe"))
    assert receipt.outcomes[0].code == HELD_CODE
    assert directory.counts()["live"] == 1


def test_the_strong_matcher_alone() -> None:
    directory = new_directory()
    school = Source(directory)
    school.send(pupil())
    matcher = StrongIdentifierMatcher()
    found = matcher.match(
        SourceIdentifiers(nhs_number=make_nhs(1)), date(2015, 4, 1), index=directory.store
    )
    assert found.outcome is MatchOutcome.MATCHED
    assert found.directory_id == only_record_id(directory, pupil())
    fresh = matcher.match(
        SourceIdentifiers(nhs_number=make_nhs(5)), date(2015, 4, 1), index=directory.store
    )
    assert (fresh.outcome, fresh.code) == (MatchOutcome.NEW, "no_match")


def test_shld_7_the_shielding_source_resupplying_keeps_the_shield() -> None:
    directory = new_directory()
    school = _shielded(directory)
    assert isinstance(
        directory.view(only_record_id(directory, pupil()), viewer()), ShieldedChildView
    )
    # The school resupplies its own child: matched, still shielded.
    school.send(pupil(street="3 New Street"))
    assert isinstance(
        directory.view(only_record_id(directory, pupil()), viewer()), ShieldedChildView
    )
    full = directory.view(only_record_id(directory, pupil()), team())
    assert isinstance(full, FullRecordView)
    assert full.record.address.lines == ("3 New Street",)


def test_a_refused_decision_on_a_held_supply_leaves_the_item_open() -> None:
    directory = new_directory()
    _shielded(directory)
    gp = Source(directory, "gp-b82001", local_authority=OTHER_LA)
    gp.send(
        InvolvementStarted(
            ref="p-1",
            child=key_of(pupil(upn=None, nhs=make_nhs(1), born=date(2015, 1, 4))),
            involvement=involvement("G-1", started_on=date(2016, 1, 1)),
        )
    )
    [item] = directory.data_quality_queue(LA)
    outcome = directory.resolve_held_supply(item.item_id, by=team())  # "a new child"
    assert (outcome.status, outcome.code) == (OutcomeStatus.REJECTED, "child_not_found")
    assert directory.data_quality_queue(LA) == [item]  # still waiting for a decision
    assert directory.counts()["live"] == 1
