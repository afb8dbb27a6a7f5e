"""The fast paths change nothing: each agrees with the checked path it short-cuts.

Identifiers and contact values: every converter is ``fast or checked``; for
arbitrary text (and for near misses of valid values) the converter gives the
same value or the same refusal as the checked path alone, and the fast path
is really taken for canonical values.

Record classes: each ``__attrs_post_init__`` asks a fast test first; the test
never says "fine" when the full checks would find a problem, and never raises.

The codec: a codec with its fast paths on encodes and decodes exactly as one
with them off (the plain cattrs hooks), for valid records and for junk.
"""

from __future__ import annotations

import contextlib
import copy
import enum
import json
import random
from collections.abc import Callable
from datetime import date
from typing import Any, ClassVar
from unittest import mock

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactpoint_sdk.errors import ValidationError
from contactpoint_sdk.models import (
    ChildRecord,
    ContactRetention,
    DirectoryId,
    EmailAddress,
    NhsNumber,
    OrganisationKind,
    PhoneNumber,
    Postcode,
    ServiceKind,
    ServiceTier,
    ShieldGround,
    WireCodec,
)
from contactpoint_sdk.models import contact as contact_module
from contactpoint_sdk.models import enums as enums_module
from contactpoint_sdk.models import identifiers as id_module
from contactpoint_sdk.models import record as record_module
from contactpoint_sdk.models.enums import SensitiveCategory
from contactpoint_sdk.models.operations import OPERATION_TAGS
from contactpoint_sdk.synthetic import Population
from tests.strategies import NOW, TODAY, child_records, nhs_numbers, postcodes, ulns, upns, viewers

# --- Identifiers and contact values ------------------------------------------------


def _outcome(convert: Callable[[Any], str], value: Any) -> tuple[Any, ...]:
    """What a converter does with ``value``: its result, or its refusal in full."""
    try:
        return ("value", convert(value))
    except ValidationError as error:
        return ("refused", [(p.path, p.message, p.code, p.rule) for p in error.problems])
    except Exception as error:  # anything else must match too
        return ("raised", type(error), str(error))


_ODD = " -/.\t\u00a0éß²٣０Z"  # spaces, separators, non-ASCII letters and digits


def _near(valid: st.SearchStrategy[str], alphabet: str) -> st.SearchStrategy[str]:
    """Valid text, and text one slip away from valid: a character replaced,
    inserted or dropped, two swapped, the case changed, spaces around it."""

    @st.composite
    def mutated(draw: st.DrawFn) -> str:
        text = draw(valid)
        kind = draw(st.sampled_from(["same", "replace", "insert", "drop", "swap", "case", "pad"]))
        if not text or kind == "same":
            return text
        i = draw(st.integers(0, len(text) - 1))
        char = draw(st.sampled_from(alphabet + _ODD))
        if kind == "replace":
            return text[:i] + char + text[i + 1 :]
        if kind == "insert":
            return text[:i] + char + text[i:]
        if kind == "drop":
            return text[:i] + text[i + 1 :]
        if kind == "swap" and i + 1 < len(text):
            return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        if kind == "case":
            return text.lower() if draw(st.booleans()) else text.swapcase()
        return (
            draw(st.sampled_from([" ", "\t", "", "  "])) + text + draw(st.sampled_from([" ", ""]))
        )

    return mutated()


def _any_text(alphabet: str, max_size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet + _ODD, max_size=max_size) | st.text(max_size=max_size)


_DIGITS = "0123456789"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@st.composite
def _directory_ids(draw: st.DrawFn) -> str:
    ident = DirectoryId.from_int(draw(st.integers(0, 31**11 - 1)))
    return ident.value if draw(st.booleans()) else ident.compact


@st.composite
def _phones(draw: st.DrawFn) -> str:
    body = draw(st.from_regex(r"[1-9][0-9]{8,9}", fullmatch=True))
    return draw(st.sampled_from([f"+44{body}", f"0{body}", f"+44 (0){body}"]))


_emails = st.from_regex(
    r"[A-Za-z0-9._%+-]{1,12}@[A-Za-z0-9-]{1,8}(\.[A-Za-z]{2,4}){1,2}", fullmatch=True
)

