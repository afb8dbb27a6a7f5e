"""The last-supplied roster (issue #9 part 2): diffing, encryption at rest, atomic writes."""

from __future__ import annotations

import io
import os
from datetime import date
from pathlib import Path

import attrs
import pytest

from contactpoint_sdk.supply.ctf import read_ctf
from contactpoint_sdk.supply.roster import (
    ROSTER_MAGIC,
    Roster,
    RosterEntry,
    RosterFile,
    RosterSequence,
    RosterUnreadable,
    diff,
    supplied_digest,
)
from contactpoint_sdk.synthetic.ctf import SAMPLE_AUTUMN, SyntheticSchool, ctf_bytes

PASSPHRASE = "correct horse battery staple"


def _entry(upn: str, digest: str = "d1") -> RosterEntry:
    return RosterEntry(
        upn=upn, date_of_birth=date(2015, 3, 4), started_on=date(2019, 9, 1), digest=digest
    )


def test_diff_finds_joiners_changes_and_leavers() -> None:
    previous = {u: _entry(u) for u in ("A", "B", "C", "D")}
    current = {"A": _entry("A"), "B": _entry("B", "d2"), "E": _entry("E")}
    result = diff(previous, current)
    assert result.joiners == ("E",)
    assert result.changes == ("B",)
    assert result.leavers == ("C", "D")
    assert result.unchanged == ("A",)
    assert result.to_send == 4


def test_a_pupil_present_but_unsendable_is_not_a_leaver() -> None:
    previous = {u: _entry(u) for u in ("A", "B")}
    result = diff(previous, {"A": _entry("A")}, present=["B"])
    assert result.leavers == ()
    assert diff(previous, {"A": _entry("A")}, leavers=False).leavers == ()


def test_only_accepted_operations_change_the_roster() -> None:
    roster = Roster(supplier_id="s-1")
    roster.apply_accepted("8012000", supplied=[_entry("A"), _entry("B")])
    roster.apply_accepted("8012000", supplied=[_entry("B", "d2")], left=["A"])
    assert roster.school("8012000") == {"B": _entry("B", "d2")}
    roster.apply_accepted("8012000", left=["B"])
    assert roster.schools == {}


def test_the_digest_ignores_the_ref_and_sees_a_change() -> None:
    roll = SyntheticSchool(4, today=SAMPLE_AUTUMN).roll(1)
    result = read_ctf(io.BytesIO(ctf_bytes(roll)))
    child = result.children[0]
    school = result.header.school
    one = child.supplied_child(ref="pupil-1", school=school, started_on=date(2025, 9, 1))
    two = child.supplied_child(ref="pupil-9", school=school, started_on=date(2025, 9, 1))
    assert supplied_digest(one) == supplied_digest(two)
    moved = attrs.evolve(one, address=attrs.evolve(one.address, lines=("1 Other Road",)))
    assert supplied_digest(moved) != supplied_digest(one)


def _roster_with_child_data() -> tuple[Roster, RosterEntry]:
    entry = RosterEntry(
        upn="B801200005001",
        date_of_birth=date(2016, 7, 14),
        started_on=date(2020, 9, 1),
        digest="ab" * 32,
    )
    roster = Roster(supplier_id="school-8012000", last_sequence=41)
    roster.apply_accepted("8012000", supplied=[entry])
    return roster, entry


def test_the_roster_file_round_trips_and_is_encrypted(tmp_path: Path) -> None:
    path = tmp_path / "school.roster"
    roster, entry = _roster_with_child_data()
    RosterFile(path, PASSPHRASE).save(roster)
    blob = path.read_bytes()
    assert blob.startswith(ROSTER_MAGIC)
    for plain in (b"B801200005001", b"801200005001", b"2016-07-14", b"8012000", b"school-8012000"):
        assert plain not in blob
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    loaded = RosterFile(path, PASSPHRASE).load("school-8012000")
    assert loaded.school("8012000") == {entry.upn: entry}
    assert loaded.last_sequence == 41
    # a fresh nonce every write: the same roster never gives the same bytes
    RosterFile(path, PASSPHRASE).save(roster)
    assert path.read_bytes() != blob


def test_a_missing_roster_is_empty_and_starts_sequences_where_asked(tmp_path: Path) -> None:
    roster = RosterFile(tmp_path / "none.roster", PASSPHRASE).load("s", first_sequence_after=99)
    assert roster.schools == {}
    assert roster.last_sequence == 99


@pytest.mark.parametrize("damage", ["passphrase", "tamper", "supplier", "garbage"])
def test_an_unreadable_roster_is_refused(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "school.roster"
    roster, _ = _roster_with_child_data()
    RosterFile(path, PASSPHRASE).save(roster)
    passphrase, supplier = PASSPHRASE, "school-8012000"
    if damage == "passphrase":
        passphrase = "wrong horse"
    elif damage == "tamper":
        blob = bytearray(path.read_bytes())
        blob[-20] ^= 1
        path.write_bytes(bytes(blob))
    elif damage == "supplier":
        supplier = "another-supplier"
    else:
        path.write_bytes(b"not a roster at all, just some bytes that are long enough")
    with pytest.raises(RosterUnreadable) as caught:
        RosterFile(path, passphrase).load(supplier)
    assert caught.value.code == "roster_unreadable"


def test_a_failed_write_leaves_the_old_roster_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "school.roster"
    roster, _ = _roster_with_child_data()
    file = RosterFile(path, PASSPHRASE)
    file.save(roster)
    before = path.read_bytes()

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    roster.apply_accepted("8012000", left=["B801200005001"])
    with pytest.raises(OSError, match="disk full"):
        file.save(roster)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["school.roster"]


def test_sequence_numbers_are_on_disk_before_use(tmp_path: Path) -> None:
    path = tmp_path / "school.roster"
    file = RosterFile(path, PASSPHRASE)
    roster = file.load("s", first_sequence_after=10)
    sequence = RosterSequence(file, roster)
    assert [sequence.next_sequence(), sequence.next_sequence()] == [11, 12]
    assert RosterFile(path, PASSPHRASE).load("s").last_sequence == 12
