"""Binance USD-M and COIN-M futures: `countdownCancelAll` per listed symbol as the venue timer, and a
sweep (list the book, then `allOpenOrders` and, on USD-M, `algoOpenOrders` per symbol) by the watchdog.

One venue's whole contract is this package, read together: `wire` holds the markets, paths, signing
and the venue's answers read into the taxonomy; `account` the secret's entry; `client` the countdowns
and the sweep. This module holds the spec, the doctor plan and the `DRIVER`.

Wire facts are in docs/venues.md (Binance). The countdown is per (account, symbol): only the symbols
an account lists have a native timer; orders on any other symbol are the watchdog's alone, and the
sweep covers them because it lists the whole book first. Every countdown call costs 10 of the IP's
request weight (the budget is per IP, shared with whatever else sends from it).
"""

from __future__ import annotations

from typing import Any

from deadman.core.venue import ClockSource, DoctorPlan, KeyCheck, Remark, VenueDriver, VenueSpec
from deadman.venues.adapter import Driver
from deadman.venues.binance.account import Account
from deadman.venues.binance.client import Client
from deadman.venues.binance.wire import (
    CAPABILITIES,
    COUNTDOWN_WEIGHT,
    MARKETS,
    RECV_WINDOW_MS,
    TIME,
    VENUE,
    error_for,
    parse_response,
    sign,
    signed_params,
)
from deadman.venues.entries import KillCredentials

__all__ = [
    "CAPABILITIES",
    "DRIVER",
    "MARKETS",
    "RECV_WINDOW_MS",
    "SPEC",
    "VENUE",
    "Account",
    "Client",
    "KillCredentials",
    "error_for",
    "parse_response",
    "sign",
    "signed_params",
]

SPEC = VenueSpec(
    name=VENUE,
    title="Binance",
    timer="countdownCancelAll",
    capabilities=CAPABILITIES,
    # Binance refuses a timestamp more than 1 s ahead of its clock (-1021); a clock behind it eats
    # into the recvWindow. Doctor fails anything past most of that second.
    clock_window_ms=800,
    caveat=(
        "Binance's countdown is per symbol: only the symbols an account lists in `symbols` have a "
        "venue timer; orders on any other symbol are swept by the watchdog alone (no native bound). "
        "Each listed symbol costs 10 request weight a tick against the IP's budget. A symbol taken "
        "out of `symbols` keeps its last countdown, which fires once: disarm before editing the list."
    ),
    doctor=(
        "clock skew against /fapi/v1/time or /dapi/v1/time (Binance refuses timestamps 1 s ahead); "
        "the refresher key and the kill key authenticate with a read-only call (openOrders); which "
        "symbols have a countdown and which are watchdog-only"
    ),
)


def _server_time_ms(answer: Any) -> float:
    return float(answer["serverTime"])


def _doctor_plan(account: Account) -> DoctorPlan:
    keys = [KeyCheck("refresher key", account)]
    listed = ", ".join(account.symbols)
    per_minute = len(account.symbols) * COUNTDOWN_WEIGHT * 6
    remarks = [
        Remark(
            "INFO", f"native countdown on {listed}; every other symbol is watchdog-only (swept, never timed)"
        ),
        Remark(
            "INFO", f"countdowns cost about {per_minute} request weight a minute at a 10 s tick (IP budget)"
        ),
    ]
    if account.kill is None:
        remarks.append(Remark("INFO", "no kill key: kill shares the refresher key"))
    else:
        keys.append(KeyCheck("kill key", account.for_kill()))
    clock = ClockSource(
        "GET",
        account.base_url.rstrip("/") + account.market.path(TIME),
        read_ms=_server_time_ms,
        source=f"{account.market.path(TIME)}, ms",
    )
    return DoctorPlan(clock=clock, keys=tuple(keys), remarks=tuple(remarks))


DRIVER: VenueDriver = Driver[Account](SPEC, Account, Client, _doctor_plan)
