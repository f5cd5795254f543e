"""Secrets given as a value or a reference (``env:NAME``; the cloud entry points add ``ssm:``,
``secretsmanager:`` ...), resolved when a sink is built, never printed."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Protocol

from shared.notify.types import ConfigError


class SecretResolver(Protocol):
    """Resolves references of one scheme, e.g. ``ssm`` for ``ssm:/path``."""

    scheme: str

    def resolve(self, name: str) -> str: ...


class EnvResolver:
    """``env:NAME``: the value of an environment variable (an Azure app setting backed by a Key Vault
    reference arrives this way)."""

    scheme = "env"

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = env

    def resolve(self, name: str) -> str:
        env = os.environ if self.env is None else self.env
        value = env.get(name)
        if not value:
            raise ConfigError(f"environment variable {name} is not set")
        return value


#: Schemes that are references, never plain values, even where no resolver is installed.
REFERENCE_SCHEMES = ("env", "ssm", "secretsmanager", "keyvault")


def is_reference(value: str) -> bool:
    scheme, sep, _ = value.partition(":")
    return bool(sep) and scheme in REFERENCE_SCHEMES


def resolve_secret(value: str, resolvers: Sequence[SecretResolver] = ()) -> str:
    """A secret's value: ``value`` itself, or what its reference resolves to."""
    scheme, sep, name = value.partition(":")
    if not sep:
        return value
    for resolver in [*resolvers, EnvResolver()]:
        if resolver.scheme == scheme:
            return resolver.resolve(name)
    if scheme in REFERENCE_SCHEMES:
        raise ConfigError(f"no resolver for '{scheme}:' references here (the AWS entry point resolves ssm: and "
                          "secretsmanager:; elsewhere use env:NAME or the value)")
    return value


def describe_secret(value: str | None) -> str:
    """What may be printed about a secret: the reference, or that a value is set."""
    if not value:
        return "(not set)"
    return value if is_reference(value) else "(a value)"
