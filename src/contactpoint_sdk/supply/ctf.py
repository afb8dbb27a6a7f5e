"""Read a DfE Common Transfer File (CTF) into the record model (SUP-2, REC-1, REC-2).

A school MIS exports its roll as a CTF (``docs/ctf.md`` names the elements,
the versions and the public sources). This module reads one, safely and as a
stream, and maps each pupil to what a
:class:`~contactpoint_sdk.models.operations.SuppliedChild` needs: the child's
name, gender, date of birth and address and the source identifiers (REC-1), and
each contact who is a parent or carer (REC-2).

::

    result = read_ctf("8012010_CTF_801LLLL_001.xml")
    for pupil in result.pupils:
        if pupil.ok:
            child = pupil.child.supplied_child(
                ref=f"pupil-{pupil.position}",
                school=result.header.school,
                started_on=pupil.child.entry_date or result.header.extract_date,
            )
        else:
            for problem in pupil.problems:     # path and rule, never a value
                print(pupil.position, problem)

**Safety.** The file is parsed by :mod:`defusedxml` with document type
declarations refused: a DTD, an entity declaration (the "billion laughs"
expansion) or an external entity (XXE) refuses the *whole file* with
:class:`CtfUnsafe` (rule SUP-5: the directory takes only what the supplier's
own file holds, sent securely) before a single pupil is produced, so nothing
is ever sent from it. A file that is not well-formed XML, is not a CTF, or has
a header without the source school's LA and establishment numbers is refused
whole with :class:`CtfRefused`.

**Per pupil.** Every pupil is mapped on its own: a pupil's problems (a missing
UPN, a wrong check letter, an unreadable date of birth ...) are reported as
:class:`~contactpoint_sdk.errors.Problem` s naming the pupil's 1-based
position in the file and the field's path in CTF terms
(``Contacts/Contact[2]/Phones/Phone[1]/PhoneNo``), with the rule where one
applies (REC-1 for the pupil's identity, REC-2 for a parent or carer). They
never stop the other pupils. Messages never quote a value (ARCHITECTURE.md:
logs carry no child's or parent's data).

**Never taken in (REC-6).** Attendance, assessments, free school meals,
ethnicity, languages, medical flags, disabilities, SEN history and the other
blocks of case information are skipped unread. Elements the reader does not
know (a later CTF version's, or a supplier's extension) are ignored and
reported as :class:`CtfNote` s, not failures.

**Streaming.** :func:`iter_ctf` parses incrementally (``iterparse``) and
drops each pupil's elements once mapped, so memory stays flat however long
the file; :func:`read_ctf` is the same, collected into a list. Elements
other than ``Pupil`` under ``CTFpupilData`` or ``CTfile`` are noted (once per
name) and dropped too. Text is capped: an element's text longer than
:data:`MAX_ELEMENT_TEXT`, or a pupil whose text totals more than
:data:`MAX_PUPIL_TEXT` or who has more than :data:`MAX_PUPIL_ELEMENTS`
elements, is a per-pupil problem (``ctf_pupil_too_large``) and the pupil's
elements are dropped as they are read; in the header, the file is refused.

**Encodings.** Only the encodings the XML parser knows natively are read:
UTF-8, UTF-16, ISO-8859-1 and US-ASCII. A file declaring any other (UTF-32,
Shift-JIS, UTF-7, an unknown name) is refused whole before parsing
(``ctf_encoding_unsupported``).

**Dates.** A ``Header/DateTime`` more than a day after now (the ``now``
given, else the system clock) is refused whole (``ctf_date_time_future``,
SUP-8): it would make every genuine later export look stale.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from functools import partial
from os import PathLike
from typing import IO, Final, Protocol, TypeVar
from xml.etree.ElementTree import Element, ParseError

import attrs
from defusedxml import (
    DTDForbidden,
    EntitiesForbidden,
    ExternalReferenceForbidden,
)
from defusedxml.ElementTree import iterparse

from contactpoint_sdk._client import ClosesOnExit
from contactpoint_sdk.errors import ContactPointError, Problem, ValidationError
from contactpoint_sdk.models.contact import EmailAddress, PhoneNumber, Postcode
from contactpoint_sdk.models.enums import (
    CarerRelationship,
    Gender,
    OrganisationKind,
    PhoneKind,
    ServiceKind,
)
from contactpoint_sdk.models.identifiers import ULN_PLACEHOLDER, Uln, Upn
from contactpoint_sdk.models.operations import SuppliedChild
from contactpoint_sdk.models.record import (
    Address,
    ContactDetails,
    Involvement,
    LocalAuthorityCarer,
    Organisation,
    ParentCarer,
    PersonName,
    Phone,
    SourceIdentifiers,
)

__all__ = [
    "CTF_DOCUMENT_NAME",
    "KNOWN_CTF_VERSIONS",
    "MAX_ELEMENT_TEXT",
    "MAX_PUPIL_ELEMENTS",
    "MAX_PUPIL_TEXT",
    "RELATIONSHIP_CODES",
    "SUPPORTED_ENCODINGS",
    "CtfChild",
    "CtfHeader",
    "CtfNote",
    "CtfPupilResult",
    "CtfReadResult",
    "CtfRefused",
    "CtfSchool",
    "CtfStale",
    "CtfStream",
    "CtfUnsafe",
    "iter_ctf",
    "read_ctf",
]

#: The ``Header/DocumentName`` of a CTF.
CTF_DOCUMENT_NAME: Final = "Common Transfer File"

#: CTF major versions this reader was written against (``Header/CTFversion``
#: ``"25.0"`` → 25). The version follows the academic year: CTF 9 in 2009,
#: then 10.0 … 25.0. Another version is read all the same, with a note.
KNOWN_CTF_VERSIONS: Final = frozenset(range(9, 26))

#: ``Contact/Relationship`` codes (the CBDS "relationship to pupil" code set,
#: as CTF carries it) read as a parent or carer (REC-2). A contact with any
#: other code (doctor, childminder, social worker, other contact ...) is not a
#: parent or carer and is not supplied, unless it holds parental
#: responsibility, when it is supplied as ``other_carer``. See docs/ctf.md
#: for which codes are the CBDS's and which the project's choice.
RELATIONSHIP_CODES: Final[dict[str, CarerRelationship]] = {
    "PAM": CarerRelationship.MOTHER,
    "PAF": CarerRelationship.FATHER,
    "STM": CarerRelationship.STEP_PARENT,
    "STF": CarerRelationship.STEP_PARENT,
    "STP": CarerRelationship.STEP_PARENT,
    "FOM": CarerRelationship.FOSTER_CARER,
    "FOF": CarerRelationship.FOSTER_CARER,
    "FOC": CarerRelationship.FOSTER_CARER,
    "GRM": CarerRelationship.GRANDPARENT,
    "GRF": CarerRelationship.GRANDPARENT,
    "GRP": CarerRelationship.GRANDPARENT,
    "ADM": CarerRelationship.ADOPTIVE_PARENT,
    "ADF": CarerRelationship.ADOPTIVE_PARENT,
    "ADP": CarerRelationship.ADOPTIVE_PARENT,
    "GUA": CarerRelationship.GUARDIAN,
    "CAR": CarerRelationship.OTHER_CARER,
    "REL": CarerRelationship.OTHER_RELATIVE,
    "FAM": CarerRelationship.OTHER_RELATIVE,
}
#: ``PAR`` (parent, unspecified) is read by the contact's ``Gender``.
_PARENT_CODE = "PAR"

_PHONE_KINDS: Final = {"H": PhoneKind.HOME, "M": PhoneKind.MOBILE, "W": PhoneKind.WORK}
_GENDERS: Final = {"M": Gender.MALE, "F": Gender.FEMALE, "U": Gender.NOT_KNOWN}
_TRUE: Final = frozenset({"true", "1", "yes", "y"})
_FALSE: Final = frozenset({"false", "0", "no", "n"})
_NAME_TAG_RE = re.compile(r"[A-Za-z_][A-Za-z0-9._-]{0,63}")
_NUMBERED_PAON_RE = re.compile(r"\d+[A-Za-z]?(?:-\d+[A-Za-z]?)?")
_VERSION_RE = re.compile(r"(\d{1,3})(?:\.\d{1,3})?")
_LA_RE = re.compile(r"\d{3}")
_ESTAB_RE = re.compile(r"\d{4}")
_URN_RE = re.compile(r"\d{6}")

#: The most characters one element's text may hold (64 KiB): no CTF field
#: comes near it.
MAX_ELEMENT_TEXT: Final = 64 * 1024
#: The most characters of text one pupil may hold, all elements together.
MAX_PUPIL_TEXT: Final = 1024 * 1024
#: The most elements one pupil may hold (a pupil with every block the reader
#: skips has a few hundred).
MAX_PUPIL_ELEMENTS: Final = 20_000
#: The encodings a CTF may declare (lower case): those the XML parser reads
#: natively. Any other is refused before parsing.
SUPPORTED_ENCODINGS: Final = frozenset(
    {"utf-8", "utf8", "utf-16", "utf-16le", "utf-16be", "iso-8859-1", "us-ascii"}
)
#: How far ahead of now a ``Header/DateTime`` may be (time zones, clocks a
#: little fast); beyond it the file is refused.
_FUTURE_TOLERANCE: Final = timedelta(days=1)
#: How many bytes are read ahead to find the XML declaration.
_PROLOGUE_BYTES: Final = 1024
_ENCODING_RE = re.compile(rb"""^<\?xml\s[^>]*?\bencoding\s*=\s*["']([^"']{0,64})["']""")

# --- What the reader knows, element by element ------------------------------------
# Per parent element: the children it reads, and the children it knows and
# skips on purpose. A child in neither is reported as a CtfNote.

_HEADER_READ = frozenset(
    {
        "DocumentName",
        "CTFversion",
        "DateTime",
        "DocumentQualifier",
        "DataQualifier",
        "DataDescriptor",
        "SupplierID",
        "SourceSchool",
        "DestSchool",
    }
)
_SCHOOL_READ = frozenset({"LEA", "Estab", "URN", "SchoolName", "AcademicYear"})

#: Pupil blocks of case information (REC-6) or data the directory does not
#: hold: skipped unread, never reported.
_PUPIL_SKIPPED = frozenset(
    {
        "ApplicationReference",
        "UCI",
        "FSMhistory",
        "FSMreviewDate",
        "NAWdetails",
        "SENhistory",
        "Admissions",
        "Attendance",
        "StageAssessments",
        "SchoolsRecord",
        "Phones",  # the child's own phones and email: the record holds none
        "Email",
        "ServiceChild",
        "YSSA",
        "PupilPremium",
        "EarlyYears",
    }
)
_PUPIL_READ = frozenset(
    {
        "UPN",
        "UniqueLearnerNumber",
        "Surname",
        "Forename",
        "DOB",
        "Gender",
        "Sex",
        "BasicDetails",
        "LookedAfter",
        "Address",
        "Contacts",
        "SchoolHistory",
    }
)
_BASIC_READ = frozenset(
    {"FormerUPN", "PreferredSurname", "PreferredForename", "FormerSurname", "MiddleNames"}
)
_BASIC_SKIPPED = frozenset(
    {
        "FormerForename",
        "NCyearActual",
        "Ethnicity",
        "EthnicitySource",
        "Languages",
        "MedicalFlag",
        "Disabilities",
        "EnrolStatus",
        "GenderIdentity",
        "ServiceChild",
        "SENprovision",
    }
)
_LOOKED_AFTER_READ = frozenset({"InCare", "CareAuthority"})
_ADDRESS_READ = frozenset({"BS7666Address", "AddressLines", "County", "PostCode", "AddressAsPupil"})
_ADDRESS_SKIPPED = frozenset({"Zip", "Country", "Easting", "Northing"})
_BS7666_READ = frozenset(
    {
        "SAON",
        "PAON",
        "Street",
        "Locality",
        "Town",
        "AdministrativeArea",
        "PostTown",
        "UniquePropertyReferenceNumber",
    }
)
_LINES_READ = frozenset(f"AddressLine{i}" for i in range(1, 6))
_CONTACT_READ = frozenset(
    {
        "Order",
        "Surname",
        "Forename",
        "MiddleNames",
        "Gender",
        "Relationship",
        "Responsibility",
        "Address",
        "AddressAsPupil",
        "Phones",
        "Email",
    }
)
_CONTACT_SKIPPED = frozenset({"Title", "Sex"})
_PHONE_READ = frozenset({"TelephoneType", "PhoneNo"})


# --- Errors ------------------------------------------------------------------------


class CtfRefused(ContactPointError):
    """The whole file is refused; nothing from it may be sent.

    Codes: ``ctf_malformed`` (not well-formed XML; the message gives the line
    and column), ``ctf_not_a_ctf`` (the root is not ``CTfile``),
    ``ctf_header_invalid`` (no usable ``Header/SourceSchool``: the LA and
    establishment numbers are needed to name the school, REC-3),
    ``ctf_unreadable`` (the file could not be read), ``ctf_encoding_unsupported``
    (an encoding other than :data:`SUPPORTED_ENCODINGS`),
    ``ctf_date_time_future`` (``Header/DateTime`` more than a day ahead,
    SUP-8), ``ctf_text_too_long`` (a header element over
    :data:`MAX_ELEMENT_TEXT`). The supply command adds ``ctf_roll_shrank``
    (SUP-8: too many leavers, at ``CTFpupilData``).

    :ivar path: the field or element the refusal is about, where there is one.
    """

    code = "ctf_refused"
    path: str | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        rule: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message, code=code, rule=rule)
        if path is not None:
            self.path = path


class CtfUnsafe(CtfRefused):
    """A file carrying a document type declaration: an internal or external
    DTD, entity declarations (entity expansion, "billion laughs"), or an
    external entity (XXE). Refused whole before any pupil is read (SUP-5).

    Codes: ``ctf_dtd_forbidden``, ``ctf_entity_forbidden``,
    ``ctf_external_reference_forbidden``.
    """

    code = "ctf_unsafe"
    rule = "SUP-5"


class CtfStale(CtfRefused):
    """A file older than the last one the directory accepted for its school
    (its ``Header/DateTime`` earlier), or one without a ``DateTime`` after a
    dated file was accepted: sending it would put back what the school has
    since corrected (SUP-8, keep the data accurate). Refused whole before
    anything is sent. Code ``ctf_stale``; :attr:`path` is the field,
    ``Header/DateTime``.
    """

    code = "ctf_stale"
    rule = "SUP-8"
    #: The field the refusal is about.
    path = "Header/DateTime"


# --- What is read -------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class CtfSchool:
    """A school as a CTF header names it (``SourceSchool``, ``DestSchool``).

    ``la`` and ``estab`` are the DfE LA and establishment numbers, kept as
    written (a destination may be ``LLLL`` for a local authority, or ``MMMM``
    for unknown); ``laestab`` joins them.
    """

    la: str
    estab: str
    urn: str | None = None
    name: str | None = None
    academic_year: str | None = None

    @property
    def laestab(self) -> str:
        """The LA and establishment numbers joined (``8014002``)."""
        return f"{self.la}{self.estab}"


@attrs.frozen(kw_only=True)
class CtfHeader:
    """The CTF's ``Header``.

    ``version`` is ``CTFversion`` as written (``"25.0"``); ``created_at`` is
    ``DateTime`` (``None`` when absent or unreadable, with a note);
    ``document_qualifier`` is ``full`` or ``partial``.
    """

    version: str
    source: CtfSchool
    destination: CtfSchool | None = None
    created_at: datetime | None = None
    document_name: str | None = None
    document_qualifier: str | None = None
    supplier_id: str | None = None

    @property
    def major_version(self) -> int | None:
        """The CTF version's major number (``"25.0"`` → 25), or ``None``."""
        match = _VERSION_RE.fullmatch(self.version)
        return int(match.group(1)) if match else None

    @property
    def extract_date(self) -> date | None:
        """The day the file was made, from ``DateTime``."""
        return self.created_at.date() if self.created_at is not None else None

    @property
    def school(self) -> Organisation:
        """The source school as the directory records it (REC-3): its name,
        LAESTAB and, where the header gives one, URN."""
        urn = self.source.urn if self.source.urn and _URN_RE.fullmatch(self.source.urn) else None
        return Organisation(
            name=self.source.name or f"School {self.source.laestab}",
            kind=OrganisationKind.SCHOOL,
            urn=urn,
            laestab=self.source.laestab,
        )


