"""One Gemini account as the venue secret describes it (one entry of `accounts`, README: Configure
venues), its kill key and the key being rotated out, and the parsing of that entry: an unknown
field is refused, never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, cast

from deadman.core.errors import CredentialsError
from deadman.core.secret import Secret
from deadman.venues import entries, urls
from deadman.venues.gemini.wire import BASE_URLS

NonceMode = Literal["time", "increasing"]
SweepScope = Literal["session", "all"]
_NONCE_MODES: tuple[str, ...] = ("time", "increasing")
_SWEEP_SCOPES: tuple[str, ...] = ("session", "all")

_ACCOUNT_FIELDS = frozenset(
    {
        "account_id",
        "api_key",
        "api_secret",
        "nonce_mode",
        "account",
        "sweep_scope",
        "environment",
        "base_url",
        "kill",
        "retiring",
    }
)
_KILL_FIELDS = frozenset({"api_key", "api_secret", "nonce_mode", "account"})


@dataclass(frozen=True)
class KillCredentials:
    api_key: str
    api_secret: Secret
    nonce_mode: NonceMode
    account: str | None = None


@dataclass(frozen=True)
class Account:
    account_id: str
    api_key: str
    api_secret: Secret
    nonce_mode: NonceMode
    account: str | None = None  # master keys only: the account (nickname) to act on
    sweep_scope: SweepScope = "session"
    base_url: str = BASE_URLS["production"]
    kill: KillCredentials | None = None
    # The trading key being rotated out: the trader's orders may rest on its session until it moves
    # to the new key, so it is heartbeated alongside until Gemini refuses it (the key was deleted).
    retiring: KillCredentials | None = None

    @property
    def is_master(self) -> bool:
        return self.api_key.startswith("master-")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, secret_name: str, sandbox: bool = False) -> Account:
        """One entry of the Gemini secret's `accounts` list (README, Configure venues). `base_url`
        may name one of Gemini's own URLs, or any other only with sandbox=True (deadman.venues.urls)."""
        # A misspelt "sweep_scope" or "kill" must not be dropped silently.
        entries.check_entry(data, _ACCOUNT_FIELDS, secret_name)
        account_id = entries.label(data, "account_id", secret_name, "account_id")
        api_key = entries.token(data, "api_key", secret_name, "api_key", strip=True)
        api_secret = _secret(data, secret_name, "api_secret")
        nonce_mode = cast(
            NonceMode, entries.choice(data, "nonce_mode", _NONCE_MODES, secret_name, required=True)
        )
        account = _master_account(data, api_key, secret_name, "account")
        sweep_scope = cast(
            SweepScope, entries.choice(data, "sweep_scope", _SWEEP_SCOPES, secret_name) or "session"
        )
        environment = entries.choice(data, "environment", tuple(BASE_URLS), secret_name) or "production"
        base_url = BASE_URLS[environment]
        if data.get("base_url") is not None:  # explicit override wins over environment
            official = tuple(BASE_URLS.values())
            base_url = urls.base_url(data, official, "Gemini", sandbox, secret_name)
        kill = _kill(data, secret_name, "kill")
        retiring = _kill(data, secret_name, "retiring")
        return cls(
            account_id=account_id,
            api_key=api_key,
            api_secret=api_secret,
            nonce_mode=nonce_mode,
            account=account,
            sweep_scope=sweep_scope,
            base_url=base_url,
            kill=kill,
            retiring=retiring,
        )

    @property
    def has_kill_key(self) -> bool:
        return self.kill is not None

    def for_retiring(self) -> Account | None:
        """The account on the key being rotated out (heartbeats only), or None."""
        return None if self.retiring is None else self._signing_with(self.retiring)

    def for_kill(self) -> Account:
        """The account as the kill path uses it: the kill key where configured, else the trading key.

        A kill key is a session of its own, and cancel/session cancels only the orders of the session
        that sends it; swept with the kill key, it would cancel none of the trader's orders. So the
        kill key always sweeps with cancel/all (which also cancels orders placed in the web UI)."""
        if self.kill is None:
            # A kill cancels every order of the account, whatever key or session placed it (the key
            # being rotated out, the web UI): cancel/all on the trading key.
            return replace(self, sweep_scope="all", retiring=None)
        return self._signing_with(self.kill, sweep_scope="all")

    def _signing_with(self, key: KillCredentials, **also: Any) -> Account:
        """This account on another of its keys, which has no further keys of its own."""
        return replace(
            self,
            api_key=key.api_key,
            api_secret=key.api_secret,
            nonce_mode=key.nonce_mode,
            account=key.account,
            kill=None,
            retiring=None,
            **also,
        )


def _secret(data: Mapping[str, Any], secret_name: str, field: str) -> Secret:
    value = entries.as_written(data, "api_secret", secret_name, field)
    # The HMAC key is the raw text: a pasted trailing newline would make every signature wrong.
    if value != value.strip():
        raise CredentialsError(secret_name, field, "has leading or trailing whitespace")
    return Secret(value)


def _master_account(data: Mapping[str, Any], api_key: str, secret_name: str, field: str) -> str | None:
    present = data.get("account") is not None
    if api_key.startswith("master-"):
        if not present:
            raise CredentialsError(
                secret_name, field, "is required with a master- API key (the account to act on)"
            )
        return entries.label(data, "account", secret_name, field)
    if present:
        raise CredentialsError(secret_name, field, "is only allowed with a master- API key")
    return None


def _kill(data: Mapping[str, Any], secret_name: str, name: str) -> KillCredentials | None:
    raw = entries.optional_object(
        data, name, _KILL_FIELDS, secret_name, "must be an object with api_key, api_secret and nonce_mode"
    )
    if raw is None:
        return None
    api_key = entries.token(raw, "api_key", secret_name, f"{name}.api_key", strip=True)
    return KillCredentials(
        api_key=api_key,
        api_secret=_secret(raw, secret_name, f"{name}.api_secret"),
        nonce_mode=cast(
            NonceMode,
            entries.choice(raw, "nonce_mode", _NONCE_MODES, secret_name, f"{name}.nonce_mode", required=True),
        ),
        account=_master_account(raw, api_key, secret_name, f"{name}.account"),
    )
