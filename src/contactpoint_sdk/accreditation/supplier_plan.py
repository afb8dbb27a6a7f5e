"""The supplier plan: does a system supply to the directory as an accredited
supplier must (SUP-3)?

Each test has a stable ID citing its rule (``AC-SUP-5-01`` tests SUP-5).
Content tests judge every operation the system *attempted* to send, opened
from the recorded envelopes (:mod:`.traffic`), not only what the directory
accepted; each test judges one thing, so a system with one fault fails one
test. Steps run one event each, and each step is flushed, so an operation is
attributed to the event that caused it.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final, TypeVar

import attrs

from contactpoint_sdk.accreditation.context import (
    StepRecord,
    SupplierContext,
    distinct_batches,
)
from contactpoint_sdk.accreditation.fixtures import InvolvementFixture
from contactpoint_sdk.accreditation.harness import (
    BecameLead,
    CafCompleted,
    Capability,
    ChildDied,
    FixtureChild,
    InvolvementEnded,
    InvolvementStarted,
    PupilChanged,
    PupilJoined,
    PupilLeft,
)
from contactpoint_sdk.accreditation.plan import Plan, Verdict
from contactpoint_sdk.accreditation.traffic import (
    SUPPLY_BATCHES_PATH,
    Exchange,
    OpenedBatch,
    strings_in,
)
from contactpoint_sdk.errors import ValidationError
from contactpoint_sdk.models import operations as ops
from contactpoint_sdk.models.record import ChildRecord, Involvement, ParentCarer, SourceIdentifiers

__all__ = [
    "CASE_INFORMATION",
    "MIN_BACKOFF_SECONDS",
    "RETRY_AFTER_SECONDS",
    "SUPPLIER_PLAN",
    "SUSPICIOUS",
]

SUPPLIER_PLAN: Plan[SupplierContext] = Plan("supplier")

Op = TypeVar("Op", bound=ops.AnyOperation)

#: The ``Retry-After`` the suite's injected 429s and 503s carry (kept small
#: so a run stays fast).
RETRY_AFTER_SECONDS: Final = 1
#: The tolerance when judging that a system waited ``Retry-After``: clocks
#: and schedulers are not exact.
_RETRY_AFTER_SLACK: Final = 0.05
#: The shortest wait after a 503 that counts as backing off (AC-SUP-6-02).
MIN_BACKOFF_SECONDS: Final = 0.2
#: Requests a supplier's credentials may make (SUP-1: supply is one way).
_SUPPLY_ROUTES: Final = frozenset(
    {("POST", SUPPLY_BATCHES_PATH), ("GET", "/v1/keys/directory"), ("GET", "/v1/health")}
)

#: Clear case information (REC-6): clinical or medical notes, assessment or
#: exam results, opinions, observations, flags of concern. A match is a FAIL.
CASE_INFORMATION: Final = re.compile(
    r"\b(diagnos\w*|prescri(bed|ption)\w*|medication|self[- ]?harm\w*|suicid\w*|overdos\w*"
    r"|disclosed|disclosure|allegation\w*|alleged|offen[cs]es?|offending history|convict\w*"
    r"|arrested|abused|neglected|assaulted|bruis(e|es|ed|ing)|injur(y|ies|ed)"
    r"|statement of (sen|special educational needs)|child protection plan|at risk of"
    r"|exam results?|test results?|assessment (outcome|result|score)s?|case ?notes?"
    r"|concerns? (about|regarding|raised|re)\b|information to share|action taken"
    r"|looked after because|subject to)\b",
    re.IGNORECASE,
)
#: Words that may be case information: a human reviews them (REVIEW).
SUSPICIOUS: Final = re.compile(
    r"\b(concern\w*|worr(y|ied|ying)|incident\w*|behaviou?r\w*|attendance|notes?|history"
    r"|risk|welfare|safeguarding|vulnerable|disclos\w*|assessment)\b",
    re.IGNORECASE,
)
_LONG_TEXT: Final = 120


# --- matching what arrived ----------------------------------------------------------


def _identifiers(op: ops.AnyOperation) -> SourceIdentifiers | None:
    if isinstance(op, ops.SuppliedChild):
        return op.identifiers
    child = getattr(op, "child", None)
    return child.identifiers if isinstance(child, ops.ChildKey) else None


def _same_identifiers(ids: SourceIdentifiers, child: FixtureChild) -> bool:
    pairs = ((ids.upn, child.upn), (ids.uln, child.uln), (ids.nhs_number, child.nhs_number))
    return any(a is not None and a == b for a, b in pairs)


def _about(op: ops.AnyOperation, child: FixtureChild) -> bool:
    """Whether ``op`` is about ``child``: a shared identifier, or (the child
    named without one) its date of birth and name."""
    ids = _identifiers(op)
    if ids is not None and _same_identifiers(ids, child):
        return True
    if isinstance(op, ops.SuppliedChild):
        return (
            op.date_of_birth == child.date_of_birth
            and op.name.family_name == child.family_name
            and op.name.given_name == child.given_name
        )
    key = getattr(op, "child", None)
    return isinstance(key, ops.ChildKey) and key.date_of_birth == child.date_of_birth


def _operations(batches: Sequence[OpenedBatch]) -> Iterator[tuple[OpenedBatch, ops.AnyOperation]]:
    for batch in batches:
        for op in batch.operations:
            yield batch, op


def _about_child(
    batches: Sequence[OpenedBatch], child: FixtureChild
) -> list[tuple[OpenedBatch, ops.AnyOperation]]:
    return [(b, op) for b, op in _operations(batches) if _about(op, child)]


def _child_ops(
    step: StepRecord, ctx: SupplierContext, child: FixtureChild, kind: type[Op]
) -> list[tuple[OpenedBatch, Op]]:
    """The operations of type ``kind`` about ``child`` that ``step`` caused."""
    return [(b, op) for b, op in _about_child(ctx.supplied_in(step), child) if isinstance(op, kind)]


def _involvements(op: ops.AnyOperation) -> tuple[Involvement, ...]:
    if isinstance(op, ops.SuppliedChild):
        return op.involvements
    if isinstance(op, ops.InvolvementStarted):
        return (op.involvement,)
    return ()


def _same_person(a: Any, b: Any) -> bool:
    return bool(
        a is not None
        and b is not None
        and a.name.given_name == b.name.given_name
        and a.name.family_name == b.name.family_name
    )


def _evidence(pairs: Sequence[tuple[OpenedBatch, ops.AnyOperation]]) -> tuple[str, ...]:
    return tuple(
        f"batch {b.batch_id} seq {b.sequence} ref {op.ref} ({ops.OPERATION_TAGS[type(op)]})"
        for b, op in pairs
    )


def _sent(batches: Sequence[OpenedBatch]) -> tuple[str, ...]:
    return tuple(
        f"{b.exchange.describe()} batch {b.batch_id} seq {b.sequence} refs {','.join(b.refs)}"
        for b in batches
    )


# --- scenarios -----------------------------------------------------------------------


def _involvement_start(
    ctx: SupplierContext, *, sensitive: bool = False, consent: bool = True
) -> tuple[FixtureChild, InvolvementStarted, InvolvementFixture]:
    """A child the directory holds already (another source supplied it), and
    a practitioner's service starting with it."""
    child, record = ctx.fixtures.child()
    ctx.seed(record)
    fixture = ctx.fixtures.involvement(sensitive=sensitive)
    started = ctx.fixtures.days_ago(20)
    event = InvolvementStarted(
        child=child,
        key=f"inv-{child.key}",
        service=fixture.service,
        organisation=fixture.organisation,
        practitioner=fixture.practitioner,
        started_on=started,
        consent=ctx.fixtures.consent(started) if sensitive and consent else None,
    )
    return child, event, fixture


