"""LivenessWriter / LivenessReader against DynamoDB (moto server), and the shell one-liner."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import threading
import time
from decimal import Decimal
from typing import Any

import boto3
import pytest

from deadman.core.clock import system_clock
from deadman.core.liveness import Verdict, judge
from deadman.stores.liveness import LivenessReader, LivenessWriter, put_item_command, read_and_judge

pytestmark = pytest.mark.integration

TABLE = "LivenessTable"
S = 20_000
K = 5_000


class FakeClock:
    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


@pytest.fixture
def table(stack_tables: dict[str, str]) -> str:
    assert stack_tables["LivenessTable"] == TABLE
    return TABLE


class RecordingClient:
    """Wraps a real client and records every call's keyword arguments."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def get_item(self, **kwargs: Any) -> Any:
        self.calls.append(("get_item", kwargs))
        return self.inner.get_item(**kwargs)

    def put_item(self, **kwargs: Any) -> Any:
        self.calls.append(("put_item", kwargs))
        return self.inner.put_item(**kwargs)


def test_beat_then_read_round_trip(table: str) -> None:
    clock = FakeClock(1_700_000_000_123)
    writer = LivenessWriter(table, "trader-1", host="box-7", clock=clock, ttl_s=600)
    written = writer.beat()
    assert written == {
        "system": "trader-1",
        "beat_ms": 1_700_000_000_123,
        "seq": 1_700_000_000_123,
        "state": "running",
        "host": "box-7",
        "expires_at": 1_700_000_000 + 600,
    }
    item = LivenessReader(table).read("trader-1")
    assert item == written  # Decimal == int compares by value
    assert isinstance(item, dict) and isinstance(item["beat_ms"], Decimal)
    result = judge(item, now_ms=clock.now_ms + 1_500, max_staleness_ms=S, skew_ms=K)
    assert result.verdict is Verdict.ALIVE
    assert result.age_ms == 1_500


def test_seq_increases_by_one_per_beat_even_if_clock_stands_still(table: str) -> None:
    clock = FakeClock(1_700_000_000_000)
    writer = LivenessWriter(table, "trader-1", clock=clock)
    seqs = [writer.beat()["seq"] for _ in range(3)]
    clock.now_ms -= 10_000  # a clock step back must not make seq go back
    seqs.append(writer.beat()["seq"])
    assert seqs == [1_700_000_000_000 + i for i in range(4)]
    stored = LivenessReader(table).read("trader-1")
    assert stored is not None and stored["seq"] == seqs[-1]


def test_default_host_is_this_machine(table: str) -> None:
    import socket

    assert LivenessWriter(table, "t").beat()["host"] == socket.gethostname()


def test_reader_reads_strongly_consistent(table: str) -> None:
    recording = RecordingClient(boto3.client("dynamodb"))
    LivenessReader(table, client=recording).read("nobody")
    assert recording.calls == [
        ("get_item", {"TableName": table, "Key": {"system": {"S": "nobody"}}, "ConsistentRead": True})
    ]


def test_missing_row_reads_none_and_judges_missing(table: str) -> None:
    LivenessWriter(table, "someone-else").beat()
    reader = LivenessReader(table)
    assert reader.read("trader-1") is None
    result = read_and_judge(reader, "trader-1", system_clock, S, K)
    assert result.verdict is Verdict.MISSING


def test_read_and_judge_is_alive_for_a_real_clock_beat(table: str) -> None:
    LivenessWriter(table, "trader-1").beat()
    assert read_and_judge(LivenessReader(table), "trader-1", system_clock, S, K).alive


def test_read_error_propagates_from_read_and_is_unreadable_in_read_and_judge(aws: Any) -> None:
    reader = LivenessReader("NoSuchTable")
    with pytest.raises(Exception, match=r"ResourceNotFound|non-existent|not found"):
        reader.read("trader-1")
    result = read_and_judge(reader, "trader-1", system_clock, S, K)
    assert result.verdict is Verdict.UNREADABLE
    assert "ResourceNotFoundException" in result.detail


def test_read_and_judge_fails_closed_on_any_exception() -> None:
    class Broken:
        def get_item(self, **kwargs: Any) -> Any:
            raise ZeroDivisionError("boom")

    result = read_and_judge(LivenessReader("T", client=Broken()), "x", lambda: 0, S, K)
    assert result.verdict is Verdict.UNREADABLE
    assert "ZeroDivisionError" in result.detail


def test_stop_running_writes_stopped_which_judges_not_running(table: str) -> None:
    clock = FakeClock(1_700_000_000_000)
    writer = LivenessWriter(table, "trader-1", clock=clock)
    writer.beat()
    clock.now_ms += 1
    writer.stop_running()
    item = LivenessReader(table).read("trader-1")
    assert item is not None and item["state"] == "stopped"
    assert item["seq"] == 1_700_000_000_001
    result = judge(item, now_ms=clock.now_ms, max_staleness_ms=S, skew_ms=K)
    assert result.verdict is Verdict.NOT_RUNNING


