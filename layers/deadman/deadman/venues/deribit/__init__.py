"""Deribit: no timer the fleet can hold; the watchdog and the kill sweep with `private/cancel_all`
over JSON-RPC on HTTP, authenticated with a client-credentials bearer token.

Deribit's own switch, cancel-on-disconnect, cancels "all orders created via this connection" when a
WebSocket closes (or, scope `account`, on every newly opened connection) - and "subscriptions and
cancel on disconnect are not supported via HTTP". A stateless fleet holds no connection, so the
venue's kind is `TimerKind.NONE`: the tick never extends or clears anything here, the watchdog
sweeps the book within its bound once the trader stops proving life, and kill sweeps it at once.
With the fleet gone nothing protects the book; a trader that holds its own WebSocket with
cancel-on-disconnect adds that switch for the orders it places on it (docs/venues.md, Deribit).

`account` holds the secret's entry and its parsing; `wire` the capabilities, URLs, methods, the
token's lifetime and the answers read into the taxonomy; `client` the sweep, the open orders and
the token kept per container. This module holds the spec, the doctor plan and the `DRIVER`.
"""

from __future__ import annotations

from typing import Any

from deadman.core.venue import ClockSource, DoctorPlan, KeyCheck, Remark, VenueDriver, VenueSpec
from deadman.venues.adapter import Driver
from deadman.venues.deribit.account import Account
from deadman.venues.deribit.client import TOKENS, Client, Token, TokenCache
from deadman.venues.deribit.wire import (
    AUTH,
    BASE_URLS,
    CANCEL_ALL,
    CAPABILITIES,
    OPEN_ORDER_TYPES,
    OPEN_ORDERS,
    REFRESH_MARGIN_MS,
    SESSION_SCOPE,
    TIME,
    VENUE,
    auth_body,
    decode,
    error_for,
    path,
    query_path,
    read_count,
    read_orders,
    read_token,
    usable_until_ms,
)

__all__ = [
    "AUTH",
    "BASE_URLS",
    "CANCEL_ALL",
    "CAPABILITIES",
    "DRIVER",
    "OPEN_ORDERS",
    "OPEN_ORDER_TYPES",
    "REFRESH_MARGIN_MS",
    "SESSION_SCOPE",
    "SPEC",
    "TIME",
    "TOKENS",
    "VENUE",
    "Account",
    "Client",
    "Token",
    "TokenCache",
    "auth_body",
    "decode",
    "error_for",
    "path",
    "query_path",
    "read_count",
    "read_orders",
    "read_token",
    "usable_until_ms",
]

SPEC = VenueSpec(
    name=VENUE,
    title="Deribit",
    timer="cancel-on-disconnect",
    capabilities=CAPABILITIES,
    # Nothing the fleet sends carries a time Deribit checks (a bearer token, its lifetime counted on
    # our own clock from the moment we asked for it): doctor still flags a clock this far off, as
    # every time the fleet reasons with would be.
    clock_window_ms=30_000,
    caveat=(
        "Deribit's own switch (cancel-on-disconnect) fires only when a WebSocket drops, so the fleet "
        "holds no timer there: resting orders are swept by the watchdog within its bound once the "
        "trader stops proving life, and by kill; with the fleet gone nothing protects the book. A "
        "trader holding its own WebSocket with cancel-on-disconnect adds that switch for its orders."
    ),
    doctor=(
        "clock skew against /api/v2/public/get_time; the refresher key and the kill key authenticate "
        "(public/auth, client credentials) and read the book with a read-only call (open orders)"
    ),
)


def _server_time_ms(answer: Any) -> float | None:
    stamp = answer.get("result") if isinstance(answer, dict) else None
    return float(stamp) if isinstance(stamp, int) and not isinstance(stamp, bool) else None


def _doctor_plan(account: Account) -> DoctorPlan:
    keys = [KeyCheck("refresher key", account)]
    remarks = [
        Remark(
            "INFO",
            "no venue timer: the watchdog's bound is the only one; give the fleet its own key with "
            "scope trade:read_write (a key sweeps only the (sub)account it belongs to)",
        )
    ]
    if account.kill is None:
        remarks.append(Remark("WARN", "no kill key: kill shares the refresher key (and its rate limit)"))
    else:
        keys.append(KeyCheck("kill key", account.for_kill()))
    clock = ClockSource(
        "GET",
        account.base_url.rstrip("/") + path(TIME),
        read_ms=_server_time_ms,
        source=f"/api/v2/{TIME}, ms",
    )
    return DoctorPlan(clock=clock, keys=tuple(keys), remarks=tuple(remarks))


DRIVER: VenueDriver = Driver[Account](SPEC, Account, Client, _doctor_plan)
