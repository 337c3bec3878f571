"""OpenAPI descriptions drf-spectacular cannot infer: the job-token scheme."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class JobTokenScheme(OpenApiAuthenticationExtension):
    target_class = "backend.api.auth.JobTokenAuthentication"
    name = "jobToken"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Job <token>`: a training job's own token: the aggregator's reports its result, an "
                               "audit's posts that audit's verdict, an inference worker's downloads the model it "
                               "serves."}
