"""The metrics sink as CloudWatch sees it: the EMF documents Powertools prints."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from aws_lambda_powertools import Metrics

from deadman.edges.observability import PowertoolsMetrics


@pytest.fixture
def metrics(monkeypatch: pytest.MonkeyPatch) -> Iterator[Metrics]:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    # As the template sets them for every function (a metric emitted on its own reads them).
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Deadman")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "deadman")
    made = Metrics(namespace="Deadman", service="deadman")
    made.clear_metrics()
    made.clear_default_dimensions()
    yield made
    made.clear_metrics()
    made.clear_default_dimensions()


def _documents(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _dimensions(doc: dict[str, object]) -> dict[str, object]:
    names = doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]  # type: ignore[index]
    return {name: doc[name] for name in names}


def test_a_venue_count_in_a_function_without_one_carries_it(
    metrics: Metrics, capsys: pytest.CaptureFixture[str]
) -> None:
    """The arm's tick runs in the disarm function: its ExtendFailedWhileAlive must reach the
    per-venue alarm (service + venue), not fall into a dimension set no alarm watches."""
    sink = PowertoolsMetrics(metrics)
    sink.count("ExtendFailedWhileAlive", venue="kraken")
    (doc,) = _documents(capsys.readouterr().out)
    assert doc["ExtendFailedWhileAlive"] in (1.0, [1.0])
    assert _dimensions(doc) == {"service": "deadman", "venue": "kraken"}


def test_a_refresher_counts_its_own_venue_through_the_default_dimension(
    metrics: Metrics, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics.set_default_dimensions(venue="kraken")
    sink = PowertoolsMetrics(metrics, venue="kraken")
    sink.count("Ticks", venue="kraken")
    assert _documents(capsys.readouterr().out) == []  # batched, not one document per count
    sink.flush()
    (doc,) = _documents(capsys.readouterr().out)
    assert "Ticks" in doc
    assert _dimensions(doc) == {"service": "deadman", "venue": "kraken"}
