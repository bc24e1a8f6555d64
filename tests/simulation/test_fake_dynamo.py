"""FakeDynamo against moto: the same operations on both, the same answers, the same tables.

The real stores (SwitchStore, Lease, DynamoNonceSource, LivenessWriter/Reader) are built twice, once
over moto and once over the fake, driven through the same hypothesis-generated sequences and
compared after every step. Raw calls cover the expression grammar and the error shapes. Where moto
is known to differ from DynamoDB, the fake follows DynamoDB and the test says so.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.exceptions import ClientError, ParamValidationError, ReadTimeoutError
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.strategies import composite

import deadman.stores.switches
from deadman.core.policy import Mode
from deadman.stores.lease import Lease
from deadman.stores.liveness import LivenessReader, LivenessWriter
from deadman.stores.nonces import DynamoNonceSource
from deadman.stores.switches import Switch, SwitchStore
from sandbox.sim.dynamo import CallFault, FakeDynamo
from sandbox.tables import table_definitions

DEFINITIONS = table_definitions()
DIFFERENTIAL = settings(max_examples=40, deadline=None, derandomize=True)
REGION = "us-east-1"
_table_ids = itertools.count()


# -- moto, in process ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto() -> Iterator[Any]:
    from moto import mock_aws

    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
            mp.delenv(name, raising=False)
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            mp.setenv(name, value)
        with mock_aws():
            yield boto3.client("dynamodb", region_name=REGION)


@dataclasses.dataclass
class Pair:
    moto: Any
    fake: FakeDynamo
    control: str
    liveness: str

    def both(self, fn: Callable[[Any], Any]) -> tuple[Any, Any]:
        return outcome(lambda: fn(self.moto)), outcome(lambda: fn(self.fake))

    def same(self, fn: Callable[[Any], Any]) -> Any:
        """Run on both clients, insist on the same answer (or the same error code); return it."""
        on_moto, on_fake = self.both(fn)
        assert on_fake == on_moto
        return on_fake

    def assert_tables_equal(self) -> None:
        for table in (self.control, self.liveness):
            assert sorted_items(self.fake.items(table)) == sorted_items(scan_all(self.moto, table))


@contextmanager
def pair(moto_client: Any) -> Iterator[Pair]:
    """Fresh, identically named ControlTable and LivenessTable in moto and in a new FakeDynamo."""
    n = next(_table_ids)
    names = {"ControlTable": f"Control{n}", "LivenessTable": f"Liveness{n}"}
    for logical, props in DEFINITIONS.items():
        if logical in names:
            moto_client.create_table(
                TableName=names[logical],
                KeySchema=props["KeySchema"],
                AttributeDefinitions=props["AttributeDefinitions"],
                BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
            )
    fake = FakeDynamo()
    fake.create_tables_from_template(names, DEFINITIONS)
    try:
        yield Pair(moto_client, fake, names["ControlTable"], names["LivenessTable"])
    finally:
        for name in names.values():
            moto_client.delete_table(TableName=name)


def outcome(fn: Callable[[], Any]) -> Any:
    """The answer without ResponseMetadata, or ("error", code) for a ClientError."""
    try:
        result = fn()
    except ClientError as exc:
        return ("error", exc.response["Error"]["Code"])
    if isinstance(result, dict):
        # moto adds ConsumedCapacity unasked; DynamoDB sends it only for ReturnConsumedCapacity.
        result = {k: v for k, v in result.items() if k not in ("ResponseMetadata", "ConsumedCapacity")}
    return ("ok", result)


def scan_all(client: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def sorted_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def key(item: dict[str, Any]) -> tuple[str, ...]:
        return tuple(str(item[k]) for k in ("pk", "sk", "system") if k in item)

    return sorted(items, key=key)


def put(table: str, item: dict[str, Any], client: Any) -> Any:
    return client.put_item(TableName=table, Item=item)


def error_code(exc: BaseException) -> str | None:
    return exc.response["Error"]["Code"] if isinstance(exc, ClientError) else None


def call(fn: Callable[[], Any]) -> Any:
    """A store call's result, or its exception as (type name, error code) for comparison."""
    try:
        return ("ok", fn())
    except Exception as exc:
        return ("raised", type(exc).__name__, error_code(exc))


# -- SwitchStore --------------------------------------------------------------------------------------

ACCOUNTS = ("a1", "a2", "a3")
VENUES = ("kraken", "gemini")

switch_ops = st.lists(
    st.one_of(
        st.tuples(st.just("get"), st.sampled_from(VENUES), st.sampled_from(ACCOUNTS)),
        st.tuples(
            st.just("put"),
            st.sampled_from(VENUES),
            st.sampled_from(ACCOUNTS),
            st.integers(0, 3),
            st.sampled_from([Mode.ARMED, Mode.DISARMED, Mode.KILLED]),
            st.one_of(st.none(), st.integers(0, 10**13)),
            st.sampled_from(["", "maintenance", "ünïcode ✓"]),
        ),
        st.tuples(st.just("put_read"), st.sampled_from(VENUES), st.sampled_from(ACCOUNTS), st.booleans()),
        st.tuples(
            st.just("latch"),
            st.sampled_from(VENUES),
            st.sampled_from(ACCOUNTS),
            st.sampled_from(["ops", "alice"]),
            st.integers(1, 10**13),
        ),
        st.tuples(
            st.just("audit"),
            st.sampled_from(VENUES),
            st.sampled_from(ACCOUNTS),
            st.sampled_from(["kill", "arm", "disarm"]),
            st.integers(1_700_000_000_000, 1_700_000_000_010),
            st.dictionaries(st.sampled_from(["x", "y"]), st.integers(-5, 5), max_size=2),
        ),
        st.tuples(st.just("recent"), st.sampled_from(VENUES), st.sampled_from(ACCOUNTS), st.integers(1, 4)),
        st.tuples(st.just("list"), st.sampled_from(VENUES)),
    ),
    min_size=1,
    max_size=14,
)


class FixedUuids:
    """Audit sort keys carry uuid4() (and, in newer switches.py, a process-wide sequence number):
    both stores must draw the same ones."""

    def __init__(self) -> None:
        self.value = 0

    def uuid4(self) -> uuid.UUID:
        return uuid.UUID(int=self.value)

    def __iter__(self) -> FixedUuids:
        return self

    def __next__(self) -> int:
        return self.value


@contextmanager
def fixed_audit_ids(uuids: FixedUuids) -> Iterator[None]:
    with ExitStack() as stack:
        if hasattr(deadman.stores.switches, "uuid"):  # before the hash chain made audit keys positions
            stack.enter_context(mock.patch.object(deadman.stores.switches, "uuid", uuids))
        if hasattr(deadman.stores.switches, "_AUDIT_SEQ"):
            stack.enter_context(mock.patch.object(deadman.stores.switches, "_AUDIT_SEQ", uuids))
        yield


