"""Identifiers a record carries (REC-1): the directory's own, and the source ones.

A record holds the directory's own identifier (:class:`DirectoryId`, assigned by
the directory, never by a supplier) and the source identifiers that let a
supplier identify the child: :class:`Upn`, :class:`Uln`, :class:`NhsNumber`, or
a :class:`SchoolReference` allocated by a school.

Each is a frozen value: constructing one normalises the text (surrounding
whitespace removed, ASCII letters upper-cased) and validates it, raising
:class:`~contactpoint_sdk.errors.ValidationError` with one
:class:`~contactpoint_sdk.errors.Problem` (path ``""``, rule ``REC-1``, a
stable ``code``). ``str(x)`` is the canonical value; equal values compare and
hash equal. ``Cls.is_valid(text)`` answers without raising.

Error messages never repeat the value itself, only the offending character:
logs must not carry child data (ARCHITECTURE.md).

The check-character functions (:func:`upn_check_letter`,
:func:`uln_check_digit`, :func:`nhs_check_digit`,
:func:`directory_id_check_character`) are public so a synthetic-data generator
can mint valid values quickly. The algorithms are in
``shared/spec/FORMATS.md``.
"""

from __future__ import annotations

import random
import secrets
import string
from typing import ClassVar

import attrs

from contactpoint_sdk.errors import ValidationError

__all__ = [
    "DIRECTORY_ID_ALPHABET",
    "ULN_PLACEHOLDER",
    "UPN_CHECK_ALPHABET",
    "DirectoryId",
    "NhsNumber",
    "SchoolReference",
    "Uln",
    "Upn",
    "directory_id_check_character",
    "nhs_check_digit",
    "uln_check_digit",
    "upn_check_letter",
]

_RULE = "REC-1"

# Upper-case ASCII letters only: str.upper() would turn "ß" into "SS" or the
# long s into "S" and so accept text nobody typed.
_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
_ASCII_LETTERS = frozenset(string.ascii_uppercase)


def _refuse(message: str, code: str) -> ValidationError:
    return ValidationError.single(message, code=code, rule=_RULE)


def _text(value: object, what: str, code: str) -> str:
    """``value`` stripped and ASCII upper-cased, or a refusal if it is not text."""
    if not isinstance(value, str):
        raise _refuse(f"{what} must be text, not {type(value).__name__}", code)
    return value.strip().translate(_ASCII_UPPER)


def _is_digits(s: str) -> bool:
    """True when ``s`` is non-empty and all ASCII digits (``str.isdigit`` alone takes "²")."""
    return s.isascii() and s.isdigit()


# --- UPN -----------------------------------------------------------------------

UPN_CHECK_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ"
"""The UPN check letters for remainders 0..22 (no I, O or S)."""

_UPN_LETTER_VALUE = {letter: index for index, letter in enumerate(UPN_CHECK_ALPHABET)}
_UPN_WEIGHTS = tuple(range(2, 13))  # positions 2..12; position 13 has weight 13


def upn_check_letter(body12: str) -> str:
    """The check letter (character 1) for the UPN whose characters 2–13 are ``body12``.

    ``body12`` is in canonical form: 11 digits, then a digit, or for a temporary
    UPN an upper-case letter from :data:`UPN_CHECK_ALPHABET`. Each character
    in positions 2–13 is multiplied by its position, a temporary UPN's final
    letter counting as its index in the alphabet; the sum mod 23 indexes
    :data:`UPN_CHECK_ALPHABET`. Raises ValidationError on a malformed body.

    >>> upn_check_letter("801200005001")
    'B'
    """
    head = body12[:11]
    if len(body12) != 12 or not _is_digits(head):
        raise _refuse(
            "a UPN body is 12 characters: 11 digits, then a digit or a letter", "upn_body"
        )
    last = body12[11]
    if "0" <= last <= "9":
        last_value = ord(last) - 48
    else:
        found = _UPN_LETTER_VALUE.get(last)
        if found is None:
            raise _refuse(
                "character 13 of a UPN must be a digit, or for a temporary UPN "
                "a capital letter other than I, O or S",
                "upn_character_13",
            )
        last_value = found
    total = 13 * last_value
    for weight, char in zip(_UPN_WEIGHTS, head, strict=True):
        total += weight * (ord(char) - 48)
    return UPN_CHECK_ALPHABET[total % 23]


