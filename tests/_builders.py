"""Small, explicit builders for policy tests: valid models with sensible defaults.

Every builder takes keyword overrides, so a test states only what matters to
it. (The synthetic generator may replace these later.)
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from contactpoint_sdk.models import (
    Address,
    ChildRecord,
    Consent,
    ConsentGiver,
    ConsentOverride,
    ContactRetention,
    DirectoryId,
    Gender,
    Involvement,
    NhsNumber,
    Organisation,
    OrganisationKind,
    OverrideGround,
    PersonName,
    Postcode,
    RetentionExtension,
    RetentionExtensionReason,
    ServiceKind,
    Shield,
    ShieldGround,
    ShieldReview,
    ShieldReviewParty,
    SourceIdentifiers,
)
from contactpoint_sdk.policy.eligibility import Credential, UserAccount
from contactpoint_sdk.policy.viewer import Role

ALL_CREDENTIALS = frozenset(Credential)


def person(given: str = "Sam", family: str = "Taylor") -> PersonName:
    return PersonName(given_name=given, family_name=family)


def organisation(name: str = "Riverside Clinic") -> Organisation:
    return Organisation(name=name, kind=OrganisationKind.NHS_TRUST, ods_code="RX1")


def consent(
    *,
    given_by: ConsentGiver = ConsentGiver.CHILD,
    given_on: date = date(2024, 1, 10),
    giver_name: PersonName | None = None,
    child_lacks_understanding: bool = False,
    withdrawn_on: date | None = None,
) -> Consent:
    return Consent(
        given_by=given_by,
        given_on=given_on,
        recorded_by=person("Alex", "Recorder"),
        giver_name=giver_name,
        child_lacks_understanding=child_lacks_understanding,
        withdrawn_on=withdrawn_on,
    )


def override(
    *,
    authorised_on: date = date(2024, 1, 10),
    ground: OverrideGround = OverrideGround.CHILD_PROTECTION,
) -> ConsentOverride:
    return ConsentOverride(
        ground=ground, authorised_by=person("Jo", "Authoriser"), authorised_on=authorised_on
    )


def involvement(
    *,
    reference: str = "INV-1",
    service: ServiceKind = ServiceKind.SEXUAL_HEALTH_CONTRACEPTION,
    started_on: date = date(2024, 1, 10),
    ended_on: date | None = None,
    contact_retention: ContactRetention = ContactRetention.STANDARD,
    consent: Consent | None = None,
    consent_override: ConsentOverride | None = None,
) -> Involvement:
    return Involvement(
        reference=reference,
        service=service,
        organisation=organisation(),
        started_on=started_on,
        ended_on=ended_on,
        contact_retention=contact_retention,
        consent=consent,
        consent_override=consent_override,
    )


def directory_id(n: int = 1) -> DirectoryId:
    return DirectoryId.from_int(n)


def record(
    *,
    born: date = date(2010, 6, 15),
    n: int = 1,
    died_on: date | None = None,
    left_england_on: date | None = None,
    extension: RetentionExtensionReason | None = None,
    extension_consented_on: date | None = None,
    involvements: tuple[Involvement, ...] = (),
    shield: Shield | None = None,
    local_authority: str | None = "202",
) -> ChildRecord:
    """A valid child record. ``extension`` adds a RET-2 extension consented on
    ``extension_consented_on`` (default: the 17th birthday's year, 1 January)."""
    ext = None
    if extension is not None:
        ext = RetentionExtension(
            reason=extension,
            consented_on=extension_consented_on or date(born.year + 17, 1, 1),
        )
    return ChildRecord(
        directory_id=directory_id(n),
        name=person(),
        gender=Gender.NOT_KNOWN,
        date_of_birth=born,
        address=Address(lines=("1 High Street",), town="Leeds", postcode=Postcode("LS1 4AP")),
        identifiers=SourceIdentifiers(nhs_number=NhsNumber("9434765919")),
        involvements=involvements,
        local_authority=local_authority,
        shield=shield,
        died_on=died_on,
        left_england_on=left_england_on,
        retention_extension=ext,
    )


def review(on: date, *, maintained: bool = True) -> ShieldReview:
    return ShieldReview(
        reviewed_on=on,
        reviewed_by="la-team-1",
        views_considered=(ShieldReviewParty.CHILD, ShieldReviewParty.PARENT_CARER),
        maintained=maintained,
    )


def shield(
    *,
    requested_at: datetime = datetime(2024, 3, 1, 10, 0, tzinfo=UTC),
    reviews: tuple[ShieldReview, ...] = (),
    ground: ShieldGround = ShieldGround.RISK_OF_HARM_TO_CHILD,
) -> Shield:
    return Shield(requested_at=requested_at, ground=ground, requested_by="user-7", reviews=reviews)


def account(
    *,
    role: Role = Role.HEAD_TEACHER,
    nominated: bool = True,
    trained_on: date | None = date(2024, 1, 10),
    disclosure_issued_on: date | None = date(2024, 1, 10),
    credentials: frozenset[Credential] = ALL_CREDENTIALS,
    suspended: bool = False,
) -> UserAccount:
    return UserAccount(
        user_id="user-1",
        role=role,
        organisation_key="urn:100001",
        local_authority="202",
        nominated=nominated,
        trained_on=trained_on,
        disclosure_issued_on=disclosure_issued_on,
        credentials=credentials,
        suspended=suspended,
    )
