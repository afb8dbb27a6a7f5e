"""The directory's core: one plain Python service behind every way it is served.

:class:`DirectoryService` holds the whole directory — supplier registry,
records, archive, management queues — over one :class:`Store`. The HTTP app
(:mod:`.app`) is a thin layer that maps routes to these methods; the in-process
transports and the loopback HTTPS server both serve one instance, so a vendor's
test and a tester's run see one state (as moto does). Rule tests call these
methods directly.

Every method that depends on the date reads it from the service's clock, which
tests move (RET-8). Nothing here logs child or parent data: logs and audit
entries carry identifiers only.

The parts, each in its own module:

- :mod:`.registry` — accredited suppliers, keys, agreements (SUP-3, SUP-4);
- :mod:`.ingest` — envelope to receipt (SUP-1..SUP-9, SENS-2, SHLD-7);
- :mod:`.matching` — which record a supply belongs to (SUP-7, SHLD-7);
- :mod:`.records` — composing a record from its sources; namespacing;
- :mod:`.jobs` — archive, contact retention, destruction (RET-1..RET-8);
- :mod:`.management` — shields, brokering, data quality, REC-7, SAR;
- :mod:`.store` — the one store interface and its SQLite implementation;
- :mod:`.audit` — the append-only audit sink (ACC-5).

Every refusal is a typed error from :mod:`contactpoint_sdk.errors` carrying
its rule ID.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from contactpoint_sdk.clock import Clock, MovableClock
from contactpoint_sdk.errors import (
    ConfigurationError,
    ContactPointError,
    NotPermitted,
    RecordNotFound,
    ValidationError,
)
from contactpoint_sdk.models.codec import WireCodec
from contactpoint_sdk.models.enums import Gender
from contactpoint_sdk.models.identifiers import DirectoryId
from contactpoint_sdk.models.operations import OperationOutcome, SuppliedChild, SupplyReceipt
from contactpoint_sdk.models.record import (
    Address,
    ChildRecord,
    Involvement,
    PersonName,
    RetentionExtension,
    Shield,
    SourceIdentifiers,
)
from contactpoint_sdk.models.views import AnyChildView, FullRecordView
from contactpoint_sdk.policy.redaction import view as redact
from contactpoint_sdk.policy.settings import DEFAULT_POLICY, PolicySettings
from contactpoint_sdk.policy.shield import OverdueReview
from contactpoint_sdk.policy.viewer import Purpose, Role, SubjectAccessRequester, Viewer
from contactpoint_sdk.reference_server.audit import AuditEvent, AuditSink, MemoryAuditLog
from contactpoint_sdk.reference_server.entities import (
    ALL_OPERATIONS,
    BrokerRequest,
    BrokerStatus,
    DataQualityItem,
    DataQualityKind,
    DataQualityStatus,
    JobReport,
    ShieldRequestInput,
    ShieldReviewInput,
    SourceQuery,
    SupplierRecord,
    SupplyAgreement,
    UniversalServiceGap,
)
from contactpoint_sdk.reference_server.ingest import Ingestor
from contactpoint_sdk.reference_server.jobs import LifecycleJobs
from contactpoint_sdk.reference_server.management import Management
from contactpoint_sdk.reference_server.matching import (
    Matcher,
    StrongIdentifierMatcher,
    identifier_keys,
)
from contactpoint_sdk.reference_server.records import (
    Contribution,
    DirectoryState,
    RecordKeeper,
    StoredInvolvement,
    compose,
    directory_reference,
)
from contactpoint_sdk.reference_server.registry import (
    SEED_NAMESPACE,
    SEED_SUPPLIER,
    SupplierRegistry,
)
from contactpoint_sdk.reference_server.store import (
    LIVE,
    ChildRow,
    ContributionRow,
    InvolvementRow,
    SqliteStore,
    Store,
)
from contactpoint_sdk.supply.keys import EncryptionKey, KeyRing, PublicKey

__all__ = [
    "ALL_OPERATIONS",
    "BrokerRequest",
    "BrokerStatus",
    "DataQualityItem",
    "DataQualityKind",
    "DataQualityStatus",
    "DirectoryService",
    "JobReport",
    "ShieldRequestInput",
    "ShieldReviewInput",
    "SourceQuery",
    "SupplierRecord",
    "SupplyAgreement",
    "UniversalServiceGap",
]

_KEYS_META = "directory_encryption_keys"
_REASON_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_SEED_CHUNK = 2000


class DirectoryService:
    """The whole reference directory, in-process (module notes).

    Thread safe: the store serialises units of work; every method that
    changes anything runs in one store transaction.
    """

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        encryption_keys: KeyRing[EncryptionKey],
        settings: PolicySettings = DEFAULT_POLICY,
        matcher: Matcher | None = None,
        audit: AuditSink | None = None,
    ) -> None:
        if encryption_keys.key_type is not EncryptionKey or not len(encryption_keys):
            raise ConfigurationError("the directory needs a ring of X25519 encryption keys")
        self.store = store
        self.clock = clock
        self.codec = WireCodec(clock)
        self.settings = settings
        self.encryption_keys = encryption_keys
        self.matcher: Matcher = matcher or StrongIdentifierMatcher()
        self.audit: AuditSink = audit if audit is not None else MemoryAuditLog()
        self.registry = SupplierRegistry(store)
        self.keeper = RecordKeeper(store, self.codec, settings)
        self._ingestor = Ingestor(
            store=store,
            keeper=self.keeper,
            registry=self.registry,
            matcher=self.matcher,
            clock=clock,
            codec=self.codec,
            settings=settings,
            encryption_keys=encryption_keys,
        )
        self._jobs = LifecycleJobs(store, self.keeper, settings)
        self.management = Management(
            store=store,
            keeper=self.keeper,
            registry=self.registry,
            ingestor=self._ingestor,
            clock=clock,
            settings=settings,
            emit=self._emit,
        )

    @classmethod
    def in_memory(
        cls, *, clock: Clock | None = None, path: str | Path | None = None
    ) -> DirectoryService:
        """A ready directory: SQLite in memory (or the file ``path``, in WAL
        mode), a :class:`~contactpoint_sdk.clock.MovableClock` at the current
        time unless ``clock`` is given, and directory keys.

        The keys are fresh for a new database. A file database keeps its
        private keys in its ``meta`` table and reuses them when reopened, so a
        restarted directory still opens envelopes sealed to it (a reference
        server's convenience: a real directory keeps keys in a key store and
        passes ``encryption_keys`` to the constructor).
        """
        store = SqliteStore(path if path is not None else ":memory:")
        keys = _load_or_create_keys(store)
        return cls(
            store=store, clock=clock or MovableClock(datetime.now(UTC)), encryption_keys=keys
        )

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def _emit(self, events: list[AuditEvent]) -> None:
        for event in events:
            self.audit.record(event)

    @contextmanager
    def _refusals_audited(
        self, action: str, actor: str, directory_id: DirectoryId | str | None = None
    ) -> Iterator[None]:
        """Record a refusal (any ContactPointError) in the audit, then re-raise (ACC-5)."""
        try:
            yield
        except ContactPointError as error:
            self._emit(
                [
                    AuditEvent(
                        at=self.clock.now(),
                        action=f"{action}_refused",
                        actor=actor,
                        directory_id=None if directory_id is None else str(directory_id),
                        code=error.code,
                        rule=error.rule,
                    )
                ]
            )
            raise

    # --- keys and registry (SUP-3, SUP-4, SUP-5) ---------------------------------

    def directory_jwks(self) -> dict[str, Any]:
        """The directory's public encryption keys as a JWKS; the first is the
        one to seal to now."""
        now = self.clock.now()
        current = self.encryption_keys.current(now).public_key()
        others = [
            e.key.public_key()
            for e in self.encryption_keys
            if e.kid != current.kid and (e.not_after is None or now < e.not_after)
        ]
        return {"keys": [k.public_jwk() for k in (current, *others)]}

    def directory_public_key(self) -> PublicKey:
        """The key suppliers seal to now."""
        return self.encryption_keys.current(self.clock.now()).public_key()

    def register_supplier(
        self,
        supplier_id: str,
        name: str,
        *,
        signing_keys: Iterable[PublicKey],
        agreements: Iterable[SupplyAgreement],
        local_authority: str | None = None,
    ) -> SupplierRecord:
        """Register (or update and reinstate) an accredited supplier (SUP-3, SUP-4)."""
        record = self.registry.register(
            supplier_id,
            name,
            signing_keys=signing_keys,
            agreements=agreements,
            local_authority=local_authority,
            now=self.clock.now(),
        )
        self._emit(
            [
                AuditEvent(
                    at=self.clock.now(),
                    action="supplier_registered",
                    actor="directory",
                    supplier_id=supplier_id,
                    rule="SUP-3",
                    refs=record.key_ids,
                )
            ]
        )
        return record

    def suspend_supplier(self, supplier_id: str) -> SupplierRecord:
        """Refuse every later supply from the supplier (SUP-3)."""
        record = self.registry.suspend(supplier_id)
        self._emit(
            [
                AuditEvent(
                    at=self.clock.now(),
                    action="supplier_suspended",
                    actor="directory",
                    supplier_id=supplier_id,
                    rule="SUP-3",
                )
            ]
        )
        return record

    def supplier(self, supplier_id: str) -> SupplierRecord:
        """The registered supplier; ``RecordNotFound`` (``supplier_not_found``)."""
        return self.registry.get(supplier_id)

    # --- supply --------------------------------------------------------------------

    def ingest(self, token: str) -> SupplyReceipt:
        """Open, check and apply a sealed supply batch; its receipt (SUP-1).

        See :mod:`.ingest` for the steps. Whole-batch refusals raise:
        ``EnvelopeError`` subclasses (SUP-5), ``SupplierNotAccredited``
        (SUP-3), ``ValidationError`` (the batch's own fields),
        ``AgreementViolation`` (SUP-4), ``SequenceOutOfOrder`` (SUP-5).
        A resent batch returns its first receipt and changes nothing.
        """
        with self._refusals_audited("supply_batch", "unknown-sender"):
            receipt, events = self._ingestor.ingest(token)
        self._emit(events)
        return receipt

    # --- reads -----------------------------------------------------------------------

    def record(self, directory_id: DirectoryId) -> ChildRecord:
        """The live record; ``RecordNotFound`` if archived, destroyed or unknown."""
        row = self.store.get_child(str(directory_id))
        if row is None or row.state != LIVE:
            raise RecordNotFound("no live record has that directory identifier")
        return self.keeper.record_of(row)

    def find_by_identifier(self, identifiers: SourceIdentifiers) -> DirectoryId | None:
        """The one live record any of ``identifiers`` names, or ``None`` when
        none does — or when they name more than one (ambiguous: no answer
        rather than a guess)."""
        found: set[str] = set()
        for kind, value in identifier_keys(identifiers):
            found.update(self.store.find_identifier(kind, value))
        live = [d for d in sorted(found) if (row := self.store.get_child(d)) and row.state == LIVE]
        return DirectoryId(live[0]) if len(live) == 1 else None

    def view(self, directory_id: DirectoryId, viewer: Viewer) -> AnyChildView:
        """What ``viewer`` may see of the live record now
        (:func:`~contactpoint_sdk.policy.redaction.view`); audited (ACC-5)."""
        with self._refusals_audited("record_view", viewer.user_id, directory_id):
            record = self.record(directory_id)
            shown = redact(record, viewer, self.clock.now())
        self._emit(
            [
                AuditEvent(
                    at=self.clock.now(),
                    action="record_viewed",
                    actor=viewer.user_id,
                    directory_id=str(directory_id),
                    code=type(shown).__name__,
                    rule="ACC-5",
                )
            ]
        )
        return shown

    def counts(self) -> dict[str, int]:
        """How many records are ``live``, ``archived`` and ``destroyed``."""
        found = self.store.counts()
        found["destroyed"] = int(self.store.get_meta("destroyed_count") or "0")
        return found

    # --- lifecycle (RET) -------------------------------------------------------------

    def run_jobs(self) -> JobReport:
        """Run the lifecycle jobs on the clock's date (:mod:`.jobs`)."""
        report, events = self._jobs.run(now=self.clock.now(), today=self.clock.today())
        self._emit(events)
        return report

    def read_archive(
        self, directory_id: DirectoryId, viewer: Viewer, *, reason: str | None = None
    ) -> FullRecordView:
        """An archived record, for an archive reviewer reading for a serious
        case review or a child death (role ``archive_reviewer``, purpose
        ``archive_review``): RET-6. Audited with ``reason``, a code such as
        ``serious_case_review`` or ``child_death_review`` (never free text,
        which could carry child data into the audit)."""
        with self._refusals_audited("archive_read", viewer.user_id, directory_id):
            if reason is not None and not _REASON_RE.fullmatch(reason):
                raise ValidationError.single(
                    "a reason is a code: 1 to 64 lower-case letters, digits or '_'",
                    code="reason_invalid",
                    rule="RET-6",
                    path="reason",
                )
            if viewer.role is not Role.ARCHIVE_REVIEWER:
                raise NotPermitted(
                    "only an archive reviewer may read the archive",
                    code="archive_role_required",
                    rule="RET-6",
                )
            if viewer.purpose is not Purpose.ARCHIVE_REVIEW:
                raise NotPermitted(
                    "the archive is read only for a serious case review or a child death",
                    code="archive_purpose_required",
                    rule="RET-6",
                )
            row = self.store.get_child(str(directory_id))
            if row is None or row.state == LIVE:
                raise RecordNotFound("no archived record has that directory identifier")
            shown = redact(self.keeper.record_of(row), viewer, self.clock.now())
            if not isinstance(shown, FullRecordView):  # pragma: no cover - policy says full
                raise NotPermitted(
                    "the archive view is refused", code="archive_refused", rule="RET-6"
                )
        self._emit(
            [
                AuditEvent(
                    at=self.clock.now(),
                    action="archive_read",
                    actor=viewer.user_id,
                    directory_id=str(directory_id),
                    code=reason,
                    rule="RET-6",
                )
            ]
        )
        return shown

    # --- local authority management (issue 5, item 6) ---------------------------------

    def request_shield(
        self, directory_id: DirectoryId, request: ShieldRequestInput, requester: Viewer
    ) -> Shield:
        """Shield the record at once (SHLD-2), if the requester's role may (SHLD-6)."""
        return self.management.request_shield(directory_id, request, requester)

    def review_shield(
        self, directory_id: DirectoryId, review: ShieldReviewInput, reviewer: Viewer
    ) -> Shield:
        """Record a review by the child's management team (SHLD-3)."""
        with self._refusals_audited("shield_review", reviewer.user_id, directory_id):
            return self.management.review_shield(directory_id, review, reviewer)

    def overdue_shield_reviews(self, local_authority: str) -> list[OverdueReview]:
        """The authority's shields whose review is overdue today (SHLD-3)."""
        return self.management.overdue_shield_reviews(local_authority)

    def request_broker(
        self, directory_id: DirectoryId, ordinal: int, requester: Viewer
    ) -> BrokerRequest:
        """Ask the management team to broker contact with the unspecified
        service ``ordinal`` of the requester's view (SENS-4)."""
        with self._refusals_audited("broker_request", requester.user_id, directory_id):
            return self.management.request_broker(directory_id, ordinal, requester)

    def broker_queue(self, local_authority: str) -> list[BrokerRequest]:
        """The authority's open and forwarded broker requests (SENS-4)."""
        return self.management.broker_queue(local_authority)

    def update_broker(self, request_id: str, status: BrokerStatus, by: Viewer) -> BrokerRequest:
        """Move a broker request on (the child's management team only)."""
        with self._refusals_audited("broker_update", by.user_id):
            return self.management.update_broker(request_id, status, by)

    def broker_involvement(self, request_id: str, by: Viewer) -> Involvement:
        """Which service a broker request is about (the management team only)."""
        with self._refusals_audited("broker_involvement_read", by.user_id):
            return self.management.broker_involvement(request_id, by)

    def data_quality_queue(self, local_authority: str) -> list[DataQualityItem]:
        """The authority's open data-quality items (SUP-7, SUP-8, SHLD-7)."""
        return self.management.data_quality_queue(local_authority)

    def resolve_held_supply(
        self, item_id: str, *, by: Viewer, directory_id: DirectoryId | None = None
    ) -> OperationOutcome:
        """Decide a held supply: apply it to one of its candidates, or as a new child."""
        with self._refusals_audited("held_supply_resolve", by.user_id, directory_id):
            return self.management.resolve_held_supply(item_id, by=by, directory_id=directory_id)

    def resolve_data_quality(self, item_id: str, *, by: Viewer) -> DataQualityItem:
        """Close a data-quality item."""
        with self._refusals_audited("data_quality_resolve", by.user_id):
            return self.management.resolve_data_quality(item_id, by=by)

    def query_source(
        self, item_id: str, *, field: str, question_code: str, by: Viewer
    ) -> SourceQuery:
        """Query the source about its own data (SUP-8): its reference, a field
        path and a question code, nothing from elsewhere."""
        with self._refusals_audited("source_query", by.user_id):
            return self.management.query_source(
                item_id, field=field, question_code=question_code, by=by
            )

    def source_queries(self, supplier_id: str) -> list[SourceQuery]:
        """What a source sees: the queries about its data (SUP-8)."""
        return self.management.source_queries(supplier_id)

    def children_without_universal_service(self, local_authority: str) -> list[DirectoryId]:
        """REC-7: the authority's live records with no current GP, or no
        current education setting while aged 5 to 17 (see :mod:`.management`)."""
        return [g.directory_id for g in self.management.universal_service_gaps(local_authority)]

    def universal_service_gaps(self, local_authority: str) -> list[UniversalServiceGap]:
        """:meth:`children_without_universal_service`, saying which gap each has."""
        return self.management.universal_service_gaps(local_authority)

    def subject_access_export(
        self, directory_id: DirectoryId, requester: SubjectAccessRequester, by: Viewer
    ) -> AnyChildView:
        """Everything held about the child, for the child or a parent (SAR-1),
        by the child's management team."""
        return self.management.subject_access_export(directory_id, requester, by)

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
        """Correct inaccurate data (SAR-2), by the child's management team. The
        correction stands until the next supply of the child from any source."""
        with self._refusals_audited("record_correct", by.user_id, directory_id):
            return self.management.correct(
                directory_id,
                by=by,
                name=name,
                address=address,
                gender=gender,
                date_of_birth=date_of_birth,
            )

    def extend_retention(
        self, directory_id: DirectoryId, extension: RetentionExtension, by: Viewer
    ) -> ChildRecord:
        """Record consent to keep the record past 18 (RET-2)."""
        with self._refusals_audited("retention_extend", by.user_id, directory_id):
            return self.management.extend_retention(directory_id, extension, by)

    # --- controls ----------------------------------------------------------------------

    def reset(self, *, keep_suppliers: bool = True) -> None:
        """Empty the directory for a clean test: records, archive, receipts,
        queues and held supplies go, and every supplier's last sequence
        returns to 0. The directory's keys stay, and so do registered
        suppliers and their keys unless ``keep_suppliers=False``, so a
        vendor registers once and resets between tests. The audit log is
        append-only and is not emptied: the reset is recorded in it."""
        self.store.reset(keep_suppliers=keep_suppliers)
        self.store.set_meta("destroyed_count", "0")
        self._emit(
            [
                AuditEvent(
                    at=self.clock.now(),
                    action="directory_reset",
                    actor="directory",
                    code="keep_suppliers" if keep_suppliers else "all",
                )
            ]
        )

    def seed_population(self, n: int, seed: int) -> int:
        """Put ``n`` synthetic children straight into the store (for look-up
        tests and demos); returns how many were added (records whose
        directory identifier already exists are skipped). Needs the
        ``synthetic`` extra."""
        try:
            # Imported here: the synthetic extra (Faker) is optional.
            from contactpoint_sdk.synthetic import Population  # noqa: PLC0415
        except ImportError as error:  # pragma: no cover - faker missing
            raise ConfigurationError(
                "seeding needs the synthetic extra: pip install 'contactpoint-sdk[synthetic]'"
            ) from error
        if n < 0:
            raise ValueError("n must not be negative")
        today, now = self.clock.today(), self.clock.now()
        population = Population(seed, today=today)
        added = 0
        batch: list[ChildRecord] = []
        for record in population.children(n):
            batch.append(record)
            if len(batch) == _SEED_CHUNK:
                added += self._seed(batch, today=today, now=now)
                batch = []
        if batch:
            added += self._seed(batch, today=today, now=now)
        self._emit(
            [
                AuditEvent(
                    at=now,
                    action="population_seeded",
                    actor="directory",
                    code=str(added),
                    refs=(str(seed),),
                )
            ]
        )
        return added

    def _seed(self, records: list[ChildRecord], *, today: date, now: datetime) -> int:
        existing = self.store.existing_ids([str(r.directory_id) for r in records])
        children: list[ChildRow] = []
        contributions: list[ContributionRow] = []
        involvements: list[InvolvementRow] = []
        identifiers: list[tuple[str, str, str, str]] = []
        stamp = now.isoformat()
        for original in records:
            key = str(original.directory_id)
            if key in existing:
                continue
            existing.add(key)
            supplied = SuppliedChild(
                ref="seed",
                name=original.name,
                gender=original.gender,
                date_of_birth=original.date_of_birth,
                address=original.address,
                identifiers=original.identifiers,
                parents=original.parents,
            )
            contribution = Contribution(
                supplier_id=SEED_SUPPLIER,
                version=1,
                received_at=now,
                local_authority=original.local_authority,
                child=supplied,
            )
            stored = [
                StoredInvolvement(
                    supplier_id=SEED_SUPPLIER,
                    directory_reference=directory_reference(SEED_NAMESPACE, inv.reference),
                    involvement=inv,
                )
                for inv in original.involvements
            ]
            state = DirectoryState(
                shield=original.shield,
                died_on=original.died_on,
                left_england_on=original.left_england_on,
                retention_extension=original.retention_extension,
            )
            record = compose(original.directory_id, (contribution,), stored, state)
            children.append(self.keeper.child_row(record, state, today=today, now=now))
            contributions.append(
                ContributionRow(
                    directory_id=key,
                    supplier_id=SEED_SUPPLIER,
                    version=1,
                    received_at=stamp,
                    local_authority=original.local_authority,
                    child=self.keeper.dumps(supplied),
                )
            )
            involvements.extend(
                InvolvementRow(
                    directory_id=key,
                    supplier_id=SEED_SUPPLIER,
                    reference=s.involvement.reference,
                    directory_reference=s.directory_reference,
                    involvement=self.keeper.dumps(s.involvement),
                )
                for s in stored
            )
            identifiers.extend(
                (kind, value, key, SEED_SUPPLIER)
                for kind, value in identifier_keys(original.identifiers)
            )
        self.store.bulk_insert(children, contributions, involvements, identifiers)
        return len(children)


def _load_or_create_keys(store: Store) -> KeyRing[EncryptionKey]:
    ring = KeyRing.for_encryption()
    saved = store.get_meta(_KEYS_META)
    if saved is not None:
        for jwk in json.loads(saved):
            ring.add(EncryptionKey.from_jwk(jwk))
        return ring
    key = EncryptionKey.generate()
    ring.add(key)
    store.set_meta(_KEYS_META, json.dumps([key.private_jwk()]))
    return ring
