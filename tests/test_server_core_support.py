"""Helpers for the directory core's tests (no tests here).

Suppliers use the real supply path: an Ed25519 signing key registered with
the directory, batches from :class:`~contactpoint_sdk.supply.batch.BatchBuilder`,
:func:`~contactpoint_sdk.supply.batch.encode_batch` and
:func:`~contactpoint_sdk.supply.envelope.seal` to the directory's key.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from contactpoint_sdk.clock import MovableClock
from contactpoint_sdk.models import (
    Address,
    Consent,
    ConsentGiver,
    ContactDetails,
    Gender,
    Involvement,
    NhsNumber,
    Organisation,
    OrganisationKind,
    PersonName,
    Postcode,
    Practitioner,
    ServiceKind,
    SourceIdentifiers,
    Upn,
)
from contactpoint_sdk.models.identifiers import nhs_check_digit, upn_check_letter
from contactpoint_sdk.models.operations import (
    AnyOperation,
    ChildKey,
    SuppliedChild,
    SupplyBatch,
    SupplyReceipt,
)
from contactpoint_sdk.policy.viewer import Purpose, Role, SubjectAccessRequester, Viewer
from contactpoint_sdk.reference_server import DirectoryService, SupplyAgreement
from contactpoint_sdk.supply.batch import BatchBuilder, MemorySequence, encode_batch
from contactpoint_sdk.supply.envelope import seal
from contactpoint_sdk.supply.keys import SigningKey

#: The directory's clock starts here in every test.
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
#: The local authority most test suppliers are registered in.
LA = "801"
OTHER_LA = "802"


def new_directory(path: str | Path | None = None) -> DirectoryService:
    return DirectoryService.in_memory(clock=MovableClock(START), path=path)


def clock_of(directory: DirectoryService) -> MovableClock:
    clock = directory.clock
    assert isinstance(clock, MovableClock)
    return clock


def make_upn(serial: int, la: str = LA) -> Upn:
    body = f"{la}2000{(serial // 1000) % 100:02d}{serial % 1000:03d}"
    return Upn(upn_check_letter(body) + body)


_NHS_NUMBERS: list[NhsNumber] = []


def make_nhs(n: int) -> NhsNumber:
    """The n-th valid NHS number in the never-issued 999 test range."""
    k = len(_NHS_NUMBERS) and int(str(_NHS_NUMBERS[-1])[3:9]) + 1
    while len(_NHS_NUMBERS) <= n:
        body = f"999{k:06d}"
        check = nhs_check_digit(body)
        if check is not None:
            _NHS_NUMBERS.append(NhsNumber(body + check))
        k += 1
    return _NHS_NUMBERS[n]


def school(urn: str = "123456", name: str = "Riverside Primary School") -> Organisation:
    return Organisation(name=name, kind=OrganisationKind.SCHOOL, urn=urn)


def gp_practice(ods: str = "B82001", name: str = "Castle Street Surgery") -> Organisation:
    return Organisation(name=name, kind=OrganisationKind.GP_PRACTICE, ods_code=ods)


def clinic(ods: str = "RX1") -> Organisation:
    return Organisation(name="Harbour Clinic", kind=OrganisationKind.NHS_TRUST, ods_code=ods)


def practitioner(given: str = "Robin", family: str = "Ashdown") -> Practitioner:
    return Practitioner(name=PersonName(given_name=given, family_name=family), job_title="Nurse")


def involvement(
    reference: str = "INV-1",
    service: ServiceKind = ServiceKind.EDUCATION_SETTING,
    *,
    organisation: Organisation | None = None,
    started_on: date = date(2020, 9, 1),
    ended_on: date | None = None,
    consent: Consent | None = None,
    **kwargs: Any,
) -> Involvement:
    if organisation is None:
        if service is ServiceKind.EDUCATION_SETTING:
            organisation = school()
        elif service is ServiceKind.GP_PRACTICE:
            organisation = gp_practice()
        else:
            organisation = clinic()
    return Involvement(
        reference=reference,
        service=service,
        organisation=organisation,
        started_on=started_on,
        ended_on=ended_on,
        consent=consent,
        **kwargs,
    )


def child_consent(given_on: date = date(2025, 6, 1)) -> Consent:
    return Consent(
        given_by=ConsentGiver.CHILD,
        given_on=given_on,
        recorded_by=PersonName(given_name="Alex", family_name="Recorder"),
    )


def pupil(
    ref: str = "row-1",
    *,
    given: str = "Amelia",
    family: str = "Hartley",
    born: date = date(2015, 4, 1),
    upn: Upn | None = None,
    nhs: NhsNumber | None = None,
    former_upns: tuple[Upn, ...] = (),
    involvements: tuple[Involvement, ...] | None = None,
    postcode: str = "BS1 4DJ",
    street: str = "1 High Street",
) -> SuppliedChild:
    """A supplied child; identifiers default to UPN 1 and NHS number 1."""
    if upn is None and nhs is None:
        upn, nhs = make_upn(1), make_nhs(1)
    return SuppliedChild(
        ref=ref,
        name=PersonName(given_name=given, family_name=family),
        gender=Gender.FEMALE,
        date_of_birth=born,
        address=Address(lines=(street,), town="Bristol", postcode=Postcode(postcode)),
        identifiers=SourceIdentifiers(upn=upn, nhs_number=nhs, former_upns=former_upns),
        involvements=(involvement(),) if involvements is None else involvements,
    )


def key_of(child: SuppliedChild) -> ChildKey:
    return ChildKey(identifiers=child.identifiers, date_of_birth=child.date_of_birth)


class Source:
    """A registered supplier that seals real envelopes to the directory."""

    def __init__(
        self,
        directory: DirectoryService,
        supplier_id: str = "school-8012000",
        *,
        local_authority: str | None = LA,
        agreements: Iterable[SupplyAgreement] | None = None,
        register: bool = True,
        name: str = "Riverside Primary School",
    ) -> None:
        self.directory = directory
        self.supplier_id = supplier_id
        self.key = SigningKey.generate()
        self.agreement_id = "AG-1"
        self.sequence = MemorySequence()
        if register:
            directory.register_supplier(
                supplier_id,
                name,
                signing_keys=[self.key.public_key()],
                agreements=list(agreements or [SupplyAgreement(agreement_id="AG-1")]),
                local_authority=local_authority,
            )
        self.builder = BatchBuilder(
            supplier_id=supplier_id,
            agreement_id=self.agreement_id,
            clock=directory.clock,
            sequence=self.sequence,
        )

    def batch(self, *operations: AnyOperation) -> SupplyBatch:
        """One batch from the builder (which checks consent client-side)."""
        batches = list(self.builder.build(operations))
        assert len(batches) == 1
        return batches[0]

    def raw_batch(
        self,
        *operations: AnyOperation,
        sequence: int | None = None,
        agreement_id: str | None = None,
        supplier_id: str | None = None,
    ) -> SupplyBatch:
        """A batch built by hand, skipping the builder's consent check, so the
        directory's own checks can be tested."""
        return SupplyBatch(
            supplier_id=supplier_id or self.supplier_id,
            agreement_id=agreement_id or self.agreement_id,
            batch_id=uuid.uuid4().hex,
            sequence=self.sequence.next_sequence() if sequence is None else sequence,
            created_at=self.directory.clock.now(),
            operations=tuple(operations),
        )

    def seal_payload(self, payload: bytes) -> str:
        return seal(
            payload,
            signing_key=self.key,
            recipient=self.directory.directory_public_key(),
            now=self.directory.clock.now(),
        )

    def seal(self, batch: SupplyBatch) -> str:
        return self.seal_payload(encode_batch(batch, self.directory.codec))

    def send(self, *operations: AnyOperation) -> SupplyReceipt:
        return self.directory.ingest(self.seal(self.batch(*operations)))

    def send_raw(self, *operations: AnyOperation, **kwargs: Any) -> SupplyReceipt:
        return self.directory.ingest(self.seal(self.raw_batch(*operations, **kwargs)))


