"""Hyperliquid adapter against the Hyperliquid simulator (in-process, loopback, virtual time).

The simulator recovers signers with its own EIP-712 code; the toy trader and the raw-request helper
here sign with the adapter's signing module, so a signing bug shows up as "does not exist" errors.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from deadman.core.clock import system_clock
from deadman.core.errors import CredentialsError
from deadman.stores.nonces import MemoryNonceSource
from deadman.venues.errors import (
    AuthError,
    NonceError,
    RateLimitError,
    RejectedError,
    TransientError,
    UnavailableError,
    VenueError,
    VolumeGateError,
)
from deadman.venues.hyperliquid import CAPABILITIES, Account, Client, classify_error
from deadman.venues.hyperliquid.signing import address_of, sign_l1_action
from sandbox.venues.common import VirtualClock
from sandbox.venues.hyperliquid import (
    DAY_MS,
    EXPIRED,
    NO_SUCH_ORDER,
    TOO_EARLY,
    TOO_MANY_TRIGGERS,
    HyperliquidSim,
    _from_config,
)

pytestmark = pytest.mark.integration

MASTER_KEY = "0x" + "4d" * 32  # the trader's own wallet (the toy trader signs with it)
AGENT_KEY = "0x" + "a6" * 32  # the fleet's approved API wallet
KILL_KEY = "0x" + "c1" * 32  # the fleet's kill-path API wallet
STRANGER_KEY = "0x" + "5e" * 32  # never approved
MASTER = address_of(MASTER_KEY)
AGENT = address_of(AGENT_KEY)
KILL_AGENT = address_of(KILL_KEY)
VAULT = "0x" + "7a" * 20
OTHER_MASTER = "0x" + "0f" * 20
SECRETS = (AGENT_KEY, KILL_KEY, STRANGER_KEY, AGENT_KEY[2:], KILL_KEY[2:])

START_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START_MS)


@pytest.fixture
def sim(clock: VirtualClock) -> Iterator[HyperliquidSim]:
    server = HyperliquidSim(clock)
    server.add_user(MASTER)
    server.approve_agent(MASTER, AGENT)
    server.approve_agent(MASTER, KILL_AGENT)
    server.start(tick_s=None)
    try:
        yield server
    finally:
        server.stop()


def entry(sim: HyperliquidSim, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "account_id": "main",
        "address": MASTER,
        "agent_private_key": AGENT_KEY,
        "base_url": sim.url,
        "dexes": ["", "test", "flx"],
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def client(
    sim: HyperliquidSim,
    clock: Any,
    *,
    nonces: MemoryNonceSource | None = None,
    timeout: tuple[float, float] = (1.0, 5.0),
    **overrides: Any,
) -> Client:
    account = Account.from_mapping(entry(sim, **overrides), secret_name="deadman/hyperliquid", sandbox=True)
    return Client(account, nonces=nonces or MemoryNonceSource(), clock=clock, timeout=timeout)


def post_signed(
    sim: HyperliquidSim,
    key: str,
    action: dict[str, Any],
    nonce: int,
    *,
    vault: str | None = None,
    expires_after: int | None = None,
    mainnet: bool = True,
) -> dict[str, Any]:
    """A raw signed /exchange request (what any other Hyperliquid client sends)."""
    body = {
        "action": action,
        "nonce": nonce,
        "signature": sign_l1_action(key, action, vault, nonce, expires_after, mainnet),
        "vaultAddress": vault,
        "expiresAfter": expires_after,
    }
    resp = requests.post(sim.url + "/exchange", data=json.dumps(body), timeout=5)
    assert resp.status_code == 200, resp.text
    answer: dict[str, Any] = resp.json()
    return answer


def trader_order(sim: HyperliquidSim, clock: VirtualClock, coin: str, *, vault: str | None = None) -> int:
    """The toy trader: one resting GTC limit order, signed by the master's own key."""
    action = {
        "type": "order",
        "orders": [
            {
                "a": sim.asset_of(coin),
                "b": True,
                "p": "10.5",
                "s": "2",
                "r": False,
                "t": {"limit": {"tif": "Gtc"}},
            }
        ],
        "grouping": "na",
    }
    answer = post_signed(sim, MASTER_KEY, action, clock() + len(sim.exchange_log), vault=vault)
    assert answer["status"] == "ok", answer
    status = answer["response"]["data"]["statuses"][0]
    oid: int = status["resting"]["oid"]
    return oid


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret.lower() not in text.lower()


