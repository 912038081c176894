"""Lazily built, cached boto3 clients; nothing reaches AWS at import time."""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

_lock = threading.Lock()


@cache
def _session() -> Any:
    import boto3

    return boto3.session.Session()


def session() -> Any:
    """The boto3 session every client here comes from (the local stack hooks its events)."""
    return _session()


def client(service: str, region: str | None = None) -> Any:
    """A client for `service` (in `region`, else the session's), honouring AWS_ENDPOINT_URL and the
    standard retry mode."""
    return _client(service, region)


@cache
def _client(service: str, region: str | None) -> Any:
    from botocore.config import Config

    # Session.client is not thread-safe; the local stack runs several executions at once.
    with _lock:
        return _session().client(
            service,
            region_name=region,
            config=Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30),
        )


def preflight_client(service: str) -> Any:
    """Clients for the preflight checks: CloudFront's certificates live in ACM in us-east-1."""
    return client(service, "us-east-1" if service == "acm" else None)


def reset_clients() -> None:
    """Forget cached clients (tests switch endpoints and credentials between runs)."""
    _client.cache_clear()
    _session.cache_clear()
