"""Who is looking: roles (ACC-2) and the relations that widen a view.

A :class:`Viewer` is what redaction needs to know about the person asking:
their role, organisation and local authority, and the special purposes that
open more of a record — the local authority management team (SENS-4, SHLD-3),
archive reviewers (RET-6) and a subject-access request (SAR-1).
"""

from __future__ import annotations

import enum

import attrs

__all__ = ["Purpose", "Role", "SubjectAccessRequester", "Viewer"]


class Role(enum.Enum):
    """The eligible roles of ACC-2, plus the directory's own teams.

    Any role listed here may be granted access; ACC-1 decides whether a
    particular user may sign in.
    """

    # schools
    HEAD_TEACHER = "head_teacher"
    DEPUTY_HEAD = "deputy_head"
    SCHOOL_ADMINISTRATOR = "school_administrator"
    PASTORAL_TEACHER = "pastoral_teacher"  # head of year / pastoral or child-protection duties
    SEN_TEACHER = "sen_teacher"
    SENCO = "senco"
    # police
    POLICE_CHILD_ABUSE_INVESTIGATION = "police_child_abuse_investigation"
    POLICE_YOUTH_PARTICIPATION = "police_youth_participation"
    POLICE_EARLY_INTERVENTION = "police_early_intervention"
    # health, social care, youth justice, voluntary bodies
    HEALTH_PRACTITIONER = "health_practitioner"
    SOCIAL_CARE_PRACTITIONER = "social_care_practitioner"
    YOUTH_JUSTICE_PRACTITIONER = "youth_justice_practitioner"
    CONNEXIONS_ADVISER = "connexions_adviser"
    VOLUNTARY_SECTOR_PRACTITIONER = "voluntary_sector_practitioner"
    # the directory's own teams
    LA_MANAGEMENT_TEAM = "la_management_team"
    ARCHIVE_REVIEWER = "archive_reviewer"  # LSCB serious case review, child death review


class Purpose(enum.Enum):
    """Why the viewer is looking, where it changes what they may see."""

    PRACTICE = "practice"  # ordinary look-up (ACC-3 reason given)
    ARCHIVE_REVIEW = "archive_review"  # RET-6
    SUBJECT_ACCESS = "subject_access"  # SAR-1


class SubjectAccessRequester(enum.Enum):
    """Who made a subject-access request (SAR-1)."""

    CHILD = "child"
    PARENT_CARER = "parent_carer"


@attrs.frozen(kw_only=True)
class Viewer:
    """The person a view is made for.

    ``organisation_key`` identifies their organisation the way
    :attr:`~contactpoint_sdk.models.record.Organisation.key` does, so that the
    practitioners of a sensitive service see their own involvement (SENS-4).
    ``local_authority`` is the DfE code of the authority they work for.
    """

    user_id: str
    role: Role
    organisation_key: str
    local_authority: str
    purpose: Purpose = Purpose.PRACTICE
    subject_access_requester: SubjectAccessRequester | None = None

    def is_management_team_for(self, local_authority: str | None) -> bool:
        """True for the management team of the child's own local authority."""
        return self.role is Role.LA_MANAGEMENT_TEAM and self.local_authority == local_authority
