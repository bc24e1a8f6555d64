"""The tick table of docs/design.md section 3, row by row, and promises 1-3 as properties."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadman.core.errors import ConfigError
from deadman.core.plans import MAX_PLANS, Plan, clashes, due
from deadman.core.policy import (
    INTENT_WINDOW_MS,
    MIN_LEAD_MARGIN_MS,
    NATIVE_RECHECK_MS,
    SEND_WITHIN_MS,
    TRANSIT_MS,
    Decision,
    LivenessView,
    Mode,
    SwitchView,
    Timing,
    decide,
    intent_window_ms,
    send_by,
    utc_date,
)
from deadman.core.venue import Capabilities, TimerKind

KRAKEN = Capabilities("kraken", TimerKind.RELATIVE_SECONDS, True, 1000, 86_399_000, None, None)
HYPERLIQUID = Capabilities(
    "hyperliquid", TimerKind.ABSOLUTE_MS, True, 5000, None, None, 10, sweep_lists_first=True
)
GEMINI = Capabilities("gemini", TimerKind.HEARTBEAT, False, 0, None, 30_000, None)
# A venue whose own switch drops with a WebSocket: no timer the fleet can hold (watchdog and kill).
NO_TIMER = Capabilities("no-timer", TimerKind.NONE, False, 0, None, None, None, draws_nonces=False)
TIMED_CAPS = (KRAKEN, HYPERLIQUID, GEMINI)
ALL_CAPS = (*TIMED_CAPS, NO_TIMER)
T = Timing()
NOW = 1_700_000_000_000


def alive(beat: int) -> LivenessView:
    return LivenessView(alive=True, beat_ms=beat)


DEAD = LivenessView(alive=False, beat_ms=None)


def run(liveness: LivenessView, switch: SwitchView, caps: Capabilities = KRAKEN, now: int = NOW) -> Decision:
    return decide(now_ms=now, liveness=liveness, switch=switch, caps=caps, timing=T)


# -- the table ----------------------------------------------------------------------------------
@pytest.mark.parametrize("caps", ALL_CAPS, ids=lambda c: c.venue)
def test_killed_sweeps_and_never_extends_even_when_alive(caps: Capabilities) -> None:
    d = run(alive(NOW - 1000), SwitchView(mode=Mode.KILLED), caps)
    assert d.sweep and d.extend_to_ms is None and d.dead


@pytest.mark.parametrize("caps", [KRAKEN, HYPERLIQUID], ids=lambda c: c.venue)
@pytest.mark.parametrize("liveness", [DEAD, alive(NOW - 1000)], ids=["dead", "alive"])
def test_killed_switches_its_venue_timer_off_once_swept(caps: Capabilities, liveness: LivenessView) -> None:
    """Seed 10004998: a timer set before the kill only waits for the arm, and fires on the re-armed
    trader if the arm's extension fails. Once the kill's book is swept it goes, where it can."""
    d = run(liveness, SwitchView(mode=Mode.KILLED, deadline_ms=NOW + 30_000), caps)
    assert d.sweep and d.clear_after_sweep


@pytest.mark.parametrize("caps", ALL_CAPS, ids=lambda c: c.venue)
def test_killed_with_no_timer_standing_clears_nothing(caps: Capabilities) -> None:
    d = run(DEAD, SwitchView(mode=Mode.KILLED, deadline_ms=None), caps)
    assert d.sweep and not d.clear_after_sweep


def test_killed_gemini_has_no_timer_to_switch_off() -> None:
    d = run(DEAD, SwitchView(mode=Mode.KILLED, deadline_ms=NOW + 30_000), GEMINI)
    assert d.sweep and not d.clear_after_sweep


@pytest.mark.parametrize("caps", [KRAKEN, HYPERLIQUID], ids=lambda c: c.venue)
def test_disarmed_defers_the_venue_timer_to_its_end_and_never_sweeps(caps: Capabilities) -> None:
    """Hazard 5: a disarm that ends while the fleet is gone still leaves the book protected: the
    timer fires a whole bound after the end, as if the last beat came then. Not a judgement of
    liveness: no proof beat, so its send-by time comes from the intent and the lease alone."""
    until = NOW + 60_000
    d = run(DEAD, SwitchView(mode=Mode.DISARMED, disarmed_until_ms=until, deadline_ms=NOW + 9000), caps)
    assert d.extend_to_ms == until + T.native_bound_ms and d.proof_beat_ms is None
    assert not d.sweep and not d.disarm_venue


@pytest.mark.parametrize("caps", [KRAKEN, HYPERLIQUID], ids=lambda c: c.venue)
def test_a_disarm_that_wants_the_timer_off_switches_it_off(caps: Capabilities) -> None:
    """Kraken's maintenance: an armed timer cancels every order as the engine returns."""
    view = SwitchView(mode=Mode.DISARMED, disarmed_until_ms=NOW + 1, deadline_ms=NOW + 9000, timer_off=True)
    d = run(DEAD, view, caps)
    assert d.disarm_venue and not d.sweep and d.extend_to_ms is None


