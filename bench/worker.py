"""One fresh process of the bench, against `python -m sandbox.bench serve` (INFO.json: its endpoints).
Run with the project's `.venv` python (what the layer ships, no alternative library installed):

  python bench/worker.py memory INFO.json FUNCTION OUT.json
      FUNCTION: refresher-<venue> (every registered venue) | kill | disarm | status |
      notifier. Imports functions/<f>/app.py as Lambda does and makes a realistic run: a refresher's
      handler runs its loop for RUN_SECONDS (several ticks, the trader beating), the API functions
      answer one request (events/*.json), the notifier one stream batch (publishing to moto's SNS).
      Reports ru_maxrss after the import and at the end (the peak).
  python bench/worker.py scale INFO.json VENUE ACCOUNTS SYSTEMS ROUNDS OUT.json
      Puts ACCOUNTS of the server's bench accounts in the venue's secret, gated on SYSTEMS trading
      systems (round robin; 1 = the stack's SystemName), then ticks ROUNDS times with every system
      alive: one tick's wall time, the AWS and venue calls per tick, the process's peak RSS. The
      venue's own secret is put back afterwards.

Results go to OUT.json (stdout belongs to the handlers' logs and EMF metrics).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import resource
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TIMING_KEYS = ("MAX_STALENESS_S", "TICK_S", "GRACE_S", "SKEW_S", "RUN_SECONDS")
API_EVENTS = {"kill": "kill.json", "disarm": "disarm.json", "status": "status.json"}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


class Context:
    def __init__(self, name: str, timeout_s: float) -> None:
        self.function_name = name
        self.aws_request_id = str(uuid.uuid4())
        self.memory_limit_in_mb = 256
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


def import_handler(name: str) -> Any:
    path = ROOT / "functions" / name / "app.py"
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    spec.loader.exec_module(module)
    return module


def memory(info: dict[str, Any], function: str) -> dict[str, Any]:
    os.environ.update(info["env"])
    os.environ.update({"POWERTOOLS_METRICS_DISABLED": "false", "POWERTOOLS_LOG_LEVEL": "INFO"})
    started = rss_mb()
    result: Any
    if function.startswith("refresher-"):
        from bench import ours

        venue = function.removeprefix("refresher-")
        os.environ.update({"VENUE": venue, "RUN_SECONDS": "5"})  # T = 1 s in the sandbox: ~5 ticks
        app = import_handler("refresher")
        imported = rss_mb()
        # The trader's beats through the functions' own client: boto3 in this process would be
        # counted in the refresher's memory.
        beats = ours.Beats(info["env"]["LIVENESS_TABLE"], lean=True)
        beats.start(info["system"], 0.5)
        try:
            now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
            event = {"venue": venue, "scheduled_time": now, "execution_id": str(uuid.uuid4())}
            began = time.perf_counter()
            result = app.lambda_handler(event, Context(f"deadman-refresher-{venue}", 300))
        finally:
            beats.stop()
    elif function == "notifier":
        os.environ.update({"TOPIC_ARN": info["topic_arn"], "STACK_NAME": "deadman-bench"})
        app = import_handler("notifier")
        imported = rss_mb()
        event = json.loads((ROOT / "events" / "notifier-audit-stream.json").read_text())
        began = time.perf_counter()
        result = app.lambda_handler(event, Context("deadman-notifier", 30))
    else:
        app = import_handler(function)
        imported = rss_mb()
        event = json.loads((ROOT / "events" / API_EVENTS[function]).read_text())
        began = time.perf_counter()
        result = app.lambda_handler(event, Context(f"deadman-{function}", 30))
    handler_ms = (time.perf_counter() - began) * 1000
    summary = result.get("statusCode", result.get("result", result)) if isinstance(result, dict) else result
    return {
        "function": function,
        "interpreter_mb": started,
        "after_import_mb": imported,
        "peak_rss_mb": rss_mb(),
        "handler_ms": handler_ms,
        "result": str(summary)[:200],
    }


class Calls:
    """AWS calls (deadman's lean client) and venue calls (its HTTP session) while counting."""

    def __init__(self) -> None:
        from bench import ours

        self.aws: Counter[str] = Counter()
        self.venue = 0
        self.active = False
        self._lock = threading.Lock()
        ours.count_calls(on_aws=self._on_aws, on_venue=self._on_venue)

    def _on_aws(self, name: str) -> None:
        if self.active:
            with self._lock:
                self.aws[name] += 1

    def _on_venue(self) -> None:
        if self.active:
            with self._lock:
                self.venue += 1


def scale(info: dict[str, Any], venue: str, accounts: int, systems: int, rounds: int) -> dict[str, Any]:
    import boto3

    from bench import ours

    os.environ.update(info["env"])
    for key in TIMING_KEYS:  # the template's defaults (T = 10 s)
        os.environ.pop(key, None)
    calls = Calls()
    names = [info["system"]] if systems == 1 else [f"bench-system-{j}" for j in range(systems)]
    entries = [
        {**entry, "systems": [names[i % systems]]} if systems > 1 else entry
        for i, entry in enumerate(info["pool"][venue][:accounts])
    ]
    secrets = boto3.client("secretsmanager")
    arn = info["secret_arns"][venue]
    secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({"accounts": entries}))
    try:
        beats = ours.Beats(info["env"]["LIVENESS_TABLE"])
        refresher = ours.refresher(venue)
        imported = rss_mb()
        for name in names:
            beats.beat(name)
        first = time.perf_counter()
        refresher.tick()  # first tick: secret, clients, every switch created
        first_ms = (time.perf_counter() - first) * 1000
        walls: list[float] = []
        cpus: list[float] = []
        errors: Counter[str] = Counter()
        extended = 0
        for _ in range(rounds):
            for name in names:
                beats.beat(name)
            calls.active = True
            start, cpu = time.perf_counter(), time.process_time()
            report = refresher.tick()
            walls.append((time.perf_counter() - start) * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
            calls.active = False
            extended += sum(1 for a in report.accounts if a.extended_to_ms)
            errors.update(str(a.error)[:80] for a in report.accounts if a.error)
    finally:
        secrets.put_secret_value(SecretId=arn, SecretString=json.dumps(info["secret_values"][venue]))
    return {
        "venue": venue,
        "accounts": accounts,
        "systems": systems,
        "rounds": rounds,
        "first_tick_ms": first_ms,
        "tick_ms_median": statistics.median(walls),
        "tick_ms_max": max(walls),
        # This process's CPU (moto and the simulators run in another): what Lambda's CPU share,
        # 1 vCPU at 1,769 MB, must carry within a tick.
        "tick_cpu_ms_median": statistics.median(cpus),
        "extended_per_tick": extended / rounds,
        "aws_calls_per_tick": {k: v / rounds for k, v in sorted(calls.aws.items())},
        "dynamodb_calls_per_tick": sum(v for k, v in calls.aws.items() if k.startswith("dynamodb.")) / rounds,
        "venue_calls_per_tick": calls.venue / rounds,
        "after_import_mb": imported,
        "peak_rss_mb": rss_mb(),
        "errors": dict(errors.most_common(3)),
    }


def main(argv: list[str]) -> None:
    mode, info_path = argv[0], Path(argv[1])
    info = json.loads(info_path.read_text())
    if mode == "memory":
        result = memory(info, argv[2])
        out = argv[3]
    else:
        result = scale(info, argv[2], int(argv[3]), int(argv[4]), int(argv[5]))
        out = argv[6]
    Path(out).write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
