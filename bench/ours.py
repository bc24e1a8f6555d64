"""Every `deadman` name the bench's own processes use (bench/worker.py, tickcpu.py, cost.py, coldstart.py,
signing.py), in one module, so that a reorganised package is repointed here only. (The sandbox's side
has its own list in sandbox/bench.py; the handlers under functions/ are imported by path, as Lambda
does.)

Imports are inside the functions: a worker measuring peak memory loads only what it uses.
"""

from __future__ import annotations

from typing import Any


def venues() -> tuple[str, ...]:
    """Every registered venue, in the registry's order (`deadman.venues.VENUES`): the bench measures
    each one it has a simulator for, which is all of them (tests/unit/test_registry.py)."""
    from deadman.venues import VENUES

    return VENUES


def has_timer(venue: str) -> bool:
    """Whether the venue has a timer the fleet holds; with none (Bybit, Deribit) a healthy tick sends
    the venue nothing: only a death's sweep and the kill call it."""
    from deadman.venues import CAPABILITIES

    return bool(CAPABILITIES[venue].has_timer)


def venue_module(name: str) -> Any:
    """deadman.venues.<name> (kraken, gemini, hyperliquid.signing): what a refresher signs with."""
    import importlib

    return importlib.import_module(f"deadman.venues.{name}")


def refresher(venue: str, metrics: Any = None) -> Any:
    """The refresher a Lambda builds for `venue` from the environment (Powertools-free sink)."""
    from deadman.core.clock import system_clock
    from deadman.core.metrics import NoMetrics
    from deadman.edges.wiring import refresher_from_env

    return refresher_from_env(
        venue, clock=system_clock, metrics=metrics or NoMetrics(), log=lambda *a, **k: None
    )


class Beats:
    """The trading systems' beats: one LivenessWriter per system (the same row format deadman reads),
    through boto3 as a trader would, or (`lean`) through the functions' own client."""

    def __init__(self, table: str, *, lean: bool = False) -> None:
        self.table = table
        self._writers: dict[str, Any] = {}
        self._client: Any = None
        if lean:
            import os

            from deadman.stores.aws import lean_clients

            self._client = lean_clients(os.environ)[0]

    def beat(self, system: str) -> None:
        from deadman.stores.liveness import LivenessWriter

        writer = self._writers.get(system)
        if writer is None:
            writer = self._writers[system] = LivenessWriter(
                self.table, system, host="bench", client=self._client
            )
        writer.beat()

    def start(self, system: str, every_s: float) -> None:
        self.beat(system)
        self._writers[system].start(every_s)

    def stop(self) -> None:
        for writer in self._writers.values():
            writer.stop()


def switch_item(venue: str, account: str, version: int) -> dict[str, Any]:
    """A switch row as a healthy tick writes it (its fields, as DynamoDB attributes)."""
    import time

    from deadman.stores.attributes import to_attribute
    from deadman.stores.switches import Switch

    now = int(time.time() * 1000)
    switch = Switch(
        venue=venue,
        account=account,
        version=version,
        changed_by="bench",
        changed_at_ms=now,
        last_tick_ms=now,
        deadline_ms=now + 60_000,
        last_beat_ms=now,
        native_checked_ms=now,
        inflight_until_ms=now + 5_000,
        systems="trader",
    )
    return {k: to_attribute(v) for k, v in switch.to_dict().items() if v is not None}


def reaction_bound_ms(venue: str, *, s: float, t: float, g: float, k: float) -> tuple[int, int | None]:
    """(watchdog, native) worst-case reaction for this timing (seconds in), as `deadman status` says;
    native None where the venue has no timer (watchdog only)."""
    from deadman.core.policy import Timing, reaction_bounds
    from deadman.venues import CAPABILITIES

    timing = Timing(
        max_staleness_ms=int(s * 1000), tick_ms=int(t * 1000), grace_ms=int(g * 1000), skew_ms=int(k * 1000)
    )
    bounds = reaction_bounds(timing, CAPABILITIES[venue])
    return bounds.watchdog_ms, bounds.native_ms


def timing_valid(*, s: float, t: float, g: float, k: float, venues: tuple[str, ...] | None = None) -> bool:
    """What the template's rules and the refresher's start-up check accept (Timing.validate)."""
    from deadman.core.errors import ConfigError
    from deadman.core.policy import Timing
    from deadman.venues import CAPABILITIES, VENUES

    timing = Timing(
        max_staleness_ms=int(s * 1000), tick_ms=int(t * 1000), grace_ms=int(g * 1000), skew_ms=int(k * 1000)
    )
    try:
        timing.validate(CAPABILITIES[v] for v in (venues if venues is not None else VENUES))
    except ConfigError:
        return False
    return True


def count_calls(*, on_aws: Any, on_venue: Any) -> None:
    """Call `on_aws("dynamodb.GetItem(strong)")` for every AWS call of the functions' lean client and
    `on_venue()` for every venue request, on any thread, from now on in this process (bench only)."""
    from deadman.stores.aws import AwsJsonClient
    from deadman.venues.http import PooledSession

    aws_call = AwsJsonClient.call
    # Every method goes through `request` (`post` too): Gate's, OKX's, Binance's and BitMEX's clients
    # call it directly, so counting `post` alone would miss their venue calls.
    venue_request = PooledSession.request

    def counted_call(client: AwsJsonClient, operation: str, params: Any) -> Any:
        strong = "(strong)" if isinstance(params, dict) and params.get("ConsistentRead") else ""
        on_aws(f"{client.service}.{operation}{strong}")
        return aws_call(client, operation, params)

    def counted_request(session: PooledSession, method: str, url: str, **kwargs: Any) -> Any:
        on_venue()
        return venue_request(session, method, url, **kwargs)

    AwsJsonClient.call = counted_call  # type: ignore[method-assign,assignment]
    PooledSession.request = counted_request  # type: ignore[method-assign,assignment]
