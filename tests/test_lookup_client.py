"""LookupClient and AsyncLookupClient against a mocked directory (ACC-1, ACC-3, ACC-4, ACC-6).

Every HTTP fault and every typed error goes through respx: the router sits
behind the client's transport seam (``httpx.MockTransport(router.handler)``).
The views the mock directory answers with are made by the SDK's own policy
(:func:`contactpoint_sdk.policy.redaction.view`) and encoded by its own codec,
so a passing test proves the client decodes what the directory sends.

Each scenario runs for both clients (the ``mode`` fixture).
"""

from __future__ import annotations

import gc
import inspect
import json
import logging
import sys
import types
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import attrs
import httpx
import pytest
import respx

from contactpoint_sdk._http import SIGN_IN_NOT_DISCLOSED, lookup_refusal, problem_document
from contactpoint_sdk.clock import FixedClock
from contactpoint_sdk.errors import (
    ApiError,
    BadRequest,
    ConfigurationError,
    ContactPointError,
    MediationRefused,
    NotEligible,
    NotPermitted,
    RateLimited,
    ReasonInvalid,
    ReasonRequired,
    RecordNotFound,
    RefineSearch,
    ResponseInvalid,
    SearchBlocked,
    SearchRateLimited,
    SearchTooBroad,
    ServerError,
    SessionExpired,
    SessionInvalid,
    SignInFailed,
    TransportFailure,
    ValidationError,
)
from contactpoint_sdk.lookup import (
    ACT_FOR_PATH,
    CURRENT_SESSION_PATH,
    DEFAULT_TIMEOUT,
    SEARCH_PATH,
    SESSIONS_PATH,
    AsyncLookupClient,
    BrokerTicket,
    BrokerTicketStatus,
    LookupClient,
    LookupSession,
)
from contactpoint_sdk.models import Postcode, ShieldGround
from contactpoint_sdk.models.codec import default_codec
from contactpoint_sdk.models.views import (
    ChildView,
    FullRecordView,
    SearchCandidate,
    SearchResult,
    ShieldedChildView,
    ShieldedSearchCandidate,
    UnspecifiedServiceView,
)
from contactpoint_sdk.policy.reasons import ReasonCode
from contactpoint_sdk.policy.redaction import view
from contactpoint_sdk.policy.trawling import SearchCriteria
from contactpoint_sdk.policy.viewer import Purpose, Role, Viewer
from contactpoint_sdk.supply.retry import RetryPolicy
from tests import _builders as b

Mode = Literal["sync", "async"]
AnyClient = LookupClient | AsyncLookupClient

BASE = "https://directory.test"
NOW = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
CLOCK = FixedClock(NOW)

USERNAME = "jo.bloggs"
PASSWORD = "Correct-Horse-Battery-9"
PIN = "482915"
TOTP_CODE = "731904"
SESSION_TOKEN = "sEsSiOn-ToKeN-0123456789-abcdefghijklmnop"
SECRETS = (PASSWORD, PIN, TOTP_CODE, SESSION_TOKEN)

HEAD_TEACHER = Viewer(
    user_id="user-1", role=Role.HEAD_TEACHER, organisation_key="urn:100001", local_authority="202"
)
MANAGEMENT = Viewer(
    user_id="la-1", role=Role.LA_MANAGEMENT_TEAM, organisation_key="la:202", local_authority="202"
)
REVIEWER = Viewer(
    user_id="rev-1",
    role=Role.ARCHIVE_REVIEWER,
    organisation_key="lscb:202",
    local_authority="202",
    purpose=Purpose.ARCHIVE_REVIEW,
)

SENSITIVE = b.record(involvements=(b.involvement(consent=b.consent()),))
SHIELDED = b.record(shield=b.shield())
CHILD_ID = SENSITIVE.directory_id
OPEN_PATH = f"/v1/records/{CHILD_ID.value}/open"
SHIELD_PATH = f"/v1/records/{CHILD_ID.value}/shield"
BROKER_PATH = f"/v1/records/{CHILD_ID.value}/broker"
ARCHIVE_PATH = f"/v1/archive/{CHILD_ID.value}/open"
CRITERIA = SearchCriteria(family_name="Taylor", given_name="Sam", postcode=Postcode("LS1 4AP"))


# --- the mock directory ------------------------------------------------------------------


def session_body(
    *, token: str | None = SESSION_TOKEN, acting_for: str | None = None, **changes: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "user_id": "user-1",
        "role": "head_teacher",
        "local_authority": "202",
        "acting_for": acting_for,
        "idle_expires_at": (NOW + timedelta(minutes=15)).isoformat(),
        "expires_at": (NOW + timedelta(hours=8)).isoformat(),
    }
    if token is not None:
        body["session_token"] = token
    body.update(changes)
    return body


def view_body(record: Any = SENSITIVE, viewer: Viewer = HEAD_TEACHER) -> Any:
    return default_codec.encode(view(record, viewer, NOW))


def search_body() -> dict[str, Any]:
    return {
        "candidates": [
            {
                "directory_id": CHILD_ID.value,
                "given_name": "Sam",
                "family_name": "Taylor",
                "date_of_birth": "2010-06-15",
                "gender": "U",
                "postcode_district": "LS1",
            }
        ],
        "shielded_candidates": [
            {
                "directory_id": b.directory_id(2).value,
                "given_name": "Sam",
                "family_name": "Taylor",
                "date_of_birth": "2010-06-16",
            }
        ],
    }


def broker_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "request_id": "brk-1",
        "directory_id": CHILD_ID.value,
        "ordinal": 1,
        "requested_by": "user-1",
        "requested_at": NOW.isoformat(),
        "local_authority": "202",
        "status": "open",
    }
    body.update(changes)
    return body


def ok(status: int = 200, body: Any = None, request_id: str = "srv-ok") -> httpx.Response:
    if body is None:
        return httpx.Response(status, headers={"X-Request-ID": request_id})
    return httpx.Response(status, json=body, headers={"X-Request-ID": request_id})


def problem(
    status: int,
    code: str,
    *,
    rule: str | None = None,
    request_id: str = "srv-err-1",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> httpx.Response:
    body: dict[str, Any] = {
        "type": f"https://contactpoint.invalid/problems/{code}",
        "title": "Refused",
        "status": status,
        "detail": f"refused: {code}",
        "code": code,
        "rule": rule,
        "request_id": request_id,
        **extra,
    }
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/problem+json",
            "X-Request-ID": request_id,
            **(headers or {}),
        },
    )


Step = httpx.Response | Exception | type[Exception]


class Steps:
    """Answers one route's requests in turn; the last step repeats."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, httpx.Response):
            return step
        if isinstance(step, Exception):
            raise step
        raise step("simulated", request=request)  # type: ignore[call-arg]

    @property
    def count(self) -> int:
        return len(self.requests)

    def json(self, n: int = -1) -> Any:
        return json.loads(self.requests[n].content)


class TrackingTransport(httpx.MockTransport):
    """A mock transport that remembers being closed."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        super().__init__(handler)
        self.closed = False

    def close(self) -> None:
        self.closed = True
        super().close()

    async def aclose(self) -> None:
        self.closed = True
        await super().aclose()