def _started(ctx: SupplierContext) -> tuple[FixtureChild, InvolvementStarted, StepRecord]:
    """A practitioner's service starting with a child the directory holds, as one step."""
    child, start, _ = _involvement_start(ctx)
    return child, start, ctx.step("involvement started", start)


def _joined(
    ctx: SupplierContext, days_ago: int, label: str = "joined"
) -> tuple[FixtureChild, ChildRecord, StepRecord]:
    """A pupil joining ``days_ago`` days ago, as one step."""
    child, record = ctx.fixtures.child()
    joined = PupilJoined(child=child, joined_on=ctx.fixtures.days_ago(days_ago))
    return child, record, ctx.step(label, joined)


def _basic(ctx: SupplierContext, label: str = "basic") -> StepRecord | None:
    """One event the system can take, producing supply: a joiner, else an
    involvement, else a sensitive involvement with consent, else a death."""
    if ctx.can(Capability.PUPILS):
        return _joined(ctx, 10, label)[2]
    if ctx.can(Capability.INVOLVEMENTS):
        return ctx.step(label, _involvement_start(ctx)[1])
    if ctx.can(Capability.SENSITIVE_INVOLVEMENTS):
        return ctx.step(label, _involvement_start(ctx, sensitive=True)[1])
    if ctx.can(Capability.DEATHS):
        child, record = ctx.fixtures.child()
        ctx.seed(record)
        return ctx.step(label, ChildDied(child=child, died_on=ctx.fixtures.days_ago(3)))
    return None


def _lifecycle(ctx: SupplierContext) -> list[StepRecord]:
    """Every event the system can take, one step each."""
    steps: list[StepRecord] = []
    f = ctx.fixtures
    if ctx.can(Capability.PUPILS):
        child, record, joined = _joined(ctx, 30)
        steps.append(joined)
        moved = attrs.evolve(child, address=f.moved(record).address)
        steps.append(ctx.step("changed", PupilChanged(child=moved, changed_on=f.days_ago(20))))
        steps.append(ctx.step("left", PupilLeft(child=moved, left_on=f.days_ago(10))))
    if ctx.can(Capability.INVOLVEMENTS):
        child, start, started = _started(ctx)
        steps.append(started)
        steps.append(ctx.step("lead", BecameLead(child=child, key=start.key, on=f.days_ago(15))))
        steps.append(ctx.step("caf", CafCompleted(child=child, key=start.key, on=f.days_ago(12))))
        end = InvolvementEnded(child=child, key=start.key, ended_on=f.days_ago(5))
        steps.append(ctx.step("involvement ended", end))
    if ctx.can(Capability.SENSITIVE_INVOLVEMENTS):
        steps.append(ctx.step("sensitive with consent", _involvement_start(ctx, sensitive=True)[1]))
    if ctx.can(Capability.DEATHS):
        child = _held_child(ctx)
        steps.append(ctx.step("died", ChildDied(child=child, died_on=f.days_ago(3))))
    return steps