def _upn_problem(s: str) -> tuple[str, str] | None:
    """(code, message) for what is wrong with canonical-cased ``s``, or None."""
    if len(s) != 13:
        return (
            "upn_length",
            "a UPN has 13 characters (a check letter, a 3-digit LA code, a 4-digit "
            f"establishment number, a 2-digit year and a 3-character serial); got {len(s)}",
        )
    if not _is_digits(s[1:4]):
        return (
            "upn_la_code",
            "characters 2–4 of a UPN are the local authority code and must be three digits",
        )
    if not _is_digits(s[4:12]):
        return (
            "upn_not_numeric",
            "characters 5–12 of a UPN (establishment number, year and serial) must all be digits",
        )
    last = s[12]
    if not ("0" <= last <= "9" or last in _UPN_LETTER_VALUE):
        return (
            "upn_character_13",
            "character 13 of a UPN must be a digit, or for a temporary UPN a letter "
            "other than I, O or S",
        )
    expected = upn_check_letter(s[1:])
    if s[0] != expected:
        return (
            "upn_check_letter",
            "wrong check letter at character 1 of the UPN; the UPN was probably mistyped",
        )
    return None


def _checked_upn(value: str) -> str:
    s = _text(value, "a UPN", "upn_length")
    problem = _upn_problem(s)
    if problem is not None:
        raise _refuse(problem[1], problem[0])
    return s


def _three_digit_sums(*weights: int) -> dict[str, int]:
    """For every "000".."999": the sum of its digits times ``weights``."""
    return {
        f"{n:03d}": sum(w * int(d) for w, d in zip(weights, f"{n:03d}", strict=True))
        for n in range(1000)
    }


# Weighted sums of UPN characters 2-13 in groups of three (weights 2..13).
_UPN_SUMS = tuple(_three_digit_sums(p, p + 1, p + 2) for p in (2, 5, 8, 11))


def _fast_upn(value: object) -> str | None:
    """The fast path of :func:`_to_upn`: ``value`` itself when it is a permanent
    UPN already in canonical form, else None (decide with :func:`_checked_upn`).

    Equivalent to the checked path: the four lookups succeed only when
    characters 2-13 are ASCII digits (the tables' keys are "000".."999"), and
    their total is the same weighted sum :func:`upn_check_letter` takes mod 23;
    a first character equal to that upper-case check letter leaves nothing for
    stripping or upper-casing to change, so the checked path returns ``value``.
    """
    if type(value) is not str or len(value) != 13:
        return None
    s0, s1, s2, s3 = _UPN_SUMS
    a, b, c, d = s0.get(value[1:4]), s1.get(value[4:7]), s2.get(value[7:10]), s3.get(value[10:])
    if a is None or b is None or c is None or d is None:
        return None
    return value if value[0] == UPN_CHECK_ALPHABET[(a + b + c + d) % 23] else None


def _to_upn(value: str) -> str:
    return _fast_upn(value) or _checked_upn(value)