def switch_step(store: SwitchStore, op: tuple[Any, ...]) -> Any:
    kind, venue, *args = op
    if kind == "get":
        return call(lambda: store.get(venue, args[0]))
    if kind == "put":
        account, version, mode, until, reason = args
        switch = Switch(venue, account, mode=mode, version=version, disarmed_until_ms=until, reason=reason)
        return call(lambda: store.put(switch))
    if kind == "put_read":
        account, bump = args

        def read_then_put() -> Switch:
            read = store.get(venue, account)
            count = read.triggers_count + 1 if bump else read.triggers_count
            return store.put(dataclasses.replace(read, triggers_count=count, native_available=not bump))

        return call(read_then_put)
    if kind == "latch":
        account, actor, now_ms = args
        return call(lambda: store.latch_kill(venue, account, actor=actor, reason="panic", now_ms=now_ms))
    if kind == "audit":
        account, action, now_ms, details = args
        return call(
            lambda: store.audit(
                venue,
                account,
                action=action,
                actor="ops",
                reason="",
                result="ok",
                now_ms=now_ms,
                details=details,
            )
        )
    if kind == "recent":
        account, limit = args
        return call(lambda: store.recent_audit(venue, account, limit=limit))
    return call(lambda: store.list_venue(venue))


@given(ops=switch_ops)
@DIFFERENTIAL
def test_switch_store_matches_moto(moto: Any, ops: list[tuple[Any, ...]]) -> None:
    uuids = FixedUuids()
    with pair(moto) as p, fixed_audit_ids(uuids):
        stores = (SwitchStore(p.control, client=p.moto), SwitchStore(p.control, client=p.fake))
        for step, op in enumerate(ops):
            results = []
            for store in stores:
                uuids.value = step
                results.append(switch_step(store, op))
            assert results[1] == results[0], op
            p.assert_tables_equal()
        assert p.fake.validation_errors == []


# -- Lease --------------------------------------------------------------------------------------------

TTL_MS = 300

lease_ops = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.sampled_from([0, 1, 50, 150, 299, 300, 301, 700])),
        st.tuples(
            st.sampled_from(["join", "renew", "release", "poll", "offer"]),
            st.sampled_from(["A", "B", "C", "D"]),
        ),
        st.tuples(
            st.just("await"), st.sampled_from(["A", "B", "C", "D"]), st.sampled_from([0, 100, 250, 600])
        ),
    ),
    min_size=1,
    max_size=16,
)


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += round(seconds * 1000)


def lease_step(leases: dict[str, Lease], clock: Clock, op: tuple[Any, ...]) -> Any:
    if op[0] == "advance":
        clock.now += op[1]
        return None
    if op[0] == "await":
        start = clock.now
        return call(
            lambda: leases[op[1]].wait_turn(sleep=clock.sleep, must_leave=lambda: clock.now - start >= op[2])
        )
    if op[0] == "offer":
        return call(lambda: leases[op[1]].hand_over(tick_at_ms=clock.now + 1_000, sleep=clock.sleep))
    return call(getattr(leases[op[1]], op[0]))


@given(ops=lease_ops)
@DIFFERENTIAL
def test_lease_races_match_moto(moto: Any, ops: list[tuple[Any, ...]]) -> None:
    with pair(moto) as p:
        clocks = (Clock(1_000_000), Clock(1_000_000))
        sides = [
            {o: Lease(p.control, "kraken", o, clock=clock, ttl_ms=TTL_MS, client=c) for o in "ABCD"}
            for clock, c in zip(clocks, (p.moto, p.fake), strict=True)
        ]
        key = {"pk": {"S": "LEASE#kraken"}, "sk": {"S": "#"}}
        for op in ops:
            results = [lease_step(leases, clock, op) for leases, clock in zip(sides, clocks, strict=True)]
            assert results[1] == results[0], op
            assert clocks[1].now == clocks[0].now
            p.same(lambda c: c.get_item(TableName=p.control, Key=key, ConsistentRead=True))
        assert p.fake.validation_errors == []


def test_a_taken_offer_moves_the_queued_spare_into_the_standbys_place() -> None:
    """The take's one write: holder, the queued spare as standby, the offer and the queue gone."""
    fake = FakeDynamo()
    fake.create_table("Control", "pk", "sk", "expires_at")
    clock = Clock(10_000)
    a, b, c = (Lease("Control", "kraken", o, clock=clock, ttl_ms=TTL_MS, client=fake) for o in "ABC")
    assert [x.join().value for x in (a, b, c)] == ["loop", "spare", "spare"]
    assert a.renew().value == "keep"
    assert a.hand_over(tick_at_ms=11_000, sleep=lambda s: b.poll())
    row = fake.get_raw("Control", {"pk": {"S": "LEASE#kraken"}, "sk": {"S": "#"}})
    assert row == {
        "pk": {"S": "LEASE#kraken"},
        "sk": {"S": "#"},
        "holder": {"S": "B"},
        "holder_until_ms": {"N": str(10_000 + TTL_MS)},
        "standby": {"S": "C"},
        "standby_until_ms": {"N": str(10_000 + 3_000)},
    }
    assert b.tick_at_ms == 11_000


# -- DynamoNonceSource --------------------------------------------------------------------------------


