"""The liveness row: how a trading system proves it is alive, and how the fleet judges that proof.

One row per trading system in the LivenessTable (key `system`), written only by that system:

    system      S  the trading system's name (the table key)
    beat_ms     N  the writer's clock at the beat, epoch milliseconds
    seq         N  increasing per writer (diagnostics: spot two writers or a replayed row)
    state       S  "running"; anything else means "do not extend" ("stopped" on a clean shutdown)
    host        S  where the writer runs (diagnostics)
    expires_at  N  epoch seconds; the table's TTL attribute, so an abandoned system's row goes away

The fleet reads the row strongly consistent and extends a venue's switch only if `judge` says
ALIVE: state "running" and `-K <= now_ms - beat_ms <= S` by the fleet's clock (S = max staleness,
K = skew bound). Every other verdict - stale, missing, in the future beyond K, unreadable, not
running - is death, and an error while reading is UNREADABLE (fail closed, docs/design.md, promise 1).

Three ways to write the row:

* `LivenessWriter(table, system).start(every_s=5)` in a Python trader (a daemon thread beats;
  `stop_running()` on a clean shutdown so the fleet sweeps at its next tick instead of waiting S);
* `deadman beat` (the CLI, e.g. as a sidecar loop);
* one POSIX shell line from any language, printed by `put_item_command(table, system)`:

      aws dynamodb put-item --table-name Liveness --item '{"system":{"S":"trader-1"},...}'

  run it every few seconds (needs GNU `date` for `%3N`; on macOS install coreutils' `gdate`).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from deadman.clock import Clock, system_clock
from deadman.store_retry import Patience, impatient

log = logging.getLogger(__name__)

RUNNING = "running"
STOPPED = "stopped"
DEFAULT_TTL_S = 86_400


class Verdict(StrEnum):
    ALIVE = "alive"
    STALE = "stale"
    MISSING = "missing"
    FUTURE = "future"
    UNREADABLE = "unreadable"
    NOT_RUNNING = "not_running"


@dataclass(frozen=True)
class Liveness:
    verdict: Verdict
    beat_ms: int | None
    age_ms: int | None
    detail: str
    at_ms: int | None = None  # the fleet's clock when it judged (read_and_judge: after the read)

    @property
    def alive(self) -> bool:
        return self.verdict is Verdict.ALIVE


# -- judging (pure) ---------------------------------------------------------------------------------


def judge(item: Mapping[str, Any] | None, *, now_ms: int, max_staleness_ms: int, skew_ms: int) -> Liveness:
    """Judge one deserialized liveness row at `now_ms` (the fleet's clock). Pure; never raises on data.

    `item` is the row as plain Python (numbers as `Decimal` or `int`) or None when there is none.
    Floats are refused (UNREADABLE): the table only ever yields `Decimal`, so a float means
    something other than a DynamoDB row reached here.
    """
    if max_staleness_ms < 0 or skew_ms < 0:
        raise ValueError("max_staleness_ms and skew_ms must be >= 0")
    if item is None:
        return Liveness(Verdict.MISSING, None, None, "no liveness row")
    if not isinstance(item, Mapping):
        return _unreadable("row is not a map")
    state = item.get("state")
    if state is None:
        return _unreadable("state is missing")
    if not isinstance(state, str):
        return _unreadable("state is not a string")
    beat_ms, problem = _as_epoch_ms(item.get("beat_ms"))
    if beat_ms is None:
        return _unreadable(f"beat_ms {problem}")
    age_ms = now_ms - beat_ms
    if state != RUNNING:
        return Liveness(Verdict.NOT_RUNNING, beat_ms, age_ms, f"state is {state[:40]!r}, not 'running'")
    if age_ms < -skew_ms:
        return Liveness(
            Verdict.FUTURE, beat_ms, age_ms, f"beat is {-age_ms} ms in the future (skew bound {skew_ms} ms)"
        )
    if age_ms > max_staleness_ms:
        return Liveness(
            Verdict.STALE, beat_ms, age_ms, f"beat is {age_ms} ms old (max staleness {max_staleness_ms} ms)"
        )
    return Liveness(Verdict.ALIVE, beat_ms, age_ms, f"beat is {age_ms} ms old")


def _unreadable(detail: str) -> Liveness:
    return Liveness(Verdict.UNREADABLE, None, None, detail)


def _as_epoch_ms(value: object) -> tuple[int | None, str]:
    if value is None:
        return None, "is missing"
    # bool is an int subclass: True must not pass as a beat at 1 ms after the epoch.
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return None, "is not a number"
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            return None, "is not an integer"
        value = int(value)
    if value < 0:
        return None, "is negative"
    return value, ""


# -- reading (the fleet) ----------------------------------------------------------------------------


class LivenessReader:
    """Reads one system's row, strongly consistent. Errors propagate; see `read_and_judge`."""

    def __init__(self, table_name: str, *, client: Any = None, patience: Patience = impatient) -> None:
        from boto3.dynamodb.types import TypeDeserializer

        self.table_name = table_name
        self._client = client if client is not None else dynamodb_client()
        self._patience = patience
        self._deserializer = TypeDeserializer()

    def read(self, system: str) -> dict[str, Any] | None:
        # ConsistentRead: an eventually consistent read may return a beat older than the newest one,
        # which only errs towards death, but it may also miss a fresh "stopped" and extend once more.
        response = self._patience(
            lambda: self._client.get_item(
                TableName=self.table_name, Key={"system": {"S": system}}, ConsistentRead=True
            )
        )
        raw = response.get("Item")
        if raw is None:
            return None
        return {name: self._deserializer.deserialize(value) for name, value in raw.items()}


def read_and_judge(
    reader: LivenessReader, system: str, clock: Clock, max_staleness_ms: int, skew_ms: int
) -> Liveness:
    """Read, then take the clock, then judge; any failure to read is UNREADABLE (fail closed).

    The clock is read after the row, never before: a beat written while a slow read was under way
    would otherwise look as if it came from the future, and a live trader would be judged dead."""
    try:
        item = reader.read(system)
    except Exception as exc:
        # The class name only: a botocore message may carry request details we do not want in audit.
        return dataclasses.replace(_unreadable(f"read failed: {type(exc).__name__}"), at_ms=clock())
    now_ms = clock()
    verdict = judge(item, now_ms=now_ms, max_staleness_ms=max_staleness_ms, skew_ms=skew_ms)
    return dataclasses.replace(verdict, at_ms=now_ms)


def combine(verdicts: Sequence[tuple[str, Liveness]]) -> Liveness:
    """One account gated on several trading systems: alive only if every one is. Any unreadable row
    makes the whole unreadable (no extension, no sweep: fail closed, never cancel on our own fault);
    else the first not alive decides (death). Alive: the oldest beat anchors the venue deadline.
    One system: its verdict unchanged."""
    if len(verdicts) == 1:
        return verdicts[0][1]
    at = max((v.at_ms for _, v in verdicts if v.at_ms is not None), default=None)
    for wanted in (Verdict.UNREADABLE, None):
        for system, verdict in verdicts:
            if verdict.verdict is wanted or (wanted is None and not verdict.alive):
                return dataclasses.replace(verdict, detail=f"{system}: {verdict.detail}", at_ms=at)
    oldest_system, oldest = min(verdicts, key=lambda sv: sv[1].beat_ms or 0)
    return dataclasses.replace(
        oldest, detail=f"all of {', '.join(s for s, _ in verdicts)} alive; oldest {oldest_system}", at_ms=at
    )


def dynamodb_client() -> Any:
    """A DynamoDB client with bounded time per call (region and endpoint from the environment).

    botocore's defaults (60 s read timeout, several retries) could stall a 10 s tick for minutes.
    A call here gives up after about 2 x (1 s connect + 2 s read): DynamoDB answers in milliseconds
    when it is well, and the refresh loop retries at its own pace when it is not.
    """
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 2, "mode": "standard"})
    return boto3.client("dynamodb", config=config)


