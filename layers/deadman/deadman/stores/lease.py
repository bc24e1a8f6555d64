"""One tick loop per venue, and always a spare ready to take over: a DynamoDB lease with a standby.

Each Scheduler event's invocation joins the venue's lease in one of three places, or leaves:
- the **holder** ticks; it renews the lease at the start of every tick (`holder_until_ms` = now + TTL);
- the **standby** waits, polling the lease every second and refreshing its registration; when the
  holder stops renewing (a crash, a timeout, an out-of-memory kill) it takes over as soon as the
  lease has run out - within one TTL plus one poll of the holder's last renewal, well inside the
  venue timers' slack (docs/design.md, the lease);
- **queued**: a third invocation waits behind the standby. Its arrival is what moves the chain on:
  at its next tick the holder offers the lease to the standby, the standby accepts and ticks on at
  the holder's cadence, the queued one becomes the standby, and the old holder returns. So there is
  a spare whenever a loop runs, and no invocation lives much more than two scheduler periods.

A handover is an offer, not a gift: the holder writes `offer_to` = the standby and keeps the lease,
sending nothing more, until the standby takes it by a write of its own (`accept`), or the offer runs
out and is withdrawn (the holder ticks on; a standby that died is never handed the lease).

Item: `pk = LEASE#<venue>`, `sk = #`: holder, holder_until_ms; standby, standby_until_ms; queued,
queued_until_ms; offer_to, offer_until_ms, tick_at_ms. A spare's registration lasts SPARE_TTL_MS
and is refreshed every poll; one not refreshed is taken for dead and its place given to the next.
`held_until_ms` is how long this holder holds the lease for sure (its last write DynamoDB
confirmed): every request it sends must have landed by then (`policy.send_by`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from deadman.core.clock import Clock
from deadman.core.policy import SPARE_POLL_MS
from deadman.stores.attributes import checked_item

# A spare refreshes its registration at every poll (SPARE_POLL_MS, core.policy: the no-timer bound
# counts it); one not refreshed for this long is taken for dead.
SPARE_TTL_MS = 3_000
# How long the holder waits for its standby to take an offered lease before withdrawing the offer.
OFFER_MS = 2_500
OFFER_POLL_MS = 250
# Attribute names for the writes below (DynamoDB reserves some plain words).
_NAMES = {"#h": "holder", "#s": "standby", "#q": "queued", "#o": "offer_to"}
_SLOT = {"standby": "#s", "queued": "#q"}
_LAPSED = {slot: f"(attribute_not_exists({slot}_until_ms) OR {slot}_until_ms < :now)" for slot in _SLOT}


class Role(StrEnum):
    LOOP = "loop"
    SPARE = "spare"  # standby or queued: waits for its turn
    LEAVE = "leave"


class Renewal(StrEnum):
    KEEP = "keep"  # still the holder: tick
    LOST = "lost"  # the lease ran out and someone else holds it: return without ticking


@dataclass(frozen=True)
class LeaseView:
    """The lease item as one answer showed it, at `now`."""

    now: int
    item: dict[str, Any]

    def text(self, name: str) -> str | None:
        value = self.item.get(name, {}).get("S")
        return value if isinstance(value, str) else None

    def _ms(self, name: str) -> int:
        value = self.item.get(name, {}).get("N")
        return int(value) if isinstance(value, str) else 0

    @property
    def holder(self) -> str | None:
        return self.text("holder")

    @property
    def holder_lapsed(self) -> bool:
        return self.holder is None or self._ms("holder_until_ms") < self.now

    @property
    def standby(self) -> str | None:
        """The standby, if its registration is fresh."""
        name = self.text("standby")
        return name if name is not None and self._ms("standby_until_ms") >= self.now else None

    @property
    def queued(self) -> str | None:
        name = self.text("queued")
        return name if name is not None and self._ms("queued_until_ms") >= self.now else None

    @property
    def offer_to(self) -> str | None:
        name = self.text("offer_to")
        return name if name is not None and self._ms("offer_until_ms") >= self.now else None

    @property
    def tick_at_ms(self) -> int | None:
        return self._ms("tick_at_ms") or None

    def raw(self, name: str) -> Any:
        return self.item.get(name)


class Lease:
    def __init__(
        self, table_name: str, venue: str, owner: str, *, clock: Clock, ttl_ms: int, client: Any = None
    ) -> None:
        if client is None:
            from deadman.stores.dynamo import dynamodb_client

            client = dynamodb_client()
        self._client = client
        self._table = table_name
        self._key = {"pk": {"S": f"LEASE#{venue}"}, "sk": {"S": "#"}}
        self.owner = owner
        self._clock = clock
        self._ttl_ms = ttl_ms
        self.held_until_ms: int | None = None
        self.tick_at_ms: int | None = None  # set when a handover gives this spare the lease
        self.last: LeaseView | None = None  # the item as the last answer showed it
        self.store_errors = 0

    # -- the writes -----------------------------------------------------------------------------

    def _values(self) -> dict[str, Any]:
        now = self._clock()
        return {
            ":me": {"S": self.owner},
            ":now": {"N": str(now)},
            ":until": {"N": str(now + self._ttl_ms)},
            ":soon": {"N": str(now + SPARE_TTL_MS)},
        }

    def _update(
        self,
        expression: str,
        condition: str,
        values: dict[str, Any] | None = None,
        *,
        remove: str = "",
    ) -> LeaseView | None:
        """One conditional write; the item after it (its view), or None when the condition failed
        (and `self.last` is then the item as it stood)."""
        values = values or self._values()
        text = expression + (f" REMOVE {remove}" if remove else "")
        used = text + " " + condition
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key=self._key,
                UpdateExpression=text,
                ConditionExpression=condition,
                ExpressionAttributeNames={k: v for k, v in _NAMES.items() if k in used},
                # DynamoDB refuses attribute values an expression does not use.
                ExpressionAttributeValues={k: v for k, v in values.items() if k in used},
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            stood = checked_item(exc.response.get("Item"), self._key, operation="UpdateItem")
            self.last = LeaseView(int(values[":now"]["N"]), stood or {})
            # The item as DynamoDB checked it is as sure as a write it confirmed: a take whose answer
            # was lost is learnt here, with how long it holds.
            self._held_from(self.last)
            return None
        after = checked_item(answer.get("Attributes"), self._key, operation="UpdateItem", required=True)
        view = LeaseView(int(values[":now"]["N"]), after or {})
        self.last = view
        self._held_from(view)
        return view

    def _held_from(self, view: LeaseView) -> None:
        if view.holder == self.owner and "holder_until_ms" in view.item:
            self.held_until_ms = int(view.item["holder_until_ms"]["N"])

    def read(self) -> LeaseView:
        answer = self._client.get_item(TableName=self._table, Key=self._key, ConsistentRead=True)
        item = checked_item(answer.get("Item"), self._key, operation="GetItem")
        self.last = LeaseView(self._clock(), item or {})
        return self.last

    # -- joining ------------------------------------------------------------------------------

    def join(self) -> Role:
        """Take a lease nobody holds; else wait as the standby, or queued behind it; else leave."""
        if self._update(
            "SET #h = :me, holder_until_ms = :until",
            "attribute_not_exists(#h) OR holder_until_ms < :now OR #h = :me",
            remove="#o, offer_until_ms, tick_at_ms",
        ):
            return Role.LOOP
        if self._update(
            "SET #s = :me, standby_until_ms = :soon",
            "attribute_not_exists(#s) OR standby_until_ms < :now",
        ):
            return Role.SPARE
        if self._update(
            "SET #q = :me, queued_until_ms = :soon",
            "attribute_not_exists(#q) OR queued_until_ms < :now",
        ):
            return Role.SPARE
        return Role.LEAVE

    # -- as a spare ---------------------------------------------------------------------------------

    def wait_turn(self, *, sleep: Callable[[float], None], must_leave: Callable[[], bool]) -> bool:
        """As standby or queued: poll every second until this invocation holds the lease (offered and
        accepted, or taken from a holder that stopped renewing), or must leave (its own Lambda time is
        running out, or its place was taken). Store errors are ridden out: a registration this
        invocation cannot keep fresh lapses by itself, and the next spare takes its place."""
        while not must_leave():
            try:
                outcome = self.poll()
            except Exception:
                self.store_errors += 1
                outcome = None
            if outcome is not None:
                return outcome
            sleep(SPARE_POLL_MS / 1000)
        self._unregister()
        return False

    def poll(self) -> bool | None:
        """One write that refreshes this spare's registration and answers the item either way.
        True: ours now. False: our place is gone. None: keep waiting."""
        slot = self._slot_in(self.last) or "standby"
        view = self._update(f"SET {slot}_until_ms = :soon", f"{_SLOT[slot]} = :me")
        if view is None:  # not in that place (any more): the item as it stands says where we are
            view = self.last
            assert view is not None
            if self._slot_in(view) is None:
                return view.holder == self.owner
        slot = self._slot_in(view) or slot
        if slot == "standby" and view.offer_to == self.owner:
            return self._take(view, "#o = :me AND offer_until_ms >= :now")
        if slot == "standby" and view.holder_lapsed:
            return self._take(view, "#s = :me AND holder_until_ms < :now")
        if slot == "queued" and view.standby is None:
            if view.holder_lapsed:
                return self._take(view, f"#q = :me AND holder_until_ms < :now AND {_LAPSED['standby']}")
            self._update(
                "SET #s = :me, standby_until_ms = :soon",
                f"#q = :me AND (attribute_not_exists(#s) OR {_LAPSED['standby']})",
                remove="#q, queued_until_ms",
            )
        return None

    def _slot_in(self, view: LeaseView | None) -> str | None:
        if view is None:
            return None
        for slot in ("standby", "queued"):
            if view.text(slot) == self.owner:
                return slot
        return None

    def _take(self, view: LeaseView, condition: str) -> bool | None:
        """Become the holder (an offer accepted, or a lapsed lease taken), moving whoever is queued
        into the standby's place when the standby is the one taking it. None: not taken this time."""
        values = self._values()
        also, remove = "", "#q, queued_until_ms"
        if self._slot_in(view) == "standby":
            queued, until = view.raw("queued"), view.raw("queued_until_ms")
            if queued is not None and until is not None:
                also = ", #s = :q, standby_until_ms = :qu"
                condition += " AND #q = :q"
                values.update({":q": queued, ":qu": until})
            else:
                remove = "#s, standby_until_ms"
        taken = self._update(
            "SET #h = :me, holder_until_ms = :until" + also,
            condition,
            values,
            remove=f"#o, offer_until_ms, tick_at_ms, {remove}",
        )
        if taken is None:
            return None
        # Handed over: tick at the old holder's cadence; taken from a crashed one: at once.
        self.tick_at_ms = view.tick_at_ms if view.offer_to == self.owner else None
        return True

    def _unregister(self) -> None:
        for slot, name in (("standby", "#s"), ("queued", "#q")):
            try:
                if self._update(
                    f"SET {slot}_until_ms = :zero", f"{name} = :me", {**self._values(), ":zero": {"N": "0"}}
                ):
                    return
            except Exception:
                self.store_errors += 1  # it lapses by itself within SPARE_TTL_MS

    # -- as the holder ----------------------------------------------------------------------------

    def renew(self) -> Renewal:
        """After a tick: keep holding the lease. Raises on a store error: the lease is still ours until
        `held_until_ms`, unless an offer was taken meanwhile (renewing again tells which)."""
        if self._update("SET holder_until_ms = :until", "#h = :me") is not None:
            return Renewal.KEEP
        self.held_until_ms = None
        return Renewal.LOST

    @property
    def spare_ready(self) -> bool:
        """The last answer showed a fresh standby."""
        return self.last is not None and self.last.standby is not None

    @property
    def queue_ready(self) -> bool:
        """The last answer showed a spare queued behind the standby: time to move the chain on."""
        return self.last is not None and self.last.queued is not None

    def hand_over(self, *, tick_at_ms: int, sleep: Callable[[float], None]) -> bool:
        """Offer the lease to the standby and wait for it to take it (True: return now, it ticks next
        at `tick_at_ms`). False: not taken within OFFER_MS, offer withdrawn, the lease is still ours."""
        last = self.last
        standby = last.standby if last is not None else None
        if standby is None:
            return False
        now = self._clock()
        values = {
            **self._values(),
            ":s": {"S": standby},
            ":ou": {"N": str(now + OFFER_MS)},
            ":t": {"N": str(tick_at_ms)},
        }
        try:
            offered = self._update(
                "SET #o = :s, offer_until_ms = :ou, tick_at_ms = :t",
                "#h = :me AND #s = :s AND standby_until_ms >= :now",
                values,
            )
        except Exception:
            # Offered or not, the loop ticks on: if the standby took it, the renewal at the next
            # tick's start is refused and the loop returns then (the conditional writes decide).
            self.store_errors += 1
            return False
        if offered is None:
            return False
        give_up = now + OFFER_MS
        while self._clock() < give_up:
            sleep(OFFER_POLL_MS / 1000)
            try:
                if self.read().holder != self.owner:
                    self.held_until_ms = None
                    return True
            except Exception:
                self.store_errors += 1
        try:
            withdrawn = self._update(
                "SET holder_until_ms = :until",
                "#h = :me AND #o = :s",
                values,
                remove="#o, offer_until_ms, tick_at_ms",
            )
        except Exception:
            self.store_errors += 1
            return False  # as above: the next renewal says whose it is
        if withdrawn is not None:
            return False
        # Not withdrawn: taken after all, or the answer said otherwise; the item tells.
        taken = self.last is not None and self.last.holder != self.owner
        if taken:
            self.held_until_ms = None
        return taken

    def release(self) -> None:
        """Leaving with no standby to hand to: let the next invocation take over at once."""
        self.held_until_ms = None
        self._update("SET holder_until_ms = :zero", "#h = :me", {**self._values(), ":zero": {"N": "0"}})
        self.held_until_ms = None
