"""What a tick does at the venue once it has decided and written its intent: extend (on every key
that holds the trader's orders), sweep, switch the timer off - each request carrying the tick's
send-by time - and what it records of the outcome.

What a tick does for an account no longer in the venue's secret is in retire.py.

Why this file is long: each venue action carries its fallbacks (the kill key after a refused sweep,
the retiring key beside the trading key, the late Kraken timer sent again behind a new intent), and
they are read best beside the action they back up.
"""

from __future__ import annotations

import dataclasses
from functools import partial

from deadman.app.refresh.record import Records
from deadman.app.refresh.report import AccountTick
from deadman.core.concurrency import Outcome, Parallel
from deadman.core.errors import ConfigError, DeadmanError
from deadman.core.policy import (
    MIN_LEAD_MARGIN_MS,
    TRANSIT_MS,
    WHOLE_SECONDS_MS,
    Decision,
    Mode,
    intent_window_ms,
    send_by,
)
from deadman.core.venue import ExtendResult, SweepResult, TimerKind, VenueAccount, VenueClient
from deadman.stores.credentials import VenueSecrets
from deadman.stores.switches import Switch, SwitchConflict
from deadman.venues.errors import (
    AuthError,
    NonceError,
    NotSupportedError,
    RejectedError,
    VenueError,
    VolumeGateError,
)


def retryable(exc: BaseException) -> bool:
    if isinstance(exc, SwitchConflict | ConfigError | AuthError | RejectedError | NotSupportedError):
        return False
    return not (isinstance(exc, NonceError) and exc.code == "lockout")


def _deadline(outcome: ExtendResult, decision: Decision) -> int:
    deadline = outcome.venue_deadline_ms or outcome.requested_deadline_ms or decision.extend_to_ms
    assert deadline is not None
    return deadline


def _landed_late(outcome: ExtendResult) -> bool:
    """The venue says its timer fires later than asked, beyond its whole-second rounding."""
    asked, got = outcome.requested_deadline_ms, outcome.venue_deadline_ms
    return asked is not None and got is not None and got > asked + WHOLE_SECONDS_MS


def _merged(first: SweepResult, second: SweepResult) -> SweepResult:
    return SweepResult(
        cancelled_count=first.cancelled_count + second.cancelled_count,
        cancelled_ids=first.cancelled_ids + second.cancelled_ids,
        failed=first.failed + second.failed,
        pending=first.pending or second.pending,
        detail=f"{first.detail}; retiring key: {second.detail}",
    )


