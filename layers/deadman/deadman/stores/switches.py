"""Switch state and audit records in the ControlTable.

Every write is conditional on the `version` the writer read, so a concurrent writer is detected,
never overwritten (`SwitchConflict`). The one exception is the kill latch: it increments the
version unconditionally, so it always wins and every in-flight refresher write that read the old
version fails afterwards (promise 4).

Keys: switches `pk = SWITCH#<venue>`, `sk = <account>` (one Query lists a venue's switches).
The audit log beside them (`pk = AUDIT#<venue>#<account>`, one hash chain per switch) is
`deadman.stores.audit`; `audit` and `recent_audit` here write and read it with the same client.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from deadman.core.plans import Plan, ordered, plan_from_item, plan_id
from deadman.core.policy import Mode, SwitchView
from deadman.stores.attributes import checked_item, from_item, to_attribute
from deadman.stores.audit import AuditLog
from deadman.stores.retry import Patience, impatient


class SwitchConflict(Exception):
    """Someone else wrote the switch since it was read. `current` is the switch as it stands (from
    the refused write itself: no read needed, so it is known even while reads fail)."""

    def __init__(self, message: str, current: Switch | None = None) -> None:
        super().__init__(message)
        self.current = current


@dataclass(frozen=True)
class Switch:
    venue: str
    account: str
    mode: Mode = Mode.ARMED
    version: int = 0
    disarmed_until_ms: int | None = None
    reason: str | None = None
    changed_by: str | None = None
    changed_at_ms: int | None = None
    last_tick_ms: int | None = None
    deadline_ms: int | None = None
    last_beat_ms: int | None = None
    dead_since_ms: int | None = None
    native_available: bool = True
    native_reason: str | None = None
    native_checked_ms: int | None = None
    triggers_date: str | None = None
    triggers_count: int = 0
    last_error: str | None = None
    consecutive_errors: int = 0
    last_sweep_ms: int | None = None
    last_sweep: str | None = None
    # A venue request of a tick may be in flight until then (written before it leaves). A kill
    # outwaits it when it may extend (`inflight_extends`); a disarm outwaits any (a sweep too).
    inflight_until_ms: int | None = None
    inflight_extends: bool = True
    # Gemini without a kill key: when a sweep with the trading key saw cancels refused. Every call on
    # that key restarts Gemini's 30 s rule, so sweeps pause to let the venue's own cancel run out.
    sweep_rejected_ms: int | None = None
    # Planned disarms (maintenance windows), none overlapping another, each applied by the tick in
    # which it starts; earliest first.
    plans: tuple[Plan, ...] = ()
    # An off period: a disarm the operator declared as the trader being away on purpose (a weekend):
    # it may outlast MaxDisarmSeconds, and the trader's death while it lasts is not alarmed.
    off: bool = False
    # The disarm (or the planned one) switches the venue timer off instead of deferring it to its end
    # plus the bound: for Kraken's maintenance, when an armed timer cancels every order.
    timer_off: bool = False
    # The trading systems this switch was last judged on, comma-separated (None: the stack's own).
    systems: str | None = None
    # When the account was taken out of protection (retired, or out of the secret) and the venue timer
    # this fleet set on it switched off; None while it is protected.
    retired_at_ms: int | None = None

    @property
    def is_off(self) -> bool:
        return self.mode is Mode.DISARMED and self.off

    def view(self) -> SwitchView:
        return SwitchView(
            mode=self.mode,
            disarmed_until_ms=self.disarmed_until_ms,
            deadline_ms=self.deadline_ms,
            dead_since_ms=self.dead_since_ms,
            last_beat_ms=self.last_beat_ms,
            native_available=self.native_available,
            native_checked_ms=self.native_checked_ms,
            triggers_date=self.triggers_date,
            triggers_count=self.triggers_count,
            plans=self.plans,
            timer_off=self.timer_off,
        )

    def to_dict(self) -> dict[str, Any]:
        # Shallow on purpose: every field but the plans is a scalar, and `dataclasses.asdict`'s deep
        # copy was a tenth of a tick's CPU (two writes a tick).
        data = {f.name: getattr(self, f.name) for f in _FIELD_LIST}
        data["mode"] = self.mode.value
        data["plans"] = [p.to_item() for p in self.plans] or None
        return data


_FIELD_LIST = dataclasses.fields(Switch)
_FIELDS = {f.name for f in _FIELD_LIST}
_KEY_FIELDS = ("venue", "account")


def _to_python(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


# A switch written before several plans per switch kept its one plan in these fields.
_LEGACY_PLAN = ("scheduled_from_ms", "scheduled_until_ms", "scheduled_by", "scheduled_reason")
_LEGACY_FLAGS = ("scheduled_off", "scheduled_timer_off")


def switch_from_item(item: dict[str, Any]) -> Switch:
    data = {k: _to_python(v) for k, v in item.items() if k in _FIELDS and k != "plans"}
    data["mode"] = Mode(data.get("mode", Mode.ARMED.value))
    plans = [plan_from_item(p) for p in item.get("plans") or ()]
    if item.get("scheduled_from_ms") is not None and item.get("scheduled_until_ms") is not None:
        plans.append(_legacy_plan(item))
    return Switch(**data, plans=ordered(plans))


def _legacy_plan(item: dict[str, Any]) -> Plan:
    """The one plan a switch written by an earlier version carries; its next write stores it anew."""
    start, until, by, reason = (_to_python(item.get(k)) for k in _LEGACY_PLAN)
    off, timer_off = (bool(item.get(k, False)) for k in _LEGACY_FLAGS)
    return Plan(
        id=plan_id(start, until, str(by or ""), 0),
        from_ms=start,
        until_ms=until,
        by=str(by or ""),
        reason=str(reason or ""),
        off=off,
        timer_off=timer_off,
    )


class SwitchStore:
    def __init__(
        self,
        table_name: str,
        *,
        client: Any = None,
        patience: Patience = impatient,
        on_audit_event: Callable[[str], None] | None = None,
    ) -> None:
        if client is None:
            from deadman.stores.dynamo import dynamodb_client

            client = dynamodb_client()
        self._client = client
        self._patience = patience
        self._table = table_name
        # `on_audit_event` is told of an append that lost a race or gave up (metric names).
        self.audit_log = AuditLog(table_name, client=client, patience=patience, on_event=on_audit_event)

    @property
    def client(self) -> Any:
        """The DynamoDB client, for the lease that lives in the same table."""
        return self._client

    # -- switches -----------------------------------------------------------------------------
    @staticmethod
    def _key(venue: str, account: str) -> dict[str, Any]:
        return {"pk": {"S": f"SWITCH#{venue}"}, "sk": {"S": account}}

    def get(self, venue: str, account: str) -> Switch:
        """The stored switch, or a fresh armed one (version 0) if none was ever written."""
        key = self._key(venue, account)
        # Checked inside the retried call: an answer about another switch is tried again.
        item = self._patience(
            lambda: checked_item(
                self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item"),
                key,
                operation="GetItem",
            )
        )
        if item is None:
            return Switch(venue=venue, account=account)
        return switch_from_item(from_item(item))

    def _refusal_checked(self, write: Callable[[], Any], key: dict[str, Any]) -> Any:
        """`write()`, whose refusal's `Item` (the item as it stood) must be the one at `key`: the
        callers take it for this switch's state, and a foreign one is tried again."""
        try:
            return write()
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            checked_item(exc.response.get("Item"), key, operation="PutItem")
            raise

    def get_or_ask(self, venue: str, account: str) -> Switch:
        """The stored switch, read; or, if the read fails, asked for through a write that cannot
        apply (`get_by_write`): for a step that must not wait out a read outage."""
        try:
            return self.get(venue, account)
        except Exception:
            return self.get_by_write(venue, account)

    def get_by_write(self, venue: str, account: str) -> Switch:
        """The stored switch, learned from a conditional write that cannot succeed (its refusal
        carries the item): for when reads fail but writes do not (reads throttled, say). Costs one
        write; changes nothing."""
        key = self._key(venue, account)
        try:
            self._patience(
                lambda: self._refusal_checked(
                    lambda: self._client.put_item(
                        TableName=self._table,
                        Item=key,
                        ConditionExpression="attribute_not_exists(pk) AND attribute_exists(pk)",
                        ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    ),
                    key,
                )
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            stored = exc.response.get("Item")
            return switch_from_item(from_item(stored)) if stored else Switch(venue=venue, account=account)
        raise RuntimeError("a condition that cannot hold was accepted")  # pragma: no cover

    def _query(self, params: dict[str, Any], partition: dict[str, Any]) -> dict[str, Any]:
        """One page, every item of it in `partition` (or the page is tried again)."""
        resp: dict[str, Any] = self._client.query(**params)
        for item in resp.get("Items", []):
            checked_item(item, partition, operation="Query", required=True)
        return resp

    def list_venue(self, venue: str) -> list[Switch]:
        items: list[Switch] = []
        partition = {"pk": {"S": f"SWITCH#{venue}"}}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": partition["pk"]},
            "ConsistentRead": True,
        }
        while True:
            resp = self._patience(lambda: self._query(kwargs, partition))
            items.extend(switch_from_item(from_item(i)) for i in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return items
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def put(self, switch: Switch) -> Switch:
        """Write `switch` if the stored version is still `switch.version`; returns it at version + 1.
        Safe to try again after a lost answer: finding exactly this write stored is success."""
        new = dataclasses.replace(switch, version=switch.version + 1)
        key = self._key(switch.venue, switch.account)
        item = {k: to_attribute(v) for k, v in new.to_dict().items() if v is not None}
        item.update(key)
        if switch.version == 0:
            condition = "attribute_not_exists(pk)"
            values: dict[str, Any] = {}
        else:
            condition = "version = :v"
            values = {":v": {"N": str(switch.version)}}
        try:
            self._patience(
                lambda: self._refusal_checked(
                    lambda: self._client.put_item(
                        TableName=self._table,
                        Item=item,
                        ConditionExpression=condition,
                        ReturnValuesOnConditionCheckFailure="ALL_OLD",
                        **({"ExpressionAttributeValues": values} if values else {}),
                    ),
                    key,
                )
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            stored = exc.response.get("Item")
            current = switch_from_item(from_item(stored)) if stored else None
            if current == new:
                # This very write, applied by an earlier try whose answer was lost: not a conflict.
                return new
            raise SwitchConflict(
                f"{switch.venue}/{switch.account} changed since version {switch.version}", current
            ) from None
        return new

    def latch_kill(self, venue: str, account: str, *, actor: str, reason: str, now_ms: int) -> Switch:
        """Killed, unconditionally: bumps the version so every writer that read before loses."""
        key = self._key(venue, account)
        # An answer about another switch is tried again, like a lost one: the latch applies again,
        # which only bumps the version once more (every writer that read before still loses).
        latched = self._patience(
            lambda: checked_item(
                self._client.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression=(
                        "SET #m = :killed, reason = :r, changed_by = :a, changed_at_ms = :t, venue = :venue, "
                        "account = :acct REMOVE disarmed_until_ms ADD version :one"
                    ),
                    ExpressionAttributeNames={"#m": "mode"},
                    ExpressionAttributeValues={
                        ":killed": {"S": Mode.KILLED.value},
                        ":r": {"S": reason},
                        ":a": {"S": actor},
                        ":t": {"N": str(now_ms)},
                        ":venue": {"S": venue},
                        ":acct": {"S": account},
                        ":one": {"N": "1"},
                    },
                    ReturnValues="ALL_NEW",
                ).get("Attributes"),
                key,
                operation="UpdateItem",
                required=True,
            )
        )
        assert latched is not None  # required=True
        return switch_from_item(from_item(latched))

    # -- audit --------------------------------------------------------------------------------
    def audit(
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
    ) -> None:
        """Append one entry to the switch's audit chain (`AuditLog.append`)."""
        self.audit_log.append(
            venue,
            account,
            action=action,
            actor=actor,
            reason=reason,
            result=result,
            now_ms=now_ms,
            details=details,
        )

    def recent_audit(self, venue: str, account: str, limit: int = 10) -> list[dict[str, Any]]:
        return self.audit_log.recent(venue, account, limit)
