"""Run a test plan against a system under test (SUP-3).

::

    report = run_plan("supplier", MySupplierHarness(), tester="A. Tester")
    assert report.passed

Two modes:

``harness``
    The system is a :class:`~.harness.SupplierHarness` (or
    :class:`~.harness.LookupHarness`). Each test gets a fresh in-process
    :class:`~contactpoint_sdk.reference_server.directory.ReferenceDirectory`
    with a recorder in front of it; the runner connects the system, drives
    the test's fixture events, judges the traffic, and closes the system.
``blackbox``
    The suite starts the reference directory on loopback HTTPS, tells the
    tester what to do in their system, and waits (see :mod:`.blackbox`).

Statuses: an exception escaping the harness is an ERROR (the suite could not
judge); :class:`~.harness.UnsupportedEvent` or a missing capability is a
SKIP; otherwise the test's own verdict (PASS, FAIL or REVIEW).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from contactpoint_sdk.accreditation.blackbox import (
    QUIET_SECONDS,
    BlackBoxSupplierDriver,
    BlackBoxSupplierSite,
    StepPrompter,
)
from contactpoint_sdk.accreditation.context import (
    HarnessFailure,
    SupplierContext,
    call_harness,
)
from contactpoint_sdk.accreditation.harness import (
    Capability,
    DirectoryConnection,
    FixtureEvent,
    LookupHarness,
    SupplierHarness,
    UnsupportedEvent,
)
from contactpoint_sdk.accreditation.lookup_plan import LOOKUP_PLAN, LookupContext
from contactpoint_sdk.accreditation.model import RunReport, Status, TestResult
from contactpoint_sdk.accreditation.plan import Plan, PlanError, TestCase, Verdict
from contactpoint_sdk.accreditation.supplier_plan import SUPPLIER_PLAN
from contactpoint_sdk.accreditation.traffic import SupplyInspector, TrafficRecorder
from contactpoint_sdk.reference_server.directory import IN_PROCESS_URL, ReferenceDirectory
from contactpoint_sdk.reference_server.transport import InProcessTransport

__all__ = ["PLANS", "SUPPLIER_ID", "Mode", "PlanError", "required_test_ids", "run_plan"]

_log = logging.getLogger(__name__)

Mode = Literal["harness", "blackbox"]
#: The supplier ID the suite registers the system under test as.
SUPPLIER_ID = "sut-supplier"
#: The plans by name.
PLANS: dict[str, Plan[Any]] = {"supplier": SUPPLIER_PLAN, "lookup": LOOKUP_PLAN}

C = TypeVar("C")


def required_test_ids(plan: str, capabilities: Iterable[str]) -> tuple[str, ...]:
    """The tests of ``plan`` a system declaring ``capabilities`` must pass, in
    plan order: every required test needing no capability or a declared one
    (SUP-3). The look-up plan is run with every capability, whatever is
    declared.

    :raises PlanError: no such plan.
    """
    selected = PLANS.get(plan)
    if selected is None:
        raise PlanError(f"no plan {plan!r}: choose one of {', '.join(sorted(PLANS))}")
    declared = {c.value for c in Capability} if plan == "lookup" else {str(c) for c in capabilities}
    return tuple(
        case.test_id
        for case in selected
        if case.required and (case.capability is None or case.capability.value in declared)
    )


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


class _HarnessDriver:
    """Harness mode: a step is ``handle(event)`` then ``flush()``."""

    def __init__(self, system: SupplierHarness) -> None:
        self.system = system

    def perform(self, event: FixtureEvent, *, quiet: bool) -> None:
        call_harness(f"handle({type(event).__name__})", lambda: self.system.handle(event))
        call_harness("flush()", self.system.flush)


@contextlib.contextmanager
def _harness_supplier(system: SupplierHarness) -> Iterator[SupplierContext]:
    """A fresh directory for one test, the system connected to it."""
    with ReferenceDirectory() as directory:
        credentials = directory.register_supplier(SUPPLIER_ID, "System under test")
        recorder = TrafficRecorder(directory.app)
        transport = InProcessTransport(recorder)
        try:
            ctx = SupplierContext(
                directory=directory,
                recorder=recorder,
                inspector=SupplyInspector(
                    decryption_keys=directory.service.encryption_keys,
                    supplier_key=credentials.signing_key.public_key(),
                    codec=directory.service.codec,
                ),
                driver=_HarnessDriver(system),
                capabilities=frozenset(system.capabilities),
                supplier_id=credentials.supplier_id,
                agreement_id=credentials.agreement_id,
            )
            connection = DirectoryConnection(
                base_url=IN_PROCESS_URL,
                supplier_id=credentials.supplier_id,
                agreement_id=credentials.agreement_id,
                signing_key=credentials.signing_key,
                directory_key=directory.service.directory_public_key(),
                transport=transport,
                clock=directory.clock,
            )
            call_harness("connect()", lambda: system.connect(connection))
            try:
                yield ctx
            finally:
                call_harness("close()", system.close)
        finally:
            transport.close()


def _judge(
    case: TestCase[C], capabilities: frozenset[Capability], context: Callable[[], Any]
) -> tuple[Verdict, float]:
    """Run one test; its verdict (exceptions mapped to statuses) and duration."""
    started = time.monotonic()
    if case.capability is not None and case.capability not in capabilities:
        return (
            Verdict.skipped(f"the system does not declare the {case.capability.value} capability"),
            0.0,
        )
    try:
        with context() as ctx:
            verdict = case.run(ctx)
    except UnsupportedEvent as error:
        verdict = Verdict.skipped(f"the system cannot take this test's events: {error}")
    except HarnessFailure as failure:
        _log.info("%s: %s", case.test_id, failure, exc_info=failure.error)
        verdict = Verdict(status=Status.ERROR, message=str(failure))
    except Exception as error:
        _log.exception("%s: the suite failed", case.test_id)
        verdict = Verdict(status=Status.ERROR, message=f"the suite failed: {type(error).__name__}")
    return verdict, time.monotonic() - started


def _result(
    case: TestCase[Any], verdict: Verdict, seconds: float, capabilities: frozenset[Capability]
) -> TestResult:
    """One test's result. A test needing a capability the system does not
    declare is not applicable to it: skipped and *not required*, so a
    school-only system can be accredited for what it declares (the report
    states the declared capabilities). A declared capability whose events the
    system then refuses (``UnsupportedEvent``) stays a required skip: not a pass."""
    applicable = case.capability is None or case.capability in capabilities
    return TestResult(
        test_id=case.test_id,
        title=case.title,
        status=verdict.status,
        required=case.required and applicable,
        rules=case.rules,
        message=verdict.message,
        evidence=verdict.evidence,
        duration_ms=round(seconds * 1000),
    )


def run_plan(
    plan: str,
    system: SupplierHarness | LookupHarness | None = None,
    *,
    mode: Mode = "harness",
    tester: str = "self-test",
    only: Sequence[str] | None = None,
    sut_name: str | None = None,
    sut_version: str | None = None,
    prompter: StepPrompter | None = None,
    capabilities: frozenset[Capability] | None = None,
    step_timeout: float = 120.0,
    quiet_seconds: float = QUIET_SECONDS,
) -> RunReport:
    """Run the ``plan`` (``"supplier"`` or ``"lookup"``) against ``system``.

    :param system: the harness (harness mode); ``None`` in black-box mode.
    :param mode: ``"harness"`` or ``"blackbox"``.
    :param tester: who ran it (the signed result states it).
    :param only: run only these test IDs (plan order kept).
    :param sut_name: the system's name (default: the harness's ``name``;
        required in black-box mode).
    :param sut_version: likewise its version.
    :param prompter: black-box mode: shows each step to the tester and waits
        (default: the console).
    :param capabilities: black-box mode: what the system can do (default: all).
    :param step_timeout: black-box mode: the longest wait for one step.
    :param quiet_seconds: black-box mode: how long supply must stay quiet
        before a step counts as done.
    :raises PlanError: an unknown plan, test ID or mode, or a system that
        does not fit the plan.
    """
    selected_plan = PLANS.get(plan)
    if selected_plan is None:
        raise PlanError(f"no plan {plan!r}: choose one of {', '.join(sorted(PLANS))}")
    cases = selected_plan.select(only)
    name = sut_name or (getattr(system, "name", None) if system is not None else None)
    version = sut_version or (getattr(system, "version", None) if system is not None else None)
    if not name or not version:
        raise PlanError("the system under test needs a name and a version")
    started_at = _now()
    results: list[TestResult] = []
    if mode == "harness":
        if plan == "supplier":
            if not isinstance(system, SupplierHarness):
                raise PlanError("the supplier plan needs a SupplierHarness in harness mode")
            supplier = system
            caps = frozenset(supplier.capabilities)
            for case in cases:
                verdict, seconds = _judge(case, caps, lambda: _harness_supplier(supplier))
                results.append(_result(case, verdict, seconds, caps))
        else:
            if not isinstance(system, LookupHarness):
                raise PlanError("the look-up plan needs a LookupHarness in harness mode")
            looker = system
            caps = frozenset(Capability)
            for case in cases:
                verdict, seconds = _judge(case, caps, lambda: LookupContext.harness(looker))
                results.append(_result(case, verdict, seconds, caps))
    elif mode == "blackbox":
        if plan != "supplier":
            raise PlanError("black-box mode runs the supplier plan; use a harness for look-up")
        caps = capabilities if capabilities is not None else frozenset(Capability)
        with BlackBoxSupplierSite(
            prompter=prompter, step_timeout=step_timeout, quiet_seconds=quiet_seconds
        ) as site:
            site.announce(name, version)
            for case in cases:
                site.begin_test(case.test_id, case.title)
                verdict, seconds = _judge(case, caps, lambda: site.context(caps))
                results.append(_result(case, verdict, seconds, caps))
                site.end_test(case.test_id, verdict.status)
    else:
        raise PlanError(f"no mode {mode!r}: harness or blackbox")
    return RunReport(
        plan=plan,
        mode=mode,
        sut_name=name,
        sut_version=version,
        tester=tester,
        started_at=started_at,
        finished_at=_now(),
        results=tuple(results),
        capabilities=tuple(sorted(c.value for c in caps)) if plan == "supplier" else (),
        selection=None if only is None else tuple(case.test_id for case in cases),
    )


_ = BlackBoxSupplierDriver