@attrs.frozen(slots=True)
class Upn:
    """A Unique Pupil Number, allocated by a school's local authority (REC-1).

    Source: GovTalk "Unique Pupil Number" data standard 2.0 (2004), as
    summarised in ``shared/spec/FORMATS.md``. Thirteen characters: check
    letter, LA code (3 digits), establishment number (4), year of allocation
    (2), serial (3). A *temporary* UPN ends in two digits and a letter (from
    the check alphabet, so no I, O or S); see :attr:`is_temporary`.

    Refusals are worded by position as the school census words them, each with
    its own code: ``upn_length``, ``upn_la_code`` (characters 2–4),
    ``upn_not_numeric`` (characters 5–12), ``upn_character_13``,
    ``upn_check_letter`` (character 1). Messages name the position, never a
    character of the identifier: they reach logs, and identifiers are a
    child's data.

    The LA code is only checked to be three digits: the SDK does not carry the
    DfE's list of local authority codes, so it cannot tell a recognised code
    from an unused one, which the school census can.

    >>> str(Upn(" b801200005001 "))
    'B801200005001'
    """

    value: str = attrs.field(converter=_to_upn)

    def __str__(self) -> str:
        return self.value

    @property
    def is_temporary(self) -> bool:
        """True for a temporary UPN (its 13th character is a letter)."""
        return self.value[12] in _UPN_LETTER_VALUE

    @classmethod
    def is_valid(cls, s: str) -> bool:
        """Whether ``s`` would be accepted by the constructor."""
        return isinstance(s, str) and _upn_problem(s.strip().translate(_ASCII_UPPER)) is None


# --- ULN -----------------------------------------------------------------------

ULN_PLACEHOLDER = "9999999999"
_WEIGHTS_10_TO_2 = tuple(range(10, 1, -1))


def _weighted_sum_10_to_2(body9: str) -> int:
    total = 0
    for weight, char in zip(_WEIGHTS_10_TO_2, body9, strict=True):
        total += weight * (ord(char) - 48)
    return total


def uln_check_digit(body9: str) -> str | None:
    """The 10th digit of the ULN starting with the nine digits ``body9``.

    r = (digits 1–9 times weights 10..2) mod 11; the check digit is 10 − r.
    None when r is 0: no ULN begins with those nine digits. Source: ILR
    derived-data rule DD01 (FORMATS.md). Raises ValidationError unless
    ``body9`` is nine ASCII digits.

    >>> uln_check_digit("100000004")
    '3'
    """
    if len(body9) != 9 or not _is_digits(body9):
        raise _refuse("a ULN body is nine digits", "uln_format")
    remainder = _weighted_sum_10_to_2(body9) % 11
    if remainder == 0:
        return None
    return chr(48 + 10 - remainder)


def _uln_problem(s: str) -> tuple[str, str] | None:
    if len(s) != 10 or not _is_digits(s):
        return ("uln_format", "a ULN is exactly 10 digits")
    if s == ULN_PLACEHOLDER:
        return (
            "uln_placeholder",
            "9999999999 is the placeholder (temporary) ULN: it identifies no one; "
            "omit the ULN instead",
        )
    expected = uln_check_digit(s[:9])
    if expected is None:
        return (
            "uln_check_digit",
            "not a ULN: no ULN begins with these nine digits (their weighted sum is "
            "a multiple of 11); it was probably mistyped",
        )
    if s[9] != expected:
        return (
            "uln_check_digit",
            "wrong check digit at character 10 of the ULN; the ULN was probably mistyped",
        )
    return None


def _checked_uln(value: str) -> str:
    s = _text(value, "a ULN", "uln_format")
    problem = _uln_problem(s)
    if problem is not None:
        raise _refuse(problem[1], problem[0])
    return s


# Weighted sums of digits 1-9 of a ULN or NHS number in groups of three (weights 10..2).
_SUMS_10_TO_2 = tuple(_three_digit_sums(w, w - 1, w - 2) for w in (10, 7, 4))
# The ULN check digit for each remainder of that sum mod 11 ("" for 0: no ULN).
_ULN_CHECK = ("", *(str(10 - r) for r in range(1, 11)))


