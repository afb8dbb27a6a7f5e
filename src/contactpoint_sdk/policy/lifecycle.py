"""When a record is archived and destroyed, and when contact details go (RET-1..RET-8).

Pure: every function takes the date it judges on (RET-8); nothing reads a
clock. Dates are UK calendar dates: turn an instant into one with
:func:`contactpoint_sdk.clock.uk_date` (a quarter past midnight in British Summer Time is already
the next day in England, though still the day before in UTC).

**"Due" means due on the date.** A record whose archive date is 1 June is
``ACTIVE`` on 31 May and ``DUE_FOR_ARCHIVE`` from 1 June; the same for
destruction and for an involvement's contact details.

**29 February.** Year arithmetic counts anniversaries, and the anniversary of
29 February in a year without one is **1 March**: :func:`add_years`. A child
born on 29 February 2008 turns 18 on 1 March 2026. This follows the Family
Law Reform Act 1969 s.9, under which a person attains an age "at the
commencement of the relevant anniversary of the date of his birth"; the
anniversary of 29 February in a common year is taken as the day after 28
February, which is the reading the UK generally applies (and which the
codec's age check shares: such a child is not yet a year older on 28
February). The same rule serves every year-based date in the policy (death
anniversary, archive keep, contact retention, disclosure and training
validity), so a date is never a day earlier in one rule than in another.
Month arithmetic (:func:`add_months`, used by shield reviews) clamps to the
end of the shorter month instead: 31 August + 6 months = 28 (or 29) February.

**Which event archives a record** (:func:`lifecycle`):

* RET-1: the 18th birthday, or with a RET-2 extension in place, the 20th
  (Connexions) or 25th (leaving care, learning difficulty, other services)
  birthday. An extension counts only if its consent is dated on or before
  ``today`` and on or before the 18th birthday: consent must be in place by the
  day the record would otherwise leave.
* RET-3: a child who dies while the record is live stays one year: the record
  is archived on the first anniversary of the death, even if the 18th (or
  extended) birthday falls inside that year; the one-year rule is the specific
  one for a death (§2.6). A death recorded on or after the day the record fell
  due changes nothing. No record outlives the 25th birthday, death or not
  (the codec refuses a date of birth 25 or more years ago): a young person
  with an extension who dies within a year of turning 25 is archived on the
  25th birthday (``EXTENSION_ENDED``).
* RET-4: a child found not ordinarily resident, or gone and not returning within
  three years, is archived on the day that was determined (``left_england_on``).
* The record is archived on the earliest of these dates. On a tie the reason
  reported is, in order: death, left England, birthday.
"""

from __future__ import annotations

import calendar
import enum
from datetime import date, datetime

import attrs

from contactpoint_sdk.clock import uk_date
from contactpoint_sdk.models.enums import ContactRetention
from contactpoint_sdk.models.record import ChildRecord, Involvement, RetentionExtension
from contactpoint_sdk.policy.settings import DEFAULT_POLICY, PolicySettings

__all__ = [
    "ArchiveReason",
    "LifecycleState",
    "LifecycleStatus",
    "add_months",
    "add_years",
    "archive_due",
    "birthday",
    "contact_details_due_for_archive",
    "contact_details_kept_until",
    "extension_applies",
    "lifecycle",
    "lifecycle_at",
]


# --- Date arithmetic ---------------------------------------------------------


def add_years(start: date, years: int) -> date:
    """The ``years``-th anniversary of ``start``; 29 February falls on 1 March
    in a year without one (Family Law Reform Act 1969 s.9; see module notes).

    ``years`` may be negative (an anniversary in the past), with the same rule.
    """
    year = start.year + years
    if start.month == 2 and start.day == 29 and not calendar.isleap(year):
        return date(year, 3, 1)
    return start.replace(year=year)


def birthday(born: date, age: int) -> date:
    """The day a child born on ``born`` attains ``age`` (RET-1, RET-2).

    A child born on 29 February has their birthday on 1 March in a common
    year: ``birthday(date(2008, 2, 29), 18) == date(2026, 3, 1)``.
    """
    if age < 0:
        raise ValueError("an age is not negative")
    return add_years(born, age)


