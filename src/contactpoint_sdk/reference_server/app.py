"""The directory's HTTP API: a thin Starlette app over :class:`DirectoryService`.

``create_app(service)`` maps each route to one service method: it parses the
request, calls the method, and encodes the answer with the service's wire
codec. No rule is decided here; the core decides, and its refusals become
answers:

- every error is ``application/problem+json`` (RFC 9457) with ``type``,
  ``title``, ``status``, ``detail``, the SDK's ``code``, the ``rule`` that
  refused (where one did), ``request_id`` and, for validation failures,
  ``problems: [{path, code, rule, message}]``. Details never quote child or
  parent data: they are the SDK's own messages, which never do;
- the status follows the error's type (:data:`STATUS_BY_ERROR`; the table is
  in ``docs/reference-server.md``);
- every answer carries ``X-Request-ID``: the client's own, if it sent a usable
  one (1 to 128 of ``A-Z a-z 0-9 . _ : -``), else a fresh one.

Routes (the whole list, with schemas, is ``docs/openapi.yaml``):

- ``/v1/health``, ``/v1/keys/directory``, ``/v1/supply/batches``,
  ``/v1/supply/status`` (a supplier's last accepted sequence number, asked
  with a sealed status request): as in ``docs/http-api.md``;
- ``/v1/sessions...``: four-credential sign-in (ACC-1), the current session,
  sign-out, acting for a practitioner (ACC-6);
- ``/v1/search``, ``/v1/records/...``, ``/v1/archive/...``,
  ``/v1/management/...``: the look-up side (ACC-3, ACC-4, RET-6, SENS-4,
  SHLD-6) and the local authority's management team. The caller is the
  session named by ``Authorization: Bearer <session token>``;
  :func:`caller` is the one place that reads it (401 ``session_invalid`` or
  ``session_expired`` with ``WWW-Authenticate: Bearer`` otherwise). Each call
  runs inside :meth:`DirectoryService.acting_as`, so its audit names the
  user, the practitioner acted for and the session, and every audit event
  carries the request's ID;
- ``/v1/_control/...``: the reference directory's test controls (reset, the
  movable clock, fault injection, lifecycle jobs, the synthetic population,
  the supplier registry, look-up users). Off with ``controls=False``. Never
  faulted.

A look-up process (``create_app(service, lookups_only=True)``, issue 10:
``ReferenceDirectory.open_for_lookups``) serves ``/v1/health``, the session
routes, ``/v1/search``, ``/v1/records/{id}/open`` and
``/v1/archive/{id}/open``; every other route answers 409 ``lookups_only``
(supply, management and the controls go to the process that supplies).

A sign-in failure is one answer whatever was wrong (401 ``sign_in_failed``):
the precise reason (``SignInFailed.audit_code``) goes to the audit log only
and never into a response.
"""

from __future__ import annotations

import enum
import json
import logging
import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final, NoReturn, TypeVar

import anyio
import attrs
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from contactpoint_sdk import __version__
from contactpoint_sdk.clock import MovableClock
from contactpoint_sdk.errors import (
    AgreementViolation,
    ConfigurationError,
    ContactPointError,
    EnvelopeDecryptionFailed,
    EnvelopeError,
    EnvelopeFromFuture,
    KeyMaterialError,
    NotPermitted,
    PolicyRefusal,
    Problem,
    ReasonInvalid,
    ReasonRequired,
    RecordNotFound,
    RefineSearch,
    SearchBlocked,
    SearchRateLimited,
    SearchTooBroad,
    SequenceOutOfOrder,
    SessionInvalid,
    SignatureInvalid,
    SignInFailed,
    SupplierNotAccredited,
    UnknownKey,
    UnknownUser,
    UserExists,
    ValidationError,
)
from contactpoint_sdk.models.enums import Gender, ServiceKind, ShieldGround
from contactpoint_sdk.models.identifiers import DirectoryId
from contactpoint_sdk.models.record import (
    Address,
    PersonName,
    RetentionExtension,
    SourceIdentifiers,
)
from contactpoint_sdk.policy.trawling import SearchCriteria
from contactpoint_sdk.policy.viewer import Role, SubjectAccessRequester, Viewer
from contactpoint_sdk.reference_server.audit import audit_context
from contactpoint_sdk.reference_server.entities import (
    BrokerStatus,
    ShieldRequestInput,
    ShieldReviewInput,
    SupplierRecord,
    SupplyAgreement,
)
from contactpoint_sdk.reference_server.faults import (
    ABORT_CONNECTION_EXTENSION,
    CONTROL_PREFIX,
    ConnectionDropped,
    Fault,
    FaultInjector,
    FaultKind,
)
from contactpoint_sdk.reference_server.linkage_merge import MergeReceipt
from contactpoint_sdk.reference_server.transport import (
    UNHANDLED_ERROR_SCOPE_KEY,
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
)
from contactpoint_sdk.reference_server.users import Session
from contactpoint_sdk.supply.keys import PublicKeySet

if TYPE_CHECKING:
    from contactpoint_sdk.reference_server.service import DirectoryService

__all__ = [
    "LOOKUPS_ONLY",
    "LOOKUP_PATHS",
    "MAX_ENVELOPE_BYTES",
    "MAX_JSON_BYTES",
    "MAX_SEED_CHILDREN",
    "MAX_STATUS_BYTES",
    "PROBLEM_TYPE_BASE",
    "REQUEST_ID_HEADER",
    "STATUS_BY_CODE",
    "STATUS_BY_ERROR",
    "caller",
    "create_app",
    "problem_document",
    "status_for",
]

_log = logging.getLogger(__name__)

T = TypeVar("T")

