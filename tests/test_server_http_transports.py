"""One state, served two ways: the in-process transports (issue 5, item 2).

The sync transport (a private event loop in a daemon thread) and the async
one (``httpx.ASGITransport``) serve ONE app over ONE service: what one
supplies, the other sees. Supply end to end with plain httpx and with the SDK
clients; request IDs echoed or made; clean close with no thread left behind.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette

from contactpoint_sdk.models.operations import OutcomeStatus, SupplyReceipt
from contactpoint_sdk.reference_server import DirectoryService
from contactpoint_sdk.reference_server.app import create_app
from contactpoint_sdk.reference_server.transport import (
    AsyncInProcessTransport,
    InProcessTransport,
)
from contactpoint_sdk.supply.client import AsyncSupplyClient, SupplyClient
from contactpoint_sdk.supply.retry import RetryPolicy
from tests.test_server_http_support import (
    AGREEMENT,
    JOSE,
    SUPPLIER,
    Supplier,
    directory_threads,
    new_directory,
    no_leaked_threads,
    pupil,
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
def app(directory: DirectoryService) -> Starlette:
    return create_app(directory)


def test_a_sealed_batch_posted_with_plain_httpx_gets_a_receipt_and_a_resend_the_same(
    directory: DirectoryService, app: Starlette
) -> None:
    source = Supplier(directory).register()
    batch = source.batch(pupil(1), pupil(2))
    token = source.seal(batch)
    with httpx.Client(base_url=BASE, transport=InProcessTransport(app)) as http:
        first = http.post("/v1/supply/batches", content=token, headers=JOSE)
        assert first.status_code == 200
        assert first.headers["content-type"] == "application/json"
        receipt = directory.codec.decode(first.json(), SupplyReceipt)
        assert receipt.batch_id == batch.batch_id
        assert [o.status for o in receipt.outcomes] == [OutcomeStatus.ACCEPTED] * 2
        counts = directory.counts()
        again = http.post("/v1/supply/batches", content=token, headers=JOSE)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert directory.counts() == counts == {**counts, "live": 2}


async def test_sync_and_async_transports_serve_one_state(
    directory: DirectoryService, app: Starlette
) -> None:
    source = Supplier(directory).register()
    batch = source.batch()
    token = source.seal(batch)
    with httpx.Client(base_url=BASE, transport=InProcessTransport(app)) as sync_http:
        sent = sync_http.post("/v1/supply/batches", content=token, headers=JOSE)
        async with httpx.AsyncClient(
            base_url=BASE, transport=AsyncInProcessTransport(app)
        ) as async_http:
            # The async side sees the batch the sync side supplied: a resend.
            resent = await async_http.post("/v1/supply/batches", content=token, headers=JOSE)
            assert resent.json() == sent.json()
            # ... and its controls move the one clock both see.
            moved = await async_http.post("/v1/_control/clock", json={"advance": {"days": 1}})
            assert moved.status_code == 200
        assert sync_http.get("/v1/_control/clock").json() == moved.json()
    assert directory.counts()["live"] == 1


def test_the_request_id_is_echoed_or_made(app: Starlette) -> None:
    with httpx.Client(base_url=BASE, transport=InProcessTransport(app)) as http:
        echoed = http.get("/v1/health", headers={"X-Request-ID": "vendor-trace.42:a_b-c"})
        made = http.get("/v1/health")
        other = http.get("/v1/health")
        unusable = http.get("/v1/health", headers={"X-Request-ID": "has spaces & <html>"})
        too_long = http.get("/v1/health", headers={"X-Request-ID": "x" * 129})
        on_error = http.get("/v1/nowhere", headers={"X-Request-ID": "trace-404"})
    assert echoed.headers["X-Request-ID"] == "vendor-trace.42:a_b-c"
    assert made.headers["X-Request-ID"]
    assert made.headers["X-Request-ID"] != other.headers["X-Request-ID"]
    assert unusable.headers["X-Request-ID"] != "has spaces & <html>"
    assert len(too_long.headers["X-Request-ID"]) < 129
    assert on_error.headers["X-Request-ID"] == "trace-404"
    assert on_error.json()["request_id"] == "trace-404"


def test_the_sync_transport_runs_one_thread_and_stops_it_on_close(app: Starlette) -> None:
    before = set(directory_threads())
    transport = InProcessTransport(app)
    assert not transport.running  # started at the first request, not before
    with httpx.Client(base_url=BASE, transport=transport) as http:
        assert http.get("/v1/health").status_code == 200
        assert transport.running
        assert len(set(directory_threads()) - before) == 1
    assert not transport.running
    assert set(directory_threads()) == before
    transport.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        transport.handle_request(httpx.Request("GET", f"{BASE}/v1/health"))


def test_an_unclosed_sync_transport_is_stopped_when_collected(app: Starlette) -> None:
    before = set(directory_threads())
    transport = InProcessTransport(app)
    http = httpx.Client(base_url=BASE, transport=transport)
    assert http.get("/v1/health").status_code == 200
    (thread,) = set(directory_threads()) - before
    del http, transport
    gc.collect()
    thread.join(5)
    assert not thread.is_alive()


def test_the_sync_transport_serves_many_threads_at_once(
    directory: DirectoryService, app: Starlette
) -> None:
    source = Supplier(directory).register()
    tokens = [source.seal(source.batch(pupil(n))) for n in range(1, 9)]
    statuses: list[int] = []
    with httpx.Client(base_url=BASE, transport=InProcessTransport(app)) as http:
        # Sent in order by one thread first (sequence numbers must rise) ...
        statuses += [
            http.post("/v1/supply/batches", content=t, headers=JOSE).status_code for t in tokens
        ]

        # ... then resent from eight threads at once: every one a resend.
        def resend(token: str) -> None:
            statuses.append(
                http.post("/v1/supply/batches", content=token, headers=JOSE).status_code
            )

        workers = [threading.Thread(target=resend, args=(t,)) for t in tokens]
        for w in workers:
            w.start()
        for w in workers:
            w.join(10)
    assert statuses == [200] * 16
    assert directory.counts()["live"] == 8


def test_an_exception_in_the_app_can_be_raised_in_the_test_instead(
    directory: DirectoryService, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> dict[str, int]:
        raise RuntimeError("boom")

    monkeypatch.setattr(directory, "counts", broken)
    app = create_app(directory)
    with httpx.Client(base_url=BASE, transport=InProcessTransport(app)) as http:
        assert http.get("/v1/_control/counts").status_code == 500
    raising = InProcessTransport(app, raise_app_exceptions=True)
    with (
        httpx.Client(base_url=BASE, transport=raising) as http,
        pytest.raises(RuntimeError, match="boom"),
    ):
        http.get("/v1/_control/counts")


def _clients_config(directory: DirectoryService, source: Supplier) -> dict[str, object]:
    return {
        "base_url": BASE,
        "supplier_id": SUPPLIER,
        "agreement_id": AGREEMENT,
        "signing_key": source.key,
        "clock": directory.clock,
        "retry": RetryPolicy(initial_wait=0, jitter=0, sleep=lambda _: None),
    }


def test_the_sync_supply_client_supplies_through_the_in_process_transport(
    directory: DirectoryService, app: Starlette
) -> None:
    source = Supplier(directory).register()
    with SupplyClient(
        transport=InProcessTransport(app),
        **_clients_config(directory, source),  # type: ignore[arg-type]
    ) as client:
        # The client fetches the directory's key from GET /v1/keys/directory.
        assert client.directory_key() == directory.directory_public_key()
        result = client.supply([pupil(1), pupil(2), pupil(3)])
        (batch,) = client.build_batches([pupil(4)])
        receipt = client.send_batch(batch)
        assert client.send_batch(batch) == receipt  # a resend: its first receipt
    assert result.all_accepted
    assert directory.counts()["live"] == 4


async def test_the_async_supply_client_supplies_through_the_async_transport(
    directory: DirectoryService, app: Starlette
) -> None:
    source = Supplier(directory).register()
    client = AsyncSupplyClient(
        transport=AsyncInProcessTransport(app),
        **_clients_config(directory, source),  # type: ignore[arg-type]
    )
    try:
        result = await client.supply([pupil(1), pupil(2)])
        (batch,) = client.build_batches([pupil(3)])
        receipt, again = await asyncio.gather(client.send_batch(batch), client.send_batch(batch))
    finally:
        await client.aclose()
    assert result.all_accepted
    assert receipt == again
    assert directory.counts()["live"] == 3
