"""What the Django services (the platform backend, each client's federated backend) configure
alike, from declared environment variables only.

Every variable is a :class:`kafkaml.config.Setting` (``kafkaml config`` lists them), read and
checked once at start: a wrong value stops the service with the variable's name. Secure by
default: ``DEBUG`` off, the secret key from a file (no default: a service refuses to start
without it), hosts and CSRF origins explicit, a Content-Security-Policy on every answer, sign-in
throttled; production mode (``BACKEND_PRODUCTION``) adds Secure cookies, HSTS and trusts the
TLS proxy's X-Forwarded-Proto, and hides the API docs unless asked for. Nothing here opens a network connection, so a
service whose chain or Kafka is down still starts and reports them as down. Each service's
``settings.py`` is :func:`service_settings` plus its own few lines.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from kafkaml.config import LOCAL, ConfigError, Setting, declare, read_secret

SERVICE = declare(
    "Django services (the platform backend and each federated backend)",
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
            "the run directory (the embedded local default). DATABASE_URL_FILE may name a file holding it (a "
            "mounted Secret: the URL carries a password).", default="", secret=True),
    Setting("DATABASE_URL_FILE", "File holding DATABASE_URL (preferred in a cluster).", kind="path", default=None),
    Setting("BACKEND_STORAGE_DIR", "Root of stored files (trained models, model descriptions); a volume in a "
            "cluster. Empty: KAFKAML_RUN_DIR/platform-files.", kind="path", default=None),
    Setting("BACKEND_MAX_BODY_BYTES", "Largest request body accepted (413 beyond; job uploads included).",
            kind="int", default=8 * 1024 * 1024, minimum=1024),
    Setting("BACKEND_PRODUCTION", "Production mode: the service is reached over HTTPS through a proxy that "
            "terminates TLS and sets X-Forwarded-Proto (an ingress). Its session and CSRF cookies are Secure, "
            "HSTS is sent (one year), a request is HTTPS when the proxy says so, and the API docs are off unless "
            "BACKEND_API_DOCS.", kind="bool", default=False),
    Setting("BACKEND_API_DOCS", "Serve the OpenAPI schema and its interactive page (/api/schema/, /api/docs/, "
            "their assets from the service itself). Unset: on, except in production mode.", kind="bool",
            default=None),
    Setting("BACKEND_TRUSTED_PROXIES", "Proxies in front of the service that append the client's address to "
            "X-Forwarded-For (an ingress controller: 1). Sign-in throttling counts the address that many hops "
            "from the right; 0: the connection's own address (anything else could be forged).", kind="int",
            default=0, minimum=0, maximum=5),
    Setting("BACKEND_SIGN_IN_RATE_PER_ADDRESS", "Sign-in attempts (session and token) allowed per client address, "
            "as N/second, N/minute, N/hour or N/day; more answer 429.", default="30/minute"),
    Setting("BACKEND_RECONCILE_INTERVAL_S", "Seconds between two passes of the service's reconciler, which "
            "brings job and participation states up to date (a failed job, a freed trainer slot) without "
            "waiting for a request to read them; 0: off.", kind="float", default=5.0, minimum=0.0, maximum=3600.0),
    Setting("BACKEND_SIGN_IN_RATE_PER_USER", "Sign-in attempts (session and token) allowed per user name, as "
            "N/second, N/minute, N/hour or N/day; more answer 429.", default="10/minute"),
)
#: DRF's rate notation, checked at start (DRF reads only the number and the period's first letter).
RATE = re.compile(r"^[1-9][0-9]{0,8}/(s|sec|second|m|min|minute|h|hour|d|day)$")
#: The web UI's policy, and the API docs page's (nginx sends the same for the UI it serves:
#: docker/nginx): the page's own scripts only (no inline script, no eval), its own styles (inline
#: style attributes too: the charts and the editor set them), images of its own or data: URIs,
#: requests to its own origin only, never framed.
UI_CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                              "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
                              "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
#: Everything else under /api/ (JSON, files): nothing to load, nothing to run, never framed.
API_CONTENT_SECURITY_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
#: HSTS in production mode: a year, as browsers' preload lists expect (subdomains are not assumed).
HSTS_SECONDS = 365 * 24 * 3600


def database(url: str, default_path: Path) -> dict[str, Any]:
    """Django's DATABASES entry for ``url`` (postgresql:// or sqlite:///; empty: SQLite at ``default_path``)."""
    if not url:
        return _sqlite(default_path)
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        return _sqlite(Path(unquote(parsed.path)))
    if parsed.scheme in ("postgres", "postgresql"):
        return {"ENGINE": "django.db.backends.postgresql", "NAME": unquote(parsed.path.lstrip("/")),
                "USER": unquote(parsed.username or ""), "PASSWORD": unquote(parsed.password or ""),
                "HOST": parsed.hostname or "", "PORT": str(parsed.port or ""), "CONN_MAX_AGE": 60,
                # A kept connection is checked before a request reuses it: after the database
                # restarted, the first request gets a new connection instead of an error.
                "CONN_HEALTH_CHECKS": True}
    raise ConfigError(f"DATABASE_URL must start with postgresql:// or sqlite:///, got {parsed.scheme or url!r}://")


