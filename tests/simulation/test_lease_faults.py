"""The venue lease - a holder, a standby, one queued - under store faults and awkward timing, in
virtual time on FakeDynamo.

Every test runs on a plain clock that only moves when FakeDynamo's latency hook or a test's `sleep`
moves it, so each interleaving is exact and reproducible.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from botocore.exceptions import ReadTimeoutError

from deadman.stores.lease import OFFER_MS, SPARE_POLL_MS, SPARE_TTL_MS, Lease, Renewal, Role
from sandbox.sim.dynamo import CallFault, FakeDynamo

TABLE = "Control"
KEY = {"pk": {"S": "LEASE#kraken"}, "sk": {"S": "#"}}
T0 = 1_000_000
TTL_MS = 18_000


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


def chain(world: World) -> tuple[Lease, Lease, Lease]:
    a, b, c = world.lease("A"), world.lease("B"), world.lease("C")
    assert a.join() is Role.LOOP
    assert b.join() is Role.SPARE
    assert c.join() is Role.SPARE
    row = world.row()
    assert (row["holder"], row["standby"], row["queued"]) == ("A", "B", "C")
    return a, b, c


def test_a_loop_a_standby_one_queued_and_the_fourth_leaves() -> None:
    world = World()
    chain(world)
    assert world.lease("D").join() is Role.LEAVE
    # Other venues have their own lease.
    other = Lease(TABLE, "gemini", "E", clock=world.clock, ttl_ms=TTL_MS, client=world.fake)
    assert other.join() is Role.LOOP


def test_the_queued_spare_moves_the_chain_on_at_the_holders_next_tick() -> None:
    """A renews after its tick and sees B standing by and C queued: it offers the lease to B, B
    takes it at its next poll (ticking at A's cadence), C becomes the standby, A returns."""
    world = World()
    a, b, c = chain(world)
    world.clock.now += 500
    assert a.renew() is Renewal.KEEP
    assert a.spare_ready and a.queue_ready
    polls: list[bool | None] = []

    def sleep(seconds: float) -> None:  # A waits for the answer; B polls meanwhile
        world.clock.sleep(seconds)
        if not polls:
            polls.append(b.poll())

    assert a.hand_over(tick_at_ms=T0 + 10_000, sleep=sleep)
    assert polls == [True]
    assert b.tick_at_ms == T0 + 10_000
    assert b.held_until_ms is not None and a.held_until_ms is None
    row = world.row()
    assert (row["holder"], row["standby"]) == ("B", "C")
    assert "queued" not in row and "offer_to" not in row
    assert a.renew() is Renewal.LOST  # the old loop never ticks again
    assert c.poll() is None  # C now waits as the standby
    assert world.row()["standby"] == "C"


def test_a_standby_that_died_is_never_handed_the_lease() -> None:
    """Hazard 10: B registered and died. Offered while its registration was still fresh, it never
    takes the lease: A withdraws the offer after OFFER_MS and ticks on; once B's registration has
    lapsed no offer goes to it at all."""
    world = World()
    a, _, _ = chain(world)
    assert a.renew() is Renewal.KEEP
    assert not a.hand_over(tick_at_ms=T0 + 10_000, sleep=world.clock.sleep)
    assert world.clock.now >= T0 + OFFER_MS
    row = world.row()
    assert row["holder"] == "A" and "offer_to" not in row
    assert int(row["holder_until_ms"]) > world.clock.now
    world.clock.now += SPARE_TTL_MS + 1
    assert a.renew() is Renewal.KEEP
    assert not a.spare_ready  # B lapsed: nothing to offer
    assert not a.hand_over(tick_at_ms=T0 + 20_000, sleep=world.clock.sleep)


@pytest.mark.parametrize("step", ["offer", "withdrawal"])
@pytest.mark.parametrize("fault", [CallFault(error="lost_answer"), CallFault(answer="html")])
def test_a_handover_whose_write_fails_leaves_the_lease_to_the_next_renewal(
    step: str, fault: CallFault
) -> None:
    """A store fault on the offer or on its withdrawal is no reason for the loop to die (it did,
    raising out of `hand_over`): it ticks on, and its next renewal's conditional write says whose
    the lease is - its own, or the standby's if the offer went through and was taken."""
    world = World()
    a, b, _ = chain(world)
    assert a.renew() is Renewal.KEEP
    if step == "offer":
        world.script = [fault]
    else:
        # B never answers the offer: A's reads while it waits pass, then its withdrawal is faulted.
        world.fallback = lambda op, table: fault if op == "UpdateItem" else None
    assert a.hand_over(tick_at_ms=T0 + 10_000, sleep=world.clock.sleep) is False
    world.fallback = None
    assert b.poll() in (True, None)  # a lost offer may still be taken
    owner = world.row()["holder"]
    assert a.renew() is (Renewal.KEEP if owner == "A" else Renewal.LOST)


def test_a_standby_takes_over_a_holder_that_stopped_renewing_within_one_poll() -> None:
    """Hazard 11: A crashes right after a renewal. B takes the lease once it has run out, at its
    first poll after that (never before), C becomes the standby."""
    world = World()
    a, b, c = chain(world)
    world.clock.now += 300
    assert a.renew() is Renewal.KEEP
    assert a.held_until_ms is not None
    lapses = a.held_until_ms

    def sleep(seconds: float) -> None:
        world.clock.sleep(seconds)
        c.poll()  # C keeps its own registration fresh meanwhile

    assert b.wait_turn(sleep=sleep, must_leave=lambda: False)
    assert lapses < world.clock.now <= lapses + SPARE_POLL_MS + 100
    assert b.tick_at_ms is None  # taken from a crashed holder: tick at once
    row = world.row()
    assert (row["holder"], row["standby"]) == ("B", "C") and "queued" not in row


def test_the_queued_spare_takes_over_when_holder_and_standby_are_both_gone() -> None:
    world = World()
    a, _, c = chain(world)
    assert a.held_until_ms is not None
    assert c.wait_turn(sleep=world.clock.sleep, must_leave=lambda: False)
    assert world.clock.now > a.held_until_ms
    assert world.row()["holder"] == "C"


def test_a_lost_answer_on_taking_the_offer_is_learnt_at_the_next_poll() -> None:
    world = World()
    a, b, _ = chain(world)
    assert a.renew() is Renewal.KEEP
    offered: list[bool | None] = []

    def sleep(seconds: float) -> None:
        world.clock.sleep(seconds)
        if not offered:
            world.script = [None, CallFault(error="lost_answer")]  # the refresh, then the take
            with pytest.raises(ReadTimeoutError):
                b.poll()
            offered.append(b.poll())  # its refresh fails (B holds now): the item says so

    assert a.hand_over(tick_at_ms=T0 + 10_000, sleep=sleep)
    assert offered == [True]
    assert world.row()["holder"] == "B"
    # ... and so is how long B holds it: the item DynamoDB checked is as sure as a confirmed write, and a
    # loop that started with nothing held for sure would stop at its first failed renewal.
    assert b.held_until_ms == int(world.row()["holder_until_ms"])


def test_waiting_rides_out_store_errors() -> None:
    failing = 6  # six failed polls: longer than a registration lasts, and the spare still gets its turn

    def fault(op: str, table: str) -> CallFault | None:
        nonlocal failing
        if op == "UpdateItem" and failing > 0 and world.clock.now > T0:
            failing -= 1
            return CallFault(error="internal")
        return None

    world = World(fault)
    a, b, _ = chain(world)
    assert a.held_until_ms is not None
    assert b.wait_turn(sleep=world.clock.sleep, must_leave=lambda: False)
    assert b.store_errors >= 1
    assert world.row()["holder"] == "B"


def test_a_spare_that_must_leave_gives_up_its_place() -> None:
    world = World()
    _, b, c = chain(world)
    assert not b.wait_turn(sleep=world.clock.sleep, must_leave=lambda: True)
    assert c.poll() is None  # C finds the standby's place free and takes it
    assert world.row()["standby"] == "C"


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
    assert a.renew() is Renewal.KEEP  # still ours: renewing again says so

    a.release()
    assert a.held_until_ms is None
    assert world.row()["holder_until_ms"] == "0"
    assert world.lease("C").join() is Role.LOOP
