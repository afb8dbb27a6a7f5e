"""The reference directory over HTTPS on loopback (ACC-7: a secured link only).

Three ways in:

- :class:`LoopbackServer`, a context manager for tests: it starts uvicorn in a
  thread on ``127.0.0.1``, waits until it accepts connections, and stops it
  cleanly (the thread joined, the certificates removed)::

      with LoopbackServer(service) as server:
          with server.client() as http:          # verifies the generated CA
              http.get("/v1/health")

- :func:`serve`, which blocks (``Ctrl+C`` or SIGTERM stops it) and prints
  where it listens; and :func:`add_serve_arguments` / :func:`run_serve` for
  the ``contactpoint serve`` command.
- :func:`generate_tls_files`, the certificates on their own.

TLS: every start generates a fresh test CA (ECDSA P-256), a server
certificate for ``localhost``, ``127.0.0.1`` and ``::1`` signed by it, and,
when client certificates are required, a client certificate signed by the
same CA. Keys are written with mode ``0600``. Clients verify the server with
the CA file (``ssl.create_default_context(cafile=...)``; never
``verify=False``). With ``require_client_cert=True`` the server refuses any
client without a certificate from that CA (``ssl.CERT_REQUIRED``): a known
system over a secured link (ACC-7). TLS 1.2 is the minimum.

Port ``0`` picks a free port; :attr:`LoopbackServer.url` is the real one.
Only loopback addresses are served: the reference directory is for one
machine's tests, never a network.

A ``drop`` fault (:mod:`.faults`) closes the TCP connection without an answer
(the server reaches the connection through uvicorn's request cycle; if a
future uvicorn hides it, a drop degrades to uvicorn's bare ``500``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self, TextIO

import attrs
import httpx
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from contactpoint_sdk.reference_server.faults import ABORT_CONNECTION_EXTENSION, FaultInjector
from contactpoint_sdk.reference_server.transport import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from contactpoint_sdk.reference_server.service import DirectoryService
    from contactpoint_sdk.supply.keys import PublicKey

__all__ = [
    "DEFAULT_HOST",
    "LOOPBACK_HOSTS",
    "LoopbackServer",
    "TlsFiles",
    "add_serve_arguments",
    "generate_tls_files",
    "run_serve",
    "serve",
]

_log = logging.getLogger(__name__)

#: Where the reference directory listens unless told otherwise.
DEFAULT_HOST: Final = "127.0.0.1"
#: The only hosts the reference directory listens on.
LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "::1", "localhost"})
#: Names and addresses the server certificate is valid for.
_SERVER_NAMES: Final = ("localhost",)
_SERVER_ADDRESSES: Final = ("127.0.0.1", "::1")
#: How long generated certificates are valid (real time: TLS does not use the
#: directory's movable clock).
_CERT_LIFETIME: Final = timedelta(days=30)
_CERT_BACKDATE: Final = timedelta(minutes=5)
_STARTUP_SECONDS: Final = 10.0
_STOP_SECONDS: Final = 10.0
#: How long :meth:`LoopbackServer.stop` lets open connections finish.
_GRACE_SECONDS: Final = 0.5


# --- Certificates -----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TlsFiles:
    """Where the generated TLS material is. ``client_cert``/``client_key`` are
    ``None`` unless a client certificate was generated."""

    directory: Path
    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path | None = None
    client_key: Path | None = None

    def client_ssl_context(self, *, with_client_cert: bool = True) -> ssl.SSLContext:
        """A client context that trusts only the generated CA, presenting the
        generated client certificate when there is one and ``with_client_cert``."""
        context = ssl.create_default_context(cafile=str(self.ca_cert))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if with_client_cert and self.client_cert is not None and self.client_key is not None:
            context.load_cert_chain(str(self.client_cert), str(self.client_key))
        return context

    def server_ssl_context(self, *, require_client_cert: bool) -> ssl.SSLContext:
        """The server's context: its certificate, TLS 1.2 or later, HTTP/1.1,
        and with ``require_client_cert`` a client certificate from the CA."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.server_cert), str(self.server_key))
        context.set_alpn_protocols(["http/1.1"])
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cafile=str(self.ca_cert))
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "contactpoint-sdk reference directory"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _leaf(
    *,
    common_name: str,
    issuer: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey,
    usage: x509.ObjectIdentifier,
    now: datetime,
    sans: Sequence[x509.GeneralName] = (),
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CERT_BACKDATE)
        .not_valid_after(now + _CERT_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()), key


