"""Hypothesis strategies for valid models: records, parts and viewers.

Built from the model's own rules (check characters computed with the
identifier module's functions), so anything drawn here must construct,
encode and decode without a problem.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import strategies as st

from contactpoint_sdk.models import (
    Address,
    CarerRelationship,
    ChildRecord,
    Consent,
    ConsentGiver,
    ConsentOverride,
    ContactDetails,
    ContactRetention,
    DirectoryId,
    EmailAddress,
    Gender,
    Involvement,
    LocalAuthorityCarer,
    NhsNumber,
    Organisation,
    OrganisationKind,
    OverrideGround,
    ParentCarer,
    PersonName,
    Phone,
    PhoneKind,
    PhoneNumber,
    Postcode,
    Practitioner,
    RetentionExtension,
    RetentionExtensionReason,
    SchoolReference,
    ServiceKind,
    Shield,
    ShieldGround,
    SourceIdentifiers,
    Uln,
    Upn,
)
from contactpoint_sdk.models.identifiers import nhs_check_digit, uln_check_digit, upn_check_letter
from contactpoint_sdk.policy.viewer import Purpose, Role, SubjectAccessRequester, Viewer

TODAY = date(2026, 6, 1)
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

_LETTERS = "abcdefghijklmnopqrstuvwxyzéëïöüçñøåæ"
_name_part = st.text(alphabet=_LETTERS, min_size=1, max_size=10).map(str.capitalize)


@st.composite
def names(draw: st.DrawFn) -> str:
    parts = draw(st.lists(_name_part, min_size=1, max_size=3))
    out = parts[0]
    for part in parts[1:]:
        out += draw(st.sampled_from([" ", "-", "'"])) + part
    return out


person_names = st.builds(
    PersonName,
    given_name=names(),
    family_name=names(),
    middle_names=st.lists(names(), max_size=2).map(tuple),
    preferred_given_name=st.none() | names(),
    preferred_family_name=st.none() | names(),
    former_family_names=st.lists(names(), max_size=2).map(tuple),
)


@st.composite
def upns(draw: st.DrawFn) -> Upn:
    body = draw(st.from_regex(r"[0-9]{12}", fullmatch=True))
    return Upn(upn_check_letter(body) + body)


@st.composite
def ulns(draw: st.DrawFn) -> Uln:
    body = draw(st.from_regex(r"[1-9][0-9]{8}", fullmatch=True).filter(lambda b: b != "999999999"))
    check = uln_check_digit(body)
    if check is None:
        body = "100000004"
        check = uln_check_digit(body)
    assert check is not None
    return Uln(body + check)


@st.composite
def nhs_numbers(draw: st.DrawFn) -> NhsNumber:
    body = "999" + draw(st.from_regex(r"[0-9]{6}", fullmatch=True))
    check = nhs_check_digit(body)
    if check is None:
        body, check = "999000001", nhs_check_digit("999000001")
    assert check is not None
    return NhsNumber(body + check)


_INWARD = "ABDEFGHJLNPQRSTUWXYZ"


@st.composite
def postcodes(draw: st.DrawFn) -> Postcode:
    outward = draw(st.sampled_from(["BS1", "SW1A", "M1", "B33", "LS10", "W1A", "CR2", "EC1A"]))
    inward = (
        str(draw(st.integers(0, 9)))
        + draw(st.sampled_from(_INWARD))
        + draw(st.sampled_from(_INWARD))
    )
    return Postcode(f"{outward} {inward}")


phones = st.builds(
    Phone,
    number=st.integers(0, 999).map(lambda n: PhoneNumber(f"01632 960{n:03d}")),
    kind=st.sampled_from(PhoneKind),
)
emails = st.from_regex(r"[a-z]{1,8}(\.[a-z]{1,8})?", fullmatch=True).map(
    lambda local: EmailAddress(f"{local}@example.org")
)
address_lines = st.from_regex(
    r"[1-9][0-9]{0,2} [A-Z][a-z]{2,10} (Road|Street|Lane)", fullmatch=True
)
addresses = st.builds(
    Address,
    lines=st.lists(address_lines, min_size=1, max_size=3).map(tuple),
    town=st.none() | st.sampled_from(["Bristol", "Leeds", "Bath"]),
    county=st.none() | st.just("Somerset"),
    postcode=st.none() | postcodes(),
    uprn=st.none() | st.from_regex(r"[1-9][0-9]{0,11}", fullmatch=True),
)
contacts = st.builds(
    ContactDetails,
    phones=st.lists(phones, max_size=2).map(tuple),
    email=st.none() | emails,
    address=st.none() | addresses,
)
parent_carers = st.builds(
    ParentCarer,
    name=person_names,
    relationship=st.sampled_from(CarerRelationship),
    parental_responsibility=st.booleans(),
    contact=contacts,
    address_as_child=st.booleans(),
)
la_carers = st.builds(
    LocalAuthorityCarer,
    la_code=st.from_regex(r"[0-9]{3}", fullmatch=True),
    name=st.just("Probe City Council"),
    contact=contacts,
)
organisations = st.builds(
    Organisation,
    name=st.sampled_from(["Hillside Primary School", "Park Surgery", "Youth Team"]),
    kind=st.sampled_from(OrganisationKind),
    contact=contacts,
    urn=st.none() | st.from_regex(r"[0-9]{6}", fullmatch=True),
    ods_code=st.none() | st.from_regex(r"[A-Z][0-9]{5}", fullmatch=True),
)
practitioners = st.builds(
    Practitioner,
    name=person_names,
    job_title=st.none() | st.sampled_from(["School nurse", "Social worker", "SENCO"]),
    contact=contacts,
)


@st.composite
def involvements(draw: st.DrawFn, *, reference: str, born: date) -> Involvement:
    service = draw(st.sampled_from(ServiceKind))
    started = born + timedelta(days=draw(st.integers(0, max(0, (TODAY - born).days))))
    ended = draw(st.none() | st.integers(0, 900).map(lambda d: started + timedelta(days=d)))
    consent = override = None
    if service.is_sensitive:
        by_parent = draw(st.booleans())
        consent = draw(
            st.none()
            | st.builds(
                Consent,
                given_by=st.just(ConsentGiver.PARENT_CARER if by_parent else ConsentGiver.CHILD),
                given_on=st.just(started),
                recorded_by=person_names,
                giver_name=person_names if by_parent else st.none(),
                child_lacks_understanding=st.just(by_parent),
            )
        )
        override = draw(
            st.none()
            | st.builds(
                ConsentOverride,
                ground=st.just(OverrideGround.CHILD_PROTECTION),
                authorised_by=person_names,
                authorised_on=st.just(started),
            )
        )
    retention = (
        draw(st.sampled_from(ContactRetention))
        if service.is_specialist_or_targeted
        else ContactRetention.STANDARD
    )
    return Involvement(
        reference=reference,
        service=service,
        organisation=draw(organisations),
        started_on=started,
        practitioner=draw(st.none() | practitioners),
        lead_professional=draw(st.booleans()),
        caf_completed=draw(st.booleans()),
        ended_on=ended,
        contact_retention=retention,
        consent=consent,
        consent_override=override,
    )


school_references = st.builds(
    SchoolReference,
    establishment=st.from_regex(r"[0-9]{7}", fullmatch=True),
    reference=st.from_regex(r"[A-Z0-9]{1,8}", fullmatch=True),
)


@st.composite
def source_identifiers(draw: st.DrawFn) -> SourceIdentifiers:
    upn = draw(st.none() | upns())
    uln = draw(st.none() | ulns())
    nhs = draw(st.none() | nhs_numbers())
    refs = tuple(draw(st.lists(school_references, max_size=1)))
    if upn is None and uln is None and nhs is None and not refs:
        nhs = draw(nhs_numbers())
    return SourceIdentifiers(
        upn=upn,
        former_upns=tuple(draw(st.lists(upns(), max_size=1))),
        uln=uln,
        nhs_number=nhs,
        school_references=refs,
    )


@st.composite
def child_records(draw: st.DrawFn, *, shielded: bool | None = None) -> ChildRecord:
    born = TODAY - timedelta(days=draw(st.integers(0, 24 * 365)))
    n_inv = draw(st.integers(0, 4))
    invs = tuple(draw(involvements(reference=f"inv-{i}", born=born)) for i in range(n_inv))
    shield = None
    if shielded or (shielded is None and draw(st.booleans())):
        shield = Shield(
            requested_at=NOW - timedelta(days=draw(st.integers(0, 400))),
            ground=draw(st.sampled_from(ShieldGround)),
            requested_by="la-user-1",
        )
    died = draw(
        st.none()
        | st.integers(0, max(0, (TODAY - born).days)).map(lambda d: born + timedelta(days=d))
    )
    extension = draw(
        st.none()
        | st.builds(
            RetentionExtension,
            reason=st.sampled_from(RetentionExtensionReason),
            consented_on=st.just(TODAY),
        )
    )
    return ChildRecord(
        directory_id=draw(st.integers(0, 31**11 - 1).map(DirectoryId.from_int)),
        name=draw(person_names),
        gender=draw(st.sampled_from(Gender)),
        date_of_birth=born,
        address=draw(addresses),
        identifiers=draw(source_identifiers()),
        parents=tuple(draw(st.lists(parent_carers | la_carers, max_size=3))),
        involvements=invs,
        local_authority=draw(st.none() | st.sampled_from(["801", "202", "938"])),
        shield=shield,
        died_on=died,
        retention_extension=extension,
    )


viewers = st.builds(
    Viewer,
    user_id=st.just("user-1"),
    role=st.sampled_from(Role),
    organisation_key=st.sampled_from(["urn:100001", "ods:A00001", "ods:RSH01"]),
    local_authority=st.sampled_from(["801", "202", "938"]),
    purpose=st.just(Purpose.PRACTICE),
    subject_access_requester=st.none() | st.sampled_from(SubjectAccessRequester),
)