def _sqlite(path: Path) -> dict[str, Any]:
    """SQLite shared by the service's processes: a transaction takes the write lock when it begins
    (IMMEDIATE), so two processes' read-then-write transactions queue for it instead of one failing
    with "database is locked" when it tries to write."""
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path),
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20}}


def _database_url(values: dict[str, Any]) -> str:
    if values["DATABASE_URL_FILE"] is None:
        return values["DATABASE_URL"]
    return read_secret("DATABASE_URL", {"DATABASE_URL_FILE": str(values["DATABASE_URL_FILE"])})


def secret_key() -> str:
    try:
        return read_secret("BACKEND_SECRET_KEY")
    except ConfigError:
        raise ConfigError("BACKEND_SECRET_KEY_FILE (or BACKEND_SECRET_KEY) is required: the service does not "
                          "start with a default secret key") from None


def _rate(values: dict[str, Any], name: str) -> str:
    if not RATE.match(values[name]):
        raise ConfigError(f"{name}={values[name]!r} is not a rate: N/second, N/minute, N/hour or N/day")
    return values[name]


def production_settings(production: bool) -> dict[str, Any]:
    """What production mode changes: cookies only over HTTPS, HSTS, and the proxy's word on the scheme."""
    if not production:
        return {}
    return {"SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True, "SECURE_HSTS_SECONDS": HSTS_SECONDS,
            "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https")}


