"""The API's OpenAPI 3.1 description: a route table over the pydantic models the handlers validate
requests with and shape their answers with."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

from chalicelib.api.answers import (
    AbortAnswer,
    DecisionAnswer,
    ErrorAnswer,
    LaunchDetail,
    LaunchPage,
    LaunchSummary,
    PreflightAnswer,
    RollbackAnswer,
    UnlockAnswer,
    ViewLinkAnswer,
)
from chalicelib.api.pages.approval import APPROVAL_ID
from chalicelib.api.request_input import IDEMPOTENCY_KEY_PATTERN
from chalicelib.domain.models import (
    LAUNCH_ID_PATTERN,
    AbortRequest,
    DecisionRequest,
    LaunchRequest,
    ListQuery,
    PreflightQuery,
    RollbackRequest,
    UnlockRequest,
)
from chalicelib.platform.profile_store import known_environments

_REF = "#/components/schemas/{model}"

_ERRORS = {
    400: "a field is wrong (named in `fields`)",
    401: "no credential, or one that does not verify",
    403: "the verified caller may not do this",
    404: "no such launch",
    409: "conflicts with the launch's or environment's state",
    410: "expired",
    413: "the body is too large",
    503: "the OIDC issuer's keys or STS could not be reached",
}


@dataclass(frozen=True)
class Operation:
    """One route's method: what it takes and what it answers."""

    summary: str
    status: int
    answer: type[BaseModel]
    description: str
    errors: tuple[int, ...] = ()
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    parameters: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def _path(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _routes() -> dict[str, dict[str, Operation]]:
    """Every route the API serves that answers JSON, with its operations."""
    launch_id = _path("launch_id", {"type": "string", "pattern": LAUNCH_ID_PATTERN.pattern})
    environment = _path("environment", {"enum": known_environments()})
    idempotency_key = {
        "name": "Idempotency-Key",
        "in": "header",
        "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
    }
    return {
        "/launches": {
            "post": Operation(
                "Start a launch",
                202,
                LaunchSummary,
                "started",
                (400, 409, 413),
                LaunchRequest,
                parameters=(idempotency_key,),
            ),
            "get": Operation("Launches, newest first", 200, LaunchPage, "a page", (400,), query=ListQuery),
        },
        "/launches/{launch_id}": {
            "get": Operation(
                "A launch: status, results, approvals, timeline",
                200,
                LaunchDetail,
                "the launch",
                (400, 404),
                parameters=(launch_id,),
            ),
        },
        "/launches/{launch_id}/approvals": {
            "post": Operation(
                "Decide for one role",
                200,
                DecisionAnswer,
                "recorded",
                (400, 403, 404, 409, 410, 413),
                DecisionRequest,
                parameters=(launch_id,),
            ),
        },
        "/launches/{launch_id}/abort": {
            "post": Operation(
                "Stop a launch: it ends, or rolls back what it changed",
                202,
                AbortAnswer,
                "requested",
                (400, 404, 409, 413),
                AbortRequest,
                parameters=(launch_id,),
            ),
        },
        "/launches/{launch_id}/rollback": {
            "post": Operation(
                "Roll back a launch that succeeded, within the profile's window, as its own launch",
                202,
                RollbackAnswer,
                "the rollback's own launch, started",
                (400, 404, 409, 413),
                RollbackRequest,
                parameters=(launch_id,),
            ),
        },
        "/environments/{environment}/preflight": {
            "get": Operation(
                "The checklist's checks against the environment now, without a launch",
                200,
                PreflightAnswer,
                "the report",
                (400,),
                query=PreflightQuery,
                parameters=(environment,),
            ),
        },
        "/launches/{launch_id}/view-link": {
            "get": Operation(
                "A signed, expiring link to the launch's read-only page (launchctl open)",
                200,
                ViewLinkAnswer,
                "the link",
                (400, 404),
                parameters=(launch_id,),
            ),
        },
        "/environments/{environment}/view-link": {
            "get": Operation(
                "A signed, expiring link to the environment's list of recent launches",
                200,
                ViewLinkAnswer,
                "the link",
                (400,),
                parameters=(environment,),
            ),
        },
        "/environments/{environment}/unlock": {
            "post": Operation(
                "Release a lock held after ROLLBACK_FAILED",
                200,
                UnlockAnswer,
                "unlocked",
                (400, 404, 409, 413),
                UnlockRequest,
                parameters=(environment,),
            ),
        },
    }


def _json(model: type[BaseModel]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}}}


def _operation(path: str, operation: Operation) -> dict[str, Any]:
    parameters = list(operation.parameters)
    if operation.query is not None:
        properties = operation.query.model_json_schema(ref_template=_REF)["properties"]
        parameters += [{"name": name, "in": "query", "schema": schema} for name, schema in properties.items()]
    errors = operation.errors + ((401, 403, 503) if path.startswith(SECURED_PREFIXES) else ())
    described: dict[str, Any] = {
        "summary": operation.summary,
        "parameters": parameters,
        "responses": {
            str(operation.status): {"description": operation.description, **_json(operation.answer)},
            **{str(code): {"description": _ERRORS[code], **_json(ErrorAnswer)} for code in sorted(set(errors))},
        },
    }
    if operation.body is not None:
        described["requestBody"] = {"required": True, **_json(operation.body)}
    if path.startswith(SECURED_PREFIXES):
        described["security"] = [{"githubOidc": []}, {"iamToken": []}]
    return described


