"""OKX on the wire: the capabilities, the paths, the signature, the timer's answer, and every answer
read into the error taxonomy (docs/venues.md, OKX).

Every answer is `{"code": "0", "msg": "", "data": [...]}`; a `code` other than "0" is the venue's
refusal, whatever the HTTP status, and wins over it. A 200 we cannot read is an unknown outcome
(`TransientError`), never "timer set" or "nothing open".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from deadman.core.venue import Capabilities, TimerKind
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

VENUE = "okx"
DEFAULT_BASE_URL = "https://www.okx.com"
# "Range of value can be 0, [10, 120]" (cancel-all-after).
MIN_TIMEOUT_S = 10
MAX_TIMEOUT_S = 120
WHOLE_SECOND_MS = 1_000
# The venue's `ts` (when it received the request) must fall within this of our send and answer times:
# OKX refuses a request stamped further off (50102; 30 s, the window its WebSocket login states).
CLOCK_TOLERANCE_MS = 30_000
# A timestamp this large is epoch ms; smaller, epoch seconds (the doc's example has 10 digits).
MS_FROM = 10**12

CAPABILITIES = Capabilities(
    venue=VENUE,
    timer_kind=TimerKind.RELATIVE_SECONDS,
    can_disarm=True,
    min_lead_ms=MIN_TIMEOUT_S * 1_000,
    # The venue's 120 s cap is kept by the client (a shorter timeout fires earlier, never later): the
    # template's S, T and G reach past it, and a capability here would refuse the template
    # (docs/venues.md, OKX: the cap).
    max_timeout_ms=None,
    fixed_timeout_ms=None,
    daily_trigger_budget=None,
    sweep_lists_first=True,
    draws_nonces=False,  # a timestamp window, no nonce counter
)

PATH_CANCEL_AFTER = "/api/v5/trade/cancel-all-after"
PATH_PENDING = "/api/v5/trade/orders-pending"
PATH_CANCEL_BATCH = "/api/v5/trade/cancel-batch-orders"
PATH_ALGO_PENDING = "/api/v5/trade/orders-algo-pending"
PATH_CANCEL_ALGOS = "/api/v5/trade/cancel-algos"
PATH_TIME = "/api/v5/public/time"
PAGE_LIMIT = 100
CANCEL_BATCH = 20
ALGO_BATCH = 10
# `ordType` is required on the algo list; only conditional and oco may be combined.
ALGO_TYPES = ("conditional,oco", "trigger", "move_order_stop", "iceberg", "twap", "chase")
# Per item: "filled, canceled or does not exist", "already being cancelled": nothing left to cancel.
NOTHING_TO_CANCEL = frozenset({"51400", "51410"})


# -- signing ----------------------------------------------------------------------------------------


def timestamp(ms: int) -> str:
    """OK-ACCESS-TIMESTAMP: ISO-8601 UTC with milliseconds, '2020-12-08T09:08:57.715Z'."""
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def sign(stamp: str, method: str, request_path: str, body: str, secret: str) -> str:
    """OK-ACCESS-SIGN = base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath + body)): the
    query string is part of a GET's requestPath, a POST's body its exact JSON text."""
    message = f"{stamp}{method.upper()}{request_path}{body}".encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


# -- errors -----------------------------------------------------------------------------------------

_AUTH = frozenset(
    {"50100", "50101", "50103", "50104", "50105", "50106", "50107", "50110", "50111", "50113", "50114"}
)
_PERMISSION = frozenset({"50030", "50120", "50121"})
_RATE = frozenset({"50011", "50013", "50061"})
_UNAVAILABLE = frozenset({"50001"})
# The outcome is not known: "does not mean that the request was successful or failed" (50004).
_TRANSIENT = frozenset({"50004", "50026"})
# The request's timestamp is outside the venue's window, or unreadable: our clock, not the key.
_CLOCK = frozenset({"50102", "50112"})


def error_for(code: str, msg: str, *, path: str, http_status: int | None = None) -> VenueError:
    message = f"{msg or 'no message'} (on {path})"
    kw: dict[str, Any] = {"code": code, "http_status": http_status}
    if code in _CLOCK:
        return NonceError(VENUE, message, **kw)
    if code in _PERMISSION:
        return MissingPermissionError(VENUE, message, **kw)
    if code in _AUTH:
        return AuthError(VENUE, message, **kw)
    if code in _RATE:
        return RateLimitError(VENUE, message, **kw)
    if code in _UNAVAILABLE:
        return UnavailableError(VENUE, message, **kw)
    if code in _TRANSIENT:
        return TransientError(VENUE, message, **kw)
    return RejectedError(VENUE, message, **kw)


def unreadable(what: str, path: str, value: Any) -> TransientError:
    return TransientError(VENUE, f"unreadable {what} on {path}: {value!r:.200}")


def decode(resp: HttpResponse, path: str) -> tuple[str, list[Any]]:
    """The envelope's `code` and `data`. A top-level refusal raises; "2" (a batch partly done) and
    "1" (a batch wholly refused) come back with their per-item answers for the caller to read."""
    payload = resp.json()
    code = payload.get("code") if isinstance(payload, Mapping) else None
    if isinstance(code, str) and code not in ("0", "1", "2"):
        raise error_for(code, str(payload.get("msg", ""))[:200], path=path, http_status=resp.status)
    raise_for_generic_status(VENUE, resp, path)
    if not 200 <= resp.status < 300:
        raise RejectedError(
            VENUE, f"HTTP {resp.status} on {path}: {resp.text[:200]}", http_status=resp.status
        )
    data = payload.get("data") if isinstance(payload, Mapping) else None
    if not isinstance(code, str) or not isinstance(data, list):
        raise unreadable("answer", path, resp.text[:200])
    if code == "1" and not data:
        raise RejectedError(VENUE, f"{payload.get('msg', '')!s:.200} (on {path})", code="1")
    return code, data


# -- the timer's answer -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stamp:
    """A venue time read by its magnitude: epoch ms, or epoch seconds (then it may be up to 999 ms
    later than `ms`)."""

    ms: int
    whole_seconds: bool

    @property
    def latest_ms(self) -> int:
        return self.ms + (WHOLE_SECOND_MS - 1 if self.whole_seconds else 0)


def read_stamp(raw: Any) -> Stamp | None:
    if not isinstance(raw, str) or not raw.isdigit():
        return None
    value = int(raw)
    if value >= MS_FROM:
        return Stamp(value, False)
    return Stamp(value * 1000, True)


def check_timer(
    row: Any, *, tag: str, timeout_s: int, sent_ms: int, answered_ms: int, path: str
) -> Stamp | None:
    """The trigger time of one answer to cancel-all-after (None: switched off), checked against what
    was sent and when. Whatever unit the venue's times are in (unverified: the doc's example is in
    seconds, OKX's other times are ms), an answer that is not this request's - another tag's, a
    trigger not `timeout_s` after its receipt, a receipt outside our send and answer times - is an
    unknown outcome, never a timer set."""
    if not isinstance(row, Mapping):
        raise unreadable("timer answer", path, row)
    said_tag = row.get("tag", "")
    if (said_tag or "") != tag:
        raise unreadable(f"timer answer (tag {tag!r} asked)", path, row)
    received = read_stamp(row.get("ts"))
    if received is None:
        raise unreadable("timer answer", path, row)
    slack = WHOLE_SECOND_MS if received.whole_seconds else 0
    if not sent_ms - CLOCK_TOLERANCE_MS - slack <= received.ms <= answered_ms + CLOCK_TOLERANCE_MS:
        raise unreadable("timer answer (received outside our send and answer times)", path, row)
    if row.get("triggerTime") == "0":
        if timeout_s:
            raise unreadable(f"timer answer (switched off, {timeout_s} s asked)", path, row)
        return None
    trigger = read_stamp(row.get("triggerTime"))
    if trigger is None or timeout_s == 0:
        raise unreadable("timer answer", path, row)
    lead = trigger.ms - received.ms
    rounding = WHOLE_SECOND_MS if trigger.whole_seconds or received.whole_seconds else 0
    if abs(lead - timeout_s * 1000) > rounding:
        raise unreadable(f"timer answer (not {timeout_s} s after its receipt)", path, row)
    return trigger
