"""``python -m <service> ensure_logger_token --token-file FILE``: the loggers' account, with the
API token the operator put in a Secret.

In a cluster a logger and its backend run in different pods, so the local way (``ensure_admin``
writes a fresh token to a file the logger reads) does not reach the logger. Here the token comes
first, from a Secret both pods mount, and the backend adopts it: a staff user (registration needs
staff) with no usable password — the token is its only credential, and it is not the first
administrator's. Idempotent: the backend's init container runs it at every start; a changed
file replaces the token (rotation), the old one stops working.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.authtoken.models import Token

#: What ``openssl rand -hex 20`` writes; DRF keeps at most 40 characters.
TOKEN = re.compile(r"[A-Za-z0-9]{32,40}")


class Command(BaseCommand):
    help = "Create (once) the loggers' staff account and give it the API token read from a file."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--token-file", type=Path, required=True, help="file holding the token (a mounted Secret)")
        parser.add_argument("--username", default="control-logger")

    def handle(self, *args, token_file: Path, username: str, **options) -> None:
        key = token_file.read_text().strip()
        if not TOKEN.fullmatch(key):
            raise CommandError(f"{token_file}: the token must be 32 to 40 letters or digits "
                               f"(e.g. `openssl rand -hex 20`)")
        users = get_user_model()
        with transaction.atomic():
            user = users.objects.filter(username=username).first()
            if user is None:
                user = users(username=username, is_staff=True)
                user.set_unusable_password()
                user.save()
            elif not user.is_staff:
                raise CommandError(f"user {username!r} exists and is not staff: choose another --username")
            current = Token.objects.filter(user=user).first()
            if current is not None and current.key == key:
                return
            if Token.objects.filter(key=key).exclude(user=user).exists():
                raise CommandError("that token belongs to another user: generate a new one")
            Token.objects.filter(user=user).delete()
            Token.objects.create(user=user, key=key)
        self.stdout.write(f"user {username!r} has the token of {token_file}")