def last_action(sim: HyperliquidSim) -> dict[str, Any]:
    action: dict[str, Any] = sim.exchange_log[-1]["action"]
    return action


# -- capabilities --------------------------------------------------------------------------------------


def test_capabilities() -> None:
    assert CAPABILITIES.timer_kind == "absolute_ms"
    assert CAPABILITIES.can_disarm is True
    assert CAPABILITIES.min_lead_ms == 5000
    assert CAPABILITIES.max_timeout_ms is None and CAPABILITIES.fixed_timeout_ms is None
    assert CAPABILITIES.daily_trigger_budget == 10


# -- extend / disarm ---------------------------------------------------------------------------------------


def test_extend_sets_the_absolute_time_with_expiry_and_nonce(
    sim: HyperliquidSim, clock: VirtualClock
) -> None:
    c = client(sim, clock)
    deadline = START_MS + 45_000
    result = c.extend(deadline)
    assert result.requested_deadline_ms == deadline
    assert sim.scheduled(MASTER) == deadline
    body = sim.exchange_log[-1]
    assert body["action"] == {"type": "scheduleCancel", "time": deadline}
    assert list(body["action"]) == ["type", "time"]
    assert body["nonce"] == START_MS  # floor = now
    assert body["expiresAfter"] == START_MS + 6_000  # now + the client's patience (1 s connect + 5 s read)
    assert body["vaultAddress"] is None
    assert body["signer"] == AGENT
    assert body["answer"] == {"status": "ok", "response": {"type": "default"}}


def test_disarm_omits_time(sim: HyperliquidSim, clock: VirtualClock) -> None:
    c = client(sim, clock)
    c.extend(START_MS + 60_000)
    c.disarm()
    assert sim.scheduled(MASTER) is None
    assert last_action(sim) == {"type": "scheduleCancel"}
    assert "time" not in last_action(sim)
    clock.advance(120_000)
    sim.advance(0)
    assert sim.fires == []


def test_null_time_signs_different_bytes_and_is_refused(sim: HyperliquidSim, clock: VirtualClock) -> None:
    # A client that sends and signs `"time": null`: the venue reads it as absent, re-serialises
    # without the key, and recovers a stranger.
    answer = post_signed(sim, AGENT_KEY, {"type": "scheduleCancel", "time": None}, START_MS)
    assert answer["status"] == "err"
    assert "does not exist" in answer["response"]
    assert AGENT not in answer["response"]
    assert isinstance(classify_error(answer["response"]), AuthError)


def test_nonces_increase_within_one_millisecond(sim: HyperliquidSim, clock: VirtualClock) -> None:
    c = client(sim, clock)
    c.extend(START_MS + 30_000)
    c.extend(START_MS + 31_000)
    c.disarm()
    assert [b["nonce"] for b in sim.exchange_log] == [START_MS, START_MS + 1, START_MS + 2]


# -- orders -----------------------------------------------------------------------------------------------

COINS = {"BTC": 0, "SOL": 2, "PURR/USDC": 10_000, "@2": 10_002, "test:XYZ": 110_001, "flx:BAR": 120_001}


def test_toy_trader_rests_orders_over_http(sim: HyperliquidSim, clock: VirtualClock) -> None:
    oid = trader_order(sim, clock, "ETH")
    (row,) = sim.open_orders(MASTER)
    assert row["oid"] == oid and row["coin"] == "ETH" and row["side"] == "B" and row["limitPx"] == "10.5"
    orders = client(sim, clock).open_orders()
    assert [(o.order_id, o.symbol, o.side, o.price, o.size) for o in orders] == [
        (str(oid), "ETH", "buy", "10.5", "2")
    ]