class Waits:
    """Records the retry policy's waits instead of sleeping."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.seconds.append(seconds)

    async def async_sleep(self, seconds: float) -> None:
        self.seconds.append(seconds)

    def policy(self, **settings: Any) -> RetryPolicy:
        settings.setdefault("jitter", 0.0)
        settings.setdefault("max_attempts", 3)
        return RetryPolicy(sleep=self.sleep, async_sleep=self.async_sleep, **settings)


class Directory:
    """A respx router answering every look-up route, each with its own steps."""

    def __init__(self) -> None:
        self.router = respx.Router(base_url=BASE, assert_all_called=False)
        self.sign_in = Steps(ok(201, session_body(), "srv-signin"))
        self.current = Steps(ok(200, session_body(token=None)))
        self.sign_out = Steps(ok(204))
        self.act_for = Steps(ok(200, session_body(token=None, acting_for="prac-1")))
        self.stop_acting = Steps(ok(200, session_body(token=None)))
        self.search = Steps(ok(200, search_body()))
        self.open = Steps(ok(200, view_body()))
        self.shield = Steps(ok(204))
        self.broker = Steps(ok(201, broker_body()))
        self.archive = Steps(ok(200, view_body(viewer=REVIEWER)))
        r = self.router
        r.post(SESSIONS_PATH).mock(side_effect=self.sign_in)
        r.get(CURRENT_SESSION_PATH).mock(side_effect=self.current)
        r.delete(CURRENT_SESSION_PATH).mock(side_effect=self.sign_out)
        r.post(ACT_FOR_PATH).mock(side_effect=self.act_for)
        r.delete(ACT_FOR_PATH).mock(side_effect=self.stop_acting)
        r.post(SEARCH_PATH).mock(side_effect=self.search)
        r.post(OPEN_PATH).mock(side_effect=self.open)
        r.post(SHIELD_PATH).mock(side_effect=self.shield)
        r.post(BROKER_PATH).mock(side_effect=self.broker)
        r.post(ARCHIVE_PATH).mock(side_effect=self.archive)
        self.transport = TrackingTransport(self.router.handler)
        self.waits = Waits()

    @property
    def all_requests(self) -> list[httpx.Request]:
        return [call.request for call in self.router.calls]

    def client(self, mode: Mode, **settings: Any) -> AnyClient:
        settings.setdefault("retry", self.waits.policy())
        settings.setdefault("transport", self.transport)
        common: dict[str, Any] = {"base_url": BASE, "clock": CLOCK, **settings}
        if mode == "sync":
            return LookupClient(**common)
        return AsyncLookupClient(**common)


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> Mode:
    value: Mode = request.param
    return value


async def call(client: AnyClient, method: str, *args: Any, **kwargs: Any) -> Any:
    """``client.method(...)``, awaited for the async client."""
    result = getattr(client, method)(*args, **kwargs)
    if inspect.isawaitable(result):
        return await result
    return result


async def signed_in(directory: Directory, mode: Mode, **settings: Any) -> AnyClient:
    client = directory.client(mode, **settings)
    await call(client, "sign_in", USERNAME, PASSWORD, PIN, TOTP_CODE)
    return client


# --- sign-in and sessions (ACC-1) --------------------------------------------------------


async def test_acc_1_sign_in_sends_four_credentials_and_keeps_the_session(mode: Mode) -> None:
    directory = Directory()
    client = directory.client(mode)
    session = await call(client, "sign_in", USERNAME, PASSWORD, PIN, TOTP_CODE)

    assert isinstance(session, LookupSession)
    assert session.user_id == "user-1"
    assert session.role is Role.HEAD_TEACHER
    assert session.local_authority == "202"
    assert session.acting_for is None
    assert not session.mediated
    assert session.expires_at == NOW + timedelta(hours=8)
    assert not session.ended_by(NOW)
    assert session.ended_by(NOW + timedelta(minutes=15))
    assert client.session == session
    assert client.signed_in

    request = directory.sign_in.requests[0]
    assert request.method == "POST"
    assert directory.sign_in.json() == {
        "username": USERNAME,
        "password": PASSWORD,
        "pin": PIN,
        "token": TOTP_CODE,
    }
    assert "authorization" not in request.headers
    assert request.headers["content-type"] == "application/json"
    # The token is nowhere but in the client's memory.
    assert not hasattr(session, "session_token")
    assert SESSION_TOKEN not in repr(session)
    assert SESSION_TOKEN not in repr(client)

    await call(client, "search", CRITERIA)
    assert directory.search.requests[0].headers["authorization"] == f"Bearer {SESSION_TOKEN}"


@pytest.mark.parametrize("missing", range(4))
@pytest.mark.parametrize("blank", ["", "   ", None])
async def test_acc_1_missing_credential_refused_before_anything_is_sent(
    mode: Mode, missing: int, blank: str | None
) -> None:
    directory = Directory()
    client = directory.client(mode)
    credentials: list[Any] = [USERNAME, PASSWORD, PIN, TOTP_CODE]
    credentials[missing] = blank
    with pytest.raises(SignInFailed) as caught:
        await call(client, "sign_in", *credentials)
    assert caught.value.code == "sign_in_failed"
    assert caught.value.rule == "ACC-1"
    assert str(caught.value) == str(SignInFailed(audit_code="x"))  # the one message
    assert directory.all_requests == []
    assert not client.signed_in


async def test_acc_1_sign_in_refused_is_sign_in_failed_and_never_retried(mode: Mode) -> None:
    directory = Directory()
    directory.sign_in.steps = [problem(401, "sign_in_failed", rule="ACC-1", request_id="srv-41")]
    client = directory.client(mode)
    with pytest.raises(SignInFailed) as caught:
        await call(client, "sign_in", USERNAME, PASSWORD, PIN, TOTP_CODE)
    error = caught.value
    assert error.request_id == "srv-41"
    assert error.audit_code == SIGN_IN_NOT_DISCLOSED
    assert isinstance(error.__cause__, ApiError)
    assert error.__cause__.status == 401
    assert directory.sign_in.count == 1
    assert directory.waits.seconds == []
    assert not client.signed_in


@pytest.mark.parametrize(
    "step",
    [
        problem(503, "unavailable", headers={"Retry-After": "1"}),
        problem(429, "rate_limited", headers={"Retry-After": "1"}),
        httpx.ConnectError,
        httpx.ReadTimeout,
    ],
    ids=["503", "429", "connect", "read-timeout"],
)
async def test_acc_1_sign_in_is_never_retried_whatever_the_failure(mode: Mode, step: Step) -> None:
    """Every attempt counts towards the lock-out: the client sends sign-in once."""
    directory = Directory()
    directory.sign_in.steps = [step, ok(201, session_body())]
    client = directory.client(mode)
    with pytest.raises((ServerError, RateLimited, TransportFailure)):
        await call(client, "sign_in", USERNAME, PASSWORD, PIN, TOTP_CODE)
    assert directory.sign_in.count == 1
    assert directory.waits.seconds == []


@pytest.mark.parametrize(
    "code", ["disclosure_lapsed", "training_lapsed", "not_nominated", "suspended"]
)
async def test_acc_1_ineligible_account_told_why(mode: Mode, code: str) -> None:
    directory = Directory()
    directory.sign_in.steps = [
        problem(403, code, rule="ACC-1", request_id="srv-43", detail="the disclosure has lapsed")
    ]
    client = directory.client(mode)
    with pytest.raises(NotEligible) as caught:
        await call(client, "sign_in", USERNAME, PASSWORD, PIN, TOTP_CODE)
    assert caught.value.code == code
    assert caught.value.rule == "ACC-1"
    assert caught.value.request_id == "srv-43"
    assert directory.sign_in.count == 1


@pytest.mark.parametrize(
    "answer",
    [
        ok(201, session_body(token=None)),
        ok(201, session_body(token="")),
        ok(201, session_body(token="bad token\n")),
        ok(201, session_body(secret_member="x")),
        ok(201, session_body(role="wizard")),
        ok(201, session_body(expires_at="tomorrow")),
        ok(201, [1, 2]),
        httpx.Response(201, content=b"<html>", headers={"Content-Type": "text/html"}),
        httpx.Response(201, content=b"{", headers={"Content-Type": "application/json"}),
    ],
    ids=[
        "no-token",
        "empty-token",
        "header-unsafe-token",
        "unknown-member",
        "unknown-role",
        "bad-datetime",
        "not-an-object",
        "html",
        "broken-json",
    ],
)
async def test_acc_1_unusable_sign_in_answer_refused(mode: Mode, answer: httpx.Response) -> None:
    directory = Directory()
    directory.sign_in.steps = [answer]
    client = directory.client(mode)
    with pytest.raises(ResponseInvalid) as caught:
        await call(client, "sign_in", USERNAME, PASSWORD, PIN, TOTP_CODE)
    assert caught.value.request_id is not None
    assert not client.signed_in


async def test_acc_1_second_sign_in_refused_until_signed_out(mode: Mode) -> None:
    directory = Directory()
    client = await signed_in(directory, mode)
    with pytest.raises(ConfigurationError) as caught:
        await call(client, "sign_in", USERNAME, PASSWORD, PIN, TOTP_CODE)
    assert caught.value.code == "already_signed_in"
    assert directory.sign_in.count == 1
    await call(client, "sign_out")
    await call(client, "sign_in", USERNAME, PASSWORD, PIN, TOTP_CODE)
    assert directory.sign_in.count == 2


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("current_session", ()),
        ("search", (CRITERIA,)),
        ("open", (CHILD_ID, ReasonCode.ASSESSMENT)),
        ("request_shield", (CHILD_ID, ShieldGround.RISK_OF_HARM_TO_CHILD)),
        ("request_broker", (CHILD_ID, 1)),
        ("act_for", ("prac-1",)),
        ("stop_acting", ()),
        ("read_archive", (CHILD_ID, ReasonCode.SERIOUS_CASE_REVIEW)),
    ],
)
async def test_acc_1_nothing_is_sent_without_a_session(
    mode: Mode, method: str, args: tuple[Any, ...]
) -> None:
    directory = Directory()
    client = directory.client(mode)
    with pytest.raises(SessionInvalid):
        await call(client, method, *args)
    assert directory.all_requests == []


async def test_acc_1_current_session_refreshes_what_the_client_knows(mode: Mode) -> None:
    directory = Directory()
    later = (NOW + timedelta(minutes=20)).isoformat()
    directory.current.steps = [ok(200, session_body(token=None, idle_expires_at=later))]
    client = await signed_in(directory, mode)
    session = await call(client, "current_session")
    assert session.idle_expires_at == NOW + timedelta(minutes=20)
    assert client.session == session
    assert directory.current.requests[0].headers["authorization"] == f"Bearer {SESSION_TOKEN}"


@pytest.mark.parametrize(
    ("answer", "kind", "reason"),
    [
        (problem(401, "session_expired", rule="ACC-1", reason="idle"), SessionExpired, "idle"),
        (
            problem(401, "session_expired", rule="ACC-1", reason="absolute"),
            SessionExpired,
            "absolute",
        ),
        (problem(401, "session_invalid", rule="ACC-1"), SessionInvalid, None),
    ],
)
async def test_acc_1_ended_session_is_typed_and_forgotten(
    mode: Mode, answer: httpx.Response, kind: type[SessionInvalid], reason: str | None
) -> None:
    directory = Directory()
    directory.search.steps = [answer]
    client = await signed_in(directory, mode)
    with pytest.raises(kind) as caught:
        await call(client, "search", CRITERIA)
    assert type(caught.value) is kind
    assert caught.value.request_id == "srv-err-1"
    if reason is not None:
        assert isinstance(caught.value, SessionExpired)
        assert caught.value.reason == reason
    assert directory.search.count == 1  # a 4xx is never retried
    assert not client.signed_in
    assert client.session is None
    with pytest.raises(SessionInvalid):  # refused locally now
        await call(client, "search", CRITERIA)
    assert directory.search.count == 1


async def test_acc_1_sign_out_ends_the_session_and_forgets_it(mode: Mode) -> None:
    directory = Directory()
    client = await signed_in(directory, mode)
    await call(client, "sign_out")
    assert directory.sign_out.count == 1
    assert directory.sign_out.requests[0].headers["authorization"] == f"Bearer {SESSION_TOKEN}"
    assert not client.signed_in
    assert client.session is None
    await call(client, "sign_out")  # nothing to do: nothing sent
    assert directory.sign_out.count == 1


@pytest.mark.parametrize("code", ["session_invalid", "session_expired"])
async def test_acc_1_sign_out_of_an_ended_session_is_done(mode: Mode, code: str) -> None:
    directory = Directory()
    directory.sign_out.steps = [problem(401, code, rule="ACC-1")]
    client = await signed_in(directory, mode)
    await call(client, "sign_out")
    assert not client.signed_in


async def test_acc_1_sign_out_retried_then_forgets_even_when_unreachable(mode: Mode) -> None:
    directory = Directory()
    directory.sign_out.steps = [httpx.ConnectError]
    client = await signed_in(directory, mode)
    with pytest.raises(TransportFailure) as caught:
        await call(client, "sign_out")
    assert caught.value.attempts == 3
    assert directory.sign_out.count == 3
    assert not client.signed_in


async def test_acc_1_sign_out_retry_after_it_took_effect_counts_as_done(mode: Mode) -> None:
    directory = Directory()
    directory.sign_out.steps = [httpx.ReadTimeout, problem(401, "session_invalid", rule="ACC-1")]
    client = await signed_in(directory, mode)
    await call(client, "sign_out")
    assert directory.sign_out.count == 2
    assert not client.signed_in


# --- mediated access (ACC-6) -------------------------------------------------------------


async def test_acc_6_act_for_and_stop(mode: Mode) -> None:
    directory = Directory()
    client = await signed_in(directory, mode)
    session = await call(client, "act_for", "prac-1")
    assert directory.act_for.json() == {"practitioner_user_id": "prac-1"}
    assert session.acting_for == "prac-1"
    assert session.mediated
    assert client.session == session
    assert client.signed_in  # the token is kept when the answer carries none
    session = await call(client, "stop_acting")
    assert session.acting_for is None
    assert directory.stop_acting.requests[0].method == "DELETE"
    assert directory.stop_acting.requests[0].headers["authorization"] == f"Bearer {SESSION_TOKEN}"


async def test_acc_6_a_new_session_token_in_an_answer_replaces_the_old(mode: Mode) -> None:
    directory = Directory()
    directory.act_for.steps = [ok(200, session_body(token="rotated-token", acting_for="prac-1"))]
    client = await signed_in(directory, mode)
    await call(client, "act_for", "prac-1")
    await call(client, "search", CRITERIA)
    assert directory.search.requests[0].headers["authorization"] == "Bearer rotated-token"


@pytest.mark.parametrize(
    ("answer", "reason_code"),
    [
        (problem(403, "mediation_not_allowed", rule="ACC-6"), None),
        (
            problem(
                403,
                "practitioner_not_eligible",
                rule="ACC-6",
                reason_code="disclosure_lapsed",
            ),
            "disclosure_lapsed",
        ),
    ],
)
async def test_acc_6_mediation_refused(
    mode: Mode, answer: httpx.Response, reason_code: str | None
) -> None:
    directory = Directory()
    directory.act_for.steps = [answer]
    client = await signed_in(directory, mode)
    with pytest.raises(MediationRefused) as caught:
        await call(client, "act_for", "prac-1")
    assert caught.value.rule == "ACC-6"
    assert caught.value.reason_code == reason_code
    assert caught.value.request_id == "srv-err-1"
    assert client.session is not None
    assert client.session.acting_for is None


@pytest.mark.parametrize("who", ["", "  ", None, 7])
async def test_acc_6_practitioner_must_be_named(mode: Mode, who: Any) -> None:
    directory = Directory()
    client = await signed_in(directory, mode)
    with pytest.raises(ValidationError):
        await call(client, "act_for", who)
    assert directory.act_for.count == 0


# --- search (ACC-4) -------------------------------------------------------------------------


async def test_acc_4_search_sends_the_criteria_and_decodes_the_result(mode: Mode) -> None:
    directory = Directory()
    client = await signed_in(directory, mode)
    result = await call(client, "search", CRITERIA)
    assert directory.search.json() == {
        "family_name": "Taylor",
        "given_name": "Sam",
        "postcode": "LS1 4AP",
    }
    assert isinstance(result, SearchResult)
    (candidate,) = result.candidates
    assert isinstance(candidate, SearchCandidate)
    assert candidate.directory_id == CHILD_ID
    assert candidate.postcode_district == "LS1"
    (shielded,) = result.shielded_candidates
    assert isinstance(shielded, ShieldedSearchCandidate)
    assert len(result) == 2


async def test_acc_4_search_takes_criteria_only(mode: Mode) -> None:
    directory = Directory()
    client = await signed_in(directory, mode)
    with pytest.raises(TypeError):
        await call(client, "search", {"family_name": "Taylor"})
    assert directory.search.count == 0


@pytest.mark.parametrize(
    ("answer", "kind", "check"),
    [
        (
            problem(400, "search_too_broad", rule="ACC-4"),
            SearchTooBroad,
            lambda e: e.code == "search_too_broad",
        ),
        (
            problem(422, "refine_search", rule="ACC-4", limit=5),
            RefineSearch,
            lambda e: e.limit == 5,
        ),
        (
            problem(422, "refine_search", rule="ACC-4"),
            RefineSearch,
            lambda e: e.limit == 5,
        ),
        (
            problem(429, "search_blocked", rule="ACC-4", headers={"Retry-After": "3600"}),
            SearchBlocked,
            lambda e: e.retry_after == 3600.0,
        ),
    ],
    ids=["too-broad", "refine", "refine-no-limit", "blocked"],
)
async def test_acc_4_search_refusals_are_typed_and_not_retried(
    mode: Mode, answer: httpx.Response, kind: type[ContactPointError], check: Any
) -> None:
    directory = Directory()
    directory.search.steps = [answer]
    client = await signed_in(directory, mode)
    with pytest.raises(kind) as caught:
        await call(client, "search", CRITERIA)
    assert check(caught.value)
    assert caught.value.rule == "ACC-4"
    assert caught.value.request_id == "srv-err-1"
    assert directory.search.count == 1
    assert directory.waits.seconds == []
    assert client.signed_in


async def test_acc_4_rate_limited_search_waits_retry_after_then_succeeds(mode: Mode) -> None:
    directory = Directory()
    directory.search.steps = [
        problem(429, "rate_limited", rule="ACC-4", window="minute", headers={"Retry-After": "7"}),
        ok(200, search_body()),
    ]
    client = await signed_in(directory, mode)
    result = await call(client, "search", CRITERIA)
    assert len(result) == 2
    assert directory.waits.seconds == [7.0]
    assert directory.search.count == 2
    # The retry is the same request: same ID, same body, same token.
    first, second = directory.search.requests
    assert first.headers["x-request-id"] == second.headers["x-request-id"]
    assert first.content == second.content


async def test_acc_4_rate_limited_search_honours_an_http_date(mode: Mode) -> None:
    directory = Directory()
    when = (NOW + timedelta(seconds=42)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    directory.search.steps = [
        problem(429, "rate_limited", rule="ACC-4", headers={"Retry-After": when}),
        ok(200, search_body()),
    ]
    client = await signed_in(directory, mode)
    await call(client, "search", CRITERIA)
    assert directory.waits.seconds == [42.0]


async def test_acc_4_rate_limited_search_gives_up_with_search_rate_limited(mode: Mode) -> None:
    directory = Directory()
    directory.search.steps = [
        problem(
            429,
            "rate_limited",
            rule="ACC-4",
            window="day",
            request_id="srv-429",
            headers={"Retry-After": "5"},
        )
    ]
    client = await signed_in(directory, mode)
    with pytest.raises(SearchRateLimited) as caught:
        await call(client, "search", CRITERIA)
    error = caught.value
    assert error.retry_after == 5.0
    assert error.window == "day"
    assert error.request_id == "srv-429"
    assert isinstance(error.__cause__, RateLimited)
    assert error.__cause__.attempts == 3
    assert directory.search.count == 3
    assert directory.waits.seconds == [5.0, 5.0]


@pytest.mark.parametrize(
    "headers", [{"Retry-After": "3600"}, {}], ids=["beyond-the-cap", "no-retry-after"]
)
async def test_acc_4_rate_limited_search_not_retried_sooner_than_it_could_pass(
    mode: Mode, headers: dict[str, str]
) -> None:
    """A retry that would only fail again counts towards failed_search_burst."""
    directory = Directory()
    directory.search.steps = [
        problem(429, "rate_limited", rule="ACC-4", headers=headers, retry_after=3600)
    ]
    client = await signed_in(directory, mode, retry=Directory().waits.policy(retry_after_cap=60))
    with pytest.raises(SearchRateLimited) as caught:
        await call(client, "search", CRITERIA)
    assert caught.value.retry_after == 3600.0  # the header, else the problem's member
    assert directory.search.count == 1


@pytest.mark.parametrize(
    "step",
    [problem(503, "unavailable"), problem(500, "internal_error"), httpx.ReadTimeout],
    ids=["503", "500", "read-timeout"],
)
async def test_acc_4_search_retried_after_server_and_transport_failures(
    mode: Mode, step: Step
) -> None:
    directory = Directory()
    directory.search.steps = [step, ok(200, search_body())]
    client = await signed_in(directory, mode)
    result = await call(client, "search", CRITERIA)
    assert len(result) == 2
    assert directory.search.count == 2
    assert directory.waits.seconds == [0.5]


async def test_acc_4_search_failures_exhausted(mode: Mode) -> None:
    directory = Directory()
    directory.search.steps = [problem(502, "bad_gateway", request_id="srv-502")]
    client = await signed_in(directory, mode)
    with pytest.raises(ServerError) as caught:
        await call(client, "search", CRITERIA)
    assert caught.value.attempts == 3
    assert caught.value.request_id == "srv-502"
    assert directory.waits.seconds == [0.5, 1.0]


async def test_acc_4_generic_429_backs_off_and_stays_rate_limited(mode: Mode) -> None:
    """A gateway's 429 (no ACC-4 rule) is the plain RateLimited, retried with backoff."""
    directory = Directory()
    directory.search.steps = [problem(429, "rate_limited")]
    client = await signed_in(directory, mode)
    with pytest.raises(RateLimited) as caught:
        await call(client, "search", CRITERIA)
    assert not isinstance(caught.value, SearchRateLimited)
    assert directory.search.count == 3


