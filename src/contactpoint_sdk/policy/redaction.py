"""Shield- and consent-aware redaction: what a viewer is shown of a record.

:func:`view` is the one place that decides. It runs on the server, so hidden
data never leaves it, and it returns a typed view whose class has no attribute
for what the viewer may not see (:mod:`contactpoint_sdk.models.views`).

Who sees what:

- the management team of the child's own local authority sees the whole
  record, shielded or not, sensitive or not: it reviews shields (SHLD-3) and
  brokers contact with sensitive services (SENS-4);
- an archive reviewer reading for a serious case review or a child death
  (purpose ``archive_review``, RET-6) sees the whole record;
- a subject-access export (purpose ``subject_access``, made by the management
  team, SAR-1) is the whole record — except that a shielded record requested
  by a parent/carer stays shielded, since the shield may protect the child
  from that very parent; the management team decides by hand what more to
  release;
- everyone else sees a shielded record as name, date of birth and directory
  identifier only (SHLD-1), and an unshielded one with each sensitive
  involvement reduced to "an unspecified service" (SENS-4) — unless the
  involvement is their own organisation's, which they see in full.

Involvements whose contact details are past retention (RET-7) are left out of
the live view.
"""

from __future__ import annotations

from datetime import datetime

from contactpoint_sdk.clock import uk_date
from contactpoint_sdk.errors import PolicyRefusal
from contactpoint_sdk.models.enums import ServiceKind
from contactpoint_sdk.models.record import ChildRecord, Involvement
from contactpoint_sdk.models.views import (
    AnyChildView,
    ChildView,
    FullRecordView,
    ServiceView,
    ShieldedChildView,
    ShieldedName,
    UnspecifiedServiceView,
)
from contactpoint_sdk.policy.lifecycle import contact_details_kept_until
from contactpoint_sdk.policy.shield import shield_in_effect
from contactpoint_sdk.policy.viewer import Purpose, Role, SubjectAccessRequester, Viewer

__all__ = ["sees_sensitive_involvement", "view"]


def view(record: ChildRecord, viewer: Viewer, now: datetime) -> AnyChildView:
    """The view of ``record`` that ``viewer`` may have at ``now``.

    Raises :class:`~contactpoint_sdk.errors.PolicyRefusal` when the viewer
    claims a purpose their role does not allow (RET-6, SAR-1).
    """
    _check_purpose(viewer)
    shielded = shield_in_effect(record, now)
    if _sees_everything(record, viewer, shielded=shielded):
        return FullRecordView(record=record)
    if shielded:
        return ShieldedChildView(
            directory_id=record.directory_id,
            name=ShieldedName(
                given_name=record.name.given_name, family_name=record.name.family_name
            ),
            date_of_birth=record.date_of_birth,
        )
    return _standard_view(record, viewer, now)


def sees_sensitive_involvement(involvement: Involvement, viewer: Viewer) -> bool:
    """Whether a viewer outside the management team sees a sensitive
    involvement in full: only its own organisation's practitioners do (SENS-4)."""
    key = involvement.organisation.key
    return key is not None and key == viewer.organisation_key


def _check_purpose(viewer: Viewer) -> None:
    if viewer.purpose is Purpose.ARCHIVE_REVIEW and viewer.role is not Role.ARCHIVE_REVIEWER:
        raise PolicyRefusal(
            "only an archive reviewer may read for a serious case review or child death",
            code="archive_role_required",
            rule="RET-6",
        )
    if viewer.purpose is Purpose.SUBJECT_ACCESS:
        if viewer.role is not Role.LA_MANAGEMENT_TEAM:
            raise PolicyRefusal(
                "subject access is handled by the local authority management team",
                code="subject_access_by_la_only",
                rule="SAR-1",
            )
        if viewer.subject_access_requester is None:
            raise PolicyRefusal(
                "a subject-access export says who asked: the child or a parent/carer",
                code="subject_access_requester_required",
                rule="SAR-1",
            )


def _sees_everything(record: ChildRecord, viewer: Viewer, *, shielded: bool) -> bool:
    if viewer.purpose is Purpose.SUBJECT_ACCESS:
        return not (
            shielded and viewer.subject_access_requester is SubjectAccessRequester.PARENT_CARER
        )
    if viewer.purpose is Purpose.ARCHIVE_REVIEW:
        return True
    return viewer.is_management_team_for(record.local_authority)


def _standard_view(record: ChildRecord, viewer: Viewer, now: datetime) -> ChildView:
    today = uk_date(now)
    services: list[ServiceView] = []
    unspecified: list[UnspecifiedServiceView] = []
    current: set[ServiceKind] = set()
    for involvement in record.involvements:
        kept_until = contact_details_kept_until(involvement)
        if kept_until is not None and today >= kept_until:
            continue  # contact details archived (RET-7)
        if involvement.ended_on is None or involvement.ended_on >= today:
            current.add(involvement.service)
        if involvement.is_sensitive and not sees_sensitive_involvement(involvement, viewer):
            unspecified.append(UnspecifiedServiceView(ordinal=len(unspecified) + 1))
            continue
        services.append(
            ServiceView(
                service=involvement.service,
                organisation=involvement.organisation,
                started_on=involvement.started_on,
                practitioner=involvement.practitioner,
                lead_professional=involvement.lead_professional,
                caf_completed=involvement.caf_completed,
                ended_on=involvement.ended_on,
            )
        )
    return ChildView(
        directory_id=record.directory_id,
        name=record.name,
        gender=record.gender,
        date_of_birth=record.date_of_birth,
        address=record.address,
        identifiers=record.identifiers,
        parents=record.parents,
        services=tuple(services),
        unspecified_services=tuple(unspecified),
        no_education_setting=ServiceKind.EDUCATION_SETTING not in current,
        no_gp=ServiceKind.GP_PRACTICE not in current,
        died_on=record.died_on,
    )
