"""The venue port: the one interface every venue adapter implements, the values it returns, and the
nonce source it draws from (implemented by `deadman.stores.nonces`)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

# The venues deadman speaks to; each is a module of `deadman.venues` with the same name.
VENUES: tuple[str, ...] = ("gemini", "kraken", "hyperliquid")


class TimerKind(StrEnum):
    RELATIVE_SECONDS = "relative_seconds"  # Kraken: CancelAllOrdersAfter(timeout)
    ABSOLUTE_MS = "absolute_ms"  # Hyperliquid: scheduleCancel(time)
    HEARTBEAT = "heartbeat"  # Gemini: fixed 30 s after the key's last authenticated request


@dataclass(frozen=True)
class Capabilities:
    venue: str
    timer_kind: TimerKind
    can_disarm: bool
    min_lead_ms: int
    max_timeout_ms: int | None
    fixed_timeout_ms: int | None
    daily_trigger_budget: int | None
    # The sweep asks the venue what is open before it cancels (Hyperliquid has no cancel-all): one
    # venue round trip between deciding to sweep and the cancel leaving.
    sweep_lists_first: bool = False


@dataclass(frozen=True)
class ExtendResult:
    """What one extend did. `venue_deadline_ms` is the venue's own word on when it fires, if it says."""

    requested_deadline_ms: int | None
    venue_deadline_ms: int | None
    detail: str


@dataclass(frozen=True)
class OpenOrder:
    order_id: str
    symbol: str
    side: str
    price: str
    size: str


@dataclass(frozen=True)
class OrderFailure:
    order_id: str
    reason: str


@dataclass(frozen=True)
class SweepResult:
    """Outcome of cancel-all. Some venues report only a count (`cancelled_ids` may then be empty)."""

    cancelled_count: int
    cancelled_ids: tuple[str, ...] = ()
    failed: tuple[OrderFailure, ...] = ()
    pending: bool = False
    detail: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.failed


class VenueClient(Protocol):
    """One venue account. Every method makes bounded-time HTTP calls and raises `VenueError`s."""

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def account_label(self) -> str:
        """A name for logs and audit: never a secret."""
        ...

    @property
    def nonce_key(self) -> str:
        """The key id this client draws its nonces under (shared by every function signing with it)."""
        ...

    def extend(self, deadline_ms: int, *, send_by_ms: int | None = None) -> ExtendResult:
        """Push the venue's timer to `deadline_ms` (Gemini: send one heartbeat). If the request is not
        ready to leave by `send_by_ms` (nonce draw, signing), raise `StaleDecisionError`: not sent."""
        ...

    def disarm(self, *, send_by_ms: int | None = None) -> None:
        """Switch the venue's timer off; `NotSupportedError` where the venue cannot. `send_by_ms` as
        for `extend`."""
        ...

    def sweep(self, *, send_by_ms: int | None = None) -> SweepResult:
        """Cancel every resting order this switch protects, and say what was cancelled. The cancel
        request leaves by `send_by_ms` or not at all (`StaleDecisionError`)."""
        ...

    def open_orders(self) -> list[OpenOrder]: ...


class NonceSource(Protocol):
    def next(self, key_id: str, floor: int) -> int:
        """Return n >= floor, n > every nonce issued before for key_id."""
        ...


def close_client(client: Any) -> None:
    """Close a venue client's pooled session if it has one; best effort, never raises."""
    close = getattr(client, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()