@pytest.mark.parametrize(
    "change",
    [
        lambda body: body["candidates"][0].update(address="1 High Street"),
        lambda body: body["shielded_candidates"][0].update(postcode_district="LS1"),
        lambda body: body.update(total_matches=12),
        lambda body: body.pop("shielded_candidates"),
    ],
    ids=["address-leak", "shielded-district", "match-count", "missing-field"],
)
async def test_acc_4_search_answer_with_anything_undefined_refused(
    mode: Mode, change: Callable[[dict[str, Any]], None]
) -> None:
    directory = Directory()
    body = search_body()
    change(body)
    directory.search.steps = [ok(200, body)]
    client = await signed_in(directory, mode)
    with pytest.raises(ResponseInvalid) as caught:
        await call(client, "search", CRITERIA)
    assert "High Street" not in str(caught.value)
    assert directory.search.count == 1


# --- open with a reason (ACC-3) -----------------------------------------------------------


async def test_acc_3_open_sends_the_reason_and_decodes_the_view(mode: Mode) -> None:
    directory = Directory()
    client = await signed_in(directory, mode)
    shown = await call(client, "open", CHILD_ID, ReasonCode.CHILD_PROTECTION)
    assert directory.open.json() == {"reason": "child_protection"}
    assert isinstance(shown, ChildView)
    # SENS-4: the sensitive service is there only as "a service".
    assert shown.services == ()
    assert shown.unspecified_services == (UnspecifiedServiceView(ordinal=1),)


