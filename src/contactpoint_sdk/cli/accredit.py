"""``contactpoint accredit``: run an accreditation plan, verify a signed
result, compare two runs (SUP-3).

::

    contactpoint accredit run --plan supplier --harness mymis.accredit:Harness \\
        --tester "A. Tester" --out results/ --signing-key tester.pem
    contactpoint accredit run --plan supplier --mode blackbox \\
        --sut-name "Acme MIS" --sut-version 4.2 --tester "A. Tester" --out results/
    contactpoint accredit verify results/result.signed.json --trust tester.pub.pem
    contactpoint accredit diff results/report.json known-good/report.json
    contactpoint accredit keygen tester.pem

``run`` writes ``report.json`` (canonical JSON), ``report.junit.xml``,
``report.html`` and ``result.signed.json`` into ``--out``. Exit codes: 0
every required test passed (``verify``: the result verifies, signed by a
trusted key, and covers every required test; ``diff``: no regression); 1
otherwise; 2 bad usage.

``verify`` without ``--trust`` checks only that the file was not altered
since it was signed, by whatever key: it prints ``UNTRUSTED (self-signed)``
and exits 1 unless ``--allow-untrusted`` is given. A ``run --only`` result is
a selection, not an accreditation outcome: ``verify`` refuses it
(``IncompleteRun``).

The tester's key (``keygen``, ``run --signing-key``) is encrypted under a
passphrase read from ``$CONTACTPOINT_KEY_PASSPHRASE`` (or ``--passphrase-env
VAR``; asked for at a terminal when unset). Text a system under test
supplies (its name, messages) is printed without control characters.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contactpoint_sdk.accreditation.harness import Capability, LookupHarness, SupplierHarness
from contactpoint_sdk.accreditation.model import ReportFormatError, RunReport
from contactpoint_sdk.accreditation.plan import PlanError
from contactpoint_sdk.accreditation.report import (
    canonical_json,
    diff,
    html_page,
    junit_xml,
    load_report,
    printable,
)
from contactpoint_sdk.accreditation.runner import PLANS, required_test_ids, run_plan
from contactpoint_sdk.accreditation.signing import (
    SignedResultError,
    generate_key_file,
    key_id,
    load_private_key,
    load_public_key,
    sign_result,
    verify_result,
)
from contactpoint_sdk.cli._options import (
    EXIT_CODES,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    add_passphrase_argument,
    read_passphrase,
)
from contactpoint_sdk.errors import ConfigurationError

__all__ = ["add_accredit_arguments", "load_harness", "write_outputs"]


def add_accredit_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``run``, ``verify``, ``diff`` and ``keygen`` under ``accredit``."""
    actions = parser.add_subparsers(dest="accredit_action", required=True, metavar="ACTION")

    run = actions.add_parser(
        "run",
        help="run a test plan against a system under test",
        description="Run the supplier or look-up plan against a system under test: in "
        "harness mode through the vendor's adapter and an in-process directory, in black-box "
        "mode over HTTPS on loopback with each step printed for the tester. Writes "
        "report.json, report.junit.xml, report.html and result.signed.json into --out.",
        epilog="Exit codes: 0 every required test passed; 1 a required test did not pass "
        "(fail, skip, error or review); 2 bad usage.",
    )
    run.add_argument(
        "--plan",
        choices=sorted(PLANS),
        default="supplier",
        help="the test plan: supplier (systems that supply) or lookup (systems that embed "
        "look-up); default supplier",
    )
    run.add_argument(
        "--mode",
        choices=("harness", "blackbox"),
        default="harness",
        help="harness: drive the vendor's adapter in-process (needs --harness); blackbox: "
        "serve the directory on loopback and tell the tester each step; default harness",
    )
    run.add_argument(
        "--harness", metavar="MODULE:ATTR", help="the harness (a class, factory or instance)"
    )
    run.add_argument("--tester", required=True, help="who runs the tests (stated in the result)")
    run.add_argument("--out", required=True, type=Path, help="directory for the reports")
    run.add_argument(
        "--signing-key",
        type=Path,
        help="the tester's Ed25519 PEM key that signs the result (see 'accredit keygen'); "
        "without it the result is signed with a one-off key",
    )
    add_passphrase_argument(run, what="signing key")
    run.add_argument("--sut-name", help="the system's name (default: the harness's)")
    run.add_argument("--sut-version", help="the system's version (default: the harness's)")
    run.add_argument(
        "--only",
        nargs="+",
        metavar="TEST_ID",
        help="run only these tests (a selection: not an accreditation outcome)",
    )
    run.add_argument(
        "--capabilities",
        help="black-box: what the system can do, comma-separated "
        f"({', '.join(c.value for c in Capability)}; default all)",
    )
    run.add_argument(
        "--step-timeout", type=float, default=120.0, help="black-box: seconds to wait per step"
    )
    run.set_defaults(handler=run_accredit)

    verify = actions.add_parser(
        "verify",
        help="check a signed result; refuse any altered one",
        description="Check a signed accreditation result: its canonical form, the Ed25519 "
        "signature, that the signer holds a known tester's key (--trust), and that the "
        "results cover every required test of the plan for the declared capabilities.",
        epilog="Exit codes: 0 the result verifies, signed by a trusted key, and is complete; "
        "1 it was altered, is malformed, is incomplete (a --only selection), is signed by an "
        "untrusted key, or no --trust was given (unless --allow-untrusted); 2 bad usage.",
    )
    verify.add_argument("report", type=Path, help="result.signed.json")
    verify.add_argument(
        "--trust", type=Path, action="append", help="a public key (PEM) the signer must hold"
    )
    verify.add_argument(
        "--allow-untrusted",
        action="store_true",
        help="without --trust: exit 0 for a self-signed result (it proves only that the file "
        "was not altered, not who signed it)",
    )
    verify.set_defaults(handler=run_verify)

    compare = actions.add_parser(
        "diff",
        help="compare a run with a known-good run",
        description="List every test whose status changed between a run and a known-good "
        "run (either file may be a report or a signed result).",
        epilog="Exit codes: 0 no regression; 1 a test that passed in the known-good run does "
        "not pass now; 2 bad usage.",
    )
    compare.add_argument("run", type=Path, help="report.json (or result.signed.json) of the run")
    compare.add_argument("known_good", type=Path, help="the known-good run's report")
    compare.set_defaults(handler=run_diff)

    keygen = actions.add_parser(
        "keygen",
        help="make a tester's Ed25519 signing key (PEM)",
        description="Make a tester's Ed25519 signing key (PEM, readable by its owner only) "
        "and its public key beside it (NAME.pub.pem), for 'accredit run --signing-key' and "
        "'accredit verify --trust'. The private key is encrypted under the passphrase in "
        "$CONTACTPOINT_KEY_PASSPHRASE (or --passphrase-env).",
        epilog=EXIT_CODES,
    )
    keygen.add_argument("path", type=Path, help="where to write the private key (PEM)")
    add_passphrase_argument(keygen, what="signing key")
    keygen.set_defaults(handler=run_keygen)


