"""Failures told in plain words: an AWS error's message and code, a network failure's cause.

Pure: exceptions are read by their shape (botocore's `response["Error"]`, requests' class names),
so nothing here imports an AWS or HTTP library.
"""

from __future__ import annotations

from deadman.core.errors import DeadmanError


def aws_error_parts(exc: BaseException) -> tuple[str, str] | None:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict) or not isinstance(response.get("Error"), dict):
        return None
    error = response["Error"]
    return str(error.get("Code") or ""), str(error.get("Message") or "")


def aws_error(exc: BaseException) -> str:
    error = aws_error_parts(exc)
    if error is not None:
        code, message = error
        # The message is the sentence; the code stays for searching the AWS docs.
        return f"{message} ({code})" if message and code else (message or code or "AWS error")
    if type(exc).__module__.split(".")[0] in ("requests", "urllib3"):
        return network_error(exc)
    # botocore's own exceptions (no region, endpoint unreachable, ...) have readable messages.
    return str(exc) or f"unexpected error ({type(exc).__name__})"


def network_error(exc: BaseException) -> str:
    """Why an HTTP connection failed, in words (requests' class names say little to an operator)."""
    text = str(exc)
    kind = type(exc).__name__
    if kind in ("ConnectTimeout", "ReadTimeout", "Timeout"):
        return "no answer in time"
    if kind == "SSLError":
        return "TLS handshake failed (a proxy, or a certificate problem)"
    if kind == "ProxyError":
        return "the HTTP proxy failed or refused the connection"
    if kind in ("InvalidURL", "MissingSchema", "InvalidSchema"):
        return "write it as https://<api id>.execute-api.<region>.amazonaws.com/<stage>"
    if any(
        marker in text
        for marker in (
            "Name or service not known",
            "nodename nor servname",
            "getaddrinfo failed",
            "Temporary failure in name resolution",
            "NameResolutionError",
            "No address associated",
        )
    ):
        return "host name not found (check the URL, or your DNS)"
    if "Connection refused" in text or "ConnectionRefused" in text:
        return "connection refused (nothing listens at that address and port)"
    if "Connection reset" in text or "RemoteDisconnected" in text or "Connection aborted" in text:
        return "the connection was closed before an answer"
    return "the connection failed"


def describe_error(exc: BaseException) -> str:
    """Ours as we worded it; AWS's and the network's in plain words."""
    return str(exc) if isinstance(exc, DeadmanError) else aws_error(exc)
