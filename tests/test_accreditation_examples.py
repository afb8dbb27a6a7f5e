"""The example suppliers, driven directly against the reference directory
(issue #8, item 6): the correct one supplies what each fixture event means,
and each faulty one shows its one fault, and only it.

The accreditation suite's own self-test (``test_accreditation_selftest.py``)
judges them through the supplier plan; these tests pin down that each example
does what its docstring says, independently of the suite.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import date

import attrs
import httpx
import pytest

from contactpoint_sdk.accreditation.examples import FAULTY_SUPPLIERS, ExampleSupplier
from contactpoint_sdk.accreditation.examples.faulty import (
    BadUpnCheckLetter,
    CafIgnored,
    CaseNotesInJobTitle,
    ChangesIgnored,
    ConsentDropped,
    DeathsIgnored,
    FaultySupplier,
    GivesUpOn503,
    IgnoresRetryAfter,
    InvolvementEndIgnored,
    LeadIndicatorDropped,
    LeaversNeverSent,
    NewBatchOnRetry,
    NotEncrypted,
    ParentsOmitted,
    PractitionerOmitted,
    ReadsChildBack,
    ResendsRejected,
    SensitiveWithoutConsent,
    SequenceRestartsEachFlush,
    WrongSigningKey,
)
from contactpoint_sdk.accreditation.fixtures import Fixtures, InvolvementFixture
from contactpoint_sdk.accreditation.harness import (
    BecameLead,
    CafCompleted,
    Capability,
    ChildDied,
    DirectoryConnection,
    FixtureChild,
    InvolvementEnded,
    InvolvementStarted,
    PupilChanged,
    PupilJoined,
    PupilLeft,
    SupplierHarness,
)
from contactpoint_sdk.models.enums import ServiceKind
from contactpoint_sdk.models.record import ChildRecord, Involvement, SourceIdentifiers
from contactpoint_sdk.reference_server.directory import IN_PROCESS_URL, ReferenceDirectory
from contactpoint_sdk.supply.batch import decode_batch
from contactpoint_sdk.supply.envelope import EnvelopeOpener
from contactpoint_sdk.supply.keys import PublicKey
from contactpoint_sdk.supply.outbox import Outbox

SUPPLY = "/v1/supply/batches"


@attrs.frozen
class Sent:
    """One request the supplier made, and the status it got (None: dropped)."""

    method: str
    path: str
    body: bytes
    status: int | None
    at: float


class Recording(httpx.BaseTransport):
    """Records every request on its way to the directory's transport."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.sent: list[Sent] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        try:
            response = self.inner.handle_request(request)
        except httpx.TransportError:
            self.sent.append(Sent(request.method, request.url.path, body, None, time.monotonic()))
            raise
        self.sent.append(
            Sent(request.method, request.url.path, body, response.status_code, time.monotonic())
        )
        return response

    def close(self) -> None:
        self.inner.close()

    @property
    def supplies(self) -> list[Sent]:
        return [s for s in self.sent if s.method == "POST" and s.path == SUPPLY]


