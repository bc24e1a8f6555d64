"""A deterministic stand-in for `deadman.core.concurrency.Parallel` in venue tests."""

from __future__ import annotations

from typing import Any

from deadman.core.concurrency import Outcome, attempt


class InOrder:
    """A `Parallel` that runs a batch one job after another, in order, and remembers each batch's size:
    what the client hands over side by side, made deterministic."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def run(self, jobs: Any, deadline_ms: int | None = None) -> list[Outcome[Any]]:
        self.batches.append(len(jobs))
        return [attempt(job) for job in jobs]