# -- writing (the trading system) -------------------------------------------------------------------


class LivenessWriter:
    """Beats for one trading system: `beat()` once, or `start(every_s)` for a background thread.

    A failed beat in the background thread is logged and retried at the next period; it is never
    raised into the trader's threads (missing beats make the fleet sweep, which is the point).
    On a clean shutdown call `stop_running()`: it writes state "stopped", so the fleet sweeps at its
    next tick rather than waiting for the row to go stale.
    """

    def __init__(
        self,
        table_name: str,
        system: str,
        *,
        host: str | None = None,
        clock: Clock = system_clock,
        ttl_s: int = DEFAULT_TTL_S,
        client: Any = None,
    ) -> None:
        if not system:
            raise ValueError("system must be a non-empty string")
        if ttl_s <= 0:
            raise ValueError("ttl_s must be > 0")
        self.table_name = table_name
        self.system = system
        self.host = host if host is not None else socket.gethostname()
        self._clock = clock
        self._ttl_s = ttl_s
        self._client = client if client is not None else dynamodb_client()
        self._seq: int | None = None
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def beat(self) -> dict[str, Any]:
        """Write one "running" beat; return the row written (plain Python)."""
        return self._put(RUNNING)

    def stop_running(self) -> None:
        """Stop the background thread, then write state "stopped": the fleet treats it as death now."""
        self.stop()
        self._put(STOPPED)

    def start(self, every_s: float) -> None:
        if every_s <= 0:
            raise ValueError("every_s must be > 0")
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise RuntimeError("liveness writer already started")
            self._stopping.clear()
            self._thread = threading.Thread(
                target=self._run, args=(every_s,), name=f"liveness-{self.system}", daemon=True
            )
            self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    def _run(self, every_s: float) -> None:
        # Fixed rate, not fixed delay: a slow PutItem must not stretch the period and age the row.
        started = time.monotonic()
        periods = 0
        while not self._stopping.is_set():
            try:
                self._background_beat()
            except Exception as exc:
                log.warning("liveness beat for %s failed (%s); retrying next period", self.system, exc)
            periods += 1
            delay = started + periods * every_s - time.monotonic()
            if delay < 0:
                # Fell behind (e.g. a hung call): beat again now and restart the schedule from here.
                started, periods, delay = time.monotonic(), 0, 0.0
            self._stopping.wait(delay)

    def _background_beat(self) -> None:
        with self._lock:
            # Checked under the lock that stop_running's own write takes, so a late background beat
            # can never land after "stopped" and resurrect the row.
            if not self._stopping.is_set():
                self._put(RUNNING)

    def _put(self, state: str) -> dict[str, Any]:
        with self._lock:
            now_ms = self._clock()
            seq = now_ms if self._seq is None else self._seq + 1
            item: dict[str, Any] = {
                "system": self.system,
                "beat_ms": now_ms,
                "seq": seq,
                "state": state,
                "host": self.host,
                "expires_at": now_ms // 1000 + self._ttl_s,
            }
            self._client.put_item(TableName=self.table_name, Item=_serialize(item))
            # Advance only after a successful write, so a retried beat reuses nothing stale.
            self._seq = seq
            return item


