"""The parts of a venue secret's account entry (one item of its `accounts` list) that every venue
shares, parsed one way: the entry as an object of known fields, a label, a key id or secret, a flag,
an optional sub-object such as `kill`, and the kill key pair with the account that signs with it.

What only one venue has (OKX's tags, Gemini's nonce mode, Hyperliquid's wallets, the base URLs)
stays in that venue's `account` module. Every failure is a `CredentialsError` naming the field, never
its value. Each venue keeps the strictness it always had (which of these it calls, with which
options): a stricter check would refuse a whole secret that protects accounts today. Two rules hold
for every venue even so, as refusing them loses nothing: a label (`label`) or a key id (`token`)
never holds a control character (the key could never authenticate, the label would corrupt log lines
and status output), and an enumerated field (`choice`) that is not one of its strings, a list or an
object included, is refused naming the field.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import Field, dataclass, replace
from typing import Any, ClassVar, Literal, Self, overload

from deadman.core.errors import CredentialsError
from deadman.core.secret import Secret

ENTRY = "accounts[]"  # the field name when the entry itself is at fault (the store adds its index)
KEY_PAIR_FIELDS = frozenset({"api_key", "api_secret"})

# The control characters a text field refuses, looked for in the value as written so that a pasted
# newline is refused rather than stripped away unseen: none, the ASCII ones (C0 and DEL), or every
# character `str.isprintable` refuses.
Controls = Literal["allowed", "ascii", "unprintable"]


def require_object(
    value: object, secret_name: str, field: str, problem: str = "must be an object"
) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CredentialsError(secret_name, field, problem)
    return value


def refuse_unknown(
    data: Mapping[str, Any], allowed: Collection[str], secret_name: str, prefix: str = ""
) -> None:
    # Refused, not ignored: a misspelt "kill" would otherwise silently drop the kill key.
    for name in data:
        if name not in allowed:
            raise CredentialsError(secret_name, f"{prefix}{name}", "is not a known field")


def check_entry(data: object, allowed: Collection[str], secret_name: str) -> None:
    """`data` is one account entry: an object holding only `allowed` fields."""
    refuse_unknown(require_object(data, secret_name, ENTRY), allowed, secret_name)


def optional_object(
    data: Mapping[str, Any], key: str, allowed: Collection[str], secret_name: str, problem: str
) -> Mapping[str, Any] | None:
    """`data[key]` as an object of `allowed` fields (named `key.<field>`), or None when absent or null."""
    value = data.get(key)
    if value is None:
        return None
    found = require_object(value, secret_name, key, problem)
    refuse_unknown(found, allowed, secret_name, prefix=f"{key}.")
    return found


def as_written(data: Mapping[str, Any], key: str, secret_name: str, field: str) -> str:
    """A non-empty string, not stripped: for values that are used byte for byte (an HMAC key)."""
    return _string(data, key, secret_name, field, blank=True)


def text(
    data: Mapping[str, Any],
    key: str,
    secret_name: str,
    field: str,
    *,
    controls: Controls = "allowed",
    strip: bool = True,
) -> str:
    """A string with something besides whitespace in it, stripped (or as written, `strip=False`)."""
    value = _string(data, key, secret_name, field, blank=False)
    if controls == "ascii":
        refused = any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
    else:
        refused = controls == "unprintable" and not value.isprintable()
    if refused:
        # Each goes into a header, an HMAC or a log line as is: a pasted newline would break it unseen.
        raise CredentialsError(secret_name, field, "must not hold control characters")
    return value.strip() if strip else value


def label(data: Mapping[str, Any], key: str, secret_name: str, field: str, *, strip: bool = True) -> str:
    """A name the operator gives (`account_id`, Gemini's `account`): any printable text, stripped. It
    reaches log lines, metrics and `deadman status` as is: a control character would corrupt them."""
    return text(data, key, secret_name, field, controls="unprintable", strip=strip)


def token(
    data: Mapping[str, Any],
    key: str,
    secret_name: str,
    field: str,
    *,
    strip: bool = False,
    controls: Controls = "allowed",
) -> str:
    """A key id or secret: printable ASCII without spaces. It travels in a header or keys the HMAC, so
    whitespace or a control character would make every request fail to authenticate. `strip` takes
    the value stripped first (as text, refusing first what `controls` names), else as written (a
    pasted trailing newline is refused)."""
    if strip:
        value = text(data, key, secret_name, field, controls=controls)
    else:
        value = as_written(data, key, secret_name, field)
    if not value.isascii() or not value.isprintable() or any(c.isspace() for c in value):
        raise CredentialsError(
            secret_name, field, "must be printable ASCII without spaces or control characters"
        )
    return value


@overload
def choice(
    data: Mapping[str, Any],
    key: str,
    options: Collection[str],
    secret_name: str,
    field: str | None = None,
    *,
    required: Literal[True],
    strip: bool = False,
) -> str: ...


@overload
def choice(
    data: Mapping[str, Any],
    key: str,
    options: Collection[str],
    secret_name: str,
    field: str | None = None,
    *,
    required: bool = False,
    strip: bool = False,
) -> str | None: ...


def choice(
    data: Mapping[str, Any],
    key: str,
    options: Collection[str],
    secret_name: str,
    field: str | None = None,
    *,
    required: bool = False,
    strip: bool = False,
) -> str | None:
    """One of `options` (an environment, a market, a mode), or None when absent or null unless
    `required`. Anything else, a list or an object included, is refused naming the field and the
    options. `strip` takes the value stripped first (Binance's `market` always was)."""
    field = field or key
    value = data.get(key)
    known = ", ".join(options)
    if value is None:
        if required:
            raise CredentialsError(secret_name, field, f"is missing (one of: {known})")
        return None
    if isinstance(value, str) and strip:
        value = value.strip()
    # Tested for a string first: `[...] in {...}` would raise TypeError (unhashable), not refuse.
    if not isinstance(value, str) or value not in options:
        raise CredentialsError(secret_name, field, f"must be one of: {known}")
    return value


def flag(data: Mapping[str, Any], key: str, secret_name: str) -> bool:
    """An optional true or false, false when absent (an explicit null is refused, not taken as false)."""
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise CredentialsError(secret_name, key, "must be true or false")
    return value


def _string(data: Mapping[str, Any], key: str, secret_name: str, field: str, *, blank: bool) -> str:
    value = data.get(key)
    if value is None:
        raise CredentialsError(secret_name, field, "is missing")
    if not isinstance(value, str) or not (value if blank else value.strip()):
        raise CredentialsError(secret_name, field, "must be a non-empty string")
    return value


# -- a key and a secret, and the kill path's own pair ------------------------------------------------


@dataclass(frozen=True)
class KillCredentials:
    api_key: str
    api_secret: Secret


def token_pair(
    data: Mapping[str, Any], secret_name: str, prefix: str = "", *, strip: bool = False
) -> tuple[str, Secret]:
    """`api_key` and `api_secret` as tokens, their fields named with `prefix` ("kill.")."""
    api_key = token(data, "api_key", secret_name, f"{prefix}api_key", strip=strip)
    return api_key, Secret(token(data, "api_secret", secret_name, f"{prefix}api_secret", strip=strip))


def kill_object(data: Mapping[str, Any], secret_name: str) -> Mapping[str, Any] | None:
    """The entry's optional `kill` object of an api_key and an api_secret, unread."""
    return optional_object(
        data, "kill", KEY_PAIR_FIELDS, secret_name, "must be an object with api_key and api_secret"
    )


def kill_token_pair(
    data: Mapping[str, Any], secret_name: str, *, strip: bool = False
) -> KillCredentials | None:
    """The entry's optional `kill` pair, both as tokens (`token_pair`)."""
    raw = kill_object(data, secret_name)
    return None if raw is None else KillCredentials(*token_pair(raw, secret_name, "kill.", strip=strip))


class KeyPairAccount:
    """What the kill path needs of an account that signs with `api_key` and `api_secret` and may
    hold a `kill` pair of its own. A frozen dataclass mixes it in and declares the fields; these
    annotations only tell the type checker they are there."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]
    api_key: str
    api_secret: Secret
    kill: KillCredentials | None

    @property
    def has_kill_key(self) -> bool:
        return self.kill is not None

    def for_kill(self) -> Self:
        """The same account signing with the kill pair (and no further kill pair), or itself."""
        if self.kill is None:
            return self
        return replace(self, api_key=self.kill.api_key, api_secret=self.kill.api_secret, kill=None)
