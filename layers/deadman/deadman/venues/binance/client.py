"""The Binance futures client: one countdown per listed symbol as the venue timer, and a sweep over
every symbol with open orders, listed or not.

Why the countdown is aimed `recvWindow` early: Binance answers with an echo, never the time its
countdown started. It starts when the request reaches the engine, and Binance processes a request
only while `serverTime - timestamp <= recvWindow`; so the countdown starts at most `recvWindow` after
the `timestamp` it carries, and `countdownTime = deadline - timestamp - recvWindow - slack` fires by
the deadline however slow the way there was (a straggler past the window is refused with -1021).
What is left is Binance's clock against ours: it may run up to 1 s behind ours before it refuses our
timestamps as from the future, the second the native bound adds (docs/venues.md, Binance).
"""

from __future__ import annotations

import threading
from typing import Any

from deadman.core.venue import ExtendResult, OpenOrder, SweepResult
from deadman.venues.binance.account import Account
from deadman.venues.binance.wire import (
    CANCEL_ALL,
    CANCEL_ALL_ALGO,
    CAPABILITIES,
    COUNTDOWN,
    MIN_COUNTDOWN_MS,
    NOTHING_TO_CANCEL,
    OPEN_ALGO_ORDERS,
    OPEN_ORDERS,
    RECV_WINDOW_MS,
    SCAN_SLACK_MS,
    VENUE,
    banned_until_ms,
    cancel_answer_ok,
    countdown_answer_ok,
    parse_response,
    signed_params,
)
from deadman.venues.client import ClientBase
from deadman.venues.errors import RateLimitError, StaleDecisionError, TransientError, VenueError

_FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PROBE_EVERY_MS = 9_000  # after a 429: one request about a tick apart until the weight's minute turns


