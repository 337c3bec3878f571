"""The WSGI application gunicorn serves (``gunicorn federated_backend.wsgi``); see
:func:`kafkaml.django_service.wsgi_application`."""

from __future__ import annotations

from kafkaml.django_service import wsgi_application

application = wsgi_application("federated_backend.settings")
