"""Clocks: the one place the SDK reads the time (RET-8).

Every date rule takes its ``now`` or ``today`` from a :class:`Clock` passed in,
so tests, the reference server and the accreditation suite can move time.
Dates are UK dates: "today" is the calendar date in Europe/London.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

__all__ = ["UK", "Clock", "FixedClock", "MovableClock", "SystemClock", "uk_date"]

UK = ZoneInfo("Europe/London")


def uk_date(moment: datetime) -> date:
    """The calendar date in England at an aware ``moment``."""
    if moment.tzinfo is None:
        raise ValueError("uk_date needs an aware datetime")
    return moment.astimezone(UK).date()


@runtime_checkable
class Clock(Protocol):
    """Something that says what time it is."""

    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...

    def today(self) -> date:
        """The current UK calendar date."""
        ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return uk_date(self.now())


class FixedClock:
    """A clock stopped at one instant."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def today(self) -> date:
        return uk_date(self._at)


class MovableClock:
    """A clock that tests and the reference server move forward (RET-8).

    It stands still unless moved; ``advance`` and ``set`` are thread safe.
    """

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("MovableClock needs an aware datetime")
        self._at = at.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._at

    def today(self) -> date:
        return uk_date(self.now())

    def advance(self, by: timedelta) -> datetime:
        """Move the clock forward (never back) and return the new time."""
        if by < timedelta(0):
            raise ValueError("a MovableClock only moves forward")
        with self._lock:
            self._at += by
            return self._at

    def set(self, at: datetime) -> datetime:
        """Move the clock to ``at``, which must not be in its past."""
        if at.tzinfo is None:
            raise ValueError("MovableClock.set needs an aware datetime")
        with self._lock:
            target = at.astimezone(UTC)
            if target < self._at:
                raise ValueError("a MovableClock only moves forward")
            self._at = target
            return self._at
