"""Secret settings given as references, resolved at run time through Powertools Parameters.

A secret setting (``SLACK_WEBHOOK_URL``, ``TEAMS_WEBHOOK_URL``, a token in the configuration file)
holds either the value itself or a reference:

- ``ssm:/path/to/parameter``: an SSM Parameter Store parameter (SecureString decrypted);
- ``secretsmanager:name``: a Secrets Manager secret's string (``secretsmanager:name#field`` takes
  one field of a JSON secret).

``ParameterSecrets.resolvers()`` gives the core (``build_responder(resolvers=...)``) one
resolver per scheme (``shared.notify.secrets.SecretResolver``); the core resolves every secret through
them. Values are cached for ``SECRET_CACHE_SECONDS`` by Powertools, so a warm function does not call SSM
or Secrets Manager on every event and a rotated secret is picked up within that time. A reference
that cannot be resolved raises ``SecretError`` (the event is then retried and finally kept in the
dead-letter queue); the error names the reference, never a value.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.aws.accounts import CLIENT_CONFIG, error_code

if TYPE_CHECKING:  # Powertools Parameters is imported when a reference is first resolved
    from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider

SSM_PREFIX = "ssm:"
SECRETS_MANAGER_PREFIX = "secretsmanager:"
#: Powertools Parameters cache lifetime (its default is 5 s): long enough that a warm function
#: reads each secret once per five minutes, short enough that a rotation is picked up soon.
SECRET_CACHE_SECONDS = 300


class SecretError(Exception):
    """A secret reference that could not be resolved (the reference is named, the value never)."""


def is_reference(value: str | None) -> bool:
    return bool(value) and str(value).startswith((SSM_PREFIX, SECRETS_MANAGER_PREFIX))


class SchemeResolver:
    """One reference scheme for the core (``shared.notify.secrets.SecretResolver``): ``resolve`` gets the
    part after ``<scheme>:``."""

    def __init__(self, scheme: str, owner: ParameterSecrets) -> None:
        self.scheme = scheme
        self._owner = owner

    def resolve(self, name: str) -> str:
        value = self._owner.resolve(f"{self.scheme}:{name}")
        if value is None:  # not reached: a reference resolves to text or raises SecretError
            raise SecretError(f"the secret reference {self.scheme}:{name} resolved to nothing")
        return value


class ParameterSecrets:
    """Resolves ``ssm:`` and ``secretsmanager:`` references; any other value is returned as is."""

    def __init__(self, ssm: SSMProvider | None = None, secrets: SecretsProvider | None = None,
                 max_age: int = SECRET_CACHE_SECONDS) -> None:
        self._ssm = ssm
        self._secrets = secrets
        self.max_age = max_age

    @property
    def ssm(self) -> SSMProvider:
        if self._ssm is None:  # created on first use: most deployments use only one of the two
            from aws_lambda_powertools.utilities.parameters import SSMProvider

            self._ssm = SSMProvider(boto_config=CLIENT_CONFIG)
        return self._ssm

    @property
    def secrets(self) -> SecretsProvider:
        if self._secrets is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            self._secrets = SecretsProvider(boto_config=CLIENT_CONFIG)
        return self._secrets

    def resolve(self, value: str | None) -> str | None:
        if not value or not is_reference(value):
            return value
        try:
            if value.startswith(SSM_PREFIX):
                name = value[len(SSM_PREFIX):]
                return self._text(value, self.ssm.get(name, max_age=self.max_age, decrypt=True))
            name, _, key = value[len(SECRETS_MANAGER_PREFIX):].partition("#")
            secret = self._text(value, self.secrets.get(name, max_age=self.max_age))
            return self._field(value, secret, key) if key else secret
        except (ClientError, BotoCoreError) as exc:
            raise SecretError(f"could not resolve the secret reference {value} ({error_code(exc)})") from exc
        except SecretError:
            raise
        except Exception as exc:  # Powertools wraps SDK errors in GetParameterError (implicitly chained)
            sdk = exc.__cause__ or exc.__context__
            cause = sdk if isinstance(sdk, (ClientError, BotoCoreError)) else exc
            raise SecretError(f"could not resolve the secret reference {value} ({error_code(cause)})") from exc

    @staticmethod
    def _text(reference: str, value: Any) -> str:
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        if not isinstance(value, str) or not value.strip():
            raise SecretError(f"the secret reference {reference} resolved to an empty value")
        return value.strip()

    @staticmethod
    def _field(reference: str, secret: str, key: str) -> str:
        try:
            value = json.loads(secret).get(key)
        except (ValueError, AttributeError):
            raise SecretError(f"the secret of {reference} is not a JSON object") from None
        if not isinstance(value, str) or not value:
            raise SecretError(f"the secret of {reference} has no string field {key!r}")
        return value

    def resolvers(self) -> list[SchemeResolver]:
        """The ``ssm`` and ``secretsmanager`` schemes, for ``build_responder(resolvers=...)``."""
        return [SchemeResolver(SSM_PREFIX[:-1], self), SchemeResolver(SECRETS_MANAGER_PREFIX[:-1], self)]
