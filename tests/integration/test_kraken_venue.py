"""The Kraken client against the Kraken simulator, in virtual time: every operation, every error
class, and the CancelAllOrdersAfter timer rules."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from deadman.core.secret import Secret
from deadman.core.venue import NonceSource
from deadman.stores.nonces import MemoryNonceSource
from deadman.venues import errors as E
from deadman.venues import kraken
from deadman.venues.errors import StaleDecisionError
from sandbox.venues.common import VirtualClock
from sandbox.venues.kraken import KrakenSim

pytestmark = pytest.mark.integration

ADD_ORDER_SIGN = "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
JSON_CAA_SIGN = "NJDD2t4PRTRf9x5a2TM0S3CbSObh7hBIiMWtOMpEbgzocumKkPnV1I8pXOsvxkDggwAAhXIM1t3O7cP21HWfpw=="
VECTOR_SECRET = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="


def b64(seed: bytes) -> str:
    return base64.b64encode(seed * (64 // len(seed))).decode()


KEYS = {
    # api_key: (secret, account, permissions)
    "TRADER": (b64(b"trader!!"), "acct1", {"query", "cancel", "trade"}),
    "REFRESH": (b64(b"refresh!"), "acct1", {"cancel"}),
    "KILL": (b64(b"killkill"), "acct1", {"cancel"}),
    "QUERY": (b64(b"queryqry"), "acct1", {"query"}),
    "OTHER": (b64(b"otheracc"), "acct2", {"query", "cancel", "trade"}),
}
START_MS = 1_700_000_000_000


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[KrakenSim, VirtualClock]]:
    # One server per module: stopping one costs ~0.5 s (serve_forever's poll interval).
    clock = VirtualClock(START_MS)
    server = KrakenSim(clock).start(tick_s=None)
    assert isinstance(server, KrakenSim)
    try:
        yield server, clock
    finally:
        server.stop()


@pytest.fixture
def clock(shared: tuple[KrakenSim, VirtualClock]) -> VirtualClock:
    return shared[1]


def register(server: KrakenSim) -> KrakenSim:
    for api_key, (secret, account, perms) in KEYS.items():
        server.add_key(api_key, secret, account, perms)
    return server


@pytest.fixture
def sim(shared: tuple[KrakenSim, VirtualClock]) -> Iterator[KrakenSim]:
    server, clock = shared
    server.reset()
    clock.set(START_MS)
    yield register(server)
    server.reset()


@pytest.fixture
def own_sim() -> Iterator[tuple[KrakenSim, VirtualClock]]:
    """A server of its own, for faults that outlive the test's request (a hang)."""
    clock = VirtualClock(START_MS)
    server = KrakenSim(clock)
    register(server).start(tick_s=None)
    try:
        yield server, clock
    finally:
        server.stop()  # also releases a hung handler


def make_client(
    sim: KrakenSim,
    clock: VirtualClock,
    api_key: str = "REFRESH",
    *,
    secret: str | None = None,
    nonces: NonceSource | None = None,
    timeout: tuple[float, float] = (2.0, 2.0),
) -> kraken.Client:
    account = kraken.Account(
        account_id="acct1",
        api_key=api_key,
        api_secret=Secret(secret or KEYS[api_key][0]),
        base_url=sim.url,
    )
    return kraken.Client(account, nonces=nonces or MemoryNonceSource(), clock=clock, timeout=timeout)


_raw_nonce = iter(range(START_MS * 10, START_MS * 20))


def raw_post(
    sim: KrakenSim,
    method: str,
    params: dict[str, Any],
    *,
    api_key: str = "TRADER",
    json_body: bool = False,
    nonce: int | None = None,
    sign_body: bytes | None = None,
) -> dict[str, Any]:
    """A hand-made signed request (the toy trader's path, and shapes the client never sends)."""
    n = nonce if nonce is not None else next(_raw_nonce)
    fields = {"nonce": n, **params}
    body = json.dumps(fields, separators=(",", ":")).encode() if json_body else urlencode(fields).encode()
    path = f"/0/private/{method}"
    signature = kraken.sign(path, n, sign_body if sign_body is not None else body, KEYS[api_key][0])
    ctype = "application/json" if json_body else "application/x-www-form-urlencoded"
    resp = requests.post(
        sim.url + path,
        data=body,
        headers={"API-Key": api_key, "API-Sign": signature, "Content-Type": ctype},
        timeout=5,
    )
    assert resp.status_code == 200
    result: dict[str, Any] = resp.json()
    return result


