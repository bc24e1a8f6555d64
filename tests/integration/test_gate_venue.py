"""The Gate client against the Gate simulator over loopback HTTP (GET, POST and DELETE): the timers
of every market set, read back, fired and switched off; the sweep across markets and contracts; the
venue's refusals (auth, timestamp window, range, rate limit, a market down) and bad secrets."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from deadman.core.errors import CredentialsError
from deadman.stores.nonces import MemoryNonceSource
from deadman.venues import driver
from deadman.venues import errors as E
from deadman.venues.gate import Account, Client
from sandbox.venues.common import VirtualClock
from sandbox.venues.gate import PROVISIONED_SECRET, RATE_LIMIT, GateSim, gate_signature
from sandbox.venues.simulator import AccountSpec
from tests.integration.in_order import InOrder


@pytest.fixture
def world() -> Iterator[tuple[GateSim, VirtualClock]]:
    clock = VirtualClock()
    sim = GateSim(clock)
    sim.start(tick_s=None)
    try:
        yield sim, clock
    finally:
        sim.stop()


def make(
    sim: GateSim, clock: VirtualClock, entry: dict[str, Any], parallel: Any = None, **change: Any
) -> Client:
    account = driver("gate").parse_account(
        {**entry, "base_url": sim.url, **change}, secret_name="t", sandbox=True
    )
    client = driver("gate").client(account, nonces=MemoryNonceSource(), clock=clock, parallel=parallel)
    assert isinstance(client, Client)
    return client


def test_extend_sets_every_market_and_the_timers_fire_there(world: tuple[GateSim, VirtualClock]) -> None:
    sim, clock = world
    c = make(sim, clock, sim.provision(AccountSpec("a")))
    spot, fut = sim.place("a", "spot", "GT_USDT"), sim.place("a", "futures:btc", "ETH_USD")
    out = c.extend(clock() + 31_000)  # aimed a second early
    assert out.venue_deadline_ms == clock() + 30_000
    assert set(sim.timers("a")) == {("spot", None), ("futures:usdt", None), ("futures:btc", None)}
    sim.advance(29_999)
    assert sim.order_ids("a") == {spot, fut}
    sim.advance(1)
    assert sim.order_ids("a") == set() and sim.timer_fires() == 3 and sim.timer_at("a") is None


def test_disarm_switches_every_timer_off(world: tuple[GateSim, VirtualClock]) -> None:
    sim, clock = world
    c = make(sim, clock, sim.provision(AccountSpec("a")))
    sim.place("a", "spot", "BTC_USDT")
    c.extend(clock() + 20_000)
    c.disarm()
    assert sim.timers("a") == {}
    sim.advance(60_000)
    assert len(sim.order_ids("a")) == 1 and sim.timer_fires() == 0


def test_pairs_narrow_the_timer_and_the_sweep_still_takes_the_whole_market(
    world: tuple[GateSim, VirtualClock],
) -> None:
    sim, clock = world
    entry = sim.provision(AccountSpec("a"))
    c = make(sim, clock, entry, markets=["futures:usdt"], pairs={"futures:usdt": ["BTC_USDT"]})
    named, other = sim.place("a", "futures:usdt", "BTC_USDT"), sim.place("a", "futures:usdt", "SOL_USDT")
    c.extend(clock() + 11_000)
    assert set(sim.timers("a")) == {("futures:usdt", "BTC_USDT")}
    sim.advance(10_000)
    assert sim.order_ids("a") == {other}  # the timer took its contract only
    named = sim.place("a", "futures:usdt", "ETH_USDT")
    out = c.sweep()
    assert set(out.cancelled_ids) == {other, named} and sim.order_ids("a") == set()


def test_the_sweep_cancels_every_market_and_contract(world: tuple[GateSim, VirtualClock]) -> None:
    sim, clock = world
    c = make(sim, clock, sim.provision(AccountSpec("a", kill_key=True)))
    placed = {sim.rest_order("a") for _ in range(25)}
    assert {o.order_id for o in c.open_orders()} == placed
    kill = driver("gate").client(c._account.for_kill(), nonces=MemoryNonceSource(), clock=clock)
    out = kill.sweep()
    assert set(out.cancelled_ids) == placed and out.complete and sim.order_ids("a") == set()
    assert kill.sweep().cancelled_count == 0  # nothing left: empty answers, not errors


def test_one_market_down_fails_the_extension_and_the_sweep_goes_on(
    world: tuple[GateSim, VirtualClock],
) -> None:
    sim, clock = world
    c = make(sim, clock, sim.provision(AccountSpec("a")))
    spot = sim.place("a", "spot", "BTC_USDT")
    fut = sim.place("a", "futures:usdt", "BTC_USDT")
    sim.market_faults["venue_5xx"] = frozenset({"spot"})
    with pytest.raises(E.TransientError):
        c.extend(clock() + 30_000)
    with pytest.raises(E.TransientError):
        c.sweep()
    assert sim.order_ids("a") == {spot}, "the futures market was swept past the spot failure"
    sim.market_faults["venue_maintenance"] = frozenset({"futures:btc"})
    sim.market_faults.pop("venue_5xx")
    with pytest.raises(E.UnavailableError):
        c.extend(clock() + 30_000)
    del fut


def test_the_timestamp_window_and_the_signature_are_checked(world: tuple[GateSim, VirtualClock]) -> None:
    sim, clock = world
    entry = sim.provision(AccountSpec("a"))
    late = make(sim, clock, entry)
    late._clock = lambda: clock() - 61_000
    with pytest.raises(E.NonceError, match="REQUEST_EXPIRED"):
        late.open_orders()
    with pytest.raises(E.AuthError, match="INVALID_SIGNATURE"):
        make(sim, clock, entry, api_secret="0" * 64).open_orders()
    with pytest.raises(E.AuthError, match="INVALID_KEY"):
        make(sim, clock, entry, api_key="nobody").open_orders()


def test_permissions_and_missing_accounts(world: tuple[GateSim, VirtualClock]) -> None:
    sim, clock = world
    sim.add_key("ro", PROVISIONED_SECRET, "r", write=False, markets=("spot",))
    entry = {"account_id": "r", "api_key": "ro", "api_secret": PROVISIONED_SECRET, "markets": ["spot"]}
    ro = make(sim, clock, entry)
    assert ro.open_orders() == []
    with pytest.raises(E.MissingPermissionError, match="READ_ONLY"):
        ro.extend(clock() + 30_000)
    sim.add_key("rw", PROVISIONED_SECRET, "w", markets=("spot",))
    with pytest.raises(E.RejectedError, match="USER_NOT_FOUND"):
        make(sim, clock, entry, api_key="rw", markets=["futures:btc"]).extend(clock() + 30_000)


def signed(sim: GateSim, clock: VirtualClock, method: str, path: str, body: bytes = b"") -> requests.Response:
    route, _, query = path.partition("?")
    ts = str(clock() // 1000)
    headers = {
        "KEY": "gate-a-g0",
        "Timestamp": ts,
        "SIGN": gate_signature(method, route, query, body, ts, PROVISIONED_SECRET),
    }
    return requests.request(method, sim.url + path, data=body, headers=headers, timeout=5)


@pytest.mark.parametrize(
    ("timeout", "ok"), [(0, True), (1, False), (4, False), (5, True), (-1, False), (2**31, False)]
)
def test_the_timeout_range(world: tuple[GateSim, VirtualClock], timeout: int, ok: bool) -> None:
    sim, clock = world
    sim.provision(AccountSpec("a"))
    resp = signed(
        sim, clock, "POST", "/api/v4/spot/countdown_cancel_all", json.dumps({"timeout": timeout}).encode()
    )
    assert (resp.status_code == 200) == ok, resp.text
    if not ok:
        assert resp.json()["label"] == "INVALID_PARAM_VALUE"


def test_futures_cancel_all_wants_a_contract(world: tuple[GateSim, VirtualClock]) -> None:
    sim, clock = world
    sim.provision(AccountSpec("a"))
    resp = signed(sim, clock, "DELETE", "/api/v4/futures/usdt/orders")
    assert resp.status_code == 400 and resp.json()["label"] == "MISSING_REQUIRED_PARAM"
    assert sim.is_cancel("/api/v4/futures/usdt/orders?contract=BTC_USDT", b"")
    assert not sim.is_cancel("/api/v4/futures/usdt/orders?status=open&limit=100&offset=0", b"")
    assert sim.is_extension("/api/v4/spot/countdown_cancel_all", b'{"timeout":30}')
    assert not sim.is_extension("/api/v4/spot/countdown_cancel_all", b'{"timeout":0}')


def test_the_rate_limit_is_per_endpoint(world: tuple[GateSim, VirtualClock]) -> None:
    sim, clock = world
    c = make(sim, clock, sim.provision(AccountSpec("a")), markets=["spot"])
    for _ in range(RATE_LIMIT):
        c.extend(clock() + 30_000)
    with pytest.raises(E.RateLimitError):
        c.extend(clock() + 30_000)
    assert c.open_orders() == []  # another endpoint answers
    sim.advance(10_001)
    c.extend(clock() + 30_000)


def test_bad_secrets_are_refused_before_any_request() -> None:
    entry = {"account_id": "a", "api_key": "k", "api_secret": "s", "markets": ["spot"]}
    for bad in ({"api_secret": " s"}, {"markets": "spot"}, {"base_url": "http://127.0.0.1:1"}):
        with pytest.raises(CredentialsError):
            Account.from_mapping({**entry, **bad}, secret_name="t")
    assert hashlib.sha512(b"").hexdigest().startswith("cf83e135")


def test_the_markets_are_set_side_by_side_and_a_late_one_set_again_at_once(
    world: tuple[GateSim, VirtualClock],
) -> None:
    """Gate counts a timeout from the request's arrival. The three markets' timers are handed over as
    one batch (side by side: on a slow path, one after another would age the decision past its
    send-by time before the last left). The first took 4 s to arrive and landed past the deadline:
    it is set again at once, aimed earlier by that transit."""
    sim, clock = world
    in_order = InOrder()
    c = make(sim, clock, sim.provision(AccountSpec("a")), parallel=in_order)
    real_handle = sim.handle
    delays = [4_000]
    seen: list[tuple[str, int]] = []

    def slow_first(method: str, path: str, headers: Any, body: bytes) -> Any:
        if path.endswith("/countdown_cancel_all"):
            if delays:
                clock.advance(delays.pop())
            seen.append((path.split("/")[3], json.loads(body)["timeout"]))
        return real_handle(method, path, headers, body)

    sim.handle = slow_first  # type: ignore[method-assign]
    deadline = clock() + 31_000
    out = c.extend(deadline)
    assert in_order.batches == [3]
    assert seen == [("spot", 30), ("spot", 22), ("futures", 22), ("futures", 22)]
    assert max(sim.timers("a").values()) <= deadline
    assert out.venue_deadline_ms is not None and out.venue_deadline_ms <= deadline
    c.disarm()
    assert in_order.batches == [3, 3] and sim.timer_at("a") is None
