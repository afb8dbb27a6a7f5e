"""Security review fixes for CTF supply (M1, M2, M3, L1-L3, L5-L7, L10): each
test fails before its fix and passes after, and cites the rule it protects."""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from contactpoint_sdk.cli import keys as cli_keys
from contactpoint_sdk.cli.supply import LEAVER_FRACTION_LIMIT
from contactpoint_sdk.errors import ConfigurationError
from contactpoint_sdk.models import SourceIdentifiers
from contactpoint_sdk.models.enums import ServiceKind
from contactpoint_sdk.models.identifiers import Upn
from contactpoint_sdk.reference_server import ReferenceDirectory
from contactpoint_sdk.supply.ctf import (
    MAX_ELEMENT_TEXT,
    CtfRefused,
    iter_ctf,
    read_ctf,
)
from contactpoint_sdk.supply.roster import (
    ROSTER_MAGIC,
    Roster,
    RosterFile,
    RosterStale,
    RosterUnreadable,
)
from tests.test_ctf_cli import PASSPHRASE, SUPPLIER, School, run, school

__all__ = ["school"]  # the fixture, shared with test_ctf_cli

_PUPIL = re.compile(r"<Pupil>\s*<UPN>(\w+)</UPN>.*?</Pupil>\s*", re.S)


def _upns(text: str) -> list[str]:
    return [m.group(1) for m in _PUPIL.finditer(text)]


def _without(text: str, upns: set[str]) -> str:
    return _PUPIL.sub(lambda m: "" if m.group(1) in upns else m.group(0), text)


def _write(school: School, name: str, text: str) -> str:
    (school.root / "samples" / name).write_text(text, encoding="utf-8")
    return name


def _open_school_involvement(school: School, upn: str) -> bool:
    with ReferenceDirectory(path=school.db) as directory:
        found = directory.service.find_by_identifier(SourceIdentifiers(upn=Upn(upn)))
        assert found is not None
        record = directory.service.record(found)
    return any(
        i.service is ServiceKind.EDUCATION_SETTING and i.ended_on is None
        for i in record.involvements
    )


# --- M1: a restored older roster --------------------------------------------------------


def test_sup_8_a_restored_older_roster_is_stale_and_nothing_is_acted_on(
    school: School, capsys: pytest.CaptureFixture[str]
) -> None:
    autumn = school.sample("roll-autumn.xml").read_text(encoding="utf-8")
    spring = school.sample("roll-spring.xml").read_text(encoding="utf-8")
    joiner = next(u for u in _upns(spring) if u not in _upns(autumn))
    summer = _without(spring, {joiner}).replace("2026-01-12T09:00:00", "2026-04-20T09:00:00")
    _write(school, "roll-summer.xml", summer)

    assert run(school.argv("roll-autumn.xml")) == 0
    backup = school.root / "backup.roster"
    shutil.copy(school.roster, backup)
    assert run(school.argv("roll-spring.xml")) == 0
    shutil.copy(backup, school.roster)  # a backup restored
    capsys.readouterr()

    assert run(school.argv("roll-summer.xml")) == 1
    out = capsys.readouterr().out
    assert "[roster_stale]" in out
    assert "older than what the directory accepted from this supplier" in out
    assert _open_school_involvement(school, joiner)  # nothing was acted on
    # never retried or stepped past: every later run refuses at once
    assert run(school.argv("roll-summer.xml")) == 1
    assert "[roster_stale]" in capsys.readouterr().out
    assert RosterFile(school.roster, PASSPHRASE).load(SUPPLIER).stale_since is not None

    # recovery (docs/ctf.md): replay the exports since the roster's, the first
    # with --rebuild-roster; the joiner who left is then sent as a leaver
    assert run(school.argv("roll-spring.xml", "--rebuild-roster")) == 0
    assert "roster rebuilt" in capsys.readouterr().out
    assert run(school.argv("roll-summer.xml")) == 0
    assert "1 leavers" in capsys.readouterr().out
    assert not _open_school_involvement(school, joiner)


def test_sup_8_roster_stale_is_typed_and_the_mark_round_trips() -> None:
    roster = Roster(supplier_id=SUPPLIER)
    roster.check_not_stale()
    roster.mark_stale(datetime(2026, 5, 1, tzinfo=UTC))
    with pytest.raises(RosterStale) as caught:
        Roster.from_json(roster.to_json()).check_not_stale()
    assert caught.value.code == "roster_stale"
    assert caught.value.rule == "SUP-8"


