"""The BitMEX client against the BitMEX simulator, in virtual time: every operation, every error
class, the cancelAllAfter timer's rules, and the race BitMEX leaves open (a late extension re-arms
after a disarm)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from deadman.core.policy import LivenessView, Mode, SwitchView, Timing, decide
from deadman.stores.nonces import MemoryNonceSource
from deadman.venues import bitmex
from deadman.venues import errors as E
from sandbox.venues.bitmex import RATE_PER_MINUTE, BitmexSim
from sandbox.venues.common import VirtualClock
from sandbox.venues.simulator import AccountSpec

pytestmark = pytest.mark.integration

START_MS = 1_767_225_600_000


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[BitmexSim, VirtualClock]]:
    # One server per module: stopping one costs ~0.5 s (serve_forever's poll interval).
    clock = VirtualClock(START_MS)
    server = BitmexSim(clock).start(tick_s=None)
    assert isinstance(server, BitmexSim)
    try:
        yield server, clock
    finally:
        server.stop()


@pytest.fixture
def sim(shared: tuple[BitmexSim, VirtualClock]) -> BitmexSim:
    server, clock = shared
    server.reset()
    clock.set(START_MS)
    return server


@pytest.fixture
def clock(shared: tuple[BitmexSim, VirtualClock]) -> VirtualClock:
    return shared[1]


def connect(sim: BitmexSim, clock: VirtualClock, entry: dict[str, Any]) -> bitmex.Client:
    account = bitmex.Account.from_mapping({**entry, "base_url": sim.url}, secret_name="s", sandbox=True)
    return bitmex.Client(account, nonces=MemoryNonceSource(), clock=clock)


@pytest.fixture
def main(sim: BitmexSim, clock: VirtualClock) -> bitmex.Client:
    return connect(sim, clock, sim.provision(AccountSpec("main", kill_key=True)))


def test_extend_sets_the_timer_within_the_deadline_and_it_fires(
    sim: BitmexSim, clock: VirtualClock, main: Any
):
    first = sim.rest_order("main")
    result = main.extend(START_MS + 45_000)
    timer = sim.timer_at("main")
    assert timer is not None and timer <= START_MS + 45_000 and result.venue_deadline_ms >= timer
    sim.advance(44_000)
    assert sim.order_ids("main") == {first} and sim.timer_fires() == 0
    sim.advance(1_000)
    assert sim.order_ids("main") == set() and sim.fires[-1][1:] == ("main", 1)
    assert sim.timer_at("main") is None  # off after firing until a new timeout


def test_each_call_replaces_the_last_and_zero_disarms(sim: BitmexSim, clock: VirtualClock, main: Any):
    main.extend(START_MS + 45_000)
    main.extend(START_MS + 30_000)  # shorter: replaced, not kept as the longer
    assert sim.timer_at("main") == START_MS + 30_000
    main.disarm()
    assert sim.timer_at("main") is None
    sim.rest_order("main")
    sim.advance(120_000)
    assert sim.timer_fires() == 0 and len(sim.order_ids("main")) == 1


def test_sweep_and_open_orders(sim: BitmexSim, main: Any):
    ids = {sim.rest_order("main") for _ in range(3)}
    assert {o.order_id for o in main.open_orders()} == ids
    swept = main.sweep()
    assert set(swept.cancelled_ids) == ids and swept.complete and sim.order_ids("main") == set()
    assert main.sweep().cancelled_count == 0  # nothing to cancel: an empty array, no error


def test_open_orders_pages(sim: BitmexSim, main: Any):
    ids = {sim.rest_order("main") for _ in range(bitmex.client.ORDERS_PAGE + 3)}
    assert {o.order_id for o in main.open_orders()} == ids


def test_the_kill_key_sweeps_the_same_account(sim: BitmexSim, clock: VirtualClock):
    entry = sim.provision(AccountSpec("main", kill_key=True))
    kill = connect(sim, clock, {**entry["kill"], "account_id": "main"})
    sim.rest_order("main")
    assert kill.sweep().cancelled_count == 1


def test_bad_secret_and_unknown_key_are_auth_errors(sim: BitmexSim, clock: VirtualClock):
    entry = sim.provision(AccountSpec("main"))
    with pytest.raises(E.AuthError) as info:
        connect(sim, clock, {**entry, "api_secret": "not-the-secret"}).extend(START_MS + 45_000)
    assert info.value.http_status == 401 and "Signature not valid" in info.value.message
    with pytest.raises(E.AuthError):
        connect(sim, clock, {**entry, "api_key": "nobody"}).sweep()
    assert sim.timer_at("main") is None


def test_a_read_only_key_lacks_the_permission(sim: BitmexSim, clock: VirtualClock):
    sim.provision(AccountSpec("main"))
    sim.add_key("reader", "reader-secret", "main", permission="")
    reader = connect(sim, clock, {"account_id": "main", "api_key": "reader", "api_secret": "reader-secret"})
    assert reader.open_orders() == []  # reads need no permission: the key is proven
    with pytest.raises(E.MissingPermissionError):
        reader.extend(START_MS + 45_000)


def test_an_expired_request_is_refused_as_a_window_error(sim: BitmexSim, clock: VirtualClock):
    entry = sim.provision(AccountSpec("main"))
    behind = {"t": START_MS - 10_000}  # our clock 10 s behind the venue's
    account = bitmex.Account.from_mapping({**entry, "base_url": sim.url}, secret_name="s", sandbox=True)
    slow = bitmex.Client(account, nonces=MemoryNonceSource(), clock=lambda: behind["t"])
    with pytest.raises(E.NonceError) as info:
        slow.extend(behind["t"] + 45_000)
    assert info.value.code == "expired" and sim.timer_at("main") is None


def test_rate_limit_exhaustion(sim: BitmexSim, clock: VirtualClock, main: Any):
    for _ in range(RATE_PER_MINUTE):
        main.extend(clock() + 45_000)
    with pytest.raises(E.RateLimitError):
        main.extend(clock() + 45_000)
    clock.advance(60_001)
    main.extend(clock() + 45_000)  # the minute rolled on


def test_load_shedding_spares_cancels(sim: BitmexSim, main: Any):
    sim.rest_order("main")
    sim.set_fault("venue_maintenance", True)
    with pytest.raises(E.UnavailableError):
        main.extend(START_MS + 45_000)
    assert main.sweep().cancelled_count == 1
    sim.set_fault("venue_maintenance", False)


def test_a_bad_timeout_is_rejected(sim: BitmexSim, main: Any):
    session = requests.Session()
    body = b'{"timeout":-5}'
    expires = bitmex.expires_for(START_MS)
    headers = bitmex.auth_headers(
        "bitmex-main-g0",
        expires,
        bitmex.sign(
            sim.provision(AccountSpec("main"))["api_secret"], "POST", bitmex.PATH_CANCEL_AFTER, expires, body
        ),
    )
    answer = session.post(sim.url + bitmex.PATH_CANCEL_AFTER, data=body, headers=headers, timeout=5)
    err = bitmex.error_for(
        bitmex.wire.HttpResponse(answer.status_code, answer.text), bitmex.PATH_CANCEL_AFTER
    )
    assert isinstance(err, E.RejectedError) and err.http_status == 400


def test_form_bodies_are_taken_too(sim: BitmexSim):
    secret = sim.provision(AccountSpec("main"))["api_secret"]
    body = b"timeout=30000"
    expires = bitmex.expires_for(START_MS)
    headers = {
        **bitmex.auth_headers(
            "bitmex-main-g0", expires, bitmex.sign(secret, "POST", bitmex.PATH_CANCEL_AFTER, expires, body)
        ),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    answer = requests.post(sim.url + bitmex.PATH_CANCEL_AFTER, data=body, headers=headers, timeout=5)
    assert answer.status_code == 200 and sim.timer_at("main") == START_MS + 30_000
    assert json.loads(answer.text)["cancelTime"]


def test_a_late_extension_re_arms_after_a_disarm_and_the_next_tick_switches_it_off(
    sim: BitmexSim, clock: VirtualClock
):
    """The race BitMEX leaves open: an extension signed before a disarm, processed after it (it
    passed the gateway in time and waited in the engine's queue), arms the timer again. Nothing at
    the venue can refuse it; the refresher's repeated off (the spec's `late_call_rearms`) ends it."""
    sim.queue_ms = 20_000
    entry = sim.provision(AccountSpec("main"))
    main = connect(sim, clock, entry)
    signed_at = {"t": clock()}
    early = bitmex.Account.from_mapping({**entry, "base_url": sim.url}, secret_name="s", sandbox=True)
    straggler = bitmex.Client(early, nonces=MemoryNonceSource(), clock=lambda: signed_at["t"])
    main.disarm()
    clock.advance(8_000)  # the straggler reaches the engine 8 s after it was signed: past its expiry
    straggler.extend(signed_at["t"] + 45_000)
    assert sim.timer_at("main") is not None  # re-armed behind the disarm
    decision = decide(
        now_ms=clock(),
        liveness=LivenessView(alive=False, beat_ms=None),
        switch=SwitchView(mode=Mode.DISARMED, disarmed_until_ms=clock() + 600_000, timer_off=True),
        caps=bitmex.CAPABILITIES,
        timing=Timing(),
    )
    assert decision.disarm_venue and not decision.sweep  # the off goes again, every tick
    main.disarm()
    assert sim.timer_at("main") is None


def test_without_a_queue_a_straggler_is_refused_at_the_gateway(sim: BitmexSim, clock: VirtualClock):
    entry = sim.provision(AccountSpec("main"))
    signed_at = clock()
    early = bitmex.Account.from_mapping({**entry, "base_url": sim.url}, secret_name="s", sandbox=True)
    straggler = bitmex.Client(early, nonces=MemoryNonceSource(), clock=lambda: signed_at)
    clock.advance(bitmex.EXPIRES_WITHIN_MS)
    with pytest.raises(E.NonceError):
        straggler.extend(signed_at + 45_000)
    assert sim.timer_at("main") is None


def test_answers_without_times_are_taken(sim: BitmexSim, clock: VirtualClock, main: Any):
    sim.reply_times = False
    result = main.extend(START_MS + 45_000)
    assert result.venue_deadline_ms is not None and sim.timer_at("main") is not None
