"""The functions' one logger (Powertools, JSON lines): each line carries the launch and the call it is about."""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="launch-controller")


def begin_invocation() -> None:
    """A new invocation or request: nothing of the last one's keys carries over (containers are reused).
    The keys are this thread's: several functions may run at once in one process (the local stack)."""
    logger.thread_safe_clear_keys()


def about(**keys: str | None) -> None:
    """From here on in this invocation, every line carries `keys` (those given a value), and its trace is
    annotated with those X-Ray may index."""
    from chalicelib.trace import annotate

    logger.thread_safe_append_keys(**{key: value for key, value in keys.items() if value})
    annotate(**keys)
