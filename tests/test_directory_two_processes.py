"""Look-ups in a process of their own beside the process that supplies (issue 10).

One process supplies to a directory file (``ReferenceDirectory(path=...)``);
another serves look-ups from the same file at the same time
(``ReferenceDirectory.open_for_lookups``). The two-process tests start a real
second process (``multiprocessing``, spawn); the refusals are checked in one
process, where the same locks and claims apply.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from contactpoint_sdk.errors import ConfigurationError, SessionInvalid
from contactpoint_sdk.models import (
    Address,
    Gender,
    Involvement,
    Organisation,
    OrganisationKind,
    PersonName,
    Postcode,
    ServiceKind,
    SourceIdentifiers,
)
from contactpoint_sdk.models.operations import SuppliedChild
from contactpoint_sdk.models.views import SearchResult
from contactpoint_sdk.policy.reasons import ReasonCode
from contactpoint_sdk.policy.trawling import SearchCriteria
from contactpoint_sdk.policy.viewer import Role
from contactpoint_sdk.reference_server import ReferenceDirectory
from contactpoint_sdk.reference_server.audit_log import MerkleAuditLog, verify_log_file
from contactpoint_sdk.reference_server.directory import LOOKUP_TABLES, lookups_audit_path_for
from contactpoint_sdk.reference_server.service import audit_path_for
from contactpoint_sdk.reference_server.transport import InProcessTransport
from contactpoint_sdk.reference_server.users import (
    FileClaim,
    UserDirectory,
    sessions_claim_path,
    totp_code,
)
from tests.test_server_http_support import FAST, LA, START, make_upn

FAMILIES = ("Ashworth", "Brindley", "Calloway", "Dunmore", "Ellery", "Fairbairn", "Gresley")
GIVEN = ("Amelia", "Bartholomew", "Cordelia", "Dominic", "Evangeline", "Fergus", "Georgina")
BATCHES = 3
#: One user searching for every child supplied: no rate limit or alert in
#: the way (what an alert does in a look-up process is not what this tests).
QUIET = attrs.evolve(
    FAST,
    search_rate_per_minute=10_000,
    search_rate_per_day=10_000,
    alert_same_reason_opens=100_000,
    alert_out_of_area_opens=100_000,
    alert_sweep_distinct_values=1000,
    alert_glance_opens=100_000,
    alert_failed_searches=100_000,
    trawling_block_minutes=0,
)


def _child(serial: int) -> SuppliedChild:
    """A child no other here shares a name and date of birth with (synthetic)."""
    return SuppliedChild(
        ref=f"pupil-{serial}",
        name=PersonName(
            given_name=GIVEN[serial % len(GIVEN)], family_name=FAMILIES[serial // len(GIVEN)]
        ),
        gender=Gender.FEMALE if serial % 2 else Gender.MALE,
        date_of_birth=date(2014, 1, 1) + timedelta(days=37 * serial),
        address=Address(lines=(f"{serial + 1} High Street",), postcode=Postcode("BS1 4DJ")),
        identifiers=SourceIdentifiers(upn=make_upn(serial + 1)),
        involvements=(
            Involvement(
                reference=f"edu-{serial}",
                service=ServiceKind.EDUCATION_SETTING,
                organisation=Organisation(
                    name="Riverside Primary", kind=OrganisationKind.SCHOOL, urn="100001"
                ),
                started_on=date(2019, 9, 4),
            ),
        ),
    )


def _supply_process(path: str, conn: Connection, per_batch: int) -> None:
    """The supply process: supplies ``BATCHES`` batches, sending each batch's
    children (serials) once applied; after the first, holds the directory's
    writer (a supply transaction) until told to let go; at the end sends its
    audit log's signed tree head and the audit key, and waits to close."""
    directory = ReferenceDirectory(path=path, start=START, settings=QUIET)
    try:
        school = directory.register_supplier("school-8012000", "Riverside Primary")
        conn.send("ready")
        # The look-up side signs in first (a write): were this process to
        # hold the writer below meanwhile, each would wait for the other.
        assert conn.recv() == "go"
        with directory.supply_client(school) as client:
            for batch in range(BATCHES):
                serials = list(range(batch * per_batch, (batch + 1) * per_batch))
                result = client.supply([_child(s) for s in serials])
                assert all(not r.rejected for r in result.receipts)
                conn.send(("batch", serials))
                if batch == 0:
                    with directory.service.store.transaction():
                        conn.send("holding")
                        assert conn.recv() == "release"
        head = directory.service.audit_tree_head()
        conn.send(("done", head.to_json(), directory.service.audit_public_key().public_jwk()))
        conn.recv()
    finally:
        directory.close()


