"""The reference directory's users: enrolment, four-credential sign-in, sessions.

ACC-1: only authorised users (an eligible role, nominated, trained, a
disclosure under three years old) holding all four credentials — username,
password, PIN and security token — may sign in; a lapsed disclosure or
training blocks access. ACC-6: an authorised user may act for a practitioner
without IT, and the audit records both. Every number is a *(policy)* setting
of :class:`~contactpoint_sdk.policy.settings.PolicySettings` (``docs/lookup.md``).

:class:`UserDirectory` keeps its own tables (``lookup_users``,
``lookup_sessions``) in a ``sqlite3`` connection it is given, so the
directory can keep them in its store's database; the schema is created on
open. Every change runs in a SAVEPOINT, which works whether or not the
connection is already in a transaction. Pass the store's (re-entrant) lock as
``lock`` when the connection is shared between threads.

Credentials
-----------
- **Password** and **PIN**: scrypt (RFC 7914, memory-hard, standard library
  :func:`hashlib.scrypt`), each with its own random 16-byte salt, stored as
  ``scrypt$<log2 N>$<r>$<p>$<salt>$<hash>`` (base64). Parameters come from
  ``password_scrypt_log2_n`` / ``_r`` / ``_p`` (default N = 2**17, r = 8,
  p = 1: OWASP's minimum); they are stored with each hash, so raising them
  re-hashes a user's secrets at their next successful sign-in. Comparison is
  constant-time.
- **Security token**: TOTP (RFC 6238) with HMAC-SHA-1, 6 digits, 30-second
  steps (:data:`TOTP_DIGITS`, :data:`TOTP_PERIOD_SECONDS`) through
  :class:`cryptography.hazmat.primitives.twofactor.totp.TOTP`, enrolled by an
  ``otpauth://totp/...`` provisioning URI. A code ``totp_drift_steps`` steps
  early or late is accepted; once a code is accepted, neither it nor any code
  of an earlier step is accepted again (RFC 6238 section 5.2). The 160-bit
  seed must be kept readable to check codes: the reference directory keeps it
  in its database; a real directory seals it in a key store or HSM.

Sign-in (:meth:`UserDirectory.sign_in`)
---------------------------------------
All four credentials are checked, every time, in the same amount of work
(both hashes are computed even for an unknown username, against a dummy
hash). Any credential missing or wrong raises
:class:`~contactpoint_sdk.errors.SignInFailed`: one code
(``sign_in_failed``) and one message for the caller, whatever was wrong; the
precise reason (``password_wrong``, ``token_reused``, ``unknown_user`` ...)
is in its ``audit_code`` and in the audit event ``sign_in_failed``, and
must never reach the caller.

``sign_in_max_failures`` consecutive failures lock the account for
``sign_in_lockout_minutes``. While locked, every sign-in is refused the same
way (audit code ``account_locked``), even with the right credentials, and no
code is consumed; a locked sign-in does not extend the lock. When the lock
has passed, the count starts again. An administrator may :meth:`unlock`.

Only when all four credentials are right is eligibility checked
(:func:`~contactpoint_sdk.policy.eligibility.require_eligible`): a lapsed
disclosure or training, a suspension, a missing nomination refuse with
:class:`~contactpoint_sdk.errors.NotEligible` carrying the reason,
which is not a secret from the account's owner — and only the owner, who has
just proved all four credentials, learns it.

**Do not call** :meth:`UserDirectory.sign_in` **inside an outer transaction
that rolls back on an exception**: the failure count is written before
:class:`SignInFailed` is raised, and a rollback would undo it (and the
lock-out with it).

Sessions
--------
A session token is ``secrets.token_urlsafe(32)`` (256 bits), returned once;
the directory stores only its SHA-256 (a fast hash is enough for a random
256-bit value, and lets a token be found in one indexed look-up). A session
ends when unused for ``session_idle_minutes`` (idle expiry), at
``session_absolute_hours`` after sign-in (absolute expiry), at
:meth:`sign_out`, or when the account stops being eligible (checked at every
use). :attr:`Session.session_id` is a separate random identifier for the
audit log.

Session activity
----------------
Each use of a session restarts its idle time. Given ``reader`` (the store's
:meth:`~.store.SqliteStore.reading`), :meth:`UserDirectory.session` reads the
session and the user on a read-only connection and keeps the time of use in
memory instead of writing it, so a look-up never waits for the single
writer (a supply batch's transaction holds it for about half a second). The
idle check reads the time kept in memory first, so expiry stays exact. The
times are written behind: at most every ``_FLUSH_SECONDS`` seconds when the
connection is free at once, by :meth:`UserDirectory.flush_activity` (the
directory calls it at close) and before :meth:`UserDirectory.purge_sessions`.
Anything to be written or refused (an unknown token, an expiry, an account
no longer eligible, a mediation refused) goes the locked way, as before. If
the process dies, uses not yet written are lost: a session then expires
*sooner* than it would have, never later. The times kept in memory are this
process's: a second process serving sessions from the same database would
see older ones (and could end a session sooner), so give it no ``reader``.

Sessions served by one process of several
-----------------------------------------
Two processes may share the database (issue 10: supply applied by one, look-ups
served by another; ``ReferenceDirectory.open_for_lookups``). Then exactly one
of them serves sessions, the one holding the database's **sessions claim**
(:class:`FileClaim` on :func:`sessions_claim_path`, an exclusive lock the
operating system drops when the process dies). Given the claim
(``claim=``), a user directory keeps session activity in memory as above and,
given ``write_behind`` (seconds; the look-up process gives ``_FLUSH_SECONDS``),
writes it on a thread of its own at that interval (waiting for the other
process's writer there, never on a look-up's path). One process serving the
sessions also keeps the anti-trawling counters (ACC-4, in memory) whole.
Any other user directory on the same database file, while the claim is held
elsewhere, refuses to sign in or to serve a session
(:class:`~contactpoint_sdk.errors.ConfigurationError`, code
``sessions_served_elsewhere``: it would read times the claimant has not yet
written, and could end a session sooner), and :meth:`~UserDirectory.purge_sessions`
there deletes only sessions past their absolute expiry (``started_at`` is
never written behind). Every change begins with ``BEGIN IMMEDIATE`` when no
transaction is open: a change that read first and then wrote would fail at
once (``SQLITE_BUSY``, no waiting) had the other process committed meanwhile.

Mediated access (ACC-6)
-----------------------
:meth:`UserDirectory.act_for` lets a signed-in user act for a practitioner
without IT: a colleague in the same organisation (same
``organisation_key``), eligible in every way but credentials (role,
nomination, training, disclosure, not suspended), whose role is not one of
``unmediated_roles`` (by default the management team and archive reviewers,
whose wider views must be used by the person themselves). The session then
shows records as the practitioner would see them
(:meth:`Session.viewer`); rate limits and alerts stay with the user at the
keyboard; and every audit event carries both:
``actor`` = :attr:`Session.user_id` and ``refs`` = :attr:`Session.audit_refs`
(``session:<id>``, ``on_behalf_of:<practitioner>``). Practitioners who never
sign in are enrolled with :meth:`UserDirectory.create_practitioner`.

Audit events (:class:`~contactpoint_sdk.reference_server.audit.AuditEvent`,
identifiers and codes only): ``user_enrolled``, ``sign_in``,
``sign_in_failed`` (code: the audit code), ``account_locked``,
``sign_in_refused`` (code: the eligibility code), ``session_ended`` (code:
``signed_out``, ``idle``, ``absolute`` or the eligibility code),
``mediation_started``, ``mediation_ended``, ``mediation_refused``,
``account_unlocked``, ``account_suspended``, ``account_reinstated``,
``account_renewed``, ``token_reset``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import os
import re
import secrets
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Self

import attrs
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from contactpoint_sdk.clock import uk_date
from contactpoint_sdk.errors import (
    ConfigurationError,
    MediationRefused,
    NotEligible,
    PolicyRefusal,
    Problem,
    SessionExpired,
    SessionInvalid,
    SignInFailed,
    UnknownUser,
    UserExists,
    ValidationError,
)
from contactpoint_sdk.policy.eligibility import Credential, UserAccount, require_eligible
from contactpoint_sdk.policy.settings import DEFAULT_POLICY, PolicySettings
from contactpoint_sdk.policy.viewer import Purpose, Role, Viewer
from contactpoint_sdk.reference_server.audit import AuditEvent, AuditSink, MemoryAuditLog

__all__ = [
    "TOTP_DIGITS",
    "TOTP_PERIOD_SECONDS",
    "AccountStatus",
    "Enrolment",
    "FileClaim",
    "Session",
    "UserDirectory",
    "hash_secret",
    "needs_rehash",
    "sessions_claim_path",
    "totp_code",
    "totp_step",
    "verify_secret",
]

#: RFC 6238 defaults, which every authenticator app supports.
TOTP_DIGITS = 6
TOTP_PERIOD_SECONDS = 30
_TOTP_SECRET_BYTES = 20  # 160 bits, as RFC 4226 recommends
_SALT_BYTES = 16
_HASH_BYTES = 32

#: Session activity kept in memory is written at most this often (seconds),
#: and only when the connection is free at once (module notes).
_FLUSH_SECONDS = 30.0

_USER_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._@-]{2,63}")
_LA_RE = re.compile(r"\d{3}")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS lookup_users (
        user_id TEXT PRIMARY KEY,
        username TEXT UNIQUE,
        role TEXT NOT NULL,
        organisation_key TEXT NOT NULL,
        local_authority TEXT NOT NULL,
        nominated INTEGER NOT NULL,
        trained_on TEXT,
        disclosure_issued_on TEXT,
        suspended INTEGER NOT NULL DEFAULT 0,
        password_hash TEXT,
        pin_hash TEXT,
        totp_secret BLOB,
        totp_last_step INTEGER,
        failures INTEGER NOT NULL DEFAULT 0,
        locked_until TEXT,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS lookup_sessions (
        token_hash TEXT PRIMARY KEY,
        session_id TEXT NOT NULL UNIQUE,
        user_id TEXT NOT NULL REFERENCES lookup_users(user_id),
        on_behalf_of TEXT REFERENCES lookup_users(user_id),
        started_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS lookup_sessions_user ON lookup_sessions(user_id)",
)

_SESSION_SELECT = (
    "SELECT token_hash, session_id, user_id, on_behalf_of, started_at, last_seen_at "
    "FROM lookup_sessions WHERE "
)
_SESSION_BY = {
    "token_hash": _SESSION_SELECT + "token_hash = ?",
    "session_id": _SESSION_SELECT + "session_id = ?",
}

_USER_COLUMNS = (
    "user_id, username, role, organisation_key, local_authority, nominated, trained_on, "
    "disclosure_issued_on, suspended, password_hash, pin_hash, totp_secret, totp_last_step, "
    "failures, locked_until"
)


# --- secrets at rest ------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(secret: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    n = 1 << log2_n
    return hashlib.scrypt(
        secret.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=128 * r * (n + p + 2) + (1 << 20),
        dklen=_HASH_BYTES,
    )


def hash_secret(secret: str, settings: PolicySettings = DEFAULT_POLICY) -> str:
    """``secret`` hashed with scrypt and a fresh salt, parameters included."""
    salt = secrets.token_bytes(_SALT_BYTES)
    log2_n, r, p = (
        settings.password_scrypt_log2_n,
        settings.password_scrypt_r,
        settings.password_scrypt_p,
    )
    digest = _scrypt(secret, salt, log2_n, r, p)
    return f"scrypt${log2_n}${r}${p}${_b64(salt)}${_b64(digest)}"


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes]:
    scheme, log2_n, r, p, salt, digest = stored.split("$")
    if scheme != "scrypt":
        raise ValueError("not an scrypt hash")
    return int(log2_n), int(r), int(p), base64.b64decode(salt), base64.b64decode(digest)


def verify_secret(secret: str, stored: str) -> bool:
    """Whether ``secret`` matches ``stored`` (constant-time comparison)."""
    log2_n, r, p, salt, digest = _parse(stored)
    return hmac.compare_digest(_scrypt(secret, salt, log2_n, r, p), digest)


def needs_rehash(stored: str, settings: PolicySettings = DEFAULT_POLICY) -> bool:
    """Whether ``stored`` was made with other parameters than ``settings``'."""
    log2_n, r, p, _, _ = _parse(stored)
    return (log2_n, r, p) != (
        settings.password_scrypt_log2_n,
        settings.password_scrypt_r,
        settings.password_scrypt_p,
    )