def test_sup_8_rebuild_roster_needs_the_whole_roll(
    school: School, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(school.argv("roll-autumn.xml", "--rebuild-roster", "--partial")) == 2


# --- M2: a wrong or partial file ----------------------------------------------------------


def test_sup_8_a_partial_document_qualifier_sends_no_leavers(
    school: School, capsys: pytest.CaptureFixture[str]
) -> None:
    spring = school.sample("roll-spring.xml").read_text(encoding="utf-8")
    partial = spring.replace(
        "<DocumentQualifier>full</DocumentQualifier>",
        "<DocumentQualifier>partial</DocumentQualifier>",
    )
    _write(school, "spring-partial.xml", partial)
    assert run(school.argv("roll-autumn.xml")) == 0
    capsys.readouterr()
    assert run(school.argv("spring-partial.xml")) == 0
    out = capsys.readouterr().out
    assert "0 leavers" in out
    assert "leavers withheld: 2 (Header/DocumentQualifier is partial" in out


def test_sup_8_a_roll_that_shrank_is_refused_whole_unless_confirmed(
    school: School, capsys: pytest.CaptureFixture[str]
) -> None:
    autumn = school.sample("roll-autumn.xml").read_text(encoding="utf-8")
    upns = _upns(autumn)
    gone = set(upns[: int(len(upns) * LEAVER_FRACTION_LIMIT) + 1])  # just over the limit
    shrunk = _without(autumn, gone).replace("2025-10-01T09:00:00", "2025-11-01T09:00:00")
    _write(school, "shrunk.xml", shrunk)
    assert run(school.argv("roll-autumn.xml")) == 0
    capsys.readouterr()

    assert run(school.argv("shrunk.xml")) == 1
    out = capsys.readouterr().out
    assert "refused (SUP-8)" in out
    assert "[ctf_roll_shrank]" in out
    assert f"--confirm-leavers {len(gone)}" in out
    assert run(school.argv("shrunk.xml", "--confirm-leavers", str(len(gone) - 1))) == 1
    assert "[ctf_roll_shrank]" in capsys.readouterr().out
    assert all(_open_school_involvement(school, u) for u in gone)  # nothing sent

    assert run(school.argv("shrunk.xml", "--confirm-leavers", str(len(gone)))) == 0
    assert f"{len(gone)} leavers" in capsys.readouterr().out
    assert not any(_open_school_involvement(school, u) for u in gone)


def test_sup_8_the_shrink_refusal_names_the_pupil_data() -> None:
    from contactpoint_sdk.cli.supply import _check_leavers

    with pytest.raises(CtfRefused) as caught:
        _check_leavers(7, 30, "8014002", None)
    assert (caught.value.code, caught.value.path, caught.value.rule) == (
        "ctf_roll_shrank",
        "CTFpupilData",
        "SUP-8",
    )
    _check_leavers(6, 30, "8014002", None)  # 20%: allowed
    _check_leavers(7, 30, "8014002", 7)  # confirmed


def test_sup_8_a_dest_school_that_is_a_school_is_noted(
    school: School, capsys: pytest.CaptureFixture[str]
) -> None:
    autumn = school.sample("roll-autumn.xml").read_text(encoding="utf-8")
    transfer = autumn.replace("<Estab>LLLL</Estab>", "<Estab>4321</Estab>", 1)
    _write(school, "transfer.xml", transfer)
    assert run(school.argv("transfer.xml", "--dry-run")) == 0
    out = capsys.readouterr().out
    assert "Header/DestSchool" in out
    assert "[ctf_dest_school]" in out


# --- M3: a replaced UPN ----------------------------------------------------------------


def _replacement_upn(old: str) -> str:
    for serial in range(900, 999):
        body = old[1:10] + f"{serial:03d}"
        for letter in "ABCDEFGHJKLMNPQRTUVWXYZ":
            try:
                return str(Upn(letter + body))
            except ValueError:
                continue
    raise AssertionError("no replacement UPN")


def test_sup_8_a_replaced_upn_is_a_change_not_a_joiner_and_a_leaver(
    school: School, capsys: pytest.CaptureFixture[str]
) -> None:
    autumn = school.sample("roll-autumn.xml").read_text(encoding="utf-8")
    old = _upns(autumn)[0]
    new = _replacement_upn(old)
    text = autumn.replace(f"<UPN>{old}</UPN>", f"<UPN>{new}</UPN>", 1)
    text = text.replace("2025-10-01T09:00:00", "2025-11-01T09:00:00")
    text = re.sub(
        rf"(<UPN>{new}</UPN>.*?<BasicDetails>)",
        rf"\1<FormerUPN>{old}</FormerUPN>",
        text,
        count=1,
        flags=re.S,
    )
    _write(school, "new-upn.xml", text)
    assert run(school.argv("roll-autumn.xml")) == 0
    before = RosterFile(school.roster, PASSPHRASE).load(SUPPLIER).school("8014002")[old]
    capsys.readouterr()

    assert run(school.argv("new-upn.xml")) == 0
    out = capsys.readouterr().out
    assert "sent: 1 (0 joiners, 1 changes, 0 leavers)" in out
    roster = RosterFile(school.roster, PASSPHRASE).load(SUPPLIER).school("8014002")
    assert old not in roster
    assert roster[new].started_on == before.started_on
    assert _open_school_involvement(school, new)
    # and the next run sends nothing
    assert run(school.argv("new-upn.xml")) == 0
    assert "sent: 0 " in capsys.readouterr().out


# --- L1, L2, L3: the reader ----------------------------------------------------------------

_HEAD = (
    "<CTfile><Header><CTFversion>25.0</CTFversion><DateTime>{when}</DateTime>"
    "<SourceSchool><LEA>801</LEA><Estab>4002</Estab></SourceSchool></Header><CTFpupilData>"
)
_TAIL = "</CTFpupilData></CTfile>"


def _file(body: str = "", when: str = "2025-10-01T09:00:00") -> bytes:
    return (_HEAD.format(when=when) + body + _TAIL).encode("utf-8")


@pytest.mark.parametrize(
    "encoding", ["utf-32", "shift_jis", "utf-7", "no-such-encoding", "cp500", "iso-2022-jp"]
)
def test_sup_5_an_unsupported_encoding_is_refused_before_parsing(encoding: str) -> None:
    declaration = f'<?xml version="1.0" encoding="{encoding}"?>'.encode("ascii")
    with pytest.raises(CtfRefused) as caught:
        read_ctf(io.BytesIO(declaration + _file()))
    assert caught.value.code == "ctf_encoding_unsupported"


@pytest.mark.parametrize("encoding", ["UTF-8", "utf-16", "ISO-8859-1", "US-ASCII"])
def test_sup_5_the_supported_encodings_are_read(encoding: str) -> None:
    text = f'<?xml version="1.0" encoding="{encoding}"?>' + _file().decode("utf-8")
    data = text.encode("utf-16" if encoding == "utf-16" else "latin-1")
    assert read_ctf(io.BytesIO(data)).header.source.laestab == "8014002"


def test_sup_5_a_utf_32_byte_order_mark_is_refused() -> None:
    data = ('<?xml version="1.0"?>' + _file().decode("utf-8")).encode("utf-32")
    with pytest.raises(CtfRefused) as caught:
        read_ctf(io.BytesIO(data))
    assert caught.value.code == "ctf_encoding_unsupported"


def test_sup_5_stray_elements_under_the_pupil_data_are_dropped_and_noted_once() -> None:
    data = _file("<Junk><x>y</x></Junk>" * 500)
    with iter_ctf(io.BytesIO(data)) as stream:
        _ = stream.header
        assert list(stream) == []
        assert stream._pupil_data is not None
        assert len(stream._pupil_data) == 0  # nothing retained
        assert [n.path for n in stream.notes] == ["CTFpupilData/Junk"]


def test_sup_5_an_oversized_pupil_is_a_per_pupil_problem_and_the_others_go() -> None:
    autumn = Path("examples/ctf/roll-autumn.xml").read_text(encoding="utf-8")
    first = _upns(autumn)[0]
    huge = autumn.replace(
        f"<UPN>{first}</UPN>", f"<UPN>{first}</UPN><Junk>{'A' * (MAX_ELEMENT_TEXT + 1)}</Junk>", 1
    )
    result = read_ctf(io.BytesIO(huge.encode("utf-8")))
    bad = result.pupils[0]
    assert bad.child is None
    assert [p.code for p in bad.problems] == ["ctf_pupil_too_large"]
    assert str(bad.upn) == first  # on roll: not a leaver
    assert all(p.ok for p in result.pupils[1:])


def test_sup_5_a_deeply_nested_pupil_is_refused_per_pupil() -> None:
    depth = 30_000
    result = read_ctf(io.BytesIO(_file("<Pupil>" + "<a>" * depth + "</a>" * depth + "</Pupil>")))
    assert [p.code for p in result.pupils[0].problems] == ["ctf_pupil_too_large"]


def test_sup_8_a_date_time_more_than_a_day_ahead_is_refused() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with pytest.raises(CtfRefused) as caught:
        read_ctf(io.BytesIO(_file(when="2026-03-02T12:00:01")), now=now)
    assert (caught.value.code, caught.value.path, caught.value.rule) == (
        "ctf_date_time_future",
        "Header/DateTime",
        "SUP-8",
    )
    read_ctf(io.BytesIO(_file(when="2026-03-02T11:59:00")), now=now)  # within the day


# --- L5, L6: the roster file ------------------------------------------------------------------


def test_sup_5_the_roster_is_format_2_with_its_cost_authenticated(tmp_path: Path) -> None:
    path = tmp_path / "s.roster"
    RosterFile(path, PASSPHRASE).save(Roster(supplier_id="s", last_sequence=5))
    blob = path.read_bytes()
    assert blob.startswith(ROSTER_MAGIC)
    assert struct.unpack(">BBB", blob[8:11]) == (17, 8, 1)
    assert RosterFile(path, PASSPHRASE).load("s").last_sequence == 5
    lowered = bytearray(blob)
    lowered[8] = 15  # a weaker cost: the associated data no longer matches
    path.write_bytes(bytes(lowered))
    with pytest.raises(RosterUnreadable):
        RosterFile(path, PASSPHRASE).load("s")
    lowered[8] = 40  # out of range: refused before deriving
    path.write_bytes(bytes(lowered))
    with pytest.raises(RosterUnreadable, match="cost out of range"):
        RosterFile(path, PASSPHRASE).load("s")


def test_sup_5_a_format_1_roster_still_opens_and_is_rewritten_as_format_2(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.roster"
    salt, nonce = os.urandom(16), os.urandom(12)
    key = Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(PASSPHRASE.encode())
    plain = Roster(supplier_id="s", last_sequence=9).to_json()
    sealed = AESGCM(key).encrypt(nonce, plain, b"CPROSTR1" + salt)
    path.write_bytes(b"CPROSTR1" + salt + nonce + sealed)
    file = RosterFile(path, PASSPHRASE)
    roster = file.load("s")
    assert roster.last_sequence == 9
    file.save(roster)
    assert path.read_bytes().startswith(ROSTER_MAGIC)
    assert RosterFile(path, PASSPHRASE).load("s").last_sequence == 9


def test_sup_5_saving_the_roster_fsyncs_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[bool] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    RosterFile(tmp_path / "s.roster", PASSPHRASE).save(Roster(supplier_id="s"))
    assert synced == [False, True]  # the file, then (after the rename) the directory


# --- L7: the reference directory's files ---------------------------------------------------------


def test_sup_5_the_reference_directory_files_are_owner_only(school: School) -> None:
    assert run(school.argv("roll-autumn.xml")) == 0
    audit = school.db.with_suffix(".audit.db")
    for path in (school.db, audit):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


# --- L10: keys new never overwrites ---------------------------------------------------------------


def test_sup_5_keys_new_never_overwrites_a_ring_made_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "school.ring"
    path.write_text("someone else's ring", encoding="utf-8")
    monkeypatch.setattr(Path, "exists", lambda self: False)  # the check loses the race
    with pytest.raises(ConfigurationError, match="never overwritten"):
        cli_keys._new(path, "signing", PASSPHRASE, datetime.now(UTC))
    assert path.read_text(encoding="utf-8") == "someone else's ring"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["school.ring"]
