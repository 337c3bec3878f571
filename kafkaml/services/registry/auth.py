"""Relay tokens: the loggers' credential, good for registering control records and nothing else.

A logger holds the token the operator put in a Secret; the backend keeps only its SHA-256
(``RelayToken``, adopted by ``ensure_logger_token``). ``Authorization: Relay <token>`` is
accepted only by the registration endpoints and their progress (``RelayTokenAuthentication`` +
``IsRelay``); every other endpoint authenticates people (session or ``Token``) and so refuses
it, as the registration endpoints refuse a person's token. The scheme sends no challenge, so a
refusal is a 403, as for the other credentials a view does not take.
"""

from __future__ import annotations

import hashlib

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission

from kafkaml.services.registry.models import RelayToken

SCHEME = b"relay"
MAX_TOKEN_BYTES = 200


def token_digest(token: bytes) -> str:
    return hashlib.sha256(token).hexdigest()


def presented_token(request, scheme: bytes) -> bytes | None:
    """The token of ``Authorization: <scheme> <token>`` (None when another scheme is used); a
    malformed or oversized one is refused before anything looks it up."""
    parts = get_authorization_header(request).split()
    if not parts or parts[0].lower() != scheme:
        return None
    if len(parts) != 2 or len(parts[1]) > MAX_TOKEN_BYTES:
        raise AuthenticationFailed(f"Authorization: {scheme.decode().capitalize()} <token> expected")
    return parts[1]


class RelayIdentity:
    """The authenticated party of a relay's request (not a user: it owns nothing, sees nothing)."""

    is_authenticated = True
    is_staff = False

    def __init__(self, relay: RelayToken) -> None:
        self.relay = relay


class RelayTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        token = presented_token(request, SCHEME)
        if token is None:
            return None
        relay = RelayToken.objects.filter(key_sha256=token_digest(token)).first()
        if relay is None:
            raise AuthenticationFailed("this relay token is not valid here")
        return RelayIdentity(relay), None


class IsRelay(BasePermission):
    """Only a relay (a registration endpoint or its progress)."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, RelayIdentity)


class RelayOnly:
    """A view only relays may call (mixed in before ``APIView``)."""

    authentication_classes = [RelayTokenAuthentication]
    permission_classes = [IsRelay]
