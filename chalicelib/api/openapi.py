"""The API's OpenAPI 3.1 description: a route table over the pydantic models the handlers validate
requests with and shape their answers with."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

from chalicelib.api.answers import (
    ErrorAnswer,
)
from chalicelib.api.pages.approval import APPROVAL_ID
from chalicelib.api.request_input import IDEMPOTENCY_KEY_PATTERN
from chalicelib.domain.models import (
    LAUNCH_ID_PATTERN,
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


def _path_parameters(path: str) -> list[dict[str, Any]]:
    """Each `{name}` of a route's path, described by what the route accepts for it."""
    schemas: dict[str, Callable[[], dict[str, Any]]] = {
        "launch_id": lambda: {"type": "string", "pattern": LAUNCH_ID_PATTERN.pattern},
        "environment": lambda: {"enum": known_environments()},
        "approval_id": lambda: {"type": "string", "pattern": f"^{APPROVAL_ID.pattern}$"},
    }
    return [_path(name, schemas[name]()) for name in re.findall(r"{(\w+)}", path)]


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
}

View = TypeVar("View", bound=Callable[..., Any])


def described(operation: Operation | Callable[[str], dict[str, Any]]) -> Callable[[View], View]:
    """Declares what a route takes and answers, beside the route: /openapi.json is made from the routes
    themselves (a JSON route's Operation, or a page's own description made for its path)."""

    def declare(view: View) -> View:
        view.openapi = operation  # type: ignore[attr-defined]
        return view

    return declare


class Undescribed(Exception):
    """A route without its description: every route the API serves is described."""


def _json(model: type[BaseModel]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}}}


def _operation(path: str, operation: Operation) -> dict[str, Any]:
    parameters = [*_path_parameters(path), *operation.parameters]
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


def _schemas(operations: list[Operation]) -> dict[str, Any]:
    """Each model's schema: answers as they are serialised, requests as they are validated (last, so a
    model that is both, like LaunchRequest inside a launch's detail, is described as it is accepted)."""
    schemas: dict[str, Any] = {}
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


def approval_page(path: str) -> dict[str, Any]:
    return {
        "summary": "The page an emailed approval link opens; changes nothing",
        "parameters": [
            *_path_parameters(path),
            {"name": "token", "in": "query", "schema": {"type": "string", "maxLength": 512}},
        ],
        "responses": _page_answers(),
    }


def approval_form(path: str) -> dict[str, Any]:
    return {
        "summary": "The page's form: approve or reject",
        "parameters": _path_parameters(path),
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": APPROVAL_FORM}},
        },
        "responses": {**_page_answers(), "415": {"description": "not a form", **_HTML}},
    }


def _page_answers() -> dict[str, Any]:
    return {code: {"description": text, **_HTML} for code, text in _PAGE_ANSWERS.items()}


_VIEW_ANSWERS = {
    "200": "the page",
    "400": "not a link we issue",
    "403": "forged or altered",
    "404": "no such launch",
    "410": "expired",
}


def view_page(summary: str) -> Callable[[str], dict[str, Any]]:
    def describe(path: str) -> dict[str, Any]:
        return {
            "summary": summary + "; changes nothing",
            "parameters": [
                *_path_parameters(path),
                {"name": "token", "in": "query", "schema": {"type": "string", "maxLength": 256}},
            ],
            "responses": {code: {"description": text, **_HTML} for code, text in _VIEW_ANSWERS.items()},
        }

    return describe


def this_description(path: str) -> dict[str, Any]:
    return {
        "summary": "This description",
        "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
    }


def document(routes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The whole description, made from the app's routes (`app.routes`: each path's methods and their
    views); `/openapi.json` serves it."""
    paths: dict[str, Any] = {}
    operations: list[Operation] = []
    for path, methods in sorted(routes.items()):
        for method, entry in sorted(methods.items()):
            declared = getattr(entry.view_function, "openapi", None)
            if declared is None:
                raise Undescribed(f"{method} {path} has no description: declare it with @described")
            if isinstance(declared, Operation):
                operations.append(declared)
                paths.setdefault(path, {})[method.lower()] = _operation(path, declared)
            else:
                paths.setdefault(path, {})[method.lower()] = declared(path)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Launch controller",
            "version": "1",
            "description": "Runs the Production Launch Checklist as one durable execution per launch.",
        },
        "paths": paths,
        "components": {"securitySchemes": SECURITY_SCHEMES, "schemas": _schemas(operations)},
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
