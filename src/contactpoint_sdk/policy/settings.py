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

Adding a setting: add a module constant with a comment, add a keyword-only
field with that default and its metadata, and give it a validator. Every
field has a default, so existing callers keep working.

The look-up numbers (sign-in and sessions for ACC-1, reasons for ACC-3,
anti-trawling for ACC-4, mediated access for ACC-6) are documented, with what each one does, in
``docs/lookup.md``, whose table a test checks against these fields.

Units are in the names (``_years``, ``_months``, ``_days``, ``_hours``,
``_minutes``, ``_seconds``, ``_percent``; a count has none). Year and month
arithmetic follows :func:`contactpoint_sdk.policy.lifecycle.add_years` and
:func:`~contactpoint_sdk.policy.lifecycle.add_months`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from contactpoint_sdk.models.codec import MAX_AGE_YEARS
from contactpoint_sdk.models.enums import RetentionExtensionReason
from contactpoint_sdk.policy.viewer import Role

__all__ = [
    "ADULT_AGE_YEARS",
    "ALERT_FAILED_SEARCHES",
    "ALERT_FAILED_SEARCH_WINDOW_MINUTES",
    "ALERT_GLANCE_OPENS",
    "ALERT_GLANCE_SECONDS",
    "ALERT_GLANCE_WINDOW_MINUTES",
    "ALERT_OUT_OF_AREA_OPENS",
    "ALERT_OUT_OF_AREA_SHARE_PERCENT",
    "ALERT_OUT_OF_AREA_WINDOW_HOURS",
    "ALERT_SAME_REASON_OPENS",
    "ALERT_SAME_REASON_WINDOW_MINUTES",
    "ALERT_SWEEP_DISTINCT_VALUES",
    "ALERT_SWEEP_DOB_SPAN_DAYS",
    "ALERT_SWEEP_SURNAME_PREFIX_LENGTH",
    "ALERT_SWEEP_WINDOW_MINUTES",
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
    "PASSWORD_MAX_LENGTH",
    "PASSWORD_MIN_LENGTH",
    "PASSWORD_SCRYPT_LOG2_N",
    "PASSWORD_SCRYPT_P",
    "PASSWORD_SCRYPT_R",
    "PIN_MAX_LENGTH",
    "PIN_MIN_LENGTH",
    "REASON_TEXT_MAX_LENGTH",
    "REASON_TEXT_MIN_LENGTH",
    "SEARCH_MAX_RESULTS",
    "SEARCH_MIN_NAME_LENGTH",
    "SEARCH_RATE_PER_DAY",
    "SEARCH_RATE_PER_MINUTE",
    "SESSION_ABSOLUTE_HOURS",
    "SESSION_IDLE_MINUTES",
    "SHIELD_FIRST_REVIEW_DAYS",
    "SHIELD_REQUEST_ROLES",
    "SHIELD_REVIEW_INTERVAL_MONTHS",
    "SIGN_IN_LOCKOUT_MINUTES",
    "SIGN_IN_MAX_FAILURES",
    "TOTP_DRIFT_STEPS",
    "TRAINING_VALIDITY_YEARS",
    "TRAWLING_BLOCK_MINUTES",
    "UNMEDIATED_ROLES",
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

# --- Sign-in and sessions (ACC-1) ------------------------------------------------
# The seed asks for four credentials (username, password, PIN, security token)
# and says nothing about how they are kept or how often one may guess: every
# number below is the project's choice.

#: ACC-1 *(policy)*: a password has at least 12 characters (NCSC and NIST
#: SP 800-63B favour length over composition rules; 12 suits a system that
#: also asks for a PIN and a token).
PASSWORD_MIN_LENGTH = 12

#: ACC-1 *(policy)*: and at most 128, so that nobody makes the directory hash
#: a megabyte; a longer one given at sign-in is simply wrong.
PASSWORD_MAX_LENGTH = 128

#: ACC-1 *(policy)*: a PIN is 6 to 12 digits.
PIN_MIN_LENGTH = 6
PIN_MAX_LENGTH = 12

#: ACC-1 *(policy)*: passwords and PINs are stored with scrypt (RFC 7914), a
#: memory-hard hash, each with its own random 16-byte salt. N = 2**17, r = 8,
#: p = 1 is OWASP's recommended minimum (128 MiB and about half a second per
#: hash). The parameters are stored with every hash, so raising them later
#: re-hashes each secret at its owner's next sign-in. Tests lower them (a
#: test's settings only: never in a deployment).
PASSWORD_SCRYPT_LOG2_N = 17
PASSWORD_SCRYPT_R = 8
PASSWORD_SCRYPT_P = 1

#: ACC-1 *(policy)*: the security token is TOTP (RFC 6238: SHA-1, 6 digits,
#: 30-second steps); a code one step early or late is accepted for clock
#: drift (RFC 6238 section 5.2 recommends at most one step). A code is never
#: accepted twice, nor any code of an earlier step once one has been.
TOTP_DRIFT_STEPS = 1

#: ACC-1 *(policy)*: after 5 consecutive failed sign-ins the account is locked ...
SIGN_IN_MAX_FAILURES = 5

#: ACC-1 *(policy)*: ... for 30 minutes, even against the right credentials.
SIGN_IN_LOCKOUT_MINUTES = 30

#: ACC-1 *(policy)*: a session unused for 15 minutes ends (idle expiry) ...
SESSION_IDLE_MINUTES = 15

#: ACC-1 *(policy)*: ... and every session ends 8 hours (a working day) after
#: sign-in, however busy (absolute expiry).
SESSION_ABSOLUTE_HOURS = 8

#: ACC-6 *(policy)*: the roles a colleague may not act for (mediated access):
#: their views are wider than a practitioner's (the whole record for the
#: management team, the archive for reviewers), so the person with the role
#: must use the directory themselves.
UNMEDIATED_ROLES: frozenset[Role] = frozenset({Role.LA_MANAGEMENT_TEAM, Role.ARCHIVE_REVIEWER})

# --- Reasons (ACC-3) -------------------------------------------------------------

#: ACC-3 *(policy)*: the free text that goes with the reason "other" has at
#: least 10 characters (a real explanation, not "x") ...
REASON_TEXT_MIN_LENGTH = 10

#: ACC-3 *(policy)*: ... and at most 200, on one line: it is audited, and a
#: short line leaves little room for case information (REC-6).
REASON_TEXT_MAX_LENGTH = 200

# --- Anti-trawling (ACC-4) -------------------------------------------------------
# "A search needs enough identifying detail, returns few results, and a
# user's search rate is limited; unusual patterns are reported to the
# management team": every number is the project's choice. docs/lookup.md
# explains each, with the patterns the alerts look for.

#: ACC-4 *(policy)*: a name given in a search has at least 2 letters, so no
#: search runs on an initial.
SEARCH_MIN_NAME_LENGTH = 2

#: ACC-4 *(policy)*: a search shows at most 5 candidates; with more matches
#: it shows nothing and asks the user to refine it.
SEARCH_MAX_RESULTS = 5

#: ACC-4 *(policy)*: each user may search at most 10 times in any minute ...
SEARCH_RATE_PER_MINUTE = 10

#: ACC-4 *(policy)*: ... and 250 times in any 24 hours.
SEARCH_RATE_PER_DAY = 250

#: ACC-4 *(policy)*: alert when a user opens 30 records with the same reason
#: within 60 minutes.
ALERT_SAME_REASON_OPENS = 30
ALERT_SAME_REASON_WINDOW_MINUTES = 60

#: ACC-4 *(policy)*: alert when, within 24 hours, a user opens at least 10
#: records of children of another local authority than their own, and those
#: are at least 50 per cent of their opens.
ALERT_OUT_OF_AREA_OPENS = 10
ALERT_OUT_OF_AREA_SHARE_PERCENT = 50
ALERT_OUT_OF_AREA_WINDOW_HOURS = 24

#: ACC-4 *(policy)*: alert on a sweep: within 60 minutes, 6 searches that
#: share one thing and differ in another (surnames sharing their first 3
#: letters; dates of birth within 14 days of each other; one name tried with
#: many dates of birth or postcodes; one date of birth or postcode tried with
#: many surnames).
ALERT_SWEEP_DISTINCT_VALUES = 6
ALERT_SWEEP_WINDOW_MINUTES = 60
ALERT_SWEEP_SURNAME_PREFIX_LENGTH = 3
ALERT_SWEEP_DOB_SPAN_DAYS = 14

#: ACC-4 *(policy)*: an open "with no follow-up" is one left within 10 seconds
#: for another search or record with nothing done on it; alert at 10 of
#: them within 30 minutes.
ALERT_GLANCE_SECONDS = 10
ALERT_GLANCE_OPENS = 10
ALERT_GLANCE_WINDOW_MINUTES = 30

#: ACC-4 *(policy)*: alert at 10 failed searches (no match, too broad, too
#: many matches, rate limited) within 30 minutes.
ALERT_FAILED_SEARCHES = 10
ALERT_FAILED_SEARCH_WINDOW_MINUTES = 30

#: ACC-4 *(policy)*: a sweep or failed-search alert also stops the user's
#: searches for 60 minutes, or until the management team clears it (0: the
#: alerts only report).
TRAWLING_BLOCK_MINUTES = 60

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


def _between(low: int, high: int) -> Callable[[object, attrs.Attribute[int], int], None]:
    """A validator: a whole number from ``low`` to ``high`` inclusive."""

    def check(_: object, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(
                f"{attribute.name} must be a whole number from {low} to {high}, not {value!r}"
            )

    return check


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
    shorter than the standard one; each minimum (password, PIN, reason text)
    is not above its maximum; the per-minute search rate is not above the
    daily one.
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
    merge_undo_days: int = attrs.field(
        default=90, validator=_positive, metadata=_meta("SUP-7", "days", policy=True)
    )
    """How long a merge of two records can be undone (SUP-7), in days after the
    merge. Until then the merge keeps the survivor's earlier contributions (a
    snapshot of child data); afterwards the lifecycle job drops the snapshot,
    keeping only the merge's identifier, the two directory identifiers, who and
    when, and an unmerge is refused (``merge_undo_expired``). Kept well inside
    RET-7's year so a snapshot never holds contact details much past their
    archive date. A project choice, not the seed's."""
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
    # sign-in and sessions (ACC-1)
    password_min_length: int = attrs.field(
        default=PASSWORD_MIN_LENGTH,
        validator=_positive,
        metadata=_meta("ACC-1", "characters", policy=True),
    )
    password_max_length: int = attrs.field(
        default=PASSWORD_MAX_LENGTH,
        validator=_positive,
        metadata=_meta("ACC-1", "characters", policy=True),
    )
    pin_min_length: int = attrs.field(
        default=PIN_MIN_LENGTH, validator=_positive, metadata=_meta("ACC-1", "digits", policy=True)
    )
    pin_max_length: int = attrs.field(
        default=PIN_MAX_LENGTH, validator=_positive, metadata=_meta("ACC-1", "digits", policy=True)
    )
    password_scrypt_log2_n: int = attrs.field(
        default=PASSWORD_SCRYPT_LOG2_N,
        validator=_between(1, 24),
        metadata=_meta("ACC-1", "log2 of scrypt N", policy=True),
    )
    password_scrypt_r: int = attrs.field(
        default=PASSWORD_SCRYPT_R,
        validator=_between(1, 64),
        metadata=_meta("ACC-1", "scrypt block size r", policy=True),
    )
    password_scrypt_p: int = attrs.field(
        default=PASSWORD_SCRYPT_P,
        validator=_between(1, 16),
        metadata=_meta("ACC-1", "scrypt parallelism p", policy=True),
    )
    totp_drift_steps: int = attrs.field(
        default=TOTP_DRIFT_STEPS,
        validator=_between(0, 2),
        metadata=_meta("ACC-1", "30-second steps", policy=True),
    )
    sign_in_max_failures: int = attrs.field(
        default=SIGN_IN_MAX_FAILURES,
        validator=_positive,
        metadata=_meta("ACC-1", "consecutive failures", policy=True),
    )
    sign_in_lockout_minutes: int = attrs.field(
        default=SIGN_IN_LOCKOUT_MINUTES,
        validator=_positive,
        metadata=_meta("ACC-1", "minutes", policy=True),
    )
    session_idle_minutes: int = attrs.field(
        default=SESSION_IDLE_MINUTES,
        validator=_positive,
        metadata=_meta("ACC-1", "minutes", policy=True),
    )
    session_absolute_hours: int = attrs.field(
        default=SESSION_ABSOLUTE_HOURS,
        validator=_positive,
        metadata=_meta("ACC-1", "hours", policy=True),
    )
    unmediated_roles: frozenset[Role] = attrs.field(
        default=UNMEDIATED_ROLES, validator=_roles, metadata=_meta("ACC-6", "roles", policy=True)
    )
    # reasons (ACC-3)
    reason_text_min_length: int = attrs.field(
        default=REASON_TEXT_MIN_LENGTH,
        validator=_positive,
        metadata=_meta("ACC-3", "characters", policy=True),
    )
    reason_text_max_length: int = attrs.field(
        default=REASON_TEXT_MAX_LENGTH,
        validator=_positive,
        metadata=_meta("ACC-3", "characters", policy=True),
    )
    # anti-trawling (ACC-4)
    search_min_name_length: int = attrs.field(
        default=SEARCH_MIN_NAME_LENGTH,
        validator=_positive,
        metadata=_meta("ACC-4", "letters", policy=True),
    )
    search_max_results: int = attrs.field(
        default=SEARCH_MAX_RESULTS,
        validator=_positive,
        metadata=_meta("ACC-4", "candidates", policy=True),
    )
    search_rate_per_minute: int = attrs.field(
        default=SEARCH_RATE_PER_MINUTE,
        validator=_positive,
        metadata=_meta("ACC-4", "searches per minute", policy=True),
    )
    search_rate_per_day: int = attrs.field(
        default=SEARCH_RATE_PER_DAY,
        validator=_positive,
        metadata=_meta("ACC-4", "searches per 24 hours", policy=True),
    )
    alert_same_reason_opens: int = attrs.field(
        default=ALERT_SAME_REASON_OPENS,
        validator=_between(2, 100_000),
        metadata=_meta("ACC-4", "opens", policy=True),
    )
    alert_same_reason_window_minutes: int = attrs.field(
        default=ALERT_SAME_REASON_WINDOW_MINUTES,
        validator=_positive,
        metadata=_meta("ACC-4", "minutes", policy=True),
    )
    alert_out_of_area_opens: int = attrs.field(
        default=ALERT_OUT_OF_AREA_OPENS,
        validator=_between(1, 100_000),
        metadata=_meta("ACC-4", "opens", policy=True),
    )
    alert_out_of_area_share_percent: int = attrs.field(
        default=ALERT_OUT_OF_AREA_SHARE_PERCENT,
        validator=_between(1, 100),
        metadata=_meta("ACC-4", "percent of opens", policy=True),
    )
    alert_out_of_area_window_hours: int = attrs.field(
        default=ALERT_OUT_OF_AREA_WINDOW_HOURS,
        validator=_positive,
        metadata=_meta("ACC-4", "hours", policy=True),
    )
    alert_sweep_distinct_values: int = attrs.field(
        default=ALERT_SWEEP_DISTINCT_VALUES,
        validator=_between(2, 1000),
        metadata=_meta("ACC-4", "distinct values", policy=True),
    )
    alert_sweep_window_minutes: int = attrs.field(
        default=ALERT_SWEEP_WINDOW_MINUTES,
        validator=_positive,
        metadata=_meta("ACC-4", "minutes", policy=True),
    )
    alert_sweep_surname_prefix_length: int = attrs.field(
        default=ALERT_SWEEP_SURNAME_PREFIX_LENGTH,
        validator=_positive,
        metadata=_meta("ACC-4", "letters", policy=True),
    )
    alert_sweep_dob_span_days: int = attrs.field(
        default=ALERT_SWEEP_DOB_SPAN_DAYS,
        validator=_between(2, 366),
        metadata=_meta("ACC-4", "days", policy=True),
    )
    alert_glance_seconds: int = attrs.field(
        default=ALERT_GLANCE_SECONDS,
        validator=_positive,
        metadata=_meta("ACC-4", "seconds", policy=True),
    )
    alert_glance_opens: int = attrs.field(
        default=ALERT_GLANCE_OPENS,
        validator=_between(2, 100_000),
        metadata=_meta("ACC-4", "opens", policy=True),
    )
    alert_glance_window_minutes: int = attrs.field(
        default=ALERT_GLANCE_WINDOW_MINUTES,
        validator=_positive,
        metadata=_meta("ACC-4", "minutes", policy=True),
    )
    alert_failed_searches: int = attrs.field(
        default=ALERT_FAILED_SEARCHES,
        validator=_between(2, 100_000),
        metadata=_meta("ACC-4", "searches", policy=True),
    )
    alert_failed_search_window_minutes: int = attrs.field(
        default=ALERT_FAILED_SEARCH_WINDOW_MINUTES,
        validator=_positive,
        metadata=_meta("ACC-4", "minutes", policy=True),
    )
    trawling_block_minutes: int = attrs.field(
        default=TRAWLING_BLOCK_MINUTES,
        validator=_non_negative,
        metadata=_meta("ACC-4", "minutes", policy=True),
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
        for low, high in (
            ("password_min_length", "password_max_length"),
            ("pin_min_length", "pin_max_length"),
            ("reason_text_min_length", "reason_text_max_length"),
            ("search_rate_per_minute", "search_rate_per_day"),
        ):
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"{low} cannot be greater than {high}")

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
