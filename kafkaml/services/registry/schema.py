"""OpenAPI descriptions drf-spectacular cannot infer: the relay-token scheme."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class RelayTokenScheme(OpenApiAuthenticationExtension):
    target_class = "kafkaml.services.registry.auth.RelayTokenAuthentication"
    name = "relayToken"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Relay <token>`: a logger's token; it registers control records and reads their "
                               "progress, nothing else."}
