"""The incident controls' results: the API's response bodies.

`deadman.edges.api` serves them and `docs/openapi.yaml` describes them; `deadman.app.control` builds them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from deadman.core.plans import Plan

TimerOutcome = Literal["deferred", "off", "not_supported", "none", "failed", "not_attempted"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrderFailureOut(_Out):
    """One order the venue did not cancel, with the venue's reason."""

    order_id: str
    reason: str


class SweepAttempt(_Out):
    """One cancel-all on one switch (kill makes one, or two when a refresher extension was in flight
    at the latch or the first one failed)."""

    attempt: int
    ok: bool
    cancelled_count: int = 0
    cancelled_ids: list[str] = Field(default_factory=list)
    failed_orders: list[OrderFailureOut] = Field(default_factory=list)
    pending: bool = False
    error: str | None = None
    venue_timer: str | None = Field(
        default=None, description="What kill did to the venue timer, if anything."
    )
    confirmed: str | None = Field(
        default=None,
        description=(
            "How the book was seen after the sweep: 'empty' (listed, nothing rests), or why it was not "
            "listed (the key may not list orders: the venue's own cancel-all answer is the word)."
        ),
    )
    elapsed_ms: int = 0


class KillSwitchResult(_Out):
    venue: str
    account: str
    latched: bool = Field(description="The switch is killed in the ControlTable: no extension from now on.")
    swept: bool = Field(default=False, description="The last sweep emptied the book (every order cancelled).")
    cancelled_count: int = 0
    error: str | None = None
    attempts: list[SweepAttempt] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class VenueProblem(_Out):
    """A targeted venue whose accounts could not all be read (its secret is unusable)."""

    venue: str
    error: str


class KillResult(_Out):
    """200 when every targeted switch is latched and swept; 207 otherwise (see `failed`)."""

    action: Literal["kill"] = "kill"
    ok: bool
    at_ms: int
    elapsed_ms: int
    actor: str
    reason: str
    switches: list[KillSwitchResult]
    venue_problems: list[VenueProblem]
    failed: list[str] = Field(description="venue/account of every switch not latched or not swept.")
    message: str


class PlanOut(_Out):
    """A planned window of a switch: disarmed (or off) from `from_ms` until `until_ms`."""

    id: str = Field(description="Names it to replace (disarm `replaces`) or cancel (arm `cancel_plans`).")
    from_ms: int
    until_ms: int
    by: str
    reason: str
    off: bool = False
    timer_off: bool = False

    @classmethod
    def of(cls, plan: Plan) -> PlanOut:
        return cls(**plan.to_item())


class DisarmSwitchResult(_Out):
    venue: str
    account: str
    mode: str
    disarmed: bool
    disarmed_until_ms: int | None
    venue_timer: TimerOutcome = Field(
        description=(
            "deferred: the venue timer now fires S + T + G after the disarm's end (should the fleet be "
            "gone then); off: switched off at the venue (timer_off); not_supported: Gemini (the fleet "
            "keeps heartbeating until the disarm ends); none: the venue never accepted a timer here "
            "(volume gate); failed: the refresher sets it at its next tick; not_attempted: the switch "
            "was not disarmed."
        )
    )
    error: str | None = None
    notes: list[str] = Field(default_factory=list)
    scheduled: bool = Field(
        default=False, description="A planned window was recorded: the switch disarms itself at starts_at_ms."
    )


class DisarmResult(_Out):
    """200 when every targeted switch is disarmed and its venue timer off (or impossible to switch
    off, Gemini); 207 otherwise."""

    action: Literal["disarm"] = "disarm"
    ok: bool
    at_ms: int
    starts_at_ms: int | None = Field(default=None, description="A planned window's start; None: now.")
    until_ms: int
    for_seconds: int
    actor: str
    reason: str
    off: bool = Field(default=False, description="An off period (MaxOffSeconds), not a disarm.")
    plan_id: str | None = Field(default=None, description="A planned window's id, the same on every switch.")
    replaced: str | None = Field(default=None, description="The planned window this one replaced.")
    switches: list[DisarmSwitchResult]
    venue_problems: list[VenueProblem]
    notes: list[str]
    message: str


