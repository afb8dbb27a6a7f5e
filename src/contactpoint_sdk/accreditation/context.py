"""What a test sees while it runs: the suite's directory, the recorded
traffic, fixtures, and a way to make the system under test act (SUP-3).

In harness mode a step is ``system.handle(event)`` then ``system.flush()``;
in black-box mode it is an instruction to the tester and a WAITING state
(:mod:`.blackbox`). Either way the test then judges the traffic recorded
between the step's marks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Protocol

import attrs

from contactpoint_sdk.accreditation.fixtures import Fixtures
from contactpoint_sdk.accreditation.harness import (
    Capability,
    FixtureEvent,
    UnsupportedEvent,
)
from contactpoint_sdk.accreditation.traffic import (
    Exchange,
    OpenedBatch,
    SupplyInspector,
    TrafficRecorder,
)
from contactpoint_sdk.models.record import ChildRecord
from contactpoint_sdk.reference_server.directory import ReferenceDirectory

__all__ = [
    "HarnessFailure",
    "StepDriver",
    "StepRecord",
    "SupplierContext",
]


class HarnessFailure(Exception):
    """The system under test raised while the suite drove it: the test is an
    ERROR, not a FAIL (the suite could not judge it)."""

    def __init__(self, during: str, error: BaseException) -> None:
        super().__init__(f"the system raised {type(error).__name__} during {during}")
        self.during = during
        self.error = error


class StepDriver(Protocol):
    """Makes the system under test act on one fixture event."""

    def perform(self, event: FixtureEvent, *, quiet: bool) -> None:
        """Have the system apply ``event`` and send what it sends.
        ``quiet``: nothing is expected to arrive (a black-box step then waits
        for the tester's confirmation or the timeout only)."""
        ...


def call_harness(during: str, action: Callable[[], None]) -> None:
    """Run one harness call: UnsupportedEvent passes through (a SKIP), any
    other exception becomes :class:`HarnessFailure` (an ERROR)."""
    try:
        action()
    except UnsupportedEvent:
        raise
    except Exception as error:
        raise HarnessFailure(during, error) from error


@attrs.frozen(kw_only=True)
class StepRecord:
    """One step: its label and the recorded exchanges' positions around it."""

    label: str
    start: int
    end: int


class SupplierContext:
    """One supplier test's world: a fresh directory, the recorder in front of
    it, the supplier's registration, fixtures and the step driver."""

    def __init__(
        self,
        *,
        directory: ReferenceDirectory,
        recorder: TrafficRecorder,
        inspector: SupplyInspector,
        driver: StepDriver,
        capabilities: frozenset[Capability],
        supplier_id: str,
        agreement_id: str,
    ) -> None:
        self.directory = directory
        self.recorder = recorder
        self.inspector = inspector
        self.driver = driver
        self.capabilities = capabilities
        self.supplier_id = supplier_id
        self.agreement_id = agreement_id
        self.fixtures = Fixtures(directory.clock.today())
        self.steps: list[StepRecord] = []
        self._opened: dict[int, OpenedBatch] = {}

    @property
    def faults(self) -> object:
        return self.directory.faults

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def step(self, label: str, event: FixtureEvent, *, quiet: bool = False) -> StepRecord:
        """Drive one event through the system and record what it sent."""
        start = self.recorder.mark()
        self.driver.perform(event, quiet=quiet)
        record = StepRecord(label=label, start=start, end=self.recorder.mark())
        self.steps.append(record)
        return record

    def seed(self, record: ChildRecord) -> None:
        """Put ``record`` in the directory, as another source supplied it."""
        self.directory.service.seed_records([record])

    def advance(self, by: timedelta) -> None:
        self.directory.clock.advance(by)

    # --- reading the traffic --------------------------------------------------------

    def exchanges(self, since: int = 0, until: int | None = None) -> tuple[Exchange, ...]:
        return self.recorder.exchanges(since, until)

    def supplied(self, since: int = 0, until: int | None = None) -> list[OpenedBatch]:
        """Every supply request between the marks, opened (cached)."""
        out = []
        for exchange in self.recorder.exchanges(since, until):
            if not exchange.is_supply:
                continue
            opened = self._opened.get(exchange.index)
            if opened is None:
                opened = self.inspector.open(exchange)
                self._opened[exchange.index] = opened
            out.append(opened)
        return out

    def supplied_in(self, step: StepRecord) -> list[OpenedBatch]:
        return self.supplied(step.start, step.end)


def distinct_batches(batches: Sequence[OpenedBatch]) -> list[OpenedBatch]:
    """The first sending of each batch ID, in order (resends left out)."""
    seen: set[str | None] = set()
    out = []
    for batch in batches:
        key = batch.batch_id if batch.batch_id is not None else f"#{batch.exchange.index}"
        if key in seen:
            continue
        seen.add(key)
        out.append(batch)
    return out
