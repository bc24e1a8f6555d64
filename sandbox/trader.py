"""A toy trading system: beats its liveness row and rests orders on every account of every venue.

Each order is rested as the venue's simulator says a trading system's order is (`Simulator.trade`):
where the venue's timer sees a trader's orders (Gemini: any authenticated call on the key restarts
its rule), over the venue's API, signed with the key the fleet extends with and numbered from the same
shared DynamoDB nonce source (as a real trader sharing an increasing-nonce key must); elsewhere
straight into the simulator's book: what matters there is that they rest, not how they got there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deadman.core.clock import system_clock
from deadman.stores.liveness import LivenessWriter
from deadman.stores.nonces import DynamoNonceSource

if TYPE_CHECKING:
    from sandbox.stack import Stack


class ToyTrader:
    def __init__(self, stack: Stack) -> None:
        from sandbox.stack import CONTROL_TABLE, LIVENESS_TABLE, SYSTEM

        self.stack = stack
        self.writer = LivenessWriter(LIVENESS_TABLE, SYSTEM, host="sandbox", clock=system_clock)
        self.nonces = DynamoNonceSource(CONTROL_TABLE)
        self.last_beat_ms: int | None = None

    def beat(self) -> None:
        item = self.writer.beat()
        self.last_beat_ms = int(item["beat_ms"])

    def start_beating(self, every_s: float = 0.5) -> None:
        self.beat()
        self.writer.start(every_s)

    def die(self) -> int:
        """Stop beating, as a crashed process would; returns the last beat (epoch ms)."""
        self.writer.stop()
        self.last_beat_ms = self.stored_beat()
        return self.last_beat_ms

    def stored_beat(self) -> int:
        from deadman.stores.liveness import LivenessReader
        from sandbox.stack import LIVENESS_TABLE, SYSTEM

        row = LivenessReader(LIVENESS_TABLE).read(SYSTEM)
        assert row is not None, "the trader never beat"
        return int(row["beat_ms"])

    def rest_orders(self, per_account: int = 2) -> None:
        stack = self.stack
        for i in range(per_account):
            for venue in stack.venues:
                sim = stack.sims[venue]
                for account in stack.accounts[venue]:
                    sim.trade(account, price=str(20_000 + i), size="0.01", nonces=self.nonces)
