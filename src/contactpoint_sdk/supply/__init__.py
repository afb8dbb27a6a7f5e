"""Signed, encrypted, one-way supply to the directory (SUP-1..SUP-9).

- :class:`SupplyClient` / :class:`AsyncSupplyClient` — send operations; get receipts
- :class:`Outbox` — a durable queue for automatic updates (SUP-6)
- :class:`BatchBuilder` — batches with fresh IDs and rising sequence numbers
- :mod:`~contactpoint_sdk.supply.envelope` — the JWS-in-JWE envelope (SUP-5)
- :mod:`~contactpoint_sdk.supply.keys` — supplier and directory keys, rotation
- :func:`read_ctf` / :func:`iter_ctf` — a DfE Common Transfer File, read safely (SUP-2)
- :class:`RosterFile` — what a school last supplied, encrypted at rest (only changes are sent)
"""

from contactpoint_sdk.supply.batch import BatchBuilder, MemorySequence, decode_batch, encode_batch
from contactpoint_sdk.supply.client import AsyncSupplyClient, SupplyClient, SupplyResult
from contactpoint_sdk.supply.ctf import (
    CtfReadResult,
    CtfRefused,
    CtfStream,
    CtfUnsafe,
    iter_ctf,
    read_ctf,
)
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
from contactpoint_sdk.supply.roster import Roster, RosterFile, RosterUnreadable

__all__ = [
    "NO_RETRY",
    "AsyncBatchSender",
    "AsyncSupplyClient",
    "BatchBuilder",
    "BatchSender",
    "CtfReadResult",
    "CtfRefused",
    "CtfStream",
    "CtfUnsafe",
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
    "Roster",
    "RosterFile",
    "RosterUnreadable",
    "Sealer",
    "SigningKey",
    "SupplyClient",
    "SupplyResult",
    "decode_batch",
    "encode_batch",
    "iter_ctf",
    "read_ctf",
    "seal",
]
