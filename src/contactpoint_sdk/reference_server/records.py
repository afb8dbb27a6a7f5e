"""Record composition: one child's record, built from every source (SUP-7).

The directory never lets one supplier overwrite another's data. For each
child it keeps:

- **each supplier's latest contribution**: the last ``SuppliedChild`` that
  supplier sent (name, gender, date of birth, address, identifiers, parents);
- **each supplier's involvements**, under the supplier's own reference, as
  its ``SuppliedChild`` rows and involvement events left them;
- **the directory-held state** (:class:`DirectoryState`): the shield, the date
  of death, the date the child was found to have left England, a RET-2
  retention extension, and SAR-2 corrections.

:func:`compose` builds the :class:`~contactpoint_sdk.models.record.ChildRecord`
from these, every time any of them changes:

- name, gender, date of birth, address and parents come from the newest
  contribution, except where a SAR-2 correction stands (a correction
  overrides every contribution until the next ``SuppliedChild`` from any
  source, which supplies every one of those fields and so replaces it; the
  management team queries the source meanwhile, SUP-8);
- identifiers are the union over contributions: the newest UPN, ULN and NHS
  number; every other UPN seen becomes a former UPN; school references are
  pooled;
- involvements are every supplier's, each under a **namespaced reference**
  (below), ordered by start date then reference;
- the local authority is the newest contribution's (the supplier's
  registered authority, else the LA code of the child's UPN), else an older
  one's;
- shield, death, leaving England and extension come from the directory state.

Namespacing involvement references
----------------------------------
A supplier's references are its own: two suppliers may both send ``INV-1``.
Inside the directory an involvement is named ``"<namespace>:<reference>"``,
where the namespace is a short code the registry gives each supplier at
registration (``s1``, ``s2`` ...; ``seed`` for the synthetic population) and
never contains ``:`` or ``/``. The model limits a reference to 64 characters
(``MAX_REFERENCE_LENGTH``); where the prefixed form would be longer, the
directory uses ``"<namespace>/<24 hex digits of BLAKE2b of the reference>"``
instead — the ``/`` after the namespace keeps the two forms apart, so they
never collide. The supplier's own reference is kept beside it, so the
supplier's later events (``InvolvementEnded`` ...) still find it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any, TypeVar

import attrs

from contactpoint_sdk.models.codec import WireCodec, json_text, json_text_value
from contactpoint_sdk.models.enums import Gender, ServiceKind
from contactpoint_sdk.models.identifiers import DirectoryId, SchoolReference, Upn
from contactpoint_sdk.models.operations import SuppliedChild
from contactpoint_sdk.models.record import (
    MAX_REFERENCE_LENGTH,
    Address,
    ChildRecord,
    Involvement,
    PersonName,
    RetentionExtension,
    Shield,
    SourceIdentifiers,
)
from contactpoint_sdk.policy.lifecycle import archive_due, contact_details_kept_until
from contactpoint_sdk.policy.settings import PolicySettings
from contactpoint_sdk.policy.shield import shield_lifted_on
from contactpoint_sdk.reference_server.matching import identifier_keys, name_key
from contactpoint_sdk.reference_server.store import (
    ARCHIVED,
    LIVE,
    ChildRow,
    ContributionRow,
    InvolvementRow,
    RecordStore,
    Store,
)

__all__ = [
    "Contribution",
    "DirectoryState",
    "RecordKeeper",
    "StoredInvolvement",
    "WorkingChild",
    "compose",
    "directory_reference",
    "upn_local_authority",
]

T = TypeVar("T")

_OPEN_ENDED = "9999-12-31"


def _evolver(cls: type[T], field: str) -> Callable[[T, Any], T]:
    """``f(inst, value)``: ``attrs.evolve(inst, **{field: value})`` for an
    attrs class, made once: the same call of the class with every other
    field as it is (so the same checks run), without ``evolve``'s
    per-call look-up of the fields (issue 10)."""
    names = {a.name: a.alias for a in attrs.fields(cls) if a.init}  # type: ignore[arg-type]
    if field not in names:
        raise ValueError(f"{cls.__name__} has no field {field!r}")
    args = ", ".join(
        f"{alias}=value" if name == field else f"{alias}=inst.{name}"
        for name, alias in names.items()
    )
    namespace: dict[str, Any] = {"cls": cls}
    exec(f"def evolve(inst, value):\n    return cls({args})\n", namespace)  # noqa: S102 - fixed field names
    evolve: Callable[[T, Any], T] = namespace["evolve"]
    return evolve


_with_reference = _evolver(Involvement, "reference")
_without_involvements = _evolver(SuppliedChild, "involvements")


def directory_reference(namespace: str, reference: str) -> str:
    """The directory's name for a supplier's involvement reference (module notes)."""
    prefixed = f"{namespace}:{reference}"
    if len(prefixed) <= MAX_REFERENCE_LENGTH:
        return prefixed
    digest = hashlib.blake2b(reference.encode("utf-8"), digest_size=12).hexdigest()
    return f"{namespace}/{digest}"


def upn_local_authority(identifiers: SourceIdentifiers) -> str | None:
    """The DfE LA code in the child's UPN (characters 2-4), if it has one."""
    if identifiers.upn is None:
        return None
    return str(identifiers.upn)[1:4]


