"""The JSON text behind the codec (orjson) gives exactly what the standard library gives.

:func:`json_bytes` must write the bytes ``json.dumps(..., separators=(",", ":"),
ensure_ascii=False).encode()`` writes, and :func:`json_value` must read the
value (or raise the error) ``json.loads(payload.decode("utf-8"))`` gives, so
that the wire format and every refusal stay as they were (issue 10).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactpoint_sdk.clock import FixedClock
from contactpoint_sdk.models import ChildRecord, WireCodec
from contactpoint_sdk.models.codec import json_bytes, json_value
from contactpoint_sdk.models.operations import SuppliedChild, SupplyBatch
from contactpoint_sdk.supply.batch import decode_batch, encode_batch
from contactpoint_sdk.synthetic import Population
from tests.strategies import TODAY, child_records

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _stdlib_bytes(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _stdlib_value(payload: bytes) -> Any:
    return json.loads(payload.decode("utf-8"))


def _outcome(call: Any, arg: Any) -> tuple[str, Any]:
    try:
        return ("value", call(arg))
    except Exception as error:
        return ("error", type(error))


def _supplied(i: int, record: ChildRecord) -> SuppliedChild:
    return SuppliedChild(
        ref=f"row-{i}",
        name=record.name,
        gender=record.gender,
        date_of_birth=record.date_of_birth,
        address=record.address,
        identifiers=record.identifiers,
        parents=record.parents,
        involvements=record.involvements,
    )


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(child_records())
def test_records_encode_to_the_same_bytes(record: ChildRecord) -> None:
    data = WireCodec().encode(record)
    assert json_bytes(data) == _stdlib_bytes(data)


def test_synthetic_batches_encode_to_the_same_bytes() -> None:
    codec = WireCodec(clock=FixedClock(NOW))
    records = list(Population(7, today=date(2026, 3, 1)).children(600))
    for start in (0, 500):
        batch = SupplyBatch(
            supplier_id="s",
            agreement_id="a",
            batch_id="b" * 32,
            sequence=1 + start,
            created_at=NOW,
            operations=tuple(
                _supplied(start + i, r) for i, r in enumerate(records[start : start + 500])
            ),
        )
        data = codec.encode(batch)
        payload = encode_batch(batch, codec)
        assert payload == _stdlib_bytes(data)
        assert json_value(payload) == data
        decoded = decode_batch(payload, codec, today=date(2026, 3, 1))
        assert [d.operation for d in decoded.operations] == list(batch.operations)


JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text()
    | st.text(alphabet=st.characters(max_codepoint=0x3F)).map(lambda s: s + "\x7f\u2028")
)
JSON_DOCUMENTS = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400)
@given(JSON_DOCUMENTS)
def test_any_float_free_document_gives_the_same_bytes_or_error(data: Any) -> None:
    # text() draws lone surrogates, and integers reach past 64 bits: both fall back
    assert _outcome(json_bytes, data) == _outcome(_stdlib_bytes, data)


@pytest.mark.parametrize(
    "data",
    [
        {1: "non-string key"},
        {"when": datetime(2026, 1, 1, tzinfo=UTC)},
        {"day": date(2026, 1, 1)},
        {"set": {1, 2}},
        type("S", (str,), {})("a str subclass"),
        "\ud800",
        2**64,
        -(2**63) - 1,
    ],
)
def test_what_orjson_refuses_the_standard_library_answers(data: Any) -> None:
    assert _outcome(json_bytes, data) == _outcome(_stdlib_bytes, data)


READ_DOCUMENTS = st.recursive(
    JSON_LEAVES | st.floats(allow_nan=False) | st.integers(min_value=-(2**65), max_value=2**65),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400)
@given(READ_DOCUMENTS.map(lambda d: json.dumps(d, ensure_ascii=False)))
def test_any_json_text_reads_the_same(text: str) -> None:
    try:
        payload = text.encode()
    except UnicodeEncodeError:
        payload = text.encode("utf-8", "surrogatepass")
    assert _outcome(json_value, payload) == _outcome(_stdlib_value, payload)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"a":1,"a":2}',
        b"NaN",
        b"[Infinity, -Infinity]",
        b"1E400",
        b"[1.5, -0.0, 1e-7, 123456789012345678901234567890]",
        b"[9223372036854775807, 9223372036854775808, -9223372036854775809]",
        b"[0.1, 2.2250738585072014e-308, 4.9e-324, 1.7976931348623157e308, 1e23]",
        b'"\\ud800"',
        b'"\\ud83d\\ude00"',
        b"\xef\xbb\xbf{}",
        b"\xff",
        b"[1,]",
        b'{"a":1,}',
        b"",
        b"   ",
        b"[" * 1100 + b"]" * 1100,
        b'"\x01"',
        b'"\x7f"',
        b'  {"a" : [1, true, null] }\n',
    ],
)
def test_edge_texts_read_the_same(payload: bytes) -> None:
    ours, theirs = _outcome(json_value, payload), _outcome(_stdlib_value, payload)
    if ours[0] == "value" and isinstance(ours[1], list) and ours[1] and ours[1][0] != ours[1][0]:
        pytest.fail("NaN compared")  # pragma: no cover - not among these inputs
    assert repr(ours) == repr(theirs)


def test_a_batch_payload_that_is_not_json_is_refused_as_before() -> None:
    from contactpoint_sdk.errors import ValidationError

    for payload in (b"\xff", b"{", b"NaN"):
        with pytest.raises(ValidationError) as caught:
            decode_batch(payload, WireCodec(), today=TODAY)
        if payload != b"NaN":
            assert caught.value.problems[0].code == "payload_not_json"


def test_decode_batch_hands_back_each_operation_as_read_from_the_payload() -> None:
    """Issue 10: ingest takes each operation's raw JSON from decode_batch
    instead of parsing the payload a second time; it must be what a second,
    independent parse reads, even after decoding (nothing mutated)."""
    import json as _json

    from contactpoint_sdk.models import WireCodec as _Codec
    from contactpoint_sdk.supply.batch import decode_batch as _decode

    payload = _json.dumps(
        {
            "supplier_id": "s",
            "agreement_id": "a",
            "batch_id": "b",
            "sequence": 1,
            "created_at": "2026-03-02T09:00:00+00:00",
            "operations": [{"op": "nonsense", "ref": "x", "n": [1, 2]}, 7, {"ref": "y"}],
        }
    ).encode()
    decoded = _decode(payload, _Codec())
    expected = _json.loads(payload)["operations"]
    assert [d.raw for d in decoded.operations] == expected


_DIGITY = st.text(alphabet=st.sampled_from('0123456789 ,.-e"é\u0660\ud800x'), max_size=60)


@settings(max_examples=500)
@given(_DIGITY | st.text())
def test_the_long_digit_test_is_the_regex(text: str) -> None:
    """Issue 10: where orjson may read a number (nineteen ASCII digits in a row
    decide it) is found by translation and search exactly as by the regex."""
    from contactpoint_sdk.models import codec as codec_module

    payload = text.encode("utf-8", "surrogatepass")
    regex = codec_module._LONG_DIGITS.search(payload) is not None
    assert codec_module._has_long_digits(payload) == regex
    assert codec_module._has_long_text_digits(text) == (
        codec_module._LONG_DIGITS_TEXT.search(text) is not None
    )
    assert codec_module._has_long_text_digits(text) == regex


@pytest.mark.parametrize(
    "text",
    ["1" * 18, "1" * 19, "x" + "9" * 19 + "x", "1" * 18 + "\u0661", "\u0661" * 19, "12" * 10],
)
def test_the_long_digit_test_on_edges(text: str) -> None:
    from contactpoint_sdk.models import codec as codec_module

    payload = text.encode()
    expected = codec_module._LONG_DIGITS.search(payload) is not None
    assert codec_module._has_long_digits(payload) == expected
    assert codec_module._has_long_digits(bytearray(payload)) == expected
    assert codec_module._has_long_text_digits(text) == expected
    assert json_value(f'["{text}", {"1" * 19}]'.encode()) == _stdlib_value(
        f'["{text}", {"1" * 19}]'.encode()
    )
