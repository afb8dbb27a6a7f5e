"""Why a user opens a child's record: the controlled list of reasons (ACC-3).

ACC-3: "A user states a reason before opening a child's record"; RET-6: the
archive is read only for a serious case review or a child death, "with the
reason audited". Pure: no I/O, no clock.

A reason is a :class:`ReasonCode` from a closed list, so the audit can count
and compare reasons across users. Free text goes only with
:attr:`ReasonCode.OTHER`, which needs it; every other reason refuses it, so
there is as little free text in the audit as possible.

The free text is written to the audit log, which must carry identifiers and
codes, never case information (REC-6, ACC-5). It is kept short and checked,
pragmatically (this is a guard against accidents, not a classifier):

- surrounding whitespace is removed; inner runs of spaces become one;
- ``reason_text_min_length`` to ``reason_text_max_length`` characters
  (*(policy)*, :class:`~contactpoint_sdk.policy.settings.PolicySettings`);
- one printable line: no control characters, no line breaks;
- nothing shaped like a person's data: no run of 5 or more digits (an NHS
  number, a ULN, a phone number, a case number), nothing like a UPN, no
  ``@`` (an e-mail address), no UK postcode.

Mediated access (ACC-6) has no reason of its own: the session records that a
user acts for a practitioner, and the reason stated is the practitioner's
(what they need the record for), so the audit keeps the purpose as well as
both people.

Refusals: :class:`ReasonRequired` (``reason_required``,
``reason_text_required``) and :class:`ReasonInvalid` (``reason_unknown``,
``reason_not_applicable``, ``reason_text_not_allowed``,
``reason_text_invalid``), all rule ``ACC-3``.
"""

from __future__ import annotations

import enum
import re

import attrs

from contactpoint_sdk.errors import ReasonInvalid, ReasonRequired
from contactpoint_sdk.policy.settings import DEFAULT_POLICY, PolicySettings
from contactpoint_sdk.policy.viewer import Purpose

__all__ = ["ReasonCode", "StatedReason", "require_reason"]

RULE = "ACC-3"


class ReasonCode(enum.Enum):
    """The controlled list of reasons for opening a record (ACC-3).

    :attr:`label` is the wording to show a user. The last two are for reading
    the archive only (RET-6); every other one for live records only.
    """

    CHILD_PROTECTION = "child_protection"
    ASSESSMENT = "assessment"
    COORDINATING_SERVICES = "coordinating_services"
    CONTACTING_PRACTITIONER = "contacting_practitioner"
    NEW_TO_SERVICE = "new_to_service"
    UNIVERSAL_SERVICES_CHECK = "universal_services_check"
    MULTI_AGENCY_MEETING = "multi_agency_meeting"
    REFERRAL = "referral"
    OTHER = "other"
    # the archive (RET-6)
    SERIOUS_CASE_REVIEW = "serious_case_review"
    CHILD_DEATH_REVIEW = "child_death_review"

    @property
    def label(self) -> str:
        """The reason as a user reads it."""
        return _LABELS[self]

    @property
    def for_archive(self) -> bool:
        """True for the reasons that open the archive (RET-6)."""
        return self in _ARCHIVE

    @property
    def needs_text(self) -> bool:
        """True for :attr:`OTHER`, which needs free text."""
        return self is ReasonCode.OTHER


_LABELS = {
    ReasonCode.CHILD_PROTECTION: "a child protection or safeguarding concern",
    ReasonCode.ASSESSMENT: "assessing the child's needs (including a CAF assessment)",
    ReasonCode.COORDINATING_SERVICES: "coordinating services as lead professional",
    ReasonCode.CONTACTING_PRACTITIONER: "contacting a practitioner working with the child",
    ReasonCode.NEW_TO_SERVICE: "the child is new to my setting or service",
    ReasonCode.UNIVERSAL_SERVICES_CHECK: (
        "checking the child has an education setting and a GP (REC-7)"
    ),
    ReasonCode.MULTI_AGENCY_MEETING: "preparing for or following up a multi-agency meeting",
    ReasonCode.REFERRAL: "making or receiving a referral",
    ReasonCode.OTHER: "another reason (explain briefly, with no details of the child)",
    ReasonCode.SERIOUS_CASE_REVIEW: "a serious case review by the LSCB (RET-6)",
    ReasonCode.CHILD_DEATH_REVIEW: "investigating a child's death (RET-6)",
}

