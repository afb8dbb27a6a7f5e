"""The codec's generated functions, everything written out in line (issue 10),
give exactly what the plain, reference path gives.

The reference is the codec with its fast paths off (``_fast_paths = False``:
cattrs' own generated functions, the checked hooks, every object built by its
``__init__`` with all its checks). For valid input the fast codec must return
an equal model; for invalid input the same ``ValidationError`` problems (path,
message, code, rule, in the same order); and encoding must give the same JSON
text, keys in the same order. The inputs are hypothesis-drawn records and
operations of every kind, with well-typed but invalid values put in (names,
addresses, identifiers, dates, enums, references: REC-1..REC-5, RET-7,
SENS-5, SUP-4) and junk grafted in anywhere.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar
from unittest import mock

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactpoint_sdk.errors import ValidationError
from contactpoint_sdk.models import (
    Address,
    ChildRecord,
    Consent,
    ConsentGiver,
    ContactDetails,
    EmailAddress,
    LocalAuthorityCarer,
    Organisation,
    OrganisationKind,
    PersonName,
    PhoneNumber,
    Practitioner,
    ShieldGround,
    ShieldReview,
    ShieldReviewParty,
    SourceIdentifiers,
    WireCodec,
)
from contactpoint_sdk.models import codec as codec_module
from contactpoint_sdk.models import operations as ops
from contactpoint_sdk.models import record as record_module
from contactpoint_sdk.models._decode_checks import Checks, object_test
from contactpoint_sdk.models.operations import AnyOperation, SupplyBatch
from contactpoint_sdk.synthetic import Population
from tests.strategies import TODAY, child_records, nhs_numbers, person_names, upns

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class _PlainCodec(WireCodec):
    """The reference: no fast paths at all."""

    _fast_paths: ClassVar[bool] = False


fast_codec = WireCodec()
plain_codec = _PlainCodec()


def _decoded(codec: WireCodec, data: Any, cls: Any) -> tuple[Any, ...]:
    try:
        return ("value", codec.decode(data, cls, today=TODAY))
    except ValidationError as error:
        return ("refused", [(p.path, p.message, p.code, p.rule) for p in error.problems])


def _structured(codec: WireCodec, data: Any, cls: Any) -> tuple[Any, ...]:
    """``converter.structure`` (as the directory reads its stored records): the
    value, or the exception it raised with the problems the codec reads from it."""
    try:
        return ("value", codec.converter.structure(data, cls))
    except Exception as error:
        try:
            found = [(p.path, p.message, p.code, p.rule) for p in codec_module._problems(error)]
        except Exception as unknown:  # (an exception the codec does not read)
            found = [("", repr(unknown), "", None)]
        return ("raised", type(error).__name__, str(error), found)


def _wire(codec: WireCodec, obj: Any) -> Any:
    return json.loads(json.dumps(codec.encode(obj)))


def _fast_decoder(tp: Any) -> Any:
    assert fast_codec._fast is not None
    decoder = fast_codec._fast.decoder(tp)
    assert decoder is not None
    return decoder


def _supplied(record: ChildRecord, ref: str = "row-1") -> ops.SuppliedChild:
    return ops.SuppliedChild(
        ref=ref,
        name=record.name,
        gender=record.gender,
        date_of_birth=record.date_of_birth,
        address=record.address,
        identifiers=record.identifiers,
        parents=record.parents,
        involvements=record.involvements,
    )


def _operations(record: ChildRecord) -> list[Any]:
    """One operation of every kind about ``record``'s child (where it has the parts)."""
    key = ops.ChildKey(identifiers=record.identifiers, date_of_birth=record.date_of_birth)
    day = date(2026, 2, 1)
    found: list[Any] = [
        _supplied(record, "r0"),
        ops.ChildLeftSetting(ref="r1", child=key, left_on=day),
        ops.InvolvementChanged(ref="r3", child=key, involvement_reference="x", caf_completed=True),
        ops.InvolvementEnded(ref="r4", child=key, involvement_reference="x", ended_on=day),
        ops.ConsentWithdrawn(ref="r5", child=key, involvement_reference="x", withdrawn_on=day),
        ops.ChildDied(ref="r6", child=key, died_on=day),
        ops.ChildLeftEngland(ref="r7", child=key, determined_on=day),
        ops.ShieldRequested(
            ref="r8",
            child=key,
            ground=ShieldGround.OTHER,
            requested_by="u-1",
            requested_at=NOW,
        ),
    ]
    if record.involvements:
        involvement = record.involvements[0]
        found.append(ops.InvolvementStarted(ref="r2", child=key, involvement=involvement))
        practitioner = next((i.practitioner for i in record.involvements if i.practitioner), None)
        if practitioner is not None:
            found.append(
                ops.CommonAssessmentCompleted(
                    ref="r9",
                    child=key,
                    involvement_reference="x",
                    practitioner=practitioner,
                    organisation=involvement.organisation,
                    completed_on=day,
                )
            )
            found.append(
                ops.SocialCareReferral(
                    ref="r10",
                    child=key,
                    involvement_reference="x",
                    practitioner=practitioner,
                    organisation=involvement.organisation,
                    started_on=day,
                )
            )
    return found


