"""What the SDK's clients share (private).

The supply and look-up clients (:mod:`contactpoint_sdk.supply.client`,
:mod:`contactpoint_sdk.lookup.client`) each come as a blocking and an awaited
class over one I/O-free core. The plumbing they have in common is here:

- :class:`ClientBase`: the base URL (checked), clock, timeout, retry policy
  and codec; ``closed``; the URL and headers of every request.
- :class:`SyncClientBase` and :class:`AsyncClientBase`: the HTTP client,
  built by the SDK (and then closed by ``close``, with its transport) or
  given by the caller (and then left open); sending one attempt, a transport
  error turned into a :class:`~contactpoint_sdk.errors.TransportFailure`;
  ``close`` and ``with`` / ``async with``.
- :class:`ClosesOnExit`: ``with`` for anything with a ``close()``.

How answers are read, and errors typed, is :mod:`contactpoint_sdk._http`.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Final, Generic, Self, TypeVar

import httpx

from contactpoint_sdk import __version__
from contactpoint_sdk._http import REQUEST_ID_HEADER
from contactpoint_sdk.clock import Clock, SystemClock
from contactpoint_sdk.errors import ConfigurationError, TransportFailure
from contactpoint_sdk.models.codec import WireCodec, default_codec

if TYPE_CHECKING:
    # Not at run time: the supply package imports its client, which imports this.
    from contactpoint_sdk.supply.retry import RetryPolicy

__all__ = [
    "DEFAULT_TIMEOUT",
    "AsyncClientBase",
    "ClientBase",
    "ClosesOnExit",
    "NotSent",
    "SyncClientBase",
    "check_base_url",
    "check_transport",
]

#: Every request's timeout unless the caller gives one: 10 s to connect, 30 s
#: to write, read or wait for a pooled connection.
DEFAULT_TIMEOUT: Final = httpx.Timeout(30.0, connect=10.0)

_ACCEPT: Final = "application/json, application/problem+json"
_USER_AGENT: Final = f"contactpoint-sdk/{__version__}"

#: The HTTP client a client class holds: blocking or awaited.
H = TypeVar("H", httpx.Client, httpx.AsyncClient)

#: The failure for an attempt that got no answer: ``(error, attempt)``.
NotSent = Callable[[httpx.TransportError, int], TransportFailure]


def check_base_url(value: str | httpx.URL) -> httpx.URL:
    """``base_url`` as a URL: ``http`` or ``https``, with a host, no query or fragment."""
    try:
        url = httpx.URL(str(value))
    except httpx.InvalidURL as error:
        raise ConfigurationError(f"base_url is not a URL: {error}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError("base_url must be an http:// or https:// URL with a host")
    if url.query or url.fragment:
        raise ConfigurationError("base_url must not carry a query or fragment")
    return url


def check_transport(transport: object, http_client: object) -> None:
    """Refuse a transport and an HTTP client together."""
    if http_client is not None and transport is not None:
        raise ConfigurationError("give a transport or an http_client, not both")


class ClosesOnExit:
    """``with`` for an object with :meth:`close`: entering gives the object,
    leaving closes it, however the block ends."""

    __slots__ = ()

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ClientBase(Generic[H]):
    """Configuration, and the I/O-free half of every request, of a client."""

    __slots__ = (
        "_base_url",
        "_clock",
        "_closed",
        "_codec",
        "_http",
        "_owns_http",
        "_retry",
        "_timeout",
    )

    #: What the client is called in "this ... client is closed".
    _NAME: ClassVar[str] = "directory"

    _http: H
    _owns_http: bool

    def __init__(
        self,
        *,
        base_url: str | httpx.URL,
        clock: Clock | None,
        timeout: httpx.Timeout | None,
        retry: RetryPolicy,
        codec: WireCodec | None,
    ) -> None:
        self._base_url = check_base_url(base_url)
        self._clock: Clock = clock or SystemClock()
        self._timeout = timeout if timeout is not None else DEFAULT_TIMEOUT
        if not isinstance(self._timeout, httpx.Timeout):
            raise ConfigurationError("timeout must be an httpx.Timeout")
        self._retry = retry
        self._codec = codec or default_codec
        self._closed = False

    @property
    def base_url(self) -> httpx.URL:
        return self._base_url

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._retry

    @property
    def timeout(self) -> httpx.Timeout:
        return self._timeout

    @property
    def closed(self) -> bool:
        return self._closed

    def _ensure_open(self) -> None:
        if self._closed:
            raise ConfigurationError(f"this {self._NAME} client is closed", code="client_closed")

    def _url(self, path: str) -> httpx.URL:
        base = self._base_url
        return base.copy_with(path=base.path.rstrip("/") + path)

    def _request(
        self,
        method: str,
        path: str,
        request_id: str,
        *,
        content: bytes | None = None,
        json: Any = None,
        content_type: str | None = None,
        token: str | None = None,
    ) -> httpx.Request:
        """A request to ``path`` below the base URL, named ``request_id``,
        with this client's headers (and ``token`` as the bearer) and timeout."""
        headers = {
            "Accept": _ACCEPT,
            "User-Agent": _USER_AGENT,
            REQUEST_ID_HEADER: request_id,
        }
        if content_type is not None:
            headers["Content-Type"] = content_type
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self._http.build_request(
            method,
            self._url(path),
            content=content,
            json=json,
            headers=headers,
            timeout=self._timeout,
        )


