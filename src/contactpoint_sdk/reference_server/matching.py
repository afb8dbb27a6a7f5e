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

:class:`StrongIdentifierMatcher` is the first matcher. A probabilistic
matcher (issue 7) will sit behind the same interface.

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
import unicodedata
from collections.abc import Sequence
from datetime import date
from typing import Protocol, runtime_checkable

import attrs

from contactpoint_sdk.models.enums import Gender, ShieldGround
from contactpoint_sdk.models.identifiers import DirectoryId
from contactpoint_sdk.models.record import Address, PersonName, SourceIdentifiers

__all__ = [
    "ADOPTION_GROUNDS",
    "CandidateIndex",
    "CandidateSummary",
    "MatchOutcome",
    "MatchResult",
    "Matcher",
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


def name_key(name: str) -> str:
    """A name folded for comparison: case and accents folded, letters only.

    ``"O'Neill"``, ``"o neill"`` and ``"Ó Néill"`` give the same key.
    """
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(ch for ch in decomposed if ch.isalpha())


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
    ``code`` says why, for the data-quality queue."""

    outcome: MatchOutcome
    code: str
    directory_id: DirectoryId | None = None
    candidates: tuple[DirectoryId, ...] = ()
    shielded_candidates: tuple[DirectoryId, ...] = ()

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
    ) -> MatchResult:
        """The record ``identifiers`` and ``date_of_birth`` (and, where the
        operation carries them, name, gender and address) belong to."""
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
    ) -> MatchResult:
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
            s for s in index.live_named_born_on(date_of_birth, given, family) if not s.shielded
        ]
        if duplicates:
            return MatchResult(
                outcome=MatchOutcome.NEW,
                code="possible_duplicate",
                candidates=tuple(s.directory_id for s in duplicates),
            )
        return MatchResult(outcome=MatchOutcome.NEW, code="no_match")
