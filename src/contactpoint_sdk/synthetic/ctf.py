"""Synthetic Common Transfer Files (CTF) for tests and demos (synthetic data only).

A :class:`SyntheticSchool` draws a school's roll from a seeded
:class:`~contactpoint_sdk.synthetic.Population`: the pupils whose current
education setting is one school. :func:`ctf_bytes` writes a roll as a CTF in
the DfE's element names (``docs/ctf.md``); :meth:`SyntheticSchool.next_term`
makes the same roll a term later, with joiners, leavers, a family that moved
and a pupil whose surname changed. :func:`broken_variants` spoils a roll the
ways a supplier must cope with: a missing UPN, a wrong check letter, elements
the reader does not know, and three malicious files (an external entity, the
"billion laughs" entity expansion, an external DTD).

Everything is reproducible: the same seed and dates give byte-identical files.
:func:`write_samples` writes the set committed under ``examples/ctf/``
(``scripts/make-ctf-samples``); a test checks the committed files equal it.

:func:`expected_child` says what the reader must give back for a pupil:
everything CTF carries of the record, nothing it cannot (no NHS number, one
former surname and UPN, a local authority carer named by its code).
"""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET  # writing only: reading is defusedxml's
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Final

import attrs

from contactpoint_sdk.errors import ConfigurationError
from contactpoint_sdk.models.enums import CarerRelationship, PhoneKind, ServiceKind
from contactpoint_sdk.models.identifiers import UPN_CHECK_ALPHABET
from contactpoint_sdk.models.record import (
    Address,
    ChildRecord,
    ContactDetails,
    LocalAuthorityCarer,
    Organisation,
    ParentCarer,
    PersonName,
    SourceIdentifiers,
)
from contactpoint_sdk.supply.ctf import CTF_DOCUMENT_NAME, CtfChild
from contactpoint_sdk.synthetic._population import Population

__all__ = [
    "BROKEN_POSITIONS",
    "CTF_VERSION",
    "SAMPLE_AUTUMN",
    "SAMPLE_SEED",
    "SAMPLE_SPRING",
    "RollPupil",
    "SchoolRoll",
    "SyntheticSchool",
    "broken_variants",
    "ctf_bytes",
    "expected_child",
    "sample_files",
    "write_samples",
]

#: The CTF version the generator writes (``Header/CTFversion``).
CTF_VERSION: Final = "25.0"

#: Which pupil (1-based) each broken sample spoils.
BROKEN_POSITIONS: Final = {"missing-upn": 3, "bad-check-letter": 5}

_RELATIONSHIP_CODE: Final = {
    CarerRelationship.MOTHER: "PAM",
    CarerRelationship.FATHER: "PAF",
    CarerRelationship.STEP_PARENT: "STP",
    CarerRelationship.ADOPTIVE_PARENT: "ADP",
    CarerRelationship.FOSTER_CARER: "FOC",
    CarerRelationship.GRANDPARENT: "GRP",
    CarerRelationship.OTHER_RELATIVE: "REL",
    CarerRelationship.GUARDIAN: "GUA",
    CarerRelationship.OTHER_CARER: "CAR",
}
#: ``O`` is the generator's code for a phone of another kind (the reader
#: reads any code but H, M and W as "other").
_PHONE_CODE: Final = {
    PhoneKind.HOME: "H",
    PhoneKind.MOBILE: "M",
    PhoneKind.WORK: "W",
    PhoneKind.OTHER: "O",
}
_NUMBERED: Final = re.compile(r"(\d+[A-Za-z]?(?:-\d+[A-Za-z]?)?) (.+)")
_NUMBER_ONLY: Final = re.compile(r"\d+[A-Za-z]?(?:-\d+[A-Za-z]?)?")
_MAX_SEARCH = 50_000


@attrs.frozen(kw_only=True)
class RollPupil:
    """A pupil on roll: the synthetic record, and the day they joined the school."""

    child: ChildRecord
    entry_date: date


@attrs.frozen(kw_only=True)
class SchoolRoll:
    """A school's roll on one day, as its MIS would export it."""

    school: Organisation
    created_at: datetime
    pupils: tuple[RollPupil, ...]

    @property
    def la(self) -> str:
        assert self.school.laestab is not None  # noqa: S101 - a SyntheticSchool's school has one
        return self.school.laestab[:3]

    @property
    def estab(self) -> str:
        assert self.school.laestab is not None  # noqa: S101
        return self.school.laestab[3:]

    def file_name(self, number: int = 1) -> str:
        """The DfE's file name for a CTF from the school to its local authority:
        ``<LA><Estab>_CTF_<LA>LLLL_<nnn>.xml``."""
        return f"{self.la}{self.estab}_CTF_{self.la}LLLL_{number:03d}.xml"


