"""Pure decisions: (now, liveness, switch, venue capabilities, timing) -> what one tick does.

No AWS, no HTTP, no clock: time comes in as `now_ms`. docs/design.md section 3 is the table this
implements; every promise of section 1 that can be decided is decided here and tested here.

Why this file is long: the decision, the timing rules and the reaction bounds are one table read in
three ways, per timer kind; split apart, a kind's row would have to be kept in step across modules.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from deadman.core.errors import ConfigError
from deadman.core.plans import Plan, due
from deadman.core.venue import Capabilities, TimerKind

# How often a switch whose native timer the venue refused (Hyperliquid volume gate) tries again.
NATIVE_RECHECK_MS = 10 * 60_000
# Hyperliquid wants `time` >= now + 5 s; the margin absorbs request latency and clock skew.
MIN_LEAD_MARGIN_MS = 2_000
# An extension leaves only while the oldest beat it rests on is at most S + SEND_WITHIN_MS old by the
# fleet's clock (`send_by`): the proof of life, not the moment of reading it, is what ages. So a slow
# DynamoDB between the read and the send costs nothing while the beats are fresh, and a heartbeat
# never leaves on a proof older than that (Gemini's bound counts it).
SEND_WITHIN_MS = 3_000
# How long a request the venue answers may have been on its way: the venue clients' connect + read
# timeouts (deadman.venues.http.DEFAULT_TIMEOUT). One that arrives later was given up by the client;
# Hyperliquid refuses it (expiresAfter), Kraken and Gemini cannot be told to.
TRANSIT_MS = 5_000
# From the start of an intent write to its request leaving: the intent write and the nonce draw,
# each a DynamoDB call answering just under its 1 s + 2 s timeouts, and signing. The intent records
# `start + window + TRANSIT_MS`: how long a kill or a disarm may have to outwait the request.
INTENT_WINDOW_MS = 7_000
# A loop renews its lease at the start of every tick, for one tick and this much more: the tick's own
# calls before its last request leaves (a renewal, the liveness and switch reads, the intent, the nonce
# draw: five DynamoDB calls answering just under their timeouts would take 15 s). A standby takes
# over a loop that stopped renewing once this has run out (docs/design.md, the lease).
LEASE_EXTRA_MS = 7_000
# A standby polls the lease this often (deadman.stores.lease): a crashed loop's work is back in hand
# one lease TTL after its last renewal, plus at most one poll.
SPARE_POLL_MS = 1_000
# Kraken's timer counts whole seconds and reports whole seconds: up to one second past the deadline.
WHOLE_SECONDS_MS = 1_000


class Mode(StrEnum):
    ARMED = "armed"
    DISARMED = "disarmed"
    KILLED = "killed"


@dataclass(frozen=True)
class Timing:
    """S, T, G, K of docs/design.md, in ms, plus the watchdog's sweep window (0 = unbounded)."""

    max_staleness_ms: int = 20_000
    tick_ms: int = 10_000
    grace_ms: int = 15_000
    skew_ms: int = 5_000
    sweep_window_ms: int = 0

    @property
    def native_bound_ms(self) -> int:
        """From the last beat to the venue's own timer firing: S + T + G."""
        return self.max_staleness_ms + self.tick_ms + self.grace_ms

    @property
    def watchdog_bound_ms(self) -> int:
        """From the last beat to the first sweeping tick: S + T (plus scheduler lateness)."""
        return self.max_staleness_ms + self.tick_ms

    def deadline_for(self, beat_ms: int) -> int:
        return beat_ms + self.native_bound_ms

    @property
    def lease_ttl_ms(self) -> int:
        """How long one renewal keeps a loop's lease (renewed at the start of every tick): a request
        leaves before it runs out (`send_by`), and a standby takes over this long after the last
        renewal of a loop that crashed - well inside every venue timer's slack."""
        return self.tick_ms + LEASE_EXTRA_MS

    @property
    def takeover_ms(self) -> int:
        """The longest gap between two ticks when the loop crashes right after renewing its lease:
        the lease lapses one TTL after that renewal and the standby takes it at its next poll, then
        renews and ticks at once. Where no venue timer stands behind the watchdog, the bound counts
        it (`reaction_bounds`)."""
        return self.lease_ttl_ms + SPARE_POLL_MS

    def validate(self, venues: Iterable[Capabilities] = ()) -> None:
        """The rules every function checks at start, the enabled venues' own included (the template's
        Rules refuse the same values first)."""
        problems = []
        for name in ("max_staleness_ms", "tick_ms", "grace_ms"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be > 0")
        if self.skew_ms < 0 or self.sweep_window_ms < 0:
            problems.append("skew_ms and sweep_window_ms must be >= 0")
        for caps in venues:
            # A venue with no timer (TimerKind.NONE) sets no limit of its own here: no timeout to stay
            # under, no heartbeat to keep; its bound is the watchdog's (`reaction_bounds`).
            if caps.max_tick_ms is not None and self.tick_ms > caps.max_tick_ms:
                # A crashed loop must be replaced within a heartbeat rule's timeout (`max_tick_ms`).
                problems.append(f"tick_ms {self.tick_ms} > {caps.max_tick_ms} while {caps.venue} is enabled")
            if caps.max_timeout_ms is not None and self.native_bound_ms >= caps.max_timeout_ms:
                problems.append(
                    f"S + T + G ({self.native_bound_ms} ms) must stay under {caps.venue}'s timeout cap "
                    f"({caps.max_timeout_ms} ms) while it is enabled"
                )
        if self.grace_ms < self.tick_ms:
            # The next tick may land up to one tick plus one handover late; the grace must cover it.
            problems.append(f"grace_ms {self.grace_ms} < tick_ms {self.tick_ms}")
        if problems:
            raise ConfigError("invalid timing: " + "; ".join(problems))


@dataclass(frozen=True)
class SwitchView:
    """What the policy needs to know of one switch's stored state."""

    mode: Mode = Mode.ARMED
    disarmed_until_ms: int | None = None
    deadline_ms: int | None = None  # what the fleet last set the venue timer to; None = off/unknown
    dead_since_ms: int | None = None  # first tick of the current death episode
    last_beat_ms: int | None = None  # last beat the fleet saw fresh
    native_available: bool = True
    native_checked_ms: int | None = None
    triggers_date: str | None = None
    triggers_count: int = 0
    # Planned disarms (maintenance windows), none overlapping another.
    plans: tuple[Plan, ...] = ()
    # The disarm in force wants the venue timer off, not deferred: Kraken's maintenance, where an
    # armed timer cancels every order when the engine returns.
    timer_off: bool = False


@dataclass(frozen=True)
class LivenessView:
    alive: bool
    beat_ms: int | None
    unreadable: bool = False


@dataclass(frozen=True)
class Decision:
    extend_to_ms: int | None = None  # extend the venue timer (Gemini: heartbeat) to this deadline
    # The beat an extension rests on (the oldest, where several systems gate the switch): it must
    # leave while that beat is fresh (`send_by`). None: the extension is not a judgement of liveness
    # (a disarm's heartbeat or deferred timer).
    proof_beat_ms: int | None = None
    sweep: bool = False
    disarm_venue: bool = False  # switch the venue timer off now (disarm mode)
    clear_after_sweep: bool = False  # switch the venue timer off once the sweep succeeded (killed; HL)
    auto_arm: bool = False  # disarm expired: back to armed (audited)
    fired: bool = False  # transition alive -> dead on this tick (audited)
    recovered: bool = False  # transition dead -> alive on this tick (audited)
    native_fired: bool = False  # a venue timer the fleet set ran out: the venue cancelled (counted)
    dead: bool = False
    reason: str = ""
    window: Plan | None = None  # a planned disarm starts now: disarmed until `window_until_ms` (audited)
    window_until_ms: int | None = None
    windows_missed: tuple[Plan, ...] = ()  # planned disarms whose end passed before they could open

    @property
    def window_opens(self) -> bool:
        return self.window is not None


def utc_date(now_ms: int) -> str:
    return dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.UTC).date().isoformat()