def test_disarmed_gemini_keeps_heartbeating_whatever_the_liveness() -> None:
    d = run(DEAD, SwitchView(mode=Mode.DISARMED, disarmed_until_ms=NOW + 1), GEMINI)
    assert d.extend_to_ms == NOW + 30_000 and not d.sweep and not d.disarm_venue


def test_disarm_expired_rearms_and_acts_as_armed() -> None:
    d = run(DEAD, SwitchView(mode=Mode.DISARMED, disarmed_until_ms=NOW))
    assert d.auto_arm and d.sweep and d.fired
    d = run(alive(NOW - 1000), SwitchView(mode=Mode.DISARMED, disarmed_until_ms=NOW - 5))
    assert d.auto_arm and d.extend_to_ms == NOW - 1000 + T.native_bound_ms


# -- planned disarms (maintenance windows) ------------------------------------------------------------
def plan(start: int, until: int, *, timer_off: bool = False, name: str = "p-00000001") -> Plan:
    return Plan(id=name, from_ms=start, until_ms=until, by="ops", reason="maint", timer_off=timer_off)


PLAN = plan(NOW - 1, NOW + 3_600_000)


@pytest.mark.parametrize("caps", [KRAKEN, HYPERLIQUID], ids=lambda c: c.venue)
def test_a_planned_window_that_began_disarms_and_defers_the_timer(caps: Capabilities) -> None:
    d = run(alive(NOW - 1000), SwitchView(deadline_ms=NOW + 40_000, plans=(PLAN,)), caps)
    assert d.window == PLAN and d.window_until_ms == PLAN.until_ms
    assert d.extend_to_ms == PLAN.until_ms + T.native_bound_ms and d.proof_beat_ms is None
    assert not d.disarm_venue and not d.sweep and not d.auto_arm


@pytest.mark.parametrize("caps", [KRAKEN, HYPERLIQUID], ids=lambda c: c.venue)
def test_a_planned_maintenance_window_switches_the_timer_off(caps: Capabilities) -> None:
    maintenance = plan(NOW - 1, NOW + 3_600_000, timer_off=True)
    d = run(alive(NOW - 1000), SwitchView(deadline_ms=NOW + 40_000, plans=(maintenance,)), caps)
    assert d.window_opens and d.disarm_venue and d.extend_to_ms is None and not d.sweep


def test_a_planned_window_on_gemini_keeps_heartbeating_and_never_sweeps_a_dead_trader() -> None:
    d = run(DEAD, SwitchView(plans=(PLAN,)), GEMINI)
    assert d.window_opens and d.extend_to_ms == NOW + 30_000 and not d.sweep


def test_a_window_not_yet_begun_changes_nothing() -> None:
    d = run(alive(NOW - 1000), SwitchView(plans=(plan(NOW + 1, NOW + 3_600_000),)))
    assert not d.window_opens and not d.windows_missed and d.extend_to_ms is not None