# --- Valid input: the same models, the same text -------------------------------------


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(child_records())
def test_every_operation_decodes_and_encodes_alike(record: ChildRecord) -> None:
    for operation in _operations(record):
        text = json.dumps(fast_codec.encode(operation))
        assert text == json.dumps(plain_codec.encode(operation))  # keys in the same order
        wire = json.loads(text)
        # the generated decoder itself, not only the codec (which could fall back)
        decoder = _fast_decoder(AnyOperation)
        assert decoder(copy.deepcopy(wire)) == operation
        assert plain_codec.converter.structure(wire, AnyOperation) == operation  # type: ignore[arg-type]
        assert _decoded(fast_codec, wire, AnyOperation) == ("value", operation)
        assert _decoded(plain_codec, wire, AnyOperation) == ("value", operation)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(child_records())
def test_records_decode_alike_through_the_converter_and_the_generated_decoder(
    record: ChildRecord,
) -> None:
    wire = _wire(fast_codec, record)
    assert _fast_decoder(ChildRecord)(wire) == record
    assert fast_codec.converter.structure(wire, ChildRecord) == record
    assert plain_codec.converter.structure(wire, ChildRecord) == record


def test_a_batch_of_every_operation_encodes_to_the_same_text() -> None:
    population = Population(5, today=date(2026, 3, 1), sensitive_rate=20.0)
    operations: list[Any] = []
    for i, record in enumerate(population.children(120)):
        operations.extend(attrs.evolve(op, ref=f"{op.ref}-{i}") for op in _operations(record))
    batch = SupplyBatch(
        supplier_id="s-1",
        agreement_id="a-1",
        batch_id="b-1",
        sequence=3,
        created_at=NOW,
        operations=tuple(operations[:500]),
    )
    text = json.dumps(fast_codec.encode(batch))
    assert text == json.dumps(plain_codec.encode(batch))
    assert fast_codec.decode(json.loads(text), SupplyBatch) == batch


@pytest.mark.parametrize(
    "contact",
    [
        ContactDetails(),
        ContactDetails(email=EmailAddress("a@example.org")),
        ContactDetails(address=record_module.Address(lines=("1 High Street",))),
        ContactDetails(phones=(record_module.Phone(number=PhoneNumber("01632 960001")),)),
    ],
)
def test_a_contact_is_left_out_exactly_when_it_is_the_default(contact: ContactDetails) -> None:
    """REC-2, REC-3: the written-out ``!=`` against ``ContactDetails()`` is attrs' own."""
    organisation = Organisation(
        name="Park Surgery", kind=OrganisationKind.GP_PRACTICE, contact=contact
    )
    wire = fast_codec.encode(organisation)
    assert json.dumps(wire) == json.dumps(plain_codec.encode(organisation))
    assert ("contact" in wire) == (contact != ContactDetails())


