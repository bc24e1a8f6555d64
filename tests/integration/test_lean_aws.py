"""The lean AWS client against boto3: the same calls to the same moto server give the same answers and
the same errors; transport failures become botocore's own exceptions, classified as before."""

from __future__ import annotations

import os
import socket
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore import exceptions as bx

from deadman.stores.aws import DYNAMODB, SECRETS_MANAGER, AwsJsonClient, Credentials, lean_clients
from deadman.stores.retry import transient

pytestmark = pytest.mark.integration

TABLE = "ControlTable"
KEY = {"pk": {"S": "SWITCH#kraken"}, "sk": {"S": "main"}}
REFUSED = "http://127.0.0.1:9"  # the discard port: nothing listens there (as the CLI tests use it)


def _without_metadata(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


def _outcome(call: Callable[[], dict[str, Any]]) -> Any:
    try:
        return ("ok", _without_metadata(call()))
    except bx.ClientError as exc:
        # What the stores read of an error: its code, and the item a refused write carries.
        return ("error", exc.response["Error"]["Code"], exc.response.get("Item"))


STEPS: list[tuple[str, dict[str, Any]]] = [
    ("get_item", {"TableName": TABLE, "Key": KEY, "ConsistentRead": True}),
    (
        "put_item",
        {
            "TableName": TABLE,
            "Item": {**KEY, "mode": {"S": "armed"}, "version": {"N": "1"}, "ok": {"BOOL": True}},
            "ConditionExpression": "attribute_not_exists(pk)",
        },
    ),
    (
        "put_item",  # refused: the item is there, and the refusal carries it
        {
            "TableName": TABLE,
            "Item": {**KEY, "mode": {"S": "killed"}, "version": {"N": "2"}},
            "ConditionExpression": "attribute_not_exists(pk)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        },
    ),
    (
        "update_item",
        {
            "TableName": TABLE,
            "Key": {"pk": {"S": "NONCE#kraken#key"}, "sk": {"S": "#"}},
            "UpdateExpression": "ADD #n :one",
            "ExpressionAttributeNames": {"#n": "n"},
            "ExpressionAttributeValues": {":one": {"N": "1"}},
            "ReturnValues": "UPDATED_NEW",
        },
    ),
    ("get_item", {"TableName": TABLE, "Key": KEY, "ConsistentRead": True}),
    (
        "query",
        {
            "TableName": TABLE,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": "SWITCH#kraken"}},
            "ConsistentRead": True,
        },
    ),
    ("put_item", {"TableName": TABLE, "Item": {**KEY, "blob": {"B": b"\x00\xffbinary"}}}),
    ("get_item", {"TableName": "NoSuchTable", "Key": KEY}),
    ("put_item", {"TableName": TABLE, "Item": {"pk": {"S": "no sort key"}}}),
]


def _run(client: Any) -> list[Any]:
    return [
        _outcome(lambda name=name, params=params: getattr(client, name)(**params)) for name, params in STEPS
    ]


def test_dynamodb_answers_and_errors_as_boto3(aws: Any, stack_tables: dict[str, str]) -> None:
    lean, _ = lean_clients(os.environ)
    ours = _run(lean)
    aws.reset()
    from sandbox.tables import create_tables

    create_tables(boto3.client("dynamodb"), stack_tables)
    theirs = _run(boto3.client("dynamodb"))
    assert [o[0] for o in ours] == ["ok", "ok", "error", "ok", "ok", "ok", "ok", "error", "error"]
    assert ours == theirs
    refused = ours[2]
    assert refused[1] == "ConditionalCheckFailedException" and refused[2]["mode"] == {"S": "armed"}


class Recording(AwsJsonClient):
    """The lean client, keeping each answer's headers as they came."""

    seen: list[tuple[int, Mapping[str, str]]]

    def _send(self, body: bytes, headers: dict[str, str]) -> tuple[int, Mapping[str, str], bytes]:
        status, answer_headers, data = super()._send(body, headers)
        self.seen.append((status, dict(answer_headers)))
        return status, answer_headers, data


def test_moto_sends_dynamodbs_crc_with_every_answer(aws: Any, stack_tables: dict[str, str]) -> None:
    """Every 2xx must carry x-amz-crc32 (DynamoDB always sends it): so must the server the tests use,
    or they would not be running what runs in AWS. moto does, on answers and errors alike."""
    lean = Recording.from_env(DYNAMODB, os.environ, connect_timeout_s=1, read_timeout_s=2)
    lean.seen = []
    assert _run(lean)[0] == ("ok", {})  # GetItem's "no item": {} with its CRC, accepted
    assert len(lean.seen) == len(STEPS)
    assert all("x-amz-crc32" in {k.lower() for k in headers} for _, headers in lean.seen)


def test_refusal_is_the_clients_modeled_exception(aws: Any, stack_tables: dict[str, str]) -> None:
    lean, _ = lean_clients(os.environ)
    lean.put_item(TableName=TABLE, Item=KEY)
    with pytest.raises(lean.exceptions.ConditionalCheckFailedException) as info:
        lean.put_item(TableName=TABLE, Item=KEY, ConditionExpression="attribute_not_exists(pk)")
    assert isinstance(info.value, bx.ClientError) and not transient(info.value)


def test_blobs_come_back_as_the_wire_sends_them(aws: Any, stack_tables: dict[str, str]) -> None:
    lean, _ = lean_clients(os.environ)
    lean.put_item(TableName=TABLE, Item={**KEY, "blob": {"B": b"\x00\xff"}})
    assert lean.get_item(TableName=TABLE, Key=KEY)["Item"]["blob"] == {"B": "AP8="}


def test_secrets_as_boto3(aws: Any) -> None:
    sm = boto3.client("secretsmanager")
    sm.create_secret(Name="deadman/kraken", SecretString='{"accounts": []}')
    sm.create_secret(Name="deadman/gemini", SecretBinary=b'{"accounts": []}')
    _, lean = lean_clients(os.environ)
    text = lean.get_secret_value(SecretId="deadman/kraken")
    assert text["SecretString"] == sm.get_secret_value(SecretId="deadman/kraken")["SecretString"]
    assert lean.get_secret_value(SecretId="deadman/gemini")["SecretBinary"] == "eyJhY2NvdW50cyI6IFtdfQ=="
    with pytest.raises(bx.ClientError) as info:
        lean.get_secret_value(SecretId="deadman/none")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"


# -- transport failures ------------------------------------------------------------------------------


def _client(
    endpoint: str, read_timeout_s: float = 2, api: tuple[str, str, str, str] = DYNAMODB
) -> AwsJsonClient:
    return AwsJsonClient(
        api,
        region="us-east-1",
        endpoint=endpoint,
        credentials=lambda: Credentials("a", "b"),
        connect_timeout_s=1,
        read_timeout_s=read_timeout_s,
    )


@pytest.fixture
def canned() -> Iterator[tuple[str, list[tuple[int, dict[str, str], bytes]]]]:
    """A loopback server answering each POST with the next canned (status, headers, body)."""
    answers: list[tuple[int, dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status, headers, body = answers.pop(0)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", answers
    finally:
        server.shutdown()
        server.server_close()


def test_refused_connection_is_an_endpoint_error() -> None:
    with pytest.raises(bx.EndpointConnectionError) as info:
        _client(REFUSED).get_item(TableName=TABLE, Key=KEY)
    assert transient(info.value)


def test_silent_server_is_a_read_timeout() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(bx.ReadTimeoutError) as info:
            _client(f"http://127.0.0.1:{port}", read_timeout_s=0.2).get_item(TableName=TABLE, Key=KEY)
    assert transient(info.value)


def test_throttle_5xx_and_damaged_answers_are_transient(canned: Any) -> None:
    endpoint, answers = canned
    client = _client(endpoint)
    throttle = (
        b'{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",'
        b'"message":"slow"}'
    )
    answers.extend(
        [
            (400, {"x-amzn-RequestId": "r1"}, throttle),
            (503, {}, b"<html>Service Unavailable</html>"),
            (200, {"x-amz-crc32": "1"}, b"{}"),
            (200, {}, b"<html>a proxy's page</html>"),
            (200, {"x-amz-crc32": "2745614147"}, b"{}"),
        ]
    )
    with pytest.raises(client.exceptions.ProvisionedThroughputExceededException) as throttled:
        client.get_item(TableName=TABLE, Key=KEY)
    assert throttled.value.response["Error"] == {
        "Message": "slow",
        "Code": "ProvisionedThroughputExceededException",
    }
    assert throttled.value.response["ResponseMetadata"]["RequestId"] == "r1"
    with pytest.raises(bx.ClientError) as unavailable:
        client.get_item(TableName=TABLE, Key=KEY)
    assert unavailable.value.response["Error"]["Code"] == "503"
    with pytest.raises(bx.HTTPClientError) as damaged:
        client.get_item(TableName=TABLE, Key=KEY)
    with pytest.raises(bx.HTTPClientError) as not_json:  # never "no item": that would read as a death
        client.get_item(TableName=TABLE, Key=KEY)
    assert client.get_item(TableName=TABLE, Key=KEY) == {}  # crc32 of b"{}" is 2745614147
    assert all(transient(e.value) for e in (throttled, unavailable, damaged, not_json))


ITEM = b'{"Item":{"system":{"S":"trader"},"beat_ms":{"N":"1700000000000"}}}'
DAMAGED = {
    "empty, no crc": (200, {}, b""),
    "empty with its own crc": (200, {"x-amz-crc32": "0"}, b""),
    "truncated, the whole answer's crc": (200, {"x-amz-crc32": str(zlib.crc32(ITEM))}, ITEM[:25]),
    "crc stripped": (200, {}, ITEM),
    "crc wrong": (200, {"x-amz-crc32": str(zlib.crc32(ITEM) ^ 1)}, ITEM),
    "html 200": (200, {}, b"<html>a proxy's page</html>"),
    "json array": (200, {"x-amz-crc32": str(zlib.crc32(b"[]"))}, b"[]"),
}


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_a_damaged_answer_on_the_wire_is_transient_never_no_item(canned: Any, case: str) -> None:
    endpoint, answers = canned
    answers.append(DAMAGED[case])
    with pytest.raises(bx.HTTPClientError) as info:
        _client(endpoint).get_item(TableName=TABLE, Key=KEY)
    assert transient(info.value)


@pytest.fixture
def raw() -> Iterator[tuple[str, list[bytes]]]:
    """A loopback server answering each connection with the next raw bytes, then closing it."""
    answers: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(answers.pop(0))
                conn.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", answers
    finally:
        listener.close()


def test_a_body_shorter_than_its_content_length_is_a_lost_answer(raw: Any) -> None:
    """urllib3 (2.x: enforce_content_length on by default) refuses it before `read_answer` sees it."""
    endpoint, answers = raw
    head = f"HTTP/1.1 200 OK\r\nx-amz-crc32: {zlib.crc32(ITEM)}\r\nContent-Length: {len(ITEM)}\r\n\r\n"
    answers.append(head.encode() + ITEM[:25])
    with pytest.raises(bx.ConnectionClosedError) as info:
        _client(endpoint).get_item(TableName=TABLE, Key=KEY)
    assert transient(info.value)


def test_a_body_cut_by_a_closed_connection_is_caught_by_its_crc(raw: Any) -> None:
    """No Content-Length, the connection closed early: only the CRC tells the body is not whole."""
    endpoint, answers = raw
    head = f"HTTP/1.1 200 OK\r\nx-amz-crc32: {zlib.crc32(ITEM)}\r\nConnection: close\r\n\r\n"
    answers.append(head.encode() + ITEM[:25])
    with pytest.raises(bx.HTTPClientError, match="CRC32"):
        _client(endpoint).get_item(TableName=TABLE, Key=KEY)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{}",
        b"<html>a proxy's page</html>",
        b'{"ARN":"arn:aws:secretsmanager:us-east-1:1:secret:deadman/kraken-AbCdEf","Name":"deadman/kraken"}',
        b'{"Name":"deadman/kraken","SecretString":"{\\"accounts\\": []',
    ],
)
def test_a_secret_answer_without_a_secret_is_transient(canned: Any, body: bytes) -> None:
    endpoint, answers = canned
    answers.append((200, {}, body))
    with pytest.raises(bx.HTTPClientError) as info:
        _client(endpoint, api=SECRETS_MANAGER).get_secret_value(SecretId="deadman/kraken")
    assert transient(info.value)


# -- what a cold start loads -------------------------------------------------------------------------

COLD = """
import os, sys
sys.path.insert(0, os.path.join(os.getcwd(), "functions", "refresher"))
import app  # the refresher's handler module, as Lambda imports it
from deadman.stores.aws import lean_clients
dynamodb, secrets = lean_clients(os.environ)
dynamodb.get_item(TableName="ControlTable", Key={"pk": {"S": "x"}, "sk": {"S": "y"}})
secrets.get_secret_value(SecretId="deadman/kraken")
# (Powertools imports botocore's package __init__, 0.5 ms, to register its user agent: not counted.)
heavy = ("boto3", "botocore.session", "botocore.client", "requests", "pydantic", "charset_normalizer")
print(",".join(m for m in heavy if m in sys.modules))
"""


def test_a_refresher_cold_start_loads_neither_boto3_nor_requests(
    aws: Any, stack_tables: dict[str, str]
) -> None:
    import subprocess
    import sys

    boto3.client("secretsmanager").create_secret(Name="deadman/kraken", SecretString='{"accounts": []}')
    env = {
        **os.environ,
        "VENUE": "kraken",
        "LIVENESS_TABLE": "LivenessTable",
        "CONTROL_TABLE": "ControlTable",
        "SYSTEM_NAME": "trader",
        "ENABLED_VENUES": "kraken",
        "SECRET_KRAKEN": "deadman/kraken",
    }
    done = subprocess.run(
        [sys.executable, "-c", COLD], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == ""
