"""Venue secrets: parsing, error paths that name fields but never values, caching and rotation."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from deadman.core.errors import ConfigError, CredentialsError
from deadman.core.secret import Secret
from deadman.stores.credentials import CredentialStore, VenueSecret, parse_secret

pytestmark = pytest.mark.integration

LEAK = "S3CR3T-do-not-leak-7f1c9a"  # appears in secret values only; must never reach a message
SID = "deadman/kraken"


# -- a tiny fake venue driver, so parsing is tested independently of the real venues ---------------


@dataclass(frozen=True)
class FakeAccount:
    account_id: str
    api_key: str
    api_secret: Secret

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, secret_name: str, sandbox: bool = False) -> FakeAccount:
        for name in ("account_id", "api_key", "api_secret"):
            if not isinstance(data.get(name), str) or not data[name]:
                raise CredentialsError(secret_name, name, "is missing")
        if data["api_secret"] == "explode":
            # A third-party parser whose message quotes the input.
            raise ValueError(f"cannot parse {LEAK}")
        if "kill" in data:
            raise CredentialsError(secret_name, "kill.api_secret", "must be base64")
        return cls(data["account_id"], data["api_key"], Secret(data["api_secret"]))


class FakeDriver:
    def parse_account(
        self, data: Mapping[str, Any], *, secret_name: str, sandbox: bool = False
    ) -> FakeAccount:
        return FakeAccount.from_mapping(data, secret_name=secret_name, sandbox=sandbox)


def fake_loader(venue: str) -> Any:
    return FakeDriver()


def entry(account_id: str = "main", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"account_id": account_id, "api_key": "key-" + account_id, "api_secret": LEAK}
    data.update(overrides)
    return data


def secret_json(*entries: Any) -> str:
    return json.dumps({"accounts": list(entries)})


def all_text(exc: BaseException) -> str:
    """Everything an exception and its chain could print."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), repr(current.args), repr(vars(current))]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


def parse_error(raw: str | bytes, venue: str = "kraken") -> CredentialsError:
    with pytest.raises(CredentialsError) as info:
        parse_secret(venue, SID, raw, loader=fake_loader)
    text = all_text(info.value)
    assert LEAK not in text
    assert SID in str(info.value)
    return info.value


# -- parse_secret -----------------------------------------------------------------------------------


def test_parses_accounts_in_order() -> None:
    parsed = parse_secret("kraken", SID, secret_json(entry("main"), entry("mm-2")), loader=fake_loader)
    assert parsed.venue == "kraken" and parsed.secret_id == SID
    assert parsed.account_ids == ("main", "mm-2")
    assert all(isinstance(a, FakeAccount) for a in parsed.accounts)
    assert parsed.account("mm-2").api_key == "key-mm-2"
    assert LEAK not in repr(parsed)
    with pytest.raises(ConfigError, match="no account 'x'"):
        parsed.account("x")


def test_accepts_binary_secret_and_extra_top_level_keys() -> None:
    raw = json.dumps({"accounts": [entry()], "note": "rotated 2024-05"}).encode()
    assert parse_secret("kraken", SID, raw, loader=fake_loader).account_ids == ("main",)


def test_an_empty_account_list_is_a_venue_not_configured_yet() -> None:
    """The stack's first deploy stores {"accounts": []}: a calm state, not a parse error."""
    parsed = parse_secret("kraken", SID, json.dumps({"accounts": []}), loader=fake_loader)
    assert parsed.accounts == () and parsed.account_ids == ()


