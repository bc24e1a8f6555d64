"""Strictly increasing nonces per API key.

Every venue client asks a `NonceSource` for its next nonce, passing the smallest value the venue
would accept right now (`floor`, e.g. the current epoch ms). The source returns a value that is at
least `floor` and strictly greater than any value it issued before for that key. The in-memory
source serves one process; the DynamoDB source (`DynamoNonceSource`) is shared by every function
that signs with the key, so a refresher and the kill path never race each other into
`EAPI:Invalid nonce` lockouts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from deadman.core.venue import NonceSource
from deadman.stores.answers import unverified
from deadman.stores.attributes import checked_item
from deadman.stores.retry import Patience, impatient


class MemoryNonceSource:
    """Nonces for one process. `lead` starts each key that many units past its floor: break-glass
    signs with keys whose shared counter (in AWS, out of reach) may have run a little ahead of the
    clock, and a Gemini time-based key counts in whole seconds (a nonce within +/-30 s is taken).

    `widen(key_id)` doubles that key's lead, up to `max_lead`, after the venue refused a nonce as too
    small (a burst of kills can put a time-based key's shared counter several seconds ahead): the
    caller tries again with a nonce that far ahead, a bounded number of times."""

    def __init__(self, lead: int = 0, *, max_lead: int | None = None) -> None:
        self._last: dict[str, int] = {}
        self._lock = threading.Lock()
        self._lead = lead
        self._max_lead = lead if max_lead is None else max_lead
        self._leads: dict[str, int] = {}

    def next(self, key_id: str, floor: int) -> int:
        with self._lock:
            lead = self._leads.get(key_id, self._lead)
            value = max(floor + lead, self._last.get(key_id, floor - 1) + 1)
            self._last[key_id] = value
            return value

    def widen(self, key_id: str) -> bool:
        """Lead further ahead for this key; False when it is already at its maximum."""
        with self._lock:
            lead = self._leads.get(key_id, self._lead)
            wider = min(max(1, 2 * lead), self._max_lead)
            self._leads[key_id] = wider
            return wider > lead

    def issued(self, key_id: str, value: int) -> None:
        """A nonce another source issued for this key: later ones must exceed it."""
        with self._lock:
            if value > self._last.get(key_id, value - 1):
                self._last[key_id] = value


# A fallback nonce starts this many units past the clock (ms, or s for a Gemini time-based key), and
# each refusal of the venue doubles that lead, up to the maximum (a time-based Gemini key takes +/-30 s).
FALLBACK_LEAD = 2
FALLBACK_MAX_LEAD = 16


class FallbackNonceSource:
    """The shared counter while DynamoDB answers; the clock plus a lead (break-glass's way) when it
    does not, so that a kill still sweeps during a DynamoDB outage. Nonces from the counter are
    remembered here, so a fallback nonce is never below one this process drew; another process's
    counter may be a little ahead, which the lead (widened when the venue refuses) covers."""

    def __init__(
        self,
        primary: DynamoNonceSource | MemoryNonceSource,
        *,
        lead: int,
        max_lead: int,
        on_fallback: Callable[[str], None] | None = None,
    ) -> None:
        self._primary = primary
        self._memory = MemoryNonceSource(lead, max_lead=max_lead)
        self._on_fallback = on_fallback or (lambda key_id: None)

    def next(self, key_id: str, floor: int) -> int:
        try:
            value = self._primary.next(key_id, floor)
        except Exception as exc:
            self._on_fallback(f"{key_id}: {type(exc).__name__}")
            value = self._memory.next(key_id, floor)
            self._primary.issued(key_id, value)
            return value
        self._memory.issued(key_id, value)
        return value

    def widen(self, key_id: str) -> bool:
        return self._memory.widen(key_id)


# -- shared across functions: DynamoDB --------------------------------------------------------------

_MAX_ATTEMPTS = 20


class NonceExhaustedError(RuntimeError):
    """The nonce row kept changing under us for `_MAX_ATTEMPTS` tries; no nonce was issued."""


class DynamoNonceSource(NonceSource):
    """Nonces shared by every process that signs with a key, through one ControlTable row per key.

    Row: `pk = "NONCE#<key_id>"`, `sk = "#"`, `last` (N) = the last nonce issued for that key.

    `next(key_id, floor)` first tries `SET last = max(floor, known + 1)` under the condition that
    the stored value is smaller, so an uncontended call returns exactly `floor` (the venue's clock
    unit: close to wall-clock time). If another process got there first, the stored value is then
    >= that candidate >= floor, so an atomic `ADD last 1` issues the next value at once: two round
    trips at most, without a retry storm under contention. Every value issued for a key is strictly
    greater than every value issued before it, by any caller.

    A key's nonces must stay in ONE unit forever: Kraken and Hyperliquid pass epoch milliseconds,
    a Gemini time-based key passes epoch seconds. Never let one `key_id` see both: a seconds floor
    after a milliseconds nonce would be answered with a milliseconds-sized value, and a
    milliseconds floor after seconds nonces jumps the key's nonce forward by a factor of 1000.
    """

    def __init__(self, table_name: str, *, client: Any = None, patience: Patience = impatient) -> None:
        self.table_name = table_name
        # A try again after a lost answer only skips a value: nonces must rise, not be consecutive.
        self._patience = patience
        if client is None:
            from deadman.stores.dynamo import dynamodb_client

            client = dynamodb_client()
        self._client = client
        self._last: dict[str, int] = {}
        self._lock = threading.Lock()

    def next(self, key_id: str, floor: int) -> int:
        if not key_id:
            raise ValueError("key_id must be a non-empty string")
        if isinstance(floor, bool) or not isinstance(floor, int):
            raise TypeError("floor must be an int")
        key = {"pk": {"S": f"NONCE#{key_id}"}, "sk": {"S": "#"}}
        for _ in range(_MAX_ATTEMPTS):
            with self._lock:
                known = self._last.get(key_id)
            candidate = floor if known is None else max(floor, known + 1)
            value = self._set_if_greater(key, candidate)
            if value is None:
                value = self._increment(key)
            if value >= floor:
                self.issued(key_id, value)
                return value
            # Only if the row vanished between our two calls (ADD then starts from 0): try again.
            self.issued(key_id, value)
        raise NonceExhaustedError(f"no nonce issued for {key_id!r} after {_MAX_ATTEMPTS} attempts")

    def _set_if_greater(self, key: dict[str, Any], candidate: int) -> int | None:
        try:
            self._patience(
                lambda: _last(
                    self._client.update_item(
                        TableName=self.table_name,
                        Key=key,
                        UpdateExpression="SET #l = :c",
                        ConditionExpression="attribute_not_exists(#l) OR #l < :c",
                        ExpressionAttributeNames={"#l": "last"},
                        ExpressionAttributeValues={":c": {"N": str(candidate)}},
                        ReturnValues="ALL_NEW",
                    ),
                    key,
                    expected=candidate,
                )
            )
        except Exception as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return candidate

    def _increment(self, key: dict[str, Any]) -> int:
        return self._patience(
            lambda: _last(
                self._client.update_item(
                    TableName=self.table_name,
                    Key=key,
                    UpdateExpression="ADD #l :one",
                    ExpressionAttributeNames={"#l": "last"},
                    ExpressionAttributeValues={":one": {"N": "1"}},
                    ReturnValues="ALL_NEW",
                ),
                key,
            )
        )

    def issued(self, key_id: str, value: int) -> None:
        """A nonce issued for this key (here, or by a fallback while the table was out of reach):
        the next one drawn here is above it."""
        with self._lock:
            # Only ever forward: a slower thread's smaller value must not pull the hint back.
            if value > self._last.get(key_id, value - 1):
                self._last[key_id] = value


def _last(answer: Mapping[str, Any], key: dict[str, Any], expected: int | None = None) -> int:
    """The `last` an UpdateItem answered (ALL_NEW, so that the key is in it to check): the row must be
    this key's, and `last` a whole number (`expected`, when the write set it). Anything else is an
    answer not taken as one: tried again, as a lost one (a nonce is only ever skipped, never reused)."""
    item = checked_item(answer.get("Attributes"), key, operation="UpdateItem", required=True)
    raw = item.get("last") if item is not None else None
    text = raw.get("N") if isinstance(raw, Mapping) else None
    value = int(text) if isinstance(text, str) and text.isdigit() else None
    if value is None or (expected is not None and value != expected):
        raise unverified("UpdateItem", "holds no nonce, or not the one written")
    return value


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return code if isinstance(code, str) else None
    return None


def with_fallback(primary: DynamoNonceSource) -> FallbackNonceSource:
    """The functions' nonces: the shared counter, or the clock plus a lead while it cannot answer."""
    return FallbackNonceSource(primary, lead=FALLBACK_LEAD, max_lead=FALLBACK_MAX_LEAD)
