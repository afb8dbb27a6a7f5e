"""Send supply to the directory: :class:`SupplyClient` and :class:`AsyncSupplyClient`.

Both have the same methods; one blocks, the other is awaited. Each::

    operations -> BatchBuilder (consent checked: PolicyRefusal before anything
    is sent) -> encode_batch -> Sealer (JWS in JWE, SUP-5) -> POST
    /v1/supply/batches (application/jose) -> a strict SupplyReceipt (SUP-1)

- **Retries** follow one :class:`~contactpoint_sdk.supply.retry.RetryPolicy`:
  no answer, ``429`` and ``5xx`` are retried with backoff (honouring
  ``Retry-After`` up to a cap); no other ``4xx`` ever is. Every retry resends
  the *same* sealed envelope, so the same batch ID: the directory answers a
  batch it has seen with its first receipt, so nothing is applied twice.
- **Timeouts** apply to every request (:data:`DEFAULT_TIMEOUT` unless given).
- **Receipts** are decoded by the strict wire codec and checked against the
  batch sent: its batch ID and sequence, one outcome per operation. A receipt
  with any field the protocol does not define is refused
  (:class:`~contactpoint_sdk.errors.ReceiptInvalid`, SUP-1), so no
  child data can come back through the SDK.
- **Errors** are typed (:mod:`contactpoint_sdk.errors`) and carry
  the request ID and the number of attempts.
- **The directory's key**: pass ``directory_key`` (pinned, preferred), or the
  client fetches it once from ``GET /v1/keys/directory`` (the first key of the
  JWKS is current) and caches it; :meth:`SupplyClient.refresh_directory_key`
  fetches it again after the directory rotates.
- **Transport**: pass ``transport`` (an ``httpx`` transport: the reference
  server's in-process one, or a mock) or a whole ``http_client``. A client the
  SDK built is closed by :meth:`SupplyClient.close` (or leaving ``with``), and
  with it the transport; an injected ``http_client`` belongs to the caller and
  is left open.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Final, NoReturn, Self

import attrs
import httpx

from contactpoint_sdk import __version__
from contactpoint_sdk._http import REQUEST_ID_HEADER, error_for_response, transport_failure
from contactpoint_sdk.clock import Clock, SystemClock
from contactpoint_sdk.errors import (
    ConfigurationError,
    ContactPointError,
    KeyMaterialError,
    Problem,
    ReceiptInvalid,
    ResponseInvalid,
    SupplyInterrupted,
    TransportFailure,
    ValidationError,
)
from contactpoint_sdk.models.codec import WireCodec, default_codec
from contactpoint_sdk.models.operations import (
    MAX_OPERATIONS_PER_BATCH,
    AnyOperation,
    OperationOutcome,
    SupplyBatch,
    SupplyReceipt,
    check_identifier,
)
from contactpoint_sdk.supply.batch import (
    BATCH_CONTENT_TYPE,
    BatchBuilder,
    MemorySequence,
    SequenceSource,
    check_operation,
    encode_batch,
)
from contactpoint_sdk.supply.envelope import Sealer
from contactpoint_sdk.supply.keys import EncryptionKey, KeyRing, PublicKey, PublicKeySet, SigningKey
from contactpoint_sdk.supply.retry import RetryPolicy

__all__ = [
    "DEFAULT_TIMEOUT",
    "DIRECTORY_KEYS_PATH",
    "ENVELOPE_CONTENT_TYPE",
    "SUPPLY_PATH",
    "AsyncSupplyClient",
    "SupplyClient",
    "SupplyResult",
]

#: Every request's timeout unless the caller gives one: 10 s to connect, 30 s
#: to write, read or wait for a pooled connection.
DEFAULT_TIMEOUT: Final = httpx.Timeout(30.0, connect=10.0)
#: Where batches go (``docs/http-api.md``).
SUPPLY_PATH: Final = "/v1/supply/batches"
#: Where the directory publishes its encryption keys.
DIRECTORY_KEYS_PATH: Final = "/v1/keys/directory"
#: The media type of a sealed envelope (a compact JWE).
ENVELOPE_CONTENT_TYPE: Final = "application/jose"

_ACCEPT: Final = "application/json, application/problem+json"
_USER_AGENT: Final = f"contactpoint-sdk/{__version__}"


@attrs.frozen
class SupplyResult:
    """The receipts of one :meth:`SupplyClient.supply` call, one per batch, in order."""

    receipts: tuple[SupplyReceipt, ...]

    @property
    def outcomes(self) -> tuple[OperationOutcome, ...]:
        """Every operation's outcome, across batches, in the order sent."""
        return tuple(o for r in self.receipts for o in r.outcomes)

    @property
    def accepted(self) -> tuple[OperationOutcome, ...]:
        """The operations the directory took, across batches."""
        return tuple(o for r in self.receipts for o in r.accepted)

    @property
    def rejected(self) -> tuple[OperationOutcome, ...]:
        """The operations the directory refused, each with its code and rule."""
        return tuple(o for r in self.receipts for o in r.rejected)

    @property
    def all_accepted(self) -> bool:
        """Whether no operation was rejected."""
        return not self.rejected

    @property
    def batch_ids(self) -> tuple[str, ...]:
        return tuple(r.batch_id for r in self.receipts)

    def __iter__(self) -> Iterator[SupplyReceipt]:
        return iter(self.receipts)

    def __len__(self) -> int:
        return len(self.receipts)


