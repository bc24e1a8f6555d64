"""Every venue client, every operation, every damaged answer: an answer that is not the venue's own
is an unknown outcome (`TransientError`), never "timer set", "disarmed" or "cancelled 0".

The clients run against the venue simulators through the campaign's network (`SimNetwork`), in
virtual time; one request of the operation at a time has its answer damaged on the way back (it
landed and took effect at the venue, as an answer lost behind a proxy would have).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from deadman.core.venue import VenueClient
from deadman.stores.nonces import MemoryNonceSource
from deadman.venues import driver
from deadman.venues.errors import TransientError
from deadman.venues.hyperliquid.signing import address_of
from sandbox.sim.transport import ANSWER_MANGLES, Delivery, SimNetwork, mangle
from sandbox.sim.world import World
from sandbox.venues.common import SimServer
from sandbox.venues.gemini import GeminiSim
from sandbox.venues.hyperliquid import SPOT_OFFSET, HyperliquidSim
from sandbox.venues.kraken import KrakenSim

KRAKEN_SECRET = base64.b64encode(b"a kraken secret for the answers test, sixty-four bytes long....").decode()
AGENT = "0x" + "07" * 32
USER = "0x" + "0" * 39 + "1"
BASE_URL = "http://sim.invalid"


@dataclass
class Setup:
    world: World
    network: SimNetwork
    client: VenueClient


def setup(venue: str, damage: Callable[[int], str | None]) -> Setup:
    """A venue simulator with two resting orders and a client of it; request n's answer is damaged
    as `damage(n)` says (n counted from 0 across the operation)."""
    world = World()
    count = [0]

    def delivery(venue: str, path: str, who: str) -> Delivery:
        count[0] += 1
        return Delivery(answer=damage(count[0] - 1))

    network = SimNetwork(world, delivery)
    sim: SimServer
    entry: dict[str, Any]
    if venue == "kraken":
        kraken = KrakenSim(world.clock)
        kraken.add_key("kraken-key", KRAKEN_SECRET, account="acct")
        for _ in range(2):
            kraken.place_order("acct", "XBTUSD", "buy", "100", "1")
        sim, entry = kraken, {"api_key": "kraken-key", "api_secret": KRAKEN_SECRET}
    elif venue == "gemini":
        gemini = GeminiSim(world.clock)
        gemini.add_key("account-key", "gemini-secret", "increasing", account="acct")
        for _ in range(2):
            gemini.place_session_order("account-key", "btcusd", "buy", "100", "1")
        sim = gemini
        entry = {"api_key": "account-key", "api_secret": "gemini-secret", "nonce_mode": "increasing"}
    else:
        hyperliquid = HyperliquidSim(world.clock, network="testnet")
        hyperliquid.add_user(USER, volume_usd=2_500_000)
        hyperliquid.approve_agent(USER, address_of(AGENT))
        hyperliquid.place(USER, 0)  # a perp: its asset id comes from `meta`
        hyperliquid.place(USER, SPOT_OFFSET)  # a spot pair: from `spotMeta`
        sim = hyperliquid
        entry = {"address": USER, "agent_private_key": AGENT, "network": "testnet"}
    venue_of = driver(venue)
    account = venue_of.parse_account(
        {"account_id": "acct", "base_url": BASE_URL, **entry}, secret_name="test", sandbox=True
    )
    session = network.session(sim, "test")
    client = venue_of.client(account, session=session, nonces=MemoryNonceSource(), clock=world.clock)
    return Setup(world, network, client)


OPERATIONS: dict[str, Callable[[VenueClient, int], Any]] = {
    "extend": lambda client, now: client.extend(now + 60_000),
    "disarm": lambda client, now: client.disarm(),
    "sweep": lambda client, now: client.sweep(),
    "open_orders": lambda client, now: client.open_orders(),
}
CASES = [
    (venue, op)
    for venue in ("kraken", "gemini", "hyperliquid")
    for op in OPERATIONS
    if (venue, op) != ("gemini", "disarm")  # Gemini cannot disarm: it sends nothing, says so
]


def run(venue: str, op: str, damage: Callable[[int], str | None]) -> tuple[Setup, Any, BaseException | None]:
    s = setup(venue, damage)
    task = s.world.spawn("op", lambda: OPERATIONS[op](s.client, s.world.now_ms))
    try:
        s.world.run_until(s.world.now_ms + 60_000)
    finally:
        s.world.shutdown()
    assert task.done
    return s, task.result, task.error


@pytest.mark.parametrize("mangled", ANSWER_MANGLES)
@pytest.mark.parametrize(("venue", "op"), CASES)
def test_a_damaged_answer_is_an_unknown_outcome(venue: str, op: str, mangled: str) -> None:
    clean, result, error = run(venue, op, lambda n: None)
    assert error is None and clean.network.mangled == []
    requests = len(clean.network.log)
    assert requests >= 1
    for n in range(requests):
        s, result, error = run(venue, op, lambda i, n=n: mangled if i == n else None)
        if not s.network.mangled:
            # This damage would not change that answer (a hollow list is the list it was): as clean.
            assert error is None, f"request {n}: {error!r}"
            continue
        assert isinstance(error, TransientError), f"request {n} ({s.network.mangled}): {error!r} {result!r}"


def test_mangles_change_the_answer_or_say_they_do_not() -> None:
    kraken = b'{"error": [], "result": {"count": 2, "pending": false}}'
    assert mangle("empty", kraken) == b""
    assert mangle("truncated", kraken) == kraken[: len(kraken) // 2]
    page = mangle("html", kraken)
    assert page is not None and page.startswith(b"<!DOCTYPE html>")
    assert mangle("object", kraken) == b"{}" and mangle("object", b"{}") is None
    assert mangle("reshaped", kraken) == b"[]" and mangle("reshaped", b"[1]") == b"{}"
    assert mangle("hollow", kraken) == b'{"error": [], "result": {}}'
    assert mangle("hollow", b'{"result": "ok"}') is None and mangle("hollow", b"[1]") is None
    with pytest.raises(ValueError):
        Delivery(answer="garbled")
