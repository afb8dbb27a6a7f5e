"""Matching a supply to an existing child: one child, one record (SUP-7, SHLD-7).

The directory core asks a :class:`Matcher` which record, if any, a supplied
child (or an operation's :class:`~contactpoint_sdk.models.operations.ChildKey`)
belongs to. The answer is a :class:`MatchResult`:

- ``MATCHED``: exactly one record, with certainty; the operation applies to it;
- ``NEW``: no record; a supplied child becomes a new record. ``candidates``
  may name records that look like the same child (a possible duplicate for
  the management team), which never stops the new record;
- ``UNCERTAIN``: the matcher cannot tell. The core **never** creates a record
  for an uncertain match: it holds the operation for the local authority's
  data-quality queue.

:class:`StrongIdentifierMatcher` is the first matcher.
:class:`ProbabilisticMatcher` (issue 7) runs it first, then Fellegi–Sunter
probabilistic matching for a child no identifier finds (see its notes, and
``docs/matching.md``).

How :class:`StrongIdentifierMatcher` decides
-------------------------------------------

1. Every source identifier of the query is looked up in the identifier index:
   NHS number, UPN (and former UPNs, which are indexed as UPNs, so an earlier
   school's supply still matches), ULN and school reference.
2. The identifiers point at two or more records: ``UNCERTAIN``
   (``identifiers_disagree``).
3. They point at one record, but its date of birth differs: ``UNCERTAIN``
   (``date_of_birth_differs``); or it holds a *different* NHS number or ULN
   (each a lifelong, one-per-person number): ``UNCERTAIN``
   (``identifiers_conflict``). Otherwise ``MATCHED``.
4. No identifier is known. Then, where the query carries a name, two
   conservative guards run on records born on the same day:

   - **shield guard (SHLD-7)**: a shielded record with the same given *or*
     family name makes the match ``UNCERTAIN`` (``shielded_record_may_match``):
     "where a match is uncertain, the candidate is treated as shielded until
     the management team decides". Twins of a shielded child are held too:
     erring on the side of hiding. Records shielded on the adoption grounds
     (``adoption_identity_link``, ``risk_to_adoption_placement``) are left out
     of this guard, because pre- and post-adoption identities must never be
     linked or suggested as a match (SHLD-5);
   - **duplicate guard (SUP-7)**: a live, unshielded record with the same
     given *and* family name gives ``NEW`` with that record as a candidate
     (``possible_duplicate``), for the management team to review.

   Otherwise ``NEW`` (``no_match``).

The directory core adds one safety net of its own whatever the matcher: a
``NEW`` result naming a shielded candidate is treated as ``UNCERTAIN``.
"""

from __future__ import annotations

import enum
import functools
import math
from collections.abc import Sequence
from datetime import date
from typing import Protocol, runtime_checkable

import attrs

from contactpoint_sdk.models.enums import Gender, ShieldGround
from contactpoint_sdk.models.identifiers import DirectoryId
from contactpoint_sdk.models.record import (
    Address,
    LocalAuthorityCarer,
    ParentCarer,
    PersonName,
    SourceIdentifiers,
)
from contactpoint_sdk.reference_server.linkage_blocking import query_keys
from contactpoint_sdk.reference_server.linkage_compare import fold
from contactpoint_sdk.reference_server.linkage_index import CandidateSource
from contactpoint_sdk.reference_server.linkage_model import FellegiSunter, ModelParams, Vector
from contactpoint_sdk.reference_server.linkage_params import (
    CHILD_MODEL,
    CHILD_THRESHOLDS,
    Thresholds,
)
from contactpoint_sdk.reference_server.linkage_policy import (
    Verdict,
    child_verdict,
    is_adoption_shielded,
)
from contactpoint_sdk.reference_server.linkage_profile import (
    ChildProfile,
    compare_children,
    query_profile,
)

