"""Why a large synthetic supply is held for review (issue 10): what each held
child shares with the record the matcher found for it.

Run: ``.venv/bin/python bench/bench_lookalikes.py [--records 1000000]``

Options: ``--checkpoints 100000,300000,1000000`` (the default: figures are
printed, cumulatively, as the stream passes each); ``--seed 2026`` (the
default, as ``bench_e2e_supply.py``); ``--sample K`` runs the probabilistic
step for one child in ``K`` (the others still go through the strong step and
are kept as records when it finds nothing); ``--unique-nhs`` treats an NHS
number the generator issues a second time as a different number (what a
generator that never reissues, or real data, gives: see below; since issue
10's fix the generator never reissues, so the option changes nothing). A million
children took 3.5 to 6 minutes (load average 3 to 4) and 830 MB at peak on
the shared 2-core machine; ``--records 300000`` about a minute.

The children are the ones ``bench_e2e_supply.py`` supplies (same seed, same
``today``, same order), matched one after the other as the directory matches
them, by the directory's own
:class:`~contactpoint_sdk.reference_server.matching.ProbabilisticMatcher`
(strong identifiers first, then blocking, comparison, weights, rules and
thresholds, all unchanged), against a compact in-memory directory instead of
the SQLite store: each record is kept as its compact profile text
(:func:`~contactpoint_sdk.reference_server.linkage_profile.dumps_profile`),
its identifier and blocking keys as the ``hash()`` of the key text in flat
arrays. A child the matcher answers ``NEW`` becomes a record; ``UNCERTAIN``
is held and makes none, as the directory holds it (``held_for_review``,
SUP-7); ``MATCHED`` adds nothing. No supply carries a shield (``SuppliedChild``
has none), so the shield guards never fire, as in the end-to-end run.

At each checkpoint it prints:

- the outcomes, and the holds by the matcher's code, split by the step that
  held them: the **strong-identifier** step (an identifier of the supply is
  already held by another record) or the **probabilistic** step;
- for strong-step holds, which identifier kind was already held, how many
  of those NHS numbers the generator had issued before (its fictional range,
  999 000 000x-999 999 999x, holds 909,091 valid numbers; before issue 10's
  fix :class:`~contactpoint_sdk.synthetic._ids.IdMinter` then started again,
  from about the 928,000th child; now it never reissues, and the population,
  told its size by ``children(n)``, keeps the numbers for the children with no
  other identifier), and how many of those children carry no other identifier;
- every blocked candidate pair by match-weight band (the weights the matcher
  computes, before any floor), by the rules' verdict;
- for probabilistic holds, what the held child shares with its best
  candidate in doubt: same address and parents (a brother or sister of the
  generator's household) or not, and the commonest comparison vectors;
- the holds left once the generator neither reissues NHS numbers nor gives
  brothers and sisters the same (or a nickname or one-letter variant of the
  same) given name: an estimate, by subtraction. The generator has done
  neither since issue 10's fix, so both counts should be 0.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import resource
import sys
import time
from array import array
from collections import Counter
from collections.abc import Sequence
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import print_machine

from contactpoint_sdk.models.identifiers import DirectoryId
from contactpoint_sdk.reference_server.linkage_blocking import record_keys
from contactpoint_sdk.reference_server.linkage_compare import (
    ADDRESS_LEVELS,
    DATE_LEVELS,
    FAMILY_LEVELS,
    GENDER_LEVELS,
    GIVEN_LEVELS,
    PARENTS_LEVELS,
)
from contactpoint_sdk.reference_server.linkage_model import Vector
from contactpoint_sdk.reference_server.linkage_params import CHILD_THRESHOLDS
from contactpoint_sdk.reference_server.linkage_policy import Verdict
from contactpoint_sdk.reference_server.linkage_profile import (
    ADDRESS,
    GIVEN_NAME,
    PARENTS,
    ChildProfile,
    dumps_profile,
    loads_profile,
    query_profile,
)
from contactpoint_sdk.reference_server.matching import (
    CandidateSummary,
    MatchOutcome,
    MatchResult,
    ProbabilisticMatcher,
    ScoredCandidate,
    StrongIdentifierMatcher,
    identifier_keys,
)
from contactpoint_sdk.synthetic import Population
from contactpoint_sdk.synthetic._areas import POSTCODES_PER_AREA
from contactpoint_sdk.synthetic._data import FEMALE_NAMES, KNOWN_LAS, MALE_NAMES, SURNAME_POOL

TODAY = date(2026, 3, 2)  # bench_e2e_supply.py's TODAY
NHS_TEST_RANGE = 909_091  # valid NHS numbers in 999 000 000x-999 999 999x
BANDS: tuple[tuple[float, str], ...] = (
    (-20.0, "< -20"),
    (-10.0, "-20 to -10"),
    (0.0, "-10 to 0"),
    (10.0, "0 to 10 (review)"),
    (math.inf, ">= 10 (merge)"),
)
_LEVELS = (GIVEN_LEVELS, FAMILY_LEVELS, DATE_LEVELS, ADDRESS_LEVELS, GENDER_LEVELS, PARENTS_LEVELS)
_FIELDS = ("given", "family", "dob", "address", "gender", "parents")
_HOUSEHOLD = "same address and parents (household)"
_GIVEN_TYPO = GIVEN_LEVELS.index("typo")


class Postings:
    """Key hashes to rows, in flat arrays: an open-addressing table (linear
    probing, 12 bytes a slot) of key hashes, each with the head of its chain
    of rows (8 bytes a row). A ``dict`` of ten million ``int`` keys would
    take about a gigabyte."""

    _LOAD = 0.75

    def __init__(self, expected: int) -> None:
        self._alloc(max(10, math.ceil(math.log2(expected / self._LOAD + 1))))
        self._rows = array("i")
        self._next = array("i")

    def _alloc(self, bits: int) -> None:
        self._mask = (1 << bits) - 1
        self._keys = array("q", bytes(8 << bits))  # 0: an empty slot
        self._heads = array("i", bytes(4 << bits))  # 1 + the key's latest posting
        self._used = 0
        self._limit = int(self._LOAD * (1 << bits))

    def _slot(self, h: int) -> int:
        keys, mask = self._keys, self._mask
        i = h & mask
        while True:
            k = keys[i]
            if k in (h, 0):
                return i
            i = (i + 1) & mask

    def add(self, key: int, row: int) -> None:
        h = key or 1
        i = self._slot(h)
        head = self._heads[i]
        if self._keys[i] == 0:
            self._keys[i] = h
            self._used += 1
        elif self._rows[head - 1] == row:
            return
        self._rows.append(row)
        self._next.append(head)
        self._heads[i] = len(self._rows)
        if self._used > self._limit:
            self._grow()

    def rows(self, key: int) -> list[int]:
        """The rows under ``key``, latest first."""
        entry = self._heads[self._slot(key or 1)]
        rows, chain = self._rows, self._next
        out: list[int] = []
        while entry:
            out.append(rows[entry - 1])
            entry = chain[entry - 1]
        return out

    def _grow(self) -> None:
        keys, heads = self._keys, self._heads
        self._alloc(self._mask.bit_length() + 1)
        for k, head in zip(keys, heads, strict=True):
            if k:
                i = self._slot(k)
                self._keys[i] = k
                self._heads[i] = head
                self._used += 1


class CompactDirectory:
    """The matcher's view of a directory of live, unshielded records, kept
    compactly: the :class:`~.matching.CandidateIndex` and the
    :class:`~.linkage_index.CandidateSource` the matcher asks.

    Records are rows ``0..n-1``; :meth:`find_identifier` hands the matcher
    a row number (as text) for :meth:`candidate` to read back. Keys are held
    as the ``hash()`` of their text: a collision (about one in 10**11 pairs
    of keys) could only add a candidate, scored as any other.

    ``unique_nhs``: each row and each query carries the *round* of its NHS
    number (0 the first time the generator issues it, 1 the second...), and
    an NHS number only finds rows of the same round; a record's profile
    holds its round beside the number, so the lifelong-identifier rule sees
    two rounds as two numbers."""

    def __init__(self, expected: int, *, unique_nhs: bool = False) -> None:
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.unique_nhs = unique_nhs
        self.query_round = 0
        self._rounds = bytearray()
        self._identifiers = Postings(2 * expected)
        self._blocks = Postings(11 * expected)

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, profile: ChildProfile, identifiers: Sequence[tuple[str, str]]) -> None:
        row = len(self.ids)
        self.ids.append(profile.directory_id)
        stored = profile
        if self.unique_nhs and self.query_round and profile.nhs:
            stored = profile._replace(nhs=f"{profile.nhs}#{self.query_round}")
        self.texts.append(dumps_profile(stored))
        self._rounds.append(self.query_round)
        for kind, value in identifiers:
            self._identifiers.add(hash(f"{kind}|{value}"), row)
        for key in record_keys(profile):
            self._blocks.add(hash(key), row)

    def profile(self, row: int) -> ChildProfile:
        return loads_profile(self.ids[row], self.texts[row])

    # --- CandidateIndex ---------------------------------------------------------

    def find_identifier(self, kind: str, value: str) -> list[str]:
        rows = self._identifiers.rows(hash(f"{kind}|{value}"))
        if self.unique_nhs and kind == "nhs":
            rows = [r for r in rows if self._rounds[r] == self.query_round]
        return [str(row) for row in rows]

    def candidate(self, directory_id: str) -> CandidateSummary | None:
        p = self.profile(int(directory_id))
        keys = {("nhs", p.nhs), ("uln", p.uln), *(("upn", u) for u in p.upns)}
        return CandidateSummary(
            directory_id=DirectoryId(p.directory_id),
            date_of_birth=date(*p.dob),
            live=True,
            shielded=False,
            shield_ground=None,
            given_key=p.given.keys[0] if p.given.keys else "",
            family_key=p.family.keys[0] if p.family.keys else "",
            identifiers=frozenset((k, v) for k, v in keys if v),
        )

    def shielded_born_on(self, date_of_birth: date) -> list[CandidateSummary]:
        return []  # no supply carries a shield

    def live_named_born_on(
        self, date_of_birth: date, given_key: str, family_key: str
    ) -> list[CandidateSummary]:
        # Only the strong matcher's own name guard asks this; the
        # probabilistic matcher runs the strong step without a name.
        raise NotImplementedError("not used by ProbabilisticMatcher")

    # --- CandidateSource ----------------------------------------------------------

    def candidates(self, keys: Sequence[str]) -> list[ChildProfile]:
        rows: dict[int, None] = {}
        blocks = self._blocks
        for key in keys:
            for row in blocks.rows(hash(key)):
                rows[row] = None
        return [self.profile(row) for row in rows]


class WatchedMatcher(ProbabilisticMatcher):
    """The matcher, keeping every scored candidate of the last supply.

    :meth:`score` is asked without a floor: :meth:`decide` considers only the
    candidates in doubt (the rules allow them, and they weigh at least the
    review threshold or have the same name and date of birth), so its answer
    is the one the floored list gives."""

    last: list[ScoredCandidate] | None = None  # None: the strong step decided

    def score(self, query: ChildProfile, *, floor: float | None = None) -> list[ScoredCandidate]:
        scored = super().score(query)
        self.last = scored
        return scored


class Tally:
    """Cumulative figures (module notes)."""

    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.held: Counter[tuple[str, str]] = Counter()  # (step, code)
        self.strong_kinds: Counter[str] = Counter()
        self.reissued_nhs = 0
        self.nhs_only = 0
        self.bands: Counter[tuple[str, Verdict]] = Counter()
        self.patterns: Counter[tuple[Vector, str]] = Counter()  # (vector, rule)
        self.weights: dict[Vector, float] = {}
        self.held_household: Counter[str] = Counter()
        self.sibling_names = 0  # held on a household sibling with a near given name
        self.queried = 0


def _band(weight: float) -> str:
    for upper, label in BANDS:
        if weight < upper:
            return label
    return BANDS[-1][1]


def _household(vector: Vector) -> str:
    same_home = vector[ADDRESS] == len(ADDRESS_LEVELS) - 1
    same_parents = vector[PARENTS] == len(PARENTS_LEVELS) - 1
    if same_home and same_parents:
        return _HOUSEHOLD
    if same_parents:
        return "same-named parent, other address"
    if same_home:
        return "same address, other parents"
    return "no shared address or parent"


def _describe(vector: Vector) -> str:
    return " ".join(
        f"{name}={'-' if level is None else levels[level]}"
        for name, levels, level in zip(_FIELDS, _LEVELS, vector, strict=True)
    )


def _score_pairs(
    tally: Tally,
    scored: list[ScoredCandidate],
    matcher: ProbabilisticMatcher,
    query: ChildProfile,
    result: MatchResult,
) -> None:
    for s in scored:
        tally.bands[(_band(s.weight), s.verdict)] += 1
    if result.outcome is not MatchOutcome.UNCERTAIN:
        return
    doubt = matcher.in_doubt(query, scored)
    if not doubt:
        return
    best = doubt[0]
    household = _household(best.vector)
    tally.held_household[household] += 1
    tally.patterns[(best.vector, best.rule or result.code)] += 1
    tally.weights[best.vector] = best.weight
    if all(
        _household(s.vector) == _HOUSEHOLD and (s.vector[GIVEN_NAME] or 0) >= _GIVEN_TYPO
        for s in doubt
    ):
        tally.sibling_names += 1


def run(
    records: int, checkpoints: Sequence[int], seed: int, sample: int, *, unique_nhs: bool
) -> None:
    """Supply ``records`` children to a :class:`CompactDirectory`; print at
    each checkpoint."""
    directory = CompactDirectory(records, unique_nhs=unique_nhs)
    matcher = WatchedMatcher(directory)
    strong = StrongIdentifierMatcher()
    tally = Tally()
    nhs_issued = 0
    first_reissue: int | None = None
    rounds = bytearray(1_000_000)  # times each NHS number was issued, by its digits 4-9
    started = time.perf_counter()
    marks = sorted(c for c in checkpoints if c <= records)
    if not marks or marks[-1] != records:
        marks.append(records)
    for i, child in enumerate(Population(seed, today=TODAY).children(records)):
        ids = child.identifiers
        keys = identifier_keys(ids)
        directory.query_round = 0
        if ids.nhs_number is not None:
            nhs_issued += 1
            body = int(str(ids.nhs_number)[3:9])
            directory.query_round = rounds[body]
            if rounds[body] and first_reissue is None:
                first_reissue = i + 1
            rounds[body] += 1
        profile = query_profile(
            ids,
            child.date_of_birth,
            child.name,
            gender=child.gender,
            address=child.address,
            parents=child.parents,
        )._replace(directory_id=str(child.directory_id))
        result: MatchResult
        step = "strong"
        if i % sample:
            result = strong.match(ids, child.date_of_birth, index=directory)
        else:
            tally.queried += 1
            matcher.last = None
            result = matcher.match(
                ids,
                child.date_of_birth,
                index=directory,
                name=child.name,
                gender=child.gender,
                address=child.address,
                parents=child.parents,
            )
            if matcher.last is not None:
                step = "probabilistic"
                _score_pairs(tally, matcher.last, matcher, profile, result)
        if result.outcome is MatchOutcome.UNCERTAIN:
            tally.outcomes["held (UNCERTAIN)"] += 1
            tally.held[(step, result.code)] += 1
            if step == "strong":
                for kind, value in keys:
                    if directory.find_identifier(kind, value):
                        tally.strong_kinds[kind] += 1
                if ids.nhs_number is not None and directory.find_identifier(
                    "nhs", str(ids.nhs_number)
                ):
                    tally.reissued_nhs += 1
                    tally.nhs_only += len(keys) == 1
        elif result.outcome is MatchOutcome.MATCHED:
            tally.outcomes[f"matched ({result.code})"] += 1
        else:
            tally.outcomes[f"new ({result.code})"] += 1
            directory.add(profile, keys)
        if i + 1 in marks:
            _report(
                tally,
                done=i + 1,
                kept=len(directory),
                nhs_issued=nhs_issued,
                first_reissue=first_reissue,
                seconds=time.perf_counter() - started,
                sample=sample,
            )


def _report(
    tally: Tally,
    *,
    done: int,
    kept: int,
    nhs_issued: int,
    first_reissue: int | None,
    seconds: float,
    sample: int,
) -> None:
    def pct(n: int) -> str:
        return f"{100 * n / done:.3f}%"

    load = os.getloadavg()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print()
    print(
        f"## {done:,} children supplied ({seconds:.0f} s, peak RSS {rss:.0f} MB, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})"
    )
    print(f"records made: {kept:,}; probabilistic step run for {tally.queried:,} (1 in {sample})")
    held = tally.outcomes["held (UNCERTAIN)"]
    print(f"held for review: {held:,} ({pct(held)})")
    for outcome, n in sorted(tally.outcomes.items()):
        print(f"  {outcome:<40} {n:>9,}")
    print("holds by step and code:")
    for (step, code), n in sorted(tally.held.items(), key=lambda x: -x[1]):
        print(f"  {step:<14} {code:<28} {n:>9,} ({pct(n)} of children)")
    reissue = (
        "none reissued" if first_reissue is None else f"first reissued at child {first_reissue:,}"
    )
    print(
        f"NHS numbers issued: {nhs_issued:,} (the test range holds {NHS_TEST_RANGE:,}; {reissue})"
    )
    if tally.strong_kinds:
        kinds = ", ".join(f"{k} {n:,}" for k, n in tally.strong_kinds.most_common())
        print(f"strong-step holds, identifier already held by another record: {kinds}")
        print(
            f"  NHS number issued before: {tally.reissued_nhs:,}; "
            f"of those, no other identifier: {tally.nhs_only:,}"
        )
    verdicts = (Verdict.OPEN, Verdict.REVIEW_ONLY, Verdict.DUPLICATE_ONLY, Verdict.NEVER)
    print(
        f"blocked candidate pairs by match weight (bits; review {CHILD_THRESHOLDS.review:g}, "
        f"merge {CHILD_THRESHOLDS.merge:g}) and the rules' verdict:"
    )
    print(f"  {'band':<18}" + "".join(f"{v.value:>16}" for v in verdicts))
    for _, label in BANDS:
        print(f"  {label:<18}" + "".join(f"{tally.bands[(label, v)]:>16,}" for v in verdicts))
    total = sum(tally.bands.values())
    per = total / tally.queried if tally.queried else 0.0
    print(f"  all pairs {total:,} ({per:.2f} candidates a child)")
    if tally.held_household:
        print("probabilistic holds: the best candidate in doubt is")
        for what, n in tally.held_household.most_common():
            print(f"  {what:<40} {n:>7,}")
        print("  commonest comparison vectors (count, weight, rule):")
        for (vector, rule), n in tally.patterns.most_common(10):
            print(f"    {n:>6,}  {tally.weights[vector]:+6.1f}  {rule:<22} {_describe(vector)}")
    left = held - tally.reissued_nhs - tally.sibling_names
    print(
        f"held on a reissued NHS number: {tally.reissued_nhs:,}; held on household brothers "
        f"or sisters alone, given names the same or a nickname or one letter apart: "
        f"{tally.sibling_names:,}"
    )
    print(f"estimate without both: {left:,} held ({pct(left)})")


def print_generator() -> None:
    """The synthetic generator's pools."""
    surnames = Counter(SURNAME_POOL)
    share = [n / len(SURNAME_POOL) for n in surnames.values()]
    top, top_n = surnames.most_common(1)[0]
    postcodes = len(KNOWN_LAS) * POSTCODES_PER_AREA
    print("generator pools (contactpoint_sdk.synthetic, from Faker's en_GB lists):")
    print(
        f"  given names: {len(MALE_NAMES)} male, {len(FEMALE_NAMES)} female, drawn uniformly"
        f" (each {100 / len(MALE_NAMES):.2f}% of its sex); never one a brother or sister"
        " has, or the matcher could take for one"
    )
    print(
        f"  family names: {len(surnames)} (effective number 1/sum(p^2) "
        f"{1 / sum(p * p for p in share):.0f}); commonest {top}"
        f" {100 * top_n / len(SURNAME_POOL):.1f}%"
    )
    print(f"  dates of birth: uniform over 18 years (about {18 * 365.25:.0f} days)")
    print(
        f"  postcodes: {len(KNOWN_LAS)} local authorities x {POSTCODES_PER_AREA} = {postcodes:,}"
        " (house numbers 1-120)"
    )
    print(
        f"  NHS numbers: the 999 test range, {NHS_TEST_RANGE:,} valid numbers, never reissued"
        " (kept for children with no other identifier once they run short)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--checkpoints", default="100000,300000,1000000")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--sample", type=int, default=1, help="probabilistic step for 1 in K")
    parser.add_argument(
        "--unique-nhs", action="store_true", help="a reissued NHS number is another number"
    )
    args = parser.parse_args(argv)
    checkpoints = [int(c) for c in args.checkpoints.split(",") if c]
    print_machine()
    mode = ", a reissued NHS number counted as another" if args.unique_nhs else ""
    print(f"seed {args.seed}, today {TODAY}, {args.records:,} children{mode}")
    print_generator()
    gc.disable()  # the records are acyclic; full collections would walk a million objects
    run(args.records, checkpoints, args.seed, max(1, args.sample), unique_nhs=args.unique_nhs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
