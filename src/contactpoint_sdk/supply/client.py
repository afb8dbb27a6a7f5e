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
- **Status** (:meth:`SupplyClient.status`): the last batch sequence number
  the directory accepted from this supplier, asked with a status request
  sealed like a batch (``POST /v1/supply/status``): a number, no child data
  (SUP-1). A supplier whose own record of its numbers is lower has lost
  track (a restored backup: :class:`~contactpoint_sdk.supply.roster.RosterStale`).
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
from typing import Final, NoReturn

import attrs
import httpx

from contactpoint_sdk._client import (
    DEFAULT_TIMEOUT,
    AsyncClientBase,
    ClientBase,
    H,
    NotSent,
    SyncClientBase,
    check_transport,
)
from contactpoint_sdk._http import (
    REQUEST_ID_HEADER,
    error_for_response,
    media_type,
    problem_summary,
    strict_json,
    transport_failure,
)
from contactpoint_sdk.clock import Clock
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
from contactpoint_sdk.models.codec import WireCodec
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
from contactpoint_sdk.supply.envelope import STATUS_CONTENT_TYPE, Sealer
from contactpoint_sdk.supply.keys import EncryptionKey, KeyRing, PublicKey, PublicKeySet, SigningKey
from contactpoint_sdk.supply.retry import RetryPolicy

__all__ = [
    "DEFAULT_TIMEOUT",
    "DIRECTORY_KEYS_PATH",
    "ENVELOPE_CONTENT_TYPE",
    "STATUS_PATH",
    "SUPPLY_PATH",
    "AsyncSupplyClient",
    "SupplyClient",
    "SupplyResult",
]

#: Where batches go (``docs/http-api.md``).
SUPPLY_PATH: Final = "/v1/supply/batches"
#: Where a supplier asks for its last accepted sequence number.
STATUS_PATH: Final = "/v1/supply/status"
#: Where the directory publishes its encryption keys.
DIRECTORY_KEYS_PATH: Final = "/v1/keys/directory"
#: The media type of a sealed envelope (a compact JWE).
ENVELOPE_CONTENT_TYPE: Final = "application/jose"


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


