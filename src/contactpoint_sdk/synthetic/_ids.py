"""Fast, collision-free minting of synthetic identifiers.

Each identifier is built as text with its check character worked out from
precomputed weighted-sum tables (a few additions instead of a loop per
character), then handed to the model's own class, which validates it again.
The tables implement the algorithms in ``shared/spec/FORMATS.md``; the tests
check them against the model's public check functions.

Identifiers do not collide within one :class:`IdMinter`:

* NHS numbers walk the test range 999 000 000x–999 999 999x (reserved, never
  issued) in a seeded affine order, skipping bodies whose check digit would
  be 10. The range holds 909,091 valid numbers; after that the walk starts
  again, so numbers repeat only beyond that many.
* ULNs walk all nine-digit bodies the same way (skipping remainder 0).
* UPN serials count up per allocating school and year.
* Directory identifiers are random over 31**11 values (a collision needs
  about 10**8 records to become likely).
"""

from __future__ import annotations

import math
import random
from typing import Final

from contactpoint_sdk.models.identifiers import (
    DIRECTORY_ID_ALPHABET,
    UPN_CHECK_ALPHABET,
    DirectoryId,
    NhsNumber,
    Uln,
    Upn,
)

__all__ = ["IdMinter", "upn_prefix_sum"]

_DIGITS3: Final = tuple(f"{i:03d}" for i in range(1000))
_DIGITS2: Final = tuple(f"{i:02d}" for i in range(100))