def _open_found(lookup: Any, serial: int) -> str:
    """Search for the child by name and date of birth, open the one found;
    its directory ID."""
    child = _child(serial)
    found = lookup.search(
        SearchCriteria(family_name=child.name.family_name, date_of_birth=child.date_of_birth)
    )
    assert isinstance(found, SearchResult)
    named = [c for c in found.candidates if c.given_name == child.name.given_name]
    assert len(named) == 1, f"child {serial} not found"
    view = lookup.open(named[0].directory_id, ReasonCode.ASSESSMENT)
    assert view.directory_id == named[0].directory_id
    return str(named[0].directory_id)


def test_acc_5_supplied_in_one_process_found_and_opened_in_another_while_it_supplies(
    tmp_path: Path,
) -> None:
    path = tmp_path / "directory.db"
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    supplier = context.Process(target=_supply_process, args=(str(path), theirs, 4))
    supplier.start()
    try:
        assert ours.poll(120), "the supply process did not start"
        assert ours.recv() == "ready"
        with ReferenceDirectory.open_for_lookups(
            path, start=START, settings=QUIET, busy_timeout=30
        ) as lookups:
            user = lookups.create_user("t-1", Role.HEAD_TEACHER, local_authority=LA)
            opened: list[str] = []
            with lookups.lookup_client(user) as lookup:
                ours.send("go")
                for _ in range(BATCHES):
                    assert ours.poll(120)
                    kind, serials = ours.recv()
                    assert kind == "batch"
                    opened += [_open_found(lookup, s) for s in serials]
                    if serials[0] == 0:
                        assert ours.recv() == "holding"
                        # The supply process holds the writer: these look-ups
                        # read, audit and keep the session without it (had
                        # they waited, the writer would never be let go).
                        opened += [_open_found(lookup, s) for s in serials]
                        ours.send("release")
            kind, head_json, key_jwk = ours.recv()
            assert kind == "done"
            ours.send("close")
            supplier.join(60)
            assert supplier.exitcode == 0
            assert len(set(opened)) == BATCHES * 4
            # Both audit logs whole, each signed with the directory's one key.
            assert lookups.service.audit_public_key().public_jwk() == key_jwk
            assert verify_log_file(audit_path_for(path), head_json, key_jwk).ok
            own = lookups.service.audit_tree_head()
            report = verify_log_file(lookups_audit_path_for(path), own.to_json(), key_jwk)
            assert report.ok
            log = lookups.service.audit
            assert isinstance(log, MerkleAuditLog)
            actions = [e.event["action"] for e in log.entries()]
            assert actions.count("record_viewed") == len(opened)
            assert actions.count("search") == len(opened)
            assert "sign_in" in actions
            assert not any(a.startswith("supply") for a in actions)
        with MerkleAuditLog(audit_path_for(path)) as theirs_log:
            supplied = [e.event["action"] for e in theirs_log.entries()]
        assert supplied.count("supply_batch") == BATCHES
        assert "record_viewed" not in supplied
    finally:
        if supplier.is_alive():
            supplier.kill()
            supplier.join()


# --- one process: the same locks, claims and checks ------------------------------------


