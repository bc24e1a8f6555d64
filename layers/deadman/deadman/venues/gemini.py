"""Gemini REST v1: the key's "Require Heartbeat" flag as the venue timer, cancel/session (or
cancel/all) as the sweep.

Why this file is long: one venue's whole contract - key types and their nonces, signing, the
heartbeat, the sweep, every error it answers with - is checked against the venue's documents as one
unit; split, its rules would be read apart from the calls they govern.

Wire facts are in docs/venues.md (Gemini). Gemini cancels every order a session (= API key) placed when
that key has sent no authenticated request for 30 s. The flag is set when the key is provisioned and
no API call clears it, so the timer is fixed, cannot be disarmed, and protects only the orders of
the key that sends the heartbeats: the fleet has to heartbeat with the trading key itself, and the
trading system and the fleet then share that key's nonce stream.

Which key type to provision
---------------------------
* Time-based nonce ("Uses a time based nonce", `nonce_mode: "time"`), recommended: the nonce is
  epoch seconds and must be within +/-30 s of Gemini's clock. The trading system and the fleet can
  share the key without coordinating a counter, at the cost of at most one request per second per
  key across both: Gemini's InvalidNonce text also covers "not greater than the previously used
  nonce", and whether time-based keys enforce that is unverified (docs/venues.md), so two requests in
  the same second (one from each) may see one of them refused. A refused fleet heartbeat is harmless
  when the trader's own request landed, since any authenticated request resets the 30 s clock.
* Increasing nonce (`nonce_mode: "increasing"`): the nonce is epoch milliseconds and must increase
  on every request of the key. The trading system and the fleet must then both draw from the shared
  DynamoDB nonce source (key id `gemini:<api key>`); a trader with a counter of its own will make
  one side or the other fail with InvalidNonce.

Master keys (`master-...`) act on an account named in the payload (`account`). Gemini's order page
says "Master API keys do not support cancelation on disconnect via heartbeat", so on a master key
the fleet still sends heartbeats but claims no venue deadline: the watchdog sweep is the only guard.

Beware: every authenticated request on the trading key resets the 30 s clock, including the fleet's
own calls that fail after authentication (a sweep refused with MissingRole, an `open_orders` call).
After the trader dies, nothing but cancels should be sent with that key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, cast

from deadman.core.errors import CredentialsError
from deadman.core.secret import Secret
from deadman.core.venue import (
    Capabilities,
    ClockSource,
    DoctorPlan,
    ExtendResult,
    KeyCheck,
    OpenOrder,
    OrderFailure,
    Remark,
    SweepResult,
    TimerKind,
    VenueDriver,
    VenueSpec,
)
from deadman.venues import urls
from deadman.venues.adapter import Driver
from deadman.venues.client import ClientBase
from deadman.venues.errors import (
    AuthError,
    NonceError,
    NotSupportedError,
    RateLimitError,
    RejectedError,
    TransientError,
    UnavailableError,
    VenueError,
)
from deadman.venues.http import HttpResponse, raise_for_generic_status

VENUE = "gemini"
HEARTBEAT_TIMEOUT_MS = 30_000

CAPABILITIES = Capabilities(
    venue=VENUE,
    timer_kind=TimerKind.HEARTBEAT,
    can_disarm=False,
    min_lead_ms=0,
    max_timeout_ms=None,
    fixed_timeout_ms=HEARTBEAT_TIMEOUT_MS,
    daily_trigger_budget=None,
    sweeps_on_kill_key=True,
)

BASE_URLS: dict[str, str] = {
    "production": "https://api.gemini.com",
    "sandbox": "https://api.sandbox.gemini.com",
}

PATH_HEARTBEAT = "/v1/heartbeat"
PATH_CANCEL_SESSION = "/v1/order/cancel/session"
PATH_CANCEL_ALL = "/v1/order/cancel/all"
PATH_ORDERS = "/v1/orders"

# Gemini accepts time-based nonces within +/-30 s of its clock. A nonce source that has run more than
# 25 s ahead (sustained bursts above one request per second, or a counter shared with a key that used
# milliseconds) would be refused, or, if still inside the window, would push the key's "last nonce"
# so far ahead that the trader's own requests are refused until the clock catches up. The 5 s margin
# leaves room for clock skew and transit.
MAX_TIME_NONCE_LEAD_S = 25

NonceMode = Literal["time", "increasing"]
SweepScope = Literal["session", "all"]
_NONCE_MODES: tuple[str, ...] = ("time", "increasing")
_SWEEP_SCOPES: tuple[str, ...] = ("session", "all")


# -- signing ----------------------------------------------------------------------------------------


def encode_payload(payload: dict[str, Any]) -> str:
    """X-GEMINI-PAYLOAD: base64 of the compact JSON payload (key order as given)."""
    text = json.dumps(payload, separators=(",", ":"))
    return base64.b64encode(text.encode()).decode("ascii")


def sign(b64_payload: str, secret: str) -> str:
    """X-GEMINI-SIGNATURE: hex HMAC-SHA384 of the base64 text, keyed with the raw secret's UTF-8."""
    return hmac.new(secret.encode(), b64_payload.encode(), hashlib.sha384).hexdigest()


