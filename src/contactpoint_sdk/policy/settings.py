"""Every number the directory's rules run on, in one named, documented place.

RULES.md gives most numbers (18th birthday, one year after death, six years
in the archive, a disclosure under three years old...). Where the rules need a
number the seed does not give, the number is the project's choice: it is
marked *(policy)* here and nowhere else. Policy functions take a
:class:`PolicySettings` (default :data:`DEFAULT_POLICY`) instead of hard-coding
any of them, so a local authority, a test or the accreditation suite can run
the same rules with other numbers::

    strict = attrs.evolve(DEFAULT_POLICY, training_validity_years=1)

Each field carries ``metadata`` naming its rule, its unit and whether it is a
policy choice; :func:`describe` turns that into a table for documentation and
accreditation reports.

Adding a setting (anti-trawling numbers for ACC-4 are next): add a module
constant with a comment, add a keyword-only field with that default and its
metadata, and give it a validator. Every field has a default, so existing
callers keep working.

Units are in the names (``_years``, ``_months``, ``_days``). Year and month
arithmetic follows :func:`contactpoint_sdk.policy.lifecycle.add_years` and
:func:`~contactpoint_sdk.policy.lifecycle.add_months`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from contactpoint_sdk.models.codec import MAX_AGE_YEARS
from contactpoint_sdk.models.enums import RetentionExtensionReason
from contactpoint_sdk.policy.viewer import Role

__all__ = [
    "ADULT_AGE_YEARS",
    "ARCHIVE_KEEP_YEARS",
    "CONNEXIONS_ARCHIVE_AGE_YEARS",
    "DEATH_RETENTION_YEARS",
    "DEFAULT_POLICY",
    "DISCLOSURE_VALIDITY_YEARS",
    "ELIGIBLE_ROLES",
    "EXTENDED_ARCHIVE_AGE_YEARS",
    "INVOLVEMENT_CONTACT_EXTENDED_YEARS",
    "INVOLVEMENT_CONTACT_RETENTION_YEARS",
    "LEFT_ENGLAND_ABSENCE_YEARS",
    "MAX_RECORD_AGE_YEARS",
    "PARENT_CONSENT_MAX_AGE_YEARS",
    "SHIELD_FIRST_REVIEW_DAYS",
    "SHIELD_REQUEST_ROLES",
    "SHIELD_REVIEW_INTERVAL_MONTHS",
    "TRAINING_VALIDITY_YEARS",
    "PolicySettings",
    "SettingDescription",
    "describe",
]

# --- Lifecycle (RET) -----------------------------------------------------------

#: RET-1: a record is archived on the child's 18th birthday.
ADULT_AGE_YEARS = 18

#: RET-2: with consent, a record of an 18 or 19 year old receiving Connexions
#: services stays to the 20th birthday (§2.5 "aged 18 or 19").
CONNEXIONS_ARCHIVE_AGE_YEARS = RetentionExtensionReason.CONNEXIONS.leaves_at_age

#: RET-2: with consent, leaving care, learning difficulty and certain other
#: services keep the record to the 25th birthday (§2.5 "over 19 and under 25").
EXTENDED_ARCHIVE_AGE_YEARS = RetentionExtensionReason.LEAVING_CARE.leaves_at_age

#: RET-2 (and the codec's date-of-birth check): no record is live past this birthday.
MAX_RECORD_AGE_YEARS = MAX_AGE_YEARS

#: RET-3: after a death the record stays one year (archived on the first anniversary).
DEATH_RETENTION_YEARS = 1

#: RET-4: a child gone from England and not returning within this many years is
#: archived. The determination is made outside the SDK (the record carries the
#: date it was made, ``left_england_on``); the number is here so that whoever
#: makes it reads it from one place.
LEFT_ENGLAND_ABSENCE_YEARS = 3

#: RET-5: an archived record is kept six years, then destroyed.
ARCHIVE_KEEP_YEARS = 6

#: RET-7: an involvement's contact details are archived one year after it ends.
INVOLVEMENT_CONTACT_RETENTION_YEARS = 1

#: RET-7: a specialist or targeted service may keep them up to five years.
INVOLVEMENT_CONTACT_EXTENDED_YEARS = 5

# --- Consent (SENS) ------------------------------------------------------------

#: SENS-2 *(policy)*: a parent/carer may consent for a child who lacks
#: sufficient understanding only while the child is under this age on the day
#: consent is given. 18 is the age of majority (Family Law Reform Act 1969
#: s.1); an adult who lacks capacity is a matter for the Mental Capacity Act
#: 2005, not for parental consent.
PARENT_CONSENT_MAX_AGE_YEARS = 18

# --- Access (ACC) --------------------------------------------------------------

#: ACC-1: an enhanced criminal-records disclosure is valid while under three
#: years old (§3.2 "renewable every three years", §3.3 "less than 3 years old").
DISCLOSURE_VALIDITY_YEARS = 3

#: ACC-1 *(policy)*: the seed requires training but gives no validity; the
#: project lapses it after three years, in step with the disclosure.
TRAINING_VALIDITY_YEARS = 3

#: ACC-2 *(policy)*: every role in :class:`~contactpoint_sdk.policy.viewer.Role`
#: is one the rules list as eligible (schools, police, health, social care,
#: youth justice, Connexions, voluntary bodies, the directory's own teams).
#: A deployment may narrow it.
ELIGIBLE_ROLES: frozenset[Role] = frozenset(Role)

# --- Shielding (SHLD) ----------------------------------------------------------

#: SHLD-3: the management team reviews a shield within 7 days of the request.
SHIELD_FIRST_REVIEW_DAYS = 7

#: SHLD-3: then at least every 6 months.
SHIELD_REVIEW_INTERVAL_MONTHS = 6

#: SHLD-6 *(policy)*: the roles with the right to request a shield through the
#: API. The seed (§5.3) says "practitioners with the appropriate access rights";
#: the project grants it to those who hold child-protection duties or meet
#: families where they live: the management team, social care, police child
#: abuse investigation, health practitioners, and in schools the head, deputy
#: and teachers with pastoral or child-protection duties. Anyone else asks the
#: local authority (§5.3 "Other practitioners should contact the local
#: authority directly").
SHIELD_REQUEST_ROLES: frozenset[Role] = frozenset(
    {
        Role.LA_MANAGEMENT_TEAM,
        Role.SOCIAL_CARE_PRACTITIONER,
        Role.POLICE_CHILD_ABUSE_INVESTIGATION,
        Role.HEALTH_PRACTITIONER,
        Role.HEAD_TEACHER,
        Role.DEPUTY_HEAD,
        Role.PASTORAL_TEACHER,
    }
)


def _meta(rule: str, unit: str, *, policy: bool = False) -> dict[str, Any]:
    return {"rule": rule, "unit": unit, "policy": policy}


def _non_negative(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{attribute.name} must be a whole number >= 0, not {value!r}")


def _positive(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{attribute.name} must be a whole number > 0, not {value!r}")


def _roles(_: object, attribute: attrs.Attribute[frozenset[Role]], value: object) -> None:
    if not isinstance(value, frozenset) or not all(isinstance(r, Role) for r in value):
        raise ValueError(f"{attribute.name} must be a frozenset of Role")


@attrs.frozen(kw_only=True)
class PolicySettings:
    """The numbers (and role lists) the policy functions run on.

    Defaults are the module constants above; see each for its source. Field
    metadata: ``rule`` (RULES.md ID), ``unit``, ``policy`` (True where the
    number is the project's choice, not the seed's).

    Cross-field checks: the extension ages come after the adult age and do
    not pass the maximum record age; the extended contact retention is not
    shorter than the standard one.
    """

    # lifecycle (RET)
    adult_age_years: int = attrs.field(
        default=ADULT_AGE_YEARS, validator=_positive, metadata=_meta("RET-1", "years of age")
    )
    connexions_archive_age_years: int = attrs.field(
        default=CONNEXIONS_ARCHIVE_AGE_YEARS,
        validator=_positive,
        metadata=_meta("RET-2", "years of age"),
    )
    extended_archive_age_years: int = attrs.field(
        default=EXTENDED_ARCHIVE_AGE_YEARS,
        validator=_positive,
        metadata=_meta("RET-2", "years of age"),
    )
    max_record_age_years: int = attrs.field(
        default=MAX_RECORD_AGE_YEARS, validator=_positive, metadata=_meta("RET-2", "years of age")
    )
    death_retention_years: int = attrs.field(
        default=DEATH_RETENTION_YEARS, validator=_non_negative, metadata=_meta("RET-3", "years")
    )
    left_england_absence_years: int = attrs.field(
        default=LEFT_ENGLAND_ABSENCE_YEARS, validator=_positive, metadata=_meta("RET-4", "years")
    )
    archive_keep_years: int = attrs.field(
        default=ARCHIVE_KEEP_YEARS, validator=_non_negative, metadata=_meta("RET-5", "years")
    )
    involvement_contact_retention_years: int = attrs.field(
        default=INVOLVEMENT_CONTACT_RETENTION_YEARS,
        validator=_non_negative,
        metadata=_meta("RET-7", "years"),
    )
    involvement_contact_extended_years: int = attrs.field(
        default=INVOLVEMENT_CONTACT_EXTENDED_YEARS,
        validator=_non_negative,
        metadata=_meta("RET-7", "years"),
    )
    # consent (SENS)
    parent_consent_max_age_years: int = attrs.field(
        default=PARENT_CONSENT_MAX_AGE_YEARS,
        validator=_positive,
        metadata=_meta("SENS-2", "years of age", policy=True),
    )
    # access (ACC)
    disclosure_validity_years: int = attrs.field(
        default=DISCLOSURE_VALIDITY_YEARS, validator=_positive, metadata=_meta("ACC-1", "years")
    )
    training_validity_years: int = attrs.field(
        default=TRAINING_VALIDITY_YEARS,
        validator=_positive,
        metadata=_meta("ACC-1", "years", policy=True),
    )
    eligible_roles: frozenset[Role] = attrs.field(
        default=ELIGIBLE_ROLES, validator=_roles, metadata=_meta("ACC-2", "roles", policy=True)
    )
    # shielding (SHLD)
    shield_first_review_days: int = attrs.field(
        default=SHIELD_FIRST_REVIEW_DAYS, validator=_positive, metadata=_meta("SHLD-3", "days")
    )
    shield_review_interval_months: int = attrs.field(
        default=SHIELD_REVIEW_INTERVAL_MONTHS,
        validator=_positive,
        metadata=_meta("SHLD-3", "months"),
    )
    shield_request_roles: frozenset[Role] = attrs.field(
        default=SHIELD_REQUEST_ROLES,
        validator=_roles,
        metadata=_meta("SHLD-6", "roles", policy=True),
    )

    def __attrs_post_init__(self) -> None:
        if not (
            self.adult_age_years <= self.connexions_archive_age_years <= self.max_record_age_years
            and self.adult_age_years <= self.extended_archive_age_years <= self.max_record_age_years
        ):
            raise ValueError(
                "extension ages must lie between adult_age_years and max_record_age_years"
            )
        if self.involvement_contact_extended_years < self.involvement_contact_retention_years:
            raise ValueError(
                "involvement_contact_extended_years cannot be shorter than "
                "involvement_contact_retention_years"
            )

    def archive_age_for(self, reason: RetentionExtensionReason) -> int:
        """The birthday on which a record extended for ``reason`` is archived (RET-2)."""
        if reason is RetentionExtensionReason.CONNEXIONS:
            return self.connexions_archive_age_years
        return self.extended_archive_age_years


#: The settings every policy function uses unless given others.
DEFAULT_POLICY = PolicySettings()


@attrs.frozen(kw_only=True)
class SettingDescription:
    """One row of :func:`describe`."""

    name: str
    value: object
    rule: str
    unit: str
    policy: bool


def describe(settings: PolicySettings = DEFAULT_POLICY) -> tuple[SettingDescription, ...]:
    """Every setting with its value, rule, unit and whether it is a policy choice."""
    rows = []
    for field in attrs.fields(PolicySettings):
        meta: Mapping[str, Any] = field.metadata
        value = getattr(settings, field.name)
        if isinstance(value, frozenset):
            value = tuple(sorted(r.value for r in value))
        rows.append(
            SettingDescription(
                name=field.name,
                value=value,
                rule=str(meta["rule"]),
                unit=str(meta["unit"]),
                policy=bool(meta["policy"]),
            )
        )
    return tuple(rows)