@attrs.frozen(kw_only=True)
class CtfNote:
    """Something the reader ignored, for the supplier to know of: never a
    failure. ``position`` is the pupil's (``None`` for the header); ``path``
    is where, in CTF terms; the message quotes no value."""

    position: int | None
    path: str
    code: str
    message: str

    def __str__(self) -> str:
        where = f"pupil {self.position}: " if self.position is not None else ""
        return f"{where}{self.path}: {self.message} [{self.code}]"


@attrs.frozen(kw_only=True)
class CtfChild:
    """One pupil mapped to the record model: what a
    :class:`~contactpoint_sdk.models.operations.SuppliedChild` needs except
    the school's involvement, which :meth:`supplied_child` adds.

    ``entry_date`` is the pupil's ``SchoolHistory/School/EntryDate`` at the
    source school, where the file gives it.
    """

    name: PersonName
    gender: Gender
    date_of_birth: date
    address: Address
    identifiers: SourceIdentifiers
    parents: tuple[ParentCarer | LocalAuthorityCarer, ...] = ()
    entry_date: date | None = None

    @property
    def upn(self) -> Upn:
        """The pupil's UPN (every mapped pupil has one)."""
        assert self.identifiers.upn is not None  # noqa: S101 - the reader requires it
        return self.identifiers.upn

    def supplied_child(self, *, ref: str, school: Organisation, started_on: date) -> SuppliedChild:
        """The supply operation for this pupil: the child and the school's
        education-setting involvement (REC-3), referenced
        ``EDU-<URN or LAESTAB>-<start>``, as the synthetic generator does."""
        key = school.urn or school.laestab or "school"
        involvement = Involvement(
            reference=f"EDU-{key}-{started_on:%Y%m%d}",
            service=ServiceKind.EDUCATION_SETTING,
            organisation=school,
            started_on=started_on,
        )
        return SuppliedChild(
            ref=ref,
            name=self.name,
            gender=self.gender,
            date_of_birth=self.date_of_birth,
            address=self.address,
            identifiers=self.identifiers,
            parents=self.parents,
            involvements=(involvement,),
        )


