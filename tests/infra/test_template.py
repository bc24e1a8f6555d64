"""The SAM template, checked four ways: by the tools (cfn-lint, sam validate, sam build, checkov),
by the SAM transform itself (what CloudFormation will actually get), by structural assertions on
the YAML (the promises: IAM everywhere, late ticks dropped, least privilege, fail-closed config),
and against samconfig.toml and events/."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from deadman.venues import SPECS
from tests.infra.conftest import (
    CHECKOV_VENV,
    PYENV_VERSION,
    REGION,
    REPO,
    SAM_VENV,
    TEMPLATE,
    evaluate,
    failed_rules,
    parameter_values,
    run_tool,
    tool,
    tool_env,
)

pytestmark = pytest.mark.infra

VENUES = tuple(SPECS)  # the registry's, in its order
CAP = {venue: spec.title for venue, spec in SPECS.items()}
REFRESHERS = {venue: f"Refresher{CAP[venue]}" for venue in VENUES}
SECRETS = {venue: f"{CAP[venue]}Secret" for venue in VENUES}
CONDITIONS = {venue: f"{CAP[venue]}Enabled" for venue in VENUES}
ROUTES = {("POST", "/kill"), ("POST", "/disarm"), ("POST", "/arm"), ("GET", "/status"), ("GET", "/doctor")}
EVENTS = REPO / "events"

# DynamoDB actions per function and table: exactly what each function's code calls
# (tests/infra/test_iam_calls.py records them). No DeleteItem, no ConditionCheckItem.
ITEM_RW = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"}
EXPECTED_TABLE_ACTIONS = {
    **{
        name: {"LivenessTable": {"dynamodb:GetItem"}, "ControlTable": ITEM_RW} for name in REFRESHERS.values()
    },
    "KillFunction": {"ControlTable": ITEM_RW},
    # Arm ticks what it armed, doctor judges the trader before a Gemini call: liveness reads.
    "DisarmFunction": {"ControlTable": ITEM_RW, "LivenessTable": {"dynamodb:GetItem"}},
    "StatusFunction": {"LivenessTable": {"dynamodb:GetItem"}, "ControlTable": {"dynamodb:Query"}},
    # The stream read permissions come with SAM's DynamoDB event; they touch no table otherwise.
    "NotifierFunction": {},
    "AuditArchiverFunction": {},
}
# Partition keys each ControlTable action may reach (dynamodb:LeadingKeys), per function.
EXPECTED_LEADING_KEYS = {
    **{
        name: {
            "dynamodb:GetItem": {f"SWITCH#{venue}", f"LEASE#{venue}"},
            "dynamodb:PutItem": {f"SWITCH#{venue}", f"AUDIT#{venue}#*"},
            "dynamodb:Query": {f"AUDIT#{venue}#*", f"SWITCH#{venue}"},  # audit head; switches left behind
            # The shared nonce counter only where the venue's requests draw from it.
            "dynamodb:UpdateItem": {f"LEASE#{venue}"}
            | ({f"NONCE#{venue}:*"} if SPECS[venue].capabilities.draws_nonces else set()),
        }
        for venue, name in REFRESHERS.items()
    },
    "KillFunction": {
        "dynamodb:GetItem": {"SWITCH#*"},
        "dynamodb:PutItem": {"SWITCH#*", "AUDIT#*"},
        "dynamodb:Query": {"SWITCH#*", "AUDIT#*"},
        "dynamodb:UpdateItem": {"SWITCH#*", "NONCE#*"},
    },
    "DisarmFunction": {
        "dynamodb:GetItem": {"SWITCH#*"},
        "dynamodb:PutItem": {"SWITCH#*", "AUDIT#*"},
        "dynamodb:Query": {"SWITCH#*", "AUDIT#*"},
        "dynamodb:UpdateItem": {"NONCE#*"},
    },
    "StatusFunction": {"dynamodb:Query": {"SWITCH#*", "AUDIT#*"}},
}


# ---------------------------------------------------------------------------------------- helpers
def resources(template: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == rtype}


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources(template, "AWS::Serverless::Function")


def statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for policy in function["Properties"].get("Policies", []):
        assert isinstance(policy, dict) and "Statement" in policy, (
            f"only inline statements are expected (no SAM policy templates or managed policies): {policy}"
        )
        found.extend(policy["Statement"])
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def leading_keys(stmt: dict[str, Any]) -> list[str] | None:
    """The partition keys a statement's dynamodb:LeadingKeys condition allows (None: no condition)."""
    for operator, keys in stmt.get("Condition", {}).items():
        if operator.startswith("ForAllValues:String") and "dynamodb:LeadingKeys" in keys:
            return [str(k) for k in as_list(keys["dynamodb:LeadingKeys"])]
    return None


def control_table_grants(function: dict[str, Any]) -> dict[str, set[str]]:
    """ControlTable action -> the LeadingKeys patterns granting it."""
    grants: dict[str, set[str]] = {}
    for stmt in statements(function):
        if refs(stmt["Resource"]) == {"ControlTable"}:
            keys = leading_keys(stmt)
            assert keys is not None, f"a ControlTable statement without LeadingKeys: {stmt.get('Sid')}"
            for action in as_list(stmt["Action"]):
                grants.setdefault(action, set()).update(keys)
    return grants


def refs(node: Any) -> set[str]:
    """Every logical id referenced by Ref/GetAtt (or ${Name} in Sub) below node."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref":
                if not value.startswith("AWS::"):
                    found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0])
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found.update(re.findall(r"\$\{([A-Za-z0-9]+)[.}]", text))  # AWS::x has colons
                if not isinstance(value, str):
                    found |= refs(value[1])
            else:
                found |= refs(value)
    elif isinstance(node, list):
        for item in node:
            found |= refs(item)
    return found


def api_events(template: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for fname, fn in functions(template).items():
        for ename, event in fn["Properties"].get("Events", {}).items():
            if event["Type"] in ("Api", "HttpApi"):
                yield fname, ename, event


def models(template: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = template["Resources"]["ControlApi"]["Properties"]["Models"]
    return found


def route_models(template: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any] | None]:
    out: dict[tuple[str, str], dict[str, Any] | None] = {}
    for _, _, event in api_events(template):
        props = event["Properties"]
        model = props.get("RequestModel", {}).get("Model")
        out[(props["Method"].upper(), props["Path"])] = models(template)[model] if model else None
    return out


# ------------------------------------------------------------------- ELF / extension-module checks
EM_AARCH64 = 0xB7
EXTENSION_TAG = re.compile(r"\.(?:cpython-313-aarch64-linux-gnu|abi3)\.so$")
GLIBC_MAX_MINOR = 34  # Lambda python3.13 runs on Amazon Linux 2023: glibc 2.34
WHEEL_TAG = re.compile(r"^(?:cp313-cp313|cp3\d+-abi3)-(?:manylinux2014|manylinux_2_(?P<minor>\d+))_aarch64$")


def elf_problem(head: bytes) -> str | None:
    """None when `head` (the first bytes of a file) is a 64-bit ELF for AArch64, else why not."""
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return "not an ELF file"
    if head[4] != 2:
        return f"ELF class {head[4]} (want 2 = 64-bit)"
    endian = {1: "<", 2: ">"}.get(head[5])
    if endian is None:
        return f"bad ELF data encoding {head[5]}"
    (machine,) = struct.unpack(endian + "H", head[18:20])
    if machine != EM_AARCH64:
        return f"e_machine 0x{machine:X} (want 0x{EM_AARCH64:X} AArch64)"
    return None


def extension_name_problem(name: str) -> str | None:
    """None when a Python extension module's file name is tagged for CPython 3.13 on aarch64 (or abi3)."""
    if EXTENSION_TAG.search(name):
        return None
    return "not tagged cpython-313-aarch64-linux-gnu (or abi3)"


def wheel_tag_problem(tag: str) -> str | None:
    if tag.endswith("-none-any"):
        return None
    match = WHEEL_TAG.match(tag)
    if match is None:
        return f"wheel tag {tag} is not cp313/abi3 manylinux aarch64"
    if match["minor"] is not None and int(match["minor"]) > GLIBC_MAX_MINOR:
        return f"wheel tag {tag} needs a newer glibc than Amazon Linux 2023 (2.{GLIBC_MAX_MINOR})"
    return None


def _elf_header(machine: int, *, elf_class: int = 2) -> bytes:
    return b"\x7fELF" + bytes([elf_class, 1, 1, 0]) + b"\0" * 8 + struct.pack("<HH", 3, machine)