def _triple_sums(w1: int, w2: int, w3: int) -> tuple[int, ...]:
    """sum(weight * digit) for every three-digit string 000..999."""
    return tuple(w1 * (i // 100) + w2 * (i // 10 % 10) + w3 * (i % 10) for i in range(1000))


# NHS number / ULN: digits 1-9 weighted 10..2.
_W_123: Final = _triple_sums(10, 9, 8)
_W_456: Final = _triple_sums(7, 6, 5)
_W_789: Final = _triple_sums(4, 3, 2)
_NHS_999: Final = 9 * 10 + 9 * 9 + 9 * 8  # the fixed "999" test-range prefix

# UPN: characters 2-13 weighted by position; year at 9-10, serial at 11-13.
_UPN_YEAR: Final = tuple(9 * (i // 10) + 10 * (i % 10) for i in range(100))
_UPN_SERIAL: Final = _triple_sums(11, 12, 13)

# Directory id: body symbols left to right weighted 3**11 .. 3**1 (mod 31); the
# body is one symbol then five pairs, each pair drawn from a 961-entry table.
_DIR_BASE: Final = 31
_DIR_SPACE: Final = _DIR_BASE**11
_DIR_WEIGHTS: Final = tuple(pow(3, i, _DIR_BASE) for i in range(11, 0, -1))
_PAIRS: Final = tuple(a + b for a in DIRECTORY_ID_ALPHABET for b in DIRECTORY_ID_ALPHABET)
# The same pairs with the 4-4-4 group hyphen between the two symbols: the second
# and fourth pairs straddle the group boundaries (symbols 4|5 and 8|9).
_SPLIT_PAIRS: Final = tuple(
    a + "-" + b for a in DIRECTORY_ID_ALPHABET for b in DIRECTORY_ID_ALPHABET
)
_PAIR_SUMS: Final = tuple(
    tuple(
        _DIR_WEIGHTS[1 + 2 * k] * (i // _DIR_BASE) + _DIR_WEIGHTS[2 + 2 * k] * (i % _DIR_BASE)
        for i in range(_DIR_BASE * _DIR_BASE)
    )
    for k in range(5)
)
_DIR_FIRST_WEIGHT: Final = _DIR_WEIGHTS[0]


def upn_prefix_sum(la_code: str, establishment: str) -> int:
    """The weighted sum of UPN characters 2-8 (LA code and establishment number)."""
    return sum((pos + 2) * int(ch) for pos, ch in enumerate(la_code + establishment))


def _coprime_step(rng: random.Random, modulus: int) -> int:
    while True:
        step = rng.randrange(modulus // 3, modulus)
        if math.gcd(step, modulus) == 1:
            return step


class IdMinter:
    """Mints the identifiers of one synthetic population from its own generator."""

    __slots__ = (
        "_nhs_k",
        "_nhs_offset",
        "_nhs_step",
        "_rng",
        "_uln_k",
        "_uln_offset",
        "_uln_step",
        "_upn_serials",
    )

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._nhs_step = _coprime_step(rng, 1_000_000)
        self._nhs_offset = rng.randrange(1_000_000)
        self._nhs_k = 0
        self._uln_step = _coprime_step(rng, 1_000_000_000)
        self._uln_offset = rng.randrange(1_000_000_000)
        self._uln_k = 0
        self._upn_serials: dict[tuple[str, str, int], int] = {}

    def directory_id(self) -> DirectoryId:
        """A random directory identifier (REC-1: the directory assigns it)."""
        getrandbits = self._rng.getrandbits
        n = getrandbits(55)
        while n >= _DIR_SPACE:  # 31**11 is about 0.7 * 2**55
            n = getrandbits(55)
        rest, p5 = divmod(n, 961)
        rest, p4 = divmod(rest, 961)
        rest, p3 = divmod(rest, 961)
        rest, p2 = divmod(rest, 961)
        first, p1 = divmod(rest, 961)
        s = _PAIR_SUMS
        total = _DIR_FIRST_WEIGHT * first + s[0][p1] + s[1][p2] + s[2][p3] + s[3][p4] + s[4][p5]
        pairs, split = _PAIRS, _SPLIT_PAIRS
        # Already in the canonical 4-4-4 form, which the model keeps as it is
        # (from the 12 symbols alone it would format the groups itself).
        return DirectoryId(
            f"{DIRECTORY_ID_ALPHABET[first]}{pairs[p1]}{split[p2]}{pairs[p3]}{split[p4]}"
            f"{pairs[p5]}{DIRECTORY_ID_ALPHABET[-total % _DIR_BASE]}"
        )

    def nhs_number(self) -> NhsNumber:
        """The next NHS number in the 999 test range, with a valid check digit."""
        while True:
            k = self._nhs_k
            self._nhs_k = k + 1
            body = (self._nhs_step * k + self._nhs_offset) % 1_000_000
            hi, lo = divmod(body, 1000)
            check = 11 - (_NHS_999 + _W_456[hi] + _W_789[lo]) % 11
            if check == 10:
                continue
            return NhsNumber(f"999{_DIGITS3[hi]}{_DIGITS3[lo]}{check % 11}")

    def uln(self) -> Uln:
        """The next Unique Learner Number, with a valid check digit."""
        while True:
            k = self._uln_k
            self._uln_k = k + 1
            body = (self._uln_step * k + self._uln_offset) % 1_000_000_000
            rest, c = divmod(body, 1000)
            a, b = divmod(rest, 1000)
            r = (_W_123[a] + _W_456[b] + _W_789[c]) % 11
            if r == 0 or body < 100_000_000:  # a ULN never starts with 0
                continue
            return Uln(f"{_DIGITS3[a]}{_DIGITS3[b]}{_DIGITS3[c]}{10 - r}")

    def upn(self, la_code: str, establishment: str, prefix_sum: int, year: int) -> Upn:
        """The next UPN allocated by ``establishment`` of ``la_code`` in ``year``.

        ``prefix_sum`` is :func:`upn_prefix_sum` of the two, precomputed per school.
        """
        yy = year % 100
        key = (la_code, establishment, yy)
        serial = self._upn_serials.get(key, 0)
        self._upn_serials[key] = serial + 1
        serial %= 1000
        letter = UPN_CHECK_ALPHABET[(prefix_sum + _UPN_YEAR[yy] + _UPN_SERIAL[serial]) % 23]
        return Upn(f"{letter}{la_code}{establishment}{_DIGITS2[yy]}{_DIGITS3[serial]}")
