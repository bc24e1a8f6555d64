"""The audit log in the ControlTable: each switch's entries appended as a hash chain, read newest first.

Several writers append to one switch's chain at once (a refresher's tick, a kill, a disarm or arm).
They serialize on DynamoDB alone, without a transaction or a lock: an append reads the chain's head
(one strongly consistent Query, newest first, one item), then writes entry head + 1 at its position
only if that position is free (`attribute_not_exists`). Two writers that read the same head cannot
both win; the loser reads the head again and links behind the winner, a bounded number of times.
A write whose answer was lost and that is tried again finds itself stored (same hash): done, not a
conflict. So the chain never forks, and an append never waits long: it gives up after
APPEND_ATTEMPTS or APPEND_WITHIN_MS, raising AuditAppendFailed, which the tick and the controls
log and count (an audit write never stops a tick or a kill).

Keys: `pk = AUDIT#<venue>#<account>`, `sk = C#<position, 12 digits>` (`deadman.core.audit_chain`).
Entries written before the chain existed keep their `<ms>#<order>#<id>` keys; those sort below
`C#`, so newest first is still chain entries first, then the older ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import partial
from typing import Any

from deadman.core.audit_chain import GENESIS, SK_PREFIX, VERSION, Entry, seq_of, sort_key
from deadman.core.errors import DeadmanError
from deadman.stores.attributes import checked_item, from_item, to_attribute
from deadman.stores.retry import Patience, Retrying, impatient

AUDIT_RETENTION_S = 400 * 86_400  # the table's TTL on audit entries (the S3 copy keeps them longer)
APPEND_ATTEMPTS = 4
# No append starts a new try later than this after it began: about what one write was allowed
# before the chain (one call within the stores' 4 s), so the tick and the kill wait no longer.
APPEND_WITHIN_MS = 4_000
# Counted (through `on_event`) when an append lost a race and linked again, and when one gave up.
CONFLICT_METRIC = "AuditConflicts"
FAILURE_METRIC = "AuditAppendFailures"


class AuditAppendFailed(DeadmanError):
    """The entry could not be appended (lost every race, or the table failed): it is not stored."""


def audit_pk(venue: str, account: str) -> str:
    return f"AUDIT#{venue}#{account}"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


class AuditLog:
    def __init__(
        self,
        table_name: str,
        *,
        client: Any,
        patience: Patience = impatient,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self._client = client
        self._table = table_name
        self._patience = patience
        self._on_event = on_event or (lambda name: None)

    def append(
        self,
        venue: str,
        account: str,
        *,
        action: str,
        actor: str,
        reason: str,
        result: str,
        now_ms: int,
        details: dict[str, Any] | None = None,
    ) -> Entry:
        """Link one entry at the head of the switch's chain; AuditAppendFailed if it cannot."""
        try:
            return self._append(
                audit_pk(venue, account),
                at_ms=now_ms,
                action=action,
                actor=actor,
                reason=reason or "-",
                result=result,
                details=json.dumps(details or {}, sort_keys=True, default=str),
                expires_at=now_ms // 1000 + AUDIT_RETENTION_S,
            )
        except Exception:
            self._on_event(FAILURE_METRIC)
            raise

    def _append(self, pk: str, **fields: Any) -> Entry:
        patience, over = self._budget()
        for attempt in range(APPEND_ATTEMPTS):
            if attempt and over():
                break
            seq, prev = self._head(pk, patience)
            entry = Entry.link(pk=pk, seq=seq + 1, prev=prev, **fields)
            item = {name: to_attribute(value) for name, value in entry.record().items() if name != "v"}
            item["sk"] = {"S": sort_key(entry.seq)}
            item["chain_v"] = {"N": str(VERSION)}
            try:
                patience(
                    partial(
                        self._client.put_item,
                        TableName=self._table,
                        Item=item,
                        ConditionExpression="attribute_not_exists(sk)",
                        ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    )
                )
            except self._client.exceptions.ConditionalCheckFailedException as exc:
                stored = exc.response.get("Item")
                if stored is not None and from_item(stored).get("hash") == entry.hash:
                    return entry  # this very entry, stored by a try whose answer was lost
                self._on_event(CONFLICT_METRIC)
                continue
            return entry
        raise AuditAppendFailed(f"{pk}: another writer took every position tried; entry not stored")

    def _budget(self) -> tuple[Patience, Callable[[], bool]]:
        """The patience for an append's calls, and whether its time is up: one budget for the whole
        append (reads, writes, conflicts), on the stores' clock when they retry."""
        if isinstance(self._patience, Retrying):
            clock = self._patience.clock
            until = clock() + APPEND_WITHIN_MS
            return self._patience.until(until), lambda: clock() >= until
        return self._patience, lambda: False

    def _head(self, pk: str, patience: Patience) -> tuple[int, str]:
        """The newest chain position and its hash; (0, GENESIS) for a chain not begun."""
        resp = patience(
            lambda: self._query(
                pk,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :chain)",
                ExpressionAttributeValues={":pk": {"S": pk}, ":chain": {"S": SK_PREFIX}},
                ScanIndexForward=False,
                Limit=1,
                ConsistentRead=True,
            )
        )
        items = resp.get("Items") or []
        if not items:
            return 0, GENESIS
        head = from_item(items[0])
        seq = seq_of(str(head.get("sk", "")))
        if seq is None:  # pragma: no cover - the key condition only returns chain keys
            raise AuditAppendFailed(f"{pk}: the chain's head has no position")
        # A head whose hash is unreadable is linked to as it stands: verify names it.
        return seq, str(head.get("hash", ""))

    def _query(self, pk: str, **params: Any) -> dict[str, Any]:
        """One page of a switch's entries, every one checked to be of that switch (an answer about
        another partition is an unverified answer: tried again, never read as this history)."""
        resp: dict[str, Any] = self._client.query(TableName=self._table, **params)
        for raw in resp.get("Items", []):
            checked_item(raw, {"pk": {"S": pk}}, operation="Query", required=True)
        return resp

    def recent(self, venue: str, account: str, limit: int = 10) -> list[dict[str, Any]]:
        """The newest `limit` entries, newest first, `details` parsed."""
        pk = audit_pk(venue, account)
        resp = self._patience(
            lambda: self._query(
                pk,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": pk}},
                ScanIndexForward=False,
                Limit=limit,
            )
        )
        out = []
        for raw in resp.get("Items", []):
            item = {k: _plain(v) for k, v in from_item(raw).items()}
            item["details"] = json.loads(item.get("details") or "{}")
            out.append(item)
        return out

    def history(self, venue: str, account: str) -> Iterator[dict[str, Any]]:
        """Every entry the table holds for the switch, oldest first, as stored (numbers as Decimal)."""
        pk = audit_pk(venue, account)
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True,
        }
        while True:
            resp = self._patience(lambda: self._query(pk, **kwargs))
            yield from (from_item(raw) for raw in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
