"""One cold start, run in a fresh interpreter: `python bench/coldstart.py IMPL FUNCTION`.

What a Lambda pays before its first request leaves: the handler module's imports (deadman's real
handlers under functions/; for the alternatives, the smallest honest handler: boto3 with the two
clients a refresher needs, DynamoDB for liveness and Secrets Manager for keys, and the library),
then one signed request built (headers and body ready to send; nothing is sent).

The request is the one the venue's refresher sends: its timer call where the venue has a timer, and
where it has none (Bybit, Deribit: watchdog and kill only) the cancel-all it sends on a death.

IMPL / FUNCTION:
  ours        refresher-<venue> (every registered venue) | kill | disarm | status
  ccxt        refresher-<venue> for a venue ccxt has (CCXT_VENUES: not BitMEX) | kill (every one of them)
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
SECRET = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"  # noqa: S105  (made up)
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
    """One signed timer request with deadman's own signing: each venue signs its own way."""
    return OURS_REQUESTS[venue]()


def _ours_kraken() -> Any:
    from urllib.parse import urlencode

    kraken = ours_.venue_module("kraken")
    body = urlencode([("nonce", NONCE), ("timeout", 60)]).encode()
    sign = kraken.sign("/0/private/CancelAllOrdersAfter", NONCE, body, KRAKEN_SECRET)
    return {"API-Key": "key", "API-Sign": sign}, body


def _ours_gemini() -> Any:
    gemini = ours_.venue_module("gemini")
    payload = gemini.encode_payload({"request": "/v1/heartbeat", "nonce": NONCE})
    return gemini.auth_headers("account-key", payload, gemini.sign(payload, "secret"))


def _ours_hyperliquid() -> Any:
    sign_l1_action = ours_.venue_module("hyperliquid.signing").sign_l1_action
    action = {"type": "scheduleCancel", "time": NONCE + 45_000}
    signature = sign_l1_action(HL_KEY, action, None, NONCE, NONCE + 10_000, True)
    request = {"action": action, "nonce": NONCE, "signature": signature, "expiresAfter": NONCE + 10_000}
    return json.dumps(request, separators=(",", ":")).encode()


def _ours_okx() -> Any:
    wire = ours_.venue_module("okx.wire")
    body = json.dumps({"timeOut": "60"}, separators=(",", ":"))
    stamp = wire.timestamp(NONCE)
    sign = wire.sign(stamp, "POST", wire.PATH_CANCEL_AFTER, body, SECRET)
    headers = {"OK-ACCESS-KEY": "key", "OK-ACCESS-SIGN": sign, "OK-ACCESS-TIMESTAMP": stamp}
    return {**headers, "OK-ACCESS-PASSPHRASE": "passphrase"}, body


def _ours_binance() -> Any:
    wire = ours_.venue_module("binance.wire")
    return wire.signed_params([("symbol", "BTCUSDT"), ("countdownTime", 60_000)], NONCE, SECRET)


