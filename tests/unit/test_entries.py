"""The fields every venue's secret entry shares (deadman.venues.entries): each refusal names the field
and the problem, never the value; a misspelt field or kill field is refused, never dropped; a pasted
newline is refused, not stripped away; and the kill path signs with the kill pair. Across the seven
venues: no label or key id holds a control character, and no field given the wrong shape (a list,
an object, a number) escapes as anything but a refusal naming it."""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass
from typing import Any

import pytest

from deadman.core.errors import CredentialsError
from deadman.core.secret import Secret
from deadman.stores.credentials import parse_secret
from deadman.venues import VENUES, entries
from deadman.venues.entries import KeyPairAccount, KillCredentials

S = "deadman/venue"
FIELDS = frozenset({"account_id", "api_key", "api_secret", "kill"})
VALUE = "hunter2-value"  # a value that must never reach a message


def refusal(call: Any, *args: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(CredentialsError) as info:
        call(*args, **kwargs)
    assert info.value.secret == S
    assert VALUE not in str(info.value)
    return info.value.field, info.value.problem


def test_an_entry_must_be_an_object_of_known_fields() -> None:
    entries.check_entry({"account_id": "a", "kill": {}}, FIELDS, S)
    assert refusal(entries.check_entry, [VALUE], FIELDS, S) == ("accounts[]", "must be an object")
    assert refusal(entries.check_entry, {"account_id": VALUE, "kil": {}}, FIELDS, S) == (
        "kil",
        "is not a known field",
    )


def test_the_first_unknown_field_in_the_entry_is_named() -> None:
    data = {"zzz": 1, "account_id": "a", "aaa": 2}
    assert refusal(entries.refuse_unknown, data, FIELDS, S) == ("zzz", "is not a known field")


@pytest.mark.parametrize(
    ("kill", "expected"),
    [
        (VALUE, ("kill", "must be an object with api_key and api_secret")),
        ([VALUE], ("kill", "must be an object with api_key and api_secret")),
        ({"api_key": "k", "api_secret": "s", "otp": VALUE}, ("kill.otp", "is not a known field")),
        ({"api_key": "k"}, ("kill.api_secret", "is missing")),
        (
            {"api_key": "k", "api_secret": "a b"},
            ("kill.api_secret", "must be printable ASCII without spaces or control characters"),
        ),
    ],
)
def test_a_bad_kill_object_is_refused_naming_kill_or_its_field(kill: Any, expected: tuple[str, str]) -> None:
    assert refusal(entries.kill_token_pair, {"kill": kill}, S) == expected


def test_no_kill_object_or_a_null_one_is_no_kill_pair() -> None:
    assert entries.kill_token_pair({}, S) is None
    assert entries.kill_token_pair({"kill": None}, S) is None
    assert entries.optional_object({"retiring": None}, "retiring", FIELDS, S, "must be an object") is None
    pair = entries.kill_token_pair({"kill": {"api_key": "k2", "api_secret": "s2"}}, S)
    assert pair == KillCredentials("k2", Secret("s2"))


def test_an_optional_object_names_its_own_fields_under_its_key() -> None:
    data = {"retiring": {"api_key": "k", "nonce": 1}}
    assert refusal(entries.optional_object, data, "retiring", FIELDS, S, "must be an object") == (
        "retiring.nonce",
        "is not a known field",
    )
    assert refusal(entries.optional_object, {"retiring": 3}, "retiring", FIELDS, S, "must be an object") == (
        "retiring",
        "must be an object",
    )


@pytest.mark.parametrize("read", [entries.text, entries.token, entries.as_written])
@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({}, "is missing"),
        ({"api_key": None}, "is missing"),
        ({"api_key": 7}, "must be a non-empty string"),
        ({"api_key": [VALUE]}, "must be a non-empty string"),
        ({"api_key": ""}, "must be a non-empty string"),
    ],
)
def test_a_missing_or_non_string_field_is_named(read: Any, data: dict[str, Any], problem: str) -> None:
    assert refusal(read, data, "api_key", S, "kill.api_key") == ("kill.api_key", problem)