__all__ = [
    "ADOPTION_GROUNDS",
    "CandidateIndex",
    "CandidateSummary",
    "MatchOutcome",
    "MatchResult",
    "Matcher",
    "ProbabilisticMatcher",
    "ScoredCandidate",
    "StrongIdentifierMatcher",
    "identifier_keys",
    "name_key",
]

#: Shield grounds whose records the name-based guards never suggest (SHLD-5).
ADOPTION_GROUNDS: frozenset[ShieldGround] = frozenset(
    {ShieldGround.ADOPTION_IDENTITY_LINK, ShieldGround.RISK_TO_ADOPTION_PLACEMENT}
)

#: Identifier kinds of which a person has exactly one for life.
_UNIQUE_KINDS = ("nhs", "uln")


def identifier_keys(identifiers: SourceIdentifiers) -> list[tuple[str, str]]:
    """The ``(kind, value)`` index keys of a child's source identifiers.

    Kinds: ``nhs``, ``upn`` (current and former UPNs alike), ``uln`` and
    ``school`` (``"LAESTAB/REF"``). Values are canonical, so equal identifiers
    give equal keys.
    """
    keys: list[tuple[str, str]] = []
    if identifiers.nhs_number is not None:
        keys.append(("nhs", str(identifiers.nhs_number)))
    if identifiers.upn is not None:
        keys.append(("upn", str(identifiers.upn)))
    keys.extend(("upn", str(u)) for u in identifiers.former_upns)
    if identifiers.uln is not None:
        keys.append(("uln", str(identifiers.uln)))
    keys.extend(("school", str(s)) for s in identifiers.school_references)
    return list(dict.fromkeys(keys))


@functools.lru_cache(maxsize=65536)
def name_key(name: str) -> str:
    """A name folded for comparison: case and accents folded, letters only.

    ``"O'Neill"``, ``"o neill"`` and ``"Ó Néill"`` give the same key.
    (The probabilistic matcher folds with
    :func:`~contactpoint_sdk.reference_server.linkage_compare.fold`, the
    same function.) Cached: names recur.
    """
    return fold(name)


@attrs.frozen(kw_only=True)
class CandidateSummary:
    """What a matcher may know about an existing record: enough to decide,
    nothing to reveal. ``identifiers`` are the record's index keys."""

    directory_id: DirectoryId
    date_of_birth: date
    live: bool
    shielded: bool
    shield_ground: ShieldGround | None
    given_key: str
    family_key: str
    identifiers: frozenset[tuple[str, str]]


@runtime_checkable
class CandidateIndex(Protocol):
    """The look-ups a matcher may make (the directory's store provides them)."""

    def find_identifier(self, kind: str, value: str) -> list[str]:
        """Directory identifiers of records (live or archived) holding this key."""
        ...

    def candidate(self, directory_id: str) -> CandidateSummary | None:
        """The summary of one record, or ``None`` if it no longer exists."""
        ...

    def shielded_born_on(self, date_of_birth: date) -> list[CandidateSummary]:
        """Records with a shield in place, born on ``date_of_birth``."""
        ...

    def live_named_born_on(
        self, date_of_birth: date, given_key: str, family_key: str
    ) -> list[CandidateSummary]:
        """Live records born on ``date_of_birth`` with these folded names."""
        ...


class MatchOutcome(enum.Enum):
    """Which record a supply belongs to, if any."""

    MATCHED = "matched"
    NEW = "new"
    UNCERTAIN = "uncertain"