def test_open_orders_cover_every_dex_and_spot(sim: HyperliquidSim, clock: VirtualClock) -> None:
    oids = {coin: trader_order(sim, clock, coin) for coin in COINS}
    listed = {o.symbol: o.order_id for o in client(sim, clock).open_orders()}
    assert listed == {coin: str(oid) for coin, oid in oids.items()}
    # Only the first dex was asked without a dex list: spot comes with it, builder dexes do not.
    only_first = {o.symbol for o in client(sim, clock, dexes=[""]).open_orders()}
    assert only_first == {"BTC", "SOL", "PURR/USDC", "@2"}


def test_sweep_cancels_perp_spot_and_builder_dex_with_correct_asset_ids(
    sim: HyperliquidSim, clock: VirtualClock
) -> None:
    oids = {coin: trader_order(sim, clock, coin) for coin in COINS}
    c = client(sim, clock)
    result = c.sweep()
    assert sim.open_orders(MASTER) == []
    assert result.complete and result.cancelled_count == len(COINS)
    assert sorted(result.cancelled_ids) == sorted(str(o) for o in oids.values())
    cancel = last_action(sim)
    assert cancel["type"] == "cancel"
    assert sorted((i["a"], i["o"]) for i in cancel["cancels"]) == sorted((COINS[k], oids[k]) for k in COINS)
    assert all(list(item) == ["a", "o"] for item in cancel["cancels"])
    assert sum(1 for b in sim.exchange_log if b["action"]["type"] == "cancel") == 1  # one batch


def test_sweep_of_empty_book_sends_no_cancel(sim: HyperliquidSim, clock: VirtualClock) -> None:
    result = client(sim, clock).sweep()
    assert result.cancelled_count == 0 and result.complete
    assert sim.exchange_log == []
    assert {r["type"] for r in sim.info_log} == {"openOrders"}


def test_meta_is_cached_per_client(sim: HyperliquidSim, clock: VirtualClock) -> None:
    c = client(sim, clock)
    trader_order(sim, clock, "BTC")
    c.sweep()  # loads the first dex's meta and spotMeta
    trader_order(sim, clock, "test:ABC")
    c.sweep()  # a coin of a dex not loaded yet: perpDexs and that dex's meta
    trader_order(sim, clock, "PURR/USDC")
    trader_order(sim, clock, "test:XYZ")
    c.sweep()  # all known: nothing reloaded
    assert sim.open_orders(MASTER) == []
    loads = [(r["type"], r.get("dex")) for r in sim.info_log if r["type"] != "openOrders"]
    assert sorted(loads, key=str) == sorted(
        [("meta", ""), ("spotMeta", None), ("perpDexs", None), ("meta", "test")], key=str
    )


def test_sweep_reads_per_order_errors(sim: HyperliquidSim, clock: VirtualClock) -> None:
    gone = trader_order(sim, clock, "BTC")
    kept = trader_order(sim, clock, "PURR/USDC")
    sim.cancel_errors[gone] = NO_SUCH_ORDER  # filled between listing and cancel
    result = client(sim, clock).sweep()
    assert result.cancelled_ids == (str(kept),)
    assert not result.complete
    (failure,) = result.failed
    assert failure.order_id == str(gone) and failure.reason == NO_SUCH_ORDER


def test_sweep_lists_what_it_can_when_one_dex_fails(sim: HyperliquidSim, clock: VirtualClock) -> None:
    oid = trader_order(sim, clock, "BTC")
    result = client(sim, clock, dexes=["", "nosuchdex"]).sweep()
    assert result.cancelled_ids == (str(oid),)
    (failure,) = result.failed
    assert "nosuchdex" in failure.reason
    with pytest.raises(RejectedError):  # nothing listed at all: the venue's error itself
        client(sim, clock, dexes=["nosuchdex"]).sweep()


def test_kill_account_signs_with_the_kill_agent(sim: HyperliquidSim, clock: VirtualClock) -> None:
    trader_order(sim, clock, "SOL")
    account = Account.from_mapping(
        entry(sim, kill={"agent_private_key": KILL_KEY}), secret_name="s", sandbox=True
    )
    assert account.for_kill().agent_private_key.reveal() == KILL_KEY
    assert account.for_kill().for_kill() == account.for_kill()
    plain = Account.from_mapping(entry(sim), secret_name="s", sandbox=True)
    assert plain.for_kill() is plain
    result = Client(account.for_kill(), nonces=MemoryNonceSource(), clock=clock).sweep()
    assert result.cancelled_count == 1
    assert sim.exchange_log[-1]["signer"] == KILL_AGENT