@pytest.mark.parametrize(
    ("raw", "field", "problem"),
    [
        (f"{{not json {LEAK}", "<secret>", "is not valid JSON"),
        (f'["{LEAK}"]', "<secret>", 'must be a JSON object with an "accounts" list'),
        (json.dumps({"acounts": [entry()]}), "accounts", "is missing"),
        (json.dumps({"accounts": {"main": entry()}}), "accounts", "must be a list"),
        (json.dumps({"accounts": LEAK}), "accounts", "must be a list"),
        (secret_json(entry(), LEAK), "accounts[1]", "must be an object"),
        (secret_json(entry(), entry("b", api_key="")), "accounts[1].api_key", "is missing"),
        (secret_json(entry(kill={})), "accounts[0].kill.api_secret", "must be base64"),
        (secret_json(entry(api_secret="explode")), "accounts[0]", "is invalid (ValueError)"),
        (
            secret_json(entry("a"), entry("b"), entry("a")),
            "accounts[2].account_id",
            "duplicates accounts[0].account_id",
        ),
    ],
)
def test_errors_name_the_field_never_the_value(raw: str, field: str, problem: str) -> None:
    error = parse_error(raw)
    assert (error.secret, error.field, error.problem) == (SID, field, problem)


def test_invalid_utf8_binary() -> None:
    error = parse_error(b"\xff\xfe" + LEAK.encode())
    assert error.field == "<secret>" and error.problem == "is not valid UTF-8"


def test_json_error_does_not_chain_the_document() -> None:
    error = parse_error('{"accounts": [' + LEAK)
    assert error.__context__ is None and error.__cause__ is None


def test_unknown_venue_is_a_config_error_not_a_credentials_error() -> None:
    with pytest.raises(ConfigError, match="unknown venue 'bitstamp'") as info:
        parse_secret("bitstamp", SID, secret_json(entry()), loader=fake_loader)
    assert type(info.value) is ConfigError


def test_unloadable_venue_module_is_a_config_error() -> None:
    def missing(venue: str) -> Any:
        raise ModuleNotFoundError(venue)

    with pytest.raises(ConfigError, match="cannot be loaded"):
        parse_secret("kraken", SID, secret_json(entry()), loader=missing)


# -- the real venue modules -------------------------------------------------------------------------

REAL_ENTRIES: dict[str, dict[str, Any]] = {
    "kraken": {
        "account_id": "main",
        "api_key": "kraken-key",
        "api_secret": base64.b64encode(LEAK.encode()).decode(),
    },
    "gemini": {"account_id": "main", "api_key": "account-abc", "api_secret": LEAK, "nonce_mode": "time"},
    "hyperliquid": {
        "account_id": "main",
        "address": "0x" + "ab" * 20,
        "agent_private_key": "0x" + "4c" * 32,
    },
}


@pytest.mark.parametrize("venue", sorted(REAL_ENTRIES))
def test_real_venue_modules_parse_their_entries(venue: str) -> None:
    parsed = parse_secret(
        venue,
        f"deadman/{venue}",
        secret_json(REAL_ENTRIES[venue], {**REAL_ENTRIES[venue], "account_id": "b"}),
    )
    assert parsed.account_ids == ("main", "b")
    module = type(parsed.accounts[0]).__module__  # the venue's module, or one of its package
    assert module == f"deadman.venues.{venue}" or module.startswith(f"deadman.venues.{venue}.")
    assert LEAK not in repr(parsed)


@pytest.mark.parametrize("venue", sorted(REAL_ENTRIES))
def test_real_venue_field_errors_get_the_entry_prefix(venue: str) -> None:
    bad = {**REAL_ENTRIES[venue], "bogus_field": LEAK}
    with pytest.raises(CredentialsError) as info:
        parse_secret(venue, f"deadman/{venue}", secret_json(REAL_ENTRIES[venue] | {"account_id": "x"}, bad))
    assert info.value.field == "accounts[1].bogus_field"
    assert LEAK not in all_text(info.value)


@pytest.mark.parametrize(
    ("venue", "field", "value"),
    [
        ("kraken", "api_secret", f"%%{LEAK}%%"),  # not base64
        ("gemini", "api_secret", f" {LEAK} "),  # surrounding whitespace
        ("hyperliquid", "agent_private_key", f"0x{LEAK}"),  # not 32 hex bytes
    ],
)
def test_real_venue_secret_field_errors_do_not_leak(venue: str, field: str, value: str) -> None:
    bad = {**REAL_ENTRIES[venue], field: value}
    with pytest.raises(CredentialsError) as info:
        parse_secret(venue, f"deadman/{venue}", secret_json(bad))
    assert info.value.field == f"accounts[0].{field}"
    assert LEAK not in all_text(info.value)


