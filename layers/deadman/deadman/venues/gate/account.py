"""One Gate account as the venue secret describes it (one entry of `accounts`, README: Configure
venues): its key, the markets whose timers the fleet keeps pushed, the pairs or contracts those
timers are narrowed to, and its kill key. An unknown field is refused, never dropped.

A Gate key acts for one UID (the main account or a sub-account); its countdown timers belong to that
UID, one per market (spot, each futures settle currency) and, where named, per pair or contract.
Whichever key of the UID sets a timer, it is the UID's: a kill key of the same UID needs nothing
kept alive, so no rotation does either."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deadman.core.errors import CredentialsError
from deadman.core.secret import Secret
from deadman.venues import entries, urls
from deadman.venues.entries import KeyPairAccount, KillCredentials
from deadman.venues.gate.wire import BASE_URLS, LIVE_URL, MARKETS

_ACCOUNT_FIELDS = frozenset(
    {"account_id", "api_key", "api_secret", "markets", "pairs", "unified", "base_url", "kill"}
)
# Gate's pair and contract names (BTC_USDT, 1INCH_USDT): upper-case letters, digits, underscores.
_SYMBOL = re.compile(r"[A-Z0-9]+(?:_[A-Z0-9]+)+")


@dataclass(frozen=True)
class Account(KeyPairAccount):
    account_id: str
    api_key: str
    api_secret: Secret
    markets: tuple[str, ...]
    # market -> the pairs (spot) or contracts (futures) its timers are narrowed to; a market not
    # named here has one timer over the whole market.
    pairs: Mapping[str, tuple[str, ...]]
    # Spot price-triggered orders of a unified account are reached only with `account=unified`.
    unified: bool = False
    base_url: str = LIVE_URL
    kill: KillCredentials | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, secret_name: str, sandbox: bool = False) -> Account:
        """One entry of the Gate secret's `accounts` list:

            {"account_id": "main",                       # label, required
             "api_key": "<APIv4 key>",                   # required
             "api_secret": "<APIv4 secret>",             # required, as Gate shows it
             "markets": ["spot", "futures:usdt"],        # required: spot, futures:usdt, futures:btc
             "pairs": {"futures:usdt": ["BTC_USDT"]},    # optional: narrow a market's timer
             "unified": false,                           # optional: a unified account
             "base_url": "https://api.gateio.ws",        # optional, Gate's own hosts only outside
                                                         # the sandbox (deadman.venues.urls)
             "kill": {"api_key": "...", "api_secret": "..."}}  # optional: the kill path's own key

        Keys need read-write on every product group of the markets named (spot, perpetual futures).
        """
        # A misspelt "kill" or "pairs" would otherwise be dropped silently.
        entries.check_entry(data, _ACCOUNT_FIELDS, secret_name)
        account_id = entries.label(data, "account_id", secret_name, "account_id")
        markets = _markets(data.get("markets"), secret_name)
        pairs = _pairs(data.get("pairs"), markets, secret_name)
        unified = entries.flag(data, "unified", secret_name)
        base_url = LIVE_URL
        if data.get("base_url") is not None:
            base_url = urls.base_url(data, BASE_URLS, "Gate", sandbox, secret_name)
            if base_url == "https://fx-api.gateio.ws" and "spot" in markets:
                raise CredentialsError(
                    secret_name, "base_url", "fx-api.gateio.ws serves futures only, not spot"
                )
        # Gate's key and secret are taken as written: the HMAC keys on the text itself.
        kill = entries.kill_token_pair(data, secret_name)
        api_key, api_secret = entries.token_pair(data, secret_name)
        return cls(
            account_id=account_id,
            api_key=api_key,
            api_secret=api_secret,
            markets=markets,
            pairs=pairs,
            unified=unified,
            base_url=base_url,
            kill=kill,
        )

    @property
    def timer_scopes(self) -> tuple[tuple[str, str | None], ...]:
        """Every timer the fleet keeps: (market, pair or contract, or None for the whole market)."""
        return tuple((m, p) for m in self.markets for p in (self.pairs.get(m) or (None,)))

    def for_retiring(self) -> None:
        return None  # timers and orders are the UID's, not a key's: a rotation keeps nothing alive


def _markets(raw: Any, secret_name: str) -> tuple[str, ...]:
    known = ", ".join(MARKETS)
    if raw is None:
        raise CredentialsError(secret_name, "markets", f"is missing (a list of: {known})")
    if not isinstance(raw, list) or not raw:
        raise CredentialsError(secret_name, "markets", f"must be a non-empty list of: {known}")
    for market in raw:
        if market not in MARKETS:
            raise CredentialsError(secret_name, "markets", f"must name only: {known}")
    if len(set(raw)) != len(raw):
        raise CredentialsError(secret_name, "markets", "names a market twice")
    return tuple(raw)


def _pairs(raw: Any, markets: tuple[str, ...], secret_name: str) -> Mapping[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise CredentialsError(
            secret_name, "pairs", "must be an object: market -> list of pairs or contracts"
        )
    out: dict[str, tuple[str, ...]] = {}
    for market, names in raw.items():
        field = f"pairs.{market}"
        if market not in markets:
            raise CredentialsError(secret_name, field, "names a market not in 'markets'")
        if not isinstance(names, list) or not names:
            raise CredentialsError(
                secret_name, field, "must be a non-empty list (leave the market out for all)"
            )
        for name in names:
            if not isinstance(name, str) or not _SYMBOL.fullmatch(name):
                raise CredentialsError(secret_name, field, "must hold names like BTC_USDT")
        if len(set(names)) != len(names):
            raise CredentialsError(secret_name, field, "names a pair twice")
        out[str(market)] = tuple(names)
    return out
