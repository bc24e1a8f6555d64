"""The CLI's arguments and local failures, without an API or AWS: --version, the exit codes in the
help, beat intervals against S, --timeout, --stack errors and `doctor` with nothing configured."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import deadman
from deadman.edges.cli import common as cli_common
from deadman.edges.cli import main as cli_main

_AWS_ENV = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_CLOUDFORMATION",
)
_DEADMAN_ENV = (
    "DEADMAN_ENDPOINT",
    "DEADMAN_STACK",
    "CONTROL_TABLE",
    "LIVENESS_TABLE",
    "MAX_STALENESS_S",
    "SKEW_S",
    "SYSTEM_NAME",
    "DEADMAN_SANDBOX",
)


@pytest.fixture
def bare(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No AWS configuration and no deadman configuration at all, as on a fresh laptop."""
    for name in (*_AWS_ENV, *_DEADMAN_ENV, "SECRET_GEMINI", "SECRET_KRAKEN", "SECRET_HYPERLIQUID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield monkeypatch


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli_main.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- --version and help ----------------------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out == f"deadman {deadman.__version__}\n"


@pytest.mark.parametrize("argv", [["--help"], ["kill", "--help"], ["disarm", "-h"], ["status", "-h"]])
def test_help_lists_every_exit_code(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert "exit codes:" in out
    for line in ("0    done", "1    partly done", "2    refused", "3    not allowed", "4    API unreachable"):
        assert line in out
    assert "5    server error" in out and "6    throttled (429)" in out and "Missing Authentication" in out


def test_exit_code_constants_are_distinct() -> None:
    codes = [
        cli_common.EXIT_OK,
        cli_common.EXIT_PARTIAL,
        cli_common.EXIT_USAGE,
        cli_common.EXIT_AUTH,
        cli_common.EXIT_UNREACHABLE,
        cli_common.EXIT_SERVER,
        cli_common.EXIT_THROTTLED,
        cli_common.EXIT_INTERRUPTED,
    ]
    assert len(set(codes)) == len(codes)


# -- --timeout ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_timeout_must_be_a_positive_number(capsys: pytest.CaptureFixture[str], value: str) -> None:
    code, _, err = run(capsys, "status", "--endpoint", "http://127.0.0.1:9", "--timeout", value)
    assert code == cli_common.EXIT_USAGE and "--timeout" in err


def test_short_timeouts_are_printed_as_given() -> None:
    assert cli_common.seconds_text(0.05) == "0.05 s"
    assert cli_common.seconds_text(60.0) == "60 s"
    assert cli_common.seconds_text(2.5) == "2.5 s"


# -- beat --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("every", "staleness", "skew"), [(1, 20, 5), (2, 20, 5), (7, 20, 5), (9.5, 20, 0), (0.2, 4, 1), (1, 4, 1)]
)
def test_beat_intervals_within_the_rule_are_accepted(every: float, staleness: float, skew: float) -> None:
    cli_common.check_beat_interval(every, staleness, skew)


@pytest.mark.parametrize(
    ("every", "staleness", "skew", "limit"),
    [(7.01, 20, 5, "7 s"), (9.5, 20, 5, "7 s"), (10, 20, 5, "7 s"), (2, 4, 1, "1 s"), (1.5, 4, 1, "1 s")],
)
def test_beat_intervals_a_lost_beat_or_skew_would_kill_are_refused(
    every: float, staleness: float, skew: float, limit: str
) -> None:
    # 9.5 s at S 20 passed the old "under S/2" rule: with a clock 3 s behind and one lost beat the
    # row looked 23 s old and a live book was swept. The sandbox (S 4, K 1) passed --every 2.
    with pytest.raises(cli_common.CliError) as info:
        cli_common.check_beat_interval(every, staleness, skew)
    assert info.value.code == cli_common.EXIT_USAGE
    assert f"S = {staleness:g} s, K = {skew:g} s" in str(info.value)
    assert f"Beat at most every {limit}" in str(info.value) and "2 x every + K + 1 s <= S" in str(info.value)


def test_no_interval_is_safe_when_s_leaves_no_room_for_k() -> None:
    with pytest.raises(cli_common.CliError, match="no beat interval is safe"):
        cli_common.check_beat_interval(0.1, 6, 5)


def test_beat_refuses_a_flapping_interval_before_touching_aws(
    bare: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Without a stack, flags or environment: the template's defaults, S 20 and K 5, and it says so.
    code, _, err = run(capsys, "beat", "--system", "t", "--every", "8", "--table", "nope")
    assert code == cli_common.EXIT_USAGE
    assert "--every 8 s is too slow for S = 20 s, K = 5 s" in err and "MaxStalenessSeconds" in err
    assert "checking --every against the template's defaults" in err

    bare.setenv("MAX_STALENESS_S", "4")  # the sandbox's S and K
    bare.setenv("SKEW_S", "1")
    code, _, err = run(capsys, "beat", "--system", "t", "--every", "2", "--table", "nope")
    assert code == cli_common.EXIT_USAGE and "S = 4 s, K = 1 s" in err

    code, _, err = run(
        capsys, "beat", "--system", "t", "--every", "2", "--max-staleness", "5", "--table", "nope"
    )
    assert code == cli_common.EXIT_USAGE and "S = 5 s, K = 1 s" in err  # the flag wins over the environment

    code, _, err = run(capsys, "beat", "--system", "t", "--every", "0", "--table", "nope")
    assert code == cli_common.EXIT_USAGE and "--every" in err


class FakeDynamo:
    """Stands in for the DynamoDB client `deadman beat` writes with."""

    def __init__(self, failure: Exception | None) -> None:
        self.failure = failure
        self.tables: list[str] = []

    def put_item(self, TableName: str, Item: Any) -> dict[str, Any]:
        self.tables.append(TableName)
        if self.failure is not None:
            raise self.failure
        return {}


@pytest.fixture
def stack_and_dynamo(bare: pytest.MonkeyPatch) -> Iterator[tuple[list[str], Any]]:
    """`--stack prod` answers with its outputs and parameters (S 4, K 1); DynamoDB is a fake."""
    from deadman.edges.cli import commands
    from deadman.stores import dynamo

    asked: list[str] = []

    def describe(stack: str, **_: Any) -> tuple[dict[str, str], dict[str, str]]:
        asked.append(stack)
        return {"LivenessTableName": "table-of-the-stack"}, {"MaxStalenessSeconds": "4", "SkewSeconds": "1"}

    fakes: list[FakeDynamo] = []

    def client(failure: Exception | None = None) -> Any:
        def make(**_: Any) -> FakeDynamo:
            fakes.append(FakeDynamo(failure))
            return fakes[-1]

        bare.setattr(dynamo, "dynamodb_client", make)
        return fakes

    bare.setattr(commands, "stack_description", describe)
    yield asked, client


def test_beat_takes_s_k_and_the_table_from_the_stack_before_the_environment(
    stack_and_dynamo: tuple[list[str], Any], bare: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from botocore.exceptions import ClientError

    asked, client = stack_and_dynamo
    bare.setenv("LIVENESS_TABLE", "table-of-the-environment")
    bare.setenv("MAX_STALENESS_S", "20")
    code, _, err = run(capsys, "beat", "--system", "t", "--every", "2", "--stack", "prod")
    assert code == cli_common.EXIT_USAGE and "S = 4 s, K = 1 s" in err, (
        err
    )  # the stack's, not $MAX_STALENESS_S
    assert asked == ["prod"]

    missing = ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "not found"}}, "PutItem")
    fakes = client(missing)
    code, _, err = run(
        capsys, "beat", "--system", "t", "--every", "1", "--stack", "prod", "--region", "eu-west-1"
    )
    assert code == cli_common.EXIT_USAGE, err
    assert fakes[0].tables == ["table-of-the-stack"]  # --stack wins over $LIVENESS_TABLE
    assert "no DynamoDB table 'table-of-the-stack' in region eu-west-1" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("failure", "code", "said"),
    [
        ("unreachable", cli_common.EXIT_UNREACHABLE, "AWS unreachable"),
        ("denied", cli_common.EXIT_AUTH, "AWS refused your credentials"),
        ("throttled", cli_common.EXIT_THROTTLED, "throttling"),
        ("no credentials", cli_common.EXIT_AUTH, "no usable AWS credentials"),
    ],
)
def test_beat_says_why_dynamodb_refused_with_a_documented_code(
    stack_and_dynamo: tuple[list[str], Any],
    capsys: pytest.CaptureFixture[str],
    failure: str,
    code: int,
    said: str,
) -> None:
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    def error(kind: str) -> ClientError:
        return ClientError({"Error": {"Code": kind, "Message": kind}}, "PutItem")

    _, client = stack_and_dynamo
    client(
        {
            "unreachable": EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com"),
            "denied": error("AccessDeniedException"),
            "throttled": error("ProvisionedThroughputExceededException"),
            "no credentials": NoCredentialsError(),
        }[failure]
    )
    got, _, err = run(capsys, "beat", "--system", "t", "--every", "1", "--table", "live", "--skew", "1",
                      "--max-staleness", "4")  # fmt: skip
    assert got == code and said in err and "Traceback" not in err, err


