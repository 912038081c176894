"""The API's OpenAPI 3.1 description, built from the same pydantic models the handlers validate with."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel

from chalicelib.approval_page import APPROVAL_ID
from chalicelib.models import (
    LAUNCH_ID_PATTERN,
    AbortRequest,
    Approval,
    Caller,
    DecisionRequest,
    LaunchRequest,
    LaunchStatus,
    ListQuery,
    PreflightQuery,
    RollbackRequest,
    Stage,
    TimelineEvent,
    UnlockRequest,
)
from chalicelib.profiles import known_environments

_REF = "#/components/schemas/{model}"
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]{1,255}$"  # visible ASCII, as a header carries it

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "stable, for scripts"},
                "message": {"type": "string"},
                "fields": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["field", "reason"],
                        "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
                    },
                },
            },
        }
    },
}

SUMMARY = {
    "type": "object",
    "required": ["launch_id", "environment", "version", "status", "created_at", "updated_at"],
    "properties": {
        "launch_id": {"type": "string"},
        "environment": {"type": "string"},
        "version": {"type": "string"},
        "status": {"enum": [str(s) for s in LaunchStatus]},
        "stage": {"anyOf": [{"enum": [str(s) for s in Stage]}, {"type": "null"}]},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}


def _schema(models: list[type[BaseModel]]) -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": ERROR, "LaunchSummary": SUMMARY}
    for model in models:
        schema = model.model_json_schema(ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    schemas["LaunchPage"] = {
        "type": "object",
        "required": ["launches", "next_cursor"],
        "properties": {
            "launches": {"type": "array", "items": {"$ref": _REF.format(model="LaunchSummary")}},
            "next_cursor": {"type": ["string", "null"]},
        },
    }
    schemas["PreflightReport"] = {
        "type": "object",
        "required": ["environment", "checks", "passed", "summary"],
        "properties": {
            "environment": {"type": "string"},
            "passed": {"type": "boolean"},
            "summary": {"type": "string"},
            "checks": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "title", "section", "severity", "result", "resource", "evidence"],
                    "properties": {
                        "id": {"type": "string"},
                        "title": {"type": "string"},
                        "section": {"type": "string"},
                        "severity": {"enum": ["blocking", "warning"]},
                        "result": {"enum": ["pass", "fail", "warn", "skipped"]},
                        "resource": {"type": "string"},
                        "evidence": {"type": "object"},
                    },
                },
            },
        },
    }
    schemas["LaunchDetail"] = {
        "type": "object",
        "required": ["launch_id", "request", "status", "timeline", "approvals", "approval_requests"],
        "properties": {
            "launch_id": {"type": "string"},
            "request": {"$ref": _REF.format(model="LaunchRequest")},
            "status": {"enum": [str(s) for s in LaunchStatus]},
            "requested_by": {"type": "string", "description": "the verified caller's name"},
            "caller": {"anyOf": [{"$ref": _REF.format(model="Caller")}, {"type": "null"}]},
            "approvals": {"type": "array", "items": {"$ref": _REF.format(model="Approval")}},
            "approval_requests": {"type": "array", "items": {"type": "object"}},
            "timeline": {"type": "array", "items": {"$ref": _REF.format(model="TimelineEvent")}},
        },
    }
    # Only environments with a profile exist; the description says which.
    environments = known_environments()
    schemas["LaunchRequest"]["properties"]["environment"]["enum"] = environments
    return schemas


def _json(ref: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": _REF.format(model=ref)}}}}


def _errors(*codes: int) -> dict[str, Any]:
    reasons = {
        400: "a field is wrong (named in `fields`)",
        401: "no credential, or one that does not verify",
        403: "the verified caller may not do this",
        404: "no such launch",
        409: "conflicts with the launch's or environment's state",
        410: "expired",
        413: "the body is too large",
        503: "the OIDC issuer's keys or STS could not be reached",
    }
    return {str(code): {"description": reasons[code], **_json("Error")} for code in codes}


def _body(model: str) -> dict[str, Any]:
    return {"required": True, **_json(model)}


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "maxLength": 80}}


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


def _secure(paths: dict[str, Any]) -> dict[str, Any]:
    """Put both credentials, and the answers to a bad one, on every operation that needs a caller."""
    for path, operations in paths.items():
        if path.startswith(SECURED_PREFIXES):
            for operation in operations.values():
                operation["security"] = [{"githubOidc": []}, {"iamToken": []}]
                operation["responses"].update(_errors(401, 403, 503))
    return paths


_HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}


@cache
def document() -> dict[str, Any]:
    """The whole description; `/openapi.json` serves it and a test keeps it true to the routes."""
    launch_id = _path("launch_id") | {"schema": {"type": "string", "pattern": LAUNCH_ID_PATTERN.pattern}}
    approval_id = _path("approval_id") | {"schema": {"type": "string", "pattern": f"^{APPROVAL_ID.pattern}$"}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Launch controller",
            "version": "1",
            "description": "Runs the Production Launch Checklist as one durable execution per launch.",
        },
        "paths": _secure(
            {
                "/launches": {
                    "post": {
                        "summary": "Start a launch",
                        "parameters": [
                            {
                                "name": "Idempotency-Key",
                                "in": "header",
                                "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
                            }
                        ],
                        "requestBody": _body("LaunchRequest"),
                        "responses": {
                            "202": {"description": "started", **_json("LaunchSummary")},
                            **_errors(400, 409, 413),
                        },
                    },
                    "get": {
                        "summary": "Launches, newest first",
                        "parameters": [
                            {"name": name, "in": "query", "schema": prop}
                            for name, prop in ListQuery.model_json_schema(ref_template=_REF)["properties"].items()
                        ],
                        "responses": {"200": {"description": "a page", **_json("LaunchPage")}, **_errors(400)},
                    },
                },
                "/launches/{launch_id}": {
                    "get": {
                        "summary": "A launch: status, results, approvals, timeline",
                        "parameters": [launch_id],
                        "responses": {
                            "200": {"description": "the launch", **_json("LaunchDetail")},
                            **_errors(400, 404),
                        },
                    }
                },
                "/launches/{launch_id}/approvals": {
                    "post": {
                        "summary": "Decide for one role",
                        "parameters": [launch_id],
                        "requestBody": _body("DecisionRequest"),
                        "responses": {
                            "200": {
                                "description": "recorded",
                                "content": {"application/json": {"schema": {"type": "object"}}},
                            },
                            **_errors(400, 403, 404, 409, 410, 413),
                        },
                    }
                },
                "/launches/{launch_id}/abort": {
                    "post": {
                        "summary": "Stop a launch: it ends, or rolls back what it changed",
                        "parameters": [launch_id],
                        "requestBody": _body("AbortRequest"),
                        "responses": {
                            "202": {"description": "requested", **_json("LaunchSummary")},
                            **_errors(400, 404, 409, 413),
                        },
                    }
                },
                "/launches/{launch_id}/rollback": {
                    "post": {
                        "summary": "Roll back a launch that succeeded, within the profile's window, as its own launch",
                        "parameters": [launch_id],
                        "requestBody": _body("RollbackRequest"),
                        "responses": {
                            "202": {"description": "the rollback's own launch, started", **_json("LaunchSummary")},
                            **_errors(400, 404, 409, 413),
                        },
                    }
                },
                "/environments/{environment}/preflight": {
                    "get": {
                        "summary": "The checklist's checks against the environment now, without a launch",
                        "parameters": [
                            {**_path("environment"), "schema": {"enum": known_environments()}},
                            *[
                                {"name": name, "in": "query", "schema": prop}
                                for name, prop in PreflightQuery.model_json_schema(ref_template=_REF)[
                                    "properties"
                                ].items()
                            ],
                        ],
                        "responses": {
                            "200": {"description": "the report", **_json("PreflightReport")},
                            **_errors(400),
                        },
                    }
                },
                "/environments/{environment}/unlock": {
                    "post": {
                        "summary": "Release a lock held after ROLLBACK_FAILED",
                        "parameters": [{**_path("environment"), "schema": {"enum": known_environments()}}],
                        "requestBody": _body("UnlockRequest"),
                        "responses": {
                            "200": {
                                "description": "unlocked",
                                "content": {"application/json": {"schema": {"type": "object"}}},
                            },
                            **_errors(400, 404, 409, 413),
                        },
                    }
                },
                "/approve/{approval_id}": {
                    "get": {
                        "summary": "The page an emailed approval link opens; changes nothing",
                        "parameters": [
                            approval_id,
                            {"name": "token", "in": "query", "schema": {"type": "string", "maxLength": 512}},
                        ],
                        "responses": {code: {"description": text, **_HTML} for code, text in _PAGE_ANSWERS.items()},
                    },
                    "post": {
                        "summary": "The page's form: approve or reject",
                        "parameters": [approval_id],
                        "requestBody": {
                            "required": True,
                            "content": {"application/x-www-form-urlencoded": {"schema": APPROVAL_FORM}},
                        },
                        "responses": {
                            **{code: {"description": text, **_HTML} for code, text in _PAGE_ANSWERS.items()},
                            "415": {"description": "not a form", **_HTML},
                        },
                    },
                },
            }
        )
        | {
            "/openapi.json": {
                "get": {
                    "summary": "This description",
                    "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
                }
            },
        },
        "components": {
            "securitySchemes": SECURITY_SCHEMES,
            "schemas": _schema(
                [
                    LaunchRequest,
                    DecisionRequest,
                    AbortRequest,
                    UnlockRequest,
                    Approval,
                    TimelineEvent,
                    ListQuery,
                    Caller,
                    RollbackRequest,
                ]
            ),
        },
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