class World:
    """A fresh directory, a registered supplier, fixtures, and a system."""

    def __init__(self, directory: ReferenceDirectory, system: ExampleSupplier) -> None:
        self.directory = directory
        self.credentials = directory.register_supplier("example-supplier", "Example supplier")
        self.transport = Recording(directory.transport())
        self.connection = DirectoryConnection(
            base_url=IN_PROCESS_URL,
            supplier_id=self.credentials.supplier_id,
            agreement_id=self.credentials.agreement_id,
            signing_key=self.credentials.signing_key,
            directory_key=directory.service.directory_public_key(),
            transport=self.transport,
            clock=directory.clock,
        )
        self.fixtures = Fixtures(directory.clock.today())
        self.system = system
        system.connect(self.connection)
        self.opener = EnvelopeOpener(
            decryption_keys=directory.service.encryption_keys,
            supplier_keys=self._supplier_key,
            clock=directory.clock,
        )

    def _supplier_key(self, kid: str) -> PublicKey | None:
        key = self.credentials.signing_key.public_key()
        return key if key.kid == kid else None

    # --- fixtures -------------------------------------------------------------------

    def child(self) -> tuple[FixtureChild, ChildRecord]:
        return self.fixtures.child()

    def ago(self, days: int) -> date:
        return self.fixtures.days_ago(days)

    def join(self, child: FixtureChild) -> None:
        self.system.handle(PupilJoined(child=child, joined_on=self.ago(30)))

    def joined(self, *, flush: bool = False) -> FixtureChild:
        """A new pupil joins (and, with ``flush``, the system supplies)."""
        child, _ = self.child()
        self.join(child)
        if flush:
            self.system.flush()
        return child

    def start(
        self,
        child: FixtureChild,
        key: str,
        *,
        sensitive: bool = False,
        consent: bool = False,
    ) -> InvolvementFixture:
        fixture = self.fixtures.involvement(sensitive=sensitive)
        self.system.handle(
            InvolvementStarted(
                child=child,
                key=key,
                service=fixture.service,
                organisation=fixture.organisation,
                practitioner=fixture.practitioner,
                started_on=self.ago(20),
                consent=self.fixtures.consent(self.ago(20)) if consent else None,
            )
        )
        return fixture

    def started(
        self, key: str, *, sensitive: bool = False, consent: bool = False, flush: bool = False
    ) -> tuple[FixtureChild, InvolvementFixture]:
        """A service starts with a new child (and, with ``flush``, the system supplies)."""
        child, _ = self.child()
        fixture = self.start(child, key, sensitive=sensitive, consent=consent)
        if flush:
            self.system.flush()
        return child, fixture

    # --- what arrived ---------------------------------------------------------------

    def record(self, child: FixtureChild) -> ChildRecord | None:
        found = self.directory.service.find_by_identifier(
            SourceIdentifiers(nhs_number=child.nhs_number)
        )
        return None if found is None else self.directory.service.record(found)

    def involvement(self, child: FixtureChild, service: ServiceKind) -> Involvement | None:
        record = self.record(child)
        if record is None:
            return None
        return next((i for i in record.involvements if i.service is service), None)

    def supplied(self, child: FixtureChild, fixture: InvolvementFixture) -> Involvement:
        """The involvement the directory holds for ``fixture``'s service (it must)."""
        involvement = self.involvement(child, fixture.service)
        assert involvement is not None
        return involvement

    def batches(self) -> list[tuple[str, int, list[str]]]:
        """(batch ID, sequence, ops) of every supply request, as sent."""
        out = []
        for sent in self.transport.supplies:
            opened = self.opener.open(sent.body.decode("ascii"))
            decoded = decode_batch(opened.payload)
            ops = [str(op.ref) for op in decoded.operations]
            out.append((decoded.header.batch_id, decoded.header.sequence, ops))
        return out


@pytest.fixture
def directory() -> Iterator[ReferenceDirectory]:
    with ReferenceDirectory() as d:
        yield d


def world(directory: ReferenceDirectory, cls: type[ExampleSupplier] = ExampleSupplier) -> World:
    return World(directory, cls())


# --- the correct example -------------------------------------------------------------------


def test_example_supplier_is_a_harness_declaring_every_capability() -> None:
    system = ExampleSupplier()
    assert isinstance(system, SupplierHarness)
    assert system.capabilities == frozenset(Capability)


def test_rec_1_rec_2_joiner_supplied_with_identifiers_parents_and_school(
    directory: ReferenceDirectory,
) -> None:
    w = world(directory)
    child = w.joined(flush=True)
    record = w.record(child)
    assert record is not None
    assert record.name.family_name == child.family_name
    assert record.identifiers.upn == child.upn
    assert record.parents == child.parents
    school = w.involvement(child, ServiceKind.EDUCATION_SETTING)
    assert school is not None
    assert school.organisation == w.system.school
    assert w.system.rejections == ()
    w.system.close()


def test_rec_3_change_and_leaver_reach_the_same_record(directory: ReferenceDirectory) -> None:
    w = world(directory)
    child, record = w.child()
    w.join(child)
    w.system.flush()
    moved = w.fixtures.moved(record)
    changed = attrs.evolve(child, address=moved.address)
    w.system.handle(PupilChanged(child=changed, changed_on=w.ago(5)))
    w.system.handle(PupilLeft(child=changed, left_on=w.ago(2)))
    w.system.flush()
    now = w.record(child)
    assert now is not None
    assert now.address == moved.address
    school = w.involvement(child, ServiceKind.EDUCATION_SETTING)
    assert school is not None
    assert school.ended_on == w.ago(2)
    w.system.close()


def test_rec_4_rec_5_sup_9_involvement_lifecycle(directory: ReferenceDirectory) -> None:
    w = world(directory)
    child, fixture = w.started("case-1")  # a case-only child: supplied first (SENS-5)
    w.system.handle(BecameLead(child=child, key="case-1", on=w.ago(10)))
    w.system.handle(CafCompleted(child=child, key="case-1", on=w.ago(9)))
    w.system.flush()
    involvement = w.supplied(child, fixture)
    assert involvement.practitioner == fixture.practitioner
    assert involvement.organisation == fixture.organisation
    assert involvement.lead_professional
    assert involvement.caf_completed
    w.system.handle(InvolvementEnded(child=child, key="case-1", ended_on=w.ago(1)))
    w.system.flush()
    ended = w.supplied(child, fixture)
    assert ended.ended_on == w.ago(1)
    w.system.close()


