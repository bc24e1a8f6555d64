"""`deadman status`: every switch, the bounds, what needs attention now, and the recent audit."""

from __future__ import annotations

from typing import Any

from deadman.core.policy import NO_NATIVE_TIMER
from deadman.edges.cli.common import STATUS_AUDIT_MAX
from deadman.edges.cli.fmt import age, iso, secs, short, table
from deadman.edges.cli.render import plan_text

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
                out.append(f"{name}: the {kind} ends in {secs(left)}; the switch re-arms by itself")
            if s.get("consecutive_errors"):
                out.append(f"{name} is failing ({s['consecutive_errors']} in a row): {s.get('last_error')}")
            if s.get("retired_at_ms") is not None:
                continue  # out of protection on purpose (MODE says retired): nothing to attend to
            ago = age(s.get("last_tick_age_s"))
            if ago is None or ago > 3 * tick_s:
                out.append(
                    f"{name} is not ticking: last tick {secs(ago) if ago is not None else 'never'} ago"
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


def _plans_of(switch: dict[str, Any]) -> list[dict[str, Any]]:
    """Every planned window of a switch; an API from before several plans gave the earliest alone."""
    if switch.get("plans"):
        return list(switch["plans"])
    if switch.get("scheduled_disarm_from_ms"):
        return [
            {
                "id": "?",
                "from_ms": switch["scheduled_disarm_from_ms"],
                "until_ms": switch.get("scheduled_disarm_until_ms"),
                "off": switch.get("scheduled_off"),
            }
        ]
    return []


def render_status(body: dict[str, Any], audit: int = 3) -> str:
    timing = body.get("timing") or {}
    window = timing.get("sweep_window_s") or 0
    out = [
        f"deadman status at {iso(body.get('at_ms'))}",
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
                    secs(v["reaction_bounds"]["watchdog_s"]),
                    NO_NATIVE_TIMER
                    if v["reaction_bounds"].get("native_s") is None
                    else secs(v["reaction_bounds"]["native_s"]),
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
            mode = f"{kind} ({secs(s.get('disarm_seconds_left'))} left)"
        else:
            mode = s["mode"]
        plans = _plans_of(s)
        if plans:
            kinds = {"off" if p.get("off") else "disarm" for p in plans}
            mode += f"; {len(plans)} {'/'.join(sorted(kinds))} planned"
        if s.get("systems"):
            mode += f" [{', '.join(s['systems'])}]"  # the trading systems that gate this switch
        native = "yes" if s.get("native_available") else f"NO: {short(s.get('native_reason'), 30)}"
        triggers = (
            "-" if s.get("trigger_budget") is None else f"{s.get('triggers_today')}/{s['trigger_budget']}"
        )
        rows.append(
            [
                f"{s['venue']}/{s['account']}",
                mode,
                secs(s.get("deadline_seconds_left")) if s.get("deadline_ms") else "off",
                secs(age(s.get("last_tick_age_s"))),
                native,
                triggers,
                short(s.get("last_sweep"), 30),
                short(s.get("last_error"), 40),
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
        for plan in _plans_of(s):
            out.append(
                f"{s['venue']}/{s['account']}: planned {plan_text(plan)} "
                f"(`deadman arm --cancel-plan {plan.get('id')}` cancels it)"
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
                    f"  {iso(entry['at_ms'])} {s['venue']}/{s['account']} {action} "
                    f"by {entry['actor']}: {short(entry['result'], 60)} ({short(entry['reason'], 50)})"
                )
    return "\n".join(out)
