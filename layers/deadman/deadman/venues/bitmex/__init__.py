"""BitMEX REST: `POST /api/v1/order/cancelAllAfter` as the venue timer, `DELETE /api/v1/order/all`
as the sweep.

One venue's whole contract - its secret's entry, signing, the timer, the sweep, every error it
answers with - is checked against the venue's documents as one unit: this package, read together.
`account` holds the secret's entry and its parsing; `wire` the capabilities, URLs and paths, the
signing and the answers read into the taxonomy; `client` the timer, the sweep and the open orders.
This module holds the spec, the doctor plan and the `DRIVER`, and re-exports the others' names.

Wire facts are in docs/venues.md (BitMEX). The timer belongs to the account ("cancel all your
orders"), counts `timeout` ms from when BitMEX's engine processes the call, and each call replaces
the last; 0 switches it off. Its answer is an object BitMEX does not document, so the client relies
on no time in it: it bounds where the timer stands from its own clock (the call was processed before
its answer came back).

The last call processed wins, and nothing orders them: `api-expires` is checked "before reaching
the trading engine. It cannot be used as a mechanism to cancel submission of an order that is
waiting in queue". So an extension still queued when a disarm lands re-arms the timer after it. The
client bounds how late a call may pass the gateway (`api-expires` within its own patience); the
queue behind it is the venue's, and the spec says so (`late_call_rearms`): the refresher repeats a
disarm's "timer off" at every tick, and a deferred disarm's timer is re-set at every tick anyway.
"""

from __future__ import annotations

from typing import Any

from deadman.core.venue import ClockSource, DoctorPlan, KeyCheck, Remark, VenueDriver, VenueSpec
from deadman.venues.adapter import Driver
from deadman.venues.bitmex.account import Account
from deadman.venues.bitmex.client import Client
from deadman.venues.bitmex.wire import (
    BASE_URLS,
    CAPABILITIES,
    EXPIRES_WITHIN_MS,
    PATH_CANCEL_AFTER,
    PATH_CANCEL_ALL,
    PATH_ORDERS,
    PATH_ROOT,
    VENUE,
    auth_headers,
    check_timer_answer,
    error_for,
    expires_for,
    parse_cancel,
    parse_orders,
    parse_response,
    sign,
)
from deadman.venues.entries import KillCredentials

__all__ = [
    "BASE_URLS",
    "CAPABILITIES",
    "DRIVER",
    "EXPIRES_WITHIN_MS",
    "PATH_CANCEL_AFTER",
    "PATH_CANCEL_ALL",
    "PATH_ORDERS",
    "PATH_ROOT",
    "SPEC",
    "VENUE",
    "Account",
    "Client",
    "KillCredentials",
    "auth_headers",
    "check_timer_answer",
    "error_for",
    "expires_for",
    "parse_cancel",
    "parse_orders",
    "parse_response",
    "sign",
]

SPEC = VenueSpec(
    name=VENUE,
    title="BitMEX",
    timer="cancelAllAfter",
    capabilities=CAPABILITIES,
    # `api-expires` is set at most 5 s ahead of our clock: BitMEX's clock ahead of ours by 4 s would
    # refuse some of our requests, behind it would let stragglers pass later.
    clock_window_ms=2_000,
    caveat=(
        "BitMEX's timer belongs to the account and the last cancelAllAfter it processes wins: the "
        "trading system must not call cancelAllAfter itself, and an extension queued at BitMEX can "
        "re-arm the timer after a disarm (the refresher repeats the disarm every tick)."
    ),
    doctor=(
        "clock skew against /api/v1 (its timestamp, else the HTTP Date header); the refresher key and "
        "the kill key authenticate with a read-only call (open orders, GET /api/v1/order), which does "
        "not move the timer"
    ),
)


def _server_time_ms(answer: Any) -> float | None:
    stamp = answer.get("timestamp") if isinstance(answer, dict) else None
    return float(stamp) if isinstance(stamp, int | float) and not isinstance(stamp, bool) else None


def _doctor_plan(account: Account) -> DoctorPlan:
    keys = [KeyCheck("refresher key", account)]
    remarks = [
        Remark(
            "INFO",
            "give the fleet its own orderCancel key (it can move the timer and cancel, never trade); "
            "the trading system must not call cancelAllAfter on this account",
        )
    ]
    if account.kill is None:
        remarks.append(Remark("WARN", "no kill key: kill shares the refresher key (and its rate limit)"))
    else:
        keys.append(KeyCheck("kill key", account.for_kill()))
    clock = ClockSource(
        "GET",
        account.base_url.rstrip("/") + PATH_ROOT,
        read_ms=_server_time_ms,
        source="/api/v1 timestamp, ms",
    )
    return DoctorPlan(clock=clock, keys=tuple(keys), remarks=tuple(remarks))


DRIVER: VenueDriver = Driver[Account](SPEC, Account, Client, _doctor_plan)
