"""Venue credentials from AWS Secrets Manager, one secret per venue, cached.

The secret for a venue is named by an environment variable (`SECRET_GEMINI`, `SECRET_KRAKEN`,
`SECRET_HYPERLIQUID`; absent or empty = that venue is not configured). Its value is a JSON object:

    {
      "accounts": [
        { "account_id": "main", ...the venue's own fields... },
        { "account_id": "mm-2", ... }
      ]
    }

`accounts` is a list (empty: the venue is not configured yet, a calm state, not an error); each
entry is validated by the venue's driver (`parse_account`: `deadman.venues.<venue>.Account.from_mapping`,
whose docstring lists its fields) and every
`account_id` must be unique within the secret. Other top-level keys are ignored (room for notes).

Values are fetched with `GetSecretValue` and cached for `max_age_s` (default 300 s) by the store
itself (Powertools' parameters utility would bring boto3 back into a cold start). After a venue
answers with an authentication error, call `refresh(venue)`: it
fetches the secret again at once, which is how a rotated key reaches a warm Lambda.

Every failure is a `CredentialsError` naming the secret and the field path (`accounts[1].api_key`),
never a value; an unknown or unconfigured venue is a `ConfigError`.

Why this file is long: the secret's format, its validation, its cache (with the copy held standing
through a Secrets Manager outage) and the break-glass file in the same format are one contract.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from deadman.core.errors import ConfigError, CredentialsError
from deadman.core.venue import VenueAccount, VenueDriver
from deadman.venues import VENUES

log = logging.getLogger(__name__)

Loader = Callable[[str], VenueDriver]

WHOLE_VALUE_FIELD = "<secret>"  # the field name used when the whole secret is at fault


def _default_loader(venue: str) -> VenueDriver:
    from deadman.venues import driver

    return driver(venue)


def env_var(venue: str) -> str:
    return f"SECRET_{venue.upper()}"


@dataclass(frozen=True)
class VenueSecret:
    venue: str
    secret_id: str
    accounts: tuple[VenueAccount, ...]  # as the venue's driver parsed them, in the secret's order
    # account_id -> the trading systems whose liveness gates it (all must be alive); an account not
    # named here is gated on the stack's SystemName.
    systems: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Entries marked `"retired": true`: no longer protected (not ticked, not targeted by the
    # controls), kept with their keys so that the fleet can switch off the venue timer it set.
    retired: tuple[VenueAccount, ...] = ()

    @property
    def account_ids(self) -> tuple[str, ...]:
        return tuple(str(account.account_id) for account in self.accounts)

    def account(self, account_id: str) -> VenueAccount:
        for candidate in self.accounts:
            if candidate.account_id == account_id:
                return candidate
        raise ConfigError(f"secret {self.secret_id!r} has no account {account_id!r} for {self.venue}")


def parse_secret(
    venue: str, secret_id: str, raw: str | bytes, *, loader: Loader | None = None, sandbox: bool = False
) -> VenueSecret:
    """Validate one venue secret's value. Raises CredentialsError (never quoting a value).

    `sandbox=True` (only a stack in sandbox mode passes it: deadman.venues.urls) lets an account's
    `base_url` name a host that is not the venue's own, such as a simulator."""
    driver = _venue_driver(venue, loader)
    data, problem = _decode(raw)
    if problem:
        raise CredentialsError(secret_id, WHOLE_VALUE_FIELD, problem)
    if not isinstance(data, Mapping):
        raise CredentialsError(secret_id, WHOLE_VALUE_FIELD, 'must be a JSON object with an "accounts" list')
    entries = data.get("accounts")
    if entries is None:
        raise CredentialsError(secret_id, "accounts", "is missing")
    if not isinstance(entries, list):
        raise CredentialsError(secret_id, "accounts", "must be a list")
    accounts: list[Any] = []
    retired: list[Any] = []
    systems: dict[str, tuple[str, ...]] = {}
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        path = f"accounts[{index}]"
        if not isinstance(entry, Mapping):
            raise CredentialsError(secret_id, path, "must be an object")
        gated = _systems(entry.get("systems"), secret_id, f"{path}.systems") if "systems" in entry else None
        is_retired = entry.get("retired", False)
        if not isinstance(is_retired, bool):
            raise CredentialsError(secret_id, f"{path}.retired", "must be true or false")
        fields = {k: v for k, v in entry.items() if k not in ("systems", "retired")}
        account = _parse_entry(driver, fields, secret_id, path, sandbox)
        account_id = str(account.account_id)
        if account_id in seen:
            raise CredentialsError(
                secret_id, f"{path}.account_id", f"duplicates accounts[{seen[account_id]}].account_id"
            )
        seen[account_id] = index
        (retired if is_retired else accounts).append(account)
        if gated is not None:
            systems[account_id] = gated
    return VenueSecret(
        venue=venue, secret_id=secret_id, accounts=tuple(accounts), systems=systems, retired=tuple(retired)
    )


