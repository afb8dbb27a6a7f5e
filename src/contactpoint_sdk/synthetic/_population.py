"""The synthetic population generator; see :mod:`contactpoint_sdk.synthetic`.

NHS numbers (issue 10). The 999 test range holds 909,091 numbers and the
minter never issues one twice (:mod:`._ids`). Most children get one (every
child under five, 97% of the others); a child with no UPN, ULN or school
reference (mostly those below Reception: 22% to 28% of children, by
``today``'s month) must. A population plans for the most children it has been
told about (``size``, or the children made so far plus ``n`` at each
``children(n)``) and gives an NHS number to a child who has another identifier
only while more numbers are left than the children still planned will need:
(share below Reception + 2%) of them, plus 4 x their square root, plus 50.
So nothing changes until a population of about 925,000 would run out; in a
million-child population most of the last tenth or so of its children who
have a UPN or ULN get no NHS number (a few get what the margin leaves over).
The plan can hold at most :attr:`Population.max_size` children (3.0 to 3.7
million); a population that makes more than it planned gives NHS numbers
while they last and then raises
:class:`~._ids.SyntheticRangeExhausted` at the first child with nothing else.
The decision uses no random draw, so every other value is unchanged.

Given names of brothers and sisters (one ``_Household``): a drawn name that a
sibling has, or that the matcher could take for a sibling's
(:mod:`._sibling_names`), is drawn again from the same sex's names, by a
generator of its own, so that the main generator, and every other value of
the stream, is as if the first name had been kept.
"""

from __future__ import annotations

import math
import random
import string
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Final

import attrs

from contactpoint_sdk.errors import ConfigurationError, ValidationError
from contactpoint_sdk.models.codec import MAX_AGE_YEARS
from contactpoint_sdk.models.contact import EmailAddress
from contactpoint_sdk.models.enums import (
    CarerRelationship,
    ConsentGiver,
    ContactRetention,
    Gender,
    RetentionExtensionReason,
    ServiceKind,
    ShieldGround,
    ShieldReviewParty,
)
from contactpoint_sdk.models.identifiers import SchoolReference, Upn
from contactpoint_sdk.models.record import (
    Address,
    ChildRecord,
    Consent,
    ContactDetails,
    Involvement,
    LocalAuthorityCarer,
    Organisation,
    ParentCarer,
    PersonName,
    Phone,
    Practitioner,
    RetentionExtension,
    Shield,
    ShieldReview,
    SourceIdentifiers,
)
from contactpoint_sdk.synthetic._areas import (
    FIXED_LINE_PHONES,
    GP_PRACTICES,
    MOBILE_PHONES,
    NO_PHONE,
    PHONE_ONLY_CONTACTS,
    POSTCODES_PER_AREA,
    Area,
    School,
    Setting,
)
from contactpoint_sdk.synthetic._data import (
    EMAIL_DOMAINS,
    FEMALE_NAMES,
    KNOWN_LAS,
    MALE_NAMES,
    SURNAME_POOL,
    SURNAMES,
)
from contactpoint_sdk.synthetic._ids import NHS_TEST_RANGE, IdMinter
from contactpoint_sdk.synthetic._sibling_names import BLOCKED_BY

__all__ = ["DEFAULT_LA_CODES", "Population"]

#: The local authorities a population spreads over unless told otherwise.
DEFAULT_LA_CODES: Final = tuple(KNOWN_LAS)

# --- Rates (fractions of children) ---------------------------------------------
# Roughly England's proportions; what matters for tests is that every case occurs.

_LOOKED_AFTER = 0.007  # ~70 per 10,000 children are looked after
_ADULT_WITH_EXTENSION = 0.003  # 18-24 year olds kept with consent (RET-2)
_NO_GP = 0.045  # REC-7: no GP recorded
_NO_SCHOOL = 0.025  # REC-7: school-age child with no education setting recorded
_SHIELDED = 0.003
_DIED = 0.0003  # died within the last year (RET-3 keeps the record a year)
_SEXUAL_HEALTH = 0.015  # of children aged 13+
_MENTAL_HEALTH = 0.015  # of children aged 5+
_SUBSTANCE_MISUSE = 0.005  # of children aged 12+

_HOUSE_NUMBERS = 120
_SIBLING_GAP_DAYS = 300
_OPEN_HOUSEHOLDS = 64
# Children per household, 1 to 4 (mean about 1.75); a new child joins a household
# with room at the rate that keeps that mean.
_HOUSEHOLD_SIZES: Final = (1,) * 45 + (2,) * 38 + (3,) * 13 + (4,) * 4
_JOIN_RATE = 0.43
_NAME_CACHE_LIMIT = 400_000
# NHS numbers kept for the children still to come who will have no other
# identifier: (share of children below Reception + _NHS_NEED_MARGIN) * children
# + _NHS_NEED_SIGMAS * sqrt(children) + _NHS_NEED_SLACK. School-age children with
# no UPN, ULN or school reference are about 0.65%; the margin covers them.
_NHS_NEED_MARGIN = 0.02
_NHS_NEED_SIGMAS = 4.0
_NHS_NEED_SLACK = 50.0

_SEXUAL_HEALTH_KINDS: Final = tuple(
    k for k in ServiceKind if k.category is not None and k.value.startswith("sexual_health")
)
_CAMHS_KINDS: Final = (
    ServiceKind.MENTAL_HEALTH_CAMHS_TIER_2,
    ServiceKind.MENTAL_HEALTH_CAMHS_TIER_2,
    ServiceKind.MENTAL_HEALTH_CAMHS_TIER_2,
    ServiceKind.MENTAL_HEALTH_CAMHS_TIER_3,
    ServiceKind.MENTAL_HEALTH_CAMHS_TIER_3,
    ServiceKind.MENTAL_HEALTH_CAMHS_TIER_4,
)
_SUBSTANCE_KINDS: Final = (
    ServiceKind.SUBSTANCE_MISUSE_DRUGS,
    ServiceKind.SUBSTANCE_MISUSE_DRUGS,
    ServiceKind.SUBSTANCE_MISUSE_ALCOHOL,
    ServiceKind.SUBSTANCE_MISUSE_VOLATILE,
)
_SHIELD_GROUNDS: Final = (
    ShieldGround.RISK_OF_HARM_TO_CHILD,
    ShieldGround.RISK_OF_HARM_TO_CHILD,
    ShieldGround.RISK_OF_HARM_TO_CHILD,
    ShieldGround.RISK_OF_HARM_TO_ADULT,
    ShieldGround.RISK_OF_HARM_TO_ADULT,
    ShieldGround.RISK_TO_ADOPTION_PLACEMENT,
    ShieldGround.ADOPTION_IDENTITY_LINK,
    ShieldGround.PREJUDICE_TO_CRIME_PREVENTION,
    ShieldGround.OTHER,
)
_REVIEW_PARTIES: Final = tuple(ShieldReviewParty)
_LATER_REASONS: Final = (
    RetentionExtensionReason.LEAVING_CARE,
    RetentionExtensionReason.LEARNING_DIFFICULTY,
    RetentionExtensionReason.OTHER_SERVICES,
)
_CURRENT_SETTINGS: Final = frozenset({ServiceKind.EDUCATION_SETTING, ServiceKind.GP_PRACTICE})