def triggers_today(switch: SwitchView, now_ms: int) -> int:
    return switch.triggers_count if switch.triggers_date == utc_date(now_ms) else 0


def decide(
    *,
    now_ms: int,
    liveness: LivenessView,
    switch: SwitchView,
    caps: Capabilities,
    timing: Timing,
) -> Decision:
    decision = _decide(now_ms=now_ms, liveness=liveness, switch=switch, caps=caps, timing=timing)
    if not switch.plans or switch.mode is Mode.KILLED:
        return decision  # a killed switch keeps its plans (arm ends any window already due)
    plans = due(switch.plans, now_ms)
    if plans.opens is None:
        return dataclasses.replace(decision, windows_missed=plans.missed) if plans.missed else decision
    return dataclasses.replace(
        decision,
        window=plans.opens,
        window_until_ms=_window_until(plans.opens, switch),
        windows_missed=plans.missed,
    )


def _window_until(window: Plan, switch: SwitchView) -> int:
    """A window that opens on a disarmed switch ends with whichever ends later."""
    if switch.mode is Mode.ARMED:
        return window.until_ms
    return max(window.until_ms, switch.disarmed_until_ms or 0)


def _decide(
    *,
    now_ms: int,
    liveness: LivenessView,
    switch: SwitchView,
    caps: Capabilities,
    timing: Timing,
) -> Decision:
    native_fired = switch.deadline_ms is not None and now_ms >= switch.deadline_ms
    mode = switch.mode
    until = switch.disarmed_until_ms
    window = due(switch.plans, now_ms).opens if switch.plans and mode is not Mode.KILLED else None
    if window is not None:
        # A planned window has begun: disarmed as if the operator had disarmed now (promise 5 holds:
        # it has an end, and no longer than a disarm may last).
        until, mode = _window_until(window, switch), Mode.DISARMED
    auto_arm = False
    if mode is Mode.DISARMED and (until is None or now_ms >= until):
        # A disarm without an end time cannot be stored, but if one were, it ends now (promise 5).
        mode, auto_arm = Mode.ARMED, True

    if mode is Mode.KILLED:
        return Decision(
            sweep=True,
            # Once the book is swept, a timer set before the kill would only wait for the arm, and
            # fire on the re-armed trader if the arm's extension is refused (seed 10004998).
            clear_after_sweep=_switchable_timer_stands(caps, switch),
            native_fired=native_fired,
            dead=True,
            reason="killed: sweep every tick, never extend",
        )

    if mode is Mode.DISARMED:
        if not caps.has_timer:
            # Nothing at the venue to defer, switch off or heartbeat: a disarm is the watchdog held.
            return Decision(reason="disarmed: no venue timer (watchdog only), no sweep")
        if caps.timer_kind is TimerKind.HEARTBEAT:
            # Gemini cannot be disarmed at the venue: keep the key's session alive regardless.
            return Decision(extend_to_ms=now_ms + (caps.fixed_timeout_ms or 0), reason="disarmed: heartbeat")
        if (window is not None and window.timer_off) or (switch.mode is Mode.DISARMED and switch.timer_off):
            # Off wins over deferred: a Kraken maintenance window needs the timer off whatever else
            # is in force.
            # Where an extension queued at the venue can re-arm the timer after it went off, the
            # off is repeated every tick: the last request processed is then a disarm.
            return Decision(
                disarm_venue=(switch.deadline_ms is not None or caps.late_call_rearms) and not native_fired,
                native_fired=native_fired,
                reason="disarmed: venue timer off, no sweep",
            )
        assert until is not None
        # Not off but deferred: a timer that fires a whole bound after the disarm's end, so that the
        # book is protected after it even if the fleet is gone by then (as if the last beat came at
        # the end).
        deferred = leading(deferred_deadline(until, timing), now_ms, caps)
        if not _native_worth_trying(caps, switch, now_ms):
            return Decision(native_fired=native_fired, reason="disarmed: no venue timer, no sweep")
        return Decision(
            extend_to_ms=deferred,
            native_fired=native_fired,
            reason="disarmed: venue timer deferred to the end + S + T + G, no sweep",
        )

    alive = liveness.alive
    beat_ms = liveness.beat_ms
    if liveness.unreadable:
        # Unreadable is not proof of life: never extend on it. Nor is it proof of death: a failure of
        # our own plumbing never cancels a healthy trader's orders. The venue timer, set from the last
        # beat read, stands and fires by itself if the trader really is gone (the native bound). A
        # venue with no timer has nothing standing: the watchdog waits for a readable row.
        stands = "the venue timer stands" if caps.has_timer else "no venue timer: nothing stands meanwhile"
        return Decision(
            auto_arm=auto_arm,
            native_fired=native_fired,
            reason=f"liveness unreadable: no extension, no sweep ({stands})",
        )

    if alive and beat_ms is not None:
        deadline = leading(timing.deadline_for(beat_ms), now_ms, caps)
        try_native = _native_worth_trying(caps, switch, now_ms)
        if not caps.has_timer:
            why = "alive: no venue timer, watchdog only"
        elif try_native:
            why = "alive: extend"
        else:
            why = "alive: native timer unavailable, watchdog only"
        return Decision(
            extend_to_ms=deadline if try_native else None,
            proof_beat_ms=beat_ms if try_native else None,
            auto_arm=auto_arm,
            recovered=switch.dead_since_ms is not None,
            native_fired=native_fired,
            reason=why,
        )

    first_death = switch.dead_since_ms is None
    dead_since = now_ms if first_death else switch.dead_since_ms
    assert dead_since is not None
    in_window = timing.sweep_window_ms == 0 or now_ms - dead_since <= timing.sweep_window_ms
    return Decision(
        sweep=in_window,
        clear_after_sweep=in_window and _clears_after_sweep(caps, switch, native_fired),
        auto_arm=auto_arm,
        fired=first_death,
        native_fired=native_fired,
        dead=True,
        reason="dead: no extension, watchdog sweep" if in_window else "dead: sweep window over",
    )


