"""ACC-1, ACC-2: who may sign in. Every refusal asserts rule ACC-1 and its code."""

from __future__ import annotations

from datetime import date, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contactpoint_sdk.errors import PolicyRefusal
from contactpoint_sdk.policy.eligibility import (
    Credential,
    Eligibility,
    check_eligibility,
    require_eligible,
)
from contactpoint_sdk.policy.settings import DEFAULT_POLICY
from contactpoint_sdk.policy.viewer import Purpose, Role
from tests._builders import ALL_CREDENTIALS, account

TODAY = date(2025, 6, 1)
ONE_DAY = timedelta(days=1)


def assert_only(result: Eligibility, code: str) -> None:
    assert not result.allowed
    assert result.codes == (code,)
    assert all(r.rule == "ACC-1" for r in result.reasons)
    assert result.rule == "ACC-1"
    assert result.valid_until is None


def test_acc_1_fully_authorised_user_is_allowed() -> None:
    result = check_eligibility(
        account(trained_on=date(2024, 1, 10), disclosure_issued_on=date(2023, 5, 1)), TODAY
    )
    assert result.allowed
    assert result.reasons == ()
    assert result.valid_until == date(2026, 5, 1)  # the disclosure lapses first


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"nominated": False}, "not_nominated"),
        ({"trained_on": None}, "training_missing"),
        ({"trained_on": TODAY + ONE_DAY}, "training_missing"),
        ({"trained_on": date(2022, 6, 1)}, "training_lapsed"),
        ({"disclosure_issued_on": None}, "disclosure_missing"),
        ({"disclosure_issued_on": TODAY + ONE_DAY}, "disclosure_missing"),
        ({"disclosure_issued_on": date(2022, 6, 1)}, "disclosure_lapsed"),
        ({"credentials": ALL_CREDENTIALS - {Credential.PIN}}, "credential_missing"),
        ({"suspended": True}, "suspended"),
    ],
)
def test_acc_1_each_failing_condition_has_its_own_code(
    changes: dict[str, object], code: str
) -> None:
    result = check_eligibility(account(**changes), TODAY)  # type: ignore[arg-type]
    assert_only(result, code)
    with pytest.raises(PolicyRefusal) as err:
        require_eligible(account(**changes), TODAY)  # type: ignore[arg-type]
    assert (err.value.rule, err.value.code) == ("ACC-1", code)


def test_acc_2_role_outside_the_eligible_list_is_refused() -> None:
    narrowed = attrs.evolve(DEFAULT_POLICY, eligible_roles=frozenset({Role.HEAD_TEACHER}))
    assert check_eligibility(account(role=Role.HEAD_TEACHER), TODAY, narrowed).allowed
    result = check_eligibility(account(role=Role.POLICE_YOUTH_PARTICIPATION), TODAY, narrowed)
    assert_only(result, "role_not_eligible")


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_acc_2_every_listed_role_is_eligible_by_default(role: Role) -> None:
    assert check_eligibility(account(role=role), TODAY).allowed


def test_acc_1_credential_missing_names_which() -> None:
    result = check_eligibility(
        account(credentials=frozenset({Credential.USERNAME, Credential.PASSWORD})), TODAY
    )
    assert result.codes == ("credential_missing", "credential_missing")
    assert [r.credential for r in result.reasons] == [Credential.PIN, Credential.SECURITY_TOKEN]
    assert result.missing_credentials == {Credential.PIN, Credential.SECURITY_TOKEN}
    assert "security token" in result.reasons[1].message


def test_acc_1_every_failing_reason_is_reported_in_order() -> None:
    narrowed = attrs.evolve(DEFAULT_POLICY, eligible_roles=frozenset())
    bad = account(
        nominated=False,
        trained_on=None,
        disclosure_issued_on=date(2020, 1, 1),
        credentials=frozenset(),
        suspended=True,
    )
    result = check_eligibility(bad, TODAY, narrowed)
    assert result.codes == (
        "role_not_eligible",
        "not_nominated",
        "training_missing",
        "disclosure_lapsed",
        "credential_missing",
        "credential_missing",
        "credential_missing",
        "credential_missing",
        "suspended",
    )
    assert [r.credential for r in result.reasons if r.credential] == list(Credential)
    with pytest.raises(PolicyRefusal) as err:
        require_eligible(bad, TODAY, narrowed)
    assert (err.value.rule, err.value.code) == ("ACC-1", "role_not_eligible")


