"""The reference directory over HTTPS on loopback (issue 5, item 2; ACC-7).

Real TLS handshakes against the generated certificate; client certificates
required on request; faults over a real socket; the supply client over
HTTPS; the ``contactpoint serve`` entry point printing its URL; and nothing
left running afterwards.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from contactpoint_sdk.clock import FixedClock
from contactpoint_sdk.reference_server import DirectoryService
from contactpoint_sdk.reference_server.app import create_app
from contactpoint_sdk.reference_server.faults import FaultInjector
from contactpoint_sdk.reference_server.serve import (
    LoopbackServer,
    add_serve_arguments,
    generate_tls_files,
)
from contactpoint_sdk.supply.batch import BatchBuilder, MemorySequence, encode_batch
from contactpoint_sdk.supply.client import AsyncSupplyClient, SupplyClient
from contactpoint_sdk.supply.envelope import seal
from contactpoint_sdk.supply.keys import PublicKey
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
_REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def directory() -> Iterator[DirectoryService]:
    service = new_directory()
    yield service
    service.close()


@pytest.fixture
def faults() -> FaultInjector:
    return FaultInjector()


@pytest.fixture
def server(directory: DirectoryService, faults: FaultInjector) -> Iterator[LoopbackServer]:
    with LoopbackServer(directory, faults=faults) as running:
        yield running


def test_port_0_picks_a_free_port_and_a_verified_tls_handshake_succeeds(
    server: LoopbackServer,
) -> None:
    assert server.url.startswith("https://127.0.0.1:")
    assert server.port > 0
    with server.client() as http:
        answer = http.get("/v1/health", headers={"X-Request-ID": "over-tls"})
        assert answer.status_code == 200
        assert answer.headers["X-Request-ID"] == "over-tls"
        assert answer.extensions["http_version"] == b"HTTP/1.1"
    # The certificate names localhost as well as 127.0.0.1.
    with httpx.Client(verify=server.ssl_context()) as http:
        assert http.get(f"https://localhost:{server.port}/v1/health").status_code == 200
    # And the handshake really is TLS 1.2 or later, checked by the standard library.
    context = server.ssl_context()
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        peer = tls.getpeercert()
        assert peer is not None
        assert ("IP Address", "127.0.0.1") in peer["subjectAltName"]


def test_a_client_that_does_not_trust_the_generated_ca_is_refused(
    server: LoopbackServer, tmp_path: Path
) -> None:
    other = generate_tls_files(tmp_path / "other")
    with (
        httpx.Client(verify=other.client_ssl_context()) as http,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        http.get(f"{server.url}/v1/health")
    with (
        httpx.Client(verify=ssl.create_default_context()) as http,
        pytest.raises(httpx.ConnectError),
    ):
        http.get(f"{server.url}/v1/health")


def test_client_certificates_can_be_required_acc_7(directory: DirectoryService) -> None:
    source = Supplier(directory).register()
    token = source.seal(source.batch())
    with LoopbackServer(directory, require_client_cert=True) as server:
        assert server.tls.client_cert is not None
        with (
            server.client(with_client_cert=False) as http,
            pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)),
        ):
            http.post("/v1/supply/batches", content=token, headers=JOSE)
        assert directory.counts()["live"] == 0  # refused before any request was read
        with server.client() as http:
            assert http.post("/v1/supply/batches", content=token, headers=JOSE).status_code == 200
    assert directory.counts()["live"] == 1


def test_faults_over_a_real_socket(server: LoopbackServer, faults: FaultInjector) -> None:
    faults.rate_limit(1, retry_after=4)
    faults.drop(1)
    faults.slow(1, delay=0.5)
    with server.client() as http:
        limited = http.get("/v1/health")
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "4"
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            http.get("/v1/health")
        with pytest.raises(httpx.ReadTimeout):
            http.get("/v1/health", timeout=httpx.Timeout(5, read=0.1))
        assert http.get("/v1/health").status_code == 200
        # Over HTTP too: the control routes reach the same injector.
        assert http.post("/v1/_control/faults", json={"kind": "unavailable"}).status_code == 201
        assert http.get("/v1/health").status_code == 503


def test_the_supply_clients_supply_over_https(
    directory: DirectoryService, server: LoopbackServer, faults: FaultInjector
) -> None:
    source = Supplier(directory).register()
    waits: list[float] = []
    retry = RetryPolicy(initial_wait=0, jitter=0, sleep=waits.append)
    # The first POST loses its connection, the second is told to wait.
    faults.drop(1, path_prefix="/v1/supply/")
    faults.unavailable(1, retry_after=2, path_prefix="/v1/supply/")
    with (
        server.client() as http,
        SupplyClient(
            base_url=server.url,
            supplier_id=SUPPLIER,
            agreement_id=AGREEMENT,
            signing_key=source.key,
            clock=directory.clock,
            retry=retry,
            http_client=http,
        ) as client,
    ):
        assert client.directory_key() == directory.directory_public_key()
        (batch,) = client.build_batches([pupil(1), pupil(2)])
        receipt = client.send_batch(batch)
        assert client.send_batch(batch) == receipt
    assert len(receipt.accepted) == 2
    assert directory.counts()["live"] == 2
    assert waits == [0.0, 2.0]


async def test_the_async_supply_client_supplies_over_https(
    directory: DirectoryService, server: LoopbackServer
) -> None:
    source = Supplier(directory).register()
    async with server.async_client() as http:
        client = AsyncSupplyClient(
            base_url=server.url,
            supplier_id=SUPPLIER,
            agreement_id=AGREEMENT,
            signing_key=source.key,
            clock=directory.clock,
            http_client=http,
        )
        result = await client.supply([pupil(1)])
        await client.aclose()
    assert result.all_accepted


def test_the_server_stops_cleanly(directory: DirectoryService) -> None:
    before = set(directory_threads())
    server = LoopbackServer(app=create_app(directory))
    with server:
        tls_dir = server.tls.directory
        assert tls_dir.is_dir()
        assert (tls_dir / "server-key.pem").stat().st_mode & 0o077 == 0
        assert server.running
        port = server.port
        with server.client() as http:  # a kept-alive connection must not hold it open
            assert http.get("/v1/health").status_code == 200
            server.stop()
    assert not server.running
    assert set(directory_threads()) == before
    assert not tls_dir.exists()
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=1),
    ):
        pass
    server.stop()  # idempotent


def test_only_loopback_is_served(directory: DirectoryService) -> None:
    with pytest.raises(ValueError, match="loopback"):
        LoopbackServer(directory, host="0.0.0.0")  # noqa: S104 - the refusal is the point
    with pytest.raises(ValueError, match="not both"):
        LoopbackServer(directory, app=create_app(directory))


def test_serve_arguments() -> None:
    parser = argparse.ArgumentParser(prog="contactpoint serve")
    add_serve_arguments(parser)
    args = parser.parse_args(["--port", "0", "--require-client-cert", "--population", "5"])
    assert (args.port, args.require_client_cert, args.population) == (0, True, 5)
    assert args.host == "127.0.0.1"
    with pytest.raises(SystemExit):
        parser.parse_args(["--host", "example.org"])


_SERVE = """
import argparse, sys
from contactpoint_sdk.reference_server.serve import add_serve_arguments, run_serve
parser = argparse.ArgumentParser(prog="contactpoint serve")
add_serve_arguments(parser)
sys.exit(run_serve(parser.parse_args(sys.argv[1:])))
"""


def test_contactpoint_serve_prints_its_url_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    tls_dir = tmp_path / "tls"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and code
        [
            sys.executable,
            "-c",
            _SERVE,
            "--port",
            "0",
            "--population",
            "3",
            "--tls-dir",
            str(tls_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=_REPO,
    )
    try:
        assert process.stdout is not None
        printed: dict[str, str] = {}
        deadline = time.monotonic() + 20
        while "CONTACTPOINT_CA_FILE" not in printed and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            if "=" in line:
                name, _, value = line.strip().partition("=")
                printed[name] = value
        url = printed["CONTACTPOINT_DIRECTORY_URL"]
        assert url.startswith("https://127.0.0.1:")
        assert Path(printed["CONTACTPOINT_CA_FILE"]) == tls_dir / "ca.pem"
        context = ssl.create_default_context(cafile=printed["CONTACTPOINT_CA_FILE"])
        with httpx.Client(base_url=url, verify=context) as http:
            for _ in range(100):
                try:
                    answer = http.get("/v1/_control/counts")
                    break
                except httpx.ConnectError:
                    time.sleep(0.05)
            assert answer.json()["live"] == 3
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, errors = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate(timeout=5)
            raise
    assert process.returncode == 0, errors
    assert (tls_dir / "ca.pem").exists()  # a --tls-dir given is kept


class _ServeProcess:
    """``contactpoint serve`` in a child process, over a database file."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", _SERVE, "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=_REPO,
        )
        assert self.process.stdout is not None
        printed: dict[str, str] = {}
        deadline = time.monotonic() + 20
        while "CONTACTPOINT_CA_FILE" not in printed and time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            name, _, value = line.strip().partition("=")
            printed[name] = value
        self.url = printed["CONTACTPOINT_DIRECTORY_URL"]
        self.verify = ssl.create_default_context(cafile=printed["CONTACTPOINT_CA_FILE"])

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.verify, timeout=30)

    def stop(self, sig: int = signal.SIGINT) -> int:
        self.process.send_signal(sig)
        try:
            self.process.communicate(timeout=15)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung server
            self.process.kill()
            self.process.communicate(timeout=5)
        return self.process.returncode