def test_text_is_stripped_and_must_show_something() -> None:
    assert entries.text({"account_id": "  main \n"}, "account_id", S, "account_id") == "main"
    assert refusal(entries.text, {"account_id": " \t "}, "account_id", S, "account_id") == (
        "account_id",
        "must be a non-empty string",
    )


@pytest.mark.parametrize(
    ("value", "ascii_refused", "unprintable_refused"),
    [
        ("main\n", True, True),  # a pasted newline: refused before stripping, never stripped away
        ("ma\x00in", True, True),
        ("main\x7f", True, True),
        ("ma\x85in", False, True),  # a C1 control: only isprintable's rule refuses it
        ("ma\u2028in", False, True),
        ("main", False, False),
        (" main ", False, False),
    ],
)
def test_each_control_rule_refuses_what_it_always_refused(
    value: str, ascii_refused: bool, unprintable_refused: bool
) -> None:
    data = {"account_id": value}
    # "allowed" takes any of them, stripped, as Kraken's and Gemini's labels always were.
    assert entries.text(data, "account_id", S, "account_id") == value.strip()
    for controls, refused in (("ascii", ascii_refused), ("unprintable", unprintable_refused)):
        if refused:
            assert refusal(entries.text, data, "account_id", S, "account_id", controls=controls) == (
                "account_id",
                "must not hold control characters",
            )
        else:
            assert entries.text(data, "account_id", S, "account_id", controls=controls) == value.strip()


@pytest.mark.parametrize("value", ["ab cd", "ab\tcd", "abc\n", " abc", "ab\x00c", "abc\u00e9", "ab\u00a0c"])
def test_a_token_as_written_refuses_spaces_controls_and_non_ascii(value: str) -> None:
    assert refusal(entries.token, {"api_key": value}, "api_key", S, "api_key") == (
        "api_key",
        "must be printable ASCII without spaces or control characters",
    )


def test_a_stripped_token_takes_surrounding_whitespace_off_but_still_refuses_inner_space() -> None:
    assert entries.token({"api_key": " abc\n"}, "api_key", S, "api_key", strip=True) == "abc"
    assert refusal(entries.token, {"api_key": "a b"}, "api_key", S, "api_key", strip=True) == (
        "api_key",
        "must be printable ASCII without spaces or control characters",
    )
    assert refusal(entries.token, {"api_key": "  "}, "api_key", S, "api_key", strip=True) == (
        "api_key",
        "must be a non-empty string",
    )
    assert entries.token({"api_key": "k-1_A.b"}, "api_key", S, "api_key") == "k-1_A.b"


def test_as_written_keeps_surrounding_whitespace() -> None:
    assert entries.as_written({"api_secret": " s\n"}, "api_secret", S, "api_secret") == " s\n"


def test_a_token_pair_names_its_fields_with_the_prefix() -> None:
    assert entries.token_pair({"api_key": "k", "api_secret": "s"}, S) == ("k", Secret("s"))
    assert refusal(entries.token_pair, {"api_key": "k", "api_secret": "s s"}, S, "kill.") == (
        "kill.api_secret",
        "must be printable ASCII without spaces or control characters",
    )


@pytest.mark.parametrize("value", [None, 0, 1, "true", []])
def test_a_flag_must_be_true_or_false(value: Any) -> None:
    assert refusal(entries.flag, {"demo": value}, "demo", S) == ("demo", "must be true or false")


def test_an_absent_flag_is_false() -> None:
    assert entries.flag({}, "demo", S) is False
    assert entries.flag({"demo": True}, "demo", S) is True


@dataclass(frozen=True)
class _Account(KeyPairAccount):
    account_id: str
    api_key: str
    api_secret: Secret
    base_url: str = "https://venue.example"
    kill: KillCredentials | None = None


def test_the_kill_path_signs_with_the_kill_pair_on_the_same_account() -> None:
    plain = _Account("main", "k", Secret("s"))
    assert not plain.has_kill_key and plain.for_kill() is plain
    armed = _Account("main", "k", Secret("s"), kill=KillCredentials("k2", Secret("s2")))
    killer = armed.for_kill()
    assert armed.has_kill_key and not killer.has_kill_key and killer.kill is None
    assert (killer.account_id, killer.base_url) == ("main", "https://venue.example")
    assert (killer.api_key, killer.api_secret.reveal()) == ("k2", "s2")
    assert type(killer) is _Account