# -- --stack -----------------------------------------------------------------------------------------------


def test_stack_without_a_region_is_a_sentence(
    bare: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "status", "--stack", "deadman-prod")
    assert code == cli_common.EXIT_USAGE
    assert "cannot read stack 'deadman-prod': no AWS region known (pass --region" in err
    assert "NoRegionError" not in err


def test_stack_without_credentials_is_a_sentence(
    bare: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "status", "--stack", "deadman-prod", "--region", "eu-west-1")
    assert code == cli_common.EXIT_AUTH
    assert "no usable AWS credentials" in err and "NoCredentialsError" not in err


def test_stack_with_an_unknown_profile_is_a_sentence(
    bare: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "status", "--stack", "s", "--profile", "oncall", "--region", "eu-west-1")
    assert code == cli_common.EXIT_AUTH
    assert "AWS profile 'oncall' is not in your AWS config" in err and "ProfileNotFound" not in err


def client_error(code: str, message: str) -> Exception:
    from botocore.exceptions import ClientError

    error: Exception = ClientError({"Error": {"Code": code, "Message": message}}, "DescribeStacks")
    return error


@pytest.mark.parametrize(
    ("exc", "expected", "exit_code"),
    [
        (
            client_error("ValidationError", "Stack with id deadman-prod does not exist"),
            "no such stack in region eu-west-1",
            cli_common.EXIT_USAGE,
        ),
        (
            client_error(
                "AccessDenied", "User x is not authorized to perform: cloudformation:DescribeStacks"
            ),
            "AWS refused your credentials: User x is not authorized",
            cli_common.EXIT_AUTH,
        ),
        (client_error("Throttling", "Rate exceeded"), "throttling", cli_common.EXIT_THROTTLED),
    ],
)
def test_stack_errors_from_aws_are_sentences(
    bare: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    exc: Exception,
    expected: str,
    exit_code: int,
) -> None:
    import boto3

    class Stub:
        def describe_stacks(self, **_: Any) -> Any:
            raise exc

    bare.setattr(boto3.Session, "client", lambda self, *a, **k: Stub())
    code, _, err = run(capsys, "status", "--stack", "deadman-prod", "--region", "eu-west-1")
    assert code == exit_code and expected in err
    assert "ClientError" not in err


