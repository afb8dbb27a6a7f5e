"""RET-1..RET-8: archive and destruction dates, contact retention, UK dates.

Boundary tables give the day before, the day of and the day after each due
date ("due on the date"), including 29 February births and deaths.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contactpoint_sdk.clock import uk_date
from contactpoint_sdk.models import (
    ChildRecord,
    ContactRetention,
    RetentionExtensionReason,
    ServiceKind,
)
from contactpoint_sdk.policy.lifecycle import (
    ArchiveReason,
    LifecycleState,
    add_months,
    add_years,
    archive_due,
    birthday,
    contact_details_due_for_archive,
    contact_details_kept_until,
    extension_applies,
    lifecycle,
    lifecycle_at,
)
from contactpoint_sdk.policy.settings import DEFAULT_POLICY, PolicySettings, describe
from tests._builders import involvement, record

ACTIVE = LifecycleState.ACTIVE
DUE = LifecycleState.DUE_FOR_ARCHIVE
ARCHIVED = LifecycleState.ARCHIVED
DESTROY = LifecycleState.DUE_FOR_DESTRUCTION
ONE_DAY = timedelta(days=1)


def age_on(born: date, on: date) -> int:
    """Age in whole years, as the codec counts it (a 29 February child is not
    a year older on 28 February)."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


# --- The 29 February rule ---------------------------------------------------


@pytest.mark.parametrize(
    ("born", "age", "expected"),
    [
        (date(2010, 6, 15), 18, date(2028, 6, 15)),
        (date(2008, 2, 29), 18, date(2026, 3, 1)),  # common year: 1 March
        (date(2008, 2, 29), 16, date(2024, 2, 29)),  # leap year: 29 February
        (date(2004, 2, 29), 20, date(2024, 2, 29)),
        (date(2000, 2, 29), 25, date(2025, 3, 1)),
        (date(2008, 2, 28), 18, date(2026, 2, 28)),
        (date(2008, 3, 1), 18, date(2026, 3, 1)),
        (date(2010, 6, 15), 0, date(2010, 6, 15)),
    ],
)
def test_ret_1_birthday_29_february_falls_on_1_march_in_common_years(
    born: date, age: int, expected: date
) -> None:
    assert birthday(born, age) == expected


def test_ret_1_birthday_refuses_negative_age() -> None:
    with pytest.raises(ValueError, match="negative"):
        birthday(date(2010, 1, 1), -1)


def test_ret_1_add_years_goes_backwards_with_the_same_rule() -> None:
    assert add_years(date(2024, 2, 29), -1) == date(2023, 3, 1)
    assert add_years(date(2024, 2, 29), -4) == date(2020, 2, 29)


@given(born=st.dates(date(1990, 1, 1), date(2030, 12, 31)), age=st.integers(1, 30))
def test_ret_1_birthday_agrees_with_the_codecs_age(born: date, age: int) -> None:
    day = birthday(born, age)
    assert age_on(born, day) == age
    assert age_on(born, day - ONE_DAY) == age - 1


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2023, 8, 31), 6, date(2024, 2, 29)),  # leap year: clamp to the 29th
        (date(2024, 8, 31), 6, date(2025, 2, 28)),
        (date(2024, 1, 15), 6, date(2024, 7, 15)),
        (date(2024, 12, 31), 1, date(2025, 1, 31)),
        (date(2024, 10, 31), 1, date(2024, 11, 30)),
        (date(2024, 3, 31), -1, date(2024, 2, 29)),
        (date(2024, 5, 20), 0, date(2024, 5, 20)),
        (date(2024, 7, 1), 18, date(2026, 1, 1)),
    ],
)
def test_shld_3_add_months_clamps_to_month_end(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


@given(start=st.dates(date(1990, 1, 1), date(2090, 12, 31)), months=st.integers(-60, 60))
def test_shld_3_add_months_never_overshoots_the_month(start: date, months: int) -> None:
    result = add_months(start, months)
    assert (result.year * 12 + result.month) - (start.year * 12 + start.month) == months
    assert result.day <= start.day
    if start.day <= 28:
        assert result.day == start.day


# --- UK dates (RET-8) -------------------------------------------------------


def test_ret_8_uk_date_2330_utc_on_31_march_bst_is_1_april() -> None:
    # British Summer Time began on 30 March 2025.
    assert uk_date(datetime(2025, 3, 31, 23, 30, tzinfo=UTC)) == date(2025, 4, 1)


def test_ret_8_uk_date_in_winter_is_the_utc_date() -> None:
    assert uk_date(datetime(2025, 1, 31, 23, 30, tzinfo=UTC)) == date(2025, 1, 31)


def test_ret_8_uk_date_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="aware"):
        uk_date(datetime(2025, 3, 31, 23, 30))  # a naive datetime, on purpose


