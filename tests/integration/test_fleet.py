"""The refresher fleet end to end through the sandbox: moto, the three venue simulators, the real
refresher handlers driven by a scheduler stand-in on a real clock (compressed timing)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from deadman.app.refresh import Refresher
from deadman.core.clock import system_clock
from deadman.core.metrics import ListMetrics
from deadman.core.policy import Timing, reaction_bounds
from deadman.edges.entry import handle_schedule
from deadman.edges.wiring import control_from_env, refresher_from_env
from deadman.stores.liveness import LivenessReader
from deadman.stores.switches import SwitchStore
from deadman.venues import CAPABILITIES
from sandbox.stack import CONTROL_TABLE, LIVENESS_TABLE, SandboxTiming, Stack
from sandbox.trader import ToyTrader

pytestmark = pytest.mark.integration
EVENTS = Path(__file__).resolve().parents[2] / "events"
SANDBOX = SandboxTiming()
TIMING = Timing(
    max_staleness_ms=int(SANDBOX.max_staleness_s * 1000),
    tick_ms=int(SANDBOX.tick_s * 1000),
    grace_ms=int(SANDBOX.grace_s * 1000),
    skew_ms=int(SANDBOX.skew_s * 1000),
)


def wait(predicate, timeout_s: float) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.02)
    return None


@pytest.fixture
def stack() -> Iterator[Stack]:
    with Stack(SANDBOX) as s:
        yield s


def refresher(venue: str, **overrides) -> Refresher:
    r = refresher_from_env(venue, clock=system_clock, metrics=ListMetrics(), log=lambda *a, **k: None)
    for name, value in overrides.items():
        setattr(r, name, value)
    return r


def test_story_healthy_death_recovery(stack: Stack) -> None:
    trader = ToyTrader(stack)
    trader.start_beating(0.5)
    trader.rest_orders(2)
    stack.start_scheduler()
    keys = list(stack.books())
    assert wait(lambda: all(stack.switch(*k).last_tick_ms for k in keys), 10) is not None

    # Healthy: every switch extended (both Gemini nonce modes), nothing cancelled, no timer fired.
    books = stack.books()
    time.sleep(4)
    assert stack.books() == books and all(n == 2 for n in books.values())
    assert (
        not stack.sims["kraken"].fires
        and not stack.sims["hyperliquid"].fires
        and not stack.sims["gemini"].fires
    )
    for key in [("gemini", "main"), ("gemini", "timed"), ("kraken", "main"), ("hyperliquid", "main")]:
        sw = stack.switch(*key)
        assert sw.deadline_ms is not None and sw.last_error is None, key
    gated = stack.switch("hyperliquid", "small")
    assert not gated.native_available and "enough volume traded" in (gated.native_reason or "")

    # Death: every book empty within the watchdog bound of its venue.
    last_beat = trader.die()
    emptied: dict[tuple[str, str], float] = {}
    deadline = time.monotonic() + 20
    while len(emptied) < len(keys) and time.monotonic() < deadline:
        books = stack.books()
        for key in keys:
            if key not in emptied and books[key] == 0:
                emptied[key] = time.time() * 1000 - last_beat
        time.sleep(0.02)
    assert set(emptied) == set(keys)
    for (venue, account), took_ms in emptied.items():
        bound = reaction_bounds(TIMING, CAPABILITIES[venue])
        assert took_ms <= bound.watchdog_ms, (venue, account, took_ms)

    # Kraken's own timer fires (the fleet does not clear it) and stays off...
    assert wait(lambda: bool(stack.sims["kraken"].fires), 10) is not None
    assert stack.sims["kraken"].timer_at("main") is None
    # ...and no switch was pushed past its venue's native bound from the last beat.
    for venue, account in keys:
        sw = stack.switch(venue, account)
        bound = reaction_bounds(TIMING, CAPABILITIES[venue])
        assert sw.deadline_ms is None or sw.deadline_ms <= last_beat + bound.native_ms, (venue, account)
    # Hyperliquid: the fleet cleared its schedule after sweeping, so no daily trigger was spent.
    assert stack.sims["hyperliquid"].fires == []

    # Recovery: Kraken re-armed with a new non-zero timeout, new orders rest untouched.
    trader = ToyTrader(stack)
    trader.start_beating(0.5)
    # A tick that read the row before the first new beat still sweeps: rest orders only once
    # every switch has seen the trader alive again (README: "after a restart").
    assert wait(lambda: all(stack.switch(*k).dead_since_ms is None for k in keys), 10) is not None
    trader.rest_orders(1)
    assert wait(lambda: (stack.sims["kraken"].timer_at("main") or 0) > time.time() * 1000, 10) is not None
    time.sleep(3)
    assert all(n == 1 for n in stack.books().values()), stack.books()
    audit = SwitchStore(CONTROL_TABLE).recent_audit("kraken", "main", limit=50)
    actions = {a["action"] for a in audit}
    assert {"fired", "recovered", "sweep"} <= actions
    trader.writer.stop()


def test_dynamodb_unreachable_means_no_extension(stack: Stack) -> None:
    ToyTrader(stack).beat()
    dead_ddb = boto3.client(
        "dynamodb",
        endpoint_url="http://127.0.0.1:9",
        config=Config(connect_timeout=0.2, read_timeout=0.2, retries={"max_attempts": 1}),
    )
    r = refresher("kraken", liveness=LivenessReader(LIVENESS_TABLE, client=dead_ddb))
    report = r.tick()
    assert report.liveness.verdict.value == "unreadable"
    assert stack.sims["kraken"].timer_at("main") is None
    assert all(a.extended_to_ms is None for a in report.accounts)

    # The control table unreachable too, and nothing remembered: the switch could be killed or
    # disarmed, so nothing is done (the venue timer runs out by itself).
    r = refresher("kraken", switches=SwitchStore(CONTROL_TABLE, client=dead_ddb))
    report = r.tick()
    assert report.accounts, report
    assert "nothing it may act on is known: no action" in report.accounts[0].note
    assert report.accounts[0].extended_to_ms is None and report.accounts[0].swept is None
    assert stack.sims["kraken"].timer_at("main") is None


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("not json", "is not valid JSON"),
        (json.dumps({"accounts": [{"account_id": "main", "api_key": "k"}]}), "accounts[0].api_secret"),
        (json.dumps({"accounts": {}}), "accounts"),
    ],
)
def test_malformed_secret_is_a_clear_error_and_no_extension(stack: Stack, raw: str, field: str) -> None:
    ToyTrader(stack).beat()
    stack.put_secret("kraken", raw)
    metrics = ListMetrics()
    r = refresher("kraken", metrics=metrics)
    report = r.tick()
    assert report.error is not None and field in report.error
    assert "sandbox kraken secret" not in report.error
    assert stack.sims["kraken"].timer_at("main") is None
    assert metrics.total("Extended") == 0 and metrics.total("VenueErrors") == 1


def test_a_venue_not_configured_yet_is_calm(stack: Stack) -> None:
    """The first deploy's {"accounts": []}: no error, no VenueErrors alarm every tick, said once."""
    ToyTrader(stack).beat()
    stack.put_secret("kraken", json.dumps({"accounts": []}))
    metrics, lines = ListMetrics(), []
    r = refresher("kraken", metrics=metrics, log=lambda message, **_: lines.append(message))
    reports = [r.tick(), r.tick()]
    assert all(rep.error is None and rep.accounts == [] for rep in reports)
    assert metrics.total("VenueErrors") == 0 and metrics.total("StoreErrors") == 0
    assert lines.count("venue not configured: its secret lists no accounts") == 1