@attrs.frozen(kw_only=True)
class MatchResult:
    """A matcher's answer. ``directory_id`` is set for ``MATCHED`` only;
    ``candidates`` lists the records in doubt (``UNCERTAIN``) or possible
    duplicates (``NEW``); ``shielded_candidates`` those of them with a shield.
    ``code`` says why, for the data-quality queue. ``query`` is the supply's
    comparison profile where the matcher made one (not part of the answer:
    equality and ``repr`` ignore it); for a ``NEW`` supplied child it is the
    new record's profile but for its directory identifier, which the
    directory reuses (issue 10)."""

    outcome: MatchOutcome
    code: str
    directory_id: DirectoryId | None = None
    candidates: tuple[DirectoryId, ...] = ()
    shielded_candidates: tuple[DirectoryId, ...] = ()
    query: ChildProfile | None = attrs.field(default=None, eq=False, repr=False)

    @classmethod
    def matched(cls, directory_id: DirectoryId) -> MatchResult:
        return cls(outcome=MatchOutcome.MATCHED, code="identifier_match", directory_id=directory_id)

    @classmethod
    def uncertain(cls, code: str, candidates: Sequence[CandidateSummary]) -> MatchResult:
        return cls(
            outcome=MatchOutcome.UNCERTAIN,
            code=code,
            candidates=tuple(c.directory_id for c in candidates),
            shielded_candidates=tuple(c.directory_id for c in candidates if c.shielded),
        )


class Matcher(Protocol):
    """Finds the record a supplied child belongs to (SUP-7, SHLD-7)."""

    def match(
        self,
        identifiers: SourceIdentifiers,
        date_of_birth: date,
        *,
        index: CandidateIndex,
        name: PersonName | None = None,
        gender: Gender | None = None,
        address: Address | None = None,
        parents: Sequence[ParentCarer | LocalAuthorityCarer] = (),
    ) -> MatchResult:
        """The record ``identifiers`` and ``date_of_birth`` (and, where the
        operation carries them, name, gender, address and parents or carers)
        belong to (SUP-7, SHLD-7)."""
        ...


class StrongIdentifierMatcher:
    """Matches on strong identifiers only, with the SHLD-7 and SUP-7 name
    guards for a child no identifier finds (see the module notes)."""

    def match(
        self,
        identifiers: SourceIdentifiers,
        date_of_birth: date,
        *,
        index: CandidateIndex,
        name: PersonName | None = None,
        gender: Gender | None = None,
        address: Address | None = None,
        parents: Sequence[ParentCarer | LocalAuthorityCarer] = (),
    ) -> MatchResult:
        """See the module notes. ``gender``, ``address`` and ``parents`` are
        not used: this matcher decides on identifiers and the name guards."""
        keys = identifier_keys(identifiers)
        found: dict[str, None] = {}
        for kind, value in keys:
            for directory_id in index.find_identifier(kind, value):
                found[directory_id] = None
        summaries = [s for s in (index.candidate(d) for d in found) if s is not None]
        if len(summaries) > 1:
            return MatchResult.uncertain("identifiers_disagree", summaries)
        if len(summaries) == 1:
            only = summaries[0]
            if only.date_of_birth != date_of_birth:
                return MatchResult.uncertain("date_of_birth_differs", summaries)
            query = set(keys)
            for kind in _UNIQUE_KINDS:
                mine = {v for k, v in query if k == kind}
                theirs = {v for k, v in only.identifiers if k == kind}
                if mine and theirs and not mine & theirs:
                    return MatchResult.uncertain("identifiers_conflict", summaries)
            return MatchResult.matched(only.directory_id)
        if name is None:
            return MatchResult(outcome=MatchOutcome.NEW, code="no_match")
        given, family = name_key(name.given_name), name_key(name.family_name)
        shielded = [
            s
            for s in index.shielded_born_on(date_of_birth)
            if s.shield_ground not in ADOPTION_GROUNDS
            and (s.given_key == given or s.family_key == family)
        ]
        if shielded:
            return MatchResult.uncertain("shielded_record_may_match", shielded)
        duplicates = [
            s
            for s in index.live_named_born_on(date_of_birth, given, family)
            if not s.shielded and s.shield_ground not in ADOPTION_GROUNDS  # SHLD-5
        ]
        if duplicates:
            return MatchResult(
                outcome=MatchOutcome.NEW,
                code="possible_duplicate",
                candidates=tuple(s.directory_id for s in duplicates),
            )
        return MatchResult(outcome=MatchOutcome.NEW, code="no_match")


