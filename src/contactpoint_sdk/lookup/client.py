"""Look up children in the directory: :class:`LookupClient` and :class:`AsyncLookupClient`.

Both have the same methods; one blocks, the other is awaited. A client is one
user's session: sign in with the four credentials (ACC-1), then search
(ACC-4), open a record with a stated reason (ACC-3), request a shield
(SHLD-6), ask for brokered contact with a sensitive service (SENS-4), act for
a practitioner without IT (ACC-6), read the archive (RET-6), sign out.

- **The session** is held in memory only: the token the directory issued at
  sign-in, and a :class:`LookupSession` (who is signed in, acting for whom,
  until when). The token is never returned, logged, or put in a message; it
  goes only in the ``Authorization: Bearer`` header to ``base_url``. A
  ``session_invalid`` or ``session_expired`` answer forgets it.
- **Nothing else is kept.** Search results and views are returned to the
  caller and not stored: the clients have ``__slots__`` and no attribute to
  keep them in. What the MIS does with a view is the MIS's business (and its
  accreditation's).
- **A reason is always sent, and checked first.** :meth:`LookupClient.open`
  and :meth:`LookupClient.read_archive` refuse, before any request, to open a
  record without a reason from the controlled list (``ReasonRequired``), with
  an archive reason for a live record or the other way round, with free text
  beside a listed reason, or with free text shaped like a person's data
  (``ReasonInvalid``; :func:`~contactpoint_sdk.policy.reasons.require_reason`).
  The directory checks again with its own settings (text lengths).
- **Retries** follow one :class:`~contactpoint_sdk.supply.retry.RetryPolicy`,
  by what a call does:

  ==========================================  ====================================
  call                                        retried on
  ==========================================  ====================================
  ``sign_in``                                 never: every attempt counts towards
                                              the account's lock-out
  ``current_session``, ``sign_out``,          no answer, ``429``, ``5xx``: they
  ``search``, ``open``, ``read_archive``      change nothing (a record opened again
                                              continues the first open)
  ``act_for``, ``stop_acting``,               only where the directory surely did
  ``request_shield``, ``request_broker``      not act: the connection never made,
                                              ``429``, ``503``
  ==========================================  ====================================

  No other ``4xx`` is ever retried. A search refused with ``rate_limited``
  (ACC-4) is retried only after the ``Retry-After`` the directory sent, and
  only when that is within the policy's ``retry_after_cap``: retrying sooner
  would only fail again, and failed searches count towards the
  ``failed_search_burst`` alert. ``search_blocked`` is never retried.
- **Timeouts** apply to every request (:data:`DEFAULT_TIMEOUT` unless given).
- **Errors** are the SDK's typed errors (:mod:`contactpoint_sdk.errors`;
  :func:`contactpoint_sdk._http.lookup_refusal` maps the directory's codes),
  each with the request's ``request_id``; the HTTP error is the ``__cause__``.
- **Answers are decoded strictly** by the wire codec: a member a view, a
  search result or a session does not define is refused
  (:class:`~contactpoint_sdk.errors.ResponseInvalid`), so nothing hidden can
  come back through the SDK; the refusal names paths and codes, never values.
- **Transport**: pass ``transport`` (an ``httpx`` transport: the reference
  server's in-process one, or a mock) or a whole ``http_client``. A client the
  SDK built is closed by :meth:`LookupClient.close`; an injected
  ``http_client`` belongs to the caller and is left open. Leaving ``with``
  signs out, then closes.

A client is for one user at a time, from one thread (or one task).
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Collection, Iterable
from datetime import datetime
from types import TracebackType
from typing import Any, Final, NoReturn, TypeVar

import attrs
import httpx

from contactpoint_sdk._client import (
    DEFAULT_TIMEOUT,
    AsyncClientBase,
    ClientBase,
    H,
    SyncClientBase,
    check_transport,
)
from contactpoint_sdk._http import (
    REQUEST_ID_HEADER,
    error_for_response,
    lookup_refusal,
    media_type,
    problem_document,
    problem_summary,
    strict_json,
    transport_failure,
)
from contactpoint_sdk.clock import Clock
from contactpoint_sdk.errors import (
    ApiError,
    ConfigurationError,
    ContactPointError,
    Problem,
    ResponseInvalid,
    SessionInvalid,
    SignInFailed,
    TransportFailure,
    ValidationError,
)
from contactpoint_sdk.models.codec import WireCodec
from contactpoint_sdk.models.enums import ShieldGround
from contactpoint_sdk.models.identifiers import DirectoryId
from contactpoint_sdk.models.views import (
    AnyChildView,
    FullRecordView,
    SearchResult,
)
from contactpoint_sdk.policy.reasons import ReasonCode, StatedReason, require_reason
from contactpoint_sdk.policy.settings import DEFAULT_POLICY
from contactpoint_sdk.policy.trawling import SearchCriteria
from contactpoint_sdk.policy.viewer import Purpose, Role
from contactpoint_sdk.supply.retry import NO_RETRY, RetryPolicy

__all__ = [
    "ACT_FOR_PATH",
    "CURRENT_SESSION_PATH",
    "DEFAULT_TIMEOUT",
    "SEARCH_PATH",
    "SESSIONS_PATH",
    "AsyncLookupClient",
    "BrokerTicket",
    "BrokerTicketStatus",
    "LookupClient",
    "LookupSession",
]

T = TypeVar("T")

#: Sign in (``POST``).
SESSIONS_PATH: Final = "/v1/sessions"
#: The caller's session (``GET``; ``DELETE`` signs out).
CURRENT_SESSION_PATH: Final = "/v1/sessions/current"
#: Mediated access (``POST`` to start, ``DELETE`` to stop) (ACC-6).
ACT_FOR_PATH: Final = "/v1/sessions/current/act-for"
#: Search (``POST``) (ACC-4).
SEARCH_PATH: Final = "/v1/search"

_CREDENTIALS: Final = ("username", "password", "pin", "token")
#: The reason's free text is checked here for its shape (one line, nothing
#: like a person's data); its length is the directory's to judge, by its own
#: settings, up to a sanity bound.
_CLIENT_REASON_SETTINGS: Final = attrs.evolve(
    DEFAULT_POLICY, reason_text_min_length=1, reason_text_max_length=1000
)
#: Transport errors raised before the request left: the directory cannot have acted.
_NOT_SENT: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

_log = logging.getLogger("contactpoint_sdk.lookup")


# --- What comes back ------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class LookupSession:
    """Who is signed in, and until when (ACC-1), as the directory last said.

    The session token is not here: the client keeps it, in memory only.

    :ivar user_id: the user at the keyboard (the audit's ``actor``).
    :ivar role: their role (ACC-2).
    :ivar local_authority: their local authority.
    :ivar acting_for: the practitioner they act for (ACC-6), if any.
    :ivar idle_expires_at: the session ends if unused until then (every use
        moves it on; this is as of the directory's last answer about the session).
    :ivar expires_at: the session ends then, however busy.
    """

    user_id: str
    role: Role
    local_authority: str
    idle_expires_at: datetime
    expires_at: datetime
    acting_for: str | None = None

    @property
    def mediated(self) -> bool:
        """True while acting for a practitioner (ACC-6)."""
        return self.acting_for is not None

    def ended_by(self, now: datetime) -> bool:
        """Whether the session has ended by ``now``, as far as the client knows."""
        return now >= min(self.idle_expires_at, self.expires_at)


class BrokerTicketStatus(enum.Enum):
    """Where a brokered-contact request stands (SENS-4)."""

    OPEN = "open"
    FORWARDED = "forwarded"  # passed to the sensitive-service practitioner
    DECLINED = "declined"  # the practitioner chose not to respond
    ANSWERED = "answered"


@attrs.frozen(kw_only=True)
class BrokerTicket:
    """A request, through the management team, to be put in touch with an
    unspecified sensitive service of a record (SENS-4).

    Which service it is stays with the directory: the ticket names it only by
    the ``ordinal`` of the :class:`~contactpoint_sdk.models.views.UnspecifiedServiceView`
    in the requester's view. ``request_id`` is the ticket's own identifier
    (not an HTTP request's).
    """

    request_id: str
    directory_id: DirectoryId
    ordinal: int
    requested_by: str
    requested_at: datetime
    local_authority: str | None
    status: BrokerTicketStatus = BrokerTicketStatus.OPEN
    updated_by: str | None = None
    updated_at: datetime | None = None


# --- How each call may be retried -----------------------------------------------------


class _Retry(enum.Enum):
    NEVER = "never"  # sign-in: every attempt counts towards the lock-out
    SAFE = "safe"  # changes nothing: retried per the policy
    UNSENT = "unsent"  # changes something: only where the directory surely did not act


class _Exchange:
    """One call to the directory, over however many attempts: its request ID,
    whether an attempt may be retried, and the typed error of the last one."""

    __slots__ = ("_clock", "_pending", "_policy", "kind", "request_id", "secret")

    def __init__(self, kind: _Retry, policy: RetryPolicy, clock: Clock, *, secret: bool) -> None:
        self.kind = kind
        self._policy = policy
        self._clock = clock
        self.request_id = uuid.uuid4().hex
        #: The request carries credentials: no exception may keep a reference to it.
        self.secret = secret
        self._pending: tuple[ApiError, ContactPointError] | None = None

    def not_sent(self, error: httpx.TransportError, attempt: int) -> TransportFailure:
        """The failure for an attempt that got no answer."""
        failure = transport_failure(error, attempts=attempt, request_id=self.request_id)
        if self.kind is _Retry.NEVER or (
            self.kind is _Retry.UNSENT and not isinstance(error, _NOT_SENT)
        ):
            failure.retryable = False
        return failure

    def answered(
        self, response: httpx.Response, attempt: int, expect: Collection[int]
    ) -> httpx.Response:
        """``response`` if its status is one of ``expect``; else raise its typed error."""
        status = response.status_code
        if status in expect:
            return response
        if response.is_success:
            raise ResponseInvalid(
                f"the directory answered {status}, not what this call expects",
                status=status,
                request_id=response.headers.get(REQUEST_ID_HEADER) or self.request_id,
                attempts=attempt,
                code="unexpected_status",
            )
        error = error_for_response(
            response, now=self._clock.now(), attempts=attempt, request_id=self.request_id
        )
        refusal = lookup_refusal(error, problem_document(response))
        error.retryable = self._may_retry(error)
        if error.retryable:
            # Raised as the HTTP error, so the policy retries it; if it is the
            # last attempt, :meth:`final` turns it into ``refusal``.
            self._pending = (error, refusal)
            raise error
        if refusal is error:
            raise error
        raise refusal from error

    def final(self, error: ContactPointError) -> ContactPointError:
        """The error to raise once the policy has given up on ``error``."""
        if self._pending is not None and self._pending[0] is error:
            return self._pending[1]
        return error

    def _may_retry(self, error: ApiError) -> bool:
        if self.kind is _Retry.NEVER:
            return False
        if error.status == 429:
            if error.code == "search_blocked":
                return False  # a block lasts until the management team clears it
            if error.rule == "ACC-4":
                # Sooner than Retry-After would fail again, and count as a failed search.
                wait = error.retry_after
                return wait is not None and wait <= self._policy.retry_after_cap
            return True  # refused: the directory did not act
        if error.status >= 500:
            return self.kind is _Retry.SAFE or error.status == 503
        return error.retryable


# --- What both clients share ------------------------------------------------------------


def _credentials(username: object, password: object, pin: object, token: object) -> dict[str, str]:
    """The sign-in body; refuses a missing credential before anything is sent
    (a sign-in the directory refuses counts towards the lock-out). The
    refusal is the directory's own: :class:`SignInFailed`, one message."""
    given = dict(zip(_CREDENTIALS, (username, password, pin, token), strict=True))
    for name, value in given.items():
        if not isinstance(value, str) or not value.strip():
            raise SignInFailed(audit_code=f"{name}_missing")
    return {name: str(value) for name, value in given.items()}


def _directory_id(value: DirectoryId | str) -> DirectoryId:
    if isinstance(value, DirectoryId):
        return value
    if not isinstance(value, str):
        raise TypeError("directory_id must be a DirectoryId or its string form")
    try:
        return DirectoryId(value)
    except ValidationError as error:
        raise error.at("directory_id") from None


def _reason(reason: ReasonCode | str | None, text: str | None, *, archive: bool) -> StatedReason:
    """The stated reason, checked before anything is sent (ACC-3, RET-6)."""
    return require_reason(
        reason,
        text,
        purpose=Purpose.ARCHIVE_REVIEW if archive else Purpose.PRACTICE,
        settings=_CLIENT_REASON_SETTINGS,
    )


def _reason_body(stated: StatedReason) -> dict[str, str]:
    body = {"reason": stated.code.value}
    if stated.text is not None:
        body["reason_text"] = stated.text
    return body


def _view_id(view: AnyChildView) -> DirectoryId:
    if isinstance(view, FullRecordView):
        return view.record.directory_id
    return view.directory_id


class _LookupCore(ClientBase[H]):
    """Configuration, the session, and the I/O-free half of both clients."""

    __slots__ = ("_session", "_token")

    _NAME = "look-up"

    def __init__(
        self,
        *,
        base_url: str | httpx.URL,
        clock: Clock | None,
        timeout: httpx.Timeout | None,
        retry: RetryPolicy | None,
        codec: WireCodec | None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            clock=clock,
            timeout=timeout,
            retry=retry or RetryPolicy(),
            codec=codec,
        )
        self._token: str | None = None
        self._session: LookupSession | None = None

    # --- public, shared -------------------------------------------------------------

    @property
    def session(self) -> LookupSession | None:
        """The session as the directory last described it; ``None`` when signed out."""
        return self._session

    @property
    def signed_in(self) -> bool:
        """Whether the client holds a session (the directory may have ended it since)."""
        return self._token is not None

    # --- internals --------------------------------------------------------------------

    def _require_session(self) -> str:
        self._ensure_open()
        if self._token is None:
            raise SessionInvalid("not signed in: sign in first")
        return self._token

    def _refuse_second_sign_in(self) -> None:
        self._ensure_open()
        if self._token is not None:
            raise ConfigurationError(
                "this client is already signed in: sign out first", code="already_signed_in"
            )

    def _forget(self) -> None:
        self._token = None
        self._session = None

    def _exchange(self, kind: _Retry, *, secret: bool = False) -> _Exchange:
        return _Exchange(kind, self._retry, self._clock, secret=secret)

    def _policy(self, kind: _Retry) -> RetryPolicy:
        return NO_RETRY if kind is _Retry.NEVER else self._retry

    def _prepare(
        self, exchange: _Exchange, method: str, path: str, *, body: Any, authorised: bool
    ) -> httpx.Request:
        """The request of a call, once the client is open (and signed in, if
        ``authorised``)."""
        bearer = self._require_session() if authorised else None
        self._ensure_open()
        return self._request(method, path, exchange.request_id, json=body, token=bearer)

    def _give_up(self, exchange: _Exchange, error: ContactPointError) -> NoReturn:
        """Raise the error of a call that failed for good with ``error``."""
        final = exchange.final(error)
        if isinstance(final, SessionInvalid):
            self._forget()  # the directory has ended it: the token is no use
        if final is error:
            raise error
        raise final from error

    @staticmethod
    def _sign_out_failed(error: ContactPointError, exc: BaseException | None) -> None:
        """On leaving ``with``, a failed sign-out: raised if the block ended
        well, logged if it raised (its own exception goes on)."""
        if exc is None:
            raise error
        _log.warning("sign-out on leaving the client failed; the session will expire")

    def _invalid(
        self,
        response: httpx.Response,
        exchange: _Exchange,
        message: str,
        code: str,
        problems: Iterable[Problem] = (),
    ) -> ResponseInvalid:
        return ResponseInvalid(
            message,
            status=response.status_code,
            request_id=response.headers.get(REQUEST_ID_HEADER) or exchange.request_id,
            problems=tuple(problems),
            code=code,
        )

    def _json(self, response: httpx.Response, exchange: _Exchange) -> Any:
        if media_type(response) != "application/json":
            raise self._invalid(
                response, exchange, "the answer is not application/json", "response_not_json"
            )
        try:
            return strict_json(response.content)
        except (ValueError, RecursionError):
            raise self._invalid(
                response, exchange, "the answer is not valid JSON", "response_not_json"
            ) from None

    def _decode(self, response: httpx.Response, exchange: _Exchange, cls: type[T], what: str) -> T:
        data = self._json(response, exchange)
        try:
            return self._codec.decode(data, cls)
        except ValidationError as error:
            raise self._invalid(
                response,
                exchange,
                f"the answer is not {what} and nothing else: {problem_summary(error.problems)}",
                "response_invalid",
                error.problems,
            ) from None

    def _adopt(
        self, response: httpx.Response, exchange: _Exchange, *, signing_in: bool = False
    ) -> LookupSession:
        """Keep the session an answer describes (and its token, if it has one)."""
        data = self._json(response, exchange)
        if not isinstance(data, dict):
            raise self._invalid(
                response, exchange, "the answer is not a session", "response_invalid"
            )
        data = dict(data)
        token = data.pop("session_token", None)
        if token is not None and not (
            isinstance(token, str)
            and token.isascii()
            and token.isprintable()
            and token.strip() == token
            and token
        ):
            raise self._invalid(
                response, exchange, "the session token is not usable", "response_invalid"
            )
        if signing_in and token is None:
            raise self._invalid(
                response, exchange, "the directory sent no session token", "response_invalid"
            )
        try:
            session = self._codec.decode(data, LookupSession)
        except ValidationError as error:
            raise self._invalid(
                response,
                exchange,
                f"the answer is not a session: {problem_summary(error.problems)}",
                "response_invalid",
                error.problems,
            ) from None
        if token is not None:
            self._token = token
        self._session = session
        return session

    def _view(
        self, response: httpx.Response, exchange: _Exchange, directory_id: DirectoryId
    ) -> AnyChildView:
        data = self._json(response, exchange)
        try:
            view = self._codec.decode_view(data)
        except ValidationError as error:
            raise self._invalid(
                response,
                exchange,
                f"the answer is not a view of a record: {problem_summary(error.problems)}",
                "response_invalid",
                error.problems,
            ) from None
        if _view_id(view) != directory_id:
            raise self._invalid(
                response, exchange, "the directory answered with another record", "record_mismatch"
            )
        return view

    def _archived(
        self, response: httpx.Response, exchange: _Exchange, directory_id: DirectoryId
    ) -> FullRecordView:
        data = self._json(response, exchange)
        try:
            view = (
                self._codec.decode_view(data)
                if isinstance(data, dict) and "view" in data
                else self._codec.decode(data, FullRecordView)
            )
        except ValidationError as error:
            raise self._invalid(
                response,
                exchange,
                f"the answer is not an archived record: {problem_summary(error.problems)}",
                "response_invalid",
                error.problems,
            ) from None
        if not isinstance(view, FullRecordView):
            raise self._invalid(
                response, exchange, "the answer is not a full record", "response_invalid"
            )
        if view.record.directory_id != directory_id:
            raise self._invalid(
                response, exchange, "the directory answered with another record", "record_mismatch"
            )
        return view

    def _broker_ticket(
        self, response: httpx.Response, exchange: _Exchange, directory_id: DirectoryId, ordinal: int
    ) -> BrokerTicket:
        ticket = self._decode(response, exchange, BrokerTicket, "a broker request")
        if ticket.directory_id != directory_id or ticket.ordinal != ordinal:
            raise self._invalid(
                response,
                exchange,
                "the broker request is for another record or service",
                "record_mismatch",
            )
        return ticket

    def _search_body(self, criteria: SearchCriteria) -> Any:
        if not isinstance(criteria, SearchCriteria):
            raise TypeError("search takes SearchCriteria")
        return self._codec.encode(criteria)

    @staticmethod
    def _ordinal(ordinal: int) -> int:
        if isinstance(ordinal, bool) or not isinstance(ordinal, int) or ordinal < 1:
            raise ValidationError.single(
                "an ordinal is the number (from 1) of an unspecified service in the view",
                code="ordinal_invalid",
                rule="SENS-4",
                path="ordinal",
            )
        return ordinal

    @staticmethod
    def _ground(ground: ShieldGround) -> str:
        if not isinstance(ground, ShieldGround):
            raise TypeError("ground must be a ShieldGround (SHLD-4)")
        return ground.value

    @staticmethod
    def _practitioner(user_id: str) -> str:
        if not isinstance(user_id, str) or not user_id.strip():
            raise ValidationError.single(
                "name the practitioner by their user ID",
                code="practitioner_required",
                rule="ACC-6",
                path="practitioner_user_id",
            )
        return user_id


def _record_path(directory_id: DirectoryId, action: str) -> str:
    return f"/v1/records/{directory_id.value}/{action}"


def _archive_path(directory_id: DirectoryId) -> str:
    return f"/v1/archive/{directory_id.value}/open"


_CREATED: Final = (201, 200)
_OK: Final = (200,)
_DONE: Final = (204, 200, 201)


# --- The blocking client -----------------------------------------------------------------


class LookupClient(_LookupCore[httpx.Client], SyncClientBase):
    """Look up children for one signed-in user, blocking (ACC-1, ACC-3, ACC-4, ACC-6).

    :param base_url: the directory, e.g. ``https://directory.example/``;
        paths ``/v1/...`` are added to it.
    :param transport: an httpx transport for the client the SDK builds.
    :param http_client: an httpx client to use instead (left open by
        :meth:`close`); not together with ``transport``.
    :param clock: the time ``Retry-After`` dates are judged against.
    :param timeout: applied to every request (default :data:`DEFAULT_TIMEOUT`).
    :param retry: the retry policy (default :class:`RetryPolicy()`; see the
        module notes for which calls it applies to).
    :param codec: the wire codec (default: the shared one).
    """

    __slots__ = ()

    def __init__(
        self,
        *,
        base_url: str | httpx.URL,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
        clock: Clock | None = None,
        timeout: httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        codec: WireCodec | None = None,
    ) -> None:
        check_transport(transport, http_client)
        super().__init__(base_url=base_url, clock=clock, timeout=timeout, retry=retry, codec=codec)
        self._connect(transport, http_client)

    # --- sessions (ACC-1, ACC-6) ---------------------------------------------------------

    def sign_in(self, username: str, password: str, pin: str, token: str) -> LookupSession:
        """Sign in with all four credentials; the client keeps the session.

        Sent once, never retried: every refused attempt counts towards the
        account's lock-out. A missing credential is refused before anything
        is sent. The credentials are not kept, logged or quoted.

        :raises SignInFailed: a credential missing or wrong, or the account
            locked (one message whichever it was).
        :raises NotEligible: the credentials were right, but the account may
            not sign in; ``code`` says why (``disclosure_lapsed`` ...).
        :raises ConfigurationError: already signed in (sign out first).
        """
        self._refuse_second_sign_in()
        body = _credentials(username, password, pin, token)
        exchange = self._exchange(_Retry.NEVER, secret=True)
        response = self._call(
            exchange, "POST", SESSIONS_PATH, _CREATED, body=body, authorised=False
        )
        session = self._adopt(response, exchange, signing_in=True)
        _log.debug("signed in as user %s [request %s]", session.user_id, exchange.request_id)
        return session

    def current_session(self) -> LookupSession:
        """The session as the directory sees it now (its expiry times, acting for whom).

        :raises SessionExpired, SessionInvalid: it has ended (the client forgets it).
        """
        exchange = self._exchange(_Retry.SAFE)
        response = self._call(exchange, "GET", CURRENT_SESSION_PATH, _OK)
        return self._adopt(response, exchange)

    def sign_out(self) -> None:
        """End the session at the directory and forget it. Nothing to do when
        signed out; a session the directory has already ended counts as ended.

        The client forgets the session even if the directory cannot be
        reached (it then ends by itself when unused for its idle time).
        """
        if self._token is None:
            return
        exchange = self._exchange(_Retry.SAFE)
        try:
            self._call(exchange, "DELETE", CURRENT_SESSION_PATH, _DONE)
        except SessionInvalid:
            pass
        finally:
            self._forget()
        _log.debug("signed out [request %s]", exchange.request_id)

    def act_for(self, practitioner_user_id: str) -> LookupSession:
        """Act for a colleague without IT (ACC-6): records are shown as they
        would see them, and the audit names both of you.

        :raises MediationRefused: not a colleague who may be acted for.
        """
        body = {"practitioner_user_id": self._practitioner(practitioner_user_id)}
        exchange = self._exchange(_Retry.UNSENT)
        response = self._call(exchange, "POST", ACT_FOR_PATH, _OK, body=body)
        return self._adopt(response, exchange)

    def stop_acting(self) -> LookupSession:
        """Stop acting for a practitioner (ACC-6)."""
        exchange = self._exchange(_Retry.UNSENT)
        response = self._call(exchange, "DELETE", ACT_FOR_PATH, _OK)
        return self._adopt(response, exchange)

    # --- look-up (ACC-3, ACC-4) -------------------------------------------------------------

    def search(self, criteria: SearchCriteria) -> SearchResult:
        """Find children (ACC-4): at most a few candidates, each only what
        tells them apart.

        :raises SearchTooBroad: not enough identifying detail.
        :raises RefineSearch: too many matches; nothing is shown.
        :raises SearchRateLimited: too many searches (after waiting out one
            ``Retry-After`` within the policy's cap); ``retry_after`` says when.
        :raises SearchBlocked: searching is paused after an alert.
        """
        body = self._search_body(criteria)
        exchange = self._exchange(_Retry.SAFE)
        response = self._call(exchange, "POST", SEARCH_PATH, _OK, body=body)
        return self._decode(response, exchange, SearchResult, "a search result")

    def open(
        self,
        directory_id: DirectoryId | str,
        reason: ReasonCode,
        reason_text: str | None = None,
    ) -> AnyChildView:
        """Open a child's record with a stated reason (ACC-3): the view the
        user's role allows (a :class:`ShieldedChildView`, a :class:`ChildView`
        with sensitive services unspecified, or a :class:`FullRecordView`).

        ``reason_text`` goes with :attr:`ReasonCode.OTHER` only, which needs it.

        :raises ReasonRequired, ReasonInvalid: before anything is sent, or
            from the directory.
        :raises RecordNotFound: no live record with that identifier.
        """
        did = _directory_id(directory_id)
        body = _reason_body(_reason(reason, reason_text, archive=False))
        exchange = self._exchange(_Retry.SAFE)
        response = self._call(exchange, "POST", _record_path(did, "open"), _OK, body=body)
        return self._view(response, exchange, did)

    def request_shield(self, directory_id: DirectoryId | str, ground: ShieldGround) -> None:
        """Ask the management team to shield a record (SHLD-4, SHLD-6)."""
        did = _directory_id(directory_id)
        body = {"ground": self._ground(ground)}
        exchange = self._exchange(_Retry.UNSENT)
        self._call(exchange, "POST", _record_path(did, "shield"), _DONE, body=body)

    def request_broker(self, directory_id: DirectoryId | str, ordinal: int) -> BrokerTicket:
        """Ask the management team to put the user in touch with the
        unspecified service ``ordinal`` of their view of the record (SENS-4)."""
        did = _directory_id(directory_id)
        body = {"ordinal": self._ordinal(ordinal)}
        exchange = self._exchange(_Retry.UNSENT)
        response = self._call(exchange, "POST", _record_path(did, "broker"), _CREATED, body=body)
        return self._broker_ticket(response, exchange, did, ordinal)

    def read_archive(self, directory_id: DirectoryId | str, reason: ReasonCode) -> FullRecordView:
        """Read an archived record, for a serious case review or a child death
        review (RET-6; archive reviewers only).

        :raises ReasonRequired, ReasonInvalid: no reason, or not an archive one.
        :raises NotPermitted: the user's role may not read the archive.
        """
        did = _directory_id(directory_id)
        body = _reason_body(_reason(reason, None, archive=True))
        exchange = self._exchange(_Retry.SAFE)
        response = self._call(exchange, "POST", _archive_path(did), _OK, body=body)
        return self._archived(response, exchange, did)

    # --- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        """Forget the session and close the HTTP client the SDK built.
        Idempotent. Does not sign out: use :meth:`sign_out` (or ``with``)."""
        self._forget()
        super().close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._closed:
                self.sign_out()
        except ContactPointError as error:
            self._sign_out_failed(error, exc)
        finally:
            self.close()

    # --- internals ---------------------------------------------------------------------------

    def _call(
        self,
        exchange: _Exchange,
        method: str,
        path: str,
        expect: Collection[int],
        *,
        body: Any = None,
        authorised: bool = True,
    ) -> httpx.Response:
        request = self._prepare(exchange, method, path, body=body, authorised=authorised)

        def attempt(n: int) -> httpx.Response:
            response = self._send(request, n, exchange.not_sent, secret=exchange.secret)
            return exchange.answered(response, n, expect)

        try:
            return self._policy(exchange.kind).call(attempt)
        except ContactPointError as error:
            self._give_up(exchange, error)


# --- The async client ---------------------------------------------------------------------


class AsyncLookupClient(_LookupCore[httpx.AsyncClient], AsyncClientBase):
    """:class:`LookupClient`, awaited: the same parameters and methods.

    ``transport`` is an ``httpx.AsyncBaseTransport`` and ``http_client`` an
    ``httpx.AsyncClient``.
    """

    __slots__ = ()

    def __init__(
        self,
        *,
        base_url: str | httpx.URL,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
        timeout: httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        codec: WireCodec | None = None,
    ) -> None:
        check_transport(transport, http_client)
        super().__init__(base_url=base_url, clock=clock, timeout=timeout, retry=retry, codec=codec)
        self._connect(transport, http_client)

    async def sign_in(self, username: str, password: str, pin: str, token: str) -> LookupSession:
        """See :meth:`LookupClient.sign_in`."""
        self._refuse_second_sign_in()
        body = _credentials(username, password, pin, token)
        exchange = self._exchange(_Retry.NEVER, secret=True)
        response = await self._call(
            exchange, "POST", SESSIONS_PATH, _CREATED, body=body, authorised=False
        )
        session = self._adopt(response, exchange, signing_in=True)
        _log.debug("signed in as user %s [request %s]", session.user_id, exchange.request_id)
        return session

    async def current_session(self) -> LookupSession:
        """See :meth:`LookupClient.current_session`."""
        exchange = self._exchange(_Retry.SAFE)
        response = await self._call(exchange, "GET", CURRENT_SESSION_PATH, _OK)
        return self._adopt(response, exchange)

    async def sign_out(self) -> None:
        """See :meth:`LookupClient.sign_out`."""
        if self._token is None:
            return
        exchange = self._exchange(_Retry.SAFE)
        try:
            await self._call(exchange, "DELETE", CURRENT_SESSION_PATH, _DONE)
        except SessionInvalid:
            pass
        finally:
            self._forget()
        _log.debug("signed out [request %s]", exchange.request_id)

    async def act_for(self, practitioner_user_id: str) -> LookupSession:
        """See :meth:`LookupClient.act_for`."""
        body = {"practitioner_user_id": self._practitioner(practitioner_user_id)}
        exchange = self._exchange(_Retry.UNSENT)
        response = await self._call(exchange, "POST", ACT_FOR_PATH, _OK, body=body)
        return self._adopt(response, exchange)

    async def stop_acting(self) -> LookupSession:
        """See :meth:`LookupClient.stop_acting`."""
        exchange = self._exchange(_Retry.UNSENT)
        response = await self._call(exchange, "DELETE", ACT_FOR_PATH, _OK)
        return self._adopt(response, exchange)

    async def search(self, criteria: SearchCriteria) -> SearchResult:
        """See :meth:`LookupClient.search`."""
        body = self._search_body(criteria)
        exchange = self._exchange(_Retry.SAFE)
        response = await self._call(exchange, "POST", SEARCH_PATH, _OK, body=body)
        return self._decode(response, exchange, SearchResult, "a search result")

    async def open(
        self,
        directory_id: DirectoryId | str,
        reason: ReasonCode,
        reason_text: str | None = None,
    ) -> AnyChildView:
        """See :meth:`LookupClient.open`."""
        did = _directory_id(directory_id)
        body = _reason_body(_reason(reason, reason_text, archive=False))
        exchange = self._exchange(_Retry.SAFE)
        response = await self._call(exchange, "POST", _record_path(did, "open"), _OK, body=body)
        return self._view(response, exchange, did)

    async def request_shield(self, directory_id: DirectoryId | str, ground: ShieldGround) -> None:
        """See :meth:`LookupClient.request_shield`."""
        did = _directory_id(directory_id)
        body = {"ground": self._ground(ground)}
        exchange = self._exchange(_Retry.UNSENT)
        await self._call(exchange, "POST", _record_path(did, "shield"), _DONE, body=body)

    async def request_broker(self, directory_id: DirectoryId | str, ordinal: int) -> BrokerTicket:
        """See :meth:`LookupClient.request_broker`."""
        did = _directory_id(directory_id)
        body = {"ordinal": self._ordinal(ordinal)}
        exchange = self._exchange(_Retry.UNSENT)
        response = await self._call(
            exchange, "POST", _record_path(did, "broker"), _CREATED, body=body
        )
        return self._broker_ticket(response, exchange, did, ordinal)

    async def read_archive(
        self, directory_id: DirectoryId | str, reason: ReasonCode
    ) -> FullRecordView:
        """See :meth:`LookupClient.read_archive`."""
        did = _directory_id(directory_id)
        body = _reason_body(_reason(reason, None, archive=True))
        exchange = self._exchange(_Retry.SAFE)
        response = await self._call(exchange, "POST", _archive_path(did), _OK, body=body)
        return self._archived(response, exchange, did)

    async def close(self) -> None:
        """See :meth:`LookupClient.close`."""
        self._forget()
        await super().close()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._closed:
                await self.sign_out()
        except ContactPointError as error:
            self._sign_out_failed(error, exc)
        finally:
            await self.close()

    async def _call(
        self,
        exchange: _Exchange,
        method: str,
        path: str,
        expect: Collection[int],
        *,
        body: Any = None,
        authorised: bool = True,
    ) -> httpx.Response:
        request = self._prepare(exchange, method, path, body=body, authorised=authorised)

        async def attempt(n: int) -> httpx.Response:
            response = await self._send(request, n, exchange.not_sent, secret=exchange.secret)
            return exchange.answered(response, n, expect)

        try:
            return await self._policy(exchange.kind).acall(attempt)
        except ContactPointError as error:
            self._give_up(exchange, error)