async def test_acc_3_open_other_sends_the_text(mode: Mode) -> None:
    directory = Directory()
    client = await signed_in(directory, mode)
    await call(client, "open", CHILD_ID.value, ReasonCode.OTHER, "  checking   school place ")
    assert directory.open.json() == {"reason": "other", "reason_text": "checking school place"}


async def test_shld_1_open_shielded_decodes_the_shielded_view(mode: Mode) -> None:
    directory = Directory()
    directory.open.steps = [ok(200, view_body(SHIELDED))]
    client = await signed_in(directory, mode)
    shown = await call(client, "open", CHILD_ID, ReasonCode.ASSESSMENT)
    assert isinstance(shown, ShieldedChildView)
    assert not hasattr(shown, "address")


async def test_open_full_view_for_the_management_team(mode: Mode) -> None:
    directory = Directory()
    directory.open.steps = [ok(200, view_body(viewer=MANAGEMENT))]
    client = await signed_in(directory, mode)
    shown = await call(client, "open", CHILD_ID, ReasonCode.CHILD_PROTECTION)
    assert isinstance(shown, FullRecordView)
    assert shown.record == SENSITIVE


@pytest.mark.parametrize(
    ("reason", "text", "kind", "code"),
    [
        (None, None, ReasonRequired, "reason_required"),
        ("", None, ReasonRequired, "reason_required"),
        (ReasonCode.OTHER, None, ReasonRequired, "reason_text_required"),
        (ReasonCode.OTHER, "   ", ReasonRequired, "reason_text_required"),
        (ReasonCode.ASSESSMENT, "because I must", ReasonInvalid, "reason_text_not_allowed"),
        (ReasonCode.SERIOUS_CASE_REVIEW, None, ReasonInvalid, "reason_not_applicable"),
        ("nosy", None, ReasonInvalid, "reason_unknown"),
        (ReasonCode.OTHER, "NHS number 943 476 5919", ReasonInvalid, "reason_text_invalid"),
        (ReasonCode.OTHER, "lives at LS1 4AP now", ReasonInvalid, "reason_text_invalid"),
        (ReasonCode.OTHER, "two\nlines of text", ReasonInvalid, "reason_text_invalid"),
    ],
)
async def test_acc_3_no_record_opens_without_a_proper_reason(
    mode: Mode,
    reason: Any,
    text: str | None,
    kind: type[ContactPointError],
    code: str,
) -> None:
    """Refused by the client, before any request."""
    directory = Directory()
    client = await signed_in(directory, mode)
    with pytest.raises(kind) as caught:
        await call(client, "open", CHILD_ID, reason, text)
    assert caught.value.code == code
    assert caught.value.rule == "ACC-3"
    assert caught.value.request_id is None
    assert directory.open.count == 0


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (problem(400, "reason_required", rule="ACC-3"), ReasonRequired),
        (problem(400, "reason_text_required", rule="ACC-3"), ReasonRequired),
        (problem(400, "reason_text_invalid", rule="ACC-3"), ReasonInvalid),
        (problem(400, "reason_not_applicable", rule="ACC-3"), ReasonInvalid),
        (problem(404, "record_not_found"), RecordNotFound),
        (problem(403, "not_permitted", rule="SHLD-1"), NotPermitted),
        (problem(400, "validation_failed"), BadRequest),
    ],
)
async def test_acc_3_open_refusals_from_the_directory_are_typed(
    mode: Mode, answer: httpx.Response, kind: type[ContactPointError]
) -> None:
    directory = Directory()
    directory.open.steps = [answer]
    client = await signed_in(directory, mode)
    with pytest.raises(kind) as caught:
        await call(client, "open", CHILD_ID, ReasonCode.OTHER, "to check the school place")
    assert caught.value.request_id == "srv-err-1"
    assert caught.value.code == json.loads(answer.content)["code"]
    assert directory.open.count == 1