def auth_headers(api_key: str, b64_payload: str, signature: str) -> dict[str, str]:
    return {
        "Content-Length": "0",
        "Content-Type": "text/plain",
        "X-GEMINI-APIKEY": api_key,
        "X-GEMINI-PAYLOAD": b64_payload,
        "X-GEMINI-SIGNATURE": signature,
        "Cache-Control": "no-cache",
    }


# -- account configuration --------------------------------------------------------------------------

_ACCOUNT_FIELDS = frozenset(
    {
        "account_id",
        "api_key",
        "api_secret",
        "nonce_mode",
        "account",
        "sweep_scope",
        "environment",
        "base_url",
        "kill",
        "retiring",
    }
)
_KILL_FIELDS = frozenset({"api_key", "api_secret", "nonce_mode", "account"})


@dataclass(frozen=True)
class KillCredentials:
    api_key: str
    api_secret: Secret
    nonce_mode: NonceMode
    account: str | None = None


@dataclass(frozen=True)
class Account:
    account_id: str
    api_key: str
    api_secret: Secret
    nonce_mode: NonceMode
    account: str | None = None  # master keys only: the account (nickname) to act on
    sweep_scope: SweepScope = "session"
    base_url: str = BASE_URLS["production"]
    kill: KillCredentials | None = None
    # The trading key being rotated out: the trader's orders may rest on its session until it moves
    # to the new key, so it is heartbeated alongside until Gemini refuses it (the key was deleted).
    retiring: KillCredentials | None = None

    @property
    def is_master(self) -> bool:
        return self.api_key.startswith("master-")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, secret_name: str, sandbox: bool = False) -> Account:
        """One entry of the Gemini secret's `accounts` list (README, Configure venues). `base_url`
        may name one of Gemini's own URLs, or any other only with sandbox=True (deadman.venues.urls)."""
        if not isinstance(data, Mapping):
            raise CredentialsError(secret_name, "accounts[]", "must be an object")
        # Unknown fields are refused: a misspelt "sweep_scope" or "kill" must not be dropped silently.
        for name in data:
            if name not in _ACCOUNT_FIELDS:
                raise CredentialsError(secret_name, str(name), "is not a known field")
        account_id = _text(data, "account_id", secret_name, "account_id")
        api_key = _api_key(data, secret_name, "api_key")
        api_secret = _secret(data, secret_name, "api_secret")
        nonce_mode = cast(NonceMode, _choice(data, "nonce_mode", _NONCE_MODES, secret_name, "nonce_mode"))
        account = _master_account(data, api_key, secret_name, "account")
        sweep_scope: SweepScope = "session"
        if data.get("sweep_scope") is not None:
            sweep_scope = cast(
                SweepScope, _choice(data, "sweep_scope", _SWEEP_SCOPES, secret_name, "sweep_scope")
            )
        base_url = BASE_URLS["production"]
        if data.get("environment") is not None:
            base_url = BASE_URLS[_choice(data, "environment", tuple(BASE_URLS), secret_name, "environment")]
        if data.get("base_url") is not None:  # explicit override wins over environment
            official = tuple(BASE_URLS.values())
            base_url = urls.base_url(data, official, "Gemini", sandbox, secret_name)
        kill = None
        raw_kill = data.get("kill")
        if raw_kill is not None:
            kill = _kill(raw_kill, secret_name)
        retiring = None
        if data.get("retiring") is not None:
            retiring = _kill(data["retiring"], secret_name, "retiring")
        return cls(
            account_id=account_id,
            api_key=api_key,
            api_secret=api_secret,
            nonce_mode=nonce_mode,
            account=account,
            sweep_scope=sweep_scope,
            base_url=base_url,
            kill=kill,
            retiring=retiring,
        )

    @property
    def has_kill_key(self) -> bool:
        return self.kill is not None

    def for_retiring(self) -> Account | None:
        """The account on the key being rotated out (heartbeats only), or None."""
        return None if self.retiring is None else self._signing_with(self.retiring)

    def for_kill(self) -> Account:
        """The account as the kill path uses it: the kill key where configured, else the trading key.

        A kill key is a session of its own, and cancel/session cancels only the orders of the session
        that sends it; swept with the kill key, it would cancel none of the trader's orders. So the
        kill key always sweeps with cancel/all (which also cancels orders placed in the web UI)."""
        if self.kill is None:
            # A kill cancels every order of the account, whatever key or session placed it (the key
            # being rotated out, the web UI): cancel/all on the trading key.
            return replace(self, sweep_scope="all", retiring=None)
        return self._signing_with(self.kill, sweep_scope="all")

    def _signing_with(self, key: KillCredentials, **also: Any) -> Account:
        """This account on another of its keys, which has no further keys of its own."""
        return replace(
            self,
            api_key=key.api_key,
            api_secret=key.api_secret,
            nonce_mode=key.nonce_mode,
            account=key.account,
            kill=None,
            retiring=None,
            **also,
        )


