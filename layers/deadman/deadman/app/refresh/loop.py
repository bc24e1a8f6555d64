"""The loop an invocation becomes: join the venue's lease as its holder or a spare (or leave), renew
the lease at the start of every tick (riding out store faults), tick every T, hand over to the
standby when a newer invocation queues behind it, stop before the Lambda does.

A spare waits (`Lease.wait_turn`) until the holder offers it the lease or stops renewing - a crash at
any step of a tick or of a handover leaves the venue to the standby within one lease TTL (T + 7 s)
of the last renewal plus one poll, inside every venue timer's slack. A failed venue call is tried
again within the tick period on a fresh read and decision (`_retry_failed`); a failed renewal is
ridden out while the lease this loop holds for sure lasts, and no request leaves after it
(`Ticker.lease_until_ms`, `policy.send_by`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deadman.app.refresh.report import TickReport
from deadman.app.refresh.tick import Ticker
from deadman.core.errors import DeadmanError
from deadman.core.policy import SPARE_POLL_MS
from deadman.stores.lease import Lease, Renewal, Role

# A failed venue call is tried again this soon, within the tick, while the tick period allows.
RETRY_AFTER_MS = 2_000
MAX_RETRIES = 3
# A failed renewal is tried again this soon.
RENEW_RETRY_MS = 1_000
# How long an invocation keeps trying to join the lease when DynamoDB fails: until about when the
# next scheduled invocation would arrive anyway.
JOIN_PATIENCE_MS = 60_000
# A loop with no standby calls one (its own function, asynchronously), at most this often: a crash must
# find a spare ready from a stack's first minute, and after any gap in the chain (a spare that left or
# died, a scheduler event missed), not only once the next scheduled event lands.
INVITE_EVERY_MS = 30_000
# A spare reads the secret again (if its copy is past the cache age) this often while it waits, and
# holds up its polls for it at most this long (a slow read lands by itself, beside the polls).
WARM_EVERY_MS = 10_000
WARM_WAIT_MS = 500


class Refresher(Ticker):
    """A ticker that holds its venue's lease: at most one loop per venue extends at a time."""

    # Renewals failed in a row; an int is immutable, so the class default is each instance's start.
    _renew_failures_in_row = 0
    _invited_at: int | None = None
    _warmed_at: int | None = None

    def __init__(self, *, invite: Callable[[], None] | None = None, **kwargs: Any) -> None:
        """`invite` starts one more invocation of this refresher (Lambda's asynchronous Invoke of the
        function itself; the simulation's own scheduler): None, and a standby comes only with the
        next scheduled event."""
        super().__init__(**kwargs)
        self.invite = invite

    def run(
        self,
        lease: Lease,
        *,
        remaining_ms: Callable[[], int],
        on_tick: Callable[[TickReport], None] | None = None,
    ) -> str:
        """Become the venue's loop (now, or as a spare when its turn comes) or leave; tick every T
        until handed over or out of time."""
        tick_ms = self.config.timing.tick_ms
        # Keep one tick of headroom before the Lambda timeout for the last tick and the handover.
        last_call_ms = 2 * tick_ms + 5_000
        if not self._ready():
            return "left: credentials unreadable; a running loop keeps the lease"
        role = self._join(lease)
        if role is None:
            return "left: the lease could not be read or written"
        if role is Role.LEAVE:
            return "left: a loop and two spares are already running"
        # A spare must still have a useful run ahead when its turn comes.
        spare_limit = last_call_ms + tick_ms + SPARE_POLL_MS

        def must_leave() -> bool:
            return remaining_ms() < spare_limit

        if role is Role.SPARE and not lease.wait_turn(sleep=self._wait, must_leave=must_leave):
            return "left: waited as a spare; its turn did not come"
        self._start_over()
        started = self.clock()
        next_tick = max(started, lease.tick_at_ms or started)
        ticks = 0
        while True:
            if next_tick > self.clock():
                self.sleep((next_tick - self.clock()) / 1000)
            # Renewed at the start of the tick: its requests leave before the lease can pass on, and
            # a standby takes over at most one TTL after this if the loop dies anywhere in the tick.
            renewal = self._renew(lease, give_up=lambda: remaining_ms() < last_call_ms)
            if renewal is None:
                self._release(lease)
                return f"stopped after {ticks} ticks: the lease could not be renewed in time"
            if renewal is Renewal.LOST:
                # Another loop took the lease (this one's renewals went unanswered past it): stand by
                # behind it rather than leave, so that a crash of that loop finds a spare.
                if not self._stand_by(lease, must_leave):
                    return f"lost the lease after {ticks} ticks"
                self._start_over()
                next_tick = max(self.clock(), lease.tick_at_ms or self.clock())
                continue
            # A renewal that took a while (DynamoDB failing) is followed by one tick, not a burst.
            next_tick = max(next_tick, self.clock())
            self.lease_until_ms = lease.held_until_ms
            self._call_spare(lease)
            report = self.tick()
            ticks += 1
            next_tick += tick_ms
            report = self._retry_failed(report, next_tick)
            if on_tick is not None:
                on_tick(report)
            out_of_run = next_tick - started >= self.config.run_ms
            out_of_time = remaining_ms() < last_call_ms
            # A spare queued behind the standby moves the chain on; so does the end of this run.
            moving_on = lease.spare_ready and (lease.queue_ready or out_of_run or out_of_time)
            if moving_on and lease.hand_over(tick_at_ms=next_tick, sleep=self.sleep):
                return f"handed over after {ticks} ticks"
            if out_of_run or out_of_time:
                self._release(lease)
                return f"ended after {ticks} ticks ({'run time' if out_of_run else 'lambda time'})"

    def _release(self, lease: Lease) -> None:
        try:
            lease.release()
        except Exception as exc:  # it expires by itself
            self.log("lease release failed", error=type(exc).__name__)

    def _stand_by(self, lease: Lease, must_leave: Callable[[], bool]) -> bool:
        """Join the lease again after losing it: True once it is this loop's again (taken back at
        once if it lapsed meanwhile, or as the standby when its turn came)."""
        if must_leave():
            return False
        try:
            role = lease.join()
        except Exception as exc:
            self.metrics.count("StoreErrors", venue=self.venue)
            self.log("lease join failed", error=type(exc).__name__)
            return False
        if role is Role.LOOP:
            return True
        return role is Role.SPARE and lease.wait_turn(sleep=self._wait, must_leave=must_leave)

    def _start_over(self) -> None:
        """A loop that takes the lease (over, or back) starts from the table and the secret as they
        are now. What a warm container remembers from an earlier turn is stale (a kill since armed,
        say); and the loop before it may have acted on a later edit (an account added) than the copy
        of the secret held here, up to the cache age old (seed 10008108): that copy serves only if
        Secrets Manager will not answer."""
        self._known.clear()
        self._warm(max_age_ms=self.config.timing.tick_ms)

    def _wait(self, seconds: float) -> None:
        """A spare's pause between polls, its copy of the secret kept within the cache age meanwhile.
        A spare may wait longer than that age, and a copy from its join could predate an edit the
        loop before it has acted on (an account added): with Secrets Manager failing as it takes over,
        it would tick on without that account, and Gemini's 30 s rule fires on a live trader."""
        now = self.clock()
        if self._warmed_at is None or now - self._warmed_at >= WARM_EVERY_MS:
            self._warmed_at = now
            self.parallel.run([self._warm], deadline_ms=now + WARM_WAIT_MS)
        self.sleep(max(0.0, seconds - (self.clock() - now) / 1000))

    def _warm(self, max_age_ms: int | None = None) -> None:
        try:
            self.credentials.get(self.venue, max_age_ms=max_age_ms)
        except (DeadmanError, ValueError) as exc:  # the copy held stands; the tick says the rest
            self.log("secret not read again: the copy held stands", error=str(exc))

    def _call_spare(self, lease: Lease) -> None:
        """No standby stands by: call one now rather than wait for the next scheduled event."""
        now = self.clock()
        if self.invite is None or lease.spare_ready:
            return
        if self._invited_at is not None and now - self._invited_at < INVITE_EVERY_MS:
            return
        self._invited_at = now
        try:
            self.invite()
        except Exception as exc:  # the next scheduled event brings one anyway
            self.metrics.count("StoreErrors", venue=self.venue)
            self.log("spare not called", error=type(exc).__name__)
        else:
            self.metrics.count("SparesCalled", venue=self.venue)

    def _renew(self, lease: Lease, *, give_up: Callable[[], bool]) -> Renewal | None:
        """Renew, riding out store errors: tried again soon (a lost answer may hide that the lease
        was taken, and the next answer tells), and ticking on while the lease is surely ours (no
        request leaves after it). Once it is not surely ours, nothing is sent, but the loop keeps
        asking until an answer gets through: a renewal DynamoDB applied but whose answer was lost
        or damaged holds the lease for a TTL that no spare can cut short, so a loop that left then
        would leave nobody ticking. None: still no answer when this invocation must end."""
        while True:
            try:
                renewal = lease.renew()
            except Exception as exc:
                self.metrics.count("StoreErrors", venue=self.venue)
                self.log("lease renewal failed", error=type(exc).__name__)
            else:
                self._renew_failures_in_row = 0
                return renewal
            held = lease.held_until_ms
            if held is not None and self.clock() < held:
                self._renew_failures_in_row += 1
                if self._renew_failures_in_row >= 2:
                    self._renew_failures_in_row = 0
                    return Renewal.KEEP  # still ours until `held`: tick, fenced by it; renew again next tick
            elif give_up():
                return None
            self.sleep(RENEW_RETRY_MS / 1000)

    def _ready(self) -> bool:
        """Credentials are warmed before joining: an invocation that cannot read them must not take
        a place in the chain it could not fill (it leaves; the next event tries again)."""
        try:
            self.credentials.get(self.venue)
        except (DeadmanError, ValueError) as exc:
            self.log("credentials unusable; not taking over", error=str(exc))
            return False
        return True

    def _retry_failed(self, report: TickReport, next_tick: int) -> TickReport:
        """Accounts whose venue call failed are tried again within the tick period, each time on a
        fresh read and decision, instead of waiting a whole tick of the venue's slack."""
        for _ in range(MAX_RETRIES):
            failed = frozenset(a.account for a in report.accounts if a.retry)
            # Tried again if the next tick is not about to come anyway (it is a retry of its own).
            if not failed or next_tick - self.clock() < RETRY_AFTER_MS + RETRY_AFTER_MS // 2:
                return report
            self.sleep(RETRY_AFTER_MS / 1000)
            self.metrics.count("Retries", venue=self.venue)
            retried = self.tick(only=failed)
            by_account = {a.account: a for a in retried.accounts}
            report.accounts = [by_account.get(a.account, a) for a in report.accounts]
        return report

    def _join(self, lease: Lease) -> Role | None:
        give_up = self.clock() + JOIN_PATIENCE_MS
        while True:
            try:
                return lease.join()
            except Exception as exc:
                self.metrics.count("StoreErrors", venue=self.venue)
                self.log("lease join failed", error=type(exc).__name__)
                if self.clock() + RETRY_AFTER_MS >= give_up:
                    return None
                self.sleep(RETRY_AFTER_MS / 1000)