# Disclosure "under three years old": lapsed on its third anniversary.
@pytest.mark.parametrize(
    ("issued", "today", "allowed"),
    [
        (date(2022, 5, 10), date(2025, 5, 9), True),
        (date(2022, 5, 10), date(2025, 5, 10), False),
        (date(2022, 5, 10), date(2025, 5, 11), False),
        (date(2024, 2, 29), date(2027, 2, 28), True),
        (date(2024, 2, 29), date(2027, 3, 1), False),
        (date(2025, 5, 10), date(2025, 5, 10), True),  # issued today
    ],
)
def test_acc_1_disclosure_lapses_on_its_third_anniversary(
    issued: date, today: date, allowed: bool
) -> None:
    result = check_eligibility(account(disclosure_issued_on=issued, trained_on=today), today)
    if allowed:
        assert result.allowed
    else:
        assert_only(result, "disclosure_lapsed")
        assert "lapsed on" in result.reasons[0].message


@pytest.mark.parametrize(
    ("trained", "today", "allowed"),
    [
        (date(2022, 5, 10), date(2025, 5, 9), True),
        (date(2022, 5, 10), date(2025, 5, 10), False),
        (date(2020, 2, 29), date(2023, 2, 28), True),
        (date(2020, 2, 29), date(2023, 3, 1), False),
    ],
)
def test_acc_1_training_lapses_after_the_policy_period(
    trained: date, today: date, allowed: bool
) -> None:
    result = check_eligibility(account(trained_on=trained, disclosure_issued_on=today), today)
    if allowed:
        assert result.allowed
    else:
        assert_only(result, "training_lapsed")


def test_acc_1_training_validity_is_a_setting() -> None:
    yearly = attrs.evolve(DEFAULT_POLICY, training_validity_years=1)
    acct = account(trained_on=date(2024, 6, 1), disclosure_issued_on=date(2025, 1, 1))
    assert check_eligibility(acct, date(2025, 5, 31), yearly).allowed
    assert_only(check_eligibility(acct, date(2025, 6, 1), yearly), "training_lapsed")


def test_acc_1_require_eligible_returns_the_result_when_allowed() -> None:
    result = require_eligible(account(), TODAY)
    assert result.allowed


def test_acc_1_account_gives_its_viewer() -> None:
    viewer = account(role=Role.SENCO).viewer(Purpose.SUBJECT_ACCESS)
    assert (viewer.user_id, viewer.role, viewer.purpose) == (
        "user-1",
        Role.SENCO,
        Purpose.SUBJECT_ACCESS,
    )
    assert (viewer.organisation_key, viewer.local_authority) == ("urn:100001", "202")


@given(
    role=st.sampled_from(Role),
    nominated=st.booleans(),
    trained_days_ago=st.none() | st.integers(-30, 2000),
    disclosure_days_ago=st.none() | st.integers(-30, 2000),
    credentials=st.frozensets(st.sampled_from(Credential)),
    suspended=st.booleans(),
)
def test_acc_1_allowed_exactly_when_no_reason_and_require_agrees(
    *,
    role: Role,
    nominated: bool,
    trained_days_ago: int | None,
    disclosure_days_ago: int | None,
    credentials: frozenset[Credential],
    suspended: bool,
) -> None:
    def ago(days: int | None) -> date | None:
        return None if days is None else TODAY - timedelta(days=days)

    acct = account(
        role=role,
        nominated=nominated,
        trained_on=ago(trained_days_ago),
        disclosure_issued_on=ago(disclosure_days_ago),
        credentials=credentials,
        suspended=suspended,
    )
    result = check_eligibility(acct, TODAY)
    assert result.allowed == (not result.reasons)
    assert (Credential.PIN not in credentials) == (Credential.PIN in result.missing_credentials)
    if result.allowed:
        assert result.valid_until is not None
        assert result.valid_until > TODAY
        assert require_eligible(acct, TODAY) == result
    else:
        with pytest.raises(PolicyRefusal) as err:
            require_eligible(acct, TODAY)
        assert err.value.code == result.reasons[0].code
        assert err.value.rule == "ACC-1"
