"""The sandbox's venue simulators behind their one interface: every venue deadman registers has one,
each says of its timer what deadman's spec says, and each is driven the same way (provision, rest,
read the book, read the timer, switch its faults), so that the stack, the trader, the bench server
and the campaign need no word of any venue."""

from __future__ import annotations

import json

import pytest

from deadman.stores.credentials import parse_secret
from deadman.venues import CAPABILITIES, REGISTRY
from sandbox.sim.faults import VENUE_FAULTS
from sandbox.sim.scenario import HAZARD_VENUES, make_scenario
from sandbox.venues.common import VirtualClock
from sandbox.venues.registry import SIMULATORS
from sandbox.venues.simulator import AccountSpec, Simulator

VENUES = sorted(SIMULATORS)


def test_every_registered_venue_has_a_simulator() -> None:
    missing = sorted(set(REGISTRY) - set(SIMULATORS))
    assert not missing, f"venues registered in deadman.venues.REGISTRY with no simulator: {missing}"
    assert sorted(set(SIMULATORS) - set(REGISTRY)) == [], "a simulator for a venue deadman does not know"
    for venue, simulator in SIMULATORS.items():
        assert issubclass(simulator, Simulator) and simulator.venue == venue


@pytest.mark.parametrize("venue", VENUES)
def test_a_simulator_says_of_its_timer_what_deadman_says(venue: str) -> None:
    rules, caps = SIMULATORS[venue].RULES, CAPABILITIES[venue]
    assert rules.timer_switches_off == caps.can_disarm
    assert rules.has_timer == caps.has_timer
    assert rules.calls_restart_timer_ms == caps.fixed_timeout_ms
    assert SIMULATORS[venue].supports("volume_gate") == caps.native_may_be_refused
    assert SIMULATORS[venue].supports("trigger_exhaustion") == (caps.daily_trigger_budget is not None)
    assert rules.faults <= VENUE_FAULTS and rules.cancels_on_its_own <= rules.faults


@pytest.mark.parametrize("venue", VENUES)
def test_a_simulator_is_driven_through_the_interface(venue: str) -> None:
    clock = VirtualClock()
    sim = SIMULATORS[venue].create(clock)

    def parses(entries: list[dict[str, object]]) -> None:
        raw = json.dumps({"accounts": [{**e, "base_url": "http://127.0.0.1:9"} for e in entries]})
        parse_secret(venue, f"sim/{venue}", raw, sandbox=True)

    a = sim.provision(AccountSpec("a", kill_key=True))
    b = sim.provision(AccountSpec("b", below_gate=True, nonce_mode="time"))
    parses([a, b])
    assert a["account_id"] == "a" and "kill" in a
    first = sim.rest_order("a")
    assert sim.order_ids("a") == {first} and sim.order_ids("b") == set()
    assert sim.timer_at("a") is None and sim.timer_fires() == 0
    rotated = sim.rotate_keys("a")
    parses([rotated, b])
    second = sim.rest_order("a", old_key=True)
    sim.delete_old_keys("a")
    assert sim.order_ids("a") == {first, second}
    # Where orders rest on keys, the first order's key was just deleted; elsewhere it is the account's.
    assert sim.key_deleted_at(first) == (clock() if sim.RULES.orders_on_keys else None)
    for fault in sorted(VENUE_FAULTS):
        acted = sim.set_fault(fault, True, until_ms=clock() + 1_000)
        assert acted == sim.supports(fault) or fault == "cancel_refused", fault
        sim.set_fault(fault, False)
    assert not sim.locked_out()
    assert not sim.set_at_soonest(clock() + 5_000, 2_000)  # no timer was asked for


@pytest.mark.parametrize("venue", VENUES)
def test_a_simulator_counts_its_timers_extensions_and_cancels(venue: str) -> None:
    """The requests the checker reads off the network log, as each venue's protocol has them."""
    sim = SIMULATORS[venue]
    # A venue with no timer has no extension to count: its cancel is never one either.
    # (its cancel, the cancel's body, a listing that is neither)
    no_timer = {
        "bybit": ("/v5/order/cancel-all", b'{"category":"option"}', "/v5/order/realtime?category=option"),
        "deribit": ("/api/v2/private/cancel_all", b"", "/api/v2/private/get_open_orders?type=all"),
    }
    if not sim.RULES.has_timer:
        assert venue in no_timer, f"{venue}: add its sample cancel request here"
        cancel, cancel_body, listing = no_timer[venue]
        assert sim.is_cancel(cancel, cancel_body) and not sim.is_extension(cancel, cancel_body)
        assert not sim.is_cancel(listing, b"") and not sim.is_extension(listing, b"")
        return
    bodies = {
        "kraken": ("/0/private/CancelAllOrdersAfter", b"nonce=1&timeout=60", "/0/private/CancelAll"),
        "gemini": ("/v1/heartbeat", b"", "/v1/order/cancel/session"),
        "hyperliquid": ("/exchange", b'{"action":{"type":"scheduleCancel","time":1}}', "/exchange"),
        "binance": (
            "/fapi/v1/countdownCancelAll",
            b"symbol=BTCUSDT&countdownTime=60000",
            "/fapi/v1/allOpenOrders",
        ),
        "bitmex": ("/api/v1/order/cancelAllAfter", b'{"timeout":60000}', "/api/v1/order/all"),
        "okx": ("/api/v5/trade/cancel-all-after", b'{"timeOut":"60"}', "/api/v5/trade/cancel-batch-orders"),
        "gate": (
            "/api/v4/futures/usdt/countdown_cancel_all",
            b'{"timeout":60}',
            "/api/v4/futures/usdt/orders?contract=BTC_USDT",
        ),
    }
    # A listing on a path that also cancels (another verb): the log's query tells them apart.
    listings = {
        "gate": "/api/v4/futures/usdt/orders?status=open&contract=BTC_USDT",
        "okx": "/api/v5/trade/orders-pending?limit=100",
    }
    assert venue in bodies, f"{venue}: add its sample extension and cancel requests here"
    path, body, cancel = bodies[venue]
    assert sim.is_extension(path, body) and not sim.is_cancel(path, body)
    cancel_body = b'{"action":{"type":"cancel","cancels":[]}}' if venue == "hyperliquid" else b""
    assert sim.is_cancel(cancel, cancel_body) and not sim.is_extension(cancel, cancel_body)
    if venue in listings:
        assert not sim.is_cancel(listings[venue], b"")


def test_scenarios_draw_venue_hazards_only_where_the_venue_has_them() -> None:
    assert set(HAZARD_VENUES["h8 refused cancels"]) == {
        v for v in SIMULATORS if SIMULATORS[v].supports("cancel_refused")
    }
    for seed in range(600):
        s = make_scenario(seed, hazard_share=1.0)
        rules = SIMULATORS[s.venue].RULES
        assert s.venue in HAZARD_VENUES.get(s.hazard, (s.venue,)), (seed, s.hazard)
        if s.gated:
            assert SIMULATORS[s.venue].supports("volume_gate"), seed
        if s.edit and s.edit[0] == "key_rotation":
            assert rules.orders_on_keys, seed