REQUEST_ID_HEADER: Final = "X-Request-ID"
#: ``type`` of every problem is this plus its ``code``. An identifier, not a page.
PROBLEM_TYPE_BASE: Final = "https://contactpoint.invalid/problems/"
#: The largest envelope accepted: room for the envelope module's 16 MiB
#: payload limit after two layers of base64url, with headers.
MAX_ENVELOPE_BYTES: Final = 32 * 1024 * 1024
#: The largest status request accepted (a sealed payload of three short strings).
MAX_STATUS_BYTES: Final = 16 * 1024
#: The most synthetic children one ``/v1/_control/seed`` call adds.
MAX_SEED_CHILDREN: Final = 1_000_000
#: The largest JSON body accepted on any other route.
MAX_JSON_BYTES: Final = 1024 * 1024
_MAX_AUTHORIZATION: Final = 1024

_REQUEST_ID_RE: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_BEARER_RE: Final = re.compile(r"Bearer +([A-Za-z0-9._~+/-]+=*) *", re.IGNORECASE)
_SCOPE_REQUEST_ID: Final = "contactpoint.request_id"
_PROBLEM_JSON: Final = "application/problem+json"
_JOSE: Final = "application/jose"
_JWKS: Final = "application/jwk-set+json"

#: The HTTP status of each error type; the first entry the error is an
#: instance of wins, so subclasses come before their bases.
STATUS_BY_ERROR: Final[tuple[tuple[type[ContactPointError], int], ...]] = (
    (ValidationError, 400),
    # ACC-1: sign-in and sessions (a 401 carries WWW-Authenticate: Bearer).
    (SignInFailed, 401),
    (SessionInvalid, 401),
    # ACC-3: no record opens without a reason.
    (ReasonRequired, 400),
    (ReasonInvalid, 400),
    # ACC-4: anti-trawling.
    (SearchTooBroad, 400),
    (RefineSearch, 422),
    (SearchRateLimited, 429),
    (SearchBlocked, 429),
    # look-up users (the control routes and acting for a practitioner)
    (UserExists, 409),
    (UnknownUser, 404),
    # SUP-5: an envelope that is not from whom it says, or not for us.
    (SignatureInvalid, 401),
    (UnknownKey, 401),
    (EnvelopeDecryptionFailed, 401),
    (EnvelopeFromFuture, 401),
    # SUP-5: an envelope that is not well formed.
    (EnvelopeError, 400),
    (SupplierNotAccredited, 403),  # SUP-3
    (AgreementViolation, 403),  # SUP-4
    (NotPermitted, 403),
    (RecordNotFound, 404),
    (SequenceOutOfOrder, 409),
    (PolicyRefusal, 403),
    (KeyMaterialError, 400),
    (ConfigurationError, 400),
    (ContactPointError, 400),
)

#: The code of a route a look-up process does not serve (``lookups_only``).
LOOKUPS_ONLY: Final = "lookups_only"

#: The routes a look-up process serves (``create_app(lookups_only=True)``).
LOOKUP_PATHS: Final = frozenset(
    {
        "/v1/health",
        "/v1/sessions",
        "/v1/sessions/current",
        "/v1/sessions/current/act-for",
        "/v1/search",
        "/v1/records/{directory_id}/open",
        "/v1/archive/{directory_id}/open",
    }
)

#: Codes whose status is not their type's.
STATUS_BY_CODE: Final[Mapping[str, int]] = {
    "supplier_key_taken": 409,  # SUP-5: a key belongs to one supplier
    # issue 10: the other process of a directory is the one to ask
    LOOKUPS_ONLY: 409,
    "sessions_served_elsewhere": 409,
}


def status_for(error: ContactPointError) -> int:
    """The HTTP status an error of the core is answered with."""
    if error.code in STATUS_BY_CODE:
        return STATUS_BY_CODE[error.code]
    for kind, status in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 400  # pragma: no cover - ContactPointError is the last entry


# --- Problems (RFC 9457) ---------------------------------------------------------


class _Refused(Exception):
    """An HTTP-level refusal raised by this module's own checks."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        rule: str | None = None,
        problems: Iterable[Problem] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.rule = rule
        self.problems = tuple(problems)
        self.headers = dict(headers or {})


def problem_document(
    status: int,
    code: str,
    detail: str,
    *,
    request_id: str,
    rule: str | None = None,
    problems: Iterable[Problem] = (),
    **extra: Any,
) -> dict[str, Any]:
    """An RFC 9457 problem document with the SDK's members."""
    document: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "rule": rule,
        "request_id": request_id,
    }
    listed = [
        {"path": p.path, "code": p.code, "rule": p.rule, "message": p.message} for p in problems
    ]
    if listed:
        document["problems"] = listed
    document.update(extra)
    return document


def _problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    request_id: str,
    rule: str | None = None,
    problems: Iterable[Problem] = (),
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(
        problem_document(
            status, code, detail, request_id=request_id, rule=rule, problems=problems, **extra
        ),
        status_code=status,
        media_type=_PROBLEM_JSON,
        headers=dict(headers or {}),
    )


def _request_id(scope: Scope) -> str:
    value = scope.get(_SCOPE_REQUEST_ID)
    return value if isinstance(value, str) else uuid.uuid4().hex


def _incoming_request_id(scope: Scope) -> str:
    for name, value in scope.get("headers") or ():
        if name.lower() == b"x-request-id":
            try:
                text: str = value.decode("ascii")
            except UnicodeDecodeError:
                break
            if _REQUEST_ID_RE.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


def _error_headers(error: ContactPointError) -> dict[str, str]:
    """The headers a core error is answered with: ``WWW-Authenticate`` for a
    session or sign-in refusal (401), ``Retry-After`` (whole seconds, rounded
    up) for the search rate limit and block (429)."""
    if isinstance(error, SignInFailed | SessionInvalid):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(error, SearchRateLimited | SearchBlocked):
        return {"Retry-After": str(max(1, math.ceil(error.retry_after)))}
    return {}


async def _on_core_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ContactPointError)  # noqa: S101 - registered for it
    status = status_for(error)
    extra: dict[str, Any] = {}
    if isinstance(error, SequenceOutOfOrder):
        extra["last_sequence"] = error.last_sequence
    problems = error.problems if isinstance(error, ValidationError) else ()
    detail = (
        f"{len(problems)} problems: " + "; ".join(str(p) for p in problems[:5])
        if len(problems) > 1
        else error.message
    )
    # SignInFailed.audit_code is never read here: one answer whatever was wrong.
    return _problem_response(
        status,
        error.code,
        detail,
        request_id=_request_id(request.scope),
        rule=error.rule,
        problems=problems,
        headers=_error_headers(error),
        **extra,
    )


