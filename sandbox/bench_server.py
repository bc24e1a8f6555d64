"""`python -m sandbox.bench serve`: the endpoints the bench's workers run against (bench/runs.py).

moto and the three simulators (a `Stack`), a pool of bench accounts on every venue (`bench0`...: their
keys on the simulators, their secret entries in the JSON), keys of their own for the ccxt / SDK
equivalents (so that no nonce is shared with deadman's), an SNS topic for the notifier. One JSON line
with all of it on stdout, then one JSON line per command read from stdin (`counts`, `rest N`,
`latency S`) until EOF, when everything stops. No `deadman` import here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from typing import Any

from sandbox.stack import SYSTEM, SandboxTiming, Stack, agent_address

VENUES = ("gemini", "kraken", "hyperliquid")


def _secret_b64(seed: str) -> str:
    return base64.b64encode(hashlib.sha512(seed.encode()).digest()).decode()


def _hl_key(seed: str) -> str:
    return "0x" + hashlib.sha256(seed.encode()).hexdigest()


class BenchServer:
    """A Stack plus `pool` bench accounts per venue (`bench0`...), and keys for the alternatives."""

    def __init__(self, pool: int) -> None:
        self.pool = pool
        self.stack = Stack(SandboxTiming())

    def start(self) -> dict[str, Any]:
        import boto3

        stack = self.stack.start()
        pool: dict[str, list[dict[str, Any]]] = {v: [] for v in VENUES}
        for i in range(self.pool):
            account = f"bench{i}"
            key, secret = f"bench-kraken-{i}", _secret_b64(f"kraken-{i}")
            stack.kraken.add_key(key, secret, account=account)
            pool["kraken"].append(
                {"account_id": account, "api_key": key, "api_secret": secret, "base_url": stack.kraken.url}
            )
            key, secret = f"account-bench{i}", f"benchSecret{i}"
            stack.gemini.add_key(key, secret, "increasing", account=account)
            pool["gemini"].append(
                {"account_id": account, "api_key": key, "api_secret": secret,
                 "nonce_mode": "increasing", "base_url": stack.gemini.url}
            )  # fmt: skip
            user = "0x" + hashlib.sha256(f"hl-user-{i}".encode()).hexdigest()[:40]
            agent = _hl_key(f"hl-agent-{i}")
            stack.hyperliquid.add_user(user, volume_usd=2_500_000.0)
            stack.hyperliquid.approve_agent(user, agent_address(agent))
            pool["hyperliquid"].append(
                {"account_id": account, "address": user, "agent_private_key": agent, "network": "testnet",
                 "base_url": stack.hyperliquid.url}
            )  # fmt: skip
        theirs: dict[str, dict[str, dict[str, str]]] = {"kraken": {}, "gemini": {}, "hyperliquid": {}}
        for impl in ("ccxt", "krakensdk"):
            key, secret = f"theirs-kraken-{impl}", _secret_b64(f"theirs-{impl}")
            stack.kraken.add_key(key, secret, account=f"theirs-{impl}")
            theirs["kraken"][impl] = {"api_key": key, "api_secret": secret}
        key, secret = "account-theirsCcxt", "theirsCcxtSecret"
        stack.gemini.add_key(key, secret, "increasing", account="theirs-ccxt")
        theirs["gemini"]["ccxt"] = {"api_key": key, "api_secret": secret}
        for impl in ("hlsdk", "ccxt"):
            user = "0x" + hashlib.sha256(f"theirs-user-{impl}".encode()).hexdigest()[:40]
            agent = _hl_key(f"theirs-agent-{impl}")
            stack.hyperliquid.add_user(user, volume_usd=2_500_000.0)
            stack.hyperliquid.approve_agent(user, agent_address(agent))
            theirs["hyperliquid"][impl] = {"address": user, "agent_private_key": agent}
        topic = boto3.client("sns").create_topic(Name="deadman-bench-alerts")["TopicArn"]
        return {
            "env": stack.env,
            "system": SYSTEM,
            "sims": {v: s.url for v, s in stack.sims.items()},
            "secret_arns": stack.secret_arns,
            "secret_values": stack.secret_values(),
            "pool": pool,
            "theirs": theirs,
            "topic_arn": topic,
        }

    def command(self, line: str) -> Any:
        from sandbox.trader import ToyTrader

        stack = self.stack
        word, _, arg = line.strip().partition(" ")
        if word == "counts":
            return {v: s.requests_seen for v, s in stack.sims.items()}
        if word == "rest":
            ToyTrader(stack).rest_orders(int(arg or 2))
            return {f"{v}/{a}": n for (v, a), n in stack.books().items()}
        if word == "latency":
            for sim in stack.sims.values():
                sim.faults.latency_s = float(arg)
            return {"latency_s": float(arg)}
        return {"error": f"unknown command {word!r}"}

    def stop(self) -> None:
        self.stack.stop()


def serve(pool: int) -> None:
    server = BenchServer(pool)
    try:
        print(json.dumps(server.start()), flush=True)
        for line in sys.stdin:
            if line.strip():
                print(json.dumps(server.command(line)), flush=True)
    finally:
        server.stop()