def leading(deadline_ms: int, now_ms: int, caps: Capabilities) -> int:
    """A deadline no nearer than the venue lets a timer be set (Hyperliquid 5 s, OKX 10 s, Gate 5 s,
    plus a margin for the request's way there): nearer, the venue refuses it and the timer set before
    stands. Counted in the native bound (`reaction_bounds`); at production timing a deadline is never
    that near, so it only ever moves the sandbox's."""
    if caps.min_lead_ms <= 0:
        return deadline_ms
    return max(deadline_ms, now_ms + caps.min_lead_ms + MIN_LEAD_MARGIN_MS)


def deferred_deadline(until_ms: int, timing: Timing) -> int:
    """Where a disarm leaves the venue timer: S + T + G after its end, as if the last beat came then."""
    return until_ms + timing.native_bound_ms


def send_by(
    *,
    intent_ms: int,
    window_ms: int,
    lease_until_ms: int | None,
    proof_beat_ms: int | None,
    timing: Timing,
) -> int:
    """The latest moment a venue request may leave, counted from every fact it rests on, whichever
    ends first: its intent (a kill or a disarm outwaits `intent + window + TRANSIT`), the lease it is
    sent under (it leaves before another loop may act), and for an extension the oldest beat it rests
    on (S + SEND_WITHIN_MS after it, by the fleet's clock)."""
    latest = intent_ms + window_ms
    if lease_until_ms is not None:
        latest = min(latest, lease_until_ms)
    if proof_beat_ms is not None:
        latest = min(latest, proof_beat_ms + timing.max_staleness_ms + SEND_WITHIN_MS)
    return latest


