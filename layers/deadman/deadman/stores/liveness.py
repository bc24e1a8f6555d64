"""The liveness row in DynamoDB: the fleet reads it (`LivenessReader`, `read_and_judge`), the trading
system writes it (`LivenessWriter`, `deadman beat`, or the shell line from `put_item_command`).

What the row holds and how it is judged: `deadman.core.liveness`.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

from deadman.core.clock import Clock, system_clock
from deadman.core.liveness import RUNNING, STOPPED, Liveness, Verdict, judge, unreadable
from deadman.stores.attributes import checked_item, from_item
from deadman.stores.dynamo import dynamodb_client
from deadman.stores.retry import Patience, impatient

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 86_400
# -- reading (the fleet) ----------------------------------------------------------------------------


class LivenessReader:
    """Reads one system's row, strongly consistent. Errors propagate; see `read_and_judge`."""

    def __init__(self, table_name: str, *, client: Any = None, patience: Patience = impatient) -> None:
        self.table_name = table_name
        self._client = client if client is not None else dynamodb_client()
        self._patience = patience

    def read(self, system: str) -> dict[str, Any] | None:
        # ConsistentRead: an eventually consistent read may return a beat older than the newest one,
        # which only errs towards death, but it may also miss a fresh "stopped" and extend once more.
        key = {"system": {"S": system}}
        # Another system's row is no proof of this one's life (nor of its death): tried again, then
        # unreadable.
        raw = self._patience(
            lambda: checked_item(
                self._client.get_item(TableName=self.table_name, Key=key, ConsistentRead=True).get("Item"),
                key,
                operation="GetItem",
            )
        )
        if raw is None:
            return None
        return from_item(raw)


def read_and_judge(
    reader: LivenessReader, system: str, clock: Clock, max_staleness_ms: int, skew_ms: int
) -> Liveness:
    """Read, then judge; any failure to read is UNREADABLE (fail closed).

    The row reflects some moment of the read, and a slow read leaves room on both sides. Life is
    judged by the clock after the read: a beat written while the read was under way must not look
    as if it came from the future, and an extension must rest on a beat fresh at its latest. Death
    is judged by the clock before it: a row still fresh when the read began may have been followed
    by beats the read could not see, so a trader is dead only if it had not beaten for S by the time
    it was asked. Between the two the read was too slow to tell: UNREADABLE (no extension, no sweep),
    and the next tick judges again."""
    asked_ms = clock()
    try:
        item = reader.read(system)
    except Exception as exc:
        # The class name only: a botocore message may carry request details we do not want in audit.
        return dataclasses.replace(unreadable(f"read failed: {type(exc).__name__}"), at_ms=clock())
    now_ms = clock()
    verdict = judge(item, now_ms=now_ms, max_staleness_ms=max_staleness_ms, skew_ms=skew_ms)
    if verdict.verdict is Verdict.STALE and now_ms > asked_ms:
        then = judge(item, now_ms=asked_ms, max_staleness_ms=max_staleness_ms, skew_ms=skew_ms)
        if then.alive:
            slow = f"read in {now_ms - asked_ms} ms, and the row was fresh when it began ({then.detail})"
            verdict = dataclasses.replace(unreadable(slow), beat_ms=verdict.beat_ms, age_ms=verdict.age_ms)
    return dataclasses.replace(verdict, at_ms=now_ms)


# -- writing (the trading system) -------------------------------------------------------------------


class LivenessWriter:
    """Beats for one trading system: `beat()` once, or `start(every_s)` for a background thread.

    Beat often enough that one lost beat and a clock K behind cannot make a live trader look dead:
    2 x every + K + 1 s <= S (`deadman.core.beats.max_beat_interval_s`; every 7 s at most at the
    defaults S = 20, K = 5).

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
