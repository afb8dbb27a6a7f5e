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

**Look-ups in a process of their own** (issue 10). One process applies
supply to a directory file (``ReferenceDirectory(path=...)``: it creates the
file, its keys and its audit log, migrates the schema, keeps the matcher's
index); another serves look-ups from the same file at the same time
(:meth:`ReferenceDirectory.open_for_lookups`), so a look-up never waits for
the supply process's interpreter, only for SQLite (WAL: readers never wait
for the writer). The look-up process:

- reads the keys the supply process wrote (never makes new ones) and
  refuses a file that is not a directory yet, or whose schema the supply
  process has not brought up to date (it never migrates);
- serves sign-in, sessions, search, open and reading the archive, and
  nothing else: supply, management and the test controls are refused
  (HTTP 409 ``lookups_only``, :class:`~contactpoint_sdk.errors.ConfigurationError`
  in Python), and its connection is not authorised to write any table but
  the users', the sessions' and the trawling alerts' queue;
- is the one process serving sessions: it holds the database's sessions
  claim (:class:`~.users.FileClaim`), keeps each session's last use in
  memory and writes it behind on a thread of its own; while it runs, the
  supply process refuses sessions (``sessions_served_elsewhere``), and a
  second look-up process on the same file is refused;
- audits to a Merkle-tree log of its own (:func:`lookups_audit_path_for`:
  ``directory.lookups.audit.db`` beside ``directory.db``), claimed for as
  long as it is open, so no two processes ever append to one log; both
  logs' tree heads are signed with the directory's one audit key.

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
import json
import secrets
import sqlite3
from contextlib import suppress
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import attrs

from contactpoint_sdk.clock import MovableClock
from contactpoint_sdk.errors import ConfigurationError
from contactpoint_sdk.lookup import AsyncLookupClient, LookupClient
from contactpoint_sdk.policy.eligibility import UserAccount
from contactpoint_sdk.policy.settings import PolicySettings
from contactpoint_sdk.policy.viewer import Role
from contactpoint_sdk.reference_server.app import LOOKUPS_ONLY, create_app
from contactpoint_sdk.reference_server.audit import AuditEvent, AuditSink, in_context
from contactpoint_sdk.reference_server.audit_log import MerkleAuditLog
from contactpoint_sdk.reference_server.faults import FaultInjector
from contactpoint_sdk.reference_server.matching import StrongIdentifierMatcher
from contactpoint_sdk.reference_server.serve import LoopbackServer
from contactpoint_sdk.reference_server.service import (
    _AUDIT_KEY_META,  # the keys' places in meta: written by the supply process
    _KEYS_META,
    REFERENCE_POLICY,
    DirectoryService,
    JobReport,
    SupplyAgreement,
    audit_path_for,
)
from contactpoint_sdk.reference_server.store import SqliteStore
from contactpoint_sdk.reference_server.transport import AsyncInProcessTransport, InProcessTransport
from contactpoint_sdk.reference_server.users import (
    _FLUSH_SECONDS,
    TOTP_PERIOD_SECONDS,
    FileClaim,
    UserDirectory,
    sessions_claim_path,
    totp_code,
    totp_step,
)
from contactpoint_sdk.supply.client import AsyncSupplyClient, SupplyClient
from contactpoint_sdk.supply.keys import EncryptionKey, KeyRing, SigningKey
from contactpoint_sdk.supply.retry import RetryPolicy

__all__ = [
    "IN_PROCESS_URL",
    "REFERENCE_POLICY",
    "ReferenceDirectory",
    "SupplierCredentials",
    "UserCredentials",
    "lookups_audit_path_for",
]

#: The base URL clients use with the in-process transports (never resolved).
IN_PROCESS_URL = "https://directory.invalid"

#: The youngest generation's threshold under ``tune_gc`` (Python's default: 700).
_GC_YOUNG_THRESHOLD = 50_000

#: A look-up user's organisation when none is given.
DEFAULT_ORGANISATION = "urn:100001"

