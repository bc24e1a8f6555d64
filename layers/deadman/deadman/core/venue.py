"""The venue contract: what every venue module provides (`VenueDriver`: its spec, its account
parsing, its client, its doctor plan), the values its client returns, and the nonce source it draws
from (implemented by `deadman.stores.nonces`). Which venues exist is `deadman.venues.REGISTRY`'s.

Everything the fleet does differently per venue is said here, as capabilities and hooks, so that no
code outside `deadman.venues` names a venue."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class TimerKind(StrEnum):
    RELATIVE_SECONDS = "relative_seconds"  # Kraken: CancelAllOrdersAfter(timeout)
    RELATIVE_MS = "relative_ms"  # a countdown in ms from the request's arrival (Binance futures, BitMEX)
    ABSOLUTE_MS = "absolute_ms"  # Hyperliquid: scheduleCancel(time)
    HEARTBEAT = "heartbeat"  # Gemini: fixed 30 s after the key's last authenticated request
    NONE = "none"  # no timer a stateless fleet can hold (Bybit, Deribit: theirs drop with a WebSocket): watchdog and kill only  # noqa: E501


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
    # The venue may refuse its timer to an account for a while (Hyperliquid's volume gate): the
    # account then rests on the watchdog alone, and doctor says which way it stood last.
    native_may_be_refused: bool = False
    # With kill credentials, the watchdog sweeps on them rather than on the trading key (Gemini: any
    # call on the trading key restarts its rule, so the trading key is left silent to let it run out).
    sweeps_on_kill_key: bool = False
    # A request signed earlier than one the venue has already taken on the same key is refused
    # (strictly increasing nonces: Kraken, Gemini's increasing keys). So one answered read on a key
    # fences every request still on its way on it, a straggler its client gave up on included.
    later_nonce_fences: bool = False
    # The venue's requests carry a nonce drawn from the fleet's shared counter (`NONCE#<venue>:<key>`
    # in the control table): its refresher is granted that counter, and a venue signing with a
    # timestamp window instead (OKX, Binance, Gate, BitMEX) is not.
    draws_nonces: bool = True
    # A timer request the venue processes late still takes effect, with no sequence to refuse it by:
    # an extension queued at the venue re-arms a timer a disarm has just switched off (BitMEX: the
    # last cancelAllAfter processed wins, and `api-expires` is checked before the engine's queue).
    # The refresher then repeats a disarm's "timer off" every tick it holds, so that the last request
    # the venue processes is a disarm within one tick of any straggler.
    late_call_rearms: bool = False

    @property
    def has_timer(self) -> bool:
        """The fleet holds a timer at the venue (extends it, may switch it off). Without one, the
        watchdog and the kill are all it gives: with the fleet gone, nothing protects the book."""
        return self.timer_kind is not TimerKind.NONE

    @property
    def max_tick_ms(self) -> int | None:
        """The longest tick this venue allows. A heartbeat rule (Gemini: 30 s after the key's last
        authenticated call) must see a call even while a crashed loop is replaced: a loop that crashes
        between its renewal and its heartbeat leaves T since the previous heartbeat, then T + 7 s
        before a standby takes over, a poll, and the standby's heartbeat - 2T + 8 s, well under the
        timeout at a third of it."""
        return None if self.fixed_timeout_ms is None else self.fixed_timeout_ms // 3


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


class VenueAccount(Protocol):
    """One account of a venue secret, as its venue module parsed it."""

    @property
    def account_id(self) -> str: ...

    @property
    def has_kill_key(self) -> bool:
        """Credentials of its own for kills (and the watchdog's fallback): a key, an agent."""
        ...

    def for_kill(self) -> VenueAccount:
        """The signer a kill sweeps with: the kill credentials, or the account itself."""
        ...

    def for_retiring(self) -> VenueAccount | None:
        """A key being rotated out that may still hold the trader's orders: the fleet keeps its
        session alive and sweeps it too (None: no rotation under way)."""
        ...


@dataclass(frozen=True)
class ClockSource:
    """Where doctor reads the venue's clock: a public call, and the venue's time in its answer."""

    method: str
    url: str
    body: Any = None
    # Epoch ms from the decoded JSON answer; None reads the HTTP Date header (1 s resolution).
    read_ms: Callable[[Any], float | None] | None = None
    source: str = "HTTP Date header, 1 s resolution"


@dataclass(frozen=True)
class KeyCheck:
    """A key doctor proves by a read-only authenticated call (open orders)."""

    label: str
    signer: VenueAccount
    # Any authenticated call on this key pushes the venue's timer (a heartbeat key): doctor calls it
    # only where the refresher itself would extend, and only if asked.
    extends: bool = False
    # The venue lists open orders without a signature (Hyperliquid's /info): the call proves the
    # address and the venue's reach, not the key.
    signed: bool = True


@dataclass(frozen=True)
class Remark:
    level: str  # INFO or WARN
    detail: str


@dataclass(frozen=True)
class DoctorPlan:
    clock: ClockSource
    keys: tuple[KeyCheck, ...]
    remarks: tuple[Remark, ...] = ()


@dataclass(frozen=True)
class VenueSpec:
    """A venue as the fleet, the controls, status, doctor and the template see it."""

    name: str  # as in the API, the secret's env var (SECRET_<NAME>) and the template (Enable<Title>)
    title: str
    # The venue's own name for the timer the fleet keeps pushed, as the template's descriptions and
    # alarms say it (Kraken: "CancelAllOrdersAfter").
    timer: str
    capabilities: Capabilities
    # Doctor fails a clock further off than this (the venue's own window, less a margin).
    clock_window_ms: int
    # What an operator must know of the venue's own timer that no tick can change (status, README).
    caveat: str | None = None
    # What doctor checks on this venue, for `deadman doctor -h`.
    doctor: str = ""


class VenueDriver(Protocol):
    """What each venue module provides, as its `DRIVER`."""

    @property
    def spec(self) -> VenueSpec: ...

    def parse_account(
        self, data: Mapping[str, Any], *, secret_name: str, sandbox: bool = False
    ) -> VenueAccount:
        """One entry of the venue's secret; `CredentialsError` names a bad field, never its value."""
        ...

    def client(
        self,
        account: VenueAccount,
        *,
        nonces: NonceSource,
        clock: Callable[[], int],
        timeout: Any = None,
        session: Any = None,
        parallel: Any = None,
    ) -> VenueClient:
        """A client signing as `account` (a TypeError for another venue's account); `session`: the
        HTTP session it sends through (the simulators' network in the sandbox and the campaign);
        `parallel`: how it runs requests side by side (the simulation's scheduler there)."""
        ...

    def doctor_plan(self, account: VenueAccount) -> DoctorPlan: ...


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