def _held_child(ctx: SupplierContext) -> FixtureChild:
    """A child the system holds: a pupil who joined, else a child with an
    involvement, else one the directory holds from another source."""
    if ctx.can(Capability.PUPILS):
        return _joined(ctx, 30)[0]
    if ctx.can(Capability.INVOLVEMENTS):
        return _started(ctx)[0]
    child, record = ctx.fixtures.child()
    ctx.seed(record)
    return child


def _nothing_to_supply() -> Verdict:
    return Verdict.skipped("the system declares no capability that produces supply")


def _supplied(
    ctx: SupplierContext, drive: Callable[[SupplierContext], object]
) -> list[OpenedBatch] | Verdict:
    """Run ``drive`` (:func:`_basic` or :func:`_lifecycle`); every batch the
    system then sent, or the verdict if it could take no event or sent nothing."""
    if not drive(ctx):
        return _nothing_to_supply()
    batches = ctx.supplied()
    if not batches:
        return Verdict.failed("the system supplied nothing")
    return batches


def _each_sealed(
    batches: Sequence[OpenedBatch],
    problem: Callable[[OpenedBatch], str | None],
    wrong: str,
    right: str,
) -> Verdict:
    """Pass if no batch's envelope has a ``problem``; else fail, naming each."""
    bad = [(b, problem(b)) for b in batches]
    bad = [(b, why) for b, why in bad if why is not None]
    if bad:
        return Verdict.failed(
            f"{len(bad)} of {len(batches)} supply requests are {wrong}: {bad[0][1]}",
            *(f"{b.exchange.describe()}: {why}" for b, why in bad),
        )
    return Verdict.passed(f"{len(batches)} {right}")


def _after_fault(
    ctx: SupplierContext, status: int | None, fault: str
) -> list[OpenedBatch] | Verdict:
    """With a fault injected on the first supply request, drive one basic
    event; every batch the system sent, or the verdict if it sent none or the
    first was not answered with the fault's ``status`` (``None``: no answer)."""
    batches = _supplied(ctx, _basic)
    if isinstance(batches, Verdict):
        return batches
    if batches[0].exchange.status != status:
        return Verdict.failed(f"the suite's {fault} did not fire", *_sent(batches))
    return batches


# --- SUP-5, SUP-4: the envelope and the batch ------------------------------------------


@SUPPLIER_PLAN.test(
    "AC-SUP-5-01",
    rules=("SUP-5",),
    title="Every request body is a JWE (ECDH-ES+A256KW/A256GCM) to the directory's key, "
    "wrapping a JWS",
)
def envelope_encrypted(ctx: SupplierContext) -> Verdict:
    """Every supply request's body is a compact JWE, alg ECDH-ES+A256KW, enc
    A256GCM, no compression, sealed to the directory's published key (its
    kid), that decrypts to a compact JWS."""
    batches = _supplied(ctx, _basic)
    if isinstance(batches, Verdict):
        return batches
    return _each_sealed(
        batches,
        lambda b: b.envelope_problem,
        "not a proper envelope",
        "supply requests, each a JWE to the directory's key",
    )


@SUPPLIER_PLAN.test(
    "AC-SUP-5-02",
    rules=("SUP-5", "SUP-3"),
    title="Every JWS is signed by the supplier's registered key",
)
def envelope_signed(ctx: SupplierContext) -> Verdict:
    """The JWS inside every envelope is EdDSA, names the supplier's
    registered key, and its signature verifies with it: the directory knows
    for certain which supplier sent it."""
    batches = _supplied(ctx, _basic)
    if isinstance(batches, Verdict):
        return batches
    return _each_sealed(
        batches,
        lambda b: b.signature_problem,
        "not signed by the registered key",
        "envelopes, each signed by the registered key",
    )


@SUPPLIER_PLAN.test(
    "AC-SUP-4-01",
    rules=("SUP-4",),
    title="Batches carry the agreement's supplier and agreement IDs and strictly rising "
    "sequence numbers",
)
def batch_identity(ctx: SupplierContext) -> Verdict:
    """Over a run of several events, every batch names the supplier and the
    agreement it is accredited under, and each new batch's sequence number is
    above the last (a resend of one batch keeps its own)."""
    batches = _supplied(ctx, _lifecycle)
    if isinstance(batches, Verdict):
        return batches
    unreadable = [b for b in batches if b.batch_id is None or b.sequence is None]
    if unreadable:
        return Verdict.failed("a batch carries no batch ID or sequence number", *_sent(unreadable))
    wrong = [
        b for b in batches if b.supplier_id != ctx.supplier_id or b.agreement_id != ctx.agreement_id
    ]
    if wrong:
        return Verdict.failed(
            "a batch names another supplier or agreement than the one accredited",
            *_sent(wrong),
        )
    firsts = distinct_batches(batches)
    for before, after in itertools.pairwise(firsts):
        if (after.sequence or 0) <= (before.sequence or 0):
            return Verdict.failed(
                f"sequence {after.sequence} (batch {after.batch_id}) follows "
                f"{before.sequence} (batch {before.batch_id}): sequences must rise",
                *_sent(firsts),
            )
    return Verdict.passed(
        f"{len(firsts)} batches, sequences {[b.sequence for b in firsts]}", *_sent(firsts)
    )


