"""Session activity kept in memory, and trawling alerts written behind (issue 10).

A look-up must never wait for the directory's single writer (a supply
batch's transaction): with a file store, a session's use is read on a
read-only connection and its time kept in memory, and an alert raised while
the writer is busy is queued by a thread of its own. Idle and absolute
expiry stay exact (ACC-1), and every alert still reaches the queue and the
audit (ACC-4, ACC-5).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import suppress
from datetime import timedelta
from pathlib import Path

import pytest

from contactpoint_sdk.clock import MovableClock
from contactpoint_sdk.errors import ContactPointError, SessionExpired
from contactpoint_sdk.models.contact import Postcode
from contactpoint_sdk.models.views import SearchResult
from contactpoint_sdk.policy.trawling import SearchCriteria
from contactpoint_sdk.reference_server import DirectoryService
from contactpoint_sdk.reference_server.audit import AuditEvent, MemoryAuditLog
from contactpoint_sdk.reference_server.store import SqliteStore
from contactpoint_sdk.reference_server.users import Session
from tests.test_server_http_support import (
    FAST,
    LA,
    PASSWORD,
    PIN,
    START,
    code_now,
    enrol,
    make_upn,
)


def new_directory(path: Path) -> DirectoryService:
    """A file-backed directory (reads on their own connections), audit in memory."""
    return DirectoryService.in_memory(
        clock=MovableClock(START), settings=FAST, path=path, audit=MemoryAuditLog()
    )


def clock_of(directory: DirectoryService) -> MovableClock:
    clock = directory.clock
    assert isinstance(clock, MovableClock)
    return clock


def _signed_in(directory: DirectoryService, user: str = "user-1") -> Session:
    recent = directory.clock.today() - timedelta(days=60)
    enrolment = enrol(directory, user=user, trained_on=recent, disclosure_issued_on=recent)
    return directory.sign_in(user, PASSWORD, PIN, code_now(directory, enrolment))


def _stored_last_seen(path: Path) -> list[str]:
    store = SqliteStore(path)
    try:
        return [r[0] for r in store.connection.execute("SELECT last_seen_at FROM lookup_sessions")]
    finally:
        store.close()


@pytest.fixture
def file_directory(tmp_path: Path) -> DirectoryService:
    return new_directory(tmp_path / "directory.db")


def _holding_the_writer(directory: DirectoryService) -> tuple[threading.Thread, threading.Event]:
    """A thread that holds the store's transaction (as a supply batch does)
    until the returned event is set; nothing here depends on how fast the
    machine is."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with directory.store.transaction():
            held.set()
            release.wait(30)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert held.wait(5)
    return thread, release


def _finishes_while_held(work: Callable[[], object]) -> None:
    """Run ``work`` on a thread; it must finish while the writer is still held
    (were it waiting for the writer, it could not finish before release)."""
    done = threading.Thread(target=work, daemon=True)
    done.start()
    done.join(20)
    assert not done.is_alive(), "the look-up waited for the supply transaction"


def test_acc_1_idle_expiry_is_exact_with_activity_kept_in_memory(
    file_directory: DirectoryService, tmp_path: Path
) -> None:
    directory = file_directory
    clock = clock_of(directory)
    session = _signed_in(directory)
    assert session.token is not None
    signed_in_at = directory.clock.now()
    idle = timedelta(minutes=directory.settings.session_idle_minutes)
    for _ in range(3):  # each use just inside the idle time restarts it
        clock.advance(idle - timedelta(seconds=1))
        used = directory.session(session.token)
        assert used.last_seen_at == directory.clock.now()
    # The uses were kept in memory, not written on the look-up path.
    assert _stored_last_seen(tmp_path / "directory.db") == [signed_in_at.isoformat()]
    clock.advance(idle)
    with pytest.raises(SessionExpired):
        directory.session(session.token)
    ended = [e for e in _events(directory) if e.action == "session_ended"]
    assert [e.code for e in ended] == ["idle"]
    directory.close()


