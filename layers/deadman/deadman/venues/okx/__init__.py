"""OKX: `cancel-all-after` (a relative timer of 10 to 120 s, per sub-account or per order tag) and
the sweep by listing.

`account` holds the secret's entry and its parsing; `wire` the capabilities, paths, signature, the
timer's answer and the errors; `client` the switch, the sweep and the signed calls. This module holds
the spec, the doctor plan and the `DRIVER`. Wire facts are in docs/venues.md (OKX). What this
package decides:

* An entry that names `tags` keeps one timer per tag (OKX counts each against 1 request/s of its
  own, and caps live tag timers at 20 per sub-account), and sweeps only orders carrying one of them:
  several strategies on one sub-account are switches of their own. An entry without tags keeps the
  account-level timer, which takes every order of the sub-account.
* A timeout is computed at the moment of sending, rounded down and aimed early (the venue counts from
  the arrival); the answer's `triggerTime` and `ts` are read by magnitude (ms or s: the unit is
  unverified) and checked against what was sent, else the outcome is unknown.
* Under OKX's 10 s minimum nothing is sent (the earlier timer fires by its earlier deadline); over
  its 120 s maximum the timeout is cut to 120 s (it fires earlier, never later).
"""

from __future__ import annotations

from typing import Any

from deadman.core.venue import ClockSource, DoctorPlan, KeyCheck, Remark, VenueDriver, VenueSpec
from deadman.venues.adapter import Driver
from deadman.venues.okx.account import Account
from deadman.venues.okx.client import Client
from deadman.venues.okx.wire import CAPABILITIES, PATH_TIME, VENUE, error_for, sign, timestamp

__all__ = ["CAPABILITIES", "DRIVER", "SPEC", "VENUE", "Account", "Client", "error_for", "sign", "timestamp"]

SPEC = VenueSpec(
    name=VENUE,
    title="OKX",
    timer="cancel-all-after",
    capabilities=CAPABILITIES,
    # OKX refuses a request stamped outside its window (50102; 30 s for its WebSocket login, the REST
    # window unstated): doctor fails a clock a margin inside it.
    clock_window_ms=20_000,
    caveat=(
        "OKX's cancel-all-after takes 10 to 120 s: a timeout past 120 s is cut to 120 s (the timer fires "
        "120 s after the last extension if the fleet stops), and the venue cancels one by one, over up "
        "to a few seconds after it fires. Algo orders are swept by the watchdog; whether the venue's "
        "own timer takes them is unverified."
    ),
    doctor=(
        "clock skew against /api/v5/public/time; the refresher key and the kill key authenticate with a "
        "read-only call (pending and algo orders), passphrase included"
    ),
)


def _server_time_ms(answer: Any) -> float:
    return float(answer["data"][0]["ts"])


def _doctor_plan(account: Account) -> DoctorPlan:
    keys = [KeyCheck("refresher key", account)]
    remarks = []
    if account.kill is None:
        remarks.append(Remark("INFO", "no kill key: kill sweeps with the refresher key"))
    else:
        keys.append(KeyCheck("kill key", account.for_kill()))
        remarks.append(
            Remark(
                "INFO",
                "OKX expires a trade key not bound to an IP after 14 days unused: bind the kill key to "
                "the fleet's IPs, or use it",
            )
        )
    if account.tags:
        remarks.append(
            Remark(
                "INFO",
                f"tag timers {', '.join(account.tags)}: orders without one of these tags are not protected",
            )
        )
    if account.demo:
        remarks.append(Remark("INFO", "demo-trading key (x-simulated-trading: 1)"))
    clock = ClockSource(
        "GET",
        account.base_url.rstrip("/") + PATH_TIME,
        read_ms=_server_time_ms,
        source=f"{PATH_TIME}, ms resolution",
    )
    return DoctorPlan(clock=clock, keys=tuple(keys), remarks=tuple(remarks))


DRIVER: VenueDriver = Driver[Account](SPEC, Account, Client, _doctor_plan)