def test_binary_checks_reject_wrong_platforms() -> None:
    # The layer test below is only worth something if these refuse what Lambda arm64 cannot load.
    assert elf_problem(_elf_header(EM_AARCH64)) is None
    assert "e_machine 0x3E" in str(elf_problem(_elf_header(0x3E)))  # x86-64
    assert "class" in str(elf_problem(_elf_header(EM_AARCH64, elf_class=1)))
    assert elf_problem(b"#!/bin/sh\n" + b"\0" * 20) == "not an ELF file"
    assert extension_name_problem("_pydantic_core.cpython-313-aarch64-linux-gnu.so") is None
    assert extension_name_problem("_raw_aes.abi3.so") is None
    assert extension_name_problem("_pydantic_core.cpython-313-x86_64-linux-gnu.so") is not None
    assert extension_name_problem("_pydantic_core.cpython-312-aarch64-linux-gnu.so") is not None
    assert extension_name_problem("_speedups.so") is not None
    assert wheel_tag_problem("py3-none-any") is None
    assert wheel_tag_problem("cp313-cp313-manylinux_2_28_aarch64") is None
    assert wheel_tag_problem("cp313-cp313-manylinux_2_17_x86_64") is not None
    assert wheel_tag_problem("cp313-cp313-musllinux_1_2_aarch64") is not None
    assert wheel_tag_problem("cp312-cp312-manylinux2014_aarch64") is not None
    assert wheel_tag_problem("cp313-cp313-manylinux_2_39_aarch64") is not None


# ------------------------------------------------------------------------------------ the tools
def test_cfn_lint_clean() -> None:
    cfn_lint = tool(SAM_VENV, "cfn-lint")
    proc = run_tool("cfn-lint template.yaml", [str(cfn_lint), str(TEMPLATE)], timeout=120)
    assert proc.returncode == 0 and not proc.stdout.strip(), f"cfn-lint findings:\n{proc.stdout}{proc.stderr}"


def test_sam_validate_lint() -> None:
    sam = tool(SAM_VENV, "sam")
    proc = run_tool(
        "sam validate --lint",
        [str(sam), "validate", "--lint", "--template", str(TEMPLATE), "--region", REGION],
        timeout=180,
    )
    assert proc.returncode == 0, f"sam validate --lint failed:\n{proc.stdout}{proc.stderr}"
    assert "is a valid SAM Template" in proc.stdout + proc.stderr


