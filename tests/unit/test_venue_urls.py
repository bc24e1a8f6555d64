"""A venue secret's base_url: the venue's own URLs only, unless the stack runs in sandbox mode.

A production secret accepted any base_url, plain http:// included: the keys' signed requests would
have gone to whatever host it named."""

from __future__ import annotations

import json
from typing import Any

import pytest

from deadman.core.config import FleetConfig
from deadman.core.errors import CredentialsError
from deadman.stores.credentials import CredentialStore, parse_secret
from deadman.venues import CAPABILITIES, gemini, hyperliquid, kraken

KRAKEN = {"account_id": "main", "api_key": "k", "api_secret": "c2VjcmV0"}
GEMINI = {"account_id": "main", "api_key": "account-x", "api_secret": "s", "nonce_mode": "time"}
HYPERLIQUID = {
    "account_id": "main",
    "address": "0x" + "1" * 40,
    "agent_private_key": "0x" + "2" * 64,
    "network": "mainnet",
}
ENTRIES: dict[str, tuple[Any, dict[str, Any]]] = {
    "kraken": (kraken.Account, KRAKEN),
    "gemini": (gemini.Account, GEMINI),
    "hyperliquid": (hyperliquid.Account, HYPERLIQUID),
}
OFFICIAL = {
    "kraken": ["https://api.kraken.com", "https://api.kraken.com/"],
    "gemini": ["https://api.gemini.com", "https://api.sandbox.gemini.com"],
    "hyperliquid": ["https://api.hyperliquid.xyz"],
}
NOT_THE_VENUE = [
    "http://api.kraken.com",
    "http://api.gemini.com",
    "http://api.hyperliquid.xyz",
    "https://api.kraken.com.evil.example",
    "https://127.0.0.1:8443",
    "http://localhost:9999",
    "https://api.hyperliquid-testnet.xyz",  # not mainnet's
]


def parse(venue: str, url: str, *, sandbox: bool) -> Any:
    account, entry = ENTRIES[venue]
    return account.from_mapping({**entry, "base_url": url}, secret_name=f"deadman/{venue}", sandbox=sandbox)


@pytest.mark.parametrize("venue", sorted(ENTRIES))
def test_the_venues_own_urls_are_accepted_anywhere(venue: str) -> None:
    for url in OFFICIAL[venue]:
        assert parse(venue, url, sandbox=False).base_url == url.rstrip("/")


@pytest.mark.parametrize("venue", sorted(ENTRIES))
@pytest.mark.parametrize("url", NOT_THE_VENUE)
def test_another_url_is_refused_outside_the_sandbox_and_accepted_in_it(venue: str, url: str) -> None:
    if url in OFFICIAL[venue]:
        return
    with pytest.raises(CredentialsError) as info:
        parse(venue, url, sandbox=False)
    assert info.value.field == "base_url" and "sandbox mode" in str(info.value)
    assert parse(venue, url, sandbox=True).base_url == url


@pytest.mark.parametrize("venue", sorted(ENTRIES))
def test_a_malformed_url_is_refused_even_in_the_sandbox(venue: str) -> None:
    for url in ("ftp://x", "https://api.kraken.com/0", "api.kraken.com", "", "http://[::1"):
        with pytest.raises(CredentialsError) as info:
            parse(venue, url, sandbox=True)
        assert info.value.field == "base_url"


def test_no_host_but_the_venues_own_outside_the_sandbox() -> None:
    with pytest.raises(CredentialsError):
        parse("kraken", "http://sim.invalid", sandbox=False)
    assert parse("kraken", "http://sim.invalid", sandbox=True).base_url == "http://sim.invalid"


def test_the_allowance_travels_through_the_secret_parsing_explicitly() -> None:
    raw = json.dumps({"accounts": [{**KRAKEN, "base_url": "http://127.0.0.1:9999"}]})
    with pytest.raises(CredentialsError) as info:
        parse_secret("kraken", "deadman/kraken", raw)
    assert info.value.field == "accounts[0].base_url"
    assert parse_secret("kraken", "deadman/kraken", raw, sandbox=True).accounts[0].base_url.endswith(":9999")

    class Secrets:
        def get_secret_value(self, SecretId: str) -> dict[str, str]:
            return {"SecretString": raw, "Name": SecretId}

    with pytest.raises(CredentialsError):
        CredentialStore({"kraken": "deadman/kraken"}, client=Secrets()).get("kraken")
    assert CredentialStore({"kraken": "deadman/kraken"}, client=Secrets(), sandbox=True).get("kraken")


def test_sandbox_mode_is_set_only_by_its_own_variable() -> None:
    env = {"SYSTEM_NAME": "t", "LIVENESS_TABLE": "l", "CONTROL_TABLE": "c", "ENABLED_VENUES": "kraken"}
    assert FleetConfig.from_env(env, CAPABILITIES).sandbox is False
    assert FleetConfig.from_env({**env, "DEADMAN_SANDBOX": "true"}, CAPABILITIES).sandbox is True
    with pytest.raises(Exception, match="DEADMAN_SANDBOX"):
        FleetConfig.from_env({**env, "DEADMAN_SANDBOX": "yes"}, CAPABILITIES)


def test_the_functions_pass_sandbox_mode_to_their_credentials() -> None:
    from deadman.edges.wiring import control_from_env

    env = {
        "SYSTEM_NAME": "t",
        "LIVENESS_TABLE": "l",
        "CONTROL_TABLE": "c",
        "ENABLED_VENUES": "kraken",
        "SECRET_KRAKEN": "deadman/kraken",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    assert control_from_env(env).credentials.sandbox is False  # type: ignore[union-attr]
    assert control_from_env({**env, "DEADMAN_SANDBOX": "true"}).credentials.sandbox is True  # type: ignore[union-attr]
