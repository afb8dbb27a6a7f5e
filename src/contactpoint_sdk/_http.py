"""Reading the directory's HTTP answers, for the SDK's clients (private).

Turns error responses into the typed errors of :mod:`contactpoint_sdk.errors`
(RFC 9457 problem documents, tolerating any other body), transport failures
into :class:`~contactpoint_sdk.errors.TransportFailure`, and ``Retry-After``
into seconds. Shared by the supply and look-up clients.

The look-up client also turns the directory's look-up refusals into the
SDK's own typed errors, by their ``code`` (:func:`lookup_refusal`): a ``401``
``sign_in_failed`` becomes :class:`~contactpoint_sdk.errors.SignInFailed`, a
``429`` ``rate_limited`` (rule ``ACC-4``)
:class:`~contactpoint_sdk.errors.SearchRateLimited`, and so on; each keeps the
request's ID.
"""

from __future__ import annotations

import email.utils
import json
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn

import httpx

from contactpoint_sdk.errors import (
    ApiError,
    BadRequest,
    Conflict,
    ContactPointError,
    Forbidden,
    MediationRefused,
    NotEligible,
    NotPermitted,
    PayloadTooLarge,
    Problem,
    RateLimited,
    ReasonInvalid,
    ReasonRequired,
    RecordNotFound,
    RefineSearch,
    SearchBlocked,
    SearchRateLimited,
    SearchTooBroad,
    ServerError,
    SessionExpired,
    SessionInvalid,
    SignInFailed,
    TransportFailure,
    Unauthorized,
)

__all__ = [
    "REQUEST_ID_HEADER",
    "SIGN_IN_NOT_DISCLOSED",
    "error_for_response",
    "is_transient",
    "lookup_refusal",
    "media_type",
    "parse_retry_after",
    "problem_document",
    "problem_summary",
    "strict_json",
    "transport_failure",
]

#: The header that names a request, in both directions.
REQUEST_ID_HEADER = "X-Request-ID"

#: How many characters of a directory-supplied string an error keeps.
_MAX_TEXT = 500
_MAX_PROBLEMS = 100

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


