"""The fleet of one venue, assembled from the real code on simulated ground.

Why this file is long: it is the one place where the real code meets the simulated world (Lambda
invocations, the scheduler, the trader, the operator), and every seam is here to be read at once.

What is real: the refresher Lambda's entry (`deadman.edges.entry.handle_schedule`), the tick loop, the
lease, the stores, the nonce source, the policy, the venue clients (signing included) and the
control use cases. What is simulated: DynamoDB (`FakeDynamo`), Secrets Manager (`SimSecrets`, with
the CredentialStore's cache rules on the virtual clock), the venues (the sandbox simulators, reached
in-process through `SimNetwork`), EventBridge Scheduler and Lambda (`Fleet.invoke`: at most four
containers, a hard timeout, cold starts after a crash), and the trading system (`Trader`).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from deadman.app.control import Caller, Control
from deadman.app.refresh import Refresher
from deadman.core.concurrency import Outcome, attempt
from deadman.core.config import FleetConfig
from deadman.core.errors import CredentialsError
from deadman.core.policy import Timing
from deadman.core.venue import VenueClient
from deadman.edges.entry import handle_schedule
from deadman.edges.wiring import SECRET_MAX_AGE_S
from deadman.stores.credentials import VenueSecret, parse_secret
from deadman.stores.liveness import LivenessReader, LivenessWriter
from deadman.stores.nonces import DynamoNonceSource, with_fallback
from deadman.stores.retry import Retrying
from deadman.stores.switches import SwitchStore
from deadman.venues import driver
from sandbox.sim.dynamo import CallFault, FakeDynamo
from sandbox.sim.transport import SimNetwork
from sandbox.sim.world import Task, World
from sandbox.tables import table_definitions
from sandbox.venues.registry import SIMULATORS
from sandbox.venues.simulator import AccountSpec, Simulator

LIVENESS = "sim-liveness"
CONTROL = "sim-control"
SYSTEM = "trader"
OPERATOR = "arn:aws:sts::123456789012:assumed-role/deadman-operator/sim"
MAX_CONTAINERS = (
    4  # the refresher's reserved concurrency in template.yaml: a loop, two spares, a newcomer leaving
)
LAMBDA_TIMEOUT_MS = 300_000
POLL_MS = 200  # how often the venues' own timers are looked at
INVITE_LATENCY_MS = 300  # an asynchronous Invoke, queued by Lambda, starting


@functools.cache
def _tables() -> dict[str, dict[str, Any]]:
    return table_definitions()  # parsed once per process: thousands of scenarios share it


def _t(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Metric:
    at_ms: int
    name: str
    value: float
    dims: dict[str, str] = field(default_factory=dict)


class SimMetrics:
    def __init__(self, sink: list[Metric], clock: Callable[[], int]) -> None:
        self._sink = sink
        self._clock = clock

    def count(self, name: str, value: float = 1, **dims: str) -> None:
        self._sink.append(Metric(self._clock(), name, value, dims))

    def gauge(self, name: str, value: float, unit: str = "Seconds", **dims: str) -> None:
        self._sink.append(Metric(self._clock(), name, value))


class WorldParallel:
    """`deadman.core.concurrency.Parallel` on the virtual-time scheduler: one task per job."""

    def __init__(self, world: World) -> None:
        self.world = world

    def run(self, jobs: Sequence[Callable[[], Any]], deadline_ms: int | None = None) -> list[Outcome[Any]]:
        if len(jobs) == 1 and deadline_ms is None:
            return [attempt(jobs[0])]
        me = self.world.current().name
        tasks = [self.world.spawn(f"{me}/{i}", partial(attempt, job)) for i, job in enumerate(jobs)]
        self.world.join(tasks, deadline_ms)
        return [t.result if t.done and isinstance(t.result, Outcome) else Outcome(False) for t in tasks]


class SimSecrets:
    """Secrets Manager behind the CredentialStore's rules: cached as the functions do, fetched afresh on
    `refresh`, a failed fetch is a CredentialsError naming the secret. Faults come from the fleet."""

    def __init__(self, fleet: Fleet, max_age_ms: int = SECRET_MAX_AGE_S * 1000) -> None:
        self.fleet = fleet
        self.max_age_ms = max_age_ms
        self._cache: dict[str, tuple[int, str, VenueSecret]] = {}

    def get(self, venue: str, *, max_age_ms: int | None = None, fresh: bool = False) -> VenueSecret:
        return self._fetch(venue, force=False, max_age_ms=max_age_ms, stale_ok=not fresh)

    def refresh(self, venue: str) -> VenueSecret:
        return self._fetch(venue, force=True)

    def _fetch(
        self, venue: str, *, force: bool, max_age_ms: int | None = None, stale_ok: bool = True
    ) -> VenueSecret:
        world = self.fleet.world
        cached = self._cache.get(venue)
        limit = self.max_age_ms if max_age_ms is None else min(self.max_age_ms, max_age_ms)
        if cached is not None and not force and world.now_ms - cached[0] < limit:
            return cached[2]
        latency, fail = self.fleet.secrets_fault()
        world.sleep_ms(latency)
        if fail and cached is not None and not force and stale_ok:
            return cached[2]  # the copy held stands (as CredentialStore does)
        if fail:
            raise CredentialsError(f"sim/{venue}", "<secret>", "could not be read (InternalServiceError)")
        raw = self.fleet.secret_raw[venue]
        if cached is not None and cached[1] == raw:
            parsed = cached[2]  # an unchanged value keeps its Account objects (warm clients)
        else:
            parsed = parse_secret(venue, f"sim/{venue}", raw, sandbox=True)
        self._cache[venue] = (world.now_ms, raw, parsed)
        return parsed


@dataclass
class Container:
    venue: str
    refresher: Refresher
    busy: bool = False


@dataclass
class Invocation:
    n: int
    venue: str
    scheduled_ms: int
    started_ms: int
    task: Task | None = None
    outcome: str = ""


@dataclass
class ControlCall:
    action: str
    started_ms: int
    ended_ms: int | None = None
    result: Any = None
    error: str | None = None
    # Each switch's mode as the table holds it when the call returned: the truth when its answer
    # was lost (an error reported, the write applied).
    modes_after: dict[str, str] = field(default_factory=dict)
    kwargs: dict[str, Any] = field(default_factory=dict)  # what the operator asked for


@dataclass
class Beat:
    at_ms: int  # world time the write was applied (the trader learns it a little later)
    beat_ms: int  # what the trader's clock wrote
    state: str


class Fleet:
    def __init__(
        self,
        world: World,
        venue: str,
        accounts: Sequence[str],
        *,
        timing: Timing,
        run_ms: int = 240_000,
        lambda_timeout_ms: int = LAMBDA_TIMEOUT_MS,
        nonce_mode: str = "time",
        kill_keys: bool = False,
        gated: Sequence[str] = (),
        systems: dict[str, list[str]] | None = None,
        hidden: Sequence[str] = (),
    ) -> None:
        self.world = world
        self.venue = venue
        self.accounts = list(accounts)
        self.timing = timing
        self.lambda_timeout_ms = lambda_timeout_ms
        self.gated = set(gated)  # accounts under the venue's volume gate for good: watchdog only
        self.systems = dict(systems or {})  # account -> the trading systems that gate it (secret)
        self.initial_systems = {a: list(v) for a, v in self.systems.items()}
        self.metrics: list[Metric] = []
        self.dynamo_fault: Callable[[str, str, str], CallFault | None] = lambda op, table, who: None
        self.secrets_fault: Callable[[], tuple[int, bool]] = lambda: (0, False)
        self.dynamo = FakeDynamo(sleep_ms=world.sleep_ms, fault=self._dynamo_fault)
        self.dynamo.create_tables_from_template(
            {"LivenessTable": LIVENESS, "ControlTable": CONTROL}, _tables()
        )
        self.network = SimNetwork(world)
        self.sim: Simulator = SIMULATORS[venue].create(world.clock)
        self.kill_keys = kill_keys
        # Secret edits mid-run: accounts not in the secret yet (added later) or no longer (removed),
        # and where an account's gating moved (account -> when, the systems before, after).
        self.hidden: set[str] = set(hidden)
        self.removed: dict[str, int] = {}  # account -> when it stopped being protected
        self.retired: set[str] = set()  # in the secret, marked retired
        self.moves: list[tuple[int, str, list[str], list[str]]] = []
        # Each account's keys registered at the venue, and its entry in the venue secret.
        self.entries: dict[str, dict[str, Any]] = {
            account: self._entry(
                self.sim.provision(
                    AccountSpec(
                        account, kill_key=kill_keys, below_gate=account in self.gated, nonce_mode=nonce_mode
                    )
                )
            )
            for account in self.accounts
        }
        self.secret_raw: dict[str, str] = {venue: self._secret_text()}
        # When the whole Lambda service is out of reach: no invocation runs, none is started.
        self.gone: list[tuple[int, int]] = []
        self.config = FleetConfig(
            timing=timing,
            system=SYSTEM,
            liveness_table=LIVENESS,
            control_table=CONTROL,
            enabled_venues=frozenset({venue}),
            run_ms=run_ms,
        )
        self.containers: list[Container] = []
        self.invocations: list[Invocation] = []
        self.controls: list[ControlCall] = []
        self.lambda_errors: list[int] = []
        self.crashes: list[int] = []
        self.throttled: list[int] = []
        self.log_lines: list[tuple[int, str, dict[str, Any]]] = []
        self.spares_called: list[int] = []  # when a loop with no standby called one
        world.call_at(world.now_ms, self._poll)

    # -- the venue ----------------------------------------------------------------------------------
    @staticmethod
    def _entry(entry: dict[str, Any]) -> dict[str, Any]:
        return {**entry, "base_url": "http://sim.invalid"}  # reached in-process (SimNetwork)

    def _secret_text(self) -> str:
        """The venue secret as the operator keeps it: the accounts in it now, with their gating."""
        accounts = []
        for account in self.accounts:
            if account in self.hidden or (account in self.removed and account not in self.retired):
                continue
            entry = dict(self.entries[account])
            if account in self.retired:
                entry["retired"] = True
            if account in self.systems:
                entry["systems"] = self.systems[account]
            accounts.append(entry)
        return json.dumps({"accounts": accounts})

    def rotate_keys(self) -> None:
        """New keys at the venue and in the secret; the old ones keep working until deleted."""
        self.entries = {account: self._entry(self.sim.rotate_keys(account)) for account in self.accounts}
        self.secret_raw[self.venue] = self._secret_text()

    def delete_old_keys(self) -> None:
        """The operator deletes the rotated-out keys at the venue."""
        for account in self.accounts:
            self.sim.delete_old_keys(account)

    def add_account(self, account: str) -> None:
        """The operator adds an account (its keys exist at the venue) to the secret."""
        self.hidden.discard(account)
        self.secret_raw[self.venue] = self._secret_text()

    def remove_account(self, account: str) -> None:
        """The operator takes an account out of the secret: deadman no longer protects it."""
        self.removed.setdefault(account, self.world.now_ms)
        self.retired.discard(account)
        self.secret_raw[self.venue] = self._secret_text()

    def retire_account(self, account: str) -> None:
        """The operator marks an account `retired` (the README's way out): no longer protected, its
        keys kept in the secret so that the fleet can switch its venue timer off."""
        self.removed.setdefault(account, self.world.now_ms)
        self.retired.add(account)
        self.secret_raw[self.venue] = self._secret_text()

    def move_gating(self, account: str, systems: list[str]) -> None:
        """The operator moves an account to other trading systems in the secret."""
        before = list(self.systems.get(account, [SYSTEM]))
        self.systems[account] = list(systems)
        self.moves.append((self.world.now_ms, account, before, list(systems)))
        self.secret_raw[self.venue] = self._secret_text()

    def systems_of(self, account: str, at_ms: int) -> list[str]:
        """The trading systems the secret named for `account` at `at_ms`."""
        systems = list(self.initial_systems.get(account, [SYSTEM]))
        for when, moved, _before, after in self.moves:
            if moved == account and when <= at_ms:
                systems = after
        return systems

    def resting(self) -> dict[str, set[str]]:
        """Every resting order per account, by id (read straight from the simulator)."""
        with self.sim.lock:
            return {a: self.sim.order_ids(a) for a in self.accounts}

    def place_order(self, account: str, *, old_key: bool = False) -> str:
        return self.sim.rest_order(account, old_key=old_key)

    def fires(self) -> int:
        return self.sim.timer_fires()

    def _poll(self) -> None:
        with self.sim.lock:
            self.sim.poll()
        self.world.call_at(self.world.now_ms + POLL_MS, self._poll)

    # -- AWS ----------------------------------------------------------------------------------------
    def _dynamo_fault(self, op: str, table: str) -> CallFault | None:
        current = self.world._current
        return self.dynamo_fault(op, table, current.name if current is not None else "")

    def _patience(self) -> Retrying:
        return Retrying(self.world.clock, self.world.sleep)

    def _metrics(self) -> SimMetrics:
        return SimMetrics(self.metrics, self.world.clock)

    def _log(self, message: str, **fields: Any) -> None:
        self.log_lines.append((self.world.now_ms, message, fields))

    def _client_factory(self, who: str) -> Callable[..., VenueClient]:
        venue = driver(self.venue)
        nonces = with_fallback(DynamoNonceSource(CONTROL, client=self.dynamo, patience=self._patience()))

        def make(account: Any, timeout: tuple[float, float] | None = None) -> VenueClient:
            kwargs: dict[str, Any] = {
                "nonces": nonces,
                "clock": self.world.clock,
                "parallel": WorldParallel(self.world),
            }
            if timeout is not None:
                kwargs["timeout"] = timeout
            return venue.client(account, session=self.network.session(self.sim, who), **kwargs)

        return make

    def _invite(self) -> None:
        """A refresher calls a spare of its own: Lambda queues the event and runs it shortly after."""
        now = self.world.now_ms
        self.spares_called.append(now)

        def arrive() -> None:
            self.invoke(now)

        self.world.call_at(now + INVITE_LATENCY_MS, arrive)

    def new_refresher(self) -> Refresher:
        return Refresher(
            invite=self._invite,
            venue=self.venue,
            config=self.config,
            switches=SwitchStore(CONTROL, client=self.dynamo, patience=self._patience()),
            liveness=LivenessReader(LIVENESS, client=self.dynamo, patience=self._patience()),
            credentials=SimSecrets(self),
            nonces=with_fallback(DynamoNonceSource(CONTROL, client=self.dynamo, patience=self._patience())),
            clock=self.world.clock,
            metrics=self._metrics(),
            log=self._log,
            client_factory=self._client_factory("refresher"),
            sleep=self.world.sleep,
            parallel=WorldParallel(self.world),
        )

    def new_control(self) -> Control:
        make = self._client_factory("control")
        return Control(
            config=self.config,
            switches=SwitchStore(CONTROL, client=self.dynamo, patience=self._patience()),
            liveness=LivenessReader(LIVENESS, client=self.dynamo, patience=self._patience()),
            credentials=SimSecrets(self),
            nonces=with_fallback(DynamoNonceSource(CONTROL, client=self.dynamo, patience=self._patience())),
            clock=self.world.clock,
            sleep=self.world.sleep,
            client_factory=lambda venue, account, timeout: make(account, timeout),
            metrics=self._metrics(),
            log=self._log,
            parallel=WorldParallel(self.world),
        )

    # -- EventBridge Scheduler and Lambda -----------------------------------------------------------
    def go_away(self, until_ms: int) -> None:
        """The refresher function is out of reach until `until_ms` (the service, the account's
        concurrency, the region): every invocation running dies, none starts meanwhile."""
        self.gone.append((self.world.now_ms, until_ms))
        for inv in self.invocations:
            if inv.task is not None and not inv.task.done:
                inv.task.crash()

    def invoke(self, scheduled_ms: int, *, crash_at_yield: int | None = None) -> Invocation | None:
        """One Scheduler event reaching the refresher function now."""
        if any(a <= self.world.now_ms < b for a, b in self.gone):
            return None  # the event finds no function to run
        free = next((c for c in self.containers if not c.busy), None)
        if free is None:
            if len(self.containers) >= MAX_CONTAINERS:
                self.throttled.append(self.world.now_ms)  # throttled: the event is dropped
                return None
            free = Container(self.venue, self.new_refresher())  # a cold start
            self.containers.append(free)
        container = free
        container.busy = True
        n = len(self.invocations)
        started = self.world.now_ms
        inv = Invocation(n, self.venue, scheduled_ms, started)
        deadline = started + self.lambda_timeout_ms
        event = {"venue": self.venue, "scheduled_time": _t(scheduled_ms), "execution_id": f"exec-{n}"}

        def body() -> dict[str, Any]:
            return handle_schedule(
                event,
                invocation_id=f"inv-{n}",
                remaining_ms=lambda: deadline - self.world.now_ms,
                refresher=container.refresher,
                clock=self.world.clock,
            )

        task = self.world.spawn(f"{self.venue}-inv{n}", body)
        task.crash_at_yield = crash_at_yield
        inv.task = task
        self.invocations.append(inv)
        self.world.call_at(deadline, task.crash)  # Lambda's hard timeout

        def finished() -> None:
            if not task.done:
                self.world.call_at(self.world.now_ms + 1000, finished)
                return
            container.busy = False
            if task.crashed or task.error is not None:
                # The process is gone (or the runtime restarts it): the next event starts cold.
                self.containers.remove(container)
                self.lambda_errors.append(self.world.now_ms)
                if task.crashed:
                    self.crashes.append(self.world.now_ms)
                inv.outcome = "crashed" if task.crashed else f"error: {task.error!r}"
            else:
                inv.outcome = str(task.result)

        self.world.call_at(started + 1000, finished)
        return inv

    # -- the control API ----------------------------------------------------------------------------
    def control(self, action: str, **kwargs: Any) -> ControlCall:
        call = ControlCall(action, self.world.now_ms, kwargs=dict(kwargs))
        self.controls.append(call)
        caller = Caller(OPERATOR, source_ip="198.51.100.7", request_id=f"req-{len(self.controls)}")

        def body() -> None:
            control = self.new_control()
            try:
                method = getattr(control, action)
                call.result = method(caller=caller, venues=None, accounts=None, **kwargs)
            except Exception as exc:
                call.error = f"{type(exc).__name__}: {exc}"
            call.ended_ms = self.world.now_ms
            call.modes_after = {
                item["sk"]["S"]: item.get("mode", {}).get("S", "armed")
                for item in self.dynamo.items(CONTROL)
                if item["pk"]["S"] == f"SWITCH#{self.venue}"
            }

        self.world.spawn(f"{action}-{len(self.controls)}", body)
        return call

    def audit(self, account: str) -> list[dict[str, Any]]:
        return [
            item for item in self.dynamo.items(CONTROL) if item["pk"]["S"] == f"AUDIT#{self.venue}#{account}"
        ]


@dataclass
class Trader:
    """The trading system: beats through the real LivenessWriter, rests orders at the venue."""

    fleet: Fleet
    every_ms: int = 5_000
    skew_ms: int = 0
    beats: list[Beat] = field(default_factory=list)
    beating: bool = True
    zombie: bool = False  # after death: keeps resting orders at the venue
    orders_every_ms: int = 7_000
    placed: list[tuple[int, str, str]] = field(default_factory=list)  # (at, account, order id)
    system: str = SYSTEM
    accounts: list[str] | None = None  # where it rests orders; None: every account
    malformed: bool = False  # its rows are written wrong (a bug in the trader): no proof of life
    lose_next: bool = False  # its next beat is lost (the write fails)
    old_key_share: float = 0.0  # mid-rotation: the share of orders rested on the old key

    def start(self) -> None:
        world = self.fleet.world
        writer = LivenessWriter(
            LIVENESS,
            self.system,
            host="sim",
            clock=lambda: world.now_ms + self.skew_ms,
            client=self.fleet.dynamo,
        )

        def beat_loop() -> None:
            while True:
                if self.beating and self.lose_next:
                    self.lose_next = False  # lost on its way: no row written
                elif self.beating and self.malformed:
                    self._write_malformed()
                elif self.beating:
                    try:
                        item = writer.beat()
                        # The trader's true time when it beat (its clock runs skew_ms off).
                        beat_ms = int(item["beat_ms"])
                        self.beats.append(Beat(beat_ms - self.skew_ms, beat_ms, "running"))
                    except Exception:
                        # A failed beat is a missing beat - unless it was applied and only its answer
                        # lost: then the row holds it, and the fleet may rightly extend on it.
                        self._applied_anyway()
                world.sleep_ms(self.every_ms)

        def order_loop() -> None:
            turn = 0
            while True:
                if self.beating or self.zombie:
                    for account in self.trading():
                        turn += 1
                        old = self.old_key_share > 0 and turn % round(1 / self.old_key_share) == 0
                        oid = self.fleet.place_order(account, old_key=old)
                        self.placed.append((world.now_ms, account, oid))
                world.sleep_ms(self.orders_every_ms)

        self._writer = writer
        world.spawn(f"{self.system}-beat", beat_loop)
        world.spawn(f"{self.system}-orders", order_loop)

    def trading(self) -> list[str]:
        """The accounts it rests orders on now: its own, those in the secret (or taken out of it:
        deadman no longer protects them, the trader goes on trading)."""
        mine = self.fleet.accounts if self.accounts is None else self.accounts
        return [a for a in mine if a not in self.fleet.hidden]

    def _applied_anyway(self) -> None:
        row = self.fleet.dynamo.get_raw(LIVENESS, {"system": {"S": self.system}})
        if row is None or row.get("state", {}).get("S") != "running" or "N" not in row.get("beat_ms", {}):
            return
        beat_ms = int(row["beat_ms"]["N"])
        if not self.beats or beat_ms > self.beats[-1].beat_ms:
            self.beats.append(Beat(beat_ms - self.skew_ms, beat_ms, "running"))

    def _write_malformed(self) -> None:
        world = self.fleet.world
        now = world.now_ms + self.skew_ms
        item = {
            "system": {"S": self.system},
            "beat_ms": {"S": str(now)},  # a string where a number belongs
            "seq": {"N": str(now)},
            "state": {"S": "running"},
            "host": {"S": "sim"},
            "expires_at": {"N": str(now // 1000 + 86_400)},
        }
        asked = world.now_ms  # a slow write may apply at any moment until it answers: from the ask
        try:
            self.fleet.dynamo.put_item(TableName=LIVENESS, Item=item)
            self.beats.append(Beat(asked, now, "malformed"))
        except Exception:  # noqa: S110 - a failed write is just a missing one
            pass

    def stop_running(self) -> None:
        """A clean shutdown: state "stopped" (the fleet sweeps at its next tick)."""
        world = self.fleet.world

        def body() -> None:
            asked = world.now_ms  # as for a malformed row: it may apply from the ask on
            try:
                self._writer._put("stopped")
                self.beats.append(Beat(asked, asked + self.skew_ms, "stopped"))
            except Exception:  # noqa: S110
                pass

        world.spawn("trader-stop", body)
