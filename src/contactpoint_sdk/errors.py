"""One exception tree for the whole SDK.

Every error has a stable, machine-readable ``code`` and, where a rule of
``shared/spec/RULES.md`` applies, its ``rule`` ID (``"SENS-2"``). Catch
:class:`ContactPointError` to catch everything the SDK raises on purpose.

Validation gathers problems instead of stopping at the first: a
:class:`ValidationError` carries every :class:`Problem` found in one record,
each naming the field's path (``parents[1].notes``), what is wrong, and the rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from contactpoint_sdk.models.operations import SupplyBatch, SupplyReceipt

__all__ = [
    "SIGN_IN_AUDIT_CODES",
    "AgreementViolation",
    "AlgorithmNotAllowed",
    "ApiError",
    "AuditLogDamaged",
    "BadRequest",
    "CompressionNotAllowed",
    "ConfigurationError",
    "Conflict",
    "ContactPointError",
    "EnvelopeDecryptionFailed",
    "EnvelopeError",
    "EnvelopeFromFuture",
    "EnvelopeHeaderInvalid",
    "EnvelopeMalformed",
    "Forbidden",
    "KeyMaterialError",
    "MediationRefused",
    "NotEligible",
    "NotPermitted",
    "PayloadTooLarge",
    "PolicyRefusal",
    "Problem",
    "RateLimited",
    "ReasonInvalid",
    "ReasonRequired",
    "ReceiptInvalid",
    "RecordNotFound",
    "RefineSearch",
    "ResponseInvalid",
    "SearchBlocked",
    "SearchRateLimited",
    "SearchTooBroad",
    "SequenceOutOfOrder",
    "ServerError",
    "SessionExpired",
    "SessionInvalid",
    "SignInFailed",
    "SignatureInvalid",
    "SupplierNotAccredited",
    "SupplyInterrupted",
    "TransportFailure",
    "Unauthorized",
    "UnknownKey",
    "UnknownUser",
    "UserExists",
    "ValidationError",
    "WrongPassphrase",
]


class ContactPointError(Exception):
    """Root of every error the SDK raises on purpose.

    ``code`` is stable and machine readable; ``rule`` is the rule ID from
    RULES.md where one applies, else ``None``.
    """

    code: str = "contactpoint_error"
    rule: str | None = None
    #: For an error the directory answered with: the ``X-Request-ID`` of the
    #: request (quote it to the directory's operators); else ``None``.
    request_id: str | None = None

    def __init__(self, message: str, *, code: str | None = None, rule: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if rule is not None:
            self.rule = rule

    def __str__(self) -> str:
        if self.rule and f"({self.rule})" not in self.message:
            return f"{self.message} ({self.rule})"
        return self.message


@attrs.frozen(kw_only=True)
class Problem:
    """One thing wrong with one field.

    ``path`` is where it is, in wire terms: ``""`` for the value itself,
    ``child.address.postcode`` or ``parents[1].notes`` inside a record.
    """

    path: str
    message: str
    code: str
    rule: str | None = None

    def at(self, prefix: str) -> Problem:
        """The same problem seen from one level further out."""
        if not prefix:
            return self
        if not self.path:
            path = prefix
        elif self.path.startswith("["):
            path = prefix + self.path
        else:
            path = f"{prefix}.{self.path}"
        return attrs.evolve(self, path=path)

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        rule = f" ({self.rule})" if self.rule and f"({self.rule})" not in self.message else ""
        return f"{where}{self.message}{rule}"


class ValidationError(ContactPointError, ValueError):
    """Input that breaks the model's rules; carries every problem found.

    ``str(error)`` lists them one per line, each with its path and rule.
    """

    code = "validation_failed"

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        if not self.problems:
            raise ValueError("a ValidationError needs at least one problem")
        first = self.problems[0]
        super().__init__(
            "\n".join(str(p) for p in self.problems),
            code=first.code if len(self.problems) == 1 else None,
            rule=first.rule if len({p.rule for p in self.problems}) == 1 else None,
        )

    def __str__(self) -> str:
        return self.message

    @classmethod
    def single(
        cls, message: str, *, code: str, rule: str | None = None, path: str = ""
    ) -> ValidationError:
        """A validation error with one problem."""
        return cls([Problem(path=path, message=message, code=code, rule=rule)])

    def at(self, prefix: str) -> ValidationError:
        """The same problems seen from one level further out."""
        return ValidationError(p.at(prefix) for p in self.problems)

    @property
    def paths(self) -> Sequence[str]:
        """The paths of the problems, in order."""
        return [p.path for p in self.problems]


class PolicyRefusal(ContactPointError):
    """A directory rule says no (consent missing, not eligible, ...).

    Always carries the rule ID that refused.
    """

    code = "policy_refusal"

    def __init__(self, message: str, *, code: str, rule: str) -> None:
        super().__init__(message, code=code, rule=rule)


class ConfigurationError(ContactPointError):
    """The SDK was set up wrongly (a missing key, an impossible setting)."""

    code = "configuration_error"


# --- Supply envelope (SUP-5): each refusal has its own type and code. ---------


class EnvelopeError(ContactPointError):
    """A supply envelope that cannot be trusted or opened (SUP-5)."""

    code = "envelope_invalid"
    rule = "SUP-5"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code, rule="SUP-5")


class EnvelopeMalformed(EnvelopeError):
    """Not a compact JWE/JWS at all, or its payload is not what it claims."""

    code = "envelope_malformed"


class EnvelopeHeaderInvalid(EnvelopeError):
    """A required header (``kid``, ``typ``, ``cty``) is missing or wrong."""

    code = "envelope_header_invalid"


class AlgorithmNotAllowed(EnvelopeError):
    """An ``alg`` or ``enc`` off the allow-list, ``none`` included."""

    code = "envelope_algorithm_not_allowed"


class CompressionNotAllowed(EnvelopeError):
    """A ``zip`` header: compression before encryption is refused."""

    code = "envelope_compression_not_allowed"


class EnvelopeDecryptionFailed(EnvelopeError):
    """The ciphertext, tag or key does not decrypt (tampered, or not for us)."""

    code = "envelope_decryption_failed"


class SignatureInvalid(EnvelopeError):
    """The inner signature does not verify against the named key."""

    code = "envelope_signature_invalid"


class UnknownKey(EnvelopeError):
    """The ``kid`` names no key registered for this supplier or directory."""

    code = "envelope_unknown_key"


class EnvelopeFromFuture(EnvelopeError):
    """The envelope says it was created too far in the future."""

    code = "envelope_from_future"


class KeyMaterialError(ContactPointError):
    """A key that cannot be loaded, exported or used as asked."""

    code = "key_invalid"


class WrongPassphrase(KeyMaterialError):
    """An encrypted private key whose passphrase does not open it."""

    code = "key_wrong_passphrase"


# --- The directory's refusals (reference server and real directories) ----------


class SupplierNotAccredited(PolicyRefusal):
    """The sender is not an accredited supplier, or is suspended (SUP-3)."""

    def __init__(self, message: str = "the supplier is not accredited") -> None:
        super().__init__(message, code="supplier_not_accredited", rule="SUP-3")


class AgreementViolation(PolicyRefusal):
    """The supply is outside the supplier's operational agreement (SUP-4)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="outside_agreement", rule="SUP-4")


