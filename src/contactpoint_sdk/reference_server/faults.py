"""Fault injection for vendor tests: make the reference directory misbehave on purpose.

A vendor's integration must survive a directory that says "later" or does not
answer at all. :class:`FaultInjector` holds a queue of faults, each for the
next ``count`` requests (optionally only those whose path starts with
``path_prefix``, and only one method); every request the directory receives
takes one unit from the first pending fault that matches it. Four kinds:

``rate_limited``
    ``429 Too Many Requests``, ``application/problem+json`` with
    ``code: "rate_limited"`` and ``Retry-After: <retry_after>`` (seconds).
    The request never reaches the directory: nothing changes.
``unavailable``
    ``503 Service Unavailable``, ``code: "unavailable"``, ``Retry-After`` as
    above. Nothing changes.
``slow``
    The request is held for ``delay`` seconds (real time, not the directory's
    clock), then answered normally. A client whose read timeout is shorter
    gives up first: over loopback HTTPS the socket stays silent; the in-process
    transports honour the request's read timeout and raise
    ``httpx.ReadTimeout``. Once the delay has passed the request is applied,
    even if the client has stopped waiting, as a real server would.
``drop``
    No answer at all: the connection closes without a response. Over loopback
    HTTPS the server aborts the TCP connection (an httpx client sees
    ``httpx.RemoteProtocolError: Server disconnected without sending a
    response``); the in-process transports raise that same
    ``httpx.RemoteProtocolError``. The request never reaches the directory:
    nothing changes.

Routes under ``/v1/_control/`` are never faulted, so a test can always clear
what it set. Faults are set from Python (``faults.rate_limit(2)``) or over
HTTP (``POST /v1/_control/faults``); both reach the same injector. The
injector is thread safe: a test thread sets faults while the server's thread
takes them.
"""

from __future__ import annotations

import enum
import itertools
import threading
from collections import deque
from typing import Final

import attrs

__all__ = [
    "ABORT_CONNECTION_EXTENSION",
    "CONTROL_PREFIX",
    "MAX_DELAY_SECONDS",
    "MAX_FAULT_COUNT",
    "MAX_RETRY_AFTER_SECONDS",
    "ConnectionDropped",
    "Fault",
    "FaultInjector",
    "FaultKind",
    "FiredFault",
]

#: Paths under this prefix are never faulted.
CONTROL_PREFIX: Final = "/v1/_control/"
#: The ASGI scope extension through which a server offers the app a way to
#: close the connection without answering (``scope["extensions"][...]()``).
ABORT_CONNECTION_EXTENSION: Final = "contactpoint.abort_connection"
#: The most requests one fault may cover.
MAX_FAULT_COUNT: Final = 10_000
#: The longest ``Retry-After`` a fault may ask for (one day).
MAX_RETRY_AFTER_SECONDS: Final = 86_400
#: The longest a ``slow`` fault may hold a request.
MAX_DELAY_SECONDS: Final = 60.0
#: How many fired faults :attr:`FaultInjector.fired` remembers.
_HISTORY: Final = 1_000


class FaultKind(enum.Enum):
    """What an injected fault does to a request."""

    RATE_LIMITED = "rate_limited"  # 429 + Retry-After
    UNAVAILABLE = "unavailable"  # 503 + Retry-After
    SLOW = "slow"  # held for `delay` seconds, then answered
    DROP = "drop"  # connection closed without a response


class ConnectionDropped(Exception):
    """Raised by the app when a ``drop`` fault fires and the server gives it no
    way to abort the connection itself. The in-process transports turn it into
    ``httpx.RemoteProtocolError``; it never reaches a client as an exception."""


@attrs.frozen(kw_only=True)
class Fault:
    """A pending fault, as it stands: ``remaining`` requests still to hit."""

    fault_id: str
    kind: FaultKind
    remaining: int
    path_prefix: str | None = None
    method: str | None = None
    retry_after: int | None = None
    delay: float | None = None

    def matches(self, method: str, path: str) -> bool:
        """Whether a request ``method path`` is one this fault covers."""
        if path.startswith(CONTROL_PREFIX) or path.rstrip("/") == CONTROL_PREFIX.rstrip("/"):
            return False
        if self.method is not None and method.upper() != self.method:
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)


@attrs.frozen(kw_only=True)
class FiredFault:
    """A fault that hit one request (paths only: never a body)."""

    fault_id: str
    kind: FaultKind
    method: str
    path: str


def _check_count(count: int) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_FAULT_COUNT:
        raise ValueError(f"count is a whole number from 1 to {MAX_FAULT_COUNT}")
    return count


def _check_retry_after(seconds: int) -> int:
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int)
        or not 0 <= seconds <= MAX_RETRY_AFTER_SECONDS
    ):
        raise ValueError(
            f"retry_after is a whole number of seconds, 0 to {MAX_RETRY_AFTER_SECONDS}"
        )
    return seconds


def _check_delay(delay: float) -> float:
    if isinstance(delay, bool) or not isinstance(delay, int | float):
        raise ValueError("delay is a number of seconds")
    if not 0 <= delay <= MAX_DELAY_SECONDS:
        raise ValueError(f"delay is 0 to {MAX_DELAY_SECONDS:g} seconds")
    return float(delay)