# -- labels, stripping and choices -------------------------------------------------------------------


def test_a_label_refuses_every_unprintable_character_and_may_be_kept_as_written() -> None:
    assert entries.label({"account_id": " main "}, "account_id", S, "account_id") == "main"
    assert entries.label({"account_id": " main "}, "account_id", S, "account_id", strip=False) == " main "
    for value in ("a\x00b", "main\n", "a\x85b", "a\u2028b"):
        assert refusal(entries.label, {"account_id": value}, "account_id", S, "account_id") == (
            "account_id",
            "must not hold control characters",
        )


def test_text_as_written_keeps_surrounding_spaces_but_still_refuses_controls_and_blanks() -> None:
    read = entries.text
    assert read({"passphrase": " p w "}, "passphrase", S, "passphrase", strip=False) == " p w "
    assert refusal(
        read, {"passphrase": "pw\n"}, "passphrase", S, "passphrase", controls="ascii", strip=False
    ) == (
        "passphrase",
        "must not hold control characters",
    )
    assert refusal(read, {"passphrase": "   "}, "passphrase", S, "passphrase", strip=False) == (
        "passphrase",
        "must be a non-empty string",
    )


OPTIONS = ("production", "testnet")


def test_a_choice_is_one_of_its_strings_or_none_when_absent() -> None:
    assert entries.choice({"environment": "testnet"}, "environment", OPTIONS, S) == "testnet"
    assert entries.choice({}, "environment", OPTIONS, S) is None
    assert entries.choice({"environment": None}, "environment", OPTIONS, S) is None
    assert entries.choice({"market": " usdm\n"}, "market", ("coinm", "usdm"), S, strip=True) == "usdm"
    assert refusal(entries.choice, {}, "environment", OPTIONS, S, "kill.environment", required=True) == (
        "kill.environment",
        "is missing (one of: production, testnet)",
    )


@pytest.mark.parametrize(
    "value", [["testnet"], [VALUE], {"testnet": VALUE}, 7, 1.5, True, "Testnet", " testnet"]
)
def test_a_choice_refuses_anything_else_naming_the_field_and_its_options(value: Any) -> None:
    # A list or an object used to reach `x in dict` and escape as TypeError (unhashable type).
    assert refusal(entries.choice, {"environment": value}, "environment", OPTIONS, S) == (
        "environment",
        "must be one of: production, testnet",
    )


# -- every venue's entry, through the credential store -----------------------------------------------

KRAKEN_SECRET = base64.b64encode(b"kraken-secret-bytes").decode()
KILL_PAIR = {"api_key": "kill-key-1", "api_secret": "kill-secret-1"}

