"""Reading the directory's HTTP answers, for the SDK's clients (private).

Turns error responses into the typed errors of :mod:`contactpoint_sdk.errors`
(RFC 9457 problem documents, tolerating any other body), transport failures
into :class:`~contactpoint_sdk.errors.TransportFailure`, and ``Retry-After``
into seconds. Shared by the supply and look-up clients.
"""

from __future__ import annotations

import email.utils
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from contactpoint_sdk.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    PayloadTooLarge,
    Problem,
    RateLimited,
    ServerError,
    TransportFailure,
    Unauthorized,
)

__all__ = [
    "REQUEST_ID_HEADER",
    "error_for_response",
    "is_transient",
    "parse_retry_after",
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