def _serialize(item: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for name, value in item.items():
        out[name] = {"N": str(value)} if isinstance(value, int) else {"S": str(value)}
    return out


# -- the shell one-liner ----------------------------------------------------------------------------

_SAFE = re.compile(r"[A-Za-z0-9_.:@/+=-]+")


def put_item_command(table: str, system: str, *, ttl_s: int = DEFAULT_TTL_S) -> str:
    """The one-line `aws dynamodb put-item` beat for traders in any language, for any POSIX shell.

    Only `date +%s` is asked of the host (GNU, BSD, macOS and busybox all have it; milliseconds
    would need GNU's `%3N`): `beat_ms` is the whole second in ms, `seq` the same (increasing while
    beats are a second or more apart), `host` is `$(hostname)`, `expires_at` now + ttl_s (epoch s).
    """
    for label, value in (("table", table), ("system", system)):
        if not _SAFE.fullmatch(value):
            raise ValueError(f"{label} must match {_SAFE.pattern} to be quoted safely in a shell line")
    if ttl_s <= 0:
        raise ValueError("ttl_s must be > 0")
    ms = "'\"$((now * 1000))\"'"
    item = (
        f'{{"system":{{"S":"{system}"}},"beat_ms":{{"N":"{ms}"}},"seq":{{"N":"{ms}"}},'
        f'"state":{{"S":"{RUNNING}"}},"host":{{"S":"\'"$(hostname)"\'"}},'
        f'"expires_at":{{"N":"\'"$((now + {ttl_s}))"\'"}}}}'
    )
    return f"now=$(date +%s); aws dynamodb put-item --table-name {table} --item '{item}'"