#: (converter, checked path, fast path, valid values, alphabet, longest text)
CASES: dict[str, tuple[Any, Any, Any, st.SearchStrategy[str], str, int]] = {
    "Upn": (
        id_module._to_upn,
        id_module._checked_upn,
        id_module._fast_upn,
        upns().map(str),
        _DIGITS + id_module.UPN_CHECK_ALPHABET,
        16,
    ),
    "Uln": (
        id_module._to_uln,
        id_module._checked_uln,
        id_module._fast_uln,
        ulns().map(str),
        _DIGITS,
        13,
    ),
    "NhsNumber": (
        id_module._to_nhs,
        id_module._checked_nhs,
        id_module._fast_nhs,
        nhs_numbers().map(str),
        _DIGITS,
        14,
    ),
    "DirectoryId": (
        id_module._to_directory_id,
        id_module._checked_directory_id,
        id_module._fast_directory_id,
        _directory_ids(),
        id_module.DIRECTORY_ID_ALPHABET + "ilouz-",
        16,
    ),
    "Postcode": (
        contact_module._to_postcode,
        contact_module._checked_postcode,
        contact_module._fast_postcode,
        postcodes().map(str) | st.just("GIR 0AA") | st.just("ZZ99 3VZ"),
        _DIGITS + _UPPER,
        10,
    ),
    "PhoneNumber": (
        contact_module._to_phone,
        contact_module._checked_phone,
        contact_module._fast_phone,
        _phones(),
        _DIGITS + "+()",
        18,
    ),
    "EmailAddress": (
        contact_module._to_email,
        contact_module._checked_email,
        contact_module._fast_email,
        _emails,
        "ab.@-Z",
        24,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_and_checked_paths_accept_and_refuse_the_same_text(
    name: str, data: st.DataObject
) -> None:
    convert, checked, fast, valid, alphabet, size = CASES[name]
    text = data.draw(_near(valid, alphabet) | _any_text(alphabet, size))
    assert _outcome(convert, text) == _outcome(checked, text)
    quick = fast(text)
    if quick is not None:  # the fast path never accepts what the checked one refuses
        assert quick == checked(text)


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=100)
@given(data=st.data())
def test_fast_path_is_taken_for_canonical_values(name: str, data: st.DataObject) -> None:
    _, checked, fast, valid, _, _ = CASES[name]
    text = data.draw(valid)
    with contextlib.suppress(ValidationError):
        canonical = checked(text)
        if name != "Postcode" or not canonical.startswith("ZZ99"):
            assert fast(canonical) == canonical


@pytest.mark.parametrize("value", [None, 7, 7.0, b"B801200005001", ["x"]])
@pytest.mark.parametrize("name", sorted(CASES))
def test_fast_and_checked_paths_agree_on_non_text(name: str, value: Any) -> None:
    convert, checked, fast, *_ = CASES[name]
    assert fast(value) is None
    assert _outcome(convert, value) == _outcome(checked, value)


def test_directory_id_with_any_symbol_replaced_agrees() -> None:
    """Every position of many identifiers replaced by every kind of symbol: a
    stray hyphen or space, an alias (I, L, O), a lower-case or refused letter."""
    rng = random.Random(1)
    for _ in range(300):
        ident = DirectoryId.new(rng)
        for text in (ident.value, ident.compact):
            for i in range(len(text)):
                for char in "-  IiLlOoUuZz0a\u0131":
                    mutated = text[:i] + char + text[i + 1 :]
                    assert _outcome(id_module._to_directory_id, mutated) == _outcome(
                        id_module._checked_directory_id, mutated
                    )


def test_synthetic_identifiers_all_take_the_fast_path() -> None:
    population = Population(5, today=date(2026, 3, 1))
    for record in population.children(300):
        ids = record.identifiers
        assert id_module._fast_directory_id(record.directory_id.compact) == str(record.directory_id)
        for value, fast in (
            (ids.upn, id_module._fast_upn),
            (ids.uln, id_module._fast_uln),
            (ids.nhs_number, id_module._fast_nhs),
        ):
            if value is not None:
                assert fast(str(value)) == str(value)


# --- Service kinds -----------------------------------------------------------------


@pytest.mark.parametrize("kind", list(ServiceKind))
def test_service_kind_tables_follow_the_sens_1_naming(kind: ServiceKind) -> None:
    head, dot, _ = kind.value.partition(".")
    category = SensitiveCategory(head) if dot else None
    if category is not None:
        tier = ServiceTier.SENSITIVE
    elif kind in enums_module._UNIVERSAL:
        tier = ServiceTier.UNIVERSAL
    else:
        tier = ServiceTier.ADDITIONAL
    assert kind.category is category
    assert kind.tier is tier
    assert kind.is_sensitive is (tier is ServiceTier.SENSITIVE)
    assert kind.is_specialist_or_targeted is (tier is not ServiceTier.UNIVERSAL)


# --- Record classes ----------------------------------------------------------------

_good_names = st.sampled_from(["Amelia", "O'Neill", "Smith-Jones", "St. John", "Zoë", "Ngọc"])
_bad_texts = (
    st.text(max_size=8)
    | st.text(alphabet="ab -.'1_&", max_size=130)
    | st.sampled_from(["", " ", "Amelia ", " Amelia", "x" * 61, "x" * 81, "x" * 101, "x" * 121])
    | st.sampled_from(["Ann\n", "Ann1", "A_b", "-Ann", "Ann-", "Ann..", "1 High St  "])
)
_odd = st.none() | st.integers() | st.just(["Amelia"]) | st.just(("Amelia",)) | st.just(b"x")
_bad_tuples: st.SearchStrategy[Any] = (
    st.lists(_good_names | _bad_texts | _odd, max_size=3).map(tuple)
    | _odd
    | st.just([])
    | st.just(["Amelia"])
    | st.just("ab")
)
_dates = st.dates(date(2000, 1, 1), date(2030, 1, 1))
_lines = st.sampled_from(["1 High Street", "Flat 2, Kings Court", "St Mary's (East) #3"])


def _names_tuple(size: int) -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(_good_names, max_size=size).map(tuple)


#: For each class: its fast test, and for each field a good and a bad strategy.
Fields = dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]]
RECORD_CASES: dict[str, tuple[str, Fields]] = {
    "PersonName": (
        "_person_name_ok",
        {
            "given_name": (_good_names, _bad_texts | _odd),
            "family_name": (_good_names, _bad_texts | _odd),
            "middle_names": (_names_tuple(2), _bad_tuples),
            "preferred_given_name": (st.none() | _good_names, _bad_texts | _odd),
            "preferred_family_name": (st.none() | _good_names, _bad_texts | _odd),
            "former_family_names": (_names_tuple(2), _bad_tuples),
        },
    ),
    "Address": (
        "_address_ok",
        {
            "lines": (
                st.lists(_lines, min_size=1, max_size=5).map(tuple),
                _bad_tuples | st.lists(_lines, min_size=6, max_size=7).map(tuple),
            ),
            "town": (st.none() | st.just("Bath"), _bad_texts | _odd),
            "county": (st.none() | st.just("Somerset"), _bad_texts | _odd),
            "postcode": (st.none() | postcodes(), st.just("BS1 4DJ")),
            "uprn": (
                st.none() | st.from_regex(r"[0-9]{1,12}", fullmatch=True),
                st.from_regex(r"[0-9]{13,14}", fullmatch=True)
                | st.sampled_from(["", "²", "12a", " 12", "٣"])
                | _odd,
            ),
        },
    ),
    "Organisation": (
        "_organisation_ok",
        {
            "name": (st.just("St Mary's C of E (VA) Primary School, Bath"), _bad_texts | _odd),
            "kind": (st.just(OrganisationKind.SCHOOL), st.none()),
            "urn": (
                st.none() | st.from_regex(r"[0-9]{6}", fullmatch=True),
                st.from_regex(r"[0-9٣]{5,7}", fullmatch=True) | _odd,
            ),
            "laestab": (
                st.none() | st.from_regex(r"[0-9]{7}", fullmatch=True),
                st.from_regex(r"[0-9]{6,8}", fullmatch=True) | _odd,
            ),
            "ods_code": (
                st.none() | st.from_regex(r"[A-Z0-9]{3,10}", fullmatch=True),
                st.from_regex(r"[A-Za-z0-9]{1,11}", fullmatch=True) | _odd,
            ),
        },
    ),
    "Involvement": (
        "_involvement_ok",
        {
            "reference": (
                st.from_regex(r"[A-Za-z0-9._:/-]{1,64}", fullmatch=True),
                st.from_regex(r"[A-Za-z0-9._:/ -]{0,66}", fullmatch=True) | _bad_texts | _odd,
            ),
            "service": (st.sampled_from(ServiceKind), st.just("gp_practice") | st.none()),
            "organisation": (st.just(None), st.just(None)),
            "started_on": (_dates, st.none() | st.just("2020-01-01")),
            "ended_on": (st.none() | _dates, st.just("2020-01-01") | st.integers()),
            "contact_retention": (
                st.sampled_from(ContactRetention),
                st.sampled_from(ContactRetention),
            ),
            "consent": (st.none(), st.just(object())),
            "consent_override": (st.none(), st.just(object())),
        },
    ),
    "ChildRecord": (
        "_child_record_ok",
        {
            "date_of_birth": (_dates, st.none() | st.just("2015-01-01")),
            "died_on": (st.none() | _dates, st.just("2015-01-01")),
            "local_authority": (
                st.none() | st.from_regex(r"[0-9]{3}", fullmatch=True),
                st.from_regex(r"[0-9٣]{2,4}", fullmatch=True) | _odd,
            ),
            "involvements": (
                st.lists(
                    st.builds(
                        lambda ref, service, started: record_module.Involvement(
                            reference=ref,
                            service=service,
                            organisation=None,  # type: ignore[arg-type]
                            started_on=started,
                        ),
                        st.sampled_from(["a", "b", "c", "d"]),
                        st.sampled_from([ServiceKind.MIDWIFE, ServiceKind.GP_PRACTICE]),
                        _dates,
                    ),
                    max_size=4,
                ).map(tuple),
                st.just([]) | st.just((None,)) | st.just("ab"),
            ),
        },
    ),
}


