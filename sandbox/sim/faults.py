"""The fault catalogue of the campaign: every kind it draws, which layer each belongs to, and which
a fleet must ride out in full (`Fault.severe`)."""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.venues.registry import SIMULATORS

# Faults in our own plumbing: the fleet must ride them out, or raise an alarm (promise 3). The
# secret edits (an account's gating moved, an account added or taken out) are the operator's, but
# counted here: a configuration change must never sweep a live trader either.
PLUMBING = {
    "ddb_bad_answer",
    "fleet_gone",
    "gating_moved",
    "account_added",
    "account_removed",
    "ddb_throttle",
    "ddb_5xx",
    "ddb_timeout",
    "ddb_lost_answer",
    "ddb_slow",
    "ddb_outage",
    "secrets_outage",
    "secrets_slow",
    "sched_late",
    "sched_duplicate",
    "sched_missed",
    "lambda_crash",
    "key_rotation",
    "switch_reads",
}
# Faults of the venue itself: promise 3's premise ("the venue answers") does not hold.
VENUE_FAULTS = {
    "venue_bad_answer",
    "venue_latency",
    "venue_hang",
    "venue_late",
    "venue_5xx",
    "venue_429",
    "venue_maintenance",
    "nonce_lockout",
    "cancel_refused",
    "volume_gate",
    "trigger_exhaustion",
    "refresher_slow",
}
# Faults of the trading system itself: its rows say nothing (malformed), or a beat is lost. Neither
# excuses anything: a malformed row is no proof of life (the watchdog sweeps), one lost beat within
# the beat-interval rule is no death (nothing is swept).
TRADER_FAULTS = {"liveness_malformed", "beat_lost"}
# Faults that leave a kill nothing to sign with: the venue secret out of reach (its answer names
# `deadman kill --direct`, which signs with local keys).
SIGNING_FAULTS = {"secrets_outage", "secrets_slow"}
# Venue faults that do not touch a kill's cancels: the refresher's own path crawling (the kill's
# requests do not), and the timer refused or rationed (a cancel is neither).
NOT_IN_A_KILLS_WAY = {"refresher_slow", "volume_gate", "trigger_exhaustion"}
# Venue hiccups the fleet must ride out when short (it retries within the venue's slack).
HICCUPS = {"venue_5xx", "venue_429", "venue_maintenance", "venue_hang", "venue_bad_answer"}
# The kinds the first draw of a scenario picks from, as they were when the campaign's seeds were first
# kept: kinds added since are drawn from streams of their own (`_safety_draws`), so every earlier
# seed still names the scenario it always did.
FIRST_DRAW = sorted(
    {
        "ddb_throttle",
        "ddb_5xx",
        "ddb_timeout",
        "ddb_lost_answer",
        "ddb_slow",
        "ddb_outage",
        "secrets_outage",
        "secrets_slow",
        "sched_late",
        "sched_duplicate",
        "sched_missed",
        "lambda_crash",
        "key_rotation",
        "switch_reads",
        "venue_latency",
        "venue_hang",
        "venue_late",
        "venue_5xx",
        "venue_429",
        "venue_maintenance",
        "nonce_lockout",
        "cancel_refused",
        "volume_gate",
        "trigger_exhaustion",
        "refresher_slow",
    }
)
# Every fault kind a campaign draws: one that never acts in a run of 1,000 is a bug in the campaign.
ALL_KINDS = frozenset(
    {
        "ddb_throttle",
        "ddb_5xx",
        "ddb_timeout",
        "ddb_lost_answer",
        "ddb_slow",
        "ddb_outage",
        "ddb_bad_answer",
        "secrets_outage",
        "secrets_slow",
        "sched_late",
        "sched_duplicate",
        "sched_missed",
        "lambda_crash",
        "fleet_gone",
        "key_rotation",
        "switch_reads",
        "gating_moved",
        "account_added",
        "account_removed",
        "venue_latency",
        "venue_hang",
        "venue_late",
        "venue_5xx",
        "venue_429",
        "venue_maintenance",
        "venue_bad_answer",
        "nonce_lockout",
        "cancel_refused",
        "volume_gate",
        "trigger_exhaustion",
        "refresher_slow",
        "liveness_malformed",
        "beat_lost",
    }
)
# How long a total DynamoDB or Secrets Manager outage the fleet must ride out with no cancel at all:
# about one tick of the venue timers' slack (Gemini's 30 s rule is the tightest).
RIDE_OUT_MS = 12_000


@dataclass(frozen=True)
class Fault:
    kind: str
    start_ms: int
    end_ms: int
    p: float = 1.0  # the share of calls hit while it lasts

    def active(self, t: int) -> bool:
        return self.start_ms <= t < self.end_ms

    def severe(self, venue: str) -> bool:
        """A fault the fleet cannot be asked to ride out: it may let a venue timer fire on a live
        trader, provided the alarm goes off. Every other fault must be ridden out."""
        if self.kind == "lambda_crash":
            return False  # the standby takes over within one lease TTL: ridden out in full
        if self.kind == "fleet_gone":
            return True  # nothing of ours runs: the venue timers must do it all, the alarm pages
        if self.kind in ("gating_moved", "account_added", "account_removed"):
            return False  # a configuration change never sweeps a live trader
        if self.kind in TRADER_FAULTS:
            return False  # the trader's own: no excuse for anything
        rules = SIMULATORS[venue].RULES
        if self.kind == "key_rotation":
            # Where orders rest on keys, the old key's session loses its heartbeats (Gemini's rule);
            # elsewhere the account's orders do not care which key extends its timer.
            return rules.orders_on_keys
        if self.kind.startswith("sched_") or self.kind == "switch_reads":
            return False  # ridden out in full: the loop acts on the last switch state it read
        if self.kind in ("venue_latency", "refresher_slow"):
            return False  # answered within the client's patience: ridden out in full
        if self.kind in rules.cancels_on_its_own:
            return True  # the venue's own rule cancels (Kraken: an armed timer, the engine's return)
        if self.kind in HICCUPS and self.end_ms - self.start_ms <= RIDE_OUT_MS:
            return False  # retried within the tick, inside the venue timer's slack
        if self.kind == "ddb_slow" or (self.kind in ("ddb_throttle", "ddb_bad_answer") and self.p <= 0.3):
            return False  # slow but answering, up to its timeouts, is ridden out in full
        return self.end_ms - self.start_ms > RIDE_OUT_MS
