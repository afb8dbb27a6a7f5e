"""Synthetic matching scenarios: a directory, and supplies with known answers.

For the bench and the tests: the synthetic population generator
(:mod:`contactpoint_sdk.synthetic`, needs the ``synthetic`` extra) makes a
directory of children, then supplies, each with the record it truly belongs
to (or none):

==================  ==============================================================
kind                the supply
==================  ==============================================================
same                a directory child resupplied as it is
typo                one letter of the given or family name changed (edit distance 1)
nickname            the given name replaced by a nickname of it (where the table has one)
name_change         a new family name, the old one given as former
name_change_silent  a new family name, the old one not given
double_barrelled    the family name double-barrelled (``Smith`` → ``Smith-Khan``)
move                a new address in another local authority, new school and GP
transposed          day and month of birth swapped
move_typo           a move and a typo together
new                 a child not in the directory (may join a directory household:
                    a sibling)
twin                the twin of a directory child (same surname, birth date,
                    address, parents, school)
sibling             a brother or sister of a directory child, born at least 300 days
                    apart
==================  ==============================================================

Supplies carry no identifiers the directory knows (they are stripped), so
every one goes through the probabilistic matcher: identifiers would make
the easy cases trivial.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Final

import attrs

from contactpoint_sdk.models.identifiers import DirectoryId, SchoolReference
from contactpoint_sdk.models.record import ChildRecord, SourceIdentifiers
from contactpoint_sdk.policy.shield import shield_lifted_on
from contactpoint_sdk.reference_server.linkage_blocking import query_keys
from contactpoint_sdk.reference_server.linkage_compare import fold
from contactpoint_sdk.reference_server.linkage_index import MemoryLinkageIndex
from contactpoint_sdk.reference_server.linkage_model import (
    ModelParams,
    Vector,
    estimate_m,
    estimate_u,
    starting_params,
    with_m_floor,
)
from contactpoint_sdk.reference_server.linkage_nicknames import NICKNAME_GROUPS
from contactpoint_sdk.reference_server.linkage_profile import (
    CHILD_COMPARISONS,
    ChildProfile,
    compare_children,
    profile_from_record,
    query_profile,
)
from contactpoint_sdk.reference_server.matching import (
    CandidateSummary,
    MatchOutcome,
    ProbabilisticMatcher,
    identifier_keys,
    name_key,
)
from contactpoint_sdk.synthetic import Population

__all__ = [
    "DUPLICATE_KINDS",
    "M_FLOOR",
    "NATIONAL_PRIOR",
    "NON_MATCH_KINDS",
    "Case",
    "Evaluation",
    "KindResult",
    "MemoryCandidateIndex",
    "Scenario",
    "build_scenario",
    "candidate_pairs",
    "evaluate",
    "fit_child_model",
    "scenario_index",
]

#: Supplies of a child already in the directory.
DUPLICATE_KINDS: Final = (
    "same",
    "typo",
    "nickname",
    "name_change",
    "name_change_silent",
    "double_barrelled",
    "move",
    "transposed",
    "move_typo",
)
#: Supplies of a child not in the directory.
NON_MATCH_KINDS: Final = ("new", "twin", "sibling")

_NICKNAMES: Final[dict[str, list[str]]] = {}
for _group in NICKNAME_GROUPS:
    for _name in _group:
        _NICKNAMES.setdefault(_name, []).extend(n for n in _group if n != _name)


def _unseen(reference: str) -> SourceIdentifiers:
    return SourceIdentifiers(
        school_references=(SchoolReference(establishment="9999999", reference=reference),)
    )


@attrs.frozen(kw_only=True)
class Case:
    """One supply: its kind, the supplied child, and the directory
    identifier it truly belongs to (``None`` for a child not in the directory)."""

    kind: str
    supply: ChildRecord
    truth: str | None
    #: The supply's identifiers: a school reference the directory has never
    #: seen (the supplied child's own identifiers are dropped).
    identifiers: SourceIdentifiers = attrs.field(factory=lambda: _unseen("SCENARIO"))

    def query(self) -> ChildProfile:
        """The matcher's query."""
        s = self.supply
        return query_profile(
            self.identifiers,
            s.date_of_birth,
            s.name,
            gender=s.gender,
            address=s.address,
            parents=s.parents,
        )


@attrs.frozen(kw_only=True)
class Scenario:
    """A directory and the supplies to match against it (``seed`` made it)."""

    seed: int
    directory: tuple[ChildRecord, ...]
    cases: tuple[Case, ...]


def _nickname(pop_rng: random.Random, record: ChildRecord) -> ChildRecord | None:
    options = _NICKNAMES.get(fold(record.name.given_name))
    if not options:
        return None
    chosen = options[pop_rng.randrange(len(options))].capitalize()
    return attrs.evolve(record, name=attrs.evolve(record.name, given_name=chosen))


def _double_barrelled(rng: random.Random, record: ChildRecord, other: str) -> ChildRecord:
    family = record.name.family_name
    joined = f"{family}-{other}" if rng.random() < 0.5 else f"{other}-{family}"
    return attrs.evolve(record, name=attrs.evolve(record.name, family_name=joined))