@st.composite
def _field_values(draw: st.DrawFn, fields: Fields) -> dict[str, Any]:
    """Good values for every field but at most one or two, which get bad ones."""
    names = sorted(fields)
    bad = set(draw(st.lists(st.sampled_from(names), max_size=2)))
    return {name: draw(fields[name][name in bad], label=name) for name in names}


def _bare(cls: type, values: dict[str, Any]) -> Any:
    """An instance with these field values, made without running any check."""
    obj: Any = object.__new__(cls)
    for field in attrs.fields(cls):
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        object.__setattr__(obj, field.name, values.get(field.name, default))
    return obj


@pytest.mark.parametrize("name", sorted(RECORD_CASES))
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_test_never_passes_what_the_full_checks_refuse(name: str, data: st.DataObject) -> None:
    test_name, fields = RECORD_CASES[name]
    cls = getattr(record_module, name)
    obj = _bare(cls, data.draw(_field_values(fields)))
    fast = getattr(record_module, test_name)
    quick = fast(obj)  # never raises
    with mock.patch.object(record_module, test_name, return_value=False):
        full = _outcome(lambda o: o.__attrs_post_init__() or "fine", obj)
    if quick:
        assert full == ("value", "fine")
    # and construction with the fast test on does what the full checks alone do
    assert _outcome(lambda o: o.__attrs_post_init__() or "fine", obj) == full