def add_months(start: date, months: int) -> date:
    """``start`` moved by ``months`` calendar months, clamped to the end of a
    shorter month: 31 August + 6 months = 28 February (29 in a leap year).

    Used for shield reviews (SHLD-3, "at least every 6 months"): clamping makes
    the next review due earlier rather than later.
    """
    index = start.year * 12 + (start.month - 1) + months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(start.day, last))


# --- Record lifecycle (RET-1..RET-6) ----------------------------------------


class LifecycleState(enum.Enum):
    """Where a record is in its life (RET-1..RET-5)."""

    ACTIVE = "active"
    DUE_FOR_ARCHIVE = "due_for_archive"
    ARCHIVED = "archived"
    DUE_FOR_DESTRUCTION = "due_for_destruction"


class ArchiveReason(enum.Enum):
    """Why a record leaves the directory, with its rule in :attr:`rule`."""

    EIGHTEENTH_BIRTHDAY = "eighteenth_birthday"  # RET-1
    EXTENSION_ENDED = "extension_ended"  # RET-2: 20th or 25th birthday
    ONE_YEAR_AFTER_DEATH = "one_year_after_death"  # RET-3
    LEFT_ENGLAND = "left_england"  # RET-4

    @property
    def rule(self) -> str:
        """The RULES.md ID this reason comes from."""
        return _REASON_RULES[self]


_REASON_RULES = {
    ArchiveReason.EIGHTEENTH_BIRTHDAY: "RET-1",
    ArchiveReason.EXTENSION_ENDED: "RET-2",
    ArchiveReason.ONE_YEAR_AFTER_DEATH: "RET-3",
    ArchiveReason.LEFT_ENGLAND: "RET-4",
}

# Tie-break order when two events fall on one day (lower first).
_REASON_PRIORITY = {
    ArchiveReason.ONE_YEAR_AFTER_DEATH: 0,
    ArchiveReason.LEFT_ENGLAND: 1,
    ArchiveReason.EXTENSION_ENDED: 2,
    ArchiveReason.EIGHTEENTH_BIRTHDAY: 2,
}


@attrs.frozen(kw_only=True)
class LifecycleStatus:
    """A record's lifecycle on one UK date.

    ``archive_due_on`` is the day the record leaves the directory (RET-1..4),
    for the reason in ``archive_reason``. ``archived_on`` is when it actually
    did, if it has. ``destroy_due_on`` is six years after ``archived_on``
    (RET-5), and ``None`` while the record is not archived.
    """

    state: LifecycleState
    archive_reason: ArchiveReason
    archive_due_on: date
    archived_on: date | None
    destroy_due_on: date | None

    @property
    def rule(self) -> str:
        """The rule that governs the current state."""
        if self.state in (LifecycleState.ARCHIVED, LifecycleState.DUE_FOR_DESTRUCTION):
            return "RET-5"
        return self.archive_reason.rule

    @property
    def is_live(self) -> bool:
        """True while the record is in the directory (not yet archived)."""
        return self.archived_on is None


def extension_applies(
    record: ChildRecord, today: date, *, settings: PolicySettings = DEFAULT_POLICY
) -> RetentionExtension | None:
    """The record's RET-2 extension if it counts on ``today``, else ``None``.

    It counts if its consent is dated on or before ``today`` (consent not yet
    given does not count) and on or before the 18th birthday (the record
    must not already have been due to leave).
    """
    ext = record.retention_extension
    if ext is None:
        return None
    eighteenth = birthday(record.date_of_birth, settings.adult_age_years)
    if ext.consented_on > today or ext.consented_on > eighteenth:
        return None
    return ext


