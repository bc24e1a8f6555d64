"""Status: every switch, the trader's liveness and the bounds, from DynamoDB alone (GET /status).

DynamoDB only. It never calls a venue: any authenticated call on a Gemini trading key would
reset that key's 30 s heartbeat timer and keep a dead trader's orders alive.
"""

from __future__ import annotations

from deadman.app.control.results import (
    AuditOut,
    BoundsOut,
    LivenessOut,
    PlanOut,
    StatusResult,
    SwitchStatus,
    TimingOut,
    VenueStatus,
)
from deadman.app.control.toolkit import Toolkit, iso
from deadman.core.errors import DeadmanError
from deadman.core.policy import NO_NATIVE_TIMER, Mode, reaction_bounds, triggers_today
from deadman.core.venue import Capabilities
from deadman.stores.liveness import read_and_judge
from deadman.stores.switches import Switch
from deadman.venues import SPECS, VENUES

STATUS_AUDIT_ENTRIES = 5


def status(kit: Toolkit) -> StatusResult:
    """DynamoDB only: never a venue call (see the module docstring)."""
    now = kit.clock()
    timing = kit.config.timing
    if kit.liveness is None:
        raise DeadmanError("no liveness reader configured")
    liveness = kit.liveness

    def judged(system: str) -> LivenessOut:
        v = read_and_judge(liveness, system, kit.clock, timing.max_staleness_ms, timing.skew_ms)
        return LivenessOut(
            system=system,
            verdict=v.verdict.value,
            alive=v.alive,
            beat_ms=v.beat_ms,
            age_s=None if v.age_ms is None else v.age_ms / 1000,
            detail=v.detail,
        )

    own = judged(kit.config.system)
    gating: set[str] = set()
    venues = []
    for venue in VENUES:
        if venue not in kit.config.enabled_venues:
            continue
        spec = SPECS[venue]
        caps = spec.capabilities
        bounds = reaction_bounds(timing, caps)
        stored = sorted(kit.switches.list_venue(venue), key=lambda s: s.account)
        gating |= {name for s in stored for name in (s.systems or kit.config.system).split(",")}
        venues.append(
            VenueStatus(
                venue=venue,
                timer_kind=caps.timer_kind.value,
                can_disarm=caps.can_disarm,
                reaction_bounds=BoundsOut(
                    watchdog_s=bounds.watchdog_ms / 1000,
                    native_s=None if bounds.native_ms is None else bounds.native_ms / 1000,
                ),
                switches=[_switch_status(kit, s, caps, now) for s in stored],
                note=" ".join(
                    n
                    for n in (
                        None
                        if stored
                        else "no switch recorded yet: the venue's secret lists no accounts (not "
                        "configured), or no refresher tick or control call so far.",
                        None
                        if caps.has_timer
                        else f"no venue timer: bound {NO_NATIVE_TIMER}, {bounds.watchdog_ms / 1000:g} s; "
                        "with the fleet gone nothing protects the book.",
                        spec.caveat,
                    )
                    if n
                )
                or None,
            )
        )
    gating = gating or {kit.config.system}
    systems = [own if name == kit.config.system else judged(name) for name in sorted(gating)]
    return StatusResult(
        at_ms=now,
        liveness=own,
        systems=systems,
        timing=TimingOut(
            max_staleness_s=timing.max_staleness_ms / 1000,
            tick_s=timing.tick_ms / 1000,
            grace_s=timing.grace_ms / 1000,
            skew_s=timing.skew_ms / 1000,
            sweep_window_s=timing.sweep_window_ms / 1000,
            max_disarm_s=kit.config.max_disarm_ms / 1000,
            max_off_s=kit.config.max_off_ms / 1000,
        ),
        venues=venues,
    )


def _switch_status(kit: Toolkit, s: Switch, caps: Capabilities, now: int) -> SwitchStatus:
    def left(at: int | None) -> float | None:
        return None if at is None else (at - now) / 1000

    if s.mode is Mode.KILLED:
        detail = "killed until an operator arms it: swept every tick, never extended"
    elif s.mode is Mode.DISARMED and s.disarmed_until_ms is not None and s.disarmed_until_ms > now:
        kind = "off (the trader is away on purpose; its death is not alarmed)" if s.off else "disarmed"
        detail = f"{kind} until {iso(s.disarmed_until_ms)}; re-arms by itself then"
    elif s.mode is Mode.DISARMED:
        detail = "disarm ended: re-arms at the next tick"
    elif s.dead_since_ms is not None:
        detail = "armed; trader judged dead: watchdog sweeping"
    else:
        detail = "armed"
    for plan in s.plans:
        detail += (
            f"; planned {'off period' if plan.off else 'disarm'} {plan.id} {iso(plan.from_ms)} to "
            f"{iso(plan.until_ms)} ({plan.reason})"
        )
    first = s.plans[0] if s.plans else None
    budget = caps.daily_trigger_budget
    audit = [
        AuditOut(
            at_ms=int(a.get("at_ms", 0)),
            action=str(a.get("action", "")),
            actor=str(a.get("actor", "")),
            reason=str(a.get("reason", "")),
            result=str(a.get("result", "")),
            details=dict(a.get("details") or {}),
        )
        for a in kit.switches.recent_audit(s.venue, s.account, STATUS_AUDIT_ENTRIES)
    ]
    return SwitchStatus(
        venue=s.venue,
        account=s.account,
        mode=s.mode.value,
        mode_detail=detail,
        version=s.version,
        disarmed_until_ms=s.disarmed_until_ms,
        disarm_seconds_left=left(s.disarmed_until_ms) if s.mode is Mode.DISARMED else None,
        reason=s.reason,
        changed_by=s.changed_by,
        changed_at_ms=s.changed_at_ms,
        last_tick_ms=s.last_tick_ms,
        last_tick_age_s=None if s.last_tick_ms is None else (now - s.last_tick_ms) / 1000,
        deadline_ms=s.deadline_ms,
        deadline_seconds_left=left(s.deadline_ms),
        last_beat_ms=s.last_beat_ms,
        dead_since_ms=s.dead_since_ms,
        native_available=s.native_available,
        native_reason=s.native_reason,
        triggers_today=triggers_today(s.view(), now) if budget is not None else None,
        trigger_budget=budget,
        last_error=s.last_error,
        consecutive_errors=s.consecutive_errors,
        last_sweep_ms=s.last_sweep_ms,
        last_sweep=s.last_sweep,
        scheduled_disarm_from_ms=first.from_ms if first else None,
        scheduled_disarm_until_ms=first.until_ms if first else None,
        off=s.is_off,
        scheduled_off=first.off if first else False,
        plans=[PlanOut.of(p) for p in s.plans],
        systems=s.systems.split(",") if s.systems else [],
        retired_at_ms=s.retired_at_ms,
        recent_audit=audit,
    )