def _same_batch(a: OpenedBatch, b: OpenedBatch) -> bool:
    return (
        a.batch_id == b.batch_id
        and a.sequence == b.sequence
        and a.raw_operations == b.raw_operations
    )


def _carriers(batches: Sequence[OpenedBatch], sent: OpenedBatch) -> list[OpenedBatch]:
    """The distinct batches (by ID) that carry any of ``sent``'s operations."""
    wanted = set(sent.raw_without_ref())
    return [b for b in distinct_batches(batches) if wanted & set(b.raw_without_ref())]


@SUPPLIER_PLAN.test(
    "AC-SUP-4-02",
    rules=("SUP-4",),
    title="After a dropped connection the retry resends the same batch, applied once",
)
def retry_resends_same_batch(ctx: SupplierContext) -> Verdict:
    """The suite drops the connection of the first supply request (no
    answer). The system must send it again as the same batch: the same batch
    ID, sequence and operations, so the directory applies it once; no other
    batch may carry those operations."""
    ctx.directory.faults.drop(1, path_prefix=SUPPLY_BATCHES_PATH, method="POST")
    batches = _after_fault(ctx, None, "dropped connection")
    if isinstance(batches, Verdict):
        return batches
    first = batches[0]
    if len(batches) < 2:
        return Verdict.failed("the system did not retry after the dropped connection")
    retry = batches[1]
    if not _same_batch(first, retry):
        return Verdict.failed(
            "the retry is not the same batch (batch ID, sequence or operations differ)",
            *_sent(batches),
        )
    carriers = _carriers(batches, first)
    if len(carriers) > 1:
        return Verdict.failed(
            "the dropped batch's operations were also sent in another batch",
            *_sent(carriers),
        )
    return Verdict.passed("the retry resent the same batch", *_sent(batches))


# --- REC: the data items ------------------------------------------------------------------


@SUPPLIER_PLAN.test(
    "AC-REC-1-01",
    rules=("REC-1",),
    title="A joiner arrives with name, gender, date of birth, address and a valid identifier",
    capability=Capability.PUPILS,
)
def joiner_core_items(ctx: SupplierContext) -> Verdict:
    """A pupil joining is supplied as the child (child_supplied) with the
    name, gender, date of birth and address the school holds, and its UPN
    (valid check letter: an invalid one does not decode)."""
    child, _, step = _joined(ctx, 10)
    found = _child_ops(step, ctx, child, ops.SuppliedChild)
    if not found:
        return Verdict.failed("no child_supplied operation arrived for the joiner")
    problems: list[str] = []
    for _, op in found:
        missing = [
            what
            for what, ok in (
                (
                    "name",
                    op.name.given_name == child.given_name
                    and op.name.family_name == child.family_name,
                ),
                ("gender", op.gender == child.gender),
                ("date of birth", op.date_of_birth == child.date_of_birth),
                (
                    "address",
                    op.address.lines == child.address.lines
                    and op.address.postcode == child.address.postcode,
                ),
                ("UPN", child.upn is not None and op.identifiers.upn == child.upn),
            )
            if not ok
        ]
        if not missing:
            return Verdict.passed("the joiner arrived with every REC-1 item", *_evidence(found))
        problems.append(f"ref {op.ref}: wrong or missing {', '.join(missing)}")
    return Verdict.failed(
        "the joiner arrived without all of name, gender, date of birth, address and UPN",
        *problems,
    )


@SUPPLIER_PLAN.test(
    "AC-REC-2-01",
    rules=("REC-2",),
    title="Parents/carers with parental responsibility arrive with name and contact details",
    capability=Capability.PUPILS,
)
def joiner_parents(ctx: SupplierContext) -> Verdict:
    """Each parent or carer with parental responsibility arrives with the
    joiner, with their name and the phone numbers and email the school holds."""
    child, _, step = _joined(ctx, 10)
    found = _child_ops(step, ctx, child, ops.SuppliedChild)
    if not found:
        return Verdict.failed("no child_supplied operation arrived for the joiner")
    expected = [p for p in child.parents if p.parental_responsibility]
    op = found[-1][1]
    supplied = [p for p in op.parents if isinstance(p, ParentCarer)]
    problems = []
    for index, parent in enumerate(expected):
        match = next((s for s in supplied if _same_person(s, parent)), None)
        if match is None:
            problems.append(f"parent/carer {index + 1}: not supplied (by name)")
            continue
        phones = {p.number for p in parent.contact.phones}
        if not phones <= {p.number for p in match.contact.phones}:
            problems.append(f"parent/carer {index + 1}: phone numbers missing")
        if parent.contact.email is not None and match.contact.email != parent.contact.email:
            problems.append(f"parent/carer {index + 1}: email missing")
    if problems:
        return Verdict.failed(
            "parents/carers with parental responsibility did not arrive whole",
            *problems,
            *_evidence(found[-1:]),
        )
    return Verdict.passed(f"{len(expected)} parents/carers arrived", *_evidence(found[-1:]))


