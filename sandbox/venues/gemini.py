"""Gemini simulator: REST v1 private endpoints with Gemini's own authentication, nonce rules,
sessions, "Require Heartbeat" timer and error shapes (docs/venues.md, Gemini).

Why this file is long: authentication, nonce rules, sessions and the heartbeat timer are one
model of one venue, written apart from the client so that the two can disagree.

Authentication is checked here with code of its own (never the client's): headers, HMAC-SHA384 of
the base64 payload text keyed with the raw secret, `request` equal to the path, nonce rules.

Decisions where the docs leave a gap (each the stricter choice, so the fleet is tested against the
less forgiving venue):
* Time-based-nonce keys need a nonce in seconds within +/-30 s of sim time AND strictly greater than
  the key's last one (docs/venues.md: the second part is unverified).
* The 30 s clock restarts on every request that passes authentication (signature and nonce), even
  if it then fails (MissingRole, EndpointMismatch, bad order...). A request with a valid signature
  but a refused nonce does not restart it, unless the sim is built with
  `nonce_failures_keep_alive=True` (the other reading of "any authenticated API call").
* Master keys do not get the heartbeat rule: Gemini's order page says "Master API keys do not
  support cancelation on disconnect via heartbeat".
* An unknown API key is answered like a bad signature (the documented list has no reason for it).
* Order objects carry `order_id` as a digit string (as in Gemini's examples); cancel details carry
  integers (as in Gemini's examples).

`python -m sandbox.venues.gemini --port N --config keys.json` with
`{"keys": [{"api_key": "account-...", "secret": "...", "nonce_mode": "time", "account": "primary",
"require_heartbeat": true, "roles": ["Trader"], "master_accounts": null}]}`.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sandbox.venues.common import Headers, Response, SimServer, run_standalone
from sandbox.venues.simulator import COMMON_FAULTS, AccountSpec, Nonces, Rules, Simulator

HEARTBEAT_MS = 30_000
TIME_NONCE_WINDOW_S = 30
UI_SESSION = "UI"  # orders placed in the web UI belong to no API session

_TRADER = frozenset({"Trader"})
# Roles each endpoint accepts (Gemini docs, per endpoint page). None: any authenticated key.
_ENDPOINT_ROLES: dict[str, frozenset[str] | None] = {
    "/v1/heartbeat": None,
    "/v1/order/new": _TRADER,
    "/v1/orders": frozenset({"Trader", "Auditor"}),
    "/v1/order/cancel/session": _TRADER,
    "/v1/order/cancel/all": _TRADER,
}
_SYMBOL = re.compile(r"^[a-zA-Z0-9]{4,20}$")


def _error(status: int, reason: str, message: str) -> Response:
    return Response.json(status, {"result": "error", "reason": reason, "message": message})


@dataclass
class _Key:
    api_key: str
    secret: str
    nonce_mode: str
    require_heartbeat: bool
    roles: frozenset[str]
    account: str | None  # account keys: the account they belong to
    master_accounts: frozenset[str] | None  # master keys: the accounts they may act on
    last_nonce: int | None = None
    last_auth_ms: int | None = None
    revoked: bool = False

    @property
    def is_master(self) -> bool:
        return self.master_accounts is not None


@dataclass
class _Order:
    order_id: int
    account: str
    session: str  # the API key that placed it, or UI_SESSION
    symbol: str
    side: str
    price: str
    amount: str
    placed_ms: int
    client_order_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "order_id": str(self.order_id),
            "id": str(self.order_id),
            "symbol": self.symbol,
            "exchange": "gemini",
            "avg_execution_price": "0.00",
            "side": self.side,
            "type": "exchange limit",
            "timestamp": str(self.placed_ms // 1000),
            "timestampms": self.placed_ms,
            "is_live": True,
            "is_cancelled": False,
            "is_hidden": False,
            "was_forced": False,
            "executed_amount": "0",
            "remaining_amount": self.amount,
            "options": [],
            "price": self.price,
            "original_amount": self.amount,
        }
        if self.client_order_id is not None:
            body["client_order_id"] = self.client_order_id
        return body


@dataclass
class _Request:
    method: str
    path: str
    headers: Headers
    body: bytes
    payload: dict[str, Any] | None = field(default=None)


@dataclass
class _Provisioned:
    """What the Simulator interface provisioned, beyond each account's spec and generation."""

    trading: dict[str, str] = field(default_factory=dict)  # the current trading key
    retiring: dict[str, str] = field(default_factory=dict)  # the key being rotated out
    deleted_at: dict[str, int] = field(default_factory=dict)  # api key -> when it was deleted
    dropped_at: dict[str, int] = field(default_factory=dict)  # api key -> when the secret stopped naming it
    order_keys: dict[str, str] = field(default_factory=dict)  # order id -> the key whose session holds it
    heartbeats: dict[str, int] = field(default_factory=dict)  # account -> its last heartbeat answered


