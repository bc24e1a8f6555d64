"""A Bybit v5 stand-in: real X-BAPI-* checks (signature over timestamp + key + recv window + query or
body, the receive window rule), UIDs with orders in every category, the cancel-all call with Bybit's
category rules, the open-order listing with its cursor, errors as retCodes and the rate limits
(docs/venues.md, Bybit). No timer: nothing a REST caller sends arms or moves Disconnection Protect,
so the simulator keeps none (`Rules.has_timer` False).

Authentication is checked here with code of its own (never the client's): a timestamp must fall in
[server - recv_window, server + 1000) (10002 outside), an unknown key answers 10003, a bad signature
10004, a key without the category's trade permission 10005.

Bybit rules kept:
- `category` is required; linear and inverse want one of symbol, baseCoin or settleCoin (10001
  without); spot's cancel-all takes normal orders only unless `orderFilter` names another kind;
  linear and inverse without `orderFilter` cancel every kind, at most 500 orders a call, picked at
  random; option cancels every kind;
- the listing (`/v5/order/realtime`) pages by 1-50 with `nextPageCursor`;
- per UID and category, 10 cancel-alls a second (20 for spot) and 50 listings (10006 past them);
  600 requests per IP per 5 s (HTTP 403, then every request for 10 minutes).
Simplified here and said so: cancels take effect at once (Bybit's are asynchronous: the client
reports them pending and a kill confirms by listing); the per-category split of the cancel-all rate
limit is UNVERIFIED (option may be 1/s; modelled as 10/s).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sandbox.venues.common import Headers, Response, SimServer, run_standalone
from sandbox.venues.simulator import COMMON_FAULTS, AccountSpec, Rules, Simulator

CATEGORIES = ("linear", "inverse", "spot", "option")
SPOT_KINDS = ("Order", "tpslOrder", "StopOrder", "OcoOrder", "BidirectionalTpslOrder")
FUTURES_KINDS = ("Order", "StopOrder", "tpslOrder")
SETTLE = ("USDT", "USDC")
INVERSE = ("BTC", "ETH")
FUTURES_CAP = 500
# Per UID, endpoint and category: cancel-all 10/s (linear, inverse, option), 20/s (spot); listing 50/s.
CANCEL_PER_S, SPOT_CANCEL_PER_S, LIST_PER_S = 10, 20, 50
IP_LIMIT, IP_WINDOW_MS, IP_LOCKOUT_MS = 600, 5_000, 600_000
PROVISIONED_SECRET = hashlib.sha256(b"simulated bybit secret").hexdigest()[:36]


class BybitError(Exception):
    def __init__(self, code: int, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass
class _Key:
    secret: str
    uid: str
    categories: frozenset[str] = frozenset(CATEGORIES)


@dataclass
class _Order:
    oid: str
    category: str
    symbol: str
    coin: str  # settle coin (linear), base coin (inverse, spot, option)
    kind: str  # orderFilter: Order, StopOrder, tpslOrder, ...
    price: str
    qty: str


@dataclass
class _Account:
    uid: str
    orders: dict[str, _Order] = field(default_factory=dict)


def bybit_signature(timestamp: str, api_key: str, recv: str, payload: str, secret: str) -> str:
    text = f"{timestamp}{api_key}{recv}{payload}"
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


class BybitSim(Simulator):
    venue = "bybit"
    RULES = Rules(
        faults=COMMON_FAULTS,
        late_extension_fault="venue_latency",  # none extends here; the kind a scenario would draw
        timer_switches_off=False,
        has_timer=False,
    )
    SANDBOX_ACCOUNTS = (AccountSpec("main"),)

    def __init__(self, clock: Callable[[], int] | None = None, *, seed: int = 0) -> None:
        super().__init__(clock)
        self._keys: dict[str, _Key] = {}
        self._accounts: dict[str, _Account] = {}
        self._rng = random.Random(seed)
        self._next_id = 0
        self._calls: dict[tuple[str, str], list[int]] = {}
        self._ip_calls: list[int] = []
        self._ip_locked_until = 0

    @classmethod
    def create(cls, clock: Callable[[], int] | None = None) -> BybitSim:
        return cls(clock)

    # -- registration and test accessors -------------------------------------------------------
    def add_key(
        self, api_key: str, secret: str, uid: str, *, categories: frozenset[str] | None = None
    ) -> None:
        with self.lock:
            self._keys[api_key] = _Key(secret, uid, categories or frozenset(CATEGORIES))
            self._accounts.setdefault(uid, _Account(uid))

    def place(
        self, uid: str, category: str, *, kind: str = "Order", coin: str | None = None, price: str = "100"
    ) -> str:
        with self.lock:
            self._next_id += 1
            oid = f"{self._next_id:08d}-bybit"
            if coin is None:
                coin = self._rng.choice(SETTLE if category == "linear" else INVERSE)
            symbol = {"linear": f"BTC{coin}", "inverse": f"{coin}USD", "spot": f"{coin}USDT"}.get(
                category, f"{coin}-29MAR30-60000-C"
            )
            self._accounts[uid].orders[oid] = _Order(oid, category, symbol, coin, kind, price, "1")
            return oid

    # -- the Simulator interface ----------------------------------------------------------------
    def _grant(self, spec: AccountSpec, generation: int) -> tuple[dict[str, Any], list[str]]:
        key, kill = f"bybit{spec.account}g{generation}", f"bybitkill{spec.account}g{generation}"
        self.add_key(key, PROVISIONED_SECRET, spec.account)
        entry: dict[str, Any] = {
            "account_id": spec.account,
            "api_key": key,
            "api_secret": PROVISIONED_SECRET,
            "categories": list(CATEGORIES),
            "settle_coins": list(SETTLE),
            "inverse_coins": list(INVERSE),
        }
        if not spec.kill_key:
            return entry, [key]
        self.add_key(kill, PROVISIONED_SECRET, spec.account)
        entry["kill"] = {"api_key": kill, "api_secret": PROVISIONED_SECRET}
        return entry, [key, kill]

    def delete_old_keys(self, account: str) -> None:
        with self.lock:
            for key in self.old_keys(account):
                self._keys.pop(key, None)

    def rest_order(self, account: str, *, price: str = "100", size: str = "1", old_key: bool = False) -> str:
        """In any category, of any kind: the sweep must find every one (conditional orders too)."""
        with self.lock:
            category = self._rng.choice(CATEGORIES)
            kinds = (
                SPOT_KINDS if category == "spot" else FUTURES_KINDS if category != "option" else ("Order",)
            )
            return self.place(account, category, kind=self._rng.choice(kinds), price=price)

    def order_ids(self, account: str) -> set[str]:
        with self.lock:
            acct = self._accounts.get(account)
            return set(acct.orders) if acct else set()

    def timer_at(self, account: str) -> int | None:
        return None  # no timer a REST caller can set

    @staticmethod
    def is_extension(path: str, body: bytes) -> bool:
        return False

    @staticmethod
    def is_cancel(path: str, body: bytes) -> bool:
        return urlsplit(path).path == "/v5/order/cancel-all"

    # -- SimServer hooks ------------------------------------------------------------------------
    def rate_limited(self) -> Response:
        return _error(BybitError(10006, "Too many visits. Exceeded the API Rate Limit."))

    def maintenance(self) -> Response:
        return _error(BybitError(10016, "Service is restarting"))

    def handle(self, method: str, path: str, headers: Headers, body: bytes) -> Response:
        parts = urlsplit(path)
        route = parts.path
        try:
            self._ip_count()
            if (method, route) == ("GET", "/v5/market/time"):
                now = self.now_ms()
                result = {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}
                return Response.json(200, {"retCode": 0, "retMsg": "OK", "result": result, "time": now})
            if (method, route) not in (("POST", "/v5/order/cancel-all"), ("GET", "/v5/order/realtime")):
                return Response.json(404, {"error": "Not Found"})
            payload_text = body.decode() if method == "POST" else parts.query
            key = self._authenticate(headers, payload_text)
            params = self._params(method, body, parts.query)
            category = params.get("category")
            if category not in CATEGORIES:
                raise BybitError(10001, "params error: category")
            if category not in key.categories:
                raise BybitError(10005, "Permission denied, please check your API key permissions.")
            self._count(key.uid, f"{route} {category}", _limit(method, category))
            acct = self._accounts[key.uid]
            if method == "POST":
                answer: dict[str, Any] = {"list": self._cancel_all(acct, category, params), "success": "1"}
            else:
                answer = self._listing(acct, category, params)
            return Response.json(200, {"retCode": 0, "retMsg": "OK", "result": answer, "time": self.now_ms()})
        except BybitError as exc:
            return _error(exc)

    @staticmethod
    def _params(method: str, body: bytes, query: str) -> dict[str, Any]:
        if method == "GET":
            return dict(parse_qsl(query))
        try:
            payload = json.loads(body)
        except ValueError:
            raise BybitError(10001, "params error: body") from None
        if not isinstance(payload, dict):
            raise BybitError(10001, "params error: body")
        return payload

    def _matching(
        self, acct: _Account, category: str, params: dict[str, Any], *, cancel: bool
    ) -> list[_Order]:
        symbol, base, settle = params.get("symbol"), params.get("baseCoin"), params.get("settleCoin")
        if category in ("linear", "inverse") and not (symbol or base or settle):
            raise BybitError(10001, "params error: symbol, baseCoin or settleCoin is required")
        kind = params.get("orderFilter")
        out = []
        for order in acct.orders.values():
            if order.category != category:
                continue
            if symbol and order.symbol != symbol:
                continue
            if not symbol and base and category != "linear" and order.coin != base:
                continue
            if not symbol and not base and settle and category == "linear" and order.coin != settle:
                continue
            if kind is not None and order.kind != kind:
                continue
            if kind is None and category == "spot" and cancel and order.kind != "Order":
                continue  # spot's cancel-all takes normal orders unless told a kind
            out.append(order)
        return out

    def _cancel_all(self, acct: _Account, category: str, params: dict[str, Any]) -> list[dict[str, str]]:
        gone = self._matching(acct, category, params, cancel=True)
        if category in ("linear", "inverse") and len(gone) > FUTURES_CAP:
            gone = self._rng.sample(gone, FUTURES_CAP)
        for order in gone:
            del acct.orders[order.oid]
        return [{"orderId": o.oid, "orderLinkId": ""} for o in gone]

    def _listing(self, acct: _Account, category: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            limit = int(params.get("limit", 20))
            start = int(params.get("cursor") or 0)
        except ValueError:
            raise BybitError(10001, "params error: limit or cursor") from None
        if not 1 <= limit <= 50:
            raise BybitError(10001, "params error: limit")
        listed = self._matching(acct, category, params, cancel=False)
        page = listed[start : start + limit]
        more = start + limit < len(listed)
        return {
            "category": category,
            "list": [
                {
                    "orderId": o.oid,
                    "orderLinkId": "",
                    "symbol": o.symbol,
                    "side": "Buy",
                    "price": o.price,
                    "qty": o.qty,
                    "orderStatus": "New" if o.kind == "Order" else "Untriggered",
                    "orderFilter": o.kind,
                }
                for o in page
            ],
            "nextPageCursor": str(start + limit) if more else "",
        }

    # -- authentication and rate limits ---------------------------------------------------------
    def _authenticate(self, headers: Headers, payload: str) -> _Key:
        api_key = headers.get("x-bapi-api-key")
        timestamp = headers.get("x-bapi-timestamp")
        signature = headers.get("x-bapi-sign")
        recv = headers.get("x-bapi-recv-window", "5000")
        if not api_key or not timestamp or not signature:
            raise BybitError(10003, "API key is invalid.")
        key = self._keys.get(api_key)
        if key is None:
            raise BybitError(10003, "API key is invalid. Check whether the key and domain are matched")
        try:
            sent, window = int(timestamp), int(recv)
        except ValueError:
            raise BybitError(10001, "params error: X-BAPI-TIMESTAMP or X-BAPI-RECV-WINDOW") from None
        now = self.now_ms()
        if not now - window <= sent < now + 1_000:
            raise BybitError(10002, "The request time exceeds the time window range.")
        expected = bybit_signature(timestamp, api_key, recv, payload, key.secret)
        if not hmac.compare_digest(expected, signature):
            raise BybitError(10004, "error sign! origin_string[...]")
        return key

    def _count(self, uid: str, route: str, limit: int) -> None:
        now = self.now_ms()
        calls = self._calls.setdefault((uid, route), [])
        calls[:] = [t for t in calls if t > now - 1_000]
        if len(calls) >= limit:
            raise BybitError(10006, "Too many visits. Exceeded the API Rate Limit.")
        calls.append(now)

    def _ip_count(self) -> None:
        now = self.now_ms()
        if now < self._ip_locked_until:
            raise BybitError(0, "403 Forbidden: access too frequent", status=403)
        self._ip_calls[:] = [t for t in self._ip_calls if t > now - IP_WINDOW_MS]
        if len(self._ip_calls) >= IP_LIMIT:
            self._ip_locked_until = now + IP_LOCKOUT_MS
            raise BybitError(0, "403 Forbidden: access too frequent", status=403)
        self._ip_calls.append(now)


def _limit(method: str, category: str) -> int:
    if method != "POST":
        return LIST_PER_S
    return SPOT_CANCEL_PER_S if category == "spot" else CANCEL_PER_S


def _error(exc: BybitError) -> Response:
    if exc.status != 200:
        return Response(exc.status, exc.message.encode(), "text/html")
    return Response.json(200, {"retCode": exc.code, "retMsg": exc.message, "result": {}, "time": 0})


def _factory(_args: Any) -> SimServer:
    return BybitSim()


SIMULATOR = BybitSim


if __name__ == "__main__":
    run_standalone(_factory)