def test_ret_8_lifecycle_at_judges_on_the_uk_date() -> None:
    rec = record(born=date(2007, 4, 1))  # 18 on 1 April 2025
    late_on_31_march_utc = datetime(2025, 3, 31, 23, 30, tzinfo=UTC)
    assert lifecycle_at(rec, late_on_31_march_utc).state is DUE
    assert lifecycle_at(rec, late_on_31_march_utc - timedelta(hours=1)).state is ACTIVE


# --- Archive (RET-1..RET-4) -------------------------------------------------

# (case, record kwargs, archive due on, reason)
ARCHIVE_CASES = [
    ("18th birthday", {"born": date(2010, 6, 15)}, date(2028, 6, 15), "EIGHTEENTH_BIRTHDAY"),
    (
        "18th birthday, born 29 Feb",
        {"born": date(2008, 2, 29)},
        date(2026, 3, 1),
        "EIGHTEENTH_BIRTHDAY",
    ),
    (
        "Connexions to 20th, born 29 Feb, leap 20th",
        {
            "born": date(2004, 2, 29),
            "extension": RetentionExtensionReason.CONNEXIONS,
            "extension_consented_on": date(2021, 9, 1),
        },
        date(2024, 2, 29),
        "EXTENSION_ENDED",
    ),
    (
        "Connexions to 20th",
        {
            "born": date(2006, 6, 15),
            "extension": RetentionExtensionReason.CONNEXIONS,
        },
        date(2026, 6, 15),
        "EXTENSION_ENDED",
    ),
    (
        "leaving care to 25th, born 29 Feb",
        {
            "born": date(2000, 2, 29),
            "extension": RetentionExtensionReason.LEAVING_CARE,
            "extension_consented_on": date(2017, 6, 1),
        },
        date(2025, 3, 1),
        "EXTENSION_ENDED",
    ),
    (
        "learning difficulty to 25th",
        {
            "born": date(2001, 6, 15),
            "extension": RetentionExtensionReason.LEARNING_DIFFICULTY,
        },
        date(2026, 6, 15),
        "EXTENSION_ENDED",
    ),
    (
        "other services to 25th",
        {"born": date(2001, 6, 15), "extension": RetentionExtensionReason.OTHER_SERVICES},
        date(2026, 6, 15),
        "EXTENSION_ENDED",
    ),
    (
        "death",
        {"born": date(2010, 6, 15), "died_on": date(2023, 5, 10)},
        date(2024, 5, 10),
        "ONE_YEAR_AFTER_DEATH",
    ),
    (
        "death on 29 Feb",
        {"born": date(2010, 6, 15), "died_on": date(2024, 2, 29)},
        date(2025, 3, 1),
        "ONE_YEAR_AFTER_DEATH",
    ),
    (
        "death before 18, anniversary after the 18th birthday",
        {"born": date(2010, 6, 15), "died_on": date(2028, 1, 1)},
        date(2029, 1, 1),
        "ONE_YEAR_AFTER_DEATH",
    ),
    (
        "death while extended",
        {
            "born": date(2006, 6, 15),
            "extension": RetentionExtensionReason.CONNEXIONS,
            "died_on": date(2025, 1, 20),
        },
        date(2026, 1, 20),
        "ONE_YEAR_AFTER_DEATH",
    ),
    (
        "death within a year of the 25th birthday: never past the 25th",
        {
            "born": date(2000, 6, 15),
            "extension": RetentionExtensionReason.LEAVING_CARE,
            "died_on": date(2025, 1, 1),
        },
        date(2025, 6, 15),
        "EXTENSION_ENDED",
    ),
    (
        "left England",
        {"born": date(2010, 6, 15), "left_england_on": date(2020, 9, 1)},
        date(2020, 9, 1),
        "LEFT_ENGLAND",
    ),
    (
        "left England on 29 Feb",
        {"born": date(2010, 6, 15), "left_england_on": date(2024, 2, 29)},
        date(2024, 2, 29),
        "LEFT_ENGLAND",
    ),
    (
        "left England determined after the 18th birthday",
        {"born": date(2010, 6, 15), "left_england_on": date(2028, 9, 1)},
        date(2028, 6, 15),
        "EIGHTEENTH_BIRTHDAY",
    ),
    (
        "died, then left England earlier than the anniversary",
        {
            "born": date(2010, 6, 15),
            "died_on": date(2020, 1, 1),
            "left_england_on": date(2020, 3, 1),
        },
        date(2020, 3, 1),
        "LEFT_ENGLAND",
    ),
    (
        "same-day tie: death reported before left England",
        {
            "born": date(2010, 6, 15),
            "died_on": date(2020, 1, 1),
            "left_england_on": date(2021, 1, 1),
        },
        date(2021, 1, 1),
        "ONE_YEAR_AFTER_DEATH",
    ),
]


