"""A Kraken spot REST stand-in: real API-Sign checks, per-key nonces and lockouts, resting orders,
and the account-wide `CancelAllOrdersAfter` timer with Kraken's rules (docs/venues.md, Kraken).

Why this file is long: authentication, the order book and the timer are one model of one venue,
written apart from the client, with the `Simulator` interface (sandbox/venues/simulator.py) that the
sandbox and the campaign drive it through.

Authentication is checked here with code of its own (never the client's), over the exact body bytes,
for form-encoded and JSON bodies alike. Like Kraken, every answer is HTTP 200 with an `error` array;
only `faults.http_5xx` produces another status.

Kraken rules kept:
- one timer per account (any key of the account moves it); `timeout=0` disables it; a timer that
  fires cancels every order of the account and then stays disabled until a new non-zero timeout;
- if the timer is enabled when the engine comes back from downtime (`faults.maintenance` switched
  off), every order of the account is cancelled (docs/venues.md, Kraken);
- nonces strictly increase per key; after `lockout_after` invalid nonces within `lockout_window_ms`
  the key answers `EGeneral:Temporary lockout` to every call for `lockout_ms`.
Simplifications: only limit orders rest; no fills; no rate-limit counter (use `faults.rate_limited`).
UNVERIFIED on the real venue and chosen here: `triggerTime` is `"0"` after `timeout=0`.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import random
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sandbox.venues.common import Headers, Response, SimServer, run_standalone
from sandbox.venues.simulator import COMMON_FAULTS, AccountSpec, Rules, Simulator

ALL_PERMISSIONS = frozenset({"query", "cancel", "trade"})
MAX_NONCE = 2**64 - 1
TIMER_LIMIT_S = 86_400  # the timeout must be below this

# Which key permission each private method needs (any one of the set).
_NEEDS: dict[str, frozenset[str]] = {
    "AddOrder": frozenset({"trade"}),
    "OpenOrders": frozenset({"query"}),
    "CancelAll": frozenset({"trade", "cancel"}),
    "CancelAllOrdersAfter": frozenset({"trade", "cancel"}),
}

Fire = tuple[int, str, int]  # (fire time ms, account, orders cancelled)
# The secret of every key the sandbox and the campaign provision (64 bytes, as Kraken's are).
PROVISIONED_SECRET = base64.b64encode(
    b"simulated kraken secret, sixty-four bytes long, for the campaign."
).decode()


class KrakenError(Exception):
    def __init__(self, *errors: str) -> None:
        super().__init__(*errors)
        self.errors = list(errors)


@dataclass
class _Key:
    api_key: str
    secret: bytes
    account: str
    permissions: frozenset[str]
    last_nonce: int = 0
    bad_nonces_ms: list[int] = field(default_factory=list)
    locked_until_ms: int | None = None


@dataclass
class _Account:
    name: str
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    closed: dict[str, dict[str, Any]] = field(default_factory=dict)
    trigger_ms: int | None = None


def rfc3339(ms: int) -> str:
    """Kraken's shape, whole seconds: '2023-03-24T17:41:56Z'."""
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def kraken_signature(path: str, nonce_text: str, body: bytes, secret: bytes) -> str:
    message = path.encode() + hashlib.sha256(nonce_text.encode() + body).digest()
    return base64.b64encode(hmac.new(secret, message, hashlib.sha512).digest()).decode()


