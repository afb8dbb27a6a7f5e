"""SupplyClient and AsyncSupplyClient against a mocked directory (SUP-1, SUP-5, SUP-6).

Every HTTP fault goes through respx: the router sits behind the client's
transport seam (``httpx.MockTransport(router.handler)``), and one test patches
the network globally instead. The fake directory opens each envelope with the
SDK's own :class:`EnvelopeOpener` and :func:`decode_batch`, so a passing round
trip proves the sealing and the opening code agree.

Each scenario runs for both clients (the ``mode`` fixture).
"""

from __future__ import annotations

import email.utils
import json
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import httpx
import pytest
import respx

from contactpoint_sdk._http import error_for_response, parse_retry_after
from contactpoint_sdk.clock import FixedClock
from contactpoint_sdk.errors import (
    ApiError,
    BadRequest,
    ConfigurationError,
    Conflict,
    Forbidden,
    KeyMaterialError,
    PayloadTooLarge,
    PolicyRefusal,
    RateLimited,
    ReceiptInvalid,
    ResponseInvalid,
    ServerError,
    SupplyInterrupted,
    TransportFailure,
    Unauthorized,
    ValidationError,
)
from contactpoint_sdk.models import (
    Address,
    Gender,
    Involvement,
    NhsNumber,
    Organisation,
    OrganisationKind,
    PersonName,
    Postcode,
    ServiceKind,
    SourceIdentifiers,
)
from contactpoint_sdk.models.operations import (
    AnyOperation,
    ChildDied,
    ChildKey,
    InvolvementStarted,
    OutcomeStatus,
    SuppliedChild,
    SupplyBatch,
    SupplyReceipt,
)
from contactpoint_sdk.supply.batch import BATCH_CONTENT_TYPE, DecodedBatch, decode_batch
from contactpoint_sdk.supply.client import (
    DEFAULT_TIMEOUT,
    DIRECTORY_KEYS_PATH,
    ENVELOPE_CONTENT_TYPE,
    SUPPLY_PATH,
    AsyncSupplyClient,
    SupplyClient,
    SupplyResult,
)
from contactpoint_sdk.supply.envelope import EnvelopeOpener, OpenedEnvelope
from contactpoint_sdk.supply.keys import (
    EncryptionKey,
    KeyRing,
    KeyRingEntry,
    PublicKeySet,
    SigningKey,
)
from contactpoint_sdk.supply.retry import NO_RETRY, RetryPolicy
from tests._builders import involvement

NOW = datetime(2025, 9, 1, 8, 30, tzinfo=UTC)
CLOCK = FixedClock(NOW)
BASE = "https://directory.test"
SUPPLIER_ID = "mis-0042"
AGREEMENT_ID = "agreement-7"

SUPPLIER = SigningKey.generate(kid="mis-0042-2025")
DIRECTORY = EncryptionKey.generate(kid="directory-2025")
OPENER = EnvelopeOpener(
    decryption_keys={DIRECTORY.kid: DIRECTORY},
    supplier_keys=PublicKeySet([SUPPLIER.public_key()]),
    clock=CLOCK,
    content_types={BATCH_CONTENT_TYPE},
)

Mode = Literal["sync", "async"]
AnyClient = SupplyClient | AsyncSupplyClient


# --- building operations by hand ---------------------------------------------------


def child_key() -> ChildKey:
    return ChildKey(
        identifiers=SourceIdentifiers(nhs_number=NhsNumber("9434765919")),
        date_of_birth=date(2012, 6, 15),
    )


def died(ref: str = "row-1") -> ChildDied:
    return ChildDied(ref=ref, child=child_key(), died_on=date(2025, 8, 20))


def supplied(ref: str = "pupil-1") -> SuppliedChild:
    return SuppliedChild(
        ref=ref,
        name=PersonName(given_name="Amelia", family_name="Okafor"),
        gender=Gender.FEMALE,
        date_of_birth=date(2012, 6, 15),
        address=Address(lines=("1 High Street",), postcode=Postcode("BS1 4DJ")),
        identifiers=SourceIdentifiers(nhs_number=NhsNumber("9434765919")),
        involvements=(
            Involvement(
                reference="gp-1",
                service=ServiceKind.GP_PRACTICE,
                organisation=Organisation(
                    name="Park Surgery", kind=OrganisationKind.GP_PRACTICE, ods_code="L81001"
                ),
                started_on=date(2012, 7, 1),
            ),
        ),
    )


def sensitive_without_consent(ref: str = "clinic-9") -> InvolvementStarted:
    """A sexual-health involvement with no consent at all (SENS-2)."""
    return InvolvementStarted(ref=ref, child=child_key(), involvement=involvement(consent=None))


# --- the fake directory --------------------------------------------------------------