@SUPPLIER_PLAN.test(
    "AC-REC-3-01",
    rules=("REC-3",),
    title="A change arrives: the changed details are supplied for the same child",
    capability=Capability.PUPILS,
)
def change_supplied(ctx: SupplierContext) -> Verdict:
    """After a joiner, the pupil moves house in the school's system: the new
    address is supplied for the same child (same identifiers)."""
    child, record, _ = _joined(ctx, 30)
    moved = attrs.evolve(child, address=ctx.fixtures.moved(record).address)
    step = ctx.step("changed", PupilChanged(child=moved, changed_on=ctx.fixtures.days_ago(5)))
    found = _child_ops(step, ctx, child, ops.SuppliedChild)
    if not found:
        return Verdict.failed("nothing was supplied for the child after the change")
    if any(
        op.address.lines == moved.address.lines and op.address.postcode == moved.address.postcode
        for _, op in found
    ):
        return Verdict.passed("the change arrived for the same child", *_evidence(found))
    return Verdict.failed(
        "the child was supplied again without the changed address", *_evidence(found)
    )


@SUPPLIER_PLAN.test(
    "AC-REC-3-02",
    rules=("REC-3",),
    title="A leaver arrives as the school's involvement ending (child_left_setting) with its date",
    capability=Capability.PUPILS,
)
def leaver_supplied(ctx: SupplierContext) -> Verdict:
    """After a joiner, the pupil leaves: a child_left_setting operation for the
    same child arrives, with the day they left."""
    child, _, _ = _joined(ctx, 30)
    left_on = ctx.fixtures.days_ago(4)
    step = ctx.step("left", PupilLeft(child=child, left_on=left_on))
    found = _child_ops(step, ctx, child, ops.ChildLeftSetting)
    if not found:
        return Verdict.failed("no child_left_setting operation arrived for the leaver")
    if any(op.left_on == left_on for _, op in found if isinstance(op, ops.ChildLeftSetting)):
        return Verdict.passed("the leaver arrived with its date", *_evidence(found))
    return Verdict.failed("the leaver arrived with the wrong date", *_evidence(found))


def _involvement_matches(inv: Involvement, start: InvolvementStarted) -> bool:
    return (
        inv.service == start.service
        and inv.organisation.name == start.organisation.name
        and _same_person(inv.practitioner, start.practitioner)
        and inv.started_on == start.started_on
    )


def _started_ops(
    batches: Sequence[OpenedBatch], child: FixtureChild, start: InvolvementStarted
) -> list[tuple[OpenedBatch, ops.AnyOperation]]:
    found = []
    for b, op in _about_child(batches, child):
        if any(_involvement_matches(i, start) for i in _involvements(op)) or (
            isinstance(op, ops.SocialCareReferral)
            and op.organisation.name == start.organisation.name
            and _same_person(op, start.practitioner)
            and op.started_on == start.started_on
        ):
            found.append((b, op))
    return found


@SUPPLIER_PLAN.test(
    "AC-REC-4-01",
    rules=("REC-4",),
    title="An involvement start arrives with its organisation and practitioner",
    capability=Capability.INVOLVEMENTS,
)
def involvement_started(ctx: SupplierContext) -> Verdict:
    """A practitioner's service starting with a child arrives as an
    involvement with its service, organisation, practitioner and start date."""
    child, start, step = _started(ctx)
    found = _started_ops(ctx.supplied_in(step), child, start)
    if found:
        return Verdict.passed("the involvement arrived whole", *_evidence(found))
    sent = _about_child(ctx.supplied_in(step), child)
    return Verdict.failed(
        "no involvement arrived with the service, organisation, practitioner and start date",
        *_evidence(sent),
    )


def _indicator(
    ctx: SupplierContext, event_type: type[BecameLead] | type[CafCompleted], label: str
) -> tuple[InvolvementStarted, list[tuple[OpenedBatch, ops.AnyOperation]]]:
    child, start, _ = _started(ctx)
    step = ctx.step(label, event_type(child=child, key=start.key, on=ctx.fixtures.days_ago(8)))
    return start, _about_child(ctx.supplied_in(step), child)


@SUPPLIER_PLAN.test(
    "AC-REC-5-01",
    rules=("REC-5",),
    title="Becoming lead professional arrives as the lead indicator",
    capability=Capability.INVOLVEMENTS,
)
def lead_indicator(ctx: SupplierContext) -> Verdict:
    """After an involvement starts, its practitioner becomes the lead
    professional: the lead indicator arrives for that involvement."""
    start, sent = _indicator(ctx, BecameLead, "lead")
    found = [
        (b, op)
        for b, op in sent
        if (isinstance(op, ops.InvolvementChanged) and op.lead_professional is True)
        or (isinstance(op, ops.SocialCareReferral) and op.lead_professional)
        or any(i.lead_professional and i.service == start.service for i in _involvements(op))
    ]
    if found:
        return Verdict.passed("the lead indicator arrived", *_evidence(found))
    return Verdict.failed("no lead professional indicator arrived", *_evidence(sent))