# -- CredentialStore against Secrets Manager (moto) -------------------------------------------------


class CountingClient:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.fetches = 0

    def get_secret_value(self, **kwargs: Any) -> Any:
        self.fetches += 1
        return self.inner.get_secret_value(**kwargs)


@pytest.fixture
def sm(aws: Any) -> Any:
    return boto3.client("secretsmanager")


def test_get_caches_and_refresh_picks_up_a_rotated_key(sm: Any) -> None:
    arn = sm.create_secret(Name=SID, SecretString=secret_json(entry("main")))["ARN"]
    counting = CountingClient(boto3.client("secretsmanager"))
    store = CredentialStore({"kraken": arn}, client=counting, loader=fake_loader)

    first = store.get("kraken")
    assert isinstance(first, VenueSecret) and first.account_ids == ("main",)
    assert store.get("kraken") is first  # cached value, same Account objects
    assert counting.fetches == 1

    sm.put_secret_value(SecretId=arn, SecretString=secret_json(entry("main", api_key="rotated")))
    assert store.get("kraken") is first  # within max_age: still the cached value
    rotated = store.refresh("kraken")
    assert counting.fetches == 2
    assert rotated.account("main").api_key == "rotated"
    assert store.get("kraken") is rotated


def test_refresh_with_unchanged_value_keeps_the_parsed_objects(sm: Any) -> None:
    sm.create_secret(Name=SID, SecretString=secret_json(entry()))
    store = CredentialStore({"kraken": SID}, loader=fake_loader)
    first = store.get("kraken")
    assert store.refresh("kraken") is first


def test_max_age_zero_fetches_every_time(sm: Any) -> None:
    sm.create_secret(Name=SID, SecretString=secret_json(entry()))
    counting = CountingClient(boto3.client("secretsmanager"))
    store = CredentialStore({"kraken": SID}, max_age_s=0, client=counting, loader=fake_loader)
    store.get("kraken")
    store.get("kraken")
    assert counting.fetches == 2


def test_cache_lasts_max_age_on_the_stores_clock(sm: Any) -> None:
    sm.create_secret(Name=SID, SecretString=secret_json(entry()))
    counting = CountingClient(boto3.client("secretsmanager"))
    now = [1_000.0]
    store = CredentialStore(
        {"kraken": SID}, max_age_s=300, client=counting, loader=fake_loader, clock=lambda: now[0]
    )
    store.get("kraken")
    now[0] += 299.9
    store.get("kraken")
    assert counting.fetches == 1
    now[0] += 0.1
    store.get("kraken")
    assert counting.fetches == 2


def test_binary_secret_through_the_functions_client(sm: Any) -> None:
    """The lean client hands SecretBinary back as the wire's base64 text; the store decodes it."""
    import os

    from deadman.stores.aws import lean_clients

    sm.create_secret(Name=SID, SecretBinary=secret_json(entry()).encode())
    _, lean = lean_clients(os.environ)
    store = CredentialStore({"kraken": SID}, client=lean, loader=fake_loader)
    assert store.get("kraken").account_ids == ("main",)
    with pytest.raises(CredentialsError, match="not found"):
        CredentialStore({"kraken": "deadman/none"}, client=lean, loader=fake_loader).get("kraken")


def test_binary_secret(sm: Any) -> None:
    sm.create_secret(Name=SID, SecretBinary=secret_json(entry()).encode())
    assert CredentialStore({"kraken": SID}, loader=fake_loader).get("kraken").account_ids == ("main",)


def test_missing_secret_is_not_found(sm: Any) -> None:
    store = CredentialStore({"kraken": "deadman/nope"}, loader=fake_loader)
    with pytest.raises(CredentialsError) as info:
        store.get("kraken")
    assert (info.value.secret, info.value.field, info.value.problem) == (
        "deadman/nope",
        "<secret>",
        "not found",
    )


