"""Static reference data for the synthetic population, loaded once at import.

Names, street suffixes, counties and postcode areas come from Faker's ``en_GB``
providers, read as plain lists: Faker itself is never called per record (it
is far too slow for a million records). The lists are filtered to what a
record accepts and to England (no Scottish, Welsh, Northern Irish or Crown
dependency postcode areas or counties).

The local authorities are real DfE 3-digit codes with their council, post
town, county and main postcode areas, so a generated child's LA code, town and
postcode area agree. Every contact detail made from this data is reserved for
fiction: Ofcom's drama phone ranges, RFC 2606 example domains, and the NHS
number test range 999 (see :mod:`contactpoint_sdk.synthetic._ids`).
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from faker.providers.address.en_GB import Provider as _FakerAddress
from faker.providers.person.en_GB import Provider as _FakerPerson
from faker.providers.phone_number.en_GB import Provider as _FakerPhone

__all__ = [
    "CITY_SUFFIXES",
    "COUNTIES",
    "EMAIL_DOMAINS",
    "ENGLISH_POSTCODE_AREAS",
    "FEMALE_NAMES",
    "FIXED_LINE_PREFIX",
    "INWARD_LETTERS",
    "KNOWN_LAS",
    "MALE_NAMES",
    "MOBILE_PREFIX",
    "SAINTS",
    "STREET_SUFFIXES",
    "SURNAMES",
    "SURNAME_POOL",
    "LaInfo",
]

# Letters a person's name may be made of, as the record model accepts them
# (letters; spaces, hyphens, apostrophes and full stops only between them).
_NAME_OK = re.compile(r"[^\W\d_]+(?:[ '\u2019.-]+[^\W\d_]+)*")


def _names(values: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Distinct, model-acceptable names in their original order."""
    return tuple(n for n in dict.fromkeys(values) if _NAME_OK.fullmatch(n) and len(n) <= 40)


MALE_NAMES: Final = _names(_FakerPerson.first_names_male)
FEMALE_NAMES: Final = _names(_FakerPerson.first_names_female)
SURNAMES: Final = _names(list(_FakerPerson.last_names))


def _weighted_pool(weights: dict[str, float], scale: int = 100) -> tuple[str, ...]:
    """Each surname repeated in proportion to its frequency in Faker's table, so
    one uniform index draws a realistically common or rare surname."""
    pool: list[str] = []
    for name, weight in weights.items():
        if name in _SURNAME_SET:
            pool.extend([name] * max(1, round(weight * scale)))
    return tuple(pool)


_SURNAME_SET = frozenset(SURNAMES)
SURNAME_POOL: Final = _weighted_pool(dict(_FakerPerson.last_names))

# Faker's street suffixes are the en_US list; keep the ones English streets use.
_ENGLISH_SUFFIXES = frozenset(
    {
        "Avenue",
        "Bridge",
        "Close",
        "Common",
        "Court",
        "Crescent",
        "Dale",
        "Drive",
        "Field",
        "Fields",
        "Gardens",
        "Green",
        "Grove",
        "Hill",
        "Lane",
        "Lodge",
        "Manor",
        "Meadow",
        "Meadows",
        "Mews",
        "Mount",
        "Orchard",
        "Park",
        "Place",
        "Rise",
        "Road",
        "Row",
        "Square",
        "Street",
        "Terrace",
        "View",
        "Walk",
        "Way",
    }
)
STREET_SUFFIXES: Final = tuple(
    s for s in dict.fromkeys(_FakerAddress.street_suffixes) if s in _ENGLISH_SUFFIXES
)
CITY_SUFFIXES: Final = tuple(dict.fromkeys(_FakerAddress.city_suffixes))

# Faker lists the English counties first, then Welsh, Scottish and Northern Irish ones.
COUNTIES: Final = tuple(_FakerAddress.counties[: _FakerAddress.counties.index("Flintshire")])

_NOT_ENGLAND = frozenset(
    {
        # Scotland
        "AB", "DD", "DG", "EH", "FK", "G", "HS", "IV", "KA", "KW", "KY", "ML", "PA", "PH",
        "TD", "ZE",
        # Wales
        "CF", "LD", "LL", "NP", "SA",
        # Northern Ireland, Crown dependencies
        "BT", "GY", "IM", "JE",
    }
)  # fmt: skip
ENGLISH_POSTCODE_AREAS: Final = tuple(
    a for a in _FakerAddress.POSTAL_ZONES if a not in _NOT_ENGLAND
)

#: Letters of a postcode's inward code: A–Z without C, I, K, M, O, V (BS7666).
INWARD_LETTERS: Final = "ABDEFGHJLNPQRSTUWXYZ"


