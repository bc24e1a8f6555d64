"""Gemini's wire: the venue's capabilities, URLs and paths, how a request is signed, and each answer
(or error body) read into the taxonomy of `deadman.venues.errors`.

Key types, nonces and what the heartbeat protects are the package's docstring
(`deadman.venues.gemini`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any, cast

from deadman.core.venue import Capabilities, OpenOrder, OrderFailure, SweepResult, TimerKind
from deadman.venues.errors import (
    AuthError,
    NonceError,
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
    later_nonce_fences=True,
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
