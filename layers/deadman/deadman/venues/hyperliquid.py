"""Hyperliquid: `scheduleCancel` (an absolute-time dead man's switch) and cancel-all by listing.

Why this file is long: one venue's whole contract - the agent wallet, expiring actions, the daily
trigger budget, the sweep by listing, every error it answers with - is checked against the venue's
SDK as one unit (its signing, which has vectors of its own, is in hyperliquid_signing.py).

Wire facts are in docs/venues.md (Hyperliquid). What this module decides:

* The fleet signs with its OWN approved API wallet (agent), never the trader's: nonces are tracked
  per signer, so a shared agent would race the trader's nonces (docs/venues.md). The agent key is
  the only secret; the master address (or the vault / subaccount) is whose orders are protected.
* Every action carries `expiresAfter`: the client's patience (connect + read timeouts) from the
  moment it is signed, after the nonce draw, and no later than the end of the fence the caller sent
  it under (`send_by_ms` + the transit a kill or a disarm outwaits). Taken before the nonce draw, a
  slow draw plus ordinary transit would make an extension arrive expired. Once this client has
  stopped waiting for an answer it reports the outcome as unknown and the policy moves on (a later
  tick may disarm, sweep, or extend to a different deadline). Without an expiry, a request stuck
  in a queue could land after that and undo the newer decision: re-arm a timer the operator just
  disarmed, or cancel orders of a trader that came back. With it, the
  venue refuses such a straggler ("expired", mapped to TransientError code "expired"). The cost:
  our clock must be within that patience of the venue's, which NTP-synced hosts are by orders of
  magnitude.
* Disarm omits `time` (never null: a null is different msgpack bytes, so a different signature).
* There is no cancel-all action: sweep lists open orders per perp dex (spot orders come with dex
  "") and cancels them in one batched, signed `cancel`. The venue answers `status: ok` even when
  single cancels fail, so each status is read.

The signing library (libsecp256k1 through coincurve) loads only when this client first signs
(see `hyperliquid_signing`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from deadman.core.clock import Clock
from deadman.core.errors import CredentialsError
from deadman.core.policy import TRANSIT_MS
from deadman.core.secret import Secret
from deadman.core.venue import (
    Capabilities,
    ClockSource,
    DoctorPlan,
    ExtendResult,
    KeyCheck,
    NonceSource,
    OpenOrder,
    OrderFailure,
    Remark,
    SweepResult,
    TimerKind,
    VenueDriver,
    VenueSpec,
)
from deadman.venues import hyperliquid_signing as signing
from deadman.venues import urls
from deadman.venues.adapter import Driver
from deadman.venues.client import ClientBase
from deadman.venues.errors import (
    AuthError,
    NonceError,
    RateLimitError,
    RejectedError,
    TransientError,
    VenueError,
    VolumeGateError,
)
from deadman.venues.http import DEFAULT_TIMEOUT, HttpResponse, Session, raise_for_generic_status

VENUE = "hyperliquid"

CAPABILITIES = Capabilities(
    venue=VENUE,
    timer_kind=TimerKind.ABSOLUTE_MS,
    can_disarm=True,
    min_lead_ms=5_000,  # "The time must be at least 5 seconds after the current time."
    max_timeout_ms=None,
    fixed_timeout_ms=None,
    daily_trigger_budget=10,  # "The max number of triggers per day is 10 ... reset at 00:00 UTC."
    sweep_lists_first=True,  # no cancel-all action: open orders are listed, then cancelled
    native_may_be_refused=True,  # scheduleCancel needs $1M traded (the volume gate)
)

BASE_URLS: dict[str, str] = {
    "mainnet": "https://api.hyperliquid.xyz",
    "testnet": "https://api.hyperliquid-testnet.xyz",
}

# Asset ids (hyperliquid-docs "asset-ids"): perps index in meta.universe; spot 10000 + spot index;
# builder-deployed perp dex k (position in the perpDexs list, 0 being the first dex):
# 100000 + k * 10000 + index.
SPOT_ASSET_OFFSET = 10_000
BUILDER_DEX_OFFSET = 100_000
BUILDER_DEX_STRIDE = 10_000

_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")
_KEY_RE = re.compile(r"0x[0-9a-fA-F]{64}")
_DEX_RE = re.compile(r"[A-Za-z0-9_-]{0,32}")
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_ACCOUNT_FIELDS = frozenset(
    {"account_id", "address", "agent_private_key", "vault_address", "network", "base_url", "dexes", "kill"}
)
_JSON_HEADERS = {"Content-Type": "application/json"}


# -- account ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    """One Hyperliquid account as the venue secret describes it (one entry of `accounts`)."""

    account_id: str
    address: str  # the master account whose orders (or whose vault's orders) are protected
    agent_private_key: Secret  # an API wallet approved by `address`, used by the fleet alone
    vault_address: str | None = None  # subaccount or vault: orders listed for it, actions signed for it
    network: str = "mainnet"  # picks the signing source ("a" / "b") and the default base URL
    base_url: str | None = None
    dexes: tuple[str, ...] = ("",)
    kill_agent_private_key: Secret | None = None

    @property
    def is_mainnet(self) -> bool:
        return self.network == "mainnet"

    @property
    def url(self) -> str:
        return self.base_url or BASE_URLS[self.network]

    @property
    def orders_user(self) -> str:
        """The address whose open orders the switch protects."""
        return self.vault_address or self.address

    @property
    def has_kill_key(self) -> bool:
        return self.kill_agent_private_key is not None

    def for_kill(self) -> Account:
        if self.kill_agent_private_key is None:
            return self
        return replace(self, agent_private_key=self.kill_agent_private_key, kill_agent_private_key=None)

    def for_retiring(self) -> None:
        return None  # an agent is not heartbeated: a rotation needs nothing kept alive

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, secret_name: str, sandbox: bool = False) -> Account:
        def bad(field: str, problem: str) -> CredentialsError:
            return CredentialsError(secret_name, field, problem)

        if not isinstance(data, Mapping):
            raise bad("accounts[]", "must be an object")
        unknown = sorted(str(k) for k in data if k not in _ACCOUNT_FIELDS)
        if unknown:
            # A misspelt optional field (say "vault_adress") would otherwise silently protect the
            # wrong book.
            raise bad(unknown[0], "is not a known field")

        account_id = data.get("account_id")
        if not isinstance(account_id, str) or not account_id.strip():
            raise bad("account_id", "must be a non-empty string")
        address = _address(data.get("address"), "address", bad, required=True)
        assert address is not None
        agent_key = _private_key(data.get("agent_private_key"), "agent_private_key", bad)
        vault = _address(data.get("vault_address"), "vault_address", bad, required=False)

        network = data.get("network", "mainnet")
        if network not in BASE_URLS:
            raise bad("network", f"must be one of {', '.join(sorted(BASE_URLS))}")
        base_url = None  # else the network's own URL: mainnet signatures are lost on testnet
        if data.get("base_url") is not None:
            base_url = urls.base_url(
                data, [BASE_URLS[network]], f"Hyperliquid {network}", sandbox, secret_name
            )
        dexes_raw = data.get("dexes", [""])
        if (
            not isinstance(dexes_raw, list)
            or not dexes_raw
            or not all(isinstance(d, str) and _DEX_RE.fullmatch(d) for d in dexes_raw)
            or len(set(dexes_raw)) != len(dexes_raw)
        ):
            raise bad("dexes", 'must be a non-empty list of distinct perp dex names ("" is the first dex)')

        kill_key = None
        kill = data.get("kill")
        if kill is not None:
            if not isinstance(kill, Mapping) or set(kill) != {"agent_private_key"}:
                raise bad("kill", "must be an object with exactly agent_private_key")
            kill_key = _private_key(kill.get("agent_private_key"), "kill.agent_private_key", bad)

        return cls(
            account_id=account_id,
            address=address,
            agent_private_key=agent_key,
            vault_address=vault,
            network=network,
            base_url=base_url,
            dexes=tuple(dexes_raw),
            kill_agent_private_key=kill_key,
        )


def _address(value: Any, field: str, bad: Any, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not _ADDRESS_RE.fullmatch(value):
        raise bad(field, "must be 0x followed by 40 hex digits")
    return value.lower()  # the venue's signing docs: lowercase addresses


def _private_key(value: Any, field: str, bad: Any) -> Secret:
    if not isinstance(value, str) or not _KEY_RE.fullmatch(value):
        raise bad(field, "must be 0x followed by 64 hex digits")
    if not 0 < int(value, 16) < _SECP256K1_N:
        raise bad(field, "is not a valid secp256k1 private key")
    return Secret(value.lower())


# -- venue answers ------------------------------------------------------------------------------------

_AMOUNT = r"\$?\s*([0-9][0-9,]*(?:\.[0-9]+)?)"
_REQUIRED_RE = re.compile(r"Required:\s*" + _AMOUNT)
_TRADED_RE = re.compile(r"Traded:\s*" + _AMOUNT)


def _usd(pattern: re.Pattern[str], text: str) -> float | None:
    found = pattern.search(text)
    return float(found.group(1).replace(",", "")) if found else None


def classify_error(message: str, *, http_status: int | None = None) -> VenueError:
    """Map a Hyperliquid error string (`{"status":"err","response": <this>}`) into the taxonomy."""
    low = message.lower()
    if "cannot set scheduled cancel time until enough volume traded" in low:
        return VolumeGateError(
            VENUE,
            message,
            required_usd=_usd(_REQUIRED_RE, message),
            traded_usd=_usd(_TRADED_RE, message),
        )
    # A wrong signature recovers a stranger's address, so these also mean "bad signature".
    if ("user or api wallet" in low and "does not exist" in low) or "unable to recover signer" in low:
        return AuthError(VENUE, message, code="unknown_signer", http_status=http_status)
    if "must deposit before performing actions" in low:
        return AuthError(VENUE, message, code="not_deposited", http_status=http_status)
    # "Invalid nonce: duplicate nonce N", "... nonce too low N < M", "... nonce too high N > M"
    if "invalid nonce" in low or "duplicate nonce" in low or "nonce too" in low:
        return NonceError(VENUE, message, code="nonce", http_status=http_status)
    if "expired" in low:  # "Action already expired": expiresAfter passed before the venue saw it
        return TransientError(VENUE, message, code="expired", http_status=http_status)
    if "too many cumulative requests" in low:  # the address-based budget, answered as status err
        return RateLimitError(VENUE, message, code="address_budget", http_status=http_status)
    return RejectedError(VENUE, message, http_status=http_status)


def _decode(resp: HttpResponse, path: str) -> Any:
    raise_for_generic_status(VENUE, resp, path)  # 429, 503, other 5xx
    if resp.status != 200:
        # 4xx other than 429: the venue could not read the request (422 "Failed to deserialize...").
        raise RejectedError(
            VENUE, f"HTTP {resp.status} on {path}: {resp.text[:200]}", http_status=resp.status
        )
    data = resp.json()
    if data is None:
        raise TransientError(VENUE, f"unreadable answer on {path}: {resp.text[:200]}", http_status=200)
    # An action's "ok" always names its type ("default", "cancel"): without one, no proof of effect.
    if path == "/exchange" and isinstance(data, Mapping) and data.get("status") == "ok":
        response = data.get("response")
        if not isinstance(response, Mapping) or not isinstance(response.get("type"), str):
            raise _shape_error("/exchange answer", data)
    return data


def _universe(answer: Any, what: str) -> list[Any]:
    # Never empty where orders rest: an empty one read as the markets would leave them standing.
    universe = answer.get("universe") if isinstance(answer, Mapping) else None
    if not isinstance(universe, list) or not universe:
        raise _shape_error(what, answer)
    return universe


def _shape_error(what: str, value: Any) -> TransientError:
    return TransientError(VENUE, f"unexpected {what}: {str(value)[:200]}", code="shape")


# -- client -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Listed:
    dex: str
    oid: int
    coin: str
    side: str
    price: str
    size: str


class Client(ClientBase[Account]):
    caps = CAPABILITIES

    def __init__(
        self,
        account: Account,
        *,
        nonces: NonceSource,
        clock: Clock,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        session: Session | None = None,
    ) -> None:
        super().__init__(account, nonces=nonces, clock=clock, timeout=timeout, session=session)
        # Refused by the venue once the client would have stopped waiting (connect + read).
        self._expiry_ms = round((timeout[0] + timeout[1]) * 1000)
        self._agent_address: str | None = None
        self._assets: dict[str, dict[str, int]] | None = None  # dex -> coin -> asset id

    def _base_url(self, account: Account) -> str:
        return account.url

    @property
    def agent_address(self) -> str:
        """The signer's address (derived on first use: it loads the signing library)."""
        if self._agent_address is None:
            try:
                self._agent_address = signing.address_of(self._account.agent_private_key.reveal())
            except Exception as exc:  # never let a library message near the key reach a log
                raise AuthError(VENUE, f"agent key unusable: {type(exc).__name__}") from None
        return self._agent_address

    # -- the switch ----------------------------------------------------------------------------------

    def extend(self, deadline_ms: int, *, send_by_ms: int | None = None) -> ExtendResult:
        if isinstance(deadline_ms, bool) or not isinstance(deadline_ms, int) or deadline_ms <= 0:
            raise ValueError("deadline_ms must be a positive int (epoch ms)")
        self._exchange({"type": "scheduleCancel", "time": deadline_ms}, send_by_ms=send_by_ms)
        # The venue does not echo the time; it either took ours or said why not.
        return ExtendResult(
            requested_deadline_ms=deadline_ms, venue_deadline_ms=None, detail="scheduleCancel set"
        )

    def disarm(self, *, send_by_ms: int | None = None) -> None:
        # No "time" key at all: clears the schedule.
        self._exchange({"type": "scheduleCancel"}, send_by_ms=send_by_ms)

    # -- orders --------------------------------------------------------------------------------------

    def open_orders(self) -> list[OpenOrder]:
        listed: list[_Listed] = []
        for dex in self._account.dexes:
            listed.extend(self._list(dex))
        return [
            OpenOrder(order_id=str(o.oid), symbol=o.coin, side=o.side, price=o.price, size=o.size)
            for o in _dedupe(listed)
        ]

    def sweep(self, *, send_by_ms: int | None = None) -> SweepResult:
        listed: list[_Listed] = []
        failed: list[OrderFailure] = []
        errors: list[VenueError] = []
        for dex in self._account.dexes:
            try:
                listed.extend(self._list(dex))
            except VenueError as exc:
                errors.append(exc)
                failed.append(OrderFailure(order_id="", reason=f"dex {dex!r}: open orders not listed: {exc}"))
        if len(errors) == len(self._account.dexes):
            raise errors[0]  # nothing listed at all: the caller sees the venue's own error class

        orders = _dedupe(listed)
        if any(self._asset_id(o) is None for o in orders):
            # First sweep with orders, or a market listed since the last load.
            self._assets = {**(self._assets or {}), **self._load_assets(sorted({o.dex for o in orders}))}
        cancels: list[dict[str, int]] = []
        oids: list[int] = []
        for order in orders:
            asset = self._asset_id(order)
            if asset is None:
                failed.append(OrderFailure(str(order.oid), f"no asset id for coin {order.coin!r}"))
                continue
            cancels.append({"a": asset, "o": order.oid})
            oids.append(order.oid)

        cancelled: list[str] = []
        if cancels:
            response = self._exchange({"type": "cancel", "cancels": cancels}, send_by_ms=send_by_ms)
            statuses = _statuses(response)
            for i, oid in enumerate(oids):
                status = statuses[i] if i < len(statuses) else None
                if status == "success":
                    cancelled.append(str(oid))
                elif isinstance(status, Mapping) and "error" in status:
                    failed.append(OrderFailure(str(oid), str(status["error"])))
                else:
                    failed.append(OrderFailure(str(oid), f"no cancel status from the venue: {status!r}"))
        return SweepResult(
            cancelled_count=len(cancelled),
            cancelled_ids=tuple(cancelled),
            failed=tuple(failed),
            detail=f"{len(listed)} open on dexes {list(self._account.dexes)}; {len(cancelled)} cancelled",
            extra={"listed": len(listed)},
        )

    # -- wire ----------------------------------------------------------------------------------------

    def _info(self, request: dict[str, Any]) -> Any:
        body = json.dumps(request, separators=(",", ":")).encode()
        return _decode(self._http.post("/info", body=body, headers=_JSON_HEADERS), "/info")

    @property
    def _key_id(self) -> str:
        return f"{VENUE}:{self.agent_address}"

    def _exchange(self, action: dict[str, Any], *, send_by_ms: int | None = None) -> Any:
        account = self._account
        nonce = self._nonces.next(self._key_id, self._clock())
        # After the draw (a DynamoDB call): the venue refuses the action once this client has given
        # up on it, or once the fence it was sent under has ended, whichever comes first.
        expires_after = self._clock() + self._expiry_ms
        if send_by_ms is not None:
            expires_after = min(expires_after, send_by_ms + TRANSIT_MS)
        try:
            signature = signing.sign_l1_action(
                account.agent_private_key.reveal(),
                action,
                account.vault_address,
                nonce,
                expires_after,
                account.is_mainnet,
            )
        except Exception as exc:
            raise AuthError(VENUE, f"could not sign {action['type']}: {type(exc).__name__}") from None
        payload = {
            "action": action,
            "nonce": nonce,
            "signature": signature,
            "vaultAddress": account.vault_address,
            "expiresAfter": expires_after,
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        self._check_send_by(send_by_ms)
        answer = _decode(self._http.post("/exchange", body=body, headers=_JSON_HEADERS), "/exchange")
        if not isinstance(answer, Mapping):
            raise _shape_error("/exchange answer", answer)
        if answer.get("status") == "err":
            raise classify_error(str(answer.get("response")))
        if answer.get("status") != "ok":
            raise _shape_error("/exchange answer", answer)
        response = answer.get("response")
        # Single-status form: {"response": {"data": {"status": {"error": ...}}}}
        data = response.get("data") if isinstance(response, Mapping) else None
        single = data.get("status") if isinstance(data, Mapping) else None
        if isinstance(single, Mapping) and "error" in single:
            raise classify_error(str(single["error"]))
        return response

    def _list(self, dex: str) -> list[_Listed]:
        rows = self._info({"type": "openOrders", "user": self._account.orders_user, "dex": dex})
        if not isinstance(rows, list):
            raise _shape_error("openOrders answer", rows)
        listed = []
        for row in rows:
            if not (
                isinstance(row, Mapping)
                and isinstance(row.get("coin"), str)
                and isinstance(row.get("oid"), int)
                and not isinstance(row.get("oid"), bool)
            ):
                raise _shape_error("openOrders entry", row)
            side = {"B": "buy", "A": "sell"}.get(str(row.get("side")), str(row.get("side")))
            listed.append(
                _Listed(dex, row["oid"], row["coin"], side, str(row.get("limitPx")), str(row.get("sz")))
            )
        return listed

    def _asset_id(self, order: _Listed) -> int | None:
        return None if self._assets is None else self._assets.get(order.dex, {}).get(order.coin)

    def _load_assets(self, dexes: list[str]) -> dict[str, dict[str, int]]:
        """coin -> asset id tables for `dexes`. A dex missing from perpDexs gets no table: its
        orders are reported as failures rather than cancelled under a guessed id."""
        offsets: dict[str, int] = {"": 0}
        builder = [d for d in dexes if d]
        if builder:
            listing = self._info({"type": "perpDexs"})
            if not isinstance(listing, list):
                raise _shape_error("perpDexs answer", listing)
            # Entry 0 is null (the first perp dex); a builder dex's k is its position in this list.
            names = [entry.get("name") if isinstance(entry, Mapping) else None for entry in listing]
            for dex in builder:
                if dex in names:
                    offsets[dex] = BUILDER_DEX_OFFSET + names.index(dex) * BUILDER_DEX_STRIDE
        tables: dict[str, dict[str, int]] = {}
        for dex in dexes:
            if dex not in offsets:
                continue
            universe = _universe(self._info({"type": "meta", "dex": dex}), "meta answer")
            table = {
                str(coin.get("name")): offsets[dex] + i
                for i, coin in enumerate(universe)
                if isinstance(coin, Mapping)
            }
            if dex == "":  # spot orders are listed with the first perp dex
                table.update(self._spot_assets())
            tables[dex] = table
        return tables

    def _spot_assets(self) -> dict[str, int]:
        table: dict[str, int] = {}
        for pair in _universe(self._info({"type": "spotMeta"}), "spotMeta answer"):
            if not (isinstance(pair, Mapping) and isinstance(pair.get("index"), int)):
                raise _shape_error("spotMeta pair", pair)
            # openOrders names a spot market by its universe name: "PURR/USDC" or "@<index>".
            table[str(pair.get("name"))] = SPOT_ASSET_OFFSET + pair["index"]
        return table


def _dedupe(listed: list[_Listed]) -> list[_Listed]:
    seen: set[int] = set()
    out = []
    for order in listed:
        if order.oid not in seen:
            seen.add(order.oid)
            out.append(order)
    return out


def _statuses(response: Any) -> list[Any]:
    data = response.get("data") if isinstance(response, Mapping) else None
    statuses = data.get("statuses") if isinstance(data, Mapping) else None
    if not isinstance(statuses, list):
        # The cancel may or may not have happened: unknown outcome, the next sweep lists again.
        raise _shape_error("cancel answer", response)
    return statuses


# -- the venue, for the registry ----------------------------------------------------------------------

SPEC = VenueSpec(
    name=VENUE,
    title="Hyperliquid",
    timer="scheduleCancel",
    capabilities=CAPABILITIES,
    clock_window_ms=4_000,  # an action whose expiresAfter (now + the 5 s read timeout) passed is refused
    caveat=(
        "Hyperliquid allows scheduleCancel only to accounts past $1M traded, and fires it at most 10 "
        "times a day: below the gate, or past the budget, the account rests on the watchdog alone."
    ),
    doctor=(
        "open orders readable (/info: no signature needed); the agent key derives an address; clock "
        "skew from the HTTP Date header (1 s resolution); the volume gate as the refresher last saw it "
        "(the switch's native_available/native_reason: doctor never arms anything)"
    ),
)


def _doctor_plan(account: Account) -> DoctorPlan:
    try:
        agent = signing.address_of(account.agent_private_key.reveal())
    except Exception as exc:  # never let a library message near the key reach a log
        agent = f"unusable ({type(exc).__name__})"
    remarks = [
        Remark("INFO", f"fleet agent {agent} (approval is proven by the refresher's first signed action)")
    ]
    if account.kill_agent_private_key is None:
        remarks.append(Remark("INFO", "no kill agent: kill signs with the refresher's agent"))
    clock = ClockSource("POST", account.url.rstrip("/") + "/info", body={"type": "meta"})
    # Listing open orders is unsigned (/info): it proves the address, not the agent.
    keys = (KeyCheck("open orders", account, signed=False),)
    return DoctorPlan(clock=clock, keys=keys, remarks=tuple(remarks))


DRIVER: VenueDriver = Driver[Account](SPEC, Account, Client, _doctor_plan)