async def _on_refused(request: Request, error: Exception) -> Response:
    assert isinstance(error, _Refused)  # noqa: S101 - registered for it
    return _problem_response(
        error.status,
        error.code,
        error.detail,
        request_id=_request_id(request.scope),
        rule=error.rule,
        problems=error.problems,
        headers=error.headers,
    )


_HTTP_CODES: Final = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


async def _on_http_exception(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)  # noqa: S101 - registered for it
    status = error.status_code
    code = _HTTP_CODES.get(status, f"http_{status}")
    detail = {
        404: f"no route {request.url.path}",
        405: f"{request.method} is not allowed on {request.url.path}",
    }.get(status, HTTPStatus(status).phrase)
    return _problem_response(
        status, code, detail, request_id=_request_id(request.scope), headers=error.headers
    )


async def _on_unhandled(request: Request, error: Exception) -> Response:
    rid = _request_id(request.scope)
    # The type only: an exception's message could quote data (logs carry none).
    _log.error(
        "unhandled %s on %s %s [request %s]",
        type(error).__name__,
        request.method,
        request.url.path,
        rid,
    )
    return _problem_response(
        500,
        "internal_error",
        "the directory failed to answer; quote the request ID to its operators",
        request_id=rid,
    )


# --- The edge: request IDs and faults, outside everything else -------------------------


