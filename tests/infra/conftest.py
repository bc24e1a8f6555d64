"""Shared helpers of the infra tests: the tool virtual environments, a CloudFormation-aware YAML
loader and a small evaluator for Conditions/Rules (enough to check what the template decides)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
SAM_VENV = REPO / ".venv-sam"
CHECKOV_VENV = REPO / ".venv-checkov"
REGION = "us-east-1"
# `sam build` without Docker needs a python3.13 interpreter on PATH; pyenv shims provide it here.
PYENV_VERSION = os.environ.get("PYENV_VERSION", "3.11.7:3.12.1:3.13.0")

# Seconds each external tool took in this session (printed at the end of the run).
TIMINGS: list[tuple[str, float]] = []


def tool(venv: Path, name: str) -> Path:
    """The executable `name` of a tool venv; fails (never skips) when the venv is not there."""
    exe = venv / "bin" / name
    if not (venv / ".stamp").exists() or not exe.exists():
        pytest.fail(
            f"{exe} is missing: the infra tests need their own virtual environment. "
            f"Run `make {venv.name}/.stamp` (or `make infra`) from {REPO}.",
            pytrace=False,
        )
    return exe


def tool_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SAM_CLI_TELEMETRY": "0",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "PYENV_VERSION": PYENV_VERSION,
        }
    )
    env.update(extra)
    return env


def run_tool(
    label: str, args: list[str], *, timeout: float, cwd: Path = REPO, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    start = time.monotonic()
    try:
        proc = subprocess.run(
            args,
            cwd=cwd,
            env=tool_env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    finally:
        TIMINGS.append((label, time.monotonic() - start))
    return proc


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMINGS:
        terminalreporter.section("infra tool timings")
        for label, seconds in TIMINGS:
            terminalreporter.write_line(f"{seconds:7.1f} s  {label}")


class CfnLoader(yaml.SafeLoader):  # type: ignore[misc]
    """Reads CloudFormation short forms as their long forms: !Ref X -> {"Ref": "X"},
    !GetAtt A.B -> {"Fn::GetAtt": ["A", "B"]}, !Sub ... -> {"Fn::Sub": ...}."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open() as fh:
        data: dict[str, Any] = yaml.load(fh, Loader=CfnLoader)  # noqa: S506 - a SafeLoader subclass
    return data


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return load_template()


def evaluate(node: Any, params: dict[str, str], conditions: dict[str, Any]) -> Any:
    """Evaluate the intrinsic functions usable in Conditions and Rules, with parameter values."""
    if isinstance(node, list):
        return [evaluate(item, params, conditions) for item in node]
    if not isinstance(node, dict) or len(node) != 1:
        return node
    ((fn, arg),) = node.items()
    if fn == "Ref":
        return params[arg]
    if fn == "Condition":
        return bool(evaluate(conditions[arg], params, conditions))
    if fn == "Fn::Equals":
        left, right = (evaluate(x, params, conditions) for x in arg)
        return str(left) == str(right)
    if fn == "Fn::Not":
        return not evaluate(arg[0], params, conditions)
    if fn == "Fn::And":
        return all(evaluate(x, params, conditions) for x in arg)
    if fn == "Fn::Or":
        return any(evaluate(x, params, conditions) for x in arg)
    if fn == "Fn::If":
        name, if_true, if_false = arg
        chosen = if_true if evaluate(conditions[name], params, conditions) else if_false
        return evaluate(chosen, params, conditions)
    if fn == "Fn::Join":
        separator, items = arg
        return separator.join(str(evaluate(item, params, conditions)) for item in items)
    if fn == "Fn::Contains":
        haystack, needle = arg
        return str(evaluate(needle, params, conditions)) in [
            str(x) for x in evaluate(haystack, params, conditions)
        ]
    raise NotImplementedError(f"evaluate() does not know {fn}")


def parameter_values(template: dict[str, Any], **overrides: str) -> dict[str, str]:
    values = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    unknown = set(overrides) - set(values)
    assert not unknown, f"not template parameters: {sorted(unknown)}"
    values.update(overrides)
    return values


def failed_rules(template: dict[str, Any], params: dict[str, str]) -> list[str]:
    """Names of the template Rules whose assertions do not hold for these parameter values."""
    conditions = template.get("Conditions", {})
    failed = []
    for name, rule in template.get("Rules", {}).items():
        if "RuleCondition" in rule and not evaluate(rule["RuleCondition"], params, conditions):
            continue
        if not all(evaluate(a["Assert"], params, conditions) for a in rule["Assertions"]):
            failed.append(name)
    return failed