class VenueActs(Records):
    """The venue side of a tick, for the Ticker that inherits it."""

    credentials: VenueSecrets
    parallel: Parallel
    lease_until_ms: int | None
    _clients: dict[tuple[str, str], tuple[VenueAccount, VenueClient]]
    _accounts: dict[str, VenueAccount]
    _retiring: dict[str, tuple[VenueAccount, int]]
    _retired_done: set[str]

    def _make_client(self, account: VenueAccount) -> VenueClient:
        raise NotImplementedError  # the Ticker's client factory

    def _intent(
        self,
        switch: Switch,
        decision: Decision,
        *,
        sweep: bool,
        remembered: bool,
        result: AccountTick,
        correction: bool = False,
    ) -> tuple[Switch, int]:
        """Written before a tick's venue requests, conditionally on the version read: how long they may
        be in flight. Returns the stored switch and the send-by time every request of this tick
        carries (checked by the client at the moment of sending, after the nonce draw). A
        `correction` of a timer that landed late is not held to its beat's send-by time: it aims at
        the same deadline less a client patience, so it only ever shortens what stands."""
        start = self.clock()
        window = intent_window_ms(self.caps, sweep=sweep)
        # A sweep of a dead trader on an absolute-time venue may set a backstop timer (`_backstop`):
        # a kill must outwait it as it outwaits an extension.
        backstop = sweep and not decision.clear_after_sweep and self.caps.timer_kind is TimerKind.ABSOLUTE_MS
        extends = decision.extend_to_ms is not None or (backstop and switch.mode is not Mode.KILLED)
        fence = send_by(
            intent_ms=start,
            window_ms=window,
            lease_until_ms=self.lease_until_ms,
            proof_beat_ms=None if correction else decision.proof_beat_ms,
            timing=self.config.timing,
        )
        pending = dataclasses.replace(
            switch, inflight_until_ms=start + window + TRANSIT_MS, inflight_extends=extends
        )
        try:
            return self._store(pending), fence
        except SwitchConflict:
            raise
        except Exception as exc:
            if extends or not remembered:
                raise  # tried again on a fresh read within the tick
            # The table takes no write and the tick acts on the state it last confirmed (a kill, a
            # disarm that has ended, a dead trader): the sweep goes unfenced, as nobody can write a
            # disarm it would have to outwait either. An extension never goes without its intent.
            self.metrics.count("StoreErrors", venue=self.venue)
            result.note += f"; intent not written ({type(exc).__name__}): swept without it"
            return switch, fence

    def fence_from_now(self) -> int:
        """A send-by time for a request that follows another of the same tick (a schedule cleared
        after a sweep): its own intent window from now, within the lease."""
        return send_by(
            intent_ms=self.clock(),
            window_ms=intent_window_ms(self.caps, sweep=False),
            lease_until_ms=self.lease_until_ms,
            proof_beat_ms=None,
            timing=self.config.timing,
        )

    def _client(
        self, account: VenueAccount, *, kill_key: bool = False, retiring: bool = False
    ) -> VenueClient:
        """The account's client on its trading key, its kill key, or (Gemini mid-rotation) its
        retiring key; kept while the secret is unchanged (the same Account object)."""
        slot = (account.account_id, "kill" if kill_key else "retiring" if retiring else "trade")
        cached = self._clients.get(slot)
        if cached is None or cached[0] is not account:
            signer = (
                account.for_kill() if kill_key else (account.for_retiring() if retiring else None) or account
            )
            cached = (account, self._make_client(signer))
            self._clients[slot] = cached
        return cached[1]

    # -- extend -------------------------------------------------------------------------------------

    def _extend(
        self,
        client: VenueClient,
        account: VenueAccount,
        switch: Switch,
        decision: Decision,
        now: int,
        result: AccountTick,
        fence: int,
    ) -> Switch:
        assert decision.extend_to_ms is not None
        was_off = switch.deadline_ms is None
        try:
            outcome = self._extend_keys(client, account, decision, fence, result)
        except VolumeGateError as exc:
            if switch.deadline_ms is not None and switch.deadline_ms > now:
                # A schedule of ours is still armed at the venue and would fire on a live trader if
                # left to lapse: keep trying every tick (and alarm), not every ten minutes.
                return self._venue_error(account, switch, exc, result, extending=True)
            self.metrics.count("VenueErrors", venue=self.venue)
            if switch.native_available:
                self._audit(switch, "native-unavailable", exc.message, "watchdog only", now, {})
            return dataclasses.replace(
                switch, native_available=False, native_reason=exc.message, native_checked_ms=now
            )
        except VenueError as exc:
            return self._venue_error(account, switch, exc, result, extending=True)
        if _landed_late(outcome):
            # A relative timeout that took its time to reach the venue (Kraken): sent again at once,
            # aimed earlier by the transit just seen, as an extension of its own - intent first, so
            # a kill latched since the first one wins and is not outrun.
            self.metrics.count("LateTimers", venue=self.venue)
            try:
                switch, fence = self._intent(
                    switch, decision, sweep=False, remembered=False, result=result, correction=True
                )
            except SwitchConflict as exc:
                self._record_after_conflict(
                    account.account_id, exc.current, now, _deadline(outcome, decision)
                )
                raise
            try:
                # Aimed a whole client patience earlier: an answered request cannot have been on its
                # way longer, so this one cannot land late too (aimed only by the transit just seen,
                # a slower second landing stood past the bound: seed 9502394). Early is harmless.
                outcome = client.extend(decision.extend_to_ms - TRANSIT_MS, send_by_ms=fence)
            except VenueError as exc:  # the first, late timer stands: on the record below
                self.log("correction failed", account=account.account_id, error=str(exc))
        deadline = _deadline(outcome, decision)
        result.extended_to_ms = deadline
        result.note = outcome.detail
        if _landed_late(outcome):
            # Late again: the native bound is stretched until the next tick mends it. Say so.
            self.metrics.count("ExtendFailedWhileAlive", venue=self.venue)
            self.log(
                "venue timer landed late",
                account=account.account_id,
                late_ms=deadline - decision.extend_to_ms,
            )
        self.metrics.count("Extended", venue=self.venue)
        self.metrics.gauge("SecondsToDeadline", (deadline - now) / 1000, venue=self.venue)
        if not switch.native_available:
            self._audit(switch, "native-available", "venue accepted the timer again", "ok", now, {})
        if was_off:
            self._audit(switch, "venue-timer-on", decision.reason, "ok", now, {"deadline_ms": deadline})
        return dataclasses.replace(
            switch,
            deadline_ms=deadline,
            native_available=True,
            native_reason=None,
            native_checked_ms=now,
            last_error=None,
            consecutive_errors=0,
        )

    def _extend_keys(
        self, client: VenueClient, account: VenueAccount, decision: Decision, fence: int, result: AccountTick
    ) -> ExtendResult:
        """The trading key's extension; mid-rotation (Gemini) the retiring key's too, side by side and
        each with the tick's own send-by time: the old key's session may still hold the trader's
        orders, and only its own heartbeats keep them. A failed one is tried again within the tick
        like any failed call; once Gemini refuses the old key (deleted), the secret should drop it:
        said in the log and a metric."""
        assert decision.extend_to_ms is not None
        main = partial(client.extend, decision.extend_to_ms, send_by_ms=fence)
        if account.for_retiring() is None:
            return main()
        old = self._client(account, retiring=True)
        outcomes: list[Outcome[ExtendResult]] = self.parallel.run(
            [main, partial(old.extend, decision.extend_to_ms, send_by_ms=fence)]
        )
        retired = outcomes[1]
        if retired.error is not None or not retired.done:
            error = retired.error or TimeoutError("no answer")
            self.metrics.count("RetiringKeyErrors", venue=self.venue)
            self.log("retiring key not extended", account=account.account_id, error=str(error))
            result.retry = result.retry or retryable(error)
        if outcomes[0].error is not None:
            raise outcomes[0].error
        assert outcomes[0].value is not None
        return outcomes[0].value

    # -- sweep --------------------------------------------------------------------------------------

    def _sweep_paused(self, account: VenueAccount, switch: Switch, now: int, result: AccountTick) -> bool:
        """Every call on Gemini's trading key restarts its 30 s rule, which is what cancels the orders
        Gemini refused to: without a kill key, sweeps pause long enough for the rule to run out."""
        rejected = switch.sweep_rejected_ms
        paused = (
            self.caps.timer_kind is TimerKind.HEARTBEAT
            and not account.has_kill_key
            and rejected is not None
            and now - rejected < (self.caps.fixed_timeout_ms or 0) + TRANSIT_MS
        )
        if paused:
            result.note = "sweep paused: letting the venue's own timer cancel what it refused to"
        return paused

    def _sweep(
        self,
        account: VenueAccount,
        switch: Switch,
        decision: Decision,
        now: int,
        result: AccountTick,
        fence: int,
    ) -> Switch:
        # With a kill key, a venue whose every call on the trading key restarts its rule (Gemini)
        # sweeps on the kill key: the trading key stays silent, so the rule still runs out behind
        # the watchdog.
        kill_key = self.caps.sweeps_on_kill_key and account.has_kill_key
        client = self._client(account, kill_key=kill_key)
        try:
            swept = client.sweep(send_by_ms=fence)
        except VenueError as exc:
            self._unprotected(switch, now)
            if kill_key or not account.has_kill_key:
                self._audit(switch, "sweep", decision.reason, f"failed: {exc}", now, {})
                return self._venue_error(account, switch, exc, result, extending=False)
            # The refresher's key failed (a nonce lockout after requests arrived out of order, say):
            # the account's kill credentials have a nonce stream of their own. Once, at once.
            self.log("sweep failed; sweeping with the kill credentials", account=account.account_id)
            try:
                swept = self._client(account, kill_key=True).sweep(send_by_ms=fence)
            except VenueError as kill_exc:
                self._unprotected(switch, now)
                self._audit(switch, "sweep", decision.reason, f"failed: {exc}; kill key: {kill_exc}", now, {})
                return self._venue_error(account, switch, exc, result, extending=False)
        if not kill_key and account.for_retiring() is not None:
            # cancel/session reaches only the key that sends it: a zombie may still trade on the key
            # being rotated out, so its session is swept too.
            try:
                swept = _merged(swept, self._client(account, retiring=True).sweep(send_by_ms=fence))
            except VenueError as exc:
                self.metrics.count("RetiringKeyErrors", venue=self.venue)
                self.log("retiring key not swept", account=account.account_id, error=str(exc))
                result.retry = result.retry or retryable(exc)
        result.swept = swept.cancelled_count
        self.metrics.count("Swept", venue=self.venue)
        summary = f"cancelled {swept.cancelled_count}, failed {len(swept.failed)}"
        if swept.failed:
            # The venue refused to cancel some orders: its own timer may take them, the watchdog
            # cannot. Counted as a venue error, so it pages if it goes on.
            self.metrics.count("VenueErrors", venue=self.venue)
            self.metrics.count("SweepIncomplete", venue=self.venue)
            self._unprotected(switch, now)
        if swept.cancelled_count or swept.failed or decision.fired:
            self._audit(
                switch,
                "sweep",
                decision.reason,
                summary,
                now,
                {"cancelled": list(swept.cancelled_ids), "failed": [f.order_id for f in swept.failed]},
            )
        heartbeat = self.caps.timer_kind is TimerKind.HEARTBEAT
        rejected = now if heartbeat and not kill_key and swept.failed else None
        switch = dataclasses.replace(
            switch, last_sweep_ms=now, last_sweep=summary, sweep_rejected_ms=rejected
        )
        if swept.failed and switch.mode is not Mode.KILLED:
            switch = self._backstop(client, account, switch, now)
        if decision.clear_after_sweep and swept.complete:
            switch = self._venue_off(
                self._client(account),
                account,
                switch,
                now,
                "cleared after the kill's sweep"
                if switch.mode is Mode.KILLED
                else "cleared after watchdog sweep",
                result,
                self.fence_from_now(),
            )
        return switch

    def _unprotected(self, switch: Switch, now: int) -> None:
        """A sweep failed, or the venue refused some of its cancels, with no venue timer of ours
        standing behind it (Hyperliquid's schedule cleared after the first complete sweep; any
        venue's timer once it has fired): whatever a zombie rests now stays until a sweep gets
        through. Alarmed at once (`UnprotectedSweepFailures`): the trader's death has paged already,
        but not that nothing is taking its orders."""
        if switch.deadline_ms is None or switch.deadline_ms <= now:
            self.metrics.count("UnprotectedSweepFailures", venue=self.venue)

    def _backstop(self, client: VenueClient, account: VenueAccount, switch: Switch, now: int) -> Switch:
        """The venue refused to cancel some of a dead trader's orders, and its own timer can take them
        where the watchdog cannot - but after a complete sweep the fleet may have cleared it
        (Hyperliquid's triggers are rationed). So one is set to fire soon, unless one is set already
        (set again each tick, it would never fire). Absolute-time venues only: the others' timers stand
        or, like Gemini's, run out by themselves."""
        if self.caps.timer_kind is not TimerKind.ABSOLUTE_MS or not self.caps.can_disarm:
            return switch
        if switch.deadline_ms is not None and switch.deadline_ms > now:
            return switch
        soon = self.clock() + self.caps.min_lead_ms + MIN_LEAD_MARGIN_MS
        try:
            client.extend(soon, send_by_ms=self.fence_from_now())
        except VenueError as exc:  # the volume gate, say: the watchdog keeps trying every tick
            self.log("backstop timer not set", account=account.account_id, error=str(exc))
            return switch
        self._audit(
            switch,
            "venue-timer-set",
            "backstop for cancels the venue refused",
            "ok",
            now,
            {"deadline_ms": soon},
        )
        return dataclasses.replace(switch, deadline_ms=soon)

    # -- timer off ----------------------------------------------------------------------------------

    def _venue_off(
        self,
        client: VenueClient,
        account: VenueAccount,
        switch: Switch,
        now: int,
        why: str,
        result: AccountTick,
        fence: int,
    ) -> Switch:
        try:
            client.disarm(send_by_ms=fence)
        except VolumeGateError as exc:
            if switch.deadline_ms is None:
                return switch  # nothing was ever scheduled there
            # A schedule set before the venue began refusing may still stand: kept on the record (it
            # may fire), an error that pages if it goes on.
            return self._venue_error(account, switch, exc, result, extending=False)
        except VenueError as exc:
            return self._venue_error(account, switch, exc, result, extending=False)
        if switch.deadline_ms is not None:  # a repeated off (`late_call_rearms`) changed nothing on record
            self._audit(switch, "venue-timer-off", why, "ok", now, {"was_deadline_ms": switch.deadline_ms})
        return dataclasses.replace(switch, deadline_ms=None)

    def _venue_error(
        self, account: VenueAccount, switch: Switch, exc: VenueError, result: AccountTick, *, extending: bool
    ) -> Switch:
        result.error = str(exc)
        result.retry = result.retry or retryable(exc)
        self.metrics.count("VenueErrors", venue=self.venue)
        self.metrics.count(f"VenueErrors.{exc.kind.value}", venue=self.venue)
        if extending:
            self.metrics.count("ExtendFailedWhileAlive", venue=self.venue)
        if isinstance(exc, AuthError):
            # Keys may have been rotated: refetch the secret now rather than after the cache ages out.
            try:
                self.credentials.refresh(self.venue)
            except (DeadmanError, ValueError) as refresh_exc:
                self.log("credential refresh failed", error=str(refresh_exc))
        self.log("venue error", account=account.account_id, kind=exc.kind.value, error=str(exc))
        return dataclasses.replace(
            switch, last_error=str(exc), consecutive_errors=switch.consecutive_errors + 1
        )