@pytest.mark.parametrize(
    ("case", "kwargs", "due_on", "reason"), ARCHIVE_CASES, ids=[c[0] for c in ARCHIVE_CASES]
)
def test_ret_1_to_4_archive_due_on_the_date_not_the_day_before(
    case: str, kwargs: dict[str, object], due_on: date, reason: str
) -> None:
    rec = record(**kwargs)  # type: ignore[arg-type]
    expected_reason = ArchiveReason[reason]
    for today, state in [(due_on - ONE_DAY, ACTIVE), (due_on, DUE), (due_on + ONE_DAY, DUE)]:
        status = lifecycle(rec, today)
        assert status.state is state, (case, today)
        assert status.archive_due_on == due_on, (case, today)
        assert status.archive_reason is expected_reason, (case, today)
        assert status.rule == expected_reason.rule
        assert status.destroy_due_on is None
        assert status.archived_on is None
        assert status.is_live


def test_ret_1_archive_due_on_18th_birthday() -> None:
    rec = record(born=date(2010, 6, 15))
    assert lifecycle(rec, date(2028, 6, 14)).state is ACTIVE
    status = lifecycle(rec, date(2028, 6, 15))
    assert status.state is DUE
    assert status.archive_reason is ArchiveReason.EIGHTEENTH_BIRTHDAY
    assert status.rule == "RET-1"


def test_ret_1_born_29_february_is_archived_on_1_march_not_28_february() -> None:
    rec = record(born=date(2008, 2, 29))
    assert lifecycle(rec, date(2026, 2, 28)).state is ACTIVE
    assert lifecycle(rec, date(2026, 3, 1)).state is DUE


def test_ret_2_connexions_extension_keeps_record_to_20th_birthday() -> None:
    rec = record(born=date(2006, 6, 15), extension=RetentionExtensionReason.CONNEXIONS)
    assert lifecycle(rec, date(2024, 6, 15)).state is ACTIVE  # 18th birthday: stays
    assert lifecycle(rec, date(2026, 6, 14)).state is ACTIVE
    status = lifecycle(rec, date(2026, 6, 15))
    assert status.state is DUE
    assert status.archive_reason is ArchiveReason.EXTENSION_ENDED
    assert status.rule == "RET-2"


def test_ret_2_extension_consented_on_the_18th_birthday_counts() -> None:
    rec = record(
        born=date(2006, 6, 15),
        extension=RetentionExtensionReason.CONNEXIONS,
        extension_consented_on=date(2024, 6, 15),
    )
    assert lifecycle(rec, date(2024, 6, 15)).state is ACTIVE
    assert extension_applies(rec, date(2024, 6, 15)) is rec.retention_extension