def test_malformed_stored_secret_never_leaks(sm: Any) -> None:
    sm.create_secret(Name=SID, SecretString="{" + LEAK)
    with pytest.raises(CredentialsError, match="is not valid JSON") as info:
        CredentialStore({"kraken": SID}, loader=fake_loader).get("kraken")
    assert LEAK not in all_text(info.value)


def test_other_service_errors_name_the_code() -> None:
    from botocore.exceptions import ClientError

    class Denied:
        def get_secret_value(self, **kwargs: Any) -> Any:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetSecretValue")

    with pytest.raises(CredentialsError) as info:
        CredentialStore({"kraken": SID}, client=Denied(), loader=fake_loader).get("kraken")
    assert info.value.problem == "could not be read (AccessDeniedException)"

    class Down:
        def get_secret_value(self, **kwargs: Any) -> Any:
            raise ConnectionError("down")

    with pytest.raises(CredentialsError) as info:
        CredentialStore({"kraken": SID}, client=Down(), loader=fake_loader).get("kraken")
    assert info.value.problem == "could not be read (ConnectionError)"


def test_unconfigured_and_unknown_venues_are_config_errors(sm: Any) -> None:
    store = CredentialStore({"kraken": SID}, loader=fake_loader)
    with pytest.raises(ConfigError, match="SECRET_GEMINI"):
        store.get("gemini")
    with pytest.raises(ConfigError, match="unknown venue"):
        store.get("bitstamp")
    with pytest.raises(ConfigError, match="unknown venue"):
        CredentialStore({"bitstamp": "x"})


def test_from_env_reads_the_registered_venues_variables() -> None:
    # An empty variable is a venue not configured; a venue nobody registered is not read.
    store = CredentialStore.from_env(
        {"SECRET_KRAKEN": "arn:k", "SECRET_GEMINI": "", "SECRET_BITSTAMP": "x", "OTHER": "y"}
    )
    assert store.secret_ids == {"kraken": "arn:k"}
    assert store.venues == ("kraken",)
    full = CredentialStore.from_env({"SECRET_GEMINI": "g", "SECRET_KRAKEN": "k", "SECRET_HYPERLIQUID": "h"})
    assert full.secret_ids == {"gemini": "g", "kraken": "k", "hyperliquid": "h"}


def test_real_kraken_secret_end_to_end(sm: Any) -> None:
    sm.create_secret(Name="deadman/kraken", SecretString=secret_json(REAL_ENTRIES["kraken"]))
    store = CredentialStore.from_env({"SECRET_KRAKEN": "deadman/kraken"})
    account = store.get("kraken").account("main")
    assert account.api_key == "kraken-key"
    assert LEAK not in repr(account) and LEAK not in repr(store.get("kraken"))


def test_an_account_names_the_trading_systems_that_gate_it() -> None:
    raw = json.dumps({"accounts": [{**entry("main"), "systems": ["strat-a", "strat-b"]}, entry("b")]})
    parsed = parse_secret("kraken", SID, raw, loader=fake_loader)
    assert parsed.systems == {"main": ("strat-a", "strat-b")} and parsed.account_ids == ("main", "b")
    for bad, problem in (
        ([], "must be a list"),
        (["a", "a"], "names a system twice"),
        (["a b"], "not 1-128"),
    ):
        with pytest.raises(CredentialsError) as info:
            parse_secret(
                "kraken", SID, json.dumps({"accounts": [{**entry(), "systems": bad}]}), loader=fake_loader
            )
        assert info.value.field == "accounts[0].systems" and problem in info.value.problem


class Answering:
    """A Secrets Manager client answering with the given secret's name and ARN, whatever is asked."""

    def __init__(self, name: str | None, arn: str) -> None:
        self.name, self.arn = name, arn

    def get_secret_value(self, **kwargs: Any) -> Any:
        return {"Name": self.name, "ARN": self.arn, "SecretString": secret_json(entry())}


ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:deadman/kraken-AbC123"


