"""``contactpoint demo``: the main job, on the embedded default.

It generates a synthetic population, validates every
record, round-trips each through the wire codec and shows how the redaction
rules present one child to different viewers. Synthetic data only: no real
child's or parent's data is ever used or logged.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime

import attrs

from contactpoint_sdk.clock import FixedClock, uk_date
from contactpoint_sdk.errors import ConfigurationError
from contactpoint_sdk.models import (
    ChildRecord,
    ServiceKind,
    ServiceTier,
    Shield,
    ShieldGround,
    WireCodec,
)
from contactpoint_sdk.policy.redaction import view
from contactpoint_sdk.policy.viewer import Role, Viewer

__all__ = ["add_demo_arguments", "run_demo"]


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo; returns the exit code."""
    if args.records < 1:
        raise ConfigurationError("--records must be at least 1")
    from contactpoint_sdk.synthetic import Population  # noqa: PLC0415 - optional extra: faker

    now = datetime.now(UTC).replace(microsecond=0)
    today = uk_date(now)
    codec = WireCodec(clock=FixedClock(now))
    population = Population(args.seed, today=today)

    started = time.perf_counter()
    tiers: Counter[str] = Counter()
    shielded = no_gp = no_school = round_trips = 0
    sample: ChildRecord | None = None
    for record in population.children(args.records):
        wire = json.loads(json.dumps(codec.encode(record)))
        if codec.decode(wire, ChildRecord) != record:
            print(f"round trip changed record {record.directory_id}", file=sys.stderr)
            return 1
        round_trips += 1
        shielded += record.shield is not None
        services = {i.service for i in record.involvements if i.ended_on is None}
        no_gp += ServiceKind.GP_PRACTICE not in services
        no_school += ServiceKind.EDUCATION_SETTING not in services
        for inv in record.involvements:
            tiers[inv.service.tier.value] += 1
        if (
            sample is None
            and record.shield is None
            and any(i.is_sensitive for i in record.involvements)
        ):
            sample = record
    elapsed = time.perf_counter() - started

    print("contactpoint-sdk demo: synthetic records through the model and the wire codec")
    print(f"  records generated, validated and round-tripped: {round_trips:,}")
    print(f"  time: {elapsed:.2f} s ({round_trips / elapsed:,.0f} records/s)")
    print(
        f"  involvements: {tiers[ServiceTier.UNIVERSAL.value]:,} universal, "
        f"{tiers[ServiceTier.ADDITIONAL.value]:,} additional, "
        f"{tiers[ServiceTier.SENSITIVE.value]:,} sensitive (recorded with consent, SENS-2)"
    )
    print(f"  shielded records (SHLD-1): {shielded:,}")
    print(f"  no current GP recorded (REC-7): {no_gp:,}; no education setting: {no_school:,}")

    if sample is not None:
        teacher = Viewer(
            user_id="demo-teacher",
            role=Role.HEAD_TEACHER,
            organisation_key="urn:000000",
            local_authority="000",
        )
        seen = view(sample, teacher, now)
        wire = codec.encode(seen)
        print("\nOne child with a sensitive service, as a head teacher sees it (SENS-4):")
        print(
            f"  services shown: {[s['service'] for s in wire.get('services', [])]}; "
            f"unspecified services: {len(wire.get('unspecified_services', []))}"
        )
        hidden = attrs.evolve(
            sample,
            shield=Shield(
                requested_at=now,
                ground=ShieldGround.RISK_OF_HARM_TO_CHILD,
                requested_by="demo-la-user",
            ),
        )
        shielded_wire = codec.encode(view(hidden, teacher, now))
        print("The same child once shielded (SHLD-1): fields shown:", sorted(shielded_wire))
    return 0


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``demo`` options."""
    parser.add_argument("--records", type=int, default=10_000, help="how many (default 10,000)")
    parser.add_argument("--seed", type=int, default=2009, help="random seed (default 2009)")
    parser.set_defaults(handler=run_demo)
