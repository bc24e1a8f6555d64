"""Which venue URL a secret may name: the venue's own, or any in a stack that runs in sandbox mode.

Every signed request goes to the account's base URL. A production secret that named another host - a
typo, a copied sandbox entry, plain `http://` - would send the keys' signatures (and the API key) to
it, and the switch would protect nothing. So `base_url` is accepted outside the sandbox only when it
is one of the venue's official URLs. The sandbox (simulators on loopback ports) passes `sandbox=True`
explicitly through the credential parsing (`DEADMAN_SANDBOX=true`, set by `sandbox/stack.py` and
never by the template; the fault campaign's in-process venues too); nothing falls back to it
silently.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from deadman.core.errors import CredentialsError


def base_url(
    data: Mapping[str, Any], official: Collection[str], venue: str, sandbox: bool, secret_name: str
) -> str:
    """`data[field]` as a base URL (scheme and host, no path, no trailing slash), if it may be used."""
    field = "base_url"
    raw = data.get(field)
    example = sorted(official)[0]
    if not isinstance(raw, str) or not raw.strip():
        raise CredentialsError(secret_name, field, "must be a non-empty string")
    value = raw.strip().rstrip("/")
    try:
        parts = urlsplit(value)
        host = (parts.hostname or "").lower()
    except ValueError:
        raise CredentialsError(secret_name, field, f"is not a URL (e.g. {example})") from None
    if parts.scheme not in ("http", "https") or not host or parts.path or parts.query or parts.fragment:
        raise CredentialsError(secret_name, field, f"must be an http(s) URL without a path (e.g. {example})")
    normal = f"{parts.scheme}://{parts.netloc.lower()}"
    if normal in official:
        return normal
    if sandbox:
        return value
    raise CredentialsError(
        secret_name,
        field,
        f"is not {venue}'s own URL ({', '.join(sorted(official))}): another host, or plain http, is "
        "accepted only when the stack runs in sandbox mode",
    )
