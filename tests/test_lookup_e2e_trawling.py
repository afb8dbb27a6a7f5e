"""Anti-trawling end to end through HTTP (ACC-4): scripts stopped, alerts raised.

Each script of ``docs/lookup.md`` ("How soon a script is stopped") runs
against the reference directory's HTTP API as a signed-in user, a few
seconds between searches as a script would: it is stopped at the documented
search, the alert reaches the management team of the user's authority (and
no other), the audit records it by identifier and code, and no answer along
the way holds more than it should.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from contactpoint_sdk.models.record import SourceIdentifiers
from contactpoint_sdk.policy.viewer import Role
from contactpoint_sdk.reference_server.audit import MemoryAuditLog
from tests.test_server_http_support import (
    FAST,
    LA,
    LookupHttp,
    Supplier,
    make_upn,
    no_leaked_threads,
    pupil,
)

pytestmark = pytest.mark.usefixtures("no_leaked_threads")
_ = no_leaked_threads

BORN = date(2015, 4, 1)
OTHER_LA = "802"


@pytest.fixture
def h() -> Iterator[LookupHttp]:
    harness = LookupHttp()
    yield harness
    harness.close()


@pytest.fixture
def supplier(h: LookupHttp) -> Supplier:
    """A registered school that supplies pupils (all "Hartley", born 2015-04-01)."""
    source = Supplier(h.directory, supplier_id="school-8012001")
    source.register()
    return source


def supply(h: LookupHttp, source: Supplier, *children: Any) -> None:
    receipt = h.directory.ingest(source.seal(source.batch(*children)))
    assert {o.status.value for o in receipt.outcomes} == {"accepted"}, receipt


def _alerts(h: LookupHttp, headers: dict[str, str]) -> list[dict[str, Any]]:
    answer = h.http.get("/v1/management/alerts", headers=headers)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def _run(
    h: LookupHttp, headers: dict[str, str], searches: list[dict[str, Any]], *, every: float = 7
) -> list[httpx.Response]:
    """Run a script: each search ``every`` seconds; every answer."""
    answers = []
    for criteria in searches:
        answers.append(h.http.post("/v1/search", json=criteria, headers=headers))
        h.advance(seconds=every)
    return answers


def _stopped_at(answers: list[httpx.Response]) -> int:
    """The 1-based number of the first search refused with a 429."""
    return next(i for i, a in enumerate(answers, 1) if a.status_code == 429)


def _check_stopped(
    h: LookupHttp, answers: list[httpx.Response], *, at: int, code: str, pattern: str
) -> None:
    assert _stopped_at(answers) == at, [a.status_code for a in answers]
    assert all(a.status_code in (200, 429) for a in answers)
    refused = answers[at - 1]
    assert refused.json()["code"] == code
    assert refused.json()["rule"] == "ACC-4"
    assert int(refused.headers["Retry-After"]) >= 1
    assert all(a.status_code == 429 for a in answers[at - 1 :])
    team = h.user(Role.LA_MANAGEMENT_TEAM, user="team-801")
    (alert,) = _alerts(h, team)
    assert (alert["user_id"], alert["pattern"], alert["local_authority"]) == (
        "script-1",
        pattern,
        LA,
    )
    assert alert["count"] >= alert["threshold"]
    elsewhere = h.user(Role.LA_MANAGEMENT_TEAM, user="team-802", la=OTHER_LA)
    assert _alerts(h, elsewhere) == []
    log = h.directory.audit
    assert isinstance(log, MemoryAuditLog)
    audited = [e for e in log.events() if e.action == "trawling_alert"]
    assert [(e.actor, e.code, e.rule) for e in audited] == [("script-1", pattern, "ACC-4")]
    refusals = [e.code for e in log.events() if e.action == "search_refused"]
    assert code in refusals


def test_acc_4_surnames_sharing_a_prefix_stopped_at_the_7th_search(h: LookupHttp) -> None:
    script = h.user(user="script-1")
    names = ["Smith", "Smithe", "Smithson", "Smithers", "Smithies", "Smithy", "Smithley", "Smitz"]
    searches = [
        {"family_name": name, "date_of_birth": f"{2010 + i}-0{1 + i % 9}-1{i}"}
        for i, name in enumerate(names)
    ]
    answers = _run(h, script, searches)
    _check_stopped(h, answers, at=7, code="search_blocked", pattern="name_sweep")
    assert int(answers[6].headers["Retry-After"]) == FAST.trawling_block_minutes * 60 - 7


def test_acc_4_one_surname_over_consecutive_dates_stopped_at_the_7th(h: LookupHttp) -> None:
    script = h.user(user="script-1")
    searches = [
        {"family_name": "Hartley", "date_of_birth": (BORN + timedelta(days=i)).isoformat()}
        for i in range(9)
    ]
    _check_stopped(
        h, _run(h, script, searches), at=7, code="search_blocked", pattern="date_of_birth_sweep"
    )


def test_acc_4_different_surnames_over_consecutive_dates_stopped_at_the_7th(
    h: LookupHttp,
) -> None:
    script = h.user(user="script-1")
    names = ["Adams", "Brown", "Clarke", "Davies", "Evans", "Fisher", "Green", "Hughes"]
    searches = [
        {"family_name": name, "date_of_birth": (date(2016, 2, 27) + timedelta(days=i)).isoformat()}
        for i, name in enumerate(names)
    ]
    _check_stopped(
        h, _run(h, script, searches), at=7, code="search_blocked", pattern="date_of_birth_sweep"
    )


def test_acc_4_one_name_over_incrementing_postcodes_stopped_at_the_7th(h: LookupHttp) -> None:
    script = h.user(user="script-1")
    postcodes = ["BS1 4DA", "BS1 4DB", "BS1 4DD", "BS1 4DE", "BS1 4DF", "BS1 4DG", "BS1 4DH"]
    searches = [
        {"family_name": "Hartley", "given_name": "Amelia", "postcode": p} for p in postcodes
    ]
    _check_stopped(
        h, _run(h, script, searches), at=7, code="search_blocked", pattern="postcode_sweep"
    )


def test_acc_4_many_surnames_at_one_postcode_stopped_at_the_7th(h: LookupHttp) -> None:
    script = h.user(user="script-1")
    names = ["Adams", "Brown", "Clarke", "Davies", "Evans", "Fisher", "Green"]
    searches = [{"family_name": name, "given_name": "Sam", "postcode": "BS1 4DJ"} for name in names]
    _check_stopped(
        h, _run(h, script, searches), at=7, code="search_blocked", pattern="postcode_sweep"
    )


def test_acc_4_guessed_identifiers_stopped_at_the_11th_search(h: LookupHttp) -> None:
    script = h.user(user="script-1")
    searches = [{"upn": str(make_upn(500 + i))} for i in range(12)]
    answers = _run(h, script, searches, every=10)
    assert all(a.json() == {"candidates": [], "shielded_candidates": []} for a in answers[:10])
    _check_stopped(h, answers, at=11, code="search_blocked", pattern="failed_search_burst")


def test_acc_4_any_script_faster_than_10_a_minute_is_rate_limited_at_the_11th(
    h: LookupHttp, supplier: Supplier
) -> None:
    supply(h, supplier, *(pupil(i) for i in range(1, 13)))
    script = h.user(user="script-1")
    searches = [{"upn": str(make_upn(i))} for i in range(1, 13)]
    answers = _run(h, script, searches, every=2)
    assert all(len(a.json()["candidates"]) == 1 for a in answers[:10])
    assert _stopped_at(answers) == 11
    limited = answers[10]
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # A refused search does not count, and the window slides: a minute on, it searches again.
    h.advance(seconds=60)
    again = h.http.post("/v1/search", json=searches[0], headers=script)
    assert again.status_code == 200
    team = h.user(Role.LA_MANAGEMENT_TEAM, user="team-801")
    assert _alerts(h, team) == []  # a rate limit alone is no alert


def test_acc_4_a_block_ends_after_its_time(h: LookupHttp, supplier: Supplier) -> None:
    supply(h, supplier, pupil(1))
    script = h.user(user="script-1")
    searches = [
        {"family_name": "Hartley", "date_of_birth": (BORN + timedelta(days=i)).isoformat()}
        for i in range(7)
    ]
    assert _stopped_at(_run(h, script, searches)) == 7
    h.advance(minutes=FAST.trawling_block_minutes)
    headers = h.user(user="script-2")  # the first user's session has gone idle: a fresh one
    assert h.http.post("/v1/search", json=searches[0], headers=headers).status_code == 200


def test_acc_4_too_many_matches_show_nothing(h: LookupHttp, supplier: Supplier) -> None:
    supply(h, supplier, *(pupil(i) for i in range(1, 7)))
    headers = h.user()
    answer = h.http.post(
        "/v1/search",
        json={"family_name": "Hartley", "date_of_birth": BORN.isoformat()},
        headers=headers,
    )
    assert answer.status_code == 422
    assert answer.json()["code"] == "refine_search"
    assert "Hartley" not in answer.text
    assert "6" not in answer.json()["detail"]  # not even how many matched
    narrowed = h.http.post(
        "/v1/search",
        json={"family_name": "Hartley", "given_name": "Olivia", "date_of_birth": BORN.isoformat()},
        headers=headers,
    )
    assert narrowed.status_code == 200
    (candidate,) = narrowed.json()["candidates"]
    assert set(candidate) == {
        "directory_id",
        "given_name",
        "family_name",
        "date_of_birth",
        "gender",
        "postcode_district",
    }
    assert candidate["postcode_district"] == "BS1"


def test_acc_4_search_needs_enough_detail(h: LookupHttp) -> None:
    headers = h.user()
    for criteria in (
        {},
        {"family_name": "Hartley"},
        {"family_name": "Hartley", "gender": "F"},
        {"family_name": "Hart*", "date_of_birth": BORN.isoformat()},
        {"family_name": "H", "date_of_birth": BORN.isoformat()},
        {"family_name": "Hartley", "given_name": "Amelia"},
    ):
        answer = h.http.post("/v1/search", json=criteria, headers=headers)
        assert answer.status_code == 400, criteria
        assert answer.json()["code"] == "search_too_broad"


def test_shld_1_a_shielded_child_is_left_out_of_a_postcode_search(
    h: LookupHttp, supplier: Supplier
) -> None:
    supply(h, supplier, pupil(1))
    teacher = h.user(user="teacher-1")
    by_postcode = {"family_name": "Hartley", "given_name": "Olivia", "postcode": "BS1 4DJ"}
    found = h.http.post("/v1/search", json=by_postcode, headers=teacher).json()
    (candidate,) = found["candidates"]
    social = h.user(Role.SOCIAL_CARE_PRACTITIONER, user="sw-1")
    shield = h.http.post(
        f"/v1/records/{candidate['directory_id']}/shield",
        json={"ground": "risk_of_harm_to_child"},
        headers=social,
    )
    assert shield.status_code == 204
    hidden = h.http.post("/v1/search", json=by_postcode, headers=teacher).json()
    assert hidden == {"candidates": [], "shielded_candidates": []}
    by_birth = {"family_name": "Hartley", "date_of_birth": BORN.isoformat()}
    shown = h.http.post("/v1/search", json=by_birth, headers=teacher).json()
    assert shown["candidates"] == []
    assert [c["directory_id"] for c in shown["shielded_candidates"]] == [candidate["directory_id"]]
    team = h.user(Role.LA_MANAGEMENT_TEAM, user="team-801")
    own = h.http.post("/v1/search", json=by_postcode, headers=team).json()
    assert [c["directory_id"] for c in own["candidates"]] == [candidate["directory_id"]]


def test_acc_4_opens_without_follow_up_and_same_reason_alerts(
    h: LookupHttp, supplier: Supplier
) -> None:
    supply(h, supplier, *(pupil(i) for i in range(1, 12)))
    headers = h.user(user="script-1")
    ids = []
    for i in range(1, 12):
        found = h.http.post("/v1/search", json={"upn": str(make_upn(i))}, headers=headers)
        ids.append(found.json()["candidates"][0]["directory_id"])
        h.advance(seconds=7)
    # Eleven records opened and left within seconds, nothing done on any.
    for directory_id in ids:
        opened = h.http.post(
            f"/v1/records/{directory_id}/open", json={"reason": "assessment"}, headers=headers
        )
        assert opened.status_code == 200
        h.advance(seconds=2)
    team = h.user(Role.LA_MANAGEMENT_TEAM, user="team-801")
    patterns = [a["pattern"] for a in _alerts(h, team)]
    assert patterns == ["opens_without_follow_up"]
    # A follow-up (a broker request, a shield request) is not a glance.
    log = h.directory.audit
    assert isinstance(log, MemoryAuditLog)
    assert [e.code for e in log.events() if e.action == "trawling_alert"] == patterns


def test_acc_4_the_alerts_route_is_for_the_management_team_only(h: LookupHttp) -> None:
    teacher = h.user()
    refused = h.http.get("/v1/management/alerts", headers=teacher)
    assert refused.status_code == 403
    assert refused.json()["code"] == "management_team_only"


def _ids(h: LookupHttp, count: int) -> list[str]:
    found = [
        h.directory.find_by_identifier(SourceIdentifiers(upn=make_upn(i)))
        for i in range(1, count + 1)
    ]
    assert all(found)
    return [str(d) for d in found]


def test_acc_4_a_follow_up_is_not_a_glance(h: LookupHttp, supplier: Supplier) -> None:
    supply(h, supplier, *(pupil(i, sensitive=True) for i in range(1, 12)))
    headers = h.user(Role.SOCIAL_CARE_PRACTITIONER, user="sw-1")
    for directory_id in _ids(h, 11):
        opened = h.http.post(
            f"/v1/records/{directory_id}/open", json={"reason": "referral"}, headers=headers
        )
        assert opened.json()["unspecified_services"] == [{"ordinal": 1}]
        h.advance(seconds=1)
        broker = h.http.post(
            f"/v1/records/{directory_id}/broker", json={"ordinal": 1}, headers=headers
        )
        assert broker.status_code == 201
        h.advance(seconds=1)
    team = h.user(Role.LA_MANAGEMENT_TEAM, user="team-801")
    assert _alerts(h, team) == []


def test_acc_4_many_opens_with_one_reason_alert(h: LookupHttp, supplier: Supplier) -> None:
    supply(h, supplier, *(pupil(i) for i in range(1, 31)))
    user = h.enrol(user="intake-1")
    headers = h.sign_in(user)
    for n, directory_id in enumerate(_ids(h, 30), 1):
        if n % 12 == 0:  # a long task: sign in again before the session goes idle
            h.advance(seconds=30)
            headers = h.sign_in(user)
        opened = h.http.post(
            f"/v1/records/{directory_id}/open", json={"reason": "new_to_service"}, headers=headers
        )
        assert opened.status_code == 200
        h.advance(seconds=60)
    team = h.user(Role.LA_MANAGEMENT_TEAM, user="team-801")
    (alert,) = _alerts(h, team)
    assert (alert["pattern"], alert["detail"], alert["count"]) == (
        "same_reason_opens",
        "new_to_service",
        FAST.alert_same_reason_opens,
    )


def test_acc_4_opens_far_outside_the_users_area_alert(h: LookupHttp, supplier: Supplier) -> None:
    supply(h, supplier, *(pupil(i) for i in range(1, 11)))
    user = h.enrol(user="far-1", la=OTHER_LA)
    headers = h.sign_in(user)
    reasons = [
        "assessment",
        "referral",
        "child_protection",
        "new_to_service",
        "multi_agency_meeting",
    ]
    for n, directory_id in enumerate(_ids(h, 10)):
        opened = h.http.post(
            f"/v1/records/{directory_id}/open", json={"reason": reasons[n % 5]}, headers=headers
        )
        assert opened.status_code == 200
        h.advance(seconds=60)
    assert _alerts(h, h.user(Role.LA_MANAGEMENT_TEAM, user="team-801")) == []
    (alert,) = _alerts(h, h.user(Role.LA_MANAGEMENT_TEAM, user="team-802", la=OTHER_LA))
    assert (alert["user_id"], alert["pattern"]) == ("far-1", "out_of_area_opens")
