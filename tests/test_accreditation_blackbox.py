"""Black-box mode over real loopback HTTPS: a fake tester performs each step
in "their system" (the SDK's SupplyClient over HTTPS) while the suite waits
(SUP-3, SUP-5, SUP-6)."""

from __future__ import annotations

import io
import json
import logging
import ssl
from collections.abc import Callable, Iterator
from datetime import date

import httpx
import pytest

from contactpoint_sdk.accreditation import (
    BlackBoxDetails,
    ConsolePrompter,
    DirectoryConnection,
    PupilJoined,
    Status,
    StepInstruction,
    describe_event,
    run_plan,
)
from contactpoint_sdk.accreditation.fixtures import Fixtures
from contactpoint_sdk.supply.keys import PublicKeySet, SigningKey
from tests.test_accreditation_runner import TinySupplier


@pytest.fixture(autouse=True)
def _quiet_logs() -> Iterator[None]:
    logging.disable(logging.WARNING)
    yield
    logging.disable(logging.NOTSET)


class FakeTester:
    """A tester who configures their system from the printed details and
    performs every step in it; records what the suite showed them."""

    def __init__(self) -> None:
        self.system = TinySupplier()
        self.shown: list[str] = []
        self.http: httpx.Client | None = None
        self.details: BlackBoxDetails | None = None

    def begin(self, details: BlackBoxDetails) -> None:
        self.details = details
        assert details.signing_key_file is not None
        key = SigningKey.from_jwk(json.loads(details.signing_key_file.read_text()))
        context = ssl.create_default_context(cafile=str(details.ca_certificate))
        self.http = httpx.Client(base_url=details.base_url, verify=context)
        jwks = self.http.get("/v1/keys/directory").json()
        directory_key = next(iter(PublicKeySet.from_jwks(jwks, curve="X25519")))
        connection = DirectoryConnection(
            base_url=details.base_url,
            supplier_id=details.supplier_id,
            agreement_id=details.agreement_id,
            signing_key=key,
            directory_key=directory_key,
        )
        self.system.connect_http(connection, self.http)

    def test(self, test_id: str, title: str) -> None:
        self.shown.append(test_id)

    def step(self, instruction: StepInstruction, done: Callable[[], bool], timeout: float) -> None:
        self.shown.extend(instruction.lines)
        self.system.handle(instruction.event)  # the tester does it in their system
        self.system.flush()
        ConsolePrompter(out=io.StringIO(), stdin=io.StringIO()).step(instruction, done, timeout)

    def result(self, test_id: str, status: Status) -> None:
        self.shown.append(f"{test_id}={status.value}")


def test_black_box_run_over_loopback_https_judges_what_arrived() -> None:
    tester = FakeTester()
    report = run_plan(
        "supplier",
        mode="blackbox",
        prompter=tester,
        sut_name="Tiny school MIS (any language)",
        sut_version="0.1",
        tester="fake tester",
        only=["AC-SUP-5-02", "AC-REC-1-01", "AC-SUP-6-01"],
        step_timeout=10.0,
        quiet_seconds=0.3,
    )
    assert {r.test_id: r.status for r in report.results} == {
        "AC-SUP-5-02": Status.PASS,
        "AC-REC-1-01": Status.PASS,
        "AC-SUP-6-01": Status.PASS,
    }
    assert report.mode == "blackbox"
    assert tester.details is not None
    assert tester.details.base_url.startswith("https://127.0.0.1:")
    assert "AC-REC-1-01=pass" in tester.shown
    assert any(line.startswith("Add the pupil") for line in tester.shown)
    if tester.http is not None:
        tester.http.close()


def test_black_box_skips_tests_for_capabilities_the_tester_did_not_declare() -> None:
    tester = FakeTester()
    report = run_plan(
        "supplier",
        mode="blackbox",
        prompter=tester,
        sut_name="Tiny",
        sut_version="0.1",
        only=["AC-REC-4-01"],  # the tiny system has no involvements
        capabilities=frozenset(),
        step_timeout=0.5,
    )
    assert report.result("AC-REC-4-01").status is Status.SKIP


def test_console_prompter_prints_details_and_waits_for_enter() -> None:
    out = io.StringIO()
    prompter = ConsolePrompter(out=out, stdin=io.StringIO("\n"))
    fixtures = Fixtures(date(2026, 3, 2))
    child, _ = fixtures.child()
    event = PupilJoined(child=child, joined_on=fixtures.days_ago(3))
    instruction = StepInstruction(
        test_id="AC-REC-1-01", label="joined", lines=describe_event(event), event=event
    )
    prompter.step(instruction, lambda: False, timeout=0.3)
    text = out.getvalue()
    assert "WAITING" in text
    assert child.family_name in text  # the tester must enter the synthetic child
    assert "parent/carer 1" in text
