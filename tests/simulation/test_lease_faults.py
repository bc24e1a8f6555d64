"""The venue lease under store faults and awkward timing, in virtual time on FakeDynamo.

Every test runs on a plain clock that only moves when FakeDynamo's latency hook or the fake
`sleep` handed to `await_ownership` moves it, so each interleaving is exact and reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import pytest
from botocore.exceptions import ReadTimeoutError

from deadman.stores.lease import SUCCESSOR_REFRESH_MS, SUCCESSOR_TTL_MS, Lease, Renewal, Role
from sandbox.sim.dynamo import CallFault, FakeDynamo

TABLE = "Control"
KEY = {"pk": {"S": "LEASE#kraken"}, "sk": {"S": "#"}}
T0 = 1_000_000
TTL_MS = 60_000


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += round(seconds * 1000)

    def sleep_ms(self, ms: int) -> None:
        self.now += ms


class World:
    """One FakeDynamo whose latency advances the clock, with a per-call fault script."""

    def __init__(self, fault: Callable[[str, str], CallFault | None] | None = None) -> None:
        self.clock = Clock(T0)
        self.script: list[CallFault | None] = []  # consumed by the next calls, in order
        self.fallback = fault
        self.fake = FakeDynamo(sleep_ms=self.clock.sleep_ms, fault=self._fault)
        self.fake.create_table(TABLE, "pk", "sk")

    def _fault(self, op: str, table: str) -> CallFault | None:
        if self.script:
            return self.script.pop(0)
        return self.fallback(op, table) if self.fallback is not None else None

    def lease(self, owner: str, ttl_ms: int = TTL_MS) -> Lease:
        return Lease(TABLE, "kraken", owner, clock=self.clock, ttl_ms=ttl_ms, client=self.fake)

    def row(self) -> dict[str, str]:
        item = self.fake.get_raw(TABLE, KEY) or {}
        return {k: next(iter(v.values())) for k, v in item.items() if k not in ("pk", "sk")}


def loop_and_successor(world: World, ttl_ms: int = TTL_MS) -> tuple[Lease, Lease]:
    a, b = world.lease("A", ttl_ms), world.lease("B")
    assert a.join() is Role.LOOP
    assert b.join() is Role.SUCCESSOR
    return a, b


def test_renew_judges_both_conditions_at_one_now() -> None:
    """B's registration lapses while renew's first UpdateItem is in flight. Judged at the one `:now`
    taken before the calls, B was alive: the keep fails and the handover succeeds, so renew's answer
    matches the row. With a `:now` per call both would fail and renew would say LOST while the row
    still names A as holder (and A would stop ticking with nobody to take over)."""
    world = World()
    a, b = loop_and_successor(world)
    registered_until = int(world.row()["next_until_ms"])
    world.clock.now = registered_until - 500
    start = world.clock.now
    writes = world.fake.calls[("UpdateItem", TABLE)]
    world.script = [CallFault(latency_ms=2_000), CallFault(latency_ms=2_000)]
    outcome = a.renew()
    assert world.fake.calls[("UpdateItem", TABLE)] == writes + 2  # the keep, then the handover
    assert world.clock.now == start + 4_000 > registered_until  # lapsed between the writes
    assert outcome is not Renewal.LOST
    assert outcome is Renewal.HANDED_OVER
    assert world.row() == {"holder": "B", "holder_until_ms": str(start + TTL_MS)}
    assert a.held_until_ms is None
    assert b.await_ownership(timeout_ms=1_000, sleep=world.clock.sleep)


def test_lost_handover_answer_then_renew_again_says_lost() -> None:
    world = World()
    a, b = loop_and_successor(world)
    joined_until = a.held_until_ms
    world.clock.now += 1_000
    handover_at = world.clock.now
    world.script = [None, CallFault(error="lost_answer")]  # the keep fails, the handover is lost
    with pytest.raises(ReadTimeoutError):
        a.renew()
    assert world.row() == {"holder": "B", "holder_until_ms": str(handover_at + TTL_MS)}
    assert a.held_until_ms == joined_until  # the last write DynamoDB confirmed
    assert a.renew() is Renewal.LOST
    assert a.held_until_ms is None
    assert b.await_ownership(timeout_ms=1_000, sleep=world.clock.sleep)
    assert b.held_until_ms == handover_at + TTL_MS


def test_a_dead_successor_is_not_handed_the_lease() -> None:
    world = World()
    a, _ = loop_and_successor(world)
    world.clock.now += SUCCESSOR_TTL_MS + 1  # B registered and never refreshed
    assert a.renew() is Renewal.KEEP
    row = world.row()
    assert row["holder"] == "A"
    assert row["holder_until_ms"] == str(world.clock.now + TTL_MS)
    assert a.held_until_ms == world.clock.now + TTL_MS
    # and the stale registration does not block the next newcomer
    assert world.lease("C").join() is Role.SUCCESSOR


def test_a_polling_successor_stays_fresh_and_is_handed_over_late() -> None:
    world = World()
    a, b = loop_and_successor(world)
    poll_ms = 100
    handover_after_ms = 2 * SUCCESSOR_TTL_MS  # long after B's first registration lapsed
    seen_until: list[int] = []
    renewals: list[Renewal] = []

    def sleep(seconds: float) -> None:
        world.clock.sleep(seconds)
        row = world.row()
        if "next_until_ms" in row:
            seen_until.append(int(row["next_until_ms"]))
        if not renewals and world.clock.now >= T0 + handover_after_ms:
            renewals.append(a.renew())  # the loop's tick boundary

    assert b.await_ownership(timeout_ms=4 * SUCCESSOR_TTL_MS, sleep=sleep, poll_ms=poll_ms)
    assert renewals == [Renewal.HANDED_OVER]
    assert world.row()["holder"] == "B"
    assert b.held_until_ms == T0 + handover_after_ms + TTL_MS
    registrations = sorted(set(seen_until))
    assert registrations[0] == T0 + SUCCESSOR_TTL_MS
    assert len(registrations) >= handover_after_ms // SUCCESSOR_REFRESH_MS
    steps = [later - earlier for earlier, later in pairwise(registrations)]
    assert all(SUCCESSOR_REFRESH_MS <= step <= SUCCESSOR_REFRESH_MS + poll_ms for step in steps), steps


def test_await_ownership_rides_out_store_errors() -> None:
    failing_reads = 15  # 1.5 s of failed polls: longer than a refresh, shorter than the TTL
    reads = 0

    def fault(op: str, table: str) -> CallFault | None:
        nonlocal reads
        if op == "GetItem":
            reads += 1
            if reads <= failing_reads:
                return CallFault(error="internal")
        return None

    world = World(fault)
    a, b = loop_and_successor(world, ttl_ms=5_000)  # A then dies: its lease runs out at T0 + 5 s
    assert b.await_ownership(timeout_ms=20_000, sleep=world.clock.sleep)
    assert b.store_errors == failing_reads
    assert a.held_until_ms is not None
    assert world.clock.now > a.held_until_ms
    assert world.row() == {"holder": "B", "holder_until_ms": str(world.clock.now + TTL_MS)}
    assert b.held_until_ms == world.clock.now + TTL_MS


def test_held_until_ms_follows_confirmed_writes() -> None:
    world = World()
    a = world.lease("A")
    assert a.held_until_ms is None
    assert a.join() is Role.LOOP
    assert a.held_until_ms == T0 + TTL_MS == int(world.row()["holder_until_ms"])

    world.clock.now += 1_000
    assert a.renew() is Renewal.KEEP
    assert a.held_until_ms == T0 + 1_000 + TTL_MS == int(world.row()["holder_until_ms"])

    # a renewal DynamoDB applied but never confirmed does not extend what A holds for sure
    world.clock.now += 1_000
    world.script = [CallFault(error="lost_answer")]
    with pytest.raises(ReadTimeoutError):
        a.renew()
    assert a.held_until_ms == T0 + 1_000 + TTL_MS
    assert world.row()["holder_until_ms"] == str(T0 + 2_000 + TTL_MS)

    b = world.lease("B")
    assert b.join() is Role.SUCCESSOR
    assert b.held_until_ms is None
    assert a.renew() is Renewal.HANDED_OVER
    assert a.held_until_ms is None
    assert b.await_ownership(timeout_ms=1_000, sleep=world.clock.sleep)
    assert b.held_until_ms == T0 + 2_000 + TTL_MS == int(world.row()["holder_until_ms"])

    b.release()
    assert b.held_until_ms is None
    assert world.row() == {"holder": "B", "holder_until_ms": "0"}
    assert world.lease("C").join() is Role.LOOP