# --- the security token (RFC 6238) ---------------------------------------------------


def _totp(secret: bytes, digits: int) -> TOTP:
    return TOTP(secret, digits, SHA1(), TOTP_PERIOD_SECONDS, enforce_key_length=True)  # noqa: S303 - RFC 6238 TOTP uses HMAC-SHA-1


def totp_step(at: datetime) -> int:
    """The RFC 6238 time step ``T`` of an aware instant (30-second steps since 1970)."""
    return int(at.timestamp()) // TOTP_PERIOD_SECONDS


def totp_code(secret: bytes, at: datetime | int, *, digits: int = TOTP_DIGITS) -> str:
    """The TOTP code of ``secret`` at ``at`` (an aware instant, or Unix seconds)."""
    seconds = int(at.timestamp()) if isinstance(at, datetime) else at
    return _totp(secret, digits).generate(seconds).decode("ascii")


def _match_totp(secret: bytes, token: str, now: datetime, drift: int) -> int | None:
    """The latest step within ``drift`` of ``now`` whose code is ``token``."""
    if not (len(token) == TOTP_DIGITS and token.isascii() and token.isdigit()):
        return None
    step = totp_step(now)
    found = None
    for candidate in range(step - drift, step + drift + 1):
        code = totp_code(secret, candidate * TOTP_PERIOD_SECONDS)
        if hmac.compare_digest(code.encode(), token.encode()):
            found = candidate
    return found


