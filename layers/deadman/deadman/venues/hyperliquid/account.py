"""One Hyperliquid account as the venue secret describes it (one entry of `accounts`, README:
Configure venues), and the parsing of that entry: an unknown field, a malformed address or key is
refused, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from deadman.core.errors import CredentialsError
from deadman.core.secret import Secret
from deadman.venues import entries, urls
from deadman.venues.hyperliquid.wire import BASE_URLS

_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")
_KEY_RE = re.compile(r"0x[0-9a-fA-F]{64}")
_DEX_RE = re.compile(r"[A-Za-z0-9_-]{0,32}")
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_ACCOUNT_FIELDS = frozenset(
    {"account_id", "address", "agent_private_key", "vault_address", "network", "base_url", "dexes", "kill"}
)


@dataclass(frozen=True)
class Account:
    """One Hyperliquid account as the venue secret describes it (one entry of `accounts`)."""

    account_id: str
    address: str  # the master account whose orders (or whose vault's orders) are protected
    agent_private_key: Secret  # an API wallet approved by `address`, used by the fleet alone
    vault_address: str | None = None  # subaccount or vault: orders listed for it, actions signed for it
    network: str = "mainnet"  # picks the signing source ("a" / "b") and the default base URL
    base_url: str | None = None
    dexes: tuple[str, ...] = ("",)
    kill_agent_private_key: Secret | None = None

    @property
    def is_mainnet(self) -> bool:
        return self.network == "mainnet"

    @property
    def url(self) -> str:
        return self.base_url or BASE_URLS[self.network]

    @property
    def orders_user(self) -> str:
        """The address whose open orders the switch protects."""
        return self.vault_address or self.address

    @property
    def has_kill_key(self) -> bool:
        return self.kill_agent_private_key is not None

    def for_kill(self) -> Account:
        if self.kill_agent_private_key is None:
            return self
        return replace(self, agent_private_key=self.kill_agent_private_key, kill_agent_private_key=None)

    def for_retiring(self) -> None:
        return None  # an agent is not heartbeated: a rotation needs nothing kept alive

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, secret_name: str, sandbox: bool = False) -> Account:
        def bad(field: str, problem: str) -> CredentialsError:
            return CredentialsError(secret_name, field, problem)

        # A misspelt optional field (say "vault_adress") would otherwise silently protect the wrong book.
        entries.check_entry(data, _ACCOUNT_FIELDS, secret_name)

        # Not stripped, unlike the other venues' labels: stripping it now would rename the switch of
        # an id that begins or ends with a space.
        account_id = entries.label(data, "account_id", secret_name, "account_id", strip=False)
        address = _address(data.get("address"), "address", bad, required=True)
        assert address is not None
        agent_key = _private_key(data.get("agent_private_key"), "agent_private_key", bad)
        vault = _address(data.get("vault_address"), "vault_address", bad, required=False)

        network = "mainnet"
        if "network" in data:  # an explicit null is refused, as it always was, not taken as mainnet
            network = entries.choice(data, "network", sorted(BASE_URLS), secret_name, required=True)
        base_url = None  # else the network's own URL: mainnet signatures are lost on testnet
        if data.get("base_url") is not None:
            base_url = urls.base_url(
                data, [BASE_URLS[network]], f"Hyperliquid {network}", sandbox, secret_name
            )
        dexes_raw = data.get("dexes", [""])
        if (
            not isinstance(dexes_raw, list)
            or not dexes_raw
            or not all(isinstance(d, str) and _DEX_RE.fullmatch(d) for d in dexes_raw)
            or len(set(dexes_raw)) != len(dexes_raw)
        ):
            raise bad("dexes", 'must be a non-empty list of distinct perp dex names ("" is the first dex)')

        kill_key = None
        kill = data.get("kill")
        if kill is not None:
            if not isinstance(kill, Mapping) or set(kill) != {"agent_private_key"}:
                raise bad("kill", "must be an object with exactly agent_private_key")
            kill_key = _private_key(kill.get("agent_private_key"), "kill.agent_private_key", bad)

        return cls(
            account_id=account_id,
            address=address,
            agent_private_key=agent_key,
            vault_address=vault,
            network=network,
            base_url=base_url,
            dexes=tuple(dexes_raw),
            kill_agent_private_key=kill_key,
        )


def _address(value: Any, field: str, bad: Any, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not _ADDRESS_RE.fullmatch(value):
        raise bad(field, "must be 0x followed by 40 hex digits")
    return value.lower()  # the venue's signing docs: lowercase addresses


def _private_key(value: Any, field: str, bad: Any) -> Secret:
    if not isinstance(value, str) or not _KEY_RE.fullmatch(value):
        raise bad(field, "must be 0x followed by 64 hex digits")
    if not 0 < int(value, 16) < _SECP256K1_N:
        raise bad(field, "is not a valid secp256k1 private key")
    return Secret(value.lower())
