"""The notifier's edge: a DynamoDB stream batch of the ControlTable to one SNS message per action."""

from __future__ import annotations

from typing import Any

from deadman.app.notify import notifications, publish
from deadman.stores.attributes import from_item


def audit_entries(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The audit entries a stream batch inserted, as plain Python values."""
    out = []
    for record in event.get("Records", []):
        image = record.get("dynamodb", {}).get("NewImage")
        if (
            record.get("eventName") == "INSERT"
            and image
            and image.get("pk", {}).get("S", "").startswith("AUDIT#")
        ):
            out.append(from_item(image))
    return out


def notify_batch(event: dict[str, Any], *, sns: Any, topic_arn: str, stack: str, log: Any) -> int:
    """Publish what the batch's audit entries say; an error fails the batch, and the stream retries
    it (bisected), so nothing is lost and at most a message is repeated."""
    sent = 0
    for note in notifications(audit_entries(event), stack=stack):
        publish(sns, topic_arn, note)
        log.info("notified", subject=note.subject)
        sent += 1
    return sent
