"""Supply operations, batches and receipts: the one-way supply protocol (SUP-1..SUP-9).

A supplier sends :class:`SupplyBatch` es of typed operations; the directory
answers each batch with a :class:`SupplyReceipt` that says, per operation,
accepted or rejected with a code and rule ID — and nothing else: no child data
ever comes back (SUP-1).

Every operation carries ``ref``, the supplier's own reference for the source
row, so a receipt maps back to it. Operations about an existing child name the
child by a :class:`ChildKey`: the supplier's identifiers and the date of birth,
which is all the directory needs to find the record it supplied before.

On the wire each operation carries ``"op": "<name>"`` (see :data:`OPERATION_TAGS`).
"""

from __future__ import annotations

import enum
import re
from datetime import date, datetime

import attrs

from contactpoint_sdk.errors import ValidationError
from contactpoint_sdk.models._decode_checks import Checks, Expr
from contactpoint_sdk.models.enums import Gender, ShieldGround
from contactpoint_sdk.models.record import (
    Address,
    Involvement,
    LocalAuthorityCarer,
    Organisation,
    ParentCarer,
    PersonName,
    Practitioner,
    SourceIdentifiers,
)

__all__ = [
    "DECODE_CHECKS",
    "MAX_OPERATIONS_PER_BATCH",
    "OPERATION_TAGS",
    "AnyOperation",
    "ChildDied",
    "ChildKey",
    "ChildLeftEngland",
    "ChildLeftSetting",
    "CommonAssessmentCompleted",
    "ConsentWithdrawn",
    "InvolvementChanged",
    "InvolvementEnded",
    "InvolvementStarted",
    "OperationOutcome",
    "OutcomeStatus",
    "ShieldRequested",
    "SocialCareReferral",
    "SuppliedChild",
    "SupplyBatch",
    "SupplyReceipt",
    "check_identifier",
]

#: The most operations one batch may carry; larger inputs are split (SUP-5 envelopes
#: stay small enough to open quickly, and one batch is one transaction).
MAX_OPERATIONS_PER_BATCH = 500

_REF_RE = re.compile(r"[A-Za-z0-9._:/-]{1,64}")
_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def check_identifier(value: str, *, path: str, what: str) -> None:
    """Refuse a supplier, agreement or batch ID that is not 1-64 safe characters."""
    if not _ID_RE.fullmatch(value):
        raise ValidationError.single(
            f"{what} is 1 to 64 letters, digits, '.', '_', ':' or '-'",
            code=f"{path}_invalid",
            path=path,
        )


