"""Contact values: postcode, phone number, email address (REC-2, REC-3, REC-4).

Records hold contact details for parents and carers (REC-2) and for the
services involved with a child (REC-3, REC-4). These are the frozen value types
for them. Constructing one normalises and validates; a refusal is a
:class:`~contactpoint_sdk.errors.ValidationError` with one
:class:`~contactpoint_sdk.errors.Problem` (path ``""``, no rule, a
field-specific ``code``). ``str(x)`` is the canonical value; equal values
compare and hash equal; ``Cls.is_valid(text)`` answers without raising.

Messages name what is wrong without repeating the value: an address or phone
number in a log could reveal a shielded child's whereabouts (SHLD-1), and logs
never carry child or parent data (ARCHITECTURE.md).
"""

from __future__ import annotations

import re
import string

import attrs

from contactpoint_sdk.errors import ValidationError

__all__ = ["EmailAddress", "PhoneNumber", "Postcode"]

_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)


def _refuse(message: str, code: str) -> ValidationError:
    return ValidationError.single(message, code=code)


def _require_text(value: object, what: str, code: str) -> str:
    if not isinstance(value, str):
        raise _refuse(f"{what} must be text, not {type(value).__name__}", code)
    return value


# --- Postcode ------------------------------------------------------------------

_OUTWARD = r"(?:[A-Z][0-9][0-9]?|[A-Z][0-9][A-Z]|[A-Z]{2}[0-9][0-9]?|[A-Z]{2}[0-9][A-Z])"
# Inward letters exclude C, I, K, M, O, V (BS7666 writes [A-Z-[CIKMOV]]).
_INWARD = r"[0-9][ABD-HJLNP-UW-Z]{2}"
_POSTCODE_RE = re.compile(rf"{_OUTWARD} {_INWARD}|GIR 0AA")
_OUTWARD_RE = re.compile(_OUTWARD)
_INWARD_RE = re.compile(_INWARD)

_FORMATS = "A9 9AA, A99 9AA, A9A 9AA, AA9 9AA, AA99 9AA, AA9A 9AA or GIR 0AA"


def _compact_postcode(value: str) -> str:
    return "".join(value.split()).translate(_ASCII_UPPER)


def _postcode_problem(compact: str) -> tuple[str, str] | None:
    """(code, message) for what is wrong with the space-free ``compact``, or None."""
    if len(compact) == 7 and compact.startswith("ZZ99"):  # the outward code is ZZ99
        return (
            "postcode_pseudo",
            "ZZ99 postcodes are NHS pseudo-postcodes (no fixed abode, not known, "
            "abroad), not places: omit the postcode instead",
        )
    if compact.startswith("BFPO"):
        return (
            "postcode_bfpo",
            "a BFPO number is not a postcode: give the BF1 postcode that belongs to "
            "this BFPO number instead",
        )
    if not 5 <= len(compact) <= 7:
        return (
            "postcode_invalid",
            "a UK postcode has 5 to 7 characters besides the space, in one of the "
            f"forms {_FORMATS}; got {len(compact)}",
        )
    canonical = f"{compact[:-3]} {compact[-3:]}"
    if _POSTCODE_RE.fullmatch(canonical):
        return None
    if not _INWARD_RE.fullmatch(compact[-3:]):
        return (
            "postcode_invalid",
            "the inward code of a postcode (its last three characters) must be a digit "
            "then two letters other than C, I, K, M, O and V",
        )
    if not _OUTWARD_RE.fullmatch(compact[:-3]):
        return (
            "postcode_invalid",
            "the outward code of a postcode (the part before the space) must have one of "
            "the forms A9, A99, A9A, AA9, AA99 or AA9A (A a letter, 9 a digit)",
        )
    return ("postcode_invalid", f"not a UK postcode: expected one of the forms {_FORMATS}")


