"""One tick loop per venue, whatever the scheduler does: a DynamoDB lease with handover.

An invocation either becomes the venue's loop or leaves at once. If no live loop holds the
lease, the newcomer takes it. If one does, the newcomer registers as its successor; the running
loop sees that at its next tick boundary, hands the lease over and returns, and the newcomer ticks
on at once. A second newcomer while a successor is registered leaves. So the gap between two ticks
is at most one tick plus one handover, wherever the scheduler lands in its minute, and a loop
never needs to outlive the next scheduled invocation (~1-2 min) to keep the chain going.

Item: `pk = LEASE#<venue>`, `sk = #`: holder, holder_until_ms (renewed every tick), next_holder,
next_until_ms.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from deadman.clock import Clock


class Role(StrEnum):
    LOOP = "loop"
    SUCCESSOR = "successor"
    LEAVE = "leave"


class Renewal(StrEnum):
    KEEP = "keep"  # still the loop: tick
    HANDED_OVER = "handed_over"  # a newer invocation took over: return
    LOST = "lost"  # the lease expired and someone else holds it: return without ticking


class Lease:
    def __init__(
        self, table_name: str, venue: str, owner: str, *, clock: Clock, ttl_ms: int, client: Any = None
    ) -> None:
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self._client = client
        self._table = table_name
        self._key = {"pk": {"S": f"LEASE#{venue}"}, "sk": {"S": "#"}}
        self.owner = owner
        self._clock = clock
        self._ttl_ms = ttl_ms

    def _update(self, expression: str, condition: str, values: dict[str, Any], remove: str = "") -> bool:
        # DynamoDB refuses attribute values an expression does not use.
        values = {k: v for k, v in values.items() if k in expression or k in condition}
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key,
                UpdateExpression=expression + (f" REMOVE {remove}" if remove else ""),
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _values(self, **extra: Any) -> dict[str, Any]:
        now = self._clock()
        values: dict[str, Any] = {
            ":me": {"S": self.owner},
            ":now": {"N": str(now)},
            ":until": {"N": str(now + self._ttl_ms)},
        }
        values.update(extra)
        return values

    def join(self) -> Role:
        if self._update(
            "SET holder = :me, holder_until_ms = :until",
            "attribute_not_exists(holder) OR holder_until_ms < :now OR holder = :me",
            self._values(),
            remove="next_holder, next_until_ms",
        ):
            return Role.LOOP
        if self._update(
            "SET next_holder = :me, next_until_ms = :until",
            "attribute_not_exists(next_holder) OR next_until_ms < :now",
            self._values(),
        ):
            return Role.SUCCESSOR
        return Role.LEAVE

    def await_ownership(self, *, timeout_ms: int, sleep: Callable[[float], None], poll_ms: int = 100) -> bool:
        """As successor: wait until the loop hands over, or take over if it stopped renewing."""
        give_up = self._clock() + timeout_ms
        while self._clock() < give_up:
            item = self._client.get_item(TableName=self._table, Key=self._key, ConsistentRead=True).get(
                "Item", {}
            )
            if item.get("holder", {}).get("S") == self.owner:
                return True
            if item.get("next_holder", {}).get("S") != self.owner:
                return False  # superseded (our registration expired and another took it)
            if self._update(
                "SET holder = :me, holder_until_ms = :until",
                "next_holder = :me AND holder_until_ms < :now",
                self._values(),
                remove="next_holder, next_until_ms",
            ):
                return True
            sleep(poll_ms / 1000)
        return False

    def renew(self) -> Renewal:
        """At a tick boundary: keep the lease, or hand it to a registered successor."""
        if self._update(
            "SET holder_until_ms = :until",
            "holder = :me AND (attribute_not_exists(next_holder) OR next_until_ms < :now)",
            self._values(),
        ):
            return Renewal.KEEP
        if self._update(
            "SET holder = next_holder, holder_until_ms = :until",
            "holder = :me AND attribute_exists(next_holder)",
            self._values(),
            remove="next_holder, next_until_ms",
        ):
            return Renewal.HANDED_OVER
        return Renewal.LOST

    def release(self) -> None:
        """Leaving without a successor: let the next invocation take over at once."""
        self._update(
            "SET holder_until_ms = :zero", "holder = :me", {":me": {"S": self.owner}, ":zero": {"N": "0"}}
        )