def _check_prefix(path_prefix: str | None) -> str | None:
    if path_prefix is None:
        return None
    if not isinstance(path_prefix, str) or not path_prefix.startswith("/"):
        raise ValueError("path_prefix is a path starting with '/'")
    if len(path_prefix) > 512:
        raise ValueError("path_prefix is at most 512 characters")
    if path_prefix.startswith(CONTROL_PREFIX):
        raise ValueError(f"routes under {CONTROL_PREFIX} are never faulted")
    return path_prefix


def _check_method(method: str | None) -> str | None:
    if method is None:
        return None
    if not isinstance(method, str) or not method.isascii() or not method.isalpha():
        raise ValueError("method is an HTTP method such as 'POST'")
    return method.upper()


class FaultInjector:
    """Pending faults for the reference directory (see the module docstring).

    ::

        faults = FaultInjector()
        app = create_app(service, faults=faults)
        faults.rate_limit(2, retry_after=1, path_prefix="/v1/supply/")
        faults.drop()   # the next request after those gets no answer
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Fault] = []
        self._ids = itertools.count(1)
        self._fired: deque[FiredFault] = deque(maxlen=_HISTORY)

    # --- setting faults -----------------------------------------------------------

    def add(
        self,
        kind: FaultKind | str,
        *,
        count: int = 1,
        path_prefix: str | None = None,
        method: str | None = None,
        retry_after: int = 1,
        delay: float = 1.0,
    ) -> Fault:
        """Queue a fault for the next ``count`` matching requests.

        ``retry_after`` (seconds) applies to ``rate_limited`` and
        ``unavailable``; ``delay`` (seconds) to ``slow``.

        :raises ValueError: an unknown kind or a value out of range.
        """
        fault_kind = FaultKind(kind)
        with self._lock:
            fault = Fault(
                fault_id=f"fault-{next(self._ids)}",
                kind=fault_kind,
                remaining=_check_count(count),
                path_prefix=_check_prefix(path_prefix),
                method=_check_method(method),
                retry_after=(
                    _check_retry_after(retry_after)
                    if fault_kind in (FaultKind.RATE_LIMITED, FaultKind.UNAVAILABLE)
                    else None
                ),
                delay=_check_delay(delay) if fault_kind is FaultKind.SLOW else None,
            )
            self._pending.append(fault)
            return fault

    def rate_limit(
        self,
        count: int = 1,
        *,
        retry_after: int = 1,
        path_prefix: str | None = None,
        method: str | None = None,
    ) -> Fault:
        """The next ``count`` requests get ``429`` with ``Retry-After``."""
        return self.add(
            FaultKind.RATE_LIMITED,
            count=count,
            retry_after=retry_after,
            path_prefix=path_prefix,
            method=method,
        )

    def unavailable(
        self,
        count: int = 1,
        *,
        retry_after: int = 1,
        path_prefix: str | None = None,
        method: str | None = None,
    ) -> Fault:
        """The next ``count`` requests get ``503`` with ``Retry-After``."""
        return self.add(
            FaultKind.UNAVAILABLE,
            count=count,
            retry_after=retry_after,
            path_prefix=path_prefix,
            method=method,
        )

    def slow(
        self,
        count: int = 1,
        *,
        delay: float = 1.0,
        path_prefix: str | None = None,
        method: str | None = None,
    ) -> Fault:
        """The next ``count`` requests are held ``delay`` seconds, then answered."""
        return self.add(
            FaultKind.SLOW, count=count, delay=delay, path_prefix=path_prefix, method=method
        )

    def drop(
        self, count: int = 1, *, path_prefix: str | None = None, method: str | None = None
    ) -> Fault:
        """The next ``count`` requests get no answer: the connection closes."""
        return self.add(FaultKind.DROP, count=count, path_prefix=path_prefix, method=method)

    def clear(self) -> int:
        """Remove every pending fault; how many there were."""
        with self._lock:
            cleared = len(self._pending)
            self._pending.clear()
            return cleared

    # --- reading and taking -------------------------------------------------------

    def pending(self) -> tuple[Fault, ...]:
        """The faults still to fire, in the order they will be tried."""
        with self._lock:
            return tuple(self._pending)

    @property
    def fired(self) -> tuple[FiredFault, ...]:
        """The faults that hit requests, oldest first (the last 1,000)."""
        with self._lock:
            return tuple(self._fired)

    def take(self, method: str, path: str) -> Fault | None:
        """The fault for a request ``method path``, if one is pending: one unit
        of the first matching fault is used up (the fault is dropped from the
        queue when none remain). ``None`` when no fault applies."""
        with self._lock:
            for index, fault in enumerate(self._pending):
                if not fault.matches(method, path):
                    continue
                if fault.remaining <= 1:
                    del self._pending[index]
                else:
                    self._pending[index] = attrs.evolve(fault, remaining=fault.remaining - 1)
                self._fired.append(
                    FiredFault(fault_id=fault.fault_id, kind=fault.kind, method=method, path=path)
                )
                return attrs.evolve(fault, remaining=fault.remaining - 1)
            return None

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def __repr__(self) -> str:
        return f"<FaultInjector pending={len(self)}>"
