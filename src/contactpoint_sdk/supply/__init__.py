"""Signed, encrypted, one-way supply to the directory (SUP-1..SUP-9).

- :class:`SupplyClient` / :class:`AsyncSupplyClient` — send operations; get receipts
- :class:`Outbox` — a durable queue for automatic updates (SUP-6)
- :class:`BatchBuilder` — batches with fresh IDs and rising sequence numbers
- :mod:`~contactpoint_sdk.supply.envelope` — the JWS-in-JWE envelope (SUP-5)
- :mod:`~contactpoint_sdk.supply.keys` — supplier and directory keys, rotation
"""

from contactpoint_sdk.supply.batch import BatchBuilder, MemorySequence, decode_batch, encode_batch
from contactpoint_sdk.supply.client import AsyncSupplyClient, SupplyClient, SupplyResult
from contactpoint_sdk.supply.envelope import EnvelopeOpener, OpenedEnvelope, Sealer, seal
from contactpoint_sdk.supply.keys import (
    EncryptionKey,
    KeyRing,
    PublicKey,
    PublicKeySet,
    SigningKey,
)
from contactpoint_sdk.supply.outbox import (
    AsyncBatchSender,
    BatchSender,
    DrainReport,
    Outbox,
    ParkedOperation,
)
from contactpoint_sdk.supply.retry import NO_RETRY, RetryPolicy

__all__ = [
    "NO_RETRY",
    "AsyncBatchSender",
    "AsyncSupplyClient",
    "BatchBuilder",
    "BatchSender",
    "DrainReport",
    "EncryptionKey",
    "EnvelopeOpener",
    "KeyRing",
    "MemorySequence",
    "OpenedEnvelope",
    "Outbox",
    "ParkedOperation",
    "PublicKey",
    "PublicKeySet",
    "RetryPolicy",
    "Sealer",
    "SigningKey",
    "SupplyClient",
    "SupplyResult",
    "decode_batch",
    "encode_batch",
    "seal",
]
