"""ACC-4: enough detail, few results, a rate limit, and alerts for unusual patterns.

Trawling scripts (surnames, dates of birth, postcodes, identifiers) run
against a :class:`TrawlingGuard` over a small in-memory directory and must be
stopped within the documented number of requests, with the right alert; a
normal user's day must raise none.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from contactpoint_sdk.clock import MovableClock
from contactpoint_sdk.errors import (
    PolicyRefusal,
    RefineSearch,
    SearchBlocked,
    SearchRateLimited,
    SearchTooBroad,
)
from contactpoint_sdk.models import (
    Address,
    ChildRecord,
    DirectoryId,
    Gender,
    NhsNumber,
    PersonName,
    Postcode,
    Uln,
    Upn,
)
from contactpoint_sdk.models.identifiers import nhs_check_digit
from contactpoint_sdk.policy.reasons import ReasonCode, require_reason
from contactpoint_sdk.policy.settings import DEFAULT_POLICY, PolicySettings, describe
from contactpoint_sdk.policy.trawling import (
    MAX_SWEEP_BUCKETS,
    AccessAction,
    AccessEvent,
    AlertPattern,
    AnyCandidate,
    CriteriaFingerprint,
    RateLimiter,
    SearchBasis,
    SearchCandidate,
    SearchCriteria,
    SearchOutcome,
    ShieldedSearchCandidate,
    SweepKind,
    TrawlingAlert,
    TrawlingGuard,
    TrawlingMonitor,
    check_search_criteria,
    fingerprint,
    fold_name,
    limit_results,
)
from contactpoint_sdk.policy.viewer import Role, Viewer
from tests._builders import record, shield

START = datetime(2025, 6, 2, 8, 30, tzinfo=UTC)
KEY = b"k" * 32
TEACHER = Viewer(
    user_id="u-teacher",
    role=Role.PASTORAL_TEACHER,
    organisation_key="urn:100001",
    local_authority="202",
)
MANAGER = Viewer(
    user_id="u-la", role=Role.LA_MANAGEMENT_TEAM, organisation_key="la:202", local_authority="202"
)


def child(
    n: int,
    *,
    given: str = "Sam",
    family: str = "Taylor",
    born: date = date(2015, 3, 4),
    postcode: str | None = "LS1 4AP",
    shielded: bool = False,
    local_authority: str = "202",
) -> ChildRecord:
    base = record(
        n=n, born=born, local_authority=local_authority, shield=shield() if shielded else None
    )
    return attrs.evolve(
        base,
        name=PersonName(given_name=given, family_name=family, former_family_names=("Former",)),
        gender=Gender.FEMALE,
        address=Address(
            lines=("1 High Street",),
            town="Leeds",
            postcode=Postcode(postcode) if postcode else None,
        ),
    )


class Directory:
    """A tiny store: matches criteria field by field, as the real query would."""

    def __init__(self, records: Sequence[ChildRecord] = ()) -> None:
        self.records = list(records)
        self.limits: list[int] = []

    def __call__(self, criteria: SearchCriteria, limit: int) -> list[ChildRecord]:
        self.limits.append(limit)
        found = []
        for r in self.records:
            if criteria.directory_id is not None and r.directory_id != criteria.directory_id:
                continue
            if criteria.nhs_number is not None and r.identifiers.nhs_number != criteria.nhs_number:
                continue
            if criteria.family_name and fold_name(criteria.family_name) != fold_name(
                r.name.family_name
            ):
                continue
            if criteria.given_name and fold_name(criteria.given_name) != fold_name(
                r.name.given_name
            ):
                continue
            if criteria.date_of_birth and criteria.date_of_birth != r.date_of_birth:
                continue
            if criteria.year_of_birth and criteria.year_of_birth != r.date_of_birth.year:
                continue
            if criteria.postcode and criteria.postcode != r.address.postcode:
                continue
            found.append(r)
        return found[:limit]


class Harness:
    def __init__(
        self, settings: PolicySettings = DEFAULT_POLICY, records: Sequence[ChildRecord] = ()
    ) -> None:
        self.clock = MovableClock(START)
        self.alerts: list[TrawlingAlert] = []
        self.guard = TrawlingGuard(settings, clock=self.clock, key=KEY, on_alert=self.alerts.append)
        self.directory = Directory(records)

    def search(self, viewer: Viewer = TEACHER, **criteria: Any) -> tuple[AnyCandidate, ...]:
        return self.guard.search(
            SearchCriteria(**criteria),
            self.directory,
            user_id=viewer.user_id,
            viewer=viewer,
        )

    def open(self, directory_id: str, *, reason: ReasonCode, la: str = "202") -> None:
        self.guard.opened(
            user_id=TEACHER.user_id,
            viewer=TEACHER,
            directory_id=directory_id,
            record_local_authority=la,
            reason=require_reason(reason),
        )

    def run_script(
        self, searches: Sequence[Mapping[str, Any]], *, every: timedelta
    ) -> tuple[int, PolicyRefusal]:
        """Run searches until one is refused: (how many ran, the refusal)."""
        for done, criteria in enumerate(searches):
            try:
                self.search(**criteria)
            except (SearchBlocked, SearchRateLimited) as stop:
                return done, stop
            self.clock.advance(every)
        raise AssertionError("the script was never stopped")


# --- 1. enough identifying detail: the rule table ------------------------------------------------

DOB = date(2015, 3, 4)
BASIS_TABLE: list[tuple[str, dict[str, object], SearchBasis | None]] = [
    ("directory id", {"directory_id": DirectoryId.from_int(5)}, SearchBasis.IDENTIFIER),
    ("NHS number", {"nhs_number": NhsNumber("9434765919")}, SearchBasis.IDENTIFIER),
    ("UPN", {"upn": Upn("B801200005001")}, SearchBasis.IDENTIFIER),
    ("ULN", {"uln": Uln("1234567899")}, SearchBasis.IDENTIFIER),
    (
        "surname + dob",
        {"family_name": "Taylor", "date_of_birth": DOB},
        SearchBasis.NAME_AND_DATE_OF_BIRTH,
    ),
    (
        "full name + postcode",
        {"family_name": "Taylor", "given_name": "Sam", "postcode": Postcode("LS1 4AP")},
        SearchBasis.FULL_NAME_AND_POSTCODE,
    ),
    (
        "full name + year",
        {"family_name": "Taylor", "given_name": "Sam", "year_of_birth": 2015},
        SearchBasis.FULL_NAME_AND_YEAR_OF_BIRTH,
    ),
    (
        "two-letter surname + dob",
        {"family_name": "Ng", "date_of_birth": DOB},
        SearchBasis.NAME_AND_DATE_OF_BIRTH,
    ),
    ("nothing", {}, None),
    ("surname only", {"family_name": "Taylor"}, None),
    ("full name only", {"family_name": "Taylor", "given_name": "Sam"}, None),
    ("surname + postcode", {"family_name": "Taylor", "postcode": Postcode("LS1 4AP")}, None),
    ("surname + year", {"family_name": "Taylor", "year_of_birth": 2015}, None),
    ("given name + dob", {"given_name": "Sam", "date_of_birth": DOB}, None),
    ("dob + postcode", {"date_of_birth": DOB, "postcode": Postcode("LS1 4AP")}, None),
    ("initial surname + dob", {"family_name": "T", "date_of_birth": DOB}, None),
    ("punctuation surname + dob", {"family_name": "O'", "date_of_birth": DOB}, None),
    (
        "initial given name + postcode",
        {"family_name": "Taylor", "given_name": "S", "postcode": Postcode("LS1 4AP")},
        None,
    ),
    ("impossible year", {"family_name": "Taylor", "given_name": "Sam", "year_of_birth": 15}, None),
    ("wildcard", {"family_name": "Tay*", "date_of_birth": DOB}, None),
    ("SQL wildcard", {"family_name": "Tay%", "date_of_birth": DOB}, None),
    ("gender + surname", {"family_name": "Taylor", "gender": Gender.MALE}, None),
]


@pytest.mark.parametrize(("case", "fields", "basis"), BASIS_TABLE, ids=[c[0] for c in BASIS_TABLE])
def test_acc_4_search_criteria_rule_table(
    case: str, fields: dict[str, object], basis: SearchBasis | None
) -> None:
    criteria = SearchCriteria(**fields)  # type: ignore[arg-type]
    if basis is not None:
        assert check_search_criteria(criteria) is basis, case
        return
    with pytest.raises(SearchTooBroad) as caught:
        check_search_criteria(criteria)
    assert (caught.value.code, caught.value.rule) == ("search_too_broad", "ACC-4")


def test_acc_4_minimum_name_length_is_a_setting() -> None:
    criteria = SearchCriteria(family_name="Ng", date_of_birth=DOB)
    with pytest.raises(SearchTooBroad):
        check_search_criteria(criteria, attrs.evolve(DEFAULT_POLICY, search_min_name_length=3))


# --- 2. few results, each told apart by little ---------------------------------------------------


def test_acc_4_at_most_five_candidates() -> None:
    records = [child(n) for n in range(1, 6)]
    shown = limit_results(records, viewer=TEACHER, now=START)
    assert [c.directory_id for c in shown] == [r.directory_id for r in records]


def test_acc_4_more_than_five_matches_return_nothing() -> None:
    h = Harness(records=[child(n) for n in range(1, 8)])
    with pytest.raises(RefineSearch) as caught:
        h.search(family_name="Taylor", date_of_birth=DOB)
    assert (caught.value.code, caught.value.rule, caught.value.limit) == (
        "refine_search",
        "ACC-4",
        5,
    )
    assert not {"6", "7"} & set(str(caught.value))  # the count is not told
    assert h.directory.limits == [6]  # the store is asked for one more than is shown


def test_acc_4_result_cap_is_a_setting() -> None:
    records = [child(n) for n in range(1, 4)]
    with pytest.raises(RefineSearch):
        limit_results(
            records, attrs.evolve(DEFAULT_POLICY, search_max_results=2), viewer=TEACHER, now=START
        )


def test_acc_4_a_candidate_shows_only_what_tells_children_apart() -> None:
    (shown,) = limit_results([child(1)], viewer=TEACHER, now=START)
    assert isinstance(shown, SearchCandidate)
    assert {a.name for a in attrs.fields(SearchCandidate)} == {
        "directory_id",
        "given_name",
        "family_name",
        "date_of_birth",
        "gender",
        "postcode_district",
    }
    assert (shown.given_name, shown.family_name, shown.postcode_district) == (
        "Sam",
        "Taylor",
        "LS1",
    )
    assert "4AP" not in repr(shown)
    assert "High Street" not in repr(shown)
    assert "Former" not in repr(shown)
    (no_postcode,) = limit_results([child(2, postcode=None)], viewer=TEACHER, now=START)
    assert isinstance(no_postcode, SearchCandidate)
    assert no_postcode.postcode_district is None


def test_shld_1_a_shielded_candidate_shows_only_name_dob_and_id() -> None:
    (shown,) = limit_results([child(1, shielded=True)], viewer=TEACHER, now=START)
    assert isinstance(shown, ShieldedSearchCandidate)
    assert {a.name for a in attrs.fields(ShieldedSearchCandidate)} == {
        "directory_id",
        "given_name",
        "family_name",
        "date_of_birth",
    }
    assert "LS1" not in repr(shown)
    assert "FEMALE" not in repr(shown)


def test_shld_1_the_childs_own_management_team_sees_a_full_candidate() -> None:
    (shown,) = limit_results([child(1, shielded=True)], viewer=MANAGER, now=START)
    assert isinstance(shown, SearchCandidate)


def test_shld_1_a_postcode_search_never_confirms_where_a_shielded_child_lives() -> None:
    h = Harness(records=[child(1, shielded=True), child(2, given="Sam")])
    by_postcode: dict[str, Any] = {
        "family_name": "Taylor",
        "given_name": "Sam",
        "postcode": Postcode("LS1 4AP"),
    }
    shown = h.search(**by_postcode)
    assert [c.directory_id for c in shown] == [DirectoryId.from_int(2)]
    assert len(h.search(MANAGER, **by_postcode)) == 2
    # without a postcode the shielded child is found, as a shielded candidate
    by_dob = h.search(family_name="Taylor", date_of_birth=DOB)
    assert {type(c) for c in by_dob} == {SearchCandidate, ShieldedSearchCandidate}


def test_shld_1_children_left_out_do_not_hide_that_there_are_too_many() -> None:
    by_postcode: dict[str, Any] = {
        "family_name": "Taylor",
        "given_name": "Sam",
        "postcode": Postcode("LS1 4AP"),
    }
    shielded_first = [child(1, shielded=True), child(2, shielded=True)]
    five = Harness(records=[*shielded_first, *(child(n) for n in range(3, 8))])
    assert len(five.search(**by_postcode)) == 5
    six = Harness(records=[*shielded_first, *(child(n) for n in range(3, 9))])
    with pytest.raises(RefineSearch):
        six.search(**by_postcode)
    assert six.directory.limits == [6, 8]


# --- 3. rate limit -------------------------------------------------------------------------------


def test_acc_4_rate_limit_per_minute() -> None:
    clock = MovableClock(START)
    limiter = RateLimiter(clock=clock)
    for _ in range(10):
        limiter.acquire("u-1")
    with pytest.raises(SearchRateLimited) as caught:
        limiter.acquire("u-1")
    assert (caught.value.code, caught.value.rule, caught.value.window) == (
        "rate_limited",
        "ACC-4",
        "minute",
    )
    assert caught.value.retry_after == 60
    limiter.acquire("u-2")  # per user
    clock.advance(timedelta(seconds=59))
    with pytest.raises(SearchRateLimited) as again:
        limiter.acquire("u-1")
    assert again.value.retry_after == 1
    clock.advance(timedelta(seconds=1))
    limiter.acquire("u-1")


def test_acc_4_rate_limit_per_day() -> None:
    clock = MovableClock(START)
    limiter = RateLimiter(attrs.evolve(DEFAULT_POLICY, search_rate_per_day=25), clock=clock)
    for _ in range(25):
        limiter.acquire("u-1")
        clock.advance(timedelta(minutes=10))
    with pytest.raises(SearchRateLimited) as caught:
        limiter.acquire("u-1")
    assert caught.value.window == "day"
    assert caught.value.retry_after == (timedelta(days=1) - timedelta(minutes=250)).total_seconds()
    clock.advance(timedelta(seconds=caught.value.retry_after))
    limiter.acquire("u-1")


def test_acc_4_refused_searches_do_not_count_and_idle_users_are_forgotten() -> None:
    clock = MovableClock(START)
    limiter = RateLimiter(clock=clock)
    for _ in range(10):
        limiter.acquire("u-1")
    for _ in range(50):
        with pytest.raises(SearchRateLimited):
            limiter.acquire("u-1")
    clock.advance(timedelta(minutes=1))
    limiter.acquire("u-1")
    assert len(limiter) == 1
    clock.advance(timedelta(days=1, seconds=1))
    limiter.prune()
    assert len(limiter) == 0


def test_acc_4_a_fast_script_is_stopped_at_the_eleventh_search_in_a_minute() -> None:
    records = [child(n) for n in range(1, 30)]
    h = Harness(records=records)
    script = [{"directory_id": r.directory_id} for r in records]
    ran, stop = h.run_script(script, every=timedelta(seconds=1))
    assert ran == DEFAULT_POLICY.search_rate_per_minute == 10
    assert isinstance(stop, SearchRateLimited)
    assert h.alerts == []


# --- 4. the alerts -------------------------------------------------------------------------------


def event(
    at: datetime, action: AccessAction = AccessAction.OPEN, user: str = "u-1", **fields: object
) -> AccessEvent:
    return AccessEvent(
        user_id=user,
        at=at,
        action=action,
        user_areas=frozenset({"202"}),
        **fields,  # type: ignore[arg-type]
    )


def test_acc_4_alert_many_opens_with_the_same_reason() -> None:
    monitor = TrawlingMonitor()
    raised: list[TrawlingAlert] = []
    for i in range(30):
        at = START + timedelta(minutes=2 * i)  # 30 opens in 58 minutes
        raised += monitor.observe(
            event(
                at, directory_id=f"d{i}", record_local_authority="202", reason=ReasonCode.REFERRAL
            )
        )
        assert len(raised) == (1 if i == 29 else 0)
    (alert,) = raised
    assert (alert.pattern, alert.detail, alert.count, alert.threshold) == (
        AlertPattern.SAME_REASON_OPENS,
        "referral",
        30,
        30,
    )
    assert (alert.window_start, alert.window_end) == (START, START + timedelta(minutes=58))
    assert (alert.user_id, alert.local_authority, alert.rule) == ("u-1", "202", "ACC-4")


def test_acc_4_no_alert_for_the_same_reason_spread_over_the_day() -> None:
    monitor = TrawlingMonitor()
    for i in range(60):
        at = START + timedelta(minutes=3 * i)  # 60 opens over three hours
        assert not monitor.observe(
            event(
                at, directory_id=f"d{i}", record_local_authority="202", reason=ReasonCode.REFERRAL
            )
        )


def test_acc_4_alert_look_ups_outside_the_users_local_authority() -> None:
    monitor = TrawlingMonitor()
    raised: list[TrawlingAlert] = []
    at = START
    for i in range(20):  # a morning's work at home
        at += timedelta(minutes=5)
        raised += monitor.observe(
            event(
                at, directory_id=f"h{i}", record_local_authority="202", reason=ReasonCode.ASSESSMENT
            )
        )
    for i in range(20):  # then opens far away
        at += timedelta(minutes=5)
        raised += monitor.observe(
            event(
                at,
                directory_id=f"o{i}",
                record_local_authority="930",
                reason=ReasonCode.CONTACTING_PRACTITIONER,
            )
        )
        if i < 19:
            assert not raised, "10 of 30 is under half: no alert yet"
    (alert,) = raised
    assert alert.pattern is AlertPattern.OUT_OF_AREA_OPENS
    assert alert.count == 20  # 20 of 40 opens: half


def test_acc_4_a_few_opens_across_the_border_raise_nothing() -> None:
    monitor = TrawlingMonitor()
    for i in range(100):
        la = "203" if i % 4 == 0 else "202"  # a quarter over the border, all day
        assert not monitor.observe(
            event(
                START + timedelta(minutes=4 * i),
                directory_id=f"d{i}",
                record_local_authority=la,
                reason=ReasonCode.ASSESSMENT,
            )
        )


def test_acc_4_alert_opens_with_no_follow_up() -> None:
    monitor = TrawlingMonitor()
    raised: list[TrawlingAlert] = []
    for i in range(11):  # each open left after 4 seconds for the next
        raised += monitor.observe(
            event(
                START + timedelta(seconds=4 * i),
                directory_id=f"d{i}",
                record_local_authority="202",
                reason=ReasonCode.ASSESSMENT,
            )
        )
    (alert,) = raised  # the 11th open ends the 10th glance
    assert (alert.pattern, alert.count) == (AlertPattern.OPENS_WITHOUT_FOLLOW_UP, 10)


def test_acc_4_opens_with_a_follow_up_or_read_properly_raise_nothing() -> None:
    monitor = TrawlingMonitor()
    at = START
    reasons = [ReasonCode.ASSESSMENT, ReasonCode.REFERRAL, ReasonCode.CHILD_PROTECTION]
    for i in range(30):
        monitor_events = [
            event(at, directory_id=f"d{i}", record_local_authority="202", reason=reasons[i % 3]),
            event(at + timedelta(seconds=3), AccessAction.FOLLOW_UP, directory_id=f"d{i}"),
        ]
        for e in monitor_events:
            assert not monitor.observe(e)
        at += timedelta(seconds=6)
    for i in range(30):  # read for a minute each, reopening the same record meanwhile
        assert not monitor.observe(
            event(at, directory_id=f"r{i}", record_local_authority="202", reason=reasons[i % 3])
        )
        assert not monitor.observe(
            event(
                at + timedelta(seconds=2),
                directory_id=f"r{i}",
                record_local_authority="202",
                reason=reasons[i % 3],
            )
        )
        at += timedelta(minutes=1)


def test_acc_4_alert_a_burst_of_failed_searches() -> None:
    monitor = TrawlingMonitor()
    outcomes = [
        SearchOutcome.NO_MATCH,
        SearchOutcome.TOO_BROAD,
        SearchOutcome.REFINE,
        SearchOutcome.RATE_LIMITED,
    ]
    raised: list[TrawlingAlert] = []
    for i in range(10):
        raised += monitor.observe(
            event(START + timedelta(minutes=2 * i), AccessAction.SEARCH, outcome=outcomes[i % 4])
        )
    (alert,) = raised
    assert (alert.pattern, alert.count) == (AlertPattern.FAILED_SEARCH_BURST, 10)
    assert alert.pattern.blocks_searching


def surnames_sharing_a_prefix() -> list[str]:
    return [
        "Smith",
        "Smithe",
        "Smithson",
        "Smithers",
        "Smithies",
        "Smithy",
        "Smithwick",
        "Smithfield",
    ]


def test_acc_4_surname_sweep_is_stopped_with_a_name_sweep_alert() -> None:
    h = Harness()
    script: list[dict[str, object]] = [
        {"family_name": name, "date_of_birth": date(2010, 1, 1) + timedelta(days=40 * i)}
        for i, name in enumerate(surnames_sharing_a_prefix())
    ]
    ran, stop = h.run_script(script, every=timedelta(seconds=7))  # under the rate limit
    assert ran == DEFAULT_POLICY.alert_sweep_distinct_values == 6
    assert isinstance(stop, SearchBlocked)
    assert (stop.code, stop.rule) == ("search_blocked", "ACC-4")
    (alert,) = h.alerts
    assert (alert.pattern, alert.detail) == (AlertPattern.NAME_SWEEP, "surname_prefix")
    assert "mith" not in repr(alert).lower()  # identifiers and counts only


def test_acc_4_date_of_birth_sweep_is_stopped_with_a_date_of_birth_alert() -> None:
    h = Harness()
    script: list[dict[str, object]] = [
        {"family_name": "Taylor", "date_of_birth": date(2015, 3, 1) + timedelta(days=i)}
        for i in range(20)
    ]
    ran, stop = h.run_script(script, every=timedelta(seconds=7))
    assert ran == 6
    assert isinstance(stop, SearchBlocked)
    assert [a.pattern for a in h.alerts] == [AlertPattern.DATE_OF_BIRTH_SWEEP]


@pytest.mark.parametrize("offset", range(14))
def test_acc_4_consecutive_dates_of_birth_are_caught_at_the_sixth_whatever_the_start(
    offset: int,
) -> None:
    """Varying surnames too (no shared name): the two offset grids of 14-day
    blocks catch any 6 dates within 8 consecutive days."""
    h = Harness()
    names = ["Adams", "Brown", "Clarke", "Davies", "Evans", "Fisher", "Green", "Hughes"]
    script: list[dict[str, object]] = [
        {"family_name": name, "date_of_birth": date(2015, 1, 1) + timedelta(days=offset + i)}
        for i, name in enumerate(names)
    ]
    ran, _ = h.run_script(script, every=timedelta(seconds=7))
    assert ran == 6
    (alert,) = h.alerts
    assert (alert.pattern, alert.detail) == (
        AlertPattern.DATE_OF_BIRTH_SWEEP,
        "near_dates_of_birth",
    )


def valid_postcodes() -> list[str]:
    return [f"LS1 1A{letter}" for letter in "ABDEFGHJLNPQ"]


def test_acc_4_postcode_sweep_is_stopped_with_a_postcode_alert() -> None:
    h = Harness()
    script: list[dict[str, object]] = [
        {"family_name": "Taylor", "given_name": "Sam", "postcode": Postcode(p)}
        for p in valid_postcodes()
    ]
    ran, stop = h.run_script(script, every=timedelta(seconds=7))
    assert ran == 6
    assert isinstance(stop, SearchBlocked)
    (alert,) = h.alerts
    assert (alert.pattern, alert.detail) == (AlertPattern.POSTCODE_SWEEP, "same_name_postcodes")


def test_acc_4_everyone_at_one_postcode_is_a_postcode_sweep() -> None:
    h = Harness()
    names = ["Adams", "Brown", "Clarke", "Davies", "Evans", "Fisher", "Green"]
    script: list[dict[str, object]] = [
        {"family_name": n, "given_name": "Alex", "postcode": Postcode("LS1 4AP")} for n in names
    ]
    ran, _ = h.run_script(script, every=timedelta(seconds=7))
    assert ran == 6
    assert [(a.pattern, a.detail) for a in h.alerts] == [
        (AlertPattern.POSTCODE_SWEEP, "same_postcode_names")
    ]


def test_acc_4_identifier_sweep_is_stopped_as_a_failed_search_burst() -> None:
    h = Harness(records=[child(1)])
    numbers: list[NhsNumber] = []
    body = 400000000
    while len(numbers) < 20:
        check = nhs_check_digit(str(body))
        if check is not None:
            numbers.append(NhsNumber(f"{body}{check}"))
        body += 1
    script: list[dict[str, object]] = [{"nhs_number": n} for n in numbers]
    ran, stop = h.run_script(script, every=timedelta(seconds=7))
    assert ran == DEFAULT_POLICY.alert_failed_searches == 10
    assert isinstance(stop, SearchBlocked)
    assert [a.pattern for a in h.alerts] == [AlertPattern.FAILED_SEARCH_BURST]


def test_acc_4_too_broad_searches_count_as_failed() -> None:
    h = Harness()
    for name in SURNAMES[:10]:  # a surname alone is not enough
        with pytest.raises(SearchTooBroad):
            h.search(family_name=name)
        h.clock.advance(timedelta(seconds=20))
    assert [a.pattern for a in h.alerts] == [AlertPattern.FAILED_SEARCH_BURST]
    with pytest.raises(SearchBlocked):
        h.search(directory_id=DirectoryId.from_int(1))


def test_acc_4_a_block_ends_after_its_time_or_when_the_management_team_clears_it() -> None:
    h = Harness()
    script: list[dict[str, object]] = [
        {"family_name": name, "date_of_birth": date(2010, 1, 1) + timedelta(days=40 * i)}
        for i, name in enumerate(surnames_sharing_a_prefix())
    ]
    _, stop = h.run_script(script, every=timedelta(seconds=7))
    assert isinstance(stop, SearchBlocked)
    assert stop.retry_after == pytest.approx(60 * 60 - 7, abs=1)
    until = h.guard.blocked_until("u-teacher")
    assert until is not None
    h.guard.clear_block("u-teacher")
    assert h.guard.blocked_until("u-teacher") is None
    h.search(directory_id=DirectoryId.from_int(1))
    h.alerts.clear()
    h.clock.advance(timedelta(hours=2))
    _, again = h.run_script(script, every=timedelta(seconds=7))
    assert isinstance(again, SearchBlocked)
    h.clock.advance(timedelta(minutes=60))
    h.search(directory_id=DirectoryId.from_int(1))


def test_acc_4_with_no_block_time_alerts_only_report_and_repeat() -> None:
    # (every search here finds nothing: leave failed searches out of it)
    h = Harness(attrs.evolve(DEFAULT_POLICY, trawling_block_minutes=0, alert_failed_searches=99))
    script: list[dict[str, Any]] = [
        {"family_name": "Taylor", "date_of_birth": date(2015, 3, 1) + timedelta(days=3 * i)}
        for i in range(12)
    ]
    for criteria in script:
        h.search(**criteria)
        h.clock.advance(timedelta(seconds=7))
    assert [a.pattern for a in h.alerts] == [AlertPattern.DATE_OF_BIRTH_SWEEP] * 2  # 6th, 12th
    assert h.guard.blocked_until("u-teacher") is None


def test_acc_4_alerts_carry_identifiers_and_both_ids_when_mediated() -> None:
    h = Harness(records=[child(1)])
    for i in range(30):
        h.guard.opened(
            user_id="u-admin",
            viewer=TEACHER,
            directory_id=f"0000-0000-00{i:02d}",
            record_local_authority="202",
            reason=ReasonCode.CHILD_PROTECTION,
            on_behalf_of="p-nurse",
        )
        h.clock.advance(timedelta(minutes=1))
    (alert,) = h.alerts
    assert (alert.user_id, alert.on_behalf_of, alert.local_authority) == (
        "u-admin",
        "p-nurse",
        "202",
    )
    assert h.guard.recent_alerts() == (alert,)
    assert not alert.pattern.blocks_searching
    h.search(directory_id=DirectoryId.from_int(1))  # reported, not blocked


def test_acc_4_fingerprints_hold_keyed_hashes_only() -> None:
    criteria = SearchCriteria(
        family_name="Taylor", given_name="Sam", date_of_birth=DOB, postcode=Postcode("LS1 4AP")
    )
    print_ = fingerprint(criteria, key=KEY)
    assert print_ == fingerprint(criteria, key=KEY)
    assert print_ != fingerprint(criteria, key=b"other key" * 4)
    assert {f.kind for f in print_.features} == set(SweepKind)
    for feature in print_.features:
        assert re.fullmatch(r"[0-9a-f]{24}", feature.bucket)
        assert re.fullmatch(r"[0-9a-f]{24}", feature.value)
    assert fingerprint(SearchCriteria(nhs_number=NhsNumber("9434765919")), key=KEY) == (
        CriteriaFingerprint()
    )


def test_acc_4_detector_state_is_bounded() -> None:
    monitor = TrawlingMonitor(max_users=50)
    for i in range(200):
        monitor.observe(
            event(START, AccessAction.SEARCH, user=f"u-{i}", outcome=SearchOutcome.FOUND)
        )
    assert len(monitor) == 50
    rng = random.Random(4)
    letters = "abcdefghijklmnopqrstuvwxyz"
    for i in range(MAX_SWEEP_BUCKETS + 500):
        name = "".join(rng.choice(letters) for _ in range(8))
        criteria = SearchCriteria(
            family_name=name, date_of_birth=date(2000, 1, 1) + timedelta(days=i)
        )
        monitor.observe(
            event(
                START + timedelta(seconds=i),
                AccessAction.SEARCH,
                user="u-busy",
                fingerprint=fingerprint(criteria, key=KEY),
                outcome=SearchOutcome.FOUND,
            )
        )
    state = monitor._users["u-busy"]
    assert len(state.sweeps) <= MAX_SWEEP_BUCKETS
    assert all(len(v) < DEFAULT_POLICY.alert_sweep_distinct_values for v in state.sweeps.values())
    monitor.prune(START + timedelta(days=2))
    assert len(monitor) == 0


# --- a normal user's day: no alert (false-positive guard) ----------------------------------------

SURNAMES = [
    "Ahmed",
    "Baker",
    "Campbell",
    "Dixon",
    "Edwards",
    "Foster",
    "Gray",
    "Hussain",
    "Iqbal",
    "Jackson",
    "Khan",
    "Lewis",
    "Morgan",
    "Nolan",
    "Owen",
    "Patel",
    "Quinn",
    "Roberts",
    "Shaw",
    "Turner",
    "Usman",
    "Vaughan",
    "Walker",
    "Young",
    "Begum",
    "Cooper",
    "Doyle",
    "Ellis",
    "Fraser",
    "Graham",
    "Holmes",
    "Irving",
    "Jones",
    "Kelly",
    "Lloyd",
    "Murphy",
    "Nash",
    "Oakley",
    "Price",
    "Reid",
]


def test_acc_4_a_normal_days_look_ups_raise_no_alert() -> None:
    """A pastoral teacher's busy day: 40 children found by UPN or by surname and
    date of birth, a few mistyped, each opened with a reason, read for a minute
    or more, some followed up; two looked up across the border; then a
    start-of-term intake of 25 new pupils by UPN in an hour."""
    rng = random.Random(2025)
    records = [
        child(
            i + 1,
            family=name,
            given=rng.choice(["Amy", "Ben", "Cara", "Dev", "Ella", "Finn"]),
            born=date(2013, 9, 1) + timedelta(days=rng.randrange(365)),
            local_authority="930" if i in (7, 23) else "202",
        )
        for i, name in enumerate(SURNAMES)
    ]
    h = Harness(records=records)
    reasons = [
        ReasonCode.ASSESSMENT,
        ReasonCode.CONTACTING_PRACTITIONER,
        ReasonCode.REFERRAL,
        ReasonCode.CHILD_PROTECTION,
        ReasonCode.MULTI_AGENCY_MEETING,
    ]
    for i, r in enumerate(records):
        if i % 13 == 5:  # a mistyped date of birth first
            h.search(
                family_name=r.name.family_name, date_of_birth=r.date_of_birth + timedelta(days=1)
            )
            h.clock.advance(timedelta(seconds=20))
        if i % 2:
            (found,) = h.search(directory_id=r.directory_id)
        else:
            (found,) = h.search(family_name=r.name.family_name, date_of_birth=r.date_of_birth)
        h.clock.advance(timedelta(seconds=15))
        h.open(
            str(found.directory_id), reason=reasons[i % len(reasons)], la=r.local_authority or "202"
        )
        h.clock.advance(timedelta(minutes=rng.randint(1, 6)))
        if i % 5 == 0:
            h.guard.followed_up(user_id=TEACHER.user_id, directory_id=found.directory_id)
        h.clock.advance(timedelta(minutes=rng.randint(2, 9)))
    for r in records[:25]:  # intake: every new pupil, by UPN, the same reason
        (found,) = h.search(directory_id=r.directory_id)
        h.clock.advance(timedelta(seconds=20))
        h.open(str(found.directory_id), reason=ReasonCode.NEW_TO_SERVICE)
        h.clock.advance(timedelta(seconds=100))
    assert h.alerts == []
    assert h.guard.blocked_until(TEACHER.user_id) is None


# --- the documented numbers ----------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[1] / "docs" / "lookup.md"
LOOKUP_RULES = {"ACC-1", "ACC-3", "ACC-4", "ACC-6"}


def documented_rows() -> dict[str, tuple[str, str, str, str]]:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("<!-- settings:begin -->")[1].split("<!-- settings:end -->")[0]
    rows = {}
    for line in table.strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0].strip("`")] = (cells[1], cells[2], cells[3], cells[4])
    return rows


def expected_rows() -> dict[str, tuple[str, str, str, str]]:
    rows = {}
    for row in describe():
        if row.rule not in LOOKUP_RULES:
            continue
        value = (
            ", ".join(str(v) for v in row.value) if isinstance(row.value, tuple) else str(row.value)
        )
        rows[row.name] = (value, row.unit, row.rule, "policy" if row.policy else "rules")
    return rows


def test_acc_4_the_documented_numbers_are_the_settings() -> None:
    expected = expected_rows()
    table = "\n".join(
        f"| `{name}` | {v} | {u} | {r} | {p} |" for name, (v, u, r, p) in expected.items()
    )
    assert documented_rows() == expected, f"docs/lookup.md's table should read:\n{table}"


@pytest.mark.parametrize(
    "changes",
    [
        {"pin_min_length": 13},
        {"password_min_length": 200},
        {"reason_text_min_length": 300},
        {"search_rate_per_minute": 300},
        {"search_max_results": 0},
        {"alert_out_of_area_share_percent": 101},
        {"alert_sweep_distinct_values": 1},
        {"password_scrypt_log2_n": 30},
        {"totp_drift_steps": 5},
        {"trawling_block_minutes": -1},
        {"unmediated_roles": frozenset({"la_management_team"})},
    ],
)
def test_acc_4_settings_refuse_impossible_look_up_numbers(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message names the field
        attrs.evolve(DEFAULT_POLICY, **changes)
