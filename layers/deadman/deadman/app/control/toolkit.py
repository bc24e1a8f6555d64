"""What the four controls share: who asked (`Caller`), what is targeted (`Target`), the stores and
clients they are built with (`Toolkit`), and the writes, audit and parallel calls they all make.

The use cases know the stores, the venue clients and the clock, all injected; they know nothing of
HTTP, API Gateway or the environment (`deadman.edges` builds them). Every call is audited per
switch with the caller's identity, source IP, reason and result.

Targets: `venues` defaults to every enabled venue; `accounts` (ids, matched on every targeted venue)
defaults to every account in each venue's secret. A venue whose secret cannot be read falls back
to the switches already stored for it (they can still be latched, not swept). An unknown venue or
account is refused before any state changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Self, TypeVar, cast

from deadman.core.clock import Clock, system_clock
from deadman.core.concurrency import Parallel, ThreadParallel
from deadman.core.config import FleetConfig
from deadman.core.errors import DeadmanError
from deadman.core.metrics import MetricsSink, NoMetrics
from deadman.core.policy import INTENT_WINDOW_MS, TRANSIT_MS, Mode, Timing
from deadman.core.venue import VenueAccount, VenueClient
from deadman.stores.credentials import VenueSecrets
from deadman.stores.liveness import LivenessReader
from deadman.stores.nonces import FALLBACK_LEAD, FALLBACK_MAX_LEAD, FallbackNonceSource, MemoryNonceSource
from deadman.stores.switches import Switch, SwitchConflict, SwitchStore
from deadman.venues import VENUES
from deadman.venues import driver as venue_driver
from deadman.venues.errors import VenueError

# Kill's venue calls: shorter than the refresher's, so that two passes fit in the budget.
KILL_CLIENT_TIMEOUT: tuple[float, float] = (2.0, 4.0)
CONTROL_CLIENT_TIMEOUT: tuple[float, float] = (3.05, 5.0)
# Break-glass nonces start this many units (ms, or s for a Gemini time-based key) past the clock:
# the fleet's shared counters may be a little ahead of it, and are out of reach to ask. Each refusal
# of the venue widens the lead (see `Toolkit.sweep`).
BREAK_GLASS_NONCE_LEAD = FALLBACK_LEAD
# A tick's request is in flight for at most its intent window and the transit after it (a Hyperliquid
# sweep's listing adds one more): counted from our own write, which came after that intent, this is
# the longest a kill or a disarm ever waits for one (a stored window further out is not believed).
MAX_INFLIGHT_WAIT_MS = INTENT_WINDOW_MS + 2 * TRANSIT_MS
INFLIGHT_MARGIN_MS = 250
# Reading the venue secrets (cached 60 s in a warm Lambda) and latching: bounded, so that a slow
# Secrets Manager or DynamoDB cannot hold the sweeps back.
RESOLVE_BUDGET_MS = 6_000
LATCH_BUDGET_MS = 5_000
# Don't start a second sweep pass with less time than one venue call needs.
MIN_PASS_MS = 1_000
WRITE_ATTEMPTS = 4
_ERROR_CHARS = 400


T = TypeVar("T")
X = TypeVar("X")


class RequestError(DeadmanError):
    """The request cannot be carried out as asked (HTTP 400). Nothing was changed."""


class ConflictError(DeadmanError):
    """The request contradicts the switches' state (HTTP 409). Nothing was changed."""

    def __init__(self, message: str, switches: Sequence[str]) -> None:
        super().__init__(message)
        self.switches = list(switches)


ClientFactory = Callable[[str, VenueAccount, tuple[float, float]], VenueClient]


@dataclass(frozen=True)
class Caller:
    """Who asked: the IAM identity from API Gateway's request context, and where from."""

    identity: str
    source_ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    def details(self) -> dict[str, Any]:
        return {
            "source_ip": self.source_ip,
            "user_agent": self.user_agent,
            "request_id": self.request_id,
        }


@dataclass(frozen=True)
class Target:
    venue: str
    account_id: str
    account: VenueAccount | None = None  # as the venue's driver parsed it; None: the secret is unusable

    @property
    def name(self) -> str:
        return f"{self.venue}/{self.account_id}"