#: A script step: answer with a real receipt for whatever batch arrived.
RECEIPT = "receipt"
Step = (
    httpx.Response
    | Exception
    | type[httpx.RequestError]
    | str
    | Callable[[httpx.Request], httpx.Response]
)


class FakeDirectory:
    """respx side effect: plays a script of faults, then opens envelopes and
    answers each with a receipt (SUP-1)."""

    def __init__(self, *steps: Step, reject: Iterable[str] = ()) -> None:
        self.steps = list(steps)
        self.reject = set(reject)
        self.requests: list[httpx.Request] = []
        self.opened: list[OpenedEnvelope] = []
        self.batches: list[DecodedBatch] = []

    @property
    def bodies(self) -> list[bytes]:
        return [r.content for r in self.requests]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step: Step = self.steps.pop(0) if self.steps else RECEIPT
        if isinstance(step, str):
            assert step == RECEIPT
            return self.receipt(request)
        if isinstance(step, httpx.Response):
            return step
        if isinstance(step, Exception):
            raise step
        if isinstance(step, type):
            raise step("simulated", request=request)
        return step(request)

    def open(self, request: httpx.Request) -> DecodedBatch:
        opened = OPENER.open(request.content.decode("ascii"))
        self.opened.append(opened)
        batch = decode_batch(opened.payload, today=CLOCK.today())
        self.batches.append(batch)
        return batch

    def receipt_body(self, batch: DecodedBatch) -> dict[str, Any]:
        outcomes: list[dict[str, Any]] = []
        for op in batch.operations:
            assert op.ref is not None
            assert not op.problems, op.problems
            if op.ref in self.reject:
                outcomes.append(
                    {
                        "ref": op.ref,
                        "status": "rejected",
                        "code": "child_not_found",
                        "rule": "SUP-8",
                        "message": "no record matches this child",
                    }
                )
            else:
                outcomes.append({"ref": op.ref, "status": "accepted"})
        return {
            "batch_id": batch.header.batch_id,
            "sequence": batch.header.sequence,
            "received_at": NOW.isoformat(),
            "outcomes": outcomes,
        }

    def receipt(self, request: httpx.Request) -> httpx.Response:
        body = self.receipt_body(self.open(request))
        return httpx.Response(200, json=body, headers={"X-Request-ID": "srv-receipt"})

    def doctored(
        self, change: Callable[[dict[str, Any]], None]
    ) -> Callable[[httpx.Request], httpx.Response]:
        """A step answering with a real receipt changed by ``change``."""

        def answer(request: httpx.Request) -> httpx.Response:
            body = self.receipt_body(self.open(request))
            change(body)
            return httpx.Response(200, json=body, headers={"X-Request-ID": "srv-doctored"})

        return answer


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
        "type": f"https://directory.test/problems/{code}",
        "title": "Refused",
        "status": status,
        "detail": f"refused: {code}",
        "code": code,
        "request_id": request_id,
        **extra,
    }
    if rule is not None:
        body["rule"] = rule
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/problem+json",
            "X-Request-ID": request_id,
            **(headers or {}),
        },
    )


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
        return RetryPolicy(sleep=self.sleep, async_sleep=self.async_sleep, **settings)


class Harness:
    """A respx router behind a tracking transport, with a fake directory."""

    def __init__(self, directory: FakeDirectory | None = None) -> None:
        self.router = respx.Router(base_url=BASE, assert_all_called=False)
        self.directory = directory or FakeDirectory()
        self.supply_route = self.router.post(SUPPLY_PATH).mock(side_effect=self.directory)
        self.keys_route = self.router.get(DIRECTORY_KEYS_PATH).mock(
            return_value=httpx.Response(200, json=PublicKeySet([DIRECTORY.public_key()]).to_jwks())
        )
        self.transport = TrackingTransport(self.router.handler)
        self.waits = Waits()

    def client(self, mode: Mode, **settings: Any) -> AnyClient:
        settings.setdefault("directory_key", DIRECTORY.public_key())
        settings.setdefault("retry", self.waits.policy())
        common: dict[str, Any] = {
            "base_url": BASE,
            "supplier_id": SUPPLIER_ID,
            "agreement_id": AGREEMENT_ID,
            "signing_key": SUPPLIER,
            "clock": CLOCK,
            "transport": self.transport,
            **settings,
        }
        if mode == "sync":
            return SupplyClient(**common)
        return AsyncSupplyClient(**common)

    def sync_client(self, **settings: Any) -> SupplyClient:
        client = self.client("sync", **settings)
        assert isinstance(client, SupplyClient)
        return client

    def async_client(self, **settings: Any) -> AsyncSupplyClient:
        client = self.client("async", **settings)
        assert isinstance(client, AsyncSupplyClient)
        return client


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> Mode:
    value: Mode = request.param
    return value


