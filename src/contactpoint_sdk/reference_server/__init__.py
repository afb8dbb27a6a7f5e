"""The reference directory: the whole national directory, in-process.

::

    from contactpoint_sdk.reference_server import DirectoryService

    directory = DirectoryService.in_memory()          # SQLite in memory, a movable clock
    directory.register_supplier("school-8012000", "Riverside School",
                                signing_keys=[key.public_key()],
                                agreements=[SupplyAgreement(agreement_id="AG-1")])
    receipt = directory.ingest(sealed_batch)            # the receipt, nothing more (SUP-1)

See ``docs/reference-server.md``.
"""

from contactpoint_sdk.reference_server.app import create_app
from contactpoint_sdk.reference_server.audit import AuditEvent, AuditSink, MemoryAuditLog
from contactpoint_sdk.reference_server.audit_log import (
    MerkleAuditLog,
    SignedTreeHead,
    VerificationReport,
    verify_log_file,
)
from contactpoint_sdk.reference_server.faults import FaultInjector
from contactpoint_sdk.reference_server.matching import (
    Matcher,
    MatchOutcome,
    MatchResult,
    StrongIdentifierMatcher,
)
from contactpoint_sdk.reference_server.serve import LoopbackServer
from contactpoint_sdk.reference_server.service import (
    ALL_OPERATIONS,
    BrokerRequest,
    BrokerStatus,
    DataQualityItem,
    DataQualityKind,
    DataQualityStatus,
    DirectoryService,
    JobReport,
    ShieldRequestInput,
    ShieldReviewInput,
    SourceQuery,
    SupplierRecord,
    SupplyAgreement,
    UniversalServiceGap,
)
from contactpoint_sdk.reference_server.store import SqliteStore, Store
from contactpoint_sdk.reference_server.transport import AsyncInProcessTransport, InProcessTransport

__all__ = [
    "ALL_OPERATIONS",
    "AsyncInProcessTransport",
    "AuditEvent",
    "AuditSink",
    "BrokerRequest",
    "BrokerStatus",
    "DataQualityItem",
    "DataQualityKind",
    "DataQualityStatus",
    "DirectoryService",
    "FaultInjector",
    "InProcessTransport",
    "JobReport",
    "LoopbackServer",
    "MatchOutcome",
    "MatchResult",
    "Matcher",
    "MemoryAuditLog",
    "MerkleAuditLog",
    "ShieldRequestInput",
    "ShieldReviewInput",
    "SignedTreeHead",
    "SourceQuery",
    "SqliteStore",
    "Store",
    "StrongIdentifierMatcher",
    "SupplierRecord",
    "SupplyAgreement",
    "UniversalServiceGap",
    "VerificationReport",
    "create_app",
    "verify_log_file",
]
