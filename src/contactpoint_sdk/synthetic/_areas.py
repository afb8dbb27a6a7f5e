"""Per-local-authority pools: postcodes, streets, schools, GP practices, services.

Built once per local authority, on first use, from a generator seeded by the
population's seed and the LA code alone, so an LA's pools do not depend on
the order in which children are drawn. Everything here is immutable and
shared between records.
"""

from __future__ import annotations

import random
from typing import Final, NamedTuple

from contactpoint_sdk.models.contact import EmailAddress, PhoneNumber, Postcode
from contactpoint_sdk.models.enums import OrganisationKind, PhoneKind, ServiceKind
from contactpoint_sdk.models.record import (
    Address,
    ContactDetails,
    Involvement,
    LocalAuthorityCarer,
    Organisation,
    PersonName,
    Phone,
    Practitioner,
)
from contactpoint_sdk.synthetic._data import (
    CITY_SUFFIXES,
    COUNTIES,
    EMAIL_DOMAINS,
    ENGLISH_POSTCODE_AREAS,
    FEMALE_NAMES,
    FIXED_LINE_PREFIX,
    INWARD_LETTERS,
    KNOWN_LAS,
    MALE_NAMES,
    MOBILE_PREFIX,
    SAINTS,
    STREET_SUFFIXES,
    SURNAMES,
    LaInfo,
)
from contactpoint_sdk.synthetic._ids import upn_prefix_sum

__all__ = [
    "FIXED_LINE_PHONES",
    "GP_PRACTICES",
    "MOBILE_PHONES",
    "NO_PHONE",
    "PHONE_ONLY_CONTACTS",
    "POSTCODES_PER_AREA",
    "Area",
    "School",
    "Setting",
    "la_info",
]

#: Every number in Ofcom's two drama ranges, as shared Phone values.
MOBILE_PHONES: Final = tuple(
    Phone(number=PhoneNumber(f"{MOBILE_PREFIX}{i:03d}"), kind=PhoneKind.MOBILE) for i in range(1000)
)
FIXED_LINE_PHONES: Final = tuple(
    Phone(number=PhoneNumber(f"{FIXED_LINE_PREFIX}{i:03d}"), kind=PhoneKind.HOME)
    for i in range(1000)
)
_WORK_PHONES: Final = tuple(
    Phone(number=PhoneNumber(f"{FIXED_LINE_PREFIX}{i:03d}"), kind=PhoneKind.WORK)
    for i in range(1000)
)
#: Contact details holding phones alone, shared by every carer who has just
#: those: index ``i`` the mobile ``MOBILE_PHONES[i]``, ``1000 + i`` the home
#: phone ``FIXED_LINE_PHONES[i]``, 2000 none. Their ``phones`` serve as the
#: phones of carers who have more than phones.
PHONE_ONLY_CONTACTS: Final = (
    *(ContactDetails(phones=(phone,)) for phone in MOBILE_PHONES),
    *(ContactDetails(phones=(phone,)) for phone in FIXED_LINE_PHONES),
    ContactDetails(),
)
NO_PHONE: Final = 2000

POSTCODES_PER_AREA: Final = 400
_PRIMARIES = 24
_SECONDARIES = 6
_SPECIALS = 2
_COLLEGES = 2
_EARLY_YEARS = 6
GP_PRACTICES: Final = 14
_PRACTITIONERS_PER_SERVICE = 6

#: The highest district number of postcode areas with few districts (London).
_DISTRICTS: Final = {"E": 20, "N": 22, "W": 14, "EC": 4, "WC": 2, "SW": 20, "SE": 28, "NW": 11}

_STEM_ENDINGS: Final = ("", "", " Park", " Hill", " Green", "field", "wood", " Vale", " Lane")