def _usage(message: str) -> int:
    print(f"contactpoint accredit: {message}", file=sys.stderr)
    return EXIT_USAGE


def load_harness(spec: str) -> SupplierHarness | LookupHarness:
    """``module:attr`` -> a harness: an instance as is, else the class or
    factory called with no arguments.

    :raises PlanError: not importable, or not a harness.
    """
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise PlanError("--harness takes MODULE:ATTR")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as error:
        raise PlanError(f"cannot load the harness {spec}: {error}") from None
    if not isinstance(target, SupplierHarness | LookupHarness) or isinstance(target, type):
        if not callable(target):
            raise PlanError(f"{spec} is not a harness")
        target = target()
    if not isinstance(target, SupplierHarness | LookupHarness):
        raise PlanError(f"{spec} is not a SupplierHarness or LookupHarness")
    return target


def write_outputs(
    report: RunReport,
    out: Path,
    signing_key: Path | Ed25519PrivateKey | None,
    passphrase: str | None = None,
) -> dict[str, Path]:
    """Write the four files for ``report``; their paths by kind.

    ``signing_key`` is a key, or its encrypted PEM file (opened with
    ``passphrase``); ``None`` signs with a one-off key."""
    out.mkdir(parents=True, exist_ok=True)
    key = (
        load_private_key(signing_key, passphrase) if isinstance(signing_key, Path) else signing_key
    )
    if key is None:
        key = Ed25519PrivateKey.generate()
    paths = {
        "json": out / "report.json",
        "junit": out / "report.junit.xml",
        "html": out / "report.html",
        "signed": out / "result.signed.json",
    }
    paths["json"].write_bytes(canonical_json(report))
    paths["junit"].write_bytes(junit_xml(report))
    paths["html"].write_text(html_page(report), encoding="utf-8")
    paths["signed"].write_bytes(sign_result(report, key))
    print(f"signed with key {key_id(key.public_key())}")
    return paths