def test_every_synthetic_object_takes_the_fast_path() -> None:
    population = Population(9, today=date(2026, 3, 1))
    tests = {cls: getattr(record_module, t) for cls, (t, _) in _record_classes().items()}
    seen = 0
    for record in population.children(300):
        for obj in _objects(record):
            test = tests.get(type(obj))
            if test is not None:
                assert test(obj), obj
                seen += 1
    assert seen > 1000


def _record_classes() -> dict[type, tuple[str, Any]]:
    return {getattr(record_module, name): case for name, case in RECORD_CASES.items()}


def _objects(obj: Any) -> list[Any]:
    found: list[Any] = []
    if attrs.has(type(obj)):
        found.append(obj)
        for field in attrs.fields(type(obj)):
            found.extend(_objects(getattr(obj, field.name)))
    elif isinstance(obj, tuple):
        for item in obj:
            found.extend(_objects(item))
    return found


# --- The codec ---------------------------------------------------------------------


class _PlainCodec(WireCodec):
    """The codec with its fast paths off: cattrs' own generated functions and
    the checked hooks only."""

    _fast_paths: ClassVar[bool] = False


fast_codec = WireCodec()
plain_codec = _PlainCodec()


def _decoded(codec: WireCodec, data: Any, cls: Any) -> tuple[Any, ...]:
    try:
        return ("value", codec.decode(data, cls, today=TODAY))
    except ValidationError as error:
        return ("refused", [(p.path, p.message, p.code, p.rule) for p in error.problems])