async def send(client: AnyClient, batch: SupplyBatch) -> SupplyReceipt:
    if isinstance(client, AsyncSupplyClient):
        return await client.send_batch(batch)
    return client.send_batch(batch)


async def supply(client: AnyClient, operations: Iterable[AnyOperation]) -> SupplyResult:
    if isinstance(client, AsyncSupplyClient):
        return await client.supply(operations)
    return client.supply(operations)


async def close(client: AnyClient) -> None:
    if isinstance(client, AsyncSupplyClient):
        await client.close()
    else:
        client.close()


def one_batch(client: AnyClient, *operations: AnyOperation) -> SupplyBatch:
    (batch,) = client.build_batches(operations or (died("row-1"), died("row-2")))
    return batch


# --- the round trip ------------------------------------------------------------------


async def test_sup_5_round_trip_directory_opens_verifies_and_decodes(mode: Mode) -> None:
    harness = Harness(FakeDirectory(reject={"row-2"}))
    client = harness.client(mode)
    result = await supply(client, [supplied("pupil-1"), died("row-2")])
    await close(client)

    (batch,) = harness.directory.batches
    (opened,) = harness.directory.opened
    assert opened.signer_kid == SUPPLIER.kid
    assert opened.encryption_kid == DIRECTORY.kid
    assert opened.content_type == BATCH_CONTENT_TYPE
    assert batch.header.supplier_id == SUPPLIER_ID
    assert batch.header.agreement_id == AGREEMENT_ID
    assert batch.header.sequence == 1
    assert batch.header.created_at == NOW
    assert [op.operation for op in batch.operations] == [supplied("pupil-1"), died("row-2")]

    assert isinstance(result, SupplyResult)
    assert len(result) == 1
    assert result.batch_ids == (batch.header.batch_id,)
    assert [o.ref for o in result.accepted] == ["pupil-1"]
    (rejected,) = result.rejected
    assert (rejected.ref, rejected.status, rejected.code, rejected.rule) == (
        "row-2",
        OutcomeStatus.REJECTED,
        "child_not_found",
        "SUP-8",
    )
    assert not result.all_accepted

    (request,) = harness.directory.requests
    assert request.method == "POST"
    assert request.url == httpx.URL(BASE + SUPPLY_PATH)
    assert request.headers["Content-Type"] == ENVELOPE_CONTENT_TYPE
    assert request.headers["X-Request-ID"]
    assert request.headers["User-Agent"].startswith("contactpoint-sdk/")


async def test_sup_5_every_request_has_a_timeout(mode: Mode) -> None:
    harness = Harness()
    timeout = httpx.Timeout(7.0, connect=2.0)
    client = harness.client(mode, timeout=timeout, directory_key=None)
    await supply(client, [died()])
    await close(client)
    keys_request, supply_request = harness.router.calls[0].request, harness.router.calls[1].request
    for request in (keys_request, supply_request):
        assert request.extensions["timeout"] == timeout.as_dict()
    assert DEFAULT_TIMEOUT.connect == 10.0
    assert DEFAULT_TIMEOUT.read == 30.0


async def test_sup_5_batches_are_split_and_numbered_in_order(mode: Mode) -> None:
    harness = Harness()
    client = harness.client(mode, max_operations_per_batch=2)
    result = await supply(client, [died(f"row-{i}") for i in range(5)])
    await close(client)
    assert [b.header.sequence for b in harness.directory.batches] == [1, 2, 3]
    assert [len(b.operations) for b in harness.directory.batches] == [2, 2, 1]
    assert len(set(result.batch_ids)) == 3
    assert [o.ref for o in result.outcomes] == [f"row-{i}" for i in range(5)]
    assert result.all_accepted


async def test_sup_5_nothing_to_supply_sends_nothing(mode: Mode) -> None:
    harness = Harness()
    client = harness.client(mode)
    result = await supply(client, [])
    await close(client)
    assert result.receipts == ()
    assert harness.router.calls.call_count == 0


async def test_sup_5_signs_with_the_current_key_of_a_ring(mode: Mode) -> None:
    old = SigningKey.generate(kid="mis-old")
    ring = KeyRing.for_signing(
        [
            KeyRingEntry(old, None, NOW + timedelta(days=1)),
            KeyRingEntry(SUPPLIER, NOW - timedelta(days=1), None),
        ]
    )
    harness = Harness()
    client = harness.client(mode, signing_key=ring)
    await supply(client, [died()])
    await close(client)
    assert harness.directory.opened[0].signer_kid == SUPPLIER.kid


# --- the directory's key ---------------------------------------------------------------


