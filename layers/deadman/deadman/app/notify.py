"""Alerts that say what happened: one SNS message per audit entry that matters to a human.

Every state change is already an audit entry in the ControlTable (who, why, result, details), so
the notifier reads the table's stream rather than being called from the tick or the control
functions: nothing on the path that extends or sweeps waits for SNS, and nothing audited is missed.
Each message carries a readable text (e-mail, SMS) and the entry as JSON (queues, functions,
webhooks). Stored text reaches inboxes and terminals: control characters are escaped.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from deadman.core.text import printable

# Audit actions worth a message, and how a human would name them.
NOTIFIED = {
    "kill": "KILL",
    "disarm": "DISARM",
    "off": "OFF (trader away on purpose)",
    "arm": "ARM",
    "auto-arm": "AUTO-ARM (disarm ended)",
    "scheduled-disarm": "DISARM (planned window began)",
    "scheduled-disarm-missed": "PLANNED DISARM MISSED (its window ended unseen)",
    "plan-replace": "PLANNED DISARM REPLACED",
    "plan-cancel": "PLANNED DISARM CANCELLED",
    "fired": "TRADER DEAD",
    "recovered": "TRADER ALIVE AGAIN",
    "venue-timer-fired": "VENUE TIMER FIRED",
}
SUBJECT_MAX = 100  # SNS: at most 100 printable ASCII characters


def _clean(text: Any) -> str:
    return printable(str(text))


@dataclass(frozen=True)
class Notification:
    subject: str
    text: str
    data: dict[str, Any]

    def message(self) -> str:
        """SNS MessageStructure=json: the text for people, the JSON for machines."""
        data = json.dumps(self.data, sort_keys=True)
        return json.dumps(
            {
                "default": self.text,
                "email": self.text,
                "sms": self.subject,
                "sqs": data,
                "lambda": data,
                "http": data,
                "https": data,
            }
        )


def notifications(entries: list[dict[str, Any]], *, stack: str = "deadman") -> list[Notification]:
    """The messages for a batch of audit entries (plain Python values): one per action, actor and
    reason, naming every switch it touched (a kill of five switches is one message, not five)."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for entry in entries:
        action = str(entry.get("action", ""))
        if action in NOTIFIED:
            key = (action, str(entry.get("actor", "")), str(entry.get("reason", "")))
            groups.setdefault(key, []).append(entry)
    return [_notification(action, group, stack) for (action, _, _), group in groups.items()]


def _qualified(title: str, results: list[str]) -> str:
    """A plan is not the disarm itself, and a refusal changed nothing: the title says which, so an
    alert never reads as if a planned or refused disarm were in force."""
    if results and all(r.startswith("planned") for r in results):
        return f"PLANNED {title}"
    if results and all(r.startswith("refused") for r in results):
        return f"{title} REFUSED"
    return title


def _notification(action: str, group: list[dict[str, Any]], stack: str) -> Notification:
    title = _qualified(NOTIFIED[action], [str(entry.get("result", "")) for entry in group])
    switches: list[dict[str, Any]] = []
    for entry in group:
        _, venue, account = [*str(entry.get("pk", "")).split("#", 2), "", ""][:3]
        details = entry.get("details") or "{}"
        try:
            details_obj = json.loads(details) if isinstance(details, str) else dict(details)
        except ValueError:
            details_obj = {"raw": _clean(details)}
        switches.append(
            {
                "venue": venue,
                "account": account,
                "at_ms": int(entry.get("at_ms", 0)),
                "result": _clean(entry.get("result", "")),
                "details": details_obj,
            }
        )
    first = group[0]
    at_ms = min(int(s["at_ms"]) for s in switches)
    data = {
        "stack": stack,
        "event": action,
        "at_ms": at_ms,
        "actor": _clean(first.get("actor", "")),
        "reason": _clean(first.get("reason", "")),
        "switches": switches,
    }
    names = [f"{s['venue']}/{s['account']}" for s in switches]
    results = {s["result"] for s in switches}
    summary = results.pop() if len(results) == 1 else "results differ"
    subject = f"[{stack}] {title} {', '.join(names)}: {summary}"
    subject = "".join(c if " " <= c <= "~" else "?" for c in subject)
    if len(subject) > SUBJECT_MAX:
        subject = subject[: SUBJECT_MAX - 3] + "..."
    when = dt.datetime.fromtimestamp(at_ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [
        f"{title} at {when}",
        f"by:  {data['actor']}",
        f"why: {data['reason']}",
        "",
    ]
    lines += [f"{name}: {s['result']}" for name, s in zip(names, switches, strict=True)]
    lines += ["", "`deadman status` shows every switch now."]
    return Notification(subject=subject, text="\n".join(lines), data=data)


def publish(sns: Any, topic_arn: str, note: Notification) -> None:
    sns.publish(TopicArn=topic_arn, Subject=note.subject, Message=note.message(), MessageStructure="json")
