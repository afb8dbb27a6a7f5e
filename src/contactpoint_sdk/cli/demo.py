"""``contactpoint demo``: the main job, on the embedded default.

Starts the reference directory in-process on SQLite, accredits a school-data
adapter and a GP system, and has both supply a synthetic local authority's
children through signed, encrypted, one-way supply. Then it shows the rules at
work: matching two sources to one child, a sensitive service refused without
consent, what a head teacher may see before and after a shield, and the
lifecycle as the clock moves on. Synthetic data only; nothing printed names a
child.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from datetime import date, timedelta

from contactpoint_sdk.errors import ConfigurationError, PolicyRefusal
from contactpoint_sdk.models import (
    ChildRecord,
    Consent,
    ConsentGiver,
    Involvement,
    Organisation,
    OrganisationKind,
    PersonName,
    ServiceKind,
    ShieldGround,
    SourceIdentifiers,
)
from contactpoint_sdk.models.operations import ChildKey, InvolvementStarted, SuppliedChild
from contactpoint_sdk.models.views import ChildView, ShieldedChildView
from contactpoint_sdk.policy.viewer import Role, Viewer
from contactpoint_sdk.reference_server import ReferenceDirectory, ShieldRequestInput
from contactpoint_sdk.supply.client import SupplyResult

__all__ = ["add_demo_arguments", "run_demo"]

LA = "801"


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``demo`` options."""
    parser.add_argument(
        "--children", type=int, default=2_000, help="how many synthetic children (default 2,000)"
    )
    parser.add_argument("--seed", type=int, default=2009, help="random seed (default 2009)")
    parser.set_defaults(handler=run_demo)


def _school_rows(children: list[ChildRecord]) -> Iterator[SuppliedChild]:
    for i, child in enumerate(children):
        education = tuple(
            inv for inv in child.involvements if inv.service is ServiceKind.EDUCATION_SETTING
        )
        if education and child.identifiers.upn is not None:
            yield SuppliedChild(
                ref=f"pupil-{i}",
                name=child.name,
                gender=child.gender,
                date_of_birth=child.date_of_birth,
                address=child.address,
                identifiers=SourceIdentifiers(
                    upn=child.identifiers.upn, nhs_number=child.identifiers.nhs_number
                ),
                parents=child.parents,
                involvements=education,
            )


def _gp_rows(children: list[ChildRecord]) -> Iterator[SuppliedChild]:
    for i, child in enumerate(children):
        gp = tuple(inv for inv in child.involvements if inv.service is ServiceKind.GP_PRACTICE)
        if gp and child.identifiers.nhs_number is not None:
            yield SuppliedChild(
                ref=f"patient-{i}",
                name=child.name,
                gender=child.gender,
                date_of_birth=child.date_of_birth,
                address=child.address,
                identifiers=SourceIdentifiers(nhs_number=child.identifiers.nhs_number),
                involvements=gp,
            )


def _summary(result: SupplyResult) -> str:
    batches = len(result.receipts)
    return (
        f"{batches} batch{'es' if batches != 1 else ''}, {len(result.accepted):,} accepted, "
        f"{len(result.rejected):,} rejected"
    )