def test_sens_2_sensitive_without_consent_is_never_supplied(
    directory: ReferenceDirectory,
) -> None:
    w = world(directory)
    child, _ = w.started("camhs-1", sensitive=True)
    w.system.handle(BecameLead(child=child, key="camhs-1", on=w.ago(3)))
    w.system.flush()
    assert w.transport.supplies == []  # not even the child's basic data (SENS-5)
    assert w.record(child) is None
    w.system.close()


def test_sens_2_sensitive_with_consent_arrives_with_its_consent(
    directory: ReferenceDirectory,
) -> None:
    w = world(directory)
    child, fixture = w.started("camhs-1", sensitive=True, consent=True, flush=True)
    involvement = w.supplied(child, fixture)
    assert involvement.consent is not None
    w.system.close()


def test_ret_3_death_reported(directory: ReferenceDirectory) -> None:
    w = world(directory)
    child = w.joined()
    w.system.handle(ChildDied(child=child, died_on=w.ago(1)))
    w.system.flush()
    record = w.record(child)
    assert record is not None
    assert record.died_on == w.ago(1)
    w.system.close()


def test_sup_4_sequence_rises_across_flushes_and_a_drop_resends_the_same_batch(
    directory: ReferenceDirectory,
) -> None:
    w = world(directory)
    for _ in range(3):
        w.joined()
        directory.faults.drop(1, path_prefix=SUPPLY)
        w.system.flush()
    batches = w.batches()
    assert len(batches) == 6  # each batch sent twice: dropped, then the same again
    assert [b[1] for b in batches] == [1, 1, 2, 2, 3, 3]
    assert batches[0] == batches[1]
    assert batches[2] == batches[3]
    assert batches[4] == batches[5]
    assert len({b[0] for b in batches}) == 3
    assert directory.service.counts()["live"] == 3
    w.system.close()


def test_sup_6_waits_for_retry_after_then_applies_once(directory: ReferenceDirectory) -> None:
    w = world(directory)
    child = w.joined()
    directory.faults.rate_limit(1, retry_after=1, path_prefix=SUPPLY)
    w.system.flush()
    first, second = w.transport.supplies
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1.0
    assert w.record(child) is not None
    w.system.close()


def test_sup_6_retries_503s(directory: ReferenceDirectory) -> None:
    w = world(directory)
    child = w.joined()
    directory.faults.unavailable(2, retry_after=0, path_prefix=SUPPLY)
    w.system.flush()
    assert [s.status for s in w.transport.supplies] == [503, 503, 200]
    assert w.record(child) is not None
    w.system.close()


def test_sup_6_rejected_operation_never_resent_unchanged(directory: ReferenceDirectory) -> None:
    w = world(directory)
    child = w.joined(flush=True)
    w.system.handle(ChildDied(child=child, died_on=w.ago(-3)))  # in the future: rejected
    w.system.flush()
    assert [r.code for r in w.system.rejections] == ["date_in_future"]
    w.system.handle(ChildDied(child=child, died_on=w.ago(-3)))  # the same again: held back
    w.system.flush()
    w.system.flush()
    assert len(w.transport.supplies) == 2
    w.system.close()


def test_connect_starts_a_fresh_system(directory: ReferenceDirectory) -> None:
    w = world(directory)
    child = w.joined(flush=True)
    w.system.close()
    with ReferenceDirectory() as other:
        again = World(other, w.system)
        again.start(child, "case-1")  # the child is new to this system and directory
        again.system.flush()
        assert again.record(child) is not None
        again.system.close()


# --- the faulty examples: each shows its fault --------------------------------------------


def test_every_faulty_supplier_names_one_test_and_its_fault() -> None:
    assert len(FAULTY_SUPPLIERS) == 20
    ids = [cls.expected_failure for cls in FAULTY_SUPPLIERS]
    assert len(set(ids)) == len(ids)
    for cls in FAULTY_SUPPLIERS:
        assert issubclass(cls, FaultySupplier)
        assert cls.__doc__
        assert cls.fault in cls().name
        assert cls().capabilities == frozenset(Capability)


def test_sup_5_wrong_signing_key_is_refused(directory: ReferenceDirectory) -> None:
    w = world(directory, WrongSigningKey)
    child = w.joined(flush=True)
    assert [s.status for s in w.transport.supplies] == [403]  # an unknown key: SUP-3
    assert w.record(child) is None
    w.system.close()