def add_orders(sim: KrakenSim, n: int, api_key: str = "TRADER") -> list[str]:
    txids = []
    for i in range(n):
        answer = raw_post(
            sim,
            "AddOrder",
            {"ordertype": "limit", "pair": "XBTUSD", "price": str(30000 + i), "type": "buy", "volume": "0.5"},
            api_key=api_key,
        )
        assert answer["error"] == [], answer
        txids.extend(answer["result"]["txid"])
    return txids


# -- wire shapes and the simulator's own signature check --------------------------------------------


def test_official_add_order_vector_is_accepted_by_simulator(sim):
    sim.add_key("VECTOR", VECTOR_SECRET, "acct3")
    body = b"nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
    resp = requests.post(
        sim.url + "/0/private/AddOrder",
        data=body,
        headers={
            "API-Key": "VECTOR",
            "API-Sign": ADD_ORDER_SIGN,
            "Content-Type": "application/x-www-form-urlencoded",
        },
        timeout=5,
    )
    answer = resp.json()
    assert resp.status_code == 200
    assert answer["error"] == []
    assert answer["result"]["descr"] == {"order": "buy 1.25000000 XBTUSD @ limit 37500"}
    [txid] = answer["result"]["txid"]
    assert len(txid) == 19
    assert txid.count("-") == 2
    order = sim.open_orders("acct3")[txid]
    assert order["descr"]["pair"] == "XBTUSD"
    assert order["vol"] == "1.25000000"


def test_json_cancel_all_orders_after_vector_is_accepted(sim, clock):
    sim.add_key("VECTOR", VECTOR_SECRET, "acct3")
    body = b'{"nonce":1616492376594,"timeout":60}'
    resp = requests.post(
        sim.url + "/0/private/CancelAllOrdersAfter",
        data=body,
        headers={
            "API-Key": "VECTOR",
            "API-Sign": JSON_CAA_SIGN,
            "Content-Type": "application/json",
        },
        timeout=5,
    )
    assert resp.json() == {
        "error": [],
        "result": {"currentTime": "2023-11-14T22:13:20Z", "triggerTime": "2023-11-14T22:14:20Z"},
    }
    assert sim.timer_trigger_ms("acct3") == clock() + 60_000


def test_json_body_from_a_trader_works_too(sim):
    answer = raw_post(
        sim,
        "AddOrder",
        {"ordertype": "limit", "pair": "ETHUSD", "price": "2000", "type": "sell", "volume": "2"},
        json_body=True,
    )
    assert answer["error"] == []
    assert [o["descr"]["pair"] for o in sim.open_orders("acct1").values()] == ["ETHUSD"]


def test_signature_over_other_bytes_is_refused(sim):
    answer = raw_post(sim, "CancelAll", {}, sign_body=b"nonce=1")
    assert answer == {"error": ["EAPI:Invalid signature"]}


def test_unknown_method(sim):
    assert raw_post(sim, "Balance", {}) == {"error": ["EGeneral:Unknown method"]}


# -- client operations ---------------------------------------------------------------------------


def test_open_orders(sim, clock):
    txids = add_orders(sim, 2)
    orders = make_client(sim, clock, "QUERY").open_orders()
    assert sorted(o.order_id for o in orders) == sorted(txids)
    first = next(o for o in orders if o.order_id == txids[0])
    assert (first.symbol, first.side, first.price, first.size) == ("XBTUSD", "buy", "30000", "0.50000000")


def test_sweep_cancels_everything_in_the_account_only(sim, clock):
    add_orders(sim, 3)
    add_orders(sim, 1, api_key="OTHER")
    client = make_client(sim, clock, "KILL")
    result = client.sweep()
    assert (result.cancelled_count, result.pending, result.complete) == (3, False, True)
    assert sim.open_orders("acct1") == {}
    assert len(sim.open_orders("acct2")) == 1
    assert client.sweep().cancelled_count == 0


