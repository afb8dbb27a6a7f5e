"""The look-up clients end to end, through the reference directory's in-process transports.

A vendor's user signs in with four credentials (the token's code computed from
the provisioning URI by ``cryptography``'s own TOTP, as an authenticator app
would), finds a child, states a reason and sees exactly what their role
allows: a shielded child as name, date of birth and identifier only; a
sensitive service as "a service", never its kind. Rate limits surface as
``SearchRateLimited``; acting for a practitioner is audited with both IDs.

Every scenario runs with the blocking and the awaited client (``mode``).
"""

from __future__ import annotations

import base64
import inspect
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qs, urlparse

import pytest
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from contactpoint_sdk.errors import (
    NotEligible,
    ReasonRequired,
    SearchRateLimited,
    SessionInvalid,
    SignInFailed,
)
from contactpoint_sdk.lookup import (
    AsyncLookupClient,
    BrokerTicket,
    BrokerTicketStatus,
    LookupClient,
)
from contactpoint_sdk.models import (
    Address,
    Consent,
    ConsentGiver,
    Gender,
    Involvement,
    Organisation,
    OrganisationKind,
    PersonName,
    Postcode,
    ServiceKind,
    ShieldGround,
    SourceIdentifiers,
    Upn,
)
from contactpoint_sdk.models.codec import default_codec
from contactpoint_sdk.models.identifiers import DirectoryId
from contactpoint_sdk.models.operations import SuppliedChild
from contactpoint_sdk.models.views import ChildView, FullRecordView, ShieldedChildView
from contactpoint_sdk.policy.reasons import ReasonCode
from contactpoint_sdk.policy.trawling import SearchCriteria
from contactpoint_sdk.policy.viewer import Role
from contactpoint_sdk.reference_server import ReferenceDirectory
from contactpoint_sdk.reference_server.audit import MemoryAuditLog
from contactpoint_sdk.reference_server.directory import IN_PROCESS_URL, UserCredentials
from contactpoint_sdk.supply.retry import RetryPolicy

Mode = Literal["sync", "async"]
AnyClient = LookupClient | AsyncLookupClient

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LA = "801"
AMELIA_UPN = Upn("B801200005001")
NOAH_UPN = Upn("Q801200005002")
AMELIA_BORN = date(2015, 3, 1)
NOAH_BORN = date(2014, 5, 5)


# --- the directory and its children ------------------------------------------------------


def _school() -> Organisation:
    return Organisation(name="Riverside Primary", kind=OrganisationKind.SCHOOL, urn="100001")


def _child(ref: str, given: str, born: date, upn: Upn, *involvements: Involvement) -> SuppliedChild:
    return SuppliedChild(
        ref=ref,
        name=PersonName(given_name=given, family_name="Okafor"),
        gender=Gender.FEMALE,
        date_of_birth=born,
        address=Address(lines=("1 High Street",), postcode=Postcode("BS1 4DJ")),
        identifiers=SourceIdentifiers(upn=upn),
        involvements=(
            Involvement(
                reference=f"edu-{ref}",
                service=ServiceKind.EDUCATION_SETTING,
                organisation=_school(),
                started_on=date(2019, 9, 4),
            ),
            *involvements,
        ),
    )


SENSITIVE = Involvement(
    reference="sh-1",
    service=ServiceKind.SEXUAL_HEALTH_CONTRACEPTION,
    organisation=Organisation(
        name="Riverside Clinic", kind=OrganisationKind.NHS_TRUST, ods_code="RX1"
    ),
    started_on=date(2025, 9, 1),
    consent=Consent(
        given_by=ConsentGiver.CHILD,
        given_on=date(2025, 9, 1),
        recorded_by=PersonName(given_name="Alex", family_name="Recorder"),
    ),
)


def _directory() -> ReferenceDirectory:
    directory = ReferenceDirectory(start=START)
    school = directory.register_supplier("school-8012000", "Riverside Primary", local_authority=LA)
    with directory.supply_client(school) as supply:
        result = supply.supply(
            [
                _child("amelia", "Amelia", AMELIA_BORN, AMELIA_UPN, SENSITIVE),
                _child("noah", "Noah", NOAH_BORN, NOAH_UPN),
            ]
        )
    assert result.all_accepted, result.rejected
    return directory


class ClockSleep:
    """The retry policy's sleep: moves the directory's clock instead of waiting
    (when ``moves``), and records every wait."""

    def __init__(self, directory: ReferenceDirectory) -> None:
        self.directory = directory
        self.moves = True
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.moves:
            self.directory.clock.advance(timedelta(seconds=seconds))

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def policy(self, **settings: Any) -> RetryPolicy:
        return RetryPolicy(sleep=self.sleep, async_sleep=self.async_sleep, jitter=0.0, **settings)


