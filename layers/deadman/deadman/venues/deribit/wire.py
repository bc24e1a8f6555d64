"""Deribit on the wire: the capabilities, URLs and methods, the requests (JSON-RPC over HTTP), the
token's lifetime, and every answer read into the error taxonomy (docs/venues.md, Deribit).

Every answer is a JSON-RPC 2.0 object: `result` on success, `error {code, message, data}` on a
refusal, whatever the HTTP status (the code in the body wins over it). A 2xx we cannot read is an
unknown outcome (`TransientError`), never "cancelled" or "nothing open".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from deadman.core.venue import Capabilities, OpenOrder, TimerKind
from deadman.venues.errors import (
    AuthError,
    MissingPermissionError,
    RateLimitError,
    RejectedError,
    TransientError,
    UnavailableError,
    VenueError,
)
from deadman.venues.http import HttpResponse, raise_for_generic_status

VENUE = "deribit"

CAPABILITIES = Capabilities(
    venue=VENUE,
    # Deribit's own switch (cancel-on-disconnect) fires when a WebSocket drops, and "subscriptions
    # and cancel on disconnect are not supported via HTTP": nothing a stateless fleet sends holds it.
    timer_kind=TimerKind.NONE,
    can_disarm=False,
    min_lead_ms=0,
    max_timeout_ms=None,
    fixed_timeout_ms=None,
    daily_trigger_budget=None,
    draws_nonces=False,  # a bearer token, no nonce counter
)

BASE_URLS: dict[str, str] = {
    "production": "https://www.deribit.com",
    "testnet": "https://test.deribit.com",
}
API = "/api/v2/"
AUTH = "public/auth"
CANCEL_ALL = "private/cancel_all"
OPEN_ORDERS = "private/get_open_orders"
TIME = "public/get_time"
# `type=all` lists orders resting in the book; whether it also lists untriggered trigger orders is
# unverified, so the book is read with both (an order in both lists is counted once).
OPEN_ORDER_TYPES = ("all", "trigger_all")
# The token is bound to a named session rather than to one connection: over HTTP every request may
# open a connection of its own, and a connection-scoped token "can't be reused for other
# connections" (13009). One name for every container signing with the key: one session of the 16 a
# key may hold.
SESSION_SCOPE = "session:deadman"
# A token is used only while more than this is left of its lifetime (our clock, counted from the
# moment the auth request left): renewed before Deribit could refuse it, whatever a slow answer or a
# clock a little off took from it. Never more than half a short lifetime.
REFRESH_MARGIN_MS = 60_000


def path(method: str) -> str:
    return API + method


def query_path(method: str, params: Mapping[str, str] | None = None) -> str:
    """A GET's path and query, in the order given (the params are ours, never a secret)."""
    return path(method) + (f"?{urlencode(list(params.items()))}" if params else "")