def test_fast_paths_are_on_and_plain_ones_off() -> None:
    assert fast_codec._fast is not None
    assert plain_codec._fast is None


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(child_records())
def test_fast_and_plain_codecs_encode_and_decode_alike(record: ChildRecord) -> None:
    wire = fast_codec.encode(record)
    assert wire == plain_codec.encode(record)  # lists stay lists
    assert json.dumps(wire) == json.dumps(plain_codec.encode(record))  # keys in the same order
    assert _decoded(fast_codec, wire, ChildRecord) == _decoded(plain_codec, wire, ChildRecord)


def test_fast_and_plain_codecs_agree_on_synthetic_records_and_operations() -> None:
    from contactpoint_sdk.models.operations import SuppliedChild

    population = Population(11, today=date(2026, 3, 1), sensitive_rate=20.0)
    for i, record in enumerate(population.children(400)):
        wire = fast_codec.encode(record)
        assert json.dumps(wire) == json.dumps(plain_codec.encode(record))
        assert fast_codec.decode(wire, ChildRecord, today=TODAY) == record
        op = SuppliedChild(
            ref=f"r{i}",
            name=record.name,
            gender=record.gender,
            date_of_birth=record.date_of_birth,
            address=record.address,
            identifiers=record.identifiers,
            parents=record.parents,
            involvements=record.involvements,
        )
        op_wire = fast_codec.encode(op)
        assert json.dumps(op_wire) == json.dumps(plain_codec.encode(op))
        assert fast_codec.decode_operation(op_wire, today=TODAY) == op
    assert set(OPERATION_TAGS.values()) >= {"child_supplied"}


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(child_records(), st.data())
def test_fast_and_plain_codecs_refuse_junk_alike(record: ChildRecord, data: st.DataObject) -> None:
    """A valid record with junk grafted in somewhere: the same problems, or the
    same record, from both codecs."""
    wire: Any = json.loads(json.dumps(fast_codec.encode(record)))
    node, parent, key = wire, None, None
    for _ in range(data.draw(st.integers(0, 5))):
        if isinstance(node, dict) and node:
            key = data.draw(st.sampled_from(sorted(node)))
        elif isinstance(node, list) and node:
            key = data.draw(st.integers(0, len(node) - 1))
        else:
            break
        parent, node = node, node[key]
    junk = data.draw(
        _json_values
        | st.sampled_from(["", "x", "2015-02-30", "B801200005001", "person", "gp_practice"])
    )
    if parent is None:
        wire = junk
    elif data.draw(st.booleans()) and isinstance(parent, dict):
        parent[data.draw(st.sampled_from(["notes", "type", "lines", "email"]))] = junk
    else:
        parent[key] = copy.deepcopy(junk)
    assert _decoded(fast_codec, wire, ChildRecord) == _decoded(plain_codec, wire, ChildRecord)


