"""Batches: split operations into sealed-size batches, and their payload bytes.

:class:`BatchBuilder` turns any number of operations into
:class:`~contactpoint_sdk.models.operations.SupplyBatch` es of at most
:data:`~contactpoint_sdk.models.operations.MAX_OPERATIONS_PER_BATCH` operations,
each with a fresh batch ID (idempotency) and the supplier's next sequence number
(SUP-5). Before anything is batched, each operation is checked against the
consent rules, so a sensitive involvement without valid consent is refused on
the supplier's side and never sent (SENS-2, SENS-3).

:func:`encode_batch` and :func:`decode_batch` are the payload inside the
envelope: compact UTF-8 JSON through the one wire codec. The directory decodes
with the same function, strictly.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any, Protocol

import attrs

from contactpoint_sdk.clock import Clock
from contactpoint_sdk.errors import Problem, ValidationError
from contactpoint_sdk.models.codec import WireCodec, default_codec, json_bytes, json_value
from contactpoint_sdk.models.operations import (
    MAX_OPERATIONS_PER_BATCH,
    AnyOperation,
    InvolvementStarted,
    SuppliedChild,
    SupplyBatch,
)
from contactpoint_sdk.policy.consent import require_consent

__all__ = [
    "BATCH_CONTENT_TYPE",
    "BatchBuilder",
    "BatchHeader",
    "DecodedBatch",
    "DecodedOperation",
    "MemorySequence",
    "SequenceSource",
    "check_operation",
    "decode_batch",
    "encode_batch",
]

#: The media type of a batch payload inside the envelope (its ``cty``).
BATCH_CONTENT_TYPE = "application/vnd.contactpoint.supply+json"


class SequenceSource(Protocol):
    """Hands out a supplier's strictly increasing sequence numbers."""

    def next_sequence(self) -> int:
        """The next number; never the same twice."""
        ...


class MemorySequence:
    """Sequence numbers held in memory, from ``start``. For tests and one-shot
    uploads; the outbox keeps its own on disk."""

    def __init__(self, start: int = 1) -> None:
        if start < 1:
            raise ValueError("sequence numbers start at 1")
        self._next = start
        self._lock = threading.Lock()

    def next_sequence(self) -> int:
        with self._lock:
            value = self._next
            self._next += 1
            return value


def check_operation(operation: AnyOperation, today: date) -> None:
    """Refuse, before sending, an operation the consent rules would refuse.

    Raises :class:`~contactpoint_sdk.errors.PolicyRefusal` citing SENS-2 or
    SENS-3 for a sensitive involvement without valid consent or override.
    """
    if isinstance(operation, InvolvementStarted):
        require_consent(
            operation.involvement,
            child_date_of_birth=operation.child.date_of_birth,
            today=today,
        )
    elif isinstance(operation, SuppliedChild):
        for involvement in operation.involvements:
            require_consent(involvement, child_date_of_birth=operation.date_of_birth, today=today)


class BatchBuilder:
    """Builds a supplier's batches: fresh batch IDs, rising sequence numbers.

    ``max_operations`` may be lowered (never raised past the protocol's
    maximum) to keep envelopes small on slow links.
    """

    def __init__(
        self,
        *,
        supplier_id: str,
        agreement_id: str,
        clock: Clock,
        sequence: SequenceSource | None = None,
        max_operations: int = MAX_OPERATIONS_PER_BATCH,
    ) -> None:
        if not 1 <= max_operations <= MAX_OPERATIONS_PER_BATCH:
            raise ValueError(f"max_operations is 1 to {MAX_OPERATIONS_PER_BATCH}")
        self.supplier_id = supplier_id
        self.agreement_id = agreement_id
        self._clock = clock
        self._sequence = sequence or MemorySequence()
        self._max = max_operations

    def build(self, operations: Iterable[AnyOperation]) -> Iterator[SupplyBatch]:
        """Check and split ``operations`` into batches, lazily, in order."""
        chunk: list[AnyOperation] = []
        today = self._clock.today()
        for operation in operations:
            check_operation(operation, today)
            chunk.append(operation)
            if len(chunk) == self._max:
                yield self._batch(chunk)
                chunk = []
        if chunk:
            yield self._batch(chunk)

    def _batch(self, operations: list[AnyOperation]) -> SupplyBatch:
        return SupplyBatch(
            supplier_id=self.supplier_id,
            agreement_id=self.agreement_id,
            batch_id=uuid.uuid4().hex,
            sequence=self._sequence.next_sequence(),
            created_at=self._clock.now(),
            operations=tuple(operations),
        )


