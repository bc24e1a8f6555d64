"""The checkup's judgement on fakes: skew levels, secrets, the time budget, the Gemini trading key."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any, ClassVar

import pytest

from deadman.app.checkup import Checkup, Finding
from deadman.core.errors import CredentialsError
from deadman.core.policy import Mode, Timing
from deadman.stores.switches import Switch
from deadman.venues.gemini import Account as GeminiAccount
from deadman.venues.http import ClockReading
from deadman.venues.kraken import Account as KrakenAccount

KRAKEN = {"account_id": "main", "api_key": "k", "api_secret": "c2VjcmV0"}
GEMINI = {"account_id": "main", "api_key": "account-x", "api_secret": "s", "nonce_mode": "time"}


class Secrets:
    """A credential store holding parsed accounts, or failing for a venue."""

    def __init__(
        self,
        accounts: dict[str, list[Any]],
        broken: set[str] = frozenset(),
        systems: dict[str, dict[str, tuple[str, ...]]] | None = None,
    ) -> None:
        self.accounts = accounts
        self.broken = broken
        self.systems = systems or {}

    def get(self, venue: str, *, max_age_ms: int | None = None) -> Any:
        if venue in self.broken:
            raise CredentialsError(f"deadman/{venue}", "accounts[0].api_key", "is missing")
        accounts = self.accounts.get(venue, [])
        fields = {
            "accounts": accounts,
            "account_ids": [a.account_id for a in accounts],
            "systems": self.systems.get("accounts", {}),
        }
        return type("Parsed", (), fields)()

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
        probe=lambda source: ClockReading(skew_ms, 12.0, "test"),
    )


def levels(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.level, f.subject) for f in findings]


def test_a_kraken_account_without_a_kill_key_is_a_warning_and_skew_is_judged_per_venue() -> None:
    kraken = KrakenAccount.from_mapping(KRAKEN, secret_name="deadman/kraken")
    found = checkup(Secrets({"kraken": [kraken]})).run(["kraken"])
    assert levels(found) == [
        ("OK", "secret kraken"),
        ("OK", "kraken/main"),  # skew 0.1 s
        ("WARN", "kraken/main"),  # no kill key
        ("OK", "kraken/main"),  # refresher key
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


NOW = 1_700_000_000_000
GEMINI_WITH_KILL = {
    **GEMINI,
    "kill": {"api_key": "account-kill", "api_secret": "k", "nonce_mode": "increasing"},
}


class Switches:
    def __init__(self, mode: Mode = Mode.ARMED) -> None:
        self.mode = mode

    def get(self, venue: str, account: str) -> Switch:
        return Switch(venue, account, mode=self.mode, version=3)


class Rows:
    """The LivenessTable as read_and_judge reads it: each system's beat, so many ms old."""

    def __init__(self, ages_ms: dict[str, int | None]) -> None:
        self.ages_ms = ages_ms
        self.read_for: list[str] = []

    def read(self, system: str) -> dict[str, Any] | None:
        self.read_for.append(system)
        age = self.ages_ms.get(system)
        return None if age is None else {"system": system, "beat_ms": Decimal(NOW - age), "state": "running"}


def judged(
    mode: Mode = Mode.ARMED,
    ages_ms: dict[str, int | None] | None = None,
    entry: dict[str, Any] = GEMINI,
    **kw: Any,
) -> tuple[list[Finding], Rows]:
    """The checkup with the Gemini trading key allowed, the switch in `mode`, the traders' rows."""
    Client.calls = []
    rows = Rows({"trader": 1_000} if ages_ms is None else ages_ms)
    account = GeminiAccount.from_mapping(entry, secret_name="deadman/gemini")
    found = Checkup(
        credentials=Secrets({"gemini": [account]}, **kw),
        nonces=object(),  # type: ignore[arg-type]
        switches=Switches(mode),  # type: ignore[arg-type]
        clock=lambda: NOW,
        client_factory=Client,  # type: ignore[arg-type]
        probe=lambda source: ClockReading(100, 12.0, "test"),
        liveness=rows,  # type: ignore[arg-type]
        system="trader",
        timing=Timing(),
    ).run(["gemini"], allow_timer_key_calls=True)
    return found, rows


def test_the_gemini_trading_key_is_called_only_when_allowed() -> None:
    gemini = GeminiAccount.from_mapping(GEMINI, secret_name="deadman/gemini")
    Client.calls = []
    found = checkup(Secrets({"gemini": [gemini]})).run(["gemini"])
    assert Client.calls == [] and found[-1].level == "SKIP" and "trading key not called" in found[-1].detail
    found, _ = judged()
    assert Client.calls == ["gemini:account-x"]
    assert "trading key authenticates" in found[-1].detail


@pytest.mark.parametrize(
    ("mode", "ages_ms", "why"),
    [
        (Mode.KILLED, {"trader": 1_000}, "its switch is killed, not armed"),
        (Mode.DISARMED, {"trader": 1_000}, "its switch is disarmed, not armed"),
        (Mode.ARMED, {"trader": 25_000}, "not judged alive (stale"),
        (Mode.ARMED, {"trader": None}, "not judged alive (missing"),
        (Mode.ARMED, {"trader": -6_000}, "not judged alive (future"),
    ],
)
def test_the_gemini_trading_key_is_never_called_when_that_would_extend_a_switch(
    mode: Mode, ages_ms: dict[str, int | None], why: str
) -> None:
    """Hazard 15: doctor with the Gemini call allowed reset the 30 s rule on a killed switch or for
    a dead trader - a read-only check that postponed the venue's cancel."""
    found, _ = judged(mode, ages_ms)
    assert Client.calls == []
    assert found[-1].level == "SKIP" and why in found[-1].detail, found[-1].detail
    assert "give the account a kill key" in found[-1].detail


def test_with_a_kill_key_the_skip_says_the_kill_key_was_checked_instead() -> None:
    found, _ = judged(Mode.KILLED, entry=GEMINI_WITH_KILL)
    assert Client.calls == ["gemini:account-kill"]  # the kill key: no heartbeat rule
    assert "the kill key, which has no heartbeat rule, was checked above instead" in found[-1].detail


def test_an_account_gated_on_its_own_systems_is_judged_on_every_one_of_them() -> None:
    gated = {"accounts": {"main": ("strategy-a", "strategy-b")}}
    found, rows = judged(ages_ms={"trader": 1_000, "strategy-a": 1_000, "strategy-b": 30_000}, systems=gated)
    assert Client.calls == [] and "strategy-b" in found[-1].detail
    assert sorted(rows.read_for) == ["strategy-a", "strategy-b"]  # not the stack's own system
    judged(ages_ms={"strategy-a": 1_000, "strategy-b": 2_000}, systems=gated)
    assert Client.calls == ["gemini:account-x"]


def test_without_a_judge_the_trading_key_is_not_called_even_when_allowed() -> None:
    gemini = GeminiAccount.from_mapping(GEMINI, secret_name="deadman/gemini")
    Client.calls = []
    found = checkup(Secrets({"gemini": [gemini]})).run(["gemini"], allow_timer_key_calls=True)
    assert Client.calls == [] and "cannot be" in found[-1].detail


def test_a_gemini_account_without_a_kill_key_is_a_warning_like_kraken() -> None:
    found, _ = judged()
    [warning] = [f for f in found if "no kill key" in f.detail]
    assert warning.level == "WARN" and "restarts Gemini's 30 s heartbeat rule" in warning.detail


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