def test_a_window_whose_end_passed_is_dropped_and_the_switch_acts_as_armed() -> None:
    gone = plan(NOW - 7_200_000, NOW - 1)
    d = run(DEAD, SwitchView(plans=(gone,)))
    assert d.windows_missed == (gone,) and not d.window_opens and d.sweep


def test_of_several_plans_the_one_begun_opens_the_missed_are_dropped_the_later_wait() -> None:
    gone, now_open, later = (
        plan(NOW - 7_200_000, NOW - 3_600_000, name="p-0000000a"),
        plan(NOW - 10, NOW + 60_000, name="p-0000000b"),
        plan(NOW + 3_600_000, NOW + 7_200_000, name="p-0000000c"),
    )
    d = run(DEAD, SwitchView(plans=(later, gone, now_open)))
    assert d.window == now_open and d.windows_missed == (gone,) and not d.sweep


def test_a_killed_switch_ignores_its_plans_until_armed() -> None:
    d = run(alive(NOW - 1000), SwitchView(mode=Mode.KILLED, plans=(PLAN, plan(NOW - 9, NOW - 1))))
    assert d.sweep and not d.window_opens and not d.windows_missed


def test_a_window_over_a_running_disarm_ends_at_the_later_end() -> None:
    d = run(DEAD, SwitchView(mode=Mode.DISARMED, disarmed_until_ms=NOW + 7_200_000, plans=(PLAN,)))
    assert d.window_opens and d.window_until_ms == NOW + 7_200_000 and not d.sweep


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-5, 5), st.integers(1, 4)), min_size=0, max_size=MAX_PLANS),
    st.integers(-6, 10),
)
def test_due_plans_are_one_of_open_missed_or_ahead_and_never_lost(
    spans: list[tuple[int, int]], at: int
) -> None:
    """Each plan lands in exactly one of opens / missed / ahead, and with non-overlapping plans
    (the use case refuses overlap) the one that opens is the one whose window holds `now`."""
    plans: list[Plan] = []
    for k, (start, length) in enumerate(spans):
        if not clashes(plans, start * 1000, (start + length) * 1000, replacing=None):
            plans.append(plan(start * 1000, (start + length) * 1000, name=f"p-{k:08x}"))
    now = at * 1000
    result = due(plans, now)
    opened = [result.opens] if result.opens else []
    assert sorted(p.id for p in [*opened, *result.missed, *result.ahead]) == sorted(p.id for p in plans)
    holding = [p for p in plans if p.from_ms <= now < p.until_ms]
    assert opened == holding
    assert all(p.until_ms <= now for p in result.missed) and all(p.from_ms > now for p in result.ahead)


def test_armed_alive_deadline_is_anchored_on_the_beat_not_on_now() -> None:
    beat = NOW - 7000
    first = run(alive(beat), SwitchView())
    later = run(alive(beat), SwitchView(), now=NOW + 5000)
    assert first.extend_to_ms == later.extend_to_ms == beat + 20_000 + 10_000 + 15_000


def test_hyperliquid_deadline_respects_min_lead() -> None:
    short = Timing(max_staleness_ms=1000, tick_ms=1000, grace_ms=1000)
    d = decide(now_ms=NOW, liveness=alive(NOW), switch=SwitchView(), caps=HYPERLIQUID, timing=short)
    assert d.extend_to_ms == NOW + 5000 + MIN_LEAD_MARGIN_MS


def test_armed_dead_sweeps_and_marks_first_tick_as_fired() -> None:
    d = run(DEAD, SwitchView())
    assert d.sweep and d.fired and d.extend_to_ms is None
    d = run(DEAD, SwitchView(dead_since_ms=NOW - 60_000))
    assert d.sweep and not d.fired


