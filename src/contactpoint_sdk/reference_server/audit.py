"""The directory's audit trail: an append-only log of events (ACC-5).

Every supply, view, change, shield action, broker request, lifecycle job and
refusal the directory core performs is written here as an :class:`AuditEvent`.
Events carry **identifiers and codes only**: a directory identifier, a
supplier ID, a user ID, a batch ID, an action name, a code and a rule ID —
never a name, an address, a date of birth or any other child or parent data.
``refs`` holds further identifiers (a batch ID, a request ID), never content.

:class:`AuditSink` is the one interface the core writes to. The default for
an in-memory directory, :class:`MemoryAuditLog`, keeps events in memory in
order and offers no way to change or remove one. A file-backed directory
writes to the tamper-evident Merkle-tree log
(:class:`~contactpoint_sdk.reference_server.audit_log.MerkleAuditLog`)
behind the same protocol.

**Who did it, in which request.** :func:`audit_context` names, for
everything the directory audits while it is open, the HTTP request
(``request_id``) and the signed-in session: the user at the keyboard, the
practitioner they act for (mediated access, ACC-6) and ``session:<id>``.
:func:`in_context` applies it to an event: an event by the user or by the
practitioner gets ``actor`` = the user, ``on_behalf_of`` = the practitioner
and the session's refs, so every event of a mediated session names both.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

__all__ = [
    "AuditContext",
    "AuditEvent",
    "AuditSink",
    "MemoryAuditLog",
    "audit_context",
    "current_audit_context",
    "in_context",
]


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


# --- who, and in which request ------------------------------------------------------


@attrs.frozen(kw_only=True)
class AuditContext:
    """What every event audited now shares (module notes): the request, and
    the session's user (``actor``), practitioner (``on_behalf_of``) and
    ``refs``."""

    request_id: str | None = None
    actor: str | None = None
    on_behalf_of: str | None = None
    refs: tuple[str, ...] = ()


_CONTEXT: contextvars.ContextVar[AuditContext] = contextvars.ContextVar(
    "contactpoint_audit_context",
    default=AuditContext(),  # noqa: B039 - frozen, immutable
)


def current_audit_context() -> AuditContext:
    """The context open now (an empty one outside any)."""
    return _CONTEXT.get()


@contextmanager
def audit_context(
    *,
    request_id: str | None = None,
    actor: str | None = None,
    on_behalf_of: str | None = None,
    refs: tuple[str, ...] = (),
) -> Iterator[AuditContext]:
    """Open a context for the events audited inside it (module notes). Nests:
    what is not given is kept from the context outside."""
    outer = _CONTEXT.get()
    inner = AuditContext(
        request_id=request_id or outer.request_id,
        actor=actor or outer.actor,
        on_behalf_of=on_behalf_of if actor else outer.on_behalf_of,
        refs=refs if actor else outer.refs,
    )
    token = _CONTEXT.set(inner)
    try:
        yield inner
    finally:
        _CONTEXT.reset(token)


def in_context(event: AuditEvent) -> AuditEvent:
    """``event`` with the open context applied (module notes)."""
    context = _CONTEXT.get()
    request_id = event.request_id or context.request_id
    actor, on_behalf_of, refs = event.actor, event.on_behalf_of, event.refs
    if context.actor is not None and event.actor in (context.actor, context.on_behalf_of):
        actor = context.actor
        on_behalf_of = on_behalf_of or context.on_behalf_of
        refs = (*refs, *(r for r in context.refs if r not in refs))
    if (request_id, actor, on_behalf_of, refs) == (
        event.request_id,
        event.actor,
        event.on_behalf_of,
        event.refs,
    ):
        return event
    return attrs.evolve(
        event, request_id=request_id, actor=actor, on_behalf_of=on_behalf_of, refs=refs
    )
