"""The CTF reader (issue #9 part 1): round trips, per-pupil problems, refusals."""

from __future__ import annotations

import io
import tracemalloc
import xml.etree.ElementTree as ET
from datetime import date, datetime
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactpoint_sdk.errors import ContactPointError
from contactpoint_sdk.models import (
    CarerRelationship,
    ChildRecord,
    Organisation,
    OrganisationKind,
    ParentCarer,
)
from contactpoint_sdk.models.identifiers import upn_check_letter
from contactpoint_sdk.supply.ctf import (
    CtfRefused,
    CtfUnsafe,
    iter_ctf,
    read_ctf,
)
from contactpoint_sdk.synthetic.ctf import (
    BROKEN_POSITIONS,
    SAMPLE_AUTUMN,
    RollPupil,
    SchoolRoll,
    SyntheticSchool,
    broken_variants,
    ctf_bytes,
    ctf_document,
    expected_child,
)

from .strategies import child_records

SCHOOL = Organisation(
    name="Hillside Primary School",
    kind=OrganisationKind.SCHOOL,
    urn="100001",
    laestab="8012000",
)


def _roll(seed: int = 11, size: int = 8) -> SchoolRoll:
    return SyntheticSchool(seed, today=SAMPLE_AUTUMN).roll(size)


def _spoil(roll: SchoolRoll, position: int, path: str, text: str | None) -> bytes:
    """The roll's CTF with one pupil's element at ``path`` set to ``text``
    (``None``: removed)."""
    root = ctf_document(roll)
    data = root.find("CTFpupilData")
    assert data is not None
    pupil = data.findall("Pupil")[position - 1]
    parent_path, _, name = path.rpartition("/")
    parent = pupil.find(parent_path) if parent_path else pupil
    assert parent is not None
    element = parent.find(name)
    if text is None:
        assert element is not None
        parent.remove(element)
    else:
        if element is None:
            element = ET.SubElement(parent, name)
        element.text = text
    spoilt: bytes = ET.tostring(root, encoding="utf-8")
    return spoilt


# --- Round trips: synthetic -> CTF XML -> read -> the same children ----------------


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_round_trip_synthetic_roll(seed: int) -> None:
    roll = SyntheticSchool(seed, today=SAMPLE_AUTUMN).roll(4)
    result = read_ctf(io.BytesIO(ctf_bytes(roll)))
    assert result.header.source.laestab == roll.school.laestab
    assert result.header.school.urn == roll.school.urn
    assert [p.position for p in result.pupils] == [1, 2, 3, 4]
    assert not result.failed
    assert not result.notes
    for pupil, read in zip(roll.pupils, result.pupils, strict=True):
        child = read.child
        assert child is not None
        assert child == expected_child(pupil)
        # what CTF carries comes back exactly as the generator made it
        original = pupil.child
        assert child.name == original.name
        assert child.date_of_birth == original.date_of_birth
        assert child.gender == original.gender
        assert child.address == original.address
        assert child.upn == original.identifiers.upn
        assert child.entry_date == pupil.entry_date


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(records=st.lists(child_records(), min_size=1, max_size=3))
def test_round_trip_any_record(records: list[ChildRecord]) -> None:
    """Arbitrary valid records (names with accents and apostrophes, several
    address shapes, every relationship and phone kind) survive the trip as far
    as CTF can carry them."""
    with_upn = [r for r in records if r.identifiers.upn is not None]
    seen: set[str] = set()
    unique = []
    for r in with_upn:
        if str(r.identifiers.upn) not in seen:
            seen.add(str(r.identifiers.upn))
            unique.append(r)
    if not unique:
        return
    roll = SchoolRoll(
        school=SCHOOL,
        created_at=datetime(2026, 3, 2, 9, 0),
        pupils=tuple(RollPupil(child=r, entry_date=r.date_of_birth) for r in unique),
    )
    result = read_ctf(io.BytesIO(ctf_bytes(roll)))
    assert [p.problems for p in result.pupils] == [()] * len(unique)
    assert [p.child for p in result.pupils] == [expected_child(p) for p in roll.pupils]


def test_supplied_child_adds_the_school_involvement() -> None:
    roll = _roll(size=1)
    result = read_ctf(io.BytesIO(ctf_bytes(roll)))
    child = result.pupils[0].child
    assert child is not None
    op = child.supplied_child(
        ref="pupil-1", school=result.header.school, started_on=date(2025, 9, 1)
    )
    (involvement,) = op.involvements
    assert involvement.organisation.laestab == roll.school.laestab
    assert involvement.organisation.urn == roll.school.urn
    assert involvement.reference == f"EDU-{roll.school.urn}-20250901"
    assert op.identifiers.upn == roll.pupils[0].child.identifiers.upn


# --- Broken samples: the right problem at the right position; the others go --------


