"""The reference directory: the whole national directory, in-process.

::

    from contactpoint_sdk.reference_server import ReferenceDirectory

    directory = ReferenceDirectory()                    # in-process, SQLite, movable clock
    school = directory.register_supplier("school-8012000", "Riverside Primary")
    with directory.supply_client(school) as client:
        result = client.supply(operations)              # receipts, nothing more (SUP-1)

:class:`ReferenceDirectory` is the front door; :class:`DirectoryService` is the
core it wraps, for tests that call the rules directly.

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
from contactpoint_sdk.reference_server.directory import (
    IN_PROCESS_URL,
    ReferenceDirectory,
    SupplierCredentials,
    UserCredentials,
)
from contactpoint_sdk.reference_server.faults import FaultInjector
from contactpoint_sdk.reference_server.linkage_merge import (
    MergeReceipt,
    MergeSnapshotNote,
    PendingMerge,
)
from contactpoint_sdk.reference_server.matching import (
    Matcher,
    MatchOutcome,
    MatchResult,
    ProbabilisticMatcher,
    StrongIdentifierMatcher,
)
from contactpoint_sdk.reference_server.serve import LoopbackServer
from contactpoint_sdk.reference_server.service import (
    ALL_OPERATIONS,
    REFERENCE_POLICY,
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
    "IN_PROCESS_URL",
    "REFERENCE_POLICY",
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
    "MergeReceipt",
    "MergeSnapshotNote",
    "MerkleAuditLog",
    "PendingMerge",
    "ProbabilisticMatcher",
    "ReferenceDirectory",
    "ShieldRequestInput",
    "ShieldReviewInput",
    "SignedTreeHead",
    "SourceQuery",
    "SqliteStore",
    "Store",
    "StrongIdentifierMatcher",
    "SupplierCredentials",
    "SupplierRecord",
    "SupplyAgreement",
    "UniversalServiceGap",
    "UserCredentials",
    "VerificationReport",
    "create_app",
    "verify_log_file",
]
