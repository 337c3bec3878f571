"""``python -m <service> ensure_logger_token --token-file FILE``: the loggers' relay token, read from
the file the operator (a Secret) or ``kafkaml local`` wrote.

In a cluster a logger and its backend run in different pods: the token comes first, from a
Secret both pods mount, and the backend adopts it as a relay token (its SHA-256 only), which
opens the registration endpoints and their progress and nothing else (:mod:`kafkaml.services.registry.auth`).
Idempotent: the backend's init container runs it at every start; a changed file replaces the
token (rotation), the old one stops working. A staff account of the same name, which an earlier
version of this command made, loses its API token and is deactivated: a logger's credential
never again acts as a user.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.authtoken.models import Token

from kafkaml.services.registry.auth import token_digest
from kafkaml.services.registry.models import RelayToken

#: What ``openssl rand -hex 20`` writes.
TOKEN = re.compile(r"[A-Za-z0-9]{32,64}")


class Command(BaseCommand):
    help = "Adopt the loggers' relay token read from a file (idempotent; a new file rotates it)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--token-file", type=Path, required=True, help="file holding the token (a mounted Secret)")
        parser.add_argument("--username", default="control-logger", help="the relay's name")

    def handle(self, *args, token_file: Path, username: str, **options) -> None:
        key = token_file.read_text().strip()
        if not TOKEN.fullmatch(key):
            raise CommandError(f"{token_file}: the token must be 32 to 64 letters or digits "
                               f"(e.g. `openssl rand -hex 20`)")
        digest = token_digest(key.encode())
        with transaction.atomic():
            get_user_model().objects.filter(username=username, is_staff=True).update(is_active=False)
            Token.objects.filter(user__username=username).delete()
            if RelayToken.objects.filter(key_sha256=digest).exclude(name=username).exists():
                raise CommandError("that token belongs to another relay: generate a new one")
            RelayToken.objects.update_or_create(name=username, defaults={"key_sha256": digest})
        self.stdout.write(f"relay {username!r} has the token of {token_file}")
