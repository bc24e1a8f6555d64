"""Refresher Lambda: one per venue (env VENUE), invoked every minute by EventBridge Scheduler."""

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics

from deadman.core.clock import system_clock
from deadman.edges.entry import handle_schedule
from deadman.edges.observability import PowertoolsMetrics, logger_sink
from deadman.edges.wiring import refresher_from_env

logger = Logger()
metrics = Metrics()
VENUE = os.environ.get("VENUE", "")
metrics.set_default_dimensions(venue=VENUE or "unknown")
sink = PowertoolsMetrics(metrics, venue=VENUE or "unknown")
refresher = refresher_from_env(VENUE, clock=system_clock, metrics=sink, log=logger_sink(logger))


# Metrics are flushed after every tick (an invocation lives for minutes), so no log_metrics
# decorator: it would only find an empty set at the end and warn about it on every invocation.
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with sink.flushing():
        return handle_schedule(
            event,
            invocation_id=context.aws_request_id,
            remaining_ms=context.get_remaining_time_in_millis,
            refresher=refresher,
            on_tick=lambda _report: sink.flush(),
        )