def _text(data: Mapping[str, Any], key: str, secret_name: str, field: str) -> str:
    value = data.get(key)
    if value is None:
        raise CredentialsError(secret_name, field, "is missing")
    if not isinstance(value, str) or not value.strip():
        raise CredentialsError(secret_name, field, "must be a non-empty string")
    return value.strip()


def _api_key(data: Mapping[str, Any], secret_name: str, field: str) -> str:
    value = _text(data, "api_key", secret_name, field)
    # It travels in a header: whitespace or control characters would break the request, not sign it.
    if not value.isascii() or not value.isprintable() or any(c.isspace() for c in value):
        raise CredentialsError(secret_name, field, "must be printable ASCII without spaces")
    return value


def _secret(data: Mapping[str, Any], secret_name: str, field: str) -> Secret:
    value = data.get("api_secret")
    if value is None:
        raise CredentialsError(secret_name, field, "is missing")
    if not isinstance(value, str) or not value:
        raise CredentialsError(secret_name, field, "must be a non-empty string")
    # The HMAC key is the raw text: a pasted trailing newline would make every signature wrong.
    if value != value.strip():
        raise CredentialsError(secret_name, field, "has leading or trailing whitespace")
    return Secret(value)


def _choice(data: Mapping[str, Any], key: str, allowed: tuple[str, ...], secret_name: str, field: str) -> str:
    value = data.get(key)
    if value is None:
        raise CredentialsError(secret_name, field, f"is missing (one of: {', '.join(allowed)})")
    if value not in allowed:
        raise CredentialsError(secret_name, field, f"must be one of: {', '.join(allowed)}")
    return cast(str, value)


def _master_account(data: Mapping[str, Any], api_key: str, secret_name: str, field: str) -> str | None:
    present = data.get("account") is not None
    if api_key.startswith("master-"):
        if not present:
            raise CredentialsError(
                secret_name, field, "is required with a master- API key (the account to act on)"
            )
        return _text(data, "account", secret_name, field)
    if present:
        raise CredentialsError(secret_name, field, "is only allowed with a master- API key")
    return None


def _kill(raw: Any, secret_name: str, name: str = "kill") -> KillCredentials:
    if not isinstance(raw, Mapping):
        raise CredentialsError(secret_name, name, "must be an object with api_key, api_secret and nonce_mode")
    for field in raw:
        if field not in _KILL_FIELDS:
            raise CredentialsError(secret_name, f"{name}.{field}", "is not a known field")
    api_key = _api_key(raw, secret_name, f"{name}.api_key")
    return KillCredentials(
        api_key=api_key,
        api_secret=_secret(raw, secret_name, f"{name}.api_secret"),
        nonce_mode=cast(
            NonceMode, _choice(raw, "nonce_mode", _NONCE_MODES, secret_name, f"{name}.nonce_mode")
        ),
        account=_master_account(raw, api_key, secret_name, f"{name}.account"),
    )


