"""The synthetic population generator: valid, realistic, reproducible, and fictional.

Every record must construct, round-trip exactly through the wire codec, carry
valid identifiers, and use only contact details reserved for fiction (Ofcom
drama phone ranges, RFC 2606 example domains, the NHS 999 test range). The
hard-case helpers must produce exactly the near-duplicates they promise, for
the matcher's tests (SUP-7, SHLD-7).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import types
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any, cast

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactpoint_sdk.errors import ConfigurationError
from contactpoint_sdk.models import (
    ChildRecord,
    ConsentGiver,
    EmailAddress,
    Gender,
    LocalAuthorityCarer,
    NhsNumber,
    ParentCarer,
    PhoneNumber,
    ServiceKind,
    Uln,
    Upn,
    WireCodec,
)
from contactpoint_sdk.models.identifiers import (
    DirectoryId,
    nhs_check_digit,
    uln_check_digit,
    upn_check_letter,
)
from contactpoint_sdk.policy.consent import consent_decision
from contactpoint_sdk.policy.lifecycle import LifecycleState, birthday, lifecycle
from contactpoint_sdk.synthetic import DEFAULT_LA_CODES, Population
from contactpoint_sdk.synthetic._ids import IdMinter, upn_prefix_sum

TODAY = date(2026, 3, 1)
EXAMPLE_DOMAINS = frozenset({"example.org", "example.com", "example.net"})
CODEC = WireCodec()


def _population(seed: int = 1, **kwargs: object) -> Population:
    return Population(seed, today=TODAY, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def sample() -> list[ChildRecord]:
    """2,000 records from one seed, shared by the read-only tests below."""
    return list(_population(2026).children(2000))


def _walk(obj: object) -> Iterator[object]:
    """Every value inside a record: attrs instances, tuples and leaves."""
    yield obj
    if attrs.has(type(obj)):
        for field in attrs.fields(cast(Any, type(obj))):
            yield from _walk(getattr(obj, field.name))
    elif isinstance(obj, tuple):
        for item in obj:
            yield from _walk(item)


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _current(record: ChildRecord, service: ServiceKind) -> list[object]:
    return [
        i.organisation for i in record.involvements if i.service is service and i.ended_on is None
    ]


# --- Reproducibility and streaming -------------------------------------------------


def test_same_seed_gives_identical_records() -> None:
    assert list(_population(7).children(300)) == list(_population(7).children(300))


def test_different_seeds_give_different_records() -> None:
    first = [r.directory_id for r in _population(7).children(50)]
    second = [r.directory_id for r in _population(8).children(50)]
    assert not set(first) & set(second)


def test_same_seed_gives_identical_hard_cases() -> None:
    def run(population: Population) -> list[object]:
        record = population.child()
        return [
            population.twins(),
            population.siblings(3),
            population.with_typo(record),
            population.with_name_change(record),
            population.with_move(record),
            population.school(),
            population.gp_practice(),
        ]

    assert run(_population(9)) == run(_population(9))


def test_children_streams() -> None:
    population = _population()
    stream = population.children(population.max_size)  # millions: streamed, not made at once
    assert isinstance(stream, types.GeneratorType)
    assert isinstance(next(stream), ChildRecord)
    assert list(_population().children(0)) == []


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        Population(1, today=TODAY, la_codes=["80"])
    with pytest.raises(ConfigurationError):
        Population(1, today=TODAY, la_codes=[])
    with pytest.raises(ConfigurationError):
        Population(1, today=datetime(2026, 3, 1))  # a datetime is not a UK date
    with pytest.raises(ConfigurationError):
        Population(1, today=TODAY, sensitive_without_consent=1.5)
    with pytest.raises(ValueError, match="not one of"):
        _population(la_codes=["801"]).child("330")


# --- Validity: the model accepts every record, the codec round-trips it ---------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rec_1_every_record_round_trips_through_the_codec(seed: int) -> None:
    for record in _population(seed).children(700):
        wire = CODEC.encode(record)
        json.dumps(wire)  # JSON-ready
        assert CODEC.decode(wire, ChildRecord, today=TODAY) == record


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(min_value=0, max_value=2**64),
    today=st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 12, 31)),
    la_codes=st.lists(st.from_regex(r"[0-9]{3}", fullmatch=True), min_size=1, max_size=3),
)
def test_rec_1_any_seed_date_and_las_give_valid_records(
    seed: int, today: date, la_codes: list[str]
) -> None:
    population = Population(seed, today=today, la_codes=la_codes)
    records = [*population.children(15), *population.twins(), population.child(la_codes[0])]
    for record in records:
        assert record.local_authority in la_codes
        assert CODEC.decode(CODEC.encode(record), ChildRecord, today=today) == record


def test_hard_cases_round_trip_through_the_codec() -> None:
    population = _population(5)
    records = [*population.twins(), *population.siblings(4)]
    for record in population.children(60):
        records += [
            population.with_typo(record),
            population.with_name_change(record),
            population.with_move(record),
        ]
        born = record.date_of_birth
        if born.day <= 12 and born.day != born.month:
            with contextlib.suppress(ValueError):  # the swapped date would be in the future
                records.append(population.with_transposed_dob(record))
    for record in records:
        assert CODEC.decode(CODEC.encode(record), ChildRecord, today=TODAY) == record


def test_rec_1_ages_are_0_to_17_unless_kept_by_ret_2(sample: list[ChildRecord]) -> None:
    for record in sample:
        age = _age(record.date_of_birth, TODAY)
        assert record.date_of_birth <= TODAY
        if record.retention_extension is None:
            assert 0 <= age <= 17
        else:
            assert 18 <= age < record.retention_extension.reason.leaves_at_age
            assert record.retention_extension.consented_on < birthday(record.date_of_birth, 18)
    assert any(r.retention_extension is not None for r in sample)


def test_ret_every_generated_record_is_live_today(sample: list[ChildRecord]) -> None:
    """RET-1..RET-4: nothing generated is already due for archive."""
    for record in sample:
        assert lifecycle(record, TODAY).state is LifecycleState.ACTIVE


def test_every_record_is_in_one_of_the_populations_las(sample: list[ChildRecord]) -> None:
    for record in sample:
        assert record.local_authority in DEFAULT_LA_CODES
        for carer in record.parents:
            if isinstance(carer, LocalAuthorityCarer):
                assert carer.la_code == record.local_authority


# --- Identifiers ----------------------------------------------------------------


def test_rec_1_identifiers_pass_their_check_algorithms(sample: list[ChildRecord]) -> None:
    seen_nhs: set[str] = set()
    seen_upn: set[str] = set()
    for record in sample:
        ids = record.identifiers
        assert ids.upn or ids.uln or ids.nhs_number or ids.school_references
        if ids.nhs_number is not None:
            value = ids.nhs_number.value
            assert nhs_check_digit(value[:9]) == value[9]
            assert value not in seen_nhs
            seen_nhs.add(value)
        for upn in (ids.upn, *ids.former_upns):
            if upn is not None:
                assert upn_check_letter(upn.value[1:]) == upn.value[0]
                assert upn.value[1:4] == record.local_authority
                assert upn.value not in seen_upn
                seen_upn.add(upn.value)
        if ids.uln is not None:
            assert uln_check_digit(ids.uln.value[:9]) == ids.uln.value[9]
        assert DirectoryId.is_valid(record.directory_id.value)
    assert len({r.directory_id for r in sample}) == len(sample)


def test_rec_1_upn_check_letter_table_matches_the_model() -> None:
    for la, establishment in [("801", "2000"), ("330", "4017"), ("000", "0000"), ("999", "9999")]:
        minter = IdMinter(random.Random(la))
        for year in (2007, 2019, 2026):
            upn = minter.upn(la, establishment, upn_prefix_sum(la, establishment), year)
            assert upn_check_letter(upn.value[1:]) == upn.value[0]


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_rec_1_minted_identifiers_are_valid_and_in_test_ranges(seed: int) -> None:
    minter = IdMinter(random.Random(seed))
    for _ in range(20):
        nhs = minter.nhs_number()
        assert nhs.is_test_range
        assert NhsNumber.is_valid(nhs.value)
        assert Uln.is_valid(minter.uln().value)
        assert DirectoryId.is_valid(minter.directory_id().value)


def test_rec_1_nhs_numbers_do_not_repeat_across_the_test_range() -> None:
    minter = IdMinter(random.Random(3))
    values = [minter.nhs_number().value for _ in range(20000)]
    assert len(set(values)) == len(values)


# --- Privacy: synthetic data only --------------------------------------------------


def test_contact_details_are_only_in_reserved_fictional_ranges(
    sample: list[ChildRecord],
) -> None:
    phones = emails = nhs = 0
    for record in sample:
        for value in _walk(record):
            if isinstance(value, PhoneNumber):
                assert value.is_drama_range, value
                phones += 1
            elif isinstance(value, EmailAddress):
                assert value.domain in EXAMPLE_DOMAINS, value
                emails += 1
            elif isinstance(value, NhsNumber):
                assert value.is_test_range
                nhs += 1
    assert phones
    assert emails
    assert nhs


# --- What the population holds --------------------------------------------------------


def test_rec_2_parents_and_carers(sample: list[ChildRecord]) -> None:
    looked_after = 0
    apart = 0
    relationships = set()
    for record in sample:
        people = [p for p in record.parents if isinstance(p, ParentCarer)]
        assert 1 <= len(people) <= 2
        assert any(p.parental_responsibility for p in people) or any(
            isinstance(p, LocalAuthorityCarer) for p in record.parents
        )
        looked_after += any(isinstance(p, LocalAuthorityCarer) for p in record.parents)
        for person in people:
            relationships.add(person.relationship.value)
            if not person.address_as_child:
                apart += 1
                assert person.contact.address is not None
    assert looked_after
    assert apart
    assert {"mother", "father", "step_parent", "grandparent"} <= relationships


def test_rec_7_some_children_have_no_gp(sample: list[ChildRecord]) -> None:
    without = [r for r in sample if not _current(r, ServiceKind.GP_PRACTICE)]
    assert 0 < len(without) < len(sample) // 5


def test_rec_7_some_school_age_children_have_no_school(sample: list[ChildRecord]) -> None:
    school_age = [r for r in sample if 6 <= _age(r.date_of_birth, TODAY) <= 15]
    without = [r for r in school_age if not _current(r, ServiceKind.EDUCATION_SETTING)]
    assert 0 < len(without) < len(school_age) // 10


def test_rec_3_and_rec_5_services_and_indicators(sample: list[ChildRecord]) -> None:
    services = {i.service for r in sample for i in r.involvements}
    assert {
        ServiceKind.EDUCATION_SETTING,
        ServiceKind.GP_PRACTICE,
        ServiceKind.HEALTH_VISITOR,
        ServiceKind.SCHOOL_NURSE,
        ServiceKind.SOCIAL_CARE,
        ServiceKind.SENCO,
        ServiceKind.CONNEXIONS,
    } <= services
    involvements = [i for r in sample for i in r.involvements]
    assert any(i.lead_professional for i in involvements)
    assert any(i.caf_completed for i in involvements)
    for record in sample:
        assert sum(i.lead_professional for i in record.involvements) <= 1


def test_sens_2_sensitive_involvements_carry_valid_consent() -> None:
    population = _population(11, sensitive_rate=20.0)
    found = {ConsentGiver.CHILD: 0, ConsentGiver.PARENT_CARER: 0}
    for record in population.children(400):
        for involvement in record.involvements:
            if involvement.is_sensitive:
                assert involvement.consent is not None
                found[involvement.consent.given_by] += 1
                decision = consent_decision(
                    involvement, child_date_of_birth=record.date_of_birth, today=TODAY
                )
                assert decision.allowed, decision.code
    assert all(found.values())


def test_sens_2_knob_makes_sensitive_involvements_without_consent() -> None:
    population = _population(12, sensitive_rate=20.0, sensitive_without_consent=1.0)
    sensitive = [
        (record, i)
        for record in population.children(200)
        for i in record.involvements
        if i.is_sensitive
    ]
    assert sensitive
    for record, involvement in sensitive:
        assert involvement.consent is None
        decision = consent_decision(
            involvement, child_date_of_birth=record.date_of_birth, today=TODAY
        )
        assert not decision.allowed
        assert decision.rule == "SENS-2"


def test_sens_1_sensitive_involvements_are_rare_by_default(sample: list[ChildRecord]) -> None:
    with_sensitive = [r for r in sample if any(i.is_sensitive for i in r.involvements)]
    assert 0 < len(with_sensitive) < len(sample) // 10
    none = _population(3, sensitive_rate=0.0).children(500)
    assert not any(i.is_sensitive for r in none for i in r.involvements)


def test_shld_shields_are_aware_and_reviewed(sample: list[ChildRecord]) -> None:
    shielded = [r for r in sample if r.shield is not None]
    assert shielded
    for record in shielded:
        assert record.shield is not None
        assert record.shield.requested_at.tzinfo is not None
        assert record.shield.requested_at.date() <= TODAY
        for review in record.shield.reviews:
            assert record.shield.requested_at.date() < review.reviewed_on <= TODAY


def test_ret_3_deaths_are_within_the_last_year() -> None:
    records = list(_population(21).children(6000))
    died = [r for r in records if r.died_on is not None]
    assert died
    for record in died:
        assert record.died_on is not None
        assert record.date_of_birth <= record.died_on <= TODAY
        assert (TODAY - record.died_on).days < 365


def test_names_and_addresses_look_english(sample: list[ChildRecord]) -> None:
    genders = {r.gender for r in sample}
    assert {Gender.MALE, Gender.FEMALE} <= genders
    assert any(r.name.middle_names for r in sample)
    postcodes = {r.address.postcode for r in sample}
    assert len(postcodes) > len(sample) // 3
    for record in sample:
        assert record.address.postcode is not None
        assert not record.address.postcode.value.startswith("ZZ99")


# --- Hard cases for matching ------------------------------------------------------


def test_twins_share_family_but_not_identity() -> None:
    population = _population(31)
    for _ in range(20):
        first, second = population.twins()
        assert first.date_of_birth == second.date_of_birth
        assert first.name.family_name.split("-")[0] == second.name.family_name.split("-")[0]
        assert first.address == second.address
        assert first.parents == second.parents
        assert first.local_authority == second.local_authority
        assert _current(first, ServiceKind.EDUCATION_SETTING) == _current(
            second, ServiceKind.EDUCATION_SETTING
        )
        assert _current(first, ServiceKind.GP_PRACTICE) == _current(second, ServiceKind.GP_PRACTICE)
        assert first.name.given_name != second.name.given_name
        assert first.directory_id != second.directory_id
        assert first.identifiers.nhs_number != second.identifiers.nhs_number or (
            first.identifiers.nhs_number is None
        )
        if first.identifiers.upn and second.identifiers.upn:
            assert first.identifiers.upn != second.identifiers.upn


def test_siblings_share_parents_and_address_and_are_born_apart() -> None:
    population = _population(32)
    children = population.siblings(4)
    assert len(children) == 4
    assert len({c.directory_id for c in children}) == 4
    for child in children[1:]:
        assert child.parents == children[0].parents
        assert child.address == children[0].address
    births = [c.date_of_birth for c in children]
    assert births == sorted(births)
    assert all((later - earlier).days >= 300 for earlier, later in itertools.pairwise(births))
    with pytest.raises(ValueError, match="siblings"):
        population.siblings(30)


def test_with_typo_is_exactly_one_edit_in_one_name() -> None:
    population = _population(33)
    for record in population.children(200):
        typo = population.with_typo(record)
        assert typo.directory_id == record.directory_id
        distances = [
            _levenshtein(record.name.given_name, typo.name.given_name),
            _levenshtein(record.name.family_name, typo.name.family_name),
        ]
        assert sorted(distances) == [0, 1]
        assert attrs.evolve(typo, name=record.name) == record


def test_with_name_change_keeps_the_old_name_as_former() -> None:
    population = _population(34)
    for record in population.children(50):
        changed = population.with_name_change(record)
        assert changed.directory_id == record.directory_id
        assert changed.name.family_name != record.name.family_name
        assert changed.name.former_family_names[0] == record.name.family_name
        assert changed.name.given_name == record.name.given_name
        assert changed.date_of_birth == record.date_of_birth


def test_with_move_changes_address_la_and_school_but_not_identity() -> None:
    population = _population(35)
    moved_school = 0
    for record in population.children(100):
        moved = population.with_move(record)
        assert moved.directory_id == record.directory_id
        assert moved.identifiers == record.identifiers
        assert moved.name == record.name
        assert moved.date_of_birth == record.date_of_birth
        assert moved.local_authority != record.local_authority
        assert moved.address != record.address
        old_school = _current(record, ServiceKind.EDUCATION_SETTING)
        new_school = _current(moved, ServiceKind.EDUCATION_SETTING)
        assert bool(old_school) == bool(new_school) or _age(record.date_of_birth, TODAY) < 4
        if old_school and new_school:
            assert old_school != new_school
            moved_school += 1
    assert moved_school


def test_with_move_in_a_single_la_stays_there() -> None:
    population = _population(36, la_codes=["801"])
    record = population.child()
    moved = population.with_move(record)
    assert moved.local_authority == "801"
    assert moved.address != record.address


def test_with_transposed_dob_swaps_day_and_month() -> None:
    population = _population(37)
    swapped = 0
    for record in population.children(300):
        born = record.date_of_birth
        if born.day > 12 or born.day == born.month:
            with pytest.raises(ValueError, match="transposed"):
                population.with_transposed_dob(record)
            continue
        try:
            changed = population.with_transposed_dob(record)
        except ValueError:
            assert date(born.year, born.day, born.month) > TODAY
            continue
        swapped += 1
        assert changed.directory_id == record.directory_id
        assert changed.date_of_birth == date(born.year, born.day, born.month)
        assert changed.name == record.name
        for involvement in changed.involvements:
            if involvement.service is not ServiceKind.MIDWIFE:
                assert involvement.started_on >= changed.date_of_birth
    assert swapped > 20


# --- Organisations ---------------------------------------------------------------


def test_rec_3_school_and_gp_practice_helpers() -> None:
    population = _population(41, la_codes=["801", "330"])
    school = population.school("801")
    assert school.urn is not None
    assert school.laestab is not None
    assert school.laestab.startswith("801")
    gp = population.gp_practice()
    assert gp.ods_code is not None
    assert gp.kind.value == "gp_practice"
    pupils = [r for r in population.children(300) if r.local_authority == "801"]
    schools = {o for r in pupils for o in _current(r, ServiceKind.EDUCATION_SETTING)}
    assert len(schools) > 3


def test_upns_name_a_school_of_the_childs_la(sample: list[ChildRecord]) -> None:
    for record in sample[:300]:
        upn: Upn | None = record.identifiers.upn
        if upn is not None:
            assert upn.value[1:4] == record.local_authority