class SequenceOutOfOrder(ContactPointError):
    """A new batch whose sequence number is not above the last one seen (SUP-5).

    A resend of a batch already seen is not this: it is answered with its
    first receipt.
    """

    code = "sequence_out_of_order"
    rule = "SUP-5"

    def __init__(self, message: str, *, last_sequence: int) -> None:
        super().__init__(message)
        self.last_sequence = last_sequence


class RecordNotFound(ContactPointError):
    """No live record (or no archived one, for archive reads) with that identifier."""

    code = "record_not_found"


class NotPermitted(PolicyRefusal):
    """The user may not do this (wrong role, wrong authority, wrong purpose)."""


# --- Talking to the directory over HTTP (client side) -------------------------
# Every one carries ``request_id`` (the ``X-Request-ID`` the directory answered
# with, else the one the client sent) and ``attempts``. Messages never quote a
# response body: status, codes, paths and rule IDs only.


class ApiError(ContactPointError):
    """The directory answered with an error status.

    :ivar status: the HTTP status code.
    :ivar code: the directory's machine-readable ``code``, else one for the status.
    :ivar rule: the rule that refused (``"SUP-3"``), where the directory named one.
    :ivar request_id: the request's ID, where there is one.
    :ivar title: the problem's ``title``; :ivar detail: its ``detail``.
    :ivar problem_type: the problem's ``type`` URI.
    :ivar problems: per-field problems of a validation failure.
    :ivar retry_after: seconds the directory asked the client to wait, if it did.
    :ivar attempts: how many times the request was sent.
    """

    code = "http_error"
    #: Whether the retry policy may send the request again.
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        rule: str | None = None,
        request_id: str | None = None,
        title: str | None = None,
        detail: str | None = None,
        problem_type: str | None = None,
        problems: Sequence[Problem] = (),
        retry_after: float | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message, code=code, rule=rule)
        self.status = status
        self.request_id = request_id
        self.title = title
        self.detail = detail
        self.problem_type = problem_type
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.retry_after = retry_after
        self.attempts = attempts


