"""The pipeline every entry point wires: parse, enrich, decode, classify, plan, deliver.

Enrichment and decoding are optional and never fatal: what fails is noted in the message. Routing
and delivery are ``shared.responder``'s.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from msgspec import Struct, field

from shared.classify import Classifier
from shared.decode import DecodeError, Decoder, apply_decoded, decode_command, parse_decoded
from shared.models import Failure, Outcome
from shared.parse import EventError, parse_event
from shared.plan import plan_for
from shared.redact import error_text

log = logging.getLogger("backup_responder")
#: The longest reason an unexpected decode error puts into the message.
DECODE_REASON_CHARS = 300


class Enricher(Protocol):
    """Adds what the event lacks (job details, the vault's identity) from the provider's API."""

    name: str

    def enrich(self, failure: Failure) -> Failure: ...


class Delivery(Struct):
    sink: str
    ok: bool
    detail: str
    retryable: bool = False


class Pipeline(Struct):
    classifier: Classifier = field(default_factory=Classifier)
    enrichers: Sequence[Enricher] = ()
    decoder: Decoder | None = None
    language: str = "en"

    def parse(self, raw: Any, checked: bool = False) -> Failure:
        """``raw`` as a failure (``checked``: it was read by ``shared.untrusted.read_plain``); an
        event of a cloud whose rules the catalog does not hold is refused, not left unclassified."""
        catalog = self.classifier.catalog
        failure = parse_event(raw, catalog.codes, catalog.aws_codes, checked=checked)
        if failure.cloud not in catalog.clouds:
            raise EventError(f"an {failure.cloud} event: this responder handles {' and '.join(catalog.clouds)} "
                             "failures only")
        return failure

    def enrich(self, failure: Failure) -> Failure:
        for enricher in self.enrichers:
            try:
                failure = enricher.enrich(failure)
            except Exception as exc:  # an enricher is optional: note it and go on
                log.warning("enrichment %s failed: %s", enricher.name, error_text(exc))
                failure = failure.model_copy(update={"notes": [
                    *failure.notes, f"Could not {enricher.name}: {error_text(exc)}"]})
        if failure.encoded_message and failure.decoded is None and self.decoder is not None:
            failure = self.decode(failure, self.decoder)
        return failure

    @staticmethod
    def decode(failure: Failure, decoder: Decoder) -> Failure:
        """The failure with its decoded authorization message; whatever goes wrong (STS refuses,
        a proxy answers in its place, the decoder has a bug), the alert goes on without the
        decode and its message says why and how to decode it by hand."""
        try:
            return apply_decoded(failure, parse_decoded(decoder.decode(failure)))
        except (DecodeError, ValueError) as exc:
            why = str(exc)
        except Exception as exc:  # never lose the alert over its decode
            log.warning("decoding the authorization message failed unexpectedly: %s", error_text(exc))
            why = f"unexpected {error_text(exc)}"[:DECODE_REASON_CHARS]
        note = (f"The authorization message could not be decoded ({why}). Decode it yourself "
                f"in account {failure.account_id or '<account>'}: " + decode_command(failure.encoded_message))
        return failure.model_copy(update={"notes": [*failure.notes, note]})

    def classify(self, failure: Failure) -> Outcome:
        """The classification only, without the plan (what ``backup-responder classify`` prints)."""
        return Outcome(failure=failure, finding=self.classifier.classify(failure))

    def assess(self, failure: Failure) -> Outcome:
        finding = self.classifier.classify(failure)
        plan = plan_for(failure, finding, self.classifier.catalog, self.language)
        return Outcome(failure=failure, finding=finding, plan=plan)

    def process(self, raw: Any) -> Outcome:
        """Parse, enrich and assess one event (raises ``EventError`` for bad input)."""
        return self.assess(self.enrich(self.parse(raw)))
