"""The Bybit client against the Bybit simulator over loopback HTTP (GET and POST): the sweep of every
category, conditional and TP/SL orders included; the listing; the venue's refusals (auth, receive
window, permission, rate limit, maintenance) and bad secrets; no timer to extend or switch off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from deadman.core.errors import CredentialsError
from deadman.stores.nonces import MemoryNonceSource
from deadman.venues import driver
from deadman.venues import errors as E
from deadman.venues.bybit import Client
from sandbox.venues.bybit import CANCEL_PER_S, SPOT_KINDS, BybitSim
from sandbox.venues.common import VirtualClock
from sandbox.venues.simulator import AccountSpec


@pytest.fixture
def world() -> Iterator[tuple[BybitSim, VirtualClock]]:
    clock = VirtualClock()
    sim = BybitSim(clock)
    sim.start(tick_s=None)
    try:
        yield sim, clock
    finally:
        sim.stop()


def make(sim: BybitSim, clock: Any, entry: dict[str, Any], **change: Any) -> Client:
    if "inverse" not in change.get("categories", ["inverse"]):
        change.setdefault("inverse_coins", None)  # named only with inverse
    account = driver("bybit").parse_account(
        {**entry, "base_url": sim.url, **change}, secret_name="t", sandbox=True
    )
    client = driver("bybit").client(account, nonces=MemoryNonceSource(), clock=clock)
    assert isinstance(client, Client)
    return client


def test_the_sweep_takes_every_category_and_kind(world: tuple[BybitSim, VirtualClock]) -> None:
    sim, clock = world
    c = make(sim, clock, sim.provision(AccountSpec("a")))
    placed = {sim.place("a", "spot", kind=k) for k in SPOT_KINDS}
    placed |= {sim.place("a", "linear", kind="StopOrder", coin="USDC"), sim.place("a", "inverse", coin="ETH")}
    placed.add(sim.place("a", "option"))
    assert {o.order_id for o in c.open_orders()} == placed
    result = c.sweep()
    assert set(result.cancelled_ids) == placed and result.pending
    assert sim.order_ids("a") == set() and c.open_orders() == []


def test_a_coin_the_secret_does_not_name_is_not_reached(world: tuple[BybitSim, VirtualClock]) -> None:
    """Linear and inverse cancel per coin: the secret must name every coin traded (README)."""
    sim, clock = world
    entry = sim.provision(AccountSpec("a"))
    oid = sim.place("a", "linear", coin="USDC")
    make(sim, clock, entry, settle_coins=["USDT"]).sweep()
    assert sim.order_ids("a") == {oid}


def test_more_than_500_futures_orders_are_cancelled_in_passes(world: tuple[BybitSim, VirtualClock]) -> None:
    sim, clock = world
    c = make(sim, clock, sim.provision(AccountSpec("a")), categories=["linear"], settle_coins=["USDT"])
    for _ in range(700):
        sim.place("a", "linear", coin="USDT")
    assert c.sweep().cancelled_count == 700 and sim.order_ids("a") == set()


def test_the_listing_pages_by_cursor(world: tuple[BybitSim, VirtualClock]) -> None:
    sim, clock = world
    c = make(sim, clock, sim.provision(AccountSpec("a")), categories=["option"])
    placed = {sim.place("a", "option") for _ in range(120)}
    assert {o.order_id for o in c.open_orders()} == placed


def test_extend_and_disarm_refuse_and_nothing_is_sent(world: tuple[BybitSim, VirtualClock]) -> None:
    sim, clock = world
    c = make(sim, clock, sim.provision(AccountSpec("a")))
    before = sim.requests_seen
    with pytest.raises(E.NotSupportedError):
        c.extend(clock() + 60_000)
    with pytest.raises(E.NotSupportedError):
        c.disarm()
    assert sim.requests_seen == before and sim.timer_at("a") is None


def test_refusals(world: tuple[BybitSim, VirtualClock]) -> None:
    sim, clock = world
    entry = sim.provision(AccountSpec("a"))
    with pytest.raises(E.AuthError):
        make(sim, clock, entry, api_secret="wrong").sweep()
    with pytest.raises(E.AuthError):
        make(sim, clock, entry, api_key="nobody").sweep()
    # A clock 2 s ahead of the venue's is outside [server - 5 s, server + 1 s).
    with pytest.raises(E.NonceError):
        make(sim, lambda: clock() + 2_000, entry).sweep()
    make(sim, lambda: clock() - 4_000, entry).sweep()  # 4 s behind is inside the window
    sim.add_key("readonly", "s3cret", "a", categories=frozenset({"spot"}))
    with pytest.raises(E.MissingPermissionError):
        make(sim, clock, entry, api_key="readonly", api_secret="s3cret", categories=["option"]).sweep()
    c = make(sim, clock, entry, categories=["option"])
    with pytest.raises(E.RateLimitError):
        for _ in range(CANCEL_PER_S + 1):
            c.sweep()
    clock.advance(1_000)
    sim.set_fault("venue_maintenance", True)
    with pytest.raises(E.UnavailableError):
        c.sweep()
    sim.set_fault("venue_maintenance", False)
    c.sweep()


def test_bad_secrets_name_the_field(world: tuple[BybitSim, VirtualClock]) -> None:
    sim, _clock = world
    entry = sim.provision(AccountSpec("a"))
    with pytest.raises(CredentialsError, match="base_url"):
        driver("bybit").parse_account({**entry, "base_url": sim.url}, secret_name="t")  # not sandbox
    with pytest.raises(CredentialsError, match="categories"):
        driver("bybit").parse_account({**entry, "categories": "spot"}, secret_name="t", sandbox=True)
