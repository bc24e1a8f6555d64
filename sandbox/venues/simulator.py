"""The one interface every venue simulator implements (`Simulator`), so that the sandbox stack, the
toy trader, the bench server and the fault campaign drive any venue the same way: provision its
accounts, rest and read orders, read its timer, switch its faults. Which simulators exist is
`sandbox.venues.registry.SIMULATORS`'s word.

A simulator keeps its venue's exact semantics; what callers must know of them without asking the
venue (which faults it has, whose orders a key holds, what its timer does) is said once, in its
`Rules`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, Self

from sandbox.venues.common import SimServer

# The venue faults every simulator can be switched into (`SimServer.faults`).
COMMON_FAULTS = frozenset({"venue_5xx", "venue_429", "venue_maintenance"})


class Nonces(Protocol):
    """A shared nonce source (`deadman.stores.nonces.DynamoNonceSource`): the next nonce under a
    key id, at least `floor`."""

    def next(self, key: str, floor: int) -> int: ...


@dataclass(frozen=True)
class Rules:
    """What a campaign must know of a venue's own rules to draw its scenarios and judge its runs."""

    # The venue faults it can be switched into (`Simulator.set_fault`): a scenario draws only these.
    faults: frozenset[str]
    # The fault that makes an extension land late there: a relative timeout on a slow network
    # (venue_latency), an absolute time sent late (venue_late), a heartbeat after slow reads (ddb_slow).
    late_extension_fault: str
    # Orders belong to the key (session) that placed them, not to the account: a rotated-out key
    # keeps its orders, and they go by the venue's rule once nothing calls on that key.
    orders_on_keys: bool = False
    # The timer can be switched off; if not, it can only be fed, and runs out once nothing feeds it.
    timer_switches_off: bool = True
    # Every authenticated call on a key restarts its timer for this long (a sweep on the trading
    # key too); None: only the timer's own call moves it.
    calls_restart_timer_ms: int | None = None
    # Faults after which the venue's own rule cancels orders with a timer armed, whatever the fleet
    # does (an engine's return from downtime).
    cancels_on_its_own: frozenset[str] = frozenset()
    # The shortest tick at which the venue's rate limit on its timer call leaves room for a control's
    # own call (OKX: one a second per scope, so a 1 s tick takes every slot). The sandbox, whose tick
    # is compressed to 1 s, runs only the venues that allow it; the campaign runs production timing.
    min_tick_s: float = 0.0
    # The cancel-all's answer names what it cancelled. Not so (Binance: "The operation of cancel all
    # open order is done."), the sweep's record counts the orders listed just before it, and an order
    # placed between that listing and the cancel is cancelled but not counted.
    cancel_all_names_orders: bool = True
    # The venue has a timer the fleet holds (extends, may switch off). Not so (TimerKind.NONE: its own
    # switch drops with a WebSocket), nothing but the watchdog and the kill takes a dead trader's book.
    has_timer: bool = True


@dataclass(frozen=True)
class AccountSpec:
    """An account to provision: its id in the venue secret, and what its credentials are like."""

    account: str
    kill_key: bool = False  # credentials of its own for kills
    below_gate: bool = False  # under the venue's volume gate for good, where it has one
    nonce_mode: str = "increasing"  # where the venue's keys have one ("time" or "increasing")


