"""The child's record: plain attrs declarations for REC-1..REC-7.

Every class is frozen, slotted and keyword-only. How they become JSON lives in
:mod:`contactpoint_sdk.models.codec`, never here. There is no free-text field
anywhere that could carry case information (REC-6): no notes, no comments, no
flags, no SEN statement indicator, no offence indicator. Text fields hold names,
job titles and address lines only, each checked for its shape.

Construction checks what one object can check on its own (a name's characters,
an end date after a start date) and reports every problem at once as a
:class:`~contactpoint_sdk.errors.ValidationError`. Rules that need a date
("born in the future"), a viewer or the consent rules live in the codec and in
:mod:`contactpoint_sdk.policy`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime

import attrs

from contactpoint_sdk.errors import Problem, ValidationError
from contactpoint_sdk.models._decode_checks import (
    Checks,
    Expr,
    Text,
    Whole,
    object_test,
    remembering,
)
from contactpoint_sdk.models.contact import EmailAddress, PhoneNumber, Postcode
from contactpoint_sdk.models.enums import (
    CarerRelationship,
    ConsentGiver,
    ContactRetention,
    Gender,
    OrganisationKind,
    OverrideGround,
    PhoneKind,
    RetentionExtensionReason,
    ServiceKind,
    ShieldGround,
    ShieldReviewParty,
)
from contactpoint_sdk.models.identifiers import DirectoryId, NhsNumber, SchoolReference, Uln, Upn

__all__ = [
    "DECODE_CHECKS",
    "Address",
    "ChildRecord",
    "Consent",
    "ConsentOverride",
    "ContactDetails",
    "Involvement",
    "LocalAuthorityCarer",
    "Organisation",
    "ParentCarer",
    "PersonName",
    "Phone",
    "Practitioner",
    "RetentionExtension",
    "Shield",
    "ShieldReview",
    "SourceIdentifiers",
]

MAX_NAME_LENGTH = 60
MAX_ADDRESS_LINE_LENGTH = 100
MAX_ADDRESS_LINES = 5
MAX_ORGANISATION_NAME_LENGTH = 120
MAX_JOB_TITLE_LENGTH = 80
MAX_REFERENCE_LENGTH = 64

_NAME_RE = re.compile(r"[^\W\d_]+(?:[ '\u2019.-]+[^\W\d_]+)*\.?")
_ADDRESS_LINE_RE = re.compile(r"[\w ,.'\u2019/&()#-]+")
_REFERENCE_RE = re.compile(r"[A-Za-z0-9._:/-]+")
_LA_CODE_RE = re.compile(r"\d{3}")
_URN_RE = re.compile(r"\d{6}")
_LAESTAB_RE = re.compile(r"\d{7}")
_ODS_RE = re.compile(r"[A-Z0-9]{3,10}")


class _Problems:
    """Collects an object's problems, then raises them together."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, path: str, message: str, code: str, rule: str | None = None) -> None:
        self.items.append(Problem(path=path, message=message, code=code, rule=rule))

    def text(
        self,
        path: str,
        value: str | None,
        *,
        pattern: re.Pattern[str],
        max_length: int,
        what: str,
        code: str,
    ) -> None:
        """Check a short text field's shape: not blank, not too long, no odd characters."""
        if value is None:
            return
        if value != value.strip() or not value:
            self.add(path, f"{what} must not be blank or have spaces at its ends", code)
        elif len(value) > max_length:
            self.add(path, f"{what} is longer than {max_length} characters", code)
        elif not pattern.fullmatch(value):
            self.add(path, f"{what} has characters a {what} cannot have", code)

    def raise_any(self) -> None:
        if self.items:
            raise ValidationError(self.items)


def _name(problems: _Problems, path: str, value: str | None) -> None:
    problems.text(
        path, value, pattern=_NAME_RE, max_length=MAX_NAME_LENGTH, what="name", code="name_invalid"
    )


# --- Fast paths --------------------------------------------------------------------
#
# Each class's __attrs_post_init__ first asks a fast test whether the object is
# certainly fine, and returns at once if so; otherwise the full checks run and
# report exactly as they always have. A fast test answers True only when the
# full checks would find nothing, and False (never an exception) when unsure,
# so the full checks alone decide every refusal.

#: How many accepted texts each memo keeps before it starts afresh.
_MEMO_SIZE = 1 << 14