class ArmSwitchResult(_Out):
    venue: str
    account: str
    previous_mode: str
    mode: str
    changed: bool
    error: str | None = None
    protected: str | None = Field(
        default=None,
        description=(
            "What the arm's own tick did at once: the venue timer set from a fresh beat (replacing one "
            "a kill left running), the book swept (the trader is dead), or why neither."
        ),
    )
    plans_cancelled: list[PlanOut] = Field(
        default_factory=list,
        description="Planned windows this arm cancelled: those named in cancel_plans, and any already "
        "due that had not opened (arm means protect now).",
    )
    plans_kept: list[PlanOut] = Field(
        default_factory=list, description="Planned windows still ahead: each will disarm the switch."
    )


class ArmResult(_Out):
    """200 when every targeted switch is armed (or already was); 207 otherwise."""

    action: Literal["arm"] = "arm"
    ok: bool
    at_ms: int
    actor: str
    reason: str
    switches: list[ArmSwitchResult]
    venue_problems: list[VenueProblem]
    message: str


class AuditOut(_Out):
    at_ms: int
    action: str
    actor: str
    reason: str
    result: str
    details: dict[str, Any]


class SwitchStatus(_Out):
    """One switch as stored in the ControlTable (no venue is called to build it)."""

    venue: str
    account: str
    mode: Literal["armed", "disarmed", "killed"]
    mode_detail: str
    version: int
    disarmed_until_ms: int | None
    disarm_seconds_left: float | None
    reason: str | None
    changed_by: str | None
    changed_at_ms: int | None
    last_tick_ms: int | None
    last_tick_age_s: float | None
    deadline_ms: int | None = Field(
        description="What the fleet last set the venue timer to (None: off/unknown)."
    )
    deadline_seconds_left: float | None
    last_beat_ms: int | None
    dead_since_ms: int | None
    native_available: bool
    native_reason: str | None
    triggers_today: int | None = Field(description="Hyperliquid: native fires used today (UTC).")
    trigger_budget: int | None
    last_error: str | None
    consecutive_errors: int
    last_sweep_ms: int | None
    last_sweep: str | None
    scheduled_disarm_from_ms: int | None = Field(
        default=None, description="The earliest planned window's start (every plan: `plans`)."
    )
    systems: list[str] = Field(
        default_factory=list, description="The trading systems that gate it (empty: the stack's own)."
    )
    scheduled_disarm_until_ms: int | None = None
    off: bool = Field(
        default=False, description="Disarmed for an off period: the trader's death is not alarmed."
    )
    scheduled_off: bool = Field(default=False, description="The earliest planned window is an off period.")
    plans: list[PlanOut] = Field(default_factory=list, description="Every planned window, earliest first.")
    retired_at_ms: int | None = Field(
        default=None,
        description="When the account left protection (retired or out of the secret) and its venue timer "
        "was switched off; None while protected.",
    )
    recent_audit: list[AuditOut]


class BoundsOut(_Out):
    """Seconds from the trader's last beat until its orders are gone, at worst."""

    watchdog_s: float = Field(description="The fleet's own sweep (needs AWS and this code alive).")
    native_s: float | None = Field(
        description="The venue's own timer (fires even if AWS is gone); null where the venue has none a "
        "stateless fleet can hold: its bound is the watchdog's alone, and with the fleet gone nothing "
        "protects the book."
    )


class VenueStatus(_Out):
    venue: str
    timer_kind: str
    can_disarm: bool
    reaction_bounds: BoundsOut
    switches: list[SwitchStatus]
    note: str | None = None


class LivenessOut(_Out):
    system: str
    verdict: str
    alive: bool
    beat_ms: int | None
    age_s: float | None
    detail: str


class TimingOut(_Out):
    """The configured S, T, G, K (seconds), the watchdog's sweep window and the longest disarm."""

    max_staleness_s: float
    tick_s: float
    grace_s: float
    skew_s: float
    sweep_window_s: float
    max_disarm_s: float
    max_off_s: float = Field(default=0, description="The longest off period (0: not allowed).")


class StatusResult(_Out):
    action: Literal["status"] = "status"
    at_ms: int
    liveness: LivenessOut = Field(description="The stack's own trading system (SystemName).")
    systems: list[LivenessOut] = Field(
        default_factory=list,
        description="Every trading system some switch is gated on (the stack's own included when used).",
    )
    timing: TimingOut
    venues: list[VenueStatus]
