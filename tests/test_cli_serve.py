"""``contactpoint serve --supplier-id ID --key-ring RING --agreement-id ID``: a
school developer runs the directory in one terminal and ``contactpoint supply
ctf --directory URL --ca-cert PEM`` in another (issue #9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contactpoint_sdk.cli import main
from contactpoint_sdk.cli._options import PASSPHRASE_ENV

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "ctf"
PASS = "correct horse battery staple"
SUPPLIER = "school-8014002"
AGREEMENT = "school-8014002-agreement"
CONTACTPOINT = Path(sys.executable).with_name("contactpoint")


def _env(*, passphrase: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != PASSPHRASE_ENV}
    if passphrase:
        env[PASSPHRASE_ENV] = PASS
    return env


class Served:
    def __init__(self, process: subprocess.Popen[str], lines: list[str]) -> None:
        self.process = process
        self.lines = lines
        values = dict(line.split("=", 1) for line in lines if line.startswith("CONTACTPOINT_"))
        self.url = values["CONTACTPOINT_DIRECTORY_URL"]
        self.ca_file = values["CONTACTPOINT_CA_FILE"]


def _start(argv: list[str], cwd: Path, *, passphrase: bool) -> Served:
    process = subprocess.Popen(  # noqa: S603 - our own command
        [str(CONTACTPOINT), "serve", *argv],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(passphrase=passphrase),
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.strip())
        if line.startswith("Press Ctrl+C"):
            return Served(process, lines)
    process.kill()
    _, err = process.communicate()
    raise AssertionError(f"serve did not start: {lines} {err}")


def _stop(served: Served) -> int:
    served.process.send_signal(signal.SIGINT)
    try:
        return served.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        served.process.kill()
        served.process.wait()
        raise


@pytest.fixture
def ring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(PASSPHRASE_ENV, PASS)
    path = tmp_path / "school.ring"
    assert main(["keys", "new", str(path)]) == 0
    return path


def _supply(ring: Path, served: Served, sample: str) -> list[str]:
    return [
        "supply", "ctf", str(EXAMPLES / sample), "--key-ring", str(ring),
        "--supplier-id", SUPPLIER, "--agreement-id", AGREEMENT, "--no-progress",
        "--directory", served.url, "--ca-cert", served.ca_file,
    ]  # fmt: skip


@pytest.fixture
def served(ring: Path, tmp_path: Path) -> Iterator[Served]:
    server = _start(
        ["--supplier-id", SUPPLIER, "--key-ring", str(ring), "--agreement-id", AGREEMENT],
        tmp_path,
        passphrase=True,
    )
    try:
        yield server
    finally:
        if server.process.poll() is None:
            _stop(server)


def test_serve_registers_the_supplier_and_supply_ctf_goes_over_https(
    served: Served, ring: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert served.lines[0] == (
        f"registered supplier {SUPPLIER} under agreement {AGREEMENT}: 1 signing key(s) (SUP-3)"
    )
    assert main(_supply(ring, served, "roll-autumn.xml")) == 0
    assert "accepted: 30; rejected: 0" in capsys.readouterr().out
    assert main(_supply(ring, served, "roll-spring.xml")) == 0
    assert "sent: 8 (3 joiners, 3 changes, 2 leavers)" in capsys.readouterr().out
    assert main(_supply(ring, served, "malicious-xxe.xml")) == 1
    assert "refused (SUP-5)" in capsys.readouterr().out
    assert _stop(served) == 0  # Ctrl+C is how a server stops: a clean exit


def test_serve_takes_the_public_keys_as_a_jwks_without_the_passphrase(
    ring: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "public", str(ring)]) == 0
    jwks = tmp_path / "school.jwks"
    jwks.write_text(capsys.readouterr().out, encoding="utf-8")
    server = _start(
        ["--supplier-id", SUPPLIER, "--key-ring", str(jwks), "--agreement-id", AGREEMENT],
        tmp_path,
        passphrase=False,
    )
    try:
        assert main(_supply(ring, server, "roll-autumn.xml")) == 0
        assert "accepted: 30; rejected: 0" in capsys.readouterr().out
    finally:
        assert _stop(server) == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["--supplier-id", SUPPLIER],
        ["--supplier-id", SUPPLIER, "--key-ring", "x.ring"],
        ["--local-authority", "801"],
        ["--supplier-id", "not valid!", "--key-ring", "x.ring", "--agreement-id", AGREEMENT],
    ],
)
def test_supplier_options_go_together(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", *argv]) == 2
    assert capsys.readouterr().err.startswith("contactpoint serve: ")


def test_a_key_ring_that_does_not_open_is_exit_1(
    ring: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "wrong horse")
    argv = ["--supplier-id", SUPPLIER, "--key-ring", str(ring), "--agreement-id", AGREEMENT]
    assert main(["serve", *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("contactpoint: ")
    assert "key_wrong_passphrase" in err
