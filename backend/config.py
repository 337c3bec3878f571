"""The platform backend's own settings, declared apart from Django's settings module so that
``kafkaml config`` can list them without starting Django (which needs the secret key)."""

from __future__ import annotations

from kafkaml.config import Setting, declare

BACKEND = declare(
    "Platform backend",
    Setting("BACKEND_SECRET_KEY_FILE", "File holding Django's secret key (a mounted Secret); BACKEND_SECRET_KEY "
            "may hold the key itself in local runs. Required: the service does not start without it.",
            kind="path", default=None),
    Setting("BACKEND_SECRET_KEY", "Django's secret key itself (local runs only; prefer the _FILE form).",
            default="", secret=True),
    Setting("BACKEND_DEBUG", "Django debug mode: tracebacks in responses. Never in production.", kind="bool",
            default=False),
    Setting("BACKEND_ALLOWED_HOSTS", "Comma-separated host names the backend answers to.",
            default="localhost,127.0.0.1"),
    Setting("BACKEND_CSRF_TRUSTED_ORIGINS", "Comma-separated origins (scheme://host[:port]) allowed to send "
            "session-authenticated writes, e.g. the UI's public URL.", default=""),
    Setting("DATABASE_URL", "postgresql://user:password@host:port/name, or sqlite:///path; empty: SQLite in "
            "KAFKAML_RUN_DIR/platform.sqlite3 (the embedded local default).", default=""),
    Setting("BACKEND_STORAGE_DIR", "Root of stored files (trained models, model descriptions); a volume in a "
            "cluster. Empty: KAFKAML_RUN_DIR/platform-files.", kind="path", default=None),
    Setting("BACKEND_MAX_BODY_BYTES", "Largest request body accepted (413 beyond; job uploads included).",
            kind="int", default=8 * 1024 * 1024, minimum=1024),
)