# --- What both clients share: configuration, sealing, reading answers -------------


def _check_signing_key(key: object) -> SigningKey | KeyRing[SigningKey]:
    if isinstance(key, KeyRing):
        if key.key_type is not SigningKey:
            raise KeyMaterialError("signing_key must be a ring of signing keys")
        return key
    if not isinstance(key, SigningKey):
        raise KeyMaterialError("signing_key must be the supplier's SigningKey (Ed25519)")
    return key


def _base_url(value: str | httpx.URL) -> httpx.URL:
    try:
        url = httpx.URL(str(value))
    except httpx.InvalidURL as error:
        raise ConfigurationError(f"base_url is not a URL: {error}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError("base_url must be an http:// or https:// URL with a host")
    if url.query or url.fragment:
        raise ConfigurationError("base_url must not carry a query or fragment")
    return url


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member names")
    return result


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _strict_json(content: bytes) -> Any:
    return json.loads(content, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)


def _media_type(response: httpx.Response) -> str:
    value = str(response.headers.get("content-type", ""))
    return value.split(";", 1)[0].strip().lower()


def _problem_summary(problems: Iterable[Problem], limit: int = 5) -> str:
    """Paths and codes only: never a value from the body."""
    listed = [f"{p.path or '(document)'} {p.code}" for p in problems]
    more = f", and {len(listed) - limit} more" if len(listed) > limit else ""
    return ", ".join(listed[:limit]) + more


class _SupplyCore:
    """Configuration and the I/O-free half of both clients."""

    def __init__(
        self,
        *,
        base_url: str | httpx.URL,
        supplier_id: str,
        agreement_id: str,
        signing_key: SigningKey | KeyRing[SigningKey],
        directory_key: PublicKey | EncryptionKey | None,
        clock: Clock | None,
        timeout: httpx.Timeout | None,
        retry: RetryPolicy | None,
        sequence: SequenceSource | None,
        max_operations_per_batch: int,
        codec: WireCodec | None,
    ) -> None:
        self._base_url = _base_url(base_url)
        self._clock: Clock = clock or SystemClock()
        self._signing_key = _check_signing_key(signing_key)
        self._timeout = timeout if timeout is not None else DEFAULT_TIMEOUT
        if not isinstance(self._timeout, httpx.Timeout):
            raise ConfigurationError("timeout must be an httpx.Timeout")
        self._retry = retry or RetryPolicy()
        self._codec = codec or default_codec
        self._sequence = sequence or MemorySequence()
        self._builder = BatchBuilder(
            supplier_id=supplier_id,
            agreement_id=agreement_id,
            clock=self._clock,
            sequence=self._sequence,
            max_operations=max_operations_per_batch,
        )
        # The IDs are checked now, not at the first send.
        check_identifier(supplier_id, path="supplier_id", what="a supplier ID")
        check_identifier(agreement_id, path="agreement_id", what="an agreement ID")
        self._pinned_key = directory_key is not None
        self._sealer: Sealer | None = (
            self._make_sealer(directory_key) if directory_key is not None else None
        )
        self._closed = False

    # --- public, shared ---------------------------------------------------------

    @property
    def supplier_id(self) -> str:
        return self._builder.supplier_id

    @property
    def agreement_id(self) -> str:
        return self._builder.agreement_id

    @property
    def base_url(self) -> httpx.URL:
        return self._base_url

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._retry

    @property
    def timeout(self) -> httpx.Timeout:
        return self._timeout

    @property
    def closed(self) -> bool:
        return self._closed

    def build_batches(self, operations: Iterable[AnyOperation]) -> list[SupplyBatch]:
        """Check every operation, then split them into batches with fresh batch
        IDs and this supplier's next sequence numbers.

        Nothing is sent. Every operation is checked before any batch is built,
        so a refusal costs no sequence number.

        :raises PolicyRefusal: an operation the consent rules refuse (SENS-2,
            SENS-3), before anything is sent.
        :raises ValidationError: operations that cannot form a batch (two
            sharing a ``ref`` within one batch).
        """
        return self._build(self._checked(operations))

    def _checked(self, operations: Iterable[AnyOperation]) -> list[AnyOperation]:
        items = list(operations)
        today = self._clock.today()
        for operation in items:
            check_operation(operation, today)
        return items

    def _build(self, checked: list[AnyOperation]) -> list[SupplyBatch]:
        return list(self._builder.build(checked))

    # --- internals ----------------------------------------------------------------

    def _make_sealer(self, directory_key: PublicKey | EncryptionKey) -> Sealer:
        return Sealer(
            signing_key=self._signing_key,
            recipient=directory_key,
            clock=self._clock,
            content_type=BATCH_CONTENT_TYPE,
        )

    def _url(self, path: str) -> httpx.URL:
        base = self._base_url
        return base.copy_with(path=base.path.rstrip("/") + path)

    def _ensure_open(self) -> None:
        if self._closed:
            raise ConfigurationError("this supply client is closed", code="client_closed")

    def _check_batch(self, batch: SupplyBatch) -> None:
        if not isinstance(batch, SupplyBatch):
            raise TypeError("send_batch takes a SupplyBatch")
        if batch.supplier_id != self.supplier_id:
            raise ConfigurationError(
                f"the batch is for supplier {batch.supplier_id!r}; "
                f"this client supplies for {self.supplier_id!r}"
            )

    def _seal(self, sealer: Sealer, batch: SupplyBatch) -> bytes:
        return sealer.seal(encode_batch(batch, self._codec)).encode("ascii")

    @staticmethod
    def _headers(request_id: str, *, content_type: str | None = None) -> dict[str, str]:
        headers = {
            "Accept": _ACCEPT,
            "User-Agent": _USER_AGENT,
            REQUEST_ID_HEADER: request_id,
        }
        if content_type is not None:
            headers["Content-Type"] = content_type
        return headers

    def _batch_request(
        self, http: httpx.Client | httpx.AsyncClient, token: bytes, request_id: str
    ) -> httpx.Request:
        return http.build_request(
            "POST",
            self._url(SUPPLY_PATH),
            content=token,
            headers=self._headers(request_id, content_type=ENVELOPE_CONTENT_TYPE),
            timeout=self._timeout,
        )

    def _keys_request(
        self, http: httpx.Client | httpx.AsyncClient, request_id: str
    ) -> httpx.Request:
        return http.build_request(
            "GET",
            self._url(DIRECTORY_KEYS_PATH),
            headers=self._headers(request_id),
            timeout=self._timeout,
        )

    @staticmethod
    def _transport_failure(
        error: httpx.TransportError, attempts: int, request_id: str
    ) -> TransportFailure:
        return transport_failure(error, attempts=attempts, request_id=request_id)

    def _refuse_status(self, response: httpx.Response, attempts: int, request_id: str) -> None:
        """Raise the typed error for any answer but ``200``."""
        if response.status_code == 200:
            return
        if response.is_success:
            raise ReceiptInvalid(
                f"the directory answered {response.status_code} without a receipt",
                status=response.status_code,
                request_id=self._request_id(response, request_id),
                attempts=attempts,
                code="receipt_missing",
            )
        raise error_for_response(
            response, now=self._clock.now(), attempts=attempts, request_id=request_id
        )

    @staticmethod
    def _request_id(response: httpx.Response, sent: str) -> str:
        return response.headers.get(REQUEST_ID_HEADER) or sent

    def _receipt(
        self, response: httpx.Response, batch: SupplyBatch, attempts: int, request_id: str
    ) -> SupplyReceipt:
        """The receipt in a ``200``, strictly (SUP-1), for exactly this batch."""
        self._refuse_status(response, attempts, request_id)
        rid = self._request_id(response, request_id)

        def refuse(message: str, code: str, problems: Iterable[Problem] = ()) -> NoReturn:
            raise ReceiptInvalid(
                message,
                status=response.status_code,
                request_id=rid,
                problems=tuple(problems),
                attempts=attempts,
                code=code,
            )

        if _media_type(response) != "application/json":
            refuse("the directory's receipt is not application/json", "receipt_not_json")
        try:
            data = _strict_json(response.content)
        except (ValueError, RecursionError):
            refuse("the directory's receipt is not valid JSON", "receipt_not_json")
        try:
            receipt = self._codec.decode(data, SupplyReceipt)
        except ValidationError as error:
            refuse(
                "the directory's answer is not a receipt and nothing else (SUP-1): "
                + _problem_summary(error.problems),
                "receipt_invalid",
                error.problems,
            )
        if receipt.batch_id != batch.batch_id or receipt.sequence != batch.sequence:
            refuse(
                "the receipt is for another batch (batch ID or sequence differs)",
                "receipt_mismatch",
            )
        sent = [op.ref for op in batch.operations]
        answered = [o.ref for o in receipt.outcomes]
        if sorted(answered) != sorted(sent):
            refuse(
                f"the receipt's outcomes do not match the batch's operations "
                f"({len(answered)} outcomes for {len(sent)} operations)",
                "receipt_mismatch",
            )
        return receipt

    def _directory_key(self, response: httpx.Response, attempts: int, request_id: str) -> PublicKey:
        """The current directory key from a ``200`` JWKS: its first key."""
        if response.status_code != 200:
            raise error_for_response(
                response, now=self._clock.now(), attempts=attempts, request_id=request_id
            )
        rid = self._request_id(response, request_id)
        try:
            data = _strict_json(response.content)
            if not isinstance(data, Mapping):
                raise KeyMaterialError("a JWKS is a JSON object")
            keys = PublicKeySet.from_jwks(data, curve="X25519")
        except (ValueError, RecursionError, KeyMaterialError) as error:
            raise ResponseInvalid(
                f"the directory's key set cannot be used: {type(error).__name__}",
                status=response.status_code,
                request_id=rid,
                attempts=attempts,
                code="directory_keys_invalid",
            ) from None
        for key in keys:
            return key
        raise ResponseInvalid(
            "the directory published no encryption key",
            status=response.status_code,
            request_id=rid,
            attempts=attempts,
            code="directory_keys_invalid",
        )

    def _interrupted(
        self,
        error: ContactPointError,
        receipts: list[SupplyReceipt],
        batches: list[SupplyBatch],
    ) -> SupplyInterrupted:
        return SupplyInterrupted(error, receipts=receipts, pending=batches[len(receipts) :])


# --- The blocking client -------------------------------------------------------------


class SupplyClient(_SupplyCore):
    """Sends a supplier's operations to the directory, blocking (SUP-1, SUP-5, SUP-6).

    :param base_url: the directory, e.g. ``https://directory.example/``;
        paths ``/v1/...`` are added to it.
    :param supplier_id: this supplier's ID, as accredited (SUP-3).
    :param agreement_id: the operational agreement supply is made under (SUP-4).
    :param signing_key: the supplier's Ed25519 key, or a :class:`KeyRing` of
        them (each envelope is signed with the ring's current key).
    :param directory_key: the directory's X25519 public key. ``None``: fetched
        once from ``GET /v1/keys/directory`` and cached.
    :param clock: the time batches and envelopes are stamped with.
    :param timeout: applied to every request (default :data:`DEFAULT_TIMEOUT`).
    :param retry: the retry policy (default :class:`RetryPolicy()`).
    :param sequence: hands out sequence numbers (default: in memory from 1;
        a long-lived integration persists them, as the outbox does).
    :param max_operations_per_batch: at most this many operations per batch.
    :param transport: an httpx transport for the client the SDK builds.
    :param http_client: an httpx client to use instead (left open by
        :meth:`close`); not together with ``transport``.
    :param codec: the wire codec (default: the shared one).
    """

    def __init__(
        self,
        *,
        base_url: str | httpx.URL,
        supplier_id: str,
        agreement_id: str,
        signing_key: SigningKey | KeyRing[SigningKey],
        directory_key: PublicKey | EncryptionKey | None = None,
        clock: Clock | None = None,
        timeout: httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        sequence: SequenceSource | None = None,
        max_operations_per_batch: int = MAX_OPERATIONS_PER_BATCH,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
        codec: WireCodec | None = None,
    ) -> None:
        if http_client is not None and transport is not None:
            raise ConfigurationError("give a transport or an http_client, not both")
        super().__init__(
            base_url=base_url,
            supplier_id=supplier_id,
            agreement_id=agreement_id,
            signing_key=signing_key,
            directory_key=directory_key,
            clock=clock,
            timeout=timeout,
            retry=retry,
            sequence=sequence,
            max_operations_per_batch=max_operations_per_batch,
            codec=codec,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(
            base_url=self._base_url, timeout=self._timeout, transport=transport
        )
        self._key_lock = threading.Lock()

    def send_batch(self, batch: SupplyBatch) -> SupplyReceipt:
        """Seal one batch and send it; the directory's receipt for it.

        The batch is sealed once; every retry sends that same envelope.

        :raises ApiError: the directory refused it (a subclass per status).
        :raises TransportFailure: no answer after every attempt.
        :raises ReceiptInvalid: the answer is not a valid receipt for it (SUP-1).
        """
        self._ensure_open()
        self._check_batch(batch)
        token = self._seal(self._get_sealer(), batch)
        request_id = uuid.uuid4().hex
        request = self._batch_request(self._http, token, request_id)

        def attempt(n: int) -> SupplyReceipt:
            return self._receipt(self._send(request, n, request_id), batch, n, request_id)

        return self._retry.call(attempt)

    def supply(self, operations: Iterable[AnyOperation]) -> SupplyResult:
        """Check, batch, seal and send ``operations``; every batch's receipt.

        :raises PolicyRefusal: an operation the consent rules refuse; nothing
            has been sent.
        :raises ValidationError: operations that cannot form a batch; nothing
            has been sent.
        :raises ApiError, TransportFailure, ResponseInvalid: the directory's
            key could not be fetched; nothing has been sent.
        :raises SupplyInterrupted: a batch failed; it holds the receipts so far
            and the batches still to send (resend them with :meth:`send_batch`).
        """
        self._ensure_open()
        checked = self._checked(operations)
        if not checked:
            return SupplyResult(())
        self._get_sealer()  # the directory key, before any sequence number is used
        batches = self._build(checked)
        receipts: list[SupplyReceipt] = []
        for batch in batches:
            try:
                receipts.append(self.send_batch(batch))
            except ContactPointError as error:
                raise self._interrupted(error, receipts, batches) from error
        return SupplyResult(tuple(receipts))

    def directory_key(self) -> PublicKey:
        """The directory key envelopes are sealed to (fetched if not given)."""
        return self._get_sealer().recipient

    def refresh_directory_key(self) -> PublicKey:
        """Fetch the directory's current key again (after it rotated).

        :raises ConfigurationError: the key was pinned in the constructor.
        """
        self._ensure_open()
        if self._pinned_key:
            raise ConfigurationError("the directory key was given to this client; make a new one")
        with self._key_lock:
            self._sealer = self._make_sealer(self._fetch_directory_key())
            return self._sealer.recipient

    def close(self) -> None:
        """Close the HTTP client the SDK built (and its transport). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        self._ensure_open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- internals ----------------------------------------------------------------

    def _send(self, request: httpx.Request, attempt: int, request_id: str) -> httpx.Response:
        try:
            return self._http.send(request)
        except httpx.TransportError as error:
            raise self._transport_failure(error, attempt, request_id) from error

    def _get_sealer(self) -> Sealer:
        sealer = self._sealer
        if sealer is not None:
            return sealer
        with self._key_lock:
            if self._sealer is None:
                self._sealer = self._make_sealer(self._fetch_directory_key())
            return self._sealer

    def _fetch_directory_key(self) -> PublicKey:
        request_id = uuid.uuid4().hex
        request = self._keys_request(self._http, request_id)

        def attempt(n: int) -> PublicKey:
            return self._directory_key(self._send(request, n, request_id), n, request_id)

        return self._retry.call(attempt)


# --- The async client -------------------------------------------------------------------


class AsyncSupplyClient(_SupplyCore):
    """:class:`SupplyClient`, awaited: the same parameters and methods.

    ``transport`` is an ``httpx.AsyncBaseTransport`` and ``http_client`` an
    ``httpx.AsyncClient``. Sealing runs on the event loop (a few milliseconds
    for a full batch).
    """

    def __init__(
        self,
        *,
        base_url: str | httpx.URL,
        supplier_id: str,
        agreement_id: str,
        signing_key: SigningKey | KeyRing[SigningKey],
        directory_key: PublicKey | EncryptionKey | None = None,
        clock: Clock | None = None,
        timeout: httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        sequence: SequenceSource | None = None,
        max_operations_per_batch: int = MAX_OPERATIONS_PER_BATCH,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        codec: WireCodec | None = None,
    ) -> None:
        if http_client is not None and transport is not None:
            raise ConfigurationError("give a transport or an http_client, not both")
        super().__init__(
            base_url=base_url,
            supplier_id=supplier_id,
            agreement_id=agreement_id,
            signing_key=signing_key,
            directory_key=directory_key,
            clock=clock,
            timeout=timeout,
            retry=retry,
            sequence=sequence,
            max_operations_per_batch=max_operations_per_batch,
            codec=codec,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            base_url=self._base_url, timeout=self._timeout, transport=transport
        )
        self._key_lock = asyncio.Lock()

    async def send_batch(self, batch: SupplyBatch) -> SupplyReceipt:
        """See :meth:`SupplyClient.send_batch`."""
        self._ensure_open()
        self._check_batch(batch)
        token = self._seal(await self._get_sealer(), batch)
        request_id = uuid.uuid4().hex
        request = self._batch_request(self._http, token, request_id)

        async def attempt(n: int) -> SupplyReceipt:
            return self._receipt(await self._send(request, n, request_id), batch, n, request_id)

        return await self._retry.acall(attempt)

    async def supply(self, operations: Iterable[AnyOperation]) -> SupplyResult:
        """See :meth:`SupplyClient.supply`."""
        self._ensure_open()
        checked = self._checked(operations)
        if not checked:
            return SupplyResult(())
        await self._get_sealer()  # the directory key, before any sequence number is used
        batches = self._build(checked)
        receipts: list[SupplyReceipt] = []
        for batch in batches:
            try:
                receipts.append(await self.send_batch(batch))
            except ContactPointError as error:
                raise self._interrupted(error, receipts, batches) from error
        return SupplyResult(tuple(receipts))

    async def directory_key(self) -> PublicKey:
        """See :meth:`SupplyClient.directory_key`."""
        return (await self._get_sealer()).recipient

    async def refresh_directory_key(self) -> PublicKey:
        """See :meth:`SupplyClient.refresh_directory_key`."""
        self._ensure_open()
        if self._pinned_key:
            raise ConfigurationError("the directory key was given to this client; make a new one")
        async with self._key_lock:
            self._sealer = self._make_sealer(await self._fetch_directory_key())
            return self._sealer.recipient

    async def close(self) -> None:
        """Close the HTTP client the SDK built (and its transport). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._owns_http:
            await self._http.aclose()

    aclose = close

    async def __aenter__(self) -> Self:
        self._ensure_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- internals ----------------------------------------------------------------

    async def _send(self, request: httpx.Request, attempt: int, request_id: str) -> httpx.Response:
        try:
            return await self._http.send(request)
        except httpx.TransportError as error:
            raise self._transport_failure(error, attempt, request_id) from error

    async def _get_sealer(self) -> Sealer:
        sealer = self._sealer
        if sealer is not None:
            return sealer
        async with self._key_lock:
            if self._sealer is None:
                self._sealer = self._make_sealer(await self._fetch_directory_key())
            return self._sealer

    async def _fetch_directory_key(self) -> PublicKey:
        request_id = uuid.uuid4().hex
        request = self._keys_request(self._http, request_id)

        async def attempt(n: int) -> PublicKey:
            return self._directory_key(await self._send(request, n, request_id), n, request_id)

        return await self._retry.acall(attempt)
