"""kill / disarm / arm / status end to end in the sandbox: the real handlers behind the local API
(API Gateway proxy events), moto, the three venue simulators, and for the races the real refresher
loops driven by the scheduler stand-in."""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from deadman.app.control import Caller, RequestError
from deadman.core.clock import system_clock
from deadman.edges.wiring import control_from_env
from deadman.stores.credentials import CredentialStore
from deadman.stores.nonces import DynamoNonceSource
from deadman.stores.switches import SwitchStore
from deadman.venues import hyperliquid as hyperliquid_venue
from deadman.venues import kraken as kraken_venue
from sandbox.demo import timing_of
from sandbox.local_api import LocalApi
from sandbox.stack import CONTROL_TABLE, FakeContext, SandboxTiming, Stack
from sandbox.trader import ToyTrader
from sandbox.venues.registry import SIMULATORS, sandbox_venues

pytestmark = pytest.mark.integration
EVENTS = Path(__file__).resolve().parents[2] / "events"
ALICE = "arn:aws:sts::123456789012:assumed-role/deadman-oncall/alice"
# One switch per account the sandbox provisions, on every registered venue.
ALL_SWITCHES = {
    (venue, spec.account)
    for venue in sandbox_venues(SandboxTiming().tick_s)
    for spec in SIMULATORS[venue].SANDBOX_ACCOUNTS
}


@pytest.fixture
def stack() -> Iterator[Stack]:
    before = set(threading.enumerate())
    with Stack(SandboxTiming()) as s:
        yield s

    # Nothing a test started may outlive it: kill's workers, the local API, refresher loops, beats.
    # (Not counted: a simulator's handler thread parked on a keep-alive socket that a refresher's
    # cached HTTP session still holds; it goes with that session.)
    def leftover() -> list[threading.Thread]:
        return [
            t
            for t in threading.enumerate()
            if t not in before and t.is_alive() and not t.name.endswith("(process_request_thread)")
        ]

    assert wait(lambda: not leftover(), 6), [t.name for t in leftover()]


@pytest.fixture
def trader(stack: Stack) -> Iterator[ToyTrader]:
    toy = ToyTrader(stack)
    try:
        yield toy
    finally:
        toy.writer.stop()  # never leave a beating thread behind, even when a test fails


@pytest.fixture
def api(stack: Stack) -> Iterator[LocalApi]:
    with LocalApi(stack.env) as local:
        yield local


