"""Closed vocabularies of the record model.

Wire values are the enum values (lower-case strings, except gender, which uses
the DfE common basic data set letters). Every vocabulary is closed: an unknown
value is refused by the codec, so no free text can smuggle case information in
(REC-6).
"""

from __future__ import annotations

import enum

__all__ = [
    "CarerRelationship",
    "ConsentGiver",
    "ContactRetention",
    "Gender",
    "OrganisationKind",
    "OverrideGround",
    "PhoneKind",
    "RetentionExtensionReason",
    "SensitiveCategory",
    "ServiceKind",
    "ServiceTier",
    "ShieldGround",
    "ShieldReviewParty",
]


class Gender(enum.Enum):
    """The child's gender, as the DfE common basic data set codes it (REC-1).

    ``M`` male, ``F`` female, ``U`` not known (not recorded by the source).
    """

    MALE = "M"
    FEMALE = "F"
    NOT_KNOWN = "U"


class ServiceTier(enum.Enum):
    """Universal (REC-3), additional (REC-4) or sensitive (SENS-1)."""

    UNIVERSAL = "universal"
    ADDITIONAL = "additional"
    SENSITIVE = "sensitive"


class SensitiveCategory(enum.Enum):
    """The three sensitive categories of SENS-1."""

    SEXUAL_HEALTH = "sexual_health"
    MENTAL_HEALTH = "mental_health"
    SUBSTANCE_MISUSE = "substance_misuse"


class ServiceKind(enum.Enum):
    """What kind of service an involvement is (REC-3, REC-4, SENS-1).

    Sensitive services are named down to their SENS-1 sub-kind; their
    :attr:`category` gives the SENS-1 category. Only a viewer with the right
    ever sees any of that (SENS-4).
    """

    # Universal services (REC-3)
    EDUCATION_SETTING = "education_setting"
    GP_PRACTICE = "gp_practice"
    MIDWIFE = "midwife"
    HEALTH_VISITOR = "health_visitor"
    SCHOOL_NURSE = "school_nurse"
    # Additional services (REC-4)
    SOCIAL_CARE = "social_care"
    SEN_TEACHER = "sen_teacher"
    SENCO = "senco"
    YOUTH_OFFENDING_TEAM = "youth_offending_team"
    YOUTH_INCLUSION_SUPPORT_PANEL = "youth_inclusion_support_panel"
    CONNEXIONS = "connexions"
    OTHER_ADDITIONAL = "other_additional"
    # Sensitive services (SENS-1): sexual health
    SEXUAL_HEALTH_PREGNANCY = "sexual_health.pregnancy"
    SEXUAL_HEALTH_ABORTION = "sexual_health.abortion"
    SEXUAL_HEALTH_CONTRACEPTION = "sexual_health.contraception"
    SEXUAL_HEALTH_STI = "sexual_health.sti"
    SEXUAL_HEALTH_SEXUAL_VIOLENCE = "sexual_health.sexual_violence"
    SEXUAL_HEALTH_SEXUAL_ABUSE = "sexual_health.sexual_abuse"
    SEXUAL_HEALTH_LGBT = "sexual_health.gay_lesbian_transgender"
    # mental health
    MENTAL_HEALTH_CAMHS_TIER_2 = "mental_health.camhs_tier_2"
    MENTAL_HEALTH_CAMHS_TIER_3 = "mental_health.camhs_tier_3"
    MENTAL_HEALTH_CAMHS_TIER_4 = "mental_health.camhs_tier_4"
    # substance misuse
    SUBSTANCE_MISUSE_DRUGS = "substance_misuse.drugs"
    SUBSTANCE_MISUSE_ALCOHOL = "substance_misuse.alcohol"
    SUBSTANCE_MISUSE_VOLATILE = "substance_misuse.volatile_substances"

    # The properties read tables built once, below the class, from the SENS-1
    # naming (a sensitive value is "<category>.<sub-kind>") and the universal
    # list: the model checks ask them for every involvement.

    @property
    def category(self) -> SensitiveCategory | None:
        """The SENS-1 category of a sensitive service, else ``None``."""
        return _CATEGORY[self]

    @property
    def tier(self) -> ServiceTier:
        """Universal, additional or sensitive."""
        return _TIER[self]

    @property
    def is_sensitive(self) -> bool:
        """True for the SENS-1 services, which need consent (SENS-2)."""
        return self in _SENSITIVE

    @property
    def is_specialist_or_targeted(self) -> bool:
        """Additional and sensitive services: their practitioner may keep
        contact details up to five years after the involvement ends (RET-7)."""
        return self in _SPECIALIST_OR_TARGETED