def _fast_uln(value: object) -> str | None:
    """The fast path of :func:`_to_uln`: ``value`` itself when it is a ULN in
    canonical form, else None (decide with :func:`_checked_uln`).

    Equivalent to the checked path: the lookups succeed only when the first
    nine characters are ASCII digits, and sum them with
    :func:`uln_check_digit`'s weights; the tenth character must be the check
    digit that function gives (it gives none for remainder 0, and "" matches
    no character). The placeholder is left to the checked path. Ten digits
    have nothing to strip or upper-case.
    """
    if type(value) is not str or len(value) != 10 or value == ULN_PLACEHOLDER:
        return None
    s0, s1, s2 = _SUMS_10_TO_2
    a, b, c = s0.get(value[:3]), s1.get(value[3:6]), s2.get(value[6:9])
    if a is None or b is None or c is None:
        return None
    return value if value[9] == _ULN_CHECK[(a + b + c) % 11] else None


def _to_uln(value: str) -> str:
    return _fast_uln(value) or _checked_uln(value)


@attrs.frozen(slots=True)
class Uln:
    """A Unique Learner Number from the Learning Records Service (REC-1).

    Source: ILR derived-data rule DD01 (FORMATS.md). Ten digits, the tenth a
    check digit (:func:`uln_check_digit`). The temporary ULN ``9999999999``
    identifies no one, and recording it would make every child who has it look
    like the same learner to the matcher, so it is refused with its own code,
    ``uln_placeholder``: omit the ULN instead. Other codes: ``uln_format``,
    ``uln_check_digit``.

    >>> str(Uln("1000000043"))
    '1000000043'
    """

    PLACEHOLDER: ClassVar[str] = ULN_PLACEHOLDER

    value: str = attrs.field(converter=_to_uln)

    def __str__(self) -> str:
        return self.value

    @classmethod
    def is_valid(cls, s: str) -> bool:
        """Whether ``s`` would be accepted by the constructor."""
        return isinstance(s, str) and _uln_problem(s.strip()) is None


# --- NHS number ----------------------------------------------------------------


def nhs_check_digit(body9: str) -> str | None:
    """The 10th digit of the NHS number starting with the nine digits ``body9``.

    Check = 11 − (digits 1–9 times weights 10..2, mod 11); 11 becomes 0; 10
    means no NHS number begins with those digits, and None is returned. Source:
    NHS Data Dictionary (FORMATS.md). Raises ValidationError unless ``body9``
    is nine ASCII digits.

    >>> nhs_check_digit("943476591")
    '9'
    """
    if len(body9) != 9 or not _is_digits(body9):
        raise _refuse("an NHS number body is nine digits", "nhs_number_format")
    check = 11 - _weighted_sum_10_to_2(body9) % 11
    if check == 11:
        return "0"
    if check == 10:
        return None
    return chr(48 + check)


_NHS_SEPARATORS = str.maketrans("", "", " -")


def _nhs_problem(s: str) -> tuple[str, str] | None:
    if len(s) != 10 or not _is_digits(s):
        return (
            "nhs_number_format",
            "an NHS number is 10 digits (spaces and hyphens between them are allowed)",
        )
    expected = nhs_check_digit(s[:9])
    if expected is None:
        return (
            "nhs_number_check_digit",
            "not an NHS number: no NHS number begins with these nine digits (their "
            "check digit would be 10); it was probably mistyped",
        )
    if s[9] != expected:
        return (
            "nhs_number_check_digit",
            "wrong check digit at character 10 of the NHS number; the NHS number was "
            "probably mistyped",
        )
    return None


def _clean_nhs(value: str) -> str:
    return value.strip().translate(_NHS_SEPARATORS)


def _checked_nhs(value: str) -> str:
    if not isinstance(value, str):
        raise _refuse(
            f"an NHS number must be text, not {type(value).__name__}", "nhs_number_format"
        )
    s = _clean_nhs(value)
    problem = _nhs_problem(s)
    if problem is not None:
        raise _refuse(problem[1], problem[0])
    return s


# The NHS number check digit for each remainder of the weighted sum mod 11:
# 11 - r, with 11 becoming "0"; "" (matching no character) for 10, no number.
_NHS_CHECK = ("0", "", *(str(11 - r) for r in range(2, 11)))


