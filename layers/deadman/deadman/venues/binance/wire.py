"""Binance USD-M and COIN-M futures on the wire: the markets and their paths, the signature, and the
venue's answers read into the taxonomy of `deadman.venues.errors` (docs/venues.md, Binance).

A signed request is its parameters form-encoded, then `recvWindow` and `timestamp`, then
`signature` = lowercase hex HMAC-SHA256 of exactly those bytes under the key's secret; the key goes in
`X-MBX-APIKEY`. A GET carries them as its query string, a POST or DELETE as its form body (Binance
reads both; the signature covers what is sent, so it can never drift from what Binance hashes).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from deadman.core.venue import Capabilities, TimerKind
from deadman.venues.errors import (
    AuthError,
    NonceError,
    RateLimitError,
    RejectedError,
    TransientError,
    UnavailableError,
    VenueError,
)
from deadman.venues.http import HttpResponse

VENUE = "binance"

# Binance refuses a request that reaches it more than `recvWindow` ms after its `timestamp` (-1021):
# the window bounds when a countdown can start, so the countdown is aimed that much early (below).
# 5000 is Binance's default and the most its docs recommend; it equals the fleet's TRANSIT_MS, so a
# straggler the client gave up on cannot land after a kill or a disarm has outwaited it.
RECV_WINDOW_MS = 5_000
# Binance checks countdowns "approximately every 10 milliseconds": aimed this much earlier still.
SCAN_SLACK_MS = 100
# At most this many symbols per account: each costs 10 of the IP's request weight per tick.
MAX_SYMBOLS = 20
COUNTDOWN_WEIGHT = 10
# The shortest countdown sent: 0 would switch the timer off, and Binance advises against tiny ones.
MIN_COUNTDOWN_MS = 1_000

CAPABILITIES = Capabilities(
    venue=VENUE,
    timer_kind=TimerKind.RELATIVE_MS,
    can_disarm=True,
    # No minimum is documented; a deadline nearer than this cannot be aimed at (see the client).
    min_lead_ms=RECV_WINDOW_MS + SCAN_SLACK_MS + MIN_COUNTDOWN_MS,
    max_timeout_ms=None,  # no maximum documented (UNVERIFIED): the fleet's stays far under any
    fixed_timeout_ms=None,
    daily_trigger_budget=None,
    # The sweep lists the book (every symbol with orders, listed or not) before it cancels.
    sweep_lists_first=True,
    draws_nonces=False,  # a timestamp window, no nonce counter
)


@dataclass(frozen=True)
class Market:
    """One of Binance's futures markets: its API prefix, its hosts, and whether it keeps conditional
    orders in a separate algo service (USD-M since 2025-12)."""

    name: str
    prefix: str
    production: str
    testnets: tuple[str, ...]
    algo: bool

    @property
    def official(self) -> tuple[str, ...]:
        return (self.production, *self.testnets)

    def path(self, name: str) -> str:
        return f"{self.prefix}/{name}"


MARKETS: dict[str, Market] = {
    "usdm": Market(
        "usdm",
        "/fapi/v1",
        "https://fapi.binance.com",
        ("https://demo-fapi.binance.com", "https://testnet.binancefuture.com"),
        algo=True,
    ),
    "coinm": Market(
        "coinm", "/dapi/v1", "https://dapi.binance.com", ("https://testnet.binancefuture.com",), algo=False
    ),
}

COUNTDOWN = "countdownCancelAll"
OPEN_ORDERS = "openOrders"
CANCEL_ALL = "allOpenOrders"
OPEN_ALGO_ORDERS = "openAlgoOrders"
CANCEL_ALL_ALGO = "algoOpenOrders"
TIME = "time"

# A symbol as Binance spells them (BTCUSDT, BTCUSD_PERP, BTCUSD_260327).
SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9_]{1,31}$")


# -- signing ----------------------------------------------------------------------------------------


def sign(total_params: str, secret: str) -> str:
    """Lowercase hex HMAC-SHA256 of `totalParams` (query string + body) under the secret."""
    return hmac.new(secret.encode(), total_params.encode(), hashlib.sha256).hexdigest()


def signed_params(params: list[tuple[str, str | int]], timestamp_ms: int, secret: str) -> str:
    """The request's parameters, `recvWindow` and `timestamp`, then their `signature`, last."""
    total = urlencode([*params, ("recvWindow", RECV_WINDOW_MS), ("timestamp", timestamp_ms)])
    return f"{total}&signature={sign(total, secret)}"