def archive_due(
    record: ChildRecord, today: date, *, settings: PolicySettings = DEFAULT_POLICY
) -> tuple[date, ArchiveReason]:
    """The day the record leaves the directory, and why (RET-1..RET-4).

    ``today`` matters only to decide whether a RET-2 extension's consent has
    been given yet (:func:`extension_applies`).
    """
    ext = extension_applies(record, today, settings=settings)
    if ext is None:
        age_due = birthday(record.date_of_birth, settings.adult_age_years)
        age_reason = ArchiveReason.EIGHTEENTH_BIRTHDAY
    else:
        age_due = birthday(record.date_of_birth, settings.archive_age_for(ext.reason))
        age_reason = ArchiveReason.EXTENSION_ENDED

    candidates: list[tuple[date, ArchiveReason]] = []
    if record.died_on is not None and record.died_on < age_due:
        # RET-3: died while live; stays one year, whatever birthday comes,
        # but never past the last birthday any record may be live to (RET-2).
        death_due = add_years(record.died_on, settings.death_retention_years)
        candidates.append((death_due, ArchiveReason.ONE_YEAR_AFTER_DEATH))
        last = birthday(record.date_of_birth, settings.max_record_age_years)
        candidates.append((last, ArchiveReason.EXTENSION_ENDED))
    else:
        candidates.append((age_due, age_reason))
    if record.left_england_on is not None:
        candidates.append((record.left_england_on, ArchiveReason.LEFT_ENGLAND))
    return min(candidates, key=lambda c: (c[0], _REASON_PRIORITY[c[1]]))


def lifecycle(
    record: ChildRecord,
    today: date,
    *,
    archived_on: date | None = None,
    settings: PolicySettings = DEFAULT_POLICY,
) -> LifecycleStatus:
    """The record's lifecycle on the UK date ``today`` (RET-1..RET-5, RET-8).

    Without ``archived_on`` the record is live: ``ACTIVE`` before its archive
    date, ``DUE_FOR_ARCHIVE`` on and after it. With ``archived_on`` (the day it
    was actually archived, which may differ from the due date if the archive
    job ran late or an authority archived it early) it is ``ARCHIVED`` until
    six years after that day and ``DUE_FOR_DESTRUCTION`` on and after it (RET-5).

    ``archived_on`` after ``today`` is a caller's mistake: ``ValueError``.
    """
    due_on, reason = archive_due(record, today, settings=settings)
    if archived_on is None:
        state = LifecycleState.DUE_FOR_ARCHIVE if today >= due_on else LifecycleState.ACTIVE
        return LifecycleStatus(
            state=state,
            archive_reason=reason,
            archive_due_on=due_on,
            archived_on=None,
            destroy_due_on=None,
        )
    if archived_on > today:
        raise ValueError(f"archived_on {archived_on} is after today {today}")
    destroy_on = add_years(archived_on, settings.archive_keep_years)
    state = LifecycleState.DUE_FOR_DESTRUCTION if today >= destroy_on else LifecycleState.ARCHIVED
    return LifecycleStatus(
        state=state,
        archive_reason=reason,
        archive_due_on=due_on,
        archived_on=archived_on,
        destroy_due_on=destroy_on,
    )


def lifecycle_at(
    record: ChildRecord,
    now: datetime,
    *,
    archived_on: date | None = None,
    settings: PolicySettings = DEFAULT_POLICY,
) -> LifecycleStatus:
    """:func:`lifecycle` on the UK date of the aware instant ``now`` (RET-8)."""
    return lifecycle(record, uk_date(now), archived_on=archived_on, settings=settings)


# --- Involvement contact details (RET-7) ------------------------------------


def contact_details_kept_until(
    involvement: Involvement, *, settings: PolicySettings = DEFAULT_POLICY
) -> date | None:
    """The day an ended involvement's contact details are archived (RET-7).

    ``None`` while the involvement has not ended. One year after ``ended_on``;
    five years for an ``EXTENDED`` retention on a specialist or targeted
    service. The model records only that the practitioner chose to extend, not
    for how long, so the extension is taken at its maximum ("up to five
    years"). ``EXTENDED`` on a universal service (which the model refuses to
    build) would get the standard year.
    """
    if involvement.ended_on is None:
        return None
    if (
        involvement.contact_retention is ContactRetention.EXTENDED
        and involvement.service.is_specialist_or_targeted
    ):
        years = settings.involvement_contact_extended_years
    else:
        years = settings.involvement_contact_retention_years
    return add_years(involvement.ended_on, years)


def contact_details_due_for_archive(
    involvement: Involvement, today: date, *, settings: PolicySettings = DEFAULT_POLICY
) -> bool:
    """True on and after the day the involvement's contact details go (RET-7)."""
    until = contact_details_kept_until(involvement, settings=settings)
    return until is not None and today >= until