class Interleaving:
    """A client proxy that runs another caller's whole `next()` just before the Nth UpdateItem,
    so the same interleaving of two processes happens on both backends."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls = 0
        self.interrupt: tuple[int, Callable[[], Any]] | None = None
        self.interrupt_result: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def update_item(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.interrupt is not None and self.interrupt[0] == self.calls:
            _, fn = self.interrupt
            self.interrupt = None
            self.interrupt_result = call(fn)
        return self.client.update_item(**kwargs)


nonce_ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("next"),
            st.sampled_from([0, 1]),
            st.sampled_from(["k1", "k2"]),
            st.integers(0, 30),
            st.one_of(st.none(), st.integers(1, 2)),
            st.integers(0, 30),
        ),
        st.tuples(st.just("vanish"), st.sampled_from(["k1", "k2"])),
    ),
    min_size=1,
    max_size=14,
)


def nonce_step(table: str, sources: list[DynamoNonceSource], op: tuple[Any, ...]) -> Any:
    if op[0] == "vanish":
        client = sources[0]._client.client
        key = {"pk": {"S": f"NONCE#{op[1]}"}, "sk": {"S": "#"}}
        return outcome(lambda: client.delete_item(TableName=table, Key=key))
    _, who, key_id, floor, interrupt_at, other_floor = op
    me, other = sources[who], sources[1 - who]
    proxy: Interleaving = me._client
    proxy.interrupt_result = None
    if interrupt_at is not None:
        proxy.interrupt = (proxy.calls + interrupt_at, lambda: other.next(key_id, other_floor))
    mine = call(lambda: me.next(key_id, floor))
    proxy.interrupt = None
    return (mine, proxy.interrupt_result)


@given(ops=nonce_ops)
@DIFFERENTIAL
def test_contended_nonces_match_moto(moto: Any, ops: list[tuple[Any, ...]]) -> None:
    with pair(moto) as p:
        sides = [
            [DynamoNonceSource(p.control, client=Interleaving(client)) for _ in range(2)]
            for client in (p.moto, p.fake)
        ]
        issued: dict[str, list[int]] = {"k1": [], "k2": []}
        for op in ops:
            results = [nonce_step(p.control, sources, op) for sources in sides]
            assert results[1] == results[0], op
            if op[0] == "next":
                mine, theirs = results[0]
                for got in (theirs, mine):  # the interrupting call finished first
                    if got is not None and got[0] == "ok":
                        issued[op[2]].append(got[1])
            p.assert_tables_equal()
        # Without a vanished row in between, a key's nonces only ever go up.
        if not any(op[0] == "vanish" for op in ops):
            for values in issued.values():
                assert values == sorted(values) and len(set(values)) == len(values)
        assert p.fake.validation_errors == []


# -- liveness -----------------------------------------------------------------------------------------

liveness_ops = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["beat", "stop", "read"]), st.sampled_from(["t1", "t2", "ghost"])),
        st.tuples(st.just("advance"), st.sampled_from([0, 1, 999, 5000])),
    ),
    min_size=1,
    max_size=14,
)


def liveness_step(
    writers: dict[str, LivenessWriter], reader: LivenessReader, clock: Clock, op: tuple[Any, ...]
) -> Any:
    if op[0] == "advance":
        clock.now += op[1]
        return None
    if op[0] == "beat":
        return call(writers[op[1]].beat)
    if op[0] == "stop":
        return call(writers[op[1]].stop_running)
    return call(lambda: reader.read(op[1]))


@given(ops=liveness_ops)
@DIFFERENTIAL
def test_liveness_rows_match_moto(moto: Any, ops: list[tuple[Any, ...]]) -> None:
    with pair(moto) as p:
        clocks = (Clock(1_800_000_000_000), Clock(1_800_000_000_000))
        sides = []
        for client, clock in zip((p.moto, p.fake), clocks, strict=True):
            writers = {
                s: LivenessWriter(p.liveness, s, host="host-1", clock=clock, ttl_s=60, client=client)
                for s in ("t1", "t2", "ghost")
            }
            sides.append((writers, LivenessReader(p.liveness, client=client), clock))
        for op in ops:
            results = [liveness_step(writers, reader, clock, op) for writers, reader, clock in sides]
            assert results[1] == results[0], op
            p.assert_tables_equal()
        assert p.fake.validation_errors == []


# -- the expression grammar, raw ----------------------------------------------------------------------

VALUES = {
    ":n1": {"N": "1"},
    ":n5": {"N": "5"},
    ":neg": {"N": "-2.5"},
    ":sa": {"S": "a"},
    ":sab": {"S": "ab"},
    ":sb": {"S": "b"},
    ":t": {"BOOL": True},
}
attribute_values: st.SearchStrategy[dict[str, Any]] = st.sampled_from(
    [
        {"N": "1"},
        {"N": "5"},
        {"N": "-2.5"},
        {"S": "a"},
        {"S": "ab"},
        {"S": "b"},
        {"BOOL": True},
        {"NULL": True},
    ]
)
ordered_values: st.SearchStrategy[dict[str, Any]] = st.sampled_from(
    [{"N": "1"}, {"N": "5"}, {"N": "-2.5"}, {"S": "a"}, {"S": "ab"}, {"S": "b"}]
)


def items_of(values: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={"a": values, "b": values, "c": values, "mode": values})


# Conditions run over S and N attributes only: moto orders BOOL against numbers (True > -2.5),
# crashes ordering BOOL against strings, and takes NULL for missing. DynamoDB's answer for those
# (false, false, not equal) is checked on the fake alone in test_unordered_types_never_compare.
condition_items = items_of(ordered_values)
stored_items = items_of(attribute_values)
paths = st.sampled_from(["a", "b", "c", "#m"])
between_bounds = st.sampled_from(
    [(":n1", ":n5"), (":neg", ":n1"), (":n5", ":n5"), (":sa", ":sab"), (":sab", ":sb"), (":sa", ":sa")]
)
operands = st.one_of(paths, st.sampled_from(list(VALUES)))
ordered_operands = st.one_of(paths, st.sampled_from([":n1", ":n5", ":neg", ":sa", ":sab", ":sb"]))


@composite
def conditions(draw: Any, depth: int = 0) -> str:
    choices = ["cmp", "exists", "between", "begins"] + (["and", "or", "not", "group"] if depth < 3 else [])
    kind = draw(st.sampled_from(choices))
    if kind == "cmp":
        op = draw(st.sampled_from(["=", "<>", "<", "<=", ">", ">="]))
        # An ordering against a BOOL value is refused by DynamoDB and evaluated by moto; covered by
        # test_ordering_against_an_unordered_value_is_refused instead.
        right = draw(operands if op in ("=", "<>") else ordered_operands)
        return f"{draw(paths)} {op} {right}"
    if kind == "exists":
        return f"{draw(st.sampled_from(['attribute_exists', 'attribute_not_exists']))}({draw(paths)})"
    if kind == "between":
        # Only well-formed bounds: moto evaluates reversed or mixed-type bounds, DynamoDB refuses them
        # (test_between_bounds_must_be_ordered_and_alike covers that on the fake).
        low, high = draw(between_bounds)
        return f"{draw(paths)} BETWEEN {low} AND {high}"
    if kind == "begins":
        return f"begins_with({draw(paths)}, {draw(st.sampled_from([':sa', ':sab', ':sb']))})"
    if kind in ("and", "or"):
        word = draw(st.sampled_from([kind.upper(), kind.lower()]))
        return f"{draw(conditions(depth + 1))} {word} {draw(conditions(depth + 1))}"
    if kind == "not":
        inner = draw(conditions(depth + 1))
        # moto cannot parse NOT NOT x (a ValueError inside moto); DynamoDB's grammar allows it.
        return f"NOT ({inner})" if inner.startswith("NOT ") else f"NOT {inner}"
    return f"({draw(conditions(depth + 1))})"


@composite
def existence_conditions(draw: Any, depth: int = 0) -> str:
    kind = draw(st.sampled_from(["exists", "and", "or", "not"] if depth < 2 else ["exists"]))
    if kind == "exists":
        return f"{draw(st.sampled_from(['attribute_exists', 'attribute_not_exists']))}({draw(paths)})"
    if kind == "not":
        return f"NOT ({draw(existence_conditions(depth + 1))})"
    left, right = draw(existence_conditions(depth + 1)), draw(existence_conditions(depth + 1))
    return f"{left} {kind.upper()} {right}"


def placeholders(expression: str, *, extra_value: bool = False) -> dict[str, Any]:
    names = {"#m": "mode"} if "#m" in expression else {}
    values = {ref: v for ref, v in VALUES.items() if re_ref(ref).search(expression)}
    if extra_value:
        values[":unused"] = {"S": "x"}
    out: dict[str, Any] = {}
    if names:
        out["ExpressionAttributeNames"] = names
    if values:
        out["ExpressionAttributeValues"] = values
    return out


def re_ref(ref: str) -> Any:
    import re

    return re.compile(re.escape(ref) + r"(?![A-Za-z0-9_])")


KEY = {"pk": {"S": "P"}, "sk": {"S": "s"}}


@given(item=condition_items, condition=conditions(), exists=st.booleans(), extra=st.booleans())
@DIFFERENTIAL
def test_condition_expressions_match_moto(
    moto: Any, item: dict[str, Any], condition: str, exists: bool, extra: bool
) -> None:
    with pair(moto) as p:
        if exists:
            p.same(lambda c: c.put_item(TableName=p.control, Item={**KEY, **item}))
        new = {**KEY, "written": {"S": "yes"}}
        request = {
            "TableName": p.control,
            "Item": new,
            "ConditionExpression": condition,
            **placeholders(condition, extra_value=extra),
        }
        try:
            on_moto = outcome(lambda: p.moto.put_item(**request))
        except (TypeError, ValueError, AssertionError):
            # moto crashes comparing different types with < (DynamoDB: false, never an error).
            assert outcome(lambda: p.fake.put_item(**request))[1] in ({}, "ConditionalCheckFailedException")
            return
        on_fake = outcome(lambda: p.fake.put_item(**request))
        if extra and (on_moto[0] == "ok" or on_moto == ("error", "ConditionalCheckFailedException")):
            # moto does not check PutItem's ExpressionAttributeValues for unused keys; DynamoDB
            # refuses the request before looking at the item.
            assert on_fake == ("error", "ValidationException")
            p.moto.delete_item(TableName=p.control, Key=KEY)
            p.fake.delete_item(TableName=p.control, Key=KEY)
        else:
            assert on_fake == on_moto
        p.assert_tables_equal()


update_actions = st.one_of(
    st.tuples(st.just("SET"), paths, operands),
    st.tuples(st.just("SET"), paths, st.tuples(paths, st.sampled_from(["+", "-"]), operands)),
    st.tuples(st.just("SET"), paths, st.tuples(st.just("if_not_exists"), paths, operands)),
    st.tuples(st.just("REMOVE"), paths),
    st.tuples(st.just("ADD"), paths, st.sampled_from([":n1", ":neg"])),
)


def render_update(actions: list[tuple[Any, ...]], order: list[str]) -> str:
    clauses: dict[str, list[str]] = {}
    for action in actions:
        if action[0] == "SET":
            rhs = action[2]
            if isinstance(rhs, tuple) and rhs[0] == "if_not_exists":
                text = f"if_not_exists({rhs[1]}, {rhs[2]})"
            elif isinstance(rhs, tuple):
                text = f"{rhs[0]} {rhs[1]} {rhs[2]}"
            else:
                text = rhs
            clauses.setdefault("SET", []).append(f"{action[1]} = {text}")
        elif action[0] == "REMOVE":
            clauses.setdefault("REMOVE", []).append(action[1])
        else:
            clauses.setdefault("ADD", []).append(f"{action[1]} {action[2]}")
    return " ".join(f"{word} {', '.join(clauses[word])}" for word in order if word in clauses)


@given(
    item=stored_items,
    exists=st.booleans(),
    actions=st.lists(update_actions, min_size=1, max_size=4),
    order=st.permutations(["SET", "REMOVE", "ADD"]),
    returns=st.sampled_from(["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"]),
    condition=st.one_of(st.none(), existence_conditions()),
)
@DIFFERENTIAL
def test_update_expressions_match_moto(
    moto: Any,
    item: dict[str, Any],
    exists: bool,
    actions: list[tuple[Any, ...]],
    order: list[str],
    returns: str,
    condition: str | None,
) -> None:
    expression = render_update(actions, order)
    touched = [action[1] for action in actions]
    names = [{"#m": "mode"}.get(t, t) for t in touched]
    with pair(moto) as p:
        if exists:
            p.same(lambda c: c.put_item(TableName=p.control, Item={**KEY, **item}))
        before = p.fake.get_raw(p.control, KEY)
        extra = {"ConditionExpression": condition} if condition else {}
        request = {
            "TableName": p.control,
            "Key": KEY,
            "UpdateExpression": expression,
            "ReturnValues": returns,
            **extra,
            **placeholders(expression + " " + (condition or "")),
        }
        on_moto, on_fake = p.both(lambda c: c.update_item(**request))
        p.assert_tables_equal()
        if len(set(names)) < len(names):
            # Two actions on one attribute: DynamoDB refuses the expression before it reads the
            # item; moto evaluates the condition first and may answer ConditionalCheckFailed.
            assert on_fake == ("error", "ValidationException")
        elif returns.startswith("UPDATED_") and on_moto[0] == "ok":
            # moto leaves out attributes whose value did not change, and returns the key attributes
            # of an item the update created; DynamoDB returns exactly the attributes the expression
            # names. The items agree (checked above), so check the fake against them.
            assert on_fake[0] == "ok"
            after = p.fake.get_raw(p.control, KEY)
            assert after is not None
            if returns == "UPDATED_NEW":
                expected: Any = {"Attributes": {n: after[n] for n in names if n in after}}
            elif before is None:
                expected = {}
            else:
                expected = {"Attributes": {n: before[n] for n in names if n in before}}
            assert on_fake[1] == expected
        else:
            assert on_fake == on_moto


# -- query --------------------------------------------------------------------------------------------

sort_keys = st.lists(st.text(alphabet="ab#0123", min_size=1, max_size=4), unique=True, max_size=7)
range_conditions = st.one_of(
    st.none(),
    st.tuples(
        st.sampled_from(["=", "<", "<=", ">", ">="]), st.text(alphabet="ab#0123", min_size=1, max_size=3)
    ),
    st.tuples(st.just("begins_with"), st.text(alphabet="ab#0123", min_size=1, max_size=2)),
    # Ordered bounds only: reversed ones are refused by DynamoDB, evaluated by moto (see
    # REFUSED_BY_DYNAMODB_ONLY).
    st.sampled_from(
        [("BETWEEN", "0", "3"), ("BETWEEN", "1", "b"), ("BETWEEN", "3", "a"), ("BETWEEN", "a", "b#")]
    ),
)


@given(
    keys=sort_keys,
    others=sort_keys,
    forward=st.sampled_from([None, True, False]),
    limit=st.one_of(st.none(), st.integers(1, 4)),
    range_condition=range_conditions,
)
@DIFFERENTIAL
def test_query_pages_match_moto(
    moto: Any,
    keys: list[str],
    others: list[str],
    forward: bool | None,
    limit: int | None,
    range_condition: tuple[str, ...] | None,
) -> None:
    with pair(moto) as p:
        for pk, sks in (("AUDIT#x", keys), ("AUDIT#y", others)):
            for n, sk in enumerate(sks):
                item = {"pk": {"S": pk}, "sk": {"S": sk}, "n": {"N": str(n)}}
                p.same(functools.partial(put, p.control, item))
        expression = "pk = :pk"
        values: dict[str, Any] = {":pk": {"S": "AUDIT#x"}}
        if range_condition is not None:
            op, *bounds = range_condition
            if op == "begins_with":
                expression += " AND begins_with(sk, :lo)"
            elif op == "BETWEEN":
                expression += " AND #s BETWEEN :lo AND :hi"
            else:
                expression += f" AND sk {op} :lo"
            values[":lo"] = {"S": bounds[0]}
            if op == "BETWEEN":
                values[":hi"] = {"S": bounds[1]}
        kwargs: dict[str, Any] = {
            "TableName": p.control,
            "KeyConditionExpression": expression,
            "ExpressionAttributeValues": values,
        }
        if "#s" in expression:
            kwargs["ExpressionAttributeNames"] = {"#s": "sk"}
        if forward is not None:
            kwargs["ScanIndexForward"] = forward
        if limit is not None:
            kwargs["Limit"] = limit
        pages: dict[str, list[Any]] = {"moto": [], "fake": []}
        for name, client in (("moto", p.moto), ("fake", p.fake)):
            args = dict(kwargs)
            while True:
                answer = outcome(functools.partial(client.query, **args))
                pages[name].append(answer)
                if answer[0] != "ok" or "LastEvaluatedKey" not in answer[1]:
                    break
                args["ExclusiveStartKey"] = answer[1]["LastEvaluatedKey"]
        # moto only gives a cursor when more items remain; DynamoDB gives one whenever it stopped at
        # Limit, and the next page then comes back empty. Everything else must match page by page.
        fake_pages, moto_pages = pages["fake"], pages["moto"]
        if len(fake_pages) == len(moto_pages) + 1:
            assert fake_pages[-1] == ("ok", {"Items": [], "Count": 0, "ScannedCount": 0})
            cursor = fake_pages[-2][1].pop("LastEvaluatedKey")
            assert limit is not None and fake_pages[-2][1]["Count"] == limit
            assert cursor == {k: fake_pages[-2][1]["Items"][-1][k] for k in ("pk", "sk")}
            fake_pages = fake_pages[:-1]
        assert fake_pages == moto_pages


def test_query_limit_cursor_follows_dynamodb_not_moto() -> None:
    fake = FakeDynamo()
    fake.create_table("Control", "pk", "sk")
    for sk in ("1", "2"):
        fake.put_item(TableName="Control", Item={"pk": {"S": "P"}, "sk": {"S": sk}})
    query = {
        "TableName": "Control",
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": "P"}},
    }
    first = fake.query(**query, Limit=2)
    assert first["Count"] == 2 and first["LastEvaluatedKey"] == {"pk": {"S": "P"}, "sk": {"S": "2"}}
    assert fake.query(**query, Limit=2, ExclusiveStartKey=first["LastEvaluatedKey"]) == {
        "Items": [],
        "Count": 0,
        "ScannedCount": 0,
    }
    assert "LastEvaluatedKey" not in fake.query(**query, Limit=3)


@pytest.mark.parametrize("limit", [None, 1, 2, 5])
def test_scan_pages_match_moto(moto: Any, limit: int | None) -> None:
    with pair(moto) as p:
        for pk, sk in itertools.product(["A", "B"], ["1", "2"]):
            p.same(functools.partial(put, p.control, {"pk": {"S": pk}, "sk": {"S": sk}}))
        pages: dict[str, list[list[Any]]] = {}
        for name, client in (("moto", p.moto), ("fake", p.fake)):
            args: dict[str, Any] = {"TableName": p.control, **({"Limit": limit} if limit else {})}
            pages[name] = []
            while True:
                page = client.scan(**args)
                assert page["Count"] == len(page["Items"]) <= (limit or 4)
                pages[name].append(page["Items"])
                if "LastEvaluatedKey" not in page:
                    break
                args["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        # Scan order is unspecified (hash order on DynamoDB); the union must match.
        flat = {name: [item for page in found for item in page] for name, found in pages.items()}
        assert sorted_items(flat["fake"]) == sorted_items(flat["moto"])
        if limit == 2:
            assert [len(items) for items in pages["fake"]] == [2, 2, 0]  # a cursor at the exact end


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"ReturnValues": "ALL_OLD"},
        {"ConditionExpression": "attribute_exists(pk)", "ReturnValues": "ALL_OLD"},
        {"ConditionExpression": "v = :v", "ExpressionAttributeValues": {":v": {"N": "2"}}},
        {"ConditionExpression": "v = :v", "ExpressionAttributeValues": {":v": {"N": "1.0"}}},
    ],
)
@pytest.mark.parametrize("exists", [False, True])
def test_delete_item_matches_moto(moto: Any, params: dict[str, Any], exists: bool) -> None:
    with pair(moto) as p:
        if exists:
            p.same(lambda c: c.put_item(TableName=p.control, Item={**KEY, "v": {"N": "1"}}))
        p.same(lambda c: c.delete_item(TableName=p.control, Key=KEY, **params))
        p.assert_tables_equal()


def test_number_range_keys_sort_numerically() -> None:
    fake = FakeDynamo()
    fake.create_table("Nums", "pk", "n", range_type="N")
    for n in ("10", "9", "-1", "2.5", "100"):
        fake.put_item(TableName="Nums", Item={"pk": {"S": "p"}, "n": {"N": n}})
    answer = fake.query(
        TableName="Nums",
        KeyConditionExpression="pk = :p AND n > :zero",
        ExpressionAttributeValues={":p": {"S": "p"}, ":zero": {"N": "0"}},
        ScanIndexForward=False,
    )
    assert [item["n"]["N"] for item in answer["Items"]] == ["100", "10", "9", "2.5"]


# -- refusals -----------------------------------------------------------------------------------------


def update(expression: str, **values: dict[str, str]) -> dict[str, Any]:
    params: dict[str, Any] = {"Key": KEY, "UpdateExpression": expression}
    if values:
        params["ExpressionAttributeValues"] = {f":{k}": v for k, v in values.items()}
    return params


def query(expression: str, **values: dict[str, str]) -> dict[str, Any]:
    return {
        "KeyConditionExpression": expression,
        "ExpressionAttributeValues": {f":{k}": v for k, v in values.items()},
    }


X = {"S": "x"}
P = {"S": "P"}

# Refused by DynamoDB and by moto alike: compared on both.
REFUSED_BY_BOTH: list[tuple[str, str, dict[str, Any]]] = [
    ("unknown table", "get_item", {"TableName": "Nope", "Key": KEY}),
    ("key missing sk", "get_item", {"Key": {"pk": P}}),
    ("key with extra attribute", "get_item", {"Key": {**KEY, "x": X}}),
    ("item without its key", "put_item", {"Item": {"pk": P}}),
    ("empty string key", "put_item", {"Item": {"pk": {"S": ""}, "sk": {"S": "s"}}}),
    ("unused value", "update_item", update("REMOVE a", x=X)),
    (
        "unused name",
        "put_item",
        {
            "Item": KEY,
            "ConditionExpression": "attribute_not_exists(pk)",
            "ExpressionAttributeNames": {"#x": "x"},
        },
    ),
    ("reserved word", "update_item", update("SET mode = :m", m=X)),
    (
        "reserved word in a condition",
        "put_item",
        {"Item": KEY, "ConditionExpression": "attribute_not_exists(last)"},
    ),
    ("key attribute updated", "update_item", update("SET sk = :m", m=X)),
    ("overlapping paths", "update_item", update("SET a = :m REMOVE a", m=X)),
    ("SET twice", "update_item", update("SET a = :m SET b = :m", m=X)),
    ("empty values", "update_item", {**update("REMOVE a"), "ExpressionAttributeValues": {}}),
    ("syntax error", "update_item", update("SET a = = :m", m=X)),
    ("missing comma", "update_item", update("SET a = :m b = :m", m=X)),
    ("arithmetic on a string", "update_item", update("SET a = :m + :m", m=X)),
    ("redundant parentheses", "put_item", {"Item": KEY, "ConditionExpression": "((attribute_exists(a)))"}),
    ("bad ReturnValues for put", "put_item", {"Item": KEY, "ReturnValues": "ALL_NEW"}),
    ("query on a non-key attribute", "query", query("a = :p", p=P)),
    ("query without the hash key", "query", query("sk = :s", s={"S": "s"})),
]

# Refused by DynamoDB, accepted (or crashed on, or half-applied) by moto 5.2: checked on the fake.
REFUSED_BY_DYNAMODB_ONLY: list[tuple[str, str, dict[str, Any]]] = [
    ("key of the wrong type", "get_item", {"Key": {"pk": {"N": "1"}, "sk": {"S": "s"}}}),
    ("undefined value", "put_item", {"Item": KEY, "ConditionExpression": "a = :x"}),
    ("undefined name", "put_item", {"Item": KEY, "ConditionExpression": "attribute_exists(#x)"}),
    (
        "unused value in a put",
        "put_item",
        {
            "Item": KEY,
            "ConditionExpression": "attribute_not_exists(pk)",
            "ExpressionAttributeValues": {":x": X},
        },
    ),
    ("trailing garbage", "put_item", {"Item": KEY, "ConditionExpression": "attribute_exists(a) b"}),
    ("empty condition", "put_item", {"Item": KEY, "ConditionExpression": ""}),
    ("ADD a string (moto writes the item anyway)", "update_item", update("ADD a :m", m=X)),
    (
        "ordering against a BOOL",
        "put_item",
        {"Item": KEY, "ConditionExpression": "a > :t", "ExpressionAttributeValues": {":t": {"BOOL": True}}},
    ),
    (
        "begins_with a number",
        "put_item",
        {
            "Item": KEY,
            "ConditionExpression": "begins_with(a, :n)",
            "ExpressionAttributeValues": {":n": {"N": "1"}},
        },
    ),
    (
        "BETWEEN reversed bounds",
        "put_item",
        {
            "Item": KEY,
            "ConditionExpression": "a BETWEEN :hi AND :lo",
            "ExpressionAttributeValues": {":lo": {"N": "1"}, ":hi": {"N": "5"}},
        },
    ),
    (
        "BETWEEN mixed bounds",
        "put_item",
        {
            "Item": KEY,
            "ConditionExpression": "a BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {":lo": {"N": "1"}, ":hi": {"S": "5"}},
        },
    ),
    ("query with OR", "query", query("pk = :p OR pk = :p", p=P)),
    ("query with a number for a string key", "query", query("pk = :p", p={"N": "1"})),
    ("query with <> on the range key", "query", query("pk = :p AND sk <> :s", p=P, s={"S": "s"})),
    (
        "query with a reversed BETWEEN",
        "query",
        query("pk = :p AND sk BETWEEN :b AND :a", p=P, a={"S": "a"}, b={"S": "b"}),
    ),
]


@pytest.mark.parametrize(("what", "method", "params"), REFUSED_BY_BOTH, ids=[b[0] for b in REFUSED_BY_BOTH])
def test_refusals_match_moto(moto: Any, what: str, method: str, params: dict[str, Any]) -> None:
    with pair(moto) as p:
        request = {"TableName": p.control, **params}
        on_moto, on_fake = p.both(lambda c: getattr(c, method)(**request))
        assert on_moto[0] == "error", f"moto accepted {what}"
        assert on_fake == on_moto
        p.assert_tables_equal()
        assert p.fake.validation_errors or on_fake[1] != "ValidationException"


@pytest.mark.parametrize(
    ("what", "method", "params"), REFUSED_BY_DYNAMODB_ONLY, ids=[b[0] for b in REFUSED_BY_DYNAMODB_ONLY]
)
def test_refusals_moto_misses(what: str, method: str, params: dict[str, Any]) -> None:
    fake = FakeDynamo()
    fake.create_table("Control", "pk", "sk")
    with pytest.raises(ClientError) as info:
        getattr(fake, method)(TableName="Control", **params)
    assert info.value.response["Error"]["Code"] == "ValidationException", what
    assert fake.items("Control") == []
    assert len(fake.validation_errors) == 1


def test_unordered_types_never_compare() -> None:
    """Different types, BOOL, NULL: the comparison is false (never an error); missing equals missing."""
    fake = FakeDynamo()
    fake.create_table("Control", "pk", "sk")
    fake.put_item(
        TableName="Control",
        Item={**KEY, "flag": {"BOOL": True}, "nil": {"NULL": True}, "n": {"N": "1"}, "s": {"S": "1"}},
    )
    values = {":one": {"N": "1"}, ":s": {"S": "a"}, ":t": {"BOOL": True}}
    cases = {
        "flag > :one": False,
        "flag < :s": False,
        "n < s": False,
        "n > s": False,
        "n = s": False,
        "n <> s": True,
        "flag = :t": True,
        "nil = absent": False,
        "nil <> absent": True,
        "absent = other_absent": True,
        "absent <> :one": True,
        "NOT absent < :one": True,
        "n BETWEEN :one AND :one": True,
        "s BETWEEN :one AND :one": False,
        "begins_with(n, :s)": False,
    }
    for condition, holds in cases.items():
        used = {k: v for k, v in values.items() if k in condition}
        answer = outcome(
            functools.partial(
                fake.update_item,
                TableName="Control",
                Key=KEY,
                UpdateExpression="SET checked = :one",
                ConditionExpression=condition,
                ExpressionAttributeValues={**used, ":one": {"N": "1"}},
            )
        )
        assert answer == (("ok", {}) if holds else ("error", "ConditionalCheckFailedException")), condition


def test_conditional_check_failure_is_the_clients_modeled_exception() -> None:
    fake = FakeDynamo()
    fake.create_table("Control", "pk", "sk")
    fake.put_item(TableName="Control", Item=KEY)
    with pytest.raises(fake.exceptions.ConditionalCheckFailedException) as info:
        fake.put_item(TableName="Control", Item=KEY, ConditionExpression="attribute_not_exists(pk)")
    assert isinstance(info.value, ClientError)
    assert info.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert info.value.operation_name == "PutItem"
    with pytest.raises(fake.exceptions.ResourceNotFoundException):
        fake.get_item(TableName="Nope", Key=KEY)


def test_requests_boto3_would_not_send_fail_client_side() -> None:
    fake = FakeDynamo()
    fake.create_table("Control", "pk", "sk")
    with pytest.raises(ParamValidationError):
        fake.get_item(TableName="Control", Key=KEY, Consistent=True)
    with pytest.raises(ParamValidationError):
        fake.query(TableName="Control", KeyConditionExpression="pk = :p", Limit=0)
    assert fake.calls == {}


def test_unsupported_syntax_is_refused_not_ignored() -> None:
    fake = FakeDynamo()
    fake.create_table("Control", "pk", "sk")
    cases = [
        {
            "Item": KEY,
            "ConditionExpression": "contains(a, :x)",
            "ExpressionAttributeValues": {":x": {"S": "x"}},
        },
        {"Item": KEY, "ConditionExpression": "a IN (:x)", "ExpressionAttributeValues": {":x": {"S": "x"}}},
        {"Item": KEY, "ConditionExpression": "a.b = :x", "ExpressionAttributeValues": {":x": {"S": "x"}}},
        {"Item": KEY, "ReturnConsumedCapacity": "TOTAL"},
    ]
    for params in cases:
        with pytest.raises(ClientError) as info:
            fake.put_item(TableName="Control", **params)
        assert info.value.response["Error"]["Code"] == "ValidationException"
        assert "FakeDynamo does not support" in info.value.response["Error"]["Message"]
    assert fake.items("Control") == []
    assert len(fake.validation_errors) == len(cases)


def test_numbers_are_stored_normalized_and_compared_numerically() -> None:
    fake = FakeDynamo()
    fake.create_table("Control", "pk", "sk")
    fake.put_item(TableName="Control", Item={**KEY, "n": {"N": "10.50"}, "z": {"N": "-0"}})
    assert fake.get_item(TableName="Control", Key=KEY)["Item"]["n"] == {"N": "10.5"}
    assert fake.get_raw("Control", KEY)["z"] == {"N": "0"}  # type: ignore[index]
    # "9" > "10.5" as strings; numerically it is smaller.
    fake.put_item(
        TableName="Control",
        Item=KEY,
        ConditionExpression="n > :nine",
        ExpressionAttributeValues={":nine": {"N": "9"}},
    )
    out = fake.update_item(
        TableName="Control",
        Key=KEY,
        UpdateExpression="ADD n :x",
        ExpressionAttributeValues={":x": {"N": "0.25"}},
        ReturnValues="UPDATED_NEW",
    )
    assert out == {"Attributes": {"n": {"N": "0.25"}}}


# -- faults, latency, TTL -----------------------------------------------------------------------------


def faulty(error: str | None, latency_ms: int = 7) -> tuple[FakeDynamo, list[int]]:
    slept: list[int] = []
    fake = FakeDynamo(sleep_ms=slept.append, fault=lambda op, table: CallFault(latency_ms, error))
    fake.create_table("Control", "pk", "sk")
    return fake, slept


def test_a_clean_call_sleeps_both_halves_of_its_latency() -> None:
    fake, slept = faulty(None, latency_ms=7)
    fake.put_item(TableName="Control", Item=KEY)
    assert slept == [3, 4]
    assert fake.get_item(TableName="Control", Key=KEY) == {"Item": KEY}
    assert slept == [3, 4, 3, 4]
    assert fake.calls == {("PutItem", "Control"): 1, ("GetItem", "Control"): 1}


def test_sleep_is_a_yield_point_even_without_latency() -> None:
    slept: list[int] = []
    fake = FakeDynamo(sleep_ms=slept.append)
    fake.create_table("Control", "pk", "sk")
    fake.put_item(TableName="Control", Item=KEY)
    assert slept == [0, 0]


def test_a_failed_condition_travels_back_like_an_answer() -> None:
    fake, slept = faulty(None, latency_ms=10)
    fake.put_item(TableName="Control", Item=KEY)
    with pytest.raises(fake.exceptions.ConditionalCheckFailedException):
        fake.put_item(TableName="Control", Item=KEY, ConditionExpression="attribute_not_exists(pk)")
    assert slept == [5, 5, 5, 5]


def test_the_write_lands_between_the_two_sleeps() -> None:
    seen: list[int] = []
    fake = FakeDynamo(sleep_ms=lambda ms: seen.append(len(fake.items("Control"))))
    fake.create_table("Control", "pk", "sk")
    fake.put_item(TableName="Control", Item=KEY)
    assert seen == [0, 1]


@pytest.mark.parametrize(
    ("error", "exception", "code", "status"),
    [
        ("throttle", ClientError, "ThrottlingException", 400),
        ("internal", ClientError, "InternalServerError", 500),
        ("timeout", ReadTimeoutError, None, None),
    ],
)
def test_faults_that_do_not_apply(
    error: str, exception: type[Exception], code: str | None, status: int | None
) -> None:
    fake, slept = faulty(error, latency_ms=9)
    with pytest.raises(exception) as info:
        fake.update_item(
            TableName="Control",
            Key=KEY,
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
    assert slept == [4]
    assert fake.items("Control") == []
    if code is not None:
        assert isinstance(info.value, ClientError)
        assert info.value.response["Error"]["Code"] == code
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
        assert isinstance(info.value, getattr(fake.exceptions, code))
    else:
        assert "dynamodb.sim" in str(info.value)


def test_a_lost_answer_applies_the_write() -> None:
    fake, slept = faulty("lost_answer", latency_ms=9)
    with pytest.raises(ReadTimeoutError):
        fake.update_item(
            TableName="Control",
            Key=KEY,
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
    assert slept == [4]
    assert fake.items("Control") == [{**KEY, "n": {"N": "1"}}]


def test_a_lost_answer_to_a_nonce_write_burns_that_nonce() -> None:
    """DynamoDB applied the SET and the answer was lost: that value went to nobody, and the next
    value issued is still above it."""
    lose = {"now": False}
    fake = FakeDynamo(fault=lambda op, table: CallFault(0, "lost_answer") if lose["now"] else None)
    fake.create_table("Control", "pk", "sk")
    source = DynamoNonceSource("Control", client=fake)
    assert source.next("k", 100) == 100
    lose["now"] = True
    with pytest.raises(ReadTimeoutError):
        source.next("k", 200)
    lose["now"] = False
    assert fake.get_raw("Control", {"pk": {"S": "NONCE#k"}, "sk": {"S": "#"}})["last"] == {"N": "200"}  # type: ignore[index]
    assert source.next("k", 150) == 201


def test_faults_are_asked_per_call_with_the_boto3_operation_name() -> None:
    asked: list[tuple[str, str]] = []

    def fault(operation: str, table: str) -> CallFault | None:
        asked.append((operation, table))
        return None

    fake = FakeDynamo(fault=fault)
    fake.create_table("Control", "pk", "sk")
    store = SwitchStore("Control", client=fake)
    store.put(store.get("kraken", "a1"))
    store.latch_kill("kraken", "a1", actor="ops", reason="r", now_ms=1)
    store.list_venue("kraken")
    fake.delete_item(TableName="Control", Key={"pk": {"S": "SWITCH#kraken"}, "sk": {"S": "a1"}})
    fake.scan(TableName="Control")
    assert asked == [
        ("GetItem", "Control"),
        ("PutItem", "Control"),
        ("UpdateItem", "Control"),
        ("Query", "Control"),
        ("DeleteItem", "Control"),
        ("Scan", "Control"),
    ]


def test_call_fault_refuses_unknown_errors() -> None:
    with pytest.raises(ValueError):
        CallFault(error="explode")
    with pytest.raises(ValueError):
        CallFault(latency_ms=-1)


def test_expire_deletes_only_what_ttl_would() -> None:
    fake = FakeDynamo()
    fake.create_table("Liveness", "system", ttl_attribute="expires_at")
    fake.create_table("Plain", "pk")
    now = 1_800_000_000
    rows = {
        "expired": {"N": str(now - 1)},
        "now": {"N": str(now)},
        "future": {"N": str(now + 1)},
        "string": {"S": str(now - 1)},
        "ancient": {"N": str(now - 6 * 365 * 86_400)},
        "milliseconds": {"N": str(now * 1000)},
    }
    for system, expires in rows.items():
        fake.put_item(TableName="Liveness", Item={"system": {"S": system}, "expires_at": expires})
    fake.put_item(TableName="Liveness", Item={"system": {"S": "no-ttl"}})
    fake.put_item(TableName="Plain", Item={"pk": {"S": "x"}, "expires_at": {"N": "1"}})
    # Expired but not yet deleted: still read, as on DynamoDB.
    assert "Item" in fake.get_item(TableName="Liveness", Key={"system": {"S": "expired"}})
    assert fake.expire(now) == 1
    left = {item["system"]["S"] for item in fake.items("Liveness")}
    assert left == {"now", "future", "string", "ancient", "milliseconds", "no-ttl"}
    assert fake.expire(now + 2) == 2  # now, future
    assert len(fake.items("Plain")) == 1
    assert fake.calls == {
        ("PutItem", "Liveness"): 7,
        ("PutItem", "Plain"): 1,
        ("GetItem", "Liveness"): 1,
    }


def test_checker_accessors_copy_and_do_not_count() -> None:
    slept: list[int] = []
    fake = FakeDynamo(sleep_ms=slept.append)
    fake.create_table("Control", "pk", "sk")
    fake.put_item(TableName="Control", Item={**KEY, "l": {"L": [{"S": "x"}]}})
    calls, sleeps = dict(fake.calls), list(slept)
    fake.items("Control")[0]["l"]["L"].append({"S": "y"})
    fake.get_raw("Control", KEY)["l"]["L"].append({"S": "z"})  # type: ignore[index]
    assert fake.get_raw("Control", KEY) == {**KEY, "l": {"L": [{"S": "x"}]}}
    assert fake.get_raw("Control", {"pk": {"S": "Q"}, "sk": {"S": "s"}}) is None
    assert dict(fake.calls) == calls and slept == sleeps
    with pytest.raises(KeyError):
        fake.items("Nope")


def test_the_request_is_taken_when_sent() -> None:
    """A caller's dict changed during the call (another task ran at the yield) does not leak in."""
    item = {**KEY, "v": {"S": "sent"}}
    fake = FakeDynamo(sleep_ms=lambda ms: item.update(v={"S": "changed later"}))
    fake.create_table("Control", "pk", "sk")
    fake.put_item(TableName="Control", Item=item)
    assert fake.get_raw("Control", KEY) == {**KEY, "v": {"S": "sent"}}


