"""docs/openapi.yaml against the running app (issue 5, item 8).

- every route the app serves is in the spec, and every route in the spec is
  served, with the same methods;
- one scenario calls every operation for real through the in-process
  transport; every request body validates against its ``requestBody`` schema
  and every answer (successes and errors alike) against the spec's response
  for its status, media type included; every operation is seen succeeding;
- errors are RFC 9457 problems with ``code``, ``rule`` and ``request_id``.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import httpx
import pytest
from starlette.routing import Route

from contactpoint_sdk.models import ShieldGround
from contactpoint_sdk.models.identifiers import DirectoryId
from contactpoint_sdk.models.operations import SupplyBatch
from contactpoint_sdk.models.record import SourceIdentifiers
from contactpoint_sdk.policy.viewer import Role
from contactpoint_sdk.reference_server import DirectoryService, ShieldRequestInput
from contactpoint_sdk.reference_server.app import create_app
from contactpoint_sdk.reference_server.transport import InProcessTransport
from contactpoint_sdk.reference_server.users import totp_code
from contactpoint_sdk.supply.envelope import STATUS_CONTENT_TYPE, seal
from contactpoint_sdk.supply.keys import SigningKey
from tests.test_server_core_support import team as team_viewer
from tests.test_server_http_support import (
    JOSE,
    LA,
    ORG,
    PASSWORD,
    PIN,
    SUPPLIER,
    Supplier,
    assert_valid,
    bearer,
    make_nhs,
    make_upn,
    new_directory,
    no_leaked_threads,
    pupil,
    schema,
    schema_errors,
    session_header,
    spec,
)

pytestmark = pytest.mark.usefixtures("no_leaked_threads")
_ = no_leaked_threads

_METHODS = ("get", "post", "put", "patch", "delete")


def _template(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", path) + "$")


def _app_routes() -> set[tuple[str, str]]:
    directory = new_directory()
    app = create_app(directory)
    directory.close()
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        assert isinstance(route, Route)
        path = re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", route.path)
        for method in route.methods or ():
            if method != "HEAD":
                found.add((path, method.lower()))
    return found


def _spec_routes() -> set[tuple[str, str]]:
    return {(path, m) for path, item in spec()["paths"].items() for m in item if m in _METHODS}


def test_every_route_is_in_the_spec_and_every_spec_route_is_served() -> None:
    served, described = _app_routes(), _spec_routes()
    assert served - described == set(), "served but not in docs/openapi.yaml"
    assert described - served == set(), "in docs/openapi.yaml but not served"


def test_the_spec_is_openapi_3_1_with_unique_operation_ids() -> None:
    document = spec()
    assert document["openapi"].startswith("3.1")
    ids = [
        operation["operationId"]
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in _METHODS
    ]
    assert len(ids) == len(set(ids))


def test_every_schema_reference_resolves_and_uses_only_checked_keywords() -> None:
    text = json.dumps(spec())
    for name in set(re.findall(r'"#/components/schemas/(\w+)"', text)):
        assert name in spec()["components"]["schemas"], name
    for name, definition in spec()["components"]["schemas"].items():
        # schema_errors refuses keywords it does not check; run it on a value.
        schema_errors(None, definition, name)


class SpecClient:
    """Sends requests through the app and checks each against the spec."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.succeeded: set[tuple[str, str]] = set()
        self.statuses: set[int] = set()

    def _operation(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        for template, item in spec()["paths"].items():
            if _template(template).match(path) and method in item:
                return template, item[method]
        raise AssertionError(f"{method.upper()} {path} is not in the spec")

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        method = method.lower()
        template, operation = self._operation(method, path)
        if json_body is not None:
            body = operation.get("requestBody")
            assert body is not None, f"{template} takes no body in the spec"
            assert_valid(json_body, body["content"]["application/json"]["schema"])
        response = self.http.request(
            method.upper(),
            path,
            json=json_body,
            content=content,
            headers=headers,
            params=params,
        )
        self.check(template, operation, response)
        return response

    def check(self, template: str, operation: dict[str, Any], response: httpx.Response) -> None:
        status = str(response.status_code)
        responses = operation["responses"]
        declared = responses.get(status, responses["default"])
        if "$ref" in declared:
            declared = spec()["components"]["responses"][declared["$ref"].rsplit("/", 1)[1]]
        assert response.headers.get("X-Request-ID"), "every answer carries X-Request-ID"
        if "content" not in declared:
            assert response.status_code == 204, f"{template} {status}: no content declared"
            assert response.content == b""
        else:
            media = response.headers["content-type"].split(";")[0]
            assert media in declared["content"], f"{template} {status}: {media} not declared"
            assert_valid(response.json(), declared["content"][media]["schema"])
        for header, given in declared.get("headers", {}).items():
            definition = given
            if "$ref" in given:
                definition = spec()["components"]["headers"][given["$ref"].rsplit("/", 1)[1]]
            if definition.get("required"):
                assert response.headers.get(header) is not None, f"{header} missing"
        method = response.request.method.lower()
        self.statuses.add(response.status_code)
        if response.is_success:
            self.succeeded.add((template, method))


@pytest.fixture
def directory() -> Iterator[DirectoryService]:
    service = new_directory()
    yield service
    service.close()


@pytest.fixture
def client(directory: DirectoryService) -> Iterator[SpecClient]:
    app = create_app(directory)
    with httpx.Client(base_url="https://directory.test", transport=InProcessTransport(app)) as c:
        yield SpecClient(c)


def _supply(client: SpecClient, source: Supplier, batch: SupplyBatch) -> dict[str, Any]:
    response = client.call("post", "/v1/supply/batches", content=source.seal(batch), headers=JOSE)
    assert response.status_code == 200, response.text
    receipt: dict[str, Any] = response.json()
    return receipt


def _status_request(
    directory: DirectoryService, key: SigningKey, supplier_id: str = SUPPLIER
) -> str:
    """A status request sealed by ``key`` (``POST /v1/supply/status``)."""
    payload = {"supplier_id": supplier_id, "agreement_id": "AG-1", "nonce": "n-1"}
    return seal(
        json.dumps(payload).encode(),
        signing_key=key,
        recipient=directory.directory_public_key(),
        now=directory.clock.now(),
        content_type=STATUS_CONTENT_TYPE,
    )


def _find(client: SpecClient, serial: int) -> str:
    child = pupil(serial)
    identifiers = {"upn": str(child.identifiers.upn)}
    found = client.call("post", "/v1/_control/children/find", json_body=identifiers).json()
    assert isinstance(found["directory_id"], str)
    return found["directory_id"]


def test_every_operation_answers_as_the_spec_says(
    client: SpecClient, directory: DirectoryService
) -> None:
    source = Supplier(directory)
    call = client.call
    assert call("get", "/v1/health").json()["status"] == "ok"
    assert call("get", "/v1/keys/directory").headers["content-type"] == "application/jwk-set+json"

    # The registry, over HTTP.
    assert (
        call("post", "/v1/_control/suppliers", json_body=source.registration()).status_code == 201
    )
    assert call("get", f"/v1/_control/suppliers/{SUPPLIER}").json()["accredited"] is True

    # Supply two pupils, one with a sensitive service; a resend changes nothing.
    batch = source.batch(pupil(1, sensitive=True), pupil(2))
    first = _supply(client, source, batch)
    assert _supply(client, source, batch) == first
    status = call(
        "post", "/v1/supply/status", content=_status_request(directory, source.key), headers=JOSE
    )
    assert status.json() == {"last_sequence": batch.sequence}
    did1, did2 = _find(client, 1), _find(client, 2)

    # Users, over HTTP: enrolled by the control, signed in with four credentials.
    user = {
        "user_id": "user-1",
        "username": "user-1",
        "password": PASSWORD,
        "pin": PIN,
        "role": "head_teacher",
        "organisation_key": ORG,
        "local_authority": LA,
        "nominated": True,
        "trained_on": "2025-01-06",
        "disclosure_issued_on": "2025-01-06",
    }
    created = call("post", "/v1/_control/users", json_body=user)
    assert created.status_code == 201
    secret = parse_qs(urlsplit(created.json()["provisioning_uri"]).query)["secret"][0]
    code = totp_code(base64.b32decode(secret + "=" * (-len(secret) % 8)), directory.clock.now())
    signed_in = call(
        "post",
        "/v1/sessions",
        json_body={"username": "user-1", "password": PASSWORD, "pin": PIN, "token": code},
    )
    assert signed_in.status_code == 201
    teacher = bearer(signed_in.json()["session_token"])
    current = call("get", "/v1/sessions/current", headers=teacher).json()
    assert (current["user_id"], current["acting_for"]) == ("user-1", None)
    helper = {k: v for k, v in user.items() if k not in ("username", "password", "pin")}
    helper["user_id"] = "ta-1"
    helper["role"] = "pastoral_teacher"
    assert call("post", "/v1/_control/practitioners", json_body=helper).status_code == 201
    acting = call(
        "post",
        "/v1/sessions/current/act-for",
        json_body={"practitioner_user_id": "ta-1"},
        headers=teacher,
    ).json()
    assert acting["acting_for"] == "ta-1"
    assert (
        call("delete", "/v1/sessions/current/act-for", headers=teacher).json()["acting_for"] is None
    )
    team = session_header(directory, Role.LA_MANAGEMENT_TEAM, user="la-team-1")

    # Look-up side: search, then open with a reason; the sensitive service is
    # unspecified for a head teacher (SENS-4).
    found = call(
        "post",
        "/v1/search",
        json_body={"family_name": "Hartley", "date_of_birth": "2015-04-01"},
        headers=teacher,
    ).json()
    assert sorted(c["directory_id"] for c in found["candidates"]) == sorted([did1, did2])
    assert found["shielded_candidates"] == []
    shown = call(
        "post", f"/v1/records/{did1}/open", json_body={"reason": "assessment"}, headers=teacher
    ).json()
    assert shown["view"] == "standard"
    assert shown["unspecified_services"] == [{"ordinal": 1}]
    broker = call(
        "post", f"/v1/records/{did1}/broker", json_body={"ordinal": 1}, headers=teacher
    ).json()
    queue = call("get", "/v1/management/broker-requests", headers=team).json()
    assert [b["request_id"] for b in queue["items"]] == [broker["request_id"]]
    rid = broker["request_id"]
    service = call("get", f"/v1/management/broker-requests/{rid}/service", headers=team).json()
    assert service["service"] == "mental_health.camhs_tier_2"
    moved = call(
        "post",
        f"/v1/management/broker-requests/{rid}/status",
        json_body={"status": "forwarded"},
        headers=team,
    ).json()
    assert moved["status"] == "forwarded"

    # Shields: requested, overdue a week later, reviewed (SHLD-2, SHLD-3, SHLD-6).
    social = session_header(directory, Role.SOCIAL_CARE_PRACTITIONER, user="sw-1")
    shield = call(
        "post",
        f"/v1/records/{did2}/shield",
        json_body={"ground": "risk_of_harm_to_child"},
        headers=social,
    )
    assert shield.status_code == 204
    reopened = call(
        "post", f"/v1/records/{did2}/open", json_body={"reason": "assessment"}, headers=teacher
    )
    assert reopened.json()["view"] == "shielded"
    assert call("get", "/v1/management/alerts", headers=team).json() == {"items": []}
    call("post", "/v1/_control/clock", json_body={"advance": {"days": 8}})
    team = session_header(directory, Role.LA_MANAGEMENT_TEAM, user="la-team-2")
    overdue = call("get", "/v1/management/shield-reviews/overdue", headers=team).json()
    assert [o["directory_id"] for o in overdue["items"]] == [did2]
    review = {
        "reviewed_on": "2026-03-10",
        "reviewed_by": "la-team-1",
        "views_considered": ["child", "social_care"],
        "maintained": True,
    }
    reviewed = call(
        "post", f"/v1/management/children/{did2}/shield/reviews", json_body=review, headers=team
    ).json()
    assert len(reviewed["reviews"]) == 1

    # Data quality: a supply naming pupil 1 with another birth date is held.
    _supply(client, source, source.batch(pupil(1, ref="row-9", born=date(2015, 4, 2))))
    items = call("get", "/v1/management/data-quality", headers=team).json()["items"]
    assert [i["held"] for i in items] == [True]
    item_id = items[0]["item_id"]
    query = call(
        "post",
        f"/v1/management/data-quality/{item_id}/queries",
        json_body={"field": "date_of_birth", "question_code": "confirm_date_of_birth"},
        headers=team,
    ).json()
    assert query["source_ref"] == "row-9"
    queries = call("get", f"/v1/_control/suppliers/{SUPPLIER}/queries").json()["items"]
    assert [q["query_id"] for q in queries] == [query["query_id"]]
    decided = call(
        "post",
        f"/v1/management/data-quality/{item_id}/decision",
        json_body={"directory_id": did1},
        headers=team,
    ).json()
    assert decided["ref"] == "row-9"
    _supply(client, source, source.batch(pupil(2, ref="row-10", born=date(2015, 4, 3))))
    (item,) = call("get", "/v1/management/data-quality", headers=team).json()["items"]
    resolved = call(
        "post", f"/v1/management/data-quality/{item['item_id']}/resolve", headers=team
    ).json()
    assert resolved["status"] == "resolved"

    # SUP-7: a second record of pupil 3 under other numbers; the team merges
    # the two records of one child, then undoes the merge.
    # (Born another day: pupil 2, shielded, shares the family name, SHLD-7.)
    _supply(client, source, source.batch(pupil(3, born=date(2014, 6, 5))))
    again = attrs.evolve(
        pupil(3, ref="row-33", born=date(2014, 6, 5)),
        identifiers=SourceIdentifiers(upn=make_upn(33), nhs_number=make_nhs(33)),
    )
    _supply(client, source, source.batch(again))
    did3 = _find(client, 3)
    found = call("post", "/v1/_control/children/find", json_body={"upn": str(make_upn(33))})
    did33 = found.json()["directory_id"]
    assert did33 != did3
    # did33 is shielded, so one team member asks and another approves (202, 201).
    directory.request_shield(
        DirectoryId(did33),
        ShieldRequestInput(ground=ShieldGround.RISK_OF_HARM_TO_CHILD, requested_by="sw"),
        team_viewer(LA),
    )
    asked = call(
        "post",
        "/v1/management/merges",
        json_body={"survivor": did3, "absorbed": did33},
        headers=team,
    )
    assert asked.status_code == 202
    second = session_header(directory, Role.LA_MANAGEMENT_TEAM, user="la-team-3")
    merged = call(
        "post",
        f"/v1/management/merge-requests/{asked.json()['request_id']}/approve",
        headers=second,
    )
    assert merged.status_code == 201
    assert (merged.json()["survivor"], merged.json()["absorbed"]) == (did3, did33)
    snapshots = call("get", f"/v1/management/children/{did3}/merge-snapshots", headers=team).json()[
        "items"
    ]
    assert [n["merge_id"] for n in snapshots] == [merged.json()["merge_id"]]
    undone = call(
        "post", f"/v1/management/merges/{merged.json()['merge_id']}/undo", headers=team
    ).json()
    assert undone["undone_by"] == "la-team-2"

    # REC-7, SAR-1, SAR-2, RET-2.
    gaps = call("get", "/v1/management/universal-service-gaps", headers=team).json()["items"]
    assert {g["directory_id"] for g in gaps} >= {did1}
    sar = call(
        "post",
        f"/v1/management/children/{did1}/subject-access",
        json_body={"requester": "child"},
        headers=team,
    ).json()
    assert sar["view"] == "full"
    corrected = call(
        "post",
        f"/v1/management/children/{did1}/corrections",
        json_body={"name": {"given_name": "Amelie", "family_name": "Hartley"}},
        headers=team,
    ).json()
    assert corrected["name"]["given_name"] == "Amelie"
    extended = call(
        "post",
        f"/v1/management/children/{did1}/retention-extension",
        json_body={"reason": "connexions", "consented_on": "2026-03-10"},
        headers=team,
    ).json()
    assert extended["retention_extension"]["reason"] == "connexions"

    # Controls.
    assert call("get", "/v1/_control/counts").json()["live"] == 4
    assert (
        call("post", "/v1/_control/seed", json_body={"children": 3, "seed": 7}).json()["seeded"]
        == 3
    )
    fault = call("post", "/v1/_control/faults", json_body={"kind": "slow", "delay": 0.0})
    assert fault.status_code == 201
    assert len(call("get", "/v1/_control/faults").json()["pending"]) == 1
    assert call("delete", "/v1/_control/faults").json() == {"cleared": 1}
    assert call("get", "/v1/_control/clock").json()["movable"] is True

    # Past the 18th birthday the unextended record is archived (RET-1) and
    # read from the archive by a reviewer (RET-6).
    call("post", "/v1/_control/clock", json_body={"set": "2033-04-02T09:00:00Z"})
    report = call("post", "/v1/_control/jobs/run").json()
    assert did2 in report["archived"]
    reviewer = session_header(directory, Role.ARCHIVE_REVIEWER, user="lscb-1")
    archived = call(
        "post",
        f"/v1/archive/{did2}/open",
        json_body={"reason": "serious_case_review"},
        headers=reviewer,
    ).json()
    assert archived["view"] == "full"
    assert call("delete", "/v1/sessions/current", headers=reviewer).status_code == 204

    suspended = call("post", f"/v1/_control/suppliers/{SUPPLIER}/suspend").json()
    assert suspended["accredited"] is False
    reset = call("post", "/v1/_control/reset", json_body={"keep_suppliers": True}).json()
    assert reset["status"] == "reset"

    every = _spec_routes()
    assert every - client.succeeded == set(), "operations never seen succeeding"


def _problem(response: httpx.Response, status: int, code: str, rule: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert_valid(body, schema("Problem"))
    assert body["status"] == status
    assert body["code"] == code
    assert body["rule"] == rule
    assert body["type"].endswith("/" + code)
    assert body["request_id"] == response.headers["X-Request-ID"]


def test_errors_are_problem_documents_with_their_rule(
    client: SpecClient, directory: DirectoryService
) -> None:
    call = client.call
    source = Supplier(directory)
    batch = source.batch()
    # SUP-3: a supplier nobody registered.
    refused = call("post", "/v1/supply/batches", content=source.seal(batch), headers=JOSE)
    _problem(refused, 403, "supplier_not_accredited", "SUP-3")
    source.register()
    assert call("post", "/v1/supply/batches", content=source.seal(batch), headers=JOSE).is_success
    # SUP-5: a new batch whose sequence number is not above the last.
    stale = SupplyBatch(
        supplier_id=batch.supplier_id,
        agreement_id=batch.agreement_id,
        batch_id="another-batch",
        sequence=batch.sequence,
        created_at=batch.created_at,
        operations=batch.operations,
    )
    conflict = call("post", "/v1/supply/batches", content=source.seal(stale), headers=JOSE)
    _problem(conflict, 409, "sequence_out_of_order", "SUP-5")
    assert conflict.json()["last_sequence"] == batch.sequence
    # SUP-4: outside the agreement.
    outside = SupplyBatch(
        supplier_id=batch.supplier_id,
        agreement_id="AG-UNKNOWN",
        batch_id="third-batch",
        sequence=batch.sequence + 1,
        created_at=batch.created_at,
        operations=batch.operations,
    )
    refused = call("post", "/v1/supply/batches", content=source.seal(outside), headers=JOSE)
    _problem(refused, 403, "outside_agreement", "SUP-4")
    # SUP-5: not an envelope; the wrong media type.
    _problem(
        call("post", "/v1/supply/batches", content="not.a.jwe", headers=JOSE),
        400,
        "envelope_malformed",
        "SUP-5",
    )
    _problem(
        call("post", "/v1/supply/batches", content="x", headers={"Content-Type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    # A tampered envelope: the ciphertext does not decrypt (SUP-5).
    token = source.seal(source.batch(pupil(3)))
    parts = token.split(".")
    parts[3] = ("A" if parts[3][0] != "A" else "B") + parts[3][1:]
    tampered = call("post", "/v1/supply/batches", content=".".join(parts), headers=JOSE)
    _problem(tampered, 401, "envelope_decryption_failed", "SUP-5")
    # A status request signed by a key no supplier registered (SUP-5).
    stranger = _status_request(directory, SigningKey.generate())
    _problem(
        call("post", "/v1/supply/status", content=stranger, headers=JOSE),
        401,
        "envelope_unknown_key",
        "SUP-5",
    )

    # The look-up side without a session, or with one that is not live (ACC-1).
    did = _find(client, 1)
    opening = {"reason": "assessment"}
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, bearer("not-a-session")):
        refused = call("post", f"/v1/records/{did}/open", json_body=opening, headers=headers)
        _problem(refused, 401, "session_invalid", "ACC-1")
        assert refused.headers["WWW-Authenticate"] == "Bearer"
    teacher = session_header(directory)
    # A record that is not there; a directory ID that is not one (REC-1).
    _problem(
        call("post", "/v1/records/7KQ4-M2XD-9HT2/open", json_body=opening, headers=teacher),
        404,
        "record_not_found",
    )
    malformed = call("post", "/v1/records/NOPE/open", json_body=opening, headers=teacher)
    assert malformed.status_code == 400
    assert malformed.json()["problems"][0]["path"] == "directory_id"
    # ACC-3: no reason, an unknown one, free text without "other".
    _problem(
        call("post", f"/v1/records/{did}/open", headers=teacher), 400, "reason_required", "ACC-3"
    )
    unknown = call(
        "post",
        f"/v1/records/{did}/open",
        content=json.dumps({"reason": "curiosity"}),
        headers={**teacher, "Content-Type": "application/json"},
    )
    _problem(unknown, 400, "reason_unknown", "ACC-3")
    # ACC-4: too broad; sign-in failures say nothing more.
    _problem(
        call("post", "/v1/search", json_body={"family_name": "Hartley"}, headers=teacher),
        400,
        "search_too_broad",
        "ACC-4",
    )
    failed = call("post", "/v1/sessions", json_body={"username": "user-1", "password": PASSWORD})
    _problem(failed, 401, "sign_in_failed", "ACC-1")
    # Rules refusing: a head teacher is not the management team (SUP-8), nor
    # an archive reviewer (RET-6).
    _problem(
        call("get", "/v1/management/data-quality", headers=teacher),
        403,
        "management_team_only",
        "SUP-8",
    )
    _problem(
        call(
            "post",
            f"/v1/archive/{did}/open",
            json_body={"reason": "serious_case_review"},
            headers=teacher,
        ),
        403,
        "archive_role_required",
        "RET-6",
    )
    reviewer = session_header(directory, Role.ARCHIVE_REVIEWER, user="lscb-1")
    free_text = call(
        "post",
        f"/v1/archive/{did}/open",
        content=json.dumps({"reason": "Amelia's case"}),
        headers={**reviewer, "Content-Type": "application/json"},
    )
    _problem(free_text, 400, "reason_unknown", "ACC-3")
    assert "Amelia" not in free_text.text
    # Validation failures list every problem with its path.
    invalid = call(
        "post",
        "/v1/_control/clock",
        content=json.dumps({"advance": {"days": "two"}, "extra": 1}),
        headers={"Content-Type": "application/json"},
    )
    _problem(invalid, 400, "validation_failed")
    assert {p["path"] for p in invalid.json()["problems"]} == {"advance.days", "extra"}
    assert next(p for p in invalid.json()["problems"] if p["path"] == "extra")["rule"] == "REC-6"
    _problem(
        call(
            "post",
            "/v1/_control/clock",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        ),
        400,
        "body_not_json",
    )
    _problem(
        call("post", "/v1/_control/clock", json_body={"set": "2020-01-01T00:00:00Z"}),
        409,
        "clock_backwards",
        "RET-8",
    )
    # Routes and methods that do not exist.
    missing = client.http.get("/v1/nowhere")
    _problem(missing, 404, "not_found")
    wrong = client.http.put("/v1/health")
    _problem(wrong, 405, "method_not_allowed")
    assert set(wrong.headers["Allow"].split(", ")) == {"GET", "HEAD"}


def test_an_unexpected_failure_is_a_500_problem_that_says_nothing(
    directory: DirectoryService, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> dict[str, int]:
        raise RuntimeError("secret detail: Amelia Hartley, 1 High Street")

    monkeypatch.setattr(directory, "counts", broken)
    app = create_app(directory)
    with httpx.Client(base_url="https://d.test", transport=InProcessTransport(app)) as http:
        response = http.get("/v1/_control/counts", headers={"X-Request-ID": "trace-500"})
    _problem(response, 500, "internal_error")
    assert response.headers["X-Request-ID"] == "trace-500"
    assert "Amelia" not in response.text
    assert "Amelia" not in caplog.text
    assert "RuntimeError" in caplog.text


def test_a_session_is_only_read_where_a_caller_is_needed(client: SpecClient) -> None:
    # Supply and keys never need a session; an Authorization header there changes nothing.
    answer = client.call("get", "/v1/keys/directory", headers=bearer("whatever"))
    assert answer.status_code == 200


def _model_classes() -> dict[str, type]:
    from contactpoint_sdk.models import identifiers, record, views
    from contactpoint_sdk.models.operations import OperationOutcome, SupplyReceipt
    from contactpoint_sdk.policy.shield import OverdueReview
    from contactpoint_sdk.policy.trawling import SearchCriteria, TrawlingAlert
    from contactpoint_sdk.reference_server import entities

    classes: dict[str, type] = {
        "SupplyReceipt": SupplyReceipt,
        "OperationOutcome": OperationOutcome,
    }
    classes.update(
        OverdueReview=OverdueReview, SearchCriteria=SearchCriteria, TrawlingAlert=TrawlingAlert
    )
    for module in (identifiers, record, views, entities):
        for name in dir(module):
            value = getattr(module, name)
            if (
                isinstance(value, type)
                and attrs.has(value)
                and value.__module__ == module.__name__
                and name in spec()["components"]["schemas"]
            ):
                classes[name] = value
    return classes


def test_the_model_schemas_match_the_models_field_for_field() -> None:
    """The spec's model schemas were written from the attrs models; a field
    added, removed or made optional in a model must be mirrored here."""
    schemas = spec()["components"]["schemas"]
    classes = _model_classes()
    assert len(classes) >= 25
    for name, cls in classes.items():
        definition = schemas[name]
        tags = {"view", "type"} & set(definition["properties"]) - {
            f.name for f in attrs.fields(cls)
        }
        fields = {f.name for f in attrs.fields(cls)}
        assert set(definition["properties"]) - tags == fields, name
        required = {f.name for f in attrs.fields(cls) if f.default is attrs.NOTHING}
        assert set(definition.get("required", ())) - tags == required, name
        assert definition["additionalProperties"] is False, name
