"""One retry policy, on tenacity, for the sync and the async supply clients.

What is retried, and what never is:

- retried: no answer at all (connection refused or reset, timeouts, a
  response broken by the peer: the transient
  :class:`~contactpoint_sdk.errors.TransportFailure` s), ``429``
  (:class:`~contactpoint_sdk.errors.RateLimited`) and any ``5xx``
  (:class:`~contactpoint_sdk.errors.ServerError`);
- never retried: every other ``4xx`` (a malformed or refused batch stays
  refused however often it is sent), an answer the SDK refuses to trust
  (:class:`~contactpoint_sdk.errors.ReceiptInvalid`), and anything
  that is not an HTTP outcome.

Waits grow exponentially with random jitter: before attempt ``n + 1`` the
client waits ``initial_wait * multiplier ** (n - 1)`` seconds plus up to
``jitter`` seconds, never more than ``max_wait``. Where the directory sent
``Retry-After`` (seconds or an HTTP date), the client waits that long instead,
but never more than ``retry_after_cap``.

Retrying is safe: the client resends the very same sealed envelope, so the
same batch ID, and the directory answers a batch it has seen with its first
receipt (SUP-5, ``docs/http-api.md``).

``sleep`` and ``async_sleep`` are the functions that wait; tests pass ones
that record the wait instead of sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import attrs
import tenacity

from contactpoint_sdk.errors import ApiError, TransportFailure

__all__ = ["NO_RETRY", "RetryPolicy"]

T = TypeVar("T")

_log = logging.getLogger("contactpoint_sdk.supply")


def _positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value >= 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value!r}")


def _at_least_one(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value >= 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value!r}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How the supply clients retry a request (one policy, sync and async).

    :param max_attempts: sends in all, the first included (1: never retry).
    :param initial_wait: seconds before the first retry, before jitter.
    :param max_wait: the longest backoff wait, jitter included.
    :param multiplier: each backoff wait is this many times the one before.
    :param jitter: up to this many random seconds added to each backoff wait,
        so many clients do not retry in step.
    :param retry_after_cap: the longest wait a ``Retry-After`` can impose.
    :param sleep: waits in the sync client (default :func:`time.sleep`).
    :param async_sleep: waits in the async client (default :func:`asyncio.sleep`).
    """

    max_attempts: int = attrs.field(default=5, validator=_at_least_one)
    initial_wait: float = attrs.field(default=0.5, validator=_positive)
    max_wait: float = attrs.field(default=30.0, validator=_positive)
    multiplier: float = attrs.field(default=2.0, validator=_at_least_one)
    jitter: float = attrs.field(default=0.5, validator=_positive)
    retry_after_cap: float = attrs.field(default=120.0, validator=_positive)
    sleep: Callable[[float], None] = attrs.field(default=time.sleep, eq=False, repr=False)
    async_sleep: Callable[[float], Awaitable[None]] = attrs.field(
        default=asyncio.sleep, eq=False, repr=False
    )

    def should_retry(self, error: BaseException) -> bool:
        """Whether a failed attempt may be sent again (see the module doc)."""
        if isinstance(error, ApiError | TransportFailure):
            return error.retryable
        return False

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt ``attempt`` (1-based) when no
        ``Retry-After`` applies: ``initial_wait * multiplier ** (attempt - 1)``
        plus up to ``jitter`` random seconds, at most ``max_wait``."""
        try:
            base = self.initial_wait * self.multiplier ** max(attempt - 1, 0)
        except OverflowError:
            base = math.inf
        jitter = random.uniform(0.0, self.jitter)  # noqa: S311 - spreads retries, not a secret
        return min(base + jitter, self.max_wait)

    def wait_after(self, attempt: int, error: BaseException | None) -> float:
        """The wait after failed attempt ``attempt``: the error's
        ``Retry-After`` capped at ``retry_after_cap``, else :meth:`backoff`."""
        retry_after = error.retry_after if isinstance(error, ApiError) else None
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_cap)
        return self.backoff(attempt)

    def call(self, attempt: Callable[[int], T]) -> T:
        """Run ``attempt(n)`` (``n`` from 1) until it succeeds, fails for
        good, or ``max_attempts`` is reached; the last error is raised as is."""
        retrying = tenacity.Retrying(sleep=self.sleep, **self._tenacity_settings())
        for try_ in retrying:
            with try_:
                return attempt(try_.retry_state.attempt_number)
        raise AssertionError("tenacity ended without a result")  # pragma: no cover

    async def acall(self, attempt: Callable[[int], Awaitable[T]]) -> T:
        """:meth:`call` for coroutines, waiting with ``async_sleep``."""
        retrying = tenacity.AsyncRetrying(sleep=self.async_sleep, **self._tenacity_settings())
        async for try_ in retrying:
            with try_:
                return await attempt(try_.retry_state.attempt_number)
        raise AssertionError("tenacity ended without a result")  # pragma: no cover

    # --- tenacity plumbing, shared by both ---------------------------------------

    def _wait(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        return self.wait_after(state.attempt_number, error)

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        wait = state.upcoming_sleep
        code = getattr(error, "code", type(error).__name__)
        request_id = getattr(error, "request_id", None)
        _log.warning(
            "directory request failed (%s, request %s), attempt %d of %d; retrying in %.2f s",
            code,
            request_id,
            state.attempt_number,
            self.max_attempts,
            wait,
        )

    def _tenacity_settings(self) -> dict[str, Any]:
        return {
            "stop": tenacity.stop_after_attempt(self.max_attempts),
            "wait": self._wait,
            "retry": tenacity.retry_if_exception(self.should_retry),
            "before_sleep": self._before_sleep,
            "reraise": True,
        }


#: A policy that sends each request once.
NO_RETRY = RetryPolicy(max_attempts=1)
