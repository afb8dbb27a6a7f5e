"""The directory's rules as pure functions: no I/O, no clock reads.

- :mod:`~contactpoint_sdk.policy.consent` — sensitive services and consent (SENS-1..5)
- :mod:`~contactpoint_sdk.policy.redaction` — what a viewer is shown (SHLD-1, SENS-4, REC-7)
- :mod:`~contactpoint_sdk.policy.lifecycle` — archive and destruction dates (RET-1..8)
- :mod:`~contactpoint_sdk.policy.eligibility` — who may sign in (ACC-1, ACC-2)
- :mod:`~contactpoint_sdk.policy.shield` — shields and their reviews (SHLD-2..6)
- :mod:`~contactpoint_sdk.policy.settings` — every *(policy)* number, in one place
- :mod:`~contactpoint_sdk.policy.viewer` — who is looking
"""

from contactpoint_sdk.policy.consent import (
    ConsentBasis,
    ConsentDecision,
    consent_decision,
    consent_decisions,
    require_consent,
    withdraw,
)
from contactpoint_sdk.policy.eligibility import (
    Credential,
    Eligibility,
    IneligibilityReason,
    UserAccount,
    check_eligibility,
    require_eligible,
)
from contactpoint_sdk.policy.lifecycle import (
    ArchiveReason,
    LifecycleState,
    LifecycleStatus,
    birthday,
    contact_details_kept_until,
    lifecycle,
    lifecycle_at,
)
from contactpoint_sdk.policy.redaction import view
from contactpoint_sdk.policy.settings import DEFAULT_POLICY, PolicySettings
from contactpoint_sdk.policy.shield import (
    OverdueReview,
    may_request_shield,
    next_review_due,
    overdue_reviews,
    request_shield,
    shield_in_effect,
)
from contactpoint_sdk.policy.viewer import Purpose, Role, SubjectAccessRequester, Viewer

__all__ = [
    "DEFAULT_POLICY",
    "ArchiveReason",
    "ConsentBasis",
    "ConsentDecision",
    "Credential",
    "Eligibility",
    "IneligibilityReason",
    "LifecycleState",
    "LifecycleStatus",
    "OverdueReview",
    "PolicySettings",
    "Purpose",
    "Role",
    "SubjectAccessRequester",
    "UserAccount",
    "Viewer",
    "birthday",
    "check_eligibility",
    "consent_decision",
    "consent_decisions",
    "contact_details_kept_until",
    "lifecycle",
    "lifecycle_at",
    "may_request_shield",
    "next_review_due",
    "overdue_reviews",
    "request_shield",
    "require_consent",
    "require_eligible",
    "shield_in_effect",
    "view",
    "withdraw",
]
