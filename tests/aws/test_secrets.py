"""Secret references in settings, resolved through Powertools Parameters (moto: SSM, Secrets Manager, KMS)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider
from moto import mock_aws

from functions.aws.secrets import ParameterSecrets, SecretError, is_reference
from shared.notify.secrets import resolve_secret
from tests.aws.conftest import REGION

HOOK = "https://hooks.slack.com/services/T000/B000/SECRETVALUE"


@pytest.fixture
def resolver() -> Iterator[ParameterSecrets]:
    with mock_aws():
        ssm = boto3.client("ssm", region_name=REGION)
        secrets = boto3.client("secretsmanager", region_name=REGION)
        yield ParameterSecrets(SSMProvider(boto3_client=ssm), SecretsProvider(boto3_client=secrets))


def test_plain_values_pass_through(resolver: ParameterSecrets) -> None:
    assert resolver.resolve(HOOK) == HOOK
    assert resolver.resolve(None) is None
    assert not is_reference(HOOK) and is_reference("ssm:/x") and is_reference("secretsmanager:x")


def test_ssm_secure_string_with_a_customer_managed_key(resolver: ParameterSecrets) -> None:
    key = boto3.client("kms", region_name=REGION).create_key(Description="responder secrets")["KeyMetadata"]["Arn"]
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name="/backup-responder/slack", Value=HOOK, Type="SecureString", KeyId=key)
    assert resolver.resolve("ssm:/backup-responder/slack") == HOOK


def test_secrets_manager_string_and_json_field(resolver: ParameterSecrets) -> None:
    sm = boto3.client("secretsmanager", region_name=REGION)
    sm.create_secret(Name="backup-responder/teams", SecretString="https://example.invalid/teams\n")
    sm.create_secret(Name="backup-responder/all", SecretString=json.dumps({"slack": HOOK}))
    assert resolver.resolve("secretsmanager:backup-responder/teams") == "https://example.invalid/teams"
    assert resolver.resolve("secretsmanager:backup-responder/all#slack") == HOOK
    with pytest.raises(SecretError, match="no string field 'teams'"):
        resolver.resolve("secretsmanager:backup-responder/all#teams")
    with pytest.raises(SecretError, match="not a JSON object"):
        resolver.resolve("secretsmanager:backup-responder/teams#slack")


def test_values_are_cached_between_invocations(resolver: ParameterSecrets) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(Name="/backup-responder/slack", Value=HOOK, Type="SecureString")
    assert resolver.resolve("ssm:/backup-responder/slack") == HOOK
    ssm.put_parameter(Name="/backup-responder/slack", Value=HOOK + "-rotated", Type="SecureString", Overwrite=True)
    assert resolver.resolve("ssm:/backup-responder/slack") == HOOK  # within max_age: no call
    fresh = ParameterSecrets(SSMProvider(boto3_client=ssm))  # a new container: a new cache
    assert fresh.resolve("ssm:/backup-responder/slack") == HOOK + "-rotated"


def test_missing_secret_names_the_reference_never_a_value(resolver: ParameterSecrets) -> None:
    with pytest.raises(SecretError) as err:
        resolver.resolve("ssm:/backup-responder/missing")
    assert str(err.value) == "could not resolve the secret reference ssm:/backup-responder/missing (ParameterNotFound)"
    with pytest.raises(SecretError, match=r"secretsmanager:nope \(ResourceNotFoundException\)"):
        resolver.resolve("secretsmanager:nope")


def test_the_core_resolves_settings_through_these_schemes(resolver: ParameterSecrets) -> None:
    boto3.client("ssm", region_name=REGION).put_parameter(Name="/r/slack", Value=HOOK, Type="SecureString")
    boto3.client("secretsmanager", region_name=REGION).create_secret(Name="r/teams", SecretString="https://t.invalid/x")
    schemes = resolver.resolvers()
    assert [r.scheme for r in schemes] == ["ssm", "secretsmanager"]
    assert resolve_secret("ssm:/r/slack", schemes) == HOOK
    assert resolve_secret("secretsmanager:r/teams", schemes) == "https://t.invalid/x"
    assert resolve_secret(HOOK, schemes) == HOOK  # a value is its own secret
    with pytest.raises(SecretError, match="ssm:/r/missing"):
        resolve_secret("ssm:/r/missing", schemes)
