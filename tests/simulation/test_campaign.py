"""The fault campaign's own guarantees: a seed reproduces a run exactly, and every hazard the
campaign found stays fixed (its scenario is kept here and must run clean).

The bounded campaign itself (2,000 scenarios) runs in `make test` after pytest; `make chaos N=...`
runs any size."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sandbox.sim.campaign import Fault, Run, Scenario, make_scenario, run_scenario
from sandbox.venues.gemini import GeminiSim
from sandbox.venues.hyperliquid import HyperliquidSim
from sandbox.venues.kraken import KrakenSim


def test_a_seed_reproduces_a_run_exactly() -> None:
    for seed in (3, 148, 578):
        first, second = run_scenario(seed), run_scenario(seed)
        assert first.trace == second.trace
        assert (first.checks, first.faults, first.reactions) == (
            second.checks,
            second.faults,
            second.reactions,
        )


def test_a_seed_reproduces_a_run_in_another_process_with_another_hash_seed() -> None:
    probe = "from sandbox.sim.campaign import run_scenario; print(chr(10).join(run_scenario(578).trace))"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", probe],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
        for hash_seed in ("1", "2")
    }
    assert len(outputs) == 1 and next(iter(outputs)).count("\n") > 3


def test_the_checker_sees_a_broken_promise() -> None:
    """A checker that cannot fail proves nothing: cancel a live trader's orders behind the fleet's
    back and the no-false-fire check must say so."""
    scenario = make_scenario(7)
    scenario.trader, scenario.faults, scenario.controls = "healthy", [], []
    run = Run(scenario)

    def sabotage() -> None:
        with run.fleet.sim.lock:
            for account in scenario.accounts:
                for order in list(run.fleet.resting()[account]):
                    _cancel(run, account, order)

    run.world.call_at(run.t(120_000), sabotage)
    result = run.run()
    assert any(v.promise.startswith("P3") for v in result.violations), result.violations


def _cancel(run: Run, account: str, order: str) -> None:
    """Straight out of the simulator's book: no request, no fleet, no venue timer."""
    sim = run.fleet.sim
    if isinstance(sim, KrakenSim):
        sim._accounts[account].orders.pop(order, None)
    elif isinstance(sim, GeminiSim):
        sim._orders.pop(int(order), None)
    else:
        assert isinstance(sim, HyperliquidSim)
        sim.orders.pop(int(order), None)


def _scenario(seed: int, **changes: object) -> Scenario:
    scenario = make_scenario(seed)
    for name, value in changes.items():
        setattr(scenario, name, value)
    return scenario


# Each hazard of the fault-campaign issue, and each one the campaign found, as the scenario that
# showed it. They must all run clean.
REGRESSIONS: dict[str, Scenario] = {
    # A long DynamoDB fault made the last beat seen look stale: the watchdog swept a live trader.
    "unreadable liveness never sweeps": _scenario(578),
    # A throttle at a lease renewal stopped the loop a tick early; Gemini's 30 s rule fired.
    "a failed renewal is tried again within the tick": _scenario(889),
    # A kill during a DynamoDB outage could not latch; its answer said so.
    "a kill that could not latch is not counted as latched": _scenario(148),
    # A Lambda crash mid-tick: the alarm goes off, the loop is replaced.
    "a crashed loop is replaced": _scenario(40),
    # A slow liveness read: a beat written meanwhile is not from the future.
    "slow liveness reads": _scenario(
        13, faults=[Fault("ddb_slow", 60_000, 150_000, 1.0)], trader="death", trader_at_ms=140_000
    ),
}


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_regression_scenarios_run_clean(name: str) -> None:
    result = Run(REGRESSIONS[name]).run()
    assert result.violations == [], "\n".join([v.line() for v in result.violations] + result.trace)
