"""The directory core's look-up wiring, called directly (ACC-1, ACC-3..ACC-6).

The HTTP side is in ``tests/test_lookup_e2e_*.py``; here, what the core
promises on its own: a search finds by indexes only and decodes no more than
a candidate needs, every criterion narrows, the audit context names the
session, a store made before the search columns is brought up to date, and
``reset`` starts the trawling guard again.
"""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest

from contactpoint_sdk.errors import ReasonRequired, RecordNotFound, SearchTooBroad
from contactpoint_sdk.models.contact import Postcode
from contactpoint_sdk.models.enums import Gender
from contactpoint_sdk.models.identifiers import DirectoryId
from contactpoint_sdk.policy.trawling import SearchCriteria, candidate
from contactpoint_sdk.policy.viewer import Role, Viewer
from contactpoint_sdk.reference_server import DirectoryService
from contactpoint_sdk.reference_server.audit import (
    AuditEvent,
    MemoryAuditLog,
    audit_context,
    in_context,
)
from contactpoint_sdk.reference_server.store import ChildQuery, SqliteStore
from contactpoint_sdk.reference_server.users import Session
from tests.test_server_http_support import (
    LA,
    PASSWORD,
    PIN,
    START,
    code_now,
    enrol,
    make_nhs,
    make_upn,
    new_directory,
)

VIEWER = Viewer(user_id="u", role=Role.HEAD_TEACHER, organisation_key="x", local_authority=LA)


def _session(directory: DirectoryService, user: str = "user-1") -> Session:
    recent = directory.clock.today() - timedelta(days=60)
    enrolment = enrol(directory, user=user, trained_on=recent, disclosure_issued_on=recent)
    return directory.sign_in(user, PASSWORD, PIN, code_now(directory, enrolment))


def _events(directory: DirectoryService) -> list[AuditEvent]:
    log = directory.audit
    assert isinstance(log, MemoryAuditLog)
    return list(log.events())


def test_acc_4_a_search_decodes_only_what_a_candidate_needs_and_shows_the_same() -> None:
    directory = new_directory()
    directory.seed_population(1500, 11)
    store = directory.store
    assert isinstance(store, SqliteStore)
    rows = store.search_children(ChildQuery(), 2000)
    assert len(rows) == 1500
    now = directory.clock.now()
    shielded = 0
    for row in rows:
        full = directory.keeper.record_of(row)
        summary = directory.keeper.search_summary_of(row)
        assert candidate(summary, VIEWER, now) == candidate(full, VIEWER, now)
        assert summary.involvements == ()
        assert summary.parents == ()
        shielded += full.shield is not None
    assert shielded  # the population has shielded children: both kinds compared
    directory.close()


def test_acc_4_every_criterion_given_narrows_the_search() -> None:
    directory = new_directory()
    directory.seed_population(3000, 3)
    session = _session(directory)
    row = directory.store.search_children(ChildQuery(), 1)[0]
    child = directory.keeper.record_of(row)
    name, born = child.name, child.date_of_birth
    by_name = SearchCriteria(family_name=name.family_name, date_of_birth=born)
    found = directory.search(session, by_name)
    assert child.directory_id in found.directory_ids
    other = Gender.MALE if child.gender is not Gender.MALE else Gender.FEMALE
    narrowed = directory.search(
        session, SearchCriteria(family_name=name.family_name, date_of_birth=born, gender=other)
    )
    assert child.directory_id not in narrowed.directory_ids
    by_year = SearchCriteria(
        family_name=name.family_name, given_name=name.given_name, year_of_birth=born.year
    )
    assert child.directory_id in directory.search(session, by_year).directory_ids
    wrong_year = SearchCriteria(
        family_name=name.family_name, given_name=name.given_name, year_of_birth=born.year + 1
    )
    assert child.directory_id not in directory.search(session, wrong_year).directory_ids
    postcode = child.address.postcode
    assert postcode is not None
    by_postcode = SearchCriteria(
        family_name=name.family_name, given_name=name.given_name, postcode=postcode
    )
    assert child.directory_id in directory.search(session, by_postcode).directory_ids
    # Identifiers: each given must name the record.
    by_id = directory.search(session, SearchCriteria(directory_id=child.directory_id))
    assert by_id.directory_ids == (child.directory_id,)
    assert child.identifiers.nhs_number is not None
    both = SearchCriteria(directory_id=child.directory_id, nhs_number=child.identifiers.nhs_number)
    assert directory.search(session, both).directory_ids == (child.directory_id,)
    mismatch = SearchCriteria(directory_id=child.directory_id, nhs_number=make_nhs(7))
    assert directory.search(session, mismatch).directory_ids == ()
    wrong_name = SearchCriteria(directory_id=child.directory_id, family_name="Zzyzx")
    assert directory.search(session, wrong_name).directory_ids == ()
    directory.close()