# One entry per venue with every field it takes, each valid: the refusals below are each one field's.
FULL: dict[str, dict[str, Any]] = {
    "kraken": {
        "account_id": "main",
        "api_key": "key-1",
        "api_secret": KRAKEN_SECRET,
        "base_url": "https://api.kraken.com",
        "kill": {"api_key": "kill-key-1", "api_secret": KRAKEN_SECRET},
    },
    "gemini": {
        "account_id": "main",
        "api_key": "master-key-1",
        "api_secret": "secret-1",
        "nonce_mode": "time",
        "account": "primary",
        "sweep_scope": "all",
        "environment": "sandbox",
        "base_url": "https://api.sandbox.gemini.com",
        "kill": {"api_key": "account-kill", "api_secret": "secret-2", "nonce_mode": "increasing"},
        "retiring": {"api_key": "account-old", "api_secret": "secret-3", "nonce_mode": "time"},
    },
    "hyperliquid": {
        "account_id": "main",
        "address": "0x" + "ab" * 20,
        "agent_private_key": "0x" + "a6" * 32,
        "vault_address": "0x" + "cd" * 20,
        "network": "testnet",
        "base_url": "https://api.hyperliquid-testnet.xyz",
        "dexes": ["", "xyz"],
        "kill": {"agent_private_key": "0x" + "4c" * 32},
    },
    "okx": {
        "account_id": "main",
        "api_key": "key-1",
        "api_secret": "secret-1",
        "passphrase": "pass phrase 1",
        "tags": ["stratA"],
        "demo": True,
        "base_url": "https://www.okx.com",
        "kill": {**KILL_PAIR, "passphrase": "pass-2"},
    },
    "binance": {
        "account_id": "perps",
        "market": "usdm",
        "api_key": "key-1",
        "api_secret": "secret-1",
        "symbols": ["BTCUSDT"],
        "base_url": "https://fapi.binance.com",
        "kill": KILL_PAIR,
    },
    "gate": {
        "account_id": "main",
        "api_key": "key-1",
        "api_secret": "secret-1",
        "markets": ["spot", "futures:usdt"],
        "pairs": {"futures:usdt": ["BTC_USDT"]},
        "unified": True,
        "base_url": "https://api.gateio.ws",
        "kill": KILL_PAIR,
    },
    "bitmex": {
        "account_id": "main",
        "api_key": "key-1",
        "api_secret": "secret-1",
        "environment": "testnet",
        "base_url": "https://testnet.bitmex.com",
        "kill": KILL_PAIR,
    },
    "bybit": {
        "account_id": "main",
        "api_key": "key-1",
        "api_secret": "secret-1",
        "categories": ["linear", "inverse", "spot", "option"],
        "settle_coins": ["USDT"],
        "inverse_coins": ["BTC"],
        "base_url": "https://api.bybit.com",
        "kill": KILL_PAIR,
    },
    "deribit": {
        "account_id": "main",
        "api_key": "client-id-1",
        "api_secret": "client-secret-1",
        "environment": "testnet",
        "base_url": "https://test.deribit.com",
        "kill": KILL_PAIR,
    },
}


