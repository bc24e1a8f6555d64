"""Powertools behind the metrics sink the use cases write to (`deadman.core.metrics`), and the
logger adapter: only the edges import Powertools."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class PowertoolsMetrics:
    """EMF metrics. A refresher's `venue` is a default dimension, set once for its function (`venue`
    here). A metric with other dimensions (`system`, or a venue in a function that has no venue of
    its own: the arm's tick, in the disarm function) is emitted on its own, with the service
    dimension and those, so that the per-venue alarms count it too."""

    def __init__(self, metrics: Any, *, venue: str | None = None) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        self._metrics = metrics
        self._venue = venue
        self._count = MetricUnit.Count
        self._seconds = MetricUnit.Seconds

    def count(self, name: str, value: float = 1, **dims: str) -> None:
        own = {k: v for k, v in dims.items() if not (k == "venue" and v == self._venue)}
        if own:
            self._single(name, value, own)
            return
        self._metrics.add_metric(name=name, unit=self._count, value=value)

    def _single(self, name: str, value: float, dims: dict[str, str]) -> None:
        """A metric with dimensions of its own (the trading system, not the function's venue): EMF
        needs one document per dimension set. Silent when metrics are disabled, as the rest."""
        import os

        from aws_lambda_powertools.metrics import single_metric

        if os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() == "true":
            return
        with single_metric(name=name, unit=self._count, value=value) as metric:
            for key, dim in dims.items():
                metric.add_dimension(name=key, value=dim)

    @contextmanager
    def flushing(self) -> Iterator[None]:
        """Flush whatever the block emitted, however it ends."""
        try:
            yield
        finally:
            self.flush()

    def gauge(self, name: str, value: float, unit: str = "Seconds", **dims: str) -> None:
        self._metrics.add_metric(name=name, unit=self._seconds, value=value)

    def flush(self) -> None:
        if not self._metrics.metric_set:
            return  # Powertools warns on an empty flush
        self._metrics.flush_metrics()
        # With POWERTOOLS_METRICS_DISABLED, flush keeps the values, and Powertools prints them
        # anyway once 100 accumulate: drop them so a disabled sink stays silent and small.
        self._metrics.clear_metrics()


def logger_sink(logger: Any) -> Any:
    def log(message: str, **fields: Any) -> None:
        logger.warning(message, extra=fields)

    return log
