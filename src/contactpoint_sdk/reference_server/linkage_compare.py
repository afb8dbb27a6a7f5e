"""How alike two values are: comparison *levels*, as pure functions.

Each comparison of the probabilistic matcher turns a pair of values into a
small integer, its **level**: ``0`` means the values disagree, higher levels
agree more closely, and ``None`` means one side has no value (the
comparison then counts for nothing either way). The level labels below are
the names the model's parameters use (:mod:`.linkage_model`).

String similarity and phonetic codes come from maintained libraries:
Jaro–Winkler and Damerau–Levenshtein from ``rapidfuzz``, Metaphone from
``jellyfish``. Names are folded first (:func:`fold`: case and accents
folded, letters only, so ``O'Neill``, ``o neill`` and ``Ó Néill`` are one
name); double-barrelled and hyphenated names are also split into their
parts (:func:`tokens`).

Values are prepared once per record (:class:`GivenForms`,
:class:`FamilyForms`, :class:`AddressForms`), so comparing a pair does no
folding or phonetic coding: the cost per pair is a few set operations and,
only when the values differ, one or two Jaro–Winkler calls.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Final, NamedTuple

import jellyfish
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

from contactpoint_sdk.models.names import fold_name as fold
from contactpoint_sdk.reference_server.linkage_nicknames import nickname_groups

__all__ = [
    "ADDRESS_LEVELS",
    "DATE_LEVELS",
    "FAMILY_LEVELS",
    "GENDER_LEVELS",
    "GIVEN_LEVELS",
    "PARENTS_LEVELS",
    "TYPO_JW",
    "AddressForms",
    "FamilyForms",
    "GivenForms",
    "Ymd",
    "address_level",
    "date_level",
    "digits_level",
    "exact_level",
    "family_forms",
    "family_level",
    "fold",
    "fold_line",
    "gender_level",
    "given_forms",
    "given_level",
    "parent_key",
    "parents_level",
    "phonetic",
    "postcode_forms",
    "string_level",
    "tokens",
    "transposed",
]

#: Jaro–Winkler similarity at or above which two names are one typo apart.
TYPO_JW: Final = 0.92
#: Jaro–Winkler similarity at or above which two names are "similar".
SIMILAR_JW: Final = 0.80

#: Given name: different, similar (Jaro–Winkler >= 0.80, the same Metaphone
#: code, or one side's given name is the other's middle name), typo
#: (Jaro–Winkler >= 0.92, or one edit apart, the longer name three letters or
#: more: ``Amy``/``Ay``), nickname (a shared nickname group, or one is the other's start,
#: three letters or more), exact.
GIVEN_LEVELS: Final = ("different", "similar", "typo", "nickname", "exact")
#: Family name: different, similar, typo (as for given names), other form (a
#: former family name, a preferred family name, or a part of a double-barrelled
#: or hyphenated name agrees), exact.
FAMILY_LEVELS: Final = ("different", "similar", "typo", "other_form", "exact")
#: Date of birth: different, one part (exactly one of year, month, day
#: differs), transposed (day and month swapped), exact.
DATE_LEVELS: Final = ("different", "one_part", "transposed", "exact")
#: Address: different, district (same postcode outward code), line (same
#: first address line, postcode different or missing), postcode (same full
#: postcode), exact (same UPRN, or same postcode and first line).
ADDRESS_LEVELS: Final = ("different", "district", "line", "postcode", "exact")
#: Gender: different, same (``None`` when either is not known).
GENDER_LEVELS: Final = ("different", "same")
#: Parents and carers: none agree, a given name agrees, a full name agrees.
PARENTS_LEVELS: Final = ("different", "given", "exact")

_jw = JaroWinkler.similarity
_dl = DamerauLevenshtein.distance
_NON_LETTERS = re.compile(r"[^a-z]+")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")

#: A date as (year, month, day) integers: FEBRL's dates are not all real dates.
Ymd = tuple[int, int, int]


def _ascii_fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


#: Caches of a record's forms (keyed on whole names, addresses, parents:
#: nearly one entry a record): big enough for a supply batch (the supplied
#: child's profile is made again when its record is written) and the records
#: that recur as candidates, not for the whole directory, where they only
#: grew the process by some 0.7 KB a record (issue 10).
_RECORD_CACHE = 8192


@functools.lru_cache(maxsize=65536)
def tokens(text: str) -> tuple[str, ...]:
    """The parts of a name, folded: ``"Smith-Jones"`` and ``"smith jones"``
    give ``("smith", "jones")``."""
    return tuple(t for t in _NON_LETTERS.split(_ascii_fold(text)) if t)


def fold_line(text: str) -> str:
    """An address line folded for comparison: lower case, letters and digits."""
    return _NON_ALNUM.sub("", _ascii_fold(text))


@functools.lru_cache(maxsize=65536)
def phonetic(folded: str) -> str:
    """The Metaphone code of a folded name (``""`` for an empty one)."""
    return jellyfish.metaphone(folded) if folded else ""


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


# --- given names ---------------------------------------------------------------


class GivenForms(NamedTuple):
    """A person's given names, prepared for comparison.

    ``keys`` are the folded given and preferred given names (the names the
    person goes by); ``middles`` the folded middle names; ``groups`` the
    nickname groups of the keys; ``codes`` their Metaphone codes. Every
    field is a sorted tuple (tiny, and cheap to rebuild from storage).
    """

    keys: tuple[str, ...]
    middles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()


@functools.lru_cache(maxsize=_RECORD_CACHE)
def given_forms(
    given: str | None, preferred: str | None = None, middles: tuple[str, ...] = ()
) -> GivenForms:
    """Prepare given names (any may be missing). Cached: names repeat."""
    keys = _unique(fold(n) for n in (given, preferred) if n)
    groups: set[str] = set()
    for k in keys:
        groups |= nickname_groups(k)
    return GivenForms(
        keys=keys,
        middles=_unique(fold(m) for m in middles),
        groups=tuple(sorted(groups)),
        codes=tuple(sorted({phonetic(k) for k in keys} - {""})),
    )


def _overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """True if the two (tiny) tuples share a value."""
    for x in a:  # noqa: SIM110 - a plain loop beats any() over a generator here
        if x in b:
            return True
    return False


def given_level(a: GivenForms, b: GivenForms) -> int | None:
    """The given-name level (:data:`GIVEN_LEVELS`); ``None`` if either is missing."""
    if not a.keys or not b.keys:
        return None
    bkeys = b.keys
    for k in a.keys:
        if k in bkeys:
            return 4
    if _overlap(a.groups, b.groups):
        return 3
    best = 0.0
    for x in a.keys:
        for y in b.keys:
            short, long_ = (x, y) if len(x) <= len(y) else (y, x)
            if len(short) >= 3 and long_.startswith(short):
                return 3
            best = max(best, _jw(x, y))
            if len(long_) >= 3 and len(short) >= 2 and _dl(x, y, score_cutoff=1) <= 1:
                best = max(best, TYPO_JW)
    if best >= TYPO_JW:
        return 2
    if (
        best >= SIMILAR_JW
        or _overlap(a.codes, b.codes)
        or _overlap(a.keys, b.middles)
        or _overlap(b.keys, a.middles)
    ):
        return 1
    return 0


# --- family names ----------------------------------------------------------------


class FamilyForms(NamedTuple):
    """A person's family names, prepared for comparison.

    ``keys`` are the folded family and preferred family names; ``others`` the
    folded former family names and the parts of every double-barrelled or
    hyphenated one (parts of two letters or more); ``codes`` the Metaphone
    codes of the keys. Every field is a sorted tuple.
    """

    keys: tuple[str, ...]
    others: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()


@functools.lru_cache(maxsize=_RECORD_CACHE)
def family_forms(
    family: str | None, preferred: str | None = None, former: tuple[str, ...] = ()
) -> FamilyForms:
    """Prepare family names (any may be missing). Cached: names repeat."""
    current = [n for n in (family, preferred) if n]
    keys = _unique(fold(n) for n in current)
    others: set[str] = {fold(n) for n in former}
    for name in (*current, *former):
        parts = tokens(name)
        if len(parts) > 1:
            others.update(p for p in parts if len(p) >= 2)
    others.discard("")
    return FamilyForms(
        keys=keys,
        others=tuple(sorted(others - set(keys))),
        codes=tuple(sorted({phonetic(k) for k in keys} - {""})),
    )


def family_level(a: FamilyForms, b: FamilyForms) -> int | None:
    """The family-name level (:data:`FAMILY_LEVELS`); ``None`` if either is missing."""
    if not a.keys or not b.keys:
        return None
    bkeys = b.keys
    for k in a.keys:
        if k in bkeys:
            return 4
    if _overlap(a.keys, b.others) or _overlap(a.others, bkeys) or _overlap(a.others, b.others):
        return 3
    best = max(_jw(x, y) for x in a.keys for y in bkeys)
    if best >= TYPO_JW:
        return 2
    if best >= SIMILAR_JW or _overlap(a.codes, b.codes):
        return 1
    return 0


# --- dates ------------------------------------------------------------------------


def transposed(day: Ymd) -> Ymd | None:
    """``day`` with day and month swapped, if that is a different (y, m, d)
    with a month of 1 to 12; else ``None``."""
    y, m, d = day
    if d == m or not 1 <= d <= 12:
        return None
    return (y, d, m)


def date_level(a: Ymd | None, b: Ymd | None) -> int | None:
    """The date level (:data:`DATE_LEVELS`); ``None`` if either is missing."""
    if a is None or b is None:
        return None
    if a == b:
        return 3
    if a[0] == b[0] and a[1] == b[2] and a[2] == b[1]:
        return 2
    if (a[0] == b[0]) + (a[1] == b[1]) + (a[2] == b[2]) == 2:
        return 1
    return 0


# --- addresses ----------------------------------------------------------------------


class AddressForms(NamedTuple):
    """An address prepared for comparison: ``postcode`` without its space,
    ``district`` its outward code, ``line`` the folded first line, ``uprn``
    (every one ``""`` when not known)."""

    postcode: str = ""
    district: str = ""
    line: str = ""
    uprn: str = ""

    @property
    def empty(self) -> bool:
        return not (self.postcode or self.line or self.uprn)


@functools.lru_cache(maxsize=_RECORD_CACHE)
def postcode_forms(
    postcode: str | None, first_line: str | None = None, uprn: str | None = None
) -> AddressForms:
    """Prepare an address from its postcode (any spacing), first line and UPRN."""
    pc = "".join((postcode or "").split()).upper()
    return AddressForms(
        postcode=pc,
        district=pc[:-3] if len(pc) > 3 else "",
        line=fold_line(first_line or ""),
        uprn=uprn or "",
    )


def address_level(a: AddressForms, b: AddressForms) -> int | None:
    """The address level (:data:`ADDRESS_LEVELS`); ``None`` if either side has
    nothing to compare."""
    if a.empty or b.empty:
        return None
    if a.uprn and a.uprn == b.uprn:
        return 4
    same_line = bool(a.line) and a.line == b.line
    if a.postcode and a.postcode == b.postcode:
        return 4 if same_line else 3
    if same_line:
        return 2
    if a.district and a.district == b.district:
        return 1
    return 0


# --- the rest -----------------------------------------------------------------------


def gender_level(a: str, b: str) -> int | None:
    """``1`` same, ``0`` different, ``None`` if either is unknown (``""``/``"U"``)."""
    if a in ("", "U") or b in ("", "U"):
        return None
    return 1 if a == b else 0


@functools.lru_cache(maxsize=_RECORD_CACHE)
def parent_key(given: str | None, family: str | None) -> str:
    """A parent's or carer's name for :func:`parents_level`: ``"given family"``,
    both folded (folded names have no spaces, so the space is unambiguous)."""
    return f"{fold(given or '')} {fold(family or '')}"


def parents_level(a: Sequence[str], b: Sequence[str]) -> int | None:
    """Parents' names (:func:`parent_key`): ``2`` a full name agrees, ``1`` a
    given name agrees, ``0`` none agree, ``None`` if either side has none."""
    if not a or not b:
        return None
    for parent in a:
        if parent in b:
            return 2
    theirs = [p.partition(" ")[0] for p in b]
    for parent in a:
        given = parent.partition(" ")[0]
        if given and given in theirs:
            return 1
    return 0


def exact_level(a: str, b: str) -> int | None:
    """``1`` equal, ``0`` different, ``None`` if either is empty."""
    if not a or not b:
        return None
    return 1 if a == b else 0


def string_level(a: str, b: str, high: float = TYPO_JW, low: float = SIMILAR_JW) -> int | None:
    """``3`` equal, ``2`` Jaro–Winkler >= ``high``, ``1`` >= ``low``, ``0``
    else, ``None`` if either is empty."""
    if not a or not b:
        return None
    if a == b:
        return 3
    similarity = _jw(a, b)
    if similarity >= high:
        return 2
    return 1 if similarity >= low else 0


def digits_level(a: str, b: str) -> int | None:
    """An identifier typed by hand: ``3`` equal, ``2`` one edit apart (a
    transposition counts as one), ``1`` two edits, ``0`` else, ``None`` if
    either is empty."""
    if not a or not b:
        return None
    if a == b:
        return 3
    distance = _dl(a, b, score_cutoff=2)
    if distance <= 1:
        return 2
    return 1 if distance <= 2 else 0