def _fast_nhs(value: object) -> str | None:
    """The fast path of :func:`_to_nhs`: ``value`` itself when it is ten digits
    with the right check digit, else None (decide with :func:`_checked_nhs`).

    Equivalent to the checked path: the lookups succeed only when the first
    nine characters are ASCII digits, and sum them with
    :func:`nhs_check_digit`'s weights; the tenth must be the check digit that
    function gives. Ten digits have no spaces or hyphens for cleaning to remove.
    """
    if type(value) is not str or len(value) != 10:
        return None
    s0, s1, s2 = _SUMS_10_TO_2
    a, b, c = s0.get(value[:3]), s1.get(value[3:6]), s2.get(value[6:9])
    if a is None or b is None or c is None:
        return None
    return value if value[9] == _NHS_CHECK[(a + b + c) % 11] else None


def _to_nhs(value: str) -> str:
    return _fast_nhs(value) or _checked_nhs(value)


@attrs.frozen(slots=True)
class NhsNumber:
    """An NHS number (REC-1).

    Source: NHS Data Dictionary (FORMATS.md). Ten digits, the tenth a check
    digit (:func:`nhs_check_digit`). Input may be grouped with spaces or
    hyphens (``943 476 5919``, ``943-476-5919``); the canonical value is the
    ten digits alone, :attr:`formatted` the usual 3-3-4 grouping. Numbers
    999 000 0000 to 999 999 9999 are reserved for testing and never issued
    (:attr:`is_test_range`): synthetic data should use them. Codes:
    ``nhs_number_format``, ``nhs_number_check_digit``.

    >>> NhsNumber("943 476 5919").formatted
    '943 476 5919'
    """

    value: str = attrs.field(converter=_to_nhs)

    def __str__(self) -> str:
        return self.value

    @property
    def formatted(self) -> str:
        """The number grouped 3-3-4 with spaces, as printed on NHS documents."""
        v = self.value
        return f"{v[:3]} {v[3:6]} {v[6:]}"

    @property
    def is_test_range(self) -> bool:
        """True for 999 000 0000 – 999 999 9999, reserved for testing, never issued."""
        return self.value.startswith("999")

    @classmethod
    def is_valid(cls, s: str) -> bool:
        """Whether ``s`` would be accepted by the constructor."""
        return isinstance(s, str) and _nhs_problem(_clean_nhs(s)) is None


# --- School reference ----------------------------------------------------------

_SCHOOL_REFERENCE_SYMBOLS = frozenset(string.ascii_uppercase + string.digits + "-/")


def _to_laestab(value: str) -> str:
    s = _text(value, "a school's LAESTAB", "school_reference_establishment")
    if len(s) == 8 and s[3] in "/-":  # "801/2000", as the DfE often prints it
        s = s[:3] + s[4:]
    if len(s) != 7 or not _is_digits(s):
        raise _refuse(
            "the school must be given by its DfE LAESTAB: 7 digits, the 3-digit LA "
            "code then the 4-digit establishment number (e.g. 8012000)",
            "school_reference_establishment",
        )
    return s


def _to_school_reference(value: str) -> str:
    s = _text(value, "a school reference", "school_reference_format")
    if not 1 <= len(s) <= 20:
        raise _refuse(
            f"a school reference has 1 to 20 characters; got {len(s)}",
            "school_reference_format",
        )
    for char in s:
        if char not in _SCHOOL_REFERENCE_SYMBOLS:
            raise _refuse(
                "a school reference may contain only letters A–Z, digits, '-' and '/'",
                "school_reference_format",
            )
    return s