_WRONG = [None, True, False, 0, 1, 1.5, "", "x", "2015-03-01", [], ["x"], {}, {"a": 1}]


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every value in a JSON document, containers included."""
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_leaves(value, (*path, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_leaves(value, (*path, i)))
    return found


def test_every_value_of_a_record_replaced_by_each_wrong_type_decodes_alike() -> None:
    """Each value of rich records (sensitive services, shields, carers of each
    kind) replaced in turn by each JSON type: the same outcome from both codecs."""
    population = Population(21, today=date(2026, 3, 1), sensitive_rate=30.0)
    picked = [r for r in population.children(400) if r.shield or len(r.involvements) > 3][:4]
    picked += [
        r
        for r in population.children(2000)
        if any(p.__class__.__name__ == "LocalAuthorityCarer" for p in r.parents)
    ][:1]
    assert picked
    for record in picked:
        wire = json.loads(json.dumps(fast_codec.encode(record)))
        for path in _leaves(wire)[1:]:
            for wrong in _WRONG:
                doc = copy.deepcopy(wire)
                node = doc
                for step in path[:-1]:
                    node = node[step]
                node[path[-1]] = copy.deepcopy(wrong)
                assert _decoded(fast_codec, doc, ChildRecord) == _decoded(
                    plain_codec, doc, ChildRecord
                ), (path, wrong)


def _all_operations(record: ChildRecord) -> list[Any]:
    """One operation of every kind, about ``record``'s child."""
    from contactpoint_sdk.models import operations as ops

    key = ops.ChildKey(identifiers=record.identifiers, date_of_birth=record.date_of_birth)
    involvement = record.involvements[0]
    practitioner = next(i.practitioner for i in record.involvements if i.practitioner)
    organisation = involvement.organisation
    day = date(2026, 2, 1)
    return [
        ops.SuppliedChild(
            ref="r0",
            name=record.name,
            gender=record.gender,
            date_of_birth=record.date_of_birth,
            address=record.address,
            identifiers=record.identifiers,
            parents=record.parents,
            involvements=record.involvements,
        ),
        ops.ChildLeftSetting(ref="r1", child=key, left_on=day),
        ops.InvolvementStarted(ref="r2", child=key, involvement=involvement),
        ops.InvolvementChanged(
            ref="r3", child=key, involvement_reference="x", lead_professional=True
        ),
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
        ops.CommonAssessmentCompleted(
            ref="r9",
            child=key,
            involvement_reference="x",
            practitioner=practitioner,
            organisation=organisation,
            completed_on=day,
        ),
        ops.SocialCareReferral(
            ref="r10",
            child=key,
            involvement_reference="x",
            practitioner=practitioner,
            organisation=organisation,
            started_on=day,
            lead_professional=True,
        ),
    ]


def test_every_value_of_a_batch_replaced_by_each_wrong_type_decodes_alike() -> None:
    """A batch with one operation of every kind: each of its values replaced in
    turn by each JSON type, decoded as a whole batch and operation by operation."""
    from contactpoint_sdk.models.operations import AnyOperation, SupplyBatch

    population = Population(4, today=date(2026, 3, 1))
    record = next(
        r
        for r in population.children(500)
        if len(r.involvements) > 1 and any(i.practitioner for i in r.involvements)
    )
    operations = _all_operations(record)
    assert {type(op) for op in operations} == set(OPERATION_TAGS)
    batch = SupplyBatch(
        supplier_id="s-1",
        agreement_id="a-1",
        batch_id="b-1",
        sequence=7,
        created_at=NOW,
        operations=tuple(operations),
    )
    wire = json.loads(json.dumps(fast_codec.encode(batch)))
    assert json.dumps(wire) == json.dumps(plain_codec.encode(batch))
    assert fast_codec.decode(wire, SupplyBatch) == batch
    for path in _leaves(wire)[1:]:
        for wrong in _WRONG:
            doc = copy.deepcopy(wire)
            node = doc
            for step in path[:-1]:
                node = node[step]
            node[path[-1]] = copy.deepcopy(wrong)
            assert _decoded(fast_codec, doc, SupplyBatch) == _decoded(
                plain_codec, doc, SupplyBatch
            ), (path, wrong)
            if path[0] == "operations" and len(path) > 1:
                op = doc["operations"][path[1]]
                assert _decoded(fast_codec, op, AnyOperation) == _decoded(
                    plain_codec, op, AnyOperation
                ), (path, wrong)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(child_records(), viewers)
