"""What the refresher Lambda does with one Scheduler event: drop it if late, else run the loop."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from deadman.app.refresh import Refresher
from deadman.core.clock import Clock, system_clock
from deadman.core.errors import ConfigError
from deadman.stores.lease import Lease

# A Scheduler event whose scheduled time is further back than this is dropped, never run late
# (matches MaximumEventAgeInSeconds=60 on the schedule, plus the in-minute jitter).
MAX_EVENT_LATENESS_MS = 90_000


class SchedulerEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    venue: str
    scheduled_time: dt.datetime | None = None
    execution_id: str | None = None


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
        parsed = SchedulerEvent.model_validate(event)
    except ValidationError as exc:
        return {"result": "rejected", "why": f"not a scheduler event: {exc.errors()[0]['msg']}"}
    venue = refresher.venue
    if parsed.venue != venue:
        raise ConfigError(f"event for venue {parsed.venue!r} reached the {venue!r} refresher")
    now = clock()
    if parsed.scheduled_time is not None:
        lateness = now - int(parsed.scheduled_time.timestamp() * 1000)
        if lateness > MAX_EVENT_LATENESS_MS:
            return {"result": "dropped", "why": f"event {lateness / 1000:.0f} s late"}
    tick_ms = refresher.config.timing.tick_ms
    lease = Lease(
        refresher.config.control_table,
        venue,
        invocation_id,
        clock=clock,
        ttl_ms=lease_ttl_ms or 2 * tick_ms + 10_000,
        client=refresher.switches.client,
    )
    outcome = refresher.run(lease, remaining_ms=remaining_ms, on_tick=on_tick)
    return {"result": "ran", "outcome": outcome}
