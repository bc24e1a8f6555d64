"""The CLI's rendering of API answers, without an API: stored text is never printed raw, and every
answer says why something failed or took long."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest

from deadman.app.control import kill as kill_case
from deadman.app.control import status as status_case
from deadman.app.control.results import (
    ArmResult,
    ArmSwitchResult,
    DisarmResult,
    DisarmSwitchResult,
    KillResult,
    KillSwitchResult,
    SweepAttempt,
    VenueProblem,
)
from deadman.core.text import printable
from deadman.edges.cli import commands as cli_commands
from deadman.edges.cli import common as cli_common
from deadman.edges.cli import main as cli_main
from deadman.edges.cli import render as cli_render

ESC_CLEAR = "\x1b[2J\x1b[H"
HOSTILE = f"{ESC_CLEAR}all fine\x07\x00\x7f\x85\u202eevil\u2028next"
UNSAFE = ("\x1b", "\x07", "\x00", "\x7f", "\x85", "\u202e", "\u2028")


def assert_clean(text: str) -> None:
    assert not any(char in text for char in UNSAFE), repr(text)
    assert all(char.isprintable() or char == "\n" for char in text), repr(text)


# -- printable / sanitised ---------------------------------------------------------------------------------


def test_printable_escapes_what_a_terminal_would_act_on_and_keeps_the_rest() -> None:
    assert printable(HOSTILE) == ("\\x1b[2J\\x1b[Hall fine\\x07\\x00\\x7f\\x85\\u202eevil\\u2028next")
    assert printable("incident 42: trader runaway ☃ é") == "incident 42: trader runaway ☃ é"
    assert printable("two\nlines\t!") == "two\\nlines\\t!"
    assert printable("two\nlines", newlines=True) == "two\nlines"
    assert printable("half \ud800 pair") == "half \\ud800 pair"


def test_sanitised_reaches_every_string_of_an_answer_keys_included() -> None:
    body = {"a\x1b": [{"reason": HOSTILE, "n": 3, "ok": True, "none": None}], "b": "\x00"}
    clean = cli_render.sanitised(body)
    assert_clean(json.dumps(clean, ensure_ascii=False))
    assert clean["a\\x1b"][0]["n"] == 3 and clean["a\\x1b"][0]["ok"] is True


def test_json_output_escapes_del_too() -> None:
    text = cli_render.json_text({"reason": HOSTILE})
    assert_clean(text)
    assert json.loads(text) == {"reason": HOSTILE}  # still the same JSON


# -- status ------------------------------------------------------------------------------------------------


def status_body(audit_entries: int = 5, reason: str = HOSTILE) -> dict[str, Any]:
    switch = {
        "venue": "kraken",
        "account": "main",
        "mode": "killed",
        "mode_detail": "killed until an operator arms it",
        "version": 3,
        "disarmed_until_ms": None,
        "disarm_seconds_left": None,
        "reason": reason,
        "changed_by": f"arn:aws:sts::1:assumed-role/x/{ESC_CLEAR}",
        "changed_at_ms": 1_700_000_000_000,
        "last_tick_ms": 1_700_000_000_000,
        "last_tick_age_s": 1.0,
        "deadline_ms": None,
        "deadline_seconds_left": None,
        "last_beat_ms": None,
        "dead_since_ms": None,
        "native_available": False,
        "native_reason": f"venue says {ESC_CLEAR}",
        "triggers_today": None,
        "trigger_budget": None,
        "last_error": f"\x1b[31mred\x1b[0m {reason}",
        "consecutive_errors": 1,
        "last_sweep_ms": None,
        "last_sweep": "kill: \x1b[8mhidden",
        "recent_audit": [
            {
                "at_ms": 1_700_000_000_000 - i,
                "action": f"kill{i}",
                "actor": f"actor\x1b]0;title\x07{i}",
                "reason": reason,
                "result": f"latched\x00{i}",
                "details": {},
            }
            for i in range(audit_entries)
        ],
    }
    return {
        "action": "status",
        "at_ms": 1_700_000_000_000,
        "liveness": {
            "system": "toy\x1b[2J",
            "verdict": "alive",
            "alive": True,
            "beat_ms": 1,
            "age_s": 0.5,
            "detail": "fresh \x1b[5m",
        },
        "timing": {
            "max_staleness_s": 20,
            "tick_s": 10,
            "grace_s": 15,
            "skew_s": 5,
            "sweep_window_s": 0,
            "max_disarm_s": 3600,
        },
        "venues": [
            {
                "venue": "kraken",
                "timer_kind": "relative_s",
                "can_disarm": True,
                "reaction_bounds": {"watchdog_s": 35.0, "native_s": 46.0},
                "switches": [switch],
                "note": None,
            }
        ],
    }


class Args:
    json = False


def emit(capsys: pytest.CaptureFixture[str], status: int, body: Any, render: Any) -> tuple[int, str, str]:
    args = Args()
    code = cli_commands._emit(args, status, body, render)  # type: ignore[arg-type]
    out, err = capsys.readouterr()
    return code, out, err


def test_status_never_prints_control_characters_from_stored_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = emit(capsys, 200, status_body(), lambda b: cli_render.render_status(b, 5))
    assert code == 0
    assert_clean(out)
    assert "\\x1b[2J" in out  # shown, escaped: the operator sees that someone tried
    assert "kraken/main: killed until an operator arms it" in out


def test_errors_never_print_control_characters_either(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = emit(capsys, 400, {"error": "invalid_request", "message": HOSTILE}, cli_render.render_kill)
    assert code == cli_common.EXIT_USAGE
    assert_clean(err)


def test_audit_beyond_what_the_api_returns_says_it_was_capped() -> None:
    out = cli_render.render_status(status_body(audit_entries=5), audit=9)
    assert "recent audit, newest first (asked for 9 per switch; the status API returns at most 5):" in out
    assert sum(" kraken/main kill" in line for line in out.splitlines()) == 5
    within = cli_render.render_status(status_body(audit_entries=5), audit=2)
    assert "recent audit, newest first:" in within and "asked for" not in within
    assert sum(" kraken/main kill" in line for line in within.splitlines()) == 2


def healthy(body: dict[str, Any]) -> dict[str, Any]:
    switch = body["venues"][0]["switches"][0]
    switch.update(mode="armed", mode_detail="armed", consecutive_errors=0, last_error=None)
    return body


def test_status_attention_lists_what_needs_a_look_and_nothing_when_all_is_well() -> None:
    assert cli_render.attention(healthy(status_body(reason="drill"))) == []
    assert "all well" in cli_render.render_status(healthy(status_body(reason="drill")))
    body = status_body(reason="drill")
    body["liveness"].update(alive=False, verdict="stale", detail="last beat 31 s ago")
    problems = cli_render.attention(body)
    assert problems[0] == "trader toy\x1b[2J is stale: last beat 31 s ago"
    assert any(p.startswith("kraken/main is killed: drill") for p in problems)
    assert any(p.startswith("kraken/main is failing (1 in a row)") for p in problems)
    switch = healthy(status_body(reason="drill"))["venues"][0]["switches"][0]
    one = {**healthy(status_body(reason="drill")), "venues": [{"switches": [switch]}]}
    switch.update(mode="disarmed", disarm_seconds_left=120.0, last_tick_age_s=45.0)
    assert cli_render.attention(one) == [
        "kraken/main: the disarm ends in 2.0 min; the switch re-arms by itself",
        "kraken/main is not ticking: last tick 45.0 s ago",
    ]
    switch.update(disarm_seconds_left=900.0, last_tick_age_s=2.0)
    assert cli_render.attention(one) == []


@pytest.mark.parametrize(
    ("body", "code"), [("healthy", cli_common.EXIT_OK), ("killed", cli_common.EXIT_ATTENTION)]
)
def test_status_exits_non_zero_when_something_needs_attention(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], body: str, code: int
) -> None:
    answer = healthy(status_body(reason="drill")) if body == "healthy" else status_body(reason="drill")

    class Api:
        def call(self, method: str, path: str) -> tuple[int, Any]:
            return 200, answer

    monkeypatch.setattr(cli_commands, "_client", lambda args: Api())
    args = cli_main._defaults(cli_main.build_parser().parse_args(["status", "--endpoint", "http://x"]))
    assert cli_commands.cmd_status(args) == code
    out = capsys.readouterr().out
    assert ("ATTENTION:" in out) == (code == cli_common.EXIT_ATTENTION)


def test_status_watch_takes_seconds_within_reason() -> None:
    parse = cli_main.build_parser().parse_args
    assert parse(["status", "--watch"]).watch == 5.0
    assert parse(["status", "--watch", "30"]).watch == 30.0
    assert parse(["status"]).watch is None
    for bad in ("0", "0.5", "abc", "7200"):
        with pytest.raises(SystemExit):
            parse(["status", "--watch", bad])


def test_the_cli_knows_how_many_audit_entries_status_returns() -> None:
    assert status_case.STATUS_AUDIT_ENTRIES == cli_common.STATUS_AUDIT_MAX


# -- kill, disarm, arm -------------------------------------------------------------------------------------


def test_a_kill_that_waited_out_an_in_flight_extension_says_so() -> None:
    note = "a refresher extension was in flight at the latch: waited for it to time out, swept again"
    # The note the CLI recognises is the one deadman.app.control writes.
    assert "in flight" in inspect.getsource(kill_case._sweep_passes)
    result = KillResult(
        ok=True,
        at_ms=1,
        elapsed_ms=8_300,
        actor="arn:aws:sts::1:assumed-role/oncall/alice",
        reason="incident",
        switches=[
            KillSwitchResult(
                venue="kraken",
                account="main",
                latched=True,
                swept=True,
                cancelled_count=2,
                attempts=[
                    SweepAttempt(attempt=1, ok=True, cancelled_count=2),
                    SweepAttempt(attempt=2, ok=True, venue_timer="cleared"),
                ],
                notes=[note],
            ),
            KillSwitchResult(
                venue="gemini",
                account="main",
                latched=True,
                swept=True,
                attempts=[SweepAttempt(attempt=1, ok=True)],
            ),
        ],
        venue_problems=[],
        failed=[],
        message="killed 2/2 switch(es); swept 2/2; cancelled 2 order(s)",
    )
    out = cli_render.render_kill(result.model_dump(mode="json"))
    assert "- 8.30 s" in out
    assert (
        "waited for a refresher extension that was in flight at the latch on kraken/main to time out "
        "(up to ~8 s)" in out
    )
    assert "gemini/main" not in out.split("waited for", 1)[1]
    [kraken_row] = [line for line in out.splitlines() if line.startswith("kraken/main")]
    assert "venue timer cleared" in kraken_row  # the timer is still shown beside the note


def test_a_kill_without_an_in_flight_extension_says_nothing_about_waiting() -> None:
    result = KillResult(
        ok=True,
        at_ms=1,
        elapsed_ms=300,
        actor="a",
        reason="r",
        switches=[KillSwitchResult(venue="kraken", account="main", latched=True, swept=True)],
        venue_problems=[],
        failed=[],
        message="m",
    )
    assert "waited" not in cli_render.render_kill(result.model_dump(mode="json"))


SECRET_PROBLEM = "secret 'deadman/kraken': field 'accounts[0].api_key' is required"


def test_arm_shows_why_a_venue_failed() -> None:
    result = ArmResult(
        ok=False,
        at_ms=1,
        actor="a",
        reason="r",
        switches=[
            ArmSwitchResult(
                venue="gemini", account="main", previous_mode="killed", mode="armed", changed=True
            ),
            ArmSwitchResult(
                venue="hyperliquid",
                account="main",
                previous_mode="killed",
                mode="killed",
                changed=False,
                error="conditional write lost 4 times",
            ),
        ],
        venue_problems=[VenueProblem(venue="kraken", error=SECRET_PROBLEM)],
        message="armed 1 switch(es), 0 already armed; ...; failed: hyperliquid/main, kraken",
    )
    out = cli_render.render_arm(result.model_dump(mode="json"))
    assert f"venue kraken: {SECRET_PROBLEM}" in out
    assert "conditional write lost 4 times" in out
    assert out.splitlines()[-1].startswith("INCOMPLETE: ")


def test_disarm_shows_why_a_venue_failed() -> None:
    result = DisarmResult(
        ok=False,
        at_ms=1,
        until_ms=2,
        for_seconds=60,
        actor="a",
        reason="r",
        switches=[
            DisarmSwitchResult(
                venue="gemini",
                account="main",
                mode="disarmed",
                disarmed=True,
                disarmed_until_ms=2,
                venue_timer="not_supported",
            )
        ],
        venue_problems=[VenueProblem(venue="kraken", error=SECRET_PROBLEM)],
        notes=[],
        message="m",
    )
    assert f"venue kraken: {SECRET_PROBLEM}" in cli_render.render_disarm(result.model_dump(mode="json"))
