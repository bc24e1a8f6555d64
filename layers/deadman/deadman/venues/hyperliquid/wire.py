"""Hyperliquid's wire facts and its answers: the venue's capabilities, URLs and asset ids, and each
answer (or error string) read into the taxonomy of `deadman.venues.errors`.

What the fleet signs with and why every action expires is the package's docstring
(`deadman.venues.hyperliquid`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from deadman.core.venue import Capabilities, TimerKind
from deadman.venues.errors import (
    AuthError,
    NonceError,
    RateLimitError,
    RejectedError,
    TransientError,
    VenueError,
    VolumeGateError,
)
from deadman.venues.http import HttpResponse, raise_for_generic_status

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

_JSON_HEADERS = {"Content-Type": "application/json"}


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