def test_extend_sets_the_account_timer(sim, clock):
    result = make_client(sim, clock).extend(clock() + 61_000)
    assert result.detail == "CancelAllOrdersAfter timeout=60"
    assert result.requested_deadline_ms == START_MS + 61_000
    # triggerTime is whole seconds, cut down: the timer fires within the second after it.
    assert result.venue_deadline_ms == START_MS + 60_999
    assert sim.timer_trigger_ms("acct1") == START_MS + 60_000
    assert sim.timer_trigger_ms("acct2") is None


def test_extend_rounds_down_to_whole_seconds(sim, clock):
    """Kraken counts from the request's arrival: rounding up would set a timer past the deadline."""
    result = make_client(sim, clock).extend(clock() + 2_500)
    assert result.detail == "CancelAllOrdersAfter timeout=1"
    assert sim.timer_trigger_ms("acct1") == START_MS + 1_000


def test_extend_timeout_is_computed_after_the_nonce_draw(sim, clock):
    """Hazard 4: a slow nonce draw (DynamoDB) must not leave a timeout computed before it."""

    class SlowNonces(MemoryNonceSource):
        def next(self, key_id: str, floor: int) -> int:
            clock.advance(7_000)
            return super().next(key_id, floor)

    result = make_client(sim, clock, nonces=SlowNonces()).extend(START_MS + 61_000)
    assert result.detail == "CancelAllOrdersAfter timeout=53"
    assert sim.timer_trigger_ms("acct1") == START_MS + 60_000


def test_extend_that_lands_late_says_so_and_the_next_aims_earlier(sim, clock):
    """Hazard 4: the request arrived 4 s after it was computed; triggerTime says so; the next
    timeout (the refresher sends one at once, behind a new intent) is aimed earlier by it."""
    real_handle = sim.handle
    delays = [4_000]

    def slow_first(*args):
        if delays:
            clock.advance(delays.pop())
        return real_handle(*args)

    sim.handle = slow_first
    client = make_client(sim, clock)
    late = client.extend(START_MS + 61_000)
    assert late.venue_deadline_ms == START_MS + 64_999  # past the deadline: the caller sees it
    again = client.extend(START_MS + 61_000)
    # Sent at 4 s, aimed a second early and 4 s earlier for the transit just seen: early is safe.
    assert again.detail == "CancelAllOrdersAfter timeout=52"
    assert sim.timer_trigger_ms("acct1") == START_MS + 56_000
    assert again.venue_deadline_ms == START_MS + 56_999


def test_a_decision_past_its_send_by_time_is_not_sent(sim, clock):
    with pytest.raises(StaleDecisionError):
        make_client(sim, clock).extend(clock() + 61_000, send_by_ms=clock() - 1)
    assert sim.timer_trigger_ms("acct1") is None


def test_extend_beyond_limit_is_clamped_and_accepted(sim, clock):
    result = make_client(sim, clock).extend(clock() + 10 * 86_400_000)
    assert result.detail == "CancelAllOrdersAfter timeout=86399"
    assert sim.timer_trigger_ms("acct1") == START_MS + 86_399_000


def test_disarm(sim, clock):
    client = make_client(sim, clock)
    client.extend(clock() + 61_000)
    client.disarm()
    assert sim.timer_trigger_ms("acct1") is None


# -- timer rules (virtual time) -----------------------------------------------------------------------


def test_timer_fires_cancels_and_stays_off(sim, clock):
    add_orders(sim, 2)
    make_client(sim, clock).extend(clock() + 61_000)
    sim.advance(59_999)
    assert len(sim.open_orders("acct1")) == 2
    assert sim.fires == []
    sim.advance(5_000)
    assert sim.open_orders("acct1") == {}
    assert sim.fires == [(START_MS + 60_000, "acct1", 2)]
    assert sim.timer_trigger_ms("acct1") is None
    # stays disabled: new orders survive any amount of time
    add_orders(sim, 1)
    sim.advance(3_600_000)
    assert len(sim.open_orders("acct1")) == 1
    assert len(sim.fires) == 1


