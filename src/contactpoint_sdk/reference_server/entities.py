"""The directory core's own value types: registry, queues, job reports.

Defined here so every module of the core can use them without importing the
service; :mod:`contactpoint_sdk.reference_server.service` re-exports them all
(import them from there or from the package). None of them carries child or
parent data: they name records by directory identifier and sources by their
own references (SUP-1, SUP-8).
"""

from __future__ import annotations

import enum
from datetime import date, datetime

import attrs

from contactpoint_sdk.models.enums import ServiceKind, ShieldGround, ShieldReviewParty
from contactpoint_sdk.models.identifiers import DirectoryId
from contactpoint_sdk.models.operations import OPERATION_TAGS

__all__ = [
    "ALL_OPERATIONS",
    "BrokerRequest",
    "BrokerStatus",
    "DataQualityItem",
    "DataQualityKind",
    "DataQualityStatus",
    "JobReport",
    "ShieldRequestInput",
    "ShieldReviewInput",
    "SourceQuery",
    "SupplierRecord",
    "SupplyAgreement",
    "UniversalServiceGap",
]

#: Every operation tag, for an agreement that allows all of them.
ALL_OPERATIONS: frozenset[str] = frozenset(OPERATION_TAGS.values())


@attrs.frozen(kw_only=True)
class SupplyAgreement:
    """An operational agreement for data supply (SUP-4): what a supplier may
    send (operation tags and service kinds), how often, and that it is for the
    directory only. A supply outside it is refused citing SUP-4.

    ``operations`` holds wire tags (``"child_supplied"``,
    ``"shield_requested"`` ...: :data:`ALL_OPERATIONS`); ``services`` the
    service kinds whose involvements the supplier may record.
    """

    agreement_id: str
    operations: frozenset[str] = ALL_OPERATIONS
    services: frozenset[ServiceKind] = frozenset(ServiceKind)
    frequency: str = "on change"
    purpose: str = "ContactPoint directory only"


@attrs.frozen(kw_only=True)
class SupplierRecord:
    """An accredited supplier (SUP-3) as the registry holds it.

    ``accredited`` is false once suspended. ``local_authority`` is the DfE
    code the supplier is registered in (a school's, a council's), or ``None``
    for a supplier that works across authorities. ``key_ids`` are the
    ``kid`` s of its registered signing keys; ``namespace`` prefixes its
    involvement references inside the directory; ``last_sequence`` is the
    highest batch sequence number accepted from it.
    """

    supplier_id: str
    name: str
    agreements: tuple[SupplyAgreement, ...]
    accredited: bool = True
    local_authority: str | None = None
    key_ids: tuple[str, ...] = ()
    namespace: str = ""
    last_sequence: int = 0


@attrs.frozen(kw_only=True)
class JobReport:
    """What one run of the lifecycle jobs did, by directory identifier only.

    ``contact_details_archived`` counts involvements whose contact details
    left the live record (RET-7); ``archived_contacts_destroyed`` those
    destroyed six years later (RET-5).
    """

    ran_at: datetime
    archived: tuple[DirectoryId, ...] = ()
    contact_details_archived: int = 0
    destroyed: tuple[DirectoryId, ...] = ()
    archived_contacts_destroyed: int = 0


class BrokerStatus(enum.Enum):
    """Where a brokered-contact request stands (SENS-4)."""

    OPEN = "open"
    FORWARDED = "forwarded"  # passed to the sensitive-service practitioner
    DECLINED = "declined"  # the practitioner chose not to respond
    ANSWERED = "answered"

    @property
    def is_closed(self) -> bool:
        """Declined and answered requests are finished."""
        return self in (BrokerStatus.DECLINED, BrokerStatus.ANSWERED)


@attrs.frozen(kw_only=True)
class BrokerRequest:
    """A practitioner's request, through the management team, to be put in
    touch with an unspecified sensitive service (SENS-4).

    ``ordinal`` is the number of the unspecified service in the requester's
    view. Which service it is stays with the directory: the management team
    sees it in the child's full record; the requester never does.
    """

    request_id: str
    directory_id: DirectoryId
    ordinal: int
    requested_by: str
    requested_at: datetime
    local_authority: str | None
    status: BrokerStatus = BrokerStatus.OPEN
    updated_by: str | None = None
    updated_at: datetime | None = None


class DataQualityKind(enum.Enum):
    """Why a record needs the management team's attention (SUP-7, SUP-8)."""

    POSSIBLE_DUPLICATE = "possible_duplicate"
    REJECTED_SUPPLY = "rejected_supply"
    CONFLICTING_DETAILS = "conflicting_details"
    SHIELD_MATCH_UNCERTAIN = "shield_match_uncertain"  # SHLD-7


class DataQualityStatus(enum.Enum):
    """Whether the management team has dealt with an item."""

    OPEN = "open"
    RESOLVED = "resolved"


@attrs.frozen(kw_only=True)
class DataQualityItem:
    """One entry in a local authority's data-quality queue (SUP-8).

    ``directory_id`` is the record concerned (for a held supply, the first
    candidate); ``candidates`` every record in doubt. ``source_ref`` is the
    supplier's own reference for the operation; ``detail_code`` says why
    (``identifiers_disagree``, ``date_of_birth_differs``,
    ``shielded_record_may_match``, ``possible_duplicate``,
    ``record_archived`` ...). ``held`` is true when the supply was held, not
    applied, waiting for the team's decision
    (:meth:`~contactpoint_sdk.reference_server.service.DirectoryService.resolve_held_supply`).
    """

    item_id: str
    kind: DataQualityKind
    raised_at: datetime
    local_authority: str | None
    directory_id: DirectoryId | None
    supplier_id: str
    source_ref: str
    detail_code: str
    candidates: tuple[DirectoryId, ...] = ()
    held: bool = False
    status: DataQualityStatus = DataQualityStatus.OPEN
    resolved_by: str | None = None


@attrs.frozen(kw_only=True)
class SourceQuery:
    """A query back to a source about its own data (SUP-8). It names the
    source's own reference and the field in question, never data from
    elsewhere in the directory."""

    query_id: str
    supplier_id: str
    source_ref: str
    field: str
    question_code: str
    raised_at: datetime
    item_id: str | None = None
    raised_by: str | None = None


@attrs.frozen(kw_only=True)
class ShieldReviewInput:
    """A management team's review of a shield (SHLD-3)."""

    reviewed_on: date
    reviewed_by: str
    views_considered: tuple[ShieldReviewParty, ...]
    maintained: bool


@attrs.frozen(kw_only=True)
class ShieldRequestInput:
    """A shield request through the API (SHLD-6)."""

    ground: ShieldGround
    requested_by: str


@attrs.frozen(kw_only=True)
class UniversalServiceGap:
    """A child with no universal service recorded (REC-7): no current GP
    practice, and/or no current education setting while of school age."""

    directory_id: DirectoryId
    no_gp: bool
    no_education_setting: bool
