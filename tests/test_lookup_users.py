"""ACC-1, ACC-6: users, four-credential sign-in, lock-out, sessions, mediated access.

The scrypt parameters are lowered through the settings (``FAST``) so the
tests run quickly; one test checks the strong defaults themselves.
"""

from __future__ import annotations

import base64
import hashlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import attrs
import pytest

from contactpoint_sdk.clock import MovableClock
from contactpoint_sdk.errors import (
    MediationRefused,
    NotEligible,
    SessionExpired,
    SessionInvalid,
    SignInFailed,
    UnknownUser,
    UserExists,
    ValidationError,
)
from contactpoint_sdk.policy.eligibility import Credential
from contactpoint_sdk.policy.settings import DEFAULT_POLICY, PolicySettings
from contactpoint_sdk.policy.viewer import Purpose, Role
from contactpoint_sdk.reference_server.audit import AuditEvent, MemoryAuditLog
from contactpoint_sdk.reference_server.users import (
    TOTP_DIGITS,
    Enrolment,
    Session,
    UserDirectory,
    hash_secret,
    needs_rehash,
    totp_code,
    verify_secret,
)

FAST = attrs.evolve(DEFAULT_POLICY, password_scrypt_log2_n=4, password_scrypt_r=1)
START = datetime(2025, 6, 2, 9, 0, 7, tzinfo=UTC)
PASSWORD = "correct horse battery"
PIN = "402917"
ORG = "urn:100001"


class Harness:
    """A user directory on a movable clock, with an in-memory audit log."""

    def __init__(self, settings: PolicySettings = FAST, *, at: datetime = START) -> None:
        self.clock = MovableClock(at)
        self.db = sqlite3.connect(":memory:", isolation_level=None)
        self.audit = MemoryAuditLog()
        self.users = UserDirectory(self.db, settings=settings, audit=self.audit)

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def enrol(
        self,
        user_id: str = "u-alice",
        username: str = "alice",
        *,
        role: Role = Role.HEAD_TEACHER,
        organisation_key: str = ORG,
        trained_on: date | None = date(2024, 1, 10),
        disclosure_issued_on: date | None = date(2024, 1, 10),
        nominated: bool = True,
    ) -> Enrolment:
        return self.users.create_user(
            user_id=user_id,
            username=username,
            role=role,
            organisation_key=organisation_key,
            local_authority="202",
            nominated=nominated,
            trained_on=trained_on,
            disclosure_issued_on=disclosure_issued_on,
            password=PASSWORD,
            pin=PIN,
            now=self.now,
        )

    def code(self, enrolment: Enrolment, *, steps: int = 0) -> str:
        return totp_code(enrolment.token_secret, self.now + timedelta(seconds=30 * steps))

    def sign_in(self, enrolment: Enrolment, **changes: str) -> Session:
        """Sign in with the right credentials, except those in ``changes``;
        moves the clock one TOTP step first, so each sign-in has a fresh code."""
        self.clock.advance(timedelta(seconds=30))
        creds = {
            "username": enrolment.username,
            "password": PASSWORD,
            "pin": PIN,
            "token": self.code(enrolment),
        }
        creds.update(changes)
        return self.users.sign_in(
            creds["username"], creds["password"], creds["pin"], creds["token"], now=self.now
        )

    def events(self, action: str) -> list[AuditEvent]:
        return [e for e in self.audit.events() if e.action == action]


@pytest.fixture
def h() -> Iterator[Harness]:
    harness = Harness()
    yield harness
    harness.db.close()


# --- the security token: RFC 6238 ----------------------------------------------------------------

RFC_SEED = b"12345678901234567890"