def test_an_unreachable_cloudformation_is_a_sentence(
    bare: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from botocore.exceptions import EndpointConnectionError

    def refuse(*_: Any, **__: Any) -> Any:
        raise EndpointConnectionError(endpoint_url="https://cloudformation.eu-west-1.amazonaws.com/")

    import boto3

    class Stub:
        describe_stacks = staticmethod(refuse)

    bare.setattr(boto3.Session, "client", lambda self, *a, **k: Stub())
    code, _, err = run(capsys, "status", "--stack", "deadman-prod", "--region", "eu-west-1")
    assert code == cli_common.EXIT_UNREACHABLE
    assert "Could not connect to the endpoint URL" in err and "EndpointConnectionError" not in err


# -- doctor ------------------------------------------------------------------------------------------------


def test_doctor_with_nothing_configured_fails(
    bare: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "doctor")
    assert code == 1
    assert "[FAIL] configuration" in out and "nothing to check" in out
    assert out.strip().endswith("doctor: FAIL (1 failed, 0 warnings)")


def test_doctor_fails_a_venue_asked_for_that_has_no_secret(
    bare: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bare.setenv("SECRET_GEMINI", "arn:aws:secretsmanager:eu-west-1:1:secret:deadman/gemini")
    code, out, _ = run(capsys, "doctor", "--venue", "kraken")
    assert code == 1
    assert "[FAIL] kraken" in out and "no secret configured (SECRET_KRAKEN)" in out


def test_a_planned_start_is_relative_or_a_time_with_its_zone() -> None:
    now = 1_700_000_000_000
    assert cli_common.parse_start("+2h", now) == now + 7_200_000
    assert cli_common.parse_start("2023-11-14T23:13:20Z", now) == now + 3_600_000
    assert cli_common.parse_start("2023-11-15T00:13:20+01:00", now) == now + 3_600_000
    with pytest.raises(cli_common.CliError, match="no time zone"):
        cli_common.parse_start("2023-11-14T23:13:20", now)
    with pytest.raises(cli_common.CliError, match="cannot read start"):
        cli_common.parse_start("tomorrow", now)
    with pytest.raises(cli_common.CliError, match="no unit"):
        cli_common.parse_start("+30", now)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("2023-11-14T21:13:20Z", "(2023-11-14T21:13:20Z) is 60 min in the past"),
        ("1970-01-01T00:00Z", "(1970-01-01T00:00:00Z) is 19675 days in the past"),
        ("2023-11-14T22:11:20Z", "is 2 min in the past"),
    ],
)
def test_a_planned_start_in_the_past_is_refused_naming_the_time(text: str, named: str) -> None:
    """The README's own example, once its date had passed, disarmed at once and exited 0."""
    now = 1_700_000_000_000  # 2023-11-14T22:13:20Z
    with pytest.raises(cli_common.CliError) as info:
        cli_common.parse_start(text, now)
    assert named in str(info.value) and "leave out --from" in str(info.value)
    assert info.value.code == cli_common.EXIT_USAGE


def test_a_start_within_the_tolerance_of_the_past_is_sent_as_now() -> None:
    now = 1_700_000_000_000
    assert cli_common.parse_start("2023-11-14T22:12:30Z", now) == now - 50_000