def _accepts(pattern: re.Pattern[str], max_length: int) -> Callable[[object], bool]:
    """A fast test that ``_Problems.text`` finds nothing wrong with a text.

    True when ``value`` is a ``str`` that is not blank, has no spaces at its
    ends, is at most ``max_length`` long and fully matches ``pattern``: the
    three conditions ``text`` checks. Texts already accepted are remembered
    (names, towns and organisations recur across thousands of records), which
    is safe because the answer depends on nothing but the exact string. Only
    an exact ``str`` is tested; anything else (``None`` included) gets False
    and is left to the full check.
    """
    accepted: set[str] = set()
    fullmatch = pattern.fullmatch

    def test(value: object) -> bool:
        if type(value) is not str:
            return False
        if value in accepted:
            return True
        if value and value == value.strip() and len(value) <= max_length and fullmatch(value):
            if len(accepted) >= _MEMO_SIZE:
                accepted.clear()
            accepted.add(value)
            return True
        return False

    return remembering(test, accepted)  # (generated decoders look in ``accepted`` first)


def _matches(pattern: re.Pattern[str]) -> Callable[[object], bool]:
    """A fast test that ``pattern.fullmatch(value)`` matches an exact ``str``, remembered."""
    accepted: set[str] = set()
    fullmatch = pattern.fullmatch

    def test(value: object) -> bool:
        if type(value) is not str:
            return False
        if value in accepted:
            return True
        if fullmatch(value):
            if len(accepted) >= _MEMO_SIZE:
                accepted.clear()
            accepted.add(value)
            return True
        return False

    return remembering(test, accepted)


_good_name = _accepts(_NAME_RE, MAX_NAME_LENGTH)
_good_address_line = _accepts(_ADDRESS_LINE_RE, MAX_ADDRESS_LINE_LENGTH)
_good_organisation_name = _accepts(_ADDRESS_LINE_RE, MAX_ORGANISATION_NAME_LENGTH)
_good_job_title = _accepts(_ADDRESS_LINE_RE, MAX_JOB_TITLE_LENGTH)
_good_reference = _accepts(_REFERENCE_RE, MAX_REFERENCE_LENGTH)
_good_la_code = _matches(_LA_CODE_RE)
_good_urn = _matches(_URN_RE)
_good_laestab = _matches(_LAESTAB_RE)
_good_ods_code = _matches(_ODS_RE)


@attrs.frozen(kw_only=True)
class PersonName:
    """A person's name (REC-1, REC-2).

    Names are letters, with spaces, hyphens, apostrophes and full stops between
    them (``O'Neill``, ``Smith-Jones``, ``St. John``); no digits or symbols.
    """

    given_name: str
    family_name: str
    middle_names: tuple[str, ...] = ()
    preferred_given_name: str | None = None
    preferred_family_name: str | None = None
    former_family_names: tuple[str, ...] = ()

    def __attrs_post_init__(self) -> None:
        if _person_name_ok(self):  # fast path: nothing for the checks below to find
            return
        p = _Problems()
        _name(p, "given_name", self.given_name)
        _name(p, "family_name", self.family_name)
        for i, n in enumerate(self.middle_names):
            _name(p, f"middle_names[{i}]", n)
        _name(p, "preferred_given_name", self.preferred_given_name)
        _name(p, "preferred_family_name", self.preferred_family_name)
        for i, n in enumerate(self.former_family_names):
            _name(p, f"former_family_names[{i}]", n)
        p.raise_any()

    @property
    def display(self) -> str:
        """The name as people use it: preferred names where given."""
        return (
            f"{self.preferred_given_name or self.given_name} "
            f"{self.preferred_family_name or self.family_name}"
        )