def _ours_gate() -> Any:
    wire = ours_.venue_module("gate.wire")
    body = wire.encode_body({"timeout": 60})
    path = wire.countdown_path("futures:usdt")
    return wire.auth_headers("POST", path, "", body, str(NONCE // 1000), "key", SECRET), body


def _ours_bitmex() -> Any:
    wire = ours_.venue_module("bitmex.wire")
    body = json.dumps({"timeout": 60_000}).encode()
    expires = wire.expires_for(NONCE)
    sign = wire.sign(SECRET, "POST", wire.PATH_CANCEL_AFTER, expires, body)
    return wire.auth_headers("key", expires, sign), body


def _ours_bybit() -> Any:
    """No timer: what the refresher sends on a death, the first of its sweep's cancel-alls (linear,
    USDT-settled), signed over its exact body (tests/unit/test_bybit_signing.py: ccxt's signature)."""
    wire = ours_.venue_module("bybit.wire")
    body = wire.encode_body({"category": "linear", "settleCoin": "USDT"})
    headers = wire.auth_headers(str(NONCE), "key", body, SECRET, body=True)
    return wire.PATH_CANCEL_ALL, headers, body


def _ours_deribit() -> Any:
    """No timer: what the refresher sends on a death with no token cached, the `public/auth` body
    (client credentials) and then `private/cancel_all` with the bearer token it answers (a made-up one
    here; tests/unit/test_deribit_signing.py: ccxt's path and auth parameters)."""
    wire = ours_.venue_module("deribit.wire")
    auth = wire.auth_body("client-id", SECRET, 1)
    return (wire.path(wire.AUTH), auth), (wire.query_path(wire.CANCEL_ALL), wire.bearer("token"))


OURS_REQUESTS: dict[str, Callable[[], Any]] = {
    "kraken": _ours_kraken,
    "gemini": _ours_gemini,
    "hyperliquid": _ours_hyperliquid,
    "okx": _ours_okx,
    "binance": _ours_binance,
    "gate": _ours_gate,
    "bitmex": _ours_bitmex,
    "bybit": _ours_bybit,
    "deribit": _ours_deribit,
}


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

    config: dict[str, dict[str, Any]] = {
        "kraken": {"apiKey": "key", "secret": KRAKEN_SECRET},
        "gemini": {"apiKey": "account-key", "secret": "secret"},
        "hyperliquid": {"walletAddress": "0x" + "11" * 20, "privateKey": HL_KEY},
        "okx": {"apiKey": "key", "secret": SECRET, "password": "passphrase"},
        "binance": {"apiKey": "key", "secret": SECRET},
        "gate": {"apiKey": "key", "secret": SECRET},
        "bybit": {"apiKey": "key", "secret": SECRET},
        "deribit": {"apiKey": "client-id", "secret": SECRET},
    }
    exchange_class = ccxt.binanceusdm if venue == "binance" else getattr(ccxt, venue)
    return exchange_class(config[venue])


def _ccxt_request(venue: str, exchange: Any) -> Any:
    """The same request signed by ccxt (`sign(path, api, method, params)` builds url, headers and
    body; nothing sent). `api` is the list ccxt's own endpoint table gives the path (ccxt/abstract/)."""
    if venue == "kraken":
        return exchange.sign("CancelAllOrdersAfter", ["private"], "POST", {"timeout": 60})
    if venue == "gemini":
        return exchange.sign("v1/heartbeat", ["private"], "POST", {})
    if venue == "hyperliquid":
        action = {"type": "scheduleCancel", "time": NONCE + 45_000}
        return exchange.sign_l1_action(action, NONCE, None, NONCE + 10_000)
    if venue == "okx":
        return exchange.sign("trade/cancel-all-after", ["private"], "POST", {"timeOut": "60"})
    if venue == "binance":
        params = {"symbol": "BTCUSDT", "countdownTime": 60_000}
        return exchange.sign("countdownCancelAll", ["fapiPrivate"], "POST", params)
    if venue == "gate":
        params = {"settle": "usdt", "timeout": 60}
        return exchange.sign("{settle}/countdown_cancel_all", ["private", "futures"], "POST", params)
    if venue == "bybit":  # privatePostV5OrderCancelAll: X-BAPI-* headers, HMAC over the JSON body
        params = {"category": "linear", "settleCoin": "USDT"}
        return exchange.sign("v5/order/cancel-all", ["private"], "POST", params)
    if venue == "deribit":
        # privateGetCancelAll (`/api/v2/private/cancel_all`). ccxt's REST signs every private call
        # itself (an `Authorization: deri-hmac-sha256` header, built in sign()) and so sends no
        # `public/auth` before it: its whole authentication is in this one call.
        return exchange.sign("cancel_all", ["private"], "GET", {})
    raise KeyError(venue)


# The venues ccxt has (4.5.90): BitMEX is no longer in it, so its refresher is measured alone.
CCXT_VENUES = ("kraken", "gemini", "hyperliquid", "okx", "binance", "gate", "bybit", "deribit")


def ccxt_run(function: str) -> Any:
    _aws_clients()
    if function == "kill":  # one cancel-all request per venue
        return [_ccxt_request(v, _ccxt_exchange(v)) for v in CCXT_VENUES]
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
