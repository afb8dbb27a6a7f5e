"""The README's main job: the demo runs end to end on the embedded default."""

from __future__ import annotations

import re

import pytest

from contactpoint_sdk.cli import main


def test_demo_supplies_matches_redacts_and_ages_records(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--children", "300", "--seed", "7"]) == 0
    out = capsys.readouterr().out
    school = re.search(r"Schools supplied .*?(\d[\d,]*) accepted, (\d+) rejected", out)
    gp = re.search(r"GP practices supplied .*?(\d[\d,]*) accepted, (\d+) rejected", out)
    held = re.search(r"the directory holds (\d[\d,]*) records", out)
    assert school
    assert gp
    assert held
    supplied = int(school[1].replace(",", "")) + int(gp[1].replace(",", ""))
    assert (school[2], gp[2]) == ("0", "0")
    # SUP-7: a child known to both school and GP has one record, not two.
    assert int(held[1].replace(",", "")) < supplied
    assert "consent_required (SENS-2)" in out
    assert "1 unspecified service (SENS-4)" in out
    assert "only name, date of birth and directory identifier (SHLD-1)" in out
    archived = [int(n.replace(",", "")) for n in re.findall(r"archived (\d[\d,]*),", out)]
    assert len(archived) == 3
    assert sum(archived) > 0


def test_demo_refuses_a_silly_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--children", "0"]) == 1
    assert "--children must be at least 1" in capsys.readouterr().err
