"""Comparison levels, nicknames and blocking keys: pure functions (issue 7)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from contactpoint_sdk.models import CarerRelationship, Gender, PersonName, SourceIdentifiers
from contactpoint_sdk.models.contact import Postcode
from contactpoint_sdk.models.record import Address, ParentCarer
from contactpoint_sdk.reference_server.linkage_blocking import BlockIndex, query_keys, record_keys
from contactpoint_sdk.reference_server.linkage_compare import (
    address_level,
    date_level,
    digits_level,
    exact_level,
    family_forms,
    family_level,
    fold,
    gender_level,
    given_forms,
    given_level,
    parent_key,
    parents_level,
    postcode_forms,
    string_level,
    tokens,
    transposed,
)
from contactpoint_sdk.reference_server.linkage_nicknames import NICKNAME_GROUPS, nickname_groups
from contactpoint_sdk.reference_server.linkage_profile import (
    ChildProfile,
    compare_children,
    dumps_profile,
    loads_profile,
    query_profile,
)
from contactpoint_sdk.reference_server.matching import name_key
from tests.test_server_core_support import make_nhs


def _given(a: str, b: str, middles: tuple[str, ...] = ()) -> int | None:
    return given_level(given_forms(a), given_forms(b, None, middles))


def _family(a: str, b: str, former: tuple[str, ...] = ()) -> int | None:
    return family_level(family_forms(a, None, former), family_forms(b))


def test_folding_matches_the_strong_matchers_name_key() -> None:
    for name in ("O'Neill", "o neill", "Ó Néill", "Smith-Jones", "St. John"):
        assert fold(name) == name_key(name)
    assert fold("Ó Néill") == "oneill"
    assert tokens("Smith-Jones") == tokens("smith jones") == ("smith", "jones")


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        ("Amelia", "AMELIA", 4),  # exact, folded
        ("Jon", "Jonathan", 3),  # nickname table
        ("Bill", "William", 3),
        ("Mohammed", "Muhammad", 3),  # spelling variants in one group
        ("Dan", "Daniel", 3),  # the start of the name, three letters or more
        ("Amelia", "Amelja", 2),  # one-letter typo (Jaro-Winkler >= 0.92)
        ("Ava", "Eva", 2),  # one edit, three letters
        ("Amy", "Ay", 2),  # a letter dropped from a short name
        ("Katrina", "Katrian", 2),
        ("Jon", "Joan", 2),
        ("Sean", "Shaun", 1),  # similar / same Metaphone
        ("Oliver", "Harriet", 0),
    ],
)
def test_given_name_levels(a: str, b: str, level: int) -> None:
    assert _given(a, b) == level
    assert _given(b, a) == level  # symmetric


def test_a_given_name_that_is_the_others_middle_name_is_similar() -> None:
    assert _given("Rose", "Emily", middles=("Rose",)) == 1
    assert given_level(given_forms(None), given_forms("Amelia")) is None


@pytest.mark.parametrize(
    ("a", "b", "former", "level"),
    [
        ("Hartley", "hartley", (), 4),
        ("Smith-Jones", "Smith Jones", (), 4),  # hyphen or space: one name
        ("Smith-Jones", "Jones", (), 3),  # a part of a double-barrelled name
        ("Khan", "Ahmed-Khan", (), 3),
        ("Brown", "Hartley", ("Hartley",), 3),  # a former name
        ("Hartley", "Hartlee", (), 2),  # typo
        ("Philips", "Fillips", (), 1),  # similar (same Metaphone)
        ("Macdonald", "Mcdonald", (), 2),
        ("Hartley", "Okafor", (), 0),
    ],
)
def test_family_name_levels(a: str, b: str, former: tuple[str, ...], level: int) -> None:
    assert _family(a, b, former) == level


def test_date_levels_exact_transposed_one_part_different() -> None:
    assert date_level((2015, 4, 3), (2015, 4, 3)) == 3
    assert date_level((2015, 4, 3), (2015, 3, 4)) == 2  # day and month swapped
    assert date_level((2015, 4, 3), (2015, 4, 13)) == 1  # the day alone differs
    assert date_level((2015, 4, 3), (2016, 4, 3)) == 1  # the year alone
    assert date_level((2015, 4, 3), (2016, 5, 3)) == 0
    assert date_level(None, (2015, 4, 3)) is None
    assert transposed((2015, 4, 3)) == (2015, 3, 4)
    assert transposed((2015, 4, 4)) is None  # nothing to swap
    assert transposed((2015, 4, 23)) is None  # day 23 is no month


def test_address_levels() -> None:
    home = postcode_forms("BS1 4DJ", "1 High Street", "100")
    assert address_level(home, postcode_forms("bs14dj", "1 High St.", "100")) == 4  # UPRN
    assert address_level(home, postcode_forms("BS1 4DJ", "1 High Street")) == 4
    assert address_level(home, postcode_forms("BS1 4DJ", "2 High Street")) == 3
    assert address_level(home, postcode_forms("BS1 4DX", "1 High Street")) == 2  # postcode typo
    assert address_level(home, postcode_forms("BS1 9ZZ", "9 Low Road")) == 1  # same district
    assert address_level(home, postcode_forms("M1 1AA", "9 Low Road")) == 0
    assert address_level(home, postcode_forms(None)) is None


def test_gender_parents_and_generic_levels() -> None:
    assert gender_level("F", "F") == 1
    assert gender_level("F", "M") == 0
    assert gender_level("U", "M") is None
    mum, dad = parent_key("Joan", "Wright"), parent_key("Shane", "Wright")
    assert parents_level((mum, dad), (dad,)) == 2
    assert parents_level((mum,), (parent_key("Joan", "Smith"),)) == 1  # her name changed
    assert parents_level((mum,), (parent_key("Alison", "Wright"),)) == 0
    assert parents_level((), (mum,)) is None
    assert exact_level("a", "a") == 1
    assert exact_level("", "a") is None
    assert string_level("stanley street", "stanley street") == 3
    assert string_level("stanley street", "stanlye street") == 2
    assert digits_level("5304218", "5304218") == 3
    assert digits_level("5304218", "5302418") == 2  # a transposition is one edit
    assert digits_level("5304218", "5304299") == 1
    assert digits_level("5304218", "1111111") == 0


def test_nickname_table_is_folded_and_shared_names_sit_in_several_groups() -> None:
    for group in NICKNAME_GROUPS:
        for name in group:
            assert name == fold(name)
    assert nickname_groups("alex") == {"alexander", "alexandra"}
    assert nickname_groups("harry") == {"harold", "henry"}
    assert nickname_groups("zebedee") == frozenset()


def _profile(**changes: Any) -> ChildProfile:
    base = query_profile(
        SourceIdentifiers(nhs_number=make_nhs(1)),
        date(2015, 4, 3),
        PersonName(given_name="Amelia", family_name="Hartley"),
        gender=Gender.FEMALE,
        address=Address(lines=("1 High Street",), postcode=Postcode("BS1 4DJ")),
        parents=(
            ParentCarer(
                name=PersonName(given_name="Joan", family_name="Hartley"),
                relationship=CarerRelationship.MOTHER,
                parental_responsibility=True,
            ),
        ),
    )
    return base._replace(directory_id="X", **changes)


def test_profiles_round_trip_through_storage_and_compare_exactly() -> None:
    p = _profile(shielded=True, shield_ground="other")
    assert loads_profile("X", dumps_profile(p)) == p
    assert compare_children(p, p) == (4, 4, 3, 4, 1, 2)


def test_blocking_finds_the_hard_cases_and_keeps_twins_together() -> None:
    record = _profile()
    index: BlockIndex[str] = BlockIndex()
    index.add("X", record_keys(record))
    hard = {
        "transposed date": _profile(dob=(2015, 3, 4)),
        "family name changed silently": _profile(family=family_forms("Brown")),
        "changed and moved (parents stay)": _profile(
            family=family_forms("Brown"), address=postcode_forms("M1 1AA", "9 Low Road")
        ),
        "nickname and moved": _profile(
            given=given_forms("Millie"), address=postcode_forms("M1 1AA", "9 Low Road")
        ),
        "wrong year": _profile(dob=(2016, 4, 3)),
        "wrong day": _profile(dob=(2015, 4, 13)),
        "twin": _profile(given=given_forms("Bella")),
        "gender not known, given name changed": _profile(
            gender="U", given=given_forms("Rose"), address=postcode_forms("M1 1AA")
        ),
    }
    for case, supply in hard.items():
        assert index.candidates(query_keys(supply)) == ["X"], case
    stranger = _profile(
        given=given_forms("Oliver"),
        family=family_forms("Okafor"),
        address=postcode_forms("M1 1AA"),
        parents=(),
    )
    assert index.candidates(query_keys(stranger)) == []


def test_block_index_remove_and_block_size_limit() -> None:
    index: BlockIndex[int] = BlockIndex(max_block=2)
    index.add(1, ["a", "b"])
    index.add(2, ["a"])
    index.add(3, ["a"])
    assert index.candidates(["a", "b"]) == [1]  # "a" holds three: skipped
    index.remove(1, ["a", "b"])
    assert index.candidates(["a"]) == [2, 3]
    assert len(index) == 1
