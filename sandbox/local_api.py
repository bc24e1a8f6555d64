"""A small local stand-in for API Gateway in front of the real control handlers.

Each HTTP request becomes an API Gateway REST proxy event (the shape of events/*.json) and goes to
the real function code (functions/kill, functions/disarm, functions/status), each loaded as its own
module with the stack's environment, as Lambda would load it. The caller's identity
(`requestContext.identity.userArn`) comes from the `X-Deadman-Caller-Arn` header (an ARN, or a bare
session name: `alice` is the deadman-operator role's session `alice`; `deadman --sandbox-as alice`
sends it), else a default operator ARN: there is no IAM here, so SigV4 signatures (the CLI always
signs) are accepted unchecked.

    python -m sandbox.local_api [--port 8080] [--trader] [--scheduler] [--two-person]

`--two-person` turns the two-person rule on (ArmAfterKillNeedsSecondPerson): kill as one operator,
then `deadman arm` is refused for them and taken from `deadman --sandbox-as bob arm ...`.

starts a whole sandbox stack (moto, the three venue simulators, optionally the refreshers and a toy
trader resting orders) with this API in front, and prints the environment to export so that
`deadman status|kill|disarm|arm|doctor` work against it exactly as against a deployment.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import signal
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sandbox.aws import patched_env
from sandbox.stack import FakeContext

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CALLER_ARN = "arn:aws:sts::123456789012:assumed-role/deadman-operator/sandbox"
CALLER_HEADER = "X-Deadman-Caller-Arn"
STAGE = "local"
ACCOUNT_ID = "123456789012"
MAX_REQUEST_BYTES = 1 << 20  # the sandbox's own cap; the functions refuse more than 16 KiB anyway
# route -> the function that serves it (template.yaml: KillFunction, DisarmFunction, StatusFunction)
ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/kill"): "kill",
    ("POST", "/disarm"): "disarm",
    ("POST", "/arm"): "disarm",
    ("GET", "/status"): "status",
    ("GET", "/doctor"): "disarm",
}
TIMEOUTS_S = {"kill": 30.0, "disarm": 30.0, "status": 10.0}  # the functions' Timeout in template.yaml


def load_function(name: str, env: dict[str, str]) -> ModuleType:
    """Import functions/<name>/app.py as its own module, with `env` as its environment."""
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"control_app_{name}_{uuid.uuid4().hex[:6]}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with patched_env(env):
        spec.loader.exec_module(module)
    return module


def proxy_event(
    method: str,
    raw_path: str,
    headers: dict[str, str],
    body: str | None,
    *,
    source_ip: str = "127.0.0.1",
    caller_arn: str | None = None,
) -> dict[str, Any]:
    """An API Gateway REST proxy event as API Gateway builds it for an IAM-authenticated request."""
    parts = urlsplit(raw_path)
    path = parts.path or "/"
    query = dict(parse_qsl(parts.query)) or None
    lower = {k.lower(): v for k, v in headers.items()}
    arn = as_arn(caller_arn or lower.get(CALLER_HEADER.lower()) or DEFAULT_CALLER_ARN)
    principal = arn.rsplit("/", 1)[-1]
    access_key = _access_key(lower.get("authorization", ""))
    now = time.time()
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": path,
            "httpMethod": method,
            "extendedRequestId": uuid.uuid4().hex[:16],
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "path": f"/{STAGE}{path}",
            "accountId": ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": STAGE,
            "domainPrefix": "localhost",
            "requestTimeEpoch": int(now * 1000),
            "requestId": str(uuid.uuid4()),
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": ACCOUNT_ID,
                "cognitoIdentityId": None,
                "caller": f"AROALOCALSANDBOX:{principal}",
                "sourceIp": source_ip,
                "principalOrgId": None,
                "accessKey": access_key,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": arn,
                "userAgent": lower.get("user-agent"),
                "user": f"AROALOCALSANDBOX:{principal}",
            },
            "domainName": lower.get("host", "localhost"),
            "apiId": "local",
        },
        "body": body,
        "isBase64Encoded": False,
    }


def as_arn(caller: str) -> str:
    """The caller header's value as an ARN: a bare name is a session of the sandbox's operator role."""
    if caller.startswith("arn:"):
        return caller
    return DEFAULT_CALLER_ARN.rsplit("/", 1)[0] + "/" + caller


def _access_key(authorization: str) -> str | None:
    # "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/execute-api/aws4_request, ..."
    marker = "Credential="
    if marker not in authorization:
        return None
    return authorization.split(marker, 1)[1].split("/", 1)[0] or None


class LocalApi:
    """The control API on a free loopback port, in this process, over the real handlers."""

    def __init__(self, env: dict[str, str], *, default_caller: str = DEFAULT_CALLER_ARN) -> None:
        self.env = dict(env)
        self.default_caller = default_caller
        self.functions: dict[str, ModuleType] = {}
        self.calls: list[tuple[str, str, int]] = []  # (method, path, status) for tests
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def start(self, host: str = "127.0.0.1", port: int = 0) -> LocalApi:
        for name in sorted(set(ROUTES.values())):
            self.functions[name] = load_function(name, self.env)
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_REQUEST_BYTES:
                    self._send(413, {"message": "Request Too Long"})
                    self.close_connection = True
                    return
                raw = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items()}
                status, out_headers, body = api.invoke(
                    self.command, self.path, headers, raw, source_ip=self.client_address[0]
                )
                self.send_response(status)
                for key, value in out_headers.items():
                    if key.lower() not in ("content-length", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _serve
            do_POST = _serve
            do_PUT = _serve
            do_DELETE = _serve
            do_PATCH = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="local-api", daemon=True
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("local API not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def invoke(
        self, method: str, raw_path: str, headers: dict[str, str], raw: bytes, *, source_ip: str = "127.0.0.1"
    ) -> tuple[int, dict[str, str], bytes]:
        """One request through the handler API Gateway would route it to: (status, headers, body)."""
        path = urlsplit(raw_path).path.rstrip("/") or "/"
        if path.startswith(f"/{STAGE}/"):
            path = path[len(STAGE) + 1 :]
        function = ROUTES.get((method, path))
        if function is None:
            # API Gateway answers an unknown route (or method) of an IAM-authenticated API with 403.
            status = 403
            body = json.dumps({"message": "Missing Authentication Token"}).encode()
            self._note(method, path, status)
            return status, {"Content-Type": "application/json"}, body
        try:
            text = raw.decode("utf-8") if raw else None
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "replace")  # API Gateway passes text bodies on as text
        event = proxy_event(
            method,
            raw_path,
            headers,
            text,
            source_ip=source_ip,
            caller_arn=headers.get(CALLER_HEADER) or self.default_caller,
        )
        context = FakeContext(f"deadman-{function}", TIMEOUTS_S[function], self._stop)
        try:
            result = self.functions[function].lambda_handler(event, context)
        except Exception as exc:  # an unhandled function error: API Gateway answers 502
            self._note(method, path, 502)
            body = json.dumps({"message": f"Internal server error ({type(exc).__name__})"}).encode()
            return 502, {"Content-Type": "application/json"}, body
        status = int(result.get("statusCode", 502))
        # A REST proxy integration may answer with headers, multiValueHeaders or both.
        out_headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        for key, values in (result.get("multiValueHeaders") or {}).items():
            out_headers[str(key)] = ", ".join(str(v) for v in values)
        body_text = result.get("body") or ""
        self._note(method, path, status)
        return status, out_headers, body_text.encode()

    def _note(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.calls.append((method, path, status))

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    from sandbox.archiver import AuditCopier
    from sandbox.stack import Stack
    from sandbox.trader import ToyTrader

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=0, help="port of the local API (default: a free one)")
    parser.add_argument("--scheduler", action="store_true", help="run the refreshers (EventBridge stand-in)")
    parser.add_argument(
        "--trader", action="store_true", help="a toy trader beats and rests 2 orders per account"
    )
    parser.add_argument(
        "--two-person",
        action="store_true",
        help="the two-person rule on (ArmAfterKillNeedsSecondPerson); `deadman --sandbox-as NAME` acts as "
        "another operator",
    )
    args = parser.parse_args(argv)

    stack = Stack().start()
    trader = None
    api = None
    copier = None
    try:
        copier = AuditCopier(stack.env["CONTROL_TABLE"]).start()
        if args.trader:
            trader = ToyTrader(stack)
            trader.start_beating(0.5)
            trader.rest_orders(2)
        if args.scheduler:
            stack.start_scheduler()
        env = {**stack.env, "ARM_AFTER_KILL_NEEDS_SECOND_PERSON": str(args.two_person).lower()}
        api = LocalApi(env).start(port=args.port)
        exports = {
            "DEADMAN_ENDPOINT": api.url,
            **{k: v for k, v in stack.env.items() if k.startswith(("AWS_", "SECRET_"))},
            "CONTROL_TABLE": stack.env["CONTROL_TABLE"],
            # For `deadman audit verify`: the audit copy the sandbox keeps as the archiver would.
            "AUDIT_BUCKET": copier.bucket,
            "LIVENESS_TABLE": stack.env["LIVENESS_TABLE"],
            "SYSTEM_NAME": stack.env["SYSTEM_NAME"],
            # S and K, for `deadman beat` and `deadman doctor --local`: the sandbox's compressed timing.
            "MAX_STALENESS_S": stack.env["MAX_STALENESS_S"],
            "SKEW_S": stack.env["SKEW_S"],
            # For `deadman doctor --local` and `deadman kill --direct` on the simulators' URLs.
            "DEADMAN_SANDBOX": "true",
        }
        print("# deadman sandbox: paste these into another shell, then run `deadman status`")
        for key, value in exports.items():
            print(f"export {key}='{value}'")
        print("# Ctrl-C (or SIGTERM) stops everything", flush=True)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.wait(0.5):
            pass
    finally:
        if api is not None:
            api.stop()
        if copier is not None:
            copier.stop()
        if trader is not None:
            trader.writer.stop()
        stack.stop()


if __name__ == "__main__":
    main()
