"""Errors of talking to the directory over HTTP: its refusals, and no answer at all.

Every error here is a :class:`~contactpoint_sdk.errors.ContactPointError`
with a stable ``code`` and, where the directory named one, the ``rule`` that
refused. Each carries ``request_id`` (the ``X-Request-ID`` the directory
answered with, else the one the client sent) and ``attempts`` (how many times
the request was sent before the SDK gave up), so a vendor's support desk and
the directory's operators can find the same request in their logs.

- :class:`ApiError` and its subclasses: the directory answered with an error
  status. Built from an ``application/problem+json`` body (RFC 9457) with
  the directory's ``code``, ``rule``, ``request_id`` and ``problems``;
  any other body (an HTML page from a proxy, nothing at all) is tolerated and
  the error is built from the status alone.
- :class:`TransportFailure`: no answer (connection refused or reset, timeout,
  a broken response), after every attempt the retry policy allowed.
- :class:`ResponseInvalid` / :class:`ReceiptInvalid`: an answer the SDK
  refuses to trust. A receipt that carries any field the protocol does not
  define is refused whole, so no child data can ever flow back (SUP-1).
- :class:`SupplyInterrupted`: a multi-batch supply stopped part way; it holds
  the receipts already obtained and the batches still to send.

Error messages never quote a response body: they carry status, codes, paths
and rule IDs only.
"""

from __future__ import annotations

import email.utils
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from contactpoint_sdk.errors import ContactPointError, Problem

if TYPE_CHECKING:
    from contactpoint_sdk.models.operations import SupplyBatch, SupplyReceipt

__all__ = [
    "REQUEST_ID_HEADER",
    "ApiError",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "PayloadTooLarge",
    "RateLimited",
    "ReceiptInvalid",
    "ResponseInvalid",
    "ServerError",
    "SupplyInterrupted",
    "TransportFailure",
    "Unauthorized",
    "error_for_response",
    "is_transient",
    "parse_retry_after",
]

#: The header that names a request, in both directions.
REQUEST_ID_HEADER = "X-Request-ID"

#: How many characters of a directory-supplied string an error keeps.
_MAX_TEXT = 500
_MAX_PROBLEMS = 100


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

    @classmethod
    def from_response(
        cls,
        response: httpx.Response,
        *,
        now: datetime,
        attempts: int = 1,
        request_id: str | None = None,
    ) -> ApiError:
        """The typed error for an error ``response`` (see :func:`error_for_response`)."""
        return error_for_response(response, now=now, attempts=attempts, request_id=request_id)


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


_BY_STATUS: Mapping[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    409: Conflict,
    413: PayloadTooLarge,
    429: RateLimited,
}


def _error_class(status: int) -> type[ApiError]:
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, ApiError)


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

    @classmethod
    def from_exception(
        cls, error: httpx.TransportError, *, attempts: int, request_id: str | None
    ) -> TransportFailure:
        """The failure for an httpx transport error (the caller chains it)."""
        transient = is_transient(error)
        kind = type(error).__name__
        if isinstance(error, httpx.TimeoutException):
            code = "timeout"
        elif isinstance(error, httpx.ConnectError):
            code = "connect_failed"
        elif transient:
            code = "transport_failure"
        else:
            code = "transport_unusable"
        plural = "attempt" if attempts == 1 else "attempts"
        return cls(
            f"no answer from the directory after {attempts} {plural} ({kind})",
            attempts=attempts,
            request_id=request_id,
            retryable=transient,
            code=code,
        )


def is_transient(error: httpx.TransportError) -> bool:
    """Whether a transport error may go away if the request is sent again:
    timeouts, network errors (connect, read, write, close), a response broken
    by the peer, a proxy failure. Not a URL scheme httpx cannot speak, nor a
    request httpx itself refuses to send."""
    if isinstance(error, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return False
    return isinstance(
        error,
        httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError | httpx.ProxyError,
    )


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


# --- Reading an error response -------------------------------------------------


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds, or an
    HTTP date (judged against ``now``; a past date means 0). ``None`` when
    absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _text(value: object) -> str | None:
    if isinstance(value, str) and value:
        return value[:_MAX_TEXT]
    return None


def _problem_body(response: httpx.Response) -> dict[str, Any]:
    """The problem document, or ``{}`` if the body is not a JSON object."""
    try:
        data = json.loads(response.content)
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _problems(value: object) -> list[Problem]:
    if not isinstance(value, list):
        return []
    found: list[Problem] = []
    for item in value[:_MAX_PROBLEMS]:
        if not isinstance(item, dict):
            continue
        found.append(
            Problem(
                path=_text(item.get("path")) or "",
                message=_text(item.get("message")) or "",
                code=_text(item.get("code")) or "invalid",
                rule=_text(item.get("rule")),
            )
        )
    return found


def error_for_response(
    response: httpx.Response, *, now: datetime, attempts: int = 1, request_id: str | None = None
) -> ApiError:
    """The typed error for an error ``response``: :class:`BadRequest` (400),
    :class:`Unauthorized` (401), :class:`Forbidden` (403), :class:`Conflict`
    (409), :class:`PayloadTooLarge` (413), :class:`RateLimited` (429),
    :class:`ServerError` (5xx), else :class:`ApiError`.

    Reads an ``application/problem+json`` body where there is one; any other
    body is ignored. ``request_id`` is the one the client sent, used when the
    response names none.
    """
    status = response.status_code
    body = _problem_body(response)
    cls = _error_class(status)
    code = _text(body.get("code"))
    rule = _text(body.get("rule"))
    title = _text(body.get("title"))
    detail = _text(body.get("detail"))
    rid = (
        _text(response.headers.get(REQUEST_ID_HEADER))
        or _text(body.get("request_id"))
        or request_id
    )
    phrase = title or response.reason_phrase or "error"
    message = f"the directory answered {status} {phrase}"
    if detail:
        message += f": {detail}"
    if code:
        message += f" [{code}]"
    return cls(
        message,
        status=status,
        code=code,
        rule=rule,
        request_id=rid,
        title=title,
        detail=detail,
        problem_type=_text(body.get("type")),
        problems=_problems(body.get("problems")),
        retry_after=parse_retry_after(response.headers.get("Retry-After"), now=now),
        attempts=attempts,
    )