class BadRequest(ApiError):
    """400: the envelope or the batch is malformed (``envelope_malformed``,
    ``validation_failed``, ...). Sending it again will not help: fix the input."""

    code = "bad_request"


class Unauthorized(ApiError):
    """401: the envelope's signature or key is not accepted
    (``envelope_signature_invalid``, ``envelope_unknown_key``, ...) (SUP-5)."""

    code = "unauthorized"
    rule = "SUP-5"


class Forbidden(ApiError):
    """403: the supplier is not accredited (SUP-3) or the supply is outside its
    operational agreement (SUP-4); ``rule`` says which."""

    code = "forbidden"


class Conflict(ApiError):
    """409: the batch's sequence number is not above the last one the directory
    saw for this supplier (``sequence_out_of_order``)."""

    code = "conflict"


class PayloadTooLarge(ApiError):
    """413: the envelope is larger than the directory accepts: send smaller batches."""

    code = "payload_too_large"


class RateLimited(ApiError):
    """429: too many requests; ``retry_after`` says how long the directory asked
    the client to wait. Retried by the retry policy."""

    code = "rate_limited"
    retryable = True


class ServerError(ApiError):
    """5xx: the directory failed or is unavailable. Retried by the retry policy."""

    code = "server_error"
    retryable = True


class TransportFailure(ContactPointError):
    """No usable answer from the directory: a connection refused or reset, a
    timeout, a response broken at the protocol level. Raised once the retry
    policy has given up; ``attempts`` says how many times the request was sent
    and ``__cause__`` is the last httpx error."""

    code = "transport_failure"

    def __init__(
        self,
        message: str,
        *,
        attempts: int = 1,
        request_id: str | None = None,
        retryable: bool = True,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.attempts = attempts
        self.request_id = request_id
        #: Whether this kind of failure is transient (the retry policy resends).
        self.retryable = retryable


class ResponseInvalid(ContactPointError):
    """The directory answered, but not with something the SDK can trust
    (not JSON, the wrong shape, fields the protocol does not define)."""

    code = "response_invalid"

    def __init__(
        self,
        message: str,
        *,
        status: int,
        request_id: str | None = None,
        problems: Sequence[Problem] = (),
        attempts: int = 1,
        code: str | None = None,
        rule: str | None = None,
    ) -> None:
        super().__init__(message, code=code, rule=rule)
        self.status = status
        self.request_id = request_id
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.attempts = attempts


class ReceiptInvalid(ResponseInvalid):
    """A ``200`` whose body is not a valid :class:`SupplyReceipt` for the batch
    sent: not JSON, a missing or mistyped member, a receipt for another batch,
    outcomes that do not match the batch's operations, or ANY member the
    receipt format does not define (SUP-1: nothing but a receipt may come back).

    The batch may or may not have been taken: send it again (same batch ID, so
    the directory answers with its first receipt and changes nothing).
    """

    code = "receipt_invalid"
    rule = "SUP-1"


class SupplyInterrupted(ContactPointError):
    """A supply of several batches stopped at one batch.

    :ivar receipts: the receipts of the batches sent before it, in order.
    :ivar pending: the batch that failed, then every batch not yet sent.
        Resend them with ``send_batch``: each keeps its batch ID and sequence
        number, so a batch the directory did take is answered with its first
        receipt and applied only once.
    :ivar error: why it stopped (also ``__cause__``).
    """

    code = "supply_interrupted"

    def __init__(
        self,
        error: ContactPointError,
        *,
        receipts: Sequence[SupplyReceipt],
        pending: Sequence[SupplyBatch],
    ) -> None:
        done = len(receipts)
        super().__init__(
            f"supply stopped after {done} of {done + len(pending)} batches: {error}",
            rule=error.rule,
        )
        self.error = error
        self.receipts: tuple[SupplyReceipt, ...] = tuple(receipts)
        self.pending: tuple[SupplyBatch, ...] = tuple(pending)


class AuditLogDamaged(ContactPointError):
    """The audit log's stored entries are not the unbroken sequence it wrote (ACC-5)."""

    code = "audit_log_damaged"
    rule = "ACC-5"


# --- Look-up: sign-in, sessions, reasons, anti-trawling (ACC-1, ACC-3, ACC-4, ACC-6) ---
# Sign-in failures are vague to the caller and precise in the audit:
# SignInFailed has one public code and message whatever was wrong; what was
# wrong is in its audit_code, which the directory audits and never sends.


#: Every :attr:`SignInFailed.audit_code`, for the audit log and its readers.
SIGN_IN_AUDIT_CODES = frozenset(
    {
        "username_missing",
        "unknown_user",
        "password_missing",
        "password_wrong",
        "pin_missing",
        "pin_wrong",
        "token_missing",
        "token_wrong",
        "token_reused",
        "credential_not_allocated",
        "account_locked",
    }
)


# --- sign-in and sessions (ACC-1, ACC-6) -------------------------------------------


class SignInFailed(PolicyRefusal):
    """The credentials did not sign the user in (ACC-1).

    The caller always gets the same ``code`` (``sign_in_failed``) and the same
    message, whichever credential was missing or wrong, whether the username
    exists, and whether the account is locked: telling them apart would help
    whoever is guessing.

    :ivar audit_code: what was wrong, for the audit log only: the first of
        :data:`SIGN_IN_AUDIT_CODES` in credential order (username, password,
        PIN, token), or ``account_locked``. **Never send it to the caller.**
    :ivar audit_codes: every credential problem found, in that order.
    :ivar user_id: the account the username named, if any (for the audit).
    """

    MESSAGE = (
        "sign-in failed: check your username, password, PIN and security token "
        "(repeated failures lock the account for a time)"
    )

    def __init__(
        self, *, audit_code: str, audit_codes: Sequence[str] = (), user_id: str | None = None
    ) -> None:
        super().__init__(self.MESSAGE, code="sign_in_failed", rule="ACC-1")
        self.audit_code = audit_code
        self.audit_codes: tuple[str, ...] = tuple(audit_codes) or (audit_code,)
        self.user_id = user_id


class NotEligible(PolicyRefusal):
    """The credentials were right, but the account may not sign in (ACC-1).

    Not a secret, so the reason is told: ``code`` is the eligibility code
    (``disclosure_lapsed``, ``training_lapsed``, ``suspended`` ... see
    :mod:`contactpoint_sdk.policy.eligibility`), rule ``ACC-1``.
    """

    def __init__(self, message: str, *, code: str, user_id: str | None = None) -> None:
        super().__init__(message, code=code, rule="ACC-1")
        self.user_id = user_id


class SessionInvalid(ContactPointError):
    """No session has that token (never issued, signed out, or ended) (ACC-1)."""

    code = "session_invalid"
    rule = "ACC-1"

    def __init__(self, message: str = "no session has that token: sign in") -> None:
        super().__init__(message)


class SessionExpired(SessionInvalid):
    """The session has ended: unused too long (``reason == "idle"``) or
    too long since sign-in (``reason == "absolute"``) (ACC-1)."""

    code = "session_expired"

    def __init__(self, reason: str) -> None:
        what = "unused for too long" if reason == "idle" else "at its time limit"
        super().__init__(f"the session has ended ({what}): sign in again")
        self.reason = reason


class MediationRefused(PolicyRefusal):
    """A user may not act for that practitioner (ACC-6).

    Codes: ``mediation_not_allowed`` (not a colleague in the same
    organisation, oneself, or a role whose view must not be mediated),
    ``practitioner_not_eligible`` (the practitioner's own eligibility failed;
    ``reason_code`` says why).
    """

    def __init__(self, message: str, *, code: str, reason_code: str | None = None) -> None:
        super().__init__(message, code=code, rule="ACC-6")
        self.reason_code = reason_code


class UserExists(ContactPointError):
    """A user with that user ID or username is already enrolled."""

    code = "user_exists"


class UnknownUser(ContactPointError):
    """No user has that user ID."""

    code = "user_not_found"


# --- reasons (ACC-3) -------------------------------------------------------------


class ReasonRequired(PolicyRefusal):
    """No reason stated (``reason_required``), or the reason "other" without
    its free text (``reason_text_required``) (ACC-3)."""

    def __init__(self, message: str, *, code: str = "reason_required") -> None:
        super().__init__(message, code=code, rule="ACC-3")


class ReasonInvalid(PolicyRefusal):
    """A reason that cannot be accepted (ACC-3): ``reason_unknown`` (not on the
    list), ``reason_not_applicable`` (an archive reason for a live record, or
    the other way round), ``reason_text_not_allowed`` (free text with a listed
    reason), ``reason_text_invalid`` (too short, too long, not one printable
    line, or shaped like case information: an identifier, a phone number, an
    e-mail address, a postcode)."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message, code=code, rule="ACC-3")


# --- anti-trawling (ACC-4) -----------------------------------------------------------


class SearchTooBroad(PolicyRefusal):
    """The search lacks enough identifying detail (``search_too_broad``, ACC-4)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="search_too_broad", rule="ACC-4")


