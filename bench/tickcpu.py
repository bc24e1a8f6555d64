"""Per-tick CPU, deadman against equivalents written on ccxt / hyperliquid-python-sdk / python-kraken-sdk:
`python bench/tickcpu.py INFO.json ROUNDS` (in .venv-bench), against `python -m sandbox.bench serve`.

A tick, on both sides, for one account of one venue, the trader alive:
- deadman: the refresher's real tick (`Refresher.tick`, built as the Lambda builds it): the strongly
  consistent liveness read, the switch read, the decision, the intent write, the nonce draw where the
  venue needs one, signing, the venue calls, the record and audit writes;
- the equivalent: the same liveness row read with boto3 (strongly consistent), alive or not decided,
  and the venue's timer requests signed, built and sent by the library: Kraken
  `CancelAllOrdersAfter` (ccxt, python-kraken-sdk), Gemini `/v1/heartbeat` (ccxt), Hyperliquid
  `scheduleCancel` (hyperliquid-python-sdk's `Exchange.schedule_cancel`, ccxt's
  `cancel_all_orders_after`), OKX `cancel-all-after` (ccxt.okx), Binance `countdownCancelAll` per
  symbol (ccxt.binanceusdm), Gate `countdown_cancel_all` per market, spot and futures (ccxt.gate).
  BitMEX has no equivalent: ccxt no longer has it. Their own keys on the simulators, so no nonce is
  shared with deadman's. Every simulator checks real signatures: a library request it accepts is a
  cross-check of deadman's wire format, and one it refuses is reported under `errors`;
- the same calls (`SameCalls`): the requests deadman's tick makes, counted on a tick of its own, made
  with boto3 and the library.

A venue with no timer (Bybit, Deribit: watchdog and kill only) is sent nothing on a healthy tick, so no
library has a call to make there: deadman's tick is set against the same DynamoDB calls on boto3
alone (`NO_VENUE_CALL`), and its ccxt comparison is the cold start of the cancel-all a death sends
(bench/coldstart.py).

Everything is sent to the sandbox's simulators and moto, which run in another process: this process's
CPU time (`time.process_time`, every thread of it) is the tick's own. Rounds are interleaved (each
round runs every implementation of every venue once, in rotating order, the beat written outside the
timed part; a round lasts a second at least); round 0 warms connections and caches and is dropped.
Output: one JSON object.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import ours

MAX_STALENESS_MS = 20_000  # the template's defaults: the equivalents judge the row as deadman does
SKEW_MS = 5_000
TIMER_S = 60
# ccxt sleeps between calls to stay under a venue's rate limit (seconds, for Kraken): off, so the
# rounds are not slowed down; a sleep costs no CPU, so the figure is the same either way.
NO_THROTTLE = {"enableRateLimit": False}
TIMING_KEYS = ("MAX_STALENESS_S", "TICK_S", "GRACE_S", "SKEW_S", "RUN_SECONDS")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Equivalent:
    """Read the liveness row with boto3, decide, call the venue through `send(alive)`."""

    def __init__(self, table: str, system: str, send: Callable[[bool], Any]) -> None:
        import boto3

        self.dynamodb = boto3.client("dynamodb")
        self.table = table
        self.system = system
        self.send = send

    def __call__(self) -> Any:
        item = self.dynamodb.get_item(
            TableName=self.table, Key={"system": {"S": self.system}}, ConsistentRead=True
        ).get("Item")
        now = _now_ms()
        beat = int(item["beat_ms"]["N"]) if item else 0
        alive = bool(item) and item["state"]["S"] == "running" and -SKEW_MS <= now - beat <= MAX_STALENESS_MS
        return self.send(alive)


def _kraken_ccxt(url: str, key: dict[str, str]) -> Callable[[bool], Any]:
    import ccxt

    exchange = ccxt.kraken({"apiKey": key["api_key"], "secret": key["api_secret"], **NO_THROTTLE})
    exchange.urls["api"] = {"public": url, "private": url}

    def send(alive: bool) -> Any:
        if alive:
            return exchange.private_post_cancelallordersafter({"timeout": TIMER_S})
        return exchange.private_post_cancelall()

    return send


def _kraken_sdk(url: str, key: dict[str, str]) -> Callable[[bool], Any]:
    from kraken.spot import Trade

    trade = Trade(key=key["api_key"], secret=key["api_secret"], url=url)

    def send(alive: bool) -> Any:
        if alive:
            return trade.cancel_all_orders_after_x(timeout=TIMER_S)
        return trade.cancel_all_orders()

    return send


def _gemini_ccxt(url: str, key: dict[str, str]) -> Callable[[bool], Any]:
    import ccxt

    exchange = ccxt.gemini({"apiKey": key["api_key"], "secret": key["api_secret"], **NO_THROTTLE})
    exchange.urls["api"] = {"public": url, "private": url}

    def send(alive: bool) -> Any:
        if alive:
            return exchange.private_post_v1_heartbeat()
        return exchange.private_post_v1_order_cancel_all()

    return send


def _hyperliquid_sdk(url: str, key: dict[str, str]) -> Callable[[bool], Any]:
    import eth_account
    from hyperliquid.exchange import Exchange

    wallet = eth_account.Account.from_key(key["agent_private_key"])
    # The SDK reads the venue's metadata once when built (the simulator answers it), as in a Lambda.
    exchange = Exchange(wallet, base_url=url, account_address=key["address"])

    def send(alive: bool) -> Any:
        result = exchange.schedule_cancel(_now_ms() + TIMER_S * 1000 if alive else _now_ms() + 5_000)
        if result.get("status") != "ok":
            raise RuntimeError(str(result)[:200])
        return result

    return send


def _hyperliquid_ccxt(url: str, key: dict[str, str]) -> Callable[[bool], Any]:
    import ccxt

    exchange = ccxt.hyperliquid(
        {"walletAddress": key["address"], "privateKey": key["agent_private_key"], **NO_THROTTLE}
    )
    exchange.set_sandbox_mode(True)  # testnet signing (source "b"), as the simulator runs
    exchange.urls["api"] = {"public": url, "private": url}
    # ccxt loads every market before its first private call; the simulator does not serve all the
    # metadata that needs, and scheduleCancel names no market: start from an empty market list.
    exchange.set_markets({})

    def send(alive: bool) -> Any:
        result = exchange.cancel_all_orders_after(TIMER_S * 1000 if alive else 5_000)
        if result.get("status") != "ok":
            raise RuntimeError(str(result)[:200])
        return result

    return send


def _okx_ccxt(url: str, key: dict[str, Any]) -> Callable[[bool], Any]:
    import ccxt

    exchange = ccxt.okx(
        {"apiKey": key["api_key"], "secret": key["api_secret"], "password": key["passphrase"], **NO_THROTTLE}
    )
    exchange.urls["api"] = {"rest": url}
    # deadman's bench account has one account-level timer: one cancel-all-after a tick. The
    # simulator gives this key's account two tag timers on a shared sub-account: one of them, so that
    # ccxt makes one call too (a tag is one more body field, nothing else).
    scope = {"tag": key["tags"][0]} if key.get("tags") else {}

    def send(alive: bool) -> Any:
        answer = exchange.private_post_trade_cancel_all_after(
            {"timeOut": str(TIMER_S if alive else 10), **scope}
        )
        if answer.get("code") != "0":
            raise RuntimeError(str(answer)[:200])
        return answer

    return send


def _binance_ccxt(url: str, key: dict[str, Any]) -> Callable[[bool], Any]:
    import ccxt

    exchange = ccxt.binanceusdm({"apiKey": key["api_key"], "secret": key["api_secret"], **NO_THROTTLE})
    exchange.urls["api"] = {
        **exchange.urls["api"],
        "fapiPublic": f"{url}/fapi/v1",
        "fapiPrivate": f"{url}/fapi/v1",
    }
    symbols = key["symbols"]

    def send(alive: bool) -> Any:
        # A countdown per symbol, as deadman sends: Binance's timer is per (account, symbol).
        countdown = TIMER_S * 1000 if alive else 1_000
        return [
            exchange.fapiPrivatePostCountdownCancelAll({"symbol": symbol, "countdownTime": countdown})
            for symbol in symbols
        ]

    return send


def _gate_ccxt(url: str, key: dict[str, Any]) -> Callable[[bool], Any]:
    import ccxt

    exchange = ccxt.gate({"apiKey": key["api_key"], "secret": key["api_secret"], **NO_THROTTLE})
    exchange.urls["api"] = {
        kind: dict.fromkeys(hosts, f"{url}/api/v4") for kind, hosts in exchange.urls["api"].items()
    }
    markets = key["markets"]

    def send(alive: bool) -> Any:
        # A countdown per market of the account, as deadman sends: Gate's timers are per market.
        timeout = TIMER_S if alive else 5
        out = []
        for market in markets:
            if market == "spot":
                out.append(exchange.privateSpotPostCountdownCancelAll({"timeout": timeout}))
            else:
                settle = market.removeprefix("futures:")
                out.append(
                    exchange.privateFuturesPostSettleCountdownCancelAll(
                        {"settle": settle, "timeout": timeout}
                    )
                )
        return out

    return send


# venue -> library -> the venue's timer call made with it. BitMEX has none: it is no longer in ccxt.
EQUIVALENTS: dict[str, dict[str, Callable[[str, dict[str, Any]], Callable[[bool], Any]]]] = {
    "kraken": {"ccxt": _kraken_ccxt, "python-kraken-sdk": _kraken_sdk},
    "gemini": {"ccxt": _gemini_ccxt},
    "hyperliquid": {"hyperliquid-python-sdk": _hyperliquid_sdk, "ccxt": _hyperliquid_ccxt},
    "okx": {"ccxt": _okx_ccxt},
    "binance": {"ccxt": _binance_ccxt},
    "gate": {"ccxt": _gate_ccxt},
}
THEIR_KEYS = {"ccxt": "ccxt", "python-kraken-sdk": "krakensdk", "hyperliquid-python-sdk": "hlsdk"}


class DynamoOnly:
    """Not an equivalent: `calls` strongly consistent GetItems with boto3 and nothing else, as many
    DynamoDB calls as deadman's one-account tick makes. How much of that tick is boto3 alone."""

    def __init__(self, table: str, system: str, calls: int) -> None:
        import boto3

        self.dynamodb = boto3.client("dynamodb")
        self.key = {"system": {"S": system}}
        self.table = table
        self.calls = calls

    def __call__(self) -> Any:
        for _ in range(self.calls):
            self.dynamodb.get_item(TableName=self.table, Key=self.key, ConsistentRead=True)