def test_rearm_after_fire(sim, clock):
    client = make_client(sim, clock)
    add_orders(sim, 1)
    client.extend(clock() + 11_000)
    sim.advance(11_000)
    assert len(sim.fires) == 1
    add_orders(sim, 2)
    client.extend(clock() + 11_000)
    assert sim.timer_trigger_ms("acct1") == clock() + 10_000
    sim.advance(10_000)
    assert sim.open_orders("acct1") == {}
    assert sim.fires[1] == (START_MS + 21_000, "acct1", 2)


def test_timeout_zero_disables(sim, clock):
    add_orders(sim, 2)
    client = make_client(sim, clock)
    client.extend(clock() + 11_000)
    client.disarm()
    sim.advance(3_600_000)
    assert len(sim.open_orders("acct1")) == 2
    assert sim.fires == []


def test_timeout_at_or_above_a_day_is_rejected(sim, clock):
    assert raw_post(sim, "CancelAllOrdersAfter", {"timeout": 86_400}) == {
        "error": ["EGeneral:Invalid arguments"]
    }
    assert raw_post(sim, "CancelAllOrdersAfter", {"timeout": -1}) == {"error": ["EGeneral:Invalid arguments"]}
    assert sim.timer_trigger_ms("acct1") is None
    answer = raw_post(sim, "CancelAllOrdersAfter", {"timeout": 86_399})
    assert answer["error"] == []
    assert answer["result"]["triggerTime"] == "2023-11-15T22:13:19Z"


def test_repeated_extends_push_the_trigger(sim, clock):
    add_orders(sim, 1)
    client = make_client(sim, clock)
    client.extend(clock() + 61_000)
    sim.advance(30_000)
    client.extend(clock() + 61_000)
    sim.advance(45_000)  # past the first trigger
    assert len(sim.open_orders("acct1")) == 1
    assert sim.fires == []
    sim.advance(15_000)
    assert sim.open_orders("acct1") == {}
    assert sim.fires == [(START_MS + 90_000, "acct1", 1)]


def test_one_timer_per_account_whatever_the_key(sim, clock):
    add_orders(sim, 1)
    make_client(sim, clock, "REFRESH").extend(clock() + 11_000)
    make_client(sim, clock, "KILL").disarm()  # another key of the same account switches it off
    sim.advance(20_000)
    assert len(sim.open_orders("acct1")) == 1


def test_engine_return_cancels_when_timer_enabled(sim, clock):
    add_orders(sim, 2)
    add_orders(sim, 1, api_key="OTHER")
    client = make_client(sim, clock)
    client.extend(clock() + 601_000)
    sim.faults.maintenance = True
    with pytest.raises(E.UnavailableError):
        client.extend(clock() + 601_000)
    sim.faults.maintenance = False
    sim.advance(1_000)
    assert sim.open_orders("acct1") == {}
    assert len(sim.open_orders("acct2")) == 1  # no timer there: untouched
    assert sim.fires == [(START_MS + 1_000, "acct1", 2)]


# -- error classes ------------------------------------------------------------------------------------


def assert_no_secret(exc: BaseException) -> None:
    for secret, _, _ in KEYS.values():
        assert secret not in str(exc)
        assert secret not in repr(exc)


def test_bad_secret_is_auth_error(sim, clock):
    wrong = b64(b"wrongkey")
    with pytest.raises(E.AuthError) as info:
        make_client(sim, clock, secret=wrong).extend(clock() + 61_000)
    assert info.value.code == "EAPI:Invalid signature"
    assert wrong not in str(info.value)
    assert_no_secret(info.value)
    assert sim.timer_trigger_ms("acct1") is None


def test_unknown_key_is_auth_error(sim, clock):
    account = kraken.Account("acct1", "NOPE", Secret(KEYS["KILL"][0]), base_url=sim.url)
    client = kraken.Client(account, nonces=MemoryNonceSource(), clock=clock)
    with pytest.raises(E.AuthError) as info:
        client.sweep()
    assert info.value.code == "EAPI:Invalid key"


class Backwards:
    """A nonce source gone wrong: each nonce smaller than the last."""

    def __init__(self, start: int) -> None:
        self.value = start

    def next(self, key_id: str, floor: int) -> int:
        self.value -= 1
        return self.value