def intent_window_ms(caps: Capabilities, *, sweep: bool) -> int:
    """How long after its intent a request may leave: the intent write and nonce draw, plus, for a
    sweep that lists the book first (Hyperliquid), that listing's round trip."""
    return INTENT_WINDOW_MS + (TRANSIT_MS if sweep and caps.sweep_lists_first else 0)


def _native_worth_trying(caps: Capabilities, switch: SwitchView, now_ms: int) -> bool:
    if not caps.has_timer:
        return False  # nothing a stateless fleet can hold: never extended, never deferred
    if caps.timer_kind is TimerKind.HEARTBEAT:
        return True
    if caps.daily_trigger_budget is not None and triggers_today(switch, now_ms) >= caps.daily_trigger_budget:
        return False
    if switch.native_available:
        return True
    checked = switch.native_checked_ms
    return checked is None or now_ms - checked >= NATIVE_RECHECK_MS


def _switchable_timer_stands(caps: Capabilities, switch: SwitchView) -> bool:
    """A venue timer the fleet set is on the record, and the venue lets the fleet switch it off."""
    return caps.has_timer and caps.can_disarm and switch.deadline_ms is not None


def _clears_after_sweep(caps: Capabilities, switch: SwitchView, native_fired: bool) -> bool:
    """Hyperliquid spends one of 10 daily triggers per native fire: once the watchdog has swept,
    the schedule is cleared so that a healthy fleet never spends one."""
    return (
        caps.daily_trigger_budget is not None and _switchable_timer_stands(caps, switch) and not native_fired
    )