def test_fast_and_plain_codecs_agree_on_views(record: ChildRecord, viewer: Any) -> None:
    from contactpoint_sdk.errors import ContactPointError
    from contactpoint_sdk.policy.redaction import view

    try:
        seen = view(record, viewer, NOW)
    except ContactPointError:
        return
    wire = fast_codec.encode(seen)
    assert json.dumps(wire) == json.dumps(plain_codec.encode(seen))
    assert fast_codec.decode_view(wire) == plain_codec.decode_view(wire) == seen


_TRICKY = {
    "PhoneNumber": [
        "+440163296012",
        "+4401632960123",
        "+441632960123",
        "+44163296012",
        "+4416329601234",
        "+44 1632 960123",
        "00441632960123",
        "+44000000000",
        "+44１632960123",
        "+44-1632960123",
    ],
    "Postcode": [
        "ZZ99 3VZ",
        "ZZ99 3WZ",
        "zz99 1aa",
        "BFPO 61",
        "GIR 0AA",
        "gir 0aa",
        "SW1A 1AA ",
        "SW1A  1AA",
        "SW1A1AA",
    ],
    "EmailAddress": [
        "a@b.c",
        "a@@b.c",
        "a@b..c",
        "@b.c",
        "a@b.",
        "A@B.CO",
        " a@b.co",
        "a\x7f@b.co",
    ],
    "Upn": ["B801200005001", "b801200005001", "B80120000500A", "B80120000500I", " B801200005001"],
    "Uln": ["1000000043", "9999999999", "0000000000", "100000004٣"],
    "NhsNumber": ["9434765919", "943 476 5919", "943-476-5919", "9434765910", "٩434765919"],
    "DirectoryId": ["0000-0000-0000", "0000-0000-000", "0000--000-0000", "oooo-oooo-oooo"],
}


@pytest.mark.parametrize(
    ("name", "text"), [(name, text) for name, texts in _TRICKY.items() for text in texts]
)
def test_tricky_text_agrees(name: str, text: str) -> None:
    convert, checked, *_ = CASES[name]
    assert _outcome(convert, text) == _outcome(checked, text)


@pytest.mark.parametrize(
    ("tp", "value"),
    [
        (str, "x"),
        (str, 1),
        (bool, True),
        (bool, 1),
        (int, 3),
        (int, True),
        (date, "2015-03-01"),
        (date, "2015-02-30"),
        (date, 20150301),
        (NhsNumber, "9434765919"),
        (PhoneNumber, "+441632960123"),
        (EmailAddress, "a@b.co"),
        (Postcode, "sw1a 1aa"),
        (ServiceKind, "gp_practice"),
        (ServiceKind, "nope"),
        (tuple[str, ...], ["a", "b"]),
        (tuple[str, ...], ["a", 1]),
        (tuple[str, ...], "ab"),
        (str | None, None),
        (date | None, "2015-03-01"),
    ],
)
def test_fast_and_plain_hooks_agree(tp: Any, value: Any) -> None:
    def run(codec: WireCodec) -> tuple[Any, ...]:
        try:
            return ("value", codec.converter.structure(value, tp))
        except Exception as error:  # the converter's own errors, before the codec reports them
            return ("raised", type(error))

    assert run(fast_codec) == run(plain_codec)


def test_enum_hooks_cover_every_enum() -> None:
    kinds = [
        obj
        for obj in vars(enums_module).values()
        if isinstance(obj, type)
        and issubclass(obj, enum.Enum)
        and obj.__module__ == enums_module.__name__
    ]
    for kind in kinds:
        for member in kind:
            assert fast_codec.converter.structure(member.value, kind) is member
            assert fast_codec.converter.unstructure(member) == plain_codec.converter.unstructure(
                member
            )


def test_random_records_round_trip_through_both_codecs() -> None:
    rng = random.Random(3)
    population = Population(rng.randrange(1000), today=date(2026, 3, 1))
    for record in population.children(200):
        text = json.dumps(fast_codec.encode(record))
        assert plain_codec.decode(json.loads(text), ChildRecord, today=TODAY) == record
