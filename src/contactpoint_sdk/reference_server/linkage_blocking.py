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

from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

from contactpoint_sdk.reference_server.linkage_compare import phonetic, transposed
from contactpoint_sdk.reference_server.linkage_profile import ChildProfile

__all__ = ["BlockIndex", "query_keys", "record_keys"]

T = TypeVar("T")

_CODE_LENGTH = 4


def _given_codes(p: ChildProfile) -> list[str]:
    codes = {phonetic(k)[:_CODE_LENGTH] for k in p.given.keys}
    codes.update(f"~{g}" for g in p.given.groups)
    codes.discard("")
    return sorted(codes)


def _family_codes(p: ChildProfile) -> list[str]:
    codes = {phonetic(k)[:_CODE_LENGTH] for k in p.family.keys}
    codes.update(phonetic(o)[:_CODE_LENGTH] for o in p.family.others)
    codes.discard("")
    return sorted(codes)


def _parent_codes(p: ChildProfile) -> list[str]:
    codes = {phonetic(parent.partition(" ")[0])[:_CODE_LENGTH] for parent in p.parents}
    codes.discard("")
    return sorted(codes)


_KNOWN_GENDERS = ("F", "M")


def _genders(p: ChildProfile, query: bool) -> tuple[str, ...]:
    """The gender letters of the ``df`` key: a record's own (``U`` when not
    known); a supply also looks under ``U``, and under both when its own is
    not known."""
    own = p.gender if p.gender in _KNOWN_GENDERS else "U"
    if not query:
        return (own,)
    return (own, "U") if own != "U" else ("F", "M", "U")


def _keys(
    p: ChildProfile, dates: Iterable[tuple[int, int, int]], *, query: bool = False
) -> Iterator[str]:
    given = _given_codes(p)
    family = _family_codes(p)
    parents = _parent_codes(p)
    district = p.address.district
    y, m, d = p.dob
    for day in dates:
        iso = f"{day[0]:04d}-{day[1]:02d}-{day[2]:02d}"
        for f in family:
            for sex in _genders(p, query):
                yield f"df|{iso}|{sex}|{f}"
        for g in given:
            if district:
                yield f"dgp|{iso}|{g}|{district}"
            for r in parents:
                yield f"dgr|{iso}|{g}|{r}"
    for g in given:
        for f in family:
            yield f"ym|{y}-{m:02d}|{g}|{f}"
            yield f"yd|{y}-{d:02d}|{g}|{f}"
            yield f"md|{m:02d}-{d:02d}|{g}|{f}"
        if p.address.postcode:
            yield f"pg|{p.address.postcode}|{g}"


def record_keys(p: ChildProfile) -> list[str]:
    """The blocking keys a record is indexed under (module notes)."""
    return list(dict.fromkeys(_keys(p, (p.dob,))))


def query_keys(p: ChildProfile) -> list[str]:
    """The blocking keys a supply looks up: the record keys, and the date keys
    again under the date of birth with day and month swapped."""
    swapped = transposed(p.dob)
    dates = (p.dob,) if swapped is None else (p.dob, swapped)
    return list(dict.fromkeys(_keys(p, dates, query=True)))


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
