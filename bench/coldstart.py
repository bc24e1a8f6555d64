"""One cold start, run in a fresh interpreter: `python bench/coldstart.py IMPL FUNCTION`.

What a Lambda pays before its first request leaves: the handler module's imports (deadman's real
handlers under functions/; for the alternatives, the smallest honest handler: boto3 with the two
clients a refresher needs, DynamoDB for liveness and Secrets Manager for keys, and the library),
then one signed request built (headers and body ready to send; nothing is sent).

IMPL / FUNCTION:
  ours        refresher-kraken | refresher-gemini | refresher-hyperliquid | kill | disarm | status
  ccxt        refresher-kraken | refresher-gemini | refresher-hyperliquid | kill
  hlsdk       refresher-hyperliquid              (hyperliquid-python-sdk)
  krakensdk   refresher-kraken                   (python-kraken-sdk)
  floor       refresher                          (boto3 + Powertools + the two clients, no venue: what
                                                  every boto3-based function pays; deadman's own
                                                  functions do not load boto3)

The orchestrator (`python -m bench`) sets a fake AWS environment (no call is made) and times the
whole process. Imports are inside the branches on purpose: each run loads only its own stack.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import ours as ours_  # noqa: E402  (deadman's names, lazily: nothing loaded until used)

KRAKEN_SECRET = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="  # noqa: S105  (a made-up key)
HL_KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"
NONCE = 1_700_000_000_000


def _handler(name: str) -> None:
    """Import functions/<name>/app.py the way Lambda does (`app.lambda_handler`)."""
    sys.path.insert(0, str(ROOT / "functions" / name))
    import app  # type: ignore[import-not-found]  # noqa: F401


def ours(function: str) -> Any:
    if function.startswith("refresher-"):
        venue = function.removeprefix("refresher-")
        os.environ["VENUE"] = venue
        _handler("refresher")
        return _ours_request(venue)
    _handler(function)
    return None


def _ours_request(venue: str) -> Any:
    if venue == "kraken":
        from urllib.parse import urlencode

        kraken = ours_.venue_module("kraken")
        body = urlencode([("nonce", NONCE), ("timeout", 60)]).encode()
        sign = kraken.sign("/0/private/CancelAllOrdersAfter", NONCE, body, KRAKEN_SECRET)
        return {"API-Key": "key", "API-Sign": sign}, body
    if venue == "gemini":
        gemini = ours_.venue_module("gemini")
        payload = gemini.encode_payload({"request": "/v1/heartbeat", "nonce": NONCE})
        return gemini.auth_headers("account-key", payload, gemini.sign(payload, "secret"))
    sign_l1_action = ours_.venue_module("hyperliquid.signing").sign_l1_action
    action = {"type": "scheduleCancel", "time": NONCE + 45_000}
    signature = sign_l1_action(HL_KEY, action, None, NONCE, NONCE + 10_000, True)
    request = {"action": action, "nonce": NONCE, "signature": signature, "expiresAfter": NONCE + 10_000}
    return json.dumps(request, separators=(",", ":")).encode()


def _aws_clients() -> None:
    import boto3

    boto3.client("dynamodb")
    boto3.client("secretsmanager")


def floor() -> Any:
    from aws_lambda_powertools import Logger, Metrics

    _aws_clients()
    return Logger(), Metrics()


def _ccxt_exchange(venue: str) -> Any:
    import ccxt

    if venue == "kraken":
        return ccxt.kraken({"apiKey": "key", "secret": KRAKEN_SECRET})
    if venue == "gemini":
        return ccxt.gemini({"apiKey": "account-key", "secret": "secret"})
    return ccxt.hyperliquid({"walletAddress": "0x" + "11" * 20, "privateKey": HL_KEY})


def _ccxt_request(venue: str, exchange: Any) -> Any:
    if venue == "kraken":
        return exchange.sign("CancelAllOrdersAfter", ["private"], "POST", {"timeout": 60})
    if venue == "gemini":
        return exchange.sign("v1/heartbeat", ["private"], "POST", {})
    action = {"type": "scheduleCancel", "time": NONCE + 45_000}
    return exchange.sign_l1_action(action, NONCE, None, NONCE + 10_000)


def ccxt_run(function: str) -> Any:
    _aws_clients()
    if function == "kill":  # one cancel-all request per venue
        return [_ccxt_request(v, _ccxt_exchange(v)) for v in ("kraken", "gemini", "hyperliquid")]
    venue = function.removeprefix("refresher-")
    return _ccxt_request(venue, _ccxt_exchange(venue))


def hlsdk(function: str) -> Any:
    assert function == "refresher-hyperliquid"
    _aws_clients()
    import eth_account
    from hyperliquid.exchange import Exchange  # noqa: F401  (what an SDK-based handler imports)
    from hyperliquid.utils.signing import sign_l1_action

    wallet = eth_account.Account.from_key(HL_KEY)
    action = {"type": "scheduleCancel", "time": NONCE + 45_000}
    signature = sign_l1_action(wallet, action, None, NONCE, NONCE + 10_000, True)
    payload = {"action": action, "nonce": NONCE, "signature": signature, "expiresAfter": NONCE + 10_000}
    return json.dumps(payload, separators=(",", ":")).encode()


def krakensdk(function: str) -> Any:
    assert function == "refresher-kraken"
    _aws_clients()
    from kraken.spot import Trade

    trade = Trade(key="key", secret=KRAKEN_SECRET)
    return trade._prepare_request(
        method="POST", uri="/0/private/CancelAllOrdersAfter", params={"timeout": 60}
    )


IMPLS: dict[str, Callable[[str], Any]] = {
    "ours": ours,
    "ccxt": ccxt_run,
    "hlsdk": hlsdk,
    "krakensdk": krakensdk,
    "floor": lambda _f: floor(),
}

if __name__ == "__main__":
    result = IMPLS[sys.argv[1]](sys.argv[2])
    if os.environ.get("BENCH_SHOW"):
        print(repr(result)[:300])
