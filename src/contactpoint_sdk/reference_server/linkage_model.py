"""The Fellegi–Sunter model: weights per comparison level, estimated from data.

A record pair is compared field by field; each comparison gives a level
(:mod:`.linkage_compare`), and the pair's **comparison vector** is the tuple
of those levels (``None`` where a side has no value). For each comparison
``k`` and level ``l`` the model holds

- ``m[k][l]``: the probability of that level when the pair is one person;
- ``u[k][l]``: the probability of that level when the pair is two people;

and a ``prior``: the probability that a candidate pair is one person. The
pair's **match weight**, in bits, is::

    log2(prior / (1 - prior)) + sum over k of log2(m[k][l_k] / u[k][l_k])

(a missing comparison adds nothing), and its match probability is
``2**w / (1 + 2**w)``. The sum assumes the comparisons independent given
the match status, as Fellegi and Sunter's model does: correlated fields
(postcode and town) should be one comparison, not two.

Estimating the parameters
-------------------------
- :func:`estimate_em`: expectation–maximisation on unlabelled comparison
  vectors (the candidate pairs blocking produced). Vectors are counted by
  pattern first, so an iteration costs the number of *distinct* patterns,
  not of pairs. ``u`` may be held fixed (estimated by
  :func:`estimate_u` from random pairs, nearly all non-matches), which
  keeps EM from mistaking "same household" for "same person".
- :func:`estimate_from_labels`: counts on pairs whose status is known;
  :func:`estimate_m` counts ``m`` alone on known matches (``u`` then comes
  from :func:`estimate_u`).

Every estimate is smoothed (a pseudo-count per level), so no level has a
zero probability and no weight is infinite.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

import attrs

__all__ = [
    "ComparisonParams",
    "EmResult",
    "FellegiSunter",
    "ModelParams",
    "Vector",
    "count_patterns",
    "estimate_em",
    "estimate_from_labels",
    "estimate_m",
    "estimate_u",
    "starting_params",
    "with_m_floor",
]

#: A comparison vector: one level (or ``None``) per comparison.
Vector = tuple[int | None, ...]

_FLOOR: Final = 1e-9


@attrs.frozen(kw_only=True)
class ComparisonParams:
    """One comparison's levels (labels, lowest agreement first) and their
    ``m`` and ``u`` probabilities (each sums to 1)."""

    name: str
    levels: tuple[str, ...]
    m: tuple[float, ...]
    u: tuple[float, ...]

    def __attrs_post_init__(self) -> None:
        n = len(self.levels)
        if n < 2 or len(self.m) != n or len(self.u) != n:
            raise ValueError(f"{self.name}: levels, m and u must have the same length (>= 2)")
        for probs in (self.m, self.u):
            if any(p <= 0.0 for p in probs) or abs(sum(probs) - 1.0) > 1e-6:
                raise ValueError(f"{self.name}: probabilities must be positive and sum to 1")

    @property
    def weights(self) -> tuple[float, ...]:
        """``log2(m / u)`` per level, in bits."""
        return tuple(math.log2(m / u) for m, u in zip(self.m, self.u, strict=True))


@attrs.frozen(kw_only=True)
class ModelParams:
    """A whole model: the prior, the comparisons in vector order, and a note
    of where the numbers came from."""

    prior: float
    comparisons: tuple[ComparisonParams, ...]
    source: str = ""

    def __attrs_post_init__(self) -> None:
        if not 0.0 < self.prior < 1.0:
            raise ValueError("the prior must be strictly between 0 and 1")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.comparisons)

    def as_dict(self) -> dict[str, object]:
        """A plain, JSON-able form (the shape :mod:`.linkage_params` holds)."""
        return {
            "prior": self.prior,
            "source": self.source,
            "comparisons": [
                {"name": c.name, "levels": list(c.levels), "m": list(c.m), "u": list(c.u)}
                for c in self.comparisons
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ModelParams:
        """Read :meth:`as_dict`'s shape back; each ``m`` and ``u`` is
        renormalised to sum to 1 (a literal rounds them)."""
        comparisons = data["comparisons"]
        if not isinstance(comparisons, list):
            raise TypeError("comparisons must be a list")
        prior = data["prior"]
        if not isinstance(prior, float | int):
            raise TypeError("prior must be a number")
        return cls(
            prior=float(prior),
            source=str(data.get("source", "")),
            comparisons=tuple(
                ComparisonParams(
                    name=str(c["name"]),
                    levels=tuple(str(x) for x in c["levels"]),
                    m=_normalise([float(x) for x in c["m"]]),
                    u=_normalise([float(x) for x in c["u"]]),
                )
                for c in comparisons
            ),
        )


class FellegiSunter:
    """Scores comparison vectors with a :class:`ModelParams`."""

    def __init__(self, params: ModelParams) -> None:
        self.params = params
        self.prior_weight = math.log2(params.prior / (1.0 - params.prior))
        self._weights = tuple(c.weights for c in params.comparisons)
        self._cache: dict[Vector, float] = {}

    def weight(self, vector: Vector) -> float:
        """The match weight of a comparison vector, in bits."""
        cached = self._cache.get(vector)
        if cached is not None:
            return cached
        total = self.prior_weight
        for weights, level in zip(self._weights, vector, strict=True):
            if level is not None:
                total += weights[level]
        if len(self._cache) < 100_000:
            self._cache[vector] = total
        return total

    @staticmethod
    def probability(weight: float) -> float:
        """The match probability of a match weight."""
        if weight > 60:
            return 1.0
        odds = math.pow(2.0, weight)
        return odds / (1.0 + odds)

    @staticmethod
    def weight_of_probability(probability: float) -> float:
        """The match weight whose probability is ``probability``."""
        return math.log2(probability / (1.0 - probability))

    def explain(self, vector: Vector) -> list[tuple[str, str, float]]:
        """``(comparison, level label, partial weight)`` per comparison that
        has a level: why a pair scored as it did."""
        out: list[tuple[str, str, float]] = []
        for c, weights, level in zip(self.params.comparisons, self._weights, vector, strict=True):
            if level is not None:
                out.append((c.name, c.levels[level], weights[level]))
        return out


def starting_params(
    specs: Sequence[tuple[str, Sequence[str]]], prior: float = 0.01, source: str = "start"
) -> ModelParams:
    """Neutral starting values for EM: for each comparison ``m`` rises and
    ``u`` falls with the level (the top level is "agree")."""
    comparisons = []
    for name, levels in specs:
        n = len(levels)
        m_raw = [0.05] * (n - 1) + [0.9]
        u_raw = [0.9] + [0.1 / (n - 1)] * (n - 1)
        if n > 2:  # partial agreement: more likely among matches than the top is not
            m_raw = [0.05] + [0.1 / (n - 2)] * (n - 2) + [0.85]
        comparisons.append(
            ComparisonParams(
                name=name, levels=tuple(levels), m=_normalise(m_raw), u=_normalise(u_raw)
            )
        )
    return ModelParams(prior=prior, comparisons=tuple(comparisons), source=source)


def _normalise(values: Sequence[float]) -> tuple[float, ...]:
    total = sum(values)
    return tuple(max(v / total, _FLOOR) for v in values)


def _smoothed(counts: Sequence[float], pseudocount: float) -> tuple[float, ...]:
    return _normalise([c + pseudocount for c in counts])


def count_patterns(vectors: Iterable[Vector]) -> Counter[Vector]:
    """Distinct comparison vectors and how often each occurs."""
    return Counter(vectors)


@attrs.frozen(kw_only=True)
class EmResult:
    """What :func:`estimate_em` found: the parameters, the iterations run,
    whether it converged, and the expected number of matches among the pairs."""

    params: ModelParams
    iterations: int
    converged: bool
    expected_matches: float


def estimate_em(
    vectors: Iterable[Vector] | Mapping[Vector, int],
    start: ModelParams,
    *,
    fix_u: bool = False,
    fix_prior: bool = False,
    max_iterations: int = 200,
    tolerance: float = 1e-6,
    pseudocount: float = 0.5,
    source: str | None = None,
) -> EmResult:
    """Expectation–maximisation of ``m`` (and ``u`` unless ``fix_u``, and the
    prior unless ``fix_prior``) on unlabelled comparison vectors.

    Stops when no probability moves by more than ``tolerance`` in an
    iteration, or after ``max_iterations``.
    """
    patterns = vectors if isinstance(vectors, Mapping) else count_patterns(vectors)
    items = [(v, float(n)) for v, n in patterns.items() if n > 0]
    if not items:
        raise ValueError("EM needs at least one comparison vector")
    k = len(start.comparisons)
    sizes = [len(c.levels) for c in start.comparisons]
    m = [list(c.m) for c in start.comparisons]
    u = [list(c.u) for c in start.comparisons]
    prior = start.prior
    total = sum(n for _, n in items)
    converged = False
    iterations = 0
    expected = 0.0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 - reported below
        m_counts = [[0.0] * s for s in sizes]
        u_counts = [[0.0] * s for s in sizes]
        expected = 0.0
        for vector, n in items:
            lm, lu = prior, 1.0 - prior
            for i in range(k):
                level = vector[i]
                if level is not None:
                    lm *= m[i][level]
                    lu *= u[i][level]
            p = lm / (lm + lu) if lm + lu > 0.0 else 0.0
            wm, wu = n * p, n * (1.0 - p)
            expected += wm
            for i in range(k):
                level = vector[i]
                if level is not None:
                    m_counts[i][level] += wm
                    u_counts[i][level] += wu
        new_m = [list(_smoothed(c, pseudocount)) for c in m_counts]
        new_u = u if fix_u else [list(_smoothed(c, pseudocount)) for c in u_counts]
        new_prior = prior if fix_prior else min(max(expected / total, 1e-9), 1 - 1e-9)
        delta = abs(new_prior - prior)
        for i in range(k):
            for level in range(sizes[i]):
                delta = max(
                    delta,
                    abs(new_m[i][level] - m[i][level]),
                    abs(new_u[i][level] - u[i][level]),
                )
        m, u, prior = new_m, new_u, new_prior
        if delta < tolerance:
            converged = True
            break
    params = ModelParams(
        prior=prior,
        comparisons=tuple(
            attrs.evolve(c, m=tuple(m[i]), u=tuple(u[i])) for i, c in enumerate(start.comparisons)
        ),
        source=source if source is not None else f"EM on {int(total)} candidate pairs",
    )
    return EmResult(
        params=params, iterations=iterations, converged=converged, expected_matches=expected
    )


def _level_counts(vectors: Iterable[Vector], start: ModelParams) -> list[list[float]]:
    counts = [[0.0] * len(c.levels) for c in start.comparisons]
    for vector in vectors:
        for i, level in enumerate(vector):
            if level is not None:
                counts[i][level] += 1.0
    return counts


def estimate_u(
    vectors: Iterable[Vector], start: ModelParams, *, pseudocount: float = 0.5
) -> ModelParams:
    """``u`` from comparison vectors of random pairs (nearly all non-matches);
    ``m`` and the prior are kept from ``start``."""
    counts = _level_counts(vectors, start)
    return attrs.evolve(
        start,
        comparisons=tuple(
            attrs.evolve(c, u=_smoothed(counts[i], pseudocount))
            for i, c in enumerate(start.comparisons)
        ),
    )


def estimate_m(
    vectors: Iterable[Vector], start: ModelParams, *, pseudocount: float = 0.5
) -> ModelParams:
    """``m`` from comparison vectors of pairs known to match (labels); ``u``
    and the prior are kept from ``start``."""
    counts = _level_counts(vectors, start)
    return attrs.evolve(
        start,
        comparisons=tuple(
            attrs.evolve(c, m=_smoothed(counts[i], pseudocount))
            for i, c in enumerate(start.comparisons)
        ),
    )


def with_m_floor(params: ModelParams, floor: float) -> ModelParams:
    """Every ``m`` at least ``floor`` (then renormalised): a judgement that
    each level happens among true matches at least that often, for errors the
    data the model was fitted on never shows."""
    if not 0.0 <= floor < 1.0:
        raise ValueError("the floor is a probability below 1")
    return attrs.evolve(
        params,
        comparisons=tuple(
            attrs.evolve(c, m=_normalise([max(m, floor) for m in c.m])) for c in params.comparisons
        ),
    )


def estimate_from_labels(
    matches: Iterable[Vector],
    non_matches: Iterable[Vector],
    start: ModelParams,
    *,
    pseudocount: float = 0.5,
    source: str | None = None,
) -> ModelParams:
    """``m``, ``u`` and the prior counted on labelled pairs."""
    sizes = [len(c.levels) for c in start.comparisons]
    m_counts = [[0.0] * s for s in sizes]
    u_counts = [[0.0] * s for s in sizes]
    n_match = n_non = 0
    for vector in matches:
        n_match += 1
        for i, level in enumerate(vector):
            if level is not None:
                m_counts[i][level] += 1.0
    for vector in non_matches:
        n_non += 1
        for i, level in enumerate(vector):
            if level is not None:
                u_counts[i][level] += 1.0
    if not n_match or not n_non:
        raise ValueError("labels need at least one match and one non-match")
    return ModelParams(
        prior=n_match / (n_match + n_non),
        comparisons=tuple(
            attrs.evolve(
                c, m=_smoothed(m_counts[i], pseudocount), u=_smoothed(u_counts[i], pseudocount)
            )
            for i, c in enumerate(start.comparisons)
        ),
        source=source
        if source is not None
        else f"labels: {n_match} matching and {n_non} non-matching pairs",
    )