def test_acc_1_absolute_expiry_still_ends_a_session_in_constant_use(
    file_directory: DirectoryService,
) -> None:
    directory = file_directory
    clock = clock_of(directory)
    session = _signed_in(directory)
    assert session.token is not None
    end = directory.clock.now() + timedelta(hours=directory.settings.session_absolute_hours)
    while directory.clock.now() + timedelta(minutes=10) < end:
        clock.advance(timedelta(minutes=10))
        directory.session(session.token)
    clock.set(end)
    with pytest.raises(SessionExpired):
        directory.session(session.token)
    assert [e.code for e in _events(directory) if e.action == "session_ended"] == ["absolute"]
    directory.close()


def test_a_session_is_used_without_waiting_for_a_supply_transaction(
    file_directory: DirectoryService,
) -> None:
    directory = file_directory
    session = _signed_in(directory)
    assert session.token is not None
    clock_of(directory).advance(timedelta(minutes=1))
    writer, release = _holding_the_writer(directory)
    results: list[SearchResult] = []

    def look_up() -> None:
        used = directory.session(session.token or "")
        results.append(directory.search(used, SearchCriteria(upn=make_upn(1))))

    _finishes_while_held(look_up)
    assert writer.is_alive()  # the writer still held the store throughout
    release.set()
    writer.join()
    assert [r.directory_ids for r in results] == [()]
    directory.close()


def test_activity_is_written_at_purge_and_at_close(
    file_directory: DirectoryService, tmp_path: Path
) -> None:
    directory = file_directory
    clock = clock_of(directory)
    session = _signed_in(directory)
    assert session.token is not None
    idle = timedelta(minutes=directory.settings.session_idle_minutes)
    clock.advance(idle - timedelta(minutes=1))
    directory.session(session.token)
    clock.advance(timedelta(minutes=2))  # idle since sign-in, but not since the use
    assert directory.users.purge_sessions(directory.clock.now()) == 0
    clock.advance(timedelta(minutes=1))
    last = directory.session(session.token).last_seen_at
    directory.close()
    assert _stored_last_seen(tmp_path / "directory.db") == [last.isoformat()]
    reopened = new_directory(tmp_path / "directory.db")
    clock_of(reopened).set(last + idle - timedelta(seconds=1))
    assert reopened.session(session.token).session_id == session.session_id
    reopened.close()


def test_acc_4_an_alert_raised_while_the_writer_is_busy_is_queued_and_audited(
    file_directory: DirectoryService,
) -> None:
    directory = file_directory
    session = _signed_in(directory)
    rate = directory.settings.search_rate_per_minute
    for i in range(rate - 1):
        directory.search(session, SearchCriteria(upn=make_upn(i), postcode=Postcode("BS1 4DJ")))
    before = [e for e in _events(directory) if e.action == "trawling_alert"]
    writer, release = _holding_the_writer(directory)

    def searches() -> None:
        for i in range(rate - 1, rate + 1):
            with suppress(ContactPointError):  # a refusal (the rate) is fine here
                directory.search(
                    session, SearchCriteria(upn=make_upn(i), postcode=Postcode("BS1 4DJ"))
                )

    _finishes_while_held(searches)
    raised = [e for e in _events(directory) if e.action == "trawling_alert"][len(before) :]
    assert writer.is_alive()
    release.set()
    writer.join()
    assert raised, "the searches should raise an alert"
    alerts = directory.trawling_alerts(LA)
    queued = {f"alert:{a}" for a in _queue_ids(directory)}
    for event in raised:
        assert event.refs[0] in queued
    assert len(alerts) == len(queued)
    directory.close()


def _queue_ids(directory: DirectoryService) -> list[str]:
    store = directory.store
    assert isinstance(store, SqliteStore)
    return [row.item_id for row in store.list_queue("trawling_alerts", local_authority=LA)]


def _events(directory: DirectoryService) -> list[AuditEvent]:
    log = directory.audit
    assert isinstance(log, MemoryAuditLog)
    return list(log.events())
