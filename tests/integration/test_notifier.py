"""Alerts end to end on moto: the control use cases write audit entries, the ControlTable's stream
carries them, the notifier handler publishes one SNS message per action, and a subscribed queue
receives the JSON (and the text says who, why and what happened)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from deadman.app.notify import SUBJECT_MAX, notifications
from deadman.edges.stream import audit_entries
from deadman.stores.switches import SwitchStore
from sandbox.aws import patched_env

pytestmark = pytest.mark.integration
APP = Path(__file__).resolve().parents[2] / "functions" / "notifier" / "app.py"


def load_handler(topic_arn: str) -> ModuleType:
    with patched_env({"TOPIC_ARN": topic_arn, "STACK_NAME": "deadman-test"}):
        spec = importlib.util.spec_from_file_location("notifier_app", APP)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["notifier_app"] = module
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


class Context:
    function_name = "notifier"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:notifier"
    aws_request_id = "req-1"


def test_a_kill_of_two_switches_is_one_message_with_who_why_and_what(stack_tables: dict[str, str]) -> None:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="pager")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
    )

    store = SwitchStore(stack_tables["ControlTable"])
    operator = "arn:aws:sts::123456789012:assumed-role/oncall/alice"
    for account in ("main", "vault1"):
        store.latch_kill(
            "kraken", account, actor=operator, reason="incident 42\x1b[2J", now_ms=1_700_000_000_000
        )
        store.audit(
            "kraken",
            account,
            action="kill",
            actor=operator,
            reason="incident 42\x1b[2J",
            result="latched",
            now_ms=1_700_000_000_000,
        )
        store.audit(  # not an alert: a sweep's bookkeeping
            "kraken", account, action="kill-sweep", actor=operator, reason="x", result="cancelled 3", now_ms=1
        )
    records = stream_records(stack_tables["ControlTable"])
    assert len(records) >= 6  # switch writes and audit entries alike: the handler picks

    handler = load_handler(topic)
    assert handler.lambda_handler({"Records": records}, Context()) == {"notified": 1}

    [message] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    data = json.loads(message["Body"])
    assert data["event"] == "kill" and data["actor"] == operator and data["stack"] == "deadman-test"
    assert data["reason"] == "incident 42\\x1b[2J"  # escaped: it reaches terminals and inboxes
    assert [(s["venue"], s["account"], s["result"]) for s in data["switches"]] == [
        ("kraken", "main", "latched"),
        ("kraken", "vault1", "latched"),
    ]


def test_the_text_and_subject_say_what_happened_in_plain_ascii() -> None:
    entries = [
        {
            "pk": "AUDIT#hyperliquid#main",
            "action": "fired",
            "actor": "refresher",
            "reason": "trader dead: stale",
            "result": "ok",
            "at_ms": 1_700_000_000_000,
            "details": '{"detail": "last beat 31 s ago"}',
        },
        {"pk": "AUDIT#hyperliquid#main", "action": "sweep", "actor": "refresher", "reason": "", "at_ms": 1},
    ]
    [note] = notifications(entries, stack="prod")
    assert note.subject == "[prod] TRADER DEAD hyperliquid/main: ok"
    assert "TRADER DEAD at 2023-11-14 22:13:20 UTC" in note.text and "why: trader dead: stale" in note.text
    structure = json.loads(note.message())
    assert structure["default"] == note.text and json.loads(structure["sqs"])["event"] == "fired"
    many = [dict(entries[0], pk=f"AUDIT#kraken#account-{i:03d}", action="kill") for i in range(30)]
    [long] = notifications(many)
    assert len(long.subject) == SUBJECT_MAX and long.subject.endswith("...")
    assert all(" " <= c <= "~" for c in long.subject)


def test_a_planned_or_refused_disarm_never_reads_as_in_force() -> None:
    entry = {"pk": "AUDIT#kraken#main", "actor": "alice", "reason": "weekend", "at_ms": 1_700_000_000_000}
    [planned] = notifications([dict(entry, action="off", result="planned: 2023-11-15T00:13:20Z to ...")])
    assert planned.subject.startswith("[deadman] PLANNED OFF (trader away on purpose) kraken/main: planned")
    [refused] = notifications([dict(entry, action="disarm", result="refused: switch is killed")])
    assert refused.subject.startswith("[deadman] DISARM REFUSED kraken/main: refused: switch is killed")
    [done] = notifications([dict(entry, action="disarm", result="disarmed; venue timer off")])
    assert done.subject.startswith("[deadman] DISARM kraken/main")


def test_the_sample_stream_event_is_one_kill_message(aws: Any) -> None:
    sns = boto3.client("sns")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    handler = load_handler(topic)
    event = json.loads((APP.parents[2] / "events" / "notifier-audit-stream.json").read_text())
    [entry] = audit_entries(event)
    [note] = notifications([entry])
    assert note.subject == "[deadman] KILL kraken/main: latched"
    assert handler.lambda_handler(event, Context()) == {"notified": 1}


def test_stored_text_is_escaped_as_the_cli_escapes_it() -> None:
    """One escaping for terminals and inboxes: a bidi override reads as \\u202e, ESC as \\x1b."""
    entry = {"pk": "AUDIT#kraken#main", "action": "kill", "actor": "op", "at_ms": 1, "result": "latched"}
    [note] = notifications([dict(entry, reason="evil\u202eok\x1b[2J")])
    assert note.data["reason"] == "evil\\u202eok\\x1b[2J"
    assert "why: evil\\u202eok\\x1b[2J" in note.text