class Simulator(SimServer, ABC):
    """A venue simulator behind one interface. Account names are the venue secret's `account_id`s;
    order ids are strings; times are the simulator's clock (epoch ms)."""

    RULES: ClassVar[Rules]
    # The accounts the sandbox stack provisions on this venue (the demo's, the tests').
    SANDBOX_ACCOUNTS: ClassVar[tuple[AccountSpec, ...]]

    def __init__(self, clock: Callable[[], int] | None = None) -> None:
        super().__init__(clock)
        # (fire time ms, account or holder, orders cancelled): every timer that fired.
        self.fires: list[tuple[int, str, int]] = []
        self._forget_provisioned()

    def _forget_provisioned(self) -> None:
        # What `provision` made: each account's spec, its current generation of credentials, and the
        # key ids of every generation, in the order they were registered.
        self.provisioned: dict[str, AccountSpec] = {}
        self.generation: dict[str, int] = {}
        self._granted: dict[str, list[tuple[int, str]]] = {}

    # -- what it is ---------------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def create(cls, clock: Callable[[], int] | None = None) -> Self:
        """The simulator as the sandbox and the campaign run it (on `clock`, real time by default)."""

    @classmethod
    def supports(cls, fault: str) -> bool:
        """The venue has this fault (`set_fault` can switch it)."""
        return fault in cls.RULES.faults

    # -- accounts -----------------------------------------------------------------------------------
    def provision(self, spec: AccountSpec) -> dict[str, Any]:
        """Register the account's credentials (generation 0) and return its venue-secret entry,
        without `base_url` (kill credentials under `kill` when asked for)."""
        self.provisioned[spec.account] = spec
        return self._provisioned_generation(spec.account, 0)

    def rotate_keys(self, account: str) -> dict[str, Any]:
        """New credentials for the account (the next generation; the old ones keep working until
        `delete_old_keys`), and its secret entry now (with the old key as `retiring` where orders
        rest on keys)."""
        return self._provisioned_generation(account, self.generation[account] + 1)

    def _provisioned_generation(self, account: str, generation: int) -> dict[str, Any]:
        entry, keys = self._grant(self.provisioned[account], generation)
        self.generation[account] = generation
        self._granted.setdefault(account, []).extend((generation, key) for key in keys)
        return entry

    @abstractmethod
    def _grant(self, spec: AccountSpec, generation: int) -> tuple[dict[str, Any], list[str]]:
        """Register one generation of the account's credentials: its secret entry, and the ids of
        the keys registered (those `delete_old_keys` deletes once a newer generation exists)."""

    def old_keys(self, account: str) -> list[str]:
        """The account's key ids older than its current generation."""
        return [key for gen, key in self._granted.get(account, []) if gen < self.generation[account]]

    @abstractmethod
    def delete_old_keys(self, account: str) -> None:
        """Delete the account's credentials older than its current generation at the venue."""

    # -- orders -------------------------------------------------------------------------------------
    @abstractmethod
    def rest_order(self, account: str, *, price: str = "100", size: str = "1", old_key: bool = False) -> str:
        """Rest a limit buy straight into the account's book (no request: no timer moves). `old_key`:
        on the key being rotated out, where orders rest on keys and that key still exists."""

    def trade(self, account: str, *, price: str, size: str, nonces: Nonces) -> str:
        """Rest an order as the sandbox's trading system does: where the venue's timer sees a trader's
        orders (an authenticated call on the key the fleet extends with), over the venue's API with a
        nonce from the shared source; elsewhere straight into the book."""
        return self.rest_order(account, price=price, size=size)

    @abstractmethod
    def order_ids(self, account: str) -> set[str]:
        """The ids of every order resting on the account now."""

    def key_deleted_at(self, order_id: str) -> int | None:
        """When the key this order was rested on was deleted at the venue (None: it was not, or
        orders belong to the account)."""
        return None

    def key_dropped_at(self, order_id: str) -> int | None:
        """When the secret stopped naming the key this order was rested on, as trading or retiring
        key: a second rotation begun before the first was finished (None: it did not, or orders
        belong to the account)."""
        return None

    # -- the venue timer ----------------------------------------------------------------------------
    @abstractmethod
    def timer_at(self, account: str) -> int | None:
        """When the account's venue timer fires if nothing moves it (None: not set)."""

    def timer_fires(self) -> int:
        """How many times a venue timer fired."""
        return len(self.fires)

    def time_nonce_keys(self) -> list[str]:
        """The nonce ids (`<venue>:<api key>`) of keys whose nonces are whole seconds: one request
        a second, the trader's and the fleet's together (none but Gemini's time-based keys)."""
        return []

    def set_at_soonest(self, fire_at_ms: int, margin_ms: int) -> bool:
        """The timer firing at `fire_at_ms` was set as soon as the venue allows (its minimum lead and
        `margin_ms` after the request that named it landed): a backstop, never an extension. False
        where no request names a fire time."""
        return False

    @staticmethod
    @abstractmethod
    def is_extension(path: str, body: bytes) -> bool:
        """This request pushes the venue timer on."""

    @staticmethod
    @abstractmethod
    def is_cancel(path: str, body: bytes) -> bool:
        """This request cancels orders."""

    # -- faults -------------------------------------------------------------------------------------
    def set_fault(self, fault: str, on: bool, *, until_ms: int | None = None) -> bool:
        """Switch a venue fault on or off (`until_ms`: when it ends, for a fault the venue times
        itself). True if it acted on the venue; False for a fault this venue does not have."""
        with self.lock:
            if fault == "venue_5xx":
                self.faults.http_5xx = 502 if on else None
            elif fault == "venue_429":
                self.faults.rate_limited = on
            elif fault == "venue_maintenance":
                self.faults.maintenance = on
            else:
                return False
            return True

    def locked_out(self) -> bool:
        """A key of this venue is locked out now (the venue's nonce lockout)."""
        return False
