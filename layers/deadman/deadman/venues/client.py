"""What every venue adapter's `Client` shares: its account, the nonce source, the clock and a
bounded-time HTTP transport, plus the identity the rest of the fleet sees."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import ClassVar, Generic, Protocol, TypeVar, cast

from deadman.core.clock import Clock
from deadman.core.concurrency import Parallel, ThreadParallel
from deadman.core.policy import WHOLE_SECONDS_MS
from deadman.core.venue import Capabilities, NonceSource
from deadman.venues.errors import StaleDecisionError, TransientError, VenueError
from deadman.venues.http import DEFAULT_TIMEOUT, HttpTransport, Session


class _Account(Protocol):
    @property
    def account_id(self) -> str: ...


AccountT = TypeVar("AccountT", bound=_Account)
T = TypeVar("T")
ItemT = TypeVar("ItemT")


class ClientBase(Generic[AccountT]):
    caps: ClassVar[Capabilities]

    def __init__(
        self,
        account: AccountT,
        *,
        nonces: NonceSource,
        clock: Clock,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        session: Session | None = None,
        parallel: Parallel | None = None,
    ) -> None:
        self._account = account
        self._nonces = nonces
        self._clock = clock
        # Several timers of one account (OKX's tags, Gate's markets, Binance's symbols) are set side by
        # side: one after another, a slow path would age the decision past its send-by time before
        # the last left, and that timer would run out on a live trader.
        self._parallel: Parallel = parallel or ThreadParallel(clock=clock)
        self._http = HttpTransport(self.caps.venue, self._base_url(account), timeout=timeout, session=session)

    def _base_url(self, account: AccountT) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        # Never the account object itself: its repr is safe, but a client's should not depend on it.
        return f"{self.caps.venue}.Client(account={self._account.account_id!r})"

    @property
    def capabilities(self) -> Capabilities:
        return self.caps

    @property
    def account_label(self) -> str:
        return self._account.account_id

    @property
    def nonce_key(self) -> str:
        """The key id this client draws nonces under, shared by every function that signs with it."""
        return self._key_id

    @property
    def _key_id(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        self._http.close()

    def _check_send_by(self, send_by_ms: int | None) -> None:
        """Checked at the last moment before a request leaves: what is decided must still hold then."""
        if send_by_ms is not None and (late := self._clock() - send_by_ms) > 0:
            raise StaleDecisionError(self.caps.venue, f"decision {late} ms past its send-by time: not sent")

    def _side_by_side(self, items: Sequence[ItemT], act: Callable[[ItemT], T]) -> list[T]:
        """`act(item)` for every item at once; once all have answered, the first failure (in the items'
        order) is raised, so one item's failure neither stops nor delays another's."""
        outcomes = self._parallel.run([partial(act, item) for item in items])
        for outcome in outcomes:
            if outcome.error is not None:
                raise outcome.error
            if not outcome.done:  # never with no deadline; said rather than read as a result
                raise TransientError(self.caps.venue, "a request side by side did not finish")
        return [cast(T, o.value) for o in outcomes]

    def _on_time(self, deadline_ms: int, set_timer: Callable[[], int]) -> int:
        """One relative timer set (its trigger time returned), and set once more at once if it landed
        past the deadline by more than the venue's whole second: the venue counts from the request's
        arrival, so a way there that slowed sets it late, and where several timers are set one after
        another (OKX's tags, Gate's markets) the tick's own correction would come only after all of
        them. The second request leaves within the same send-by time, so under the same intent; if
        it fails, the first timer stands and the tick corrects it."""
        trigger = set_timer()
        if trigger <= deadline_ms + WHOLE_SECONDS_MS:
            return trigger
        try:
            return set_timer()  # aimed earlier by the transit just seen
        except VenueError:
            return trigger