@attrs.frozen(kw_only=True)
class Address:
    """A postal address in England (REC-1, REC-2, REC-3).

    One to five lines, then town, county and postcode. ``postcode`` may be
    absent (no fixed abode, or not known): pseudo-postcodes are refused by
    :class:`~contactpoint_sdk.models.contact.Postcode`. ``uprn`` is the
    Unique Property Reference Number where the source holds it.
    """

    lines: tuple[str, ...]
    town: str | None = None
    county: str | None = None
    postcode: Postcode | None = None
    uprn: str | None = None

    def __attrs_post_init__(self) -> None:
        if _address_ok(self):  # fast path: nothing for the checks below to find
            return
        p = _Problems()
        if not 1 <= len(self.lines) <= MAX_ADDRESS_LINES:
            p.add("lines", f"an address has 1 to {MAX_ADDRESS_LINES} lines", "address_lines")
        for i, line in enumerate(self.lines):
            p.text(
                f"lines[{i}]",
                line,
                pattern=_ADDRESS_LINE_RE,
                max_length=MAX_ADDRESS_LINE_LENGTH,
                what="address line",
                code="address_line_invalid",
            )
        for field in ("town", "county"):
            p.text(
                field,
                getattr(self, field),
                pattern=_ADDRESS_LINE_RE,
                max_length=MAX_ADDRESS_LINE_LENGTH,
                what=field,
                code="address_line_invalid",
            )
        if self.uprn is not None and not (self.uprn.isdigit() and 1 <= len(self.uprn) <= 12):
            p.add("uprn", "a UPRN is 1 to 12 digits", "uprn_invalid")
        p.raise_any()


@attrs.frozen(kw_only=True)
class Phone:
    """A phone number and which phone it is."""

    number: PhoneNumber
    kind: PhoneKind = PhoneKind.OTHER


@attrs.frozen(kw_only=True)
class ContactDetails:
    """How to reach a person or organisation (REC-2, REC-3, REC-4)."""

    phones: tuple[Phone, ...] = ()
    email: EmailAddress | None = None
    address: Address | None = None


@attrs.frozen(kw_only=True)
class ParentCarer:
    """A parent or carer of the child, whatever the parents' marital status (REC-2).

    ``address_as_child`` says the carer lives at the child's address, in
    which case ``contact.address`` is usually left empty.
    """

    name: PersonName
    relationship: CarerRelationship
    parental_responsibility: bool
    contact: ContactDetails = attrs.Factory(ContactDetails)
    address_as_child: bool = False


@attrs.frozen(kw_only=True)
class LocalAuthorityCarer:
    """A local authority recorded as a carer because it shares parental
    responsibility for the child (REC-2); ``la_code`` is the DfE 3-digit code."""

    la_code: str
    name: str
    contact: ContactDetails = attrs.Factory(ContactDetails)

    def __attrs_post_init__(self) -> None:
        if _good_la_code(self.la_code) and _good_organisation_name(self.name):  # fast path
            return
        p = _Problems()
        if not _LA_CODE_RE.fullmatch(self.la_code):
            p.add("la_code", "a local authority code is 3 digits", "la_code_invalid", "REC-2")
        _organisation_name(p, "name", self.name)
        p.raise_any()


def _organisation_name(p: _Problems, path: str, value: str) -> None:
    p.text(
        path,
        value,
        pattern=_ADDRESS_LINE_RE,
        max_length=MAX_ORGANISATION_NAME_LENGTH,
        what="organisation name",
        code="organisation_name_invalid",
    )


@attrs.frozen(kw_only=True)
class Organisation:
    """A school, GP practice, local authority team or other service provider
    (REC-3, REC-4), with the identifiers its sector uses: DfE URN and LAESTAB
    for schools, ODS code for NHS organisations."""

    name: str
    kind: OrganisationKind
    contact: ContactDetails = attrs.Factory(ContactDetails)
    urn: str | None = None
    laestab: str | None = None
    ods_code: str | None = None

    def __attrs_post_init__(self) -> None:
        if _organisation_ok(self):  # fast path: nothing for the checks below to find
            return
        p = _Problems()
        _organisation_name(p, "name", self.name)
        if self.urn is not None and not _URN_RE.fullmatch(self.urn):
            p.add("urn", "a URN is 6 digits", "urn_invalid")
        if self.laestab is not None and not _LAESTAB_RE.fullmatch(self.laestab):
            p.add("laestab", "a LAESTAB is 7 digits (LA code and establishment)", "laestab_invalid")
        if self.ods_code is not None and not _ODS_RE.fullmatch(self.ods_code):
            p.add("ods_code", "an ODS code is 3 to 10 capitals and digits", "ods_code_invalid")
        p.raise_any()

    @property
    def key(self) -> str | None:
        """A stable key for the organisation: ``urn:…``, ``ods:…`` or ``laestab:…``."""
        if self.urn is not None:
            return f"urn:{self.urn}"
        if self.ods_code is not None:
            return f"ods:{self.ods_code}"
        if self.laestab is not None:
            return f"laestab:{self.laestab}"
        return None


