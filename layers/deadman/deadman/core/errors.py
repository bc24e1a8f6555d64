"""Errors that are not a venue's answer: configuration and credentials."""

from __future__ import annotations


class DeadmanError(Exception):
    """Base of every error deadman raises on purpose."""


class ConfigError(DeadmanError):
    """The deployment's configuration is unusable; the message says which setting and why."""


class CredentialsError(ConfigError):
    """A venue secret is missing or malformed. Names the field, never its value."""

    def __init__(self, secret: str, field: str, problem: str) -> None:
        self.secret = secret
        self.field = field
        self.problem = problem
        super().__init__(f"secret {secret!r}: field {field!r} {problem}")