class _SupplyCore(ClientBase[H]):
    """Configuration and the I/O-free half of both clients."""

    _NAME = "supply"

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
        super().__init__(
            base_url=base_url,
            clock=clock,
            timeout=timeout,
            retry=retry or RetryPolicy(),
            codec=codec,
        )
        self._signing_key = _check_signing_key(signing_key)
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

    # --- public, shared ---------------------------------------------------------

    @property
    def supplier_id(self) -> str:
        return self._builder.supplier_id

    @property
    def agreement_id(self) -> str:
        return self._builder.agreement_id

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

    def _batch_request(self, token: bytes, request_id: str) -> httpx.Request:
        return self._request(
            "POST", SUPPLY_PATH, request_id, content=token, content_type=ENVELOPE_CONTENT_TYPE
        )

    def _status_token(self, sealer: Sealer) -> bytes:
        """A status request: this supplier and agreement and a fresh nonce,
        sealed now (signed with the supplier's key, encrypted to the directory's)."""
        payload = {
            "supplier_id": self.supplier_id,
            "agreement_id": self.agreement_id,
            "nonce": uuid.uuid4().hex,
        }
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        return sealer.seal(body, content_type=STATUS_CONTENT_TYPE).encode("ascii")

    def _status_request(self, token: bytes, request_id: str) -> httpx.Request:
        return self._request(
            "POST", STATUS_PATH, request_id, content=token, content_type=ENVELOPE_CONTENT_TYPE
        )

    def _last_sequence(self, response: httpx.Response, attempts: int, request_id: str) -> int:
        """The number in a ``200`` status answer, strictly: ``{"last_sequence": N}``
        and nothing else (SUP-1)."""
        if response.status_code != 200:
            raise error_for_response(
                response, now=self._clock.now(), attempts=attempts, request_id=request_id
            )
        try:
            data = strict_json(response.content)
        except (ValueError, RecursionError):
            data = None
        last = data.get("last_sequence") if isinstance(data, Mapping) and len(data) == 1 else None
        if media_type(response) != "application/json" or not (
            isinstance(last, int) and not isinstance(last, bool) and last >= 0
        ):
            raise ResponseInvalid(
                'the directory\'s status is not {"last_sequence": N} and nothing else (SUP-1)',
                status=response.status_code,
                request_id=self._request_id(response, request_id),
                attempts=attempts,
                code="status_invalid",
            )
        return last

    def _keys_request(self, request_id: str) -> httpx.Request:
        return self._request("GET", DIRECTORY_KEYS_PATH, request_id)

    @staticmethod
    def _not_sent(request_id: str) -> NotSent:
        """The failure for an attempt of request ``request_id`` that got no answer."""

        def failure(error: httpx.TransportError, attempts: int) -> TransportFailure:
            return transport_failure(error, attempts=attempts, request_id=request_id)

        return failure

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

        if media_type(response) != "application/json":
            refuse("the directory's receipt is not application/json", "receipt_not_json")
        try:
            data = strict_json(response.content)
        except (ValueError, RecursionError):
            refuse("the directory's receipt is not valid JSON", "receipt_not_json")
        try:
            receipt = self._codec.decode(data, SupplyReceipt)
        except ValidationError as error:
            refuse(
                "the directory's answer is not a receipt and nothing else (SUP-1): "
                + problem_summary(error.problems),
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
            data = strict_json(response.content)
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


class SupplyClient(_SupplyCore[httpx.Client], SyncClientBase):
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
        check_transport(transport, http_client)
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
        self._connect(transport, http_client, self._base_url)
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
        request = self._batch_request(token, request_id)
        not_sent = self._not_sent(request_id)

        def attempt(n: int) -> SupplyReceipt:
            return self._receipt(self._send(request, n, not_sent), batch, n, request_id)

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

    def status(self) -> int:
        """The last batch sequence number the directory accepted from this
        supplier (``0`` before any), asked with a status request sealed by
        this client's key (``POST /v1/supply/status``). Retried as a batch
        is; every retry sends the same request.

        :raises ApiError: the directory refused it (401: not this supplier's
            key; 403: another supplier's ID, or an agreement it does not hold).
        :raises TransportFailure: no answer after every attempt.
        :raises ResponseInvalid: the answer is not ``{"last_sequence": N}`` (SUP-1).
        """
        self._ensure_open()
        token = self._status_token(self._get_sealer())
        request_id = uuid.uuid4().hex
        request = self._status_request(token, request_id)
        not_sent = self._not_sent(request_id)

        def attempt(n: int) -> int:
            return self._last_sequence(self._send(request, n, not_sent), n, request_id)

        return self._retry.call(attempt)

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

    # --- internals ----------------------------------------------------------------

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
        request = self._keys_request(request_id)
        not_sent = self._not_sent(request_id)

        def attempt(n: int) -> PublicKey:
            return self._directory_key(self._send(request, n, not_sent), n, request_id)

        return self._retry.call(attempt)


# --- The async client -------------------------------------------------------------------


class AsyncSupplyClient(_SupplyCore[httpx.AsyncClient], AsyncClientBase):
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
        check_transport(transport, http_client)
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
        self._connect(transport, http_client, self._base_url)
        self._key_lock = asyncio.Lock()

    async def send_batch(self, batch: SupplyBatch) -> SupplyReceipt:
        """See :meth:`SupplyClient.send_batch`."""
        self._ensure_open()
        self._check_batch(batch)
        token = self._seal(await self._get_sealer(), batch)
        request_id = uuid.uuid4().hex
        request = self._batch_request(token, request_id)
        not_sent = self._not_sent(request_id)

        async def attempt(n: int) -> SupplyReceipt:
            return self._receipt(await self._send(request, n, not_sent), batch, n, request_id)

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

    async def status(self) -> int:
        """See :meth:`SupplyClient.status`."""
        self._ensure_open()
        token = self._status_token(await self._get_sealer())
        request_id = uuid.uuid4().hex
        request = self._status_request(token, request_id)
        not_sent = self._not_sent(request_id)

        async def attempt(n: int) -> int:
            return self._last_sequence(await self._send(request, n, not_sent), n, request_id)

        return await self._retry.acall(attempt)

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

    # --- internals ----------------------------------------------------------------

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
        request = self._keys_request(request_id)
        not_sent = self._not_sent(request_id)

        async def attempt(n: int) -> PublicKey:
            return self._directory_key(await self._send(request, n, not_sent), n, request_id)

        return await self._retry.acall(attempt)
