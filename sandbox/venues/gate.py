"""A Gate APIv4 stand-in: real KEY / Timestamp / SIGN checks, per-market countdown timers, resting
spot and futures orders, the markets' cancel-alls, labelled errors and the per-endpoint rate limit
(docs/venues.md, Gate).

Why this file is long: authentication, the two kinds of market with their order books, and the
timers are one model of one venue, written apart from the client, with the `Simulator` interface
(sandbox/venues/simulator.py) that the sandbox and the campaign drive it through.

Authentication is checked here with code of its own (never the client's): the method, the path, the
query as received (URL-decoded), the SHA-512 of the exact body bytes and the Timestamp header, within
60 s of the venue's clock.

Gate rules kept:
- a timer per UID x market (spot, futures:usdt, futures:btc) x scope (the whole market, or one pair
  or contract); `timeout` 0 clears it, 1-4 and anything not an int32 are refused
  (`INVALID_PARAM_VALUE`), 5 or more sets it to the arrival + timeout; the answer is `triggerTime`
  in ms (a string, as the docs' example, or an int, as the SDK's model: both are drawn);
- a timer that fires cancels the pending orders of its market (or pair) and is gone;
- futures cancel-all wants a `contract` (`MISSING_REQUIRED_PARAM` without one); spot's cancels
  every pair when none is named; a bulk cancel with nothing open answers `[]`;
- 200 requests per 10 s per endpoint per UID, then 429 `TOO_MANY_REQUESTS`.
Faults are the venue's per market, as its limits are: a 5xx, a 429 or a maintenance drawn on one
market (or all) leaves the others answering, so one market failing meets the others working.
UNVERIFIED on the real venue and chosen here: the all-market and per-pair timers are independent;
`triggerTime` is 0 after `timeout: 0`; no price-triggered orders rest (their cancels answer `[]`);
REQUEST_EXPIRED and permission refusals' HTTP statuses (400, 403).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from sandbox.venues.common import Headers, Response, SimServer, run_standalone
from sandbox.venues.simulator import COMMON_FAULTS, AccountSpec, Rules, Simulator

PREFIX = "/api/v4"
SYMBOLS: dict[str, tuple[str, ...]] = {
    "spot": ("BTC_USDT", "ETH_USDT", "GT_USDT"),
    "futures:usdt": ("BTC_USDT", "ETH_USDT", "SOL_USDT"),
    "futures:btc": ("BTC_USD", "ETH_USD"),
}
MARKETS = tuple(SYMBOLS)
RATE_LIMIT, RATE_WINDOW_MS = 200, 10_000
TIMESTAMP_WINDOW_MS = 60_000
MIN_TIMEOUT_S, MAX_TIMEOUT_S = 5, 2**31 - 1
# The secret of every key the sandbox and the campaign provision (Gate's are 64 hex characters).
PROVISIONED_SECRET = hashlib.sha256(b"simulated gate secret").hexdigest()

Scope = tuple[str, str | None]  # (market, pair or contract; None: the whole market)


class GateError(Exception):
    def __init__(self, status: int, label: str, message: str = "") -> None:
        super().__init__(label)
        self.status, self.label, self.message = status, label, message or label.lower().replace("_", " ")


@dataclass
class _Key:
    api_key: str
    secret: str
    uid: str
    write: bool = True
    products: frozenset[str] = frozenset({"spot", "futures"})


@dataclass
class _Order:
    oid: int
    market: str
    symbol: str
    side: str
    price: str
    size: str


@dataclass
class _Account:
    uid: str
    markets: tuple[str, ...]
    orders: dict[int, _Order] = field(default_factory=dict)
    timers: dict[Scope, int] = field(default_factory=dict)


def gate_signature(method: str, path: str, query: str, body: bytes, timestamp: str, secret: str) -> str:
    text = "\n".join((method, path, query, hashlib.sha512(body).hexdigest(), timestamp))
    return hmac.new(secret.encode(), text.encode(), hashlib.sha512).hexdigest()


def _market_of(route: str) -> str | None:
    """`/api/v4/futures/usdt/...` -> `futures:usdt`; `/api/v4/spot/...` -> `spot`."""
    parts = route.removeprefix(PREFIX).strip("/").split("/")
    if parts[0] == "spot":
        return "spot"
    if parts[0] == "futures" and len(parts) > 1:
        return f"futures:{parts[1]}"
    return None


class GateSim(Simulator):
    venue = "gate"
    RULES = Rules(faults=COMMON_FAULTS, late_extension_fault="venue_latency")
    SANDBOX_ACCOUNTS = (AccountSpec("main"),)

    def __init__(self, clock: Callable[[], int] | None = None, *, seed: int = 0) -> None:
        super().__init__(clock)
        self._keys: dict[str, _Key] = {}
        self._accounts: dict[str, _Account] = {}
        self._rng = random.Random(seed)
        self._next_id = 100_000_000_000
        self._calls: dict[tuple[str, str, str], list[int]] = {}
        # fault -> the markets it holds (every market when drawn so), and what the timer answers with.
        self.market_faults: dict[str, frozenset[str]] = {}
        self.trigger_as_string = True

    @classmethod
    def create(cls, clock: Callable[[], int] | None = None) -> GateSim:
        return cls(clock)

    # -- registration and test accessors -------------------------------------------------------
    def add_key(
        self,
        api_key: str,
        secret: str,
        uid: str,
        *,
        markets: tuple[str, ...] = MARKETS,
        write: bool = True,
        products: frozenset[str] = frozenset({"spot", "futures"}),
    ) -> None:
        with self.lock:
            self._keys[api_key] = _Key(api_key, secret, uid, write, products)
            self._accounts.setdefault(uid, _Account(uid, markets))

    def place(
        self, uid: str, market: str, symbol: str, side: str = "buy", price: str = "100", size: str = "1"
    ) -> str:
        with self.lock:
            self._next_id += 1
            self._accounts[uid].orders[self._next_id] = _Order(
                self._next_id, market, symbol, side, price, size
            )
            return str(self._next_id)

    def timers(self, uid: str) -> dict[Scope, int]:
        with self.lock:
            return dict(self._accounts[uid].timers)

    # -- the Simulator interface ----------------------------------------------------------------
    def _grant(self, spec: AccountSpec, generation: int) -> tuple[dict[str, Any], list[str]]:
        """Keys of one generation; every key of the UID moves the UID's timers."""
        key, kill = f"gate-{spec.account}-g{generation}", f"gate-kill-{spec.account}-g{generation}"
        self.add_key(key, PROVISIONED_SECRET, spec.account)
        entry: dict[str, Any] = {
            "account_id": spec.account,
            "api_key": key,
            "api_secret": PROVISIONED_SECRET,
            "markets": list(self._accounts[spec.account].markets),
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
        """On any market of the account and any of its pairs: the sweep must find every one."""
        with self.lock:
            market = self._rng.choice(self._accounts[account].markets)
            return self.place(account, market, self._rng.choice(SYMBOLS[market]), "buy", price, size)

    def order_ids(self, account: str) -> set[str]:
        with self.lock:
            acct = self._accounts.get(account)
            return {str(oid) for oid in acct.orders} if acct else set()

    def timer_at(self, account: str) -> int | None:
        """The latest of the account's timers: the one its last orders wait for."""
        with self.lock:
            acct = self._accounts.get(account)
            return max(acct.timers.values()) if acct and acct.timers else None

    @staticmethod
    def is_extension(path: str, body: bytes) -> bool:
        if not urlsplit(path).path.endswith("/countdown_cancel_all"):
            return False
        try:
            payload = json.loads(body)
        except ValueError:
            return False
        return isinstance(payload, dict) and payload.get("timeout") not in (0, None)

    @staticmethod
    def is_cancel(path: str, body: bytes) -> bool:
        # A listing of these paths must name a `status`; a cancel-all never does, nor carries a body.
        parts = urlsplit(path)
        cancels = parts.path.endswith(("/orders", "/price_orders")) and not parts.path.endswith(
            "/open_orders"
        )
        return cancels and not body and "status" not in dict(parse_qsl(parts.query))

    def set_fault(self, fault: str, on: bool, *, until_ms: int | None = None) -> bool:
        if fault not in COMMON_FAULTS:
            return False
        with self.lock:
            if not on:
                self.market_faults.pop(fault, None)
            else:
                # Gate's limits and outages are per endpoint and product: one market, or all.
                held = self._rng.choice([None, *MARKETS])
                self.market_faults[fault] = frozenset(MARKETS if held is None else (held,))
                self.trigger_as_string = self._rng.random() < 0.5
        return True

    # -- SimServer hooks ------------------------------------------------------------------------
    def rate_limited(self) -> Response:
        return _error(GateError(429, "TOO_MANY_REQUESTS", "Request Rate limit Exceeded"))

    def maintenance(self) -> Response:
        return _error(GateError(503, "SERVER_ERROR", "system maintenance"))

    def poll(self) -> None:
        for acct in self._accounts.values():
            for scope, at in sorted(acct.timers.items(), key=lambda kv: kv[1]):
                if at <= self.now_ms():
                    del acct.timers[scope]
                    # Recorded at the trigger time, however coarsely a virtual clock jumped past it.
                    self.fires.append((at, acct.uid, len(self._cancel(acct, *scope))))

    def _cancel(self, acct: _Account, market: str, symbol: str | None) -> list[_Order]:
        gone = [o for o in acct.orders.values() if o.market == market and symbol in (None, o.symbol)]
        for order in gone:
            del acct.orders[order.oid]
        return gone

    def handle(self, method: str, path: str, headers: Headers, body: bytes) -> Response:
        parts = urlsplit(path)
        route, query = parts.path, parts.query
        try:
            market = _market_of(route)
            self._market_fault(market)
            if (method, route) == ("GET", f"{PREFIX}/spot/time"):
                return Response.json(200, {"server_time": self.now_ms()})
            if market is None or (market != "spot" and market not in SYMBOLS):
                raise GateError(404, "INVALID_URL" if market is None else "INVALID_PARAM_VALUE")
            key = self._authenticate(method, route, query, headers, body)
            acct = self._accounts[key.uid]
            self._permitted(key, method, market)
            self._count(key.uid, method, route)
            if market not in acct.markets:
                raise GateError(400, "USER_NOT_FOUND", f"no {market} account")
            params = dict(parse_qsl(query))
            return Response.json(
                200, self._route(method, route.rsplit("/", 1)[-1], acct, market, params, body)
            )
        except GateError as exc:
            return _error(exc)

    def _market_fault(self, market: str | None) -> None:
        held = [f for f, markets in self.market_faults.items() if market is None or market in markets]
        if "venue_maintenance" in held:
            raise GateError(503, "SERVER_ERROR", "system maintenance")
        if "venue_5xx" in held:
            raise GateError(502, "INTERNAL", "bad gateway")
        if "venue_429" in held:
            raise GateError(429, "TOO_MANY_REQUESTS", "Request Rate limit Exceeded")

    def _route(
        self, method: str, name: str, acct: _Account, market: str, params: dict[str, str], body: bytes
    ) -> Any:
        if (method, name) == ("POST", "countdown_cancel_all"):
            return self._countdown(acct, market, body)
        if name == "price_orders" and method in ("DELETE", "GET"):
            if method == "GET" and "status" not in params:
                raise GateError(400, "MISSING_REQUIRED_PARAM", "status")
            return []  # none rest here
        if market == "spot":
            if (method, name) == ("DELETE", "orders"):
                pair = self._symbol(market, params.get("currency_pair"))
                return [self._spot(o) | {"succeeded": True} for o in self._cancel(acct, market, pair)]
            if (method, name) == ("GET", "open_orders"):
                pairs = sorted({o.symbol for o in acct.orders.values() if o.market == market})
                return [self._spot_pair(acct, pair) for pair in pairs]
        elif name == "orders" and method == "DELETE":
            if not params.get("contract"):
                raise GateError(400, "MISSING_REQUIRED_PARAM", "contract")
            contract = self._symbol(market, params["contract"])
            return [self._futures(o, "finished") for o in self._cancel(acct, market, contract)]
        elif name == "orders" and method == "GET":
            if params.get("status") != "open":
                raise GateError(
                    400, "MISSING_REQUIRED_PARAM" if "status" not in params else "INVALID_PARAM_VALUE"
                )
            listed = [o for o in acct.orders.values() if o.market == market]
            offset, limit = int(params.get("offset", 0)), int(params.get("limit", 100))
            return [self._futures(o, "open") for o in listed[offset : offset + limit]]
        raise GateError(404, "INVALID_URL", f"{method} {name}")

    def _countdown(self, acct: _Account, market: str, body: bytes) -> dict[str, Any]:
        try:
            payload = json.loads(body)
        except ValueError:
            raise GateError(400, "INVALID_REQUEST_BODY") from None
        if not isinstance(payload, dict):
            raise GateError(400, "INVALID_REQUEST_BODY")
        timeout = payload.get("timeout")
        if isinstance(timeout, bool) or not isinstance(timeout, int):
            raise GateError(400, "INVALID_PARAM_VALUE" if "timeout" in payload else "MISSING_REQUIRED_PARAM")
        if timeout < 0 or 0 < timeout < MIN_TIMEOUT_S or timeout > MAX_TIMEOUT_S:
            raise GateError(400, "INVALID_PARAM_VALUE", "timeout: 0, or at least 5 seconds")
        raw = payload.get("currency_pair" if market == "spot" else "contract")
        scope = (market, self._symbol(market, raw if isinstance(raw, str) else None))
        if timeout == 0:
            acct.timers.pop(scope, None)
            trigger = 0
        else:
            trigger = acct.timers[scope] = self.now_ms() + timeout * 1000
        return {"triggerTime": str(trigger) if self.trigger_as_string else trigger}

    @staticmethod
    def _symbol(market: str, symbol: str | None) -> str | None:
        if symbol is None or symbol == "":
            return None
        if symbol not in SYMBOLS[market]:
            raise GateError(
                400, "INVALID_CURRENCY_PAIR" if market == "spot" else "CONTRACT_NOT_FOUND", symbol
            )
        return symbol

    @staticmethod
    def _spot(order: _Order) -> dict[str, Any]:
        return {
            "id": str(order.oid),
            "currency_pair": order.symbol,
            "side": order.side,
            "price": order.price,
            "amount": order.size,
            "status": "open",
        }

    def _spot_pair(self, acct: _Account, pair: str) -> dict[str, Any]:
        orders = [self._spot(o) for o in acct.orders.values() if o.market == "spot" and o.symbol == pair]
        return {"currency_pair": pair, "total": len(orders), "orders": orders}

    @staticmethod
    def _futures(order: _Order, status: str) -> dict[str, Any]:
        size = int(float(order.size)) or 1
        return {
            "id": order.oid,
            "contract": order.symbol,
            "size": size if order.side == "buy" else -size,
            "price": order.price,
            "status": status,
            **({"finish_as": "cancelled"} if status == "finished" else {}),
        }

    # -- authentication, permissions, rate limit ---------------------------------------------------
    def _authenticate(self, method: str, route: str, query: str, headers: Headers, body: bytes) -> _Key:
        api_key, timestamp, signature = (headers.get(h) for h in ("key", "timestamp", "sign"))
        if not api_key or not timestamp or not signature:
            raise GateError(401, "MISSING_REQUIRED_HEADER", "KEY, Timestamp and SIGN are required")
        key = self._keys.get(api_key)
        if key is None:
            raise GateError(401, "INVALID_KEY", "Invalid key provided")
        try:
            sent_ms = float(timestamp) * 1000
        except ValueError:
            raise GateError(401, "INVALID_CREDENTIALS", "bad Timestamp") from None
        if abs(sent_ms - self.now_ms()) > TIMESTAMP_WINDOW_MS:
            raise GateError(400, "REQUEST_EXPIRED", "Request Timestamp is far from the server time")
        expected = gate_signature(method, route, unquote_plus(query), body, timestamp, key.secret)
        if not hmac.compare_digest(expected, signature):
            raise GateError(401, "INVALID_SIGNATURE", "Signature mismatch")
        return key

    @staticmethod
    def _permitted(key: _Key, method: str, market: str) -> None:
        if market.split(":", maxsplit=1)[0] not in key.products:
            raise GateError(403, "FORBIDDEN", f"no {market} permission")
        if method != "GET" and not key.write:
            raise GateError(403, "READ_ONLY", "read-only key")

    def _count(self, uid: str, method: str, route: str) -> None:
        now = self.now_ms()
        calls = self._calls.setdefault((uid, method, route), [])
        calls[:] = [t for t in calls if t > now - RATE_WINDOW_MS]
        if len(calls) >= RATE_LIMIT:
            raise GateError(429, "TOO_MANY_REQUESTS", "Request Rate limit Exceeded")
        calls.append(now)


def _error(exc: GateError) -> Response:
    return Response.json(exc.status, {"label": exc.label, "message": exc.message})


def _factory(_args: Any) -> SimServer:
    return GateSim()


SIMULATOR = GateSim


if __name__ == "__main__":
    run_standalone(_factory)
