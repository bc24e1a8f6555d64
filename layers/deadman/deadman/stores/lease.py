"""One tick loop per venue, whatever the scheduler does: a DynamoDB lease with handover.

An invocation either becomes the venue's loop or leaves at once. If no live loop holds the
lease, the newcomer takes it. If one does, the newcomer registers as its successor; the running
loop sees that at its next tick boundary, hands the lease over and returns, and the newcomer ticks
on at once. A second newcomer while a successor is registered leaves. So the gap between two ticks
is at most one tick plus one handover, wherever the scheduler lands in its minute, and a loop
never needs to outlive the next scheduled invocation (~1-2 min) to keep the chain going.

Item: `pk = LEASE#<venue>`, `sk = #`: holder, holder_until_ms (renewed every tick), next_holder,
next_until_ms.

A successor's registration is short-lived (SUCCESSOR_TTL_MS) and refreshed while it waits, and the
loop hands over only to a registration still fresh: a successor that died after registering is
never handed the lease. `held_until_ms` is how long this owner holds the lease for sure (by its last
write that DynamoDB confirmed): a loop whose renewals fail keeps ticking until then, and no longer.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from deadman.core.clock import Clock

# A waiting successor refreshes its registration every second; one not refreshed for this long is
# taken for dead (a crashed or timed-out invocation) and is not handed the lease.
SUCCESSOR_TTL_MS = 3_000
SUCCESSOR_REFRESH_MS = 1_000


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
            from deadman.stores.dynamo import dynamodb_client

            client = dynamodb_client()
        self._client = client
        self._table = table_name
        self._key = {"pk": {"S": f"LEASE#{venue}"}, "sk": {"S": "#"}}
        self.owner = owner
        self._clock = clock
        self._ttl_ms = ttl_ms
        self.held_until_ms: int | None = None
        self.store_errors = 0

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
            ":soon": {"N": str(now + SUCCESSOR_TTL_MS)},
        }
        values.update(extra)
        return values

    def _hold(
        self, expression: str, condition: str, remove: str = "", values: dict[str, Any] | None = None
    ) -> bool:
        """A write that makes or keeps us the holder; on success we hold it until its `:until`."""
        values = values or self._values()
        if not self._update(expression, condition, values, remove=remove):
            return False
        self.held_until_ms = int(values[":until"]["N"])
        return True

    def join(self) -> Role:
        if self._hold(
            "SET holder = :me, holder_until_ms = :until",
            "attribute_not_exists(holder) OR holder_until_ms < :now OR holder = :me",
            remove="next_holder, next_until_ms",
        ):
            return Role.LOOP
        if self._update(
            "SET next_holder = :me, next_until_ms = :soon",
            "attribute_not_exists(next_holder) OR next_until_ms < :now OR next_holder = :me",
            self._values(),
        ):
            return Role.SUCCESSOR
        return Role.LEAVE

    def await_ownership(self, *, timeout_ms: int, sleep: Callable[[float], None], poll_ms: int = 100) -> bool:
        """As successor: wait until the loop hands over, or take over if it stopped renewing.

        Polled by a consistent read; when the read fails, by conditional writes that can only succeed
        for the holder (so a handover is seen even while reads fail). Store errors are ridden out:
        the registration lapses by itself if this invocation cannot keep it fresh, and then the loop
        simply keeps the lease."""
        give_up = self._clock() + timeout_ms
        refreshed = self._clock()
        while self._clock() < give_up:
            try:
                verdict = self._poll()
                if verdict is not None:
                    return verdict
                if self._clock() - refreshed >= SUCCESSOR_REFRESH_MS:
                    if not self._update("SET next_until_ms = :soon", "next_holder = :me", self._values()):
                        continue  # handed over meanwhile, or superseded: the next poll says which
                    refreshed = self._clock()
            except Exception:
                self.store_errors += 1  # a DynamoDB blip: poll again until the timeout
            sleep(poll_ms / 1000)
        return False

    def _poll(self) -> bool | None:
        """True: ours now. False: superseded. None: keep waiting."""
        try:
            item = self._client.get_item(TableName=self._table, Key=self._key, ConsistentRead=True).get(
                "Item", {}
            )
        except Exception:
            self.store_errors += 1
            # Blind: a write that holds only for the holder tells whether the loop handed over.
            if self._hold("SET holder_until_ms = :until", "holder = :me"):
                return True
            return True if self._take_over() else None
        if item.get("holder", {}).get("S") == self.owner:
            until = item.get("holder_until_ms", {}).get("N")
            self.held_until_ms = int(until) if until is not None else None
            return True
        if item.get("next_holder", {}).get("S") != self.owner:
            return False  # superseded (our registration lapsed and another took it)
        return True if self._take_over() else None

    def _take_over(self) -> bool:
        """The loop stopped renewing (crashed, timed out): take the lease once it has run out."""
        return self._hold(
            "SET holder = :me, holder_until_ms = :until",
            "next_holder = :me AND holder_until_ms < :now",
            remove="next_holder, next_until_ms",
        )

    def renew(self) -> Renewal:
        """At a tick boundary: keep the lease, or hand it to a registered successor that is alive.

        Both conditions are judged at one `:now`, so exactly one holds while we are the holder (with
        a `:now` each, a successor lapsing between the two calls would fail both). Raises on a store
        error: the caller still holds the lease until `held_until_ms`, unless a handover it cannot
        see was applied (a lost answer): renewing again tells which."""
        values = self._values()
        if self._hold(
            "SET holder_until_ms = :until",
            "holder = :me AND (attribute_not_exists(next_holder) OR next_until_ms < :now)",
            values=values,
        ):
            return Renewal.KEEP
        if self._update(
            "SET holder = next_holder, holder_until_ms = :until",
            "holder = :me AND attribute_exists(next_holder) AND next_until_ms >= :now",
            values,
            remove="next_holder, next_until_ms",
        ):
            self.held_until_ms = None
            return Renewal.HANDED_OVER
        self.held_until_ms = None
        return Renewal.LOST

    def release(self) -> None:
        """Leaving without a successor: let the next invocation take over at once."""
        self.held_until_ms = None
        self._update(
            "SET holder_until_ms = :zero", "holder = :me", {":me": {"S": self.owner}, ":zero": {"N": "0"}}
        )
