"""What the refresher Lambda does with one Scheduler event: drop it if late, else run the loop."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from deadman.app.refresh import Refresher
from deadman.core.clock import Clock, system_clock
from deadman.core.errors import ConfigError
from deadman.stores.lease import Lease

# A Scheduler event whose scheduled time is further back than this is dropped, never run late
# (matches MaximumEventAgeInSeconds=60 on the schedule, plus the in-minute jitter).
MAX_EVENT_LATENESS_MS = 90_000


@dataclass(frozen=True)
class SchedulerEvent:
    """The refresher schedule's input (template.yaml): which venue, and when Scheduler meant it to run.
    Parsed by hand, not by pydantic: a refresher's cold start should not pay for a validation library
    to read three fields. Unknown fields are ignored."""

    venue: str
    scheduled_time: dt.datetime | None = None
    execution_id: str | None = None

    @classmethod
    def parse(cls, event: object) -> SchedulerEvent:
        if not isinstance(event, dict):
            raise ValueError("the event is not a JSON object")
        venue = event.get("venue")
        if not isinstance(venue, str) or not venue:
            raise ValueError("venue: a non-empty string is required")
        raw_time = event.get("scheduled_time")
        when: dt.datetime | None = None
        if raw_time is not None:
            if not isinstance(raw_time, str):
                raise ValueError("scheduled_time: an ISO 8601 time is required")
            try:
                when = dt.datetime.fromisoformat(raw_time.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"scheduled_time: {raw_time[:40]!r} is not an ISO 8601 time") from None
            if when.tzinfo is None:
                raise ValueError("scheduled_time: the time needs its zone (Scheduler sends Z)")
        execution_id = event.get("execution_id")
        return cls(venue, when, execution_id if isinstance(execution_id, str) else None)


def handle_schedule(
    event: dict[str, Any],
    *,
    invocation_id: str,
    remaining_ms: Any,
    refresher: Refresher,
    clock: Clock = system_clock,
    lease_ttl_ms: int | None = None,
    on_tick: Any = None,
) -> dict[str, Any]:
    try:
        parsed = SchedulerEvent.parse(event)
    except ValueError as exc:
        return {"result": "rejected", "why": f"not a scheduler event: {exc}"}
    venue = refresher.venue
    if parsed.venue != venue:
        raise ConfigError(f"event for venue {parsed.venue!r} reached the {venue!r} refresher")
    now = clock()
    if parsed.scheduled_time is not None:
        lateness = now - int(parsed.scheduled_time.timestamp() * 1000)
        if lateness > MAX_EVENT_LATENESS_MS:
            return {"result": "dropped", "why": f"event {lateness / 1000:.0f} s late"}
    lease = Lease(
        refresher.config.control_table,
        venue,
        invocation_id,
        clock=clock,
        ttl_ms=lease_ttl_ms or refresher.config.timing.lease_ttl_ms,
        client=refresher.switches.client,
    )
    outcome = refresher.run(lease, remaining_ms=remaining_ms, on_tick=on_tick)
    return {"result": "ran", "outcome": outcome}
