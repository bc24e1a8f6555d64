"""`read_answer`, byte by byte: a DynamoDB or Secrets Manager answer is data only when it is complete
and verified; anything else is the transient error of an answer lost on the way, never an empty
answer (GetItem's "no item" read from an empty body would make a live trader look dead)."""

from __future__ import annotations

import json
import zlib
from typing import Any

import pytest
from botocore import exceptions as bx

from deadman.stores.answers import EXCEPTIONS, UnverifiedAnswer, read_answer
from deadman.stores.retry import transient

ITEM = {"Item": {"system": {"S": "trader"}, "beat_ms": {"N": "1700000000000"}}}


def wire(answer: Any) -> bytes:
    return json.dumps(answer, separators=(",", ":")).encode()


def crc(body: bytes) -> dict[str, str]:
    return {"x-amz-crc32": str(zlib.crc32(body)), "Content-Length": str(len(body))}


def unverified(call: Any) -> str:
    with pytest.raises(bx.HTTPClientError) as info:
        call()
    assert transient(info.value)
    cause = info.value.kwargs["error"]
    assert isinstance(cause, UnverifiedAnswer)
    return str(cause)


FULL = wire(ITEM)
DAMAGED: dict[str, tuple[int, dict[str, str], bytes]] = {
    "empty, no crc": (200, {}, b""),
    "empty with its own crc": (200, crc(b""), b""),  # the CRC holds; emptiness is still not "no item"
    "truncated, the whole answer's crc": (200, {"x-amz-crc32": str(zlib.crc32(FULL))}, FULL[:20]),
    "truncated with its own crc": (200, crc(FULL[:20]), FULL[:20]),
    "crc stripped": (200, {"Content-Length": str(len(FULL))}, FULL),
    "crc wrong": (200, {"x-amz-crc32": str(zlib.crc32(FULL) ^ 1)}, FULL),
    "crc not a number": (200, {"x-amz-crc32": "abc"}, FULL),
    "crc twice": (200, {"x-amz-crc32": f"{zlib.crc32(FULL)}, {zlib.crc32(FULL)}"}, FULL),
    "html 200": (200, {"Content-Type": "text/html"}, b"<html>a proxy's page</html>"),
    "html 200 with its own crc": (200, crc(b"<html>x</html>"), b"<html>x</html>"),
    "json array": (200, crc(b"[]"), b"[]"),
    "json null": (200, crc(b"null"), b"null"),
    "content-length says more": (200, {**crc(FULL), "Content-Length": str(len(FULL) + 5)}, FULL),
    "content-length says less": (200, {**crc(FULL), "Content-Length": "2"}, FULL),
    "content-length not a number": (200, {**crc(FULL), "Content-Length": "many"}, FULL),
    "item that is not an item": (200, crc(wire({"Item": []})), wire({"Item": []})),
    "item with an empty value": (200, crc(wire({"Item": {"a": {}}})), wire({"Item": {"a": {}}})),
}


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_a_damaged_getitem_answer_is_never_data(case: str) -> None:
    status, headers, body = DAMAGED[case]
    message = unverified(lambda: read_answer("dynamodb", "GetItem", status, headers, body))
    assert message.startswith("GetItem answer ") and "trader" not in message  # never a value


def test_complete_verified_answers_are_data() -> None:
    assert read_answer("dynamodb", "GetItem", 200, crc(FULL), FULL) == ITEM
    # GetItem's legitimate "no item": the JSON {} with its CRC.
    assert read_answer("dynamodb", "GetItem", 200, crc(b"{}"), b"{}") == {}
    # Header names in any case, and members AWS may add one day, are accepted.
    body = wire({**ITEM, "ConsumedCapacity": {"TableName": "T"}})
    headers = {"X-Amz-Crc32": str(zlib.crc32(body)), "content-length": str(len(body))}
    assert read_answer("dynamodb", "GetItem", 200, headers, body)["Item"] == ITEM["Item"]
    query = wire({"Items": [ITEM["Item"]], "Count": 1, "ScannedCount": 1})
    assert read_answer("dynamodb", "Query", 200, crc(query), query)["Count"] == 1


@pytest.mark.parametrize(
    ("operation", "answer"),
    [
        ("Query", {"Count": 0}),  # no Items: never read as "no switches"
        ("Query", {"Items": [[]], "Count": 1}),
        ("Query", {"Items": [], "LastEvaluatedKey": "k"}),
        ("UpdateItem", {"Attributes": "last"}),
        ("PutItem", {"Attributes": [1]}),
    ],
)
def test_members_of_the_wrong_type_are_not_data(operation: str, answer: dict[str, Any]) -> None:
    body = wire(answer)
    unverified(lambda: read_answer("dynamodb", operation, 200, crc(body), body))


def test_errors_keep_their_codes_and_a_damaged_error_is_transient() -> None:
    refusal = wire(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
            "message": "The conditional request failed",
            "Item": ITEM["Item"],
        }
    )
    with pytest.raises(EXCEPTIONS.ConditionalCheckFailedException) as refused:
        read_answer("dynamodb", "PutItem", 400, crc(refusal), refusal)
    assert refused.value.response["Item"] == ITEM["Item"]
    assert not transient(refused.value)
    # Without a CRC an error is read as before (its Item is checked by the stores against the key).
    with pytest.raises(EXCEPTIONS.ConditionalCheckFailedException):
        read_answer("dynamodb", "PutItem", 400, {}, refusal)
    # A refusal cut short under its CRC, or a load balancer's page: transient either way.
    unverified(lambda: read_answer("dynamodb", "PutItem", 400, {"x-amz-crc32": "1"}, refusal[:30]))
    with pytest.raises(bx.ClientError) as page:
        read_answer("dynamodb", "GetItem", 503, {}, b"<html>Service Unavailable</html>")
    assert page.value.response["Error"]["Code"] == "503" and transient(page.value)


def test_the_caller_chooses_the_exception_classes() -> None:
    """The campaign's FakeDynamo raises botocore's modeled classes: the stores catch those."""
    import botocore.session
    from botocore.errorfactory import ClientExceptionsFactory

    model = botocore.session.get_session().get_service_model("dynamodb")
    modeled = ClientExceptionsFactory().create_client_exceptions(model)
    body = wire({"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"})
    with pytest.raises(modeled.ConditionalCheckFailedException):
        read_answer("dynamodb", "PutItem", 400, crc(body), body, exceptions=modeled)


SECRET = {"ARN": "arn:aws:secretsmanager:us-east-1:1:secret:deadman/kraken-AbCdEf", "Name": "deadman/kraken"}


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b""),
        (200, b"<html>a proxy's page</html>"),
        (200, b"[]"),
        (200, wire(SECRET)[:-1]),  # truncated
        (200, b"{}"),
        (200, wire(SECRET)),  # no value
        (200, wire({"SecretString": "{}"})),  # no name
        (200, wire({**SECRET, "SecretString": 7})),
    ],
)
def test_a_secret_answer_must_name_its_secret_and_carry_a_value(status: int, body: bytes) -> None:
    unverified(lambda: read_answer("secretsmanager", "GetSecretValue", status, {}, body))


def test_secret_answers_need_no_crc() -> None:
    for value in ({"SecretString": '{"accounts": []}'}, {"SecretBinary": "e30="}):
        body = wire({**SECRET, **value})
        headers = {"Content-Length": str(len(body))}
        assert read_answer("secretsmanager", "GetSecretValue", 200, headers, body)["Name"] == SECRET["Name"]
