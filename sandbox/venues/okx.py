"""An OKX REST stand-in: real OK-ACCESS-* checks (signature, passphrase, timestamp window, demo
header), sub-accounts with pending and algo orders, and `cancel-all-after` with OKX's rules
(docs/venues.md, OKX).

Why this file is long: authentication, the book and the timers are one model of one venue, written
apart from the client (its signature is recomputed here with code of its own), with the `Simulator`
interface (sandbox/venues/simulator.py) the sandbox and the campaign drive it through.

OKX rules kept:
- one account-level timer per sub-account (no `tag`), and one timer per order tag; a timer that
  fires cancels the pending orders in its scope (the account's: every order; a tag's: that tag's
  only) and is gone until set again; `timeOut` is 0 (off) or 10 to 120 s, counted from receipt;
- at most 20 live tag timers per sub-account (51071); 1 request/s per (sub-account, tag) (50011);
- a request stamped more than 30 s from the venue's clock is refused (50102); a demo key answers only
  with `x-simulated-trading: 1`, a live key only without it (50101);
- batch cancels of 20 (pending) and 10 (algo) with per-item `sCode`; 51400 for an order not pending.
Chosen here where OKX does not say (docs/venues.md, OKX, unverified): the timer's times in ms
(`times_in_seconds` answers as the doc's example does); algo orders kept when a timer fires
(`timer_takes_algos`); an out-of-range `timeOut` answers 51000; a refused cancel (`cancel_refused`)
answers sCode 51412 per item. Simplifications: no fills; orders rest through `rest_order`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sandbox.venues.common import Headers, Response
from sandbox.venues.simulator import COMMON_FAULTS, AccountSpec, Rules, Simulator

WINDOW_MS = 30_000
RATE_WINDOW_MS = 1_000
MAX_TAG_TIMERS = 20
_TAG = re.compile(r"[A-Za-z0-9]{1,16}")
_ALGO_TYPES = {"conditional", "oco", "trigger", "move_order_stop", "iceberg", "twap", "chase"}
RATE_MSG = "Rate limit reached. Please refer to API documentation and throttle requests accordingly."
NOT_PENDING_MSG = "Cancellation failed as the order has been filled, canceled or does not exist."
_HTTP = {"50011": 429, "50001": 503, "51000": 400, "50014": 400}


class OkxError(Exception):
    def __init__(self, code: str, msg: str) -> None:
        super().__init__(code, msg)
        self.code = code
        self.msg = msg


@dataclass
class _Key:
    api_key: str
    secret: str
    passphrase: str
    uid: str
    demo: bool = False


@dataclass
class _Order:
    inst_id: str
    order_id: str
    tag: str
    algo: bool = False
    algo_type: str = ""
    px: str = "100"
    sz: str = "1"


@dataclass
class _Sub:
    uid: str
    orders: dict[str, _Order] = field(default_factory=dict)
    timers: dict[str, int] = field(default_factory=dict)  # tag ("" = the account's) -> fire time
    last_call: dict[str, int] = field(default_factory=dict)  # tag -> last cancel-all-after


def okx_signature(stamp: str, method: str, path: str, body: bytes, secret: str) -> str:
    message = stamp.encode() + method.encode() + path.encode() + body
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def _tags_for(account: str) -> tuple[str, ...]:
    """The campaign's accounts: a name starting with an even letter code is a pair of tag timers on
    the shared sub-account, the others an account-level timer on a sub-account of their own; both
    scopes meet every fault."""
    if ord(account[0]) % 2:
        return ()
    stem = re.sub(r"[^A-Za-z0-9]", "", account)[:14] or "x"
    return (f"{stem}1", f"{stem}2")


class OkxSim(Simulator):
    venue = "okx"
    RULES = Rules(
        faults=COMMON_FAULTS | {"cancel_refused"},
        late_extension_fault="venue_latency",  # a relative timeout, computed at sending
        min_tick_s=2.0,  # the timer takes one call a second per scope: the tick must leave a slot free
    )
    SANDBOX_ACCOUNTS = (AccountSpec("main"),)

    def __init__(
        self,
        clock: Callable[[], int] | None = None,
        *,
        times_in_seconds: bool = False,
        timer_takes_algos: bool = False,
    ) -> None:
        super().__init__(clock)
        self.times_in_seconds = times_in_seconds
        self.timer_takes_algos = timer_takes_algos
        self._keys: dict[str, _Key] = {}
        self._subs: dict[str, _Sub] = {}
        self._scopes: dict[str, tuple[str, tuple[str, ...]]] = {}  # account -> (uid, tags)
        self._next_id = 1
        self.refuse_cancels: set[str] = set()

    @classmethod
    def create(cls, clock: Callable[[], int] | None = None) -> OkxSim:
        return cls(clock)

    # -- registration and test accessors -------------------------------------------------------
    def add_key(self, api_key: str, secret: str, passphrase: str, uid: str, *, demo: bool = False) -> None:
        with self.lock:
            self._keys[api_key] = _Key(api_key, secret, passphrase, uid, demo)
            self._subs.setdefault(uid, _Sub(uid))

    def place(self, uid: str, *, tag: str = "", inst_id: str = "BTC-USDT", algo_type: str = "") -> str:
        """Rest a pending order (or an algo order of `algo_type`) on the sub-account directly."""
        with self.lock:
            sub = self._subs.setdefault(uid, _Sub(uid))
            oid = str(self._next_id)
            self._next_id += 1
            sub.orders[oid] = _Order(inst_id, oid, tag, algo=bool(algo_type), algo_type=algo_type)
            return oid

    def pending(self, uid: str) -> dict[str, _Order]:
        with self.lock:
            return dict(self._subs[uid].orders) if uid in self._subs else {}

    def timer(self, uid: str, tag: str = "") -> int | None:
        with self.lock:
            sub = self._subs.get(uid)
            return None if sub is None else sub.timers.get(tag)

    # -- the Simulator interface ----------------------------------------------------------------
    def _grant(self, spec: AccountSpec, generation: int) -> tuple[dict[str, Any], list[str]]:
        tags = _tags_for(spec.account)
        uid = "uid-shared" if tags else f"uid-{spec.account}"
        self._scopes[spec.account] = (uid, tags)
        key, kill = f"okx-{spec.account}-g{generation}", f"okx-kill-{spec.account}-g{generation}"
        creds = {"api_secret": f"secret-{key}", "passphrase": f"pass-{key}"}
        self.add_key(key, creds["api_secret"], creds["passphrase"], uid)
        entry: dict[str, Any] = {"account_id": spec.account, "api_key": key, **creds}
        if tags:
            entry["tags"] = list(tags)
        if not spec.kill_key:
            return entry, [key]
        kill_creds = {"api_key": kill, "api_secret": f"secret-{kill}", "passphrase": f"pass-{kill}"}
        self.add_key(kill, kill_creds["api_secret"], kill_creds["passphrase"], uid)
        entry["kill"] = kill_creds
        return entry, [key, kill]

    def delete_old_keys(self, account: str) -> None:
        with self.lock:
            for key in self.old_keys(account):
                self._keys.pop(key, None)

    def rest_order(self, account: str, *, price: str = "100", size: str = "1", old_key: bool = False) -> str:
        uid, tags = self._scopes[account]
        oid = self.place(uid, tag=tags[0] if tags else "")
        with self.lock:
            order = self._subs[uid].orders[oid]
            order.px, order.sz = price, size
        return oid

    def order_ids(self, account: str) -> set[str]:
        uid, tags = self._scopes[account]
        return {o.order_id for o in self.pending(uid).values() if not tags or o.tag in tags}

    def timer_at(self, account: str) -> int | None:
        uid, tags = self._scopes[account]
        set_ = [t for t in (self.timer(uid, tag) for tag in tags or ("",)) if t is not None]
        return max(set_) if set_ else None

    @staticmethod
    def is_extension(path: str, body: bytes) -> bool:
        if not path.split("?", maxsplit=1)[0].endswith("/trade/cancel-all-after"):
            return False
        try:
            return str(json.loads(body).get("timeOut")) != "0"
        except (ValueError, AttributeError):
            return False

    @staticmethod
    def is_cancel(path: str, body: bytes) -> bool:
        route = path.split("?", maxsplit=1)[0]
        return route.endswith("/trade/cancel-batch-orders") or route.endswith("/trade/cancel-algos")

    def set_fault(self, fault: str, on: bool, *, until_ms: int | None = None) -> bool:
        if fault != "cancel_refused":
            return super().set_fault(fault, on, until_ms=until_ms)
        with self.lock:  # cancels of every order resting now are refused (again: those rested since)
            if not on:
                self.refuse_cancels.clear()
                return True
            ids = {o.order_id for sub in self._subs.values() for o in sub.orders.values()}
            self.refuse_cancels |= ids
            return bool(ids)

    # -- SimServer hooks ------------------------------------------------------------------------
    def rate_limited(self) -> Response:
        return Response.json(
            429,
            {
                "code": "50011",
                "msg": RATE_MSG,
                "data": [],
            },
        )

    def maintenance(self) -> Response:
        return Response.json(
            503,
            {"code": "50001", "msg": "Service temporarily unavailable. Please try again later.", "data": []},
        )

    def poll(self) -> None:
        if self.faults.maintenance:
            return  # the engine is down: nothing fires
        for sub in self._subs.values():
            for tag, at in sorted(sub.timers.items(), key=lambda kv: kv[1]):
                if at <= self.now_ms():
                    # Recorded at the trigger time, however coarsely a virtual clock jumped past it.
                    self._fire(sub, tag, at)

    def _fire(self, sub: _Sub, tag: str, at_ms: int) -> None:
        del sub.timers[tag]
        gone = [
            oid
            for oid, o in sub.orders.items()
            if (not tag or o.tag == tag) and (not o.algo or self.timer_takes_algos)
        ]
        for oid in gone:
            del sub.orders[oid]
        owner = next(
            (a for a, (uid, tags) in self._scopes.items() if uid == sub.uid and (tag in tags or not tag)),
            f"{sub.uid}:{tag}",
        )
        self.fires.append((at_ms, owner, len(gone)))

    def handle(self, method: str, path: str, headers: Headers, body: bytes) -> Response:
        parts = urlsplit(path)
        route = parts.path
        try:
            if route == "/api/v5/public/time":
                return self._ok([{"ts": str(self.now_ms())}])
            key = self._authenticate(method, path, headers, body)
            sub = self._subs[key.uid]
            query = dict(parse_qsl(parts.query))
            if method == "POST" and route == "/api/v5/trade/cancel-all-after":
                return self._ok([self._cancel_after(sub, _json(body, dict))])
            if method == "GET" and route == "/api/v5/trade/orders-pending":
                return self._ok(self._list(sub, query, algo=False))
            if method == "GET" and route == "/api/v5/trade/orders-algo-pending":
                return self._ok(self._list(sub, query, algo=True))
            if method == "POST" and route == "/api/v5/trade/cancel-batch-orders":
                return self._cancels(sub, _json(body, list), algo=False)
            if method == "POST" and route == "/api/v5/trade/cancel-algos":
                return self._cancels(sub, _json(body, list), algo=True)
            raise OkxError("50000", f"unknown endpoint {method} {route}")
        except OkxError as exc:
            return Response.json(
                _HTTP.get(exc.code, 401 if exc.code.startswith("501") else 200),
                {"code": exc.code, "msg": exc.msg, "data": []},
            )

    @staticmethod
    def _ok(data: list[Any], code: str = "0") -> Response:
        return Response.json(200, {"code": code, "msg": "", "data": data})

    # -- authentication -------------------------------------------------------------------------
    def _authenticate(self, method: str, path: str, headers: Headers, body: bytes) -> _Key:
        for header, code in (
            ("ok-access-key", "50103"),
            ("ok-access-passphrase", "50104"),
            ("ok-access-sign", "50106"),
            ("ok-access-timestamp", "50107"),
        ):
            if not headers.get(header):
                raise OkxError(code, f"Request header {header.upper()} cannot be empty.")
        key = self._keys.get(headers["ok-access-key"])
        if key is None:
            raise OkxError("50111", "Invalid OK-ACCESS-KEY.")
        stamp = headers["ok-access-timestamp"]
        when = _iso_ms(stamp)
        if when is None:
            raise OkxError("50112", "Invalid OK-ACCESS-TIMESTAMP.")
        if abs(self.now_ms() - when) > WINDOW_MS:
            raise OkxError("50102", "Timestamp request expired.")
        if (headers.get("x-simulated-trading") == "1") != key.demo:
            raise OkxError("50101", "APIKey does not match current environment.")
        expected = okx_signature(stamp, method, path, body, key.secret)
        if not hmac.compare_digest(expected, headers["ok-access-sign"]):
            raise OkxError("50113", "Invalid Sign.")
        if not hmac.compare_digest(key.passphrase, headers["ok-access-passphrase"]):
            raise OkxError("50105", "OK-ACCESS-PASSPHRASE incorrect.")
        return key

    # -- endpoints ------------------------------------------------------------------------------
    def _cancel_after(self, sub: _Sub, params: dict[str, Any]) -> dict[str, str]:
        raw, tag = params.get("timeOut"), params.get("tag", "")
        if raw is None:
            raise OkxError("50014", "Parameter timeOut cannot be empty.")
        text = str(raw) if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
        if not text.isdigit() or not (int(text) == 0 or 10 <= int(text) <= 120):
            raise OkxError("51000", "Parameter timeOut error")
        if not isinstance(tag, str) or (tag and not _TAG.fullmatch(tag)):
            raise OkxError("51000", "Parameter tag error")
        now = self.now_ms()
        last = sub.last_call.get(tag)
        if last is not None and now - last < RATE_WINDOW_MS:
            raise OkxError(
                "50011",
                RATE_MSG,
            )
        timeout = int(text)
        live_tags = [t for t in sub.timers if t]
        if tag and timeout and tag not in sub.timers and len(live_tags) >= MAX_TAG_TIMERS:
            raise OkxError("51071", "You've reached the maximum limit for tag level cancel all after timers.")
        sub.last_call[tag] = now
        if timeout:
            sub.timers[tag] = now + timeout * 1000
        else:
            sub.timers.pop(tag, None)
        trigger = sub.timers.get(tag)
        return {
            "triggerTime": "0" if trigger is None else self._time(trigger),
            "tag": tag,
            "ts": self._time(now),
        }

    def _time(self, ms: int) -> str:
        return str(ms // 1000 if self.times_in_seconds else ms)

    def _list(self, sub: _Sub, query: dict[str, str], *, algo: bool) -> list[dict[str, str]]:
        kinds: set[str] = set()
        if algo:
            kinds = set(query.get("ordType", "").split(","))
            if not kinds <= _ALGO_TYPES or not query.get("ordType"):
                raise OkxError("51000", "Parameter ordType error")
            if len(kinds) > 1 and kinds != {"conditional", "oco"}:
                raise OkxError("51000", "Parameter ordType error")
        limit = min(int(query.get("limit", "100") or 100), 100)
        after = query.get("after")
        # Newest first, as OKX lists; `after` pages to older ids.
        rows = sorted(
            (o for o in sub.orders.values() if o.algo == algo and (not algo or o.algo_type in kinds)),
            key=lambda o: -int(o.order_id),
        )
        if after:
            rows = [o for o in rows if int(o.order_id) < int(after)]
        key = "algoId" if algo else "ordId"
        return [
            {
                "instId": o.inst_id,
                key: o.order_id,
                "tag": o.tag,
                "side": "buy",
                "px": o.px,
                "sz": o.sz,
                "ordType": o.algo_type or "limit",
                "state": "live",
            }
            for o in rows[:limit]
        ]

    def _cancels(self, sub: _Sub, items: list[Any], *, algo: bool) -> Response:
        cap, key = (10, "algoId") if algo else (20, "ordId")
        if not items or len(items) > cap:
            raise OkxError("51000", f"Parameter {key} error")
        out = []
        for item in items:
            oid = str(item.get(key, "")) if isinstance(item, dict) else ""
            order = sub.orders.get(oid)
            if order is None or order.algo != algo or order.inst_id != item.get("instId"):
                out.append(
                    {
                        key: oid,
                        "sCode": "51400",
                        "sMsg": NOT_PENDING_MSG,
                    }
                )
            elif oid in self.refuse_cancels:
                out.append(
                    {key: oid, "sCode": "51412", "sMsg": "Cancellation timed out, please try again later."}
                )
            else:
                del sub.orders[oid]
                out.append({key: oid, "sCode": "0", "sMsg": ""})
        done = sum(r["sCode"] == "0" for r in out)
        code = "0" if done == len(out) else ("2" if done else "1")
        return Response.json(
            200,
            {
                "code": code,
                "msg": ""
                if code == "0"
                else "Bulk operation partially succeeded."
                if code == "2"
                else "Operation failed.",
                "data": out,
            },
        )


def _json(body: bytes, shape: type) -> Any:
    try:
        value = json.loads(body)
    except ValueError:
        raise OkxError("50000", "Body cannot be empty or malformed.") from None
    if not isinstance(value, shape):
        raise OkxError("51000", "Parameter error")
    return value


def _iso_ms(stamp: str) -> int | None:
    """'2020-12-08T09:08:57.715Z' -> epoch ms; None for any other shape."""
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp):
        return None
    try:
        return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000 + 0.5)
    except ValueError:
        return None


SIMULATOR = OkxSim
