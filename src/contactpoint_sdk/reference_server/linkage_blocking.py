"""Blocking: which records a supply is compared with at all.

Comparing a supply with every record would cost a national directory
millions of comparisons; **blocking** compares it only with records that
share at least one *blocking key* with it. Several keys, each built from
different fields, make the union robust: an error in one field (a typo in
the family name, a transposed date of birth, a move) still leaves other
keys that agree.

The child keys (:func:`record_keys`, :func:`query_keys`) use name *codes*:
the Metaphone code of each folded name, first four characters, plus a given
name's nickname groups; for family names also the codes of former names and
of the parts of double-barrelled ones; for parents, their given names' codes.

====  =================================================  ==============================
key   fields                                             still finds the child after
====  =================================================  ==============================
df    date of birth + gender + family-name code          a nickname, a new given name,
                                                         a move, a former name given
dgp   date of birth + given code + postcode district     a silent change of family name
dgr   date of birth + given code + a parent's given      a silent change of family name
      code                                               and a move
ym    birth year and month + given code + family code    a wrong day of birth
yd    birth year and day + given code + family code      a wrong month of birth
md    month and day of birth + given + family code       a wrong year of birth
pg    postcode + given-name code                         a wrong date of birth
====  =================================================  ==============================

A supply also looks up ``df``, ``dgp`` and ``dgr`` under its date of birth
with day and month swapped (:func:`query_keys`), so a transposed date still
blocks; and ``df`` under gender "not known" as well as its own (under both
genders when its own is not known). The gender halves the ``df`` block, the
largest at national density; a supply whose gender was mis-recorded is still
found by the given-name keys unless its given name also changed.

Why no "date of birth + given name" key: a national directory holds about
1,700 children per date of birth and given names are concentrated (the most
common is borne by about one child in fifty), so that key alone would bring
tens of candidates to every supply, most of them strangers sharing a
birthday and a popular name. Pairing the given name with a district or a
parent keeps blocks to a handful while still finding a child whose family
name changed. Family names are far less concentrated, so ``df`` stands
alone. Twins and siblings do block together (same family name): that is
deliberate, so the protection rules (:mod:`.linkage_policy`) see them.

:class:`BlockIndex` is the in-memory index (FEBRL, tests, the in-memory
candidate source); the directory's is a table (:mod:`.linkage_index`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Generic, TypeVar

from contactpoint_sdk.reference_server.linkage_compare import (
    AddressForms,
    FamilyForms,
    GivenForms,
    phonetic,
    transposed,
)
from contactpoint_sdk.reference_server.linkage_profile import ChildProfile

__all__ = ["BlockIndex", "query_keys", "record_keys"]

T = TypeVar("T")

_CODE_LENGTH = 4


def _given_codes(given: GivenForms) -> list[str]:
    codes = {phonetic(k)[:_CODE_LENGTH] for k in given.keys}
    codes.update(f"~{g}" for g in given.groups)
    codes.discard("")
    return sorted(codes)


def _family_codes(family: FamilyForms) -> list[str]:
    codes = {phonetic(k)[:_CODE_LENGTH] for k in family.keys}
    codes.update(phonetic(o)[:_CODE_LENGTH] for o in family.others)
    codes.discard("")
    return sorted(codes)


def _parent_codes(parents: tuple[str, ...]) -> list[str]:
    codes = {phonetic(parent.partition(" ")[0])[:_CODE_LENGTH] for parent in parents}
    codes.discard("")
    return sorted(codes)


_KNOWN_GENDERS = ("F", "M")


def _genders(gender: str, query: bool) -> tuple[str, ...]:
    """The gender letters of the ``df`` key: a record's own (``U`` when not
    known); a supply also looks under ``U``, and under both when its own is
    not known."""
    own = gender if gender in _KNOWN_GENDERS else "U"
    if not query:
        return (own,)
    return (own, "U") if own != "U" else ("F", "M", "U")


#: Profiles whose keys are remembered: a new record's keys are its supply's,
#: made with them when the supply is matched (a few hundred KB).
_KEYS_CACHE = 1024


#: The fields of a profile the keys are made from, and nothing else.
_Parts = tuple[GivenForms, FamilyForms, tuple[str, ...], AddressForms, tuple[int, int, int], str]


@functools.lru_cache(maxsize=_KEYS_CACHE)
def _keys(parts: _Parts) -> tuple[tuple[str, ...], tuple[str, ...]]:
    # A profile's record keys and query keys, made together (a new record's
    # keys are its supply's, asked for twice). Equal parts give equal keys,
    # so the answer is cached on them.
    given, family, parents, address, dob, gender = parts
    given_codes = _given_codes(given)
    family_codes = _family_codes(family)
    parent_codes = _parent_codes(parents)
    district = address.district
    y, m, d = dob
    swapped = transposed(dob)
    own = _genders(gender, query=False)
    looked = _genders(gender, query=True)
    record: list[str] = []
    query: list[str] = []
    for day in (dob,) if swapped is None else (dob, swapped):
        iso = f"{day[0]:04d}-{day[1]:02d}-{day[2]:02d}"
        dated: list[str] = []
        for f in family_codes:
            if day is dob:
                record.extend(f"df|{iso}|{sex}|{f}" for sex in own)
            query.extend(f"df|{iso}|{sex}|{f}" for sex in looked)
        for g in given_codes:
            if district:
                dated.append(f"dgp|{iso}|{g}|{district}")
            dated.extend(f"dgr|{iso}|{g}|{r}" for r in parent_codes)
        if day is dob:
            record.extend(dated)
        query.extend(dated)
    rest: list[str] = []
    for g in given_codes:
        for f in family_codes:
            rest.append(f"ym|{y}-{m:02d}|{g}|{f}")
            rest.append(f"yd|{y}-{d:02d}|{g}|{f}")
            rest.append(f"md|{m:02d}-{d:02d}|{g}|{f}")
        if address.postcode:
            rest.append(f"pg|{address.postcode}|{g}")
    record.extend(rest)
    query.extend(rest)
    return tuple(dict.fromkeys(record)), tuple(dict.fromkeys(query))


def record_keys(p: ChildProfile) -> list[str]:
    """The blocking keys a record is indexed under (module notes)."""
    return list(_keys((p.given, p.family, p.parents, p.address, p.dob, p.gender))[0])


def query_keys(p: ChildProfile) -> list[str]:
    """The blocking keys a supply looks up: the record keys, and the date keys
    again under the date of birth with day and month swapped."""
    return list(_keys((p.given, p.family, p.parents, p.address, p.dob, p.gender))[1])


class BlockIndex(Generic[T]):
    """Blocking keys to items, in memory. ``max_block`` drops keys shared by
    more items than that from :meth:`candidates` (a key that common blocks
    nothing useful)."""

    def __init__(self, max_block: int | None = None) -> None:
        self._blocks: dict[str, list[T]] = {}
        self.max_block = max_block

    def add(self, item: T, keys: Iterable[str]) -> None:
        blocks = self._blocks
        for key in keys:
            found = blocks.get(key)
            if found is None:
                blocks[key] = [item]
            else:
                found.append(item)

    def remove(self, item: T, keys: Iterable[str]) -> None:
        for key in keys:
            found = self._blocks.get(key)
            if found is not None and item in found:
                found.remove(item)
                if not found:
                    del self._blocks[key]

    def candidates(self, keys: Iterable[str]) -> list[T]:
        """Distinct items sharing a key with ``keys``, in first-found order."""
        seen: dict[T, None] = {}
        limit = self.max_block
        for key in keys:
            found = self._blocks.get(key)
            if found is None or (limit is not None and len(found) > limit):
                continue
            for item in found:
                seen[item] = None
        return list(seen)

    def __len__(self) -> int:
        return len(self._blocks)