# -- vaults / subaccounts ------------------------------------------------------------------------------


def test_vault_path(sim: HyperliquidSim, clock: VirtualClock) -> None:
    sim.add_vault(VAULT, MASTER)
    vault_oid = trader_order(sim, clock, "ETH", vault=VAULT)
    master_oid = trader_order(sim, clock, "ETH")
    c = client(sim, clock, vault_address=VAULT.upper().replace("0X", "0x"))
    assert [o.order_id for o in c.open_orders()] == [str(vault_oid)]
    c.extend(START_MS + 30_000)
    assert sim.scheduled(VAULT) == START_MS + 30_000 and sim.scheduled(MASTER) is None
    assert sim.exchange_log[-1]["vaultAddress"] == VAULT  # lowercased
    assert c.sweep().cancelled_ids == (str(vault_oid),)
    assert [o["oid"] for o in sim.open_orders(MASTER)] == [master_oid]
    c.disarm()
    assert sim.scheduled(VAULT) is None


def test_vault_of_another_master_is_refused(sim: HyperliquidSim, clock: VirtualClock) -> None:
    sim.add_vault(VAULT, OTHER_MASTER)
    with pytest.raises(AuthError):
        client(sim, clock, vault_address=VAULT).extend(START_MS + 30_000)
    assert sim.scheduled(VAULT) is None


# -- errors ----------------------------------------------------------------------------------------------


def test_volume_gate_is_recognised(sim: HyperliquidSim, clock: VirtualClock) -> None:
    sim.set_volume(MASTER, 373.47205)
    c = client(sim, clock)
    with pytest.raises(VolumeGateError) as caught:
        c.extend(START_MS + 30_000)
    err = caught.value
    assert err.message == (
        "Cannot set scheduled cancel time until enough volume traded. Required: $1000000. Traded: $373.47205."
    )
    assert err.required_usd == 1_000_000 and err.traded_usd == 373.47205
    assert err.code == "volume_gate" and isinstance(err, RejectedError)
    with pytest.raises(VolumeGateError):  # the clear is gated too (configurable)
        c.disarm()
    sim.gate_clear = False
    c.disarm()
    trader_order(sim, clock, "BTC")  # the watchdog path still works below the gate
    assert c.sweep().cancelled_count == 1


def test_unknown_agent_is_auth_error(sim: HyperliquidSim, clock: VirtualClock) -> None:
    c = client(sim, clock, agent_private_key=STRANGER_KEY)
    with pytest.raises(AuthError) as caught:
        c.extend(START_MS + 30_000)
    assert caught.value.code == "unknown_signer"
    assert f"User or API Wallet {address_of(STRANGER_KEY)} does not exist." in str(caught.value)
    assert_no_secret(str(caught.value))


def test_testnet_signature_on_mainnet_is_auth_error(sim: HyperliquidSim, clock: VirtualClock) -> None:
    with pytest.raises(AuthError):
        client(sim, clock, network="testnet").extend(START_MS + 30_000)


def test_testnet_simulator_accepts_testnet_source(clock: VirtualClock) -> None:
    with HyperliquidSim(clock, network="testnet").start(tick_s=None) as testnet:
        assert isinstance(testnet, HyperliquidSim)
        testnet.approve_agent(MASTER, AGENT)
        client(testnet, clock, network="testnet").extend(START_MS + 30_000)
        assert testnet.scheduled(MASTER) == START_MS + 30_000


def test_undeposited_user_is_auth_error(sim: HyperliquidSim, clock: VirtualClock) -> None:
    sim.add_user(MASTER, deposited=False)
    sim.agents.clear()
    with pytest.raises(AuthError) as caught:  # the master signing for itself
        client(sim, clock, agent_private_key=MASTER_KEY).extend(START_MS + 30_000)
    assert caught.value.code == "not_deposited"