@attrs.frozen(kw_only=True)
class Practitioner:
    """A practitioner working with the child, and how to reach them (REC-3, REC-4)."""

    name: PersonName
    job_title: str | None = None
    contact: ContactDetails = attrs.Factory(ContactDetails)

    def __attrs_post_init__(self) -> None:
        if self.job_title is None or _good_job_title(self.job_title):  # fast path
            return
        p = _Problems()
        p.text(
            "job_title",
            self.job_title,
            pattern=_ADDRESS_LINE_RE,
            max_length=MAX_JOB_TITLE_LENGTH,
            what="job title",
            code="job_title_invalid",
        )
        p.raise_any()


@attrs.frozen(kw_only=True)
class Consent:
    """Informed, explicit consent to record a sensitive involvement (SENS-2).

    Who consented (the child, or a parent/carer where the child lacks
    sufficient understanding), when, and on whose authority it was recorded.
    Whether it suffices is decided by :mod:`contactpoint_sdk.policy`.
    """

    given_by: ConsentGiver
    given_on: date
    recorded_by: PersonName
    giver_name: PersonName | None = None
    child_lacks_understanding: bool = False
    withdrawn_on: date | None = None

    def __attrs_post_init__(self) -> None:
        p = _Problems()
        if self.withdrawn_on is not None and self.withdrawn_on < self.given_on:
            p.add("withdrawn_on", "consent cannot be withdrawn before it was given", "date_order")
        p.raise_any()


@attrs.frozen(kw_only=True)
class ConsentOverride:
    """Lack of consent overridden on a specified ground with a named
    authoriser (SENS-3). The ground is a closed list; no free text."""

    ground: OverrideGround
    authorised_by: PersonName
    authorised_on: date


@attrs.frozen(kw_only=True)
class Involvement:
    """A service involved with the child (REC-3, REC-4, REC-5, SENS-1).

    ``reference`` is the supplier's own reference for the involvement, so a
    receipt maps back to the source row. ``lead_professional`` and
    ``caf_completed`` are the REC-5 indicators (no consent needed for CAF).
    A sensitive involvement carries its consent or override (SENS-2, SENS-3).
    Nothing here reveals a SEN statement or an offence (REC-6).
    """

    reference: str
    service: ServiceKind
    organisation: Organisation
    started_on: date
    practitioner: Practitioner | None = None
    lead_professional: bool = False
    caf_completed: bool = False
    ended_on: date | None = None
    contact_retention: ContactRetention = ContactRetention.STANDARD
    consent: Consent | None = None
    consent_override: ConsentOverride | None = None

    def __attrs_post_init__(self) -> None:
        if _involvement_ok(self):  # fast path: nothing for the checks below to find
            return
        p = _Problems()
        p.text(
            "reference",
            self.reference,
            pattern=_REFERENCE_RE,
            max_length=MAX_REFERENCE_LENGTH,
            what="reference",
            code="reference_invalid",
        )
        if self.ended_on is not None and self.ended_on < self.started_on:
            p.add("ended_on", "an involvement cannot end before it started", "date_order")
        if (
            self.contact_retention is ContactRetention.EXTENDED
            and not self.service.is_specialist_or_targeted
        ):
            p.add(
                "contact_retention",
                "only a specialist or targeted service may keep contact details for five years",
                "contact_retention_not_allowed",
                "RET-7",
            )
        if not self.service.is_sensitive:
            for field in ("consent", "consent_override"):
                if getattr(self, field) is not None:
                    p.add(
                        field,
                        "consent is recorded only for sensitive services",
                        "consent_not_applicable",
                        "SENS-5",
                    )
        p.raise_any()

    @property
    def is_sensitive(self) -> bool:
        """True for a SENS-1 service."""
        return self.service.is_sensitive


@attrs.frozen(kw_only=True)
class SourceIdentifiers:
    """The identifiers that let a supplier identify the child (REC-1).

    At least one is needed. ``former_upns`` keeps UPNs the child had before
    (CTF ``FormerUPN``), so a school's earlier supply still matches.
    """

    upn: Upn | None = None
    former_upns: tuple[Upn, ...] = ()
    uln: Uln | None = None
    nhs_number: NhsNumber | None = None
    school_references: tuple[SchoolReference, ...] = ()

    def __attrs_post_init__(self) -> None:
        if (
            self.upn is None
            and self.uln is None
            and self.nhs_number is None
            and not self.school_references
        ):
            raise ValidationError.single(
                "at least one of upn, uln, nhs_number or school_references is needed",
                code="identifier_required",
                rule="REC-1",
            )