@pytest.fixture
def supplying(tmp_path: Path) -> Iterator[ReferenceDirectory]:
    """The directory that supplies, with a child in it."""
    with ReferenceDirectory(path=tmp_path / "directory.db", start=START, settings=FAST) as d:
        school = d.register_supplier("school-8012000", "Riverside Primary")
        with d.supply_client(school) as client:
            client.supply([_child(0)])
        yield d


@pytest.fixture
def lookups(supplying: ReferenceDirectory, tmp_path: Path) -> Iterator[ReferenceDirectory]:
    with ReferenceDirectory.open_for_lookups(
        tmp_path / "directory.db", start=START, settings=FAST, busy_timeout=5
    ) as d:
        yield d


def test_the_look_up_process_reads_the_keys_the_supply_process_made(
    supplying: ReferenceDirectory, lookups: ReferenceDirectory
) -> None:
    assert lookups.service.directory_jwks() == supplying.service.directory_jwks()
    assert lookups.service.audit_public_key() == supplying.service.audit_public_key()
    assert lookups.lookups_only
    assert not supplying.lookups_only


def test_a_file_that_is_no_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as missing:
        ReferenceDirectory.open_for_lookups(tmp_path / "none.db")
    assert missing.value.code == "not_a_directory"
    plain = tmp_path / "plain.db"
    sqlite3.connect(plain).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(ConfigurationError) as keyless:
        ReferenceDirectory.open_for_lookups(plain)
    assert keyless.value.code == "not_a_directory"
    assert not sessions_claim_path(plain).exists()  # nothing claimed, nothing made


def test_a_schema_not_brought_up_to_date_is_refused_until_the_supply_process_opens_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "directory.db"
    ReferenceDirectory(path=path, start=START).close()
    db = sqlite3.connect(path)
    db.execute("DROP INDEX children_names")  # as a file made before the index was
    db.commit()
    db.close()
    with pytest.raises(ConfigurationError) as old:
        ReferenceDirectory.open_for_lookups(path)
    assert old.value.code == "schema_out_of_date"
    assert "children_names" in str(old.value)
    ReferenceDirectory(path=path, start=START).close()  # the supply process migrates
    ReferenceDirectory.open_for_lookups(path).close()


def test_one_look_up_process_per_file_and_never_the_supply_process_audit_log(
    lookups: ReferenceDirectory, tmp_path: Path
) -> None:
    path = tmp_path / "directory.db"
    with pytest.raises(ConfigurationError) as second:
        ReferenceDirectory.open_for_lookups(path, audit_path=tmp_path / "other.audit.db")
    assert second.value.code == "claim_held"
    lookups.close()
    with pytest.raises(ConfigurationError, match="audit log of its own"):
        ReferenceDirectory.open_for_lookups(path, audit_path=audit_path_for(path))
    ReferenceDirectory.open_for_lookups(path).close()  # the claims were given up


def test_acc_1_the_supply_process_refuses_sessions_while_the_look_up_process_serves_them(
    supplying: ReferenceDirectory, tmp_path: Path
) -> None:
    user = supplying.create_user("t-1", Role.HEAD_TEACHER, local_authority=LA)
    before = supplying.service.sign_in(*user.sign_in_args(supplying.clock.now()))
    assert before.token is not None
    lookups = ReferenceDirectory.open_for_lookups(tmp_path / "directory.db", start=START)
    try:
        supplying.advance(timedelta(seconds=30))  # a new token code
        with pytest.raises(ConfigurationError) as refused:
            supplying.service.sign_in(*user.sign_in_args(supplying.clock.now()))
        assert refused.value.code == "sessions_served_elsewhere"
        with pytest.raises(ConfigurationError):
            supplying.service.session(before.token)
        http = httpx.Client(base_url="https://x", transport=InProcessTransport(supplying.app))
        with http:
            answer = http.get(
                "/v1/sessions/current", headers={"Authorization": f"Bearer {before.token}"}
            )
        assert answer.status_code == 409
        assert answer.json()["code"] == "sessions_served_elsewhere"
        # The look-up process serves the session signed in before it started.
        lookups.clock.set(supplying.clock.now())
        assert lookups.service.session(before.token).session_id == before.session_id
    finally:
        lookups.close()
    assert supplying.service.session(before.token).session_id == before.session_id