def test_ret_2_extension_consented_after_the_18th_birthday_does_not_count() -> None:
    rec = record(
        born=date(2006, 6, 15),
        extension=RetentionExtensionReason.LEAVING_CARE,
        extension_consented_on=date(2024, 6, 16),
    )
    status = lifecycle(rec, date(2024, 6, 20))
    assert status.state is DUE
    assert status.archive_due_on == date(2024, 6, 15)
    assert status.archive_reason is ArchiveReason.EIGHTEENTH_BIRTHDAY
    assert extension_applies(rec, date(2024, 6, 20)) is None


def test_ret_2_extension_consent_dated_after_today_does_not_count_yet() -> None:
    rec = record(
        born=date(2006, 6, 15),
        extension=RetentionExtensionReason.CONNEXIONS,
        extension_consented_on=date(2024, 1, 1),
    )
    assert archive_due(rec, date(2023, 12, 31)) == (
        date(2024, 6, 15),
        ArchiveReason.EIGHTEENTH_BIRTHDAY,
    )
    assert archive_due(rec, date(2024, 1, 1)) == (date(2026, 6, 15), ArchiveReason.EXTENSION_ENDED)


def test_ret_3_death_on_the_18th_birthday_changes_nothing() -> None:
    rec = record(born=date(2010, 6, 15), died_on=date(2028, 6, 15))
    assert archive_due(rec, date(2028, 6, 15)) == (
        date(2028, 6, 15),
        ArchiveReason.EIGHTEENTH_BIRTHDAY,
    )


def test_ret_3_death_after_archive_date_changes_nothing() -> None:
    rec = record(born=date(2010, 6, 15), died_on=date(2028, 7, 1))
    status = lifecycle(rec, date(2028, 7, 2))
    assert status.archive_due_on == date(2028, 6, 15)
    assert status.archive_reason is ArchiveReason.EIGHTEENTH_BIRTHDAY


def test_ret_3_archived_on_first_anniversary_of_death() -> None:
    rec = record(born=date(2010, 6, 15), died_on=date(2023, 5, 10))
    assert lifecycle(rec, date(2024, 5, 9)).state is ACTIVE
    status = lifecycle(rec, date(2024, 5, 10))
    assert status.state is DUE
    assert status.rule == "RET-3"


def test_ret_4_left_england_archived_on_the_day_determined() -> None:
    rec = record(born=date(2010, 6, 15), left_england_on=date(2020, 9, 1))
    status = lifecycle(rec, date(2020, 9, 1))
    assert status.state is DUE
    assert status.archive_reason is ArchiveReason.LEFT_ENGLAND
    assert status.rule == "RET-4"


# --- Destruction (RET-5) ----------------------------------------------------


@pytest.mark.parametrize(
    ("archived_on", "destroy_on"),
    [
        (date(2028, 6, 15), date(2034, 6, 15)),
        (date(2024, 2, 29), date(2030, 3, 1)),  # 29 Feb archive, common-year destroy
        (date(2022, 3, 1), date(2028, 3, 1)),
        (date(2026, 2, 28), date(2032, 2, 28)),
    ],
)
def test_ret_5_destroyed_six_years_after_archive_on_the_date(
    archived_on: date, destroy_on: date
) -> None:
    rec = record(born=date(2005, 1, 1))
    for today, state in [
        (archived_on, ARCHIVED),
        (destroy_on - ONE_DAY, ARCHIVED),
        (destroy_on, DESTROY),
        (destroy_on + ONE_DAY, DESTROY),
    ]:
        status = lifecycle(rec, today, archived_on=archived_on)
        assert status.state is state, today
        assert status.destroy_due_on == destroy_on
        assert status.archived_on == archived_on
        assert status.rule == "RET-5"
        assert not status.is_live


def test_ret_5_destruction_counts_from_the_actual_archive_day() -> None:
    rec = record(born=date(2010, 6, 15))  # due 15 June 2028, archive job ran late
    status = lifecycle(rec, date(2028, 7, 1), archived_on=date(2028, 6, 20))
    assert status.archive_due_on == date(2028, 6, 15)
    assert status.destroy_due_on == date(2034, 6, 20)


def test_ret_5_archived_on_after_today_is_a_callers_mistake() -> None:
    with pytest.raises(ValueError, match="after today"):
        lifecycle(record(), date(2028, 1, 1), archived_on=date(2028, 1, 2))


