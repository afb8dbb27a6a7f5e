"""SENS-1..SENS-5: consent to record a sensitive involvement, and its override.

Every refusal asserts its rule ID and code.
"""

from __future__ import annotations

from datetime import date, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contactpoint_sdk.errors import PolicyRefusal, ValidationError
from contactpoint_sdk.models import Consent, ConsentGiver, PersonName, ServiceKind
from contactpoint_sdk.policy import consent as consent_module
from contactpoint_sdk.policy.consent import (
    ConsentBasis,
    ConsentDecision,
    consent_decision,
    consent_decisions,
    require_consent,
    withdraw,
)
from contactpoint_sdk.policy.settings import DEFAULT_POLICY
from tests._builders import consent, involvement, override, person, record

BORN = date(2008, 2, 29)
TODAY = date(2024, 3, 1)
GIVEN = date(2024, 1, 10)
SENSITIVE = [k for k in ServiceKind if k.is_sensitive]
NOT_SENSITIVE = [k for k in ServiceKind if not k.is_sensitive]
ONE_DAY = timedelta(days=1)
PARENT = person("Pat", "Parent")


def decide(*, today: date = TODAY, born: date = BORN, **kwargs: object) -> ConsentDecision:
    inv = involvement(**kwargs)  # type: ignore[arg-type]
    return consent_decision(inv, child_date_of_birth=born, today=today)


def assert_refused(decision: ConsentDecision, rule: str, code: str) -> None:
    assert not decision.allowed
    assert decision.basis is None
    assert (decision.rule, decision.code) == (rule, code)
    assert decision.reason
    inv = decision.refusal()
    assert (inv.rule, inv.code) == (rule, code)


def parent_consent(
    *,
    given_on: date = GIVEN,
    child_lacks_understanding: bool = True,
    giver_name: PersonName | None = PARENT,
) -> Consent:
    return consent(
        given_by=ConsentGiver.PARENT_CARER,
        given_on=given_on,
        child_lacks_understanding=child_lacks_understanding,
        giver_name=giver_name,
    )


# --- SENS-1, SENS-5 ---------------------------------------------------------


def test_sens_1_the_sensitive_categories_are_exactly_the_three() -> None:
    categories = {k.category for k in SENSITIVE}
    assert {c.value for c in categories if c is not None} == {
        "sexual_health",
        "mental_health",
        "substance_misuse",
    }
    assert len(SENSITIVE) == 13


@pytest.mark.parametrize("service", NOT_SENSITIVE, ids=lambda k: k.value)
def test_sens_5_non_sensitive_service_needs_no_consent(service: ServiceKind) -> None:
    decision = decide(service=service)
    assert decision.allowed
    assert decision.basis is ConsentBasis.NOT_REQUIRED
    assert (decision.rule, decision.code) == ("SENS-5", "consent_not_required")


@pytest.mark.parametrize("service", SENSITIVE, ids=lambda k: k.value)
def test_sens_1_every_sensitive_service_needs_consent(service: ServiceKind) -> None:
    assert_refused(decide(service=service), "SENS-2", "consent_required")


# --- SENS-2: the child's consent --------------------------------------------


def test_sens_2_child_consent_allows_recording() -> None:
    decision = decide(consent=consent())
    assert decision.allowed
    assert decision.basis is ConsentBasis.CHILD_CONSENT
    assert (decision.rule, decision.code) == ("SENS-2", "consent_given_by_child")


def test_sens_2_child_marked_as_lacking_understanding_cannot_consent() -> None:
    decision = decide(consent=consent(child_lacks_understanding=True))
    assert_refused(decision, "SENS-2", "consent_child_lacks_understanding")


def test_sens_2_consent_dated_today_counts_tomorrow_does_not() -> None:
    assert decide(consent=consent(given_on=TODAY)).allowed
    assert_refused(decide(consent=consent(given_on=TODAY + ONE_DAY)), "SENS-2", "consent_in_future")


def test_sens_2_consent_dated_before_birth_does_not_count() -> None:
    decision = decide(consent=consent(given_on=BORN - ONE_DAY))
    assert_refused(decision, "SENS-2", "consent_before_birth")


# --- SENS-2: a parent/carer's consent ---------------------------------------


