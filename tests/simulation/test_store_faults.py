"""The fleet's stores under DynamoDB faults, on FakeDynamo in virtual time: a call that failed in
passing is tried again within its deadline, and a write whose answer was lost is not taken for a
conflict when it is tried again."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, HTTPClientError, ReadTimeoutError

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


# -- answers that are not whole, verified answers about the item asked for -------------------------------


def test_an_empty_liveness_answer_is_unreadable_never_a_missing_row() -> None:
    """Hazard 12: an empty 2xx read as "no item" made a live trader look dead and swept its book."""
    from deadman.core.liveness import Verdict
    from deadman.stores.liveness import read_and_judge

    w = World()
    row = {"system": {"S": "t"}, "beat_ms": {"N": str(w.now)}, "seq": {"N": "1"}, "state": {"S": "running"}}
    w.fake.put_item(TableName=LIVENESS, Item=row)
    # Another system, long dead: its row taken for "t" would sweep a live trader.
    w.fake.put_item(TableName=LIVENESS, Item={**row, "system": {"S": "a-gone"}, "beat_ms": {"N": "1"}})
    reader = LivenessReader(LIVENESS, client=w.fake, patience=w.patience)
    assert read_and_judge(reader, "t", w.clock, 60_000, 0).verdict is Verdict.ALIVE
    for damage in ("empty", "truncated", "no_crc", "bad_crc", "html", "foreign"):
        w.script = [CallFault(answer=damage)] * 3
        verdict = read_and_judge(reader, "t", w.clock, max_staleness_ms=60_000, skew_ms=0)
        assert verdict.verdict is Verdict.UNREADABLE, damage
    w.script = [CallFault(answer="empty"), CallFault(answer="foreign")]
    assert read_and_judge(reader, "t", w.clock, 60_000, 0).verdict is Verdict.ALIVE  # tried again


def test_another_systems_row_is_tried_again_then_unreadable() -> None:
    w = World()
    for system in ("a-trader", "t"):
        w.fake.put_item(TableName=LIVENESS, Item={"system": {"S": system}, "beat_ms": {"N": "5"}})
    reader = LivenessReader(LIVENESS, client=w.fake, patience=w.patience)
    w.script = [CallFault(answer="foreign")]
    row = reader.read("t")
    assert row is not None and row["system"] == "t"
    assert w.retries == ["HTTPClientError"]
    w.script = [CallFault(answer="foreign")] * 3
    with pytest.raises(HTTPClientError):
        reader.read("t")
    # A row that does not exist answered with another one: not that one's beat, never "missing" either.
    w.script = [CallFault(answer="foreign")] * 3
    with pytest.raises(HTTPClientError):
        reader.read("nobody")


def test_a_switch_read_answered_for_another_switch_is_tried_again() -> None:
    w = World()
    store = w.store()
    store.put(Switch("gemini", "a"))
    killed = store.latch_kill("gemini", "b", actor="op", reason="r", now_ms=w.now)
    w.script = [CallFault(answer="foreign")]
    assert store.get("gemini", "a") == Switch("gemini", "a", version=1)
    w.script = [CallFault(answer="foreign")] * 3
    with pytest.raises(HTTPClientError):
        store.get("gemini", "a")
    # The kill latch's answer about another switch: applied again, never taken for this one.
    w.script = [CallFault(answer="foreign")]
    latched = store.latch_kill("gemini", "b", actor="op", reason="r", now_ms=w.now)
    assert (latched.account, latched.mode) == ("b", Mode.KILLED) and latched.version > killed.version


def test_a_refusal_carrying_another_switch_is_not_taken_for_this_one() -> None:
    w = World()
    store = w.store()
    first = store.put(Switch("gemini", "a"))
    store.latch_kill("gemini", "b", actor="op", reason="r", now_ms=w.now)
    # get_by_write learns the switch from the refusal: another switch's item is tried again.
    w.script = [CallFault(answer="foreign")]
    assert store.get_by_write("gemini", "a") == first
    # A write whose refusal names another switch is neither a conflict with it nor its own success.
    store.latch_kill("gemini", "a", actor="op", reason="r", now_ms=w.now)
    w.script = [CallFault(answer="foreign")]
    with pytest.raises(SwitchConflict) as raised:
        store.put(first)
    assert raised.value.current is not None and raised.value.current.account == "a"
    assert raised.value.current.mode is Mode.KILLED


def test_a_nonce_answer_about_another_row_is_tried_again() -> None:
    w = World()
    nonces = DynamoNonceSource(TABLE, client=w.fake, patience=w.patience)
    assert nonces.next("other", 500) == 500
    w.script = [CallFault(answer="foreign")]
    first = nonces.next("k", 100)  # the SET applied, its answer named "other": tried again
    second = nonces.next("k", 100)
    assert first >= 100 and second > first
    assert w.retries == ["HTTPClientError"]
    last = w.fake.get_raw(TABLE, {"pk": {"S": "NONCE#k"}, "sk": {"S": "#"}})
    assert last is not None and int(last["last"]["N"]) == second


class OtherPartition:
    """A client whose Query pages hold an item of another partition."""

    exceptions = FakeDynamo().exceptions

    def query(self, **params: Any) -> dict[str, Any]:
        return {"Items": [{"pk": {"S": "SWITCH#kraken"}, "sk": {"S": "a"}}], "Count": 1}


def test_a_query_page_with_another_partitions_item_is_refused() -> None:
    store = SwitchStore(TABLE, client=OtherPartition())
    with pytest.raises(HTTPClientError):
        store.list_venue("gemini")
    with pytest.raises(HTTPClientError):
        store.recent_audit("gemini", "a")