@attrs.frozen(kw_only=True)
class CtfPupilResult:
    """One pupil's result: the mapped :attr:`child`, or the :attr:`problems`.

    ``position`` is the pupil's 1-based position in the file. ``upn`` is
    the pupil's UPN whenever it is itself valid, even when other fields are
    not: the pupil is then known to be on roll, just not sendable this time.
    """

    position: int
    child: CtfChild | None
    problems: tuple[Problem, ...] = ()
    upn: Upn | None = None

    @property
    def ok(self) -> bool:
        return self.child is not None


@attrs.frozen(kw_only=True)
class CtfReadResult:
    """A whole file, read: the header, every pupil in file order, the notes."""

    header: CtfHeader
    pupils: tuple[CtfPupilResult, ...]
    notes: tuple[CtfNote, ...] = ()

    @property
    def children(self) -> tuple[CtfChild, ...]:
        """The pupils that mapped without problems."""
        return tuple(p.child for p in self.pupils if p.child is not None)

    @property
    def failed(self) -> tuple[CtfPupilResult, ...]:
        """The pupils with problems."""
        return tuple(p for p in self.pupils if p.child is None)


# --- Parsing ----------------------------------------------------------------------


def _local(tag: object) -> str:
    """An element's name without its namespace (the 2010 schema had one;
    current files have none: both are read)."""
    text = tag if isinstance(tag, str) else ""
    return text.rpartition("}")[2]