def transport_failure(
    error: httpx.TransportError, *, attempts: int, request_id: str | None
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
    return TransportFailure(
        f"no answer from the directory after {attempts} {plural} ({kind})",
        attempts=attempts,
        request_id=request_id,
        retryable=transient,
        code=code,
    )


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


def problem_document(response: httpx.Response) -> dict[str, Any]:
    """The response's problem document (RFC 9457), or ``{}`` if its body is
    not a JSON object. Read it for a problem's extension members."""
    return _problem_body(response)


def _problem_body(response: httpx.Response) -> dict[str, Any]:
    """The problem document, or ``{}`` if the body is not a JSON object."""
    try:
        data = json.loads(response.content)
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member names")
    return result


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def strict_json(content: bytes) -> Any:
    """JSON, strictly: a member named twice, or ``NaN`` / ``Infinity``, is a
    :class:`ValueError` (as is anything else that is not JSON)."""
    return json.loads(content, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)


def media_type(response: httpx.Response) -> str:
    """The response's media type, lower case, without parameters (``""`` if none)."""
    value = str(response.headers.get("content-type", ""))
    return value.split(";", 1)[0].strip().lower()


def problem_summary(problems: Iterable[Problem], limit: int = 5) -> str:
    """Paths and codes only: never a value from the body."""
    listed = [f"{p.path or '(document)'} {p.code}" for p in problems]
    more = f", and {len(listed) - limit} more" if len(listed) > limit else ""
    return ", ".join(listed[:limit]) + more


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


# --- Look-up refusals: the directory's codes, as the SDK's typed errors ----------------

#: :attr:`SignInFailed.audit_code` on the client side: the directory never
#: says which credential was wrong (ACC-1), so the client cannot know.
SIGN_IN_NOT_DISCLOSED = "not_disclosed"

_REASON_REQUIRED_CODES = frozenset({"reason_required", "reason_text_required"})
_REASON_INVALID_CODES = frozenset(
    {"reason_unknown", "reason_not_applicable", "reason_text_not_allowed", "reason_text_invalid"}
)
_MEDIATION_CODES = frozenset({"mediation_not_allowed", "practitioner_not_eligible"})
_SESSION_END_REASONS = frozenset({"idle", "absolute"})
_RATE_WINDOWS = frozenset({"minute", "day"})
#: The most candidates a search shows when the directory does not say (ACC-4).
_DEFAULT_SEARCH_LIMIT = 5


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def _retry_after(error: ApiError, problem: Mapping[str, Any]) -> float:
    """``Retry-After`` (header), else the problem's ``retry_after`` member, else 0."""
    if error.retry_after is not None:
        return error.retry_after
    return _number(problem.get("retry_after")) or 0.0


def _refusal(error: ApiError, problem: Mapping[str, Any]) -> ContactPointError | None:
    code, status, rule = error.code, error.status, error.rule
    message = error.detail or error.title or error.message
    if code == "sign_in_failed":
        return SignInFailed(audit_code=SIGN_IN_NOT_DISCLOSED)
    if code == "session_expired":
        reason = _text(problem.get("reason"))
        return SessionExpired(reason if reason in _SESSION_END_REASONS else "ended")
    if code == "session_invalid":
        return SessionInvalid()
    if code in _REASON_REQUIRED_CODES:
        return ReasonRequired(message, code=code)
    if code in _REASON_INVALID_CODES:
        return ReasonInvalid(message, code=code)
    if code == "search_too_broad":
        return SearchTooBroad(message)
    if code == "refine_search":
        limit = _number(problem.get("limit"))
        return RefineSearch(int(limit) if limit is not None else _DEFAULT_SEARCH_LIMIT)
    if code == "search_blocked":
        return SearchBlocked(retry_after=_retry_after(error, problem))
    if code == "rate_limited" and status == 429 and rule == "ACC-4":
        window = _text(problem.get("window"))
        return SearchRateLimited(
            retry_after=_retry_after(error, problem),
            window=window if window in _RATE_WINDOWS else "minute",
        )
    if code in _MEDIATION_CODES or (status == 403 and rule == "ACC-6" and code):
        return MediationRefused(message, code=code, reason_code=_text(problem.get("reason_code")))
    if status == 403 and rule == "ACC-1" and code:
        return NotEligible(message, code=code)
    if code == "record_not_found":
        return RecordNotFound(message, code=code, rule=rule)
    if status == 403 and rule and code:
        return NotPermitted(message, code=code, rule=rule)
    return None


def lookup_refusal(error: ApiError, problem: Mapping[str, Any]) -> ContactPointError:
    """The SDK's typed error for a look-up refusal, by the directory's ``code``.

    ``problem`` is the answer's problem document (:func:`problem_document`),
    read for extension members where a code has them (``reason`` of
    ``session_expired``, ``limit`` of ``refine_search``, ``window`` and
    ``retry_after`` of ``rate_limited``, ``reason_code`` of
    ``practitioner_not_eligible``). The mapping:

    ===================================================  =============================
    code (status, rule)                                   error
    ===================================================  =============================
    ``sign_in_failed`` (401, ACC-1)                       :class:`SignInFailed`
    ``session_expired`` / ``session_invalid`` (401)       :class:`SessionExpired` /
                                                          :class:`SessionInvalid`
    ``reason_required``, ``reason_text_required``         :class:`ReasonRequired`
    ``reason_unknown``, ``reason_not_applicable``,        :class:`ReasonInvalid`
    ``reason_text_not_allowed``, ``reason_text_invalid``
    ``search_too_broad`` (400, ACC-4)                     :class:`SearchTooBroad`
    ``refine_search`` (422, ACC-4)                        :class:`RefineSearch`
    ``rate_limited`` (429, ACC-4)                         :class:`SearchRateLimited`
    ``search_blocked`` (429, ACC-4)                       :class:`SearchBlocked`
    ``mediation_not_allowed``,                            :class:`MediationRefused`
    ``practitioner_not_eligible``, any 403 of ACC-6
    any other 403 of ACC-1 (the eligibility code)         :class:`NotEligible`
    ``record_not_found`` (404)                            :class:`RecordNotFound`
    any other 403 naming a rule                           :class:`NotPermitted`
    ===================================================  =============================

    Anything else is ``error`` itself. The typed error keeps ``error``'s
    ``request_id``; the caller chains ``error`` as its cause (status, title,
    attempts). A ``429`` without rule ``ACC-4`` (a gateway's, or an injected
    fault's) stays :class:`RateLimited`.
    """
    refusal = _refusal(error, problem)
    if refusal is None:
        return error
    refusal.request_id = error.request_id
    return refusal
