"""Local authority management: shields, brokering, data quality, REC-7, SAR."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from contactpoint_sdk.errors import NotPermitted, PolicyRefusal, ValidationError
from contactpoint_sdk.models import PersonName, ServiceKind, ShieldGround, ShieldReviewParty
from contactpoint_sdk.models.operations import InvolvementEnded
from contactpoint_sdk.models.views import ChildView, FullRecordView, ShieldedChildView
from contactpoint_sdk.policy.viewer import Role, SubjectAccessRequester
from contactpoint_sdk.reference_server import (
    BrokerStatus,
    DataQualityStatus,
    DirectoryService,
    ShieldRequestInput,
    ShieldReviewInput,
)
from tests.test_server_core_support import (
    LA,
    OTHER_LA,
    Source,
    child_consent,
    clinic,
    clock_of,
    involvement,
    key_of,
    make_nhs,
    make_upn,
    new_directory,
    only_record_id,
    pupil,
    team,
    viewer,
)


def _on(directory: DirectoryService, day: date) -> None:
    clock_of(directory).set(datetime(day.year, day.month, day.day, 11, 0, tzinfo=UTC))


def _one_child(directory: DirectoryService, **kwargs: object) -> Source:
    school = Source(directory)
    school.send(pupil(**kwargs))  # type: ignore[arg-type]
    return school


def _review(on: date, *, maintained: bool = True) -> ShieldReviewInput:
    return ShieldReviewInput(
        reviewed_on=on,
        reviewed_by="team-801",
        views_considered=(ShieldReviewParty.CHILD, ShieldReviewParty.SOCIAL_CARE),
        maintained=maintained,
    )


# --- shields --------------------------------------------------------------------


def test_shld_2_a_shield_request_takes_effect_at_once() -> None:
    directory = new_directory()
    _one_child(directory)
    record_id = only_record_id(directory, pupil())
    assert isinstance(directory.view(record_id, viewer(user="other")), ChildView)
    shield = directory.request_shield(
        record_id,
        ShieldRequestInput(ground=ShieldGround.RISK_OF_HARM_TO_CHILD, requested_by="head-1"),
        viewer(Role.HEAD_TEACHER, user="head-1"),
    )
    assert shield.ground is ShieldGround.RISK_OF_HARM_TO_CHILD
    assert isinstance(directory.view(record_id, viewer(user="other")), ShieldedChildView)
    # A second request keeps the shield in place, with its first ground.
    again = directory.request_shield(
        record_id,
        ShieldRequestInput(ground=ShieldGround.OTHER, requested_by="team-801"),
        team(),
    )
    assert again == shield


def test_shld_6_a_role_without_the_right_cannot_request_a_shield() -> None:
    directory = new_directory()
    _one_child(directory)
    record_id = only_record_id(directory, pupil())
    with pytest.raises(NotPermitted) as caught:
        directory.request_shield(
            record_id,
            ShieldRequestInput(ground=ShieldGround.OTHER, requested_by="senco-1"),
            viewer(Role.SENCO),
        )
    assert (caught.value.rule, caught.value.code) == ("SHLD-6", "shield_request_not_permitted")
    assert isinstance(directory.view(record_id, viewer()), ChildView)


def test_shld_3_reviews_by_the_childs_team_and_the_overdue_list() -> None:
    directory = new_directory()
    _one_child(directory)
    record_id = only_record_id(directory, pupil())
    directory.request_shield(
        record_id, ShieldRequestInput(ground=ShieldGround.OTHER, requested_by="t"), team()
    )  # requested on 2 March 2026: first review due by 9 March

    _on(directory, date(2026, 3, 9))
    assert directory.overdue_shield_reviews(LA) == []
    _on(directory, date(2026, 3, 10))
    [overdue] = directory.overdue_shield_reviews(LA)
    assert (overdue.directory_id, overdue.first_review, overdue.days_overdue) == (
        record_id,
        True,
        1,
    )
    assert directory.overdue_shield_reviews(OTHER_LA) == []

    for outsider in (team(OTHER_LA), viewer(Role.HEAD_TEACHER)):
        with pytest.raises(NotPermitted) as caught:
            directory.review_shield(record_id, _review(date(2026, 3, 10)), outsider)
        assert caught.value.rule == "SHLD-3"
    with pytest.raises(ValidationError):
        directory.review_shield(
            record_id, ShieldReviewInput(reviewed_on=date(2026, 3, 10), reviewed_by="t",
                                         views_considered=(), maintained=True), team()
        )  # fmt: skip
    directory.review_shield(record_id, _review(date(2026, 3, 10)), team())
    assert directory.overdue_shield_reviews(LA) == []

    _on(directory, date(2026, 9, 11))  # six months after the review, plus a day
    assert [o.directory_id for o in directory.overdue_shield_reviews(LA)] == [record_id]
    directory.review_shield(record_id, _review(date(2026, 9, 11), maintained=False), team())
    assert isinstance(directory.view(record_id, viewer()), ShieldedChildView)  # to day's end
    _on(directory, date(2026, 9, 12))
    assert isinstance(directory.view(record_id, viewer()), ChildView)
    assert directory.overdue_shield_reviews(LA) == []


# --- brokering (SENS-4) -----------------------------------------------------------


def _sensitive_child(directory: DirectoryService) -> tuple[Source, object]:
    school = Source(directory)
    child = pupil(
        involvements=(
            involvement(),
            involvement(
                "S-1",
                ServiceKind.SEXUAL_HEALTH_CONTRACEPTION,
                organisation=clinic("RX1"),
                consent=child_consent(),
            ),
        )
    )
    school.send(child)
    return school, only_record_id(directory, child)


def test_sens_4_a_broker_request_names_an_unspecified_service_of_the_requesters_view() -> None:
    directory = new_directory()
    _, record_id = _sensitive_child(directory)
    head = viewer(Role.HEAD_TEACHER, user="head-1")
    shown = directory.view(record_id, head)  # type: ignore[arg-type]
    assert isinstance(shown, ChildView)
    assert len(shown.unspecified_services) == 1

    request = directory.request_broker(record_id, 1, head)  # type: ignore[arg-type]
    assert (request.ordinal, request.requested_by, request.local_authority) == (1, "head-1", LA)
    assert request.status is BrokerStatus.OPEN
    text = json.dumps(directory.codec.encode(request))
    assert "sexual" not in text
    assert "Harbour" not in text
    assert "RX1" not in text
    assert directory.broker_queue(LA) == [request]
    assert directory.broker_queue(OTHER_LA) == []

    for ordinal, who in (
        (2, head),
        (1, team()),
        (1, viewer(Role.HEALTH_PRACTITIONER, org="ods:RX1")),
    ):
        with pytest.raises(PolicyRefusal) as caught:
            directory.request_broker(record_id, ordinal, who)  # type: ignore[arg-type]
        assert (caught.value.rule, caught.value.code) == ("SENS-4", "broker_ordinal_unknown")


def test_sens_4_only_the_childs_team_moves_a_request_on_and_sees_the_service() -> None:
    directory = new_directory()
    _, record_id = _sensitive_child(directory)
    request = directory.request_broker(record_id, 1, viewer())  # type: ignore[arg-type]

    for outsider in (viewer(), team(OTHER_LA)):
        with pytest.raises(NotPermitted):
            directory.update_broker(request.request_id, BrokerStatus.FORWARDED, outsider)
        with pytest.raises(NotPermitted):
            directory.broker_involvement(request.request_id, outsider)
    service = directory.broker_involvement(request.request_id, team())
    assert service.service is ServiceKind.SEXUAL_HEALTH_CONTRACEPTION

    forwarded = directory.update_broker(request.request_id, BrokerStatus.FORWARDED, team())
    assert (forwarded.status, forwarded.updated_by) == (BrokerStatus.FORWARDED, "team-801")
    assert directory.broker_queue(LA) == [forwarded]
    directory.update_broker(request.request_id, BrokerStatus.DECLINED, team())
    assert directory.broker_queue(LA) == []
    with pytest.raises(PolicyRefusal) as closed:
        directory.update_broker(request.request_id, BrokerStatus.ANSWERED, team())
    assert closed.value.code == "broker_status_invalid"


# --- REC-7 ---------------------------------------------------------------------------


def test_rec_7_children_without_a_universal_service() -> None:
    directory = new_directory()
    school = Source(directory)
    gp = involvement("GP-1", ServiceKind.GP_PRACTICE, started_on=date(2016, 1, 1))
    edu = involvement()
    both = pupil("a", given="Ann", upn=make_upn(1), nhs=make_nhs(1), involvements=(edu, gp))
    no_gp = pupil("b", given="Bea", upn=make_upn(2), nhs=make_nhs(2), involvements=(edu,))
    no_school = pupil("c", given="Cat", upn=make_upn(3), nhs=make_nhs(3), involvements=(gp,))
    baby_gp = involvement("GP-1", ServiceKind.GP_PRACTICE, started_on=date(2024, 1, 1))
    baby = pupil(
        "d", given="Dot", born=date(2023, 12, 1), upn=make_upn(4), nhs=make_nhs(4),
        involvements=(baby_gp,),
    )  # fmt: skip
    lapsed = pupil("e", given="Eve", upn=make_upn(5), nhs=make_nhs(5), involvements=(edu, gp))
    school.send(both, no_gp, no_school, baby, lapsed)
    school.send(
        InvolvementEnded(
            ref="x", child=key_of(lapsed), involvement_reference="GP-1", ended_on=date(2026, 1, 1)
        )
    )
    elsewhere = Source(directory, "school-9", local_authority=OTHER_LA)
    elsewhere.send(pupil("f", given="Fay", upn=make_upn(6), nhs=make_nhs(6), involvements=()))

    gaps = {
        g.directory_id: (g.no_gp, g.no_education_setting)
        for g in directory.universal_service_gaps(LA)
    }
    assert gaps == {
        only_record_id(directory, no_gp): (True, False),
        only_record_id(directory, no_school): (False, True),
        only_record_id(directory, lapsed): (True, False),
    }
    assert sorted(directory.children_without_universal_service(LA), key=str) == sorted(
        gaps, key=str
    )


# --- data quality and queries to the source (SUP-8) --------------------------------------


def test_sup_8_a_query_to_the_source_names_only_the_sources_own_reference() -> None:
    directory = new_directory()
    school = _one_child(directory, given="Philippa", family="Quennell")
    other = Source(directory, "school-2")
    other.send(pupil("their-row-42", given="Philippa", family="Quennell", upn=make_upn(2),
                     nhs=make_nhs(2)))  # fmt: skip
    [item] = directory.data_quality_queue(LA)

    with pytest.raises(NotPermitted) as caught:
        directory.query_source(
            item.item_id, field="child.name", question_code="confirm", by=team(OTHER_LA)
        )
    assert caught.value.rule == "SUP-8"
    with pytest.raises(ValidationError):
        directory.query_source(
            item.item_id, field="Philippa Quennell", question_code="confirm", by=team()
        )
    query = directory.query_source(
        item.item_id, field="name.family_name", question_code="please_confirm", by=team()
    )
    assert (query.supplier_id, query.source_ref) == ("school-2", "their-row-42")
    assert directory.source_queries("school-2") == [query]
    assert directory.source_queries(school.supplier_id) == []
    text = json.dumps(directory.codec.encode(query))
    assert "Philippa" not in text
    assert "Quennell" not in text

    resolved = directory.resolve_data_quality(item.item_id, by=team())
    assert resolved.status is DataQualityStatus.RESOLVED
    assert directory.data_quality_queue(LA) == []


# --- SAR-1, SAR-2 ------------------------------------------------------------------------


def test_sar_1_subject_access_export_by_the_childs_team_only() -> None:
    directory = new_directory()
    _one_child(directory)
    record_id = only_record_id(directory, pupil())
    export = directory.subject_access_export(record_id, SubjectAccessRequester.CHILD, team())
    assert isinstance(export, FullRecordView)
    for outsider in (viewer(), team(OTHER_LA)):
        with pytest.raises(NotPermitted) as caught:
            directory.subject_access_export(record_id, SubjectAccessRequester.CHILD, outsider)
        assert caught.value.rule == "SAR-1"

    directory.request_shield(
        record_id, ShieldRequestInput(ground=ShieldGround.OTHER, requested_by="t"), team()
    )
    by_parent = directory.subject_access_export(
        record_id, SubjectAccessRequester.PARENT_CARER, team()
    )
    assert isinstance(by_parent, ShieldedChildView)


def test_sar_2_a_correction_stands_until_the_next_supply() -> None:
    directory = new_directory()
    school = _one_child(directory)
    record_id = only_record_id(directory, pupil())
    corrected = PersonName(given_name="Amelie", family_name="Hartley")
    with pytest.raises(NotPermitted) as caught:
        directory.correct(record_id, by=viewer(), name=corrected)
    assert caught.value.rule == "SAR-2"
    with pytest.raises(ValidationError):
        directory.correct(record_id, by=team())
    with pytest.raises(ValidationError):
        directory.correct(record_id, by=team(), date_of_birth=date(2027, 1, 1))

    record = directory.correct(record_id, by=team(), name=corrected)
    assert record.name == corrected
    assert directory.record(record_id).name == corrected
    school.send(pupil(street="5 Next Road"))  # the next supply of the child
    assert directory.record(record_id).name.given_name == "Amelia"
    assert any(e.action == "record_corrected" and e.code == "name" for e in directory.audit)  # type: ignore[attr-defined]


def test_acc_5_audit_events_carry_identifiers_never_child_data() -> None:
    directory = new_directory()
    school = _one_child(directory, given="Philippa", family="Quennell")
    record_id = only_record_id(directory, pupil())
    directory.view(record_id, viewer())
    directory.request_shield(
        record_id, ShieldRequestInput(ground=ShieldGround.OTHER, requested_by="t"), team()
    )
    school.send(pupil(given="Philippa", family="Quennell", street="6 Moved Road"))
    with pytest.raises(NotPermitted):
        directory.correct(record_id, by=viewer(), name=PersonName(given_name="X", family_name="Y"))
    events = list(directory.audit)  # type: ignore[call-overload]
    actions = {e.action for e in events}
    assert {"supply_applied", "record_viewed", "shield_requested", "record_correct_refused"} <= (
        actions
    )
    text = repr(events)
    for value in ("Philippa", "Quennell", "Moved", "BS1 4DJ", str(make_nhs(1)), str(make_upn(1))):
        assert value not in text
