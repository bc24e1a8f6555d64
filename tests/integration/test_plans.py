"""Several planned windows per switch, end to end in the sandbox (local API, moto, the real handlers):
none replaced or cancelled without being asked, shown and audited when it is, and the tick that
opens one keeps the others."""

from __future__ import annotations

import time
from typing import Any

import pytest

from deadman.app.notify import notifications
from deadman.stores.switches import SwitchStore
from sandbox.local_api import LocalApi
from sandbox.stack import CONTROL_TABLE, Stack
from tests.integration.test_control import api, audit, call, stack, table_items

__all__ = ["api", "stack"]  # fixtures
pytestmark = pytest.mark.integration
HOUR = 3_600_000


def plan(start_ms: int, seconds: int = 1800, **more: Any) -> dict[str, Any]:
    return {
        "reason": "kraken maintenance",
        "for_seconds": seconds,
        "starts_at_ms": start_ms,
        "venues": ["kraken"],
        **more,
    }


def plans_of(venue: str = "kraken", account: str = "main") -> list[str]:
    return [p.id for p in SwitchStore(CONTROL_TABLE).get(venue, account).plans]


def test_a_second_plan_is_kept_beside_the_first_and_status_lists_both(stack: Stack, api: LocalApi) -> None:
    now = int(time.time() * 1000)
    status, first = call(api, "POST", "/disarm", plan(now + HOUR))
    assert status == 200 and first["plan_id"].startswith("p-"), first
    status, second = call(api, "POST", "/disarm", plan(now + 3 * HOUR, timer_off=True))
    assert status == 200, second
    assert plans_of() == [first["plan_id"], second["plan_id"]]  # earliest first

    _, body = call(api, "GET", "/status")
    kraken = next(s for v in body["venues"] for s in v["switches"] if s["venue"] == "kraken")
    assert [p["id"] for p in kraken["plans"]] == [first["plan_id"], second["plan_id"]]
    assert kraken["plans"][1]["timer_off"] is True and kraken["mode"] == "armed"
    assert kraken["scheduled_disarm_from_ms"] == now + HOUR  # the earliest, as before


def test_an_overlapping_plan_is_refused_naming_the_one_it_overlaps(stack: Stack, api: LocalApi) -> None:
    now = int(time.time() * 1000)
    _, first = call(api, "POST", "/disarm", plan(now + HOUR))
    before = table_items()
    status, body = call(api, "POST", "/disarm", plan(now + HOUR + 600_000))
    assert status == 409, body
    assert first["plan_id"] in body["message"] and "Nothing was changed" in body["message"]
    after = [i for i in table_items() if not i["pk"]["S"].startswith("AUDIT")]
    assert after == [i for i in before if not i["pk"]["S"].startswith("AUDIT")]
    assert audit("kraken", "main")[0]["result"].startswith("refused: overlaps the planned window")


def test_replacing_a_plan_is_explicit_audited_and_notified(stack: Stack, api: LocalApi) -> None:
    now = int(time.time() * 1000)
    _, first = call(api, "POST", "/disarm", plan(now + HOUR))
    status, second = call(api, "POST", "/disarm", plan(now + HOUR + 600_000, replaces=first["plan_id"]))
    assert status == 200 and second["replaced"] == first["plan_id"], second
    assert plans_of() == [second["plan_id"]]
    entries = audit("kraken", "main")
    replaced = next(e for e in entries if e["action"] == "plan-replace")
    assert replaced["details"]["id"] == first["plan_id"] and second["plan_id"] in replaced["result"]
    subjects = [n.subject for n in notifications([{**replaced, "pk": "AUDIT#kraken#main"}])]
    assert subjects and "PLANNED DISARM REPLACED" in subjects[0]

    # Replacing a plan that is not there changes nothing.
    status, body = call(api, "POST", "/disarm", plan(now + 5 * HOUR, replaces="p-00000000"))
    assert status == 409 and "no planned window p-00000000" in body["message"], body
    assert plans_of() == [second["plan_id"]]


def test_arm_keeps_the_plans_ahead_says_so_and_cancels_one_only_when_asked(
    stack: Stack, api: LocalApi
) -> None:
    now = int(time.time() * 1000)
    _, first = call(api, "POST", "/disarm", plan(now + HOUR))
    _, second = call(api, "POST", "/disarm", plan(now + 3 * HOUR))
    assert call(api, "POST", "/disarm", {"reason": "drill", "for_seconds": 60, "venues": ["kraken"]})[0] in (
        200,
        207,
    )

    status, armed = call(api, "POST", "/arm", {"reason": "back", "venues": ["kraken"]})
    assert status == 200, armed
    line = armed["switches"][0]
    assert line["mode"] == "armed" and [p["id"] for p in line["plans_kept"]] == [
        first["plan_id"],
        second["plan_id"],
    ]
    assert "planned windows still ahead" in armed["message"] and line["plans_cancelled"] == []

    status, cancelled = call(
        api,
        "POST",
        "/arm",
        {"reason": "maintenance called off", "venues": ["kraken"], "cancel_plans": [first["plan_id"]]},
    )
    assert status == 200, cancelled
    line = cancelled["switches"][0]
    assert [p["id"] for p in line["plans_cancelled"]] == [first["plan_id"]]
    assert plans_of() == [second["plan_id"]]
    entry = next(e for e in audit("kraken", "main") if e["action"] == "plan-cancel")
    assert entry["details"]["id"] == first["plan_id"] and entry["reason"] == "maintenance called off"

    # An id on no switch never holds an arm back: named in a 207, the rest done.
    status, body = call(
        api, "POST", "/arm", {"reason": "x", "venues": ["kraken"], "cancel_plans": ["p-00000000", "all"]}
    )
    assert status == 207 and "NOT cancelled: no planned window p-00000000" in body["message"], body
    assert plans_of() == []


def test_arm_ends_a_window_already_due_on_a_killed_switch(stack: Stack, api: LocalApi) -> None:
    """A window whose start passed while the switch was killed must not disarm it after the arm."""
    now = int(time.time() * 1000)
    _, ahead = call(api, "POST", "/disarm", plan(now + HOUR))
    _, soon = call(api, "POST", "/disarm", plan(now + 1_500, seconds=600))
    assert call(api, "POST", "/kill", {"reason": "incident", "venues": ["kraken"]})[0] == 200
    time.sleep(2.0)
    status, armed = call(api, "POST", "/arm", {"reason": "over", "venues": ["kraken"]})
    assert status == 200, armed
    line = armed["switches"][0]
    assert [p["id"] for p in line["plans_cancelled"]] == [soon["plan_id"]]
    assert [p["id"] for p in line["plans_kept"]] == [ahead["plan_id"]]
    switch = SwitchStore(CONTROL_TABLE).get("kraken", "main")
    assert switch.mode.value == "armed" and [p.id for p in switch.plans] == [ahead["plan_id"]]
    entry = next(e for e in audit("kraken", "main") if e["action"] == "plan-cancel")
    assert entry["result"] == "ended by the arm (already due)"
