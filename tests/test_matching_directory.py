"""The probabilistic matcher inside the directory: real supplies, the SQLite
linkage index kept by triggers, and the core's existing matching behaviour."""

from __future__ import annotations

from datetime import date
from typing import Any

import attrs
import pytest

from contactpoint_sdk.clock import MovableClock
from contactpoint_sdk.models import ShieldGround
from contactpoint_sdk.models.identifiers import SchoolReference
from contactpoint_sdk.models.operations import OutcomeStatus, SuppliedChild
from contactpoint_sdk.models.record import PersonName, SourceIdentifiers
from contactpoint_sdk.reference_server import DataQualityKind, DirectoryService, ShieldRequestInput
from contactpoint_sdk.reference_server.ingest import HELD_CODE
from contactpoint_sdk.reference_server.linkage_index import SqliteLinkageIndex
from contactpoint_sdk.reference_server.matching import ProbabilisticMatcher
from contactpoint_sdk.reference_server.store import SqliteStore
from contactpoint_sdk.supply.keys import EncryptionKey, KeyRing
from tests.test_server_core_support import (
    LA,
    OTHER_LA,
    START,
    Source,
    make_nhs,
    make_upn,
    only_record_id,
    pupil,
    team,
)


def _directory(path: str | None = None) -> tuple[DirectoryService, SqliteLinkageIndex]:
    ring = KeyRing.for_encryption()
    ring.add(EncryptionKey.generate())
    store = SqliteStore(path or ":memory:")
    index = SqliteLinkageIndex.attach(store)
    directory = DirectoryService(
        store=store,
        clock=MovableClock(START),
        encryption_keys=ring,
        matcher=ProbabilisticMatcher(index),
    )
    return directory, index


def _gp(child: SuppliedChild, ref: str = "patient-1", serial: int = 70) -> SuppliedChild:
    """The same child as a GP supplies it: its own reference, no UPN, an
    NHS number the school did not give."""
    return attrs.evolve(
        child,
        ref=ref,
        identifiers=SourceIdentifiers(
            school_references=(SchoolReference(establishment="8019999", reference=f"G{serial}"),)
        ),
    )


def _with_name(child: SuppliedChild, **name: Any) -> SuppliedChild:
    return attrs.evolve(child, name=attrs.evolve(child.name, **name))


def test_another_source_with_a_typo_adds_to_the_one_record() -> None:
    directory, index = _directory()
    Source(directory).send(pupil())
    assert index.counts()["profiles"] == 1
    gp = Source(directory, "gp-b82001", local_authority=OTHER_LA)
    receipt = gp.send(_with_name(_gp(pupil()), family_name="Hartly"))
    assert receipt.outcomes[0].status is OutcomeStatus.ACCEPTED
    assert directory.counts()["live"] == 1  # one child, one record (SUP-7)
    record = directory.record(only_record_id(directory, pupil()))
    assert record.name.family_name == "Hartly"  # the newest supply names the record


def test_twins_from_another_source_make_two_records_and_no_queue_item() -> None:
    directory, _ = _directory()
    Source(directory).send(pupil())
    gp = Source(directory, "gp-b82001")
    receipt = gp.send(_with_name(_gp(pupil()), given_name="Bella"))
    assert receipt.outcomes[0].status is OutcomeStatus.ACCEPTED
    assert directory.counts()["live"] == 2
    assert directory.data_quality_queue(LA) == []


def test_the_core_scenarios_hold_with_the_probabilistic_matcher() -> None:
    directory, _ = _directory()
    school = Source(directory)
    school.send(pupil("a"), pupil("b", given="Bella", upn=make_upn(2), nhs=make_nhs(2)))
    assert directory.counts()["live"] == 2  # twins with their own numbers
    assert directory.data_quality_queue(LA) == []
    # Same name, birth date and home but other NHS number: a new record, flagged.
    receipt = school.send(pupil("c", upn=make_upn(3), nhs=make_nhs(3)))
    assert receipt.outcomes[0].status is OutcomeStatus.ACCEPTED
    [item] = directory.data_quality_queue(LA)
    assert (item.kind, item.detail_code, item.held) == (
        DataQualityKind.POSSIBLE_DUPLICATE,
        "possible_duplicate",
        False,
    )