class Client(ClientBase[Account]):
    caps = CAPABILITIES
    # Until when Binance banned this client's IP (a 418): nothing is sent before then, since every
    # call during a ban is refused and may lengthen it ("from 2 minutes to 3 days").
    _banned_until: int | None = None
    _held_until: int | None = None  # after a 429: the next minute of Binance's request weight
    _hold_epoch: int = 0  # 429s answered so far: a request sent before the last says nothing after it
    _probe_after: int = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hold_lock = threading.Lock()  # the symbols' requests run side by side

    def _probe_or_hold(self, now: int) -> int:
        """After a 429, until the weight's minute turns: one request (a probe) every PROBE_EVERY_MS,
        every other held back. A short hiccup is over at the next tick's probe (holding all until
        the minute turned, a 12 s run of 429s let the countdowns run out on a live trader: seed
        9701465); a long one costs a request every few seconds, not a ban."""
        with self._hold_lock:
            held = self._held_until
            if held is None or now >= held:
                return self._hold_epoch
            if now < self._probe_after:
                raise RateLimitError(
                    VENUE, f"Binance answered 429: held back ({held - now} ms left of its minute)"
                )
            self._probe_after = now + PROBE_EVERY_MS
            return self._hold_epoch

    def _base_url(self, account: Account) -> str:
        return account.base_url

    @property
    def _key_id(self) -> str:
        return f"{VENUE}:{self._account.api_key}"  # Binance has no nonce: a label for the fleet's logs

    # -- one signed call ----------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        name: str,
        params: list[tuple[str, str | int]],
        *,
        send_by_ms: int | None = None,
        countdown_for: Any = None,
    ) -> tuple[Any, int]:
        """The decoded answer and the `timestamp` sent. `countdown_for(timestamp)` names the countdown
        from the very timestamp signed, taken after everything else that may wait."""
        path = self._account.market.path(name)
        now = self._clock()
        if self._banned_until is not None and now < self._banned_until:
            raise RateLimitError(
                VENUE, f"IP banned by Binance for {self._banned_until - now} ms more: not sent", code="ip_ban"
            )
        epoch = self._probe_or_hold(now)
        if countdown_for is not None:
            params = [*params, ("countdownTime", countdown_for(now))]
        query = signed_params(params, now, self._account.api_secret.reveal())
        headers = {"X-MBX-APIKEY": self._account.api_key}
        self._check_send_by(send_by_ms)
        if method == "GET":
            resp = self._http.request(method, f"{path}?{query}", body=None, headers=headers)
        else:
            resp = self._http.request(method, path, body=query.encode(), headers={**headers, **_FORM})
        try:
            answer = parse_response(resp, path), now
            with self._hold_lock:
                # A request sent after the 429 (a probe) answered: the weight has room again. One
                # sent beside it, before the 429 was known, says nothing of that.
                if self._held_until is not None and epoch == self._hold_epoch:
                    self._held_until = None
            return answer
        except RateLimitError as exc:
            if exc.code == "ip_ban":
                until = banned_until_ms(exc.message)
                self._banned_until = until if until is not None else self._clock() + 120_000
            else:
                # "Failing to back off after receiving 429s will result in an automated IP ban", which
                # would then refuse the kill too (seed 9504170: a 75 s run of 429s, four requests every
                # 2 s, banned the IP for 2 minutes). Until the weight's minute turns, one request every
                # PROBE_EVERY_MS asks whether the limit has passed; the rest are held back.
                with self._hold_lock:
                    self._hold_epoch += 1
                    self._held_until = (self._clock() // 60_000 + 1) * 60_000
                    self._probe_after = self._clock() + PROBE_EVERY_MS
            raise

    # -- the timer ----------------------------------------------------------------------------------

    def _countdown(self, deadline_ms: int) -> Any:
        def countdown(timestamp_ms: int) -> int:
            aim = deadline_ms - timestamp_ms - RECV_WINDOW_MS - SCAN_SLACK_MS
            if aim < MIN_COUNTDOWN_MS:
                # 0 would switch the timer off; a deadline this near cannot be aimed at safely.
                raise StaleDecisionError(
                    VENUE, f"deadline {deadline_ms} too near to aim a countdown at: not sent"
                )
            return aim

        return countdown

    def _each_symbol(self, act: Any) -> list[Any]:
        """`act(symbol)` for every listed symbol, side by side: one symbol's failure neither stops nor
        delays the others (their timers stay fresh), but the account is not extended: the first
        failure is raised once all have answered."""
        return self._side_by_side(self._account.symbols, act)

    def extend(self, deadline_ms: int, *, send_by_ms: int | None = None) -> ExtendResult:
        """Push every listed symbol's countdown to fire by `deadline_ms`. `venue_deadline_ms` is the
        latest any of them can fire, from the echo: the countdown started between the send and the
        answer, and no later than `recvWindow` after the timestamp (Binance's own rule)."""

        def one(symbol: str) -> tuple[str, int]:
            sent: list[int] = []

            def countdown(timestamp_ms: int) -> int:
                sent.append(self._countdown(deadline_ms)(timestamp_ms))
                return sent[-1]

            answer, timestamp = self._call(
                "POST", COUNTDOWN, [("symbol", symbol)], send_by_ms=send_by_ms, countdown_for=countdown
            )
            answered = self._clock()
            if not countdown_answer_ok(answer, symbol, sent[-1]):
                raise TransientError(VENUE, f"unreadable countdown answer for {symbol}: {answer!r:.200}")
            return symbol, min(answered, timestamp + RECV_WINDOW_MS) + sent[-1]

        fires = self._each_symbol(one)
        latest = max(fire for _symbol, fire in fires)
        return ExtendResult(
            requested_deadline_ms=deadline_ms,
            venue_deadline_ms=latest,
            detail=f"countdownCancelAll on {len(fires)} symbol(s), latest fire {latest}",
        )

    def disarm(self, *, send_by_ms: int | None = None) -> None:
        def one(symbol: str) -> None:
            answer, _ = self._call(
                "POST", COUNTDOWN, [("symbol", symbol)], send_by_ms=send_by_ms, countdown_for=lambda _ts: 0
            )
            if not countdown_answer_ok(answer, symbol, 0):
                raise TransientError(VENUE, f"unreadable countdown answer for {symbol}: {answer!r:.200}")

        self._each_symbol(one)

    # -- the book -----------------------------------------------------------------------------------

    def _list(self, name: str) -> list[dict[str, Any]]:
        answer, _ = self._call("GET", name, [])
        # USD-M's algo list is documented as an array; an object wrapping `orders` is read too.
        rows = answer.get("orders") if isinstance(answer, dict) and name == OPEN_ALGO_ORDERS else answer
        if not isinstance(rows, list) or not all(
            isinstance(r, dict) and isinstance(r.get("symbol"), str) for r in rows
        ):
            raise TransientError(VENUE, f"unreadable answer on {name}: {answer!r:.200}")
        return rows

    def _book(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Every open order of the account (no symbol: weight 40), and its open algo orders."""
        algo = self._list(OPEN_ALGO_ORDERS) if self._account.market.algo else []
        return self._list(OPEN_ORDERS), algo

    def sweep(self, *, send_by_ms: int | None = None) -> SweepResult:
        """Cancel every open order on every symbol that has one, listed or not, and on every listed
        symbol (an order placed since the listing): orders, then conditional (algo) orders."""
        orders, algo = self._book()
        plain = sorted({str(o["symbol"]) for o in orders} | set(self._account.symbols))
        conditional: list[str] = []
        if self._account.market.algo:
            conditional = sorted({str(o["symbol"]) for o in algo} | set(self._account.symbols))
        for symbol in plain:
            self._cancel(CANCEL_ALL, symbol, send_by_ms)
        for symbol in conditional:
            self._cancel(CANCEL_ALL_ALGO, symbol, send_by_ms)
        ids = tuple(str(o.get("orderId")) for o in orders) + tuple(f"algo:{o.get('algoId')}" for o in algo)
        return SweepResult(
            cancelled_count=len(ids),
            cancelled_ids=ids,
            detail=f"allOpenOrders on {len(plain)} symbol(s)"
            + (f", algoOpenOrders on {len(conditional)}" if conditional else ""),
        )

    def _cancel(self, name: str, symbol: str, send_by_ms: int | None) -> None:
        try:
            answer, _ = self._call("DELETE", name, [("symbol", symbol)], send_by_ms=send_by_ms)
        except VenueError as exc:
            if exc.code is not None and exc.code.lstrip("-").isdigit() and int(exc.code) in NOTHING_TO_CANCEL:
                return  # nothing open there: done
            raise
        if not cancel_answer_ok(answer):
            raise TransientError(VENUE, f"unreadable answer on {name} for {symbol}: {answer!r:.200}")

    def open_orders(self) -> list[OpenOrder]:
        orders, algo = self._book()
        found = [
            OpenOrder(
                order_id=str(o.get("orderId", "")),
                symbol=str(o["symbol"]),
                side=str(o.get("side", "")),
                price=str(o.get("price", "")),
                size=str(o.get("origQty", "")),
            )
            for o in orders
        ]
        found += [
            OpenOrder(
                order_id=f"algo:{o.get('algoId', '')}",
                symbol=str(o["symbol"]),
                side=str(o.get("side", "")),
                price=str(o.get("triggerPrice", o.get("price", ""))),
                size=str(o.get("quantity", "")),
            )
            for o in algo
        ]
        return found