#: Services an LA pool holds organisations and practitioners for, with the
#: practitioner's job title, and how to name the organisation.
_JOB_TITLES: Final[dict[ServiceKind, str]] = {
    ServiceKind.MIDWIFE: "Community Midwife",
    ServiceKind.HEALTH_VISITOR: "Health Visitor",
    ServiceKind.SCHOOL_NURSE: "School Nurse",
    ServiceKind.SOCIAL_CARE: "Social Worker",
    ServiceKind.SEN_TEACHER: "Specialist SEN Teacher",
    ServiceKind.SENCO: "SENCO",
    ServiceKind.YOUTH_OFFENDING_TEAM: "Youth Offending Team Officer",
    ServiceKind.YOUTH_INCLUSION_SUPPORT_PANEL: "YISP Key Worker",
    ServiceKind.CONNEXIONS: "Personal Adviser",
    ServiceKind.OTHER_ADDITIONAL: "Family Support Worker",
    ServiceKind.SEXUAL_HEALTH_PREGNANCY: "Teenage Pregnancy Adviser",
    ServiceKind.SEXUAL_HEALTH_ABORTION: "Sexual Health Nurse",
    ServiceKind.SEXUAL_HEALTH_CONTRACEPTION: "Sexual Health Nurse",
    ServiceKind.SEXUAL_HEALTH_STI: "Sexual Health Nurse",
    ServiceKind.SEXUAL_HEALTH_SEXUAL_VIOLENCE: "Sexual Violence Adviser",
    ServiceKind.SEXUAL_HEALTH_SEXUAL_ABUSE: "Children's Sexual Abuse Counsellor",
    ServiceKind.SEXUAL_HEALTH_LGBT: "Youth Worker",
    ServiceKind.MENTAL_HEALTH_CAMHS_TIER_2: "Primary Mental Health Worker",
    ServiceKind.MENTAL_HEALTH_CAMHS_TIER_3: "CAMHS Clinician",
    ServiceKind.MENTAL_HEALTH_CAMHS_TIER_4: "Inpatient CAMHS Nurse",
    ServiceKind.SUBSTANCE_MISUSE_DRUGS: "Substance Misuse Worker",
    ServiceKind.SUBSTANCE_MISUSE_ALCOHOL: "Substance Misuse Worker",
    ServiceKind.SUBSTANCE_MISUSE_VOLATILE: "Substance Misuse Worker",
}


class Setting(NamedTuple):
    """An organisation children join (a nursery, college or GP practice), with the
    involvements already made for it, by start ordinal (or start and end ordinals)."""

    org: Organisation
    cache: dict[int | tuple[int, int], Involvement]


class School(NamedTuple):
    """A school in an LA's pool, with what a UPN allocated there needs."""

    org: Organisation
    cache: dict[int | tuple[int, int], Involvement]  # as for a Setting
    establishment: str  # the 4-digit DfE establishment number
    upn_sum: int  # weighted sum of the LA code and establishment (UPN chars 2-8)


def la_info(code: str, rng: random.Random) -> LaInfo:
    """The LA's details: real ones for a known code, made-up but consistent ones otherwise."""
    known = KNOWN_LAS.get(code)
    if known is not None:
        return known
    stem = rng.choice(SURNAMES + MALE_NAMES)
    town = f"{stem}{rng.choice(CITY_SUFFIXES)}"
    if rng.random() < 0.4:
        town = f"{rng.choice(('North', 'South', 'East', 'West', 'New'))} {town}"
    areas = tuple(dict.fromkeys(rng.choice(ENGLISH_POSTCODE_AREAS) for _ in range(2)))
    return LaInfo(f"{town} Council", town, rng.choice(COUNTIES), areas)


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