def test_nonce_reuse_is_nonce_error(sim: HyperliquidSim, clock: VirtualClock) -> None:
    client(sim, clock).extend(START_MS + 30_000)
    # A second process with its own nonce memory and the same clock reading.
    with pytest.raises(NonceError) as caught:
        client(sim, clock).extend(START_MS + 30_000)
    assert f"duplicate nonce {START_MS}" in str(caught.value)


def test_nonce_outside_the_window_is_nonce_error(sim: HyperliquidSim, clock: VirtualClock) -> None:
    behind = VirtualClock(START_MS - 3 * DAY_MS)
    with pytest.raises(NonceError, match="nonce too low"):
        client(sim, behind).disarm()
    ahead = VirtualClock(START_MS + 2 * DAY_MS)
    with pytest.raises(NonceError, match="nonce too high"):
        client(sim, ahead).disarm()


def test_expired_request_is_transient(sim: HyperliquidSim, clock: VirtualClock) -> None:
    late = VirtualClock(START_MS - 10_000)  # our clock 10 s behind: expiresAfter already past
    with pytest.raises(TransientError) as caught:
        client(sim, late).extend(START_MS + 30_000)
    assert caught.value.code == "expired" and EXPIRED in caught.value.message
    assert sim.scheduled(MASTER) is None


@pytest.mark.parametrize("operation", ["extend", "disarm", "sweep", "open_orders"])
def test_rate_limit(sim: HyperliquidSim, clock: VirtualClock, operation: str) -> None:
    sim.faults.rate_limited = True
    with pytest.raises(RateLimitError) as caught:
        call(client(sim, clock), operation)
    assert caught.value.http_status == 429


@pytest.mark.parametrize("operation", ["extend", "sweep"])
def test_maintenance(sim: HyperliquidSim, clock: VirtualClock, operation: str) -> None:
    sim.faults.maintenance = True
    with pytest.raises(UnavailableError):
        call(client(sim, clock), operation)


@pytest.mark.parametrize("status", [500, 502, 504])
def test_server_errors_are_transient(sim: HyperliquidSim, clock: VirtualClock, status: int) -> None:
    sim.faults.http_5xx = status
    with pytest.raises(TransientError) as caught:
        client(sim, clock).extend(START_MS + 30_000)
    assert caught.value.http_status == status


def test_hang_is_transient(sim: HyperliquidSim, clock: VirtualClock) -> None:
    sim.faults.hang_s = 1.0
    c = client(sim, clock, timeout=(0.3, 0.3))
    with pytest.raises(TransientError, match="timeout"):
        c.extend(START_MS + 30_000)


