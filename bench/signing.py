"""Hyperliquid L1 signing per call, side by side in one process: `python bench/signing.py ROUNDS`.

Implementations, each signing the same `scheduleCancel` with an `expiresAfter` (what a tick sends):
- deadman: `hyperliquid.signing.sign_l1_action(key_hex, ...)` (coincurve + keccak, key parsed once);
- hyperliquid-python-sdk: `utils.signing.sign_l1_action(wallet, ...)` with an eth_account wallet
  made once (the SDK's own Exchange keeps one);
- ccxt: `hyperliquid.sign_l1_action(...)` (its own pure-Python ECDSA);
- deadman before: eth_account's `Account.sign_message(encode_typed_data(...), key_hex)`, the key
  re-derived on every call (what the signer did before issue 9).

eth_keys picks its backend at import: with coincurve installed it uses libsecp256k1, otherwise its
pure-Python one (a plain `pip install hyperliquid-python-sdk`). The orchestrator runs this script
twice, with ECC_BACKEND_CLASS unset and set to the native backend, so the SDK is shown both ways.

Rounds are interleaved (every round times a block of every implementation, in rotating order);
the figure is the median over rounds of the per-call time of a block. Output: one JSON object.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"
NONCE = 1_700_000_000_000
ACTION = {"type": "scheduleCancel", "time": NONCE + 45_000}
EXPIRES = NONCE + 10_000


def implementations() -> dict[str, tuple[Callable[[], Any], int]]:
    """name -> (one signature, calls per block)."""
    from bench.ours import venue_module

    ours = venue_module("hyperliquid.signing")

    impls: dict[str, tuple[Callable[[], Any], int]] = {
        "deadman": (lambda: ours.sign_l1_action(KEY, ACTION, None, NONCE, EXPIRES, True), 400),
    }
    try:
        import eth_account
        from hyperliquid.utils import signing as sdk

        wallet = eth_account.Account.from_key(KEY)
        impls["hyperliquid-python-sdk"] = (
            lambda: sdk.sign_l1_action(wallet, ACTION, None, NONCE, EXPIRES, True),
            100,
        )
    except ImportError:
        pass
    try:
        import eth_account
        from eth_account.messages import encode_typed_data

        def before() -> Any:
            connection_id = ours.action_hash(ACTION, None, NONCE, EXPIRES)
            signable = encode_typed_data(full_message=ours.l1_typed_data(connection_id, True))
            return eth_account.Account.sign_message(signable, KEY)

        impls["deadman before (eth_account)"] = (before, 20)
    except ImportError:
        pass
    try:
        import ccxt

        exchange = ccxt.hyperliquid({"walletAddress": "0x" + "11" * 20, "privateKey": KEY})
        impls["ccxt"] = (lambda: exchange.sign_l1_action(ACTION, NONCE, None, EXPIRES), 20)
    except ImportError:
        pass
    return impls


def check_same_signature(impls: dict[str, tuple[Callable[[], Any], int]]) -> bool | None:
    if "hyperliquid-python-sdk" not in impls:
        return None
    return bool(impls["deadman"][0]() == impls["hyperliquid-python-sdk"][0]())


def measure(rounds: int) -> dict[str, Any]:
    impls = implementations()
    same = check_same_signature(impls)
    for fn, _ in impls.values():
        fn()  # warm: first-use loading is the cold start's business, not the per-call figure
    samples: dict[str, list[float]] = {name: [] for name in impls}
    names = list(impls)
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            fn, n = impls[name]
            start = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - start) / n * 1e6)
    try:
        from eth_keys.main import KeyAPI

        backend: str | None = type(KeyAPI().backend).__name__
    except ImportError:
        backend = None
    return {
        "eth_keys_backend": backend,
        "same_signature_as_sdk": same,
        "rounds": rounds,
        "per_call_us": {name: statistics.median(values) for name, values in samples.items()},
    }


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 15)))
