"""One Bybit account as the venue secret describes it (one entry of `accounts`, README: Configure
venues): its key, the categories it trades (each swept), the coins that reach its futures' orders,
and its kill key. An unknown field is refused, never dropped.

A Bybit key acts for one UID (the main account or a sub-account); its orders are the UID's, whichever
key placed them, so a rotation keeps nothing alive."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deadman.core.errors import CredentialsError
from deadman.core.secret import Secret
from deadman.venues import entries, urls
from deadman.venues.bybit.wire import BASE_URLS, CATEGORIES, LIVE_URL, SPOT_FILTERS
from deadman.venues.entries import KeyPairAccount, KillCredentials

_ACCOUNT_FIELDS = frozenset(
    {"account_id", "api_key", "api_secret", "categories", "settle_coins", "inverse_coins", "base_url", "kill"}
)
_COIN = re.compile(r"[A-Z0-9]{2,12}")
# Linear contracts settle in USDT or USDC: both are swept unless the secret narrows them.
DEFAULT_SETTLE_COINS = ("USDT", "USDC")

Selector = tuple[str, str] | None  # a cancel-all's narrowing parameter; None: the whole category


@dataclass(frozen=True)
class Account(KeyPairAccount):
    account_id: str
    api_key: str
    api_secret: Secret
    categories: tuple[str, ...]
    settle_coins: tuple[str, ...] = DEFAULT_SETTLE_COINS
    inverse_coins: tuple[str, ...] = ()
    base_url: str = LIVE_URL
    kill: KillCredentials | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, secret_name: str, sandbox: bool = False) -> Account:
        """One entry of the Bybit secret's `accounts` list:

            {"account_id": "main",                          # label, required
             "api_key": "...", "api_secret": "...",         # required (a system-generated HMAC key)
             "categories": ["linear", "spot"],              # required: linear, inverse, spot, option
             "settle_coins": ["USDT", "USDC"],              # optional: linear's settle coins (both)
             "inverse_coins": ["BTC", "ETH"],               # required with inverse: its base coins
             "base_url": "https://api.bybit.com",           # optional, Bybit's own hosts only
             "kill": {"api_key": "...", "api_secret": "..."}}  # optional: the kill path's own key

        The key needs the trade permission of every category named (Orders for contracts and
        options, Trade for spot)."""
        entries.check_entry(data, _ACCOUNT_FIELDS, secret_name)
        account_id = entries.label(data, "account_id", secret_name, "account_id")
        categories = _names(data.get("categories"), "categories", CATEGORIES, secret_name, required=True)
        settle = _coins(data.get("settle_coins"), "settle_coins", secret_name) or DEFAULT_SETTLE_COINS
        inverse = _coins(data.get("inverse_coins"), "inverse_coins", secret_name)
        if "inverse" in categories and not inverse:
            # Bybit's inverse cancel-all wants a symbol, a base coin or a settle coin: a coin not
            # named would never be swept.
            raise CredentialsError(secret_name, "inverse_coins", "is required with inverse (e.g. ['BTC'])")
        if inverse and "inverse" not in categories:
            raise CredentialsError(secret_name, "inverse_coins", "names coins, but categories has no inverse")
        base_url = LIVE_URL
        if data.get("base_url") is not None:
            base_url = urls.base_url(data, BASE_URLS, "Bybit", sandbox, secret_name)
        # The HMAC keys on the secret's text itself: taken as written.
        kill = entries.kill_token_pair(data, secret_name)
        api_key, api_secret = entries.token_pair(data, secret_name)
        return cls(
            account_id=account_id,
            api_key=api_key,
            api_secret=api_secret,
            categories=categories,
            settle_coins=settle,
            inverse_coins=inverse,
            base_url=base_url,
            kill=kill,
        )

    @property
    def scopes(self) -> tuple[tuple[str, Selector], ...]:
        """Every (category, selector) a sweep cancels and a listing reads: linear per settle coin,
        inverse per base coin, spot per order kind (its cancel-all takes one kind a call), option
        whole."""
        out: list[tuple[str, Selector]] = []
        for category in self.categories:
            if category == "linear":
                out += [(category, ("settleCoin", c)) for c in self.settle_coins]
            elif category == "inverse":
                out += [(category, ("baseCoin", c)) for c in self.inverse_coins]
            elif category == "spot":
                out += [(category, ("orderFilter", f)) for f in SPOT_FILTERS]
            else:
                out.append((category, None))
        return tuple(out)

    def for_retiring(self) -> None:
        return None  # orders are the UID's, not a key's: a rotation keeps nothing alive


def _names(
    raw: Any, field: str, allowed: tuple[str, ...], secret_name: str, *, required: bool
) -> tuple[str, ...]:
    known = ", ".join(allowed)
    if raw is None and not required:
        return ()
    if not isinstance(raw, list) or not raw or not all(isinstance(n, str) and n in allowed for n in raw):
        raise CredentialsError(secret_name, field, f"must be a non-empty list of: {known}")
    if len(set(raw)) != len(raw):
        raise CredentialsError(secret_name, field, "names one twice")
    return tuple(raw)


def _coins(raw: Any, field: str, secret_name: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if (
        not isinstance(raw, list)
        or not raw
        or not all(isinstance(c, str) and _COIN.fullmatch(c) for c in raw)
    ):
        raise CredentialsError(secret_name, field, "must be a non-empty list of coins like USDT or BTC")
    if len(set(raw)) != len(raw):
        raise CredentialsError(secret_name, field, "names a coin twice")
    return tuple(raw)