def _children(element: Element, name: str) -> list[Element]:
    return [c for c in element if _local(c.tag) == name]


def _child(element: Element | None, name: str) -> Element | None:
    if element is None:
        return None
    for c in element:
        if _local(c.tag) == name:
            return c
    return None


def _text(element: Element | None, name: str) -> str | None:
    """The stripped text of ``element``'s first child ``name``; ``None`` if
    absent or empty."""
    found = _child(element, name)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def _tag_for_note(tag: object) -> str:
    name = _local(tag)
    return name if _NAME_TAG_RE.fullmatch(name) else "(an element)"


class _Readable(Protocol):
    """What the reader reads from: anything with a binary ``read``."""

    def read(self, size: int = -1, /) -> bytes: ...


_Source = str | PathLike[str] | _Readable


class CtfStream(ClosesOnExit):
    """An open CTF, read incrementally: :attr:`header`, then the pupils.

    Use :func:`iter_ctf`. Iterating yields one :class:`CtfPupilResult` per
    ``Pupil``, in file order, each element tree dropped once mapped.
    :attr:`notes` grows as the file is read. Raises :class:`CtfUnsafe` or
    :class:`CtfRefused` for a file that must be refused whole: the unsafe ones
    always before the first pupil, since a document type declaration can only
    come before the root element.
    """

    def __init__(self, source: _Source, *, now: datetime | None = None) -> None:
        self._source = source
        self._now = now
        self._handle: IO[bytes] | None = None
        self._events: Iterator[tuple[str, Element]] | None = None
        self._header: CtfHeader | None = None
        self._pupil_data: Element | None = None
        self._position = 0
        self._seen_upns: set[str] = set()
        self._root: Element | None = None
        self._noted_strays: set[str] = set()
        self.notes: list[CtfNote] = []

    # --- life ----------------------------------------------------------------

    def _open(self) -> Iterator[tuple[str, Element]]:
        if self._events is None:
            source: _Readable
            if isinstance(self._source, (str, PathLike)):
                try:
                    self._handle = open(self._source, "rb")  # noqa: SIM115 - closed by close()
                except OSError as error:
                    raise CtfRefused(
                        f"the file could not be read ({type(error).__name__})",
                        code="ctf_unreadable",
                    ) from None
                source = self._handle
            else:
                source = self._source
            self._events = _safe_events(_checked_encoding(source))
        return self._events

    def close(self) -> None:
        """Close the file, if this stream opened it."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    # --- header --------------------------------------------------------------

    @property
    def header(self) -> CtfHeader:
        """The header, reading as far as its end."""
        if self._header is None:
            self._read_header()
        assert self._header is not None  # noqa: S101 - _read_header sets it or raises
        return self._header

    def _read_header(self) -> None:
        events = self._open()
        depth = 0
        for event, element in events:
            name = _local(element.tag)
            if event == "start":
                depth += 1
                if depth == 1:
                    self._root = element
                if depth == 1 and name != "CTfile":
                    raise CtfRefused(
                        "the root element is not CTfile: this is not a common transfer file",
                        code="ctf_not_a_ctf",
                    )
                if depth == 2 and name == "CTFpupilData":
                    raise CtfRefused("the pupils come before the header", code="ctf_header_invalid")
            else:
                if _text_size(element) > MAX_ELEMENT_TEXT:
                    raise CtfRefused(
                        f"a header element's text is longer than {MAX_ELEMENT_TEXT} characters: "
                        "refused whole",
                        code="ctf_text_too_long",
                    )
                if depth == 2 and name == "Header":
                    self._header = self._parse_header(element)
                    return
                depth -= 1
        raise CtfRefused("the file has no Header", code="ctf_header_invalid")

    def _parse_header(self, element: Element) -> CtfHeader:
        self._note_unknown(None, "Header", element, _HEADER_READ)
        source_element = _child(element, "SourceSchool")
        source = (
            self._school(source_element, "SourceSchool") if source_element is not None else None
        )
        if source is None or not (
            _LA_RE.fullmatch(source.la) and _ESTAB_RE.fullmatch(source.estab)
        ):
            raise CtfRefused(
                "Header/SourceSchool needs its LEA (3 digits) and Estab (4 digits) to name "
                "the school (REC-3)",
                code="ctf_header_invalid",
            )
        dest_element = _child(element, "DestSchool")
        destination = self._school(dest_element, "DestSchool") if dest_element is not None else None
        version = _text(element, "CTFversion") or ""
        created_at = self._created_at(_text(element, "DateTime"))
        self._check_not_future(created_at)
        header = CtfHeader(
            version=version,
            source=source,
            destination=destination,
            created_at=created_at,
            document_name=_text(element, "DocumentName"),
            document_qualifier=_text(element, "DocumentQualifier"),
            supplier_id=_text(element, "SupplierID"),
        )
        major = header.major_version
        if major is None or major not in KNOWN_CTF_VERSIONS:
            self.notes.append(
                CtfNote(
                    position=None,
                    path="Header/CTFversion",
                    code="ctf_version_unknown",
                    message="a CTF version this reader was not written against: read all the "
                    "same; check the result",
                )
            )
        if header.document_name not in (None, CTF_DOCUMENT_NAME):
            self.notes.append(
                CtfNote(
                    position=None,
                    path="Header/DocumentName",
                    code="ctf_document_name",
                    message=f"expected {CTF_DOCUMENT_NAME!r}",
                )
            )
        return header

    def _school(self, element: Element, path: str) -> CtfSchool:
        self._note_unknown(None, f"Header/{path}", element, _SCHOOL_READ)
        return CtfSchool(
            la=_text(element, "LEA") or "",
            estab=_text(element, "Estab") or "",
            urn=_text(element, "URN"),
            name=_text(element, "SchoolName"),
            academic_year=_text(element, "AcademicYear"),
        )

    def _created_at(self, text: str | None) -> datetime | None:
        if text is None:
            return None
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            self.notes.append(
                CtfNote(
                    position=None,
                    path="Header/DateTime",
                    code="ctf_date_time_invalid",
                    message="not an ISO 8601 date and time: ignored",
                )
            )
            return None

    def _check_not_future(self, created_at: datetime | None) -> None:
        """Refuse a ``DateTime`` more than a day ahead of now (module notes)."""
        if created_at is None:
            return
        now = self._now if self._now is not None else datetime.now(UTC)
        moment = created_at.replace(tzinfo=UTC) if created_at.tzinfo is None else created_at
        now = now.replace(tzinfo=UTC) if now.tzinfo is None else now
        if moment > now + _FUTURE_TOLERANCE:
            raise CtfRefused(
                "Header/DateTime is more than a day in the future: refused whole, nothing is "
                "sent (a future date would make every later export look stale); check the "
                "MIS's clock and export again",
                code="ctf_date_time_future",
                rule="SUP-8",
                path="Header/DateTime",
            )

    # --- pupils --------------------------------------------------------------

    def __iter__(self) -> Iterator[CtfPupilResult]:
        header = self.header
        events = self._open()
        depth = 1  # open elements: CTfile, the Header having ended
        size = _PupilSize()
        for event, element in events:
            name = _local(element.tag)
            if event == "start":
                depth += 1
                if depth == 2 and name == "CTFpupilData":
                    self._pupil_data = element
                elif depth == 3:
                    size = _PupilSize()
                continue
            if depth >= 4 and self._pupil_data is not None:
                size.add(element)  # an element inside a pupil (or a stray)
            elif depth == 3 and self._pupil_data is not None:
                if name == "Pupil":
                    self._position += 1
                    if size.too_large is not None:
                        result = self._too_large(self._position, element, size.too_large)
                    else:
                        result = self._pupil(self._position, element, header)
                    self._pupil_data.remove(element)  # memory stays flat
                    yield result
                else:
                    self._stray("CTFpupilData", element)
                    self._pupil_data.remove(element)
            elif depth == 2 and name not in ("CTFpupilData", "Header"):
                self._stray("CTfile", element)
                if self._root is not None:
                    self._root.remove(element)
            depth -= 1

    def _stray(self, parent: str, element: Element) -> None:
        """Note an element the reader does not know, once per name and parent."""
        path = f"{parent}/{_tag_for_note(element.tag)}"
        if path not in self._noted_strays:
            self._noted_strays.add(path)
            self.notes.append(
                CtfNote(
                    position=None,
                    path=path,
                    code="ctf_unknown_element",
                    message="an element this reader does not know: ignored (noted once)",
                )
            )

    def _too_large(self, position: int, element: Element, why: str) -> CtfPupilResult:
        """A pupil over the text or element caps: one problem, never mapped;
        its UPN kept where it is valid (so the pupil is not a leaver)."""
        upn: Upn | None = None
        text = _text(element, "UPN")
        if text is not None and len(text) <= 13:
            try:
                upn = Upn(text)
            except ValidationError:
                upn = None
        if upn is not None:
            if str(upn) in self._seen_upns:
                upn = None
            else:
                self._seen_upns.add(str(upn))
        problem = Problem(path="Pupil", message=why, code="ctf_pupil_too_large", rule=None)
        return CtfPupilResult(position=position, child=None, problems=(problem,), upn=upn)

    def _note_unknown(
        self,
        position: int | None,
        path: str,
        element: Element,
        read: frozenset[str],
        skipped: frozenset[str] = frozenset(),
    ) -> None:
        seen: set[str] = set()
        for c in element:
            name = _local(c.tag)
            if name in read or name in skipped or name in seen:
                continue
            seen.add(name)
            self.notes.append(
                CtfNote(
                    position=position,
                    path=f"{path}/{_tag_for_note(c.tag)}",
                    code="ctf_unknown_element",
                    message="an element this reader does not know: ignored",
                )
            )

    def _pupil(self, position: int, element: Element, header: CtfHeader) -> CtfPupilResult:
        mapper = _PupilMapper(self, position, element, header)
        child = mapper.map()
        upn = mapper.upn
        problems = list(mapper.problems)
        if upn is not None:
            if str(upn) in self._seen_upns:
                problems.append(
                    Problem(
                        path="UPN",
                        message="an earlier pupil in this file has the same UPN",
                        code="upn_duplicate",
                        rule="REC-1",
                    )
                )
                child = None
            self._seen_upns.add(str(upn))
        if problems:
            child = None
        return CtfPupilResult(position=position, child=child, problems=tuple(problems), upn=upn)


def _text_size(element: Element) -> int:
    return len(element.text or "") + len(element.tail or "")


class _PupilSize:
    """What one pupil's elements hold so far, against the caps (module notes).
    Once over a cap, each element is emptied as it ends: memory stays flat."""

    def __init__(self) -> None:
        self.text = 0
        self.elements = 0
        self.too_large: str | None = None

    def add(self, element: Element) -> None:
        size = _text_size(element)
        self.text += size
        self.elements += 1
        if self.too_large is None:
            if size > MAX_ELEMENT_TEXT:
                self.too_large = (
                    f"an element's text is longer than {MAX_ELEMENT_TEXT} characters: not read"
                )
            elif self.text > MAX_PUPIL_TEXT:
                self.too_large = (
                    f"the pupil's text is longer than {MAX_PUPIL_TEXT} characters: not read"
                )
            elif self.elements > MAX_PUPIL_ELEMENTS:
                self.too_large = f"the pupil has more than {MAX_PUPIL_ELEMENTS} elements: not read"
        if self.too_large is not None and _local(element.tag) != "UPN":
            element.clear()


class _Peeked:
    """A reader whose first bytes were read ahead (to check the encoding)."""

    def __init__(self, head: bytes, source: _Readable) -> None:
        self._head = head
        self._source = source

    def read(self, size: int = -1, /) -> bytes:
        if self._head:
            if size < 0:
                data, self._head = self._head + self._source.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._source.read(size)


def _declared_encoding(head: bytes) -> str | None:
    """The encoding the file's start names: by byte order mark, else by its
    XML declaration; ``None`` for neither (UTF-8)."""
    if head.startswith((b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")):
        return "utf-32"
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    elif head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = head[: len(head) - len(head) % 2].decode("utf-16", errors="replace")
        head = text.encode("ascii", errors="replace")
    elif head.startswith((b"\x00<", b"<\x00")):  # UTF-16 without a mark
        codec = "utf-16-be" if head.startswith(b"\x00") else "utf-16-le"
        text = head[: len(head) - len(head) % 2].decode(codec, errors="replace")
        head = text.encode("ascii", errors="replace")
    elif head.startswith((b"\x00\x00\x00<", b"<\x00\x00\x00")):
        return "utf-32"
    match = _ENCODING_RE.match(head)
    return match.group(1).decode("ascii", errors="replace") if match else None


def _checked_encoding(source: _Readable) -> _Readable:
    """``source``, its declared encoding checked (module notes).

    :raises CtfRefused: ``ctf_encoding_unsupported``; ``ctf_unreadable``.
    """
    try:
        head = source.read(_PROLOGUE_BYTES)
    except OSError as error:
        raise CtfRefused(
            f"the file could not be read ({type(error).__name__})", code="ctf_unreadable"
        ) from None
    encoding = _declared_encoding(head)
    if encoding is not None and encoding.strip().lower() not in SUPPORTED_ENCODINGS:
        shown = encoding if re.fullmatch(r"[A-Za-z0-9._-]{1,40}", encoding) else "(unreadable)"
        raise CtfRefused(
            f"the file declares the encoding {shown}: only UTF-8, UTF-16, ISO-8859-1 and "
            "US-ASCII are read; refused whole, nothing is sent; export it as UTF-8",
            code="ctf_encoding_unsupported",
        )
    return _Peeked(head, source)


def _safe_events(source: _Readable) -> Iterator[tuple[str, Element]]:
    """``iterparse`` events from defusedxml with every DTD refused, its
    refusals turned into the SDK's typed errors."""
    try:
        events: Iterator[tuple[str, Element]] = iterparse(
            source, events=("start", "end"), forbid_dtd=True
        )
        yield from events
    except DTDForbidden:
        raise CtfUnsafe(
            "the file has a document type declaration (DTD): refused whole, nothing is sent",
            code="ctf_dtd_forbidden",
        ) from None
    except EntitiesForbidden:
        raise CtfUnsafe(
            "the file declares entities (entity expansion): refused whole, nothing is sent",
            code="ctf_entity_forbidden",
        ) from None
    except ExternalReferenceForbidden:
        raise CtfUnsafe(
            "the file refers to an external entity: refused whole, nothing is sent",
            code="ctf_external_reference_forbidden",
        ) from None
    except ParseError as error:
        line, column = getattr(error, "position", (0, 0))
        raise CtfRefused(
            f"the file is not well-formed XML (line {line}, column {column}): refused whole",
            code="ctf_malformed",
        ) from None
    except OSError as error:
        raise CtfRefused(
            f"the file could not be read ({type(error).__name__})", code="ctf_unreadable"
        ) from None


