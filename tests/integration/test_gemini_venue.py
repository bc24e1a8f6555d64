"""The Gemini client against the Gemini simulator over loopback HTTP, in virtual time.

The simulator checks signatures with its own code; the test's trader signs with a few lines of its
own too, so neither side's signing bug can hide behind the other's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from deadman.core.errors import CredentialsError
from deadman.core.venue import NonceSource
from deadman.stores.nonces import MemoryNonceSource
from deadman.venues import gemini
from deadman.venues.errors import (
    AuthError,
    NonceError,
    NotSupportedError,
    RateLimitError,
    TransientError,
    UnavailableError,
)
from sandbox.venues.common import VirtualClock
from sandbox.venues.gemini import GeminiSim

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_000
TRADER_KEY = "account-trader1"
TRADER_SECRET = "trader-secret-Zx81qv"
OTHER_KEY = "account-trader2"
OTHER_SECRET = "other-secret-Pq02mm"
TIME_KEY = "account-timekey"
TIME_SECRET = "time-secret-Lk33aa"
MASTER_KEY = "master-group1"
MASTER_SECRET = "master-secret-Uu71bb"
KILL_KEY = "account-kill1"
KILL_SECRET = "kill-secret-Hh45cc"
ALL_SECRETS = (TRADER_SECRET, OTHER_SECRET, TIME_SECRET, MASTER_SECRET, KILL_SECRET)


@pytest.fixture(scope="module")
def _server() -> Iterator[tuple[GeminiSim, VirtualClock]]:
    # One server for the module (stopping one takes ~0.5 s); each test resets its state.
    clock = VirtualClock(T0)
    server = GeminiSim(clock)
    server.start(tick_s=None)
    try:
        yield server, clock
    finally:
        server.stop()


@pytest.fixture
def clock(_server: tuple[GeminiSim, VirtualClock]) -> VirtualClock:
    _server[1].set(T0)
    return _server[1]


@pytest.fixture
def sim(_server: tuple[GeminiSim, VirtualClock], clock: VirtualClock) -> GeminiSim:
    server = _server[0]
    server.reset()
    server.add_key(TRADER_KEY, TRADER_SECRET, "increasing")
    server.add_key(OTHER_KEY, OTHER_SECRET, "increasing")
    server.add_key(TIME_KEY, TIME_SECRET, "time")
    server.add_key(MASTER_KEY, MASTER_SECRET, "increasing", master_accounts={"desk1", "desk2"})
    server.add_key(KILL_KEY, KILL_SECRET, "increasing", require_heartbeat=False)
    return server


@pytest.fixture
def nonces() -> MemoryNonceSource:
    """The nonce source shared by the trader and the fleet (stands in for the DynamoDB one)."""
    return MemoryNonceSource()


def make_client(
    sim: GeminiSim,
    clock: Callable[[], int],
    nonces: NonceSource,
    api_key: str = TRADER_KEY,
    secret: str = TRADER_SECRET,
    nonce_mode: str = "increasing",
    timeout: tuple[float, float] = (2.0, 2.0),
    **extra: Any,
) -> gemini.Client:
    entry = {
        "account_id": "main",
        "api_key": api_key,
        "api_secret": secret,
        "nonce_mode": nonce_mode,
        "base_url": sim.url,
        **extra,
    }
    account = gemini.Account.from_mapping(entry, secret_name="deadman/gemini", sandbox=True)
    return gemini.Client(account, nonces=nonces, clock=clock, timeout=timeout)


class Trader:
    """A toy trading system: signs with its own few lines, draws nonces from the shared source."""

    def __init__(
        self,
        sim: GeminiSim,
        clock: Callable[[], int],
        nonces: NonceSource,
        api_key: str = TRADER_KEY,
        secret: str = TRADER_SECRET,
        nonce_mode: str = "increasing",
    ) -> None:
        self.sim, self.clock, self.nonces = sim, clock, nonces
        self.api_key, self.secret, self.nonce_mode = api_key, secret, nonce_mode

    def nonce(self) -> int:
        now = self.clock()
        floor = now // 1000 if self.nonce_mode == "time" else now
        return self.nonces.next(f"gemini:{self.api_key}", floor)

    def post(
        self, path: str, nonce: Any = None, request: str | None = None, **fields: Any
    ) -> requests.Response:
        payload = {"request": request or path, "nonce": self.nonce() if nonce is None else nonce, **fields}
        b64 = base64.b64encode(json.dumps(payload).encode()).decode()
        sig = hmac.new(self.secret.encode(), b64.encode(), hashlib.sha384).hexdigest()
        headers = {
            "Content-Type": "text/plain",
            "X-GEMINI-APIKEY": self.api_key,
            "X-GEMINI-PAYLOAD": b64,
            "X-GEMINI-SIGNATURE": sig,
            "Cache-Control": "no-cache",
        }
        return requests.post(self.sim.url + path, headers=headers, timeout=5)

    def place(self, price: str = "30000.00", amount: str = "0.5", side: str = "buy", **fields: Any) -> int:
        resp = self.post(
            "/v1/order/new",
            symbol="btcusd",
            amount=amount,
            price=price,
            side=side,
            type="exchange limit",
            **fields,
        )
        assert resp.status_code == 200, resp.text
        order = resp.json()
        assert order["is_live"] is True
        return int(order["order_id"])


def live_ids(sim: GeminiSim, account: str = "primary") -> set[int]:
    return {int(o["order_id"]) for o in sim.open_orders(account)}


# -- client operations ------------------------------------------------------------------------------


def test_extend_sends_a_heartbeat_in_gemini_shape(sim: GeminiSim, clock: VirtualClock, nonces: Any) -> None:
    client = make_client(sim, clock, nonces)
    result = client.extend(T0 + 45_000)
    assert result.requested_deadline_ms is None
    assert result.venue_deadline_ms == T0 + 30_000
    assert sim.last_auth_ms(TRADER_KEY) == T0
    seen = sim.last_request
    assert seen is not None
    assert seen.path == "/v1/heartbeat"
    assert seen.body == b""
    assert seen.headers["content-type"] == "text/plain"
    assert seen.headers["content-length"] == "0"
    assert seen.headers["cache-control"] == "no-cache"
    assert seen.payload == {"request": "/v1/heartbeat", "nonce": T0}


def test_sweep_session_cancels_only_this_keys_orders(
    sim: GeminiSim, clock: VirtualClock, nonces: Any
) -> None:
    mine = {Trader(sim, clock, nonces).place() for _ in range(3)}
    other = Trader(sim, clock, nonces, OTHER_KEY, OTHER_SECRET).place()
    ui = sim.place_ui_order("primary", "ethusd", "sell", "2000.00", "1")
    result = make_client(sim, clock, nonces).sweep()
    assert {int(i) for i in result.cancelled_ids} == mine
    assert result.cancelled_count == 3
    assert result.complete
    assert result.extra == {"scope": "session"}
    assert live_ids(sim) == {other, ui}


def test_sweep_all_cancels_every_session_and_ui_orders(
    sim: GeminiSim, clock: VirtualClock, nonces: Any
) -> None:
    mine = Trader(sim, clock, nonces).place()
    other = Trader(sim, clock, nonces, OTHER_KEY, OTHER_SECRET).place()
    ui = sim.place_ui_order("primary", "ethusd", "sell", "2000.00", "1")
    result = make_client(sim, clock, nonces, sweep_scope="all").sweep()
    assert {int(i) for i in result.cancelled_ids} == {mine, other, ui}
    assert live_ids(sim) == set()


def test_sweep_reports_cancel_rejects(sim: GeminiSim, clock: VirtualClock, nonces: Any) -> None:
    trader = Trader(sim, clock, nonces)
    stuck, gone = trader.place(), trader.place()
    sim.reject_cancels([stuck])
    result = make_client(sim, clock, nonces).sweep()
    assert result.cancelled_ids == (str(gone),)
    assert [(f.order_id, f.reason) for f in result.failed] == [(str(stuck), "rejected by venue")]
    assert not result.complete
    assert live_ids(sim) == {stuck}


def test_open_orders_lists_the_accounts_active_orders(
    sim: GeminiSim, clock: VirtualClock, nonces: Any
) -> None:
    oid = Trader(sim, clock, nonces).place(price="31000.50", amount="0.25", side="sell")
    ui = sim.place_ui_order("primary", "ethusd", "buy", "2000.00", "1.5")
    orders = {o.order_id: o for o in make_client(sim, clock, nonces).open_orders()}
    assert set(orders) == {str(oid), str(ui)}
    mine = orders[str(oid)]
    assert (mine.symbol, mine.side, mine.price, mine.size) == ("btcusd", "sell", "31000.50", "0.25")


def test_disarm_is_not_supported_and_sends_nothing(sim: GeminiSim, clock: VirtualClock, nonces: Any) -> None:
    client = make_client(sim, clock, nonces)
    before = sim.requests_seen
    with pytest.raises(NotSupportedError):
        client.disarm()
    assert sim.requests_seen == before


def test_kill_key_sweeps_the_traders_orders_with_cancel_all(
    sim: GeminiSim, clock: VirtualClock, nonces: Any
) -> None:
    oid = Trader(sim, clock, nonces).place()
    entry = {
        "account_id": "main",
        "api_key": TRADER_KEY,
        "api_secret": TRADER_SECRET,
        "nonce_mode": "increasing",
        "base_url": sim.url,
        "kill": {"api_key": KILL_KEY, "api_secret": KILL_SECRET, "nonce_mode": "increasing"},
    }
    account = gemini.Account.from_mapping(entry, secret_name="deadman/gemini", sandbox=True).for_kill()
    result = gemini.Client(account, nonces=nonces, clock=clock).sweep()
    assert result.cancelled_ids == (str(oid),)
    assert sim.last_request is not None and sim.last_request.path == "/v1/order/cancel/all"
    assert sim.last_auth_ms(TRADER_KEY) == T0  # the trader's session clock was not touched by the kill


def test_a_retiring_key_heartbeats_its_own_session(sim: GeminiSim, clock: VirtualClock, nonces: Any) -> None:
    """Mid-rotation the secret names the new trading key and, as `retiring`, the old one: the old
    key's session (where the trader's orders may still rest) gets heartbeats of its own."""
    client = make_client(
        sim,
        clock,
        nonces,
        api_key=KILL_KEY,
        secret=KILL_SECRET,
        retiring={"api_key": TRADER_KEY, "api_secret": TRADER_SECRET, "nonce_mode": "increasing"},
    )
    retiring = client._account.for_retiring()
    assert retiring is not None and retiring.api_key == TRADER_KEY and retiring.retiring is None
    clock.advance(5_000)
    gemini.Client(retiring, nonces=nonces, clock=clock).extend(clock() + 30_000)
    assert sim.last_auth_ms(TRADER_KEY) == clock()
    assert make_client(sim, clock, nonces)._account.for_retiring() is None


def test_a_malformed_retiring_key_names_the_field(sim: GeminiSim, clock: VirtualClock, nonces: Any) -> None:
    with pytest.raises(CredentialsError, match=r"retiring\.api_secret"):
        make_client(sim, clock, nonces, retiring={"api_key": KILL_KEY, "nonce_mode": "increasing"})


# -- nonce modes ------------------------------------------------------------------------------------


def test_time_key_works_with_time_nonces_shared_with_the_trader(
    sim: GeminiSim, clock: VirtualClock, nonces: Any
) -> None:
    trader = Trader(sim, clock, nonces, TIME_KEY, TIME_SECRET, "time")
    oid = trader.place()
    client = make_client(sim, clock, nonces, TIME_KEY, TIME_SECRET, "time")
    client.extend(0)  # same second as the trader: the shared source hands out second + 1
    assert sim.last_nonce(TIME_KEY) == T0 // 1000 + 1
    assert client.sweep().cancelled_ids == (str(oid),)


def test_time_key_rejects_millisecond_nonces(sim: GeminiSim, clock: VirtualClock, nonces: Any) -> None:
    client = make_client(sim, clock, nonces, TIME_KEY, TIME_SECRET, "increasing")
    with pytest.raises(NonceError, match="not within 30 seconds") as info:
        client.extend(0)
    assert info.value.code == "InvalidNonce"


def test_time_key_refuses_a_repeat_within_the_same_second(sim: GeminiSim, clock: VirtualClock) -> None:
    """Trader and fleet on separate counters: one request per second per key across both."""
    trader = Trader(sim, clock, MemoryNonceSource(), TIME_KEY, TIME_SECRET, "time")
    assert trader.post("/v1/heartbeat").status_code == 200
    client = make_client(sim, clock, MemoryNonceSource(), TIME_KEY, TIME_SECRET, "time")
    with pytest.raises(NonceError, match="has not increased"):
        client.extend(0)
    clock.advance(1_000)
    client.extend(0)


@pytest.mark.parametrize(
    ("skew_ms", "ok"), [(29_000, True), (-29_000, True), (31_000, False), (-31_000, False)]
)
def test_time_key_window_is_30_s(sim: GeminiSim, clock: VirtualClock, skew_ms: int, ok: bool) -> None:
    client = make_client(sim, lambda: clock() + skew_ms, MemoryNonceSource(), TIME_KEY, TIME_SECRET, "time")
    if ok:
        client.extend(0)
    else:
        with pytest.raises(NonceError):
            client.extend(0)


def test_time_nonce_far_ahead_is_refused_locally(sim: GeminiSim, clock: VirtualClock) -> None:
    ahead = MemoryNonceSource()
    ahead.next(f"gemini:{TIME_KEY}", T0)  # a record that holds milliseconds (mode was changed)
    client = make_client(sim, clock, ahead, TIME_KEY, TIME_SECRET, "time")
    before = sim.requests_seen
    with pytest.raises(NonceError, match="ahead"):
        client.extend(0)
    assert sim.requests_seen == before


def test_increasing_key_rejects_repeats(sim: GeminiSim, clock: VirtualClock) -> None:
    """Two processes with counters of their own on one increasing key collide."""
    first = make_client(sim, clock, MemoryNonceSource())
    second = make_client(sim, clock, MemoryNonceSource())
    first.extend(0)
    with pytest.raises(NonceError, match="has not increased"):
        second.extend(0)


@pytest.mark.parametrize("as_string", [False, True])
def test_string_and_integer_nonces_are_accepted(sim: GeminiSim, clock: VirtualClock, as_string: bool) -> None:
    for api_key, secret, mode, nonce in (
        (TRADER_KEY, TRADER_SECRET, "increasing", T0),
        (TIME_KEY, TIME_SECRET, "time", T0 // 1000),
    ):
        trader = Trader(sim, clock, MemoryNonceSource(), api_key, secret, mode)
        value: Any = str(nonce) if as_string else nonce
        assert trader.post("/v1/heartbeat", nonce=value).status_code == 200
        replay = trader.post("/v1/heartbeat", nonce=value)
        assert replay.status_code == 400
        assert replay.json()["reason"] == "InvalidNonce"


# -- master keys ------------------------------------------------------------------------------------


def test_master_key_acts_on_the_named_account(sim: GeminiSim, clock: VirtualClock, nonces: Any) -> None:
    master = Trader(sim, clock, nonces, MASTER_KEY, MASTER_SECRET)
    on_desk1 = master.place(account="desk1")
    on_desk2 = master.place(account="desk2")
    ui_desk1 = sim.place_ui_order("desk1", "btcusd", "buy", "1.00", "1")
    client = make_client(sim, clock, nonces, MASTER_KEY, MASTER_SECRET, account="desk1")
    assert client.extend(0).venue_deadline_ms is None  # no heartbeat cancel-on-disconnect on master keys
    assert {o.order_id for o in client.open_orders()} == {str(on_desk1), str(ui_desk1)}
    assert client.sweep().cancelled_ids == (str(on_desk1),)
    assert live_ids(sim, "desk1") == {ui_desk1}
    assert live_ids(sim, "desk2") == {on_desk2}
    everything = make_client(
        sim, clock, nonces, MASTER_KEY, MASTER_SECRET, account="desk1", sweep_scope="all"
    )
    assert everything.sweep().cancelled_ids == (str(ui_desk1),)
    assert live_ids(sim, "desk2") == {on_desk2}


def test_master_key_account_errors(sim: GeminiSim, clock: VirtualClock, nonces: Any) -> None:
    client = make_client(sim, clock, nonces, MASTER_KEY, MASTER_SECRET, account="nope")
    with pytest.raises(AuthError) as info:
        client.sweep()
    assert info.value.code == "InvalidAccountName"
    missing = Trader(sim, clock, nonces, MASTER_KEY, MASTER_SECRET).post("/v1/order/cancel/session")
    assert missing.json()["reason"] == "MissingAccountName"
    extra = Trader(sim, clock, nonces).post("/v1/order/cancel/session", account="primary")
    assert extra.json()["reason"] == "AccountsOnGroupOnlyApi"


def test_master_keys_cannot_require_heartbeat(sim: GeminiSim) -> None:
    with pytest.raises(ValueError, match="master"):
        sim.add_key("master-x", "s", "increasing", require_heartbeat=True, master_accounts={"a"})


# -- errors ----------------------------------------------------------------------------------------


def test_bad_signature_is_auth_error_without_the_secret(
    sim: GeminiSim, clock: VirtualClock, nonces: Any
) -> None:
    client = make_client(sim, clock, nonces, secret="wrong-secret-Yy99")
    with pytest.raises(AuthError) as info:
        client.extend(0)
    assert info.value.code == "InvalidSignature"
    assert "wrong-secret-Yy99" not in str(info.value)
    assert sim.last_auth_ms(TRADER_KEY) is None


def test_unknown_key_is_auth_error(sim: GeminiSim, clock: VirtualClock, nonces: Any) -> None:
    with pytest.raises(AuthError):
        make_client(sim, clock, nonces, api_key="account-unknown").extend(0)


def test_missing_role(sim: GeminiSim, clock: VirtualClock, nonces: Any) -> None:
    sim.add_key("account-auditor", "auditor-secret", "increasing", roles={"Auditor"})
    client = make_client(sim, clock, nonces, "account-auditor", "auditor-secret")
    client.extend(0)  # any authenticated key may heartbeat
    assert client.open_orders() == []  # Trader or Auditor
    with pytest.raises(AuthError, match="roles") as info:
        client.sweep()
    assert info.value.code == "MissingRole"
    assert info.value.http_status == 403


def test_missing_headers_and_endpoint_mismatch(sim: GeminiSim, clock: VirtualClock, nonces: Any) -> None:
    url = sim.url + "/v1/heartbeat"
    assert requests.post(url, timeout=5).json()["reason"] == "MissingApikeyHeader"
    assert requests.post(url, headers={"X-GEMINI-APIKEY": TRADER_KEY}, timeout=5).json()["reason"] == (
        "MissingPayloadHeader"
    )
    no_sig = {"X-GEMINI-APIKEY": TRADER_KEY, "X-GEMINI-PAYLOAD": "e30="}
    assert requests.post(url, headers=no_sig, timeout=5).json()["reason"] == "MissingSignatureHeader"
    mismatch = Trader(sim, clock, nonces).post("/v1/order/cancel/all", request="/v1/heartbeat")
    assert (mismatch.status_code, mismatch.json()["reason"]) == (400, "EndpointMismatch")


def test_rate_limit(sim: GeminiSim, clock: VirtualClock, nonces: Any) -> None:
    sim.faults.rate_limited = True
    with pytest.raises(RateLimitError) as info:
        make_client(sim, clock, nonces).extend(0)
    assert (info.value.code, info.value.http_status) == ("RateLimit", 429)
    assert "Requests were made too frequently" in str(info.value)


def test_maintenance(sim: GeminiSim, clock: VirtualClock, nonces: Any) -> None:
    sim.faults.maintenance = True
    with pytest.raises(UnavailableError) as info:
        make_client(sim, clock, nonces).sweep()
    assert (info.value.code, info.value.http_status) == ("Maintenance", 503)


@pytest.mark.parametrize(
    ("status", "expected"), [(500, TransientError), (502, TransientError), (503, UnavailableError)]
)
def test_5xx_html(
    sim: GeminiSim, clock: VirtualClock, nonces: Any, status: int, expected: type[Exception]
) -> None:
    sim.faults.http_5xx = status
    with pytest.raises(expected) as info:
        make_client(sim, clock, nonces).sweep()
    assert type(info.value) is expected


def test_hang_past_timeout_is_transient(sim: GeminiSim, clock: VirtualClock, nonces: Any) -> None:
    sim.faults.hang_s = 1.0
    client = make_client(sim, clock, nonces, timeout=(0.3, 0.3))
    started = time.monotonic()
    with pytest.raises(TransientError, match="timeout"):
        client.extend(0)
    assert time.monotonic() - started < 0.9


# -- the 30 s rule, in virtual time -----------------------------------------------------------------


def test_orders_live_at_29_9_s_and_go_at_30_s(sim: GeminiSim, clock: VirtualClock, nonces: Any) -> None:
    trader = Trader(sim, clock, nonces)
    ids = {trader.place(), trader.place()}
    sim.advance(29_900)
    assert live_ids(sim) == ids
    assert sim.fires == []
    sim.advance(100)
    assert live_ids(sim) == set()
    assert sim.fires == [(T0 + 30_000, "primary", 2)]
    assert sim.key_fires == [(T0 + 30_000, TRADER_KEY, 2)]


def test_heartbeats_keep_orders_alive(sim: GeminiSim, clock: VirtualClock, nonces: Any) -> None:
    oid = Trader(sim, clock, nonces).place()
    client = make_client(sim, clock, nonces)
    for _ in range(8):  # two minutes of heartbeats every 15 s
        sim.advance(15_000)
        client.extend(0)
    last = clock()
    sim.advance(29_999)
    assert live_ids(sim) == {oid}
    sim.advance(1)
    assert live_ids(sim) == set()
    assert sim.fires == [(last + 30_000, "primary", 1)]


def test_only_the_silent_keys_orders_go_and_other_keys_traffic_does_not_help(
    sim: GeminiSim, clock: VirtualClock, nonces: Any
) -> None:
    silent = Trader(sim, clock, nonces)
    silent_ids = {silent.place(), silent.place()}
    busy = Trader(sim, clock, nonces, OTHER_KEY, OTHER_SECRET)
    busy_id = busy.place()
    ui = sim.place_ui_order("primary", "ethusd", "sell", "2000.00", "1")
    busy_client = make_client(sim, clock, nonces, OTHER_KEY, OTHER_SECRET)
    for _ in range(6):  # the other key (and a UI order) stay busy for 60 s
        sim.advance(10_000)
        busy_client.extend(0)
    assert live_ids(sim) == {busy_id, ui}
    assert sim.key_fires == [(T0 + 30_000, TRADER_KEY, len(silent_ids))]


def test_key_without_require_heartbeat_never_fires(sim: GeminiSim, clock: VirtualClock, nonces: Any) -> None:
    sim.add_key("account-nohb", "nohb-secret", "increasing", require_heartbeat=False)
    oid = Trader(sim, clock, nonces, "account-nohb", "nohb-secret").place()
    sim.advance(600_000)
    assert live_ids(sim) == {oid}
    assert sim.fires == []


def test_master_key_orders_have_no_heartbeat_rule(sim: GeminiSim, clock: VirtualClock, nonces: Any) -> None:
    oid = Trader(sim, clock, nonces, MASTER_KEY, MASTER_SECRET).place(account="desk1")
    sim.advance(600_000)
    assert live_ids(sim, "desk1") == {oid}


def test_authenticated_failures_reset_the_clock_bad_signature_and_nonce_do_not(
    sim: GeminiSim, clock: VirtualClock, nonces: Any
) -> None:
    trader = Trader(sim, clock, nonces)
    trader.place()
    sim.advance(20_000)
    assert trader.post("/v1/order/cancel/all", request="/v1/heartbeat").status_code == 400  # EndpointMismatch
    assert sim.last_auth_ms(TRADER_KEY) == T0 + 20_000
    sim.advance(20_000)
    with pytest.raises(AuthError):
        make_client(sim, clock, nonces, secret="wrong").extend(0)
    assert trader.post("/v1/heartbeat", nonce=1).status_code == 400  # InvalidNonce
    assert sim.last_auth_ms(TRADER_KEY) == T0 + 20_000
    sim.advance(10_000)
    assert sim.key_fires == [(T0 + 50_000, TRADER_KEY, 1)]


def test_nonce_failures_keep_alive_option(clock: VirtualClock) -> None:
    sim = GeminiSim(clock, nonce_failures_keep_alive=True)
    sim.add_key(TRADER_KEY, TRADER_SECRET, "increasing")
    sim.start(tick_s=None)
    try:
        trader = Trader(sim, clock, MemoryNonceSource())
        trader.place()
        sim.advance(20_000)
        assert trader.post("/v1/heartbeat", nonce=1).json()["reason"] == "InvalidNonce"
        assert sim.last_auth_ms(TRADER_KEY) == T0 + 20_000
    finally:
        sim.stop()


# -- secrets ----------------------------------------------------------------------------------------


def test_secrets_stay_out_of_reprs_and_errors(sim: GeminiSim, clock: VirtualClock, nonces: Any) -> None:
    client = make_client(
        sim,
        clock,
        nonces,
        kill={"api_key": KILL_KEY, "api_secret": KILL_SECRET, "nonce_mode": "increasing"},
    )
    texts = [repr(client), repr(client._account), repr(client._account.for_kill())]
    sim.faults.rate_limited = True
    for call in (lambda: client.extend(0), client.sweep, client.open_orders):
        with pytest.raises(RateLimitError) as info:
            call()
        texts += [str(info.value), repr(info.value)]
    sim.faults.clear()
    with pytest.raises(AuthError) as auth:
        make_client(sim, clock, nonces, secret=TRADER_SECRET + "x").sweep()
    texts += [str(auth.value), repr(auth.value)]
    for text in texts:
        for secret in ALL_SECRETS:
            assert secret not in text