def _checked_postcode(value: str) -> str:
    compact = _compact_postcode(_require_text(value, "a postcode", "postcode_invalid"))
    problem = _postcode_problem(compact)
    if problem is not None:
        raise _refuse(problem[1], problem[0])
    return f"{compact[:-3]} {compact[-3:]}"


def _fast_postcode(value: object) -> str | None:
    """The fast path of :func:`_to_postcode`: ``value`` itself when it is a
    postcode already in canonical form, else None (decide with
    :func:`_checked_postcode`).

    Equivalent to the checked path: a full match of the canonical pattern is
    upper-case ASCII letters and digits with one space before the inward code,
    which compacting and re-spacing give back unchanged, 5 to 7 characters
    besides the space; the pseudo-postcode and BFPO prefixes the checked path
    refuses first are left to it.
    """
    if (
        type(value) is str
        and _POSTCODE_RE.fullmatch(value)
        and not value.startswith(("ZZ99 ", "BFPO"))
    ):
        return value
    return None


def _to_postcode(value: str) -> str:
    return _fast_postcode(value) or _checked_postcode(value)


@attrs.frozen(slots=True)
class Postcode:
    """A UK postcode, part of a parent's, carer's or service's address (REC-2, REC-3).

    Source: the BS7666 postcode formats in ``shared/spec/FORMATS.md``: A9 9AA,
    A99 9AA, A9A 9AA, AA9 9AA, AA99 9AA, AA9A 9AA, and GIR 0AA; the inward
    code's letters exclude C, I, K, M, O and V. The whole value must match one
    form (a full match, unlike the widely copied Home Office regex that anchors
    only one branch at each end).

    Normalised: surrounding and internal whitespace removed, letters
    upper-cased, one space put before the three-character inward code
    (``"sw1a1aa"`` → ``"SW1A 1AA"``).

    Decisions (code ``postcode_invalid`` otherwise):

    * NHS pseudo-postcodes ``ZZ99 ...`` (e.g. ``ZZ99 3VZ`` no fixed abode,
      ``ZZ99 3CZ`` England, not otherwise specified) are refused with code
      ``postcode_pseudo``: omit the postcode instead. A pseudo-postcode is not
      a place, and storing it would make every such child look like a
      neighbour of every other to the matcher.
    * BFPO forms (``BFPO 61``) are refused with code ``postcode_bfpo``: supply
      the BF1 postcode allocated to that BFPO number, which is an ordinary
      BS7666 postcode and accepted (``BF1 3AA``).
    * Outward-code letters are not checked against Royal Mail's per-position
      lists (not in FORMATS.md, and they drift as districts such as N1C are
      added), nor is the postcode checked to exist: the SDK carries no
      Postcode Address File. Overseas territory codes (``ASCN 1ZZ``) are
      refused as not BS7666.
    """

    value: str = attrs.field(converter=_to_postcode)

    def __str__(self) -> str:
        return self.value

    @property
    def outward(self) -> str:
        """The part before the space: ``"SW1A"``."""
        return self.value.partition(" ")[0]

    @property
    def inward(self) -> str:
        """The three characters after the space: ``"1AA"``."""
        return self.value.partition(" ")[2]

    @property
    def area(self) -> str:
        """The leading letters of the outward code: ``"SW"`` (``"GIR"`` for GIR 0AA)."""
        outward = self.outward
        end = 0
        while end < len(outward) and outward[end].isalpha():
            end += 1
        return outward[:end]

    @classmethod
    def is_valid(cls, s: str) -> bool:
        """Whether ``s`` would be accepted by the constructor."""
        return isinstance(s, str) and _postcode_problem(_compact_postcode(s)) is None


# --- Phone number --------------------------------------------------------------

_PHONE_PUNCTUATION = str.maketrans("", "", "-()")
# Ofcom's numbers reserved for drama: 01632 960000–960999, 07700 900000–900999.
_DRAMA_PREFIXES = ("1632960", "7700900")


