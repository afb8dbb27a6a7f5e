"""The accreditation suite's self-test (issue #8, item 6; SUP-3).

The example supplier, built on the SDK the way we tell vendors to build one,
passes every required test of the supplier plan; each deliberately faulty
example (one fault each) fails exactly the test its ``expected_failure``
names, and no other, and nothing ends in ERROR. If a faulty example fails a
second test, either its fault is not minimal or the suite judges wrongly; if
it passes its own test, the suite misses the fault.

Every run plays the whole plan against a fresh in-process directory per
test; the runs wait real time for ``Retry-After`` (AC-SUP-6-01/02), so they
run side by side in threads (the waits overlap), each test then reading its
own report. Only the runs the selected tests need are started.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from contactpoint_sdk.accreditation.examples import FAULTY_SUPPLIERS, ExampleSupplier
from contactpoint_sdk.accreditation.examples.faulty import FaultySupplier
from contactpoint_sdk.accreditation.harness import Capability
from contactpoint_sdk.accreditation.model import RunReport, Status
from contactpoint_sdk.accreditation.runner import run_plan
from contactpoint_sdk.accreditation.supplier_plan import SUPPLIER_PLAN

#: Runs side by side: enough to overlap the runs' Retry-After waits (~3 s each),
#: few enough not to starve a shared machine.
_WORKERS = 6

Reports = dict[type[ExampleSupplier], Future[RunReport]]


def _wanted(request: pytest.FixtureRequest) -> list[type[ExampleSupplier]]:
    """The suppliers whose reports the selected tests of this module read."""
    wanted: list[type[ExampleSupplier]] = []
    for item in request.session.items:
        if getattr(item, "module", None) is not request.module:
            continue
        callspec = getattr(item, "callspec", None)
        cls = callspec.params.get("cls") if callspec is not None else ExampleSupplier
        if isinstance(cls, type) and issubclass(cls, ExampleSupplier) and cls not in wanted:
            wanted.append(cls)
    return wanted or [ExampleSupplier, *FAULTY_SUPPLIERS]


@pytest.fixture(scope="module")
def reports(request: pytest.FixtureRequest) -> Iterator[Reports]:
    """The supplier plan's report for each selected example, run in threads."""
    with ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="selftest") as pool:
        yield {cls: pool.submit(run_plan, "supplier", cls()) for cls in _wanted(request)}


def _summary(report: RunReport) -> str:
    return "; ".join(
        f"{r.test_id} {r.status.value}: {r.message}"
        for r in report.results
        if r.status is not Status.PASS
    )


def test_sup_3_example_supplier_passes_every_required_test(reports: Reports) -> None:
    """A correct system built on the SDK is accredited: every required test
    passes; nothing is skipped (it declares every capability), failed, in
    error or left for review."""
    report = reports[ExampleSupplier].result()
    assert ExampleSupplier().capabilities == frozenset(Capability)
    assert report.passed, _summary(report)
    assert report.counts()["pass"] == len(report.results), _summary(report)
    assert report.sut_name == ExampleSupplier.name


@pytest.mark.parametrize(
    "cls", FAULTY_SUPPLIERS, ids=[f"{c.expected_failure}-{c.__name__}" for c in FAULTY_SUPPLIERS]
)
def test_sup_3_faulty_supplier_fails_exactly_its_test(
    reports: Reports, cls: type[FaultySupplier]
) -> None:
    """One fault, one failed test: the one the fault breaks (its rule in the
    test ID), no other FAIL and no ERROR."""
    report = reports[cls].result()
    assert report.failed_ids() == (cls.expected_failure,), _summary(report)
    assert report.ids_with(Status.ERROR) == (), _summary(report)
    assert report.result(cls.expected_failure).required
    assert not report.passed


def test_sup_3_faulty_suppliers_cover_the_supplier_plan() -> None:
    """Every required supplier-plan test has a faulty example that it must
    catch, and every faulty example names a test of the plan."""
    required = {case.test_id for case in SUPPLIER_PLAN if case.required}
    expected = [cls.expected_failure for cls in FAULTY_SUPPLIERS]
    assert len(set(expected)) == len(expected)
    assert set(expected) <= {case.test_id for case in SUPPLIER_PLAN}
    assert required <= set(expected)
