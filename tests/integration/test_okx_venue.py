"""The OKX client against the OKX simulator over loopback, in virtual time: the timer per scope
(account, tags), its range, its answer checked in either unit, the sweep by listing and batches,
every error class, and bad secrets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from deadman.core.errors import CredentialsError
from deadman.stores.nonces import MemoryNonceSource
from deadman.venues import errors as E
from deadman.venues import okx
from deadman.venues.okx.client import Client
from sandbox.venues.common import VirtualClock
from sandbox.venues.okx import OkxSim
from tests.integration.in_order import InOrder

pytestmark = pytest.mark.integration

START_MS = 1_767_225_600_000


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[OkxSim, VirtualClock]]:
    clock = VirtualClock(START_MS)
    server = OkxSim(clock).start(tick_s=None)
    assert isinstance(server, OkxSim)
    try:
        yield server, clock
    finally:
        server.stop()


@pytest.fixture
def sim(shared: tuple[OkxSim, VirtualClock]) -> Iterator[OkxSim]:
    server, clock = shared
    clock.set(START_MS)
    with server.lock:
        server.faults.clear()
        server.fires.clear()
        server._keys.clear()
        server._subs.clear()
        server.refuse_cancels.clear()
        server.times_in_seconds = False
        server.timer_takes_algos = False
    server.add_key("K1", "s1", "p1", "uid-1")
    server.add_key("KILL", "s2", "p2", "uid-1")
    server.add_key("DEMO", "s3", "p3", "uid-1", demo=True)
    yield server


def account(sim: OkxSim, **extra: Any) -> okx.Account:
    entry = {
        "account_id": "main",
        "api_key": "K1",
        "api_secret": "s1",
        "passphrase": "p1",
        "base_url": sim.url,
    }
    return okx.Account.from_mapping({**entry, **extra}, secret_name="t", sandbox=True)


def client(sim: OkxSim, clock: VirtualClock | None = None, parallel: Any = None, **extra: Any) -> Client:
    c = okx.DRIVER.client(
        account(sim, **extra),
        nonces=MemoryNonceSource(),
        clock=clock or sim.clock,
        timeout=(2.0, 3.0),
        parallel=parallel,
    )
    assert isinstance(c, Client)
    return c


# -- the timer ----------------------------------------------------------------------------------------


def test_extend_sets_the_account_timer_by_the_deadline(sim: OkxSim) -> None:
    c = client(sim)
    out = c.extend(START_MS + 45_000)
    fire = sim.timer("uid-1")
    assert fire is not None and START_MS + 10_000 <= fire <= START_MS + 45_000
    assert out.venue_deadline_ms == fire and out.requested_deadline_ms == START_MS + 45_000
    assert "timeOut=44" in out.detail


@pytest.mark.parametrize("seconds", [False, True])
def test_the_answer_is_read_in_either_unit(sim: OkxSim, seconds: bool) -> None:
    sim.times_in_seconds = seconds
    out = client(sim).extend(START_MS + 30_000)
    fire = sim.timer("uid-1")
    assert fire is not None and out.venue_deadline_ms is not None
    assert fire <= out.venue_deadline_ms <= fire + (999 if seconds else 0)


def test_a_deadline_past_the_cap_is_cut_to_120_s(sim: OkxSim) -> None:
    client(sim).extend(START_MS + 3_600_000)
    assert sim.timer("uid-1") == START_MS + 120_000


def test_a_deadline_under_the_minimum_is_not_sent(sim: OkxSim) -> None:
    c = client(sim)
    c.extend(START_MS + 40_000)
    before = sim.timer("uid-1")
    with pytest.raises(E.StaleDecisionError):
        c.extend(START_MS + 10_500)  # 10.5 s less the aim's second: under 10 s
    assert sim.timer("uid-1") == before  # the earlier, later-firing timer is untouched, nothing longer set


def test_the_tags_are_set_side_by_side_and_a_late_one_set_again_at_once(
    sim: OkxSim, shared: tuple[OkxSim, VirtualClock]
) -> None:
    """The tags' timers are handed over as one batch (side by side: twenty one after another on a slow
    path would age the decision past its send-by time). The timeout counts from the request's
    arrival: a1's took 4 s to arrive and landed past the deadline, so a1 is set again at once, aimed
    earlier by that transit."""
    clock = shared[1]
    real_handle = sim.handle
    up, down = [4_000], [1_000]  # the way back slow too: OKX takes one request a second per tag
    seen: list[tuple[str, str]] = []

    def slow_first(method: str, path: str, headers: Any, body: bytes) -> Any:
        if path.endswith("/cancel-all-after"):
            if up:
                clock.advance(up.pop())
            asked = json.loads(body)
            seen.append((asked["tag"], asked["timeOut"]))
        answer = real_handle(method, path, headers, body)
        if down and not up:
            clock.advance(down.pop())
        return answer

    sim.handle = slow_first  # type: ignore[method-assign]
    try:
        in_order = InOrder()
        out = client(sim, parallel=in_order, tags=["a1", "a2"]).extend(START_MS + 45_000)
    finally:
        sim.handle = real_handle  # type: ignore[method-assign]
    assert in_order.batches == [2]
    assert seen == [("a1", "44"), ("a1", "35"), ("a2", "35")]
    fired = [sim.timer("uid-1", "a1"), sim.timer("uid-1", "a2")]
    assert all(f is not None and f <= START_MS + 45_000 for f in fired)
    assert out.venue_deadline_ms is not None and out.venue_deadline_ms <= START_MS + 45_000


def test_disarm_switches_every_scope_off(sim: OkxSim, shared: tuple[OkxSim, VirtualClock]) -> None:
    c = client(sim, tags=["a1", "a2"])
    c.extend(START_MS + 45_000)
    assert sim.timer("uid-1", "a1") and sim.timer("uid-1", "a2") and sim.timer("uid-1") is None
    shared[1].advance(1_000)  # 1 request/s per (UID, tag)
    c.disarm()
    assert sim.timer("uid-1", "a1") is None and sim.timer("uid-1", "a2") is None


def test_a_fired_tag_timer_takes_only_its_tag(sim: OkxSim, shared: tuple[OkxSim, VirtualClock]) -> None:
    mine, other, bare = sim.place("uid-1", tag="a1"), sim.place("uid-1", tag="b1"), sim.place("uid-1")
    client(sim, tags=["a1"]).extend(START_MS + 20_000)
    shared[0].advance(25_000)
    assert set(sim.pending("uid-1")) == {other, bare} and mine not in sim.pending("uid-1")


def test_an_account_timer_takes_every_order(sim: OkxSim) -> None:
    sim.place("uid-1", tag="a1")
    sim.place("uid-1")
    algo = sim.place("uid-1", algo_type="trigger")
    client(sim).extend(START_MS + 20_000)
    sim.advance(25_000)
    assert set(sim.pending("uid-1")) == {algo}  # algo orders kept: unverified, the watchdog sweeps them


def test_one_tags_failure_neither_stops_nor_moves_the_others(sim: OkxSim) -> None:
    c = client(sim, tags=["a1", "a2"])
    c.extend(START_MS + 45_000)
    first_a1, first_a2 = sim.timer("uid-1", "a1"), sim.timer("uid-1", "a2")
    sim.advance(1_000)
    with sim.lock:
        sim._subs["uid-1"].last_call["a1"] = sim.now_ms()  # a1 just called by another: rate limited
    with pytest.raises(E.RateLimitError):
        c.extend(START_MS + 46_000)
    assert sim.timer("uid-1", "a2") != first_a2  # a2 extended all the same
    assert sim.timer("uid-1", "a1") == first_a1  # the refused one stands as it was


def test_the_21st_tag_timer_is_refused(sim: OkxSim) -> None:
    tags = [f"t{i}" for i in range(20)]
    client(sim, tags=tags).extend(START_MS + 45_000)
    with pytest.raises(E.RejectedError) as info:
        client(sim, tags=["extra"]).extend(START_MS + 45_000)
    assert info.value.code == "51071"


def test_an_answer_for_another_tag_or_timeout_is_an_unknown_outcome() -> None:
    from deadman.venues.okx.wire import check_timer

    row = {"triggerTime": str(START_MS + 30_000), "tag": "", "ts": str(START_MS)}
    ok = check_timer(row, tag="", timeout_s=30, sent_ms=START_MS, answered_ms=START_MS, path="p")
    assert ok is not None and ok.ms == START_MS + 30_000
    for bad, tag, timeout in (
        (row, "a1", 30),  # another scope's answer
        (row, "", 60),  # not the timeout sent
        ({**row, "ts": str(START_MS - 60_000), "triggerTime": str(START_MS - 30_000)}, "", 30),  # stale
        ({**row, "triggerTime": "0"}, "", 30),  # off, though a timer was asked for
        ({**row, "triggerTime": "soon"}, "", 30),
    ):
        with pytest.raises(E.TransientError):
            check_timer(bad, tag=tag, timeout_s=timeout, sent_ms=START_MS, answered_ms=START_MS, path="p")


# -- the sweep ------------------------------------------------------------------------------------------


def test_sweep_cancels_every_order_in_batches(sim: OkxSim) -> None:
    ids = {sim.place("uid-1", inst_id=f"X{i % 3}-USDT") for i in range(45)}
    algos = {sim.place("uid-1", algo_type=kind) for kind in ("conditional", "oco", "trigger", "twap")}
    out = client(sim).sweep()
    assert set(out.cancelled_ids) == ids | algos and out.complete and not sim.pending("uid-1")


def test_sweep_pages_a_deep_book(sim: OkxSim) -> None:
    ids = {sim.place("uid-1") for _ in range(230)}
    out = client(sim).sweep()
    assert set(out.cancelled_ids) == ids and out.extra["listed"] == 230


def test_a_tagged_sweep_leaves_other_tags_alone(sim: OkxSim) -> None:
    mine = {sim.place("uid-1", tag="a1"), sim.place("uid-1", tag="a2", algo_type="trigger")}
    others = {sim.place("uid-1", tag="b1"), sim.place("uid-1")}
    c = client(sim, tags=["a1", "a2"])
    assert {o.order_id for o in c.open_orders()} == mine
    assert set(c.sweep().cancelled_ids) == mine and set(sim.pending("uid-1")) == others


def test_refused_cancels_are_failures_of_their_own(sim: OkxSim) -> None:
    ids = [sim.place("uid-1") for _ in range(25)]
    sim.set_fault("cancel_refused", True)
    later = sim.place("uid-1")
    out = client(sim).sweep()
    assert out.cancelled_ids == (later,) and {f.order_id for f in out.failed} == set(ids)
    assert all("51412" in f.reason for f in out.failed)


def test_a_sweep_refused_whole_raises_the_venues_error(sim: OkxSim, monkeypatch: pytest.MonkeyPatch) -> None:
    sim.place("uid-1")
    c = client(sim)
    real = c._call

    def refuse(method: str, path: str, body: Any, **kw: Any) -> Any:
        if path.startswith("/api/v5/trade/cancel-batch-orders"):
            raise E.AuthError("okx", "refused", code="50113")
        return real(method, path, body, **kw)

    monkeypatch.setattr(c, "_call", refuse)
    with pytest.raises(E.AuthError):
        c.sweep()


def test_nothing_pending_is_an_empty_sweep(sim: OkxSim) -> None:
    out = client(sim).sweep()
    assert out.cancelled_count == 0 and out.complete


def test_a_late_sweep_is_not_sent(sim: OkxSim) -> None:
    sim.place("uid-1")
    with pytest.raises(E.StaleDecisionError):
        client(sim).sweep(send_by_ms=START_MS - 1)
    assert len(sim.pending("uid-1")) == 1


# -- errors and secrets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "error", "code"),
    [
        ({"api_secret": "wrong"}, E.AuthError, "50113"),
        ({"passphrase": "wrong"}, E.AuthError, "50105"),
        ({"api_key": "NOPE"}, E.AuthError, "50111"),
        ({"demo": True}, E.AuthError, "50101"),
    ],
)
def test_auth_errors(sim: OkxSim, extra: dict[str, Any], error: type, code: str) -> None:
    with pytest.raises(error) as info:
        client(sim, **extra).extend(START_MS + 45_000)
    assert info.value.code == code


def test_a_demo_key_answers_with_the_demo_header(sim: OkxSim) -> None:
    client(sim, api_key="DEMO", api_secret="s3", passphrase="p3", demo=True).extend(START_MS + 45_000)
    assert sim.timer("uid-1") is not None


def test_a_clock_outside_the_window_is_a_timestamp_error(sim: OkxSim) -> None:
    ahead = VirtualClock(START_MS + 31_000)
    with pytest.raises(E.NonceError) as info:
        client(sim, clock=ahead).extend(START_MS + 80_000)
    assert info.value.code == "50102"


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("venue_429", E.RateLimitError),
        ("venue_maintenance", E.UnavailableError),
        ("venue_5xx", E.TransientError),
    ],
)
def test_venue_faults(sim: OkxSim, fault: str, error: type) -> None:
    sim.set_fault(fault, True)
    with pytest.raises(error):
        client(sim).extend(START_MS + 45_000)


def test_the_rate_limit_per_scope(sim: OkxSim) -> None:
    c = client(sim)
    c.extend(START_MS + 45_000)
    with pytest.raises(E.RateLimitError):
        c.extend(START_MS + 45_000)
    sim.advance(1_000)
    c.extend(START_MS + 45_000)


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"api_key": "K1", "api_secret": "s", "passphrase": "p"}, "account_id"),
        ({"account_id": "a", "api_secret": "s", "passphrase": "p"}, "api_key"),
        ({"account_id": "a", "api_key": "K", "api_secret": "s"}, "passphrase"),
        ({"account_id": "a", "api_key": "K", "api_secret": "s\n", "passphrase": "p"}, "api_secret"),
        ({"account_id": "a", "api_key": "K", "api_secret": "s", "passphrase": "p", "tag": ["x"]}, "tag"),
        ({"account_id": "a", "api_key": "K", "api_secret": "s", "passphrase": "p", "tags": ["a-b"]}, "tags"),
        (
            {"account_id": "a", "api_key": "K", "api_secret": "s", "passphrase": "p", "tags": ["a", "a"]},
            "tags",
        ),
        ({"account_id": "a", "api_key": "K", "api_secret": "s", "passphrase": "p", "tags": []}, "tags"),
        ({"account_id": "a", "api_key": "K", "api_secret": "s", "passphrase": "p", "demo": "yes"}, "demo"),
        (
            {
                "account_id": "a",
                "api_key": "K",
                "api_secret": "s",
                "passphrase": "p",
                "kill": {"api_key": "k"},
            },
            "kill.api_secret",
        ),
        (
            {
                "account_id": "a",
                "api_key": "K",
                "api_secret": "s",
                "passphrase": "p",
                "base_url": "https://okx.evil",
            },
            "base_url",
        ),
    ],
)
def test_bad_secrets_name_the_field_never_the_value(entry: dict[str, Any], field: str) -> None:
    with pytest.raises(CredentialsError) as info:
        okx.Account.from_mapping(entry, secret_name="t")
    assert info.value.field == field
    assert "okx.evil" not in str(info.value) and "s\n" not in str(info.value)


def test_kill_credentials_and_repr(sim: OkxSim) -> None:
    acct = account(sim, kill={"api_key": "KILL", "api_secret": "s2", "passphrase": "p2"})
    assert acct.has_kill_key and acct.for_kill().keys.api_key == "KILL" and acct.for_retiring() is None
    assert "s2" not in repr(acct) and "p1" not in repr(acct)
    sim.place("uid-1")
    kc = okx.DRIVER.client(acct.for_kill(), nonces=MemoryNonceSource(), clock=sim.clock)
    assert kc.sweep().cancelled_count == 1


def test_the_checker_reads_extensions_and_cancels_off_the_wire() -> None:
    caa = "/api/v5/trade/cancel-all-after"
    assert OkxSim.is_extension(caa, b'{"timeOut":"60","tag":"a1"}')
    assert not OkxSim.is_extension(caa, b'{"timeOut":"0"}') and not OkxSim.is_cancel(caa, b"{}")
    for path in ("/api/v5/trade/cancel-batch-orders", "/api/v5/trade/cancel-algos"):
        assert OkxSim.is_cancel(path, b"[]") and not OkxSim.is_extension(path, b"[]")
    assert not OkxSim.is_cancel("/api/v5/trade/orders-pending?limit=100", b"")
