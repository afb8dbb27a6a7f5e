"""Shield- and consent-aware redaction (SHLD-1, SENS-4, REC-7, RET-6, RET-7, SAR-1).

Visibility is checked on the serialised view (the JSON text a client would
receive), not only on attributes: hidden data must not be anywhere in it.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, assume, given, settings

from contactpoint_sdk.errors import PolicyRefusal
from contactpoint_sdk.models import (
    ChildRecord,
    ContactRetention,
    Involvement,
    SensitiveCategory,
    ServiceKind,
    WireCodec,
)
from contactpoint_sdk.models.views import (
    ChildView,
    FullRecordView,
    ShieldedChildView,
)
from contactpoint_sdk.policy.matrix import (
    FIELDS,
    PROBE_LA,
    PROBE_NOW,
    SENSITIVE_ORG,
    probe_record,
    render_markdown,
)
from contactpoint_sdk.policy.redaction import view
from contactpoint_sdk.policy.viewer import Purpose, Role, SubjectAccessRequester, Viewer
from tests.strategies import NOW, child_records, viewers

codec = WireCodec()
ALL_FIELDS = frozenset(label for label, _, _ in FIELDS)
SHIELDED_FIELDS = frozenset({"directory identifier", "child's name", "date of birth"})
SENSITIVE_DETAIL = frozenset(
    {"sensitive service category", "sensitive service name and contact", "sensitive practitioner"}
)
STANDARD_FIELDS = ALL_FIELDS - SENSITIVE_DETAIL - {"consent record", "shield details"}


def _visible(record: ChildRecord, viewer: Viewer) -> frozenset[str]:
    text = json.dumps(codec.encode(view(record, viewer, PROBE_NOW)))
    return frozenset(
        label for label, probe, _ in FIELDS if (probe or str(record.directory_id)) in text
    )


def _viewer(
    role: Role,
    *,
    own_la: bool,
    owns_sensitive: bool,
    purpose: Purpose = Purpose.PRACTICE,
    subject_access_requester: SubjectAccessRequester | None = None,
) -> Viewer:
    return Viewer(
        user_id="u1",
        role=role,
        organisation_key=SENSITIVE_ORG if owns_sensitive else "urn:100009",
        local_authority=PROBE_LA if own_la else "202",
        purpose=purpose,
        subject_access_requester=subject_access_requester,
    )


def _expected(viewer: Viewer, *, shielded: bool, owns_sensitive: bool) -> frozenset[str]:
    """What the rules say this viewer sees, written from RULES.md, not from the code."""
    sar_parent = viewer.subject_access_requester is SubjectAccessRequester.PARENT_CARER
    full = (
        (
            viewer.role is Role.LA_MANAGEMENT_TEAM
            and viewer.local_authority == PROBE_LA
            and viewer.purpose is Purpose.PRACTICE
        )
        or viewer.purpose is Purpose.ARCHIVE_REVIEW
        or (viewer.purpose is Purpose.SUBJECT_ACCESS and not (shielded and sar_parent))
    )
    if full:  # the real service, so no "unspecified" stand-in
        whole = ALL_FIELDS - {"unspecified-service indicator"}
        return whole if shielded else whole - {"shield details"}
    if shielded:
        return SHIELDED_FIELDS
    if owns_sensitive:
        return STANDARD_FIELDS - {"unspecified-service indicator"} | SENSITIVE_DETAIL
    return STANDARD_FIELDS


PRACTICE_CASES = [
    (role, own_la, owns, shielded)
    for role, own_la, owns, shielded in itertools.product(
        Role, (True, False), (True, False), (True, False)
    )
]


@pytest.mark.parametrize(("role", "own_la", "owns_sensitive", "shielded"), PRACTICE_CASES)
def test_shld_1_sens_4_visibility_matrix_every_role(
    role: Role, own_la: bool, owns_sensitive: bool, shielded: bool
) -> None:
    viewer = _viewer(role, own_la=own_la, owns_sensitive=owns_sensitive)
    record = probe_record(shielded=shielded)
    assert _visible(record, viewer) == _expected(
        viewer, shielded=shielded, owns_sensitive=owns_sensitive
    )


@pytest.mark.parametrize("shielded", [True, False])
@pytest.mark.parametrize("requester", list(SubjectAccessRequester))
def test_sar_1_subject_access_export(shielded: bool, requester: SubjectAccessRequester) -> None:
    viewer = _viewer(
        Role.LA_MANAGEMENT_TEAM,
        own_la=True,
        owns_sensitive=False,
        purpose=Purpose.SUBJECT_ACCESS,
        subject_access_requester=requester,
    )
    record = probe_record(shielded=shielded)
    assert _visible(record, viewer) == _expected(viewer, shielded=shielded, owns_sensitive=False)
    if shielded and requester is SubjectAccessRequester.PARENT_CARER:
        assert isinstance(view(record, viewer, PROBE_NOW), ShieldedChildView)


@pytest.mark.parametrize("shielded", [True, False])
def test_ret_6_archive_reviewer_sees_whole_record_for_review(shielded: bool) -> None:
    viewer = _viewer(
        Role.ARCHIVE_REVIEWER, own_la=False, owns_sensitive=False, purpose=Purpose.ARCHIVE_REVIEW
    )
    record = probe_record(shielded=shielded)
    assert isinstance(view(record, viewer, PROBE_NOW), FullRecordView)
    assert _visible(record, viewer) == _expected(viewer, shielded=shielded, owns_sensitive=False)


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ARCHIVE_REVIEWER])
def test_ret_6_archive_review_refused_to_other_roles(role: Role) -> None:
    viewer = _viewer(role, own_la=True, owns_sensitive=False, purpose=Purpose.ARCHIVE_REVIEW)
    with pytest.raises(PolicyRefusal) as caught:
        view(probe_record(shielded=False), viewer, PROBE_NOW)
    assert caught.value.rule == "RET-6"
    assert caught.value.code == "archive_role_required"


def test_sar_1_subject_access_only_by_management_team_and_names_requester() -> None:
    teacher = _viewer(
        Role.HEAD_TEACHER,
        own_la=True,
        owns_sensitive=False,
        purpose=Purpose.SUBJECT_ACCESS,
        subject_access_requester=SubjectAccessRequester.CHILD,
    )
    with pytest.raises(PolicyRefusal) as caught:
        view(probe_record(shielded=False), teacher, PROBE_NOW)
    assert (caught.value.rule, caught.value.code) == ("SAR-1", "subject_access_by_la_only")
    team = _viewer(
        Role.LA_MANAGEMENT_TEAM, own_la=True, owns_sensitive=False, purpose=Purpose.SUBJECT_ACCESS
    )
    with pytest.raises(PolicyRefusal) as caught:
        view(probe_record(shielded=False), team, PROBE_NOW)
    assert caught.value.code == "subject_access_requester_required"


def test_shld_1_shielded_view_type_has_no_whereabouts_attributes() -> None:
    names = {a.name for a in attrs.fields(ShieldedChildView)}
    assert names == {"directory_id", "name", "date_of_birth"}


def test_shld_5_shielded_view_drops_former_and_preferred_names() -> None:
    viewer = _viewer(Role.HEAD_TEACHER, own_la=False, owns_sensitive=False)
    seen = view(probe_record(shielded=True), viewer, PROBE_NOW)
    assert isinstance(seen, ShieldedChildView)
    assert "Probeformer" not in json.dumps(codec.encode(seen))


def test_shld_2_shield_in_effect_from_the_instant_requested() -> None:
    record = probe_record(shielded=True)
    assert record.shield is not None
    at = record.shield.requested_at
    viewer = _viewer(Role.HEAD_TEACHER, own_la=False, owns_sensitive=False)
    assert isinstance(view(record, viewer, at - timedelta(seconds=1)), ChildView)
    assert isinstance(view(record, viewer, at), ShieldedChildView)


# --- REC-7 and RET-7 ----------------------------------------------------------------


def _without(record: ChildRecord, service: ServiceKind) -> ChildRecord:
    return attrs.evolve(
        record, involvements=tuple(i for i in record.involvements if i.service is not service)
    )


def test_rec_7_view_says_when_no_gp_or_education_setting() -> None:
    viewer = _viewer(Role.HEAD_TEACHER, own_la=False, owns_sensitive=False)
    full = view(probe_record(shielded=False), viewer, PROBE_NOW)
    assert isinstance(full, ChildView)
    assert (full.no_gp, full.no_education_setting) == (False, False)
    no_gp = view(_without(probe_record(shielded=False), ServiceKind.GP_PRACTICE), viewer, PROBE_NOW)
    assert isinstance(no_gp, ChildView)
    assert (no_gp.no_gp, no_gp.no_education_setting) == (True, False)
    assert codec.encode(no_gp)["no_gp"] is True


def test_rec_7_an_ended_gp_registration_counts_as_no_gp() -> None:
    record = probe_record(shielded=False)
    ended = tuple(
        attrs.evolve(i, ended_on=date(2026, 5, 1)) if i.service is ServiceKind.GP_PRACTICE else i
        for i in record.involvements
    )
    viewer = _viewer(Role.HEAD_TEACHER, own_la=False, owns_sensitive=False)
    seen = view(attrs.evolve(record, involvements=ended), viewer, PROBE_NOW)
    assert isinstance(seen, ChildView)
    assert seen.no_gp is True
    assert any(s.service is ServiceKind.GP_PRACTICE for s in seen.services)  # still listed


@pytest.mark.parametrize(
    ("retention", "days_after_end", "shown"),
    [
        (ContactRetention.STANDARD, 364, True),
        (ContactRetention.STANDARD, 366, False),
        (ContactRetention.EXTENDED, 366, True),
        (ContactRetention.EXTENDED, 5 * 366, False),
    ],
)
def test_ret_7_archived_contact_details_leave_the_live_view(
    retention: ContactRetention, days_after_end: int, shown: bool
) -> None:
    record = probe_record(shielded=False)
    ended_on = PROBE_NOW.date() - timedelta(days=days_after_end)
    involvements = tuple(
        attrs.evolve(i, ended_on=ended_on, contact_retention=retention)
        if i.service is ServiceKind.SOCIAL_CARE
        else i
        for i in record.involvements
    )
    viewer = _viewer(Role.HEAD_TEACHER, own_la=False, owns_sensitive=False)
    seen = view(attrs.evolve(record, involvements=involvements), viewer, PROBE_NOW)
    assert isinstance(seen, ChildView)
    assert any(s.service is ServiceKind.SOCIAL_CARE for s in seen.services) is shown


def test_deceased_child_is_marked() -> None:
    record = attrs.evolve(probe_record(shielded=False), died_on=date(2026, 1, 2))
    viewer = _viewer(Role.HEAD_TEACHER, own_la=False, owns_sensitive=False)
    assert codec.encode(view(record, viewer, PROBE_NOW))["died_on"] == "2026-01-02"


# --- the generated doc ------------------------------------------------------------------


def test_docs_policy_matrix_is_generated_from_the_code() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "policy.md").read_text(encoding="utf-8")
    begin, end = "<!-- matrix:begin -->\n", "<!-- matrix:end -->"
    table = doc[doc.index(begin) + len(begin) : doc.index(end)]
    assert table.strip() == render_markdown().strip(), (
        "docs/policy.md is stale: run `python -m contactpoint_sdk.policy.matrix --write`"
    )


# --- properties over random records and viewers ------------------------------------------


def _ordinary(viewer: Viewer, record: ChildRecord) -> bool:
    return not viewer.is_management_team_for(record.local_authority)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(child_records(shielded=True), viewers)
def test_shld_1_shielded_view_never_contains_whereabouts(
    record: ChildRecord, viewer: Viewer
) -> None:
    assume(_ordinary(viewer, record))
    now = max(NOW, record.shield.requested_at if record.shield else NOW)
    text = json.dumps(codec.encode(view(record, viewer, now)))
    for line in record.address.lines:
        assert line not in text
    if record.address.postcode is not None:
        assert str(record.address.postcode) not in text
    for parent in record.parents:
        for phone in parent.contact.phones:
            assert str(phone.number) not in text
        if parent.contact.email is not None:
            assert str(parent.contact.email) not in text
    for involvement in record.involvements:
        assert involvement.organisation.name not in text
        assert f'"{involvement.service.value}"' not in text
    for former in record.name.former_family_names:
        if former not in (record.name.given_name, record.name.family_name):
            assert f'"{former}"' not in text
    assert set(json.loads(text)) == {"view", "directory_id", "name", "date_of_birth"}


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(child_records(shielded=False), viewers)
def test_sens_4_sensitive_category_and_practitioner_never_reach_viewer_without_right(
    record: ChildRecord, viewer: Viewer
) -> None:
    assume(_ordinary(viewer, record))
    sensitive = [i for i in record.involvements if i.is_sensitive]
    assume(all(i.organisation.key != viewer.organisation_key for i in sensitive))
    seen = view(record, viewer, NOW)
    assert isinstance(seen, ChildView)
    text = json.dumps(codec.encode(seen))
    for category in SensitiveCategory:
        assert category.value not in text
    assert all(not s.service.is_sensitive for s in seen.services)
    shown = [i for i in sensitive if _still_live(i)]
    assert len(seen.unspecified_services) == len(shown)
    assert '"consent' not in text


def _still_live(involvement: Involvement) -> bool:
    from contactpoint_sdk.policy.lifecycle import contact_details_kept_until

    kept = contact_details_kept_until(involvement)
    return kept is None or NOW.astimezone(UTC).date() < kept


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(child_records())
def test_sens_4_management_team_of_the_childs_authority_sees_the_whole_record(
    record: ChildRecord,
) -> None:
    assume(record.local_authority is not None)
    assert record.local_authority is not None
    team = Viewer(
        user_id="la",
        role=Role.LA_MANAGEMENT_TEAM,
        organisation_key="la:x",
        local_authority=record.local_authority,
    )
    seen = view(record, team, datetime(2030, 1, 1, tzinfo=UTC))
    assert seen == FullRecordView(record=record)
