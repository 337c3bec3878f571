"""``python -m backend ensure_admin --credentials FILE``: the first administrator, once.

Local mode needs a user to sign in with: the first run creates ``admin`` with a random password
and an API token and writes both to FILE (mode 0600, like the key files beside it); later runs
find the user and keep the file. The password is never printed or logged.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Create the first administrator (once) and write its credentials and API token to a 0600 file."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--credentials", type=Path, required=True)
        parser.add_argument("--username", default="admin")

    def handle(self, *args, credentials: Path, username: str, **options) -> None:
        users = get_user_model()
        user = users.objects.filter(username=username).first()
        if user is not None and credentials.exists():
            return
        password = secrets.token_urlsafe(18)
        if user is None:
            user = users.objects.create_superuser(username=username, password=password, email="")
        else:  # the file was lost: a new password, so that it is known again
            user.set_password(password)
            user.save()
        token, _ = Token.objects.get_or_create(user=user)
        _write_private(credentials, json.dumps({"username": username, "password": password, "token": token.key}))
        self.stdout.write(f"administrator {username!r} ready; credentials in {credentials}")


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