# -- damaged answers: through the lean client's own reader ----------------------------------------------

OTHER = {"pk": {"S": "AUDIT#x"}, "sk": {"S": "1"}, "v": {"B": b"\x00\xff"}}


def damaged(answer: str | None, latency_ms: int = 8) -> tuple[FakeDynamo, list[int], dict[str, bool]]:
    """A fake with KEY and OTHER stored, damaging answers while `on["now"]`."""
    slept: list[int] = []
    on = {"now": False}
    fake = FakeDynamo(
        sleep_ms=slept.append,
        fault=lambda op, table: CallFault(latency_ms, answer=answer) if on["now"] else None,
    )
    fake.create_table("Control", "pk", "sk")
    fake.put_item(TableName="Control", Item={**KEY, "n": {"N": "1"}})
    fake.put_item(TableName="Control", Item=OTHER)
    slept.clear()
    on["now"] = True
    return fake, slept, on


@pytest.mark.parametrize("answer", ["empty", "truncated", "no_crc", "bad_crc", "html"])
def test_a_damaged_answer_is_a_transient_error_and_the_write_was_applied(answer: str) -> None:
    from botocore.exceptions import HTTPClientError

    from deadman.stores.answers import UnverifiedAnswer
    from deadman.stores.retry import transient

    fake, slept, _ = damaged(answer)
    with pytest.raises(HTTPClientError) as read:
        fake.get_item(TableName="Control", Key=KEY, ConsistentRead=True)
    # Read by the lean client's `read_answer`: never "no item".
    assert isinstance(read.value.kwargs["error"], UnverifiedAnswer) and transient(read.value)
    assert slept == [4, 4]  # the answer came back, after the whole latency
    with pytest.raises(HTTPClientError):
        fake.update_item(
            TableName="Control",
            Key=KEY,
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="ALL_NEW",
        )
    assert fake.get_raw("Control", KEY) == {**KEY, "n": {"N": "2"}}  # applied, as a lost answer