def test_synthetic_operations_take_the_fast_path() -> None:
    """The strict converter is never asked for well-formed synthetic supply."""
    codec = WireCodec()
    population = Population(8, today=date(2026, 3, 1), sensitive_rate=20.0)
    wires = [(op, _wire(codec, op)) for r in population.children(150) for op in _operations(r)]
    strict = mock.Mock(structure=mock.Mock(side_effect=AssertionError("strict path")))
    with mock.patch.object(codec, "converter", strict):
        for operation, wire in wires:
            assert codec.decode_operation(wire, today=date(2026, 3, 1)) == operation


# --- Invalid input: the same problems -----------------------------------------------

_NAMES = ["", " Amy", "Amy ", "A1", "x" * 61, "Smith--", "O'Neill", "Zoë", "amy"]
_TEXTS = ["", " Bath", "Bath|", "x" * 101, "Bath", "Flat 1/2 & Co"]

#: Well-typed values that break (or, normalised, pass) a field's rule, by field name.
_MUTATIONS: dict[str, list[Any]] = {
    "given_name": _NAMES,
    "family_name": _NAMES,
    "preferred_given_name": [*_NAMES, None],
    "middle_names": [[], ["Amy", "4"], [" x"], ["Ann", "Lee"]],
    "former_family_names": [["x1"], ["Lee"]],
    "lines": [[], ["1 High St"] * 6, ["1 High St|"], [" lead"], ["a", "b", "c"]],
    "town": [*_TEXTS, None],
    "county": _TEXTS,
    "uprn": ["1234567890123", "12a", "²", "", "0", "123456789012"],
    "postcode": ["zz99 3vz", "sw1a 1aa", "BS1  4DJ", "BS14DJ", "BFPO 61", "GIR 0AA", "X"],
    "email": ["A@EXAMPLE.ORG", "a@b", " a@b.co", "a@@b.co", "a\u00e9@b.co"],
    "number": ["01632 960123", "+440163296012", "+441632960123", "0044 1632 960123", "1"],
    "upn": ["b801200005001", " B801200005001", "B801200005002", "B80120000500A"],
    "former_upns": [["B801200005001"], ["x"]],
    "uln": ["1000000043", "1000000044", " 1000000043"],
    "nhs_number": ["943 476 5919", "9434765910", "9434765919"],
    "establishment": ["801/2000", "8012000", "80120"],
    "reference": ["inv-0", "inv 1", "", "x" * 65, "a/b:c"],
    "started_on": ["2000-01-01", "2026-02-30", "2026-01-01"],
    "ended_on": ["2000-01-01", None, "2026-05-01"],
    "contact_retention": ["extended", "standard", "forever"],
    "service": ["gp_practice", "sexual_health", "youth_offending", "nope"],
    "consent_override": [None],
    "withdrawn_on": ["1999-01-01", "2026-05-01"],
    "given_on": ["2030-01-01"],
    "la_code": ["80", "8011", "801", "٨٠١"],
    "urn": ["12345", "123456", "12345a"],
    "laestab": ["8012000", "801200"],
    "ods_code": ["ab1", "A1", "ABCDEFGHIJK", "RSH01"],
    "job_title": ["", " Nurse", "Nurse", "x" * 81],
    "ref": ["bad ref", "", "x" * 65, "ok-ref"],
    "date_of_birth": ["2030-01-01", "1990-01-01", "2015-02-29", "2016-02-29"],
    "died_on": ["1999-01-01"],
    "local_authority": ["80", "999"],
    "lead_professional": [None, True],
    "caf_completed": [None, False],
    "views_considered": [[], ["child"]],
    "kind": ["mobile", "school", "nope"],
    "relationship": ["mother", "nope"],
    "type": ["person", "local_authority", "nope"],
    "op": ["child_supplied", "child_died", "nope"],
}


