"""Each function's IAM grants against the AWS calls its own code makes, both ways.

Every function's real handler (functions/<name>/app.py, loaded as Lambda loads it, with the sandbox's
environment) is driven through its real entry points on the sandbox (moto and the venue simulators):
the refreshers through three overlapping scheduler invocations (a loop, a standby that takes it
on offer, one queued) and one more once the trader has died, kill / disarm / arm / doctor / status
through API Gateway events (one secret unreadable, so the controls fall back to the stored
switches), the notifier and the archiver through stream events. Every call leaving a handler's AWS
clients is recorded: the operation, the table, secret, topic or bucket, and the partition key. Then,
per function:

- no call without its grant: each call is allowed by a statement naming that action and resource,
  and for the ControlTable by a `dynamodb:LeadingKeys` pattern matching the call's partition key;
- no grant without a call: each action a statement grants, on each resource, for each LeadingKeys
  pattern, was used by at least one call (KMS excepted: SNS calls it for the publisher of an
  encrypted topic).

X-Ray and CloudWatch Logs (EMF metrics) are SAM's managed policies, checked on the transformed
template in test_template.py; DynamoDB stream reads come with SAM's DynamoDB event."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import threading
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest

from tests.infra.conftest import REPO
from tests.infra.test_template import CAP, REFRESHERS, SECRETS, VENUES, as_list, functions, refs, statements

pytestmark = pytest.mark.infra
EVENTS = REPO / "events"
FUNCTION_DIRS = {"KillFunction": "kill", "DisarmFunction": "disarm", "StatusFunction": "status"}


@dataclasses.dataclass(frozen=True)
class Call:
    function: str
    action: str  # the IAM action
    resource: str  # the template's logical id
    key: str | None  # the partition key of a DynamoDB call


class Recorder:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.lock = threading.Lock()
        self.names: dict[str, str] = {}  # physical name or ARN -> logical id

    def add(self, function: str, action: str, physical: str, key: str | None) -> None:
        with self.lock:
            self.calls.append(Call(function, action, self.names.get(physical, physical), key))


def _partition_key(params: dict[str, Any]) -> str | None:
    for holder in (params.get("Key"), params.get("Item")):
        if isinstance(holder, dict):
            for name in ("pk", "system"):
                if name in holder:
                    return str(holder[name]["S"])
    values = params.get("ExpressionAttributeValues") or {}
    return str(values[":pk"]["S"]) if ":pk" in values else None


@pytest.fixture(scope="module")
def recorded() -> Iterator[list[Call]]:
    from deadman.edges import wiring
    from deadman.stores import aws
    from sandbox.lambda_api import function_name
    from sandbox.local_api import load_function, proxy_event
    from sandbox.stack import CONTROL_TABLE, LIVENESS_TABLE, FakeContext, SandboxTiming, Stack, load_handler
    from sandbox.trader import ToyTrader

    recorder = Recorder()
    real_call = aws.AwsJsonClient.call
    real_lean = wiring.lean_clients
    real_invoker = wiring.lean_invoker
    loading: dict[str, str | None] = {"as": None}

    def call(self: Any, operation: str, params: Any) -> Any:
        function = getattr(self, "_recorded_as", None)
        if function is not None:
            service = {"GetSecretValue": "secretsmanager", "Invoke": "lambda"}.get(operation, "dynamodb")
            physical = params.get("TableName") or params.get("SecretId") or params.get("FunctionName")
            action = "lambda:InvokeFunction" if operation == "Invoke" else f"{service}:{operation}"
            recorder.add(function, action, str(physical), _partition_key(params))
        return real_call(self, operation, params)

    def lean_clients(environ: Any) -> Any:
        clients = real_lean(environ)
        for client in clients:
            client._recorded_as = loading["as"]
        return clients

    def lean_invoker(environ: Any) -> Any:
        client = real_invoker(environ)
        client._recorded_as = loading["as"]
        return client

    aws.AwsJsonClient.call = call  # type: ignore[method-assign]
    wiring.lean_clients = lean_clients  # type: ignore[assignment]
    wiring.lean_invoker = lean_invoker  # type: ignore[assignment]
    try:
        # Every registered venue, the ones the sandbox leaves out by default too (OKX): each
        # function is driven through its real calls.
        with Stack(SandboxTiming(), venues=tuple(REFRESHERS)) as stack:
            recorder.names |= {CONTROL_TABLE: "ControlTable", LIVENESS_TABLE: "LivenessTable"}
            recorder.names |= {arn: SECRETS[venue] for venue, arn in stack.secret_arns.items()}
            recorder.names |= {function_name(venue): name for venue, name in REFRESHERS.items()}
            handlers: dict[str, ModuleType] = {}
            for venue, name in REFRESHERS.items():
                loading["as"] = name
                handlers[name] = load_handler(venue, stack.env)
            for name, folder in FUNCTION_DIRS.items():
                loading["as"] = name
                handlers[name] = load_function(folder, stack.env)
            loading["as"] = None
            trader = ToyTrader(stack)
            trader.start_beating(0.5)
            try:
                _refreshers(handlers, FakeContext)
                # A venue with no timer (Bybit, Deribit) audits nothing while the trader lives: the
                # audit trail it is granted is written on a death. So the trader dies, every venue's
                # refresher runs once more to see it (the death's audit and sweep), and it beats
                # again for the controls.
                trader.die()
                _refreshers(handlers, FakeContext, delays=(0.0,))
                trader.start_beating(0.5)
                _controls(stack, handlers, proxy_event, FakeContext)
            finally:
                trader.writer.stop()
            _stream_functions(recorder)
        yield recorder.calls
    finally:
        aws.AwsJsonClient.call = real_call  # type: ignore[method-assign]
        wiring.lean_clients = real_lean  # type: ignore[assignment]
        wiring.lean_invoker = real_invoker  # type: ignore[assignment]


def _refreshers(
    handlers: dict[str, ModuleType], context: Any, delays: tuple[float, ...] = (0.0, 1.5, 3.0)
) -> None:
    """Per venue, a loop, a standby and a queued spare: the queued one's arrival makes the loop offer
    the lease (and poll for its acceptance), the standby take it, the queued one stand by. With one
    delay, one loop per venue."""
    threads = []
    for venue, name in REFRESHERS.items():
        for delay in delays:

            def invoke(name: str = name, venue: str = venue, delay: float = delay) -> None:
                time.sleep(delay)
                now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                event = {"venue": venue, "scheduled_time": now, "execution_id": f"{venue}-{delay}"}
                handlers[name].lambda_handler(event, context(f"deadman-{venue}", 14, threading.Event()))

            threads.append(threading.Thread(target=invoke, name=f"invoke-{venue}-{delay}"))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)


def _controls(stack: Any, handlers: dict[str, ModuleType], proxy_event: Any, context: Any) -> None:
    def api(function: str, method: str, path: str, body: Any = None) -> int:
        event = proxy_event(
            method, path, {"Content-Type": "application/json"}, json.dumps(body) if body else None
        )
        result = handlers[function].lambda_handler(event, context(function, 30, threading.Event()))
        return int(result["statusCode"])

    # An unreadable secret: the controls fall back to the switches the table holds (a Query).
    good = json.dumps(stack.secret_values()["hyperliquid"])
    stack.put_secret("hyperliquid", "{not json")
    try:
        assert api("KillFunction", "POST", "/kill", {"reason": "iam recording"}) in (200, 207)
        assert api("DisarmFunction", "POST", "/arm", {"reason": "iam recording"}) in (200, 207)
        assert api("DisarmFunction", "POST", "/disarm", {"reason": "iam recording", "for_seconds": 60}) in (
            200,
            207,
        )
    finally:
        stack.put_secret("hyperliquid", good)
    assert api("DisarmFunction", "GET", "/doctor") in (200, 207, 503)
    assert api("StatusFunction", "GET", "/status") == 200


def _stream_functions(recorder: Recorder) -> None:
    """The notifier's SNS publish and the archiver's S3 writes, recorded from their boto3 clients."""
    from sandbox.aws import patched_env

    sns = boto3.client("sns")
    topic = sns.create_topic(Name="alarms")["TopicArn"]
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="audit-copy", ObjectLockEnabledForBucket=True)
    recorder.names |= {topic: "AlarmTopic", "audit-copy": "AuditCopyBucket"}
    for name, folder, env in (
        ("NotifierFunction", "notifier", {"TOPIC_ARN": topic}),
        ("AuditArchiverFunction", "archiver", {"AUDIT_BUCKET": "audit-copy"}),
    ):
        from sandbox.local_api import load_function

        with patched_env(env):
            module = load_function(folder, env)
        client = module.sns if folder == "notifier" else module.archive._s3
        _record_boto3(client, name, recorder)
        event = json.loads((EVENTS / f"{folder}-audit-stream.json").read_text())
        module.lambda_handler(event, _StreamContext())


def _record_boto3(client: Any, function: str, recorder: Recorder) -> None:
    prefix = client.meta.service_model.signing_name

    def before(params: dict[str, Any], model: Any, **_: Any) -> None:
        physical = params.get("TopicArn") or params.get("Bucket")
        recorder.add(function, f"{prefix}:{model.name}", str(physical), params.get("Key"))

    client.meta.events.register("before-parameter-build", before)


class _StreamContext:
    function_name = "stream"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:stream"
    aws_request_id = "req-1"


# ----------------------------------------------------------------------------------------- grants
@dataclasses.dataclass(frozen=True)
class Grant:
    action: str
    resource: str
    keys: tuple[str, ...] | None  # LeadingKeys patterns; None: no such condition
    exact: bool  # StringEquals (else StringLike)
    prefix: str | None = None  # an S3 object ARN's key pattern

    def allows(self, call: Call) -> bool:
        if (call.action, call.resource) != (self.action, self.resource):
            return False
        if self.prefix is not None:
            return call.key is not None and fnmatch.fnmatchcase(call.key, self.prefix)
        if self.keys is None:
            return True
        return call.key is not None and any(self._match(call.key, k) for k in self.keys)

    def _match(self, key: str, pattern: str) -> bool:
        return key == pattern if self.exact else fnmatch.fnmatchcase(key, pattern)


def grants_of(template: dict[str, Any], function: str) -> list[Grant]:
    out = []
    for stmt in statements(functions(template)[function]):
        keys, exact = None, False
        for operator, condition in stmt.get("Condition", {}).items():
            if "dynamodb:LeadingKeys" in condition:
                keys = tuple(str(k) for k in as_list(condition["dynamodb:LeadingKeys"]))
                exact = operator.endswith("StringEquals")
        for resource in as_list(stmt["Resource"]):
            (logical,) = refs(resource) or {"?"}
            prefix = None
            sub = resource.get("Fn::Sub") if isinstance(resource, dict) else None
            if isinstance(sub, str) and ":function:${AWS::StackName}-refresher-" in sub:
                # A refresher's own ARN, by its name (it may call itself: a spare).
                logical = REFRESHERS[sub.rsplit("-refresher-", 1)[1]]
            elif isinstance(sub, str):
                prefix = sub.split("}/", 1)[1]  # "${Bucket.Arn}/audit/*" -> "audit/*"
            for action in as_list(stmt["Action"]):
                for key in keys or (None,):
                    out.append(Grant(action, logical, None if key is None else (key,), exact, prefix))
    return out


def test_every_function_was_driven(recorded: list[Call], template: dict[str, Any]) -> None:
    assert {c.function for c in recorded} == set(functions(template))


@pytest.mark.parametrize(
    "function", [*REFRESHERS.values(), *FUNCTION_DIRS, "NotifierFunction", "AuditArchiverFunction"]
)
def test_no_call_without_its_grant(recorded: list[Call], template: dict[str, Any], function: str) -> None:
    grants = grants_of(template, function)
    refused = sorted({(c.action, c.resource, c.key) for c in recorded if c.function == function
                      and not any(g.allows(c) for g in grants)}, key=str)  # fmt: skip
    assert not refused, f"{function} calls what IAM would refuse: {refused}"


@pytest.mark.parametrize(
    "function", [*REFRESHERS.values(), *FUNCTION_DIRS, "NotifierFunction", "AuditArchiverFunction"]
)
def test_no_grant_without_a_call(recorded: list[Call], template: dict[str, Any], function: str) -> None:
    mine = [c for c in recorded if c.function == function]
    unused = []
    for grant in grants_of(template, function):
        if grant.action.startswith("kms:"):
            # SNS calls KMS for whoever publishes to an encrypted topic: granted for that alone.
            topic = template["Resources"]["AlarmTopic"]["Properties"]
            assert grant.resource == "AlarmTopicKey" and topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
            assert any(c.action == "sns:Publish" for c in mine)
            continue
        if not any(grant.allows(c) for c in mine):
            unused.append((grant.action, grant.resource, grant.keys or grant.prefix))
    assert not unused, f"{function} is granted what its code never calls: {unused}"


def test_no_function_may_delete_an_item() -> None:
    """What the lean client can send at all: no delete, no transaction, no batch."""
    from deadman.stores.aws import AwsJsonClient

    operations = {name for name in vars(AwsJsonClient) if not name.startswith("_")} - {"call", "from_env"}
    assert operations == {"get_item", "put_item", "update_item", "query", "get_secret_value", "invoke_async"}


def test_each_refresher_reads_only_its_own_secret(recorded: list[Call]) -> None:
    for venue, name in REFRESHERS.items():
        read = {c.resource for c in recorded if c.function == name and c.action.startswith("secretsmanager:")}
        assert read == {f"{CAP[venue]}Secret"}
    assert {c.resource for c in recorded if c.function == "KillFunction" and "Secret" in c.resource} == {
        SECRETS[v] for v in VENUES
    }