def _cases(
    pop: Population, rng: random.Random, directory: list[ChildRecord], per_kind: int
) -> Iterator[Case]:
    def pick() -> ChildRecord:
        return directory[rng.randrange(len(directory))]

    for kind in DUPLICATE_KINDS:
        made = 0
        while made < per_kind:
            original = pick()
            supply: ChildRecord | None
            if kind == "same":
                supply = original
            elif kind == "typo":
                supply = pop.with_typo(original)
            elif kind == "nickname":
                supply = _nickname(rng, original)
            elif kind == "name_change":
                supply = pop.with_name_change(original)
            elif kind == "name_change_silent":
                changed = pop.with_name_change(original)
                supply = attrs.evolve(
                    changed, name=attrs.evolve(changed.name, former_family_names=())
                )
            elif kind == "double_barrelled":
                supply = _double_barrelled(rng, original, pick().name.family_name)
            elif kind == "move":
                supply = pop.with_move(original)
            elif kind == "transposed":
                try:
                    supply = pop.with_transposed_dob(original)
                except ValueError:
                    supply = None
            else:  # move_typo
                supply = pop.with_typo(pop.with_move(original))
            if supply is None:
                continue
            made += 1
            yield Case(kind=kind, supply=supply, truth=str(original.directory_id))


def build_scenario(
    seed: int,
    *,
    directory_size: int,
    per_kind: int,
    today: date = date(2026, 3, 1),
) -> Scenario:
    """A directory of ``directory_size`` children (plus one twin or sibling of
    each twin and sibling case), and ``per_kind`` supplies of every kind."""
    pop = Population(seed, today=today)
    rng = random.Random(f"linkage-scenario/{seed}")  # noqa: S311 - test data, not secrets
    directory = list(pop.children(directory_size))
    extra: list[ChildRecord] = []
    cases: list[Case] = list(_cases(pop, rng, directory, per_kind))
    for _ in range(per_kind):
        first, second = pop.twins()
        extra.append(first)
        cases.append(Case(kind="twin", supply=second, truth=None))
    for _ in range(per_kind):
        elder, younger = pop.siblings(2)
        if rng.random() < 0.5:
            elder, younger = younger, elder
        extra.append(elder)
        cases.append(Case(kind="sibling", supply=younger, truth=None))
    cases.extend(Case(kind="new", supply=c, truth=None) for c in pop.children(per_kind))
    cases = [attrs.evolve(c, identifiers=_unseen(f"S{seed}-{i}")) for i, c in enumerate(cases)]
    return Scenario(seed=seed, directory=(*directory, *extra), cases=tuple(cases))


class MemoryCandidateIndex:
    """The strong matcher's look-ups over a list of records (no store):
    enough for :meth:`ProbabilisticMatcher.match` in benchmarks and tests."""

    def __init__(self, records: Iterable[ChildRecord]) -> None:
        self._summaries: dict[str, CandidateSummary] = {}
        self._identifiers: dict[tuple[str, str], list[str]] = {}
        self._shielded: dict[date, list[CandidateSummary]] = {}
        for r in records:
            key = str(r.directory_id)
            shield = r.shield
            shielded = shield is not None and shield_lifted_on(shield) is None
            keys = identifier_keys(r.identifiers)
            summary = CandidateSummary(
                directory_id=r.directory_id,
                date_of_birth=r.date_of_birth,
                live=True,
                shielded=shielded,
                shield_ground=shield.ground if shielded and shield is not None else None,
                given_key=name_key(r.name.given_name),
                family_key=name_key(r.name.family_name),
                identifiers=frozenset(keys),
            )
            self._summaries[key] = summary
            for k in keys:
                self._identifiers.setdefault(k, []).append(key)
            if shielded:
                self._shielded.setdefault(r.date_of_birth, []).append(summary)

    def find_identifier(self, kind: str, value: str) -> list[str]:
        return list(self._identifiers.get((kind, value), ()))

    def candidate(self, directory_id: str) -> CandidateSummary | None:
        return self._summaries.get(directory_id)

    def shielded_born_on(self, date_of_birth: date) -> list[CandidateSummary]:
        return list(self._shielded.get(date_of_birth, ()))

    def live_named_born_on(
        self, date_of_birth: date, given_key: str, family_key: str
    ) -> list[CandidateSummary]:
        return [
            s
            for s in self._summaries.values()
            if s.date_of_birth == date_of_birth
            and s.given_key == given_key
            and s.family_key == family_key
        ]


def scenario_index(scenario: Scenario) -> tuple[MemoryLinkageIndex, MemoryCandidateIndex]:
    """The linkage index and the strong matcher's index of a scenario's directory."""
    linkage = MemoryLinkageIndex()
    for record in scenario.directory:
        linkage.put(profile_from_record(record))
    return linkage, MemoryCandidateIndex(scenario.directory)


