"""ReferenceDirectory end to end through the SDK clients: one state, every way in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from contactpoint_sdk.errors import ConfigurationError, RateLimited, SupplyInterrupted
from contactpoint_sdk.models import (
    Address,
    Gender,
    Involvement,
    Organisation,
    OrganisationKind,
    PersonName,
    Postcode,
    ServiceKind,
    SourceIdentifiers,
    Upn,
)
from contactpoint_sdk.models.operations import ChildDied, ChildKey, SuppliedChild
from contactpoint_sdk.reference_server import ReferenceDirectory
from contactpoint_sdk.supply.client import SupplyClient
from contactpoint_sdk.supply.retry import RetryPolicy

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
UPN = Upn("B801200005001")


def _pupil(ref: str = "pupil-1", born: date = date(2015, 3, 1)) -> SuppliedChild:
    return SuppliedChild(
        ref=ref,
        name=PersonName(given_name="Amelia", family_name="Okafor"),
        gender=Gender.FEMALE,
        date_of_birth=born,
        address=Address(lines=("1 High Street",), postcode=Postcode("BS1 4DJ")),
        identifiers=SourceIdentifiers(upn=UPN),
        involvements=(
            Involvement(
                reference="edu-1",
                service=ServiceKind.EDUCATION_SETTING,
                organisation=Organisation(
                    name="Riverside Primary", kind=OrganisationKind.SCHOOL, urn="100001"
                ),
                started_on=date(2019, 9, 4),
            ),
        ),
    )


def _no_sleep() -> RetryPolicy:
    waits: list[float] = []
    return RetryPolicy(sleep=waits.append, initial_wait=0.01, jitter=0.0)


def test_sup_1_three_lines_supply_a_child_and_get_only_a_receipt() -> None:
    with ReferenceDirectory(start=START) as directory:
        school = directory.register_supplier("school-8012000", "Riverside Primary")
        with directory.supply_client(school) as client:
            result = client.supply([_pupil()])
        assert result.all_accepted
        assert directory.service.counts()["live"] == 1
        found = directory.service.find_by_identifier(SourceIdentifiers(upn=UPN))
        assert found is not None
        assert directory.service.record(found).name.given_name == "Amelia"


async def test_sup_5_async_client_reaches_the_same_state() -> None:
    with ReferenceDirectory(start=START) as directory:
        school = directory.register_supplier("school-8012000", "Riverside Primary")
        async with directory.async_supply_client(school) as client:
            result = await client.supply([_pupil()])
        assert result.all_accepted
        with directory.supply_client(school, sequence=_Seq(100)) as sync_client:
            again = sync_client.supply([_pupil("pupil-1-again")])
        assert again.all_accepted
        assert directory.service.counts()["live"] == 1  # matched by UPN, not duplicated


class _Seq:
    def __init__(self, start: int) -> None:
        self._next = start

    def next_sequence(self) -> int:
        self._next += 1
        return self._next


def test_sup_5_injected_rate_limits_are_retried_and_applied_once() -> None:
    with ReferenceDirectory(start=START) as directory:
        school = directory.register_supplier("school-8012000", "Riverside Primary")
        directory.faults.rate_limit(2, retry_after=1)
        with directory.supply_client(school, retry=_no_sleep()) as client:
            result = client.supply([_pupil()])
        assert result.all_accepted
        assert directory.service.counts()["live"] == 1


def test_sup_5_rate_limit_past_the_retry_budget_is_a_typed_error() -> None:
    with ReferenceDirectory(start=START) as directory:
        school = directory.register_supplier("school-8012000", "Riverside Primary")
        policy = RetryPolicy(sleep=lambda _: None, max_attempts=2, jitter=0.0)
        with directory.supply_client(school, retry=policy) as client:
            client.directory_key()  # fetched before the faults start
            directory.faults.rate_limit(10, retry_after=1)
            with pytest.raises(SupplyInterrupted) as caught:
                client.supply([_pupil()])
            assert isinstance(caught.value.error, RateLimited)
            assert caught.value.error.attempts == 2
            assert directory.service.counts()["live"] == 0
            # the pending batch resends unchanged once the directory recovers
            directory.faults.clear()
            (pending,) = caught.value.pending
            assert not client.send_batch(pending).rejected
        assert directory.service.counts()["live"] == 1


def test_ret_1_ret_5_moving_the_clock_archives_then_destroys() -> None:
    with ReferenceDirectory(start=START) as directory:
        school = directory.register_supplier("school-8012000", "Riverside Primary")
        with directory.supply_client(school) as client:
            client.supply([_pupil(born=date(2008, 4, 1))])
        report = directory.advance_to(datetime(2026, 4, 1, 12, tzinfo=UTC))  # 18th birthday
        assert len(report.archived) == 1
        assert directory.service.counts()["live"] == 0
        report = directory.advance(timedelta(days=6 * 366))
        assert len(report.destroyed) == 1
        assert directory.service.counts()["archived"] == 0


def test_ret_3_a_death_supplied_through_the_client_archives_a_year_later() -> None:
    with ReferenceDirectory(start=START) as directory:
        school = directory.register_supplier("school-8012000", "Riverside Primary")
        with directory.supply_client(school) as client:
            client.supply([_pupil()])
            key = ChildKey(identifiers=SourceIdentifiers(upn=UPN), date_of_birth=date(2015, 3, 1))
            assert client.supply(
                [ChildDied(ref="death-1", child=key, died_on=date(2026, 3, 1))]
            ).all_accepted
        assert directory.advance_to(datetime(2027, 2, 28, 12, tzinfo=UTC)).archived == ()
        assert len(directory.advance_to(datetime(2027, 3, 1, 12, tzinfo=UTC)).archived) == 1


def test_acc_7_same_directory_over_loopback_https() -> None:
    with ReferenceDirectory(start=START) as directory:
        school = directory.register_supplier("school-8012000", "Riverside Primary")
        with directory.supply_client(school) as client:
            client.supply([_pupil()])
        with directory.serve(require_client_cert=True) as server:
            http = server.client()
            with SupplyClient(
                base_url=server.url,
                supplier_id=school.supplier_id,
                agreement_id=school.agreement_id,
                signing_key=school.signing_key,
                clock=directory.clock,
                http_client=http,
                sequence=_Seq(10),
            ) as remote:
                result = remote.supply([_pupil("pupil-1-over-tls")])
            http.close()
        assert result.all_accepted
        assert directory.service.counts()["live"] == 1


def test_a_closed_directory_refuses_new_clients() -> None:
    directory = ReferenceDirectory(start=START)
    school = directory.register_supplier("school-8012000", "Riverside Primary")
    directory.close()
    with pytest.raises(ConfigurationError):
        directory.supply_client(school)
