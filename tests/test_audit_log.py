"""The tamper-evident audit log (ACC-5, ACC-6): entries, signed tree heads,
proofs, and verification that catches every kind of tampering."""

from __future__ import annotations

import argparse
import json
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contactpoint_sdk.cli.audit import add_audit_arguments
from contactpoint_sdk.clock import MovableClock
from contactpoint_sdk.errors import ContactPointError, ValidationError
from contactpoint_sdk.reference_server.audit import AuditEvent, AuditSink
from contactpoint_sdk.reference_server.audit_log import (
    DiscrepancyKind,
    MerkleAuditLog,
    SignedTreeHead,
    encode_entry,
    verify_log_file,
)
from contactpoint_sdk.reference_server.merkle import leaf_hash
from contactpoint_sdk.supply.keys import KeyRing, PublicKeySet, SigningKey

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
KEY = SigningKey.generate("audit-2025")
OTHER_KEY = SigningKey.generate("audit-other")
TRIGGERS = [
    f"{table}_append_only_{verb}"
    for table in ("audit_log_entries", "audit_log_heads")
    for verb in ("update", "delete")
]


def event(i: int) -> AuditEvent:
    return AuditEvent(
        at=T0 + timedelta(seconds=i),
        action="record_viewed" if i % 3 else "search",
        actor=f"user-{i % 7:03d}",
        directory_id=f"CP-{i:06d}",
        code="ok",
        rule="ACC-3",
        refs=(f"req-{i:05d}",),
    )


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(T0)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.db"


def make_log(path: Path, clock: MovableClock, n: int) -> MerkleAuditLog:
    log = MerkleAuditLog(path, clock=clock)
    log.append_many(event(i) for i in range(n))
    return log


@pytest.fixture
def sealed(db_path: Path, clock: MovableClock) -> tuple[Path, SignedTreeHead]:
    """A closed log of 20 entries and the head an auditor saved."""
    with make_log(db_path, clock, 20) as log:
        head = log.tree_head(KEY, store=False)
    return db_path, head


