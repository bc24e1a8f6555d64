"""The answers of DynamoDB and Secrets Manager as the stores read them: data only when complete and
verified, else the error to raise. Pure (bytes in, a dict or an exception out), so the lean client
(`stores/aws.py`) and the campaign's in-memory DynamoDB (`sandbox/sim/dynamo.py`, which passes its
injected damaged answers through it) verify the very same way.

Why: anything read as data that is not a whole answer fails the fleet's promise from the wrong side.
An empty 2xx body read as GetItem's "no item" makes a live trader's row look absent, and its book
is swept. So every such answer raises what the client raises for an answer it lost (botocore's
transient `HTTPClientError`): the stores try again, then report the read as failed, and a failed
read extends nothing and sweeps nothing.
"""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Mapping
from typing import Any


class Exceptions:
    """`client.exceptions.<Code>`: the ClientError subclass raised for that error code, as boto3 has."""

    def __init__(self) -> None:
        self._classes: dict[str, type[Exception]] = {}
        # One class per code, ever: a second class made by a racing thread would not be caught by an
        # `except` naming the first.
        self._lock = threading.Lock()

    def from_code(self, code: str) -> type[Exception]:
        from botocore.exceptions import ClientError

        with self._lock:
            found = self._classes.get(code)
            if found is None:
                found = self._classes[code] = type(code, (ClientError,), {})
            return found

    def __getattr__(self, code: str) -> type[Exception]:
        if code.startswith("_"):
            raise AttributeError(code)
        return self.from_code(code)


# One registry for every lean client: `except client.exceptions.X` catches X from any of them.
EXCEPTIONS = Exceptions()


class UnverifiedAnswer(ValueError):
    """Why an answer was not taken as one (what is wrong with it: never its content)."""


def read_answer(
    service: str,
    operation: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    exceptions: Any = None,
) -> dict[str, Any]:
    """One answer as the stores read it: the service's JSON object, or the exception to raise.

    A 2xx answer is data only when it is complete and verified; anything else raises botocore's
    `HTTPClientError` (wrapping an `UnverifiedAnswer`): what the client raises for an answer it could
    not read, transient, so the stores try again and then report the read as failed. Never an empty
    answer: GetItem's "no item" is the JSON `{}` with its CRC, and an empty body taken for it would
    make a live trader's row look absent. The checks, for every answer:

    - a Content-Length that disagrees with the body (urllib3 already refuses a short one; this
      catches the rest, and whatever a caller other than urllib3 hands in);
    - DynamoDB: `x-amz-crc32` must match the body when present, and be present on a 2xx (DynamoDB
      sends it with every answer, and so does moto). An error answer without one is read as before:
      its one piece of data, a refused write's `Item`, is checked by the stores against the key;
    - a 2xx: a JSON object whose members have the types the operation answers with (GetItem's `Item`
      an item, Query's `Items` a list of them, GetSecretValue naming its secret and carrying a value).

    `service` is the signing name ("dynamodb", "secretsmanager"). Errors are the ClientError subclass
    for their code from `exceptions.from_code` (default: the lean client's own, `client.exceptions`);
    the campaign's FakeDynamo passes botocore's modeled ones, so the stores catch what they expect.
    """
    lower = {name.lower(): value for name, value in headers.items()}
    length = lower.get("content-length")
    if length is not None and (not length.strip().isdigit() or int(length) != len(body)):
        raise unverified(operation, f"has {len(body)} bytes where its Content-Length says {length!r}")
    crc = lower.get("x-amz-crc32") if service == "dynamodb" else None
    ok = 200 <= status < 300
    if crc is not None and (not crc.isdigit() or int(crc) != zlib.crc32(body)):
        # What botocore does with a damaged answer: treat it as lost (the stores retry it).
        raise unverified(operation, "failed its CRC32 check")
    if ok and crc is None and service == "dynamodb":
        raise unverified(operation, "carries no x-amz-crc32 (not DynamoDB's answer, or not all of it)")
    parsed = _json(body)
    if ok:
        if not body or parsed is None:
            raise unverified(operation, "is not a JSON object")
        problem = _shape(operation, parsed)
        if problem:
            raise unverified(operation, problem)
        return parsed
    raise _error(operation, status, lower, parsed or {}, exceptions or EXCEPTIONS)


def unverified(operation: str, problem: str) -> Exception:
    """The transient error for an answer not taken as one: botocore's `HTTPClientError`, as for an
    answer lost on the way, wrapping what was wrong with it (`problem`: never the answer's values)."""
    from botocore.exceptions import HTTPClientError

    error: Exception = HTTPClientError(error=UnverifiedAnswer(f"{operation} answer {problem}"))
    return error


def _is_item(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, dict) and v for v in value.values())


def _shape(operation: str, answer: dict[str, Any]) -> str:
    """What is wrong with a 2xx answer's members, or "". Only the members the stores read are
    checked, and only their types: a member AWS adds one day must not stop the fleet."""
    if operation == "GetItem" and "Item" in answer and not _is_item(answer["Item"]):
        return "has an Item that is not an item"
    if (
        operation in ("PutItem", "UpdateItem")
        and "Attributes" in answer
        and not _is_item(answer["Attributes"])
    ):
        return "has Attributes that are not an item"
    if operation == "Query":
        items = answer.get("Items")
        if not isinstance(items, list) or not all(_is_item(i) for i in items):
            return "has no Items list"
        if "LastEvaluatedKey" in answer and not _is_item(answer["LastEvaluatedKey"]):
            return "has a LastEvaluatedKey that is not a key"
    if operation == "GetSecretValue":
        if not isinstance(answer.get("Name"), str) and not isinstance(answer.get("ARN"), str):
            return "names no secret"
        if not isinstance(answer.get("SecretString"), str) and not isinstance(
            answer.get("SecretBinary"), str
        ):
            return "carries neither SecretString nor SecretBinary"
    return ""


def _error(
    operation: str, status: int, headers: Mapping[str, str], body: dict[str, Any], exceptions: Any
) -> Exception:
    """botocore's JSON error parse: the code from `__type` (after '#', before ':'), else the
    status; the message from `message` or `Message`; the error's own members, message included, at
    the top level (a refused conditional write's `Item`)."""
    code = str(body.get("__type") or status)
    code = code.split(":", 1)[0].rsplit("#", 1)[-1]
    response: dict[str, Any] = {
        "Error": {"Message": body.get("message", body.get("Message", "")), "Code": code},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": dict(headers)},
    }
    request_id = headers.get("x-amzn-requestid")
    if request_id:
        response["ResponseMetadata"]["RequestId"] = request_id
    if body.keys() - {"__type", "message", "Message"}:  # a modeled error with members of its own
        response.update((name, value) for name, value in body.items() if name != "__type")
    error: Exception = exceptions.from_code(code)(response, operation)
    return error


def _json(data: bytes) -> dict[str, Any] | None:
    """The answer's JSON object ({} for an empty body, as botocore reads an error's); None when it
    is not one (an HTML page from a proxy: on an error, the status code is all there is to go on)."""
    if not data:
        return {}
    try:
        parsed = json.loads(data)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