def _wait_for(predicate: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_background_thread_beats_and_stop_running_ends_it(table: str) -> None:
    writer = LivenessWriter(table, "trader-1")
    reader = LivenessReader(table)
    writer.start(every_s=0.05)
    try:
        first = None
        _wait_for(lambda: reader.read("trader-1") is not None)
        first = reader.read("trader-1")
        assert first is not None
        _wait_for(lambda: (reader.read("trader-1") or {}).get("seq", 0) >= first["seq"] + 3)
        with pytest.raises(RuntimeError):
            writer.start(every_s=0.05)
    finally:
        writer.stop_running()
    stopped = reader.read("trader-1")
    assert stopped is not None and stopped["state"] == "stopped"
    time.sleep(0.15)  # three periods: a surviving thread would have overwritten "stopped"
    assert reader.read("trader-1") == stopped
    assert writer._thread is not None and not writer._thread.is_alive()


def test_failed_background_beats_are_logged_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    class Flaky:
        def __init__(self) -> None:
            self.attempts = 0
            self.items: list[dict[str, Any]] = []
            self.done = threading.Event()

        def put_item(self, **kwargs: Any) -> None:
            self.attempts += 1
            if self.attempts <= 2:
                raise ConnectionError("network down")
            self.items.append(kwargs["Item"])
            if len(self.items) >= 2:
                self.done.set()

    flaky = Flaky()
    writer = LivenessWriter("T", "trader-1", client=flaky)
    # Listen on the module's own logger: a Powertools Logger(service="deadman") loaded by another
    # test stops propagation at "deadman", and caplog only hears the root.
    # It may also have set the "deadman" level to ERROR: set this logger's own level.
    caplog.set_level(logging.WARNING, logger="deadman.stores.liveness")
    module_logger = logging.getLogger("deadman.stores.liveness")
    module_logger.addHandler(caplog.handler)
    writer.start(every_s=0.02)
    try:
        assert flaky.done.wait(5)
    finally:
        writer.stop()
        module_logger.removeHandler(caplog.handler)
    assert flaky.attempts >= 4
    assert "network down" in caplog.text
    # seq advances only with writes that landed: the first landed beat starts the sequence.
    assert int(flaky.items[1]["seq"]["N"]) == int(flaky.items[0]["seq"]["N"]) + 1


def test_start_refuses_a_non_positive_period() -> None:
    writer = LivenessWriter("T", "t", client=object())
    with pytest.raises(ValueError):
        writer.start(0)


# -- the shell one-liner ----------------------------------------------------------------------------

_ARGV_DUMP = "aws() { python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' \"$@\"; }\n"


def _argv_of(command: str, shell: str = "bash") -> list[str]:
    """Run the one-liner in `shell` with `aws` replaced by a function that prints its argv."""
    done = subprocess.run(
        [shell, "-c", _ARGV_DUMP + command], capture_output=True, text=True, check=True, timeout=10
    )
    argv = json.loads(done.stdout)
    assert isinstance(argv, list)
    return argv


@pytest.mark.parametrize("shell", ["bash", "dash"])
def test_put_item_command_is_one_valid_put_item(table: str, shell: str) -> None:
    """One line for any POSIX shell (dash is one): no GNU-only `date +%s%3N`."""
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} not installed")
    command = put_item_command(table, "trader-1", ttl_s=600)
    assert "\n" not in command and "%3N" not in command
    assert f"aws dynamodb put-item --table-name {table} --item '" in command
    before = system_clock()
    argv = _argv_of(command, shell)
    after = system_clock()
    assert argv[:4] == ["dynamodb", "put-item", "--table-name", table]
    assert argv[4] == "--item" and len(argv) == 6
    item = json.loads(argv[5])
    assert set(item) == {"system", "beat_ms", "seq", "state", "host", "expires_at"}
    beat_ms = int(item["beat_ms"]["N"])
    assert before - 1_000 <= beat_ms <= after + 1_000 and beat_ms % 1000 == 0
    assert abs(int(item["expires_at"]["N"]) - (beat_ms // 1000 + 600)) <= 1

    boto3.client("dynamodb").put_item(TableName=table, Item=item)
    stored = LivenessReader(table).read("trader-1")
    assert stored is not None and stored["state"] == "running" and stored["host"]
    assert judge(stored, now_ms=system_clock(), max_staleness_ms=S, skew_ms=K).alive


@pytest.mark.skipif(shutil.which("aws") is None, reason="aws CLI not installed")
def test_put_item_command_runs_in_the_real_aws_cli(table: str) -> None:
    env = dict(os.environ)
    try:
        subprocess.run(
            ["bash", "-c", put_item_command(table, "cli-trader")],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
            env=env,
        )
    except subprocess.CalledProcessError as exc:  # pragma: no cover - diagnostics only
        pytest.fail(f"aws CLI failed: {exc.stderr[-500:]}")
    stored = LivenessReader(table).read("cli-trader")
    assert stored is not None
    assert judge(stored, now_ms=system_clock(), max_staleness_ms=S, skew_ms=K).alive


@pytest.mark.parametrize(
    ("table", "system"), [("T", "it's"), ("T", 'a"b'), ("T", "a b"), ("T;rm", "x"), ("T", ""), ("T", "$(id)")]
)
def test_put_item_command_refuses_names_it_cannot_quote(table: str, system: str) -> None:
    with pytest.raises(ValueError):
        put_item_command(table, system)


@pytest.mark.parametrize(
    ("age_when_asked_s", "expected"),
    [(12, Verdict.ALIVE), (18.5, Verdict.UNREADABLE), (21, Verdict.STALE)],
)
def test_a_slow_read_judges_life_after_it_and_death_before_it(
    table: str, age_when_asked_s: float, expected: Verdict
) -> None:
    """A read that takes 2.9 s (under its timeout) may have missed a beat written meanwhile: death
    needs the row stale when the read began; life, fresh when it answered; in between, neither."""
    LivenessWriter(table, "trader-1", clock=lambda: 1_700_000_000_000).beat()
    now = {"ms": 1_700_000_000_000 + int(age_when_asked_s * 1000)}

    class Slow(LivenessReader):
        def read(self, system: str) -> Any:
            item = super().read(system)
            now["ms"] += 2_900
            return item

    result = read_and_judge(Slow(table), "trader-1", lambda: now["ms"], S, K)
    assert result.verdict is expected, result.detail
    assert result.at_ms == now["ms"]