def test_sens_2_parent_consent_only_when_child_lacks_understanding() -> None:
    allowed = decide(consent=parent_consent())
    assert allowed.allowed
    assert allowed.basis is ConsentBasis.PARENT_CONSENT
    assert (allowed.rule, allowed.code) == ("SENS-2", "consent_given_by_parent_carer")

    refused = decide(consent=parent_consent(child_lacks_understanding=False))
    assert_refused(refused, "SENS-2", "consent_parent_carer_child_has_understanding")


def test_sens_2_parent_consent_needs_the_parent_named() -> None:
    decision = decide(consent=parent_consent(giver_name=None))
    assert_refused(decision, "SENS-2", "consent_parent_carer_not_named")


def test_sens_2_parent_cannot_consent_for_a_young_person_of_18() -> None:
    # Born 29 Feb 2008: 18 on 1 March 2026 (common year).
    today = date(2026, 6, 1)
    on_eve = decide(today=today, consent=parent_consent(given_on=date(2026, 2, 28)))
    assert on_eve.allowed
    on_birthday = decide(today=today, consent=parent_consent(given_on=date(2026, 3, 1)))
    assert_refused(on_birthday, "SENS-2", "consent_parent_carer_child_adult")


def test_sens_2_parent_consent_age_is_a_setting() -> None:
    # Born 29 Feb 2008: 16 on 29 Feb 2024 (a leap year).
    lower = attrs.evolve(DEFAULT_POLICY, parent_consent_max_age_years=16)
    for given_on, allowed in [(date(2024, 2, 28), True), (date(2024, 2, 29), False)]:
        inv = involvement(consent=parent_consent(given_on=given_on))
        decision = consent_decision(inv, child_date_of_birth=BORN, today=TODAY, settings=lower)
        if allowed:
            assert decision.allowed
        else:
            assert_refused(decision, "SENS-2", "consent_parent_carer_child_adult")


# --- SENS-2: withdrawal -----------------------------------------------------


def test_sens_2_withdrawn_consent_no_longer_counts_from_the_day_of_withdrawal() -> None:
    c = consent(withdrawn_on=TODAY)
    assert decide(today=TODAY - ONE_DAY, consent=c).allowed
    assert_refused(decide(today=TODAY, consent=c), "SENS-2", "consent_withdrawn")
    assert_refused(decide(today=TODAY + ONE_DAY, consent=c), "SENS-2", "consent_withdrawn")


def test_sens_2_withdraw_sets_the_date_and_is_final() -> None:
    c = consent(given_on=GIVEN)
    once = withdraw(c, date(2024, 2, 1))
    assert once.withdrawn_on == date(2024, 2, 1)
    assert withdraw(once, date(2024, 3, 1)) is once  # later: the first withdrawal stands
    assert withdraw(once, date(2024, 1, 20)).withdrawn_on == date(2024, 1, 20)
    assert c.withdrawn_on is None  # frozen: the original is unchanged


def test_sens_2_withdraw_before_consent_was_given_is_refused_by_the_model() -> None:
    with pytest.raises(ValidationError) as err:
        withdraw(consent(given_on=GIVEN), GIVEN - ONE_DAY)
    assert err.value.code == "date_order"


# --- SENS-3: override -------------------------------------------------------


def test_sens_3_child_protection_override_allows_recording_without_consent() -> None:
    decision = decide(consent_override=override(authorised_on=TODAY))
    assert decision.allowed
    assert decision.basis is ConsentBasis.OVERRIDE
    assert (decision.rule, decision.code) == ("SENS-3", "consent_overridden")


def test_sens_3_override_dated_in_the_future_does_not_stand() -> None:
    decision = decide(consent_override=override(authorised_on=TODAY + ONE_DAY))
    assert_refused(decision, "SENS-3", "override_in_future")


def test_sens_3_override_stands_after_consent_is_withdrawn() -> None:
    decision = decide(consent=consent(withdrawn_on=TODAY), consent_override=override())
    assert decision.allowed
    assert decision.basis is ConsentBasis.OVERRIDE


def test_sens_3_valid_consent_is_the_basis_even_with_an_override() -> None:
    decision = decide(consent=consent(), consent_override=override(authorised_on=TODAY + ONE_DAY))
    assert decision.basis is ConsentBasis.CHILD_CONSENT