def _sealed(source: Supplier, key: PublicKey, serials: range, sequence: int) -> str:
    clock = FixedClock(datetime.now(UTC))
    builder = BatchBuilder(
        supplier_id=SUPPLIER,
        agreement_id=AGREEMENT,
        clock=clock,
        sequence=MemorySequence(sequence),
    )
    (batch,) = builder.build(pupil(n) for n in serials)
    return seal(encode_batch(batch), signing_key=source.key, recipient=key, now=clock.now())


def test_a_server_killed_during_ingest_leaves_no_half_batch_and_the_resend_applies_once(
    tmp_path: Path,
) -> None:
    """SIGKILL half-way through applying a 500-operation batch, then restart
    on the same database: the batch is all there or not at all, and the
    resend (same batch ID) is applied exactly once (issue 5, Tests)."""
    database = str(tmp_path / "directory.db")
    tls = ["--tls-dir", str(tmp_path / "tls")]
    source = Supplier(new_directory())  # its key and registration document only
    source.directory.close()
    first = _ServeProcess("--database", database, *tls)
    failures: list[BaseException] = []
    try:
        with first.client() as http:
            registered = http.post("/v1/_control/suppliers", json=source.registration())
            assert registered.status_code == 201
            key = PublicKey.from_jwk(http.get("/v1/keys/directory").json()["keys"][0])
            # How long a 500-operation batch takes here, so the kill lands mid-way.
            calibration = _sealed(source, key, range(1001, 1501), sequence=1)
            started = time.perf_counter()
            assert http.post("/v1/supply/batches", content=calibration, headers=JOSE).is_success
            took = time.perf_counter() - started
        token = _sealed(source, key, range(1, 501), sequence=2)

        def send() -> None:
            try:
                with first.client() as http:
                    http.post("/v1/supply/batches", content=token, headers=JOSE)
            except httpx.TransportError as error:  # the server was killed
                failures.append(error)

        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(took / 2)
    finally:
        first.stop(signal.SIGKILL)
    sender.join(15)
    assert failures, "the batch was answered before the kill"

    second = _ServeProcess("--database", database, *tls)
    try:
        with second.client() as http:
            live = http.get("/v1/_control/counts").json()["live"]
            assert live in (500, 1000), "a half-applied batch"
            resent = http.post("/v1/supply/batches", content=token, headers=JOSE)
            assert resent.status_code == 200, resent.text
            assert len(resent.json()["outcomes"]) == 500
            assert http.get("/v1/_control/counts").json()["live"] == 1000
            again = http.post("/v1/supply/batches", content=token, headers=JOSE)
            assert again.json() == resent.json()
            assert http.get("/v1/_control/counts").json()["live"] == 1000
    finally:
        assert second.stop() == 0