# --- one process serves sessions (module notes) ------------------------------------

#: The code of the refusal to serve sessions another process serves.
SESSIONS_SERVED_ELSEWHERE = "sessions_served_elsewhere"

if sys.platform == "win32":  # pragma: no cover - POSIX is tested
    import msvcrt

    def _lock(fd: int, *, exclusive: bool) -> None:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fd: int, *, exclusive: bool) -> None:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def sessions_claim_path(database: str | os.PathLike[str]) -> Path:
    """The sessions claim of the directory database ``database``: beside it,
    ``.sessions.lock`` for the suffix (``directory.db`` ->
    ``directory.sessions.lock``)."""
    file = Path(database)
    return file.with_name(f"{file.stem if file.suffix else file.name}.sessions.lock")


class FileClaim:
    """An exclusive claim on a file, across processes and within one: an
    advisory lock (``flock``; ``msvcrt.locking`` on Windows) held on the
    file from :meth:`take` to :meth:`release`, which the operating system
    drops when the holder's process ends, however it ends (a stale claim
    never blocks a restart). The file itself holds nothing and is left in
    place. A file of its own, never a SQLite database: closing another
    descriptor of a database file would drop SQLite's own locks on it.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def take(cls, path: str | os.PathLike[str], *, what: str = "this file") -> FileClaim:
        """Claim ``path`` (created if missing).

        :raises ConfigurationError: code ``claim_held``: another holder has
            it (another process, or another claim in this one); ``what``
            names the claim in the message.
        """
        file = Path(path)
        try:
            fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise ConfigurationError(f"cannot claim {what}: {error.strerror}") from None
        try:
            _lock(fd, exclusive=True)
        except OSError:
            os.close(fd)
            raise ConfigurationError(
                f"{what} is claimed by another process (or another claim in this one)",
                code="claim_held",
            ) from None
        return cls(file, fd)

    @staticmethod
    def held_elsewhere(path: str | os.PathLike[str]) -> bool:
        """Whether someone holds a claim on ``path`` now (never waits)."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return False  # no such file: never claimed
        try:
            _lock(fd, exclusive=False)
        except OSError:
            return True
        else:
            _unlock(fd)
            return False
        finally:
            os.close(fd)

    @property
    def held(self) -> bool:
        """Whether this claim is still held."""
        return self._fd is not None

    def release(self) -> None:
        """Give the claim up (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with suppress(OSError):
                _unlock(fd)
            os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _database_file(connection: sqlite3.Connection) -> str | None:
    """The file of the connection's main database; ``None`` in memory."""
    for _, name, file in connection.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return str(file) or None
    return None  # pragma: no cover - SQLite always lists main


# --- values -----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Enrolment:
    """A new user's enrolment: their account and their security token.

    ``provisioning_uri`` (``otpauth://totp/...``) is shown once, as a QR code,
    to enrol the token in an authenticator; it and ``token_secret`` are the
    token's seed, so neither is ever logged (``repr`` leaves them out).
    """

    user_id: str
    username: str
    account: UserAccount
    provisioning_uri: str = attrs.field(repr=False)
    token_secret: bytes = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class AccountStatus:
    """An account's sign-in state, for administrators."""

    user_id: str
    failures: int
    locked_until: datetime | None
    suspended: bool
    sessions: int


@attrs.frozen(kw_only=True)
class Session:
    """A signed-in user's session (ACC-1), maybe acting for a practitioner (ACC-6).

    ``token`` is set only on the session :meth:`UserDirectory.sign_in`
    returns: give it to the client; the directory keeps only its hash.
    ``session_id`` is the session's identifier for the audit log (not a
    secret, and no use without the token).
    """

    session_id: str
    user: UserAccount
    acting_for: UserAccount | None
    started_at: datetime
    last_seen_at: datetime
    idle_expires_at: datetime
    expires_at: datetime
    token: str | None = attrs.field(default=None, repr=False)

    @property
    def user_id(self) -> str:
        """The user at the keyboard: the audit's ``actor``."""
        return self.user.user_id

    @property
    def acting_for_id(self) -> str | None:
        """The practitioner acted for (ACC-6), if any."""
        return self.acting_for.user_id if self.acting_for is not None else None

    @property
    def audit_refs(self) -> tuple[str, ...]:
        """Identifiers to put in every audit event's ``refs`` for this session:
        ``session:<id>`` and, when mediated, ``on_behalf_of:<practitioner>``."""
        refs: tuple[str, ...] = (f"session:{self.session_id}",)
        if self.acting_for is not None:
            refs += (f"on_behalf_of:{self.acting_for.user_id}",)
        return refs

    def viewer(self, purpose: Purpose = Purpose.PRACTICE) -> Viewer:
        """Who records are shown to: the practitioner when acting for one
        (ACC-6), else the user."""
        return (self.acting_for or self.user).viewer(purpose)


# --- the directory of users ----------------------------------------------------------


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("the user directory needs aware datetimes")
    return moment.astimezone(UTC).isoformat()


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text is not None else None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _normal_username(username: str) -> str:
    return username.strip().casefold()


@attrs.frozen
class _Row:
    """A ``lookup_users`` row."""

    user_id: str
    username: str | None
    role: str
    organisation_key: str
    local_authority: str
    nominated: int
    trained_on: str | None
    disclosure_issued_on: str | None
    suspended: int
    password_hash: str | None
    pin_hash: str | None
    totp_secret: bytes | None
    totp_last_step: int | None
    failures: int
    locked_until: str | None

    def account(self) -> UserAccount:
        credentials = {Credential.USERNAME} if self.username else set()
        if self.password_hash:
            credentials.add(Credential.PASSWORD)
        if self.pin_hash:
            credentials.add(Credential.PIN)
        if self.totp_secret:
            credentials.add(Credential.SECURITY_TOKEN)
        return UserAccount(
            user_id=self.user_id,
            role=Role(self.role),
            organisation_key=self.organisation_key,
            local_authority=self.local_authority,
            nominated=bool(self.nominated),
            trained_on=_day(self.trained_on),
            disclosure_issued_on=_day(self.disclosure_issued_on),
            credentials=frozenset(credentials),
            suspended=bool(self.suspended),
        )


