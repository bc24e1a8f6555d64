"""One BitMEX account as the venue secret describes it (one entry of `accounts`, README: Configure
venues), its kill key, and the parsing of that entry: an unknown field is refused, never dropped."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deadman.core.secret import Secret
from deadman.venues import entries, urls
from deadman.venues.bitmex.wire import BASE_URLS
from deadman.venues.entries import KeyPairAccount, KillCredentials

_ACCOUNT_FIELDS = frozenset({"account_id", "api_key", "api_secret", "environment", "base_url", "kill"})


@dataclass(frozen=True)
class Account(KeyPairAccount):
    account_id: str
    api_key: str
    api_secret: Secret
    base_url: str = BASE_URLS["production"]
    kill: KillCredentials | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, secret_name: str, sandbox: bool = False) -> Account:
        """One entry of the BitMEX secret's `accounts` list:

            {"account_id": "main",                  # label, required
             "api_key": "<key id>",                 # required: an orderCancel key of the account
             "api_secret": "<secret>",              # required, as BitMEX shows it
             "environment": "production",           # optional: "production" or "testnet"
             "base_url": "https://www.bitmex.com",  # optional, scheme + host only; any other URL
                                                    # only with sandbox=True (deadman.venues.urls)
             "kill": {"api_key": "...", "api_secret": "..."}}  # optional: the kill path's own key

        An `orderCancel` key moves the timer and cancels (BitMEX: "Only /order/cancel,
        /order/cancelAll and /order/cancelAllAfter ... are usable"); reads need no permission.
        """
        entries.check_entry(data, _ACCOUNT_FIELDS, secret_name)
        account_id = entries.label(data, "account_id", secret_name, "account_id")
        # The key and secret are taken as written: the HMAC keys on the text itself.
        api_key, api_secret = entries.token_pair(data, secret_name)
        base_url = BASE_URLS[
            entries.choice(data, "environment", tuple(BASE_URLS), secret_name) or "production"
        ]
        if data.get("base_url") is not None:  # explicit override wins over environment
            base_url = urls.base_url(data, tuple(BASE_URLS.values()), "BitMEX", sandbox, secret_name)
        kill = entries.kill_token_pair(data, secret_name)
        return cls(
            account_id=account_id, api_key=api_key, api_secret=api_secret, base_url=base_url, kill=kill
        )

    def for_retiring(self) -> None:
        return None  # the timer and the orders are the account's: a rotation needs nothing kept alive