def viewer(
    role: Role = Role.HEAD_TEACHER,
    *,
    la: str = LA,
    org: str = "urn:999999",
    user: str = "user-1",
    purpose: Purpose = Purpose.PRACTICE,
    requester: SubjectAccessRequester | None = None,
) -> Viewer:
    return Viewer(
        user_id=user,
        role=role,
        organisation_key=org,
        local_authority=la,
        purpose=purpose,
        subject_access_requester=requester,
    )


def team(la: str = LA) -> Viewer:
    """The management team of ``la``."""
    return viewer(Role.LA_MANAGEMENT_TEAM, la=la, org=f"la:{la}", user=f"team-{la}")


def receipt_text(directory: DirectoryService, receipt: SupplyReceipt) -> str:
    return json.dumps(directory.codec.encode(receipt))


def only_record_id(directory: DirectoryService, child: SuppliedChild) -> Any:
    found = directory.find_by_identifier(child.identifiers)
    assert found is not None
    return found


__all__ = [
    "LA",
    "OTHER_LA",
    "START",
    "ContactDetails",
    "Source",
    "child_consent",
    "clinic",
    "clock_of",
    "gp_practice",
    "involvement",
    "key_of",
    "make_nhs",
    "make_upn",
    "new_directory",
    "only_record_id",
    "practitioner",
    "pupil",
    "receipt_text",
    "school",
    "team",
    "viewer",
]