@attrs.frozen(kw_only=True)
class ShieldReview:
    """A management team's review of a shield (SHLD-3)."""

    reviewed_on: date
    reviewed_by: str
    views_considered: tuple[ShieldReviewParty, ...]
    maintained: bool

    def __attrs_post_init__(self) -> None:
        if not self.views_considered:
            raise ValidationError.single(
                "a review records the views taken into account",
                code="review_views_required",
                rule="SHLD-3",
                path="views_considered",
            )


@attrs.frozen(kw_only=True)
class Shield:
    """A shield on the record: in effect from ``requested_at`` (SHLD-2), on a
    SHLD-4 ground, requested by a user with the right (SHLD-6)."""

    requested_at: datetime
    ground: ShieldGround
    requested_by: str
    reviews: tuple[ShieldReview, ...] = ()


@attrs.frozen(kw_only=True)
class RetentionExtension:
    """Consent to keep the record past the 18th birthday (RET-2)."""

    reason: RetentionExtensionReason
    consented_on: date


@attrs.frozen(kw_only=True)
class ChildRecord:
    """One child's record in the directory (REC-1..REC-7).

    ``directory_id`` is assigned by the directory, never by a supplier.
    ``local_authority`` is the DfE code of the authority the child lives in,
    set by the directory; its management team administers the record.
    ``died_on``, ``left_england_on`` and ``retention_extension`` drive the
    lifecycle (RET-1..RET-4); ``shield`` drives redaction (SHLD-1).
    """

    directory_id: DirectoryId
    name: PersonName
    gender: Gender
    date_of_birth: date
    address: Address
    identifiers: SourceIdentifiers
    parents: tuple[ParentCarer | LocalAuthorityCarer, ...] = ()
    involvements: tuple[Involvement, ...] = ()
    local_authority: str | None = None
    shield: Shield | None = None
    died_on: date | None = None
    left_england_on: date | None = None
    retention_extension: RetentionExtension | None = None

    def __attrs_post_init__(self) -> None:
        if _child_record_ok(self):  # fast path: nothing for the checks below to find
            return
        p = _Problems()
        if self.died_on is not None and self.died_on < self.date_of_birth:
            p.add("died_on", "a date of death cannot be before the date of birth", "date_order")
        if self.local_authority is not None and not _LA_CODE_RE.fullmatch(self.local_authority):
            p.add("local_authority", "a local authority code is 3 digits", "la_code_invalid")
        seen: set[str] = set()
        for i, inv in enumerate(self.involvements):
            if inv.reference in seen:
                p.add(
                    f"involvements[{i}].reference",
                    "two involvements share this reference",
                    "reference_duplicate",
                )
            seen.add(inv.reference)
            if inv.started_on < self.date_of_birth and inv.service not in _BEFORE_BIRTH:
                p.add(
                    f"involvements[{i}].started_on",
                    "an involvement cannot start before the child was born",
                    "date_order",
                )
        p.raise_any()


# A midwife is involved before the birth.
_BEFORE_BIRTH = frozenset({ServiceKind.MIDWIFE})


# --- The fast tests, one per class with checks (see "Fast paths" above) ----------
# Each is the negation of its class's checks, condition by condition, on the same
# expressions; where those could raise, an exception means "unsure" (False).
# Most are written as conditions (``_decode_checks.Checks``): the class's fast
# test is made from them (``object_test``), and the codec's generated decoders
# write the same conditions out in line on the values they decode
# (DECODE_CHECKS below). The names ``_MAX_LINES``, ``_SERVICE_KIND`` ... are
# what the expressions call the module's constants.

_PERSON_NAME_CHECKS = Checks(
    (
        Text("given_name", _good_name),
        Text("family_name", _good_name),
        # (an empty tuple passes at once: most names have no middle or former names)
        Text("middle_names", _good_name, "each"),
        Text("preferred_given_name", _good_name, "optional"),
        Text("preferred_family_name", _good_name, "optional"),
        Text("former_family_names", _good_name, "each"),
    )
)

