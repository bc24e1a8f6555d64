"""The fields every venue's secret entry shares (deadman.venues.entries): each refusal names the field
and the problem, never the value; a misspelt field or kill field is refused, never dropped; a pasted
newline is refused, not stripped away; and the kill path signs with the kill pair."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from deadman.core.errors import CredentialsError
from deadman.core.secret import Secret
from deadman.venues import entries
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
