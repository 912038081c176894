"""The HTTP API and the pages, a Blueprint: each route checks its caller and its input, then asks the domain.

Every JSON route answers a domain error through one wrapper (`answered`: the error's status and code, from
api/responses.py), and every page through one other (`page_answered`: a refusal page with the pages'
security headers); anything else is a real 500.

Its functions import what they use when called (a cold-start rule): every Lambda imports app.py and so
this module, and a top-level import here would be paid by every function's cold start."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalice.app import Blueprint, Request, Response

from chalicelib.api.answers import (
    AbortAnswer,
    DecisionAnswer,
    EvidenceAnswer,
    LaunchDetail,
    LaunchPage,
    LaunchSummary,
    PreflightAnswer,
    RollbackAnswer,
    UnlockAnswer,
    ViewLinkAnswer,
    WhoAmIAnswer,
)
from chalicelib.api.openapi import IDEMPOTENCY_KEY, Operation, approval_form, described, this_description, view_page
from chalicelib.api.openapi import approval_page as approval_page_description
from chalicelib.api.pages.html import APPROVAL, VIEW, Family, Refused, refusal
from chalicelib.api.request_input import MAX_BODY_BYTES, idempotency_key, json_object, parsed
from chalicelib.api.request_input import launch_id as checked_launch_id
from chalicelib.checks.services import PREFLIGHT_OWN_SERVICES
from chalicelib.domain.errors import BadRequest, PayloadTooLarge
from chalicelib.domain.models import (
    AbortRequest,
    DecisionRequest,
    LaunchRequest,
    ListQuery,
    PreflightQuery,
    RollbackRequest,
    UnlockRequest,
)
from chalicelib.platform.log import about, begin_invocation, logger
from chalicelib.platform.trace import traced
from chalicelib.platform.wiring import launch_store, preflight_environment

routes = Blueprint(__name__)


def _aws(service: str) -> Any:
    from chalicelib.platform import aws

    return aws.client(service)


def _settings() -> Any:
    from chalicelib.platform.settings import settings

    return settings()


def answered(view: Callable[..., Any]) -> Callable[..., Any]:
    """Map domain exceptions to their HTTP answers; anything else is a real 500."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with traced(view.__name__):
            return _answer(view, args, kwargs)

    return wrapper


def _answer(view: Callable[..., Any], args: Any, kwargs: dict[str, Any]) -> Any:
    _request_keys(kwargs)
    try:
        return view(*args, **kwargs)
    except Exception as exc:
        from chalicelib.api.responses import error_answer

        answer = error_answer(exc)
        if answer is None:
            logger.exception("request failed")
            raise
        status, body = answer
        return Response(body=body, status_code=status, headers={"Content-Type": "application/json"})


def _request_keys(route: dict[str, Any]) -> None:
    """Every line of this request carries API Gateway's request id, and the launch the route names."""
    begin_invocation()
    context: dict[str, Any] = routes.current_request.context if routes.current_request else {}
    about(request_id=(context or {}).get("requestId"), launch_id=route.get("launch_id"))


def _request() -> Request:
    """The request being answered (Chalice sets it before calling a route)."""
    request = routes.current_request
    assert request is not None
    return request


def _json_body() -> dict[str, Any]:
    # Parsed here, not by Chalice's json_body: a deeply nested body would escape it as a RecursionError.
    return json_object(_raw_body(_request()))


def _raw_body(request: Request) -> bytes:
    raw = request.raw_body
    return raw.encode() if isinstance(raw, str) else raw or b""


def _public_path(route_path: str, target: str) -> str:
    """`target` as the caller reaches it: behind API Gateway the path the caller asked for carries the
    stage or a custom domain's base path before the route's own path, and so must every link we answer."""
    asked = (_request().context or {}).get("path") or route_path
    base = asked[: -len(route_path)] if asked.endswith(route_path) else ""
    return base + target


def _caller() -> Any:
    """The verified caller of this request (401 without a valid credential)."""
    from chalicelib.api.callers import authenticate

    # Chalice's headers are case-insensitive already.
    # The audience a token must name is this API's own host unless the deployment names one: API Gateway sets
    # domainName to the host it served, not to anything the caller wrote.
    request = _request()
    host = str((request.context or {}).get("domainName") or "")
    caller = authenticate(request.headers.get("authorization"), _settings().identity(host))
    about(caller=caller.who)
    return caller


def _reader() -> Any:
    from chalicelib.api.callers import authorise_reader

    caller = _caller()
    authorise_reader(caller)
    return caller


# -- HTTP API ---------------------------------------------------------------------------------


