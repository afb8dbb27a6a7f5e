"""``ReferenceDirectory``: the whole reference directory in three lines.

::

    directory = ReferenceDirectory()                       # in-process, SQLite, movable clock
    school = directory.register_supplier("school-8012000", "Riverside Primary")
    with directory.supply_client(school) as client:
        result = client.supply(operations)                 # signed, sealed, one way

    teacher = directory.create_user("t-1", Role.HEAD_TEACHER, local_authority="801")
    with directory.lookup_client(teacher) as lookup:       # signed in: four credentials
        found = lookup.search(SearchCriteria(family_name="Hartley", date_of_birth=born))

One :class:`~contactpoint_sdk.reference_server.service.DirectoryService` (one
state) behind every way in: the in-process transports (no sockets), the
loopback HTTPS server (:meth:`serve`), and direct calls on :attr:`service` —
as moto keeps one state behind its mock and its server.

**Look-up users** (:meth:`ReferenceDirectory.create_user`) come back as
:class:`UserCredentials`: the four credentials, the token's seed included,
so a test or a demo computes the token's code (:meth:`UserCredentials.token`)
as an authenticator app would. One code signs in once: sign the same user in
again in another 30-second step (move the clock).

**Hashing cost.** The reference directory is a test double: unless given
``settings``, it hashes passwords and PINs with cheaper scrypt parameters
(:data:`REFERENCE_POLICY`: N = 2**12, r = 8, about 4 MiB and a few
milliseconds) than a deployment (:data:`~contactpoint_sdk.policy.settings.DEFAULT_POLICY`,
N = 2**17: 128 MiB, half a second), so suites that sign many users in stay
fast. Every other number is the default policy's. Pass
``settings=DEFAULT_POLICY`` to run at the real cost.
"""

from __future__ import annotations

import gc
import itertools
import secrets
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import attrs

from contactpoint_sdk.clock import MovableClock
from contactpoint_sdk.errors import ConfigurationError
from contactpoint_sdk.lookup import AsyncLookupClient, LookupClient
from contactpoint_sdk.policy.eligibility import UserAccount
from contactpoint_sdk.policy.settings import PolicySettings
from contactpoint_sdk.policy.viewer import Role
from contactpoint_sdk.reference_server.app import create_app
from contactpoint_sdk.reference_server.faults import FaultInjector
from contactpoint_sdk.reference_server.serve import LoopbackServer
from contactpoint_sdk.reference_server.service import (
    REFERENCE_POLICY,
    DirectoryService,
    JobReport,
    SupplyAgreement,
)
from contactpoint_sdk.reference_server.transport import AsyncInProcessTransport, InProcessTransport
from contactpoint_sdk.reference_server.users import TOTP_PERIOD_SECONDS, totp_code, totp_step
from contactpoint_sdk.supply.client import AsyncSupplyClient, SupplyClient
from contactpoint_sdk.supply.keys import SigningKey
from contactpoint_sdk.supply.retry import RetryPolicy

__all__ = [
    "IN_PROCESS_URL",
    "REFERENCE_POLICY",
    "ReferenceDirectory",
    "SupplierCredentials",
    "UserCredentials",
]

#: The base URL clients use with the in-process transports (never resolved).
IN_PROCESS_URL = "https://directory.invalid"

#: The youngest generation's threshold under ``tune_gc`` (Python's default: 700).
_GC_YOUNG_THRESHOLD = 50_000

#: A look-up user's organisation when none is given.
DEFAULT_ORGANISATION = "urn:100001"


@attrs.frozen(kw_only=True)
class SupplierCredentials:
    """What a registered supplier needs to supply: its ID, the agreement it
    supplies under, and its signing key (which never leaves the supplier)."""

    supplier_id: str
    agreement_id: str
    signing_key: SigningKey = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class UserCredentials:
    """A look-up user's four credentials, as the reference directory enrolled
    them (tests and demos only: a real user's never leave them).

    ``token_secret`` is the security token's seed (also in
    ``provisioning_uri``, ``otpauth://totp/...``); :meth:`token` is the code
    an authenticator would show. None of the secrets is in ``repr``.
    """

    user_id: str
    username: str
    password: str = attrs.field(repr=False)
    pin: str = attrs.field(repr=False)
    provisioning_uri: str = attrs.field(repr=False)
    token_secret: bytes = attrs.field(repr=False)

    def token(self, at: datetime) -> str:
        """The token's 6-digit code at ``at`` (RFC 6238)."""
        return totp_code(self.token_secret, at)

    def sign_in_args(self, at: datetime) -> tuple[str, str, str, str]:
        """``(username, password, pin, token)`` at ``at``, for ``sign_in``."""
        return self.username, self.password, self.pin, self.token(at)