def test_missing_upn_fails_that_pupil_only() -> None:
    roll = _roll()
    result = read_ctf(io.BytesIO(broken_variants(roll)["missing-upn"]))
    position = BROKEN_POSITIONS["missing-upn"]
    (failed,) = result.failed
    assert failed.position == position
    assert [(p.path, p.code, p.rule) for p in failed.problems] == [("UPN", "upn_missing", "REC-1")]
    assert failed.upn is None
    assert len(result.children) == len(roll.pupils) - 1


def test_bad_check_letter_fails_that_pupil_only() -> None:
    roll = _roll()
    result = read_ctf(io.BytesIO(broken_variants(roll)["bad-check-letter"]))
    (failed,) = result.failed
    assert failed.position == BROKEN_POSITIONS["bad-check-letter"]
    assert [(p.path, p.code, p.rule) for p in failed.problems] == [
        ("UPN", "upn_check_letter", "REC-1")
    ]
    assert len(result.children) == len(roll.pupils) - 1
    # the message never quotes the pupil's UPN (logs carry no child data)
    upn = str(roll.pupils[failed.position - 1].child.identifiers.upn)
    assert upn[1:] not in failed.problems[0].message


def test_unknown_elements_are_notes_not_failures() -> None:
    roll = _roll()
    result = read_ctf(io.BytesIO(broken_variants(roll)["unknown-elements"]))
    assert not result.failed
    assert len(result.children) == len(roll.pupils)
    found = {(n.position, n.path, n.code) for n in result.notes}
    assert found == {
        (None, "Header/ExportedByPlugin", "ctf_unknown_element"),
        (2, "Pupil/FavouriteSubject", "ctf_unknown_element"),
        (4, "Contacts/Contact[1]/PreferredContactTime", "ctf_unknown_element"),
    }
    # the SEN history block is case information: skipped unread, not even noted (REC-6)
    assert not any("SEN" in n.path for n in result.notes)
    # a note quotes no value from the file
    assert not any("Art" in str(n) or "evenings" in str(n) for n in result.notes)


def _pupil_with_phone(roll: SchoolRoll) -> int:
    """The position of the first pupil whose first contact has a phone."""
    for i, pupil in enumerate(roll.pupils, start=1):
        first = pupil.child.parents[0] if pupil.child.parents else None
        if isinstance(first, ParentCarer) and first.contact.phones:
            return i
    raise AssertionError("no pupil with a phone")


@pytest.mark.parametrize(
    ("path", "text", "expected"),
    [
        ("DOB", "2015-02-30", ("DOB", "dob_invalid", "REC-1")),
        ("DOB", None, ("DOB", "dob_missing", "REC-1")),
        ("Sex", "X", ("Sex", "gender_invalid", "REC-1")),
        ("Surname", "Sm1th", ("Surname", "name_invalid", "REC-1")),
        ("Forename", None, ("Forename", "name_missing", "REC-1")),
        ("Address/PostCode", "ZZ99 3VZ", ("Address/PostCode", "postcode_pseudo", "REC-1")),
        (
            "Contacts/Contact/Phones/Phone/PhoneNo",
            "call me",
            ("Contacts/Contact[1]/Phones/Phone[1]/PhoneNo", "phone_invalid", "REC-2"),
        ),
        (
            "Contacts/Contact/Surname",
            None,
            ("Contacts/Contact[1]/Surname", "name_missing", "REC-2"),
        ),
        (
            "Contacts/Contact/Responsibility",
            "perhaps",
            ("Contacts/Contact[1]/Responsibility", "boolean_invalid", "REC-2"),
        ),
        (
            "SchoolHistory/School/EntryDate",
            "1990-01-01",
            ("SchoolHistory/School[1]/EntryDate", "date_order", "REC-3"),
        ),
    ],
)
def test_field_problems_name_the_position_and_the_field(
    path: str, text: str | None, expected: tuple[str, str, str]
) -> None:
    roll = _roll(seed=3)
    position = _pupil_with_phone(roll)
    result = read_ctf(io.BytesIO(_spoil(roll, position, path, text)))
    (failed,) = result.failed
    assert failed.position == position
    assert (failed.problems[0].path, failed.problems[0].code, failed.problems[0].rule) == expected
    assert len(result.children) == len(roll.pupils) - 1
    if text is not None:
        assert all(text not in p.message for p in failed.problems)


def test_a_duplicate_upn_fails_the_second_pupil() -> None:
    roll = _roll()
    first_upn = str(roll.pupils[0].child.identifiers.upn)
    result = read_ctf(io.BytesIO(_spoil(roll, 2, "UPN", first_upn)))
    (failed,) = result.failed
    assert failed.position == 2
    assert failed.problems[-1].code == "upn_duplicate"