def tamper(path: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    """Edit the file behind the log's back, as someone with write access would."""
    db = sqlite3.connect(path)
    for trigger in TRIGGERS:
        db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    for sql, params in statements:
        db.execute(sql, params)
    db.commit()
    db.close()


def entry_bytes(path: Path, index: int) -> bytes:
    db = sqlite3.connect(path)
    (data,) = db.execute("SELECT entry FROM audit_log_entries WHERE idx = ?", (index,)).fetchone()
    db.close()
    assert isinstance(data, bytes)
    return data


def check(path: Path, head: SignedTreeHead) -> list[tuple[DiscrepancyKind, int | None]]:
    report = verify_log_file(path, head.to_json(), KEY.public_jwk())
    assert not report.ok
    return [(d.kind, d.index) for d in report.discrepancies]


# --- Entries ---------------------------------------------------------------------


def test_acc_5_merkle_audit_log_is_an_audit_sink() -> None:
    log = MerkleAuditLog.in_memory()
    assert isinstance(log, AuditSink)
    log.record(event(0))
    assert len(log) == 1


def test_acc_5_entries_are_canonical_json_of_identifiers_and_codes(
    db_path: Path, clock: MovableClock
) -> None:
    with make_log(db_path, clock, 3) as log:
        entry = log.entry(2)
    expected = (
        b'{"event":{"action":"record_viewed","actor":"user-002","at":"2025-03-03T09:00:02.000000Z",'
        b'"code":"ok","directory_id":"CP-000002","refs":["req-00002"],"rule":"ACC-3"},'
        b'"index":2,"v":1}'
    )
    assert entry.data == expected == encode_entry(event(2), 2)
    assert entry.leaf_hash == leaf_hash(expected)
    assert entry.event["directory_id"] == "CP-000002"
    assert "supplier_id" not in entry.event  # None fields are left out


@pytest.mark.parametrize(
    "bad",
    [
        {"code": "Jane Smith\nborn 2014-05-01, 12 High Street"},
        {"code": "x" * 513},
        {"refs": (object(),)},
        {"at": datetime(2025, 1, 1)},  # naive: refused
    ],
)
def test_acc_5_an_event_carrying_anything_but_identifiers_is_refused_and_nothing_appended(
    bad: dict[str, Any],
) -> None:
    log = MerkleAuditLog.in_memory()
    log.append(event(0))
    with pytest.raises((ValueError, TypeError)):
        log.append_many([event(1), attrs.evolve(event(2), **bad)])
    assert len(log) == 1
    assert [e.index for e in log.entries()] == [0]


@attrs.frozen(kw_only=True)
class MediatedEvent(AuditEvent):
    """An event with the fields the look-up issue adds (ACC-6)."""

    on_behalf_of: str | None = None
    reason: str | None = None
    request_id: str | None = None


def test_acc_6_mediated_access_logs_the_user_and_the_user_acted_for() -> None:
    log = MerkleAuditLog.in_memory()
    index = log.append(
        MediatedEvent(
            at=T0,
            action="record_viewed",
            actor="user-helpdesk-7",
            on_behalf_of="user-social-worker-3",
            directory_id="CP-000123",
            reason="R04",
            code="ok",
            request_id="req-abc",
        )
    )
    fields = log.entry(index).event
    assert fields["actor"] == "user-helpdesk-7"
    assert fields["on_behalf_of"] == "user-social-worker-3"
    assert (fields["reason"], fields["request_id"]) == ("R04", "req-abc")


def test_acc_5_append_returns_the_index_and_reopening_restores_the_tree(
    db_path: Path, clock: MovableClock
) -> None:
    log = MerkleAuditLog(db_path, clock=clock)
    assert [log.append(event(i)) for i in range(5)] == [0, 1, 2, 3, 4]
    assert log.append_many(event(i) for i in range(5, 9)) == [5, 6, 7, 8]
    root, log_id = log.root(), log.log_id
    log.close()
    with MerkleAuditLog(db_path, clock=clock) as again:
        assert (len(again), again.root(), again.log_id) == (9, root, log_id)
        assert again.append(event(9)) == 9


def test_acc_5_two_connections_to_one_file_append_without_clashing(
    db_path: Path, clock: MovableClock
) -> None:
    with MerkleAuditLog(db_path, clock=clock) as one, MerkleAuditLog(db_path, clock=clock) as two:
        assert one.append(event(0)) == 0
        assert two.append(event(1)) == 1
        assert one.append(event(2)) == 2
        assert one.root() == two.root(3) == MerkleAuditLog(db_path).root()
        assert len(two) == 3
        head = two.tree_head(KEY)
    assert verify_log_file(db_path, head.to_json(), KEY.public_jwk()).ok


def test_acc_5_appends_from_many_threads_all_land_once(clock: MovableClock) -> None:
    log = MerkleAuditLog.in_memory(clock=clock)
    indexes: list[int] = []

    def work(offset: int) -> None:
        for i in range(50):
            indexes.append(log.append(event(offset + i)))

    threads = [threading.Thread(target=work, args=(k * 100,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(indexes) == list(range(200))
    assert log.verify(log.tree_head(KEY), KEY.public_key()).ok


def test_acc_5_sql_updates_and_deletes_are_refused(db_path: Path, clock: MovableClock) -> None:
    with make_log(db_path, clock, 3) as log:
        log.tree_head(KEY)
    db = sqlite3.connect(db_path)
    for sql in [
        "UPDATE audit_log_entries SET entry = x'00' WHERE idx = 1",
        "DELETE FROM audit_log_entries WHERE idx = 2",
        "UPDATE audit_log_heads SET tree_size = 1",
        "DELETE FROM audit_log_heads",
    ]:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(sql)
    db.close()


# --- Tree heads and proofs --------------------------------------------------------


def test_acc_5_tree_head_is_signed_and_round_trips(db_path: Path, clock: MovableClock) -> None:
    with make_log(db_path, clock, 7) as log:
        head = log.tree_head(KEY)
        assert (head.tree_size, head.root_hash, head.key_id) == (7, log.root(), KEY.kid)
        assert head.timestamp == T0
        assert log.tree_heads() == (head,)
    assert head.verify_signature(KEY.public_key())
    assert not head.verify_signature(OTHER_KEY.public_key())
    assert SignedTreeHead.from_json(head.to_json()) == head
    payload = json.loads(head.signed_bytes())
    assert payload == {
        "format": "contactpoint-audit-tree-head",
        "version": 1,
        "log_id": head.log_id,
        "tree_size": 7,
        "root_hash": head.root_hash.hex(),
        "timestamp": "2025-03-03T09:00:00.000000Z",
        "kid": "audit-2025",
    }


def test_acc_5_every_entry_is_proved_included_under_the_signed_root(clock: MovableClock) -> None:
    log = MerkleAuditLog.in_memory(clock=clock)
    log.append_many(event(i) for i in range(37))
    head = log.tree_head(KEY)
    for index in range(37):
        proof = log.inclusion_proof(index, head.tree_size)
        assert proof.leaf_hash == leaf_hash(log.entry(index).data)
        assert proof.verify(head.root_hash)
        assert not attrs.evolve(proof, index=(index + 1) % 37).verify(head.root_hash)
    wrong = attrs.evolve(log.inclusion_proof(3), leaf_hash=leaf_hash(encode_entry(event(99), 3)))
    assert not wrong.verify(head.root_hash)
    assert log.inclusion_proof(3).to_dict()["tree_size"] == 37


def test_acc_5_consistency_proof_links_an_earlier_head_to_a_later_one(
    clock: MovableClock,
) -> None:
    log = MerkleAuditLog.in_memory(clock=clock)
    log.append_many(event(i) for i in range(11))
    earlier = log.tree_head(KEY)
    log.append_many(event(i) for i in range(11, 40))
    clock.advance(timedelta(hours=1))
    later = log.tree_head(KEY)
    proof = log.consistency_proof(earlier.tree_size, later.tree_size)
    assert proof.verify(earlier.root_hash, later.root_hash)
    assert not proof.verify(log.root(12), later.root_hash)
    assert proof.to_dict()["old_size"] == 11


# --- Verification: whole -------------------------------------------------------------


def test_acc_5_a_whole_log_verifies_against_its_saved_head(
    sealed: tuple[Path, SignedTreeHead], clock: MovableClock
) -> None:
    path, head = sealed
    report = verify_log_file(path, head.to_json(), KEY.public_jwk())
    assert report.ok, report.summary()
    assert report.signature_valid
    assert report.log_size == 20
    assert report.computed_root == head.root_hash
    assert "whole" in report.summary()
    # The log grows after the head was saved: still whole against it.
    with MerkleAuditLog(path, clock=clock) as log:
        log.append_many(event(i) for i in range(20, 30))
        log.tree_head(KEY)
        assert log.verify(head, KEY.public_key()).ok
    jwks = PublicKeySet([OTHER_KEY.public_key(), KEY.public_key()]).to_jwks()
    report = verify_log_file(path, head, jwks)
    assert report.ok
    assert (report.log_size, report.stored_heads_checked) == (30, 1)


# --- Verification: tampering of each kind, on the SQLite file -------------------------


def test_acc_5_an_entry_changed_in_sql_is_detected(sealed: tuple[Path, SignedTreeHead]) -> None:
    path, head = sealed
    data = entry_bytes(path, 6).replace(b"CP-000006", b"CP-000066")
    tamper(path, ("UPDATE audit_log_entries SET entry = ? WHERE idx = 6", (data,)))
    found = check(path, head)
    assert found[0] == (DiscrepancyKind.ENTRY_CHANGED, 6)
    assert (DiscrepancyKind.ROOT_MISMATCH, 0) in found


def test_acc_5_a_byte_changed_in_the_database_file_is_detected(
    sealed: tuple[Path, SignedTreeHead],
) -> None:
    path, head = sealed
    raw = bytearray(path.read_bytes())
    at = raw.find(b"CP-000011")
    assert at > 0
    raw[at + 8] ^= 0x01  # "1" -> "0": CP-000010, a different child's record
    path.write_bytes(bytes(raw))
    report = verify_log_file(path, head.to_json(), KEY.public_jwk())
    assert report.first is not None
    assert (report.first.kind, report.first.index) == (DiscrepancyKind.ENTRY_CHANGED, 11)
    assert "entry 11" in report.summary()


def test_acc_5_an_entry_changed_with_its_leaf_hash_recomputed_is_still_detected(
    sealed: tuple[Path, SignedTreeHead],
) -> None:
    path, head = sealed
    data = entry_bytes(path, 4).replace(b'"code":"ok"', b'"code":"no"')
    tamper(
        path,
        (
            "UPDATE audit_log_entries SET entry = ?, leaf_hash = ? WHERE idx = 4",
            (data, leaf_hash(data)),
        ),
    )
    assert check(path, head) == [(DiscrepancyKind.ROOT_MISMATCH, 0)]


def test_acc_5_an_entry_removed_is_detected(sealed: tuple[Path, SignedTreeHead]) -> None:
    path, head = sealed
    tamper(path, ("DELETE FROM audit_log_entries WHERE idx = 9", ()))
    found = check(path, head)
    assert found[0] == (DiscrepancyKind.ENTRY_REMOVED, 9)


def test_acc_5_an_entry_removed_and_the_rest_renumbered_is_detected(
    sealed: tuple[Path, SignedTreeHead],
) -> None:
    path, head = sealed
    tamper(
        path,
        ("DELETE FROM audit_log_entries WHERE idx = 3", ()),
        ("UPDATE audit_log_entries SET idx = idx - 1 WHERE idx > 3", ()),
    )
    found = check(path, head)
    assert found[0] == (DiscrepancyKind.ENTRY_REMOVED, 3)


def test_acc_5_the_last_entries_cut_off_are_detected(sealed: tuple[Path, SignedTreeHead]) -> None:
    path, head = sealed
    tamper(path, ("DELETE FROM audit_log_entries WHERE idx >= 17", ()))
    report = verify_log_file(path, head.to_json(), KEY.public_jwk())
    assert report.first is not None
    assert (report.first.kind, report.first.index) == (DiscrepancyKind.ENTRY_REMOVED, 17)
    assert "holds 17 entries but the head covers 20: 3 entries are missing" in (
        report.first.message
    )


def test_acc_5_an_entry_inserted_is_detected(sealed: tuple[Path, SignedTreeHead]) -> None:
    path, head = sealed
    forged = encode_entry(event(500), 5)
    tamper(
        path,
        ("UPDATE audit_log_entries SET idx = idx + 1000 WHERE idx >= 5", ()),
        ("UPDATE audit_log_entries SET idx = idx - 999 WHERE idx >= 1000", ()),
        (
            "INSERT INTO audit_log_entries (idx, entry, leaf_hash) VALUES (5, ?, ?)",
            (forged, leaf_hash(forged)),
        ),
    )
    found = check(path, head)
    assert found[0] == (DiscrepancyKind.ENTRY_INSERTED, 5)


def test_acc_5_two_entries_swapped_are_detected(sealed: tuple[Path, SignedTreeHead]) -> None:
    path, head = sealed
    tamper(
        path,
        ("UPDATE audit_log_entries SET idx = 1000 WHERE idx = 2", ()),
        ("UPDATE audit_log_entries SET idx = 2 WHERE idx = 14", ()),
        ("UPDATE audit_log_entries SET idx = 14 WHERE idx = 1000", ()),
    )
    found = check(path, head)
    assert found[0] == (DiscrepancyKind.ENTRY_REORDERED, 2)
    assert (DiscrepancyKind.ROOT_MISMATCH, 0) in found


def test_acc_5_a_careful_rewrite_of_every_entry_is_detected_by_the_root(
    sealed: tuple[Path, SignedTreeHead],
) -> None:
    """Entry 8 dropped and every later entry re-encoded with its new index
    and leaf hash: each entry is well-formed, only the root betrays it."""
    path, head = sealed
    statements: list[tuple[str, tuple[object, ...]]] = [
        ("DELETE FROM audit_log_entries WHERE idx >= 8", ())
    ]
    for new_index, original in enumerate(range(9, 20), start=8):
        data = encode_entry(event(original), new_index)
        statements.append(
            (
                "INSERT INTO audit_log_entries (idx, entry, leaf_hash) VALUES (?, ?, ?)",
                (new_index, data, leaf_hash(data)),
            )
        )
    data = encode_entry(event(999), 19)
    statements.append(
        (
            "INSERT INTO audit_log_entries (idx, entry, leaf_hash) VALUES (19, ?, ?)",
            (data, leaf_hash(data)),
        )
    )
    tamper(path, *statements)
    assert check(path, head) == [(DiscrepancyKind.ROOT_MISMATCH, 0)]


def test_acc_5_stored_heads_narrow_down_where_the_log_was_changed(
    db_path: Path, clock: MovableClock
) -> None:
    with MerkleAuditLog(db_path, clock=clock) as log:
        for batch in range(4):
            log.append_many(event(i) for i in range(batch * 10, batch * 10 + 10))
            clock.advance(timedelta(minutes=5))
            log.tree_head(KEY)
        head = log.tree_head(KEY, store=False)
    data = entry_bytes(db_path, 25).replace(b"CP-000025", b"CP-000052")
    tamper(
        db_path,
        (
            "UPDATE audit_log_entries SET entry = ?, leaf_hash = ? WHERE idx = 25",
            (data, leaf_hash(data)),
        ),
    )
    report = verify_log_file(db_path, head.to_json(), KEY.public_jwk())
    assert report.stored_heads_checked == 4
    assert report.first is not None
    assert (report.first.kind, report.first.index) == (DiscrepancyKind.ROOT_MISMATCH, 20)
    assert "among 20 to 29" in report.first.message


def test_acc_5_a_stored_head_altered_is_reported(db_path: Path, clock: MovableClock) -> None:
    with make_log(db_path, clock, 5) as log:
        stored = log.tree_head(KEY)
        head = log.tree_head(KEY, store=False)
    forged = SignedTreeHead.from_dict({**stored.to_dict(), "tree_size": 4})
    tamper(db_path, ("UPDATE audit_log_heads SET head = ?", (forged.to_json(),)))
    assert check(db_path, head) == [(DiscrepancyKind.STORED_HEAD_INVALID, None)]


@given(
    n=st.integers(2, 40),
    kind=st.sampled_from(["change", "remove", "insert", "swap"]),
    data=st.data(),
)
@settings(max_examples=100, deadline=None)
def test_acc_5_tampering_of_any_kind_anywhere_is_detected(
    n: int, kind: str, data: st.DataObject
) -> None:
    db = sqlite3.connect(":memory:", isolation_level=None)
    log = MerkleAuditLog(db)
    log.append_many(event(i) for i in range(n))
    head = log.tree_head(KEY)
    for trigger in TRIGGERS:
        db.execute(f"DROP TRIGGER {trigger}")
    at = data.draw(st.integers(0, n - 1), label="at")
    if kind == "change":
        entry = encode_entry(attrs.evolve(event(at), code="changed"), at)
        db.execute("UPDATE audit_log_entries SET entry = ? WHERE idx = ?", (entry, at))
    elif kind == "remove":
        db.execute("DELETE FROM audit_log_entries WHERE idx = ?", (at,))
    elif kind == "insert":
        db.execute("UPDATE audit_log_entries SET idx = idx + 1000 WHERE idx >= ?", (at,))
        db.execute("UPDATE audit_log_entries SET idx = idx - 999 WHERE idx >= 1000")
        forged = encode_entry(event(1000), at)
        db.execute(
            "INSERT INTO audit_log_entries VALUES (?, ?, ?)", (at, forged, leaf_hash(forged))
        )
    else:
        other = data.draw(st.integers(0, n - 1).filter(lambda i: i != at), label="other")
        db.execute("UPDATE audit_log_entries SET idx = 1000 WHERE idx = ?", (at,))
        db.execute("UPDATE audit_log_entries SET idx = ? WHERE idx = ?", (at, other))
        db.execute("UPDATE audit_log_entries SET idx = ? WHERE idx = 1000", (other,))
    report = log.verify(head, KEY.public_key())
    assert not report.ok
    expected = {
        "change": DiscrepancyKind.ENTRY_CHANGED,
        "remove": DiscrepancyKind.ENTRY_REMOVED,
        "insert": DiscrepancyKind.ENTRY_INSERTED,
        "swap": DiscrepancyKind.ENTRY_REORDERED,
    }[kind]
    assert report.first is not None
    assert report.first.kind is expected
    db.close()


# --- Verification: the head itself ---------------------------------------------------


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        ({"tree_size": 19}, DiscrepancyKind.SIGNATURE_INVALID),
        ({"tree_size": 21}, DiscrepancyKind.SIGNATURE_INVALID),
        ({"root_hash": "00" * 32}, DiscrepancyKind.SIGNATURE_INVALID),
        ({"timestamp": "2025-03-04T09:00:00.000000Z"}, DiscrepancyKind.SIGNATURE_INVALID),
        ({"log_id": "0" * 32}, DiscrepancyKind.SIGNATURE_INVALID),
        ({"kid": "audit-other"}, DiscrepancyKind.HEAD_MISMATCH),
    ],
)
def test_acc_5_a_tampered_tree_head_is_refused(
    sealed: tuple[Path, SignedTreeHead], change: dict[str, object], kind: DiscrepancyKind
) -> None:
    path, head = sealed
    forged = json.dumps({**head.to_dict(), **change})
    report = verify_log_file(path, forged, KEY.public_jwk())
    assert not report.ok
    assert report.first is not None
    assert report.first.kind is kind
    assert not report.signature_valid


def test_acc_5_a_head_with_a_flipped_signature_bit_is_refused(
    sealed: tuple[Path, SignedTreeHead],
) -> None:
    path, head = sealed
    signature = bytearray(head.signature)
    signature[10] ^= 0x04
    forged = attrs.evolve(head, signature=bytes(signature))
    found = check(path, forged)
    assert found == [(DiscrepancyKind.SIGNATURE_INVALID, None)]


def test_acc_5_a_head_checked_with_another_key_or_another_log_is_refused(
    sealed: tuple[Path, SignedTreeHead], tmp_path: Path, clock: MovableClock
) -> None:
    path, head = sealed
    report = verify_log_file(path, head.to_json(), OTHER_KEY.public_jwk())
    assert report.first is not None
    assert report.first.kind is DiscrepancyKind.HEAD_MISMATCH
    # A head signed over another log with the same entries.
    with make_log(tmp_path / "other.db", clock, 20) as other:
        foreign = other.tree_head(KEY, store=False)
    assert foreign.root_hash == head.root_hash
    found = check(path, foreign)
    assert found == [(DiscrepancyKind.HEAD_MISMATCH, None)]


def test_acc_5_a_rewrite_by_the_key_holder_is_caught_only_against_an_earlier_head(
    db_path: Path, tmp_path: Path, clock: MovableClock
) -> None:
    """The limit docs/audit.md states: whoever holds the signing key can
    build a new log and sign it; only a head saved before gives them away."""
    with make_log(db_path, clock, 10) as log:
        published = log.tree_head(KEY, store=False)
    db_path.unlink()
    with MerkleAuditLog(db_path, clock=clock) as forged_log:
        forged_log.append_many(attrs.evolve(event(i), actor="someone-else") for i in range(10))
        forged = forged_log.tree_head(KEY)
    assert verify_log_file(db_path, forged.to_json(), KEY.public_jwk()).ok
    assert not verify_log_file(db_path, published.to_json(), KEY.public_jwk()).ok


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"format": "contactpoint-audit-tree-head"}',
    ],
)
def test_acc_5_malformed_heads_are_refused(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SignedTreeHead.from_json(text)
    assert caught.value.rule == "ACC-5"


@pytest.mark.parametrize(
    "change",
    [
        {"tree_size": -1},
        {"tree_size": True},
        {"root_hash": "AB" * 32},
        {"signature": "!!"},
        {"signature": "AAAA"},
        {"timestamp": "2025-03-03T09:00:00+00:00"},
        {"version": 2},
        {"extra": 1},
    ],
)
def test_acc_5_head_members_are_checked_strictly(
    sealed: tuple[Path, SignedTreeHead], change: dict[str, object]
) -> None:
    _, head = sealed
    with pytest.raises(ValidationError, match="signed tree head"):
        SignedTreeHead.from_dict({**head.to_dict(), **change})


# --- Damaged and foreign files -------------------------------------------------------


def test_acc_5_a_damaged_log_refuses_to_open_for_appending(
    sealed: tuple[Path, SignedTreeHead],
) -> None:
    path, _ = sealed
    tamper(path, ("DELETE FROM audit_log_entries WHERE idx = 4", ()))
    with pytest.raises(ContactPointError, match="damaged") as caught:
        MerkleAuditLog(path)
    assert caught.value.code == "audit_log_damaged"


def test_acc_5_a_file_that_is_no_audit_log_is_reported(
    sealed: tuple[Path, SignedTreeHead], tmp_path: Path
) -> None:
    _, head = sealed
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    empty.write_bytes(b"")
    assert check(empty, head)[-1] == (DiscrepancyKind.NOT_AN_AUDIT_LOG, None)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite" * 100)
    assert (DiscrepancyKind.NOT_AN_AUDIT_LOG, 0) in check(garbage, head)
    with pytest.raises(ContactPointError, match="does not exist"):
        verify_log_file(tmp_path / "missing.db", head, KEY.public_jwk())


# --- The command line --------------------------------------------------------------------


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="contactpoint audit")
    add_audit_arguments(parser)
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


