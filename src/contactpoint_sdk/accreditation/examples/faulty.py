"""Deliberately faulty example suppliers: one fault each (issue #8, item 6).

Each class here is :class:`~.reference_supplier.ExampleSupplier` with exactly
one thing done wrong, the kind of mistake vendors make. The accreditation
suite's self-test runs the supplier plan against each of them and expects
exactly one failed test: the one named by the class's ``expected_failure``.
Everything else about the supplier stays correct, so a suite that fails any
other test for it is judging wrongly (or the fault is not minimal).

Where the SDK itself would stop the mistake (its models refuse a bad UPN, its
client refuses a sensitive involvement without consent, it always encrypts),
the fault goes around the SDK in one small, marked place: a codec that
rewrites the encoded batch, a client that skips one step, a batch sent with
``send_batch`` instead of through the checks. Those bypasses live here and
nowhere else.

Only synthetic data passes through; logs name refs and codes, never a child.
"""

from __future__ import annotations

import logging
import math
import uuid
from datetime import datetime
from typing import Any, ClassVar

import attrs
import httpx
from joserfc import jws
from joserfc.errors import UnsupportedAlgorithmError
from joserfc.jwa import JWSAlgModel
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter

from contactpoint_sdk.accreditation.harness import (
    BecameLead,
    CafCompleted,
    ChildDied,
    DirectoryConnection,
    FixtureChild,
    InvolvementEnded,
    PupilChanged,
    PupilLeft,
)
from contactpoint_sdk.clock import Clock
from contactpoint_sdk.errors import (
    BadRequest,
    Conflict,
    ContactPointError,
    PolicyRefusal,
    RateLimited,
    ResponseInvalid,
    ServerError,
    TransportFailure,
)
from contactpoint_sdk.models.codec import WireCodec
from contactpoint_sdk.models.identifiers import UPN_CHECK_ALPHABET
from contactpoint_sdk.models.operations import AnyOperation, SupplyBatch, SupplyReceipt
from contactpoint_sdk.models.record import MAX_JOB_TITLE_LENGTH, Involvement, ParentCarer
from contactpoint_sdk.supply.batch import BATCH_CONTENT_TYPE, encode_batch
from contactpoint_sdk.supply.client import SupplyClient
from contactpoint_sdk.supply.envelope import JWS_TYPE, Sealer
from contactpoint_sdk.supply.keys import SigningKey
from contactpoint_sdk.supply.outbox import BatchSender
from contactpoint_sdk.supply.retry import RetryPolicy

from .reference_supplier import EXAMPLE_RETRY, ExampleSupplier, _Connected

__all__ = [
    "FAULTY_SUPPLIERS",
    "BadUpnCheckLetter",
    "CafIgnored",
    "CaseNotesInJobTitle",
    "ChangesIgnored",
    "ConsentDropped",
    "DeathsIgnored",
    "FaultySupplier",
    "GivesUpOn503",
    "IgnoresRetryAfter",
    "InvolvementEndIgnored",
    "LeadIndicatorDropped",
    "LeaversNeverSent",
    "NewBatchOnRetry",
    "NotEncrypted",
    "ParentsOmitted",
    "PractitionerOmitted",
    "ReadsChildBack",
    "ResendsRejected",
    "SensitiveWithoutConsent",
    "SequenceRestartsEachFlush",
    "WrongSigningKey",
]

logger = logging.getLogger(__name__)


class FaultySupplier(ExampleSupplier):
    """An example supplier with one deliberate fault.

    ``expected_failure`` is the one supplier-plan test ID that must catch it;
    ``fault`` says in a line what is wrong.
    """

    expected_failure: ClassVar[str]
    fault: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.name = f"Example supplier with a fault: {cls.fault}"


# --- a signed-but-not-encrypted envelope (shared by two faults) ------------------------


class _EdDsaRegistry(JWSRegistry):
    """EdDSA only, ``iat`` allowed: the inner JWS the SDK's sealer makes."""

    def get_alg(self, name: str) -> JWSAlgModel:
        if name != "EdDSA":
            raise UnsupportedAlgorithmError(f"Algorithm of '{name}' is not allowed")
        return self.algorithms[name]