@attrs.frozen(kw_only=True)
class DirectoryState:
    """What the directory itself holds about a record, beyond any supply.

    ``corrected_*`` are SAR-2 corrections by the management team; each stands
    until the next ``SuppliedChild`` (which clears them all).
    """

    shield: Shield | None = None
    died_on: date | None = None
    left_england_on: date | None = None
    retention_extension: RetentionExtension | None = None
    corrected_name: PersonName | None = None
    corrected_address: Address | None = None
    corrected_gender: Gender | None = None
    corrected_date_of_birth: date | None = None

    def without_corrections(self) -> DirectoryState:
        if (
            self.corrected_name is None
            and self.corrected_address is None
            and self.corrected_gender is None
            and self.corrected_date_of_birth is None
        ):
            return self  # frozen: the same value
        return attrs.evolve(
            self,
            corrected_name=None,
            corrected_address=None,
            corrected_gender=None,
            corrected_date_of_birth=None,
        )


_NO_STATE = DirectoryState()


@attrs.frozen(kw_only=True)
class Contribution:
    """One supplier's latest supplied child (its involvements are kept apart)."""

    supplier_id: str
    version: int
    received_at: datetime
    local_authority: str | None
    child: SuppliedChild


@attrs.frozen(kw_only=True)
class StoredInvolvement:
    """One supplier's involvement, under its own reference and the directory's."""

    supplier_id: str
    directory_reference: str
    involvement: Involvement


@attrs.define
class WorkingChild:
    """A record being changed: load it, change it, save it (one transaction)."""

    directory_id: DirectoryId
    state: DirectoryState
    contributions: dict[str, Contribution]
    involvements: dict[tuple[str, str], StoredInvolvement]
    live: bool = True
    archived_on: str | None = None
    destroy_due_on: str | None = None
    changed_contributions: set[str] = attrs.Factory(set)
    changed_involvements: set[tuple[str, str]] = attrs.Factory(set)
    deleted_involvements: set[tuple[str, str]] = attrs.Factory(set)

    def set_contribution(
        self, supplier_id: str, child: SuppliedChild, local_authority: str | None, at: datetime
    ) -> None:
        """Keep ``child`` (its involvements stripped) as the supplier's latest."""
        version = max((c.version for c in self.contributions.values()), default=0) + 1
        self.contributions[supplier_id] = Contribution(
            supplier_id=supplier_id,
            version=version,
            received_at=at,
            local_authority=local_authority,
            child=_without_involvements(child, ()),
        )
        self.changed_contributions.add(supplier_id)

    def involvement(self, supplier_id: str, reference: str) -> Involvement | None:
        stored = self.involvements.get((supplier_id, reference))
        return None if stored is None else stored.involvement

    def supplier_involvements(self, supplier_id: str) -> list[Involvement]:
        return [s.involvement for (sid, _), s in self.involvements.items() if sid == supplier_id]

    def put_involvement(self, supplier_id: str, namespace: str, involvement: Involvement) -> None:
        key = (supplier_id, involvement.reference)
        self.involvements[key] = StoredInvolvement(
            supplier_id=supplier_id,
            directory_reference=directory_reference(namespace, involvement.reference),
            involvement=involvement,
        )
        self.changed_involvements.add(key)
        self.deleted_involvements.discard(key)

    def remove_involvement(self, supplier_id: str, reference: str) -> None:
        key = (supplier_id, reference)
        if self.involvements.pop(key, None) is not None:
            self.deleted_involvements.add(key)
            self.changed_involvements.discard(key)

    def compose(self) -> ChildRecord:
        return compose(
            self.directory_id, self.contributions.values(), self.involvements.values(), self.state
        )


def _newest(values: Iterable[T | None]) -> T | None:
    found: T | None = None
    for value in values:
        if value is not None:
            found = value
    return found


