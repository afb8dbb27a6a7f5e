"""The store, the registry and the directory's controls: reset, seeding, reopening."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from contactpoint_sdk.errors import ConfigurationError, RecordNotFound, SupplierNotAccredited
from contactpoint_sdk.models.operations import OutcomeStatus
from contactpoint_sdk.models.record import ChildRecord
from contactpoint_sdk.models.views import ChildView, ShieldedChildView
from contactpoint_sdk.policy.viewer import Role
from contactpoint_sdk.reference_server import DirectoryService, SqliteStore, Store, SupplyAgreement
from contactpoint_sdk.supply.keys import SigningKey
from contactpoint_sdk.synthetic import DEFAULT_LA_CODES
from tests.test_server_core_support import (
    LA,
    Source,
    make_nhs,
    make_upn,
    new_directory,
    only_record_id,
    pupil,
    team,
    viewer,
)


def test_the_sqlite_store_is_a_store() -> None:
    store = SqliteStore()
    assert isinstance(store, Store)
    store.close()


def test_directory_keys_are_published_current_first() -> None:
    directory = new_directory()
    keys = directory.directory_jwks()["keys"]
    assert isinstance(keys, list)
    assert keys[0]["kid"] == directory.directory_public_key().kid
    assert all("d" not in k for k in keys)


def test_sup_3_registry_rules() -> None:
    directory = new_directory()
    school = Source(directory)
    with pytest.raises(ConfigurationError) as taken:
        directory.register_supplier(
            "school-2",
            "Another",
            signing_keys=[school.key.public_key()],
            agreements=[SupplyAgreement(agreement_id="AG-1")],
        )
    assert taken.value.code == "supplier_key_taken"
    with pytest.raises(ConfigurationError) as no_agreement:
        directory.register_supplier(
            "school-2", "Another", signing_keys=[SigningKey.generate().public_key()], agreements=[]
        )
    assert no_agreement.value.rule == "SUP-4"
    with pytest.raises(RecordNotFound):
        directory.supplier("nobody")

    directory.suspend_supplier(school.supplier_id)
    again = directory.register_supplier(
        school.supplier_id,
        "Riverside Primary Academy",
        signing_keys=[school.key.public_key()],
        agreements=[SupplyAgreement(agreement_id="AG-1")],
        local_authority=LA,
    )
    assert (again.accredited, again.name, again.namespace) == (
        True,
        "Riverside Primary Academy",
        "s1",
    )
    assert school.send(pupil()).outcomes[0].status is OutcomeStatus.ACCEPTED


def test_reset_empties_records_and_keeps_keys_and_suppliers() -> None:
    directory = new_directory()
    school = Source(directory)
    token = school.seal(school.batch(pupil()))
    directory.ingest(token)
    kid = directory.directory_public_key().kid

    directory.reset()
    assert directory.counts() == {"live": 0, "archived": 0, "destroyed": 0}
    assert directory.directory_public_key().kid == kid
    assert directory.supplier(school.supplier_id).last_sequence == 0
    assert directory.ingest(token).outcomes[0].status is OutcomeStatus.ACCEPTED  # forgotten
    assert directory.counts()["live"] == 1

    directory.reset(keep_suppliers=False)
    with pytest.raises(SupplierNotAccredited):
        school.send(pupil("row-2", upn=make_upn(2), nhs=make_nhs(2)))


def _seeded(directory: DirectoryService) -> list[ChildRecord]:
    return [
        directory.keeper.record_of(row)
        for la in DEFAULT_LA_CODES
        for row in directory.store.children_where(local_authority=la)
    ]


def test_seeding_puts_synthetic_children_in_the_store() -> None:
    directory = new_directory()
    assert directory.seed_population(60, seed=3) == 60
    assert directory.seed_population(60, seed=3) == 0  # the same children again: skipped
    assert directory.counts()["live"] == 60
    records = _seeded(directory)
    assert len(records) == 60
    some = records[0]
    assert directory.find_by_identifier(some.identifiers) == some.directory_id
    assert all(i.reference.startswith("seed:") for i in some.involvements)
    shown = directory.view(some.directory_id, viewer(Role.HEAD_TEACHER))
    assert isinstance(shown, ChildView | ShieldedChildView)
    assert shown.directory_id == some.directory_id
    directory.run_jobs()


def test_a_supply_for_a_seeded_child_joins_its_record() -> None:
    directory = new_directory()
    directory.seed_population(40, seed=11)
    child = next(
        r for r in _seeded(directory) if r.identifiers.nhs_number is not None and r.shield is None
    )
    gp = Source(directory, "gp-1", local_authority=None)
    receipt = gp.send(
        pupil(
            "p-1",
            upn=None,
            nhs=child.identifiers.nhs_number,
            born=child.date_of_birth,
            given=child.name.given_name,
            family=child.name.family_name,
            involvements=(),
        )
    )
    assert receipt.outcomes[0].status is OutcomeStatus.ACCEPTED
    assert directory.counts()["live"] == 40
    record = directory.record(child.directory_id)
    assert record.name.given_name == child.name.given_name  # the newest supply's name
    assert record.local_authority == child.local_authority  # kept from the seed
    assert record.identifiers.upn == child.identifiers.upn  # kept from the seed
    assert record.involvements == child.involvements


def test_a_file_directory_reopens_with_its_keys_suppliers_and_records(tmp_path: Path) -> None:
    db = tmp_path / "directory.db"
    directory = new_directory(db)
    school = Source(directory)
    school.send(pupil())
    later = school.seal(school.batch(pupil("row-2", upn=make_upn(2), nhs=make_nhs(2))))
    jwks = directory.directory_jwks()
    directory.close()

    reopened = new_directory(db)
    assert reopened.directory_jwks() == jwks
    assert reopened.supplier(school.supplier_id).last_sequence == 1
    assert reopened.find_by_identifier(pupil().identifiers) is not None
    assert reopened.ingest(later).outcomes[0].status is OutcomeStatus.ACCEPTED
    assert reopened.counts()["live"] == 2


#: Twenty children who are plainly not one another (SUP-7: no two are one
#: edit or a nickname apart, so none is held for review as a possible typo).
_THREAD_CHILDREN = (
    ("Hartley", ("Amelia", "Oliver", "Isla", "George", "Freya")),
    ("Okafor", ("Noah", "Harriet", "Theo", "Poppy", "Arthur")),
    ("Nguyen", ("Leo", "Matilda", "Jack", "Evie", "Oscar")),
    ("Patel", ("Ruby", "Henry", "Sienna", "Archie", "Willow")),
)


def test_suppliers_may_supply_from_many_threads_at_once() -> None:
    directory = new_directory()
    sources = [Source(directory, f"school-{n}") for n in range(4)]
    failures: list[BaseException] = []

    def work(n: int, source: Source) -> None:
        family, givens = _THREAD_CHILDREN[n]
        try:
            for k in range(5):
                serial = n * 100 + k + 1
                child = pupil(
                    f"r-{k}", given=givens[k], family=family, upn=make_upn(serial),
                    nhs=make_nhs(serial),
                )  # fmt: skip
                receipt = source.send(child)
                assert receipt.outcomes[0].status is OutcomeStatus.ACCEPTED, receipt
        except BaseException as error:  # pragma: no cover - reported below
            failures.append(error)

    threads = [threading.Thread(target=work, args=(n, s)) for n, s in enumerate(sources)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert directory.counts()["live"] == 20
    assert directory.view(only_record_id(directory, pupil(upn=make_upn(1), nhs=make_nhs(1))),
                          team()) is not None  # fmt: skip