class RefineSearch(PolicyRefusal):
    """More than ``limit`` records match: nothing is shown; add detail
    (``refine_search``, ACC-4). The number of matches is not told."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"more than {limit} children match: add detail to the search",
            code="refine_search",
            rule="ACC-4",
        )
        self.limit = limit


class SearchRateLimited(PolicyRefusal):
    """The user has searched too often (``rate_limited``, ACC-4).

    :ivar retry_after: seconds until a search will be accepted.
    :ivar window: ``"minute"`` or ``"day"``: which limit was reached.
    """

    def __init__(self, *, retry_after: float, window: str) -> None:
        super().__init__(
            f"too many searches in the last {window}: try again in "
            f"{max(1, round(retry_after))} seconds",
            code="rate_limited",
            rule="ACC-4",
        )
        self.retry_after = retry_after
        self.window = window


class SearchBlocked(PolicyRefusal):
    """The user's searches are stopped after an unusual pattern was reported
    to the management team (``search_blocked``, ACC-4).

    :ivar retry_after: seconds until the block ends by itself; the
        management team may clear it sooner.
    """

    def __init__(self, *, retry_after: float) -> None:
        super().__init__(
            "searching is paused after an unusual pattern of searches was reported "
            "to your local authority's management team; contact them, or try again later",
            code="search_blocked",
            rule="ACC-4",
        )
        self.retry_after = retry_after
