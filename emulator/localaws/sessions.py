"""boto3 sessions for the process's own actors (the stack, its people, the tests) that share one model loader."""

from __future__ import annotations

from typing import Any

_LOADER: Any = None


def shared_session(**kwargs: Any) -> Any:
    """A fresh boto3 session (its own credentials and region from `kwargs`) whose service models are read
    from disk once per process, not once per session: most of a session's first client otherwise."""
    import boto3
    import botocore.loaders
    import botocore.session

    global _LOADER
    if _LOADER is None:
        _LOADER = botocore.loaders.create_loader()
    core = botocore.session.Session()
    core.register_component("data_loader", _LOADER)
    return boto3.session.Session(botocore_session=core, **kwargs)
