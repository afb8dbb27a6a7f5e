"""The Fellegi-Sunter model, EM and the rules that weights never override (issue 7)."""

from __future__ import annotations

import math
import random

import pytest

from contactpoint_sdk.reference_server.linkage_compare import family_forms, given_forms
from contactpoint_sdk.reference_server.linkage_model import (
    ComparisonParams,
    FellegiSunter,
    ModelParams,
    Vector,
    estimate_em,
    estimate_from_labels,
    estimate_m,
    estimate_u,
    starting_params,
    with_m_floor,
)
from contactpoint_sdk.reference_server.linkage_params import (
    CHILD_MODEL,
    CHILD_THRESHOLDS,
    Thresholds,
)
from contactpoint_sdk.reference_server.linkage_policy import Verdict, child_verdict
from contactpoint_sdk.reference_server.linkage_profile import (
    CHILD_COMPARISONS,
    ChildProfile,
    compare_children,
)
from tests.test_matching_compare import _profile
from tests.test_server_core_support import make_nhs

_SPECS = (
    ("name", ("no", "yes")),
    ("dob", ("no", "partly", "yes")),
    ("postcode", ("no", "yes")),
)


def _known() -> ModelParams:
    return ModelParams(
        prior=0.2,
        comparisons=(
            ComparisonParams(name="name", levels=("no", "yes"), m=(0.1, 0.9), u=(0.8, 0.2)),
            ComparisonParams(
                name="dob", levels=("no", "partly", "yes"), m=(0.05, 0.15, 0.8), u=(0.9, 0.09, 0.01)
            ),
            ComparisonParams(name="postcode", levels=("no", "yes"), m=(0.3, 0.7), u=(0.95, 0.05)),
        ),
    )


def _draw(params: ModelParams, n: int, seed: int) -> tuple[list[Vector], list[bool]]:
    rng = random.Random(seed)
    vectors: list[Vector] = []
    labels: list[bool] = []
    for _ in range(n):
        match = rng.random() < params.prior
        vector: list[int | None] = []
        for c in params.comparisons:
            probs = c.m if match else c.u
            vector.append(rng.choices(range(len(probs)), probs)[0])
        vectors.append(tuple(vector))
        labels.append(match)
    return vectors, labels


def test_the_weight_is_prior_log_odds_plus_partial_weights() -> None:
    model = FellegiSunter(_known())
    expected = math.log2(0.2 / 0.8) + math.log2(0.9 / 0.2) + math.log2(0.8 / 0.01)
    assert model.weight((1, 2, None)) == pytest.approx(expected)
    assert model.weight((None, 2, None)) == pytest.approx(math.log2(0.25) + math.log2(80))
    assert model.probability(model.weight_of_probability(0.999)) == pytest.approx(0.999)
    assert [name for name, _, _ in model.explain((0, None, None))] == ["name"]


def test_em_recovers_known_parameters_from_unlabelled_vectors() -> None:
    truth = _known()
    vectors, _ = _draw(truth, 20_000, seed=3)
    result = estimate_em(vectors, starting_params(_SPECS, prior=0.5))
    assert result.converged
    got = result.params
    assert got.prior == pytest.approx(truth.prior, abs=0.02)
    for mine, theirs in zip(got.comparisons, truth.comparisons, strict=True):
        assert mine.m == pytest.approx(theirs.m, abs=0.03)
        assert mine.u == pytest.approx(theirs.u, abs=0.03)


def test_estimates_from_labels_from_random_pairs_and_the_m_floor() -> None:
    truth = _known()
    vectors, labels = _draw(truth, 20_000, seed=4)
    start = starting_params(_SPECS)
    labelled = estimate_from_labels(
        [v for v, m in zip(vectors, labels, strict=True) if m],
        [v for v, m in zip(vectors, labels, strict=True) if not m],
        start,
    )
    assert labelled.prior == pytest.approx(0.2, abs=0.02)
    assert labelled.comparisons[1].m == pytest.approx(truth.comparisons[1].m, abs=0.02)
    u_only = estimate_u([v for v, m in zip(vectors, labels, strict=True) if not m], start)
    assert u_only.comparisons[0].u == pytest.approx((0.8, 0.2), abs=0.02)
    m_only = estimate_m([(1, 2, 1)] * 100, start)
    assert m_only.comparisons[0].m[0] < 0.01  # never seen: only the pseudo-count
    floored = with_m_floor(m_only, 0.05)
    assert min(floored.comparisons[0].m) >= 0.045
    assert sum(floored.comparisons[0].m) == pytest.approx(1.0)