def test_nonce_going_backwards_is_nonce_error(sim, clock):
    client = make_client(sim, clock, nonces=Backwards(START_MS + 100))
    client.extend(clock() + 61_000)
    with pytest.raises(E.NonceError) as info:
        client.extend(clock() + 61_000)
    assert info.value.code == "EAPI:Invalid nonce"
    assert_no_secret(info.value)


def test_lockout_blocks_the_key_but_not_the_kill_key(sim, clock):
    add_orders(sim, 2)
    bad = make_client(sim, clock, nonces=Backwards(START_MS + 100))
    bad.sweep()
    for _ in range(3):
        with pytest.raises(E.NonceError) as info:
            bad.sweep()
        assert info.value.code == "EAPI:Invalid nonce"
    add_orders(sim, 1)
    sim.advance(1_000)
    good = make_client(sim, clock, "REFRESH")  # nonces from the clock: valid, but the key is locked
    with pytest.raises(E.NonceError) as info:
        good.sweep()
    assert info.value.code == "lockout"
    assert "Temporary lockout" in str(info.value)
    assert len(sim.open_orders("acct1")) == 1
    # the kill path's own key is unaffected
    assert make_client(sim, clock, "KILL").sweep().cancelled_count == 1
    # and the lockout ends after its time
    sim.advance(15 * 60_000)
    add_orders(sim, 1)
    assert good.sweep().cancelled_count == 1


def test_invalid_nonces_spread_out_do_not_lock(sim, clock):
    bad = make_client(sim, clock, nonces=Backwards(START_MS + 100))
    bad.sweep()
    for _ in range(4):
        with pytest.raises(E.NonceError):
            bad.sweep()
        sim.advance(61_000)
    assert sim.locked_until_ms("REFRESH") is None


def test_rate_limited(sim, clock):
    sim.faults.rate_limited = True
    with pytest.raises(E.RateLimitError) as info:
        make_client(sim, clock).extend(clock() + 61_000)
    assert info.value.code == "EAPI:Rate limit exceeded"
    assert info.value.http_status == 200


def test_maintenance(sim, clock):
    sim.faults.maintenance = True
    with pytest.raises(E.UnavailableError) as info:
        make_client(sim, clock).sweep()
    assert info.value.code == "EService:Unavailable"


@pytest.mark.parametrize(
    ("status", "cls"), [(502, E.TransientError), (500, E.TransientError), (503, E.UnavailableError)]
)
def test_http_5xx(sim, clock, status, cls):
    sim.faults.http_5xx = status
    with pytest.raises(cls) as info:
        make_client(sim, clock).extend(clock() + 61_000)
    assert type(info.value) is cls
    assert info.value.http_status == status
    assert_no_secret(info.value)


def test_hang_past_timeout_is_transient(own_sim):
    sim, clock = own_sim
    sim.faults.hang_s = 1.0
    client = make_client(sim, clock, timeout=(0.3, 0.3))
    started = time.monotonic()
    with pytest.raises(E.TransientError) as info:
        client.sweep()
    assert time.monotonic() - started < 0.9
    assert "timeout" in str(info.value)
    assert_no_secret(info.value)


@pytest.mark.parametrize(
    ("api_key", "operation"),
    [
        ("REFRESH", "open_orders"),
        ("KILL", "open_orders"),
        ("QUERY", "sweep"),
        ("QUERY", "extend"),
        ("QUERY", "disarm"),
    ],
)
def test_permission_denied_is_auth_error(sim, clock, api_key, operation):
    client = make_client(sim, clock, api_key)
    call = {
        "open_orders": client.open_orders,
        "sweep": client.sweep,
        "extend": lambda: client.extend(clock() + 61_000),
        "disarm": client.disarm,
    }[operation]
    with pytest.raises(E.AuthError) as info:
        call()
    assert info.value.code == "EGeneral:Permission denied"


def test_cancel_only_key_is_enough_for_the_switch(sim, clock):
    add_orders(sim, 1)
    client = make_client(sim, clock, "REFRESH")
    client.extend(clock() + 61_000)
    client.disarm()
    assert client.sweep().cancelled_count == 1