@pytest.mark.parametrize(
    ("unix_time", "expected"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_acc_1_totp_matches_rfc_6238_appendix_b_sha1_vectors(unix_time: int, expected: str) -> None:
    assert totp_code(RFC_SEED, unix_time, digits=8) == expected
    moment = datetime.fromtimestamp(unix_time, UTC)
    assert totp_code(RFC_SEED, moment, digits=8) == expected


def test_acc_1_enrolment_gives_an_otpauth_totp_provisioning_uri(h: Harness) -> None:
    enrolment = h.enrol()
    parts = urlsplit(enrolment.provisioning_uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert parts.path == "/ContactPoint:alice"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert base64.b32decode(query["secret"]) == enrolment.token_secret
    assert len(enrolment.token_secret) == 20
    assert (query["digits"], query["period"], query["algorithm"]) == ("6", "30", "SHA1")
    assert query["issuer"] == "ContactPoint"
    assert query["secret"] not in repr(enrolment)
    assert enrolment.account.credentials == frozenset(Credential)


# --- sign-in with four credentials ---------------------------------------------------------------


def test_acc_1_sign_in_with_all_four_credentials(h: Harness) -> None:
    enrolment = h.enrol()
    session = h.sign_in(enrolment)
    assert session.user_id == "u-alice"
    assert session.token is not None
    assert len(session.token) >= 43
    assert session.acting_for is None
    assert session.expires_at == session.started_at + timedelta(hours=8)
    assert session.idle_expires_at == session.started_at + timedelta(minutes=15)
    assert session.viewer().role is Role.HEAD_TEACHER
    assert session.token not in repr(session)
    (event,) = h.events("sign_in")
    assert event.actor == "u-alice"
    assert event.refs == (f"session:{session.session_id}",)


def test_acc_1_username_is_case_insensitive(h: Harness) -> None:
    enrolment = h.enrol()
    assert h.sign_in(enrolment, username="  ALICE ").user_id == "u-alice"


WRONG = [
    ("username", "", "username_missing"),
    ("username", "nobody", "unknown_user"),
    ("password", "", "password_missing"),
    ("password", "correct horse battery!", "password_wrong"),
    ("password", "x" * 500, "password_wrong"),
    ("pin", "", "pin_missing"),
    ("pin", "402918", "pin_wrong"),
    ("pin", "four", "pin_wrong"),
    ("token", "", "token_missing"),
    ("token", "12345", "token_wrong"),
    ("token", "abcdef", "token_wrong"),
]


@pytest.mark.parametrize(("field", "value", "audit_code"), WRONG)
def test_acc_1_sign_in_refused_for_each_missing_or_wrong_credential(
    h: Harness, field: str, value: str, audit_code: str
) -> None:
    enrolment = h.enrol()
    with pytest.raises(SignInFailed) as caught:
        h.sign_in(enrolment, **{field: value})
    error = caught.value
    assert (error.code, error.rule) == ("sign_in_failed", "ACC-1")
    assert error.audit_code == audit_code
    assert error.message == SignInFailed.MESSAGE
    assert audit_code not in str(error)
    (event,) = h.events("sign_in_failed")
    assert event.code == audit_code
    assert event.actor == ("unknown" if field == "username" else "u-alice")


def test_acc_1_a_wrong_token_code_is_refused(h: Harness) -> None:
    enrolment = h.enrol()
    h.clock.advance(timedelta(seconds=30))
    right = h.code(enrolment)
    wrong = f"{(int(right) + 1) % 10**TOTP_DIGITS:0{TOTP_DIGITS}d}"
    with pytest.raises(SignInFailed) as caught:
        h.users.sign_in("alice", PASSWORD, PIN, wrong, now=h.now)
    assert caught.value.audit_code == "token_wrong"


def test_acc_1_caller_cannot_tell_which_credential_was_wrong(h: Harness) -> None:
    enrolment = h.enrol()
    seen = set()
    for field, value, _ in WRONG:
        with pytest.raises(SignInFailed) as caught:
            h.sign_in(enrolment, **{field: value})
        seen.add((type(caught.value), caught.value.code, caught.value.rule, str(caught.value)))
        h.users.unlock("u-alice", now=h.now)
    assert len(seen) == 1


def test_acc_1_every_problem_is_audited_in_credential_order(h: Harness) -> None:
    enrolment = h.enrol()
    with pytest.raises(SignInFailed) as caught:
        h.sign_in(enrolment, password="", pin="000001", token="")
    assert caught.value.audit_codes == ("password_missing", "pin_wrong", "token_missing")
    assert caught.value.audit_code == "password_missing"


# --- token drift and reuse -----------------------------------------------------------------------


def test_acc_1_token_one_step_early_or_late_is_accepted(h: Harness) -> None:
    enrolment = h.enrol()
    h.clock.advance(timedelta(minutes=5))
    h.users.sign_in("alice", PASSWORD, PIN, h.code(enrolment, steps=-1), now=h.now)
    h.clock.advance(timedelta(seconds=60))
    h.users.sign_in("alice", PASSWORD, PIN, h.code(enrolment, steps=1), now=h.now)


def test_acc_1_token_two_steps_off_is_refused(h: Harness) -> None:
    enrolment = h.enrol()
    h.clock.advance(timedelta(minutes=5))
    for steps in (-2, 2):
        with pytest.raises(SignInFailed) as caught:
            h.users.sign_in("alice", PASSWORD, PIN, h.code(enrolment, steps=steps), now=h.now)
        assert caught.value.audit_code == "token_wrong"


def test_acc_1_token_code_is_not_accepted_twice_within_its_window(h: Harness) -> None:
    enrolment = h.enrol()
    h.clock.advance(timedelta(seconds=30))
    code = h.code(enrolment)
    h.users.sign_in("alice", PASSWORD, PIN, code, now=h.now)
    h.clock.advance(timedelta(seconds=1))
    with pytest.raises(SignInFailed) as caught:
        h.users.sign_in("alice", PASSWORD, PIN, code, now=h.now)
    assert caught.value.audit_code == "token_reused"
    h.clock.advance(timedelta(seconds=30))
    h.users.sign_in("alice", PASSWORD, PIN, h.code(enrolment), now=h.now)


def test_acc_1_token_of_an_earlier_step_refused_once_a_later_one_was_used(h: Harness) -> None:
    enrolment = h.enrol()
    h.clock.advance(timedelta(minutes=1))
    h.users.sign_in("alice", PASSWORD, PIN, h.code(enrolment, steps=1), now=h.now)
    with pytest.raises(SignInFailed) as caught:
        h.users.sign_in("alice", PASSWORD, PIN, h.code(enrolment), now=h.now)
    assert caught.value.audit_code == "token_reused"


def test_acc_1_reset_token_retires_the_old_one(h: Harness) -> None:
    old = h.enrol()
    new = h.users.reset_token("u-alice", now=h.now)
    assert new.token_secret != old.token_secret
    with pytest.raises(SignInFailed) as caught:
        h.sign_in(old)
    assert caught.value.audit_code == "token_wrong"
    h.sign_in(new)


# --- lock-out ------------------------------------------------------------------------------------


def fail(h: Harness, enrolment: Enrolment, times: int) -> None:
    for _ in range(times):
        with pytest.raises(SignInFailed):
            h.sign_in(enrolment, password="not the password")


def test_acc_1_lock_out_after_repeated_failures_and_unlock_after_the_window(h: Harness) -> None:
    enrolment = h.enrol()
    fail(h, enrolment, FAST.sign_in_max_failures)
    status = h.users.status("u-alice")
    assert status.failures == 5
    assert status.locked_until == h.now + timedelta(minutes=30)
    (locked,) = h.events("account_locked")
    assert locked.actor == "u-alice"
    # right credentials, still refused, the same way
    with pytest.raises(SignInFailed) as caught:
        h.sign_in(enrolment)
    assert caught.value.audit_code == "account_locked"
    assert caught.value.message == SignInFailed.MESSAGE
    h.clock.set(status.locked_until - timedelta(seconds=31))
    with pytest.raises(SignInFailed):
        h.sign_in(enrolment)
    assert h.users.status("u-alice").locked_until == status.locked_until  # not extended
    h.clock.set(status.locked_until)
    h.sign_in(enrolment)
    assert h.users.status("u-alice").failures == 0
    assert h.users.status("u-alice").locked_until is None


def test_acc_1_lock_out_counts_only_consecutive_failures(h: Harness) -> None:
    enrolment = h.enrol()
    fail(h, enrolment, FAST.sign_in_max_failures - 1)
    h.sign_in(enrolment)
    fail(h, enrolment, FAST.sign_in_max_failures - 1)
    assert h.users.status("u-alice").locked_until is None
    assert h.users.status("u-alice").failures == 4


def test_acc_1_after_a_lock_has_passed_the_count_starts_again(h: Harness) -> None:
    enrolment = h.enrol()
    fail(h, enrolment, 5)
    h.clock.advance(timedelta(minutes=31))
    fail(h, enrolment, 1)
    status = h.users.status("u-alice")
    assert (status.failures, status.locked_until) == (1, None)


def test_acc_1_administrator_unlocks_an_account(h: Harness) -> None:
    enrolment = h.enrol()
    fail(h, enrolment, 5)
    h.users.unlock("u-alice", now=h.now)
    h.sign_in(enrolment)
    assert [e.action for e in h.audit.events()].count("account_unlocked") == 1


def test_acc_1_lock_out_settings_are_used(h: Harness) -> None:
    strict = Harness(attrs.evolve(FAST, sign_in_max_failures=2, sign_in_lockout_minutes=5))
    enrolment = strict.enrol()
    fail(strict, enrolment, 2)
    assert strict.users.status("u-alice").locked_until == strict.now + timedelta(minutes=5)


# --- eligibility at sign-in (ACC-1) --------------------------------------------------------------


def test_acc_1_lapsed_disclosure_refuses_sign_in_with_the_reason(h: Harness) -> None:
    enrolment = h.enrol(disclosure_issued_on=date(2022, 6, 2))  # lapsed on 2 June 2025
    with pytest.raises(NotEligible) as caught:
        h.sign_in(enrolment)
    assert (caught.value.code, caught.value.rule) == ("disclosure_lapsed", "ACC-1")
    assert "lapsed" in str(caught.value)
    (event,) = h.events("sign_in_refused")
    assert (event.actor, event.code) == ("u-alice", "disclosure_lapsed")
    assert h.users.status("u-alice").sessions == 0


def test_acc_1_lapsed_training_refuses_sign_in_with_the_reason(h: Harness) -> None:
    enrolment = h.enrol(trained_on=date(2022, 5, 1))
    with pytest.raises(NotEligible) as caught:
        h.sign_in(enrolment)
    assert caught.value.code == "training_lapsed"


def test_acc_1_not_nominated_or_suspended_refuses_sign_in(h: Harness) -> None:
    enrolment = h.enrol(nominated=False)
    with pytest.raises(NotEligible) as caught:
        h.sign_in(enrolment)
    assert caught.value.code == "not_nominated"
    h.users.renew("u-alice", nominated=True, now=h.now)
    h.users.suspend("u-alice", now=h.now)
    with pytest.raises(NotEligible) as caught:
        h.sign_in(enrolment)
    assert caught.value.code == "suspended"
    h.users.reinstate("u-alice", now=h.now)
    h.sign_in(enrolment)


def test_acc_1_eligibility_is_told_only_after_all_four_credentials(h: Harness) -> None:
    enrolment = h.enrol(disclosure_issued_on=date(2020, 1, 1))
    with pytest.raises(SignInFailed):
        h.sign_in(enrolment, pin="999111")


def test_acc_1_renewed_disclosure_lets_the_user_back_in(h: Harness) -> None:
    enrolment = h.enrol(disclosure_issued_on=date(2022, 6, 2))
    with pytest.raises(NotEligible):
        h.sign_in(enrolment)
    h.users.renew("u-alice", disclosure_issued_on=date(2025, 5, 30), now=h.now)
    assert h.sign_in(enrolment).user_id == "u-alice"


# --- secrets at rest -----------------------------------------------------------------------------


def test_acc_1_password_and_pin_are_stored_with_salted_scrypt(h: Harness) -> None:
    h.enrol()
    h.enrol("u-bob", "bob")
    rows = h.db.execute("SELECT password_hash, pin_hash FROM lookup_users").fetchall()
    hashes = [value for row in rows for value in row]
    assert all(value.startswith("scrypt$4$1$1$") for value in hashes)
    assert len(set(hashes)) == 4  # a salt each: same password, same PIN, four hashes
    dump = "\n".join(h.db.iterdump())
    assert PASSWORD not in dump
    assert PIN not in dump


def test_acc_1_default_scrypt_parameters_are_memory_hard() -> None:
    assert (DEFAULT_POLICY.password_scrypt_log2_n, DEFAULT_POLICY.password_scrypt_r) >= (17, 8)
    stored = hash_secret(PASSWORD)  # 128 MiB, about half a second
    assert stored.startswith("scrypt$17$8$1$")
    assert verify_secret(PASSWORD, stored)
    assert not needs_rehash(stored)


def test_acc_1_raised_scrypt_parameters_rehash_at_next_sign_in(h: Harness) -> None:
    enrolment = h.enrol()
    stronger = attrs.evolve(FAST, password_scrypt_log2_n=5)
    users = UserDirectory(h.db, settings=stronger)
    h.clock.advance(timedelta(seconds=30))
    users.sign_in("alice", PASSWORD, PIN, h.code(enrolment), now=h.now)
    (password_hash, pin_hash) = h.db.execute(
        "SELECT password_hash, pin_hash FROM lookup_users WHERE user_id = 'u-alice'"
    ).fetchone()
    assert password_hash.startswith("scrypt$5$")
    assert pin_hash.startswith("scrypt$5$")
    assert verify_secret(PASSWORD, password_hash)
    assert verify_secret(PIN, pin_hash)


def test_acc_1_session_tokens_are_stored_hashed(h: Harness) -> None:
    session = h.sign_in(h.enrol())
    assert session.token is not None
    stored = [row[0] for row in h.db.execute("SELECT token_hash FROM lookup_sessions")]
    assert stored == [hashlib.sha256(session.token.encode()).hexdigest()]
    assert session.token not in "\n".join(h.db.iterdump())


@pytest.mark.parametrize(
    ("password", "pin"),
    [
        ("short", PIN),
        ("alice-is-my-password", PIN),
        ("aaaaaaaaaaaaaaaa", PIN),
        (PASSWORD, "12345"),
        (PASSWORD, "123456"),
        (PASSWORD, "111111"),
        (PASSWORD, "12a456"),
        (PASSWORD, "9" * 13),
    ],
)
def test_acc_1_enrolment_refuses_weak_passwords_and_pins(
    h: Harness, password: str, pin: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        h.users.create_user(
            user_id="u-alice",
            username="alice",
            role=Role.HEAD_TEACHER,
            organisation_key=ORG,
            local_authority="202",
            nominated=True,
            trained_on=date(2024, 1, 1),
            disclosure_issued_on=date(2024, 1, 1),
            password=password,
            pin=pin,
            now=h.now,
        )
    assert caught.value.code in {"password_invalid", "pin_invalid"}
    assert password not in str(caught.value)
    assert pin not in str(caught.value)


def test_acc_1_user_ids_and_usernames_are_unique(h: Harness) -> None:
    h.enrol()
    with pytest.raises(UserExists):
        h.enrol("u-alice", "alice2")
    with pytest.raises(UserExists):
        h.enrol("u-alice2", "ALICE")
    with pytest.raises(UnknownUser):
        h.users.account("u-nobody")


# --- sessions ------------------------------------------------------------------------------------


def test_acc_1_session_idle_expiry(h: Harness) -> None:
    session = h.sign_in(h.enrol())
    assert session.token is not None
    for _ in range(4):  # each use restarts the idle time
        h.clock.advance(timedelta(minutes=14, seconds=59))
        assert h.users.session(session.token, h.now).session_id == session.session_id
    h.clock.advance(timedelta(minutes=15))
    with pytest.raises(SessionExpired) as caught:
        h.users.session(session.token, h.now)
    assert (caught.value.code, caught.value.reason, caught.value.rule) == (
        "session_expired",
        "idle",
        "ACC-1",
    )
    with pytest.raises(SessionInvalid) as again:
        h.users.session(session.token, h.now)
    assert again.value.code == "session_invalid"
    assert h.events("session_ended")[-1].code == "idle"


def test_acc_1_session_absolute_expiry(h: Harness) -> None:
    session = h.sign_in(h.enrol())
    assert session.token is not None
    end = session.started_at + timedelta(hours=8)
    while h.now + timedelta(minutes=10) < end:
        h.clock.advance(timedelta(minutes=10))
        h.users.session(session.token, h.now)
    h.clock.set(end)
    with pytest.raises(SessionExpired) as caught:
        h.users.session(session.token, h.now)
    assert caught.value.reason == "absolute"


def test_acc_1_sign_out_ends_the_session(h: Harness) -> None:
    session = h.sign_in(h.enrol())
    assert session.token is not None
    h.users.sign_out(session.token, now=h.now)
    h.users.sign_out(session.token, now=h.now)  # again: nothing happens
    with pytest.raises(SessionInvalid):
        h.users.session(session.token, h.now)
    assert [e.code for e in h.events("session_ended")] == ["signed_out"]


def test_acc_1_unknown_tokens_are_invalid(h: Harness) -> None:
    for token in ("", "not-a-token"):
        with pytest.raises(SessionInvalid):
            h.users.session(token, h.now)


def test_acc_1_a_session_ends_when_the_disclosure_lapses_during_it() -> None:
    long_idle = attrs.evolve(FAST, session_idle_minutes=240)
    h = Harness(long_idle, at=datetime(2025, 6, 1, 19, 0, tzinfo=UTC))
    session = h.sign_in(h.enrol(disclosure_issued_on=date(2022, 6, 2)))
    assert session.token is not None
    h.clock.set(datetime(2025, 6, 1, 22, 59, tzinfo=UTC))  # 23:59 in London, 1 June
    h.users.session(session.token, h.now)
    h.clock.set(datetime(2025, 6, 1, 23, 0, tzinfo=UTC))  # midnight in London: lapsed
    with pytest.raises(NotEligible) as caught:
        h.users.session(session.token, h.now)
    assert caught.value.code == "disclosure_lapsed"
    with pytest.raises(SessionInvalid):
        h.users.session(session.token, h.now)


def test_acc_1_suspension_ends_every_session(h: Harness) -> None:
    enrolment = h.enrol()
    first, second = h.sign_in(enrolment), h.sign_in(enrolment)
    assert h.users.status("u-alice").sessions == 2
    h.users.suspend("u-alice", now=h.now)
    for session in (first, second):
        assert session.token is not None
        with pytest.raises(SessionInvalid):
            h.users.session(session.token, h.now)


def test_acc_1_purge_removes_expired_sessions(h: Harness) -> None:
    enrolment = h.enrol()
    h.sign_in(enrolment)
    h.clock.advance(timedelta(minutes=20))
    live = h.sign_in(enrolment)
    assert h.users.purge_sessions(h.now) == 1
    assert h.users.status("u-alice").sessions == 1
    assert live.token is not None
    h.users.session(live.token, h.now)


# --- mediated access (ACC-6) ---------------------------------------------------------------------


def practitioner(
    h: Harness,
    user_id: str = "p-nurse",
    *,
    role: Role = Role.HEALTH_PRACTITIONER,
    organisation_key: str = ORG,
    disclosure_issued_on: date = date(2024, 2, 1),
) -> None:
    h.users.create_practitioner(
        user_id=user_id,
        role=role,
        organisation_key=organisation_key,
        local_authority="202",
        nominated=True,
        trained_on=date(2024, 2, 1),
        disclosure_issued_on=disclosure_issued_on,
        now=h.now,
    )


def test_acc_6_acting_for_a_practitioner_records_both(h: Harness) -> None:
    session = h.sign_in(h.enrol())
    practitioner(h)
    mediated = h.users.act_for(session, "p-nurse", now=h.now)
    assert (mediated.user_id, mediated.acting_for_id) == ("u-alice", "p-nurse")
    assert mediated.audit_refs == (f"session:{session.session_id}", "on_behalf_of:p-nurse")
    viewer = mediated.viewer()
    assert (viewer.user_id, viewer.role) == ("p-nurse", Role.HEALTH_PRACTITIONER)
    (event,) = h.events("mediation_started")
    assert (event.actor, event.rule) == ("u-alice", "ACC-6")
    assert "on_behalf_of:p-nurse" in event.refs
    # the mediation lasts for the session
    assert session.token is not None
    again = h.users.session(session.token, h.now)
    assert (again.user_id, again.acting_for_id) == ("u-alice", "p-nurse")
    back = h.users.stop_acting(again, now=h.now)
    assert back.acting_for is None
    assert h.users.session(session.token, h.now).acting_for is None
    assert h.events("mediation_ended")[0].refs == mediated.audit_refs


def test_acc_6_a_practitioner_without_it_cannot_sign_in(h: Harness) -> None:
    practitioner(h)
    account = h.users.account("p-nurse")
    assert account.credentials == frozenset()
    with pytest.raises(ValidationError):
        h.users.reset_token("p-nurse", now=h.now)


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ("u-alice", "mediation_not_allowed"),  # oneself
        ("p-elsewhere", "mediation_not_allowed"),  # another organisation
        ("p-manager", "mediation_not_allowed"),  # a role with a wider view
        ("p-lapsed", "practitioner_not_eligible"),
    ],
)
def test_acc_6_mediation_refusals(h: Harness, target: str, code: str) -> None:
    session = h.sign_in(h.enrol())
    practitioner(h, "p-elsewhere", organisation_key="urn:999999")
    practitioner(h, "p-manager", role=Role.LA_MANAGEMENT_TEAM)
    practitioner(h, "p-lapsed", disclosure_issued_on=date(2021, 1, 1))
    with pytest.raises(MediationRefused) as caught:
        h.users.act_for(session, target, now=h.now)
    assert (caught.value.code, caught.value.rule) == (code, "ACC-6")
    if target == "p-lapsed":
        assert caught.value.reason_code == "disclosure_lapsed"
    (event,) = h.events("mediation_refused")
    assert event.actor == "u-alice"


def test_acc_6_mediation_ends_when_the_practitioner_is_suspended(h: Harness) -> None:
    session = h.sign_in(h.enrol())
    practitioner(h)
    h.users.act_for(session, "p-nurse", now=h.now)
    h.users.renew("p-nurse", nominated=False, now=h.now)
    assert session.token is not None
    with pytest.raises(MediationRefused) as caught:
        h.users.session(session.token, h.now)
    assert caught.value.reason_code == "not_nominated"
    assert h.users.session(session.token, h.now).acting_for is None


def test_acc_6_viewer_keeps_the_purpose(h: Harness) -> None:
    session = h.sign_in(h.enrol())
    assert session.viewer(Purpose.SUBJECT_ACCESS).purpose is Purpose.SUBJECT_ACCESS


# --- storage -------------------------------------------------------------------------------------


def test_acc_1_users_persist_in_a_file_database_with_default_isolation(tmp_path: Path) -> None:
    path = tmp_path / "directory.db"
    clock = MovableClock(START)
    first = sqlite3.connect(path)  # Python's default (legacy) transaction handling
    enrolment = UserDirectory(first, settings=FAST).create_user(
        user_id="u-alice",
        username="alice",
        role=Role.SENCO,
        organisation_key=ORG,
        local_authority="202",
        nominated=True,
        trained_on=date(2024, 1, 1),
        disclosure_issued_on=date(2024, 1, 1),
        password=PASSWORD,
        pin=PIN,
        now=clock.now(),
    )
    first.close()
    second = sqlite3.connect(path)
    users = UserDirectory(second, settings=FAST)
    session = users.sign_in(
        "alice", PASSWORD, PIN, totp_code(enrolment.token_secret, clock.now()), now=clock.now()
    )
    second.close()
    third = sqlite3.connect(path)
    assert session.token is not None
    assert UserDirectory(third, settings=FAST).session(session.token, clock.now()).user_id == (
        "u-alice"
    )
    third.close()


def test_acc_1_works_inside_an_outer_transaction(h: Harness) -> None:
    h.db.execute("BEGIN IMMEDIATE")
    h.enrol()
    h.db.execute("ROLLBACK")
    with pytest.raises(UnknownUser):
        h.users.account("u-alice")


def test_acc_5_audit_events_carry_no_credentials(h: Harness) -> None:
    enrolment = h.enrol()
    session = h.sign_in(enrolment)
    for field, value, _ in WRONG:
        with pytest.raises(SignInFailed):
            h.sign_in(enrolment, **{field: value})
        h.users.unlock("u-alice", now=h.now)
    assert session.token is not None
    h.users.sign_out(session.token, now=h.now)
    text = repr(h.audit.events())
    for secret in (PASSWORD, PIN, session.token, base64.b32encode(enrolment.token_secret).decode()):
        assert secret not in text
