"""Plans as the switch item stores them: a round trip through DynamoDB's attribute values, a switch
written before several plans per switch (its one plan kept), and a damaged plan refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from deadman.core.plans import Plan, plan_from_item, plan_id
from deadman.stores.attributes import from_item, to_attribute
from deadman.stores.switches import Switch, switch_from_item

A = Plan(id="p-0000000a", from_ms=1_800_000_000_000, until_ms=1_800_000_900_000, by="alice", reason="maint")
B = Plan(
    id="p-0000000b",
    from_ms=1_800_003_600_000,
    until_ms=1_800_004_000_000,
    by="bob",
    reason="x",
    timer_off=True,
)


def stored(switch: Switch) -> dict[str, object]:
    """The item as the store writes it, read back as the store reads it."""
    item = {k: to_attribute(v) for k, v in switch.to_dict().items() if v is not None}
    return from_item(item)


def test_plans_survive_the_round_trip_in_order() -> None:
    switch = Switch(venue="kraken", account="main", plans=(A, B))
    assert switch_from_item(stored(switch)) == switch
    assert "plans" not in stored(Switch(venue="kraken", account="main"))  # none: nothing written


def test_a_switch_written_before_several_plans_keeps_its_one_plan() -> None:
    legacy = {
        "venue": "kraken",
        "account": "main",
        "mode": "armed",
        "version": Decimal(7),
        "scheduled_from_ms": Decimal(A.from_ms),
        "scheduled_until_ms": Decimal(A.until_ms),
        "scheduled_by": "alice",
        "scheduled_reason": "maint",
        "scheduled_off": False,
        "scheduled_timer_off": True,
    }
    switch = switch_from_item(legacy)
    (plan,) = switch.plans
    assert (plan.from_ms, plan.until_ms, plan.by, plan.reason, plan.timer_off) == (
        A.from_ms,
        A.until_ms,
        "alice",
        "maint",
        True,
    )
    assert plan.id == plan_id(A.from_ms, A.until_ms, "alice", 0)
    # Its next write stores the plan anew, and the old fields are gone (the write replaces the item).
    rewritten = stored(switch)
    assert "scheduled_from_ms" not in rewritten and switch_from_item(rewritten).plans == (plan,)


@pytest.mark.parametrize(
    "damaged",
    [
        {"id": "p-1", "from_ms": Decimal("1.5"), "until_ms": Decimal(2)},
        {"id": "p-1", "until_ms": Decimal(2)},
        {"id": "p-1", "from_ms": True, "until_ms": Decimal(2)},
    ],
)
def test_a_damaged_plan_is_refused_not_guessed(damaged: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="malformed"):
        plan_from_item(damaged)


def test_one_request_names_its_plan_the_same_on_every_switch_and_a_new_request_anew() -> None:
    assert plan_id(1, 2, "alice", 10) == plan_id(1, 2, "alice", 10)
    assert plan_id(1, 2, "alice", 10) != plan_id(1, 2, "alice", 11)
