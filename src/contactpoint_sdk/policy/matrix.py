"""The visibility matrix: who sees which field, generated from :func:`view`.

A probe record carries a distinctive value in every field. For each kind of
viewer, shielded or not, the probe is redacted with the real
:func:`~contactpoint_sdk.policy.redaction.view`, serialised with the real wire
codec, and each probe value is looked for in the JSON text. ``docs/policy.md``
holds the rendered table; a test regenerates it and fails if they differ, so
the doc cannot drift from the code.

Run ``python -m contactpoint_sdk.policy.matrix`` to print the table.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import attrs

from contactpoint_sdk.models.codec import WireCodec
from contactpoint_sdk.models.contact import EmailAddress, PhoneNumber, Postcode
from contactpoint_sdk.models.enums import (
    CarerRelationship,
    ConsentGiver,
    Gender,
    OrganisationKind,
    PhoneKind,
    ServiceKind,
    ShieldGround,
)
from contactpoint_sdk.models.identifiers import DirectoryId, NhsNumber, Upn
from contactpoint_sdk.models.record import (
    Address,
    ChildRecord,
    Consent,
    ContactDetails,
    Involvement,
    Organisation,
    ParentCarer,
    PersonName,
    Phone,
    Practitioner,
    Shield,
    SourceIdentifiers,
)
from contactpoint_sdk.policy.redaction import view
from contactpoint_sdk.policy.viewer import Purpose, Role, SubjectAccessRequester, Viewer

__all__ = ["FIELDS", "VIEWER_CASES", "MatrixRow", "probe_record", "render_markdown", "rows"]

PROBE_NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PROBE_LA = "801"
SENSITIVE_ORG = "ods:RSH01"

#: (field label, probe text looked for in the JSON, rule that governs it)
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("directory identifier", "", "REC-1"),  # filled in by probe_record
    ("child's name", "Probegiven", "REC-1"),
    ("former / preferred names", "Probeformer", "SHLD-5"),
    ("date of birth", "2014-02-03", "REC-1"),
    ("gender", '"gender"', "REC-1"),
    ("child's address", "Probe Lane", "SHLD-1"),
    ("child's postcode", "BS1 4DJ", "SHLD-1"),
    ("source identifiers (UPN, NHS no.)", "9990000018", "REC-1"),
    ("parent's name", "Probeparent", "REC-2"),
    ("parent's phone", "+441632960001", "SHLD-1"),
    ("parent's email", "probe.parent@example.org", "SHLD-1"),
    ("school name and contact", "Probe Primary", "REC-3"),
    ("GP practice name and contact", "Probe Surgery", "REC-3"),
    ("practitioner's name and contact", "Probesocialworker", "REC-4"),
    ("lead professional / CAF indicators", '"caf_completed"', "REC-5"),
    ("unspecified-service indicator", '"unspecified_services"', "SENS-4"),
    ("sensitive service category", "mental_health", "SENS-4"),
    ("sensitive service name and contact", "Probe Clinic", "SENS-4"),
    ("sensitive practitioner", "Probetherapist", "SENS-4"),
    ("consent record", "Probeconsenter", "SENS-2"),
    ("shield details", "risk_of_harm_to_child", "SHLD-4"),
)


@attrs.frozen
class ViewerCase:
    """A kind of viewer, as one row of the matrix."""

    label: str
    viewer: Viewer


def _viewer(
    role: Role,
    *,
    organisation_key: str = "urn:100001",
    local_authority: str = "202",
    purpose: Purpose = Purpose.PRACTICE,
    subject_access_requester: SubjectAccessRequester | None = None,
) -> Viewer:
    return Viewer(
        user_id="probe-user",
        role=role,
        organisation_key=organisation_key,
        local_authority=local_authority,
        purpose=purpose,
        subject_access_requester=subject_access_requester,
    )


VIEWER_CASES: tuple[ViewerCase, ...] = (
    *(
        ViewerCase(f"{role.value}", _viewer(role))
        for role in Role
        if role not in (Role.LA_MANAGEMENT_TEAM, Role.ARCHIVE_REVIEWER)
    ),
    ViewerCase(
        "health_practitioner of the sensitive service",
        _viewer(Role.HEALTH_PRACTITIONER, organisation_key=SENSITIVE_ORG),
    ),
    ViewerCase("la_management_team, another authority", _viewer(Role.LA_MANAGEMENT_TEAM)),
    ViewerCase(
        "la_management_team, the child's authority",
        _viewer(Role.LA_MANAGEMENT_TEAM, local_authority=PROBE_LA),
    ),
    ViewerCase("archive_reviewer, in practice", _viewer(Role.ARCHIVE_REVIEWER)),
    ViewerCase(
        "archive_reviewer, archive review (RET-6)",
        _viewer(Role.ARCHIVE_REVIEWER, purpose=Purpose.ARCHIVE_REVIEW),
    ),
    ViewerCase(
        "subject access for the child (SAR-1)",
        _viewer(
            Role.LA_MANAGEMENT_TEAM,
            purpose=Purpose.SUBJECT_ACCESS,
            subject_access_requester=SubjectAccessRequester.CHILD,
        ),
    ),
    ViewerCase(
        "subject access for a parent (SAR-1)",
        _viewer(
            Role.LA_MANAGEMENT_TEAM,
            purpose=Purpose.SUBJECT_ACCESS,
            subject_access_requester=SubjectAccessRequester.PARENT_CARER,
        ),
    ),
)


def _name(given: str, family: str = "Probefamily") -> PersonName:
    return PersonName(given_name=given, family_name=family)


def probe_record(*, shielded: bool) -> ChildRecord:
    """A record with a distinctive value in every field of :data:`FIELDS`."""
    school = Organisation(
        name="Probe Primary School",
        kind=OrganisationKind.SCHOOL,
        urn="100002",
        contact=ContactDetails(phones=(Phone(number=PhoneNumber("01632 960002")),)),
    )
    gp = Organisation(name="Probe Surgery", kind=OrganisationKind.GP_PRACTICE, ods_code="L81001")
    social = Organisation(name="Social Care Team", kind=OrganisationKind.LOCAL_AUTHORITY)
    clinic = Organisation(name="Probe Clinic", kind=OrganisationKind.NHS_TRUST, ods_code="RSH01")
    started = date(2020, 1, 6)
    involvements = (
        Involvement(
            reference="school",
            service=ServiceKind.EDUCATION_SETTING,
            organisation=school,
            started_on=started,
            caf_completed=True,
        ),
        Involvement(
            reference="gp", service=ServiceKind.GP_PRACTICE, organisation=gp, started_on=started
        ),
        Involvement(
            reference="social",
            service=ServiceKind.SOCIAL_CARE,
            organisation=social,
            started_on=started,
            lead_professional=True,
            practitioner=Practitioner(name=_name("Probesocialworker"), job_title="Social worker"),
        ),
        Involvement(
            reference="camhs",
            service=ServiceKind.MENTAL_HEALTH_CAMHS_TIER_3,
            organisation=clinic,
            started_on=started,
            practitioner=Practitioner(name=_name("Probetherapist")),
            consent=Consent(
                given_by=ConsentGiver.CHILD,
                given_on=started,
                recorded_by=_name("Probeconsenter"),
            ),
        ),
    )
    return ChildRecord(
        directory_id=DirectoryId.from_int(4242),
        name=PersonName(
            given_name="Probegiven",
            family_name="Probefamily",
            former_family_names=("Probeformer",),
        ),
        gender=Gender.FEMALE,
        date_of_birth=date(2014, 2, 3),
        address=Address(lines=("1 Probe Lane",), town="Bristol", postcode=Postcode("BS1 4DJ")),
        identifiers=SourceIdentifiers(upn=Upn("B801200005001"), nhs_number=NhsNumber("9990000018")),
        parents=(
            ParentCarer(
                name=_name("Probeparent"),
                relationship=CarerRelationship.MOTHER,
                parental_responsibility=True,
                contact=ContactDetails(
                    phones=(Phone(number=PhoneNumber("01632 960001"), kind=PhoneKind.HOME),),
                    email=EmailAddress("probe.parent@example.org"),
                ),
            ),
        ),
        involvements=involvements,
        local_authority=PROBE_LA,
        shield=Shield(
            requested_at=datetime(2025, 1, 1, tzinfo=UTC),
            ground=ShieldGround.RISK_OF_HARM_TO_CHILD,
            requested_by="probe-la-user",
        )
        if shielded
        else None,
    )


@attrs.frozen
class MatrixRow:
    """What one kind of viewer sees of the probe, shielded or not."""

    viewer: str
    shielded: bool
    visible: frozenset[str]


def rows(codec: WireCodec | None = None) -> Iterator[MatrixRow]:
    """Every (viewer case, shielded) pair with the set of field labels visible."""
    codec = codec or WireCodec()
    for shielded in (False, True):
        record = probe_record(shielded=shielded)
        probes = [(label, text or str(record.directory_id)) for label, text, _ in FIELDS]
        for case in VIEWER_CASES:
            text = json.dumps(codec.encode(view(record, case.viewer, PROBE_NOW)))
            yield MatrixRow(
                viewer=case.label,
                shielded=shielded,
                visible=frozenset(label for label, probe in probes if probe in text),
            )


def render_markdown() -> str:
    """The matrix as Markdown: fields down, groups of viewers across.

    Viewers who see exactly the same, shielded and unshielded, share a column;
    the legend under the table names who is in each.
    """
    all_rows = list(rows())
    seen: dict[str, dict[bool, frozenset[str]]] = {}
    for row in all_rows:
        seen.setdefault(row.viewer, {})[row.shielded] = row.visible
    groups: dict[tuple[frozenset[str], frozenset[str]], list[str]] = {}
    for case in VIEWER_CASES:
        key = (seen[case.label][False], seen[case.label][True])
        groups.setdefault(key, []).append(case.label)
    columns = list(groups.items())
    out = [
        "| field (rule) | "
        + " | ".join(f"V{i} open / shielded" for i in range(1, len(columns) + 1))
        + " |",
        "|---|" + "---|" * len(columns),
    ]
    for label, _, rule in FIELDS:
        cells = [
            f"{_mark(label in open_)} / {_mark(label in shielded)}"
            for (open_, shielded), _ in columns
        ]
        out.append(f"| {label} ({rule}) | " + " | ".join(cells) + " |")
    out.append("")
    for i, (_, labels) in enumerate(columns, start=1):
        out.append(f"- **V{i}**: " + ", ".join(labels))
    return "\n".join(out) + "\n"


def _mark(visible: bool) -> str:
    return "yes" if visible else "-"


BEGIN_MARK = "<!-- matrix:begin -->"
END_MARK = "<!-- matrix:end -->"


def write_into(path: Path) -> None:
    """Replace the table between the matrix markers in ``path``."""
    text = path.read_text(encoding="utf-8")
    head, _, rest = text.partition(BEGIN_MARK)
    _, _, tail = rest.partition(END_MARK)
    path.write_text(f"{head}{BEGIN_MARK}\n{render_markdown()}{END_MARK}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """``python -m contactpoint_sdk.policy.matrix [--write docs/policy.md]``."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--write"]:
        write_into(Path(args[1] if len(args) > 1 else "docs/policy.md"))
    else:
        sys.stdout.write(render_markdown())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
