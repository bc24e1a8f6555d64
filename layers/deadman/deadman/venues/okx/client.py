"""The OKX client: the switch (`cancel-all-after`, once per scope: the account's, or each tag's), the
sweep by listing (pending orders cancelled 20 a call, algo orders 10 a call), and the signed calls
under them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlencode

from deadman.core.venue import ExtendResult, OpenOrder, OrderFailure, SweepResult
from deadman.venues.client import ClientBase
from deadman.venues.errors import StaleDecisionError, VenueError
from deadman.venues.okx.account import Account
from deadman.venues.okx.wire import (
    ALGO_BATCH,
    ALGO_TYPES,
    CANCEL_BATCH,
    CAPABILITIES,
    MAX_TIMEOUT_S,
    MIN_TIMEOUT_S,
    NOTHING_TO_CANCEL,
    PAGE_LIMIT,
    PATH_ALGO_PENDING,
    PATH_CANCEL_AFTER,
    PATH_CANCEL_ALGOS,
    PATH_CANCEL_BATCH,
    PATH_PENDING,
    VENUE,
    WHOLE_SECOND_MS,
    check_timer,
    decode,
    sign,
    timestamp,
    unreadable,
)

TRANSITS_KEPT = 6  # about a minute of ticks
# A book deeper than this many pages is swept over several ticks (each sweep lists again).
MAX_PAGES = 10


@dataclass(frozen=True)
class _Listed:
    inst_id: str
    order_id: str
    tag: str
    side: str
    price: str
    size: str
    algo: bool


class Client(ClientBase[Account]):
    caps = CAPABILITIES

    def _base_url(self, account: Account) -> str:
        return account.base_url

    @property
    def _key_id(self) -> str:
        # No nonces at OKX (a timestamp window instead): the id only names the key.
        return f"{VENUE}:{self._account.keys.api_key}"

    # -- the switch ----------------------------------------------------------------------------------

    def extend(self, deadline_ms: int, *, send_by_ms: int | None = None) -> ExtendResult:
        """Each scope's timer set to fire by `deadline_ms` (plus a whole second), each on its own call:
        one tag's failure neither stops another's extension nor moves any other timer. The first
        error is raised once every scope has been tried (the tick tries again); the answer's trigger
        time is checked against what was sent, and the latest of them returned."""
        triggers: list[int] = []
        sent: list[int] = []

        def timeout() -> int:
            value = self._timeout_for(deadline_ms)
            sent.append(value)
            return value

        for _tag, outcome in self._each_scope(timeout, send_by_ms, deadline_ms):
            if outcome is not None:
                triggers.append(outcome)
        return ExtendResult(
            requested_deadline_ms=deadline_ms,
            venue_deadline_ms=max(triggers) if triggers else None,
            detail=f"cancel-all-after timeOut={sent[-1] if sent else '?'} on {self._scopes_said}",
        )

    def disarm(self, *, send_by_ms: int | None = None) -> None:
        list(self._each_scope(lambda: 0, send_by_ms))

    @property
    def _scopes_said(self) -> str:
        return "tags " + ",".join(self._account.tags) if self._account.tags else "the account"

    def _each_scope(
        self, timeout_s: Callable[[], int], send_by_ms: int | None, deadline_ms: int | None = None
    ) -> list[tuple[str, int | None]]:
        """Every scope's timer, side by side (`deadline_ms`: an extension's, each corrected at once if
        it landed late); once all have answered, the first failure is raised."""

        def one(tag: str) -> tuple[str, int | None]:
            if deadline_ms is None:
                return tag, self._cancel_after(tag, timeout_s, send_by_ms)
            return tag, self._on_time(deadline_ms, partial(self._timer_on, tag, timeout_s, send_by_ms))

        return self._side_by_side(self._account.scopes, one)

    def _timer_on(self, tag: str, timeout_s: Callable[[], int], send_by_ms: int | None) -> int:
        trigger = self._cancel_after(tag, timeout_s, send_by_ms)
        if trigger is None:  # an extension's answer that says the timer is off is no extension
            raise unreadable("timer answer (off, to an extension)", PATH_CANCEL_AFTER, tag)
        return trigger

    def _cancel_after(self, tag: str, timeout_s: Callable[[], int], send_by_ms: int | None) -> int | None:
        """One scope's timer; its trigger time as the latest ms it may fire at (None: off)."""
        value = timeout_s()  # computed as late as possible: the venue counts from the arrival
        body: dict[str, str] = {"timeOut": str(value)}
        if tag:
            body["tag"] = tag
        sent_ms = self._clock()
        data = self._call("POST", PATH_CANCEL_AFTER, body, send_by_ms=send_by_ms)
        answered_ms = self._clock()
        if len(data) != 1:
            raise unreadable("timer answer", PATH_CANCEL_AFTER, data)
        trigger = check_timer(
            data[0],
            tag=tag,
            timeout_s=value,
            sent_ms=sent_ms,
            answered_ms=answered_ms,
            path=PATH_CANCEL_AFTER,
        )
        if trigger is None:
            return None
        # trigger = arrival + timeout (cut down to the second if the venue says seconds): a lower
        # bound of the transit, remembered so that the next timeouts aim earlier by it.
        self._transits = (
            *self._transits[-(TRANSITS_KEPT - 1) :],
            max(0, trigger.ms - value * 1000 - sent_ms),
        )
        return trigger.latest_ms

    _transits: tuple[int, ...] = ()

    def _timeout_for(self, deadline_ms: int) -> int:
        """Whole seconds to the deadline, rounded down, aimed a second early and earlier by the transit
        recent answers showed; at most the venue's 120 s (fires earlier than the deadline, never
        later). Under its 10 s minimum nothing is sent: the timer set on an earlier beat stands and
        fires by its own, earlier, deadline."""
        aim = deadline_ms - WHOLE_SECOND_MS - max(self._transits, default=0)
        timeout_s = (aim - self._clock()) // 1000
        if timeout_s < MIN_TIMEOUT_S:
            raise StaleDecisionError(
                VENUE, f"deadline {deadline_ms} is under OKX's {MIN_TIMEOUT_S} s minimum away: not sent"
            )
        return min(timeout_s, MAX_TIMEOUT_S)

    # -- orders --------------------------------------------------------------------------------------

    def open_orders(self) -> list[OpenOrder]:
        listed = self._pending(algo=False)
        for kinds in ALGO_TYPES:
            listed.extend(self._pending(algo=True, kinds=kinds))
        return [
            OpenOrder(order_id=o.order_id, symbol=o.inst_id, side=o.side, price=o.price, size=o.size)
            for o in self._mine(listed)
        ]

    def sweep(self, *, send_by_ms: int | None = None) -> SweepResult:
        """There is no cancel-all for the order book: the pending orders are listed and cancelled 20 a
        call, then each kind of algo order 10 a call. Only this switch's orders (its tags', where it
        names tags). A batch refused is its orders' failure, not the others'; only when nothing could
        be listed or cancelled at all is the venue's own error raised."""
        failed: list[OrderFailure] = []
        cancelled: list[str] = []
        errors: list[VenueError] = []
        tried = refused = 0
        orders = self._mine(self._pending(algo=False))  # an error here: nothing done, raised as is
        for start in range(0, len(orders), CANCEL_BATCH):
            tried += 1
            refused += self._cancel(
                orders[start : start + CANCEL_BATCH], send_by_ms, cancelled, failed, errors
            )
        listed = len(orders)
        for kinds in ALGO_TYPES:
            try:
                algos = self._mine(self._pending(algo=True, kinds=kinds))
            except VenueError as exc:
                errors.append(exc)
                failed.append(OrderFailure("", f"algo orders {kinds!r} not listed: {exc}"))
                continue
            listed += len(algos)
            for start in range(0, len(algos), ALGO_BATCH):
                tried += 1
                refused += self._cancel(
                    algos[start : start + ALGO_BATCH], send_by_ms, cancelled, failed, errors
                )
        if tried and refused == tried:
            # Every cancel was refused whole (a key refused, say): the caller sees the venue's own
            # error class, and may sweep again on the kill key.
            raise errors[0]
        return SweepResult(
            cancelled_count=len(cancelled),
            cancelled_ids=tuple(cancelled),
            failed=tuple(failed),
            detail=f"{listed} open on {self._scopes_said}; {len(cancelled)} cancelled",
            extra={"listed": listed},
        )

    def _cancel(
        self,
        batch: list[_Listed],
        send_by_ms: int | None,
        cancelled: list[str],
        failed: list[OrderFailure],
        errors: list[VenueError],
    ) -> bool:
        """One batch cancelled; True if the venue refused the request whole."""
        algo = batch[0].algo
        key = "algoId" if algo else "ordId"
        body = [{"instId": o.inst_id, key: o.order_id} for o in batch]
        path = PATH_CANCEL_ALGOS if algo else PATH_CANCEL_BATCH
        try:
            data = self._call("POST", path, body, send_by_ms=send_by_ms)
        except VenueError as exc:
            errors.append(exc)
            failed.extend(OrderFailure(o.order_id, str(exc)) for o in batch)
            return True
        by_id = {str(r.get(key)): r for r in data if isinstance(r, Mapping)}
        for order in batch:
            row = by_id.get(order.order_id)
            code = row.get("sCode") if isinstance(row, Mapping) else None
            if code == "0":
                cancelled.append(order.order_id)
            elif code in NOTHING_TO_CANCEL:
                continue  # gone already (filled, cancelled, being cancelled): nothing of it rests
            elif isinstance(code, str) and isinstance(row, Mapping):
                failed.append(OrderFailure(order.order_id, f"[{code}] {row.get('sMsg', '')}"[:200]))
            else:
                failed.append(OrderFailure(order.order_id, f"no cancel status from the venue: {row!r:.100}"))
        return False

    def _mine(self, listed: list[_Listed]) -> list[_Listed]:
        tags = self._account.tags
        return [o for o in listed if not tags or o.tag in tags]

    def _pending(self, *, algo: bool, kinds: str = "") -> list[_Listed]:
        path = PATH_ALGO_PENDING if algo else PATH_PENDING
        key = "algoId" if algo else "ordId"
        out: list[_Listed] = []
        after = ""
        for _ in range(MAX_PAGES):
            query: list[tuple[str, str]] = [("ordType", kinds)] if algo else []
            query.append(("limit", str(PAGE_LIMIT)))
            if after:
                query.append(("after", after))
            _code, rows = self._call("GET", f"{path}?{urlencode(query)}", None, whole=True)
            for row in rows:
                if not (isinstance(row, Mapping) and isinstance(row.get(key), str) and row.get(key)):
                    raise unreadable("order entry", path, row)
                if not isinstance(row.get("instId"), str):
                    raise unreadable("order entry", path, row)
                out.append(
                    _Listed(
                        inst_id=row["instId"],
                        order_id=row[key],
                        tag=str(row.get("tag") or ""),
                        side=str(row.get("side", "")),
                        price=str(row.get("px") or row.get("ordPx") or row.get("triggerPx") or ""),
                        size=str(row.get("sz", "")),
                        algo=algo,
                    )
                )
            if len(rows) < PAGE_LIMIT:
                return out
            after = str(rows[-1][key])
        return out  # a deeper book: the rest at the next sweep, which lists again

    # -- wire ----------------------------------------------------------------------------------------

    def _call(
        self, method: str, request_path: str, body: Any, *, send_by_ms: int | None = None, whole: bool = False
    ) -> Any:
        """One signed call; its `data` (with `whole`, the envelope's code too)."""
        keys = self._account.keys
        text = "" if body is None else json.dumps(body, separators=(",", ":"))
        stamp = timestamp(self._clock())
        headers = {
            "OK-ACCESS-KEY": keys.api_key,
            "OK-ACCESS-SIGN": sign(stamp, method, request_path, text, keys.api_secret.reveal()),
            "OK-ACCESS-TIMESTAMP": stamp,
            "OK-ACCESS-PASSPHRASE": keys.passphrase.reveal(),
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self._account.demo:
            headers["x-simulated-trading"] = "1"
        path = request_path.split("?", 1)[0]
        self._check_send_by(send_by_ms)
        if method == "GET":
            resp = self._http.request("GET", request_path, body=None, headers=headers)
        else:
            resp = self._http.post(request_path, body=text.encode(), headers=headers)
        code, data = decode(resp, path)
        if whole:
            return code, data
        return data
