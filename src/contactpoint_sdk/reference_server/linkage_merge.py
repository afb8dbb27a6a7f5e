"""Merging two records of one child, and undoing it, audited (SUP-7, SHLD-5, SHLD-7).

When the management team decides that two live records are one child
(a possible duplicate from the review queue), :meth:`RecordMerger.merge`
makes one of them, the **survivor**, hold everything, and retires the other,
the **absorbed** record:

- every supplier's contribution moves to the survivor, unless the survivor
  already has a newer one from that supplier; the survivor's contributions
  are then renumbered by the time they were received, so the composed record
  still takes its name and address from the newest supply (:mod:`.records`);
- every involvement moves, unless the survivor holds one from the same
  supplier under the same reference;
- directory-held state: **a shield follows the child** (SHLD-7): if either
  record is shielded the survivor is; a date of death, of leaving England
  and a retention extension are kept from whichever record has one;
  corrections stay the survivor's;
- the absorbed record keeps its own rows, untouched, but leaves every index:
  its ``state`` becomes ``"merged"`` (neither live nor archived, so no
  look-up, view, job or matcher sees it; the linkage index drops it) and its
  identifier index entries are removed (the survivor now holds them).

The rules that the weights never override (:mod:`.linkage_policy`) apply to
people too: records shielded on an adoption ground are never merged with
anything (SHLD-5), and a pair the rules call two children (twins, siblings)
is refused (SUP-7). Both refusals are :class:`~contactpoint_sdk.errors.PolicyRefusal`.

:meth:`RecordMerger.unmerge` undoes a merge: the survivor's contributions
go back to what they were before (except a supplier that has supplied the
survivor again since the merge: that newer supply stays), the moved
involvements leave it, its directory state is restored (but a shield the
merged record has now stays: erring on the side of hiding), and the absorbed
record is live again with its identifiers re-indexed.

Every merge and unmerge is kept in the ``linkage_merges`` table (who, when,
and, while the merge can be undone, what the survivor held before: its
**snapshot**) and returns audit events (``records_merged``,
``records_unmerged``) naming both records by directory identifier only, for
the caller to emit (ACC-5).

The snapshot is child data, so it is kept no longer than it is needed
(RET-7, SAR-2): it is deleted the moment the merge is undone, and
:meth:`RecordMerger.expire_snapshots` (the lifecycle job, and a check before
an unmerge) deletes it once the merge is older than
:attr:`~contactpoint_sdk.policy.settings.PolicySettings.merge_undo_days`;
the row then keeps only the merge identifier, the two directory
identifiers, who and when, and the authority of a shield the survivor
carries (below). An unmerge without a snapshot is refused
(``merge_undo_expired``, SUP-7). The snapshot never holds SAR-2
corrections: an unmerge keeps the survivor's corrections as they are now.
:meth:`RecordMerger.snapshots_of` lists the snapshots held for a record
(existence only, for subject access, SAR-1).

**Shield authority** (SHLD-3, SAR-1). When the merged record carries a
shield in place, the merge row records the authority of the record the
shield came from (``shield_authority``): while a shield is in place that
authority, not the authority of the survivor's newest supply, acts for the
merged record (:meth:`RecordMerger.shield_authority`). Two-authority merges
wait for the other authority's approval (``linkage_merge_requests``,
:class:`PendingMerge`; :mod:`.management`).

Retired records and the lifecycle (RET-5): a merged-away record is never
archived or destroyed on its own (the jobs look at live and archived rows
only). When its survivor is destroyed, the jobs destroy it too
(:meth:`RecordMerger.absorbed_by`), and every merge naming either
(:meth:`RecordMerger.forget`): a merge keeps the survivor's earlier
contributions, which are the child's data. ``reset`` empties the table
(:meth:`~contactpoint_sdk.reference_server.store.SqliteStore.add_data_table`).

This works on a :class:`~contactpoint_sdk.reference_server.store.SqliteStore`,
whose database holds the ``linkage_merges`` table; records, contributions and
identifiers are written through the store interface only.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Final

import attrs

from contactpoint_sdk.errors import PolicyRefusal, RecordNotFound
from contactpoint_sdk.models.identifiers import DirectoryId
from contactpoint_sdk.models.operations import SuppliedChild
from contactpoint_sdk.policy.shield import shield_lifted_on
from contactpoint_sdk.reference_server.audit import AuditEvent
from contactpoint_sdk.reference_server.linkage_model import FellegiSunter
from contactpoint_sdk.reference_server.linkage_policy import (
    Verdict,
    child_verdict,
    is_adoption_shielded,
)
from contactpoint_sdk.reference_server.linkage_profile import (
    FAMILY_NAME,
    GIVEN_NAME,
    compare_children,
    profile_from_record,
)
from contactpoint_sdk.reference_server.records import (
    Contribution,
    DirectoryState,
    RecordKeeper,
    WorkingChild,
)

if TYPE_CHECKING:
    from contactpoint_sdk.reference_server.store import SqliteStore

__all__ = [
    "MERGED",
    "MergeReceipt",
    "MergeRequestStatus",
    "MergeSnapshotNote",
    "PairAssessment",
    "PendingMerge",
    "RecordMerger",
]

#: The ``children.state`` of an absorbed record.
MERGED: Final = "merged"
_LIVE = "live"

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS linkage_merges ("
    " merge_id TEXT PRIMARY KEY, survivor TEXT NOT NULL, absorbed TEXT NOT NULL,"
    " merged_at TEXT NOT NULL, merged_by TEXT NOT NULL, snapshot TEXT NOT NULL,"
    " undone_at TEXT, undone_by TEXT)",
    "CREATE INDEX IF NOT EXISTS linkage_merges_absorbed ON linkage_merges (absorbed)",
    "CREATE INDEX IF NOT EXISTS linkage_merges_survivor ON linkage_merges (survivor)",
    "CREATE TABLE IF NOT EXISTS linkage_merge_requests ("
    " request_id TEXT PRIMARY KEY, survivor TEXT NOT NULL, absorbed TEXT NOT NULL,"
    " requested_at TEXT NOT NULL, requested_by TEXT NOT NULL, requesting_authority TEXT,"
    " approving_authority TEXT NOT NULL, reasons TEXT NOT NULL, status TEXT NOT NULL,"
    " decided_at TEXT, decided_by TEXT, merge_id TEXT)",
)
#: Columns added since the first schema (added to an older database on attach).
_ADDED_COLUMNS: Final = (("linkage_merges", "shield_authority", "TEXT"),)
#: The ``snapshot`` of a merge whose snapshot was deleted (undone or expired).
_NO_SNAPSHOT: Final = ""


@attrs.frozen(kw_only=True)
class MergeReceipt:
    """One merge, and its undoing if undone."""

    merge_id: str
    survivor: DirectoryId
    absorbed: DirectoryId
    merged_at: datetime
    merged_by: str
    undone_at: datetime | None = None
    undone_by: str | None = None


class MergeRequestStatus(enum.Enum):
    """Where a two-authority merge request stands."""

    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"


@attrs.frozen(kw_only=True)
class PendingMerge:
    """A merge one management team asked for that needs another's approval
    (SUP-7, SHLD-3): the records belong to different authorities, or one is
    shielded. It waits in ``approving_authority``'s data-quality queue (an
    item with this ``request_id``, ``detail_code`` ``merge_requested``).
    ``reasons``: ``different_authorities``, ``shielded``. Identifiers only."""

    request_id: str
    survivor: DirectoryId
    absorbed: DirectoryId
    requested_at: datetime
    requested_by: str
    requesting_authority: str | None
    approving_authority: str
    reasons: tuple[str, ...]
    status: MergeRequestStatus
    decided_at: datetime | None = None
    decided_by: str | None = None
    merge_id: str | None = None


@attrs.frozen(kw_only=True)
class MergeSnapshotNote:
    """That a merge snapshot is held for a record (SAR-1), without its
    content: the survivor's contributions before merge ``merge_id``, kept
    until ``undo_until`` at the latest."""

    merge_id: str
    directory_id: DirectoryId
    merged_at: datetime
    undo_until: datetime


@attrs.frozen(kw_only=True)
class PairAssessment:
    """How alike two live records are, as the matcher would score them:
    the Fellegi–Sunter ``weight`` (bits), the rules' ``verdict`` and ``rule``
    (:mod:`.linkage_policy`), whether given *and* family names disagree
    outright, and whether either record carries a shield in place."""

    weight: float
    verdict: Verdict
    rule: str
    names_disagree: bool
    shielded: bool


def _shield_in_place(state: DirectoryState) -> bool:
    return state.shield is not None and shield_lifted_on(state.shield) is None


def _merged_state(mine: DirectoryState, theirs: DirectoryState) -> DirectoryState:
    """The survivor's directory state after absorbing ``theirs`` (module notes)."""

    shield = mine.shield
    if not _shield_in_place(mine) and _shield_in_place(theirs):
        shield = theirs.shield
    return attrs.evolve(
        mine,
        shield=shield,
        died_on=mine.died_on or theirs.died_on,
        left_england_on=mine.left_england_on or theirs.left_england_on,
        retention_extension=mine.retention_extension or theirs.retention_extension,
    )