def test_sup_5_not_encrypted_sends_a_bare_jws(directory: ReferenceDirectory) -> None:
    w = world(directory, NotEncrypted)
    w.joined(flush=True)
    (sent,) = w.transport.supplies
    assert sent.body.count(b".") == 2
    assert sent.status is not None
    assert sent.status >= 400
    w.system.close()


def test_sup_4_sequence_restarts_each_flush(directory: ReferenceDirectory) -> None:
    w = world(directory, SequenceRestartsEachFlush)
    for _ in range(3):
        w.joined(flush=True)
    assert [b[1] for b in w.batches()] == [1, 1, 1]
    assert [s.status for s in w.transport.supplies] == [200, 409, 409]
    w.system.close()


def test_sup_4_new_batch_after_a_drop(directory: ReferenceDirectory) -> None:
    w = world(directory, NewBatchOnRetry)
    w.joined()
    directory.faults.drop(1, path_prefix=SUPPLY)
    w.system.flush()
    w.joined(flush=True)
    (first, s1, ops1), (second, s2, ops2), (_, s3, _) = w.batches()
    assert ops1 == ops2
    assert first != second
    assert (s1, s2, s3) == (1, 2, 3)
    assert w.system.rejections == ()
    w.system.close()


def test_rec_1_bad_upn_check_letter_only_on_joiners(directory: ReferenceDirectory) -> None:
    w = world(directory, BadUpnCheckLetter)
    child, record = w.child()
    w.join(child)
    w.system.flush()
    assert [r.code for r in w.system.rejections] == ["upn_check_letter"]
    moved = attrs.evolve(child, address=w.fixtures.moved(record).address)
    w.system.handle(PupilChanged(child=moved, changed_on=w.ago(1)))
    w.system.flush()
    supplied = w.record(child)
    assert supplied is not None
    assert supplied.identifiers.upn == child.upn
    w.system.close()


@pytest.mark.parametrize(
    ("cls", "event"),
    [
        (ChangesIgnored, "change"),
        (LeaversNeverSent, "leave"),
        (DeathsIgnored, "death"),
    ],
)
def test_rec_3_ret_3_pupil_events_ignored(
    directory: ReferenceDirectory, cls: type[FaultySupplier], event: str
) -> None:
    w = world(directory, cls)
    child = w.joined(flush=True)
    if event == "change":
        w.system.handle(PupilChanged(child=child, changed_on=w.ago(1)))
    elif event == "leave":
        w.system.handle(PupilLeft(child=child, left_on=w.ago(1)))
    else:
        w.system.handle(ChildDied(child=child, died_on=w.ago(1)))
    w.system.flush()
    assert len(w.transport.supplies) == 1
    w.system.close()


def test_rec_2_parents_omitted(directory: ReferenceDirectory) -> None:
    w = world(directory, ParentsOmitted)
    child = w.joined(flush=True)
    record = w.record(child)
    assert record is not None
    assert record.parents == ()
    assert child.parents != ()
    w.system.close()


def test_rec_4_practitioner_omitted_at_start_only(directory: ReferenceDirectory) -> None:
    w = world(directory, PractitionerOmitted)
    child, fixture = w.started("case-1", flush=True)
    started = w.supplied(child, fixture)
    assert started.practitioner is None
    w.system.handle(CafCompleted(child=child, key="case-1", on=w.ago(1)))
    w.system.flush()
    assessed = w.supplied(child, fixture)
    assert assessed.practitioner == fixture.practitioner
    w.system.close()


@pytest.mark.parametrize(
    ("cls", "field"),
    [
        (LeadIndicatorDropped, "lead_professional"),
        (CafIgnored, "caf_completed"),
        (InvolvementEndIgnored, "ended_on"),
    ],
)
def test_rec_4_rec_5_sup_9_involvement_events_ignored(
    directory: ReferenceDirectory, cls: type[FaultySupplier], field: str
) -> None:
    w = world(directory, cls)
    child, fixture = w.started("case-1")
    w.system.handle(BecameLead(child=child, key="case-1", on=w.ago(3)))
    w.system.handle(CafCompleted(child=child, key="case-1", on=w.ago(2)))
    w.system.handle(InvolvementEnded(child=child, key="case-1", ended_on=w.ago(1)))
    w.system.flush()
    involvement = w.supplied(child, fixture)
    values = {
        "lead_professional": involvement.lead_professional,
        "caf_completed": involvement.caf_completed,
        "ended_on": involvement.ended_on is not None,
    }
    assert [name for name, value in values.items() if not value] == [field]
    w.system.close()