# As the template's SystemName: the LivenessTable key of one trading system.
_SYSTEM_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
MAX_SYSTEMS_PER_ACCOUNT = 8


def _systems(value: Any, secret_id: str, field_path: str) -> tuple[str, ...]:
    """An account's gating systems: a non-empty list of distinct names, all of which must be alive."""
    if not isinstance(value, list) or not value or len(value) > MAX_SYSTEMS_PER_ACCOUNT:
        raise CredentialsError(
            secret_id, field_path, f"must be a list of 1 to {MAX_SYSTEMS_PER_ACCOUNT} trading system names"
        )
    if not all(isinstance(v, str) and _SYSTEM_NAME.fullmatch(v) for v in value):
        raise CredentialsError(secret_id, field_path, "holds a name that is not 1-128 of [A-Za-z0-9_.:-]")
    if len(set(value)) != len(value):
        raise CredentialsError(secret_id, field_path, "names a system twice")
    return tuple(value)


def _venue_driver(venue: str, loader: Loader | None) -> VenueDriver:
    if venue not in VENUES:
        raise ConfigError(f"unknown venue {venue!r}; known: {', '.join(VENUES)}")
    try:
        return (loader or _default_loader)(venue)
    except ImportError as exc:
        raise ConfigError(f"venue module for {venue!r} cannot be loaded ({type(exc).__name__})") from exc


def _decode(raw: str | bytes) -> tuple[Any, str]:
    # The error is built outside any `except` block on purpose: JSONDecodeError keeps the whole
    # document in `.doc`, and an implicitly chained exception would carry the secret along.
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        text = None
    if text is None:
        return None, "is not valid UTF-8"
    try:
        return json.loads(text), ""
    except ValueError:
        pass
    return None, "is not valid JSON"


def _parse_entry(
    venue: VenueDriver, entry: Mapping[str, Any], secret_id: str, path: str, sandbox: bool
) -> VenueAccount:
    failure: CredentialsError | None = None
    try:
        return venue.parse_account(entry, secret_name=secret_id, sandbox=sandbox)
    except CredentialsError as exc:
        # The venue names its own field ("api_key", "kill.api_secret"); add where the entry sits.
        field = exc.field if exc.field != "accounts[]" else ""
        failure = CredentialsError(secret_id, f"{path}.{field}" if field else path, exc.problem)
    except Exception as exc:
        # Anything else (a parser deep in a signing library) may quote the value: keep the class only.
        failure = CredentialsError(secret_id, path, f"is invalid ({type(exc).__name__})")
    raise failure


class VenueSecrets(Protocol):
    """What the refresher and the controls need of a credential store (CredentialStore, or a fake)."""

    def get(self, venue: str, *, max_age_ms: int | None = None, fresh: bool = False) -> VenueSecret:
        """The venue's secret, fetched again if the copy held is older than `max_age_ms` (default:
        the store's own cache age). A fetch that fails serves the copy held, unless `fresh`: then it
        raises (a sweep must not rest on a copy older than asked for)."""
        ...

    def refresh(self, venue: str) -> VenueSecret: ...


