"""The controls when DynamoDB does not answer at all (hazard 13): a kill still sweeps every book -
its nonces from the clock plus a lead - and its answer says exactly what was and was not done."""

from __future__ import annotations

import pytest

from deadman.core.policy import Timing
from deadman.venues import VENUES
from sandbox.sim.dynamo import CallFault
from sandbox.sim.fleet import ControlCall, Fleet
from sandbox.sim.transport import Delivery
from sandbox.sim.world import START_MS, World


@pytest.mark.parametrize("venue", VENUES)
def test_a_kill_during_a_dynamodb_outage_sweeps_and_says_what_it_did(venue: str) -> None:
    world = World()
    fleet = Fleet(world, venue, ["a"], timing=Timing(), kill_keys=False)
    for _ in range(3):
        fleet.place_order("a")
    assert len(fleet.resting()["a"]) == 3
    fleet.dynamo_fault = lambda op, table, who: CallFault(latency_ms=20, error="internal")
    call = fleet.control("kill", reason="runaway while DynamoDB is down")
    try:
        world.run_until(START_MS + 60_000)
    finally:
        world.shutdown()
    assert call.error is None, call.error
    result = call.result
    (switch,) = result.switches
    assert not result.ok and not switch.latched and switch.swept and switch.cancelled_count == 3
    assert fleet.resting()["a"] == set()  # every book empty, although nothing could be latched
    assert "NOT latched" in result.message and "kill again once `deadman status` answers" in result.message
    assert "Latched switches are swept" not in result.message  # nothing was: never said
    assert "NOT swept" not in result.message


def test_a_kill_that_could_not_sweep_names_the_break_glass_command() -> None:
    world = World()
    fleet = Fleet(world, "kraken", ["a"], timing=Timing(), kill_keys=False)
    fleet.place_order("a")
    fleet.dynamo_fault = lambda op, table, who: CallFault(latency_ms=20, error="internal")
    fleet.sim.faults.http_5xx = 502  # the venue refuses too
    call = fleet.control("kill", reason="everything is down")
    try:
        world.run_until(START_MS + 60_000)
    finally:
        world.shutdown()
    assert call.result is not None and not call.result.ok
    assert "NOT swept (kraken/a)" in call.result.message and "deadman kill --direct" in call.result.message


def test_a_kill_on_a_time_nonce_key_a_burst_put_ahead_leads_further_until_the_venue_accepts() -> None:
    """Issue 17, item 8: a burst of kills left a Gemini time-based key's last nonce 5 s past the
    clock; with DynamoDB down the kill draws clock + 2 s, is refused, and widens its lead (4 s, then
    8 s) within its bounded tries until the venue takes it. A fixed lead never sweeps."""
    world = World()
    fleet = Fleet(world, "gemini", ["a"], timing=Timing(), kill_keys=False, nonce_mode="time")
    fleet.place_order("a")
    key = fleet.entries["a"]["api_key"]
    fleet.sim._keys[key].last_nonce = world.now_ms // 1000 + 5
    fleet.dynamo_fault = lambda op, table, who: CallFault(latency_ms=20, error="internal")
    call = fleet.control("kill", reason="runaway after a burst of kills")
    try:
        world.run_until(START_MS + 60_000)
    finally:
        world.shutdown()
    assert call.error is None and call.result is not None, call.error
    (switch,) = call.result.switches
    assert switch.swept and switch.cancelled_count == 1, call.result.message
    assert fleet.resting()["a"] == set()


def test_a_kill_does_not_sweep_again_a_switch_armed_while_its_first_sweep_hung() -> None:
    """Seed 9400768's class: the kill's first sweep hangs until its client gives up; meanwhile the
    operator arms. A second sweep sent then would take what the trader rests once armed, and on a
    venue with no later nonce to fence it (BitMEX here) nothing stops it landing: it is not sent."""
    world = World()
    fleet = Fleet(world, "bitmex", ["a"], timing=Timing(), kill_keys=False)
    fleet.place_order("a")
    hang = [True]
    fleet.network.delivery = lambda venue, path, who: Delivery(lost=who == "control" and hang[0])
    kill = fleet.control("kill", reason="runaway")
    arm: list[ControlCall] = []

    def operator_arms() -> None:
        hang[0] = False
        arm.append(fleet.control("arm", reason="false alarm"))

    world.call_at(START_MS + 1_000, operator_arms)
    try:
        world.run_until(START_MS + 60_000)
    finally:
        world.shutdown()
    assert kill.result is not None and arm and arm[0].error is None, (kill.error, arm)
    (switch,) = kill.result.switches
    assert "armed before the second sweep: not swept again" in switch.notes
    assert len(switch.attempts) == 1
    armed_at = arm[0].ended_ms
    assert armed_at is not None
    after_arm = [
        x
        for x in fleet.network.log
        if x.who == "control" and fleet.sim.is_cancel(x.path, x.body) and x.sent_ms >= armed_at
    ]
    assert after_arm == []