@attrs.frozen(slots=True)
class SchoolReference:
    """A reference allocated by a school, qualified by that school (REC-1).

    REC-1 lets "a reference allocated by the school" identify a child. A bare
    admission number means nothing outside its school, so the reference is
    always paired with the school's DfE LAESTAB (``establishment``: 7 digits,
    LA code then establishment number; ``801/2000`` is accepted and stored as
    ``8012000``). ``reference`` is 1–20 characters: letters, digits, ``-`` and
    ``/``; surrounding spaces are removed.

    Decision: letters are upper-cased, so ``a1234`` and ``A1234`` at the same
    school are one reference. Supplies are de-duplicated (SUP-7), and a
    reference differing only in case is far more likely a retyping than a
    second child.

    ``str()`` is ``"8012000/A1234"``; :meth:`parse` reads that back. Codes:
    ``school_reference_establishment``, ``school_reference_format``,
    ``school_reference_parse``.
    """

    establishment: str = attrs.field(converter=_to_laestab)
    reference: str = attrs.field(converter=_to_school_reference)

    def __str__(self) -> str:
        return f"{self.establishment}/{self.reference}"

    @classmethod
    def parse(cls, s: str) -> SchoolReference:
        """Read ``"8012000/A1234"`` (or ``"801/2000/A1234"``) back."""
        if not isinstance(s, str):
            raise _refuse(
                f"a school reference must be text, not {type(s).__name__}",
                "school_reference_parse",
            )
        text = s.strip()
        if len(text) > 8 and text[3] == "/" and text[8] == "/":
            establishment, reference = text[:8], text[9:]
        else:
            establishment, sep, reference = text.partition("/")
            if not sep:
                raise _refuse(
                    "write a school reference as the school's 7-digit LAESTAB, '/', then "
                    "the school's own reference (e.g. 8012000/A1234)",
                    "school_reference_parse",
                )
        return cls(establishment, reference)

    @classmethod
    def is_valid(cls, s: str) -> bool:
        """Whether :meth:`parse` would accept ``s``."""
        try:
            cls.parse(s)
        except ValidationError:
            return False
        return True


# --- Directory identifier ------------------------------------------------------

DIRECTORY_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXY"
"""The 31 symbols of a directory identifier: Crockford base 32 without Z."""

_DIR_BASE = 31
_DIR_BODY = 11
_DIR_SPACE = _DIR_BASE**_DIR_BODY
# Weights for body characters left to right: 3**11 ... 3**1 (mod 31); the
# check character has weight 3**0 = 1.
_DIR_WEIGHTS = tuple(pow(3, i, _DIR_BASE) for i in range(_DIR_BODY, 0, -1))
_DIR_CANONICAL_VALUE = {symbol: index for index, symbol in enumerate(DIRECTORY_ID_ALPHABET)}
_DIR_VALUE: dict[str, int] = {}
for _index, _symbol in enumerate(DIRECTORY_ID_ALPHABET):
    _DIR_VALUE[_symbol] = _index
    _DIR_VALUE[_symbol.lower()] = _index
for _alias, _meaning in (("I", "1"), ("L", "1"), ("O", "0")):
    _DIR_VALUE[_alias] = _DIR_VALUE[_alias.lower()] = _DIR_VALUE[_meaning]
del _index, _symbol, _alias, _meaning
_DIR_IGNORED = str.maketrans("", "", " -")


def directory_id_check_character(body11: str) -> str:
    """The check character for the 11 body symbols ``body11`` (canonical symbols only).

    With symbol values v and weights 3**i mod 31 (i = 1 for the rightmost body
    symbol), the check symbol c makes sum(v * w) + c ≡ 0 (mod 31).
    """
    if len(body11) != _DIR_BODY:
        raise _refuse("a directory identifier body is 11 symbols", "directory_id_length")
    total = 0
    for weight, char in zip(_DIR_WEIGHTS, body11, strict=True):
        value = _DIR_CANONICAL_VALUE.get(char)
        if value is None:
            raise _refuse(_dir_symbol_message(char), "directory_id_symbol")
        total += weight * value
    return DIRECTORY_ID_ALPHABET[-total % _DIR_BASE]


