"""Gate APIv4: `countdown_cancel_all` of each market as the venue timer (spot, and perpetual futures
per settle currency), the markets' cancel-alls as the sweep.

One venue's whole contract - the secret's entry and its markets, signing, the timers with their read
back, the sweep, every error it answers with - is checked against the venue's documents as one unit:
this package, read together. `account` holds the secret's entry; `wire` the capabilities, paths,
signing and the venue's answers read into the taxonomy; `client` the timers and the sweep. This module
holds the spec, the doctor plan and the `DRIVER`, and re-exports the others' names.

Wire facts are in docs/venues.md (Gate). Each market's timer is relative (whole seconds from the
request's arrival, at least 5 s; 0 switches it off) and answers when it fires, in ms; the account is
extended only when every market's timer is, so its native bound is its worst market's.
"""

from __future__ import annotations

from typing import Any

from deadman.core.venue import ClockSource, DoctorPlan, KeyCheck, Remark, VenueDriver, VenueSpec
from deadman.venues.adapter import Driver
from deadman.venues.entries import KillCredentials
from deadman.venues.gate.account import Account
from deadman.venues.gate.client import Client
from deadman.venues.gate.wire import (
    BASE_URLS,
    CAPABILITIES,
    EMPTY_BODY_SHA512,
    MARKETS,
    MIN_TIMEOUT_S,
    PREFIX,
    TIMESTAMP_WINDOW_MS,
    VENUE,
    auth_headers,
    countdown_path,
    encode_body,
    encode_query,
    error_for,
    market_root,
    parse_response,
    sign,
    signature_string,
    trigger_ms,
)

__all__ = [
    "BASE_URLS",
    "CAPABILITIES",
    "DRIVER",
    "EMPTY_BODY_SHA512",
    "MARKETS",
    "MIN_TIMEOUT_S",
    "PREFIX",
    "SPEC",
    "TIMESTAMP_WINDOW_MS",
    "VENUE",
    "Account",
    "Client",
    "KillCredentials",
    "auth_headers",
    "countdown_path",
    "encode_body",
    "encode_query",
    "error_for",
    "market_root",
    "parse_response",
    "sign",
    "signature_string",
    "trigger_ms",
]

SPEC = VenueSpec(
    name=VENUE,
    title="Gate",
    timer="countdown_cancel_all",
    capabilities=CAPABILITIES,
    clock_window_ms=TIMESTAMP_WINDOW_MS - 10_000,  # a Timestamp more than 60 s off is refused
    caveat=(
        "Gate keeps one countdown per market (spot, futures:usdt, futures:btc) and, where the secret "
        "names pairs, per pair: orders on a pair not named rest on the watchdog alone, and no timer can "
        "be set for less than 5 s."
    ),
    doctor=(
        "clock skew against /api/v4/spot/time (Gate refuses a Timestamp more than 60 s off); the "
        "refresher key and the kill key authenticate with a read-only call (open orders of every market "
        "named); markets narrowed to pairs and a missing kill key are remarked on"
    ),
)


def _server_time_ms(answer: Any) -> float:
    return float(answer["server_time"])


def _doctor_plan(account: Account) -> DoctorPlan:
    keys = [KeyCheck("refresher key", account)]
    remarks = [Remark("INFO", f"timers kept on: {', '.join(account.markets)}; each needs read-write")]
    for market, pairs in account.pairs.items():
        detail = (
            f"{market}: the timer covers only {', '.join(pairs)}; orders on any other pair of this market "
            "are swept by the watchdog, but the venue's own timer does not reach them"
        )
        remarks.append(Remark("WARN", detail))
    if account.kill is None:
        remarks.append(Remark("WARN", "no kill key: kill shares the refresher key (its rate limits too)"))
    else:
        keys.append(KeyCheck("kill key", account.for_kill()))
    clock = ClockSource(
        "GET",
        account.base_url.rstrip("/") + f"{PREFIX}/spot/time",
        read_ms=_server_time_ms,
        source=f"{PREFIX}/spot/time, ms",
    )
    return DoctorPlan(clock=clock, keys=tuple(keys), remarks=tuple(remarks))


DRIVER: VenueDriver = Driver[Account](SPEC, Account, Client, _doctor_plan)
