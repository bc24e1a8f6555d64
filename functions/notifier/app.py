"""Notifier Lambda: the ControlTable's stream (new audit entries only, filtered by the event source
mapping) to one SNS message per action: kills, disarms, arms, deaths, recoveries, venue timer fires."""

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from boto3.dynamodb.types import TypeDeserializer

from deadman.notify import notifications, publish

logger = Logger()
sns = boto3.client("sns")
TOPIC_ARN = os.environ["TOPIC_ARN"]
STACK = os.environ.get("STACK_NAME", "deadman")
_de = TypeDeserializer()


def entries(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The audit entries a stream batch inserted, as plain Python values."""
    out = []
    for record in event.get("Records", []):
        image = record.get("dynamodb", {}).get("NewImage")
        if (
            record.get("eventName") == "INSERT"
            and image
            and image.get("pk", {}).get("S", "").startswith("AUDIT#")
        ):
            out.append({k: _de.deserialize(v) for k, v in image.items()})
    return out


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    sent = 0
    for note in notifications(entries(event), stack=STACK):
        publish(sns, TOPIC_ARN, note)  # an error fails the batch: the stream retries it (bisected)
        logger.info("notified", subject=note.subject)
        sent += 1
    return {"notified": sent}