def _places(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every member of every object in a JSON document."""
    found: list[tuple[Any, ...]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((*path, key))
            found.extend(_places(value, (*path, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_places(value, (*path, i)))
    return found


def _mutated(wire: Any, data: st.DataObject) -> Any:
    """``wire`` with one to three members set to a value from :data:`_MUTATIONS`
    (an optional member sometimes added where it was left out)."""
    doc = copy.deepcopy(wire)
    for _ in range(data.draw(st.integers(1, 3))):
        places = [p for p in _places(doc) if p[-1] in _MUTATIONS]
        if not places:
            break
        path = data.draw(st.sampled_from(places))
        node = doc
        for step in path[:-1]:
            node = node[step]
        if data.draw(st.booleans()) and isinstance(node, dict):
            key = data.draw(st.sampled_from(sorted(_MUTATIONS)))
        else:
            key = path[-1]
        node[key] = copy.deepcopy(data.draw(st.sampled_from(_MUTATIONS[key])))
    return doc


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(child_records(), st.data())
def test_invalid_operations_are_refused_alike(record: ChildRecord, data: st.DataObject) -> None:
    operations = _operations(record)
    operation = data.draw(st.sampled_from(operations))
    doc = _mutated(_wire(fast_codec, operation), data)
    assert _decoded(fast_codec, doc, AnyOperation) == _decoded(plain_codec, doc, AnyOperation)
    assert _structured(fast_codec, doc, AnyOperation) == _structured(plain_codec, doc, AnyOperation)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(child_records(), st.data())
def test_invalid_records_are_refused_alike(record: ChildRecord, data: st.DataObject) -> None:
    doc = _mutated(_wire(fast_codec, record), data)
    assert _decoded(fast_codec, doc, ChildRecord) == _decoded(plain_codec, doc, ChildRecord)
    assert _structured(fast_codec, doc, ChildRecord) == _structured(plain_codec, doc, ChildRecord)
    for part, cls in (
        ("name", PersonName),
        ("address", Address),
        ("identifiers", SourceIdentifiers),
    ):
        if part in doc:  # as a search summary reads them (ACC-4)
            assert _structured(fast_codec, doc[part], cls) == _structured(
                plain_codec, doc[part], cls
            )


_JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(child_records(), st.data())
def test_operations_with_junk_anywhere_are_refused_alike(
    record: ChildRecord, data: st.DataObject
) -> None:
    doc = _wire(fast_codec, data.draw(st.sampled_from(_operations(record))))
    places = _places(doc)
    path = data.draw(st.sampled_from(places))
    node = doc
    for step in path[:-1]:
        node = node[step]
    junk = data.draw(_JUNK | st.sampled_from([1, 0, True, "", "x", [], {}, "2015-02-30"]))
    if data.draw(st.booleans()):
        node[path[-1]] = junk
    elif isinstance(node, dict):
        node[data.draw(st.sampled_from(["notes", "op", "type", "contact", "phones"]))] = junk
    assert _decoded(fast_codec, doc, AnyOperation) == _decoded(plain_codec, doc, AnyOperation)
    assert _structured(fast_codec, doc, AnyOperation) == _structured(plain_codec, doc, AnyOperation)


@pytest.mark.parametrize(
    "value",
    [1, 0, 1.0, True, "true", None, [True]],
)
def test_a_bool_is_only_true_or_false(value: Any) -> None:
    """``1`` is not ``true`` and ``true`` is not ``1`` (the codec's strictness), on both paths."""
    population = Population(2, today=date(2026, 3, 1))
    record = next(r for r in population.children(50) if r.parents)
    wire = _wire(fast_codec, _supplied(record))
    first = wire["parents"][0]
    first["parental_responsibility" if first["type"] == "person" else "la_code"] = value
    fast, plain = (
        _decoded(fast_codec, wire, AnyOperation),
        _decoded(plain_codec, wire, AnyOperation),
    )
    assert fast == plain
    assert fast[0] == "refused" or value in (True, False)


def test_a_str_subclass_is_read_as_the_plain_path_reads_it() -> None:
    class Text(str):
        pass

    population = Population(3, today=date(2026, 3, 1))
    record = next(iter(population.children(1)))
    wire = _wire(fast_codec, _supplied(record))
    wire["name"]["given_name"] = Text(wire["name"]["given_name"])
    wire["gender"] = Text(wire["gender"])
    wire["op"] = Text(wire["op"])
    assert _decoded(fast_codec, wire, AnyOperation) == _decoded(plain_codec, wire, AnyOperation)


# --- The decoders' conditions: never looser than the checks ----------------------------

_good_names = st.sampled_from(["Amelia", "O'Neill", "St. John", "Zoë"])
_odd = st.sampled_from([None, 1, b"x", ["x"], ("x",)])
_dates = st.dates(date(2000, 1, 1), date(2026, 12, 31))

#: For each class with DECODE_CHECKS not covered by test_fast_paths: good and
#: bad values for its fields.
_CASES: dict[type, dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]]] = {
    LocalAuthorityCarer: {
        "la_code": (
            st.from_regex(r"[0-9]{3}", fullmatch=True),
            st.sampled_from(["80", "٨٠١"]) | _odd,
        ),
        "name": (st.just("Bath Council"), st.sampled_from(["", " x", "a|b"]) | _odd),
    },
    Practitioner: {
        "job_title": (
            st.none() | st.just("School nurse"),
            st.sampled_from(["", " x", "x" * 81]) | _odd,
        ),
    },
    Consent: {
        "given_on": (_dates, st.none() | st.just("2020-01-01")),
        "withdrawn_on": (st.none() | _dates, st.just("2020-01-01") | st.integers()),
    },
    SourceIdentifiers: {
        "upn": (st.none() | upns(), st.none()),
        "uln": (st.none(), st.none()),
        "nhs_number": (st.none() | nhs_numbers(), st.none()),
        "school_references": (st.just(()), st.just(()) | st.just([]) | st.just(None)),
    },
    ShieldReview: {
        "views_considered": (
            st.lists(st.sampled_from(ShieldReviewParty), min_size=1, max_size=2).map(tuple),
            st.just(()) | st.just([]) | st.none(),
        ),
    },
    ops.InvolvementChanged: {
        "lead_professional": (st.none() | st.booleans(), st.none()),
        "caf_completed": (st.none() | st.booleans(), st.none()),
    },
    PersonName: {
        "given_name": (_good_names, st.sampled_from(["", "A1"]) | _odd),
        "family_name": (_good_names, st.sampled_from(["", "A1"]) | _odd),
        "middle_names": (
            st.lists(_good_names, max_size=2).map(tuple),
            st.just(["Ann"]) | st.just(("A1",)),
        ),
    },
}


