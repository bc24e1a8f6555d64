"""Hyperliquid simulator: `/info` and `/exchange` with real L1 signature recovery, per-signer nonce
sets, agents and vaults, resting orders, and `scheduleCancel` with its volume gate, 5 s lead and
10 triggers per UTC day.

Why this file is long: the venue's authentication is rebuilt from its rules, independent of the
client, next to the order book and the timer those rules guard.

Authentication is rebuilt here from the venue's rules, not from the client's code: the action is
re-serialised in the venue's own field order (as the venue's rmp-serde does, so a client that
sends keys in another order, or a `null` where a key must be absent, signs different bytes), then
msgpack ‖ nonce ‖ vault ‖ expiresAfter is hashed, the EIP-712 digest is built by hand, and the
signer is recovered. A wrong byte anywhere recovers a stranger, answered as the venue answers it:
"User or API Wallet 0x... does not exist."

Wordings marked UNVERIFIED are the simulator's own where no public record of the venue's exists.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import msgpack
from eth_hash.auto import keccak

from sandbox.venues.common import Headers, Response, run_standalone
from sandbox.venues.simulator import COMMON_FAULTS, AccountSpec, Rules, Simulator

DAY_MS = 86_400_000
NONCE_SET_SIZE = 100  # "the 100 highest nonces are stored per address"
NONCE_PAST_MS = 2 * DAY_MS  # nonces must be within (T - 2 days, T + 1 day)
NONCE_FUTURE_MS = DAY_MS
MIN_LEAD_MS = 5_000
SPOT_OFFSET = 10_000
BUILDER_OFFSET = 100_000
BUILDER_STRIDE = 10_000

NOT_DESERIALIZABLE = "Failed to deserialize the JSON body into the target type"
NO_SUCH_ORDER = "Order was never placed, already canceled, or filled."
TOO_EARLY = "Scheduled cancel time too early, must be at least 5 seconds from now."
TOO_MANY_TRIGGERS = "Too many scheduled cancel triggers today."  # UNVERIFIED wording
EXPIRED = "Action already expired"

# The first perp dex, then builder-deployed (HIP-3) dexes in perpDexs order: k = 1, 2, ...
DEFAULT_PERPS: tuple[str, ...] = ("BTC", "ETH", "SOL")
DEFAULT_BUILDER_DEXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("test", ("ABC", "XYZ")),
    ("flx", ("FOO", "BAR")),
)
# Spot: (universe name, base token, quote token); index = position. Unnamed pairs read "@<index>".
DEFAULT_SPOT_TOKENS: tuple[str, ...] = ("USDC", "PURR", "HFUN", "JEFF")
DEFAULT_SPOT_PAIRS: tuple[tuple[str, int, int], ...] = (("PURR/USDC", 1, 0), ("@1", 2, 0), ("@2", 3, 0))

# -- the venue's own crypto -------------------------------------------------------------------------

_DOMAIN_TYPEHASH = keccak(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
_AGENT_TYPEHASH = keccak(b"Agent(string source,bytes32 connectionId)")
_DOMAIN_SEPARATOR = keccak(
    _DOMAIN_TYPEHASH + keccak(b"Exchange") + keccak(b"1") + (1337).to_bytes(32, "big") + bytes(32)
)


def l1_digest(
    action: Mapping[str, Any], vault: str | None, nonce: int, expires_after: int | None, source: str
) -> bytes:
    """EIP-712 digest of the phantom agent {source, connectionId = keccak(action bytes...)}."""
    data = msgpack.packb(action)
    data += nonce.to_bytes(8, "big")
    data += b"\x00" if vault is None else b"\x01" + bytes.fromhex(vault[2:])
    if expires_after is not None:
        data += b"\x00" + expires_after.to_bytes(8, "big")
    connection_id = keccak(data)
    struct_hash = keccak(_AGENT_TYPEHASH + keccak(source.encode()) + connection_id)
    return bytes(keccak(b"\x19\x01" + _DOMAIN_SEPARATOR + struct_hash))


def recover_signer(digest: bytes, signature: Mapping[str, Any]) -> str | None:
    from eth_keys.datatypes import Signature

    try:
        r, s, v = int(str(signature["r"]), 16), int(str(signature["s"]), 16), int(signature["v"])
        if v not in (27, 28):
            return None
        public = Signature(vrs=(v - 27, r, s)).recover_public_key_from_msg_hash(digest)
    except Exception:
        return None
    return str(public.to_checksum_address()).lower()


# -- the venue's request types (field order = the venue's struct order) ----------------------------


class Malformed(Exception):
    """The body does not deserialise into the venue's types: HTTP 422."""


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Malformed
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise Malformed
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Malformed
    return value