def _schemas(routes: dict[str, dict[str, Operation]]) -> dict[str, Any]:
    """Each model's schema: answers as they are serialised, requests as they are validated (last, so a
    model that is both, like LaunchRequest inside a launch's detail, is described as it is accepted)."""
    schemas: dict[str, Any] = {}
    operations = [operation for methods in routes.values() for operation in methods.values()]
    answers = {operation.answer for operation in operations} | {ErrorAnswer}
    requests = {operation.body for operation in operations if operation.body is not None}
    passes: list[tuple[set[type[BaseModel]], JsonSchemaMode]] = [(answers, "serialization"), (requests, "validation")]
    for models, mode in passes:
        for model in sorted(models, key=lambda m: m.__name__):
            schema = model.model_json_schema(ref_template=_REF, mode=mode)
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
    # Only environments with a profile exist; the description says which.
    schemas["LaunchRequest"]["properties"]["environment"]["enum"] = known_environments()
    return schemas


SECURITY_SCHEMES = {
    "githubOidc": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A GitHub Actions OIDC token (issuer token.actions.githubusercontent.com, audience the "
        "controller's), authorised by the environment profile's [callers.github].",
    },
    "iamToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "aws-iam-v1",
        "description": "'aws-iam-v1.' + base64url of an sts:GetCallerIdentity URL presigned (SigV4) with the "
        "caller's AWS credentials, signing the x-launch-controller-audience header; STS names the caller, "
        "authorised by the profile's [callers].iam_principals (approvers: by name).",
    },
}

# Everything under these needs a verified caller; the approval page has its signed link, /openapi.json is public.
SECURED_PREFIXES = ("/launches", "/environments")


_HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}


def _approval_page() -> dict[str, Any]:
    approval_id = _path("approval_id", {"type": "string", "pattern": f"^{APPROVAL_ID.pattern}$"})
    pages = {code: {"description": text, **_HTML} for code, text in _PAGE_ANSWERS.items()}
    return {
        "get": {
            "summary": "The page an emailed approval link opens; changes nothing",
            "parameters": [
                approval_id,
                {"name": "token", "in": "query", "schema": {"type": "string", "maxLength": 512}},
            ],
            "responses": pages,
        },
        "post": {
            "summary": "The page's form: approve or reject",
            "parameters": [approval_id],
            "requestBody": {
                "required": True,
                "content": {"application/x-www-form-urlencoded": {"schema": APPROVAL_FORM}},
            },
            "responses": {**pages, "415": {"description": "not a form", **_HTML}},
        },
    }


_VIEW_ANSWERS = {
    "200": "the page",
    "400": "not a link we issue",
    "403": "forged or altered",
    "404": "no such launch",
    "410": "expired",
}


def _view_page(parameter: dict[str, Any], summary: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary + "; changes nothing",
            "parameters": [
                parameter,
                {"name": "token", "in": "query", "schema": {"type": "string", "maxLength": 256}},
            ],
            "responses": {code: {"description": text, **_HTML} for code, text in _VIEW_ANSWERS.items()},
        }
    }


@cache
def document() -> dict[str, Any]:
    """The whole description; `/openapi.json` serves it and a test keeps it true to the routes."""
    routes = _routes()
    paths: dict[str, Any] = {
        path: {method: _operation(path, operation) for method, operation in methods.items()}
        for path, methods in routes.items()
    }
    paths["/approve/{approval_id}"] = _approval_page()
    launch_id = _path("launch_id", {"type": "string", "pattern": LAUNCH_ID_PATTERN.pattern})
    environment = _path("environment", {"enum": known_environments()})
    paths["/view/launches/{launch_id}"] = _view_page(launch_id, "The launch's read-only page (its view link)")
    paths["/view/environments/{environment}"] = _view_page(
        environment, "An environment's recent launches, opened by its view link"
    )
    paths["/openapi.json"] = {
        "get": {
            "summary": "This description",
            "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Launch controller",
            "version": "1",
            "description": "Runs the Production Launch Checklist as one durable execution per launch.",
        },
        "paths": paths,
        "components": {"securitySchemes": SECURITY_SCHEMES, "schemas": _schemas(routes)},
    }


# The page's form, as the browser posts it; anything beyond it is refused (400) before it is read.
APPROVAL_FORM = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "token": {"type": "string", "description": "the link's signed token"},
        "form_token": {"type": "string", "description": "bound to the page's cookie"},
        "decision": {"enum": ["approve", "reject"]},
        "comment": {"type": "string", "maxLength": 2000},
        "attest": {"type": "array", "items": {"type": "string"}, "maxItems": 20},
    },
}

_PAGE_ANSWERS = {
    "200": "the page, or the decision's result",
    "400": "the form lacks something",
    "403": "forged, altered, someone else's link, or a form from elsewhere",
    "404": "unknown link",
    "409": "already used, or the launch no longer waits",
    "410": "expired",
    "413": "the form is too large",
}
