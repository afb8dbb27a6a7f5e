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
- :mod:`.matching` — which record a supply belongs to (SUP-7, SHLD-7): for
  a SQLite store, :class:`~.matching.ProbabilisticMatcher` over the linkage
  index (:mod:`.linkage_index`) unless a matcher is given;
  :mod:`.linkage_merge` — merging two records of one child, and unmerging;
- :mod:`.records` — composing a record from its sources; namespacing;
- :mod:`.jobs` — archive, contact retention, destruction (RET-1..RET-8);
- :mod:`.management` — shields, brokering, data quality, REC-7, SAR;
- :mod:`.store` — the one store interface and its SQLite implementation;
- :mod:`.users` — look-up users, four-credential sign-in, sessions and
  mediated access (ACC-1, ACC-6), in the store's database;
- :mod:`contactpoint_sdk.policy.reasons` and
  :mod:`contactpoint_sdk.policy.trawling` — stated reasons (ACC-3) and
  anti-trawling (ACC-4) around every search and open;
- :mod:`.audit` and :mod:`.audit_log` — the audit sink (ACC-5): in memory
  for an in-memory directory, the tamper-evident Merkle-tree log for a
  file-backed one.

Look-up (issue 6)
-----------------
A user signs in (:meth:`DirectoryService.sign_in`, never inside a store
transaction: the failure count must persist) and every look-up call takes
their :class:`~.users.Session`:

- :meth:`~DirectoryService.search` — ``TrawlingGuard.search`` over
  :meth:`~.store.Store.search_children` (the identifier index, or the name
  and date-of-birth keys): detail, rate, a few candidates, alerts (ACC-4);
- :meth:`~DirectoryService.open_record` — a stated reason
  (:func:`~contactpoint_sdk.policy.reasons.require_reason`, ACC-3), the view
  the session's viewer may see, ``TrawlingGuard.opened``, and the audit
  event ``record_viewed`` with the reason's code, the user and the
  practitioner acted for (ACC-6);
- a shield request, a broker request or a correction about a record is its
  follow-up (``TrawlingGuard.followed_up``);
- :meth:`~DirectoryService.read_archive` needs an archive reason (RET-6).

:meth:`~DirectoryService.acting_as` names the session for the audit: every
event audited inside it has ``actor`` = the user at the keyboard,
``on_behalf_of`` = the practitioner and ``refs`` with ``session:<id>``
(:func:`~.audit.in_context`). Trawling alerts are audited
(``trawling_alert``, rule ACC-4) and queued for the management team of the
user's authority (:meth:`~DirectoryService.trawling_alerts`).

Every refusal is a typed error from :mod:`contactpoint_sdk.errors` carrying
its rule ID.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

import attrs