@SUPPLIER_PLAN.test(
    "AC-SUP-9-01",
    rules=("SUP-9", "REC-5"),
    title="A completed CAF arrives as the CAF indicator / common-assessment operation",
    capability=Capability.INVOLVEMENTS,
)
def caf_indicator(ctx: SupplierContext) -> Verdict:
    """After an involvement starts, a common assessment is completed: a
    common_assessment_completed operation (with the practitioner) or the CAF
    indicator arrives."""
    start, sent = _indicator(ctx, CafCompleted, "caf")
    found = [
        (b, op)
        for b, op in sent
        if isinstance(op, ops.CommonAssessmentCompleted)
        or (isinstance(op, ops.InvolvementChanged) and op.caf_completed is True)
        or any(i.caf_completed and i.service == start.service for i in _involvements(op))
    ]
    if found:
        return Verdict.passed("the CAF arrived", *_evidence(found))
    return Verdict.failed("no CAF indicator or common assessment arrived", *_evidence(sent))


@SUPPLIER_PLAN.test(
    "AC-REC-4-02",
    rules=("REC-4",),
    title="An involvement's end arrives with its date",
    capability=Capability.INVOLVEMENTS,
)
def involvement_ended(ctx: SupplierContext) -> Verdict:
    """After an involvement starts, it ends: involvement_ended (or the
    involvement with its end date) arrives with the day it ended."""
    child, start, _ = _started(ctx)
    ended_on = ctx.fixtures.days_ago(3)
    step = ctx.step("ended", InvolvementEnded(child=child, key=start.key, ended_on=ended_on))
    sent = _about_child(ctx.supplied_in(step), child)
    found = [
        (b, op)
        for b, op in sent
        if (isinstance(op, ops.InvolvementEnded) and op.ended_on == ended_on)
        or any(i.ended_on == ended_on and i.service == start.service for i in _involvements(op))
    ]
    if found:
        return Verdict.passed("the involvement's end arrived with its date", *_evidence(found))
    return Verdict.failed("no involvement end with its date arrived", *_evidence(sent))


# --- SENS-2: consent ------------------------------------------------------------------------


@SUPPLIER_PLAN.test(
    "AC-SENS-2-01",
    rules=("SENS-2",),
    title="A sensitive involvement without consent is never supplied",
    capability=Capability.SENSITIVE_INVOLVEMENTS,
)
def sensitive_without_consent(ctx: SupplierContext) -> Verdict:
    """A sensitive service (SENS-1) starts with a child who has not
    consented: no operation may carry it, in any batch."""
    _, start, _ = _involvement_start(ctx, sensitive=True, consent=False)
    ctx.step("sensitive without consent", start, quiet=True)
    found = [
        (b, op)
        for b, op in _operations(ctx.supplied())
        if any(i.service.is_sensitive for i in _involvements(op))
    ]
    if found:
        return Verdict.failed(
            "a sensitive involvement was supplied without consent", *_evidence(found)
        )
    return Verdict.passed("no sensitive involvement was supplied")


@SUPPLIER_PLAN.test(
    "AC-SENS-2-02",
    rules=("SENS-2",),
    title="A sensitive involvement with consent arrives with its consent",
    capability=Capability.SENSITIVE_INVOLVEMENTS,
)
def sensitive_with_consent(ctx: SupplierContext) -> Verdict:
    """A sensitive service starts with the child's informed, explicit
    consent: it arrives with who consented and when."""
    child, start, _ = _involvement_start(ctx, sensitive=True, consent=True)
    step = ctx.step("sensitive with consent", start)
    consent = start.consent
    if consent is None:  # pragma: no cover - _involvement_start gave consent
        raise RuntimeError("the fixture lost its consent")
    sent = _about_child(ctx.supplied_in(step), child)
    found = [
        (b, op)
        for b, op in sent
        if any(
            i.service == start.service
            and i.consent is not None
            and i.consent.given_by == consent.given_by
            and i.consent.given_on == consent.given_on
            for i in _involvements(op)
        )
    ]
    if found:
        return Verdict.passed(
            "the sensitive involvement arrived with its consent", *_evidence(found)
        )
    return Verdict.failed(
        "the sensitive involvement did not arrive with its consent", *_evidence(sent)
    )


# --- REC-6: no case information ---------------------------------------------------------------


def _given_strings(value: Any) -> Iterator[str]:
    """Every string in the fixture events the suite gave (attrs trees)."""
    if isinstance(value, str):
        yield value
    elif attrs.has(type(value)):
        for field in attrs.fields(type(value)):
            yield from _given_strings(getattr(value, field.name))
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _given_strings(item)


def _unknown_members(ctx: SupplierContext, raw: Any) -> list[str]:
    try:
        ctx.directory.service.codec.decode_operation(raw)
    except ValidationError as error:
        return [p.path or "?" for p in error.problems if p.code == "unknown_field"]
    except (TypeError, ValueError, KeyError):
        return []
    return []


