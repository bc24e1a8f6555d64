"""Archiver Lambda: the ControlTable's stream (audit entries only, filtered by the event source
mapping) to the audit log's write-once copy in S3 (Object Lock): one object per entry."""

from typing import Any

import boto3
from aws_lambda_powertools import Logger

from deadman.edges.observability import logger_sink
from deadman.edges.stream import archive_batch
from deadman.edges.wiring import archive_from_env

logger = Logger()
archive = archive_from_env(boto3.client("s3"), log=logger_sink(logger))


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    return archive_batch(event, archive=archive, log=logger)