def _ref(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not _REF_RE.fullmatch(value):
        raise ValidationError.single(
            "a supplier reference is 1 to 64 letters, digits, '.', '_', ':', '/' or '-'",
            code="reference_invalid",
            path=attribute.name,
        )


@attrs.frozen(kw_only=True)
class ChildKey:
    """How an operation names a child the supplier has supplied before."""

    identifiers: SourceIdentifiers
    date_of_birth: date


@attrs.frozen(kw_only=True)
class SuppliedChild:
    """The child's current record as the source holds it (REC-1..REC-5).

    No directory identifier: the directory assigns that (REC-1). The
    involvements are the supplier's own (its school, its service).
    """

    ref: str = attrs.field(validator=_ref)
    name: PersonName
    gender: Gender
    date_of_birth: date
    address: Address
    identifiers: SourceIdentifiers
    parents: tuple[ParentCarer | LocalAuthorityCarer, ...] = ()
    involvements: tuple[Involvement, ...] = ()


@attrs.frozen(kw_only=True)
class ChildLeftSetting:
    """The child has left the supplier's setting: its involvements end on ``left_on``."""

    ref: str = attrs.field(validator=_ref)
    child: ChildKey
    left_on: date


@attrs.frozen(kw_only=True)
class InvolvementStarted:
    """A service became involved (REC-3, REC-4); a sensitive one carries its
    consent or override (SENS-2, SENS-3)."""

    ref: str = attrs.field(validator=_ref)
    child: ChildKey
    involvement: Involvement


@attrs.frozen(kw_only=True)
class InvolvementChanged:
    """The REC-5 indicators of an involvement changed (lead professional, CAF)."""

    ref: str = attrs.field(validator=_ref)
    child: ChildKey
    involvement_reference: str
    lead_professional: bool | None = None
    caf_completed: bool | None = None

    def __attrs_post_init__(self) -> None:
        if self.lead_professional is None and self.caf_completed is None:
            raise ValidationError.single(
                "an involvement change sets lead_professional, caf_completed or both",
                code="change_empty",
            )


@attrs.frozen(kw_only=True)
class InvolvementEnded:
    """An involvement ended; its contact details stay per RET-7."""

    ref: str = attrs.field(validator=_ref)
    child: ChildKey
    involvement_reference: str
    ended_on: date


@attrs.frozen(kw_only=True)
class ConsentWithdrawn:
    """Consent to record a sensitive involvement was withdrawn (SENS-2)."""

    ref: str = attrs.field(validator=_ref)
    child: ChildKey
    involvement_reference: str
    withdrawn_on: date


@attrs.frozen(kw_only=True)
class ChildDied:
    """The child has died; the record stays one year, then is archived (RET-3)."""

    ref: str = attrs.field(validator=_ref)
    child: ChildKey
    died_on: date


@attrs.frozen(kw_only=True)
class ChildLeftEngland:
    """The child was found not ordinarily resident in England, or gone and not
    returning within three years; the record is archived (RET-4)."""

    ref: str = attrs.field(validator=_ref)
    child: ChildKey
    determined_on: date


@attrs.frozen(kw_only=True)
class ShieldRequested:
    """A shield, in effect the moment the directory receives it (SHLD-2, SHLD-6)."""

    ref: str = attrs.field(validator=_ref)
    child: ChildKey
    ground: ShieldGround
    requested_by: str
    requested_at: datetime


@attrs.frozen(kw_only=True)
class CommonAssessmentCompleted:
    """A completed common assessment (eCAF) with the assessing practitioner's
    contact details (SUP-9, REC-5). No assessment content, ever (REC-6)."""

    ref: str = attrs.field(validator=_ref)
    child: ChildKey
    involvement_reference: str
    practitioner: Practitioner
    organisation: Organisation
    completed_on: date


@attrs.frozen(kw_only=True)
class SocialCareReferral:
    """A social-care involvement from the Integrated Children's System (ICS):
    that it exists and who the practitioner is, never case detail (SUP-9)."""

    ref: str = attrs.field(validator=_ref)
    child: ChildKey
    involvement_reference: str
    practitioner: Practitioner
    organisation: Organisation
    started_on: date
    lead_professional: bool = False


AnyOperation = (
    SuppliedChild
    | ChildLeftSetting
    | InvolvementStarted
    | InvolvementChanged
    | InvolvementEnded
    | ConsentWithdrawn
    | ChildDied
    | ChildLeftEngland
    | ShieldRequested
    | CommonAssessmentCompleted
    | SocialCareReferral
)

#: For the codec's generated decoders (as ``record.DECODE_CHECKS``): conditions
#: under which an operation's ``__attrs_post_init__`` finds nothing.
DECODE_CHECKS: dict[type, Checks] = {
    InvolvementChanged: Checks(
        (Expr("{lead_professional} is not None or {caf_completed} is not None"),)
    ),
}

#: Wire tag (``"op"``) of each operation type.
OPERATION_TAGS: dict[type, str] = {
    SuppliedChild: "child_supplied",
    ChildLeftSetting: "child_left_setting",
    InvolvementStarted: "involvement_started",
    InvolvementChanged: "involvement_changed",
    InvolvementEnded: "involvement_ended",
    ConsentWithdrawn: "consent_withdrawn",
    ChildDied: "child_died",
    ChildLeftEngland: "child_left_england",
    ShieldRequested: "shield_requested",
    CommonAssessmentCompleted: "common_assessment_completed",
    SocialCareReferral: "social_care_referral",
}


@attrs.frozen(kw_only=True)
class SupplyBatch:
    """One batch of operations from one supplier (SUP-4, SUP-5).

    ``batch_id`` makes a resend idempotent: the directory answers a batch it
    has seen with its first receipt. ``sequence`` rises strictly per supplier.
    ``agreement_id`` names the operational agreement the supply is made under.
    """

    supplier_id: str
    agreement_id: str
    batch_id: str
    sequence: int
    created_at: datetime
    operations: tuple[AnyOperation, ...]

    def __attrs_post_init__(self) -> None:
        check_identifier(self.supplier_id, path="supplier_id", what="a supplier ID")
        check_identifier(self.agreement_id, path="agreement_id", what="an agreement ID")
        check_identifier(self.batch_id, path="batch_id", what="a batch ID")
        if self.sequence < 1:
            raise ValidationError.single(
                "sequence numbers start at 1", code="sequence_invalid", path="sequence"
            )
        if not 1 <= len(self.operations) <= MAX_OPERATIONS_PER_BATCH:
            raise ValidationError.single(
                f"a batch carries 1 to {MAX_OPERATIONS_PER_BATCH} operations",
                code="batch_size",
                path="operations",
            )
        refs = [op.ref for op in self.operations]
        if len(set(refs)) != len(refs):
            raise ValidationError.single(
                "two operations in one batch share a ref; receipts could not map back",
                code="ref_duplicate",
                path="operations",
            )


class OutcomeStatus(enum.Enum):
    """Accepted or rejected."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"


@attrs.frozen(kw_only=True)
class OperationOutcome:
    """What became of one operation: a status, and for a rejection its code,
    rule and a message that quotes no data (SUP-1)."""

    ref: str
    status: OutcomeStatus
    code: str | None = None
    rule: str | None = None
    message: str | None = None
    path: str | None = None


@attrs.frozen(kw_only=True)
class SupplyReceipt:
    """The directory's whole answer to a batch (SUP-1): per-operation outcomes,
    nothing more."""

    batch_id: str
    sequence: int
    received_at: datetime
    outcomes: tuple[OperationOutcome, ...]

    @property
    def accepted(self) -> tuple[OperationOutcome, ...]:
        """The operations the directory took."""
        return tuple(o for o in self.outcomes if o.status is OutcomeStatus.ACCEPTED)

    @property
    def rejected(self) -> tuple[OperationOutcome, ...]:
        """The operations the directory refused, each with code and rule."""
        return tuple(o for o in self.outcomes if o.status is OutcomeStatus.REJECTED)