def _current_school(child: ChildRecord) -> tuple[Organisation, date] | None:
    for inv in child.involvements:
        if (
            inv.service is ServiceKind.EDUCATION_SETTING
            and inv.ended_on is None
            and inv.organisation.laestab is not None
        ):
            return inv.organisation, inv.started_on
    return None


class SyntheticSchool:
    """One school's pupils, drawn from a seeded population (synthetic only).

    The school is the current education setting of the population's first
    pupil with a UPN; its roll is the pupils the population puts there.
    """

    def __init__(self, seed: int, *, today: date, la_code: str = "801") -> None:
        self.population = Population(seed, today=today, la_codes=[la_code])
        self.today = today
        self._rng = random.Random(f"contactpoint-ctf/{seed}")  # noqa: S311 - not secret
        self.school: Organisation | None = None

    def _pupils(self) -> Iterator[RollPupil]:
        for _ in range(_MAX_SEARCH):
            child = self.population.child()
            if child.identifiers.upn is None:
                continue
            found = _current_school(child)
            if found is None:
                continue
            organisation, started = found
            if self.school is None:
                self.school = organisation
            if organisation.laestab == self.school.laestab:
                yield RollPupil(child=child, entry_date=started)
        raise ConfigurationError(
            "the population put too few pupils in the school", code="synthetic_roll"
        )

    def roll(self, size: int, *, on: date | None = None) -> SchoolRoll:
        """The first ``size`` pupils of the school, exported ``on`` (default today)."""
        if size < 1:
            raise ValueError("a roll has at least one pupil")
        pupils: list[RollPupil] = []
        source = self._pupils()
        while len(pupils) < size:
            pupils.append(next(source))
        assert self.school is not None  # noqa: S101 - set by the first pupil
        return SchoolRoll(
            school=self.school,
            created_at=datetime.combine(on or self.today, time(9, 0)),
            pupils=tuple(pupils),
        )

    def next_term(
        self,
        roll: SchoolRoll,
        *,
        on: date,
        joiners: int = 3,
        leavers: int = 2,
        movers: int = 2,
        renamed: int = 1,
    ) -> SchoolRoll:
        """``roll`` a term later: ``leavers`` gone, ``movers`` at a new address,
        ``renamed`` under a new surname, ``joiners`` new pupils who joined ``on``."""
        if leavers + movers + renamed > len(roll.pupils):
            raise ValueError("the roll is too small for that many changes")
        picks = self._rng.sample(range(len(roll.pupils)), leavers + movers + renamed)
        gone = set(picks[:leavers])
        moved = set(picks[leavers : leavers + movers])
        renamed_at = set(picks[leavers + movers :])
        pupils: list[RollPupil] = []
        for i, pupil in enumerate(roll.pupils):
            if i in gone:
                continue
            child = pupil.child
            if i in moved:
                child = attrs.evolve(child, address=self.population.with_move(child).address)
            if i in renamed_at:
                child = self.population.with_name_change(child)
            pupils.append(attrs.evolve(pupil, child=child))
        source = self._pupils()
        for _ in range(joiners):
            pupils.append(attrs.evolve(next(source), entry_date=on))
        return SchoolRoll(
            school=roll.school,
            created_at=datetime.combine(on, time(9, 0)),
            pupils=tuple(pupils),
        )


# --- Writing ----------------------------------------------------------------------


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def _bs7666(lines: tuple[str, ...]) -> tuple[str | None, str, str] | None:
    """(SAON, PAON, Street) for a line shape the reader turns back into the
    same lines; ``None`` for any other (written as AddressLines)."""
    if len(lines) == 1:
        match = _NUMBERED.fullmatch(lines[0])
        return (None, match.group(1), match.group(2)) if match else None
    if len(lines) == 2 and not _NUMBER_ONLY.fullmatch(lines[0]):
        return None, lines[0], lines[1]
    if len(lines) == 3 and not _NUMBER_ONLY.fullmatch(lines[1]):
        return lines[0], lines[1], lines[2]
    return None