def _dir_symbol_message(char: str) -> str:
    if char.upper() in ("U", "Z"):
        return (
            f"{char!r} never appears in a directory identifier (they use the digits 0–9 and "
            "the letters A–Y except I, L, O and U): check the identifier was copied correctly"
        )
    return (
        f"{char!r} cannot appear in a directory identifier: it has 12 digits and letters "
        "(A–Y except I, L, O and U), written in groups of four, e.g. 7KQ4-M2XD-9HT2"
    )


def _dir_values(s: str) -> list[int] | tuple[str, str]:
    """Symbol values of the human-typed ``s``, or (code, message) when it cannot be one."""
    compact = s.strip().translate(_DIR_IGNORED)
    values: list[int] = []
    for char in compact:
        value = _DIR_VALUE.get(char)
        if value is None:
            return ("directory_id_symbol", _dir_symbol_message(char))
        values.append(value)
    if len(values) != _DIR_BODY + 1:
        return (
            "directory_id_length",
            "a directory identifier has 12 characters, written in three groups of four "
            f"(e.g. 7KQ4-M2XD-9HT2); got {len(values)}",
        )
    total = values[_DIR_BODY]
    for weight, value in zip(_DIR_WEIGHTS, values, strict=False):
        total += weight * value
    if total % _DIR_BASE:
        # The expected character is deliberately not named: the slip is as likely
        # to be in the body, and "fixing" the last character would turn a typo
        # into some other child's valid identifier.
        return (
            "directory_id_check_character",
            "wrong check character: this is not a directory identifier, it was "
            "probably mistyped; copy it again from its source",
        )
    return values


def _format_directory_id(values: list[int] | tuple[int, ...]) -> str:
    chars = "".join(DIRECTORY_ID_ALPHABET[v] for v in values)
    return f"{chars[:4]}-{chars[4:8]}-{chars[8:]}"


def _checked_directory_id(value: str) -> str:
    if not isinstance(value, str):
        raise _refuse(
            f"a directory identifier must be text, not {type(value).__name__}",
            "directory_id_length",
        )
    parsed = _dir_values(value)
    if isinstance(parsed, tuple):
        raise _refuse(parsed[1], parsed[0])
    return _format_directory_id(parsed)


# Byte table for the fast path: each canonical symbol's byte becomes the base-34
# digit of its value ("0".."9", then "a".."u" for 10..30); every other byte
# becomes "!", which int() refuses.
_BASE34_DIGITS = "0123456789abcdefghijklmnopqrstuvwx"
_DIR_AS_BASE34 = bytes(
    ord(_BASE34_DIGITS[DIRECTORY_ID_ALPHABET.index(chr(b))])
    if chr(b) in DIRECTORY_ID_ALPHABET
    else ord("!")
    for b in range(256)
)


def _fast_directory_id(value: object) -> str | None:
    """The fast path of :func:`_to_directory_id`: the canonical value when
    ``value`` is 12 canonical symbols, bare or hyphenated 4-4-4, with the right
    check character; else None (decide with :func:`_checked_directory_id`).

    Equivalent to the checked path. The translation leaves 12 base-34 digits
    only when the 12 symbols (hyphens at 5 and 10 deleted) are all canonical,
    which the checked path reads as the same values. Read in base 34 they give
    sum(v * 34**(11 - i)), and 34 = 3 (mod 31), so mod 31 that is the checked
    path's sum(v * 3**(11 - i)) (weights 3**11 .. 3**1, check symbol 3**0).
    The canonical form is those symbols in groups of four, as formatted there.
    """
    if type(value) is not str:
        return None
    hyphenated = len(value) == 14 and value[4] == "-" and value[9] == "-"
    if not (hyphenated or len(value) == 12):
        return None
    try:
        digits = value.encode().translate(_DIR_AS_BASE34, b"-")
        if len(digits) != 12 or int(digits, 34) % _DIR_BASE:
            return None
    except ValueError:  # a non-canonical symbol ("!"), or a lone surrogate
        return None
    return value if hyphenated else f"{value[:4]}-{value[4:8]}-{value[8:]}"