def test_sens_2_sensitive_without_consent_goes_around_the_sdk(
    directory: ReferenceDirectory,
) -> None:
    w = world(directory, SensitiveWithoutConsent)
    child, _ = w.started("camhs-1", sensitive=True, flush=True)
    child2, _ = w.child()
    w.join(child2)
    w.system.flush()
    assert [r.code for r in w.system.rejections] == []  # send_batch's receipt is not parked
    assert [s.status for s in w.transport.supplies] == [200, 200, 200]
    assert [b[1] for b in w.batches()] == [1, 2, 3]
    started = w.record(child)
    assert started is not None
    assert started.involvements == ()
    w.system.close()


def test_sens_2_consent_dropped_on_the_wire(directory: ReferenceDirectory) -> None:
    w = world(directory, ConsentDropped)
    w.started("camhs-1", sensitive=True, consent=True, flush=True)
    assert [(r.code, r.rule) for r in w.system.rejections] == [("consent_required", "SENS-2")]
    w.system.close()


def test_rec_6_case_notes_in_job_title(directory: ReferenceDirectory) -> None:
    w = world(directory, CaseNotesInJobTitle)
    child, fixture = w.started("case-1", flush=True)
    involvement = w.supplied(child, fixture)
    assert involvement.practitioner is not None
    assert CaseNotesInJobTitle.note in (involvement.practitioner.job_title or "")
    w.system.close()


def test_sup_6_ignores_retry_after(directory: ReferenceDirectory) -> None:
    w = world(directory, IgnoresRetryAfter)
    w.joined()
    directory.faults.rate_limit(2, retry_after=1, path_prefix=SUPPLY)
    w.system.flush()
    first, _, third = w.transport.supplies
    assert third.status == 200
    assert third.at - first.at < 1.0
    w.system.close()


def test_sup_6_gives_up_on_503(directory: ReferenceDirectory) -> None:
    w = world(directory, GivesUpOn503)
    child = w.joined()
    directory.faults.unavailable(1, retry_after=0, path_prefix=SUPPLY)
    w.system.flush()
    assert [s.status for s in w.transport.supplies] == [503]
    assert w.record(child) is None
    w.system.close()


def test_sup_6_resends_rejected_unchanged(directory: ReferenceDirectory) -> None:
    w = world(directory, ResendsRejected)
    child = w.joined()
    w.system.handle(ChildDied(child=child, died_on=w.ago(-3)))  # in the future: rejected
    w.system.flush()
    first, second = w.batches()
    assert first[2][-1] == second[2][0]  # the rejected ref, sent again
    w.system.close()


def test_sup_1_reads_child_back(directory: ReferenceDirectory) -> None:
    w = world(directory, ReadsChildBack)
    w.joined(flush=True)
    assert [(s.method, s.path) for s in w.transport.sent] == [
        ("POST", SUPPLY),
        ("POST", "/v1/search"),
    ]
    w.system.close()


@pytest.mark.parametrize("cls", FAULTY_SUPPLIERS, ids=lambda c: c.expected_failure)
def test_faulty_supplier_closes_cleanly(
    directory: ReferenceDirectory, cls: type[FaultySupplier]
) -> None:
    w = world(directory, cls)
    w.joined(flush=True)
    w.system.close()
    w.system.close()  # idempotent


def test_outbox_file_removed_on_close(directory: ReferenceDirectory) -> None:
    w = world(directory)
    connected = w.system._connected
    assert connected is not None
    assert isinstance(connected.outbox, Outbox)
    path = connected.workdir.name
    w.system.close()
    assert not os.path.exists(path)


def test_sup_5_supplies_over_loopback_https_trusting_the_given_ca(
    directory: ReferenceDirectory,
) -> None:
    """Black-box style: no transport, the directory over HTTPS, its CA given as PEM."""
    credentials = directory.register_supplier("https-supplier", "Example over HTTPS")
    fixtures = Fixtures(directory.clock.today())
    child, _ = fixtures.child()
    system = ExampleSupplier()
    with directory.serve() as server:
        system.connect(
            DirectoryConnection(
                base_url=server.url,
                supplier_id=credentials.supplier_id,
                agreement_id=credentials.agreement_id,
                signing_key=credentials.signing_key,
                directory_key=directory.service.directory_public_key(),
                ca_certificate=server.ca_file.read_text(),
                clock=directory.clock,
            )
        )
        system.handle(PupilJoined(child=child, joined_on=fixtures.days_ago(3)))
        system.flush()
        system.close()
    assert directory.service.find_by_identifier(SourceIdentifiers(upn=child.upn)) is not None
    assert system.rejections == ()