def test_acc_5_search_and_open_are_audited_by_identifier_with_the_session() -> None:
    directory = new_directory()
    directory.seed_population(50, 2)
    session = _session(directory)
    row = directory.store.search_children(ChildQuery(), 1)[0]
    directory_id = DirectoryId(row.directory_id)
    with pytest.raises(SearchTooBroad):
        directory.search(session, SearchCriteria(family_name="Smith"))
    directory.search(session, SearchCriteria(upn=make_upn(999)))
    with pytest.raises(ReasonRequired):
        directory.open_record(session, directory_id, None)
    with pytest.raises(RecordNotFound):
        directory.open_record(session, DirectoryId.from_int(1), "assessment")
    directory.open_record(session, directory_id, "coordinating_services")
    events = _events(directory)
    looked = [(e.action, e.code) for e in events if e.actor == "user-1"]
    assert looked[-5:] == [
        ("search_refused", "search_too_broad"),
        ("search", "no_match"),
        ("record_open_refused", "reason_required"),
        ("record_open_refused", "record_not_found"),
        ("record_viewed", "ChildView"),
    ]
    viewed = events[-1]
    assert (viewed.directory_id, viewed.reason) == (str(directory_id), "coordinating_services")
    session_ref = f"session:{session.session_id}"
    assert all(
        session_ref in e.refs for e in events if e.actor == "user-1" and e.action != "user_enrolled"
    )
    directory.close()


def test_acc_6_the_audit_context_names_the_user_and_the_practitioner() -> None:
    event = AuditEvent(at=START, action="broker_requested", actor="ta-1", refs=("r1",))
    with audit_context(request_id="req-1"):
        assert in_context(event).request_id == "req-1"
        with audit_context(actor="admin-1", on_behalf_of="ta-1", refs=("session:s1",)):
            shown = in_context(event)
            mine = in_context(AuditEvent(at=START, action="search", actor="admin-1"))
            theirs = in_context(AuditEvent(at=START, action="x", actor="directory"))
    assert (shown.actor, shown.on_behalf_of, shown.refs) == (
        "admin-1",
        "ta-1",
        ("r1", "session:s1"),
    )
    assert shown.request_id == "req-1"
    assert (mine.actor, mine.on_behalf_of) == ("admin-1", "ta-1")
    assert (theirs.actor, theirs.on_behalf_of, theirs.refs) == ("directory", None, ())
    assert theirs.request_id == "req-1"
    assert in_context(event) is event  # outside every context: unchanged


def test_a_store_made_before_the_search_columns_is_brought_up_to_date(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    directory = new_directory(path)
    directory.seed_population(20, 4)
    directory.close()
    # Make it look like a database of the first release: no postcode or gender column.
    db = sqlite3.connect(path)
    for index in ("children_postcode",):
        db.execute(f"DROP INDEX {index}")
    db.execute("ALTER TABLE children DROP COLUMN postcode")
    db.execute("ALTER TABLE children DROP COLUMN gender")
    db.commit()
    db.close()
    reopened = new_directory(path)
    store = reopened.store
    assert isinstance(store, SqliteStore)
    rows = store.search_children(ChildQuery(), 100)
    assert len(rows) == 20
    for row in rows:
        record = reopened.keeper.record_of(row)
        assert row.gender == record.gender.value
        postcode = record.address.postcode
        assert row.postcode == (None if postcode is None else str(postcode))
    first = reopened.keeper.record_of(rows[0])
    assert first.address.postcode is not None
    query = ChildQuery(
        postcode=str(first.address.postcode),
        family_key=rows[0].family_key,
        gender=rows[0].gender,
    )
    assert rows[0].directory_id in [r.directory_id for r in store.search_children(query, 6)]
    reopened.close()


def test_reset_starts_the_trawling_guard_again() -> None:
    directory = new_directory()
    session = _session(directory)
    for i in range(directory.settings.search_rate_per_minute):
        directory.search(session, SearchCriteria(upn=make_upn(i), postcode=Postcode("BS1 4DJ")))
    guard = directory.trawling
    directory.reset()
    assert directory.trawling is not guard
    assert directory.search(session, SearchCriteria(upn=make_upn(1))).directory_ids == ()
    assert directory.trawling_alerts(LA) == []
    directory.close()


def test_acc_1_sign_in_is_not_undone_by_a_refusal_later_in_the_request() -> None:
    """Sign-in runs outside any store transaction: a failure's count persists."""
    directory = new_directory()
    enrolment = enrol(directory, trained_on=date(2025, 6, 1), disclosure_issued_on=date(2025, 6, 1))
    for _ in range(2):
        with pytest.raises(Exception, match="sign-in failed"):
            directory.sign_in("user-1", PASSWORD, "913524", code_now(directory, enrolment))
    assert directory.users.status("user-1").failures == 2
    directory.close()