_EDUCATION: Final = ServiceKind.EDUCATION_SETTING
_GP: Final = ServiceKind.GP_PRACTICE
_MIDWIFE: Final = ServiceKind.MIDWIFE
_HEALTH_VISITOR: Final = ServiceKind.HEALTH_VISITOR
_SCHOOL_NURSE: Final = ServiceKind.SCHOOL_NURSE
_ABBREVIATIONS: Final = {_EDUCATION: "EDU", _GP: "GP", _HEALTH_VISITOR: "HV"}
_N_FIRST: Final = min(len(MALE_NAMES), len(FEMALE_NAMES))
_N_SURNAMES: Final = len(SURNAMES)

_SLUGS: Final = {
    n: "".join(ch for ch in n.lower() if ch.isalnum())
    for n in (*MALE_NAMES, *FEMALE_NAMES, *SURNAMES)
}


def _add_years(day: date, years: int) -> date:
    """The anniversary; 29 February falls on 1 March in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1)


def _yyyymmdd(day: date) -> str:
    """``f"{day:%Y%m%d}"`` without ``strftime`` (years 1000-9999; strftime otherwise)."""
    if day.year < 1000:
        return f"{day:%Y%m%d}"
    return day.isoformat().replace("-", "")


def _first_mondays_after(first: int, last: int) -> list[int]:
    """For each day ordinal ``first..last``, the first Monday of the following month."""
    out: list[int] = []
    day = date.fromordinal(first)
    while len(out) <= last - first:
        next_month = date(day.year + day.month // 12, day.month % 12 + 1, 1).toordinal()
        monday = next_month + (1 - next_month) % 7  # ordinal 1 (1 Jan 0001) was a Monday
        out.extend([monday] * (next_month - day.toordinal()))
        day = date.fromordinal(next_month)
    return out[: last - first + 1]


class _Household:
    """The people and places siblings share."""

    __slots__ = (
        "address",
        "area",
        "capacity",
        "dobs",
        "family_name",
        "given_names",
        "gp",
        "looked_after",
        "parents",
        "primary",
        "secondary",
    )

    def __init__(
        self,
        *,
        area: Area,
        family_name: str,
        address: Address,
        parents: tuple[ParentCarer | LocalAuthorityCarer, ...],
        looked_after: bool,
        primary: School,
        secondary: School,
        gp: Setting,
    ) -> None:
        self.area = area
        self.family_name = family_name
        self.address = address
        self.parents = parents
        self.looked_after = looked_after
        self.primary = primary
        self.secondary = secondary
        self.gp = gp
        self.capacity = 1
        self.dobs: list[int] = []
        #: The given (and preferred given) names of the children so far: a
        #: brother or sister gets none of them, nor one the matcher could take
        #: for one of them (``BLOCKED_BY``).
        self.given_names: set[str] = set()

    @property
    def carer_names(self) -> tuple[PersonName, ...]:
        """The names of the household's people (not the LA) caring for the child."""
        return tuple(p.name for p in self.parents if isinstance(p, ParentCarer))