class Area:
    """One local authority's shared pools (see the module docstring)."""

    def __init__(self, seed: int, code: str) -> None:
        rng = random.Random(f"contactpoint-synthetic/{seed}/{code}")  # noqa: S311 - not secret
        self.code = code
        self.info = la_info(code, rng)
        self.town = self.info.town
        self.county = self.info.county
        self._rng = rng
        self._stems: set[str] = set()

        self.postcodes, self.streets = self._postcodes(rng)
        self._blocks = tuple(f"{street.split()[0]} House" for street in self.streets)
        self._uprn_base = int(code) * 10_000_000
        self.primaries = self._schools(_PRIMARIES, 2001, _PRIMARY_NAMES, 0)
        self.secondaries = self._schools(_SECONDARIES, 4001, _SECONDARY_NAMES, 30)
        self.specials = self._schools(_SPECIALS, 7001, _SPECIAL_NAMES, 40)
        self.colleges = tuple(
            Setting(
                self._organisation(
                    self._pick(_COLLEGE_NAMES).format(stem=self._stem(), town=self.town),
                    OrganisationKind.FURTHER_EDUCATION,
                    urn=f"{400000 + int(code) * 100 + k}",
                ),
                {},
            )
            for k in range(_COLLEGES)
        )
        self.early_years = tuple(
            Setting(
                self._organisation(
                    self._pick(_EARLY_YEARS_NAMES).format(stem=self._stem(), town=self.town),
                    OrganisationKind.EARLY_YEARS_SETTING,
                    urn=f"{300000 + int(code) * 100 + k}",
                ),
                {},
            )
            for k in range(_EARLY_YEARS)
        )
        self.gp_practices = tuple(
            self._organisation(
                self._pick(_GP_NAMES).format(stem=self._stem(), town=self.town),
                OrganisationKind.GP_PRACTICE,
                ods_code=f"L{code}{k:02d}",
            )
            for k in range(GP_PRACTICES)
        )
        self.gp_settings = tuple(Setting(gp, {}) for gp in self.gp_practices)
        self.services = self._services()
        self.practitioners = {
            kind: tuple(self._practitioner(title) for _ in range(_PRACTITIONERS_PER_SERVICE))
            for kind, title in _JOB_TITLES.items()
        }
        #: Each health visitor's new-birth visits, cached like a Setting's.
        visiting = self.services[ServiceKind.HEALTH_VISITOR][0]
        self.visits = tuple(
            Setting(visiting, {}) for _ in self.practitioners[ServiceKind.HEALTH_VISITOR]
        )
        la_org = self.services[ServiceKind.SOCIAL_CARE][0]
        self.la_carer = LocalAuthorityCarer(
            la_code=code, name=self.info.name, contact=la_org.contact
        )

    # --- building blocks ---------------------------------------------------------

    def _pick(self, options: tuple[str, ...]) -> str:
        return options[int(self._rng.random() * len(options))]

    def _stem(self) -> str:
        """A fresh place-like name for an organisation (unique within the LA)."""
        rng = self._rng
        while True:
            stem = rng.choice(SURNAMES) + rng.choice(_STEM_ENDINGS)
            if stem not in self._stems:
                self._stems.add(stem)
                return stem

    def _postcodes(self, rng: random.Random) -> tuple[tuple[Postcode, ...], tuple[str, ...]]:
        """Distinct postcodes in the LA's postcode areas, each on its own street."""
        seen: set[str] = set()
        codes: list[Postcode] = []
        streets: list[str] = []
        areas = self.info.areas
        while len(codes) < POSTCODES_PER_AREA:
            area = areas[int(rng.random() * len(areas))]
            district = f"{rng.randint(1, _DISTRICTS.get(area, 29 if len(area) == 2 else 40))}"
            if area in ("EC", "WC"):  # central London districts end in a letter: EC1A
                district += rng.choice("ABMNRVY")
            inward = f"{rng.randint(0, 9)}{rng.choice(INWARD_LETTERS)}{rng.choice(INWARD_LETTERS)}"
            text = f"{area}{district} {inward}"
            if text in seen:
                continue
            seen.add(text)
            codes.append(Postcode(text))
            stem = rng.choice(SURNAMES) if rng.random() < 0.7 else rng.choice(_STREET_STEMS)
            streets.append(f"{stem} {rng.choice(STREET_SUFFIXES)}")
        return tuple(codes), tuple(streets)

    def address(self, postcode_index: int, number: int) -> Address:
        """The address at house ``number`` on the street of postcode ``postcode_index``.

        One postcode in eight is a block of flats. Most addresses carry a UPRN,
        made from the LA code, postcode and number (so it is stable and unique).
        """
        street = self.streets[postcode_index]
        lines: tuple[str, ...]
        if postcode_index % 8:
            lines = (f"{number} {street}",)
        else:
            lines = (f"Flat {number}", self._blocks[postcode_index], street)
        return Address(
            lines=lines,
            town=self.town,
            county=self.county,
            postcode=self.postcodes[postcode_index],
            uprn=str(self._uprn_base + postcode_index * 1000 + number)
            if (postcode_index + number) % 5
            else None,
        )

    def _org_contact(self, name: str) -> ContactDetails:
        rng = self._rng
        return ContactDetails(
            phones=(_WORK_PHONES[int(rng.random() * 1000)],),
            email=EmailAddress(f"office.{_slug(name)[:40]}@{rng.choice(EMAIL_DOMAINS)}"),
            address=self.address(int(rng.random() * POSTCODES_PER_AREA), rng.randint(1, 99)),
        )

    def _organisation(
        self,
        name: str,
        kind: OrganisationKind,
        *,
        urn: str | None = None,
        laestab: str | None = None,
        ods_code: str | None = None,
    ) -> Organisation:
        return Organisation(
            name=name,
            kind=kind,
            contact=self._org_contact(name),
            urn=urn,
            laestab=laestab,
            ods_code=ods_code,
        )

    def _schools(
        self, count: int, first_establishment: int, names: tuple[str, ...], urn_base: int
    ) -> tuple[School, ...]:
        schools = []
        for k in range(count):
            establishment = f"{first_establishment + k}"
            name = self._pick(names).format(
                stem=self._stem(), saint=self._pick(SAINTS), town=self.town
            )
            org = self._organisation(
                name,
                OrganisationKind.SCHOOL,
                urn=f"{100000 + int(self.code) * 100 + urn_base + k}",
                laestab=f"{self.code}{establishment}",
            )
            schools.append(School(org, {}, establishment, upn_prefix_sum(self.code, establishment)))
        return tuple(schools)

    def _services(self) -> dict[ServiceKind, tuple[Organisation, ...]]:
        la, town, code = self.info.name, self.town, self.code
        nhs = OrganisationKind.NHS_TRUST
        local = OrganisationKind.LOCAL_AUTHORITY
        community = self._organisation(
            f"{town} Community Health Services NHS Trust", nhs, ods_code=f"R{code}"
        )
        hospital = self._organisation(
            f"{town} Hospitals NHS Foundation Trust", nhs, ods_code=f"R{code}H"
        )
        sexual_health = (
            self._organisation(f"{town} Sexual Health Service", nhs, ods_code=f"R{code}S"),
            self._organisation(f"Brook {town}", OrganisationKind.VOLUNTARY),
        )
        camhs = (self._organisation(f"{town} CAMHS", nhs, ods_code=f"R{code}C"),)
        substance = (self._organisation(f"{town} Young People's Substance Misuse Service", local),)
        services: dict[ServiceKind, tuple[Organisation, ...]] = {
            ServiceKind.MIDWIFE: (hospital,),
            ServiceKind.HEALTH_VISITOR: (community,),
            ServiceKind.SCHOOL_NURSE: (community,),
            ServiceKind.SOCIAL_CARE: (self._organisation(f"{la} Children's Social Care", local),),
            ServiceKind.SEN_TEACHER: (self._organisation(f"{la} SEN Support Service", local),),
            ServiceKind.YOUTH_OFFENDING_TEAM: (
                self._organisation(f"{town} Youth Offending Team", OrganisationKind.YOUTH_JUSTICE),
            ),
            ServiceKind.YOUTH_INCLUSION_SUPPORT_PANEL: (
                self._organisation(f"{town} Youth Inclusion and Support Panel", local),
            ),
            ServiceKind.CONNEXIONS: (self._organisation(f"Connexions {town}", local),),
            ServiceKind.OTHER_ADDITIONAL: (
                self._organisation(f"{self._stem()} Family Support", OrganisationKind.VOLUNTARY),
                self._organisation(f"{la} Early Help Team", local),
            ),
        }
        for kind in ServiceKind:
            category = kind.category
            if category is None:
                continue
            if category.value == "sexual_health":
                services[kind] = sexual_health
            elif category.value == "mental_health":
                services[kind] = camhs
            else:
                services[kind] = substance
        return services

    def _practitioner(self, job_title: str) -> Practitioner:
        rng = self._rng
        given = rng.choice(FEMALE_NAMES if rng.random() < 0.75 else MALE_NAMES)
        family = rng.choice(SURNAMES)
        email = EmailAddress(
            f"{_slug(given)}.{_slug(family)}.{self.code}@{rng.choice(EMAIL_DOMAINS)}"
        )
        return Practitioner(
            name=PersonName(given_name=given, family_name=family),
            job_title=job_title,
            contact=ContactDetails(phones=(_WORK_PHONES[int(rng.random() * 1000)],), email=email),
        )