_ARCHIVE = frozenset({ReasonCode.SERIOUS_CASE_REVIEW, ReasonCode.CHILD_DEATH_REVIEW})

# Case-information shapes refused in free text (module notes).
_LONG_NUMBER = re.compile(r"\d[\d ]{3,}\d")  # 5+ digits, maybe spaced (NHS "943 476 5919")
_UPN_SHAPE = re.compile(r"\b[A-Z]\d{11}[A-Z0-9]\b", re.IGNORECASE)
_POSTCODE_SHAPE = re.compile(
    r"\b(?:[A-Z]{1,2}\d[A-Z\d]?|GIR) ?\d[ABD-HJLNP-UW-Z]{2}\b", re.IGNORECASE
)
_SPACES = re.compile(r"\s+")
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


@attrs.frozen(kw_only=True)
class StatedReason:
    """A reason a user stated (ACC-3): the code, and for "other" its text.

    Build one with :func:`require_reason`, which checks it. ``text`` is
    ``None`` for every listed reason.
    """

    code: ReasonCode
    text: str | None = None

    @property
    def audit_code(self) -> str:
        """The code as written to the audit log (``"child_protection"``)."""
        return self.code.value


def _digits_in(match: str) -> int:
    return sum(ch.isdigit() for ch in match)


def _check_text(text: str, settings: PolicySettings) -> str:
    if any(ch in _LINE_BREAKS for ch in text):
        raise ReasonInvalid("the reason must be one line", code="reason_text_invalid")
    cleaned = _SPACES.sub(" ", text).strip()
    if not cleaned.isprintable():
        raise ReasonInvalid(
            "the reason has characters that cannot be printed", code="reason_text_invalid"
        )
    if len(cleaned) < settings.reason_text_min_length:
        raise ReasonInvalid(
            f"explain the reason in at least {settings.reason_text_min_length} characters",
            code="reason_text_invalid",
        )
    if len(cleaned) > settings.reason_text_max_length:
        raise ReasonInvalid(
            f"explain the reason in at most {settings.reason_text_max_length} characters",
            code="reason_text_invalid",
        )
    if "@" in cleaned:
        raise ReasonInvalid(
            "the reason must not contain an e-mail address", code="reason_text_invalid"
        )
    if any(_digits_in(m.group()) >= 5 for m in _LONG_NUMBER.finditer(cleaned)):
        raise ReasonInvalid(
            "the reason must not contain an identifier, phone or case number",
            code="reason_text_invalid",
        )
    if _UPN_SHAPE.search(cleaned) or _POSTCODE_SHAPE.search(cleaned):
        raise ReasonInvalid(
            "the reason must not contain an identifier or a postcode", code="reason_text_invalid"
        )
    return cleaned


def require_reason(
    code: ReasonCode | str | None,
    text: str | None = None,
    *,
    purpose: Purpose = Purpose.PRACTICE,
    settings: PolicySettings = DEFAULT_POLICY,
) -> StatedReason:
    """The reason a user stated, checked (ACC-3, RET-6); raises if refused.

    ``code`` is a :class:`ReasonCode` or its wire value; ``text`` the free
    text, needed with ``other`` and refused with anything else (blank text
    counts as none). ``purpose`` is what the record is opened for: an archive
    review (``Purpose.ARCHIVE_REVIEW``) needs one of the archive reasons,
    anything else one of the others.
    """
    if code is None or (isinstance(code, str) and not code.strip()):
        raise ReasonRequired("state a reason before opening a child's record")
    if isinstance(code, ReasonCode):
        reason = code
    else:
        try:
            reason = ReasonCode(code.strip())
        except ValueError:
            raise ReasonInvalid(
                "that reason is not on the list of reasons", code="reason_unknown"
            ) from None
    archive = purpose is Purpose.ARCHIVE_REVIEW
    if reason.for_archive != archive:
        raise ReasonInvalid(
            "the archive is read only for a serious case review or a child death (RET-6)"
            if archive
            else "that reason is for reading the archive only (RET-6)",
            code="reason_not_applicable",
        )
    has_text = text is not None and bool(text.strip())
    if not reason.needs_text:
        if has_text:
            raise ReasonInvalid(
                "free text goes only with the reason 'other'", code="reason_text_not_allowed"
            )
        return StatedReason(code=reason)
    if text is None or not has_text:
        raise ReasonRequired(
            "the reason 'other' needs a short explanation", code="reason_text_required"
        )
    return StatedReason(code=reason, text=_check_text(text, settings))
