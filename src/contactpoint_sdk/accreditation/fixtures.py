"""Synthetic fixtures for accreditation tests: children, organisations,
practitioners and consents drawn from :mod:`contactpoint_sdk.synthetic`
(PRIV: never a real person's data).

The same seed and day give the same fixtures, so a run is repeatable; each
test draws its fixtures afresh.
"""

from __future__ import annotations

import functools
from datetime import date, timedelta

import attrs

from contactpoint_sdk.accreditation.harness import FixtureChild
from contactpoint_sdk.models.enums import ConsentGiver, ServiceKind, ServiceTier
from contactpoint_sdk.models.record import (
    ChildRecord,
    Consent,
    Involvement,
    Organisation,
    ParentCarer,
    PersonName,
    Practitioner,
)
from contactpoint_sdk.synthetic import Population

__all__ = ["DEFAULT_SEED", "Fixtures", "InvolvementFixture", "fixture_child"]

#: The seed every run draws its fixtures from.
DEFAULT_SEED = 8012


@attrs.frozen(kw_only=True)
class InvolvementFixture:
    """A service, its organisation and practitioner, as a case-management
    system holds them."""

    service: ServiceKind
    organisation: Organisation
    practitioner: Practitioner


def fixture_child(record: ChildRecord, key: str) -> FixtureChild:
    """The vendor system's view of a synthetic child: ``key`` is its own ID."""
    return FixtureChild(
        key=key,
        given_name=record.name.given_name,
        family_name=record.name.family_name,
        gender=record.gender,
        date_of_birth=record.date_of_birth,
        address=record.address,
        upn=record.identifiers.upn,
        uln=record.identifiers.uln,
        nhs_number=record.identifiers.nhs_number,
        parents=tuple(p for p in record.parents if isinstance(p, ParentCarer)),
    )


#: How many school-age children one run may draw.
_POOL = 64


@functools.lru_cache(maxsize=4)
def _shared(seed: int, today: date) -> _Shared:
    """One population per seed and day: generating it is the costly part,
    so every test of a run draws from the same one."""
    population = Population(seed=seed, today=today)
    pupils: list[ChildRecord] = []
    for record in population.children(10_000):
        age = (today - record.date_of_birth).days // 365
        parents = [p for p in record.parents if isinstance(p, ParentCarer)]
        if (
            6 <= age <= 15
            and record.identifiers.upn is not None
            and record.identifiers.nhs_number is not None
            and record.shield is None
            and record.died_on is None
            and any(p.parental_responsibility and p.contact.phones for p in parents)
        ):
            pupils.append(record)
            if len(pupils) == _POOL:
                break
    involvements: dict[bool, InvolvementFixture] = {}
    for record in population.children(5_000):
        for inv in record.involvements:
            if inv.practitioner is None or inv.service.tier is ServiceTier.UNIVERSAL:
                continue
            involvements.setdefault(
                inv.service.is_sensitive,
                InvolvementFixture(
                    service=inv.service,
                    organisation=inv.organisation,
                    practitioner=inv.practitioner,
                ),
            )
        if len(involvements) == 2:
            break
    recorder = population.child().name
    return _Shared(
        population=population, pupils=tuple(pupils), involvements=involvements, recorder=recorder
    )


@attrs.frozen(kw_only=True)
class _Shared:
    population: Population
    pupils: tuple[ChildRecord, ...]
    involvements: dict[bool, InvolvementFixture]
    recorder: PersonName


class Fixtures:
    """Draws fixtures for one test (deterministic for a seed and a day)."""

    def __init__(self, today: date, *, seed: int = DEFAULT_SEED) -> None:
        self.today = today
        self._shared = _shared(seed, today)
        self._count = 0

    def record(self) -> ChildRecord:
        """A fresh school-age child's record (a UPN, an NHS number, a parent
        with parental responsibility and a phone)."""
        if self._count >= len(self._shared.pupils):
            raise LookupError("a test drew more children than the fixture pool holds")
        record = self._shared.pupils[self._count]
        self._count += 1
        return record

    def child(self) -> tuple[FixtureChild, ChildRecord]:
        """A fresh child as the vendor's system holds it, and the record."""
        record = self.record()
        return fixture_child(record, f"child-{self._count:03d}"), record

    def moved(self, record: ChildRecord) -> ChildRecord:
        """The same child at a new address."""
        return self._shared.population.with_move(record)

    def involvement(self, *, sensitive: bool = False) -> InvolvementFixture:
        """A practitioner's service: an additional service (REC-4), or a
        sensitive one (SENS-1) when ``sensitive``."""
        return self._shared.involvements[sensitive]

    def consent(self, on: date) -> Consent:
        """Informed, explicit consent given by the child (SENS-2)."""
        return Consent(given_by=ConsentGiver.CHILD, given_on=on, recorded_by=self._shared.recorder)

    def days_ago(self, days: int) -> date:
        return self.today - timedelta(days=days)

    def with_involvement(
        self, record: ChildRecord, fixture: InvolvementFixture, reference: str, started_on: date
    ) -> ChildRecord:
        """``record`` with one more involvement (for seeding the directory)."""
        involvement = Involvement(
            reference=reference,
            service=fixture.service,
            organisation=fixture.organisation,
            practitioner=fixture.practitioner,
            started_on=started_on,
            consent=self.consent(started_on) if fixture.service.is_sensitive else None,
        )
        return attrs.evolve(record, involvements=(*record.involvements, involvement))
