"""Bybit (v5 API): no timer a stateless fleet can hold, so the watchdog sweep and the kill only.

Bybit's own dead man's switch, Disconnection Protect, fires when a private WebSocket subscribed to
`dcp` stops its heartbeat; the REST call that sets its window (`disconnected-cancel-all`) starts
nothing without that WebSocket, so deadman never presents it as a timer (TimerKind.NONE).

`account` holds the secret's entry and its parsing; `wire` the capabilities, paths, signature and
errors; `client` the sweep and the listing. This module holds the spec, the doctor plan and the
`DRIVER`. Wire facts are in docs/venues.md (Bybit).
"""

from __future__ import annotations

from typing import Any

from deadman.core.venue import ClockSource, DoctorPlan, KeyCheck, Remark, VenueDriver, VenueSpec
from deadman.venues.adapter import Driver
from deadman.venues.bybit.account import Account
from deadman.venues.bybit.client import Client
from deadman.venues.bybit.wire import (
    CAPABILITIES,
    PATH_TIME,
    VENUE,
    auth_headers,
    error_for,
    sign,
    signature_string,
)

__all__ = [
    "CAPABILITIES",
    "DRIVER",
    "SPEC",
    "VENUE",
    "Account",
    "Client",
    "auth_headers",
    "error_for",
    "sign",
    "signature_string",
]

SPEC = VenueSpec(
    name=VENUE,
    title="Bybit",
    timer="no timer (watchdog only)",
    capabilities=CAPABILITIES,
    # Bybit takes a timestamp in [server - recv_window, server + 1 s): a clock ahead by more than a
    # second is refused, so doctor fails one off by more than that margin.
    clock_window_ms=1_000,
    caveat=(
        "Bybit has no timer a stateless fleet can hold: its Disconnection Protect fires only when a "
        "private WebSocket drops. The bound is the watchdog's alone; with the fleet gone nothing "
        "protects the book. A trading system that holds its own private WebSocket subscribed to dcp "
        "adds Bybit's own cancel on its disconnection (asked of the account manager)."
    ),
    doctor=(
        "clock skew against /v5/market/time (Bybit refuses a timestamp more than 1 s ahead or 5 s "
        "behind); the refresher key and the kill key authenticate with a read-only call (open orders of "
        "every category named)"
    ),
)


def _server_time_ms(answer: Any) -> float:
    return float(answer["time"])


def _doctor_plan(account: Account) -> DoctorPlan:
    keys = [KeyCheck("refresher key", account)]
    remarks = [
        Remark("INFO", f"swept categories: {', '.join(account.categories)}; each needs the trade permission"),
        Remark("WARN", "no venue timer: with the fleet gone nothing cancels this account's orders"),
    ]
    if account.kill is None:
        remarks.append(Remark("WARN", "no kill key: kill shares the refresher key (its rate limits too)"))
    else:
        keys.append(KeyCheck("kill key", account.for_kill()))
    clock = ClockSource(
        "GET", account.base_url.rstrip("/") + PATH_TIME, read_ms=_server_time_ms, source=f"{PATH_TIME}, ms"
    )
    return DoctorPlan(clock=clock, keys=tuple(keys), remarks=tuple(remarks))


DRIVER: VenueDriver = Driver[Account](SPEC, Account, Client, _doctor_plan)
