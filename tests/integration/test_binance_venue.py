"""The Binance client against the Binance simulator, in virtual time: the per-symbol countdowns, the
disarm, the sweep over every symbol with orders (listed or not, algo orders too), every error class,
the recvWindow rule, the weight budget and its bans, and bad secrets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from deadman.stores.nonces import MemoryNonceSource
from deadman.venues import binance
from deadman.venues import errors as E
from sandbox.venues.binance import PROVISIONED_SECRET, BinanceSim
from sandbox.venues.common import VirtualClock

pytestmark = pytest.mark.integration

START_MS = 1_767_225_600_000


@pytest.fixture
def world() -> Iterator[tuple[BinanceSim, VirtualClock]]:
    clock = VirtualClock(START_MS)
    sim = BinanceSim(clock).start(tick_s=None)
    assert isinstance(sim, BinanceSim)
    sim.add_key("TRADER", PROVISIONED_SECRET, "acct")
    sim.add_key("READONLY", PROVISIONED_SECRET, "acct", permissions=("read",))
    sim.add_key("COIN", PROVISIONED_SECRET, "coin", market="coinm")
    try:
        yield sim, clock
    finally:
        sim.stop()


def make(sim: BinanceSim, clock: VirtualClock, **over: Any) -> binance.Client:
    entry = {
        "account_id": "acct",
        "market": "usdm",
        "api_key": "TRADER",
        "api_secret": PROVISIONED_SECRET,
        "symbols": ["BTCUSDT", "ETHUSDT"],
        "base_url": sim.url,
        **over,
    }
    account = binance.DRIVER.parse_account(entry, secret_name="deadman/binance", sandbox=True)
    made = binance.DRIVER.client(account, nonces=MemoryNonceSource(), clock=clock)
    assert isinstance(made, binance.Client)
    return made


def test_extend_sets_every_listed_symbols_countdown_by_the_deadline(world):
    sim, clock = world
    deadline = START_MS + 45_000
    result = make(sim, clock).extend(deadline)
    timers = sim.timers("acct")
    assert set(timers) == {"BTCUSDT", "ETHUSDT"}
    assert all(at <= deadline for at in timers.values())
    assert (
        result.venue_deadline_ms is not None and max(timers.values()) <= result.venue_deadline_ms <= deadline
    )


def test_a_countdown_fires_for_its_symbol_only_and_an_unlisted_symbol_has_none(world):
    sim, clock = world
    btc, sol = sim.place_order("acct", "BTCUSDT"), sim.place_order("acct", "SOLUSDT")
    stop = sim.place_order("acct", "BTCUSDT", algo=True)
    make(sim, clock, symbols=["BTCUSDT"]).extend(START_MS + 45_000)
    sim.advance(45_000)
    ids = sim.order_ids("acct")
    assert btc not in ids and sol in ids  # SOLUSDT is watchdog-only
    assert stop in ids  # conditional orders survive a fire (the safe reading: swept explicitly)
    assert sim.timers("acct") == {} and len(sim.fires) == 1


def test_the_sweep_takes_every_symbol_with_orders_listed_or_not_and_algo_orders(world):
    sim, clock = world
    for symbol in ("BTCUSDT", "SOLUSDT", "XRPUSDT"):
        sim.place_order("acct", symbol)
    sim.place_order("acct", "XRPUSDT", algo=True)
    result = make(sim, clock).sweep()
    assert sim.order_ids("acct") == set() and result.cancelled_count == 4 and result.complete


def test_a_coinm_account_sweeps_and_extends_on_dapi(world):
    sim, clock = world
    sim.place_order("coin", "BTCUSD_PERP")
    c = make(sim, clock, account_id="coin", market="coinm", api_key="COIN", symbols=["BTCUSD_PERP"])
    c.extend(START_MS + 45_000)
    assert set(sim.timers("coin")) == {"BTCUSD_PERP"}
    assert c.sweep().cancelled_count == 1 and sim.order_ids("coin") == set()


def test_disarm_switches_every_listed_countdown_off(world):
    sim, clock = world
    c = make(sim, clock)
    c.extend(START_MS + 45_000)
    c.disarm()
    assert sim.timers("acct") == {}
    sim.place_order("acct", "BTCUSDT")
    sim.advance(120_000)
    assert len(sim.order_ids("acct")) == 1 and sim.fires == []


def test_an_unknown_symbol_is_refused_and_the_account_is_not_extended(world):
    sim, clock = world
    with pytest.raises(E.RejectedError) as raised:
        make(sim, clock, symbols=["DOGEUSDT", "BTCUSDT"]).extend(START_MS + 45_000)
    assert raised.value.code == "-1121"
    assert set(sim.timers("acct")) == {"BTCUSDT"}  # the other symbol is still pushed


def test_a_read_only_key_cannot_extend_but_lists(world):
    sim, clock = world
    c = make(sim, clock, api_key="READONLY")
    assert c.open_orders() == []
    with pytest.raises(E.AuthError):
        c.extend(START_MS + 45_000)


@pytest.mark.parametrize(
    ("over", "code"), [({"api_key": "NOBODY"}, "-2015"), ({"api_secret": "wrong"}, "-1022")]
)
def test_bad_credentials(world, over: dict[str, str], code: str):
    sim, clock = world
    with pytest.raises(E.AuthError) as raised:
        make(sim, clock, **over).extend(START_MS + 45_000)
    assert raised.value.code == code


def test_a_request_outside_the_recv_window_is_refused(world):
    sim, clock = world
    late = make(sim, clock)
    late._clock = lambda: clock() - 5_001  # type: ignore[method-assign]
    with pytest.raises(E.NonceError):
        late.extend(START_MS + 45_000)
    ahead = make(sim, clock)
    ahead._clock = lambda: clock() + 1_000  # type: ignore[method-assign]
    with pytest.raises(E.NonceError):
        ahead.open_orders()
    assert sim.timers("acct") == {}


def test_the_simulator_reads_parameters_in_any_order_query_or_body_and_hex_in_any_case(world):
    sim, clock = world
    params = f"timestamp={clock()}&symbol=BTCUSDT&countdownTime=60000"
    sig = binance.sign(params, PROVISIONED_SECRET).upper()
    headers = {"X-MBX-APIKEY": "TRADER"}
    url = f"{sim.url}/fapi/v1/countdownCancelAll"
    answer = requests.post(f"{url}?{params}&signature={sig}", headers=headers, timeout=5)
    assert answer.json() == {"symbol": "BTCUSDT", "countdownTime": "60000"}
    tampered = requests.post(
        f"{url}?{params.replace('60000', '90000')}&signature={sig}", headers=headers, timeout=5
    )
    assert tampered.json()["code"] == -1022


def test_the_weight_budget_answers_429_the_client_backs_off_and_is_never_banned(world):
    sim, clock = world
    sim.weight_per_minute, sim.ban_after = 30, 2
    c = make(sim, clock)
    c.extend(START_MS + 45_000)  # 20 of 30
    with pytest.raises(E.RateLimitError) as limited:
        c.extend(START_MS + 45_000)  # 10 more fits, the next symbol's does not
    assert limited.value.http_status == 429
    seen = sim.requests_seen
    for _ in range(5):
        with pytest.raises(E.RateLimitError, match="held back"):
            c.open_orders()
    assert sim.requests_seen == seen and sim.banned_until is None  # backed off: no ban earned
    clock.set((clock() // 60_000 + 1) * 60_000)
    sim.weight_per_minute = 2_400  # the two lists without a symbol cost 40 each
    assert c.open_orders() == []


def test_a_ban_earned_elsewhere_on_the_ip_is_waited_out(world):
    sim, clock = world
    sim.banned_until = clock() + 120_000  # another sender on the same IP did not back off
    c = make(sim, clock)
    with pytest.raises(E.RateLimitError) as banned:
        c.open_orders()
    assert banned.value.code == "ip_ban"
    seen = sim.requests_seen
    with pytest.raises(E.RateLimitError):
        c.open_orders()
    assert sim.requests_seen == seen  # not sent while banned
    clock.set(sim.banned_until + 60_000)
    assert c.open_orders() == []


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("venue_5xx", E.TransientError),
        ("venue_429", E.RateLimitError),
        ("venue_maintenance", E.UnavailableError),
    ],
)
def test_venue_faults(world, fault: str, kind: type[E.VenueError]):
    sim, clock = world
    assert sim.set_fault(fault, True)
    with pytest.raises(kind):
        make(sim, clock).extend(START_MS + 45_000)
    sim.set_fault(fault, False)
    make(sim, clock).extend(START_MS + 45_000)
    assert set(sim.timers("acct")) == {"BTCUSDT", "ETHUSDT"}


def test_a_stale_decision_is_not_sent(world):
    sim, clock = world
    with pytest.raises(E.StaleDecisionError):
        make(sim, clock).extend(START_MS + 45_000, send_by_ms=START_MS - 1)
    assert sim.timers("acct") == {} and sim.requests_seen == 0
