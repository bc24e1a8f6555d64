"""Fleet configuration from the Lambda environment, validated at start (fail before ticking)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from deadman.core.errors import ConfigError
from deadman.core.policy import Timing
from deadman.core.venue import Capabilities


def _seconds(environ: Mapping[str, str], name: str, default: float) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return int(default * 1000)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number of seconds") from None
    if value < 0:
        raise ConfigError(f"{name} must be >= 0")
    return int(value * 1000)


def _flag(environ: Mapping[str, str], name: str) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw in ("", "false"):
        return False
    if raw == "true":
        return True
    raise ConfigError(f"{name}={raw!r}: must be true or false")


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "")
    if not value:
        raise ConfigError(f"environment variable {name} is required")
    return value


@dataclass(frozen=True)
class FleetConfig:
    timing: Timing
    system: str
    liveness_table: str
    control_table: str
    enabled_venues: frozenset[str]
    run_ms: int = 240_000
    max_disarm_ms: int = 4 * 3_600_000
    # An off period (a weekend, a night) may outlast a disarm; 0: off periods are not allowed.
    max_off_ms: int = 72 * 3_600_000
    # Two-person rule: a killed switch may be armed only by someone other than who killed it.
    arm_needs_second_person: bool = False
    # The sandbox's stack (simulators on loopback ports): venue secrets may name URLs other than the
    # venues' own. Set by DEADMAN_SANDBOX=true, which only sandbox/stack.py sets, never the template.
    sandbox: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str], known: Mapping[str, Capabilities]) -> FleetConfig:
        """`known`: every venue this code speaks, by name (the registry's), to check the enabled ones."""
        venues = frozenset(v.strip() for v in environ.get("ENABLED_VENUES", "").split(",") if v.strip())
        unknown = venues - set(known)
        if unknown:
            raise ConfigError(f"ENABLED_VENUES has unknown venues: {', '.join(sorted(unknown))}")
        timing = Timing(
            max_staleness_ms=_seconds(environ, "MAX_STALENESS_S", 20),
            tick_ms=_seconds(environ, "TICK_S", 10),
            grace_ms=_seconds(environ, "GRACE_S", 15),
            skew_ms=_seconds(environ, "SKEW_S", 5),
            sweep_window_ms=_seconds(environ, "SWEEP_WINDOW_S", 0),
        )
        timing.validate(known[v] for v in sorted(venues))
        config = cls(
            timing=timing,
            system=_required(environ, "SYSTEM_NAME"),
            liveness_table=_required(environ, "LIVENESS_TABLE"),
            control_table=_required(environ, "CONTROL_TABLE"),
            enabled_venues=venues,
            run_ms=_seconds(environ, "RUN_SECONDS", 240),
            max_disarm_ms=_seconds(environ, "MAX_DISARM_S", 4 * 3600),
            max_off_ms=_seconds(environ, "MAX_OFF_S", 72 * 3600),
            arm_needs_second_person=_flag(environ, "ARM_AFTER_KILL_NEEDS_SECOND_PERSON"),
            sandbox=_flag(environ, "DEADMAN_SANDBOX"),
        )
        if config.run_ms < 2 * timing.tick_ms:
            raise ConfigError("RUN_SECONDS must cover at least two ticks")
        return config
