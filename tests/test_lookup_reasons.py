"""ACC-3 (and RET-6): no record opens without a reason from the controlled list."""

from __future__ import annotations

import attrs
import pytest

from contactpoint_sdk.errors import PolicyRefusal, ReasonInvalid, ReasonRequired
from contactpoint_sdk.policy.reasons import ReasonCode, StatedReason, require_reason
from contactpoint_sdk.policy.settings import DEFAULT_POLICY
from contactpoint_sdk.policy.viewer import Purpose

LIVE_REASONS = [r for r in ReasonCode if not r.for_archive and not r.needs_text]
ARCHIVE_REASONS = [r for r in ReasonCode if r.for_archive]


def refused(code: str, *args: object, **kwargs: object) -> PolicyRefusal:
    with pytest.raises(PolicyRefusal) as caught:
        require_reason(*args, **kwargs)  # type: ignore[arg-type]
    assert caught.value.code == code
    assert caught.value.rule == "ACC-3"
    return caught.value


@pytest.mark.parametrize("missing", [None, "", "   "])
def test_acc_3_no_reason_no_record(missing: str | None) -> None:
    error = refused("reason_required", missing)
    assert isinstance(error, ReasonRequired)


@pytest.mark.parametrize("reason", LIVE_REASONS, ids=lambda r: r.value)
def test_acc_3_each_listed_reason_opens_a_live_record(reason: ReasonCode) -> None:
    assert require_reason(reason) == StatedReason(code=reason)
    assert require_reason(reason.value) == StatedReason(code=reason)
    assert require_reason(f" {reason.value} ", "  ").audit_code == reason.value
    assert reason.label


def test_acc_3_the_list_covers_the_expected_reasons() -> None:
    assert {r.value for r in ReasonCode} == {
        "child_protection",
        "assessment",
        "coordinating_services",
        "contacting_practitioner",
        "new_to_service",
        "universal_services_check",
        "multi_agency_meeting",
        "referral",
        "other",
        "serious_case_review",
        "child_death_review",
    }


def test_acc_3_a_reason_off_the_list_is_refused() -> None:
    error = refused("reason_unknown", "curiosity")
    assert isinstance(error, ReasonInvalid)
    refused("reason_unknown", "CHILD_PROTECTION")


def test_acc_3_other_needs_free_text() -> None:
    refused("reason_text_required", ReasonCode.OTHER)
    refused("reason_text_required", "other", " \t ")
    stated = require_reason("other", "  Preparing a   transfer  between schools ")
    assert stated == StatedReason(
        code=ReasonCode.OTHER, text="Preparing a transfer between schools"
    )


def test_acc_3_free_text_goes_only_with_other() -> None:
    refused("reason_text_not_allowed", ReasonCode.REFERRAL, "referral from the school nurse")


@pytest.mark.parametrize(
    "text",
    [
        "Strategy discussion under section 47",
        "Team around the family meeting on 12/03",
        "Checking a school place before a transfer",
        "Année scolaire: vérification",
        "x" * DEFAULT_POLICY.reason_text_max_length,
    ],
)
def test_acc_3_other_accepts_a_short_plain_explanation(text: str) -> None:
    assert require_reason(ReasonCode.OTHER, text).text == text


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("too short", "under the minimum length"),
        ("x" * (DEFAULT_POLICY.reason_text_max_length + 1), "over the maximum length"),
        ("first line\nsecond line", "two lines"),
        ("asking\u2028twice over", "a Unicode line break"),
        ("bell \x07 character here", "a control character"),
        ("about NHS no 9434765919", "an NHS number"),
        ("about NHS no 943 476 5919", "a spaced NHS number"),
        ("call mum on 07700 900123", "a phone number"),
        ("case ref 123456 at court", "a case number"),
        ("pupil B801200005001 moving", "a UPN"),
        ("email parent@example.org today", "an e-mail address"),
        ("moved to LS1 4AP last week", "a postcode"),
        ("moved to ls14ap last week", "a postcode without its space"),
    ],
)
def test_acc_3_other_text_refuses_case_information_shapes(text: str, why: str) -> None:
    error = refused("reason_text_invalid", ReasonCode.OTHER, text)
    assert text not in str(error), why


def test_acc_3_text_lengths_are_settings() -> None:
    roomy = attrs.evolve(DEFAULT_POLICY, reason_text_min_length=3, reason_text_max_length=20)
    assert require_reason("other", "meeting", settings=roomy).text == "meeting"
    with pytest.raises(ReasonInvalid):
        require_reason("other", "a much longer explanation", settings=roomy)


@pytest.mark.parametrize("reason", ARCHIVE_REASONS, ids=lambda r: r.value)
def test_ret_6_archive_reads_need_an_archive_reason(reason: ReasonCode) -> None:
    assert require_reason(reason, purpose=Purpose.ARCHIVE_REVIEW).code is reason
    refused("reason_not_applicable", reason)  # not for a live record


@pytest.mark.parametrize("reason", [*LIVE_REASONS, ReasonCode.OTHER], ids=lambda r: r.value)
def test_ret_6_live_reasons_do_not_open_the_archive(reason: ReasonCode) -> None:
    refused("reason_not_applicable", reason, "a reason given here", purpose=Purpose.ARCHIVE_REVIEW)
