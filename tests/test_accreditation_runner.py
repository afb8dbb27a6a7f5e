"""The accreditation runner: statuses (pass, fail, skip, error, review),
selection, and the harness protocol driven on a tiny SDK-based supplier (SUP-3)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from contactpoint_sdk.accreditation import (
    Capability,
    DirectoryConnection,
    FixtureEvent,
    PlanError,
    PupilChanged,
    PupilJoined,
    PupilLeft,
    RunReport,
    Status,
    UnsupportedEvent,
    run_plan,
)
from contactpoint_sdk.accreditation.plan import Plan, Verdict
from contactpoint_sdk.clock import Clock
from contactpoint_sdk.errors import ContactPointError
from contactpoint_sdk.models.operations import (
    AnyOperation,
    ChildKey,
    ChildLeftSetting,
    SuppliedChild,
)
from contactpoint_sdk.models.record import Address, PersonName, SourceIdentifiers
from contactpoint_sdk.supply.client import SupplyClient


@pytest.fixture(autouse=True)
def _quiet_logs() -> Iterator[None]:
    logging.disable(logging.WARNING)
    yield
    logging.disable(logging.NOTSET)


class TinySupplier:
    """A school system on the SDK's SupplyClient: joiners, changes, leavers."""

    name = "Tiny school MIS"
    version = "0.1"
    capabilities = frozenset({Capability.PUPILS})

    def __init__(self, *, extra_line: str | None = None) -> None:
        self.extra_line = extra_line
        self.client: SupplyClient | None = None
        self.pending: list[AnyOperation] = []
        self.n = 0

    def connect(self, connection: DirectoryConnection) -> None:
        self.client = SupplyClient(
            base_url=connection.base_url,
            supplier_id=connection.supplier_id,
            agreement_id=connection.agreement_id,
            signing_key=connection.signing_key,
            directory_key=connection.directory_key,
            transport=connection.transport,
            clock=connection.clock if isinstance(connection.clock, Clock) else None,
        )

    def connect_http(self, connection: DirectoryConnection, http: httpx.Client) -> None:
        self.client = SupplyClient(
            base_url=connection.base_url,
            supplier_id=connection.supplier_id,
            agreement_id=connection.agreement_id,
            signing_key=connection.signing_key,
            http_client=http,
        )

    def _ref(self, what: str) -> str:
        self.n += 1
        return f"{what}-{self.n}"

    def handle(self, event: FixtureEvent) -> None:
        if isinstance(event, PupilJoined | PupilChanged):
            c = event.child
            lines = c.address.lines + ((self.extra_line,) if self.extra_line else ())
            self.pending.append(
                SuppliedChild(
                    ref=self._ref("child"),
                    name=PersonName(given_name=c.given_name, family_name=c.family_name),
                    gender=c.gender,
                    date_of_birth=c.date_of_birth,
                    address=Address(lines=lines, town=c.address.town, postcode=c.address.postcode),
                    identifiers=SourceIdentifiers(upn=c.upn, uln=c.uln, nhs_number=c.nhs_number),
                    parents=c.parents,
                )
            )
        elif isinstance(event, PupilLeft):
            c = event.child
            self.pending.append(
                ChildLeftSetting(
                    ref=self._ref("left"),
                    child=ChildKey(
                        identifiers=SourceIdentifiers(upn=c.upn, nhs_number=c.nhs_number),
                        date_of_birth=c.date_of_birth,
                    ),
                    left_on=event.left_on,
                )
            )
        else:
            raise UnsupportedEvent(type(event).__name__)

    def flush(self) -> None:
        assert self.client is not None
        batch, self.pending = self.pending, []
        if batch:
            # a real system logs a refusal; the suite judges the traffic
            with contextlib.suppress(ContactPointError):
                self.client.supply(batch)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


class ExplodingSupplier(TinySupplier):
    def handle(self, event: FixtureEvent) -> None:
        raise RuntimeError("the vendor's system crashed")


class RefusingSupplier(TinySupplier):
    def handle(self, event: FixtureEvent) -> None:
        raise UnsupportedEvent("no such thing here")


def _statuses(report: RunReport) -> dict[str, Status]:
    return {r.test_id: r.status for r in report.results}


def test_sup_3_a_school_only_system_is_accredited_for_the_capabilities_it_declares() -> None:
    report = run_plan(
        "supplier",
        TinySupplier(),
        only=["AC-SUP-5-01", "AC-SUP-5-02", "AC-REC-1-01", "AC-REC-3-02", "AC-REC-4-01"],
        tester="unit",
    )
    statuses = _statuses(report)
    assert statuses == {
        "AC-SUP-5-01": Status.PASS,
        "AC-SUP-5-02": Status.PASS,
        "AC-REC-1-01": Status.PASS,
        "AC-REC-3-02": Status.PASS,
        "AC-REC-4-01": Status.SKIP,  # no INVOLVEMENTS capability
    }
    # a test for a capability the system does not declare is not applicable:
    # skipped, not required, and the declared scope is on the report
    assert not report.result("AC-REC-4-01").required
    assert report.result("AC-REC-1-01").required
    assert report.capabilities == ("pupils",)
    assert report.to_dict()["system_under_test"]["capabilities"] == ["pupils"]
    assert report.passed
    assert report.failed_ids() == ()
    assert report.sut_name == "Tiny school MIS"
    assert report.tester == "unit"
    assert report.coverage()["REC-4"] == {"AC-REC-4-01": "skip"}