def auth_body(client_id: str, client_secret: str, request_id: int) -> bytes:
    """The `public/auth` request (client credentials), as a JSON-RPC body: in a POST's body, never a
    URL's query, so that no access log along the way holds the secret."""
    message = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": AUTH,
        "params": {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": SESSION_SCOPE,
        },
    }
    return json.dumps(message, separators=(",", ":")).encode()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def usable_until_ms(sent_ms: int, expires_in_s: int) -> int:
    """The last moment (our clock) a token got at `sent_ms` is used: its lifetime counted from the
    request's leaving (the venue counts from later), less the refresh margin."""
    lifetime = expires_in_s * 1000
    return sent_ms + lifetime - min(REFRESH_MARGIN_MS, lifetime // 2)


# -- errors -----------------------------------------------------------------------------------------

# "Wrong or expired authorization token or bad signature": the token is dropped and got once more.
TOKEN_REFUSED = frozenset({13009})
_AUTH = frozenset(
    {
        9999,  # api_not_enabled
        10000,  # authorization_required
        13000,  # invalid_login
        13001,  # account_not_activated
        13002,  # account_blocked
        13004,  # invalid_credentials
        13007,  # user_not_found
        13009,  # unauthorized
    }
)
# The key authenticated, but its scopes do not reach the method (a trade:read key asked to cancel).
_PERMISSION = frozenset({13021, 13403, 11042, 13012})
_RATE = frozenset({10028, 10047})  # too_many_requests, matching_engine_queue_full
_UNAVAILABLE = frozenset({11051, 13028, 10041, 13025})  # maintenance, unavailable, settlement, off
_TRANSIENT = frozenset({10040, 13888, 11094, 10001})  # retry, timed_out, internal, error


def error_for(code: int, message: str, *, method: str, http_status: int | None = None) -> VenueError:
    text = f"{message or 'no message'} (on {method})"
    kw: dict[str, Any] = {"code": str(code), "http_status": http_status}
    if code in _PERMISSION:
        return MissingPermissionError(VENUE, text, **kw)
    if code in _AUTH:
        return AuthError(VENUE, text, **kw)
    if code in _RATE:
        return RateLimitError(VENUE, text, **kw)
    if code in _UNAVAILABLE:
        return UnavailableError(VENUE, text, **kw)
    if code in _TRANSIENT:
        return TransientError(VENUE, text, **kw)
    return RejectedError(VENUE, text, **kw)


def unreadable(what: str, method: str, value: Any) -> TransientError:
    return TransientError(VENUE, f"unreadable {what} on {method}: {value!r:.200}")


def decode(resp: HttpResponse, method: str) -> Any:
    """The answer's `result`, or raise. The error's `message` and `data.reason` are the venue's words;
    an auth answer's body is never quoted (it is the token, or about the secret)."""
    payload = resp.json()
    error = payload.get("error") if isinstance(payload, Mapping) else None
    if isinstance(error, Mapping):
        code = error.get("code")
        if isinstance(code, int) and not isinstance(code, bool):
            data = error.get("data")
            # An auth refusal's details stay out: only the code and Deribit's short message say it.
            reason = data.get("reason") if isinstance(data, Mapping) and method != AUTH else None
            message = str(error.get("message", ""))[:120] + (f": {str(reason)[:80]}" if reason else "")
            raise error_for(code, message, method=method, http_status=resp.status)
    raise_for_generic_status(VENUE, resp, path(method))
    if not 200 <= resp.status < 300:
        snippet = "" if method == AUTH else f": {resp.text[:200]}"
        raise RejectedError(VENUE, f"HTTP {resp.status} on {method}{snippet}", http_status=resp.status)
    if not isinstance(payload, Mapping) or "result" not in payload:
        raise unreadable("answer", method, "<hidden>" if method == AUTH else resp.text[:200])
    return payload["result"]


def read_token(result: Any) -> tuple[str, int]:
    """The access token and its lifetime in seconds from `public/auth`'s result. Never quoted in an
    error: the answer is the credential."""
    token = result.get("access_token") if isinstance(result, Mapping) else None
    expires = result.get("expires_in") if isinstance(result, Mapping) else None
    kind = result.get("token_type") if isinstance(result, Mapping) else None
    if not isinstance(token, str) or not token or any(c.isspace() for c in token):
        raise TransientError(VENUE, f"unreadable answer on {AUTH}: no usable access_token")
    if isinstance(expires, bool) or not isinstance(expires, int) or expires <= 0:
        raise TransientError(VENUE, f"unreadable answer on {AUTH}: no usable expires_in")
    if kind is not None and str(kind).lower() != "bearer":
        raise TransientError(VENUE, f"unreadable answer on {AUTH}: token_type {str(kind)[:20]!r}")
    return token, expires


def read_count(result: Any) -> int:
    """`cancel_all`'s result: "Total number of successfully cancelled orders" (0: nothing open)."""
    if isinstance(result, bool) or not isinstance(result, int) or result < 0:
        raise unreadable("cancel count", CANCEL_ALL, result)
    return result


def read_orders(result: Any) -> list[OpenOrder]:
    if not isinstance(result, list):
        raise unreadable("order list", OPEN_ORDERS, result)
    orders = []
    for row in result:
        order_id = row.get("order_id") if isinstance(row, Mapping) else None
        if not isinstance(order_id, str) or not order_id:
            raise unreadable("order entry", OPEN_ORDERS, row)
        price = row.get("price")
        if price in (None, "market_price"):
            price = row.get("trigger_price", price)
        orders.append(
            OpenOrder(
                order_id=order_id,
                symbol=str(row.get("instrument_name", "")),
                side=str(row.get("direction", "")),
                price=str(price if price is not None else ""),
                size=str(row.get("amount", "")),
            )
        )
    return orders