def test_acc_5_cli_verify_exits_0_when_whole_and_1_with_the_first_discrepancy(
    sealed: tuple[Path, SignedTreeHead], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, head = sealed
    head_file, key_file = tmp_path / "head.json", tmp_path / "key.jwk"
    head_file.write_text(head.to_json())
    key_file.write_text(json.dumps(KEY.public_jwk()))
    argv = ["verify", str(path), "--head", str(head_file), "--key", str(key_file)]
    assert run(argv) == 0
    assert "the log is whole" in capsys.readouterr().out
    tamper(
        path,
        ("DELETE FROM audit_log_entries WHERE idx = 12", ()),
        ("DELETE FROM audit_log_entries WHERE idx = 15", ()),
    )
    assert run(argv) == 1
    out = capsys.readouterr().out
    assert "NOT whole: entry_removed: entry 12 is missing" in out
    assert "also: entry_removed: entry 15 is missing" in out
    assert run([*argv, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert report["discrepancies"][0]["index"] == 12


def test_acc_5_cli_head_signs_the_current_head_with_the_ring(
    db_path: Path,
    clock: MovableClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_log(db_path, clock, 6).close()
    ring: KeyRing[SigningKey] = KeyRing(SigningKey)
    ring.add(KEY, not_before=T0)
    ring_file = tmp_path / "ring.json"
    ring_file.write_text(ring.to_encrypted_json("pass phrase", iterations=10_000))
    monkeypatch.setenv("CONTACTPOINT_KEY_PASSPHRASE", "pass phrase")
    out = tmp_path / "head.json"
    assert run(["head", str(db_path), "--key-ring", str(ring_file), "--out", str(out)]) == 0
    assert "6 entries" in capsys.readouterr().out
    head = SignedTreeHead.from_json(out.read_text())
    assert (head.tree_size, head.key_id) == (6, KEY.kid)
    jwks = json.dumps(ring.public_key_set().to_jwks())
    assert verify_log_file(db_path, out.read_text(), jwks).ok
    assert run(["head", str(db_path), "--key-ring", str(ring_file)]) == 0
    assert SignedTreeHead.from_json(capsys.readouterr().out).tree_size == 6
    sqlite3.connect(tmp_path / "x.db").execute("CREATE TABLE t (a)").connection.close()
    with pytest.raises(ContactPointError, match="holds no audit log"):
        run(["head", str(tmp_path / "x.db"), "--key-ring", str(ring_file)])