def test_missing_secret_is_a_clear_error(stack: Stack) -> None:
    boto3.client("secretsmanager").delete_secret(
        SecretId=stack.secret_arns["kraken"], ForceDeleteWithoutRecovery=True
    )
    report = refresher("kraken").tick()
    assert report.error is not None and "not found" in report.error


def test_handler_drops_late_events_and_runs_sample_events(stack: Stack) -> None:
    event = json.loads((EVENTS / "refresher-kraken.json").read_text())
    r = refresher("kraken")
    late = handle_schedule(
        event | {"scheduled_time": "2020-01-01T00:00:00Z"},
        invocation_id="x",
        remaining_ms=lambda: 60_000,
        refresher=r,
    )
    assert late["result"] == "dropped"
    junk = handle_schedule({"hello": 1}, invocation_id="x", remaining_ms=lambda: 60_000, refresher=r)
    assert junk["result"] == "rejected"
    ToyTrader(stack).beat()
    fresh = event | {"scheduled_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    # Too little Lambda time left for a second tick: the loop ticks once and releases the lease.
    ran = handle_schedule(fresh, invocation_id="x", remaining_ms=lambda: 1000, refresher=r)
    assert ran["result"] == "ran" and "ended after 1 ticks" in ran["outcome"]
    assert stack.sims["kraken"].timer_at("main") is not None


def test_one_accounts_failure_does_not_stop_another(stack: Stack) -> None:
    trader = ToyTrader(stack)
    trader.beat()
    timed = stack.accounts["gemini"]["timed"]["api_key"]
    stack.sims["gemini"].add_key(timed, "another secret now", "time", account="timed")  # key rotated
    report = refresher("gemini").tick()
    by_account = {a.account: a for a in report.accounts}
    assert by_account["timed"].extended_to_ms is None
    assert by_account["main"].extended_to_ms is not None and by_account["main"].error is None


def test_accounts_gated_on_several_trading_systems(stack: Stack) -> None:
    """Strategy B trades Kraken `main`; the stack's own system (the toy trader) trades the rest.
    B's death sweeps only what B gates; an account gated on both needs both alive; status and the
    metrics name each system."""
    from deadman.stores.liveness import LivenessWriter
    from sandbox.aws import patched_env

    toy = ToyTrader(stack)
    toy.beat()
    strat_b = LivenessWriter(LIVENESS_TABLE, "strat-b")
    strat_b.beat()
    secrets = stack.secret_values()
    secrets["kraken"]["accounts"][0]["systems"] = ["strat-b"]
    secrets["hyperliquid"]["accounts"][0]["systems"] = ["toy-trader", "strat-b"]
    for venue in ("kraken", "hyperliquid"):
        stack.put_secret(venue, json.dumps(secrets[venue]))
    toy.rest_orders(1)

    def tick(venue: str) -> tuple[Any, ListMetrics]:
        metrics = ListMetrics()
        report = refresher(venue, metrics=metrics).tick()
        return report, metrics

    kraken, _ = tick("kraken")
    hyper, _ = tick("hyperliquid")
    assert kraken.accounts[0].extended_to_ms is not None and hyper.accounts[0].extended_to_ms is not None
    assert SwitchStore(CONTROL_TABLE).get("kraken", "main").systems == "strat-b"

    strat_b.stop_running()  # strategy B shuts down cleanly; the toy trader keeps beating
    toy.beat()
    kraken, metrics = tick("kraken")
    assert kraken.accounts[0].swept is not None and kraken.accounts[0].decision.dead
    assert ("SystemDead", 1, {"system": "strat-b"}) in metrics.records
    hyper, _ = tick("hyperliquid")
    main = next(a for a in hyper.accounts if a.account == "main")
    small = next(a for a in hyper.accounts if a.account == "small")
    assert main.decision.dead and main.swept is not None  # gated on both: one is enough to sweep
    assert not small.decision.dead  # the stack's own system only: alive
    gemini, _ = tick("gemini")
    assert all(a.extended_to_ms is not None for a in gemini.accounts)
    assert stack.books()[("gemini", "main")] == 1 and stack.books()[("kraken", "main")] == 0

    with patched_env(stack.env):
        status = control_from_env().status()
    verdicts = {s.system: s.verdict for s in status.systems}
    assert verdicts == {"toy-trader": "alive", "strat-b": "not_running"}
    kraken_main = next(s for v in status.venues if v.venue == "kraken" for s in v.switches)
    assert kraken_main.systems == ["strat-b"]


def test_a_malformed_systems_list_is_named(stack: Stack) -> None:
    secrets = stack.secret_values()
    secrets["kraken"]["accounts"][0]["systems"] = ["ok", "not ok"]
    stack.put_secret("kraken", json.dumps(secrets["kraken"]))
    report = refresher("kraken").tick()
    assert report.error is not None and "accounts[0].systems" in report.error


def test_an_off_period_outlasts_a_disarm_and_its_death_pages_no_one(stack: Stack) -> None:
    """A weekend: longer than MaxDisarmSeconds, so it must be declared an off period. While every
    switch a system gates is off, its death is not alarmed and nothing is swept; an arm ends it."""
    from deadman.app.control import Caller, RequestError
    from deadman.edges.cli.status_view import attention

    toy = ToyTrader(stack)
    toy.beat()
    toy.rest_orders(1)
    control = control_from_env(stack.env)
    weekend = 5 * 3600  # the sandbox's MaxDisarmSeconds is 4 h, as the template's default
    with pytest.raises(RequestError, match=r"MaxDisarmSeconds\); got 18000 \(a longer, deliberate absence"):
        control.disarm(reason="weekend", for_seconds=weekend, venues=None, accounts=None, caller=Caller("op"))
    with pytest.raises(RequestError, match="MaxOffSeconds is 0"):
        control_from_env({**stack.env, "MAX_OFF_S": "0"}).disarm(
            reason="weekend", for_seconds=60, venues=None, accounts=None, caller=Caller("op"), off=True
        )
    result = control.disarm(
        reason="weekend", for_seconds=weekend, venues=["kraken"], accounts=None, caller=Caller("op"), off=True
    )
    assert result.ok and result.off and result.message.startswith("switched off 1/1")
    entry = SwitchStore(CONTROL_TABLE).recent_audit("kraken", "main", 1)[0]
    assert (entry["action"], entry["reason"], entry["actor"]) == ("off", "weekend", "op")

    toy.writer.stop_running()  # the trader goes home
    metrics = ListMetrics()
    tick = refresher("kraken", metrics=metrics).tick()
    assert tick.accounts[0].off and tick.accounts[0].swept is None
    assert not any(name == "SystemDead" for name, _, _ in metrics.records)
    assert stack.books()[("kraken", "main")] == 1  # rests, as the operator chose
    gemini_metrics = ListMetrics()
    refresher("gemini", metrics=gemini_metrics).tick()  # Gemini is not off: its switch still pages
    assert ("SystemDead", 1, {"system": "toy-trader"}) in gemini_metrics.records

    status = control.status()
    kraken = next(s for v in status.venues if v.venue == "kraken" for s in v.switches)
    assert kraken.off and kraken.mode_detail.startswith("off (the trader is away on purpose")
    body = status.model_dump()
    assert any(line.startswith("trader toy-trader is") for line in attention(body))  # Gemini still armed
    for venue in body["venues"]:
        for s in venue["switches"]:
            s["off"] = True  # as if every venue were off: the dead trader is no longer news
    assert not any(line.startswith("trader toy-trader is") for line in attention(body))

    control.arm(reason="monday", venues=["kraken"], accounts=None, caller=Caller("op"))
    assert not SwitchStore(CONTROL_TABLE).get("kraken", "main").off
    metrics = ListMetrics()
    tick = refresher("kraken", metrics=metrics).tick()
    assert tick.accounts[0].decision.dead and ("SystemDead", 1, {"system": "toy-trader"}) in metrics.records


def test_a_window_opened_with_the_intent_is_audited_though_the_tick_then_loses_a_write(
    stack: Stack,
) -> None:
    """The tick that opens a planned window stores the opening with its intent write; when its last
    write then loses to a concurrent one (a loop it handed over to), the opening stays stored and
    must be on the record (and notified) all the same: no later tick opens it again."""
    from deadman.app.control import Caller

    ToyTrader(stack).beat()
    control = control_from_env(stack.env)
    start = int(time.time() * 1000) + 300
    planned = control.disarm(
        reason="maintenance",
        for_seconds=60,
        venues=["kraken"],
        accounts=None,
        caller=Caller("op"),
        starts_at_ms=start,
    )
    assert planned.ok, planned.message
    time.sleep(0.5)
    r = refresher("kraken")
    writes: list[int] = []
    real_store = r._store

    def store_then_lose(switch: Any) -> Any:
        stored = real_store(switch)
        writes.append(stored.version)
        if len(writes) == 1:  # the intent: a concurrent writer goes next
            SwitchStore(CONTROL_TABLE).put(stored)
        return stored

    r._store = store_then_lose  # type: ignore[method-assign]
    report = r.tick()
    assert "yielded to a concurrent write" in (report.accounts[0].note or ""), report.accounts[0]
    switch = SwitchStore(CONTROL_TABLE).get("kraken", "main")
    assert switch.mode.value == "disarmed" and not switch.plans
    actions = [e["action"] for e in SwitchStore(CONTROL_TABLE).recent_audit("kraken", "main", 10)]
    assert "scheduled-disarm" in actions, actions


def test_a_failed_sweep_with_no_venue_timer_behind_it_pages(stack: Stack) -> None:
    """Hyperliquid's schedule is cleared after the first complete sweep (rationed triggers): a zombie's
    later orders have only the watchdog, so a sweep that fails then pages at once
    (`UnprotectedSweepFailures`). Kraken's timer still stands after its first sweep: a failure there
    is a venue error like any other, its timer takes the book."""
    toy = ToyTrader(stack)
    toy.beat()
    toy.rest_orders(1)
    for venue in ("hyperliquid", "kraken"):
        assert refresher(venue).tick().accounts[0].extended_to_ms is not None
    toy.writer.stop_running()

    def tick(venue: str) -> tuple[Any, list[str]]:
        metrics = ListMetrics()
        report = refresher(venue, metrics=metrics).tick()
        return report, [name for name, _, _ in metrics.records]

    hyper, names = tick("hyperliquid")
    main = next(a for a in hyper.accounts if a.account == "main")
    assert main.swept is not None and stack.switch("hyperliquid", "main").deadline_ms is None
    assert "UnprotectedSweepFailures" not in names
    toy.rest_orders(1)  # the zombie goes on
    stack.sims["hyperliquid"].set_fault("venue_5xx", True)
    stack.sims["kraken"].set_fault("venue_5xx", True)
    hyper, names = tick("hyperliquid")
    assert next(a for a in hyper.accounts if a.account == "main").error is not None
    assert "UnprotectedSweepFailures" in names
    kraken, names = tick("kraken")
    assert kraken.accounts[0].error is not None and "VenueErrors" in names
    assert stack.switch("kraken", "main").deadline_ms is not None
    assert "UnprotectedSweepFailures" not in names
    # A sweep that gets through but whose cancels the venue refuses leaves the same orders behind.
    stack.sims["hyperliquid"].set_fault("venue_5xx", False)
    stack.sims["hyperliquid"].set_fault("cancel_refused", True)
    hyper, names = tick("hyperliquid")
    main = next(a for a in hyper.accounts if a.account == "main")
    assert main.error is None and "SweepIncomplete" in names
    assert "UnprotectedSweepFailures" in names
