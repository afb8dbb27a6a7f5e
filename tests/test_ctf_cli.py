"""``contactpoint supply ctf`` end to end (issue #9 part 3): a CTF file to the
reference directory in one command; the second run sends only what changed; a
rejected operation is sent again next run; a malicious file sends nothing."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from contactpoint_sdk.cli.supply import add_supply_arguments
from contactpoint_sdk.errors import ContactPointError
from contactpoint_sdk.models import ChildRecord, SourceIdentifiers
from contactpoint_sdk.models.enums import ServiceKind
from contactpoint_sdk.reference_server import ReferenceDirectory, SupplyAgreement
from contactpoint_sdk.reference_server import entities as entities_module
from contactpoint_sdk.reference_server.entities import ALL_OPERATIONS
from contactpoint_sdk.supply.ctf import CtfReadResult, read_ctf
from contactpoint_sdk.supply.keys import KeyRing, SigningKey
from contactpoint_sdk.synthetic.ctf import write_samples

PASSPHRASE = "correct horse battery staple"
SUPPLIER = "school-8014002"
AGREEMENT = "school-8014002-agreement"


@attrs.frozen
class School:
    root: Path
    ring: Path
    key: SigningKey
    db: Path
    roster: Path

    def sample(self, name: str) -> Path:
        return self.root / "samples" / name

    def argv(self, sample: str, *extra: str, db: bool = True) -> list[str]:
        where = ["--reference-directory", str(self.db)] if db else []
        return [
            "ctf",
            str(self.sample(sample)),
            "--key-ring",
            str(self.ring),
            "--supplier-id",
            SUPPLIER,
            "--agreement-id",
            AGREEMENT,
            "--no-progress",
            *where,
            *extra,
        ]


@pytest.fixture
def school(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> School:
    monkeypatch.setenv("CONTACTPOINT_KEY_PASSPHRASE", PASSPHRASE)
    key = SigningKey.generate()
    ring = KeyRing.for_signing()
    ring.add(key, not_before=datetime.now(UTC) - timedelta(days=1))
    path = tmp_path / "school.ring"
    path.write_text(ring.to_encrypted_json(PASSPHRASE), encoding="utf-8")
    write_samples(tmp_path / "samples")
    return School(
        root=tmp_path,
        ring=path,
        key=key,
        db=tmp_path / "directory.db",
        roster=tmp_path / f"{SUPPLIER}.roster",
    )


def run(argv: list[str]) -> int:
    """As ``contactpoint supply ...`` once registered: errors are exit 1."""
    parser = argparse.ArgumentParser(prog="contactpoint supply")
    add_supply_arguments(parser)
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ContactPointError:
        return 1


def _roll(school: School, name: str) -> CtfReadResult:
    return read_ctf(school.sample(name))


def _records(school: School, result: CtfReadResult) -> dict[str, ChildRecord]:
    """UPN -> the directory's record, for every pupil of ``result``."""
    found: dict[str, ChildRecord] = {}
    with ReferenceDirectory(path=school.db) as directory:
        for child in result.children:
            directory_id = directory.service.find_by_identifier(SourceIdentifiers(upn=child.upn))
            if directory_id is not None:
                found[str(child.upn)] = directory.service.record(directory_id)
    return found


