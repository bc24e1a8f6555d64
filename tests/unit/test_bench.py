"""`make bench` plumbing on a tiny run: well-formed JSON and a cost model that adds up. No timing is
asserted (figures are printed by `make bench`, never tested)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from bench import __main__ as bench_main
from bench import cost

ROOT = Path(__file__).resolve().parents[2]


def test_cost_model_reads_the_template_and_adds_up() -> None:
    model = cost.model(ROOT / "template.yaml")
    assumptions = model["assumptions"]
    assert assumptions["memory_mb"] > 0 and assumptions["tick_s"] > 0
    for venue in ("kraken", "gemini", "hyperliquid"):
        lines = model["venues"][venue]["lines"]
        assert {line["item"] for line in lines} >= {"Lambda compute", "DynamoDB per tick", "Secrets Manager"}
        assert all(line["usd"] >= 0 and line["formula"] for line in lines)
        assert model["venues"][venue]["total_usd"] == pytest.approx(sum(line["usd"] for line in lines))
    shared = model["shared"]["total_usd"]
    venues = sum(v["total_usd"] for v in model["venues"].values())
    assert model["fleet_total_usd"] == pytest.approx(shared + venues)
    # An always-on 256 MB arm64 loop: 730 h x 3600 s x 0.25 GB x price, plus the handover overlap.
    compute = next(ln for ln in model["venues"]["kraken"]["lines"] if ln["item"] == "Lambda compute")
    floor = 730 * 3600 * assumptions["memory_mb"] / 1024 * cost.PRICES["lambda_arm64_gb_s"]
    assert compute["usd"] > floor
    assert "fleet, three venues" in cost.render(model)


def test_cost_model_uses_measured_calls() -> None:
    ticks = {
        "kraken": {
            "accounts": 1,
            "aws_calls_per_tick": {"dynamodb.GetItem(strong)": 10.0, "dynamodb.PutItem": 10.0},
            "metric_series": ["A[service,venue]"],
        }
    }
    measured = cost.model(ROOT / "template.yaml", ticks)
    default = cost.model(ROOT / "template.yaml")
    assert measured["venues"]["kraken"]["total_usd"] > default["venues"]["kraken"]["total_usd"] - 1.0
    line = next(ln for ln in measured["venues"]["kraken"]["lines"] if ln["item"] == "DynamoDB per tick")
    assert "10 RRU" in line["formula"] and "10 WRU" in line["formula"]


def test_tiny_bench_run_writes_well_formed_json(tmp_path: Path) -> None:
    # Only deadman's own status cold start and signing: the alternatives are not in .venv.
    code = bench_main.main(
        [
            "--runs", "1", "--signing-rounds", "1", "--no-ticks", "--no-charts",
            "--functions", "status", "--python", sys.executable, "--out", str(tmp_path),
        ]
    )  # fmt: skip
    assert code == 0
    results = json.loads((tmp_path / "bench.json").read_text())
    assert set(results) >= {"machine", "signing", "cold_start", "cost", "table"}
    per_call = results["signing"]["eth_keys default backend"]["per_call_us"]
    assert per_call["deadman"] > 0
    assert results["cold_start"]["median_ms"]["status"]["ours"] > 0
    assert results["cold_start"]["errors"] == {}
    for row in results["table"]:
        assert set(row) == {"what", "unit", "deadman", "alternative", "value", "ratio"}
