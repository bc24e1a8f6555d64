"""A toy trading system: beats its liveness row and rests orders on every venue.

Gemini orders go over HTTP, signed with the same key the fleet heartbeats with and numbered from
the same shared DynamoDB nonce source (as a real trader sharing an increasing-nonce key must).
Kraken and Hyperliquid orders are rested through the simulators' order books directly: what
matters there is that they rest, not how they got there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests

from deadman.core.clock import system_clock
from deadman.stores.liveness import LivenessWriter
from deadman.stores.nonces import DynamoNonceSource
from deadman.venues.gemini import auth_headers, encode_payload, sign

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
        from sandbox.stack import GEMINI_KEYS, HL_USERS

        stack = self.stack
        for i in range(per_account):
            if "kraken" in stack.venues:
                stack.kraken.place_order("main", "XBTUSD", "buy", str(30_000 + i), "0.01")
            if "gemini" in stack.venues:
                for key, secret, mode in GEMINI_KEYS.values():
                    self.gemini_order(key, secret, mode, price=str(20_000 + i))
            if "hyperliquid" in stack.venues:
                for user, _, _ in HL_USERS.values():
                    stack.hyperliquid.place(user, 0, px=str(25_000 + i), sz="0.01")

    def gemini_order(self, api_key: str, secret: str, mode: str, *, price: str) -> int:
        now = system_clock()
        floor = now // 1000 if mode == "time" else now
        payload = {
            "request": "/v1/order/new",
            "nonce": self.nonces.next(f"gemini:{api_key}", floor),
            "symbol": "btcusd",
            "amount": "0.01",
            "price": price,
            "side": "buy",
            "type": "exchange limit",
        }
        b64 = encode_payload(payload)
        resp = requests.post(
            self.stack.gemini.url + "/v1/order/new",
            headers=auth_headers(api_key, b64, sign(b64, secret)),
            timeout=5,
        )
        resp.raise_for_status()
        return int(resp.json()["order_id"])
