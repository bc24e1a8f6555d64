"""The whole fleet on one machine.

moto (in server mode, on a free loopback port) stands in for DynamoDB and Secrets Manager; each
venue's simulator (`sandbox.venues.registry`) stands in for its venue, with the accounts it names
for the sandbox; the tables are created from template.yaml; the secrets hold real keys that the
simulators check; and `SchedulerDriver` plays EventBridge Scheduler, invoking the real refresher
handler (functions/refresher/app.py, loaded once per venue with that venue's environment) with
Scheduler-shaped events on a real clock, landing anywhere in its (compressed) minute.
"""

from __future__ import annotations

import copy
import datetime as dt
import importlib.util
import json
import random
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from sandbox.aws import MotoServer, patched_env
from sandbox.lambda_api import LocalLambda, function_name
from sandbox.tables import create_tables
from sandbox.venues.registry import SIMULATORS, VENUES, sandbox_venues
from sandbox.venues.simulator import AccountSpec, Simulator

ROOT = Path(__file__).resolve().parent.parent
REFRESHER_APP = ROOT / "functions" / "refresher" / "app.py"

LIVENESS_TABLE = "deadman-liveness"
CONTROL_TABLE = "deadman-control"
SYSTEM = "toy-trader"


@dataclass(frozen=True)
class SandboxTiming:
    """Seconds. Compressed so the demo's story fits in two minutes; the rules are the real ones."""

    max_staleness_s: float = 4
    tick_s: float = 1
    grace_s: float = 2
    skew_s: float = 1
    minute_s: float = 6  # the scheduler's "minute"
    run_s: float = 10  # RUN_SECONDS
    lambda_timeout_s: float = 24  # a spare waits up to a "minute" before its run: RUN_SECONDS + 14

    def env(self) -> dict[str, str]:
        return {
            "MAX_STALENESS_S": str(self.max_staleness_s),
            "TICK_S": str(self.tick_s),
            "GRACE_S": str(self.grace_s),
            "SKEW_S": str(self.skew_s),
            "RUN_SECONDS": str(self.run_s),
            "SWEEP_WINDOW_S": "0",
            "MAX_DISARM_S": "14400",  # the template's defaults: the README's commands work here too
            "MAX_OFF_S": "259200",
        }


@dataclass
class FakeContext:
    """The parts of a Lambda context the handler and Powertools read."""

    function_name: str
    timeout_s: float
    stop: threading.Event
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 256
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        if self.stop.is_set():
            return 0
        return int((self.timeout_s - (_mono() - self.started)) * 1000)


def _mono() -> float:
    return time.monotonic()


