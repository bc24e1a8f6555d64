"""One Deribit (sub)account as the venue secret describes it (one entry of `accounts`, README:
Configure venues), its kill key, and the parsing of that entry: an unknown field is refused, never
dropped; a bad value is named, never shown."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deadman.core.secret import Secret
from deadman.venues import entries, urls
from deadman.venues.deribit.wire import BASE_URLS
from deadman.venues.entries import KeyPairAccount, KillCredentials

_ACCOUNT_FIELDS = frozenset({"account_id", "api_key", "api_secret", "environment", "base_url", "kill"})


@dataclass(frozen=True)
class Account(KeyPairAccount):
    account_id: str
    api_key: str  # Deribit's Client ID
    api_secret: Secret  # its Client Secret
    base_url: str = BASE_URLS["production"]
    kill: KillCredentials | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, secret_name: str, sandbox: bool = False) -> Account:
        """One entry of the Deribit secret's `accounts` list:

            {"account_id": "main",                   # label, required
             "api_key": "<Client ID>",               # required: an API key of the (sub)account
             "api_secret": "<Client Secret>",        # required, as Deribit shows it (once)
             "environment": "production",            # optional: "production" or "testnet"
             "base_url": "https://www.deribit.com",  # optional, scheme + host only; any other URL
                                                     # only with sandbox=True (deadman.venues.urls)
             "kill": {"api_key": "...", "api_secret": "..."}}  # optional: the kill path's own key

        The key needs the scope `trade:read_write` (cancel) - which includes `trade:read` (the open
        orders). A key sweeps the (sub)account it belongs to: each sub-account is an entry of its own.
        """
        entries.check_entry(data, _ACCOUNT_FIELDS, secret_name)
        account_id = entries.label(data, "account_id", secret_name, "account_id")
        # Taken as written: both travel as is in the auth request (a pasted newline is refused).
        api_key, api_secret = entries.token_pair(data, secret_name)
        base_url = BASE_URLS[
            entries.choice(data, "environment", tuple(BASE_URLS), secret_name) or "production"
        ]
        if data.get("base_url") is not None:  # an explicit override wins over environment
            base_url = urls.base_url(data, tuple(BASE_URLS.values()), "Deribit", sandbox, secret_name)
        return cls(
            account_id=account_id,
            api_key=api_key,
            api_secret=api_secret,
            base_url=base_url,
            kill=entries.kill_token_pair(data, secret_name),
        )

    def for_retiring(self) -> Account | None:
        return None  # orders belong to the (sub)account: a rotation needs nothing kept alive