def _checks_of(cls: type) -> Checks:
    found = {**record_module.DECODE_CHECKS, **ops.DECODE_CHECKS}
    return found[cls]


def _bare(cls: type, values: dict[str, Any]) -> Any:
    obj: Any = object.__new__(cls)
    for field in attrs.fields(cls):
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        elif default is attrs.NOTHING:
            default = None
        object.__setattr__(obj, field.name, values.get(field.name, default))
    return obj


@pytest.mark.parametrize("cls", list(_CASES), ids=lambda c: c.__name__)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_decode_checks_never_pass_what_the_checks_refuse(cls: type, data: st.DataObject) -> None:
    fields = _CASES[cls]
    bad = set(data.draw(st.lists(st.sampled_from(sorted(fields)), max_size=2)))
    values = {name: data.draw(fields[name][name in bad], label=name) for name in sorted(fields)}
    obj = _bare(cls, values)
    quick = object_test(cls, _checks_of(cls))(obj)  # never raises
    try:
        obj.__attrs_post_init__()
        full = True
    except Exception:
        full = False
    if quick:
        assert full


def test_every_class_with_checks_has_decode_conditions_or_runs_its_checks() -> None:
    """A decoder skips ``__attrs_post_init__`` only by a class's own conditions."""
    found = {**record_module.DECODE_CHECKS, **ops.DECODE_CHECKS}
    for cls, checks in found.items():
        assert hasattr(cls, "__attrs_post_init__"), cls
        names = {f.name for f in attrs.fields(cls)}
        assert set(checks.fields()) <= names, cls


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(person_names, st.data())
def test_a_name_decodes_alike_with_and_without_its_memo(
    name: PersonName, data: st.DataObject
) -> None:
    """REC-1: the remembered names are a cache only: emptied, the same answer."""
    wire = _wire(fast_codec, name)
    if data.draw(st.booleans()):
        wire["given_name"] = data.draw(st.sampled_from(_NAMES))
    first = _decoded(fast_codec, wire, PersonName)
    record_module._good_name(wire["given_name"])  # remembered, if good
    assert _decoded(fast_codec, wire, PersonName) == first
    from contactpoint_sdk.models._decode_checks import remembered

    accepted = remembered(record_module._good_name)
    assert accepted is not None
    accepted.clear()
    assert (
        _decoded(fast_codec, wire, PersonName) == first == _decoded(plain_codec, wire, PersonName)
    )


