"""May this involvement be recorded? Consent for sensitive services (SENS-1..SENS-5).

Pure: the date is always passed in (RET-8).

* SENS-5: an involvement with a non-sensitive service (universal or
  additional) needs no consent; the record's basic data never does.
* SENS-1: sensitive services are the sexual health, mental health (CAMHS tiers
  2-4) and substance misuse kinds of
  :class:`~contactpoint_sdk.models.enums.ServiceKind`.
* SENS-2: a sensitive involvement is recorded only with informed, explicit
  consent, given

  - by the child (who must not be marked as lacking understanding), or
  - by a parent/carer, only where the child lacks sufficient understanding
    (``child_lacks_understanding``) and the parent/carer is named
    (``giver_name``), and only while the child is under
    :attr:`~contactpoint_sdk.policy.settings.PolicySettings.parent_consent_max_age_years`
    (18) on the day consent was given *(policy)*.

  Consent dated after ``today`` or before the child's birth does not count.
  Consent withdrawn on or before ``today`` no longer counts: from that day the
  involvement may no longer be recorded, unless an override stands.
* SENS-3: lack of consent may be overridden only on the child-protection
  ground, by a named authoriser, on a date not after ``today``. An override
  stands whatever the consent says (missing, refused or withdrawn).

**Which reason is reported when both fail:** if the involvement carries an
override, the override's fault (SENS-3), since the override is what the
supplier relied on; otherwise the consent's fault (SENS-2).

Codes (stable): allowed ``consent_not_required`` (SENS-5),
``consent_given_by_child``, ``consent_given_by_parent_carer`` (SENS-2),
``consent_overridden`` (SENS-3); refused ``consent_required``,
``consent_in_future``, ``consent_before_birth``, ``consent_withdrawn``,
``consent_child_lacks_understanding``,
``consent_parent_carer_child_has_understanding``,
``consent_parent_carer_not_named``, ``consent_parent_carer_child_adult``
(SENS-2); ``override_ground_not_allowed``, ``override_in_future`` (SENS-3).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import date

import attrs

from contactpoint_sdk.errors import PolicyRefusal
from contactpoint_sdk.models.enums import ConsentGiver, OverrideGround
from contactpoint_sdk.models.record import ChildRecord, Consent, ConsentOverride, Involvement
from contactpoint_sdk.policy.lifecycle import birthday
from contactpoint_sdk.policy.settings import DEFAULT_POLICY, PolicySettings

__all__ = [
    "OVERRIDE_GROUNDS",
    "ConsentBasis",
    "ConsentDecision",
    "consent_decision",
    "consent_decisions",
    "require_consent",
    "withdraw",
]

#: SENS-3: the only grounds on which lack of consent may be overridden.
OVERRIDE_GROUNDS: frozenset[OverrideGround] = frozenset({OverrideGround.CHILD_PROTECTION})


class ConsentBasis(enum.Enum):
    """On what basis an involvement may be recorded."""

    NOT_REQUIRED = "not_required"  # SENS-5
    CHILD_CONSENT = "child_consent"  # SENS-2
    PARENT_CONSENT = "parent_consent"  # SENS-2, child lacks understanding
    OVERRIDE = "override"  # SENS-3


@attrs.frozen(kw_only=True)
class ConsentDecision:
    """Whether an involvement may be recorded, on what basis, under which rule.

    ``basis`` is ``None`` when ``allowed`` is false. ``code`` is stable and
    machine readable; ``reason`` is for people.
    """

    allowed: bool
    basis: ConsentBasis | None
    rule: str
    code: str
    reason: str

    def refusal(self) -> PolicyRefusal:
        """This decision as the exception :func:`require_consent` raises."""
        return PolicyRefusal(self.reason, code=self.code, rule=self.rule)


def _allow(basis: ConsentBasis, rule: str, code: str, reason: str) -> ConsentDecision:
    return ConsentDecision(allowed=True, basis=basis, rule=rule, code=code, reason=reason)


def _refuse(rule: str, code: str, reason: str) -> ConsentDecision:
    return ConsentDecision(allowed=False, basis=None, rule=rule, code=code, reason=reason)


def _consent_fault(
    consent: Consent | None, child_date_of_birth: date, today: date, settings: PolicySettings
) -> ConsentDecision:
    """The SENS-2 decision on the consent alone."""
    if consent is None:
        return _refuse(
            "SENS-2",
            "consent_required",
            "a sensitive service is recorded only with explicit consent",
        )
    if consent.given_on > today:
        return _refuse(
            "SENS-2",
            "consent_in_future",
            f"consent is dated {consent.given_on.isoformat()}, after today",
        )
    if consent.given_on < child_date_of_birth:
        return _refuse(
            "SENS-2",
            "consent_before_birth",
            f"consent is dated {consent.given_on.isoformat()}, before the child was born",
        )
    if consent.withdrawn_on is not None and consent.withdrawn_on <= today:
        return _refuse(
            "SENS-2",
            "consent_withdrawn",
            f"consent was withdrawn on {consent.withdrawn_on.isoformat()}",
        )
    if consent.given_by is ConsentGiver.CHILD:
        if consent.child_lacks_understanding:
            return _refuse(
                "SENS-2",
                "consent_child_lacks_understanding",
                "the child is recorded as lacking sufficient understanding to consent; "
                "a named parent/carer must consent instead",
            )
        return _allow(
            ConsentBasis.CHILD_CONSENT,
            "SENS-2",
            "consent_given_by_child",
            "the child gave explicit consent",
        )
    # A parent/carer consented.
    if not consent.child_lacks_understanding:
        return _refuse(
            "SENS-2",
            "consent_parent_carer_child_has_understanding",
            "a parent/carer may consent only where the child lacks sufficient understanding",
        )
    if consent.giver_name is None:
        return _refuse(
            "SENS-2",
            "consent_parent_carer_not_named",
            "the parent/carer who gave consent must be named",
        )
    adult_on = birthday(child_date_of_birth, settings.parent_consent_max_age_years)
    if consent.given_on >= adult_on:
        return _refuse(
            "SENS-2",
            "consent_parent_carer_child_adult",
            f"a parent/carer cannot consent for a young person aged "
            f"{settings.parent_consent_max_age_years} or over",
        )
    return _allow(
        ConsentBasis.PARENT_CONSENT,
        "SENS-2",
        "consent_given_by_parent_carer",
        "a named parent/carer consented for a child lacking sufficient understanding",
    )


def _override_fault(override: ConsentOverride, today: date) -> ConsentDecision:
    """The SENS-3 decision on an override alone."""
    if override.ground not in OVERRIDE_GROUNDS:
        return _refuse(
            "SENS-3",
            "override_ground_not_allowed",
            f"lack of consent cannot be overridden on the ground {override.ground.value!r}",
        )
    if override.authorised_on > today:
        return _refuse(
            "SENS-3",
            "override_in_future",
            f"the override is dated {override.authorised_on.isoformat()}, after today",
        )
    return _allow(
        ConsentBasis.OVERRIDE,
        "SENS-3",
        "consent_overridden",
        "lack of consent overridden on child-protection grounds by a named authoriser",
    )


def consent_decision(
    involvement: Involvement,
    *,
    child_date_of_birth: date,
    today: date,
    settings: PolicySettings = DEFAULT_POLICY,
) -> ConsentDecision:
    """May ``involvement`` be recorded on the UK date ``today``? (SENS-2, SENS-3, SENS-5)

    Never raises for a refusal: see :func:`require_consent`. Valid consent
    gives basis ``CHILD_CONSENT`` or ``PARENT_CONSENT``; otherwise a valid
    override gives ``OVERRIDE``; otherwise the refusal (module notes say
    which fault is reported).
    """
    if not involvement.is_sensitive:
        return _allow(
            ConsentBasis.NOT_REQUIRED,
            "SENS-5",
            "consent_not_required",
            "a non-sensitive service is recorded without consent",
        )
    by_consent = _consent_fault(involvement.consent, child_date_of_birth, today, settings)
    if by_consent.allowed:
        return by_consent
    if involvement.consent_override is not None:
        return _override_fault(involvement.consent_override, today)
    return by_consent


def require_consent(
    involvement: Involvement,
    *,
    child_date_of_birth: date,
    today: date,
    settings: PolicySettings = DEFAULT_POLICY,
) -> ConsentDecision:
    """:func:`consent_decision`, raising
    :class:`~contactpoint_sdk.errors.PolicyRefusal` (with its rule and code)
    when the involvement may not be recorded."""
    decision = consent_decision(
        involvement, child_date_of_birth=child_date_of_birth, today=today, settings=settings
    )
    if not decision.allowed:
        raise decision.refusal()
    return decision


def consent_decisions(
    record: ChildRecord, *, today: date, settings: PolicySettings = DEFAULT_POLICY
) -> Mapping[str, ConsentDecision]:
    """The decision for each of the record's involvements, by its ``reference``."""
    return {
        inv.reference: consent_decision(
            inv, child_date_of_birth=record.date_of_birth, today=today, settings=settings
        )
        for inv in record.involvements
    }


def withdraw(consent: Consent, on: date) -> Consent:
    """The consent, withdrawn from ``on`` (SENS-2).

    Withdrawal is final: withdrawing again keeps the earlier date. A date
    before the consent was given is refused by the model (``ValidationError``,
    code ``date_order``).
    """
    if consent.withdrawn_on is not None and consent.withdrawn_on <= on:
        return consent
    return attrs.evolve(consent, withdrawn_on=on)
