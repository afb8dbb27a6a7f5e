"""Ingest: a sealed supply batch in, a receipt out (SUP-1..SUP-9, SENS-2, SHLD-7).

The steps, in order; each whole-batch refusal is a typed error and changes
nothing:

1. **Open the envelope** (:class:`~contactpoint_sdk.supply.envelope.EnvelopeOpener`)
   with the directory's keys, verifying the signature with the key its
   ``kid`` names. Envelope faults raise
   :class:`~contactpoint_sdk.errors.EnvelopeError` subclasses (SUP-5). A
   ``kid`` no supplier registered: ``SupplierNotAccredited`` (SUP-3).
2. **The signer must be accredited**: a suspended supplier is refused (SUP-3).
3. **Decode** the payload strictly
   (:func:`~contactpoint_sdk.supply.batch.decode_batch`): a fault in the
   batch's own fields refuses the batch (``ValidationError``); a fault in one
   operation rejects only that operation.
4. **The batch must be the signer's**: a batch naming another supplier than
   the one whose key signed it is refused (SUP-3, SUP-5).
5. **The agreement** the batch names must be one of the supplier's: else
   ``AgreementViolation`` (SUP-4) for the whole batch.
6. **Replays**: a ``batch_id`` already seen from this supplier is answered
   with its first receipt, unchanged, and changes nothing.
7. **Sequence**: a new batch whose ``sequence`` is not above the supplier's
   last is refused (``SequenceOutOfOrder``, SUP-5).
8. **Apply** each operation, inside one SQLite transaction with the receipt
   and the new last sequence, each operation in its own savepoint (an
   operation that fails half-way leaves nothing). The operations are
   applied a hundred at a time through a :class:`~.store.StagedStore` (issue
   10): their look-ups read at once, their writes held and then written
   together, a few ``executemany`` a table; every operation reads the
   effects of the earlier ones exactly as if each had been written at once.
   Per operation:

   - operation type, or a service kind it would record, outside the
     agreement: rejected, ``SUP-4``;
   - a sensitive involvement without valid consent or override: rejected,
     ``SENS-2`` / ``SENS-3`` (the code says which fault);
   - matching (:mod:`.matching`): ``UNCERTAIN`` holds the operation for the
     local authority's data-quality queue and creates nothing (SHLD-7,
     SUP-7): rejected with code ``held_for_review``, rule ``SUP-7`` — the
     same answer whether or not a shield is involved, so a receipt never
     reveals a shield; ``NEW`` creates a record for a ``SuppliedChild`` (with
     a directory-assigned identifier, REC-1) and rejects any other operation
     (``child_not_found``); a match to an archived record is rejected
     (``record_archived``) and raised with the management team;
   - the change is applied to the record's parts and the record recomposed
     (:mod:`.records`). A shield is directory state: whatever a source
     supplies, a shielded record stays shielded (SHLD-7).

Receipts carry ``ref``, ``status``, ``code``, ``rule``, ``message`` and
``path`` only (SUP-1). Messages are fixed texts, or a decoding problem's
message after a check that it quotes none of the operation's values (the
codec's messages sometimes quote the offending value): one that does is
replaced by a fixed text.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any, cast

import attrs

from contactpoint_sdk.clock import Clock
from contactpoint_sdk.errors import (
    AgreementViolation,
    EnvelopeMalformed,
    Problem,
    SequenceOutOfOrder,
    SignatureInvalid,
    SupplierNotAccredited,
    ValidationError,
)
from contactpoint_sdk.models.codec import WireCodec
from contactpoint_sdk.models.enums import ServiceKind
from contactpoint_sdk.models.identifiers import DirectoryId
from contactpoint_sdk.models.operations import (
    OPERATION_TAGS,
    AnyOperation,
    ChildDied,
    ChildLeftEngland,
    ChildLeftSetting,
    CommonAssessmentCompleted,
    ConsentWithdrawn,
    InvolvementChanged,
    InvolvementEnded,
    InvolvementStarted,
    OperationOutcome,
    OutcomeStatus,
    ShieldRequested,
    SocialCareReferral,
    SuppliedChild,
    SupplyReceipt,
)
from contactpoint_sdk.models.record import Involvement, Shield
from contactpoint_sdk.policy.consent import consent_decision, withdraw
from contactpoint_sdk.policy.settings import PolicySettings
from contactpoint_sdk.policy.shield import shield_lifted_on
from contactpoint_sdk.reference_server.audit import AuditEvent
from contactpoint_sdk.reference_server.entities import (
    DataQualityItem,
    DataQualityKind,
    SupplierRecord,
    SupplyAgreement,
)
from contactpoint_sdk.reference_server.linkage_profile import ChildProfile
from contactpoint_sdk.reference_server.matching import (
    Matcher,
    MatchOutcome,
    MatchResult,
    identifier_keys,
)
from contactpoint_sdk.reference_server.records import (
    RecordKeeper,
    WorkingChild,
    upn_local_authority,
)
from contactpoint_sdk.reference_server.registry import SupplierRegistry
from contactpoint_sdk.reference_server.store import (
    HeldOperationRow,
    QueueRow,
    RecordStore,
    SqliteStore,
    StagedStore,
    Store,
)
from contactpoint_sdk.supply.batch import DecodedOperation, decode_batch
from contactpoint_sdk.supply.envelope import (
    STATUS_CONTENT_TYPE,
    STATUS_REQUEST_MAX_AGE,
    EnvelopeOpener,
)
from contactpoint_sdk.supply.keys import EncryptionKey, KeyRing

__all__ = ["HELD_CODE", "Ingestor"]

#: Receipt code of an operation held for the data-quality queue.
HELD_CODE = "held_for_review"

_SAFE_FALLBACK = "the value at this path is not acceptable; see the code"
#: A batch's operations are applied this many at a time: their look-ups read
#: at once, their writes held, then written together, inside the batch's one
#: transaction (StagedStore).
_WRITE_EVERY = 100
#: The largest status request payload opened (it is three short strings).
_MAX_STATUS_BYTES = 4096
_HELD_MESSAGE = (
    "held for the local authority's review: the child could not be matched to one "
    "record with certainty; do not resend"
)
_CONSENT_MESSAGES = {
    "SENS-2": "a sensitive service is recorded only with valid, explicit consent; see the code",
    "SENS-3": "the consent override is not valid; see the code",
}


class _Rejected(Exception):
    """One operation refused; carries its outcome. Rolls back its savepoint."""

    def __init__(self, outcome: OperationOutcome) -> None:
        super().__init__(outcome.code)
        self.outcome = outcome


def _reject(
    ref: str, code: str, message: str, *, rule: str | None = None, path: str | None = None
) -> _Rejected:
    return _Rejected(
        OperationOutcome(
            ref=ref, status=OutcomeStatus.REJECTED, code=code, rule=rule, message=message, path=path
        )
    )


def _values(data: Any) -> Iterator[str]:
    """Every string and number value inside a JSON document (not its keys)."""
    if isinstance(data, dict):
        for value in data.values():
            yield from _values(value)
    elif isinstance(data, list):
        for value in data:
            yield from _values(value)
    elif isinstance(data, str):
        yield data
    elif isinstance(data, int | float) and not isinstance(data, bool):
        yield str(data)


def _quotes_any(text: str, values: set[str]) -> bool:
    return any(len(v) >= 3 and v in text for v in values)


def _problem_outcome(ref: str, problems: tuple[Problem, ...], raw: Any) -> OperationOutcome:
    """A rejection for decoding or model problems, quoting no value (SUP-1)."""
    values = set(_values(raw))
    first = problems[0]
    message = first.message
    if _quotes_any(message, values):
        message = _SAFE_FALLBACK
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problems)"
    path = first.path if not _quotes_any(first.path, values) else None
    rules = {p.rule for p in problems}
    return OperationOutcome(
        ref=ref,
        status=OutcomeStatus.REJECTED,
        code=first.code if len(problems) == 1 else "validation_failed",
        rule=first.rule if len(rules) == 1 else None,
        message=message,
        path=path,
    )


@attrs.frozen(kw_only=True)
class _Batch:
    """What every operation of one batch shares; ``store`` is where its
    operations read and write (a :class:`StagedStore` for a supply batch)."""

    supplier: SupplierRecord
    agreement: SupplyAgreement
    batch_id: str
    now: datetime
    today: date
    store: RecordStore


def _services(op: AnyOperation) -> set[ServiceKind]:
    """The service kinds an operation would record (SUP-4)."""
    if isinstance(op, SuppliedChild):
        return {i.service for i in op.involvements}
    if isinstance(op, InvolvementStarted):
        return {op.involvement.service}
    if isinstance(op, SocialCareReferral):
        return {ServiceKind.SOCIAL_CARE}
    return set()


def _prefetch(staged: StagedStore, decoded: Sequence[DecodedOperation]) -> None:
    """Read at once what the batch's matching will look up in the store (one
    query each, not one per operation): the identifier index entries of its
    children, and the shielded records born on its supplied children's
    birthdays."""
    keys: dict[tuple[str, str], None] = {}
    born: dict[date, None] = {}
    for d in decoded:
        op = d.operation
        if op is None:
            continue
        identifiers, date_of_birth = _child_key(op)
        keys.update(dict.fromkeys(identifier_keys(identifiers)))
        if isinstance(op, SuppliedChild):
            born[date_of_birth] = None
    staged.prefetch(keys, born)


def _child_key(op: AnyOperation) -> tuple[Any, date]:
    if isinstance(op, SuppliedChild):
        return op.identifiers, op.date_of_birth
    return op.child.identifiers, op.child.date_of_birth


class Ingestor:
    """Opens, checks and applies supply batches (module notes)."""

    def __init__(
        self,
        *,
        store: Store,
        keeper: RecordKeeper,
        registry: SupplierRegistry,
        matcher: Matcher,
        clock: Clock,
        codec: WireCodec,
        settings: PolicySettings,
        encryption_keys: KeyRing[EncryptionKey],
    ) -> None:
        self.store = store
        self.keeper = keeper
        self.registry = registry
        self.matcher = matcher
        self.clock = clock
        self.codec = codec
        self.settings = settings
        self.opener = EnvelopeOpener(
            decryption_keys=encryption_keys,
            supplier_keys=registry.signing_key,
            clock=clock,
        )
        #: Status requests (:meth:`status`): the same keys, their media type only.
        self.status_opener = EnvelopeOpener(
            decryption_keys=encryption_keys,
            supplier_keys=registry.registered_key,  # unknown: UnknownKey (401)
            clock=clock,
            content_types=(STATUS_CONTENT_TYPE,),
            max_payload_bytes=_MAX_STATUS_BYTES,
        )
        #: Identifiers for the batch's new children, drawn and checked unused
        #: in one query at the batch's start (:meth:`_new_directory_id`).
        self._fresh: list[DirectoryId] = []

    # --- the batch ---------------------------------------------------------

    def status(self, token: str) -> tuple[int, list[AuditEvent]]:
        """The last batch sequence number accepted from the supplier whose key
        sealed ``token``, a status request (SUP-1: a number, no child data).

        The request is a supply envelope (:data:`STATUS_CONTENT_TYPE`) holding
        ``{"supplier_id", "agreement_id", "nonce"}``, opened and verified as a
        batch is (``EnvelopeError`` subclasses, SUP-5) and at most
        :data:`STATUS_REQUEST_MAX_AGE` old (``SignatureInvalid``
        ``status_request_stale``); a key nobody registered is ``UnknownKey``.
        Refused: a suspended supplier, or a supplier ID other than the key's
        owner (``SupplierNotAccredited``, SUP-3); an agreement the supplier
        does not hold (``AgreementViolation``, SUP-4); anything else in the
        payload (``EnvelopeMalformed``)."""
        opened = self.status_opener.open(token)
        now = self.clock.now()
        if opened.created_at < now - STATUS_REQUEST_MAX_AGE:
            raise SignatureInvalid(
                "the status request was sealed too long ago; seal a new one",
                code="status_request_stale",
            )
        owner = self.registry.owner_of_key(opened.signer_kid)
        supplier = self.registry.accredited(owner)
        try:
            data = json.loads(opened.payload)
        except (ValueError, RecursionError):
            data = None
        if (
            not isinstance(data, dict)
            or set(data) != {"supplier_id", "agreement_id", "nonce"}
            or not all(isinstance(v, str) and v for v in data.values())
        ):
            raise EnvelopeMalformed(
                "a status request holds a JSON object of supplier_id, agreement_id and nonce"
            )
        if data["supplier_id"] != owner:
            raise SupplierNotAccredited(
                "the status request names a supplier other than the one whose key signed it"
            )
        if not any(a.agreement_id == data["agreement_id"] for a in supplier.agreements):
            raise AgreementViolation(
                "the status request names an agreement this supplier does not hold"
            )
        row = self.store.get_supplier(owner)
        last = 0 if row is None else row.last_sequence
        event = AuditEvent(
            at=now, action="supply_status", actor=owner, supplier_id=owner, code=str(last)
        )
        return last, [event]

    def ingest(self, token: str) -> tuple[SupplyReceipt, list[AuditEvent]]:
        """Apply a sealed batch; returns its receipt and the audit events to
        record once it is committed."""
        opened = self.opener.open(token)
        owner = self.registry.owner_of_key(opened.signer_kid)
        supplier = self.registry.accredited(owner)
        today, now = self.clock.today(), self.clock.now()
        decoded = decode_batch(opened.payload, self.codec, today=today)
        header = decoded.header
        if header.supplier_id != owner:
            raise SupplierNotAccredited(
                "the batch names a supplier other than the one whose key signed it"
            )
        agreement = next(
            (a for a in supplier.agreements if a.agreement_id == header.agreement_id), None
        )
        if agreement is None:
            raise AgreementViolation("the batch names an agreement this supplier does not hold")
        events: list[AuditEvent] = []
        with self.store.transaction():
            first = self.store.get_receipt(owner, header.batch_id)
            if first is not None:
                events.append(
                    AuditEvent(
                        at=now,
                        action="supply_batch_resent",
                        actor=owner,
                        supplier_id=owner,
                        refs=(header.batch_id,),
                    )
                )
                receipt: SupplyReceipt = self.keeper.loads(first, SupplyReceipt)
                return receipt, events
            row = self.store.get_supplier(owner)
            last = 0 if row is None else row.last_sequence
            if header.sequence <= last:
                raise SequenceOutOfOrder(
                    f"batch sequence {header.sequence} is not above the last accepted "
                    f"({last}); a resend must keep its batch_id",
                    last_sequence=last,
                )
            # Each operation's raw JSON comes with it from decode_batch: the
            # payload is parsed once.
            self._fresh = self._fresh_ids(
                sum(isinstance(d.operation, SuppliedChild) for d in decoded.operations)
            )
            batch = _Batch(
                supplier=supplier,
                agreement=agreement,
                batch_id=header.batch_id,
                now=now,
                today=today,
                store=self.store,
            )
            try:
                if isinstance(self.store, SqliteStore):
                    # The batch's writes are held and written at its end, a
                    # few statements a table (StagedStore; issue 10).
                    with StagedStore(self.store) as staged:
                        batch = attrs.evolve(batch, store=staged)
                        outcomes: list[OperationOutcome] = []
                        ops = decoded.operations
                        for start in range(0, len(ops), _WRITE_EVERY):
                            window = ops[start : start + _WRITE_EVERY]
                            _prefetch(staged, window)
                            outcomes.extend(self._one(batch, d, d.raw, events) for d in window)
                            staged.flush()
                else:
                    outcomes = [self._one(batch, d, d.raw, events) for d in decoded.operations]
            finally:
                self._fresh = []
            receipt = SupplyReceipt(
                batch_id=header.batch_id,
                sequence=header.sequence,
                received_at=now,
                outcomes=tuple(outcomes),
            )
            self.store.put_receipt(
                owner,
                header.batch_id,
                header.sequence,
                now.isoformat(),
                self.keeper.dumps(receipt),
            )
            self.store.set_last_sequence(owner, header.sequence)
        accepted = len(receipt.accepted)
        events.append(
            AuditEvent(
                at=now,
                action="supply_batch",
                actor=owner,
                supplier_id=owner,
                code=f"accepted={accepted};rejected={len(outcomes) - accepted}",
                refs=(header.batch_id, str(header.sequence)),
            )
        )
        return receipt, events

    def _one(
        self, batch: _Batch, decoded: DecodedOperation, raw: Any, events: list[AuditEvent]
    ) -> OperationOutcome:
        ref = decoded.ref or f"operations[{decoded.index}]"
        if decoded.operation is None:
            return _problem_outcome(ref, decoded.problems, raw)
        try:
            with batch.store.savepoint():
                return self.apply(batch, decoded.index, decoded.operation, raw, events)
        except _Rejected as rejected:
            return rejected.outcome
        except ValidationError as error:
            return _problem_outcome(ref, error.at(f"operations[{decoded.index}]").problems, raw)

    # --- one operation -------------------------------------------------------

    def apply(
        self,
        batch: _Batch,
        index: int,
        op: AnyOperation,
        raw: Any,
        events: list[AuditEvent],
        *,
        forced: MatchResult | None = None,
    ) -> OperationOutcome:
        """Apply one operation (module notes, step 8). ``forced`` replaces the
        matcher's answer (the management team's decision on a held supply)."""
        sid = batch.supplier.supplier_id
        path = f"operations[{index}]"
        tag = OPERATION_TAGS[type(op)]
        if tag not in batch.agreement.operations:
            raise _reject(
                op.ref,
                "operation_not_in_agreement",
                "this operation is outside the supplier's agreement",
                rule="SUP-4",
                path=path,
            )
        if not _services(op) <= batch.agreement.services:
            raise _reject(
                op.ref,
                "service_not_in_agreement",
                "this service is outside the supplier's agreement",
                rule="SUP-4",
                path=path,
            )
        self._check_consent(op, batch.today, path)

        identifiers, date_of_birth = _child_key(op)
        if forced is not None:
            result = forced
        else:
            result = self.matcher.match(
                identifiers,
                date_of_birth,
                index=batch.store,
                name=op.name if isinstance(op, SuppliedChild) else None,
                gender=op.gender if isinstance(op, SuppliedChild) else None,
                address=op.address if isinstance(op, SuppliedChild) else None,
                parents=op.parents if isinstance(op, SuppliedChild) else (),
            )
            if result.outcome is MatchOutcome.NEW and self._any_shielded(
                batch.store, result.candidates
            ):
                # The core's own SHLD-7 safety net, whatever the matcher.
                result = attrs.evolve(
                    result,
                    outcome=MatchOutcome.UNCERTAIN,
                    shielded_candidates=tuple(
                        c for c in result.candidates if self._any_shielded(batch.store, (c,))
                    ),
                )
        if result.outcome is MatchOutcome.UNCERTAIN:
            self._hold(batch, op, result, identifiers, events)
            return OperationOutcome(
                ref=op.ref,
                status=OutcomeStatus.REJECTED,
                code=HELD_CODE,
                rule="SUP-7",
                message=_HELD_MESSAGE,
                path=path,
            )
        if result.outcome is MatchOutcome.NEW:
            if not isinstance(op, SuppliedChild):
                raise _reject(
                    op.ref,
                    "child_not_found",
                    "no record matches this child; supply the child first",
                    path=path,
                )
            child = self.keeper.new(self._new_directory_id(batch.store, result.query))
        else:
            loaded = (
                None
                if result.directory_id is None
                else self.keeper.load(result.directory_id, store=batch.store)
            )
            if loaded is None:
                raise _reject(op.ref, "child_not_found", "no record matches this child", path=path)
            child = loaded
            if not child.live:
                self._raise_item(
                    batch,
                    op.ref,
                    DataQualityKind.REJECTED_SUPPLY,
                    "record_archived",
                    directory_id=child.directory_id,
                    local_authority=self._la_of(batch.store, child.directory_id),
                )
                return OperationOutcome(
                    ref=op.ref,
                    status=OutcomeStatus.REJECTED,
                    code="record_archived",
                    message="the child's record has left the directory; the local "
                    "authority has been told",
                    path=path,
                )

        self._change(batch, op, child, path)
        self.keeper.save(child, today=batch.today, now=batch.now, store=batch.store)
        if result.outcome is MatchOutcome.NEW and result.candidates:
            self._raise_item(
                batch,
                op.ref,
                DataQualityKind.POSSIBLE_DUPLICATE,
                result.code,
                directory_id=child.directory_id,
                candidates=result.candidates,
                local_authority=self._la_of(batch.store, child.directory_id),
            )
        events.append(
            AuditEvent(
                at=batch.now,
                action="supply_applied",
                actor=sid,
                directory_id=str(child.directory_id),
                supplier_id=sid,
                code=tag,
                refs=(batch.batch_id, op.ref),
            )
        )
        return OperationOutcome(ref=op.ref, status=OutcomeStatus.ACCEPTED)

    def _check_consent(self, op: AnyOperation, today: date, path: str) -> None:
        """SENS-2 / SENS-3 for the involvements an operation records."""
        if isinstance(op, SuppliedChild):
            checks = [(f"{path}.involvements[{i}]", inv) for i, inv in enumerate(op.involvements)]
            born = op.date_of_birth
        elif isinstance(op, InvolvementStarted):
            checks = [(f"{path}.involvement", op.involvement)]
            born = op.child.date_of_birth
        else:
            return
        for where, inv in checks:
            decision = consent_decision(
                inv, child_date_of_birth=born, today=today, settings=self.settings
            )
            if not decision.allowed:
                raise _reject(
                    op.ref,
                    decision.code,
                    _CONSENT_MESSAGES.get(decision.rule, "see the code"),
                    rule=decision.rule,
                    path=where,
                )

    def _change(self, batch: _Batch, op: AnyOperation, child: WorkingChild, path: str) -> None:
        """The operation's effect on the record's parts (module notes)."""
        sid = batch.supplier.supplier_id
        ns = batch.supplier.namespace
        today = batch.today
        state = child.state
        if isinstance(op, SuppliedChild):
            la = batch.supplier.local_authority or upn_local_authority(op.identifiers)
            child.set_contribution(sid, op, la, batch.now)
            child.state = state.without_corrections()
            for inv in op.involvements:
                child.put_involvement(sid, ns, inv)
        elif isinstance(op, ChildLeftSetting):
            for inv in child.supplier_involvements(sid):
                if inv.ended_on is None:
                    ended = max(op.left_on, inv.started_on)
                    child.put_involvement(sid, ns, attrs.evolve(inv, ended_on=ended))
        elif isinstance(op, InvolvementStarted):
            child.put_involvement(sid, ns, op.involvement)
        elif isinstance(op, InvolvementChanged):
            inv = self._own(child, sid, op.involvement_reference, op.ref, path)
            child.put_involvement(
                sid,
                ns,
                attrs.evolve(
                    inv,
                    lead_professional=inv.lead_professional
                    if op.lead_professional is None
                    else op.lead_professional,
                    caf_completed=inv.caf_completed
                    if op.caf_completed is None
                    else op.caf_completed,
                ),
            )
        elif isinstance(op, InvolvementEnded):
            inv = self._own(child, sid, op.involvement_reference, op.ref, path)
            child.put_involvement(sid, ns, attrs.evolve(inv, ended_on=op.ended_on))
        elif isinstance(op, ConsentWithdrawn):
            self._withdraw(child, op, batch, path)
        elif isinstance(op, ChildDied):
            self._not_future(op.died_on, today, op.ref, path)
            child.state = attrs.evolve(state, died_on=op.died_on)
        elif isinstance(op, ChildLeftEngland):
            self._not_future(op.determined_on, today, op.ref, path)
            child.state = attrs.evolve(state, left_england_on=op.determined_on)
        elif isinstance(op, ShieldRequested):
            # SHLD-2: in effect from the moment it was requested (never later
            # than its arrival). A shield already in place stays as it is.
            current = state.shield
            if current is None or shield_lifted_on(current) is not None:
                shield = Shield(
                    requested_at=min(op.requested_at, batch.now),
                    ground=op.ground,
                    requested_by=op.requested_by,
                )
                child.state = attrs.evolve(state, shield=shield)
        elif isinstance(op, CommonAssessmentCompleted):
            existing = child.involvement(sid, op.involvement_reference)
            if existing is not None:
                updated = attrs.evolve(existing, caf_completed=True, practitioner=op.practitioner)
            else:
                if ServiceKind.OTHER_ADDITIONAL not in batch.agreement.services:
                    raise _reject(
                        op.ref,
                        "service_not_in_agreement",
                        "this service is outside the supplier's agreement",
                        rule="SUP-4",
                        path=path,
                    )
                updated = Involvement(
                    reference=op.involvement_reference,
                    service=ServiceKind.OTHER_ADDITIONAL,
                    organisation=op.organisation,
                    started_on=op.completed_on,
                    practitioner=op.practitioner,
                    caf_completed=True,
                )
            child.put_involvement(sid, ns, updated)
        elif isinstance(op, SocialCareReferral):
            child.put_involvement(
                sid,
                ns,
                Involvement(
                    reference=op.involvement_reference,
                    service=ServiceKind.SOCIAL_CARE,
                    organisation=op.organisation,
                    started_on=op.started_on,
                    practitioner=op.practitioner,
                    lead_professional=op.lead_professional,
                ),
            )
        else:  # pragma: no cover - every operation type is handled above
            raise _reject(op.ref, "operation_unknown", "unknown operation", path=path)

    def _withdraw(
        self, child: WorkingChild, op: ConsentWithdrawn, batch: _Batch, path: str
    ) -> None:
        sid = batch.supplier.supplier_id
        inv = self._own(child, sid, op.involvement_reference, op.ref, path)
        if not inv.is_sensitive:
            raise _reject(
                op.ref,
                "consent_not_applicable",
                "consent is recorded only for sensitive services",
                rule="SENS-5",
                path=path,
            )
        if inv.consent is None:
            raise _reject(
                op.ref,
                "consent_not_recorded",
                "this involvement has no consent to withdraw",
                rule="SENS-2",
                path=path,
            )
        self._not_future(op.withdrawn_on, batch.today, op.ref, path)
        updated = attrs.evolve(inv, consent=withdraw(inv.consent, op.withdrawn_on))
        born = child.compose().date_of_birth
        decision = consent_decision(
            updated, child_date_of_birth=born, today=batch.today, settings=self.settings
        )
        if decision.allowed:  # an override still stands (SENS-3)
            child.put_involvement(sid, batch.supplier.namespace, updated)
        else:  # no longer recorded (SENS-2)
            child.remove_involvement(sid, inv.reference)

    @staticmethod
    def _own(
        child: WorkingChild, supplier_id: str, reference: str, ref: str, path: str
    ) -> Involvement:
        inv = child.involvement(supplier_id, reference)
        if inv is None:
            raise _reject(
                ref,
                "involvement_not_found",
                "this supplier has no involvement with that reference for this child",
                path=f"{path}.involvement_reference",
            )
        return inv

    @staticmethod
    def _not_future(day: date, today: date, ref: str, path: str) -> None:
        if day > today:
            raise _reject(ref, "date_in_future", "the date is after today", path=path)

    # --- holding, queue items ---------------------------------------------------

    @staticmethod
    def _any_shielded(store: RecordStore, candidates: tuple[DirectoryId, ...]) -> bool:
        for directory_id in candidates:
            summary = store.candidate(str(directory_id))
            if summary is not None and summary.shielded:
                return True
        return False

    @staticmethod
    def _la_of(store: RecordStore, directory_id: DirectoryId) -> str | None:
        row = store.get_child(str(directory_id))
        return None if row is None else row.local_authority

    def _hold(
        self,
        batch: _Batch,
        op: AnyOperation,
        result: MatchResult,
        identifiers: Any,
        events: list[AuditEvent],
    ) -> None:
        """Hold an uncertain match for the management team (SHLD-7, SUP-7)."""
        shielded = bool(result.shielded_candidates)
        first = (result.shielded_candidates or result.candidates or (None,))[0]
        la = self._la_of(batch.store, first) if first is not None else None
        la = la or batch.supplier.local_authority or upn_local_authority(identifiers)
        item = self._raise_item(
            batch,
            op.ref,
            DataQualityKind.SHIELD_MATCH_UNCERTAIN
            if shielded
            else DataQualityKind.POSSIBLE_DUPLICATE,
            result.code,
            directory_id=first,
            candidates=result.candidates,
            local_authority=la,
            held=True,
        )
        batch.store.put_held_operation(
            HeldOperationRow(
                item_id=item.item_id,
                supplier_id=batch.supplier.supplier_id,
                agreement_id=batch.agreement.agreement_id,
                operation=json.dumps(self.codec.encode(op), separators=(",", ":")),
            )
        )
        events.append(
            AuditEvent(
                at=batch.now,
                action="supply_held",
                actor=batch.supplier.supplier_id,
                directory_id=None if first is None else str(first),
                supplier_id=batch.supplier.supplier_id,
                code=result.code,
                rule="SHLD-7" if shielded else "SUP-7",
                refs=(batch.batch_id, op.ref, item.item_id),
            )
        )

    def _raise_item(
        self,
        batch: _Batch,
        source_ref: str,
        kind: DataQualityKind,
        detail_code: str,
        *,
        directory_id: DirectoryId | None,
        local_authority: str | None,
        candidates: tuple[DirectoryId, ...] = (),
        held: bool = False,
    ) -> DataQualityItem:
        item = DataQualityItem(
            item_id=uuid.uuid4().hex,
            kind=kind,
            raised_at=batch.now,
            local_authority=local_authority,
            directory_id=directory_id,
            supplier_id=batch.supplier.supplier_id,
            source_ref=source_ref,
            detail_code=detail_code,
            candidates=candidates,
            held=held,
        )
        batch.store.put_queue_item(
            "data_quality",
            QueueRow(
                item_id=item.item_id,
                local_authority=local_authority,
                directory_id=None if directory_id is None else str(directory_id),
                supplier_id=item.supplier_id,
                status=item.status.value,
                raised_at=item.raised_at.isoformat(),
                body=self.keeper.dumps(item),
            ),
        )
        return item

    def _fresh_ids(self, count: int) -> list[DirectoryId]:
        """``count`` random identifiers (fewer on a collision) that no record
        holds, checked in one query. Only the batch's own transaction writes
        records meanwhile, and it takes each at most once."""
        drawn: dict[str, DirectoryId] = {}
        for _ in range(count):
            candidate = DirectoryId.new()
            drawn[str(candidate)] = candidate
        taken = self.store.existing_ids(list(drawn)) if drawn else set()
        return [candidate for key, candidate in drawn.items() if key not in taken]

    def _new_directory_id(
        self, store: RecordStore, profile: ChildProfile | None = None
    ) -> DirectoryId:
        """A fresh identifier for a new record; ``profile`` is the matcher's
        profile of the supplied child it is made from (StagedStore.mark_new)."""
        if self._fresh:
            found = self._fresh.pop()
        else:
            while True:
                found = DirectoryId.new()
                if not store.child_exists(str(found)):
                    break
        if isinstance(store, StagedStore):
            store.mark_new(str(found), profile)
        return found

    # --- the management team's decision on a held supply ------------------------

    def apply_held(
        self,
        held: HeldOperationRow,
        supplier: SupplierRecord,
        decision: MatchResult,
        *,
        now: datetime,
        today: date,
        events: list[AuditEvent],
    ) -> OperationOutcome:
        """Apply a held operation as the management team decided (inside the
        caller's transaction). The agreement is the one it was supplied under."""
        agreement = next(
            (a for a in supplier.agreements if a.agreement_id == held.agreement_id), None
        )
        if agreement is None:
            raise AgreementViolation("the supplier no longer holds the agreement of this supply")
        raw = json.loads(held.operation)
        op: AnyOperation = self.codec.converter.structure(raw, cast(Any, AnyOperation))
        batch = _Batch(
            supplier=supplier,
            agreement=agreement,
            batch_id="held",
            now=now,
            today=today,
            store=self.store,
        )
        try:
            with self.store.savepoint():
                return self.apply(batch, 0, op, raw, events, forced=decision)
        except _Rejected as rejected:
            return rejected.outcome
        except ValidationError as error:
            return _problem_outcome(op.ref, error.problems, raw)
