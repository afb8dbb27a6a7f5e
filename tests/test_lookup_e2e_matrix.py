"""The visibility matrix again, end to end through HTTP (SHLD-1, SENS-4, SAR-1, ACC-4).

Every role, from the child's own local authority or another, of the
sensitive service's organisation or not, signs in with four credentials,
searches for the probe child, and opens both probe records (shielded and not)
with a reason. Each probe value (``policy.matrix.FIELDS``) is looked for in
the raw text of every response body: what is visible must be exactly what
the rules allow, written independently in ``tests/test_policy_redaction.py``,
and nothing else may be anywhere in an answer (a search candidate, a broker
request, a refusal).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import attrs
import pytest

from contactpoint_sdk.models.identifiers import DirectoryId
from contactpoint_sdk.policy.matrix import FIELDS, PROBE_LA, PROBE_NOW, SENSITIVE_ORG, probe_record
from contactpoint_sdk.policy.viewer import Purpose, Role, SubjectAccessRequester, Viewer
from tests.test_policy_redaction import ALL_FIELDS, _expected
from tests.test_server_http_support import LookupHttp

OPEN_ID = str(DirectoryId.from_int(4242))
SHIELDED_ID = str(DirectoryId.from_int(4243))
OTHER_LA = "202"
OTHER_ORG = "urn:100009"
#: What a search candidate may show: no more than tells children apart.
CANDIDATE_FIELDS = frozenset({"directory identifier", "child's name", "date of birth", "gender"})


def _visible(text: str, directory_id: str) -> frozenset[str]:
    """The field labels whose probe value is in ``text``."""
    return frozenset(label for label, probe, _ in FIELDS if (probe or directory_id) in text)


def _leaks(text: str) -> frozenset[str]:
    """Every field label of either probe record found in ``text``."""
    return _visible(text, OPEN_ID) | _visible(text, SHIELDED_ID)


@pytest.fixture(scope="module")
def directory() -> Iterator[LookupHttp]:
    h = LookupHttp()
    h.clock.set(PROBE_NOW)
    shielded = attrs.evolve(probe_record(shielded=True), directory_id=DirectoryId.from_int(4243))
    assert h.directory.seed_records([probe_record(shielded=False), shielded]) == 2
    yield h
    h.close()


CASES = list(itertools.product(Role, (True, False), (True, False)))


@pytest.mark.parametrize(("role", "own_la", "owns_sensitive"), CASES)
def test_every_role_sees_exactly_what_the_rules_allow_through_http(
    directory: LookupHttp, role: Role, own_la: bool, owns_sensitive: bool
) -> None:
    h = directory
    user = f"{role.value}-{int(own_la)}{int(owns_sensitive)}".replace("_", "-")
    la = PROBE_LA if own_la else OTHER_LA
    org = SENSITIVE_ORG if owns_sensitive else OTHER_ORG
    headers = h.user(role, user=user, la=la, org=org)
    viewer = Viewer(user_id=user, role=role, organisation_key=org, local_authority=la)

    # The search shows both children, each by no more than tells them apart.
    found = h.http.post(
        "/v1/search",
        json={"family_name": "Probefamily", "date_of_birth": "2014-02-03"},
        headers=headers,
    )
    assert found.status_code == 200, found.text
    assert _leaks(found.text) <= CANDIDATE_FIELDS
    result = found.json()
    sees_everything = role is Role.LA_MANAGEMENT_TEAM and own_la
    shown_ids = [c["directory_id"] for c in result["candidates"]]
    shielded_ids = [c["directory_id"] for c in result["shielded_candidates"]]
    if sees_everything:
        assert (shown_ids, shielded_ids) == ([OPEN_ID, SHIELDED_ID], [])
    else:
        assert (shown_ids, shielded_ids) == ([OPEN_ID], [SHIELDED_ID])
        (shielded_candidate,) = result["shielded_candidates"]
        assert set(shielded_candidate) == {
            "directory_id",
            "given_name",
            "family_name",
            "date_of_birth",
        }

    # Opening each record shows exactly what the rules allow.
    for directory_id, shielded in ((OPEN_ID, False), (SHIELDED_ID, True)):
        opened = h.http.post(
            f"/v1/records/{directory_id}/open", json={"reason": "assessment"}, headers=headers
        )
        assert opened.status_code == 200, opened.text
        expected = _expected(viewer, shielded=shielded, owns_sensitive=owns_sensitive)
        assert _visible(opened.text, directory_id) == expected, (directory_id, role)
        other = SHIELDED_ID if directory_id == OPEN_ID else OPEN_ID
        assert other not in opened.text

        # A broker request, where there is an unspecified service, says nothing more.
        unspecified = opened.json().get("unspecified_services", [])
        if unspecified:
            broker = h.http.post(
                f"/v1/records/{directory_id}/broker", json={"ordinal": 1}, headers=headers
            )
            assert broker.status_code == 201, broker.text
            assert _leaks(broker.text) <= {"directory identifier"}

    # Refusals carry no child data either.
    refused = [
        h.http.post(f"/v1/records/{OPEN_ID}/open", json={}, headers=headers),
        h.http.post(f"/v1/records/{SHIELDED_ID}/broker", json={"ordinal": 9}, headers=headers),
        h.http.post(
            "/v1/search", json={"family_name": "Probefamily", "gender": "F"}, headers=headers
        ),
        h.http.post(
            f"/v1/archive/{OPEN_ID}/open", json={"reason": "serious_case_review"}, headers=headers
        ),
    ]
    for answer in refused:
        assert answer.status_code >= 400
        assert _leaks(answer.text) <= {"directory identifier"}
        assert "Probe" not in answer.text


@pytest.mark.parametrize("shielded", [False, True])
@pytest.mark.parametrize("requester", list(SubjectAccessRequester))
def test_sar_1_subject_access_through_http(
    directory: LookupHttp, shielded: bool, requester: SubjectAccessRequester
) -> None:
    h = directory
    user = f"sar-{requester.value}-{int(shielded)}".replace("_", "-")
    headers = h.user(Role.LA_MANAGEMENT_TEAM, user=user, la=PROBE_LA, org=OTHER_ORG)
    directory_id = SHIELDED_ID if shielded else OPEN_ID
    answer = h.http.post(
        f"/v1/management/children/{directory_id}/subject-access",
        json={"requester": requester.value},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    viewer = Viewer(
        user_id=user,
        role=Role.LA_MANAGEMENT_TEAM,
        organisation_key=OTHER_ORG,
        local_authority=PROBE_LA,
        purpose=Purpose.SUBJECT_ACCESS,
        subject_access_requester=requester,
    )
    assert _visible(answer.text, directory_id) == _expected(
        viewer, shielded=shielded, owns_sensitive=False
    )


def test_the_management_team_of_another_authority_sees_no_more_than_a_teacher(
    directory: LookupHttp,
) -> None:
    h = directory
    headers = h.user(Role.LA_MANAGEMENT_TEAM, user="team-elsewhere", la=OTHER_LA, org=OTHER_ORG)
    opened = h.http.post(
        f"/v1/records/{SHIELDED_ID}/open", json={"reason": "child_protection"}, headers=headers
    )
    assert _visible(opened.text, SHIELDED_ID) == _expected(
        Viewer(
            user_id="team-elsewhere",
            role=Role.LA_MANAGEMENT_TEAM,
            organisation_key=OTHER_ORG,
            local_authority=OTHER_LA,
        ),
        shielded=True,
        owns_sensitive=False,
    )
    assert _visible(opened.text, SHIELDED_ID) < ALL_FIELDS