class UserDirectory:
    """Users, credentials and sessions of the reference directory (module notes).

    ``connection`` is a ``sqlite3`` connection (the store's, ideally, opened
    with ``isolation_level=None``); ``audit`` receives an event for every
    sign-in, failure, refusal, session end and mediation (default: a
    :class:`~contactpoint_sdk.reference_server.audit.MemoryAuditLog`, at
    :attr:`audit`); ``issuer`` names the directory in authenticator apps;
    ``lock`` guards the connection and must be re-entrant (pass the store's
    ``threading.RLock`` when the connection is shared).

    Another process may share the database file (module notes, "Sessions
    served by one process of several"): ``claim`` is this database's
    sessions claim (:func:`sessions_claim_path`), held by this process, which
    then serves the sessions; ``write_behind`` (seconds) writes the session
    activity kept in memory on a thread of its own at that interval, never
    on a look-up's path (stop it with :meth:`close`). Without ``claim``, this
    directory refuses sessions while another holds the claim.
    """

    def __init__(
        self,
        connection: sqlite3.Connection,
        *,
        settings: PolicySettings = DEFAULT_POLICY,
        audit: AuditSink | None = None,
        issuer: str = "ContactPoint",
        lock: AbstractContextManager[object] | None = None,
        reader: Callable[[], AbstractContextManager[sqlite3.Connection | None]] | None = None,
        claim: FileClaim | None = None,
        write_behind: float | None = None,
    ) -> None:
        self._db = connection
        file = _database_file(connection)
        if claim is not None and (
            file is None or claim.path.resolve() != sessions_claim_path(file).resolve()
        ):
            raise ConfigurationError("the sessions claim given is not this database's")
        #: Held: this process serves the sessions. Else the claim file to
        #: check: another process may serve them.
        self._claim = claim
        self._claim_file = None if claim is not None or file is None else sessions_claim_path(file)
        #: Read-only connections for :meth:`session` (module notes,
        #: "Session activity"); ``None``: every use goes through ``lock``.
        self._reader = reader
        #: Session activity not yet written: token hash -> last use.
        self._seen: dict[str, datetime] = {}
        self._seen_lock = threading.Lock()
        self._flushed_at = time.monotonic()
        self.settings = settings
        self.audit: AuditSink = audit if audit is not None else MemoryAuditLog()
        self.issuer = issuer
        self._lock: AbstractContextManager[object] = lock if lock is not None else threading.RLock()
        self._savepoints = itertools.count(1)
        self._dummy_hash: str | None = None
        with self._unit():
            for statement in _SCHEMA:
                self._db.execute(statement)
        self._write_behind_stop = threading.Event()
        self._write_behind_thread: threading.Thread | None = None
        if write_behind is not None:
            if write_behind <= 0:
                raise ValueError("write_behind must be a positive number of seconds")
            self._write_behind_thread = threading.Thread(
                target=self._write_behind,
                args=(write_behind,),
                name="contactpoint-session-activity",
                daemon=True,
            )
            self._write_behind_thread.start()

    # --- plumbing ----------------------------------------------------------------

    @contextmanager
    def _unit(self) -> Iterator[None]:
        """One atomic change: a SAVEPOINT inside the caller's transaction, or
        a transaction of its own begun ``IMMEDIATE`` (module notes: another
        process may write between a read and a write)."""
        with self._lock:
            if not self._db.in_transaction:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
                return
            name = f"lookup_users_{next(self._savepoints)}"
            self._db.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                self._db.execute(f"ROLLBACK TO {name}")
                self._db.execute(f"RELEASE {name}")
                raise
            self._db.execute(f"RELEASE {name}")

    def _served_elsewhere(self) -> bool:
        """Whether another process holds this database's sessions claim."""
        return self._claim_file is not None and FileClaim.held_elsewhere(self._claim_file)

    def _refuse_if_served_elsewhere(self) -> None:
        if self._served_elsewhere():
            raise ConfigurationError(
                "this directory's sessions are served by another process (its look-up"
                " process): sign in and look up there",
                code=SESSIONS_SERVED_ELSEWHERE,
            )

    def _emit(
        self,
        now: datetime,
        action: str,
        actor: str,
        *,
        code: str | None = None,
        rule: str = "ACC-1",
        refs: tuple[str, ...] = (),
    ) -> None:
        self.audit.record(
            AuditEvent(at=now, action=action, actor=actor, code=code, rule=rule, refs=refs)
        )

    def _row(self, where: str, value: str, db: sqlite3.Connection | None = None) -> _Row | None:
        found = (
            (db or self._db)
            .execute(
                f"SELECT {_USER_COLUMNS} FROM lookup_users WHERE {where} = ?",  # noqa: S608 - fixed column names
                (value,),
            )
            .fetchall()
        )
        return _Row(*tuple(found[0])) if found else None

    def _require_row(self, user_id: str) -> _Row:
        row = self._row("user_id", user_id)
        if row is None:
            raise UnknownUser("no user has that user ID")
        return row

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = hash_secret(secrets.token_urlsafe(16), self.settings)
        return self._dummy_hash

    # --- enrolment and administration --------------------------------------------------

    def create_user(
        self,
        *,
        user_id: str,
        username: str,
        role: Role,
        organisation_key: str,
        local_authority: str,
        nominated: bool,
        trained_on: date | None,
        disclosure_issued_on: date | None,
        password: str,
        pin: str,
        now: datetime,
    ) -> Enrolment:
        """Enrol a user with all four credentials (ACC-1); returns the token's
        provisioning URI. Raises
        :class:`~contactpoint_sdk.errors.ValidationError` for a malformed field
        or a weak password or PIN (rule ACC-1), :class:`UserExists` for a
        taken user ID or username. Eligibility is not checked here: it is
        checked at every sign-in."""
        name = _normal_username(username)
        problems = self._check_fields(user_id, role, organisation_key, local_authority)
        if not _USERNAME_RE.fullmatch(name):
            problems.append(
                Problem(
                    path="username",
                    message="a username is 3 to 64 letters, digits, '.', '_', '@' or '-'",
                    code="username_invalid",
                    rule="ACC-1",
                )
            )
        problems.extend(self._check_password(password, name))
        problems.extend(self._check_pin(pin))
        if problems:
            raise ValidationError(problems)
        secret = secrets.token_bytes(_TOTP_SECRET_BYTES)
        password_hash = hash_secret(password, self.settings)
        pin_hash = hash_secret(pin, self.settings)
        with self._unit():
            self._refuse_taken(user_id, name)
            self._db.execute(
                "INSERT INTO lookup_users (user_id, username, role, organisation_key, "
                "local_authority, nominated, trained_on, disclosure_issued_on, password_hash, "
                "pin_hash, totp_secret, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    user_id,
                    name,
                    role.value,
                    organisation_key,
                    local_authority,
                    int(nominated),
                    trained_on.isoformat() if trained_on else None,
                    disclosure_issued_on.isoformat() if disclosure_issued_on else None,
                    password_hash,
                    pin_hash,
                    secret,
                    _iso(now),
                ),
            )
            self._emit(now, "user_enrolled", user_id)
        return self._enrolment(self._require_row(user_id), secret)

    def create_practitioner(
        self,
        *,
        user_id: str,
        role: Role,
        organisation_key: str,
        local_authority: str,
        nominated: bool,
        trained_on: date | None,
        disclosure_issued_on: date | None,
        now: datetime,
    ) -> UserAccount:
        """Enrol a practitioner without IT (ACC-6): no credentials, so they
        never sign in, but an authorised colleague may act for them."""
        problems = self._check_fields(user_id, role, organisation_key, local_authority)
        if problems:
            raise ValidationError(problems)
        with self._unit():
            self._refuse_taken(user_id, None)
            self._db.execute(
                "INSERT INTO lookup_users (user_id, role, organisation_key, local_authority, "
                "nominated, trained_on, disclosure_issued_on, created_at) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (
                    user_id,
                    role.value,
                    organisation_key,
                    local_authority,
                    int(nominated),
                    trained_on.isoformat() if trained_on else None,
                    disclosure_issued_on.isoformat() if disclosure_issued_on else None,
                    _iso(now),
                ),
            )
            self._emit(now, "user_enrolled", user_id, rule="ACC-6")
        return self._require_row(user_id).account()

    def account(self, user_id: str) -> UserAccount:
        """The user's account as the eligibility rules see it."""
        with self._lock:
            return self._require_row(user_id).account()

    def status(self, user_id: str) -> AccountStatus:
        """The account's failure count, lock, suspension and open sessions."""
        with self._lock:
            row = self._require_row(user_id)
            (sessions,) = self._db.execute(
                "SELECT count(*) FROM lookup_sessions WHERE user_id = ?", (user_id,)
            ).fetchone()
        return AccountStatus(
            user_id=user_id,
            failures=row.failures,
            locked_until=_when(row.locked_until),
            suspended=bool(row.suspended),
            sessions=int(sessions),
        )

    def renew(
        self,
        user_id: str,
        *,
        now: datetime,
        trained_on: date | None = None,
        disclosure_issued_on: date | None = None,
        nominated: bool | None = None,
    ) -> UserAccount:
        """Record renewed training or disclosure, or a change of nomination;
        ``None`` leaves a field as it is."""
        with self._unit():
            row = self._require_row(user_id)
            self._db.execute(
                "UPDATE lookup_users SET trained_on = ?, disclosure_issued_on = ?, nominated = ? "
                "WHERE user_id = ?",
                (
                    trained_on.isoformat() if trained_on else row.trained_on,
                    disclosure_issued_on.isoformat()
                    if disclosure_issued_on
                    else row.disclosure_issued_on,
                    int(nominated) if nominated is not None else row.nominated,
                    user_id,
                ),
            )
            self._emit(now, "account_renewed", user_id)
            return self._require_row(user_id).account()

    def suspend(self, user_id: str, *, now: datetime) -> None:
        """Suspend the account (ACC-1, e.g. after reported misuse, ACC-4) and
        end its sessions."""
        with self._unit():
            self._require_row(user_id)
            self._db.execute("UPDATE lookup_users SET suspended = 1 WHERE user_id = ?", (user_id,))
            self._db.execute(
                "DELETE FROM lookup_sessions WHERE user_id = ? OR on_behalf_of = ?",
                (user_id, user_id),
            )
            self._emit(now, "account_suspended", user_id)

    def reinstate(self, user_id: str, *, now: datetime) -> None:
        """Lift a suspension."""
        with self._unit():
            self._require_row(user_id)
            self._db.execute("UPDATE lookup_users SET suspended = 0 WHERE user_id = ?", (user_id,))
            self._emit(now, "account_reinstated", user_id)

    def unlock(self, user_id: str, *, now: datetime) -> None:
        """End a lock-out and clear the failure count (an administrator's act)."""
        with self._unit():
            self._require_row(user_id)
            self._db.execute(
                "UPDATE lookup_users SET failures = 0, locked_until = NULL WHERE user_id = ?",
                (user_id,),
            )
            self._emit(now, "account_unlocked", user_id)

    def reset_token(self, user_id: str, *, now: datetime) -> Enrolment:
        """Issue a new security token (a lost or broken one); the old one
        stops working at once."""
        secret = secrets.token_bytes(_TOTP_SECRET_BYTES)
        with self._unit():
            row = self._require_row(user_id)
            if row.username is None:
                raise ValidationError.single(
                    "a practitioner without credentials has no token",
                    code="credential_not_allocated",
                    rule="ACC-1",
                )
            self._db.execute(
                "UPDATE lookup_users SET totp_secret = ?, totp_last_step = NULL WHERE user_id = ?",
                (secret, user_id),
            )
            self._emit(now, "token_reset", user_id)
            return self._enrolment(self._require_row(user_id), secret)

    # --- sign-in ------------------------------------------------------------------------

    def sign_in(
        self, username: str, password: str, pin: str, token: str, *, now: datetime
    ) -> Session:
        """Sign in with all four credentials (ACC-1); a new :class:`Session`
        whose ``token`` the client keeps.

        Raises :class:`SignInFailed` (any credential missing or wrong, or the
        account locked: one code and message, the reason in ``audit_code``)
        or :class:`NotEligible` (right credentials, but the account may not
        sign in today: the reason is told). Module notes: the order of
        checks and the lock-out. ``ConfigurationError``
        (``sessions_served_elsewhere``) if another process serves the sessions.
        """
        self._refuse_if_served_elsewhere()
        with self._lock:
            failure: SignInFailed | None = None
            refusal: NotEligible | None = None
            session: Session | None = None
            with self._unit():
                failure, row = self._check_credentials(username, password, pin, token, now)
                if failure is None and row is not None:
                    refusal = self._eligibility(row, now)
                    if refusal is None:
                        session = self._open_session(row, now)
            if failure is not None:
                raise failure
            if refusal is not None:
                raise refusal
            assert session is not None  # noqa: S101 - the three outcomes are exhaustive
            return session

    def _check_credentials(
        self, username: str, password: str, pin: str, token: str, now: datetime
    ) -> tuple[SignInFailed | None, _Row | None]:
        """Check all four credentials, record the outcome; (failure, row)."""
        name = _normal_username(username or "")
        row = self._row("username", name) if name else None
        codes: list[str] = []
        if not name:
            codes.append("username_missing")
        elif row is None:
            codes.append("unknown_user")
        codes.extend(self._check_secret("password", password, row, self._password_shape_ok))
        codes.extend(self._check_secret("pin", pin, row, self._pin_shape_ok))
        step: int | None = None
        if not token:
            codes.append("token_missing")
        elif row is not None and row.totp_secret is None:
            codes.append("credential_not_allocated")
        elif row is not None and row.totp_secret is not None:
            step = _match_totp(row.totp_secret, token, now, self.settings.totp_drift_steps)
            if step is None:
                codes.append("token_wrong")
            elif row.totp_last_step is not None and step <= row.totp_last_step:
                codes.append("token_reused")
        if row is None:
            failure = SignInFailed(audit_code=codes[0], audit_codes=codes)
            self._emit(now, "sign_in_failed", "unknown", code=codes[0])
            return failure, None
        locked_until = _when(row.locked_until)
        if locked_until is not None and locked_until > now:
            self._emit(now, "sign_in_failed", row.user_id, code="account_locked")
            return SignInFailed(
                audit_code="account_locked", audit_codes=codes, user_id=row.user_id
            ), row
        failures = row.failures if locked_until is None else 0  # a lock that has passed
        if codes:
            failures += 1
            lock = failures >= self.settings.sign_in_max_failures
            new_lock = now + timedelta(minutes=self.settings.sign_in_lockout_minutes)
            self._db.execute(
                "UPDATE lookup_users SET failures = ?, locked_until = ? WHERE user_id = ?",
                (failures, _iso(new_lock) if lock else None, row.user_id),
            )
            self._emit(now, "sign_in_failed", row.user_id, code=codes[0])
            if lock:
                self._emit(now, "account_locked", row.user_id, code="account_locked")
            return SignInFailed(audit_code=codes[0], audit_codes=codes, user_id=row.user_id), row
        updates: dict[str, object] = {
            "failures": 0,
            "locked_until": None,
            "totp_last_step": step,
        }
        if row.password_hash and needs_rehash(row.password_hash, self.settings):
            updates["password_hash"] = hash_secret(password, self.settings)
        if row.pin_hash and needs_rehash(row.pin_hash, self.settings):
            updates["pin_hash"] = hash_secret(pin, self.settings)
        assignments = ", ".join(f"{column} = ?" for column in updates)
        self._db.execute(
            f"UPDATE lookup_users SET {assignments} WHERE user_id = ?",  # noqa: S608 - fixed column names
            (*updates.values(), row.user_id),
        )
        return None, row

    def _check_secret(
        self, what: str, given: str, row: _Row | None, shape_ok: Callable[[str], bool]
    ) -> list[str]:
        """Audit codes for a password or PIN; always one scrypt of work."""
        stored = (
            None if row is None else (row.password_hash if what == "password" else row.pin_hash)
        )
        if not given:
            verify_secret("", self._dummy())
            return [f"{what}_missing"]
        if stored is None or not shape_ok(given):
            verify_secret(given[:64], self._dummy())
            if row is not None and stored is None:
                return ["credential_not_allocated"]
            return [f"{what}_wrong"]
        return [] if verify_secret(given, stored) else [f"{what}_wrong"]

    def _password_shape_ok(self, password: str) -> bool:
        return len(password) <= self.settings.password_max_length

    def _pin_shape_ok(self, pin: str) -> bool:
        return pin.isascii() and pin.isdigit() and len(pin) <= self.settings.pin_max_length

    def _eligibility(self, row: _Row, now: datetime) -> NotEligible | None:
        try:
            require_eligible(row.account(), uk_date(now), self.settings)
        except PolicyRefusal as refused:
            self._emit(now, "sign_in_refused", row.user_id, code=refused.code)
            return NotEligible(refused.message, code=refused.code, user_id=row.user_id)
        return None

    def _open_session(self, row: _Row, now: datetime) -> Session:
        token = secrets.token_urlsafe(32)
        session_id = secrets.token_hex(8)
        self._db.execute(
            "INSERT INTO lookup_sessions (token_hash, session_id, user_id, started_at, "
            "last_seen_at) VALUES (?,?,?,?,?)",
            (_token_hash(token), session_id, row.user_id, _iso(now), _iso(now)),
        )
        self._emit(now, "sign_in", row.user_id, refs=(f"session:{session_id}",))
        return self._session(session_id, row.account(), None, now, now, token=token)

    # --- sessions -----------------------------------------------------------------------

    def _session(
        self,
        session_id: str,
        user: UserAccount,
        acting_for: UserAccount | None,
        started_at: datetime,
        last_seen_at: datetime,
        *,
        token: str | None = None,
    ) -> Session:
        return Session(
            session_id=session_id,
            user=user,
            acting_for=acting_for,
            started_at=started_at,
            last_seen_at=last_seen_at,
            idle_expires_at=last_seen_at + timedelta(minutes=self.settings.session_idle_minutes),
            expires_at=started_at + timedelta(hours=self.settings.session_absolute_hours),
            token=token,
        )

    def session(self, token: str, now: datetime) -> Session:
        """The live session with this token, its idle time restarted.

        Raises :class:`SessionInvalid` (no such session),
        :class:`SessionExpired` (idle or absolute expiry; the session ends),
        :class:`NotEligible` (the account may no longer sign in; the session
        ends) or :class:`MediationRefused` (the practitioner acted for is no
        longer eligible; the mediation ends, the session stays);
        ``ConfigurationError`` (``sessions_served_elsewhere``) if another
        process serves the sessions.
        """
        if not token:
            raise SessionInvalid()
        self._refuse_if_served_elsewhere()
        return self._use(("token_hash", _token_hash(token)), now)

    def _use(self, key: tuple[str, str], now: datetime) -> Session:
        if self._reader is not None:
            with self._reader() as db:
                live = None if db is None else self._live_session(db, key, now)
            if live is not None:
                self._flush_if_idle()
                return live
        with self._lock:
            error: Exception | None = None
            result: Session | None = None
            with self._unit():
                error, result = self._load_session(key, now)
            if error is not None:
                raise error
            assert result is not None  # noqa: S101 - error or result
            return result

    def _load_session(
        self, key: tuple[str, str], now: datetime
    ) -> tuple[Exception | None, Session | None]:
        column, value = key
        found = self._db.execute(_SESSION_BY[column], (value,)).fetchone()
        if found is None:
            return SessionInvalid(), None
        token_hash, session_id, user_id, on_behalf_of, started, last_seen = tuple(found)
        started_at = datetime.fromisoformat(started)
        last_seen_at = self._last_seen(token_hash, last_seen)
        refs = (f"session:{session_id}",)

        def end(code: str) -> None:
            self._db.execute("DELETE FROM lookup_sessions WHERE token_hash = ?", (token_hash,))
            self._forget(token_hash)
            self._emit(now, "session_ended", user_id, code=code, refs=refs)

        if now >= started_at + timedelta(hours=self.settings.session_absolute_hours):
            end("absolute")
            return SessionExpired("absolute"), None
        if now >= last_seen_at + timedelta(minutes=self.settings.session_idle_minutes):
            end("idle")
            return SessionExpired("idle"), None
        row = self._require_row(user_id)
        try:
            require_eligible(row.account(), uk_date(now), self.settings)
        except PolicyRefusal as refused:
            end(refused.code)
            return NotEligible(refused.message, code=refused.code, user_id=user_id), None
        self._db.execute(
            "UPDATE lookup_sessions SET last_seen_at = ? WHERE token_hash = ?",
            (_iso(now), token_hash),
        )
        self._forget(token_hash)
        acting_for = None
        if on_behalf_of is not None:
            practitioner = self._require_row(on_behalf_of).account()
            try:
                self._check_mediation(row.account(), practitioner, now)
            except MediationRefused as refused:
                self._db.execute(
                    "UPDATE lookup_sessions SET on_behalf_of = NULL WHERE token_hash = ?",
                    (token_hash,),
                )
                self._emit(
                    now,
                    "mediation_ended",
                    user_id,
                    code=refused.reason_code or refused.code,
                    rule="ACC-6",
                    refs=(*refs, f"on_behalf_of:{on_behalf_of}"),
                )
                return refused, None
            acting_for = practitioner
        return None, self._session(session_id, row.account(), acting_for, started_at, now)

    # --- session activity kept in memory (module notes) -----------------------------

    def _live_session(
        self, db: sqlite3.Connection, key: tuple[str, str], now: datetime
    ) -> Session | None:
        """The session, if it is live and may be used as it is, read on a
        read-only connection and its use kept in memory; ``None`` when
        anything is to be written or refused (unknown, expired, no longer
        eligible, mediation refused): :meth:`_load_session` then decides
        under the lock, exactly as before."""
        column, value = key
        rows = db.execute(_SESSION_BY[column], (value,)).fetchall()
        if not rows:
            return None
        token_hash, session_id, user_id, on_behalf_of, started, last_seen = tuple(rows[0])
        started_at = datetime.fromisoformat(started)
        if now >= started_at + timedelta(hours=self.settings.session_absolute_hours):
            return None
        if now >= self._last_seen(token_hash, last_seen) + timedelta(
            minutes=self.settings.session_idle_minutes
        ):
            return None
        row = self._row("user_id", user_id, db)
        if row is None:
            return None
        user = row.account()
        try:
            require_eligible(user, uk_date(now), self.settings)
        except PolicyRefusal:
            return None
        acting_for = None
        if on_behalf_of is not None:
            practitioner_row = self._row("user_id", on_behalf_of, db)
            if practitioner_row is None:
                return None
            acting_for = practitioner_row.account()
            try:
                self._check_mediation(user, acting_for, now)
            except MediationRefused:
                return None
        with self._seen_lock:
            self._seen[token_hash] = now
        return self._session(session_id, user, acting_for, started_at, now)

    def _last_seen(self, token_hash: str, stored: str) -> datetime:
        """The session's last use: kept in memory if not yet written."""
        with self._seen_lock:
            seen = self._seen.get(token_hash)
        return seen if seen is not None else datetime.fromisoformat(stored)

    def _forget(self, token_hash: str) -> None:
        with self._seen_lock:
            self._seen.pop(token_hash, None)

    def _write_activity(self) -> None:
        """Write the session activity kept in memory (under the lock)."""
        with self._seen_lock:
            pending = dict(self._seen)
        if pending:
            self._db.executemany(
                "UPDATE lookup_sessions SET last_seen_at = ? WHERE token_hash = ?",
                [(_iso(seen), token_hash) for token_hash, seen in pending.items()],
            )
        with self._seen_lock:
            for token_hash, seen in pending.items():
                if self._seen.get(token_hash) is seen:
                    del self._seen[token_hash]
        self._flushed_at = time.monotonic()

    def flush_activity(self) -> None:
        """Write the session activity kept in memory now (at close, say)."""
        if not self._seen:
            return
        with self._unit():
            self._write_activity()

    def close(self) -> None:
        """Stop writing behind (if a thread does) and write the activity kept
        in memory. The connection stays open: it is the caller's."""
        self._write_behind_stop.set()
        thread, self._write_behind_thread = self._write_behind_thread, None
        if thread is not None:
            thread.join()
        self.flush_activity()

    def _write_behind(self, every: float) -> None:
        """The write-behind thread: the activity kept in memory, every
        ``every`` seconds, waiting for the writer here (never on a look-up's
        path) and trying again next time if it stays busy."""
        while not self._write_behind_stop.wait(every):
            try:
                self.flush_activity()
            except sqlite3.ProgrammingError:  # the connection is closed: done
                return
            except sqlite3.Error:  # busy beyond the timeout: next time
                continue

    def _flush_if_idle(self) -> None:
        """Every ``_FLUSH_SECONDS``, write the activity kept in memory, but
        only if the connection is free at once: a look-up never waits for
        the writer (a supply batch's transaction). A thread writes behind
        instead when ``write_behind`` was given."""
        if (
            self._write_behind_thread is not None
            or time.monotonic() - self._flushed_at < _FLUSH_SECONDS
        ):
            return
        acquire = getattr(self._lock, "acquire", None)
        if acquire is None or not acquire(blocking=False):
            return
        try:
            if self._db.in_transaction:  # this thread's own unit of work: not now
                return
            with self._unit():
                self._write_activity()
        except sqlite3.OperationalError:  # busy (another process): next time
            return
        finally:
            getattr(self._lock, "release")()  # noqa: B009 - the acquire above

    def sign_out(self, token: str, *, now: datetime) -> None:
        """End the session with this token (nothing happens if there is none)."""
        if not token:
            return
        with self._unit():
            found = self._db.execute(
                "SELECT session_id, user_id FROM lookup_sessions WHERE token_hash = ?",
                (_token_hash(token),),
            ).fetchone()
            if found is None:
                return
            session_id, user_id = tuple(found)
            self._db.execute(
                "DELETE FROM lookup_sessions WHERE token_hash = ?", (_token_hash(token),)
            )
            self._forget(_token_hash(token))
            self._emit(
                now, "session_ended", user_id, code="signed_out", refs=(f"session:{session_id}",)
            )

    def purge_sessions(self, now: datetime) -> int:
        """Delete every session past its idle or absolute expiry; how many.
        While another process serves the sessions, only those past their
        absolute expiry: the idle times it keeps are not all written yet."""
        idle = _iso(now - timedelta(minutes=self.settings.session_idle_minutes))
        absolute = _iso(now - timedelta(hours=self.settings.session_absolute_hours))
        if self._served_elsewhere():
            with self._unit():
                cursor = self._db.execute(
                    "DELETE FROM lookup_sessions WHERE started_at <= ?", (absolute,)
                )
                return int(cursor.rowcount)
        with self._unit():
            self._write_activity()  # a session used lately is not idle
            cursor = self._db.execute(
                "DELETE FROM lookup_sessions WHERE last_seen_at <= ? OR started_at <= ?",
                (idle, absolute),
            )
            return int(cursor.rowcount)

    # --- mediated access (ACC-6) ------------------------------------------------------------

    def act_for(self, session: Session, practitioner_user_id: str, *, now: datetime) -> Session:
        """Let ``session``'s user act for a practitioner without IT (ACC-6).

        Raises :class:`MediationRefused` (``mediation_not_allowed``: not a
        colleague in the same organisation, oneself, or a role in
        ``unmediated_roles``; ``practitioner_not_eligible``: their
        eligibility failed, ``reason_code`` says why), :class:`UnknownUser`,
        or any error of :meth:`session`.
        """
        with self._lock:
            current = self._use(("session_id", session.session_id), now)
            practitioner = self.account(practitioner_user_id)
            try:
                self._check_mediation(current.user, practitioner, now)
            except MediationRefused as refused:
                self._emit(
                    now,
                    "mediation_refused",
                    current.user_id,
                    code=refused.reason_code or refused.code,
                    rule="ACC-6",
                    refs=(f"session:{current.session_id}", f"on_behalf_of:{practitioner.user_id}"),
                )
                raise
            with self._unit():
                self._db.execute(
                    "UPDATE lookup_sessions SET on_behalf_of = ? WHERE session_id = ?",
                    (practitioner.user_id, current.session_id),
                )
                result = attrs.evolve(current, acting_for=practitioner)
                self._emit(
                    now, "mediation_started", current.user_id, rule="ACC-6", refs=result.audit_refs
                )
            return result

    def stop_acting(self, session: Session, *, now: datetime) -> Session:
        """End the session's mediation; the user acts for themselves again."""
        with self._lock:
            current = self._use(("session_id", session.session_id), now)
            if current.acting_for is None:
                return current
            with self._unit():
                self._db.execute(
                    "UPDATE lookup_sessions SET on_behalf_of = NULL WHERE session_id = ?",
                    (current.session_id,),
                )
                self._emit(
                    now, "mediation_ended", current.user_id, rule="ACC-6", refs=current.audit_refs
                )
            return attrs.evolve(current, acting_for=None)

    def _check_mediation(self, user: UserAccount, practitioner: UserAccount, now: datetime) -> None:
        if practitioner.user_id == user.user_id:
            raise MediationRefused("a user cannot act for themselves", code="mediation_not_allowed")
        if practitioner.organisation_key != user.organisation_key:
            raise MediationRefused(
                "a user may act only for a practitioner of their own organisation",
                code="mediation_not_allowed",
            )
        if practitioner.role in self.settings.unmediated_roles:
            raise MediationRefused(
                f"the role {practitioner.role.value!r} must use the directory in person",
                code="mediation_not_allowed",
            )
        # The practitioner has no IT: every condition of ACC-1 but the credentials.
        without_it = attrs.evolve(practitioner, credentials=frozenset(Credential))
        try:
            require_eligible(without_it, uk_date(now), self.settings)
        except PolicyRefusal as refused:
            raise MediationRefused(
                f"the practitioner may not use the directory: {refused.message}",
                code="practitioner_not_eligible",
                reason_code=refused.code,
            ) from refused

    # --- checks -------------------------------------------------------------------------

    def _refuse_taken(self, user_id: str, username: str | None) -> None:
        if self._row("user_id", user_id) is not None:
            raise UserExists("a user with that user ID is already enrolled")
        if username is not None and self._row("username", username) is not None:
            raise UserExists("that username is taken")

    def _enrolment(self, row: _Row, secret: bytes) -> Enrolment:
        assert row.username is not None  # noqa: S101 - only users with credentials enrol a token
        uri = _totp(secret, TOTP_DIGITS).get_provisioning_uri(row.username, self.issuer)
        return Enrolment(
            user_id=row.user_id,
            username=row.username,
            account=row.account(),
            provisioning_uri=uri,
            token_secret=secret,
        )

    @staticmethod
    def _check_fields(
        user_id: str, role: Role, organisation_key: str, local_authority: str
    ) -> list[Problem]:
        problems = []
        if not _USER_ID_RE.fullmatch(user_id):
            problems.append(
                Problem(
                    path="user_id",
                    message="a user ID is 1 to 64 letters, digits, '.', '_', ':' or '-'",
                    code="user_id_invalid",
                )
            )
        if not isinstance(role, Role):
            problems.append(Problem(path="role", message="not a role", code="role_invalid"))
        if not organisation_key or organisation_key != organisation_key.strip():
            problems.append(
                Problem(
                    path="organisation_key",
                    message="an organisation key is needed",
                    code="organisation_key_invalid",
                )
            )
        if not _LA_RE.fullmatch(local_authority):
            problems.append(
                Problem(
                    path="local_authority",
                    message="a local authority code is 3 digits",
                    code="la_code_invalid",
                )
            )
        return problems

    def _check_password(self, password: str, username: str) -> list[Problem]:
        s = self.settings
        if not s.password_min_length <= len(password) <= s.password_max_length:
            message = (
                f"a password has {s.password_min_length} to {s.password_max_length} characters"
            )
        elif username and username in password.casefold():
            message = "a password must not contain the username"
        elif len(set(password)) < 4:
            message = "a password needs at least four different characters"
        else:
            return []
        return [Problem(path="password", message=message, code="password_invalid", rule="ACC-1")]

    def _check_pin(self, pin: str) -> list[Problem]:
        s = self.settings
        digits = [ord(c) - 48 for c in pin] if pin.isascii() and pin.isdigit() else []
        steps = {b - a for a, b in itertools.pairwise(digits)}
        if not digits or not s.pin_min_length <= len(pin) <= s.pin_max_length:
            message = f"a PIN is {s.pin_min_length} to {s.pin_max_length} digits"
        elif steps <= {0} or steps in ({1}, {-1}):
            message = "a PIN must not be one repeated digit or a run of consecutive digits"
        else:
            return []
        return [Problem(path="pin", message=message, code="pin_invalid", rule="ACC-1")]
