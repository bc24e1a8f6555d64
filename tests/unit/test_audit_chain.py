"""The audit chain's verification (`deadman.core.audit_chain.verify`): a whole history is proved
whole; every way of rewriting it is named at its first broken link; what the table alone cannot
tell (expiry against deletion, the newest end removed) is said, and the copy settles it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from decimal import Decimal
from typing import Any

import pytest

from deadman.core.audit_chain import (
    GENESIS,
    Copy,
    Entry,
    canonical,
    copy_key,
    seq_of,
    sort_key,
    verify,
)

PK = "AUDIT#kraken#main"
NOW = 1_800_000_000_000
DAY_MS = 86_400_000
LEGACY_SK = "1790000000000#000000000001#abcd1234"  # an entry's key before the chain


def chain(n: int, *, at_ms: int = NOW - 30 * DAY_MS, ttl_days: int = 400) -> list[Entry]:
    entries: list[Entry] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        at = at_ms + seq * 1000
        entry = Entry.link(
            pk=PK,
            seq=seq,
            prev=prev,
            at_ms=at,
            action="sweep" if seq % 2 else "kill",
            actor="refresher",
            reason="trader dead",
            result=f"cancelled {seq}",
            details=json.dumps({"n": seq}),
            expires_at=at // 1000 + ttl_days * 86_400,
        )
        entries.append(entry)
        prev = entry.hash
    return entries


def stored(entry: Entry) -> dict[str, Any]:
    """As the table holds it (numbers come back as Decimal)."""
    record: dict[str, Any] = {k: v for k, v in entry.record().items() if k != "v"}
    record.update(sk=sort_key(entry.seq), chain_v=Decimal(1))
    for name in ("seq", "at_ms", "expires_at"):
        record[name] = Decimal(record[name])
    return record


def relinked(entry: Entry, **changes: Any) -> Entry:
    """`entry` changed and its hash computed again, as a forger with write access would."""
    fields = {k: v for k, v in dataclasses.asdict(entry).items() if k != "hash"}
    return Entry.link(**{**fields, **changes})


def table(entries: list[Entry]) -> list[dict[str, Any]]:
    return [stored(e) for e in entries]


def full_copy(entries: list[Entry]) -> Copy:
    return Copy({e.seq: [json.loads(canonical(e.record()))] for e in entries})


def test_the_hash_is_sha256_of_the_canonical_fields_and_the_previous_hash() -> None:
    first = chain(1)[0]
    body = {
        "v": 1,
        "pk": PK,
        "seq": 1,
        "prev": GENESIS,
        "at_ms": first.at_ms,
        "action": first.action,
        "actor": "refresher",
        "reason": "trader dead",
        "result": "cancelled 1",
        "details": '{"n": 1}',
        "expires_at": first.expires_at,
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert first.hash == hashlib.sha256(text.encode()).hexdigest()
    # Any field changed changes the hash, the previous hash included.
    for name, value in (("reason", "x"), ("prev", "1" * 64), ("at_ms", 1), ("details", "{}")):
        assert dataclasses.replace(first, **{name: value}).computed_hash() != first.hash


def test_positions_sort_by_number_and_above_the_keys_before_the_chain() -> None:
    assert sort_key(9) < sort_key(10) < sort_key(123_456)
    assert sort_key(1) > LEGACY_SK
    assert seq_of(sort_key(42)) == 42
    assert seq_of(LEGACY_SK) is None
    assert copy_key("kraken", "main/a b", 7) == "audit/kraken/main%2Fa%20b/000000000007.json"


def test_a_whole_chain_is_whole_from_its_first_entry() -> None:
    report = verify(PK, table(chain(5)), now_ms=NOW)
    assert report.whole and (report.first, report.last, report.entries) == (1, 5, 5)
    assert report.notes == ("entries removed from the newest end cannot be seen in the table alone",)


def test_an_entry_rewritten_in_place_is_named() -> None:
    records = table(chain(5))
    records[2]["result"] = "cancelled 0"
    report = verify(PK, records, now_ms=NOW)
    assert report.first_broken is not None and report.first_broken.seq == 3
    assert "altered" in report.first_broken.text


def test_an_entry_rewritten_with_its_hash_recomputed_breaks_the_next_link() -> None:
    entries = chain(5)
    forged = relinked(entries[2], result="cancelled 0")
    records = table([*entries[:2], forged, *entries[3:]])
    report = verify(PK, records, now_ms=NOW)
    assert [f.seq for f in report.problems] == [4]
    assert "does not link to #3" in report.problems[0].text


def test_an_entry_deleted_from_the_middle_is_named() -> None:
    entries = chain(6)
    report = verify(PK, table(entries[:2] + entries[4:]), now_ms=NOW)
    assert report.first_broken is not None and report.first_broken.seq == 3
    assert "#3..#4 missing" in report.first_broken.text


def test_expired_oldest_entries_leave_the_oldest_surviving_one_as_the_anchor() -> None:
    report = verify(PK, table(chain(8)[3:]), now_ms=NOW)
    assert report.whole and report.first == 4
    assert any("anchored on #4" in note for note in report.notes)


def test_an_entry_moved_to_another_position_or_switch_is_named() -> None:
    records = table(chain(3))
    records[1]["sk"] = sort_key(7)
    report = verify(PK, records, now_ms=NOW)
    assert [f.seq for f in report.problems] == [2, 7]
    assert "#2 missing" in report.problems[0].text and "moved" in report.problems[1].text
    other = table(chain(3))
    assert not verify("AUDIT#kraken#other", other, now_ms=NOW).whole


def test_entries_before_the_chain_are_counted_not_broken_and_later_ones_are_broken() -> None:
    entries = chain(3)
    legacy = {"sk": LEGACY_SK, "action": "kill", "at_ms": Decimal(entries[0].at_ms)}
    report = verify(PK, [legacy, *table(entries)], now_ms=NOW)
    assert report.whole and report.before_chain == 1
    slipped = dict(legacy, at_ms=Decimal(entries[0].at_ms + 3_600_000))
    report = verify(PK, [slipped, *table(entries)], now_ms=NOW)
    assert not report.whole and report.problems[-1].seq is None
    assert "outside the chain" in report.problems[-1].text


def test_a_chain_of_legacy_entries_only_is_not_verifiable_but_not_broken() -> None:
    legacy = {"sk": LEGACY_SK, "action": "kill", "at_ms": Decimal(1)}
    report = verify(PK, [legacy], now_ms=NOW)
    assert report.whole and report.entries == 0 and report.before_chain == 1


def test_a_non_chain_entry_at_a_chain_position_is_unreadable() -> None:
    report = verify(PK, [{"sk": sort_key(1), "action": "kill"}], now_ms=NOW)
    assert not report.whole and "cannot be read" in report.problems[0].text


# -- with the copy ----------------------------------------------------------------------------------
def test_the_copy_agreeing_proves_the_history_including_expired_entries() -> None:
    entries = chain(6, at_ms=NOW - 500 * DAY_MS)  # the first ones have expired from the table
    expired = [e for e in entries if e.expires_at <= NOW // 1000]
    assert expired
    report = verify(PK, table(entries[len(expired) :]), now_ms=NOW, copy=full_copy(entries))
    assert report.whole, report.problems
    assert report.copied == 6 and not any("anchored" in n for n in report.notes)


def test_the_newest_entries_removed_from_the_table_are_seen_only_with_the_copy() -> None:
    entries = chain(5)
    assert verify(PK, table(entries[:3]), now_ms=NOW).whole
    report = verify(PK, table(entries[:3]), now_ms=NOW, copy=full_copy(entries))
    assert report.first_broken is not None and report.first_broken.seq == 4
    assert "removed from its newest end" in report.first_broken.text


def test_oldest_entries_deleted_before_their_expiry_are_seen_with_the_copy() -> None:
    entries = chain(5)
    report = verify(PK, table(entries[2:]), now_ms=NOW, copy=full_copy(entries))
    assert [f.seq for f in report.problems] == [1, 2]
    assert "before its expiry" in report.problems[0].text


def test_a_rewrite_that_keeps_the_chain_consistent_differs_from_the_copy() -> None:
    # Rewritten from #3 on, every hash recomputed: the table's chain is whole again, the copy is not fooled.
    entries = chain(5)
    forged, prev = list(entries[:2]), entries[1].hash
    for e in entries[2:]:
        f = relinked(e, prev=prev, reason="nothing to see")
        forged.append(f)
        prev = f.hash
    assert verify(PK, table(forged), now_ms=NOW).whole
    report = verify(PK, table(forged), now_ms=NOW, copy=full_copy(entries))
    assert [f.seq for f in report.problems] == [3, 4, 5]
    assert "differs from its copy" in report.problems[0].text


def test_a_copy_written_twice_compares_its_first_version_and_says_so() -> None:
    entries = chain(3)
    copy = full_copy(entries)
    versions = dict(copy.versions)
    versions[2] = [*versions[2], {"junk": True}]
    report = verify(PK, table(entries), now_ms=NOW, copy=Copy(versions))
    assert [f.seq for f in report.problems] == [2]
    assert "written 2 times" in report.problems[0].text


def test_entries_missing_from_the_copy_are_pending_when_recent_and_a_finding_when_old() -> None:
    old = chain(3)
    recent = chain(2, at_ms=NOW - 60_000)
    report = verify(PK, table(old), now_ms=NOW, copy=full_copy(old[:2]))
    assert [f.seq for f in report.problems] == [3] and "has no copy" in report.problems[0].text
    report = verify(PK, table(recent), now_ms=NOW, copy=full_copy(recent[:1]))
    assert report.whole and any("not in the copy yet" in n for n in report.notes)


def test_history_in_neither_place_is_not_provable() -> None:
    entries = chain(5, at_ms=NOW - 500 * DAY_MS)
    report = verify(PK, table(entries[3:]), now_ms=NOW, copy=full_copy(entries[2:]))
    assert report.first_broken is not None and report.first_broken.seq == 1
    assert "#1..#2: in neither" in report.first_broken.text


def test_alterations_the_archiver_saw_are_findings() -> None:
    entries = chain(2)
    copy = Copy(full_copy(entries).versions, alterations=["MODIFY of C#000000000002 at 2027-01-01T00:00:00Z"])
    report = verify(PK, table(entries), now_ms=NOW, copy=copy)
    assert not report.whole and "altered in the table" in report.problems[0].text


@pytest.mark.parametrize("bad", [{"seq": Decimal("1.5")}, {"hash": 7}, {"chain_v": Decimal(2)}])
def test_unreadable_entries_are_named_not_trusted(bad: dict[str, Any]) -> None:
    records = table(chain(2))
    records[0].update(bad)
    report = verify(PK, records, now_ms=NOW)
    assert report.first_broken is not None and report.first_broken.seq == 1
