"""A Binance USD-M / COIN-M futures stand-in: real HMAC-SHA256 checks over the exact query and body,
the timestamp / recvWindow rule, the IP's request weight per minute (429, then a 418 ban), resting
orders and conditional (algo) orders, and `countdownCancelAll` per (account, symbol) with Binance's
rules (docs/venues.md, Binance).

Why this file is long: authentication, the weight budget, the book and the per-symbol timers are one
model of one venue, written apart from the client, behind the `Simulator` interface.

Binance rules kept:
- a countdown per (account, symbol): `countdownTime` ms from the request's arrival; 0 switches that
  symbol's off; any other symbol is untouched. The reply is an echo (`symbol`, `countdownTime` as a
  string), never a fire time. A scanner fires due countdowns (every `advance`, and every request);
  a fire cancels that symbol's open orders and leaves its countdown off;
- a request is processed only if `timestamp < serverTime + 1000` and `serverTime - timestamp <=
  recvWindow` (default 5000, at most 60000), else -1021; the signature covers `query + body`
  (the `signature` pair taken out), in any order, hex in any case; a parameter in both wins from the
  query;
- request weight per IP per minute (countdown 10, lists 1 with a symbol and 40 without, cancels 1):
  past the budget every request answers 429 (-1003), and `ban_after` 429s in one minute ban the IP
  (418, "IP banned until <ms>") for `ban_ms`.
UNVERIFIED and chosen here (the safe reading for the client): conditional orders survive a fire;
`allOpenOrders` answers its success message when nothing was open; a countdown's state after firing
is off.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sandbox.venues.common import Headers, Response
from sandbox.venues.simulator import COMMON_FAULTS, AccountSpec, Rules, Simulator

PREFIXES = {"/fapi/v1": "usdm", "/dapi/v1": "coinm"}
SYMBOLS = {
    "usdm": frozenset({"BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"}),
    "coinm": frozenset({"BTCUSD_PERP", "ETHUSD_PERP"}),
}
# The symbols every provisioned account lists, and where `rest_order` rests its orders in turn.
LISTED = ("BTCUSDT", "ETHUSDT")
PROVISIONED_SECRET = "simulatedBinanceSecretKeyForTheSandboxAndTheCampaign0123456789ab"
DONE = {"code": 200, "msg": "The operation of cancel all open order is done."}
MAX_RECV_WINDOW_MS = 60_000

# (weight with a symbol, weight without), per endpoint and method.
_WEIGHTS: dict[tuple[str, str], tuple[int, int]] = {
    ("POST", "countdownCancelAll"): (10, 10),
    ("GET", "openOrders"): (1, 40),
    ("GET", "openAlgoOrders"): (1, 40),
    ("DELETE", "allOpenOrders"): (1, 1),
    ("DELETE", "algoOpenOrders"): (1, 1),
    ("GET", "time"): (1, 1),
}
_READS = frozenset({"openOrders", "openAlgoOrders"})


class BinanceError(Exception):
    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


@dataclass
class _Key:
    api_key: str
    secret: str
    account: str
    permissions: frozenset[str]  # "read", "trade"


@dataclass
class _Account:
    name: str
    market: str
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    algo: dict[str, dict[str, Any]] = field(default_factory=dict)
    timers: dict[str, int] = field(default_factory=dict)  # symbol -> fire time ms
    placed: int = 0


def signature(total_params: str, secret: str) -> str:
    return hmac.new(secret.encode(), total_params.encode(), hashlib.sha256).hexdigest()


class BinanceSim(Simulator):
    venue = "binance"
    RULES = Rules(
        faults=COMMON_FAULTS,
        late_extension_fault="venue_latency",
        cancel_all_names_orders=False,  # its answer is a message: the record counts the listing
    )
    SANDBOX_ACCOUNTS = (AccountSpec("main"),)

    def __init__(
        self,
        clock: Callable[[], int] | None = None,
        *,
        weight_per_minute: int = 2_400,
        ban_after: int = 20,
        ban_ms: int = 120_000,
        fire_cancels_algo: bool = False,
    ) -> None:
        super().__init__(clock)
        self.weight_per_minute = weight_per_minute
        self.ban_after = ban_after
        self.ban_ms = ban_ms
        self.fire_cancels_algo = fire_cancels_algo
        self._keys: dict[str, _Key] = {}
        self._accounts: dict[str, _Account] = {}
        self._next_id = 8_000_000
        self._minute = -1
        self.weight_used = 0
        self._refused = 0  # 429s answered this minute
        self.banned_until: int | None = None
        self.countdown_log: list[tuple[int, str, str, int]] = []  # (landed, account, symbol, countdown)

    @classmethod
    def create(cls, clock: Callable[[], int] | None = None) -> BinanceSim:
        return cls(clock)

    # -- registration and test accessors ------------------------------------------------------------
    def add_key(
        self,
        api_key: str,
        secret: str,
        account: str,
        market: str = "usdm",
        permissions: Iterable[str] = ("read", "trade"),
    ) -> None:
        with self.lock:
            self._keys[api_key] = _Key(api_key, secret, account, frozenset(permissions))
            self._accounts.setdefault(account, _Account(account, market))

    def place_order(
        self, account: str, symbol: str, *, price: str = "100", size: str = "1", algo: bool = False
    ) -> str:
        """Rest a limit buy (or a conditional order, `algo`) straight into the book (tests)."""
        with self.lock:
            acct = self._accounts.setdefault(account, _Account(account, "usdm"))
            self._next_id += 1
            oid = str(self._next_id)
            if algo:
                acct.algo[oid] = {
                    "algoId": int(oid),
                    "symbol": symbol,
                    "side": "SELL",
                    "algoType": "CONDITIONAL",
                    "orderType": "STOP_MARKET",
                    "triggerPrice": price,
                    "quantity": size,
                }
                return f"algo:{oid}"
            acct.orders[oid] = {
                "orderId": int(oid),
                "symbol": symbol,
                "side": "BUY",
                "type": "LIMIT",
                "price": price,
                "origQty": size,
                "status": "NEW",
                "time": self.now_ms(),
            }
            return oid

    def timers(self, account: str) -> dict[str, int]:
        with self.lock:
            acct = self._accounts.get(account)
            return dict(acct.timers) if acct else {}

    # -- the Simulator interface --------------------------------------------------------------------
    def _grant(self, spec: AccountSpec, generation: int) -> tuple[dict[str, Any], list[str]]:
        key, kill = f"binance-{spec.account}-g{generation}", f"binance-kill-{spec.account}-g{generation}"
        self.add_key(key, PROVISIONED_SECRET, spec.account)
        entry: dict[str, Any] = {
            "account_id": spec.account,
            "market": "usdm",
            "api_key": key,
            "api_secret": PROVISIONED_SECRET,
            "symbols": list(LISTED),
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
        with self.lock:
            acct = self._accounts.setdefault(account, _Account(account, "usdm"))
            acct.placed += 1
            symbol = LISTED[acct.placed % len(LISTED)]  # in turn: every listed symbol's timer counts
        return self.place_order(account, symbol, price=price, size=size)

    def order_ids(self, account: str) -> set[str]:
        with self.lock:
            acct = self._accounts.get(account)
            if acct is None:
                return set()
            return set(acct.orders) | {f"algo:{a}" for a in acct.algo}

    def timer_at(self, account: str) -> int | None:
        """The latest of the account's countdowns: the account is protected only as far as its worst
        symbol is."""
        with self.lock:
            acct = self._accounts.get(account)
            return max(acct.timers.values()) if acct and acct.timers else None

    @staticmethod
    def is_extension(path: str, body: bytes) -> bool:
        if not urlsplit(path).path.endswith("/countdownCancelAll"):
            return False
        params = dict(parse_qsl(body.decode(errors="replace")))
        return params.get("countdownTime", "0") != "0"

    @staticmethod
    def is_cancel(path: str, body: bytes) -> bool:
        return urlsplit(path).path.endswith(("/allOpenOrders", "/algoOpenOrders"))

    # -- SimServer hooks ----------------------------------------------------------------------------
    def rate_limited(self) -> Response:
        with self.lock:
            return self._refuse(self.now_ms())

    def maintenance(self) -> Response:
        return Response.json(503, {"code": -1016, "msg": "Service Unavailable."})

    def poll(self) -> None:
        now = self.now_ms()
        for acct in self._accounts.values():
            for symbol, at in sorted(acct.timers.items()):
                if at <= now:
                    del acct.timers[symbol]
                    n = self._cancel_symbol(acct, symbol, algo=self.fire_cancels_algo)
                    self.fires.append((at, acct.name, n))

    def handle(self, method: str, path: str, headers: Headers, body: bytes) -> Response:
        now = self.now_ms()
        parts = urlsplit(path)
        prefix, _, name = parts.path.rpartition("/")
        try:
            if self.banned_until is not None and now < self.banned_until:
                raise BinanceError(
                    418,
                    -1003,
                    f"Way too much request weight used; IP banned until {self.banned_until}. "
                    "Please use the websocket for live updates to avoid bans.",
                )
            market = PREFIXES.get(prefix)
            if market is None or (method, name) not in _WEIGHTS:
                raise BinanceError(404, -1000, f"Unknown endpoint {method} {parts.path}")
            params = {**dict(parse_qsl(body.decode(errors="replace"))), **dict(parse_qsl(parts.query))}
            with_symbol, without = _WEIGHTS[(method, name)]
            if not self._spend(with_symbol if "symbol" in params else without, now):
                return self._refuse(now)
            if name == "time":
                return Response.json(200, {"serverTime": now})
            acct = self._authenticate(
                parts.query, body, headers, params, now, need="read" if name in _READS else "trade"
            )
            if acct.market != market:
                raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
            return Response.json(200, self._route(acct, method, name, params, now))
        except BinanceError as exc:
            return Response.json(exc.status, {"code": exc.code, "msg": exc.msg})

    # -- weight and bans ----------------------------------------------------------------------------
    def _spend(self, weight: int, now: int) -> bool:
        minute = now // 60_000
        if minute != self._minute:
            self._minute, self.weight_used, self._refused = minute, 0, 0
        if self.weight_used + weight > self.weight_per_minute:
            return False
        self.weight_used += weight
        return True

    def _refuse(self, now: int) -> Response:
        minute = now // 60_000
        if minute != self._minute:
            self._minute, self.weight_used, self._refused = minute, 0, 0
        self._refused += 1
        if self._refused > self.ban_after:
            self.banned_until = now + self.ban_ms  # sent on after 429s: banned
        return Response.json(
            429, {"code": -1003, "msg": "Too many requests; current limit of IP is 2400 requests per minute."}
        )

    # -- authentication -----------------------------------------------------------------------------
    def _authenticate(
        self, query: str, body: bytes, headers: Headers, params: dict[str, str], now: int, *, need: str
    ) -> _Account:
        key = self._keys.get(headers.get("x-mbx-apikey", ""))
        if key is None:
            raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        raw_body = body.decode(errors="replace")
        sent, total = _take_signature(query, raw_body)
        if sent is None:
            raise BinanceError(
                400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
            )
        if not hmac.compare_digest(signature(total, key.secret), sent.lower()):
            raise BinanceError(400, -1022, "Signature for this request is not valid.")
        timestamp = _int(params.get("timestamp"))
        window = _int(params.get("recvWindow", "5000"))
        if timestamp is None:
            raise BinanceError(
                400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
            )
        if window is None or not 0 < window <= MAX_RECV_WINDOW_MS:
            raise BinanceError(400, -1131, "recvWindow must be less than 60000")
        if timestamp >= now + 1_000:
            raise BinanceError(
                400, -1021, "Timestamp for this request was 1000ms ahead of the server's time."
            )
        if now - timestamp > window:
            raise BinanceError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        if need not in key.permissions:
            raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        return self._accounts[key.account]

    # -- endpoints ----------------------------------------------------------------------------------
    def _route(self, acct: _Account, method: str, name: str, params: dict[str, str], now: int) -> Any:
        symbol = params.get("symbol")
        if symbol is not None and symbol not in SYMBOLS[acct.market]:
            raise BinanceError(400, -1121, "Invalid symbol.")
        if name == "openOrders":
            return [dict(o) for o in acct.orders.values() if symbol in (None, o["symbol"])]
        if name == "openAlgoOrders":
            if acct.market != "usdm":
                raise BinanceError(404, -1000, "Unknown endpoint")
            return [dict(o) for o in acct.algo.values() if symbol in (None, o["symbol"])]
        if symbol is None:
            raise BinanceError(
                400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
            )
        if name == "allOpenOrders":
            self._cancel_symbol(acct, symbol, algo=False)
            return DONE
        if name == "algoOpenOrders":
            if acct.market != "usdm":
                raise BinanceError(404, -1000, "Unknown endpoint")
            self._cancel_symbol(acct, symbol, algo=True, plain=False)
            return DONE
        countdown = _int(params.get("countdownTime"))
        if countdown is None or countdown < 0:
            raise BinanceError(
                400, -1102, "Mandatory parameter 'countdownTime' was not sent, was empty/null, or malformed."
            )
        if countdown:
            acct.timers[symbol] = now + countdown
        else:
            acct.timers.pop(symbol, None)
        self.countdown_log.append((now, acct.name, symbol, countdown))
        return {"symbol": symbol, "countdownTime": str(countdown)}

    def _cancel_symbol(self, acct: _Account, symbol: str, *, algo: bool, plain: bool = True) -> int:
        gone = [oid for oid, o in acct.orders.items() if o["symbol"] == symbol] if plain else []
        for oid in gone:
            del acct.orders[oid]
        algo_gone = [oid for oid, o in acct.algo.items() if o["symbol"] == symbol] if algo else []
        for oid in algo_gone:
            del acct.algo[oid]
        return len(gone) + len(algo_gone)


def _take_signature(query: str, body: str) -> tuple[str | None, str]:
    """The signature sent, and `totalParams` (query then body, exactly as sent) without it."""
    for where in ("query", "body"):
        text = query if where == "query" else body
        head, sep, tail = text.rpartition("signature=")
        if sep and (head == "" or head.endswith("&")) and "&" not in tail:
            rest = head[:-1] if head.endswith("&") else head
            return tail, (rest + body if where == "query" else query + rest)
    return None, query + body


def _int(raw: object) -> int | None:
    if isinstance(raw, str) and raw.lstrip("-").isdigit():
        return int(raw)
    return None


SIMULATOR = BinanceSim