def _phone_digits(value: str) -> str | tuple[str, str]:
    """The national significant number (digits after the trunk 0), or (code, message)."""
    cleaned = "".join(value.split()).translate(_PHONE_PUNCTUATION)
    international = True
    if cleaned.startswith("+44"):
        rest = cleaned[3:]
    elif cleaned.startswith("0044"):
        rest = cleaned[4:]
    elif cleaned.startswith(("+", "00")):
        return (
            "phone_invalid",
            "only UK phone numbers are accepted: the country code must be +44",
        )
    elif cleaned.startswith("0"):
        rest = cleaned[1:]
        international = False
    else:
        return (
            "phone_invalid",
            "a UK phone number starts with 0 (e.g. 01632 960123) or +44 (e.g. +44 1632 960123)",
        )
    if international and rest.startswith("0"):
        rest = rest[1:]  # "+44 (0)1632 ...": the trunk 0 is not dialled from abroad
    if rest and not (rest.isascii() and rest.isdigit()):
        return (
            "phone_invalid",
            "a phone number may contain only digits, spaces, hyphens and brackets, "
            "with + only at the start",
        )
    if len(rest) not in (9, 10):
        return (
            "phone_invalid",
            f"a UK phone number is 0 followed by 9 or 10 digits; got {len(rest)} after the 0",
        )
    if rest[0] == "0":
        return ("phone_invalid", "a UK number cannot start 00 after the trunk 0")
    return rest


def _checked_phone(value: str) -> str:
    digits = _phone_digits(_require_text(value, "a phone number", "phone_invalid"))
    if isinstance(digits, tuple):
        raise _refuse(digits[1], digits[0])
    return f"+44{digits}"


def _fast_phone(value: object) -> str | None:
    """The fast path of :func:`_to_phone`: ``value`` itself when it is already
    canonical E.164 (``+44`` then 9 or 10 ASCII digits, not starting 0), else
    None (decide with :func:`_checked_phone`).

    Equivalent to the checked path: such text has no spaces or punctuation
    to remove, takes the ``+44`` branch, has no trunk 0 to drop, and passes
    the digit, length and "00" checks, so ``+44`` plus the digits is ``value``.
    """
    if (
        type(value) is str
        and len(value) in (12, 13)
        and value.startswith("+44")
        and value[3] != "0"
        and value.isascii()
        and value[3:].isdigit()
    ):
        return value
    return None


def _to_phone(value: str) -> str:
    return _fast_phone(value) or _checked_phone(value)


@attrs.frozen(slots=True)
class PhoneNumber:
    """A UK phone number for a parent, carer or service (REC-2, REC-3, REC-4).

    Source: Ofcom's UK numbering plan (ITU-T E.164 for the canonical form).
    Accepted: national (``01632 960123``, ``07700 900123``) and international
    (``+44 1632 960123``, ``+44 (0)1632 960123``, ``0044 ...``) forms, with
    spaces, hyphens and round brackets anywhere. A UK number is the trunk 0
    then 9 or 10 digits. The canonical value is E.164 (``+441632960123``);
    :attr:`national` is a readable national form.

    Refused with code ``phone_invalid``: another country code, letters or other
    symbols, an extension, or a wrong number of digits.

    Synthetic data should use Ofcom's drama ranges, never allocated to anyone:
    01632 960000–960999 (fixed line) and 07700 900000–900999 (mobile), among
    others (:attr:`is_drama_range` recognises these two).
    """

    value: str = attrs.field(converter=_to_phone)

    def __str__(self) -> str:
        return self.value

    @property
    def national(self) -> str:
        """The number as dialled in the UK, grouped for reading: ``01632 960123``.

        The grouping follows common practice (020 7946 0123, 0113 496 0123,
        0300 123 4567, 01632 960123); it is for display, not validation.
        """
        n = "0" + self.value[3:]
        if len(n) == 11:
            if n.startswith("02"):
                return f"{n[:3]} {n[3:7]} {n[7:]}"
            if n.startswith(("011", "03", "08", "09")) or (n.startswith("01") and n[3] == "1"):
                return f"{n[:4]} {n[4:7]} {n[7:]}"
            return f"{n[:5]} {n[5:]}"
        if n.startswith("08"):
            return f"{n[:4]} {n[4:]}"
        return f"{n[:5]} {n[5:]}"

    @property
    def is_drama_range(self) -> bool:
        """True for Ofcom's drama numbers 01632 960xxx and 07700 900xxx."""
        return len(self.value) == 13 and self.value[3:10] in _DRAMA_PREFIXES

    @classmethod
    def is_valid(cls, s: str) -> bool:
        """Whether ``s`` would be accepted by the constructor."""
        return isinstance(s, str) and not isinstance(_phone_digits(s), tuple)