@attrs.define
class KindResult:
    """Outcomes for one kind of supply."""

    total: int = 0
    merged_right: int = 0
    merged_wrong: int = 0
    review_right: int = 0  # held (or flagged) with the true record among the candidates
    review_other: int = 0  # held (or flagged) without it (or, for a non-match, at all)
    new: int = 0


@attrs.define
class Evaluation:
    """A matcher's outcomes on a scenario, by kind, and the time it took."""

    kinds: dict[str, KindResult]
    seconds: float
    candidates: int

    @property
    def duplicates(self) -> int:
        return sum(self.kinds[k].total for k in DUPLICATE_KINDS if k in self.kinds)

    @property
    def merges(self) -> tuple[int, int]:
        """(right, wrong) automatic merges over every kind."""
        right = sum(k.merged_right for k in self.kinds.values())
        wrong = sum(k.merged_wrong for k in self.kinds.values())
        return right, wrong

    @property
    def precision_recall_f1(self) -> tuple[float, float, float]:
        """Of the automatic merges."""
        right, wrong = self.merges
        precision = right / (right + wrong) if right + wrong else 1.0
        recall = right / self.duplicates if self.duplicates else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return precision, recall, f1


def evaluate(matcher: ProbabilisticMatcher, scenario: Scenario) -> Evaluation:
    """Run every supply of ``scenario`` through ``matcher`` (whose source must
    index the scenario's directory) and count the outcomes."""
    index = MemoryCandidateIndex(scenario.directory)
    kinds: dict[str, KindResult] = {}
    candidates = 0
    started = time.perf_counter()
    for case in scenario.cases:
        s = case.supply
        result = matcher.match(
            case.identifiers,
            s.date_of_birth,
            index=index,
            name=s.name,
            gender=s.gender,
            address=s.address,
            parents=s.parents,
        )
        candidates += len(result.candidates)
        k = kinds.setdefault(case.kind, KindResult())
        k.total += 1
        truth = None if case.truth is None else DirectoryId(case.truth)
        if result.outcome is MatchOutcome.MATCHED:
            if truth is not None and result.directory_id == truth:
                k.merged_right += 1
            else:
                k.merged_wrong += 1
        elif result.candidates:
            if truth is not None and truth in result.candidates:
                k.review_right += 1
            else:
                k.review_other += 1
        else:
            k.new += 1
    return Evaluation(kinds=kinds, seconds=time.perf_counter() - started, candidates=candidates)


def candidate_pairs(
    scenario: Scenario, linkage: MemoryLinkageIndex
) -> Iterator[tuple[Vector, bool]]:
    """Every supply against every candidate blocking gives it: the vector,
    and whether the pair is truly one child."""
    for case in scenario.cases:
        query = case.query()
        for candidate in linkage.candidates(query_keys(query)):
            yield compare_children(query, candidate), candidate.directory_id == case.truth


#: The least ``m`` of any level (see :func:`fit_child_model`): a judgement.
M_FLOOR: Final = 0.005

#: The prior: the chance that two records picked at random are one child, in
#: a directory of England's children (about 11 million records).
NATIONAL_PRIOR: Final = 1 / 11_000_000


def fit_child_model(
    scenario: Scenario,
    *,
    random_pairs: int = 200_000,
    prior: float = NATIONAL_PRIOR,
    m_floor: float = M_FLOOR,
    seed: int = 1,
) -> ModelParams:
    """Estimate the child model on ``scenario``.

    - ``u``: chance agreement, from ``random_pairs`` random pairs of the
      scenario's directory records (nearly all two different children);
    - ``m``: from the labels: every duplicate supply compared with the record
      it truly belongs to (so ``m`` mirrors the scenario's mix of errors);
    - every ``m`` raised to at least ``m_floor`` (:func:`~.linkage_model.with_m_floor`):
      the generator never makes some real errors (a day of birth mistyped, a
      gender mis-recorded, a new carer), and an error it never makes must
      cost a bounded weight, not minus infinity;
    - the prior: ``prior``, fixed.
    """
    linkage, _ = scenario_index(scenario)
    profiles = list(linkage)
    by_id = {p.directory_id: p for p in profiles}
    rng = random.Random(seed)  # noqa: S311 - sampling, not secrets
    start = starting_params(CHILD_COMPARISONS, prior=prior)
    n = len(profiles)
    randoms = (
        compare_children(profiles[rng.randrange(n)], profiles[rng.randrange(n)])
        for _ in range(random_pairs)
    )
    with_u = estimate_u(randoms, start)
    matches = [
        compare_children(case.query(), by_id[case.truth])
        for case in scenario.cases
        if case.truth is not None
    ]
    fitted = with_m_floor(estimate_m(matches, with_u), m_floor)
    return attrs.evolve(
        fitted,
        source=(
            f"u: {random_pairs:,} random pairs of the {n:,} records of synthetic scenario "
            f"seed {scenario.seed}; m: its {len(matches):,} labelled duplicate supplies "
            f"({', '.join(DUPLICATE_KINDS)}, equally many of each), every m at least "
            f"{m_floor}; prior: 1 in {round(1 / prior):,} (England's children)"
        ),
    )
