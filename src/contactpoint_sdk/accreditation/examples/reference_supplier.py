"""An example supplier built the way we tell vendors to build one (SUP-2, SUP-6).

:class:`ExampleSupplier` is a small but realistic integration: a school MIS
and a case-management system in one product, each keeping its own records,
that update the directory automatically whenever their own data changes
(SUP-6). It is what the accreditation suite's self-test runs to show that a
correct system passes every required test (issue #8, item 6), and what a
vendor can read to see the SDK's supply path used end to end:

1. **Its own records.** The system keeps pupils (the school roll) and
   involvements (cases) in memory, keyed by its own references. Fixture
   events change those records, as a user would in production.
2. **Operations from records.** Each change becomes one supply operation
   (:mod:`contactpoint_sdk.models.operations`): a joiner or a change is the
   child's record as the school holds it (:class:`SuppliedChild`, with the
   school's involvement and the parents and carers, REC-1, REC-2, REC-3); a
   leaver is :class:`ChildLeftSetting`; a case is
   :class:`InvolvementStarted` with organisation and practitioner (REC-4),
   :class:`InvolvementChanged` for the lead professional (REC-5),
   :class:`CommonAssessmentCompleted` for a completed CAF (SUP-9),
   :class:`InvolvementEnded`; a death is :class:`ChildDied` (RET-3).
3. **Consent first.** A sensitive involvement (SENS-1) is supplied only
   when :func:`~contactpoint_sdk.policy.consent.consent_decision` allows it,
   and then carries its consent (SENS-2). Without consent nothing about it is
   supplied, not even the child's basic data on its account (SENS-5: a
   sensitive service's own supply is the exception to "no consent needed").
4. **A durable outbox.** Operations are enqueued in the SDK's
   :class:`~contactpoint_sdk.supply.outbox.Outbox` where the change is made,
   and :meth:`ExampleSupplier.flush` drains it through a
   :class:`~contactpoint_sdk.supply.client.SupplyClient` (sealed: signed with
   the supplier's key, encrypted to the directory's, SUP-5). The client
   retries with backoff, honouring ``Retry-After``, and every retry resends
   the same sealed batch (same batch ID and sequence), so nothing is applied
   twice; the outbox numbers batches strictly upwards across flushes (SUP-4).
5. **Rejections are remembered.** An operation the directory rejected is
   parked by the outbox, never sent again as it is; the system also remembers
   its content, so it never enqueues the same operation again unchanged: a
   person must correct the data first.

Only synthetic children ever pass through it (the suite's fixtures). Logs
carry refs, counts and codes, never child data.

The retry waits are real time. :data:`EXAMPLE_RETRY` keeps backoff short so
the suite runs quickly but honours ``Retry-After`` in full (up to 60 s); a
production system would keep :class:`~contactpoint_sdk.supply.retry.RetryPolicy`'s
defaults.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import ssl
import tempfile
from datetime import date
from pathlib import Path
from typing import ClassVar

import attrs
import httpx

from contactpoint_sdk.accreditation.harness import (
    BecameLead,
    CafCompleted,
    Capability,
    ChildDied,
    DirectoryConnection,
    FixtureChild,
    FixtureEvent,
    InvolvementEnded,
    InvolvementStarted,
    PupilChanged,
    PupilJoined,
    PupilLeft,
)
from contactpoint_sdk.clock import Clock, SystemClock
from contactpoint_sdk.errors import (
    ConfigurationError,
    ContactPointError,
    RateLimited,
    ResponseInvalid,
    ServerError,
    TransportFailure,
)
from contactpoint_sdk.models.codec import WireCodec, default_codec
from contactpoint_sdk.models.contact import EmailAddress, PhoneNumber
from contactpoint_sdk.models.enums import OrganisationKind, PhoneKind, ServiceKind
from contactpoint_sdk.models.operations import (
    AnyOperation,
    ChildKey,
    ChildLeftSetting,
    CommonAssessmentCompleted,
    InvolvementChanged,
    SuppliedChild,
)
from contactpoint_sdk.models.operations import ChildDied as ChildDiedOperation
from contactpoint_sdk.models.operations import InvolvementEnded as InvolvementEndedOperation
from contactpoint_sdk.models.operations import InvolvementStarted as InvolvementStartedOperation
from contactpoint_sdk.models.record import (
    ContactDetails,
    Involvement,
    Organisation,
    ParentCarer,
    PersonName,
    Phone,
    SourceIdentifiers,
)
from contactpoint_sdk.policy.consent import consent_decision
from contactpoint_sdk.supply.client import SupplyClient
from contactpoint_sdk.supply.keys import SigningKey
from contactpoint_sdk.supply.outbox import BatchSender, DrainReport, Outbox, ParkedOperation
from contactpoint_sdk.supply.retry import RetryPolicy

__all__ = ["EXAMPLE_RETRY", "EXAMPLE_SCHOOL", "ExampleSupplier", "Rejection"]

logger = logging.getLogger(__name__)

#: The example's retry policy: short backoff (so the suite is quick), up to six
#: sends, and ``Retry-After`` honoured in full up to a minute (SUP-6).
EXAMPLE_RETRY = RetryPolicy(
    max_attempts=6,
    initial_wait=0.1,
    multiplier=2.0,
    max_wait=2.0,
    jitter=0.1,
    retry_after_cap=60.0,
)

#: The example's own school (synthetic: an unused URN, Ofcom's drama range).
EXAMPLE_SCHOOL = Organisation(
    name="Example Community Primary School",
    kind=OrganisationKind.SCHOOL,
    urn="999101",
    laestab="8019101",
    contact=ContactDetails(
        phones=(Phone(number=PhoneNumber("01632 960101"), kind=PhoneKind.WORK),),
        email=EmailAddress("office@example-primary.example.org"),
    ),
)

_SAFE_KEY = re.compile(r"[A-Za-z0-9._-]{1,40}")


def _safe_key(key: str) -> str:
    """The vendor's own key as it may appear in a ref (at most 40 safe
    characters); anything else is replaced by a stable digest of it."""
    if _SAFE_KEY.fullmatch(key):
        return key
    return "h" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


@attrs.frozen(kw_only=True)
class Rejection:
    """An operation the directory would not take, as the system remembers it:
    the ref, the operation's wire tag and the directory's code and rule (never
    child data)."""

    ref: str
    operation: str
    code: str
    rule: str | None


@attrs.define(kw_only=True)
class _Pupil:
    """A pupil on (or once on) the school's roll."""

    child: FixtureChild
    joined_on: date
    left_on: date | None = None


