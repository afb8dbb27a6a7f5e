"""Fast, never-repeating minting of synthetic identifiers.

Each identifier is built as text with its check character worked out from
precomputed weighted-sum tables (a few additions instead of a loop per
character), then handed to the model's own class, which validates it again.
The tables implement the algorithms in ``shared/spec/FORMATS.md``; the tests
check them against the model's public check functions.

One :class:`IdMinter` never issues an identifier twice. When a range is used
up it raises :class:`SyntheticRangeExhausted` (a
:class:`~contactpoint_sdk.errors.ConfigurationError`) rather than start again:

* NHS numbers walk the test range 999 000 000x–999 999 999x (reserved, never
  issued: FORMATS.md) in a seeded affine order, skipping bodies whose check
  digit would be 10. The range holds :data:`NHS_TEST_RANGE` (909,091) valid
  numbers; the next request raises. :class:`~.Population` spreads them (its
  module docstring says how).
* ULNs walk all nine-digit bodies 100 000 000–999 999 999 the same way
  (skipping remainder 0): about 818 million; then it raises.
* UPN serials count up per LA, establishment and year of allocation (3
  digits: 1,000 a year). A school that allocates more than 1,000 in one year
  (a very large synthetic LA) moves on to a further establishment number of
  the same LA and phase (its first digit): ``2001`` goes on to ``2101``,
  ``2201``, ... ``2901``, then ``2002``, ``2102``, ... Every
  (LA, establishment, year) has one counter, whoever uses it, so a UPN is
  never issued twice; when all 1,000 establishment numbers of the phase have
  allocated 1,000 in that year (a million UPNs) it raises.
* School references (``A`` and 5 digits) are unique per school: a drawn
  number already issued at that school moves on to the next free one; after
  99,999 at one school it raises.
* Directory identifiers are random over 31**11 values, and one already issued
  is drawn again: the minter keeps 48 bits of each (4 bytes each in 65,536
  buckets: about 10 MB at a million), so a draw agreeing with an earlier one
  on those bits (about one draw in 20 million at twelve million) is also
  drawn again. The draws are unchanged until the first collision.
"""

from __future__ import annotations

import math
import random
from array import array
from typing import Final

from contactpoint_sdk.errors import ConfigurationError
from contactpoint_sdk.models.identifiers import (
    DIRECTORY_ID_ALPHABET,
    UPN_CHECK_ALPHABET,
    DirectoryId,
    NhsNumber,
    SchoolReference,
    Uln,
    Upn,
)

__all__ = [
    "NHS_TEST_RANGE",
    "SCHOOL_REFERENCES_PER_SCHOOL",
    "UPN_SERIALS",
    "IdMinter",
    "SyntheticRangeExhausted",
    "upn_prefix_sum",
]

#: Valid NHS numbers in the test range 999 000 000x-999 999 999x (bodies whose
#: check digit would be 10 are not numbers); the tests count them.
NHS_TEST_RANGE: Final = 909_091
#: UPN serials one establishment allocates in one year (3 digits).
UPN_SERIALS: Final = 1000
#: School references one school can hold: ``A00000``-``A99998``.
SCHOOL_REFERENCES_PER_SCHOOL: Final = 99_999

_NHS_BODIES: Final = 1_000_000
_ULN_BODIES: Final = 1_000_000_000

_DIGITS3: Final = tuple(f"{i:03d}" for i in range(1000))
_DIGITS2: Final = tuple(f"{i:02d}" for i in range(100))


class SyntheticRangeExhausted(ConfigurationError):
    """A synthetic identifier range is used up: the generator never issues an
    identifier twice, so it stops instead.

    ``identifier`` names the kind (``nhs_number``, ``uln``, ``upn``,
    ``school_reference``); ``issued`` is how many the minter had issued from
    the range. The message holds no child's data.
    """

    code = "synthetic_range_exhausted"

    def __init__(self, message: str, *, identifier: str, issued: int) -> None:
        super().__init__(message)
        self.identifier = identifier
        self.issued = issued


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
# Directory ids already issued: bucket by the low 16 bits of the drawn number,
# keep the next 32 bits (a draw is below 31**11 < 2**55).
_DIR_BUCKET_BITS: Final = 16
_DIR_BUCKET_MASK: Final = (1 << _DIR_BUCKET_BITS) - 1
_DIR_KEPT_MASK: Final = 0xFFFF_FFFF


def upn_prefix_sum(la_code: str, establishment: str) -> int:
    """The weighted sum of UPN characters 2-8 (LA code and establishment number)."""
    return sum((pos + 2) * int(ch) for pos, ch in enumerate(la_code + establishment))