def test_acc_1_the_supply_process_purges_only_absolutely_expired_sessions_meanwhile(
    supplying: ReferenceDirectory, lookups: ReferenceDirectory
) -> None:
    user = lookups.create_user("t-1", Role.HEAD_TEACHER, local_authority=LA)
    session = lookups.service.sign_in(*user.sign_in_args(lookups.clock.now()))
    assert session.token is not None
    idle = timedelta(minutes=FAST.session_idle_minutes)
    lookups.clock.advance(idle - timedelta(minutes=1))
    lookups.service.session(session.token)  # used: kept in memory, not yet written
    # The supply process, later than the idle time since sign-in, purges:
    # it must not end a session it cannot see was used.
    users = supplying.service.users
    assert users.purge_sessions(START + idle + timedelta(minutes=1)) == 0
    lookups.clock.advance(timedelta(minutes=2))
    assert lookups.service.session(session.token).session_id == session.session_id
    absolute = START + timedelta(hours=FAST.session_absolute_hours)
    assert users.purge_sessions(absolute) == 1
    with pytest.raises(SessionInvalid):
        lookups.service.session(session.token)


def test_the_look_up_process_serves_look_ups_only(lookups: ReferenceDirectory) -> None:
    with pytest.raises(ConfigurationError) as supply:
        lookups.register_supplier("school-2", "Hillside")
    assert supply.value.code == "lookups_only"
    with pytest.raises(ConfigurationError):
        lookups.advance(timedelta(days=1))
    with httpx.Client(base_url="https://x", transport=InProcessTransport(lookups.app)) as http:
        for method, url in (
            ("POST", "/v1/supply/batches"),
            ("GET", "/v1/keys/directory"),
            ("GET", "/v1/management/alerts"),
            ("POST", "/v1/records/0000-0000-0000/shield"),
            ("POST", "/v1/_control/seed"),
        ):
            answer = http.request(method, url, json={})
            assert answer.status_code == 409, url
            assert answer.json()["code"] == "lookups_only"
        assert http.get("/v1/health").status_code == 200
    # Below the API, the connection may not write records at all.
    with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
        lookups.service.seed_population(1, 5)
    assert lookups.service.counts()["live"] == 1


def test_only_the_look_up_tables_are_written_by_the_look_up_process() -> None:
    assert {"lookup_users", "lookup_sessions", "trawling_alerts"} == LOOKUP_TABLES


def test_acc_1_session_activity_is_written_behind_on_a_thread_of_its_own(
    tmp_path: Path,
) -> None:
    path = tmp_path / "users.db"
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode = WAL")
    lock = threading.RLock()
    readers: list[sqlite3.Connection] = []

    def reader() -> Any:
        @contextmanager
        def reading() -> Iterator[sqlite3.Connection]:
            connection = sqlite3.connect(path, check_same_thread=False)
            readers.append(connection)
            yield connection

        return reading()

    with FileClaim.take(sessions_claim_path(path)) as claim:
        users = UserDirectory(
            db, settings=FAST, lock=lock, reader=reader, claim=claim, write_behind=0.05
        )
        enrolment = users.create_user(
            user_id="u-1",
            username="alice",
            password="correct horse battery",
            pin="402917",
            role=Role.HEAD_TEACHER,
            organisation_key="urn:1",
            local_authority=LA,
            nominated=True,
            trained_on=date(2026, 1, 5),
            disclosure_issued_on=date(2026, 1, 5),
            now=START,
        )
        session = users.sign_in(
            "alice",
            "correct horse battery",
            "402917",
            totp_code(enrolment.token_secret, START),
            now=START,
        )
        assert session.token is not None
        used = START + timedelta(minutes=3)
        users.session(session.token, used)
        stored = used.isoformat()
        written = threading.Event()
        for _ in range(400):  # the thread writes it: never the look-up
            if db.execute("SELECT last_seen_at FROM lookup_sessions").fetchone()[0] == stored:
                written.set()
                break
            written.wait(0.05)
        assert written.is_set()
        users.close()
    for connection in readers:
        connection.close()
    db.close()


