"""The ControlTable stream's edges: a batch of audit entries to one SNS message per action (the
notifier), and each audit entry to its write-once copy in S3 (the archiver)."""

from __future__ import annotations

from typing import Any

from deadman.app.notify import notifications, publish
from deadman.stores.attributes import from_item
from deadman.stores.audit_copy import AuditArchive

# How DynamoDB's TTL signs the removals it makes in a stream record.
TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


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


def archive_batch(event: dict[str, Any], *, archive: AuditArchive, log: Any) -> dict[str, int]:
    """Copy every audit entry the batch inserted, and record every audit entry it saw modified or
    removed other than by TTL (nothing of deadman's modifies or deletes one). An error fails the
    batch and the stream retries it (bisected); an entry copied before is left as it is."""
    counts = {"copied": 0, "already": 0, "altered": 0}
    for record in event.get("Records", []):
        change = record.get("dynamodb", {})
        keys = from_item(change.get("Keys") or {})
        if not str(keys.get("pk", "")).startswith("AUDIT#"):
            continue
        name = record.get("eventName")
        image = change.get("NewImage")
        if name == "INSERT" and image:
            counts["copied" if archive.put_entry(from_item(image)) else "already"] += 1
        elif name in ("MODIFY", "REMOVE") and record.get("userIdentity") != TTL_IDENTITY:
            archive.put_alteration(record, keys, from_item(image) if image else None)
            counts["altered"] += 1
    log.info("archived", **counts)
    return counts