async def test_acc_3_open_refuses_a_bad_identifier_before_sending(mode: Mode) -> None:
    directory = Directory()
    client = await signed_in(directory, mode)
    with pytest.raises(ValidationError) as caught:
        await call(client, "open", "not-an-id", ReasonCode.ASSESSMENT)
    assert caught.value.paths[0].startswith("directory_id")
    assert directory.open.count == 0


async def test_acc_3_open_retried_after_transport_failure(mode: Mode) -> None:
    directory = Directory()
    directory.open.steps = [httpx.RemoteProtocolError, ok(200, view_body())]
    client = await signed_in(directory, mode)
    shown = await call(client, "open", CHILD_ID, ReasonCode.ASSESSMENT)
    assert isinstance(shown, ChildView)
    assert directory.open.count == 2


@pytest.mark.parametrize(
    "change",
    [
        lambda body: body.update(address={"lines": ["1 High Street"], "postcode": "LS1 4AP"}),
        lambda body: body.update(view="standard"),
        lambda body: body.update(directory_id=b.directory_id(9).value),
    ],
    ids=["shielded-with-address", "wrong-tag", "another-record"],
)
async def test_shld_1_view_with_anything_hidden_or_foreign_refused(
    mode: Mode, change: Callable[[dict[str, Any]], None]
) -> None:
    directory = Directory()
    body = view_body(SHIELDED)
    change(body)
    directory.open.steps = [ok(200, body)]
    client = await signed_in(directory, mode)
    with pytest.raises(ResponseInvalid) as caught:
        await call(client, "open", CHILD_ID, ReasonCode.ASSESSMENT)
    assert "High Street" not in str(caught.value)
    assert "LS1" not in str(caught.value)
    assert caught.value.request_id == "srv-ok"