def test_straggler_past_the_clients_patience_never_lands() -> None:
    # Real clocks: the client gives up after 0.3 s; the venue sees the request 1 s late and must
    # refuse it, or an old extend could re-arm a timer after a newer disarm.
    with HyperliquidSim().start(tick_s=None) as sim:
        assert isinstance(sim, HyperliquidSim)
        sim.approve_agent(MASTER, AGENT)
        sim.faults.hang_s = 1.0
        c = client(sim, system_clock, timeout=(0.3, 0.3))
        with pytest.raises(TransientError, match="timeout"):
            c.extend(system_clock() + 60_000)
        deadline = time.monotonic() + 5
        while not (sim.exchange_log and "answer" in sim.exchange_log[-1]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sim.exchange_log[-1]["answer"] == {"status": "err", "response": EXPIRED}
        assert sim.scheduled(MASTER) is None


def test_extend_needs_an_int_deadline(sim: HyperliquidSim, clock: VirtualClock) -> None:
    c = client(sim, clock)
    for bad in (True, -1, 0, 1.7e12):
        with pytest.raises(ValueError, match="deadline_ms"):
            c.extend(bad)  # type: ignore[arg-type]
    assert sim.exchange_log == []


def test_malformed_request_is_rejected(sim: HyperliquidSim) -> None:
    resp = requests.post(sim.url + "/exchange", data=b'{"action": {"type": "nope"}}', timeout=5)
    assert resp.status_code == 422
    resp = requests.post(sim.url + "/info", data=b'{"type": "nope"}', timeout=5)
    assert resp.status_code == 422


@pytest.mark.parametrize(
    ("message", "kind", "code"),
    [
        (
            "Cannot set scheduled cancel time until enough volume traded. Required: $1000000. Traded: $0.",
            VolumeGateError,
            "volume_gate",
        ),
        (
            "User or API Wallet 0x52d165d0a513072bb4ed267807832dfd589b8d1f does not exist.",
            AuthError,
            "unknown_signer",
        ),
        ("L1 error: User or API Wallet 0x0123 does not exist.", AuthError, "unknown_signer"),
        ("Must deposit before performing actions. User: 0x0123", AuthError, "not_deposited"),
        ("Unable to recover signer.", AuthError, "unknown_signer"),
        ("Invalid nonce: duplicate nonce 1741107452532", NonceError, "nonce"),
        ("Invalid nonce: nonce too low 1776584283874 < 1776584799101", NonceError, "nonce"),
        ("Invalid nonce: nonce too high 1791572677029 > 1791486156858", NonceError, "nonce"),
        ("Action already expired", TransientError, "expired"),
        (
            "Too many cumulative requests sent (10001 > 10000) for cumulative volume traded $0.",
            RateLimitError,
            "address_budget",
        ),
        (TOO_EARLY, RejectedError, None),
        (TOO_MANY_TRIGGERS, RejectedError, None),
    ],
)
def test_classify_error(message: str, kind: type[VenueError], code: str | None) -> None:
    err = classify_error(message)
    assert type(err) is kind and err.code == code and err.message == message


def test_volume_gate_amounts_parse() -> None:
    err = classify_error(
        "Cannot set scheduled cancel time until enough volume traded. Required: $1,000,000. Traded: $43.73."
    )
    assert isinstance(err, VolumeGateError) and err.required_usd == 1_000_000 and err.traded_usd == 43.73


def call(c: Client, operation: str) -> object:
    if operation == "extend":
        return c.extend(START_MS + 30_000)
    return getattr(c, operation)()


# -- timer rules, virtual time ------------------------------------------------------------------------


def test_timer_fires_at_its_time(sim: HyperliquidSim, clock: VirtualClock) -> None:
    oids = [trader_order(sim, clock, "BTC"), trader_order(sim, clock, "PURR/USDC")]
    client(sim, clock).extend(START_MS + 30_000)
    sim.advance(29_999)
    assert len(sim.open_orders(MASTER)) == 2 and sim.fires == []
    sim.advance(1)
    assert sim.open_orders(MASTER) == []
    assert sim.fires == [(START_MS + 30_000, MASTER, len(oids))]
    assert sim.triggers_today(MASTER) == 1 and sim.scheduled(MASTER) is None
    sim.advance(60_000)
    assert len(sim.fires) == 1  # one-shot


def test_extension_moves_the_fire(sim: HyperliquidSim, clock: VirtualClock) -> None:
    trader_order(sim, clock, "BTC")
    c = client(sim, clock)
    c.extend(START_MS + 30_000)
    sim.advance(20_000)
    c.extend(START_MS + 50_000)
    sim.advance(20_000)
    assert sim.fires == [] and len(sim.open_orders(MASTER)) == 1
    sim.advance(10_000)
    assert sim.fires == [(START_MS + 50_000, MASTER, 1)]


def test_lead_under_five_seconds_is_rejected(sim: HyperliquidSim, clock: VirtualClock) -> None:
    c = client(sim, clock)
    with pytest.raises(RejectedError) as caught:
        c.extend(START_MS + 4_999)
    assert caught.value.message == TOO_EARLY and not isinstance(caught.value, VolumeGateError)
    c.extend(START_MS + 5_000)
    assert sim.scheduled(MASTER) == START_MS + 5_000


def _burn_triggers(sim: HyperliquidSim, clock: VirtualClock, c: Client, n: int) -> None:
    for _ in range(n):
        trader_order(sim, clock, "BTC")
        c.extend(clock() + 5_000)
        sim.advance(5_000)


def test_daily_trigger_cap_refuses_and_resets_at_utc_midnight(clock: VirtualClock) -> None:
    midnight = (START_MS // DAY_MS + 1) * DAY_MS
    clock.set(midnight - 3_600_000)  # 23:00 UTC
    with HyperliquidSim(clock).start(tick_s=None) as sim:
        assert isinstance(sim, HyperliquidSim)
        sim.approve_agent(MASTER, AGENT)
        c = client(sim, clock)
        _burn_triggers(sim, clock, c, 10)
        assert sim.triggers_today(MASTER) == 10 and len(sim.fires) == 10
        with pytest.raises(RejectedError) as caught:
            c.extend(clock() + 30_000)
        assert caught.value.message == TOO_MANY_TRIGGERS
        c.disarm()  # clearing is still allowed
        clock.set(midnight - 1)
        assert sim.triggers_today(MASTER) == 10
        clock.set(midnight)
        assert sim.triggers_today(MASTER) == 0
        c.extend(midnight + 30_000)
        assert sim.scheduled(MASTER) == midnight + 30_000


def test_daily_trigger_cap_ignore_mode(clock: VirtualClock) -> None:
    with HyperliquidSim(clock, cap_behaviour="ignore").start(tick_s=None) as sim:
        assert isinstance(sim, HyperliquidSim)
        sim.approve_agent(MASTER, AGENT)
        c = client(sim, clock)
        _burn_triggers(sim, clock, c, 10)
        oid = trader_order(sim, clock, "ETH")
        c.extend(clock() + 5_000)  # accepted...
        sim.advance(5_000)
        assert [o["oid"] for o in sim.open_orders(MASTER)] == [oid]  # ...but the fire does nothing
        assert sim.ignored_fires == [(clock(), MASTER)] and len(sim.fires) == 10


# -- nonce rules of the simulator ---------------------------------------------------------------------------


def test_nonce_window_bounds(sim: HyperliquidSim, clock: VirtualClock) -> None:
    now = clock()
    assert (
        "nonce too low"
        in post_signed(sim, AGENT_KEY, {"type": "scheduleCancel"}, now - 2 * DAY_MS)["response"]
    )
    assert (
        "nonce too high" in post_signed(sim, AGENT_KEY, {"type": "scheduleCancel"}, now + DAY_MS)["response"]
    )
    assert post_signed(sim, AGENT_KEY, {"type": "scheduleCancel"}, now - 2 * DAY_MS + 1)["status"] == "ok"
    assert post_signed(sim, AGENT_KEY, {"type": "scheduleCancel"}, now + DAY_MS - 1)["status"] == "ok"


def test_nonce_set_keeps_the_hundred_highest_per_signer(sim: HyperliquidSim, clock: VirtualClock) -> None:
    now = clock()
    for i in range(100):
        assert post_signed(sim, AGENT_KEY, {"type": "scheduleCancel"}, now + 1_000 + 2 * i)["status"] == "ok"
    smallest = now + 1_000
    answer = post_signed(sim, AGENT_KEY, {"type": "scheduleCancel"}, smallest - 1)
    assert answer["response"] == f"Invalid nonce: nonce too low {smallest - 1} < {smallest}"
    assert (
        "duplicate nonce" in post_signed(sim, AGENT_KEY, {"type": "scheduleCancel"}, now + 1_010)["response"]
    )
    assert (
        post_signed(sim, AGENT_KEY, {"type": "scheduleCancel"}, now + 1_011)["status"] == "ok"
    )  # unused gap
    # the set now starts at smallest + 2: the old smallest fell out
    assert "too low" in post_signed(sim, AGENT_KEY, {"type": "scheduleCancel"}, smallest + 1)["response"]
    # nonces are per signer: another signer may use the same values
    assert post_signed(sim, KILL_KEY, {"type": "scheduleCancel"}, now + 1_010)["status"] == "ok"


# -- accounts and secrets ---------------------------------------------------------------------------------


def test_account_repr_and_errors_hold_no_secret(sim: HyperliquidSim, clock: VirtualClock) -> None:
    account = Account.from_mapping(
        entry(sim, kill={"agent_private_key": KILL_KEY}), secret_name="s", sandbox=True
    )
    assert_no_secret(repr(account))
    assert_no_secret(str(account))
    errors: list[Exception] = []
    for fault in ("rate_limited", "maintenance"):
        setattr(sim.faults, fault, True)
        try:
            Client(account, nonces=MemoryNonceSource(), clock=clock).extend(START_MS + 30_000)
        except VenueError as exc:
            errors.append(exc)
        sim.faults.clear()
    for key in (STRANGER_KEY,):
        try:
            client(sim, clock, agent_private_key=key).sweep()
            client(sim, clock, agent_private_key=key).extend(START_MS + 30_000)
        except VenueError as exc:
            errors.append(exc)
    assert len(errors) == 3
    for error in errors:
        assert_no_secret(str(error))
        assert_no_secret(repr(error))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"account_id": None}, "account_id"),
        ({"account_id": ""}, "account_id"),
        ({"address": None}, "address"),
        ({"address": "0x1234"}, "address"),
        ({"address": "14791697260e4c9a71f18484c9f997b308e59325ab"}, "address"),
        ({"agent_private_key": None}, "agent_private_key"),
        ({"agent_private_key": AGENT_KEY[2:]}, "agent_private_key"),
        ({"agent_private_key": AGENT_KEY[:-1] + "g"}, "agent_private_key"),
        ({"agent_private_key": "0x" + "00" * 32}, "agent_private_key"),
        ({"agent_private_key": "0x" + "ff" * 32}, "agent_private_key"),
        ({"vault_address": "0xnotanaddress"}, "vault_address"),
        ({"network": "devnet"}, "network"),
        ({"base_url": "ftp://x"}, "base_url"),
        ({"dexes": []}, "dexes"),
        ({"dexes": "test"}, "dexes"),
        ({"dexes": ["", ""]}, "dexes"),
        ({"dexes": ["", 1]}, "dexes"),
        ({"kill": {"agent_private_key": "0x12"}}, "kill.agent_private_key"),
        ({"kill": {"agent_private_key": KILL_KEY, "extra": 1}}, "kill"),
        ({"vault_adress": VAULT}, "vault_adress"),
    ],
)
def test_from_mapping_errors_name_the_field(sim: HyperliquidSim, change: dict[str, Any], field: str) -> None:
    data = entry(sim)
    for key, value in change.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    with pytest.raises(CredentialsError) as caught:
        Account.from_mapping(data, secret_name="deadman/hyperliquid", sandbox=True)
    assert caught.value.field == field and caught.value.secret == "deadman/hyperliquid"
    assert_no_secret(str(caught.value))
    for value in change.values():
        if isinstance(value, str) and len(value) > 8:
            assert value not in str(caught.value)


