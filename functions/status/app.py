"""Status Lambda: GET /status (API Gateway REST, IAM auth). Reads DynamoDB only, never a venue."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from deadman.edges.api.routes import STATUS_ROUTES, build_app
from deadman.edges.observability import logger_sink
from deadman.edges.wiring import control_from_env

logger = Logger()
control = control_from_env(log=logger_sink(logger))
app = build_app(control, STATUS_ROUTES, logger=logger)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result: dict[str, Any] = app.resolve(event, context)
    return result