# --- shield and broker requests (SHLD-6, SENS-4) ------------------------------------------


async def test_shld_6_request_shield(mode: Mode) -> None:
    directory = Directory()
    client = await signed_in(directory, mode)
    assert (
        await call(client, "request_shield", CHILD_ID, ShieldGround.RISK_OF_HARM_TO_ADULT) is None
    )
    assert directory.shield.json() == {"ground": "risk_of_harm_to_adult"}


async def test_shld_6_request_shield_takes_a_ground(mode: Mode) -> None:
    directory = Directory()
    client = await signed_in(directory, mode)
    with pytest.raises(TypeError):
        await call(client, "request_shield", CHILD_ID, "because")
    assert directory.shield.count == 0


@pytest.mark.parametrize(
    ("step", "retried"),
    [
        (httpx.ConnectError, True),
        (httpx.ConnectTimeout, True),
        (problem(503, "unavailable"), True),
        (problem(429, "rate_limited", headers={"Retry-After": "2"}), True),
        (httpx.ReadTimeout, False),
        (httpx.RemoteProtocolError, False),
        (problem(500, "internal_error"), False),
        (problem(502, "bad_gateway"), False),
    ],
)
async def test_shld_6_sens_4_requests_retried_only_where_nothing_was_done(
    mode: Mode, step: Step, retried: bool
) -> None:
    """A shield or broker request is retried only when the directory surely did
    not act on it: otherwise a retry could file it twice."""
    for method, args, steps in (
        ("request_shield", (CHILD_ID, ShieldGround.OTHER), "shield"),
        ("request_broker", (CHILD_ID, 1), "broker"),
        ("act_for", ("prac-1",), "act_for"),
    ):
        directory = Directory()
        route: Steps = getattr(directory, steps)
        route.steps = [step, *route.steps]
        client = await signed_in(directory, mode)
        if retried:
            await call(client, method, *args)
            assert route.count == 2, method
        else:
            with pytest.raises((ServerError, TransportFailure)):
                await call(client, method, *args)
            assert route.count == 1, method


async def test_sens_4_request_broker_returns_a_ticket(mode: Mode) -> None:
    directory = Directory()
    client = await signed_in(directory, mode)
    ticket = await call(client, "request_broker", CHILD_ID, 1)
    assert directory.broker.json() == {"ordinal": 1}
    assert ticket == BrokerTicket(
        request_id="brk-1",
        directory_id=CHILD_ID,
        ordinal=1,
        requested_by="user-1",
        requested_at=NOW,
        local_authority="202",
        status=BrokerTicketStatus.OPEN,
    )


@pytest.mark.parametrize("ordinal", [0, -1, True, "1", 1.0])
async def test_sens_4_ordinal_checked_before_sending(mode: Mode, ordinal: Any) -> None:
    directory = Directory()
    client = await signed_in(directory, mode)
    with pytest.raises(ValidationError):
        await call(client, "request_broker", CHILD_ID, ordinal)
    assert directory.broker.count == 0


@pytest.mark.parametrize(
    "answer",
    [
        ok(201, broker_body(directory_id=b.directory_id(9).value)),
        ok(201, broker_body(ordinal=2)),
        ok(201, broker_body(service="sexual_health_contraception")),
    ],
    ids=["another-record", "another-ordinal", "names-the-service"],
)
async def test_sens_4_broker_answer_checked(mode: Mode, answer: httpx.Response) -> None:
    directory = Directory()
    directory.broker.steps = [answer]
    client = await signed_in(directory, mode)
    with pytest.raises(ResponseInvalid):
        await call(client, "request_broker", CHILD_ID, 1)


async def test_sens_4_broker_refusal_typed(mode: Mode) -> None:
    directory = Directory()
    directory.broker.steps = [problem(403, "broker_ordinal_unknown", rule="SENS-4")]
    client = await signed_in(directory, mode)
    with pytest.raises(NotPermitted) as caught:
        await call(client, "request_broker", CHILD_ID, 3)
    assert caught.value.code == "broker_ordinal_unknown"
    assert caught.value.rule == "SENS-4"


# --- the archive (RET-6) --------------------------------------------------------------------


@pytest.mark.parametrize("reason", [ReasonCode.SERIOUS_CASE_REVIEW, ReasonCode.CHILD_DEATH_REVIEW])
async def test_ret_6_read_archive_with_an_archive_reason(mode: Mode, reason: ReasonCode) -> None:
    directory = Directory()
    client = await signed_in(directory, mode)
    shown = await call(client, "read_archive", CHILD_ID, reason)
    assert isinstance(shown, FullRecordView)
    assert shown.record == SENSITIVE
    assert directory.archive.json() == {"reason": reason.value}


