"""Fuzz the control API through the sandbox's local API with bodies generated from docs/openapi.yaml
(valid ones, near misses and junk): never a 5xx, and the ControlTable never holds a switch that
does not parse, has a mode outside the enum, or went back in version."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest
import requests
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deadman.app.control.results import StatusResult
from deadman.core.policy import Mode
from deadman.stores.switches import switch_from_item
from sandbox.local_api import LocalApi
from sandbox.stack import CONTROL_TABLE, SandboxTiming, Stack
from sandbox.trader import ToyTrader

pytestmark = pytest.mark.integration
SCHEMAS = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_text())[
    "components"
]["schemas"]
ROUTES = {"/kill": "KillRequest", "/disarm": "DisarmRequest", "/arm": "ArmRequest"}
KNOWN_ACCOUNTS = ["main", "timed", "small"]
ALLOWED = {200, 207, 400, 409}


class World:
    def __init__(self, stack: Stack, api: LocalApi) -> None:
        self.stack = stack
        self.api = api
        self.versions: dict[tuple[str, str], int] = {}
        self.statuses: dict[int, int] = {}


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with Stack(SandboxTiming()) as stack, LocalApi(stack.env) as api:
        ToyTrader(stack).beat()
        yield World(stack, api)


# -- strategies from the OpenAPI schemas ----------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=10,
)


def from_schema(schema: dict[str, Any], name: str = "") -> st.SearchStrategy[Any]:
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema["type"]
    if kind == "string":
        low, high = schema.get("minLength", 0), schema.get("maxLength", 50)
        text = st.text(st.characters(codec="utf-8"), min_size=low, max_size=min(high, 60))
        edge = st.sampled_from([("x" * low) or "", "y" * high, " " * max(low, 1), "\x00", "☃" * min(high, 3)])
        if name == "accounts":  # mostly ids the secrets know, so that valid requests get through
            known = st.sampled_from(KNOWN_ACCOUNTS)
            return known | known | known | text | edge
        return text | edge
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        low, high = schema.get("minimum", -(2**31)), schema.get("maximum", 2**31)
        return st.integers(low, high) | st.sampled_from([low, high, 1, 2, 60, 3600])
    if kind == "array":
        items = from_schema(schema["items"], name)
        return st.lists(
            items, min_size=schema.get("minItems", 0), max_size=4, unique=schema.get("uniqueItems", False)
        )
    if kind == "object":
        props = schema["properties"]
        required = {k: from_schema(v, k) for k, v in props.items() if k in schema.get("required", [])}
        optional = {k: from_schema(v, k) for k, v in props.items() if k not in required}
        return st.fixed_dictionaries(required, optional=optional)
    raise AssertionError(f"no strategy for {schema}")


@st.composite
def near_miss(draw: st.DrawFn, schema: dict[str, Any]) -> Any:
    """A valid body with one thing wrong: a field dropped, a field added, or a value replaced."""
    body = dict(draw(from_schema(schema)))
    how = draw(st.sampled_from(["drop", "add", "replace", "null"]))
    if how == "drop" and body:
        body.pop(draw(st.sampled_from(sorted(body))))
    elif how == "add":
        body[draw(TEXT)] = draw(JSON)
    elif how in ("replace", "null"):
        key = draw(st.sampled_from(sorted(schema["properties"])))
        body[key] = None if how == "null" else draw(JSON)
    return body


def bodies(route: str) -> st.SearchStrategy[str]:
    schema = SCHEMAS[ROUTES[route]]
    valid = from_schema(schema)
    junk = st.text(max_size=200) | st.just("{" * 300) | st.just(json.dumps({"reason": "z" * 20_000}))
    # Weighted towards valid bodies: they are the ones that reach the use cases and the table.
    return st.one_of(valid, valid, valid, near_miss(schema), JSON).map(json.dumps) | junk


REQUESTS = st.sampled_from(sorted(ROUTES)).flatmap(lambda route: st.tuples(st.just(route), bodies(route)))


# -- invariants --------------------------------------------------------------------------------------------


def switches() -> list[dict[str, Any]]:
    from boto3.dynamodb.types import TypeDeserializer

    de = TypeDeserializer()
    items = boto3.client("dynamodb").scan(TableName=CONTROL_TABLE, ConsistentRead=True)["Items"]
    return [{k: de.deserialize(v) for k, v in i.items()} for i in items if i["pk"]["S"].startswith("SWITCH#")]


def check_table(world: World) -> None:
    for item in switches():
        switch = switch_from_item(item)  # raises if the item does not parse
        assert switch.mode in set(Mode)
        assert (switch.mode is Mode.DISARMED) == (switch.disarmed_until_ms is not None)
        key = (switch.venue, switch.account)
        assert item["pk"] == f"SWITCH#{switch.venue}" and item["sk"] == switch.account
        assert switch.version >= world.versions.get(key, 0), key
        world.versions[key] = switch.version


# Derandomized: `test_the_fuzz_reached_every_outcome` counts what this fuzz reached, so the bodies are
# the same on every run (a random draw once gave too few successes and failed the count for no bug).
@settings(
    max_examples=90,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(request=REQUESTS)
def test_fuzzed_bodies_never_5xx_and_never_corrupt_state(world: World, request: tuple[str, str]) -> None:
    route, body = request
    resp = requests.post(world.api.url + route, data=body.encode("utf-8", "surrogatepass"), timeout=40)
    world.statuses[resp.status_code] = world.statuses.get(resp.status_code, 0) + 1
    assert resp.status_code in ALLOWED, (route, body[:300], resp.text[:500])
    answer = resp.json()
    if resp.status_code in (400, 409):
        assert answer["error"] in ("invalid_request", "conflict") and answer["message"]
    check_table(world)


@settings(max_examples=25, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    path=st.sampled_from(["/status", "/kill", "/arm", "/disarm", "/", "/status/x", "/v1/kill"])
    | st.text(max_size=20).map(lambda t: "/" + t.replace("?", "")),
    query=st.dictionaries(st.sampled_from(["venue", "x", "audit"]), TEXT, max_size=2),
)
def test_any_route_or_method_is_answered_without_5xx(
    world: World, method: str, path: str, query: dict[str, str]
) -> None:
    if method == "POST" and path in ROUTES:
        return  # the body fuzz above covers these
    resp = requests.request(method, world.api.url + quote(path), params=query, timeout=40)
    assert resp.status_code < 500, (method, path, resp.text[:300])
    if method == "GET" and path == "/status":
        assert resp.status_code == 200
        StatusResult.model_validate(resp.json())


def test_the_fuzz_reached_every_outcome(world: World) -> None:
    # Runs after the fuzz in this module: the strategies must produce successes and refusals alike,
    # or the fuzz would only ever be exercising the validator.
    assert world.statuses.get(400, 0) > 10, world.statuses
    assert world.statuses.get(200, 0) > 3, world.statuses
    check_table(world)
    assert world.versions, "no switch was ever written"