def run_accredit(args: argparse.Namespace) -> int:
    """``accredit run``."""
    system: SupplierHarness | LookupHarness | None = None
    capabilities: frozenset[Capability] | None = None
    try:
        if args.mode == "harness":
            if not args.harness:
                return _usage("harness mode needs --harness MODULE:ATTR")
            system = load_harness(args.harness)
        elif args.capabilities:
            capabilities = frozenset(
                Capability(c.strip()) for c in args.capabilities.split(",") if c.strip()
            )
        key: Ed25519PrivateKey | None = None
        if args.signing_key is not None:
            # open the key before a long run: a bad key or passphrase fails now
            key = load_private_key(args.signing_key, read_passphrase(args.passphrase_env))
        report = run_plan(
            args.plan,
            system,
            mode=args.mode,
            tester=args.tester,
            only=args.only,
            sut_name=args.sut_name,
            sut_version=args.sut_version,
            capabilities=capabilities,
            step_timeout=args.step_timeout,
        )
    except (PlanError, ValueError, SignedResultError, ConfigurationError) as error:
        return _usage(str(error))
    paths = write_outputs(report, args.out, key)
    for result in report.results:
        required = "required" if result.required else "optional"
        message = printable(result.message)
        print(f"{result.test_id:14} {result.status.value.upper():7} {required:9} {message}")
    counts = ", ".join(f"{n} {s}" for s, n in report.counts().items() if n)
    print(f"outcome: {report.outcome.upper()} ({counts})")
    if report.selection is not None:
        print(
            f"note: --only ran {len(report.selection)} selected test(s), not the whole plan: "
            "this result is not an accreditation outcome ('accredit verify' refuses it)"
        )
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return EXIT_OK if report.passed else EXIT_FAILED


def run_verify(args: argparse.Namespace) -> int:
    """``accredit verify``."""
    try:
        data = args.report.read_bytes()
        trusted = [load_public_key(p) for p in args.trust] if args.trust else None
    except OSError as error:
        return _usage(f"cannot read {error.filename}")
    except SignedResultError as error:
        return _usage(str(error))
    try:
        verified = verify_result(data, trusted=trusted)
    except SignedResultError as error:
        print(f"REFUSED ({type(error).__name__}): {printable(str(error))}", file=sys.stderr)
        return EXIT_FAILED
    a = verified.attestation
    sut = a["system_under_test"]
    p = printable
    if trusted is None:
        print(f"UNTRUSTED (self-signed): signed by key {verified.key_id}, which no --trust names")
    else:
        print(f"verified: signed by trusted key {verified.key_id}")
    print(f"{p(a['suite'])} {p(a['suite_version'])}, {p(a['plan'])} plan, {p(a['mode'])} mode")
    print(
        f"system under test: {p(sut['name'])} {p(sut['version'])}; tester {p(a['tester'])}; "
        f"{p(a['date'])}"
    )
    capabilities = ", ".join(p(c) for c in sut["capabilities"]) or "(none declared)"
    print(f"declared capabilities: {capabilities}")
    required = required_test_ids(verified.report.plan, verified.report.capabilities)
    print(f"required tests: {len(required)}, every one in the results")
    print(f"outcome: {a['outcome'].upper()}")
    if trusted is None and not args.allow_untrusted:
        print(
            "not accepted: without --trust anyone's key verifies; give the tester's public key "
            "(--trust tester.pub.pem), or --allow-untrusted to accept a self-signed result",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


def _read_report(path: Path) -> RunReport:
    data = path.read_bytes()
    try:
        return load_report(data)
    except ReportFormatError:
        # a signed result: its report, verified (a --only selection may be compared)
        return verify_result(data, complete=False).report


def run_diff(args: argparse.Namespace) -> int:
    """``accredit diff``: exit 1 when a test that passed in the known-good run does not now."""
    try:
        run, known_good = _read_report(args.run), _read_report(args.known_good)
    except OSError as error:
        return _usage(f"cannot read {error.filename}")
    except (ReportFormatError, SignedResultError) as error:
        return _usage(str(error))
    result = diff(run, known_good)
    for line in result.lines():
        print(line)
    return EXIT_FAILED if result.regressions else EXIT_OK


def run_keygen(args: argparse.Namespace) -> int:
    """``accredit keygen``."""
    if args.path.exists():
        return _usage(f"{args.path} exists; not overwritten")
    passphrase = read_passphrase(args.passphrase_env, confirm=True)
    try:
        key = generate_key_file(args.path, passphrase)
    except FileExistsError:
        return _usage(f"{args.path} exists; not overwritten")
    print(f"wrote {args.path} (key {key_id(key.public_key())}) and its public key beside it")
    return EXIT_OK