# --- Properties -------------------------------------------------------------

extension_reasons = st.none() | st.sampled_from(RetentionExtensionReason)


@st.composite
def plain_records(draw: st.DrawFn) -> tuple[ChildRecord, date]:
    """Records with no death and no departure, and a day to judge them on."""
    born = draw(st.dates(date(2000, 1, 1), date(2024, 12, 31)))
    ext = draw(extension_reasons)
    consented = draw(st.dates(born, birthday(born, 18))) if ext is not None else None
    today = draw(st.dates(born, date(2060, 12, 31)))
    return record(born=born, extension=ext, extension_consented_on=consented), today


@given(plain_records())
def test_ret_1_archive_is_never_before_the_18th_birthday_without_death_or_leaving(
    drawn: tuple[ChildRecord, date],
) -> None:
    rec, today = drawn
    due_on = lifecycle(rec, today).archive_due_on
    assert birthday(rec.date_of_birth, 18) <= due_on <= birthday(rec.date_of_birth, 25)


@given(
    born=st.dates(date(2000, 1, 1), date(2024, 12, 31)),
    died_after_days=st.none() | st.integers(0, 30 * 366),
    left_after_days=st.none() | st.integers(0, 30 * 366),
    ext=extension_reasons,
    today_after_days=st.integers(0, 40 * 366),
)
def test_ret_1_to_4_archive_date_bounds_and_state(
    born: date,
    died_after_days: int | None,
    left_after_days: int | None,
    ext: RetentionExtensionReason | None,
    today_after_days: int,
) -> None:
    died = born + timedelta(days=died_after_days) if died_after_days is not None else None
    left = born + timedelta(days=left_after_days) if left_after_days is not None else None
    rec = record(
        born=born,
        died_on=died,
        left_england_on=left,
        extension=ext,
        extension_consented_on=born + timedelta(days=17 * 365) if ext else None,
    )
    today = born + timedelta(days=today_after_days)
    status = lifecycle(rec, today)
    # Never live past the 25th birthday; never past 18th unless extended or dying young.
    assert status.archive_due_on <= birthday(born, 25)
    if died is not None:
        assert status.archive_due_on <= max(add_years(died, 1), birthday(born, 18))
    if left is not None:
        assert status.archive_due_on <= left
    assert (status.state is DUE) == (today >= status.archive_due_on)


@given(
    born=st.dates(date(2000, 1, 1), date(2024, 12, 31)),
    archive_after_days=st.integers(0, 30 * 366),
    later_days=st.integers(0, 10 * 366),
)
def test_ret_5_destroy_is_exactly_six_years_after_archive(
    born: date, archive_after_days: int, later_days: int
) -> None:
    archived_on = born + timedelta(days=archive_after_days)
    today = archived_on + timedelta(days=later_days)
    status = lifecycle(record(born=born), today, archived_on=archived_on)
    assert status.destroy_due_on == add_years(archived_on, 6)
    assert status.destroy_due_on is not None
    assert age_on(archived_on, status.destroy_due_on) == 6
    assert age_on(archived_on, status.destroy_due_on - ONE_DAY) == 5
    assert (status.state is DESTROY) == (today >= status.destroy_due_on)


@given(born=st.dates(date(2000, 1, 1), date(2024, 12, 31)), step=st.integers(1, 400))
def test_ret_8_state_never_goes_back_as_time_moves_on(born: date, step: int) -> None:
    rec = record(born=born)
    order = [ACTIVE, DUE]
    states = [lifecycle(rec, born + timedelta(days=d)).state for d in range(0, 30 * 366, step)]
    ranks = [order.index(s) for s in states]
    assert ranks == sorted(ranks)


# --- Involvement contact details (RET-7) ------------------------------------


def test_ret_7_contact_details_kept_while_involvement_continues() -> None:
    inv = involvement(service=ServiceKind.SOCIAL_CARE)
    assert contact_details_kept_until(inv) is None
    assert not contact_details_due_for_archive(inv, date(2090, 1, 1))


