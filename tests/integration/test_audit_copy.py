"""The audit log's copy and `deadman audit verify`, end to end on moto: entries appended by the real
store reach the ControlTable's stream, the archiver handler copies each one, write once, to an Object
Lock bucket; verify proves the history whole, and names every rewrite of the table, including the
ones the chain alone cannot see (a consistent forgery, the newest entries removed)."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from deadman.core.audit_chain import copy_key, sort_key
from deadman.edges.cli import common as cli_common
from deadman.edges.cli import main as cli_main
from deadman.edges.stream import archive_batch
from deadman.edges.wiring import write_once_s3
from deadman.stores.audit_copy import AuditArchive
from deadman.stores.switches import SwitchStore
from sandbox.aws import patched_env

pytestmark = pytest.mark.integration
APP = Path(__file__).resolve().parents[2] / "functions" / "archiver" / "app.py"
BUCKET = "deadman-audit-copy"


class Context:
    function_name = "archiver"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:archiver"
    aws_request_id = "req-1"


class Log:
    def info(self, *args: Any, **kwargs: Any) -> None:
        pass


def load_handler() -> ModuleType:
    with patched_env({"AUDIT_BUCKET": BUCKET}):
        spec = importlib.util.spec_from_file_location("archiver_app", APP)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["archiver_app"] = module
        spec.loader.exec_module(module)
    return module


def stream_records(table: str) -> list[dict[str, Any]]:
    arn = boto3.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams")
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records += streams.get_records(ShardIterator=iterator)["Records"]
    return records


@pytest.fixture
def world(stack_tables: dict[str, str]) -> dict[str, Any]:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=BUCKET,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 400}},
        },
    )
    table = stack_tables["ControlTable"]
    store = SwitchStore(table)
    now = int(time.time() * 1000) - 3_600_000  # an hour ago: every entry is past the copy's lag
    for n in range(4):
        store.audit(
            "kraken",
            "main",
            action="sweep",
            actor="refresher",
            reason="dead",
            result=f"cancelled {n}",
            now_ms=now + n,
        )
    store.audit("kraken", "other", action="kill", actor="op", reason="x", result="latched", now_ms=now)
    return {"table": table, "store": store, "s3": s3, "now": now}


def archive(world: dict[str, Any]) -> dict[str, int]:
    handler = load_handler()
    result: dict[str, int] = handler.lambda_handler({"Records": stream_records(world["table"])}, Context())
    return result


def verify(capsys: pytest.CaptureFixture[str], world: dict[str, Any], *extra: str) -> tuple[int, str]:
    argv = ["audit", "verify", "--venue", "kraken", "--account", "main", "--table", world["table"], *extra]
    if "--no-copy" not in extra:
        argv += ["--bucket", BUCKET]
    code = cli_main.main(argv)
    out, err = capsys.readouterr()
    return code, out + err


def key(n: int) -> dict[str, Any]:
    return {"pk": {"S": "AUDIT#kraken#main"}, "sk": {"S": sort_key(n)}}


def test_each_entry_is_copied_once_and_the_history_verifies_whole(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert archive(world) == {"copied": 5, "already": 0, "altered": 0}
    body = world["s3"].get_object(Bucket=BUCKET, Key=copy_key("kraken", "main", 2))["Body"].read()
    assert b'"seq":2' in body and b'"result":"cancelled 1"' in body
    # A batch delivered again (the stream retries) leaves the first copy as it was.
    assert archive(world) == {"copied": 0, "already": 5, "altered": 0}
    versions = world["s3"].list_object_versions(Bucket=BUCKET, Prefix="audit/kraken/main/")["Versions"]
    assert len(versions) == 4
    code, out = verify(capsys, world)
    assert code == cli_common.EXIT_OK, out
    assert "WHOLE" in out and "#1..#4, 4 entries" in out and "copy agrees" in out


def test_an_entry_rewritten_in_the_table_is_named(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    archive(world)
    boto3.client("dynamodb").update_item(
        TableName=world["table"],
        Key=key(2),
        UpdateExpression="SET #r = :r",
        ExpressionAttributeNames={"#r": "result"},
        ExpressionAttributeValues={":r": {"S": "cancelled 0"}},
    )
    code, out = verify(capsys, world, "--no-copy")
    assert code == cli_common.EXIT_PARTIAL and "BROKEN at #2: #2 was altered" in out
    # The stream saw the rewrite too: the archiver keeps that on record, and verify says so.
    assert archive(world)["altered"] == 1
    code, out = verify(capsys, world)
    assert code == cli_common.EXIT_PARTIAL and "altered in the table: MODIFY of C#000000000002" in out


def test_a_consistent_forgery_and_removed_newest_entries_are_seen_only_with_the_copy(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    archive(world)
    client = boto3.client("dynamodb")
    client.delete_item(TableName=world["table"], Key=key(4))
    code, out = verify(capsys, world, "--no-copy")
    assert code == cli_common.EXIT_OK and "cannot be seen in the table alone" in out
    code, out = verify(capsys, world)
    assert code == cli_common.EXIT_PARTIAL
    assert "BROKEN at #4: #4 is in the copy but no longer in the table" in out


def test_verify_needs_a_copy_or_says_it_checks_the_table_alone(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli_main.main(
        ["audit", "verify", "--venue", "kraken", "--account", "main", "--table", world["table"]]
    )
    _, err = capsys.readouterr()
    assert code == cli_common.EXIT_USAGE and "--no-copy" in err
    code, out = verify(capsys, world, "--no-copy")
    assert code == cli_common.EXIT_OK and "copy not checked" in out
    code = cli_main.main(
        ["audit", "verify", "--venue", "kraken", "--account", "main", "--table", "nope", "--no-copy"]
    )
    _, err = capsys.readouterr()
    assert code == cli_common.EXIT_USAGE and "cannot read the audit log in table 'nope'" in err


def test_ttl_removals_are_not_alterations_and_other_items_are_ignored(world: dict[str, Any]) -> None:
    switch = {"pk": {"S": "SWITCH#kraken"}, "sk": {"S": "main"}}
    records = [
        {
            "eventName": "REMOVE",
            "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
            "dynamodb": {"Keys": key(1)},
        },
        {"eventName": "INSERT", "dynamodb": {"Keys": switch, "NewImage": switch}},
        {"eventName": "REMOVE", "dynamodb": {"Keys": key(3)}},
    ]
    counts = archive_batch({"Records": records}, archive=AuditArchive(BUCKET, s3=world["s3"]), log=Log())
    assert counts == {"copied": 0, "already": 0, "altered": 1}


def test_an_sdk_without_conditional_writes_still_sends_if_none_match(world: dict[str, Any]) -> None:
    s3 = world["s3"]
    seen: list[Any] = []
    s3.meta.events.register(
        "before-send.s3.PutObject", lambda request, **_: seen.append(request.headers.get("If-None-Match"))
    )
    assert write_once_s3(s3) is s3  # this boto3 knows the parameter

    class OldModel:
        """What an SDK from before August 2024 says of PutObject."""

        def __init__(self, real: Any) -> None:
            self.real = real

        def operation_model(self, name: str) -> Any:
            op = self.real.operation_model(name)
            members = {k: v for k, v in op.input_shape.members.items() if k != "IfNoneMatch"}
            return type("Op", (), {"input_shape": type("Shape", (), {"members": members})()})()

    meta = s3.meta
    original = meta.service_model
    try:
        meta._service_model = OldModel(original)
        wrapped = write_once_s3(s3)
    finally:
        meta._service_model = original
    assert wrapped is not s3
    wrapped.put_object(Bucket=BUCKET, Key="probe", Body=b"1", IfNoneMatch="*", ChecksumAlgorithm="SHA256")
    with pytest.raises(Exception, match="PreconditionFailed"):
        wrapped.put_object(Bucket=BUCKET, Key="probe", Body=b"2", IfNoneMatch="*", ChecksumAlgorithm="SHA256")
    assert [h.decode() if isinstance(h, bytes) else h for h in seen[-2:]] == ["*", "*"]


def test_the_sample_stream_event_copies_its_entry_and_records_the_rewrite(world: dict[str, Any]) -> None:
    """events/archiver-audit-stream.json: an entry inserted, then rewritten, then expired by TTL."""
    import json

    event = json.loads((APP.parents[2] / "events" / "archiver-audit-stream.json").read_text())
    handler = load_handler()
    assert handler.lambda_handler(event, Context()) == {"copied": 1, "already": 0, "altered": 1}
    listed = world["s3"].list_objects_v2(Bucket=BUCKET, Prefix="altered/")["Contents"]
    assert [o["Key"] for o in listed] == ["altered/kraken/main/C%23000000000001/2.json"]


def test_the_sandbox_keeps_the_copy_as_the_archiver_would_and_verify_finds_it_by_env(
    stack_tables: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`make sandbox` exports AUDIT_BUCKET, so the README's `deadman audit verify` works there."""
    from sandbox.archiver import AuditCopier

    table = stack_tables["ControlTable"]
    copier = AuditCopier(table, bucket="sandbox-copy", poll_s=3600).start()
    try:
        now = int(time.time() * 1000) - 3_600_000
        for n in range(3):
            SwitchStore(table).audit(
                "kraken", "main", action="arm", actor="op", reason="x", result="armed", now_ms=now + n
            )
        assert copier.copy_now() >= 3
        assert copier.copy_now() == 0  # read from where it left off
        with patched_env({"AUDIT_BUCKET": "sandbox-copy", "CONTROL_TABLE": table}):
            code = cli_main.main(["audit", "verify", "--venue", "kraken", "--account", "main"])
        out = "".join(capsys.readouterr())
        assert code == cli_common.EXIT_OK and "copy agrees" in out, out
    finally:
        copier.stop()
