"""The synthetic generator never issues an identifier twice (issue 10).

Each range stops with :class:`SyntheticRangeExhausted` (a typed
``ConfigurationError``) instead of starting again: NHS numbers (the 999 test
range), ULNs, UPN serials (after 1,000 a year a school moves on to a further
establishment number) and school references; a directory identifier already
issued is drawn again. A population told how many children it will make keeps
enough NHS numbers for the children who have no other identifier, and
brothers and sisters never get given names the matcher could take for one
another (SUP-7: such siblings were held for review as possible duplicates).
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Callable
from datetime import date
from typing import TypeVar

import pytest

from contactpoint_sdk.errors import ConfigurationError, ContactPointError
from contactpoint_sdk.models import ChildRecord, NhsNumber, Uln, Upn
from contactpoint_sdk.models.identifiers import DirectoryId, SchoolReference, upn_check_letter
from contactpoint_sdk.reference_server.linkage_compare import (
    GIVEN_LEVELS,
    given_forms,
    given_level,
)
from contactpoint_sdk.synthetic import Population, SyntheticRangeExhausted
from contactpoint_sdk.synthetic._data import FEMALE_NAMES, MALE_NAMES
from contactpoint_sdk.synthetic._ids import (
    NHS_TEST_RANGE,
    SCHOOL_REFERENCES_PER_SCHOOL,
    UPN_SERIALS,
    IdMinter,
    upn_prefix_sum,
)
from contactpoint_sdk.synthetic._sibling_names import CONFUSABLE_GIVEN_NAMES, confusable_names

TODAY = date(2026, 3, 1)
TYPO = GIVEN_LEVELS.index("typo")
T = TypeVar("T")


def _minter(seed: int = 1) -> IdMinter:
    return IdMinter(random.Random(seed))


def _until_used_up(draw: Callable[[], T], limit: int) -> tuple[list[T], SyntheticRangeExhausted]:
    """What ``draw`` gives until it raises (at most ``limit`` calls), and the error."""
    drawn: list[T] = []
    for _ in range(limit):
        try:
            drawn.append(draw())
        except SyntheticRangeExhausted as error:
            return drawn, error
    raise AssertionError(f"still drawing after {limit}")


def _all_identifiers(record: ChildRecord) -> list[tuple[str, str]]:
    ids = record.identifiers
    out = [("directory", record.directory_id.value)]
    if ids.nhs_number is not None:
        out.append(("nhs", ids.nhs_number.value))
    if ids.uln is not None:
        out.append(("uln", ids.uln.value))
    out += [("upn", u.value) for u in (ids.upn, *ids.former_upns) if u is not None]
    out += [("school", str(s)) for s in ids.school_references]
    return out


# --- NHS numbers ------------------------------------------------------------------


def test_rec_1_nhs_test_range_is_issued_once_each_then_a_typed_error() -> None:
    minter = _minter(3)
    seen = bytearray(1_000_000)
    for _ in range(NHS_TEST_RANGE):
        value = minter.nhs_number().value
        assert value.startswith("999")
        body = int(value[3:9])
        assert not seen[body]
        seen[body] = 1
    assert minter.nhs_numbers_left == 0
    _, error = _until_used_up(minter.nhs_number, 1)
    assert isinstance(error, ConfigurationError)
    assert isinstance(error, ContactPointError)
    assert error.code == "synthetic_range_exhausted"
    assert error.identifier == "nhs_number"
    assert error.issued == NHS_TEST_RANGE
    assert "909,091" in str(error)
    with pytest.raises(SyntheticRangeExhausted):  # and it stays used up
        minter.nhs_number()


def test_rec_1_nhs_counter_moved_near_the_end_runs_out_instead_of_wrapping() -> None:
    minter = _minter(4)
    first = minter.nhs_number()
    minter._nhs_k = 1_000_000 - 30  # the walk's last 30 bodies
    drawn, _ = _until_used_up(minter.nhs_number, 31)
    assert 20 <= len(drawn) <= 30  # bodies whose check digit would be 10 are skipped
    assert first not in drawn
    assert len(set(drawn)) == len(drawn)
    assert all(NhsNumber.is_valid(n.value) and n.is_test_range for n in drawn)


def test_rec_1_skipping_nhs_numbers_leaves_the_same_numbers_as_drawing_them() -> None:
    drawn, skipped = _minter(5), _minter(5)
    for _ in range(5000):
        drawn.nhs_number()
    skipped.skip_nhs_numbers(5000)
    assert skipped.nhs_numbers_left == drawn.nhs_numbers_left == NHS_TEST_RANGE - 5000
    assert [skipped.nhs_number() for _ in range(50)] == [drawn.nhs_number() for _ in range(50)]
    with pytest.raises(SyntheticRangeExhausted):
        skipped.skip_nhs_numbers(NHS_TEST_RANGE)


# --- ULNs -------------------------------------------------------------------------


def test_rec_1_uln_counter_moved_near_the_end_runs_out_instead_of_wrapping() -> None:
    minter = _minter(6)
    first = minter.uln()
    minter._uln_k = 1_000_000_000 - 40
    drawn, error = _until_used_up(minter.uln, 41)
    assert error.identifier == "uln"
    assert error.issued == 1 + len(drawn)
    assert drawn
    assert first not in drawn
    assert len(set(drawn)) == len(drawn)
    assert all(Uln.is_valid(u.value) for u in drawn)


# --- UPNs -------------------------------------------------------------------------


def _upns(minter: IdMinter, establishment: str, n: int, la: str = "801") -> list[Upn]:
    prefix = upn_prefix_sum(la, establishment)
    return [minter.upn(la, establishment, prefix, 2015) for _ in range(n)]


def test_rec_1_a_school_past_1000_upns_a_year_moves_to_a_further_establishment() -> None:
    minter = _minter(7)
    upns = _upns(minter, "2001", 3 * UPN_SERIALS + 5)
    values = [u.value for u in upns]
    assert len(set(values)) == len(values)
    for value in values:
        assert upn_check_letter(value[1:]) == value[0]
        assert value[1:4] == "801"  # the same LA
        assert value[4] == "2"  # and phase (a primary's establishment number)
        assert value[8:10] == "15"  # and year of allocation
    by_establishment: dict[str, int] = defaultdict(int)
    for value in values:
        by_establishment[value[4:8]] += 1
    assert by_establishment == {"2001": 1000, "2101": 1000, "2201": 1000, "2301": 5}
    # The first thousand are the school's own serials 000-999, in order.
    assert [v[10:] for v in values[:1000]] == [f"{i:03d}" for i in range(1000)]


def test_rec_1_upn_serials_are_shared_by_everyone_who_uses_an_establishment() -> None:
    minter = _minter(8)
    first = _upns(minter, "2001", 10 * UPN_SERIALS)  # 2001, 2101, ... 2901 all used
    moved = _upns(minter, "2001", 5)  # on to 2002, the next school's number
    own = _upns(minter, "2002", 5)  # which carries on after them
    values = [u.value for u in (*first, *moved, *own)]
    assert len(set(values)) == len(values)
    assert {u.value[4:8] for u in moved} == {"2002"}
    assert [u.value[10:] for u in own] == ["005", "006", "007", "008", "009"]


def test_rec_1_upn_serials_of_a_phase_run_out_with_a_typed_error() -> None:
    minter = _minter(9)
    for rest in range(1000):  # every establishment number 2000-2999 used up in 2015 ...
        minter._upn_serials[("801", f"{2000 + rest}", 15)] = UPN_SERIALS
    minter._upn_serials[("801", "2517", 15)] = UPN_SERIALS - 2  # ... but two serials
    last = _upns(minter, "2001", 2)
    assert [u.value[4:] for u in last] == ["2517" + "15998", "2517" + "15999"]
    with pytest.raises(SyntheticRangeExhausted) as raised:
        _upns(minter, "2001", 1)
    assert raised.value.identifier == "upn"
    assert _upns(minter, "2001", 1, la="802")  # another LA has its own serials
    assert _upns(minter, "4001", 1)  # and another phase


# --- School references ------------------------------------------------------------


def test_rec_1_school_references_are_unique_per_school() -> None:
    minter = _minter(10)
    refs = [minter.school_reference("8012001", 0.5) for _ in range(3)]
    assert [r.reference for r in refs] == ["A49999", "A50000", "A50001"]
    other = minter.school_reference("8012002", 0.5)
    assert other == SchoolReference("8012002", "A49999")  # another school's own numbers
    rng = random.Random(1)
    many = [minter.school_reference("8012003", rng.random()) for _ in range(20_000)]
    assert len(set(many)) == len(many)


def test_rec_1_school_references_run_out_with_a_typed_error() -> None:
    minter = _minter(11)
    minter._school_refs["8012001"] = set(range(SCHOOL_REFERENCES_PER_SCHOOL)) - {7, 99_998}
    assert minter.school_reference("8012001", 0.0).reference == "A00007"
    assert minter.school_reference("8012001", 0.0).reference == "A99998"
    with pytest.raises(SyntheticRangeExhausted) as raised:
        minter.school_reference("8012001", 0.0)
    assert raised.value.identifier == "school_reference"
    assert raised.value.issued == SCHOOL_REFERENCES_PER_SCHOOL


# --- Directory identifiers ---------------------------------------------------------


class _Repeating(random.Random):
    """A generator whose 55-bit draws repeat: 5, 5, 5, 7, 5, 9."""

    def __init__(self) -> None:
        super().__init__(0)
        self.draws = iter([5, 5, 5, 7, 5, 9])

    def getrandbits(self, k: int, /) -> int:
        if k == 55:
            return next(self.draws)
        return super().getrandbits(k)


def test_rec_1_a_directory_identifier_already_issued_is_drawn_again() -> None:
    minter = IdMinter(_Repeating())
    ids = [minter.directory_id() for _ in range(3)]
    assert [i.to_int() for i in ids] == [5, 7, 9]  # the body is the number drawn
    assert ids[0] == DirectoryId.from_int(5)


# --- A population: every identifier once, NHS numbers kept for those who need one ----


def test_rec_1_no_identifier_repeats_in_a_population() -> None:
    population = Population(2026, today=TODAY, la_codes=("202", "926"))
    seen: set[tuple[str, str]] = set()
    count = 0
    for record in population.children(12_000):
        for key in _all_identifiers(record):
            assert key not in seen
            seen.add(key)
            count += 1
    assert count == len(seen) > 12_000


def test_rec_1_a_population_told_its_size_keeps_nhs_numbers_for_children_with_nothing_else() -> (
    None
):
    # 8,000 numbers left for 20,000 children, about 5,000 of them below Reception.
    planned = Population(12, today=TODAY, size=20_000)
    planned._ids.skip_nhs_numbers(NHS_TEST_RANGE - 8_000)
    records = list(planned.children(20_000))
    nhs = [r.identifiers.nhs_number for r in records]
    given = [n.value for n in nhs if n is not None]
    assert len(set(given)) == len(given) <= 8_000
    assert planned._ids.nhs_numbers_left >= 0
    other = [
        r.identifiers.upn is not None
        or r.identifiers.uln is not None
        or bool(r.identifiers.school_references)
        for r in records
    ]
    only_nhs = [r for r, o in zip(records, other, strict=True) if not o]
    assert only_nhs
    assert all(r.identifiers.nhs_number is not None for r in only_nhs)
    with_other = [r.identifiers.nhs_number for r, o in zip(records, other, strict=True) if o]
    assert sum(n is not None for n in with_other[:1000]) > 900  # as usual while plenty are left
    later = with_other[3000:]  # then only the few the estimate of need leaves over
    assert sum(n is not None for n in later) < 0.15 * len(later)
    assert planned._ids.nhs_numbers_left < 500  # and the range is used, not wasted

    # The same population not told its size runs out part of the way.
    unplanned = Population(12, today=TODAY)
    unplanned._ids.skip_nhs_numbers(NHS_TEST_RANGE - 8_000)
    made, _ = _until_used_up(unplanned.child, 20_000)
    assert 8_000 < len(made) < 20_000
    # Until the planned one starts keeping numbers back, the two are the same.
    assert made[:2_000] == records[:2_000]
    assert made[4_000:5_000] != records[4_000:5_000]


def test_rec_1_planning_leaves_smaller_populations_exactly_as_they_were() -> None:
    told = list(Population(3, today=TODAY, size=900_000).children(2_000))
    plain = list(Population(3, today=TODAY).children(2_000))
    assert told == plain


def test_rec_1_impossible_sizes_are_refused_at_once() -> None:
    population = Population(1, today=TODAY)
    assert 3_000_000 < population.max_size < 3_800_000
    with pytest.raises(ConfigurationError) as raised:
        Population(1, today=TODAY, size=population.max_size + 1)
    assert raised.value.code == "synthetic_size"
    with pytest.raises(ConfigurationError):
        population.children(population.max_size + 1)  # before anything is made
    with pytest.raises(ConfigurationError):
        Population(1, today=TODAY, size=-1)
    with pytest.raises(ConfigurationError):
        Population(1, today=TODAY, size=True)
    with pytest.raises(ValueError, match="negative"):
        population.children(-1)
    population.children(population.max_size)  # planned, not made
    assert population._plan == population.max_size
    # August, when a full five years of births are below Reception, allows fewer.
    assert Population(1, today=date(2026, 8, 31)).max_size < population.max_size


# --- Brothers and sisters: given names the matcher cannot confuse (SUP-7) --------------


def test_sup_7_confusable_name_table_is_the_matchers() -> None:
    names = sorted({*MALE_NAMES, *FEMALE_NAMES})
    expected = [
        (a, b)
        for a, b in itertools.combinations(names, 2)
        if (given_level(given_forms(a), given_forms(b)) or 0) >= TYPO
    ]
    assert list(CONFUSABLE_GIVEN_NAMES) == expected
    assert "Benjamin" in confusable_names("Ben")
    assert "Ben" in confusable_names("Benjamin")
    assert "Ben" not in confusable_names("Ben")


def _assert_distinct(children: list[ChildRecord]) -> None:
    for a, b in itertools.combinations(children, 2):
        forms_a = given_forms(a.name.given_name, a.name.preferred_given_name)
        forms_b = given_forms(b.name.given_name, b.name.preferred_given_name)
        level = given_level(forms_a, forms_b)
        assert level is not None
        assert level < TYPO, (a.name, b.name)


def test_sup_7_brothers_and_sisters_never_get_confusable_given_names() -> None:
    population = Population(2026, today=TODAY)
    households: dict[int, list[ChildRecord]] = defaultdict(list)
    records = list(population.children(20_000))
    for record in records:  # siblings share their parents' tuple (one object)
        households[id(record.parents)].append(record)
    families = [h for h in households.values() if len(h) > 1]
    assert sum(len(h) for h in families) > 5_000
    for family in families:
        _assert_distinct(family)
    for _ in range(300):
        _assert_distinct(population.siblings(6))
        _assert_distinct(list(population.twins()))