def test_sweep_window_bounds_the_watchdog() -> None:
    windowed = dataclasses.replace(T, sweep_window_ms=30_000)
    inside = decide(
        now_ms=NOW, liveness=DEAD, switch=SwitchView(dead_since_ms=NOW - 30_000), caps=KRAKEN, timing=windowed
    )
    after = decide(
        now_ms=NOW, liveness=DEAD, switch=SwitchView(dead_since_ms=NOW - 30_001), caps=KRAKEN, timing=windowed
    )
    assert inside.sweep and not after.sweep and after.extend_to_ms is None


def test_recovery_is_reported() -> None:
    d = run(alive(NOW - 10), SwitchView(dead_since_ms=NOW - 90_000))
    assert d.recovered and d.extend_to_ms is not None


def test_unreadable_liveness_neither_extends_nor_sweeps() -> None:
    """Plumbing is never a reason to cancel (found by the campaign: a long DynamoDB fault made the
    last beat seen look stale, and the watchdog swept a live trader). The venue timer stands."""
    unreadable = LivenessView(alive=False, beat_ms=None, unreadable=True)
    for switch in (
        SwitchView(last_beat_ms=NOW - 5000),
        SwitchView(last_beat_ms=NOW - T.max_staleness_ms - 1),
        SwitchView(),
        SwitchView(dead_since_ms=NOW - 60_000),
    ):
        d = run(unreadable, switch)
        assert d.extend_to_ms is None and not d.sweep and not d.fired, switch
    # A kill still sweeps: it needs no proof of anything.
    assert run(unreadable, SwitchView(mode=Mode.KILLED)).sweep


def test_native_fire_is_inferred_when_the_set_deadline_passed() -> None:
    d = run(DEAD, SwitchView(deadline_ms=NOW, dead_since_ms=NOW - 1), HYPERLIQUID)
    assert d.native_fired and not d.clear_after_sweep  # nothing left to clear


def test_hyperliquid_volume_gate_falls_back_to_watchdog_and_rechecks() -> None:
    gated = SwitchView(native_available=False, native_checked_ms=NOW - 1000)
    d = run(alive(NOW - 1000), gated, HYPERLIQUID)
    assert d.extend_to_ms is None and not d.sweep
    stale_check = dataclasses.replace(gated, native_checked_ms=NOW - NATIVE_RECHECK_MS)
    assert run(alive(NOW - 1000), stale_check, HYPERLIQUID).extend_to_ms is not None


def test_hyperliquid_spent_trigger_budget_stops_native_extension() -> None:
    spent = SwitchView(triggers_date=utc_date(NOW), triggers_count=10)
    assert run(alive(NOW - 1000), spent, HYPERLIQUID).extend_to_ms is None
    yesterday = SwitchView(triggers_date="2000-01-01", triggers_count=10)
    assert run(alive(NOW - 1000), yesterday, HYPERLIQUID).extend_to_ms is not None


def test_timing_validation() -> None:
    Timing().validate([GEMINI, KRAKEN])
    with pytest.raises(ConfigError, match="while gemini is enabled"):
        Timing(tick_ms=16_000, grace_ms=20_000).validate([GEMINI])
    Timing(tick_ms=16_000, grace_ms=20_000).validate([KRAKEN])
    with pytest.raises(ConfigError, match="grace"):
        Timing(tick_ms=10_000, grace_ms=5_000).validate([KRAKEN])
    # Kraken's timeout cap: S + T + G must stay under a day while it is enabled, and only then.
    long = Timing(max_staleness_ms=86_000_000, tick_ms=100_000, grace_ms=300_000)
    with pytest.raises(ConfigError, match="kraken's timeout cap"):
        long.validate([KRAKEN])
    long.validate([HYPERLIQUID])


