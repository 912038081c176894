"""Lazily built boto3 clients, kept for the function's container; nothing reaches AWS at import time."""

from __future__ import annotations

import threading
from typing import Any

from chalicelib import runtime

_lock = threading.Lock()


@runtime.kept
def _session() -> Any:
    """The container's session, with the credentials and region Lambda puts in its environment."""
    import boto3

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


def client(service: str, region: str | None = None) -> Any:
    """A client for `service` (in `region`, else the session's), honouring AWS_ENDPOINT_URL and the
    standard retry mode."""
    return _client(service, region)


@runtime.kept
def _client(service: str, region: str | None) -> Any:
    from botocore.config import Config

    # Session.client is not thread-safe; the local stack runs several functions at once.
    with _lock:
        return _session().client(
            service,
            region_name=region,
            endpoint_url=runtime.environ().get("AWS_ENDPOINT_URL") or None,
            config=Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30),
        )


def preflight_client(service: str) -> Any:
    """Clients for the preflight checks: CloudFront's certificates live in ACM in us-east-1."""
    return client(service, "us-east-1" if service == "acm" else None)


def reset_clients() -> None:
    """Forget the running container's clients (tests switch endpoints and credentials between runs)."""
    _client.cache_clear()
    _session.cache_clear()