async def test_sup_5_directory_key_fetched_once_and_cached(mode: Mode) -> None:
    harness = Harness()
    client = harness.client(mode, directory_key=None)
    await supply(client, [died("a")])
    await supply(client, [died("b")])
    if isinstance(client, AsyncSupplyClient):
        key = await client.directory_key()
    else:
        key = client.directory_key()
    await close(client)
    assert key == DIRECTORY.public_key()
    assert harness.keys_route.call_count == 1
    assert harness.supply_route.call_count == 2
    assert [o.encryption_kid for o in harness.directory.opened] == [DIRECTORY.kid] * 2


async def test_sup_5_refresh_directory_key_fetches_again(mode: Mode) -> None:
    harness = Harness()
    client = harness.client(mode, directory_key=None)
    if isinstance(client, AsyncSupplyClient):
        await client.directory_key()
        await client.refresh_directory_key()
    else:
        client.directory_key()
        client.refresh_directory_key()
    await close(client)
    assert harness.keys_route.call_count == 2


async def test_sup_5_pinned_directory_key_is_never_fetched(mode: Mode) -> None:
    harness = Harness()
    client = harness.client(mode)
    await supply(client, [died()])
    if isinstance(client, AsyncSupplyClient):
        with pytest.raises(ConfigurationError):
            await client.refresh_directory_key()
    else:
        with pytest.raises(ConfigurationError):
            client.refresh_directory_key()
    await close(client)
    assert harness.keys_route.call_count == 0


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, json={"keys": []}),
        httpx.Response(200, json={"keys": [SUPPLIER.public_jwk()]}),  # a signing key
        httpx.Response(200, text="<html>maintenance</html>"),
        httpx.Response(200, json=[1, 2]),
    ],
    ids=["empty", "wrong-curve", "html", "not-an-object"],
)
async def test_sup_5_unusable_directory_key_set_refused(mode: Mode, answer: httpx.Response) -> None:
    harness = Harness()
    harness.keys_route.mock(return_value=answer)
    client = harness.client(mode, directory_key=None)
    with pytest.raises(ResponseInvalid) as caught:
        await supply(client, [died()])
    await close(client)
    assert not isinstance(caught.value, SupplyInterrupted)
    assert caught.value.code == "directory_keys_invalid"
    assert harness.supply_route.call_count == 0


# --- retries -----------------------------------------------------------------------------


async def test_sup_5_timeouts_and_resets_retried_with_the_same_token(mode: Mode) -> None:
    directory = FakeDirectory(
        httpx.ConnectError, httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError, RECEIPT
    )
    harness = Harness(directory)
    client = harness.client(mode)
    batch = one_batch(client)
    receipt = await send(client, batch)
    await close(client)
    assert harness.supply_route.call_count == 5
    assert len(set(directory.bodies)) == 1  # the very same sealed envelope every time
    assert len({r.headers["X-Request-ID"] for r in directory.requests}) == 1
    assert receipt.batch_id == batch.batch_id
    assert harness.waits.seconds == [0.5, 1.0, 2.0, 4.0]


async def test_sup_5_503_retry_after_seconds_honoured_up_to_the_cap(mode: Mode) -> None:
    directory = FakeDirectory(
        problem(503, "unavailable", headers={"Retry-After": "7"}),
        problem(503, "unavailable", headers={"Retry-After": "3600"}),
        RECEIPT,
    )
    harness = Harness(directory)
    client = harness.client(mode, retry=harness.waits.policy(retry_after_cap=45.0))
    await send(client, one_batch(client))
    await close(client)
    assert harness.waits.seconds == [7.0, 45.0]
    assert len(set(directory.bodies)) == 1


async def test_sup_5_503_retry_after_http_date_honoured(mode: Mode) -> None:
    when = email.utils.format_datetime(NOW + timedelta(seconds=30), usegmt=True)
    directory = FakeDirectory(httpx.Response(503, headers={"Retry-After": when}), RECEIPT)
    harness = Harness(directory)
    client = harness.client(mode)
    await send(client, one_batch(client))
    await close(client)
    assert harness.waits.seconds == [30.0]


async def test_sup_5_429_then_success(mode: Mode) -> None:
    directory = FakeDirectory(problem(429, "rate_limited", headers={"Retry-After": "2"}), RECEIPT)
    harness = Harness(directory)
    client = harness.client(mode)
    receipt = await send(client, one_batch(client))
    await close(client)
    assert harness.supply_route.call_count == 2
    assert harness.waits.seconds == [2.0]
    assert len(receipt.accepted) == 2


async def test_sup_5_429_without_retry_after_backs_off(mode: Mode) -> None:
    directory = FakeDirectory(httpx.Response(429), httpx.Response(429), RECEIPT)
    harness = Harness(directory)
    client = harness.client(mode, retry=harness.waits.policy(initial_wait=1.0, multiplier=3.0))
    await send(client, one_batch(client))
    await close(client)
    assert harness.waits.seconds == [1.0, 3.0]