# -- promises as properties ---------------------------------------------------------------------
modes = st.sampled_from(list(Mode))
opt_ms = st.one_of(st.none(), st.integers(NOW - 10**7, NOW + 10**7))
switch_views = st.builds(
    SwitchView,
    mode=modes,
    disarmed_until_ms=opt_ms,
    deadline_ms=opt_ms,
    dead_since_ms=st.one_of(st.none(), st.integers(NOW - 10**7, NOW)),
    last_beat_ms=st.one_of(st.none(), st.integers(NOW - 10**7, NOW)),
    native_available=st.booleans(),
    native_checked_ms=opt_ms,
    triggers_count=st.integers(0, 12),
)
livenesses = st.one_of(
    st.builds(
        LivenessView, alive=st.just(True), beat_ms=st.integers(NOW - T.max_staleness_ms, NOW + T.skew_ms)
    ),
    st.builds(
        LivenessView,
        alive=st.just(False),
        beat_ms=st.one_of(st.none(), st.integers(NOW - 10**7, NOW)),
        unreadable=st.booleans(),
    ),
)


@given(liveness=livenesses, switch=switch_views, caps=st.sampled_from(ALL_CAPS))
@settings(max_examples=1500, deadline=None)
def test_promise_1_no_extension_without_proof_of_life(
    liveness: LivenessView, switch: SwitchView, caps: Capabilities
) -> None:
    d = decide(now_ms=NOW, liveness=liveness, switch=switch, caps=caps, timing=T)
    if d.extend_to_ms is None:
        return
    effective_disarm = (
        switch.mode is Mode.DISARMED
        and switch.disarmed_until_ms is not None
        and switch.disarmed_until_ms > NOW
    )
    assert switch.mode is not Mode.KILLED
    if effective_disarm:
        assert d.proof_beat_ms is None  # not a judgement of liveness
        if caps.timer_kind is TimerKind.HEARTBEAT:
            return  # Gemini keeps its session alive while disarmed
        # Elsewhere the timer is deferred to a whole bound after the disarm's end, never further.
        assert switch.disarmed_until_ms is not None
        assert d.extend_to_ms == switch.disarmed_until_ms + T.native_bound_ms
        return
    assert liveness.alive and liveness.beat_ms is not None
    assert d.proof_beat_ms == liveness.beat_ms  # the send-by time counts from this beat
    bound = liveness.beat_ms + T.native_bound_ms
    if caps.timer_kind is TimerKind.ABSOLUTE_MS:
        bound = max(bound, NOW + caps.min_lead_ms + MIN_LEAD_MARGIN_MS)
    assert d.extend_to_ms <= bound


def simulate(
    caps: Capabilities,
    beat_every_ms: int,
    tick_gaps: list[int],
    death_at_ms: int | None,
) -> tuple[list[tuple[int, Decision]], list[int], int | None]:
    """Play beats and ticks through `decide` with a model venue timer.

    Returns the decisions, the times the venue timer fired, and the last beat."""
    switch = SwitchView()
    now = NOW
    decisions: list[tuple[int, Decision]] = []
    fires: list[int] = []
    last_beat: int | None = None
    for gap in tick_gaps:
        if switch.deadline_ms is not None and now + gap >= switch.deadline_ms:
            fires.append(switch.deadline_ms)
        now += gap
        if death_at_ms is None or now < death_at_ms:
            last_beat = now - (now - NOW) % beat_every_ms
        else:
            last_beat = death_at_ms - (death_at_ms - NOW) % beat_every_ms
        fresh = now - last_beat <= T.max_staleness_ms
        liveness = LivenessView(alive=fresh, beat_ms=last_beat if fresh else None)
        d = decide(now_ms=now, liveness=liveness, switch=switch, caps=caps, timing=T)
        decisions.append((now, d))
        deadline = None if d.native_fired else switch.deadline_ms
        if d.extend_to_ms is not None:
            deadline = d.extend_to_ms
        if d.clear_after_sweep or d.disarm_venue:
            deadline = None
        dead_since = switch.dead_since_ms
        if d.fired:
            dead_since = now
        if d.recovered:
            dead_since = None
        switch = dataclasses.replace(switch, deadline_ms=deadline, dead_since_ms=dead_since)
    return decisions, fires, last_beat


# A tick lands every T, or up to one handover (< G - T) late.
tick_gap = st.integers(T.tick_ms - 2000, T.tick_ms + 4000)