@routes.route("/launches", methods=["POST"])
@answered
@described(
    Operation(
        "Start a launch", 202, LaunchSummary, "started", (400, 409, 413), LaunchRequest, parameters=(IDEMPOTENCY_KEY,)
    )
)
def create_launch() -> Response:
    from chalicelib.api.launches import start_launch, start_launch_once, summary

    caller = _caller()
    request = parsed(LaunchRequest, _json_body())
    key = idempotency_key(_request().headers.get("idempotency-key"))
    if key is None:
        launch = summary(
            start_launch(launch_store(), request, caller, _aws("stepfunctions"), _settings().state_machine_arn)
        )
        replayed = False
    else:
        launch, replayed = start_launch_once(
            launch_store(),
            request,
            caller,
            key,
            _aws("stepfunctions"),
            _settings().state_machine_arn,
            _settings().table_name,
            _aws("dynamodb"),
            routes.lambda_context,
        )
    location = _public_path("/launches", f"/launches/{launch['launch_id']}")
    answer_headers: dict[str, str | list[str]] = {"Location": location}
    if replayed:
        answer_headers["Idempotent-Replayed"] = "true"
    return Response(body=launch, status_code=202, headers=answer_headers)


@routes.route("/me", methods=["GET"])
@answered
@described(Operation("Who the API takes you for, and what you may do where", 200, WhoAmIAnswer, "the caller", ()))
def who_am_i() -> dict[str, Any]:
    from chalicelib.api.answers import EnvironmentStanding
    from chalicelib.api.callers import standing

    caller = _caller()  # any verified caller may ask: a refusal elsewhere is easier to understand after
    environments = [
        EnvironmentStanding(environment=name, person=person, may_launch=launches, approves=roles)
        for name, person, launches, roles in standing(caller)
    ]
    return WhoAmIAnswer(caller=caller, environments=environments).body()


@routes.route("/launches", methods=["GET"])
@answered
@described(Operation("Launches, newest first", 200, LaunchPage, "a page", (400,), query=ListQuery))
def list_launches() -> dict[str, Any]:
    from chalicelib.api.launches import list_launches as page

    _reader()
    return page(launch_store(), parsed(ListQuery, _request().query_params or {}))


@routes.route("/launches/{launch_id}", methods=["GET"])
@answered
@described(Operation("A launch: status, results, approvals, timeline", 200, LaunchDetail, "the launch", (400, 404)))
def get_launch(launch_id: str) -> dict[str, Any]:
    from chalicelib.api.launches import describe_launch

    _reader()
    return describe_launch(launch_store(), checked_launch_id(launch_id))


@routes.route("/launches/{launch_id}/evidence", methods=["GET"])
@answered
@described(
    Operation(
        "The launch's evidence: its whole record, its timeline's hash chain and the signed seal of its end "
        "(launchctl evidence; checked offline by launchctl evidence verify)",
        200,
        EvidenceAnswer,
        "the evidence",
        (400, 404),
    )
)
def launch_evidence(launch_id: str) -> dict[str, Any]:
    from chalicelib.api.launches import launch_evidence as evidence

    _reader()
    return evidence(launch_store(), checked_launch_id(launch_id), _evidence_public_key)


# The evidence key's public half, by key ARN: it never changes, so a container asks KMS once.
_PUBLIC_KEYS: dict[str, bytes] = {}


def _evidence_public_key(key_arn: str) -> bytes | None:
    if key_arn not in _PUBLIC_KEYS:
        try:
            _PUBLIC_KEYS[key_arn] = bytes(_aws("kms").get_public_key(KeyId=key_arn)["PublicKey"])
        except Exception as exc:  # noqa: BLE001 - the evidence still checks with the key pinned apart
            logger.warning("the evidence key's public half could not be read", extra={"error": str(exc)})
            return None
    return _PUBLIC_KEYS[key_arn]


@routes.route("/launches/{launch_id}/approvals", methods=["POST"])
@answered
@described(
    Operation("Decide for one role", 200, DecisionAnswer, "recorded", (400, 403, 404, 409, 410, 413), DecisionRequest)
)
def decide_approval(launch_id: str) -> dict[str, Any]:
    from chalicelib.api.approvals import decide_as_caller

    caller = _caller()
    decision = parsed(DecisionRequest, _json_body())
    return decide_as_caller(launch_store(), checked_launch_id(launch_id), decision, caller, _aws("stepfunctions"))


def _link_key() -> bytes:
    from chalicelib.platform.links import signing_key

    return signing_key(_aws("secretsmanager"), _settings().approval_key_secret_id)