# --- Email address -------------------------------------------------------------


def _email_problem(s: str) -> str | None:
    if not s:
        return "an email address cannot be empty"
    if len(s) > 254:
        return f"an email address has at most 254 characters; got {len(s)}"
    if not s.isprintable() or " " in s:
        return "an email address cannot contain spaces or control characters"
    if s.count("@") != 1:
        return "an email address has exactly one @, between the mailbox and the domain"
    local, _, domain = s.partition("@")
    if not local:
        return "an email address needs a mailbox name before the @"
    if len(local) > 64:
        return "the mailbox part of an email address (before the @) has at most 64 characters"
    if "." not in domain or "" in domain.split("."):
        return (
            "the domain of an email address (after the @) needs at least one dot and "
            "no empty parts, e.g. example.org.uk"
        )
    return None


def _checked_email(value: str) -> str:
    s = _require_text(value, "an email address", "email_invalid").strip()
    problem = _email_problem(s)
    if problem is not None:
        raise _refuse(problem, "email_invalid")
    local, _, domain = s.partition("@")
    return f"{local}@{domain.lower()}"


def _fast_email(value: object) -> str | None:
    """The fast path of :func:`_to_email` for printable ASCII without spaces:
    the same result, or None to decide with :func:`_checked_email`.

    Equivalent to the checked path: printable ASCII without a space has no
    whitespace, so stripping changes nothing; the conditions are
    :func:`_email_problem`'s, in another order (one ``@`` is "an ``@`` with
    none after it", since ``partition`` splits at the first).
    """
    if type(value) is not str or " " in value or not (value.isascii() and value.isprintable()):
        return None
    local, at, domain = value.partition("@")
    if (
        at
        and 0 < len(local) <= 64
        and len(value) <= 254
        and "@" not in domain
        and "." in domain
        and "" not in domain.split(".")
    ):
        return f"{local}@{domain.lower()}"
    return None


def _to_email(value: str) -> str:
    return _fast_email(value) or _checked_email(value)


@attrs.frozen(slots=True)
class EmailAddress:
    """An email address for a parent, carer or service (REC-2, REC-3, REC-4).

    A pragmatic check after RFC 5321's limits, not a full RFC 5322 parser:
    exactly one ``@``; a mailbox part of 1–64 characters; a domain with at
    least one dot and no empty labels; no spaces or control characters; at
    most 254 characters. Surrounding whitespace is removed and the domain
    lower-cased (domains are case-insensitive; the mailbox part is kept as
    given, since in principle it need not be). Whether the address exists is
    not checked. Code ``email_invalid``.
    """

    value: str = attrs.field(converter=_to_email)

    def __str__(self) -> str:
        return self.value

    @property
    def local_part(self) -> str:
        """The mailbox part, before the @."""
        return self.value.rpartition("@")[0]

    @property
    def domain(self) -> str:
        """The domain, after the @, lower-cased."""
        return self.value.rpartition("@")[2]

    @classmethod
    def is_valid(cls, s: str) -> bool:
        """Whether ``s`` would be accepted by the constructor."""
        return isinstance(s, str) and _email_problem(s.strip()) is None
