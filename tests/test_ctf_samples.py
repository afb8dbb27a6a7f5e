"""The committed CTF samples (issue #9 part 4) are the generator's output."""

from __future__ import annotations

from pathlib import Path

from contactpoint_sdk.supply.ctf import read_ctf
from contactpoint_sdk.synthetic.ctf import sample_files

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "ctf"


def test_committed_samples_equal_the_generator() -> None:
    expected = sample_files()
    committed = {p.name: p.read_bytes() for p in EXAMPLES.glob("*.xml")}
    assert sorted(committed) == sorted(expected), "run scripts/make-ctf-samples"
    for name, data in expected.items():
        assert committed[name] == data, f"{name} differs: run scripts/make-ctf-samples"


def test_the_generator_is_reproducible() -> None:
    assert sample_files() == sample_files()


def test_the_spring_roll_is_the_autumn_roll_a_term_later() -> None:
    autumn = read_ctf(EXAMPLES / "roll-autumn.xml")
    spring = read_ctf(EXAMPLES / "roll-spring.xml")
    assert autumn.header.source == spring.header.source
    before = {str(c.upn): c for c in autumn.children}
    after = {str(c.upn): c for c in spring.children}
    assert len(before) == 30
    assert len(set(before) - set(after)) == 2  # leavers
    assert len(set(after) - set(before)) == 3  # joiners
    changed = [u for u in set(before) & set(after) if before[u] != after[u]]
    assert len(changed) == 3  # two families moved, one surname changed
