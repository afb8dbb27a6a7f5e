"""Identity matching end to end (issue 7): suppliers through the SDK's supply
client, the management team over HTTP, one in-process reference directory.

One child, one record across sources (SUP-7); twins stay two; a shield
follows the child (SHLD-7); a near match goes to the local authority's
data-quality queue (SUP-8); merge and unmerge over HTTP, both audited (ACC-5).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import attrs
import httpx
import pytest

from contactpoint_sdk.models import (
    Address,
    CarerRelationship,
    Gender,
    NhsNumber,
    ParentCarer,
    PersonName,
    Postcode,
    ShieldGround,
    SourceIdentifiers,
    Upn,
)
from contactpoint_sdk.models.identifiers import nhs_check_digit, upn_check_letter
from contactpoint_sdk.models.operations import OutcomeStatus, SuppliedChild
from contactpoint_sdk.policy.viewer import Role, Viewer
from contactpoint_sdk.reference_server import (
    IN_PROCESS_URL,
    DataQualityKind,
    MemoryAuditLog,
    ReferenceDirectory,
    ShieldRequestInput,
)
from contactpoint_sdk.reference_server.directory import SupplierCredentials

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LA = "801"
OTHER_LA = "802"
BORN = date(2015, 4, 1)
_SOCIAL_WORKER = Viewer(
    user_id="sw-1",
    role=Role.SOCIAL_CARE_PRACTITIONER,
    organisation_key="la:801",
    local_authority=LA,
)


def _upn(serial: int) -> Upn:
    body = f"{LA}2000{serial:05d}"
    return Upn(upn_check_letter(body) + body)


def _nhs(serial: int) -> NhsNumber:
    for n in range(serial * 10, serial * 10 + 100):
        body = f"{400000000 + n:09d}"
        check = nhs_check_digit(body)
        if check is not None:
            return NhsNumber(body + str(check))
    raise AssertionError("no NHS number")  # pragma: no cover


def _mother(given: str = "Grace", family: str = "Okafor") -> ParentCarer:
    return ParentCarer(
        name=PersonName(given_name=given, family_name=family),
        relationship=CarerRelationship.MOTHER,
        parental_responsibility=True,
    )


def _child(
    ref: str,
    given: str,
    *,
    family: str = "Okafor",
    identifiers: SourceIdentifiers,
    street: str = "1 High Street",
    postcode: str = "BS1 4DJ",
    parents: tuple[ParentCarer, ...] = (),
) -> SuppliedChild:
    return SuppliedChild(
        ref=ref,
        name=PersonName(given_name=given, family_name=family),
        gender=Gender.FEMALE,
        date_of_birth=BORN,
        address=Address(lines=(street,), town="Bristol", postcode=Postcode(postcode)),
        identifiers=identifiers,
        parents=parents,
    )


@attrs.frozen
class _World:
    directory: ReferenceDirectory
    school: SupplierCredentials
    gp: SupplierCredentials

    def supply(self, supplier: SupplierCredentials, *children: SuppliedChild) -> Any:
        with self.directory.supply_client(supplier) as client:
            return client.supply(list(children))

    def live(self) -> int:
        return self.directory.service.counts()["live"]

    def record_of(self, identifiers: SourceIdentifiers) -> Any:
        found = self.directory.service.find_by_identifier(identifiers)
        assert found is not None
        return self.directory.service.record(found)

    def audited(self, action: str) -> list[Any]:
        audit = self.directory.service.audit
        assert isinstance(audit, MemoryAuditLog)
        return [e for e in audit.events() if e.action == action]


@pytest.fixture
def world() -> Iterator[_World]:
    with ReferenceDirectory(start=START) as directory:
        school = directory.register_supplier(
            "school-8012000", "Riverside Primary", local_authority=LA
        )
        gp = directory.register_supplier("gp-b82001", "Harbour Surgery", local_authority=OTHER_LA)
        yield _World(directory=directory, school=school, gp=gp)


@contextmanager
def _team_http(directory: ReferenceDirectory, user_id: str, la: str = LA) -> Iterator[httpx.Client]:
    """An HTTP client signed in (four credentials) as a management team user."""
    user = directory.create_user(user_id, Role.LA_MANAGEMENT_TEAM, local_authority=la)
    username, password, pin, token = user.sign_in_args(directory.clock.now())
    with httpx.Client(base_url=IN_PROCESS_URL, transport=directory.transport()) as http:
        signed_in = http.post(
            "/v1/sessions",
            json={"username": username, "password": password, "pin": pin, "token": token},
        )
        assert signed_in.status_code == 201, signed_in.text
        http.headers["Authorization"] = f"Bearer {signed_in.json()['session_token']}"
        yield http


def test_sup_7_a_school_and_a_gp_supply_one_child_under_a_nickname_elsewhere_one_record(
    world: _World,
) -> None:
    school_says = _child("pupil-1", "Elizabeth", identifiers=SourceIdentifiers(upn=_upn(1)),
                         parents=(_mother(),))  # fmt: skip
    assert world.supply(world.school, school_says).all_accepted
    # The GP knows her as Lizzie, at the new home, by NHS number only.
    gp_says = _child("patient-7", "Lizzie", identifiers=SourceIdentifiers(nhs_number=_nhs(1)),
                     street="22 Park Road", postcode="BS8 1TH", parents=(_mother(),))  # fmt: skip
    assert world.supply(world.gp, gp_says).all_accepted
    # And a school office typo in the family name, resupplied by another school.
    other = world.directory.register_supplier("school-8012001", "Hill School", local_authority=LA)
    typo = attrs.evolve(
        gp_says,
        ref="pupil-9",
        name=PersonName(given_name="Elizabeth", family_name="Okafur"),
        identifiers=SourceIdentifiers(upn=_upn(9)),
    )
    assert world.supply(other, typo).all_accepted
    assert world.live() == 1  # one child, one record
    record = world.record_of(SourceIdentifiers(nhs_number=_nhs(1)))
    assert record.identifiers.nhs_number == _nhs(1)
    assert world.directory.service.find_by_identifier(SourceIdentifiers(upn=_upn(1))) == (
        record.directory_id
    )
    assert world.directory.service.data_quality_queue(LA) == []


def test_sup_7_twins_supplied_by_a_school_and_then_a_gp_are_never_merged(world: _World) -> None:
    amelia = _child("p-1", "Amelia", identifiers=SourceIdentifiers(upn=_upn(1)),
                    parents=(_mother(),))  # fmt: skip
    bella = _child("p-2", "Bella", identifiers=SourceIdentifiers(upn=_upn(2)),
                   parents=(_mother(),))  # fmt: skip
    assert world.supply(world.school, amelia, bella).all_accepted
    assert world.live() == 2
    gp_amelia = attrs.evolve(amelia, ref="g-1", identifiers=SourceIdentifiers(nhs_number=_nhs(1)))
    gp_bella = attrs.evolve(bella, ref="g-2", identifiers=SourceIdentifiers(nhs_number=_nhs(2)))
    assert world.supply(world.gp, gp_amelia, gp_bella).all_accepted
    assert world.live() == 2
    by_school = world.record_of(SourceIdentifiers(upn=_upn(1)))
    assert by_school.name.given_name == "Amelia"
    assert by_school.identifiers.nhs_number == _nhs(1)  # Amelia's own GP record joined hers
    assert world.record_of(SourceIdentifiers(upn=_upn(2))).identifiers.nhs_number == _nhs(2)
    # Twins are not a data-quality problem: nothing queued for the authority.
    assert world.directory.service.data_quality_queue(LA) == []
    assert world.directory.service.data_quality_queue(OTHER_LA) == []


def test_shld_7_a_gp_supply_matching_a_shielded_record_is_held_never_an_unshielded_duplicate(
    world: _World,
) -> None:
    child = _child("p-1", "Amelia", identifiers=SourceIdentifiers(upn=_upn(1)))
    assert world.supply(world.school, child).all_accepted
    service = world.directory.service
    record_id = service.find_by_identifier(SourceIdentifiers(upn=_upn(1)))
    assert record_id is not None
    service.request_shield(
        record_id,
        ShieldRequestInput(ground=ShieldGround.RISK_OF_HARM_TO_CHILD, requested_by="sw-1"),
        _SOCIAL_WORKER,
    )
    # The GP supplies her by name, new address, no shared number.
    gp_says = _child("g-1", "Amelia", identifiers=SourceIdentifiers(nhs_number=_nhs(1)),
                     street="22 Park Road", postcode="BS8 1TH")  # fmt: skip
    result = world.supply(world.gp, gp_says)
    [outcome] = result.outcomes
    assert (outcome.status, outcome.code, outcome.rule) == (
        OutcomeStatus.REJECTED,
        "held_for_review",
        "SUP-7",  # the same answer as any held supply: the receipt reveals no shield
    )
    assert world.live() == 1  # no unshielded duplicate
    assert service.find_by_identifier(SourceIdentifiers(nhs_number=_nhs(1))) is None
    [item] = service.data_quality_queue(LA)
    assert item.kind is DataQualityKind.SHIELD_MATCH_UNCERTAIN
    assert item.candidates == (record_id,)


def test_sup_8_a_near_match_is_held_for_the_authoritys_data_quality_queue(world: _World) -> None:
    child = _child("p-1", "Amelia", identifiers=SourceIdentifiers(upn=_upn(1)))
    assert world.supply(world.school, child).all_accepted
    # A given-name typo: a typo, or a twin? A person decides.
    near = attrs.evolve(
        child,
        ref="g-1",
        name=PersonName(given_name="Amelai", family_name="Okafor"),
        identifiers=SourceIdentifiers(nhs_number=_nhs(1)),
    )
    [outcome] = world.supply(world.gp, near).outcomes
    assert outcome.code == "held_for_review"
    assert world.live() == 1
    record_id = world.directory.service.find_by_identifier(SourceIdentifiers(upn=_upn(1)))
    with _team_http(world.directory, "la-team-1") as http:
        items = http.get("/v1/management/data-quality").json()["items"]
        [item] = items
        assert item["held"] is True
        assert item["kind"] == "possible_duplicate"
        assert item["candidates"] == [str(record_id)]
        assert item["source_ref"] == "g-1"
        assert "Amelai" not in str(items)  # the queue names records, never the child
        # The team decides: the same child.
        decided = http.post(
            f"/v1/management/data-quality/{item['item_id']}/decision",
            json={"directory_id": str(record_id)},
        )
        assert decided.json()["status"] == "accepted"
    assert world.live() == 1
    assert world.record_of(SourceIdentifiers(upn=_upn(1))).identifiers.nhs_number == _nhs(1)


def test_sup_7_the_team_merges_and_unmerges_two_records_over_http_both_audited(
    world: _World,
) -> None:
    school_says = _child(
        "p-1", "Amelia", identifiers=SourceIdentifiers(upn=_upn(1), nhs_number=_nhs(1))
    )
    assert world.supply(world.school, school_says).all_accepted
    # The GP's record under another NHS number: two records, flagged.
    gp_says = attrs.evolve(
        school_says, ref="g-1", identifiers=SourceIdentifiers(nhs_number=_nhs(5))
    )
    assert world.supply(world.gp, gp_says).all_accepted
    assert world.live() == 2
    service = world.directory.service
    school_id = service.find_by_identifier(SourceIdentifiers(upn=_upn(1)))
    gp_id = service.find_by_identifier(SourceIdentifiers(nhs_number=_nhs(5)))
    assert school_id is not None
    assert gp_id is not None
    # The GP's authority was told of a possible duplicate (SUP-7).
    [flagged] = service.data_quality_queue(OTHER_LA)
    assert (flagged.kind, flagged.directory_id, flagged.candidates) == (
        DataQualityKind.POSSIBLE_DUPLICATE,
        gp_id,
        (school_id,),
    )
    with _team_http(world.directory, "la-team-1") as http:
        # Two authorities' records: the school's authority asks (SUP-7) ...
        asked = http.post(
            "/v1/management/merges",
            json={"survivor": str(school_id), "absorbed": str(gp_id)},
            headers={"X-Request-ID": "merge-1"},
        )
        assert asked.status_code == 202, asked.text
        pending = asked.json()
        assert (pending["status"], pending["approving_authority"]) == ("pending", OTHER_LA)
        assert world.live() == 2
        # ... and may not approve its own request.
        own = http.post(f"/v1/management/merge-requests/{pending['request_id']}/approve")
        assert own.status_code == 403
        assert own.json()["code"] == "management_team_only"
    with _team_http(world.directory, "la-team-2", la=OTHER_LA) as other:
        queued = other.get("/v1/management/data-quality").json()["items"]
        assert {i["item_id"] for i in queued} >= {pending["request_id"]}
        merged = other.post(f"/v1/management/merge-requests/{pending['request_id']}/approve")
        assert merged.status_code == 201, merged.text
        merge = merged.json()
        assert (merge["survivor"], merge["absorbed"], merge["merged_by"]) == (
            str(school_id),
            str(gp_id),
            "la-team-2",
        )
        # The request and the possible duplicate that prompted it are closed.
        assert other.get("/v1/management/data-quality").json()["items"] == []
    assert world.live() == 1
    with _team_http(world.directory, "la-team-3") as http:
        # The retired identifier opens the record it now lives in.
        opened = http.post(f"/v1/records/{gp_id}/open", json={"reason": "assessment"})
        assert opened.status_code == 200, opened.text
        assert opened.json()["directory_id"] == str(school_id)
        undone = http.post(f"/v1/management/merges/{merge['merge_id']}/undo")
        assert undone.status_code == 200, undone.text
        assert undone.json()["undone_by"] == "la-team-3"
        assert world.live() == 2
        again = http.post(f"/v1/management/merges/{merge['merge_id']}/undo")
        assert again.status_code == 404
        assert again.json()["code"] == "merge_not_found"
    [asked_event] = world.audited("merge_requested")
    assert (asked_event.actor, asked_event.refs[:2]) == (
        "la-team-1",
        (str(gp_id), pending["request_id"]),
    )
    [approved_event] = world.audited("merge_approved")
    assert approved_event.actor == "la-team-2"
    [merged_event] = world.audited("records_merged")
    assert merged_event.actor == "la-team-2"
    assert merged_event.directory_id == str(school_id)
    assert merged_event.refs[:2] == (str(gp_id), merge["merge_id"])
    [unmerged_event] = world.audited("records_unmerged")
    assert unmerged_event.actor == "la-team-3"
    assert unmerged_event.refs[:2] == (str(gp_id), merge["merge_id"])
    for event in (asked_event, approved_event, merged_event, unmerged_event):
        assert "Amelia" not in repr(event)  # identifiers only (ACC-5)
        assert "Okafor" not in repr(event)


def test_shld_5_a_merge_across_an_adoption_shield_is_refused_over_http_with_its_rule(
    world: _World,
) -> None:
    school_says = _child(
        "p-1", "Amelia", identifiers=SourceIdentifiers(upn=_upn(1), nhs_number=_nhs(1))
    )
    gp_says = attrs.evolve(
        school_says, ref="g-1", identifiers=SourceIdentifiers(nhs_number=_nhs(5))
    )
    assert world.supply(world.school, school_says).all_accepted
    assert world.supply(world.gp, gp_says).all_accepted
    service = world.directory.service
    school_id = service.find_by_identifier(SourceIdentifiers(upn=_upn(1)))
    gp_id = service.find_by_identifier(SourceIdentifiers(nhs_number=_nhs(5)))
    assert school_id is not None
    assert gp_id is not None
    service.request_shield(
        gp_id,
        ShieldRequestInput(ground=ShieldGround.ADOPTION_IDENTITY_LINK, requested_by="sw-1"),
        _SOCIAL_WORKER,
    )
    with _team_http(world.directory, "la-team-1") as http:
        refused = http.post(
            "/v1/management/merges", json={"survivor": str(school_id), "absorbed": str(gp_id)}
        )
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert (refused.json()["code"], refused.json()["rule"]) == (
        "adoption_records_never_linked",
        "SHLD-5",
    )
    assert world.live() == 2
    [refusal] = world.audited("records_merge_refused")
    assert refusal.rule == "SHLD-5"
