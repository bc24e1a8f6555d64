"""The checkup's judgement on fakes: skew levels, secrets, the time budget, the Gemini trading key."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from deadman.app.checkup import Checkup, Finding
from deadman.core.errors import CredentialsError
from deadman.venues.gemini import Account as GeminiAccount
from deadman.venues.http import ClockReading
from deadman.venues.kraken import Account as KrakenAccount

KRAKEN = {"account_id": "main", "api_key": "k", "api_secret": "c2VjcmV0"}
GEMINI = {"account_id": "main", "api_key": "account-x", "api_secret": "s", "nonce_mode": "time"}


class Secrets:
    """A credential store holding parsed accounts, or failing for a venue."""

    def __init__(self, accounts: dict[str, list[Any]], broken: set[str] = frozenset()) -> None:
        self.accounts = accounts
        self.broken = broken

    def get(self, venue: str, *, max_age_ms: int | None = None) -> Any:
        if venue in self.broken:
            raise CredentialsError(f"deadman/{venue}", "accounts[0].api_key", "is missing")
        accounts = self.accounts.get(venue, [])
        return type("Parsed", (), {"accounts": accounts, "account_ids": [a.account_id for a in accounts]})()

    def refresh(self, venue: str) -> Any:
        return self.get(venue)


class Client:
    calls: ClassVar[list[str]] = []

    def __init__(self, venue: str, account: Any, hang: threading.Event | None = None) -> None:
        self.name = f"{venue}:{getattr(account, 'api_key', '?')}"
        self.hang = hang

    def open_orders(self) -> list[Any]:
        if self.hang is not None:
            self.hang.wait(5)
        Client.calls.append(self.name)
        return []

    def close(self) -> None:
        pass


def checkup(secrets: Secrets, skew_ms: float | None = 100, hang: threading.Event | None = None) -> Checkup:
    return Checkup(
        credentials=secrets,
        nonces=object(),  # type: ignore[arg-type]
        switches=None,
        client_factory=lambda venue, account: Client(venue, account, hang),  # type: ignore[arg-type,return-value]
        probe=lambda venue, method, url, body: ClockReading(skew_ms, 12.0, "test"),
    )


def levels(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.level, f.subject) for f in findings]


def test_a_kraken_account_without_a_kill_key_is_a_warning_and_skew_is_judged_per_venue() -> None:
    kraken = KrakenAccount.from_mapping(KRAKEN, secret_name="deadman/kraken")
    found = checkup(Secrets({"kraken": [kraken]})).run(["kraken"])
    assert levels(found) == [
        ("OK", "secret kraken"),
        ("OK", "kraken/main"),  # skew 0.1 s
        ("OK", "kraken/main"),  # refresher key
        ("WARN", "kraken/main"),  # no kill key
    ]
    found = checkup(Secrets({"kraken": [kraken]}), skew_ms=31_000).run(["kraken"])
    assert ("FAIL", "kraken/main") in levels(found) and "clock skew +31.0 s" in found[1].detail
    found = checkup(Secrets({"kraken": [kraken]}), skew_ms=None).run(["kraken"])
    assert found[1].level == "WARN" and "skew unknown" in found[1].detail


def test_a_broken_or_empty_secret_is_said_and_nothing_is_called() -> None:
    Client.calls = []
    found = checkup(Secrets({}, broken={"kraken"})).run(["kraken", "gemini"])
    assert levels(found) == [("FAIL", "secret kraken"), ("WARN", "secret gemini")]
    assert "accounts[0].api_key" in found[0].detail and "not configured" in found[1].detail
    assert Client.calls == []


def test_the_gemini_trading_key_is_called_only_when_allowed() -> None:
    gemini = GeminiAccount.from_mapping(GEMINI, secret_name="deadman/gemini")
    Client.calls = []
    found = checkup(Secrets({"gemini": [gemini]})).run(["gemini"])
    assert Client.calls == [] and found[-1].level == "SKIP" and "trading key not called" in found[-1].detail
    checkup(Secrets({"gemini": [gemini]})).run(["gemini"], allow_gemini_call=True)
    assert Client.calls == ["gemini:account-x"]


def test_a_venue_that_hangs_is_a_failure_when_the_budget_runs_out_and_the_others_still_answer() -> None:
    kraken = KrakenAccount.from_mapping(KRAKEN, secret_name="deadman/kraken")
    gemini = GeminiAccount.from_mapping(GEMINI, secret_name="deadman/gemini")
    hang = threading.Event()
    try:
        found = checkup(Secrets({"kraken": [kraken], "gemini": [gemini]}), hang=hang).run(
            ["kraken", "gemini"], budget_ms=300
        )
    finally:
        hang.set()
    assert ("FAIL", "kraken") in levels(found) and "no answer within 0 s" in found[0].detail
    assert ("OK", "secret gemini") in levels(found)  # Gemini's checks call no hanging client
