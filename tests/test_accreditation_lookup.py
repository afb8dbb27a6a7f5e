"""The look-up plan against the example look-up integration on the SDK's
LookupClient, and each of its faulty variants (ACC-1, ACC-3, ACC-4, SHLD-1,
SENS-4)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from contactpoint_sdk.accreditation import Status, run_plan
from contactpoint_sdk.accreditation.lookup_example import (
    FAULTY_LOOKUPS,
    ExampleLookup,
)


@pytest.fixture(autouse=True)
def _quiet_logs() -> Iterator[None]:
    logging.disable(logging.WARNING)
    yield
    logging.disable(logging.NOTSET)


def test_the_example_look_up_integration_passes_every_test() -> None:
    report = run_plan("lookup", ExampleLookup(), tester="self-test")
    assert [(r.test_id, r.status) for r in report.results if r.status is not Status.PASS] == []
    assert report.passed
    assert set(report.coverage()) == {"ACC-1", "ACC-3", "ACC-4", "SENS-4", "SHLD-1"}


@pytest.mark.parametrize("variant", FAULTY_LOOKUPS, ids=lambda c: c.__name__)
def test_each_faulty_look_up_fails_exactly_its_test(variant: type[ExampleLookup]) -> None:
    report = run_plan("lookup", variant())
    expected = variant.expected_failure  # type: ignore[attr-defined]
    assert report.failed_ids() == (expected,)
    assert all(r.status is Status.PASS for r in report.results if r.test_id != expected), (
        report.results
    )
    assert not report.passed