def _is_int(value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("must be an integer")


_JWS_REGISTRY = _EdDsaRegistry(
    header_registry={"iat": HeaderParameter("Issued At", _is_int)}, algorithms=["EdDSA"]
)


def sign_only(payload: bytes, *, signing_key: SigningKey, now: datetime, content_type: str) -> str:
    """A compact JWS over ``payload``, exactly as the sealer's inner layer,
    but never encrypted to the directory's key (the fault of :class:`NotEncrypted`)."""
    header = {
        "alg": "EdDSA",
        "kid": signing_key.kid,
        "typ": JWS_TYPE,
        "cty": content_type,
        "iat": math.floor(now.timestamp()),
    }
    return jws.serialize_compact(header, payload, signing_key.jose_key, registry=_JWS_REGISTRY)


def _copy_policy(policy: RetryPolicy, cls: type[RetryPolicy]) -> RetryPolicy:
    """``policy``'s settings in a policy of class ``cls``."""
    return cls(
        max_attempts=policy.max_attempts,
        initial_wait=policy.initial_wait,
        max_wait=policy.max_wait,
        multiplier=policy.multiplier,
        jitter=policy.jitter,
        retry_after_cap=policy.retry_after_cap,
        sleep=policy.sleep,
    )


# --- SUP-5 ------------------------------------------------------------------------------


class WrongSigningKey(FaultySupplier):
    """Signs every envelope with a key it generated itself, not the one it
    registered with the directory, so the directory cannot know for certain
    who sent it (breaks SUP-5)."""

    expected_failure = "AC-SUP-5-02"
    fault = "signs with a key the directory does not know"

    def _signing_key(self, connection: DirectoryConnection) -> SigningKey:
        return SigningKey.generate()


class _SignedOnlyClient(SupplyClient):
    """A supply client that signs each batch but never encrypts it."""

    def __init__(self, *, signing_key: SigningKey, clock: Clock, **kwargs: Any) -> None:
        super().__init__(signing_key=signing_key, clock=clock, **kwargs)
        self._plain_key = signing_key
        self._plain_clock = clock

    def _seal(self, sealer: Sealer, batch: SupplyBatch) -> bytes:
        return sign_only(
            encode_batch(batch, self._codec),
            signing_key=self._plain_key,
            now=self._plain_clock.now(),
            content_type=BATCH_CONTENT_TYPE,
        ).encode("ascii")


class NotEncrypted(FaultySupplier):
    """Sends the signed batch (a compact JWS) as the body, without the JWE to
    the directory's key around it: anyone on the path can read the children's
    data (breaks SUP-5: supplied data is strongly encrypted)."""

    expected_failure = "AC-SUP-5-01"
    fault = "sends a plain JWS, not encrypted to the directory's key"
    _client_class = _SignedOnlyClient


# --- SUP-4: batches and sequence numbers ------------------------------------------------


class _RestartingSequence:
    """Numbers batches from 1 again at every flush, as an integration that
    keeps its counter in memory per run does. Treats the directory's 409 like
    any refusal of the batch (the outbox parks it), so later operations are
    still sent."""

    def __init__(self, client: SupplyClient) -> None:
        self._client = client
        self._next = 0
        self._numbers: dict[str, int] = {}

    def restart(self) -> None:
        self._next = 0

    def send_batch(self, batch: SupplyBatch) -> SupplyReceipt:
        number = self._numbers.get(batch.batch_id)
        if number is None:
            self._next += 1
            number = self._numbers[batch.batch_id] = self._next
        try:
            receipt = self._client.send_batch(attrs.evolve(batch, sequence=number))
        except Conflict as error:
            raise BadRequest(
                str(error),
                status=error.status,
                code=error.code,
                rule=error.rule,
                request_id=error.request_id,
                attempts=error.attempts,
            ) from error
        return attrs.evolve(receipt, sequence=batch.sequence)


class SequenceRestartsEachFlush(FaultySupplier):
    """Starts its batch sequence numbers at 1 again on every flush, so after
    the first flush the directory sees numbers that do not rise (breaks SUP-4
    and SUP-5's ordering: ``sequence`` rises strictly per supplier). Content
    is sent correctly."""

    expected_failure = "AC-SUP-4-01"
    fault = "restarts its sequence numbers at every flush"

    def _after_connect(self) -> None:
        self._restarting = _RestartingSequence(self._session().client)

    def _sender(self) -> BatchSender:
        return self._restarting

    def flush(self) -> None:
        self._restarting.restart()
        super().flush()


@attrs.frozen(kw_only=True)
class _NoResendPolicy(RetryPolicy):
    """The SDK's policy, except that a request with no answer is not resent
    by the client (the integration re-forms the batch itself)."""

    def should_retry(self, error: BaseException) -> bool:
        if isinstance(error, TransportFailure):
            return False
        return super().should_retry(error)


class _ReformOnDrop:
    """After a dropped connection, sends the operations again as a *new*
    batch: a fresh batch ID and the next sequence number, so a batch the
    directory may already have applied can be applied twice."""

    def __init__(self, client: SupplyClient, attempts: int) -> None:
        self._client = client
        self._attempts = attempts
        self._offset = 0

    def send_batch(self, batch: SupplyBatch) -> SupplyReceipt:
        sent = attrs.evolve(batch, sequence=batch.sequence + self._offset)
        for attempt in range(1, self._attempts + 1):
            try:
                receipt = self._client.send_batch(sent)
            except TransportFailure:
                if attempt == self._attempts:
                    raise
                self._offset += 1
                sent = attrs.evolve(
                    batch, batch_id=uuid.uuid4().hex, sequence=batch.sequence + self._offset
                )
                logger.info("faulty supplier: connection dropped; re-forming the batch")
                continue
            return attrs.evolve(receipt, batch_id=batch.batch_id, sequence=batch.sequence)
        raise AssertionError("unreachable")  # pragma: no cover


class NewBatchOnRetry(FaultySupplier):
    """When a send gets no answer, it re-forms the operations into a new
    batch (new batch ID, next sequence number) instead of resending the same
    one, so the directory cannot tell it is a retry and may apply it twice
    (breaks SUP-4/SUP-6 exactly-once supply)."""

    expected_failure = "AC-SUP-4-02"
    fault = "re-forms a new batch after a dropped connection"

    def _retry_policy(self) -> RetryPolicy:
        return _copy_policy(self.retry, _NoResendPolicy)

    def _after_connect(self) -> None:
        self._reform = _ReformOnDrop(self._session().client, self.retry.max_attempts)

    def _sender(self) -> BatchSender:
        return self._reform


# --- REC: what a record holds ------------------------------------------------------------


def _mistype(upn: str) -> str:
    """The UPN with a wrong check letter (the next letter of the alphabet)."""
    index = UPN_CHECK_ALPHABET.find(upn[:1])
    return UPN_CHECK_ALPHABET[(index + 1) % len(UPN_CHECK_ALPHABET)] + upn[1:]


class _MistypedUpnCodec(WireCodec):
    """Writes a joiner's UPN with the wrong check letter (the MIS's admission
    screen never checked it). Works on the encoded batch: the SDK's models
    would refuse such a UPN."""

    def encode(self, obj: Any) -> Any:
        data = super().encode(obj)
        if isinstance(obj, SupplyBatch) and isinstance(data, dict):
            for operation in data.get("operations", ()):
                ref = str(operation.get("ref", ""))
                identifiers = operation.get("identifiers")
                if (
                    operation.get("op") == "child_supplied"
                    and ref.startswith("join/")
                    and isinstance(identifiers, dict)
                    and isinstance(identifiers.get("upn"), str)
                ):
                    identifiers["upn"] = _mistype(identifiers["upn"])
        return data


class BadUpnCheckLetter(FaultySupplier):
    """Supplies each joiner with a UPN whose check letter is wrong: no valid
    identifier for the child (breaks REC-1). Later changes carry the right UPN."""

    expected_failure = "AC-REC-1-01"
    fault = "a joiner's UPN has a wrong check letter"

    def _wire_codec(self) -> WireCodec | None:
        return _MistypedUpnCodec()


class ParentsOmitted(FaultySupplier):
    """Never supplies the child's parents or carers (breaks REC-2)."""

    expected_failure = "AC-REC-2-01"
    fault = "omits parents and carers"

    def _parents(self, child: FixtureChild) -> tuple[ParentCarer, ...]:
        return ()


class ChangesIgnored(FaultySupplier):
    """Does not send a pupil's changed details: the directory keeps the old
    ones (breaks SUP-6 and SUP-8: updates are automatic and data accurate;
    the plan tests it as AC-REC-3-01)."""

    expected_failure = "AC-REC-3-01"
    fault = "ignores changes to a pupil's details"

    def _on_pupil_changed(self, event: PupilChanged) -> None:
        pupil = self._pupils.get(event.child.key)
        if pupil is not None:
            pupil.child = event.child  # the system changes; the directory never hears


class LeaversNeverSent(FaultySupplier):
    """Never tells the directory that a pupil left (breaks REC-3/SUP-6: the
    school's involvement stays open)."""

    expected_failure = "AC-REC-3-02"
    fault = "never sends leavers"

    def _on_pupil_left(self, event: PupilLeft) -> None:
        pupil = self._pupils.get(event.child.key)
        if pupil is not None:
            pupil.left_on = event.left_on


class PractitionerOmitted(FaultySupplier):
    """Supplies an involvement's start without its practitioner, so no one
    can be contacted (breaks REC-4). Later operations stay correct."""

    expected_failure = "AC-REC-4-01"
    fault = "involvement starts carry no practitioner"

    def _involvement_as_supplied(self, involvement: Involvement) -> Involvement:
        return attrs.evolve(involvement, practitioner=None)


class LeadIndicatorDropped(FaultySupplier):
    """Never sends the lead-professional indicator (breaks REC-5)."""

    expected_failure = "AC-REC-5-01"
    fault = "drops the lead professional indicator"

    def _on_became_lead(self, event: BecameLead) -> None:
        case = self._cases.get(event.key)
        if case is not None:
            case.involvement = attrs.evolve(case.involvement, lead_professional=True)


class CafIgnored(FaultySupplier):
    """Never notifies the directory of a completed common assessment (breaks
    SUP-9 and REC-5's CAF indicator)."""

    expected_failure = "AC-SUP-9-01"
    fault = "ignores completed CAFs"

    def _on_caf_completed(self, event: CafCompleted) -> None:
        case = self._cases.get(event.key)
        if case is not None:
            case.involvement = attrs.evolve(case.involvement, caf_completed=True)


class InvolvementEndIgnored(FaultySupplier):
    """Never sends the end of an involvement: the directory shows a service
    still involved (breaks REC-4 accuracy, SUP-6)."""

    expected_failure = "AC-REC-4-02"
    fault = "ignores involvement ends"

    def _on_involvement_ended(self, event: InvolvementEnded) -> None:
        case = self._cases.get(event.key)
        if case is not None:
            case.involvement = attrs.evolve(case.involvement, ended_on=event.ended_on)


class CaseNotesInJobTitle(FaultySupplier):
    """Appends the case worker's note to the practitioner's job title, a
    free-text field: case information leaves the system (breaks REC-6)."""

    expected_failure = "AC-REC-6-01"
    fault = "writes case notes into the practitioner's job title"

    #: The (synthetic) note the case-management screen keeps beside the worker.
    note: ClassVar[str] = "concerns about neglect, disclosed at school"

    def _involvement_as_supplied(self, involvement: Involvement) -> Involvement:
        practitioner = involvement.practitioner
        if practitioner is None:
            return involvement
        title = f"{practitioner.job_title or 'Practitioner'} ({self.note})"
        if len(title) > MAX_JOB_TITLE_LENGTH:  # the field's limit: the note alone
            title = self.note
        return attrs.evolve(involvement, practitioner=attrs.evolve(practitioner, job_title=title))


# --- RET ----------------------------------------------------------------------------------


class DeathsIgnored(FaultySupplier):
    """Never reports a child's death (breaks RET-3: the record's one-year
    retention never starts)."""

    expected_failure = "AC-RET-3-01"
    fault = "ignores deaths"

    def _on_child_died(self, event: ChildDied) -> None:
        return None


# --- SENS ---------------------------------------------------------------------------------


class _LastSequence:
    """Passes batches to the client and remembers the highest sequence number
    sent, so a batch formed outside the outbox can be numbered above it."""

    def __init__(self, client: SupplyClient) -> None:
        self.client = client
        self.last = 0

    def send_batch(self, batch: SupplyBatch) -> SupplyReceipt:
        self.last = max(self.last, batch.sequence)
        return self.client.send_batch(batch)


class SensitiveWithoutConsent(FaultySupplier):
    """Supplies a sensitive involvement although no consent was given, going
    around the SDK's consent check with ``send_batch`` (breaks SENS-2)."""

    expected_failure = "AC-SENS-2-01"
    fault = "supplies sensitive involvements without consent"

    def _after_connect(self) -> None:
        self._tracking = _LastSequence(self._session().client)
        self._unchecked: list[AnyOperation] = []

    def _may_supply(self, involvement: Involvement, child: FixtureChild) -> bool:
        return True

    def _sender(self) -> BatchSender:
        return self._tracking

    def _emit(self, operation: AnyOperation) -> None:
        try:
            super()._emit(operation)
        except PolicyRefusal:  # the SDK refuses it: send it another way
            self._unchecked.append(operation)

    def _after_flush(self) -> None:
        if not self._unchecked:
            return
        session = self._session()
        operations, self._unchecked = tuple(self._unchecked), []
        sequence = self._tracking.last + 1
        batch = SupplyBatch(
            supplier_id=session.connection.supplier_id,
            agreement_id=session.connection.agreement_id,
            batch_id=uuid.uuid4().hex,
            sequence=sequence,
            created_at=session.clock.now(),
            operations=operations,
        )
        try:
            session.client.send_batch(batch)
        except ContactPointError as error:
            logger.warning("faulty supplier: unchecked batch not taken (%s)", error.code)
        self._tracking.last = sequence
        session.outbox.resequence(after=sequence)


class _ConsentDroppingCodec(WireCodec):
    """Leaves the consent out of every involvement on the wire (the
    integration's field mapping has no column for it)."""

    def encode(self, obj: Any) -> Any:
        data = super().encode(obj)
        if isinstance(obj, SupplyBatch) and isinstance(data, dict):
            for operation in data.get("operations", ()):
                involvements = list(operation.get("involvements", ()))
                if isinstance(operation.get("involvement"), dict):
                    involvements.append(operation["involvement"])
                for involvement in involvements:
                    if isinstance(involvement, dict):
                        involvement.pop("consent", None)
        return data


class ConsentDropped(FaultySupplier):
    """Supplies a sensitive involvement that had consent without the consent:
    who consented, when and on whose authority is lost, and the directory
    cannot record it (breaks SENS-2)."""

    expected_failure = "AC-SENS-2-02"
    fault = "drops the consent of sensitive involvements"

    def _wire_codec(self) -> WireCodec | None:
        return _ConsentDroppingCodec()


# --- SUP-6: retries and rejections --------------------------------------------------------


@attrs.frozen(kw_only=True)
class _ImpatientPolicy(RetryPolicy):
    """The SDK's policy, except that after a 429 it retries at once,
    whatever ``Retry-After`` asked for."""

    def wait_after(self, attempt: int, error: BaseException | None) -> float:
        if isinstance(error, RateLimited):
            return 0.0
        return super().wait_after(attempt, error)


class IgnoresRetryAfter(FaultySupplier):
    """Retries a rate-limited send at once, ignoring the directory's
    ``Retry-After`` (breaks SUP-6's rate limits: the directory
    asked it to wait)."""

    expected_failure = "AC-SUP-6-01"
    fault = "ignores Retry-After"

    def __init__(self, *, retry: RetryPolicy = EXAMPLE_RETRY, **kwargs: Any) -> None:
        super().__init__(retry=_copy_policy(retry, _ImpatientPolicy), **kwargs)


@attrs.frozen(kw_only=True)
class _NoServerRetryPolicy(RetryPolicy):
    """The SDK's policy, except that a 5xx is never retried."""

    def should_retry(self, error: BaseException) -> bool:
        if isinstance(error, ServerError):
            return False
        return super().should_retry(error)


class GivesUpOn503(FaultySupplier):
    """Gives up at the first ``503``: no backoff, no retry, the batch is never
    delivered (breaks SUP-6: updates reach the directory automatically)."""

    expected_failure = "AC-SUP-6-02"
    fault = "gives up on 503"

    transient_errors: ClassVar[tuple[type[ContactPointError], ...]] = (
        TransportFailure,
        RateLimited,
        ResponseInvalid,
    )

    def __init__(self, *, retry: RetryPolicy = EXAMPLE_RETRY, **kwargs: Any) -> None:
        super().__init__(retry=_copy_policy(retry, _NoServerRetryPolicy), **kwargs)


class ResendsRejected(FaultySupplier):
    """Sends operations the directory rejected again, unchanged, hoping they
    go through this time (breaks SUP-6 and SUP-8: the supplier corrects its
    data; a refused operation stays refused however often it is sent)."""

    expected_failure = "AC-SUP-6-03"
    fault = "resends rejected operations unchanged"

    def flush(self) -> None:
        super().flush()
        outbox = self._session().outbox
        if outbox.requeue_parked(parked.ref for parked in outbox.parked()):
            super().flush()


# --- SUP-1: supply is one way ---------------------------------------------------------------


class ReadsChildBack(FaultySupplier):
    """After each flush, asks the directory for a child it supplied, to
    "check" the supply, authenticating with its supply signing key (breaks
    SUP-1: supply is one way; supply credentials never read child data)."""

    expected_failure = "AC-SUP-1-01"
    fault = "reads a child back with its supply credentials"

    def _after_connect(self) -> None:
        connection = self._session().connection
        self._reader = httpx.Client(
            base_url=connection.base_url, transport=connection.transport, timeout=5.0
        )

    def _after_flush(self) -> None:
        session = self._session()
        key = next(iter(sorted(self._supplied)), None)
        child = None if key is None else self._children.get(key)
        if child is None:
            return
        credential = sign_only(
            f'{{"sub":"{session.connection.supplier_id}"}}'.encode(),
            signing_key=session.connection.signing_key,
            now=session.clock.now(),
            content_type="application/json",
        )
        criteria = {"family_name": child.family_name, "date_of_birth": str(child.date_of_birth)}
        if child.upn is not None:
            criteria["upn"] = str(child.upn)
        try:
            response = self._reader.post(
                "/v1/search", json=criteria, headers={"Authorization": f"Bearer {credential}"}
            )
        except httpx.HTTPError as error:
            logger.info("faulty supplier: read-back failed (%s)", type(error).__name__)
            return
        logger.info("faulty supplier: read-back answered %d", response.status_code)

    def _before_close(self, connected: _Connected) -> None:
        self._reader.close()


#: Every faulty example, one fault each, for the self-test.
FAULTY_SUPPLIERS: tuple[type[FaultySupplier], ...] = (
    WrongSigningKey,
    NotEncrypted,
    SequenceRestartsEachFlush,
    NewBatchOnRetry,
    BadUpnCheckLetter,
    ParentsOmitted,
    ChangesIgnored,
    LeaversNeverSent,
    PractitionerOmitted,
    LeadIndicatorDropped,
    CafIgnored,
    InvolvementEndIgnored,
    SensitiveWithoutConsent,
    ConsentDropped,
    CaseNotesInJobTitle,
    DeathsIgnored,
    IgnoresRetryAfter,
    GivesUpOn503,
    ResendsRejected,
    ReadsChildBack,
)