def page_answered(family: Family) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
    """Every answer of a page's route is a page with its family's security headers: the page, a refusal, a
    caller's mistake (400, 413, 415) and a server fault alike. The route's ids and tokens are capabilities:
    never logged."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Response]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            with traced(view.__name__):
                _request_keys({"launch_id": kwargs.get("launch_id")})
                try:
                    page = view(*args, **kwargs)
                except Refused as refused:
                    page = refused.page
                except PayloadTooLarge:
                    page = refusal(
                        family, 413, "Form too large", "The form is larger than the page's; open the link again."
                    )
                except BadRequest as exc:
                    page = refusal(family, 400, "Form refused", f"The form could not be read: {exc.reason}.")
                except Exception:
                    logger.exception("page failed")
                    page = refusal(
                        family, 500, "Something went wrong", "Nothing was decided or changed. Try again in a minute."
                    )
            return Response(body=page.html, status_code=page.status, headers=page.headers)

        return wrapper

    return decorate


# A browser posts the form urlencoded; other types are refused by the page itself (415), with its headers.
FORM_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain", "application/json"]


@routes.route("/approve/{approval_id}", methods=["GET"])
@page_answered(APPROVAL)
@described(approval_page_description)
def approval_page(approval_id: str) -> Any:
    from chalicelib.api.pages.approval import show

    request = _request()
    query: Any = request.query_params or {}
    token = query.get("token", "")
    # API Gateway's requestContext.path is the path the browser asked for, stage or base path included.
    context: dict[str, Any] = request.context or {}
    page_path = context.get("path")
    return show(launch_store(), approval_id, token, _link_key(), page_path)


@routes.route("/approve/{approval_id}", methods=["POST"], content_types=FORM_TYPES)
@page_answered(APPROVAL)
@described(approval_form)
def approval_decision(approval_id: str) -> Any:
    from urllib.parse import parse_qs

    from chalicelib.api.pages.approval import submit

    request = _request()
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return refusal(APPROVAL, 415, "Form refused", "The decision is sent by the page's own form.")
    body = _raw_body(request)
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(MAX_BODY_BYTES)
    try:
        form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=50)
    except ValueError:  # more fields than the page's form has
        raise BadRequest("form", "it has more fields than the page's form") from None
    headers = {name.lower(): value for name, value in request.headers.items()}
    return submit(launch_store(), approval_id, form, headers, _link_key(), _aws("stepfunctions"))


def _token() -> str:
    return _query("token")


def _query(name: str) -> str:
    query: Any = _request().query_params or {}
    return str(query.get(name, ""))


@routes.route("/view/launches/{launch_id}", methods=["GET"])
@page_answered(VIEW)
@described(view_page("The launch's read-only page (its view link)"))
def launch_view(launch_id: str) -> Any:
    from chalicelib.api.pages.launch import launch_page

    return launch_page(launch_store(), launch_id, _token(), _link_key(), paused=_query("paused") == "1")


@routes.route("/view/environments/{environment}", methods=["GET"])
@page_answered(VIEW)
@described(view_page("An environment's recent launches, opened by its view link"))
def environment_view(environment: str) -> Any:
    from chalicelib.api.pages.launch import list_page

    base = _public_path(f"/view/environments/{environment}", "")
    return list_page(
        launch_store(), environment, _token(), _link_key(), base, _query("cursor"), paused=_query("paused") == "1"
    )


def _public_base() -> str:
    """The API as its callers reach it: the deployment's public URL, else this request's host and base path."""
    public = _settings().public_api_url
    if public:
        return str(public)
    host = _request().headers.get("host", "localhost")
    return f"https://{host}{_public_path('/openapi.json', '')}"


@routes.route("/launches/{launch_id}/view-link", methods=["GET"])
@answered
@described(
    Operation(
        "A signed, expiring link to the launch's read-only page (launchctl open)",
        200,
        ViewLinkAnswer,
        "the link",
        (400, 404),
    )
)
def launch_view_link(launch_id: str) -> dict[str, Any]:
    from chalicelib.api.answers import ViewLinkAnswer
    from chalicelib.platform.links import VIEW_LINK_SECONDS, view_link

    _reader()
    launch = launch_store().get_launch(checked_launch_id(launch_id))  # 404 for a launch that is not
    expires = int(time.time()) + VIEW_LINK_SECONDS
    url = view_link(_link_key(), _public_base(), launch.launch_id, expires)
    return ViewLinkAnswer(url=url, expires_at=datetime.fromtimestamp(expires, UTC)).body()


@routes.route("/environments/{environment}/view-link", methods=["GET"])
@answered
@described(
    Operation(
        "A signed, expiring link to the environment's list of recent launches", 200, ViewLinkAnswer, "the link", (400,)
    )
)
def environment_view_link(environment: str) -> dict[str, Any]:
    from chalicelib.api.answers import ViewLinkAnswer
    from chalicelib.platform.links import VIEW_LINK_SECONDS, list_link
    from chalicelib.platform.profile_store import load_profile

    _reader()
    load_profile(environment)  # 400 for an environment the controller does not know
    expires = int(time.time()) + VIEW_LINK_SECONDS
    url = list_link(_link_key(), _public_base(), environment, expires)
    return ViewLinkAnswer(url=url, expires_at=datetime.fromtimestamp(expires, UTC)).body()


@routes.route("/launches/{launch_id}/abort", methods=["POST"])
@answered
@described(
    Operation(
        "Stop a launch: it ends, or rolls back what it changed",
        202,
        AbortAnswer,
        "requested",
        (400, 404, 409, 413),
        AbortRequest,
    )
)
def abort_launch(launch_id: str) -> Response:
    from chalicelib.api.launches import abort_launch as abort

    caller = _caller()
    request = parsed(AbortRequest, _json_body())
    answer = abort(launch_store(), checked_launch_id(launch_id), request, caller, _aws("stepfunctions"))
    return Response(body=answer, status_code=202)


@routes.route("/launches/{launch_id}/rollback", methods=["POST"])
@answered
@described(
    Operation(
        "Roll back a launch that succeeded, within the profile's window, as its own launch",
        202,
        RollbackAnswer,
        "the rollback's own launch, started",
        (400, 404, 409, 413),
        RollbackRequest,
    )
)
def roll_back_launch(launch_id: str) -> Response:
    from chalicelib.api.answers import LaunchSummary, RollbackAnswer
    from chalicelib.api.launches import start_rollback

    caller = _caller()
    request = parsed(RollbackRequest, _json_body())
    target = checked_launch_id(launch_id)
    sfn, machine = _aws("stepfunctions"), _settings().state_machine_arn
    rollback = start_rollback(launch_store(), target, request, caller, sfn, machine)
    requested = rollback.rollback_of or {}
    answer = RollbackAnswer(
        **{**dict(LaunchSummary.of(rollback)), "requested_by": requested.get("requested_by") or rollback.requested_by},
        rollback_of=launch_id,
        caller=requested.get("caller"),
    )
    location = _public_path(f"/launches/{target}/rollback", f"/launches/{rollback.launch_id}")
    return Response(body=answer.body(), status_code=202, headers={"Location": location})


# API Gateway answers 504 after 29 s: the report is made by then, whatever is still running (an image scan
# may be waited for ten minutes), with what was not finished failing and saying so.
PREFLIGHT_REPORT_SECONDS = 24.0


@routes.route("/environments/{environment}/preflight", methods=["GET"])
@answered
@described(
    Operation(
        "The checklist's checks against the environment now, without a launch",
        200,
        PreflightAnswer,
        "the report",
        (400,),
        query=PreflightQuery,
    )
)
def environment_preflight(environment: str) -> dict[str, Any]:
    """The checklist's checks against the environment now, without a launch (read-only)."""
    from chalicelib.api.answers import PreflightAnswer
    from chalicelib.api.callers import authorise_launch
    from chalicelib.api.launches import published_for
    from chalicelib.checks.checklist import Release, run_preflight
    from chalicelib.checks.release import app_reader
    from chalicelib.domain.progress import PreflightProgress
    from chalicelib.platform.profile_store import load_profile

    caller = _caller()
    profile = load_profile(environment, fresh=True)  # the checks against the profile as it is now
    authorise_launch(caller, profile, "check")
    query = parsed(PreflightQuery, _request().query_params or {})
    published_for(profile, query.frontend_artifact)
    release = Release(query.frontend_artifact, query.backend_image, query.git_sha)
    github = app_reader(lambda: _aws("secretsmanager"), _settings().github_app_secret_id, profile)
    report = run_preflight(
        profile,
        preflight_environment(profile, own=PREFLIGHT_OWN_SERVICES),
        release,
        _settings().notifications_topic_arn,
        github_app=github,
        deadline_seconds=PREFLIGHT_REPORT_SECONDS,
    )
    return PreflightAnswer(**dict(PreflightProgress.of(report)), environment=environment).body()


@routes.route("/environments/{environment}/unlock", methods=["POST"])
@answered
@described(
    Operation(
        "Release a lock held after ROLLBACK_FAILED", 200, UnlockAnswer, "unlocked", (400, 404, 409, 413), UnlockRequest
    )
)
def unlock_environment(environment: str) -> dict[str, Any]:
    from chalicelib.api.launches import unlock_environment as unlock

    caller = _caller()
    return unlock(launch_store(), environment, parsed(UnlockRequest, _json_body()), caller)


@routes.route("/openapi.json", methods=["GET"])
@described(this_description)
def openapi() -> dict[str, Any]:
    from chalicelib.api.openapi import document

    # Made once per container, from the routes themselves; the server is where this caller reaches them
    # (stage path included).
    if not _DESCRIPTION:
        _DESCRIPTION.update(document(routes.current_app.routes))
    return {**_DESCRIPTION, "servers": [{"url": _public_path("/openapi.json", "") or "/"}]}


_DESCRIPTION: dict[str, Any] = {}