def generate_tls_files(
    directory: str | os.PathLike[str], *, client_certificate: bool = False
) -> TlsFiles:
    """Generate a test CA, a server certificate for loopback and, with
    ``client_certificate``, a client certificate, as PEM files in ``directory``
    (created if missing): ``ca.pem``, ``server.pem``, ``server-key.pem``,
    ``client.pem``, ``client-key.pem``. Keys are mode ``0600``."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("contactpoint-sdk reference directory test CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CERT_BACKDATE)
        .not_valid_after(now + _CERT_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in _SERVER_NAMES]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in _SERVER_ADDRESSES]
    server_cert, server_key = _leaf(
        common_name="localhost",
        issuer=ca_cert,
        issuer_key=ca_key,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        now=now,
        sans=sans,
    )
    files = TlsFiles(
        directory=folder,
        ca_cert=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server-key.pem",
    )
    _write_cert(files.ca_cert, ca_cert)
    _write_cert(files.server_cert, server_cert)
    _write_key(files.server_key, server_key)
    if client_certificate:
        client_cert, client_key = _leaf(
            common_name="contactpoint-sdk test client system",
            issuer=ca_cert,
            issuer_key=ca_key,
            usage=ExtendedKeyUsageOID.CLIENT_AUTH,
            now=now,
        )
        cert_path, key_path = folder / "client.pem", folder / "client-key.pem"
        _write_cert(cert_path, client_cert)
        _write_key(key_path, client_key)
        files = attrs.evolve(files, client_cert=cert_path, client_key=key_path)
    return files


# --- Serving ---------------------------------------------------------------------


class _AbortableConnections:
    """Offers the app a way to close the connection without answering (a
    ``drop`` fault): ``scope["extensions"][ABORT_CONNECTION_EXTENSION]``.

    uvicorn passes its request cycle's bound ``send``; the cycle holds the
    connection's transport. Where that is not so, no extension is offered.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") == "http":
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            close = getattr(transport, "close", None)
            if callable(close):
                extensions = dict(scope.get("extensions") or {})
                extensions[ABORT_CONNECTION_EXTENSION] = close
                scope = {**scope, "extensions": extensions}
        await self.app(scope, receive, send)


def _abort_connections(server: uvicorn.Server) -> None:
    """Abort every open connection of a uvicorn server from another thread."""
    for connection in list(server.server_state.connections):
        transport = getattr(connection, "transport", None)
        loop = getattr(connection, "loop", None)
        abort = getattr(transport, "abort", None)
        if callable(abort) and isinstance(loop, asyncio.AbstractEventLoop):
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(abort)


def _check_host(host: str) -> str:
    if host not in LOOPBACK_HOSTS:
        raise ValueError(
            f"the reference directory serves loopback only ({', '.join(sorted(LOOPBACK_HOSTS))})"
        )
    return host