@pytest.mark.parametrize(
    ("service", "retention", "ended_on", "kept_until"),
    [
        (ServiceKind.GP_PRACTICE, ContactRetention.STANDARD, date(2024, 5, 10), date(2025, 5, 10)),
        (ServiceKind.SOCIAL_CARE, ContactRetention.STANDARD, date(2024, 5, 10), date(2025, 5, 10)),
        (ServiceKind.SOCIAL_CARE, ContactRetention.EXTENDED, date(2024, 5, 10), date(2029, 5, 10)),
        (
            ServiceKind.MENTAL_HEALTH_CAMHS_TIER_3,
            ContactRetention.EXTENDED,
            date(2024, 2, 29),
            date(2029, 3, 1),
        ),
        (
            ServiceKind.YOUTH_OFFENDING_TEAM,
            ContactRetention.STANDARD,
            date(2024, 2, 29),
            date(2025, 3, 1),
        ),
        (ServiceKind.CONNEXIONS, ContactRetention.EXTENDED, date(2023, 2, 28), date(2028, 2, 28)),
    ],
)
def test_ret_7_contact_details_archived_one_year_after_end_or_five_if_extended(
    service: ServiceKind, retention: ContactRetention, ended_on: date, kept_until: date
) -> None:
    inv = involvement(
        service=service,
        started_on=date(2023, 1, 1),
        ended_on=ended_on,
        contact_retention=retention,
    )
    assert contact_details_kept_until(inv) == kept_until
    assert not contact_details_due_for_archive(inv, kept_until - ONE_DAY)
    assert contact_details_due_for_archive(inv, kept_until)
    assert contact_details_due_for_archive(inv, kept_until + ONE_DAY)


def test_ret_7_extended_retention_follows_settings() -> None:
    inv = involvement(
        service=ServiceKind.SOCIAL_CARE,
        started_on=date(2023, 1, 1),
        ended_on=date(2024, 5, 10),
        contact_retention=ContactRetention.EXTENDED,
    )
    shorter = attrs.evolve(DEFAULT_POLICY, involvement_contact_extended_years=3)
    assert contact_details_kept_until(inv, settings=shorter) == date(2027, 5, 10)


# --- Settings ---------------------------------------------------------------


def test_ret_settings_defaults_match_the_rules() -> None:
    s = DEFAULT_POLICY
    assert (s.adult_age_years, s.connexions_archive_age_years, s.extended_archive_age_years) == (
        18,
        20,
        25,
    )
    assert (s.death_retention_years, s.archive_keep_years) == (1, 6)
    assert (s.involvement_contact_retention_years, s.involvement_contact_extended_years) == (1, 5)
    assert s.left_england_absence_years == 3
    assert s.archive_age_for(RetentionExtensionReason.CONNEXIONS) == 20
    assert s.archive_age_for(RetentionExtensionReason.LEARNING_DIFFICULTY) == 25


def test_ret_settings_describe_marks_policy_choices() -> None:
    rows = {row.name: row for row in describe()}
    assert rows["training_validity_years"].policy
    assert rows["training_validity_years"].rule == "ACC-1"
    assert not rows["disclosure_validity_years"].policy
    assert rows["archive_keep_years"].value == 6
    assert rows["shield_request_roles"].policy
    assert isinstance(rows["shield_request_roles"].value, tuple)
    assert all(row.rule for row in rows.values())


@pytest.mark.parametrize(
    "changes",
    [
        {"archive_keep_years": -1},
        {"adult_age_years": 0},
        {"training_validity_years": True},
        {"connexions_archive_age_years": 17},
        {"extended_archive_age_years": 26},
        {"involvement_contact_extended_years": 0},
        {"eligible_roles": frozenset({"head_teacher"})},
    ],
)
def test_ret_settings_refuse_impossible_values(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message names the field
        PolicySettings(**changes)  # type: ignore[arg-type]


def test_ret_settings_other_numbers_change_the_dates() -> None:
    shorter = attrs.evolve(DEFAULT_POLICY, archive_keep_years=2, death_retention_years=2)
    rec = record(born=date(2010, 6, 15), died_on=date(2020, 1, 1))
    status = lifecycle(rec, date(2023, 1, 1), archived_on=date(2022, 1, 1), settings=shorter)
    assert status.archive_due_on == date(2022, 1, 1)
    assert status.destroy_due_on == date(2024, 1, 1)
