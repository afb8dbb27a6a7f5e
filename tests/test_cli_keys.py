"""``contactpoint keys``: key rings made, listed, published and rotated (SUP-5)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from contactpoint_sdk.cli import main
from contactpoint_sdk.supply.keys import KeyRing, PublicKeySet, SigningKey

PASS = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTACTPOINT_KEY_PASSPHRASE", PASS)


def test_sup_5_new_signing_ring_is_private_and_opens_with_the_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "supplier.keys.json"
    assert main(["keys", "new", str(path)]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ring = KeyRing.from_encrypted_json(path.read_text(), PASS, key_type=SigningKey)
    assert len(ring.entries) == 1
    assert '"d"' not in json.dumps(json.loads(path.read_text())["keys"])


def test_new_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "k.json"
    assert main(["keys", "new", str(path)]) == 0
    before = path.read_text()
    assert main(["keys", "new", str(path)]) == 1
    assert "never overwritten" in capsys.readouterr().err
    assert path.read_text() == before


def test_sup_5_public_prints_a_jwks_without_private_parts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "k.json"
    main(["keys", "new", str(path), "--kind", "encryption"])
    capsys.readouterr()
    assert main(["keys", "public", str(path)]) == 0
    jwks = json.loads(capsys.readouterr().out)
    assert all("d" not in key for key in jwks["keys"])
    assert PublicKeySet.from_jwks(jwks).kids


def test_sup_5_rotate_adds_a_current_key_and_keeps_the_old_one_for_the_overlap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "k.json"
    main(["keys", "new", str(path)])
    old = KeyRing.from_encrypted_json(path.read_text(), PASS, key_type=SigningKey).kids[0]
    assert main(["keys", "rotate", str(path), "--overlap-days", "7"]) == 0
    ring = KeyRing.from_encrypted_json(path.read_text(), PASS, key_type=SigningKey)
    assert len(ring.kids) == 2
    entries = {e.kid: e for e in ring.entries}
    assert entries[old].not_after is not None
    capsys.readouterr()
    assert main(["keys", "list", str(path)]) == 0
    assert old in capsys.readouterr().out


def test_wrong_passphrase_is_a_clear_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "k.json"
    main(["keys", "new", str(path)])
    monkeypatch.setenv("CONTACTPOINT_KEY_PASSPHRASE", "not it")
    assert main(["keys", "public", str(path)]) == 1
    assert "key_wrong_passphrase" in capsys.readouterr().err


def test_no_passphrase_without_a_terminal_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CONTACTPOINT_KEY_PASSPHRASE")
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["keys", "new", str(tmp_path / "k.json")]) == 1
    assert "CONTACTPOINT_KEY_PASSPHRASE" in capsys.readouterr().err
    assert not (tmp_path / "k.json").exists()
