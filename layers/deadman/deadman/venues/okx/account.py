"""One OKX account as the venue secret describes it (one entry of `accounts`, README: Configure
venues), and the parsing of that entry: an unknown field, a malformed value or a control character
is refused, naming the field and never its value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from deadman.core.errors import CredentialsError
from deadman.core.secret import Secret
from deadman.venues import entries, urls
from deadman.venues.okx.wire import DEFAULT_BASE_URL

# "A combination of case-sensitive alphanumerics, all numbers, or all letters of up to 16 characters."
_TAG_RE = re.compile(r"[A-Za-z0-9]{1,16}")
# "Users can run a maximum of 20 tag level CAAs simultaneously under the same sub-account."
MAX_TAGS = 20
_FIELDS = frozenset({"account_id", "api_key", "api_secret", "passphrase", "tags", "demo", "base_url", "kill"})
_KILL_FIELDS = frozenset({"api_key", "api_secret", "passphrase"})


@dataclass(frozen=True)
class Keys:
    api_key: str
    api_secret: Secret
    passphrase: Secret


@dataclass(frozen=True)
class Account:
    account_id: str
    keys: Keys
    # The order tags this switch protects, each with its own timer (an empty tuple: the whole
    # sub-account, on its account-level timer).
    tags: tuple[str, ...] = ()
    demo: bool = False
    base_url: str = DEFAULT_BASE_URL
    kill: Keys | None = None

    @property
    def scopes(self) -> tuple[str, ...]:
        """The timers this switch keeps: one per tag, or the account's ("")."""
        return self.tags or ("",)

    @property
    def has_kill_key(self) -> bool:
        return self.kill is not None

    def for_kill(self) -> Account:
        if self.kill is None:
            return self
        return replace(self, keys=self.kill, kill=None)

    def for_retiring(self) -> None:
        return None  # an OKX key holds no session: a rotation needs nothing kept alive

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, secret_name: str, sandbox: bool = False) -> Account:
        """One entry of the OKX secret's `accounts` list:

            {"account_id": "main",               # label, required
             "api_key": "...", "api_secret": "...", "passphrase": "...",   # required, as OKX shows them
             "tags": ["stratA", "stratB"],       # optional: protect only orders carrying these tags
             "demo": false,                      # optional: a demo-trading key (x-simulated-trading)
             "base_url": "https://www.okx.com",  # optional; any other URL only with sandbox=True
             "kill": {"api_key": "...", "api_secret": "...", "passphrase": "..."}}  # optional

        The key needs the Trade permission (Read, which every key has, lists the book)."""
        # A misspelt "tags" would otherwise silently widen the switch to the whole account.
        entries.check_entry(data, _FIELDS, secret_name)
        account_id = _text(data, "account_id", secret_name, "account_id")
        keys = _keys(data, secret_name, "")
        demo = entries.flag(data, "demo", secret_name)
        base_url = DEFAULT_BASE_URL
        if data.get("base_url") is not None:
            base_url = urls.base_url(data, (DEFAULT_BASE_URL,), "OKX", sandbox, secret_name)
        kill = None
        raw_kill = entries.optional_object(
            data,
            "kill",
            _KILL_FIELDS,
            secret_name,
            "must be an object with api_key, api_secret and passphrase",
        )
        if raw_kill is not None:
            kill = _keys(raw_kill, secret_name, "kill.")
        return cls(
            account_id=account_id,
            keys=keys,
            tags=_tags(data.get("tags"), secret_name),
            demo=demo,
            base_url=base_url,
            kill=kill,
        )


def _keys(data: Mapping[str, Any], secret_name: str, prefix: str) -> Keys:
    return Keys(
        api_key=_text(data, "api_key", secret_name, f"{prefix}api_key"),
        api_secret=Secret(_text(data, "api_secret", secret_name, f"{prefix}api_secret")),
        passphrase=Secret(_text(data, "passphrase", secret_name, f"{prefix}passphrase")),
    )


def _text(data: Mapping[str, Any], key: str, secret_name: str, field: str) -> str:
    # OKX's fields have always refused only the ASCII control characters, each one stripped.
    return entries.text(data, key, secret_name, field, controls="ascii")


def _tags(raw: Any, secret_name: str) -> tuple[str, ...]:
    def bad(problem: str) -> CredentialsError:
        return CredentialsError(secret_name, "tags", problem)

    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise bad("must be a non-empty list of order tags (leave it out to protect the account)")
    if len(raw) > MAX_TAGS:
        raise bad(f"names more than {MAX_TAGS} tags (OKX's cap of live tag timers per sub-account)")
    if not all(isinstance(t, str) and _TAG_RE.fullmatch(t) for t in raw):
        raise bad("must each be 1 to 16 letters or digits (OKX's order tag)")
    if len(set(raw)) != len(raw):
        raise bad("names a tag twice")
    return tuple(raw)
