"""Notifier Lambda: the ControlTable's stream (new audit entries only, filtered by the event source
mapping) to one SNS message per action: kills, disarms, arms, deaths, recoveries, venue timer fires."""

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger

from deadman.edges.stream import notify_batch

logger = Logger()
sns = boto3.client("sns")
TOPIC_ARN = os.environ["TOPIC_ARN"]
STACK = os.environ.get("STACK_NAME", "deadman")


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    return {"notified": notify_batch(event, sns=sns, topic_arn=TOPIC_ARN, stack=STACK, log=logger)}
