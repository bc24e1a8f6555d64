"""deadman: liveness-gated dead man's switches for crypto venues."""

__version__ = "0.1.0"
