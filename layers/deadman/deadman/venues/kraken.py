"""Kraken spot REST: `CancelAllOrdersAfter` as the venue timer, `CancelAll` as the sweep.

Why this file is long: one venue whole - its secret's account, its signing, its timer with the
late-landing read-back, its errors and its registry entry - checked against the venue's documents as
one unit.

Wire facts are in docs/venues.md (Kraken). Requests are form-encoded and the signature covers the exact
bytes sent, so what is signed can never drift from what Kraken hashes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from deadman.core.errors import CredentialsError
from deadman.core.secret import Secret
from deadman.core.venue import (
    Capabilities,
    ClockSource,
    DoctorPlan,
    ExtendResult,
    KeyCheck,
    OpenOrder,
    Remark,
    SweepResult,
    TimerKind,
    VenueDriver,
    VenueSpec,
)
from deadman.venues import entries, urls
from deadman.venues.adapter import Driver
from deadman.venues.client import ClientBase
from deadman.venues.entries import KeyPairAccount, KillCredentials
from deadman.venues.errors import (
    AuthError,
    MissingPermissionError,
    NonceError,
    RateLimitError,
    RejectedError,
    StaleDecisionError,
    TransientError,
    UnavailableError,
    VenueError,
)
from deadman.venues.http import HttpResponse, raise_for_generic_status

VENUE = "kraken"
DEFAULT_BASE_URL = "https://api.kraken.com"
# "it should be less than 86400 seconds" (Kraken's page).
MAX_TIMEOUT_S = 86_399
WHOLE_SECOND_MS = 1_000
TRANSITS_KEPT = 6  # about a minute of ticks

CAPABILITIES = Capabilities(
    venue=VENUE,
    timer_kind=TimerKind.RELATIVE_SECONDS,
    can_disarm=True,
    min_lead_ms=1_000,
    max_timeout_ms=MAX_TIMEOUT_S * 1_000,
    fixed_timeout_ms=None,
    daily_trigger_budget=None,
    later_nonce_fences=True,  # with the key's nonce window left at 0, as the README asks
)

PATH_CANCEL_AFTER = "/0/private/CancelAllOrdersAfter"
PATH_CANCEL_ALL = "/0/private/CancelAll"
PATH_OPEN_ORDERS = "/0/private/OpenOrders"


# -- signing ----------------------------------------------------------------------------------------


def sign(path: str, nonce: int, body: bytes, secret_b64: str) -> str:
    """API-Sign = base64(HMAC-SHA512(b64decode(secret), path + SHA256(str(nonce) + body)))."""
    digest = hashlib.sha256(str(nonce).encode() + body).digest()
    mac = hmac.new(base64.b64decode(secret_b64, validate=True), path.encode() + digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


# -- account configuration --------------------------------------------------------------------------


_ACCOUNT_FIELDS = frozenset({"account_id", "api_key", "api_secret", "base_url", "kill"})


@dataclass(frozen=True)
class Account(KeyPairAccount):
    account_id: str
    api_key: str
    api_secret: Secret
    base_url: str = DEFAULT_BASE_URL
    kill: KillCredentials | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, secret_name: str, sandbox: bool = False) -> Account:
        """One entry of the Kraken secret's `accounts` list:

            {"account_id": "main",                 # label, required
             "api_key": "<public key>",            # required
             "api_secret": "<base64 private key>", # required, as Kraken shows it
             "base_url": "https://api.kraken.com", # optional, scheme + host only; any other URL
                                                   # only with sandbox=True (deadman.venues.urls)
             "kill": {"api_key": "...", "api_secret": "..."}}  # optional: the kill path's own key

        Keys need "Cancel & close orders" (refresh, disarm, sweep) and "Query open orders" for
        `open_orders`. Any other field is refused. 2FA (otp) keys are not supported.
        """
        entries.check_entry(data, _ACCOUNT_FIELDS, secret_name)
        account_id = entries.label(data, "account_id", secret_name, "account_id")
        # Stripped, as always; a key id with a space, a control or a non-ASCII character could never
        # authenticate (it travels in the API-Key header), so it is refused rather than sent.
        api_key = entries.token(data, "api_key", secret_name, "api_key", strip=True)
        api_secret = _b64_secret(data, "api_secret", secret_name, "api_secret")
        base_url = DEFAULT_BASE_URL
        if data.get("base_url") is not None:
            base_url = urls.base_url(data, (DEFAULT_BASE_URL,), "Kraken", sandbox, secret_name)
        kill = None
        raw_kill = entries.kill_object(data, secret_name)
        if raw_kill is not None:
            kill = KillCredentials(
                api_key=entries.token(raw_kill, "api_key", secret_name, "kill.api_key", strip=True),
                api_secret=_b64_secret(raw_kill, "api_secret", secret_name, "kill.api_secret"),
            )
        return cls(
            account_id=account_id, api_key=api_key, api_secret=api_secret, base_url=base_url, kill=kill
        )

    def for_retiring(self) -> None:
        return None  # a Kraken key is not heartbeated: a rotation needs nothing kept alive


def _b64_secret(data: Mapping[str, Any], key: str, secret_name: str, field: str) -> Secret:
    value = entries.text(data, key, secret_name, field)
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        # from None: the decoder's message may quote part of the value.
        raise CredentialsError(secret_name, field, "must be base64 (as Kraken shows it)") from None
    if not decoded:
        raise CredentialsError(secret_name, field, "decodes to nothing")
    return Secret(value)


# -- error mapping ----------------------------------------------------------------------------------

_AUTH = frozenset({"EAPI:Invalid key", "EAPI:Invalid signature", "EGeneral:Permission denied"})
_RATE = frozenset({"EAPI:Rate limit exceeded", "EOrder:Rate limit exceeded", "EService:Throttled"})
_UNAVAILABLE = frozenset({"EService:Unavailable", "EService:Busy"})
# Internal error and the engine's own timeouts leave the outcome unknown: retry-worthy.
_TRANSIENT = frozenset({"EGeneral:Internal error", "EService:Timeout", "EService:Deadline elapsed"})


def _error_key(entry: str) -> str:
    """`EService: Throttled: 1700000000` -> `EService:Throttled` (category and type, no extra info)."""
    parts = [p.strip() for p in entry.split(":")]
    return ":".join(parts[:2])


def error_for(errors: list[str], *, path: str, http_status: int | None = None) -> VenueError | None:
    """The taxonomy error for a Kraken `error` array, or None when it holds only warnings."""
    failures = [e.strip() for e in errors if e.strip().startswith("E")]
    if not failures:
        return None  # W-severity entries are warnings: the call succeeded.
    first = failures[0]
    key = _error_key(first)
    message = f"{'; '.join(failures)} (on {path})"
    kw: dict[str, Any] = {"code": key, "http_status": http_status}
    if key == "EAPI:Invalid nonce":
        return NonceError(VENUE, message, **kw)
    if key == "EGeneral:Temporary lockout":
        # Kraken locks a key out (~15 min, every call refused) after too many invalid nonces or
        # signatures. Its cause and its cure are the nonce stream's, so it is a NonceError; the
        # distinct code lets the policy know that retrying with a fresh nonce will not help.
        kw["code"] = "lockout"
        return NonceError(VENUE, message, **kw)
    if key == "EGeneral:Permission denied":
        return MissingPermissionError(VENUE, message, **kw)
    if key in _AUTH:
        return AuthError(VENUE, message, **kw)
    if key in _RATE:
        return RateLimitError(VENUE, message, **kw)
    if key in _UNAVAILABLE:
        return UnavailableError(VENUE, message, **kw)
    if key in _TRANSIENT:
        return TransientError(VENUE, message, **kw)
    return RejectedError(VENUE, message, **kw)


def parse_response(resp: HttpResponse, path: str) -> Any:
    """Return `result`, or raise. The `error` array wins over the HTTP status (docs/venues.md)."""
    payload = resp.json()
    errors = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        err = error_for(errors, path=path, http_status=resp.status)
        if err is not None:
            raise err
    raise_for_generic_status(VENUE, resp, path)
    if not 200 <= resp.status < 300:
        raise RejectedError(
            VENUE, f"HTTP {resp.status} on {path}: {resp.text[:200]}", http_status=resp.status
        )
    result = payload.get("result") if isinstance(payload, dict) else None
    if not isinstance(errors, list) or result is None or not _whole(path, result):
        # A 200 we cannot read: we do not know whether the call took effect.
        raise TransientError(
            VENUE, f"unreadable answer on {path}: {resp.text[:200]}", http_status=resp.status
        )
    return result


def _whole(path: str, result: Any) -> bool:
    # The timer's answer always carries both times (triggerTime "0" when off): an empty `result` is
    # no proof that the timer was set, or switched off.
    if path == PATH_CANCEL_AFTER:
        return isinstance(result, dict) and all(isinstance(result.get(k), str) for k in _TIMES)
    return True


_TIMES = ("currentTime", "triggerTime")


# -- the client -------------------------------------------------------------------------------------


def parse_rfc3339_ms(text: str) -> int | None:
    """'2023-03-24T17:42:56Z' -> epoch ms; None for anything else (e.g. "0" on a disabled timer)."""
    try:
        when = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def _trigger_ms(result: dict[str, Any]) -> int | None:
    trigger = result.get("triggerTime")
    return parse_rfc3339_ms(trigger) if isinstance(trigger, str) else None


class Client(ClientBase[Account]):
    caps = CAPABILITIES

    def _base_url(self, account: Account) -> str:
        return account.base_url

    @property
    def _key_id(self) -> str:
        return f"kraken:{self._account.api_key}"

    def _private(
        self,
        path: str,
        params: Callable[[], list[tuple[str, str | int]]] | None = None,
        *,
        send_by_ms: int | None = None,
    ) -> Any:
        # Kraken accepts any increasing nonce; epoch ms as the floor keeps it usable after a reset.
        nonce = self._nonces.next(self._key_id, self._clock())
        # Parameters are built after the nonce draw (a DynamoDB call): a relative timeout must be
        # computed as close to the send as possible.
        body = urlencode([("nonce", nonce), *(params() if params else [])]).encode()
        headers = {
            "API-Key": self._account.api_key,
            "API-Sign": sign(path, nonce, body, self._account.api_secret.reveal()),
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        }
        self._check_send_by(send_by_ms)
        return parse_response(self._http.post(path, body=body, headers=headers), path)

    def _cancel_after(
        self, timeout_s: Callable[[], int], *, send_by_ms: int | None = None
    ) -> tuple[dict[str, Any], int, int]:
        """The answer, the timeout sent, and when it was sent (our clock)."""
        sent: list[tuple[int, int]] = []

        def params() -> list[tuple[str, str | int]]:
            sent.append((timeout_s(), self._clock()))
            return [("timeout", sent[-1][0])]

        result = self._private(PATH_CANCEL_AFTER, params, send_by_ms=send_by_ms)
        if not isinstance(result, dict):
            raise TransientError(VENUE, f"unreadable result on {PATH_CANCEL_AFTER}: {result!r:.200}")
        return result, sent[-1][0], sent[-1][1]

    def _timeout_for(self, deadline_ms: int) -> int:
        """Whole seconds from now to the deadline, rounded DOWN, aimed a second early and earlier by the
        transit recent answers showed: Kraken counts from the request's arrival, so rounding up, or
        ignoring the way there, would put the timer past the deadline. Early is harmless: the next
        tick extends again."""
        aim = deadline_ms - WHOLE_SECOND_MS - max(self._transits, default=0)
        timeout_s = (aim - self._clock()) // 1000
        if timeout_s < 1:
            # Kraken reads 0 as "disable": never send it for an extension.
            raise StaleDecisionError(VENUE, f"deadline {deadline_ms} is less than 1 s away: not sent")
        return min(timeout_s, MAX_TIMEOUT_S)

    def _landed(self, result: dict[str, Any], timeout_s: int, sent_ms: int) -> int | None:
        """The venue's trigger time, and what it says of the request's transit (remembered)."""
        trigger = _trigger_ms(result)
        if trigger is not None:
            # triggerTime = arrival + timeout, cut down to the second: a lower bound of the arrival.
            # The timeouts aim early by the longest of the last few: early is safe, late is not.
            self._transits = (
                *self._transits[-(TRANSITS_KEPT - 1) :],
                max(0, trigger - timeout_s * 1000 - sent_ms),
            )
        return trigger

    def extend(self, deadline_ms: int, *, send_by_ms: int | None = None) -> ExtendResult:
        """Set the timer to fire at `deadline_ms` at the latest (plus Kraken's whole second).

        The timeout is relative to the request's arrival, so a request slow in transit sets a timer
        past the deadline. The answer's `triggerTime` says where it landed (whole seconds, cut down)
        and is returned as `venue_deadline_ms`: a caller that sees it late sends again (the transit
        just seen is remembered, so the next timeout is aimed earlier by it)."""
        result, timeout_s, sent = self._cancel_after(
            lambda: self._timeout_for(deadline_ms), send_by_ms=send_by_ms
        )
        trigger = self._landed(result, timeout_s, sent)
        return ExtendResult(
            requested_deadline_ms=deadline_ms,
            # The venue's seconds are cut down: the timer fires within the second after it.
            venue_deadline_ms=None if trigger is None else trigger + WHOLE_SECOND_MS - 1,
            detail=f"CancelAllOrdersAfter timeout={timeout_s}",
        )

    def disarm(self, *, send_by_ms: int | None = None) -> None:
        self._cancel_after(lambda: 0, send_by_ms=send_by_ms)

    _transits: tuple[int, ...] = ()  # how long the last answered CancelAllOrdersAfters took to arrive

    def sweep(self, *, send_by_ms: int | None = None) -> SweepResult:
        result = self._private(PATH_CANCEL_ALL, send_by_ms=send_by_ms)
        count = result.get("count") if isinstance(result, dict) else None
        if not isinstance(count, int) or isinstance(count, bool):
            raise TransientError(VENUE, f"unreadable result on {PATH_CANCEL_ALL}: {result!r:.200}")
        pending = bool(result.get("pending", False))
        return SweepResult(cancelled_count=count, pending=pending, detail=f"CancelAll count={count}")

    def open_orders(self) -> list[OpenOrder]:
        result = self._private(PATH_OPEN_ORDERS)
        open_ = result.get("open") if isinstance(result, dict) else None
        if not isinstance(open_, dict):
            raise TransientError(VENUE, f"unreadable result on {PATH_OPEN_ORDERS}: {result!r:.200}")
        orders = []
        for txid, order in open_.items():
            descr = order.get("descr") if isinstance(order, dict) else None
            if not isinstance(order, dict) or not isinstance(descr, dict):
                raise TransientError(VENUE, f"unreadable order {txid!r} on {PATH_OPEN_ORDERS}")
            orders.append(
                OpenOrder(
                    order_id=str(txid),
                    symbol=str(descr.get("pair", "")),
                    side=str(descr.get("type", "")),
                    price=str(descr.get("price", "")),
                    size=str(order.get("vol", "")),
                )
            )
        return orders


# -- the venue, for the registry ----------------------------------------------------------------------

SPEC = VenueSpec(
    name=VENUE,
    title="Kraken",
    timer="CancelAllOrdersAfter",
    capabilities=CAPABILITIES,
    clock_window_ms=30_000,
    caveat=(
        "Kraken cancels every order of the account when its engine comes back from downtime with this "
        "timer armed: plan a disarm over announced maintenance (deadman disarm --venue kraken --from "
        "<start> --for <length>)."
    ),
    doctor=(
        "clock skew against /0/public/Time; the refresher key and the kill key authenticate with a "
        "read-only call (OpenOrders), nonces drawn from the fleet's shared DynamoDB source so the "
        "refresher's nonces are never overtaken"
    ),
)


def _server_time_ms(answer: Any) -> float:
    return float(answer["result"]["unixtime"]) * 1000 + 500  # whole seconds: the middle of one


def _doctor_plan(account: Account) -> DoctorPlan:
    keys = [KeyCheck("refresher key", account)]
    remarks = []
    if account.kill is None:
        detail = "no kill key: kill shares the refresher key (a nonce lockout on it would block both)"
        remarks.append(Remark("WARN", detail))
    else:
        keys.append(KeyCheck("kill key", account.for_kill()))
    clock = ClockSource(
        "GET",
        account.base_url.rstrip("/") + "/0/public/Time",
        read_ms=_server_time_ms,
        source="/0/public/Time, 1 s resolution",
    )
    return DoctorPlan(clock=clock, keys=tuple(keys), remarks=tuple(remarks))


DRIVER: VenueDriver = Driver[Account](SPEC, Account, Client, _doctor_plan)