@attrs.define(kw_only=True)
class _Case:
    """An involvement in the case-management system.

    ``supplied`` is False for a sensitive involvement without valid consent:
    the system keeps it, the directory never hears of it (SENS-2).
    """

    key: str
    child: FixtureChild
    involvement: Involvement
    supplied: bool


@attrs.define
class _Connected:
    """What :meth:`ExampleSupplier.connect` took; released by ``close``."""

    connection: DirectoryConnection
    clock: Clock
    workdir: tempfile.TemporaryDirectory[str]
    outbox: Outbox
    client: SupplyClient
    http_client: httpx.Client | None


class ExampleSupplier:
    """A combined school MIS and case-management integration (module notes).

    Implements :class:`~contactpoint_sdk.accreditation.harness.SupplierHarness`.
    One instance serves any number of tests: :meth:`connect` starts a fresh
    system (empty records, a new outbox file), :meth:`close` ends it.

    :param school: the school whose roll this system keeps.
    :param retry: the supply client's retry policy (default :data:`EXAMPLE_RETRY`).
    :param drain_rounds: how many times :meth:`flush` drains the outbox when a
        send fails for a passing reason (the client has already retried each
        time), before it leaves the rest for the next flush.
    """

    name: str = "Example school MIS and case management"
    version: str = "1.0.0"
    capabilities: frozenset[Capability] = frozenset(Capability)

    #: Errors after which another drain is worth trying (the outbox keeps the
    #: batch open and resends it unchanged).
    transient_errors: ClassVar[tuple[type[ContactPointError], ...]] = (
        TransportFailure,
        RateLimited,
        ServerError,
        ResponseInvalid,
    )
    #: The supply client it sends through (a variant may bend one step of it).
    _client_class: ClassVar[type[SupplyClient]] = SupplyClient

    def __init__(
        self,
        *,
        school: Organisation = EXAMPLE_SCHOOL,
        retry: RetryPolicy = EXAMPLE_RETRY,
        drain_rounds: int = 3,
    ) -> None:
        if drain_rounds < 1:
            raise ValueError("drain_rounds is at least 1")
        self.school = school
        self.retry = retry
        self.drain_rounds = drain_rounds
        self._connected: _Connected | None = None
        self._reset()

    # --- the harness protocol ----------------------------------------------------

    def connect(self, connection: DirectoryConnection) -> None:
        """Start a fresh system pointed at ``connection``'s directory."""
        if self._connected is not None:
            raise ConfigurationError("this example supplier is connected already; close it first")
        self._reset()
        clock: Clock = connection.clock if isinstance(connection.clock, Clock) else SystemClock()
        workdir = tempfile.TemporaryDirectory(prefix="contactpoint-example-")
        try:
            outbox = Outbox(
                Path(workdir.name) / "outbox.sqlite",
                supplier_id=connection.supplier_id,
                agreement_id=connection.agreement_id,
                clock=clock,
            )
        except BaseException:
            workdir.cleanup()
            raise
        try:
            http_client = self._http_client(connection)
            client = self._make_client(connection, clock, http_client)
        except BaseException:
            outbox.close()
            workdir.cleanup()
            raise
        self._connected = _Connected(connection, clock, workdir, outbox, client, http_client)
        self._after_connect()

    def handle(self, event: FixtureEvent) -> None:
        """Apply ``event`` to the system's own records; the change is enqueued
        for the directory at once, as a real system does where it commits."""
        self._session()  # connected?
        match event:
            case PupilJoined():
                self._on_pupil_joined(event)
            case PupilChanged():
                self._on_pupil_changed(event)
            case PupilLeft():
                self._on_pupil_left(event)
            case InvolvementStarted():
                self._on_involvement_started(event)
            case BecameLead():
                self._on_became_lead(event)
            case CafCompleted():
                self._on_caf_completed(event)
            case InvolvementEnded():
                self._on_involvement_ended(event)
            case ChildDied():
                self._on_child_died(event)
            case _:
                raise TypeError(f"not a fixture event: {type(event).__name__}")

    def flush(self) -> None:
        """Drain the outbox: send everything waiting, in order, retrying as
        production does; return when done or when the directory keeps failing."""
        session = self._session()
        for round_number in range(1, self.drain_rounds + 1):
            report = session.outbox.drain(self._sender())
            self._note_rejections()
            if report.stopped_by is None:
                if report.backlog == 0:
                    break
                continue
            if not self._drain_again(report) or round_number == self.drain_rounds:
                logger.warning(
                    "example supplier: supply stopped (%s); %d operation(s) wait",
                    report.stopped_by.code,
                    report.backlog,
                )
                break
            policy = self._retry_policy()
            policy.sleep(policy.wait_after(round_number, report.stopped_by))
        self._after_flush()

    def close(self) -> None:
        """Close the client and the outbox and remove the outbox file.

        (A production system keeps its outbox file across restarts; this one
        is a fresh system per test, so anything still waiting goes with it.)
        """
        connected, self._connected = self._connected, None
        if connected is None:
            return
        try:
            connected.client.close()
            if connected.http_client is not None:
                connected.http_client.close()
            self._before_close(connected)
        finally:
            connected.outbox.close()
            connected.workdir.cleanup()

    # --- what the system holds -----------------------------------------------------

    @property
    def rejections(self) -> tuple[Rejection, ...]:
        """Operations the directory rejected since :meth:`connect` (for a person
        to correct: the system never resends them as they are)."""
        return tuple(self._rejections.values())

    def _reset(self) -> None:
        self._pupils: dict[str, _Pupil] = {}
        self._cases: dict[str, _Case] = {}
        self._children: dict[str, FixtureChild] = {}
        self._supplied: set[str] = set()
        self._counter = 0
        self._fingerprints: dict[str, str] = {}
        self._rejected_content: set[str] = set()
        self._rejections: dict[str, Rejection] = {}

    def _session(self) -> _Connected:
        if self._connected is None:
            raise ConfigurationError("connect the example supplier to a directory first")
        return self._connected

    @property
    def today(self) -> date:
        """The UK date on the system's clock."""
        return self._session().clock.today()

    # --- event handlers: the system's own records change ------------------------------

    def _on_pupil_joined(self, event: PupilJoined) -> None:
        child = event.child
        self._children[child.key] = child
        self._pupils[child.key] = _Pupil(child=child, joined_on=event.joined_on)
        self._supply_pupil(child.key, "join")

    def _on_pupil_changed(self, event: PupilChanged) -> None:
        child = event.child
        self._children[child.key] = child
        pupil = self._pupils.get(child.key)
        if pupil is None:  # a change for a child not on the roll: the school now holds it
            self._pupils[child.key] = _Pupil(child=child, joined_on=event.changed_on)
        else:
            pupil.child = child
        self._supply_pupil(child.key, "change")

    def _on_pupil_left(self, event: PupilLeft) -> None:
        child = event.child
        self._children[child.key] = child
        pupil = self._pupils.get(child.key)
        if pupil is None:
            logger.warning("example supplier: a leaver who was never on the roll; nothing sent")
            return
        pupil.left_on = event.left_on
        self._emit(
            ChildLeftSetting(
                ref=self._ref("leave", child.key),
                child=self._child_key(child),
                left_on=event.left_on,
            )
        )

    def _on_involvement_started(self, event: InvolvementStarted) -> None:
        child = event.child
        self._children[child.key] = child
        involvement = Involvement(
            reference=self._involvement_reference(event.key),
            service=event.service,
            organisation=event.organisation,
            started_on=event.started_on,
            practitioner=event.practitioner,
            consent=event.consent if event.service.is_sensitive else None,
        )
        supplied = self._may_supply(involvement, child)
        self._cases[event.key] = _Case(
            key=event.key,
            child=child,
            involvement=involvement,
            supplied=supplied,
        )
        if not supplied:
            logger.info(
                "example supplier: a sensitive involvement without valid consent is kept "
                "locally and not supplied (SENS-2)"
            )
            return
        self._ensure_child_supplied(child)
        self._emit(
            InvolvementStartedOperation(
                ref=self._ref("start", event.key),
                child=self._child_key(child),
                involvement=self._involvement_as_supplied(involvement),
            )
        )

    def _on_became_lead(self, event: BecameLead) -> None:
        case = self._supplied_case(event.key)
        if case is None:
            return
        case.involvement = attrs.evolve(case.involvement, lead_professional=True)
        self._emit(
            InvolvementChanged(
                ref=self._ref("lead", event.key),
                child=self._child_key(case.child),
                involvement_reference=case.involvement.reference,
                lead_professional=True,
            )
        )

    def _on_caf_completed(self, event: CafCompleted) -> None:
        case = self._supplied_case(event.key)
        if case is None:
            return
        case.involvement = attrs.evolve(case.involvement, caf_completed=True)
        practitioner = case.involvement.practitioner
        key = self._child_key(case.child)
        operation: AnyOperation
        if practitioner is not None:  # eCAF: with the assessor's contact details (SUP-9)
            operation = CommonAssessmentCompleted(
                ref=self._ref("caf", event.key),
                child=key,
                involvement_reference=case.involvement.reference,
                practitioner=practitioner,
                organisation=case.involvement.organisation,
                completed_on=event.on,
            )
        else:  # no named assessor: the REC-5 indicator alone
            operation = InvolvementChanged(
                ref=self._ref("caf", event.key),
                child=key,
                involvement_reference=case.involvement.reference,
                caf_completed=True,
            )
        self._emit(operation)

    def _on_involvement_ended(self, event: InvolvementEnded) -> None:
        case = self._supplied_case(event.key)
        if case is None:
            return
        case.involvement = attrs.evolve(case.involvement, ended_on=event.ended_on)
        self._emit(
            InvolvementEndedOperation(
                ref=self._ref("end", event.key),
                child=self._child_key(case.child),
                involvement_reference=case.involvement.reference,
                ended_on=event.ended_on,
            )
        )

    def _on_child_died(self, event: ChildDied) -> None:
        child = event.child
        self._children[child.key] = child
        if self._known_only_to_withheld_cases(child.key):
            logger.info("example supplier: a death for a child known only to a withheld case")
            return
        self._ensure_child_supplied(child)
        self._emit(
            ChildDiedOperation(
                ref=self._ref("death", child.key),
                child=self._child_key(child),
                died_on=event.died_on,
            )
        )

    # --- records to operations ---------------------------------------------------------

    def _supply_pupil(self, key: str, why: str) -> None:
        pupil = self._pupils[key]
        school = Involvement(
            reference=self._school_reference(key),
            service=ServiceKind.EDUCATION_SETTING,
            organisation=self.school,
            started_on=pupil.joined_on,
            ended_on=pupil.left_on,
        )
        self._emit(self._supplied_child(pupil.child, why, (school,)))
        self._supplied.add(key)

    def _ensure_child_supplied(self, child: FixtureChild) -> None:
        """Supply the child's basic record once before the first operation
        that names it (SENS-5: basic data needs no consent)."""
        if child.key in self._supplied:
            return
        if child.key in self._pupils:
            self._supply_pupil(child.key, "child")
            return
        self._emit(self._supplied_child(child, "child", ()))
        self._supplied.add(child.key)

    def _supplied_child(
        self, child: FixtureChild, why: str, involvements: tuple[Involvement, ...]
    ) -> SuppliedChild:
        """The child's record as the system holds it (REC-1, REC-2)."""
        return SuppliedChild(
            ref=self._ref(why, child.key),
            name=PersonName(given_name=child.given_name, family_name=child.family_name),
            gender=child.gender,
            date_of_birth=child.date_of_birth,
            address=child.address,
            identifiers=self._identifiers(child),
            parents=self._parents(child),
            involvements=involvements,
        )

    def _parents(self, child: FixtureChild) -> tuple[ParentCarer, ...]:
        """Every parent and carer the system holds, with their contact details (REC-2)."""
        return child.parents

    @staticmethod
    def _identifiers(child: FixtureChild) -> SourceIdentifiers:
        return SourceIdentifiers(upn=child.upn, uln=child.uln, nhs_number=child.nhs_number)

    def _child_key(self, child: FixtureChild) -> ChildKey:
        return ChildKey(identifiers=self._identifiers(child), date_of_birth=child.date_of_birth)

    def _involvement_as_supplied(self, involvement: Involvement) -> Involvement:
        """The involvement as an :class:`InvolvementStarted` carries it (REC-4)."""
        return involvement

    def _may_supply(self, involvement: Involvement, child: FixtureChild) -> bool:
        """SENS-2, SENS-3, SENS-5: may the directory hear of this involvement?"""
        decision = consent_decision(
            involvement, child_date_of_birth=child.date_of_birth, today=self.today
        )
        return decision.allowed

    def _known_only_to_withheld_cases(self, key: str) -> bool:
        """Whether the system holds the child only because of sensitive cases
        it may not supply: then it supplies nothing about the child (SENS-5)."""
        if key in self._supplied or key in self._pupils:
            return False
        cases = [case for case in self._cases.values() if case.child.key == key]
        return bool(cases) and not any(case.supplied for case in cases)

    def _supplied_case(self, key: str) -> _Case | None:
        case = self._cases.get(key)
        if case is None:
            logger.warning("example supplier: an event for an involvement the system does not hold")
            return None
        return case if case.supplied else None

    @staticmethod
    def _school_reference(key: str) -> str:
        return f"school/{_safe_key(key)}"

    @staticmethod
    def _involvement_reference(key: str) -> str:
        return f"case/{_safe_key(key)}"

    def _ref(self, kind: str, key: str) -> str:
        """A ref naming the source row and the change: ``join/<key>/3``."""
        self._counter += 1
        return f"{kind}/{_safe_key(key)}/{self._counter}"

    # --- the outbox ------------------------------------------------------------------------

    def _fingerprint(self, operation: AnyOperation) -> str:
        """The operation's content without its ref: the same change twice has
        the same fingerprint."""
        body = default_codec.encode(operation)
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k != "ref"}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def _emit(self, operation: AnyOperation) -> None:
        """Enqueue ``operation`` (on disk when this returns), unless the
        directory already rejected the very same content."""
        fingerprint = self._fingerprint(operation)
        if fingerprint in self._rejected_content:
            logger.warning(
                "example supplier: %s repeats an operation the directory rejected; "
                "not sent until the data is corrected",
                operation.ref,
            )
            return
        self._fingerprints[operation.ref] = fingerprint
        self._session().outbox.enqueue(operation)

    def _note_rejections(self) -> None:
        """Remember what the outbox parked: its content is never sent again."""
        for parked in self._session().outbox.parked():
            if parked.ref in self._rejections:
                continue
            self._remember(parked)

    def _remember(self, parked: ParkedOperation) -> None:
        fingerprint = self._fingerprints.get(parked.ref)
        if fingerprint is not None:
            self._rejected_content.add(fingerprint)
        self._rejections[parked.ref] = Rejection(
            ref=parked.ref, operation=parked.operation, code=parked.code, rule=parked.rule
        )
        logger.warning(
            "example supplier: %s (%s) rejected: %s (%s)",
            parked.ref,
            parked.operation,
            parked.code,
            parked.rule,
        )

    def _drain_again(self, report: DrainReport) -> bool:
        """Whether the error that stopped a drain is worth another drain now."""
        return isinstance(report.stopped_by, self.transient_errors)

    # --- connecting: the SDK's supply client ------------------------------------------------

    def _signing_key(self, connection: DirectoryConnection) -> SigningKey:
        """The key the supplier registered with the directory (SUP-5)."""
        return connection.signing_key

    def _retry_policy(self) -> RetryPolicy:
        return self.retry

    def _wire_codec(self) -> WireCodec | None:
        """The codec the client encodes batches with (default: the SDK's)."""
        return None

    @staticmethod
    def _http_client(connection: DirectoryConnection) -> httpx.Client | None:
        """Black-box mode: an HTTPS client trusting the suite's certificate."""
        if connection.transport is not None or connection.ca_certificate is None:
            return None
        context = ssl.create_default_context(cadata=connection.ca_certificate)
        return httpx.Client(verify=context)

    def _make_client(
        self, connection: DirectoryConnection, clock: Clock, http_client: httpx.Client | None
    ) -> SupplyClient:
        return self._client_class(
            base_url=connection.base_url,
            supplier_id=connection.supplier_id,
            agreement_id=connection.agreement_id,
            signing_key=self._signing_key(connection),
            directory_key=connection.directory_key,
            clock=clock,
            retry=self._retry_policy(),
            transport=connection.transport if http_client is None else None,
            http_client=http_client,
            codec=self._wire_codec(),
        )

    def _sender(self) -> BatchSender:
        """What the outbox drains through: the supply client."""
        return self._session().client

    # --- hooks for variants (the faulty examples) ------------------------------------------

    def _after_connect(self) -> None:
        """Called at the end of :meth:`connect`."""

    def _after_flush(self) -> None:
        """Called at the end of :meth:`flush`."""

    def _before_close(self, connected: _Connected) -> None:
        """Called by :meth:`close` before the outbox is closed."""