#: The only tables a look-up process writes (module notes): its users, their
#: sessions, and the trawling alerts its searches raise (ACC-4).
LOOKUP_TABLES: Final = frozenset({"lookup_users", "lookup_sessions", "trawling_alerts"})

_WRITES: Final = frozenset({sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE})
_SCHEMA_CHANGES: Final = frozenset(
    {
        sqlite3.SQLITE_ALTER_TABLE,
        sqlite3.SQLITE_CREATE_INDEX,
        sqlite3.SQLITE_CREATE_TABLE,
        sqlite3.SQLITE_CREATE_TRIGGER,
        sqlite3.SQLITE_CREATE_VIEW,
        sqlite3.SQLITE_DROP_INDEX,
        sqlite3.SQLITE_DROP_TABLE,
        sqlite3.SQLITE_DROP_TRIGGER,
        sqlite3.SQLITE_DROP_VIEW,
    }
)


def lookups_audit_path_for(path: str | Path) -> Path:
    """Where a look-up process of the directory at ``path`` keeps its own
    audit log: beside it, ``.lookups.audit`` before the suffix
    (``directory.db`` -> ``directory.lookups.audit.db``); the supply
    process's is :func:`~.service.audit_path_for` (``directory.audit.db``)."""
    file = Path(path)
    return (
        file.with_suffix(".lookups.audit" + file.suffix)
        if file.suffix
        else file.with_name(file.name + ".lookups.audit")
    )