async def test_ret_6_read_archive_accepts_an_untagged_full_record(mode: Mode) -> None:
    directory = Directory()
    body = view_body(viewer=REVIEWER)
    del body["view"]
    directory.archive.steps = [ok(200, body)]
    client = await signed_in(directory, mode)
    shown = await call(client, "read_archive", CHILD_ID, ReasonCode.SERIOUS_CASE_REVIEW)
    assert isinstance(shown, FullRecordView)


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        (None, ReasonRequired),
        (ReasonCode.CHILD_PROTECTION, ReasonInvalid),
        (ReasonCode.OTHER, ReasonInvalid),
    ],
)
async def test_ret_6_archive_needs_an_archive_reason(
    mode: Mode, reason: Any, kind: type[ContactPointError]
) -> None:
    directory = Directory()
    client = await signed_in(directory, mode)
    with pytest.raises(kind):
        await call(client, "read_archive", CHILD_ID, reason)
    assert directory.archive.count == 0


async def test_ret_6_archive_answers_are_checked(mode: Mode) -> None:
    directory = Directory()
    directory.archive.steps = [ok(200, view_body())]  # a standard view is not the archive
    client = await signed_in(directory, mode)
    with pytest.raises(ResponseInvalid):
        await call(client, "read_archive", CHILD_ID, ReasonCode.SERIOUS_CASE_REVIEW)


async def test_ret_6_archive_refused_for_other_roles(mode: Mode) -> None:
    directory = Directory()
    directory.archive.steps = [problem(403, "archive_reviewers_only", rule="RET-6")]
    client = await signed_in(directory, mode)
    with pytest.raises(NotPermitted) as caught:
        await call(client, "read_archive", CHILD_ID, ReasonCode.SERIOUS_CASE_REVIEW)
    assert caught.value.rule == "RET-6"


# --- nothing kept but the session ---------------------------------------------------------------


def _reachable(root: object, stop: tuple[object, ...]) -> Iterator[object]:
    """Every object reachable from ``root`` through the client's own state:
    not walking into ``stop``, classes, modules or a module's globals (which
    a method reaches through its function, and which hold this test's data)."""
    seen = {id(s) for s in stop}
    seen |= {id(vars(m)) for m in list(sys.modules.values()) if m is not None}
    todo = [root]
    while todo:
        item = todo.pop()
        if id(item) in seen or isinstance(item, type | types.ModuleType):
            continue
        seen.add(id(item))
        yield item
        todo.extend(gc.get_referents(item))


async def test_no_record_is_kept_by_the_client(mode: Mode) -> None:
    directory = Directory()
    directory.open.steps = [ok(200, view_body(b.record(involvements=SENSITIVE.involvements)))]
    client = await signed_in(directory, mode)
    shown = await call(client, "open", CHILD_ID, ReasonCode.ASSESSMENT)
    result = await call(client, "search", CRITERIA)
    assert isinstance(shown, ChildView)

    # Structurally: slots only, no attribute that could hold a view or a cache.
    assert not hasattr(client, "__dict__")
    slots = {s for cls in type(client).__mro__ for s in getattr(cls, "__slots__", ())}
    assert slots == {
        "_base_url",
        "_clock",
        "_closed",
        "_codec",
        "_retry",
        "_session",
        "_timeout",
        "_token",
        "_http",
        "_owns_http",
    }
    with pytest.raises(AttributeError):
        client.cache = {}  # type: ignore[union-attr]

    def found() -> list[object]:
        return [
            o
            for o in _reachable(client, stop=(directory.transport, default_codec, CLOCK))
            if o is shown
            or o is result
            or isinstance(o, ChildView | ShieldedChildView | FullRecordView | SearchResult)
            or (isinstance(o, str) and ("High Street" in o or "9434765919" in o))
            or (isinstance(o, bytes) and (b"High Street" in o or b"9434765919" in o))
        ]

    assert found() == []
    await call(client, "sign_out")
    assert found() == []
    reachable_strings = [
        o for o in _reachable(client, stop=(directory.transport,)) if isinstance(o, str)
    ]
    assert SESSION_TOKEN not in reachable_strings
    assert client.session is None


# --- credentials never logged or quoted ------------------------------------------------------


def _messages(error: BaseException | None) -> str:
    """The messages and reprs of an error and everything chained to it."""
    text: list[str] = []
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        text += [str(error), repr(error), repr(vars(error))]
        error = error.__cause__ or error.__context__
    return "\n".join(text)