def put(entry: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `entry` with the field at `path` ("kill.api_key") set to `value`."""
    changed = copy.deepcopy(entry)
    *parents, name = path.split(".")
    holder = changed
    for parent in parents:
        holder = holder[parent]
    holder[name] = value
    return changed


def store_refusal(venue: str, entry: dict[str, Any]) -> tuple[str, str]:
    """The refusal the credential store gives for a secret holding `entry`, as (field, problem)."""
    with pytest.raises(CredentialsError) as info:
        parse_secret(venue, f"deadman/{venue}", json.dumps({"accounts": [entry]}))
    assert VALUE not in str(info.value)
    field = info.value.field
    assert field.startswith("accounts[0].")
    return field.removeprefix("accounts[0]."), info.value.problem


def test_every_venue_is_covered_and_its_full_entry_parses() -> None:
    assert sorted(FULL) == sorted(VENUES)
    for venue, entry in FULL.items():
        parsed = parse_secret(venue, f"deadman/{venue}", json.dumps({"accounts": [entry]}))
        assert parsed.account_ids == (entry["account_id"],)


@pytest.mark.parametrize(
    ("venue", "field"),
    [(venue, field) for venue, entry in FULL.items() for field in entry],
)
@pytest.mark.parametrize("value", [[[VALUE]], {"zz": VALUE}, 7], ids=["list", "object", "number"])
def test_a_field_of_the_wrong_shape_is_refused_naming_it_never_as_a_type_error(
    venue: str, field: str, value: Any
) -> None:
    # Anything but a CredentialsError reaches the operator as "accounts[0] is invalid (TypeError)".
    named, problem = store_refusal(venue, put(FULL[venue], field, value))
    assert named == field or named.startswith((f"{field}.", f"{field}[")), (named, problem)


@pytest.mark.parametrize(
    ("venue", "field", "options"),
    [
        ("bitmex", "environment", "production, testnet"),
        ("deribit", "environment", "production, testnet"),
        ("hyperliquid", "network", "mainnet, testnet"),
        ("binance", "market", "coinm, usdm"),
        ("gemini", "environment", "production, sandbox"),
        ("gemini", "sweep_scope", "session, all"),
        ("gemini", "nonce_mode", "time, increasing"),
        ("gemini", "kill.nonce_mode", "time, increasing"),
        ("gemini", "retiring.nonce_mode", "time, increasing"),
    ],
)
@pytest.mark.parametrize("value", [["testnet"], {"testnet": True}, 1, "Testnet"])
def test_an_enumerated_field_refuses_anything_but_its_strings_naming_them(
    venue: str, field: str, options: str, value: Any
) -> None:
    assert store_refusal(venue, put(FULL[venue], field, value)) == (field, f"must be one of: {options}")


def test_an_explicit_null_network_is_still_refused_not_taken_as_mainnet() -> None:
    assert store_refusal("hyperliquid", put(FULL["hyperliquid"], "network", None)) == (
        "network",
        "is missing (one of: mainnet, testnet)",
    )


LABELS_AND_KEY_IDS = [
    ("kraken", "account_id"),
    ("kraken", "api_key"),
    ("kraken", "kill.api_key"),
    ("gemini", "account_id"),
    ("gemini", "api_key"),
    ("gemini", "account"),
    ("gemini", "kill.api_key"),
    ("gemini", "retiring.api_key"),
    ("hyperliquid", "account_id"),
    ("okx", "account_id"),
    ("okx", "api_key"),
    ("okx", "kill.api_key"),
    ("binance", "account_id"),
    ("binance", "api_key"),
    ("binance", "kill.api_key"),
    ("gate", "account_id"),
    ("gate", "api_key"),
    ("gate", "kill.api_key"),
    ("bitmex", "account_id"),
    ("bitmex", "api_key"),
    ("bitmex", "kill.api_key"),
    ("deribit", "account_id"),
    ("deribit", "api_key"),
    ("deribit", "kill.api_key"),
]


@pytest.mark.parametrize(("venue", "field"), LABELS_AND_KEY_IDS)
@pytest.mark.parametrize("control", ["\x00", "\n", "\x1b", "\x7f", "\x85", "\u2028"])
def test_no_label_or_key_id_of_any_venue_holds_a_control_character(
    venue: str, field: str, control: str
) -> None:
    # A key id with one can never authenticate; a label with one corrupts log lines and status.
    named, problem = store_refusal(venue, put(FULL[venue], field, f"a{control}b"))
    assert named == field and "control characters" in problem, (named, problem)


@pytest.mark.parametrize("venue", sorted(set(VENUES) - {"binance"}))
def test_a_label_is_looked_at_as_written_so_a_pasted_newline_is_refused_not_stripped(venue: str) -> None:
    # Binance's label is a token, stripped first as its keys are (it always was).
    assert store_refusal(venue, put(FULL[venue], "account_id", "main\n")) == (
        "account_id",
        "must not hold control characters",
    )


def test_a_kraken_key_id_is_still_taken_stripped() -> None:
    entry = put(put(FULL["kraken"], "api_key", " key-1\n"), "kill.api_key", "\tkill-key-1 ")
    (account,) = parse_secret("kraken", "deadman/kraken", json.dumps({"accounts": [entry]})).accounts
    assert (account.api_key, account.kill.api_key) == ("key-1", "kill-key-1")


def test_an_okx_passphrase_secret_and_key_are_stripped_as_always() -> None:
    entry = put(put(FULL["okx"], "passphrase", " pass phrase "), "api_secret", " secret-1 ")
    entry = put(entry, "api_key", " key-1 ")
    (account,) = parse_secret("okx", "deadman/okx", json.dumps({"accounts": [entry]})).accounts
    assert account.keys.passphrase.reveal() == "pass phrase"  # what every deployment relied on
    assert account.keys.api_secret.reveal() == "secret-1"  # generated by OKX: no space of its own
    assert account.keys.api_key == "key-1"
    # A pasted newline in OKX's key id is refused, not stripped away, as it always was.
    assert store_refusal("okx", put(FULL["okx"], "api_key", "key-1\n")) == (
        "api_key",
        "must not hold control characters",
    )
    assert account.kill.passphrase.reveal() == "pass-2"
    for field in ("passphrase", "kill.passphrase", "api_secret", "kill.api_secret"):
        assert store_refusal("okx", put(FULL["okx"], field, "pass\tphrase")) == (
            field,
            "must not hold control characters",
        )
