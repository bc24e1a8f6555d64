"""judge(): only a running row with a fresh, well-formed beat is alive; everything else is death."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from deadman.core.liveness import Liveness, Verdict, judge

NOW = 1_700_000_000_000
S = 20_000
K = 5_000
_DROP = object()  # marks a field to leave out of the row


def row(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "system": "trader-1",
        "beat_ms": Decimal(NOW - 1_000),
        "seq": Decimal(7),
        "state": "running",
        "host": "box",
        "expires_at": Decimal(NOW // 1000 + 86_400),
    }
    item.update(overrides)
    return {k: v for k, v in item.items() if v is not _DROP}


def verdict(item: dict[str, Any] | None) -> Liveness:
    return judge(item, now_ms=NOW, max_staleness_ms=S, skew_ms=K)


def test_fresh_running_row_is_alive_with_age() -> None:
    result = verdict(row())
    assert result.verdict is Verdict.ALIVE
    assert result.alive
    assert result.beat_ms == NOW - 1_000
    assert result.age_ms == 1_000
    assert isinstance(result.beat_ms, int)


def test_int_beat_is_accepted_like_decimal() -> None:
    assert verdict(row(beat_ms=NOW - 1)).alive


@pytest.mark.parametrize(
    ("age_ms", "expected"),
    [
        (0, Verdict.ALIVE),
        (S, Verdict.ALIVE),  # exactly S old: still alive
        (S + 1, Verdict.STALE),
        (-K, Verdict.ALIVE),  # exactly K in the future: tolerated skew
        (-K - 1, Verdict.FUTURE),
        (10 * S, Verdict.STALE),
        (-10 * K, Verdict.FUTURE),
    ],
)
def test_window_boundaries(age_ms: int, expected: Verdict) -> None:
    result = verdict(row(beat_ms=Decimal(NOW - age_ms)))
    assert result.verdict is expected
    assert result.age_ms == age_ms
    assert result.alive is (expected is Verdict.ALIVE)


def test_zero_windows_accept_only_the_exact_instant() -> None:
    assert judge(row(beat_ms=NOW), now_ms=NOW, max_staleness_ms=0, skew_ms=0).alive
    assert judge(row(beat_ms=NOW - 1), now_ms=NOW, max_staleness_ms=0, skew_ms=0).verdict is Verdict.STALE
    assert judge(row(beat_ms=NOW + 1), now_ms=NOW, max_staleness_ms=0, skew_ms=0).verdict is Verdict.FUTURE


def test_missing_row() -> None:
    result = verdict(None)
    assert result.verdict is Verdict.MISSING
    assert not result.alive
    assert result.beat_ms is None and result.age_ms is None


@pytest.mark.parametrize("state", ["stopped", "RUNNING", "running ", "", "paused"])
def test_state_other_than_running_is_not_running_even_when_fresh(state: str) -> None:
    result = verdict(row(state=state))
    assert result.verdict is Verdict.NOT_RUNNING
    assert not result.alive
    assert result.beat_ms == NOW - 1_000


@pytest.mark.parametrize(
    "overrides",
    [
        {"state": _DROP},
        {"state": Decimal(1)},
        {"state": None},
        {"beat_ms": _DROP},
        {"beat_ms": None},
        {"beat_ms": str(NOW)},
        {"beat_ms": float(NOW)},
        {"beat_ms": Decimal(NOW) + Decimal("0.5")},
        {"beat_ms": Decimal("NaN")},
        {"beat_ms": Decimal("Infinity")},
        {"beat_ms": True},
        {"beat_ms": -1},
        {"beat_ms": Decimal(-5)},
        {"beat_ms": [NOW]},
    ],
)
def test_malformed_rows_are_no_proof_of_life(overrides: dict[str, Any]) -> None:
    """Hazard 3: a row that was read and is nonsense is the trader's row saying nothing - death
    (the watchdog sweeps), not a failure of our plumbing (which would hold the watchdog back)."""
    result = verdict(row(**overrides))
    assert result.verdict is Verdict.MALFORMED
    assert not result.alive
    assert result.beat_ms is None


def test_malformed_even_when_state_is_not_running() -> None:
    assert verdict(row(state="stopped", beat_ms="x")).verdict is Verdict.MALFORMED


def test_not_a_mapping_is_malformed() -> None:
    assert verdict(["beat_ms", NOW]).verdict is Verdict.MALFORMED  # type: ignore[arg-type]


def test_only_a_failed_read_is_unreadable() -> None:
    from deadman.stores.liveness import LivenessReader, read_and_judge

    class Failing:
        def get_item(self, **kwargs: object) -> dict[str, object]:
            raise OSError("connection reset")

    failed = read_and_judge(LivenessReader("T", client=Failing()), "t", lambda: NOW, S, K)
    assert failed.verdict is Verdict.UNREADABLE and failed.detail.startswith("read failed")


def test_integral_decimal_with_exponent_is_an_integer() -> None:
    result = verdict(row(beat_ms=Decimal("1.699999999E+12")))
    assert result.beat_ms == 1_699_999_999_000
    assert result.alive


def test_only_alive_is_alive() -> None:
    assert [v for v in Verdict if Liveness(v, None, None, "").alive] == [Verdict.ALIVE]


def test_detail_says_why() -> None:
    assert "max staleness" in verdict(row(beat_ms=NOW - S - 1)).detail
    assert "future" in verdict(row(beat_ms=NOW + K + 1)).detail
    assert "beat_ms" in verdict(row(beat_ms=_DROP)).detail


@pytest.mark.parametrize(("s", "k"), [(-1, 0), (0, -1)])
def test_negative_windows_are_refused(s: int, k: int) -> None:
    with pytest.raises(ValueError):
        judge(row(), now_ms=NOW, max_staleness_ms=s, skew_ms=k)


def test_verdict_values_are_stable_strings() -> None:
    assert {v.value for v in Verdict} == {
        "alive",
        "stale",
        "missing",
        "future",
        "malformed",
        "unreadable",
        "not_running",
    }


def test_the_clock_is_read_after_a_slow_read() -> None:
    """Hazard 2: a beat written while the read was under way is fresh, not from the future."""
    from deadman.stores.liveness import LivenessReader, read_and_judge

    now = {"ms": 1_000_000}

    class SlowTable:
        def get_item(self, **kwargs: object) -> dict[str, object]:
            now["ms"] += 8_000  # the read takes 8 s; the trader beats at its very end
            return {
                "Item": {"system": {"S": "t"}, "state": {"S": "running"}, "beat_ms": {"N": str(now["ms"])}}
            }

    verdict = read_and_judge(LivenessReader("T", client=SlowTable()), "t", lambda: now["ms"], 20_000, 5_000)
    assert verdict.alive, verdict.detail
    assert verdict.at_ms == 1_008_000


# -- several trading systems ------------------------------------------------------------------------


def test_combine_needs_every_system_alive_and_anchors_on_the_oldest_beat() -> None:
    from deadman.core.liveness import Liveness, Verdict, combine

    a = Liveness(Verdict.ALIVE, 1_000, 500, "fresh", at_ms=1_500)
    b = Liveness(Verdict.ALIVE, 900, 600, "fresh", at_ms=1_600)
    dead = Liveness(Verdict.STALE, 100, 1_400, "31 s old", at_ms=1_550)
    unreadable = Liveness(Verdict.UNREADABLE, None, None, "read failed: Throttling", at_ms=1_700)
    assert combine([("a", a)]) is a  # one system: its verdict, untouched
    both = combine([("a", a), ("b", b)])
    assert both.alive and both.beat_ms == 900 and both.at_ms == 1_600 and "oldest b" in both.detail
    died = combine([("a", a), ("b", dead)])
    assert died.verdict is Verdict.STALE and died.detail == "b: 31 s old"
    # Unreadable wins over death: our own fault is never a reason to sweep.
    mixed = combine([("a", dead), ("b", unreadable)])
    assert mixed.verdict is Verdict.UNREADABLE and "read failed" in mixed.detail
    # A malformed row is no proof of life: it never holds the watchdog back (hazard 3).
    garbage = Liveness(Verdict.MALFORMED, None, None, "malformed row: beat_ms is not a number", at_ms=1_650)
    assert combine([("a", a), ("b", garbage)]).verdict is Verdict.MALFORMED
    assert not combine([("a", a), ("b", garbage)]).alive