TRANSFORM = r"""
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class ManagedPolicies:
    def load(self):
        return {}

template = yaml_parse(open(sys.argv[1]).read())
for res in template["Resources"].values():
    props = res.get("Properties", {})
    for key in ("CodeUri", "ContentUri"):
        if isinstance(props.get(key), str):
            props[key] = "s3://bucket/" + props[key]
json.dump(transform(template, json.loads(sys.argv[2]), ManagedPolicies()), sys.stdout, default=str)
"""
CALLERS = "arn:aws:iam::123456789012:role/deadman-oncall,arn:aws:iam::123456789012:role/trading-lead"


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    """The CloudFormation template the SAM transform produces with every venue enabled."""
    python = tool(SAM_VENV, "python")
    params = {f"Enable{CAP[v]}": "true" for v in VENUES} | {"ApiCallerPrincipals": CALLERS}
    proc = run_tool(
        "SAM transform (samtranslator)",
        [str(python), "-c", TRANSFORM, str(TEMPLATE), json.dumps(params)],
        timeout=120,
    )
    assert proc.returncode == 0, f"SAM transform failed:\n{proc.stderr}"
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def test_transform_every_method_is_iam_authenticated(transformed: dict[str, Any]) -> None:
    res = transformed["Resources"]
    apis = {n: r for n, r in res.items() if r["Type"] == "AWS::ApiGateway::RestApi"}
    assert set(apis) == {"ControlApi"}, f"unexpected REST APIs (implicit ServerlessRestApi?): {sorted(apis)}"
    assert not [n for n, r in res.items() if r["Type"] == "AWS::ApiGatewayV2::Api"]
    body = apis["ControlApi"]["Properties"]["Body"]
    seen = set()
    for path, methods in body["paths"].items():
        for method, spec in methods.items():
            seen.add((method.upper(), path))
            assert spec.get("security") == [{"AWS_IAM": []}], f"{method.upper()} {path} is not AWS_IAM"
    assert seen == ROUTES
    schemes = body["components"]["securitySchemes"]
    assert schemes["AWS_IAM"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    for method in (r for r in res.values() if r["Type"] == "AWS::ApiGateway::Method"):
        assert method["Properties"].get("AuthorizationType") == "AWS_IAM"


def test_transform_resource_policy_keeps_the_callers(transformed: dict[str, Any]) -> None:
    # SAM substitutes parameter values inside Api Auth; the list must survive as the real ARNs.
    policy = transformed["Resources"]["ControlApi"]["Properties"]["Body"]["x-amazon-apigateway-policy"]
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    allow = by_sid["AllowListedCallers"]["Principal"]["AWS"]["Fn::If"]
    deny = by_sid["DenyEveryoneElse"]
    assert allow[0] == "HasApiCallerPrincipals" and allow[1] == {"Fn::Split": [",", CALLERS]}
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    pattern = deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"]["Fn::If"]
    assert pattern[1] == {"Fn::Split": [",", CALLERS]}
    for stmt in policy["Statement"]:
        assert stmt["Action"] == "execute-api:Invoke" and stmt["Resource"] == "execute-api:/*"


def _resolve(node: Any, account: str) -> Any:
    """The few intrinsics the API's resource policy uses, resolved as CloudFormation would with
    ApiCallerPrincipals set and the stack in `account`."""
    if isinstance(node, list):
        return [_resolve(n, account) for n in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"}:
        return {"AWS::AccountId": account, "AWS::Partition": "aws"}[node["Ref"]]
    if set(node) == {"Fn::If"}:
        condition, yes, _ = node["Fn::If"]
        assert condition == "HasApiCallerPrincipals"
        return _resolve(yes, account)
    if set(node) == {"Fn::Split"}:
        sep, text = node["Fn::Split"]
        return _resolve(text, account).split(sep)
    if set(node) == {"Fn::Sub"}:
        return node["Fn::Sub"].replace("${AWS::AccountId}", account).replace("${AWS::Partition}", "aws")
    return {k: _resolve(v, account) for k, v in node.items()}


def _invoke_allowed(policy: dict[str, Any], account: str, caller: str, granted: set[str], route: str) -> bool:
    """API Gateway's rule for IAM-authenticated calls to an API with a resource policy: an explicit
    Deny wins; a caller of the API's own account needs an Allow in either policy, a caller of another
    account in both. `granted` is the routes the caller's identity policies allow."""
    import fnmatch

    caller_account = caller.split(":")[4]
    resource_allows = False
    for stmt in _resolve(policy, account)["Statement"]:
        principals = stmt["Principal"] if stmt["Principal"] == "*" else stmt["Principal"]["AWS"]
        if (
            principals != "*"
            and caller not in principals
            and f"arn:aws:iam::{caller_account}:root" not in principals
        ):
            continue
        condition = stmt.get("Condition", {})
        ok = True
        for arn_patterns in condition.get("ArnNotLike", {}).values():
            ok &= not any(fnmatch.fnmatchcase(caller, p) for p in arn_patterns)
        for value in condition.get("StringNotEquals", {}).values():
            ok &= caller_account != value
        if not ok:
            continue
        if stmt["Effect"] == "Deny":
            return False
        resource_allows = True
    identity_allows = route in granted
    if caller_account == account:
        return identity_allows or resource_allows
    return identity_allows and resource_allows


def test_transform_routes_are_granted_only_by_the_callers_own_policies(transformed: dict[str, Any]) -> None:
    """A listed principal of the stack's own account gets exactly the routes its identity policies
    grant (a read-only principal cannot kill); a listed principal of another account needs both
    policies; anyone not listed is refused whatever their policies say."""
    policy = transformed["Resources"]["ControlApi"]["Properties"]["Body"]["x-amazon-apigateway-policy"]
    oncall, lead = CALLERS.split(",")
    same, other = oncall.split(":")[4], "999999999999"
    assert not _invoke_allowed(policy, same, oncall, {"GET/status"}, "POST/kill")
    assert _invoke_allowed(policy, same, oncall, {"GET/status"}, "GET/status")
    assert _invoke_allowed(policy, same, lead, {"POST/kill"}, "POST/kill")
    assert not _invoke_allowed(policy, same, lead, set(), "POST/disarm")
    stranger = f"arn:aws:iam::{same}:role/intern"
    assert not _invoke_allowed(policy, same, stranger, {"POST/kill", "GET/status"}, "POST/kill")
    assert _invoke_allowed(policy, other, oncall, {"POST/kill"}, "POST/kill")
    assert not _invoke_allowed(policy, other, oncall, set(), "POST/kill")


def test_transform_function_roles_get_only_logs_tracing_and_stream_reads(transformed: dict[str, Any]) -> None:
    """Beyond each function's own statements, SAM attaches only CloudWatch Logs (EMF metrics travel in
    the logs), X-Ray (Tracing: Active) and, for the stream consumers, the stream reads."""
    base = {
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    }
    stream = "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole"
    res = transformed["Resources"]
    for name, resource in res.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        role_name = resource["Properties"]["Role"]["Fn::GetAtt"][0]
        role = res[role_name]["Properties"]
        expected = base | ({stream} if name in ("NotifierFunction", "AuditArchiverFunction") else set())
        assert set(role["ManagedPolicyArns"]) == expected, name
        assert [p["PolicyName"] for p in role["Policies"]] == [f"{role_name}Policy0"], name


def test_transform_schedules_and_async_config(transformed: dict[str, Any]) -> None:
    res = transformed["Resources"]
    schedules = {n: r for n, r in res.items() if r["Type"] == "AWS::Scheduler::Schedule"}
    invoke = {n: r for n, r in res.items() if r["Type"] == "AWS::Lambda::EventInvokeConfig"}
    assert len(schedules) == len(VENUES) and len(invoke) == len(VENUES)
    for venue, fname in REFRESHERS.items():
        schedule = schedules[f"{fname}Tick"]
        assert schedule["Condition"] == CONDITIONS[venue]
        props = schedule["Properties"]
        assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
        assert props["ScheduleExpression"] == "rate(1 minute)"
        assert props["Target"]["RetryPolicy"] == {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60}
        assert props["Target"]["Arn"] == {"Fn::GetAtt": [fname, "Arn"]}
        assert json.loads(props["Target"]["Input"])["venue"] == venue
        cfg = invoke[f"{fname}EventInvokeConfig"]
        assert cfg["Condition"] == CONDITIONS[venue]
        assert cfg["Properties"]["MaximumRetryAttempts"] == 0
        assert cfg["Properties"]["MaximumEventAgeInSeconds"] == 60
        lam = res[fname]
        assert lam["Condition"] == CONDITIONS[venue]
        assert lam["Properties"]["ReservedConcurrentExecutions"] == 4  # loop, spares, newcomer
        assert lam["Properties"]["Architectures"] == ["arm64"]
        assert res[f"{fname}Role"]["Condition"] == CONDITIONS[venue]


def test_transform_stage_logging_throttling_and_account_dependency(transformed: dict[str, Any]) -> None:
    res = transformed["Resources"]
    stages = [r for r in res.values() if r["Type"] == "AWS::ApiGateway::Stage"]
    assert len(stages) == 1, "one stage only (no extra 'Stage' stage)"
    stage = stages[0]["Properties"]
    assert stage["TracingEnabled"] is True
    assert stage["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    setting, kill = stage["MethodSettings"]
    assert setting["ResourcePath"] == "/*" and setting["HttpMethod"] == "*"
    assert setting["ThrottlingBurstLimit"] == 10 and setting["ThrottlingRateLimit"] == 5
    assert setting["LoggingLevel"] in ("INFO", "ERROR") and setting["MetricsEnabled"] is True
    assert setting.get("DataTraceEnabled") is False, "data trace would log request bodies"
    # The kill route has its own limit, higher than every other route's (a Stage's method path
    # encodes "/" as "~1"), and logs like the others (a method's settings replace the defaults).
    assert kill["ResourcePath"] == "/~1kill" and kill["HttpMethod"] == "POST"
    assert kill["ThrottlingRateLimit"] > setting["ThrottlingRateLimit"]
    assert kill["ThrottlingBurstLimit"] > setting["ThrottlingBurstLimit"]
    for key in ("LoggingLevel", "MetricsEnabled", "DataTraceEnabled"):
        assert kill[key] == setting[key], key
    body = res["ControlApi"]["Properties"]["Body"]
    assert "post" in body["paths"]["/kill"], "the throttled method must be a route of the API"
    # Execution logging needs the account's API Gateway CloudWatch role first.
    assert res["ControlApi"]["DependsOn"] == "ApiGatewayAccountReady"
    handle = res["ApiGatewayAccountReady"]["Metadata"]
    assert handle["ApiGatewayAccount"] == {
        "Fn::If": ["CreateApiGatewayAccount", {"Ref": "ApiGatewayAccount"}, ""]
    }


# ----------------------------------------------------------------------------- sam build / layer
@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`sam build` (no Docker) into a temporary directory; returns the build directory."""
    sam = tool(SAM_VENV, "sam")
    env = tool_env()
    python313 = shutil.which("python3.13", path=env.get("PATH"))
    probe = python313 and subprocess.run(
        [python313, "--version"], env=env, capture_output=True, text=True, check=False
    )
    if not probe or probe.returncode != 0:
        why = probe.stderr if probe else "not found"
        pytest.fail(
            f"sam build needs python3.13 on PATH (PYENV_VERSION={PYENV_VERSION}): {why}", pytrace=False
        )
    out = tmp_path_factory.mktemp("sam")
    repo_cache_existed = (REPO / ".aws-sam").exists()
    proc = run_tool(
        "sam build (layer + 6 code dirs, arm64, no Docker)",
        [
            str(sam), "build",
            "--template", str(TEMPLATE),
            "--build-dir", str(out / "build"),
            "--cache-dir", str(out / "cache"),
            "--no-cached",
            "--parallel",
        ],
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, f"sam build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    if not repo_cache_existed:
        assert not (REPO / ".aws-sam").exists(), "sam build left .aws-sam in the repository"
    return out / "build"


def test_sam_build_layer_is_cpython313_aarch64(built: Path) -> None:
    layer = built / "DeadmanLayer" / "python"
    assert (layer / "deadman" / "__init__.py").is_file(), "the deadman package is not in the layer"
    for package in ("pydantic_core", "msgpack", "coincurve", "aws_lambda_powertools", "requests"):
        assert (layer / package).is_dir(), f"{package} is missing from the layer"
    # keccak256 for Hyperliquid: safe-pysha3 is a single extension module beside sha3.py.
    assert (layer / "sha3.py").is_file() and list(layer.glob("_pysha3*.so")), "safe-pysha3 is missing"

    problems = []
    extensions = [p for p in layer.rglob("*") if p.is_file() and p.name.endswith(".so")]
    shared = [p for p in layer.rglob("*.so.*") if p.is_file()]
    for path in extensions + shared:
        rel = path.relative_to(layer)
        if path in extensions and (why := extension_name_problem(path.name)):
            problems.append(f"{rel}: {why}")
        with path.open("rb") as fh:
            if why := elf_problem(fh.read(64)):
                problems.append(f"{rel}: {why}")
    # Wheels carrying extensions must be for cp313/abi3 on manylinux aarch64.
    for wheel in layer.glob("*.dist-info/WHEEL"):
        for line in wheel.read_text().splitlines():
            if line.startswith("Tag:") and (why := wheel_tag_problem(line.split(":", 1)[1].strip())):
                problems.append(f"{wheel.parent.name}: {why}")
    assert not problems, "layer has binaries Lambda python3.13/arm64 cannot load:\n" + "\n".join(problems)
    names = {p.name for p in extensions}
    assert any(n.startswith("_pydantic_core.cpython-313-aarch64") for n in names), sorted(names)
    assert len(extensions) >= 5, f"expected compiled extensions in the layer, found {sorted(names)}"


def test_sam_build_fits_lambda_limits(built: Path) -> None:
    names = ("KillFunction", "DisarmFunction", "StatusFunction", "NotifierFunction", "AuditArchiverFunction")
    for fname in (*names, *REFRESHERS.values()):
        assert (built / fname).is_dir(), f"sam build produced no artifact for {fname}"
    size = sum(p.stat().st_size for p in (built / "DeadmanLayer").rglob("*") if p.is_file())
    # 250 MB unzipped is the limit for a function and all its layers together.
    assert size < 200 * 1024 * 1024, f"layer is {size / 2**20:.0f} MiB unzipped"


# ----------------------------------------------------------------------------------------- checkov
def _checkov(path: Path, label: str) -> dict[str, Any]:
    checkov = tool(CHECKOV_VENV, "checkov")
    proc = run_tool(
        label,
        [str(checkov), "-f", str(path), "--framework", "cloudformation", "--skip-download", "-o", "json"],
        timeout=300,
    )
    try:
        report: Any = json.loads(proc.stdout)
    except json.JSONDecodeError:
        tail = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        pytest.fail(f"checkov gave no JSON report (rc {proc.returncode}):\n{tail}")
    if isinstance(report, list):
        (report,) = [r for r in report if r.get("check_type") == "cloudformation"]
    assert isinstance(report, dict)
    return report


def _all_enabled_variant(tmp: Path) -> Path:
    """The template with every conditional resource switched on (checkov drops resources whose
    Condition is false with the parameter defaults, so the refreshers need this to be scanned)."""
    text = TEMPLATE.read_text()
    text, n = re.subn(
        rf'(\n  Enable(?:{"|".join(CAP.values())}):\n    Type: String\n    Default: )"false"',
        r'\1"true"',
        text,
    )
    assert n == len(VENUES), "could not switch the Enable* defaults on"
    text, n = re.subn(r'(\n  AlarmEmail:\n    Type: String\n    Default: )""', r'\1"ops@example.com"', text)
    assert n == 1
    out = tmp / "template-all-enabled.yaml"
    out.write_text(text)
    return out


@pytest.fixture(scope="module")
def checkov_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    variant = _all_enabled_variant(tmp_path_factory.mktemp("checkov"))
    return {
        "defaults": _checkov(TEMPLATE, "checkov (parameter defaults)"),
        "all venues enabled": _checkov(variant, "checkov (all venues enabled)"),
    }


def test_checkov_no_failed_checks(checkov_reports: dict[str, dict[str, Any]]) -> None:
    for label, report in checkov_reports.items():
        summary = report["summary"]
        failed = [
            f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in report["results"]["failed_checks"]
        ]
        assert summary["failed"] == 0 and not failed, f"checkov ({label}) failed checks:\n" + "\n".join(
            failed
        )
        assert summary["parsing_errors"] == 0, f"checkov ({label}) could not parse the template"
        assert summary["passed"] >= 40 and summary["resource_count"] >= 40, (
            f"checkov ({label}) scanned little: {summary}"
        )
    scanned = {c["resource"] for c in checkov_reports["all venues enabled"]["results"]["passed_checks"]}
    scanned |= {c["resource"] for c in checkov_reports["all venues enabled"]["results"]["skipped_checks"]}
    for fname in REFRESHERS.values():
        assert f"AWS::Serverless::Function.{fname}" in scanned, f"checkov never looked at {fname}"


def test_checkov_suppressions_are_explained_and_used(
    template: dict[str, Any], checkov_reports: dict[str, dict[str, Any]]
) -> None:
    declared = set()
    for name, res in template["Resources"].items():
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
            comment = str(skip.get("comment", ""))
            assert len(comment) >= 40, f"{name}: checkov skip {skip.get('id')} needs a stated reason"
            declared.add((skip["id"], name))
    used = {
        (c["check_id"], c["resource"].split(".", 1)[1])
        for report in checkov_reports.values()
        for c in report["results"]["skipped_checks"]
    }
    stale = sorted(declared - used)
    assert not stale, f"checkov skips that suppress nothing (remove them): {stale}"


# ------------------------------------------------------------------------------ YAML structure
def test_template_is_plain_cloudformation_yaml() -> None:
    # CloudFormation refuses YAML aliases; anchors would also hide what each resource really says.
    events = yaml.parse(TEMPLATE.read_text(), Loader=yaml.SafeLoader)
    assert not [e for e in events if isinstance(e, yaml.AliasEvent)], "template.yaml uses YAML aliases"


def test_every_route_requires_iam(template: dict[str, Any]) -> None:
    api = template["Resources"]["ControlApi"]
    assert api["Type"] == "AWS::Serverless::Api"
    auth = api["Properties"]["Auth"]
    assert auth["DefaultAuthorizer"] == "AWS_IAM"
    assert auth["InvokeRole"] == "NONE", "the caller's own identity must reach the functions"
    assert "Authorizers" not in auth, "no other authorizer may exist to opt out of IAM"
    assert not resources(template, "AWS::Serverless::HttpApi") and not resources(
        template, "AWS::ApiGateway::RestApi"
    )
    routes = set()
    for fname, ename, event in api_events(template):
        props = event["Properties"]
        assert event["Type"] == "Api", f"{fname}.{ename}: only the REST API is allowed"
        assert props.get("RestApiId") == {"Ref": "ControlApi"}, (
            f"{fname}.{ename} has no RestApiId: SAM would create an implicit API without IAM"
        )
        authorizer = props.get("Auth", {}).get("Authorizer", "AWS_IAM")
        assert authorizer == "AWS_IAM", f"{fname}.{ename} opts out of IAM with Authorizer {authorizer}"
        routes.add((props["Method"].upper(), props["Path"]))
    assert routes == ROUTES


def test_resource_policy_allows_only_listed_callers(template: dict[str, Any]) -> None:
    statements_ = template["Resources"]["ControlApi"]["Properties"]["Auth"]["ResourcePolicy"][
        "CustomStatements"
    ]
    allow = [s for s in statements_ if s["Effect"] == "Allow"]
    deny = [s for s in statements_ if s["Effect"] == "Deny"]
    assert len(allow) == 1 and len(deny) == 1
    principals = allow[0]["Principal"]["AWS"]["Fn::If"]
    assert principals[0] == "HasApiCallerPrincipals"
    assert principals[1] == {"Fn::Split": [",", {"Ref": "ApiCallerPrincipals"}]}
    assert principals[2] == {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    assert deny[0]["Principal"] == "*" and deny[0]["Action"] == "execute-api:Invoke"
    assert deny[0]["Condition"]["ArnNotLike"]["aws:PrincipalArn"]["Fn::If"][1] == principals[1]
    spec = template["Parameters"]["ApiCallerPrincipals"]
    assert spec["Default"] == ""
    pattern = re.compile(spec["AllowedPattern"])
    assert pattern.fullmatch("") and pattern.fullmatch(CALLERS)
    assert not pattern.fullmatch("arn:aws:iam::1:role/a, arn:aws:iam::1:role/b")


def test_gateway_responses_are_json_errors(template: dict[str, Any]) -> None:
    # API Gateway substitutes $context variables verbatim: messageString arrives quoted, the others not.
    responses = template["Resources"]["ControlApi"]["Properties"]["GatewayResponses"]
    expected = {"BAD_REQUEST_BODY": ("400", "invalid_request"), "ACCESS_DENIED": ("403", "access_denied")}
    assert set(responses) == set(expected)
    for name, (status, error) in expected.items():
        body = responses[name]["ResponseTemplates"]["application/json"]
        body = body.replace("$context.error.messageString", '"Forbidden"')
        body = re.sub(r"\$context\.[A-Za-z.]+", "sample", body)
        assert responses[name]["StatusCode"] == status
        parsed = json.loads(body)
        assert set(parsed) == {"error", "message", "request_id"} and parsed["error"] == error, parsed


def test_post_bodies_are_validated_by_models(template: dict[str, Any]) -> None:
    for fname, ename, event in api_events(template):
        props = event["Properties"]
        if props["Method"].upper() != "POST":
            continue
        model = props.get("RequestModel")
        assert model, f"{fname}.{ename}: POST without a request model"
        assert model["Required"] is True and model["ValidateBody"] is True, f"{fname}.{ename}: {model}"
        assert model["Model"] in models(template)
    for name, schema in models(template).items():
        assert schema["additionalProperties"] is False, f"{name} must refuse unknown fields"
        assert "reason" in schema["required"]
        reason = schema["properties"]["reason"]
        assert (reason["type"], reason["minLength"], reason["maxLength"]) == ("string", 1, 500)
        assert schema["properties"]["venues"]["items"]["enum"] == list(VENUES)
        jsonschema.Draft4Validator.check_schema(schema)
    for_seconds = models(template)["DisarmRequest"]["properties"]["for_seconds"]
    assert "for_seconds" in models(template)["DisarmRequest"]["required"]
    assert for_seconds["type"] == "integer" and for_seconds["minimum"] == 1
    assert for_seconds["maximum"] >= template["Parameters"]["MaxDisarmSeconds"]["MaxValue"]
    assert for_seconds["maximum"] >= template["Parameters"]["MaxOffSeconds"]["MaxValue"]
    assert models(template)["DisarmRequest"]["properties"]["off"] == {"type": "boolean"}


@pytest.mark.parametrize(
    ("route", "body", "valid"),
    [
        (("POST", "/kill"), {"reason": "x"}, True),
        (("POST", "/kill"), {"reason": "x", "venues": ["gemini", "hyperliquid"], "accounts": ["main"]}, True),
        (("POST", "/kill"), {}, False),
        (("POST", "/kill"), {"reason": ""}, False),
        (("POST", "/kill"), {"reason": "x" * 501}, False),
        (("POST", "/kill"), {"reason": "x", "venues": []}, False),
        (("POST", "/kill"), {"reason": "x", "venues": ["GEMINI"]}, False),
        (("POST", "/kill"), {"reason": "x", "accounts": "main"}, False),
        (("POST", "/disarm"), {"reason": "x", "for_seconds": 1}, True),
        (("POST", "/disarm"), {"reason": "x", "for_seconds": 86400}, True),
        (("POST", "/disarm"), {"reason": "x", "for_seconds": 0}, False),
        (("POST", "/disarm"), {"reason": "x", "for_seconds": 604801}, False),
        (("POST", "/disarm"), {"reason": "x", "for_seconds": 60, "off": "yes"}, False),
        (("POST", "/disarm"), {"reason": "x", "for_seconds": 259200, "off": True}, True),
        (("POST", "/disarm"), {"reason": "x", "for_seconds": 1.5}, False),
        (("POST", "/disarm"), {"reason": "x", "for_seconds": "60"}, False),
        (("POST", "/arm"), {"reason": "x", "venues": ["kraken"]}, True),
        (("POST", "/arm"), {"reason": "x", "for_seconds": 60}, False),
    ],
)
def test_request_models(template: dict[str, Any], route: tuple[str, str], body: Any, valid: bool) -> None:
    schema = route_models(template)[route]
    assert schema is not None
    errors = list(jsonschema.Draft4Validator(schema).iter_errors(body))
    assert (not errors) == valid, [e.message for e in errors]


def test_refreshers(template: dict[str, Any]) -> None:
    run_seconds = int(template["Globals"]["Function"]["Environment"]["Variables"]["RUN_SECONDS"])
    refreshers = {
        n: f for n, f in functions(template).items() if f["Properties"]["CodeUri"] == "functions/refresher"
    }
    assert set(refreshers) == set(REFRESHERS.values())
    for venue, fname in REFRESHERS.items():
        fn = refreshers[fname]
        props = fn["Properties"]
        assert fn["Condition"] == CONDITIONS[venue]
        assert template["Conditions"][CONDITIONS[venue]] == {
            "Fn::Equals": [{"Ref": f"Enable{CAP[venue]}"}, "true"]
        }
        assert props["Environment"]["Variables"]["VENUE"] == venue
        assert props["ReservedConcurrentExecutions"] == 4, (
            "a loop, its standby, one queued, a newcomer leaving"
        )
        assert props["Timeout"] == run_seconds + 60, "the loop must end well before Lambda kills it"
        assert props["EventInvokeConfig"] == {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60}
        (event,) = props["Events"].values()
        assert event["Type"] == "ScheduleV2"
        sched = event["Properties"]
        assert sched["ScheduleExpression"] == "rate(1 minute)"
        assert sched["FlexibleTimeWindow"] == {"Mode": "OFF"}
        assert sched["RetryPolicy"] == {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60}
        assert sched.get("State", "ENABLED") == "ENABLED"
        assert json.loads(sched["Input"]) == {
            "venue": venue,
            "scheduled_time": "<aws.scheduler.scheduled-time>",
            "execution_id": "<aws.scheduler.execution-id>",
        }


def test_function_timeouts_and_code(template: dict[str, Any]) -> None:
    fns = functions(template)
    expected = {"KillFunction": ("functions/kill", 30), "DisarmFunction": ("functions/disarm", 30),
                "StatusFunction": ("functions/status", 10),
                "NotifierFunction": ("functions/notifier", 30),
                "AuditArchiverFunction": ("functions/archiver", 30)}  # fmt: skip
    for fname, (code, timeout) in expected.items():
        assert (fns[fname]["Properties"]["CodeUri"], fns[fname]["Properties"]["Timeout"]) == (code, timeout)
    for fname, fn in fns.items():
        assert (REPO / fn["Properties"]["CodeUri"]).is_dir(), f"{fname}: CodeUri does not exist"
    assert set(fns) == set(expected) | set(REFRESHERS.values())
    # The kill is billed per call and must be fast; the refreshers are billed all month and take their
    # own size; the rest take FunctionMemorySize.
    assert fns["KillFunction"]["Properties"]["MemorySize"] == 1024
    for name in REFRESHERS.values():
        assert fns[name]["Properties"]["MemorySize"] == {"Ref": "RefresherMemorySize"}
    sized = {"KillFunction", *REFRESHERS.values()}
    assert all("MemorySize" not in fn["Properties"] for name, fn in fns.items() if name not in sized)


def test_iam_least_privilege(template: dict[str, Any]) -> None:
    fns = functions(template)
    for fname, fn in fns.items():
        got: dict[str, set[str]] = {}
        alerts: dict[str, set[str]] = {}
        secrets: set[str] = set()
        for stmt in statements(fn):
            assert stmt["Effect"] == "Allow"
            actions = set(as_list(stmt["Action"]))
            for resource in as_list(stmt["Resource"]):
                # One exception: object keys under a prefix of the stack's own bucket.
                objects = isinstance(resource, dict) and re.fullmatch(
                    r"\$\{AuditCopyBucket\.Arn\}/[a-z]+/\*", str(resource.get("Fn::Sub"))
                )
                assert objects or (resource != "*" and "*" not in json.dumps(resource)), (
                    f"{fname}: wildcard resource {resource}"
                )
            targets = refs(stmt["Resource"])
            assert all(not a.endswith("*") for a in actions), f"{fname}: wildcard action in {actions}"
            if any(a.startswith("secretsmanager:") for a in actions):
                assert actions == {"secretsmanager:GetSecretValue"}, f"{fname}: {actions}"
                secrets |= targets
                continue
            if any(a.startswith(("sns:", "kms:", "s3:")) for a in actions):
                for target in targets:
                    alerts.setdefault(target, set()).update(actions)
                continue
            for table in targets:
                got.setdefault(table, set()).update(actions)
        assert got == EXPECTED_TABLE_ACTIONS[fname], f"{fname}: DynamoDB permissions {got}"
        if fname in EXPECTED_LEADING_KEYS:
            assert control_table_grants(fn) == EXPECTED_LEADING_KEYS[fname], f"{fname}: LeadingKeys"
        expected_alerts = {
            "NotifierFunction": {
                "AlarmTopic": {"sns:Publish"},
                "AlarmTopicKey": {"kms:Decrypt", "kms:GenerateDataKey"},
            },
            "AuditArchiverFunction": {"AuditCopyBucket": {"s3:PutObject"}},
        }.get(fname, {})
        assert alerts == expected_alerts, f"{fname}: SNS/KMS/S3 permissions {alerts}"
        if fname in REFRESHERS.values():
            venue = next(v for v, n in REFRESHERS.items() if n == fname)
            assert secrets == {SECRETS[venue]}, f"{fname} may read {secrets}, only its own venue's secret"
        elif fname in ("StatusFunction", "NotifierFunction", "AuditArchiverFunction"):
            assert not secrets, f"{fname} reads no secrets"
        else:
            assert secrets == set(SECRETS.values())
            (stmt,) = [s for s in statements(fn) if s["Action"] == "secretsmanager:GetSecretValue"]
            for venue in VENUES:
                guarded = {"Fn::If": [CONDITIONS[venue], {"Ref": SECRETS[venue]}, {"Ref": "AWS::NoValue"}]}
                assert guarded in stmt["Resource"], (
                    f"{fname}: {venue} secret must be readable only when enabled"
                )


def test_each_refresher_writes_only_its_own_venues_items(template: dict[str, Any]) -> None:
    """The ControlTable statement of each refresher is limited by partition key to its venue; every
    partition the fleet really writes for that venue (a simulated run, control calls included)
    matches, and no other venue's does."""
    import fnmatch

    from sandbox.sim.fleet import CONTROL
    from sandbox.sim.run import Run
    from sandbox.sim.scenario import make_scenario

    patterns: dict[str, list[str]] = {}
    for venue, name in REFRESHERS.items():
        grants = control_table_grants(functions(template)[name])
        patterns[venue] = sorted({p for keys in grants.values() for p in keys})
    seen: dict[str, set[str]] = {v: set() for v in VENUES}
    for seed in range(40):
        run = Run(make_scenario(seed))
        run.run()
        venue = run.s.venue
        seen[venue] |= {item["pk"]["S"] for item in run.fleet.dynamo.items(CONTROL)}
        if all(len(pks) > 3 for pks in seen.values()):
            break
    for venue, pks in seen.items():
        families = {pk.split("#")[0] for pk in pks}
        assert {"SWITCH", "AUDIT", "LEASE"} <= families, (venue, pks)
        for pk in pks:
            assert any(fnmatch.fnmatchcase(pk, p) for p in patterns[venue]), (venue, pk, patterns[venue])
            for other in VENUES:
                if other != venue:
                    assert not any(fnmatch.fnmatchcase(pk, p) for p in patterns[other]), (other, pk)


def test_trader_gemini_nonce_policy(template: dict[str, Any]) -> None:
    """The trader may draw only the counters of the Gemini keys the stack names, not every key's."""
    policy = template["Resources"]["TradingSystemGeminiNoncePolicy"]
    assert policy["Condition"] == "HasTraderGeminiNonceKeys"
    assert template["Outputs"]["TradingSystemGeminiNoncePolicyArn"]["Condition"] == "HasTraderGeminiNonceKeys"
    (stmt,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert stmt["Effect"] == "Allow" and stmt["Action"] == "dynamodb:UpdateItem"
    assert stmt["Resource"] == {"Fn::GetAtt": ["ControlTable", "Arn"]}
    (operator,) = stmt["Condition"]
    assert operator == "ForAllValues:StringEquals", "exact keys, no wildcard"
    keys = stmt["Condition"][operator]["dynamodb:LeadingKeys"]
    # What CloudFormation makes of it: !Split [",", !Sub ["NONCE#gemini:${Keys}", {Keys: !Join [...]}]].
    separator, sub = keys["Fn::Split"]
    text, variables = sub["Fn::Sub"]
    joiner, ref = variables["Keys"]["Fn::Join"]
    assert ref == {"Ref": "TradingSystemGeminiNonceKeys"}
    for given, expected in (
        (["account-abc"], ["NONCE#gemini:account-abc"]),
        (["account-abc", "account-def"], ["NONCE#gemini:account-abc", "NONCE#gemini:account-def"]),
    ):
        assert text.replace("${Keys}", joiner.join(given)).split(separator) == expected
    # No keys named, no policy (the condition: the list joined is not empty).
    condition = template["Conditions"]["HasTraderGeminiNonceKeys"]
    assert condition == {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "TradingSystemGeminiNonceKeys"}]}, ""]}]
    }
    assert template["Parameters"]["TradingSystemGeminiNonceKeys"]["Default"] == ""
    assert template["Outputs"]["TradingSystemGeminiNoncePolicyArn"]["Value"] == {
        "Ref": "TradingSystemGeminiNoncePolicy"
    }


