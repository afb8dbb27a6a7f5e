"""Who may sign in: authorised users (ACC-1) in eligible roles (ACC-2).

Pure: the date is always passed in (RET-8). :func:`check_eligibility` reports
**every** reason an account may not sign in, in a fixed order;
:func:`require_eligible` raises with the first.

ACC-1 asks for an eligible role (the ACC-2 list), nomination by the user's
organisation, training, an enhanced criminal-records disclosure under three
years old, and all four credentials: username, password, PIN and security
token. A lapsed disclosure or training blocks access. A suspended account
(an administrator's decision, for instance after reported misuse, ACC-4) is
refused too.

**Validity boundaries.** A disclosure issued on D is "under three years old"
up to and including the day before its third anniversary, and **lapsed on the
anniversary itself**: issued 10 May 2022, valid on 9 May 2025, lapsed on 10
May 2025. The anniversary of 29 February is 1 March
(:func:`~contactpoint_sdk.policy.lifecycle.add_years`): issued 29 February
2024, lapsed on 1 March 2027. Training (validity *(policy)*, three years by
default) works the same way. A disclosure or training dated after ``today``
does not count yet and is reported as missing.

Codes (stable, rule ``ACC-1`` for all): ``role_not_eligible``,
``not_nominated``, ``training_missing``, ``training_lapsed``,
``disclosure_missing``, ``disclosure_lapsed``, ``credential_missing`` (one per
missing credential, naming it in :attr:`IneligibilityReason.credential`),
``suspended``.
"""

from __future__ import annotations

import enum
from datetime import date

import attrs

from contactpoint_sdk.errors import PolicyRefusal
from contactpoint_sdk.policy.lifecycle import add_years
from contactpoint_sdk.policy.settings import DEFAULT_POLICY, PolicySettings
from contactpoint_sdk.policy.viewer import Purpose, Role, Viewer

__all__ = [
    "Credential",
    "Eligibility",
    "IneligibilityReason",
    "UserAccount",
    "check_eligibility",
    "require_eligible",
]

RULE = "ACC-1"


class Credential(enum.Enum):
    """The four credentials every user holds (ACC-1, §3.2, §3.7)."""

    USERNAME = "username"
    PASSWORD = "password"  # noqa: S105 - a credential's name, not a password
    PIN = "pin"
    SECURITY_TOKEN = "security_token"  # noqa: S105 - a credential's name


@attrs.frozen(kw_only=True)
class UserAccount:
    """A directory user as the directory knows them (ACC-1, ACC-2).

    ``credentials`` are the credentials allocated to the user (not their
    values): all four are needed. ``organisation_key`` and ``local_authority``
    are as in :class:`~contactpoint_sdk.policy.viewer.Viewer`.
    """

    user_id: str
    role: Role
    organisation_key: str
    local_authority: str
    nominated: bool
    trained_on: date | None
    disclosure_issued_on: date | None
    credentials: frozenset[Credential]
    suspended: bool = False

    def viewer(self, purpose: Purpose = Purpose.PRACTICE) -> Viewer:
        """The :class:`Viewer` this user looks at records as."""
        return Viewer(
            user_id=self.user_id,
            role=self.role,
            organisation_key=self.organisation_key,
            local_authority=self.local_authority,
            purpose=purpose,
        )


@attrs.frozen(kw_only=True)
class IneligibilityReason:
    """One reason an account may not sign in.

    ``credential`` names the missing credential for ``credential_missing``.
    """

    code: str
    message: str
    rule: str = RULE
    credential: Credential | None = None

    def refusal(self) -> PolicyRefusal:
        """This reason as a :class:`~contactpoint_sdk.errors.PolicyRefusal`."""
        return PolicyRefusal(self.message, code=self.code, rule=self.rule)


@attrs.frozen(kw_only=True)
class Eligibility:
    """Whether an account may sign in on a date, and every reason it may not.

    ``valid_until`` is, for an allowed account, the first day its training
    or disclosure lapses (useful for reminders); ``None`` when refused.
    """

    allowed: bool
    reasons: tuple[IneligibilityReason, ...]
    valid_until: date | None = None
    rule: str = RULE

    @property
    def codes(self) -> tuple[str, ...]:
        """The reasons' codes, in order."""
        return tuple(r.code for r in self.reasons)

    @property
    def missing_credentials(self) -> frozenset[Credential]:
        """The credentials named by ``credential_missing`` reasons."""
        return frozenset(r.credential for r in self.reasons if r.credential is not None)


def _dated_check(
    what: str, issued: date | None, validity_years: int, today: date
) -> tuple[IneligibilityReason | None, date | None]:
    """Missing / lapsed check for a dated requirement; returns the lapse date if valid."""
    if issued is None:
        return IneligibilityReason(code=f"{what}_missing", message=f"no {what} recorded"), None
    if issued > today:
        return (
            IneligibilityReason(
                code=f"{what}_missing",
                message=f"the {what} is dated {issued.isoformat()}, after today",
            ),
            None,
        )
    lapses_on = add_years(issued, validity_years)
    if today >= lapses_on:
        return (
            IneligibilityReason(
                code=f"{what}_lapsed",
                message=f"the {what} of {issued.isoformat()} lapsed on {lapses_on.isoformat()}",
            ),
            None,
        )
    return None, lapses_on


def check_eligibility(
    account: UserAccount, today: date, settings: PolicySettings = DEFAULT_POLICY
) -> Eligibility:
    """May ``account`` sign in on the UK date ``today``? (ACC-1, ACC-2)

    Every failing reason is reported, in this order: role, nomination,
    training, disclosure, credentials (in :class:`Credential` order),
    suspension.
    """
    reasons: list[IneligibilityReason] = []
    if account.role not in settings.eligible_roles:
        reasons.append(
            IneligibilityReason(
                code="role_not_eligible",
                message=f"the role {account.role.value!r} is not eligible for access (ACC-2)",
            )
        )
    if not account.nominated:
        reasons.append(
            IneligibilityReason(
                code="not_nominated",
                message="the user has not been nominated by their organisation",
            )
        )
    training, training_until = _dated_check(
        "training", account.trained_on, settings.training_validity_years, today
    )
    disclosure, disclosure_until = _dated_check(
        "disclosure", account.disclosure_issued_on, settings.disclosure_validity_years, today
    )
    reasons.extend(r for r in (training, disclosure) if r is not None)
    reasons.extend(
        IneligibilityReason(
            code="credential_missing",
            message=f"no {credential.value.replace('_', ' ')} allocated",
            credential=credential,
        )
        for credential in Credential
        if credential not in account.credentials
    )
    if account.suspended:
        reasons.append(IneligibilityReason(code="suspended", message="the account is suspended"))
    if not reasons and training_until is not None and disclosure_until is not None:
        return Eligibility(
            allowed=True, reasons=(), valid_until=min(training_until, disclosure_until)
        )
    return Eligibility(allowed=False, reasons=tuple(reasons))


def require_eligible(
    account: UserAccount, today: date, settings: PolicySettings = DEFAULT_POLICY
) -> Eligibility:
    """:func:`check_eligibility`, raising
    :class:`~contactpoint_sdk.errors.PolicyRefusal` with the first reason
    (its code, rule ``ACC-1``) when the account may not sign in."""
    result = check_eligibility(account, today, settings)
    if not result.allowed:
        raise result.reasons[0].refusal()
    return result
