"""The composition roots: the environment a function runs in, turned into a refresher or the controls.

Where the functions' configuration is read from the environment: `os.environ` (or the mapping a test or
the sandbox passes) is handed to `FleetConfig.from_env`, `CredentialStore.from_env` and the lean AWS
clients, which parse what they are given and read nothing themselves. Here the real adapters are
picked: DynamoDB stores sharing one lean client with bounded time per call, Secrets Manager behind a
cache, the DynamoDB nonce counter. Nothing here calls AWS yet. Imports are inside each function: the
refresher's cold start does not load the controls (and their response models), nor the controls the
tick loop.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from deadman.core.clock import Clock, system_clock
from deadman.core.config import FleetConfig
from deadman.core.errors import ConfigError
from deadman.core.metrics import MetricsSink
from deadman.stores.aws import lean_clients, lean_invoker
from deadman.stores.credentials import CredentialStore
from deadman.stores.liveness import LivenessReader
from deadman.stores.nonces import DynamoNonceSource, with_fallback
from deadman.stores.retry import Retrying
from deadman.stores.switches import SwitchStore
from deadman.venues import CAPABILITIES

# How long a function keeps a venue secret before reading it again: how long an edit takes to apply.
SECRET_MAX_AGE_S = 60

if TYPE_CHECKING:
    from deadman.app.control import Control
    from deadman.app.refresh import Refresher
    from deadman.stores.audit_copy import AuditArchive


def refresher_from_env(
    venue: str,
    *,
    clock: Clock,
    metrics: MetricsSink,
    log: Callable[..., None],
    environ: Mapping[str, str] = os.environ,
) -> Refresher:
    """The refresher Lambda's (and the sandbox's) refresher for one venue."""
    from deadman.app.refresh import Refresher

    config = FleetConfig.from_env(environ, CAPABILITIES)
    if venue not in config.enabled_venues:
        raise ConfigError(f"venue {venue!r} is not in ENABLED_VENUES")
    patience = Retrying(clock, time.sleep, on_retry=lambda exc: metrics.count("StoreRetries", venue=venue))
    stores = _stores(config, environ, patience, on_audit_event=lambda name: metrics.count(name, venue=venue))
    return Refresher(
        venue=venue,
        clock=clock,
        metrics=metrics,
        log=log,
        invite=_spare_invite(environ, venue, clock),
        **stores,
    )


def _spare_invite(environ: Mapping[str, str], venue: str, clock: Clock) -> Callable[[], None] | None:
    """The refresher calling a spare of its own: an asynchronous Invoke of this very function (its
    name is Lambda's AWS_LAMBDA_FUNCTION_NAME), with the event Scheduler would have sent. None outside
    a function (a local refresher has no function to call)."""
    name = environ.get("AWS_LAMBDA_FUNCTION_NAME")
    if not name:
        return None
    client = lean_invoker(environ)

    def invite() -> None:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock() / 1000))
        event = {"venue": venue, "scheduled_time": now, "execution_id": f"spare-{uuid.uuid4().hex[:12]}"}
        client.invoke_async(name, event)

    return invite


def control_from_env(environ: Mapping[str, str] = os.environ, **kwargs: Any) -> Control:
    """The kill, disarm and status functions' controls."""
    from deadman.app.control import Control

    config = FleetConfig.from_env(environ, CAPABILITIES)
    patience = Retrying(kwargs.get("clock", system_clock), kwargs.get("sleep", time.sleep))
    metrics: MetricsSink | None = kwargs.get("metrics")
    on_audit_event = metrics.count if metrics is not None else None
    return Control(**_stores(config, environ, patience, on_audit_event=on_audit_event), **kwargs)


def _stores(
    config: FleetConfig,
    environ: Mapping[str, str],
    patience: Retrying,
    *,
    on_audit_event: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The real adapters both compositions share: one bounded DynamoDB client for the switches, the
    liveness rows and the nonce counter, and the venue secrets behind their cache. The clients are
    the lean ones (`stores/aws.py`): boto3 would cost each cold start ~270 ms and each call ~1.2 ms.
    `on_audit_event` counts an audit append that lost a race or gave up."""
    client, secrets = lean_clients(environ)
    return {
        "config": config,
        "switches": SwitchStore(
            config.control_table, client=client, patience=patience, on_audit_event=on_audit_event
        ),
        "liveness": LivenessReader(config.liveness_table, client=client, patience=patience),
        # A secret edit (an account added, moved to another trading system, a key retiring) reaches
        # every function within a minute; a sweep reads it again first if it is older than a tick.
        "credentials": CredentialStore.from_env(
            environ, client=secrets, max_age_s=SECRET_MAX_AGE_S, sandbox=config.sandbox
        ),
        # The shared counter, or the clock plus a lead when DynamoDB does not answer: a kill, or a
        # sweep of a dead trader, goes out during an outage too.
        "nonces": with_fallback(DynamoNonceSource(config.control_table, client=client, patience=patience)),
    }


def archive_from_env(
    s3: Any, *, log: Callable[..., None], environ: Mapping[str, str] = os.environ
) -> AuditArchive:
    """The archiver's write-once copy: the bucket from AUDIT_BUCKET, written through `s3`."""
    from deadman.stores.audit_copy import AuditArchive

    bucket = environ.get("AUDIT_BUCKET", "")
    if not bucket:
        raise ConfigError("AUDIT_BUCKET is not set: the archiver has nowhere to copy the audit log")
    return AuditArchive(bucket, s3=write_once_s3(s3), log=log)


def write_once_s3(s3: Any) -> Any:
    """`s3` able to send `If-None-Match: *` on PutObject whatever boto3 the Lambda runtime carries:
    SDKs older than S3's conditional writes (August 2024) refuse the parameter, so there it is sent
    as the header itself (the bucket policy refuses any write without it)."""
    members = s3.meta.service_model.operation_model("PutObject").input_shape.members
    if "IfNoneMatch" in members:
        return s3
    return _HeaderIfNoneMatch(s3)


class _HeaderIfNoneMatch:
    def __init__(self, s3: Any) -> None:
        self._s3 = s3
        self._value = threading.local()
        s3.meta.events.register("before-sign.s3.PutObject", self._add_header)

    def _add_header(self, request: Any, **_: Any) -> None:
        value = getattr(self._value, "current", None)
        if value is not None:
            request.headers["If-None-Match"] = value

    def put_object(self, **params: Any) -> Any:
        self._value.current = params.pop("IfNoneMatch", None)
        try:
            return self._s3.put_object(**params)
        finally:
            self._value.current = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)
