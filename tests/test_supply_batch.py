"""Batches: splitting, sequence numbers, client-side consent checks, per-operation decoding."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactpoint_sdk.clock import FixedClock
from contactpoint_sdk.errors import PolicyRefusal, ValidationError
from contactpoint_sdk.models import (
    ChildRecord,
    Involvement,
    Organisation,
    OrganisationKind,
    ServiceKind,
    SourceIdentifiers,
    Upn,
    WireCodec,
)
from contactpoint_sdk.models.operations import (
    MAX_OPERATIONS_PER_BATCH,
    ChildDied,
    ChildKey,
    InvolvementChanged,
    InvolvementStarted,
    SuppliedChild,
    SupplyBatch,
)
from contactpoint_sdk.supply.batch import BatchBuilder, MemorySequence, decode_batch, encode_batch
from tests.strategies import TODAY, child_records

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
KEY = ChildKey(
    identifiers=SourceIdentifiers(upn=Upn("B801200005001")), date_of_birth=date(2015, 3, 1)
)
codec = WireCodec(clock=FixedClock(NOW))


def _died(n: int) -> ChildDied:
    return ChildDied(ref=f"row-{n}", child=KEY, died_on=date(2026, 1, 1))


def _builder(max_operations: int = MAX_OPERATIONS_PER_BATCH) -> BatchBuilder:
    return BatchBuilder(
        supplier_id="sup-1",
        agreement_id="agr-1",
        clock=FixedClock(NOW),
        max_operations=max_operations,
    )


def test_sup_5_large_input_split_into_batches_with_rising_sequence() -> None:
    batches = list(_builder().build(_died(n) for n in range(MAX_OPERATIONS_PER_BATCH * 2 + 1)))
    assert [len(b.operations) for b in batches] == [MAX_OPERATIONS_PER_BATCH] * 2 + [1]
    assert [b.sequence for b in batches] == [1, 2, 3]
    assert len({b.batch_id for b in batches}) == 3
    assert [op.ref for b in batches for op in b.operations] == [
        f"row-{n}" for n in range(MAX_OPERATIONS_PER_BATCH * 2 + 1)
    ]


def test_sup_5_sequence_continues_from_source() -> None:
    builder = BatchBuilder(
        supplier_id="sup-1",
        agreement_id="agr-1",
        clock=FixedClock(NOW),
        sequence=MemorySequence(start=41),
        max_operations=2,
    )
    assert [b.sequence for b in builder.build(_died(n) for n in range(5))] == [41, 42, 43]


def _sensitive() -> Involvement:
    return Involvement(
        reference="camhs-1",
        service=ServiceKind.MENTAL_HEALTH_CAMHS_TIER_2,
        organisation=Organisation(name="Clinic", kind=OrganisationKind.NHS_TRUST),
        started_on=date(2026, 1, 5),
    )


def test_sens_2_sensitive_involvement_without_consent_refused_before_batching() -> None:
    op = InvolvementStarted(ref="r1", child=KEY, involvement=_sensitive())
    with pytest.raises(PolicyRefusal) as caught:
        list(_builder().build([_died(0), op]))
    assert caught.value.rule == "SENS-2"


def test_batch_refuses_duplicate_refs_and_bad_sizes() -> None:
    with pytest.raises(ValidationError, match="share a ref"):
        SupplyBatch(
            supplier_id="s",
            agreement_id="a",
            batch_id="b",
            sequence=1,
            created_at=NOW,
            operations=(_died(1), _died(1)),
        )
    with pytest.raises(ValidationError, match="1 to 500"):
        SupplyBatch(
            supplier_id="s",
            agreement_id="a",
            batch_id="b",
            sequence=1,
            created_at=NOW,
            operations=(),
        )
    with pytest.raises(ValueError, match="max_operations"):
        _builder(max_operations=MAX_OPERATIONS_PER_BATCH + 1)


def test_involvement_change_must_change_something() -> None:
    with pytest.raises(ValidationError) as caught:
        InvolvementChanged(ref="r", child=KEY, involvement_reference="i")
    assert caught.value.code == "change_empty"


def test_batch_payload_round_trips() -> None:
    (batch,) = _builder().build([_died(1), _died(2)])
    decoded = decode_batch(encode_batch(batch, codec), codec)
    assert decoded.header.batch_id == batch.batch_id
    assert tuple(d.operation for d in decoded.operations) == batch.operations


def test_rec_6_one_bad_operation_rejected_alone_with_its_ref_and_path() -> None:
    (batch,) = _builder().build([_died(1), _died(2), _died(3)])
    wire = json.loads(encode_batch(batch, codec))
    wire["operations"][1]["child"]["notes"] = "x"
    wire["operations"][2]["op"] = "child_teleported"
    decoded = decode_batch(json.dumps(wire).encode(), codec)
    first, second, third = decoded.operations
    assert first.operation == _died(1)
    assert second.operation is None
    assert second.ref == "row-2"
    assert [(p.path, p.code, p.rule) for p in second.problems] == [
        ("operations[1].child.notes", "unknown_field", "REC-6")
    ]
    assert third.operation is None
    assert third.problems[0].path == "operations[2].op"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"\xff\xfe", "payload_not_json"),
        (b"[]", "wrong_type"),
        (b'{"supplier_id": "s"}', "validation_failed"),
    ],
)
def test_sup_5_malformed_batch_refused_whole(payload: bytes, code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        decode_batch(payload, codec)
    assert caught.value.code == code


def test_rec_6_unknown_batch_field_refused_whole() -> None:
    (batch,) = _builder().build([_died(1)])
    wire = json.loads(encode_batch(batch, codec))
    wire["comment"] = "hello"
    with pytest.raises(ValidationError) as caught:
        decode_batch(json.dumps(wire).encode(), codec)
    assert caught.value.problems[0].path == "comment"


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(child_records(), min_size=1, max_size=4))
def test_supplied_children_round_trip_through_the_payload(records: list[ChildRecord]) -> None:
    ops = [
        SuppliedChild(
            ref=f"pupil-{i}",
            name=r.name,
            gender=r.gender,
            date_of_birth=r.date_of_birth,
            address=r.address,
            identifiers=r.identifiers,
            parents=r.parents,
            involvements=tuple(i for i in r.involvements if not i.is_sensitive),
        )
        for i, r in enumerate(records)
    ]
    (batch,) = _builder().build(ops)
    decoded = decode_batch(encode_batch(batch, codec), codec, today=TODAY)
    assert tuple(d.operation for d in decoded.operations) == tuple(ops)