_UNIVERSAL = frozenset(
    {
        ServiceKind.EDUCATION_SETTING,
        ServiceKind.GP_PRACTICE,
        ServiceKind.MIDWIFE,
        ServiceKind.HEALTH_VISITOR,
        ServiceKind.SCHOOL_NURSE,
    }
)


def _category_of(kind: ServiceKind) -> SensitiveCategory | None:
    head, dot, _ = kind.value.partition(".")
    return SensitiveCategory(head) if dot else None


def _tier_of(kind: ServiceKind) -> ServiceTier:
    if _category_of(kind) is not None:
        return ServiceTier.SENSITIVE
    if kind in _UNIVERSAL:
        return ServiceTier.UNIVERSAL
    return ServiceTier.ADDITIONAL


_CATEGORY = {kind: _category_of(kind) for kind in ServiceKind}
_TIER = {kind: _tier_of(kind) for kind in ServiceKind}
_SENSITIVE = frozenset(k for k in ServiceKind if _TIER[k] is ServiceTier.SENSITIVE)
_SPECIALIST_OR_TARGETED = frozenset(k for k in ServiceKind if _TIER[k] is not ServiceTier.UNIVERSAL)


class OrganisationKind(enum.Enum):
    """What an organisation is; used to describe it, never to hide it."""

    SCHOOL = "school"
    EARLY_YEARS_SETTING = "early_years_setting"
    FURTHER_EDUCATION = "further_education"
    GP_PRACTICE = "gp_practice"
    NHS_TRUST = "nhs_trust"
    LOCAL_AUTHORITY = "local_authority"
    YOUTH_JUSTICE = "youth_justice"
    POLICE = "police"
    VOLUNTARY = "voluntary"
    OTHER = "other"


class CarerRelationship(enum.Enum):
    """A parent's or carer's relationship to the child (REC-2)."""

    MOTHER = "mother"
    FATHER = "father"
    STEP_PARENT = "step_parent"
    ADOPTIVE_PARENT = "adoptive_parent"
    FOSTER_CARER = "foster_carer"
    GRANDPARENT = "grandparent"
    OTHER_RELATIVE = "other_relative"
    GUARDIAN = "guardian"
    OTHER_CARER = "other_carer"


class PhoneKind(enum.Enum):
    """Which phone a number is."""

    HOME = "home"
    MOBILE = "mobile"
    WORK = "work"
    OTHER = "other"


class ConsentGiver(enum.Enum):
    """Who gave consent (SENS-2): the child, or a parent/carer where the
    child lacks sufficient understanding to give or refuse it."""

    CHILD = "child"
    PARENT_CARER = "parent_carer"


class OverrideGround(enum.Enum):
    """The only ground on which lack of consent may be overridden (SENS-3)."""

    CHILD_PROTECTION = "child_protection"


class ContactRetention(enum.Enum):
    """How long an involvement's contact details stay after it ends (RET-7).

    ``standard`` is one year; ``extended`` (specialist or targeted services
    only) lets the practitioner keep them for up to five years.
    """

    STANDARD = "standard"
    EXTENDED = "extended"


class RetentionExtensionReason(enum.Enum):
    """Why a record may stay past the 18th birthday, with consent (RET-2)."""

    CONNEXIONS = "connexions"  # to age 19 (the 20th birthday)
    LEAVING_CARE = "leaving_care"  # to the 25th birthday
    LEARNING_DIFFICULTY = "learning_difficulty"  # to the 25th birthday
    OTHER_SERVICES = "other_services"  # to the 25th birthday

    @property
    def leaves_at_age(self) -> int:
        """The birthday on which the extended record is archived."""
        return 20 if self is RetentionExtensionReason.CONNEXIONS else 25


class ShieldGround(enum.Enum):
    """The grounds on which a record may be shielded (SHLD-4)."""

    RISK_OF_HARM_TO_CHILD = "risk_of_harm_to_child"
    RISK_TO_ADOPTION_PLACEMENT = "risk_to_adoption_placement"
    RISK_OF_HARM_TO_ADULT = "risk_of_harm_to_adult"
    PREJUDICE_TO_CRIME_PREVENTION = "prejudice_to_crime_prevention"
    ADOPTION_IDENTITY_LINK = "adoption_identity_link"
    OTHER = "other"


class ShieldReviewParty(enum.Enum):
    """Whose views a shield review took into account (SHLD-3). A closed list:
    the review records whose views, never what they were (REC-6)."""

    CHILD = "child"
    PARENT_CARER = "parent_carer"
    PRACTITIONER = "practitioner"
    SOCIAL_CARE = "social_care"
    POLICE = "police"
    OTHER_AGENCY = "other_agency"
