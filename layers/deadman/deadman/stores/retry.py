"""A DynamoDB call tried again at once when it failed in passing.

The refresh loop makes five or six DynamoDB calls a tick (lease, liveness, switch, intent, record).
Under a throttle that refuses one call in three, a tick whose every call must succeed would fail
more often than not, and the venue timers would run out on a live trader. Each call is therefore
tried again a few hundred milliseconds later, within a deadline, when its failure says nothing
about the data (throttled, 5xx, timed out). A write whose answer was lost and that is tried again is
recognised by `SwitchStore.put` (the stored item is the one it wrote), so a retry is always safe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from deadman.core.clock import Clock

T = TypeVar("T")

# No try of one call starts later than this after its first: a call that timed out (2 s read timeout
# here) gets one more, a throttled one two more, and a tick is never stalled for long.
WITHIN_MS = 4_000
# Pauses before the second and third try (DynamoDB's own guidance: short, growing).
BACKOFF_MS = (100, 400)
# Answers that will not change if asked again.
_PERMANENT = frozenset(
    {
        "ConditionalCheckFailedException",
        "ValidationException",
        "ResourceNotFoundException",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "SerializationException",
    }
)


def transient(exc: BaseException) -> bool:
    """Worth asking again: a throttle, a 5xx, a timeout or a dropped connection."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "") not in _PERMANENT
    return isinstance(exc, HTTPClientError | ConnectionError | OSError)


def patiently(
    call: Callable[[], T],
    *,
    clock: Clock,
    sleep: Callable[[float], None],
    until_ms: int | None = None,
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """`call()`, tried up to len(BACKOFF_MS) more times after a transient failure, never starting a
    try at or after `until_ms`. The last failure is raised."""
    for pause_ms in (*BACKOFF_MS, None):
        try:
            return call()
        except Exception as exc:
            if pause_ms is None or not transient(exc):
                raise
            if until_ms is not None and clock() + pause_ms >= until_ms:
                raise
            if on_retry is not None:
                on_retry(exc)
            sleep(pause_ms / 1000)
    raise AssertionError("unreachable")  # pragma: no cover


class Patience(Protocol):
    def __call__(self, call: Callable[[], T]) -> T: ...


def impatient(call: Callable[[], T]) -> T:
    """One try: for tools and tests where a failure should show at once."""
    return call()


@dataclass(frozen=True)
class Retrying:
    """The patience the fleet's stores are built with: on the injected clock and sleep."""

    clock: Clock
    sleep: Callable[[float], None]
    on_retry: Callable[[BaseException], None] | None = None
    within_ms: int = WITHIN_MS

    def __call__(self, call: Callable[[], T]) -> T:
        until = self.clock() + self.within_ms
        return patiently(call, clock=self.clock, sleep=self.sleep, until_ms=until, on_retry=self.on_retry)

    def until(self, deadline_ms: int) -> Patience:
        """This patience, but starting no try at or after `deadline_ms`: for a step of several calls
        (an audit append) that must end within one budget, not one budget per call."""

        def bounded(call: Callable[[], T]) -> T:
            return patiently(
                call, clock=self.clock, sleep=self.sleep, until_ms=deadline_ms, on_retry=self.on_retry
            )

        return bounded
