"""What the probabilistic matcher knows about a child: a comparison profile.

A :class:`ChildProfile` is a record (or a supply) reduced to the fields the
matcher compares, each prepared once (:mod:`.linkage_compare`): given and
family names with their folded forms, nickname groups, former names and
parts, Metaphone codes; the date of birth; gender; the address as postcode,
district, first line and UPRN; the parents' and carers' names; the lifelong
identifiers (NHS number, ULN) and UPNs; and the record's shield state.

:func:`compare_children` turns two profiles into a comparison vector, in the
order of :data:`CHILD_COMPARISONS`. Identifiers are not compared there: the
strong-identifier step runs first, and a conflict of lifelong identifiers
is a rule (:mod:`.linkage_policy`), not a weight.

Profiles are stored as compact JSON (:func:`dumps_profile`), made from the
directory's stored record JSON (:func:`profile_from_record_json`), from a
:class:`~contactpoint_sdk.models.record.ChildRecord`
(:func:`profile_from_record`), or from a supply (:func:`query_profile`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any, Final, NamedTuple

from contactpoint_sdk.models.enums import Gender, ShieldGround
from contactpoint_sdk.models.record import (
    Address,
    ChildRecord,
    LocalAuthorityCarer,
    ParentCarer,
    PersonName,
    SourceIdentifiers,
)
from contactpoint_sdk.policy.shield import shield_lifted_on
from contactpoint_sdk.reference_server.linkage_compare import (
    ADDRESS_LEVELS,
    DATE_LEVELS,
    FAMILY_LEVELS,
    GENDER_LEVELS,
    GIVEN_LEVELS,
    PARENTS_LEVELS,
    AddressForms,
    FamilyForms,
    GivenForms,
    Ymd,
    address_level,
    date_level,
    family_forms,
    family_level,
    gender_level,
    given_forms,
    given_level,
    parent_key,
    parents_level,
    postcode_forms,
)
from contactpoint_sdk.reference_server.linkage_model import Vector

__all__ = [
    "ADDRESS",
    "CHILD_COMPARISONS",
    "DATE_OF_BIRTH",
    "FAMILY_NAME",
    "GENDER",
    "GIVEN_NAME",
    "PARENTS",
    "PROFILE_VERSION",
    "ChildProfile",
    "compare_children",
    "dumps_profile",
    "loads_profile",
    "profile_from_record",
    "profile_from_record_json",
    "query_profile",
]

# Grounds whose shield, even lifted, bars linking for good (SHLD-5).
_ADOPTION_GROUNDS: Final = frozenset(
    {ShieldGround.ADOPTION_IDENTITY_LINK.value, ShieldGround.RISK_TO_ADOPTION_PLACEMENT.value}
)

#: The child model's comparisons, in vector order.
CHILD_COMPARISONS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("given_name", GIVEN_LEVELS),
    ("family_name", FAMILY_LEVELS),
    ("date_of_birth", DATE_LEVELS),
    ("address", ADDRESS_LEVELS),
    ("gender", GENDER_LEVELS),
    ("parents", PARENTS_LEVELS),
)
#: Positions in a child comparison vector.
GIVEN_NAME, FAMILY_NAME, DATE_OF_BIRTH, ADDRESS, GENDER, PARENTS = range(6)

#: Bumped whenever the stored profile's shape or preparation, or the blocking
#: keys (:mod:`.linkage_blocking`), change: a stored index with another
#: version is rebuilt when attached.
PROFILE_VERSION: Final = "3"  # 3: shield_ground keeps the adoption link barrier


class ChildProfile(NamedTuple):
    """A child reduced to what the matcher compares (module notes).

    ``directory_id`` is ``""`` for a supply; ``gender`` is the wire code
    (``"M"``, ``"F"``, ``"U"``, or ``""`` if not given); ``shielded`` says a
    shield is in place; ``shield_ground`` is the wire value of its ground or,
    for a record that has ever been shielded on an adoption ground, of that
    ground for good (the adoption link barrier, SHLD-5: lifting the shield
    does not clear it); ``""`` otherwise.
    """

    directory_id: str
    given: GivenForms
    family: FamilyForms
    dob: Ymd
    gender: str = ""
    address: AddressForms = AddressForms()
    parents: tuple[str, ...] = ()
    nhs: str = ""
    uln: str = ""
    upns: tuple[str, ...] = ()
    shielded: bool = False
    shield_ground: str = ""


def _ymd(day: date) -> Ymd:
    return (day.year, day.month, day.day)


def _parent_names(names: Sequence[tuple[str | None, str | None]]) -> tuple[str, ...]:
    out = dict.fromkeys(parent_key(g, f) for g, f in names)
    out.pop(" ", None)
    return tuple(sorted(out))


def _profile(
    *,
    directory_id: str,
    given: str | None,
    preferred_given: str | None,
    middles: Sequence[str],
    family: str | None,
    preferred_family: str | None,
    former: Sequence[str],
    dob: Ymd,
    gender: str,
    postcode: str | None,
    first_line: str | None,
    uprn: str | None,
    parents: Sequence[tuple[str | None, str | None]],
    nhs: str,
    uln: str,
    upns: Sequence[str],
    shielded: bool,
    shield_ground: str,
) -> ChildProfile:
    return ChildProfile(
        directory_id=directory_id,
        given=given_forms(given, preferred_given, tuple(middles)),
        family=family_forms(family, preferred_family, tuple(former)),
        dob=dob,
        gender=gender,
        address=postcode_forms(postcode, first_line, uprn),
        parents=_parent_names(parents),
        nhs=nhs,
        uln=uln,
        upns=tuple(sorted({u for u in upns if u})),
        shielded=shielded,
        shield_ground=shield_ground,
    )


def query_profile(
    identifiers: SourceIdentifiers,
    date_of_birth: date,
    name: PersonName,
    *,
    gender: Gender | None = None,
    address: Address | None = None,
    parents: Sequence[ParentCarer | LocalAuthorityCarer] = (),
) -> ChildProfile:
    """The profile of a supplied child (the matcher's query)."""
    return _profile(
        directory_id="",
        given=name.given_name,
        preferred_given=name.preferred_given_name,
        middles=name.middle_names,
        family=name.family_name,
        preferred_family=name.preferred_family_name,
        former=name.former_family_names,
        dob=_ymd(date_of_birth),
        gender="" if gender is None else gender.value,
        postcode=None if address is None or address.postcode is None else str(address.postcode),
        first_line=None if address is None or not address.lines else address.lines[0],
        uprn=None if address is None else address.uprn,
        parents=[
            (p.name.given_name, p.name.family_name) for p in parents if isinstance(p, ParentCarer)
        ],
        nhs="" if identifiers.nhs_number is None else str(identifiers.nhs_number),
        uln="" if identifiers.uln is None else str(identifiers.uln),
        upns=[str(u) for u in (identifiers.upn, *identifiers.former_upns) if u is not None],
        shielded=False,
        shield_ground="",
    )


def profile_from_record(
    record: ChildRecord, *, shielded: bool | None = None, shield_ground: str | None = None
) -> ChildProfile:
    """The profile of a record (its shield state from the record unless given).

    A lifted shield on an adoption ground still gives ``shield_ground``
    (SHLD-5); the store's barrier also covers an adoption shield a later
    shield replaced, so callers holding a store should give
    ``shield_ground`` from the row (``children.shield_ground``)."""
    shield = record.shield
    ids = record.identifiers
    base = query_profile(
        ids,
        record.date_of_birth,
        record.name,
        gender=record.gender,
        address=record.address,
        parents=record.parents,
    )
    in_place = shield is not None and shield_lifted_on(shield) is None
    ground = ""
    if shield is not None and (in_place or shield.ground.value in _ADOPTION_GROUNDS):
        ground = shield.ground.value
    return base._replace(
        directory_id=str(record.directory_id),
        shielded=in_place if shielded is None else shielded,
        shield_ground=ground if shield_ground is None else shield_ground,
    )


def profile_from_record_json(
    data: Mapping[str, Any], *, shielded: bool, shield_ground: str | None
) -> ChildProfile:
    """The profile of a stored record: the codec's JSON of a
    :class:`~contactpoint_sdk.models.record.ChildRecord` (as the store's
    ``children.record`` column holds it), read without building the model."""
    name = data.get("name") or {}
    address = data.get("address") or {}
    ids = data.get("identifiers") or {}
    lines = address.get("lines") or ()
    born = date.fromisoformat(data["date_of_birth"])
    parents: list[tuple[str | None, str | None]] = []
    for p in data.get("parents") or ():
        person = p.get("name") if isinstance(p, Mapping) else None
        if isinstance(person, Mapping):
            parents.append((person.get("given_name"), person.get("family_name")))
    return _profile(
        directory_id=str(data.get("directory_id") or ""),
        given=name.get("given_name"),
        preferred_given=name.get("preferred_given_name"),
        middles=name.get("middle_names") or (),
        family=name.get("family_name"),
        preferred_family=name.get("preferred_family_name"),
        former=name.get("former_family_names") or (),
        dob=_ymd(born),
        gender=str(data.get("gender") or ""),
        postcode=address.get("postcode"),
        first_line=lines[0] if lines else None,
        uprn=address.get("uprn"),
        parents=parents,
        nhs=str(ids.get("nhs_number") or ""),
        uln=str(ids.get("uln") or ""),
        upns=[str(u) for u in (ids.get("upn"), *(ids.get("former_upns") or ())) if u],
        shielded=shielded,
        shield_ground=shield_ground or "",
    )


_FIELD = "\x1f"  # between fields
_ITEM = "\x1e"  # between the items of a list field


def _items(values: Iterable[str]) -> str:
    return _ITEM.join(values)


def dumps_profile(p: ChildProfile) -> str:
    """A profile as compact text (the linkage index stores this): fields
    separated by ``U+001F``, list items by ``U+001E``. Folded names,
    postcodes, identifiers and shield grounds never contain these control
    characters, and parsing is a few ``str.split`` calls."""
    y, m, d = p.dob
    return _FIELD.join(
        (
            _items(p.given.keys),
            _items(p.given.middles),
            _items(p.given.groups),
            _items(p.given.codes),
            _items(p.family.keys),
            _items(p.family.others),
            _items(p.family.codes),
            f"{y:04d}{m:02d}{d:02d}",
            p.gender,
            p.address.postcode,
            p.address.district,
            p.address.line,
            p.address.uprn,
            _items(p.parents),
            p.nhs,
            p.uln,
            _items(p.upns),
            "1" if p.shielded else "",
            p.shield_ground,
        )
    )


def loads_profile(directory_id: str, text: str) -> ChildProfile:
    """The profile :func:`dumps_profile` wrote. (Written for speed: a look-up
    decodes every candidate.)"""
    f = text.split(_FIELD)
    i = _ITEM
    dob = f[7]
    return ChildProfile(
        directory_id,
        GivenForms(
            tuple(f[0].split(i)) if f[0] else (),
            tuple(f[1].split(i)) if f[1] else (),
            tuple(f[2].split(i)) if f[2] else (),
            tuple(f[3].split(i)) if f[3] else (),
        ),
        FamilyForms(
            tuple(f[4].split(i)) if f[4] else (),
            tuple(f[5].split(i)) if f[5] else (),
            tuple(f[6].split(i)) if f[6] else (),
        ),
        (int(dob[:4]), int(dob[4:6]), int(dob[6:])),
        f[8],
        AddressForms(f[9], f[10], f[11], f[12]),
        tuple(f[13].split(i)) if f[13] else (),
        f[14],
        f[15],
        tuple(f[16].split(i)) if f[16] else (),
        f[17] == "1",
        f[18],
    )


def compare_children(q: ChildProfile, c: ChildProfile) -> Vector:
    """The comparison vector of two child profiles (:data:`CHILD_COMPARISONS`)."""
    return (
        given_level(q.given, c.given),
        family_level(q.family, c.family),
        date_level(q.dob, c.dob),
        address_level(q.address, c.address),
        gender_level(q.gender, c.gender),
        parents_level(q.parents, c.parents),
    )
