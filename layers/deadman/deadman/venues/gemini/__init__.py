"""Gemini REST v1: the key's "Require Heartbeat" flag as the venue timer, cancel/session (or
cancel/all) as the sweep.

One venue's whole contract - key types and their nonces, signing, the heartbeat, the sweep, every
error it answers with - is checked against the venue's documents as one unit: this package, read
together. `account` holds the secret's entry and its parsing (key types, nonce modes, the kill and
the retiring key); `wire` the capabilities, URLs and paths, the signing, and the venue's answers
and errors read into the taxonomy; `client` the heartbeat, the sweep and the nonce draw. This
module holds the spec, the doctor plan and the `DRIVER`, and re-exports the names of the others
(`gemini.sign`, `gemini.encode_payload`, `gemini.Account`, `gemini.Client`, ...).

Wire facts are in docs/venues.md (Gemini). Gemini cancels every order a session (= API key) placed when
that key has sent no authenticated request for 30 s. The flag is set when the key is provisioned and
no API call clears it, so the timer is fixed, cannot be disarmed, and protects only the orders of
the key that sends the heartbeats: the fleet has to heartbeat with the trading key itself, and the
trading system and the fleet then share that key's nonce stream.

Which key type to provision
---------------------------
* Time-based nonce ("Uses a time based nonce", `nonce_mode: "time"`), recommended: the nonce is
  epoch seconds and must be within +/-30 s of Gemini's clock. The trading system and the fleet can
  share the key without coordinating a counter, at the cost of at most one request per second per
  key across both: Gemini's InvalidNonce text also covers "not greater than the previously used
  nonce", and whether time-based keys enforce that is unverified (docs/venues.md), so two requests in
  the same second (one from each) may see one of them refused. A refused fleet heartbeat is harmless
  when the trader's own request landed, since any authenticated request resets the 30 s clock.
* Increasing nonce (`nonce_mode: "increasing"`): the nonce is epoch milliseconds and must increase
  on every request of the key. The trading system and the fleet must then both draw from the shared
  DynamoDB nonce source (key id `gemini:<api key>`); a trader with a counter of its own will make
  one side or the other fail with InvalidNonce.

Master keys (`master-...`) act on an account named in the payload (`account`). Gemini's order page
says "Master API keys do not support cancelation on disconnect via heartbeat", so on a master key
the fleet still sends heartbeats but claims no venue deadline: the watchdog sweep is the only guard.

Beware: every authenticated request on the trading key resets the 30 s clock, including the fleet's
own calls that fail after authentication (a sweep refused with MissingRole, an `open_orders` call).
After the trader dies, nothing but cancels should be sent with that key.
"""

from __future__ import annotations

from deadman.core.venue import ClockSource, DoctorPlan, KeyCheck, Remark, VenueDriver, VenueSpec
from deadman.venues.adapter import Driver
from deadman.venues.gemini.account import Account, KillCredentials, NonceMode, SweepScope
from deadman.venues.gemini.client import Client
from deadman.venues.gemini.wire import (
    BASE_URLS,
    CAPABILITIES,
    HEARTBEAT_TIMEOUT_MS,
    MAX_TIME_NONCE_LEAD_S,
    PATH_CANCEL_ALL,
    PATH_CANCEL_SESSION,
    PATH_HEARTBEAT,
    PATH_ORDERS,
    VENUE,
    auth_headers,
    encode_payload,
    error_for,
    parse_cancel,
    parse_orders,
    parse_response,
    sign,
)

__all__ = [
    "BASE_URLS",
    "CAPABILITIES",
    "DRIVER",
    "HEARTBEAT_TIMEOUT_MS",
    "MAX_TIME_NONCE_LEAD_S",
    "PATH_CANCEL_ALL",
    "PATH_CANCEL_SESSION",
    "PATH_HEARTBEAT",
    "PATH_ORDERS",
    "SPEC",
    "VENUE",
    "Account",
    "Client",
    "KillCredentials",
    "NonceMode",
    "SweepScope",
    "auth_headers",
    "encode_payload",
    "error_for",
    "parse_cancel",
    "parse_orders",
    "parse_response",
    "sign",
]

# -- the venue, for the registry ----------------------------------------------------------------------

SPEC = VenueSpec(
    name=VENUE,
    title="Gemini",
    timer="heartbeat",
    capabilities=CAPABILITIES,
    clock_window_ms=25_000,  # a time-based nonce more than 30 s off is refused
    caveat=(
        "Gemini's rule belongs to the API key: it cancels the key's orders 30 s after the key's last "
        "authenticated call, whoever makes it; it cannot be switched off, so a disarm keeps heartbeating."
    ),
    doctor=(
        "nonce mode, master key and sweep scope consequences; the kill key (its own session) "
        "authenticates (no kill key is a WARN); clock skew from the HTTP Date header. The TRADING key is "
        "not called unless you pass --allow-gemini-call, and even then only while its switch is armed and "
        "every trading system gating it is alive right now (the refresher's own judge): any authenticated "
        "call on it resets Gemini's 30 s heartbeat rule, so on a killed or disarmed switch, or for a dead "
        "trader, it would postpone the venue's cancel. It also draws from the nonce stream the key shares "
        "with the trader."
    ),
)


def _doctor_plan(account: Account) -> DoctorPlan:
    remarks: list[Remark] = []
    if account.nonce_mode == "time":
        remarks.append(
            Remark(
                "INFO",
                "time-based nonce (epoch s, +/-30 s of Gemini's clock): trader and fleet share the key at "
                "most ~1 request/s between them; keep clocks in sync",
            )
        )
    else:
        remarks.append(
            Remark(
                "INFO",
                "increasing nonce (epoch ms): the trader MUST draw its nonces from the fleet's shared "
                f"source (ControlTable row NONCE#gemini:{account.api_key}), or one side gets InvalidNonce",
            )
        )
    if account.is_master:
        detail = (
            "master key: Gemini has no heartbeat cancel-on-disconnect for master keys; the watchdog sweep "
            "is the only guard"
        )
        remarks.append(Remark("WARN", detail))
    else:
        detail = (
            "the key must have 'Require Heartbeat' set (not visible through the API); sweeps use "
            f"cancel/{account.sweep_scope}"
        )
        remarks.append(Remark("INFO", detail))
    keys = []
    if account.kill is not None:
        keys.append(KeyCheck("kill key", account.for_kill()))
    else:
        # A WARN as for Kraken, and more: every authenticated call on the trading key restarts
        # Gemini's 30 s rule, the watchdog's own cancels included.
        detail = (
            "no kill key: kill and the watchdog sweep with the trading key (cancel/session), and each of "
            "those calls restarts Gemini's 30 s heartbeat rule; an order Gemini refuses to cancel then goes "
            "only within the watchdog bound + 30 s. Add a Cancel-only second key as 'kill'"
        )
        remarks.append(Remark("WARN", detail))
    if account.retiring is not None:
        detail = (
            f"rotation under way: the old key {account.retiring.api_key} is heartbeated too; once the trader "
            "has moved and no order rests on it, delete it and drop 'retiring' from the secret"
        )
        remarks.append(Remark("WARN", detail))
    keys.append(KeyCheck("trading key", account, extends=True))
    clock = ClockSource("GET", account.base_url.rstrip("/") + "/v1/symbols")
    return DoctorPlan(clock=clock, keys=tuple(keys), remarks=tuple(remarks))


DRIVER: VenueDriver = Driver[Account](SPEC, Account, Client, _doctor_plan)