async def test_sup_5_400_is_never_retried(mode: Mode) -> None:
    directory = FakeDirectory(
        problem(
            400,
            "validation_failed",
            rule="REC-6",
            request_id="srv-400",
            problems=[
                {"path": "operations[0].notes", "code": "unknown_field", "rule": "REC-6"},
                "not a problem object",
            ],
        )
    )
    harness = Harness(directory)
    client = harness.client(mode)
    with pytest.raises(BadRequest) as caught:
        await send(client, one_batch(client))
    await close(client)
    assert harness.supply_route.call_count == 1
    assert harness.waits.seconds == []
    error = caught.value
    assert (error.status, error.code, error.rule, error.request_id) == (
        400,
        "validation_failed",
        "REC-6",
        "srv-400",
    )
    assert error.attempts == 1
    assert [(p.path, p.code, p.rule) for p in error.problems] == [
        ("operations[0].notes", "unknown_field", "REC-6")
    ]
    assert error.title == "Refused"
    assert error.detail == "refused: validation_failed"
    assert error.problem_type == "https://directory.test/problems/validation_failed"
    assert "(REC-6)" in str(error)


@pytest.mark.parametrize(
    ("answer", "error_type", "code", "rule"),
    [
        (problem(401, "envelope_signature_invalid"), Unauthorized, "envelope_signature_invalid",
         "SUP-5"),
        (problem(401, "envelope_unknown_key", rule="SUP-5"), Unauthorized, "envelope_unknown_key",
         "SUP-5"),
        (problem(403, "supplier_not_accredited", rule="SUP-3"), Forbidden,
         "supplier_not_accredited", "SUP-3"),
        (problem(403, "outside_agreement", rule="SUP-4"), Forbidden, "outside_agreement", "SUP-4"),
        (problem(409, "sequence_out_of_order"), Conflict, "sequence_out_of_order", None),
        (problem(413, "envelope_too_large"), PayloadTooLarge, "envelope_too_large", None),
        (problem(404, "not_found"), ApiError, "not_found", None),
    ],
)  # fmt: skip
async def test_sup_3_sup_4_sup_5_refusals_map_to_typed_errors_without_retry(
    mode: Mode, answer: httpx.Response, error_type: type[ApiError], code: str, rule: str | None
) -> None:
    harness = Harness(FakeDirectory(answer))
    client = harness.client(mode)
    with pytest.raises(error_type) as caught:
        await send(client, one_batch(client))
    await close(client)
    assert type(caught.value) is error_type
    assert (caught.value.code, caught.value.rule) == (code, rule)
    assert caught.value.request_id == "srv-err-1"
    assert caught.value.status == answer.status_code
    assert not caught.value.retryable
    assert harness.supply_route.call_count == 1


async def test_sup_5_retries_exhausted_raise_transport_failure_with_attempts(mode: Mode) -> None:
    directory = FakeDirectory(*([httpx.ConnectError] * 10))
    harness = Harness(directory)
    client = harness.client(mode, retry=harness.waits.policy(max_attempts=3))
    with pytest.raises(TransportFailure) as caught:
        await send(client, one_batch(client))
    await close(client)
    error = caught.value
    assert error.attempts == 3
    assert error.code == "connect_failed"
    assert isinstance(error.__cause__, httpx.ConnectError)
    assert error.request_id == directory.requests[0].headers["X-Request-ID"]
    assert harness.supply_route.call_count == 3
    assert len(harness.waits.seconds) == 2
    assert "after 3 attempts" in str(error)


async def test_sup_5_timeouts_exhausted(mode: Mode) -> None:
    harness = Harness(FakeDirectory(*([httpx.ReadTimeout] * 2)))
    client = harness.client(mode, retry=harness.waits.policy(max_attempts=2))
    with pytest.raises(TransportFailure) as caught:
        await send(client, one_batch(client))
    await close(client)
    assert (caught.value.code, caught.value.attempts) == ("timeout", 2)


async def test_sup_5_server_errors_exhausted_raise_the_last_one(mode: Mode) -> None:
    directory = FakeDirectory(
        problem(500, "internal", request_id="srv-a"),
        httpx.Response(502, text="<html>Bad gateway</html>", headers={"X-Request-ID": "proxy-b"}),
        httpx.Response(503, text="down"),
    )
    harness = Harness(directory)
    client = harness.client(mode, retry=harness.waits.policy(max_attempts=3))
    with pytest.raises(ServerError) as caught:
        await send(client, one_batch(client))
    await close(client)
    error = caught.value
    assert (error.status, error.code, error.attempts) == (503, "server_error", 3)
    # No X-Request-ID and no problem body: the ID the client sent.
    assert error.request_id == directory.requests[0].headers["X-Request-ID"]
    assert harness.supply_route.call_count == 3
    assert len(set(directory.bodies)) == 1