def test_a_ctf_goes_to_the_directory_in_one_command(
    school: School, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(school.argv("roll-autumn.xml")) == 0
    out = capsys.readouterr().out
    assert "sent: 30 (30 joiners, 0 changes, 0 leavers)" in out
    assert "accepted: 30; rejected: 0" in out
    autumn = _roll(school, "roll-autumn.xml")
    records = _records(school, autumn)
    assert len(records) == 30
    child = autumn.children[0]
    record = records[str(child.upn)]
    assert record.name == child.name
    assert record.address == child.address
    schools = [
        i
        for i in record.involvements
        if i.service is ServiceKind.EDUCATION_SETTING and i.ended_on is None
    ]
    assert [i.organisation.laestab for i in schools] == ["8014002"]
    # nothing printed names a child
    for c in autumn.children:
        assert str(c.upn) not in out
        assert f"{c.name.given_name} {c.name.family_name}" not in out


def test_the_second_run_sends_only_what_changed(
    school: School, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(school.argv("roll-autumn.xml")) == 0
    capsys.readouterr()
    assert run(school.argv("roll-autumn.xml")) == 0
    assert "sent: 0 (0 joiners, 0 changes, 0 leavers); unchanged, not sent: 30" in (
        capsys.readouterr().out
    )
    assert run(school.argv("roll-spring.xml")) == 0
    out = capsys.readouterr().out
    assert "sent: 8 (3 joiners, 3 changes, 2 leavers); unchanged, not sent: 25" in out
    assert "accepted: 8; rejected: 0" in out

    autumn, spring = _roll(school, "roll-autumn.xml"), _roll(school, "roll-spring.xml")
    now = {str(c.upn): c for c in spring.children}
    records = _records(school, autumn)
    leavers = [u for u in records if u not in now]
    assert len(leavers) == 2
    for upn in leavers:  # the school's involvement ended on the file's date
        (involvement,) = [
            i
            for i in records[upn].involvements
            if i.service is ServiceKind.EDUCATION_SETTING and i.organisation.laestab == "8014002"
        ]
        assert involvement.ended_on == spring.header.extract_date
    before = {str(c.upn): c for c in autumn.children}
    moved = [u for u in now if u in before and before[u].address != now[u].address]
    assert len(moved) == 2
    spring_records = _records(school, spring)
    assert len(spring_records) == 31
    for upn, child in now.items():
        assert spring_records[upn].address == child.address
        assert spring_records[upn].name == child.name


def test_a_rejected_operation_is_sent_again_next_run(
    school: School, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(school.argv("roll-autumn.xml")) == 0
    with monkeypatch.context() as patch:  # an agreement without leavers (SUP-4)
        patch.setattr(
            entities_module,
            "SupplyAgreement",
            lambda agreement_id: SupplyAgreement(
                agreement_id=agreement_id, operations=ALL_OPERATIONS - {"child_left_setting"}
            ),
        )
        capsys.readouterr()
        assert run(school.argv("roll-spring.xml")) == 1
        out = capsys.readouterr().out
    assert "accepted: 6; rejected: 2" in out
    assert "rejected: leaver 1: " in out
    assert "(SUP-4)" in out
    # the agreement fixed, the next run sends the two leavers and nothing else
    assert run(school.argv("roll-spring.xml")) == 0
    out = capsys.readouterr().out
    assert "sent: 2 (0 joiners, 0 changes, 2 leavers); unchanged, not sent: 31" in out
    assert "accepted: 2; rejected: 0" in out
    assert run(school.argv("roll-spring.xml")) == 0
    assert "sent: 0 " in capsys.readouterr().out


@pytest.mark.parametrize(
    "sample", ["malicious-xxe.xml", "malicious-billion-laughs.xml", "malicious-external-dtd.xml"]
)
def test_a_malicious_file_is_refused_and_nothing_is_sent(
    school: School, sample: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(school.argv(sample)) == 1
    out = capsys.readouterr().out
    assert "refused (SUP-5)" in out
    assert "ctf_dtd_forbidden" in out
    assert not school.db.exists()  # no directory was even opened
    assert not school.roster.exists()


def test_a_pupil_with_problems_is_reported_and_the_others_go(
    school: School, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(school.argv("roll-autumn.xml")) == 0
    capsys.readouterr()
    # the broken file holds 8 of the 30 pupils, one without a UPN: the 23 not
    # found are not taken for leavers, since the one may be any of them
    assert run(school.argv("broken-missing-upn.xml")) == 1
    out = capsys.readouterr().out
    assert "not sent: pupil 3: UPN: the UPN is missing (REC-1) [upn_missing]" in out
    assert "leavers withheld: 23" in out
    assert "0 leavers" in out
    assert "not sendable: 1" in out


def test_partial_files_send_no_leavers(school: School, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(school.argv("roll-autumn.xml")) == 0
    capsys.readouterr()
    assert run(school.argv("broken-unknown-elements.xml", "--partial")) == 0
    out = capsys.readouterr().out
    assert "leavers withheld: 22 (--partial" in out
    assert "note: pupil 2: Pupil/FavouriteSubject" in out


def test_the_roster_is_not_readable_as_plain_text(school: School) -> None:
    assert run(school.argv("roll-autumn.xml")) == 0
    blob = school.roster.read_bytes()
    for child in _roll(school, "roll-autumn.xml").children:
        assert str(child.upn).encode() not in blob
        assert child.name.family_name.encode() not in blob
        assert child.date_of_birth.isoformat().encode() not in blob
    # and it opens only with the key ring's passphrase
    assert run(school.argv("roll-autumn.xml")) == 0


def test_a_dry_run_sends_and_writes_nothing(
    school: School, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(school.argv("roll-autumn.xml", "--dry-run")) == 0
    out = capsys.readouterr().out
    assert "to send: 30 (30 joiners" in out
    assert "dry run: nothing sent" in out
    assert not school.db.exists()
    assert not school.roster.exists()


def test_over_https_on_loopback(school: School, capsys: pytest.CaptureFixture[str]) -> None:
    with ReferenceDirectory() as directory, directory.serve() as server:
        directory.register_supplier(
            SUPPLIER,
            "Morgan Park Academy MIS",
            signing_key=school.key,
            agreement=SupplyAgreement(agreement_id=AGREEMENT),
        )
        argv = school.argv(
            "roll-autumn.xml", "--directory", server.url, "--ca-cert", str(server.ca_file), db=False
        )
        assert run(argv) == 0
        assert "accepted: 30; rejected: 0" in capsys.readouterr().out
        for child in _roll(school, "roll-autumn.xml").children:
            assert directory.service.find_by_identifier(SourceIdentifiers(upn=child.upn))


def test_usage_errors_exit_2(school: School, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(school.argv("no-such-file.xml")) == 2
    argv = school.argv("roll-autumn.xml", "--ca-cert", str(school.ring))
    assert run(argv) == 2
    argv = school.argv("roll-autumn.xml")
    argv[argv.index(SUPPLIER)] = "not a valid id!"
    assert run(argv) == 2
    with pytest.raises(SystemExit) as caught:
        run(["ctf", str(school.sample("roll-autumn.xml"))])  # no key ring, no directory
    assert caught.value.code == 2


def test_a_wrong_passphrase_fails_before_reading(
    school: School, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTACTPOINT_KEY_PASSPHRASE", "wrong horse")
    assert run(school.argv("roll-autumn.xml")) == 1
    assert not school.db.exists()


# --- Stale files (SUP-8) -------------------------------------------------------------


def test_an_older_file_is_refused_whole_and_nothing_is_sent(
    school: School, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(school.argv("roll-autumn.xml")) == 0
    assert run(school.argv("roll-spring.xml")) == 0
    roster_before = school.roster.read_bytes()
    spring = _records(school, _roll(school, "roll-spring.xml"))
    capsys.readouterr()
    assert run(school.argv("roll-autumn.xml")) == 1
    out = capsys.readouterr().out
    assert (
        "roll-autumn.xml: refused (SUP-8): Header/DateTime 2025-10-01T09:00:00 is older than "
        "the last file accepted for school 8014002 (2026-01-12T09:00:00)"
    ) in out
    assert "[ctf_stale]" in out
    assert "sent:" not in out
    assert school.roster.read_bytes() == roster_before  # untouched
    assert _records(school, _roll(school, "roll-spring.xml")) == spring  # nothing sent
    # the same cut of the autumn roll, as a broken sample, is refused too
    assert run(school.argv("broken-missing-upn.xml", "--partial")) == 1
    assert "[ctf_stale]" in capsys.readouterr().out


def test_allow_older_sends_an_older_file_deliberately(
    school: School, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(school.argv("roll-autumn.xml")) == 0
    assert run(school.argv("roll-spring.xml")) == 0
    capsys.readouterr()
    assert run(school.argv("roll-autumn.xml", "--allow-older")) == 0
    out = capsys.readouterr().out
    assert "sent: 8 (2 joiners, 3 changes, 3 leavers)" in out
    # the mark stays at the newest file: spring is still accepted, and autumn
    # is refused again without the option
    assert run(school.argv("roll-autumn.xml")) == 1
    assert "[ctf_stale]" in capsys.readouterr().out
    assert run(school.argv("roll-spring.xml")) == 0
    assert "accepted: 8; rejected: 0" in capsys.readouterr().out


def test_the_same_file_again_is_not_stale(
    school: School, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(school.argv("roll-spring.xml")) == 0
    capsys.readouterr()
    assert run(school.argv("roll-spring.xml")) == 0  # equal DateTime: the same export
    assert "sent: 0 " in capsys.readouterr().out


def test_a_file_without_a_date_after_a_dated_one_is_refused(
    school: School, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(school.argv("roll-autumn.xml")) == 0
    text = school.sample("roll-spring.xml").read_text(encoding="utf-8")
    start, end = text.index("<DateTime>"), text.index("</DateTime>") + len("</DateTime>")
    school.sample("undated.xml").write_text(text[:start] + text[end:], encoding="utf-8")
    capsys.readouterr()
    assert run(school.argv("undated.xml")) == 1
    out = capsys.readouterr().out
    assert "refused (SUP-8): Header/DateTime is missing" in out
    assert run(school.argv("undated.xml", "--allow-older")) == 0


def test_a_dry_run_checks_staleness_but_records_nothing(
    school: School, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(school.argv("roll-autumn.xml")) == 0
    assert run(school.argv("roll-spring.xml", "--dry-run")) == 0
    capsys.readouterr()
    assert run(school.argv("roll-autumn.xml")) == 0  # spring was never accepted
    assert "sent: 0 " in capsys.readouterr().out


def test_a_roster_written_before_the_stale_check_still_opens() -> None:
    import json

    from contactpoint_sdk.supply.roster import Roster

    raw = json.dumps(
        {
            "format": "contactpoint-roster/1",
            "supplier_id": SUPPLIER,
            "last_sequence": 7,
            "schools": {},
        }
    ).encode()
    roster = Roster.from_json(raw)
    assert roster.files == {}
    roster.check_not_older("8014002", None)  # nothing accepted yet: any file goes
    moment = datetime(2026, 1, 12, 9, 0)
    roster.record_file("8014002", moment)
    roster.record_file("8014002", datetime(2025, 10, 1, 9, 0))  # only moves forward
    assert Roster.from_json(roster.to_json()).files == {"8014002": moment}