class Population:
    """A seeded synthetic population of children's records (synthetic data only).

    ``seed`` fixes everything: the same seed, ``today``, ``la_codes`` and
    sequence of calls give identical records. ``today`` is the UK date the
    population is generated on: children are aged 0–17 on it (a few 18–24
    year olds kept with a RET-2 extension), and nothing is dated after it.
    ``la_codes`` are the DfE 3-digit codes children live in (default
    :data:`DEFAULT_LA_CODES`, real authorities with matching towns and
    postcode areas; unknown codes get a made-up town).

    ``sensitive_rate`` scales how often sensitive involvements (SENS-1)
    occur (1.0 is realistic and rare; 0 disables them).
    ``sensitive_without_consent`` is the fraction of sensitive involvements
    generated *without* consent: records that still construct but that the
    consent policy must refuse (SENS-2). By default every sensitive
    involvement carries valid consent.

    ``size`` is how many children the population will make in all (by
    :meth:`child`, :meth:`children`, :meth:`twins` and :meth:`siblings`), if
    known; :meth:`children` raises it to the children made so far plus ``n``.
    The NHS number test range holds 909,091 numbers and none is ever issued
    twice, so a population that would otherwise use them up (beyond about
    925,000 children) stops giving NHS numbers to children who have a UPN,
    ULN or school reference once what is left is needed for the children
    still to come who will have nothing else (mostly those below Reception);
    every child before that point is exactly as in a smaller population.
    ``size`` at most :attr:`max_size` (3.0 to 3.7 million, depending on
    ``today``'s month), else ``ConfigurationError``. A population that makes
    more children than it was told may use the range up:
    :class:`~contactpoint_sdk.synthetic.SyntheticRangeExhausted`.

    Every contact detail is reserved for fiction: phone numbers in Ofcom's
    drama ranges, email at example.org/.com/.net, NHS numbers in the 999 test
    range.

    Records are immutable, so identical parts are shared objects rather than
    copies: siblings share their parents and address, and children at the
    same school or GP practice since the same date share that involvement.
    Its reference (``EDU-<urn>-<start>``, ``GP-<ods>-<start>``) names the
    service, organisation and dates: unique within a record, as the model
    requires. Other involvements have a population-wide ``INV-<n>``.

    Speed: each record is built by the model's own constructors, so every
    check runs; ``bench/bench_synthetic.py --explain`` shows where the time
    goes. Memory stays bounded however many records are streamed, but for
    about 10 bytes a record that keep directory identifiers unique, and the
    UPN and school-reference counters (issue 10).
    """

    def __init__(
        self,
        seed: int,
        *,
        today: date,
        la_codes: Sequence[str] | None = None,
        sensitive_rate: float = 1.0,
        sensitive_without_consent: float = 0.0,
        size: int | None = None,
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigurationError("seed must be an int", code="synthetic_seed")
        if isinstance(today, datetime) or not isinstance(today, date):
            raise ConfigurationError("today must be a date", code="synthetic_today")
        codes = tuple(dict.fromkeys(DEFAULT_LA_CODES if la_codes is None else la_codes))
        if not codes or not all(
            isinstance(c, str) and len(c) == 3 and c.isascii() and c.isdigit() for c in codes
        ):
            raise ConfigurationError(
                "la_codes must be one or more 3-digit DfE local authority codes",
                code="synthetic_la_codes",
            )
        if not 0.0 <= sensitive_rate <= 50.0:
            raise ConfigurationError(
                "sensitive_rate must be between 0 and 50", code="synthetic_rate"
            )
        if not 0.0 <= sensitive_without_consent <= 1.0:
            raise ConfigurationError(
                "sensitive_without_consent must be between 0 and 1", code="synthetic_rate"
            )
        self.seed = seed
        self.today = today
        self.la_codes = codes
        self._sensitive_rate = sensitive_rate
        self._unconsented = sensitive_without_consent

        self._rng = random.Random(f"contactpoint-synthetic/{seed}")  # noqa: S311 - not secret
        self._rand = self._rng.random
        # Draws again a given name a brother or sister already has (or one the
        # matcher could take for it); its own generator, so that the main one,
        # and with it every other value, is as if the first name had been kept.
        self._sibling_rand = random.Random(  # noqa: S311 - not secret
            f"contactpoint-synthetic/{seed}/sibling-names"
        ).random
        self._ids = IdMinter(self._rng)
        self._areas: list[Area | None] = [None] * len(codes)
        self._area_index = {code: i for i, code in enumerate(codes)}
        self._names: dict[tuple[str, str], PersonName] = {}
        self._open: list[_Household] = []
        self._seq = 0

        self._today_ord = today.toordinal()
        eighteen_years_ago = _add_years(today, -18)
        self._youngest_adult_ord = eighteen_years_ago.toordinal()
        self._child_span = self._today_ord - self._youngest_adult_ord  # dob in (today-18y, today]
        self._academic_year = today.year if today.month >= 9 else today.year - 1
        self._today_year = today.year
        self._today_md = (today.month, today.day)
        self._sep1_ord = {
            y: date(y, 9, 1).toordinal() for y in range(today.year - 30, today.year + 1)
        }
        # GP registrations take effect on the first Monday of the next month:
        # that Monday's ordinal for every day a registration can be asked for.
        self._gp_base = _add_years(today, -MAX_AGE_YEARS - 1).toordinal()
        self._gp_starts = _first_mondays_after(self._gp_base, self._today_ord + 62)
        self._any_sensitive = min(
            1.0, (_SEXUAL_HEALTH + _MENTAL_HEALTH + _SUBSTANCE_MISUSE) * sensitive_rate
        )
        # NHS numbers (module docstring): the share of children who will have no
        # other identifier, from the share born after the 1 September that
        # starts the Reception year's births.
        below_reception = date(self._academic_year - 4, 9, 1).toordinal()
        self._nhs_need = (
            min(1.0, (self._today_ord - below_reception + 1) / self._child_span) + _NHS_NEED_MARGIN
        )
        need, sigmas = self._nhs_need, _NHS_NEED_SIGMAS
        root = (-sigmas + math.sqrt(sigmas**2 + 4 * need * (NHS_TEST_RANGE - _NHS_NEED_SLACK))) / (
            2 * need
        )
        #: The most children a population can plan for (the ``size`` limit).
        self.max_size: int = int(root * root)
        self._made = 0
        self._plan = 0
        # Children up to this one (by ``_made``) may have a spare NHS number
        # without asking _spare_nhs again.
        self._nhs_sure_until = 0
        if size is not None:
            self._raise_plan(size)

    # --- public API ------------------------------------------------------------

    def children(self, n: int) -> Iterator[ChildRecord]:
        """``n`` new children, one at a time (nothing is kept between them).

        The population plans for them (``size``): ``ConfigurationError`` at
        once if the children made so far and ``n`` are more than
        :attr:`max_size`.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError("n must be a whole number, not negative")
        self._raise_plan(self._made + n)
        return self._stream(n)

    def _stream(self, n: int) -> Iterator[ChildRecord]:
        child = self.child
        for _ in range(n):
            yield child()

    def _raise_plan(self, size: object) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ConfigurationError(
                "size must be a whole number of children, not negative", code="synthetic_size"
            )
        if size > self.max_size:
            raise ConfigurationError(
                f"a population of {size:,} children is more than the NHS number test "
                f"range can serve: about {self.max_size:,} at most, as children below "
                f"Reception age have no other identifier and the range holds "
                f"{NHS_TEST_RANGE:,} numbers, none issued twice",
                code="synthetic_size",
            )
        self._plan = max(self._plan, size)
        self._nhs_sure_until = 0  # a larger plan keeps more back: ask again

    def child(self, la_code: str | None = None) -> ChildRecord:
        """One new child, in ``la_code`` or in a random one of the population's LAs.

        Without ``la_code``, about four children in ten join the household of an
        earlier child as a younger or older sibling (same parents and address,
        born at least 300 days apart), as families do.
        """
        rand = self._rand
        if rand() < _ADULT_WITH_EXTENSION:
            dob_ord = self._adult_dob()
        else:
            dob_ord = self._today_ord - int(rand() * self._child_span)
        open_ = self._open
        if la_code is None and open_ and rand() < _JOIN_RATE:
            i = int(rand() * len(open_))
            household = open_[i]
            dobs = household.dobs
            for born in dobs:
                if -_SIBLING_GAP_DAYS < dob_ord - born < _SIBLING_GAP_DAYS:
                    break
            else:
                dobs.append(dob_ord)
                if len(dobs) >= household.capacity:
                    open_[i] = open_[-1]
                    open_.pop()
                return self._child(household, dob_ord)
        household = self._household(self._pick_area(la_code))
        household.dobs.append(dob_ord)
        if la_code is None:
            household.capacity = _HOUSEHOLD_SIZES[int(rand() * len(_HOUSEHOLD_SIZES))]
            if household.capacity > 1:
                if len(open_) < _OPEN_HOUSEHOLDS:
                    open_.append(household)
                else:
                    open_[int(rand() * len(open_))] = household
        return self._child(household, dob_ord)

    def school(self, la_code: str | None = None) -> Organisation:
        """A school (primary or secondary) from an LA's pool (REC-3)."""
        area = self._pick_area(la_code)
        pool = area.primaries + area.secondaries
        return pool[int(self._rand() * len(pool))].org

    def gp_practice(self, la_code: str | None = None) -> Organisation:
        """A GP practice from an LA's pool (REC-3)."""
        area = self._pick_area(la_code)
        return area.gp_practices[int(self._rand() * len(area.gp_practices))]

    def twins(self, la_code: str | None = None) -> tuple[ChildRecord, ChildRecord]:
        """Two children born the same day to the same family.

        They share surname, date of birth, address, parents, LA, school and GP
        (the same involvements, with the same start dates); they differ in
        given name and in every identifier, including the directory
        identifier: two children, not one.
        """
        household = self._household(self._pick_area(la_code))
        dob_ord = self._today_ord - int(self._rand() * self._child_span)
        first = self._child(household, dob_ord)
        second = self._child(household, dob_ord)
        shared = [inv for inv in first.involvements if inv.service in _CURRENT_SETTINGS]
        own = [inv for inv in second.involvements if inv.service not in _CURRENT_SETTINGS]
        return first, attrs.evolve(second, involvements=(*shared, *own))

    def siblings(self, n: int, la_code: str | None = None) -> list[ChildRecord]:
        """``n`` children of one family: same surname, address and parents, born at
        least 300 days apart (eldest first); they usually share schools and a GP."""
        gap = 300
        slack = self._child_span - 1 - (n - 1) * gap
        if n < 1 or slack < 0:
            raise ValueError(f"cannot fit {n} siblings 0-17 years old at least {gap} days apart")
        household = self._household(self._pick_area(la_code))
        offsets = sorted(int(self._rand() * (slack + 1)) for _ in range(n))
        oldest = self._today_ord - self._child_span + 1
        return [self._child(household, oldest + off + i * gap) for i, off in enumerate(offsets)]

    def with_typo(self, record: ChildRecord) -> ChildRecord:
        """The same child (same directory id) with one letter of the given or family
        name substituted, inserted or deleted: an edit distance of exactly one."""
        name = record.name
        if self._rand() < 0.5:
            name = attrs.evolve(name, given_name=self._typo(name.given_name))
        else:
            name = attrs.evolve(name, family_name=self._typo(name.family_name))
        return attrs.evolve(record, name=name)

    def with_name_change(self, record: ChildRecord) -> ChildRecord:
        """The same child (same directory id) under a new family name; the old one is
        added first to ``former_family_names``."""
        old = record.name.family_name
        new = old
        while new == old:
            new = SURNAME_POOL[int(self._rand() * len(SURNAME_POOL))]
        former = (old, *(n for n in record.name.former_family_names if n != old))
        name = attrs.evolve(record.name, family_name=new, former_family_names=former)
        return attrs.evolve(record, name=name)

    def with_move(self, record: ChildRecord) -> ChildRecord:
        """The same child (same directory id and source identifiers) after moving
        house: a new address in another of the population's LAs (the same LA if
        there is only one), ``local_authority`` updated, and the current school
        and GP replaced by ones near the new home, starting on the move date.
        Parents living with the child move too; other services are kept."""
        codes = [c for c in self.la_codes if c != record.local_authority] or list(self.la_codes)
        area = self._pick_area(codes[int(self._rand() * len(codes))])
        today_ord = self._today_ord
        dob_ord = record.date_of_birth.toordinal()
        move_ord = max(dob_ord, today_ord - int(self._rand() * 180))
        had_school = any(
            i.service is ServiceKind.EDUCATION_SETTING and i.ended_on is None
            for i in record.involvements
        )
        had_gp = any(
            i.service is ServiceKind.GP_PRACTICE and i.ended_on is None for i in record.involvements
        )
        kept = [
            i
            for i in record.involvements
            if i.service not in _CURRENT_SETTINGS or i.ended_on is not None
        ]
        if had_school:
            setting = self._setting_for_age(area, record.date_of_birth)
            if setting is not None:
                kept.append(self._setting(setting, _EDUCATION, move_ord))
        if had_gp:
            gp = area.gp_settings[int(self._rand() * len(area.gp_settings))]
            kept.append(self._setting(gp, _GP, move_ord))
        return attrs.evolve(
            record,
            address=self._new_address(area),
            local_authority=area.code,
            involvements=tuple(kept),
        )

    def with_transposed_dob(self, record: ChildRecord) -> ChildRecord:
        """The same child (same directory id) with day and month of birth swapped,
        as a mistyped supply would carry it (4 March <-> 3 April).

        Involvements that would then start (or end) before the new date of birth
        are moved to it. ``ValueError`` when the swap is impossible or changes
        nothing: the day is over 12, equals the month, or the swapped date is
        after ``today`` or not a real date.
        """
        dob = record.date_of_birth
        if dob.day > 12 or dob.day == dob.month:
            raise ValueError("day and month of birth cannot be transposed")
        try:
            swapped = date(dob.year, dob.day, dob.month)
        except ValueError:
            raise ValueError("day and month of birth cannot be transposed") from None
        if swapped > self.today:
            raise ValueError("the transposed date of birth would be in the future")
        involvements = tuple(_not_before(inv, swapped) for inv in record.involvements)
        died_on = record.died_on
        if died_on is not None and died_on < swapped:
            died_on = swapped
        return attrs.evolve(
            record, date_of_birth=swapped, involvements=involvements, died_on=died_on
        )

    # --- households ------------------------------------------------------------

    def _pick_area(self, la_code: str | None) -> Area:
        if la_code is None:
            index = int(self._rand() * len(self._areas))
        else:
            found = self._area_index.get(la_code)
            if found is None:
                raise ValueError(f"LA {la_code!r} is not one of this population's la_codes")
            index = found
        area = self._areas[index]
        if area is None:
            area = self._areas[index] = Area(self.seed, self.la_codes[index])
        return area

    def _new_address(self, area: Area) -> Address:
        rand = self._rand
        return area.address(int(rand() * POSTCODES_PER_AREA), 1 + int(rand() * _HOUSE_NUMBERS))

    def _person(self, given: str, family: str) -> PersonName:
        """A PersonName without middle names, shared between records (it is immutable)."""
        key = (given, family)
        name = self._names.get(key)
        if name is None:
            if len(self._names) >= _NAME_CACHE_LIMIT:
                self._names.clear()
            name = self._names[key] = PersonName(given_name=given, family_name=family)
        return name

    def _email(self, given: str, family: str, r: float) -> EmailAddress:
        """An address at an example domain; ``r`` is a uniform draw in [0, 1)."""
        g, f = _SLUGS[given], _SLUGS[family]
        domain = EMAIL_DOMAINS[int(r * 30) % 3]
        if r < 0.4:
            text = f"{g}.{f}@{domain}"
        elif r < 0.6:
            text = f"{g}{f}@{domain}"
        elif r < 0.75:
            text = f"{g[0]}.{f}@{domain}"
        else:
            text = f"{g}.{f}{int(r * 400) - 230}@{domain}"
        # Not cached: nine addresses in ten are new, and a cache would only keep
        # them alive for the garbage collector to walk again and again.
        return EmailAddress(text)

    def _carer(
        self,
        area: Area,
        given: str,
        family: str,
        relationship: CarerRelationship,
        *,
        pr: bool,
        home: bool,
    ) -> ParentCarer:
        """A parent or carer; ``pr``: has parental responsibility; ``home``: lives
        with the child."""
        rand = self._rand
        # ``phones``: an index into PHONE_ONLY_CONTACTS, or -1 for the two in ``pair``.
        pair: tuple[Phone, ...] = ()
        r = rand()
        if r < 0.184:  # a mobile and a home phone
            phones = -1
            pair = (MOBILE_PHONES[int(r * 5434.7)], FIXED_LINE_PHONES[int(rand() * 1000)])
        elif r < 0.92:  # a mobile only
            phones = int(rand() * 1000)
        elif r < 0.976:  # a home phone only
            phones = 1000 + int(rand() * 1000)
        else:
            phones = NO_PHONE
        r = rand()
        email = self._email(given, family, r * 1.5385) if r < 0.65 else None
        contact: ContactDetails
        if home and email is None and phones >= 0:
            contact = PHONE_ONLY_CONTACTS[phones]  # shared: it is immutable
        else:
            contact = ContactDetails(
                phones=pair if phones < 0 else PHONE_ONLY_CONTACTS[phones].phones,
                email=email,
                address=None if home else self._new_address(area),
            )
        return ParentCarer(
            name=self._person(given, family),
            relationship=relationship,
            parental_responsibility=pr,
            contact=contact,
            address_as_child=home,
        )

    def _household(self, area: Area) -> _Household:
        rand = self._rand
        family = SURNAME_POOL[int(rand() * len(SURNAME_POOL))]
        female = FEMALE_NAMES[int(rand() * len(FEMALE_NAMES))]
        male = MALE_NAMES[int(rand() * len(MALE_NAMES))]
        mother_family = family if rand() < 0.8 else SURNAME_POOL[int(rand() * len(SURNAME_POOL))]
        rel = CarerRelationship
        carer = self._carer
        looked_after = rand() < _LOOKED_AFTER
        parents: tuple[ParentCarer | LocalAuthorityCarer, ...]
        if looked_after:
            foster_family = SURNAME_POOL[int(rand() * len(SURNAME_POOL))]
            foster_given = FEMALE_NAMES[int(rand() * len(FEMALE_NAMES))]
            parents = (
                carer(area, female, mother_family, rel.MOTHER, pr=True, home=False),
                carer(area, foster_given, foster_family, rel.FOSTER_CARER, pr=False, home=True),
                area.la_carer,
            )
        else:
            r = rand()
            if r < 0.58:
                parents = (
                    carer(area, female, mother_family, rel.MOTHER, pr=True, home=True),
                    carer(area, male, family, rel.FATHER, pr=True, home=rand() < 0.88),
                )
            elif r < 0.80:
                parents = (carer(area, female, family, rel.MOTHER, pr=True, home=True),)
            elif r < 0.86:
                step_family = SURNAME_POOL[int(rand() * len(SURNAME_POOL))]
                parents = (
                    carer(area, female, mother_family, rel.MOTHER, pr=True, home=True),
                    carer(area, male, step_family, rel.STEP_PARENT, pr=False, home=True),
                )
            elif r < 0.91:
                parents = (
                    carer(area, female, family, rel.MOTHER, pr=True, home=True),
                    carer(area, male, family, rel.FATHER, pr=False, home=False),
                )
            elif r < 0.95:
                parents = (carer(area, male, family, rel.FATHER, pr=True, home=True),)
            elif r < 0.98:  # kinship care by grandparents
                if rand() < 0.6:  # under a special guardianship order
                    grandmother = carer(area, female, family, rel.GRANDPARENT, pr=True, home=True)
                    if rand() < 0.4:
                        grandfather = carer(area, male, family, rel.GRANDPARENT, pr=True, home=True)
                        parents = (grandmother, grandfather)
                    else:
                        parents = (grandmother,)
                else:  # informally, the mother keeping parental responsibility
                    mother_given = FEMALE_NAMES[int(rand() * _N_FIRST)]
                    parents = (
                        carer(area, female, family, rel.GRANDPARENT, pr=False, home=True),
                        carer(area, mother_given, mother_family, rel.MOTHER, pr=True, home=False),
                    )
            elif r < 0.99:
                relationship = rel.GUARDIAN if rand() < 0.5 else rel.OTHER_RELATIVE
                parents = (carer(area, female, family, relationship, pr=True, home=True),)
            else:
                parents = (
                    carer(area, female, family, rel.ADOPTIVE_PARENT, pr=True, home=True),
                    carer(area, male, family, rel.ADOPTIVE_PARENT, pr=True, home=True),
                )
        return _Household(
            area=area,
            family_name=family,
            address=self._new_address(area),
            parents=parents,
            looked_after=looked_after,
            primary=area.primaries[int(rand() * len(area.primaries))],
            secondary=area.secondaries[int(rand() * len(area.secondaries))],
            gp=area.gp_settings[int(rand() * len(area.gp_settings))],
        )

    # --- children --------------------------------------------------------------

    def _adult_dob(self) -> int:
        """The date of birth (ordinal) of an 18–24 year old."""
        age = 18 + int(self._rand() ** 2 * 7)  # mostly 18 and 19
        latest = _add_years(self.today, -age).toordinal()
        earliest = _add_years(self.today, -age - 1).toordinal() + 1
        return earliest + int(self._rand() * (latest - earliest + 1))

    def _reference(self) -> str:
        self._seq += 1
        return f"INV-{self._seq:08d}"

    def _involvement(
        self,
        service: ServiceKind,
        organisation: Organisation,
        started_on: date,
        practitioner: Practitioner | None = None,
    ) -> Involvement:
        return Involvement(
            reference=self._reference(),
            service=service,
            organisation=organisation,
            started_on=started_on,
            practitioner=practitioner,
        )

    def _setting(
        self,
        place: Setting | School,
        service: ServiceKind,
        start_ord: int,
        end_ord: int = 0,
        practitioner: Practitioner | None = None,
    ) -> Involvement:
        """A universal-service involvement, shared by every child with the same one.

        ``place`` holds the organisation and its cache of involvements, keyed by
        the dates (a health visitor has a place of their own); ``end_ord`` 0
        means not ended.
        The reference names the service, organisation and dates, so it is unique
        within a record (and differs between suppliers), while identical
        involvements of different children are one immutable object.
        """
        key: int | tuple[int, int] = (start_ord, end_ord) if end_ord else start_ord
        cache = place.cache
        found = cache.get(key)
        if found is not None:
            return found
        started_on = date.fromordinal(start_ord)
        ended_on = date.fromordinal(end_ord) if end_ord else None
        organisation = place.org
        org_id = organisation.urn or organisation.ods_code or "ORG"
        reference = f"{_ABBREVIATIONS[service]}-{org_id}-{_yyyymmdd(started_on)}"
        if ended_on is not None:
            reference += f"-{_yyyymmdd(ended_on)}"
        if practitioner is not None:
            reference += f"-{_SLUGS.get(practitioner.name.family_name, 'P')[:6]}"
        made = cache[key] = Involvement(
            reference=reference,
            service=service,
            organisation=organisation,
            started_on=started_on,
            ended_on=ended_on,
            practitioner=practitioner,
        )
        return made

    def _setting_for_age(self, area: Area, dob: date) -> Setting | School | None:
        """An education setting right for a child born on ``dob``, or None if too young."""
        cohort = dob.year + (dob.month >= 9)
        group = self._academic_year - cohort - 4
        rand = self._rand
        if group < -2:
            return None
        if group < 0:
            return area.early_years[int(rand() * len(area.early_years))]
        if group <= 6:
            return area.primaries[int(rand() * len(area.primaries))]
        if group <= 11 or rand() < 0.6:
            return area.secondaries[int(rand() * len(area.secondaries))]
        return area.colleges[int(rand() * len(area.colleges))]

    def _child(self, hh: _Household, dob_ord: int) -> ChildRecord:
        rand = self._rand
        self._made += 1
        today_ord = self._today_ord
        area = hh.area
        ids = self._ids
        setting = self._setting
        sep1 = self._sep1_ord
        gp_starts = self._gp_starts
        gp_base = self._gp_base

        dob = date.fromordinal(dob_ord)
        age_days = today_ord - dob_ord
        month = dob.month
        age = self._today_year - dob.year - (self._today_md < (month, dob.day))
        cohort = dob.year + (month >= 9)
        group = self._academic_year - cohort - 4  # 0 = Reception, 7 = Year 7, ...

        # Name and gender.
        r = rand()
        if r < 0.503:
            gender, names = Gender.MALE, MALE_NAMES
        elif r < 0.99:
            gender, names = Gender.FEMALE, FEMALE_NAMES
        else:
            gender, names = Gender.NOT_KNOWN, (MALE_NAMES if rand() < 0.5 else FEMALE_NAMES)
        given = names[int(rand() * _N_FIRST)]
        taken = hh.given_names
        if taken and not BLOCKED_BY[given].isdisjoint(taken):
            given = self._other_name(names, taken)  # a brother or sister has it, or one like it
        family = hh.family_name
        r = rand()
        if r < 0.02:
            family = f"{family}-{SURNAMES[int(r * 50 * _N_SURNAMES)]}"
        r = rand()
        if r < 0.45:
            name = self._person(given, family)
        else:
            middle = names[int(rand() * _N_FIRST)]
            middles = (middle, names[int(rand() * _N_FIRST)]) if r > 0.88 else (middle,)
            preferred = None
            if r > 0.985:
                preferred = names[int(rand() * _N_FIRST)]
                if taken and not BLOCKED_BY[preferred].isdisjoint(taken):
                    preferred = self._other_name(names, taken)  # compared as a given name
                taken.add(preferred)
            name = PersonName(
                given_name=given,
                family_name=family,
                middle_names=middles,
                preferred_given_name=preferred,
            )
        taken.add(given)

        involvements: list[Involvement] = []
        add = involvements.append

        # Education setting (REC-3); some school-age children have none (REC-7).
        school: School | None = None
        if group >= 0:
            r = rand()
            if group <= 6:
                if r >= _NO_SCHOOL:
                    school = hh.primary
                    entry = cohort + 4
                    if r > 0.88:  # joined after Reception
                        entry += int(rand() * (group + 1))
                    start = sep1[entry]
                    add(school.cache.get(start) or setting(school, _EDUCATION, start))
            elif group <= 11:
                if r >= _NO_SCHOOL:
                    school = hh.secondary
                    if r > 0.985:
                        school = area.specials[int(rand() * len(area.specials))]
                    start = sep1[cohort + 11]
                    add(school.cache.get(start) or setting(school, _EDUCATION, start))
                    if rand() < 0.2:  # the primary school, with the involvement ended
                        end = sep1[cohort + 11] - 43  # 20 July
                        add(setting(hh.primary, _EDUCATION, sep1[cohort + 4], end))
            elif group <= 13 and r < 0.55:
                school = hh.secondary
                start = sep1[cohort + 16]
                add(school.cache.get(start) or setting(school, _EDUCATION, start))
            elif r < (0.9 if group <= 13 else 0.3):
                college = area.colleges[int(rand() * len(area.colleges))]
                start = sep1[cohort + 16]
                add(college.cache.get(start) or setting(college, _EDUCATION, start))
        elif group >= -2:
            r = rand()
            if r < 0.55:
                early = area.early_years[int(r * 10) % len(area.early_years)]
                start = sep1[self._academic_year - (group == -1 and r < 0.25)]
                add(early.cache.get(start) or setting(early, _EDUCATION, start))

        # GP practice (REC-3); some children have none (REC-7). Registrations take
        # effect on the first Monday of a month (so children registered the same
        # month share one involvement object); a newborn may not be registered yet.
        r = rand()
        if r >= _NO_GP:
            if r < 0.75:  # registered as a baby
                start_ord = gp_starts[dob_ord + 14 + int(rand() * 42) - gp_base]
            else:  # registered later, or moved practice
                start_ord = gp_starts[dob_ord + int(rand() * (age_days + 1)) - gp_base]
            if start_ord <= today_ord:
                gp = hh.gp if r < 0.9 else area.gp_settings[int(rand() * GP_PRACTICES)]
                add(gp.cache.get(start_ord) or setting(gp, _GP, start_ord))

        # Midwife and health visitor for the youngest, school nurse for some pupils.
        if age < 5:
            practitioners = area.practitioners
            if age_days < 42 and rand() < 0.9:
                end_ord = dob_ord + 10 + int(rand() * 18)
                add(
                    Involvement(
                        reference=self._reference(),
                        service=_MIDWIFE,
                        organisation=area.services[_MIDWIFE][0],
                        started_on=date.fromordinal(dob_ord - 180 - int(rand() * 60)),
                        practitioner=practitioners[_MIDWIFE][int(rand() * 6)],
                        ended_on=date.fromordinal(end_ord) if end_ord <= today_ord else None,
                    )
                )
            start_ord = dob_ord + 10
            start_ord += (1 - start_ord) % 7  # the new-birth visit, on a Monday
            if start_ord <= today_ord and rand() < 0.88:
                i = int(rand() * 6)
                visitor = practitioners[_HEALTH_VISITOR][i]
                visits = area.visits[i]
                add(
                    visits.cache.get(start_ord)
                    or setting(visits, _HEALTH_VISITOR, start_ord, 0, visitor)
                )
        if school is not None and group <= 11 and rand() < 0.06:
            since = sep1[cohort + 4]
            add(
                self._involvement(
                    _SCHOOL_NURSE,
                    area.services[_SCHOOL_NURSE][0],
                    date.fromordinal(since + int(rand() * (today_ord - since + 1))),
                    area.practitioners[_SCHOOL_NURSE][int(rand() * 6)],
                )
            )

        # Additional services (REC-4) with the REC-5 indicators.
        extension: RetentionExtension | None = None
        if dob_ord <= self._youngest_adult_ord:
            extension = self._extension(dob, age)
        if hh.looked_after or rand() < 0.11 or extension is not None:
            self._additional_services(
                involvements,
                hh,
                school=school,
                group=group,
                age=age,
                dob_ord=dob_ord,
                extension=extension,
            )

        # Sensitive services (SENS-1), with consent unless asked otherwise (SENS-2).
        if age >= 5 and rand() < self._any_sensitive:
            self._sensitive_services(involvements, hh, dob_ord, age)

        # Source identifiers (REC-1): at least one. An NHS number for most, and
        # for every child with no other identifier; for the others only while
        # the range has more than the children still to come will need.
        r = rand()
        wants_nhs = age < 5 or r < 0.97
        upn = None
        former_upns: tuple[Upn, ...] = ()
        school_refs: tuple[SchoolReference, ...] = ()
        uln = None
        if group >= 0:
            if school is not None or r < 0.8:
                first = hh.primary
                upn = ids.upn(area.code, first.establishment, first.upn_sum, cohort + 4)
                if r > 0.99:
                    other = area.primaries[int(rand() * len(area.primaries))]
                    former_upns = (
                        ids.upn(area.code, other.establishment, other.upn_sum, cohort + 4),
                    )
            if school is not None and rand() < 0.04:
                school_refs = (ids.school_reference(area.code + school.establishment, rand()),)
            if age >= 14 and rand() < 0.6:
                uln = ids.uln()
        has_other = upn is not None or uln is not None or bool(school_refs)
        if not has_other or (
            wants_nhs and (self._made <= self._nhs_sure_until or self._spare_nhs())
        ):
            nhs = ids.nhs_number()
        else:
            nhs = None

        # Rare: a shield, a death in the last year.
        r = rand()
        shield = self._shield(area, dob_ord) if r < _SHIELDED else None
        died_on = None
        if r > 1.0 - _DIED:
            since = max(dob_ord, today_ord - 364)
            died_on = date.fromordinal(since + int(rand() * (today_ord - since + 1)))

        return ChildRecord(
            directory_id=ids.directory_id(),
            name=name,
            gender=gender,
            date_of_birth=dob,
            address=hh.address,
            identifiers=SourceIdentifiers(
                upn=upn,
                former_upns=former_upns,
                uln=uln,
                nhs_number=nhs,
                school_references=school_refs,
            ),
            parents=hh.parents,
            involvements=tuple(involvements),
            local_authority=area.code,
            shield=shield,
            died_on=died_on,
            retention_extension=extension,
        )

    def _other_name(self, names: tuple[str, ...], taken: set[str]) -> str:
        """A name of ``names`` (one sex's) neither in ``taken`` nor one the matcher
        could take for one of those, from the sibling-name generator (``__init__``)."""
        free = [n for n in names if BLOCKED_BY[n].isdisjoint(taken)]
        return free[int(self._sibling_rand() * len(free))]

    def _spare_nhs(self) -> bool:
        """Whether a child with another identifier may have an NHS number too:
        the range keeps enough for the children still planned (module docstring).

        With ``margin`` numbers over what is kept back, the next children up to
        ``margin`` later may too: each child takes at most one number, and what
        is kept back only shrinks as children are made (a larger plan resets
        ``_nhs_sure_until``).
        """
        made = self._made
        left = self._plan - made
        kept = 0.0
        if left > 0:
            kept = self._nhs_need * left + _NHS_NEED_SIGMAS * math.sqrt(left) + _NHS_NEED_SLACK
        margin = self._ids.nhs_numbers_left - kept
        if margin <= 0:
            return False
        self._nhs_sure_until = made + math.ceil(margin) - 1
        return True

    def _extension(self, dob: date, age: int) -> RetentionExtension:
        """Consent, given at 17, to keep an 18-24 year old's record (RET-2)."""
        rand = self._rand
        reason = (
            RetentionExtensionReason.CONNEXIONS
            if age <= 19 and rand() < 0.5
            else _LATER_REASONS[int(rand() * 3)]
        )
        b17 = _add_years(dob, 17).toordinal()
        b18 = _add_years(dob, 18).toordinal()
        return RetentionExtension(
            reason=reason, consented_on=date.fromordinal(b17 + int(rand() * (b18 - b17)))
        )

    def _additional_services(
        self,
        involvements: list[Involvement],
        hh: _Household,
        *,
        school: School | None,
        group: int,
        age: int,
        dob_ord: int,
        extension: RetentionExtension | None,
    ) -> None:
        """REC-4 services for the roughly one child in nine who has any."""
        rand = self._rand
        wanted: list[tuple[ServiceKind, Organisation | None]] = []
        reason = extension.reason if extension is not None else None
        if hh.looked_after or rand() < 0.3 or reason is RetentionExtensionReason.LEAVING_CARE:
            wanted.append((ServiceKind.SOCIAL_CARE, None))
        if school is not None and group <= 11:
            if rand() < 0.6:
                wanted.append((ServiceKind.SENCO, school.org))
            if rand() < 0.1:
                wanted.append((ServiceKind.SEN_TEACHER, None))
        if age >= 10 and rand() < 0.05:
            wanted.append((ServiceKind.YOUTH_OFFENDING_TEAM, None))
        if 8 <= age <= 13 and rand() < 0.03:
            wanted.append((ServiceKind.YOUTH_INCLUSION_SUPPORT_PANEL, None))
        if (age >= 13 and rand() < 0.5) or reason is RetentionExtensionReason.CONNEXIONS:
            wanted.append((ServiceKind.CONNEXIONS, None))
        if rand() < 0.1:
            wanted.append((ServiceKind.OTHER_ADDITIONAL, None))
        lead_taken = False
        for kind, org in wanted:
            lead = not lead_taken and rand() < 0.4
            lead_taken = lead_taken or lead
            involvements.append(self._additional(kind, org, hh.area, dob_ord, lead))

    def _sensitive_services(
        self, involvements: list[Involvement], hh: _Household, dob_ord: int, age: int
    ) -> None:
        """SENS-1 services for the few children who have any (all aged 5 or more)."""
        rand = self._rand
        scale = self._sensitive_rate / self._any_sensitive
        added = False
        if age >= 13 and rand() < _SEXUAL_HEALTH * scale:
            kind = _SEXUAL_HEALTH_KINDS[int(rand() * len(_SEXUAL_HEALTH_KINDS))]
            involvements.append(self._sensitive(kind, hh, dob_ord, age))
            added = True
        if rand() < _MENTAL_HEALTH * scale:
            kind = _CAMHS_KINDS[int(rand() * len(_CAMHS_KINDS))]
            involvements.append(self._sensitive(kind, hh, dob_ord, age))
            added = True
        if (age >= 12 and rand() < _SUBSTANCE_MISUSE * scale) or not added:
            kind = _SUBSTANCE_KINDS[int(rand() * len(_SUBSTANCE_KINDS))]
            if age < 12:
                kind = _CAMHS_KINDS[int(rand() * len(_CAMHS_KINDS))]
            involvements.append(self._sensitive(kind, hh, dob_ord, age))

    def _additional(
        self,
        kind: ServiceKind,
        organisation: Organisation | None,
        area: Area,
        dob_ord: int,
        lead: bool,
    ) -> Involvement:
        rand = self._rand
        today_ord = self._today_ord
        since = max(dob_ord, today_ord - 5 * 365)
        start_ord = since + int(rand() * (today_ord - since + 1))
        ended_on = None
        retention = ContactRetention.STANDARD
        if not lead and rand() < 0.2:
            ended_on = date.fromordinal(start_ord + int(rand() * (today_ord - start_ord + 1)))
            if rand() < 0.4:
                retention = ContactRetention.EXTENDED
        return Involvement(
            reference=self._reference(),
            service=kind,
            organisation=organisation
            or area.services[kind][int(rand() * len(area.services[kind]))],
            started_on=date.fromordinal(start_ord),
            practitioner=area.practitioners[kind][int(rand() * 6)],
            lead_professional=lead,
            caf_completed=rand() < 0.25,
            ended_on=ended_on,
            contact_retention=retention,
        )

    def _sensitive(self, kind: ServiceKind, hh: _Household, dob_ord: int, age: int) -> Involvement:
        rand = self._rand
        today_ord = self._today_ord
        area = hh.area
        since = max(dob_ord, today_ord - 2 * 365)
        start_ord = since + int(rand() * (today_ord - since + 1))
        practitioner = area.practitioners[kind][int(rand() * 6)]
        consent = None
        if rand() >= self._unconsented:
            given_on = date.fromordinal(max(dob_ord, start_ord - int(rand() * 7)))
            if age >= 13 or not hh.carer_names:
                consent = Consent(
                    given_by=ConsentGiver.CHILD, given_on=given_on, recorded_by=practitioner.name
                )
            else:
                consent = Consent(
                    given_by=ConsentGiver.PARENT_CARER,
                    given_on=given_on,
                    recorded_by=practitioner.name,
                    giver_name=hh.carer_names[0],
                    child_lacks_understanding=True,
                )
        orgs = area.services[kind]
        return Involvement(
            reference=self._reference(),
            service=kind,
            organisation=orgs[int(rand() * len(orgs))],
            started_on=date.fromordinal(start_ord),
            practitioner=practitioner,
            consent=consent,
        )

    def _shield(self, area: Area, dob_ord: int) -> Shield:
        rand = self._rand
        today_ord = self._today_ord
        since = max(dob_ord, today_ord - 3 * 365)
        requested_ord = since + int(rand() * (today_ord - since + 1))
        # Office hours in UTC, so the UK date of the request is ``requested_ord``.
        seconds = 8 * 3600 + int(rand() * 9 * 3600)
        requested_at = datetime.combine(
            date.fromordinal(requested_ord), datetime.min.time(), tzinfo=UTC
        ) + timedelta(seconds=seconds)
        reviews: list[ShieldReview] = []
        if rand() < 0.9:  # the rest are overdue for their first review (SHLD-3)
            review_ord = requested_ord + 1 + int(rand() * 7)
            while review_ord <= today_ord:
                parties = sorted(
                    {_REVIEW_PARTIES[int(rand() * len(_REVIEW_PARTIES))] for _ in range(3)},
                    key=_REVIEW_PARTIES.index,
                )
                reviews.append(
                    ShieldReview(
                        reviewed_on=date.fromordinal(review_ord),
                        reviewed_by=f"{area.info.name} management team",
                        views_considered=tuple(parties),
                        maintained=True,
                    )
                )
                review_ord += 150 + int(rand() * 30)
        return Shield(
            requested_at=requested_at,
            ground=_SHIELD_GROUNDS[int(rand() * len(_SHIELD_GROUNDS))],
            requested_by=f"user-{area.code}-{int(rand() * 10000):04d}",
            reviews=tuple(reviews),
        )

    def _typo(self, name: str) -> str:
        """``name`` with one letter substituted, inserted or deleted (never the first)."""
        rand = self._rand
        letters = string.ascii_lowercase
        for _ in range(200):
            op = rand()
            if op < 0.4:
                spots = [i for i in range(1, len(name)) if name[i].isalpha()]
                if not spots:
                    continue
                i = spots[int(rand() * len(spots))]
                c = letters[int(rand() * 26)]
                if c == name[i].lower():
                    continue
                typo = name[:i] + c + name[i + 1 :]
            elif op < 0.7:
                spots = [i for i in range(1, len(name) + 1) if name[i - 1].isalpha()]
                i = spots[int(rand() * len(spots))]
                typo = name[:i] + letters[int(rand() * 26)] + name[i:]
            else:
                spots = [i for i in range(1, len(name)) if name[i].isalpha()]
                if len(name) < 3 or not spots:
                    continue
                i = spots[int(rand() * len(spots))]
                typo = name[:i] + name[i + 1 :]
            try:
                PersonName(given_name=typo, family_name=typo)
            except ValidationError:
                continue
            return typo
        raise ValueError("no one-letter typo of this name is a valid name")


def _not_before(inv: Involvement, day: date) -> Involvement:
    """``inv`` with its start (and end) moved to ``day`` if earlier (midwives excepted)."""
    if inv.service is ServiceKind.MIDWIFE or inv.started_on >= day:
        return inv
    ended_on = inv.ended_on
    if ended_on is not None and ended_on < day:
        ended_on = day
    return attrs.evolve(inv, started_on=day, ended_on=ended_on)
