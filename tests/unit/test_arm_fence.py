"""An arm that takes a switch out of a kill fences the kill key: the kill's sweeps, and the ticks'
sweeps while it stood, can land after the arm answered (one still in flight, or one its client gave
up on) and cancel the orders the trader rests then. One answered read with a later nonce on that key
makes the venue refuse every earlier request on it (fresh seed 8003515: a Gemini sweep sent before the
arm landed 25 s later and took two orders rested after it)."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

from deadman.app.control.arm import _fence
from deadman.app.control.toolkit import INFLIGHT_MARGIN_MS, MAX_INFLIGHT_WAIT_MS, Target
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
    k = SimpleNamespace(now=1_000, calls=calls, logged=[], control_timeout=(1.0, 1.0))
    k.clock = lambda: k.now
    k.sleep_until = lambda at: setattr(k, "now", max(k.now, at))
    k.client_factory = lambda venue, account, timeout: Client(account, caps, calls, k)
    k.log = lambda message, **fields: k.logged.append((message, fields))
    return k


def test_the_kill_key_is_read_once_whatever_was_in_flight_has_had_its_window() -> None:
    k = kit()
    targets = [Target("v", "a", Account("a", True)), Target("v", "b", Account("b", False))]
    _fence(k, targets, [5_000, 3_000])
    # after the longest window, on the kill key of the account that has one, and nothing else
    assert k.calls == [(5_000 + INFLIGHT_MARGIN_MS, "a", "kill")]


def test_a_window_further_out_than_any_request_can_be_is_not_believed() -> None:
    k = kit()
    _fence(k, [Target("v", "a", Account("a", True))], [10**9])
    assert k.calls == [(1_000 + MAX_INFLIGHT_WAIT_MS, "a", "kill")]


def test_a_venue_whose_nonces_fence_nothing_is_not_called() -> None:
    k = kit(dataclasses.replace(CAPS, later_nonce_fences=False))
    _fence(k, [Target("v", "a", Account("a", True))], [])
    assert k.calls == []


def test_a_fence_that_fails_is_logged_and_the_arm_goes_on() -> None:
    k = kit()

    def refuse(venue: str, account: Account, timeout: Any) -> Any:
        raise RuntimeError("no nonce source configured")

    k.client_factory = refuse
    _fence(k, [Target("v", "a", Account("a", True))], [])
    assert k.logged and k.logged[0][0] == "kill key not fenced"
