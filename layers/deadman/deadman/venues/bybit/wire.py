"""Bybit v5 on the wire: capabilities, URLs and paths, the signature, and the venue's answers read
into the taxonomy (docs/venues.md, Bybit).

Every request is signed over what is sent: `timestamp + api_key + recv_window + (query | body)`,
HMAC-SHA256 in lower-case hex, the same values in the X-BAPI-* headers."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import urlencode

from deadman.core.venue import Capabilities, OpenOrder, TimerKind
from deadman.venues.errors import (
    AuthError,
    MissingPermissionError,
    NonceError,
    RateLimitError,
    RejectedError,
    TransientError,
    UnavailableError,
    VenueError,
)
from deadman.venues.http import HttpResponse, raise_for_generic_status

VENUE: Final = "bybit"
LIVE_URL: Final = "https://api.bybit.com"
# Mainnet (two hosts), the regional mainnets, testnet and demo trading (docs/venues.md, Bybit).
BASE_URLS: Final = (
    LIVE_URL,
    "https://api.bytick.com",
    "https://api.bybit.nl",
    "https://api.bybit-tr.com",
    "https://api.bybit.kz",
    "https://api.bybitgeorgia.ge",
    "https://api.bybit.ae",
    "https://api-testnet.bybit.com",
    "https://api-demo.bybit.com",
)
PATH_TIME: Final = "/v5/market/time"
PATH_CANCEL_ALL: Final = "/v5/order/cancel-all"
PATH_OPEN: Final = "/v5/order/realtime"
# The venue takes a request stamped in [server - recv_window, server + 1 s): 5 s, its default.
RECV_WINDOW_MS: Final = 5_000
CATEGORIES: Final = ("linear", "inverse", "spot", "option")
# Spot's cancel-all takes normal orders only unless told a kind ("Order by default"): each is swept.
SPOT_FILTERS: Final = ("Order", "tpslOrder", "StopOrder", "OcoOrder", "BidirectionalTpslOrder")
# Futures' cancel-all takes at most 500 orders a call ("picks up 500 orders randomly").
FUTURES_CANCEL_CAP: Final = 500

CAPABILITIES = Capabilities(
    venue=VENUE,
    # Disconnection Protect fires when a private WebSocket drops: nothing a stateless caller sends
    # holds it or fires it. The fleet gives the watchdog and the kill only.
    timer_kind=TimerKind.NONE,
    can_disarm=False,
    min_lead_ms=0,
    max_timeout_ms=None,
    fixed_timeout_ms=None,
    daily_trigger_budget=None,
    draws_nonces=False,  # a timestamp window, no nonce counter
)


# -- signing ----------------------------------------------------------------------------------------


def signature_string(timestamp: str, api_key: str, recv_window: str, payload: str) -> str:
    """GET: the query string as sent; POST: the JSON body as sent."""
    return f"{timestamp}{api_key}{recv_window}{payload}"


def sign(timestamp: str, api_key: str, recv_window: str, payload: str, secret: str) -> str:
    message = signature_string(timestamp, api_key, recv_window, payload)
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def encode_query(params: Sequence[tuple[str, str | int]]) -> str:
    return urlencode(params)


def encode_body(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"))


def auth_headers(timestamp: str, api_key: str, payload: str, secret: str, *, body: bool) -> dict[str, str]:
    recv = str(RECV_WINDOW_MS)
    headers = {
        "X-BAPI-API-KEY": api_key,
        "X-BAPI-TIMESTAMP": timestamp,
        "X-BAPI-RECV-WINDOW": recv,
        "X-BAPI-SIGN": sign(timestamp, api_key, recv, payload, secret),
        "Accept": "application/json",
    }
    if body:
        headers["Content-Type"] = "application/json"
    return headers


# -- answers and errors -----------------------------------------------------------------------------

# Bad key (or the key of another environment), bad signature, failed authentication, unmatched IP,
# expired key.
_AUTH: Final = frozenset({10003, 10004, 10007, 10010, 33004})
_PERMISSION: Final = frozenset({10005})  # authenticated, and lacks the permission
_RATE: Final = frozenset({10006})
_UNAVAILABLE: Final = frozenset({10016})  # "Server error" / "Service is restarting"
_TIMESTAMP: Final = frozenset({10002})  # "The request time exceeds the time window range."


def error_for(code: int, message: str, *, path: str, http_status: int) -> VenueError:
    """The taxonomy error for a Bybit `retCode` (the code decides, never the message)."""
    text = f"{code}: {message[:160]} (on {path})"
    kw: dict[str, Any] = {"code": str(code), "http_status": http_status}
    if code in _PERMISSION:
        return MissingPermissionError(VENUE, text, **kw)
    if code in _AUTH:
        return AuthError(VENUE, text, **kw)
    if code in _RATE:
        return RateLimitError(VENUE, text, **kw)
    if code in _UNAVAILABLE:
        return UnavailableError(VENUE, text, **kw)
    if code in _TIMESTAMP:
        # Our clock against Bybit's, outside its receive window: a nonce-like refusal, fixed by the clock.
        return NonceError(VENUE, text, **kw)
    return RejectedError(VENUE, text, **kw)


def parse_response(resp: HttpResponse, path: str) -> Any:
    """The `result` of an answer with retCode 0, or the error it is."""
    snippet = resp.text[:200]
    if resp.status == 401:
        raise AuthError(VENUE, f"HTTP 401 on {path}: {snippet}", http_status=401)
    if resp.status == 403:
        # The IP's limit (600 requests per 5 s; "wait at least 10 minutes") or a barred region.
        raise RateLimitError(
            VENUE, f"HTTP 403 (IP rate limit or region) on {path}: {snippet}", http_status=403
        )
    raise_for_generic_status(VENUE, resp, path)
    payload = resp.json()
    if not 200 <= resp.status < 300:
        raise RejectedError(VENUE, f"HTTP {resp.status} on {path}: {snippet}", http_status=resp.status)
    if not isinstance(payload, dict) or isinstance(payload.get("retCode"), bool):
        raise TransientError(VENUE, f"unreadable answer on {path}: {snippet}", http_status=resp.status)
    code = payload.get("retCode")
    if not isinstance(code, int):
        raise TransientError(
            VENUE, f"an answer without retCode on {path}: {snippet}", http_status=resp.status
        )
    if code != 0:
        message = payload.get("retMsg")
        raise error_for(code, message if isinstance(message, str) else "", path=path, http_status=resp.status)
    result = payload.get("result")
    if not isinstance(result, dict):
        raise TransientError(VENUE, f"an answer without result on {path}: {snippet}", http_status=resp.status)
    return result


def order_list(result: dict[str, Any], path: str) -> list[dict[str, Any]]:
    listed = result.get("list")
    if not isinstance(listed, list) or not all(isinstance(o, dict) for o in listed):
        raise TransientError(VENUE, f"unreadable order list on {path}: {result!r:.200}")
    return listed


def order_id(order: dict[str, Any], path: str) -> str:
    raw = order.get("orderId")
    if not isinstance(raw, str) or not raw:
        raise TransientError(VENUE, f"an order without an orderId on {path}: {order!r:.200}")
    return raw


def open_order(order: dict[str, Any], path: str) -> OpenOrder:
    return OpenOrder(
        order_id=order_id(order, path),
        symbol=str(order.get("symbol", "")),
        side=str(order.get("side", "")).lower(),
        price=str(order.get("price", "")),
        size=str(order.get("qty", "")),
    )