class CredentialStore:
    """Venue -> secret name/ARN, fetched on first use and cached for `max_age_s` seconds."""

    def __init__(
        self,
        secret_ids: Mapping[str, str],
        *,
        max_age_s: int = 300,
        client: Any = None,
        loader: Loader | None = None,
        clock: Callable[[], float] = time.monotonic,
        sandbox: bool = False,
    ) -> None:
        for venue in secret_ids:
            if venue not in VENUES:
                raise ConfigError(f"unknown venue {venue!r}; known: {', '.join(VENUES)}")
        if max_age_s < 0:
            raise ConfigError("max_age_s must be >= 0")
        self.secret_ids = dict(secret_ids)
        self.max_age_s = max_age_s
        self._loader = loader
        # A stack in sandbox mode: venue URLs other than the venues' own are allowed (venues/urls.py).
        self.sandbox = sandbox
        self._client = client
        self._clock = clock
        # secret id -> (when fetched, by self._clock; the raw value)
        self._values: dict[str, tuple[float, str | bytes]] = {}
        # Parsed per venue with the raw value it came from: an unchanged value keeps the same
        # Account objects (clients keyed on them stay warm); a rotated one is parsed afresh.
        self._parsed: dict[str, tuple[str | bytes, VenueSecret]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **kwargs: Any) -> CredentialStore:
        secret_ids = {venue: environ[env_var(venue)] for venue in VENUES if environ.get(env_var(venue))}
        return cls(secret_ids, **kwargs)

    @property
    def venues(self) -> tuple[str, ...]:
        return tuple(self.secret_ids)

    def get(self, venue: str, *, max_age_ms: int | None = None, fresh: bool = False) -> VenueSecret:
        max_age_s = self.max_age_s if max_age_ms is None else min(self.max_age_s, max_age_ms / 1000)
        return self._fetch(venue, force=False, max_age_s=max_age_s, stale_ok=not fresh)

    def refresh(self, venue: str) -> VenueSecret:
        """Fetch again now, bypassing the cache: call after the venue answered AuthError."""
        return self._fetch(venue, force=True)

    def _fetch(
        self, venue: str, *, force: bool, max_age_s: float | None = None, stale_ok: bool = True
    ) -> VenueSecret:
        secret_id = self._secret_id(venue)
        age = self.max_age_s if max_age_s is None else max_age_s
        raw = self._raw(secret_id, force=force, max_age_s=age, stale_ok=stale_ok and not force)
        with self._lock:
            cached = self._parsed.get(venue)
        if cached is not None and cached[0] == raw:
            return cached[1]
        parsed = parse_secret(venue, secret_id, raw, loader=self._loader, sandbox=self.sandbox)
        with self._lock:
            self._parsed[venue] = (raw, parsed)
        return parsed

    def _secret_id(self, venue: str) -> str:
        if venue not in VENUES:
            raise ConfigError(f"unknown venue {venue!r}; known: {', '.join(VENUES)}")
        secret_id = self.secret_ids.get(venue)
        if not secret_id:
            raise ConfigError(f"venue {venue!r} is not configured (set {env_var(venue)})")
        return secret_id

    def _raw(self, secret_id: str, *, force: bool, max_age_s: float, stale_ok: bool) -> str | bytes:
        now = self._clock()
        with self._lock:
            cached = self._values.get(secret_id)
        if cached is not None and not force and now - cached[0] < max_age_s:
            return cached[1]
        problem = ""
        try:
            answer = self._secrets_client().get_secret_value(SecretId=secret_id)
            _check_answered_for(answer, secret_id)
            value = _secret_value(answer)
        except Exception as exc:
            problem = _fetch_problem(exc)
        if problem and cached is not None and stale_ok:
            # Secrets Manager out of reach: the copy held (good a moment ago) stands, rather than
            # stopping every tick - a heartbeat lost twice would be Gemini's 30 s. Read again next time.
            log.warning("secret %s not read again (%s): the copy held stands", secret_id, problem)
            return cached[1]
        if problem:
            raise CredentialsError(secret_id, WHOLE_VALUE_FIELD, problem)
        if value is None:
            raise CredentialsError(secret_id, WHOLE_VALUE_FIELD, "is neither a string nor binary")
        with self._lock:
            self._values[secret_id] = (now, value)
        return value

    def _secrets_client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = secretsmanager_client()
            return self._client