@SUPPLIER_PLAN.test(
    "AC-REC-6-01",
    rules=("REC-6",),
    title="Nothing that looks like case information in any free-text field",
)
def no_case_information(ctx: SupplierContext) -> Verdict:
    """Over every event the system takes, no string it supplies (other than
    what the suite gave it) reads as case information: clinical notes,
    assessment results, opinions, flags of concern. Clear case-note
    wording fails; merely suspicious text, long free text or members the
    protocol does not define go to a human (REVIEW)."""
    recorder = _EventRecorder(ctx)
    if not _lifecycle(recorder.ctx):
        return _nothing_to_supply()
    given = recorder.given()
    clear: list[str] = []
    suspicious: list[str] = []
    for batch in ctx.supplied():
        for index, raw in enumerate(batch.raw_operations):
            where = f"batch {batch.batch_id} operation {index}"
            for path, text in strings_in(raw):
                if text in given or " " not in text.strip():
                    continue
                if CASE_INFORMATION.search(text):
                    clear.append(f"{where} {path}: case-note wording")
                elif SUSPICIOUS.search(text) or len(text) > _LONG_TEXT:
                    suspicious.append(f"{where} {path}: text for a human to review")
            for member in _unknown_members(ctx, raw):
                suspicious.append(f"{where} {member}: a member the protocol does not define")
    if clear:
        return Verdict.failed("case information was supplied (REC-6)", *clear, *suspicious)
    if suspicious:
        return Verdict.review("supplied text may be case information", *suspicious)
    return Verdict.passed("no supplied text looks like case information")


class _EventRecorder:
    """Wraps a context so the events driven through it are remembered."""

    def __init__(self, ctx: SupplierContext) -> None:
        self.ctx = ctx
        self.events: list[Any] = []
        step = ctx.step

        def remembering(label: str, event: Any, *, quiet: bool = False) -> StepRecord:
            self.events.append(event)
            return step(label, event, quiet=quiet)

        ctx.step = remembering  # type: ignore[method-assign]

    def given(self) -> set[str]:
        return {s for event in self.events for s in _given_strings(event)}


# --- RET-3: deaths -------------------------------------------------------------------------------


@SUPPLIER_PLAN.test(
    "AC-RET-3-01",
    rules=("RET-3",),
    title="A death arrives with its date",
    capability=Capability.DEATHS,
)
def death_supplied(ctx: SupplierContext) -> Verdict:
    """The system learns that a child it holds (a pupil who joined, or a
    child with an involvement) has died: child_died arrives for that child
    with the date of death."""
    child = _held_child(ctx)
    died_on = ctx.fixtures.days_ago(3)
    step = ctx.step("died", ChildDied(child=child, died_on=died_on))
    sent = _about_child(ctx.supplied_in(step), child)
    found = [(b, op) for b, op in sent if isinstance(op, ops.ChildDied)]
    if not found:
        return Verdict.failed("no child_died operation arrived", *_evidence(sent))
    if any(isinstance(op, ops.ChildDied) and op.died_on == died_on for _, op in found):
        return Verdict.passed("the death arrived with its date", *_evidence(found))
    return Verdict.failed("the death arrived with the wrong date", *_evidence(found))


# --- SUP-6: automatic, robust supply ----------------------------------------------------------


def _after(batches: Sequence[OpenedBatch], exchange: Exchange) -> list[OpenedBatch]:
    return [b for b in batches if b.exchange.index > exchange.index]


def _applied_once(batches: Sequence[OpenedBatch], sent: OpenedBatch, passed: Verdict) -> Verdict:
    """``passed``, unless more than one distinct batch the directory accepted
    (200) carries ``sent``'s operations: then they were applied twice."""
    accepted = [b for b in batches if b.exchange.status == 200]
    carriers = _carriers(accepted, sent)
    if len(carriers) > 1:
        return Verdict.failed("the operations were applied twice", *_sent(carriers))
    return passed


@SUPPLIER_PLAN.test(
    "AC-SUP-6-01",
    rules=("SUP-6",),
    title="Under an injected 429 with Retry-After the system waits, and the batch is applied once",
)
def honours_retry_after(ctx: SupplierContext) -> Verdict:
    """The first supply request is answered 429 with Retry-After (1 s). The
    system must wait at least that long before sending again, send the
    operations again, and not have them applied twice."""
    ctx.directory.faults.rate_limit(
        1, retry_after=RETRY_AFTER_SECONDS, path_prefix=SUPPLY_BATCHES_PATH, method="POST"
    )
    batches = _after_fault(ctx, 429, "429")
    if isinstance(batches, Verdict):
        return batches
    first = batches[0]
    later = _after(batches, first.exchange)
    if not later:
        return Verdict.failed("the system never sent the batch again after the 429")
    waited = later[0].exchange.started - first.exchange.ended
    evidence = (*_sent(batches), f"waited {waited:.2f} s after the 429")
    if waited < RETRY_AFTER_SECONDS - _RETRY_AFTER_SLACK:
        return Verdict.failed(
            f"the system sent again after {waited:.2f} s; Retry-After asked "
            f"{RETRY_AFTER_SECONDS} s",
            *evidence,
        )
    if not _carriers(later, first):
        return Verdict.failed("the rate-limited operations were never sent again", *evidence)
    return _applied_once(
        batches, first, Verdict.passed(f"waited {waited:.2f} s and resent once", *evidence)
    )