def _camhs(today: date, consent: Consent | None) -> Involvement:
    return Involvement(
        reference="camhs-1",
        service=ServiceKind.MENTAL_HEALTH_CAMHS_TIER_2,
        organisation=Organisation(
            name="Avon Child and Adolescent Mental Health Service",
            kind=OrganisationKind.NHS_TRUST,
            ods_code="RVN01",
        ),
        started_on=today,
        consent=consent,
    )


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo; returns the exit code."""
    from contactpoint_sdk.synthetic import Population  # noqa: PLC0415 - optional extra: faker

    if args.children < 1:
        raise ConfigurationError("--children must be at least 1")
    started = time.perf_counter()
    with ReferenceDirectory() as directory:
        today = directory.clock.today()
        children = list(Population(args.seed, today=today, la_codes=[LA]).children(args.children))
        print("contactpoint-sdk demo: the reference directory, in-process, on SQLite")
        print(f"  {len(children):,} synthetic children of local authority {LA}; today {today}\n")

        schools = directory.register_supplier(
            "schools-adapter-801", "School census adapter (SUP-2)", local_authority=LA
        )
        gps = directory.register_supplier("gp-system-avon", "GP practice system")
        camhs = directory.register_supplier("camhs-avon", "CAMHS case management")
        print("1. Three suppliers accredited, each with its own Ed25519 key (SUP-3, SUP-5)")

        with directory.supply_client(schools) as client:
            result = client.supply(_school_rows(children))
        print(f"2. Schools supplied their pupils, signed and encrypted: {_summary(result)}")
        with directory.supply_client(gps) as client:
            result = client.supply(_gp_rows(children))
        counts = directory.service.counts()
        print(f"3. GP practices supplied their patients: {_summary(result)}")
        print(
            f"   the directory holds {counts['live']:,} records: school and GP matched to one "
            "child by NHS number (SUP-7)"
        )

        sample = next(
            c for c in children if c.identifiers.upn and c.identifiers.nhs_number and c.parents
        )
        key = ChildKey(
            identifiers=SourceIdentifiers(nhs_number=sample.identifiers.nhs_number),
            date_of_birth=sample.date_of_birth,
        )
        with directory.supply_client(camhs) as client:
            try:
                client.supply(
                    [InvolvementStarted(ref="r1", child=key, involvement=_camhs(today, None))]
                )
            except PolicyRefusal as refusal:
                print(
                    f"4. A mental health service without consent is refused before sending: "
                    f"{refusal.code} ({refusal.rule})"
                )
            consent = Consent(
                given_by=ConsentGiver.CHILD,
                given_on=today,
                recorded_by=PersonName(given_name="Ada", family_name="Practitioner"),
            )
            result = client.supply(
                [InvolvementStarted(ref="r2", child=key, involvement=_camhs(today, consent))]
            )
            print(
                f"   with the child's explicit consent it is recorded (SENS-2): {_summary(result)}"
            )

        found = directory.service.find_by_identifier(key.identifiers)
        if found is None:
            print("the sample child was not found: the demo found a fault")
            return 1
        teacher = Viewer(
            user_id="demo-head-teacher",
            role=Role.HEAD_TEACHER,
            organisation_key="urn:100000",
            local_authority=LA,
        )
        seen = directory.service.view(found, teacher)
        if isinstance(seen, ChildView):
            services = ", ".join(s.service.value for s in seen.services)
            print(
                f"5. A head teacher opens the record: services [{services}]; "
                f"{len(seen.unspecified_services)} unspecified service (SENS-4); "
                f"no GP recorded: {seen.no_gp}"
            )
        team = Viewer(
            user_id="demo-la-team",
            role=Role.LA_MANAGEMENT_TEAM,
            organisation_key="la:801",
            local_authority=LA,
        )
        directory.service.request_shield(
            found,
            ShieldRequestInput(
                ground=ShieldGround.RISK_OF_HARM_TO_CHILD, requested_by="demo-la-team"
            ),
            team,
        )
        shielded = directory.service.view(found, teacher)
        if isinstance(shielded, ShieldedChildView):
            print(
                "   the local authority shields it, at once (SHLD-2); the head teacher now sees "
                "only name, date of birth and directory identifier (SHLD-1)"
            )

        print("6. Time moves on (RET-8):")
        for years, label in ((1, "1 year"), (6, "6 more years"), (1, "1 more year")):
            report = directory.advance(timedelta(days=365 * years + years // 4))
            counts = directory.service.counts()
            print(
                f"   + {label}: archived {len(report.archived):,}, destroyed "
                f"{len(report.destroyed):,}; now {counts['live']:,} live, "
                f"{counts['archived']:,} in the archive (RET-1, RET-5)"
            )
    print(f"\ndone in {time.perf_counter() - started:.1f} s")
    return 0