def _bind(host: str, port: int) -> socket.socket:
    if not 0 <= port <= 65535:
        raise ValueError("port is 0 (any free port) to 65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    address = "::1" if host == "::1" else ("127.0.0.1" if host == "localhost" else host)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"https://{shown}:{port}"


def _config(app: ASGIApp, tls: TlsFiles, *, require_client_cert: bool, log: bool) -> uvicorn.Config:
    def ssl_context(config: uvicorn.Config, default: Any) -> ssl.SSLContext:
        return tls.server_ssl_context(require_client_cert=require_client_cert)

    return uvicorn.Config(
        _AbortableConnections(app),
        http="h11",
        loop="asyncio",
        lifespan="off",
        ssl_context_factory=ssl_context,
        log_config=None,
        log_level="info" if log else None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )


def _make_app(
    service: DirectoryService | None, app: ASGIApp | None, faults: FaultInjector | None
) -> ASGIApp:
    if (service is None) == (app is None):
        raise ValueError("give a DirectoryService or an app, not both")
    if app is not None:
        return app
    from contactpoint_sdk.reference_server.app import create_app  # noqa: PLC0415 - cycle-free

    assert service is not None  # noqa: S101
    return create_app(service, faults=faults)


class LoopbackServer:
    """The reference directory over HTTPS on loopback, in a thread.

    :param service: the directory to serve (an app is built for it), or
    :param app: an app already built (``create_app(service, faults=...)``).
    :param faults: the fault injector for the app built from ``service``.
    :param host: a loopback address (default ``127.0.0.1``).
    :param port: ``0`` (default) picks a free port; see :attr:`url`.
    :param require_client_cert: refuse clients without a certificate from the
        generated CA (ACC-7); :meth:`client` presents one.
    :param tls_dir: where to write the certificates; default a private temp
        directory, removed on :meth:`stop`.
    """

    def __init__(
        self,
        service: DirectoryService | None = None,
        *,
        app: ASGIApp | None = None,
        faults: FaultInjector | None = None,
        host: str = DEFAULT_HOST,
        port: int = 0,
        require_client_cert: bool = False,
        tls_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.app = _make_app(service, app, faults)
        self.host = _check_host(host)
        self.require_client_cert = require_client_cert
        self._port = port
        self._tls_dir = Path(tls_dir) if tls_dir is not None else None
        self._own_tls_dir = False
        self._tls: TlsFiles | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    # --- what clients need ------------------------------------------------------

    @property
    def url(self) -> str:
        """``https://127.0.0.1:<port>``, once started."""
        if self._url is None:
            raise RuntimeError("the server is not started")
        return self._url

    @property
    def port(self) -> int:
        return httpx.URL(self.url).port or 443

    @property
    def tls(self) -> TlsFiles:
        """The generated certificates, once started."""
        if self._tls is None:
            raise RuntimeError("the server is not started")
        return self._tls

    @property
    def ca_file(self) -> Path:
        """The CA certificate clients verify the server with."""
        return self.tls.ca_cert

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def ssl_context(self, *, with_client_cert: bool = True) -> ssl.SSLContext:
        """A client SSL context for this server (see :meth:`TlsFiles.client_ssl_context`)."""
        return self.tls.client_ssl_context(with_client_cert=with_client_cert)

    def client(self, *, with_client_cert: bool = True, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` on :attr:`url` that verifies the server's
        certificate (and presents the client certificate, if there is one)."""
        return httpx.Client(
            base_url=self.url, verify=self.ssl_context(with_client_cert=with_client_cert), **kwargs
        )

    def async_client(self, *, with_client_cert: bool = True, **kwargs: Any) -> httpx.AsyncClient:
        """:meth:`client`, for asyncio."""
        return httpx.AsyncClient(
            base_url=self.url, verify=self.ssl_context(with_client_cert=with_client_cert), **kwargs
        )

    # --- life -------------------------------------------------------------------

    def start(self) -> Self:
        """Generate certificates, bind, start serving and wait until ready.

        :raises RuntimeError: already started, or uvicorn did not come up.
        :raises OSError: the port cannot be bound.
        """
        if self._thread is not None:
            raise RuntimeError("this server has already been started")
        if self._tls_dir is None:
            self._tls_dir = Path(tempfile.mkdtemp(prefix="contactpoint-tls-"))
            self._own_tls_dir = True
        try:
            self._tls = generate_tls_files(
                self._tls_dir, client_certificate=self.require_client_cert
            )
            sock = _bind(self.host, self._port)
        except BaseException:
            self._remove_tls_dir()
            raise
        self._url = _url(sock)
        config = _config(
            self.app, self._tls, require_client_cert=self.require_client_cert, log=False
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=self._run,
            args=(server, sock),
            name=f"contactpoint-loopback-{self._url}",
            daemon=True,
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + _STARTUP_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the loopback directory did not start")
            time.sleep(0.01)
        return self

    @staticmethod
    def _run(server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as error:  # SystemExit from uvicorn's startup included
            _log.error("the loopback directory stopped: %s", type(error).__name__)
        finally:
            sock.close()

    def stop(self) -> None:
        """Stop serving, join the thread, remove generated certificates. Idempotent."""
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None and thread.is_alive():
            thread.join(_GRACE_SECONDS)
            if thread.is_alive() and server is not None:
                # Idle kept-alive TLS connections would hold shutdown until
                # their close_notify times out: cut them.
                server.force_exit = True
                _abort_connections(server)
                thread.join(_STOP_SECONDS)
        self._remove_tls_dir()

    def _remove_tls_dir(self) -> None:
        if self._own_tls_dir and self._tls_dir is not None:
            shutil.rmtree(self._tls_dir, ignore_errors=True)
            self._own_tls_dir = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self._url or "not started"
        return f"<LoopbackServer {where}>"


def _announce(out: TextIO, url: str, tls: TlsFiles, require_client_cert: bool) -> None:
    print(f"ContactPoint reference directory listening on {url}", file=out)
    print(f"CONTACTPOINT_DIRECTORY_URL={url}", file=out)
    print(f"CONTACTPOINT_CA_FILE={tls.ca_cert}", file=out)
    if require_client_cert and tls.client_cert is not None and tls.client_key is not None:
        print(f"CONTACTPOINT_CLIENT_CERT={tls.client_cert}", file=out)
        print(f"CONTACTPOINT_CLIENT_KEY={tls.client_key}", file=out)
    print("Press Ctrl+C to stop.", file=out, flush=True)


def serve(
    service: DirectoryService,
    *,
    faults: FaultInjector | None = None,
    host: str = DEFAULT_HOST,
    port: int = 0,
    require_client_cert: bool = False,
    tls_dir: str | os.PathLike[str] | None = None,
    out: TextIO | None = None,
) -> None:
    """Serve ``service`` over HTTPS on loopback until interrupted (SIGINT,
    SIGTERM). Prints, before accepting connections::

        ContactPoint reference directory listening on https://127.0.0.1:54321
        CONTACTPOINT_DIRECTORY_URL=https://127.0.0.1:54321
        CONTACTPOINT_CA_FILE=/tmp/contactpoint-tls-.../ca.pem
        CONTACTPOINT_CLIENT_CERT=...      (only with require_client_cert)
        CONTACTPOINT_CLIENT_KEY=...
        Press Ctrl+C to stop.

    The lines ``NAME=value`` can be fed to a shell's ``export``. Generated
    certificates are removed on exit unless ``tls_dir`` was given.
    """
    stream = out if out is not None else sys.stdout
    app = _make_app(service, None, faults)
    _check_host(host)
    own = tls_dir is None
    folder = Path(tempfile.mkdtemp(prefix="contactpoint-tls-")) if own else Path(str(tls_dir))
    try:
        tls = generate_tls_files(folder, client_certificate=require_client_cert)
        sock = _bind(host, port)
        try:
            _announce(stream, _url(sock), tls, require_client_cert)
            server = uvicorn.Server(
                _config(app, tls, require_client_cert=require_client_cert, log=True)
            )
            server.run(sockets=[sock])
        finally:
            sock.close()
    finally:
        if own:
            shutil.rmtree(folder, ignore_errors=True)


# --- The `contactpoint serve` command ------------------------------------------------


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``contactpoint serve``."""
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        choices=sorted(LOOPBACK_HOSTS),
        help="loopback address to listen on (default %(default)s)",
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port; 0 (default) picks a free one and prints it"
    )
    parser.add_argument(
        "--require-client-cert",
        action="store_true",
        help="refuse clients without the generated client certificate (ACC-7)",
    )
    parser.add_argument(
        "--tls-dir",
        default=None,
        help="write the generated CA, server and client certificates here and keep them "
        "(default: a temporary directory removed on exit)",
    )
    parser.add_argument(
        "--database",
        default=None,
        help="SQLite file for the directory (default: in memory, gone on exit); its "
        "tamper-evident audit log goes beside it (directory.audit.db for directory.db)",
    )
    parser.add_argument(
        "--clock",
        default=None,
        metavar="ISO8601",
        help="start the directory's movable clock at this UTC time (default: now)",
    )
    parser.add_argument(
        "--population",
        type=int,
        default=0,
        metavar="N",
        help="seed N synthetic children before serving (default 0)",
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="random seed of the synthetic population"
    )
    from contactpoint_sdk.cli._options import (  # noqa: PLC0415 - cli imports this module
        add_agreement_argument,
        add_key_ring_argument,
        add_passphrase_argument,
        add_supplier_argument,
    )

    supplier = parser.add_argument_group(
        "a supplier to register",
        "Register one supplier before serving (SUP-3), so `contactpoint supply ctf "
        "--directory URL --ca-cert PEM` can supply at once: --supplier-id, --key-ring and "
        "--agreement-id together. Others can be registered through POST "
        "/v1/_control/suppliers.",
    )
    add_supplier_argument(supplier, required=False, text="the supplier's ID (SUP-3)")
    add_key_ring_argument(
        supplier,
        required=False,
        text="the supplier's signing key ring (contactpoint keys new; its passphrase "
        "from --passphrase-env), or its public keys as a JWKS (contactpoint keys public)",
    )
    add_agreement_argument(
        supplier,
        required=False,
        text="the operational agreement it supplies under (SUP-4; every operation allowed)",
    )
    supplier.add_argument(
        "--local-authority",
        metavar="LA",
        help="the supplier's local authority (3 digits), if it has one",
    )
    add_passphrase_argument(supplier)


def _start_time(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC).replace(microsecond=0)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _supplier_keys(path: Path, variable: str) -> list[PublicKey]:
    """The public keys in a signing key ring file (opened with the passphrase
    in ``variable``) or a JWKS file."""
    from contactpoint_sdk.cli._options import read_passphrase  # noqa: PLC0415
    from contactpoint_sdk.errors import ConfigurationError, KeyMaterialError  # noqa: PLC0415
    from contactpoint_sdk.supply.keys import KeyRing, PublicKeySet, SigningKey  # noqa: PLC0415

    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except FileNotFoundError:
        raise ConfigurationError(f"{path} does not exist") from None
    except (OSError, ValueError):
        raise KeyMaterialError(f"{path} is neither a key ring nor a JWKS file") from None
    if isinstance(data, dict) and "encrypted" in data:
        ring = KeyRing.from_encrypted_json(text, read_passphrase(variable), key_type=SigningKey)
        return list(ring.public_key_set())
    return list(PublicKeySet.from_jwks(data, curve="Ed25519"))


def _register_supplier(service: DirectoryService, args: argparse.Namespace) -> None:
    """Register the supplier the options name (usage checked by :func:`run_serve`)."""
    from contactpoint_sdk.reference_server.entities import SupplyAgreement  # noqa: PLC0415

    keys = _supplier_keys(args.key_ring, args.passphrase_env)
    service.register_supplier(
        args.supplier_id,
        f"supplier {args.supplier_id}",
        signing_keys=keys,
        agreements=[SupplyAgreement(agreement_id=args.agreement_id)],
        local_authority=args.local_authority,
    )
    print(
        f"registered supplier {args.supplier_id} under agreement {args.agreement_id}: "
        f"{len(keys)} signing key(s) (SUP-3)",
        flush=True,
    )


def _supplier_usage(args: argparse.Namespace) -> str | None:
    named = [
        name
        for name, value in (
            ("--supplier-id", args.supplier_id),
            ("--key-ring", args.key_ring),
            ("--agreement-id", args.agreement_id),
        )
        if value is not None
    ]
    if named and len(named) < 3:
        return "--supplier-id, --key-ring and --agreement-id go together"
    if args.local_authority is not None and not named:
        return "--local-authority goes with --supplier-id"
    if named:
        from contactpoint_sdk.errors import ValidationError  # noqa: PLC0415
        from contactpoint_sdk.models.operations import check_identifier  # noqa: PLC0415

        for value, path, what in (
            (args.supplier_id, "supplier_id", "a supplier ID"),
            (args.agreement_id, "agreement_id", "an agreement ID"),
        ):
            try:
                check_identifier(value, path=path, what=what)
            except ValidationError as error:
                return str(error)
    return None


def run_serve(args: argparse.Namespace) -> int:
    """``contactpoint serve``: build the directory, register the supplier the
    options name, and serve it until interrupted. Exit codes: 0 stopped
    cleanly (Ctrl+C or SIGTERM), 1 could not start, 2 bad usage."""
    from contactpoint_sdk.clock import MovableClock  # noqa: PLC0415
    from contactpoint_sdk.errors import ContactPointError  # noqa: PLC0415
    from contactpoint_sdk.reference_server.service import (  # noqa: PLC0415
        REFERENCE_POLICY,
        DirectoryService,
    )

    try:
        start = _start_time(args.clock)
    except ValueError:
        print("contactpoint serve: --clock must be an ISO 8601 date and time", file=sys.stderr)
        return 2
    if args.population < 0:
        print("contactpoint serve: --population must be 0 or more", file=sys.stderr)
        return 2
    problem = _supplier_usage(args)
    if problem is not None:
        print(f"contactpoint serve: {problem}", file=sys.stderr)
        return 2
    service: DirectoryService | None = None
    # uvicorn re-raises the signal that stopped it once it has shut down:
    # make SIGTERM, like SIGINT, end here with the directory closed.
    previous = signal.getsignal(signal.SIGTERM)
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        service = DirectoryService.in_memory(
            clock=MovableClock(start), path=args.database, settings=REFERENCE_POLICY
        )
        if args.supplier_id is not None:
            _register_supplier(service, args)
        if args.population:
            service.seed_population(args.population, args.seed)
        serve(
            service,
            faults=FaultInjector(),
            host=args.host,
            port=args.port,
            require_client_cert=args.require_client_cert,
            tls_dir=args.tls_dir,
        )
    except ContactPointError:
        raise  # the command line prints it: one line, exit 1
    except (OSError, ValueError) as error:
        print(f"contactpoint serve: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
        with contextlib.suppress(Exception):
            close = getattr(service, "close", None) if service is not None else None
            if callable(close):
                close()
    return 0