@dataclass(frozen=True)
class ReactionBounds:
    """How long after the trader's last beat (by a true clock) its orders are gone, at worst.

    Every term the fleet does not control is counted: the trader's clock up to K ahead (its beats
    look fresh K longer), the tick's own store calls before a request leaves (SEND_WITHIN_MS), a
    request's time in transit (TRANSIT_MS), and Kraken's whole seconds.

    watchdog_ms: the first tick that reads the row more than S + K after the true beat sweeps; ticks
    are at most G apart (one tick plus one handover). Needs AWS and this code alive. Where the venue
    has no timer (TimerKind.NONE), nothing else takes the book if the loop crashes, so the bound
    counts the standby's takeover too: ticks at most max(G, T + 7 s + 1 s) apart (`takeover_ms`).
    native_ms: the venue's own timer, which fires even if AWS is gone; None where there is none
    (then with the fleet gone nothing protects the book)."""

    watchdog_ms: int
    native_ms: int | None

    @property
    def longest_ms(self) -> int:
        """The longest bound the venue states: its native timer's, or the watchdog's where it has none."""
        return self.watchdog_ms if self.native_ms is None else max(self.native_ms, self.watchdog_ms)

    def native_text(self) -> str:
        """The native bound as status, the demo and the reports say it."""
        return NO_NATIVE_TIMER if self.native_ms is None else f"{self.native_ms / 1000:g}s"


# What status, the CLI, the demo, the bench and the reports say in place of a native bound.
NO_NATIVE_TIMER = "none (watchdog only)"


def reaction_bounds(timing: Timing, caps: Capabilities) -> ReactionBounds:
    lag = timing.max_staleness_ms + timing.skew_ms
    watchdog = lag + timing.grace_ms + SEND_WITHIN_MS + TRANSIT_MS
    if not caps.has_timer:
        # No venue timer behind the watchdog: a loop that crashes right after renewing its lease
        # leaves the next tick to the standby (`takeover_ms`), and that gap is the bound's too.
        gap = max(timing.grace_ms, timing.takeover_ms)
        return ReactionBounds(watchdog_ms=lag + gap + SEND_WITHIN_MS + TRANSIT_MS, native_ms=None)
    if caps.timer_kind is TimerKind.HEARTBEAT:
        # The last heartbeat is decided on the last read that saw the trader alive (<= true beat + S +
        # K), leaves within SEND_WITHIN_MS of it and lands within TRANSIT_MS; the venue cancels a fixed
        # time after the key's last authenticated request.
        native = lag + SEND_WITHIN_MS + TRANSIT_MS + (caps.fixed_timeout_ms or 0)
    elif caps.timer_kind is TimerKind.ABSOLUTE_MS:
        # An absolute time, anchored on the beat (up to K ahead): transit does not move it.
        native = lag + max(timing.tick_ms + timing.grace_ms, _lead(caps))
    else:
        # A relative timeout computed at the moment of sending, rounded down, read back and corrected
        # if it landed late (deadman.venues.kraken): the deadline plus Kraken's whole second.
        native = lag + max(timing.tick_ms + timing.grace_ms, _lead(caps)) + WHOLE_SECONDS_MS
    return ReactionBounds(watchdog_ms=watchdog, native_ms=native)


def _lead(caps: Capabilities) -> int:
    return caps.min_lead_ms + MIN_LEAD_MARGIN_MS if caps.min_lead_ms > 0 else 0
