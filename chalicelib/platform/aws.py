"""Lazily built boto3 clients, kept for the function's container; nothing reaches AWS at import time."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from typing import Any

from chalicelib.platform import runtime

_lock = threading.Lock()


@runtime.kept
def _session() -> Any:
    """The container's session, with the credentials and region Lambda puts in its environment."""
    import boto3  # boto3 is most of a cold start: paid by the first client, not by importing this module

    environ = runtime.environ()
    session = boto3.session.Session(
        aws_access_key_id=environ.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=environ.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=environ.get("AWS_SESSION_TOKEN"),
        region_name=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION"),
    )
    runtime.current().prepare_session(session)
    return session


def session() -> Any:
    """The boto3 session every client here comes from."""
    return _session()


# A client's connections: as many as a stage's S3 calls in flight (chalicelib/stages/per_object.py), and more.
CONNECTIONS = 20


def client(service: str, region: str | None = None) -> Any:
    """A client for `service` (in `region`, else the session's), honouring AWS_ENDPOINT_URL and the
    standard retry mode."""
    return _client(service, region)


@runtime.kept
def _client(service: str, region: str | None) -> Any:
    return _made(_session(), service, region)


def _made(session: Any, service: str, region: str | None) -> Any:
    """A client of `session`: the standard retry mode, AWS_ENDPOINT_URL when set (the local stack)."""
    from botocore.config import Config  # with boto3: paid by the first client

    endpoint = runtime.environ().get("AWS_ENDPOINT_URL") or None
    # Session.client is not thread-safe; the local stack runs several functions at once.
    with _lock:
        made = session.client(
            service,
            region_name=region,
            endpoint_url=endpoint,
            config=Config(
                retries={"mode": "standard", "max_attempts": 5},
                connect_timeout=5,
                read_timeout=30,
                max_pool_connections=CONNECTIONS,
            ),
        )
    if endpoint and service == "cloudfront-keyvaluestore":
        made.meta.events.register(f"before-send.{service}", _to_endpoint(endpoint))
    return made


def _to_endpoint(endpoint: str) -> Callable[..., None]:
    """KeyValueStore's endpoint rules put the store's account before the host (`<account>.cloudfront-kvs...`),
    before a configured endpoint's too, a name only AWS's DNS answers: the request goes to the endpoint
    itself, its signed Host header (with the account) unchanged."""
    scheme, _, rest = endpoint.partition("://")
    authority = rest.split("/", 1)[0]

    def send_to_endpoint(request: Any, **_: Any) -> None:
        host, slash, path = request.url.partition("://")[2].partition("/")
        if host.endswith("." + authority):
            request.url = f"{scheme}://{authority}{slash}{path}"

    return send_to_endpoint


# What CloudFront uses lives in us-east-1 wherever the controller and the environment are: its certificates
# (ACM) and its web ACLs (WAF's CLOUDFRONT scope, which WAF answers in us-east-1 only). A client of those is
# asked for as "acm@cloudfront" or "wafv2@cloudfront"; "acm" and "wafv2" are the environment's region's (an
# ALB's certificate and web ACL). "<service>@controller" is the controller's own account's, among an
# environment's clients.
CLOUDFRONT_REGION = "us-east-1"


def placed(service: str) -> tuple[str, str | None]:
    """The service a client name stands for, and the region it must be made in (None: the session's)."""
    name, _, place = service.partition("@")
    if place == "cloudfront":
        return name, CLOUDFRONT_REGION
    if place not in {"", "controller"}:
        raise ValueError(f"{service}: no place {place!r} (@cloudfront, @controller)")
    return name, None


def environment_clients(
    role_arn: str,
    session_name: str,
    tags: dict[str, str],
    session_seconds: int = 3600,
    own: Collection[str] = (),
    limit: str | None = None,
) -> Callable[[str], Any]:
    """Clients that act in an environment's account as its role, in a session named `session_name` (the
    launch), tagged with `tags` and limited to the managed policy `limit` (the function's own needs there);
    the services in `own` are the controller's (its topics), not the environment's. The role is assumed at
    the first call, and again before its credentials expire."""
    session: Session = (role_arn, session_name, tuple(sorted(tags.items())), session_seconds, limit)

    def client_for(service: str) -> Any:
        # "<service>@controller": the controller's own account's (a role of the controller's a caller uses).
        if service in own or service.endswith("@controller"):
            return preflight_client(service.partition("@")[0])
        return _environment_client(session, *placed(service))

    return client_for


# (role ARN, session name, tags, seconds, the policy limiting the session): one assumed session each.
Session = tuple[str, str, tuple[tuple[str, str], ...], int, str | None]


@runtime.kept
def _environment_session(session: Session) -> Any:
    """A session whose credentials are the role's: botocore's own assume-role fetcher, with refresh."""
    # With boto3: paid by the first session in an environment.
    import boto3
    import botocore.session
    from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials

    role_arn, session_name, tags, seconds, limit = session
    extra: dict[str, Any] = {"RoleSessionName": session_name[:64], "DurationSeconds": seconds}
    if tags:
        extra["Tags"] = [{"Key": key, "Value": value} for key, value in tags]
    if limit:
        extra["PolicyArns"] = [{"arn": limit}]
    fetcher = AssumeRoleCredentialFetcher(
        # The function's own STS client (its credentials, endpoint and retries) asks for the role.
        client_creator=lambda *_, **__: client("sts"),
        source_credentials=_session().get_credentials(),
        role_arn=role_arn,
        extra_args=extra,
    )
    credentials = DeferredRefreshableCredentials(refresh_using=fetcher.fetch_credentials, method="assume-role")
    core = botocore.session.Session()
    # The container's loader: service models are read from disk once per container, not once per launch.
    core.register_component("data_loader", _session()._session.get_component("data_loader"))
    core._credentials = credentials
    environ = runtime.environ()
    boto_session = boto3.session.Session(
        botocore_session=core, region_name=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    )
    runtime.current().prepare_session(boto_session, role_arn)
    return boto_session


@runtime.kept
def _environment_client(session: Session, service: str, region: str | None) -> Any:
    return _made(_environment_session(session), service, region)


def preflight_client(service: str) -> Any:
    """Clients for the preflight checks, CloudFront's certificates and web ACLs in us-east-1 (`placed`)."""
    return client(*placed(service))


def reset_clients() -> None:
    """Forget the running container's clients (tests switch endpoints and credentials between runs)."""
    _client.cache_clear()
    _session.cache_clear()
    _environment_client.cache_clear()
    _environment_session.cache_clear()
