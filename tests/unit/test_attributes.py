"""The AttributeValue codec against boto3's TypeSerializer / TypeDeserializer, its oracle.

boto3 is imported here only: the codec exists so that the functions need not import it."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal, Inexact, Overflow, Rounded
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from deadman.stores.attributes import from_attribute, from_item, to_attribute, to_item

SERIALIZER = TypeSerializer()
DESERIALIZER = TypeDeserializer()
LIMIT = 10**38 - 1  # the largest 38-digit integer DynamoDB stores exactly


def typed(value: Any) -> Any:
    """`value` with every type spelled out, so that 1 == Decimal(1) == True and b"" == Binary(b"")
    do not pass for each other; boto3's `Binary` counts as bytes (the codec's one promised change)."""
    if isinstance(value, Binary):
        value = value.value
    if isinstance(value, dict):
        return ("dict", tuple(sorted((typed(k), typed(v)) for k, v in value.items())))
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(typed(v) for v in value))
    if isinstance(value, set | frozenset):
        return ("set", frozenset(typed(v) for v in value))
    return (type(value).__name__, repr(value))


def outcome(fn: Callable[[Any], Any], value: Any) -> tuple[str, Any]:
    try:
        return ("ok", typed(fn(value)))
    except Exception as exc:
        return ("raises", type(exc))


numbers = st.one_of(
    st.integers(-LIMIT, LIMIT),
    st.integers(),  # beyond 38 digits: boto3 raises, and so must the codec
    st.decimals(),  # NaN, infinities, huge and tiny exponents included
    st.decimals(allow_nan=False, allow_infinity=False, places=6),
)
set_numbers = st.one_of(st.integers(-LIMIT, LIMIT), st.decimals(allow_nan=False, allow_infinity=False))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    st.text(),
    st.binary(),
    st.frozensets(set_numbers, min_size=1),
    st.frozensets(st.text(), min_size=1),
    st.frozensets(st.binary(), min_size=1),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=5), inner, max_size=4),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_serializes_and_deserializes_as_boto3_does(value: Any) -> None:
    assert outcome(to_attribute, value) == outcome(SERIALIZER.serialize, value)
    try:
        attr = SERIALIZER.serialize(value)
    except Exception:
        return
    assert outcome(from_attribute, attr) == outcome(DESERIALIZER.deserialize, attr)


def _wire(attr: dict[str, Any]) -> dict[str, Any]:
    """`attr` as DynamoDB's JSON carries it: binary values as base64 text."""
    ((tag, inner),) = attr.items()
    if tag == "B":
        return {"B": base64.b64encode(inner).decode()}
    if tag == "BS":
        return {"BS": [base64.b64encode(b).decode() for b in inner]}
    if tag == "L":
        return {"L": [_wire(a) for a in inner]}
    if tag == "M":
        return {"M": {k: _wire(a) for k, a in inner.items()}}
    return attr


@settings(max_examples=300, deadline=None)
@given(values)
def test_binary_as_base64_text_decodes_to_the_same_bytes(value: Any) -> None:
    try:
        attr = to_attribute(value)
    except (TypeError, ArithmeticError):
        return
    assert typed(from_attribute(_wire(attr))) == typed(from_attribute(attr))


def test_binary_comes_back_as_plain_bytes() -> None:
    assert from_attribute({"B": "AAEC/w=="}) == b"\x00\x01\x02\xff"
    assert type(from_attribute({"B": "AAEC/w=="})) is bytes
    assert type(from_attribute({"B": bytearray(b"x")})) is bytes
    assert from_attribute({"BS": ["YQ==", b"b"]}) == {b"a", b"b"}
    assert from_attribute({"B": ""}) == b""


def test_boto3_binary_serializes_as_its_bytes() -> None:
    assert to_attribute(Binary(b"\x00")) == {"B": b"\x00"}
    assert to_attribute({Binary(b"a"), b"b"}) == SERIALIZER.serialize({Binary(b"a"), b"b"})


def test_bad_base64_is_refused() -> None:
    with pytest.raises(ValueError):
        from_attribute({"B": "not base64!"})


def test_bool_is_not_a_number_but_in_a_set_it_is() -> None:
    assert to_attribute(True) == {"BOOL": True}
    assert to_attribute({True}) == SERIALIZER.serialize({True}) == {"NS": ["1"]}


def test_whole_items() -> None:
    row = {"system": "t-1", "beat_ms": 1_700_000_000_000, "alive": True, "note": None}
    item = to_item(row)
    assert item == {k: SERIALIZER.serialize(v) for k, v in row.items()}
    assert from_item(item) == {**row, "beat_ms": Decimal(1_700_000_000_000)}


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (1.5, TypeError),
        ([Decimal(1), 0.5], TypeError),
        ({0.5}, TypeError),
        ({"a": {"b": float("nan")}}, TypeError),
        (Decimal("Infinity"), TypeError),
        (Decimal("NaN"), TypeError),
        (10**38, Rounded),
        (10**38 + 1, Inexact),
        (Decimal("1e127"), Overflow),
        (Decimal("1.000000000000000000000000000000000000001"), Inexact),
        (object(), TypeError),
        (1j, TypeError),
        ({"a", 1}, TypeError),
        ({b"a", "a"}, TypeError),
    ],
)
def test_refuses_what_boto3_refuses(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        SERIALIZER.serialize(value)
    with pytest.raises(error):
        to_attribute(value)


@pytest.mark.parametrize(
    "value",
    [set(), frozenset(), Decimal("-Infinity"), Decimal("-0"), Decimal("1e-130"), {"k": ()}, {}.keys()],
)
def test_boto3_quirks_are_kept(value: Any) -> None:
    # An empty set is an empty NS; "-Infinity" slips past boto3's check; a dict's keys are a set.
    assert outcome(to_attribute, value) == outcome(SERIALIZER.serialize, value)


@pytest.mark.parametrize(
    "attr",
    [
        {},
        {"X": "1"},
        {"N": "1e200"},
        {"N": "1.000000000000000000000000000000000000001"},
        {"N": "not a number"},  # boto3's context does not trap InvalidOperation: it is NaN
        {"n": "7"},
        {"Null": True},
        {"S": "a", "N": "1"},
        {"L": [{"N": "1"}, {"Z": 1}]},
        {"B": 1},
        {"NS": []},
    ],
)
def test_deserializes_odd_values_as_boto3_does(attr: dict[str, Any]) -> None:
    assert outcome(from_attribute, attr) == outcome(DESERIALIZER.deserialize, attr)


def test_numbers_come_back_as_decimals_in_dynamodbs_range() -> None:
    assert from_attribute({"N": str(LIMIT)}) == Decimal(LIMIT)
    assert from_attribute({"NS": ["1", "2.50"]}) == {Decimal(1), Decimal("2.5")}
    with pytest.raises(Overflow):
        from_attribute({"N": "1e127"})
    # Not a number at all is NaN, not an error: boto3's context does not trap InvalidOperation.
    assert from_attribute({"N": "x"}).is_nan()


def test_importing_the_stores_does_not_import_boto3() -> None:
    code = (
        "import sys, deadman.stores.attributes, deadman.stores.switches, deadman.stores.liveness, "
        "deadman.edges.stream; print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('boto3', 'botocore')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