@attrs.frozen(kw_only=True)
class ScoredCandidate:
    """One candidate as the probabilistic matcher saw it: its profile, the
    comparison vector, the match weight (bits) and the rules' verdict."""

    profile: ChildProfile
    vector: Vector
    weight: float
    verdict: Verdict
    rule: str


class ProbabilisticMatcher:
    """Strong identifiers first, then Fellegi–Sunter matching (issue 7).

    How it decides
    --------------
    1. :class:`StrongIdentifierMatcher` on the identifiers alone: any record
       an identifier finds decides the answer, exactly as that matcher does
       (``MATCHED`` or ``UNCERTAIN``).
    2. No identifier found anything, and the supply carries no name (an
       operation naming a child by key only): ``NEW`` (``no_match``).
    3. The strong matcher's **shield guard** (a shielded record born the same
       day with the same given *or* family name: ``UNCERTAIN``,
       ``shielded_record_may_match``) still runs, unchanged.
    4. Candidates: the records sharing a blocking key with the supply
       (``source``; :mod:`.linkage_blocking`). Records shielded on an
       adoption ground are dropped here: never candidates, never suggested
       (SHLD-5).
    5. Each candidate is compared (:func:`~.linkage_profile.compare_children`),
       weighed (:mod:`.linkage_model`, parameters from :mod:`.linkage_params`)
       and judged by the rules (:mod:`.linkage_policy`: twins, siblings,
       a differing date of birth, gender, lifelong identifiers).
    6. A candidate is *in doubt* when the rules allow it and its weight
       reaches ``review`` (``shielded_review`` for a shielded record), or it
       has the supply's exact given and family name and date of birth (as
       the strong matcher's duplicate guard).
    7. The decision:

       - none in doubt: ``NEW`` (``no_match``);
       - any in doubt is shielded: ``UNCERTAIN``
         (``shielded_record_may_match``), never a new unshielded record
         (SHLD-7);
       - the best is ``OPEN``, reaches ``merge``, and beats the second by
         ``margin``: ``MATCHED`` (``probabilistic_match``);
       - every one in doubt differs in a lifelong identifier: ``NEW`` with
         them as candidates (``possible_duplicate``);
       - else ``UNCERTAIN``, held for the local authority's review queue,
         with the rule that stopped the merge as the code
         (``possible_twin``, ``date_of_birth_differs``, ``gender_differs``,
         ``ambiguous_candidates``) or ``probable_match``.

    The core passes a supplied child's ``parents`` (the parents' comparison
    and the ``dgr`` blocking key use them); an operation naming a child by
    key only passes none.
    """

    def __init__(
        self,
        source: CandidateSource,
        *,
        params: ModelParams = CHILD_MODEL,
        thresholds: Thresholds = CHILD_THRESHOLDS,
    ) -> None:
        self.source = source
        self.model = FellegiSunter(params)
        self.thresholds = thresholds
        self._strong = StrongIdentifierMatcher()

    def match(
        self,
        identifiers: SourceIdentifiers,
        date_of_birth: date,
        *,
        index: CandidateIndex,
        name: PersonName | None = None,
        gender: Gender | None = None,
        address: Address | None = None,
        parents: Sequence[ParentCarer | LocalAuthorityCarer] = (),
    ) -> MatchResult:
        strong = self._strong.match(identifiers, date_of_birth, index=index)
        if strong.outcome is not MatchOutcome.NEW or name is None:
            return strong
        given, family = name_key(name.given_name), name_key(name.family_name)
        guarded = [
            s
            for s in index.shielded_born_on(date_of_birth)
            if s.shield_ground not in ADOPTION_GROUNDS
            and (s.given_key == given or s.family_key == family)
        ]
        if guarded:
            return MatchResult.uncertain("shielded_record_may_match", guarded)
        query = query_profile(
            identifiers, date_of_birth, name, gender=gender, address=address, parents=parents
        )
        floor = min(self.thresholds.review, self.thresholds.shielded_review)
        return self.decide(query, self.score(query, floor=floor))

    def score(self, query: ChildProfile, *, floor: float | None = None) -> list[ScoredCandidate]:
        """The candidates of ``query``, best first: every one but
        adoption-shielded records, or with ``floor`` only those weighing at
        least that much or sharing the supply's exact name and date of birth
        (the others cannot be in doubt; leaving them out early saves time),
        and none the rules call another child (``NEVER``: never in doubt)."""
        weigh = self.model.weight
        scored: list[ScoredCandidate] = []
        for candidate in self.source.candidates(query_keys(query)):
            if is_adoption_shielded(candidate):  # shield in place or lifted (SHLD-5)
                continue
            vector = compare_children(query, candidate)
            weight = weigh(vector)
            if floor is not None and weight < floor and not _same_name_and_birth(query, candidate):
                continue
            verdict, rule = child_verdict(query, candidate, vector)
            if floor is not None and verdict is Verdict.NEVER:
                continue
            scored.append(
                ScoredCandidate(
                    profile=candidate, vector=vector, weight=weight, verdict=verdict, rule=rule
                )
            )
        scored.sort(key=lambda s: (-s.weight, s.profile.directory_id))
        return scored

    def in_doubt(
        self, query: ChildProfile, scored: Sequence[ScoredCandidate]
    ) -> list[ScoredCandidate]:
        """The candidates the decision considers (step 6), best first."""
        t = self.thresholds
        return [
            s
            for s in scored
            if s.verdict is not Verdict.NEVER
            and (
                s.weight >= (t.shielded_review if s.profile.shielded else t.review)
                or _same_name_and_birth(query, s.profile)
            )
        ]

    def decide(self, query: ChildProfile, scored: Sequence[ScoredCandidate]) -> MatchResult:
        """The answer for ``query`` given its scored candidates (step 7)."""
        doubt = self.in_doubt(query, scored)
        if not doubt:
            return MatchResult(outcome=MatchOutcome.NEW, code="no_match", query=query)
        ids = tuple(DirectoryId(s.profile.directory_id) for s in doubt)
        shielded = tuple(DirectoryId(s.profile.directory_id) for s in doubt if s.profile.shielded)
        if shielded:
            return MatchResult(
                outcome=MatchOutcome.UNCERTAIN,
                code="shielded_record_may_match",
                candidates=ids,
                shielded_candidates=shielded,
            )
        best = doubt[0]
        second = doubt[1].weight if len(doubt) > 1 else -math.inf
        clear = best.weight - second >= self.thresholds.margin
        if best.verdict is Verdict.OPEN and best.weight >= self.thresholds.merge and clear:
            return MatchResult(
                outcome=MatchOutcome.MATCHED,
                code="probabilistic_match",
                directory_id=ids[0],
            )
        if all(s.verdict is Verdict.DUPLICATE_ONLY for s in doubt):
            return MatchResult(
                outcome=MatchOutcome.NEW, code="possible_duplicate", candidates=ids, query=query
            )
        if best.verdict is not Verdict.OPEN:
            code = best.rule
        elif not clear:
            code = "ambiguous_candidates"
        else:
            code = "probable_match"
        return MatchResult(outcome=MatchOutcome.UNCERTAIN, code=code, candidates=ids)


def _same_name_and_birth(query: ChildProfile, candidate: ChildProfile) -> bool:
    return (
        query.dob == candidate.dob
        and bool(query.given.keys)
        and bool(query.family.keys)
        and query.given.keys[0] in candidate.given.keys
        and query.family.keys[0] in candidate.family.keys
    )