# -- answers and errors -----------------------------------------------------------------------------

_AUTH = frozenset({-1002, -1022, -1099, -2014, -2015})
_TRANSIENT = frozenset({-1000, -1001, -1006, -1007})
_UNAVAILABLE = frozenset({-1008, -1016})
_RATE = frozenset({-1003, -1015})
# "Unknown order sent." / "Order does not exist.": the cancel found nothing (docs/venues.md, Binance).
NOTHING_TO_CANCEL = frozenset({-2011, -2013})
_BAN_UNTIL = re.compile(r"banned until (\d{10,16})")


def banned_until_ms(message: str) -> int | None:
    """The end of an IP ban, as Binance's 418 answer names it ("IP banned until 1599196800000")."""
    found = _BAN_UNTIL.search(message)
    return int(found.group(1)) if found else None


def error_for(status: int, code: int | None, message: str, path: str) -> VenueError:
    text = f"{message} (on {path})"
    kw: dict[str, Any] = {"code": None if code is None else str(code), "http_status": status}
    if status == 418:
        # Banned for sending on after 429s: every call from this IP is refused until the ban ends.
        return RateLimitError(VENUE, text, code="ip_ban", http_status=status)
    if status == 429 or code in _RATE:
        return RateLimitError(VENUE, text, **kw)
    if status == 403:
        return RateLimitError(VENUE, f"WAF limit: {text}", code="waf", http_status=status)
    if code == -1021:
        # Outside the recvWindow, or >1 s ahead of Binance's clock: the request's time, not its key.
        return NonceError(VENUE, text, **kw)
    if code in _AUTH or status == 401:
        return AuthError(VENUE, text, **kw)
    if status == 503 and "Service Unavailable" in message:
        return UnavailableError(VENUE, text, **kw)  # refused as a whole, not executed
    if code in _UNAVAILABLE:
        return UnavailableError(VENUE, text, **kw)
    if status >= 500 or status == 408 or code in _TRANSIENT:
        # 503 "Unknown error" and -1007 say the request may have been executed: outcome unknown.
        return TransientError(VENUE, text, **kw)
    return RejectedError(VENUE, text, **kw)


def parse_response(resp: HttpResponse, path: str) -> Any:
    """The decoded answer of a call that succeeded, or the taxonomy's error. A 2xx whose body is not
    JSON is an unknown outcome, never a success."""
    payload = resp.json()
    code = payload.get("code") if isinstance(payload, dict) else None
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    message = payload.get("msg") if isinstance(payload, dict) else None
    message = message if isinstance(message, str) else resp.text[:200]
    if not 200 <= resp.status < 300 or (code is not None and code < 0):
        raise error_for(resp.status, code, message, path)
    if payload is None:
        raise TransientError(
            VENUE, f"unreadable answer on {path}: {resp.text[:200]}", http_status=resp.status
        )
    return payload


def countdown_answer_ok(answer: Any, symbol: str, countdown_ms: int) -> bool:
    """The echo of one countdown call: its symbol and its countdown, as sent. Anything else (an
    empty object, another symbol) is no proof that this symbol's timer moved."""
    if not isinstance(answer, dict) or answer.get("symbol") != symbol:
        return False
    echoed = answer.get("countdownTime")
    if isinstance(echoed, bool) or not isinstance(echoed, str | int):
        return False
    return str(echoed) == str(countdown_ms)


def cancel_answer_ok(answer: Any) -> bool:
    """A cancel-all's answer: `{"code": 200, "msg": "The operation of cancel all open order is done."}`."""
    return isinstance(answer, dict) and answer.get("code") == 200 and isinstance(answer.get("msg"), str)
