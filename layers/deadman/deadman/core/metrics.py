"""Where the use cases count things: a sink they write to, never Powertools itself (that adapter is
`deadman.edges.observability`)."""

from __future__ import annotations

from typing import Protocol


class MetricsSink(Protocol):
    def count(self, name: str, value: float = 1, **dims: str) -> None: ...

    def gauge(self, name: str, value: float, unit: str = "Seconds", **dims: str) -> None: ...


class ListMetrics:
    """A metrics sink for tests and the sandbox: remembers everything."""

    def __init__(self) -> None:
        self.records: list[tuple[str, float, dict[str, str]]] = []

    def count(self, name: str, value: float = 1, **dims: str) -> None:
        self.records.append((name, value, dims))

    def gauge(self, name: str, value: float, unit: str = "Seconds", **dims: str) -> None:
        self.records.append((name, value, dims))

    def total(self, name: str) -> float:
        return sum(v for n, v, _ in self.records if n == name)


class NoMetrics:
    def count(self, name: str, value: float = 1, **dims: str) -> None:
        pass

    def gauge(self, name: str, value: float, unit: str = "Seconds", **dims: str) -> None:
        pass