def test_date_of_birth_limits_are_judged_alike() -> None:
    """REC-1, RET-2: a future or too-old date of birth on a record, both paths."""
    population = Population(6, today=TODAY)
    record = next(iter(population.children(1)))
    for born in (TODAY + timedelta(days=1), TODAY - timedelta(days=25 * 366), TODAY):
        wire = _wire(fast_codec, record)
        wire["date_of_birth"] = born.isoformat()
        wire.pop("involvements", None)
        wire.pop("died_on", None)
        assert _decoded(fast_codec, wire, ChildRecord) == _decoded(plain_codec, wire, ChildRecord)


def test_consent_giver_enum_is_read_by_value() -> None:
    assert fast_codec.converter.structure("child", ConsentGiver) is ConsentGiver.CHILD


def test_a_type_outside_a_union_fails_alike_when_encoded_as_the_union() -> None:
    population = Population(4, today=date(2026, 3, 1))
    record = next(iter(population.children(1)))
    operation = _supplied(record)

    @attrs.frozen(kw_only=True)
    class Odd(ops.SuppliedChild):
        pass

    odd = Odd(**attrs.asdict(operation, recurse=False))

    def outcome(codec: WireCodec) -> tuple[str, str]:
        try:
            codec.converter.unstructure(odd, unstructure_as=AnyOperation)
        except Exception as error:
            return (type(error).__name__, str(error))
        return ("value", "")  # pragma: no cover - a subclass has no tag

    assert outcome(fast_codec) == outcome(plain_codec)
    assert outcome(fast_codec)[0] == "KeyError"


@pytest.mark.parametrize("views", [["child", "parent_carer"], [], ["nope"], "child", [1]])
def test_shld_3_a_shield_review_decodes_alike(views: Any) -> None:
    """SHLD-3: a review records the views taken into account (none: refused)."""
    population = Population(12, today=TODAY)
    record = next(iter(population.children(1)))
    shield = record_module.Shield(
        requested_at=NOW,
        ground=ShieldGround.OTHER,
        requested_by="la-user-1",
        reviews=(
            ShieldReview(
                reviewed_on=date(2026, 3, 1),
                reviewed_by="la-user-2",
                views_considered=(ShieldReviewParty.CHILD,),
                maintained=True,
            ),
        ),
    )
    wire = _wire(fast_codec, attrs.evolve(record, shield=shield))
    assert _decoded(fast_codec, wire, ChildRecord) == ("value", attrs.evolve(record, shield=shield))
    wire["shield"]["reviews"][0]["views_considered"] = views
    assert _decoded(fast_codec, wire, ChildRecord) == _decoded(plain_codec, wire, ChildRecord)
    assert _structured(fast_codec, wire, ChildRecord) == _structured(plain_codec, wire, ChildRecord)