def encode_batch(batch: SupplyBatch, codec: WireCodec = default_codec) -> bytes:
    """The payload bytes of a batch: compact UTF-8 JSON (:func:`json_bytes`:
    the same bytes as ``json.dumps(..., separators=(",", ":"),
    ensure_ascii=False)``, written by orjson)."""
    return json_bytes(codec.encode(batch))


@attrs.frozen(kw_only=True)
class BatchHeader:
    """A batch's own fields, decoded before its operations."""

    supplier_id: str
    agreement_id: str
    batch_id: str
    sequence: int
    created_at: datetime


@attrs.frozen(kw_only=True)
class DecodedOperation:
    """One operation of a received batch: decoded, or the problems that stopped it.

    ``ref`` is the supplier's reference when it could be read, so even a
    malformed operation's rejection maps back to its row.
    """

    index: int
    ref: str | None
    operation: AnyOperation | None
    problems: tuple[Problem, ...] = ()
    #: The operation as read from the payload's JSON (trusted by nobody: for
    #: a receiver's own use, e.g. not quoting a supplied value back).
    raw: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen(kw_only=True)
class DecodedBatch:
    """A received batch: its header, and each operation decoded on its own so
    one bad row is rejected without sinking the rest (SUP-1 receipts are per
    operation)."""

    header: BatchHeader
    operations: tuple[DecodedOperation, ...]


_HEADER_KEYS = frozenset(a.name for a in attrs.fields(BatchHeader))


def decode_batch(
    payload: bytes, codec: WireCodec = default_codec, *, today: date | None = None
) -> DecodedBatch:
    """Decode a batch payload: the header strictly (any fault refuses the whole
    batch with a ValidationError), then each operation on its own."""
    try:
        data = json_value(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValidationError.single(
            "the batch payload is not UTF-8 JSON", code="payload_not_json", rule="SUP-5"
        ) from None
    if not isinstance(data, dict):
        raise ValidationError.single("a batch is a JSON object", code="wrong_type")
    problems = [
        Problem(path=key, message="unknown field", code="unknown_field", rule="REC-6")
        for key in sorted(set(data) - _HEADER_KEYS - {"operations"})
    ]
    operations = data.get("operations")
    if not isinstance(operations, list) or not 1 <= len(operations) <= MAX_OPERATIONS_PER_BATCH:
        problems.append(
            Problem(
                path="operations",
                message=f"a batch carries a list of 1 to {MAX_OPERATIONS_PER_BATCH} operations",
                code="batch_size",
            )
        )
    try:
        header = codec.decode({k: v for k, v in data.items() if k in _HEADER_KEYS}, BatchHeader)
    except ValidationError as error:
        problems.extend(error.problems)
    if problems or not isinstance(operations, list):
        raise ValidationError(problems)
    return DecodedBatch(
        header=header,
        operations=tuple(
            [_decode_operation(i, item, codec, today) for i, item in enumerate(operations)]
        ),
    )


def _decode_operation(
    index: int, item: Any, codec: WireCodec, today: date | None
) -> DecodedOperation:
    ref = item.get("ref") if isinstance(item, dict) else None
    ref = ref if isinstance(ref, str) else None
    try:
        operation = codec.decode_operation(item, today=today)
    except ValidationError as error:
        return DecodedOperation(
            index=index,
            ref=ref,
            operation=None,
            problems=error.at(f"operations[{index}]").problems,
            raw=item,
        )
    return DecodedOperation(index=index, ref=operation.ref, operation=operation, raw=item)
