"""DynamoDB AttributeValues to Python values and back, without boto3.

boto3's `TypeSerializer` / `TypeDeserializer` are the only reason the Lambda functions would import
boto3 on their hot path, and that import costs ~130 ms of every cold start. This module does the
same conversions with the standard library alone, and gives the same results and raises the same
exception types as boto3 for everything boto3 accepts:

    None -> NULL, bool -> BOOL, int / Decimal -> N (through boto3's decimal context: 38 digits,
    exponents -128..126, inexact or out-of-range numbers raise; float is a TypeError),
    str -> S, bytes / bytearray / boto3 `Binary` -> B, a set of numbers / str / binary -> NS / SS / BS,
    list / tuple -> L, Mapping -> M; N comes back as Decimal.

Two deliberate differences, both about binary values:

- `from_attribute` also takes B and BS values as base64 text, as DynamoDB's JSON API and Lambda's
  stream events carry them (boto3 has already decoded them to bytes by the time its deserializer
  sees them; a lean HTTP client has not).
- B and BS come back as plain `bytes`, never boto3's `Binary` wrapper.

`to_attribute` leaves binary values as bytes, as boto3's serializer does; base64 for the wire is the
client's job when it encodes the request.

`checked_item` is the stores' one check that an answer is about the item they asked for.
"""

from __future__ import annotations

import base64
import logging
import sys
from collections.abc import Callable, Mapping, Set
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

log = logging.getLogger(__name__)

# boto3's DYNAMODB_CONTEXT: DynamoDB keeps 38 significant digits, so anything it would round or
# overflow raises instead of being stored as a different number.
DYNAMODB_CONTEXT = Context(
    Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow]
)


def _boto3_binary() -> type | None:
    # A `Binary` can only exist if boto3 is already loaded: look it up, never import it.
    module = sys.modules.get("boto3.dynamodb.types")
    return getattr(module, "Binary", None) if module is not None else None


def _is_binary(value: Any) -> bool:
    if isinstance(value, (bytes, bytearray)):
        return True
    binary = _boto3_binary()
    return binary is not None and isinstance(value, binary)


def _raw_binary(value: Any) -> Any:
    return value if isinstance(value, (bytes, bytearray)) else value.value


def _is_number(value: Any) -> bool:
    if isinstance(value, (int, Decimal)):
        return True
    if isinstance(value, float):
        # Raised while classifying, as boto3 does, so a float inside a set or list fails too.
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    return False


def _number(value: int | Decimal) -> str:
    number = str(DYNAMODB_CONTEXT.create_decimal(value))
    # boto3 refuses exactly these two spellings ("-Infinity" passes it, and DynamoDB refuses that).
    if number in ("Infinity", "NaN"):
        raise TypeError("Infinity and NaN not supported")
    return number


def to_attribute(value: Any) -> dict[str, Any]:
    """`value` as an AttributeValue, e.g. `{"N": "42"}`, as boto3's `TypeSerializer().serialize`."""
    # The order of the checks is boto3's: bool before int, str and bytes before sets, sets before
    # mappings, and an empty set is an empty NS.
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if _is_number(value):
        return {"N": _number(value)}
    if isinstance(value, str):
        return {"S": value}
    if _is_binary(value):
        return {"B": _raw_binary(value)}
    if isinstance(value, Set):
        if all(map(_is_number, value)):
            return {"NS": [_number(n) for n in value]}
        if all(isinstance(s, str) for s in value):
            return {"SS": list(value)}
        if all(map(_is_binary, value)):
            return {"BS": [_raw_binary(b) for b in value]}
    if isinstance(value, Mapping):
        return {"M": {k: to_attribute(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [to_attribute(v) for v in value]}
    raise TypeError(f'Unsupported type "{type(value)}" for value "{value}"')


def _bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return base64.b64decode(value, validate=True)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise TypeError(f"B must be bytes or base64 text, not {type(value)}")


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "null": lambda _: None,
    "bool": lambda v: v,
    "n": DYNAMODB_CONTEXT.create_decimal,
    "s": lambda v: v,
    "b": _bytes,
    "ns": lambda v: set(map(DYNAMODB_CONTEXT.create_decimal, v)),
    "ss": set,
    "bs": lambda v: set(map(_bytes, v)),
    "l": lambda v: [from_attribute(a) for a in v],
    "m": lambda v: {k: from_attribute(a) for k, a in v.items()},
}


def from_attribute(attr: Mapping[Any, Any]) -> Any:
    """The Python value of an AttributeValue, as boto3's `TypeDeserializer().deserialize` (see the
    module docstring for binary values)."""
    if not attr:
        raise TypeError("Value must be a nonempty dictionary whose key is a valid dynamodb type.")
    # Only the first key counts, and case does not, as in boto3 (it looks the tag up as a method name).
    tag = next(iter(attr))
    decode = _DECODERS.get(f"{tag}".lower())
    if decode is None:
        raise TypeError(f"Dynamodb type {tag} is not supported")
    return decode(attr[tag])


def to_item(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A whole item: each value through `to_attribute`."""
    return {name: to_attribute(value) for name, value in values.items()}


def from_item(item: Mapping[str, Mapping[Any, Any]]) -> dict[str, Any]:
    """A whole item: each AttributeValue through `from_attribute`."""
    return {name: from_attribute(attr) for name, attr in item.items()}


def checked_item(
    item: Any, key: Mapping[str, Mapping[str, Any]], *, operation: str, required: bool = False
) -> dict[str, Any] | None:
    """`item` (an answer's `Item` or `Attributes`, or a refusal's `Item`, in wire form) if it is the
    item at `key`: it holds every attribute of `key`, with the same value. None if there is none and
    none is `required`.

    Anything else raises the transient error of an answer not taken as one (`answers.unverified`):
    the stores try again, then report the read as failed. An answer about another item read as ours
    would judge one trader by another's row, or act on another switch's state. `key` may be part of
    a key (a Query's partition). Logged with both keys, never with any other value of the item."""
    if item is None and not required:
        return None
    if isinstance(item, dict) and all(item.get(name) == value for name, value in key.items()):
        return item
    from deadman.stores.answers import unverified

    asked = _key_text(key, key)
    got = _key_text(item, key) if isinstance(item, dict) else f"a {type(item).__name__}"
    log.warning("%s answered for another item: asked %s, got %s", operation, asked, got)
    raise unverified(operation, f"is for another item (asked {asked}, got {got})")


def _key_text(item: Mapping[str, Any], key: Mapping[str, Any]) -> str:
    # Only the key's own attributes, as "name=value": never the item's other values.
    return ", ".join(f"{name}={_plain(item.get(name))}" for name in key)


def _plain(attr: Any) -> str:
    if isinstance(attr, Mapping) and len(attr) == 1:
        return str(next(iter(attr.values())))[:200]
    return "<none>" if attr is None else "<not a key value>"
