"""Helpers for the HTTP layer's tests (no tests here).

- building a directory, a supplier and a sealed batch the real way
  (:class:`~contactpoint_sdk.supply.batch.BatchBuilder`, ``encode_batch``,
  ``seal`` to the directory's key);
- look-up users signed in through the core, for ``Authorization: Bearer``
  (the scrypt cost lowered through the settings, ``FAST``, as in
  ``tests/test_lookup_users.py``);
- a small JSON Schema validator for the subset ``docs/openapi.yaml`` uses
  (``jsonschema`` is not a dependency): it refuses any keyword it does not
  know, so the spec cannot silently use more than is checked;
- a check that no test leaves a directory thread running.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml

from contactpoint_sdk.clock import MovableClock
from contactpoint_sdk.models import (
    Address,
    Consent,
    ConsentGiver,
    Gender,
    Involvement,
    NhsNumber,
    Organisation,
    OrganisationKind,
    PersonName,
    Postcode,
    ServiceKind,
    SourceIdentifiers,
    Upn,
)
from contactpoint_sdk.models.identifiers import nhs_check_digit, upn_check_letter
from contactpoint_sdk.models.operations import AnyOperation, SuppliedChild, SupplyBatch
from contactpoint_sdk.policy.settings import DEFAULT_POLICY, PolicySettings
from contactpoint_sdk.policy.viewer import Role, Viewer
from contactpoint_sdk.reference_server import DirectoryService, SupplyAgreement
from contactpoint_sdk.reference_server.users import Enrolment, totp_code
from contactpoint_sdk.supply.batch import BatchBuilder, MemorySequence, encode_batch
from contactpoint_sdk.supply.envelope import seal
from contactpoint_sdk.supply.keys import SigningKey

#: The directory's clock starts here in every test.
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
LA = "801"
SUPPLIER = "school-8012000"
AGREEMENT = "AG-1"
SPEC_PATH = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"
JOSE = {"Content-Type": "application/jose"}


#: The look-up policy of these tests: the default, with cheap scrypt.
FAST = attrs.evolve(DEFAULT_POLICY, password_scrypt_log2_n=4, password_scrypt_r=1)
PASSWORD = "correct horse battery"
PIN = "402917"
ORG = "urn:999999"
TRAINED = date(2025, 1, 6)


def new_directory(
    path: str | Path | None = None, *, settings: PolicySettings = FAST
) -> DirectoryService:
    return DirectoryService.in_memory(clock=MovableClock(START), settings=settings, path=path)


def make_upn(serial: int) -> Upn:
    body = f"{LA}2000{(serial // 1000) % 100:02d}{serial % 1000:03d}"
    return Upn(upn_check_letter(body) + body)


def make_nhs(n: int) -> NhsNumber:
    """The n-th valid NHS number in the never-issued 999 test range."""
    found, k = -1, 0
    while True:
        body = f"999{k:06d}"
        check = nhs_check_digit(body)
        if check is not None:
            found += 1
            if found == n:
                return NhsNumber(body + check)
        k += 1


_GIVEN = ("Amelia", "Olivia", "Isla", "Ava", "Freya", "Lily", "Mia", "Grace", "Ella", "Ruby")


def camhs(serial: int = 1) -> Involvement:
    """A sensitive involvement (SENS-1), recorded with the child's consent (SENS-2)."""
    return Involvement(
        reference=f"CAMHS-{serial}",
        service=ServiceKind.MENTAL_HEALTH_CAMHS_TIER_2,
        organisation=Organisation(
            name="Harbour Clinic", kind=OrganisationKind.NHS_TRUST, ods_code="RX1"
        ),
        started_on=date(2025, 6, 1),
        consent=Consent(
            given_by=ConsentGiver.CHILD,
            given_on=date(2025, 6, 1),
            recorded_by=PersonName(given_name="Alex", family_name="Recorder"),
        ),
    )


def _postcode(serial: int) -> str:
    return (
        f"BS{1 + serial % 16} {1 + serial // 16 % 9}"
        f"{'ABDEFGHJ'[serial % 8]}{'LNPQRSTU'[serial // 8 % 8]}"
    )