DYNAMO_ONLY_CALLS = 5  # a one-account Kraken tick: liveness, switch, intent, nonce, record
DYNAMO_ONLY = f"boto3 alone: {DYNAMO_ONLY_CALLS} DynamoDB calls"


class SameCalls:
    """deadman's one-account tick made with the libraries: the same requests with the same payloads,
    through boto3 and the venue library. The liveness row read strongly consistent; a switch-shaped
    item (deadman's own fields, on a bench key of the ControlTable) read, written conditionally as
    the intent, a nonce counter drawn (where deadman's tick draws one: Kraken, Gemini, Hyperliquid),
    the item written again as the record; then the venue calls (one per timer the account has: per
    symbol at Binance, per market at Gate). What deadman's tick would cost built on the SDKs, where
    `Equivalent` is a script that keeps none of its promises."""

    def __init__(
        self,
        env: dict[str, str],
        system: str,
        label: str,
        send: Callable[[bool], Any] | None,
        *,
        nonce: bool,
    ) -> None:
        import boto3

        self.db = boto3.client("dynamodb")
        self.liveness = env["LIVENESS_TABLE"]
        self.control = env["CONTROL_TABLE"]
        self.system = system
        self.key = {"pk": {"S": "BENCH#same-calls"}, "sk": {"S": label}}
        self.nonce_key = {"pk": {"S": "BENCH#nonce"}, "sk": {"S": label}}
        self.label = label
        self.send = send
        self.nonce = nonce

    def _write(self, version: int) -> None:
        item = {**ours.switch_item("bench", self.label, version), **self.key}
        self.db.put_item(
            TableName=self.control,
            Item=item,
            ConditionExpression="attribute_not_exists(pk) OR version = :v",
            ExpressionAttributeValues={":v": {"N": str(version - 1)}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )

    def __call__(self) -> Any:
        self.db.get_item(TableName=self.liveness, Key={"system": {"S": self.system}}, ConsistentRead=True)
        found = self.db.get_item(TableName=self.control, Key=self.key, ConsistentRead=True).get("Item")
        version = int(found["version"]["N"]) if found else 0
        if self.send is None:  # no venue call (no timer): no intent before it, the record alone
            self._write(version + 1)
            return None
        self._write(version + 1)  # the intent
        if self.nonce:
            self.db.update_item(
                TableName=self.control,
                Key=self.nonce_key,
                UpdateExpression="ADD n :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="ALL_NEW",
            )
        answer = self.send(True)
        self._write(version + 2)  # the record
        return answer


def same_calls_label(library: str, calls: int) -> str:
    return f"same {calls} calls on boto3 + {library}"


def no_venue_call_label(calls: int) -> str:
    """A venue with no timer: deadman's healthy tick is DynamoDB calls only (the liveness and switch
    reads, the record), made here with boto3 alone."""
    return f"same {calls} DynamoDB calls on boto3"


class DeadmanCalls:
    """deadman's own calls in one tick (AWS by operation, and venue requests), counted on its clients:
    what `SameCalls` makes for that venue."""

    def __init__(self) -> None:
        self.aws: Counter[str] = Counter()
        self.venue = 0
        self.active = False
        ours.count_calls(on_aws=self._on_aws, on_venue=self._on_venue)

    def _on_aws(self, name: str) -> None:
        if self.active:
            self.aws[name] += 1

    def _on_venue(self) -> None:
        if self.active:
            self.venue += 1

    def of(self, tick: Callable[[], Any]) -> tuple[Counter[str], int]:
        self.aws, self.venue, self.active = Counter(), 0, True
        try:
            tick()
        finally:
            self.active = False
        return self.aws, self.venue


# An implementation's call starts a second at least after its previous one ended (the wait untimed):
# OKX takes one cancel-all-after a second per scope, and production ticks are T (10 s) apart anyway.
# Counted per implementation from its own last call: padding each round to a second is not enough,
# since the calls before it in the (rotating) round vary.
SPACING_S = 1.05


def build(
    info: dict[str, Any], beat: Callable[[], None] = lambda: None
) -> tuple[dict[tuple[str, str], Callable[[], Any]], dict[str, str]]:
    env = info["env"]
    tables = env["LIVENESS_TABLE"]
    impls: dict[tuple[str, str], Callable[[], Any]] = {}
    errors: dict[str, str] = {}
    counter = DeadmanCalls()
    for venue in ours.venues():
        first = info["secret_values"][venue]["accounts"][0]["account_id"]
        refresher = ours.refresher(venue)
        impls[(venue, "deadman")] = partial(refresher.tick, only=frozenset({first}))
        beat()
        impls[(venue, "deadman")]()  # the first tick reads the secret and may create the switch
    time.sleep(SPACING_S)
    for venue in ours.venues():
        beat()
        # A steady tick counted (not timed): the same calls are made after it.
        aws, venue_calls = counter.of(impls[(venue, "deadman")])
        dynamo = sum(n for name, n in aws.items() if name.startswith("dynamodb."))
        nonce = aws.get("dynamodb.UpdateItem", 0) > 0
        if not ours.has_timer(venue):
            label = no_venue_call_label(dynamo + venue_calls)
            impls[(venue, label)] = SameCalls(env, info["system"], f"{venue}/boto3", None, nonce=nonce)
        for label, make in EQUIVALENTS.get(venue, {}).items():
            theirs = info["theirs"][venue]
            try:
                send = make(info["sims"][venue], theirs[THEIR_KEYS[label]])
                impls[(venue, label)] = Equivalent(tables, info["system"], send)
                # A key of its own, so that its nonces and per-key limits are not the equivalent's.
                same_send = make(info["sims"][venue], theirs[f"{THEIR_KEYS[label]}-same"])
                same = same_calls_label(label, dynamo + venue_calls)
                impls[(venue, same)] = SameCalls(
                    env, info["system"], f"{venue}/{label}", same_send, nonce=nonce
                )
            except Exception as exc:  # a library that cannot talk to the simulator is reported
                errors[f"{venue}/{label}"] = f"{type(exc).__name__}: {exc}"[:200]
    impls[("kraken", DYNAMO_ONLY)] = DynamoOnly(tables, info["system"], DYNAMO_ONLY_CALLS)
    return impls, errors


def healthy(report: Any, *, timer: bool) -> bool:
    """The tick measured is the steady one: no error; the timer extended, or with no timer (nothing
    to extend) every account judged alive and nothing swept."""
    if report.error or not report.accounts or any(a.error for a in report.accounts):
        return False
    if timer:
        return any(a.extended_to_ms for a in report.accounts)
    return all(a.decision is not None and not (a.decision.dead or a.decision.sweep) for a in report.accounts)


def measure(info: dict[str, Any], rounds: int) -> dict[str, Any]:
    os.environ.update(info["env"])
    for key in TIMING_KEYS:  # the template's defaults (S 20, T 10, G 15, K 5), not the sandbox's
        os.environ.pop(key, None)
    beats = ours.Beats(info["env"]["LIVENESS_TABLE"])
    impls, errors = build(info, lambda: beats.beat(info["system"]))
    timers = {venue: ours.has_timer(venue) for venue, _label in impls}
    ended: dict[tuple[str, str], float] = dict.fromkeys(impls, time.monotonic())
    cpu: dict[tuple[str, str], list[float]] = {k: [] for k in impls}
    wall: dict[tuple[str, str], list[float]] = {k: [] for k in impls}
    names = list(impls)
    for r in range(rounds + 1):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            if f"{name[0]}/{name[1]}" in errors:
                continue
            time.sleep(max(0.0, ended[name] + SPACING_S - time.monotonic()))
            beats.beat(info["system"])
            c0, w0 = time.process_time(), time.perf_counter()
            try:
                report = impls[name]()
            except Exception as exc:
                errors[f"{name[0]}/{name[1]}"] = f"{type(exc).__name__}: {exc}"[:200]
                continue
            c1, w1 = time.process_time(), time.perf_counter()
            ended[name] = time.monotonic()
            if name[1] == "deadman" and not healthy(report, timer=timers[name[0]]):
                failed = [a.error for a in report.accounts if a.error] or [report.error]
                errors[f"{name[0]}/deadman"] = f"not a healthy tick: {failed}"[:200]
                continue
            if r:
                cpu[name].append((c1 - c0) * 1000)
                wall[name].append((w1 - w0) * 1000)
    out: dict[str, Any] = {"rounds": rounds, "errors": errors, "venues": {}}
    for (venue, label), values in cpu.items():
        if values:
            out["venues"].setdefault(venue, {})[label] = {
                "cpu_ms_median": statistics.median(values),
                "wall_ms_median": statistics.median(wall[(venue, label)]),
            }
    return out


if __name__ == "__main__":
    info = json.loads(Path(sys.argv[1]).read_text())
    print(json.dumps(measure(info, int(sys.argv[2]) if len(sys.argv) > 2 else 30)))
