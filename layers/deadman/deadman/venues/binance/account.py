"""The Binance secret's account entry: the market, the key, the symbols whose countdown the fleet
keeps pushed, and an optional kill key (README, Configure venues)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from deadman.core.errors import CredentialsError
from deadman.core.secret import Secret
from deadman.venues import urls
from deadman.venues.binance.wire import MARKETS, MAX_SYMBOLS, SYMBOL, Market

_FIELDS = frozenset({"account_id", "market", "api_key", "api_secret", "symbols", "base_url", "kill"})


@dataclass(frozen=True)
class KillCredentials:
    api_key: str
    api_secret: Secret


@dataclass(frozen=True)
class Account:
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
        if not isinstance(data, Mapping):
            raise CredentialsError(secret_name, "accounts[]", "must be an object")
        for name in data:
            if name not in _FIELDS:
                # A misspelt "kill" or "symbol" would otherwise silently drop what it names.
                raise CredentialsError(secret_name, str(name), "is not a known field")
        account_id = _text(data, "account_id", secret_name, "account_id")
        raw_market = _text(data, "market", secret_name, "market")
        if raw_market not in MARKETS:
            raise CredentialsError(secret_name, "market", f"must be one of {', '.join(sorted(MARKETS))}")
        market = MARKETS[raw_market]
        base_url = market.production
        if data.get("base_url") is not None:
            base_url = urls.base_url(data, market.official, "Binance", sandbox, secret_name)
        kill = None
        raw_kill = data.get("kill")
        if raw_kill is not None:
            if not isinstance(raw_kill, Mapping):
                raise CredentialsError(secret_name, "kill", "must be an object with api_key and api_secret")
            for name in raw_kill:
                if name not in ("api_key", "api_secret"):
                    raise CredentialsError(secret_name, f"kill.{name}", "is not a known field")
            kill = KillCredentials(
                _text(raw_kill, "api_key", secret_name, "kill.api_key"),
                Secret(_text(raw_kill, "api_secret", secret_name, "kill.api_secret")),
            )
        return cls(
            account_id=account_id,
            market=market,
            api_key=_text(data, "api_key", secret_name, "api_key"),
            api_secret=Secret(_text(data, "api_secret", secret_name, "api_secret")),
            symbols=_symbols(data, secret_name),
            base_url=base_url,
            kill=kill,
        )

    @property
    def has_kill_key(self) -> bool:
        return self.kill is not None

    def for_kill(self) -> Account:
        if self.kill is None:
            return self
        return replace(self, api_key=self.kill.api_key, api_secret=self.kill.api_secret, kill=None)

    def for_retiring(self) -> None:
        return None  # orders and countdowns belong to the account, not the key: nothing to keep alive


def _text(data: Mapping[str, Any], key: str, secret_name: str, field: str) -> str:
    value = data.get(key)
    if value is None:
        raise CredentialsError(secret_name, field, "is missing")
    if not isinstance(value, str) or not value.strip():
        raise CredentialsError(secret_name, field, "must be a non-empty string")
    value = value.strip()
    if not value.isascii() or not value.isprintable() or " " in value:
        # A key goes into a header: a control character would split it, and no Binance key has one.
        raise CredentialsError(
            secret_name, field, "must be printable ASCII without spaces or control characters"
        )
    return value


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