def _drama_prefix(formats: tuple[str, ...], national_prefix: str) -> str:
    """The E.164 prefix of one of Ofcom's drama ranges, checked against Faker's
    en_GB formats (which use the same reserved ranges)."""
    if not any(f.replace(" ", "").startswith(national_prefix) for f in formats):
        raise RuntimeError(f"Faker's en_GB phone formats no longer use {national_prefix}")
    return "+44" + national_prefix[1:]


#: Ofcom's drama ranges: 01632 960000–960999 (fixed line), 07700 900000–900999 (mobile).
FIXED_LINE_PREFIX: Final = _drama_prefix(_FakerPhone.formats, "01632960")
MOBILE_PREFIX: Final = _drama_prefix(_FakerPhone.cellphone_formats, "07700900")

#: Second-level domains reserved for examples (RFC 2606): no one receives their mail.
EMAIL_DOMAINS: Final = ("example.org", "example.com", "example.net")

#: Saints for church school names.
SAINTS: Final = (
    "Andrew",
    "Anne",
    "Augustine",
    "Bede",
    "Catherine",
    "Chad",
    "George",
    "James",
    "John",
    "Joseph",
    "Luke",
    "Margaret",
    "Mark",
    "Mary",
    "Matthew",
    "Michael",
    "Paul",
    "Peter",
    "Thomas",
)


class LaInfo(NamedTuple):
    """A local authority: its council's name, post town, county and postcode areas."""

    name: str
    town: str
    county: str | None
    areas: tuple[str, ...]


#: Real DfE local authority codes, each with a plausible post town and postcode areas.
KNOWN_LAS: Final[dict[str, LaInfo]] = {
    "202": LaInfo("London Borough of Camden", "London", None, ("NW", "WC", "N")),
    "204": LaInfo("London Borough of Hackney", "London", None, ("E", "N")),
    "208": LaInfo("London Borough of Lambeth", "London", None, ("SE", "SW")),
    "210": LaInfo("London Borough of Southwark", "London", None, ("SE",)),
    "211": LaInfo("London Borough of Tower Hamlets", "London", None, ("E",)),
    "302": LaInfo("London Borough of Barnet", "Barnet", None, ("EN", "N", "NW")),
    "306": LaInfo("London Borough of Croydon", "Croydon", "Surrey", ("CR",)),
    "316": LaInfo("London Borough of Newham", "London", None, ("E",)),
    "330": LaInfo("Birmingham City Council", "Birmingham", "West Midlands", ("B",)),
    "331": LaInfo("Coventry City Council", "Coventry", "West Midlands", ("CV",)),
    "336": LaInfo("City of Wolverhampton Council", "Wolverhampton", "West Midlands", ("WV",)),
    "341": LaInfo("Liverpool City Council", "Liverpool", "Merseyside", ("L",)),
    "352": LaInfo("Manchester City Council", "Manchester", "Greater Manchester", ("M",)),
    "355": LaInfo("Salford City Council", "Salford", "Greater Manchester", ("M",)),
    "373": LaInfo("Sheffield City Council", "Sheffield", "South Yorkshire", ("S",)),
    "380": LaInfo("City of Bradford Metropolitan District Council", "Bradford",
                  "West Yorkshire", ("BD",)),
    "383": LaInfo("Leeds City Council", "Leeds", "West Yorkshire", ("LS",)),
    "391": LaInfo("Newcastle City Council", "Newcastle upon Tyne", "Tyne and Wear", ("NE",)),
    "394": LaInfo("Sunderland City Council", "Sunderland", "Tyne and Wear", ("SR",)),
    "801": LaInfo("Bristol City Council", "Bristol", None, ("BS",)),
    "810": LaInfo("Hull City Council", "Hull", None, ("HU",)),
    "816": LaInfo("City of York Council", "York", "North Yorkshire", ("YO",)),
    "846": LaInfo("Brighton and Hove City Council", "Brighton", "East Sussex", ("BN",)),
    "851": LaInfo("Portsmouth City Council", "Portsmouth", "Hampshire", ("PO",)),
    "852": LaInfo("Southampton City Council", "Southampton", "Hampshire", ("SO",)),
    "856": LaInfo("Leicester City Council", "Leicester", "Leicestershire", ("LE",)),
    "870": LaInfo("Reading Borough Council", "Reading", "Berkshire", ("RG",)),
    "878": LaInfo("Devon County Council", "Exeter", "Devon", ("EX", "TQ")),
    "879": LaInfo("Plymouth City Council", "Plymouth", "Devon", ("PL",)),
    "886": LaInfo("Kent County Council", "Maidstone", "Kent", ("ME", "CT", "TN")),
    "892": LaInfo("Nottingham City Council", "Nottingham", "Nottinghamshire", ("NG",)),
    "908": LaInfo("Cornwall Council", "Truro", "Cornwall", ("TR",)),
    "926": LaInfo("Norfolk County Council", "Norwich", "Norfolk", ("NR",)),
    "936": LaInfo("Surrey County Council", "Guildford", "Surrey", ("GU", "KT", "RH")),
}  # fmt: skip
