"""`make bench`: figures for the costs that matter to a refresher, printed, never asserted.

- cold import of each venue adapter in a fresh interpreter (what a cold start pays);
- signing cost per venue;
- one refresher tick per venue against the local simulators (moto + HTTP), median and p95;
- peak memory (ru_maxrss) of a process that imported and ran everything.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

IMPORTS = {
    "deadman.venues.kraken": "import deadman.venues.kraken",
    "deadman.venues.gemini": "import deadman.venues.gemini",
    "deadman.venues.hyperliquid": "import deadman.venues.hyperliquid",
    "hyperliquid + first signature": (
        "from deadman.venues.hyperliquid_signing import sign_l1_action;"
        "sign_l1_action('0x'+'11'*32, {'type':'scheduleCancel','time':1}, None, 1, None, True)"
    ),
    "deadman.refresh (core)": "import deadman.refresh",
}


def cold_import_ms(statement: str, runs: int = 5) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True)
        samples.append((time.perf_counter() - start) * 1000)
    baseline = min(
        _timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True)) for _ in range(3)
    )
    return statistics.median(samples) - baseline


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def per_call_us(fn: Callable[[], object], n: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def signing() -> dict[str, float]:
    from deadman.venues import gemini, kraken
    from deadman.venues.hyperliquid_signing import sign_l1_action

    secret = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
    payload = gemini.encode_payload({"request": "/v1/heartbeat", "nonce": 1})
    action = {"type": "scheduleCancel", "time": 1_700_000_000_000}
    return {
        "kraken API-Sign": per_call_us(
            lambda: kraken.sign("/0/private/CancelAll", 1, b"nonce=1", secret), 2000
        ),
        "gemini HMAC-SHA384": per_call_us(lambda: gemini.sign(payload, "secret"), 2000),
        "hyperliquid L1 (EIP-712)": per_call_us(
            lambda: sign_l1_action("0x" + "11" * 32, action, None, 1, None, True), 200
        ),
    }


def ticks(rounds: int = 30) -> dict[str, tuple[float, float]]:
    from deadman.clock import system_clock
    from deadman.observability import ListMetrics
    from deadman.refresh import build_refresher
    from sandbox.stack import Stack
    from sandbox.trader import ToyTrader

    out: dict[str, tuple[float, float]] = {}
    with Stack() as stack:
        trader = ToyTrader(stack)
        for venue in stack.venues:
            refresher = build_refresher(
                venue, clock=system_clock, metrics=ListMetrics(), log=lambda *a, **k: None
            )
            samples = []
            for _ in range(rounds):
                trader.beat()
                samples.append(_timed(refresher.tick))
            samples.sort()
            out[venue] = (statistics.median(samples), samples[int(len(samples) * 0.95) - 1])
    return out


def main() -> None:
    print("cold import (fresh interpreter, minus an empty one), median of 5:")
    for name, statement in IMPORTS.items():
        print(f"  {name:<34} {cold_import_ms(statement):7.1f} ms")
    print("signing, per call:")
    for name, us in signing().items():
        print(f"  {name:<34} {us:9.1f} us")
    print("one refresher tick against the simulators + moto (all accounts of the venue), 30 rounds:")
    for venue, (median, p95) in ticks().items():
        print(f"  {venue:<34} median {median:6.1f} ms   p95 {p95:6.1f} ms")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process (everything imported, stack run): {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
