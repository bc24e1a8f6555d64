"""A BitMEX REST stand-in: real `api-signature` checks over `verb + path?query + expires + body`,
`api-expires` windows, key permissions, per-key rate limits, resting orders, and the account-wide
`cancelAllAfter` timer with BitMEX's rules (docs/venues.md, BitMEX).

Authentication is checked here with code of its own (never the client's), over the exact bytes sent,
JSON or form bodies alike. Errors are BitMEX's shape, `{"error": {"message", "name"}}`, with its
statuses.

BitMEX rules kept:
- one timer per account (any key of the account moves it); `timeout` in ms replaces the last one;
  0 switches it off; a timer that fires cancels every open order of the account (stops included)
  and is then off until a new non-zero timeout (UNVERIFIED: chosen here);
- `api-expires` is checked at the gateway, before the engine's queue: a request that passed it can
  be processed later. `queue_ms` is how long after its expiry a request still takes effect, read as
  the worst case (every late landing waited in the queue): so an extension processed after a disarm
  re-arms the timer, as on BitMEX;
- permissions: `orderCancel` moves the timer and cancels, `order` also trades; any key reads;
- 120 requests per rolling minute per key (429 "Rate limit exceeded"), and 10 per second on the
  order routes (the second layer), counted on every authenticated request;
- load shedding (`venue_maintenance`): 503 for everything but cancels, which BitMEX spares.
Simplifications: only limit orders rest; no fills; no one-hour ban; no `x-ratelimit-*` headers (the
transport reads none). UNVERIFIED and chosen here: the timer's answer `{now, cancelTime}` (or `{}`
with `reply_times=False`); the expired request's status (400).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sandbox.venues.common import Headers, Response, run_standalone
from sandbox.venues.simulator import COMMON_FAULTS, AccountSpec, Rules, Simulator

RATE_PER_MINUTE = 120
ORDER_RATE_PER_SECOND = 10
PROVISIONED_SECRET = "simulated-bitmex-secret-forty-eight-characters"
# Routes that need a permission beyond reading, and which ones grant them.
_CANCELS = {
    ("POST", "/api/v1/order/cancelAllAfter"),
    ("DELETE", "/api/v1/order/all"),
    ("DELETE", "/api/v1/order"),
}
_ORDER_ROUTES = {"/api/v1/order", "/api/v1/order/all", "/api/v1/order/bulk"}


class BitmexError(Exception):
    def __init__(self, status: int, message: str, name: str = "HTTPError") -> None:
        super().__init__(message)
        self.status, self.message, self.name = status, message, name


@dataclass
class _Key:
    api_key: str
    secret: str
    account: str
    permission: str  # "orderCancel", "order" or "" (read only)
    calls_ms: list[int] = field(default_factory=list)


@dataclass
class _Account:
    name: str
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    trigger_ms: int | None = None
    # (when processed, timeout ms): every cancelAllAfter that took effect.
    calls: list[tuple[int, int]] = field(default_factory=list)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


class BitmexSim(Simulator):
    venue = "bitmex"
    RULES = Rules(
        faults=COMMON_FAULTS,
        late_extension_fault="venue_latency",  # a relative timeout, computed at sending
    )
    SANDBOX_ACCOUNTS = (AccountSpec("main"),)

    def __init__(
        self, clock: Callable[[], int] | None = None, *, queue_ms: int = 0, reply_times: bool = True
    ) -> None:
        super().__init__(clock)
        self.queue_ms = queue_ms
        self.reply_times = reply_times
        self._keys: dict[str, _Key] = {}
        self._accounts: dict[str, _Account] = {}
        self._order_calls_ms: dict[str, list[int]] = {}
        self._issued = 0  # order ids are uuids, issued in order

    @classmethod
    def create(cls, clock: Callable[[], int] | None = None) -> BitmexSim:
        # As the campaign runs it: a request that passed the gateway may wait 20 s in the queue.
        return cls(clock, queue_ms=20_000)

    # -- registration and test accessors -------------------------------------------------------
    def reset(self, *, queue_ms: int = 0, reply_times: bool = True) -> None:
        """Forget every key, order, timer, fire and fault: one server can serve many tests."""
        with self.lock:
            self.faults.clear()
            self.fires.clear()
            self._keys.clear()
            self._accounts.clear()
            self._order_calls_ms.clear()
            self.queue_ms, self.reply_times = queue_ms, reply_times
            self._forget_provisioned()

    def add_key(self, api_key: str, secret: str, account: str, permission: str = "orderCancel") -> None:
        if permission not in ("orderCancel", "order", ""):
            raise ValueError(f"unknown permission {permission!r}")
        with self.lock:
            self._keys[api_key] = _Key(api_key, secret, account, permission)
            self._accounts.setdefault(account, _Account(account))

    def place_order(
        self, account: str, symbol: str = "XBTUSD", side: str = "Buy", price: str = "100", qty: str = "1"
    ) -> str:
        with self.lock:
            acct = self._accounts.setdefault(account, _Account(account))
            self._issued += 1
            order_id = str(uuid.UUID(int=self._issued))
            acct.orders[order_id] = {
                "orderID": order_id,
                "symbol": symbol,
                "side": side,
                "price": float(price),
                "orderQty": int(float(qty)),
                "leavesQty": int(float(qty)),
                "ordType": "Limit",
                "ordStatus": "New",
                "timestamp": iso(self.now_ms()),
            }
            return order_id

    def timeouts(self, account: str) -> list[tuple[int, int]]:
        with self.lock:
            return list(self._accounts[account].calls)

    # -- the Simulator interface ----------------------------------------------------------------
    def _grant(self, spec: AccountSpec, generation: int) -> tuple[dict[str, Any], list[str]]:
        key, kill = f"bitmex-{spec.account}-g{generation}", f"bitmex-kill-{spec.account}-g{generation}"
        self.add_key(key, PROVISIONED_SECRET, spec.account)
        entry: dict[str, Any] = {"account_id": spec.account, "api_key": key, "api_secret": PROVISIONED_SECRET}
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
        return self.place_order(account, price=price, qty=size)  # orders are the account's

    def order_ids(self, account: str) -> set[str]:
        with self.lock:
            acct = self._accounts.get(account)
            return set(acct.orders) if acct else set()

    def timer_at(self, account: str) -> int | None:
        with self.lock:
            acct = self._accounts.get(account)
            return acct.trigger_ms if acct else None

    @staticmethod
    def is_extension(path: str, body: bytes) -> bool:
        return urlsplit(path).path == "/api/v1/order/cancelAllAfter" and _timeout_of(body) not in (None, 0)

    @staticmethod
    def is_cancel(path: str, body: bytes) -> bool:
        return urlsplit(path).path == "/api/v1/order/all"

    # -- SimServer hooks ------------------------------------------------------------------------
    def rate_limited(self) -> Response:
        return _error(429, "Rate limit exceeded, retry in 1 seconds.", "RateLimitError")

    def maintenance(self) -> Response:
        return _error(503, "The system is currently overloaded. Please try again later.")

    def dispatch(self, method: str, path: str, headers: Headers, body: bytes) -> Response:
        # Load shedding spares cancels (BitMEX's overload policy): they pass to the engine.
        if self.faults.maintenance and (method, urlsplit(path).path) in {
            ("DELETE", "/api/v1/order/all"),
            ("DELETE", "/api/v1/order"),
        }:
            with self.lock:
                self.requests_seen += 1
                self.poll()
                return self.handle(method, path, headers, body)
        return super().dispatch(method, path, headers, body)

    def poll(self) -> None:
        now = self.now_ms()
        for acct in self._accounts.values():
            if acct.trigger_ms is not None and acct.trigger_ms <= now:
                # Recorded at the trigger time, however coarsely a virtual clock jumped past it.
                at = acct.trigger_ms
                n = self._cancel_all(acct)
                acct.trigger_ms = None
                self.fires.append((at, acct.name, n))

    def handle(self, method: str, path: str, headers: Headers, body: bytes) -> Response:
        route = urlsplit(path).path
        try:
            if method == "GET" and route == "/api/v1":
                return Response.json(
                    200, {"name": "BitMEX API", "version": "1.2.0", "timestamp": self.now_ms()}
                )
            key = self._authenticate(method, path, headers, body)
            self._count(key, route)
            if (method, route) in _CANCELS and key.permission not in ("orderCancel", "order"):
                raise BitmexError(403, "Access Denied: this key lacks the permission for this route")
            if method == "POST" and route == "/api/v1/order" and key.permission != "order":
                raise BitmexError(403, "Access Denied: this key lacks the permission for this route")
            acct = self._accounts[key.account]
            if (method, route) == ("POST", "/api/v1/order/cancelAllAfter"):
                return Response.json(200, self._cancel_after(acct, _params(headers, body)))
            if (method, route) == ("DELETE", "/api/v1/order/all"):
                return Response.json(200, self._cancelled(acct, list(acct.orders)))
            if (method, route) == ("GET", "/api/v1/order"):
                return Response.json(200, self._list(acct, dict(parse_qsl(urlsplit(path).query))))
            if (method, route) == ("POST", "/api/v1/order"):
                p = _params(headers, body)
                return Response.json(
                    200, acct.orders[self.place_order(acct.name, price=str(p.get("price", "100")))]
                )
            raise BitmexError(404, "Not Found")
        except BitmexError as exc:
            return _error(exc.status, exc.message, exc.name)

    # -- authentication -------------------------------------------------------------------------
    def _authenticate(self, method: str, path: str, headers: Headers, body: bytes) -> _Key:
        api_key = headers.get("api-key")
        if not api_key:
            raise BitmexError(401, "Missing API key.")
        key = self._keys.get(api_key)
        if key is None:
            raise BitmexError(401, "Invalid API Key.")
        raw = headers.get("api-expires", "")
        if not raw.isdigit():
            raise BitmexError(400, "api-expires must be an integer UNIX timestamp in seconds.")
        now_s = self.now_ms() // 1000
        # Valid through its own second; `queue_ms`: it passed the gateway then and waited.
        if int(raw) < (self.now_ms() - self.queue_ms) // 1000:
            raise BitmexError(
                400, f"This request has expired - `expires` is in the past. Current time: {now_s}"
            )
        message = method.encode() + path.encode() + raw.encode() + body
        expected = hmac.new(key.secret.encode(), message, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, headers.get("api-signature", "")):
            raise BitmexError(401, "Signature not valid.")
        return key

    def _count(self, key: _Key, route: str) -> None:
        now = self.now_ms()
        key.calls_ms = [t for t in key.calls_ms if t > now - 60_000]
        if len(key.calls_ms) >= RATE_PER_MINUTE:
            raise BitmexError(429, "Rate limit exceeded, retry in 1 seconds.", "RateLimitError")
        key.calls_ms.append(now)
        if route in _ORDER_ROUTES:
            recent = [t for t in self._order_calls_ms.get(key.api_key, []) if t > now - 1_000]
            if len(recent) >= ORDER_RATE_PER_SECOND:
                raise BitmexError(429, "Rate limit exceeded, retry in 1 seconds.", "RateLimitError")
            self._order_calls_ms[key.api_key] = [*recent, now]

    # -- routes ---------------------------------------------------------------------------------
    def _cancel_after(self, acct: _Account, params: dict[str, Any]) -> dict[str, Any]:
        timeout = _number(params.get("timeout"))
        if timeout is None or timeout < 0:
            raise BitmexError(400, "timeout must be a number of milliseconds, 0 to cancel the timer.")
        now = self.now_ms()
        ms = int(timeout)
        acct.trigger_ms = now + ms if ms else None
        acct.calls.append((now, ms))
        if not self.reply_times:
            return {}
        return {"now": iso(now), "cancelTime": iso(acct.trigger_ms) if acct.trigger_ms else 0}

    def _cancel_all(self, acct: _Account) -> int:
        return len(self._cancelled(acct, list(acct.orders)))

    def _cancelled(self, acct: _Account, ids: list[str]) -> list[dict[str, Any]]:
        out = []
        for oid in ids:
            order = acct.orders.pop(oid)
            out.append({**order, "ordStatus": "Canceled", "leavesQty": 0})
        return out

    def _list(self, acct: _Account, query: dict[str, str]) -> list[dict[str, Any]]:
        try:
            wanted = json.loads(query.get("filter", "{}"))
            count, start = int(query.get("count", "100")), int(query.get("start", "0"))
        except ValueError:
            raise BitmexError(400, "Invalid filter, count or start.") from None
        if not isinstance(wanted, dict) or not 0 < count <= 1_000 or start < 0:
            raise BitmexError(400, "Invalid filter, count or start.")
        rows = list(acct.orders.values())  # every order kept is open
        return rows[start : start + count]


def _error(status: int, message: str, name: str = "HTTPError") -> Response:
    return Response.json(status, {"error": {"message": message, "name": name}})


def _params(headers: Headers, body: bytes) -> dict[str, Any]:
    """A JSON or form body, as BitMEX takes both."""
    try:
        if "json" in headers.get("content-type", "") or body.lstrip().startswith(b"{"):
            params = json.loads(body or b"{}")
            if not isinstance(params, dict):
                raise ValueError("not an object")
            return params
        return dict(parse_qsl(body.decode(), keep_blank_values=True))
    except (ValueError, UnicodeDecodeError):
        raise BitmexError(400, "Invalid body.") from None


def _number(raw: object) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(raw)
        except ValueError:
            return None
    return None


def _timeout_of(body: bytes) -> float | None:
    try:
        return _number(_params({}, body).get("timeout"))
    except BitmexError:
        return None


def _factory(_args: Any) -> BitmexSim:
    sim = BitmexSim()
    for spec in sim.SANDBOX_ACCOUNTS:
        sim.provision(spec)
    return sim


SIMULATOR = BitmexSim


if __name__ == "__main__":
    run_standalone(_factory)
