"""Hyperliquid: `scheduleCancel` (an absolute-time dead man's switch) and cancel-all by listing.

One venue's whole contract - the agent wallet, expiring actions, the daily trigger budget, the
sweep by listing, every error it answers with - is checked against the venue's SDK as one unit: this
package. `account` holds the secret's entry and its parsing; `wire` the capabilities, URLs and asset
ids, and the venue's answers and errors read into the taxonomy; `client` the switch, the sweep and
the signed calls; `signing` the L1 action signing, which has vectors of its own. This module holds
the spec, the doctor plan and the `DRIVER`, and re-exports the names of the others
(`hyperliquid.Client`, `hyperliquid.Account`, `hyperliquid.classify_error`, ...).

Wire facts are in docs/venues.md (Hyperliquid). What this package decides:

* The fleet signs with its OWN approved API wallet (agent), never the trader's: nonces are tracked
  per signer, so a shared agent would race the trader's nonces (docs/venues.md). The agent key is
  the only secret; the master address (or the vault / subaccount) is whose orders are protected.
* Every action carries `expiresAfter`: the client's patience (connect + read timeouts) from the
  moment it is signed, after the nonce draw, and no later than the end of the fence the caller sent
  it under (`send_by_ms` + the transit a kill or a disarm outwaits). Taken before the nonce draw, a
  slow draw plus ordinary transit would make an extension arrive expired. Once this client has
  stopped waiting for an answer it reports the outcome as unknown and the policy moves on (a later
  tick may disarm, sweep, or extend to a different deadline). Without an expiry, a request stuck
  in a queue could land after that and undo the newer decision: re-arm a timer the operator just
  disarmed, or cancel orders of a trader that came back. With it, the
  venue refuses such a straggler ("expired", mapped to TransientError code "expired"). The cost:
  our clock must be within that patience of the venue's, which NTP-synced hosts are by orders of
  magnitude.
* Disarm omits `time` (never null: a null is different msgpack bytes, so a different signature).
* There is no cancel-all action: sweep lists open orders per perp dex (spot orders come with dex
  "") and cancels them in one batched, signed `cancel`. The venue answers `status: ok` even when
  single cancels fail, so each status is read.

The signing library (libsecp256k1 through coincurve) loads only when this client first signs
(see `signing`).
"""

from __future__ import annotations

from deadman.core.venue import ClockSource, DoctorPlan, KeyCheck, Remark, VenueDriver, VenueSpec
from deadman.venues.adapter import Driver
from deadman.venues.hyperliquid import signing
from deadman.venues.hyperliquid.account import Account
from deadman.venues.hyperliquid.client import Client
from deadman.venues.hyperliquid.wire import (
    BASE_URLS,
    BUILDER_DEX_OFFSET,
    BUILDER_DEX_STRIDE,
    CAPABILITIES,
    SPOT_ASSET_OFFSET,
    VENUE,
    classify_error,
)

__all__ = [
    "BASE_URLS",
    "BUILDER_DEX_OFFSET",
    "BUILDER_DEX_STRIDE",
    "CAPABILITIES",
    "DRIVER",
    "SPEC",
    "SPOT_ASSET_OFFSET",
    "VENUE",
    "Account",
    "Client",
    "classify_error",
    "signing",
]

# -- the venue, for the registry ----------------------------------------------------------------------

SPEC = VenueSpec(
    name=VENUE,
    title="Hyperliquid",
    timer="scheduleCancel",
    capabilities=CAPABILITIES,
    clock_window_ms=4_000,  # an action whose expiresAfter (now + the 5 s read timeout) passed is refused
    caveat=(
        "Hyperliquid allows scheduleCancel only to accounts past $1M traded, and fires it at most 10 "
        "times a day: below the gate, or past the budget, the account rests on the watchdog alone."
    ),
    doctor=(
        "open orders readable (/info: no signature needed); the agent key derives an address; clock "
        "skew from the HTTP Date header (1 s resolution); the volume gate as the refresher last saw it "
        "(the switch's native_available/native_reason: doctor never arms anything)"
    ),
)


def _doctor_plan(account: Account) -> DoctorPlan:
    try:
        agent = signing.address_of(account.agent_private_key.reveal())
    except Exception as exc:  # never let a library message near the key reach a log
        agent = f"unusable ({type(exc).__name__})"
    remarks = [
        Remark("INFO", f"fleet agent {agent} (approval is proven by the refresher's first signed action)")
    ]
    if account.kill_agent_private_key is None:
        remarks.append(Remark("INFO", "no kill agent: kill signs with the refresher's agent"))
    clock = ClockSource("POST", account.url.rstrip("/") + "/info", body={"type": "meta"})
    # Listing open orders is unsigned (/info): it proves the address, not the agent.
    keys = (KeyCheck("open orders", account, signed=False),)
    return DoctorPlan(clock=clock, keys=keys, remarks=tuple(remarks))


DRIVER: VenueDriver = Driver[Account](SPEC, Account, Client, _doctor_plan)
