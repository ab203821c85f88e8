"""The API schema's shared parts: the one error body, the error answers every operation can
give, and the links between operations (drf-spectacular).

Every error answer of the API is `podium.errors.api_exception_handler`'s body, so the schema
documents it once, as the component `Error`, and every error response refers to it. The
statuses any operation can answer follow from how the API works and are added here by a
postprocessing hook, so a view declares only what is its own (a 409 of its service, a 403 of
its rule); see `document_error_responses`.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions

ERROR_COMPONENT = "Error"
ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}

ERROR_DESCRIPTIONS = {
    400: "The request is invalid; nothing was stored. A serializer's field refusals answer "
    "`{field: [messages]}`.",
    401: "No valid credentials: a token that is unknown, revoked or malformed.",
    403: "Not allowed: not joined, outside the window, not the owner's, or a session request "
    "without its CSRF token.",
    404: "No such object (or not visible to you), or no such page.",
    409: "The object's state does not allow this now.",
    413: "The body is larger than the limit, which the detail names.",
    429: "Too many requests or entries; `Retry-After` says when to try again.",
}


PROBLEM_SCHEMA = {
    "type": "object",
    "description": "One problem with an input (`common.problems.Problem`): where, and what.",
    "properties": {
        "message": {"type": "string"},
        "file": {"type": "string", "nullable": True},
        "row": {"type": "integer", "nullable": True},
        "column": {"type": "string", "nullable": True},
        "id": {"type": "string", "nullable": True},
        "path": {"type": "string", "nullable": True},
    },
    "required": ["message"],
}

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error answer of the API (`podium.errors`): a detail a person can act on, an "
    "optional machine-readable code, the problems found (the first 20) and their total. Some errors "
    "add keys of their own (a limit's counters); a serializer's field refusals answer "
    "`{field: [messages]}` instead of a detail.",
    "properties": {
        "detail": {"type": "string"},
        "code": {
            "description": "A machine-readable reason; a list when it is the refusals of an input "
            "field named `code`.",
            "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        },
        "problems": {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}},
        "total": {"type": "integer"},
    },
    "additionalProperties": True,
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The error answers a view adds to its responses for what only it can refuse."""
    return {
        status: OpenApiResponse(response=ERROR_REF, description=ERROR_DESCRIPTIONS[status])
        for status in statuses
    }


def _views_by_operation(generator) -> dict[tuple[str, str], type]:
    return {
        (path, method.lower()): callback.cls for path, _regex, method, callback in generator.endpoints or []
    }


def _only_public_reads(view) -> bool:
    classes = getattr(view, "permission_classes", ())
    return all(c in (permissions.AllowAny, permissions.IsAuthenticatedOrReadOnly) for c in classes)


def _common_statuses(path: str, method: str, operation: dict, view) -> set[int]:
    """What any operation of this form can answer, whatever its view does:
    - 401: a request may carry an unknown or revoked token (every operation reads it);
    - 429: the throttles apply to every operation;
    - 400 and 413: an operation that reads input (a body, query parameters) can refuse it,
      and a body can be too large;
    - 404: an object named in the path may not exist, and a list's page may not;
    - 403: writes with a session need the CSRF token, and views with a permission rule refuse."""
    found = {401, 429}
    params = operation.get("parameters", [])
    has_body = "requestBody" in operation
    if has_body or any(p.get("in") == "query" for p in params):
        found.add(400)
    if has_body:
        found.add(413)
    if any(p.get("in") == "path" for p in params) or any(p.get("name") == "page" for p in params):
        found.add(404)
    if method not in ("get", "head", "options") or (view is not None and not _only_public_reads(view)):
        found.add(403)
    return found


def document_error_responses(result, generator, request, public):
    """POSTPROCESSING_HOOKS: the `Error` component, and the error answers every operation can
    give, each referring to it (a view's own declarations are kept)."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas[ERROR_COMPONENT] = ERROR_SCHEMA
    schemas["Problem"] = PROBLEM_SCHEMA
    views = _views_by_operation(generator)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in sorted(_common_statuses(path, method, operation, views.get((path, method)))):
                responses.setdefault(str(status), _error_response(status))
            if _answers_csv_on_request(operation):
                # `?format=csv` renders an error's detail as text, as it renders the board.
                for status, response in responses.items():
                    if status >= "400" and "content" in response:
                        response["content"]["text/csv"] = {"schema": {"type": "string"}}
            if "429" in responses:
                responses["429"].setdefault("headers", {})["Retry-After"] = {
                    "schema": {"type": "integer"},
                    "description": "Seconds to wait before trying again.",
                }
    _add_links(result)
    return result


def _answers_csv_on_request(operation: dict) -> bool:
    return any(
        p.get("name") == "format" and "csv" in p.get("schema", {}).get("enum", [])
        for p in operation.get("parameters", [])
    )


def _error_response(status: int) -> dict:
    return {"content": {"application/json": {"schema": ERROR_REF}}, "description": ERROR_DESCRIPTIONS[status]}


# --- links: what an answer lets a client do next (OpenAPI links; schemathesis follows them) ----

_LINKS = {
    ("/api/tokens/", "post", "201"): {
        "RevokeToken": ("/api/tokens/{token_id}/", "delete", {"token_id": "$response.body#/id"}),
    },
    ("/api/competitions/{slug}/submissions/", "post", "201"): {
        "GetSubmission": (
            "/api/submissions/{submission_id}/",
            "get",
            {"submission_id": "$response.body#/id"},
        ),
        "CancelSubmission": (
            "/api/submissions/{submission_id}/cancel/",
            "post",
            {"submission_id": "$response.body#/id"},
        ),
        "PickSubmission": (
            "/api/submissions/{submission_id}/final-pick/",
            "post",
            {"submission_id": "$response.body#/id"},
        ),
        "GetSubmissionPredictions": (
            "/api/submissions/{submission_id}/predictions/",
            "get",
            {"submission_id": "$response.body#/id"},
        ),
    },
    ("/api/competitions/{slug}/join/", "post", "200"): {
        "ListSubmissions": ("/api/competitions/{slug}/submissions/", "get", {"slug": "$response.body#/slug"}),
        "GetLimits": (
            "/api/competitions/{slug}/submissions/limits/",
            "get",
            {"slug": "$response.body#/slug"},
        ),
        "GetData": ("/api/competitions/{slug}/data/", "get", {"slug": "$response.body#/slug"}),
        "GetBoard": ("/api/competitions/{slug}/leaderboard/", "get", {"slug": "$response.body#/slug"}),
        "ListTeams": ("/api/competitions/{slug}/teams/", "get", {"slug": "$response.body#/slug"}),
    },
}


def _add_links(result: dict) -> None:
    paths = result.get("paths", {})
    ids = {
        (path, method): operation.get("operationId")
        for path, operations in paths.items()
        for method, operation in operations.items()
    }
    for (path, method, status), links in _LINKS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        for name, (target, target_method, parameters) in links.items():
            if (target, target_method) in ids:
                response.setdefault("links", {})[name] = {
                    "operationId": ids[target, target_method],
                    "parameters": parameters,
                }