def _to_directory_id(value: str) -> str:
    return _fast_directory_id(value) or _checked_directory_id(value)


@attrs.frozen(slots=True)
class DirectoryId:
    """The directory's own identifier for a child record (REC-1).

    Assigned by the directory, never by a supplier (REC-1); opaque: it encodes
    nothing about the child. Eleven body symbols and one check symbol, all from
    :data:`DIRECTORY_ID_ALPHABET` (Crockford base 32 without Z: 31 symbols),
    written in groups of four: ``7KQ4-M2XD-9HT2``. The format is this
    project's design (ARCHITECTURE.md), not a published standard.

    **Check character.** With symbol values v_i and weights w_i = 3**i mod 31
    (i = 1 for the rightmost body symbol, up to 11; the check symbol has
    weight 3**0 = 1), the check symbol c is chosen so that
    sum(v_i * w_i) + c ≡ 0 (mod 31).

    *Why it catches every single substitution:* changing the symbol at a
    position of weight w from a to b changes the sum by (b − a)·w. Since 31 is
    prime, w = 3**i is never 0 mod 31, and 0 < |b − a| < 31, the product is
    not 0 mod 31, so the check fails.

    *Why it catches every transposition:* swapping unequal symbols a, b at
    positions of weights w and w' changes the sum by (a − b)(w' − w). 3 is a
    primitive root mod 31 (its order is 30), so 3**0 .. 3**11 are twelve
    distinct residues and w' − w ≠ 0 mod 31; the product of two non-zero
    residues mod a prime is non-zero. Adjacent transpositions are the special
    case w' = 3w, where the change is 2w(a − b).

    **Parsing is forgiving for humans:** case-insensitive; hyphens and spaces
    are ignored; I and L read as 1 and O as 0 (Crockford's rule). U, Z and any
    other symbol are refused. Codes: ``directory_id_symbol``,
    ``directory_id_length``, ``directory_id_check_character``,
    ``directory_id_out_of_range`` (:meth:`from_int`).
    """

    value: str = attrs.field(converter=_to_directory_id)

    def __str__(self) -> str:
        return self.value

    @property
    def compact(self) -> str:
        """The 12 symbols without hyphens."""
        return self.value.replace("-", "")

    def to_int(self) -> int:
        """The number :meth:`from_int` mints this identifier from."""
        n = 0
        for char in self.compact[:_DIR_BODY]:
            n = n * _DIR_BASE + _DIR_VALUE[char]
        return n

    @classmethod
    def from_int(cls, n: int) -> DirectoryId:
        """Mint deterministically: the body is ``n`` in base 31 (0 <= n < 31**11)."""
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < _DIR_SPACE:
            raise _refuse(
                f"a directory identifier is minted from an integer 0 <= n < 31**11, not {n!r}",
                "directory_id_out_of_range",
            )
        body = [0] * _DIR_BODY
        for position in range(_DIR_BODY - 1, -1, -1):
            n, body[position] = divmod(n, _DIR_BASE)
        total = 0
        for weight, value in zip(_DIR_WEIGHTS, body, strict=True):
            total += weight * value
        body.append(-total % _DIR_BASE)
        return cls(_format_directory_id(body))

    @classmethod
    def new(cls, rng: random.Random | None = None) -> DirectoryId:
        """A fresh random identifier: from ``secrets``, or from ``rng`` for reproducible data."""
        n = secrets.randbelow(_DIR_SPACE) if rng is None else rng.randrange(_DIR_SPACE)
        return cls.from_int(n)

    @classmethod
    def is_valid(cls, s: str) -> bool:
        """Whether ``s`` would be accepted by the constructor."""
        return isinstance(s, str) and not isinstance(_dir_values(s), tuple)
