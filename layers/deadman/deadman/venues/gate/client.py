"""The Gate client: every countdown timer of the account pushed and read back, the sweep across its
markets, and its open orders.

An account's markets each have a timer of their own, set by a request of its own, side by side: the
account counts as extended only when every one of them answered with a trigger time that belongs to
that request. One market refused or unreadable raises, and the tick counts the account not extended
(the timers already pushed fire at the deadline asked, never later)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from deadman.core.venue import ExtendResult, OpenOrder, OrderFailure, SweepResult
from deadman.venues.client import ClientBase
from deadman.venues.errors import StaleDecisionError, TransientError, VenueError
from deadman.venues.gate.account import Account
from deadman.venues.gate.wire import (
    CAPABILITIES,
    MAX_TIMEOUT_S,
    MIN_TIMEOUT_S,
    NOTHING_TO_CANCEL,
    SPOT,
    TRIGGER_SLACK_MS,
    VENUE,
    auth_headers,
    countdown_path,
    encode_body,
    encode_query,
    futures_order,
    market_root,
    order_id,
    order_list,
    parse_response,
    spot_orders,
    trigger_ms,
)

PAGE: Final = 100  # the futures listing's default and our page size
MAX_PAGES: Final = 10  # per settle and sweep; more open orders are swept by the next pass
TICKS_KEPT: Final = 6  # the transits of about a minute of ticks, every timer's
AIM_EARLY_MS: Final = 1_000


class Client(ClientBase[Account]):
    caps = CAPABILITIES
    _transits: tuple[int, ...] = ()  # how long the last answered countdowns took to arrive

    def _base_url(self, account: Account) -> str:
        return account.base_url

    @property
    def _key_id(self) -> str:
        return f"gate:{self._account.api_key}"

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str | int]] = (),
        payload: dict[str, Any] | None = None,
        send_by_ms: int | None = None,
    ) -> Any:
        sent_query, signed_query = encode_query(query)
        body = encode_body(payload) if payload is not None else b""
        account = self._account
        # Whole seconds, as the published vectors and ccxt send them (the window is 60 s).
        timestamp = str(self._clock() // 1000)
        headers = auth_headers(
            method, path, signed_query, body, timestamp, account.api_key, account.api_secret.reveal()
        )
        self._check_send_by(send_by_ms)
        target = path + (f"?{sent_query}" if sent_query else "")
        return parse_response(self._http.request(method, target, body=body or None, headers=headers), path)

    # -- the timers ---------------------------------------------------------------------------------

    def _countdown(
        self, market: str, pair: str | None, timeout_s: Callable[[], int], send_by_ms: int | None
    ) -> tuple[int, int, int, int]:
        """(triggerTime, the timeout sent, when it was sent, when it was answered), our clock."""
        timeout = timeout_s()  # at the moment of sending: the venue counts from the arrival
        payload: dict[str, Any] = {"timeout": timeout}
        if pair is not None:
            payload["currency_pair" if market == SPOT else "contract"] = pair
        path = countdown_path(market)
        sent = self._clock()
        answer = self._call("POST", path, payload=payload, send_by_ms=send_by_ms)
        answered = self._clock()
        return trigger_ms(answer, path), timeout, sent, answered

    def _timeout_for(self, deadline_ms: int) -> int:
        """Whole seconds from now to the deadline, rounded DOWN and aimed earlier by the transit recent
        answers showed: Gate counts from the request's arrival, so rounding up, or ignoring the way
        there, would put the timer past the deadline. A second earlier still, for a transit longer
        than any seen lately. Early is harmless: the next tick extends again."""
        aim = deadline_ms - AIM_EARLY_MS - max(self._transits, default=0)
        timeout_s = (aim - self._clock()) // 1000
        if timeout_s < MIN_TIMEOUT_S:
            # Gate takes no timeout under 5 s (and 0 switches the timer off): a longer one would land
            # past the deadline. The timer already set fires at an earlier deadline.
            raise StaleDecisionError(
                VENUE, f"deadline {deadline_ms} is less than {MIN_TIMEOUT_S} s away: not sent"
            )
        return min(timeout_s, MAX_TIMEOUT_S)

    def _landed(self, market: str, trigger: int, timeout_s: int, sent_ms: int, answered_ms: int) -> None:
        """The trigger time must belong to this request: the arrival it names (trigger less timeout)
        lies between our send and its answer, give or take the venue's own clock window. Anything
        else is no proof the timer was set by it."""
        arrival = trigger - timeout_s * 1000
        if not sent_ms - TRIGGER_SLACK_MS <= arrival <= answered_ms + TRIGGER_SLACK_MS:
            raise TransientError(
                VENUE,
                f"{market}: triggerTime {trigger} does not fit a {timeout_s} s countdown sent at {sent_ms} "
                f"and answered at {answered_ms}: not counted",
            )
        kept = TICKS_KEPT * len(self._account.timer_scopes)
        self._transits = (*self._transits[-(kept - 1) :], max(0, arrival - sent_ms))

    def extend(self, deadline_ms: int, *, send_by_ms: int | None = None) -> ExtendResult:
        """Set every timer of the account to fire by `deadline_ms`, the markets side by side. The answer's
        triggerTime says where each landed, and one that landed late is set once more at once; the
        latest is returned as `venue_deadline_ms` (a caller that sees it late sends again)."""
        timeouts: list[int] = []

        def market_timer(scope: tuple[str, str | None]) -> int:
            market, pair = scope

            def set_timer() -> int:
                trigger, timeout, sent, answered = self._countdown(
                    market, pair, lambda: self._timeout_for(deadline_ms), send_by_ms
                )
                self._landed(market, trigger, timeout, sent, answered)
                timeouts.append(timeout)
                return trigger

            return self._on_time(deadline_ms, set_timer)

        triggers = self._side_by_side(self._account.timer_scopes, market_timer)
        return ExtendResult(
            requested_deadline_ms=deadline_ms,
            venue_deadline_ms=max(triggers),
            detail=f"countdown_cancel_all x{len(triggers)} timeout={min(timeouts)}..{max(timeouts)}",
        )

    def disarm(self, *, send_by_ms: int | None = None) -> None:
        """Every timer off (`timeout: 0`), side by side; one market failing raises, its timer stands."""
        self._side_by_side(
            self._account.timer_scopes,
            lambda scope: self._countdown(scope[0], scope[1], lambda: 0, send_by_ms),
        )

    # -- the sweep ----------------------------------------------------------------------------------

    def sweep(self, *, send_by_ms: int | None = None) -> SweepResult:
        """Every market of the account, whatever pairs its timers are narrowed to. A call that fails
        does not stop the others: every market is swept as far as it can be, then the first failure is
        raised (the sweep is not complete, and the watchdog sweeps again)."""
        cancelled: list[str] = []
        failed: list[OrderFailure] = []
        errors: list[VenueError] = []
        for market in self._account.markets:
            root = market_root(market)
            if market == SPOT:
                steps = [
                    (f"{root}/orders", []),
                    (f"{root}/price_orders", [("account", "unified")] if self._account.unified else []),
                ]
            else:
                try:
                    contracts, whole = self._open_contracts(root)
                except VenueError as exc:
                    errors.append(exc)
                    contracts, whole = set(), True
                steps = [(f"{root}/orders", [("contract", c)]) for c in sorted(contracts)]
                steps.append((f"{root}/price_orders", []))
                if not whole:
                    errors.append(TransientError(VENUE, f"more open orders on {root} than one sweep lists"))
            for path, query in steps:
                try:
                    answer = self._call("DELETE", path, query=query, send_by_ms=send_by_ms)
                    self._read_cancels(order_list(answer, path), path, cancelled, failed)
                except VenueError as exc:
                    errors.append(exc)
        if errors:
            raise errors[0]
        return SweepResult(
            cancelled_count=len(cancelled),
            cancelled_ids=tuple(cancelled),
            failed=tuple(failed),
            detail=f"cancelled {len(cancelled)} across {', '.join(self._account.markets)}",
        )

    @staticmethod
    def _read_cancels(
        orders: list[dict[str, Any]], path: str, cancelled: list[str], failed: list[OrderFailure]
    ) -> None:
        for order in orders:
            oid = order_id(order, path)
            # Spot's cancel-all says per order whether it went; futures' lists what it cancelled.
            if order.get("succeeded", True) is True:
                cancelled.append(oid)
            elif order.get("label") not in NOTHING_TO_CANCEL:
                failed.append(OrderFailure(oid, f"{order.get('label')}: {order.get('message', '')}"[:200]))

    def _open_contracts(self, root: str) -> tuple[set[str], bool]:
        """The contracts with open orders in one settle currency, and whether the listing was whole."""
        contracts: set[str] = set()
        for orders in self._futures_pages(root):
            contracts |= {o.symbol for o in orders}
            if len(orders) < PAGE:
                return contracts, True
        return contracts, False

    def _futures_pages(self, root: str) -> list[list[OpenOrder]]:
        pages: list[list[OpenOrder]] = []
        path = f"{root}/orders"
        for page in range(MAX_PAGES):
            query: list[tuple[str, str | int]] = [
                ("status", "open"),
                ("limit", PAGE),
                ("offset", page * PAGE),
            ]
            listed = order_list(self._call("GET", path, query=query), path)
            pages.append([futures_order(o, path) for o in listed])
            if len(listed) < PAGE:
                break
        return pages

    def open_orders(self) -> list[OpenOrder]:
        orders: list[OpenOrder] = []
        for market in self._account.markets:
            root = market_root(market)
            if market == SPOT:
                path = f"{root}/open_orders"
                orders += spot_orders(self._call("GET", path, query=[("page", 1), ("limit", PAGE)]), path)
            else:
                orders += [o for page in self._futures_pages(root) for o in page]
        return orders
