"""Reports from one run: canonical JSON (stable, round-trips), JUnit XML,
one self-contained HTML page, the diff, and the signed result that refuses
any altered byte (SUP-3)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import defusedxml.ElementTree as SafeET
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from contactpoint_sdk.accreditation import RunReport, Status, TestResult
from contactpoint_sdk.accreditation.model import ReportFormatError
from contactpoint_sdk.accreditation.report import (
    canonical_json,
    diff,
    html_page,
    junit_xml,
    load_report,
    parse_canonical,
)
from contactpoint_sdk.accreditation.signing import (
    ResultMalformed,
    ResultTampered,
    SignedResultError,
    UntrustedSigner,
    sign_result,
    verify_result,
)
from contactpoint_sdk.cli.accredit import add_accredit_arguments

_TEXT = st.text(max_size=30)
_RESULT = st.builds(
    TestResult,
    test_id=st.from_regex(r"AC-[A-Z]{3,4}-[1-9]-0[1-9]", fullmatch=True),
    status=st.sampled_from(Status),
    required=st.booleans(),
    rules=st.lists(st.from_regex(r"[A-Z]{3,4}-[1-9]", fullmatch=True), min_size=1, max_size=3).map(
        tuple
    ),
    message=_TEXT,
    title=_TEXT,
    evidence=st.lists(_TEXT, max_size=3).map(tuple),
    duration_ms=st.integers(min_value=0, max_value=10**7),
)
_REPORT = st.builds(
    RunReport,
    plan=st.sampled_from(["supplier", "lookup"]),
    mode=st.sampled_from(["harness", "blackbox"]),
    sut_name=_TEXT,
    sut_version=_TEXT,
    tester=_TEXT,
    started_at=st.just("2026-03-02T09:00:00+00:00"),
    finished_at=st.just("2026-03-02T09:01:00+00:00"),
    results=st.lists(_RESULT, max_size=6, unique_by=lambda r: r.test_id).map(tuple),
)


def _report(*statuses: tuple[str, Status, bool]) -> RunReport:
    return RunReport(
        plan="supplier",
        mode="harness",
        sut_name="Example MIS <b>",
        sut_version="1.0",
        tester="A. Tester",
        started_at="2026-03-02T09:00:00+00:00",
        finished_at="2026-03-02T09:01:00+00:00",
        results=tuple(
            TestResult(
                test_id=test_id,
                title=f"title of {test_id}",
                status=status,
                required=required,
                rules=(test_id[3:].rsplit("-", 1)[0],),
                message="a message & more",
                evidence=("batch b-1 seq 1",),
                duration_ms=12,
            )
            for test_id, status, required in statuses
        ),
    )


GOOD = _report(
    ("AC-SUP-5-01", Status.PASS, True),
    ("AC-SUP-6-01", Status.PASS, True),
    ("AC-REC-6-01", Status.PASS, True),
    ("AC-ACC-9-01", Status.SKIP, False),
)
MIXED = _report(
    ("AC-SUP-5-01", Status.PASS, True),
    ("AC-SUP-6-01", Status.FAIL, True),
    ("AC-REC-6-01", Status.REVIEW, True),
    ("AC-ACC-9-01", Status.ERROR, False),
)


@settings(max_examples=60, deadline=None)
@given(_REPORT)
def test_canonical_json_is_stable_and_round_trips(report: RunReport) -> None:
    data = canonical_json(report)
    assert canonical_json(load_report(data)) == data
    assert canonical_json(json.loads(data)) == data  # key order does not matter
    shuffled = dict(reversed(list(json.loads(data).items())))
    assert canonical_json(shuffled) == data
    assert data == json.dumps(
        json.loads(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def test_non_canonical_or_inconsistent_reports_are_refused() -> None:
    data = canonical_json(GOOD)
    with pytest.raises(ReportFormatError):
        parse_canonical(json.dumps(json.loads(data), indent=1).encode())
    tampered = json.loads(data)
    tampered["outcome"] = "fail"
    with pytest.raises(ReportFormatError):
        load_report(canonical_json(tampered))


def test_pass_requires_every_required_test_to_pass() -> None:
    assert GOOD.passed
    assert GOOD.outcome == "pass"
    assert not MIXED.passed
    assert MIXED.failed_ids() == ("AC-SUP-6-01",)
    optional_error = _report(("AC-SUP-5-01", Status.PASS, True), ("AC-X-1-01", Status.ERROR, False))
    assert optional_error.passed
    assert GOOD.coverage()["SUP-5"] == {"AC-SUP-5-01": "pass"}


def test_junit_xml_parses_and_maps_statuses() -> None:
    suite = SafeET.fromstring(junit_xml(MIXED))
    assert suite.tag == "testsuite"
    assert suite.get("tests") == "4"
    assert suite.get("failures") == "2"  # the FAIL, and the required REVIEW
    assert suite.get("errors") == "1"
    cases = {str(c.get("name")).split()[0]: c for c in suite.iter("testcase")}
    fail, review = cases["AC-SUP-6-01"].find("failure"), cases["AC-REC-6-01"].find("failure")
    assert fail is not None
    assert fail.get("type") == "fail"
    assert review is not None
    assert review.get("type") == "review"
    assert cases["AC-ACC-9-01"].find("error") is not None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["outcome"] == "fail"
    assert props["tester"] == "A. Tester"


def test_html_is_one_self_contained_escaped_page() -> None:
    page = html_page(MIXED)
    assert page.startswith("<!DOCTYPE html>")
    lowered = page.lower()
    for external in ("http://", "https://", "<script", "src=", "<link", "url("):
        assert external not in lowered
    assert "Example MIS &lt;b&gt;" in page
    assert "<b>" not in page
    assert "AC-SUP-6-01" in page
    assert "Outcome: FAIL" in page


def test_diff_names_regressions_against_a_known_good_run() -> None:
    result = diff(MIXED, GOOD)
    changed = {c.test_id: (c.known_good, c.run) for c in result.changes}
    assert changed == {
        "AC-SUP-6-01": (Status.PASS, Status.FAIL),
        "AC-REC-6-01": (Status.PASS, Status.REVIEW),
        "AC-ACC-9-01": (Status.SKIP, Status.ERROR),
    }
    assert [c.test_id for c in result.regressions] == ["AC-SUP-6-01", "AC-REC-6-01"]
    assert diff(GOOD, GOOD).same
    assert any(line.startswith("REGRESSION AC-SUP-6-01") for line in result.lines())


_KEY = Ed25519PrivateKey.generate()
_SIGNED = sign_result(MIXED, _KEY)


def test_signed_result_verifies_and_states_the_attestation() -> None:
    verified = verify_result(_SIGNED, trusted=[_KEY.public_key()], complete=False)
    a = verified.attestation
    assert a["system_under_test"] == {
        "name": "Example MIS <b>",
        "version": "1.0",
        "capabilities": [],
    }
    assert a["tester"] == "A. Tester"
    assert a["outcome"] == "fail"
    assert a["suite_version"] == MIXED.suite_version
    assert a["coverage"]["SUP-6"] == {"AC-SUP-6-01": "fail"}
    assert verified.report == MIXED
    with pytest.raises(UntrustedSigner):
        verify_result(_SIGNED, trusted=[Ed25519PrivateKey.generate().public_key()], complete=False)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=0, max_value=len(_SIGNED) - 1), st.integers(min_value=1, max_value=255)
)
def test_signed_result_refuses_any_altered_byte(index: int, xor: int) -> None:
    altered = bytearray(_SIGNED)
    altered[index] ^= xor
    with pytest.raises(SignedResultError):
        verify_result(bytes(altered))


def test_a_re_signed_forgery_with_another_key_is_untrusted_and_edits_are_tampering() -> None:
    document = json.loads(_SIGNED)
    document["payload"]["attestation"]["outcome"] = "pass"
    with pytest.raises(ResultTampered):
        verify_result(canonical_json(document))
    with pytest.raises(ResultMalformed):
        verify_result(b"not json")
    forged = sign_result(GOOD, Ed25519PrivateKey.generate())
    assert verify_result(forged, complete=False).report == GOOD  # a valid signature ...
    with pytest.raises(UntrustedSigner):  # ... by a key the certification body does not know
        verify_result(forged, trusted=[_KEY.public_key()], complete=False)


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="contactpoint accredit")
    add_accredit_arguments(parser)
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exit_:
        return int(exit_.code or 0)
    code: int = args.handler(args)
    return code


def test_cli_run_verify_diff_and_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTACTPOINT_KEY_PASSPHRASE", "tester passphrase")
    key = tmp_path / "tester.pem"
    assert _cli("keygen", str(key)) == 0
    assert _cli("keygen", str(key)) == 2  # never overwrites
    out = tmp_path / "run"
    code = _cli(
        "run",
        "--plan",
        "lookup",
        "--harness",
        "contactpoint_sdk.accreditation.lookup_example:ExampleLookup",
        "--tester",
        "A. Tester",
        "--out",
        str(out),
        "--signing-key",
        str(key),
        "--only",
        "AC-ACC-3-01",
        "AC-SHLD-1-01",
    )
    assert code == 0
    assert {p.name for p in out.iterdir()} == {
        "report.json",
        "report.junit.xml",
        "report.html",
        "result.signed.json",
    }
    signed = out / "result.signed.json"
    # a --only run is a selection, not an accreditation outcome (SUP-3)
    assert _cli("verify", str(signed), "--trust", str(tmp_path / "tester.pub.pem")) == 1
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(signed.read_bytes().replace(b'"pass"', b'"fail"', 1))
    assert _cli("verify", str(tampered)) == 1
    assert _cli("diff", str(out / "report.json"), str(signed)) == 0

    bad = tmp_path / "bad"
    code = _cli(
        "run",
        "--plan",
        "lookup",
        "--harness",
        "contactpoint_sdk.accreditation.lookup_example:FailsOnShield",
        "--tester",
        "A. Tester",
        "--out",
        str(bad),
        "--only",
        "AC-ACC-3-01",
        "AC-SHLD-1-01",
    )
    assert code == 1
    assert _cli("diff", str(bad / "report.json"), str(out / "report.json")) == 1
    # usage
    assert _cli("run", "--tester", "x", "--out", str(bad)) == 2  # no harness
    assert _cli("run", "--harness", "no.such:Thing", "--tester", "x", "--out", str(bad)) == 2
    assert _cli("frobnicate") == 2