def test_a_claim_is_exclusive_and_dropped_when_given_up(tmp_path: Path) -> None:
    file = tmp_path / "x.lock"
    assert not FileClaim.held_elsewhere(file)
    claim = FileClaim.take(file, what="x")
    assert FileClaim.held_elsewhere(file)
    with pytest.raises(ConfigurationError) as again:
        FileClaim.take(file)
    assert again.value.code == "claim_held"
    claim.release()
    claim.release()
    assert not claim.held
    assert not FileClaim.held_elsewhere(file)
    with FileClaim.take(file):
        pass


def test_a_change_to_users_waits_for_another_connection_s_writer_then_succeeds(
    supplying: ReferenceDirectory, lookups: ReferenceDirectory, tmp_path: Path
) -> None:
    """A sign-in reads, hashes, then writes: had another process committed
    between its read and its write, a deferred transaction would fail at once
    (``database is locked``). It begins ``IMMEDIATE``, so it waits instead."""
    user = lookups.create_user("t-1", Role.HEAD_TEACHER, local_authority=LA)
    other = sqlite3.connect(tmp_path / "directory.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO meta (key, value) VALUES ('other-process', '1')")
    outcome: list[object] = []

    def sign_in() -> None:
        try:
            outcome.append(lookups.service.sign_in(*user.sign_in_args(lookups.clock.now())))
        except Exception as error:  # reported below
            outcome.append(error)

    thread = threading.Thread(target=sign_in)
    thread.start()
    thread.join(0.5)  # let the sign-in reach the database (or wait for it)
    other.execute("COMMIT")
    other.close()
    thread.join(30)
    assert len(outcome) == 1
    assert not isinstance(outcome[0], Exception), outcome[0]


def test_acc_4_a_trawling_alert_in_the_look_up_process_never_waits_for_the_writer(
    supplying: ReferenceDirectory, tmp_path: Path
) -> None:
    """Another process's supply holds the file's writer for a whole batch; a
    look-up that raises a trawling alert (ACC-4) answers meanwhile, and the
    alert's row is written once the writer is free (``alerts_behind``)."""
    eager = attrs.evolve(QUIET, alert_failed_searches=2, trawling_block_minutes=0)
    with ReferenceDirectory.open_for_lookups(
        tmp_path / "directory.db", start=START, settings=eager, busy_timeout=60
    ) as lookups:
        user = lookups.create_user("t-1", Role.HEAD_TEACHER, local_authority=LA)
        other = sqlite3.connect(tmp_path / "directory.db", isolation_level=None)
        answered: list[object] = []
        with lookups.lookup_client(user) as lookup:
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT INTO meta (key, value) VALUES ('other-process', '1')")

            def fail_searches() -> None:
                try:
                    for family in ("Nobody", "Noone", "Nemo"):
                        answered.append(
                            lookup.search(
                                SearchCriteria(family_name=family, date_of_birth=date(2015, 1, 1))
                            )
                        )
                except Exception as error:  # reported below
                    answered.append(error)

            thread = threading.Thread(target=fail_searches)
            thread.start()
            thread.join(30)  # had the alert waited for the writer: 60 s, then released below
            finished_while_held = not thread.is_alive()
            other.execute("COMMIT")
            other.close()
            thread.join(60)
        assert finished_while_held
        assert len(answered) == 3
        assert all(isinstance(a, SearchResult) and not a.candidates for a in answered)
        alerts = lookups.service.trawling_alerts(LA)
        assert [a.rule for a in alerts] == ["ACC-4"] * len(alerts)
        assert alerts