_STREET_STEMS: Final = (
    "High",
    "Station",
    "Church",
    "Mill",
    "School",
    "Victoria",
    "Albert",
    "Queens",
    "Kings",
    "North",
    "South",
    "East",
    "West",
    "New",
    "Park",
    "Manor",
    "Chapel",
    "Green",
)
_PRIMARY_NAMES: Final = (
    "{stem} Primary School",
    "{stem} Primary School",
    "{stem} Community Primary School",
    "{stem} Infant and Junior School",
    "St {saint}'s C of E Primary School",
    "St {saint}'s Catholic Primary School",
    "{stem} Primary Academy",
)
_SECONDARY_NAMES: Final = (
    "{stem} High School",
    "{stem} Academy",
    "{stem} School",
    "{stem} Community College",
    "St {saint}'s Catholic High School",
)
_SPECIAL_NAMES: Final = ("{stem} School", "{stem} Special School")
_COLLEGE_NAMES: Final = ("{town} College", "{stem} Sixth Form College")
_EARLY_YEARS_NAMES: Final = ("{stem} Day Nursery", "{stem} Pre-School", "{stem} Children's Centre")
_GP_NAMES: Final = (
    "{stem} Surgery",
    "{stem} Medical Centre",
    "{stem} Health Centre",
    "The {stem} Practice",
)
