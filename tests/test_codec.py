"""The one wire codec: strict, complete problem reports, exact round trips."""

from __future__ import annotations

import contextlib
import copy
import json
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactpoint_sdk.errors import ValidationError
from contactpoint_sdk.models import ChildRecord, DirectoryId, ParentCarer, WireCodec
from tests.strategies import TODAY, child_records

codec = WireCodec()


def _decode(data: Any) -> ChildRecord:
    return codec.decode(data, ChildRecord, today=TODAY)


def _problems(data: Any) -> dict[str, tuple[str, str | None]]:
    with pytest.raises(ValidationError) as caught:
        _decode(data)
    return {p.path: (p.code, p.rule) for p in caught.value.problems}


@pytest.fixture
def wire() -> dict[str, Any]:
    record = ChildRecord(directory_id=DirectoryId.from_int(7), **_BASE)
    data: dict[str, Any] = json.loads(json.dumps(codec.encode(record)))
    return data


def _base() -> dict[str, Any]:
    from contactpoint_sdk.models import (
        Address,
        CarerRelationship,
        ContactDetails,
        Gender,
        Involvement,
        Organisation,
        OrganisationKind,
        PersonName,
        Postcode,
        ServiceKind,
        SourceIdentifiers,
        Upn,
    )

    return {
        "name": PersonName(given_name="Amelia", family_name="Okafor"),
        "gender": Gender.FEMALE,
        "date_of_birth": date(2015, 3, 1),
        "address": Address(lines=("1 High Street",), postcode=Postcode("BS1 4DJ")),
        "identifiers": SourceIdentifiers(upn=Upn("B801200005001")),
        "parents": (
            ParentCarer(
                name=PersonName(given_name="Grace", family_name="Okafor"),
                relationship=CarerRelationship.MOTHER,
                parental_responsibility=True,
                contact=ContactDetails(),
            ),
            ParentCarer(
                name=PersonName(given_name="Daniel", family_name="Okafor"),
                relationship=CarerRelationship.FATHER,
                parental_responsibility=True,
            ),
        ),
        "involvements": (
            Involvement(
                reference="gp-1",
                service=ServiceKind.GP_PRACTICE,
                organisation=Organisation(
                    name="Park Surgery", kind=OrganisationKind.GP_PRACTICE, ods_code="L81001"
                ),
                started_on=date(2015, 3, 2),
            ),
        ),
    }


_BASE = _base()


# --- REC-6: the wire has no place for case information -------------------------


def test_rec_6_unknown_field_refused_with_its_path(wire: dict[str, Any]) -> None:
    wire["parents"][1]["notes"] = "seen at A&E twice"
    with pytest.raises(ValidationError) as caught:
        _decode(wire)
    assert str(caught.value) == "parents[1].notes: unknown field (REC-6)"
    assert caught.value.problems[0].code == "unknown_field"


@pytest.mark.parametrize(
    ("where", "key"),
    [
        ((), "concern_flag"),
        (("name",), "nickname"),
        (("address",), "risk"),
        (("identifiers",), "sen_statement"),
        (("involvements", 0), "offence"),
        (("involvements", 0, "organisation"), "information_to_share"),
    ],
)
def test_rec_6_unknown_field_refused_anywhere(
    wire: dict[str, Any], where: tuple[Any, ...], key: str
) -> None:
    node: Any = wire
    for step in where:
        node = node[step]
    node[key] = True
    path = "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in where).lstrip(".")
    expected = f"{path}.{key}" if path else key
    assert _problems(wire) == {expected: ("unknown_field", "REC-6")}


# --- REC-1: identifiers and birth dates -----------------------------------------


def test_rec_1_wrong_upn_check_letter_named(wire: dict[str, Any]) -> None:
    wire["identifiers"]["upn"] = "H801200005001"
    with pytest.raises(ValidationError) as caught:
        _decode(wire)
    (problem,) = caught.value.problems
    assert problem.path == "identifiers.upn"
    assert problem.rule == "REC-1"
    assert "check letter" in problem.message
    assert "'B'" not in problem.message  # never a value: messages reach logs


def test_rec_1_wrong_directory_id_check_character(wire: dict[str, Any]) -> None:
    good = wire["directory_id"]
    last = good[-1]
    wire["directory_id"] = good[:-1] + ("1" if last != "1" else "2")
    problems = _problems(wire)
    assert set(problems) == {"directory_id"}


def test_rec_1_birth_date_in_future_refused(wire: dict[str, Any]) -> None:
    wire["date_of_birth"] = "2026-06-02"
    assert _problems(wire) == {"date_of_birth": ("date_of_birth_in_future", "REC-1")}


def test_rec_1_birth_date_today_accepted(wire: dict[str, Any]) -> None:
    wire["date_of_birth"] = TODAY.isoformat()
    wire["involvements"] = []
    assert _decode(wire).date_of_birth == TODAY


def test_ret_2_birth_date_25_years_ago_refused_day_before_accepted(wire: dict[str, Any]) -> None:
    wire["involvements"] = []
    wire["date_of_birth"] = "2001-06-01"  # 25th birthday is today
    assert _problems(wire) == {"date_of_birth": ("date_of_birth_too_old", "RET-2")}
    wire["date_of_birth"] = "2001-06-02"  # 25th birthday tomorrow
    assert _decode(wire).date_of_birth == date(2001, 6, 2)


