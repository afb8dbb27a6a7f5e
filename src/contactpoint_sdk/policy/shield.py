"""Shields: when they take effect, when they are reviewed, who may ask (SHLD-2..SHLD-6).

Pure: instants and dates are always passed in (RET-8). What a shield hides is
redaction's business (SHLD-1); this module says whether one is in effect.

* SHLD-2: a shield is in effect from the instant it was requested
  (``Shield.requested_at``), before any review.
* SHLD-3: the local authority management team reviews it within
  :attr:`~contactpoint_sdk.policy.settings.PolicySettings.shield_first_review_days`
  (7) days of the request, then at least every
  :attr:`~contactpoint_sdk.policy.settings.PolicySettings.shield_review_interval_months`
  (6) months after the last review. :func:`next_review_due` is the **last day
  on which the review is on time**; it is overdue from the day after.
  Request on 1 March (UK date): first review due by 8 March, overdue on 9
  March. Month arithmetic clamps to the end of a shorter month
  (:func:`~contactpoint_sdk.policy.lifecycle.add_months`): a review on 31
  August makes the next due on 28 February (29 in a leap year), never on
  2 or 3 March, since the rule says "at least" every six months.
* A review that does not maintain the shield (``maintained=False``) lifts it.
  The model records the review's date, not its instant, so the shield stays in
  effect to the end of that UK day and is lifted from midnight (UK) starting
  the next: erring on the side of hiding. A lifted shield has no review due.
* SHLD-4: the grounds are the closed list
  :class:`~contactpoint_sdk.models.enums.ShieldGround`.
* SHLD-6: only some roles may request a shield through the API
  (:data:`~contactpoint_sdk.policy.settings.SHIELD_REQUEST_ROLES`, *policy*):
  the LA management team, social care, police child abuse investigation,
  health practitioners, head teachers, deputy heads and teachers with pastoral
  or child-protection duties. Others contact the local authority (§5.3).

Refusal codes: ``shield_request_not_permitted`` (SHLD-6),
``shield_ground_invalid`` (SHLD-4), ``review_before_request``,
``review_out_of_order``, ``shield_lifted`` (SHLD-3).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

import attrs

from contactpoint_sdk.clock import UK, uk_date
from contactpoint_sdk.errors import PolicyRefusal
from contactpoint_sdk.models.enums import ShieldGround
from contactpoint_sdk.models.identifiers import DirectoryId
from contactpoint_sdk.models.record import ChildRecord, Shield, ShieldReview
from contactpoint_sdk.policy.lifecycle import add_months
from contactpoint_sdk.policy.settings import DEFAULT_POLICY, PolicySettings
from contactpoint_sdk.policy.viewer import Role

__all__ = [
    "OverdueReview",
    "add_review",
    "may_request_shield",
    "next_review_due",
    "overdue_reviews",
    "request_shield",
    "require_may_request_shield",
    "review_overdue",
    "shield_in_effect",
    "shield_lifted_on",
    "shield_requested_on",
]


def _aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime")
    return moment


def shield_requested_on(shield: Shield) -> date:
    """The UK date of the shield request (SHLD-3 counts from it)."""
    return uk_date(_aware(shield.requested_at, "Shield.requested_at"))


def shield_lifted_on(shield: Shield) -> date | None:
    """The date of the first review that did not maintain the shield, if any (SHLD-3)."""
    lifted = [r.reviewed_on for r in shield.reviews if not r.maintained]
    return min(lifted) if lifted else None


def shield_in_effect(record: ChildRecord, at: datetime) -> bool:
    """True if the record is shielded at the aware instant ``at`` (SHLD-2).

    In effect from ``requested_at`` exactly (the moment of the request, before
    any review), until the end of the UK day of a review that lifted it.
    """
    _aware(at, "at")
    shield = record.shield
    if shield is None:
        return False
    if at < _aware(shield.requested_at, "Shield.requested_at"):
        return False
    lifted_on = shield_lifted_on(shield)
    if lifted_on is None:
        return True
    lifted_from = datetime.combine(lifted_on + timedelta(days=1), time(0), tzinfo=UK)
    return at < lifted_from


def next_review_due(shield: Shield, settings: PolicySettings = DEFAULT_POLICY) -> date:
    """The last day on which the shield's next review is on time (SHLD-3).

    With no review yet: the request's UK date + 7 days. After a review: the
    latest review's date + 6 months, clamped to month end (31 August ->
    28/29 February).
    """
    if not shield.reviews:
        return shield_requested_on(shield) + timedelta(days=settings.shield_first_review_days)
    last = max(r.reviewed_on for r in shield.reviews)
    return add_months(last, settings.shield_review_interval_months)


def review_overdue(shield: Shield, today: date, settings: PolicySettings = DEFAULT_POLICY) -> bool:
    """True if the shield is in place and its review is overdue on ``today`` (SHLD-3):
    on the day after :func:`next_review_due`. A lifted shield is never overdue."""
    return shield_lifted_on(shield) is None and today > next_review_due(shield, settings)


@attrs.frozen(kw_only=True)
class OverdueReview:
    """A shielded record whose review is overdue (SHLD-3), for the management
    team of ``local_authority``. Identifiers only, no child data."""

    directory_id: DirectoryId
    local_authority: str | None
    due_on: date
    days_overdue: int
    first_review: bool
    rule: str = "SHLD-3"


def overdue_reviews(
    records: Iterable[ChildRecord], today: date, settings: PolicySettings = DEFAULT_POLICY
) -> list[OverdueReview]:
    """Every shielded record whose review is overdue on ``today`` (SHLD-3).

    Most overdue first (earliest due date), then by directory identifier.
    Shields requested after ``today`` and lifted shields are left out.
    """
    out: list[OverdueReview] = []
    for record in records:
        shield = record.shield
        if shield is None or shield_requested_on(shield) > today:
            continue
        if not review_overdue(shield, today, settings):
            continue
        due_on = next_review_due(shield, settings)
        out.append(
            OverdueReview(
                directory_id=record.directory_id,
                local_authority=record.local_authority,
                due_on=due_on,
                days_overdue=(today - due_on).days,
                first_review=not shield.reviews,
            )
        )
    out.sort(key=lambda o: (o.due_on, o.directory_id.value))
    return out


def may_request_shield(role: Role, settings: PolicySettings = DEFAULT_POLICY) -> bool:
    """True if a user in ``role`` may request a shield through the API (SHLD-6)."""
    return role in settings.shield_request_roles


def require_may_request_shield(role: Role, settings: PolicySettings = DEFAULT_POLICY) -> None:
    """Raise :class:`~contactpoint_sdk.errors.PolicyRefusal` (SHLD-6) unless
    ``role`` may request a shield."""
    if not may_request_shield(role, settings):
        raise PolicyRefusal(
            f"the role {role.value!r} may not request a shield; contact the local authority",
            code="shield_request_not_permitted",
            rule="SHLD-6",
        )


def request_shield(
    *,
    role: Role,
    ground: ShieldGround,
    requested_by: str,
    at: datetime,
    settings: PolicySettings = DEFAULT_POLICY,
) -> Shield:
    """A new shield, in effect from ``at`` (SHLD-2), on a SHLD-4 ground, requested
    by a user whose role has the right (SHLD-6). The ground is kept with it."""
    require_may_request_shield(role, settings)
    if not isinstance(ground, ShieldGround):
        raise PolicyRefusal(
            f"{ground!r} is not a shield ground",
            code="shield_ground_invalid",
            rule="SHLD-4",
        )
    return Shield(requested_at=_aware(at, "at"), ground=ground, requested_by=requested_by)


def add_review(shield: Shield, review: ShieldReview) -> Shield:
    """The shield with ``review`` recorded (SHLD-3).

    Refused (``PolicyRefusal``, SHLD-3): a review dated before the request
    (``review_before_request``), before the latest review
    (``review_out_of_order``), or of a shield already lifted
    (``shield_lifted``).
    """
    lifted_on = shield_lifted_on(shield)
    if lifted_on is not None:
        raise PolicyRefusal(
            f"the shield was lifted on {lifted_on.isoformat()}; request a new one",
            code="shield_lifted",
            rule="SHLD-3",
        )
    if review.reviewed_on < shield_requested_on(shield):
        raise PolicyRefusal(
            "a review cannot be dated before the shield was requested",
            code="review_before_request",
            rule="SHLD-3",
        )
    if shield.reviews and review.reviewed_on < max(r.reviewed_on for r in shield.reviews):
        raise PolicyRefusal(
            "a review cannot be dated before the latest review",
            code="review_out_of_order",
            rule="SHLD-3",
        )
    return attrs.evolve(shield, reviews=(*shield.reviews, review))