async def test_sup_5_unusable_transport_not_retried(mode: Mode) -> None:
    harness = Harness(FakeDirectory(httpx.UnsupportedProtocol))
    client = harness.client(mode)
    with pytest.raises(TransportFailure) as caught:
        await send(client, one_batch(client))
    await close(client)
    assert not caught.value.retryable
    assert caught.value.attempts == 1
    assert harness.supply_route.call_count == 1


# --- receipts: nothing but a receipt comes back (SUP-1) ------------------------------------


def _extra_top(body: dict[str, Any]) -> None:
    body["child"] = {"name": "Amelia Okafor"}


def _extra_in_outcome(body: dict[str, Any]) -> None:
    body["outcomes"][0]["date_of_birth"] = "2012-06-15"


def _other_batch(body: dict[str, Any]) -> None:
    body["batch_id"] = "someone-elses"


def _other_sequence(body: dict[str, Any]) -> None:
    body["sequence"] += 1


def _missing_outcome(body: dict[str, Any]) -> None:
    body["outcomes"].pop()


def _unknown_ref(body: dict[str, Any]) -> None:
    body["outcomes"][0]["ref"] = "not-sent"


def _bad_status(body: dict[str, Any]) -> None:
    body["outcomes"][0]["status"] = "maybe"


@pytest.mark.parametrize(
    ("change", "code", "path"),
    [
        (_extra_top, "receipt_invalid", "child"),
        (_extra_in_outcome, "receipt_invalid", "outcomes[0].date_of_birth"),
        (_bad_status, "receipt_invalid", "outcomes[0].status"),
        (_other_batch, "receipt_mismatch", None),
        (_other_sequence, "receipt_mismatch", None),
        (_missing_outcome, "receipt_mismatch", None),
        (_unknown_ref, "receipt_mismatch", None),
    ],
)
async def test_sup_1_receipt_with_anything_extra_or_foreign_refused(
    mode: Mode, change: Callable[[dict[str, Any]], None], code: str, path: str | None
) -> None:
    directory = FakeDirectory()
    directory.steps.append(directory.doctored(change))
    harness = Harness(directory)
    client = harness.client(mode)
    with pytest.raises(ReceiptInvalid) as caught:
        await send(client, one_batch(client))
    await close(client)
    error = caught.value
    assert (error.code, error.rule, error.request_id) == (code, "SUP-1", "srv-doctored")
    assert harness.supply_route.call_count == 1  # not retried
    if path is not None:
        assert path in [p.path for p in error.problems]
    assert "Amelia" not in str(error)
    assert "2012-06-15" not in str(error)


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="<html>welcome</html>", headers={"Content-Type": "text/html"}),
        httpx.Response(200, content=b"{not json", headers={"Content-Type": "application/json"}),
        httpx.Response(200, content=b'{"batch_id": 1, "batch_id": 2}',
                       headers={"Content-Type": "application/json"}),
        httpx.Response(200, content=b'{"sequence": NaN}',
                       headers={"Content-Type": "application/json"}),
        httpx.Response(200, json=["a", "list"]),
        httpx.Response(200, json={}),
        httpx.Response(200),
        httpx.Response(202, json={"queued": True}),
    ],
    ids=["html", "broken-json", "duplicate-keys", "nan", "list", "empty-object", "empty", "202"],
)  # fmt: skip
async def test_sup_1_junk_instead_of_a_receipt_refused(mode: Mode, answer: httpx.Response) -> None:
    harness = Harness(FakeDirectory(answer))
    client = harness.client(mode)
    with pytest.raises(ReceiptInvalid) as caught:
        await send(client, one_batch(client))
    await close(client)
    assert caught.value.rule == "SUP-1"
    assert caught.value.status == answer.status_code
    assert harness.supply_route.call_count == 1


# --- refused before sending -----------------------------------------------------------------


async def test_sens_2_sensitive_involvement_without_consent_refused_and_nothing_sent(
    mode: Mode,
) -> None:
    harness = Harness()
    client = harness.client(mode, directory_key=None)
    operations = [died(f"row-{i}") for i in range(3)] + [sensitive_without_consent()]
    with pytest.raises(PolicyRefusal) as caught:
        await supply(client, operations)
    assert (caught.value.rule, caught.value.code) == ("SENS-2", "consent_required")
    assert harness.router.calls.call_count == 0  # no key fetch, no batch
    # The refusal cost no sequence number.
    await supply(client, [died()])
    await close(client)
    assert harness.directory.batches[0].header.sequence == 1


