"""What a reason may hold (deadman.core.text): one line of plain text that shows something.

Properties over generated text: a reason made only of characters that print as nothing is refused,
a format or bidi control anywhere is refused naming it and its position, and plain visible text
passes - through the API's models as well as the core functions."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from deadman.core.text import has_visible, printable, text_problem
from deadman.edges.api.models import KillRequest

# Characters that show nothing on their own (the examples and their kin).
BLANK = st.sampled_from(["\u3164", "\u2800", "\u115f", "\u1160", "\uffa0", " ", "\u00a0", "\u3000", "\u2003"])
MARKS = st.characters(categories=["Mn", "Me"])
PRIVATE = st.characters(categories=["Co"])
JOINERS = st.sampled_from(["\u200c", "\u200d"])
INVISIBLE = st.one_of(BLANK, MARKS, PRIVATE, JOINERS)
# Format characters other than the joiners (bidi marks, tags, zero-width space...) and controls.
REFUSED = st.one_of(
    st.characters(categories=["Cf"]).filter(lambda c: c not in "\u200c\u200d"),
    st.characters(categories=["Cc", "Zl", "Zp"]),
    st.sampled_from(["\u200e", "\u200f", "\u061c", "\u202e", "\u2066", "\U000e0041", "\u200b", "\ufeff"]),
)
# U+FFFD is visible, but the API refuses it as the trace of invalid UTF-8.
VISIBLE = st.characters(categories=["L", "N", "P", "S"]).filter(
    lambda c: c not in "\u3164\u2800\u115f\u1160\uffa0\ufffd"
)
ANY_OK = st.one_of(INVISIBLE, VISIBLE)


def kill_reason_ok(reason: str) -> bool:
    try:
        KillRequest.model_validate({"reason": reason})
    except ValidationError:
        return False
    return True


@settings(max_examples=300)
@given(st.text(INVISIBLE, min_size=1, max_size=30))
def test_text_made_of_nothing_visible_is_refused(reason: str) -> None:
    assert not has_visible(reason)
    assert not kill_reason_ok(reason)


@settings(max_examples=300)
@given(st.text(ANY_OK, max_size=20), REFUSED, st.text(ANY_OK, max_size=20))
def test_a_format_or_control_character_is_refused_naming_it(before: str, bad: str, after: str) -> None:
    reason = before + "incident 42" + bad + after
    problem = text_problem(reason)
    assert problem is not None
    first = next(i for i, c in enumerate(reason) if text_problem(c) is not None)
    assert f"(U+{ord(reason[first]):04X}) at position {first}" in problem
    assert not kill_reason_ok(reason)


@settings(max_examples=300)
@given(st.text(INVISIBLE, max_size=10), VISIBLE, st.text(ANY_OK, max_size=30))
def test_plain_text_with_something_visible_passes(before: str, visible: str, after: str) -> None:
    reason = (before + visible + after)[:500]
    assert text_problem(reason) is None and has_visible(reason)
    assert kill_reason_ok(reason) == (len(reason.strip()) >= 1)


@pytest.mark.parametrize(
    "reason",
    ["incident 42: runaway", "日本 ☃ é", "emoji with joiners 👩\u200d💻", "❤\ufe0f", "e\u0301"],
)
def test_ordinary_reasons_pass(reason: str) -> None:
    assert text_problem(reason) is None and has_visible(reason) and kill_reason_ok(reason)


def test_the_categories_the_rule_rests_on() -> None:
    # If a Python upgrade moved one of these, the rule above would quietly change meaning.
    assert [unicodedata.category(c) for c in "\u3164\u2800\u200e\U000e0041\ue000\u0301"] == [
        "Lo",
        "So",
        "Cf",
        "Cf",
        "Co",
        "Mn",
    ]
    assert printable("ok\x1b[2J") == "ok\\x1b[2J"
