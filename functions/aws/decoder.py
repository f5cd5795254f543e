"""STS ``DecodeAuthorizationMessage`` as a ``shared.decode.Decoder``.

STS decodes only the messages produced in its own account, so the call is made in the account the
failure came from (through the member role when that is not the responder's own account). Every
way it can fail becomes a ``DecodeError`` whose text says why (and the pipeline notes any other
error the same way); the pipeline then adds the ``aws sts decode-authorization-message`` command
to the message and goes on.

The decoded document is privileged (it can list the policies that applied): it is returned to the
core, which keeps only the principal, action, resource and condition keys. It is never logged.
"""

from __future__ import annotations

import re

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from functions.aws.accounts import AccountAccessError, AccountClients, error_code
from shared.decode import DecodeError
from shared.models import Failure

#: The encoded message is cut when what follows it in the status message is an ellipsis.
_TRUNCATED_AFTER = re.compile(r"^\s*(\.{3}|\u2026|\[truncated\]|\(truncated\))", re.I)
#: STS error codes (DecodeAuthorizationMessage API reference) and what they mean for the reader.
_INVALID = "InvalidAuthorizationMessageException"
_NO_PERMISSION = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})


def is_truncated(failure: Failure) -> bool:
    """True when the status message shows that the encoded message was cut short."""
    token, message = failure.encoded_message, failure.message or ""
    if not token:
        return False
    end = message.find(token) + len(token)
    return end >= len(token) and bool(_TRUNCATED_AFTER.match(message[end:]))


class StsDecoder:
    """Decodes the failure's encoded authorization message in the account that produced it."""

    def __init__(self, clients: AccountClients) -> None:
        self.clients = clients

    def decode(self, failure: Failure) -> str:
        token = failure.encoded_message
        if not token:
            raise DecodeError("the status message has no encoded authorization message")
        if is_truncated(failure):
            raise DecodeError("the encoded message in the event is truncated, so STS cannot decode it; "
                              "copy the full message from the job's details in the AWS Backup console")
        account = failure.account_id or self.clients.home_account or "<account>"
        try:
            sts = self.clients.client("sts", failure.account_id, failure.region)
        except AccountAccessError as exc:
            raise DecodeError(f"STS only decodes messages in the account that produced them, and {exc}") from exc
        try:
            response = sts.decode_authorization_message(EncodedMessage=token)
        except ClientError as exc:
            code = error_code(exc)
            if code == _INVALID:
                raise DecodeError(f"STS rejected it ({_INVALID}): the message is truncated, altered or "
                                  "expired") from exc
            if code in _NO_PERMISSION:
                raise DecodeError(f"no permission to call sts:DecodeAuthorizationMessage in account {account} "
                                  f"({code})") from exc
            raise DecodeError(f"STS refused to decode it in account {account} ({code})") from exc
        except BotoCoreError as exc:
            raise DecodeError(f"STS could not be reached ({type(exc).__name__})") from exc
        except ResponseParserError as exc:  # not a BotoCoreError: an HTML page from a proxy, say
            raise DecodeError("STS's answer could not be read (ResponseParserError): a proxy or firewall "
                              "may have answered in its place") from exc
        decoded = response.get("DecodedMessage")
        if not isinstance(decoded, str) or not decoded:
            raise DecodeError("STS returned no decoded message")
        return decoded
