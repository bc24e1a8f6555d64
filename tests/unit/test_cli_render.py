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
from deadman.edges.cli import status_view

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
    code, out, _ = emit(capsys, 200, status_body(), lambda b: status_view.render_status(b, 5))
    assert code == 0
    assert_clean(out)
    assert "\\x1b[2J" in out  # shown, escaped: the operator sees that someone tried
    assert "kraken/main: killed until an operator arms it" in out


def test_errors_never_print_control_characters_either(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = emit(capsys, 400, {"error": "invalid_request", "message": HOSTILE}, cli_render.render_kill)
    assert code == cli_common.EXIT_USAGE
    assert_clean(err)


def test_audit_beyond_what_the_api_returns_says_it_was_capped() -> None:
    out = status_view.render_status(status_body(audit_entries=5), audit=9)
    assert "recent audit, newest first (asked for 9 per switch; the status API returns at most 5):" in out
    assert sum(" kraken/main kill" in line for line in out.splitlines()) == 5
    within = status_view.render_status(status_body(audit_entries=5), audit=2)
    assert "recent audit, newest first:" in within and "asked for" not in within
    assert sum(" kraken/main kill" in line for line in within.splitlines()) == 2


def healthy(body: dict[str, Any]) -> dict[str, Any]:
    switch = body["venues"][0]["switches"][0]
    switch.update(mode="armed", mode_detail="armed", consecutive_errors=0, last_error=None)
    return body


def test_status_attention_lists_what_needs_a_look_and_nothing_when_all_is_well() -> None:
    assert status_view.attention(healthy(status_body(reason="drill"))) == []
    assert "all well" in status_view.render_status(healthy(status_body(reason="drill")))
    body = status_body(reason="drill")
    body["liveness"].update(alive=False, verdict="stale", detail="last beat 31 s ago")
    problems = status_view.attention(body)
    assert problems[0] == "trader toy\x1b[2J is stale: last beat 31 s ago"
    assert any(p.startswith("kraken/main is killed: drill") for p in problems)
    assert any(p.startswith("kraken/main is failing (1 in a row)") for p in problems)
    switch = healthy(status_body(reason="drill"))["venues"][0]["switches"][0]
    one = {**healthy(status_body(reason="drill")), "venues": [{"switches": [switch]}]}
    switch.update(mode="disarmed", disarm_seconds_left=120.0, last_tick_age_s=45.0)
    assert status_view.attention(one) == [
        "kraken/main: the disarm ends in 2.0 min; the switch re-arms by itself",
        "kraken/main is not ticking: last tick 45.0 s ago",
    ]
    switch.update(disarm_seconds_left=900.0, last_tick_age_s=2.0)
    assert status_view.attention(one) == []


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


def test_status_says_a_venue_with_no_timer_has_the_watchdog_alone() -> None:
    body = healthy(status_body())
    body["venues"][0].update(timer_kind="none", can_disarm=False)
    body["venues"][0]["reaction_bounds"] = {"watchdog_s": 51.0, "native_s": None}
    row = next(line for line in status_view.render_status(body).splitlines() if line.startswith("kraken "))
    assert "51.0 s" in row and "none (watchdog only)" in row


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
        "(up to ~12 s)" in out
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


# -- what an on-call engineer read wrong (issue 17, item 9) ------------------------------------------------


def planned_result(off: bool) -> dict[str, Any]:
    starts, until = 1_700_000_000_000 + 7_200_000, 1_700_000_000_000 + 7_200_000 + 201_600_000
    return DisarmResult(
        ok=True,
        at_ms=1_700_000_000_000,
        starts_at_ms=starts,
        until_ms=until,
        for_seconds=201_600,
        actor="alice",
        reason="weekend",
        off=off,
        switches=[
            DisarmSwitchResult(
                venue="kraken",
                account="main",
                mode="armed",
                disarmed=False,
                scheduled=True,
                disarmed_until_ms=until,
                venue_timer="not_attempted",
            )
        ],
        venue_problems=[],
        notes=[],
        message="planned",
    ).model_dump(mode="json")


@pytest.mark.parametrize("off", [True, False])
def test_a_planned_disarm_or_off_period_reads_as_a_plan_not_as_in_force(off: bool) -> None:
    out = cli_render.render_disarm(planned_result(off))
    head = out.splitlines()[0]
    assert head.startswith(f"PLANNED {'OFF PERIOD' if off else 'DISARM'} by alice: from 2023-11-15 00:13:20Z")
    assert "for 56.0 h" in head and "201600 s" not in head
    assert "MODE NOW" in out and "PLANNED FROM" in out
    [row] = [line for line in out.splitlines() if line.startswith("kraken/main")]
    assert row.split()[1] == "armed"


def test_status_marks_a_planned_window_and_a_plan_in_the_audit() -> None:
    body = healthy(status_body(reason="weekend", audit_entries=1))
    switch = body["venues"][0]["switches"][0]
    switch.update(scheduled_disarm_from_ms=1_700_007_200_000, scheduled_disarm_until_ms=1_700_200_000_000)
    switch.update(scheduled_off=True, off=False)
    switch["recent_audit"][0].update(action="off", result="planned: 2023-11-15T00:13:20Z to ...")
    out = status_view.render_status(body)
    [row] = [line for line in out.splitlines() if line.startswith("kraken/main ")]
    assert "armed; 1 off planned" in row
    assert " kraken/main off planned by " in out
    assert not any(p.startswith("kraken/main: the off period") for p in status_view.attention(body))


def test_a_tick_a_little_in_the_future_is_a_tick_just_now() -> None:
    body = healthy(status_body(reason="drill"))
    body["venues"][0]["switches"][0]["last_tick_age_s"] = -0.1
    out = status_view.render_status(body)
    assert "-0.1 s" not in out
    [row] = [line for line in out.splitlines() if line.startswith("kraken/main ")]
    assert " 0.0 s " in row


@pytest.mark.parametrize(
    ("api", "cli"),
    [
        ("Arm it first (POST /arm), then disarm.", "Arm it first (`deadman arm`), then disarm."),
        ("an off period: pass off)", "an off period: pass --off)"),
        ("the outcome is unknown; read GET /status before trying again", "run `deadman status` before"),
    ],
)
def test_hints_speak_the_cli_where_the_cli_shows_them(
    capsys: pytest.CaptureFixture[str], api: str, cli: str
) -> None:
    code, _, err = emit(capsys, 409, {"error": "conflict", "message": api}, cli_render.render_kill)
    assert code == cli_common.EXIT_USAGE
    assert cli in err and "POST /" not in err and "GET /" not in err
    body = planned_result(False)
    body["notes"] = [api]
    assert cli in cli_render.render_disarm(cli_render.cli_words(body))


def status_of_two_venues() -> dict[str, Any]:
    body = healthy(status_body(reason="drill"))
    kraken = body["venues"][0]["switches"][0]
    gemini = {**kraken, "venue": "gemini", "account": "timed", "mode": "killed", "systems": ["b"]}
    body["venues"].append({**body["venues"][0], "venue": "gemini", "switches": [gemini]})
    body["systems"] = [
        {"system": "toy", "verdict": "alive", "alive": True, "detail": "fresh"},
        {"system": "b", "verdict": "stale", "alive": False, "detail": "old"},
    ]
    body["liveness"]["system"] = "toy"
    return body


def test_status_narrowed_to_a_venue_or_an_account_speaks_of_those_alone() -> None:
    body = status_of_two_venues()
    assert status_view.attention(body)  # gemini/timed is killed and its system b is dead
    kraken = cli_commands.narrowed(body, ["kraken"], None)
    assert [v["venue"] for v in kraken["venues"]] == ["kraken"] and status_view.attention(kraken) == []
    timed = cli_commands.narrowed(body, None, ["timed"])
    assert [len(v["switches"]) for v in timed["venues"]] == [0, 1]
    assert [s["system"] for s in timed["systems"]] == ["b"]
    with pytest.raises(cli_common.CliError, match="no switch of account"):
        cli_commands.narrowed(body, ["kraken"], ["timed"])


def test_status_watch_ended_by_ctrl_c_exits_with_the_last_answers_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = [healthy(status_body(reason="drill")), status_body(reason="drill")]

    class Api:
        def call(self, method: str, path: str) -> tuple[int, Any]:
            return 200, answers.pop(0)

    def sleep(seconds: float) -> None:
        if not answers:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_commands, "_client", lambda args: Api())
    monkeypatch.setattr(cli_commands.time, "sleep", sleep)
    args = cli_main._defaults(
        cli_main.build_parser().parse_args(["status", "--watch", "1", "--endpoint", "http://x"])
    )
    assert cli_commands.cmd_status(args) == cli_common.EXIT_ATTENTION  # the last answer: killed
    capsys.readouterr()


@pytest.mark.parametrize("endpoint", ["notaurl", "http://[::1", "ftp://example.com/v1", "https://h:port/v1"])
def test_an_endpoint_that_is_not_a_url_is_a_sentence_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], endpoint: str
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")  # signing would be reached first with credentials
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    code = cli_main.main(["status", "--endpoint", endpoint])
    err = capsys.readouterr().err
    assert code == cli_common.EXIT_USAGE and f"endpoint {endpoint!r} is not" in err and "Traceback" not in err


def test_a_closed_pipe_ends_quietly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def closed(args: Any) -> int:
        raise BrokenPipeError

    monkeypatch.setattr(cli_main, "cmd_status", closed)  # `deadman status | head`: the reader left
    assert cli_main.main(["status", "--endpoint", "http://x"]) == cli_common.EXIT_PIPE_CLOSED
    assert capsys.readouterr().err == ""


def test_sandbox_as_is_refused_against_a_deployment(capsys: pytest.CaptureFixture[str]) -> None:
    url = "https://abc123.execute-api.us-east-1.amazonaws.com/v1"
    code = cli_main.main(["--sandbox-as", "bob", "status", "--endpoint", url])
    assert code == cli_common.EXIT_USAGE and "only against the sandbox" in capsys.readouterr().err
