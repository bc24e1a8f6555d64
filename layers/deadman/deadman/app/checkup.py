"""A deployment's checkup: can each venue account be protected right now? Read-only, and never arming.

Run by the doctor function behind `POST /doctor` (so that an operator's laptop needs no venue key),
or by `deadman doctor --local` with the operator's own access to the secrets. Per venue, in parallel
within a time budget, per account, from the venue's own doctor plan (`VenueDriver.doctor_plan`):

  secret    it reads and parses; an empty account list is "not configured"
  clock     the venue's clock against ours (a public call), failing beyond the venue's own window
  keys      each key proven by a read-only call (open orders), nonces from the fleet's shared source;
            a key whose every authenticated call pushes the venue's timer (Gemini's trading key)
            only if asked (`allow_timer_key_calls`), and even then only while its switch is armed and
            every trading system gating it is judged alive right now, by the refresher's own judge:
            a call on a killed or disarmed switch, or for a dead trader, would postpone the venue's
            cancel - a read-only check must never extend a switch
  remarks   what the venue module says of the account's configuration (nonce modes, kill keys)
  timer     where the venue may refuse its timer (Hyperliquid's volume gate), how it stood at the
            refresher's last attempt (never probed: that would arm a timer)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from deadman.core.clock import Clock, system_clock
from deadman.core.concurrency import Parallel, ThreadParallel
from deadman.core.describe import describe_error, network_error
from deadman.core.liveness import combine
from deadman.core.policy import SEND_WITHIN_MS, Mode, Timing
from deadman.core.venue import (
    ClockSource,
    DoctorPlan,
    KeyCheck,
    NonceSource,
    VenueAccount,
    VenueClient,
    close_client,
)
from deadman.stores.credentials import VenueSecrets
from deadman.stores.liveness import LivenessReader, read_and_judge
from deadman.stores.switches import SwitchStore
from deadman.venues import SPECS
from deadman.venues import driver as venue_driver
from deadman.venues.errors import AuthError, MissingPermissionError
from deadman.venues.http import ClockReading, read_venue_clock

SKEW_WARN_MS = 2_000
# API Gateway answers 504 after 29 s: the checkup answers well before, whatever the venues do.
BUDGET_MS = 22_000
LEVELS = ("OK", "INFO", "SKIP", "WARN", "FAIL")


@dataclass(frozen=True)
class Finding:
    level: str  # one of LEVELS
    subject: str
    detail: str


ClockProbe = Callable[[ClockSource], ClockReading]
ClientFactory = Callable[[str, VenueAccount], VenueClient]


class _NoNonces:
    """Without the ControlTable's shared nonces only unsigned calls are made (a signed one is skipped)."""

    def next(self, key_id: str, floor: int) -> int:
        raise RuntimeError("no shared nonce source here: a signed call would race the fleet's nonces")