@pytest.mark.parametrize(
    ("asked", "name", "arn"),
    [
        (SID, "deadman/gemini", ARN.replace("kraken", "gemini")),  # another venue's secret
        (ARN, SID, ARN.replace("AbC123", "XyZ789")),  # same name, another secret (recreated)
        (ARN.removesuffix("-AbC123"), SID, ARN.replace("kraken", "kraken-old")),  # partial ARN
        (SID, None, ARN),  # no name at all
    ],
)
def test_an_answer_for_another_secret_is_unreadable_never_used(
    asked: str, name: str | None, arn: str
) -> None:
    # A handler and a level on the module's own logger: a Powertools logger another test loaded (the
    # functions' handlers) sets "deadman" to its own level, which caplog would not see past.
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    module_log = logging.getLogger("deadman.stores.credentials")
    module_log.addHandler(handler)
    module_log.setLevel(logging.WARNING)
    try:
        store = CredentialStore({"kraken": asked}, client=Answering(name, arn), loader=fake_loader)
        with pytest.raises(CredentialsError) as info:
            store.get("kraken")
    finally:
        module_log.removeHandler(handler)
        module_log.setLevel(logging.NOTSET)
    text = "\n".join(r.getMessage() for r in records)
    assert info.value.problem == "could not be read (HTTPClientError)"
    assert LEAK not in all_text(info.value) and LEAK not in text  # names only, never a value
    assert "answered for another secret" in text


@pytest.mark.parametrize("asked", [SID, ARN, ARN.removesuffix("-AbC123")])
def test_the_secret_asked_for_is_recognised_by_name_arn_or_partial_arn(asked: str) -> None:
    store = CredentialStore({"kraken": asked}, client=Answering(SID, ARN), loader=fake_loader)
    assert store.get("kraken").account_ids == ("main",)


def test_the_copy_held_stands_while_secrets_manager_is_out_of_reach() -> None:
    """With a 60 s cache an outage of Secrets Manager would stop every tick once the copy aged (no
    heartbeat: Gemini's 30 s). The copy held stands, and the store asks again at every get."""
    now = {"s": 0.0}
    calls: list[str] = []

    class Flaky:
        down = False

        def get_secret_value(self, **kwargs: Any) -> Any:
            calls.append(kwargs["SecretId"])
            if self.down:
                raise ConnectionError("down")
            return {"SecretString": secret_json(entry()), "Name": SID}

    client = Flaky()
    store = CredentialStore(
        {"kraken": SID}, client=client, loader=fake_loader, max_age_s=60, clock=lambda: now["s"]
    )
    first = store.get("kraken")
    client.down = True
    now["s"] = 61.0
    assert store.get("kraken") is first  # aged, not fetched: the copy held stands
    assert store.get("kraken") is first
    assert len(calls) == 3  # and each get asked again
    with pytest.raises(CredentialsError):
        store.refresh("kraken")  # asked for a fresh copy on purpose (after an auth error): said
    with pytest.raises(CredentialsError):
        # Asked for a copy no older than a tick (before a sweep): the old one will not do.
        store.get("kraken", max_age_ms=10_000, fresh=True)
    with pytest.raises(CredentialsError):
        CredentialStore({"kraken": SID}, client=client, loader=fake_loader).get("kraken")  # none held


def test_a_retired_account_is_kept_with_its_keys_but_not_protected() -> None:
    raw = json.dumps({"accounts": [entry("main"), {**entry("old"), "retired": True}]})
    secret = parse_secret("kraken", SID, raw, loader=fake_loader)
    assert secret.account_ids == ("main",)
    assert [a.account_id for a in secret.retired] == ["old"]
    with pytest.raises(CredentialsError) as info:
        parse_secret(
            "kraken", SID, json.dumps({"accounts": [{**entry(), "retired": "yes"}]}), loader=fake_loader
        )
    assert info.value.field == "accounts[0].retired"
