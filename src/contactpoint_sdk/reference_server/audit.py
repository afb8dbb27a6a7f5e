"""The directory's audit trail: an append-only log of events (ACC-5).

Every supply, view, change, shield action, broker request, lifecycle job and
refusal the directory core performs is written here as an :class:`AuditEvent`.
Events carry **identifiers and codes only**: a directory identifier, a
supplier ID, a user ID, a batch ID, an action name, a code and a rule ID —
never a name, an address, a date of birth or any other child or parent data.
``refs`` holds further identifiers (a batch ID, a request ID), never content.

:class:`AuditSink` is the one interface the core writes to. The default,
:class:`MemoryAuditLog`, keeps events in memory in order and offers no way to
change or remove one. The look-up issue (issue 6) replaces it with a
tamper-evident Merkle-tree log behind the same protocol.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

__all__ = ["AuditEvent", "AuditSink", "MemoryAuditLog"]


@attrs.frozen(kw_only=True)
class AuditEvent:
    """One thing the directory did, by identifier only.

    ``action`` is a stable snake_case name (``supply_batch``,
    ``record_viewed``, ``shield_requested``, ``record_destroyed`` ...).
    ``actor`` is who caused it: a user ID, a supplier ID, or ``"directory"``
    for the lifecycle jobs; ``on_behalf_of`` the practitioner an authorised
    user acted for (mediated access, ACC-6). ``reason`` is the stated reason's
    code, never its free text (ACC-3). ``request_id`` ties the event to the
    HTTP request that caused it.
    """

    at: datetime
    action: str
    actor: str
    directory_id: str | None = None
    supplier_id: str | None = None
    code: str | None = None
    rule: str | None = None
    refs: tuple[str, ...] = ()
    on_behalf_of: str | None = None
    reason: str | None = None
    request_id: str | None = None


@runtime_checkable
class AuditSink(Protocol):
    """Where the directory writes its audit events (ACC-5)."""

    def record(self, event: AuditEvent) -> None:
        """Append ``event``. A durable log may fail (a full disk): let that
        propagate, so that nothing is served unaudited (ACC-5)."""
        ...


class MemoryAuditLog:
    """An append-only, in-memory audit log. Thread safe.

    There is no method to change, remove or reorder an event; :meth:`events`
    returns a snapshot tuple.
    """

    def __init__(self) -> None:
        self._events: list[AuditEvent] = []
        self._lock = threading.Lock()

    def record(self, event: AuditEvent) -> None:
        with self._lock:
            self._events.append(event)

    def events(self) -> tuple[AuditEvent, ...]:
        """Every event so far, oldest first."""
        with self._lock:
            return tuple(self._events)

    def __iter__(self) -> Iterator[AuditEvent]:
        return iter(self.events())

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)