def compose(
    directory_id: DirectoryId,
    contributions: Iterable[Contribution],
    involvements: Iterable[StoredInvolvement],
    state: DirectoryState,
) -> ChildRecord:
    """The record from its contributions, involvements and directory state
    (module notes). Raises ``ValidationError`` if they cannot make a valid
    record (a death before the birth, an involvement before the birth)."""
    ordered = sorted(contributions, key=lambda c: c.version)
    if not ordered:
        raise ValueError("a record needs at least one contribution")
    base = ordered[-1].child
    upn: Upn | None = _newest(c.child.identifiers.upn for c in ordered)
    upns: dict[str, Upn] = {}
    schools: dict[str, SchoolReference] = {}
    for c in ordered:
        ids = c.child.identifiers
        for u in (ids.upn, *ids.former_upns):
            if u is not None:
                upns[str(u)] = u
        for s in ids.school_references:
            schools[str(s)] = s
    identifiers = SourceIdentifiers(
        upn=upn,
        former_upns=tuple(u for k, u in sorted(upns.items()) if upn is None or k != str(upn)),
        uln=_newest(c.child.identifiers.uln for c in ordered),
        nhs_number=_newest(c.child.identifiers.nhs_number for c in ordered),
        school_references=tuple(s for _, s in sorted(schools.items())),
    )
    invs = sorted(
        (_with_reference(s.involvement, s.directory_reference) for s in involvements),
        key=lambda i: (i.started_on, i.reference),
    )
    return ChildRecord(
        directory_id=directory_id,
        name=state.corrected_name or base.name,
        gender=state.corrected_gender or base.gender,
        date_of_birth=state.corrected_date_of_birth or base.date_of_birth,
        address=state.corrected_address or base.address,
        identifiers=identifiers,
        parents=base.parents,
        involvements=tuple(invs),
        local_authority=_newest(c.local_authority for c in ordered),
        shield=state.shield,
        died_on=state.died_on,
        left_england_on=state.left_england_on,
        retention_extension=state.retention_extension,
    )


def _until(record: ChildRecord, service: ServiceKind) -> str | None:
    ends = [
        _OPEN_ENDED if inv.ended_on is None else inv.ended_on.isoformat()
        for inv in record.involvements
        if inv.service is service
    ]
    return max(ends, default=None)


