"""A deployment's checkup: can each venue account be protected right now? Read-only, and never arming.

Run by the doctor function behind `POST /doctor` (so that an operator's laptop needs no venue key),
or by `deadman doctor --local` with the operator's own access to the secrets. Per venue, in parallel
within a time budget:

  secret       it reads and parses; an empty account list is "not configured"
  kraken       clock skew (/0/public/Time); the refresher key and the kill key authenticate with a
               read-only call (OpenOrders), nonces from the fleet's shared source
  hyperliquid  clock skew (HTTP Date); open orders readable (/info, unsigned); the agent address;
               the volume gate as the refresher last saw it (never probed: that would arm a timer)
  gemini       clock skew (HTTP Date); nonce mode, master key and sweep scope; the kill key
               authenticates; the TRADING key only if asked (`allow_gemini_call`), and even then only
               while its switch is armed and every trading system gating it is judged alive right now,
               by the refresher's own judge: any authenticated call on that key resets Gemini's 30 s
               heartbeat rule, so a call on a killed or disarmed switch, or for a dead trader, would
               postpone the venue's cancel - a read-only check must never extend a switch
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
from deadman.core.venue import NonceSource, VenueClient, close_client
from deadman.stores.credentials import VenueSecrets
from deadman.stores.liveness import LivenessReader, read_and_judge
from deadman.stores.switches import SwitchStore
from deadman.venues import load as load_venue
from deadman.venues.errors import AuthError
from deadman.venues.http import ClockReading, read_venue_clock

SKEW_WARN_MS = 2_000
# Hyperliquid refuses an action whose expiresAfter (now + 5 s read timeout) has passed; Gemini
# refuses a time-based nonce more than 30 s off.
SKEW_FAIL_MS = {"kraken": 30_000, "hyperliquid": 4_000, "gemini": 25_000}
# API Gateway answers 504 after 29 s: the checkup answers well before, whatever the venues do.
BUDGET_MS = 22_000
LEVELS = ("OK", "INFO", "SKIP", "WARN", "FAIL")


@dataclass(frozen=True)
class Finding:
    level: str  # one of LEVELS
    subject: str
    detail: str


ClockProbe = Callable[[str, str, str, Any], ClockReading]
ClientFactory = Callable[[str, Any], VenueClient]


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
        allow_gemini_call: bool = False,
        budget_ms: int = BUDGET_MS,
        accounts: Sequence[str] | None = None,
    ) -> list[Finding]:
        """Every venue checked side by side (only `accounts`, if given); one that does not finish in
        time is a failure."""
        jobs = [
            partial(self.venue, venue, allow_gemini_call=allow_gemini_call, accounts=accounts)
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
        self, venue: str, *, allow_gemini_call: bool = False, accounts: Sequence[str] | None = None
    ) -> list[Finding]:
        out: list[Finding] = []
        for account, systems in self._accounts(venue, out, accounts):
            if venue == "kraken":
                self._kraken(account, out)
            elif venue == "hyperliquid":
                self._hyperliquid(account, out)
            else:
                self._gemini(account, out, allow_gemini_call, systems)
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

    def _client(self, venue: str, account: Any) -> VenueClient:
        client: VenueClient = load_venue(venue).Client(
            account, nonces=self.nonces, clock=self.clock, timeout=(3.05, 5.0)
        )
        return client

    def _authenticated(self, venue: str, account: Any, subject: str, what: str, out: list[Finding]) -> None:
        if self.nonces is None:
            out.append(Finding("SKIP", subject, f"{what}: needs the ControlTable's shared nonces"))
            return
        client = self.client_factory(venue, account)
        try:
            orders = client.open_orders()
        except AuthError as exc:
            if exc.code == "EGeneral:Permission denied":
                detail = (
                    f"{what} authenticates (no 'Query open orders' permission: fine for a cancel-only key)"
                )
                out.append(Finding("OK", subject, detail))
            else:
                out.append(Finding("FAIL", subject, f"{what}: {exc}"))
            return
        except Exception as exc:
            out.append(Finding("FAIL", subject, f"{what}: {describe_error(exc)}"))
            return
        finally:
            close_client(client)
        out.append(
            Finding("OK", subject, f"{what} authenticates (read-only call: {len(orders)} open order(s))")
        )

    def _skew(
        self, venue: str, subject: str, method: str, url: str, out: list[Finding], body: Any = None
    ) -> None:
        try:
            reading = self.probe(venue, method, url, body)
        except Exception as exc:
            out.append(Finding("FAIL", subject, f"venue unreachable at {url}: {network_error(exc)}"))
            return
        if reading.skew_ms is None:
            out.append(Finding("WARN", subject, "clock skew unknown: the venue gave no time"))
            return
        skew = reading.skew_ms
        level = "OK" if abs(skew) <= SKEW_WARN_MS else ("FAIL" if abs(skew) > SKEW_FAIL_MS[venue] else "WARN")
        detail = f"clock skew {skew / 1000:+.1f} s ({reading.source}; rtt {reading.rtt_ms:.0f} ms)"
        out.append(Finding(level, subject, detail))

    def _kraken(self, account: Any, out: list[Finding]) -> None:
        subject = f"kraken/{account.account_id}"
        self._skew("kraken", subject, "GET", account.base_url.rstrip("/") + "/0/public/Time", out)
        self._authenticated("kraken", account, subject, "refresher key", out)
        if account.kill is None:
            detail = "no kill key: kill shares the refresher key (a nonce lockout on it would block both)"
            out.append(Finding("WARN", subject, detail))
        else:
            self._authenticated("kraken", account.for_kill(), subject, "kill key", out)

    def _hyperliquid(self, account: Any, out: list[Finding]) -> None:
        subject = f"hyperliquid/{account.account_id}"
        self._skew(
            "hyperliquid", subject, "POST", account.url.rstrip("/") + "/info", out, body={"type": "meta"}
        )
        client = self.client_factory("hyperliquid", account)
        try:
            agent = getattr(client, "agent_address", "?")
            orders = client.open_orders()
        except Exception as exc:
            out.append(Finding("FAIL", subject, describe_error(exc)))
            return
        finally:
            close_client(client)
        out.append(
            Finding(
                "OK",
                subject,
                f"open orders readable ({len(orders)}); fleet agent {agent} "
                "(approval is proven by the refresher's first signed action)",
            )
        )
        if account.kill_agent_private_key is None:
            out.append(Finding("INFO", subject, "no kill agent: kill signs with the refresher's agent"))
        if self.switches is None:
            return
        switch = self.switches.get("hyperliquid", account.account_id)
        if switch.version == 0:
            out.append(Finding("INFO", subject, "volume gate unknown: no refresher tick recorded yet"))
        elif switch.native_available:
            out.append(
                Finding("OK", subject, "scheduleCancel accepted at the last attempt (volume gate passed)")
            )
        else:
            detail = f"volume gate: native timer unavailable, watchdog only: {switch.native_reason}"
            out.append(Finding("WARN", subject, detail))

    def _gemini(
        self, account: Any, out: list[Finding], allow_trading_call: bool, systems: Sequence[str] = ()
    ) -> None:
        subject = f"gemini/{account.account_id}"
        self._skew("gemini", subject, "GET", account.base_url.rstrip("/") + "/v1/symbols", out)
        if account.nonce_mode == "time":
            detail = (
                "time-based nonce (epoch s, +/-30 s of Gemini's clock): trader and fleet share the key at "
                "most ~1 request/s between them; keep clocks in sync"
            )
        else:
            detail = (
                "increasing nonce (epoch ms): the trader MUST draw its nonces from the fleet's shared "
                f"source (ControlTable row NONCE#gemini:{account.api_key}), or one side gets InvalidNonce"
            )
        out.append(Finding("INFO", subject, detail))
        if account.is_master:
            detail = (
                "master key: Gemini has no heartbeat cancel-on-disconnect for master keys; the watchdog "
                "sweep is the only guard"
            )
            out.append(Finding("WARN", subject, detail))
        else:
            detail = (
                "the key must have 'Require Heartbeat' set (not visible through the API); sweeps use "
                f"cancel/{account.sweep_scope}"
            )
            out.append(Finding("INFO", subject, detail))
        if account.kill is not None:
            self._authenticated("gemini", account.for_kill(), subject, "kill key", out)
        else:
            # A WARN as for Kraken, and more: every authenticated call on the trading key restarts
            # Gemini's 30 s rule, the watchdog's own cancels included.
            detail = (
                "no kill key: kill and the watchdog sweep with the trading key (cancel/session), and each "
                "of those calls restarts Gemini's 30 s heartbeat rule; an order Gemini refuses to cancel "
                "then goes only within the watchdog bound + 30 s. Add a Cancel-only second key as 'kill'"
            )
            out.append(Finding("WARN", subject, detail))
        if account.retiring is not None:
            detail = (
                f"rotation under way: the old key {account.retiring.api_key} is heartbeated too; once the "
                "trader has moved and no order rests on it, delete it and drop 'retiring' from the secret"
            )
            out.append(Finding("WARN", subject, detail))
        if not allow_trading_call:
            detail = (
                "trading key not called: it would reset its 30 s heartbeat timer (`deadman doctor "
                "--allow-gemini-call` calls it while the switch is armed and the trader alive)"
            )
            out.append(Finding("SKIP", subject, detail))
            return
        why_not = self._why_not_call_trading_key(account.account_id, systems)
        if why_not is None:
            self._authenticated("gemini", account, subject, "trading key", out)
            return
        instead = (
            "the kill key, which has no heartbeat rule, was checked above instead"
            if account.kill is not None
            else "give the account a kill key, which has no heartbeat rule, to check it without that"
        )
        detail = (
            f"trading key not called although allowed: {why_not}; any call on it resets Gemini's 30 s "
            f"heartbeat rule and would postpone the venue's cancel ({instead})"
        )
        out.append(Finding("SKIP", subject, detail))

    def _why_not_call_trading_key(self, account_id: str, systems: Sequence[str]) -> str | None:
        """None when a call on this Gemini trading key extends only what the refresher itself would:
        the switch armed, and every trading system gating it alive by the refresher's judge, now."""
        if self.switches is None:
            return "its switch cannot be read here (no ControlTable)"
        if self.liveness is None or self.timing is None or not systems:
            return (
                "the trading system's liveness cannot be judged here (no liveness table, system or S and K)"
            )
        switch = self.switches.get("gemini", account_id)
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
