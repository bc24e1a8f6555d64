"""Virtual time and cooperative tasks: one seed, one clock, one thing running at a time.

The code under test is ordinary blocking Python (it sleeps, waits on venue calls, runs work in
parallel). Here each task is a real thread, but only one runs at any moment: a task runs until it
reaches a yield point (`sleep`, `checkpoint`, `join`), hands control back to the scheduler, and is
resumed when virtual time reaches its wake time. Ties go by the order in which wakes were scheduled,
so a seed reproduces a run exactly. Plain callbacks (`call_at`) run on the scheduler's own thread and
must not block.

A task can be crashed from outside (`Task.crash`): the next time it resumes at a yield point,
`Crashed` is raised inside it, which is how a Lambda timeout or a process death at any step of a
tick is modelled.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

START_MS = 1_800_000_000_000  # 2027-01-15T08:00:00Z: a fixed epoch so traces are byte-identical


class Crashed(BaseException):
    """Raised inside a task that was crashed (Lambda timeout, process death). BaseException on purpose:
    `except Exception` in the code under test must not swallow it, as it could not swallow a SIGKILL."""


class SimulationError(RuntimeError):
    """The simulation itself was misused (a task blocked outside the scheduler, a deadlock)."""


@dataclass(eq=False)
class Task:
    name: str
    world: World
    fn: Callable[[], Any]
    done: bool = False
    result: Any = None
    error: BaseException | None = None
    crashed: bool = False
    _go: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _crash_requested: bool = False
    _generation: int = 0
    _waiters: list[Task] = field(default_factory=list)
    children: list[Task] = field(default_factory=list)
    yields: int = 0
    crash_at_yield: int | None = None  # crash when resumed at this yield point (1 = the first)

    def crash(self) -> None:
        """Crash at the next yield point (or now, if it has not started), with every task it
        started: they live in the same process."""
        for child in self.children:
            child.crash()
        if self.done:
            return
        self._crash_requested = True
        self.world._wake(self, self.world.now_ms)


class World:
    def __init__(self, *, start_ms: int = START_MS) -> None:
        self._now = start_ms
        self._seq = 0
        self._heap: list[tuple[int, int, int, Task | Callable[[], None]]] = []
        self._yielded = threading.Event()
        self._current: Task | None = None
        self._tasks: list[Task] = []
        self._running = False
        self.steps = 0
        self.on_step: Callable[[], None] | None = None

    # -- time -----------------------------------------------------------------------------------
    @property
    def now_ms(self) -> int:
        return self._now

    def clock(self) -> int:
        return self._now

    # -- scheduling -----------------------------------------------------------------------------
    def _push(self, at_ms: int, item: Task | Callable[[], None], generation: int = 0) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (max(at_ms, self._now), self._seq, generation, item))

    def call_at(self, at_ms: int, fn: Callable[[], None]) -> None:
        """Run `fn` on the scheduler thread at `at_ms` (it must not block or sleep)."""
        self._push(at_ms, fn)

    def spawn(self, name: str, fn: Callable[[], Any], *, at_ms: int | None = None) -> Task:
        task = Task(name=name, world=self, fn=fn)
        self._tasks.append(task)
        if self._current is not None:
            self._current.children.append(task)
        self._wake(task, self._now if at_ms is None else at_ms)
        return task

    def _wake(self, task: Task, at_ms: int) -> None:
        task._generation += 1
        self._push(at_ms, task, task._generation)

    # -- yield points (called from inside a task) -------------------------------------------------
    def current(self) -> Task:
        task = self._current
        if task is None or threading.current_thread() is not task._thread:
            raise SimulationError("a yield point was reached outside a simulated task")
        return task

    def sleep(self, seconds: float) -> None:
        self.sleep_ms(round(max(0.0, seconds) * 1000))

    def sleep_ms(self, ms: int) -> None:
        task = self.current()
        self._wake(task, self._now + max(0, ms))
        self._park(task)

    def checkpoint(self) -> None:
        """A yield point that takes no time: lets a crash land here, and others run at this instant."""
        self.sleep_ms(0)

    def join(self, tasks: list[Task], deadline_ms: int | None = None) -> bool:
        """Wait until every task is done or the deadline passes; True when all are done."""
        me = self.current()
        while True:
            pending = [t for t in tasks if not t.done]
            if not pending:
                return True
            if deadline_ms is not None and self._now >= deadline_ms:
                return False
            for t in pending:
                t._waiters.append(me)
            me._generation += 1
            if deadline_ms is not None:
                self._push(deadline_ms, me, me._generation)
            self._park(me)
            for t in pending:
                if me in t._waiters:
                    t._waiters.remove(me)

    def _park(self, task: Task) -> None:
        self._current = None
        task._go.clear()
        self._yielded.set()
        task._go.wait()
        self._current = task
        task.yields += 1
        if task.crash_at_yield is not None and task.yields >= task.crash_at_yield:
            task.crash_at_yield = None
            task._crash_requested = True
        if task._crash_requested:
            task._crash_requested = False
            raise Crashed(task.name)

    # -- the scheduler --------------------------------------------------------------------------
    def run_until(self, until_ms: int) -> None:
        if self._running:
            raise SimulationError("run_until is not re-entrant")
        self._running = True
        try:
            while self._heap and self._heap[0][0] <= until_ms:
                at, _seq, generation, item = heapq.heappop(self._heap)
                self._now = at
                if isinstance(item, Task):
                    if item.done or generation != item._generation:
                        continue  # a stale wake (the task was woken otherwise meanwhile)
                    self._resume(item)
                else:
                    item()
                self.steps += 1
                if self.on_step is not None:
                    self.on_step()
            self._now = max(self._now, until_ms)
        finally:
            self._running = False

    def _resume(self, task: Task) -> None:
        self._yielded.clear()
        if task._thread is None:
            task._thread = threading.Thread(target=self._body, args=(task,), name=task.name, daemon=True)
            self._current = task
            task._thread.start()
        else:
            task._go.set()
        if not self._yielded.wait(timeout=60):
            raise SimulationError(f"task {task.name} blocked outside the scheduler (a real wait?)")

    def _body(self, task: Task) -> None:
        try:
            if task._crash_requested:
                task._crash_requested = False
                raise Crashed(task.name)
            task.result = task.fn()
        except Crashed:
            task.crashed = True
        except BaseException as exc:  # recorded for the checker: a Lambda invocation that raised
            task.error = exc
        finally:
            task.done = True
            for waiter in task._waiters:
                self._wake(waiter, self._now)
            task._waiters.clear()
            self._current = None
            self._yielded.set()

    def shutdown(self) -> None:
        """Crash every task still parked so that no thread outlives the scenario."""
        for task in self._tasks:
            if task.done or task._thread is None:
                continue
            task._crash_requested = True
            self._yielded.clear()
            task._go.set()
            self._yielded.wait(timeout=10)
            task._thread.join(timeout=10)