def test_from_mapping_defaults_and_normalisation() -> None:
    account = Account.from_mapping(
        {
            "account_id": "main",
            "address": MASTER.upper().replace("0X", "0x"),
            "agent_private_key": AGENT_KEY.upper().replace("0X", "0x"),
        },
        secret_name="s",
    )
    assert account.address == MASTER and account.network == "mainnet" and account.dexes == ("",)
    assert account.url == "https://api.hyperliquid.xyz" and account.vault_address is None
    assert account.agent_private_key.reveal() == AGENT_KEY
    testnet = Account.from_mapping(
        {"account_id": "t", "address": MASTER, "agent_private_key": AGENT_KEY, "network": "testnet"},
        secret_name="s",
    )
    assert testnet.url == "https://api.hyperliquid-testnet.xyz" and not testnet.is_mainnet


def test_standalone_config(tmp_path: Any, clock: VirtualClock) -> None:
    config = tmp_path / "accounts.json"
    config.write_text(json.dumps({"accounts": [{"address": MASTER, "agents": [AGENT], "vaults": [VAULT]}]}))

    class Args:
        pass

    args = Args()
    args.config = str(config)  # type: ignore[attr-defined]
    sim = _from_config(args)  # type: ignore[arg-type]
    assert sim.agents == {AGENT: MASTER} and sim.vaults == {VAULT: MASTER}
