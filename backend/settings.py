"""Django settings of the platform backend, from declared environment variables only.

Every variable is a :class:`kafkaml.config.Setting` (``kafkaml config`` lists them), read and
checked once at start: a wrong value stops the service with the variable's name. Secure by
default: ``DEBUG`` off, the secret key from a file (no default: the service refuses to start
without it), hosts and CSRF origins explicit. Nothing here opens a network connection, so a
backend whose chain or Kafka is down still starts and reports them as down.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from backend.config import BACKEND
from kafkaml.config import LOCAL as LOCAL_SETTINGS
from kafkaml.config import ConfigError, read_secret


def _database(url: str, run_dir: Path) -> dict:
    """Django's DATABASES entry for ``url`` (postgresql:// or sqlite:///)."""
    if not url:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(run_dir / "platform.sqlite3")}
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": unquote(parsed.path)}
    if parsed.scheme in ("postgres", "postgresql"):
        return {"ENGINE": "django.db.backends.postgresql", "NAME": unquote(parsed.path.lstrip("/")),
                "USER": unquote(parsed.username or ""), "PASSWORD": unquote(parsed.password or ""),
                "HOST": parsed.hostname or "", "PORT": str(parsed.port or ""), "CONN_MAX_AGE": 60}
    raise ConfigError(f"DATABASE_URL must start with postgresql:// or sqlite:///, got {parsed.scheme or url!r}://")


def _secret_key() -> str:
    try:
        return read_secret("BACKEND_SECRET_KEY")
    except ConfigError:
        raise ConfigError("BACKEND_SECRET_KEY_FILE (or BACKEND_SECRET_KEY) is required: the platform backend does "
                          "not start with a default secret key") from None


_values = BACKEND.load()
_run_dir: Path = LOCAL_SETTINGS.load()["KAFKAML_RUN_DIR"]

SECRET_KEY = _secret_key()
DEBUG = _values["BACKEND_DEBUG"]
ALLOWED_HOSTS = [host.strip() for host in _values["BACKEND_ALLOWED_HOSTS"].split(",") if host.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in _values["BACKEND_CSRF_TRUSTED_ORIGINS"].split(",") if o.strip()]
DATABASES = {"default": _database(_values["DATABASE_URL"], _run_dir)}
STORAGE_DIR: Path = _values["BACKEND_STORAGE_DIR"] or _run_dir / "platform-files"
MEDIA_ROOT = str(STORAGE_DIR)
DATA_UPLOAD_MAX_MEMORY_SIZE = _values["BACKEND_MAX_BODY_BYTES"]
FILE_UPLOAD_MAX_MEMORY_SIZE = _values["BACKEND_MAX_BODY_BYTES"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "backend.api",
]
MIDDLEWARE = [
    "backend.api.middleware.BodySizeLimit",
    "backend.api.middleware.NulFreeQuery",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "backend.urls"
WSGI_APPLICATION = "backend.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True, "DIRS": [],
              "OPTIONS": {"context_processors": ["django.template.context_processors.request"]}}]
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "backend.api.pagination.Page",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "backend.api.schema.PlatformAutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["backend.api.parsers.StrictJSONParser"],
    "EXCEPTION_HANDLER": "backend.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Kafka-ML Federated + Blockchain platform API",
    "DESCRIPTION": "Models, configurations, deployments of federated trainings, their results, datasources "
                   "and the platform's contracts.",
    "VERSION": "1.0.0",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_INCLUDE_SCHEMA": False,
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
}
