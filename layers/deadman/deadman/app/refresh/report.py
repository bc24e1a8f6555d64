"""What a tick reports: per account, what it decided and did; for the loop, the logs and the tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from deadman.core.liveness import Liveness
from deadman.core.policy import Decision


@dataclass
class AccountTick:
    account: str
    decision: Decision | None = None
    extended_to_ms: int | None = None
    swept: int | None = None
    error: str | None = None
    note: str = ""
    retry: bool = False  # failed in a way that trying again soon may mend
    off: bool = False  # in an off period: the trader is away on purpose


@dataclass
class TickReport:
    venue: str
    at_ms: int
    liveness: Liveness
    accounts: list[AccountTick] = field(default_factory=list)
    error: str | None = None