def load_handler(venue: str, env: dict[str, str]) -> ModuleType:
    """Import functions/refresher/app.py as its own module with this venue's environment, as
    Lambda would give each refresher function its own process."""
    spec = importlib.util.spec_from_file_location(f"refresher_app_{venue}", REFRESHER_APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # The function's own name, as Lambda sets it: a loop with no standby invokes it for one.
    with patched_env({**env, "VENUE": venue, "AWS_LAMBDA_FUNCTION_NAME": function_name(venue)}):
        spec.loader.exec_module(module)
    return module


class SchedulerDriver:
    """Plays EventBridge Scheduler: one schedule per venue, one async invocation per 'minute',
    landing at a random point of that minute (Scheduler's promise), never retried."""

    def __init__(self, handlers: dict[str, ModuleType], timing: SandboxTiming, *, seed: int = 7) -> None:
        self.handlers = handlers
        self.timing = timing
        self.stop_event = threading.Event()
        self.invocations: list[tuple[str, float, dict[str, Any]]] = []
        self._threads: list[threading.Thread] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def start(self) -> None:
        for venue in self.handlers:
            thread = threading.Thread(
                target=self._schedule, args=(venue,), name=f"schedule-{venue}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def invoke(self, venue: str) -> threading.Thread:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        event = {
            "venue": venue,
            "scheduled_time": now.isoformat().replace("+00:00", "Z"),
            "execution_id": str(uuid.uuid4()),
        }
        context = FakeContext(f"deadman-refresher-{venue}", self.timing.lambda_timeout_s, self.stop_event)

        def run() -> None:
            try:
                result = self.handlers[venue].lambda_handler(event, context)
            except Exception as exc:  # an invocation error is the function's error metric, not ours
                result = {"result": "error", "error": f"{type(exc).__name__}: {exc}"}
            with self._lock:
                self.invocations.append((venue, _mono(), result))

        thread = threading.Thread(target=run, name=f"invoke-{venue}", daemon=True)
        thread.start()
        with self._lock:
            self._threads.append(thread)
        return thread

    def _schedule(self, venue: str) -> None:
        minute = self.timing.minute_s
        self.invoke(venue)  # the first event lands at once, as after a deploy
        while not self.stop_event.wait(self._rng.uniform(0.3, 1.0) * minute):
            self.invoke(venue)

    def stop(self) -> None:
        self.stop_event.set()
        joined: set[threading.Thread] = set()
        while True:
            # A schedule thread may start one last invocation while we join: loop until none is new.
            with self._lock:
                pending = [t for t in self._threads if t not in joined]
            if not pending:
                return
            for thread in pending:
                thread.join(timeout=self.timing.lambda_timeout_s + 5)
                joined.add(thread)


class Stack:
    def __init__(
        self,
        timing: SandboxTiming | None = None,
        *,
        venues: tuple[str, ...] | None = None,
    ) -> None:
        self.timing = timing or SandboxTiming()
        self.venues = venues if venues is not None else sandbox_venues(self.timing.tick_s)
        self.moto: MotoServer | None = None
        # Every venue's simulator (the refreshers run for `venues` only), and the accounts provisioned
        # on each: venue -> account -> its secret entry (`base_url` added once the simulator serves).
        self.sims: dict[str, Simulator] = {venue: SIMULATORS[venue].create() for venue in VENUES}
        self.accounts: dict[str, dict[str, dict[str, Any]]] = {venue: {} for venue in VENUES}
        self.secret_arns: dict[str, str] = {}
        self.env: dict[str, str] = {}
        self.handlers: dict[str, ModuleType] = {}
        self.scheduler: SchedulerDriver | None = None
        self.lambda_api = LocalLambda(self._run_spare)
        self._env_patches: list[Any] = []

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> Stack:
        self.moto = MotoServer()
        # moto's backends are process-global: start from an empty account whatever ran before.
        self.moto.reset()
        self.lambda_api.start()
        for sim in self.sims.values():
            sim.start()
        self._provision_venues()
        self.env = {
            **self.moto.env(),
            **self.timing.env(),
            "LIVENESS_TABLE": LIVENESS_TABLE,
            "CONTROL_TABLE": CONTROL_TABLE,
            "SYSTEM_NAME": SYSTEM,
            "ENABLED_VENUES": ",".join(self.venues),
            "POWERTOOLS_SERVICE_NAME": "deadman",
            "POWERTOOLS_METRICS_NAMESPACE": "Deadman",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            # Sandbox mode: the venue secrets name the simulators' loopback URLs, which a deployed
            # stack refuses (deadman.venues.urls). The template never sets it.
            "DEADMAN_SANDBOX": "true",
            # Lambda's Invoke, for the refreshers calling a spare of their own (sandbox/lambda_api.py).
            "AWS_ENDPOINT_URL_LAMBDA": self.lambda_api.url,
        }
        # The whole process sees this environment: boto3 finds moto, Powertools stays quiet.
        self._patch_env(self.env)
        self._provision_aws()
        secrets = {f"SECRET_{v.upper()}": arn for v, arn in self.secret_arns.items()}
        self.env.update(secrets)
        self._patch_env(secrets)
        return self

    def _patch_env(self, values: dict[str, str]) -> None:
        patch = patched_env(values)
        patch.__enter__()
        self._env_patches.append(patch)

    def start_scheduler(self) -> SchedulerDriver:
        # The refresher "functions" share one process here, so Powertools' shared metric registry
        # sees the venue dimension set once per venue; in Lambda each has its own process.
        warnings.filterwarnings("ignore", message="Dimension 'venue' has already been added")
        self.handlers = {venue: load_handler(venue, self.env) for venue in self.venues}
        self.scheduler = SchedulerDriver(self.handlers, self.timing)
        self.scheduler.start()
        return self.scheduler

    def _run_spare(self, venue: str) -> None:
        """A refresher called a spare: one more invocation, as the scheduler's would be."""
        if self.scheduler is not None and not self.scheduler.stop_event.is_set():
            self.scheduler.invoke(venue)

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
        self.lambda_api.stop()
        for sim in self.sims.values():
            sim.stop()
        for patch in reversed(self._env_patches):
            patch.__exit__(None, None, None)
        self._env_patches.clear()
        if self.moto is not None:
            self.moto.stop()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- provisioning ---------------------------------------------------------------------------
    def _provision_venues(self) -> None:
        for venue, sim in self.sims.items():
            for spec in sim.SANDBOX_ACCOUNTS:
                self.provision(venue, spec)

    def provision(self, venue: str, spec: AccountSpec) -> dict[str, Any]:
        """An account's keys at the venue's simulator; its secret entry (pointing at the simulator)."""
        sim = self.sims[venue]
        entry = {**sim.provision(spec), "base_url": sim.url}
        self.accounts[venue][spec.account] = entry
        return entry

    def secret_values(self) -> dict[str, dict[str, Any]]:
        """Each venue secret's value, a copy of its own (a caller may edit it and `put_secret` it)."""
        return copy.deepcopy(
            {venue: {"accounts": list(entries.values())} for venue, entries in self.accounts.items()}
        )

    def _provision_aws(self) -> None:
        import boto3

        create_tables(
            boto3.client("dynamodb"), {"LivenessTable": LIVENESS_TABLE, "ControlTable": CONTROL_TABLE}
        )
        secrets = boto3.client("secretsmanager")
        for venue, value in self.secret_values().items():
            arn = secrets.create_secret(Name=f"deadman-sandbox/{venue}", SecretString=json.dumps(value))[
                "ARN"
            ]
            self.secret_arns[venue] = arn

    def put_secret(self, venue: str, raw: str) -> None:
        import boto3

        boto3.client("secretsmanager").put_secret_value(SecretId=self.secret_arns[venue], SecretString=raw)

    # -- reading the books ----------------------------------------------------------------------
    def books(self) -> dict[tuple[str, str], int]:
        """(venue, account) -> resting orders right now, straight from the simulators."""
        return {
            (venue, account): len(self.sims[venue].order_ids(account))
            for venue in self.venues
            for account in self.accounts[venue]
        }

    def timers(self) -> dict[tuple[str, str], int | None]:
        """(venue, account) -> when its venue timer fires, straight from the simulators."""
        return {
            (venue, account): self.sims[venue].timer_at(account)
            for venue in self.venues
            for account in self.accounts[venue]
        }

    def switch(self, venue: str, account: str) -> Any:
        from deadman.stores.switches import SwitchStore

        return SwitchStore(CONTROL_TABLE).get(venue, account)

    def wait_for(
        self, predicate: Callable[[], bool], timeout_s: float, every_s: float = 0.05
    ) -> float | None:
        """Seconds until predicate() held, or None on timeout."""
        start = _mono()
        while _mono() - start < timeout_s:
            if predicate():
                return _mono() - start
            threading.Event().wait(every_s)
        return None