def test_contacts_who_are_not_parents_or_carers_are_not_supplied() -> None:
    roll = _roll(seed=5, size=2)
    root = ctf_document(roll)
    pupil = root.findall("CTFpupilData/Pupil")[0]
    contacts = pupil.find("Contacts")
    assert contacts is not None
    for code, responsibility in (("DOC", "false"), ("CHM", "true"), ("PAR", "true")):
        contact = ET.SubElement(contacts, "Contact")
        for tag, text in (
            ("Surname", "Ward"),
            ("Forename", "Alex"),
            ("Gender", "F"),
            ("Relationship", code),
            ("Responsibility", responsibility),
        ):
            ET.SubElement(contact, tag).text = text
    result = read_ctf(io.BytesIO(ET.tostring(root)))
    child = result.pupils[0].child
    assert child is not None
    added = [
        p for p in child.parents if isinstance(p, ParentCarer) and p.name.family_name == "Ward"
    ]
    # the doctor is not a carer; the childminder holds parental responsibility
    # (supplied as other_carer); PAR with Gender F is a mother
    assert [p.relationship for p in added] == [
        CarerRelationship.OTHER_CARER,
        CarerRelationship.MOTHER,
    ]


def test_older_files_gender_and_a_namespace_are_read() -> None:
    roll = _roll(size=2)
    text = ctf_bytes(roll).decode()
    text = text.replace("<Sex>", "<Gender>").replace("</Sex>", "</Gender>")
    text = text.replace("<CTfile>", '<CTfile xmlns="http://www.dcsf.gov.uk/schemas/cbds">')
    result = read_ctf(io.BytesIO(text.encode()))
    assert not result.failed
    assert [c.upn for c in result.children] == [p.child.identifiers.upn for p in roll.pupils]


def test_an_unknown_version_is_read_with_a_note() -> None:
    roll = _roll(size=1)
    result = read_ctf(io.BytesIO(ctf_bytes(roll, version="31.0")))
    assert len(result.children) == 1
    assert [n.code for n in result.notes] == ["ctf_version_unknown"]


# --- Refused whole -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["malicious-xxe", "malicious-billion-laughs", "malicious-external-dtd"]
)
def test_malicious_files_are_refused_before_any_pupil(name: str) -> None:
    data = broken_variants(_roll())[name]
    produced: list[object] = []
    with pytest.raises(CtfUnsafe) as caught, iter_ctf(io.BytesIO(data)) as stream:
        produced.extend(stream)
    assert produced == []
    assert caught.value.rule == "SUP-5"
    assert caught.value.code == "ctf_dtd_forbidden"
    assert isinstance(caught.value, ContactPointError)


def test_an_external_entity_is_never_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("Hartley")
    roll = _roll(size=1)
    clean = ctf_bytes(roll).decode()
    head, _, body = clean.partition("\n")
    doctype = f'<!DOCTYPE CTfile [<!ENTITY s SYSTEM "file://{secret}">]>\n'
    body = body.replace("<Surname>", "<Surname>&s;", 1)
    with pytest.raises(CtfUnsafe):
        read_ctf(io.BytesIO((head + "\n" + doctype + body).encode()))


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda t: t[: len(t) // 2], "ctf_malformed"),
        (lambda t: t.replace("CTfile", "Roster"), "ctf_not_a_ctf"),
        (lambda t: t.replace("<LEA>", "<LEAX>").replace("</LEA>", "</LEAX>"), "ctf_header_invalid"),
    ],
)
def test_unreadable_files_are_refused_whole(mutate: object, code: str) -> None:
    text = ctf_bytes(_roll(size=3)).decode()
    assert callable(mutate)
    with pytest.raises(CtfRefused) as caught:
        read_ctf(io.BytesIO(mutate(text).encode()))
    assert caught.value.code == code
    assert not isinstance(caught.value, CtfUnsafe)


def test_a_path_is_read_and_closed(tmp_path: Path) -> None:
    path = tmp_path / "roll.xml"
    path.write_bytes(ctf_bytes(_roll(size=2)))
    assert len(read_ctf(path).children) == 2
    with pytest.raises(CtfRefused) as caught:
        read_ctf(tmp_path / "missing.xml")
    assert caught.value.code == "ctf_unreadable"


# --- Streaming: memory stays flat ------------------------------------------------------


def _big_file(path: Path, pupils: int) -> None:
    roll = _roll(size=1)
    one = ctf_bytes(roll).decode()
    head, _, rest = one.partition("<Pupil>")
    pupil, _, tail = rest.partition("</Pupil>")
    upn = str(roll.pupils[0].child.identifiers.upn)
    with path.open("w", encoding="utf-8") as out:
        out.write(head)
        for i in range(pupils):
            body = f"8012000{i:05d}"
            out.write("<Pupil>" + pupil.replace(upn, upn_check_letter(body) + body) + "</Pupil>")
        out.write(tail)


def test_memory_stays_flat_on_a_long_file(tmp_path: Path) -> None:
    path = tmp_path / "long.xml"
    _big_file(path, 3_000)
    size = path.stat().st_size
    count = 0
    tracemalloc.start()
    try:
        with iter_ctf(path) as stream:
            for result in stream:
                count += result.ok
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 3_000
    assert size > 5_000_000
    assert peak < size / 5  # a whole tree would be several times the file


def test_a_pupil_result_is_attrs_frozen() -> None:
    result = read_ctf(io.BytesIO(ctf_bytes(_roll(size=1))))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        result.pupils[0].position = 2  # type: ignore[misc]