def test_parameters_survive_their_plain_form_and_are_validated() -> None:
    params = _known()
    assert ModelParams.from_dict(params.as_dict()) == params
    with pytest.raises(ValueError, match="sum to 1"):
        ComparisonParams(name="x", levels=("a", "b"), m=(0.5, 0.6), u=(0.5, 0.5))
    with pytest.raises(ValueError, match="prior"):
        ModelParams(prior=0.0, comparisons=())
    with pytest.raises(ValueError, match="thresholds"):
        Thresholds(merge=0.0, review=1.0, shielded_review=0.0, margin=1.0)


def test_the_child_model_is_the_documented_one() -> None:
    assert CHILD_MODEL.names == tuple(name for name, _ in CHILD_COMPARISONS)
    for c, (_, levels) in zip(CHILD_MODEL.comparisons, CHILD_COMPARISONS, strict=True):
        assert c.levels == levels
        weights = c.weights
        assert weights[-1] > 0 > weights[0]  # agreeing helps, disagreeing hurts
    assert "random pairs" in CHILD_MODEL.source
    assert "labelled" in CHILD_MODEL.source
    t = CHILD_THRESHOLDS
    assert t.shielded_review <= t.review < t.merge
    model = FellegiSunter(CHILD_MODEL)
    # One child resupplied unchanged is far above the merge threshold ...
    assert model.weight((4, 4, 3, 4, 1, 2)) > t.merge + 10
    # ... and a stranger sharing only a birthday and a given name is below review.
    assert model.weight((4, 0, 3, 0, 1, 0)) < t.review


# --- the rules (linkage_policy) -------------------------------------------------------


def _verdict(q: ChildProfile, c: ChildProfile) -> tuple[Verdict, str]:
    return child_verdict(q, c, compare_children(q, c))


def test_twins_are_never_merged_nor_suggested() -> None:
    record = _profile()
    assert _verdict(_profile(given=given_forms("Bella")), record) == (Verdict.NEVER, "twin")
    # A double-barrelled twin is still a twin.
    twin = _profile(given=given_forms("Bella"), family=family_forms("Hartley-Khan"))
    assert _verdict(twin, record) == (Verdict.NEVER, "twin")
    # Names one typo apart: a twin or a typo? A person decides.
    assert _verdict(_profile(given=given_forms("Amelie")), record)[0] is Verdict.OPEN  # nickname
    assert _verdict(_profile(given=given_forms("Amelai")), record) == (
        Verdict.REVIEW_ONLY,
        "possible_twin",
    )


def test_siblings_are_never_merged_even_if_everything_else_agrees() -> None:
    record = _profile()
    sibling = _profile(given=given_forms("Oscar"), dob=(2016, 9, 30))
    assert _verdict(sibling, record) == (Verdict.NEVER, "sibling")
    # Born within the year, with the day and month "transposed": still a sibling.
    assert _verdict(_profile(given=given_forms("Oscar"), dob=(2015, 3, 4)), record)[0] is (
        Verdict.NEVER
    )
    # Same name, another date: a likely typo, but never merged automatically.
    assert _verdict(_profile(dob=(2016, 4, 3)), record) == (
        Verdict.REVIEW_ONLY,
        "date_of_birth_differs",
    )
    # Day and month transposed, same name: found, but a person decides.
    assert _verdict(_profile(dob=(2015, 3, 4)), record) == (
        Verdict.REVIEW_ONLY,
        "date_of_birth_differs",
    )


def test_gender_identifiers_and_adoption_rules() -> None:
    record = _profile()
    assert _verdict(_profile(gender="M"), record) == (Verdict.REVIEW_ONLY, "gender_differs")
    assert _verdict(_profile(nhs=str(make_nhs(2))), record) == (
        Verdict.DUPLICATE_ONLY,
        "identifiers_conflict",
    )
    adopted = _profile(shielded=True, shield_ground="adoption_identity_link")
    assert _verdict(_profile(), adopted) == (Verdict.NEVER, "adoption_shield")
    placement = _profile(shielded=True, shield_ground="risk_to_adoption_placement")
    assert _verdict(_profile(), placement)[0] is Verdict.NEVER
    other = _profile(shielded=True, shield_ground="risk_of_harm_to_child")
    assert _verdict(_profile(), other)[0] is Verdict.OPEN


def test_the_documented_weights_are_the_models() -> None:
    # The table in linkage_params.py and docs/matching.md, to one decimal.
    documented = {
        "given_name": (-7.6, -1.1, 6.0, 6.3, 8.2),
        "family_name": (-3.1, 2.3, 7.0, 9.7, 6.8),
        "date_of_birth": (-7.6, -0.8, 10.7, 12.6),
        "address": (-2.2, 2.0, 5.2, 6.1, 15.9),
        "gender": (-6.7, 1.0),
        "parents": (-7.6, -0.8, 14.3),
    }
    for c in CHILD_MODEL.comparisons:
        assert tuple(round(w, 1) for w in c.weights) == documented[c.name], c.name
    assert round(FellegiSunter(CHILD_MODEL).prior_weight, 1) == -23.4
