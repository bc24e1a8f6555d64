"""Gate APIv4 on the wire: capabilities, URLs and paths, the signature, and the venue's answers read
into the taxonomy (docs/venues.md, Gate).

Every request is signed over what is sent: the method, the path with its `/api/v4` prefix, the query
as the venue reads it (URL-decoded, as the official SDK signs it), the SHA-512 of the exact body
bytes, and the same `Timestamp` header value."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import unquote_plus, urlencode

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

VENUE: Final = "gate"
PREFIX: Final = "/api/v4"
# Live, the futures-only host, and TestNet (docs/venues.md, Gate: environments).
LIVE_URL: Final = "https://api.gateio.ws"
BASE_URLS: Final = (LIVE_URL, "https://fx-api.gateio.ws", "https://api-testnet.gateapi.io")
# "Countdown time in seconds At least 5 seconds, 0 means cancel countdown"; no maximum is documented,
# and the field is an int32.
MIN_TIMEOUT_S: Final = 5
MAX_TIMEOUT_S: Final = 2**31 - 1
# The venue refuses a `Timestamp` more than 60 s from its clock.
TIMESTAMP_WINDOW_MS: Final = 60_000
# An answer's triggerTime names the request's arrival (less the timeout) on the venue's clock: one
# further than the venue's own timestamp window from our send and answer times is not this request's.
TRIGGER_SLACK_MS: Final = TIMESTAMP_WINDOW_MS

SPOT: Final = "spot"
FUTURES_SETTLES: Final = ("usdt", "btc")
MARKETS: Final = (SPOT, *(f"futures:{settle}" for settle in FUTURES_SETTLES))

CAPABILITIES = Capabilities(
    venue=VENUE,
    timer_kind=TimerKind.RELATIVE_SECONDS,
    can_disarm=True,
    min_lead_ms=MIN_TIMEOUT_S * 1_000,
    max_timeout_ms=None,
    fixed_timeout_ms=None,
    daily_trigger_budget=None,
    # Futures cancel-all wants a contract: the sweep lists the open orders first to find them.
    sweep_lists_first=True,
    draws_nonces=False,  # a timestamp window, no nonce counter
)

EMPTY_BODY_SHA512: Final = hashlib.sha512(b"").hexdigest()


def market_root(market: str) -> str:
    """`spot` -> `/api/v4/spot`; `futures:usdt` -> `/api/v4/futures/usdt`."""
    if market == SPOT:
        return f"{PREFIX}/spot"
    return f"{PREFIX}/futures/{market.removeprefix('futures:')}"


def countdown_path(market: str) -> str:
    return f"{market_root(market)}/countdown_cancel_all"


# -- signing ----------------------------------------------------------------------------------------


def signature_string(method: str, path: str, query: str, body: bytes, timestamp: str) -> str:
    """METHOD, path, query (decoded), hex SHA-512 of the body and the Timestamp, newline-joined."""
    return "\n".join((method.upper(), path, query, hashlib.sha512(body).hexdigest(), timestamp))


def sign(method: str, path: str, query: str, body: bytes, timestamp: str, secret: str) -> str:
    """SIGN = hex HMAC-SHA512(secret, signature string); the secret is used as its text."""
    message = signature_string(method, path, query, body, timestamp)
    return hmac.new(secret.encode(), message.encode(), hashlib.sha512).hexdigest()


def encode_query(params: Sequence[tuple[str, str | int]]) -> tuple[str, str]:
    """(what the URL carries, what is signed): URL-encoded, and decoded back as the SDK signs it."""
    sent = urlencode(params)
    return sent, unquote_plus(sent)


def encode_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def auth_headers(
    method: str, path: str, query: str, body: bytes, timestamp: str, api_key: str, secret: str
) -> dict[str, str]:
    headers = {
        "KEY": api_key,
        "Timestamp": timestamp,
        "SIGN": sign(method, path, query, body, timestamp, secret),
        "Accept": "application/json",
    }
    if body:
        headers["Content-Type"] = "application/json"
    return headers


# -- answers and errors -----------------------------------------------------------------------------

_AUTH: Final = frozenset(
    {"INVALID_KEY", "INVALID_SIGNATURE", "INVALID_CREDENTIALS", "MISSING_REQUIRED_HEADER", "IP_FORBIDDEN"}
)
# The key authenticated, and lacks the permission (or the account is locked): doctor's proof of key.
_PERMISSION: Final = frozenset({"READ_ONLY", "FORBIDDEN", "ACCOUNT_LOCKED"})
_RATE: Final = frozenset({"TOO_MANY_REQUESTS"})
_UNAVAILABLE: Final = frozenset({"TOO_BUSY"})
_TRANSIENT: Final = frozenset({"INTERNAL", "SERVER_ERROR"})
_TIMESTAMP: Final = frozenset({"REQUEST_EXPIRED"})
# A single order's: it is gone already (a bulk cancel with nothing open answers an empty list).
NOTHING_TO_CANCEL: Final = frozenset({"ORDER_NOT_FOUND", "ORDER_CLOSED", "ORDER_CANCELLED"})


def error_for(label: str, message: str, *, path: str, http_status: int) -> VenueError:
    """The taxonomy error for a Gate `label` (the label decides, never the message)."""
    text = f"{label}: {message[:160]} (on {path})"
    kw: dict[str, Any] = {"code": label, "http_status": http_status}
    if label in _PERMISSION:
        return MissingPermissionError(VENUE, text, **kw)
    if label in _AUTH:
        return AuthError(VENUE, text, **kw)
    if label in _RATE or http_status == 429:
        return RateLimitError(VENUE, text, **kw)
    if label in _UNAVAILABLE or http_status == 503:
        return UnavailableError(VENUE, text, **kw)
    if label in _TRANSIENT or http_status >= 500:
        return TransientError(VENUE, text, **kw)
    if label in _TIMESTAMP:
        # Our clock against Gate's, out of its 60 s window: a nonce-like refusal, fixed by the clock.
        return NonceError(VENUE, text, **kw)
    return RejectedError(VENUE, text, **kw)


def _label(payload: Any) -> tuple[str, str] | None:
    if isinstance(payload, dict) and isinstance(payload.get("label"), str) and payload["label"]:
        message = payload.get("message")
        return payload["label"], message if isinstance(message, str) else ""
    return None


def parse_response(resp: HttpResponse, path: str) -> Any:
    """The decoded answer of a 2xx, or the error it is."""
    payload = resp.json()
    if not 200 <= resp.status < 300:
        labelled = _label(payload)
        if labelled is not None:
            raise error_for(*labelled, path=path, http_status=resp.status)
        raise_for_generic_status(VENUE, resp, path)
        if resp.status == 401:
            raise AuthError(VENUE, f"HTTP 401 on {path}: {resp.text[:200]}", http_status=401)
        raise RejectedError(
            VENUE, f"HTTP {resp.status} on {path}: {resp.text[:200]}", http_status=resp.status
        )
    if payload is None:
        # A 200 we cannot read: whether the call took effect is unknown.
        raise TransientError(
            VENUE, f"unreadable answer on {path}: {resp.text[:200]}", http_status=resp.status
        )
    return payload


def trigger_ms(payload: Any, path: str) -> int:
    """`triggerTime` of a countdown answer, epoch ms: documented an int64, shown as a string in the
    example and an int in the SDK's model, so both are read; anything else is no proof of the timer."""
    raw = payload.get("triggerTime") if isinstance(payload, dict) else None
    if isinstance(raw, str) and raw.isascii() and raw.isdigit():
        return int(raw)
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    raise TransientError(VENUE, f"unreadable triggerTime on {path}: {payload!r:.200}")


