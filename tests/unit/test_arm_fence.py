"""An arm that takes a switch out of a kill fences the kill key: the kill's sweeps, and the ticks'
sweeps while it stood, can land after the arm answered (one still in flight, or one its client gave
up on) and cancel the orders the trader rests then. One answered read with a later nonce on that key
makes the venue refuse every earlier request on it (fresh seed 8003515: a Gemini sweep sent before the
arm landed 25 s later and took two orders rested after it)."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

from deadman.app.control.arm import FENCE_TRIES, _fence, _fence_plan
from deadman.app.control.toolkit import INFLIGHT_MARGIN_MS, Target
from deadman.core.policy import INTENT_WINDOW_MS, TRANSIT_MS
from deadman.core.venue import Capabilities, TimerKind

CAPS = Capabilities(
    venue="v",
    timer_kind=TimerKind.HEARTBEAT,
    can_disarm=False,
    min_lead_ms=0,
    max_timeout_ms=None,
    fixed_timeout_ms=30_000,
    daily_trigger_budget=None,
    later_nonce_fences=True,
)


@dataclasses.dataclass(frozen=True)
class Account:
    account_id: str
    has_kill_key: bool
    key: str = "trading"

    def for_kill(self) -> Account:
        return dataclasses.replace(self, key="kill")


class Client:
    def __init__(
        self, account: Account, caps: Capabilities, calls: list[tuple[int, str, str]], kit: Any
    ) -> None:
        self.account, self.capabilities, self.calls, self.kit = account, caps, calls, kit

    def open_orders(self) -> list[Any]:
        self.calls.append((self.kit.now, self.account.account_id, self.account.key))
        return []


def kit(caps: Capabilities = CAPS) -> Any:
    calls: list[tuple[int, str, str]] = []
    k = SimpleNamespace(now=1_000, calls=calls, logged=[], kill_timeout=(1.0, 1.0))
    k.clock = lambda: k.now
    k.sleep_until = lambda at: setattr(k, "now", max(k.now, at))
    k.client_factory = lambda venue, account, timeout: Client(account, caps, calls, k)
    k.log = lambda message, **fields: k.logged.append((message, fields))
    return k


def test_the_kill_key_is_read_once_what_was_in_flight_has_left() -> None:
    k = kit()
    targets = [(Target("v", "a", Account("a", True)), 9_000), (Target("v", "b", Account("b", False)), 20_000)]
    _fence(k, *_fence_plan(k, targets))
    # once the request the fenced switch had in flight has left (its window less the transit), on the
    # kill key of the account that has one, and nothing else
    assert k.calls == [(9_000 - TRANSIT_MS + INFLIGHT_MARGIN_MS, "a", "kill")]


def test_nothing_in_flight_is_no_wait() -> None:
    k = kit()
    _fence(
        k,
        *_fence_plan(
            k, [(Target("v", "a", Account("a", True)), None), (Target("v", "c", Account("c", True)), 500)]
        ),
    )
    assert k.calls == [(1_000, "a", "kill"), (1_000, "c", "kill")]


def test_a_window_further_out_than_any_request_can_be_is_not_believed() -> None:
    k = kit()
    _fence(k, *_fence_plan(k, [(Target("v", "a", Account("a", True)), 10**9)]))
    assert k.calls == [(1_000 + INTENT_WINDOW_MS + INFLIGHT_MARGIN_MS, "a", "kill")]


def test_a_venue_whose_nonces_fence_nothing_is_not_called_nor_waited_for() -> None:
    k = kit(dataclasses.replace(CAPS, later_nonce_fences=False))
    _fence(k, *_fence_plan(k, [(Target("v", "a", Account("a", True)), 9_000)]))
    assert k.calls == [] and k.now == 1_000


def test_a_fence_that_fails_is_logged_and_the_arm_goes_on() -> None:
    k = kit()

    def refuse(venue: str, account: Account, timeout: Any) -> Any:
        raise RuntimeError("no nonce source configured")

    k.client_factory = refuse
    _fence(k, *_fence_plan(k, [(Target("v", "a", Account("a", True)), None)]))
    assert k.logged and k.logged[0][0] == "kill key not fenced"


class TimesOut(Client):
    """A read whose client gives up the first `fails` times (it may yet land, after the straggler)."""

    fails = 1

    def open_orders(self) -> list[Any]:
        super().open_orders()
        if len(self.calls) <= self.fails:
            raise TimeoutError("timeout after 3.0 s")
        return []


def test_a_fence_read_that_got_no_answer_is_made_again_until_one_answers() -> None:
    k = kit()
    k.client_factory = lambda venue, account, timeout: TimesOut(account, CAPS, k.calls, k)
    _fence(k, *_fence_plan(k, [(Target("v", "a", Account("a", True)), None)]))
    assert [key for _, _, key in k.calls] == ["kill", "kill"]
    assert [m for m, _ in k.logged] == ["kill key not fenced"]


def test_fence_reads_stop_after_their_tries() -> None:
    k = kit()
    TimesOut.fails = 99
    try:
        k.client_factory = lambda venue, account, timeout: TimesOut(account, CAPS, k.calls, k)
        _fence(k, *_fence_plan(k, [(Target("v", "a", Account("a", True)), None)]))
    finally:
        TimesOut.fails = 1
    assert len(k.calls) == FENCE_TRIES and len(k.logged) == FENCE_TRIES
