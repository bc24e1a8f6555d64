"""The lease behind 'one loop per venue, a spare always ready': join, hand over, take over, release -
against moto's DynamoDB (the conditional writes and the items their refusals carry are DynamoDB's)."""

from __future__ import annotations

import boto3
import pytest

from deadman.core.policy import SPARE_POLL_MS
from deadman.stores.lease import Lease, Renewal, Role
from sandbox.venues.common import VirtualClock

TABLE = "ControlTable"
TTL_MS = 18_000


@pytest.fixture
def ddb(stack_tables):
    return boto3.client("dynamodb")


def lease(ddb, owner: str, clock: VirtualClock, venue: str = "kraken") -> Lease:
    return Lease(TABLE, venue, owner, clock=clock, ttl_ms=TTL_MS, client=ddb)


def test_a_loop_a_standby_one_queued_the_fourth_leaves(ddb) -> None:
    clock = VirtualClock()
    a, b, c, d = (lease(ddb, name, clock) for name in "abcd")
    assert a.join() is Role.LOOP
    assert b.join() is Role.SPARE
    assert c.join() is Role.SPARE
    assert d.join() is Role.LEAVE
    # Other venues have their own lease.
    assert lease(ddb, "e", clock, venue="gemini").join() is Role.LOOP


def test_the_loop_offers_the_lease_and_the_standby_takes_it(ddb) -> None:
    clock = VirtualClock()
    a, b, c = (lease(ddb, name, clock, venue="hyperliquid") for name in "abc")
    assert a.join() is Role.LOOP and b.join() is Role.SPARE and c.join() is Role.SPARE
    assert a.renew() is Renewal.KEEP and a.queue_ready
    polled: list[bool | None] = []

    def sleep(seconds: float) -> None:
        clock.advance(int(seconds * 1000))
        if not polled:
            polled.append(b.poll())

    assert a.hand_over(tick_at_ms=clock() + 10_000, sleep=sleep)
    assert polled == [True] and b.tick_at_ms is not None
    assert a.renew() is Renewal.LOST  # the old loop can never tick again
    assert b.renew() is Renewal.KEEP
    assert c.poll() is None and c.last is not None and c.last.standby == "c"


def test_the_standby_takes_over_a_loop_that_stopped_renewing(ddb) -> None:
    clock = VirtualClock()
    a, b = lease(ddb, "a", clock, venue="gemini"), lease(ddb, "b", clock, venue="gemini")
    assert a.join() is Role.LOOP
    assert b.join() is Role.SPARE
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        clock.advance(int(seconds * 1000))

    assert b.wait_turn(sleep=sleep, must_leave=lambda: False)
    # Took over when a's lease ran out, not before, and within a poll of it.
    assert TTL_MS / 1000 <= sum(waited) <= (TTL_MS + SPARE_POLL_MS) / 1000
    assert a.renew() is Renewal.LOST


def test_released_lease_is_taken_at_once(ddb) -> None:
    clock = VirtualClock()
    a, b = lease(ddb, "a", clock, venue="okx"), lease(ddb, "b", clock, venue="okx")
    assert a.join() is Role.LOOP
    a.release()
    assert b.join() is Role.LOOP
