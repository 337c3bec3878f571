"""The WSGI application gunicorn serves (``gunicorn federated_backend.wsgi``); see
:func:`kafkaml.services.settings.wsgi_application`."""

from __future__ import annotations

from kafkaml.services.settings import wsgi_application

application = wsgi_application("federated_backend.settings")
