"""Running independent pieces of work side by side, bounded by a deadline: one seam, two engines.

Production runs each job on a thread (`ThreadParallel`); the simulation runs them as tasks of its
virtual-time scheduler. Either way a job that has not finished by the deadline is reported as not
done and left to finish on its own (its own client timeouts bound it): the caller must answer in time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from deadman.core.clock import Clock, system_clock

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    done: bool
    value: T | None = None
    error: BaseException | None = None


class Parallel(Protocol):
    def run(self, jobs: Sequence[Callable[[], T]], deadline_ms: int | None = None) -> list[Outcome[T]]:
        """Run every job; outcomes in the jobs' order. `deadline_ms` None waits for all."""
        ...


def attempt(job: Callable[[], T]) -> Outcome[T]:
    """Run one job here and now: its value, or what it raised."""
    try:
        return Outcome(True, job())
    except Exception as exc:
        return Outcome(True, None, exc)


class ThreadParallel:
    def __init__(self, *, clock: Clock = system_clock, max_workers: int = 16) -> None:
        self._clock = clock
        self._max_workers = max_workers

    def run(self, jobs: Sequence[Callable[[], T]], deadline_ms: int | None = None) -> list[Outcome[T]]:
        if not jobs:
            return []
        if len(jobs) == 1 and deadline_ms is None:
            return [attempt(jobs[0])]  # no thread for the common single-account case
        pool = ThreadPoolExecutor(max_workers=min(self._max_workers, len(jobs)), thread_name_prefix="work")
        try:
            futures: list[Future[T]] = [pool.submit(job) for job in jobs]
            timeout = None if deadline_ms is None else max(0.0, (deadline_ms - self._clock()) / 1000)
            wait_futures(futures, timeout=timeout)
            outcomes: list[Outcome[T]] = []
            for future in futures:
                if not future.done():
                    outcomes.append(Outcome(False))
                elif future.exception() is not None:
                    outcomes.append(Outcome(True, None, future.exception()))
                else:
                    outcomes.append(Outcome(True, future.result()))
            return outcomes
        finally:
            # Never wait for a straggler: the answer must go out; its client timeouts bound it.
            pool.shutdown(wait=False, cancel_futures=True)
