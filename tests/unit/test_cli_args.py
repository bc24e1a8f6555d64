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
_DEADMAN_ENV = ("DEADMAN_ENDPOINT", "DEADMAN_STACK", "CONTROL_TABLE", "LIVENESS_TABLE", "MAX_STALENESS_S")


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


@pytest.mark.parametrize(("every", "staleness"), [(1, 20), (2, 20), (9.9, 20), (0.2, 4), (1, 4)])
def test_beat_intervals_well_under_s_are_accepted(every: float, staleness: float) -> None:
    cli_common.check_beat_interval(every, staleness)


@pytest.mark.parametrize(("every", "staleness"), [(10, 20), (15, 20), (20, 20), (30, 20), (2, 4)])
def test_beat_intervals_that_would_flap_are_refused(every: float, staleness: float) -> None:
    with pytest.raises(cli_common.CliError) as info:
        cli_common.check_beat_interval(every, staleness)
    assert info.value.code == cli_common.EXIT_USAGE
    assert f"S = {staleness:g} s" in str(info.value) and f"every {staleness / 2:g} s" in str(info.value)


def test_beat_refuses_a_flapping_interval_before_touching_aws(
    bare: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Default S is the stack's default, 20 s: beating every 10 s lets one failed beat age the row to 20.
    code, _, err = run(capsys, "beat", "--system", "t", "--every", "10", "--table", "nope")
    assert code == cli_common.EXIT_USAGE
    assert "--every 10 s is too slow for S = 20 s" in err and "MaxStalenessSeconds" in err

    bare.setenv("MAX_STALENESS_S", "4")  # the sandbox's S
    code, _, err = run(capsys, "beat", "--system", "t", "--every", "2", "--table", "nope")
    assert code == cli_common.EXIT_USAGE and "S = 4 s" in err

    code, _, err = run(
        capsys, "beat", "--system", "t", "--every", "2", "--max-staleness", "3", "--table", "nope"
    )
    assert code == cli_common.EXIT_USAGE and "S = 3 s" in err  # the flag wins over the environment

    code, _, err = run(capsys, "beat", "--system", "t", "--every", "0", "--table", "nope")
    assert code == cli_common.EXIT_USAGE and "--every" in err


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
