"""Local authority management: shields, brokering, data quality, REC-7, SAR.

What the management team of a child's local authority does with the
directory, and what practitioners may ask of it:

- **Shields** (SHLD-2, SHLD-3, SHLD-6). A practitioner whose role has the
  right (:data:`~contactpoint_sdk.policy.settings.SHIELD_REQUEST_ROLES`)
  requests a shield; it is in effect at once, before any review. A request on
  a record already shielded keeps the shield in place (and its ground). The
  team of the child's authority reviews it (within 7 days, then every 6
  months); overdue reviews are listed per authority.
- **Brokering** (SENS-4). A practitioner who sees "an unspecified service"
  asks, by its ordinal in their own view, to be put in touch. The request
  goes to the queue of the child's authority; which service it is stays with
  the directory and the team. The team moves it on (forwarded, then declined
  or answered, as the practitioner of the service decides).
- **Data quality** (SUP-7, SUP-8). Supplies held for an uncertain match
  (SHLD-7), possible duplicates and supplies refused for an archived record
  are queued for the authority concerned. The team decides a held supply
  (apply it to one of the candidates, or as a new child), resolves an item,
  and may query the source: a :class:`SourceQuery` names the supplier's own
  reference, a field path and a question code, never data from elsewhere in
  the directory. The source sees the queries about its data.
- **Children with no universal service** (REC-7): the live records of an
  authority with **no current GP practice** (at any age), **or no current
  education setting while aged 5 to 17** (from the 5th birthday to the day
  before the 18th: compulsory school age and the participation age; younger
  children are not listed for want of a setting, as early years education
  is not compulsory). "Current" is what a view shows: an involvement not
  ended before today, whose contact details are still held (RET-7).
- **Subject access and correction** (SAR-1, SAR-2), by the team of the
  child's authority only: an export through redaction with purpose
  ``subject_access``; a correction of name, address, gender or date of
  birth, which overrides every source until the next supply of the child
  (:mod:`.records`).
- **Retention extension** (RET-2): the team records the young person's
  consent to stay past 18.
- **Merge and unmerge** (SUP-7, SHLD-3, SHLD-5, SHLD-7, SAR-1): the team
  of either record's authority asks to make two live records of one child
  one (:meth:`Management.merge_records`, with
  :class:`~.linkage_merge.RecordMerger`: the absorbed record is retired, its
  sources, services and any shield move to the survivor), and can undo it
  (:meth:`Management.unmerge_records`) for ``merge_undo_days``.

  *Evidence* (SUP-7): the pair must weigh at least the directory matcher's
  ``review`` threshold, or be raised together on an open possible-duplicate
  item of either authority's data-quality queue; given and family names
  that both disagree outright are refused whatever else agrees
  (``insufficient_match_evidence``).

  *Two decisions*: where the records belong to different authorities, or
  either carries a shield in place, one team alone cannot merge: the answer
  is a :class:`~.linkage_merge.PendingMerge` in the other authority's
  data-quality queue (``detail_code`` ``merge_requested``; for a shielded
  pair of one authority, another member of its team decides), done only by
  :meth:`Management.approve_merge`; resolving the item declines it.

  *Shield authority* (SHLD-3, SAR-1): while a shield is in place on a
  merged record, the authority of the record the shield came from, not the
  survivor's newest supply's, reviews the shield and handles subject access
  and correction (:meth:`Management._authority`).

  Refused too: a record that has ever been shielded on an adoption ground,
  the shield in place or since lifted (SHLD-5: pre- and post-adoption
  records are never linked; the store's adoption link barrier, which an
  unmerge gives both records back if either has it), and a pair the rules call two
  children (twins, siblings: SUP-7). A merge resolves the possible-duplicate
  item that prompted it. Audited (``records_merged``, ``merge_requested``,
  ``merge_approved``, ``records_unmerged``) by directory identifier, request
  and merge identifier only. Needs a SQLite store (the merges live in its
  database). Subject access (SAR-1) reports that a merge snapshot is held
  (:meth:`Management.merge_snapshots`), never its content: it holds raw
  supplies that the subject-access redaction has not seen.

Every refusal is a :class:`~contactpoint_sdk.errors.NotPermitted` or
:class:`~contactpoint_sdk.errors.PolicyRefusal` with its rule ID.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta

import attrs

from contactpoint_sdk.clock import Clock
from contactpoint_sdk.errors import (
    ConfigurationError,
    NotPermitted,
    PolicyRefusal,
    RecordNotFound,
    ValidationError,
)
from contactpoint_sdk.models.enums import Gender
from contactpoint_sdk.models.identifiers import DirectoryId
from contactpoint_sdk.models.operations import OperationOutcome, OutcomeStatus
from contactpoint_sdk.models.record import (
    Address,
    ChildRecord,
    Involvement,
    PersonName,
    RetentionExtension,
    Shield,
    ShieldReview,
)
from contactpoint_sdk.models.views import AnyChildView, ChildView
from contactpoint_sdk.policy.lifecycle import add_years, contact_details_kept_until
from contactpoint_sdk.policy.redaction import sees_sensitive_involvement, view
from contactpoint_sdk.policy.settings import PolicySettings
from contactpoint_sdk.policy.shield import (
    OverdueReview,
    add_review,
    overdue_reviews,
    request_shield,
    shield_lifted_on,
)
from contactpoint_sdk.policy.viewer import Purpose, Role, SubjectAccessRequester, Viewer
from contactpoint_sdk.reference_server.audit import AuditEvent
from contactpoint_sdk.reference_server.entities import (
    BrokerRequest,
    BrokerStatus,
    DataQualityItem,
    DataQualityKind,
    DataQualityStatus,
    ShieldRequestInput,
    ShieldReviewInput,
    SourceQuery,
    UniversalServiceGap,
)
from contactpoint_sdk.reference_server.ingest import Ingestor
from contactpoint_sdk.reference_server.linkage_merge import (
    MergeReceipt,
    MergeRequestStatus,
    MergeSnapshotNote,
    PendingMerge,
    RecordMerger,
)
from contactpoint_sdk.reference_server.linkage_model import FellegiSunter
from contactpoint_sdk.reference_server.linkage_params import (
    CHILD_MODEL,
    CHILD_THRESHOLDS,
    Thresholds,
)
from contactpoint_sdk.reference_server.matching import (
    MatchOutcome,
    MatchResult,
    ProbabilisticMatcher,
)
from contactpoint_sdk.reference_server.records import RecordKeeper, WorkingChild
from contactpoint_sdk.reference_server.registry import SupplierRegistry
from contactpoint_sdk.reference_server.store import LIVE, QueueRow, Store

__all__ = ["MERGE_REQUESTED", "SCHOOL_AGE_FROM", "SCHOOL_AGE_TO", "Management"]

#: The ``detail_code`` of a data-quality item that is a merge waiting for the
#: authority's approval (SUP-7; :meth:`Management.approve_merge`).
MERGE_REQUESTED = "merge_requested"

#: REC-7: a child is listed for want of an education setting from this birthday ...
SCHOOL_AGE_FROM = 5
#: ... to the day before this one (the participation age ends at 18).
SCHOOL_AGE_TO = 18

_FIELD_RE = re.compile(r"[a-z_][a-z0-9_]*(\[\d{1,4}\])*(\.[a-z_][a-z0-9_]*(\[\d{1,4}\])*)*")
_CODE_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")

#: Broker statuses each status may move to (SENS-4).
_BROKER_MOVES: dict[BrokerStatus, frozenset[BrokerStatus]] = {
    BrokerStatus.OPEN: frozenset(
        {BrokerStatus.FORWARDED, BrokerStatus.DECLINED, BrokerStatus.ANSWERED}
    ),
    BrokerStatus.FORWARDED: frozenset({BrokerStatus.DECLINED, BrokerStatus.ANSWERED}),
    BrokerStatus.DECLINED: frozenset(),
    BrokerStatus.ANSWERED: frozenset(),
}

Emit = Callable[[list[AuditEvent]], None]


def require_management_team(viewer: Viewer, local_authority: str | None, rule: str) -> None:
    """Refuse (``NotPermitted``, ``rule``) anyone but the management team of
    ``local_authority``."""
    if not viewer.is_management_team_for(local_authority):
        raise NotPermitted(
            "only the management team of the child's local authority may do this",
            code="management_team_only",
            rule=rule,
        )


class Management:
    """The management functions over the store (module notes)."""

    def __init__(
        self,
        *,
        store: Store,
        keeper: RecordKeeper,
        registry: SupplierRegistry,
        ingestor: Ingestor,
        clock: Clock,
        settings: PolicySettings,
        emit: Emit,
        merger: RecordMerger | None = None,
    ) -> None:
        self.store = store
        self.keeper = keeper
        self.registry = registry
        self.ingestor = ingestor
        self.clock = clock
        self.settings = settings
        self.emit = emit
        self.merger = merger

    # --- helpers -------------------------------------------------------------

    def _live(self, directory_id: DirectoryId | str) -> WorkingChild:
        child = self.keeper.load(directory_id)
        if child is None or not child.live:
            raise RecordNotFound("no live record has that directory identifier")
        return child

    def _live_record(self, directory_id: DirectoryId | str) -> ChildRecord:
        row = self.store.get_child(str(directory_id))
        if row is None or row.state != LIVE:
            raise RecordNotFound("no live record has that directory identifier")
        return self.keeper.record_of(row)

    def _event(
        self,
        action: str,
        actor: Viewer,
        directory_id: DirectoryId | str | None,
        *,
        code: str | None = None,
        rule: str | None = None,
        refs: tuple[str, ...] = (),
    ) -> AuditEvent:
        return AuditEvent(
            at=self.clock.now(),
            action=action,
            actor=actor.user_id,
            directory_id=None if directory_id is None else str(directory_id),
            code=code,
            rule=rule,
            refs=refs,
        )

    def _save(self, child: WorkingChild) -> ChildRecord:
        return self.keeper.save(child, today=self.clock.today(), now=self.clock.now())

    # --- shields (SHLD-2, SHLD-3, SHLD-6) --------------------------------------

    def request_shield(
        self, directory_id: DirectoryId, request: ShieldRequestInput, requester: Viewer
    ) -> Shield:
        now = self.clock.now()
        try:
            fresh = request_shield(
                role=requester.role,
                ground=request.ground,
                requested_by=request.requested_by,
                at=now,
                settings=self.settings,
            )
        except PolicyRefusal as refusal:
            self.emit(
                [
                    self._event(
                        "shield_refused",
                        requester,
                        directory_id,
                        code=refusal.code,
                        rule=refusal.rule,
                    )
                ]
            )
            raise NotPermitted(
                refusal.message, code=refusal.code, rule=refusal.rule or "SHLD-6"
            ) from None
        with self.store.transaction():
            child = self._live(directory_id)
            current = child.state.shield
            if current is not None and shield_lifted_on(current) is None:
                shield, code = current, "already_shielded"
            else:
                shield, code = fresh, request.ground.value
                child.state = attrs.evolve(child.state, shield=shield)
                self._save(child)
        self.emit(
            [self._event("shield_requested", requester, directory_id, code=code, rule="SHLD-2")]
        )
        return shield

    def review_shield(
        self, directory_id: DirectoryId, review: ShieldReviewInput, reviewer: Viewer
    ) -> Shield:
        with self.store.transaction():
            child = self._live(directory_id)
            record = child.compose()
            require_management_team(reviewer, self._authority(record), "SHLD-3")
            if child.state.shield is None:
                raise PolicyRefusal(
                    "the record has no shield to review", code="no_shield", rule="SHLD-3"
                )
            shield = add_review(
                child.state.shield,
                ShieldReview(
                    reviewed_on=review.reviewed_on,
                    reviewed_by=review.reviewed_by,
                    views_considered=review.views_considered,
                    maintained=review.maintained,
                ),
            )
            child.state = attrs.evolve(child.state, shield=shield)
            self._save(child)
        self.emit(
            [
                self._event(
                    "shield_reviewed",
                    reviewer,
                    directory_id,
                    code="maintained" if review.maintained else "lifted",
                    rule="SHLD-3",
                )
            ]
        )
        return shield

    def overdue_shield_reviews(self, local_authority: str) -> list[OverdueReview]:
        rows = list(self.store.children_where(local_authority=local_authority, shielded=True))
        if self.merger is not None:  # a merged record's shield stays its authority's (SHLD-3)
            seen = {r.directory_id for r in rows}
            for survivor in self.merger.shield_survivors(local_authority):
                row = self.store.get_child(str(survivor))
                if row is not None and row.state == LIVE and row.directory_id not in seen:
                    rows.append(row)
        records = [self.keeper.record_of(r) for r in rows]
        return overdue_reviews(
            (r for r in records if self._authority(r) == local_authority),
            self.clock.today(),
            self.settings,
        )

    # --- brokering (SENS-4) ----------------------------------------------------

    @staticmethod
    def _unspecified(record: ChildRecord, viewer: Viewer, today: date) -> list[Involvement]:
        """The involvements a viewer sees as "an unspecified service", in the
        order (and so with the ordinals) of their view."""
        out: list[Involvement] = []
        for inv in record.involvements:
            kept = contact_details_kept_until(inv)
            if kept is not None and today >= kept:
                continue
            if inv.is_sensitive and not sees_sensitive_involvement(inv, viewer):
                out.append(inv)
        return out

    def _broker(self, row: QueueRow) -> BrokerRequest:
        request: BrokerRequest = self.keeper.loads(row.body, BrokerRequest)
        return request

    def request_broker(
        self, directory_id: DirectoryId, ordinal: int, requester: Viewer
    ) -> BrokerRequest:
        now = self.clock.now()
        with self.store.transaction():
            record = self._live_record(directory_id)
            shown = view(record, requester, now)
            hidden = self._unspecified(record, requester, self.clock.today())
            if (
                not isinstance(shown, ChildView)
                or len(shown.unspecified_services) != len(hidden)
                or not 1 <= ordinal <= len(hidden)
            ):
                raise PolicyRefusal(
                    "the ordinal names no unspecified service in your view of this record",
                    code="broker_ordinal_unknown",
                    rule="SENS-4",
                )
            request = BrokerRequest(
                request_id=uuid.uuid4().hex,
                directory_id=record.directory_id,
                ordinal=ordinal,
                requested_by=requester.user_id,
                requested_at=now,
                local_authority=record.local_authority,
            )
            self._put_broker(request, involvement=hidden[ordinal - 1].reference)
        self.emit(
            [
                self._event(
                    "broker_requested",
                    requester,
                    directory_id,
                    rule="SENS-4",
                    refs=(request.request_id,),
                )
            ]
        )
        return request

    def _put_broker(self, request: BrokerRequest, *, involvement: str) -> None:
        self.store.put_queue_item(
            "broker_requests",
            QueueRow(
                item_id=request.request_id,
                local_authority=request.local_authority,
                directory_id=str(request.directory_id),
                supplier_id=None,
                status=request.status.value,
                raised_at=request.requested_at.isoformat(),
                body=self.keeper.dumps(request),
                detail=involvement,  # the service's directory reference, for the team only
            ),
        )

    def broker_queue(self, local_authority: str) -> list[BrokerRequest]:
        rows = self.store.list_queue(
            "broker_requests",
            local_authority=local_authority,
            statuses=(BrokerStatus.OPEN.value, BrokerStatus.FORWARDED.value),
        )
        return [self._broker(r) for r in rows]

    def _broker_row(self, request_id: str) -> QueueRow:
        row = self.store.get_queue_item("broker_requests", request_id)
        if row is None:
            raise RecordNotFound("no broker request has that ID", code="broker_request_not_found")
        return row

    def update_broker(self, request_id: str, status: BrokerStatus, by: Viewer) -> BrokerRequest:
        with self.store.transaction():
            row = self._broker_row(request_id)
            request = self._broker(row)
            require_management_team(by, request.local_authority, "SENS-4")
            if status not in _BROKER_MOVES[request.status]:
                raise PolicyRefusal(
                    f"a {request.status.value} request cannot become {status.value}",
                    code="broker_status_invalid",
                    rule="SENS-4",
                )
            updated = attrs.evolve(
                request, status=status, updated_by=by.user_id, updated_at=self.clock.now()
            )
            self._put_broker(updated, involvement=row.detail or "")
        self.emit(
            [
                self._event(
                    "broker_updated",
                    by,
                    request.directory_id,
                    code=status.value,
                    rule="SENS-4",
                    refs=(request_id,),
                )
            ]
        )
        return updated

    def broker_involvement(self, request_id: str, by: Viewer) -> Involvement:
        """The service a broker request is about, for the management team of
        the child's authority only (SENS-4)."""
        row = self._broker_row(request_id)
        request = self._broker(row)
        require_management_team(by, request.local_authority, "SENS-4")
        record = self._live_record(request.directory_id)
        for inv in record.involvements:
            if inv.reference == row.detail:
                self.emit(
                    [
                        self._event(
                            "broker_involvement_read",
                            by,
                            request.directory_id,
                            rule="SENS-4",
                            refs=(request_id,),
                        )
                    ]
                )
                return inv
        raise RecordNotFound(
            "the service is no longer recorded", code="broker_involvement_not_found"
        )

    # --- data quality (SUP-7, SUP-8, SHLD-7) -------------------------------------

    def _item(self, item_id: str) -> DataQualityItem:
        row = self.store.get_queue_item("data_quality", item_id)
        if row is None:
            raise RecordNotFound("no data-quality item has that ID", code="item_not_found")
        item: DataQualityItem = self.keeper.loads(row.body, DataQualityItem)
        return item

    def _put_item(self, item: DataQualityItem) -> None:
        self.store.put_queue_item(
            "data_quality",
            QueueRow(
                item_id=item.item_id,
                local_authority=item.local_authority,
                directory_id=None if item.directory_id is None else str(item.directory_id),
                supplier_id=item.supplier_id,
                status=item.status.value,
                raised_at=item.raised_at.isoformat(),
                body=self.keeper.dumps(item),
            ),
        )

    def data_quality_queue(self, local_authority: str) -> list[DataQualityItem]:
        rows = self.store.list_queue(
            "data_quality",
            local_authority=local_authority,
            statuses=(DataQualityStatus.OPEN.value,),
        )
        items: list[DataQualityItem] = [self.keeper.loads(r.body, DataQualityItem) for r in rows]
        return items

    @staticmethod
    def _item_rule(item: DataQualityItem) -> str:
        return "SHLD-7" if item.kind is DataQualityKind.SHIELD_MATCH_UNCERTAIN else "SUP-8"

    def resolve_held_supply(
        self, item_id: str, *, by: Viewer, directory_id: DirectoryId | None = None
    ) -> OperationOutcome:
        """Decide a held supply: apply it to ``directory_id`` (one of the
        item's candidates) or, with ``None``, as a new child. Returns the
        operation's outcome; the item is resolved only if it was accepted."""
        with self.store.transaction():
            item = self._item(item_id)
            require_management_team(by, item.local_authority, self._item_rule(item))
            held = self.store.get_held_operation(item_id)
            if not item.held or held is None or item.status is not DataQualityStatus.OPEN:
                raise PolicyRefusal(
                    "the item holds no supply waiting for a decision",
                    code="item_not_held",
                    rule=self._item_rule(item),
                )
            if directory_id is not None and directory_id not in item.candidates:
                raise PolicyRefusal(
                    "a held supply is applied only to one of its candidates",
                    code="not_a_candidate",
                    rule=self._item_rule(item),
                )
            decision = (
                MatchResult(outcome=MatchOutcome.NEW, code="management_decision")
                if directory_id is None
                else MatchResult(
                    outcome=MatchOutcome.MATCHED,
                    code="management_decision",
                    directory_id=directory_id,
                )
            )
            supplier = self.registry.get(held.supplier_id)
            events: list[AuditEvent] = []
            outcome = self.ingestor.apply_held(
                held,
                supplier,
                decision,
                now=self.clock.now(),
                today=self.clock.today(),
                events=events,
            )
            if outcome.status is OutcomeStatus.ACCEPTED:
                self.store.delete_held_operation(item_id)
                self._put_item(
                    attrs.evolve(item, status=DataQualityStatus.RESOLVED, resolved_by=by.user_id)
                )
            # A decision the rules refuse (the child is not in the directory, the
            # consent no longer stands ...) leaves the item open for another one.
        events.append(
            self._event(
                "held_supply_resolved",
                by,
                directory_id,
                code=outcome.code or outcome.status.value,
                rule=self._item_rule(item),
                refs=(item_id,),
            )
        )
        self.emit(events)
        return outcome

    def resolve_data_quality(self, item_id: str, *, by: Viewer) -> DataQualityItem:
        """Close an item the team has dealt with (a held supply is decided
        with :meth:`resolve_held_supply` instead; closing it here drops it)."""
        with self.store.transaction():
            item = self._item(item_id)
            require_management_team(by, item.local_authority, self._item_rule(item))
            resolved = attrs.evolve(item, status=DataQualityStatus.RESOLVED, resolved_by=by.user_id)
            self.store.delete_held_operation(item_id)
            self._put_item(resolved)
            request = None if self.merger is None else self.merger.request(item_id)
            if request is not None and request.status is MergeRequestStatus.PENDING:
                # Closing a merge request's item declines the merge (SUP-7).
                self._decline_merge(request, by)
        self.emit(
            [
                self._event(
                    "data_quality_resolved",
                    by,
                    item.directory_id,
                    rule=self._item_rule(item),
                    refs=(item_id,),
                )
            ]
        )
        return resolved

    def _decline_merge(self, request: PendingMerge, by: Viewer) -> None:
        """Mark a merge request declined (inside the caller's transaction)."""
        self._merger().put_request(
            attrs.evolve(
                request,
                status=MergeRequestStatus.DECLINED,
                decided_at=self.clock.now(),
                decided_by=by.user_id,
            )
        )

    def query_source(
        self, item_id: str, *, field: str, question_code: str, by: Viewer
    ) -> SourceQuery:
        if not isinstance(field, str) or len(field) > 128 or not _FIELD_RE.fullmatch(field):
            raise ValidationError.single(
                "a field is a wire path such as child.address.postcode or parents[1].name",
                code="field_invalid",
                rule="SUP-8",
                path="field",
            )
        if not isinstance(question_code, str) or not _CODE_RE.fullmatch(question_code):
            raise ValidationError.single(
                "a question code is 1 to 64 lower-case letters, digits or '_'",
                code="question_code_invalid",
                rule="SUP-8",
                path="question_code",
            )
        with self.store.transaction():
            item = self._item(item_id)
            require_management_team(by, item.local_authority, "SUP-8")
            if item.detail_code == MERGE_REQUESTED:
                raise PolicyRefusal(
                    "a merge request has no source to query",
                    code="not_a_supply_item",
                    rule="SUP-8",
                )
            query = SourceQuery(
                query_id=uuid.uuid4().hex,
                supplier_id=item.supplier_id,
                source_ref=item.source_ref,
                field=field,
                question_code=question_code,
                raised_at=self.clock.now(),
                item_id=item_id,
                raised_by=by.user_id,
            )
            self.store.put_queue_item(
                "source_queries",
                QueueRow(
                    item_id=query.query_id,
                    local_authority=item.local_authority,
                    directory_id=None if item.directory_id is None else str(item.directory_id),
                    supplier_id=query.supplier_id,
                    status="open",
                    raised_at=query.raised_at.isoformat(),
                    body=self.keeper.dumps(query),
                ),
            )
        self.emit(
            [
                self._event(
                    "source_queried",
                    by,
                    item.directory_id,
                    code=question_code,
                    rule="SUP-8",
                    refs=(item_id, query.query_id),
                )
            ]
        )
        return query

    def source_queries(self, supplier_id: str) -> list[SourceQuery]:
        rows = self.store.list_queue("source_queries", supplier_id=supplier_id)
        queries: list[SourceQuery] = [self.keeper.loads(r.body, SourceQuery) for r in rows]
        return queries

    # --- REC-7 ---------------------------------------------------------------------

    def universal_service_gaps(self, local_authority: str) -> list[UniversalServiceGap]:
        today = self.clock.today()
        rows = self.store.universal_service_gaps(
            local_authority,
            today.isoformat(),
            add_years(today, -SCHOOL_AGE_FROM).isoformat(),
            add_years(today, -SCHOOL_AGE_TO).isoformat(),
        )
        return [
            UniversalServiceGap(
                directory_id=DirectoryId(d), no_gp=no_gp, no_education_setting=no_edu
            )
            for d, no_gp, no_edu in rows
        ]

    # --- SAR-1, SAR-2, RET-2 -------------------------------------------------------

    def subject_access_export(
        self, directory_id: DirectoryId, requester: SubjectAccessRequester, by: Viewer
    ) -> AnyChildView:
        record = self._live_record(directory_id)
        if by.role is not Role.LA_MANAGEMENT_TEAM or by.local_authority != self._authority(record):
            self.emit(
                [
                    self._event(
                        "subject_access_refused",
                        by,
                        directory_id,
                        code="management_team_only",
                        rule="SAR-1",
                    )
                ]
            )
            raise NotPermitted(
                "subject access is handled by the management team of the child's local authority",
                code="management_team_only",
                rule="SAR-1",
            )
        viewer = attrs.evolve(
            by, purpose=Purpose.SUBJECT_ACCESS, subject_access_requester=requester
        )
        shown = view(record, viewer, self.clock.now())
        self.emit(
            [
                self._event(
                    "subject_access_export", by, directory_id, code=requester.value, rule="SAR-1"
                )
            ]
        )
        return shown

    def correct(
        self,
        directory_id: DirectoryId,
        *,
        by: Viewer,
        name: PersonName | None = None,
        address: Address | None = None,
        gender: Gender | None = None,
        date_of_birth: date | None = None,
    ) -> ChildRecord:
        fields = [
            f
            for f, v in (
                ("name", name),
                ("address", address),
                ("gender", gender),
                ("date_of_birth", date_of_birth),
            )
            if v is not None
        ]
        if not fields:
            raise ValidationError.single(
                "a correction names at least one of name, address, gender, date_of_birth",
                code="correction_empty",
                rule="SAR-2",
            )
        if date_of_birth is not None and date_of_birth > self.clock.today():
            raise ValidationError.single(
                "a date of birth cannot be in the future",
                code="date_of_birth_in_future",
                rule="REC-1",
                path="date_of_birth",
            )
        with self.store.transaction():
            child = self._live(directory_id)
            require_management_team(by, self._authority(child.compose()), "SAR-2")
            state = child.state
            child.state = attrs.evolve(
                state,
                corrected_name=name or state.corrected_name,
                corrected_address=address or state.corrected_address,
                corrected_gender=gender or state.corrected_gender,
                corrected_date_of_birth=date_of_birth or state.corrected_date_of_birth,
            )
            record = self._save(child)
        self.emit(
            [self._event("record_corrected", by, directory_id, code=",".join(fields), rule="SAR-2")]
        )
        return record

    def extend_retention(
        self, directory_id: DirectoryId, extension: RetentionExtension, by: Viewer
    ) -> ChildRecord:
        with self.store.transaction():
            child = self._live(directory_id)
            require_management_team(by, self._authority(child.compose()), "RET-2")
            child.state = attrs.evolve(child.state, retention_extension=extension)
            record = self._save(child)
        self.emit(
            [
                self._event(
                    "retention_extended",
                    by,
                    directory_id,
                    code=extension.reason.value,
                    rule="RET-2",
                )
            ]
        )
        return record

    # --- merge and unmerge (SUP-7, SHLD-5, SHLD-7) ------------------------------------

    def _merger(self) -> RecordMerger:
        if self.merger is None:
            raise ConfigurationError("merging records needs a SqliteStore (its merges table)")
        return self.merger

    def _authority(self, record: ChildRecord) -> str | None:
        """The authority whose management team acts for the record: while a
        shield is in place on a record a merge brought it into, the shielded
        record's authority (SHLD-3, SAR-1: the merging team gains neither
        shield review nor subject access); else the record's own."""
        shield = record.shield
        if self.merger is not None and shield is not None and shield_lifted_on(shield) is None:
            found = self.merger.shield_authority(record.directory_id)
            if found is not None:
                return found
        return record.local_authority

    def _scoring(self) -> tuple[FellegiSunter, Thresholds]:
        """The directory's own matcher's model and thresholds (the defaults
        for a directory without a probabilistic matcher)."""
        matcher = self.ingestor.matcher
        if isinstance(matcher, ProbabilisticMatcher):
            return matcher.model, matcher.thresholds
        return FellegiSunter(CHILD_MODEL), CHILD_THRESHOLDS

    def _duplicate_items(self, authorities: set[str]) -> list[DataQualityItem]:
        """The open possible-duplicate items about live records (not held
        supplies, not merge requests) in these authorities' queues."""
        found: list[DataQualityItem] = []
        for la in sorted(authorities):
            for row in self.store.list_queue(
                "data_quality", local_authority=la, statuses=(DataQualityStatus.OPEN.value,)
            ):
                item: DataQualityItem = self.keeper.loads(row.body, DataQualityItem)
                if (
                    item.kind is DataQualityKind.POSSIBLE_DUPLICATE
                    and not item.held
                    and item.detail_code != MERGE_REQUESTED
                ):
                    found.append(item)
        return found

    @staticmethod
    def _named(item: DataQualityItem) -> set[str]:
        named = {str(c) for c in item.candidates}
        if item.directory_id is not None:
            named.add(str(item.directory_id))
        return named

    def _require_no_adoption_barrier(self, *records: DirectoryId) -> None:
        """Refuse (``PolicyRefusal`` SHLD-5 ``adoption_records_never_linked``)
        if any of ``records`` has the adoption link barrier: it has been
        shielded on an adoption ground, whether or not the shield was lifted
        since (:mod:`.store`)."""
        if any(self.store.adoption_barrier(str(r)) is not None for r in records):
            raise PolicyRefusal(
                "records shielded on an adoption ground are never linked",
                code="adoption_records_never_linked",
                rule="SHLD-5",
            )

    def _require_evidence(
        self, survivor: DirectoryId, absorbed: DirectoryId, authorities: set[str]
    ) -> None:
        """Refuse (``PolicyRefusal`` SUP-7) a pair with no match evidence: it
        must weigh at least the matcher's ``review`` threshold (the ordinary
        one, never the lower ``shielded_review``, which exists to hide a
        supply, not to link records) or be raised together on an open
        possible-duplicate item of either authority's queue; and names that
        disagree outright (given and family) are refused whatever else agrees."""
        model, thresholds = self._scoring()
        assessed = self._merger().assess(survivor, absorbed, model)
        if assessed.names_disagree:
            raise PolicyRefusal(
                "the two records' given and family names disagree outright",
                code="insufficient_match_evidence",
                rule="SUP-7",
            )
        if assessed.weight >= thresholds.review:
            return
        pair = {str(survivor), str(absorbed)}
        if any(pair <= self._named(item) for item in self._duplicate_items(authorities)):
            return
        raise PolicyRefusal(
            "the records are not a match candidate at or above the review threshold, "
            "nor a possible duplicate on the data-quality queue",
            code="insufficient_match_evidence",
            rule="SUP-7",
        )

    def _close_duplicate_items(
        self, survivor: DirectoryId, absorbed: DirectoryId, authorities: set[str], by: Viewer
    ) -> list[AuditEvent]:
        """After a merge: the possible-duplicate items naming the absorbed
        record now name the survivor; one left naming a single record (the
        item that prompted the merge) is resolved."""
        events: list[AuditEvent] = []
        for item in self._duplicate_items(authorities):
            named = self._named(item)
            if str(absorbed) not in named:
                continue
            left = (named - {str(absorbed)}) | {str(survivor)}
            if len(left) <= 1:
                self._put_item(
                    attrs.evolve(item, status=DataQualityStatus.RESOLVED, resolved_by=by.user_id)
                )
                events.append(
                    self._event(
                        "data_quality_resolved",
                        by,
                        survivor,
                        code="merged",
                        rule="SUP-7",
                        refs=(item.item_id,),
                    )
                )
                continue
            first = survivor if item.directory_id == absorbed else item.directory_id
            self._put_item(
                attrs.evolve(
                    item,
                    directory_id=first,
                    candidates=tuple(
                        DirectoryId(c)
                        for c in dict.fromkeys(
                            str(survivor) if c == absorbed else str(c) for c in item.candidates
                        )
                        if first is None or c != str(first)
                    ),
                )
            )
        return events

    def _require_team_of_either(
        self,
        by: Viewer,
        survivor: DirectoryId,
        absorbed: DirectoryId,
        also: tuple[str, ...] = (),
    ) -> None:
        """Refuse (``NotPermitted``, SUP-7) anyone but the management team of
        the authority of one of the two records (``RecordNotFound`` if the
        survivor is not live), or of one of ``also``. The absorbed record's
        authority is its own row's, kept as it was when it was retired."""
        survivor_la = self._authority(self._live_record(survivor))
        row = self.store.get_child(str(absorbed))
        allowed = (survivor_la, None if row is None else row.local_authority, *also)
        if not any(by.is_management_team_for(la) for la in allowed if la is not None):
            require_management_team(by, survivor_la, "SUP-7")

    def merge_records(
        self, survivor: DirectoryId, absorbed: DirectoryId, by: Viewer
    ) -> MergeReceipt | PendingMerge:
        """Make ``survivor`` hold ``absorbed``'s data and retire ``absorbed``
        (SUP-7), asked by the management team of either record's authority
        (while shielded, the shield's authority: :meth:`_authority`).

        Evidence first: the pair must be a match candidate at or above the
        matcher's review threshold, or raised together as a possible
        duplicate on either authority's queue (else ``PolicyRefusal`` SUP-7
        ``insufficient_match_evidence``; so are names that disagree outright).

        One team alone merges only two unshielded records of its own
        authority: the merge is done and a :class:`MergeReceipt` returned.
        Where the records belong to different authorities, or either carries
        a shield in place, the answer is a :class:`PendingMerge`, queued for
        the *other* authority (the same one, for a shielded pair of one
        authority: then another member of its team) as a data-quality item
        with the request's ID and ``detail_code`` ``merge_requested``; it
        takes effect only on :meth:`approve_merge`, and resolving the item
        (:meth:`resolve_data_quality`) declines it.

        Other refusals: ``RecordNotFound`` unless both records are live;
        ``NotPermitted`` (SUP-7) for anyone but those teams;
        ``PolicyRefusal`` SHLD-5 (``adoption_records_never_linked``: either
        record has ever been shielded on an adoption ground, lifted or not);
        ``PolicyRefusal`` SUP-7 ``same_record``, ``looks_like_twin``,
        ``looks_like_sibling``. Audited (identifiers only): ``records_merged``,
        or ``merge_requested``; a merge resolves the possible-duplicate item
        that prompted it (``data_quality_resolved``, code ``merged``)."""
        merger = self._merger()
        now = self.clock.now()
        with self.store.transaction():
            s_record = self._live_record(survivor)
            a_record = self._live_record(absorbed) if str(absorbed) != str(survivor) else s_record
            s_la, a_la = self._authority(s_record), self._authority(a_record)
            authorities = {la for la in (s_la, a_la) if la is not None}
            if not any(by.is_management_team_for(la) for la in authorities):
                require_management_team(by, s_la, "SUP-7")
            self._require_no_adoption_barrier(survivor, absorbed)
            self._require_evidence(survivor, absorbed, authorities)
            shielded = any(
                r.shield is not None and shield_lifted_on(r.shield) is None
                for r in (s_record, a_record)
            )
            reasons = (("different_authorities",) if s_la != a_la else ()) + (
                ("shielded",) if shielded else ()
            )
            if reasons:
                mine = by.local_authority
                approving = a_la if mine == s_la else s_la
                result: MergeReceipt | PendingMerge
                result = pending = PendingMerge(
                    request_id=uuid.uuid4().hex,
                    survivor=survivor,
                    absorbed=absorbed,
                    requested_at=now,
                    requested_by=by.user_id,
                    requesting_authority=mine,
                    approving_authority=approving or mine,
                    reasons=reasons,
                    status=MergeRequestStatus.PENDING,
                )
                merger.put_request(pending)
                self._put_item(
                    DataQualityItem(
                        item_id=pending.request_id,
                        kind=DataQualityKind.POSSIBLE_DUPLICATE,
                        raised_at=now,
                        local_authority=pending.approving_authority,
                        directory_id=survivor,
                        supplier_id="",
                        source_ref=pending.request_id,
                        detail_code=MERGE_REQUESTED,
                        candidates=(survivor, absorbed),
                    )
                )
                events = [
                    self._event(
                        "merge_requested",
                        by,
                        survivor,
                        code=",".join(reasons),
                        rule="SUP-7",
                        refs=(str(absorbed), pending.request_id),
                    )
                ]
            else:
                result, events = merger.merge(
                    survivor, absorbed, by=by.user_id, now=now, today=self.clock.today()
                )
                events += self._close_duplicate_items(survivor, absorbed, authorities, by)
        self.emit(events)
        return result

    def approve_merge(self, request_id: str, by: Viewer) -> MergeReceipt:
        """Approve a :class:`PendingMerge` (SUP-7): by the management team of
        its approving authority, never the user who asked. Every check of
        :meth:`merge_records` runs again on the records as they are now; then
        the merge is done, the request and its queue item closed, and the
        possible-duplicate item that prompted it resolved.

        Refusals: ``RecordNotFound`` (``merge_request_not_found``);
        ``PolicyRefusal`` SUP-7 ``merge_request_closed`` (approved, or
        declined by resolving its item), ``merge_request_stale`` (the
        approving authority no longer holds either record); ``NotPermitted``
        SUP-7 ``management_team_only`` for anyone but that team,
        ``second_decision_needed`` for the requester. Audited as
        ``merge_approved`` then ``records_merged`` (identifiers only)."""
        merger = self._merger()
        now = self.clock.now()
        with self.store.transaction():
            request = merger.request(request_id)
            if request is None:
                raise RecordNotFound(
                    "no merge request has that identifier", code="merge_request_not_found"
                )
            item = self._item(request_id)
            require_management_team(by, request.approving_authority, "SUP-7")
            if request.status is not MergeRequestStatus.PENDING or (
                item.status is not DataQualityStatus.OPEN
            ):
                raise PolicyRefusal(
                    "the merge request was already decided",
                    code="merge_request_closed",
                    rule="SUP-7",
                )
            if by.user_id == request.requested_by:
                raise NotPermitted(
                    "a merge needing a second decision is approved by someone else",
                    code="second_decision_needed",
                    rule="SUP-7",
                )
            s_record = self._live_record(request.survivor)
            a_record = self._live_record(request.absorbed)
            authorities = {
                la for la in (self._authority(s_record), self._authority(a_record)) if la
            }
            if request.approving_authority not in authorities:
                raise PolicyRefusal(
                    "the records have moved on since the request; ask again",
                    code="merge_request_stale",
                    rule="SUP-7",
                )
            self._require_no_adoption_barrier(request.survivor, request.absorbed)
            self._require_evidence(request.survivor, request.absorbed, authorities)
            receipt, merged = merger.merge(
                request.survivor,
                request.absorbed,
                by=by.user_id,
                now=now,
                today=self.clock.today(),
            )
            merger.put_request(
                attrs.evolve(
                    request,
                    status=MergeRequestStatus.APPROVED,
                    decided_at=now,
                    decided_by=by.user_id,
                    merge_id=receipt.merge_id,
                )
            )
            self._put_item(
                attrs.evolve(item, status=DataQualityStatus.RESOLVED, resolved_by=by.user_id)
            )
            events = [
                self._event(
                    "merge_approved",
                    by,
                    request.survivor,
                    rule="SUP-7",
                    refs=(str(request.absorbed), request_id, receipt.merge_id),
                ),
                *merged,
                *self._close_duplicate_items(request.survivor, request.absorbed, authorities, by),
            ]
        self.emit(events)
        return receipt

    def _expire_merge_snapshots(self) -> list[str]:
        """Drop the snapshots of merges past ``merge_undo_days`` (RET-7)."""
        cutoff = self.clock.now() - timedelta(days=self.settings.merge_undo_days)
        return self._merger().expire_snapshots(cutoff)

    def unmerge_records(self, merge_id: str, by: Viewer) -> MergeReceipt:
        """Undo a merge (SUP-7), by the management team of either record's
        authority (either when they were merged, or the survivor's now):
        both records live again as they were (a shield the survivor has now
        stays on it, SHLD-7; SAR-2 corrections stand). ``RecordNotFound``
        for an unknown or undone merge, or when the survivor is no longer
        live; ``NotPermitted`` (SUP-7) for anyone else; ``PolicyRefusal``
        SUP-7 ``merge_undo_expired`` once the merge is older than
        ``merge_undo_days`` (its snapshot is then deleted, RET-7). An
        adoption link barrier either record has (SHLD-5) is given to both. Audited
        as ``records_unmerged``; the snapshot is deleted with the undoing."""
        merger = self._merger()
        with self.store.transaction():
            found = merger.receipt(merge_id)
            if found is None or found.undone_at is not None:
                raise RecordNotFound(
                    "no merge waiting to be undone has that identifier", code="merge_not_found"
                )
            self._require_team_of_either(
                by, found.survivor, found.absorbed, merger.authorities(merge_id)
            )
        self._expire_merge_snapshots()  # its own transaction: stays done if refused below
        with self.store.transaction():
            receipt, events = merger.unmerge(
                merge_id, by=by.user_id, now=self.clock.now(), today=self.clock.today()
            )
            # SHLD-5: a barrier set while the records were one (an adoption
            # shield on the survivor) stays with both records it is split into.
            pair = (str(receipt.survivor), str(receipt.absorbed))
            for mine, theirs in (pair, pair[::-1]):
                ground = self.store.adoption_barrier(mine)
                if ground is not None:
                    self.store.set_adoption_barrier(theirs, ground)
        self.emit(events)
        return receipt

    def merge_snapshots(self, directory_id: DirectoryId, by: Viewer) -> list[MergeSnapshotNote]:
        """That merge snapshots are held for the record (SAR-1), never their
        content: for the team that handles its subject access, which reports
        them with the export. Audited as ``subject_access_merge_snapshots``."""
        merger = self._merger()
        self._expire_merge_snapshots()
        record = self._live_record(directory_id)
        require_management_team(by, self._authority(record), "SAR-1")
        days = timedelta(days=self.settings.merge_undo_days)
        notes = [
            MergeSnapshotNote(
                merge_id=m.merge_id,
                directory_id=m.survivor,
                merged_at=m.merged_at,
                undo_until=m.merged_at + days,
            )
            for m in merger.snapshots_of(directory_id)
        ]
        self.emit(
            [
                self._event(
                    "subject_access_merge_snapshots",
                    by,
                    directory_id,
                    code=str(len(notes)),
                    rule="SAR-1",
                    refs=tuple(n.merge_id for n in notes),
                )
            ]
        )
        return notes

    def now(self) -> datetime:
        return self.clock.now()