def pupil(
    serial: int = 1,
    *,
    ref: str | None = None,
    born: date | None = None,
    sensitive: bool = False,
) -> SuppliedChild:
    """A supplied pupil at a school (synthetic); ``sensitive`` adds a CAMHS service.

    Pupils 1 to 9 are born on 1 April 2015 at BS1 4DJ (the tests look them up
    so). From 10 on, each has a birthday of its own, one of many postcodes
    and family names (and n and n + 1000 different given names), as on a school's
    roll: a thousand pupils named alike, born the same day at one address,
    would each be compared with every other by the matcher (SUP-7)."""
    if born is None:
        born = (
            date(2015, 4, 1)
            if serial < 10
            # No two alike, and never a day that could be a month (no
            # day-month swap makes one pupil look like another).
            else date(2010 + serial % 8, 1 + serial // 8 % 12, 13 + serial // 96 % 16)
        )
    postcode = "BS1 4DJ" if serial < 10 else _postcode(serial)
    # Pupils n and n + 1000 have UPNs one digit apart: never the same name.
    given = serial + serial // 1000
    letters = "BCDFGHJKLMNPRSTW"
    family = (
        "Hartley"
        if serial < 10
        else f"Hartley{letters[serial % 16]}{letters[serial // 16 % 16].lower()}"
    )
    school = Organisation(
        name="Riverside Primary School", kind=OrganisationKind.SCHOOL, urn="123456"
    )
    return SuppliedChild(
        ref=ref or f"row-{serial}",
        name=PersonName(given_name=_GIVEN[given % len(_GIVEN)], family_name=family),
        gender=Gender.FEMALE,
        date_of_birth=born,
        address=Address(lines=("1 High Street",), town="Bristol", postcode=Postcode(postcode)),
        identifiers=SourceIdentifiers(upn=make_upn(serial), nhs_number=make_nhs(serial)),
        involvements=(
            Involvement(
                reference=f"INV-{serial}",
                service=ServiceKind.EDUCATION_SETTING,
                organisation=school,
                started_on=date(2020, 9, 1),
            ),
            *((camhs(serial),) if sensitive else ()),
        ),
    )


class Supplier:
    """A supplier with a real signing key, sealing real envelopes."""

    def __init__(self, directory: DirectoryService, supplier_id: str = SUPPLIER) -> None:
        self.directory = directory
        self.supplier_id = supplier_id
        self.key = SigningKey.generate()
        self.builder = BatchBuilder(
            supplier_id=supplier_id,
            agreement_id=AGREEMENT,
            clock=directory.clock,
            sequence=MemorySequence(),
        )

    def register(self) -> Supplier:
        """Register directly with the core (the HTTP route is tested on its own)."""
        self.directory.register_supplier(
            self.supplier_id,
            "Riverside Primary School",
            signing_keys=[self.key.public_key()],
            agreements=[SupplyAgreement(agreement_id=AGREEMENT)],
            local_authority=LA,
        )
        return self

    def registration(self) -> dict[str, Any]:
        """The body of ``POST /v1/_control/suppliers`` for this supplier."""
        return {
            "supplier_id": self.supplier_id,
            "name": "Riverside Primary School",
            "signing_keys": {"keys": [self.key.public_jwk()]},
            "agreements": [{"agreement_id": AGREEMENT}],
            "local_authority": LA,
        }

    def batch(self, *operations: AnyOperation) -> SupplyBatch:
        """One batch of ``operations`` (default: pupil 1)."""
        batches = list(self.builder.build(operations or (pupil(1),)))
        assert len(batches) == 1
        return batches[0]

    def seal(self, batch: SupplyBatch) -> str:
        return seal(
            encode_batch(batch, self.directory.codec),
            signing_key=self.key,
            recipient=self.directory.directory_public_key(),
            now=self.directory.clock.now(),
        )


def viewer(role: Role = Role.HEAD_TEACHER, *, la: str = LA, user: str = "user-1") -> Viewer:
    return Viewer(user_id=user, role=role, organisation_key=ORG, local_authority=la)


def enrol(
    directory: DirectoryService,
    role: Role = Role.HEAD_TEACHER,
    *,
    la: str = LA,
    user: str = "user-1",
    org: str = ORG,
    trained_on: date | None = TRAINED,
    disclosure_issued_on: date | None = TRAINED,
) -> Enrolment:
    """Enrol a look-up user (username = user ID) with the test credentials."""
    return directory.create_user(
        user_id=user,
        username=user,
        password=PASSWORD,
        pin=PIN,
        role=role,
        organisation_key=org,
        local_authority=la,
        trained_on=trained_on,
        disclosure_issued_on=disclosure_issued_on,
    )


def code_now(directory: DirectoryService, enrolment: Enrolment) -> str:
    """The user's security-token code at the directory's time (RFC 6238)."""
    return totp_code(enrolment.token_secret, directory.clock.now())


def credentials(directory: DirectoryService, enrolment: Enrolment) -> dict[str, str]:
    """The body of ``POST /v1/sessions`` for ``enrolment``, right now."""
    return {
        "username": enrolment.username,
        "password": PASSWORD,
        "pin": PIN,
        "token": code_now(directory, enrolment),
    }


def bearer(token: str | None) -> dict[str, str]:
    assert token is not None
    return {"Authorization": f"Bearer {token}"}


def session_header(
    directory: DirectoryService,
    role: Role = Role.HEAD_TEACHER,
    *,
    la: str = LA,
    user: str = "user-1",
    org: str = ORG,
) -> dict[str, str]:
    """Enrol ``user`` and sign them in through the core: their
    ``Authorization`` header. (Once per user: a second sign-in in the same
    30-second step would replay the token's code.) Trained and disclosed two
    months before the directory's today."""
    recent = directory.clock.today() - timedelta(days=60)
    enrolment = enrol(
        directory,
        role,
        la=la,
        user=user,
        org=org,
        trained_on=recent,
        disclosure_issued_on=recent,
    )
    session = directory.sign_in(enrolment.username, PASSWORD, PIN, code_now(directory, enrolment))
    return bearer(session.token)


# --- The OpenAPI document and a validator for the subset it uses ----------------------


@cache
def spec() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = yaml.safe_load(handle)
    return loaded


_ANNOTATIONS = frozenset({"description", "title", "default", "examples", "deprecated"})
_KEYWORDS = frozenset(
    {
        "$ref",
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "const",
        "oneOf",
        "anyOf",
        "allOf",
        "format",
        "pattern",
        "minimum",
        "maximum",
        "minItems",
        "uniqueItems",
    }
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _resolve(reference: str) -> dict[str, Any]:
    assert reference.startswith("#/"), f"only local $refs: {reference}"
    node: Any = spec()
    for part in reference[2:].split("/"):
        node = node[part]
    assert isinstance(node, dict)
    return node


def _is_type(value: Any, kind: str) -> bool:
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
    }
    return bool(checks[kind](value))


def _format_ok(value: str, fmt: str) -> bool:
    if fmt == "date":
        if not _DATE.fullmatch(value):
            return False
        date.fromisoformat(value)
        return True
    if fmt == "date-time":
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return False
        return moment.tzinfo is not None
    if fmt == "uri":
        return re.match(r"[a-z][a-z0-9+.-]*:", value) is not None
    raise AssertionError(f"format {fmt!r} is not checked")


def schema_errors(value: Any, schema: Mapping[str, Any], path: str = "$") -> list[str]:
    """Every way ``value`` breaks ``schema`` (empty: it validates)."""
    unknown = set(schema) - _KEYWORDS - _ANNOTATIONS
    assert not unknown, f"the validator does not check {sorted(unknown)} (at {path})"
    if "$ref" in schema:
        return schema_errors(value, _resolve(schema["$ref"]), path)
    errors: list[str] = []
    if "oneOf" in schema:
        matching = [s for s in schema["oneOf"] if not schema_errors(value, s, path)]
        if len(matching) != 1:
            errors.append(f"{path}: matches {len(matching)} of oneOf, not exactly 1")
    if "anyOf" in schema and not any(not schema_errors(value, s, path) for s in schema["anyOf"]):
        errors.append(f"{path}: matches none of anyOf")
    for sub in schema.get("allOf", ()):
        errors += schema_errors(value, sub, path)
    if "const" in schema and (value != schema["const"] or type(value) is not type(schema["const"])):
        errors.append(f"{path}: is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(value, k) for k in kinds):
            return [*errors, f"{path}: {type(value).__name__} is not {kinds}"]
    if isinstance(value, str):
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            errors.append(f"{path}: does not match {schema['pattern']}")
        if "format" in schema and not _format_ok(value, schema["format"]):
            errors.append(f"{path}: is not a {schema['format']}")
    if _is_type(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: above {schema['maximum']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        errors += [
            f"{path}: {name} is missing" for name in schema.get("required", ()) if name not in value
        ]
        extra = schema.get("additionalProperties", True)
        for name, member in value.items():
            if name in properties:
                errors += schema_errors(member, properties[name], f"{path}.{name}")
            elif extra is False:
                errors.append(f"{path}: {name} is not allowed")
            elif isinstance(extra, dict):
                errors += schema_errors(member, extra, f"{path}.{name}")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append(f"{path}: fewer than {schema['minItems']} items")
        if schema.get("uniqueItems") and len({json.dumps(v, sort_keys=True) for v in value}) != len(
            value
        ):
            errors.append(f"{path}: items are not unique")
        if "items" in schema:
            for i, item in enumerate(value):
                errors += schema_errors(item, schema["items"], f"{path}[{i}]")
    return errors


def assert_valid(value: Any, schema: Mapping[str, Any]) -> None:
    errors = schema_errors(value, schema)
    assert not errors, "\n".join(errors[:20])


def schema(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


# --- Threads ----------------------------------------------------------------------------

_OURS = ("contactpoint-",)


def directory_threads() -> list[threading.Thread]:
    """Threads the reference directory starts (in-process loops, loopback servers)."""
    return [t for t in threading.enumerate() if t.name.startswith(_OURS) and t.is_alive()]


@pytest.fixture
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a directory thread running."""
    before = set(directory_threads())
    yield
    left = [t.name for t in directory_threads() if t not in before]
    assert not left, f"threads left running: {left}"


# --- Look-up over HTTP ------------------------------------------------------------------


class LookupHttp:
    """A directory, its HTTP app and a plain ``httpx.Client`` over the
    in-process transport: the look-up routes end to end, as a vendor's MIS
    would call them. Close it (or use the ``lookup_http`` fixture)."""

    def __init__(
        self,
        directory: DirectoryService | None = None,
        *,
        settings: PolicySettings = FAST,
        path: str | Path | None = None,
    ) -> None:
        # Imported here: the app module is heavier than the helpers above need.
        import httpx

        from contactpoint_sdk.reference_server.app import create_app
        from contactpoint_sdk.reference_server.transport import InProcessTransport

        self.directory = directory or new_directory(path, settings=settings)
        self.http = httpx.Client(
            base_url="https://directory.test",
            transport=InProcessTransport(create_app(self.directory)),
        )

    @property
    def clock(self) -> MovableClock:
        clock = self.directory.clock
        assert isinstance(clock, MovableClock)
        return clock

    def advance(self, **by: float) -> None:
        self.clock.advance(timedelta(**by))

    def enrol(self, role: Role = Role.HEAD_TEACHER, **kwargs: Any) -> Enrolment:
        """:func:`enrol`, trained and disclosed two months before today unless given."""
        recent = self.clock.today() - timedelta(days=60)
        kwargs.setdefault("trained_on", recent)
        kwargs.setdefault("disclosure_issued_on", recent)
        return enrol(self.directory, role, **kwargs)

    def sign_in(self, enrolment: Enrolment) -> dict[str, str]:
        """Sign in over HTTP (asserting it worked): the Authorization header."""
        answer = self.http.post("/v1/sessions", json=credentials(self.directory, enrolment))
        assert answer.status_code == 201, answer.text
        return bearer(answer.json()["session_token"])

    def user(self, role: Role = Role.HEAD_TEACHER, **kwargs: Any) -> dict[str, str]:
        """Enrol a user and sign them in over HTTP: their Authorization header."""
        return self.sign_in(self.enrol(role, **kwargs))

    def close(self) -> None:
        self.http.close()
        self.directory.close()


@pytest.fixture
def lookup_http() -> Iterator[LookupHttp]:
    harness = LookupHttp()
    yield harness
    harness.close()