class RecordMerger:
    """Merges and unmerges records in a SQLite store (module notes)."""

    def __init__(self, store: SqliteStore, keeper: RecordKeeper) -> None:
        self.store = store
        self.keeper = keeper
        with store.transaction():
            for statement in _SCHEMA:
                self._run(statement)
            for table, column, kind in _ADDED_COLUMNS:
                have = {r["name"] for r in self._all(f"PRAGMA table_info({table})")}
                if column not in have:
                    self._run(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        store.add_data_table("linkage_merges")  # emptied by reset
        store.add_data_table("linkage_merge_requests")

    # --- SQL on the store's connection ------------------------------------------

    def _run(self, sql: str, params: tuple[object, ...] = ()) -> None:
        with self.store.lock:
            self.store.connection.execute(sql, params)

    def _all(self, sql: str, params: tuple[object, ...] = ()) -> list[Any]:
        with self.store.lock:
            cursor = self.store.connection.cursor()
            cursor.row_factory = sqlite3.Row
            return cursor.execute(sql, params).fetchall()

    def _one(self, sql: str, params: tuple[object, ...] = ()) -> Any:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    # --- merging ------------------------------------------------------------

    def _live_rows(self, survivor: DirectoryId, absorbed: DirectoryId) -> tuple[Any, Any]:
        if str(survivor) == str(absorbed):
            raise PolicyRefusal("a record cannot absorb itself", code="same_record", rule="SUP-7")
        s_row = self.store.get_child(str(survivor))
        a_row = self.store.get_child(str(absorbed))
        if s_row is None or a_row is None or s_row.state != _LIVE or a_row.state != _LIVE:
            raise RecordNotFound("both records must be live to merge")
        return s_row, a_row

    def _judge(self, s_row: Any, a_row: Any) -> tuple[Any, Verdict, str, bool]:
        """The rules on a pair (SHLD-5, twins, siblings): refused, or the
        comparison vector, verdict, rule and whether either is shielded."""
        s_record = self.keeper.record_of(s_row)
        a_record = self.keeper.record_of(a_row)
        s_profile = profile_from_record(s_record)
        a_profile = profile_from_record(a_record)
        if is_adoption_shielded(s_profile) or is_adoption_shielded(a_profile):
            raise PolicyRefusal(
                "records shielded on an adoption ground are never linked",
                code="adoption_records_never_linked",
                rule="SHLD-5",
            )
        vector = compare_children(a_profile, s_profile)
        verdict, rule = child_verdict(a_profile, s_profile, vector)
        if verdict is Verdict.NEVER:
            raise PolicyRefusal(
                "the records look like two children (twins or siblings); not merged",
                code=f"looks_like_{rule}",
                rule="SUP-7",
            )
        shielded = any(
            r.shield is not None and shield_lifted_on(r.shield) is None
            for r in (s_record, a_record)
        )
        return vector, verdict, rule, shielded

    def assess(
        self, survivor: DirectoryId, absorbed: DirectoryId, model: FellegiSunter
    ) -> PairAssessment:
        """Score two live records as the matcher scores a candidate
        (``model``), after the rules :meth:`merge` applies (same refusals)."""
        s_row, a_row = self._live_rows(survivor, absorbed)
        vector, verdict, rule, shielded = self._judge(s_row, a_row)
        return PairAssessment(
            weight=model.weight(vector),
            verdict=verdict,
            rule=rule,
            names_disagree=vector[GIVEN_NAME] == 0 and vector[FAMILY_NAME] == 0,
            shielded=shielded,
        )

    def merge(
        self,
        survivor: DirectoryId,
        absorbed: DirectoryId,
        *,
        by: str,
        now: datetime,
        today: date,
    ) -> tuple[MergeReceipt, list[AuditEvent]]:
        """Make ``survivor`` hold ``absorbed``'s data and retire ``absorbed``.

        Raises ``RecordNotFound`` unless both are live records,
        ``PolicyRefusal`` (SHLD-5) if either is shielded on an adoption
        ground, and ``PolicyRefusal`` (SUP-7) if the rules call them two
        children (twins, siblings) or they are the same record. Who may
        merge, and on what evidence, is :mod:`.management`'s to decide."""
        with self.store.transaction():
            s_row, a_row = self._live_rows(survivor, absorbed)
            _, _, rule, _ = self._judge(s_row, a_row)
            s = self.keeper.load(survivor)
            a = self.keeper.load(absorbed)
            if s is None or a is None:  # pragma: no cover - read a moment ago
                raise RecordNotFound("both records must be live to merge")
            # The authority a shield in place answers to (SHLD-3, SAR-1): the
            # shielded record's, as it was before this merge.
            shield_authority: str | None = None
            if _shield_in_place(s.state):
                shield_authority = self.shield_authority(survivor) or s_row.local_authority
            elif _shield_in_place(a.state):
                shield_authority = self.shield_authority(absorbed) or a_row.local_authority
            snapshot = self._snapshot(s)
            moved_contributions = self._move_contributions(s, a)
            moved_involvements = []
            for key, stored in sorted(a.involvements.items()):
                if key not in s.involvements:
                    s.involvements[key] = stored
                    s.changed_involvements.add(key)
                    moved_involvements.append(list(key))
            s.state = _merged_state(s.state, a.state)
            self.keeper.save(s, today=today, now=now)
            for supplier_id in a.contributions:
                self.store.replace_identifiers(str(absorbed), supplier_id, [])
            self.store.put_child(attrs.evolve(a_row, state=MERGED, updated_at=now.isoformat()))
            receipt = MergeReceipt(
                merge_id=uuid.uuid4().hex,
                survivor=survivor,
                absorbed=absorbed,
                merged_at=now,
                merged_by=by,
            )
            snapshot["moved_contributions"] = moved_contributions
            snapshot["moved_involvements"] = moved_involvements
            # Whose records they were (the survivor's authority may change
            # with the moved supplies): who may undo it (management.py).
            snapshot["local_authorities"] = [s_row.local_authority, a_row.local_authority]
            self._run(
                "INSERT INTO linkage_merges (merge_id, survivor, absorbed, merged_at, "
                "merged_by, snapshot, shield_authority) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    receipt.merge_id,
                    str(survivor),
                    str(absorbed),
                    now.isoformat(),
                    by,
                    json.dumps(snapshot, separators=(",", ":")),
                    shield_authority,
                ),
            )
        event = AuditEvent(
            at=now,
            action="records_merged",
            actor=by,
            directory_id=str(survivor),
            code=rule or "open",
            rule="SUP-7",
            refs=(str(absorbed), receipt.merge_id),
        )
        return receipt, [event]

    def _snapshot(self, s: WorkingChild) -> dict[str, Any]:
        return {
            "contributions": {
                sid: {
                    "version": c.version,
                    "received_at": c.received_at.isoformat(),
                    "local_authority": c.local_authority,
                    "child": self.keeper.dumps(c.child),
                }
                for sid, c in s.contributions.items()
            },
            # Never SAR-2 corrections: an unmerge keeps the survivor's current ones.
            "state": self.keeper.dumps(s.state.without_corrections()),
        }

    @staticmethod
    def _move_contributions(s: WorkingChild, a: WorkingChild) -> list[str]:
        moved: list[str] = []
        for supplier_id, theirs in a.contributions.items():
            mine = s.contributions.get(supplier_id)
            if mine is None or theirs.received_at > mine.received_at:
                s.contributions[supplier_id] = theirs
                moved.append(supplier_id)
        # Renumber by arrival, so the newest supply still composes the record.
        ordered = sorted(s.contributions.values(), key=lambda c: (c.received_at, c.version))
        for version, c in enumerate(ordered, start=1):
            s.contributions[c.supplier_id] = attrs.evolve(c, version=version)
            s.changed_contributions.add(c.supplier_id)
        return sorted(moved)

    # --- unmerging ----------------------------------------------------------

    def unmerge(
        self, merge_id: str, *, by: str, now: datetime, today: date
    ) -> tuple[MergeReceipt, list[AuditEvent]]:
        """Undo a merge (module notes). ``RecordNotFound`` for an unknown or
        already undone merge, or when the survivor is no longer live."""
        with self.store.transaction():
            row = self._one("SELECT * FROM linkage_merges WHERE merge_id = ?", (merge_id,))
            if row is None or row["undone_at"] is not None:
                raise RecordNotFound("no merge waiting to be undone has that identifier")
            survivor, absorbed = DirectoryId(row["survivor"]), DirectoryId(row["absorbed"])
            merged_at = datetime.fromisoformat(row["merged_at"])
            if row["snapshot"] == _NO_SNAPSHOT:
                raise PolicyRefusal(
                    "the merge is too old to undo: its snapshot was deleted",
                    code="merge_undo_expired",
                    rule="SUP-7",
                )
            snapshot = json.loads(row["snapshot"])
            s = self.keeper.load(survivor)
            a_row = self.store.get_child(str(absorbed))
            if s is None or not s.live or a_row is None or a_row.state != MERGED:
                raise RecordNotFound("the merged records are no longer as the merge left them")
            before: dict[str, Any] = snapshot["contributions"]
            for supplier_id in snapshot["moved_contributions"]:
                current = s.contributions.get(supplier_id)
                if current is not None and current.received_at > merged_at:
                    continue  # supplied again since the merge: stays
                old = before.get(supplier_id)
                if old is None:
                    s.contributions.pop(supplier_id, None)
                    s.changed_contributions.discard(supplier_id)
                    self.store.delete_contribution(str(survivor), supplier_id)
                    self.store.replace_identifiers(str(survivor), supplier_id, [])
                else:
                    s.contributions[supplier_id] = Contribution(
                        supplier_id=supplier_id,
                        version=int(old["version"]),
                        received_at=datetime.fromisoformat(old["received_at"]),
                        local_authority=old["local_authority"],
                        child=self.keeper.loads(old["child"], SuppliedChild),
                    )
                    s.changed_contributions.add(supplier_id)
            for supplier_id, reference in snapshot["moved_involvements"]:
                s.remove_involvement(supplier_id, reference)
            restored: DirectoryState = self.keeper.loads(snapshot["state"], DirectoryState)
            held = s.state
            if restored.shield is None and held.shield is not None:
                restored = attrs.evolve(restored, shield=held.shield)
            # SAR-2 corrections stand as they are now (the snapshot has none).
            s.state = attrs.evolve(
                restored,
                corrected_name=held.corrected_name,
                corrected_address=held.corrected_address,
                corrected_gender=held.corrected_gender,
                corrected_date_of_birth=held.corrected_date_of_birth,
            )
            self.keeper.save(s, today=today, now=now)
            a = self.keeper.load(absorbed)
            if a is None:  # pragma: no cover - read a moment ago
                raise RecordNotFound("the absorbed record is gone")
            a.live = True
            a.changed_contributions.update(a.contributions)
            self.keeper.save(a, today=today, now=now)
            # The snapshot goes the moment it has served (RET-7, SAR-2).
            self._run(
                "UPDATE linkage_merges SET undone_at = ?, undone_by = ?, snapshot = ? "
                "WHERE merge_id = ?",
                (now.isoformat(), by, _NO_SNAPSHOT, merge_id),
            )
        receipt = MergeReceipt(
            merge_id=merge_id,
            survivor=survivor,
            absorbed=absorbed,
            merged_at=merged_at,
            merged_by=row["merged_by"],
            undone_at=now,
            undone_by=by,
        )
        event = AuditEvent(
            at=now,
            action="records_unmerged",
            actor=by,
            directory_id=str(survivor),
            rule="SUP-7",
            refs=(str(absorbed), merge_id),
        )
        return receipt, [event]

    # --- look-ups -------------------------------------------------------------

    def merged_into(self, directory_id: DirectoryId | str) -> DirectoryId | None:
        """The record a retired (absorbed) record now lives in, following
        merges in turn; ``None`` if it was never absorbed (or was unmerged)."""
        current = str(directory_id)
        seen = {current}
        found: str | None = None
        while True:
            row = self._one(
                "SELECT survivor FROM linkage_merges WHERE absorbed = ? AND undone_at IS NULL",
                (current,),
            )
            if row is None or row["survivor"] in seen:
                break
            found = current = row["survivor"]
            seen.add(current)
        return None if found is None else DirectoryId(found)

    def receipt(self, merge_id: str) -> MergeReceipt | None:
        """The merge with this identifier, undone or not; ``None`` if unknown."""
        row = self._one("SELECT * FROM linkage_merges WHERE merge_id = ?", (merge_id,))
        return None if row is None else _receipt(row)

    def authorities(self, merge_id: str) -> tuple[str, ...]:
        """The local authorities of the two records when they were merged
        (survivor's, absorbed's; those known)."""
        row = self._one("SELECT snapshot FROM linkage_merges WHERE merge_id = ?", (merge_id,))
        if row is None or row["snapshot"] == _NO_SNAPSHOT:
            return ()
        found = json.loads(row["snapshot"]).get("local_authorities") or []
        return tuple(la for la in found if isinstance(la, str))

    def absorbed_by(self, directory_id: DirectoryId | str) -> list[DirectoryId]:
        """Every retired record that now lives in this one: those it absorbed,
        those they had absorbed, and so on (merges not undone), sorted."""
        found: set[str] = set()
        todo = [str(directory_id)]
        while todo:
            current = todo.pop()
            for row in self._all(
                "SELECT absorbed FROM linkage_merges WHERE survivor = ? AND undone_at IS NULL",
                (current,),
            ):
                absorbed = row["absorbed"]
                if absorbed not in found and absorbed != str(directory_id):
                    found.add(absorbed)
                    todo.append(absorbed)
        return [DirectoryId(d) for d in sorted(found)]

    def forget(self, directory_id: DirectoryId | str) -> int:
        """Delete every merge naming the record, as survivor or absorbed,
        undone or not (the record is being destroyed, RET-5: a merge keeps the
        survivor's earlier contributions). Returns how many. Inside the
        caller's transaction."""
        with self.store.lock:
            cursor = self.store.connection.execute(
                "DELETE FROM linkage_merges WHERE survivor = ? OR absorbed = ?",
                (str(directory_id), str(directory_id)),
            )
            self.store.connection.execute(
                "DELETE FROM linkage_merge_requests WHERE survivor = ? OR absorbed = ?",
                (str(directory_id), str(directory_id)),
            )
            return cursor.rowcount

    def merges_of(self, directory_id: DirectoryId | str) -> list[MergeReceipt]:
        """Every merge naming the record, as survivor or absorbed, oldest first."""
        rows = self._all(
            "SELECT * FROM linkage_merges WHERE survivor = ? OR absorbed = ? ORDER BY merged_at",
            (str(directory_id), str(directory_id)),
        )
        return [_receipt(r) for r in rows]

    # --- snapshots (RET-7, SAR-1, SAR-2) ------------------------------------------

    def expire_snapshots(self, merged_before: datetime) -> list[str]:
        """Delete the snapshot of every merge made before ``merged_before``
        (it can no longer be undone); the row keeps the merge identifier, the
        two directory identifiers, who and when. Returns the merges' IDs."""
        with self.store.transaction():
            rows = self._all(
                "SELECT merge_id, merged_at FROM linkage_merges WHERE snapshot != ?",
                (_NO_SNAPSHOT,),
            )
            gone = sorted(
                r["merge_id"]
                for r in rows
                if datetime.fromisoformat(r["merged_at"]) < merged_before
            )
            for merge_id in gone:
                self._run(
                    "UPDATE linkage_merges SET snapshot = ? WHERE merge_id = ?",
                    (_NO_SNAPSHOT, merge_id),
                )
        return gone

    def has_snapshot(self, merge_id: str) -> bool:
        """True while the merge keeps a snapshot (it can be undone)."""
        row = self._one("SELECT snapshot FROM linkage_merges WHERE merge_id = ?", (merge_id,))
        return row is not None and row["snapshot"] != _NO_SNAPSHOT

    def snapshots_of(self, directory_id: DirectoryId | str) -> list[MergeReceipt]:
        """The merges that keep a snapshot of this record's data: those into
        it and into the records it absorbed (merges not undone), oldest first."""
        ids = [str(directory_id), *(str(d) for d in self.absorbed_by(directory_id))]
        marks = ",".join("?" * len(ids))
        rows = self._all(
            f"SELECT * FROM linkage_merges WHERE survivor IN ({marks}) "  # noqa: S608
            "AND undone_at IS NULL AND snapshot != ? ORDER BY merged_at",
            (*ids, _NO_SNAPSHOT),
        )
        return [_receipt(r) for r in rows]

    # --- shield authority (SHLD-3, SAR-1) --------------------------------------------

    def shield_authority(self, directory_id: DirectoryId | str) -> str | None:
        """The authority of the shielded record a live merge brought into
        this one (the newest such merge), or ``None``. It acts for the record
        while its shield is in place (module notes)."""
        row = self._one(
            "SELECT shield_authority FROM linkage_merges WHERE survivor = ? "
            "AND undone_at IS NULL AND shield_authority IS NOT NULL "
            "ORDER BY merged_at DESC LIMIT 1",
            (str(directory_id),),
        )
        return None if row is None else str(row["shield_authority"])

    def shield_survivors(self, local_authority: str) -> list[DirectoryId]:
        """The records whose live merges name ``local_authority`` as the
        shield's authority (candidates for its overdue-review list)."""
        rows = self._all(
            "SELECT DISTINCT survivor FROM linkage_merges WHERE shield_authority = ? "
            "AND undone_at IS NULL ORDER BY survivor",
            (local_authority,),
        )
        return [DirectoryId(r["survivor"]) for r in rows]

    # --- two-authority requests (SUP-7) ---------------------------------------------

    def put_request(self, request: PendingMerge) -> None:
        """Insert or update a merge request (inside the caller's transaction)."""
        self._run(
            "INSERT OR REPLACE INTO linkage_merge_requests (request_id, survivor, absorbed, "
            "requested_at, requested_by, requesting_authority, approving_authority, reasons, "
            "status, decided_at, decided_by, merge_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                request.request_id,
                str(request.survivor),
                str(request.absorbed),
                request.requested_at.isoformat(),
                request.requested_by,
                request.requesting_authority,
                request.approving_authority,
                ",".join(request.reasons),
                request.status.value,
                None if request.decided_at is None else request.decided_at.isoformat(),
                request.decided_by,
                request.merge_id,
            ),
        )

    def request(self, request_id: str) -> PendingMerge | None:
        """The merge request with this identifier, or ``None``."""
        r = self._one("SELECT * FROM linkage_merge_requests WHERE request_id = ?", (request_id,))
        if r is None:
            return None
        return PendingMerge(
            request_id=r["request_id"],
            survivor=DirectoryId(r["survivor"]),
            absorbed=DirectoryId(r["absorbed"]),
            requested_at=datetime.fromisoformat(r["requested_at"]),
            requested_by=r["requested_by"],
            requesting_authority=r["requesting_authority"],
            approving_authority=r["approving_authority"],
            reasons=tuple(x for x in str(r["reasons"]).split(",") if x),
            status=MergeRequestStatus(r["status"]),
            decided_at=None if r["decided_at"] is None else datetime.fromisoformat(r["decided_at"]),
            decided_by=r["decided_by"],
            merge_id=r["merge_id"],
        )


def _receipt(r: Any) -> MergeReceipt:
    return MergeReceipt(
        merge_id=r["merge_id"],
        survivor=DirectoryId(r["survivor"]),
        absorbed=DirectoryId(r["absorbed"]),
        merged_at=datetime.fromisoformat(r["merged_at"]),
        merged_by=r["merged_by"],
        undone_at=None if r["undone_at"] is None else datetime.fromisoformat(r["undone_at"]),
        undone_by=r["undone_by"],
    )
