"""A Deribit JSON-RPC-over-HTTP stand-in: real client-credentials authentication (`public/auth`
checks the Client ID and Secret and issues bearer tokens that expire on the simulator's clock),
bearer checks on every private call, access scopes, credit-based rate limits per (sub)account,
resting and trigger orders, `private/cancel_all` and `private/get_open_orders` with Deribit's rules
(docs/venues.md, Deribit). There is no timer: cancel-on-disconnect needs a WebSocket, and HTTP has
none to drop.

Authentication is checked here with code of its own (never the client's). Answers are JSON-RPC
2.0 objects, `result` or `error {code, message, data}`.

Deribit rules kept:
- `public/auth` over GET (query) or POST (JSON-RPC body); `grant_type=client_credentials` only;
  a wrong id or secret is 13004 invalid_credentials; the token lives `token_lifetime_s`;
- a token asked for without a `session:<name>` scope is bound to its connection: over HTTP every
  request is a connection of its own, so it is refused on any later request (13009, "'connection'
  scope can't be reused for other connections"); an expired, revoked or unknown token is 13009;
- scopes: `trade:read_write` cancels and reads, `trade:read` only reads (13021 forbidden);
- `cancel_all` cancels every order and untriggered trigger order of the key's (sub)account, in every
  currency and kind, and answers the count (0 when nothing was open);
- `get_open_orders`: `type=all` lists the orders resting in the book and `trigger_all` the
  untriggered trigger orders (the reading that asks the most of a client: whether `all` lists
  trigger orders too is unverified);
- credits per (sub)account: a non-matching-engine request costs 500 of 50,000, refilled at 10,000
  a second; matching-engine requests (`cancel_all`) have their own bucket, at the lowest tier's
  5 a second with bursts of 20 (assumed: the tiers below Tier 1 are not published); past either,
  10028 too_many_requests;
- maintenance (`venue_maintenance`): 11051 system_maintenance for everything.
Simplifications: only limit and trigger orders rest; no fills; no refresh_token grant; a deleted key
takes its tokens with it (UNVERIFIED: chosen here).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sandbox.venues.common import Headers, Response, run_standalone
from sandbox.venues.simulator import COMMON_FAULTS, AccountSpec, Rules, Simulator

API = "/api/v2/"
PROVISIONED_SECRET = "simulated-deribit-client-secret-43-characters"
TOKEN_LIFETIME_S = 900
# Credits (Deribit's rate-limit article): non-matching-engine requests.
CREDITS_MAX, CREDITS_REFILL_PER_S, CREDITS_PER_CALL = 50_000, 10_000, 500
# Matching-engine requests, the lowest tier assumed: 5 a second, bursts of 20.
ME_BURST, ME_PER_S = 20, 5
_ME_METHODS = frozenset({"private/cancel_all", "private/cancel_all_by_currency", "private/buy"})
_READ, _WRITE = "trade:read", "trade:read_write"
_ORDER_TYPES = frozenset({"all", "limit", "trigger_all", "stop_all", "take_all", "trailing_all"})
_KINDS = frozenset({"future", "option", "spot", "future_combo", "option_combo", "combo", "any"})


class RpcError(Exception):
    def __init__(self, code: int, message: str, status: int = 400, reason: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.status, self.reason = code, message, status, reason


@dataclass
class _Key:
    client_id: str
    secret: str
    account: str
    scope: str  # the key's maximum: trade:read_write, trade:read or "" (none of trade)


@dataclass
class _Token:
    client_id: str
    expires_ms: int
    session: str | None  # None: bound to the connection that asked for it


@dataclass
class _Bucket:
    size: float
    per_s: float
    level: float
    at_ms: int

    def take(self, cost: float, now_ms: int) -> bool:
        self.level = min(self.size, self.level + (now_ms - self.at_ms) * self.per_s / 1000)
        self.at_ms = now_ms
        if self.level < cost:
            return False
        self.level -= cost
        return True


@dataclass
class _Account:
    name: str
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    credits: _Bucket | None = None
    engine: _Bucket | None = None


class DeribitSim(Simulator):
    venue = "deribit"
    RULES = Rules(
        faults=frozenset(COMMON_FAULTS),
        # No timer to land late: the fault a relative timer would have, named for completeness.
        late_extension_fault="venue_latency",
        timer_switches_off=False,
        has_timer=False,
    )
    SANDBOX_ACCOUNTS = (AccountSpec("main"),)

    def __init__(
        self, clock: Callable[[], int] | None = None, *, token_lifetime_s: int = TOKEN_LIFETIME_S
    ) -> None:
        super().__init__(clock)
        self.token_lifetime_s = token_lifetime_s
        self._keys: dict[str, _Key] = {}
        self._accounts: dict[str, _Account] = {}
        self._tokens: dict[str, _Token] = {}
        self._issued = 0
        self.auths = 0  # public/auth calls answered with a token

    @classmethod
    def create(cls, clock: Callable[[], int] | None = None) -> DeribitSim:
        return cls(clock)

    # -- registration and test accessors -------------------------------------------------------
    def reset(self, *, token_lifetime_s: int = TOKEN_LIFETIME_S) -> None:
        """Forget every key, token, order, fire and fault: one server can serve many tests."""
        with self.lock:
            self.faults.clear()
            self.fires.clear()
            self._keys.clear()
            self._accounts.clear()
            self._tokens.clear()
            self.token_lifetime_s = token_lifetime_s
            self.auths = 0
            self._forget_provisioned()

    def add_key(self, client_id: str, secret: str, account: str, scope: str = _WRITE) -> None:
        if scope not in (_WRITE, _READ, ""):
            raise ValueError(f"unknown scope {scope!r}")
        with self.lock:
            self._keys[client_id] = _Key(client_id, secret, account, scope)
            self._account(account)

    def revoke_tokens(self, client_id: str) -> None:
        """Every token of the key stops working (as when Deribit ends its sessions)."""
        with self.lock:
            self._tokens = {t: v for t, v in self._tokens.items() if v.client_id != client_id}

    def place_order(
        self,
        account: str,
        *,
        instrument: str = "BTC-PERPETUAL",
        direction: str = "buy",
        price: str = "100",
        amount: str = "10",
        trigger: bool = False,
    ) -> str:
        with self.lock:
            acct = self._account(account)
            self._issued += 1
            order_id = f"{'ETH' if instrument.startswith('ETH') else 'BTC'}-{self._issued}"
            acct.orders[order_id] = {
                "order_id": order_id,
                "instrument_name": instrument,
                "direction": direction,
                "price": float(price) if not trigger else "market_price",
                "amount": float(amount),
                "order_type": "stop_market" if trigger else "limit",
                "order_state": "untriggered" if trigger else "open",
                "trigger_price": float(price) if trigger else None,
                "creation_timestamp": self.now_ms(),
            }
            return order_id

    # -- the Simulator interface ----------------------------------------------------------------
    def _grant(self, spec: AccountSpec, generation: int) -> tuple[dict[str, Any], list[str]]:
        key, kill = f"drb-{spec.account}-g{generation}", f"drb-kill-{spec.account}-g{generation}"
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
                self.revoke_tokens(key)

    def rest_order(self, account: str, *, price: str = "100", size: str = "10", old_key: bool = False) -> str:
        return self.place_order(account, price=price, amount=size)  # orders are the account's

    def order_ids(self, account: str) -> set[str]:
        with self.lock:
            acct = self._accounts.get(account)
            return set(acct.orders) if acct else set()

    def timer_at(self, account: str) -> int | None:
        return None  # no timer: cancel-on-disconnect needs a WebSocket

    @staticmethod
    def is_extension(path: str, body: bytes) -> bool:
        return False

    @staticmethod
    def is_cancel(path: str, body: bytes) -> bool:
        return _method_of(path, body).startswith("private/cancel")

    # -- SimServer hooks ------------------------------------------------------------------------
    def rate_limited(self) -> Response:
        return _error(RpcError(10028, "too_many_requests", 429))

    def maintenance(self) -> Response:
        return _error(RpcError(11051, "system_maintenance", 503))

    def handle(self, method: str, path: str, headers: Headers, body: bytes) -> Response:
        request_id: Any = None
        try:
            rpc, params, request_id = _request(method, path, body)
            if rpc == "public/get_time":
                return _result(request_id, self.now_ms())
            if rpc == "public/auth":
                return _result(request_id, self._auth(params))
            if not rpc.startswith("private/"):
                raise RpcError(-32601, "Method not found")
            key = self._bearer(headers)
            acct = self._account(key.account)
            self._charge(acct, rpc)
            if rpc == "private/cancel_all":
                self._needs(key, _WRITE)
                return _result(request_id, self._cancel_all(acct))
            if rpc == "private/get_open_orders":
                self._needs(key, _READ)
                return _result(request_id, self._open_orders(acct, params))
            raise RpcError(-32601, "Method not found")
        except RpcError as exc:
            return _error(exc, request_id)

    # -- authentication -------------------------------------------------------------------------
    def _auth(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("grant_type") != "client_credentials":
            raise RpcError(-32602, "Invalid params", reason="grant_type")
        key = self._keys.get(str(params.get("client_id", "")))
        if key is None or not secrets.compare_digest(key.secret, str(params.get("client_secret", ""))):
            raise RpcError(13004, "invalid_credentials")
        self._charge(self._account(key.account), "public/auth")
        scope = str(params.get("scope", ""))
        session = next((s.split(":", 1)[1] for s in scope.split() if s.startswith("session:")), None)
        token = secrets.token_urlsafe(24)
        self._tokens[token] = _Token(key.client_id, self.now_ms() + self.token_lifetime_s * 1000, session)
        self.auths += 1
        granted = " ".join(
            [
                f"session:{session}" if session else "connection",
                "mainaccount",
                *([key.scope] if key.scope else []),
            ]
        )
        return {
            "access_token": token,
            "expires_in": self.token_lifetime_s,
            "refresh_token": secrets.token_urlsafe(24),
            "scope": granted,
            "token_type": "bearer",
            "enabled_features": [],
        }

    def _bearer(self, headers: Headers) -> _Key:
        raw = headers.get("authorization", "")
        kind, _, value = raw.partition(" ")
        if kind.lower() != "bearer" or not value:
            raise RpcError(13009, "unauthorized", reason="no access token")
        token = self._tokens.get(value)
        if token is None or token.expires_ms <= self.now_ms():
            raise RpcError(13009, "unauthorized", reason="invalid or expired token")
        if token.session is None:
            raise RpcError(
                13009, "unauthorized", reason="'connection' scope can't be reused for other connections"
            )
        key = self._keys.get(token.client_id)
        if key is None:
            raise RpcError(13009, "unauthorized", reason="key deleted")
        return key

    @staticmethod
    def _needs(key: _Key, scope: str) -> None:
        if key.scope in (_WRITE, scope):
            return
        raise RpcError(13021, "forbidden", reason=f"scope {scope} required")

    def _charge(self, acct: _Account, rpc: str) -> None:
        now = self.now_ms()
        if acct.credits is None or acct.engine is None:
            acct.credits = _Bucket(CREDITS_MAX, CREDITS_REFILL_PER_S, CREDITS_MAX, now)
            acct.engine = _Bucket(ME_BURST, ME_PER_S, ME_BURST, now)
        allowed = acct.engine.take(1, now) if rpc in _ME_METHODS else acct.credits.take(CREDITS_PER_CALL, now)
        if not allowed:
            raise RpcError(10028, "too_many_requests", 429)

    # -- methods --------------------------------------------------------------------------------
    def _account(self, name: str) -> _Account:
        return self._accounts.setdefault(name, _Account(name))

    def _cancel_all(self, acct: _Account) -> int:
        n = len(acct.orders)
        acct.orders.clear()
        return n

    def _open_orders(self, acct: _Account, params: dict[str, Any]) -> list[dict[str, Any]]:
        kind, kinds = params.get("kind"), params.get("type", "all")
        if kinds not in _ORDER_TYPES or (kind is not None and kind not in _KINDS):
            raise RpcError(-32602, "Invalid params", reason="type" if kinds not in _ORDER_TYPES else "kind")
        triggers = kinds not in {"all", "limit"}
        return [
            {k: v for k, v in o.items() if v is not None}
            for o in acct.orders.values()
            if (o["order_state"] == "untriggered") == triggers
        ]


def _method_of(path: str, body: bytes) -> str:
    route = urlsplit(path).path
    if route.startswith(API):
        return route[len(API) :]
    try:
        message = json.loads(body or b"{}")
    except ValueError:
        return ""
    return str(message.get("method", "")) if isinstance(message, dict) else ""


def _request(method: str, path: str, body: bytes) -> tuple[str, dict[str, Any], Any]:
    """The JSON-RPC method, its params and the request's id: a GET's from the path and its query, a
    POST's from its JSON-RPC body (whose method must be the path's, if the path names one)."""
    parts = urlsplit(path)
    route = parts.path.rstrip("/")
    named = route[len(API) :] if route.startswith(API) else ""
    if method == "GET":
        if not named:
            raise RpcError(-32601, "Method not found")
        return named, dict(parse_qsl(parts.query, keep_blank_values=True)), None
    if method != "POST":
        raise RpcError(11050, "bad_request", 405)
    try:
        message = json.loads(body)
    except ValueError:
        raise RpcError(-32700, "Parse error") from None
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0" or "id" not in message:
        raise RpcError(11050, "bad_request")
    rpc, params = message.get("method"), message.get("params", {})
    if not isinstance(rpc, str) or (named and rpc != named) or not isinstance(params, dict):
        raise RpcError(-32602, "Invalid params")
    return rpc, params, message["id"]


def _result(request_id: Any, result: Any) -> Response:
    payload = {"jsonrpc": "2.0", "id": request_id, "result": result, "testnet": True}
    return Response.json(200, payload)


def _error(exc: RpcError, request_id: Any = None) -> Response:
    error: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.reason:
        error["data"] = {"reason": exc.reason}
    return Response.json(exc.status, {"jsonrpc": "2.0", "id": request_id, "error": error, "testnet": True})


def _factory(_args: Any) -> DeribitSim:
    sim = DeribitSim()
    for spec in sim.SANDBOX_ACCOUNTS:
        sim.provision(spec)
    return sim


SIMULATOR = DeribitSim


if __name__ == "__main__":
    run_standalone(_factory)
