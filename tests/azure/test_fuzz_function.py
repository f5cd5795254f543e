"""Property: whatever an action group (or anyone holding the function key) POSTs, real fixtures
mutated by ``tests.support.fuzz`` (bytes that are not UTF-8, nesting 100,000 levels deep, lone
surrogates, duplicate keys, wrong types, NaN, huge text, cut short), the HTTP function answers
200 or a 400 whose JSON body gives a bounded reason, with a valid Secure Webhook token and the
real Table storage (Azurite). Never an exception (the host would answer 500, which action groups
do not retry) and never a 503: that asks for a retry, which is only for transient failures."""

from __future__ import annotations

import functools
import json

from hypothesis import given

from functions.azure import blueprint
from functions.azure.auth import SecureWebhookConfig, SecureWebhookValidator
from functions.azure.endpoint import AlertEndpoint
from functions.azure.state import TableStore
from shared.notify.message import Message
from shared.notify.notice import Notice
from shared.pipeline import Pipeline
from shared.responder import Responder
from shared.sinks.local.transport import ConsoleSink
from tests.azure.conftest import AUDIENCE_URI, TENANT, Tenant, backup_alert_function, http_request
from tests.support.azurite import Azurite
from tests.support.fuzz import FUZZ_SETTINGS, Mutant, error_problems, mutants, verdict


@functools.cache
def validator(jwks_url: str) -> SecureWebhookValidator:
    """One validator for the test's tenant (it caches the signing keys, as in the function)."""
    return SecureWebhookValidator(SecureWebhookConfig(TENANT, (AUDIENCE_URI,), jwks_url=jwks_url))


class Discard(ConsoleSink):
    """A sink that accepts every message and keeps none."""

    name = "discard"

    def write(self, notice: Notice, message: Message, payloads: object = None) -> str:
        return "discarded"


@FUZZ_SETTINGS
@given(mutant=mutants(documents=True))
def test_the_function_answers_200_or_a_clear_400(azurite: Azurite, tenant: Tenant, mutant: Mutant) -> None:
    store = TableStore(azurite.table())  # a fresh table: each example is a new alert, not a duplicate
    blueprint.use_endpoint(AlertEndpoint(Responder(Pipeline(), [Discard()], store), store, validator(tenant.jwks_url)))
    try:
        with verdict("azure function", mutant) as problems:
            response = backup_alert_function()(http_request(
                mutant.document(), {"Authorization": f"Bearer {tenant.token()}"}))
            status, body = response.status_code, response.get_body()
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
                problems.append(f"a {status} body that is not JSON: {body[:80]!r}")
            if status == 400 and isinstance(payload, dict):
                problems += error_problems(payload.get("error"))
            elif status != 200:
                problems.append(f"status {status}: {body[:120]!r}")
    finally:
        blueprint.use_endpoint(None)