_ADDRESS_CHECKS = Checks(
    (
        Text("lines", _good_address_line, "each"),
        Expr("1 <= len({lines}) <= _MAX_LINES", {"_MAX_LINES": MAX_ADDRESS_LINES}),
        Text("town", _good_address_line, "optional"),
        Text("county", _good_address_line, "optional"),
        Expr(
            "{uprn} is None"
            " or (type({uprn}) is str and {uprn}.isdigit() and 1 <= len({uprn}) <= 12)"
        ),
    )
)

_ORGANISATION_CHECKS = Checks(
    (
        Text("name", _good_organisation_name),
        Text("urn", _good_urn, "optional"),
        Text("laestab", _good_laestab, "optional"),
        Text("ods_code", _good_ods_code, "optional"),
    )
)

_INVOLVEMENT_CHECKS = Checks(
    (
        # (the checks always ask the service; only a ServiceKind surely answers)
        Expr("type({service}) is _SERVICE_KIND", {"_SERVICE_KIND": ServiceKind}),
        Text("reference", _good_reference),
        Expr("{ended_on} is None or not {ended_on} < {started_on}"),
        Expr(
            "{contact_retention} is _STANDARD_RETENTION or {service}.is_specialist_or_targeted",
            {"_STANDARD_RETENTION": ContactRetention.STANDARD},
        ),
        Expr("({consent} is None and {consent_override} is None) or {service}.is_sensitive"),
    )
)

_person_name_ok = object_test(PersonName, _PERSON_NAME_CHECKS)
_address_ok = object_test(Address, _ADDRESS_CHECKS)
_organisation_ok = object_test(Organisation, _ORGANISATION_CHECKS)
_involvement_ok = object_test(Involvement, _INVOLVEMENT_CHECKS)


def _child_record_ok(r: ChildRecord) -> bool:
    born, died_on, involvements = r.date_of_birth, r.died_on, r.involvements
    if type(involvements) is not tuple:
        return False
    try:
        if (died_on is not None and died_on < born) or (
            r.local_authority is not None and not _good_la_code(r.local_authority)
        ):
            return False
        seen: set[str] = set()
        for inv in involvements:
            reference = inv.reference
            if reference in seen or (inv.started_on < born and inv.service not in _BEFORE_BIRTH):
                return False
            seen.add(reference)
    except Exception:  # unsure: the checks decide (and raise as they always have)
        return False
    return True


#: For the codec's generated decoders: per class with checks, conditions under
#: which its ``__attrs_post_init__`` finds nothing (so it need not run), on the
#: values just decoded. Each is the class's own fast test (the same ``Checks``,
#: or the same expressions as its ``__attrs_post_init__``'s first line):
#: where one fails the decoder runs ``__attrs_post_init__``, which decides.
DECODE_CHECKS: dict[type, Checks] = {
    PersonName: _PERSON_NAME_CHECKS,  # REC-1, REC-2: names' shapes
    Address: _ADDRESS_CHECKS,  # REC-1..REC-3: lines, town, county, UPRN
    Organisation: _ORGANISATION_CHECKS,  # REC-3, REC-4: name, URN, LAESTAB, ODS code
    Involvement: _INVOLVEMENT_CHECKS,  # REC-3..REC-5, RET-7, SENS-5
    # The fast tests in these classes' __attrs_post_init__, as conditions:
    LocalAuthorityCarer: Checks(  # REC-2: a 3-digit LA code, an organisation name
        (Text("la_code", _good_la_code), Text("name", _good_organisation_name))
    ),
    Practitioner: Checks((Text("job_title", _good_job_title, "optional"),)),  # REC-3, REC-4
    # These classes' checks, negated:
    Consent: Checks(  # SENS-2: not withdrawn before it was given
        (Expr("{withdrawn_on} is None or not {withdrawn_on} < {given_on}"),)
    ),
    SourceIdentifiers: Checks(  # REC-1: at least one identifier
        (
            Expr(
                "{upn} is not None or {uln} is not None or {nhs_number} is not None"
                " or bool({school_references})"
            ),
        )
    ),
    ShieldReview: Checks((Expr("bool({views_considered})"),)),  # SHLD-3: views recorded
    ChildRecord: Checks((Whole(_child_record_ok),)),  # REC-1, REC-3: dates, references
}