def test_an_exception_escaping_the_harness_is_an_error_not_a_fail() -> None:
    report = run_plan("supplier", ExplodingSupplier(), only=["AC-REC-1-01"])
    result = report.result("AC-REC-1-01")
    assert result.status is Status.ERROR
    assert "RuntimeError" in result.message
    assert report.failed_ids() == ()
    assert not report.passed


def test_an_unsupported_event_skips_the_test() -> None:
    report = run_plan("supplier", RefusingSupplier(), only=["AC-REC-1-01"])
    assert report.result("AC-REC-1-01").status is Status.SKIP
    # the system declared the capability, then refused its events: still
    # required, so the run does not pass
    assert report.result("AC-REC-1-01").required
    assert not report.passed


def test_suspicious_free_text_goes_to_review_and_clear_case_notes_fail() -> None:
    review = run_plan(
        "supplier", TinySupplier(extra_line="welfare worry noted"), only=["AC-REC-6-01"]
    )
    assert review.result("AC-REC-6-01").status is Status.REVIEW
    assert not review.passed
    fail = run_plan(
        "supplier", TinySupplier(extra_line="disclosed self harm to staff"), only=["AC-REC-6-01"]
    )
    result = fail.result("AC-REC-6-01")
    assert result.status is Status.FAIL
    # evidence names where, never what: no supplied text in the report
    assert all("self harm" not in e for e in result.evidence)
    clean = run_plan("supplier", TinySupplier(), only=["AC-REC-6-01"])
    assert clean.result("AC-REC-6-01").status is Status.PASS


def test_a_fault_the_system_does_not_handle_fails_only_its_own_test() -> None:
    class ResendsWithNewBatch(TinySupplier):
        """On any failure, builds a new batch (a new ID and sequence)."""

        def flush(self) -> None:
            assert self.client is not None
            batch, self.pending = self.pending, []
            for _ in range(3):
                try:
                    self.client.send_batch(self.client.build_batches(batch)[0])
                    return
                except ContactPointError:
                    continue

        def connect(self, connection: DirectoryConnection) -> None:
            super().connect(connection)
            from contactpoint_sdk.supply.retry import NO_RETRY

            assert self.client is not None
            self.client._retry = NO_RETRY

    report = run_plan(
        "supplier", ResendsWithNewBatch(), only=["AC-SUP-4-02", "AC-SUP-4-01", "AC-REC-1-01"]
    )
    assert report.failed_ids() == ("AC-SUP-4-02",)


def test_unknown_plans_tests_and_systems_are_refused() -> None:
    with pytest.raises(PlanError):
        run_plan("nonsense", TinySupplier())
    with pytest.raises(PlanError):
        run_plan("supplier", TinySupplier(), only=["AC-XYZ-1-01"])
    with pytest.raises(PlanError):
        run_plan("lookup", TinySupplier())
    with pytest.raises(PlanError):
        run_plan("supplier", None)


def test_the_plans_carry_the_catalogue_ids_with_their_rules() -> None:
    from contactpoint_sdk.accreditation import LOOKUP_PLAN, SUPPLIER_PLAN

    supplier = {t.test_id: t.rules for t in SUPPLIER_PLAN}
    assert supplier["AC-SUP-5-02"] == ("SUP-5", "SUP-3")
    assert supplier["AC-SUP-9-01"] == ("SUP-9", "REC-5")
    assert len(supplier) == 20
    assert all(t.required for t in SUPPLIER_PLAN)
    assert SUPPLIER_PLAN["AC-SENS-2-01"].capability is Capability.SENSITIVE_INVOLVEMENTS
    assert [t.test_id for t in LOOKUP_PLAN] == [
        "AC-ACC-3-01",
        "AC-SHLD-1-01",
        "AC-SENS-4-01",
        "AC-ACC-4-01",
        "AC-ACC-1-01",
    ]


def test_a_plan_refuses_malformed_or_duplicate_ids() -> None:
    plan: Plan[Any] = Plan("x")

    def body(ctx: Any) -> Verdict:
        return Verdict.passed("ok")

    plan.test("AC-SUP-1-99", rules=("SUP-1",), title="t")(body)
    with pytest.raises(PlanError):
        plan.test("AC-SUP-1-99", rules=("SUP-1",), title="t")(body)
    with pytest.raises(PlanError):
        plan.test("SUP-1", rules=("SUP-1",), title="t")
    with pytest.raises(PlanError):
        plan.test("AC-SUP-1-98", rules=(), title="t")
