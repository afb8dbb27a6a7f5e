"""The directory core's ingest: envelopes, registry, agreements, receipts, composition."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from contactpoint_sdk.errors import (
    AgreementViolation,
    EnvelopeError,
    SequenceOutOfOrder,
    SupplierNotAccredited,
    ValidationError,
)
from contactpoint_sdk.models import DirectoryId, ServiceKind, ShieldGround
from contactpoint_sdk.models.operations import (
    ChildDied,
    ChildLeftEngland,
    ChildLeftSetting,
    CommonAssessmentCompleted,
    ConsentWithdrawn,
    InvolvementChanged,
    InvolvementEnded,
    InvolvementStarted,
    OutcomeStatus,
    ShieldRequested,
    SocialCareReferral,
)
from contactpoint_sdk.models.views import ChildView, ShieldedChildView
from contactpoint_sdk.reference_server import SupplyAgreement
from contactpoint_sdk.supply.batch import encode_batch
from tests.test_server_core_support import (
    LA,
    Source,
    child_consent,
    clinic,
    clock_of,
    gp_practice,
    involvement,
    key_of,
    make_nhs,
    make_upn,
    new_directory,
    only_record_id,
    practitioner,
    pupil,
    receipt_text,
    viewer,
)


def test_sup_1_accepted_supply_creates_one_record_with_a_directory_assigned_id() -> None:
    directory = new_directory()
    school = Source(directory)
    child = pupil()
    receipt = school.send(child)

    assert [o.status for o in receipt.outcomes] == [OutcomeStatus.ACCEPTED]
    assert receipt.outcomes[0].ref == "row-1"
    assert directory.counts() == {"live": 1, "archived": 0, "destroyed": 0}
    record = directory.record(only_record_id(directory, child))
    assert DirectoryId.is_valid(str(record.directory_id))  # REC-1: the directory's own
    assert record.name == child.name
    assert record.local_authority == LA
    assert [i.reference for i in record.involvements] == ["s1:INV-1"]


def test_sup_5_resend_returns_the_identical_first_receipt_and_changes_nothing() -> None:
    directory = new_directory()
    school = Source(directory)
    token = school.seal(school.batch(pupil()))
    first = directory.ingest(token)
    record = directory.record(only_record_id(directory, pupil()))

    clock_of(directory).advance(timedelta(hours=2))
    school.send(pupil("row-2", upn=make_upn(2), nhs=make_nhs(2)))  # the sequence moves on
    again = directory.ingest(token)

    assert again == first
    assert receipt_text(directory, again) == receipt_text(directory, first)
    assert directory.counts()["live"] == 2
    assert directory.record(record.directory_id) == record
    assert any(e.action == "supply_batch_resent" for e in directory.audit)  # type: ignore[attr-defined]


def test_sup_5_a_new_batch_whose_sequence_is_not_above_the_last_is_out_of_order() -> None:
    directory = new_directory()
    school = Source(directory)
    school.send_raw(pupil(), sequence=5)

    for sequence in (5, 4):
        with pytest.raises(SequenceOutOfOrder) as caught:
            school.send_raw(pupil("row-2", upn=make_upn(2), nhs=make_nhs(2)), sequence=sequence)
        assert caught.value.last_sequence == 5
        assert caught.value.rule == "SUP-5"
    assert directory.counts()["live"] == 1
    assert directory.supplier(school.supplier_id).last_sequence == 5


def test_sup_3_an_unregistered_supplier_is_refused() -> None:
    directory = new_directory()
    stranger = Source(directory, "school-9999999", register=False)
    with pytest.raises(SupplierNotAccredited) as caught:
        stranger.send(pupil())
    assert caught.value.rule == "SUP-3"
    assert directory.counts()["live"] == 0


def test_sup_3_a_suspended_supplier_is_refused() -> None:
    directory = new_directory()
    school = Source(directory)
    school.send(pupil())
    directory.suspend_supplier(school.supplier_id)
    assert not directory.supplier(school.supplier_id).accredited
    with pytest.raises(SupplierNotAccredited) as caught:
        school.send(pupil("row-2", upn=make_upn(2), nhs=make_nhs(2)))
    assert caught.value.rule == "SUP-3"
    assert directory.counts()["live"] == 1


def test_sup_3_an_envelope_signed_by_one_supplier_claiming_to_be_another_is_refused() -> None:
    directory = new_directory()
    school_a = Source(directory, "school-a")
    Source(directory, "school-b")
    forged = school_a.raw_batch(pupil(), supplier_id="school-b")
    with pytest.raises(SupplierNotAccredited) as caught:
        directory.ingest(school_a.seal(forged))
    assert caught.value.rule == "SUP-3"
    assert directory.counts()["live"] == 0


def test_sup_5_a_tampered_envelope_is_refused() -> None:
    directory = new_directory()
    school = Source(directory)
    token = school.seal(school.batch(pupil()))
    head, rest = token.split(".", 1)
    tampered = head + "." + rest[:-4] + ("AAAA" if not rest.endswith("AAAA") else "BBBB")
    with pytest.raises(EnvelopeError) as caught:
        directory.ingest(tampered)
    assert caught.value.rule == "SUP-5"


def test_sup_4_a_batch_under_an_agreement_the_supplier_does_not_hold_is_refused_whole() -> None:
    directory = new_directory()
    school = Source(directory)
    with pytest.raises(AgreementViolation) as caught:
        school.send_raw(pupil(), agreement_id="AG-OTHER")
    assert caught.value.rule == "SUP-4"
    assert directory.counts()["live"] == 0
    # Nothing was recorded: the same sequence number is still free.
    assert school.send_raw(pupil(), sequence=1).outcomes[0].status is OutcomeStatus.ACCEPTED


def test_sup_4_an_operation_outside_the_agreement_is_rejected_alone() -> None:
    directory = new_directory()
    agreement = SupplyAgreement(agreement_id="AG-1", operations=frozenset({"child_supplied"}))
    school = Source(directory, agreements=[agreement])
    child = pupil()
    receipt = school.send(
        child, ChildDied(ref="row-2", child=key_of(child), died_on=date(2026, 1, 5))
    )
    accepted, rejected = receipt.outcomes
    assert accepted.status is OutcomeStatus.ACCEPTED
    assert rejected.status is OutcomeStatus.REJECTED
    assert (rejected.code, rejected.rule, rejected.path) == (
        "operation_not_in_agreement",
        "SUP-4",
        "operations[1]",
    )
    assert directory.record(only_record_id(directory, child)).died_on is None


def test_sup_4_a_service_outside_the_agreement_is_rejected() -> None:
    directory = new_directory()
    agreement = SupplyAgreement(
        agreement_id="AG-1", services=frozenset({ServiceKind.EDUCATION_SETTING})
    )
    school = Source(directory, agreements=[agreement])
    child = pupil()
    school.send(child)
    receipt = school.send(
        InvolvementStarted(
            ref="row-2",
            child=key_of(child),
            involvement=involvement("INV-2", ServiceKind.SOCIAL_CARE),
        )
    )
    assert (receipt.outcomes[0].code, receipt.outcomes[0].rule) == (
        "service_not_in_agreement",
        "SUP-4",
    )


def test_sens_2_a_sensitive_involvement_without_consent_is_rejected_while_others_are_accepted() -> (
    None
):
    directory = new_directory()
    school = Source(directory)
    first = pupil()
    second = pupil(
        "row-2",
        upn=make_upn(2),
        nhs=make_nhs(2),
        given="Bella",
        involvements=(
            involvement(),
            involvement("INV-9", ServiceKind.SEXUAL_HEALTH_CONTRACEPTION),  # no consent
        ),
    )
    receipt = school.send_raw(first, second)

    assert receipt.outcomes[0].status is OutcomeStatus.ACCEPTED
    refused = receipt.outcomes[1]
    assert (refused.status, refused.code, refused.rule, refused.path) == (
        OutcomeStatus.REJECTED,
        "consent_required",
        "SENS-2",
        "operations[1].involvements[1]",
    )
    assert directory.counts()["live"] == 1
    assert directory.find_by_identifier(second.identifiers) is None


def test_sens_2_a_sensitive_involvement_with_consent_is_recorded_and_hidden_from_most() -> None:
    directory = new_directory()
    school = Source(directory)
    child = pupil(
        involvements=(
            involvement(),
            involvement("INV-9", ServiceKind.SEXUAL_HEALTH_CONTRACEPTION, consent=child_consent()),
        )
    )
    assert school.send(child).outcomes[0].status is OutcomeStatus.ACCEPTED
    shown = directory.view(only_record_id(directory, child), viewer())
    assert isinstance(shown, ChildView)
    assert len(shown.unspecified_services) == 1  # SENS-4


def test_sup_1_receipts_carry_no_child_data() -> None:
    directory = new_directory()
    school = Source(directory)
    good = pupil(given="Philippa", family="Quennell", postcode="BS8 1TH", street="9 Quay Lane")
    no_consent = pupil(
        "row-2",
        upn=make_upn(7),
        nhs=make_nhs(7),
        given="Ottoline",
        family="Marchbanks",
        involvements=(involvement("INV-9", ServiceKind.MENTAL_HEALTH_CAMHS_TIER_3),),
    )
    malformed = pupil("row-3", upn=make_upn(8), nhs=make_nhs(8), given="Wilhelmina")
    batch = school.raw_batch(good, no_consent, malformed)
    document = json.loads(encode_batch(batch, directory.codec))
    document["operations"][2]["date_of_birth"] = "2015-02-30"  # the codec quotes this value
    document["operations"][2]["gender"] = "Zebedee"  # and this one
    receipt = directory.ingest(school.seal_payload(json.dumps(document).encode()))

    statuses = [o.status for o in receipt.outcomes]
    assert statuses == [OutcomeStatus.ACCEPTED, OutcomeStatus.REJECTED, OutcomeStatus.REJECTED]
    text = receipt_text(directory, receipt)
    forbidden = [
        "Philippa", "Quennell", "BS8 1TH", "9 Quay Lane", "Ottoline", "Marchbanks",
        "Wilhelmina", "Zebedee", "2015-02-30", "2015-04-01", "Bristol",
        str(make_upn(1)), str(make_nhs(1)), str(make_upn(7)), str(make_nhs(7)),
        str(make_upn(8)), str(make_nhs(8)),
    ]  # fmt: skip
    for value in forbidden:
        assert value not in text, value
    assert receipt.outcomes[2].path is not None
    assert set(json.loads(text)) == {"batch_id", "sequence", "received_at", "outcomes"}


def test_sup_7_a_gp_supplying_the_same_child_matches_the_school_record() -> None:
    directory = new_directory()
    school = Source(directory)
    gp = Source(directory, "gp-b82001", local_authority=None, name="Castle Street Surgery")
    from_school = pupil()
    from_gp = pupil(
        "patient-77",
        upn=None,
        nhs=make_nhs(1),
        involvements=(involvement("INV-1", ServiceKind.GP_PRACTICE, started_on=date(2015, 5, 1)),),
    )
    school.send(from_school)
    receipt = gp.send(from_gp)

    assert receipt.outcomes[0].status is OutcomeStatus.ACCEPTED
    assert directory.counts()["live"] == 1
    record = directory.record(only_record_id(directory, from_school))
    # Both suppliers' "INV-1", namespaced so they never collide.
    assert sorted(i.reference for i in record.involvements) == ["s1:INV-1", "s2:INV-1"]
    assert record.identifiers.upn == make_upn(1)  # the GP's supply kept the school's UPN
    assert record.local_authority == LA
    shown = directory.view(record.directory_id, viewer())
    assert isinstance(shown, ChildView)
    assert not shown.no_gp
    assert not shown.no_education_setting


def test_involvement_events_act_on_the_suppliers_own_involvement_only() -> None:
    directory = new_directory()
    school = Source(directory)
    gp = Source(directory, "gp-b82001", local_authority=None)
    child = pupil()
    school.send(child)
    gp.send(
        InvolvementStarted(
            ref="p-1",
            child=key_of(child),
            involvement=involvement("INV-1", ServiceKind.GP_PRACTICE, started_on=date(2016, 1, 1)),
        )
    )
    receipt = gp.send(
        InvolvementEnded(
            ref="p-2", child=key_of(child), involvement_reference="INV-1", ended_on=date(2026, 2, 1)
        ),
        InvolvementChanged(
            ref="p-3", child=key_of(child), involvement_reference="INV-404", lead_professional=True
        ),
    )
    assert receipt.outcomes[0].status is OutcomeStatus.ACCEPTED
    assert (receipt.outcomes[1].code, receipt.outcomes[1].path) == (
        "involvement_not_found",
        "operations[1].involvement_reference",
    )
    ends = {
        i.reference: i.ended_on
        for i in directory.record(only_record_id(directory, child)).involvements
    }
    assert ends == {"s1:INV-1": None, "s2:INV-1": date(2026, 2, 1)}


def test_child_left_setting_ends_that_suppliers_open_involvements() -> None:
    directory = new_directory()
    school = Source(directory)
    gp = Source(directory, "gp-b82001", local_authority=None)
    child = pupil(involvements=(involvement(), involvement("INV-2", ServiceKind.SENCO)))
    school.send(child)
    gp.send(
        InvolvementStarted(
            ref="p-1",
            child=key_of(child),
            involvement=involvement("G-1", ServiceKind.GP_PRACTICE, started_on=date(2016, 1, 1)),
        )
    )
    school.send(ChildLeftSetting(ref="row-9", child=key_of(child), left_on=date(2026, 2, 20)))
    ends = {
        i.reference: i.ended_on
        for i in directory.record(only_record_id(directory, child)).involvements
    }
    assert ends == {"s1:INV-1": date(2026, 2, 20), "s1:INV-2": date(2026, 2, 20), "s2:G-1": None}


def test_sup_9_common_assessment_and_social_care_referral_record_involvements() -> None:
    directory = new_directory()
    school = Source(directory)
    child = pupil()
    school.send(child)
    receipt = school.send(
        CommonAssessmentCompleted(
            ref="caf-1",
            child=key_of(child),
            involvement_reference="INV-1",  # the school's own involvement
            practitioner=practitioner("Sian", "Morgan"),
            organisation=clinic(),
            completed_on=date(2026, 2, 1),
        ),
        CommonAssessmentCompleted(
            ref="caf-2",
            child=key_of(child),
            involvement_reference="CAF-7",  # a new one
            practitioner=practitioner(),
            organisation=clinic(),
            completed_on=date(2026, 2, 2),
        ),
        SocialCareReferral(
            ref="ics-1",
            child=key_of(child),
            involvement_reference="ICS-1",
            practitioner=practitioner("Dee", "Okafor"),
            organisation=clinic("RX2"),
            started_on=date(2026, 2, 3),
            lead_professional=True,
        ),
    )
    assert [o.status for o in receipt.outcomes] == [OutcomeStatus.ACCEPTED] * 3
    by_ref = {
        i.reference: i for i in directory.record(only_record_id(directory, child)).involvements
    }
    assert by_ref["s1:INV-1"].caf_completed
    assert by_ref["s1:INV-1"].service is ServiceKind.EDUCATION_SETTING
    assert by_ref["s1:CAF-7"].caf_completed
    assert by_ref["s1:CAF-7"].service is ServiceKind.OTHER_ADDITIONAL
    assert by_ref["s1:ICS-1"].service is ServiceKind.SOCIAL_CARE
    assert by_ref["s1:ICS-1"].lead_professional


def test_ret_3_ret_4_death_and_leaving_england_are_directory_state() -> None:
    directory = new_directory()
    school = Source(directory)
    child = pupil()
    school.send(child)
    receipt = school.send(
        ChildDied(ref="d-1", child=key_of(child), died_on=date(2026, 3, 10)),  # after today
        ChildLeftEngland(ref="l-1", child=key_of(child), determined_on=date(2026, 2, 1)),
    )
    assert receipt.outcomes[0].code == "date_in_future"
    assert receipt.outcomes[1].status is OutcomeStatus.ACCEPTED
    record = directory.record(only_record_id(directory, child))
    assert (record.died_on, record.left_england_on) == (None, date(2026, 2, 1))


def test_shld_2_a_supplied_shield_request_applies_at_once_if_the_agreement_allows() -> None:
    directory = new_directory()
    school = Source(directory)
    child = pupil()
    school.send(child)
    request = ShieldRequested(
        ref="s-1",
        child=key_of(child),
        ground=ShieldGround.RISK_OF_HARM_TO_CHILD,
        requested_by="head-1",
        requested_at=directory.clock.now(),
    )
    assert school.send(request).outcomes[0].status is OutcomeStatus.ACCEPTED
    assert isinstance(directory.view(only_record_id(directory, child), viewer()), ShieldedChildView)

    limited = SupplyAgreement(
        agreement_id="AG-1", operations=frozenset({"child_supplied", "child_died"})
    )
    gp = Source(directory, "gp-1", agreements=[limited])
    refused = gp.send(request).outcomes[0]
    assert (refused.code, refused.rule) == ("operation_not_in_agreement", "SUP-4")


def test_an_operation_for_a_child_not_in_the_directory_is_rejected() -> None:
    directory = new_directory()
    school = Source(directory)
    receipt = school.send(ChildDied(ref="d-1", child=key_of(pupil()), died_on=date(2026, 1, 1)))
    assert receipt.outcomes[0].code == "child_not_found"


def test_sens_2_withdrawn_consent_removes_the_sensitive_involvement() -> None:
    directory = new_directory()
    clinic_source = Source(directory, "clinic-rx1")
    child = pupil(
        involvements=(involvement("S-1", ServiceKind.SEXUAL_HEALTH_STI, consent=child_consent()),)
    )
    clinic_source.send(child)
    receipt = clinic_source.send(
        ConsentWithdrawn(
            ref="w-1", child=key_of(child), involvement_reference="S-1",
            withdrawn_on=date(2026, 3, 1),
        )
    )  # fmt: skip
    assert receipt.outcomes[0].status is OutcomeStatus.ACCEPTED
    assert directory.record(only_record_id(directory, child)).involvements == ()


def test_a_decoding_problem_rejects_only_its_operation() -> None:
    directory = new_directory()
    school = Source(directory)
    batch = school.raw_batch(pupil(), pupil("row-2", upn=make_upn(2), nhs=make_nhs(2)))
    document = json.loads(encode_batch(batch, directory.codec))
    document["operations"][1]["notes"] = "concerns"  # REC-6: no field for it
    receipt = directory.ingest(school.seal_payload(json.dumps(document).encode()))
    assert receipt.outcomes[0].status is OutcomeStatus.ACCEPTED
    bad = receipt.outcomes[1]
    assert (bad.ref, bad.code, bad.rule, bad.path) == (
        "row-2",
        "unknown_field",
        "REC-6",
        "operations[1].notes",
    )


def test_a_fault_in_the_batchs_own_fields_refuses_the_whole_batch() -> None:
    directory = new_directory()
    school = Source(directory)
    document = json.loads(encode_batch(school.raw_batch(pupil()), directory.codec))
    document["sequence"] = "one"
    with pytest.raises(ValidationError):
        directory.ingest(school.seal_payload(json.dumps(document).encode()))
    assert directory.counts()["live"] == 0


def test_local_authority_comes_from_the_upn_when_the_supplier_has_none() -> None:
    directory = new_directory()
    national = Source(directory, "mis-national", local_authority=None)
    child = pupil(upn=make_upn(3, la="873"), nhs=make_nhs(3))
    national.send(child)
    assert directory.record(only_record_id(directory, child)).local_authority == "873"


def test_sup_6_a_resupply_updates_the_record_instead_of_duplicating_it() -> None:
    directory = new_directory()
    school = Source(directory)
    school.send(pupil())
    school.send(pupil(street="22 New Road", postcode="BS2 0JA"))
    assert directory.counts()["live"] == 1
    record = directory.record(only_record_id(directory, pupil()))
    assert record.address.lines == ("22 New Road",)
    assert [i.reference for i in record.involvements] == ["s1:INV-1"]


def test_a_reference_too_long_to_prefix_is_namespaced_by_digest_and_still_found() -> None:
    directory = new_directory()
    school = Source(directory)
    long_ref = "R" * 64
    child = pupil(involvements=(involvement(long_ref),))
    school.send(child)
    [inv] = directory.record(only_record_id(directory, child)).involvements
    assert inv.reference.startswith("s1/")
    assert len(inv.reference) <= 64
    receipt = school.send(
        InvolvementEnded(
            ref="e-1", child=key_of(child), involvement_reference=long_ref,
            ended_on=date(2026, 3, 1),
        )
    )  # fmt: skip
    assert receipt.outcomes[0].status is OutcomeStatus.ACCEPTED


def test_gp_practice_from_a_gp_matched_by_nhs_number_only() -> None:
    directory = new_directory()
    school = Source(directory)
    gp = Source(directory, "gp-b82001", local_authority=None)
    child = pupil()
    school.send(child)
    receipt = gp.send(
        InvolvementStarted(
            ref="p-1",
            child=key_of(pupil(upn=None, nhs=make_nhs(1))),
            involvement=involvement(
                "G-1",
                ServiceKind.GP_PRACTICE,
                organisation=gp_practice(),
                started_on=date(2016, 1, 1),
            ),
        )
    )
    assert receipt.outcomes[0].status is OutcomeStatus.ACCEPTED
    assert directory.counts()["live"] == 1
