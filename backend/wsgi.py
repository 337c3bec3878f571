"""The WSGI application gunicorn serves (``gunicorn backend.wsgi``); see
:func:`kafkaml.services.settings.wsgi_application`. Each API process also runs its share of the
model builds (:mod:`backend.api.services.builds`), started here: only serving processes build."""

from __future__ import annotations

from kafkaml.services.settings import wsgi_application

application = wsgi_application("backend.settings")

from backend.api.services import builds  # noqa: E402 (needs the application's Django set up)

builds.start()
