"""BitMEX's wire: the venue's capabilities, URLs and paths, how a request is signed, and each answer
(or error body) read into the taxonomy of `deadman.venues.errors`.

What the timer does and why its deadline is bounded from our own clock is the package's docstring
(`deadman.venues.bitmex`); the wire facts and their sources are in docs/venues.md (BitMEX).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from deadman.core.venue import Capabilities, OpenOrder, OrderFailure, SweepResult, TimerKind
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

VENUE = "bitmex"

CAPABILITIES = Capabilities(
    venue=VENUE,
    timer_kind=TimerKind.RELATIVE_MS,
    can_disarm=True,
    # No minimum or maximum is documented (docs/venues.md): the client never sends less than this,
    # so that a timeout it computes can never read as 0 (which switches the timer off).
    min_lead_ms=1_000,
    max_timeout_ms=None,
    fixed_timeout_ms=None,
    daily_trigger_budget=None,
    late_call_rearms=True,
    draws_nonces=False,  # a timestamp window, no nonce counter
)

BASE_URLS: dict[str, str] = {
    "production": "https://www.bitmex.com",
    "testnet": "https://testnet.bitmex.com",
}

PATH_CANCEL_AFTER = "/api/v1/order/cancelAllAfter"
PATH_CANCEL_ALL = "/api/v1/order/all"
PATH_ORDERS = "/api/v1/order"
PATH_ROOT = "/api/v1"

# A request is valid until `api-expires` (whole seconds, BitMEX's clock). The client sets it so that
# BitMEX refuses the request once it is more than this long on its way from the moment it was signed
# (its connect + read timeouts): a straggler the client gave up on cannot pass the gateway later.
EXPIRES_WITHIN_MS = 5_000


# -- signing ----------------------------------------------------------------------------------------


def sign(secret: str, verb: str, path: str, expires: int, data: bytes) -> str:
    """api-signature = hex(HMAC_SHA256(secret, verb + path + expires + data)): `path` from `/api/v1`
    with its query exactly as sent, `data` the raw body ("" without one); the secret's UTF-8 bytes."""
    message = verb.encode() + path.encode() + str(expires).encode() + data
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def expires_for(now_ms: int) -> int:
    """Whole seconds, cut so that "valid until the end of that second" ends within
    EXPIRES_WITHIN_MS of `now_ms`: an integer, as BitMEX wants (a float is refused)."""
    return (now_ms + EXPIRES_WITHIN_MS) // 1000 - 1


def auth_headers(api_key: str, expires: int, signature: str) -> dict[str, str]:
    return {"api-expires": str(expires), "api-key": api_key, "api-signature": signature}


# -- answers and errors -----------------------------------------------------------------------------


def error_for(resp: HttpResponse, path: str) -> VenueError | None:
    """The taxonomy error for a BitMEX answer that is not a success, or None for a 2xx.

    Error bodies are `{"error": {"message": ..., "name": ...}}`; the status says the class, except an
    expired request (reported with 400, status UNVERIFIED: its message is what is read)."""
    if 200 <= resp.status < 300:
        return None
    message, name = _error_text(resp)
    text = f"HTTP {resp.status} on {path}: {message or resp.text[:200]}"
    kw: dict[str, Any] = {"code": name or str(resp.status), "http_status": resp.status}
    lowered = message.lower()
    if "expired" in lowered or "expires" in lowered:
        # Our clock, or the time in transit, past the request's own validity: the nonce-window class.
        kw["code"] = "expired"
        return NonceError(VENUE, text, **kw)
    if resp.status == 401:
        return AuthError(VENUE, text, **kw)
    if resp.status == 403:
        if "permission" in lowered or "access denied" in lowered:
            # The key authenticated and lacks the permission (an orderCancel key asked for more).
            return MissingPermissionError(VENUE, text, **kw)
        return AuthError(VENUE, text, **kw)  # a disabled key, an address not allowed
    if resp.status == 429:
        return RateLimitError(VENUE, text, **kw)
    if resp.status == 503:
        # Load shedding or downtime: the venue refuses service as a whole for now.
        return UnavailableError(VENUE, text, **kw)
    if resp.status >= 500:
        return TransientError(VENUE, text, **kw)
    return RejectedError(VENUE, text, **kw)  # 400 Parameter Error, 404, ...


def _error_text(resp: HttpResponse) -> tuple[str, str]:
    payload = resp.json()
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        message, name = error.get("message"), error.get("name")
        return (message if isinstance(message, str) else ""), (name if isinstance(name, str) else "")
    return "", ""


def parse_response(resp: HttpResponse, path: str) -> Any:
    """The decoded answer of a success, or raise. A 2xx whose body is not JSON, or carries an error,
    is no proof that the call took effect: an unknown outcome (`TransientError`)."""
    err = error_for(resp, path)
    if err is not None:
        raise err
    raise_for_generic_status(VENUE, resp, path)
    payload = resp.json()
    if payload is None or (isinstance(payload, dict) and "error" in payload):
        raise TransientError(
            VENUE, f"unreadable answer on {path}: {resp.text[:200]}", http_status=resp.status
        )
    return payload


def check_timer_answer(payload: Any) -> None:
    """cancelAllAfter answers an object whose fields BitMEX does not document (reportedly `now` and
    `cancelTime`): only its shape is read, never a time, so an answer without a trigger time is as
    good as one with it (the deadline is bounded from our own clock, `Client.extend`)."""
    if not isinstance(payload, dict):
        raise TransientError(VENUE, f"unreadable answer on {PATH_CANCEL_AFTER}: {payload!r:.200}")


def parse_cancel(payload: Any) -> SweepResult:
    """`DELETE /order/all` answers the orders it acted on: each `Canceled`, or failed with its reason
    (an order already filled, say). An empty array: nothing was open."""
    if not isinstance(payload, list) or not all(isinstance(o, dict) for o in payload):
        raise TransientError(VENUE, f"unreadable answer on {PATH_CANCEL_ALL}: {payload!r:.200}")
    cancelled: list[str] = []
    failed: list[OrderFailure] = []
    for order in payload:
        order_id = order.get("orderID")
        if not isinstance(order_id, str) or not order_id:
            raise TransientError(VENUE, f"an order without its orderID on {PATH_CANCEL_ALL}: {order!r:.200}")
        status = order.get("ordStatus")
        if status == "Canceled":
            cancelled.append(order_id)
        else:
            reason = order.get("error") or f"ordStatus {status!r}"
            failed.append(OrderFailure(order_id, str(reason)[:200]))
    return SweepResult(
        cancelled_count=len(cancelled),
        cancelled_ids=tuple(cancelled),
        failed=tuple(failed),
        detail=f"order/all cancelled={len(cancelled)} failed={len(failed)}",
    )


def parse_orders(payload: Any) -> list[OpenOrder]:
    if not isinstance(payload, list) or not all(isinstance(o, dict) for o in payload):
        raise TransientError(VENUE, f"unreadable answer on {PATH_ORDERS}: {payload!r:.200}")
    orders = []
    for order in payload:
        order_id = order.get("orderID")
        if not isinstance(order_id, str) or not order_id:
            raise TransientError(VENUE, f"an order without its orderID on {PATH_ORDERS}: {order!r:.200}")
        orders.append(
            OpenOrder(
                order_id=order_id,
                symbol=str(order.get("symbol", "")),
                side=str(order.get("side", "")),
                price=str(order.get("price", "")),
                size=str(order.get("leavesQty", order.get("orderQty", ""))),
            )
        )
    return orders