def service_settings(*, app: str, urlconf: str, wsgi: str, database_file: str, files_dir: str, title: str,
                     description: str) -> dict[str, Any]:
    """Django settings of one service: ``app`` its Django app, ``database_file`` and ``files_dir``
    the embedded defaults' names in the run directory."""
    values = SERVICE.load()
    run_dir: Path = LOCAL.load()["KAFKAML_RUN_DIR"]
    storage: Path = values["BACKEND_STORAGE_DIR"] or run_dir / files_dir
    api_docs = values["BACKEND_API_DOCS"] if values["BACKEND_API_DOCS"] is not None else not values["BACKEND_PRODUCTION"]
    return {
        **production_settings(values["BACKEND_PRODUCTION"]),
        "API_DOCS": api_docs,
        "SECRET_KEY": secret_key(),
        "DEBUG": values["BACKEND_DEBUG"],
        "ALLOWED_HOSTS": [host.strip() for host in values["BACKEND_ALLOWED_HOSTS"].split(",") if host.strip()],
        "CSRF_TRUSTED_ORIGINS": [o.strip() for o in values["BACKEND_CSRF_TRUSTED_ORIGINS"].split(",") if o.strip()],
        "DATABASES": {"default": database(_database_url(values), run_dir / database_file)},
        "STORAGE_DIR": storage,
        "RECONCILE_INTERVAL_S": values["BACKEND_RECONCILE_INTERVAL_S"],
        "MEDIA_ROOT": str(storage),
        "DATA_UPLOAD_MAX_MEMORY_SIZE": values["BACKEND_MAX_BODY_BYTES"],
        "FILE_UPLOAD_MAX_MEMORY_SIZE": values["BACKEND_MAX_BODY_BYTES"],
        "ROOT_URLCONF": urlconf,
        "WSGI_APPLICATION": wsgi,
        "INSTALLED_APPS": ["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
                           "rest_framework", "rest_framework.authtoken", "drf_spectacular", "kafkaml.services.registry", app],
        "MIDDLEWARE": [
            "kafkaml.services.api.ContentSecurityPolicy",
            "kafkaml.services.api.BodySizeLimit",
            "kafkaml.services.api.NulFreeQuery",
            "django.middleware.security.SecurityMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
        ],
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
        "USE_TZ": True,
        "TIME_ZONE": "UTC",
        "TEMPLATES": [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True, "DIRS": [],
                       "OPTIONS": {"context_processors": ["django.template.context_processors.request"]}}],
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "CSRF_COOKIE_SAMESITE": "Lax",
        "X_FRAME_OPTIONS": "DENY",
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "REST_FRAMEWORK": {
            "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication",
                                               "rest_framework.authentication.TokenAuthentication"],
            "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
            "DEFAULT_PAGINATION_CLASS": "kafkaml.services.rest.Page",
            "PAGE_SIZE": 50,
            "DEFAULT_SCHEMA_CLASS": "kafkaml.services.schema.ErrorDocumentingAutoSchema",
            "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
            "DEFAULT_PARSER_CLASSES": ["kafkaml.services.rest.StrictJSONParser"],
            "EXCEPTION_HANDLER": "kafkaml.services.api.exception_handler",
            "NUM_PROXIES": values["BACKEND_TRUSTED_PROXIES"],
            "DEFAULT_THROTTLE_RATES": {"sign_in_address": _rate(values, "BACKEND_SIGN_IN_RATE_PER_ADDRESS"),
                                       "sign_in_user": _rate(values, "BACKEND_SIGN_IN_RATE_PER_USER")},
        },
        # Sign-in throttling counts here: one directory the service's workers share (per pod: one replica).
        "CACHES": {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                               "LOCATION": str(storage / "cache")}},
        # The docs page's assets (drf-spectacular-sidecar) come from the service itself, never a CDN.
        "STATIC_URL": "/api/docs/assets/",
        "SPECTACULAR_SETTINGS": {"TITLE": title, "DESCRIPTION": description, "VERSION": "1.0.0",
                                 "COMPONENT_SPLIT_REQUEST": True, "SERVE_INCLUDE_SCHEMA": False,
                                 "SWAGGER_UI_DIST": "SIDECAR", "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
                                 "REDOC_DIST": "SIDECAR"},
        "LOGGING": {"version": 1, "disable_existing_loggers": False,
                    "handlers": {"console": {"class": "logging.StreamHandler"}},
                    "root": {"handlers": ["console"], "level": "INFO"}},
    }


#: CPython's default recursion limit, restored once a service's views are imported (below).
RECURSION_LIMIT = 1000


def wsgi_application(settings_module: str) -> Any:
    """The WSGI application of a service, its URLconf loaded now (not at the first request) and
    Python's default recursion limit restored after: ``py_ecc`` (web3's, for ``kafkaml.ledger``)
    raises the limit to 100,000 when it is imported; with it a deeply nested JSON body or control
    record made the C parser overflow a request thread's stack (SIGSEGV, the worker killed)
    instead of raising RecursionError, which the parsers turn into a 400 or a rejection. So
    ``py_ecc`` is imported here, before the limit is restored, not by whichever request first
    reaches the ledger. The process's reconciler starts here, in serving processes only
    (management commands never import this)."""
    import os
    import sys

    import py_ecc  # noqa: F401 (see above)
    from django.core.wsgi import get_wsgi_application
    from django.urls import get_resolver

    from kafkaml.services import reconciler

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    application = get_wsgi_application()
    get_resolver().url_patterns  # noqa: B018 (imports every view module now)
    sys.setrecursionlimit(RECURSION_LIMIT)
    reconciler.start()  # in each serving process (gunicorn imports this after forking)
    return application