def _address(parent: ET.Element, address: Address) -> None:
    element = _sub(parent, "Address")
    parts = _bs7666(address.lines)
    if parts is not None:
        saon, paon, street = parts
        bs = _sub(element, "BS7666Address")
        if saon is not None:
            _sub(bs, "SAON", saon)
        _sub(bs, "PAON", paon)
        _sub(bs, "Street", street)
        if address.town is not None:
            _sub(bs, "Town", address.town)
        if address.uprn is not None:
            _sub(bs, "UniquePropertyReferenceNumber", address.uprn)
    else:
        free = _sub(element, "AddressLines")
        lines = list(address.lines)
        if address.town is not None and len(lines) < 5:
            lines.append(address.town)
        for i, line in enumerate(lines[:5], start=1):
            _sub(free, f"AddressLine{i}", line)
    if address.county is not None:
        _sub(element, "County", address.county)
    if address.postcode is not None:
        _sub(element, "PostCode", str(address.postcode))


def _contact(parent: ET.Element, order: int, carer: ParentCarer) -> None:
    element = _sub(parent, "Contact")
    _sub(element, "Order", str(order))
    _sub(element, "Surname", carer.name.family_name)
    _sub(element, "Forename", carer.name.given_name)
    if carer.name.middle_names:
        _sub(element, "MiddleNames", " ".join(carer.name.middle_names))
    _sub(element, "Relationship", _RELATIONSHIP_CODE[carer.relationship])
    _sub(element, "Responsibility", "true" if carer.parental_responsibility else "false")
    if carer.address_as_child:
        _sub(_sub(element, "Address"), "AddressAsPupil", "true")
    elif carer.contact.address is not None:
        _address(element, carer.contact.address)
    if carer.contact.phones:
        phones = _sub(element, "Phones")
        for phone in carer.contact.phones:
            item = _sub(phones, "Phone")
            _sub(item, "TelephoneType", _PHONE_CODE[phone.kind])
            _sub(item, "PhoneNo", phone.number.national)
    if carer.contact.email is not None:
        _sub(element, "Email", str(carer.contact.email))


def _pupil(parent: ET.Element, roll: SchoolRoll, pupil: RollPupil) -> ET.Element:
    child = pupil.child
    ids = child.identifiers
    element = _sub(parent, "Pupil")
    _sub(element, "UPN", str(ids.upn))
    if ids.uln is not None:
        _sub(element, "UniqueLearnerNumber", str(ids.uln))
    _sub(element, "Surname", child.name.family_name)
    _sub(element, "Forename", child.name.given_name)
    _sub(element, "DOB", child.date_of_birth.isoformat())
    _sub(element, "Sex", child.gender.value)
    basic = _sub(element, "BasicDetails")
    former_upns = [u for u in ids.former_upns if u != ids.upn]
    if former_upns:
        _sub(basic, "FormerUPN", str(former_upns[0]))
    name = child.name
    if name.preferred_family_name is not None:
        _sub(basic, "PreferredSurname", name.preferred_family_name)
    if name.preferred_given_name is not None:
        _sub(basic, "PreferredForename", name.preferred_given_name)
    former = [n for n in name.former_family_names if n != name.family_name]
    if former:
        _sub(basic, "FormerSurname", former[0])
    if name.middle_names:
        _sub(basic, "MiddleNames", " ".join(name.middle_names))
    _sub(basic, "EnrolStatus", "C")
    la_carer = next((p for p in child.parents if isinstance(p, LocalAuthorityCarer)), None)
    if la_carer is not None:
        looked_after = _sub(element, "LookedAfter")
        _sub(looked_after, "InCare", "true")
        _sub(looked_after, "CareAuthority", la_carer.la_code)
    _address(element, child.address)
    carers = [p for p in child.parents if isinstance(p, ParentCarer)]
    if carers:
        contacts = _sub(element, "Contacts")
        for order, carer in enumerate(carers, start=1):
            _contact(contacts, order, carer)
    history = _sub(element, "SchoolHistory")
    school = _sub(history, "School")
    _sub(school, "LEA", roll.la)
    _sub(school, "Estab", roll.estab)
    _sub(school, "SchoolName", roll.school.name)
    _sub(school, "EntryDate", pupil.entry_date.isoformat())
    return element