def test_sens_3_when_both_fail_the_overrides_fault_is_reported() -> None:
    decision = decide(
        consent=consent(withdrawn_on=TODAY),
        consent_override=override(authorised_on=TODAY + ONE_DAY),
    )
    assert_refused(decision, "SENS-3", "override_in_future")


def test_sens_3_override_only_on_an_allowed_ground(monkeypatch: pytest.MonkeyPatch) -> None:
    # The model's ground list holds only child protection; if the allowed
    # grounds were narrowed, an override on it would no longer stand.
    monkeypatch.setattr(consent_module, "OVERRIDE_GROUNDS", frozenset())
    decision = decide(consent_override=override())
    assert_refused(decision, "SENS-3", "override_ground_not_allowed")


# --- require_consent, consent_decisions ------------------------------------


def test_sens_2_require_consent_raises_policy_refusal_with_rule_and_code() -> None:
    inv = involvement(service=ServiceKind.SUBSTANCE_MISUSE_ALCOHOL)
    with pytest.raises(PolicyRefusal) as err:
        require_consent(inv, child_date_of_birth=BORN, today=TODAY)
    assert (err.value.rule, err.value.code) == ("SENS-2", "consent_required")
    assert "(SENS-2)" in str(err.value)


def test_sens_2_require_consent_returns_the_decision_when_allowed() -> None:
    inv = involvement(consent=consent())
    decision = require_consent(inv, child_date_of_birth=BORN, today=TODAY)
    assert decision.basis is ConsentBasis.CHILD_CONSENT


def test_sens_5_consent_decisions_cover_every_involvement_of_a_record() -> None:
    rec = record(
        born=BORN,
        involvements=(
            involvement(reference="GP", service=ServiceKind.GP_PRACTICE),
            involvement(reference="CAMHS", service=ServiceKind.MENTAL_HEALTH_CAMHS_TIER_2),
            involvement(reference="SH", consent=consent()),
        ),
    )
    decisions = consent_decisions(rec, today=TODAY)
    assert {ref: d.code for ref, d in decisions.items()} == {
        "GP": "consent_not_required",
        "CAMHS": "consent_required",
        "SH": "consent_given_by_child",
    }


# --- Properties -------------------------------------------------------------


@given(
    given_by=st.sampled_from(ConsentGiver),
    lacks=st.booleans(),
    named=st.booleans(),
    given_offset=st.integers(-400, 400),
    withdrawn_after=st.none() | st.integers(0, 400),
    override_offset=st.none() | st.integers(-400, 400),
    service=st.sampled_from(list(ServiceKind)),
)
def test_sens_2_3_5_decision_is_consistent(
    *,
    given_by: ConsentGiver,
    lacks: bool,
    named: bool,
    given_offset: int,
    withdrawn_after: int | None,
    override_offset: int | None,
    service: ServiceKind,
) -> None:
    given_on = TODAY + timedelta(days=given_offset)
    c = consent(
        given_by=given_by,
        given_on=given_on,
        giver_name=person("Pat", "Parent") if named else None,
        child_lacks_understanding=lacks,
        withdrawn_on=given_on + timedelta(days=withdrawn_after)
        if withdrawn_after is not None
        else None,
    )
    o = (
        override(authorised_on=TODAY + timedelta(days=override_offset))
        if override_offset is not None
        else None
    )
    if not service.is_sensitive:
        decision = decide(service=service)
        assert decision.basis is ConsentBasis.NOT_REQUIRED
        return
    decision = decide(service=service, consent=c, consent_override=o)
    assert decision.allowed == (decision.basis is not None)
    assert decision.rule in {"SENS-2", "SENS-3"}
    consent_counts = (
        given_on <= TODAY
        and (c.withdrawn_on is None or c.withdrawn_on > TODAY)
        and (
            (given_by is ConsentGiver.CHILD and not lacks)
            or (given_by is ConsentGiver.PARENT_CARER and lacks and named)
        )
    )
    override_stands = o is not None and o.authorised_on <= TODAY
    assert decision.allowed == (consent_counts or override_stands)
    if decision.basis is ConsentBasis.OVERRIDE:
        assert not consent_counts