class RecordKeeper:
    """Loads and saves records through the store, as models.

    Stored JSON is trusted (the directory wrote it), so it is structured
    with the codec's converter directly: no date-of-birth age check, which
    would refuse an archived record of a young adult.
    """

    def __init__(self, store: Store, codec: WireCodec, settings: PolicySettings) -> None:
        self.store = store
        self.codec = codec
        self.settings = settings
        #: Told ``(directory_id, text, data)`` for each record row made by
        #: :meth:`child_row`: the JSON text of the record and the data it was
        #: made from, so the linkage index need not parse the text again
        #: (:meth:`~.linkage_index.SqliteLinkageIndex.offer`).
        self.record_encoded: Callable[[str, str, Any], None] | None = None
        self._no_state_text: str | None = None

    # --- JSON -----------------------------------------------------------

    def dumps(self, obj: Any, as_type: Any = None) -> str:
        data = self.codec.converter.unstructure(obj, unstructure_as=as_type or type(obj))
        # The very text of json.dumps(data, separators=(",", ":"),
        # ensure_ascii=False), several times faster (json_text).
        return json_text(data)

    def _record_text(self, record: ChildRecord) -> str:
        data = self.codec.converter.unstructure(record, unstructure_as=ChildRecord)
        text = json_text(data)
        if self.record_encoded is not None:
            self.record_encoded(str(record.directory_id), text, data)
        return text

    def _state_text(self, state: DirectoryState) -> str:
        # Most records hold no directory state: its text is made once.
        if state == _NO_STATE:
            if self._no_state_text is None:
                self._no_state_text = self.dumps(_NO_STATE)
            return self._no_state_text
        return self.dumps(state)

    def loads(self, text: str, cls: Any) -> Any:
        return self.codec.converter.structure(json_text_value(text), cls)

    # --- records ----------------------------------------------------------

    def record_of(self, row: ChildRow) -> ChildRecord:
        record: ChildRecord = self.loads(row.record, ChildRecord)
        return record

    def search_summary_of(self, row: ChildRow) -> ChildRecord:
        """The record reduced to what a search candidate is made from (ACC-4):
        directory ID, name, gender, date of birth, address, identifiers,
        local authority and shield; no parents or involvements. A search
        never decodes more than it needs (and it is several times faster)."""
        data = json_text_value(row.record)
        structure = self.codec.converter.structure
        shield = data.get("shield")
        return ChildRecord(
            directory_id=DirectoryId(row.directory_id),
            name=structure(data["name"], PersonName),
            gender=Gender(data["gender"]),
            date_of_birth=date.fromisoformat(data["date_of_birth"]),
            address=structure(data["address"], Address),
            identifiers=structure(data["identifiers"], SourceIdentifiers),
            local_authority=data.get("local_authority"),
            shield=None if shield is None else structure(shield, Shield),
        )

    def state_of(self, row: ChildRow) -> DirectoryState:
        state: DirectoryState = self.loads(row.directory_state, DirectoryState)
        return state

    def new(self, directory_id: DirectoryId) -> WorkingChild:
        return WorkingChild(
            directory_id=directory_id, state=DirectoryState(), contributions={}, involvements={}
        )

    def load(
        self, directory_id: DirectoryId | str, *, store: RecordStore | None = None
    ) -> WorkingChild | None:
        """The record's parts, from ``store`` (a batch's staged store) or the
        keeper's own."""
        store = self.store if store is None else store
        key = str(directory_id)
        row = store.get_child(key)
        if row is None:
            return None
        contributions = {
            c.supplier_id: Contribution(
                supplier_id=c.supplier_id,
                version=c.version,
                received_at=datetime.fromisoformat(c.received_at),
                local_authority=c.local_authority,
                child=self.loads(c.child, SuppliedChild),
            )
            for c in store.get_contributions(key)
        }
        involvements = {
            (i.supplier_id, i.reference): StoredInvolvement(
                supplier_id=i.supplier_id,
                directory_reference=i.directory_reference,
                involvement=self.loads(i.involvement, Involvement),
            )
            for i in store.get_involvements(key)
        }
        return WorkingChild(
            directory_id=DirectoryId(key),
            state=self.state_of(row),
            contributions=contributions,
            involvements=involvements,
            live=row.state == LIVE,
            archived_on=row.archived_on,
            destroy_due_on=row.destroy_due_on,
        )

    def child_row(
        self,
        record: ChildRecord,
        state: DirectoryState,
        *,
        today: date,
        now: datetime,
        live: bool = True,
        archived_on: str | None = None,
        destroy_due_on: str | None = None,
    ) -> ChildRow:
        """The stored row of ``record``, with every indexed column computed."""
        shield = record.shield
        shielded = shield is not None and shield_lifted_on(shield) is None
        kept = [contact_details_kept_until(i, settings=self.settings) for i in record.involvements]
        contact_due = min((k for k in kept if k is not None), default=None)
        return ChildRow(
            directory_id=str(record.directory_id),
            state=LIVE if live else ARCHIVED,
            local_authority=record.local_authority,
            date_of_birth=record.date_of_birth.isoformat(),
            given_key=name_key(record.name.given_name),
            family_key=name_key(record.name.family_name),
            shielded=shielded,
            shield_ground=shield.ground.value if shielded and shield is not None else None,
            archive_due_on=archive_due(record, today, settings=self.settings)[0].isoformat(),
            contact_due_on=None if contact_due is None else contact_due.isoformat(),
            gp_until=_until(record, ServiceKind.GP_PRACTICE),
            education_until=_until(record, ServiceKind.EDUCATION_SETTING),
            archived_on=archived_on,
            destroy_due_on=destroy_due_on,
            record=self._record_text(record),
            directory_state=self._state_text(state),
            updated_at=now.isoformat(),
            postcode=None if record.address.postcode is None else str(record.address.postcode),
            gender=record.gender.value,
        )

    def save(
        self,
        child: WorkingChild,
        *,
        today: date,
        now: datetime,
        store: RecordStore | None = None,
    ) -> ChildRecord:
        """Compose the record and write what changed, to ``store`` (a batch's
        staged store) or the keeper's own. Raises ``ValidationError`` (writing
        nothing) if the parts do not make a valid record."""
        store = self.store if store is None else store
        record = child.compose()
        key = str(child.directory_id)
        for supplier_id in sorted(child.changed_contributions):
            c = child.contributions[supplier_id]
            store.put_contribution(
                ContributionRow(
                    directory_id=key,
                    supplier_id=supplier_id,
                    version=c.version,
                    received_at=c.received_at.isoformat(),
                    local_authority=c.local_authority,
                    child=self.dumps(c.child),
                )
            )
            store.replace_identifiers(key, supplier_id, identifier_keys(c.child.identifiers))
        for supplier_id, reference in sorted(child.deleted_involvements):
            store.delete_involvement(key, supplier_id, reference)
        for ikey in sorted(child.changed_involvements):
            stored = child.involvements[ikey]
            store.put_involvement(
                InvolvementRow(
                    directory_id=key,
                    supplier_id=stored.supplier_id,
                    reference=stored.involvement.reference,
                    directory_reference=stored.directory_reference,
                    involvement=self.dumps(stored.involvement),
                )
            )
        store.put_child(
            self.child_row(
                record,
                child.state,
                today=today,
                now=now,
                live=child.live,
                archived_on=child.archived_on,
                destroy_due_on=child.destroy_due_on,
            )
        )
        child.changed_contributions.clear()
        child.changed_involvements.clear()
        child.deleted_involvements.clear()
        return record