class KrakenSim(Simulator):
    venue = "kraken"
    RULES = Rules(
        faults=COMMON_FAULTS | {"nonce_lockout"},
        late_extension_fault="venue_latency",  # a relative timeout, computed at sending
        cancels_on_its_own=frozenset({"venue_maintenance"}),  # the engine's return, a timer armed
    )
    SANDBOX_ACCOUNTS = (AccountSpec("main"),)

    def __init__(
        self,
        clock: Callable[[], int] | None = None,
        *,
        lockout_after: int = 3,
        lockout_window_ms: int = 60_000,
        lockout_ms: int = 15 * 60_000,
        cancel_on_engine_return: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(clock)
        self.lockout_after = lockout_after
        self.lockout_window_ms = lockout_window_ms
        self.lockout_ms = lockout_ms
        self.cancel_on_engine_return = cancel_on_engine_return
        self._keys: dict[str, _Key] = {}
        self._accounts: dict[str, _Account] = {}
        self._rng = random.Random(seed)
        self._engine_down = False

    @classmethod
    def create(cls, clock: Callable[[], int] | None = None) -> KrakenSim:
        return cls(clock)

    # -- registration and test accessors -------------------------------------------------------
    def reset(self, seed: int = 0) -> None:
        """Forget every key, order, timer, fire and fault: one server can serve many tests."""
        with self.lock:
            self.faults.clear()
            self.fires.clear()
            self._keys.clear()
            self._accounts.clear()
            self._rng = random.Random(seed)
            self._engine_down = False
            self._forget_provisioned()

    def add_key(
        self, api_key: str, secret_b64: str, account: str, permissions: Iterable[str] = ALL_PERMISSIONS
    ) -> None:
        perms = frozenset(permissions)
        unknown = perms - ALL_PERMISSIONS
        if unknown:
            raise ValueError(f"unknown permissions {sorted(unknown)}; known: {sorted(ALL_PERMISSIONS)}")
        try:
            secret = base64.b64decode(secret_b64, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("secret_b64 is not base64") from None
        with self.lock:
            self._keys[api_key] = _Key(api_key, secret, account, perms)
            self._accounts.setdefault(account, _Account(account))

    def place_order(self, account: str, pair: str, side: str, price: str, volume: str) -> str:
        """Rest a limit order directly (tests); over HTTP use AddOrder."""
        with self.lock:
            return self._rest(
                self._accounts.setdefault(account, _Account(account)), pair, side, price, volume
            )

    def open_orders(self, account: str) -> dict[str, dict[str, Any]]:
        with self.lock:
            acct = self._accounts.get(account)
            return {txid: dict(order) for txid, order in (acct.orders.items() if acct else [])}

    def timer_trigger_ms(self, account: str) -> int | None:
        with self.lock:
            acct = self._accounts.get(account)
            return acct.trigger_ms if acct else None

    def locked_until_ms(self, api_key: str) -> int | None:
        with self.lock:
            key = self._keys[api_key]
            if key.locked_until_ms is not None and key.locked_until_ms <= self.now_ms():
                return None
            return key.locked_until_ms

    # -- the Simulator interface ----------------------------------------------------------------
    def _grant(self, spec: AccountSpec, generation: int) -> tuple[dict[str, Any], list[str]]:
        """Keys of one generation (any key of the account moves its one timer)."""
        key, kill = f"kraken-{spec.account}-g{generation}", f"kraken-kill-{spec.account}-g{generation}"
        self.add_key(key, PROVISIONED_SECRET, account=spec.account)
        entry: dict[str, Any] = {"account_id": spec.account, "api_key": key, "api_secret": PROVISIONED_SECRET}
        if not spec.kill_key:
            return entry, [key]
        self.add_key(kill, PROVISIONED_SECRET, account=spec.account)
        entry["kill"] = {"api_key": kill, "api_secret": PROVISIONED_SECRET}
        return entry, [key, kill]

    def delete_old_keys(self, account: str) -> None:
        with self.lock:
            for key in self.old_keys(account):
                self._keys.pop(key, None)

    def rest_order(self, account: str, *, price: str = "100", size: str = "1", old_key: bool = False) -> str:
        return self.place_order(account, "XBTUSD", "buy", price, size)  # orders are the account's

    def order_ids(self, account: str) -> set[str]:
        return set(self.open_orders(account))

    def timer_at(self, account: str) -> int | None:
        return self.timer_trigger_ms(account)

    @staticmethod
    def is_extension(path: str, body: bytes) -> bool:
        return path.endswith("CancelAllOrdersAfter") and b"timeout=0" not in body

    @staticmethod
    def is_cancel(path: str, body: bytes) -> bool:
        return path.endswith("CancelAll")

    def set_fault(self, fault: str, on: bool, *, until_ms: int | None = None) -> bool:
        if fault != "nonce_lockout":
            return super().set_fault(fault, on, until_ms=until_ms)
        with self.lock:  # every key locked out until the fault ends
            for key in self._keys.values():
                key.locked_until_ms = until_ms if on else None
        return True

    def locked_out(self) -> bool:
        with self.lock:
            now = self.now_ms()
            return any(k.locked_until_ms is not None and k.locked_until_ms > now for k in self._keys.values())

    # -- SimServer hooks ------------------------------------------------------------------------
    def rate_limited(self) -> Response:
        return Response.json(200, {"error": ["EAPI:Rate limit exceeded"]})

    def maintenance(self) -> Response:
        with self.lock:
            self._engine_down = True
        return Response.json(200, {"error": ["EService:Unavailable"]})

    def poll(self) -> None:
        now = self.now_ms()
        if self.faults.maintenance:
            self._engine_down = True
            return  # the engine is down: nothing fires, nothing is cancelled
        if self._engine_down:
            self._engine_down = False
            if self.cancel_on_engine_return:
                for acct in self._accounts.values():
                    if acct.trigger_ms is not None:
                        self._fire(acct, now)
        for acct in self._accounts.values():
            if acct.trigger_ms is not None and acct.trigger_ms <= now:
                # Recorded at the trigger time: that is when Kraken's engine cancels, however
                # coarsely a virtual clock jumped past it.
                self._fire(acct, acct.trigger_ms)

    def _fire(self, acct: _Account, at_ms: int) -> None:
        n = self._cancel_all(acct)
        acct.trigger_ms = None  # stays off until a new non-zero timeout
        self.fires.append((at_ms, acct.name, n))

    def handle(self, method: str, path: str, headers: Headers, body: bytes) -> Response:
        route = urlsplit(path).path
        try:
            if route == "/0/public/Time":
                now = self.now_ms()
                rfc1123 = datetime.fromtimestamp(now // 1000, UTC).strftime("%a, %d %b %y %H:%M:%S +0000")
                return self._ok({"unixtime": now // 1000, "rfc1123": rfc1123})
            name = route.removeprefix("/0/private/")
            if route == name or name not in _NEEDS:
                raise KrakenError("EGeneral:Unknown method")
            key, params = self._authenticate(route, headers, body)
            if not (_NEEDS[name] & key.permissions):
                raise KrakenError("EGeneral:Permission denied")
            acct = self._accounts[key.account]
            if name == "AddOrder":
                return self._ok(self._add_order(acct, params))
            if name == "OpenOrders":
                return self._ok({"open": {t: dict(o) for t, o in acct.orders.items()}})
            if name == "CancelAll":
                return self._ok({"count": self._cancel_all(acct), "pending": False})
            return self._ok(self._cancel_after(acct, params))
        except KrakenError as exc:
            return Response.json(200, {"error": exc.errors})

    @staticmethod
    def _ok(result: Any) -> Response:
        return Response.json(200, {"error": [], "result": result})

    # -- authentication -------------------------------------------------------------------------
    def _authenticate(self, route: str, headers: Headers, body: bytes) -> tuple[_Key, dict[str, Any]]:
        key = self._keys.get(headers.get("api-key", ""))
        if key is None:
            raise KrakenError("EAPI:Invalid key")
        now = self.now_ms()
        if key.locked_until_ms is not None:
            if now < key.locked_until_ms:
                raise KrakenError("EGeneral:Temporary lockout")
            key.locked_until_ms = None
            key.bad_nonces_ms.clear()
        params, nonce_text = _parse_body(headers, body)
        if nonce_text is None:
            raise KrakenError("EAPI:Invalid nonce")
        expected = kraken_signature(route, nonce_text, body, key.secret)
        if not hmac.compare_digest(expected, headers.get("api-sign", "")):
            raise KrakenError("EAPI:Invalid signature")
        nonce = int(nonce_text)
        if nonce <= key.last_nonce:
            key.bad_nonces_ms = [t for t in key.bad_nonces_ms if t > now - self.lockout_window_ms]
            key.bad_nonces_ms.append(now)
            if len(key.bad_nonces_ms) >= self.lockout_after:
                key.locked_until_ms = now + self.lockout_ms
            raise KrakenError("EAPI:Invalid nonce")
        key.last_nonce = nonce
        return key, params

    # -- methods --------------------------------------------------------------------------------
    def _add_order(self, acct: _Account, params: dict[str, Any]) -> dict[str, Any]:
        pair, side, ordertype = (str(params.get(k, "")) for k in ("pair", "type", "ordertype"))
        if not pair:
            raise KrakenError("EGeneral:Invalid arguments:pair")
        if side not in ("buy", "sell"):
            raise KrakenError("EGeneral:Invalid arguments:type")
        if ordertype != "limit":
            raise KrakenError("EGeneral:Invalid arguments:ordertype")
        price, volume = str(params.get("price", "")), str(params.get("volume", ""))
        if _positive(price) is None:
            raise KrakenError("EOrder:Invalid price")
        vol = _positive(volume)
        if vol is None:
            raise KrakenError("EGeneral:Invalid arguments:volume")
        userref = _int_or_none(params.get("userref"))
        descr = {"order": f"{side} {vol:.8f} {pair} @ limit {price}"}
        if str(params.get("validate", "")).lower() == "true":
            return {"descr": descr}
        txid = self._rest(acct, pair, side, price, volume, userref=userref or 0)
        return {"descr": descr, "txid": [txid]}

    def _rest(
        self, acct: _Account, pair: str, side: str, price: str, volume: str, *, userref: int = 0
    ) -> str:
        vol = _positive(volume)
        if vol is None or _positive(price) is None or side not in ("buy", "sell"):
            raise ValueError("bad order")
        txid = self._txid()
        acct.orders[txid] = {
            "refid": None,
            "userref": userref,
            "status": "open",
            "opentm": self.now_ms() / 1000,
            "starttm": 0,
            "expiretm": 0,
            "descr": {
                "pair": pair,
                "type": side,
                "ordertype": "limit",
                "price": price,
                "price2": "0",
                "leverage": "none",
                "order": f"{side} {vol:.8f} {pair} @ limit {price}",
                "close": "",
            },
            "vol": f"{vol:.8f}",
            "vol_exec": "0.00000000",
            "cost": "0.00000",
            "fee": "0.00000",
            "price": "0.00000",
            "stopprice": "0.00000",
            "limitprice": "0.00000",
            "misc": "",
            "oflags": "fciq",
        }
        return txid

    def _txid(self) -> str:
        alphabet = string.ascii_uppercase + string.digits
        while True:
            raw = "O" + "".join(self._rng.choice(alphabet) for _ in range(16))
            txid = f"{raw[:6]}-{raw[6:11]}-{raw[11:]}"
            if all(txid not in a.orders and txid not in a.closed for a in self._accounts.values()):
                return txid

    def _cancel_all(self, acct: _Account) -> int:
        n = len(acct.orders)
        for txid, order in acct.orders.items():
            acct.closed[txid] = {**order, "status": "canceled", "closetm": self.now_ms() / 1000}
        acct.orders.clear()
        return n

    def _cancel_after(self, acct: _Account, params: dict[str, Any]) -> dict[str, str]:
        timeout = _int_or_none(params.get("timeout"))
        if timeout is None or not 0 <= timeout < TIMER_LIMIT_S:
            raise KrakenError("EGeneral:Invalid arguments")
        now = self.now_ms()
        acct.trigger_ms = now + timeout * 1000 if timeout else None
        trigger = rfc3339(acct.trigger_ms) if acct.trigger_ms is not None else "0"
        return {"currentTime": rfc3339(now), "triggerTime": trigger}


# -- body parsing (form or JSON, as Kraken accepts both) ------------------------------------------


def _parse_body(headers: Headers, body: bytes) -> tuple[dict[str, Any], str | None]:
    """Return the parameters and the nonce exactly as the signer saw it (None if absent/invalid)."""
    is_json = "json" in headers.get("content-type", "") or body.lstrip().startswith(b"{")
    try:
        if is_json:
            params = json.loads(body)
            if not isinstance(params, dict):
                raise KrakenError("EGeneral:Invalid arguments")
        else:
            params = dict(parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body)))
    except (ValueError, UnicodeDecodeError):
        raise KrakenError("EGeneral:Invalid arguments") from None
    raw = params.get("nonce")
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        return params, None
    text = str(raw)
    if not text.isdigit() or not 0 < int(text) <= MAX_NONCE:
        return params, None
    return params, text


def _positive(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() and value > 0 else None


def _int_or_none(raw: object) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.lstrip("-").isdigit():
        return int(raw)
    return None


# -- standalone -----------------------------------------------------------------------------------


def load_config(sim: KrakenSim, config: dict[str, Any]) -> None:
    """{"keys": [{"api_key", "api_secret", "account", "permissions"?}],
    "orders": [{"account", "pair", "type", "price", "volume"}]?}"""
    for entry in config.get("keys", []):
        sim.add_key(
            entry["api_key"], entry["api_secret"], entry["account"], entry.get("permissions", ALL_PERMISSIONS)
        )
    for order in config.get("orders", []):
        sim.place_order(order["account"], order["pair"], order["type"], order["price"], order["volume"])


def _factory(args: argparse.Namespace) -> SimServer:
    sim = KrakenSim()
    if args.config:
        load_config(sim, json.loads(Path(args.config).read_text()))
    return sim


SIMULATOR = KrakenSim


if __name__ == "__main__":
    run_standalone(_factory)
