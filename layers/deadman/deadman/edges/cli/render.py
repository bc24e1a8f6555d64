"""What the operator reads: the API's answers as tables and lines, stored text with control
characters escaped, and what in a status needs attention."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from deadman.core.text import printable
from deadman.edges.cli.common import STATUS_AUDIT_MAX


def sanitised(value: Any) -> Any:
    """`value` (the API's JSON) with every string, keys included, passed through `printable`."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {sanitised(k): sanitised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [sanitised(v) for v in value]
    return value


def json_text(payload: Any) -> str:
    # ensure_ascii escapes every control character but DEL, the one ASCII one; DEL only ever occurs
    # inside a JSON string, where \u007f means the same.
    return json.dumps(payload, indent=2, sort_keys=False).replace("\x7f", "\\u007f")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def _iso(ms: int | None) -> str:
    if ms is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(ms / 1000))


def _secs(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    if abs(value) >= 3600:
        text = f"{value / 3600:.1f} h"
    elif abs(value) >= 120:
        text = f"{value / 60:.1f} min"
    else:
        text = f"{value:.1f} s"
    return ("+" + text) if signed and value >= 0 else text


def _age(seconds: float | None) -> float | None:
    # The status function's clock and the refresher's differ by a little: a tick a tenth of a second
    # "in the future" is a tick just now.
    return None if seconds is None else max(0.0, seconds)


def _short(text: Any, width: int = 60) -> str:
    if text is None:
        return "-"
    value = str(text).replace("\n", " ")
    return value if len(value) <= width else value[: width - 1] + "…"


GATEWAY_NO_ROUTE_MESSAGE = "Missing Authentication Token"
# The use cases' messages serve API callers and the CLI alike; where they name an API step, the CLI
# shows the command that does it.
_API_TO_CLI = (
    ("read GET /status", "run `deadman status`"),
    ("GET /status", "`deadman status`"),
    ("POST /arm", "`deadman arm`"),
    ("POST /disarm", "`deadman disarm`"),
    ("POST /kill", "`deadman kill`"),
    ("GET /doctor", "`deadman doctor`"),
    ("pass off", "pass --off"),
)


def cli_words(value: Any) -> Any:
    """`value` (an answer, or any string in it) with the API's hints in the CLI's words."""
    if isinstance(value, str):
        for api, cli in _API_TO_CLI:
            value = value.replace(api, cli)
        return value
    if isinstance(value, dict):
        return {k: cli_words(v) for k, v in value.items()}
    if isinstance(value, list):
        return [cli_words(v) for v in value]
    return value


def render_error(status: int, payload: Any) -> str:
    payload = cli_words(payload)
    message = payload.get("message") if isinstance(payload, dict) else None
    kind = payload.get("error") if isinstance(payload, dict) else None
    text = f"HTTP {status}" + (f" {kind}" if kind else "") + f": {message or payload}"
    if status == 403 and message == GATEWAY_NO_ROUTE_MESSAGE:
        # API Gateway's answer to a URL no route matches (wrong path or stage) on an IAM API, or to
        # an unsigned request: a URL problem far more often than a credentials one.
        text += (
            "\n(no route matches this URL: check the endpoint - it is the stack's ApiUrl output and ends "
            "with the stage, e.g. https://abc123.execute-api.us-east-1.amazonaws.com/v1 - or the request "
            "was sent unsigned (--no-sign))"
        )
    elif status in (401, 403):
        text += (
            "\n(check your AWS credentials and that your role has the stack's Operator*/ReadStatus policy)"
        )
    elif status == 429:
        text += (
            "\n(throttled: the API did not take this request, nothing was changed by it; retry in a few "
            "seconds - a kill at once)"
        )
    elif status >= 500:
        text += "\n(the outcome is unknown: run `deadman status` before trying again)"
    return text


def _in_flight_note(note: str) -> bool:
    # deadman.app.control notes "a refresher extension was in flight at the latch: waited for it to time
    # out, swept again"; matched loosely so a rewording there does not silently hide the explanation.
    return "in flight" in note.lower()


def render_kill(body: dict[str, Any]) -> str:
    rows = []
    waited = []
    for s in body.get("switches", []):
        attempts = s.get("attempts") or []
        timer = next((a.get("venue_timer") for a in reversed(attempts) if a.get("venue_timer")), None)
        notes = s.get("notes") or []
        if any(_in_flight_note(n) for n in notes):
            waited.append(f"{s['venue']}/{s['account']}")
        confirmed = next((a.get("confirmed") for a in reversed(attempts) if a.get("confirmed")), None)
        parts = [
            s.get("error"),
            f"venue timer {timer}" if timer else None,
            None if confirmed in (None, "empty") else f"book {confirmed}",
        ]
        parts.extend(n for n in notes if not _in_flight_note(n))
        detail = "; ".join(p for p in parts if p)
        rows.append(
            [
                f"{s['venue']}/{s['account']}",
                "yes" if s.get("latched") else "NO",
                "yes" if s.get("swept") else "NO",
                s.get("cancelled_count", 0),
                len(attempts),
                _short(detail or "-", 70),
            ]
        )
    out = [
        f"KILL by {body.get('actor')} - reason: {body.get('reason')} - "
        f"{body.get('elapsed_ms', 0) / 1000:.2f} s",
        table(["SWITCH", "LATCHED", "SWEPT", "CANCELLED", "SWEEPS", "DETAIL"], rows),
    ]
    if waited:
        out.append(
            f"waited for a refresher extension that was in flight at the latch on {', '.join(waited)} to "
            "time out (up to ~12 s), so that none can push a venue timer after this answer; then swept "
            "again"
        )
    out.extend(_venue_problems(body))
    out.append(("OK: " if body.get("ok") else "INCOMPLETE: ") + str(body.get("message")))
    return "\n".join(out)


def _venue_problems(body: dict[str, Any]) -> list[str]:
    return [f"venue {p['venue']}: {p['error']}" for p in body.get("venue_problems") or []]


def render_disarm(body: dict[str, Any]) -> str:
    if body.get("starts_at_ms"):
        return _render_planned(body)
    rows = [
        [
            f"{s['venue']}/{s['account']}",
            "off" if body.get("off") and s.get("mode") == "disarmed" else s.get("mode"),
            _iso(s.get("disarmed_until_ms")),
            s.get("venue_timer"),
            _short(s.get("error") or "; ".join(s.get("notes") or []) or "-", 70),
        ]
        for s in body.get("switches", [])
    ]
    head = f"{'OFF' if body.get('off') else 'DISARM'} by {body.get('actor')} for {_for(body)}"
    out = [
        f"{head} - reason: {body.get('reason')}",
        table(["SWITCH", "MODE", "UNTIL", "VENUE TIMER", "DETAIL"], rows),
    ]
    out.extend(f"note: {n}" for n in body.get("notes") or [])
    out.extend(_venue_problems(body))
    out.append(("OK: " if body.get("ok") else "INCOMPLETE: ") + str(body.get("message")))
    return "\n".join(out)


def _render_planned(body: dict[str, Any]) -> str:
    """A planned disarm or off period: nothing is off yet, and the answer must not read as if it were."""
    kind = "OFF PERIOD" if body.get("off") else "DISARM"
    rows = [
        [
            f"{s['venue']}/{s['account']}",
            s.get("mode"),
            _iso(body.get("starts_at_ms")) if s.get("scheduled") else "-",
            _iso(s.get("disarmed_until_ms")),
            _short(s.get("error") or "; ".join(s.get("notes") or []) or "-", 70),
        ]
        for s in body.get("switches", [])
    ]
    out = [
        f"PLANNED {kind} by {body.get('actor')}: from {_iso(body.get('starts_at_ms'))} for {_for(body)} "
        f"- reason: {body.get('reason')}",
        table(["SWITCH", "MODE NOW", "PLANNED FROM", "UNTIL", "DETAIL"], rows),
    ]
    out.extend(f"note: {n}" for n in body.get("notes") or [])
    out.extend(_venue_problems(body))
    out.append(("OK: " if body.get("ok") else "INCOMPLETE: ") + str(body.get("message")))
    return "\n".join(out)


def _for(body: dict[str, Any]) -> str:
    seconds = body.get("for_seconds")
    return _secs(float(seconds)) if isinstance(seconds, int | float) else "?"


def render_arm(body: dict[str, Any]) -> str:
    rows = [
        [
            f"{s['venue']}/{s['account']}",
            s.get("previous_mode"),
            s.get("mode"),
            _short(s.get("error") or s.get("protected") or "-", 70),
        ]
        for s in body.get("switches", [])
    ]
    out = [
        f"ARM by {body.get('actor')} - reason: {body.get('reason')}",
        table(["SWITCH", "WAS", "NOW", "DONE AT ONCE"], rows),
        *_venue_problems(body),
        ("OK: " if body.get("ok") else "INCOMPLETE: ") + str(body.get("message")),
    ]
    return "\n".join(out)


CLEAR_SCREEN = "\x1b[2J\x1b[H"
# A disarm this close to its end is worth a look: the switch re-arms by itself, and the trader must
# be beating by then or its orders are swept.
ATTENTION_DISARM_S = 300


def attention(body: dict[str, Any]) -> list[str]:
    """What an on-call engineer should look at now, one line each; empty when all is well."""
    out: list[str] = []
    for live in _systems_of(body):
        if not live.get("alive") and not _away_on_purpose(body, str(live.get("system"))):
            out.append(f"trader {live.get('system')} is {live.get('verdict')}: {live.get('detail')}")
    tick_s = float((body.get("timing") or {}).get("tick_s") or 10)
    for venue in body.get("venues", []):
        for s in venue.get("switches", []):
            name = f"{s['venue']}/{s['account']}"
            if s["mode"] == "killed":
                out.append(f"{name} is killed: {s.get('reason')} (by {s.get('changed_by')})")
            left = s.get("disarm_seconds_left")
            if s["mode"] == "disarmed" and left is not None and left <= ATTENTION_DISARM_S:
                kind = "off period" if s.get("off") else "disarm"
                out.append(f"{name}: the {kind} ends in {_secs(left)}; the switch re-arms by itself")
            if s.get("consecutive_errors"):
                out.append(f"{name} is failing ({s['consecutive_errors']} in a row): {s.get('last_error')}")
            if s.get("retired_at_ms") is not None:
                continue  # out of protection on purpose (MODE says retired): nothing to attend to
            age = _age(s.get("last_tick_age_s"))
            if age is None or age > 3 * tick_s:
                out.append(
                    f"{name} is not ticking: last tick {_secs(age) if age is not None else 'never'} ago"
                )
    return out


def _away_on_purpose(body: dict[str, Any], system: str) -> bool:
    """Every switch this trading system gates is in an off period (and there is one at least)."""
    own = (body.get("liveness") or {}).get("system")
    gated = [
        s
        for venue in body.get("venues", [])
        for s in venue.get("switches", [])
        if system in (s.get("systems") or [own])
    ]
    return bool(gated) and all(s.get("off") for s in gated)


def _systems_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every trading system status reports (an older API: the one `liveness`)."""
    return list(body.get("systems") or [body.get("liveness") or {}])


def render_status(body: dict[str, Any], audit: int = 3) -> str:
    timing = body.get("timing") or {}
    window = timing.get("sweep_window_s") or 0
    out = [
        f"deadman status at {_iso(body.get('at_ms'))}",
        *(
            f"trader {live.get('system')}: {str(live.get('verdict', '?')).upper()} ({live.get('detail')})"
            for live in _systems_of(body)
        ),
        f"timing: S={timing.get('max_staleness_s')}s T={timing.get('tick_s')}s G={timing.get('grace_s')}s "
        f"K={timing.get('skew_s')}s; watchdog sweeps "
        f"{'for ' + str(window) + ' s' if window else 'while death lasts'}"
        f"; longest disarm {timing.get('max_disarm_s')} s, off period {timing.get('max_off_s', 0)} s",
        "",
        table(
            ["VENUE", "TIMER", "BOUND: WATCHDOG", "BOUND: VENUE TIMER", "NOTE"],
            [
                [
                    v["venue"],
                    v["timer_kind"],
                    _secs(v["reaction_bounds"]["watchdog_s"]),
                    _secs(v["reaction_bounds"]["native_s"]),
                    v.get("note") or "-",
                ]
                for v in body.get("venues", [])
            ],
        ),
        "",
    ]
    rows = []
    switches = [s for v in body.get("venues", []) for s in v.get("switches", [])]
    for s in switches:
        if s.get("retired_at_ms") is not None:
            mode = "retired"  # out of the secret (or marked retired) and its venue timer switched off
        elif s["mode"] == "disarmed":
            kind = "OFF" if s.get("off") else "disarmed"
            mode = f"{kind} ({_secs(s.get('disarm_seconds_left'))} left)"
        else:
            mode = s["mode"]
        if s.get("scheduled_disarm_from_ms"):
            mode += f"; {'off' if s.get('scheduled_off') else 'disarm'} planned"
        if s.get("systems"):
            mode += f" [{', '.join(s['systems'])}]"  # the trading systems that gate this switch
        native = "yes" if s.get("native_available") else f"NO: {_short(s.get('native_reason'), 30)}"
        triggers = (
            "-" if s.get("trigger_budget") is None else f"{s.get('triggers_today')}/{s['trigger_budget']}"
        )
        rows.append(
            [
                f"{s['venue']}/{s['account']}",
                mode,
                _secs(s.get("deadline_seconds_left")) if s.get("deadline_ms") else "off",
                _secs(_age(s.get("last_tick_age_s"))),
                native,
                triggers,
                _short(s.get("last_sweep"), 30),
                _short(s.get("last_error"), 40),
            ]
        )
    out.append(
        table(
            ["SWITCH", "MODE", "DEADLINE IN", "TICK AGO", "NATIVE", "TRIGGERS", "LAST SWEEP", "LAST ERROR"],
            rows,
        )
    )
    problems = attention(body)
    out += ["", "ATTENTION:", *(f"  {p}" for p in problems)] if problems else ["", "all well"]
    for s in switches:
        if s["mode"] != "armed" and s.get("changed_by"):
            out.append(
                f"{s['venue']}/{s['account']}: {s['mode_detail']} - by {s['changed_by']}: {s.get('reason')}"
            )
        if s.get("scheduled_disarm_from_ms"):
            out.append(
                f"{s['venue']}/{s['account']}: planned "
                f"{'off period' if s.get('scheduled_off') else 'disarm'} "
                f"{_iso(s['scheduled_disarm_from_ms'])} to "
                f"{_iso(s.get('scheduled_disarm_until_ms'))} (`deadman arm` cancels it)"
            )
    if audit > 0:
        out.append("")
        # Newest first, as the API returns them: said, because entries of one tick share a second.
        if audit > STATUS_AUDIT_MAX:
            out.append(
                f"recent audit, newest first (asked for {audit} per switch; the status API returns at "
                f"most {STATUS_AUDIT_MAX}):"
            )
        else:
            out.append("recent audit, newest first:")
        for s in switches:
            for entry in (s.get("recent_audit") or [])[:audit]:
                # A plan recorded now is not the disarm itself: say so where the action is named.
                action = entry["action"] + (" planned" if str(entry["result"]).startswith("planned") else "")
                out.append(
                    f"  {_iso(entry['at_ms'])} {s['venue']}/{s['account']} {action} "
                    f"by {entry['actor']}: {_short(entry['result'], 60)} ({_short(entry['reason'], 50)})"
                )
    return "\n".join(out)
