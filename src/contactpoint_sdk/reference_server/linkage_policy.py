"""Rules the weights never override: twins, siblings, identifiers, adoption.

The Fellegi–Sunter weight says how alike two records are. Some pairs are
alike *because* they are two different children: twins share a surname,
date of birth, address, parents and school; siblings share all of that but
the date of birth. However high their weight, these rules decide first
(:func:`child_verdict`):

1. **Adoption (SHLD-5).** A record that has ever been shielded on an
   adoption ground (``adoption_identity_link``,
   ``risk_to_adoption_placement``) is never a candidate: never merged, never
   suggested, even after a review lifted the shield. Its profile's
   ``shield_ground`` names the ground for good (the store's adoption link
   barrier, :mod:`.store`). (:data:`ADOPTION_GROUND_VALUES`; the matcher
   drops such records before scoring.)
2. **Twins.** Same date of birth and the same family name (exactly, or by a
   former name or a part of a double-barrelled one), but given names that
   are not the same name, a nickname of it, or its start: ``NEVER`` (two
   children: not merged, not suggested). Given names one typo apart
   (``Ava``/``Eva``) could be twins or a typo: ``REVIEW_ONLY``, a person
   decides.
3. **Siblings.** Dates of birth that differ (day and month transposed
   included: a sibling can be born 11 months later) with given names that
   are not the same name, a nickname or a typo of it: ``NEVER``. Siblings are
   born months apart, so "everything else agrees" is exactly what siblings
   look like.
4. **A differing date of birth** with the same given name (a typo, day and
   month transposed) is found but never merged automatically:
   ``REVIEW_ONLY`` (``date_of_birth_differs``), as the strong matcher holds
   an identifier match whose date of birth differs. Merging would let the
   mistyped date replace the record's (the newest supply composes the
   record), so the local authority decides, and queries the source (SUP-8).
5. **Gender.** A gender that differs (both known) is never merged
   automatically: ``REVIEW_ONLY`` (a recording error, or boy-and-girl twins
   whose names are nickname variants, ``Alex`` and ``Alexandra``).
6. **Lifelong identifiers.** Both records carry an NHS number, or both a
   ULN, and they differ: ``DUPLICATE_ONLY``. Two children whose numbers
   differ are two children unless a person finds an error; the new record is
   made and the pair raised as a possible duplicate (as the strong matcher
   does for a same-named child).

Otherwise ``OPEN``: the weights and thresholds decide.
"""

from __future__ import annotations

import enum
from typing import Final

from contactpoint_sdk.models.enums import ShieldGround
from contactpoint_sdk.reference_server.linkage_model import Vector
from contactpoint_sdk.reference_server.linkage_profile import (
    DATE_OF_BIRTH,
    FAMILY_NAME,
    GENDER,
    GIVEN_NAME,
    ChildProfile,
)

__all__ = ["ADOPTION_GROUND_VALUES", "Verdict", "child_verdict", "is_adoption_shielded"]

#: Shield grounds (wire values) whose records are never candidates (SHLD-5).
ADOPTION_GROUND_VALUES: Final[frozenset[str]] = frozenset(
    {ShieldGround.ADOPTION_IDENTITY_LINK.value, ShieldGround.RISK_TO_ADOPTION_PLACEMENT.value}
)

# Levels (see linkage_compare): given name, family name, date of birth.
_GIVEN_TYPO, _GIVEN_NICKNAME = 2, 3
_FAMILY_OTHER_FORM = 3
_DATE_EXACT = 3


class Verdict(enum.Enum):
    """What the rules allow for one candidate pair."""

    OPEN = "open"  # the weights decide
    REVIEW_ONLY = "review_only"  # at most the review queue; never an automatic merge
    DUPLICATE_ONLY = "duplicate_only"  # never merged; a new record, flagged as a possible duplicate
    NEVER = "never"  # two children: neither merged nor suggested


def is_adoption_shielded(p: ChildProfile) -> bool:
    """True for a record behind the adoption link barrier (SHLD-5): shielded
    on an adoption ground now or at any time before, the shield in place or
    lifted. Never to be linked with another record."""
    return p.shield_ground in ADOPTION_GROUND_VALUES


def child_verdict(q: ChildProfile, c: ChildProfile, vector: Vector) -> tuple[Verdict, str]:
    """The rules' verdict on supply ``q`` against record ``c`` (module notes),
    with a code saying which rule spoke (``""`` for ``OPEN``)."""
    if is_adoption_shielded(c):
        return Verdict.NEVER, "adoption_shield"
    given = vector[GIVEN_NAME]
    family = vector[FAMILY_NAME]
    dob = vector[DATE_OF_BIRTH]
    if given is not None and given < _GIVEN_NICKNAME:
        if dob == _DATE_EXACT and family is not None and family >= _FAMILY_OTHER_FORM:
            if given == _GIVEN_TYPO:
                return Verdict.REVIEW_ONLY, "possible_twin"
            return Verdict.NEVER, "twin"
        if dob != _DATE_EXACT and given < _GIVEN_TYPO:
            return Verdict.NEVER, "sibling"
    if dob != _DATE_EXACT:
        return Verdict.REVIEW_ONLY, "date_of_birth_differs"
    if vector[GENDER] == 0:
        return Verdict.REVIEW_ONLY, "gender_differs"
    if (q.nhs and c.nhs and q.nhs != c.nhs) or (q.uln and c.uln and q.uln != c.uln):
        return Verdict.DUPLICATE_ONLY, "identifiers_conflict"
    return Verdict.OPEN, ""