def test_a_given_name_typo_is_held_for_the_authority_and_can_be_decided() -> None:
    directory, _ = _directory()
    Source(directory).send(pupil())
    record_id = only_record_id(directory, pupil())
    gp = Source(directory, "gp-b82001")
    receipt = gp.send(_with_name(_gp(pupil()), given_name="Amelai"))
    assert (receipt.outcomes[0].code, receipt.outcomes[0].rule) == (HELD_CODE, "SUP-7")
    [item] = directory.data_quality_queue(LA)
    assert (item.detail_code, item.candidates, item.held) == (
        "possible_twin",
        (record_id,),
        True,
    )
    outcome = directory.resolve_held_supply(item.item_id, by=team(), directory_id=record_id)
    assert outcome.status is OutcomeStatus.ACCEPTED
    assert directory.counts()["live"] == 1


def test_shld_7_a_shielded_child_supplied_again_by_name_is_held_not_duplicated() -> None:
    directory, _ = _directory()
    Source(directory).send(pupil())
    record_id = only_record_id(directory, pupil())
    directory.request_shield(
        record_id, ShieldRequestInput(ground=ShieldGround.OTHER, requested_by="team-801"), team()
    )
    gp = Source(directory, "gp-b82001", local_authority=OTHER_LA)
    moved = attrs.evolve(
        _gp(pupil(street="4 Elsewhere Road", postcode="M1 1AE")),
        name=PersonName(given_name="Amelia", family_name="Hartley-Okafor"),
    )
    receipt = gp.send(moved)
    assert receipt.outcomes[0].code == HELD_CODE
    assert "shield" not in str(receipt).lower()
    assert directory.counts()["live"] == 1
    [item] = directory.data_quality_queue(LA)
    assert item.kind is DataQualityKind.SHIELD_MATCH_UNCERTAIN


def test_shld_5_an_adoption_shielded_record_is_never_suggested() -> None:
    directory, _ = _directory()
    Source(directory).send(pupil())
    record_id = only_record_id(directory, pupil())
    directory.request_shield(
        record_id,
        ShieldRequestInput(ground=ShieldGround.ADOPTION_IDENTITY_LINK, requested_by="team-801"),
        team(),
    )
    gp = Source(directory, "gp-b82001", local_authority=OTHER_LA)
    receipt = gp.send(_gp(pupil()))
    assert receipt.outcomes[0].status is OutcomeStatus.ACCEPTED
    assert directory.counts()["live"] == 2
    assert directory.data_quality_queue(LA) == []
    assert directory.data_quality_queue(OTHER_LA) == []


def test_the_index_follows_archiving_destruction_and_reset() -> None:
    directory, index = _directory()
    school = Source(directory)
    school.send(pupil(born=date(2008, 3, 10)), pupil("b", given="Bella", upn=make_upn(2)))
    assert index.counts()["profiles"] == 2
    clock = directory.clock
    assert isinstance(clock, MovableClock)
    clock.set(clock.now().replace(year=2026, month=3, day=11))
    directory.run_jobs()  # the 18-year-old leaves the live directory
    assert index.counts()["profiles"] == 1
    directory.reset(keep_suppliers=True)
    assert index.counts() == {"profiles": 0, "keys": 0}


def test_a_failed_operation_leaves_the_index_as_it_was() -> None:
    directory, index = _directory()
    store = directory.store
    assert isinstance(store, SqliteStore)
    Source(directory).send(pupil())
    before = index.counts()
    other = Source(directory, "school-2")

    def abandoned() -> None:
        with store.transaction():
            other.send(pupil("x", given="Zoe", upn=make_upn(9)))
            raise RuntimeError("abandon the unit of work")

    with pytest.raises(RuntimeError, match="abandon"):
        abandoned()
    assert index.counts() == before
    assert directory.counts()["live"] == 1


def test_attaching_to_an_existing_database_rebuilds_a_stale_index(tmp_path: object) -> None:
    path = f"{tmp_path}/directory.db"
    plain = DirectoryService.in_memory(clock=MovableClock(START), path=path)
    Source(plain).send(pupil(), pupil("b", given="Bella", upn=make_upn(2)))
    store = plain.store
    assert isinstance(store, SqliteStore)
    index = SqliteLinkageIndex.attach(store)  # written without the triggers: rebuilt
    assert index.counts()["profiles"] == 2
    again = SqliteLinkageIndex.attach(store)  # up to date: nothing to do
    assert again.counts() == index.counts()
    index.detach()
    store.close()


def test_a_record_the_reader_cannot_read_is_left_out_not_a_failed_write() -> None:
    directory, index = _directory()
    store = directory.store
    assert isinstance(store, SqliteStore)
    Source(directory).send(pupil())
    row = store.get_child(str(only_record_id(directory, pupil())))
    assert row is not None
    store.put_child(attrs.evolve(row, directory_id="ZZZZ-ZZZZ-ZZZZ", record="{}"))
    assert index.failures == 1
    assert index.counts()["profiles"] == 1
