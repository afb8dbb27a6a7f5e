"""What a system under test sent: a recording ASGI wrapper around the
reference directory, and the opening of every supply envelope it saw (SUP-5).

The suite judges what a system *attempted* to send, not only what the
directory accepted: every request is recorded before the directory (and its
fault injector) answers it, and each supply envelope is opened here with
the directory's own keys, leniently, so that a system with one protocol
fault (a wrong algorithm, a wrong signing key) still has its operations
judged by the content tests, and fails only the protocol test.

Recorded exchanges stay in memory for one test; reports quote only their
paths, statuses, timings, batch IDs and refs, never a body.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final

import attrs
from joserfc import jwe, jws
from joserfc.errors import JoseError
from joserfc.jwe import JWERegistry
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter

from contactpoint_sdk.errors import ValidationError
from contactpoint_sdk.models.codec import WireCodec
from contactpoint_sdk.models.operations import AnyOperation
from contactpoint_sdk.reference_server.transport import ASGIApp, Message, Receive, Scope, Send
from contactpoint_sdk.supply.keys import EncryptionKey, KeyRing, PublicKey

__all__ = [
    "SUPPLY_BATCHES_PATH",
    "Exchange",
    "OpenedBatch",
    "ResponseRewriter",
    "SupplyInspector",
    "TrafficRecorder",
]

SUPPLY_BATCHES_PATH: Final = "/v1/supply/batches"
_STRICT_JWE: Final = ("ECDH-ES+A256KW", "A256GCM")
#: Every key-management and content algorithm joserfc knows, for opening an
#: envelope leniently (the strict check is the SUP-5 test's own).
_ANY_JWE: Final = (
    "ECDH-ES",
    "ECDH-ES+A128KW",
    "ECDH-ES+A192KW",
    "ECDH-ES+A256KW",
    "A128GCM",
    "A192GCM",
    "A256GCM",
    "A128CBC-HS256",
    "A192CBC-HS384",
    "A256CBC-HS512",
)

#: A hook that may replace a response: ``(exchange, body) -> (status, JSON body)``
#: or ``None`` to leave it as the directory gave it.
ResponseRewriter = Callable[["Exchange", bytes], tuple[int, bytes] | None]


@attrs.frozen(kw_only=True)
class Exchange:
    """One request the system sent and what it got back (``status`` ``None``:
    no answer, the connection was dropped or the app failed)."""

    index: int
    method: str
    path: str
    headers: Mapping[str, str] = attrs.field(repr=False)
    body: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")
    started: float
    ended: float
    status: int | None
    response_headers: Mapping[str, str] = attrs.field(repr=False, factory=dict)
    response_body: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>", default=b"")

    @property
    def is_supply(self) -> bool:
        return self.method == "POST" and self.path.rstrip("/") == SUPPLY_BATCHES_PATH

    def json_body(self) -> Any:
        """The request body as JSON, or ``None``."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None

    def describe(self) -> str:
        """``#3 POST /v1/supply/batches -> 429``: no body, ever."""
        answer = "no answer" if self.status is None else str(self.status)
        return f"#{self.index} {self.method} {self.path} -> {answer}"


class TrafficRecorder:
    """An ASGI app that records every exchange with ``app`` (thread safe).

    :attr:`rewriter` lets a test play a directory that answers differently
    (the suite rejecting an operation in a receipt, AC-SUP-6-03).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.rewriter: ResponseRewriter | None = None
        self._lock = threading.Lock()
        self._exchanges: list[Exchange] = []
        self._arrived = threading.Condition(self._lock)

    def mark(self) -> int:
        """The number of exchanges so far (a position to read from later)."""
        with self._lock:
            return len(self._exchanges)

    def exchanges(self, since: int = 0, until: int | None = None) -> tuple[Exchange, ...]:
        with self._lock:
            return tuple(self._exchanges[since:until])

    def clear(self) -> None:
        with self._lock:
            self._exchanges.clear()

    def wait_for(self, count: int, timeout: float) -> bool:
        """Wait until at least ``count`` exchanges are recorded."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self._exchanges) >= count, timeout)

    def last_activity(self) -> float:
        """When the last exchange ended (``time.monotonic``), or 0."""
        with self._lock:
            return self._exchanges[-1].ended if self._exchanges else 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message.get("type") != "http.request":
                break
            chunks.append(bytes(message.get("body", b"")))
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        start: dict[str, Any] = {}
        response: list[bytes] = []

        async def capture(message: Message) -> None:
            if message.get("type") == "http.response.start":
                start.update(message)
            elif message.get("type") == "http.response.body":
                response.append(bytes(message.get("body", b"")))

        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        method = str(scope.get("method", "GET")).upper()
        path = str(scope.get("path", "/"))
        try:
            await self.app(scope, replay, capture)
        except BaseException:
            self._record(method, path, headers, body, started, None, {}, b"")
            raise
        if not start:
            self._record(method, path, headers, body, started, None, {}, b"")
            return
        status = int(start.get("status", 500))
        out_headers = [(bytes(k), bytes(v)) for k, v in start.get("headers", [])]
        payload = b"".join(response)
        shown = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in out_headers}
        exchange = self._record(method, path, headers, body, started, status, shown, payload)
        rewriter = self.rewriter
        if rewriter is not None:
            replaced = rewriter(exchange, payload)
            if replaced is not None:
                status, payload = replaced
                out_headers = [
                    (k, v)
                    for k, v in out_headers
                    if k.lower() not in (b"content-length", b"content-type", b"retry-after")
                ]
                out_headers.append((b"content-type", b"application/json"))
                out_headers.append((b"content-length", str(len(payload)).encode("ascii")))
                with self._lock:
                    self._exchanges[exchange.index] = attrs.evolve(
                        exchange, status=status, response_body=payload
                    )
        await send({"type": "http.response.start", "status": status, "headers": out_headers})
        await send({"type": "http.response.body", "body": payload, "more_body": False})

    def _record(  # noqa: PLR0917 - one exchange's parts
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        started: float,
        status: int | None,
        response_headers: Mapping[str, str],
        response_body: bytes,
    ) -> Exchange:
        with self._arrived:
            exchange = Exchange(
                index=len(self._exchanges),
                method=method,
                path=path,
                headers=headers,
                body=body,
                started=started,
                ended=time.monotonic(),
                status=status,
                response_headers=response_headers,
                response_body=response_body,
            )
            self._exchanges.append(exchange)
            self._arrived.notify_all()
            return exchange


