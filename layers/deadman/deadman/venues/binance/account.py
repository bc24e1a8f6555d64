"""The Binance secret's account entry: the market, the key, the symbols whose countdown the fleet
keeps pushed, and an optional kill key (README, Configure venues)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deadman.core.errors import CredentialsError
from deadman.core.secret import Secret
from deadman.venues import entries, urls
from deadman.venues.binance.wire import MARKETS, MAX_SYMBOLS, SYMBOL, Market
from deadman.venues.entries import KeyPairAccount, KillCredentials

_FIELDS = frozenset({"account_id", "market", "api_key", "api_secret", "symbols", "base_url", "kill"})


@dataclass(frozen=True)
class Account(KeyPairAccount):
    account_id: str
    market: Market
    api_key: str
    api_secret: Secret
    symbols: tuple[str, ...]
    base_url: str
    kill: KillCredentials | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, secret_name: str, sandbox: bool = False) -> Account:
        """One entry of the Binance secret's `accounts` list:

            {"account_id": "perps",                  # label, required
             "market": "usdm",                        # "usdm" (fapi) or "coinm" (dapi), required
             "api_key": "<API key>",                  # required
             "api_secret": "<HMAC secret key>",       # required (HMAC keys only)
             "symbols": ["BTCUSDT", "ETHUSDT"],       # the symbols whose countdown is kept pushed
             "base_url": "https://fapi.binance.com",  # optional: the market's own or testnet host;
                                                      # any other only with sandbox=True
             "kill": {"api_key": "...", "api_secret": "..."}}  # optional: the kill path's own key

        The countdown is per symbol: a symbol not in `symbols` has no native timer, and its orders
        are swept by the watchdog alone. Keys need futures trading enabled (countdown, cancels) and
        read access (listing open orders). Any other field is refused."""
        # A misspelt "kill" or "symbol" would otherwise silently drop what it names.
        entries.check_entry(data, _FIELDS, secret_name)
        # Every field is stripped, then held to a key's characters: each goes into a header or an
        # HMAC, and no Binance key or label holds a space or a control character.
        account_id = entries.token(data, "account_id", secret_name, "account_id", strip=True)
        market = MARKETS[
            entries.choice(data, "market", sorted(MARKETS), secret_name, required=True, strip=True)
        ]
        base_url = market.production
        if data.get("base_url") is not None:
            base_url = urls.base_url(data, market.official, "Binance", sandbox, secret_name)
        kill = entries.kill_token_pair(data, secret_name, strip=True)
        api_key, api_secret = entries.token_pair(data, secret_name, strip=True)
        return cls(
            account_id=account_id,
            market=market,
            api_key=api_key,
            api_secret=api_secret,
            symbols=_symbols(data, secret_name),
            base_url=base_url,
            kill=kill,
        )

    def for_retiring(self) -> None:
        return None  # orders and countdowns belong to the account, not the key: nothing to keep alive


def _symbols(data: Mapping[str, Any], secret_name: str) -> tuple[str, ...]:
    raw = data.get("symbols")
    if raw is None:
        raise CredentialsError(
            secret_name, "symbols", "is missing (the symbols whose countdown is kept pushed)"
        )
    if not isinstance(raw, list) or not raw:
        raise CredentialsError(
            secret_name, "symbols", 'must be a non-empty list of symbols, e.g. ["BTCUSDT"]'
        )
    if len(raw) > MAX_SYMBOLS:
        raise CredentialsError(
            secret_name,
            "symbols",
            f"lists {len(raw)}: at most {MAX_SYMBOLS} (each costs 10 request weight a tick)",
        )
    symbols: list[str] = []
    for i, item in enumerate(raw):
        if not isinstance(item, str) or not SYMBOL.match(item):
            raise CredentialsError(
                secret_name, f"symbols[{i}]", "must be a symbol as Binance spells it (BTCUSDT, BTCUSD_PERP)"
            )
        if item in symbols:
            raise CredentialsError(secret_name, f"symbols[{i}]", "is listed twice")
        symbols.append(item)
    return tuple(symbols)
