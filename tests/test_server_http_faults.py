"""Fault injection for vendor tests (issue 5, item 2): forced 429 and 503 with
Retry-After, slow answers, dropped connections, each for a given number of
requests, set from Python or over HTTP; the control routes never faulted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from contactpoint_sdk.errors import RateLimited, ServerError, TransportFailure
from contactpoint_sdk.reference_server import DirectoryService
from contactpoint_sdk.reference_server.app import create_app
from contactpoint_sdk.reference_server.faults import FaultInjector, FaultKind
from contactpoint_sdk.reference_server.transport import (
    AsyncInProcessTransport,
    InProcessTransport,
)
from contactpoint_sdk.supply.client import SupplyClient
from contactpoint_sdk.supply.retry import RetryPolicy
from tests.test_server_http_support import (
    AGREEMENT,
    JOSE,
    SUPPLIER,
    Supplier,
    assert_valid,
    new_directory,
    no_leaked_threads,
    pupil,
    schema,
)

pytestmark = pytest.mark.usefixtures("no_leaked_threads")
_ = no_leaked_threads
BASE = "https://directory.test"


@pytest.fixture
def directory() -> Iterator[DirectoryService]:
    service = new_directory()
    yield service
    service.close()


@pytest.fixture
def faults() -> FaultInjector:
    return FaultInjector()


@pytest.fixture
def http(directory: DirectoryService, faults: FaultInjector) -> Iterator[httpx.Client]:
    app = create_app(directory, faults=faults)
    with httpx.Client(base_url=BASE, transport=InProcessTransport(app)) as client:
        yield client


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [(FaultKind.RATE_LIMITED, 429, "rate_limited"), (FaultKind.UNAVAILABLE, 503, "unavailable")],
)
def test_429_and_503_carry_retry_after_for_the_next_n_requests_only(
    http: httpx.Client, faults: FaultInjector, kind: FaultKind, status: int, code: str
) -> None:
    faults.add(kind, count=2, retry_after=7)
    answers = [http.get("/v1/health", headers={"X-Request-ID": f"r{n}"}) for n in range(3)]
    assert [a.status_code for a in answers] == [status, status, 200]
    for n, answer in enumerate(answers[:2]):
        assert answer.headers["Retry-After"] == "7"
        assert answer.headers["content-type"] == "application/problem+json"
        assert_valid(answer.json(), schema("Problem"))
        assert answer.json()["code"] == code
        assert answer.headers["X-Request-ID"] == answer.json()["request_id"] == f"r{n}"
    assert faults.pending() == ()
    assert [f.kind for f in faults.fired] == [kind, kind]


def test_a_faulted_supply_changes_nothing_and_the_resend_is_applied_once(
    directory: DirectoryService, http: httpx.Client, faults: FaultInjector
) -> None:
    source = Supplier(directory).register()
    token = source.seal(source.batch())
    faults.unavailable(1, path_prefix="/v1/supply/")
    assert http.post("/v1/supply/batches", content=token, headers=JOSE).status_code == 503
    assert directory.counts()["live"] == 0
    faults.drop(1)
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        http.post("/v1/supply/batches", content=token, headers=JOSE)
    assert directory.counts()["live"] == 0
    assert http.post("/v1/supply/batches", content=token, headers=JOSE).status_code == 200
    assert directory.counts()["live"] == 1


def test_a_path_prefix_and_a_method_narrow_a_fault(
    http: httpx.Client, faults: FaultInjector
) -> None:
    faults.rate_limit(1, path_prefix="/v1/supply/", method="post")
    assert http.get("/v1/health").status_code == 200
    assert http.get("/v1/keys/directory").status_code == 200
    assert len(faults.pending()) == 1
    refused = http.post("/v1/supply/batches", content="x", headers=JOSE)
    assert refused.status_code == 429
    assert faults.pending() == ()


def test_faults_fire_in_order_and_count_down(http: httpx.Client, faults: FaultInjector) -> None:
    first = faults.rate_limit(2)
    faults.unavailable(1)
    assert [f.remaining for f in faults.pending()] == [2, 1]
    assert http.get("/v1/health").status_code == 429
    assert [f.remaining for f in faults.pending()] == [1, 1]
    assert faults.pending()[0].fault_id == first.fault_id
    assert [http.get("/v1/health").status_code for _ in range(3)] == [429, 503, 200]


def test_a_slow_answer_times_out_a_patient_client_and_then_serves_a_normal_one(
    http: httpx.Client, faults: FaultInjector
) -> None:
    faults.slow(1, delay=0.5)
    with pytest.raises(httpx.ReadTimeout):
        http.get("/v1/health", timeout=0.1)
    faults.slow(1, delay=0.1)
    assert http.get("/v1/health", timeout=5).status_code == 200
    assert faults.pending() == ()


def test_a_batch_whose_client_timed_out_is_still_applied_and_its_resend_answered_once(
    directory: DirectoryService, http: httpx.Client, faults: FaultInjector
) -> None:
    source = Supplier(directory).register()
    token = source.seal(source.batch())
    faults.slow(1, delay=0.3, path_prefix="/v1/supply/")
    with pytest.raises(httpx.ReadTimeout):
        http.post("/v1/supply/batches", content=token, headers=JOSE, timeout=0.05)
    assert directory.counts()["live"] == 0  # still held by the slow fault
    time.sleep(0.5)
    assert directory.counts()["live"] == 1  # applied although nobody waited
    resent = http.post("/v1/supply/batches", content=token, headers=JOSE)
    assert resent.status_code == 200
    assert directory.counts()["live"] == 1


async def test_the_async_transport_drops_and_delays_too(
    directory: DirectoryService, faults: FaultInjector
) -> None:
    app = create_app(directory, faults=faults)
    async with httpx.AsyncClient(base_url=BASE, transport=AsyncInProcessTransport(app)) as http:
        faults.drop(1)
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("/v1/health")
        faults.slow(1, delay=0.5)
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/v1/health", timeout=0.1)
        assert (await http.get("/v1/health")).status_code == 200
        # A supply the client gave up on goes on, as on a real server.
        source = Supplier(directory).register()
        token = source.seal(source.batch())
        faults.slow(1, delay=0.2)
        with pytest.raises(httpx.ReadTimeout):
            await http.post("/v1/supply/batches", content=token, headers=JOSE, timeout=0.05)
        await asyncio.sleep(0.4)
        assert directory.counts()["live"] == 1
        # One still running when the client closes is cancelled.
        faults.slow(1, delay=5)
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/v1/health", timeout=0.05)


def test_faults_are_set_listed_and_cleared_over_http(
    http: httpx.Client, faults: FaultInjector
) -> None:
    made = http.post(
        "/v1/_control/faults", json={"kind": "rate_limited", "count": 3, "retry_after": 2}
    )
    assert made.status_code == 201
    assert made.json()["remaining"] == 3
    assert len(faults.pending()) == 1  # the same injector Python sees
    # Control routes are never faulted: the test can always see and clear.
    listed = http.get("/v1/_control/faults").json()
    assert [f["kind"] for f in listed["pending"]] == ["rate_limited"]
    assert http.get("/v1/health").status_code == 429
    assert http.delete("/v1/_control/faults").json() == {"cleared": 1}
    assert http.get("/v1/health").status_code == 200
    for bad in (
        {"kind": "explode"},
        {"kind": "slow", "delay": 600},
        {"kind": "drop", "count": 0},
        {"kind": "drop", "path_prefix": "/v1/_control/reset"},
    ):
        refused = http.post("/v1/_control/faults", json=bad)
        assert refused.status_code == 400, bad
        assert_valid(refused.json(), schema("Problem"))


def test_a_reset_clears_pending_faults(http: httpx.Client, faults: FaultInjector) -> None:
    faults.drop(5)
    assert http.post("/v1/_control/reset").json()["faults_cleared"] == 1
    assert http.get("/v1/health").status_code == 200


def test_the_injector_refuses_impossible_faults() -> None:
    faults = FaultInjector()
    with pytest.raises(ValueError, match="count"):
        faults.drop(0)
    with pytest.raises(ValueError, match="retry_after"):
        faults.rate_limit(retry_after=-1)
    with pytest.raises(ValueError, match="delay"):
        faults.slow(delay=61)
    with pytest.raises(ValueError, match="path_prefix"):
        faults.drop(path_prefix="v1")
    with pytest.raises(ValueError, match="never faulted"):
        faults.drop(path_prefix="/v1/_control/")
    with pytest.raises(ValueError, match=r"kind|valid"):
        faults.add("explode")


def test_the_supply_client_retries_through_429_503_and_a_drop_and_applies_once(
    directory: DirectoryService, faults: FaultInjector
) -> None:
    source = Supplier(directory).register()
    waits: list[float] = []
    app = create_app(directory, faults=faults)
    faults.rate_limit(1, retry_after=3, path_prefix="/v1/supply/")
    faults.unavailable(1, retry_after=1, path_prefix="/v1/supply/")
    faults.drop(1, path_prefix="/v1/supply/")
    with SupplyClient(
        base_url=BASE,
        supplier_id=SUPPLIER,
        agreement_id=AGREEMENT,
        signing_key=source.key,
        directory_key=directory.directory_public_key(),
        clock=directory.clock,
        retry=RetryPolicy(max_attempts=5, initial_wait=0.25, jitter=0, sleep=waits.append),
        transport=InProcessTransport(app),
    ) as client:
        result = client.supply([pupil(1)])
    assert result.all_accepted
    assert waits[:2] == [3.0, 1.0]  # Retry-After honoured
    assert len(waits) == 3
    assert directory.counts()["live"] == 1


def test_the_supply_client_gives_up_with_typed_errors(
    directory: DirectoryService, faults: FaultInjector
) -> None:
    source = Supplier(directory).register()
    app = create_app(directory, faults=faults)
    policy = RetryPolicy(max_attempts=2, initial_wait=0, jitter=0, sleep=lambda _: None)

    def client() -> SupplyClient:
        return SupplyClient(
            base_url=BASE,
            supplier_id=SUPPLIER,
            agreement_id=AGREEMENT,
            signing_key=source.key,
            directory_key=directory.directory_public_key(),
            clock=directory.clock,
            retry=policy,
            transport=InProcessTransport(app),
        )

    for kind, error in (
        (FaultKind.RATE_LIMITED, RateLimited),
        (FaultKind.UNAVAILABLE, ServerError),
        (FaultKind.DROP, TransportFailure),
    ):
        faults.add(kind, count=2)
        with client() as supply:
            (batch,) = supply.build_batches([pupil(1)])
            with pytest.raises(error) as raised:
                supply.send_batch(batch)
        failed = raised.value
        assert isinstance(failed, RateLimited | ServerError | TransportFailure)
        assert failed.attempts == 2
    assert directory.counts()["live"] == 0