T = TypeVar("T")


class _PupilMapper:
    """Maps one ``Pupil`` element, gathering every problem (paths in CTF terms)."""

    def __init__(
        self, stream: CtfStream, position: int, element: Element, header: CtfHeader
    ) -> None:
        self.stream = stream
        self.position = position
        self.element = element
        self.header = header
        self.problems: list[Problem] = []
        self.upn: Upn | None = None

    # --- helpers ---------------------------------------------------------------

    def problem(self, path: str, message: str, code: str, rule: str | None = None) -> None:
        self.problems.append(Problem(path=path, message=message, code=code, rule=rule))

    def build(
        self,
        path: str,
        make: Callable[[], T],
        rule: str | None = None,
        paths: dict[str, str] | None = None,
    ) -> T | None:
        """``make()``, or None with its ValidationError's problems recorded at
        ``path`` (model field paths renamed to CTF ones through ``paths``)."""
        try:
            return make()
        except ValidationError as error:
            for p in error.problems:
                where = path
                if p.path:
                    head, sep, rest = p.path.partition(".")
                    base = head.split("[", 1)[0]
                    if paths is not None and base in paths:
                        # a CTF element, not a model list: no index
                        where = f"{paths[base]}.{rest}" if sep else paths[base]
                    else:
                        where = f"{path}.{p.path}" if path else p.path
                self.problems.append(
                    Problem(path=where, message=p.message, code=p.code, rule=p.rule or rule)
                )
            return None

    def note(self, path: str, code: str, message: str) -> None:
        self.stream.notes.append(
            CtfNote(position=self.position, path=path, code=code, message=message)
        )

    # --- the pupil -------------------------------------------------------------

    def map(self) -> CtfChild | None:
        e = self.element
        self.stream._note_unknown(self.position, "Pupil", e, _PUPIL_READ, _PUPIL_SKIPPED)
        identifiers = self.identifiers()
        name = self.name()
        gender = self.gender()
        born = self.date_of_birth()
        address_element = _child(e, "Address")
        address: Address | None = None
        if address_element is None:
            self.problem("Address", "the pupil's address is missing", "address_missing", "REC-1")
        else:
            address = self.address(address_element, "Address", rule="REC-1")
        parents = self.parents()
        entry_date = self.entry_date(born)
        if (
            self.problems
            or identifiers is None
            or name is None
            or gender is None
            or born is None
            or address is None
        ):
            return None
        return CtfChild(
            name=name,
            gender=gender,
            date_of_birth=born,
            address=address,
            identifiers=identifiers,
            parents=parents,
            entry_date=entry_date,
        )

    def identifiers(self) -> SourceIdentifiers | None:
        e = self.element
        text = _text(e, "UPN")
        if text is None:
            self.problem("UPN", "the UPN is missing", "upn_missing", "REC-1")
        else:
            self.upn = self.build("UPN", lambda: Upn(text), rule="REC-1")
        basic = _child(e, "BasicDetails")
        former: tuple[Upn, ...] = ()
        former_text = _text(basic, "FormerUPN")
        if former_text is not None:
            found = self.build("BasicDetails/FormerUPN", lambda: Upn(former_text), rule="REC-1")
            if found is not None and found != self.upn:
                former = (found,)
        uln: Uln | None = None
        uln_text = _text(e, "UniqueLearnerNumber")
        if uln_text is not None and uln_text != ULN_PLACEHOLDER:
            uln = self.build("UniqueLearnerNumber", lambda: Uln(uln_text), rule="REC-1")
        if self.upn is None:
            return None
        upn = self.upn
        return self.build(
            "",
            lambda: SourceIdentifiers(upn=upn, former_upns=former, uln=uln),
            rule="REC-1",
        )

    def name(self) -> PersonName | None:
        e = self.element
        basic = _child(e, "BasicDetails")
        surname, forename = _text(e, "Surname"), _text(e, "Forename")
        if surname is None:
            self.problem("Surname", "the surname is missing", "name_missing", "REC-1")
        if forename is None:
            self.problem("Forename", "the forename is missing", "name_missing", "REC-1")
        if surname is None or forename is None:
            return None
        middle = tuple((_text(basic, "MiddleNames") or "").split())
        preferred_given = _text(basic, "PreferredForename")
        preferred_family = _text(basic, "PreferredSurname")
        former_family = _text(basic, "FormerSurname")
        if basic is not None:
            self.stream._note_unknown(
                self.position, "BasicDetails", basic, _BASIC_READ, _BASIC_SKIPPED
            )
        former: tuple[str, ...] = ()
        if former_family is not None and former_family != surname:
            former = (former_family,)
        return self.build(
            "",
            lambda: PersonName(
                given_name=forename,
                family_name=surname,
                middle_names=middle,
                preferred_given_name=None if preferred_given == forename else preferred_given,
                preferred_family_name=None if preferred_family == surname else preferred_family,
                former_family_names=former,
            ),
            rule="REC-1",
            paths=_NAME_PATHS,
        )

    def gender(self) -> Gender | None:
        text = _text(self.element, "Sex") or _text(self.element, "Gender")
        if text is None:
            self.problem("Sex", "the sex (or gender) is missing", "gender_missing", "REC-1")
            return None
        found = _GENDERS.get(text.upper())
        if found is None:
            self.problem("Sex", "the sex is M, F or U", "gender_invalid", "REC-1")
        return found

    def date_of_birth(self) -> date | None:
        text = _text(self.element, "DOB")
        if text is None:
            self.problem("DOB", "the date of birth is missing", "dob_missing", "REC-1")
            return None
        return self.parse_date(text, "DOB", "dob_invalid", "REC-1")

    def parse_date(self, text: str, path: str, code: str, rule: str | None) -> date | None:
        try:
            if len(text) != 10:
                raise ValueError(text)
            return date.fromisoformat(text)
        except ValueError:
            self.problem(path, "not a date in the form YYYY-MM-DD", code, rule)
            return None

    def entry_date(self, born: date | None) -> date | None:
        history = _child(self.element, "SchoolHistory")
        if history is None:
            return None
        source = self.header.source
        for i, school in enumerate(_children(history, "School"), start=1):
            if _text(school, "LEA") == source.la and _text(school, "Estab") == source.estab:
                text = _text(school, "EntryDate")
                if text is None:
                    return None
                path = f"SchoolHistory/School[{i}]/EntryDate"
                found = self.parse_date(text, path, "entry_date_invalid", "REC-3")
                if found is not None and born is not None and found < born:
                    self.problem(
                        path, "the entry date is before the date of birth", "date_order", "REC-3"
                    )
                    return None
                return found
        return None

    # --- addresses -------------------------------------------------------------

    def address(self, element: Element, path: str, *, rule: str) -> Address | None:
        self.stream._note_unknown(self.position, path, element, _ADDRESS_READ, _ADDRESS_SKIPPED)
        lines: list[str] = []
        town: str | None = None
        county = _text(element, "County")
        uprn: str | None = None
        bs7666 = _child(element, "BS7666Address")
        free = _child(element, "AddressLines")
        where = f"{path}/AddressLines"
        if bs7666 is not None:
            where = f"{path}/BS7666Address"
            self.stream._note_unknown(self.position, where, bs7666, _BS7666_READ)
            saon, paon = _text(bs7666, "SAON"), _text(bs7666, "PAON")
            street, locality = _text(bs7666, "Street"), _text(bs7666, "Locality")
            if saon:
                lines.append(saon)
            if paon and street and _NUMBERED_PAON_RE.fullmatch(paon):
                lines.append(f"{paon} {street}")
            else:
                lines.extend(x for x in (paon, street) if x)
            if locality:
                lines.append(locality)
            town = _text(bs7666, "Town") or _text(bs7666, "PostTown")
            county = county or _text(bs7666, "AdministrativeArea")
            uprn = _text(bs7666, "UniquePropertyReferenceNumber")
        elif free is not None:
            self.stream._note_unknown(self.position, where, free, _LINES_READ)
            lines = [x for i in range(1, 6) if (x := _text(free, f"AddressLine{i}"))]
        postcode: Postcode | None = None
        postcode_text = _text(element, "PostCode")
        if postcode_text is not None:
            postcode = self.build(f"{path}/PostCode", lambda: Postcode(postcode_text), rule=rule)
            if postcode is None:
                return None
        if not lines:
            self.problem(where, "the address has no lines", "address_lines", rule)
            return None
        return self.build(
            path,
            lambda: Address(
                lines=tuple(lines), town=town, county=county, postcode=postcode, uprn=uprn
            ),
            rule=rule,
            paths={
                "lines": where,
                "town": f"{where}/Town",
                "county": f"{path}/County",
                "uprn": f"{where}/UniquePropertyReferenceNumber",
            },
        )

    # --- parents and carers (REC-2) ----------------------------------------------

    def parents(self) -> tuple[ParentCarer | LocalAuthorityCarer, ...]:
        found: list[tuple[int, int, ParentCarer]] = []
        contacts = _child(self.element, "Contacts")
        if contacts is not None:
            for i, contact in enumerate(_children(contacts, "Contact"), start=1):
                mapped = self.contact(contact, f"Contacts/Contact[{i}]")
                if mapped is not None:
                    order_text = _text(contact, "Order") or ""
                    order = int(order_text) if order_text.isdigit() else 10**6
                    found.append((order, i, mapped))
        found.sort(key=lambda item: (item[0], item[1]))
        parents: list[ParentCarer | LocalAuthorityCarer] = [p for _, _, p in found]
        carer = self.local_authority()
        if carer is not None:
            parents.append(carer)
        return tuple(parents)

    def contact(self, element: Element, path: str) -> ParentCarer | None:
        self.stream._note_unknown(self.position, path, element, _CONTACT_READ, _CONTACT_SKIPPED)
        problems_before = len(self.problems)
        code = (_text(element, "Relationship") or "").upper()
        responsibility_text = (_text(element, "Responsibility") or "").lower()
        if responsibility_text in _TRUE:
            responsible = True
        elif responsibility_text in _FALSE or not responsibility_text:
            responsible = False
        else:
            self.problem(
                f"{path}/Responsibility",
                "Responsibility is true or false",
                "boolean_invalid",
                "REC-2",
            )
            return None
        relationship = RELATIONSHIP_CODES.get(code)
        if code == _PARENT_CODE:
            sex = (_text(element, "Gender") or _text(element, "Sex") or "").upper()
            relationship = {
                "F": CarerRelationship.MOTHER,
                "M": CarerRelationship.FATHER,
            }.get(sex, CarerRelationship.OTHER_CARER)
        if relationship is None:
            if not responsible:
                return None  # not a parent or carer (doctor, childminder, ...): not supplied
            relationship = CarerRelationship.OTHER_CARER
            if code:
                self.note(
                    f"{path}/Relationship",
                    "relationship_unknown",
                    "a relationship code this reader does not know, with parental "
                    "responsibility: supplied as other_carer",
                )
        surname, forename = _text(element, "Surname"), _text(element, "Forename")
        if surname is None:
            self.problem(f"{path}/Surname", "the surname is missing", "name_missing", "REC-2")
        if forename is None:
            self.problem(f"{path}/Forename", "the forename is missing", "name_missing", "REC-2")
        if surname is None or forename is None:
            return None
        middle = tuple((_text(element, "MiddleNames") or "").split())
        name = self.build(
            path,
            lambda: PersonName(given_name=forename, family_name=surname, middle_names=middle),
            rule="REC-2",
            paths={
                "given_name": f"{path}/Forename",
                "family_name": f"{path}/Surname",
                "middle_names": f"{path}/MiddleNames",
            },
        )
        as_pupil = False
        address: Address | None = None
        address_element = _child(element, "Address")
        flag = _text(element, "AddressAsPupil") or _text(address_element, "AddressAsPupil")
        if flag is not None and flag.lower() in _TRUE:
            as_pupil = True
        elif address_element is not None and len(address_element):
            address = self.address(address_element, f"{path}/Address", rule="REC-2")
        phones = self.phones(_child(element, "Phones"), f"{path}/Phones")
        email: EmailAddress | None = None
        email_text = _text(element, "Email")
        if email_text is not None:
            email = self.build(f"{path}/Email", lambda: EmailAddress(email_text), rule="REC-2")
        if len(self.problems) > problems_before or name is None or phones is None:
            return None
        return ParentCarer(
            name=name,
            relationship=relationship,
            parental_responsibility=responsible,
            contact=ContactDetails(phones=phones, email=email, address=address),
            address_as_child=as_pupil,
        )

    def phones(self, element: Element | None, path: str) -> tuple[Phone, ...] | None:
        if element is None:
            return ()
        phones: list[Phone] = []
        failed = False
        for j, phone in enumerate(_children(element, "Phone"), start=1):
            where = f"{path}/Phone[{j}]"
            self.stream._note_unknown(self.position, where, phone, _PHONE_READ)
            number_text = _text(phone, "PhoneNo")
            if number_text is None:
                self.problem(f"{where}/PhoneNo", "the number is missing", "phone_missing", "REC-2")
                failed = True
                continue
            number = self.build(f"{where}/PhoneNo", partial(PhoneNumber, number_text), rule="REC-2")
            if number is None:
                failed = True
                continue
            kind = _PHONE_KINDS.get((_text(phone, "TelephoneType") or "").upper(), PhoneKind.OTHER)
            phones.append(Phone(number=number, kind=kind))
        return None if failed else tuple(phones)

    def local_authority(self) -> LocalAuthorityCarer | None:
        """A looked-after pupil's care authority, recorded as a carer (REC-2).

        CTF's ``LookedAfter/InCare`` does not say whether the authority shares
        parental responsibility (a care order) or accommodates the child; the
        project records it either way and the authority corrects (SUP-8).
        """
        looked_after = _child(self.element, "LookedAfter")
        if looked_after is None:
            return None
        self.stream._note_unknown(self.position, "LookedAfter", looked_after, _LOOKED_AFTER_READ)
        if (_text(looked_after, "InCare") or "").lower() not in _TRUE:
            return None
        code = _text(looked_after, "CareAuthority")
        if code is None or not _LA_RE.fullmatch(code):
            self.note(
                "LookedAfter/CareAuthority",
                "care_authority_missing",
                "in care, but no 3-digit care authority: no local authority carer recorded",
            )
            return None
        return LocalAuthorityCarer(la_code=code, name=f"Local authority {code}")