# --- Opening supply envelopes --------------------------------------------------------


@attrs.frozen(kw_only=True)
class OpenedBatch:
    """One supply request, opened as far as it would open.

    ``envelope_problem`` says why the body is not a JWE to the directory's
    key with the allowed algorithms (``None``: it is; AC-SUP-5-01);
    ``signature_problem`` why its JWS is not signed by the supplier's
    registered key (AC-SUP-5-02). The batch's members and operations are
    read whatever those say.
    """

    exchange: Exchange
    envelope_problem: str | None
    signature_problem: str | None
    supplier_id: str | None = None
    agreement_id: str | None = None
    batch_id: str | None = None
    sequence: int | None = None
    raw_operations: tuple[Any, ...] = ()
    operations: tuple[AnyOperation, ...] = ()
    payload_problem: str | None = None

    @property
    def refs(self) -> tuple[str, ...]:
        return tuple(op.ref for op in self.operations)

    def raw_without_ref(self) -> tuple[str, ...]:
        """Each raw operation as canonical JSON without its ``ref``: what an
        unchanged resend would repeat."""
        out = []
        for raw in self.raw_operations:
            item = {k: v for k, v in raw.items() if k != "ref"} if isinstance(raw, dict) else raw
            out.append(json.dumps(item, sort_keys=True, separators=(",", ":")))
        return tuple(out)


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _header(segment: str) -> dict[str, Any] | None:
    try:
        value = json.loads(_b64decode(segment))
    except (ValueError, binascii.Error):
        return None
    return value if isinstance(value, dict) else None


