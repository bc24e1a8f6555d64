"""The Deribit client against the Deribit simulator, in virtual time: the sweep (plain and trigger
orders, confirmed empty), the open orders, the token's lifetime (kept, renewed before it runs out,
got once more when refused), every error class, bad secrets, and the timer calls refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from deadman.core.policy import LivenessView, Mode, SwitchView, Timing, decide
from deadman.stores.nonces import MemoryNonceSource
from deadman.venues import deribit
from deadman.venues import errors as E
from sandbox.venues.common import VirtualClock
from sandbox.venues.deribit import ME_BURST, DeribitSim
from sandbox.venues.simulator import AccountSpec

pytestmark = pytest.mark.integration

START_MS = 1_767_225_600_000


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[DeribitSim, VirtualClock]]:
    # One server per module: stopping one costs ~0.5 s (serve_forever's poll interval).
    clock = VirtualClock(START_MS)
    server = DeribitSim(clock).start(tick_s=None)
    assert isinstance(server, DeribitSim)
    try:
        yield server, clock
    finally:
        server.stop()


@pytest.fixture
def sim(shared: tuple[DeribitSim, VirtualClock]) -> DeribitSim:
    server, clock = shared
    server.reset()
    clock.set(START_MS)
    deribit.TOKENS.clear()  # the container's cache: each test starts cold
    return server


@pytest.fixture
def clock(shared: tuple[DeribitSim, VirtualClock]) -> VirtualClock:
    return shared[1]


def connect(sim: DeribitSim, clock: Any, entry: dict[str, Any]) -> deribit.Client:
    account = deribit.Account.from_mapping({**entry, "base_url": sim.url}, secret_name="s", sandbox=True)
    return deribit.Client(account, nonces=MemoryNonceSource(), clock=clock)


@pytest.fixture
def main(sim: DeribitSim, clock: VirtualClock) -> deribit.Client:
    return connect(sim, clock, sim.provision(AccountSpec("main", kill_key=True)))


def test_sweep_cancels_plain_and_trigger_orders_and_confirms_the_book_empty(sim: DeribitSim, main: Any):
    plain = {sim.rest_order("main") for _ in range(3)}
    trigger = sim.place_order("main", instrument="ETH-PERPETUAL", trigger=True)
    assert {o.order_id for o in main.open_orders()} == plain | {trigger}  # both lists read
    swept = main.sweep()
    assert swept.cancelled_count == 4 and swept.complete and sim.order_ids("main") == set()
    again = main.sweep()
    assert again.cancelled_count == 0 and again.complete  # nothing open: 0, no error


def test_an_order_left_after_the_cancel_is_a_failure(sim: DeribitSim, clock: VirtualClock, main: Any):
    sim.rest_order("main")
    real_cancel = sim._cancel_all

    def cancel_then_trade(acct: Any) -> int:
        n = real_cancel(acct)
        sim.place_order("main")  # the trader's next order lands between the cancel and the read
        return n

    sim._cancel_all = cancel_then_trade  # type: ignore[method-assign]
    try:
        swept = main.sweep()
    finally:
        del sim._cancel_all
    assert swept.cancelled_count == 1 and not swept.complete
    assert [f.reason for f in swept.failed] == ["still open after cancel_all"]


def test_the_kill_key_sweeps_the_same_account(sim: DeribitSim, clock: VirtualClock):
    entry = sim.provision(AccountSpec("main", kill_key=True))
    kill = connect(sim, clock, {**entry["kill"], "account_id": "main"})
    sim.rest_order("main")
    assert kill.sweep().cancelled_count == 1


def test_the_token_is_kept_renewed_before_it_runs_out_and_shared_by_clients(
    sim: DeribitSim, clock: VirtualClock, main: Any
):
    main.open_orders()
    main.open_orders()
    assert sim.auths == 1  # one token for both calls (two lists each)
    other = connect(sim, clock, sim.provision(AccountSpec("main", kill_key=True)))
    other.open_orders()
    assert sim.auths == 1  # a new client of the container, the same key: the same token
    token = deribit.TOKENS.get(other._cache_key, clock())
    assert token is not None
    clock.advance(token.usable_until_ms - clock() - 1)
    main.open_orders()
    assert sim.auths == 1  # still inside its margin
    clock.advance(1)
    main.open_orders()
    assert sim.auths == 2  # renewed before Deribit's expiry, never after


def test_a_short_lifetime_is_renewed_at_its_half(sim: DeribitSim, clock: VirtualClock):
    sim.token_lifetime_s = 30
    client = connect(sim, clock, sim.provision(AccountSpec("main")))
    client.open_orders()
    clock.advance(14_999)
    client.open_orders()
    assert sim.auths == 1
    clock.advance(1)
    client.open_orders()
    assert sim.auths == 2


def test_a_refused_token_is_got_once_more_and_the_call_sent_again(
    sim: DeribitSim, clock: VirtualClock, main: Any
):
    main.open_orders()
    sim.revoke_tokens("drb-main-g0")
    sim.rest_order("main")
    assert main.sweep().cancelled_count == 1 and sim.auths == 2
    assert sim.order_ids("main") == set()


def test_a_new_token_refused_is_the_keys_failure(sim: DeribitSim, clock: VirtualClock, main: Any):
    revoke = sim._bearer

    def always_refused(headers: Any) -> Any:
        from sandbox.venues.deribit import RpcError

        raise RpcError(13009, "unauthorized")

    sim._bearer = always_refused  # type: ignore[method-assign]
    try:
        with pytest.raises(E.AuthError) as info:
            main.sweep()
    finally:
        sim._bearer = revoke  # type: ignore[method-assign]
    assert info.value.code == "13009" and sim.auths == 1  # once, no loop


def test_a_connection_scoped_token_would_be_refused_over_http(sim: DeribitSim):
    """Why the client asks for a session scope: each HTTP request is a connection of its own."""
    sim.provision(AccountSpec("main"))
    body = deribit.auth_body("drb-main-g0", "simulated-deribit-client-secret-43-characters", 1)
    plain = body.replace(b',"scope":"session:deadman"', b"")
    token = requests.post(sim.url + deribit.path(deribit.AUTH), data=plain, timeout=5).json()["result"]
    answer = requests.get(
        sim.url + deribit.query_path(deribit.OPEN_ORDERS),
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=5,
    ).json()
    assert answer["error"]["code"] == 13009


def test_bad_secret_and_unknown_key_are_auth_errors_that_never_show_the_secret(
    sim: DeribitSim, clock: VirtualClock
):
    entry = sim.provision(AccountSpec("main"))
    with pytest.raises(E.AuthError) as info:
        connect(sim, clock, {**entry, "api_secret": "not-the-secret"}).sweep()
    assert info.value.code == "13004" and "not-the-secret" not in str(info.value)
    with pytest.raises(E.AuthError):
        connect(sim, clock, {**entry, "api_key": "nobody"}).open_orders()
    sim.rest_order("main")
    assert len(sim.order_ids("main")) == 1  # nothing was cancelled


def test_a_read_only_key_lacks_the_permission(sim: DeribitSim, clock: VirtualClock):
    sim.provision(AccountSpec("main"))
    sim.add_key("reader", "reader-secret", "main", scope="trade:read")
    reader = connect(sim, clock, {"account_id": "main", "api_key": "reader", "api_secret": "reader-secret"})
    assert reader.open_orders() == []  # the key is proven
    with pytest.raises(E.MissingPermissionError) as info:
        reader.sweep()
    assert info.value.code == "13021"


def test_a_deleted_key_stops_at_once(sim: DeribitSim, clock: VirtualClock):
    old = connect(sim, clock, sim.provision(AccountSpec("main")))
    old.open_orders()
    rotated = sim.rotate_keys("main")
    sim.delete_old_keys("main")
    with pytest.raises(E.AuthError):
        old.open_orders()  # its token went with it; got once more, the key is refused
    new = connect(sim, clock, rotated)
    sim.rest_order("main")
    assert new.sweep().cancelled_count == 1


def test_rate_limit_exhaustion_and_refill(sim: DeribitSim, clock: VirtualClock, main: Any):
    for _ in range(ME_BURST):
        main._private(deribit.CANCEL_ALL, None)
    with pytest.raises(E.RateLimitError) as info:
        main.sweep()
    assert info.value.code == "10028"
    clock.advance(1_000)
    assert main.sweep().complete  # the bucket refilled


def test_venue_faults_map_to_their_classes(sim: DeribitSim, main: Any):
    for fault, kind in (
        ("venue_maintenance", E.UnavailableError),
        ("venue_429", E.RateLimitError),
        ("venue_5xx", E.TransientError),
    ):
        sim.set_fault(fault, True)
        with pytest.raises(kind):
            main.sweep()
        sim.set_fault(fault, False)
    assert main.sweep().complete


def test_the_timer_calls_are_refused_and_the_policy_never_makes_them(main: Any, clock: VirtualClock):
    with pytest.raises(E.NotSupportedError):
        main.extend(START_MS + 45_000)
    with pytest.raises(E.NotSupportedError):
        main.disarm()
    for alive, switch in (
        (True, SwitchView(mode=Mode.ARMED)),
        (False, SwitchView(mode=Mode.ARMED, dead_since_ms=clock() - 60_000)),
        (False, SwitchView(mode=Mode.DISARMED, disarmed_until_ms=clock() + 600_000, timer_off=True)),
        (True, SwitchView(mode=Mode.KILLED)),
    ):
        decision = decide(
            now_ms=clock(),
            liveness=LivenessView(alive=alive, beat_ms=clock() if alive else clock() - 60_000),
            switch=switch,
            caps=deribit.CAPABILITIES,
            timing=Timing(),
        )
        assert decision.extend_to_ms is None and not decision.disarm_venue, switch
        assert not decision.clear_after_sweep


def test_a_stale_sweep_is_not_sent(sim: DeribitSim, clock: VirtualClock, main: Any):
    sim.rest_order("main")
    with pytest.raises(E.StaleDecisionError):
        main.sweep(send_by_ms=clock() - 1)
    assert len(sim.order_ids("main")) == 1