class Toolkit:
    """The stores, clients, clock and budgets every control runs with, and the steps they share."""

    def __init__(
        self,
        *,
        config: FleetConfig,
        switches: SwitchStore,
        liveness: LivenessReader | None = None,
        credentials: VenueSecrets | None = None,
        nonces: Any = None,
        clock: Clock = system_clock,
        sleep: Callable[[float], None] = time.sleep,
        client_factory: ClientFactory | None = None,
        metrics: MetricsSink | None = None,
        log: Callable[..., None] | None = None,
        kill_timeout: tuple[float, float] = KILL_CLIENT_TIMEOUT,
        control_timeout: tuple[float, float] = CONTROL_CLIENT_TIMEOUT,
        parallel: Parallel | None = None,
    ) -> None:
        self.config = config
        self.switches = switches
        self.liveness = liveness
        self.credentials = credentials
        self.nonces = nonces
        self.clock = clock
        self.sleep = sleep
        self.metrics: MetricsSink = metrics or NoMetrics()
        self.log = log or (lambda *a, **k: None)
        self.kill_timeout = kill_timeout
        self.control_timeout = control_timeout
        self.client_factory = client_factory or self.default_client
        self.parallel: Parallel = parallel or ThreadParallel(clock=clock)

    @classmethod
    def break_glass(cls, credentials: VenueSecrets, venues: Iterable[str], **kwargs: Any) -> Self:
        """Controls for a direct kill alone (`kill(direct=True)`), on an operator's machine with AWS
        out of reach: venue calls only, nonces from the clock (the fleet's shared counters are in AWS)."""
        config = FleetConfig(
            timing=Timing(),
            system="-",
            liveness_table="-",
            control_table="-",
            enabled_venues=frozenset(venues),
        )
        return cls(
            config=config,
            switches=cast(SwitchStore, _NothingStored()),
            credentials=credentials,
            nonces=MemoryNonceSource(lead=BREAK_GLASS_NONCE_LEAD, max_lead=FALLBACK_MAX_LEAD),
            **kwargs,
        )

    def default_client(self, venue: str, account: VenueAccount, timeout: tuple[float, float]) -> VenueClient:
        if self.nonces is None:
            raise DeadmanError("no nonce source configured: venue calls are impossible")
        return venue_driver(venue).client(
            account, nonces=self.nonces, clock=self.clock, timeout=timeout, parallel=self.parallel
        )

    # -- shared --------------------------------------------------------------------------------
    def resolve(
        self, venues: Sequence[str] | None, accounts: Sequence[str] | None
    ) -> tuple[list[Target], dict[str, str]]:
        """The switches a request targets, or RequestError before anything changed."""
        enabled = [v for v in VENUES if v in self.config.enabled_venues]
        if venues is None:
            chosen = enabled
        else:
            unknown = [v for v in venues if v not in VENUES]
            if unknown:
                raise RequestError(f"unknown venue(s) {names(unknown)}; known: {', '.join(VENUES)}")
            off = [v for v in venues if v not in enabled]
            if off:
                raise RequestError(
                    f"venue(s) {names(off)} not enabled in this deployment; "
                    f"enabled: {', '.join(enabled) or '-'}"
                )
            chosen = [v for v in VENUES if v in venues]
        if not chosen:
            raise RequestError("no venue is enabled in this deployment")
        per_venue, problems = self.accounts_of(chosen)
        if accounts is not None:
            known = {t.account_id for ts in per_venue.values() for t in ts}
            unknown = [a for a in accounts if a not in known]
            if unknown:
                listing = "; ".join(
                    f"{v}: {', '.join(t.account_id for t in ts) or '-'}" for v, ts in per_venue.items()
                )
                hint = (
                    f" (unreadable: {'; '.join(f'{v}: {p}' for v, p in problems.items())})"
                    if problems
                    else ""
                )
                raise RequestError(f"unknown account(s) {names(unknown)}; known: {listing}{hint}")
            # An unreadable venue stays in `problems`: it may hold the named accounts too.
            per_venue = {v: [t for t in ts if t.account_id in accounts] for v, ts in per_venue.items()}
        targets = [t for ts in per_venue.values() for t in ts]
        if not targets and not problems:
            raise RequestError("the request targets no switch")
        return targets, problems

    def accounts_of(self, venues: list[str]) -> tuple[dict[str, list[Target]], dict[str, str]]:
        """Each venue's accounts from its secret, fetched in parallel and bounded: a venue whose
        secret is unusable or slow falls back to its stored switches (latchable, not sweepable)."""

        def fetch(venue: str) -> list[Target]:
            if self.credentials is None:
                raise DeadmanError("no credential store configured")
            secret = self.credentials.get(venue)
            return [Target(venue, str(a.account_id), a) for a in secret.accounts]

        errors: dict[str, str] = {}

        def fetch_or_note(venue: str) -> list[Target] | None:
            try:
                return fetch(venue)
            except Exception as exc:
                errors[venue] = describe(exc)
                return None

        fetched = self.run_parallel(venues, fetch_or_note, self.clock() + RESOLVE_BUDGET_MS, key=str)
        per_venue: dict[str, list[Target]] = {}
        problems: dict[str, str] = {}
        for venue in venues:
            found = fetched.get(venue)
            if found is not None:
                per_venue[venue] = found
                continue
            why = errors.get(venue, f"secret not read within {RESOLVE_BUDGET_MS // 1000} s")
            problems[venue] = f"credentials unusable: {why}"
            per_venue[venue] = [Target(venue, s.account, None) for s in self.switches.list_venue(venue)]
        return per_venue, problems

    def write_mode(
        self,
        target: Target,
        current: Switch,
        change: Callable[[Switch], Switch],
        *,
        refuse_killed: bool,
    ) -> tuple[Switch, Switch] | str:
        """Conditional write of `change(current)`, re-reading on conflict. (before, after) or why not."""
        switch = current
        for _ in range(WRITE_ATTEMPTS):
            if refuse_killed and switch.mode is Mode.KILLED:
                return "killed meanwhile: not disarmed (arm first)"
            try:
                return switch, self.switches.put(change(switch))
            except SwitchConflict:
                switch = self.switches.get(target.venue, target.account_id)
        return f"switch kept changing under {WRITE_ATTEMPTS} attempts; not written"

    def update(self, target: Target, change: Callable[[Switch], Switch]) -> None:
        """Bookkeeping write (last sweep, deadline): best effort, never un-kills (it re-reads)."""
        for _ in range(WRITE_ATTEMPTS):
            switch = self.switches.get(target.venue, target.account_id)
            new = change(switch)
            if new == switch:
                return
            try:
                self.switches.put(new)
                return
            except SwitchConflict:
                continue
            except Exception as exc:
                self.log("switch bookkeeping failed", switch=target.name, error=describe(exc))
                return

    def audit(
        self, target: Target, action: str, caller: Caller, reason: str, result: str, details: dict[str, Any]
    ) -> None:
        try:
            self.switches.audit(
                target.venue,
                target.account_id,
                action=action,
                actor=caller.identity,
                reason=reason,
                result=result,
                now_ms=self.clock(),
                details={**caller.details(), **details},
            )
        except Exception as exc:  # the audit must never stop a kill; the log keeps the record
            self.log(
                "audit write failed",
                switch=target.name,
                action=action,
                actor=caller.identity,
                result=result,
                error=describe(exc),
            )

    def run_parallel(
        self,
        items: Iterable[X],
        work: Callable[[X], T],
        deadline_ms: int,
        key: Callable[[X], str] = lambda t: t.name,  # type: ignore[attr-defined]
    ) -> dict[str, T]:
        """Run `work` per item side by side; what has not finished by the deadline is absent."""
        todo = list(items)
        outcomes = self.parallel.run([partial(work, item) for item in todo], deadline_ms)
        out: dict[str, T] = {}
        for item, outcome in zip(todo, outcomes, strict=True):
            if outcome.error is not None:  # the work functions catch venue errors; this is a bug
                self.log("control worker failed", item=key(item), error=describe(outcome.error))
            elif outcome.done:
                out[key(item)] = outcome.value  # type: ignore[assignment]
        return out

    def widen_nonces(self, client: VenueClient) -> bool:
        """After the venue refused a nonce as too small: draw this client's next ones further ahead,
        where the nonce source can (break-glass, or the fallback while DynamoDB is out of reach).
        False: it cannot, or is already as far ahead as it may go."""
        nonces = self.nonces
        if isinstance(nonces, MemoryNonceSource | FallbackNonceSource):
            return nonces.widen(client.nonce_key)
        return False

    def sleep_until(self, at_ms: int) -> None:
        delay = at_ms - self.clock()
        if delay > 0:
            self.sleep(delay / 1000)


class _NothingStored:
    """The ControlTable as break-glass sees it: out of reach, so no switch is known beyond the
    credentials given (a venue whose credentials fail is reported, not guessed at)."""

    def list_venue(self, venue: str) -> list[Switch]:
        return []


def describe(exc: BaseException) -> str:
    # Venue and deadman errors are written to be shown; anything else shows its class only, as a
    # library message might quote a request (and its headers).
    text = str(exc) if isinstance(exc, VenueError | DeadmanError) else type(exc).__name__
    return text[:_ERROR_CHARS]


def names(items: Iterable[str]) -> str:
    return ", ".join(repr(i) for i in items)


def iso(ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
