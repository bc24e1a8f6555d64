"""The lease behind 'one loop per venue': take, hand over, expire - against moto's DynamoDB."""

from __future__ import annotations

import boto3
import pytest

from deadman.stores.lease import Lease, Renewal, Role
from sandbox.venues.common import VirtualClock

TABLE = "ControlTable"


@pytest.fixture
def ddb(stack_tables):
    return boto3.client("dynamodb")


def lease(ddb, owner: str, clock: VirtualClock, venue: str = "kraken") -> Lease:
    return Lease(TABLE, venue, owner, clock=clock, ttl_ms=30_000, client=ddb)


def test_first_invocation_becomes_the_loop_second_successor_third_leaves(ddb) -> None:
    clock = VirtualClock()
    a, b, c = (lease(ddb, name, clock) for name in "abc")
    assert a.join() is Role.LOOP
    assert b.join() is Role.SUCCESSOR
    assert c.join() is Role.LEAVE
    # Other venues have their own lease.
    assert lease(ddb, "d", clock, venue="gemini").join() is Role.LOOP


def test_loop_hands_over_at_its_tick_boundary_and_successor_owns(ddb) -> None:
    clock = VirtualClock()
    a, b = lease(ddb, "a", clock), lease(ddb, "b", clock)
    assert a.join() is Role.LOOP
    assert a.renew() is Renewal.KEEP
    assert b.join() is Role.SUCCESSOR
    assert a.renew() is Renewal.HANDED_OVER
    assert b.await_ownership(timeout_ms=1000, sleep=lambda s: clock.advance(int(s * 1000)))
    assert b.renew() is Renewal.KEEP
    assert a.renew() is Renewal.LOST  # the old loop can never tick again


def test_successor_takes_over_a_loop_that_stopped_renewing(ddb) -> None:
    clock = VirtualClock()
    a, b = lease(ddb, "a", clock), lease(ddb, "b", clock)
    assert a.join() is Role.LOOP
    assert b.join() is Role.SUCCESSOR
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        clock.advance(int(seconds * 1000))

    assert b.await_ownership(timeout_ms=60_000, sleep=sleep)
    assert 29 <= sum(waited) <= 31  # took over when a's lease ran out, not before
    assert a.renew() is Renewal.LOST


def test_released_lease_is_taken_at_once(ddb) -> None:
    clock = VirtualClock()
    a, b = lease(ddb, "a", clock), lease(ddb, "b", clock)
    assert a.join() is Role.LOOP
    a.release()
    assert b.join() is Role.LOOP