def call(api: LocalApi, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
    data = body if isinstance(body, str | bytes) or body is None else json.dumps(body)
    resp = requests.request(method, api.url + path, data=data, headers=headers, timeout=40)
    return resp.status_code, resp.json()


def invoke(api: LocalApi, sample: str) -> tuple[int, dict[str, Any]]:
    """One events/*.json sample straight into the function API Gateway routes it to."""
    event = json.loads((EVENTS / sample).read_text())
    function = {"/kill": "kill", "/disarm": "disarm", "/arm": "disarm", "/status": "status"}[event["path"]]
    context = FakeContext(f"deadman-{function}", 30, threading.Event())
    result = api.functions[function].lambda_handler(event, context)
    return int(result["statusCode"]), json.loads(result["body"])


def table_items() -> list[dict[str, Any]]:
    client = boto3.client("dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": CONTROL_TABLE, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    # Nonce rows move with every signed venue call; everything else must stay put.
    kept = [i for i in items if not i["pk"]["S"].startswith("NONCE#")]
    return sorted(kept, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def audit(venue: str, account: str, limit: int = 50) -> list[dict[str, Any]]:
    return SwitchStore(CONTROL_TABLE).recent_audit(venue, account, limit)


def wait(predicate: Any, timeout_s: float, every_s: float = 0.02) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if predicate():
            return time.monotonic() - start
        time.sleep(every_s)
    return None


# -- each route with the sample events ----------------------------------------------------------------


def test_sample_events_drive_every_route_and_audit_the_caller(stack: Stack, api: LocalApi) -> None:
    trader = ToyTrader(stack)
    trader.beat()
    trader.rest_orders(2)

    status, body = invoke(api, "kill-one-venue.json")
    assert status == 200, body
    assert [(s["venue"], s["account"]) for s in body["switches"]] == [("kraken", "main")]
    assert body["switches"][0]["cancelled_count"] == 2 and body["failed"] == []
    assert stack.books()[("kraken", "main")] == 0
    assert stack.books()[("gemini", "main")] == 2  # other venues untouched

    # As a refresher would have: a Hyperliquid schedule is set (each native fire costs a daily trigger).
    hl_account = CredentialStore.from_env(stack.env, sandbox=True).get("hyperliquid").account("main")
    hl = hyperliquid_venue.Client(hl_account, nonces=DynamoNonceSource(CONTROL_TABLE), clock=system_clock)
    hl.extend(system_clock() + 60_000)
    assert stack.sims["hyperliquid"].timer_at("main") is not None

    status, body = invoke(api, "kill.json")
    assert status == 200, body
    assert {(s["venue"], s["account"]) for s in body["switches"]} == ALL_SWITCHES
    assert all(n == 0 for n in stack.books().values())
    assert body["actor"] == ALICE
    # Killed switches never extend, so the swept account's schedule is cleared: no trigger spent.
    assert stack.sims["hyperliquid"].timer_at("main") is None
    hl_result = next(s for s in body["switches"] if (s["venue"], s["account"]) == ("hyperliquid", "main"))
    assert hl_result["attempts"][-1]["venue_timer"] == "cleared"

    status, body = invoke(api, "disarm.json")  # every switch is killed: refused
    assert status == 409 and body["error"] == "conflict" and "arm it first" in body["message"].lower()

    status, body = invoke(api, "arm.json")
    assert status == 200, body
    assert {s["previous_mode"] for s in body["switches"]} == {"killed"}
    assert {s["mode"] for s in body["switches"]} == {"armed"}

    status, body = invoke(api, "disarm.json")
    assert status == 200, body
    assert body["for_seconds"] == 1800 and body["until_ms"] - body["at_ms"] == 1_800_000
    timers = {(s["venue"], s["account"]): s["venue_timer"] for s in body["switches"]}
    assert timers[("kraken", "main")] == "deferred"
    assert timers[("hyperliquid", "main")] == "deferred"
    assert timers[("gemini", "main")] == "not_supported"
    assert any("Gemini cannot be disarmed" in n for n in body["notes"])

    status, body = invoke(api, "status.json")
    assert status == 200, body
    switches = {(s["venue"], s["account"]): s for v in body["venues"] for s in v["switches"]}
    assert set(switches) == ALL_SWITCHES
    kraken = switches[("kraken", "main")]
    assert kraken["mode"] == "disarmed" and kraken["changed_by"] == ALICE
    assert 1790 < kraken["disarm_seconds_left"] <= 1800
    controls = [a["action"] for a in kraken["recent_audit"] if a["actor"] == ALICE]
    assert controls[:3] == ["disarm", "arm", "disarm"]
    # The arm ticked the switch at once: the live trader's timer was set from a fresh beat.
    assert any(a["action"] == "venue-timer-on" and a["actor"] == "refresher" for a in kraken["recent_audit"])
    assert len(kraken["recent_audit"]) == 5

    # Every call is on the record with who, from where, why and the outcome (the rest is the ticks').
    entries = [e for e in audit("kraken", "main") if e["actor"] != "refresher"]
    kills = [e for e in entries if e["action"] == "kill"]
    assert len(kills) == 2 and {e["result"] for e in kills} == {"latched"}
    for entry in entries:
        assert entry["actor"] == ALICE
        assert entry["details"]["source_ip"] == "203.0.113.10"
        assert entry["details"]["request_id"].startswith("c6af9ac6-")
    reasons = {e["action"]: e["reason"] for e in reversed(entries)}  # newest wins
    assert reasons["arm"] == "restart done, trader beating again"
    assert reasons["kill-sweep"] == "trader runaway on all venues - cancel everything"


def test_status_reports_bounds_and_never_calls_a_venue(stack: Stack, api: LocalApi) -> None:
    trader = ToyTrader(stack)
    trader.beat()
    assert call(api, "POST", "/kill", {"reason": "create the switches"})[0] == 200
    assert call(api, "POST", "/arm", {"reason": "back"})[0] == 200
    seen = {name: sim.requests_seen for name, sim in stack.sims.items()}
    gemini_auth = {
        key: stack.sims["gemini"].last_auth_ms(key) for key in (stack.accounts["gemini"]["main"]["api_key"],)
    }

    status, body = call(api, "GET", "/status")

    assert status == 200
    # Not one request reached any venue (a Gemini call would reset the trading key's timer).
    assert {name: sim.requests_seen for name, sim in stack.sims.items()} == seen
    assert {key: stack.sims["gemini"].last_auth_ms(key) for key in gemini_auth} == gemini_auth
    assert body["liveness"]["verdict"] == "alive" and body["liveness"]["age_s"] < 5
    assert body["timing"] == {
        "max_staleness_s": 4.0,
        "tick_s": 1.0,
        "grace_s": 2.0,
        "skew_s": 1.0,
        "sweep_window_s": 0.0,
        "max_disarm_s": 14400.0,
        "max_off_s": 259200.0,
    }
    bounds = {v["venue"]: v["reaction_bounds"] for v in body["venues"]}
    # policy.reaction_bounds with S=4, K=1, T=1, G=2, 3 s to send, 5 s transit: watchdog
    # S+K+G+3+5; Kraken S+K+T+G+1; HL S+K+max(T+G, 5+2); Gemini S+K+3+5+30.
    # The countdowns that joined since: Kraken's formula, S+K+max(T+G, the venue's minimum lead + 2)+1
    # (Gate 5 s, Binance 6.1 s: recvWindow, scan and its 1 s floor; BitMEX 1 s). OKX is not in the
    # sandbox: its timer's one call a second would leave a 1 s tick no room for the controls' calls.
    assert bounds == {
        "gemini": {"watchdog_s": 15.0, "native_s": 43.0},
        "kraken": {"watchdog_s": 15.0, "native_s": 9.0},
        "hyperliquid": {"watchdog_s": 15.0, "native_s": 12.0},
        "binance": {"watchdog_s": 15.0, "native_s": 14.1},
        "gate": {"watchdog_s": 15.0, "native_s": 13.0},
        "bitmex": {"watchdog_s": 15.0, "native_s": 9.0},
        # No timer: the watchdog alone, with a crashed loop's takeover counted, S+K+max(G, T+7+1)+3+5.
        "bybit": {"watchdog_s": 22.0, "native_s": None},
        # No venue timer: S+K+max(G, the standby's takeover T+7+1)+3+5, and no native bound.
        "deribit": {"watchdog_s": 22.0, "native_s": None},
    }
    bybit = next(v for v in body["venues"] if v["venue"] == "bybit")
    assert bybit["timer_kind"] == "none" and "none (watchdog only)" in bybit["note"]
    hl = next(
        s
        for v in body["venues"]
        for s in v["switches"]
        if s["account"] == "main" and s["venue"] == "hyperliquid"
    )
    assert hl["trigger_budget"] == 10 and hl["triggers_today"] == 0


# -- validation: 400, a clear message, and nothing changed ----------------------------------------------


INVALID = [
    ("/kill", {"venues": ["kraken"]}, "missing required field 'reason'"),
    ("/kill", {"reason": "x", "venues": ["bitstamp"]}, "venues[0]"),
    ("/kill", {"reason": "x", "venue": ["kraken"]}, "unknown field 'venue'"),
    ("/kill", {"reason": "x", "venues": ["kraken", "kraken"]}, "distinct"),
    ("/kill", {"reason": "x", "venues": None}, "omit the field"),
    ("/kill", {"reason": "x", "venues": []}, "at least 1"),
    ("/kill", {"reason": "x", "accounts": ["nope"]}, "unknown account(s) 'nope'"),
    ("/kill", {"reason": ""}, "reason"),
    ("/kill", {"reason": 42}, "reason: Input should be a valid string"),
    ("/kill", {"reason": "x" * 501}, "at most 500"),
    ("/kill", ["reason"], "must be a JSON object"),
    ("/kill", '{"reason": "x",', "not valid JSON"),
    ("/kill", '{"reason": NaN}', "not valid JSON"),
    ("/kill", "", "body is required"),
    ("/kill", json.dumps({"reason": "x" * 17_000}), "at most 16384"),
    ("/disarm", {"reason": "x"}, "missing required field 'for_seconds'"),
    ("/disarm", {"reason": "x", "for_seconds": 18000}, "between 1 and 14400"),
    ("/disarm", {"reason": "x", "for_seconds": 0}, "greater than or equal to 1"),
    ("/disarm", {"reason": "x", "for_seconds": "60"}, "valid integer"),
    ("/disarm", {"reason": "x", "for_seconds": 60.0}, "valid integer"),
    ("/disarm", {"reason": "x", "for_seconds": True}, "valid integer"),
    ("/disarm", {"reason": "x", "for_seconds": 10**40}, "less than or equal to 604800"),
    ("/disarm", {"reason": "x", "for_seconds": 60, "off": 1}, "off: Input should be a valid boolean"),
    ("/disarm", {"reason": "x", "for_seconds": 18000}, "MaxDisarmSeconds); got 18000 (a longer, deliberate"),
    ("/arm", {"reason": "x", "accounts": "main"}, "valid list"),
    ("/arm", {"reason": "x", "extra": 1}, "unknown field 'extra'"),
]


def test_invalid_requests_are_400_with_a_clear_message_and_change_nothing(
    stack: Stack, api: LocalApi
) -> None:
    trader = ToyTrader(stack)
    trader.beat()
    trader.rest_orders(1)
    assert call(api, "POST", "/kill", {"reason": "some state", "venues": ["kraken"]})[0] == 200
    assert call(api, "POST", "/arm", {"reason": "some state", "venues": ["gemini"]})[0] == 200
    before = table_items()
    books = stack.books()

    for path, body, expected in INVALID:
        status, answer = call(api, "POST", path, body)
        assert status == 400, (path, body, answer)
        assert answer["error"] == "invalid_request"
        assert expected in answer["message"], (body, answer["message"])
    for sample, expected in [
        ("kill-unknown-venue.json", "venues[0]"),
        ("kill-unknown-field.json", "unknown field 'venue'"),
        ("disarm-missing-for.json", "missing required field 'for_seconds'"),
    ]:
        status, answer = invoke(api, sample)
        assert status == 400 and expected in answer["message"], (sample, answer)

    assert table_items() == before
    assert stack.books() == books


def test_disarm_of_a_killed_switch_is_refused_and_changes_no_switch(stack: Stack, api: LocalApi) -> None:
    assert call(api, "POST", "/kill", {"reason": "incident", "venues": ["kraken"]})[0] == 200
    store = SwitchStore(CONTROL_TABLE)
    before = store.get("kraken", "main")

    status, body = call(api, "POST", "/disarm", {"reason": "maintenance", "for_seconds": 60})

    assert status == 409 and body["switches"] == ["kraken/main"]
    assert store.get("kraken", "main") == before
    # The other venues were not disarmed either: all or nothing.
    assert store.get("gemini", "main").version == 0
    assert audit("kraken", "main")[0]["result"] == "refused: switch is killed"

    # A planned disarm is refused the same way, all or nothing.
    plan = {"reason": "maintenance", "for_seconds": 60, "starts_at_ms": int(time.time() * 1000) + 3_600_000}
    status, body = call(api, "POST", "/disarm", plan)
    assert status == 409 and body["switches"] == ["kraken/main"]
    assert store.get("kraken", "main") == before and store.get("gemini", "main").version == 0


def test_a_start_in_the_past_is_refused_naming_the_time_and_changes_nothing(
    stack: Stack, api: LocalApi
) -> None:
    """A stale date, 0, or seconds for milliseconds used to disarm at once (exit 0)."""
    now = int(time.time() * 1000)
    before = table_items()
    for starts_at_ms, named in [
        (0, "1970-01-01T00:00:00Z"),
        (now // 1000, "looks like epoch seconds"),
        (now - 365 * 86_400_000, "365 days in the past"),
        (now - 90_000, "in the past"),
    ]:
        body = {"reason": "maintenance", "for_seconds": 60, "starts_at_ms": starts_at_ms}
        status, answer = call(api, "POST", "/disarm", body)
        assert status == 400, (starts_at_ms, answer)
        assert "cannot start in the past" in answer["message"] and named in answer["message"], answer
    assert table_items() == before

    # The use case refuses it too, whoever calls it (not only the API's model).
    control = control_from_env(stack.env)
    with pytest.raises(RequestError, match="365 days in the past"):
        control.disarm(
            reason="maintenance",
            for_seconds=60,
            venues=["kraken"],
            accounts=None,
            caller=Caller("test"),
            starts_at_ms=now - 365 * 86_400_000,
        )
    assert table_items() == before

    # A start a few seconds ago (transit) is now: disarmed at once, not planned.
    status, answer = call(
        api, "POST", "/disarm", {"reason": "now", "for_seconds": 60, "starts_at_ms": now - 5_000}
    )
    assert status in (200, 207), answer
    assert answer.get("starts_at_ms") is None
    assert SwitchStore(CONTROL_TABLE).get("kraken", "main").mode.value == "disarmed"


# -- kill -----------------------------------------------------------------------------------------------


def test_kill_is_idempotent_and_arm_forgets_the_death(stack: Stack, api: LocalApi) -> None:
    trader = ToyTrader(stack)
    trader.beat()
    trader.rest_orders(2)
    caller = {"X-Deadman-Caller-Arn": "arn:aws:iam::123456789012:user/bob"}

    first = call(api, "POST", "/kill", {"reason": "first", "accounts": ["main"]}, **caller)
    second = call(api, "POST", "/kill", {"reason": "second", "accounts": ["main"]}, **caller)

    assert first[0] == 200 and second[0] == 200
    mains = {(v, a) for v, a in ALL_SWITCHES if a == "main"}  # every venue's "main", nothing else
    assert {(s["venue"], s["account"]) for s in first[1]["switches"]} == mains
    assert sum(s["cancelled_count"] for s in first[1]["switches"]) == 2 * len(mains)
    assert sum(s["cancelled_count"] for s in second[1]["switches"]) == 0
    assert stack.books()[("gemini", "timed")] == 2  # not targeted
    store = SwitchStore(CONTROL_TABLE)
    killed = store.get("kraken", "main")
    assert killed.mode.value == "killed" and killed.reason == "second"
    assert [e["reason"] for e in audit("kraken", "main") if e["action"] == "kill"] == ["second", "first"]
    assert {e["actor"] for e in audit("kraken", "main")} == {"arn:aws:iam::123456789012:user/bob"}
    assert {e["details"]["source_ip"] for e in audit("kraken", "main")} == {"127.0.0.1"}

    store.put(dataclasses.replace(killed, dead_since_ms=1))  # as a refresher tick would record death
    status, body = call(api, "POST", "/arm", {"reason": "over", "venues": ["kraken"]}, **caller)
    assert status == 200 and body["switches"][0]["previous_mode"] == "killed"
    armed = store.get("kraken", "main")
    assert (
        armed.mode.value == "armed"
        and armed.dead_since_ms is None
        and (armed.changed_by or "").endswith("/bob")
    )
    status, body = call(api, "POST", "/arm", {"reason": "again", "venues": ["kraken"]})
    assert status == 200 and body["switches"][0]["changed"] is False  # already armed: no write
    assert store.get("kraken", "main").version == armed.version


def test_kill_with_one_venue_down_empties_the_others_and_says_which_failed(
    stack: Stack, api: LocalApi
) -> None:
    trader = ToyTrader(stack)
    trader.beat()
    trader.rest_orders(2)
    stack.sims["kraken"].faults.http_5xx = 500

    status, body = call(api, "POST", "/kill", {"reason": "kraken is down"})

    assert status == 207
    assert body["ok"] is False and body["failed"] == ["kraken/main"]
    kraken = next(s for s in body["switches"] if s["venue"] == "kraken")
    assert kraken["latched"] is True and kraken["swept"] is False
    assert "HTTP 500" in kraken["error"]
    assert len(kraken["attempts"]) == 2  # the failed sweep was tried once more within the budget
    books = stack.books()
    assert books[("kraken", "main")] == 2
    assert all(n == 0 for key, n in books.items() if key[0] != "kraken")
    # Latched anyway: the refresher sweeps it every tick; status shows why.
    switch = SwitchStore(CONTROL_TABLE).get("kraken", "main")
    assert switch.mode.value == "killed" and "HTTP 500" in (switch.last_error or "")
    assert audit("kraken", "main")[0]["result"].startswith("failed: kraken: transient")


def test_kill_with_an_unreadable_secret_latches_the_stored_switches_and_says_so(stack: Stack) -> None:
    trader = ToyTrader(stack)
    trader.rest_orders(1)
    first = control_from_env(stack.env)
    first.kill(reason="create", venues=None, accounts=None, caller=Caller("setup"))
    first.arm(reason="create", venues=None, accounts=None, caller=Caller("setup"))
    trader.rest_orders(1)
    stack.put_secret("gemini", "{not json")

    # A fresh function instance (no cached secret), as after a cold start.
    result = control_from_env(stack.env).kill(reason="x", venues=None, accounts=None, caller=Caller("op"))

    assert result.ok is False
    assert [p.venue for p in result.venue_problems] == ["gemini"]
    assert "is not valid JSON" in result.venue_problems[0].error
    gemini = [s for s in result.switches if s.venue == "gemini"]
    assert {s.account for s in gemini} == {"main", "timed"}
    assert all(s.latched and not s.swept for s in gemini)
    assert sorted(result.failed) == ["gemini/main", "gemini/timed"]
    store = SwitchStore(CONTROL_TABLE)
    assert {store.get("gemini", a).mode.value for a in ("main", "timed")} == {"killed"}
    books = stack.books()
    assert books[("gemini", "main")] == 1 and books[("kraken", "main")] == 0


def test_kill_time_is_bounded_when_a_venue_hangs(stack: Stack) -> None:
    ToyTrader(stack).rest_orders(1)
    stack.sims["hyperliquid"].faults.hang_s = 3.0
    control = control_from_env(stack.env, kill_timeout=(0.3, 0.3))
    started = time.monotonic()

    result = control.kill(reason="hang", venues=None, accounts=None, caller=Caller("tester"), budget_ms=2_500)

    elapsed = time.monotonic() - started
    assert elapsed < 2.5
    assert sorted(result.failed) == ["hyperliquid/main", "hyperliquid/small"]
    assert all(s.swept for s in result.switches if s.venue != "hyperliquid")
    assert all("timeout" in (s.error or "") for s in result.switches if s.venue == "hyperliquid")

    # A budget shorter than one venue call: kill answers at the budget and names the straggler.
    control = control_from_env(stack.env, kill_timeout=(1.0, 1.0))
    started = time.monotonic()
    result = control.kill(
        reason="hang", venues=["hyperliquid"], accounts=["main"], caller=Caller("t"), budget_ms=600
    )
    assert time.monotonic() - started < 1.5
    assert result.failed == ["hyperliquid/main"]
    assert "time budget" in (result.switches[0].error or "")
    stack.sims["hyperliquid"].faults.hang_s = 0
    # No thread outlives its client timeout.
    assert wait(lambda: not [t for t in threading.enumerate() if t.name.startswith("control")], 5)


def test_kill_uses_the_dedicated_kill_key(stack: Stack, api: LocalApi) -> None:
    kill_key = ("sandbox-kraken-kill", base64.b64encode(b"a dedicated kill key secret").decode())
    # The refresher key may only query: a sweep with it would be refused (Permission denied).
    main = stack.accounts["kraken"]["main"]
    stack.sims["kraken"].add_key(main["api_key"], main["api_secret"], account="main", permissions={"query"})
    stack.sims["kraken"].add_key(kill_key[0], kill_key[1], account="main", permissions={"cancel"})
    secret = stack.secret_values()["kraken"]
    secret["accounts"][0]["kill"] = {"api_key": kill_key[0], "api_secret": kill_key[1]}
    stack.put_secret("kraken", json.dumps(secret))
    stack.sims["kraken"].place_order("main", "XBTUSD", "buy", "30000", "0.01")

    status, body = call(api, "POST", "/kill", {"reason": "kill key", "venues": ["kraken"]})

    assert status == 200, json.dumps(body)
    assert body["switches"][0]["cancelled_count"] == 1
    assert stack.sims["kraken"].open_orders("main") == {}
    # The kill key may only cancel: the book is not listed, and the answer says so.
    assert body["switches"][0]["attempts"][-1]["confirmed"].startswith("not listed")


def test_kill_outwaits_an_extension_in_flight_and_sweeps_its_zombie_order(
    stack: Stack, api: LocalApi
) -> None:
    """A refresher wrote its intent (inflight_until) just before the latch and its CancelAllOrdersAfter
    lands late, while a zombie trader rests one more order: the kill answers only after the window,
    with that order swept, and nothing moves the venue timer after the answer."""
    store = SwitchStore(CONTROL_TABLE)
    intent = store.get("kraken", "main")
    window_end = system_clock() + 1_000
    store.put(dataclasses.replace(intent, inflight_until_ms=window_end))
    account = CredentialStore.from_env(stack.env, sandbox=True).get("kraken").accounts[0]
    refresher_client = kraken_venue.Client(
        account, nonces=DynamoNonceSource(CONTROL_TABLE), clock=system_clock
    )

    def late_extension() -> None:
        time.sleep(0.6)  # after the kill's first sweep, inside the window
        refresher_client.extend(system_clock() + 60_000)
        stack.sims["kraken"].place_order("main", "XBTUSD", "buy", "30000", "0.01")  # the zombie's order

    straggler = threading.Thread(target=late_extension)
    straggler.start()
    status, body = call(api, "POST", "/kill", {"reason": "race", "venues": ["kraken"]})
    acked = system_clock()
    straggler.join()

    assert status == 200, body
    assert acked >= window_end
    attempts = body["switches"][0]["attempts"]
    assert [a["attempt"] for a in attempts] == [1, 2] and attempts[1]["cancelled_count"] == 1
    assert stack.sims["kraken"].open_orders("main") == {}
    trigger = stack.sims["kraken"].timer_at("main")
    time.sleep(0.3)
    assert stack.sims["kraken"].timer_at("main") == trigger


def test_kill_racing_running_refreshers_wins_and_nothing_extends_after_the_ack(
    stack: Stack, api: LocalApi, trader: ToyTrader
) -> None:
    trader.start_beating(0.3)
    trader.rest_orders(1)
    stack.start_scheduler()
    assert wait(
        lambda: stack.sims["kraken"].timer_at("main") and stack.sims["hyperliquid"].timer_at("main"), 8
    )

    for round_ in range(2):
        time.sleep(0.37 * (round_ + 1))  # land at a different phase of the tick each round
        status, body = call(api, "POST", "/kill", {"reason": f"race {round_}"})
        assert status == 200, body
        at_ack = (stack.sims["kraken"].timer_at("main"), stack.sims["hyperliquid"].timer_at("main"))
        trader.rest_orders(1)  # a zombie keeps trading after the kill
        deadline = time.monotonic() + 2.2  # more than two ticks
        while time.monotonic() < deadline:
            kraken_trigger = stack.sims["kraken"].timer_at("main")
            hl_schedule = stack.sims["hyperliquid"].timer_at("main")
            assert kraken_trigger is None or (at_ack[0] is not None and kraken_trigger <= at_ack[0])
            assert hl_schedule is None or (at_ack[1] is not None and hl_schedule <= at_ack[1])
            time.sleep(0.02)
        assert all(n == 0 for n in stack.books().values()), stack.books()
        store = SwitchStore(CONTROL_TABLE)
        assert {store.get(v, a).mode.value for v, a in ALL_SWITCHES} == {"killed"}
        assert not [
            e
            for e in audit("kraken", "main", 20)
            if e["action"] == "venue-timer-on" and e["at_ms"] > body["at_ms"]
        ]
        # Re-arm; the live trader gets its timers back before the next round.
        assert call(api, "POST", "/arm", {"reason": "round over"})[0] == 200
        pushed = at_ack[0] or 0
        assert wait(lambda p=pushed: (stack.sims["kraken"].timer_at("main") or 0) > p, 5)


# -- disarm ---------------------------------------------------------------------------------------------


def test_disarm_defers_venue_timers_to_its_end_and_expiry_rearms(
    stack: Stack, api: LocalApi, trader: ToyTrader
) -> None:
    """Hazard 5: the timers are not left off but deferred to the disarm's end + S + T + G, so a book
    is protected after the end even if the fleet is gone by then."""
    trader.start_beating(0.3)
    stack.start_scheduler()
    assert wait(
        lambda: stack.sims["kraken"].timer_at("main") and stack.sims["hyperliquid"].timer_at("main"), 8
    )

    status, body = call(api, "POST", "/disarm", {"reason": "deploy", "for_seconds": 2})

    assert status == 200, body
    deferred = body["until_ms"] + timing_of(stack.timing).native_bound_ms
    assert stack.sims["hyperliquid"].timer_at("main") == deferred
    kraken = stack.sims["kraken"].timer_at("main")
    assert kraken is not None and deferred - 3_000 <= kraken <= deferred + 1_000  # whole seconds, aimed early
    assert {s["venue_timer"] for s in body["switches"] if s["venue"] == "gemini"} == {"not_supported"}
    # At the end the refresher re-arms by itself, audited, and extends again for the live trader.
    assert wait(lambda: any(e["action"] == "auto-arm" for e in audit("kraken", "main", 10)), 5)
    assert wait(lambda: stack.sims["kraken"].timer_at("main") is not None, 3)
    assert SwitchStore(CONTROL_TABLE).get("kraken", "main").mode.value == "armed"
    assert wait(lambda: any(e["action"] == "auto-arm" for e in audit("gemini", "main", 10)), 3)


def test_two_person_rule_refuses_an_arm_by_whoever_killed(stack: Stack) -> None:
    """ArmAfterKillNeedsSecondPerson: the principal that killed a switch cannot arm it; another can."""
    with LocalApi({**stack.env, "ARM_AFTER_KILL_NEEDS_SECOND_PERSON": "true"}) as api:
        alice = {"X-Deadman-Caller-Arn": "arn:aws:sts::123456789012:assumed-role/oncall/alice"}
        bob = {"X-Deadman-Caller-Arn": "arn:aws:sts::123456789012:assumed-role/oncall/bob"}
        body = {"reason": "runaway", "venues": ["kraken"]}
        assert call(api, "POST", "/kill", body, **alice)[0] == 200
        status, reply = call(api, "POST", "/arm", {"reason": "all good", "venues": ["kraken"]}, **alice)
        assert status == 207 and not reply["ok"]
        assert "two-person rule" in reply["switches"][0]["error"]
        store = SwitchStore(CONTROL_TABLE)
        assert store.get("kraken", "main").mode.value == "killed"
        assert audit("kraken", "main")[0]["result"].startswith("refused: two-person rule")
        status, reply = call(api, "POST", "/arm", {"reason": "checked by bob", "venues": ["kraken"]}, **bob)
        assert status == 200 and store.get("kraken", "main").mode.value == "armed"
