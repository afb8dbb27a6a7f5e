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
and what the survivor held before) and returns audit events
(``records_merged``, ``records_unmerged``) naming both records by directory
identifier only, for the caller to emit (ACC-5).

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
from contactpoint_sdk.reference_server.linkage_policy import (
    Verdict,
    child_verdict,
    is_adoption_shielded,
)
from contactpoint_sdk.reference_server.linkage_profile import (
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

__all__ = ["MERGED", "MergeReceipt", "RecordMerger"]

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
)


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


def _merged_state(mine: DirectoryState, theirs: DirectoryState) -> DirectoryState:
    """The survivor's directory state after absorbing ``theirs`` (module notes)."""

    def in_place(state: DirectoryState) -> bool:
        return state.shield is not None and shield_lifted_on(state.shield) is None

    shield = mine.shield
    if not in_place(mine) and in_place(theirs):
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
        store.add_data_table("linkage_merges")  # emptied by reset

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
        children (twins, siblings) or they are the same record."""
        if str(survivor) == str(absorbed):
            raise PolicyRefusal("a record cannot absorb itself", code="same_record", rule="SUP-7")
        with self.store.transaction():
            s_row = self.store.get_child(str(survivor))
            a_row = self.store.get_child(str(absorbed))
            if s_row is None or a_row is None or s_row.state != _LIVE or a_row.state != _LIVE:
                raise RecordNotFound("both records must be live to merge")
            s_profile = profile_from_record(self.keeper.record_of(s_row))
            a_profile = profile_from_record(self.keeper.record_of(a_row))
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
            s = self.keeper.load(survivor)
            a = self.keeper.load(absorbed)
            if s is None or a is None:  # pragma: no cover - read a moment ago
                raise RecordNotFound("both records must be live to merge")
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
                "merged_by, snapshot) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    receipt.merge_id,
                    str(survivor),
                    str(absorbed),
                    now.isoformat(),
                    by,
                    json.dumps(snapshot, separators=(",", ":")),
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
            "state": self.keeper.dumps(s.state),
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
            current_shield = s.state.shield
            if restored.shield is None and current_shield is not None:
                restored = attrs.evolve(restored, shield=current_shield)
            s.state = restored
            self.keeper.save(s, today=today, now=now)
            a = self.keeper.load(absorbed)
            if a is None:  # pragma: no cover - read a moment ago
                raise RecordNotFound("the absorbed record is gone")
            a.live = True
            a.changed_contributions.update(a.contributions)
            self.keeper.save(a, today=today, now=now)
            self._run(
                "UPDATE linkage_merges SET undone_at = ?, undone_by = ? WHERE merge_id = ?",
                (now.isoformat(), by, merge_id),
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
        if row is None:
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
            return cursor.rowcount

    def merges_of(self, directory_id: DirectoryId | str) -> list[MergeReceipt]:
        """Every merge naming the record, as survivor or absorbed, oldest first."""
        rows = self._all(
            "SELECT * FROM linkage_merges WHERE survivor = ? OR absorbed = ? ORDER BY merged_at",
            (str(directory_id), str(directory_id)),
        )
        return [_receipt(r) for r in rows]


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
