"""Disarm Lambda: POST /disarm (bounded, expires by itself) and POST /arm (API Gateway REST, IAM auth)."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths

from deadman.edges.api.routes import DISARM_ROUTES, build_app
from deadman.edges.observability import PowertoolsMetrics, logger_sink
from deadman.edges.wiring import control_from_env

logger = Logger()
metrics = Metrics()
sink = PowertoolsMetrics(metrics)
control = control_from_env(metrics=sink, log=logger_sink(logger))
app = build_app(control, DISARM_ROUTES, logger=logger)


# Flushed by the sink, not @metrics.log_metrics: a request that emits no metric (a 400) would make
# Powertools warn "No application metrics to publish" into the logs.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with sink.flushing():
        result: dict[str, Any] = app.resolve(event, context)
    return result
