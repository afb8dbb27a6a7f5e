"""Sign-in, sessions and mediated access end to end through HTTP (ACC-1, ACC-6).

Plain ``httpx`` over the in-process transport, as a vendor's MIS would call
the directory: four credentials, one answer whatever was wrong (the reason in
the audit log only), lock-out, lapsed eligibility told, sessions that end,
acting for a practitioner without IT with both named in the audit.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from contactpoint_sdk.errors import SIGN_IN_AUDIT_CODES, ConfigurationError
from contactpoint_sdk.policy.trawling import SearchCriteria
from contactpoint_sdk.policy.viewer import Role
from contactpoint_sdk.reference_server import ReferenceDirectory
from contactpoint_sdk.reference_server.audit import AuditEvent, MemoryAuditLog
from contactpoint_sdk.reference_server.users import TOTP_PERIOD_SECONDS, Enrolment
from tests.test_server_http_support import (
    FAST,
    LA,
    ORG,
    PASSWORD,
    PIN,
    START,
    LookupHttp,
    bearer,
    credentials,
    lookup_http,
    make_upn,
    no_leaked_threads,
)

pytestmark = pytest.mark.usefixtures("no_leaked_threads")
_ = (no_leaked_threads, lookup_http)

SESSION_MEMBERS = {"user_id", "role", "local_authority", "acting_for", "idle_expires_at"}
SESSION_MEMBERS |= {"expires_at"}


def _audit(h: LookupHttp) -> list[AuditEvent]:
    log = h.directory.audit
    assert isinstance(log, MemoryAuditLog)
    return list(log.events())


def _problem(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    assert body["code"] == code
    return body


def test_acc_1_sign_in_with_four_credentials_gives_a_session(lookup_http: LookupHttp) -> None:
    h = lookup_http
    enrolment = h.enrol()
    answer = h.http.post("/v1/sessions", json=credentials(h.directory, enrolment))
    assert answer.status_code == 201
    body = answer.json()
    assert set(body) == SESSION_MEMBERS | {"session_token"}
    assert (body["user_id"], body["role"], body["local_authority"]) == (
        "user-1",
        "head_teacher",
        LA,
    )
    assert body["acting_for"] is None
    now = h.clock.now()
    assert body["idle_expires_at"] == (now + timedelta(minutes=15)).isoformat()
    assert body["expires_at"] == (now + timedelta(hours=8)).isoformat()
    headers = bearer(body["session_token"])
    current = h.http.get("/v1/sessions/current", headers=headers)
    assert current.status_code == 200
    assert set(current.json()) == SESSION_MEMBERS  # the token is shown once
    assert h.http.delete("/v1/sessions/current", headers=headers).status_code == 204
    ended = h.http.get("/v1/sessions/current", headers=headers)
    _problem(ended, 401, "session_invalid")
    assert ended.headers["WWW-Authenticate"] == "Bearer"
    actions = [e.action for e in _audit(h)]
    assert actions[-3:] == ["user_enrolled", "sign_in", "session_ended"]


def _attempts(h: LookupHttp, enrolment: Enrolment) -> dict[str, dict[str, str]]:
    good = credentials(h.directory, enrolment)
    wrong_token = f"{(int(good['token']) + 1) % 10**6:06d}"
    return {
        "username_missing": {**good, "username": ""},
        "unknown_user": {**good, "username": "nobody-here"},
        "password_missing": {**good, "password": ""},
        "password_wrong": {**good, "password": PASSWORD + "!"},
        "pin_missing": {**good, "pin": ""},
        "pin_wrong": {**good, "pin": "913524"},
        "token_missing": {**good, "token": ""},
        "token_wrong": {**good, "token": wrong_token},
        "no_body_members": {},
    }


def test_acc_1_each_missing_or_wrong_credential_gets_the_same_answer(
    lookup_http: LookupHttp,
) -> None:
    h = lookup_http
    enrolment = h.enrol()
    answers = {}
    for case, body in _attempts(h, enrolment).items():
        h.advance(seconds=1)
        h.directory.users.unlock("user-1", now=h.clock.now())  # not locked out by the test
        answers[case] = h.http.post("/v1/sessions", json=body)
    details = set()
    for case, answer in answers.items():
        problem = _problem(answer, 401, "sign_in_failed")
        assert problem["rule"] == "ACC-1", case
        assert answer.headers["WWW-Authenticate"] == "Bearer"
        details.add((problem["title"], problem["detail"], tuple(sorted(problem))))
        for audit_code in SIGN_IN_AUDIT_CODES:  # the reason never leaves the audit
            assert audit_code not in answer.text, (case, audit_code)
    assert len(details) == 1, "one message whatever was wrong"
    failed = [e.code for e in _audit(h) if e.action == "sign_in_failed"]
    assert failed == [
        "username_missing",
        "unknown_user",
        "password_missing",
        "password_wrong",
        "pin_missing",
        "pin_wrong",
        "token_missing",
        "token_wrong",
        "username_missing",
    ]


def test_acc_1_a_replayed_token_code_is_refused_the_same_way(lookup_http: LookupHttp) -> None:
    h = lookup_http
    enrolment = h.enrol()
    body = credentials(h.directory, enrolment)
    assert h.http.post("/v1/sessions", json=body).status_code == 201
    replay = h.http.post("/v1/sessions", json=body)
    _problem(replay, 401, "sign_in_failed")
    assert [e.code for e in _audit(h) if e.action == "sign_in_failed"] == ["token_reused"]
    h.advance(seconds=TOTP_PERIOD_SECONDS)
    assert h.http.post("/v1/sessions", json=credentials(h.directory, enrolment)).status_code == 201


def test_acc_1_lock_out_after_five_failures_then_the_lock_passes(lookup_http: LookupHttp) -> None:
    h = lookup_http
    enrolment = h.enrol()
    for _ in range(FAST.sign_in_max_failures):
        wrong = {**credentials(h.directory, enrolment), "pin": "913524"}
        _problem(h.http.post("/v1/sessions", json=wrong), 401, "sign_in_failed")
    right = h.http.post("/v1/sessions", json=credentials(h.directory, enrolment))
    locked = _problem(right, 401, "sign_in_failed")
    wrong_answer = h.http.post("/v1/sessions", json={"username": "user-1"}).json()
    assert locked["detail"] == wrong_answer["detail"]  # locked looks like wrong
    codes = [(e.action, e.code) for e in _audit(h) if e.action.startswith(("sign_in", "account"))]
    assert ("account_locked", "account_locked") in codes
    assert codes[-2] == ("sign_in_failed", "account_locked")
    h.advance(minutes=FAST.sign_in_lockout_minutes, seconds=1)
    assert h.http.post("/v1/sessions", json=credentials(h.directory, enrolment)).status_code == 201


@pytest.mark.parametrize(
    ("field", "code"),
    [("disclosure_issued_on", "disclosure_lapsed"), ("trained_on", "training_lapsed")],
)
def test_acc_1_a_lapsed_disclosure_or_training_is_refused_with_the_reason(
    lookup_http: LookupHttp, field: str, code: str
) -> None:
    h = lookup_http
    lapsed: dict[str, Any] = {field: h.clock.today() - timedelta(days=3 * 366)}
    enrolment = h.enrol(Role.HEAD_TEACHER, **lapsed)
    answer = h.http.post("/v1/sessions", json=credentials(h.directory, enrolment))
    problem = _problem(answer, 403, code)
    assert problem["rule"] == "ACC-1"
    assert [e.code for e in _audit(h) if e.action == "sign_in_refused"] == [code]
    # Only someone holding all four credentials learns it.
    h.advance(seconds=TOTP_PERIOD_SECONDS)
    wrong = {**credentials(h.directory, enrolment), "password": "not the password"}
    _problem(h.http.post("/v1/sessions", json=wrong), 401, "sign_in_failed")


def test_acc_1_sessions_end_idle_then_say_so_once(lookup_http: LookupHttp) -> None:
    h = lookup_http
    headers = h.user()
    h.advance(minutes=14)
    assert h.http.get("/v1/sessions/current", headers=headers).status_code == 200
    h.advance(minutes=15)
    expired = h.http.get("/v1/sessions/current", headers=headers)
    _problem(expired, 401, "session_expired")
    assert expired.headers["WWW-Authenticate"] == "Bearer"
    _problem(h.http.get("/v1/sessions/current", headers=headers), 401, "session_invalid")
    search = h.http.post("/v1/search", json={"upn": str(make_upn(1))}, headers=headers)
    _problem(search, 401, "session_invalid")


def test_acc_1_a_disclosure_lapsing_during_a_session_ends_it(lookup_http: LookupHttp) -> None:
    h = lookup_http
    h.advance(hours=13, minutes=50)  # 23:50 (GMT): the disclosure lapses at midnight
    issued = h.clock.today().replace(year=h.clock.today().year - 3) + timedelta(days=1)
    headers = h.user(disclosure_issued_on=issued)
    h.advance(minutes=9)
    assert h.http.get("/v1/sessions/current", headers=headers).status_code == 200
    h.advance(minutes=2)
    _problem(h.http.get("/v1/sessions/current", headers=headers), 403, "disclosure_lapsed")
    _problem(h.http.get("/v1/sessions/current", headers=headers), 401, "session_invalid")


def test_acc_1_malformed_authorization_is_no_session(lookup_http: LookupHttp) -> None:
    h = lookup_http
    for value in ("", "Bearer", "Bearer ", "Token abc", "Bearer a b", "Bearer " + "x" * 2000):
        answer = h.http.get("/v1/sessions/current", headers={"Authorization": value})
        _problem(answer, 401, "session_invalid")


def test_acc_6_acting_for_a_practitioner_shows_their_view_and_audits_both(
    lookup_http: LookupHttp,
) -> None:
    h = lookup_http
    directory = h.directory
    recent = h.clock.today() - timedelta(days=60)
    directory.create_practitioner(
        user_id="ta-1",
        role=Role.PASTORAL_TEACHER,
        organisation_key=ORG,
        local_authority=LA,
        trained_on=recent,
        disclosure_issued_on=recent,
    )
    headers = h.user(Role.SCHOOL_ADMINISTRATOR, user="admin-1")
    acting = h.http.post(
        "/v1/sessions/current/act-for", json={"practitioner_user_id": "ta-1"}, headers=headers
    )
    assert acting.status_code == 200
    assert acting.json()["acting_for"] == "ta-1"
    assert acting.json()["user_id"] == "admin-1"
    assert h.http.get("/v1/sessions/current", headers=headers).json()["acting_for"] == "ta-1"
    searched = h.http.post("/v1/search", json={"upn": str(make_upn(1))}, headers=headers)
    assert searched.status_code == 200
    search = next(e for e in _audit(h) if e.action == "search")
    assert (search.actor, search.on_behalf_of) == ("admin-1", "ta-1")
    assert any(r.startswith("session:") for r in search.refs)
    assert search.request_id == searched.headers["X-Request-ID"]
    stopped = h.http.delete("/v1/sessions/current/act-for", headers=headers)
    assert stopped.json()["acting_for"] is None
    started = next(e for e in _audit(h) if e.action == "mediation_started")
    assert "on_behalf_of:ta-1" in started.refs


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ("stranger", "mediation_not_allowed"),  # another organisation
        ("nobody", "mediation_not_allowed"),  # no such user: refused the same way
        ("team", "mediation_not_allowed"),  # the management team is never mediated
        ("lapsed", "practitioner_not_eligible"),
    ],
)
def test_acc_6_mediation_refusals(lookup_http: LookupHttp, target: str, code: str) -> None:
    h = lookup_http
    recent = h.clock.today() - timedelta(days=60)
    people: dict[str, tuple[Role, str, date]] = {
        "stranger": (Role.PASTORAL_TEACHER, "urn:222222", recent),
        "team": (Role.LA_MANAGEMENT_TEAM, ORG, recent),
        "lapsed": (Role.PASTORAL_TEACHER, ORG, recent - timedelta(days=4 * 365)),
    }
    for user_id, (role, org, trained) in people.items():
        h.directory.create_practitioner(
            user_id=user_id,
            role=role,
            organisation_key=org,
            local_authority=LA,
            trained_on=trained,
            disclosure_issued_on=recent,
        )
    headers = h.user()
    answer = h.http.post(
        "/v1/sessions/current/act-for", json={"practitioner_user_id": target}, headers=headers
    )
    problem = _problem(answer, 403, code)
    assert problem["rule"] == "ACC-6"
    refused = [e for e in _audit(h) if e.action == "mediation_refused"]
    assert len(refused) == 1
    assert refused[0].actor == "user-1"


def test_acc_1_users_enrolled_over_the_control_route(lookup_http: LookupHttp) -> None:
    h = lookup_http
    body = {
        "user_id": "gp-1",
        "username": "dr.patel",
        "password": PASSWORD,
        "pin": PIN,
        "role": "health_practitioner",
        "organisation_key": "ods:L81001",
        "local_authority": LA,
        "trained_on": "2025-06-01",
        "disclosure_issued_on": "2025-06-01",
    }
    created = h.http.post("/v1/_control/users", json=body)
    assert created.status_code == 201
    assert created.json()["provisioning_uri"].startswith("otpauth://totp/ContactPoint:dr.patel?")
    assert PASSWORD not in created.text
    again = h.http.post("/v1/_control/users", json=body)
    _problem(again, 409, "user_exists")
    weak = h.http.post("/v1/_control/users", json={**body, "user_id": "gp-2", "pin": "123456"})
    assert _problem(weak, 400, "pin_invalid")["rule"] == "ACC-1"


def test_the_reference_directory_enrols_users_and_signs_lookup_clients_in() -> None:
    with ReferenceDirectory(start=START) as directory:
        teacher = directory.create_user("t-1", Role.HEAD_TEACHER, local_authority=LA)
        assert "password" not in repr(teacher)
        assert teacher.provisioning_uri.startswith("otpauth://totp/ContactPoint:t-1?")
        with directory.lookup_client(teacher) as client:
            assert client.session is not None
            assert client.session.user_id == "t-1"
            found = client.search(SearchCriteria(upn=make_upn(1)))
            assert len(found) == 0
        with pytest.raises(ConfigurationError, match="replayed"):
            directory.lookup_client(teacher)  # the same 30-second step
        directory.clock.advance(timedelta(seconds=TOTP_PERIOD_SECONDS))
        with directory.lookup_client(teacher) as again:
            assert again.signed_in
        # The reference policy: the default's rules, cheaper hashing.
        assert directory.settings.sign_in_max_failures == FAST.sign_in_max_failures
        assert directory.settings.password_scrypt_log2_n == 12


async def test_the_reference_directory_gives_an_async_lookup_client() -> None:
    with ReferenceDirectory(start=START) as directory:
        team = directory.create_user("team-1", Role.LA_MANAGEMENT_TEAM, local_authority=LA)
        client = directory.async_lookup_client()
        async with client:
            session = await client.sign_in(*team.sign_in_args(directory.clock.now()))
            assert session.role is Role.LA_MANAGEMENT_TEAM
