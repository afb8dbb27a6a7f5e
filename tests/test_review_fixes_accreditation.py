"""Security review fixes for accreditation results (M4, L8, L9): each test
fails before its fix and passes after, and cites SUP-3 (only accredited
suppliers may supply: an accreditation result must mean what it says)."""

from __future__ import annotations

import argparse
import json
import stat
from pathlib import Path

import defusedxml.ElementTree as SafeET
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contactpoint_sdk.accreditation import RunReport, Status, TestResult
from contactpoint_sdk.accreditation.report import junit_xml
from contactpoint_sdk.accreditation.runner import required_test_ids
from contactpoint_sdk.accreditation.signing import (
    IncompleteRun,
    ResultMalformed,
    SignedResultError,
    generate_key_file,
    load_private_key,
    sign_result,
    verify_result,
)
from contactpoint_sdk.cli.accredit import add_accredit_arguments

CAPS = ("pupils",)


def _complete(
    *, sut_name: str = "Acme MIS", required: bool = True, drop: int = 0, selection: bool = False
) -> RunReport:
    ids = required_test_ids("supplier", CAPS)
    kept = ids[drop:]
    return RunReport(
        plan="supplier",
        mode="harness",
        sut_name=sut_name,
        sut_version="4.2",
        tester="A. Tester",
        started_at="2026-03-02T09:00:00+00:00",
        finished_at="2026-03-02T09:01:00+00:00",
        results=tuple(
            TestResult(
                test_id=t,
                status=Status.PASS,
                required=required,
                rules=("SUP-3",),
                message="ok",
            )
            for t in kept
        ),
        capabilities=CAPS,
        selection=tuple(kept) if selection else None,
    )


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="contactpoint accredit")
    add_accredit_arguments(parser)
    args = parser.parse_args(list(argv))
    code: int = args.handler(args)
    return code


def test_sup_3_verify_without_trust_is_untrusted_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signed = tmp_path / "result.signed.json"
    signed.write_bytes(sign_result(_complete(), Ed25519PrivateKey.generate()))
    assert _cli("verify", str(signed)) == 1
    out = capsys.readouterr().out
    assert "UNTRUSTED (self-signed)" in out
    assert "declared capabilities: pupils" in out
    assert _cli("verify", str(signed), "--allow-untrusted") == 0
    assert "UNTRUSTED (self-signed)" in capsys.readouterr().out


def test_sup_3_the_attestation_states_selection_and_required_tests() -> None:
    key = Ed25519PrivateKey.generate()
    verified = verify_result(sign_result(_complete(), key), trusted=[key.public_key()])
    assert verified.attestation["selection"] is None
    assert verified.attestation["required_tests"] == list(required_test_ids("supplier", CAPS))
    partial = _complete(drop=1, selection=True)
    document = json.loads(sign_result(partial, key))
    assert document["payload"]["attestation"]["selection"] == list(partial.selection or ())


@pytest.mark.parametrize(
    "report",
    [_complete(drop=1, selection=True), _complete(drop=1), _complete(required=False)],
    ids=["only-selection", "cut-short", "marked-optional"],
)
def test_sup_3_a_result_missing_a_required_test_is_an_incomplete_run(report: RunReport) -> None:
    key = Ed25519PrivateKey.generate()
    with pytest.raises(IncompleteRun) as caught:
        verify_result(sign_result(report, key), trusted=[key.public_key()])
    assert isinstance(caught.value, SignedResultError)
    assert caught.value.missing
    assert report.outcome == "pass"  # what the report says is not the decision


def test_sup_3_run_only_says_it_is_not_an_accreditation_outcome(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
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
        "--only",
        "AC-ACC-3-01",
    )
    assert code == 0
    assert "not an accreditation outcome" in capsys.readouterr().out
    assert _cli("verify", str(out / "result.signed.json"), "--allow-untrusted") == 1
    assert "IncompleteRun" in capsys.readouterr().err


def test_sup_3_control_characters_never_reach_the_terminal_or_the_junit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = _complete(sut_name="Acme\x1b[2J\x1b[1;32mCERTIFIED\x00\x0b\x9b")
    root = SafeET.fromstring(junit_xml(report))  # well-formed
    names = [p.get("value") for p in root.iter("property") if p.get("name") == "sut_name"]
    assert names == ["Acme[2J[1;32mCERTIFIED"]
    signed = tmp_path / "result.signed.json"
    signed.write_bytes(sign_result(report, Ed25519PrivateKey.generate()))
    assert _cli("verify", str(signed), "--allow-untrusted") == 0
    out = capsys.readouterr().out
    assert "Acme[2J[1;32mCERTIFIED" in out
    assert not any((ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F for c in out)


def test_sup_3_the_testers_key_is_encrypted_owner_only_and_never_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTACTPOINT_KEY_PASSPHRASE", "tester passphrase")
    path = tmp_path / "tester.pem"
    assert _cli("keygen", str(path)) == 0
    assert b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _cli("keygen", str(path)) == 2
    load_private_key(path, "tester passphrase")
    with pytest.raises(ResultMalformed):
        load_private_key(path, "wrong")
    with pytest.raises(ResultMalformed):
        load_private_key(path)  # no passphrase
    plain = tmp_path / "old.pem"
    plain.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ResultMalformed, match="not encrypted"):
        load_private_key(plain, "tester passphrase")
    with pytest.raises(ValueError, match="empty passphrase"):
        generate_key_file(tmp_path / "x.pem", "")