def _client(directory: ReferenceDirectory, mode: Mode, **settings: Any) -> AnyClient:
    common: dict[str, Any] = {"base_url": IN_PROCESS_URL, "clock": directory.clock, **settings}
    if mode == "sync":
        return LookupClient(transport=directory.transport(), **common)
    return AsyncLookupClient(transport=directory.async_transport(), **common)


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> Mode:
    value: Mode = request.param
    return value


async def call(client: AnyClient, method: str, *args: Any, **kwargs: Any) -> Any:
    """``client.method(...)``, awaited for the async client."""
    result = getattr(client, method)(*args, **kwargs)
    if inspect.isawaitable(result):
        return await result
    return result


def authenticator_code(provisioning_uri: str, at: datetime) -> str:
    """The code an authenticator app enrolled with ``provisioning_uri`` shows at ``at``."""
    uri = urlparse(provisioning_uri)
    assert uri.scheme == "otpauth"
    assert uri.netloc == "totp"
    query = parse_qs(uri.query)
    secret = query["secret"][0]
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digits = int(query.get("digits", ["6"])[0])
    period = int(query.get("period", ["30"])[0])
    totp = TOTP(key, digits, SHA1(), period)  # noqa: S303 - RFC 6238's HMAC-SHA-1
    return totp.generate(int(at.timestamp())).decode("ascii")


async def sign_in(client: AnyClient, directory: ReferenceDirectory, user: UserCredentials) -> Any:
    code = authenticator_code(user.provisioning_uri, directory.clock.now())
    return await call(client, "sign_in", user.username, user.password, user.pin, code)


async def find(client: AnyClient, upn: Upn) -> DirectoryId:
    result = await call(client, "search", SearchCriteria(upn=upn))
    (found,) = result.directory_ids
    assert isinstance(found, DirectoryId)
    return found


def audit_events(directory: ReferenceDirectory) -> list[Any]:
    audit = directory.service.audit
    assert isinstance(audit, MemoryAuditLog)
    return list(audit.events())


# --- the whole journey --------------------------------------------------------------------------


async def test_acc_1_acc_3_a_teacher_signs_in_finds_a_child_and_sees_what_the_role_allows(
    mode: Mode,
) -> None:
    with _directory() as directory:
        teacher = directory.create_user("t-1", Role.HEAD_TEACHER, local_authority=LA)
        client = _client(directory, mode)
        session = await sign_in(client, directory, teacher)
        assert session.user_id == "t-1"
        assert session.role is Role.HEAD_TEACHER
        assert session.local_authority == LA
        assert session.acting_for is None

        # ACC-4: a search by name and date of birth; only what tells children apart.
        result = await call(
            client,
            "search",
            SearchCriteria(family_name="Okafor", date_of_birth=AMELIA_BORN),
        )
        (candidate,) = result.candidates
        assert result.shielded_candidates == ()
        assert candidate.given_name == "Amelia"
        assert candidate.postcode_district == "BS1"
        amelia = candidate.directory_id

        # ACC-3: a reason, or nothing is sent.
        with pytest.raises(ReasonRequired):
            await call(client, "open", amelia, None)

        # SENS-4: the sensitive service is only "a service".
        shown = await call(client, "open", amelia, ReasonCode.NEW_TO_SERVICE)
        assert isinstance(shown, ChildView)
        assert [s.service for s in shown.services] == [ServiceKind.EDUCATION_SETTING]
        assert [u.ordinal for u in shown.unspecified_services] == [1]
        wire = json.dumps(default_codec.encode(shown))
        assert "sexual" not in wire
        assert "Riverside Clinic" not in wire

        ticket = await call(client, "request_broker", amelia, 1)
        assert isinstance(ticket, BrokerTicket)
        assert ticket.directory_id == amelia
        assert ticket.status is BrokerTicketStatus.OPEN
        assert ticket.requested_by == "t-1"

        # SHLD-6 then SHLD-1: the head shields Noah; from then on, name, date
        # of birth and identifier only.
        noah = await find(client, NOAH_UPN)
        assert (
            await call(client, "request_shield", noah, ShieldGround.RISK_OF_HARM_TO_CHILD) is None
        )
        hidden = await call(client, "open", noah, ReasonCode.CHILD_PROTECTION)
        assert isinstance(hidden, ShieldedChildView)
        assert hidden.directory_id == noah
        assert hidden.name.given_name == "Noah"
        assert "High Street" not in json.dumps(default_codec.encode(hidden))
        again = await call(
            client, "search", SearchCriteria(family_name="Okafor", date_of_birth=NOAH_BORN)
        )
        assert again.candidates == ()
        assert [c.directory_id for c in again.shielded_candidates] == [noah]

        await call(client, "sign_out")
        assert not client.signed_in
        with pytest.raises(SessionInvalid):
            await call(client, "search", SearchCriteria(upn=AMELIA_UPN))
        await call(client, "close")

        opened = [e for e in audit_events(directory) if e.action == "record_viewed"]
        assert [(e.actor, e.directory_id, e.reason) for e in opened] == [
            ("t-1", str(amelia), "new_to_service"),
            ("t-1", str(noah), "child_protection"),
        ]


