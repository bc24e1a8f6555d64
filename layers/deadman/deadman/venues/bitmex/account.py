"""One BitMEX account as the venue secret describes it (one entry of `accounts`, README: Configure
venues), its kill key, and the parsing of that entry: an unknown field is refused, never dropped."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from deadman.core.errors import CredentialsError
from deadman.core.secret import Secret
from deadman.venues import urls
from deadman.venues.bitmex.wire import BASE_URLS

_ACCOUNT_FIELDS = frozenset({"account_id", "api_key", "api_secret", "environment", "base_url", "kill"})
_KILL_FIELDS = frozenset({"api_key", "api_secret"})


@dataclass(frozen=True)
class KillCredentials:
    api_key: str
    api_secret: Secret


@dataclass(frozen=True)
class Account:
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
        if not isinstance(data, Mapping):
            raise CredentialsError(secret_name, "accounts[]", "must be an object")
        # Unknown fields are refused: a misspelt "kill" would otherwise silently drop the kill key.
        for name in data:
            if name not in _ACCOUNT_FIELDS:
                raise CredentialsError(secret_name, str(name), "is not a known field")
        account_id = _text(data, "account_id", secret_name, "account_id")
        api_key = _token(data, "api_key", secret_name, "api_key")
        api_secret = Secret(_token(data, "api_secret", secret_name, "api_secret"))
        base_url = BASE_URLS["production"]
        if data.get("environment") is not None:
            environment = data["environment"]
            if environment not in BASE_URLS:
                raise CredentialsError(secret_name, "environment", f"must be one of: {', '.join(BASE_URLS)}")
            base_url = BASE_URLS[environment]
        if data.get("base_url") is not None:  # explicit override wins over environment
            base_url = urls.base_url(data, tuple(BASE_URLS.values()), "BitMEX", sandbox, secret_name)
        kill = None
        raw_kill = data.get("kill")
        if raw_kill is not None:
            if not isinstance(raw_kill, Mapping):
                raise CredentialsError(secret_name, "kill", "must be an object with api_key and api_secret")
            for name in raw_kill:
                if name not in _KILL_FIELDS:
                    raise CredentialsError(secret_name, f"kill.{name}", "is not a known field")
            kill = KillCredentials(
                api_key=_token(raw_kill, "api_key", secret_name, "kill.api_key"),
                api_secret=Secret(_token(raw_kill, "api_secret", secret_name, "kill.api_secret")),
            )
        return cls(
            account_id=account_id, api_key=api_key, api_secret=api_secret, base_url=base_url, kill=kill
        )

    @property
    def has_kill_key(self) -> bool:
        return self.kill is not None

    def for_kill(self) -> Account:
        if self.kill is None:
            return self
        return replace(self, api_key=self.kill.api_key, api_secret=self.kill.api_secret, kill=None)

    def for_retiring(self) -> None:
        return None  # the timer and the orders are the account's: a rotation needs nothing kept alive


def _text(data: Mapping[str, Any], key: str, secret_name: str, field: str) -> str:
    value = data.get(key)
    if value is None:
        raise CredentialsError(secret_name, field, "is missing")
    if not isinstance(value, str) or not value.strip():
        raise CredentialsError(secret_name, field, "must be a non-empty string")
    if not value.isprintable():
        raise CredentialsError(secret_name, field, "holds control characters")
    return value.strip()


def _token(data: Mapping[str, Any], key: str, secret_name: str, field: str) -> str:
    """A key id or secret, taken as written: it travels in a header or keys the HMAC, so whitespace
    or a control character (a pasted newline) would make every request fail to authenticate."""
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
