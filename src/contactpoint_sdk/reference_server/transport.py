"""In-process transports: the reference directory inside the test, with no sockets.

"One state, served two ways" (as moto does): build one app over one
:class:`~contactpoint_sdk.reference_server.service.DirectoryService`, then hand
the SDK clients a transport over it::

    app = create_app(service)
    sync_client = httpx.Client(base_url="https://directory.test", transport=InProcessTransport(app))
    async_client = httpx.AsyncClient(
        base_url="https://directory.test", transport=AsyncInProcessTransport(app)
    )

Both see the same directory: a batch supplied through one is a resend through
the other.

- :class:`AsyncInProcessTransport` runs the ASGI app on the caller's event loop
  (through ``httpx.ASGITransport``).
- :class:`InProcessTransport`, for the blocking ``httpx.Client``: httpx's ASGI
  transport is async only, so this one runs the app on a private event loop in
  a daemon thread, started at the first request, and blocks the caller until
  the answer is complete. ``close()`` (``httpx.Client.close()`` calls it) stops
  the loop and joins the thread; a transport that is garbage collected without
  being closed is stopped too.

Both behave like a server on the far side of a socket, not like a function
call:

- an exception in the app becomes the app's ``500`` problem answer (pass
  ``raise_app_exceptions=True`` to have it raised in the test instead);
- a ``drop`` fault raises ``httpx.RemoteProtocolError`` (no response), as
  httpx does when a real server closes the connection;
- the request's read timeout (``httpx.Timeout``; here the time to the whole
  answer) is honoured: an answer that takes longer (a ``slow`` fault) raises
  ``httpx.ReadTimeout``. The request goes on without its client, as on a real
  server, so a batch the client gave up on may still be applied: resend it
  (same batch ID) and get its first receipt. ``close()`` / ``aclose()``
  cancel requests still running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import Future
from typing import Any, Final

import anyio
import httpx

from contactpoint_sdk.reference_server.faults import ConnectionDropped

__all__ = [
    "DEFAULT_CLIENT_ADDRESS",
    "UNHANDLED_ERROR_SCOPE_KEY",
    "AsyncInProcessTransport",
    "InProcessTransport",
]

_log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Where the app leaves an exception it answered ``500`` for (and did not
#: re-raise, so that no server logs its message): ``raise_app_exceptions``
#: raises it from there.
UNHANDLED_ERROR_SCOPE_KEY: Final = "contactpoint.unhandled_error"
#: The client address the app sees for in-process requests.
DEFAULT_CLIENT_ADDRESS: Final = ("127.0.0.1", 50000)
_DROPPED_MESSAGE: Final = "Server disconnected without sending a response."
#: How long ``close()`` waits for the private loop's thread to finish.
_JOIN_SECONDS: Final = 5.0


class _ServerLike:
    """The app as a server would run it: an exception after the answer has
    started is logged and swallowed; one before it becomes a bare 500 (the
    directory's own app answers its errors itself, so this is a last resort).
    :class:`ConnectionDropped` passes through, to become a transport error."""

    def __init__(self, app: ASGIApp, *, raise_app_exceptions: bool) -> None:
        self.app = app
        self.raise_app_exceptions = raise_app_exceptions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False
        complete = False

        async def tracking_send(message: Message) -> None:
            nonlocal started, complete
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                complete = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
            answered = scope.get(UNHANDLED_ERROR_SCOPE_KEY)
            if self.raise_app_exceptions and isinstance(answered, Exception):
                raise answered
        except ConnectionDropped:
            raise
        except Exception as error:
            if self.raise_app_exceptions:
                raise
            _log.error(
                "unhandled %s in the reference directory on %s %s",
                type(error).__name__,
                scope.get("method"),
                scope.get("path"),
            )
            if not started:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8")],
                    }
                )
                await send({"type": "http.response.body", "body": b"Internal Server Error"})
            elif not complete:
                raise ConnectionDropped("the answer broke off") from error


def _read_timeout(request: httpx.Request) -> float | None:
    timeout = request.extensions.get("timeout")
    if isinstance(timeout, dict):
        value = timeout.get("read")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


class AsyncInProcessTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncClient`` transport that calls the ASGI ``app`` directly.

    :param app: the directory's app (:func:`~.app.create_app`).
    :param raise_app_exceptions: raise an exception from the app in the
        caller instead of answering ``500``.
    :param client: the ``(host, port)`` the app sees as the client.
    :param root_path: the ASGI ``root_path``.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        raise_app_exceptions: bool = False,
        client: tuple[str, int] = DEFAULT_CLIENT_ADDRESS,
        root_path: str = "",
    ) -> None:
        self.app = app
        self._asgi = httpx.ASGITransport(
            app=_ServerLike(app, raise_app_exceptions=raise_app_exceptions),
            raise_app_exceptions=True,
            client=client,
            root_path=root_path,
        )
        self._closed = False
        self._pending: set[asyncio.Future[httpx.Response]] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("this in-process transport is closed")
        timeout = _read_timeout(request)
        if timeout is None:
            return await self._deliver(request)
        if not _on_asyncio():  # pragma: no cover - trio
            try:
                with anyio.fail_after(timeout):
                    return await self._deliver(request)
            except TimeoutError:
                raise _read_timeout_error(request, timeout) from None
        # The request goes on without the client, as on a real server: a
        # batch the client gave up on may still be applied (resend it).
        task = asyncio.ensure_future(self._deliver(request))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        try:
            return await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            task.add_done_callback(_forget)
            raise _read_timeout_error(request, timeout) from None

    async def _deliver(self, request: httpx.Request) -> httpx.Response:
        """The app's whole answer, with no timeout of its own."""
        try:
            return await self._asgi.handle_async_request(request)
        except ConnectionDropped:
            raise httpx.RemoteProtocolError(_DROPPED_MESSAGE, request=request) from None

    async def aclose(self) -> None:
        """Cancel requests still running after their client gave up; close."""
        self._closed = True
        pending = list(self._pending)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        await self._asgi.aclose()


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _read_timeout_error(request: httpx.Request, timeout: float) -> httpx.ReadTimeout:
    return httpx.ReadTimeout(
        f"the in-process directory did not answer within {timeout:g} s", request=request
    )


def _forget(task: asyncio.Future[httpx.Response]) -> None:
    """Retrieve the outcome of a request nobody waits for any more."""
    if not task.cancelled():
        task.exception()


def _stop_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    """Stop a private loop and wait for its thread (also the GC finaliser)."""
    if loop.is_closed():
        return
    with contextlib.suppress(RuntimeError):  # already stopping
        loop.call_soon_threadsafe(loop.stop)
    if thread.is_alive() and thread is not threading.current_thread():
        thread.join(_JOIN_SECONDS)


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        try:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


class InProcessTransport(httpx.BaseTransport):
    """An ``httpx.Client`` transport that runs the ASGI ``app`` on a private
    event loop in a daemon thread (see the module docstring).

    Same parameters as :class:`AsyncInProcessTransport`. Thread safe: any
    number of threads may send through one transport at once; their requests
    run concurrently on the private loop.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        raise_app_exceptions: bool = False,
        client: tuple[str, int] = DEFAULT_CLIENT_ADDRESS,
        root_path: str = "",
    ) -> None:
        self.app = app
        self._async = AsyncInProcessTransport(
            app, raise_app_exceptions=raise_app_exceptions, client=client, root_path=root_path
        )
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._finalizer: weakref.finalize[..., Any] | None = None
        self._closed = False

    @property
    def running(self) -> bool:
        """Whether the private loop's thread is running."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise RuntimeError("this in-process transport is closed")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=_run_loop,
                    args=(loop,),
                    name="contactpoint-in-process-directory",
                    daemon=True,
                )
                thread.start()
                self._loop, self._thread = loop, thread
                self._finalizer = weakref.finalize(self, _stop_loop, loop, thread)
            return self._loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        loop = self._ensure_loop()
        if threading.current_thread() is self._thread:
            raise RuntimeError(
                "the in-process directory cannot call itself through its own blocking transport"
            )
        body = request.read()
        forwarded = httpx.Request(
            request.method,
            request.url,
            headers=request.headers,
            content=body,
            extensions=request.extensions,
        )
        future: Future[httpx.Response] = asyncio.run_coroutine_threadsafe(
            self._round_trip(forwarded), loop
        )
        timeout = _read_timeout(request)
        try:
            response = future.result(timeout)
        except TimeoutError:
            # The request goes on without the client, as on a real server.
            raise _read_timeout_error(request, timeout or 0.0) from None
        except BaseException:
            future.cancel()
            raise
        response.request = request
        return response

    async def _round_trip(self, request: httpx.Request) -> httpx.Response:
        response = await self._async._deliver(request)
        try:
            content = await response.aread()
        finally:
            await response.aclose()
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            content=content,
            extensions=response.extensions,
        )

    def close(self) -> None:
        """Stop the private loop and join its thread. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread, finalizer = self._loop, self._thread, self._finalizer
        if loop is None or thread is None:
            return
        if thread.is_alive() and not loop.is_closed():
            with contextlib.suppress(RuntimeError, TimeoutError):
                asyncio.run_coroutine_threadsafe(self._async.aclose(), loop).result(_JOIN_SECONDS)
        if finalizer is not None:
            finalizer()  # stops the loop and joins the thread, once
