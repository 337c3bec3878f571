"""The platform backend's own API error (the shared ones are in :mod:`kafkaml.services.api`)."""

from __future__ import annotations

from rest_framework import status
from rest_framework.exceptions import APIException


class ModelBuildFailed(APIException):
    """The model source does not build: a 400 with the builder's message and, where known, the
    source line (an integer, for an editor to mark)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message, self.line = message, line

    def response_body(self) -> dict:
        return {"source": [self.message], "line": self.line}


class TooManyBuilds(APIException):
    """The user has as many model builds in flight as allowed (MODEL_BUILDS_PER_USER): a 429."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "too_many_builds"
