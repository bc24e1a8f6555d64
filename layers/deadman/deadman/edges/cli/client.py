"""The API client: SigV4-signed requests to the control API, the endpoint from --endpoint or a
CloudFormation stack's outputs, and AWS and network failures told in plain words."""

from __future__ import annotations

import argparse
import json
import os
import re
from typing import Any

from deadman import __version__
from deadman.core.describe import aws_error, aws_error_parts, network_error
from deadman.edges.cli.common import (
    CONNECT_TIMEOUT_S,
    DEFAULT_TIMEOUT_S,
    EXIT_AUTH,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_SERVER,
    EXIT_THROTTLED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    LOCAL_HOSTS,
    CliError,
    seconds_text,
)


class ApiClient:
    def __init__(
        self,
        endpoint: str,
        *,
        region: str | None = None,
        profile: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        sign: bool = True,
        sandbox_caller: str | None = None,
    ) -> None:
        check_endpoint(endpoint)
        if sandbox_caller is not None and not is_local(endpoint):
            raise CliError(
                "--sandbox-as works only against the sandbox's local API: a deployment knows you by your AWS "
                "credentials alone"
            )
        self.sandbox_caller = sandbox_caller
        self.endpoint = endpoint.rstrip("/")
        self.region = region or region_of(self.endpoint) or _env_region() or "us-east-1"
        self.profile = profile
        self.timeout_s = timeout_s
        self.sign = sign

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        import requests

        url = self.endpoint + path
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json", "User-Agent": f"deadman-cli/{__version__}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.sandbox_caller is not None:
            headers[SANDBOX_CALLER_HEADER] = self.sandbox_caller
        if self.sign:
            headers = self._signed(method, url, data, headers)
        timeout = (min(CONNECT_TIMEOUT_S, self.timeout_s), self.timeout_s)
        try:
            resp = requests.request(method, url, data=data, headers=headers, timeout=timeout)
        except requests.ConnectTimeout:
            raise CliError(
                f"cannot reach {url}: no connection within {seconds_text(timeout[0])}", EXIT_UNREACHABLE
            ) from None
        except requests.Timeout:
            raise CliError(
                f"no answer from {url} within {seconds_text(self.timeout_s)} (for a kill: it may still "
                "have run; run `deadman status`)",
                EXIT_UNREACHABLE,
            ) from None
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as exc:
            raise CliError(f"{url!r} is not a usable URL ({network_error(exc)})") from None
        except requests.RequestException as exc:
            raise CliError(f"cannot reach {url}: {network_error(exc)}", EXIT_UNREACHABLE) from None
        try:
            payload = resp.json()
        except ValueError:
            payload = {"message": resp.text[:500]}
        return resp.status_code, payload

    def _signed(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> dict[str, str]:
        import boto3
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        try:
            credentials = boto3.Session(profile_name=self.profile).get_credentials()
        except Exception as exc:  # unknown profile, broken config or SSO cache
            raise CliError(f"cannot load AWS credentials: {exc}", EXIT_AUTH) from None
        if credentials is None:
            if is_local(url):
                return headers  # the sandbox's local API does not check signatures
            raise CliError(
                "no AWS credentials found (set a profile, AWS_* variables, or run `aws sso login`)", EXIT_AUTH
            )
        request = AWSRequest(method=method, url=url, data=data, headers=headers)
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", self.region).add_auth(request)
        return {k: str(v) for k, v in request.headers.items()}


# The sandbox's local API takes the caller's identity from this header (there is no IAM there).
SANDBOX_CALLER_HEADER = "X-Deadman-Caller-Arn"


def check_endpoint(url: str) -> None:
    """A usable API URL, or a sentence saying how to write one (never a traceback from deep inside
    the signer or the HTTP library)."""
    from urllib.parse import urlsplit

    example = "https://<api id>.execute-api.<region>.amazonaws.com/<stage> (the stack's ApiUrl output)"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise CliError(f"endpoint {url!r} is not a URL ({exc}): write it as {example}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise CliError(f"endpoint {url!r} is not an http(s) URL: write it as {example}")


def region_of(url: str) -> str | None:
    match = re.search(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com", url)
    return match.group(1) if match else None


def is_local(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    return host in {h.strip("[]") for h in LOCAL_HOSTS}


def _env_region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def stack_outputs(stack: str, *, region: str | None, profile: str | None) -> dict[str, str]:
    return stack_description(stack, region=region, profile=profile)[0]


def stack_description(
    stack: str, *, region: str | None, profile: str | None
) -> tuple[dict[str, str], dict[str, str]]:
    """A CloudFormation stack's outputs and parameter values (what it was deployed with)."""
    import boto3

    where: str | None = region
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        where = session.region_name
        described = session.client("cloudformation").describe_stacks(StackName=stack)
    except Exception as exc:
        raise stack_error(stack, where, profile, exc) from None
    found = described["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in found.get("Parameters", [])}
    return outputs, parameters


_CREDENTIAL_ERRORS = (
    "NoCredentialsError",
    "PartialCredentialsError",
    "CredentialRetrievalError",
    "TokenRetrievalError",
    "SSOTokenLoadError",
    "UnauthorizedSSOTokenError",
    "SSOError",
)
_AUTH_CODES = {
    "AccessDenied",
    "AccessDeniedException",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
}
_THROTTLE_CODES = {
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
}


def stack_error(stack: str, region: str | None, profile: str | None, exc: BaseException) -> CliError:
    """A sentence an operator can act on, with the exit code of its kind (never a bare class name)."""
    error = aws_error_parts(exc)
    if error is not None and error[0] == "ValidationError" and "does not exist" in error[1]:
        return CliError(
            f"cannot read stack {stack!r}: no such stack in region {region or '?'} (check --stack, --region "
            "and which AWS account your credentials are for)",
            EXIT_USAGE,
        )
    return aws_failure(f"cannot read stack {stack!r}", region, profile, exc)


def table_error(table: str, region: str | None, profile: str | None, exc: BaseException) -> CliError:
    """A DynamoDB call on `table` failed: why, with the exit code of its kind."""
    error = aws_error_parts(exc)
    if error is not None and error[0] == "ResourceNotFoundException":
        return CliError(
            f"no DynamoDB table {table!r} in region {region or '?'} (check --table or --stack, --region "
            "and which AWS account your credentials are for)",
            EXIT_USAGE,
        )
    return aws_failure(f"cannot write to table {table!r}", region, profile, exc)


def aws_failure(prefix: str, region: str | None, profile: str | None, exc: BaseException) -> CliError:
    kind = type(exc).__name__
    error = aws_error_parts(exc)
    if error is not None:
        code, message = error
        if code in _AUTH_CODES:
            return CliError(f"{prefix}: AWS refused your credentials: {message or code}", EXIT_AUTH)
        if code in _THROTTLE_CODES:
            return CliError(f"{prefix}: AWS is throttling the calls; retry", EXIT_THROTTLED)
        return CliError(f"{prefix}: AWS answered: {message or code}", EXIT_UNREACHABLE)
    if kind in (
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ConnectionClosedError",
    ):
        return CliError(f"{prefix}: AWS unreachable ({aws_error(exc)})", EXIT_UNREACHABLE)
    if kind == "NoRegionError":
        return CliError(f"{prefix}: no AWS region known (pass --region or set AWS_REGION)", EXIT_USAGE)
    if kind == "ProfileNotFound":
        return CliError(f"{prefix}: AWS profile {profile!r} is not in your AWS config", EXIT_AUTH)
    if kind in _CREDENTIAL_ERRORS:
        return CliError(
            f"{prefix}: no usable AWS credentials (set a profile, AWS_* variables, or run `aws sso login`)",
            EXIT_AUTH,
        )
    return CliError(f"{prefix}: {aws_error(exc)}", EXIT_UNREACHABLE)


def sandbox_mode() -> bool:
    """DEADMAN_SANDBOX=true (exported by `python -m sandbox.local_api`): venue secrets read on this
    machine (doctor --local, kill --direct) may name the simulators' URLs (deadman.venues.urls)."""
    return os.environ.get("DEADMAN_SANDBOX", "").strip().lower() == "true"


def stack_name(args: argparse.Namespace) -> str | None:
    name = getattr(args, "stack", None) or os.environ.get("DEADMAN_STACK")
    return str(name) if name else None


def resolve_endpoint(args: argparse.Namespace) -> str:
    if getattr(args, "endpoint", None):
        return str(args.endpoint)
    stack = stack_name(args)
    if getattr(args, "stack", None) or (stack and not os.environ.get("DEADMAN_ENDPOINT")):
        assert stack is not None
        url = stack_outputs(stack, region=args.region, profile=args.profile).get("ApiUrl")
        if not url:
            raise CliError(f"stack {stack!r} has no ApiUrl output")
        return url
    if os.environ.get("DEADMAN_ENDPOINT"):
        return os.environ["DEADMAN_ENDPOINT"]
    raise CliError("no API endpoint: pass --endpoint URL or --stack NAME (or set DEADMAN_ENDPOINT)")


def exit_code(status: int) -> int:
    if status == 200:
        return EXIT_OK
    if status == 207:
        return EXIT_PARTIAL
    if status in (401, 403):
        return EXIT_AUTH
    if status == 429:
        return EXIT_THROTTLED
    if status >= 500:
        return EXIT_SERVER
    return EXIT_USAGE
