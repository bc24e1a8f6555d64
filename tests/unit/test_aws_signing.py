"""The lean AWS client's SigV4, byte for byte against botocore's signer on the same request."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadman.stores.aws import DYNAMODB, SECRETS_MANAGER, AwsJsonClient, Credentials, sign

WHEN = dt.datetime(2026, 11, 28, 13, 45, 9)
AMZ_DATE = "20261128T134509Z"


def botocore_headers(
    credentials: Credentials, url: str, region: str, service: str, headers: dict[str, str], body: bytes
) -> dict[str, str]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    signer = SigV4Auth(
        BotoCredentials(credentials.access_key, credentials.secret_key, credentials.token), service, region
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=WHEN):
        signer.add_auth(request)
    return dict(request.headers.items())


CASES = [
    # (url, host as signed, path)
    ("https://dynamodb.us-east-1.amazonaws.com/", "dynamodb.us-east-1.amazonaws.com", "/"),
    ("https://dynamodb.eu-west-1.amazonaws.com:443", "dynamodb.eu-west-1.amazonaws.com", "/"),
    ("http://127.0.0.1:5000", "127.0.0.1:5000", "/"),
]


@pytest.mark.parametrize("url,host,path", CASES)
@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzEJr//////////wEaDOn+token/with=chars"])
@pytest.mark.parametrize("api", [DYNAMODB, SECRETS_MANAGER], ids=["dynamodb", "secretsmanager"])
def test_signature_matches_botocore(
    url: str, host: str, path: str, token: str | None, api: tuple[str, str, str, str]
) -> None:
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    body = b'{"TableName":"ControlTable","Key":{"pk":{"S":"SWITCH#kraken"},"sk":{"S":"main"}}}'
    headers = {"Content-Type": api[2], "X-Amz-Target": f"{api[1]}.GetItem"}
    ours = sign(
        credentials=credentials,
        region="eu-west-1",
        service=api[0],
        host=host,
        path=path,
        headers=headers,
        body=body,
        amz_date=AMZ_DATE,
    )
    theirs = botocore_headers(credentials, url, "eu-west-1", api[0], headers, body)
    assert ours == theirs


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=512),
    target=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40),
    secret=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=60),
    spaces=st.sampled_from(["", " ", "  ", "\t"]),
)
def test_signature_matches_botocore_for_any_body_and_header_value(
    body: bytes, target: str, secret: str, spaces: str
) -> None:
    """Header values are trimmed and inner runs of spaces folded, as SigV4 says and botocore does."""
    credentials = Credentials("AKID", secret, "tok")
    headers = {"Content-Type": DYNAMODB[2], "X-Amz-Target": f"{spaces}{target}{spaces}x  y{spaces}"}
    ours = sign(
        credentials=credentials,
        region="us-east-1",
        service="dynamodb",
        host="dynamodb.us-east-1.amazonaws.com",
        path="/",
        headers=headers,
        body=body,
        amz_date=AMZ_DATE,
    )
    theirs = botocore_headers(
        credentials, "https://dynamodb.us-east-1.amazonaws.com/", "us-east-1", "dynamodb", headers, body
    )
    assert ours["Authorization"] == theirs["Authorization"]


def test_credentials_never_show_in_repr() -> None:
    text = repr(Credentials("AKID", "very-secret", "session-token"))
    assert "very-secret" not in text and "session-token" not in text and "AKID" in text


def test_endpoint_and_region_as_boto3_finds_them() -> None:
    env = {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_REGION": "ap-northeast-1"}
    assert AwsJsonClient.from_env(DYNAMODB, env, connect_timeout_s=1, read_timeout_s=2).endpoint == (
        "https://dynamodb.ap-northeast-1.amazonaws.com"
    )
    env |= {"AWS_ENDPOINT_URL": "http://127.0.0.1:1234/", "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://sm:1"}
    made = {
        api[0]: AwsJsonClient.from_env(api, env, connect_timeout_s=1, read_timeout_s=2)
        for api in (DYNAMODB, SECRETS_MANAGER)
    }
    assert made["dynamodb"].endpoint == "http://127.0.0.1:1234"
    assert made["secretsmanager"].endpoint == "http://sm:1"


def test_no_region_is_a_config_error() -> None:
    from deadman.core.errors import ConfigError

    with pytest.raises(ConfigError, match="region"):
        AwsJsonClient.from_env(
            DYNAMODB,
            {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"},
            connect_timeout_s=1,
            read_timeout_s=2,
        )


def test_a_spare_is_called_with_lambdas_own_request_signed_as_botocore_signs_it() -> None:
    """The refresher's one Lambda call: an asynchronous Invoke of its own function, REST-JSON (the
    function in the path, the event as the body), signed byte for byte as botocore signs it."""
    from deadman.stores.aws import LAMBDA

    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "tok/en=")
    client = AwsJsonClient(
        LAMBDA,
        region="eu-west-1",
        endpoint="https://lambda.eu-west-1.amazonaws.com",
        credentials=lambda: credentials,
        connect_timeout_s=1,
        read_timeout_s=2,
        now=lambda: WHEN.replace(tzinfo=dt.UTC).timestamp(),
    )
    sent: list[tuple[bytes, dict[str, str], str | None]] = []

    def send(
        body: bytes, headers: dict[str, str], path: str | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        sent.append((body, dict(headers), path))
        return 202, {}, b""

    client._send = send  # type: ignore[method-assign]
    client.invoke_async(
        "prod-refresher-gemini", {"venue": "gemini", "scheduled_time": "2026-11-28T13:45:09Z"}
    )
    ((body, headers, path),) = sent
    assert path == "/2015-03-31/functions/prod-refresher-gemini/invocations"
    assert (
        headers["X-Amz-Invocation-Type"] == "Event"
        and body == b'{"venue":"gemini","scheduled_time":"2026-11-28T13:45:09Z"}'
    )
    unsigned = {"Content-Type": headers["Content-Type"], "X-Amz-Invocation-Type": "Event"}
    theirs = botocore_headers(
        credentials, f"https://lambda.eu-west-1.amazonaws.com{path}", "eu-west-1", "lambda", unsigned, body
    )
    assert headers["Authorization"] == theirs["Authorization"]
    client._send = lambda *a, **k: (200, {}, b"{}")  # type: ignore[method-assign]
    with pytest.raises(Exception, match="not 202"):
        client.invoke_async("prod-refresher-gemini", {})  # answered but not queued: an error, never silence