class SupplyInspector:
    """Opens supply envelopes with the directory's keys and judges their two
    layers (SUP-5, SUP-3), and decodes the batch inside leniently."""

    def __init__(
        self,
        *,
        decryption_keys: KeyRing[EncryptionKey],
        supplier_key: PublicKey,
        codec: WireCodec,
    ) -> None:
        self._keys = {entry.kid: entry.key for entry in decryption_keys}
        self._supplier_key = supplier_key
        self._codec = codec
        self._strict_jwe = JWERegistry(algorithms=list(_STRICT_JWE))
        self._any_jwe = JWERegistry(algorithms=list(_ANY_JWE))
        self._jws = JWSRegistry(
            header_registry={"iat": HeaderParameter("Issued At", "int")},
            algorithms=["EdDSA", "Ed25519"],
        )

    def open(self, exchange: Exchange) -> OpenedBatch:
        try:
            token = exchange.body.decode("ascii").strip()
        except UnicodeDecodeError:
            token = ""
        parts = token.split(".")
        envelope_problem: str | None = None
        signed: str | None = None
        if len(parts) == 5:
            envelope_problem, signed = self._open_jwe(token, parts[0])
        elif len(parts) == 3:
            envelope_problem, signed = "the body is a bare JWS, not encrypted (no JWE)", token
        else:
            envelope_problem = "the body is not a compact JWE"
        payload: bytes | None = None
        signature_problem: str | None
        if signed is None:
            signature_problem = "no JWS could be read from the envelope"
            if token.startswith("{"):
                payload = exchange.body
        else:
            signature_problem = self._check_signature(signed)
            signed_parts = signed.split(".")
            if len(signed_parts) == 3:
                try:
                    payload = _b64decode(signed_parts[1])
                except (ValueError, binascii.Error):
                    payload = None
        opened = OpenedBatch(
            exchange=exchange,
            envelope_problem=envelope_problem,
            signature_problem=signature_problem,
        )
        if payload is None:
            return attrs.evolve(opened, payload_problem="no batch could be read")
        return self._decode(opened, payload)

    def _open_jwe(self, token: str, first: str) -> tuple[str | None, str | None]:
        header = _header(first)
        if header is None:
            return "the JWE header is not base64url JSON", None
        problem: str | None = None
        if header.get("alg") != _STRICT_JWE[0] or header.get("enc") != _STRICT_JWE[1]:
            problem = (
                f"the JWE uses alg {header.get('alg')!r} enc {header.get('enc')!r}, "
                f"not {_STRICT_JWE[0]} / {_STRICT_JWE[1]}"
            )
        elif "zip" in header:
            problem = "the JWE is compressed (zip)"
        kid = header.get("kid")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None and problem is None:
            problem = "the JWE is not sealed to the directory's published key (kid)"
        candidates = [key] if key is not None else list(self._keys.values())
        for candidate in candidates:
            registry = self._strict_jwe if problem is None else self._any_jwe
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    result = jwe.decrypt_compact(token, candidate.jose_key, registry=registry)
            except (JoseError, ValueError, binascii.Error, TypeError):
                continue
            except Exception:  # noqa: S112 - cryptography refusing a malformed part
                continue
            plaintext = result.plaintext
            if plaintext is None:
                continue
            text = plaintext.decode("ascii", errors="replace")
            if problem is None and text.count(".") != 2:
                problem = "the JWE does not hold a compact JWS"
            return problem, text
        return problem or "the JWE does not decrypt with the directory's key", None

    def _check_signature(self, signed: str) -> str | None:
        parts = signed.split(".")
        if len(parts) != 3:
            return "the JWE does not hold a compact JWS"
        header = _header(parts[0])
        if header is None:
            return "the JWS header is not base64url JSON"
        if header.get("alg") not in ("EdDSA", "Ed25519"):
            return f"the JWS alg is {header.get('alg')!r}, not EdDSA"
        if header.get("kid") != self._supplier_key.kid:
            return "the JWS names a key other than the supplier's registered key (kid)"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                jws.deserialize_compact(signed, self._supplier_key.jose_key, registry=self._jws)
        except (JoseError, ValueError, binascii.Error):
            return "the JWS signature does not verify with the supplier's registered key"
        except Exception:
            return "the JWS signature does not verify with the supplier's registered key"
        return None

    def _decode(self, opened: OpenedBatch, payload: bytes) -> OpenedBatch:
        try:
            data = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return attrs.evolve(opened, payload_problem="the batch is not UTF-8 JSON")
        if not isinstance(data, dict):
            return attrs.evolve(opened, payload_problem="the batch is not a JSON object")
        raw = data.get("operations")
        raw_ops = tuple(raw) if isinstance(raw, list) else ()
        sequence = data.get("sequence")
        return attrs.evolve(
            opened,
            supplier_id=_opt_str(data.get("supplier_id")),
            agreement_id=_opt_str(data.get("agreement_id")),
            batch_id=_opt_str(data.get("batch_id")),
            sequence=sequence
            if isinstance(sequence, int) and not isinstance(sequence, bool)
            else None,
            raw_operations=raw_ops,
            operations=tuple(op for op in (self._operation(r) for r in raw_ops) if op is not None),
        )

    def _operation(self, raw: Any) -> AnyOperation | None:
        """Decode one operation leniently: members the codec refuses (unknown
        ones, REC-6's business; an identifier with a wrong check letter,
        REC-1's) are set aside so the rest is still judged by the other tests.
        The test for the refused member sees it missing."""
        item = raw
        for _ in range(6):
            try:
                return self._codec.decode_operation(item)
            except ValidationError as error:
                paths = [p.path for p in error.problems if p.path and p.path not in ("op", "ref")]
                if not paths or len(paths) != len(error.problems):
                    return None
                item = _without(item, paths)
            except (TypeError, ValueError, KeyError):
                return None
        return None


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _without(item: Any, paths: Sequence[str]) -> Any:
    """A copy of ``item`` without the members at ``paths`` (``a.b[0].c``)."""
    copied = json.loads(json.dumps(item))
    for path in paths:
        steps = [s for s in path.replace("[", ".").replace("]", "").split(".") if s]
        node: Any = copied
        for step in steps[:-1]:
            if isinstance(node, dict):
                node = node.get(step)
            elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
                node = node[int(step)]
            else:
                node = None
        if isinstance(node, dict) and steps:
            node.pop(steps[-1], None)
    return copied


def strings_in(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every (path, string) in a JSON value, keys included as paths."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings_in(item, f"{path}[{index}]")