from contactpoint_sdk.clock import Clock, MovableClock
from contactpoint_sdk.errors import (
    ConfigurationError,
    ContactPointError,
    MediationRefused,
    NotPermitted,
    RecordNotFound,
    UnknownUser,
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
from contactpoint_sdk.models.views import AnyChildView, FullRecordView, SearchResult
from contactpoint_sdk.policy.eligibility import UserAccount
from contactpoint_sdk.policy.reasons import ReasonCode, require_reason
from contactpoint_sdk.policy.redaction import view as redact
from contactpoint_sdk.policy.settings import DEFAULT_POLICY, PolicySettings
from contactpoint_sdk.policy.shield import OverdueReview
from contactpoint_sdk.policy.trawling import (
    SearchCriteria,
    TrawlingAlert,
    TrawlingGuard,
    check_search_criteria,
    search_result,
)
from contactpoint_sdk.policy.viewer import Purpose, Role, SubjectAccessRequester, Viewer
from contactpoint_sdk.reference_server.audit import (
    AuditEvent,
    AuditSink,
    MemoryAuditLog,
    audit_context,
    current_audit_context,
    in_context,
)
from contactpoint_sdk.reference_server.audit_log import MerkleAuditLog, SignedTreeHead
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
from contactpoint_sdk.reference_server.linkage_index import SqliteLinkageIndex
from contactpoint_sdk.reference_server.linkage_merge import (
    MERGED,
    MergeReceipt,
    MergeSnapshotNote,
    PendingMerge,
    RecordMerger,
)
from contactpoint_sdk.reference_server.management import Management
from contactpoint_sdk.reference_server.matching import (
    Matcher,
    ProbabilisticMatcher,
    StrongIdentifierMatcher,
    identifier_keys,
    name_key,
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
    ARCHIVED,
    LIVE,
    ChildQuery,
    ChildRow,
    ContributionRow,
    InvolvementRow,
    QueueRow,
    SqliteStore,
    Store,
)
from contactpoint_sdk.reference_server.users import Enrolment, Session, UserDirectory
from contactpoint_sdk.supply.keys import EncryptionKey, KeyRing, PublicKey, SigningKey

__all__ = [
    "ALL_OPERATIONS",
    "REFERENCE_POLICY",
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
    "audit_path_for",
]

#: The reference directory's policy (``ReferenceDirectory``, ``contactpoint
#: serve``): the default, with cheaper password and PIN hashing (scrypt N =
#: 2**12, r = 8: about 4 MiB and a few milliseconds, against 128 MiB and half a
#: second), so test suites that sign many users in stay fast. A test double's
#: choice, never a deployment's.
REFERENCE_POLICY: Final = attrs.evolve(
    DEFAULT_POLICY, password_scrypt_log2_n=12, password_scrypt_r=8, password_scrypt_p=1
)

_KEYS_META = "directory_encryption_keys"
_AUDIT_KEY_META = "directory_audit_signing_key"
_SEED_CHUNK = 2000


def audit_path_for(path: str | Path) -> Path:
    """Where a file-backed directory at ``path`` keeps its audit log: beside
    it, ``.audit`` before the suffix (``directory.db`` -> ``directory.audit.db``).
    A file of its own, so the log's appends never wait on the directory's
    transactions (and the other way round)."""
    file = Path(path)
    return (
        file.with_suffix(".audit" + file.suffix)
        if file.suffix
        else file.with_name(file.name + ".audit")
    )


class _Audited:
    """The service's audit path as an :class:`AuditSink`, for the parts that
    write events themselves (the user directory): through the context."""

    def __init__(self, service: DirectoryService) -> None:
        self._service = service

    def record(self, event: AuditEvent) -> None:
        self._service._emit([event])


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
        users: UserDirectory | None = None,
        audit_signing_key: SigningKey | None = None,
        alerts_behind: bool = False,
    ) -> None:
        if encryption_keys.key_type is not EncryptionKey or not len(encryption_keys):
            raise ConfigurationError("the directory needs a ring of X25519 encryption keys")
        self.store = store
        self.clock = clock
        self.codec = WireCodec(clock)
        self.settings = settings
        self.encryption_keys = encryption_keys
        #: The linkage index this directory attached (its default matcher's
        #: candidates), or ``None`` (a matcher was given, or not SQLite).
        self.linkage: SqliteLinkageIndex | None = None
        #: Merges and unmerges (SUP-7), in a SQLite store's database.
        self.merger: RecordMerger | None = None
        if matcher is None and isinstance(store, SqliteStore):
            self.linkage = SqliteLinkageIndex.attach(store)
            matcher = ProbabilisticMatcher(self.linkage)
        self.matcher: Matcher = matcher or StrongIdentifierMatcher()
        self.audit: AuditSink = audit if audit is not None else MemoryAuditLog()
        self.registry = SupplierRegistry(store)
        self.keeper = RecordKeeper(store, self.codec, settings)
        if self.linkage is not None:
            self.keeper.record_encoded = self.linkage.offer  # no second parse (issue 10)
        if isinstance(store, SqliteStore):
            self.merger = RecordMerger(store, self.keeper)
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
        self._jobs = LifecycleJobs(store, self.keeper, settings, merges=self.merger)
        self.management = Management(
            store=store,
            keeper=self.keeper,
            registry=self.registry,
            ingestor=self._ingestor,
            clock=clock,
            settings=settings,
            emit=self._emit,
            merger=self.merger,
        )
        if users is None:
            if not isinstance(store, SqliteStore):
                raise ConfigurationError(
                    "give the directory a UserDirectory: only a SqliteStore can hold its tables"
                )
            users = UserDirectory(
                store.connection,
                settings=settings,
                audit=_Audited(self),
                lock=store.lock,
                reader=store.reading,
            )
        self.users = users
        self.trawling = self._new_guard()
        self._audit_key = audit_signing_key
        self._owned: list[MerkleAuditLog] = []
        #: Trawling alerts waiting for the writer (:meth:`_queue_alert`).
        self._waiting_alerts: list[QueueRow] = []
        self._alerts_lock = threading.Lock()
        self._alert_writer: threading.Thread | None = None
        #: Every trawling alert's row goes to the alert thread, never written
        #: on the look-up's path (a look-up process: its writer is shared
        #: with another process's supply batches, which it cannot see).
        self._alerts_behind = alerts_behind

    def _new_guard(self) -> TrawlingGuard:
        return TrawlingGuard(self.settings, clock=self.clock, on_alert=self._on_alert)

    @classmethod
    def in_memory(
        cls,
        *,
        clock: Clock | None = None,
        path: str | Path | None = None,
        settings: PolicySettings = DEFAULT_POLICY,
        audit: AuditSink | None = None,
        audit_path: str | Path | None = None,
    ) -> DirectoryService:
        """A ready directory: SQLite in memory (or the file ``path``, in WAL
        mode), a :class:`~contactpoint_sdk.clock.MovableClock` at the current
        time unless ``clock`` is given, and directory keys.

        The keys are fresh for a new database. A file database keeps its
        private keys in its ``meta`` table and reuses them when reopened, so a
        restarted directory still opens envelopes sealed to it (a reference
        server's convenience: a real directory keeps keys in a key store and
        passes ``encryption_keys`` to the constructor). The same goes for the
        Ed25519 key that signs the audit log's tree heads.

        The audit log (ACC-5): ``audit`` if given; else, for a file database,
        a :class:`~.audit_log.MerkleAuditLog` in its own file (``audit_path``,
        by default :func:`audit_path_for` ``path``: ``directory.audit.db``
        beside ``directory.db``), which ``contactpoint audit verify`` proves
        whole; else a :class:`~.audit.MemoryAuditLog`.
        """
        store = SqliteStore(path if path is not None else ":memory:")
        keys = _load_or_create_keys(store)
        moving = clock or MovableClock(datetime.now(UTC))
        owned: MerkleAuditLog | None = None
        if audit is None and store.is_file:
            owned = MerkleAuditLog(
                audit_path if audit_path is not None else audit_path_for(store.path), clock=moving
            )
            audit = owned
        service = cls(
            store=store,
            clock=moving,
            encryption_keys=keys,
            settings=settings,
            audit=audit,
            audit_signing_key=_load_or_create_audit_key(store),
        )
        if owned is not None:
            service._owned.append(owned)
        return service

    def close(self) -> None:
        """Close the store (and the audit log, if the directory opened it)."""
        # Session activity kept in memory; a closed or lost database: nothing to keep.
        with suppress(sqlite3.Error):
            self.users.flush_activity()
        with suppress(sqlite3.Error):
            self._write_waiting_alerts()
        self.store.close()
        for log in self._owned:
            log.close()

    def _emit(self, events: list[AuditEvent]) -> None:
        shown = [in_context(event) for event in events]
        if isinstance(self.audit, MerkleAuditLog):
            self.audit.append_many(shown)  # one durable transaction for a batch
            return
        for event in shown:
            self.audit.record(event)

    # --- the audit log (ACC-5) -------------------------------------------------------

    def audit_public_key(self) -> PublicKey:
        """The Ed25519 key that verifies the audit log's signed tree heads."""
        return self._audit_signing_key().public_key()

    def audit_tree_head(self) -> SignedTreeHead:
        """Sign and keep the audit log's tree head now: what an auditor saves
        and later proves the log whole against (``contactpoint audit verify``).
        Needs a :class:`~.audit_log.MerkleAuditLog`."""
        if not isinstance(self.audit, MerkleAuditLog):
            raise ConfigurationError("this directory's audit log is not a Merkle-tree log")
        return self.audit.tree_head(self._audit_signing_key())

    def _audit_signing_key(self) -> SigningKey:
        if self._audit_key is None:
            self._audit_key = _load_or_create_audit_key(self.store)
        return self._audit_key

    def _refused(
        self,
        action: str,
        actor: str,
        directory_id: DirectoryId | str | None,
        error: ContactPointError,
    ) -> None:
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

    @contextmanager
    def _refusals_audited(
        self, action: str, actor: str, directory_id: DirectoryId | str | None = None
    ) -> Iterator[None]:
        """Record a refusal (any ContactPointError) in the audit, then re-raise (ACC-5)."""
        try:
            yield
        except ContactPointError as error:
            self._refused(action, actor, directory_id, error)
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

    def supply_status(self, token: str) -> int:
        """The last batch sequence number the directory accepted from the
        supplier whose key sealed the status request ``token`` (``0`` before
        any): a number, no child data (SUP-1). A supplier's roster compares
        it with its own to find that it is older (SUP-8).

        See :meth:`.ingest.Ingestor.status` for the request and its
        refusals (SUP-3, SUP-4, SUP-5). Audited: ``supply_status``.
        """
        with self._refusals_audited("supply_status", "unknown-sender"):
            last, events = self._ingestor.status(token)
        self._emit(events)
        return last

    # --- look-up users and sessions (ACC-1, ACC-6) ----------------------------------

    def create_user(
        self,
        *,
        user_id: str,
        username: str,
        password: str,
        pin: str,
        role: Role,
        organisation_key: str,
        local_authority: str,
        nominated: bool = True,
        trained_on: date | None,
        disclosure_issued_on: date | None,
    ) -> Enrolment:
        """Enrol a look-up user with all four credentials (ACC-1); the
        enrolment holds the token's provisioning URI (:mod:`.users`)."""
        return self.users.create_user(
            user_id=user_id,
            username=username,
            role=role,
            organisation_key=organisation_key,
            local_authority=local_authority,
            nominated=nominated,
            trained_on=trained_on,
            disclosure_issued_on=disclosure_issued_on,
            password=password,
            pin=pin,
            now=self.clock.now(),
        )

    def create_practitioner(
        self,
        *,
        user_id: str,
        role: Role,
        organisation_key: str,
        local_authority: str,
        nominated: bool = True,
        trained_on: date | None,
        disclosure_issued_on: date | None,
    ) -> UserAccount:
        """Enrol a practitioner without IT, whom a colleague may act for (ACC-6)."""
        return self.users.create_practitioner(
            user_id=user_id,
            role=role,
            organisation_key=organisation_key,
            local_authority=local_authority,
            nominated=nominated,
            trained_on=trained_on,
            disclosure_issued_on=disclosure_issued_on,
            now=self.clock.now(),
        )

    def sign_in(self, username: str, password: str, pin: str, token: str) -> Session:
        """Sign in with all four credentials (ACC-1): a new session whose
        ``token`` the client keeps. ``SignInFailed`` (one code and message
        whatever was wrong: never send its ``audit_code``) or
        ``NotEligible`` (the reason told). Never run inside a store
        transaction: the failure count and the lock-out must persist."""
        return self.users.sign_in(username, password, pin, token, now=self.clock.now())

    def session(self, token: str) -> Session:
        """The live session with this token, its idle time restarted;
        ``SessionInvalid``, ``SessionExpired``, ``NotEligible`` (the session
        ends) or ``MediationRefused`` (the mediation ends) otherwise."""
        return self.users.session(token, self.clock.now())

    def sign_out(self, token: str) -> None:
        """End the session with this token (nothing if there is none)."""
        self.users.sign_out(token, now=self.clock.now())

    def act_for(self, session: Session, practitioner_user_id: str) -> Session:
        """Act for a practitioner without IT (ACC-6): the session's records
        are then shown as the practitioner sees them, and every audit event
        names both. ``MediationRefused`` otherwise (an unknown user ID is
        refused the same way as a stranger's: ``mediation_not_allowed``)."""
        with self.acting_as(session):
            try:
                return self.users.act_for(session, practitioner_user_id, now=self.clock.now())
            except UnknownUser:
                self._emit(
                    [
                        AuditEvent(
                            at=self.clock.now(),
                            action="mediation_refused",
                            actor=session.user_id,
                            code="user_not_found",
                            rule="ACC-6",
                        )
                    ]
                )
                raise MediationRefused(
                    "a user may act only for a practitioner of their own organisation",
                    code="mediation_not_allowed",
                ) from None

    def stop_acting(self, session: Session) -> Session:
        """End the session's mediation: the user acts for themselves again."""
        with self.acting_as(session):
            return self.users.stop_acting(session, now=self.clock.now())

    @contextmanager
    def acting_as(self, session: Session) -> Iterator[Session]:
        """Everything audited inside names ``session``: ``actor`` the user at
        the keyboard, ``on_behalf_of`` the practitioner acted for, ``refs``
        the session (:func:`~.audit.in_context`); a shield request, broker
        request or correction inside is a follow-up of the user's open."""
        with audit_context(
            actor=session.user_id, on_behalf_of=session.acting_for_id, refs=session.audit_refs
        ):
            yield session

    # --- look-up: search and open (ACC-3, ACC-4, ACC-6) -------------------------------

    def search(self, session: Session, criteria: SearchCriteria) -> SearchResult:
        """Search for a child (ACC-4): enough detail, within the user's rate,
        at most ``search_max_results`` candidates (more: ``RefineSearch``,
        nothing shown), each only what tells children apart; unusual patterns
        alert the management team. Audited as ``search`` (code ``found`` or
        ``no_match``, refs the basis and every candidate's directory ID) or
        ``search_refused`` (the refusal's code)."""
        with self.acting_as(session):
            viewer = session.viewer()
            now = self.clock.now()
            try:
                shown = self.trawling.search(
                    criteria,
                    self._run_search,
                    user_id=session.user_id,
                    viewer=viewer,
                    on_behalf_of=session.acting_for_id,
                )
            except ContactPointError as error:
                self._refused("search", session.user_id, None, error)
                raise
            result = search_result(shown)
            basis = check_search_criteria(criteria, self.settings)
            self._emit(
                [
                    AuditEvent(
                        at=now,
                        action="search",
                        actor=session.user_id,
                        code="found" if len(result) else "no_match",
                        rule="ACC-4",
                        refs=(
                            f"basis:{basis.value}",
                            *(f"candidate:{d}" for d in result.directory_ids),
                        ),
                    )
                ]
            )
            return result

    def _run_search(self, criteria: SearchCriteria, limit: int) -> Sequence[ChildRecord]:
        """At most ``limit`` live records matching every given criterion, in
        directory-identifier order, by indexed columns only (:mod:`.store`),
        each reduced to what a candidate is made of
        (:meth:`~.records.RecordKeeper.search_summary_of`)."""
        ids: tuple[str, ...] | None = None
        if criteria.has_identifier:
            found: set[str] | None = None
            if criteria.directory_id is not None:
                found = {str(criteria.directory_id)}
            for kind, value in (
                ("nhs", criteria.nhs_number),
                ("upn", criteria.upn),
                ("uln", criteria.uln),
            ):
                if value is not None:
                    named = set(self.store.find_identifier(kind, str(value)))
                    found = named if found is None else found & named
            ids = tuple(sorted(found or ()))
        year = criteria.year_of_birth
        query = ChildQuery(
            directory_ids=ids,
            family_key=_key(criteria.family_name),
            given_key=_key(criteria.given_name),
            date_of_birth=None
            if criteria.date_of_birth is None
            else criteria.date_of_birth.isoformat(),
            born_from=None if year is None else f"{year:04d}-01-01",
            born_to=None if year is None else f"{year:04d}-12-31",
            postcode=None if criteria.postcode is None else str(criteria.postcode),
            gender=None if criteria.gender is None else criteria.gender.value,
        )
        # Each row reduced to what a candidate shows: a search decodes no more.
        rows = self.store.search_children(query, limit)
        return [self.keeper.search_summary_of(row) for row in rows]

    def open_record(
        self,
        session: Session,
        directory_id: DirectoryId,
        reason: ReasonCode | str | None,
        reason_text: str | None = None,
    ) -> AnyChildView:
        """Open a live record with a stated reason (ACC-3): what the session's
        viewer may see (the practitioner's view when acting for one, ACC-6),
        told to the trawling monitor (ACC-4) and audited as ``record_viewed``
        with the reason's code, the user and the practitioner. The free text
        of ``other`` is checked but not audited: the log holds codes only.
        Refusals (no or a wrong reason, no such record) are audited as
        ``record_open_refused``. A retired (merged-away) identifier opens the
        record it now lives in, as :meth:`view` does (SUP-7)."""
        with self.acting_as(session):
            viewer = session.viewer()
            now = self.clock.now()
            with self._refusals_audited("record_open", session.user_id, directory_id):
                stated = require_reason(reason, reason_text, settings=self.settings)
                record = self.record(directory_id)
                shown = redact(record, viewer, now)
            self._emit(
                [
                    AuditEvent(
                        at=now,
                        action="record_viewed",
                        actor=session.user_id,
                        directory_id=str(record.directory_id),
                        code=type(shown).__name__,
                        reason=stated.audit_code,
                        rule="ACC-3",
                        refs=_merged_from(directory_id, record),
                    )
                ]
            )
            self.trawling.opened(
                user_id=session.user_id,
                viewer=viewer,
                directory_id=record.directory_id,
                record_local_authority=record.local_authority,
                reason=stated,
                on_behalf_of=session.acting_for_id,
            )
            return shown

    def _followed_up(self, directory_id: DirectoryId | str) -> None:
        """Something was done about a record: in a session, tell the monitor."""
        context = current_audit_context()
        if context.actor is not None:
            self.trawling.followed_up(
                user_id=context.actor,
                directory_id=directory_id,
                on_behalf_of=context.on_behalf_of,
            )

    def _on_alert(self, alert: TrawlingAlert) -> None:
        """An unusual pattern (ACC-4): queued for the management team of the
        user's authority and audited, by identifier and code only."""
        alert_id = uuid.uuid4().hex
        self._queue_alert(
            QueueRow(
                item_id=alert_id,
                local_authority=alert.local_authority,
                directory_id=None,
                supplier_id=None,
                status="open",
                raised_at=alert.raised_at.isoformat(),
                body=self.keeper.dumps(alert),
            )
        )
        refs = (f"alert:{alert_id}",) + ((f"detail:{alert.detail}",) if alert.detail else ())
        self._emit(
            [
                AuditEvent(
                    at=alert.raised_at,
                    action="trawling_alert",
                    actor=alert.user_id,
                    code=alert.pattern.value,
                    rule=alert.rule,
                    on_behalf_of=alert.on_behalf_of,
                    refs=refs,
                )
            ]
        )

    def _queue_alert(self, row: QueueRow) -> None:
        """Put an alert in the management team's queue without waiting for
        the writer: at once if the store is free (or this thread holds it),
        else (a supply batch's transaction holds it) on a thread of its own,
        in the order raised; always on that thread with ``alerts_behind``
        (a look-up process, whose file's writer another process's supply
        holds for a whole batch, unseen by this process's lock). The alert
        is audited at once either way, and :meth:`trawling_alerts` and
        :meth:`close` write what waits first."""
        lock = self.store.lock if isinstance(self.store, SqliteStore) else None
        if lock is None:
            self.store.put_queue_item("trawling_alerts", row)
            return
        with self._alerts_lock:
            self._waiting_alerts.append(row)
            if not self._alerts_behind and lock.acquire(blocking=False):
                pass  # written below, with any still waiting, in order
            else:
                if self._alert_writer is None:
                    self._alert_writer = threading.Thread(
                        target=self._write_waiting_alerts,
                        name="contactpoint-alert-writer",
                        daemon=True,
                    )
                    self._alert_writer.start()
                return
        try:
            self._write_waiting_alerts()
        finally:
            lock.release()

    def _write_waiting_alerts(self) -> None:
        """Write the alerts waiting for the writer (rows taken under the
        store's lock, so no two writers interleave)."""
        if not isinstance(self.store, SqliteStore):
            return
        with self.store.lock:
            with self._alerts_lock:
                rows, self._waiting_alerts = self._waiting_alerts, []
                if threading.current_thread() is self._alert_writer:
                    self._alert_writer = None
            if rows:
                with self.store.transaction():
                    for row in rows:
                        self.store.put_queue_item("trawling_alerts", row)

    def trawling_alerts(self, local_authority: str) -> list[TrawlingAlert]:
        """The trawling alerts raised about the authority's users, oldest
        first (ACC-4), for its management team."""
        if self._waiting_alerts:
            self._write_waiting_alerts()
        rows = self.store.list_queue("trawling_alerts", local_authority=local_authority)
        return [self.keeper.loads(row.body, TrawlingAlert) for row in rows]

    # --- reads -----------------------------------------------------------------------

    def _current_row(self, directory_id: DirectoryId | str) -> ChildRow | None:
        """The record's row, or for a retired (merged-away) record its
        survivor's, following merges in turn (SUP-7)."""
        row = self.store.get_child(str(directory_id))
        if row is not None and row.state == MERGED and self.merger is not None:
            survivor = self.merger.merged_into(directory_id)
            row = None if survivor is None else self.store.get_child(str(survivor))
        return row

    def record(self, directory_id: DirectoryId) -> ChildRecord:
        """The live record; ``RecordNotFound`` if archived, destroyed or unknown.

        A retired identifier (a record merged into another, SUP-7) gives the
        record it now lives in: the returned record's ``directory_id`` is the
        survivor's, which is how a caller learns of the merge
        (:meth:`merged_into` says it without reading the record)."""
        row = self._current_row(directory_id)
        if row is None or row.state != LIVE:
            raise RecordNotFound("no live record has that directory identifier")
        return self.keeper.record_of(row)

    def merged_into(self, directory_id: DirectoryId) -> DirectoryId | None:
        """The record a retired (merged-away) record now lives in, following
        merges in turn; ``None`` if it was never merged away (or was unmerged)."""
        return None if self.merger is None else self.merger.merged_into(directory_id)

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
        (:func:`~contactpoint_sdk.policy.redaction.view`); audited (ACC-5).
        A retired identifier shows the survivor (:meth:`record`); the audit
        names the survivor, with ``merged_from:<the identifier asked for>``."""
        with self._refusals_audited("record_view", viewer.user_id, directory_id):
            record = self.record(directory_id)
            shown = redact(record, viewer, self.clock.now())
        self._emit(
            [
                AuditEvent(
                    at=self.clock.now(),
                    action="record_viewed",
                    actor=viewer.user_id,
                    directory_id=str(record.directory_id),
                    code=type(shown).__name__,
                    rule="ACC-5",
                    refs=_merged_from(directory_id, record),
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
        """Run the lifecycle jobs on the clock's date (:mod:`.jobs`); also
        drop ended sessions and the trawling state no window needs."""
        report, events = self._jobs.run(now=self.clock.now(), today=self.clock.today())
        self._emit(events)
        self.users.purge_sessions(self.clock.now())
        self.trawling.prune()
        return report

    def read_archive(
        self,
        directory_id: DirectoryId,
        reader: Viewer | Session,
        *,
        reason: ReasonCode | str | None = None,
    ) -> FullRecordView:
        """An archived record, for an archive reviewer reading for a serious
        case review or a child death (role ``archive_reviewer``, purpose
        ``archive_review``; a session reads with that purpose): RET-6. The
        reason is required, ``serious_case_review`` or ``child_death_review``
        (:func:`~contactpoint_sdk.policy.reasons.require_reason`), and audited
        as its code. The role is checked first, so anyone else is refused
        whatever the reason."""
        if isinstance(reader, Session):
            with self.acting_as(reader):
                return self._read_archive(
                    directory_id, reader.viewer(Purpose.ARCHIVE_REVIEW), reason
                )
        return self._read_archive(directory_id, reader, reason)

    def _read_archive(
        self, directory_id: DirectoryId, viewer: Viewer, reason: ReasonCode | str | None
    ) -> FullRecordView:
        with self._refusals_audited("archive_read", viewer.user_id, directory_id):
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
            stated = require_reason(reason, purpose=Purpose.ARCHIVE_REVIEW, settings=self.settings)
            row = self._current_row(directory_id)
            if row is None or row.state != ARCHIVED:
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
                    code=stated.audit_code,
                    reason=stated.audit_code,
                    rule="RET-6",
                )
            ]
        )
        return shown

    # --- local authority management (issue 5, item 6) ---------------------------------

    def request_shield(
        self,
        directory_id: DirectoryId,
        request: ShieldRequestInput,
        requester: Viewer | Session,
    ) -> Shield:
        """Shield the record at once (SHLD-2), if the requester's role may
        (SHLD-6). In a session, the follow-up of an open (ACC-4)."""
        if isinstance(requester, Session):
            with self.acting_as(requester):
                return self.request_shield(directory_id, request, requester.viewer())
        try:
            shield = self.management.request_shield(directory_id, request, requester)
        except RecordNotFound as error:
            self._refused("shield", requester.user_id, directory_id, error)
            raise
        self._followed_up(directory_id)
        return shield

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
        self, directory_id: DirectoryId, ordinal: int, requester: Viewer | Session
    ) -> BrokerRequest:
        """Ask the management team to broker contact with the unspecified
        service ``ordinal`` of the requester's view (SENS-4). In a session,
        the follow-up of an open (ACC-4)."""
        if isinstance(requester, Session):
            with self.acting_as(requester):
                return self.request_broker(directory_id, ordinal, requester.viewer())
        with self._refusals_audited("broker_request", requester.user_id, directory_id):
            request = self.management.request_broker(directory_id, ordinal, requester)
        self._followed_up(directory_id)
        return request

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
            record = self.management.correct(
                directory_id,
                by=by,
                name=name,
                address=address,
                gender=gender,
                date_of_birth=date_of_birth,
            )
        self._followed_up(directory_id)
        return record

    def extend_retention(
        self, directory_id: DirectoryId, extension: RetentionExtension, by: Viewer
    ) -> ChildRecord:
        """Record consent to keep the record past 18 (RET-2)."""
        with self._refusals_audited("retention_extend", by.user_id, directory_id):
            return self.management.extend_retention(directory_id, extension, by)

    def merge_records(
        self, survivor: DirectoryId, absorbed: DirectoryId, by: Viewer
    ) -> MergeReceipt | PendingMerge:
        """Merge two live records of one child (SUP-7): ``survivor`` holds
        everything, ``absorbed`` is retired (its identifier then leads to the
        survivor: :meth:`record`, :meth:`merged_into`). Needs match evidence
        (a score at the matcher's review threshold, or a possible-duplicate
        item naming both). Two unshielded records of the team's own authority
        merge at once; across authorities, or with a shield in place, the
        answer is a :class:`PendingMerge` the other authority (or a second
        team member) approves with :meth:`approve_merge`. Refused with a typed
        error citing its rule: adoption-shielded records (``PolicyRefusal``,
        SHLD-5), twins and siblings, too little evidence (SUP-7), anyone else
        (``NotPermitted``, SUP-7). Audited (``records_merged``; a refusal
        ``records_merge_refused``)."""
        with self._refusals_audited("records_merge", by.user_id, survivor):
            receipt = self.management.merge_records(survivor, absorbed, by)
        self._followed_up(survivor)
        return receipt

    def approve_merge(self, request_id: str, by: Viewer) -> MergeReceipt:
        """Approve a pending merge (SUP-7): every check runs again, then the
        records merge. The other authority's management team, or a second
        member of the same team for a shielded pair."""
        with self._refusals_audited("records_merge_approve", by.user_id):
            return self.management.approve_merge(request_id, by)

    def merge_snapshots(self, directory_id: DirectoryId, by: Viewer) -> list[MergeSnapshotNote]:
        """That merge snapshots exist for a child, for subject access (SAR-1):
        not their content."""
        return self.management.merge_snapshots(directory_id, by)

    def unmerge_records(self, merge_id: str, by: Viewer) -> MergeReceipt:
        """Undo a merge (SUP-7): both records live again. The management team
        of either record's authority only. Audited (``records_unmerged``; a
        refusal ``records_unmerge_refused``)."""
        with self._refusals_audited("records_unmerge", by.user_id):
            return self.management.unmerge_records(merge_id, by)

    # --- controls ----------------------------------------------------------------------

    def reset(self, *, keep_suppliers: bool = True) -> None:
        """Empty the directory for a clean test: records, archive, receipts,
        queues and held supplies go, and every supplier's last sequence
        returns to 0. The directory's keys stay, and so do registered
        suppliers and their keys unless ``keep_suppliers=False``, so a
        vendor registers once and resets between tests. Look-up users and
        their sessions stay too; the trawling guard starts again (rate
        limits, blocks, patterns) and the alerts queue is emptied. The audit
        log is append-only and is not emptied: the reset is recorded in it."""
        if self._waiting_alerts:
            self._write_waiting_alerts()  # raised before the reset: emptied with the rest
        self.store.reset(keep_suppliers=keep_suppliers)
        self.store.set_meta("destroyed_count", "0")
        self.trawling = self._new_guard()  # rate limits, blocks and patterns start again
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

    def seed_records(self, records: Iterable[ChildRecord]) -> int:
        """Put these records straight into the store as live records, as
        :meth:`seed_population` does (one source, ``seed``): for tests and
        benchmarks that need particular children (a probe record, a
        shielded one). Returns how many were added (records whose directory
        identifier already exists are skipped)."""
        today, now = self.clock.today(), self.clock.now()
        added = 0
        batch: list[ChildRecord] = []
        for record in records:
            batch.append(record)
            if len(batch) == _SEED_CHUNK:
                added += self._seed(batch, today=today, now=now)
                batch = []
        if batch:
            added += self._seed(batch, today=today, now=now)
        self._emit(
            [AuditEvent(at=now, action="records_seeded", actor="directory", code=str(added))]
        )
        return added

    def _seed(self, records: list[ChildRecord], *, today: date, now: datetime) -> int:
        existing = self.store.existing_ids([str(r.directory_id) for r in records])
        children: list[ChildRow] = []
        composed: list[ChildRecord] = []
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
            composed.append(record)
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
        if self.linkage is None:
            self.store.bulk_insert(children, contributions, involvements, identifiers)
            return len(children)
        # Seeded children are distinct by construction: they are never matched,
        # and they are indexed for the matcher from the models in hand rather
        # than by the triggers re-reading each row (one transaction either way).
        with self.store.transaction(), self.linkage.paused():
            self.store.bulk_insert(children, contributions, involvements, identifiers)
            self.linkage.index_records(composed)
        return len(children)


def _merged_from(asked: DirectoryId | str, record: ChildRecord) -> tuple[str, ...]:
    """Audit refs naming the retired identifier a caller asked for, if the
    record shown is its survivor."""
    return () if str(asked) == str(record.directory_id) else (f"merged_from:{asked}",)


def _key(name: str | None) -> str | None:
    """A name as the store's folded key; ``None`` when nothing of it is left."""
    if name is None:
        return None
    return name_key(name) or None


def _load_or_create_audit_key(store: Store) -> SigningKey:
    """The Ed25519 key that signs the audit log's tree heads, kept in the
    store's ``meta`` (as the encryption keys are: module notes of
    :meth:`DirectoryService.in_memory`)."""
    saved = store.get_meta(_AUDIT_KEY_META)
    if saved is not None:
        return SigningKey.from_jwk(json.loads(saved))
    key = SigningKey.generate()
    store.set_meta(_AUDIT_KEY_META, json.dumps(key.private_jwk()))
    return key


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