class SyncClientBase(ClientBase[httpx.Client], ClosesOnExit):
    """A blocking client: its ``httpx.Client``, ``close`` and ``with``."""

    __slots__ = ()

    def _connect(
        self,
        transport: httpx.BaseTransport | None,
        http_client: httpx.Client | None,
        base_url: httpx.URL | str = "",
    ) -> None:
        """Use ``http_client`` (the caller's, left open), or build one on ``transport``."""
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(
            base_url=base_url, timeout=self._timeout, transport=transport
        )

    def _send(
        self, request: httpx.Request, attempt: int, not_sent: NotSent, *, secret: bool = False
    ) -> httpx.Response:
        """Send one attempt; no answer raises ``not_sent(error, attempt)``.

        ``secret``: the request carries credentials, so the failure is raised
        outside the handler and keeps no reference to it.
        """
        failure: TransportFailure
        try:
            return self._http.send(request)
        except httpx.TransportError as error:
            failure = not_sent(error, attempt)
            if not secret:
                raise failure from error
        raise failure

    def close(self) -> None:
        """Close the HTTP client the SDK built (and its transport). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        self._ensure_open()
        return self


class AsyncClientBase(ClientBase[httpx.AsyncClient]):
    """An awaited client: its ``httpx.AsyncClient``, ``close`` and ``async with``."""

    __slots__ = ()

    def _connect(
        self,
        transport: httpx.AsyncBaseTransport | None,
        http_client: httpx.AsyncClient | None,
        base_url: httpx.URL | str = "",
    ) -> None:
        """Use ``http_client`` (the caller's, left open), or build one on ``transport``."""
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            base_url=base_url, timeout=self._timeout, transport=transport
        )

    async def _send(
        self, request: httpx.Request, attempt: int, not_sent: NotSent, *, secret: bool = False
    ) -> httpx.Response:
        """See :meth:`SyncClientBase._send`."""
        failure: TransportFailure
        try:
            return await self._http.send(request)
        except httpx.TransportError as error:
            failure = not_sent(error, attempt)
            if not secret:
                raise failure from error
        raise failure

    async def close(self) -> None:
        """Close the HTTP client the SDK built (and its transport). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._owns_http:
            await self._http.aclose()

    async def aclose(self) -> None:
        """The same as :meth:`close`."""
        await self.close()

    async def __aenter__(self) -> Self:
        self._ensure_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
