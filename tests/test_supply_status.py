"""``POST /v1/supply/status``: a supplier's last accepted sequence number.

Review finding M1's gap: a CTF roster restored from a backup was found stale
only when a batch was refused out of order, so a run with nothing to send
never noticed. The directory now tells a supplier, and only that supplier,
the last batch sequence number it accepted from it (a number, no child data:
SUP-1), asked with a status request sealed like a batch (SUP-5); the CLI asks
at the start of every run (SUP-8).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from contactpoint_sdk.errors import (
    ApiError,
    ResponseInvalid,
    SupplierNotAccredited,
)
from contactpoint_sdk.reference_server import DirectoryService
from contactpoint_sdk.reference_server.app import create_app
from contactpoint_sdk.reference_server.transport import (
    AsyncInProcessTransport,
    InProcessTransport,
)
from contactpoint_sdk.supply.client import STATUS_PATH, AsyncSupplyClient, SupplyClient
from contactpoint_sdk.supply.envelope import STATUS_CONTENT_TYPE, seal
from contactpoint_sdk.supply.keys import SigningKey
from contactpoint_sdk.supply.retry import RetryPolicy
from contactpoint_sdk.supply.roster import RosterFile
from tests.test_ctf_cli import PASSPHRASE, SUPPLIER, School, run, school
from tests.test_server_http_support import (
    AGREEMENT,
    JOSE,
    Supplier,
    new_directory,
    pupil,
)

__all__ = ["school"]  # the fixture, shared with test_ctf_cli

BASE = "https://directory.test"


@pytest.fixture
def directory() -> Iterator[DirectoryService]:
    service = new_directory()
    yield service
    service.close()


@pytest.fixture
def http(directory: DirectoryService) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=BASE, transport=InProcessTransport(create_app(directory))) as c:
        yield c


def _request(
    directory: DirectoryService,
    key: SigningKey,
    *,
    supplier_id: str = "school-8012000",
    agreement_id: str = AGREEMENT,
    age: timedelta = timedelta(0),
    payload: dict[str, Any] | None = None,
    content_type: str = STATUS_CONTENT_TYPE,
) -> str:
    body = payload or {"supplier_id": supplier_id, "agreement_id": agreement_id, "nonce": "n"}
    return seal(
        json.dumps(body).encode(),
        signing_key=key,
        recipient=directory.directory_public_key(),
        now=directory.clock.now() - age,
        content_type=content_type,
    )


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


def _status(http: httpx.Client, token: str) -> httpx.Response:
    return http.post(STATUS_PATH, content=token, headers=JOSE)


# --- the route --------------------------------------------------------------------


def test_sup_1_the_right_key_gets_its_last_sequence_number_and_nothing_else(
    directory: DirectoryService, http: httpx.Client
) -> None:
    source = Supplier(directory).register()
    answer = _status(http, _request(directory, source.key, supplier_id=source.supplier_id))
    assert answer.status_code == 200
    assert answer.json() == {"last_sequence": 0}
    batch = source.batch(pupil(1))
    sent = http.post("/v1/supply/batches", content=source.seal(batch), headers=JOSE)
    assert sent.status_code == 200
    answer = _status(http, _request(directory, source.key, supplier_id=source.supplier_id))
    assert answer.json() == {"last_sequence": batch.sequence}  # SUP-1: a number, no child data


def test_sup_5_a_key_no_supplier_registered_is_a_401_problem(
    directory: DirectoryService, http: httpx.Client
) -> None:
    source = Supplier(directory).register()
    stranger = _request(directory, SigningKey.generate(), supplier_id=source.supplier_id)
    body = _problem(_status(http, stranger), 401, "envelope_unknown_key")
    assert body["rule"] == "SUP-5"


def test_sup_3_another_suppliers_id_is_refused(
    directory: DirectoryService, http: httpx.Client
) -> None:
    mine = Supplier(directory).register()
    theirs = Supplier(directory, "school-8012999").register()
    asked = _request(directory, mine.key, supplier_id=theirs.supplier_id)
    body = _problem(_status(http, asked), 403, "supplier_not_accredited")
    assert body["rule"] == "SUP-3"


def test_sup_4_an_agreement_the_supplier_does_not_hold_is_refused(
    directory: DirectoryService, http: httpx.Client
) -> None:
    source = Supplier(directory).register()
    asked = _request(directory, source.key, supplier_id=source.supplier_id, agreement_id="AG-X")
    _problem(_status(http, asked), 403, "outside_agreement")


def test_sup_5_an_old_status_request_is_refused_as_a_replay(
    directory: DirectoryService, http: httpx.Client
) -> None:
    source = Supplier(directory).register()
    old = _request(directory, source.key, supplier_id=source.supplier_id, age=timedelta(minutes=10))
    _problem(_status(http, old), 401, "status_request_stale")


def test_sup_5_a_batch_is_not_a_status_request_nor_the_other_way_round(
    directory: DirectoryService, http: httpx.Client
) -> None:
    source = Supplier(directory).register()
    batch_token = source.seal(source.batch(pupil(1)))
    _problem(_status(http, batch_token), 400, "envelope_header_invalid")
    status_token = _request(directory, source.key, supplier_id=source.supplier_id)
    refused = http.post("/v1/supply/batches", content=status_token, headers=JOSE)
    assert refused.status_code == 400
    assert directory.counts()["live"] == 0


def test_sup_5_a_status_payload_of_anything_else_is_malformed(
    directory: DirectoryService, http: httpx.Client
) -> None:
    source = Supplier(directory).register()
    extra = {"supplier_id": source.supplier_id, "agreement_id": AGREEMENT, "nonce": "n", "x": "y"}
    asked = _request(directory, source.key, payload=extra)
    _problem(_status(http, asked), 400, "envelope_malformed")


def test_the_status_request_is_audited_by_supplier(directory: DirectoryService) -> None:
    source = Supplier(directory).register()
    assert directory.supply_status(_request(directory, source.key)) == 0
    with pytest.raises(SupplierNotAccredited):
        directory.supply_status(_request(directory, source.key, supplier_id="school-1"))


# --- the clients --------------------------------------------------------------------


def _client(directory: DirectoryService, source: Supplier, **kwargs: Any) -> SupplyClient:
    return SupplyClient(
        base_url=BASE,
        supplier_id=source.supplier_id,
        agreement_id=AGREEMENT,
        signing_key=source.key,
        clock=directory.clock,
        transport=InProcessTransport(create_app(directory)),
        **kwargs,
    )


def test_the_client_asks_for_its_last_sequence(directory: DirectoryService) -> None:
    source = Supplier(directory).register()
    with _client(directory, source) as client:
        assert client.status() == 0
        result = client.supply([pupil(1)])
        assert client.status() == result.receipts[-1].sequence


def test_the_async_client_asks_for_its_last_sequence(directory: DirectoryService) -> None:
    source = Supplier(directory).register()

    async def scenario() -> tuple[int, int, int]:
        async with AsyncSupplyClient(
            base_url=BASE,
            supplier_id=source.supplier_id,
            agreement_id=AGREEMENT,
            signing_key=source.key,
            clock=directory.clock,
            transport=AsyncInProcessTransport(create_app(directory)),
        ) as client:
            before = await client.status()
            result = await client.supply([pupil(1)])
            return before, await client.status(), result.receipts[-1].sequence

    before, after, sequence = asyncio.run(scenario())
    assert (before, after) == (0, sequence)


def test_the_client_refuses_an_answer_that_is_more_than_a_number(
    directory: DirectoryService,
) -> None:
    source = Supplier(directory).register()
    answers = iter(
        [
            {"last_sequence": 3, "child": {"name": "Amelia"}},
            {"last_sequence": -1},
            {"last_sequence": True},
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == STATUS_PATH
        assert request.headers["content-type"] == "application/jose"
        return httpx.Response(200, json=next(answers))

    for _ in range(3):
        with SupplyClient(
            base_url=BASE,
            supplier_id=source.supplier_id,
            agreement_id=AGREEMENT,
            signing_key=source.key,
            directory_key=directory.directory_public_key(),
            clock=directory.clock,
            transport=httpx.MockTransport(handler),
        ) as client:
            with pytest.raises(ResponseInvalid) as refused:
                client.status()
            assert refused.value.code == "status_invalid"


def test_the_client_raises_the_directorys_refusal(directory: DirectoryService) -> None:
    source = Supplier(directory)  # never registered
    with (
        _client(
            directory,
            source,
            directory_key=directory.directory_public_key(),
            retry=RetryPolicy(max_attempts=1),
        ) as client,
        pytest.raises(ApiError) as refused,
    ):
        client.status()
    assert refused.value.code == "envelope_unknown_key"


# --- the CLI: a restored roster on a run with nothing to send (SUP-8) --------------------


def test_sup_8_a_restored_roster_is_found_stale_on_a_run_with_nothing_to_send(
    school: School, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(school.argv("roll-autumn.xml")) == 0
    backup = school.root / "backup.roster"
    shutil.copy(school.roster, backup)
    assert run(school.argv("roll-spring.xml")) == 0
    shutil.copy(backup, school.roster)  # a backup restored
    capsys.readouterr()

    # The autumn roll again: the restored roster holds it, so nothing to send.
    assert run(school.argv("roll-autumn.xml")) == 1
    out = capsys.readouterr().out
    assert "[roster_stale]" in out
    assert "older than what the directory accepted from this supplier" in out
    roster = RosterFile(school.roster, PASSPHRASE).load(SUPPLIER)
    assert roster.stale_since is not None
    # every later run refuses at once
    assert run(school.argv("roll-autumn.xml")) == 1
    assert "[roster_stale]" in capsys.readouterr().out


def test_sup_8_a_current_roster_with_nothing_to_send_passes_the_check(
    school: School, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(school.argv("roll-autumn.xml")) == 0
    assert run(school.argv("roll-autumn.xml")) == 0
    assert "roster_stale" not in capsys.readouterr().out
    assert RosterFile(school.roster, PASSPHRASE).load(SUPPLIER).stale_since is None