def _coprime_step(rng: random.Random, modulus: int) -> int:
    while True:
        step = rng.randrange(modulus // 3, modulus)
        if math.gcd(step, modulus) == 1:
            return step


def _further_establishment(establishment: str, j: int) -> str:
    """The ``j``-th establishment number (0: itself) a school moves on to once it
    has allocated all its UPN serials of a year: same phase (first digit); the
    last three digits step by 100 first, so ``2001`` goes on to ``2101``...
    ``2901``, then ``2002``, ``2102``... (``j`` 0..999 gives each number of the
    phase once)."""
    e = int(establishment)
    phase, rest = divmod(e, 1000)
    return f"{phase * 1000 + (rest + 100 * (j % 10) + j // 10) % 1000:04d}"


class IdMinter:
    """Mints the identifiers of one synthetic population from its own generator
    (never one twice: see the module docstring)."""

    __slots__ = (
        "_dir_seen",
        "_nhs_issued",
        "_nhs_k",
        "_nhs_offset",
        "_nhs_step",
        "_rng",
        "_school_refs",
        "_uln_issued",
        "_uln_k",
        "_uln_offset",
        "_uln_step",
        "_upn_moved",
        "_upn_serials",
        "_upn_sums",
    )

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._nhs_step = _coprime_step(rng, _NHS_BODIES)
        self._nhs_offset = rng.randrange(_NHS_BODIES)
        self._nhs_k = 0
        self._nhs_issued = 0
        self._uln_step = _coprime_step(rng, _ULN_BODIES)
        self._uln_offset = rng.randrange(_ULN_BODIES)
        self._uln_k = 0
        self._uln_issued = 0
        self._upn_serials: dict[tuple[str, str, int], int] = {}
        # (LA, establishment, year) of a school that has used all its serials
        # of the year -> how far along _further_establishment it has moved.
        self._upn_moved: dict[tuple[str, str, int], int] = {}
        self._upn_sums: dict[tuple[str, str], int] = {}
        self._school_refs: dict[str, set[int]] = {}
        self._dir_seen: list[array[int] | None] = [None] * (1 << _DIR_BUCKET_BITS)

    # --- directory identifiers ---------------------------------------------------

    def directory_id(self) -> DirectoryId:
        """A random directory identifier (REC-1: the directory assigns it),
        never one this minter issued before."""
        getrandbits = self._rng.getrandbits
        seen = self._dir_seen
        while True:
            n = getrandbits(55)
            while n >= _DIR_SPACE:  # 31**11 is about 0.7 * 2**55
                n = getrandbits(55)
            i = n & _DIR_BUCKET_MASK
            kept = (n >> _DIR_BUCKET_BITS) & _DIR_KEPT_MASK
            bucket = seen[i]
            if bucket is None:
                seen[i] = array("I", (kept,))
                break
            if kept not in bucket:
                bucket.append(kept)
                break
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

    # --- NHS numbers --------------------------------------------------------------

    @property
    def nhs_numbers_left(self) -> int:
        """How many NHS numbers of the test range this minter can still issue."""
        return NHS_TEST_RANGE - self._nhs_issued

    def nhs_number(self) -> NhsNumber:
        """The next NHS number in the 999 test range, with a valid check digit.

        :class:`SyntheticRangeExhausted` once all 909,091 have been issued.
        """
        while True:
            k = self._nhs_k
            if k >= _NHS_BODIES:
                raise SyntheticRangeExhausted(
                    "the synthetic NHS number test range (999 000 000x to 999 999 999x, "
                    f"{NHS_TEST_RANGE:,} valid numbers) is used up: {self._nhs_issued:,} "
                    "issued, and a number is never issued twice; make fewer children, or "
                    "tell the Population how many it will make (size=, or children(n)) "
                    "so that it keeps numbers for the children who have no other identifier",
                    identifier="nhs_number",
                    issued=self._nhs_issued,
                )
            self._nhs_k = k + 1
            body = (self._nhs_step * k + self._nhs_offset) % _NHS_BODIES
            hi, lo = divmod(body, 1000)
            check = 11 - (_NHS_999 + _W_456[hi] + _W_789[lo]) % 11
            if check == 10:
                continue
            self._nhs_issued += 1
            return NhsNumber(f"999{_DIGITS3[hi]}{_DIGITS3[lo]}{check % 11}")

    def skip_nhs_numbers(self, count: int) -> None:
        """Pass over the next ``count`` NHS numbers as if issued (for tests and
        benchmarks of a nearly used-up range); :class:`SyntheticRangeExhausted`
        if fewer are left."""
        if not 0 <= count <= self.nhs_numbers_left:
            raise SyntheticRangeExhausted(
                f"cannot skip {count:,} NHS numbers: {self.nhs_numbers_left:,} are left",
                identifier="nhs_number",
                issued=self._nhs_issued,
            )
        step, offset, k = self._nhs_step, self._nhs_offset, self._nhs_k
        w456, w789 = _W_456, _W_789
        left = count
        while left:
            hi, lo = divmod((step * k + offset) % _NHS_BODIES, 1000)
            k += 1
            if (_NHS_999 + w456[hi] + w789[lo]) % 11 != 1:  # check digit 10: no number
                left -= 1
        self._nhs_k = k
        self._nhs_issued += count

    # --- ULNs -----------------------------------------------------------------------

    def uln(self) -> Uln:
        """The next Unique Learner Number, with a valid check digit.

        :class:`SyntheticRangeExhausted` once every nine-digit body has been used.
        """
        while True:
            k = self._uln_k
            if k >= _ULN_BODIES:
                raise SyntheticRangeExhausted(
                    f"the synthetic ULN range is used up: {self._uln_issued:,} issued, "
                    "and a ULN is never issued twice",
                    identifier="uln",
                    issued=self._uln_issued,
                )
            self._uln_k = k + 1
            body = (self._uln_step * k + self._uln_offset) % _ULN_BODIES
            rest, c = divmod(body, 1000)
            a, b = divmod(rest, 1000)
            r = (_W_123[a] + _W_456[b] + _W_789[c]) % 11
            if r == 0 or body < 100_000_000:  # a ULN never starts with 0
                continue
            self._uln_issued += 1
            return Uln(f"{_DIGITS3[a]}{_DIGITS3[b]}{_DIGITS3[c]}{10 - r}")

    # --- UPNs -----------------------------------------------------------------------

    def upn(self, la_code: str, establishment: str, prefix_sum: int, year: int) -> Upn:
        """The next UPN allocated by ``establishment`` of ``la_code`` in ``year``.

        ``prefix_sum`` is :func:`upn_prefix_sum` of the two, precomputed per
        school. After 1,000 in a year the school moves on to a further
        establishment number (module docstring).
        """
        yy = year % 100
        key = (la_code, establishment, yy)
        serials = self._upn_serials
        serial = serials.get(key, 0)
        if serial < UPN_SERIALS:
            serials[key] = serial + 1
        else:
            establishment, prefix_sum, serial = self._further_upn(key)
        letter = UPN_CHECK_ALPHABET[(prefix_sum + _UPN_YEAR[yy] + _UPN_SERIAL[serial]) % 23]
        return Upn(f"{letter}{la_code}{establishment}{_DIGITS2[yy]}{_DIGITS3[serial]}")

    def _further_upn(self, key: tuple[str, str, int]) -> tuple[str, int, int]:
        """The establishment (with its prefix sum) and serial of a UPN of a school
        that has used all its serials of the year."""
        la_code, establishment, yy = key
        serials = self._upn_serials
        j = self._upn_moved.get(key, 1)
        while j < 1000:
            other = _further_establishment(establishment, j)
            other_key = (la_code, other, yy)
            serial = serials.get(other_key, 0)
            if serial < UPN_SERIALS:
                serials[other_key] = serial + 1
                self._upn_moved[key] = j
                prefix = self._upn_sums.get((la_code, other))
                if prefix is None:
                    prefix = self._upn_sums[(la_code, other)] = upn_prefix_sum(la_code, other)
                return other, prefix, serial
            j += 1
        raise SyntheticRangeExhausted(
            f"no UPN serials are left for LA {la_code}, phase {establishment[0]}, year "
            f"{yy:02d}: all 1,000 establishment numbers of the phase have allocated "
            f"{UPN_SERIALS:,} that year, and a UPN is never issued twice",
            identifier="upn",
            issued=1000 * UPN_SERIALS,
        )

    # --- school references -----------------------------------------------------------

    def school_reference(self, laestab: str, draw: float) -> SchoolReference:
        """A reference (``A`` and 5 digits) allocated by school ``laestab`` that it
        has not allocated before: the one ``draw`` (uniform in [0, 1)) picks, or
        the next free one after it."""
        issued = self._school_refs.get(laestab)
        if issued is None:
            issued = self._school_refs[laestab] = set()
        elif len(issued) >= SCHOOL_REFERENCES_PER_SCHOOL:
            raise SyntheticRangeExhausted(
                f"school {laestab} has allocated all {SCHOOL_REFERENCES_PER_SCHOOL:,} "
                "synthetic references, and a reference is never issued twice",
                identifier="school_reference",
                issued=len(issued),
            )
        n = int(draw * SCHOOL_REFERENCES_PER_SCHOOL)
        while n in issued:
            n = (n + 1) % SCHOOL_REFERENCES_PER_SCHOOL
        issued.add(n)
        return SchoolReference(laestab, f"A{n:05d}")