@given(
    caps=st.sampled_from(ALL_CAPS),
    beat_every=st.integers(500, T.max_staleness_ms // 2),
    gaps=st.lists(tick_gap, min_size=5, max_size=60),
)
@settings(max_examples=400, deadline=None)
def test_promise_3_no_false_fire_while_beating(caps: Capabilities, beat_every: int, gaps: list[int]) -> None:
    decisions, fires, _ = simulate(caps, beat_every, gaps, death_at_ms=None)
    assert fires == []
    assert not any(d.sweep for _, d in decisions)


@given(
    caps=st.sampled_from(ALL_CAPS),
    beat_every=st.integers(500, T.max_staleness_ms // 2),
    gaps=st.lists(tick_gap, min_size=12, max_size=40),
    death_tick=st.integers(1, 8),
)
@settings(max_examples=400, deadline=None)
def test_promise_2_bounded_reaction_after_death(
    caps: Capabilities, beat_every: int, gaps: list[int], death_tick: int
) -> None:
    death_at = NOW + sum(gaps[:death_tick]) + 1
    decisions, _fires, last_beat = simulate(caps, beat_every, gaps, death_at_ms=death_at)
    assert last_beat is not None
    # Watchdog: the first tick more than S after the last beat sweeps; it lands within S + T + lateness.
    sweeps = [t for t, d in decisions if d.sweep]
    end = decisions[-1][0]
    if end - last_beat > T.max_staleness_ms + T.tick_ms + 4000:
        assert sweeps, "no watchdog sweep after death"
        assert sweeps[0] - last_beat <= T.watchdog_bound_ms + 4000
        assert all(t >= last_beat for t in sweeps)
    # Native timer: never set beyond S + T + G after the last beat (min lead fits inside T + G here).
    set_deadlines = [
        d.extend_to_ms
        for t, d in decisions
        if d.extend_to_ms is not None and caps.timer_kind is not TimerKind.HEARTBEAT
    ]
    if set_deadlines:
        assert max(set_deadlines) <= last_beat + T.native_bound_ms
    # And nothing is extended once death is seen.
    first_dead = next((t for t, d in decisions if d.dead), None)
    if first_dead is not None:
        assert all(d.extend_to_ms is None for t, d in decisions if t >= first_dead)


def test_reaction_bounds_per_venue() -> None:
    from deadman.core.policy import reaction_bounds

    # Every term is counted: S + K (a trader clock up to K ahead), the tick's store calls before a
    # request leaves (3 s), transit (5 s, the clients' timeouts), Kraken's whole second.
    assert reaction_bounds(T, KRAKEN).native_ms == 20_000 + 5_000 + 10_000 + 15_000 + 1000
    assert reaction_bounds(T, HYPERLIQUID).native_ms == 20_000 + 5_000 + 25_000
    assert reaction_bounds(T, GEMINI).native_ms == 20_000 + 5_000 + 3_000 + 5_000 + 30_000
    watchdogs = {reaction_bounds(T, c).watchdog_ms for c in TIMED_CAPS}
    assert watchdogs == {20_000 + 5_000 + 15_000 + 3_000 + 5_000}
    short = Timing(max_staleness_ms=1000, tick_ms=1000, grace_ms=1000, skew_ms=0)
    assert reaction_bounds(short, HYPERLIQUID).native_ms == 1000 + 5000 + MIN_LEAD_MARGIN_MS


def test_transit_term_is_the_venue_clients_timeout() -> None:
    from deadman.core.policy import TRANSIT_MS
    from deadman.venues.http import DEFAULT_TIMEOUT

    assert round(sum(DEFAULT_TIMEOUT) * 1000) == TRANSIT_MS


# -- send-by times: counted from every fact a request rests on (hazards 1, 2, 8) ----------------------


@given(
    intent=st.integers(NOW - 20_000, NOW),
    lease=st.one_of(st.none(), st.integers(NOW - 5_000, NOW + 60_000)),
    beat=st.one_of(st.none(), st.integers(NOW - 40_000, NOW + T.skew_ms)),
    sweep=st.booleans(),
    caps=st.sampled_from(ALL_CAPS),
)
def test_send_by_is_the_earliest_end_of_every_fact(
    intent: int, lease: int | None, beat: int | None, sweep: bool, caps: Capabilities
) -> None:
    window = intent_window_ms(caps, sweep=sweep)
    latest = send_by(intent_ms=intent, window_ms=window, lease_until_ms=lease, proof_beat_ms=beat, timing=T)
    ends = [intent + window]
    if lease is not None:
        ends.append(lease)  # left before another loop may act
    if beat is not None:
        ends.append(beat + T.max_staleness_ms + SEND_WITHIN_MS)  # the proof still fresh enough
    assert latest == min(ends)
    # A kill or a disarm outwaits `intent + window + TRANSIT_MS`: nothing sent may land later.
    assert latest + TRANSIT_MS <= intent + window + TRANSIT_MS


def test_a_slow_store_does_not_age_an_extension_whose_beat_is_fresh() -> None:
    """Hazard 1: with DynamoDB answering in ~3 s a call, the intent write and the nonce draw take
    ~6 s. Counted from the liveness read (the old rule: 3 s) that extension was never sent; counted
    from the beat it rests on (5 s old) and from its intent, it leaves."""
    read_at, beat = NOW, NOW - 5_000
    intent = read_at + 3_000  # after a slow switch read
    latest = send_by(
        intent_ms=intent,
        window_ms=INTENT_WINDOW_MS,
        lease_until_ms=NOW + 60_000,
        proof_beat_ms=beat,
        timing=T,
    )
    assert latest >= intent + 6_000 > read_at + SEND_WITHIN_MS


def test_the_oldest_beat_bounds_an_extension_gated_on_several_systems() -> None:
    """Hazard 2: one system's row read fresh, another's 23.4 s old by the time of sending: the
    heartbeat may not leave later than S + SEND_WITHIN after the oldest beat."""
    oldest = NOW - T.max_staleness_ms
    latest = send_by(
        intent_ms=NOW, window_ms=INTENT_WINDOW_MS, lease_until_ms=None, proof_beat_ms=oldest, timing=T
    )
    assert latest == oldest + T.max_staleness_ms + SEND_WITHIN_MS == NOW + SEND_WITHIN_MS


def test_nothing_leaves_after_the_lease_it_was_sent_under() -> None:
    lease_until = NOW + 2_000
    latest = send_by(
        intent_ms=NOW, window_ms=INTENT_WINDOW_MS, lease_until_ms=lease_until, proof_beat_ms=None, timing=T
    )
    assert latest == lease_until


def test_a_crashed_loop_is_replaced_within_geminis_thirty_seconds() -> None:
    """Hazard 11: the worst case is a crash between a tick's renewal and its heartbeat: T since the
    previous heartbeat, the lease's TTL, a standby's poll (1 s) and its own tick (~0.2 s)."""
    longest = GEMINI.max_tick_ms
    assert longest == 10_000
    worst = Timing(tick_ms=longest, grace_ms=longest)
    assert worst.tick_ms + worst.lease_ttl_ms + 1_000 + 200 <= 30_000 - 1_500
    with pytest.raises(ConfigError, match="gemini"):
        Timing(tick_ms=longest + 1_000, grace_ms=15_000).validate([GEMINI])


def test_a_listing_sweep_gets_one_more_round_trip() -> None:
    assert intent_window_ms(HYPERLIQUID, sweep=True) == INTENT_WINDOW_MS + TRANSIT_MS
    assert intent_window_ms(KRAKEN, sweep=True) == INTENT_WINDOW_MS
    assert intent_window_ms(HYPERLIQUID, sweep=False) == INTENT_WINDOW_MS


# -- a venue with no timer (TimerKind.NONE) -----------------------------------------------------
@given(liveness=livenesses, switch=switch_views, plan_starts=st.booleans(), timer_off=st.booleans())
@settings(max_examples=800)
def test_a_venue_with_no_timer_is_never_extended_deferred_or_switched_off(
    liveness: LivenessView, switch: SwitchView, plan_starts: bool, timer_off: bool
) -> None:
    """Whatever the record says (a stale deadline included), nothing is ever asked of a timer."""
    plans = (plan(NOW - 1, NOW + 60_000, timer_off=timer_off),) if plan_starts else ()
    d = run(liveness, dataclasses.replace(switch, plans=plans, timer_off=timer_off), NO_TIMER)
    assert d.extend_to_ms is None and d.proof_beat_ms is None
    assert not d.disarm_venue and not d.clear_after_sweep


def test_no_timer_alive_is_watched_not_extended() -> None:
    d = run(alive(NOW - 1_000), SwitchView(), NO_TIMER)
    assert d.extend_to_ms is None and not d.sweep and not d.dead
    assert d.reason == "alive: no venue timer, watchdog only"


@pytest.mark.parametrize("timer_off", [False, True])
def test_no_timer_disarmed_does_nothing_at_the_venue(timer_off: bool) -> None:
    switch = SwitchView(mode=Mode.DISARMED, disarmed_until_ms=NOW + 60_000, timer_off=timer_off)
    d = run(DEAD, switch, NO_TIMER)
    assert d == Decision(reason="disarmed: no venue timer (watchdog only), no sweep")


def test_no_timer_dead_or_killed_sweeps_as_every_venue() -> None:
    dead = run(DEAD, SwitchView(), NO_TIMER)
    assert dead.sweep and dead.fired and dead.dead and not dead.clear_after_sweep
    killed = run(alive(NOW), SwitchView(mode=Mode.KILLED), NO_TIMER)
    assert killed.sweep and killed.extend_to_ms is None and not killed.clear_after_sweep
    expired = run(DEAD, SwitchView(mode=Mode.DISARMED, disarmed_until_ms=NOW - 1), NO_TIMER)
    assert expired.auto_arm and expired.sweep


def test_no_timer_unreadable_liveness_says_nothing_stands() -> None:
    d = run(LivenessView(alive=False, beat_ms=None, unreadable=True), SwitchView(), NO_TIMER)
    assert not d.sweep and d.extend_to_ms is None
    assert "no venue timer" in d.reason


def test_no_timer_bound_is_the_watchdogs_with_a_standby_takeover() -> None:
    from deadman.core.policy import NO_NATIVE_TIMER, SPARE_POLL_MS, reaction_bounds

    bounds = reaction_bounds(T, NO_TIMER)
    assert bounds.native_ms is None and bounds.native_text() == NO_NATIVE_TIMER == "none (watchdog only)"
    # S + K, then ticks at most max(G, T + 7 s lease extra + 1 s poll) apart, send and transit:
    # 20 + 5 + max(15, 18) + 3 + 5 = 51 s at production timing.
    assert T.takeover_ms == T.tick_ms + 7_000 + SPARE_POLL_MS == 18_000
    assert bounds.watchdog_ms == 20_000 + 5_000 + 18_000 + 3_000 + 5_000 == 51_000
    assert bounds.longest_ms == bounds.watchdog_ms
    assert bounds.watchdog_ms > reaction_bounds(T, KRAKEN).watchdog_ms
    # A grace longer than the takeover is the gap that counts.
    slow = Timing(tick_ms=10_000, grace_ms=30_000)
    assert reaction_bounds(slow, NO_TIMER).watchdog_ms == 20_000 + 5_000 + 30_000 + 3_000 + 5_000


def test_no_timer_sets_no_timing_limit_of_its_own() -> None:
    long = Timing(max_staleness_ms=86_000_000, tick_ms=100_000, grace_ms=300_000)
    long.validate([NO_TIMER])
    with pytest.raises(ConfigError, match="grace"):
        Timing(tick_ms=10_000, grace_ms=5_000).validate([NO_TIMER])
    assert NO_TIMER.max_tick_ms is None and not NO_TIMER.has_timer and KRAKEN.has_timer
