"""A lean client for the two AWS APIs the functions call on every tick: DynamoDB and Secrets Manager.

Why not boto3: importing it and building one DynamoDB client costs a Lambda about 270 ms of a cold
start (the service model and endpoint rules are loaded from JSON), and each call about 1.2 ms of CPU
(parameter validation, event hooks, response parsing against the model), where a refresher's tick
makes five calls. Both APIs are plain JSON over HTTPS signed with SigV4, so a client that sends the
stores' parameters as they are and hands back the service's JSON is short enough to check whole:
the signature is compared byte for byte with botocore's signer, and every answer and error with a
boto3 client's against the same server (tests/unit/test_aws_signing.py,
tests/integration/test_lean_aws.py).

It behaves as a boto3 client for what the stores use, so the stores and the campaign's fake client
are unchanged: the same method names and parameters; errors are botocore's own classes
(`ClientError` with the same `response`, its code's subclass under `client.exceptions`, the same
timeout and connection errors), so `stores/retry.py` classifies them as before. Two differences,
both deliberate: one try per call (the stores retry within their own deadline, which is the
behaviour the fault campaign checks), and blobs are answered as the service sends them, base64
text (`stores/attributes.py` and the credential store read either).

An answer is data only when it is complete and verified (`read_answer`, which the campaign's
in-memory DynamoDB passes its mangled answers through too): an empty, cut, damaged or foreign-shaped
2xx is an error the stores try again, never "no item" (a live trader's absent row reads as death).

Credentials are those Lambda puts in the environment for the execution role; where there are none
(an operator's machine with a profile), botocore's credential chain is asked instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from deadman.core.errors import ConfigError
from deadman.stores.answers import EXCEPTIONS, read_answer

# (signing name, X-Amz-Target prefix, content type, the suffix of its AWS_ENDPOINT_URL_<...> variable)
DYNAMODB = ("dynamodb", "DynamoDB_20120810", "application/x-amz-json-1.0", "DYNAMODB")
SECRETS_MANAGER = ("secretsmanager", "secretsmanager", "application/x-amz-json-1.1", "SECRETS_MANAGER")
# Lambda is REST-JSON: one operation here, an asynchronous Invoke (a refresher calling its own spare).
LAMBDA = ("lambda", "", "application/json", "LAMBDA")

USER_AGENT = "deadman-lean-aws/1"


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str = field(repr=False)  # never in a log line or a traceback
    token: str | None = field(default=None, repr=False)


def env_credentials(environ: Mapping[str, str]) -> Callable[[], Credentials]:
    """The execution role's keys from the environment, as Lambda sets them; else botocore's chain
    (profiles, SSO, instance roles), loaded only then and asked at every call so it can refresh."""
    access_key = environ.get("AWS_ACCESS_KEY_ID", "")
    secret_key = environ.get("AWS_SECRET_ACCESS_KEY", "")
    if access_key and secret_key:
        static = Credentials(access_key, secret_key, environ.get("AWS_SESSION_TOKEN") or None)
        return lambda: static
    import botocore.session

    resolved = botocore.session.get_session().get_credentials()
    if resolved is None:
        raise ConfigError("no AWS credentials: none in the environment and none in botocore's chain")

    def chain() -> Credentials:
        frozen = resolved.get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    return chain


def sign(
    *,
    credentials: Credentials,
    region: str,
    service: str,
    host: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    amz_date: str,
) -> dict[str, str]:
    """SigV4 for a POST with no query string: `headers` plus X-Amz-Date, the session token and
    Authorization. Every header given is signed (so pass no User-Agent: botocore leaves it out)."""
    signed = {k.lower(): " ".join(v.split()) for k, v in headers.items()}
    signed["host"] = host
    signed["x-amz-date"] = amz_date
    if credentials.token:
        signed["x-amz-security-token"] = credentials.token
    names = sorted(signed)
    canonical = "\n".join(
        (
            "POST",
            path,
            "",
            "".join(f"{name}:{signed[name]}\n" for name in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        )
    )
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = ("AWS4" + credentials.secret_key).encode()
    for part in (amz_date[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out = dict(headers)
    out["X-Amz-Date"] = amz_date
    if credentials.token:
        out["X-Amz-Security-Token"] = credentials.token
    out["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return out


def _blob(value: Any) -> str:
    # Request parameters are JSON already, but for blobs (a binary attribute): the wire form is base64.
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class AwsJsonClient:
    """One AWS JSON-protocol service (DynamoDB or Secrets Manager) at one endpoint: one try per call,
    connect and read time bounded, connections kept alive and shared by threads."""

    def __init__(
        self,
        api: tuple[str, str, str, str],
        *,
        region: str,
        endpoint: str,
        credentials: Callable[[], Credentials],
        connect_timeout_s: float,
        read_timeout_s: float,
        now: Callable[[], float] = time.time,
    ) -> None:
        import certifi
        import urllib3

        self.service, self._target, self._content_type, _ = api
        self.region = region
        self.endpoint = endpoint.rstrip("/")
        parts = urlsplit(self.endpoint)
        default_port = {"https": 443, "http": 80}.get(parts.scheme)
        if default_port is None or not parts.hostname:
            raise ConfigError(f"AWS endpoint {endpoint!r} is not an http(s) URL")
        # As botocore: the port is part of the signed host only when it is not the scheme's own.
        self._host = (
            parts.hostname if parts.port in (None, default_port) else f"{parts.hostname}:{parts.port}"
        )
        self._path = parts.path or "/"
        self._credentials = credentials
        self._now = now
        self._timeout = urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s)
        self._pool = urllib3.PoolManager(
            num_pools=1, maxsize=16, retries=False, cert_reqs="CERT_REQUIRED", ca_certs=certifi.where()
        ).connection_from_url(self.endpoint)
        # One registry for every client: `except client.exceptions.X` catches X from any of them.
        self.exceptions = EXCEPTIONS

    @classmethod
    def from_env(
        cls, api: tuple[str, str, str, str], environ: Mapping[str, str], **kwargs: Any
    ) -> AwsJsonClient:
        """Region and endpoint as boto3 finds them (AWS_DEFAULT_REGION or AWS_REGION;
        AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL, then the service's regional endpoint)."""
        region = environ.get("AWS_DEFAULT_REGION") or environ.get("AWS_REGION") or ""
        if not region:
            raise ConfigError("no AWS region: set AWS_REGION or AWS_DEFAULT_REGION (Lambda sets both)")
        endpoint = (
            environ.get(f"AWS_ENDPOINT_URL_{api[3]}")
            or environ.get("AWS_ENDPOINT_URL")
            or f"https://{api[0]}.{region}.amazonaws.com"
        )
        return cls(api, region=region, endpoint=endpoint, credentials=env_credentials(environ), **kwargs)

    # -- the operations the stores call ------------------------------------------------------------

    def get_item(self, **params: Any) -> dict[str, Any]:
        return self.call("GetItem", params)

    def put_item(self, **params: Any) -> dict[str, Any]:
        return self.call("PutItem", params)

    def update_item(self, **params: Any) -> dict[str, Any]:
        return self.call("UpdateItem", params)

    def query(self, **params: Any) -> dict[str, Any]:
        return self.call("Query", params)

    def get_secret_value(self, **params: Any) -> dict[str, Any]:
        return self.call("GetSecretValue", params)

    def invoke_async(self, function_name: str, payload: Mapping[str, Any]) -> None:
        """Lambda's Invoke with InvocationType Event: queued by Lambda, answered 202, never waited on."""
        self.call("Invoke", {"FunctionName": function_name, "Payload": dict(payload)})

    # -- the wire ----------------------------------------------------------------------------------

    def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        if self.service == LAMBDA[0]:
            return self._invoke(operation, params)
        body = json.dumps(params, separators=(",", ":"), default=_blob).encode()
        headers = sign(
            credentials=self._credentials(),
            region=self.region,
            service=self.service,
            host=self._host,
            path=self._path,
            headers={"Content-Type": self._content_type, "X-Amz-Target": f"{self._target}.{operation}"},
            body=body,
            amz_date=time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self._now())),
        )
        headers["User-Agent"] = USER_AGENT
        status, answer_headers, data = self._send(body, headers)
        return read_answer(self.service, operation, status, answer_headers, data)

    def _invoke(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Lambda's REST form: the function in the path, the event as the body, 202 when queued."""
        if operation != "Invoke":
            raise ConfigError(f"the lean Lambda client makes Invoke calls only, not {operation}")
        name = quote(str(params["FunctionName"]), safe="")
        path = f"{self._path.rstrip('/')}/2015-03-31/functions/{name}/invocations"
        body = json.dumps(params.get("Payload") or {}, separators=(",", ":")).encode()
        headers = sign(
            credentials=self._credentials(),
            region=self.region,
            service=self.service,
            host=self._host,
            path=path,
            headers={"Content-Type": self._content_type, "X-Amz-Invocation-Type": "Event"},
            body=body,
            amz_date=time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self._now())),
        )
        headers["User-Agent"] = USER_AGENT
        status, _headers, _data = self._send(body, headers, path)
        if status != 202:
            raise self._transport_error(ValueError(f"Invoke answered {status}, not 202 (queued)"))
        return {"StatusCode": status}

    def _send(
        self, body: bytes, headers: dict[str, str], path: str | None = None
    ) -> tuple[int, Mapping[str, str], bytes]:
        import urllib3

        try:
            answer = self._pool.urlopen(
                "POST", path or self._path, body=body, headers=headers, timeout=self._timeout, retries=False
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._transport_error(exc) from exc
        return answer.status, answer.headers, answer.data

    def _transport_error(self, exc: BaseException) -> Exception:
        """botocore's exception for what urllib3 raised (an answer that could not be read is
        `read_answer`'s). botocore is loaded only now, on a failure."""
        import urllib3.exceptions as u3
        from botocore import exceptions as bx

        # First match wins: urllib3 derives NewConnectionError (refused, unresolvable) from its
        # ConnectTimeoutError.
        kinds = (
            (u3.NewConnectionError, bx.EndpointConnectionError),
            (u3.ConnectTimeoutError, bx.ConnectTimeoutError),
            (u3.ReadTimeoutError, bx.ReadTimeoutError),
            (u3.SSLError, bx.SSLError),
            (u3.ProtocolError, bx.ConnectionClosedError),
        )
        for theirs, ours in kinds:
            if isinstance(exc, theirs):
                error: Exception = ours(endpoint_url=self.endpoint, error=exc)
                return error
        error = bx.HTTPClientError(error=exc)
        return error


def lean_invoker(environ: Mapping[str, str]) -> AwsJsonClient:
    """The refreshers' Lambda client (to call a spare of their own), bounded as the DynamoDB one."""
    return AwsJsonClient.from_env(LAMBDA, environ, connect_timeout_s=1, read_timeout_s=2)


def lean_clients(environ: Mapping[str, str]) -> tuple[AwsJsonClient, AwsJsonClient]:
    """The functions' DynamoDB and Secrets Manager clients, bounded as the boto3 ones were:
    DynamoDB 1 s to connect and 2 s to answer, Secrets Manager 2 s and 5 s."""
    dynamodb = AwsJsonClient.from_env(DYNAMODB, environ, connect_timeout_s=1, read_timeout_s=2)
    secrets = AwsJsonClient.from_env(SECRETS_MANAGER, environ, connect_timeout_s=2, read_timeout_s=5)
    return dynamodb, secrets
