"""The OpenAPI schema class of the Django services: drf-spectacular's, plus the error answers every
operation can give (so that a client generated from a schema knows them, and so that the fuzz
test and the backend tests' response check hold each answer to what the schema documents)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework.permissions import AllowAny

ERROR = ResolvedComponent("Error", ResolvedComponent.SCHEMA, object="Error", schema={
    "type": "object",
    "description": "Any refusal but an invalid input (401, 403, 404, 406, 409, 413, 415, 429, 503, 500).",
    "required": ["detail"],
    "properties": {"detail": {"type": "string", "description": "What went wrong, for people."}},
})
VALIDATION_ERROR = ResolvedComponent("ValidationError", ResolvedComponent.SCHEMA, object="ValidationError", schema={
    "type": "object", "additionalProperties": {},
    "description": "An invalid request (400): each invalid field's name with a list of messages (nested like the "
                   "input), `non_field_errors` or `detail` for the request as a whole, and for a model source "
                   "that does not build, `source` and `line` (the source line, or null).",
})
DESCRIPTIONS = {
    "400": "Invalid input: field-level messages; nothing was changed.",
    "401": "No valid credentials.",
    "403": "Not allowed for these credentials.",
    "404": "No such resource (or not one of yours).",
    "406": "The Accept header asks for something other than JSON.",
    "413": "The request body is larger than allowed.",
    "409": "Conflict: the resource is in use, or in a state that forbids this.",
    "415": "The request body is not JSON.",
    "429": "Too many requests: a quota of yours is used up (e.g. trainings running at once or builds in flight: the "
           "message says which limit), or too many in a short time (wait as long as Retry-After says).",
    "503": "A service the platform depends on (its database, chain, Kafka, job launcher) is not reachable or not "
           "configured.",
}


class ErrorDocumentingAutoSchema(AutoSchema):
    """drf-spectacular's schema plus the error answers of each operation: those every request can
    get before a view reads it (400 for a NUL character in any query parameter or an unreadable
    Content-Length, 406 for an Accept header that excludes JSON, 413 for a body above the limit,
    503 while the database is away: :mod:`kafkaml.services.api` and DRF's content negotiation), 401/403 where credentials are checked,
    404 where the path names a resource, 415 where it takes a body; and those a view declares for a
    method in ``error_codes`` (e.g. ``{"DELETE": ("409",)}``) — what its services raise."""

    def get_operation(self, path, path_regex, path_prefix, method, registry) -> dict[str, Any] | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        registry.register_on_missing(ERROR)
        registry.register_on_missing(VALIDATION_ERROR)
        parameters = operation.get("parameters", [])
        codes = ["400", "406", "413", "503"]  # 503: any request may find the database away
        if self.view.get_authenticators() or not all(isinstance(p, AllowAny) for p in self.view.get_permissions()):
            codes += ["401", "403"]
        if any(p["in"] == "path" for p in parameters):
            codes.append("404")
        if "requestBody" in operation:
            codes.append("415")
        codes += getattr(self.view, "error_codes", {}).get(self.method, ())
        for code in codes:
            component = VALIDATION_ERROR if code == "400" else ERROR
            operation["responses"].setdefault(code, {
                "content": {"application/json": {"schema": component.ref}}, "description": DESCRIPTIONS[code]})
        operation["responses"] = dict(sorted(operation["responses"].items()))
        return operation