def _check_answered_for(answer: Any, secret_id: str) -> None:
    """The answer must be the secret asked for: another venue's accounts read as this venue's would
    sign with the wrong keys, or leave accounts out. By ARN when an ARN was asked (the template
    passes the full one; a partial ARN lacks the 6-character suffix Secrets Manager appends), else by
    name. A mismatch is an answer not taken as one (transient: the next tick asks again). Logged with
    the names, never a value."""
    if not isinstance(answer, Mapping):
        return  # no answer to check: `_secret_value` refuses it
    name, arn = answer.get("Name"), answer.get("ARN")
    if secret_id.startswith("arn:"):
        ok = isinstance(arn, str) and (arn == secret_id or _SUFFIXED.fullmatch(arn.removeprefix(secret_id)))
    else:
        ok = name == secret_id
    if not ok:
        from deadman.stores.answers import unverified

        log.warning("GetSecretValue answered for another secret: asked %s, got %s (%s)", secret_id, name, arn)
        raise unverified("GetSecretValue", f"is for another secret (asked {secret_id}, got {name})")


# What Secrets Manager appends to a secret's name in its ARN.
_SUFFIXED = re.compile(r"-[A-Za-z0-9]{6}")


def _secret_value(answer: Any) -> str | bytes | None:
    """SecretString, or SecretBinary as bytes (boto3 decodes it; the lean client leaves the wire's
    base64 text)."""
    if not isinstance(answer, Mapping):
        return None
    if isinstance(answer.get("SecretString"), str):
        return str(answer["SecretString"])
    binary = answer.get("SecretBinary")
    if isinstance(binary, bytes):
        return binary
    if isinstance(binary, str):
        try:
            return base64.b64decode(binary, validate=True)
        except ValueError:
            return None
    return None


def _fetch_problem(exc: BaseException) -> str:
    """The service's error code, from the error or what it wraps."""
    visited: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in visited:
        visited.add(id(current))
        response = getattr(current, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            if code == "ResourceNotFoundException":
                return "not found"
            if isinstance(code, str) and code:
                return f"could not be read ({code})"
        current = current.__cause__ or current.__context__
    origin = exc.__cause__ or exc.__context__ or exc
    return f"could not be read ({type(origin).__name__})"


def secretsmanager_client() -> Any:
    """A Secrets Manager client with bounded time per call (region and endpoint from the environment)."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 3, "mode": "standard"})
    return boto3.client("secretsmanager", config=config)


class LocalCredentials:
    """Venue credentials from a file on an operator's machine, for break-glass (`deadman kill
    --direct`) when AWS cannot be reached: `{"<venue>": {"accounts": [...]}, ...}`, each venue's value
    in the same form as its secret. The file must be readable by its owner only, like an ssh key."""

    def __init__(self, path: str, *, loader: Loader | None = None, sandbox: bool = False) -> None:
        self.path = path
        try:
            mode = os.stat(path).st_mode
            with open(path, encoding="utf-8") as handle:
                raw = handle.read()
        except OSError as exc:
            raise ConfigError(f"cannot read the kill credentials file {path!r}: {exc.strerror}") from None
        if mode & 0o077:
            raise ConfigError(
                f"{path!r} is readable by others (mode {mode & 0o777:o}): it holds venue keys; "
                f"chmod 600 {path}"
            )
        data, problem = _decode(raw)
        if problem or not isinstance(data, Mapping):
            raise CredentialsError(path, WHOLE_VALUE_FIELD, problem or "must be a JSON object keyed by venue")
        unknown = [v for v in data if v not in VENUES]
        if unknown:
            raise CredentialsError(path, str(unknown[0]), f"is not a venue; known: {', '.join(VENUES)}")
        self._secrets = {
            venue: parse_secret(venue, f"{path}:{venue}", json.dumps(value), loader=loader, sandbox=sandbox)
            for venue, value in data.items()
        }

    @property
    def venues(self) -> tuple[str, ...]:
        return tuple(v for v in VENUES if v in self._secrets)

    def get(self, venue: str, *, max_age_ms: int | None = None, fresh: bool = False) -> VenueSecret:
        secret = self._secrets.get(venue)
        if secret is None:
            raise ConfigError(f"{self.path!r} has no {venue!r} credentials")
        return secret

    def refresh(self, venue: str) -> VenueSecret:
        return self.get(venue)