def test_liveness_writer_policy(template: dict[str, Any]) -> None:
    policy = template["Resources"]["TradingSystemLivenessWriterPolicy"]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy"
    (stmt,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert stmt["Effect"] == "Allow"
    assert set(as_list(stmt["Action"])) == {"dynamodb:PutItem", "dynamodb:UpdateItem"}
    assert stmt["Resource"] == {"Fn::GetAtt": ["LivenessTable", "Arn"]}
    leading = stmt["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"]
    assert as_list(leading) == [{"Ref": "SystemName"}]


def test_operator_policies(template: dict[str, Any]) -> None:
    expected = {
        "OperatorKillPolicy": {"POST/kill"},
        "OperatorDisarmArmPolicy": {"POST/disarm", "POST/arm"},
        "ReadStatusPolicy": {"GET/status"},
        "OperatorDoctorPolicy": {"GET/doctor"},
    }
    for name, routes in expected.items():
        (stmt,) = template["Resources"][name]["Properties"]["PolicyDocument"]["Statement"]
        assert stmt["Action"] == "execute-api:Invoke"
        arns = [r["Fn::Sub"] for r in as_list(stmt["Resource"])]
        prefix = (
            "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${ControlApi}/${StageName}/"
        )
        assert all(a.startswith(prefix) for a in arns), arns
        assert {a.removeprefix(prefix) for a in arns} == routes


def test_alerts_come_from_the_audit_stream_filtered_to_what_matters(template: dict[str, Any]) -> None:
    """The notifier is driven by new audit entries of the actions `deadman.app.notify` names, publishes
    to the alarm topic (encrypted: it may use its key) and to nothing else."""
    from deadman.app.notify import NOTIFIED

    control = template["Resources"]["ControlTable"]["Properties"]
    assert control["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    fn = functions(template)["NotifierFunction"]["Properties"]
    event = fn["Events"]["AuditEntries"]
    assert event["Type"] == "DynamoDB"
    props = event["Properties"]
    assert props["Stream"] == {"Fn::GetAtt": ["ControlTable", "StreamArn"]}
    assert props["BisectBatchOnFunctionError"] is True and props["MaximumRetryAttempts"] > 0
    [flt] = props["FilterCriteria"]["Filters"]
    pattern = json.loads(flt["Pattern"])
    assert pattern["eventName"] == ["INSERT"]
    image = pattern["dynamodb"]["NewImage"]
    assert image["pk"] == {"S": [{"prefix": "AUDIT#"}]}
    assert sorted(image["action"]["S"]) == sorted(NOTIFIED)
    assert fn["Environment"]["Variables"]["TOPIC_ARN"] == {"Ref": "AlarmTopic"}
    actions = {
        a for stmt in statements(functions(template)["NotifierFunction"]) for a in as_list(stmt["Action"])
    }
    assert actions == {"sns:Publish", "kms:Decrypt", "kms:GenerateDataKey"}
    outputs = template["Outputs"]
    assert outputs["AlarmTopicArn"]["Value"] == {"Ref": "AlarmTopic"}
    assert "${Dashboard}" in outputs["DashboardUrl"]["Value"]["Fn::Sub"]


def test_cli_policy_reads_this_stacks_outputs_and_nothing_else(template: dict[str, Any]) -> None:
    (stmt,) = template["Resources"]["OperatorCliPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert stmt == {
        "Sid": "ReadThisStacksOutputs",
        "Effect": "Allow",
        "Action": "cloudformation:DescribeStacks",
        "Resource": {"Ref": "AWS::StackId"},
    }


def test_tables(template: dict[str, Any]) -> None:
    tables = resources(template, "AWS::DynamoDB::Table")
    assert set(tables) == {"LivenessTable", "ControlTable"}
    keys = {
        "LivenessTable": ([("system", "HASH")], [("system", "S")]),
        "ControlTable": ([("pk", "HASH"), ("sk", "RANGE")], [("pk", "S"), ("sk", "S")]),
    }
    for name, table in tables.items():
        assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain"
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"]["SSEEnabled"] is True
        assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
        schema = [(k["AttributeName"], k["KeyType"]) for k in props["KeySchema"]]
        attrs = [(a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]]
        assert (schema, attrs) == keys[name]
        # sandbox/tables.py builds the moto tables from these very keys: no intrinsics allowed.
        plain = {
            k: props[k]
            for k in ("KeySchema", "AttributeDefinitions", "TimeToLiveSpecification", "BillingMode")
        }
        assert not refs(plain) and "Fn::" not in json.dumps(plain), f"{name}: keep key/TTL definitions plain"


def test_secrets(template: dict[str, Any]) -> None:
    secrets = resources(template, "AWS::SecretsManager::Secret")
    assert set(secrets) == set(SECRETS.values())
    for venue, name in SECRETS.items():
        props = secrets[name]["Properties"]
        assert json.loads(props["SecretString"]) == {"accounts": []}
        assert props["Name"] == {"Fn::Sub": f"${{AWS::StackName}}/{venue}"}
        assert "Condition" not in secrets[name], "operators fill the secret before enabling the venue"


def test_tick_rules(template: dict[str, Any]) -> None:
    """A venue with a longest tick (a heartbeat rule: Gemini's 10 s) refuses a longer TickSeconds
    while it is enabled, by its own Rule; a venue without one refuses none."""
    tick = template["Parameters"]["TickSeconds"]
    assert [int(v) for v in tick["AllowedValues"]] == list(range(5, 31))
    assert tick["Type"] == "String" and tick["Default"] == "10"

    def fails(**overrides: str) -> list[str]:
        return failed_rules(template, parameter_values(template, **overrides))

    assert "GeminiTickAtMost10Seconds" in template["Rules"]  # the name docs/design.md gives it
    for venue, spec in SPECS.items():
        longest = spec.capabilities.max_tick_ms
        rule = f"{CAP[venue]}TickAtMost{(longest or 0) // 1000}Seconds"
        assert (rule in template["Rules"]) == (longest is not None), venue
        for t in range(5, 31):
            grace = str(max(t, 15))  # G >= T: the GraceAtLeastTick rule (tests/infra/test_parameter_rules.py)
            failed = fails(**{f"Enable{CAP[venue]}": "true"}, TickSeconds=str(t), GraceSeconds=grace)
            too_long = longest is not None and t * 1000 > longest
            assert failed == ([rule] if too_long else []), (venue, t, failed)
    assert fails() == ["AtLeastOneVenue"], "a stack with no venue must be refused"


def test_enabled_venues_env(template: dict[str, Any]) -> None:
    """ENABLED_VENUES names exactly the enabled venues, as the functions read it: one entry per venue
    in registry order, empty for a venue not enabled (FleetConfig.from_env skips empty entries)."""
    from deadman.core.config import FleetConfig
    from deadman.venues import CAPABILITIES

    env = template["Globals"]["Function"]["Environment"]["Variables"]
    required = {"SYSTEM_NAME": "trader", "LIVENESS_TABLE": "l", "CONTROL_TABLE": "c"}
    for mask in range(2 ** len(VENUES)):
        on = [v for i, v in enumerate(VENUES) if mask >> i & 1]
        params = parameter_values(template, **{f"Enable{CAP[v]}": "true" for v in on})
        value = evaluate(env["ENABLED_VENUES"], params, template["Conditions"])
        assert value.split(",") == [v if v in on else "" for v in VENUES], value
        config = FleetConfig.from_env({**required, "ENABLED_VENUES": value}, CAPABILITIES)
        assert config.enabled_venues == frozenset(on), value


def test_globals_contract(template: dict[str, Any]) -> None:
    glob = template["Globals"]["Function"]
    assert glob["Runtime"] == "python3.13" and glob["Architectures"] == ["arm64"]
    assert glob["Handler"] == "app.lambda_handler" and glob["Tracing"] == "Active"
    assert glob["Layers"] == [{"Ref": "DeadmanLayer"}]
    assert template["Parameters"]["FunctionMemorySize"]["Default"] == 256
    assert template["Parameters"]["RefresherMemorySize"]["Default"] == 128
    env = glob["Environment"]["Variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] == "deadman" and env["POWERTOOLS_METRICS_NAMESPACE"] == "Deadman"
    wired = {
        "POWERTOOLS_LOG_LEVEL": "PowertoolsLogLevel",
        "LIVENESS_TABLE": "LivenessTable",
        "CONTROL_TABLE": "ControlTable",
        "SYSTEM_NAME": "SystemName",
        "MAX_STALENESS_S": "MaxStalenessSeconds",
        "TICK_S": "TickSeconds",
        "GRACE_S": "GraceSeconds",
        "SKEW_S": "SkewSeconds",
        "SWEEP_WINDOW_S": "SweepWindowSeconds",
        "MAX_DISARM_S": "MaxDisarmSeconds",
        "MAX_OFF_S": "MaxOffSeconds",
        "ARM_AFTER_KILL_NEEDS_SECOND_PERSON": "ArmAfterKillNeedsSecondPerson",
        **{f"SECRET_{venue.upper()}": SECRETS[venue] for venue in VENUES},
    }
    for var, target in wired.items():
        assert env[var] == {"Ref": target}, f"{var} should be !Ref {target}"
    assert env["RUN_SECONDS"] == "240"
    # Sandbox mode lets venue secrets name any URL (deadman.venues.urls): never in a deployed stack.
    assert "DEADMAN_SANDBOX" not in env
    for name, res in template["Resources"].items():
        own = (res.get("Properties") or {}).get("Environment", {}).get("Variables", {})
        assert "DEADMAN_SANDBOX" not in own, name
    assert set(env) == set(wired) | {
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "RUN_SECONDS",
        "ENABLED_VENUES",
    }
    defaults = {"MaxStalenessSeconds": 20, "TickSeconds": "10", "GraceSeconds": "15", "SkewSeconds": 5,
                "SweepWindowSeconds": 0, "MaxDisarmSeconds": 14400, "MaxOffSeconds": 259200,
                "LogRetentionDays": 30}  # fmt: skip
    for name, value in defaults.items():
        assert template["Parameters"][name]["Default"] == value, name
    assert template["Parameters"]["StageName"]["Default"] == "v1"


def test_layer_contract(template: dict[str, Any]) -> None:
    layer = template["Resources"]["DeadmanLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    props = layer["Properties"]
    assert props["ContentUri"] == "layers/deadman"
    assert props["CompatibleRuntimes"] == ["python3.13"] and props["CompatibleArchitectures"] == ["arm64"]
    assert (
        layer["Metadata"]["BuildMethod"] == "python3.13" and layer["Metadata"]["BuildArchitecture"] == "arm64"
    )
    assert (REPO / "layers/deadman/requirements.txt").is_file() and (REPO / "layers/deadman/deadman").is_dir()


def test_log_groups(template: dict[str, Any]) -> None:
    groups = resources(template, "AWS::Logs::LogGroup")
    for name, group in groups.items():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    for fname, fn in functions(template).items():
        ref = fn["Properties"]["LoggingConfig"]["LogGroup"]
        assert set(ref) == {"Ref"} and ref["Ref"] in groups, f"{fname}: LoggingConfig must name its log group"
        assert groups[ref["Ref"]].get("Condition") == fn.get("Condition"), f"{fname}: log group condition"
    access = template["Resources"]["ControlApi"]["Properties"]["AccessLogSetting"]
    assert access["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    for field in ("$context.identity.userArn", "$context.requestId", "$context.status"):
        assert field in access["Format"]


def test_api_gateway_account_role(template: dict[str, Any]) -> None:
    res = template["Resources"]
    assert template["Conditions"]["CreateApiGatewayAccount"] == {
        "Fn::Equals": [{"Ref": "CreateApiGatewayAccountRole"}, "true"]
    }
    for name in ("ApiGatewayAccount", "ApiGatewayCloudWatchRole"):
        assert res[name]["Condition"] == "CreateApiGatewayAccount"
        assert res[name]["DeletionPolicy"] == "Retain", f"{name}: other APIs of the account log through it"
    assert res["ApiGatewayAccount"]["Properties"]["CloudWatchRoleArn"] == {
        "Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]
    }
    settings = res["ControlApi"]["Properties"]["MethodSettings"]
    assert settings[0]["ThrottlingBurstLimit"] == 10 and settings[0]["ThrottlingRateLimit"] == 5
    assert [(m["ResourcePath"], m["HttpMethod"]) for m in settings] == [("/*", "*"), ("/~1kill", "POST")]
    assert settings[1]["ThrottlingRateLimit"] > settings[0]["ThrottlingRateLimit"]


def _alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources(template, "AWS::CloudWatch::Alarm")


def test_venue_alarms(template: dict[str, Any]) -> None:
    alarms = _alarms(template)
    for venue in VENUES:
        mine = {n: a for n, a in alarms.items() if a.get("Condition") == CONDITIONS[venue]}
        by_metric = {
            (a["Properties"]["Namespace"], a["Properties"]["MetricName"]): a["Properties"]
            for a in mine.values()
        }
        # (A trading system's death pages once for all venues: test_one_death_pages_once.)
        expected = {
            ("Deadman", "ExtendFailedWhileAlive"): ("GreaterThanOrEqualToThreshold", 2, "notBreaching"),
            ("Deadman", "Ticks"): ("LessThanThreshold", 1, "breaching"),
            ("Deadman", "VenueErrors"): ("GreaterThanOrEqualToThreshold", 3, "notBreaching"),
            ("Deadman", "StoreErrors"): ("GreaterThanOrEqualToThreshold", 3, "notBreaching"),
            ("Deadman", "NativeFires"): ("GreaterThanOrEqualToThreshold", 1, "notBreaching"),
            # An account out of the secret, not retired, its timer still running (will fire).
            ("Deadman", "UnretiredTimers"): ("GreaterThanOrEqualToThreshold", 1, "notBreaching"),
            # A dead trader's sweep failed with no venue timer of ours behind it.
            ("Deadman", "UnprotectedSweepFailures"): ("GreaterThanOrEqualToThreshold", 1, "notBreaching"),
            ("AWS/Lambda", "Errors"): ("GreaterThanOrEqualToThreshold", 1, "notBreaching"),
            ("AWS/Lambda", "Throttles"): ("GreaterThanOrEqualToThreshold", 1, "notBreaching"),
        }
        assert set(by_metric) == set(expected), f"{venue}: alarms {sorted(by_metric)}"
        for key, (op, threshold, missing) in expected.items():
            props = by_metric[key]
            assert (props["ComparisonOperator"], props["Threshold"], props["TreatMissingData"]) == (
                op,
                threshold,
                missing,
            ), key
            assert props["Statistic"] == "Sum"
            window = props["Period"] * props["EvaluationPeriods"]
            assert window == (120 if key[1] == "Ticks" else 60), f"{venue} {key}: window {window}s"
            if key[0] == "Deadman":
                assert props["Dimensions"] == [
                    {"Name": "service", "Value": "deadman"},
                    {"Name": "venue", "Value": venue},
                ]
            else:
                assert props["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": REFRESHERS[venue]}}]


def test_one_death_pages_once(template: dict[str, Any]) -> None:
    """One alarm for every trading system's death, one contributor per system (a Metrics Insights
    query grouped by system), not one alarm per venue; the refresher emits exactly that metric."""
    import inspect

    from deadman.app import refresh

    alarms = _alarms(template)
    dead = [a for a in alarms.values() if a["Properties"].get("MetricName") == "Dead"]
    assert dead == [], "per-venue death alarms would page once per venue"
    props = alarms["TradingSystemDeadAlarm"]["Properties"]
    [query] = props["Metrics"]
    assert query["Expression"] == (
        "SELECT MAX(SystemDead) FROM SCHEMA(Deadman, service, system) GROUP BY system"
    )
    assert query["Period"] == 60 and query["ReturnData"] is True
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    assert 'self.metrics.count("SystemDead", system=system)' in inspect.getsource(
        refresh.Refresher._count_deaths
    )


def test_tagged_liveness_writer_policy(template: dict[str, Any]) -> None:
    """aws:PrincipalTag is the session's tag: a trust policy allowing sts:TagSession would let a session
    name another system. IAM has no key for the role's own tag, so the rule is stated where the policy
    is handed out (its description, and the README beside it) with the trust-policy guard to copy."""
    policy = template["Resources"]["TradingSystemTaggedLivenessWriterPolicy"]
    assert "sts:TagSession" in policy["Properties"]["Description"]
    readme = (REPO / "README.md").read_text()
    around = readme[readme.index("TradingSystemTaggedLivenessWriterPolicyArn") :][:2500]
    assert "sts:TagSession" in around and '"aws:RequestTag/deadman-system"' in around, (
        "README: the rule and the trust-policy guard belong next to the tagged writer policy"
    )
    (stmt,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert set(as_list(stmt["Action"])) == {"dynamodb:PutItem", "dynamodb:UpdateItem"}
    assert stmt["Resource"] == {"Fn::GetAtt": ["LivenessTable", "Arn"]}
    leading = stmt["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"]
    assert leading == ["${aws:PrincipalTag/deadman-system}"]


def test_control_alarms_and_topic(template: dict[str, Any]) -> None:
    alarms = _alarms(template)
    for name, alarm in alarms.items():
        assert {"Ref": "AlarmTopic"} in alarm["Properties"]["AlarmActions"], f"{name} notifies nobody"
    plain = [a for a in alarms.values() if "Condition" not in a and "Metrics" not in a["Properties"]]
    unconditional = {(a["Properties"]["Namespace"], a["Properties"]["MetricName"]): a["Properties"]
                     for a in plain}  # fmt: skip
    # The kill failing, and the audit copy not being written, page.
    errors = [a["Properties"]["Dimensions"] for a in plain if a["Properties"]["MetricName"] == "Errors"]
    assert sorted(d[0]["Value"]["Ref"] for d in errors) == ["AuditArchiverFunction", "KillFunction"]
    api5xx = unconditional[("AWS/ApiGateway", "5XXError")]
    api_name = template["Resources"]["ControlApi"]["Properties"]["Name"]
    assert {"Name": "ApiName", "Value": api_name} in api5xx["Dimensions"]
    assert {"Name": "Stage", "Value": {"Ref": "StageName"}} in api5xx["Dimensions"]

    topic = template["Resources"]["AlarmTopic"]["Properties"]
    # CloudWatch cannot publish to a topic under the AWS managed aws/sns key (its policy cannot
    # name cloudwatch.amazonaws.com): the topic needs its own key that does.
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    key = template["Resources"]["AlarmTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    cw = [
        s for s in key["KeyPolicy"]["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert cw and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(as_list(cw[0]["Action"]))
    # Only on behalf of this account's alarms: another account's CloudWatch cannot use the key.
    assert cw[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    topic_policy = template["Resources"]["AlarmTopicPolicy"]["Properties"]
    (publish,) = topic_policy["PolicyDocument"]["Statement"]
    assert (
        publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and publish["Action"] == "sns:Publish"
    )
    assert topic_policy["Topics"] == [{"Ref": "AlarmTopic"}]
    sub = template["Resources"]["AlarmEmailSubscription"]
    assert sub["Condition"] == "HasAlarmEmail" and sub["Properties"]["Protocol"] == "email"
    assert resources(template, "AWS::CloudWatch::Dashboard")


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    expected = {
        "ApiUrl": None,
        "LivenessTableName": "LivenessTable",
        "ControlTableName": "ControlTable",
        # `deadman doctor` reads each venue's secret from <Title>SecretArn.
        **{f"{CAP[venue]}SecretArn": SECRETS[venue] for venue in VENUES},
        "TradingSystemLivenessWriterPolicyArn": "TradingSystemLivenessWriterPolicy",
        "OperatorKillPolicyArn": "OperatorKillPolicy",
        "OperatorDisarmArmPolicyArn": "OperatorDisarmArmPolicy",
        "ReadStatusPolicyArn": "ReadStatusPolicy",
        "AlarmTopicArn": "AlarmTopic",
        "TradingSystemGeminiNoncePolicyArn": "TradingSystemGeminiNoncePolicy",
        "OperatorCliPolicyArn": "OperatorCliPolicy",
        "OperatorDoctorPolicyArn": "OperatorDoctorPolicy",
        "TradingSystemTaggedLivenessWriterPolicyArn": "TradingSystemTaggedLivenessWriterPolicy",
        "DashboardUrl": None,
        "AuditCopyBucketName": "AuditCopyBucket",
        "AuditVerifyPolicyArn": "AuditVerifyPolicy",
    }
    assert set(outputs) == set(expected)
    for name, target in expected.items():
        if target:
            assert outputs[name]["Value"] == {"Ref": target}, name
    assert "ControlApi" in refs(outputs["ApiUrl"]["Value"]) and "StageName" in refs(
        outputs["ApiUrl"]["Value"]
    )


# ------------------------------------------------------------------------------------ samconfig
SAMCONFIG = r"""
import json, sys
from samcli.cli.types import CfnParameterOverridesType
from samcli.lib.config.samconfig import SamConfig

config = SamConfig(sys.argv[1])
out = {}
for env in ("default", "dev", "prod"):
    section = {}
    for cmd in ("global", "build", "deploy"):
        section[cmd] = dict(config.get_all([cmd], "parameters", env=env))
    overrides = section["deploy"].get("parameter_overrides")
    section["overrides"] = CfnParameterOverridesType().convert(overrides, None, None)
    out[env] = section
json.dump(out, sys.stdout, default=str)
"""


def test_samconfig(template: dict[str, Any]) -> None:
    python = tool(SAM_VENV, "python")
    proc = run_tool(
        "samconfig.toml through SAM CLI's reader", [str(python), "-c", SAMCONFIG, str(REPO)], timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    config = json.loads(proc.stdout)
    stacks = {"default": "deadman-dev", "dev": "deadman-dev", "prod": "deadman-prod"}
    for env, stack in stacks.items():
        section = config[env]
        # What `sam deploy --config-env <env>` sees (the global section merged in).
        assert section["deploy"]["stack_name"] == stack
        assert re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-\d", section["deploy"]["region"])
        assert section["build"]["cached"] is True and section["build"]["parallel"] is True
        deploy = section["deploy"]
        assert "CAPABILITY_IAM" in str(deploy["capabilities"]).split()
        assert deploy["resolve_s3"] is True
        assert deploy["confirm_changeset"] is (env == "prod")
        overrides = section["overrides"]
        assert overrides, f"{env}: no parameter overrides"
        specs = template["Parameters"]
        for name, value in overrides.items():
            assert name in specs, f"{env}: {name} is not a template parameter"
            spec = specs[name]
            if "AllowedValues" in spec:
                assert value in [str(v) for v in spec["AllowedValues"]], f"{env}: {name}={value}"
            if "AllowedPattern" in spec:
                assert re.fullmatch(spec["AllowedPattern"], value), f"{env}: {name}={value}"
            if spec["Type"] == "Number":
                assert (
                    spec.get("MinValue", float("-inf")) <= float(value) <= spec.get("MaxValue", float("inf"))
                )
        assert failed_rules(template, parameter_values(template, **overrides)) == [], (
            f"{env}: Rules refuse it"
        )
    assert config["prod"]["overrides"]["PowertoolsLogLevel"] != "DEBUG"
    # The production example keeps the two-person rule on (the template's default is off).
    assert config["prod"]["overrides"]["ArmAfterKillNeedsSecondPerson"] == "true"
    assert template["Parameters"]["ArmAfterKillNeedsSecondPerson"]["Default"] == "false"


# --------------------------------------------------------------------------------------- events
def test_refresher_events(template: dict[str, Any]) -> None:
    for venue, fname in REFRESHERS.items():
        event = json.loads((EVENTS / f"refresher-{venue}.json").read_text())
        (schedule,) = template["Resources"][fname]["Properties"]["Events"].values()
        shape = json.loads(schedule["Properties"]["Input"])
        assert set(event) == set(shape) and event["venue"] == venue
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["scheduled_time"])
        assert event["execution_id"] and "<" not in event["execution_id"]


API_EVENTS = {
    "kill.json": True,
    "kill-one-venue.json": True,
    "disarm.json": True,
    "arm.json": True,
    "status.json": True,
    "disarm-missing-for.json": "'for_seconds' is a required property",
    "kill-unknown-venue.json": "is not one of",
    "kill-unknown-field.json": "Additional properties are not allowed",
}


@pytest.mark.parametrize(("name", "expect"), API_EVENTS.items())
def test_api_events(template: dict[str, Any], name: str, expect: bool | str) -> None:
    event = json.loads((EVENTS / name).read_text())
    ctx = event["requestContext"]
    for field in ("userArn", "caller", "accountId", "sourceIp"):
        assert ctx["identity"][field], f"{name}: requestContext.identity.{field}"
    assert (
        ctx["requestId"]
        and ctx["httpMethod"] == event["httpMethod"]
        and ctx["resourcePath"] == event["resource"]
    )
    route = (event["httpMethod"], event["resource"])
    schema = route_models(template)[route]
    if schema is None:
        assert event["body"] is None
        return
    assert isinstance(event["body"], str), f"{name}: API Gateway passes the body as a string"
    errors = [e.message for e in jsonschema.Draft4Validator(schema).iter_errors(json.loads(event["body"]))]
    if expect is True:
        assert not errors, f"{name}: {errors}"
    else:
        assert any(str(expect) in e for e in errors), f"{name}: expected {expect!r}, got {errors}"


def test_every_event_file_is_checked() -> None:
    names = {p.name for p in EVENTS.glob("*.json")}
    # notifier-audit-stream.json is run through the notifier in tests/integration/test_notifier.py,
    # archiver-audit-stream.json through the archiver in tests/integration/test_audit_copy.py.
    streams = {"notifier-audit-stream.json", "archiver-audit-stream.json"}
    assert names == set(API_EVENTS) | {f"refresher-{v}.json" for v in VENUES} | streams


def test_aws_sam_dir_is_git_ignored() -> None:
    # `make build` may create .aws-sam (git-ignored); these tests never do (asserted in `built`).
    assert (
        shutil.which("git") is None
        or subprocess.run(["git", "check-ignore", "-q", ".aws-sam/"], cwd=REPO, check=False).returncode == 0
    ), ".aws-sam must stay git-ignored"