@pytest.mark.parametrize(
    "step",
    [
        ok(201, session_body()),
        problem(401, "sign_in_failed", rule="ACC-1"),
        problem(403, "disclosure_lapsed", rule="ACC-1"),
        problem(500, "internal_error"),
        httpx.ConnectError,
        httpx.ReadTimeout,
        ok(201, session_body(token=None)),
    ],
    ids=["ok", "refused", "ineligible", "500", "connect", "timeout", "junk"],
)
async def test_acc_1_credentials_never_logged_nor_in_errors(
    mode: Mode, step: Step, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    directory = Directory()
    directory.sign_in.steps = [step]
    client = directory.client(mode)
    error: ContactPointError | None = None
    try:
        await call(client, "sign_in", USERNAME, PASSWORD, PIN, TOTP_CODE)
        await call(client, "search", CRITERIA)
        await call(client, "sign_out")
    except ContactPointError as caught:
        error = caught
        # No exception in the chain keeps the request the credentials went in.
        chained: BaseException | None = error
        while chained is not None:
            assert not isinstance(chained, httpx.RequestError), type(chained)
            chained = chained.__cause__ or chained.__context__
    text = caplog.text + "\n" + _messages(error)
    for secret in SECRETS:
        assert secret not in text


async def test_acc_1_session_token_never_logged_in_retries(
    mode: Mode, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    directory = Directory()
    directory.search.steps = [
        problem(503, "unavailable"),
        httpx.ReadTimeout,
        ok(200, search_body()),
    ]
    client = await signed_in(directory, mode)
    await call(client, "search", CRITERIA)
    assert "retrying" in caplog.text
    for secret in SECRETS:
        assert secret not in caplog.text


# --- transport, timeouts, lifetime ---------------------------------------------------------------


async def test_every_request_has_a_timeout(mode: Mode) -> None:
    directory = Directory()
    timeout = httpx.Timeout(3.0, connect=1.0)
    client = await signed_in(directory, mode, timeout=timeout)
    await call(client, "current_session")
    await call(client, "search", CRITERIA)
    await call(client, "open", CHILD_ID, ReasonCode.ASSESSMENT)
    await call(client, "request_shield", CHILD_ID, ShieldGround.OTHER)
    await call(client, "request_broker", CHILD_ID, 1)
    await call(client, "act_for", "prac-1")
    await call(client, "stop_acting")
    await call(client, "read_archive", CHILD_ID, ReasonCode.SERIOUS_CASE_REVIEW)
    await call(client, "sign_out")
    requests = directory.all_requests
    assert len(requests) == 10
    for request in requests:
        assert request.extensions["timeout"] == timeout.as_dict()
        assert request.headers["x-request-id"]
        assert request.headers["user-agent"].startswith("contactpoint-sdk/")
    assert client.timeout == timeout


def test_default_timeout() -> None:
    client = LookupClient(base_url=BASE, transport=httpx.MockTransport(lambda r: ok()))
    assert client.timeout == DEFAULT_TIMEOUT
    client.close()


async def test_base_url_path_is_kept(mode: Mode) -> None:
    router = respx.Router(base_url="https://gateway.test/directory", assert_all_called=False)
    route = router.post("/v1/sessions").mock(return_value=ok(201, session_body()))
    transport = httpx.MockTransport(router.handler)
    common: dict[str, Any] = {"base_url": "https://gateway.test/directory/", "transport": transport}
    client: AnyClient = (
        LookupClient(**common)
        if mode == "sync"
        else AsyncLookupClient(
            transport=httpx.MockTransport(router.async_handler), base_url=common["base_url"]
        )
    )
    await call(client, "sign_in", USERNAME, PASSWORD, PIN, TOTP_CODE)
    assert route.call_count == 1
    assert route.calls[0].request.url.path == "/directory/v1/sessions"


async def test_unexpected_success_status_refused(mode: Mode) -> None:
    directory = Directory()
    directory.open.steps = [ok(202, view_body())]
    client = await signed_in(directory, mode)
    with pytest.raises(ResponseInvalid) as caught:
        await call(client, "open", CHILD_ID, ReasonCode.ASSESSMENT)
    assert caught.value.code == "unexpected_status"


async def signed_in_with(client: AnyClient, fail: BaseException | None = None) -> None:
    """Sign in inside ``with`` (``async with``), raising ``fail`` there if given."""
    if isinstance(client, LookupClient):
        with client:
            client.sign_in(USERNAME, PASSWORD, PIN, TOTP_CODE)
            if fail is not None:
                raise fail
    else:
        async with client:
            await client.sign_in(USERNAME, PASSWORD, PIN, TOTP_CODE)
            if fail is not None:
                raise fail


async def test_with_signs_out_then_closes(mode: Mode) -> None:
    directory = Directory()
    client = directory.client(mode)
    await signed_in_with(client)
    assert directory.sign_out.count == 1
    assert client.closed
    assert not client.signed_in
    assert directory.transport.closed
    with pytest.raises(ConfigurationError) as caught:
        await call(client, "sign_in", USERNAME, PASSWORD, PIN, TOTP_CODE)
    assert caught.value.code == "client_closed"


async def test_with_keeps_the_callers_error_when_sign_out_fails(mode: Mode) -> None:
    directory = Directory()
    directory.sign_out.steps = [problem(500, "internal_error")]
    client = directory.client(mode)
    with pytest.raises(KeyError):
        await signed_in_with(client, KeyError("the caller's"))
    assert directory.sign_out.count == 3
    assert client.closed
    assert directory.transport.closed


async def test_with_raises_a_failed_sign_out_when_nothing_else_failed(mode: Mode) -> None:
    directory = Directory()
    directory.sign_out.steps = [problem(500, "internal_error")]
    client = directory.client(mode)
    with pytest.raises(ServerError):
        await signed_in_with(client)
    assert client.closed
    assert not client.signed_in


async def test_injected_http_client_is_left_open(mode: Mode) -> None:
    directory = Directory()
    if mode == "sync":
        http = httpx.Client(transport=directory.transport)
        client = LookupClient(base_url=BASE, http_client=http)
        client.sign_in(USERNAME, PASSWORD, PIN, TOTP_CODE)
        client.close()
        assert not http.is_closed
        http.close()
    else:
        ahttp = httpx.AsyncClient(transport=directory.transport)
        aclient = AsyncLookupClient(base_url=BASE, http_client=ahttp)
        await aclient.sign_in(USERNAME, PASSWORD, PIN, TOTP_CODE)
        await aclient.aclose()
        assert not ahttp.is_closed
        await ahttp.aclose()
    assert directory.sign_in.count == 1


@pytest.mark.parametrize(
    "settings",
    [
        {"base_url": "ftp://directory.test"},
        {"base_url": "https://directory.test/?x=1"},
        {"base_url": "not a url at all"},
        {"timeout": 5},
        {"http_client": "given", "transport": "given"},
    ],
)
def test_bad_configuration_refused(settings: dict[str, Any]) -> None:
    settings = dict(settings)
    if settings.get("http_client") == "given":
        settings["http_client"] = httpx.Client()
        settings["transport"] = httpx.MockTransport(lambda r: ok())
    settings.setdefault("base_url", BASE)
    with pytest.raises(ConfigurationError):
        LookupClient(**settings)


# --- the code-to-error table ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (problem(401, "sign_in_failed", rule="ACC-1"), SignInFailed),
        (problem(401, "session_expired", rule="ACC-1"), SessionExpired),
        (problem(401, "session_invalid", rule="ACC-1"), SessionInvalid),
        (problem(400, "reason_required", rule="ACC-3"), ReasonRequired),
        (problem(400, "reason_unknown", rule="ACC-3"), ReasonInvalid),
        (problem(400, "search_too_broad", rule="ACC-4"), SearchTooBroad),
        (problem(422, "refine_search", rule="ACC-4"), RefineSearch),
        (problem(429, "rate_limited", rule="ACC-4"), SearchRateLimited),
        (problem(429, "search_blocked", rule="ACC-4"), SearchBlocked),
        (problem(403, "mediation_not_allowed", rule="ACC-6"), MediationRefused),
        (problem(403, "training_lapsed", rule="ACC-1"), NotEligible),
        (problem(404, "record_not_found"), RecordNotFound),
        (problem(403, "management_team_only", rule="SHLD-3"), NotPermitted),
        (problem(429, "rate_limited"), RateLimited),
        (problem(404, "not_found"), ApiError),
        (problem(400, "validation_failed"), BadRequest),
        (httpx.Response(401, content=b"no"), ApiError),
    ],
)
def test_lookup_refusal_table(answer: httpx.Response, kind: type[ContactPointError]) -> None:
    from contactpoint_sdk._http import error_for_response

    error = error_for_response(answer, now=NOW, request_id="sent-1")
    refusal = lookup_refusal(error, problem_document(answer))
    assert type(refusal) is kind or (kind is ApiError and isinstance(refusal, ApiError))
    assert refusal.request_id == (answer.headers.get("X-Request-ID") or "sent-1")


def test_session_expired_with_an_unknown_reason() -> None:
    answer = problem(401, "session_expired", rule="ACC-1", reason="<script>")
    from contactpoint_sdk._http import error_for_response

    refusal = lookup_refusal(error_for_response(answer, now=NOW), problem_document(answer))
    assert isinstance(refusal, SessionExpired)
    assert refusal.reason == "ended"


def test_lookup_session_is_plain_data() -> None:
    session = default_codec.decode(session_body(token=None), LookupSession)
    assert attrs.asdict(session)["user_id"] == "user-1"
    assert session == attrs.evolve(session)