@SUPPLIER_PLAN.test(
    "AC-SUP-6-02",
    rules=("SUP-6",),
    title="Under injected 503s the system backs off and retries, and the batch is applied once",
)
def backs_off_on_503(ctx: SupplierContext) -> Verdict:
    """The first two supply requests are answered 503. The system must wait
    between attempts (at least 0.2 s; Retry-After says 1 s), keep trying
    until the directory takes the batch, and not have it applied twice."""
    ctx.directory.faults.unavailable(
        2, retry_after=RETRY_AFTER_SECONDS, path_prefix=SUPPLY_BATCHES_PATH, method="POST"
    )
    batches = _after_fault(ctx, 503, "503")
    if isinstance(batches, Verdict):
        return batches
    first = batches[0]
    wanted = set(first.raw_without_ref())
    carriers = [first, *(b for b in batches[1:] if wanted & set(b.raw_without_ref()))]
    evidence = list(_sent(batches))
    for before, after in itertools.pairwise(carriers):
        if before.exchange.status not in (429, 503):
            break
        gap = after.exchange.started - before.exchange.ended
        evidence.append(f"{gap:.2f} s between {before.exchange.index} and {after.exchange.index}")
        if gap < MIN_BACKOFF_SECONDS:
            return Verdict.failed(f"the system retried after {gap:.2f} s: no backoff", *evidence)
    through = [b for b in carriers if b.exchange.status not in (None, 429, 503)]
    if not through:
        return Verdict.failed(
            "the system stopped retrying before the directory took the batch", *evidence
        )
    return _applied_once(
        batches, first, Verdict.passed("backed off and got the batch through", *evidence)
    )


def _reject_first(ctx: SupplierContext) -> dict[str, str]:
    """Make the suite's directory answer the first supply request it can
    judge with a receipt that rejects its first operation (and accepts the
    rest); returns what it rejected. The suite plays the directory: it
    answers so even where the real directory refused the whole batch, so the
    test judges only what the system does with a rejection."""
    rejected: dict[str, str] = {}

    def rewrite(exchange: Exchange, body: bytes) -> tuple[int, bytes] | None:
        if rejected or not exchange.is_supply or exchange.status in (None, 429, 503):
            return None
        opened = ctx.inspector.open(exchange)
        refs = opened.refs
        if opened.batch_id is None or opened.sequence is None or not refs:
            return None
        rejected["ref"] = refs[0]
        rejected["index"] = str(exchange.index)
        outcomes: list[dict[str, str]] = [
            {
                "ref": refs[0],
                "status": "rejected",
                "code": "accreditation_rejected",
                "rule": "SUP-8",
                "message": "rejected by the accreditation suite",
            }
        ]
        outcomes.extend({"ref": ref, "status": "accepted"} for ref in refs[1:])
        receipt = {
            "batch_id": opened.batch_id,
            "sequence": opened.sequence,
            "received_at": ctx.directory.clock.now().isoformat(),
            "outcomes": outcomes,
        }
        return 200, json.dumps(receipt, separators=(",", ":")).encode()

    ctx.recorder.rewriter = rewrite
    return rejected


@SUPPLIER_PLAN.test(
    "AC-SUP-6-03",
    rules=("SUP-6",),
    title="An operation the directory rejected is not resent unchanged in later batches",
)
def rejected_not_resent(ctx: SupplierContext) -> Verdict:
    """The suite's directory rejects one operation in a receipt. Over the
    next events, the system must not send that operation again unchanged
    (a rejected operation stays rejected however often it is sent)."""
    rejected = _reject_first(ctx)
    if _basic(ctx, "first") is None:
        return _nothing_to_supply()
    ctx.recorder.rewriter = None
    if not rejected:
        return Verdict.failed("the system supplied nothing the suite could reject")
    _basic(ctx, "second")
    _basic(ctx, "third")
    index = int(rejected["index"])
    batches = ctx.supplied()
    source = next(b for b in batches if b.exchange.index == index)
    position = next(
        i
        for i, raw in enumerate(source.raw_operations)
        if isinstance(raw, dict) and raw.get("ref") == rejected["ref"]
    )
    unchanged = source.raw_without_ref()[position]
    again = [b for b in _after(batches, source.exchange) if unchanged in b.raw_without_ref()]
    if again:
        return Verdict.failed(
            f"the rejected operation (ref {rejected['ref']}) was sent again unchanged",
            *_sent(again),
        )
    return Verdict.passed(
        f"the rejected operation (ref {rejected['ref']}) was not resent", *_sent(batches)
    )


# --- SUP-1: one way -------------------------------------------------------------------------------


@SUPPLIER_PLAN.test(
    "AC-SUP-1-01",
    rules=("SUP-1",),
    title="The supplier's credentials are never used to read child data",
)
def supply_is_one_way(ctx: SupplierContext) -> Verdict:
    """Over every event the system takes, it makes no request but supply
    (POST /v1/supply/batches) and the directory's keys: it never searches,
    opens records or calls anything else with its supply credentials."""
    if not _lifecycle(ctx):
        return _nothing_to_supply()
    other = [e for e in ctx.exchanges() if (e.method, e.path.rstrip("/")) not in _SUPPLY_ROUTES]
    if other:
        return Verdict.failed(
            "the system made requests other than supply", *(e.describe() for e in other)
        )
    return Verdict.passed(f"{len(ctx.exchanges())} requests, all supply or keys")