@pytest.mark.parametrize("answer", ["empty", "truncated", "bad_crc", "html"])
def test_a_damaged_refusal_is_transient_too(answer: str) -> None:
    from botocore.exceptions import HTTPClientError

    fake, _, _ = damaged(answer)
    with pytest.raises(HTTPClientError):
        fake.put_item(TableName="Control", Item=KEY, ConditionExpression="attribute_not_exists(pk)")


def test_an_error_answer_without_its_crc_is_still_that_error() -> None:
    fake, _, _ = damaged("no_crc")
    with pytest.raises(fake.exceptions.ConditionalCheckFailedException) as refused:
        fake.put_item(
            TableName="Control",
            Item=KEY,
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert refused.value.response["Item"] == {**KEY, "n": {"N": "1"}}


def test_a_foreign_answer_is_a_whole_answer_about_another_item() -> None:
    fake, _, on = damaged("foreign")
    # Blobs come back as the wire has them, base64 text (as the lean client's answers).
    other_wire = {**OTHER, "v": {"B": "AP8="}}
    assert fake.get_item(TableName="Control", Key=KEY) == {"Item": other_wire}
    missing = {"pk": {"S": "SWITCH#none"}, "sk": {"S": "x"}}
    assert fake.get_item(TableName="Control", Key=missing) == {"Item": other_wire}  # for "no item"
    assert fake.get_item(TableName="Control", Key=_other_key()) == {"Item": {**KEY, "n": {"N": "1"}}}
    answer = fake.update_item(
        TableName="Control",
        Key=KEY,
        UpdateExpression="ADD n :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
        ReturnValues="ALL_NEW",
    )
    assert answer == {"Attributes": other_wire}
    assert fake.get_raw("Control", KEY) == {**KEY, "n": {"N": "2"}}  # the write itself is as asked
    with pytest.raises(fake.exceptions.ConditionalCheckFailedException) as refused:
        fake.put_item(
            TableName="Control",
            Item=KEY,
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert refused.value.response["Item"] == other_wire
    # Without an item in the answer, or another item in the table, the answer is as it was.
    assert fake.put_item(TableName="Control", Item={**KEY, "n": {"N": "5"}}) == {}
    on["now"] = False
    fake.delete_item(TableName="Control", Key=_other_key())
    on["now"] = True
    assert fake.get_item(TableName="Control", Key=KEY) == {"Item": {**KEY, "n": {"N": "5"}}}


def _other_key() -> dict[str, Any]:
    return {"pk": OTHER["pk"], "sk": OTHER["sk"]}


def test_call_fault_refuses_unknown_answers_and_both_kinds_at_once() -> None:
    with pytest.raises(ValueError):
        CallFault(answer="garbled")
    with pytest.raises(ValueError):
        CallFault(error="timeout", answer="empty")