def _new_pin() -> str:
    """Six random digits, not one repeated digit nor a consecutive run."""
    while True:
        pin = f"{secrets.randbelow(10**6):06d}"
        steps = {int(b) - int(a) for a, b in itertools.pairwise(pin)}
        if not (steps <= {0} or steps in ({1}, {-1})):
            return pin


class ReferenceDirectory:
    """The reference directory, in-process, ready to supply to and look up in.

    :param path: a SQLite file to keep the directory in (default: memory).
        A file directory keeps its tamper-evident audit log beside it
        (``directory.audit.db`` for ``directory.db``).
    :param start: where the directory's clock starts (default: now). The
        clock only moves when you move it (:meth:`advance`), so tests are
        repeatable.
    :param settings: the policy (default :data:`REFERENCE_POLICY`: module notes).
    :param tune_gc: opt in to the server-process tuning of Python's garbage
        collector (off by default: it is process-wide, and a library does not
        change it unasked). When on, the objects made at start-up are frozen
        out of collection (``gc.freeze``) and the youngest generation is
        collected every 50,000 allocations instead of 700, so decoding a
        supply batch (hundreds of thousands of short-lived, acyclic objects)
        does not walk the same objects again and again; :meth:`close`
        restores both. Nothing is left uncollected: the thresholds only
        space the collections out.
    """

    def __init__(
        self,
        *,
        path: str | Path | None = None,
        start: datetime | None = None,
        settings: PolicySettings | None = None,
        tune_gc: bool = False,
    ) -> None:
        self.clock = MovableClock(start or datetime.now(UTC).replace(microsecond=0))
        self.settings = settings if settings is not None else REFERENCE_POLICY
        self.service = DirectoryService.in_memory(
            clock=self.clock, path=path, settings=self.settings
        )
        self.faults = FaultInjector()
        self.app = create_app(self.service, faults=self.faults)
        self._transports: list[InProcessTransport] = []
        self._closed = False
        self._last_sign_in: dict[str, int] = {}
        self._gc_threshold: tuple[int, int, int] | None = None
        if tune_gc:
            self._gc_threshold = gc.get_threshold()
            gc.collect()
            gc.freeze()
            gc.set_threshold(_GC_YOUNG_THRESHOLD, *self._gc_threshold[1:])

    # --- suppliers ---------------------------------------------------------------

    def register_supplier(
        self,
        supplier_id: str,
        name: str,
        *,
        local_authority: str | None = None,
        agreement: SupplyAgreement | None = None,
        signing_key: SigningKey | None = None,
    ) -> SupplierCredentials:
        """Accredit a supplier (SUP-3) under one agreement (SUP-4; by default
        every operation and service), generating its signing key unless given."""
        key = signing_key or SigningKey.generate()
        terms = agreement or SupplyAgreement(agreement_id=f"{supplier_id}-agreement")
        self.service.register_supplier(
            supplier_id,
            name,
            signing_keys=[key.public_key()],
            agreements=[terms],
            local_authority=local_authority,
        )
        return SupplierCredentials(
            supplier_id=supplier_id, agreement_id=terms.agreement_id, signing_key=key
        )

    # --- look-up users (ACC-1, ACC-6) ------------------------------------------------

    def create_user(
        self,
        user_id: str,
        role: Role,
        *,
        local_authority: str,
        organisation_key: str = DEFAULT_ORGANISATION,
        username: str | None = None,
        password: str | None = None,
        pin: str | None = None,
        nominated: bool = True,
        trained_on: date | None = None,
        disclosure_issued_on: date | None = None,
    ) -> UserCredentials:
        """Enrol a look-up user with four credentials (ACC-1): the username
        (default: the user ID, lower-cased), a password and a PIN (random
        unless given) and a security token; trained and disclosed a month
        ago unless given (pass old dates to test a lapse). Returns every
        credential, the token's seed included."""
        recent = self.clock.today() - timedelta(days=30)
        name = username or user_id.lower()
        chosen_password = password or secrets.token_urlsafe(18)
        chosen_pin = pin or _new_pin()
        enrolment = self.service.create_user(
            user_id=user_id,
            username=name,
            password=chosen_password,
            pin=chosen_pin,
            role=role,
            organisation_key=organisation_key,
            local_authority=local_authority,
            nominated=nominated,
            trained_on=trained_on or recent,
            disclosure_issued_on=disclosure_issued_on or recent,
        )
        return UserCredentials(
            user_id=enrolment.user_id,
            username=enrolment.username,
            password=chosen_password,
            pin=chosen_pin,
            provisioning_uri=enrolment.provisioning_uri,
            token_secret=enrolment.token_secret,
        )

    def create_practitioner(
        self,
        user_id: str,
        role: Role,
        *,
        local_authority: str,
        organisation_key: str = DEFAULT_ORGANISATION,
        nominated: bool = True,
        trained_on: date | None = None,
        disclosure_issued_on: date | None = None,
    ) -> UserAccount:
        """Enrol a practitioner without IT, whom a colleague in the same
        organisation may act for (ACC-6)."""
        recent = self.clock.today() - timedelta(days=30)
        return self.service.create_practitioner(
            user_id=user_id,
            role=role,
            organisation_key=organisation_key,
            local_authority=local_authority,
            nominated=nominated,
            trained_on=trained_on or recent,
            disclosure_issued_on=disclosure_issued_on or recent,
        )

    def lookup_client(self, user: UserCredentials | None = None, **kwargs: Any) -> LookupClient:
        """A :class:`~contactpoint_sdk.lookup.LookupClient`, in-process, on
        the directory's clock; signed in as ``user`` when given (with the
        token's code now). Keyword arguments go to the client (``retry``,
        ``timeout`` ...)."""
        client = LookupClient(
            base_url=IN_PROCESS_URL, transport=self.transport(), clock=self.clock, **kwargs
        )
        if user is not None:
            try:
                client.sign_in(*self._sign_in_args(user))
            except BaseException:
                client.close()
                raise
        return client

    def async_lookup_client(self, **kwargs: Any) -> AsyncLookupClient:
        """An :class:`~contactpoint_sdk.lookup.AsyncLookupClient`, in-process,
        on the directory's clock, not signed in: ``await
        client.sign_in(*user.sign_in_args(directory.clock.now()))``."""
        return AsyncLookupClient(
            base_url=IN_PROCESS_URL, transport=self.async_transport(), clock=self.clock, **kwargs
        )

    def _sign_in_args(self, user: UserCredentials) -> tuple[str, str, str, str]:
        now = self.clock.now()
        step = totp_step(now)
        if self._last_sign_in.get(user.user_id) == step:
            raise ConfigurationError(
                f"{user.user_id} signed in already in this {TOTP_PERIOD_SECONDS}-second step: "
                "the token's code would be replayed (RFC 6238); advance the clock first"
            )
        self._last_sign_in[user.user_id] = step
        return user.sign_in_args(now)

    # --- ways in -------------------------------------------------------------------

    def transport(self) -> InProcessTransport:
        """A new sync in-process transport over this directory (no sockets)."""
        self._check_open()
        transport = InProcessTransport(self.app)
        self._transports.append(transport)
        return transport

    def async_transport(self) -> AsyncInProcessTransport:
        """A new async in-process transport over this directory."""
        self._check_open()
        return AsyncInProcessTransport(self.app)

    def supply_client(
        self, supplier: SupplierCredentials, *, retry: RetryPolicy | None = None, **kwargs: Any
    ) -> SupplyClient:
        """A :class:`SupplyClient` for ``supplier``, in-process, on the directory's clock."""
        return SupplyClient(
            base_url=IN_PROCESS_URL,
            supplier_id=supplier.supplier_id,
            agreement_id=supplier.agreement_id,
            signing_key=supplier.signing_key,
            clock=self.clock,
            retry=retry,
            transport=self.transport(),
            **kwargs,
        )

    def async_supply_client(
        self, supplier: SupplierCredentials, *, retry: RetryPolicy | None = None, **kwargs: Any
    ) -> AsyncSupplyClient:
        """An :class:`AsyncSupplyClient` for ``supplier``, in-process."""
        return AsyncSupplyClient(
            base_url=IN_PROCESS_URL,
            supplier_id=supplier.supplier_id,
            agreement_id=supplier.agreement_id,
            signing_key=supplier.signing_key,
            clock=self.clock,
            retry=retry,
            transport=self.async_transport(),
            **kwargs,
        )

    def serve(self, **kwargs: Any) -> LoopbackServer:
        """The same directory over HTTPS on loopback; use it as a context manager.
        Keyword arguments go to :class:`LoopbackServer` (``port``,
        ``require_client_cert``, ...)."""
        self._check_open()
        return LoopbackServer(app=self.app, **kwargs)

    # --- time ------------------------------------------------------------------------

    def advance(self, by: timedelta) -> JobReport:
        """Move the clock forward and run the lifecycle jobs (RET-1..RET-7)."""
        self.clock.advance(by)
        return self.service.run_jobs()

    def advance_to(self, moment: datetime) -> JobReport:
        """Move the clock to ``moment`` and run the lifecycle jobs."""
        self.clock.set(moment)
        return self.service.run_jobs()

    # --- life ----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the transports and close the store."""
        if self._closed:
            return
        self._closed = True
        for transport in self._transports:
            transport.close()
        self.service.close()
        if self._gc_threshold is not None:
            gc.set_threshold(*self._gc_threshold)
            gc.unfreeze()
            self._gc_threshold = None

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigurationError("this ReferenceDirectory is closed")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
