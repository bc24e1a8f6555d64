"""The BitMEX client: the timer pushed with a relative timeout bounded from our own clock, the
sweep, the open orders. Every request is signed at the last moment and carries an `api-expires` that
ends within the client's patience of its signing (`wire.expires_for`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from deadman.core.venue import ExtendResult, OpenOrder, SweepResult
from deadman.venues.bitmex.account import Account
from deadman.venues.bitmex.wire import (
    CAPABILITIES,
    PATH_CANCEL_AFTER,
    PATH_CANCEL_ALL,
    PATH_ORDERS,
    VENUE,
    auth_headers,
    check_timer_answer,
    expires_for,
    parse_cancel,
    parse_orders,
    parse_response,
    sign,
)
from deadman.venues.client import ClientBase
from deadman.venues.errors import StaleDecisionError, TransientError

ROUND_TRIPS_KEPT = 6  # about a minute of ticks
# A page of open orders (BitMEX caps a page; the sweep never needs the list, doctor and checkup do).
ORDERS_PAGE = 500
ORDERS_PAGES_MAX = 20


class Client(ClientBase[Account]):
    caps = CAPABILITIES
    # How long the last answered cancelAllAfters took from leaving to their answer.
    _round_trips: tuple[int, ...] = ()

    def _base_url(self, account: Account) -> str:
        return account.base_url

    @property
    def _key_id(self) -> str:
        return f"bitmex:{self._account.api_key}"  # BitMEX keys draw no nonces: an identity only

    def _call(
        self,
        method: str,
        path: str,
        body: Callable[[int], bytes] | None = None,
        *,
        send_by_ms: int | None = None,
    ) -> tuple[Any, int, int]:
        """The decoded answer, when the request left and when its answer came (our clock). `body` is
        built from the moment of signing, so that a relative timeout is computed with it."""
        now = self._clock()
        data = body(now) if body else b""
        expires = expires_for(now)
        headers = auth_headers(
            self._account.api_key,
            expires,
            sign(self._account.api_secret.reveal(), method, path, expires, data),
        )
        if data:
            headers["Content-Type"] = "application/json"
        self._check_send_by(send_by_ms)
        sent = self._clock()
        resp = self._http.request(method, path, body=data or None, headers=headers)
        answered = self._clock()
        return parse_response(resp, path), sent, answered

    def _timeout_for(self, deadline_ms: int, now_ms: int) -> int:
        """Whole ms from now to the deadline, less the longest recent round trip: BitMEX counts from
        the moment its engine takes the request, which we only know came before its answer. Early
        is harmless (the next tick extends again); 0 would switch the timer off, so never less than
        the minimum lead."""
        timeout = deadline_ms - now_ms - max(self._round_trips, default=0)
        if timeout < self.caps.min_lead_ms:
            raise StaleDecisionError(
                VENUE,
                f"deadline {deadline_ms} leaves {timeout} ms (< {self.caps.min_lead_ms}): not sent",
            )
        return timeout

    def extend(self, deadline_ms: int, *, send_by_ms: int | None = None) -> ExtendResult:
        """Set the timer to fire by `deadline_ms`. The answer names no time we rely on, so where the
        timer stands is bounded from our clock: BitMEX took the request before it answered, so it
        fires at the latest `answered + timeout`. That bound is `venue_deadline_ms`: a caller that
        sees it late sends again, aimed earlier by the round trip just seen."""
        sent_timeout: list[int] = []

        def body(now_ms: int) -> bytes:
            sent_timeout.append(self._timeout_for(deadline_ms, now_ms))
            return _json({"timeout": sent_timeout[-1]})

        payload, sent, answered = self._call("POST", PATH_CANCEL_AFTER, body, send_by_ms=send_by_ms)
        check_timer_answer(payload)
        timeout = sent_timeout[-1]
        self._round_trips = (*self._round_trips[-(ROUND_TRIPS_KEPT - 1) :], answered - sent)
        return ExtendResult(
            requested_deadline_ms=deadline_ms,
            venue_deadline_ms=answered + timeout,
            detail=f"cancelAllAfter timeout={timeout}",
        )

    def disarm(self, *, send_by_ms: int | None = None) -> None:
        payload, _sent, _answered = self._call(
            "POST", PATH_CANCEL_AFTER, lambda _now: _json({"timeout": 0}), send_by_ms=send_by_ms
        )
        check_timer_answer(payload)

    def sweep(self, *, send_by_ms: int | None = None) -> SweepResult:
        payload, _sent, _answered = self._call("DELETE", PATH_CANCEL_ALL, send_by_ms=send_by_ms)
        return parse_cancel(payload)

    def open_orders(self) -> list[OpenOrder]:
        orders: list[OpenOrder] = []
        for page in range(ORDERS_PAGES_MAX):
            query = urlencode(
                [("filter", '{"open":true}'), ("count", ORDERS_PAGE), ("start", page * ORDERS_PAGE)]
            )
            payload, _sent, _answered = self._call("GET", f"{PATH_ORDERS}?{query}")
            found = parse_orders(payload)
            orders.extend(found)
            if len(found) < ORDERS_PAGE:
                return orders
        raise TransientError(VENUE, f"more than {ORDERS_PAGE * ORDERS_PAGES_MAX} open orders: not all read")


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()
