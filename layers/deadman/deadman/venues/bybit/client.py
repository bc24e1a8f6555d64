"""The Bybit client: the sweep across every category the account trades, and its open orders. No
timer: `extend` and `disarm` are refused (`NotSupportedError`) and the policy never asks for them.

A sweep cancels each (category, selector) of the account (`Account.scopes`) with the cancel-all
call, conditional and TP/SL orders included; a call that fails does not stop the others, and the
first failure is raised once every scope has been tried (the watchdog sweeps again). Bybit's cancel
is asynchronous ("the ack only means the request was accepted"): the result says pending, and a kill
confirms an empty book by listing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from deadman.core.venue import ExtendResult, OpenOrder, SweepResult
from deadman.venues.bybit.account import Account, Selector
from deadman.venues.bybit.wire import (
    CAPABILITIES,
    FUTURES_CANCEL_CAP,
    PATH_CANCEL_ALL,
    PATH_OPEN,
    VENUE,
    auth_headers,
    encode_body,
    encode_query,
    open_order,
    order_id,
    order_list,
    parse_response,
)
from deadman.venues.client import ClientBase
from deadman.venues.errors import NotSupportedError, TransientError, VenueError

PAGE: Final = 50  # the listing's largest page
MAX_PAGES: Final = 20  # per scope and listing; more is said, not hidden
# A futures cancel-all takes at most 500 orders: it is repeated while it comes back full.
MAX_CANCEL_PASSES: Final = 4


class Client(ClientBase[Account]):
    caps = CAPABILITIES

    def _base_url(self, account: Account) -> str:
        return account.base_url

    @property
    def _key_id(self) -> str:
        return f"bybit:{self._account.api_key}"

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str | int]] = (),
        payload: dict[str, Any] | None = None,
        send_by_ms: int | None = None,
    ) -> Any:
        account = self._account
        query_text = encode_query(query)
        body = encode_body(payload) if payload is not None else ""
        timestamp = str(self._clock())
        headers = auth_headers(
            timestamp,
            account.api_key,
            body if payload is not None else query_text,
            account.api_secret.reveal(),
            body=payload is not None,
        )
        self._check_send_by(send_by_ms)
        target = path + (f"?{query_text}" if query_text else "")
        resp = self._http.request(method, target, body=body.encode() or None, headers=headers)
        return parse_response(resp, path)

    # -- no timer -----------------------------------------------------------------------------------

    def extend(self, deadline_ms: int, *, send_by_ms: int | None = None) -> ExtendResult:
        raise NotSupportedError(
            VENUE, "no timer a stateless caller can hold (Disconnection Protect drops with a WebSocket)"
        )

    def disarm(self, *, send_by_ms: int | None = None) -> None:
        raise NotSupportedError(VENUE, "no timer to switch off")

    # -- the sweep ----------------------------------------------------------------------------------

    def sweep(self, *, send_by_ms: int | None = None) -> SweepResult:
        cancelled: list[str] = []
        errors: list[VenueError] = []
        for category, selector in self._account.scopes:
            payload: dict[str, Any] = {"category": category}
            if selector is not None:
                payload[selector[0]] = selector[1]
            try:
                for _ in range(MAX_CANCEL_PASSES):
                    got = self._cancel_all(payload, send_by_ms)
                    cancelled += got
                    if category in ("spot", "option") or len(got) < FUTURES_CANCEL_CAP:
                        break
                else:
                    errors.append(
                        TransientError(VENUE, f"{category}: more open orders than one sweep cancels")
                    )
            except VenueError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]
        return SweepResult(
            cancelled_count=len(cancelled),
            cancelled_ids=tuple(cancelled),
            pending=True,
            detail=f"cancelled {len(cancelled)} across {', '.join(self._account.categories)} (asynchronous)",
        )

    def _cancel_all(self, payload: dict[str, Any], send_by_ms: int | None) -> list[str]:
        result = self._call("POST", PATH_CANCEL_ALL, payload=payload, send_by_ms=send_by_ms)
        if result.get("success") == "0":
            raise TransientError(VENUE, f"cancel-all answered success 0 for {payload}")
        return [order_id(o, PATH_CANCEL_ALL) for o in order_list(result, PATH_CANCEL_ALL)]

    # -- open orders --------------------------------------------------------------------------------

    def open_orders(self) -> list[OpenOrder]:
        seen: dict[str, OpenOrder] = {}
        for category, selector in self._account.scopes:
            for order in self._listing(category, selector):
                seen.setdefault(order.order_id, order)
        return list(seen.values())

    def _listing(self, category: str, selector: Selector) -> list[OpenOrder]:
        orders: list[OpenOrder] = []
        cursor = ""
        for _ in range(MAX_PAGES):
            query: list[tuple[str, str | int]] = [("category", category)]
            if selector is not None:
                query.append(selector)
            query += [("openOnly", 0), ("limit", PAGE)]
            if cursor:
                query.append(("cursor", cursor))
            result = self._call("GET", PATH_OPEN, query=query)
            orders += [open_order(o, PATH_OPEN) for o in order_list(result, PATH_OPEN)]
            nxt = result.get("nextPageCursor")
            if not isinstance(nxt, str) or not nxt:
                return orders
            cursor = nxt
        raise TransientError(VENUE, f"{category}: more open orders than {MAX_PAGES} pages list")