class GeminiSim(Simulator):
    venue = "gemini"
    RULES = Rules(
        faults=COMMON_FAULTS | {"cancel_refused"},
        late_extension_fault="ddb_slow",  # a heartbeat that slow reads held back
        orders_on_keys=True,  # each key's session holds the orders it placed
        timer_switches_off=False,  # the rule is the key's: it can only be fed (heartbeats)
        calls_restart_timer_ms=HEARTBEAT_MS,
    )
    SANDBOX_ACCOUNTS = (AccountSpec("main", nonce_mode="increasing"), AccountSpec("timed", nonce_mode="time"))

    def __init__(
        self, clock: Callable[[], int] | None = None, *, nonce_failures_keep_alive: bool = False
    ) -> None:
        super().__init__(clock)
        self.nonce_failures_keep_alive = nonce_failures_keep_alive
        self._keys: dict[str, _Key] = {}
        self._orders: dict[int, _Order] = {}
        self._next_order_id = 106_817_811
        self._reject_cancel: set[int] = set()
        # (fire time ms, api key, orders cancelled): Gemini's timer is per key (session); `fires`
        # has the same fires by account.
        self.key_fires: list[tuple[int, str, int]] = []
        self.last_request: _Request | None = None
        self._provisioned = _Provisioned()

    @classmethod
    def create(cls, clock: Callable[[], int] | None = None) -> GeminiSim:
        return cls(clock)

    def reset(self) -> None:
        """Forget keys, orders, fires and faults (a running server reused across tests)."""
        with self.lock:
            self._keys.clear()
            self._orders.clear()
            self._reject_cancel.clear()
            self.fires.clear()
            self.key_fires.clear()
            self.last_request = None
            self.faults.clear()
            self._provisioned = _Provisioned()
            self._forget_provisioned()

    # -- registration and test accessors --------------------------------------------------------------

    def add_key(
        self,
        api_key: str,
        secret: str,
        nonce_mode: str,
        *,
        require_heartbeat: bool | None = None,
        roles: Iterable[str] = ("Trader",),
        master_accounts: Iterable[str] | None = None,
        account: str = "primary",
    ) -> None:
        """Provision a key. `account-...` keys belong to `account` and own the orders they place;
        `master-...` keys act on one of `master_accounts`, named in each payload's `account`.
        `require_heartbeat` defaults to True for account keys and must stay off for master keys."""
        if nonce_mode not in ("time", "increasing"):
            raise ValueError("nonce_mode must be 'time' or 'increasing'")
        is_master = api_key.startswith("master-")
        if is_master != (master_accounts is not None):
            raise ValueError("master- keys need master_accounts; other keys must not have them")
        if is_master and require_heartbeat:
            raise ValueError("Gemini: master API keys do not support cancelation on disconnect via heartbeat")
        with self.lock:
            self._keys[api_key] = _Key(
                api_key=api_key,
                secret=secret,
                nonce_mode=nonce_mode,
                require_heartbeat=(not is_master) if require_heartbeat is None else require_heartbeat,
                roles=frozenset(roles),
                account=None if is_master else account,
                master_accounts=None if master_accounts is None else frozenset(master_accounts),
            )

    def place_ui_order(self, account: str, symbol: str, side: str, price: str, amount: str) -> int:
        """An order placed in the web UI: no API session owns it; only cancel/all reaches it."""
        with self.lock:
            order = self._place(
                account=account, session=UI_SESSION, symbol=symbol, side=side, price=price, amount=amount
            )
            return order.order_id

    def time_nonce_keys(self) -> list[str]:
        with self.lock:
            return [f"{self.venue}:{k.api_key}" for k in self._keys.values() if k.nonce_mode == "time"]

    def place_session_order(self, api_key: str, symbol: str, side: str, price: str, amount: str) -> int:
        """An order the key's session owns, placed without a request (tests): it does not restart
        the key's heartbeat clock, as a trader that is silent but for its orders would not."""
        with self.lock:
            key = self._keys[api_key]
            if key.account is None:
                raise ValueError("master keys own no session orders")
            return self._place(
                account=key.account, session=api_key, symbol=symbol, side=side, price=price, amount=amount
            ).order_id

    def revoke(self, api_key: str) -> None:
        """The key deleted at the venue: it authenticates no more. Its session's orders stay under the
        heartbeat rule, which nothing can now keep alive. (Gemini does not document what a deleted
        key's orders do; this is the reading the README's rotation steps are safe under.)"""
        with self.lock:
            self._keys[api_key].revoked = True

    def open_orders(self, account: str) -> list[dict[str, Any]]:
        with self.lock:
            return [o.to_json() for o in self._orders.values() if o.account == account]

    def session_orders(self, api_key: str) -> list[dict[str, Any]]:
        with self.lock:
            return [o.to_json() for o in self._orders.values() if o.session == api_key]

    def last_auth_ms(self, api_key: str) -> int | None:
        with self.lock:
            return self._keys[api_key].last_auth_ms

    def last_nonce(self, api_key: str) -> int | None:
        with self.lock:
            return self._keys[api_key].last_nonce

    def reject_cancels(self, order_ids: Iterable[int]) -> None:
        """API cancels of these orders answer in `cancelRejects` and leave them live."""
        with self.lock:
            self._reject_cancel = {int(i) for i in order_ids}

    # -- the Simulator interface ------------------------------------------------------------------------

    def delete_old_keys(self, account: str) -> None:
        """Deleted at the venue: the old keys' session orders go by the heartbeat rule (`revoke`)."""
        for api_key in self.old_keys(account):
            self.revoke(api_key)
            self._provisioned.deleted_at[api_key] = self.now_ms()

    def _grant(self, spec: AccountSpec, generation: int) -> tuple[dict[str, Any], list[str]]:
        account, mode, mine = spec.account, spec.nonce_mode, self._provisioned
        tag, old = f"{account}-g{generation}", f"{account}-g{generation - 1}"
        key, kill = f"account-{tag}", f"account-kill-{tag}"
        self.add_key(key, f"secret-{tag}", mode, account=account)
        entry: dict[str, Any] = {"account_id": account, "api_key": key, "api_secret": f"secret-{tag}"}
        entry["nonce_mode"] = mode
        mine.trading[account] = key
        if generation > 0:
            # The rotation as the README tells it: the old trading key stays in the secret, as
            # `retiring`, until the trader has moved and the key is deleted.
            entry["retiring"] = {
                "api_key": f"account-{old}",
                "api_secret": f"secret-{old}",
                "nonce_mode": mode,
            }
            mine.retiring[account] = f"account-{old}"
        if generation > 1:  # the secret holds one retiring key: the one before it is no longer named
            mine.dropped_at.setdefault(f"account-{account}-g{generation - 2}", self.now_ms())
        if not spec.kill_key:
            return entry, [key]
        self.add_key(kill, f"secret-kill-{tag}", "increasing", account=account, require_heartbeat=False)
        entry["kill"] = {"api_key": kill, "api_secret": f"secret-kill-{tag}", "nonce_mode": "increasing"}
        return entry, [key, kill]

    def rest_order(self, account: str, *, price: str = "100", size: str = "1", old_key: bool = False) -> str:
        """On the account's trading key's session (mid-rotation, `old_key`: on the key being rotated
        out, unless it was deleted: nobody trades on a deleted key)."""
        mine = self._provisioned
        key = mine.retiring.get(account, mine.trading[account]) if old_key else mine.trading[account]
        if self._keys[key].revoked:
            key = mine.trading[account]
        oid = str(self.place_session_order(key, "btcusd", "buy", price, size))
        mine.order_keys[oid] = key
        return oid

    def trade(self, account: str, *, price: str, size: str, nonces: Nonces) -> str:
        """Over HTTP on the key the fleet heartbeats with: an authenticated call, which restarts the
        key's rule. Its nonce comes from the shared source under the client's key id ("gemini:<key>"),
        as a real trader sharing an increasing-nonce key must draw them."""
        import requests

        key = self._keys[self._provisioned.trading[account]]
        for _ in range(3):
            now = self.now_ms()
            payload = {
                "request": "/v1/order/new",
                "nonce": nonces.next(
                    f"{self.venue}:{key.api_key}", now // 1000 if key.nonce_mode == "time" else now
                ),
                "symbol": "btcusd",
                "amount": size,
                "price": price,
                "side": "buy",
                "type": "exchange limit",
            }
            b64 = base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode("ascii")
            signature = hmac.new(key.secret.encode(), b64.encode(), hashlib.sha384).hexdigest()
            headers = {
                "Content-Type": "text/plain",
                "X-GEMINI-APIKEY": key.api_key,
                "X-GEMINI-PAYLOAD": b64,
                "X-GEMINI-SIGNATURE": signature,
            }
            resp = requests.post(self.url + "/v1/order/new", headers=headers, timeout=5)
            # Drawn in order from the shared counter, a nonce can still arrive after a higher one
            # another signer of the key drew later (the fleet's heartbeat): a trader draws again.
            if resp.status_code != 400 or "InvalidNonce" not in resp.text:
                break
        resp.raise_for_status()
        return str(resp.json()["order_id"])

    def order_ids(self, account: str) -> set[str]:
        with self.lock:
            return {str(o.order_id) for o in self._orders.values() if o.account == account}

    def key_deleted_at(self, order_id: str) -> int | None:
        key = self._provisioned.order_keys.get(order_id)
        return None if key is None else self._provisioned.deleted_at.get(key)

    def key_dropped_at(self, order_id: str) -> int | None:
        key = self._provisioned.order_keys.get(order_id)
        return None if key is None else self._provisioned.dropped_at.get(key)

    def timer_at(self, account: str) -> int | None:
        """The account's last heartbeat answered + 30 s: the heartbeats are the extensions. (Every
        authenticated call restarts the rule, so sweeps on the trading key do too: that is why Gemini
        sweeps with a kill key when there is one.)"""
        beat = self._provisioned.heartbeats.get(account)
        return None if beat is None else beat + HEARTBEAT_MS

    @staticmethod
    def is_extension(path: str, body: bytes) -> bool:
        return path == "/v1/heartbeat"

    @staticmethod
    def is_cancel(path: str, body: bytes) -> bool:
        return path.startswith("/v1/order/cancel")

    def set_fault(self, fault: str, on: bool, *, until_ms: int | None = None) -> bool:
        """`cancel_refused`, switched on: API cancels of every order resting on a provisioned account
        now answer in `cancelRejects` (switched on again to take in orders rested since)."""
        if fault != "cancel_refused":
            return super().set_fault(fault, on, until_ms=until_ms)
        with self.lock:
            ids = [oid for oid, o in self._orders.items() if o.account in self.provisioned] if on else []
            self.reject_cancels(ids)
        return bool(ids) or not on

    # -- venue shapes ----------------------------------------------------------------------------------

    def rate_limited(self) -> Response:
        return _error(429, "RateLimit", "Requests were made too frequently")

    def maintenance(self) -> Response:
        return _error(
            503,
            "Maintenance",
            "The Gemini Exchange is currently undergoing maintenance. "
            "Please check https://status.gemini.com/ for more information.",
        )

    # -- timers ----------------------------------------------------------------------------------------

    def poll(self) -> None:
        now = self.now_ms()
        for key in self._keys.values():
            if not key.require_heartbeat or key.last_auth_ms is None or key.account is None:
                continue
            due = key.last_auth_ms + HEARTBEAT_MS
            if now < due:
                continue
            victims = [oid for oid, o in self._orders.items() if o.session == key.api_key]
            if not victims:
                continue
            for oid in victims:  # the venue's own cancel is not subject to reject_cancels
                del self._orders[oid]
            self.fires.append((due, key.account, len(victims)))
            self.key_fires.append((due, key.api_key, len(victims)))

    # -- requests --------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Headers, body: bytes) -> Response:
        record = _Request(method, path, dict(headers), body)
        self.last_request = record
        route = path.split("?", 1)[0]
        if route not in _ENDPOINT_ROLES:
            return _error(404, "EndpointNotFound", f"API entry point `{route}` not found")
        if method != "POST":
            return _error(405, "InvalidRequest", "Private API endpoints only accept POST")
        api_key = headers.get("x-gemini-apikey")
        b64 = headers.get("x-gemini-payload")
        signature = headers.get("x-gemini-signature")
        if not api_key:
            return _error(400, "MissingApikeyHeader", "The X-GEMINI-APIKEY header was missing")
        if not b64:
            return _error(400, "MissingPayloadHeader", "The X-GEMINI-PAYLOAD header was missing")
        if not signature:
            return _error(400, "MissingSignatureHeader", "The X-GEMINI-SIGNATURE header was missing")
        key = self._keys.get(api_key)
        if key is None or key.revoked:
            return _error(400, "InvalidSignature", "The API key was not found")
        expected = hmac.new(key.secret.encode(), b64.encode(), hashlib.sha384).hexdigest()
        if not hmac.compare_digest(expected, signature.strip().lower()):
            return _error(400, "InvalidSignature", "InvalidSignature")
        try:
            payload = json.loads(base64.b64decode(b64, validate=True))
        except (binascii.Error, ValueError):
            return _error(400, "InvalidJson", "The payload header is not base64 of a JSON object")
        if not isinstance(payload, dict):
            return _error(400, "InvalidJson", "The payload must be a JSON object")
        record.payload = payload
        refused = self._check_nonce(key, payload)
        if refused is not None:
            if self.nonce_failures_keep_alive:
                key.last_auth_ms = self.now_ms()
            return refused
        # Authenticated: whatever happens next, the heartbeat clock restarts.
        key.last_auth_ms = self.now_ms()
        if payload.get("request") != route:
            return _error(
                400,
                "EndpointMismatch",
                f"The request was submitted to an endpoint ({route}) different than the one in the payload",
            )
        account, refused = self._account_for(key, route, payload)
        if refused is not None:
            return refused
        allowed = _ENDPOINT_ROLES[route]
        if allowed is not None and not (allowed & key.roles):
            return _error(
                403,
                "MissingRole",
                f"To access this endpoint, you need to log in to the website and go to the settings page to "
                f"assign one of these roles [{', '.join(sorted(allowed))}] to API key {key.api_key} which "
                f"currently has roles [{', '.join(sorted(key.roles))}]",
            )
        if route == "/v1/heartbeat":
            if key.require_heartbeat and key.account is not None:
                self._provisioned.heartbeats[key.account] = self.now_ms()
            return Response.json(200, {"result": "ok"})
        assert account is not None
        if route == "/v1/order/new":
            return self._new_order(key, account, payload)
        if route == "/v1/orders":
            return Response.json(200, self.open_orders(account))
        if route == "/v1/order/cancel/session":
            return self._cancel(account, lambda o: o.session == key.api_key)
        return self._cancel(account, lambda o: True)

    def _check_nonce(self, key: _Key, payload: dict[str, Any]) -> Response | None:
        raw = payload.get("nonce")
        if raw is None:
            return _error(400, "MissingNonce", "The nonce field was not present in the payload")
        if isinstance(raw, bool) or not (isinstance(raw, int) or (isinstance(raw, str) and raw.isdigit())):
            return _error(400, "InvalidNonce", f"Nonce '{raw}' is not a whole number")
        nonce = int(raw)
        if key.nonce_mode == "time":
            server_s = self.now_ms() // 1000
            if abs(nonce - server_s) > TIME_NONCE_WINDOW_S:
                return _error(
                    400,
                    "InvalidNonce",
                    f"Nonce '{nonce}' is not within 30 seconds of server time '{server_s}'",
                )
        if key.last_nonce is not None and nonce <= key.last_nonce:
            return _error(
                400,
                "InvalidNonce",
                f"Nonce '{nonce}' has not increased since your last call to the Gemini API.",
            )
        key.last_nonce = nonce
        return None

    def _account_for(
        self, key: _Key, route: str, payload: dict[str, Any]
    ) -> tuple[str | None, Response | None]:
        named = payload.get("account")
        if not key.is_master:
            if named is not None:
                return None, _error(
                    400, "AccountsOnGroupOnlyApi", "The account field was specified on a non-master API key"
                )
            return key.account, None
        if named is None:
            if route == "/v1/heartbeat":
                return None, None
            return None, _error(400, "MissingAccountName", "A master API key requires the account field")
        assert key.master_accounts is not None
        if not isinstance(named, str) or named not in key.master_accounts:
            return None, _error(
                400, "InvalidAccountName", f"The account '{named}' does not exist in this group"
            )
        return named, None

    def _place(
        self,
        *,
        account: str,
        session: str,
        symbol: str,
        side: str,
        price: str,
        amount: str,
        client_order_id: str | None = None,
    ) -> _Order:
        order = _Order(
            order_id=self._next_order_id,
            account=account,
            session=session,
            symbol=symbol.lower(),
            side=side,
            price=price,
            amount=amount,
            placed_ms=self.now_ms(),
            client_order_id=client_order_id,
        )
        self._next_order_id += 1
        self._orders[order.order_id] = order
        return order

    def _new_order(self, key: _Key, account: str, payload: dict[str, Any]) -> Response:
        symbol = payload.get("symbol")
        if not isinstance(symbol, str) or not _SYMBOL.match(symbol):
            return _error(400, "InvalidSymbol", "An invalid symbol was specified")
        if not _positive_decimal(payload.get("amount")):
            return _error(400, "InvalidQuantity", "A negative or otherwise invalid quantity was specified")
        if not _positive_decimal(payload.get("price")):
            return _error(400, "InvalidPrice", "For new orders, the price was invalid")
        side = payload.get("side")
        if side not in ("buy", "sell"):
            return _error(400, "InvalidSide", "For new orders, an invalid side was specified")
        if payload.get("type") != "exchange limit":
            return _error(400, "InvalidOrderType", "An unknown order type was provided")
        client_order_id = payload.get("client_order_id")
        if client_order_id is not None and not isinstance(client_order_id, str):
            return _error(400, "ClientOrderIdMustBeString", "The client_order_id must be a string")
        order = self._place(
            account=account,
            session=key.api_key,
            symbol=symbol,
            side=str(side),
            price=str(payload["price"]),
            amount=str(payload["amount"]),
            client_order_id=client_order_id,
        )
        return Response.json(200, order.to_json())

    def _cancel(self, account: str, selected: Callable[[_Order], bool]) -> Response:
        cancelled: list[int] = []
        rejects: list[int] = []
        for oid, order in list(self._orders.items()):
            if order.account != account or not selected(order):
                continue
            if oid in self._reject_cancel:
                rejects.append(oid)
                continue
            del self._orders[oid]
            cancelled.append(oid)
        return Response.json(
            200, {"result": "ok", "details": {"cancelRejects": rejects, "cancelledOrders": cancelled}}
        )


def _positive_decimal(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        number = Decimal(value)
    except InvalidOperation:
        return False
    return number.is_finite() and number > 0


def _from_config(args: argparse.Namespace) -> SimServer:
    sim = GeminiSim()
    if args.config:
        config = json.loads(Path(args.config).read_text())
        for entry in config.get("keys", []):
            sim.add_key(
                entry["api_key"],
                entry["secret"],
                entry["nonce_mode"],
                require_heartbeat=entry.get("require_heartbeat"),
                roles=entry.get("roles", ["Trader"]),
                master_accounts=entry.get("master_accounts"),
                account=entry.get("account", "primary"),
            )
    return sim


SIMULATOR = GeminiSim


if __name__ == "__main__":
    run_standalone(_from_config)
