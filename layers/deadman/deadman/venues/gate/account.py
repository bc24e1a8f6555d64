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
from dataclasses import dataclass, replace
from typing import Any

from deadman.core.errors import CredentialsError
from deadman.core.secret import Secret
from deadman.venues import urls
from deadman.venues.gate.wire import BASE_URLS, LIVE_URL, MARKETS

_ACCOUNT_FIELDS = frozenset(
    {"account_id", "api_key", "api_secret", "markets", "pairs", "unified", "base_url", "kill"}
)
_KILL_FIELDS = frozenset({"api_key", "api_secret"})
# Gate's pair and contract names (BTC_USDT, 1INCH_USDT): upper-case letters, digits, underscores.
_SYMBOL = re.compile(r"[A-Z0-9]+(?:_[A-Z0-9]+)+")


@dataclass(frozen=True)
class KillCredentials:
    api_key: str
    api_secret: Secret


@dataclass(frozen=True)
class Account:
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
        if not isinstance(data, Mapping):
            raise CredentialsError(secret_name, "accounts[]", "must be an object")
        # Unknown fields are refused: a misspelt "kill" or "pairs" would otherwise be dropped silently.
        for name in data:
            if name not in _ACCOUNT_FIELDS:
                raise CredentialsError(secret_name, str(name), "is not a known field")
        account_id = _text(data, "account_id", secret_name, "account_id")
        markets = _markets(data.get("markets"), secret_name)
        pairs = _pairs(data.get("pairs"), markets, secret_name)
        unified = data.get("unified", False)
        if not isinstance(unified, bool):
            raise CredentialsError(secret_name, "unified", "must be true or false")
        base_url = LIVE_URL
        if data.get("base_url") is not None:
            base_url = urls.base_url(data, BASE_URLS, "Gate", sandbox, secret_name)
            if base_url == "https://fx-api.gateio.ws" and "spot" in markets:
                raise CredentialsError(
                    secret_name, "base_url", "fx-api.gateio.ws serves futures only, not spot"
                )
        kill = None
        if data.get("kill") is not None:
            raw = data["kill"]
            if not isinstance(raw, Mapping):
                raise CredentialsError(secret_name, "kill", "must be an object with api_key and api_secret")
            for name in raw:
                if name not in _KILL_FIELDS:
                    raise CredentialsError(secret_name, f"kill.{name}", "is not a known field")
            kill = KillCredentials(
                _key(raw, "api_key", secret_name, "kill.api_key"),
                Secret(_key(raw, "api_secret", secret_name, "kill.api_secret")),
            )
        return cls(
            account_id=account_id,
            api_key=_key(data, "api_key", secret_name, "api_key"),
            api_secret=Secret(_key(data, "api_secret", secret_name, "api_secret")),
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

    @property
    def has_kill_key(self) -> bool:
        return self.kill is not None

    def for_kill(self) -> Account:
        if self.kill is None:
            return self
        return replace(self, api_key=self.kill.api_key, api_secret=self.kill.api_secret, kill=None)

    def for_retiring(self) -> None:
        return None  # timers and orders are the UID's, not a key's: a rotation keeps nothing alive


def _text(data: Mapping[str, Any], key: str, secret_name: str, field: str) -> str:
    value = data.get(key)
    if value is None:
        raise CredentialsError(secret_name, field, "is missing")
    if not isinstance(value, str) or not value.strip():
        raise CredentialsError(secret_name, field, "must be a non-empty string")
    if not value.isprintable():
        raise CredentialsError(secret_name, field, "must not hold control characters")
    return value.strip()


def _key(data: Mapping[str, Any], key: str, secret_name: str, field: str) -> str:
    """A key or secret as Gate shows it: it travels in a header or keys the HMAC as its text, so a
    pasted space, newline or control character would break every request rather than sign it."""
    value = data.get(key)
    if value is None:
        raise CredentialsError(secret_name, field, "is missing")
    if not isinstance(value, str) or not value:
        raise CredentialsError(secret_name, field, "must be a non-empty string")
    if not value.isascii() or not value.isprintable() or any(c.isspace() for c in value):
        raise CredentialsError(
            secret_name, field, "must be printable ASCII without spaces or control characters"
        )
    return value


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
