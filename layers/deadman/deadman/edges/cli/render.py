"""What the operator reads after a kill, a disarm or an arm: the API's answers as tables and lines.
(`deadman status` is drawn by `deadman.edges.cli.status_view`.)"""

from __future__ import annotations

from typing import Any

from deadman.edges.cli.fmt import iso, json_text, sanitised, secs, short, table

__all__ = ["json_text", "sanitised"]


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
                short(detail or "-", 70),
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
            iso(s.get("disarmed_until_ms")),
            s.get("venue_timer"),
            short(s.get("error") or "; ".join(s.get("notes") or []) or "-", 70),
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
            iso(body.get("starts_at_ms")) if s.get("scheduled") else "-",
            iso(s.get("disarmed_until_ms")),
            short(s.get("error") or "; ".join(s.get("notes") or []) or "-", 70),
        ]
        for s in body.get("switches", [])
    ]
    replaced = f", replacing {body['replaced']}" if body.get("replaced") else ""
    out = [
        f"PLANNED {kind}{' ' + body['plan_id'] if body.get('plan_id') else ''} by {body.get('actor')}: from "
        f"{iso(body.get('starts_at_ms'))} for {_for(body)}{replaced} - reason: {body.get('reason')}",
        table(["SWITCH", "MODE NOW", "PLANNED FROM", "UNTIL", "DETAIL"], rows),
    ]
    out.extend(f"note: {n}" for n in body.get("notes") or [])
    out.extend(_venue_problems(body))
    out.append(("OK: " if body.get("ok") else "INCOMPLETE: ") + str(body.get("message")))
    return "\n".join(out)


def _for(body: dict[str, Any]) -> str:
    seconds = body.get("for_seconds")
    return secs(float(seconds)) if isinstance(seconds, int | float) else "?"


def render_arm(body: dict[str, Any]) -> str:
    rows = [
        [
            f"{s['venue']}/{s['account']}",
            s.get("previous_mode"),
            s.get("mode"),
            short(s.get("error") or s.get("protected") or "-", 70),
        ]
        for s in body.get("switches", [])
    ]
    out = [
        f"ARM by {body.get('actor')} - reason: {body.get('reason')}",
        table(["SWITCH", "WAS", "NOW", "DONE AT ONCE"], rows),
        *_plans_after_arm(body),
        *_venue_problems(body),
        ("OK: " if body.get("ok") else "INCOMPLETE: ") + str(body.get("message")),
    ]
    return "\n".join(out)


def _plans_after_arm(body: dict[str, Any]) -> list[str]:
    """Every plan an arm cancelled, and every one it kept: a kept plan will disarm the switch later,
    a cancelled one will not, and the operator must see both."""
    out = []
    for s in body.get("switches", []):
        name = f"{s['venue']}/{s['account']}"
        out += [f"{name}: planned window CANCELLED {plan_text(p)}" for p in s.get("plans_cancelled") or []]
        out += [f"{name}: planned window KEPT {plan_text(p)}" for p in s.get("plans_kept") or []]
    if any(s.get("plans_kept") for s in body.get("switches", [])):
        out.append("each kept window will disarm its switch; `deadman arm --cancel-plan ID` cancels one")
    return out


def plan_text(plan: dict[str, Any]) -> str:
    kind = "off period" if plan.get("off") else "disarm"
    timer = ", venue timer off" if plan.get("timer_off") else ""
    return (
        f"{plan.get('id')}: {kind} {iso(plan.get('from_ms'))} to {iso(plan.get('until_ms'))}{timer} "
        f"(by {plan.get('by')}: {short(plan.get('reason'), 50)})"
    )
