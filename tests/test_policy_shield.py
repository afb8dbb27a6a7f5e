"""SHLD-2, SHLD-3, SHLD-4, SHLD-6: shield effect, reviews, who may request."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contactpoint_sdk.errors import PolicyRefusal
from contactpoint_sdk.models import ShieldGround
from contactpoint_sdk.policy.lifecycle import add_months
from contactpoint_sdk.policy.settings import DEFAULT_POLICY
from contactpoint_sdk.policy.shield import (
    OverdueReview,
    add_review,
    may_request_shield,
    next_review_due,
    overdue_reviews,
    request_shield,
    require_may_request_shield,
    review_overdue,
    shield_in_effect,
    shield_lifted_on,
    shield_requested_on,
)
from contactpoint_sdk.policy.viewer import Role
from tests._builders import record, review, shield

REQUESTED = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
ONE_DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)


def assert_refusal(err: pytest.ExceptionInfo[PolicyRefusal], rule: str, code: str) -> None:
    assert (err.value.rule, err.value.code) == (rule, code)


# --- SHLD-2: effect from the moment of the request -------------------------


def test_shld_2_shield_takes_effect_the_moment_it_is_requested() -> None:
    rec = record(shield=shield(requested_at=REQUESTED))
    assert not shield_in_effect(rec, REQUESTED - TICK)
    assert shield_in_effect(rec, REQUESTED)
    assert shield_in_effect(rec, REQUESTED + TICK)
    assert shield_in_effect(rec, REQUESTED + timedelta(days=3650))  # before any review


def test_shld_2_instants_in_any_zone_compare_as_instants() -> None:
    rec = record(shield=shield(requested_at=REQUESTED))
    london = REQUESTED.astimezone(ZoneInfo("Europe/London"))
    assert shield_in_effect(rec, london)
    assert not shield_in_effect(rec, london - TICK)


def test_shld_2_unshielded_record_is_never_in_effect() -> None:
    assert not shield_in_effect(record(), REQUESTED)


def test_shld_2_naive_instants_are_refused() -> None:
    rec = record(shield=shield(requested_at=REQUESTED))
    with pytest.raises(ValueError, match="aware"):
        shield_in_effect(rec, datetime(2024, 3, 2))  # a naive datetime, on purpose


def test_shld_3_a_review_that_does_not_maintain_lifts_the_shield_after_its_uk_day() -> None:
    lifted = shield(requested_at=REQUESTED, reviews=(review(date(2024, 6, 10), maintained=False),))
    rec = record(shield=lifted)
    assert shield_lifted_on(lifted) == date(2024, 6, 10)
    # 10 June is in BST: the UK day ends at 23:00 UTC.
    assert shield_in_effect(rec, datetime(2024, 6, 10, 22, 59, tzinfo=UTC))
    assert not shield_in_effect(rec, datetime(2024, 6, 10, 23, 0, tzinfo=UTC))
    assert not review_overdue(lifted, date(2030, 1, 1))


def test_shld_3_maintained_reviews_do_not_lift() -> None:
    kept = shield(reviews=(review(date(2024, 3, 5)),))
    assert shield_lifted_on(kept) is None
    assert shield_in_effect(record(shield=kept), datetime(2030, 1, 1, tzinfo=UTC))


# --- SHLD-3: review dates ---------------------------------------------------


@pytest.mark.parametrize(
    ("requested_at", "reviews", "due"),
    [
        (REQUESTED, (), date(2024, 3, 8)),
        # 23:30 UTC on 31 March 2024 (BST) is 1 April in the UK.
        (datetime(2024, 3, 31, 23, 30, tzinfo=UTC), (), date(2024, 4, 8)),
        (REQUESTED, (date(2024, 3, 5),), date(2024, 9, 5)),
        (datetime(2023, 8, 25, tzinfo=UTC), (date(2023, 8, 31),), date(2024, 2, 29)),
        (datetime(2024, 8, 25, tzinfo=UTC), (date(2024, 8, 31),), date(2025, 2, 28)),
        (REQUESTED, (date(2024, 9, 1), date(2024, 3, 5)), date(2025, 3, 1)),  # latest counts
    ],
)
def test_shld_3_first_review_within_7_days_then_every_6_months(
    requested_at: datetime, reviews: tuple[date, ...], due: date
) -> None:
    s = shield(requested_at=requested_at, reviews=tuple(review(d) for d in reviews))
    assert next_review_due(s) == due


def test_shld_3_review_overdue_the_day_after_it_is_due() -> None:
    s = shield(requested_at=REQUESTED)  # due by 8 March
    assert not review_overdue(s, date(2024, 3, 7))
    assert not review_overdue(s, date(2024, 3, 8))
    assert review_overdue(s, date(2024, 3, 9))


def test_shld_3_review_numbers_are_settings() -> None:
    faster = attrs.evolve(
        DEFAULT_POLICY, shield_first_review_days=3, shield_review_interval_months=3
    )
    assert next_review_due(shield(requested_at=REQUESTED), faster) == date(2024, 3, 4)
    reviewed = shield(requested_at=REQUESTED, reviews=(review(date(2024, 3, 4)),))
    assert next_review_due(reviewed, faster) == date(2024, 6, 4)


def test_shld_3_overdue_reviews_are_listed_most_overdue_first() -> None:
    today = date(2024, 10, 1)
    records = [
        record(n=1),  # not shielded
        record(n=2, shield=shield(requested_at=datetime(2024, 9, 20, tzinfo=UTC))),  # 27 Sep
        record(n=3, shield=shield(reviews=(review(date(2024, 3, 5)),))),  # due 5 Sep
        record(n=4, shield=shield(reviews=(review(date(2024, 4, 1)),))),  # due 1 Oct: on time
        record(n=5, shield=shield(reviews=(review(date(2024, 3, 5), maintained=False),))),
        record(n=6, shield=shield(requested_at=datetime(2024, 10, 2, tzinfo=UTC))),  # future
        record(n=7, shield=shield(requested_at=datetime(2024, 9, 24, tzinfo=UTC))),  # 1 Oct
        record(
            n=8,
            local_authority="305",
            shield=shield(requested_at=datetime(2024, 9, 20, tzinfo=UTC)),
        ),
    ]
    overdue = overdue_reviews(records, today)
    assert overdue == [
        OverdueReview(
            directory_id=records[2].directory_id,
            local_authority="202",
            due_on=date(2024, 9, 5),
            days_overdue=26,
            first_review=False,
        ),
        OverdueReview(
            directory_id=records[1].directory_id,
            local_authority="202",
            due_on=date(2024, 9, 27),
            days_overdue=4,
            first_review=True,
        ),
        OverdueReview(
            directory_id=records[7].directory_id,
            local_authority="305",
            due_on=date(2024, 9, 27),
            days_overdue=4,
            first_review=True,
        ),
    ]
    assert all(o.rule == "SHLD-3" for o in overdue)


def test_shld_3_add_review_appends_in_order() -> None:
    s = shield(requested_at=REQUESTED)
    s = add_review(s, review(date(2024, 3, 1)))  # the request's own day is fine
    s = add_review(s, review(date(2024, 9, 1)))
    assert [r.reviewed_on for r in s.reviews] == [date(2024, 3, 1), date(2024, 9, 1)]


def test_shld_3_review_before_the_request_is_refused() -> None:
    with pytest.raises(PolicyRefusal) as err:
        add_review(shield(requested_at=REQUESTED), review(date(2024, 2, 29)))
    assert_refusal(err, "SHLD-3", "review_before_request")


def test_shld_3_review_before_the_latest_review_is_refused() -> None:
    s = shield(reviews=(review(date(2024, 9, 1)),))
    with pytest.raises(PolicyRefusal) as err:
        add_review(s, review(date(2024, 8, 31)))
    assert_refusal(err, "SHLD-3", "review_out_of_order")


def test_shld_3_review_of_a_lifted_shield_is_refused() -> None:
    s = shield(reviews=(review(date(2024, 3, 5), maintained=False),))
    with pytest.raises(PolicyRefusal) as err:
        add_review(s, review(date(2024, 3, 6)))
    assert_refusal(err, "SHLD-3", "shield_lifted")


@given(
    requested=st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC)),
    gaps=st.lists(st.integers(0, 400), max_size=5),
)
def test_shld_3_next_review_is_never_more_than_6_months_after_the_last(
    requested: datetime, gaps: list[int]
) -> None:
    s = shield(requested_at=requested)
    on = shield_requested_on(s)
    for gap in gaps:
        on += timedelta(days=gap)
        s = add_review(s, review(on))
    due = next_review_due(s)
    if not gaps:
        assert due == shield_requested_on(s) + timedelta(days=7)
    else:
        assert on < due <= add_months(on, 6)
        assert (due - on).days <= 184
    assert review_overdue(s, due + ONE_DAY)
    assert not review_overdue(s, due)


# --- SHLD-4, SHLD-6: requesting a shield ------------------------------------

MAY_REQUEST = {
    Role.LA_MANAGEMENT_TEAM,
    Role.SOCIAL_CARE_PRACTITIONER,
    Role.POLICE_CHILD_ABUSE_INVESTIGATION,
    Role.HEALTH_PRACTITIONER,
    Role.HEAD_TEACHER,
    Role.DEPUTY_HEAD,
    Role.PASTORAL_TEACHER,
}


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_shld_6_only_roles_with_the_right_may_request_a_shield(role: Role) -> None:
    assert may_request_shield(role) == (role in MAY_REQUEST)
    if role in MAY_REQUEST:
        require_may_request_shield(role)
    else:
        with pytest.raises(PolicyRefusal) as err:
            require_may_request_shield(role)
        assert_refusal(err, "SHLD-6", "shield_request_not_permitted")


def test_shld_6_request_keeps_the_ground_and_takes_effect_at_once() -> None:
    s = request_shield(
        role=Role.SOCIAL_CARE_PRACTITIONER,
        ground=ShieldGround.RISK_OF_HARM_TO_ADULT,
        requested_by="user-9",
        at=REQUESTED,
    )
    assert (s.ground, s.requested_by, s.requested_at, s.reviews) == (
        ShieldGround.RISK_OF_HARM_TO_ADULT,
        "user-9",
        REQUESTED,
        (),
    )
    assert shield_in_effect(record(shield=s), REQUESTED)


def test_shld_6_request_by_a_role_without_the_right_is_refused() -> None:
    with pytest.raises(PolicyRefusal) as err:
        request_shield(
            role=Role.SCHOOL_ADMINISTRATOR,
            ground=ShieldGround.OTHER,
            requested_by="user-9",
            at=REQUESTED,
        )
    assert_refusal(err, "SHLD-6", "shield_request_not_permitted")


def test_shld_6_shield_request_roles_are_a_setting() -> None:
    wider = attrs.evolve(
        DEFAULT_POLICY, shield_request_roles=frozenset({Role.SCHOOL_ADMINISTRATOR})
    )
    assert may_request_shield(Role.SCHOOL_ADMINISTRATOR, wider)
    assert not may_request_shield(Role.HEAD_TEACHER, wider)


def test_shld_4_request_on_a_ground_outside_the_list_is_refused() -> None:
    with pytest.raises(PolicyRefusal) as err:
        request_shield(
            role=Role.LA_MANAGEMENT_TEAM,
            ground=cast(ShieldGround, "because"),
            requested_by="user-9",
            at=REQUESTED,
        )
    assert_refusal(err, "SHLD-4", "shield_ground_invalid")


def test_shld_2_request_needs_an_aware_instant() -> None:
    with pytest.raises(ValueError, match="aware"):
        request_shield(
            role=Role.LA_MANAGEMENT_TEAM,
            ground=ShieldGround.OTHER,
            requested_by="user-9",
            at=datetime(2024, 3, 1, 10, 0),  # a naive datetime, on purpose
        )