def _address(value: Any) -> str:
    text = _str(value).lower()
    if len(text) != 42 or not text.startswith("0x"):
        raise Malformed
    try:
        bytes.fromhex(text[2:])
    except ValueError:
        raise Malformed from None
    return text


def _order_wire(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise Malformed
    kind = raw.get("t")
    if not isinstance(kind, Mapping) or len(kind) != 1:
        raise Malformed
    if "limit" in kind:
        limit = kind["limit"]
        if not isinstance(limit, Mapping):
            raise Malformed
        t: dict[str, Any] = {"limit": {"tif": _str(limit.get("tif"))}}
    elif "trigger" in kind:
        trig = kind["trigger"]
        if not isinstance(trig, Mapping):
            raise Malformed
        t = {
            "trigger": {
                "isMarket": _bool(trig.get("isMarket")),
                "triggerPx": _str(trig.get("triggerPx")),
                "tpsl": _str(trig.get("tpsl")),
            }
        }
    else:
        raise Malformed
    wire: dict[str, Any] = {
        "a": _int(raw.get("a")),
        "b": _bool(raw.get("b")),
        "p": _str(raw.get("p")),
        "s": _str(raw.get("s")),
        "r": _bool(raw.get("r")),
        "t": t,
    }
    if raw.get("c") is not None:
        wire["c"] = _str(raw["c"])
    return wire


def canonical_action(raw: Any) -> dict[str, Any]:
    """The action as the venue re-serialises it before hashing."""
    if not isinstance(raw, Mapping):
        raise Malformed
    kind = raw.get("type")
    if kind == "scheduleCancel":
        action: dict[str, Any] = {"type": kind}
        if raw.get("time") is not None:  # Option<u64>: null and absent both read as None
            action["time"] = _int(raw["time"])
        return action
    if kind == "cancel":
        cancels = raw.get("cancels")
        if not isinstance(cancels, list):
            raise Malformed
        items = []
        for item in cancels:
            if not isinstance(item, Mapping):
                raise Malformed
            items.append({"a": _int(item.get("a")), "o": _int(item.get("o"))})
        return {"type": kind, "cancels": items}
    if kind == "order":
        orders = raw.get("orders")
        if not isinstance(orders, list):
            raise Malformed
        action = {
            "type": kind,
            "orders": [_order_wire(o) for o in orders],
            "grouping": _str(raw.get("grouping")),
        }
        builder = raw.get("builder")
        if builder is not None:
            if not isinstance(builder, Mapping):
                raise Malformed
            action["builder"] = {"b": _address(builder.get("b")), "f": _int(builder.get("f"))}
        return action
    raise Malformed


# -- state -------------------------------------------------------------------------------------------


@dataclass
class RestingOrder:
    oid: int
    user: str
    asset: int
    dex: str
    coin: str
    is_buy: bool
    px: str
    sz: str
    timestamp: int
    cloid: str | None = None

    def wire(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "coin": self.coin,
            "limitPx": self.px,
            "oid": self.oid,
            "side": "B" if self.is_buy else "A",
            "sz": self.sz,
            "timestamp": self.timestamp,
            "origSz": self.sz,
        }
        if self.cloid is not None:
            row["cloid"] = self.cloid
        return row


@dataclass
class _User:
    deposited: bool = True
    volume_usd: Decimal = Decimal(0)


def _usd_text(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text if "." in text or text == "0" else str(int(value))


@functools.cache
def agent_address(private_key: str) -> str:
    """The address of an agent (API wallet) key, as the venue knows it."""
    from eth_account import Account

    return str(Account.from_key(private_key).address).lower()


def _derived(seed: str) -> str:
    """A private key (or, cut to 20 bytes, an address) of its own for each name."""
    return "0x" + hashlib.sha256(seed.encode()).hexdigest()


PROVISIONED_VOLUME_USD = 2_500_000  # past the volume gate
BELOW_GATE_VOLUME_USD = 373.47


class HyperliquidSim(Simulator):
    venue = "hyperliquid"
    RULES = Rules(
        faults=COMMON_FAULTS | {"cancel_refused", "volume_gate", "trigger_exhaustion"},
        late_extension_fault="venue_late",  # an absolute time, sent late
    )
    SANDBOX_ACCOUNTS = (AccountSpec("main"), AccountSpec("small", below_gate=True))

    def __init__(
        self,
        clock: Callable[[], int] | None = None,
        *,
        network: str = "mainnet",
        volume_threshold_usd: float = 1_000_000,
        default_volume_usd: float = 2_000_000,
        gate_clear: bool = True,
        daily_trigger_cap: int = 10,
        cap_behaviour: str = "refuse",
        perps: Sequence[str] = DEFAULT_PERPS,
        builder_dexes: Sequence[tuple[str, Sequence[str]]] = DEFAULT_BUILDER_DEXES,
        spot_tokens: Sequence[str] = DEFAULT_SPOT_TOKENS,
        spot_pairs: Sequence[tuple[str, int, int]] = DEFAULT_SPOT_PAIRS,
    ) -> None:
        """`gate_clear`: the volume gate also refuses clearing (a 3rd-party report; UNVERIFIED).
        `cap_behaviour` past `daily_trigger_cap` fires a day (UNVERIFIED at the venue): "refuse"
        answers a scheduleCancel set with an error, "ignore" takes it and lets it fire uselessly."""
        super().__init__(clock)
        if network not in ("mainnet", "testnet"):
            raise ValueError("network is mainnet or testnet")
        if cap_behaviour not in ("refuse", "ignore"):
            raise ValueError('cap_behaviour is "refuse" or "ignore"')
        self.network = network
        self.source = "a" if network == "mainnet" else "b"
        self.volume_threshold = Decimal(str(volume_threshold_usd))
        self.default_volume = Decimal(str(default_volume_usd))
        self.gate_clear = gate_clear
        self.daily_trigger_cap = daily_trigger_cap
        self.cap_behaviour = cap_behaviour

        self.users: dict[str, _User] = {}
        self.agents: dict[str, str] = {}  # agent address -> the master that approved it
        self.vaults: dict[str, str] = {}  # vault / subaccount -> its master
        self.orders: dict[int, RestingOrder] = {}
        self.schedules: dict[str, int] = {}  # user (master or vault) -> scheduled cancel time
        self.triggers: dict[str, tuple[int, int]] = {}  # user -> (UTC day number, fires that day)
        # `fires`: (fire_time_ms, user, n_cancelled)
        self.ignored_fires: list[tuple[int, str]] = []  # fires past the cap under "ignore"
        self.nonce_sets: dict[str, list[int]] = {}  # signer -> its highest nonces, ascending
        self.exchange_log: list[dict[str, Any]] = []  # /exchange bodies as received, + "signer", "answer"
        self.info_log: list[dict[str, Any]] = []  # /info bodies as received
        self.cancel_errors: dict[int, str] = {}  # oid -> error a cancel of it answers (races, tests)
        self._next_oid = 1_000_000
        self._users: dict[str, str] = {}  # provisioned account -> its user (master) address
        self._schedule_landed: dict[int, int] = {}  # scheduleCancel time asked -> when the ask landed

        self._markets: dict[int, tuple[str, str]] = {}  # asset id -> (dex, coin)
        self._meta: dict[str, list[dict[str, Any]]] = {
            "": [{"name": c, "szDecimals": 4, "maxLeverage": 50} for c in perps]
        }
        self._markets.update({i: ("", c) for i, c in enumerate(perps)})
        self._perp_dexs: list[dict[str, Any] | None] = [None]
        for k, (dex, coins) in enumerate(builder_dexes, start=1):
            self._perp_dexs.append(
                {"name": dex, "fullName": f"{dex} dex", "deployer": "0x" + f"{k:040x}", "oracleUpdater": None}
            )
            names = [f"{dex}:{coin}" for coin in coins]
            self._meta[dex] = [{"name": n, "szDecimals": 2, "maxLeverage": 10} for n in names]
            self._markets.update(
                {BUILDER_OFFSET + k * BUILDER_STRIDE + i: (dex, n) for i, n in enumerate(names)}
            )
        self._spot_meta = {
            "tokens": [
                {
                    "name": t,
                    "szDecimals": 2,
                    "weiDecimals": 8,
                    "index": i,
                    "tokenId": "0x" + f"{i:032x}",
                    "isCanonical": True,
                }
                for i, t in enumerate(spot_tokens)
            ],
            "universe": [
                {"tokens": [base, quote], "name": name, "index": i, "isCanonical": "/" in name}
                for i, (name, base, quote) in enumerate(spot_pairs)
            ],
        }
        self._markets.update({SPOT_OFFSET + i: ("", name) for i, (name, _, _) in enumerate(spot_pairs)})

    @classmethod
    def create(cls, clock: Callable[[], int] | None = None) -> HyperliquidSim:
        return cls(clock, network="testnet")

    # -- the Simulator interface ------------------------------------------------------------------------

    def _grant(self, spec: AccountSpec, generation: int) -> tuple[dict[str, Any], list[str]]:
        """The account is a user (master address) of its own; the fleet signs as an agent of it."""
        user = self._users.setdefault(spec.account, _derived(f"user-{spec.account}")[:42])
        agent, kill = (
            _derived(f"agent-{spec.account}-g{generation}"),
            _derived(f"kill-{spec.account}-g{generation}"),
        )
        self.add_user(user, volume_usd=BELOW_GATE_VOLUME_USD if spec.below_gate else PROVISIONED_VOLUME_USD)
        self.approve_agent(user, agent_address(agent))
        entry: dict[str, Any] = {
            "account_id": spec.account,
            "address": user,
            "agent_private_key": agent,
            "network": self.network,
        }
        if spec.kill_key:
            self.approve_agent(user, agent_address(kill))
            entry["kill"] = {"agent_private_key": kill}
        return entry, []

    def delete_old_keys(self, account: str) -> None:
        """Agents stay approved: the old one signs on until the operator removes it at the venue."""

    def rest_order(self, account: str, *, price: str = "100", size: str = "1", old_key: bool = False) -> str:
        return str(self.place(self._users[account], 0, px=price, sz=size))  # orders are the user's

    def order_ids(self, account: str) -> set[str]:
        user = self._users[account]
        with self.lock:
            return {str(o.oid) for o in self.orders.values() if o.user == user}

    def timer_at(self, account: str) -> int | None:
        return self.scheduled(self._users[account])

    def set_at_soonest(self, fire_at_ms: int, margin_ms: int) -> bool:
        """The last scheduleCancel that asked for this time landed at most the 5 s lead + margin
        before it (the body names no account in the clear: the exact time is what identifies it)."""
        landed = self._schedule_landed.get(fire_at_ms)
        return landed is not None and fire_at_ms - landed <= MIN_LEAD_MS + margin_ms

    @staticmethod
    def is_extension(path: str, body: bytes) -> bool:
        action = _action_of(path, body)
        return action is not None and action.get("type") == "scheduleCancel" and "time" in action

    @staticmethod
    def is_cancel(path: str, body: bytes) -> bool:
        action = _action_of(path, body)
        return action is not None and action.get("type") == "cancel"

    def set_fault(self, fault: str, on: bool, *, until_ms: int | None = None) -> bool:
        with self.lock:
            if fault == "cancel_refused":
                # Cancels of every order resting on a provisioned account now are refused (switched on
                # again to take in orders rested since).
                if not on:
                    self.cancel_errors.clear()
                    return True
                users = set(self._users.values())
                ids = [oid for oid, o in self.orders.items() if o.user in users]
                for oid in ids:
                    self.cancel_errors[oid] = NO_SUCH_ORDER
                return bool(ids)
            if fault == "volume_gate":  # every account not under the gate for good falls under it
                for account, user in self._users.items():
                    if not self.provisioned[account].below_gate:
                        self.set_volume(user, 100 if on else PROVISIONED_VOLUME_USD)
                return True
            if fault == "trigger_exhaustion":  # today's scheduled-cancel triggers all used up
                day = self.now_ms() // DAY_MS
                for user in self._users.values():
                    self.triggers[user] = (day, self.daily_trigger_cap) if on else (day, 0)
                return True
        return super().set_fault(fault, on, until_ms=until_ms)

    # -- registration and accessors (tests) ------------------------------------------------------------

    def add_user(self, address: str, *, volume_usd: float | None = None, deposited: bool = True) -> None:
        with self.lock:
            volume = self.default_volume if volume_usd is None else Decimal(str(volume_usd))
            self.users[address.lower()] = _User(deposited=deposited, volume_usd=volume)

    def approve_agent(self, user: str, agent_address: str) -> None:
        with self.lock:
            if user.lower() not in self.users:
                self.add_user(user)
            self.agents[agent_address.lower()] = user.lower()

    def add_vault(self, vault: str, master: str, *, volume_usd: float | None = None) -> None:
        """A subaccount or vault led by `master` (it has no key of its own)."""
        with self.lock:
            if master.lower() not in self.users:
                self.add_user(master)
            self.vaults[vault.lower()] = master.lower()
            self.add_user(vault, volume_usd=volume_usd)

    def set_volume(self, user: str, usd: float) -> None:
        with self.lock:
            self.users.setdefault(user.lower(), _User()).volume_usd = Decimal(str(usd))

    def open_orders(self, user: str) -> list[dict[str, Any]]:
        with self.lock:
            return [o.wire() for o in self.orders.values() if o.user == user.lower()]

    def place(self, user: str, asset: int, *, is_buy: bool = True, px: str = "100", sz: str = "1") -> int:
        """Rest an order directly (what a trader's signed `order` action does)."""
        with self.lock:
            return self._rest(user.lower(), asset, is_buy, px, sz, cloid=None)

    def asset_of(self, coin: str) -> int:
        for asset, (_, name) in self._markets.items():
            if name == coin:
                return asset
        raise KeyError(coin)

    def scheduled(self, user: str) -> int | None:
        with self.lock:
            return self.schedules.get(user.lower())

    def triggers_today(self, user: str) -> int:
        with self.lock:
            day, count = self.triggers.get(user.lower(), (-1, 0))
            return count if day == self.now_ms() // DAY_MS else 0

    # -- venue shapes ---------------------------------------------------------------------------------

    def rate_limited(self) -> Response:
        # The venue documents no 429 body. The official SDK's error handler reads a 4xx body as JSON
        # {code,msg,data} and has a branch for a body that parses to null, so answer `null`: a client
        # must key on the status alone.
        return Response(429, b"null")

    def maintenance(self) -> Response:
        return Response(503, b"<html><body>503 Service Temporarily Unavailable</body></html>", "text/html")

    def poll(self) -> None:
        now = self.now_ms()
        for user, at in list(self.schedules.items()):
            if at > now:
                continue
            del self.schedules[user]  # one-shot: a fired schedule stays off until set again
            fired_today = self._fired_today(user, now)
            if fired_today >= self.daily_trigger_cap:
                self.ignored_fires.append((now, user))  # only reachable under "ignore"
                continue
            doomed = [oid for oid, o in self.orders.items() if o.user == user]
            for oid in doomed:
                del self.orders[oid]
            self.triggers[user] = (now // DAY_MS, fired_today + 1)
            self.fires.append((now, user, len(doomed)))

    def handle(self, method: str, path: str, headers: Headers, body: bytes) -> Response:
        if method != "POST" or path not in ("/info", "/exchange"):
            return Response(404, b"Not Found", "text/plain")
        try:
            request = json.loads(body)
            if path == "/info":
                return Response.json(200, self._info(request))
            return self._exchange(request)
        except (Malformed, ValueError):
            return Response(422, NOT_DESERIALIZABLE.encode(), "text/plain")

    # -- /info ----------------------------------------------------------------------------------------

    def _info(self, request: Any) -> Any:
        if not isinstance(request, Mapping):
            raise Malformed
        self.info_log.append(dict(request))
        kind = request.get("type")
        dex = request.get("dex", "")
        if kind == "meta":
            if dex not in self._meta:
                raise Malformed  # UNVERIFIED: how the venue answers an unknown dex
            return {"universe": self._meta[dex]}
        if kind == "spotMeta":
            return self._spot_meta
        if kind == "perpDexs":
            return self._perp_dexs
        if kind == "openOrders":
            user = _address(request.get("user"))
            if dex not in self._meta:
                raise Malformed
            # "Spot open orders are only included with the first perp dex."
            return [
                o.wire()
                for o in sorted(self.orders.values(), key=lambda o: -o.oid)
                if o.user == user and o.dex == dex
            ]
        raise Malformed

    # -- /exchange ------------------------------------------------------------------------------------

    def _exchange(self, request: Any) -> Response:
        if not isinstance(request, Mapping):
            raise Malformed
        entry = dict(request)
        self.exchange_log.append(entry)
        answer = self._exchange_answer(request)
        entry["answer"] = answer
        action = request.get("action")  # a scheduleCancel's time: when it was asked for
        if (
            isinstance(action, Mapping)
            and action.get("type") == "scheduleCancel"
            and isinstance(action.get("time"), int)
        ):
            self._schedule_landed[action["time"]] = self.now_ms()
        return Response.json(200, answer)

    def _exchange_answer(self, request: Mapping[str, Any]) -> dict[str, Any]:
        action = canonical_action(request.get("action"))
        nonce = _int(request.get("nonce"))
        signature = request.get("signature")
        if not isinstance(signature, Mapping):
            raise Malformed
        vault = None if request.get("vaultAddress") is None else _address(request["vaultAddress"])
        expires_after = None if request.get("expiresAfter") is None else _int(request["expiresAfter"])
        now = self.now_ms()

        if nonce <= now - NONCE_PAST_MS:
            return _err(f"Invalid nonce: nonce too low {nonce} < {now - NONCE_PAST_MS}")
        if nonce >= now + NONCE_FUTURE_MS:
            return _err(f"Invalid nonce: nonce too high {nonce} > {now + NONCE_FUTURE_MS}")
        if expires_after is not None and now > expires_after:
            return _err(EXPIRED)

        signer = recover_signer(l1_digest(action, vault, nonce, expires_after, self.source), signature)
        if signer is None:
            return _err("Unable to recover signer.")
        if signer in self.users:
            master = signer
            if not self.users[signer].deposited:
                return _err(f"Must deposit before performing actions. User: {signer}")
        elif signer in self.agents:
            master = self.agents[signer]
        else:
            return _err(f"User or API Wallet {signer} does not exist.")
        if vault is not None and self.vaults.get(vault) != master:
            return _err(f"User or API Wallet {signer} does not exist.")  # UNVERIFIED wording for vaults

        self.exchange_log[-1]["signer"] = signer
        problem = self._take_nonce(signer, nonce)
        if problem:
            return _err(problem)
        user = vault or master
        if action["type"] == "scheduleCancel":
            return self._schedule_cancel(user, action.get("time"), now)
        if action["type"] == "cancel":
            return self._cancel(user, action["cancels"])
        return self._order(user, action["orders"])

    def _take_nonce(self, signer: str, nonce: int) -> str | None:
        kept = self.nonce_sets.setdefault(signer, [])
        if nonce in kept:
            return f"Invalid nonce: duplicate nonce {nonce}"
        if len(kept) >= NONCE_SET_SIZE and nonce < kept[0]:
            return f"Invalid nonce: nonce too low {nonce} < {kept[0]}"
        kept.append(nonce)
        kept.sort()
        del kept[:-NONCE_SET_SIZE]
        return None

    def _fired_today(self, user: str, now: int) -> int:
        day, count = self.triggers.get(user, (-1, 0))
        return count if day == now // DAY_MS else 0

    def _schedule_cancel(self, user: str, at: int | None, now: int) -> dict[str, Any]:
        traded = self.users.setdefault(user, _User(volume_usd=self.default_volume)).volume_usd
        if (at is not None or self.gate_clear) and traded < self.volume_threshold:
            return _err(
                "Cannot set scheduled cancel time until enough volume traded. "
                f"Required: ${_usd_text(self.volume_threshold)}. Traded: ${_usd_text(traded)}."
            )
        if at is None:
            self.schedules.pop(user, None)
            return {"status": "ok", "response": {"type": "default"}}
        if at < now + MIN_LEAD_MS:
            return _err(TOO_EARLY)
        if self.cap_behaviour == "refuse" and self._fired_today(user, now) >= self.daily_trigger_cap:
            return _err(TOO_MANY_TRIGGERS)
        self.schedules[user] = at
        return {"status": "ok", "response": {"type": "default"}}

    def _cancel(self, user: str, cancels: list[dict[str, int]]) -> dict[str, Any]:
        statuses: list[Any] = []
        for item in cancels:
            oid = item["o"]
            order = self.orders.get(oid)
            if oid in self.cancel_errors:
                statuses.append({"error": self.cancel_errors[oid]})
            elif order is not None and order.user == user and order.asset == item["a"]:
                del self.orders[oid]
                statuses.append("success")
            else:
                statuses.append({"error": NO_SUCH_ORDER})
        return {"status": "ok", "response": {"type": "cancel", "data": {"statuses": statuses}}}

    def _order(self, user: str, orders: list[dict[str, Any]]) -> dict[str, Any]:
        statuses: list[Any] = []
        for wire in orders:
            asset = wire["a"]
            if asset not in self._markets:
                statuses.append({"error": f"Invalid asset {asset}."})  # UNVERIFIED wording
                continue
            try:
                px, sz = Decimal(wire["p"]), Decimal(wire["s"])
            except InvalidOperation:
                statuses.append({"error": f"Order has invalid price. asset={asset}"})
                continue
            if px <= 0:
                statuses.append({"error": f"Order has invalid price. asset={asset}"})
            elif sz <= 0:
                statuses.append({"error": f"Order has zero size. asset={asset}"})
            elif wire["t"].get("limit", {}).get("tif") == "Ioc":  # no book to match against here
                statuses.append(
                    {"error": f"Order could not immediately match against any resting orders. asset={asset}"}
                )
            else:
                oid = self._rest(user, asset, wire["b"], wire["p"], wire["s"], cloid=wire.get("c"))
                resting: dict[str, Any] = {"oid": oid}
                if wire.get("c") is not None:
                    resting["cloid"] = wire["c"]
                statuses.append({"resting": resting})
        return {"status": "ok", "response": {"type": "order", "data": {"statuses": statuses}}}

    def _rest(self, user: str, asset: int, is_buy: bool, px: str, sz: str, *, cloid: str | None) -> int:
        dex, coin = self._markets[asset]
        self._next_oid += 1
        order = RestingOrder(self._next_oid, user, asset, dex, coin, is_buy, px, sz, self.now_ms(), cloid)
        self.orders[order.oid] = order
        return order.oid


def _err(message: str) -> dict[str, Any]:
    return {"status": "err", "response": message}


def _action_of(path: str, body: bytes) -> dict[str, Any] | None:
    """The action of an /exchange body (None: another path, or no JSON)."""
    if path != "/exchange":
        return None
    try:
        action: dict[str, Any] = json.loads(body).get("action", {})
    except ValueError:
        return None
    return action


def _from_config(args: argparse.Namespace) -> HyperliquidSim:
    """Config: {"network": "mainnet", "cap_behaviour": "refuse", "accounts": [{"address": "0x..",
    "agents": ["0x.."], "vaults": ["0x.."], "volume_usd": 2000000}]}."""
    config: dict[str, Any] = {}
    if args.config:
        with open(args.config, encoding="utf-8") as fh:
            config = json.load(fh)
    sim = HyperliquidSim(
        network=config.get("network", "mainnet"), cap_behaviour=config.get("cap_behaviour", "refuse")
    )
    for account in config.get("accounts", []):
        sim.add_user(account["address"], volume_usd=account.get("volume_usd"))
        for agent in account.get("agents", []):
            sim.approve_agent(account["address"], agent)
        for vault in account.get("vaults", []):
            sim.add_vault(vault, account["address"])
    return sim


SIMULATOR = HyperliquidSim


if __name__ == "__main__":
    run_standalone(_from_config)
