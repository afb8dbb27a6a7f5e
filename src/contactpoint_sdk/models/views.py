"""What a viewer is shown of a child's record: typed views.

Built by :func:`contactpoint_sdk.policy.redaction.view` on the server; decoded
by the look-up clients. Each type has attributes only for what its viewer may
see, so hidden data has nowhere to be, in Python or on the wire:

- :class:`ShieldedChildView` — a shielded record as most users see it: name,
  date of birth and directory identifier, nothing else (SHLD-1);
- :class:`ChildView` — an unshielded record as most users see it, with every
  sensitive involvement reduced to an :class:`UnspecifiedServiceView` (SENS-4)
  and the REC-7 gaps stated;
- :class:`FullRecordView` — the whole record, for the child's own local
  authority management team, archive reviewers (RET-6) and the child's own
  subject-access request (SAR-1).

On the wire each view carries ``"view": "shielded" | "standard" | "full"``.

A search (ACC-4) answers with a :class:`SearchResult`: at most a few
candidates, each only what tells children apart — a :class:`SearchCandidate`,
or for a shielded child a :class:`ShieldedSearchCandidate` (SHLD-1). Two
fields rather than a union, so the answer needs no tag.
"""

from __future__ import annotations

from datetime import date

import attrs

from contactpoint_sdk.models.enums import Gender, ServiceKind
from contactpoint_sdk.models.identifiers import DirectoryId
from contactpoint_sdk.models.record import (
    Address,
    ChildRecord,
    LocalAuthorityCarer,
    Organisation,
    ParentCarer,
    PersonName,
    Practitioner,
    SourceIdentifiers,
)

__all__ = [
    "VIEW_TAGS",
    "AnyChildView",
    "ChildView",
    "FullRecordView",
    "SearchCandidate",
    "SearchResult",
    "ServiceView",
    "ShieldedChildView",
    "ShieldedName",
    "ShieldedSearchCandidate",
    "UnspecifiedServiceView",
]


@attrs.frozen(kw_only=True)
class ShieldedName:
    """A shielded child's current name only: no preferred or former names,
    which could link identities (SHLD-1, SHLD-5)."""

    given_name: str
    family_name: str


@attrs.frozen(kw_only=True)
class ShieldedChildView:
    """A shielded record as most users see it (SHLD-1).

    Name, date of birth and directory identifier: nothing that reveals or lets
    one deduce whereabouts. To reach anyone involved, ask your local
    authority's management team.
    """

    directory_id: DirectoryId
    name: ShieldedName
    date_of_birth: date


@attrs.frozen(kw_only=True)
class UnspecifiedServiceView:
    """A sensitive service as most users see it: only that one is involved
    (SENS-4). No category, no practitioner, no contact details. Contact is
    brokered by the local authority management team, and the sensitive-service
    practitioner decides whether to respond; ``ordinal`` names this one in a
    broker request."""

    ordinal: int


@attrs.frozen(kw_only=True)
class ServiceView:
    """A service involved with the child, with its contact details (REC-3..5)."""

    service: ServiceKind
    organisation: Organisation
    started_on: date
    practitioner: Practitioner | None = None
    lead_professional: bool = False
    caf_completed: bool = False
    ended_on: date | None = None


@attrs.frozen(kw_only=True)
class ChildView:
    """An unshielded record as most users see it.

    ``no_education_setting`` and ``no_gp`` say when no current education
    setting or GP practice is recorded (REC-7). ``died_on`` marks a deceased
    child. Involvements whose contact details have been archived (RET-7) are
    not shown.
    """

    directory_id: DirectoryId
    name: PersonName
    gender: Gender
    date_of_birth: date
    address: Address
    identifiers: SourceIdentifiers
    parents: tuple[ParentCarer | LocalAuthorityCarer, ...] = ()
    services: tuple[ServiceView, ...] = ()
    unspecified_services: tuple[UnspecifiedServiceView, ...] = ()
    no_education_setting: bool = False
    no_gp: bool = False
    died_on: date | None = None


@attrs.frozen(kw_only=True)
class FullRecordView:
    """The whole record, for those entitled to all of it: the child's own local
    authority management team (SENS-4, SHLD-3), an archive reviewer (RET-6),
    or the child's own subject-access request (SAR-1)."""

    record: ChildRecord


#: Any of the three views; decode a look-up answer with this.
AnyChildView = ShieldedChildView | ChildView | FullRecordView

#: Wire tag (``"view"``) of each view type.
VIEW_TAGS: dict[type, str] = {
    ShieldedChildView: "shielded",
    ChildView: "standard",
    FullRecordView: "full",
}


# --- search results (ACC-4) ---------------------------------------------------------


@attrs.frozen(kw_only=True)
class SearchCandidate:
    """One search result: only what tells children apart (ACC-4).

    ``postcode_district`` is the outward code of the child's postcode
    (``"BS1"``), never more; ``None`` when the record has no postcode.
    """

    directory_id: DirectoryId
    given_name: str
    family_name: str
    date_of_birth: date
    gender: Gender
    postcode_district: str | None


@attrs.frozen(kw_only=True)
class ShieldedSearchCandidate:
    """A shielded child as a search result: name, date of birth and directory
    identifier, nothing else (SHLD-1, ACC-4)."""

    directory_id: DirectoryId
    given_name: str
    family_name: str
    date_of_birth: date


@attrs.frozen(kw_only=True)
class SearchResult:
    """The answer to a search (ACC-4): at most ``search_max_results``
    candidates in all, the unshielded ones in ``candidates`` and the shielded
    ones (SHLD-1) in ``shielded_candidates``, each in the directory's stable
    order. Both empty: nothing matched. (Too many matches is not a result but
    a ``refine_search`` refusal.)"""

    candidates: tuple[SearchCandidate, ...]
    shielded_candidates: tuple[ShieldedSearchCandidate, ...]

    def __len__(self) -> int:
        return len(self.candidates) + len(self.shielded_candidates)

    @property
    def directory_ids(self) -> tuple[DirectoryId, ...]:
        """Every candidate's directory identifier (unshielded first)."""
        return tuple(c.directory_id for c in self.candidates) + tuple(
            c.directory_id for c in self.shielded_candidates
        )