async def test_sens_4_shld_3_the_management_team_sees_the_whole_record(mode: Mode) -> None:
    with _directory() as directory:
        team = directory.create_user(
            "la-1", Role.LA_MANAGEMENT_TEAM, local_authority=LA, organisation_key="la:801"
        )
        client = _client(directory, mode)
        await sign_in(client, directory, team)
        amelia = await find(client, AMELIA_UPN)
        shown = await call(client, "open", amelia, ReasonCode.CHILD_PROTECTION)
        assert isinstance(shown, FullRecordView)
        assert any(
            i.service is ServiceKind.SEXUAL_HEALTH_CONTRACEPTION for i in shown.record.involvements
        )
        await call(client, "sign_out")


async def test_acc_1_wrong_code_and_lapsed_disclosure_refused(mode: Mode) -> None:
    with _directory() as directory:
        teacher = directory.create_user("t-1", Role.HEAD_TEACHER, local_authority=LA)
        lapsed = directory.create_user(
            "t-2",
            Role.HEAD_TEACHER,
            local_authority=LA,
            disclosure_issued_on=START.date() - timedelta(days=4 * 365),
        )
        client = _client(directory, mode)
        wrong = "000000" if teacher.token(directory.clock.now()) != "000000" else "111111"
        with pytest.raises(SignInFailed) as refused:
            await call(client, "sign_in", teacher.username, teacher.password, teacher.pin, wrong)
        assert refused.value.request_id
        assert teacher.password not in str(refused.value)
        with pytest.raises(NotEligible) as ineligible:
            await sign_in(client, directory, lapsed)
        assert ineligible.value.code == "disclosure_lapsed"
        assert not client.signed_in
        await call(client, "close")


async def test_acc_4_rate_limited_search_waits_then_surfaces_search_rate_limited(
    mode: Mode,
) -> None:
    with _directory() as directory:
        teacher = directory.create_user("t-1", Role.HEAD_TEACHER, local_authority=LA)
        sleeps = ClockSleep(directory)
        client = _client(directory, mode, retry=sleeps.policy(max_attempts=2))
        await sign_in(client, directory, teacher)
        per_minute = directory.settings.search_rate_per_minute
        for _ in range(per_minute):
            await find(client, AMELIA_UPN)
        assert sleeps.waits == []

        # Over the limit: the client waits out Retry-After (here by moving the
        # directory's clock) and the search goes through.
        await find(client, AMELIA_UPN)
        (waited,) = sleeps.waits
        assert 1.0 <= waited <= 60.0

        # Over it again, and the wait does not help (the clock stands still):
        # after its attempts the client raises SearchRateLimited.
        for _ in range(per_minute - 1):
            await find(client, AMELIA_UPN)
        sleeps.moves = False
        with pytest.raises(SearchRateLimited) as caught:
            await find(client, AMELIA_UPN)
        error = caught.value
        assert error.rule == "ACC-4"
        assert error.retry_after >= 1.0
        assert error.request_id
        assert len(sleeps.waits) == 2
        await call(client, "sign_out")
        await call(client, "close")


async def test_acc_6_acting_for_a_practitioner_is_audited_with_both(mode: Mode) -> None:
    with _directory() as directory:
        teacher = directory.create_user("t-1", Role.HEAD_TEACHER, local_authority=LA)
        directory.create_practitioner("p-1", Role.SENCO, local_authority=LA)
        client = _client(directory, mode)
        await sign_in(client, directory, teacher)
        session = await call(client, "act_for", "p-1")
        assert session.acting_for == "p-1"
        assert session.user_id == "t-1"
        amelia = await find(client, AMELIA_UPN)
        shown = await call(client, "open", amelia, ReasonCode.CONTACTING_PRACTITIONER)
        assert isinstance(shown, ChildView)
        session = await call(client, "stop_acting")
        assert session.acting_for is None
        assert client.session == session
        await call(client, "sign_out")
        await call(client, "close")

        events = audit_events(directory)
        (viewed,) = [e for e in events if e.action == "record_viewed"]
        assert viewed.actor == "t-1"
        assert viewed.on_behalf_of == "p-1"
        assert "on_behalf_of:p-1" in viewed.refs
        assert any(e.action == "mediation_started" and e.actor == "t-1" for e in events)


async def test_acc_1_with_block_signs_out_at_the_directory(mode: Mode) -> None:
    with _directory() as directory:
        teacher = directory.create_user("t-1", Role.HEAD_TEACHER, local_authority=LA)
        client = _client(directory, mode)
        if isinstance(client, LookupClient):
            with client:
                await sign_in(client, directory, teacher)
        else:
            async with client:
                await sign_in(client, directory, teacher)
        ended = [e for e in audit_events(directory) if e.action == "session_ended"]
        assert [(e.actor, e.code) for e in ended] == [("t-1", "signed_out")]
        assert client.closed