async def test_sup_5_duplicate_refs_in_one_batch_refused_before_sending(mode: Mode) -> None:
    harness = Harness()
    client = harness.client(mode)
    with pytest.raises(ValidationError):
        await supply(client, [died("same"), died("same")])
    await close(client)
    assert harness.router.calls.call_count == 0


async def test_sup_5_batch_of_another_supplier_refused(mode: Mode) -> None:
    harness = Harness()
    client = harness.client(mode)
    batch = one_batch(client)
    foreign = SupplyBatch(
        supplier_id="other-supplier",
        agreement_id=batch.agreement_id,
        batch_id=batch.batch_id,
        sequence=batch.sequence,
        created_at=batch.created_at,
        operations=batch.operations,
    )
    with pytest.raises(ConfigurationError):
        await send(client, foreign)
    await close(client)
    assert harness.router.calls.call_count == 0


# --- a supply interrupted part way -----------------------------------------------------------


async def test_sup_6_interrupted_supply_keeps_receipts_and_pending_batches(mode: Mode) -> None:
    directory = FakeDirectory(RECEIPT, problem(400, "validation_failed"))
    harness = Harness(directory)
    client = harness.client(mode, max_operations_per_batch=1)
    with pytest.raises(SupplyInterrupted) as caught:
        await supply(client, [died("a"), died("b"), died("c")])
    error = caught.value
    assert isinstance(error.error, BadRequest)
    assert error.__cause__ is error.error
    assert [r.sequence for r in error.receipts] == [1]
    assert [b.sequence for b in error.pending] == [2, 3]
    # Resending a pending batch sends it unchanged: same batch ID and sequence.
    receipts = [await send(client, batch) for batch in error.pending]
    await close(client)
    assert [(r.batch_id, r.sequence) for r in receipts] == [
        (b.batch_id, b.sequence) for b in error.pending
    ]


# --- closing --------------------------------------------------------------------------------


def test_sup_5_sync_client_closes_its_transport_under_with() -> None:
    harness = Harness()
    with harness.sync_client() as client:
        client.supply([died()])
        assert not harness.transport.closed
    assert harness.transport.closed
    assert client.closed
    client.close()  # idempotent
    with pytest.raises(ConfigurationError) as caught:
        client.supply([died("again")])
    assert caught.value.code == "client_closed"


async def test_sup_5_async_client_closes_its_transport_under_async_with() -> None:
    harness = Harness()
    async with harness.async_client() as client:
        await client.supply([died()])
        assert not harness.transport.closed
    assert harness.transport.closed
    await client.aclose()  # idempotent
    with pytest.raises(ConfigurationError):
        await client.supply([died("again")])


def test_sup_5_transport_closed_when_the_block_raises() -> None:
    harness = Harness(FakeDirectory(problem(403, "supplier_not_accredited", rule="SUP-3")))
    client = harness.sync_client()
    with pytest.raises(SupplyInterrupted), client:
        client.supply([died()])
    assert harness.transport.closed


def test_sup_5_injected_http_client_is_left_open() -> None:
    harness = Harness()
    http = httpx.Client(transport=harness.transport)
    with SupplyClient(
        base_url=BASE,
        supplier_id=SUPPLIER_ID,
        agreement_id=AGREEMENT_ID,
        signing_key=SUPPLIER,
        directory_key=DIRECTORY.public_key(),
        clock=CLOCK,
        http_client=http,
        retry=NO_RETRY,
    ) as client:
        client.supply([died()])
    assert not http.is_closed
    http.close()
    assert harness.transport.closed


async def test_sup_5_injected_async_http_client_is_left_open() -> None:
    harness = Harness()
    http = httpx.AsyncClient(transport=harness.transport)
    async with AsyncSupplyClient(
        base_url=BASE + "/",
        supplier_id=SUPPLIER_ID,
        agreement_id=AGREEMENT_ID,
        signing_key=SUPPLIER,
        directory_key=DIRECTORY.public_key(),
        clock=CLOCK,
        http_client=http,
    ) as client:
        await client.supply([died()])
    assert not http.is_closed
    await http.aclose()


# --- the default transport, patched by respx ----------------------------------------------


def test_sup_5_default_transport_through_respx_mock() -> None:
    directory = FakeDirectory(httpx.ReadTimeout, RECEIPT)
    waits = Waits()
    with respx.mock(base_url=BASE + "/directory", assert_all_called=True) as mock:
        route = mock.post(SUPPLY_PATH).mock(side_effect=directory)
        with SupplyClient(
            base_url=BASE + "/directory/",
            supplier_id=SUPPLIER_ID,
            agreement_id=AGREEMENT_ID,
            signing_key=SUPPLIER,
            directory_key=DIRECTORY,  # the key itself: its public half is used
            clock=CLOCK,
            retry=waits.policy(),
        ) as client:
            result = client.supply([died()])
    assert route.call_count == 2
    assert directory.requests[0].url.path == "/directory" + SUPPLY_PATH
    assert result.all_accepted
    assert waits.seconds == [0.5]