_NAME_PATHS: Final = {
    "given_name": "Forename",
    "family_name": "Surname",
    "middle_names": "BasicDetails/MiddleNames",
    "preferred_given_name": "BasicDetails/PreferredForename",
    "preferred_family_name": "BasicDetails/PreferredSurname",
    "former_family_names": "BasicDetails/FormerSurname",
}


# --- Entry points ---------------------------------------------------------------------


def iter_ctf(source: _Source, *, now: datetime | None = None) -> CtfStream:
    """Open a CTF for incremental reading (a path, or a binary file object).

    ``with iter_ctf(path) as ctf: header = ctf.header; for pupil in ctf: ...``

    :param now: the time a ``Header/DateTime`` is judged against (module
        notes, "Dates"; default the system clock).
    """
    return CtfStream(source, now=now)


def read_ctf(source: _Source, *, now: datetime | None = None) -> CtfReadResult:
    """Read a whole CTF: header, every pupil's result, the notes.

    :raises CtfUnsafe: a DTD, entity declaration or external entity (SUP-5).
    :raises CtfRefused: not well-formed, not a CTF, no usable header, an
        unsupported encoding, a ``DateTime`` in the future, a header element
        too long.
    """
    with iter_ctf(source, now=now) as stream:
        header = stream.header
        pupils = tuple(stream)
        return CtfReadResult(header=header, pupils=pupils, notes=tuple(stream.notes))
