"""The fleet's stores under DynamoDB faults, on FakeDynamo in virtual time: a call that failed in
passing is tried again within its deadline, and a write whose answer was lost is not taken for a
conflict when it is tried again."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from deadman.core.policy import Mode
from deadman.stores.liveness import LivenessReader
from deadman.stores.nonces import DynamoNonceSource
from deadman.stores.retry import WITHIN_MS, Retrying, transient
from deadman.stores.switches import Switch, SwitchConflict, SwitchStore
from sandbox.sim.dynamo import CallFault, FakeDynamo

TABLE = "Control"
LIVENESS = "Liveness"


class World:
    def __init__(self) -> None:
        self.now = 1_000_000
        self.script: list[CallFault | None] = []
        self.fake = FakeDynamo(
            sleep_ms=self.sleep_ms, fault=lambda op, table: self.script.pop(0) if self.script else None
        )
        self.fake.create_table(TABLE, "pk", "sk")
        self.fake.create_table(LIVENESS, "system")
        self.retries: list[str] = []
        self.patience = Retrying(
            self.clock, self.sleep, on_retry=lambda exc: self.retries.append(type(exc).__name__)
        )

    def clock(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += round(seconds * 1000)

    def sleep_ms(self, ms: int) -> None:
        self.now += ms

    def store(self) -> SwitchStore:
        return SwitchStore(TABLE, client=self.fake, patience=self.patience)


def test_a_throttled_read_is_tried_again_and_answers() -> None:
    w = World()
    store = w.store()
    store.put(Switch("gemini", "a"))
    w.script = [CallFault(error="throttle"), CallFault(error="internal")]
    assert store.get("gemini", "a").version == 1
    assert w.retries == ["ThrottlingException", "InternalServerError"]


def test_three_failures_in_a_row_are_raised() -> None:
    w = World()
    w.script = [CallFault(error="throttle")] * 3
    with pytest.raises(ClientError):
        w.store().get("gemini", "a")
    assert len(w.retries) == 2


def test_no_try_starts_past_the_deadline() -> None:
    """Timeouts cost seconds (2.5 s each here): the third try would start past WITHIN_MS."""
    w = World()
    w.script = [CallFault(latency_ms=5_000, error="timeout")] * 3
    start = w.now
    with pytest.raises(ReadTimeoutError):
        w.store().get("gemini", "a")
    assert w.retries == ["ReadTimeoutError"]
    assert w.now - start < 2 * WITHIN_MS


def test_a_lost_answer_then_a_retry_is_the_write_not_a_conflict() -> None:
    w = World()
    store = w.store()
    first = store.put(Switch("gemini", "a"))
    w.script = [CallFault(latency_ms=3_000, error="lost_answer")]
    second = store.put(first)
    assert second.version == 2 and store.get("gemini", "a") == second
    assert w.retries == ["ReadTimeoutError"]


def test_a_real_conflict_is_still_a_conflict_and_names_the_winner() -> None:
    w = World()
    store = w.store()
    first = store.put(Switch("gemini", "a"))
    store.latch_kill("gemini", "a", actor="op", reason="test", now_ms=w.now)
    with pytest.raises(SwitchConflict) as raised:
        store.put(first)
    assert raised.value.current is not None and raised.value.current.mode is Mode.KILLED
    assert w.retries == []


def test_liveness_reads_and_nonces_ride_out_a_throttle() -> None:
    w = World()
    w.fake.put_item(TableName=LIVENESS, Item={"system": {"S": "t"}, "beat_ms": {"N": "5"}})
    w.script = [CallFault(error="throttle")]
    row = LivenessReader(LIVENESS, client=w.fake, patience=w.patience).read("t")
    assert row is not None and row["beat_ms"] == 5
    nonces = DynamoNonceSource(TABLE, client=w.fake, patience=w.patience)
    w.script = [CallFault(error="throttle"), None, CallFault(latency_ms=3_000, error="lost_answer")]
    first = nonces.next("k", 100)
    second = nonces.next("k", 100)
    assert first == 100 and second > first  # a lost answer only skips a value


def test_permanent_errors_are_not_transient() -> None:
    def error(code: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": "x"}}, "GetItem")

    assert transient(error("ThrottlingException")) and transient(error("InternalServerError"))
    assert not transient(error("ConditionalCheckFailedException"))
    assert not transient(error("ValidationException")) and not transient(error("AccessDeniedException"))
    assert transient(ReadTimeoutError(endpoint_url="x")) and not transient(ValueError("x"))
