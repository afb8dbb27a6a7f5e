"""Lifecycle jobs on the movable clock: archive, contact retention, destruction (RET-1..8)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from contactpoint_sdk.errors import NotPermitted, ReasonInvalid, ReasonRequired, RecordNotFound
from contactpoint_sdk.models import (
    ContactRetention,
    RetentionExtension,
    RetentionExtensionReason,
    ServiceKind,
)
from contactpoint_sdk.models.operations import ChildDied, ChildLeftEngland, InvolvementEnded
from contactpoint_sdk.models.views import FullRecordView
from contactpoint_sdk.policy.viewer import Purpose, Role, Viewer
from contactpoint_sdk.reference_server import DirectoryService
from contactpoint_sdk.reference_server.audit_log import MerkleAuditLog
from tests.test_server_core_support import (
    Source,
    clock_of,
    involvement,
    key_of,
    make_nhs,
    make_upn,
    new_directory,
    only_record_id,
    pupil,
    team,
    viewer,
)

ADULT = date(2008, 6, 15)  # 17 on the directory's first day; 18 on 15 June 2026


def _on(directory: DirectoryService, day: date) -> None:
    clock_of(directory).set(datetime(day.year, day.month, day.day, 11, 0, tzinfo=UTC))


def _reviewer(
    purpose: Purpose = Purpose.ARCHIVE_REVIEW, role: Role = Role.ARCHIVE_REVIEWER
) -> Viewer:
    return viewer(role, purpose=purpose, user="lscb-1", org="lscb:801")


def test_ret_1_a_record_is_archived_on_the_18th_birthday() -> None:
    directory = new_directory()
    Source(directory).send(pupil(born=ADULT))
    record_id = only_record_id(directory, pupil())

    _on(directory, date(2026, 6, 14))
    assert directory.run_jobs().archived == ()
    assert directory.record(record_id).directory_id == record_id

    _on(directory, date(2026, 6, 15))
    assert directory.run_jobs().archived == (record_id,)
    with pytest.raises(RecordNotFound):
        directory.record(record_id)
    with pytest.raises(RecordNotFound):
        directory.view(record_id, viewer())
    assert directory.counts() == {"live": 0, "archived": 1, "destroyed": 0}
    assert directory.find_by_identifier(pupil().identifiers) is None


def test_ret_2_a_consented_extension_keeps_the_record_to_the_25th_birthday() -> None:
    directory = new_directory()
    Source(directory).send(pupil(born=ADULT))
    record_id = only_record_id(directory, pupil())
    extension = RetentionExtension(
        reason=RetentionExtensionReason.LEAVING_CARE, consented_on=date(2026, 3, 1)
    )
    with pytest.raises(NotPermitted) as caught:
        directory.extend_retention(record_id, extension, viewer())
    assert caught.value.rule == "RET-2"
    directory.extend_retention(record_id, extension, team())

    _on(directory, date(2026, 6, 15))
    assert directory.run_jobs().archived == ()
    _on(directory, date(2033, 6, 14))
    assert directory.run_jobs().archived == ()
    _on(directory, date(2033, 6, 15))
    assert directory.run_jobs().archived == (record_id,)


def test_ret_3_a_record_is_archived_one_year_after_death() -> None:
    directory = new_directory()
    school = Source(directory)
    child = pupil()
    school.send(child)
    school.send(ChildDied(ref="d-1", child=key_of(child), died_on=date(2026, 2, 1)))
    record_id = only_record_id(directory, child)

    _on(directory, date(2027, 1, 31))
    assert directory.run_jobs().archived == ()
    _on(directory, date(2027, 2, 1))
    assert directory.run_jobs().archived == (record_id,)
    [event] = [e for e in directory.audit if e.action == "record_archived"]  # type: ignore[attr-defined]
    assert (event.code, event.rule) == ("one_year_after_death", "RET-3")


def test_ret_4_a_child_who_left_england_is_archived() -> None:
    directory = new_directory()
    school = Source(directory)
    child = pupil()
    school.send(child)
    record_id = only_record_id(directory, child)
    school.send(ChildLeftEngland(ref="l-1", child=key_of(child), determined_on=date(2026, 3, 1)))
    assert directory.run_jobs().archived == (record_id,)


def _files(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def test_ret_5_an_archived_record_is_destroyed_after_six_years_and_its_bytes_are_gone(
    tmp_path: Path,
) -> None:
    db = tmp_path / "directory.db"
    directory = new_directory(db)
    school = Source(directory)
    doomed = pupil(
        given="Zephyrine", family="Quillfeather", street="77 Vantablack Mews", born=ADULT
    )
    keeper = pupil(
        "row-2", given="Persephone", family="Underwood", upn=make_upn(2), nhs=make_nhs(2)
    )
    school.send(doomed, keeper)
    doomed_id = only_record_id(directory, doomed)
    assert b"Quillfeather" in _files(db)  # the check below would prove nothing otherwise

    _on(directory, date(2026, 6, 15))
    assert directory.run_jobs().archived == (doomed_id,)
    _on(directory, date(2032, 6, 14))
    assert directory.run_jobs().destroyed == ()
    assert isinstance(
        directory.read_archive(doomed_id, _reviewer(), reason="serious_case_review"), FullRecordView
    )

    _on(directory, date(2032, 6, 15))
    report = directory.run_jobs()
    assert report.destroyed == (doomed_id,)
    assert directory.counts() == {"live": 1, "archived": 0, "destroyed": 1}
    with pytest.raises(RecordNotFound):
        directory.read_archive(doomed_id, _reviewer(), reason="serious_case_review")
    contents = _files(db)
    for value in (b"Zephyrine", b"Quillfeather", b"Vantablack", str(make_nhs(1)).encode()):
        assert value not in contents, value
    assert b"Underwood" in contents  # the rest of the directory is still there
    wal = db.parent / (db.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    directory.close()

    reopened = new_directory(db)
    assert reopened.counts()["live"] == 1
    # A file-backed directory audits to a Merkle-tree log in its own file,
    # by identifier only: the destroyed child's name was never in it.
    assert isinstance(reopened.audit, MerkleAuditLog)
    audited = [entry.data for entry in reopened.audit.entries()]
    assert any(b"record_destroyed" in data for data in audited)
    assert not any(b"Quillfeather" in data for data in audited)
    assert b"Quillfeather" not in (tmp_path / "directory.audit.db").read_bytes()
    reopened.close()


def test_ret_7_contact_details_leave_the_record_one_year_after_the_involvement_ends() -> None:
    directory = new_directory()
    school = Source(directory)
    child = pupil(
        involvements=(
            involvement(),
            involvement(
                "SC-1", ServiceKind.SOCIAL_CARE, contact_retention=ContactRetention.EXTENDED
            ),
            involvement("Y-1", ServiceKind.YOUTH_OFFENDING_TEAM),
        )
    )
    school.send(child)
    school.send(
        *(
            InvolvementEnded(
                ref=f"e-{ref}", child=key_of(child), involvement_reference=ref,
                ended_on=date(2026, 2, 1),
            )
            for ref in ("SC-1", "Y-1")
        )
    )  # fmt: skip
    record_id = only_record_id(directory, child)

    def kept() -> list[str]:
        shown = directory.view(record_id, team())
        assert isinstance(shown, FullRecordView)
        return [i.reference for i in shown.record.involvements]

    _on(directory, date(2027, 1, 31))
    assert directory.run_jobs().contact_details_archived == 0
    assert kept() == ["s1:INV-1", "s1:SC-1", "s1:Y-1"]
    _on(directory, date(2027, 2, 1))
    assert directory.run_jobs().contact_details_archived == 1
    assert kept() == ["s1:INV-1", "s1:SC-1"]  # the specialist service keeps them longer
    _on(directory, date(2031, 2, 1))
    assert directory.run_jobs().contact_details_archived == 1
    assert kept() == ["s1:INV-1"]
    _on(directory, date(2033, 2, 1))  # six years after the first went to the archive
    assert directory.run_jobs().archived_contacts_destroyed == 1


def test_ret_6_the_archive_is_read_only_by_archive_reviewers_for_their_purpose() -> None:
    directory = new_directory()
    Source(directory).send(pupil(born=ADULT))
    record_id = only_record_id(directory, pupil())
    with pytest.raises(RecordNotFound):
        directory.read_archive(record_id, _reviewer(), reason="child_death_review")  # still live
    _on(directory, date(2026, 6, 15))
    directory.run_jobs()

    with pytest.raises(NotPermitted) as no_role:
        directory.read_archive(record_id, _reviewer(role=Role.HEAD_TEACHER))
    with pytest.raises(NotPermitted) as no_purpose:
        directory.read_archive(record_id, _reviewer(purpose=Purpose.PRACTICE))
    assert (no_role.value.rule, no_role.value.code) == ("RET-6", "archive_role_required")
    assert (no_purpose.value.rule, no_purpose.value.code) == ("RET-6", "archive_purpose_required")

    with pytest.raises(ReasonInvalid) as free_text:
        directory.read_archive(record_id, _reviewer(), reason="Amelia's case")
    assert (free_text.value.code, free_text.value.rule) == ("reason_unknown", "ACC-3")
    with pytest.raises(ReasonInvalid) as live_reason:
        directory.read_archive(record_id, _reviewer(), reason="assessment")
    assert live_reason.value.code == "reason_not_applicable"
    with pytest.raises(ReasonRequired):
        directory.read_archive(record_id, _reviewer())  # RET-6: no reason, no read
    shown = directory.read_archive(record_id, _reviewer(), reason="serious_case_review")
    assert isinstance(shown, FullRecordView)
    assert shown.record.directory_id == record_id
    reads = [e for e in directory.audit if e.action == "archive_read"]  # type: ignore[attr-defined]
    assert [(e.actor, e.code, e.rule) for e in reads] == [
        ("lscb-1", "serious_case_review", "RET-6")
    ]
    refused = [e for e in directory.audit if e.action == "archive_read_refused"]  # type: ignore[attr-defined]
    assert len(refused) == 6
    assert "Amelia" not in repr(refused)


def test_ret_8_a_late_job_never_keeps_a_record_past_its_destruction_date() -> None:
    directory = new_directory()
    Source(directory).send(pupil(born=ADULT))
    record_id = only_record_id(directory, pupil())
    _on(directory, date(2032, 6, 15))  # nobody ran the jobs for six years
    report = directory.run_jobs()
    assert (report.archived, report.destroyed) == ((record_id,), (record_id,))
    assert directory.counts() == {"live": 0, "archived": 0, "destroyed": 1}