def order_list(payload: Any, path: str) -> list[dict[str, Any]]:
    """An answer that must be a list of order objects (cancels and listings alike)."""
    if not isinstance(payload, list) or not all(isinstance(o, dict) for o in payload):
        raise TransientError(VENUE, f"unreadable order list on {path}: {payload!r:.200}")
    return payload


def order_id(order: dict[str, Any], path: str) -> str:
    raw = order.get("id")
    if isinstance(raw, bool) or not isinstance(raw, str | int) or str(raw) == "":
        raise TransientError(VENUE, f"an order without an id on {path}: {order!r:.200}")
    return str(raw)


def futures_order(order: dict[str, Any], path: str) -> OpenOrder:
    size = order.get("size")
    side = "buy" if isinstance(size, int | float) and size > 0 else "sell"
    contract = order.get("contract")
    if not isinstance(contract, str) or not contract:
        raise TransientError(VENUE, f"an order without a contract on {path}: {order!r:.200}")
    return OpenOrder(
        order_id=order_id(order, path),
        symbol=contract,
        side=side,
        price=str(order.get("price", "")),
        size=str(abs(size) if isinstance(size, int | float) else size),
    )


def spot_orders(payload: Any, path: str) -> list[OpenOrder]:
    """`GET /spot/open_orders`: one entry per pair, each with its orders."""
    orders: list[OpenOrder] = []
    for entry in order_list(payload, path):
        pair, listed = entry.get("currency_pair"), entry.get("orders")
        if not isinstance(pair, str) or not isinstance(listed, list):
            raise TransientError(VENUE, f"unreadable pair entry on {path}: {entry!r:.200}")
        for order in listed:
            if not isinstance(order, dict):
                raise TransientError(VENUE, f"unreadable order on {path}: {order!r:.200}")
            orders.append(
                OpenOrder(
                    order_id=order_id(order, path),
                    symbol=pair,
                    side=str(order.get("side", "")),
                    price=str(order.get("price", "")),
                    size=str(order.get("amount", "")),
                )
            )
    return orders