def ctf_document(roll: SchoolRoll, *, version: str = CTF_VERSION) -> ET.Element:
    """The CTF of ``roll`` as an element tree (to spoil it before writing)."""
    root = ET.Element("CTfile")
    header = _sub(root, "Header")
    _sub(header, "DocumentName", CTF_DOCUMENT_NAME)
    _sub(header, "CTFversion", version)
    _sub(header, "DateTime", roll.created_at.isoformat(timespec="seconds"))
    _sub(header, "DocumentQualifier", "full")
    _sub(header, "SupplierID", "contactpoint-sdk synthetic MIS")
    source = _sub(header, "SourceSchool")
    _sub(source, "LEA", roll.la)
    _sub(source, "Estab", roll.estab)
    if roll.school.urn is not None:
        _sub(source, "URN", roll.school.urn)
    _sub(source, "SchoolName", roll.school.name)
    year = roll.created_at.year if roll.created_at.month >= 9 else roll.created_at.year - 1
    _sub(source, "AcademicYear", f"{year}/{(year + 1) % 100:02d}")
    destination = _sub(header, "DestSchool")
    _sub(destination, "LEA", roll.la)
    _sub(destination, "Estab", "LLLL")
    pupils = _sub(root, "CTFpupilData")
    for pupil in roll.pupils:
        _pupil(pupils, roll, pupil)
    return root


def _serialise(root: ET.Element) -> bytes:
    ET.indent(root, space="  ")
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body + b"\n"


def ctf_bytes(roll: SchoolRoll, *, version: str = CTF_VERSION) -> bytes:
    """``roll`` as a CTF file's bytes (UTF-8, indented, reproducible)."""
    return _serialise(ctf_document(roll, version=version))


# --- Broken variants --------------------------------------------------------------


def _pupil_elements(root: ET.Element) -> list[ET.Element]:
    data = root.find("CTFpupilData")
    assert data is not None  # noqa: S101 - ctf_document writes it
    return data.findall("Pupil")


def _wrong_check_letter(upn: str) -> str:
    right = UPN_CHECK_ALPHABET.index(upn[0])
    return UPN_CHECK_ALPHABET[(right + 1) % len(UPN_CHECK_ALPHABET)] + upn[1:]


_XXE = (
    '<!DOCTYPE CTfile [\n  <!ENTITY secret SYSTEM "file:///etc/passwd">\n]>\n',
    "&secret;",
)
_LAUGHS = (
    "<!DOCTYPE CTfile [\n"
    '  <!ENTITY lol "lol">\n'
    + "".join(
        f'  <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
        for i in range(1, 10)
    )
    + "]>\n",
    "&lol9;",
)
_EXTERNAL_DTD = ('<!DOCTYPE CTfile SYSTEM "https://ctf.example.invalid/ctf.dtd">\n', None)


def _malicious(clean: bytes, doctype: str, reference: str | None) -> bytes:
    head, _, body = clean.partition(b"\n")
    if reference is not None:  # the entity used where a surname would be
        body = body.replace(b"<Surname>", b"<Surname>" + reference.encode(), 1)
    return head + b"\n" + doctype.encode() + body


def broken_variants(roll: SchoolRoll) -> dict[str, bytes]:
    """Spoilt CTFs of ``roll``, by name (see :data:`BROKEN_POSITIONS`).

    - ``missing-upn``: pupil 3 has no UPN (REC-1); the others are fine;
    - ``bad-check-letter``: pupil 5's UPN has the wrong check letter (REC-1);
    - ``unknown-elements``: elements the reader does not know, in the header,
      a pupil and a contact, and an SEN history block (case information, never
      read, REC-6): every pupil still maps;
    - ``malicious-xxe``, ``malicious-billion-laughs``, ``malicious-external-dtd``:
      refused whole (SUP-5).
    """
    out: dict[str, bytes] = {}

    root = ctf_document(roll)
    upn = _pupil_elements(root)[BROKEN_POSITIONS["missing-upn"] - 1].find("UPN")
    pupil = _pupil_elements(root)[BROKEN_POSITIONS["missing-upn"] - 1]
    assert upn is not None  # noqa: S101
    pupil.remove(upn)
    out["missing-upn"] = _serialise(root)

    root = ctf_document(roll)
    upn = _pupil_elements(root)[BROKEN_POSITIONS["bad-check-letter"] - 1].find("UPN")
    assert upn is not None  # noqa: S101
    assert upn.text is not None  # noqa: S101
    upn.text = _wrong_check_letter(upn.text)
    out["bad-check-letter"] = _serialise(root)

    root = ctf_document(roll)
    header = root.find("Header")
    assert header is not None  # noqa: S101
    _sub(header, "ExportedByPlugin", "timetable-sync 4.2")
    pupils = _pupil_elements(root)
    _sub(pupils[1], "FavouriteSubject", "Art")
    contact = pupils[min(3, len(pupils) - 1)].find("Contacts/Contact")
    if contact is not None:
        _sub(contact, "PreferredContactTime", "evenings")
    sen = _sub(pupils[0], "SENhistory")
    _sub(_sub(sen, "SEN"), "SENprovision", "K")
    out["unknown-elements"] = _serialise(root)

    clean = ctf_bytes(roll)
    out["malicious-xxe"] = _malicious(clean, *_XXE)
    out["malicious-billion-laughs"] = _malicious(clean, *_LAUGHS)
    out["malicious-external-dtd"] = _malicious(clean, *_EXTERNAL_DTD)
    return out