class Checkup:
    def __init__(
        self,
        *,
        credentials: VenueSecrets,
        nonces: NonceSource | None,
        switches: SwitchStore | None,
        clock: Clock = system_clock,
        client_factory: ClientFactory | None = None,
        probe: ClockProbe = read_venue_clock,
        parallel: Parallel | None = None,
        liveness: LivenessReader | None = None,
        system: str | None = None,
        timing: Timing | None = None,
    ) -> None:
        self.credentials = credentials
        # What the refresher judges liveness with: without all three, a Gemini trading key is never
        # called (nothing here could tell that the call would not extend a dead trader's orders).
        self.liveness = liveness
        self.system = system
        self.timing = timing
        self.nonces = nonces
        self.switches = switches
        self.clock = clock
        self.client_factory = client_factory or self._client
        self.probe = probe
        self.parallel: Parallel = parallel or ThreadParallel(clock=clock)

    def run(
        self,
        venues: Sequence[str],
        *,
        allow_timer_key_calls: bool = False,
        budget_ms: int = BUDGET_MS,
        accounts: Sequence[str] | None = None,
    ) -> list[Finding]:
        """Every venue checked side by side (only `accounts`, if given); one that does not finish in
        time is a failure."""
        jobs = [
            partial(self.venue, venue, allow_timer_key_calls=allow_timer_key_calls, accounts=accounts)
            for venue in venues
        ]
        outcomes = self.parallel.run(jobs, deadline_ms=self.clock() + budget_ms)
        findings: list[Finding] = []
        for venue, outcome in zip(venues, outcomes, strict=True):
            if not outcome.done:
                findings.append(Finding("FAIL", venue, f"no answer within {budget_ms // 1000} s"))
            elif outcome.error is not None:
                findings.append(Finding("FAIL", venue, describe_error(outcome.error)))
            else:
                findings.extend(outcome.value or [])
        return findings

    def venue(
        self, venue: str, *, allow_timer_key_calls: bool = False, accounts: Sequence[str] | None = None
    ) -> list[Finding]:
        out: list[Finding] = []
        for account, systems in self._accounts(venue, out, accounts):
            subject = f"{venue}/{account.account_id}"
            plan = venue_driver(venue).doctor_plan(account)
            self._skew(venue, subject, plan, out)
            out.extend(Finding(r.level, subject, r.detail) for r in plan.remarks)
            for key in plan.keys:
                if key.extends:
                    self._timer_key(venue, subject, key, plan, out, allow_timer_key_calls, systems)
                else:
                    self._authenticated(venue, key.signer, subject, key.label, out, signed=key.signed)
            if SPECS[venue].capabilities.native_may_be_refused:
                self._native(venue, account, subject, out)
        return out

    def _accounts(
        self, venue: str, out: list[Finding], wanted: Sequence[str] | None
    ) -> list[tuple[Any, tuple[str, ...]]]:
        """Each account to check (all, or those `wanted`) with the trading systems gating it."""
        try:
            parsed = self.credentials.get(venue)
        except Exception as exc:
            out.append(Finding("FAIL", f"secret {venue}", describe_error(exc)))
            return []
        if not parsed.accounts:
            out.append(
                Finding(
                    "WARN",
                    f"secret {venue}",
                    "not configured: the secret lists no accounts (its refresher idles)",
                )
            )
            return []
        ids = ", ".join(parsed.account_ids)
        out.append(Finding("OK", f"secret {venue}", f"parses: {len(parsed.accounts)} account(s): {ids}"))
        gating = getattr(parsed, "systems", {}) or {}
        own = (self.system,) if self.system else ()
        chosen = [a for a in parsed.accounts if wanted is None or a.account_id in wanted]
        return [(a, tuple(gating.get(a.account_id) or own)) for a in chosen]

    def _client(self, venue: str, account: VenueAccount) -> VenueClient:
        nonces = self.nonces or _NoNonces()
        return venue_driver(venue).client(account, nonces=nonces, clock=self.clock, timeout=(3.05, 5.0))

    def _authenticated(
        self,
        venue: str,
        account: VenueAccount,
        subject: str,
        what: str,
        out: list[Finding],
        signed: bool = True,
    ) -> None:
        if self.nonces is None and signed:
            out.append(Finding("SKIP", subject, f"{what}: needs the ControlTable's shared nonces"))
            return
        client = self.client_factory(venue, account)
        try:
            orders = client.open_orders()
        except MissingPermissionError:
            detail = f"{what} authenticates (it may not list open orders: fine for a cancel-only key)"
            out.append(Finding("OK", subject, detail))
            return
        except AuthError as exc:
            out.append(Finding("FAIL", subject, f"{what}: {exc}"))
            return
        except Exception as exc:
            out.append(Finding("FAIL", subject, f"{what}: {describe_error(exc)}"))
            return
        finally:
            close_client(client)
        done = "authenticates (read-only call" if signed else "readable (unsigned call"
        out.append(Finding("OK", subject, f"{what} {done}: {len(orders)} open order(s))"))

    def _skew(self, venue: str, subject: str, plan: DoctorPlan, out: list[Finding]) -> None:
        try:
            reading = self.probe(plan.clock)
        except Exception as exc:
            out.append(
                Finding("FAIL", subject, f"venue unreachable at {plan.clock.url}: {network_error(exc)}")
            )
            return
        if reading.skew_ms is None:
            out.append(Finding("WARN", subject, "clock skew unknown: the venue gave no time"))
            return
        skew = reading.skew_ms
        window = SPECS[venue].clock_window_ms
        level = "OK" if abs(skew) <= SKEW_WARN_MS else ("FAIL" if abs(skew) > window else "WARN")
        detail = f"clock skew {skew / 1000:+.1f} s ({reading.source}; rtt {reading.rtt_ms:.0f} ms)"
        out.append(Finding(level, subject, detail))

    def _native(self, venue: str, account: VenueAccount, subject: str, out: list[Finding]) -> None:
        """Where the venue may refuse its timer, how the refresher last found it (never probed)."""
        if self.switches is None:
            return
        switch = self.switches.get(venue, account.account_id)
        if switch.version == 0:
            out.append(Finding("INFO", subject, "venue timer unknown: no refresher tick recorded yet"))
        elif switch.native_available:
            out.append(Finding("OK", subject, "venue timer accepted at the last attempt"))
        else:
            detail = f"venue timer unavailable, watchdog only: {switch.native_reason}"
            out.append(Finding("WARN", subject, detail))

    def _timer_key(
        self,
        venue: str,
        subject: str,
        key: KeyCheck,
        plan: DoctorPlan,
        out: list[Finding],
        allowed: bool,
        systems: Sequence[str],
    ) -> None:
        """A key whose every authenticated call pushes the venue's timer (Gemini's trading key)."""
        title = SPECS[venue].title
        if not allowed:
            detail = (
                f"{key.label} not called: it would reset its heartbeat timer (`deadman doctor "
                "--allow-gemini-call` calls it while the switch is armed and the trader alive)"
            )
            out.append(Finding("SKIP", subject, detail))
            return
        why_not = self._why_not_call_trading_key(venue, key.signer.account_id, systems)
        if why_not is None:
            self._authenticated(venue, key.signer, subject, key.label, out)
            return
        has_other = any(not k.extends for k in plan.keys)
        instead = (
            "the kill key, which has no heartbeat rule, was checked above instead"
            if has_other
            else "give the account a kill key, which has no heartbeat rule, to check it without that"
        )
        detail = (
            f"{key.label} not called although allowed: {why_not}; any call on it resets {title}'s "
            f"heartbeat rule and would postpone the venue's cancel ({instead})"
        )
        out.append(Finding("SKIP", subject, detail))

    def _why_not_call_trading_key(self, venue: str, account_id: str, systems: Sequence[str]) -> str | None:
        """None when a call on this heartbeat key extends only what the refresher itself would: the
        switch armed, and every trading system gating it alive by the refresher's judge, now."""
        if self.switches is None:
            return "its switch cannot be read here (no ControlTable)"
        if self.liveness is None or self.timing is None or not systems:
            return (
                "the trading system's liveness cannot be judged here (no liveness table, system or S and K)"
            )
        switch = self.switches.get(venue, account_id)
        if switch.mode is not Mode.ARMED:
            return f"its switch is {switch.mode.value}, not armed"
        reader, timing = self.liveness, self.timing
        verdict = combine(
            [
                (name, read_and_judge(reader, name, self.clock, timing.max_staleness_ms, timing.skew_ms))
                for name in systems
            ]
        )
        if not verdict.alive:
            return f"the trading system is not judged alive ({verdict.verdict.value}: {verdict.detail})"
        if verdict.at_ms is None or self.clock() - verdict.at_ms > SEND_WITHIN_MS:
            return "the liveness judgement went stale before the call could leave"
        return None
