"""Lifecycle jobs on the directory's clock (RET-1..RET-8).

:meth:`LifecycleJobs.run` does, in order, on the clock's UK date:

1. **Contact details (RET-7).** For each live record with an involvement
   whose contact details are due for archive
   (:func:`~contactpoint_sdk.policy.lifecycle.contact_details_kept_until`:
   one year after it ended, five for an extended specialist or targeted
   service), the involvement leaves the live record and moves to the
   contact archive, kept six years (RET-5) then destroyed.
2. **Archive (RET-1..RET-4).** Each live record whose archive date has come
   (:func:`~contactpoint_sdk.policy.lifecycle.lifecycle`: 18th birthday, the
   RET-2 extension's birthday, one year after death, the day the child was
   found to have left England) is archived. Its ``archived_on`` is the date
   the rules say it left, not the day the job noticed: a job run late never
   keeps a record past its RET-5 date. An archived record is no longer found
   by look-ups; only RET-6 archive reads see it.
3. **Destruction (RET-5).** Each archived record six years past its
   ``archived_on`` is deleted with every row about it (contributions,
   involvements, archived contact details, identifier index entries, held
   supplies and queue items), and archived contact details past their date
   too; then the store is purged (WAL checkpointed and truncated, with
   ``secure_delete`` on), so nothing of it can be recovered from the
   database files. Receipts and audit events remain: they never held child
   data. A record merged into this one (:mod:`.linkage_merge`: retired,
   state ``"merged"``) is destroyed with it, in the same transaction, and so
   is every merge naming either; a retired record is never archived or
   destroyed on its own (the jobs look at live and archived rows only).

4. **Merge snapshots (SUP-7, RET-7).** A merge keeps the survivor's
   earlier contributions (child data) only while it can be undone:
   ``merge_undo_days`` after the merge the snapshot is deleted
   (:meth:`~.linkage_merge.RecordMerger.expire_snapshots`), leaving the
   merge's identifier, the two directory identifiers, who and when; each is
   audited as ``merge_snapshot_expired`` (merge identifier only).

The stored archive date of a live record is a lower bound (a RET-2 extension
whose consent is dated in the future does not count yet), so the job
re-checks each candidate with the full rules and moves its date on if it is
not yet due.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Protocol

import attrs

from contactpoint_sdk.models.identifiers import DirectoryId
from contactpoint_sdk.policy.lifecycle import (
    LifecycleState,
    add_years,
    contact_details_kept_until,
    lifecycle,
)
from contactpoint_sdk.policy.settings import PolicySettings
from contactpoint_sdk.reference_server.audit import AuditEvent
from contactpoint_sdk.reference_server.entities import JobReport
from contactpoint_sdk.reference_server.records import RecordKeeper
from contactpoint_sdk.reference_server.store import ARCHIVED, ArchivedContactRow, Store

__all__ = ["DIRECTORY_ACTOR", "LifecycleJobs", "MergeLedger"]

#: The audit actor of the directory's own jobs.
DIRECTORY_ACTOR = "directory"


class MergeLedger(Protocol):
    """The merges the jobs must destroy with a record (RET-5); a
    :class:`~.linkage_merge.RecordMerger`."""

    def absorbed_by(self, directory_id: DirectoryId | str) -> Sequence[DirectoryId]:
        """The retired records that live in this one."""
        ...

    def forget(self, directory_id: DirectoryId | str) -> int:
        """Delete every merge naming the record."""
        ...

    def expire_snapshots(self, merged_before: datetime) -> Sequence[str]:
        """Delete the snapshots of merges made before then; their IDs."""
        ...


class LifecycleJobs:
    """Runs the RET jobs over the store (module notes). ``merges``: the
    directory's merges, if it keeps any (a SQLite store)."""

    def __init__(
        self,
        store: Store,
        keeper: RecordKeeper,
        settings: PolicySettings,
        merges: MergeLedger | None = None,
    ) -> None:
        self.store = store
        self.keeper = keeper
        self.settings = settings
        self.merges = merges

    def run(self, *, now: datetime, today: date) -> tuple[JobReport, list[AuditEvent]]:
        events: list[AuditEvent] = []
        iso = today.isoformat()
        keep = self.settings.archive_keep_years
        contacts = 0
        archived: list[DirectoryId] = []
        with self.store.transaction():
            for directory_id in self.store.due_for_contact_archive(iso):
                contacts += self._archive_contacts(
                    directory_id, now=now, today=today, events=events
                )
            for directory_id in self.store.due_for_archive(iso):
                row = self.store.get_child(directory_id)
                if row is None:  # pragma: no cover - listed a moment ago
                    continue
                record = self.keeper.record_of(row)
                status = lifecycle(record, today, settings=self.settings)
                if status.state is LifecycleState.DUE_FOR_ARCHIVE:
                    left_on = status.archive_due_on
                    self.store.put_child(
                        attrs.evolve(
                            row,
                            state=ARCHIVED,
                            archived_on=left_on.isoformat(),
                            destroy_due_on=add_years(left_on, keep).isoformat(),
                            updated_at=now.isoformat(),
                        )
                    )
                    archived.append(record.directory_id)
                    events.append(
                        AuditEvent(
                            at=now,
                            action="record_archived",
                            actor=DIRECTORY_ACTOR,
                            directory_id=directory_id,
                            code=status.archive_reason.value,
                            rule=status.archive_reason.rule,
                        )
                    )
                else:
                    self.store.put_child(
                        attrs.evolve(row, archive_due_on=status.archive_due_on.isoformat())
                    )
        destroyed: list[DirectoryId] = []
        with self.store.transaction():
            for directory_id in self.store.due_for_destruction(iso):
                retired = [] if self.merges is None else list(self.merges.absorbed_by(directory_id))
                for gone, code in [(DirectoryId(directory_id), None)] + [
                    (r, "merged_record") for r in retired
                ]:
                    self.store.destroy(str(gone))
                    if self.merges is not None:
                        self.merges.forget(gone)
                    destroyed.append(gone)
                    events.append(
                        AuditEvent(
                            at=now,
                            action="record_destroyed",
                            actor=DIRECTORY_ACTOR,
                            directory_id=str(gone),
                            code=code,
                            rule="RET-5",
                            refs=() if code is None else (directory_id,),
                        )
                    )
            contacts_destroyed = self.store.destroy_archived_contacts(iso)
            if destroyed:
                total = int(self.store.get_meta("destroyed_count") or "0") + len(destroyed)
                self.store.set_meta("destroyed_count", str(total))
        expired: Sequence[str] = ()
        if self.merges is not None:
            cutoff = now - timedelta(days=self.settings.merge_undo_days)
            expired = self.merges.expire_snapshots(cutoff)
            events.extend(
                AuditEvent(
                    at=now,
                    action="merge_snapshot_expired",
                    actor=DIRECTORY_ACTOR,
                    rule="SUP-7",
                    refs=(merge_id,),
                )
                for merge_id in expired
            )
        if destroyed or contacts_destroyed or expired:
            self.store.purge()
        report = JobReport(
            ran_at=now,
            archived=tuple(archived),
            contact_details_archived=contacts,
            destroyed=tuple(destroyed),
            archived_contacts_destroyed=contacts_destroyed,
        )
        return report, events

    def _archive_contacts(
        self, directory_id: str, *, now: datetime, today: date, events: list[AuditEvent]
    ) -> int:
        child = self.keeper.load(directory_id)
        if child is None:  # pragma: no cover - listed a moment ago
            return 0
        moved = 0
        destroy_on = add_years(today, self.settings.archive_keep_years).isoformat()
        for (supplier_id, reference), stored in sorted(child.involvements.items()):
            until = contact_details_kept_until(stored.involvement, settings=self.settings)
            if until is None or today < until:
                continue
            self.store.put_archived_contact(
                ArchivedContactRow(
                    directory_id=directory_id,
                    supplier_id=supplier_id,
                    reference=reference,
                    involvement=self.keeper.dumps(stored.involvement),
                    archived_on=today.isoformat(),
                    destroy_due_on=destroy_on,
                )
            )
            child.remove_involvement(supplier_id, reference)
            moved += 1
        self.keeper.save(child, today=today, now=now)
        if moved:
            events.append(
                AuditEvent(
                    at=now,
                    action="contact_details_archived",
                    actor=DIRECTORY_ACTOR,
                    directory_id=directory_id,
                    code=str(moved),
                    rule="RET-7",
                )
            )
        return moved