# -- error mapping ----------------------------------------------------------------------------------

_AUTH = frozenset(
    {
        "InvalidSignature",
        "MissingApikeyHeader",
        "MissingPayloadHeader",
        "MissingSignatureHeader",
        "InvalidApiKey",
        "MissingRole",
        "RemoteAddressForbidden",
        "AccountsOnGroupOnlyApi",
        "NotGroupApiCompatible",
        "MissingAccountName",
        "InvalidAccountName",
        "NoSSL",
    }
)
_NONCE = frozenset({"InvalidNonce", "MissingNonce"})


def error_for(reason: str, message: str, *, status: int, path: str) -> VenueError:
    """The taxonomy error for one Gemini error body. The reason wins over the HTTP status."""
    text = f"{message[:300]} (HTTP {status} on {path})"
    kw: dict[str, Any] = {"code": reason or None, "http_status": status}
    if reason in _AUTH:
        return AuthError(VENUE, text, **kw)
    if reason in _NONCE:
        return NonceError(VENUE, text, **kw)
    if reason == "RateLimit" or status == 429:
        return RateLimitError(VENUE, text, **kw)
    if reason == "Maintenance" or status == 503:
        return UnavailableError(VENUE, text, **kw)
    if reason == "System" or status >= 500:
        return TransientError(VENUE, text, **kw)
    if status in (401, 403):
        return AuthError(VENUE, text, **kw)
    return RejectedError(VENUE, text, **kw)


def parse_response(resp: HttpResponse, path: str) -> Any:
    """The decoded answer, or the taxonomy error for it."""
    data = resp.json()
    if isinstance(data, dict) and data.get("result") == "error":
        reason = data.get("reason")
        message = data.get("message")
        reason_text = reason if isinstance(reason, str) else ""
        message_text = message if isinstance(message, str) and message else reason_text or "error"
        raise error_for(reason_text, message_text, status=resp.status, path=path)
    raise_for_generic_status(VENUE, resp, path)
    if resp.status != 200:
        raise RejectedError(
            VENUE, f"HTTP {resp.status} on {path}: {resp.text[:200]}", http_status=resp.status
        )
    if data is None:
        # A 200 we cannot read: we do not know whether the call took effect.
        raise TransientError(
            VENUE, f"unreadable answer on {path}: {resp.text[:200]}", http_status=resp.status
        )
    return data


