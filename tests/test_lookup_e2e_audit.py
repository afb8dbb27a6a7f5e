"""Who saw what, proven from the log (ACC-5), end to end through HTTP.

A file-backed reference directory keeps its audit log in a Merkle-tree log of
its own file (``directory.audit.db``). A day of look-up through the HTTP API
— a supply, a failed and a good sign-in, searches, a refusal, opens, a
shield, a broker request, mediated access — must leave one entry for each,
by identifier and code only (no name, postcode, date of birth or
credential in any entry), naming the request and the session; and
``contactpoint audit verify`` must prove the log whole against a signed tree
head, and catch it when an entry is changed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from contactpoint_sdk.cli import main as contactpoint
from contactpoint_sdk.policy.viewer import Role
from contactpoint_sdk.reference_server import ReferenceDirectory
from contactpoint_sdk.reference_server.audit_log import MerkleAuditLog
from contactpoint_sdk.reference_server.service import audit_path_for
from tests.test_server_http_support import (
    LA,
    ORG,
    PASSWORD,
    PIN,
    LookupHttp,
    Supplier,
    credentials,
    make_nhs,
    make_upn,
    no_leaked_threads,
    pupil,
)

pytestmark = pytest.mark.usefixtures("no_leaked_threads")
_ = no_leaked_threads

BORN = date(2015, 4, 1)


@pytest.fixture
def h(tmp_path: Path) -> Iterator[LookupHttp]:
    harness = LookupHttp(path=tmp_path / "directory.db")
    yield harness
    harness.close()


def _entries(h: LookupHttp) -> list[Mapping[str, Any]]:
    log = h.directory.audit
    assert isinstance(log, MerkleAuditLog)
    return [entry.event for entry in log.entries()]


def _a_day_of_look_up(h: LookupHttp) -> dict[str, Any]:
    """Everything the audit must show, through HTTP; what was done."""
    source = Supplier(h.directory).register()
    receipt = h.directory.ingest(source.seal(source.batch(pupil(1, sensitive=True), pupil(2))))
    assert {o.status.value for o in receipt.outcomes} == {"accepted"}
    teacher = h.enrol(Role.SCHOOL_ADMINISTRATOR, user="teacher-1")
    wrong = {**credentials(h.directory, teacher), "pin": "913524"}
    assert h.http.post("/v1/sessions", json=wrong).status_code == 401
    signed_in = h.http.post("/v1/sessions", json=credentials(h.directory, teacher))
    token = signed_in.json()["session_token"]
    headers = {"Authorization": f"Bearer {token}"}
    too_broad = h.http.post("/v1/search", json={"family_name": "Hartley"}, headers=headers)
    assert too_broad.status_code == 400
    found = h.http.post(
        "/v1/search",
        json={"family_name": "Hartley", "date_of_birth": BORN.isoformat()},
        headers=headers,
    )
    ids = sorted(c["directory_id"] for c in found.json()["candidates"])
    assert len(ids) == 2
    no_reason = h.http.post(f"/v1/records/{ids[0]}/open", json={}, headers=headers)
    assert no_reason.status_code == 400
    opened = {}
    for directory_id in ids:
        answer = h.http.post(
            f"/v1/records/{directory_id}/open",
            json={"reason": "other", "reason_text": "preparing a transition plan"},
            headers=headers,
        )
        assert answer.status_code == 200
        opened[directory_id] = answer
    sensitive = next(d for d, a in opened.items() if a.json().get("unspecified_services"))
    plain = next(d for d in ids if d != sensitive)
    broker = h.http.post(f"/v1/records/{sensitive}/broker", json={"ordinal": 1}, headers=headers)
    assert broker.status_code == 201
    refused_shield = h.http.post(
        f"/v1/records/{plain}/shield", json={"ground": "risk_of_harm_to_child"}, headers=headers
    )
    assert refused_shield.status_code == 403  # SHLD-6: not an administrator's to request
    social = h.user(Role.SOCIAL_CARE_PRACTITIONER, user="sw-1")
    shield = h.http.post(
        f"/v1/records/{plain}/shield", json={"ground": "risk_of_harm_to_child"}, headers=social
    )
    assert shield.status_code == 204
    recent = h.clock.today() - timedelta(days=60)
    h.directory.create_practitioner(
        user_id="ta-1",
        role=Role.PASTORAL_TEACHER,
        organisation_key=ORG,
        local_authority=LA,
        trained_on=recent,
        disclosure_issued_on=recent,
    )
    h.http.post(
        "/v1/sessions/current/act-for", json={"practitioner_user_id": "ta-1"}, headers=headers
    )
    mediated = h.http.post(
        f"/v1/records/{sensitive}/open", json={"reason": "assessment"}, headers=headers
    )
    assert mediated.status_code == 200
    assert h.http.delete("/v1/sessions/current", headers=headers).status_code == 204
    return {
        "ids": ids,
        "sensitive": sensitive,
        "plain": plain,
        "token": token,
        "mediated_request": mediated.headers["X-Request-ID"],
        "broker": broker.json()["request_id"],
    }


def test_acc_5_every_look_up_step_is_audited_by_identifier_only(h: LookupHttp) -> None:
    done = _a_day_of_look_up(h)
    events = _entries(h)
    actions = [e["action"] for e in events]
    for action in (
        "supply_batch",  # supply
        "user_enrolled",
        "sign_in_failed",  # failure
        "sign_in",
        "search_refused",  # refusal
        "search",
        "record_open_refused",
        "record_viewed",  # open
        "broker_requested",  # broker request
        "shield_refused",
        "shield_requested",  # shield action
        "mediation_started",
        "session_ended",
    ):
        assert action in actions, action
    (failed,) = [e for e in events if e["action"] == "sign_in_failed"]
    assert (failed["actor"], failed["code"]) == ("teacher-1", "pin_wrong")
    search = next(e for e in events if e["action"] == "search")
    assert sorted(r for r in search["refs"] if r.startswith("candidate:")) == [
        f"candidate:{d}" for d in done["ids"]
    ]
    assert "basis:name_and_date_of_birth" in search["refs"]
    views = [e for e in events if e["action"] == "record_viewed"]
    assert [(v["directory_id"], v["reason"]) for v in views] == [
        (done["ids"][0], "other"),
        (done["ids"][1], "other"),
        (done["sensitive"], "assessment"),
    ]
    # Mediated access (ACC-6): the user at the keyboard and the practitioner, both.
    mediated = views[-1]
    assert (mediated["actor"], mediated["on_behalf_of"]) == ("teacher-1", "ta-1")
    assert mediated["request_id"] == done["mediated_request"]
    assert any(r.startswith("session:") for r in mediated["refs"])
    (broker,) = [e for e in events if e["action"] == "broker_requested"]
    assert broker["refs"][0] == done["broker"]
    # Every event from a signed-in request names its session and its request.
    for event in events:
        if event["action"] in ("record_viewed", "search", "search_refused", "broker_requested"):
            assert event.get("request_id"), event
            assert any(r.startswith("session:") for r in event["refs"]), event

    # Identifiers and codes only: nothing of the children, nothing secret.
    text = json.dumps(events)
    child = pupil(1, sensitive=True)
    for secret in (
        "Hartley",
        "Olivia",
        "Isla",
        "High Street",
        "BS1 4DJ",
        "BS1",
        BORN.isoformat(),
        str(make_upn(1)),
        str(make_nhs(1)),
        "Harbour Clinic",
        "mental_health",
        child.involvements[0].organisation.name,
        "transition plan",  # the free text of "other" is not audited
        PASSWORD,
        PIN,
        done["token"],
    ):
        assert secret not in text, secret
    log_file = audit_path_for(h.directory.store.path)  # type: ignore[attr-defined]
    raw = log_file.read_bytes() + Path(str(log_file) + "-wal").read_bytes()
    assert b"Hartley" not in raw


def test_acc_5_contactpoint_audit_verify_proves_the_directorys_log_whole(
    h: LookupHttp, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _a_day_of_look_up(h)
    head = h.directory.audit_tree_head()
    log = h.directory.audit
    assert isinstance(log, MerkleAuditLog)
    assert head.tree_size == len(log) > 20
    head_file, key_file = tmp_path / "head.json", tmp_path / "key.jwk"
    head_file.write_text(head.to_json())
    key_file.write_text(json.dumps(h.directory.audit_public_key().public_jwk()))
    log_file = tmp_path / "directory.audit.db"
    argv = ["audit", "verify", str(log_file), "--head", str(head_file), "--key", str(key_file)]
    assert contactpoint(argv) == 0
    assert "the log is whole" in capsys.readouterr().out

    # The log goes on; the saved head still proves its first part unchanged.
    h.user(user="later-1")
    assert contactpoint(argv) == 0
    capsys.readouterr()

    # Someone with write access to the file changes who opened a record.
    h.close()
    db = sqlite3.connect(log_file)
    db.execute("DROP TRIGGER IF EXISTS audit_log_entries_append_only_update")
    (index, data) = db.execute(
        "SELECT idx, entry FROM audit_log_entries"
        " WHERE CAST(entry AS TEXT) LIKE '%record_viewed%' LIMIT 1"
    ).fetchone()
    db.execute(
        "UPDATE audit_log_entries SET entry = ? WHERE idx = ?",
        (bytes(data).replace(b"teacher-1", b"teacher-2"), index),
    )
    db.commit()
    db.close()
    assert contactpoint(argv) == 1
    out = capsys.readouterr().out
    assert "NOT whole" in out
    assert f"entry {index}" in out


def test_acc_5_the_log_and_its_key_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "directory.db"
    first = ReferenceDirectory(path=path)
    first.create_user("t-1", Role.HEAD_TEACHER, local_authority=LA)
    head = first.service.audit_tree_head()
    key = first.service.audit_public_key()
    first.close()
    again = ReferenceDirectory(path=path)
    assert again.service.audit_public_key() == key
    log = again.service.audit
    assert isinstance(log, MerkleAuditLog)
    assert log.verify(head, key).ok
    assert again.service.audit_tree_head().tree_size == head.tree_size
    again.close()


def test_an_in_memory_directory_audits_to_memory_unless_told(tmp_path: Path) -> None:
    with ReferenceDirectory() as directory:
        assert not isinstance(directory.service.audit, MerkleAuditLog)
        with pytest.raises(Exception, match="not a Merkle-tree log"):
            directory.service.audit_tree_head()
    from contactpoint_sdk.reference_server import DirectoryService

    merkle = MerkleAuditLog.in_memory()
    service = DirectoryService.in_memory(audit=merkle)
    service.seed_population(3, 1)
    assert len(merkle) == 1
    assert service.audit_tree_head().tree_size == 1
    service.close()