class _Edge:
    """The outermost layer: gives each request its ID (echoed on every answer,
    errors and faults included) and applies injected faults."""

    def __init__(self, app: ASGIApp, faults: FaultInjector) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_request_id(scope)
        scope[_SCOPE_REQUEST_ID] = rid
        header = (b"x-request-id", rid.encode("ascii"))
        complete = False

        async def send_with_id(message: Message) -> None:
            nonlocal complete
            if message["type"] == "http.response.start":
                kept = [h for h in message.get("headers", ()) if h[0].lower() != b"x-request-id"]
                message = {**message, "headers": [*kept, header]}
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                complete = True
            await send(message)

        fault = self.faults.take(str(scope.get("method", "")), str(scope.get("path", "")))
        if fault is not None and await self._apply(fault, scope, receive, send_with_id):
            return
        try:
            with audit_context(request_id=rid):  # every event audited names the request
                await self.app(scope, receive, send_with_id)
        except Exception as error:
            # Starlette has answered (a 500 problem) and re-raised so that a
            # server logs it; the directory has logged it already, without
            # data. Kept for the in-process transports' raise_app_exceptions.
            if not complete:
                raise
            scope[UNHANDLED_ERROR_SCOPE_KEY] = error

    async def _apply(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> bool:
        """Apply ``fault``; whether the request has been dealt with."""
        rid = _request_id(scope)
        if fault.kind is FaultKind.SLOW:
            await anyio.sleep(fault.delay or 0.0)
            return False
        if fault.kind is FaultKind.DROP:
            await _drop_connection(scope, receive)
            return True
        status, code, detail = (
            (429, "rate_limited", "too many requests: try again after the time given")
            if fault.kind is FaultKind.RATE_LIMITED
            else (503, "unavailable", "the directory is unavailable: try again later")
        )
        response = _problem_response(
            status,
            code,
            detail,
            request_id=rid,
            headers={"Retry-After": str(fault.retry_after or 0)},
        )
        await response(scope, receive, send)
        return True


async def _drop_connection(scope: Scope, receive: Receive) -> None:
    """Close the connection without an answer: through the server's abort
    extension where it offers one, else by raising :class:`ConnectionDropped`
    (the in-process transports turn it into ``httpx.RemoteProtocolError``)."""
    extensions = scope.get("extensions") or {}
    abort = extensions.get(ABORT_CONNECTION_EXTENSION)
    if not callable(abort):
        raise ConnectionDropped("a drop fault fired")
    abort()
    # Let the server see the connection go, so it does not answer 500 for us.
    with anyio.move_on_after(2.0):
        while (await receive())["type"] != "http.disconnect":
            pass


class _DirectoryApp(Starlette):
    """Starlette, with the edge wrapped round its whole middleware stack."""

    def __init__(self, *, faults: FaultInjector, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._faults = faults

    def build_middleware_stack(self) -> ASGIApp:
        return _Edge(super().build_middleware_stack(), self._faults)


# --- Parsing ---------------------------------------------------------------------------


def _media_type(request: Request) -> str:
    value = request.headers.get("content-type", "")
    return value.split(";", 1)[0].strip().lower()


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _Refused(413, "payload_too_large", f"the body is over the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _Refused(413, "payload_too_large", f"the body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate member")
    return dict(pairs)


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _parse_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constants,
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _Refused(400, "body_not_json", f"{what} is not valid JSON") from None


async def _json_body(request: Request, *, optional: bool = False) -> Any:
    """The request's JSON body (``{}`` for an empty body where ``optional``)."""
    data = await _read_body(request, MAX_JSON_BYTES)
    if not data.strip():
        if optional:
            return {}
        raise _Refused(400, "body_missing", "this route needs a JSON body")
    if _media_type(request) not in ("application/json", ""):
        raise _Refused(415, "unsupported_media_type", "send the body as application/json")
    return _parse_json(data, "the body")


def _decode(service: DirectoryService, data: Any, cls: type[T]) -> T:
    """Strictly decode a request document with the service's codec."""
    return service.codec.decode(data, cls)


def caller(request: Request, service: DirectoryService) -> Session:
    """Who is calling a look-up or management route: the session named by
    ``Authorization: Bearer <session token>`` (ACC-1), its idle time
    restarted. Missing, malformed, unknown or ended: 401 ``session_invalid``
    or ``session_expired`` with ``WWW-Authenticate: Bearer``."""
    raw = request.headers.get("authorization")
    found = (
        _BEARER_RE.fullmatch(raw) if raw is not None and len(raw) <= _MAX_AUTHORIZATION else None
    )
    if found is None:
        raise SessionInvalid("sign in, and send the session token as Authorization: Bearer")
    return service.session(found.group(1))


# --- Encoding --------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """JSON-ready, after the codec: sets as sorted lists, enums by value."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_plain(v) for v in value), key=str)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    return value


def _json_default(value: Any) -> Any:
    """What ``json`` cannot encode itself, as :func:`_plain` would have it."""
    if isinstance(value, set | frozenset | datetime | date | enum.Enum):
        return _plain(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _encode(service: DirectoryService, value: Any) -> Any:
    """The codec's document; what it leaves that JSON lacks (a set, a date)
    is made plain as the answer is written (:class:`_JSONResponse`)."""
    return service.codec.encode(value)


class _JSONResponse(JSONResponse):
    """Starlette's JSON answer, with :func:`_json_default` for the rest."""

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content,
            ensure_ascii=False,
            allow_nan=False,
            indent=None,
            separators=(",", ":"),
            default=_json_default,
        ).encode("utf-8")


def _json(data: Any, *, status: int = 200, media_type: str = "application/json") -> JSONResponse:
    return _JSONResponse(data, status_code=status, media_type=media_type)


async def _call(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call the core. It is synchronous and serialises itself; it is called on
    the event loop, one request at a time in the core (what SQLite wants)."""
    return function(*args, **kwargs)


async def _call_as(
    service: DirectoryService,
    session: Session,
    function: Callable[..., T],
    *args: Any,
    **kwargs: Any,
) -> T:
    """:func:`_call` in ``session``: its audit names the user, the
    practitioner acted for and the session."""
    with service.acting_as(session):
        return function(*args, **kwargs)


# --- Request documents --------------------------------------------------------------------
# Decoded by the service's strict codec: unknown members, wrong types and
# missing fields are refused with their paths (400 ``problems``).


@attrs.frozen(kw_only=True)
class _Duration:
    days: int = 0
    hours: int = 0
    minutes: int = 0
    seconds: int = 0


@attrs.frozen(kw_only=True)
class _ClockMove:
    advance: _Duration | None = None
    set: datetime | None = None


@attrs.frozen(kw_only=True)
class _FaultInput:
    kind: FaultKind
    count: int = 1
    path_prefix: str | None = None
    method: str | None = None
    retry_after: int = 1
    delay: float = 1.0


@attrs.frozen(kw_only=True)
class _SeedInput:
    children: int
    seed: int = 1


@attrs.frozen(kw_only=True)
class _ResetInput:
    keep_suppliers: bool = True


@attrs.frozen(kw_only=True)
class _AgreementInput:
    agreement_id: str
    operations: tuple[str, ...] | None = None
    services: tuple[ServiceKind, ...] | None = None
    frequency: str | None = None
    purpose: str | None = None

    def agreement(self) -> SupplyAgreement:
        defaults = SupplyAgreement(agreement_id=self.agreement_id)
        return SupplyAgreement(
            agreement_id=self.agreement_id,
            operations=defaults.operations
            if self.operations is None
            else frozenset(self.operations),
            services=defaults.services if self.services is None else frozenset(self.services),
            frequency=defaults.frequency if self.frequency is None else self.frequency,
            purpose=defaults.purpose if self.purpose is None else self.purpose,
        )


@attrs.frozen(kw_only=True)
class _SupplierInput:
    supplier_id: str
    name: str
    signing_keys: dict[str, Any]
    agreements: tuple[_AgreementInput, ...]
    local_authority: str | None = None


@attrs.frozen(kw_only=True)
class _BrokerInput:
    ordinal: int


@attrs.frozen(kw_only=True)
class _SignInInput:
    """Every credential optional, so a missing one is a failed sign-in (401,
    one answer), not a malformed body."""

    username: str = ""
    password: str = ""
    pin: str = ""
    token: str = ""


@attrs.frozen(kw_only=True)
class _ActForInput:
    practitioner_user_id: str


@attrs.frozen(kw_only=True)
class _OpenInput:
    reason: str | None = None
    reason_text: str | None = None


@attrs.frozen(kw_only=True)
class _ShieldInput:
    ground: ShieldGround


@attrs.frozen(kw_only=True)
class _UserInput:
    user_id: str
    username: str
    password: str = attrs.field(repr=False)
    pin: str = attrs.field(repr=False)
    role: Role
    organisation_key: str
    local_authority: str
    nominated: bool = True
    trained_on: date | None = None
    disclosure_issued_on: date | None = None


@attrs.frozen(kw_only=True)
class _PractitionerInput:
    user_id: str
    role: Role
    organisation_key: str
    local_authority: str
    nominated: bool = True
    trained_on: date | None = None
    disclosure_issued_on: date | None = None


@attrs.frozen(kw_only=True)
class _BrokerStatusInput:
    status: BrokerStatus


@attrs.frozen(kw_only=True)
class _HeldDecisionInput:
    directory_id: DirectoryId | None = None


@attrs.frozen(kw_only=True)
class _MergeInput:
    survivor: DirectoryId
    absorbed: DirectoryId


@attrs.frozen(kw_only=True)
class _SourceQueryInput:
    field: str
    question_code: str


@attrs.frozen(kw_only=True)
class _SubjectAccessInput:
    requester: SubjectAccessRequester


@attrs.frozen(kw_only=True)
class _CorrectionInput:
    name: PersonName | None = None
    address: Address | None = None
    gender: Gender | None = None
    date_of_birth: date | None = None


def _fault_json(fault: Fault) -> dict[str, Any]:
    return {
        "fault_id": fault.fault_id,
        "kind": fault.kind.value,
        "remaining": fault.remaining,
        "path_prefix": fault.path_prefix,
        "method": fault.method,
        "retry_after": fault.retry_after,
        "delay": fault.delay,
    }


def _supplier_json(record: SupplierRecord) -> dict[str, Any]:
    """A registry entry with every member explicit (the codec would leave out
    defaults, and an agreement's defaults are "everything")."""
    return {
        "supplier_id": record.supplier_id,
        "name": record.name,
        "accredited": record.accredited,
        "local_authority": record.local_authority,
        "key_ids": list(record.key_ids),
        "namespace": record.namespace,
        "last_sequence": record.last_sequence,
        "agreements": [
            {
                "agreement_id": a.agreement_id,
                "operations": sorted(a.operations),
                "services": sorted(s.value for s in a.services),
                "frequency": a.frequency,
                "purpose": a.purpose,
            }
            for a in record.agreements
        ],
    }


def _clock_json(service: DirectoryService) -> dict[str, Any]:
    clock = service.clock
    return {
        "now": clock.now().isoformat(),
        "today": clock.today().isoformat(),
        "movable": isinstance(clock, MovableClock),
    }


def _directory_id(request: Request) -> DirectoryId:
    """The ``{directory_id}`` of the path (400 if it is not one)."""
    try:
        return DirectoryId(request.path_params["directory_id"])
    except ValidationError as error:
        raise error.at("directory_id") from None


def _session_json(session: Session) -> dict[str, Any]:
    """A session as the API shows it: the token only when just signed in."""
    document: dict[str, Any] = {}
    if session.token is not None:
        document["session_token"] = session.token
    document.update(
        user_id=session.user_id,
        role=session.user.role.value,
        local_authority=session.user.local_authority,
        acting_for=session.acting_for_id,
        idle_expires_at=session.idle_expires_at.isoformat(),
        expires_at=session.expires_at.isoformat(),
    )
    return document


def _management_team(viewer: Viewer, rule: str) -> str:
    """The caller's local authority, if the caller is its management team:
    the queues of an authority are its team's alone."""
    if viewer.role is not Role.LA_MANAGEMENT_TEAM:
        raise NotPermitted(
            "only a local authority's management team may read its queues",
            code="management_team_only",
            rule=rule,
        )
    return viewer.local_authority


# --- Routes -------------------------------------------------------------------------------


def _supply_routes(service: DirectoryService) -> list[BaseRoute]:
    async def health(request: Request) -> Response:
        return _json({"status": "ok", "version": __version__})

    async def directory_keys(request: Request) -> Response:
        jwks = await _call(service.directory_jwks)
        return _json(jwks, media_type=_JWKS)

    async def envelope(request: Request, limit: int) -> str:
        if _media_type(request) != _JOSE:
            raise _Refused(
                415,
                "unsupported_media_type",
                f"send the sealed envelope as {_JOSE} (a compact JWE)",
            )
        body = await _read_body(request, limit)
        try:
            return body.decode("ascii").strip()
        except UnicodeDecodeError:
            raise _Refused(
                400, "envelope_malformed", "the envelope is not a compact JWE", rule="SUP-5"
            ) from None

    async def post_batch(request: Request) -> Response:
        token = await envelope(request, MAX_ENVELOPE_BYTES)
        receipt = await _call(service.ingest, token)
        return _json(_encode(service, receipt))

    async def post_status(request: Request) -> Response:
        # SUP-1: the supplier's own last accepted sequence number, nothing more.
        token = await envelope(request, MAX_STATUS_BYTES)
        last = await _call(service.supply_status, token)
        return _json({"last_sequence": last})

    return [
        Route("/v1/health", health, methods=["GET"]),
        Route("/v1/keys/directory", directory_keys, methods=["GET"]),
        Route("/v1/supply/batches", post_batch, methods=["POST"]),
        Route("/v1/supply/status", post_status, methods=["POST"]),
    ]


def _session_routes(service: DirectoryService) -> list[BaseRoute]:
    """Sign-in (ACC-1), the current session, sign-out, mediated access (ACC-6)."""

    async def sign_in(request: Request) -> Response:
        spec = _decode(service, await _json_body(request, optional=True), _SignInInput)
        session = await _call(service.sign_in, spec.username, spec.password, spec.pin, spec.token)
        return _json(_session_json(session), status=201)

    async def current(request: Request) -> Response:
        return _json(_session_json(caller(request, service)))

    async def sign_out(request: Request) -> Response:
        session = caller(request, service)
        with service.acting_as(session):
            found = _BEARER_RE.fullmatch(request.headers["authorization"])
            assert found is not None  # noqa: S101 - caller() accepted it
            await _call(service.sign_out, found.group(1))
        return Response(status_code=204)

    async def act_for(request: Request) -> Response:
        session = caller(request, service)
        spec = _decode(service, await _json_body(request), _ActForInput)
        acting = await _call(service.act_for, session, spec.practitioner_user_id)
        return _json(_session_json(acting))

    async def stop_acting(request: Request) -> Response:
        session = caller(request, service)
        return _json(_session_json(await _call(service.stop_acting, session)))

    return [
        Route("/v1/sessions", sign_in, methods=["POST"]),
        Route("/v1/sessions/current", current, methods=["GET"]),
        Route("/v1/sessions/current", sign_out, methods=["DELETE"]),
        Route("/v1/sessions/current/act-for", act_for, methods=["POST"]),
        Route("/v1/sessions/current/act-for", stop_acting, methods=["DELETE"]),
    ]


def _lookup_routes(service: DirectoryService) -> list[BaseRoute]:
    """The look-up side: search (ACC-4), open with a reason (ACC-3), shield
    (SHLD-6), broker (SENS-4), the archive (RET-6). Every call in the
    caller's session (:meth:`DirectoryService.acting_as`)."""

    async def search(request: Request) -> Response:
        session = caller(request, service)
        criteria = _decode(service, await _json_body(request), SearchCriteria)
        result = await _call(service.search, session, criteria)
        return _json(_encode(service, result))

    async def open_record(request: Request) -> Response:
        session = caller(request, service)
        directory_id = _directory_id(request)
        spec = _decode(service, await _json_body(request, optional=True), _OpenInput)
        shown = await _call(
            service.open_record, session, directory_id, spec.reason, spec.reason_text
        )
        return _json(_encode(service, shown))

    async def request_shield(request: Request) -> Response:
        session = caller(request, service)
        directory_id = _directory_id(request)
        spec = _decode(service, await _json_body(request), _ShieldInput)
        shield_request = ShieldRequestInput(
            ground=spec.ground, requested_by=session.viewer().user_id
        )
        await _call(service.request_shield, directory_id, shield_request, session)
        return Response(status_code=204)

    async def request_broker(request: Request) -> Response:
        session = caller(request, service)
        directory_id = _directory_id(request)
        spec = _decode(service, await _json_body(request), _BrokerInput)
        broker = await _call(service.request_broker, directory_id, spec.ordinal, session)
        return _json(_encode(service, broker), status=201)

    async def read_archive(request: Request) -> Response:
        session = caller(request, service)
        directory_id = _directory_id(request)
        spec = _decode(service, await _json_body(request, optional=True), _OpenInput)
        if spec.reason_text is not None:
            raise ValidationError.single(
                "the archive takes a reason code only, never free text",
                code="reason_text_not_allowed",
                rule="RET-6",
                path="reason_text",
            )
        shown = await _call(service.read_archive, directory_id, session, reason=spec.reason)
        return _json(_encode(service, shown))

    return [
        Route("/v1/search", search, methods=["POST"]),
        Route("/v1/records/{directory_id}/open", open_record, methods=["POST"]),
        Route("/v1/records/{directory_id}/shield", request_shield, methods=["POST"]),
        Route("/v1/records/{directory_id}/broker", request_broker, methods=["POST"]),
        Route("/v1/archive/{directory_id}/open", read_archive, methods=["POST"]),
    ]


def _management_routes(service: DirectoryService) -> list[BaseRoute]:
    """The local authority management team's routes (SHLD-3, SENS-4, SUP-8,
    REC-7, SAR-1, SAR-2, RET-2, ACC-4 alerts; merging and unmerging records,
    SUP-7 and SHLD-5). The authority is the session's."""

    def items(values: Iterable[Any]) -> dict[str, Any]:
        return {"items": [_encode(service, v) for v in values]}

    async def overdue_reviews(request: Request) -> Response:
        la = _management_team(caller(request, service).viewer(), "SHLD-3")
        return _json(items(await _call(service.overdue_shield_reviews, la)))

    async def review_shield(request: Request) -> Response:
        session = caller(request, service)
        viewer = session.viewer()
        directory_id = _directory_id(request)
        review = _decode(service, await _json_body(request), ShieldReviewInput)
        shield = await _call_as(
            service, session, service.review_shield, directory_id, review, viewer
        )
        return _json(_encode(service, shield))

    async def broker_queue(request: Request) -> Response:
        la = _management_team(caller(request, service).viewer(), "SENS-4")
        return _json(items(await _call(service.broker_queue, la)))

    async def update_broker(request: Request) -> Response:
        session = caller(request, service)
        viewer = session.viewer()
        spec = _decode(service, await _json_body(request), _BrokerStatusInput)
        broker = await _call_as(
            service,
            session,
            service.update_broker,
            request.path_params["request_id"],
            spec.status,
            viewer,
        )
        return _json(_encode(service, broker))

    async def broker_service(request: Request) -> Response:
        session = caller(request, service)
        viewer = session.viewer()
        found = await _call_as(
            service, session, service.broker_involvement, request.path_params["request_id"], viewer
        )
        return _json(_encode(service, found))

    async def data_quality(request: Request) -> Response:
        la = _management_team(caller(request, service).viewer(), "SUP-8")
        return _json(items(await _call(service.data_quality_queue, la)))

    async def resolve_held(request: Request) -> Response:
        session = caller(request, service)
        viewer = session.viewer()
        spec = _decode(service, await _json_body(request, optional=True), _HeldDecisionInput)
        outcome = await _call_as(
            service,
            session,
            service.resolve_held_supply,
            request.path_params["item_id"],
            by=viewer,
            directory_id=spec.directory_id,
        )
        return _json(_encode(service, outcome))

    async def resolve_item(request: Request) -> Response:
        session = caller(request, service)
        viewer = session.viewer()
        await _json_body(request, optional=True)
        item = await _call_as(
            service,
            session,
            service.resolve_data_quality,
            request.path_params["item_id"],
            by=viewer,
        )
        return _json(_encode(service, item))

    async def query_source(request: Request) -> Response:
        session = caller(request, service)
        viewer = session.viewer()
        spec = _decode(service, await _json_body(request), _SourceQueryInput)
        query = await _call_as(
            service,
            session,
            service.query_source,
            request.path_params["item_id"],
            field=spec.field,
            question_code=spec.question_code,
            by=viewer,
        )
        return _json(_encode(service, query), status=201)

    async def trawling_alerts(request: Request) -> Response:
        la = _management_team(caller(request, service).viewer(), "ACC-4")
        return _json(items(await _call(service.trawling_alerts, la)))

    async def universal_service_gaps(request: Request) -> Response:
        la = _management_team(caller(request, service).viewer(), "REC-7")
        return _json(items(await _call(service.universal_service_gaps, la)))

    async def subject_access(request: Request) -> Response:
        session = caller(request, service)
        viewer = session.viewer()
        directory_id = _directory_id(request)
        spec = _decode(service, await _json_body(request), _SubjectAccessInput)
        shown = await _call_as(
            service, session, service.subject_access_export, directory_id, spec.requester, viewer
        )
        return _json(_encode(service, shown))

    async def correct(request: Request) -> Response:
        session = caller(request, service)
        viewer = session.viewer()
        directory_id = _directory_id(request)
        spec = _decode(service, await _json_body(request), _CorrectionInput)
        record = await _call_as(
            service,
            session,
            service.correct,
            directory_id,
            by=viewer,
            name=spec.name,
            address=spec.address,
            gender=spec.gender,
            date_of_birth=spec.date_of_birth,
        )
        return _json(_encode(service, record))

    async def extend_retention(request: Request) -> Response:
        session = caller(request, service)
        viewer = session.viewer()
        directory_id = _directory_id(request)
        extension = _decode(service, await _json_body(request), RetentionExtension)
        record = await _call_as(
            service, session, service.extend_retention, directory_id, extension, viewer
        )
        return _json(_encode(service, record))

    async def merge_records(request: Request) -> Response:
        session = caller(request, service)
        viewer = session.viewer()
        spec = _decode(service, await _json_body(request), _MergeInput)
        receipt = await _call_as(
            service, session, service.merge_records, spec.survivor, spec.absorbed, viewer
        )
        # 201: merged; 202: a PendingMerge, waiting for the other authority (SUP-7).
        done = isinstance(receipt, MergeReceipt)
        return _json(_encode(service, receipt), status=201 if done else 202)

    async def approve_merge(request: Request) -> Response:
        session = caller(request, service)
        viewer = session.viewer()
        await _json_body(request, optional=True)
        receipt = await _call_as(
            service,
            session,
            service.approve_merge,
            request.path_params["request_id"],
            viewer,
        )
        return _json(_encode(service, receipt), status=201)

    async def merge_snapshots(request: Request) -> Response:
        session = caller(request, service)
        viewer = session.viewer()
        directory_id = _directory_id(request)
        notes = await _call_as(service, session, service.merge_snapshots, directory_id, viewer)
        return _json(items(notes))

    async def unmerge_records(request: Request) -> Response:
        session = caller(request, service)
        viewer = session.viewer()
        await _json_body(request, optional=True)
        receipt = await _call_as(
            service, session, service.unmerge_records, request.path_params["merge_id"], viewer
        )
        return _json(_encode(service, receipt))

    m = "/v1/management"
    child = f"{m}/children/{{directory_id}}"
    return [
        Route(f"{m}/shield-reviews/overdue", overdue_reviews, methods=["GET"]),
        Route(f"{child}/shield/reviews", review_shield, methods=["POST"]),
        Route(f"{child}/subject-access", subject_access, methods=["POST"]),
        Route(f"{child}/merge-snapshots", merge_snapshots, methods=["GET"]),
        Route(f"{child}/corrections", correct, methods=["POST"]),
        Route(f"{child}/retention-extension", extend_retention, methods=["POST"]),
        Route(f"{m}/broker-requests", broker_queue, methods=["GET"]),
        Route(f"{m}/broker-requests/{{request_id}}/status", update_broker, methods=["POST"]),
        Route(f"{m}/broker-requests/{{request_id}}/service", broker_service, methods=["GET"]),
        Route(f"{m}/data-quality", data_quality, methods=["GET"]),
        Route(f"{m}/data-quality/{{item_id}}/decision", resolve_held, methods=["POST"]),
        Route(f"{m}/data-quality/{{item_id}}/resolve", resolve_item, methods=["POST"]),
        Route(f"{m}/data-quality/{{item_id}}/queries", query_source, methods=["POST"]),
        Route(f"{m}/merges", merge_records, methods=["POST"]),
        Route(f"{m}/merges/{{merge_id}}/undo", unmerge_records, methods=["POST"]),
        Route(f"{m}/merge-requests/{{request_id}}/approve", approve_merge, methods=["POST"]),
        Route(f"{m}/universal-service-gaps", universal_service_gaps, methods=["GET"]),
        Route(f"{m}/alerts", trawling_alerts, methods=["GET"]),
    ]


def _control_routes(service: DirectoryService, faults: FaultInjector) -> list[BaseRoute]:
    """The reference directory's test controls, under ``/v1/_control/``."""

    async def reset(request: Request) -> Response:
        spec = _decode(service, await _json_body(request, optional=True), _ResetInput)
        await _call(service.reset, keep_suppliers=spec.keep_suppliers)
        cleared = faults.clear()
        return _json({"status": "reset", "faults_cleared": cleared, "clock": _clock_json(service)})

    async def get_clock(request: Request) -> Response:
        return _json(_clock_json(service))

    async def move_clock(request: Request) -> Response:
        move = _decode(service, await _json_body(request), _ClockMove)
        if (move.advance is None) == (move.set is None):
            raise _Refused(400, "clock_move_invalid", "give one of advance or set")
        clock = service.clock
        if not isinstance(clock, MovableClock):
            raise _Refused(
                409, "clock_not_movable", "this directory runs on a clock that cannot be moved"
            )
        try:
            if move.advance is not None:
                clock.advance(
                    timedelta(
                        days=move.advance.days,
                        hours=move.advance.hours,
                        minutes=move.advance.minutes,
                        seconds=move.advance.seconds,
                    )
                )
            elif move.set is not None:
                clock.set(move.set)
        except (ValueError, OverflowError) as error:
            raise _Refused(409, "clock_backwards", str(error), rule="RET-8") from None
        return _json(_clock_json(service))

    async def list_faults(request: Request) -> Response:
        return _json(
            {"pending": [_fault_json(f) for f in faults.pending()], "fired": len(faults.fired)}
        )

    async def add_fault(request: Request) -> Response:
        spec = _decode(service, await _json_body(request), _FaultInput)
        try:
            fault = faults.add(
                spec.kind,
                count=spec.count,
                path_prefix=spec.path_prefix,
                method=spec.method,
                retry_after=spec.retry_after,
                delay=spec.delay,
            )
        except ValueError as error:
            raise _Refused(400, "fault_invalid", str(error)) from None
        return _json(_fault_json(fault), status=201)

    async def clear_faults(request: Request) -> Response:
        return _json({"cleared": faults.clear()})

    async def run_jobs(request: Request) -> Response:
        await _json_body(request, optional=True)
        report = await _call(service.run_jobs)
        return _json(_encode(service, report))

    async def seed(request: Request) -> Response:
        spec = _decode(service, await _json_body(request), _SeedInput)
        if not 0 < spec.children <= MAX_SEED_CHILDREN:
            raise _Refused(400, "seed_invalid", f"children is 1 to {MAX_SEED_CHILDREN:,}")
        added = await _call(service.seed_population, spec.children, spec.seed)
        return _json({"seeded": added, "counts": await _call(service.counts)})

    async def counts(request: Request) -> Response:
        return _json(await _call(service.counts))

    async def register_supplier(request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, dict) and not isinstance(body.get("signing_keys", {}), dict):
            raise ValidationError.single(
                'expected a JWKS object ({"keys": [...]})', code="wrong_type", path="signing_keys"
            )
        spec = _decode(service, body, _SupplierInput)
        keys = PublicKeySet.from_jwks(spec.signing_keys, curve="Ed25519")
        record = await _call(
            service.register_supplier,
            spec.supplier_id,
            spec.name,
            signing_keys=list(keys),
            agreements=[a.agreement() for a in spec.agreements],
            local_authority=spec.local_authority,
        )
        return _json(_supplier_json(record), status=201)

    async def get_supplier(request: Request) -> Response:
        record = await _call(service.supplier, request.path_params["supplier_id"])
        return _json(_supplier_json(record))

    async def suspend_supplier(request: Request) -> Response:
        await _json_body(request, optional=True)
        record = await _call(service.suspend_supplier, request.path_params["supplier_id"])
        return _json(_supplier_json(record))

    async def source_queries(request: Request) -> Response:
        found = await _call(service.source_queries, request.path_params["supplier_id"])
        return _json({"items": [_encode(service, q) for q in found]})

    async def create_user(request: Request) -> Response:
        spec = _decode(service, await _json_body(request), _UserInput)
        enrolment = await _call(
            service.create_user,
            user_id=spec.user_id,
            username=spec.username,
            password=spec.password,
            pin=spec.pin,
            role=spec.role,
            organisation_key=spec.organisation_key,
            local_authority=spec.local_authority,
            nominated=spec.nominated,
            trained_on=spec.trained_on,
            disclosure_issued_on=spec.disclosure_issued_on,
        )
        return _json(
            {"user_id": enrolment.user_id, "provisioning_uri": enrolment.provisioning_uri},
            status=201,
        )

    async def create_practitioner(request: Request) -> Response:
        spec = _decode(service, await _json_body(request), _PractitionerInput)
        account = await _call(
            service.create_practitioner,
            user_id=spec.user_id,
            role=spec.role,
            organisation_key=spec.organisation_key,
            local_authority=spec.local_authority,
            nominated=spec.nominated,
            trained_on=spec.trained_on,
            disclosure_issued_on=spec.disclosure_issued_on,
        )
        return _json({"user_id": account.user_id}, status=201)

    async def find_child(request: Request) -> Response:
        identifiers = _decode(service, await _json_body(request), SourceIdentifiers)
        found = await _call(service.find_by_identifier, identifiers)
        return _json({"directory_id": None if found is None else str(found)})

    p = CONTROL_PREFIX
    return [
        Route(f"{p}reset", reset, methods=["POST"]),
        Route(f"{p}clock", get_clock, methods=["GET"]),
        Route(f"{p}clock", move_clock, methods=["POST"]),
        Route(f"{p}faults", list_faults, methods=["GET"]),
        Route(f"{p}faults", add_fault, methods=["POST"]),
        Route(f"{p}faults", clear_faults, methods=["DELETE"]),
        Route(f"{p}jobs/run", run_jobs, methods=["POST"]),
        Route(f"{p}seed", seed, methods=["POST"]),
        Route(f"{p}counts", counts, methods=["GET"]),
        Route(f"{p}suppliers", register_supplier, methods=["POST"]),
        Route(f"{p}suppliers/{{supplier_id}}", get_supplier, methods=["GET"]),
        Route(f"{p}suppliers/{{supplier_id}}/suspend", suspend_supplier, methods=["POST"]),
        Route(f"{p}suppliers/{{supplier_id}}/queries", source_queries, methods=["GET"]),
        Route(f"{p}children/find", find_child, methods=["POST"]),
        Route(f"{p}users", create_user, methods=["POST"]),
        Route(f"{p}practitioners", create_practitioner, methods=["POST"]),
    ]


def _lookups_only(routes: list[BaseRoute]) -> list[BaseRoute]:
    """``routes`` with every one not in :data:`LOOKUP_PATHS` refused."""

    async def elsewhere(request: Request) -> Response:
        raise _Refused(
            409,
            LOOKUPS_ONLY,
            "this process serves look-ups only: supply, management and the controls"
            " go to the process that supplies to the directory",
        )

    return [
        Route(route.path, elsewhere, methods=sorted(route.methods or ()))
        if isinstance(route, Route) and route.path not in LOOKUP_PATHS
        else route
        for route in routes
    ]


def create_app(
    service: DirectoryService,
    *,
    faults: FaultInjector | None = None,
    controls: bool = True,
    lookups_only: bool = False,
) -> Starlette:
    """The directory's HTTP app over ``service``.

    :param faults: the fault injector the app obeys (a fresh one if not
        given); also at ``app.state.faults``.
    :param controls: serve the ``/v1/_control/`` routes (reset, clock, faults,
        jobs, seed, suppliers, users). The reference directory always does; pass
        ``False`` to exercise a client against the bare API.
    :param lookups_only: a look-up process's app (module notes): only
        :data:`LOOKUP_PATHS` are served, every other route answers 409
        ``lookups_only``.
    """
    injector = faults if faults is not None else FaultInjector()
    routes = (
        _supply_routes(service)
        + _session_routes(service)
        + _lookup_routes(service)
        + _management_routes(service)
    )
    if controls:
        routes += _control_routes(service, injector)
    if lookups_only:
        routes = _lookups_only(routes)
    app = _DirectoryApp(
        faults=injector,
        routes=routes,
        exception_handlers={
            ContactPointError: _on_core_error,
            _Refused: _on_refused,
            HTTPException: _on_http_exception,
            Exception: _on_unhandled,
        },
    )
    app.state.service = service
    app.state.faults = injector
    return app
