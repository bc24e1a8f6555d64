"""The Hyperliquid client: the switch (`scheduleCancel`), the sweep by listing, and under them the
signed `/exchange` and unsigned `/info` calls.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deadman.core.clock import Clock
from deadman.core.concurrency import Parallel
from deadman.core.policy import TRANSIT_MS
from deadman.core.venue import ExtendResult, NonceSource, OpenOrder, OrderFailure, SweepResult
from deadman.venues.client import ClientBase
from deadman.venues.errors import AuthError, VenueError
from deadman.venues.http import DEFAULT_TIMEOUT, Session
from deadman.venues.hyperliquid import signing
from deadman.venues.hyperliquid.account import Account
from deadman.venues.hyperliquid.wire import (
    _JSON_HEADERS,
    BUILDER_DEX_OFFSET,
    BUILDER_DEX_STRIDE,
    CAPABILITIES,
    SPOT_ASSET_OFFSET,
    VENUE,
    _decode,
    _shape_error,
    _universe,
    classify_error,
)


@dataclass(frozen=True)
class _Listed:
    dex: str
    oid: int
    coin: str
    side: str
    price: str
    size: str


class Client(ClientBase[Account]):
    caps = CAPABILITIES

    def __init__(
        self,
        account: Account,
        *,
        nonces: NonceSource,
        clock: Clock,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        session: Session | None = None,
        parallel: Parallel | None = None,
    ) -> None:
        super().__init__(
            account, nonces=nonces, clock=clock, timeout=timeout, session=session, parallel=parallel
        )
        # Refused by the venue once the client would have stopped waiting (connect + read).
        self._expiry_ms = round((timeout[0] + timeout[1]) * 1000)
        self._agent_address: str | None = None
        self._assets: dict[str, dict[str, int]] | None = None  # dex -> coin -> asset id

    def _base_url(self, account: Account) -> str:
        return account.url

    @property
    def agent_address(self) -> str:
        """The signer's address (derived on first use: it loads the signing library)."""
        if self._agent_address is None:
            try:
                self._agent_address = signing.address_of(self._account.agent_private_key.reveal())
            except Exception as exc:  # never let a library message near the key reach a log
                raise AuthError(VENUE, f"agent key unusable: {type(exc).__name__}") from None
        return self._agent_address

    # -- the switch ----------------------------------------------------------------------------------

    def extend(self, deadline_ms: int, *, send_by_ms: int | None = None) -> ExtendResult:
        if isinstance(deadline_ms, bool) or not isinstance(deadline_ms, int) or deadline_ms <= 0:
            raise ValueError("deadline_ms must be a positive int (epoch ms)")
        self._exchange({"type": "scheduleCancel", "time": deadline_ms}, send_by_ms=send_by_ms)
        # The venue does not echo the time; it either took ours or said why not.
        return ExtendResult(
            requested_deadline_ms=deadline_ms, venue_deadline_ms=None, detail="scheduleCancel set"
        )

    def disarm(self, *, send_by_ms: int | None = None) -> None:
        # No "time" key at all: clears the schedule.
        self._exchange({"type": "scheduleCancel"}, send_by_ms=send_by_ms)

    # -- orders --------------------------------------------------------------------------------------

    def open_orders(self) -> list[OpenOrder]:
        listed: list[_Listed] = []
        for dex in self._account.dexes:
            listed.extend(self._list(dex))
        return [
            OpenOrder(order_id=str(o.oid), symbol=o.coin, side=o.side, price=o.price, size=o.size)
            for o in _dedupe(listed)
        ]

    def sweep(self, *, send_by_ms: int | None = None) -> SweepResult:
        listed: list[_Listed] = []
        failed: list[OrderFailure] = []
        errors: list[VenueError] = []
        for dex in self._account.dexes:
            try:
                listed.extend(self._list(dex))
            except VenueError as exc:
                errors.append(exc)
                failed.append(OrderFailure(order_id="", reason=f"dex {dex!r}: open orders not listed: {exc}"))
        if len(errors) == len(self._account.dexes):
            raise errors[0]  # nothing listed at all: the caller sees the venue's own error class

        orders = _dedupe(listed)
        if any(self._asset_id(o) is None for o in orders):
            # First sweep with orders, or a market listed since the last load.
            self._assets = {**(self._assets or {}), **self._load_assets(sorted({o.dex for o in orders}))}
        cancels: list[dict[str, int]] = []
        oids: list[int] = []
        for order in orders:
            asset = self._asset_id(order)
            if asset is None:
                failed.append(OrderFailure(str(order.oid), f"no asset id for coin {order.coin!r}"))
                continue
            cancels.append({"a": asset, "o": order.oid})
            oids.append(order.oid)

        cancelled: list[str] = []
        if cancels:
            response = self._exchange({"type": "cancel", "cancels": cancels}, send_by_ms=send_by_ms)
            statuses = _statuses(response)
            for i, oid in enumerate(oids):
                status = statuses[i] if i < len(statuses) else None
                if status == "success":
                    cancelled.append(str(oid))
                elif isinstance(status, Mapping) and "error" in status:
                    failed.append(OrderFailure(str(oid), str(status["error"])))
                else:
                    failed.append(OrderFailure(str(oid), f"no cancel status from the venue: {status!r}"))
        return SweepResult(
            cancelled_count=len(cancelled),
            cancelled_ids=tuple(cancelled),
            failed=tuple(failed),
            detail=f"{len(listed)} open on dexes {list(self._account.dexes)}; {len(cancelled)} cancelled",
            extra={"listed": len(listed)},
        )

    # -- wire ----------------------------------------------------------------------------------------

    def _info(self, request: dict[str, Any]) -> Any:
        body = json.dumps(request, separators=(",", ":")).encode()
        return _decode(self._http.post("/info", body=body, headers=_JSON_HEADERS), "/info")

    @property
    def _key_id(self) -> str:
        return f"{VENUE}:{self.agent_address}"

    def _exchange(self, action: dict[str, Any], *, send_by_ms: int | None = None) -> Any:
        account = self._account
        nonce = self._nonces.next(self._key_id, self._clock())
        # After the draw (a DynamoDB call): the venue refuses the action once this client has given
        # up on it, or once the fence it was sent under has ended, whichever comes first.
        expires_after = self._clock() + self._expiry_ms
        if send_by_ms is not None:
            expires_after = min(expires_after, send_by_ms + TRANSIT_MS)
        try:
            signature = signing.sign_l1_action(
                account.agent_private_key.reveal(),
                action,
                account.vault_address,
                nonce,
                expires_after,
                account.is_mainnet,
            )
        except Exception as exc:
            raise AuthError(VENUE, f"could not sign {action['type']}: {type(exc).__name__}") from None
        payload = {
            "action": action,
            "nonce": nonce,
            "signature": signature,
            "vaultAddress": account.vault_address,
            "expiresAfter": expires_after,
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        self._check_send_by(send_by_ms)
        answer = _decode(self._http.post("/exchange", body=body, headers=_JSON_HEADERS), "/exchange")
        if not isinstance(answer, Mapping):
            raise _shape_error("/exchange answer", answer)
        if answer.get("status") == "err":
            raise classify_error(str(answer.get("response")))
        if answer.get("status") != "ok":
            raise _shape_error("/exchange answer", answer)
        response = answer.get("response")
        # Single-status form: {"response": {"data": {"status": {"error": ...}}}}
        data = response.get("data") if isinstance(response, Mapping) else None
        single = data.get("status") if isinstance(data, Mapping) else None
        if isinstance(single, Mapping) and "error" in single:
            raise classify_error(str(single["error"]))
        return response

    def _list(self, dex: str) -> list[_Listed]:
        rows = self._info({"type": "openOrders", "user": self._account.orders_user, "dex": dex})
        if not isinstance(rows, list):
            raise _shape_error("openOrders answer", rows)
        listed = []
        for row in rows:
            if not (
                isinstance(row, Mapping)
                and isinstance(row.get("coin"), str)
                and isinstance(row.get("oid"), int)
                and not isinstance(row.get("oid"), bool)
            ):
                raise _shape_error("openOrders entry", row)
            side = {"B": "buy", "A": "sell"}.get(str(row.get("side")), str(row.get("side")))
            listed.append(
                _Listed(dex, row["oid"], row["coin"], side, str(row.get("limitPx")), str(row.get("sz")))
            )
        return listed

    def _asset_id(self, order: _Listed) -> int | None:
        return None if self._assets is None else self._assets.get(order.dex, {}).get(order.coin)

    def _load_assets(self, dexes: list[str]) -> dict[str, dict[str, int]]:
        """coin -> asset id tables for `dexes`. A dex missing from perpDexs gets no table: its
        orders are reported as failures rather than cancelled under a guessed id."""
        offsets: dict[str, int] = {"": 0}
        builder = [d for d in dexes if d]
        if builder:
            listing = self._info({"type": "perpDexs"})
            if not isinstance(listing, list):
                raise _shape_error("perpDexs answer", listing)
            # Entry 0 is null (the first perp dex); a builder dex's k is its position in this list.
            names = [entry.get("name") if isinstance(entry, Mapping) else None for entry in listing]
            for dex in builder:
                if dex in names:
                    offsets[dex] = BUILDER_DEX_OFFSET + names.index(dex) * BUILDER_DEX_STRIDE
        tables: dict[str, dict[str, int]] = {}
        for dex in dexes:
            if dex not in offsets:
                continue
            universe = _universe(self._info({"type": "meta", "dex": dex}), "meta answer")
            table = {
                str(coin.get("name")): offsets[dex] + i
                for i, coin in enumerate(universe)
                if isinstance(coin, Mapping)
            }
            if dex == "":  # spot orders are listed with the first perp dex
                table.update(self._spot_assets())
            tables[dex] = table
        return tables

    def _spot_assets(self) -> dict[str, int]:
        table: dict[str, int] = {}
        for pair in _universe(self._info({"type": "spotMeta"}), "spotMeta answer"):
            if not (isinstance(pair, Mapping) and isinstance(pair.get("index"), int)):
                raise _shape_error("spotMeta pair", pair)
            # openOrders names a spot market by its universe name: "PURR/USDC" or "@<index>".
            table[str(pair.get("name"))] = SPOT_ASSET_OFFSET + pair["index"]
        return table


def _dedupe(listed: list[_Listed]) -> list[_Listed]:
    seen: set[int] = set()
    out = []
    for order in listed:
        if order.oid not in seen:
            seen.add(order.oid)
            out.append(order)
    return out


def _statuses(response: Any) -> list[Any]:
    data = response.get("data") if isinstance(response, Mapping) else None
    statuses = data.get("statuses") if isinstance(data, Mapping) else None
    if not isinstance(statuses, list):
        # The cancel may or may not have happened: unknown outcome, the next sweep lists again.
        raise _shape_error("cancel answer", response)
    return statuses