# --- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize("base_url", ["ftp://directory.test", "not a url", "https://d.test/?q=1"])
def test_configuration_bad_base_url_refused(base_url: str) -> None:
    with pytest.raises(ConfigurationError):
        SupplyClient(
            base_url=base_url,
            supplier_id=SUPPLIER_ID,
            agreement_id=AGREEMENT_ID,
            signing_key=SUPPLIER,
        )


def test_configuration_bad_ids_and_keys_refused() -> None:
    common: dict[str, Any] = {
        "base_url": BASE,
        "supplier_id": SUPPLIER_ID,
        "agreement_id": AGREEMENT_ID,
        "signing_key": SUPPLIER,
    }
    with pytest.raises(ValidationError):
        SupplyClient(**{**common, "supplier_id": "has spaces"})
    with pytest.raises(ValidationError):
        SupplyClient(**{**common, "agreement_id": ""})
    with pytest.raises(KeyMaterialError):
        SupplyClient(**{**common, "signing_key": DIRECTORY})
    with pytest.raises(KeyMaterialError):
        SupplyClient(**{**common, "directory_key": SUPPLIER.public_key()})
    with pytest.raises(ConfigurationError):
        SupplyClient(
            **common,
            transport=httpx.MockTransport(lambda r: httpx.Response(200)),
            http_client=httpx.Client(),
        )


# --- the retry policy and error parsing, on their own ---------------------------------------


def test_retry_policy_backoff_grows_with_jitter_and_cap() -> None:
    policy = RetryPolicy(initial_wait=1.0, multiplier=2.0, max_wait=5.0, jitter=0.0)
    assert [policy.backoff(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert policy.backoff(10_000) == 5.0
    jittery = RetryPolicy(initial_wait=1.0, jitter=0.5, max_wait=100.0)
    for _ in range(50):
        assert 1.0 <= jittery.backoff(1) <= 1.5


def test_retry_policy_waits_for_retry_after_capped() -> None:
    policy = RetryPolicy(retry_after_cap=10.0, jitter=0.0)
    limited = RateLimited("slow down", status=429, retry_after=4.0)
    assert policy.wait_after(1, limited) == 4.0
    assert policy.wait_after(1, RateLimited("x", status=429, retry_after=99.0)) == 10.0
    assert policy.wait_after(1, RateLimited("x", status=429)) == policy.backoff(1)


def test_retry_policy_retries_only_transient_failures() -> None:
    policy = RetryPolicy()
    assert policy.should_retry(RateLimited("x", status=429))
    assert policy.should_retry(ServerError("x", status=503))
    assert policy.should_retry(TransportFailure("x"))
    assert not policy.should_retry(TransportFailure("x", retryable=False))
    for status, cls in [(400, BadRequest), (401, Unauthorized), (403, Forbidden), (409, Conflict)]:
        assert not policy.should_retry(cls("x", status=status))
    assert not policy.should_retry(ReceiptInvalid("x", status=200))
    assert not policy.should_retry(ValueError("x"))


@pytest.mark.parametrize(
    "settings",
    [{"max_attempts": 0}, {"initial_wait": -1.0}, {"multiplier": 0.5}, {"jitter": -0.1}],
)
def test_retry_policy_refuses_impossible_settings(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must"):
        RetryPolicy(**settings)


def test_retry_policy_call_counts_attempts_and_reraises() -> None:
    waits = Waits()
    policy = waits.policy(max_attempts=4)
    seen: list[int] = []

    def attempt(n: int) -> str:
        seen.append(n)
        raise ServerError("down", status=503, attempts=n)

    with pytest.raises(ServerError) as caught:
        policy.call(attempt)
    assert seen == [1, 2, 3, 4]
    assert caught.value.attempts == 4
    assert len(waits.seconds) == 3


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Mon, 01 Sep 2025 08:30:30 GMT", 30.0),
        ("Mon, 01 Sep 2025 08:00:00 GMT", 0.0),  # in the past
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_error_body_that_is_not_a_problem_is_tolerated() -> None:
    request = httpx.Request("POST", BASE + SUPPLY_PATH)
    response = httpx.Response(403, text="Forbidden by proxy", request=request)
    error = error_for_response(response, now=NOW, request_id="client-1")
    assert isinstance(error, Forbidden)
    assert (error.code, error.rule, error.request_id) == ("forbidden", None, "client-1")
    assert error.problems == ()
    assert "403" in str(error)
