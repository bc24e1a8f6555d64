"""The beat-interval rule (deadman.core.beats): 2 x every + K + 1 s <= S, at its boundary."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deadman.core.beats import max_beat_interval_s


@pytest.mark.parametrize(
    ("s", "k", "every"),
    [(20, 5, 7.0), (4, 1, 1.0), (20, 0, 9.5), (60, 5, 27.0), (6, 5, 0.0), (5, 5, -0.5)],
)
def test_the_documented_figures(s: float, k: float, every: float) -> None:
    assert max_beat_interval_s(s, k) == every


def test_the_incident_interval_is_refused_at_the_defaults() -> None:
    # Beats every 9.5 s, a clock 3 s behind and one lost beat: the row looked 23 s old (S = 20).
    assert max_beat_interval_s(20, 5) < 9.5
    assert 2 * 9.5 + 3 + 1 > 20


@given(
    s=st.integers(1, 600),
    k=st.integers(0, 60),
    every_ms=st.integers(1, 600_000),
)
def test_an_interval_is_allowed_exactly_when_the_worst_age_is_within_s(s: int, k: int, every_ms: int) -> None:
    every = every_ms / 1000
    worst_age_ms = 2 * every_ms + k * 1000 + 1000  # one lost beat, a clock K behind, the write
    assert (every <= max_beat_interval_s(s, k)) == (worst_age_ms <= s * 1000)