# --- What the reader must give back -----------------------------------------------


def _expected_address(address: Address) -> Address:
    if _bs7666(address.lines) is not None:
        return address
    lines = list(address.lines)
    if address.town is not None and len(lines) < 5:
        lines.append(address.town)
    return Address(lines=tuple(lines[:5]), county=address.county, postcode=address.postcode)


def _split(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(" ".join(names).split())


def _expected_carer(carer: ParentCarer) -> ParentCarer:
    return ParentCarer(
        name=PersonName(
            given_name=carer.name.given_name,
            family_name=carer.name.family_name,
            middle_names=_split(carer.name.middle_names),
        ),
        relationship=carer.relationship,
        parental_responsibility=carer.parental_responsibility,
        contact=ContactDetails(
            phones=carer.contact.phones,
            email=carer.contact.email,
            address=None
            if carer.address_as_child or carer.contact.address is None
            else _expected_address(carer.contact.address),
        ),
        address_as_child=carer.address_as_child,
    )


def expected_child(pupil: RollPupil) -> CtfChild:
    """What :func:`~contactpoint_sdk.supply.ctf.read_ctf` must map ``pupil``'s
    CTF to: all CTF carries of the record (module notes)."""
    child = pupil.child
    name = child.name
    ids = child.identifiers
    former = [n for n in name.former_family_names if n != name.family_name]
    former_upns = [u for u in ids.former_upns if u != ids.upn]
    parents: list[ParentCarer | LocalAuthorityCarer] = [
        _expected_carer(p) for p in child.parents if isinstance(p, ParentCarer)
    ]
    la_carer = next((p for p in child.parents if isinstance(p, LocalAuthorityCarer)), None)
    if la_carer is not None:
        parents.append(
            LocalAuthorityCarer(
                la_code=la_carer.la_code, name=f"Local authority {la_carer.la_code}"
            )
        )
    return CtfChild(
        name=PersonName(
            given_name=name.given_name,
            family_name=name.family_name,
            middle_names=_split(name.middle_names),
            preferred_given_name=None
            if name.preferred_given_name == name.given_name
            else name.preferred_given_name,
            preferred_family_name=None
            if name.preferred_family_name == name.family_name
            else name.preferred_family_name,
            former_family_names=tuple(former[:1]),
        ),
        gender=child.gender,
        date_of_birth=child.date_of_birth,
        address=_expected_address(child.address),
        identifiers=SourceIdentifiers(upn=ids.upn, former_upns=tuple(former_upns[:1]), uln=ids.uln),
        parents=tuple(parents),
        entry_date=pupil.entry_date,
    )


# --- The committed samples ----------------------------------------------------------

#: The samples' seed and dates: an autumn roll, and the same school in spring.
SAMPLE_SEED: Final = 2009
SAMPLE_AUTUMN: Final = date(2025, 10, 1)
SAMPLE_SPRING: Final = date(2026, 1, 12)
_SAMPLE_ROLL = 30
_BROKEN_ROLL = 8


def sample_files() -> dict[str, bytes]:
    """The sample files by name, as :func:`write_samples` writes them."""
    school = SyntheticSchool(SAMPLE_SEED, today=SAMPLE_AUTUMN)
    autumn = school.roll(_SAMPLE_ROLL)
    spring = school.next_term(autumn, on=SAMPLE_SPRING)
    small = attrs.evolve(autumn, pupils=autumn.pupils[:_BROKEN_ROLL])
    files = {
        "roll-autumn.xml": ctf_bytes(autumn),
        "roll-spring.xml": ctf_bytes(spring),
    }
    for name, data in broken_variants(small).items():
        prefix = "" if name.startswith("malicious") else "broken-"
        files[f"{prefix}{name}.xml"] = data
    return files


def write_samples(directory: str | Path) -> list[Path]:
    """Write :func:`sample_files` into ``directory``; the paths written."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, data in sorted(sample_files().items()):
        path = folder / name
        path.write_bytes(data)
        written.append(path)
    return written