def _order_id(value: Any) -> str | None:
    """Gemini writes order ids as integers (cancel details) or digit strings (order objects)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.isdigit():
        return value
    return None


def parse_cancel(result: Any, path: str) -> SweepResult:
    details = result.get("details") if isinstance(result, dict) else None
    if not isinstance(result, dict) or result.get("result") != "ok" or not isinstance(details, dict):
        raise TransientError(VENUE, f"unreadable answer on {path}: {json.dumps(result)[:200]}")
    # Both lists, always (docs/venues.md): a `details` without them is no proof of "cancelled 0".
    cancelled_raw = details.get("cancelledOrders")
    rejected_raw = details.get("cancelRejects")
    if not isinstance(cancelled_raw, list) or not isinstance(rejected_raw, list):
        raise TransientError(VENUE, f"unreadable details on {path}: {json.dumps(details)[:200]}")
    cancelled = [_order_id(v) for v in cancelled_raw]
    rejected = [_order_id(v) for v in rejected_raw]
    if any(v is None for v in cancelled) or any(v is None for v in rejected):
        raise TransientError(VENUE, f"unreadable order ids on {path}: {json.dumps(details)[:200]}")
    ids = tuple(cast(list[str], cancelled))
    failed = tuple(OrderFailure(order_id=cast(str, v), reason="rejected by venue") for v in rejected)
    scope = "all" if path == PATH_CANCEL_ALL else "session"
    return SweepResult(
        cancelled_count=len(ids),
        cancelled_ids=ids,
        failed=failed,
        detail=f"cancel/{scope} cancelled={len(ids)} rejected={len(failed)}",
        extra={"scope": scope},
    )


def parse_orders(result: Any, path: str = PATH_ORDERS) -> list[OpenOrder]:
    if not isinstance(result, list):
        raise TransientError(VENUE, f"unreadable answer on {path}: {json.dumps(result)[:200]}")
    orders = []
    for item in result:
        order_id = _order_id(item.get("order_id")) if isinstance(item, dict) else None
        if not isinstance(item, dict) or order_id is None:
            raise TransientError(VENUE, f"unreadable order on {path}: {json.dumps(item)[:200]}")
        # remaining_amount is what still rests on the book; market buys carry no amounts at all.
        size = item.get("remaining_amount", item.get("original_amount", ""))
        orders.append(
            OpenOrder(
                order_id=order_id,
                symbol=str(item.get("symbol", "")),
                side=str(item.get("side", "")),
                price=str(item.get("price", "")),
                size=str(size),
            )
        )
    return orders


# -- the client -------------------------------------------------------------------------------------


class Client(ClientBase[Account]):
    caps = CAPABILITIES

    def _base_url(self, account: Account) -> str:
        return account.base_url

    @property
    def _key_id(self) -> str:
        # Shared with the trader's own nonces on this key (README: Gemini nonce modes).
        return f"gemini:{self._account.api_key}"

    def _nonce(self) -> int:
        now_ms = self._clock()
        if self._account.nonce_mode == "time":
            floor = now_ms // 1000
            nonce = self._nonces.next(self._key_id, floor)
            if nonce > floor + MAX_TIME_NONCE_LEAD_S:
                # See MAX_TIME_NONCE_LEAD_S: refuse locally rather than send a nonce Gemini rejects
                # or one that locks the trader's own (clock-based) nonces out.
                raise NonceError(
                    VENUE,
                    f"time-based nonce {nonce} is {nonce - floor} s ahead of now ({floor}); Gemini accepts "
                    f"+/-30 s. Too many requests per second on this key, or its nonce record holds "
                    f"milliseconds (was the key's nonce_mode changed?)",
                    code="nonce_ahead",
                )
        else:
            floor = now_ms
            nonce = self._nonces.next(self._key_id, floor)
        if nonce < floor:
            raise NonceError(
                VENUE, f"nonce source returned {nonce}, below the floor {floor}", code="nonce_floor"
            )
        return nonce

    def _private(self, path: str, *, send_by_ms: int | None = None) -> Any:
        payload: dict[str, Any] = {"request": path, "nonce": self._nonce()}
        if self._account.account is not None:
            payload["account"] = self._account.account
        b64 = encode_payload(payload)
        headers = auth_headers(self._account.api_key, b64, sign(b64, self._account.api_secret.reveal()))
        # After the nonce draw (a DynamoDB call for increasing keys): the decision must hold when sent.
        self._check_send_by(send_by_ms)
        self._sent_ms = self._clock()
        # Gemini reads everything from the headers; the body stays empty.
        return parse_response(self._http.post(path, body=None, headers=headers), path)

    _sent_ms = 0  # when the last request left (our clock): Gemini's 30 s count from its arrival

    def extend(self, deadline_ms: int, *, send_by_ms: int | None = None) -> ExtendResult:
        """Send one heartbeat. Gemini's timer is fixed (30 s after the key's last authenticated
        request), so `deadline_ms` cannot be honoured and is not sent."""
        result = self._private(PATH_HEARTBEAT, send_by_ms=send_by_ms)
        sent_ms = self._sent_ms
        if not isinstance(result, dict) or result.get("result") != "ok":
            raise TransientError(VENUE, f"unreadable answer on {PATH_HEARTBEAT}: {json.dumps(result)[:200]}")
        if self._account.is_master:
            return ExtendResult(
                requested_deadline_ms=None,
                venue_deadline_ms=None,
                detail="heartbeat sent; master keys have no heartbeat cancel-on-disconnect (watchdog only)",
            )
        # Timed from the moment it left (after the nonce draw): Gemini's clock restarts when the
        # request arrives, which is no earlier, so the real deadline is this or later.
        return ExtendResult(
            requested_deadline_ms=None,
            venue_deadline_ms=sent_ms + HEARTBEAT_TIMEOUT_MS,
            detail="heartbeat sent; Gemini cancels this key's orders 30 s after its last authenticated call",
        )

    def disarm(self, *, send_by_ms: int | None = None) -> None:
        raise NotSupportedError(
            VENUE,
            "the 30 s heartbeat is a property of the API key, set when it was provisioned; no API call "
            "switches it off. Disarm means the fleet keeps heartbeating until the disarm ends.",
        )

    def sweep(self, *, send_by_ms: int | None = None) -> SweepResult:
        path = PATH_CANCEL_ALL if self._account.sweep_scope == "all" else PATH_CANCEL_SESSION
        return parse_cancel(self._private(path, send_by_ms=send_by_ms), path)

    def open_orders(self) -> list[OpenOrder]:
        """Every active order of the account, whatever session placed it (Gemini's REST order objects
        do not say which session owns them)."""
        return parse_orders(self._private(PATH_ORDERS))


# -- the venue, for the registry ----------------------------------------------------------------------

SPEC = VenueSpec(
    name=VENUE,
    title="Gemini",
    timer="heartbeat",
    capabilities=CAPABILITIES,
    clock_window_ms=25_000,  # a time-based nonce more than 30 s off is refused
    caveat=(
        "Gemini's rule belongs to the API key: it cancels the key's orders 30 s after the key's last "
        "authenticated call, whoever makes it; it cannot be switched off, so a disarm keeps heartbeating."
    ),
    doctor=(
        "nonce mode, master key and sweep scope consequences; the kill key (its own session) "
        "authenticates (no kill key is a WARN); clock skew from the HTTP Date header. The TRADING key is "
        "not called unless you pass --allow-gemini-call, and even then only while its switch is armed and "
        "every trading system gating it is alive right now (the refresher's own judge): any authenticated "
        "call on it resets Gemini's 30 s heartbeat rule, so on a killed or disarmed switch, or for a dead "
        "trader, it would postpone the venue's cancel. It also draws from the nonce stream the key shares "
        "with the trader."
    ),
)


def _doctor_plan(account: Account) -> DoctorPlan:
    remarks: list[Remark] = []
    if account.nonce_mode == "time":
        remarks.append(
            Remark(
                "INFO",
                "time-based nonce (epoch s, +/-30 s of Gemini's clock): trader and fleet share the key at "
                "most ~1 request/s between them; keep clocks in sync",
            )
        )
    else:
        remarks.append(
            Remark(
                "INFO",
                "increasing nonce (epoch ms): the trader MUST draw its nonces from the fleet's shared "
                f"source (ControlTable row NONCE#gemini:{account.api_key}), or one side gets InvalidNonce",
            )
        )
    if account.is_master:
        detail = (
            "master key: Gemini has no heartbeat cancel-on-disconnect for master keys; the watchdog sweep "
            "is the only guard"
        )
        remarks.append(Remark("WARN", detail))
    else:
        detail = (
            "the key must have 'Require Heartbeat' set (not visible through the API); sweeps use "
            f"cancel/{account.sweep_scope}"
        )
        remarks.append(Remark("INFO", detail))
    keys = []
    if account.kill is not None:
        keys.append(KeyCheck("kill key", account.for_kill()))
    else:
        # A WARN as for Kraken, and more: every authenticated call on the trading key restarts
        # Gemini's 30 s rule, the watchdog's own cancels included.
        detail = (
            "no kill key: kill and the watchdog sweep with the trading key (cancel/session), and each of "
            "those calls restarts Gemini's 30 s heartbeat rule; an order Gemini refuses to cancel then goes "
            "only within the watchdog bound + 30 s. Add a Cancel-only second key as 'kill'"
        )
        remarks.append(Remark("WARN", detail))
    if account.retiring is not None:
        detail = (
            f"rotation under way: the old key {account.retiring.api_key} is heartbeated too; once the trader "
            "has moved and no order rests on it, delete it and drop 'retiring' from the secret"
        )
        remarks.append(Remark("WARN", detail))
    keys.append(KeyCheck("trading key", account, extends=True))
    clock = ClockSource("GET", account.base_url.rstrip("/") + "/v1/symbols")
    return DoctorPlan(clock=clock, keys=tuple(keys), remarks=tuple(remarks))


DRIVER: VenueDriver = Driver[Account](SPEC, Account, Client, _doctor_plan)