def test_codec_clock_judges_birth_dates_when_no_today_given(wire: dict[str, Any]) -> None:
    from datetime import UTC, datetime

    from contactpoint_sdk.clock import MovableClock

    clock = MovableClock(datetime(2015, 2, 1, tzinfo=UTC))
    early = WireCodec(clock=clock)
    with pytest.raises(ValidationError, match="in the future"):
        early.decode(wire, ChildRecord)
    clock.set(datetime(2016, 1, 1, tzinfo=UTC))
    assert early.decode(wire, ChildRecord).date_of_birth == date(2015, 3, 1)


# --- every problem together -------------------------------------------------------


def test_problems_are_reported_together(wire: dict[str, Any]) -> None:
    wire["parents"][1]["notes"] = "x"
    wire["date_of_birth"] = "2031-01-01"
    wire["identifiers"]["upn"] = "H801200005001"
    wire["involvements"][0]["lead_professional"] = "yes"
    wire["gender"] = "X"
    del wire["name"]["family_name"]
    problems = _problems(wire)
    assert problems == {
        "parents[1].notes": ("unknown_field", "REC-6"),
        "date_of_birth": ("date_of_birth_in_future", "REC-1"),
        "identifiers.upn": ("upn_check_letter", "REC-1"),
        "involvements[0].lead_professional": ("wrong_type", None),
        "gender": ("unknown_value", None),
        "name.family_name": ("missing_field", None),
    }


def test_cross_field_problems_reported_with_paths(wire: dict[str, Any]) -> None:
    wire["involvements"][0]["ended_on"] = "2015-01-01"
    wire["involvements"][0]["reference"] = " spaced"
    problems = _problems(wire)
    assert problems == {
        "involvements[0].reference": ("reference_invalid", None),
        "involvements[0].ended_on": ("date_order", None),
    }


# --- strict types -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "code"),
    [
        (("involvements", 0, "lead_professional"), 1, "wrong_type"),
        (("involvements", 0, "lead_professional"), "true", "wrong_type"),
        (("address", "lines"), "1 High Street", "wrong_type"),
        (("address", "lines"), {"0": "x"}, "wrong_type"),
        (("name", "given_name"), 5, "wrong_type"),
        (("name", "given_name"), None, "wrong_type"),
        (("date_of_birth",), "2015-3-1", "date_invalid"),
        (("date_of_birth",), "20150301", "date_invalid"),
        (("date_of_birth",), "2015-02-30", "date_invalid"),
        (("gender",), "male", "unknown_value"),
        (("parents",), {}, "wrong_type"),
        (("identifiers",), [], "wrong_type"),
    ],
)
def test_wrong_types_refused_not_coerced(
    wire: dict[str, Any], path: tuple[Any, ...], value: Any, code: str
) -> None:
    node: Any = wire
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    problems = _problems(wire)
    dotted = "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in path).lstrip(".")
    assert problems[dotted][0] == code


def test_carer_union_needs_a_known_type_tag(wire: dict[str, Any]) -> None:
    del wire["parents"][0]["type"]
    wire["parents"][1]["type"] = "neighbour"
    assert _problems(wire) == {
        "parents[0].type": ("missing_field", None),
        "parents[1].type": ("unknown_value", None),
    }


def test_local_authority_carer_round_trips_with_its_tag(wire: dict[str, Any]) -> None:
    wire["parents"].append({"type": "local_authority", "la_code": "801", "name": "Bristol CC"})
    record = _decode(wire)
    assert record.parents[2].__class__.__name__ == "LocalAuthorityCarer"
    assert codec.encode(record)["parents"][2]["type"] == "local_authority"


def test_datetime_without_offset_refused() -> None:
    from contactpoint_sdk.models import Shield

    with pytest.raises(ValidationError) as caught:
        codec.decode(
            {"requested_at": "2026-01-01T10:00:00", "ground": "other", "requested_by": "u"},
            Shield,
        )
    assert caught.value.problems[0].code == "datetime_invalid"


# --- properties -------------------------------------------------------------------


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(child_records())
def test_rec_1_encoded_record_decodes_to_itself(record: ChildRecord) -> None:
    text = json.dumps(codec.encode(record))
    assert _decode(json.loads(text)) == record


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300)
@given(json_values)
def test_junk_raises_only_the_codecs_error(junk: Any) -> None:
    with contextlib.suppress(ValidationError):
        codec.decode(junk, ChildRecord)
    with contextlib.suppress(ValidationError):
        codec.decode_view(junk)
    with contextlib.suppress(ValidationError):
        codec.decode_operation(junk)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(child_records(), st.data())
def test_junk_grafted_into_a_valid_record_raises_only_validation_error(
    record: ChildRecord, data: st.DataObject
) -> None:
    wire: Any = json.loads(json.dumps(codec.encode(record)))
    node = wire
    parent: Any = None
    key: Any = None
    for _ in range(data.draw(st.integers(0, 4))):
        if isinstance(node, dict) and node:
            key = data.draw(st.sampled_from(sorted(node)))
        elif isinstance(node, list) and node:
            key = data.draw(st.integers(0, len(node) - 1))
        else:
            break
        parent, node = node, node[key]
    junk = data.draw(json_values)
    if parent is None:
        wire = junk
    else:
        parent[key] = copy.deepcopy(junk)
    with contextlib.suppress(ValidationError):
        _decode(wire)


def test_docs_models_reference_is_generated_from_the_code() -> None:
    from pathlib import Path

    from contactpoint_sdk.models.reference import BEGIN_MARK, END_MARK, render_markdown

    doc = (Path(__file__).parent.parent / "docs" / "models.md").read_text(encoding="utf-8")
    table = doc[doc.index(BEGIN_MARK) + len(BEGIN_MARK) : doc.index(END_MARK)]
    assert table.strip() == render_markdown().strip(), (
        "docs/models.md is stale: run `python -m contactpoint_sdk.models.reference --write`"
    )
