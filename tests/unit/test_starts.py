"""When a planned disarm may start (deadman.core.starts): the past is refused, transit is not."""

from __future__ import annotations

from deadman.core.starts import (
    PAST_START_TOLERANCE_MS,
    implausible_start_problem,
    past_start_problem,
    span_text,
)

NOW = 1_700_000_000_000  # 2023-11-14T22:13:20Z


def test_the_tolerance_is_the_boundary() -> None:
    assert PAST_START_TOLERANCE_MS == 60_000  # the README says 60 s
    assert past_start_problem(NOW - PAST_START_TOLERANCE_MS, NOW) is None
    assert past_start_problem(NOW + 3_600_000, NOW) is None
    problem = past_start_problem(NOW - PAST_START_TOLERANCE_MS - 1, NOW)
    assert problem is not None and "2023-11-14T22:12:19Z, 60 s in the past" in problem


def test_seconds_for_milliseconds_is_named() -> None:
    problem = past_start_problem(NOW // 1000, NOW)
    assert problem is not None and "1970-01-20T" in problem and "looks like epoch seconds" in problem
    assert "(2023-11-14T22:13:20Z)" in problem
    zero = past_start_problem(0, NOW)
    assert zero is not None and "1970-01-01T00:00:00Z" in zero and "seconds" not in zero
    assert implausible_start_problem(NOW) is None
    assert "looks like epoch seconds" in str(implausible_start_problem(NOW // 1000))
    assert "long past" in str(implausible_start_problem(0))


def test_spans_read_as_an_operator_would_say_them() -> None:
    assert [span_text(ms) for ms in (5_000, 119_000, 120_000, 7_200_000, 3 * 86_400_000)] == [
        "5 s",
        "119 s",
        "2 min",
        "2 h",
        "3 days",
    ]
