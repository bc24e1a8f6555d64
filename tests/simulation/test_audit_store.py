"""Appending to the audit chain on FakeDynamo (DynamoDB's conditional writes, in virtual time): writers
racing for one switch serialize and never fork, a write whose answer was lost is not appended twice,
an append gives up within its budget, and what it read and wrote verifies whole."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from deadman.core.audit_chain import SK_PREFIX, verify
from deadman.stores.audit import (
    APPEND_ATTEMPTS,
    APPEND_WITHIN_MS,
    CONFLICT_METRIC,
    FAILURE_METRIC,
    AuditAppendFailed,
    AuditLog,
    audit_pk,
)
from deadman.stores.retry import Retrying
from deadman.stores.switches import SwitchStore
from sandbox.sim.dynamo import CallFault, FakeDynamo

TABLE = "Control"
NOW = 1_800_000_000_000


class World:
    def __init__(self) -> None:
        self.now = NOW
        self.script: list[CallFault | None] = []
        self.fake = FakeDynamo(
            sleep_ms=self.sleep_ms, fault=lambda op, table: self.script.pop(0) if self.script else None
        )
        self.fake.create_table(TABLE, "pk", "sk", "expires_at")
        self.events: list[str] = []
        self.patience = Retrying(self.clock, self.sleep)

    def clock(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += round(seconds * 1000)

    def sleep_ms(self, ms: int) -> None:
        self.now += ms

    def log(self, client: Any = None) -> AuditLog:
        client = client or self.fake
        return AuditLog(TABLE, client=client, patience=self.patience, on_event=self.events.append)

    def entries(self, venue: str = "kraken", account: str = "main") -> list[dict[str, Any]]:
        return [i for i in self.fake.items(TABLE) if i["pk"]["S"] == audit_pk(venue, account)]


def append(log: AuditLog, n: int = 0, account: str = "main") -> Any:
    fields = {"action": "sweep", "actor": "refresher", "reason": "", "result": f"cancelled {n}"}
    return log.append("kraken", account, now_ms=NOW + n, **fields)


def history(world: World, account: str = "main") -> list[dict[str, Any]]:
    return list(world.log().history("kraken", account))


class RacingClient:
    """The table as a writer sees it when, `wins` times, another writer appends between its head read
    and its write."""

    def __init__(self, world: World, wins: int) -> None:
        self.world = world
        self.wins = wins
        self.exceptions = world.fake.exceptions
        self.rival = world.log()

    def query(self, **params: Any) -> Any:
        return self.world.fake.query(**params)

    def put_item(self, **params: Any) -> Any:
        if self.wins > 0:
            self.wins -= 1
            append(self.rival, 100 + self.wins)
        return self.world.fake.put_item(**params)


def test_appends_form_one_chain_from_genesis_that_verifies_whole() -> None:
    w = World()
    log = w.log()
    made = [append(log, n) for n in range(5)]
    assert [e.seq for e in made] == [1, 2, 3, 4, 5]
    assert all(b.prev == a.hash for a, b in itertools.pairwise(made))
    assert [i["sk"]["S"] for i in w.entries()] == [f"{SK_PREFIX}{n:012d}" for n in range(1, 6)]
    # The attributes every reader relies on are kept.
    item = w.entries()[0]
    assert {"action", "actor", "reason", "result", "details", "at_ms", "expires_at"} <= set(item)
    assert item["reason"]["S"] == "-" and item["result"]["S"] == "cancelled 0"
    report = verify(audit_pk("kraken", "main"), history(w), now_ms=NOW)
    assert report.whole and report.entries == 5
    assert w.events == []


def test_each_switch_has_its_own_chain() -> None:
    w = World()
    log = w.log()
    append(log, 0, "a")
    append(log, 1, "b")
    assert append(log, 2, "a").seq == 2
    assert [i["sk"]["S"] for i in w.entries(account="b")] == [f"{SK_PREFIX}{1:012d}"]


def test_a_writer_that_lost_the_race_links_behind_the_winner() -> None:
    w = World()
    append(w.log(), 0)
    mine = append(w.log(RacingClient(w, wins=2)), 1)
    assert mine.seq == 4  # the rival took #2 and #3
    assert w.events == [CONFLICT_METRIC, CONFLICT_METRIC]
    report = verify(audit_pk("kraken", "main"), history(w), now_ms=NOW)
    assert report.whole and report.entries == 4


def test_a_writer_that_loses_every_race_gives_up_counted_without_forking() -> None:
    w = World()
    with pytest.raises(AuditAppendFailed):
        append(w.log(RacingClient(w, wins=APPEND_ATTEMPTS)), 1)
    assert w.events == [CONFLICT_METRIC] * APPEND_ATTEMPTS + [FAILURE_METRIC]
    report = verify(audit_pk("kraken", "main"), history(w), now_ms=NOW)
    assert report.whole and report.entries == APPEND_ATTEMPTS  # only the rival's entries


def test_a_write_whose_answer_was_lost_is_stored_once() -> None:
    w = World()
    log = w.log()
    append(log, 0)
    w.script = [None, CallFault(error="lost_answer")]  # the head read answers; the write's answer is lost
    entry = append(log, 1)
    assert entry.seq == 2 and w.events == []
    assert len(w.entries()) == 2
    assert verify(audit_pk("kraken", "main"), history(w), now_ms=NOW).whole


def test_a_throttled_head_read_is_tried_again() -> None:
    w = World()
    w.script = [CallFault(error="throttle")]
    assert append(w.log(), 0).seq == 1


def test_an_append_ends_within_its_budget_when_the_table_keeps_failing() -> None:
    w = World()
    w.script = [CallFault(latency_ms=900, error="internal")] * 50
    start = w.now
    with pytest.raises(ClientError):
        append(w.log(), 0)
    assert w.now - start <= APPEND_WITHIN_MS + 1_000
    assert w.events == [FAILURE_METRIC]


def test_writers_on_threads_never_fork_one_chain() -> None:
    w = World()
    w.patience = Retrying(w.clock, lambda s: None)
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        log = w.log()
        for n in range(15):
            try:
                append(log, k * 100 + n)
            except AuditAppendFailed:
                pass  # counted: losing four races in a row can happen with four writers
            except BaseException as exc:  # pragma: no cover
                errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    stored = w.entries()
    failures = w.events.count(FAILURE_METRIC)
    assert len(stored) == 60 - failures
    report = verify(audit_pk("kraken", "main"), history(w), now_ms=NOW)
    assert report.whole and report.entries == len(stored)


def test_recent_is_newest_first_chain_entries_then_those_before_the_chain() -> None:
    w = World()
    legacy = {
        "pk": {"S": audit_pk("kraken", "main")},
        "sk": {"S": f"{NOW - 5000:013d}#000000000001#abcd1234"},
        "at_ms": {"N": str(NOW - 5000)},
        "action": {"S": "kill"},
        "actor": {"S": "ops"},
        "reason": {"S": "old"},
        "result": {"S": "latched"},
        "details": {"S": "{}"},
    }
    w.fake.put_item(TableName=TABLE, Item=legacy)
    store = SwitchStore(TABLE, client=w.fake)
    for n in range(3):
        store.audit("kraken", "main", action=f"a{n}", actor="x", reason="r", result="ok", now_ms=NOW + n)
    recent = store.recent_audit("kraken", "main", limit=10)
    assert [e["action"] for e in recent] == ["a2", "a1", "a0", "kill"]
    assert recent[0]["details"] == {} and recent[0]["seq"] == 3
    report = verify(audit_pk("kraken", "main"), history(w), now_ms=NOW)
    assert report.whole and report.before_chain == 1 and report.entries == 3