def _lookup_authorizer(
    action: int, first: str | None, second: str | None, database: str | None, trigger: str | None
) -> int:
    """The look-up process's connection may change only :data:`LOOKUP_TABLES`
    and no schema (``sqlite3`` authorizer: checked when a statement is
    prepared)."""
    if database not in (None, "main"):
        return sqlite3.SQLITE_OK  # temp: this connection's own
    if action in _WRITES and first not in LOOKUP_TABLES:
        return sqlite3.SQLITE_DENY
    if action in _SCHEMA_CHANGES:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _schema_of(db: sqlite3.Connection) -> set[tuple[str, str]]:
    """Every table and index, and every table's columns, as (kind, name)."""
    found: set[tuple[str, str]] = set()
    tables = db.execute(
        "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'index') "
        "AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    for kind, name in tables:
        found.add((kind, name))
        if kind == "table":
            for column in db.execute("SELECT name FROM pragma_table_info(?)", (name,)):
                found.add(("column", f"{name}.{column[0]}"))
    return found


def _ready_for_lookups(file: Path) -> dict[str, str]:
    """The meta of the directory file ``file``, read-only, after checking that
    the supply process made it and brought its schema up to date: every
    table, index, column and meta key a new directory has, it has."""
    if not file.is_file():
        raise ConfigurationError(
            f"{file.name} does not exist: open it for supply first (ReferenceDirectory(path=...))",
            code="not_a_directory",
        )
    fresh = DirectoryService.in_memory()
    try:
        if not isinstance(fresh.store, SqliteStore):  # pragma: no cover - in_memory's store
            raise TypeError("DirectoryService.in_memory() gave no SqliteStore")
        wanted = _schema_of(fresh.store.connection)
        wanted_meta = {r[0] for r in fresh.store.connection.execute("SELECT key FROM meta")}
    finally:
        fresh.close()
    try:
        db = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise ConfigurationError(f"{file.name} cannot be opened: {error}") from None
    try:
        have = _schema_of(db)
        meta = (
            {str(k): str(v) for k, v in db.execute("SELECT key, value FROM meta")}
            if ("table", "meta") in have
            else {}
        )
    except sqlite3.DatabaseError as error:
        raise ConfigurationError(
            f"{file.name} is not a directory database: {error}", code="not_a_directory"
        ) from None
    finally:
        db.close()
    if _KEYS_META not in meta or _AUDIT_KEY_META not in meta:
        raise ConfigurationError(
            f"{file.name} holds no directory keys: open it for supply first"
            " (ReferenceDirectory(path=...)); a look-up process never makes keys",
            code="not_a_directory",
        )
    missing = sorted(wanted - have) + sorted(("meta", k) for k in wanted_meta - meta.keys())
    if missing:
        named = ", ".join(f"{kind} {name}" for kind, name in missing[:5])
        raise ConfigurationError(
            f"{file.name} needs its schema brought up to date ({named}"
            f"{', ...' if len(missing) > 5 else ''}): open it for supply first;"
            " a look-up process never changes the schema",
            code="schema_out_of_date",
        )
    return meta


class _AuditedInContext:
    """The look-up process's user directory's audit path: each event in the
    request's context (session, acting for, request ID), to the process's own
    log, as the directory's other events go."""

    def __init__(self, audit: AuditSink) -> None:
        self._audit = audit

    def record(self, event: AuditEvent) -> None:
        self._audit.record(in_context(event))


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

    To serve look-ups from a file another process supplies to, open it with
    :meth:`open_for_lookups` instead (module notes).
    """

    def __init__(
        self,
        *,
        path: str | Path | None = None,
        start: datetime | None = None,
        settings: PolicySettings | None = None,
        tune_gc: bool = False,
    ) -> None:
        clock = MovableClock(start or datetime.now(UTC).replace(microsecond=0))
        chosen = settings if settings is not None else REFERENCE_POLICY
        service = DirectoryService.in_memory(clock=clock, path=path, settings=chosen)
        self._set_up(service, clock, chosen, tune_gc=tune_gc)

    @classmethod
    def open_for_lookups(
        cls,
        path: str | Path,
        *,
        start: datetime | None = None,
        settings: PolicySettings | None = None,
        audit_path: str | Path | None = None,
        audit_durable: bool = True,
        busy_timeout: float = 30.0,
        tune_gc: bool = False,
    ) -> Self:
        """Open the directory file ``path``, which another process supplies
        to (``ReferenceDirectory(path=path)``), to serve look-ups alongside:
        sign-in, sessions, search, open and reading the archive, all audited
        (module notes, "Look-ups in a process of their own").

        :param start: where this process's movable clock starts (default:
            now); each process has its own clock.
        :param settings: the policy (default :data:`REFERENCE_POLICY`); give
            both processes the same.
        :param audit_path: this process's own audit log (default
            :func:`lookups_audit_path_for`); never the supply process's.
        :param audit_durable: ``True`` (default): each audit append is synced
            to disk before the look-up answers (``synchronous=FULL``: it
            survives a power cut); ``False``: ``synchronous=NORMAL``
            (survives the process's crash, may lose the last appends on a
            power cut; no fsync on the look-up's path). Measured in
            ``bench/bench_lookup_under_supply.py --audit-sync``.
        :param busy_timeout: how long (seconds) this process's occasional
            write (a sign-in, a session's end, an alert's queue row, the
            session activity written behind) waits for the supply process's
            transaction before failing.
        :raises ConfigurationError: code ``not_a_directory`` (no such file, or
            no directory keys: open it for supply first),
            ``schema_out_of_date`` (the supply process has not opened it
            since the schema changed), ``claim_held`` (another process
            already serves look-ups from this file, or appends to that audit
            log), or the audit log named is the supply process's.
        """
        file = Path(path)
        meta = _ready_for_lookups(file)
        own_log = Path(audit_path) if audit_path is not None else lookups_audit_path_for(file)
        if own_log.resolve() in (file.resolve(), audit_path_for(file).resolve()):
            raise ConfigurationError(
                "a look-up process keeps an audit log of its own: never the directory's"
                " file nor the supply process's log"
            )
        if busy_timeout < 0:
            raise ValueError("busy_timeout must not be negative")
        claims: list[FileClaim] = []
        opened: list[Any] = []
        try:
            claims.append(
                FileClaim.take(sessions_claim_path(file), what=f"serving look-ups from {file.name}")
            )
            claims.append(
                FileClaim.take(
                    own_log.with_name(own_log.name + ".lock"),
                    what=f"appending to the audit log {own_log.name}",
                )
            )
            clock = MovableClock(start or datetime.now(UTC).replace(microsecond=0))
            chosen = settings if settings is not None else REFERENCE_POLICY
            store = SqliteStore(file)
            opened.append(store)
            store.connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            log = MerkleAuditLog(own_log, clock=clock, durable=audit_durable)
            opened.append(log)
            ring = KeyRing.for_encryption()
            for jwk in json.loads(meta[_KEYS_META]):
                ring.add(EncryptionKey.from_jwk(jwk))
            users = UserDirectory(
                store.connection,
                settings=chosen,
                audit=_AuditedInContext(log),
                lock=store.lock,
                reader=store.reading,
                claim=claims[0],
                write_behind=_FLUSH_SECONDS,
            )
            opened.append(users)
            service = DirectoryService(
                store=store,
                clock=clock,
                encryption_keys=ring,
                settings=chosen,
                # No matcher's index here: this process never supplies, and
                # the index's triggers belong to the supply process.
                matcher=StrongIdentifierMatcher(),
                audit=log,
                users=users,
                audit_signing_key=SigningKey.from_jwk(json.loads(meta[_AUDIT_KEY_META])),
                # Another process's supply holds the file's writer for whole
                # batches: an alert's row never waits for it on a look-up.
                alerts_behind=True,
            )
            store.connection.set_authorizer(_lookup_authorizer)
        except BaseException:
            for thing in reversed(opened):
                with suppress(Exception):
                    thing.close()
            for claim in claims:
                claim.release()
            raise
        directory = cls.__new__(cls)
        directory._set_up(service, clock, chosen, tune_gc=tune_gc, lookups_only=True)
        directory._claims = claims
        directory._own_log = log
        return directory

    def _set_up(
        self,
        service: DirectoryService,
        clock: MovableClock,
        settings: PolicySettings,
        *,
        tune_gc: bool,
        lookups_only: bool = False,
    ) -> None:
        self.clock = clock
        self.settings = settings
        self.service = service
        #: True when opened by :meth:`open_for_lookups`: this process serves
        #: look-ups only.
        self.lookups_only = lookups_only
        self.faults = FaultInjector()
        self.app = create_app(self.service, faults=self.faults, lookups_only=lookups_only)
        self._transports: list[InProcessTransport] = []
        self._closed = False
        self._last_sign_in: dict[str, int] = {}
        self._claims: list[FileClaim] = []
        self._own_log: MerkleAuditLog | None = None
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
        self._check_supplies("register a supplier")
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
        self._check_supplies("supply")
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
        self._check_supplies("supply")
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
        """Move the clock forward and run the lifecycle jobs (RET-1..RET-7).
        A look-up process runs no jobs: move its :attr:`clock` instead."""
        self._check_supplies("run the lifecycle jobs")
        self.clock.advance(by)
        return self.service.run_jobs()

    def advance_to(self, moment: datetime) -> JobReport:
        """Move the clock to ``moment`` and run the lifecycle jobs."""
        self._check_supplies("run the lifecycle jobs")
        self.clock.set(moment)
        return self.service.run_jobs()

    # --- life ----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the transports and close the store (a look-up process: also
        write its sessions' activity, close its audit log and give up its
        claims)."""
        if self._closed:
            return
        self._closed = True
        for transport in self._transports:
            transport.close()
        if self.lookups_only:
            with suppress(sqlite3.Error):
                self.service.users.close()
        self.service.close()
        if self._own_log is not None:
            self._own_log.close()
        for claim in self._claims:
            claim.release()
        if self._gc_threshold is not None:
            gc.set_threshold(*self._gc_threshold)
            gc.unfreeze()
            self._gc_threshold = None

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigurationError("this ReferenceDirectory is closed")

    def _check_supplies(self, what: str) -> None:
        if self.lookups_only:
            raise ConfigurationError(
                f"this process serves look-ups only: {what} in the process that supplies"
                " to the directory",
                code=LOOKUPS_ONLY,
            )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
