"""The harness protocol: how the accreditation suite drives a vendor's system (SUP-3).

In **harness mode** a vendor writes a small adapter implementing
:class:`SupplierHarness` (and, for systems that embed look-up,
:class:`LookupHarness`). The suite plays the directory, in-process, and hands
the adapter *fixture events* — facts as they happen in the vendor's system
(a pupil joins, an involvement starts, a child dies). The adapter makes its
system react as it would in production, and the suite then checks what
arrived at the directory.

In **black-box mode** the same events are rendered as instructions for a
tester (:func:`describe_event`) and the suite waits for the system to supply
over HTTPS on loopback; any language can be tested that way.

Fixture events carry only synthetic people (PRIV rules). Each child has a
``key`` — the vendor system's own identifier for that child, stable across
events — so an adapter can find "the same pupil" again.

An adapter that has no such concept (a school system has no social-care
involvements) lists only what it supports in :attr:`SupplierHarness.capabilities`;
tests needing anything else are skipped, never failed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import date
from typing import Protocol, runtime_checkable

import attrs
import httpx

from contactpoint_sdk.models.enums import Gender, ServiceKind
from contactpoint_sdk.models.identifiers import NhsNumber, Uln, Upn
from contactpoint_sdk.models.record import (
    Address,
    Consent,
    Organisation,
    ParentCarer,
    Practitioner,
)
from contactpoint_sdk.supply.keys import PublicKey, SigningKey

__all__ = [
    "BecameLead",
    "CafCompleted",
    "Capability",
    "ChildDied",
    "DirectoryConnection",
    "FixtureChild",
    "FixtureEvent",
    "InvolvementEnded",
    "InvolvementStarted",
    "LookupConnection",
    "LookupHarness",
    "PupilChanged",
    "PupilJoined",
    "PupilLeft",
    "SupplierHarness",
    "UnsupportedEvent",
]


class Capability(enum.Enum):
    """What a system under test can do; tests needing more are skipped."""

    #: school roll: joiners, changes, leavers (a school MIS or its adapter).
    PUPILS = "pupils"
    #: involvements: start, lead professional, CAF, end (case management).
    INVOLVEMENTS = "involvements"
    #: sensitive involvements, supplied only with consent (SENS-2).
    SENSITIVE_INVOLVEMENTS = "sensitive_involvements"
    #: deaths reported (RET-3).
    DEATHS = "deaths"


class UnsupportedEvent(Exception):
    """An adapter raises this for an event its system cannot take; the test
    that sent it is skipped, not failed."""


@attrs.frozen(kw_only=True)
class FixtureChild:
    """A synthetic child as the vendor's system holds it."""

    #: the vendor system's own key for this child (stable across events).
    key: str
    given_name: str
    family_name: str
    gender: Gender
    date_of_birth: date
    address: Address
    upn: Upn | None = None
    uln: Uln | None = None
    nhs_number: NhsNumber | None = None
    parents: tuple[ParentCarer, ...] = ()


@attrs.frozen(kw_only=True)
class PupilJoined:
    """A pupil joins the school's roll (REC-1..5: supply the child)."""

    child: FixtureChild
    joined_on: date


@attrs.frozen(kw_only=True)
class PupilChanged:
    """A pupil's details change in the school's system; ``child`` holds the new
    details under the same ``key``."""

    child: FixtureChild
    changed_on: date


@attrs.frozen(kw_only=True)
class PupilLeft:
    """A pupil leaves the school (the school's involvement ends)."""

    child: FixtureChild
    left_on: date


@attrs.frozen(kw_only=True)
class InvolvementStarted:
    """A practitioner's service starts working with a child.

    ``key`` is the vendor's own reference for the involvement. A sensitive
    ``service`` (SENS-1) comes with ``consent`` when the child or parent gave
    it (SENS-2); without consent the system must not supply it at all.
    """

    child: FixtureChild
    key: str
    service: ServiceKind
    organisation: Organisation
    practitioner: Practitioner | None
    started_on: date
    consent: Consent | None = None


@attrs.frozen(kw_only=True)
class BecameLead:
    """The involvement's practitioner becomes the lead professional (REC-6)."""

    child: FixtureChild
    key: str
    on: date


@attrs.frozen(kw_only=True)
class CafCompleted:
    """A common assessment (CAF) is completed within the involvement (REC-6)."""

    child: FixtureChild
    key: str
    on: date


@attrs.frozen(kw_only=True)
class InvolvementEnded:
    """The involvement ends."""

    child: FixtureChild
    key: str
    ended_on: date


@attrs.frozen(kw_only=True)
class ChildDied:
    """The system learns that the child has died (RET-3)."""

    child: FixtureChild
    died_on: date


FixtureEvent = (
    PupilJoined
    | PupilChanged
    | PupilLeft
    | InvolvementStarted
    | BecameLead
    | CafCompleted
    | InvolvementEnded
    | ChildDied
)


@attrs.frozen(kw_only=True)
class DirectoryConnection:
    """Everything a system needs to supply to the suite's directory.

    ``transport`` is set in harness mode (the in-process directory: pass it
    to ``SupplyClient(transport=...)``) and ``None`` in black-box mode, where
    ``base_url`` is the loopback HTTPS address and ``ca_certificate`` the PEM
    the system must trust.
    """

    base_url: str
    supplier_id: str
    agreement_id: str
    signing_key: SigningKey = attrs.field(repr=False)
    directory_key: PublicKey
    transport: httpx.BaseTransport | None = None
    ca_certificate: str | None = None
    #: the suite's clock, for systems that stamp batches (harness mode only).
    clock: object | None = None


@runtime_checkable
class SupplierHarness(Protocol):
    """A vendor's supplying system, as the suite drives it (harness mode)."""

    #: the system under test's name and version, as the signed result states them.
    name: str
    version: str
    capabilities: frozenset[Capability]

    def connect(self, connection: DirectoryConnection) -> None:
        """Point the system at the suite's directory (called once per test)."""
        ...

    def handle(self, event: FixtureEvent) -> None:
        """Apply ``event`` in the system as it would happen in production
        (raise :class:`UnsupportedEvent` if the system cannot)."""
        ...

    def flush(self) -> None:
        """Let the system send everything it has to send, retrying as it
        would in production, and return when it is done or has given up."""
        ...

    def close(self) -> None:
        """Release what :meth:`connect` took (called once per test)."""
        ...


@attrs.frozen(kw_only=True)
class LookupConnection:
    """Everything a look-up-embedding system needs to sign in to the suite's
    directory as one user."""

    base_url: str
    username: str
    password: str = attrs.field(repr=False)
    pin: str = attrs.field(repr=False)
    token_secret: bytes = attrs.field(repr=False)
    transport: httpx.BaseTransport | None = None
    clock: object | None = None


@runtime_checkable
class LookupHarness(Protocol):
    """A vendor's system that embeds look-up, as the suite drives it."""

    name: str
    version: str

    def connect(self, connection: LookupConnection) -> None:
        """Sign the system's user in to the suite's directory."""
        ...

    def find_child(
        self, *, family_name: str, given_name: str | None, date_of_birth: date
    ) -> Mapping[str, object]:
        """Search as the system's user would and open the first match,
        giving the reason the system's user would give; return what the
        system shows its user, as a plain mapping of field to value."""
        ...

    def end_session(self) -> None:
        """Sign out, as the user closing the system would."""
        ...

    def close(self) -> None:
        """Release everything."""
        ...
